"""Evidence for the phase rule: synthetic trajectories with a known answer (entk_probe.analysis.trajectories).

Every kind (cone, frozen, drift, single phase, lazy) under a constant learning rate with dense
early checkpoints (no noise; 0.3 degrees of noise a kernel; the same with Phase II steps decaying
by 0.85 a step; 1 degree of noise with decay; planted transients with 0.3 degrees of noise: a
Phase I checkpoint 1, 3 or 4 steps before the boundary swung 20 or 40 degrees out of the path,
the next one back on it), and under every learning-rate schedule (cosine, warm-up + cosine,
OneCycle, step decay at 75% of the run) with dense early checkpoints and with one an epoch
throughout (0.3 and 1 degree of noise, and a 40-degree transient 3 steps before the boundary),
five seeds each. Prints a markdown table: how often the verdict is right with the learning rate
known (gradient-flow time for the slopes) and without it (time), the largest boundary error in
checkpoints of the verdict's boundary (``phases.place_boundary``: the plateau boundary, else the
corner) and of the displacement corner alone, and the range of the statistics the verdict reads.

    python docs/experiments/synthetic_phases.py > docs/experiments/synthetic_phases.md
"""

from __future__ import annotations

import numpy as np

from entk_probe.analysis.dynamics import pairwise
from entk_probe.analysis.phases import classify, find_boundary
from entk_probe.analysis.trajectories import SCHEDULES, make_trajectory

EXPECTED = {"cone": "two-phase-cone", "frozen": "two-phase-frozen", "drift": "no-cone", "single": "single-phase", "lazy": "lazy"}
# (schedule, spacing, noise °, decay, transient °, transient steps before the boundary)
CONDITIONS = [("constant", "dense", *c) for c in [(0.0, 1.0, 0.0, 1), (0.3, 1.0, 0.0, 1), (0.3, 0.85, 0.0, 1),
                                                  (1.0, 0.85, 0.0, 1), (0.3, 1.0, 20.0, 1), (0.3, 1.0, 40.0, 1),
                                                  (0.3, 1.0, 40.0, 3), (0.3, 1.0, 40.0, 4)]]
CONDITIONS += [(schedule, spacing, *c) for schedule in SCHEDULES for spacing in ("dense", "even")
               for c in [(0.3, 1.0, 0.0, 1), (1.0, 1.0, 0.0, 1), (0.3, 1.0, 40.0, 3)]
               if (schedule, spacing) != ("constant", "dense")]
SEEDS = range(5)


def span(values: list[float]) -> str:
    finite = [v for v in values if np.isfinite(v)]
    return f"{min(finite):.2f} to {max(finite):.2f}" if finite else "—"


def main() -> None:
    print("| planted | schedule | spacing | noise ° | decay | transient ° (steps before the boundary) | right verdicts "
          "| right without the learning rate | boundary error (checkpoints) | corner error | velocity ratio "
          "| Phase II diameter / Phase I travel | half-angle / init-to-axis | drift ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    for kind, verdict in EXPECTED.items():
        for schedule, spacing, noise, decay, transient, at in CONDITIONS:
            if transient and kind in ("single", "lazy"):
                continue
            right, timed, errors, corner_errors, ratios, widths, halves, drifts = 0, 0, [], [], [], [], [], []
            for seed in SEEDS:
                tr = make_trajectory(kind, noise_deg=noise, decay=decay, transient_deg=transient, transient_at=at,
                                     schedule=schedule, spacing=spacing, seed=seed)
                _, angle = pairwise(tr.kernels)
                result = classify(angle, tr.times, flow=tr.flow)
                right += result.verdict == verdict
                timed += classify(angle, tr.times).verdict == verdict
                if tr.boundary is not None and result.boundary is not None:
                    errors.append(abs(result.boundary - tr.boundary))
                corner = find_boundary(angle[0], np.array(tr.times), 2, 4)
                if tr.boundary is not None and corner is not None:
                    corner_errors.append(abs(corner[0] - tr.boundary))
                ev = result.evidence
                ratios.append(ev.get("velocity_ratio", np.nan))
                travel = ev.get("phase1_travel_deg", np.nan)
                widths.append(ev.get("phase2_diameter_deg", np.nan) / travel if travel else np.nan)
                drifts.append(ev.get("phase2_drift_ratio", np.nan))
                halves.append(ev.get("phase2_half_angle_deg", np.nan) / ev.get("init_to_axis_deg", np.nan))
            error = str(max(errors)) if errors else "—"
            shown = f"{transient:g} ({at})" if transient else "0"
            corner_error = str(max(corner_errors)) if corner_errors else "—"
            print(f"| {kind} | {schedule} | {spacing} | {noise} | {decay} | {shown} | {right}/{len(SEEDS)} "
                  f"| {timed}/{len(SEEDS)} | {error} | {corner_error} | {span(ratios)} | {span(widths)} "
                  f"| {span(halves)} | {span(drifts)} |")


if __name__ == "__main__":
    main()
