"""Tables for docs/phases.md from the JSON reports of the evidence runs.

    python docs/experiments/summarize_runs.py docs/experiments/results/*.json

Prints three markdown tables: the verdict and the numbers behind it; centred against uncentred
motion; and how each principal-angle statistic behaves (share of steps above 80 degrees, Spearman
correlation with the kernel's own step angle).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def main(paths: list[str]) -> None:
    reports = [(Path(p).stem, json.loads(Path(p).read_text())) for p in paths]
    print("| run | checkpoints | verdict | boundary (epoch) | Phase I travel ° | rate ratio | Phase II diameter ° "
          "| diameter / travel | drift ratio | cone width ° (mean angle) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in reports:
        ev, ph = r["phases"]["evidence"], r["phases"]
        travel = ev.get("phase1_travel_deg")
        width = ev.get("phase2_diameter_deg")
        ratio = width / travel if travel and width is not None else None
        boundary = ph["boundary"]["epoch"] if ph["boundary"] else None
        cone = r["cone"]["width_deg"] if r["cone"] else None
        print(f"| {name} | {len(r['checkpoints'])} | {ph['verdict']} | {fmt(boundary, '.3g')} | {fmt(travel, '.1f')} | "
              f"{fmt(ev.get('velocity_ratio'), '.3f')} | {fmt(width, '.1f')} | {fmt(ratio)} | {fmt(ev.get('phase2_drift_ratio'))} | {fmt(cone, '.1f')} |")
    print()
    print("| run | largest angle from init, uncentred ° | centred ° | final angle from init, uncentred ° | centred ° |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in reports:
        m = [c["metrics"] for c in r["checkpoints"]]
        print(f"| {name} | {max(x['angle_from_first_deg'] for x in m):.1f} | {max(x['centered_angle_from_first_deg'] for x in m):.1f} | "
              f"{m[-1]['angle_from_first_deg']:.1f} | {m[-1]['centered_angle_from_first_deg']:.1f} |")
    print()
    print("| run | statistic | steps above 80° | median ° | Spearman ρ with the centred step angle |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, r in reports:
        angle = np.array(r["pairwise"]["angle_centered_deg"], dtype=float)
        steps = [angle[i, i + 1] for i in range(len(angle) - 1)]
        for stat in ("largest", "mean", "rms"):
            values = [c["metrics"]["subspace_to_next"][stat] for c in r["checkpoints"][:-1]]
            rho = spearmanr(values, steps).correlation
            print(f"| {name} | {stat} | {np.mean(np.array(values) > 80):.0%} | {np.median(values):.1f} | {rho:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
