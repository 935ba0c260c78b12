"""Many runs side by side: the ``compare`` report, one row and one set of curves a run.

Each row is read from a run's analysis report (any 1.x schema: a number an older report does not
carry is None) and, where one sits beside it, its switch report. The JSON has its own ``kind``
("compare"), ``schema_version`` and closed schema (``schema/compare.schema.json``, written by
scripts/make_schema.py). The numbers are the reports' own (docs/definitions.md defines them):

- ``phase1_travel_deg``, ``half_angle_deg``, ``axis_angle_deg``, ``drift_ratio``: the verdict's
  evidence (``phase1_travel_deg``, ``phase2_half_angle_deg``, ``init_to_axis_deg``,
  ``phase2_drift_ratio``);
- ``kernel_regression`` and ``accuracy``: the checkpoint metrics ``kernel_regression_accuracy`` and
  ``accuracy`` (the network's own on the probe) at the boundary checkpoint and the last one;
- ``switch_gap``: the switch report's standard minus linearised accuracy at its first switch point
  after the boundary (Fort et al.'s nonlinear advantage);
- curves: the angle from the first kernel (centred where the verdict used centred kernels) and the
  angular velocity (degrees per unit of time) at every analysed checkpoint.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError, warn

COMPARE_SCHEMA_VERSION = "1.0"
Report = Mapping[str, Any]


@dataclass(frozen=True)
class Compared:
    """One run to compare: its analysis report, a label, where it came from, and a switch report if any."""

    label: str
    source: str  # the run folder analysed, or the JSON report read
    report: Report
    switch: Report | None = None
    switch_source: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hyperparameters_source: str | None = None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _metric(report: Report, index: int | None, name: str) -> float | None:
    checkpoints = report.get("checkpoints") or []
    if index is None or not 0 <= index < len(checkpoints):
        return None
    return _number((checkpoints[index].get("metrics") or {}).get(name))


def _last_analysed(report: Report) -> int | None:
    analysed = [i for i, c in enumerate(report.get("checkpoints") or []) if c.get("metrics")]
    return analysed[-1] if analysed else None


def curves(report: Report) -> dict[str, list[Any]]:
    """Per analysed checkpoint: name, time, angle from the first kernel (the verdict's kernels) and velocity."""
    key = "centered_angle_from_first_deg" if (report.get("phases") or {}).get("kernels") == "centered" \
        else "angle_from_first_deg"
    rows = [c for c in report.get("checkpoints") or [] if c.get("metrics")]
    return {"checkpoints": [c["name"] for c in rows], "time": [_number(c.get("time")) for c in rows],
            "angle_from_first_deg": [_number(c["metrics"].get(key)) for c in rows],
            "velocity_deg": [_number(c["metrics"].get("angular_velocity_deg")) for c in rows]}


def switch_gap(switch: Report | None, boundary_time: float | None) -> dict[str, Any] | None:
    """Standard minus linearised accuracy at the switch report's first switch point after the boundary
    (its own boundary where it recorded one), else at its last switch point."""
    if switch is None:
        return None
    points: dict[float, dict[str, Any]] = {}
    for r in (switch.get("switch") or {}).get("results", []):
        points.setdefault(float(r["at_epoch"]), {"checkpoint": r["checkpoint"]})[r["kind"]] = r["accuracy"]
    complete = sorted(t for t, p in points.items() if "standard" in p and "linearized" in p)
    if not complete:
        return None
    recorded = (switch.get("switch") or {}).get("boundary")
    limit = _number(recorded.get("time")) if isinstance(recorded, Mapping) else boundary_time
    after = [t for t in complete if limit is not None and t > limit]
    at = after[0] if after else complete[-1]
    p = points[at]
    return {"at": at, "checkpoint": p["checkpoint"], "standard": p["standard"], "linearized": p["linearized"],
            "gap": p["standard"] - p["linearized"]}


def compare_row(run: Compared, by: str | None = None) -> dict[str, Any]:
    """The compare report's entry of one run (module docstring)."""
    report = run.report
    phases = report.get("phases") or {}
    evidence = phases.get("evidence") or {}
    boundary = phases.get("boundary")
    b = boundary.get("index") if isinstance(boundary, Mapping) else None
    end = _last_analysed(report)
    confidence = phases.get("confidence")
    cone = report.get("cone") or {}
    return {
        "label": run.label, "source": run.source, "report_schema_version": str(report.get("schema_version", "")),
        "hyperparameters": run.hyperparameters, "hyperparameters_source": run.hyperparameters_source,
        "by_value": run.hyperparameters.get(by) if by else None,
        "arch": (report.get("model") or {}).get("arch"), "probe": (report.get("probe") or {}).get("spec"),
        "mode": (report.get("kernel") or {}).get("mode"),
        "time_unit": report.get("time_unit"), "verdict": phases.get("verdict"),
        "point_verdict": None if not isinstance(confidence, Mapping) else confidence.get("point_verdict"),
        "confidence": None if not isinstance(confidence, Mapping) else _number(confidence.get("verdict_share")),
        "uncertain": None if not isinstance(confidence, Mapping) else bool(confidence.get("uncertain")),
        "boundary": None if not isinstance(boundary, Mapping) else {
            "checkpoint": boundary.get("checkpoint"), "time": _number(boundary.get("time")), "rule": boundary.get("rule")},
        "phase1_travel_deg": _number(evidence.get("phase1_travel_deg")),
        "half_angle_deg": _number(evidence.get("phase2_half_angle_deg")),
        "axis_angle_deg": _number(evidence.get("init_to_axis_deg", cone.get("init_to_axis_deg"))),
        "drift_ratio": _number(evidence.get("phase2_drift_ratio")),
        "kernel_regression": {"boundary": _metric(report, b, "kernel_regression_accuracy"),
                              "end": _metric(report, end, "kernel_regression_accuracy")},
        "accuracy": {"boundary": _metric(report, b, "accuracy"), "end": _metric(report, end, "accuracy")},
        "switch_gap": switch_gap(run.switch, _number(boundary.get("time")) if isinstance(boundary, Mapping) else None),
        "switch_source": run.switch_source,
        "curves": curves(report),
    }


def _order(value: Any) -> tuple[int, float, str]:
    number = _number(value)
    return (0, number, "") if number is not None else (1 if value is not None else 2, 0.0, str(value))


def check_by(runs: Sequence[Compared], by: str | None) -> None:
    """A UsageError when no run records the ``by`` hyperparameter, naming those they do record."""
    if by and not any(by in run.hyperparameters for run in runs):
        recorded = sorted({name for run in runs for name in run.hyperparameters})
        listing = ", ".join(recorded[:30]) + (", ..." if len(recorded) > 30 else "")
        raise UsageError(f"--by {by}: no run records it; they record: {listing}" if recorded else
                         f"--by {by}: these runs record no hyperparameters (no args.yaml, hparams.yaml, "
                         "training_args.bin or training record)")


def _warn_differences(rows: Sequence[Mapping[str, Any]]) -> None:
    """The runs' kernels are comparable when they share the probe and the kernel mode: say where they do not."""
    for key, what in (("probe", "probes"), ("mode", "kernel modes")):
        values = {row[key] for row in rows if row[key] is not None}
        if len(values) > 1:
            warn(f"the runs are on different {what} ({', '.join(sorted(map(str, values)))}): their angles are not "
                 "measured alike", code="compare-differs")


def compare_to_json(runs: Sequence[Compared], by: str | None = None) -> dict[str, Any]:
    """The compare report: one entry a run, ordered by the ``by`` hyperparameter (runs without it last),
    then as given; a warning where the runs' probes or kernel modes differ."""
    check_by(runs, by)
    rows = [compare_row(run, by) for run in runs]
    _warn_differences(rows)
    if by:
        rows = sorted(rows, key=lambda r: _order(r["by_value"]))
    return {"kind": "compare", "schema_version": COMPARE_SCHEMA_VERSION,
            "tool": {"name": "entk-probe", "version": __version__},
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "by": by, "runs": rows}


def run_tag(report: Report, row: Mapping[str, Any]) -> str:
    """A run's name in a legend: its label, and its ``by`` value where it has one."""
    by = report.get("by")
    return row["label"] + (f" ({by}={row['by_value']})" if by and row["by_value"] is not None else "")


def label_of(path: Path, taken: set[str]) -> str:
    """A short unique label: the run folder's or the JSON file's name, numbered when it repeats."""
    base = path.stem if path.suffix == ".json" else path.name
    label, n = base, 2
    while label in taken:
        label, n = f"{base}-{n}", n + 1
    taken.add(label)
    return label
