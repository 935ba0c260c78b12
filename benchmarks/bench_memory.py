"""Peak memory and time of the analysis of T kernels: every kernel in a list vs the on-disk store.

Writes T synthetic full-mode kernels (N, N, C, C) float64 of a drifting trajectory to a folder
(safetensors, as the kernel cache holds them), then, one fresh subprocess per case, runs
``summarize`` over them and reports the process's peak RSS (VmHWM) and the time:

- ``list``: the kernels loaded into a list first, as the job kept them before issue 15. With
  ``--old-tree DIR`` (a checkout of the package before the change, e.g. ``git archive ecf724d
  entk_probe | tar -x -C DIR``) the old ``summarize`` runs on it: the old path exactly.
- ``store``: a ``DiskKernels`` store reading the same files, ``max_memory`` = ``--budget``.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_memory.py --counts 20 100 \\
        --n 300 --c 5 --budget 400MB --old-tree /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file


def write_kernels(folder: Path, count: int, n: int, c: int, rank: int = 40) -> list[Path]:
    """``count`` kernels (N, N, C, C) of features drifting step by step, fast first then slow."""
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(n * c, rank, generator=gen, dtype=torch.float64)  # (NC, r)
    paths = []
    for i in range(count):
        step = 0.3 if i < count // 4 else 0.03  # a fast phase, then a slow one: near and far pairs
        f = f + step * torch.randn(n * c, rank, generator=gen, dtype=torch.float64)
        kernel = (f @ f.T).reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous()  # (N, N, C, C)
        path = folder / f"{i}.safetensors"
        save_file({"kernel": kernel}, str(path))
        paths.append(path)
    return paths


def _peak_rss() -> int:
    """The process's peak resident set (VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_case(mode: str, paths: list[Path], budget: str, c: int) -> dict[str, object]:
    """One case in this process: summarize over a list or a store; peak RSS, seconds, verdict."""
    from safetensors.torch import load_file

    from entk_probe.analysis.summary import summarize

    times = [float(i) for i in range(len(paths))]
    start = time.perf_counter()
    if mode == "list":
        kernels = [load_file(str(p))["kernel"] for p in paths]
        summary = summarize(kernels, times, num_classes=c)
    else:
        from entk_probe.engine.memory import parse_bytes
        from entk_probe.pipeline.kernelstore import DiskKernels

        store = DiskKernels()
        for p in paths:  # the files as the store's own (no sha256 check: these are no cache entries)
            store._items.append((p, None))
        summary = summarize(store, times, num_classes=c, max_memory=parse_bytes(budget))
    seconds = time.perf_counter() - start
    return {"mode": mode, "count": len(paths), "peak_rss": _peak_rss(), "seconds": seconds,
            "verdict": summary.phases.verdict, "angle_0_last": float(summary.centered_angle[0, -1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--c", type=int, default=5)
    parser.add_argument("--budget", default="400MB")
    parser.add_argument("--old-tree", type=Path, help="a checkout of the package before issue 15, for the list case")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: mode,count,folder
    args = parser.parse_args()
    if args.case:
        mode, count, folder = args.case.split(",", 2)
        paths = [Path(folder) / f"{i}.safetensors" for i in range(int(count))]
        print(json.dumps(run_case(mode, paths, args.budget, args.c)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        t0 = time.perf_counter()
        write_kernels(Path(tmp), max(args.counts), args.n, args.c)
        kernel_mb = (args.n * args.c) ** 2 * 8 / 1e6
        print(f"wrote {max(args.counts)} kernels of {kernel_mb:.1f} MB ((N, N, C, C) = ({args.n}, {args.n}, {args.c}, "
              f"{args.c}) float64) in {time.perf_counter() - t0:.0f} s", flush=True)
        print("| case | T | kernels | peak RSS | time | verdict | centred angle(0, T-1) |")
        print("|---|---|---|---|---|---|---|")
        for count in args.counts:
            for mode in ("list", "store"):
                env = dict(os.environ)
                if mode == "list" and args.old_tree is not None:
                    env["PYTHONPATH"] = str(args.old_tree)
                out = subprocess.run([sys.executable, __file__, "--case", f"{mode},{count},{tmp}", "--budget", args.budget,
                                      "--c", str(args.c)], env=env, capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                what = "list (old code)" if mode == "list" and args.old_tree else (
                    "list" if mode == "list" else f"store, --max-memory {args.budget}")
                print(f"| {what} | {count} | {count * kernel_mb / 1000:.2f} GB | {r['peak_rss'] / 2**30:.2f} GiB | "
                      f"{r['seconds']:.0f} s | {r['verdict']} | {r['angle_0_last']:.12f} |", flush=True)


if __name__ == "__main__":
    main()
