"""The JSON report: schema-valid, no NaN, atomic, and what the CLI writes."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.cli import main
from entk_probe.output.jsonreport import SCHEMA_VERSION, dumps, finite, schema, to_json, write_json
from entk_probe.analysis.confidence import Confidence
from entk_probe.analysis.resample import DRAWS
from entk_probe.analysis.verdicts import UNCERTAIN, VERDICTS

from ..helpers import write_run


def validate(report: dict) -> None:
    jsonschema.validate(report, schema(), cls=jsonschema.Draft202012Validator)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = tmp_path_factory.mktemp("json") / "run"
    write_run(run, steps=tuple(range(0, 45, 5)))
    with pytest.warns(Warning):
        return to_json(analyze(run, "synthetic:4", AnalyzeOptions(device="cpu")))


def test_report_is_schema_valid_with_the_design_keys(report: dict) -> None:
    validate(report)
    assert report["schema_version"] == SCHEMA_VERSION and report["tool"]["name"] == "entk-probe"
    assert len(report["checkpoints"]) == 9 and len(report["pairwise"]["distance"]) == 9
    assert report["phases"]["verdict"] in {v.id for v in VERDICTS}
    assert report["probe"]["synthetic"] is True and len(report["probe"]["sha256"]) == 64
    assert report["kernel"]["mode"] == "trace" and report["kernel"]["jacobian_dtype"] == "float32"
    codes = [w["code"] for w in report["warnings"]]
    assert "batchnorm-buffers" in codes and "subspace-k" in codes  # N=4 leaves no room for top-3 eigenspaces
    assert report["checkpoints"][0]["metrics"]["disagreement_with_previous"] is None  # NaN written as null
    json.loads(dumps(report))


def test_non_finite_numbers_become_null() -> None:
    data = {"a": math.nan, "b": [1.0, math.inf, np.float64(-math.inf)], "c": np.array([[0.5, math.nan]]), "d": np.int64(3)}
    assert finite(data) == {"a": None, "b": [1.0, None, None], "c": [[0.5, None]], "d": 3}
    with pytest.raises(ValueError):
        dumps({"x": math.nan})


def test_write_is_atomic(tmp_path: Path, report: dict) -> None:
    path = tmp_path / "out" / "report.json"
    write_json(report, path)
    assert json.loads(path.read_text()) == report
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_cli_json_to_stdout_is_only_json(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu", "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    validate(report)
    assert "entk-probe: warning" in result.stderr
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                       "--json", str(out), "--cone-max-drift-ratio", "2.5"])
    assert result.exit_code == 0 and "verdict" in result.stdout
    assert json.loads(out.read_text())["phases"]["thresholds"]["cone_max_drift_ratio"] == 2.5


def test_the_report_says_how_sure_the_verdict_is(report: dict) -> None:
    phases = report["phases"]
    conf = phases["confidence"]
    assert set(conf) == {f.name for f in dataclasses.fields(Confidence)}
    assert conf["draws"] == conf["draws_asked"] == DRAWS and sum(conf["verdict_counts"].values()) == DRAWS
    assert conf["point_verdict"] in {v.id for v in VERDICTS} - {UNCERTAIN.id}
    assert phases["verdict"] == (UNCERTAIN.id if conf["uncertain"] else conf["point_verdict"])
    assert conf["verdict_share"] == conf["verdict_counts"].get(conf["point_verdict"], 0) / DRAWS
    assert [s["checkpoints"] for s in conf["every_other"]] == ["0,2,4,…", "0,1,3,5,…"]
    assert conf["summary"] and "probe resamples" in conf["summary"]


def test_resamples_0_leaves_the_confidence_null_and_a_negative_count_is_refused(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    args = ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu", "--json", "-"]
    result = CliRunner().invoke(main, [*args, "--resamples", "0"])
    assert result.exit_code == 0, result.output
    off = json.loads(result.stdout)
    validate(off)
    assert off["phases"]["confidence"] is None and off["phases"]["verdict"] != UNCERTAIN.id
    bad = CliRunner().invoke(main, [*args, "--resamples", "-1"])
    assert bad.exit_code == 2 and "--resamples must be a whole number" in bad.stderr


def test_read_json_names_what_is_wrong_with_a_file(tmp_path: Path) -> None:
    from entk_probe.errors import ReportError, UsageError
    from entk_probe.output.jsonreport import read_json

    (tmp_path / "other.json").write_text(json.dumps({"results": [1, 2]}))
    with pytest.raises(ReportError, match="other.json: not an entk-probe report .no schema_version."):
        read_json(tmp_path / "other.json")
    (tmp_path / "future.json").write_text(json.dumps({"schema_version": "2.0"}))
    with pytest.raises(ReportError, match="future.json: schema_version 2.0; this entk-probe reads 1.x"):
        read_json(tmp_path / "future.json")
    with pytest.raises(UsageError, match="does not exist"):
        read_json(tmp_path / "none.json")
