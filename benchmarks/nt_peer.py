"""The neural-tangents peer: times neural-tangents (JAX) on the same PyTorch CNNs and weights.

neural-tangents 0.6.5 needs an old JAX (0.4.23) and, through its package metadata, TensorFlow
and tf2jax, none of which belong in the project's environment. So the peer lives in a virtual
environment of its own (``ensure_venv``, default ``~/.cache/entk-probe/nt-venv``, outside git),
and this module, which the benchmarks import from the main environment, only needs torch: it
writes the model and probe to a folder (``export_sequential``) and runs ``nt_worker.py`` in the
peer's python, once per implementation (``run_peer``).

What is measured (details in ``nt_worker.py``'s docstring): for each of neural-tangents'
implementations 1 (Jacobian contraction), 2 (NTK-vector products) and 3 (structured derivatives),
in a fresh worker process, ``jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes, vmap_axes=0,
implementation=i))(x, None, params)``: the ahead-of-time compilation and first call
(``compile_seconds``, ``first_call_seconds``), then the best of ``repeats`` timed calls
(``seconds``), each timed with ``perf_counter`` around the call and ``block_until_ready()``, with
its peak RSS (VmHWM after a reset by /proc/self/clear_refs) and the share of the machine's CPU
time that other processes used meanwhile. ``apply_fn`` reproduces the PyTorch forward pass exactly
(NCHW, OIHW weights, PyTorch's padding and pooling rules); float32 (JAX's default), CPU.

Threads: the worker is restricted to ``threads`` CPUs (default 2, like ``torch.set_num_threads(2)``
in the benchmarks) with ``os.sched_setaffinity`` before jax is imported, since XLA:CPU sizes its
thread pools from the schedulable CPUs; with jaxlib 0.4.23 the XLA_FLAGS settings
``--xla_cpu_multi_thread_eigen`` / ``intra_op_parallelism_threads`` did not change the CPU use of a
jitted matmul, so the worker's XLA_FLAGS is cleared instead of set. OMP/MKL/OpenBLAS thread counts
are set to the same number (numpy is hardly used there), ``JAX_PLATFORMS=cpu``,
``JAX_ENABLE_X64=0`` and ``TF_CPP_MIN_LOG_LEVEL=3`` (neural-tangents imports TensorFlow).

Usage from a benchmark::

    from nt_peer import PeerUnavailable, ensure_venv, run_peer
    try:
        python = ensure_venv(DEFAULT_VENV)
    except PeerUnavailable as exc:
        print(f"skipped: {exc}")
    else:
        results = run_peer(python, model, inputs, mode="full")  # {1: {...}, 2: {...}, 3: {...}}
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "DEFAULT_VENV",
    "IMPLEMENTATIONS",
    "REQUIREMENTS",
    "PeerUnavailable",
    "ensure_venv",
    "export_sequential",
    "run_forward",
    "run_peer",
]

#: What ``ensure_venv`` installs. neural-tangents 0.6.5 declares ``tensorflow>=2.15`` and
#: ``tf2jax>=0.3.5``; tf2jax 0.3.7 and later need a newer JAX, so it is pinned to 0.3.6 (pip
#: would otherwise backtrack to it); TensorFlow is left to the resolver (2.21.0 in Nov 2026).
REQUIREMENTS: tuple[str, ...] = (
    "jax==0.4.23",
    "jaxlib==0.4.23",
    "neural-tangents==0.6.5",
    "tf2jax==0.3.6",
    "numpy<2",
    "scipy<1.13",
)
DEFAULT_VENV = Path.home() / ".cache" / "entk-probe" / "nt-venv"
IMPLEMENTATIONS: dict[int, str] = {1: "JACOBIAN_CONTRACTION", 2: "NTK_VECTOR_PRODUCTS", 3: "STRUCTURED_DERIVATIVES"}
WORKER = Path(__file__).resolve().with_name("nt_worker.py")
SPEC_FORMAT = "entk-probe-nt-peer/1"
MARKER = ".entk-probe-nt-peer"  # written into the venv once everything imports; holds REQUIREMENTS
THREADS = 2


class PeerUnavailable(RuntimeError):
    """The peer's environment cannot be had; ``str(exc)`` is a one-line reason."""


# ----------------------------------------------------------------------------------- the venv


