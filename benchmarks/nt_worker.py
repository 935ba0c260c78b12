"""The neural-tangents side of the peer benchmark: runs inside the peer's own virtual environment.

Imports only jax, neural_tangents and numpy (never torch). ``nt_peer.export_sequential`` writes a
folder with ``spec.json`` (the layers of a ``torch.nn.Sequential``), ``weights.npz`` (its
parameters under their ``state_dict`` names) and ``inputs.npz`` (``x``: the probe, NCHW float32).
This script rebuilds the network as ``apply_fn(params, x)`` in JAX with PyTorch's semantics:

- Conv2d: ``lax.conv_general_dilated`` on NCHW inputs and OIHW weights, PyTorch's explicit
  (low, high) padding per spatial axis, stride, dilation (``rhs_dilation``) and groups
  (``feature_group_count``), then ``+ b[None, :, None, None]``;
- ReLU: ``jax.nn.relu`` (derivative 0 at 0, as in torch);
- MaxPool2d / AvgPool2d: ``lax.reduce_window`` over H and W with PyTorch's output size (floor or
  ceil mode), max-pool padding of -inf (dilation is refused by the exporter: JAX 0.4.23 has no VJP
  for a dilated max-pool), avg-pool padding of zeros and PyTorch's divisor per window
  (``count_include_pad``, ``divisor_override``, windows clipped at the padded border in ceil mode);
- AdaptiveAvgPool2d: PyTorch's bins ``[floor(i*H/o), ceil((i+1)*H/o))`` (a plain mean for 1x1);
- Flatten: a reshape, which on NCHW arrays is PyTorch's (C, H, W) order;
- Linear: ``x @ W.T + b``.

Then ``jax.jit(neural_tangents.empirical_ntk_fn(apply_fn, trace_axes=..., vmap_axes=0,
implementation=...))`` is called as ``kernel_fn(x, None, params)`` (x2=None: the kernel of the
probe with itself). In trace mode (``trace_axes=(-1,)``) neural-tangents returns the mean over the
logit axis, Σ_c Θ[n, m, c, c] / C; the saved kernel is multiplied by C (after timing) so that it is
the sum, entk-probe's definition. ``params`` holds the parameters that require grad in torch; frozen ones are
constants of ``apply_fn``. float32 (JAX's default; x64 stays off), CPU.

How it is measured (one implementation per process, so that each has its own memory peak and a
crash or hang of one cannot take the others with it):

1. the kernel function is traced, lowered and compiled ahead of time (``.lower(...).compile()``)
   and called once: ``compile_seconds`` is the compilation, ``first_call_seconds`` compilation plus
   that first call, i.e. what a user waits for on a first call of the jitted function;
2. ``repeats`` timed calls of the compiled function follow, each after a ``gc.collect()`` and
   ``malloc_trim(0)``, with the process's peak-RSS counter reset (``/proc/self/clear_refs`` = 5);
   each is timed with ``time.perf_counter`` around the call and ``block_until_ready()``, and its
   peak is ``VmHWM`` of ``/proc/self/status``; ``seconds`` is the best (smallest) of them;
3. each timed call also records the share of the machine's CPU time (all ``os.cpu_count()`` CPUs)
   that other processes took meanwhile (from /proc/stat), as ``bench_entk.py`` does, since on two
   cores a busy neighbour can slow a call severalfold.

Threads: the parent (``nt_peer.run_peer``) passes ``--threads``; before jax is imported this
process restricts its CPU affinity to that many CPUs, because XLA:CPU sizes its thread pools from
the schedulable CPUs (with jaxlib 0.4.23, XLA_FLAGS' ``--xla_cpu_multi_thread_eigen`` and
``intra_op_parallelism_threads`` did not change the CPU use of a jitted matmul; affinity did).

Usage: ``python nt_worker.py FOLDER --impl {1,2,3} --mode {full,trace} --repeats K --threads T
[--max-memory BYTES]`` (or ``--forward`` to write ``apply_fn(params, x)`` only). ``--max-memory``
sets ``RLIMIT_AS`` to the address space before compiling plus BYTES; XLA then fails with
"RESOURCE_EXHAUSTED: Out of memory", which is reported like any other failure. Prints one JSON object on stdout's last
line; the kernel (as computed, float32) goes to ``FOLDER/kernel_<impl>.npy``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import sys
import time
import traceback
from typing import Any, Callable

IMPLEMENTATIONS = {1: "JACOBIAN_CONTRACTION", 2: "NTK_VECTOR_PRODUCTS", 3: "STRUCTURED_DERIVATIVES"}
SPEC_FORMAT = "entk-probe-nt-peer/1"


# ------------------------------------------------------------------------------- measurements


def status_bytes(field: str) -> int:
    """A ``Vm*`` field of /proc/self/status, in bytes (0 where there is none)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Make VmHWM equal the current RSS (Linux clear_refs, value 5); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def trim_heap() -> None:
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds this process has used)."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:]]
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        busy = float("nan")
    own = os.times()
    return busy, own.user + own.system


