"""Evidence for the phase rule: synthetic trajectories with a known answer (entk_probe.analysis.trajectories).

Every kind (cone, frozen, drift, single phase, lazy) under six conditions (no noise; 0.3
degrees of noise a kernel; the same with Phase II steps decaying by 0.85 a step, as under a
decaying learning rate; 1 degree of noise with decay; and planted transients with 0.3 degrees of
noise: a Phase I checkpoint 1, 3 or 4 steps before the boundary swung 20 or 40 degrees out of
the path, the next one back on it), five seeds each. Prints a markdown table: how often the verdict is right, the largest
boundary error in checkpoints of the verdict's boundary (``phases.place_boundary``: the speed
boundary where the speed falls, else the corner), of the displacement corner alone and of the
speed boundary alone, and the range of the statistics the verdict reads.

    python docs/experiments/synthetic_phases.py > docs/experiments/synthetic_phases.md
"""

from __future__ import annotations

import numpy as np

from entk_probe.analysis.dynamics import pairwise
from entk_probe.analysis.phases import classify, find_boundary
from entk_probe.analysis.speed import speed_boundary
from entk_probe.analysis.trajectories import make_trajectory

EXPECTED = {"cone": "two-phase-cone", "frozen": "two-phase-frozen", "drift": "no-cone", "single": "single-phase", "lazy": "lazy"}
# (noise °, decay, transient °, transient steps before the boundary)
CONDITIONS = [(0.0, 1.0, 0.0, 1), (0.3, 1.0, 0.0, 1), (0.3, 0.85, 0.0, 1), (1.0, 0.85, 0.0, 1), (0.3, 1.0, 20.0, 1),
              (0.3, 1.0, 40.0, 1), (0.3, 1.0, 40.0, 3), (0.3, 1.0, 40.0, 4)]
SEEDS = range(5)


def span(values: list[float]) -> str:
    finite = [v for v in values if np.isfinite(v)]
    return f"{min(finite):.2f} to {max(finite):.2f}" if finite else "—"


def main() -> None:
    print("| planted | noise ° | decay | transient ° (steps before the boundary) | right verdicts | boundary error (checkpoints) "
          "| corner error | speed boundary error | velocity ratio | Phase II diameter / Phase I travel "
          "| half-angle / init-to-axis | drift ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    for kind, verdict in EXPECTED.items():
        for noise, decay, transient, at in CONDITIONS:
            if transient and kind in ("single", "lazy"):
                continue
            right, errors, corner_errors, speed_errors, ratios, widths, halves, drifts = 0, [], [], [], [], [], [], []
            for seed in SEEDS:
                tr = make_trajectory(kind, noise_deg=noise, decay=decay, transient_deg=transient, transient_at=at,
                                     seed=seed)
                _, angle = pairwise(tr.kernels)
                result = classify(angle, tr.times)
                right += result.verdict == verdict
                if tr.boundary is not None and result.boundary is not None:
                    errors.append(abs(result.boundary - tr.boundary))
                speed = speed_boundary(angle, np.array(tr.times))
                corner = find_boundary(angle[0], np.array(tr.times), 2, 4)
                if tr.boundary is not None and corner is not None:
                    corner_errors.append(abs(corner[0] - tr.boundary))
                if tr.boundary is not None:
                    speed_errors.append(abs(speed.index - tr.boundary) if speed.index is not None else "none")
                ev = result.evidence
                ratios.append(ev.get("velocity_ratio", np.nan))
                travel = ev.get("phase1_travel_deg", np.nan)
                widths.append(ev.get("phase2_diameter_deg", np.nan) / travel if travel else np.nan)
                drifts.append(ev.get("phase2_drift_ratio", np.nan))
                halves.append(ev.get("phase2_half_angle_deg", np.nan) / ev.get("init_to_axis_deg", np.nan))
            error = str(max(errors)) if errors else "—"
            numeric = [e for e in speed_errors if e != "none"]
            speed = (str(max(numeric)) if numeric else "—") + (f" ({speed_errors.count('none')} none)" if "none" in speed_errors else "")
            shown = f"{transient:g} ({at})" if transient else "0"
            corner_error = str(max(corner_errors)) if corner_errors else "—"
            print(f"| {kind} | {noise} | {decay} | {shown} | {right}/{len(SEEDS)} | {error} | {corner_error} | {speed} "
                  f"| {span(ratios)} | {span(widths)} | {span(halves)} | {span(drifts)} |")


if __name__ == "__main__":
    main()