def _last_line(text: str) -> str:
    """The last non-empty line of some output, the usual place of pip's or python's error."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def _venv_python(path: Path) -> Path:
    return path / "bin" / "python"


def _check(python: Path, timeout: float) -> str:
    """Import the peer's packages with ``python``; returns their versions or raises PeerUnavailable."""
    code = (
        "import jax, jaxlib, numpy, neural_tangents as nt;"
        "print(f'jax {jax.__version__} jaxlib {jaxlib.__version__} neural-tangents {nt.__version__} "
        "numpy {numpy.__version__}')"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    try:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"importing neural-tangents failed: {exc}") from None
    if proc.returncode != 0:
        raise PeerUnavailable(f"importing neural-tangents failed: {_last_line(proc.stderr)}")
    return _last_line(proc.stdout)


def ensure_venv(path: Path = DEFAULT_VENV, *, base_python: str = "python3", timeout: float = 1800) -> Path:
    """Create (once) the peer's virtual environment at ``path`` and return its python.

    A complete environment has a marker file listing ``REQUIREMENTS``; then it is reused as it is
    (only its python is checked to exist). Otherwise ``base_python -m venv path`` is run and
    ``pip install REQUIREMENTS`` (PyPI only; about 2.7 GB, most of it TensorFlow, which
    neural-tangents 0.6.5 imports), the packages are imported once, and the marker is written.
    Concurrent calls for the same path wait for each other (a lock file beside ``path``).

    Raises ``PeerUnavailable`` with a one-line reason (e.g. pip's last error line) on any failure.
    """
    path = Path(path).expanduser().absolute()
    python = _venv_python(path)
    wanted = "\n".join(REQUIREMENTS) + "\n"
    marker = path / MARKER

    def complete() -> bool:
        try:
            return marker.read_text() == wanted and python.exists()
        except OSError:
            return False

    if complete():
        return python
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.parent / f".{path.name}.lock", "w")
    except OSError as exc:
        raise PeerUnavailable(f"cannot create {path.parent}: {exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete():  # another process finished it while this one waited
            return python
        if shutil.which(base_python) is None and not Path(base_python).exists():
            raise PeerUnavailable(f"{base_python} not found")
        deadline = time.monotonic() + timeout
        steps = [
            ("python3 -m venv", [base_python, "-m", "venv", str(path)]),
            ("pip install", [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                             "--no-input", *REQUIREMENTS]),
        ]
        for what, cmd in steps:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                raise PeerUnavailable(f"{what} took more than {timeout:.0f} s") from None
            except OSError as exc:
                raise PeerUnavailable(f"{what} failed: {exc}") from None
            if proc.returncode != 0:
                raise PeerUnavailable(f"{what} failed: {_last_line(proc.stderr or proc.stdout)}")
        _check(python, timeout=max(deadline - time.monotonic(), 60))
        marker.write_text(wanted)
    return python


# ----------------------------------------------------------------------------------- export


def _pair(value: int | Sequence[int], what: str) -> list[int]:
    if isinstance(value, int):
        return [value, value]
    values = [int(v) for v in value]
    if len(values) == 1:
        return values * 2
    if len(values) != 2:
        raise ValueError(f"{what}: expected an int or a pair, got {value!r}")
    return values


def _conv_padding(conv: nn.Conv2d) -> list[list[int]]:
    """PyTorch's conv padding as explicit (low, high) pairs per spatial axis."""
    kernel, dilation = _pair(conv.kernel_size, "kernel_size"), _pair(conv.dilation, "dilation")
    if conv.padding == "valid":
        return [[0, 0], [0, 0]]
    if conv.padding == "same":  # torch: total d*(k-1), the extra one on the high side
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [[t // 2, t - t // 2] for t in totals]
    return [[p, p] for p in _pair(conv.padding, "padding")]


def _flatten_sequential(module: nn.Sequential, prefix: str = "") -> Iterable[tuple[str, nn.Module]]:
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            yield from _flatten_sequential(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _layer_spec(name: str, m: nn.Module) -> dict[str, Any]:
    """One layer's entry in spec.json; raises ValueError for what the worker cannot reproduce."""
    if type(m) is nn.Conv2d:
        if m.padding_mode != "zeros":
            raise ValueError(f"layer {name}: Conv2d padding_mode={m.padding_mode!r} is not supported (only 'zeros')")
        return {
            "type": "conv2d", "name": name, "in_channels": m.in_channels, "out_channels": m.out_channels,
            "kernel_size": _pair(m.kernel_size, "kernel_size"), "stride": _pair(m.stride, "stride"),
            "padding": _conv_padding(m), "dilation": _pair(m.dilation, "dilation"), "groups": m.groups,
            "bias": m.bias is not None,
        }
    if type(m) is nn.ReLU:
        return {"type": "relu", "name": name}
    if type(m) is nn.MaxPool2d:
        if m.return_indices:
            raise ValueError(f"layer {name}: MaxPool2d(return_indices=True) is not supported")
        kernel = _pair(m.kernel_size, "kernel_size")
        if _pair(m.dilation, "dilation") != [1, 1]:  # jax 0.4.23: "VJP not implemented for select_and_gather"
            raise ValueError(f"layer {name}: MaxPool2d with dilation {m.dilation} is not supported (JAX 0.4.23 "
                             "cannot differentiate a dilated max-pool)")
        return {
            "type": "max_pool2d", "name": name, "kernel_size": kernel,
            "stride": _pair(m.stride if m.stride is not None else kernel, "stride"),
            "padding": _pair(m.padding, "padding"), "dilation": _pair(m.dilation, "dilation"),
            "ceil_mode": bool(m.ceil_mode),
        }
    if type(m) is nn.AvgPool2d:
        kernel = _pair(m.kernel_size, "kernel_size")
        return {
            "type": "avg_pool2d", "name": name, "kernel_size": kernel,
            "stride": _pair(m.stride if m.stride is not None else kernel, "stride"),
            "padding": _pair(m.padding, "padding"), "ceil_mode": bool(m.ceil_mode),
            "count_include_pad": bool(m.count_include_pad),
            "divisor_override": int(m.divisor_override) if m.divisor_override else None,
        }
    if type(m) is nn.AdaptiveAvgPool2d:
        size = m.output_size
        output = [size, size] if isinstance(size, int) or size is None else [int(s) if s is not None else None for s in size]
        return {"type": "adaptive_avg_pool2d", "name": name, "output_size": output}
    if type(m) is nn.Flatten:
        return {"type": "flatten", "name": name, "start_dim": m.start_dim, "end_dim": m.end_dim}
    if type(m) is nn.Linear:
        return {"type": "linear", "name": name, "in_features": m.in_features, "out_features": m.out_features,
                "bias": m.bias is not None}
    raise ValueError(
        f"layer {name}: {type(m).__name__} is not supported by the neural-tangents peer "
        "(supported: Conv2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Linear, nested Sequential)"
    )


def export_sequential(model: nn.Sequential, inputs: torch.Tensor, folder: Path) -> None:
    """Write ``model`` and ``inputs`` for ``nt_worker.py`` into ``folder`` (created if needed).

    ``spec.json``: the layers in order (nested Sequentials flattened, names as in ``state_dict``)
    with PyTorch's hyper-parameters made explicit (pairs, (low, high) conv padding), and which
    parameters are trainable (``requires_grad``; the others become constants of the JAX function,
    so the kernel is over the same parameters as entk-probe's default); ``weights.npz``: every
    parameter as float32 under its ``state_dict`` name; ``inputs.npz``: ``x``, the probe (N, C, H,
    W) as float32. Raises ``ValueError`` for a layer or option the worker does not reproduce.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"export_sequential needs a torch.nn.Sequential, got {type(model).__name__}")
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be NCHW (4-d), got shape {tuple(inputs.shape)}")
    children = list(_flatten_sequential(model))
    if len({id(m) for _, m in children}) != len(children):
        raise ValueError("a module used twice in the Sequential (shared weights) is not supported")
    layers = [_layer_spec(name, m) for name, m in children]
    weights = {name: p.detach().to("cpu", torch.float32).numpy() for name, p in model.named_parameters()}
    spec = {
        "format": SPEC_FORMAT,
        "layers": layers,
        "trainable": [name for name, p in model.named_parameters() if p.requires_grad],
        "input_shape": list(inputs.shape),
        "torch": torch.__version__,
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec, indent=1))
    np.savez(folder / "weights.npz", **weights)
    np.savez(folder / "inputs.npz", x=inputs.detach().to("cpu", torch.float32).contiguous().numpy())


# -------------------------------------------------------------------------------------- runs


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env.update(
        JAX_PLATFORMS="cpu", JAX_ENABLE_X64="0", TF_CPP_MIN_LOG_LEVEL="3",
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
        PYTHONUNBUFFERED="1",
    )
    return env


def _run_worker(python: Path, folder: Path, args: list[str], timeout: float, threads: int) -> dict[str, Any]:
    """Run nt_worker.py; its JSON result, or {"ok": False, "error": ...} for any failure."""
    cmd = [str(python), str(WORKER), str(folder), "--threads", str(threads), *args]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_worker_env(threads))
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    except OSError as exc:
        return {"ok": False, "error": f"cannot start the worker: {exc}"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        return {"ok": False, "error": f"worker died ({how}): {_last_line(proc.stderr)}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["worker_seconds"] = time.perf_counter() - started
    return result


def run_peer(
    python: Path,
    model: nn.Sequential,
    inputs: torch.Tensor,
    *,
    mode: str = "full",
    repeats: int = 2,
    timeout: float = 900,
    implementations: Sequence[int] = (1, 2, 3),
    threads: int = THREADS,
    max_memory: int | None = None,
) -> dict[int, dict[str, Any]]:
    """neural-tangents' eNTK of ``model`` on ``inputs``, timed, per implementation.

    ``mode``: "full" (``trace_axes=()``, kernel (N, N, C, C)) or "trace" (``trace_axes=(-1,)``,
    kernel (N, N), Θ_tr[n, m] = Σ_c Θ[n, m, c, c]). Each implementation runs in its own worker
    process with ``threads`` CPUs and at most ``timeout`` seconds. ``max_memory`` (bytes, default
    none) caps what compiling and calling the kernel may add to the worker's address space
    (``RLIMIT_AS``): an implementation that needs more fails with XLA's "RESOURCE_EXHAUSTED: Out
    of memory" instead of pushing a shared machine into swap or the OOM killer (implementation 2
    peaks at 13-19 GiB for the benchmarks' CNNs at N=100, full mode). Returns ``{i: result}`` with, for
    each implementation ``i`` in ``implementations``:

    - ``ok``: True, or False with ``error`` (one line) and no times or kernel: an implementation
      that fails, times out or crashes is reported, not raised;
    - ``name``: NtkImplementation's name; ``seconds``: the best of ``repeats`` timed calls after
      the first call; ``times``: all of them; ``compile_seconds``: trace, lower and compile;
      ``first_call_seconds``: compilation plus the first call;
    - ``peak_rss_bytes``: the worker's peak RSS (imports, incl. TensorFlow's, compilation, calls);
      ``rss_after_import_bytes``; ``call_peak_rss_delta_bytes``: the largest increase of a timed
      call's peak over the RSS just before it; ``other_cpu_share_best``: other processes' share of
      the machine's CPUs during the fastest call;
    - ``kernel``: float64 numpy array, (N, N, C, C) or (N, N). In trace mode neural-tangents
      returns the *mean* over the logit axis (its ``_trace_and_diagonal`` divides by the traced
      size); the worker multiplies that by C after timing (``trace_scale``) so that the kernel is
      the sum Θ_tr above, as entk-probe computes it;
    - versions (``jax``, ``jaxlib``, ``neural_tangents``), ``threads``, ``cpus``, ``backend``.
    """
    if mode not in ("full", "trace"):
        raise ValueError(f"mode must be 'full' or 'trace', got {mode!r}")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    unknown = [i for i in implementations if i not in IMPLEMENTATIONS]
    if unknown:
        raise ValueError(f"unknown implementations {unknown}; known: {sorted(IMPLEMENTATIONS)}")
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="nt-peer-") as tmp:
        folder = Path(tmp)
        export_sequential(model, inputs, folder)
        for impl in implementations:
            args = ["--impl", str(impl), "--mode", mode, "--repeats", str(repeats)]
            if max_memory:
                args += ["--max-memory", str(int(max_memory))]
            result = _run_worker(Path(python), folder, args, timeout, threads)
            result.setdefault("implementation", impl)
            result.setdefault("name", IMPLEMENTATIONS[impl])
            kernel_file = folder / f"kernel_{impl}.npy"
            result["kernel"] = np.load(kernel_file).astype(np.float64) if result.get("ok") and kernel_file.exists() else None
            if result.get("ok") and result["kernel"] is None:
                result.update(ok=False, error="the worker wrote no kernel")
            results[impl] = result
    return results


def run_forward(python: Path, model: nn.Sequential, inputs: torch.Tensor, *, timeout: float = 300,
                threads: int = THREADS) -> np.ndarray:
    """The JAX ``apply_fn(params, x)`` of the peer, as float64; to check it against ``model(inputs)``.

    Raises RuntimeError with the worker's error if it fails.
    """
    with tempfile.TemporaryDirectory(prefix="nt-peer-") as tmp:
        folder = Path(tmp)
        export_sequential(model, inputs, folder)
        result = _run_worker(Path(python), folder, ["--forward"], timeout, threads)
        if not result.get("ok"):
            raise RuntimeError(f"nt_worker --forward failed: {result.get('error')}")
        return np.load(folder / "forward.npy").astype(np.float64)


if __name__ == "__main__":  # pragma: no cover - a quick manual check
    print(ensure_venv(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_VENV))
