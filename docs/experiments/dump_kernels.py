"""Compute (or read from the cache) the trace kernels of a run on a probe and save them with the times.

Issue 20's evidence: each run's kernels on one larger probe (cifar10:300), from which the probe
resamples of docs/phases.md are taken as rows and columns, so that three "random probe samples"
cost no new kernel. Writes OUT.npz with kernels (T, N, N) float64, times (T,), steps (T,),
lrs (T,) (the checkpoints' recorded learning rate, NaN where absent), labels (N,).

    python docs/experiments/dump_kernels.py /tmp/entk-probe-runs/r20cos_d /tmp/entk-kernels/r20cos_d.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from safetensors import safe_open

import entk_probe
from entk_probe import AnalyzeOptions

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--probe", default="cifar10:300", help="probe spec, e.g. cifar10:100,seed=1")
    args = parser.parse_args()
    analysis = entk_probe.analyze(args.run, args.probe, AnalyzeOptions(data_root=DATA, plugins=[PLUGINS], device="cpu"))
    runs = [analysis.runs[i] for i in analysis.included]
    kernels = np.stack([analysis.kernels[i].numpy() for i in range(len(analysis.kernels))])
    lrs = []
    for r in runs:
        with safe_open(str(r.checkpoint.path), "pt") as f:
            lrs.append(float((f.metadata() or {}).get("lr", "nan")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, kernels=kernels, times=np.array([r.time for r in runs], dtype=float),
             steps=np.array([r.checkpoint.step if r.checkpoint.step is not None else -1 for r in runs]),
             lrs=np.array(lrs), labels=analysis.probe.labels.numpy())
    print(f"{args.out}: {kernels.shape}, verdict {analysis.summary.phases.verdict}")


if __name__ == "__main__":
    main()
