"""How close the run estimate is: ``engine.estimate`` against measured kernels.

For each case the plan is made (``plan_entk``), the kernel estimated (``estimate_kernel``) and
then computed once (``compute_entk_result``, one warm-up on 2 samples first); the table gives the
estimated and measured seconds and peak memory (the process's peak RSS increase over the RSS
before the call, heap trimmed first) and their ratios. Everything runs in this one process on the
CPU with two threads, the cases one after the other, so other load on the machine shows up in the
"others' CPU" column and makes the measured times longer.

Usage: ``python benchmarks/bench_estimate.py [--quick]`` (quick: the cases under ~2 s each).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_networks import MODELS, SEED, probe_inputs  # noqa: E402
from measure import MIB, busy_cpu_seconds, reset_peak_rss, status_bytes, trim_heap  # noqa: E402

from entk_probe.engine import estimate  # noqa: E402
from entk_probe.engine.kernel import compute_entk_result, plan_entk  # noqa: E402

# (model, N, mode, paths, gram dtype); the last ones take tens of seconds each
CASES = [
    ("small_cnn", 100, "trace", "auto", None),
    ("pool_cnn", 100, "full", "auto", None),
    ("mlp", 200, "trace", "auto", None),
    ("test_resnet", 100, "trace", "auto", None),
    ("test_resnet", 100, "trace", "jacobian", torch.float64),
    ("resnet18", 100, "pntk", "auto", None),
    ("resnet18", 500, "trace", "auto", None),
    ("resnet18", 500, "trace", "auto", torch.float64),
    ("resnet18", 200, "trace", "jacobian", None),  # first held out; JACOBIAN_GRAM_EFFICIENCY was lowered for it
    # held out: not used to choose the shares in engine/estimate.py
    ("vgg16_bn", 100, "trace", "auto", None),
    ("test_resnet", 50, "full", "auto", None),
    ("pool_cnn", 200, "trace", "per-sample", None),
]
FITTED = 9  # the first cases, to which the shares were fitted
QUICK = 4


def measure(name: str, n: int, mode: str, paths: str, gram: torch.dtype | None) -> dict[str, float]:
    torch.manual_seed(SEED)
    model = MODELS[name]().eval()
    x, _ = probe_inputs(n)
    kwargs = dict(mode=mode, device="cpu", paths=paths, gram_dtype=gram)
    plan = plan_entk(model, x, **kwargs)
    products = gram or torch.float32
    resident = sum(p.numel() * p.element_size() for p in model.parameters()) + x.numel() * x.element_size()
    est = estimate.estimate_kernel(plan, estimate.pass_flops(model, x[0]), estimate.gemm_rate("cpu", products),
                                   estimate.gemm_rate("cpu", torch.float32), resident)
    compute_entk_result(model, x[:2], **kwargs)  # warm-up
    trim_heap()
    before = status_bytes("VmRSS")
    reset_peak_rss()
    busy0, own0 = busy_cpu_seconds()
    started = time.perf_counter()
    compute_entk_result(model, x, **kwargs)
    seconds = time.perf_counter() - started
    busy1, own1 = busy_cpu_seconds()
    peak = status_bytes("VmHWM") - before
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(seconds * 2, 1e-9)
    return {"est_s": est.seconds, "s": seconds, "est_peak": est.peak_bytes, "peak": peak, "others": others,
            "gflops": est.flops / 1e9, "rate": est.rate / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    shares = ", ".join(f"{k} = {getattr(estimate, k)}" for k in (
        "GRAM_EFFICIENCY", "JACOBIAN_GRAM_EFFICIENCY", "PASS_EFFICIENCY", "SECONDS_A_LAYER", "SECONDS_A_KERNEL"))
    print(f"{shares}; torch {torch.__version__}; 2 threads")
    print("| case | GFLOP | GEMM rate | est. s | measured s | est/measured | est. peak | measured ΔRSS | est/measured | others' CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for index, case in enumerate(CASES[:QUICK] if args.quick else CASES):
        name, n, mode, paths, gram = case
        r = measure(*case)
        label = f"{name} N={n} {mode}" + ("" if paths == "auto" else f" paths={paths}") + (
            "" if gram is None else f" {str(gram).removeprefix('torch.')} products") + ("" if index < FITTED else " (held out)")
        print(f"| {label} | {r['gflops']:,.1f} | {r['rate']:.0f} GFLOP/s | {r['est_s']:.2f} | {r['s']:.2f} | "
              f"{r['est_s'] / r['s']:.2f} | {r['est_peak'] / MIB:,.0f} MiB | {r['peak'] / MIB:,.0f} MiB | "
              f"{r['est_peak'] / max(r['peak'], 1):.2f} | {100 * r['others']:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
