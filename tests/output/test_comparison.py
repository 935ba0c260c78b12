"""The compare report's rows, read from analysis and switch reports built by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from entk_probe.output.comparison import Compared, compare_row, compare_to_json, label_of, switch_gap

from ..helpers import REPO


def report(times: list[float], angles: list[float], boundary: int | None, *, kernels: str = "centered",
           confidence: float | None = 0.9) -> dict[str, Any]:
    key = "centered_angle_from_first_deg" if kernels == "centered" else "angle_from_first_deg"
    checkpoints = [{"name": f"c{i}", "time": t, "metrics": {key: a, "angular_velocity_deg": 10.0 * (i + 1),
                                                           "accuracy": 0.1 * i, "kernel_regression_accuracy": 0.2 * i}}
                   for i, (t, a) in enumerate(zip(times, angles))]
    checkpoints.append({"name": "left-out", "time": 99.0, "metrics": None})  # excluded: not a point of any curve
    return {
        "schema_version": "1.7", "time_unit": "epoch", "checkpoints": checkpoints,
        "phases": {"verdict": "two-phase-cone", "kernels": kernels,
                   "boundary": None if boundary is None else {"index": boundary, "checkpoint": f"c{boundary}",
                                                              "time": times[boundary], "rule": "plateau"},
                   "evidence": {"phase1_travel_deg": 40.0, "phase2_half_angle_deg": 12.5, "init_to_axis_deg": 35.0,
                                "phase2_drift_ratio": 0.8},
                   "confidence": None if confidence is None else {"verdict_share": confidence, "uncertain": False}},
    }


def switch(points: list[tuple[float, float, float]], boundary_time: float | None) -> dict[str, Any]:
    results = [r for at, s, lin in points for r in (
        {"at_epoch": at, "checkpoint": f"c{at:g}", "kind": "standard", "accuracy": s},
        {"at_epoch": at, "checkpoint": f"c{at:g}", "kind": "linearized", "accuracy": lin})]
    return {"kind": "switch", "switch": {"results": results,
                                         "boundary": None if boundary_time is None else {"index": 1, "time": boundary_time}}}


def test_a_row_holds_the_reports_numbers_at_the_boundary_and_the_end() -> None:
    row = compare_row(Compared("a", "a.json", report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1),
                               hyperparameters={"lr": 0.1}), by="lr")
    assert row["by_value"] == 0.1 and row["verdict"] == "two-phase-cone" and row["confidence"] == 0.9
    assert row["boundary"] == {"checkpoint": "c1", "time": 1, "rule": "plateau"}
    assert (row["phase1_travel_deg"], row["half_angle_deg"], row["axis_angle_deg"], row["drift_ratio"]) == (40, 12.5, 35, 0.8)
    assert row["accuracy"] == {"boundary": 0.1, "end": 0.30000000000000004}  # checkpoint 1, and 3 (the last analysed)
    assert row["kernel_regression"] == {"boundary": 0.2, "end": 0.6000000000000001}
    assert row["curves"] == {"checkpoints": ["c0", "c1", "c2", "c3"], "time": [0, 1, 2, 3],
                             "angle_from_first_deg": [0, 30, 40, 42], "velocity_deg": [10.0, 20.0, 30.0, 40.0]}


def test_an_older_report_gives_none_for_what_it_does_not_carry() -> None:
    old = report([0, 1, 2], [0, 10, 11], boundary=None, kernels="raw", confidence=None)
    del old["phases"]["evidence"]["phase2_half_angle_deg"]
    row = compare_row(Compared("old", "old.json", old))
    assert row["boundary"] is None and row["confidence"] is None and row["half_angle_deg"] is None
    assert row["accuracy"]["boundary"] is None and row["curves"]["angle_from_first_deg"] == [0, 10, 11]  # raw angles


def test_the_switch_gap_is_taken_after_the_boundary() -> None:
    points = [(0.0, 0.5, 0.1), (2.0, 0.6, 0.55), (5.0, 0.7, 0.69)]
    assert switch_gap(switch(points, boundary_time=1.0), None)["at"] == 2.0  # its own boundary
    gap = switch_gap(switch(points, boundary_time=None), 2.0)  # the analysis's boundary
    assert gap["at"] == 5.0 and abs(gap["gap"] - 0.01) < 1e-12 and gap["checkpoint"] == "c5"
    assert switch_gap(switch(points, boundary_time=None), 9.0)["at"] == 5.0  # none after it: the last
    assert switch_gap(None, 1.0) is None


def test_runs_are_ordered_by_the_hyperparameter_those_without_it_last_and_valid() -> None:
    runs = [Compared(name, name, report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1), hyperparameters=values)
            for name, values in (("x", {}), ("b", {"lr": 0.1}), ("a", {"lr": 0.01}), ("s", {"lr": "cosine"}))]
    out = json.loads(json.dumps(compare_to_json(runs, by="lr")))
    assert [r["label"] for r in out["runs"]] == ["a", "b", "s", "x"]
    assert [r["label"] for r in compare_to_json(runs)["runs"]] == ["x", "b", "a", "s"]  # no --by: as given
    schema = json.loads((REPO / "entk_probe" / "output" / "schema" / "compare.schema.json").read_text())
    jsonschema.validate(out, schema, cls=jsonschema.Draft202012Validator)


def test_labels_are_names_made_unique() -> None:
    taken: set[str] = set()
    assert [label_of(Path(p), taken) for p in ("runs/r20", "out/r20.json", "more/r20", "x/y.json")] == [
        "r20", "r20-2", "r20-3", "y"]


def test_a_hyperparameter_no_run_records_is_refused_naming_those_they_do() -> None:
    import pytest

    from entk_probe.errors import UsageError

    runs = [Compared("a", "a", report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1), hyperparameters={"lr": 0.1, "seed": 0})]
    with pytest.raises(UsageError, match="--by lrate: no run records it; they record: lr, seed"):
        compare_to_json(runs, by="lrate")
    with pytest.raises(UsageError, match="these runs record no hyperparameters"):
        compare_to_json([Compared("b", "b", runs[0].report)], by="lr")


def test_runs_on_different_probes_are_compared_with_a_warning() -> None:
    import pytest

    first, second = (report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1) for _ in range(2))
    first["probe"], second["probe"] = {"spec": "cifar10:100"}, {"spec": "cifar10:500"}
    with pytest.warns(UserWarning, match=r"different probes \(cifar10:100, cifar10:500\)"):
        out = compare_to_json([Compared("a", "a", first), Compared("b", "b", second)])
    assert [r["probe"] for r in out["runs"]] == ["cifar10:100", "cifar10:500"]
