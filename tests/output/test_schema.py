"""The report schema is closed and derived from the code's contracts; what it requires is what the renderers read."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from entk_probe.analysis.confidence import Confidence
from entk_probe.analysis.dynamics import ANGLE_STATISTICS
from entk_probe.analysis.phases import EVIDENCE_KEYS, PhaseThresholds, classify
from entk_probe.analysis.summary import CheckpointMetrics
from entk_probe.analysis.trajectories import KINDS, make_trajectory
from entk_probe.analysis.dynamics import center, pairwise
from entk_probe.analysis.verdicts import VERDICTS
from entk_probe.engine.layerplan import PATHS
from entk_probe.engine.modes import MODES
from entk_probe.output.jsonreport import SCHEMA_VERSION, schema
from entk_probe.output.terminal import render
from entk_probe.runs.loading import WEIGHTS


def _objects(node: Any, path: str = "") -> list[tuple[str, dict]]:
    found = []
    if isinstance(node, dict):
        kinds = node.get("type", [])
        if "object" in (kinds if isinstance(kinds, list) else [kinds]):
            found.append((path, node))
        for key, value in node.items():
            found += _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects(value, f"{path}/{i}")
    return found


def test_every_object_is_closed() -> None:
    for path, node in _objects(schema()):
        assert "additionalProperties" in node, f"{path} is open"
        if node["additionalProperties"] is not False:  # maps of user-given names: typed values
            assert isinstance(node["additionalProperties"], dict) and "type" in node["additionalProperties"], path


def _property(*keys: str) -> dict:
    node = schema()
    for key in keys:
        node = node["items"] if key == "[]" else node["properties"][key]
    return node


def test_enums_are_the_codes_registries() -> None:
    assert _property("phases", "verdict")["enum"] == [v.id for v in VERDICTS]
    assert _property("kernel", "mode")["enum"] == list(MODES)
    assert _property("kernel", "paths")["enum"] == list(PATHS)
    assert _property("cone", "statistic")["enum"] == list(ANGLE_STATISTICS)
    assert _property("checkpoints", "[]", "weights", "choice")["enum"] == list(WEIGHTS)
    assert _property("schema_version")["pattern"] == r"^1\.[0-9]+$" and SCHEMA_VERSION.startswith("1.")


def test_keys_are_the_codes_fields() -> None:
    metrics = {f.name for f in dataclasses.fields(CheckpointMetrics)} - {"time", "phase"}
    assert set(_property("checkpoints", "[]", "metrics")["properties"]) == metrics
    assert set(_property("phases", "thresholds")["properties"]) == {f.name for f in dataclasses.fields(PhaseThresholds)}
    assert list(_property("phases", "evidence")["properties"]) == list(EVIDENCE_KEYS)
    confidence = _property("phases", "confidence")
    assert list(confidence["properties"]) == [f.name for f in dataclasses.fields(Confidence)]
    assert "confidence" not in _property("phases")["required"] and "null" in confidence["type"]  # 1.4 reports; --resamples 0
    assert confidence["properties"]["point_verdict"]["enum"] == [v.id for v in VERDICTS]
    for kind in KINDS:  # every key classify writes is declared
        t = make_trajectory(kind)
        assert set(classify(pairwise([center(k) for k in t.kernels])[1], t.times).evidence) <= set(EVIDENCE_KEYS)


def _minimal(node: dict, null: bool) -> Any:
    """The smallest instance of a schema node: required keys only, one item where one is required;
    ``null``: null where a value may be null."""
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "pattern" in node:
        return "1.0" if node["pattern"].startswith("^1") else "0" * 64
    kinds = node.get("type")
    kind = ("null" if null and "null" in kinds else kinds[0]) if isinstance(kinds, list) else kinds
    if kind == "object":
        return {key: _minimal(node["properties"][key], null) for key in node.get("required", [])}
    if kind == "array":
        return [_minimal(node["items"], null) for _ in range(node.get("minItems", 0))]
    return {"string": "x", "number": 0.0, "integer": 0, "boolean": False, "null": None}[kind]


@pytest.mark.parametrize("null", [True, False])
def test_a_minimal_valid_report_renders_and_plots(tmp_path: Path, null: bool) -> None:
    report = _minimal(schema(), null)
    jsonschema.validate(report, schema(), cls=jsonschema.Draft202012Validator)
    out = io.StringIO()
    render(report, Console(file=out, width=80))  # reads only what the schema requires
    assert "verdict: two-phase-cone" in out.getvalue()
    pytest.importorskip("matplotlib")
    from entk_probe.output.plots import plot_report

    plot_report(report, tmp_path / "minimal.png")
    assert (tmp_path / "minimal.png").stat().st_size > 0


def test_the_committed_schema_is_what_the_generator_writes() -> None:
    import importlib.util

    from tests.helpers import REPO

    spec = importlib.util.spec_from_file_location("make_schema", REPO / "scripts" / "make_schema.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    committed = (REPO / "entk_probe" / "output" / "schema" / "report.schema.json").read_text()
    assert module.text() == committed, "run python scripts/make_schema.py and commit the schema"
    switch = (REPO / "entk_probe" / "output" / "schema" / "switch.schema.json").read_text()
    assert module.text(module.switch_schema) == switch, "run python scripts/make_schema.py and commit the schema"
    compare = (REPO / "entk_probe" / "output" / "schema" / "compare.schema.json").read_text()
    assert module.text(module.compare_schema) == compare, "run python scripts/make_schema.py and commit the schema"
    assert schema()["$id"].endswith(SCHEMA_VERSION)
