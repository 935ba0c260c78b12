"""The phase rule of this version applied to saved JSON reports, beside the verdict they were made with.

    python docs/experiments/reclassify_runs.py docs/experiments/results/*.json

The verdict reads only the centred pairwise angles and the checkpoint times, both in every
report, so this gives exactly what `entk-probe analyze` would say today without recomputing a
kernel (the learning rate is not in reports before schema 1.5, so the slopes are against time).
Prints a markdown table: the saved verdict and boundary, today's verdict, boundary and rule, both
boundaries, the angle from the first kernel at the boundary and its plateau's level, and both
cone-width measures (Phase II diameter / Phase I travel; half-angle / angle from the first kernel
to the axis, today's) with the drift ratio. Probe resamples need the kernels: see
boundary_evidence.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from entk_probe.analysis.phases import classify


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def main(paths: list[str]) -> None:
    print("| run | saved verdict (boundary) | verdict | boundary (rule) | corner | plateau | ∠ from the first kernel at "
          "the boundary → plateau level ° | diameter / travel | half-angle / init-to-axis ° | ratio | drift ratio |")
    print("| --- | --- | --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: |")
    for path in paths:
        report = json.loads(Path(path).read_text())
        angle = np.array(report["pairwise"]["angle_centered_deg"], dtype=float)
        times = [c["time"] for c in report["checkpoints"]]
        saved = report["phases"]
        saved_at = fmt(saved["boundary"]["time"], ".3g") if saved["boundary"] else "—"
        now = classify(angle, times)
        ev = now.evidence
        at = f"{fmt(times[now.boundary], '.3g')} ({now.boundary_rule})" if now.boundary is not None else "—"
        travel, diameter = ev.get("phase1_travel_deg"), ev.get("phase2_diameter_deg")
        half, init = ev.get("phase2_half_angle_deg"), ev.get("init_to_axis_deg")
        print(f"| {Path(path).stem} | {saved['verdict']} ({saved_at}) | {now.verdict} | {at} "
              f"| {fmt(ev.get('corner_boundary_time'), '.3g')} | {fmt(ev.get('plateau_boundary_time'), '.3g')} "
              f"| {fmt(travel, '.1f')} → {fmt(ev.get('plateau_level_deg'), '.1f')} "
              f"| {fmt(diameter / travel if travel else None)} "
              f"| {fmt(half, '.1f')} / {fmt(init, '.1f')} | {fmt(half / init if init else None)} "
              f"| {fmt(ev.get('phase2_drift_ratio'))} |")


if __name__ == "__main__":
    main(sys.argv[1:])
