"""GPU check, for a machine with a CUDA device: the GPU kernel equals the CPU kernel, and how fast.

For each case it computes the eNTK with float32 Jacobians on the GPU and on the CPU and prints
their largest relative difference (max |K_gpu - K_cpu| / max |K_cpu|, must be below 1e-6), the
GPU time, throughput in Jacobian rows per second (N x backward passes per sample) and in the
plan's Gram TFLOP/s, and the GPU's peak allocated memory against the budget. The per-layer
paths run on the GPU as on the CPU; one case forces the Jacobian path, one runs under a budget
far below the full Jacobian (parameter groups, capture passes), and the last times timm's
resnet18 at N=500 in full mode (issue 10), without a CPU reference.

    python benchmarks/gpu_check.py            # exits 1 on a mismatch, 2 when there is no GPU

The CPU reference of the larger cases takes a few minutes on 16 cores.
"""

from __future__ import annotations

import sys
import time

import timm
import torch
from torch import nn

from entk_probe import compute_entk_result

TOLERANCE = 1e-6


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def resnet18() -> nn.Module:
    return timm.create_model("resnet18", num_classes=10)


CASES = [
    # name, model factory, N, mode, budget (None: the default, half of free GPU memory), paths, CPU reference
    ("small CNN", small_cnn, 256, "full", None, "auto", True),
    ("timm test_resnet", lambda: timm.create_model("test_resnet", num_classes=10), 256, "trace", None, "auto", True),
    ("timm test_vit", lambda: timm.create_model("test_vit", num_classes=10, img_size=32), 256, "trace", None, "auto", True),
    ("timm resnet18", resnet18, 128, "pntk", None, "auto", True),
    ("timm resnet18, Jacobian path", resnet18, 64, "full", None, "jacobian", True),
    ("test_resnet, 256 MiB budget", lambda: timm.create_model("test_resnet", num_classes=10), 256, "trace", 256 * 2**20,
     "auto", True),
    # The issue-10 timing: no CPU reference at this size (minutes on 16 cores); the rows above check the same code.
    ("timm resnet18 N=500", resnet18, 500, "full", None, "auto", False),
]


def run_case(name: str, factory, n: int, mode: str, budget: int | None, paths: str, reference: bool) -> bool:
    torch.manual_seed(0)
    model = factory().eval()
    inputs = torch.randn(n, 3, 32, 32)
    compute_entk_result(model, inputs[:2], mode=mode, device="cuda", paths=paths)  # warm-up: CUDA context, kernels
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    gpu = compute_entk_result(model, inputs, mode=mode, device="cuda", max_memory=budget, paths=paths)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    error, cpu_seconds, ok = float("nan"), float("nan"), True
    if reference:
        started = time.perf_counter()
        cpu = compute_entk_result(model, inputs, mode=mode, device="cpu", max_memory=budget, paths=paths)
        cpu_seconds = time.perf_counter() - started
        error = float((gpu.kernel - cpu.kernel).abs().max() / cpu.kernel.abs().max())
        ok = error < TOLERANCE
    rows = n * gpu.plan.jacobian_rows
    flops = sum(layer.flops for layer in gpu.plan.layers)
    print(
        f"| {name} | {gpu.plan.num_params:,} | {n} | {mode} | {paths}: {gpu.plan.path_counts()} | {error:.2e} "
        f"| {'ok' if ok else 'MISMATCH'} | {gpu.seconds:.2f} | {rows / gpu.seconds:,.0f} | {flops / gpu.seconds / 1e12:.2f} "
        f"| {cpu_seconds:.1f} | {peak / 2**20:,.0f} | {gpu.plan.budget / 2**20:,.0f} |",
        flush=True,
    )
    return ok


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing was checked", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, timm {timm.__version__}")
    print("\n| case | params | N | mode | paths: layers by path | rel. diff GPU/CPU | check | GPU s | Jacobian rows/s "
          "| plan TFLOP/s | CPU s | GPU peak MiB | budget MiB |")
    print("| --- | ---: | ---: | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    results = [run_case(*case) for case in CASES]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
