"""One process against two under torchrun: wall time of `entk-probe analyze` with every kernel to compute.

Each case runs the command line in a fresh process with an empty kernel cache (a new
``ENTK_PROBE_CACHE``), so every kernel is computed; cases alternate (A B A B ...) and the median
of each is reported with the ratio. One process gets all the machine's threads; under torchrun
each of K ranks gets threads / K (OMP_NUM_THREADS), so both use the same cores.

    python benchmarks/bench_torchrun.py RUN_DIR --probe cifar10:100 --data-root ../shared/data \\
        --plugins plugins --repeats 2

Prints a markdown table (seconds of each repeat, median, speed-up) and checks that the two
reports agree (verdict and boundary).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(ranks: int, args: argparse.Namespace, threads: int) -> tuple[float, dict]:
    """(wall seconds, JSON report) of one analysis on ``ranks`` processes, with a fresh kernel cache."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cli = ["-m", "entk_probe", "analyze", str(args.run), "--probe", args.probe, "--device", "cpu", "--json", str(out)]
        cli += ["--data-root", args.data_root] if args.data_root else []
        cli += ["--plugins", args.plugins] if args.plugins else []
        if ranks > 1:
            cli = ["-m", "torch.distributed.run", "--nproc-per-node", str(ranks), "--master-addr", "127.0.0.1",
                   "--master-port", str(29500 + int(time.time()) % 1000)] + cli
        env = {**os.environ, "ENTK_PROBE_CACHE": str(Path(tmp) / "cache"), "OMP_NUM_THREADS": str(max(1, threads // ranks))}
        started = time.perf_counter()
        subprocess.run([sys.executable, *cli], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started, json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--probe", default="cifar10:100")
    parser.add_argument("--data-root", default="")
    parser.add_argument("--plugins", default="")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    seconds: dict[int, list[float]] = {1: [], args.ranks: []}
    reports: dict[int, dict] = {}
    for _ in range(args.repeats):
        for ranks in (1, args.ranks):
            took, reports[ranks] = run_once(ranks, args, threads)
            seconds[ranks].append(took)
    single, shared = reports[1]["phases"], reports[args.ranks]["phases"]
    same = single["verdict"] == shared["verdict"] and single["boundary"] == shared["boundary"]
    kernels = len(reports[1]["checkpoints"])
    print(f"{args.run.name}, {kernels} kernels, probe {args.probe}, {threads} cores; reports agree: {same}\n")
    print("| processes | threads each | seconds (each repeat) | median | speed-up |")
    print("| ---: | ---: | --- | ---: | ---: |")
    base = statistics.median(seconds[1])
    for ranks, values in seconds.items():
        median = statistics.median(values)
        print(f"| {ranks} | {max(1, threads // ranks)} | {', '.join(f'{v:.1f}' for v in values)} | {median:.1f} "
              f"| {base / median:.2f}x |")


if __name__ == "__main__":
    main()