def limit_threads(threads: int) -> list[int]:
    """Restrict this process to ``threads`` of its CPUs (before jax is imported)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
        chosen = allowed[: max(1, threads)]
        os.sched_setaffinity(0, chosen)
        return chosen
    except (AttributeError, OSError):
        return []


# ---------------------------------------------------------------------------------- the model


def pool_geometry(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> tuple[int, int]:
    """PyTorch's pooling output size along one axis and the high padding reduce_window needs.

    The output size is torch's ``pooling_output_shape``; the high padding is at least enough for
    the last window (ceil mode can need more than ``pad``) and the result is sliced to the size.
    """
    extent = dilation * (kernel - 1) + 1
    numerator = size + 2 * pad - extent + ((stride - 1) if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    if out < 1:
        raise ValueError(f"pooling output would be empty (size {size}, kernel {kernel}, stride {stride}, padding {pad})")
    high = max((out - 1) * stride + extent - size - pad, 0)
    return out, high


def avg_divisor_1d(size: int, kernel: int, stride: int, pad: int, out: int, count_include_pad: bool) -> Any:
    """PyTorch's avg-pool divisor along one axis (avg_pool2d's CPU kernel, one axis at a time)."""
    import numpy as np

    div = np.empty(out, dtype=np.float64)
    for i in range(out):
        start = i * stride - pad
        end = min(start + kernel, size + pad)
        pool = end - start
        start, end = max(start, 0), min(end, size)
        div[i] = pool if count_include_pad else end - start
    return div


def adaptive_matrix(size: int, out: int) -> Any:
    """(out, size) averaging matrix of PyTorch's adaptive average pooling along one axis."""
    import numpy as np

    mat = np.zeros((out, size), dtype=np.float32)
    for i in range(out):
        start = (i * size) // out
        end = -((-(i + 1) * size) // out)
        mat[i, start:end] = 1.0 / (end - start)
    return mat


def build_apply_fn(spec: dict[str, Any], constants: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
    """``apply_fn(params, x)`` for the layers of ``spec`` with PyTorch's semantics (NCHW)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    def tensor(params: dict[str, Any], name: str) -> Any:
        return params[name] if name in params else constants[name]

    def conv2d(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        prefix = layer["name"]

        def f(params: dict[str, Any], x: Any) -> Any:
            y = lax.conv_general_dilated(
                x,
                tensor(params, prefix + ".weight"),
                window_strides=tuple(layer["stride"]),
                padding=[tuple(p) for p in layer["padding"]],
                lhs_dilation=(1, 1),
                rhs_dilation=tuple(layer["dilation"]),
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
                feature_group_count=layer["groups"],
            )
            if layer["bias"]:
                y = y + tensor(params, prefix + ".bias")[None, :, None, None]
            return y

        return f

    def linear(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        prefix = layer["name"]

        def f(params: dict[str, Any], x: Any) -> Any:
            y = x @ tensor(params, prefix + ".weight").T
            if layer["bias"]:
                y = y + tensor(params, prefix + ".bias")
            return y

        return f

    def relu(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        return lambda params, x: jax.nn.relu(x)

    def max_pool2d(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        def f(params: dict[str, Any], x: Any) -> Any:
            (kh, kw), (sh, sw) = layer["kernel_size"], layer["stride"]
            (ph, pw), (dh, dw) = layer["padding"], layer["dilation"]
            oh, hh = pool_geometry(x.shape[2], kh, sh, ph, dh, layer["ceil_mode"])
            ow, hw = pool_geometry(x.shape[3], kw, sw, pw, dw, layer["ceil_mode"])
            y = lax.reduce_window(
                x, -jnp.inf, lax.max, (1, 1, kh, kw), (1, 1, sh, sw),
                ((0, 0), (0, 0), (ph, hh), (pw, hw)), window_dilation=(1, 1, dh, dw),
            )
            return y[:, :, :oh, :ow]

        return f

    def avg_pool2d(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        def f(params: dict[str, Any], x: Any) -> Any:
            (kh, kw), (sh, sw), (ph, pw) = layer["kernel_size"], layer["stride"], layer["padding"]
            h, w = x.shape[2], x.shape[3]
            oh, hh = pool_geometry(h, kh, sh, ph, 1, layer["ceil_mode"])
            ow, hw = pool_geometry(w, kw, sw, pw, 1, layer["ceil_mode"])
            y = lax.reduce_window(
                x, 0.0, lax.add, (1, 1, kh, kw), (1, 1, sh, sw), ((0, 0), (0, 0), (ph, hh), (pw, hw))
            )[:, :, :oh, :ow]
            if layer["divisor_override"]:
                return y / float(layer["divisor_override"])
            include = layer["count_include_pad"]
            div = np.outer(avg_divisor_1d(h, kh, sh, ph, oh, include), avg_divisor_1d(w, kw, sw, pw, ow, include))
            return y * jnp.asarray((1.0 / div).astype(np.float32))

        return f

    def adaptive_avg_pool2d(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        def f(params: dict[str, Any], x: Any) -> Any:
            h, w = x.shape[2], x.shape[3]
            oh, ow = (o if o is not None else s for o, s in zip(layer["output_size"], (h, w)))
            if (oh, ow) == (1, 1):
                return jnp.mean(x, axis=(2, 3), keepdims=True)
            return jnp.einsum("nchw,ih,jw->ncij", x, adaptive_matrix(h, oh), adaptive_matrix(w, ow))

        return f

    def flatten(layer: dict[str, Any]) -> Callable[[dict[str, Any], Any], Any]:
        def f(params: dict[str, Any], x: Any) -> Any:
            start, end = layer["start_dim"] % x.ndim, layer["end_dim"] % x.ndim
            if end < start:
                return x
            return x.reshape(x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :])

        return f

    builders = {
        "conv2d": conv2d, "linear": linear, "relu": relu, "max_pool2d": max_pool2d,
        "avg_pool2d": avg_pool2d, "adaptive_avg_pool2d": adaptive_avg_pool2d, "flatten": flatten,
    }
    layers = []
    for layer in spec["layers"]:
        if layer["type"] not in builders:
            raise ValueError(f"nt_worker: unknown layer type {layer['type']!r}")
        layers.append(builders[layer["type"]](layer))

    def apply_fn(params: dict[str, Any], x: Any) -> Any:
        for layer_fn in layers:
            x = layer_fn(params, x)
        return x

    return apply_fn


# ------------------------------------------------------------------------------------- main


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def run(args: argparse.Namespace) -> dict[str, Any]:
    cpus = limit_threads(args.threads)
    result: dict[str, Any] = {"implementation": args.impl, "threads": args.threads, "cpus": cpus}

    import jax
    import jaxlib
    import numpy as np

    import neural_tangents as nt

    jax.config.update("jax_platforms", "cpu")
    result.update(
        jax=jax.__version__, jaxlib=jaxlib.__version__, neural_tangents=nt.__version__, numpy=np.__version__,
        backend=jax.default_backend(), x64=bool(jax.config.jax_enable_x64),
        rss_after_import_bytes=status_bytes("VmRSS"),
    )

    with open(os.path.join(args.folder, "spec.json")) as fh:
        spec = json.load(fh)
    if spec.get("format") != SPEC_FORMAT:
        raise ValueError(f"spec format {spec.get('format')!r}, expected {SPEC_FORMAT!r}")
    with np.load(os.path.join(args.folder, "weights.npz")) as npz:
        arrays = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    with np.load(os.path.join(args.folder, "inputs.npz")) as npz:
        x = jax.device_put(np.asarray(npz["x"], dtype=np.float32))
    trainable = set(spec["trainable"])
    params = {k: jax.device_put(v) for k, v in arrays.items() if k in trainable}
    constants = {k: jax.device_put(v) for k, v in arrays.items() if k not in trainable}
    apply_fn = build_apply_fn(spec, constants)
    result.update(n=int(x.shape[0]), num_params=int(sum(v.size for v in params.values())))

    if args.forward:
        out = np.asarray(jax.jit(apply_fn)(params, x))
        np.save(os.path.join(args.folder, "forward.npy"), out)
        result.update(ok=True, output_shape=list(out.shape))
        return result

    trace_axes = {"full": (), "trace": (-1,)}[args.mode]
    result.update(mode=args.mode, trace_axes=list(trace_axes), name=IMPLEMENTATIONS[args.impl])
    if args.max_memory:  # a cap on what compiling and calling may add to the address space
        import resource

        cap = status_bytes("VmSize") + args.max_memory
        resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
        result["rlimit_as_bytes"] = cap
    kernel_fn = jax.jit(
        nt.empirical_ntk_fn(
            apply_fn, trace_axes=trace_axes, vmap_axes=0, implementation=nt.NtkImplementation(args.impl)
        )
    )
    try:
        t0 = time.perf_counter()
        compiled = kernel_fn.lower(x, None, params).compile()
        t1 = time.perf_counter()
        kernel = compiled(x, None, params)
        kernel.block_until_ready()
        t2 = time.perf_counter()
        result.update(compile_seconds=t1 - t0, first_call_seconds=t2 - t0)
        result["peak_rss_through_first_call_bytes"] = status_bytes("VmHWM")
        del kernel

        times, peaks, deltas, others = [], [], [], []
        for _ in range(args.repeats):
            kernel = None  # the previous kernel is not part of this call's memory
            trim_heap()
            can_reset = reset_peak_rss()
            before = status_bytes("VmRSS")
            busy0, own0 = cpu_seconds()
            t0 = time.perf_counter()
            kernel = compiled(x, None, params)
            kernel.block_until_ready()
            elapsed = time.perf_counter() - t0
            busy1, own1 = cpu_seconds()
            peak = status_bytes("VmHWM") if can_reset else 0
            times.append(elapsed)
            peaks.append(peak)
            deltas.append(max(peak - before, 0) if can_reset else None)
            share = max(0.0, (busy1 - busy0) - (own1 - own0)) / (elapsed * (os.cpu_count() or 1))
            others.append(min(share, 1.0))  # /proc/stat counts 10 ms ticks: noisy for short calls
        kernel_np = np.asarray(kernel)
        if trace_axes:  # neural-tangents divides the trace by the traced size (the mean over logits)
            scale = math.prod(jax.eval_shape(apply_fn, params, x).shape[a] for a in trace_axes)
            kernel_np = kernel_np * np.float32(scale)
            result["trace_scale"] = scale
        best = min(range(len(times)), key=times.__getitem__)
        np.save(os.path.join(args.folder, f"kernel_{args.impl}.npy"), kernel_np)
        result.update(
            ok=True,
            seconds=times[best],
            times=times,
            other_cpu_share_best=others[best],
            other_cpu_share=others,
            kernel_shape=list(kernel_np.shape),
            call_peak_rss_bytes=max(peaks) or None,
            call_peak_rss_delta_bytes=max((d for d in deltas if d is not None), default=None),
            peak_rss_bytes=max([result["peak_rss_through_first_call_bytes"], *peaks]),
        )
    except Exception as exc:  # an implementation that fails is a result, not a crash
        result.update(ok=False, error=one_line(exc), traceback=traceback.format_exc()[-4000:])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--impl", type=int, choices=sorted(IMPLEMENTATIONS), default=1)
    parser.add_argument("--mode", choices=("full", "trace"), default="full")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-memory", type=int, default=None,
                        help="bytes the kernel's compilation and calls may add to the address space (RLIMIT_AS)")
    parser.add_argument("--forward", action="store_true", help="write apply_fn(params, x) to forward.npy only")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except Exception as exc:
        result = {"implementation": args.impl, "ok": False, "error": one_line(exc),
                  "traceback": traceback.format_exc()[-4000:]}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
