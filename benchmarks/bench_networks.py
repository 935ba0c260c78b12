"""entk-probe on real networks, side by side with its peers and with the engine as it was.

Five cases (``--only`` picks some), each printed as a markdown section with its bars:

1. ``small-cnns``: two small CNNs (small_cnn, 14,666 parameters; pool_cnn with max- and
   avg-pooling, 33,834) at N=100, full mode (kernel (N, N, C, C)), float32, 10 classes.
   Methods: entk-probe with its default settings; the torch.func recipe of the PyTorch NTK
   tutorial (method 1, "Jacobian contraction") with the Jacobian computed ONCE
   (``vmap(jacrev(fnet_single), (None, 0))`` over the probe, flattened per parameter tensor to
   (N, C, P_t), ``einsum('Naf,Mbf->NMab')`` per tensor, stacked and summed); and neural-tangents
   0.6.5 implementations 1, 2 and 3 (steady state: the best timed call after the compiling first
   call; run by ``nt_peer.run_peer`` in its own virtual environment, implementation 2 capped at
   8 GiB of extra address space since it needs up to 19 GiB here). Bars: recipe / entk-probe
   >= 3x and best neural-tangents / entk-probe >= 3x in time, entk-probe's peak ΔRSS <= 0.25 x the
   recipe's; every method's max|K - K_recipe| / max|K_recipe|.
2. ``resnet18``: timm resnet18 (num_classes=10) on 3x32x32 inputs, N=500, trace mode, entk-probe
   with its default Gram products (float32 products, float64 sums) and with
   ``gram_dtype=torch.float64``. Bars: <= 30 s, <= 4 GB peak RSS of the whole process. Also the
   plan's flops (sum of ``plan.layers[i].flops``, capture passes not included) by path, and the
   share of the machine's GEMM rate that the call reached: plan flops / seconds / rate, the rate
   being measured in the same run (best of 3 ``torch.matmul`` of 2000x2000 by 2000x2000 on 2
   threads, float32 for the default products, float64 for gram_dtype=float64).
3. ``vgg16_bn``: timm vgg16_bn (num_classes=10), same as resnet18; bar <= 120 s (a call takes
   two to three minutes, and about 9.5 GiB).
4. ``mlp``: Flatten-Linear(3072, 4096)-ReLU-Linear(4096, 10) at N=64, trace mode: entk-probe's
   default against today's engine (``paths="jacobian", gram_dtype=torch.float64``: per-sample
   Jacobians of the whole model for every parameter, float64 products, i.e. the engine before
   the per-layer paths). Bar: >= 100x. Today's engine gets one timed call.
5. ``analyze``: 20 checkpoints of timm's test_resnet (num_classes=10) written by
   ``tests/helpers.write_run`` into a temporary folder, a probe of N=100 saved as a probe file,
   no kernel cache: the wall time of ``analyze(run_dir, "file:probe.safetensors",
   AnalyzeOptions(device="cpu", cache=False))`` against 20 bare ``compute_entk_result`` calls on
   the same model (the first checkpoint's weights) and the probe's inputs in one process.
   Bar: analyze <= 1.3x the bare calls.

Inputs: where ``../shared/data/cifar10/cifar-10-batches-py/test_batch`` exists (relative to the
repository), the first N images of the real CIFAR-10 test batch, scaled to [0, 1] and normalised
with CIFAR-10's per-channel mean and std (for ``analyze``: the project's own ``cifar10:100``
probe, balanced over the classes, normalised as the model's config says); else seeded N(0, 1)
inputs of shape 3x32x32. The output says which. Weights: torch's default initialisation after
``torch.manual_seed(0)``, saved once and loaded by every measurement of a case.

How it is measured (as in ``bench_entk.py``): every measurement runs in a fresh subprocess with
``torch.set_num_threads(2)``, so that its peak memory is its own. There the model and inputs are
loaded, one warm-up call on 2 samples is made (for ``analyze``: a kernel on 2 probe samples),
then for each timed call glibc's heap is trimmed, the process's peak-RSS counter is reset
(``/proc/self/clear_refs`` = 5), the call is timed with ``time.perf_counter``, and ``VmHWM`` of
``/proc/self/status`` gives the whole process's peak during the call; its increase over the RSS
before the call is the "peak ΔRSS". Reported: the best wall time of the timed calls (noise on a
shared machine only adds time), the largest peak. Methods of a case alternate between
subprocesses (A B A B). Each timed call records the share of the machine's CPU time that other
processes took meanwhile (from /proc/stat): on two cores a busy neighbour can make a two-thread
call several times slower (a 0.3 s kernel was seen taking 40 s while the tests ran), so when the
fastest call's share is above 10% (and above two ticks of /proc/stat, whose 10 ms resolution makes
a 40 ms call show 12% for a single tick) the worker makes more timed calls (up to
``--max-reruns``, only while one can end within 20 minutes of the start) and the notes list every
call with its share. neural-tangents' workers report the same share; an implementation whose best
call was contended is run again once. Cases run cheapest first (small-cnns, mlp, analyze,
resnet18, vgg16_bn) so that the time budget cuts reruns of the longest calls only; sections are
printed in the order above.

Usage: ``python benchmarks/bench_networks.py [--quick] [--only CASE[,CASE]] [--repeats K]
[--rounds R] [--skip-peers]``; prints markdown on stdout, progress on stderr. The full run took
15 minutes on the 2-core CPU with nothing else running (vgg16_bn alone 9.5 minutes, the MLP's
today's-engine call 1.5); ``--quick`` (small N, one round, 5 checkpoints) about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from bench_entk import small_cnn
from measure import busy_cpu_seconds, describe_failure, fmt_mib, fmt_s, fmt_share, rel_diff, reset_peak_rss, status_bytes, trim_heap
from torch import Tensor, nn

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

THREADS = 2
SEED = 0
NUM_CLASSES = 10
WARMUP_SAMPLES = 2
CONTENDED = 0.10  # other processes' CPU share above which a timed call is rerun
TICK = 1 / os.sysconf("SC_CLK_TCK")  # /proc/stat's resolution (10 ms): a call of 40 ms shows 12% per tick
BUDGET_S = 20 * 60  # no rerun for contention that would end past this many seconds of the run
GIB = 2**30
GB = 10**9
CIFAR_PY = REPO.parent / "shared" / "data" / "cifar10" / "cifar-10-batches-py"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
NT_IMPL2_CAP = 8 * GIB
CASES = ("small-cnns", "resnet18", "vgg16_bn", "mlp", "analyze")
# The small CNNs again under an explicit budget: the memory bar asks a quarter of the recipe's peak.
SMALL_BUDGET = "48MiB"
RUN_ORDER = ("small-cnns", "mlp", "analyze", "resnet18", "vgg16_bn")  # the longest last: the budget cuts reruns there


def contended(seconds: float, share: float) -> bool:
    """More than 10% of the machine taken by others, and more than two /proc/stat ticks of it."""
    return share > CONTENDED and share * seconds * (os.cpu_count() or 1) > 2 * TICK


# --------------------------------------------------------------------------------------- models


def pool_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, NUM_CLASSES),
    )


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 4096), nn.ReLU(), nn.Linear(4096, NUM_CLASSES))


def timm_model(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm  # only these models need it

        return timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES)

    return build


MODELS: dict[str, Callable[[], nn.Module]] = {
    "small_cnn": small_cnn,
    "pool_cnn": pool_cnn,
    "mlp": mlp,
    "resnet18": timm_model("resnet18"),
    "vgg16_bn": timm_model("vgg16_bn"),
    "test_resnet": timm_model("test_resnet"),
}


# ---------------------------------------------------------------------------------------- inputs


def cifar_available() -> bool:
    return (CIFAR_PY / "test_batch").is_file()


def probe_inputs(n: int) -> tuple[Tensor, str]:
    """(N, 3, 32, 32) float32 inputs and a sentence saying what they are."""
    if cifar_available():
        with open(CIFAR_PY / "test_batch", "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = batch[b"data"]
        if len(data) >= n:
            x = torch.from_numpy(data[:n].reshape(n, 3, 32, 32).copy()).float() / 255.0
            mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
            std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
            return ((x - mean) / std).contiguous(), (
                f"real CIFAR-10, the first N images of the test batch (../{CIFAR_PY.relative_to(REPO.parent)}), "
                "scaled to [0, 1] and normalised with CIFAR-10's per-channel mean and std")
    gen = torch.Generator().manual_seed(SEED + 1)
    return torch.randn(n, 3, 32, 32, generator=gen), f"seeded N(0, 1) of shape Nx3x32x32 (CIFAR-10 not found at {CIFAR_PY})"


# --------------------------------------------------------------------------- the tutorial recipe


def recipe_once(net: nn.Module) -> Callable[[Tensor], Tensor]:
    """The tutorial's method 1 in full mode with one Jacobian (x2 is x1, so it is computed once)."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in net.named_parameters()}

    def fnet_single(p: Mapping[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(net, p, (x.unsqueeze(0),)).squeeze(0)

    def ntk(x: Tensor) -> Tensor:
        jac = vmap(jacrev(fnet_single), (None, 0))(params, x)
        jac = [j.flatten(2) for j in jac.values()]  # each (N, C, P_t)
        return torch.stack([torch.einsum("Naf,Mbf->NMab", j, j) for j in jac]).sum(0)

    return ntk


# --------------------------------------------------------------------------------------- worker


def timed_calls(call: Callable[[], Any], repeats: int, max_reruns: int, deadline: float) -> tuple[Any, dict[str, Any]]:
    """``repeats`` timed calls of ``call``, plus reruns while the fastest was contended.

    Returns the last call's result and {seconds (best), others (share during the best call),
    peak_delta (largest), peak_process (largest), rss_before, calls: [[seconds, others], ...],
    reruns}.
    """
    calls: list[tuple[float, float]] = []
    peaks: list[int] = []
    tops: list[int] = []
    befores: list[int] = []
    result = None
    reruns = 0
    while True:
        result = None  # the previous result is not part of this call's memory
        trim_heap()
        reset_peak_rss()
        before = status_bytes("VmHWM")
        busy, own = busy_cpu_seconds()
        started = time.perf_counter()
        result = call()
        wall = time.perf_counter() - started
        top = status_bytes("VmHWM")
        busy_after, own_after = busy_cpu_seconds()
        others = max(0.0, (busy_after - busy) - (own_after - own)) / (wall * (os.cpu_count() or 1))
        calls.append((wall, others))
        peaks.append(top - before)
        tops.append(top)
        befores.append(before)
        if len(calls) < repeats:
            continue
        best = min(calls)
        if contended(*best) and reruns < max_reruns and time.time() + best[0] < deadline:
            reruns += 1
            continue
        break
    wall, others = min(calls)
    return result, {"seconds": wall, "others": others, "peak_delta": max(peaks), "peak_process": max(tops),
                    "rss_before": min(befores), "calls": calls, "reruns": reruns}


def plan_summary(plan: Any) -> dict[str, Any]:
    by_path: dict[str, float] = {}
    for layer in plan.layers:
        by_path[layer.path] = by_path.get(layer.path, 0.0) + float(layer.flops)
    return {"flops": sum(by_path.values()), "flops_by_path": by_path, "describe": plan.describe()}


def load_case(data_path: str) -> tuple[nn.Module, Tensor]:
    data = torch.load(data_path)
    net = MODELS[data["model"]]()
    net.load_state_dict(data["state_dict"])
    net.eval()
    inputs = data["inputs"]
    del data
    return net, inputs


def worker_entk(spec: Mapping[str, Any]) -> dict[str, Any]:
    from entk_probe import compute_entk_result

    net, inputs = load_case(spec["data"])
    kwargs: dict[str, Any] = {"mode": spec["mode"], "device": "cpu"}
    if spec.get("paths"):
        kwargs["paths"] = spec["paths"]
    if spec.get("gram_dtype"):
        kwargs["gram_dtype"] = getattr(torch, spec["gram_dtype"])
    if spec.get("max_memory"):
        kwargs["max_memory"] = spec["max_memory"]
    compute_entk_result(net, inputs[:WARMUP_SAMPLES], **kwargs)
    result, stats = timed_calls(lambda: compute_entk_result(net, inputs, **kwargs), spec["repeats"],
                                spec["max_reruns"], spec["deadline"])
    torch.save(result.kernel, spec["out"])
    return {**stats, **plan_summary(result.plan)}


def worker_recipe(spec: Mapping[str, Any]) -> dict[str, Any]:
    net, inputs = load_case(spec["data"])
    ntk = recipe_once(net)
    ntk(inputs[:WARMUP_SAMPLES])
    kernel, stats = timed_calls(lambda: ntk(inputs), spec["repeats"], spec["max_reruns"], spec["deadline"])
    torch.save(kernel, spec["out"])
    return stats


def worker_gemm(spec: Mapping[str, Any]) -> dict[str, Any]:
    n = spec["size"]
    out: dict[str, Any] = {}
    for name in ("float32", "float64"):
        gen = torch.Generator().manual_seed(SEED)
        a = torch.randn(n, n, generator=gen, dtype=getattr(torch, name))
        b = torch.randn(n, n, generator=gen, dtype=getattr(torch, name))
        torch.matmul(a, b)  # warm-up
        _, stats = timed_calls(lambda: torch.matmul(a, b), 3, spec["max_reruns"], spec["deadline"])
        out[name] = {"gflops": 2 * n**3 / stats["seconds"] / 1e9, "others": stats["others"],
                     "reruns": stats["reruns"], "seconds": stats["seconds"]}
    return out


def worker_analyze(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Method "analyze" (the whole run) or "bare" (``count`` kernels of the first checkpoint)."""
    import warnings

    from safetensors.torch import load_file

    from entk_probe import compute_entk_result
    from entk_probe.pipeline import AnalyzeOptions, analyze
    from entk_probe.probes import load_probe

    warnings.simplefilter("ignore")
    inputs = load_probe(Path(spec["probe"])).inputs
    net = MODELS["test_resnet"]()
    net.load_state_dict(load_file(spec["first_checkpoint"]))
    net.eval()
    compute_entk_result(net, inputs[:WARMUP_SAMPLES], mode="trace", device="cpu")  # the same warm-up for both
    if spec["method"] == "analyze":
        def call() -> Tensor:
            analysis = analyze(Path(spec["run_dir"]), f"file:{spec['probe']}", AnalyzeOptions(device="cpu", cache=False))
            if len(analysis.kernels) != spec["count"]:
                raise RuntimeError(f"analyze computed {len(analysis.kernels)} kernels, expected {spec['count']}")
            return analysis.kernels[0]
    else:
        def call() -> Tensor:
            kernels = [compute_entk_result(net, inputs, mode="trace", device="cpu").kernel for _ in range(spec["count"])]
            return kernels[0]
    kernel, stats = timed_calls(call, spec["repeats"], spec["max_reruns"], spec["deadline"])
    torch.save(kernel, spec["out"])
    return stats


WORKERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "entk": worker_entk, "recipe": worker_recipe, "gemm": worker_gemm, "analyze": worker_analyze,
}


def run_worker(spec_json: str) -> None:
    torch.set_num_threads(THREADS)
    spec = json.loads(spec_json)
    print(json.dumps(WORKERS[spec["task"]](spec)))


# --------------------------------------------------------------------------------------- parent


@dataclass
class Outcome:
    """One measurement subprocess: its numbers, or how it failed."""

    label: str
    result: dict[str, Any] = field(default_factory=dict)
    kernel: Path | None = None
    failure: str | None = None
    wall: float = 0.0  # the subprocess's own wall time, imports and warm-up included

    @property
    def ok(self) -> bool:
        return self.failure is None

    def get(self, key: str) -> Any:
        return self.result.get(key)


class Runner:
    """Starts measurement subprocesses; knows the run's budget and the reruns it allowed."""

    def __init__(self, workdir: Path, max_reruns: int, timeout: float) -> None:
        self.workdir = workdir
        self.max_reruns = max_reruns
        self.timeout = timeout
        self.started = time.time()
        self.counter = 0

    @property
    def deadline(self) -> float:
        return self.started + BUDGET_S

    def elapsed(self) -> float:
        return time.time() - self.started

    def run(self, label: str, spec: dict[str, Any], save_kernel: bool = True) -> Outcome:
        self.counter += 1
        out = self.workdir / f"kernel-{self.counter}.pt"
        spec = {**spec, "out": str(out), "max_reruns": spec.get("max_reruns", self.max_reruns),
                "deadline": self.deadline}
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
        progress(f"  {label} ...")
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, cwd=REPO)
        except subprocess.TimeoutExpired:
            return Outcome(label, failure=f"timed out after {self.timeout:.0f} s", wall=time.perf_counter() - started)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            return Outcome(label, failure=describe_failure(proc), wall=wall)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        outcome = Outcome(label, result, out if save_kernel and out.exists() else None, wall=wall)
        if "seconds" in result:
            progress(f"  {label}: {result['seconds']:.2f} s (others {100 * result['others']:.0f}%, "
                     f"{result['reruns']} rerun(s); subprocess {wall:.0f} s; run {self.elapsed():.0f} s)")
        return outcome


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best(outcomes: list[Outcome]) -> Outcome:
    """The fastest run (its time, share and kernel) with the largest peaks; or the first failure."""
    done = [o for o in outcomes if o.ok]
    if not done:
        return outcomes[0]
    fastest = min(done, key=lambda o: o.result["seconds"])
    merged = dict(fastest.result)
    merged["peak_delta"] = max(o.result["peak_delta"] for o in done)
    merged["peak_process"] = max(o.result["peak_process"] for o in done)
    merged["reruns"] = sum(o.result["reruns"] for o in done)
    merged["all_seconds"] = [s for o in done for s, _ in o.result["calls"]]
    merged["all_others"] = [w for o in done for _, w in o.result["calls"]]
    return Outcome(fastest.label, merged, fastest.kernel, wall=sum(o.wall for o in outcomes))


def alternate(runner: Runner, methods: dict[str, dict[str, Any]], rounds: int) -> dict[str, Outcome]:
    """Each method's spec run ``rounds`` times, alternating A B A B; the best of each."""
    runs: dict[str, list[Outcome]] = {m: [] for m in methods}
    for r in range(rounds):
        for method, spec in methods.items():
            runs[method].append(runner.run(f"{method} (round {r + 1})", spec))
    return {m: best(o) for m, o in runs.items()}


def save_case(workdir: Path, model: str, inputs: Tensor) -> Path:
    torch.manual_seed(SEED)
    net = MODELS[model]()
    path = workdir / f"{model}-{len(inputs)}.pt"
    torch.save({"model": model, "state_dict": net.state_dict(), "inputs": inputs}, path)
    return path


def load_kernel(outcome: Outcome) -> Tensor | None:
    return torch.load(outcome.kernel) if outcome.ok and outcome.kernel is not None else None


def fmt_ratio(num: float | None, den: float | None, digits: int = 2) -> str:
    return "n/a" if num is None or den is None or den == 0 else f"{num / den:.{digits}f}x"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("**met**" if ok else "**not met**")


def fmt_calls(outcome: Outcome) -> str:
    if not outcome.ok:
        return "failed"
    pairs = zip(outcome.result["all_seconds"], outcome.result["all_others"])
    return ", ".join(f"{s:.2f} s ({100 * o:.0f}%)" for s, o in pairs)


def fmt_gflop(flops: float) -> str:
    return f"{flops / 1e9:,.1f}" if flops >= 1e10 else f"{flops / 1e9:.3g}"


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)


@dataclass
class Settings:
    quick: bool
    repeats: int | None  # None: the case's default
    rounds: int | None
    skip_peers: bool
    workdir: Path
    gemm: dict[str, Any] | None = None  # the measured GEMM rates (worker_gemm's result)
    inputs_note: set[str] = field(default_factory=set)
    nt_versions: str | None = None

    def reps(self, default: int) -> int:
        return self.repeats if self.repeats is not None else default

    def rnds(self, default: int) -> int:
        return self.rounds if self.rounds is not None else default


def contention_note(name: str, outcome: Outcome) -> str:
    """Other processes' share during each timed call, for the notes."""
    if not outcome.ok:
        return f"- {name}: failed: {outcome.failure}"
    reruns = outcome.result.get("reruns", 0)
    flag = (" **(contended: above 10% even after reruns)**"
            if contended(outcome.result["seconds"], outcome.result["others"]) else "")
    return (f"- {name}: timed calls (others' CPU share): {fmt_calls(outcome)}; {reruns} rerun(s) for contention; "
            f"best {fmt_s(outcome.result['seconds'])} at {fmt_share(outcome.result['others'])}{flag}")


# ----------------------------------------------------------------------------------- the cases


def case_small_cnns(runner: Runner, s: Settings) -> Section:
    n = 20 if s.quick else 100
    sec = Section(f"small-cnns: N={n}, full mode (kernel N x N x 10 x 10), float32")
    inputs, note = probe_inputs(n)
    s.inputs_note.add(note)
    python = None
    peer_reason = "skipped (--skip-peers)"
    if not s.skip_peers:
        from nt_peer import PeerUnavailable, ensure_venv

        try:
            python = ensure_venv()
        except PeerUnavailable as exc:
            peer_reason = f"unavailable: {exc}"
    rows, notes, bars = [], [], []
    for model in ("small_cnn", "pool_cnn"):
        progress(f"small-cnns: {model}")
        data = save_case(s.workdir, model, inputs)
        torch.manual_seed(SEED)
        params = sum(p.numel() for p in MODELS[model]().parameters())
        base = {"data": str(data), "repeats": s.reps(2)}
        res = alternate(runner, {"recipe": {**base, "task": "recipe"},
                                 "entk-probe": {**base, "task": "entk", "mode": "full"},
                                 "budget": {**base, "task": "entk", "mode": "full", "max_memory": SMALL_BUDGET}},
                        s.rnds(2))
        recipe, engine, budgeted = res["recipe"], res["entk-probe"], res["budget"]
        peers: dict[int, dict[str, Any]] = {}
        if python is not None:
            peers = run_peers(runner, python, model, data, s)
        k_ref = load_kernel(recipe)
        methods: list[tuple[str, float | None, int | None, float | None, Any, str]] = []
        for label, o in (("entk-probe", engine), (f"entk-probe, max_memory={SMALL_BUDGET}", budgeted),
                         ("torch.func recipe (Jacobian once)", recipe)):
            methods.append((label, o.get("seconds"), o.get("peak_delta"), o.get("others"), load_kernel(o),
                            "" if o.ok else f"failed: {o.failure}"))
        for impl, r in peers.items():
            label = f"neural-tangents {impl} ({r['name'].lower().replace('_', ' ')})"
            if r.get("ok"):
                methods.append((label, r["seconds"], r.get("call_peak_rss_delta_bytes"), r.get("other_cpu_share_best"),
                                r["kernel"], f"compile + 1st call {r['first_call_seconds']:.1f} s; worker peak RSS "
                                f"{fmt_mib(r.get('peak_rss_bytes'))}"))
            else:
                err = r.get("error", "failed")
                if impl == 2 and ("RESOURCE_EXHAUSTED" in err or "memory" in err.lower()):
                    err = f"out of memory under the {NT_IMPL2_CAP // GIB} GiB cap ({err[:120]})"
                methods.append((label, None, None, None, None, f"failed: {err}"))
        eng_s = engine.get("seconds")
        for label, secs, peak, others, kernel, extra in methods:
            diff = "n/a"
            if kernel is not None and k_ref is not None:
                diff = f"{rel_diff(kernel, k_ref):.1e}"
            rows.append(f"| {model} ({params:,}) | {label} | {fmt_s(secs)} | {fmt_ratio(secs, eng_s)} | {fmt_mib(peak)} "
                        f"| {fmt_share(others)} | {diff} | {extra} |")
        nt_times = [r["seconds"] for r in peers.values() if r.get("ok")]
        nt_best = min(nt_times) if nt_times else None
        r_rec = recipe.get("seconds") / eng_s if recipe.ok and engine.ok else None
        r_nt = nt_best / eng_s if nt_best is not None and engine.ok else None
        mem = engine.get("peak_delta") / recipe.get("peak_delta") if recipe.ok and engine.ok else None
        mem_b = budgeted.get("peak_delta") / recipe.get("peak_delta") if recipe.ok and budgeted.ok else None
        bars.append(
            f"| {model} | {fmt_ratio(recipe.get('seconds'), eng_s)} {verdict(None if r_rec is None else r_rec >= 3)} "
            f"| {fmt_ratio(nt_best, eng_s)} {verdict(None if r_nt is None else r_nt >= 3)} "
            f"| {'n/a' if mem is None else f'{mem:.2f}'} {verdict(None if mem is None else mem <= 0.25)} "
            f"| {'n/a' if mem_b is None else f'{mem_b:.2f}'} {verdict(None if mem_b is None else mem_b <= 0.25)}, "
            f"recipe / it {fmt_ratio(recipe.get('seconds'), budgeted.get('seconds'))} |")
        notes.append(contention_note(f"{model} entk-probe", engine))
        notes.append(contention_note(f"{model} entk-probe max_memory={SMALL_BUDGET}", budgeted))
        notes.append(contention_note(f"{model} recipe", recipe))
        for impl, r in peers.items():
            if r.get("ok"):
                times = ", ".join(f"{t:.2f} s" for t in r.get("times", []))
                notes.append(f"- {model} neural-tangents {impl}: timed calls {times}; others' CPU share during the best "
                             f"{fmt_share(r.get('other_cpu_share_best'))}; {r.get('bench_reruns', 0)} rerun(s)")
        if python is None:
            notes.append(f"- {model} neural-tangents: {peer_reason}")
    sec.add("| model (params) | method | steady s | / entk-probe | peak ΔRSS | others' CPU | max rel. diff to recipe "
            "| notes |", "|---|---|---:|---:|---:|---:|---:|---|", *rows, "",
            "Bars (time ratios are the method's seconds over entk-probe's; memory is peak ΔRSS of one call):", "",
            "| model | recipe / entk-probe (>= 3x) | best neural-tangents / entk-probe (>= 3x) "
            f"| entk-probe peak / recipe peak (<= 0.25) | with max_memory={SMALL_BUDGET}: peak / recipe peak |",
            "|---|---|---|---|---|", *bars, "", *notes)
    if s.nt_versions:
        sec.add(f"- neural-tangents side: {s.nt_versions}; implementation 2 capped at {NT_IMPL2_CAP // GIB} GiB of extra "
                "address space (RLIMIT_AS); steady = best timed call after the compiling first call")
    return sec


def run_peers(runner: Runner, python: Path, model: str, data: Path, s: Settings) -> dict[int, dict[str, Any]]:
    """neural-tangents implementations 1, 2, 3 on the case's weights; a contended one once more."""
    from nt_peer import run_peer

    net, inputs = load_case(str(data))
    results: dict[int, dict[str, Any]] = {}
    for impl in (1, 2, 3):
        cap = NT_IMPL2_CAP if impl == 2 else None
        attempts = 0
        while True:
            attempts += 1
            progress(f"  neural-tangents {impl} ...")
            r = run_peer(python, net, inputs, mode="full", repeats=s.reps(2), implementations=(impl,),
                         max_memory=cap, timeout=600)[impl]
            if r.get("ok"):
                progress(f"  neural-tangents {impl}: {r['seconds']:.2f} s (others {100 * r['other_cpu_share_best']:.0f}%)")
            else:
                progress(f"  neural-tangents {impl}: failed: {r.get('error')}")
            previous = results.get(impl)
            if previous is None or (r.get("ok") and (not previous.get("ok") or r["seconds"] < previous["seconds"])):
                results[impl] = r
            results[impl]["bench_reruns"] = attempts - 1
            busy = r.get("ok") and contended(r["seconds"], r.get("other_cpu_share_best", 0.0))
            if not busy or attempts > 1 or time.time() > runner.deadline:
                break
        if r.get("jax") and not s.nt_versions:
            s.nt_versions = (f"jax {r.get('jax')}, jaxlib {r.get('jaxlib')}, neural-tangents {r.get('neural_tangents')}, "
                             f"worker CPUs {r.get('cpus')}")
    return results


def gemm_rates(runner: Runner, s: Settings) -> dict[str, Any] | None:
    if s.gemm is None:
        progress("GEMM rate (2000x2000x2000 torch.matmul, 2 threads)")
        o = runner.run("gemm", {"task": "gemm", "size": 2000}, save_kernel=False)
        s.gemm = o.result if o.ok else {"failure": o.failure}
    return None if "failure" in s.gemm else s.gemm


def case_big(runner: Runner, s: Settings, model: str, bar_s: float, default_rounds: int) -> Section:
    n = {"resnet18": 64, "vgg16_bn": 32}[model] if s.quick else 500
    sec = Section(f"{model}: N={n}, trace mode, 3x32x32 inputs, 10 classes")
    rates = gemm_rates(runner, s)
    inputs, note = probe_inputs(n)
    s.inputs_note.add(note)
    progress(f"{model}: N={n}")
    data = save_case(s.workdir, model, inputs)
    torch.manual_seed(SEED)
    params = sum(p.numel() for p in MODELS[model]().parameters())
    base = {"task": "entk", "data": str(data), "mode": "trace", "repeats": s.reps(1)}
    res = alternate(runner, {"float32 products (default)": base, "gram_dtype=float64": {**base, "gram_dtype": "float64"}},
                    s.rnds(default_rounds))
    rows, notes = [], []
    for label, o in res.items():
        rate_key = "float64" if "float64" in label else "float32"
        if not o.ok:
            rows.append(f"| {label} | failed: {o.failure} | | | | | | |")
            notes.append(contention_note(f"{model} {label}", o))
            continue
        secs, flops = o.result["seconds"], o.result["flops"]
        by_path = ", ".join(f"{p} {fmt_gflop(f)}" for p, f in sorted(o.result["flops_by_path"].items()))
        achieved = flops / secs / 1e9
        frac = f"{achieved:,.1f} GFLOP/s = {achieved / rates[rate_key]['gflops']:.0%} of {rate_key} GEMM" if rates else "n/a"
        ok_time = secs <= bar_s
        ok_mem = o.result["peak_process"] <= 4 * GB if model == "resnet18" else None
        mem_cell = f"{fmt_mib(o.result['peak_process'])}" + (f" {verdict(ok_mem)}" if ok_mem is not None else "")
        rows.append(f"| {label} | {secs:.2f} s {verdict(ok_time)} | {mem_cell} | {fmt_mib(o.result['peak_delta'])} "
                    f"| {fmt_gflop(flops)} | {by_path} | {frac} | {fmt_share(o.result['others'])} |")
        notes.append(contention_note(f"{model} {label}", o))
    notes.append(f"- plan: {next((o.result['describe'] for o in res.values() if o.ok), 'n/a')}")
    k32, k64 = (load_kernel(o) for o in res.values())
    diff = f"{rel_diff(k32, k64):.1e}" if k32 is not None and k64 is not None else "n/a"
    mem_bar = " and <= 4 GB (3,815 MiB) peak RSS of the whole process" if model == "resnet18" else ""
    sec.add(f"{model}: {params:,} parameters; bars: <= {bar_s:.0f} s{mem_bar}. Flops: the plan's estimate of the Gram "
            "work (capture passes not included), GFLOP.", "",
            "| gram products | seconds | peak RSS (process) | peak ΔRSS (call) | plan GFLOP | GFLOP by path "
            "| rate reached | others' CPU |", "|---|---:|---:|---:|---:|---|---|---:|", *rows, "",
            f"- max|K_float32 - K_float64| / max|K_float64| = {diff}", *notes)
    return sec


def case_mlp(runner: Runner, s: Settings) -> Section:
    n = 8 if s.quick else 64
    sec = Section(f"mlp: Flatten-Linear(3072, 4096)-ReLU-Linear(4096, 10), N={n}, trace mode")
    inputs, note = probe_inputs(n)
    s.inputs_note.add(note)
    progress(f"mlp: N={n}")
    data = save_case(s.workdir, "mlp", inputs)
    params = sum(p.numel() for p in mlp().parameters())
    base = {"task": "entk", "data": str(data), "mode": "trace"}
    default = {**base, "repeats": s.reps(2)}
    today = {**base, "repeats": 1, "paths": "jacobian", "gram_dtype": "float64", "max_reruns": 0}
    # A B A: entk-probe's default is cheap; today's engine takes minutes and gets one timed call.
    runs = [runner.run("entk-probe default (1)", default), runner.run("today's engine", today),
            runner.run("entk-probe default (2)", default)]
    new, old = best([runs[0], runs[2]]), best([runs[1]])
    k_new, k_old = load_kernel(new), load_kernel(old)
    diff = f"{rel_diff(k_new, k_old):.1e}" if k_new is not None and k_old is not None else "n/a"
    ratio = old.get("seconds") / new.get("seconds") if new.ok and old.ok else None
    rows = []
    for label, o in (("entk-probe (default)", new), ("today's engine (paths=jacobian, float64 products)", old)):
        if not o.ok:
            rows.append(f"| {label} | failed: {o.failure} | | | | |")
            continue
        rows.append(f"| {label} | {fmt_s(o.result['seconds'])} | {fmt_mib(o.result['peak_delta'])} "
                    f"| {fmt_gflop(o.result['flops'])} | {fmt_share(o.result['others'])} | {o.result['describe']} |")
    sec.add(f"{params:,} parameters. Bar: today's engine / entk-probe >= 100x.", "",
            "| method | seconds | peak ΔRSS | plan GFLOP | others' CPU | plan |", "|---|---:|---:|---:|---:|---|", *rows, "",
            f"- today's engine / entk-probe: {'n/a' if ratio is None else f'{ratio:,.0f}x'} "
            f"{verdict(None if ratio is None else ratio >= 100)}",
            f"- max|K_entk - K_today| / max|K_today| = {diff}",
            contention_note("entk-probe default", new), contention_note("today's engine (one call, no reruns)", old))
    return sec


def case_analyze(runner: Runner, s: Settings) -> Section:
    count, n = (5, 20) if s.quick else (20, 100)
    sec = Section(f"analyze: {count} checkpoints of timm test_resnet, probe N={n}, trace mode, no kernel cache")
    progress(f"analyze: writing {count} checkpoints")
    sys.path.insert(0, str(REPO))
    from tests.helpers import write_run

    from entk_probe.runs.checkpoints import single
    from entk_probe.runs.loading import read_content, select_state_dict
    from entk_probe.runs.models import make_spec
    from entk_probe.probes import make_probe, save_probe

    run_dir = s.workdir / "run"
    paths = write_run(run_dir, steps=tuple(range(0, 5 * count, 5)), arch="test_resnet", num_classes=NUM_CLASSES)
    ckpt = single(paths[0])
    state, _ = select_state_dict(read_content(ckpt.path), "raw")
    target = make_spec("test_resnet", "bench", state, recorded=ckpt.args).target()
    if cifar_available():
        probe_spec = f"cifar10:{n}"
        probe = make_probe(probe_spec, target, data_root=CIFAR_PY.parent)
    else:
        probe_spec = f"synthetic:{n}"
        probe = make_probe(probe_spec, target)
    probe_file = s.workdir / "probe.safetensors"
    save_probe(probe, probe_file)
    s.inputs_note.add(f"analyze: the project's probe `{probe_spec}` ({probe.source}; normalisation "
                      f"{probe.normalization.describe()}), saved once as a probe file")
    base = {"task": "analyze", "run_dir": str(run_dir), "probe": str(probe_file), "first_checkpoint": str(paths[0]),
            "count": count, "repeats": s.reps(1)}
    res = alternate(runner, {"analyze": {**base, "method": "analyze"}, "bare": {**base, "method": "bare"}}, s.rnds(2))
    a, b = res["analyze"], res["bare"]
    ratio = a.get("seconds") / b.get("seconds") if a.ok and b.ok else None
    ka, kb = load_kernel(a), load_kernel(b)
    diff = f"{rel_diff(ka, kb):.1e}" if ka is not None and kb is not None else "n/a"
    rows = []
    for label, o in (("analyze(run_dir, file:probe, AnalyzeOptions(device='cpu', cache=False))", a),
                     (f"{count} x compute_entk_result(model, inputs, mode='trace', device='cpu')", b)):
        rows.append(f"| {label} | {fmt_s(o.get('seconds'))} | {fmt_mib(o.get('peak_delta'))} | {fmt_share(o.get('others'))} |"
                    if o.ok else f"| {label} | failed: {o.failure} | | |")
    sec.add(f"Input shape {tuple(probe.inputs.shape[1:])}. Bar: analyze <= 1.3x the bare calls.", "",
            "| what | wall time | peak ΔRSS | others' CPU |", "|---|---:|---:|---:|", *rows, "",
            f"- analyze / bare: {'n/a' if ratio is None else f'{ratio:.2f}x'} {verdict(None if ratio is None else ratio <= 1.3)}",
            f"- first checkpoint's kernel, analyze against bare: max rel. diff {diff}",
            contention_note("analyze", a), contention_note("bare", b))
    return sec


# ----------------------------------------------------------------------------------------- main


def environment(s: Settings) -> str:
    import timm

    import entk_probe

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "entk_probe"], capture_output=True, text=True,
                               cwd=REPO).stdout.strip()
        commit += " (entk_probe/ modified)" if dirty else ""
    except OSError:
        commit = "unknown"
    with open("/proc/meminfo") as fh:
        mem = int(fh.readline().split()[1]) * 1024
    return (f"python {platform.python_version()}, torch {torch.__version__}, timm {timm.__version__}, entk-probe "
            f"{entk_probe.__version__} at {commit}; {cpu}, {os.cpu_count()} CPUs, {mem / GIB:.0f} GiB; "
            f"torch threads {THREADS} in every measurement")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, one round, 5 checkpoints: a smoke run")
    parser.add_argument("--only", default=None, help=f"comma-separated cases among {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls a subprocess (default 2 for the small CNNs and the MLP's entk-probe, else 1; "
                             "today's engine on the MLP always 1)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating subprocess rounds (default 2; --quick 1)")
    parser.add_argument("--max-reruns", type=int, default=2,
                        help="extra timed calls a subprocess makes while its fastest call was contended (default 2)")
    parser.add_argument("--skip-peers", action="store_true", help="no neural-tangents")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a measurement subprocess may take")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.worker:
        run_worker(args.worker)
        return 0
    chosen = list(CASES) if not args.only else [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_networks-") as tmp:
        s = Settings(args.quick, args.repeats, 1 if args.quick and args.rounds is None else args.rounds,
                     args.skip_peers, Path(tmp))
        runner = Runner(Path(tmp), args.max_reruns, args.timeout)
        env = environment(s)
        done: dict[str, Section] = {}
        for case in RUN_ORDER:
            if case not in chosen:
                continue
            t0 = time.perf_counter()
            try:
                if case == "small-cnns":
                    sec = case_small_cnns(runner, s)
                elif case == "resnet18":
                    sec = case_big(runner, s, "resnet18", 30, 2)
                elif case == "vgg16_bn":
                    sec = case_big(runner, s, "vgg16_bn", 120, 2)
                elif case == "mlp":
                    sec = case_mlp(runner, s)
                else:
                    sec = case_analyze(runner, s)
            except Exception as exc:  # one case failing should not lose the others
                sec = Section(case, [f"failed: {type(exc).__name__}: {exc}"])
            sec.add(f"- case wall time {time.perf_counter() - t0:.0f} s")
            done[case] = sec
            progress(f"{case}: done after {time.perf_counter() - t0:.0f} s")
        sections = [done[c] for c in CASES if c in done]
    total = time.perf_counter() - started
    print(f"`{shlex.join(['python', 'benchmarks/bench_networks.py', *sys.argv[1:]])}`\n")
    print(env)
    print(f"total {total:.0f} s ({total / 60:.1f} min); each measurement in a fresh subprocess after a warm-up on "
          f"{WARMUP_SAMPLES} samples; best timed call; a call with more than {CONTENDED:.0%} of the CPUs taken by other "
          f"processes (and more than 2 ticks of /proc/stat) is rerun (up to {args.max_reruns} times a subprocess, when "
          f"it can end within {BUDGET_S // 60} min of the start); cases run in the order {', '.join(RUN_ORDER)}")
    for note in sorted(s.inputs_note):
        print(f"inputs: {note}")
    if s.gemm is not None:
        if "failure" in s.gemm:
            print(f"GEMM rate: failed: {s.gemm['failure']}")
        else:
            print("GEMM rate (best of 3 torch.matmul 2000x2000 @ 2000x2000, 2 threads): " + ", ".join(
                f"{k} {v['gflops']:,.1f} GFLOP/s (others {fmt_share(v['others'])})" for k, v in s.gemm.items()))
    for sec in sections:
        print(f"\n## {sec.title}\n")
        print("\n".join(sec.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
