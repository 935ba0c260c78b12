"""Issue 20's evidence: the phase call of real runs on three probe samples each, with its confidence.

Reads the kernels that ``issue20_runs.sh`` saved (``dump_kernels.py``: trace kernels, times, steps,
the learning rate each checkpoint recorded, labels) and runs the analysis's own summary on them:
the boundary and its rule, the verdict as reported (``uncertain`` where fewer than 0.8 of 200
probe resamples agree), how sure it is, and the angle from the first kernel around the boundary
(so that "the end of the initial rise" can be checked by eye). A run saved on cifar10:300 is split
into three disjoint class-balanced samples of 100; otherwise RUN_s0, RUN_s1, RUN_s2 are three
random samples (cifar10:100 with seed 0, 1, 2). Prints a markdown table.

    python docs/experiments/boundary_evidence.py r20cos_s cnx_oc_s ts_oc_s > docs/experiments/boundary_evidence.md
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from entk_probe.analysis.flowtime import flow_time
from entk_probe.analysis.summary import summarize

KERNELS = Path(os.environ.get("KERNELS", "/tmp/entk-kernels"))


def _samples(name: str) -> list[tuple[str, dict[str, np.ndarray], np.ndarray]]:
    """(label, the run's arrays, probe indices) for each of the run's three probe samples."""
    whole = KERNELS / f"{name}.npz"
    if whole.exists():
        z = dict(np.load(whole))
        parts: list[list[int]] = [[], [], []]
        for c in np.unique(z["labels"]):
            for p, chunk in enumerate(np.array_split(np.flatnonzero(z["labels"] == c), 3)):
                parts[p].extend(int(i) for i in chunk)
        return [(f"part {p} of 300", z, np.sort(idx)) for p, idx in enumerate(parts)]
    out = []
    for seed in range(3):
        path = KERNELS / f"{name}_s{seed}.npz"
        if path.exists():
            z = dict(np.load(path))
            out.append((f"seed {seed}", z, np.arange(len(z["labels"]))))
    return out


def _row(name: str, label: str, z: dict[str, np.ndarray], idx: np.ndarray) -> str:
    kernels = [torch.from_numpy(k[np.ix_(idx, idx)]) for k in z["kernels"]]  # T x (n, n)
    times = [float(t) for t in z["times"]]
    flow = flow_time(times, z["lrs"]) if np.all(np.isfinite(z["lrs"])) else None
    s = summarize(kernels, times, num_classes=10, labels=torch.from_numpy(z["labels"][idx]), resamples=200,
                  time_unit="epoch", flow=flow)
    ph, conf = s.phases, s.confidence
    d = s.centered_angle[0]
    b = ph.boundary
    if b is None:
        where = "—"
    else:
        before = f"{d[b - 1]:.0f}" if b > 0 else "—"
        later = float(np.median(d[b + 1 :]))
        peak_lr = float(np.max(z["lrs"]))
        where = (f"{times[b]:.3g} ({ph.boundary_rule}) | {before} → {d[b]:.0f}, later median {later:.0f} "
                 f"| {z['lrs'][b] / peak_lr:.2f}")
    share = f"{conf.verdict_share:.2f}" if conf is not None else "—"
    spread = (f"{conf.boundary.p5:.3g}-{conf.boundary.p95:.3g}" if conf is not None and conf.boundary.placed_share > 0
              else "—")
    subsets = ", ".join(sub.verdict for sub in conf.every_other) if conf is not None else "—"
    ev = ph.evidence
    ratio = ev.get("phase2_half_angle_deg", np.nan) / ev.get("init_to_axis_deg", np.nan)
    return (f"| {name} | {label} | {where} | {ph.verdict} | {share} | {spread} | {subsets} "
            f"| {ratio:.2f} | {ev.get('phase2_drift_ratio', np.nan):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    print("| run | probe sample | boundary, epoch (rule) | ∠ from the first kernel: the checkpoint before → the boundary, "
          "later median ° | lr at the boundary / peak | verdict | point verdict's share of 200 resamples "
          "| resamples' boundary (5-95%) | every other checkpoint | half-angle / init-to-axis | drift ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | ---: | ---: |")
    for name in args.runs:
        for label, z, idx in _samples(name):
            print(_row(name, label, z, idx), flush=True)


if __name__ == "__main__":
    main()
