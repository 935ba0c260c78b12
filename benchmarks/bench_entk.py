"""entk-probe's ``compute_entk`` against the torch.func recipe of the PyTorch NTK tutorial.

The peer is method 1 ("Jacobian contraction") of the tutorial "Neural Tangent Kernels"
(pytorch.org/tutorials/intermediate/neural_tangent_kernels.html), written out below as users run
it: ``vmap(jacrev(fnet_single), (None, 0))`` for x1 and again for x2 (here x1 == x2, and the
tutorial computes both anyway), each Jacobian flattened to (N, C, P_t) per parameter tensor,
``torch.einsum('Naf,Mbf->NMab')`` (full) or ``'Naf,Maf->NM'`` (trace) per tensor, stacked and
summed. Both sides get the same model weights and inputs (saved once, loaded by each
measurement), float32, the CPU, two threads.

How it is measured: every (case, method) runs in a fresh subprocess so that peak memory is its
own. There the model and inputs are loaded, one warm-up call on 2 samples is made, then for each
timed call: glibc's heap is trimmed (so memory kept from the previous call does not hide growth),
the process's peak-RSS counter is reset (``/proc/self/clear_refs`` = 5), the call is timed with
``time.perf_counter``, and ``VmHWM`` from ``/proc/self/status`` gives its peak. Reported: the best
wall time of all timed calls (noise on a shared machine only adds time), the largest peak RSS
increase over the RSS before the call, and max|K_entk - K_recipe| / max|K_recipe|. The recipe's
and the engine's subprocesses alternate (recipe, engine, recipe, engine, ...) so that load from
other processes does not fall on one side only, and each timed call records the share of the
machine's CPU time that other processes took meanwhile (from /proc/stat), which the notes print:
on two cores, another busy process can make a call several times slower.

The out-of-memory case caps the address space of the timed call with ``RLIMIT_AS`` at the
process's address space just before the call plus a headroom. The cap is set after imports and
warm-up because importing a CUDA build of torch alone reserves about 3.5 GiB of (mostly untouched)
virtual memory, so a cap on the whole process would measure torch's reservations, not the
computation. The recipe is expected to fail there; its kernel for the accuracy column then comes
from a run of the recipe without the cap.

Usage: ``python benchmarks/bench_entk.py [--quick] [--rounds R] [--repeats K]``; prints a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from measure import MIB, busy_cpu_seconds, describe_failure, fmt_mib, fmt_s, fmt_share, rel_diff, reset_peak_rss, status_bytes, trim_heap
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

THREADS = 2
SEED = 0
NUM_CLASSES = 10
WARMUP_SAMPLES = 2
GIB = 2**30


# --------------------------------------------------------------------------------------- models


def small_cnn() -> nn.Module:
    """The issue's bar: a small CNN for 3x32x32 inputs, 14,666 parameters."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, NUM_CLASSES),
    )


class TutorialCNN(nn.Module):
    """The CNN of the PyTorch NTK tutorial itself, 235,722 parameters (216,330 in ``fc``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, (3, 3))
        self.conv2 = nn.Conv2d(32, 32, (3, 3))
        self.conv3 = nn.Conv2d(32, 32, (3, 3))
        self.fc = nn.Linear(21632, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv2(self.conv1(x).relu()).relu()
        return self.fc(self.conv3(x).flatten(1))


def timm_test_resnet() -> nn.Module:
    import timm  # only this model needs it; keeps the other workers' imports small

    return timm.create_model("test_resnet", pretrained=False, num_classes=NUM_CLASSES)


MODELS: dict[str, Callable[[], nn.Module]] = {
    "small_cnn": small_cnn,
    "tutorial_cnn": TutorialCNN,
    "timm_test_resnet": timm_test_resnet,
}


# ---------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One comparison: a model, a probe of ``n`` 3x32x32 inputs and a kernel mode."""

    name: str
    model: str
    n: int
    mode: str
    headroom: int | None = None  # RLIMIT_AS: bytes the timed call may add to the address space
    engine_max_memory: str | None = None  # compute_entk's max_memory (None: its default)


def make_cases(quick: bool) -> list[Case]:
    n = 20 if quick else 100
    # Out of memory: the recipe holds two float32 Jacobians of N·C·P elements (2 x 943 MB at
    # N=100 for the tutorial CNN), about twice the cap; the engine's budget is a quarter of it.
    oom = (
        Case("out of memory", "tutorial_cnn", 40, "full", headroom=512 * MIB, engine_max_memory="128MiB")
        if quick
        else Case("out of memory", "tutorial_cnn", 100, "full", headroom=1 * GIB, engine_max_memory="256MiB")
    )
    return [
        Case("issue bar", "small_cnn", n, "full"),
        Case("trace", "small_cnn", n, "trace"),
        Case("timm resnet", "timm_test_resnet", n, "trace"),
        oom,
    ]


# --------------------------------------------------------------------------- the tutorial recipe


def make_fnet_single(net: nn.Module) -> Callable[[Mapping[str, Tensor], Tensor], Tensor]:
    """The tutorial's ``fnet_single``: the model as a function of (params, one sample)."""

    def fnet_single(params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(net, params, (x.unsqueeze(0),)).squeeze(0)

    return fnet_single


def empirical_ntk_jacobian_contraction(
    fnet_single: Callable[[Mapping[str, Tensor], Tensor], Tensor],
    params: Mapping[str, Tensor],
    x1: Tensor,
    x2: Tensor,
    compute: str = "full",
) -> Tensor:
    """The tutorial's method 1, unchanged in substance (its 'diagonal' option is not needed)."""
    # Compute J(x1)
    jac1 = vmap(jacrev(fnet_single), (None, 0))(params, x1)
    jac1 = [j.flatten(2) for j in jac1.values()]  # each (N, C, P_t)
    # Compute J(x2): the tutorial does this even when x2 is x1
    jac2 = vmap(jacrev(fnet_single), (None, 0))(params, x2)
    jac2 = [j.flatten(2) for j in jac2.values()]
    einsum_expr = {"full": "Naf,Mbf->NMab", "trace": "Naf,Maf->NM"}[compute]
    result = torch.stack([torch.einsum(einsum_expr, j1, j2) for j1, j2 in zip(jac1, jac2)])
    return result.sum(0)


# --------------------------------------------------------------------------------------- worker


def cap_address_space(headroom: int) -> None:
    """Let the address space grow by at most ``headroom`` bytes from now (soft limit only, so the
    next timed call can set its own)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (status_bytes("VmSize") + headroom, hard))


def kernel_function(method: str, net: nn.Module, mode: str, max_memory: str | None) -> Callable[[Tensor], Tensor]:
    """The call to time: inputs (N, 3, 32, 32) to the kernel, by the recipe or by entk-probe."""
    if method == "recipe":
        # As the tutorial prepares them once, outside the NTK call.
        fnet_single = make_fnet_single(net)
        params = {k: v.detach() for k, v in net.named_parameters()}
        return lambda x: empirical_ntk_jacobian_contraction(fnet_single, params, x, x, mode)
    from entk_probe import compute_entk

    return lambda x: compute_entk(net, x, mode=mode, device="cpu", max_memory=max_memory)


def run_worker(args: argparse.Namespace) -> None:
    """One measurement; prints a JSON line {seconds, peak_bytes, others} and saves the kernel.

    ``others`` is the share of the machine's CPU time other processes used during the fastest call.
    """
    torch.set_num_threads(THREADS)
    data = torch.load(args.data)
    net = MODELS[data["model"]]()
    net.load_state_dict(data["state_dict"])
    net.eval()  # BatchNorm with running statistics: the eNTK's definition (the engine does this too)
    inputs: Tensor = data["inputs"]
    compute = kernel_function(args.method, net, args.mode, args.max_memory)
    compute(inputs[:WARMUP_SAMPLES])
    calls: list[tuple[float, float]] = []  # (seconds, others' CPU share)
    peaks: list[int] = []
    for _ in range(args.repeats):
        kernel = None  # the previous kernel is not part of this call's memory
        trim_heap()
        if args.headroom is not None:
            cap_address_space(args.headroom)
        reset_peak_rss()
        before = status_bytes("VmHWM")
        busy, own = busy_cpu_seconds()
        started = time.perf_counter()
        kernel = compute(inputs)
        wall = time.perf_counter() - started
        peaks.append(status_bytes("VmHWM") - before)
        busy_after, own_after = busy_cpu_seconds()
        others = max(0.0, (busy_after - busy) - (own_after - own)) / (wall * (os.cpu_count() or 1))
        calls.append((wall, others))
    torch.save(kernel, args.out)
    wall, others = min(calls)
    print(json.dumps({"seconds": wall, "peak_bytes": max(peaks), "others": others}))


# --------------------------------------------------------------------------------------- parent


@dataclass(frozen=True)
class Outcome:
    """What measurement subprocesses gave: numbers and a kernel file, or how one failed."""

    seconds: float | None = None
    peak_bytes: int | None = None
    others: float | None = None  # share of the machine's CPU time other processes used meanwhile
    kernel: Path | None = None
    failure: str | None = None


def prepare_case(case: Case, workdir: Path) -> Path:
    """Build the case's model and probe once, seeded, and save them for every measurement."""
    torch.manual_seed(SEED)
    net = MODELS[case.model]()
    inputs = torch.randn(case.n, 3, 32, 32)
    path = workdir / f"{case.model}-{case.n}.pt"
    torch.save({"model": case.model, "state_dict": net.state_dict(), "inputs": inputs}, path)
    return path


def measure(case: Case, method: str, data: Path, out: Path, repeats: int, capped: bool) -> Outcome:
    """Run one (case, method) measurement in its own Python process; its kernel goes to ``out``."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, "--data", str(data),
           "--mode", case.mode, "--out", str(out), "--repeats", str(repeats)]
    if capped and case.headroom is not None:
        cmd += ["--headroom", str(case.headroom)]
    if method == "engine" and case.engine_max_memory is not None:
        cmd += ["--max-memory", case.engine_max_memory]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return Outcome(failure=describe_failure(proc))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return Outcome(result["seconds"], result["peak_bytes"], result["others"], out)


def best(outcomes: list[Outcome]) -> Outcome:
    """The fastest run (its time, kernel and others' share) with the largest peak; or a failure."""
    failed = [o for o in outcomes if o.failure is not None]
    if failed:
        return failed[0]
    fastest = min(outcomes, key=lambda o: o.seconds or 0.0)
    return replace(fastest, peak_bytes=max(o.peak_bytes or 0 for o in outcomes))


def measure_both(case: Case, data: Path, workdir: Path, rounds: int, repeats: int) -> dict[str, Outcome]:
    """Recipe and engine, alternating for ``rounds`` rounds, both under the case's cap if it has one."""
    runs: dict[str, list[Outcome]] = {"recipe": [], "engine": []}
    for r in range(rounds):
        for method, outcomes in runs.items():
            outcomes.append(measure(case, method, data, workdir / f"{data.stem}-{method}-{r}.pt", repeats, True))
    return {method: best(outcomes) for method, outcomes in runs.items()}


def relative_difference(engine: Path, reference: Path) -> float:
    """max |K_engine - K_ref| / max |K_ref|, in float64 (the recipe's kernel is float32)."""
    return rel_diff(torch.load(engine), torch.load(reference))


def num_params(model: str) -> int:
    return sum(p.numel() for p in MODELS[model]().parameters())


HEADER = (
    "| case | model (params) | N | mode | recipe | entk-probe | recipe / entk-probe "
    "| recipe peak ΔRSS | entk-probe peak ΔRSS | max rel. diff |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def cap_notes(case: Case, recipe: Outcome, engine: Outcome, reference: Outcome) -> list[str]:
    """What happened under the address-space cap, for below the table."""
    free_run = reference.failure or f"{fmt_s(reference.seconds)}, peak ΔRSS {fmt_mib(reference.peak_bytes)}"
    return [
        f"- {case.name}: RLIMIT_AS = address space before the timed call + {fmt_mib(case.headroom)}; "
        f"entk-probe max_memory={case.engine_max_memory}; one timed call each.",
        f"  - recipe under the cap: {recipe.failure or 'completed (no out-of-memory)'}",
        f"  - entk-probe under the cap: {engine.failure or 'completed'}",
        f"  - recipe without the cap (reference for the accuracy column): {free_run}",
    ]


def run_case(case: Case, workdir: Path, rounds: int, repeats: int) -> tuple[str, list[str]]:
    """Measure one case; returns its table row and notes for below the table."""
    data = prepare_case(case, workdir)
    if case.headroom is not None:
        # The case is about memory; the engine's run under a small budget recomputes Jacobians
        # per parameter group and is slow by design, so it is timed once.
        rounds, repeats = 1, 1
    results = measure_both(case, data, workdir, rounds, repeats)
    recipe, engine = results["recipe"], results["engine"]
    notes = [f"- {case.name}: other processes' share of the CPUs during the fastest call: "
             f"recipe {fmt_share(recipe.others)}, entk-probe {fmt_share(engine.others)}"]
    reference = recipe
    if case.headroom is not None:
        reference = measure(case, "recipe", data, workdir / f"{data.stem}-reference.pt", 1, capped=False)
        notes += cap_notes(case, recipe, engine, reference)
    else:
        notes += [f"- {case.name}: {label} failed: {o.failure}"
                  for label, o in (("recipe", recipe), ("entk-probe", engine)) if o.failure]
    capped_out = recipe.failure is not None and case.headroom is not None
    ratio = (f"{recipe.seconds / engine.seconds:.2f}x"
             if recipe.seconds is not None and engine.seconds is not None else "n/a")
    diff = (f"{relative_difference(engine.kernel, reference.kernel):.1e}"
            if engine.kernel is not None and reference.kernel is not None else "n/a")
    row = (
        f"| {case.name} | {case.model} ({num_params(case.model):,}) | {case.n} | {case.mode} "
        f"| {'out of memory' if capped_out else fmt_s(recipe.seconds)} | {fmt_s(engine.seconds)} "
        f"| {ratio} | {fmt_mib(recipe.peak_bytes)} | {fmt_mib(engine.peak_bytes)} | {diff} |"
    )
    return row, notes


def run_benchmark(quick: bool, rounds: int, repeats: int) -> None:
    rows: list[str] = []
    notes: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_entk-") as tmp:
        for case in make_cases(quick):
            row, case_notes = run_case(case, Path(tmp), rounds, repeats)
            print(row, file=sys.stderr, flush=True)  # progress while the rest runs
            rows.append(row)
            notes.extend(case_notes)
    print(f"torch {torch.__version__}, {THREADS} threads, float32, cpu; best of {rounds} round(s) x "
          f"{repeats} timed call(s) after a warm-up on {WARMUP_SAMPLES} samples; "
          f"total {time.perf_counter() - started:.0f} s\n")
    print(HEADER)
    print("\n".join(rows))
    print()
    print("\n".join(notes))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller probes, one round: a smoke run of about a minute")
    parser.add_argument("--rounds", type=int, default=None, help="alternating subprocess rounds (default 2, quick 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls a subprocess (default 2, quick 1)")
    # The worker side, used by the parent's subprocesses.
    parser.add_argument("--worker", choices=("recipe", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--headroom", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-memory", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        args.method = args.worker
        run_worker(args)
        return
    default = 1 if args.quick else 2
    run_benchmark(args.quick, args.rounds or default, args.repeats or default)


if __name__ == "__main__":
    main()
