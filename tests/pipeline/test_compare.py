"""compare's runs: folders analysed (kernels from the cache), reports read, the switch report beside found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entk_probe.errors import UsageError
from entk_probe.output.jsonreport import to_json, write_json
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline.compare import gather, switch_beside

from ..helpers import write_run


def _switch(path: Path, run: str, created: str) -> None:
    path.write_text(json.dumps({"kind": "switch", "schema_version": "1.0", "created": created, "run": {"path": run},
                                "switch": {"results": [], "boundary": None}}))


def test_a_folder_is_analysed_and_a_report_read_each_with_its_hyperparameters(tmp_path: Path) -> None:
    options = AnalyzeOptions(device="cpu", cache_dir=tmp_path / "cache", resamples=0)
    write_run(tmp_path / "a")
    (tmp_path / "a" / "args.yaml").write_text("lr: 0.05\n")
    write_run(tmp_path / "b", steps=(0, 4, 8))
    (tmp_path / "b" / "args.yaml").write_text("lr: 0.2\n")
    saved = tmp_path / "reports" / "b.json"
    saved.parent.mkdir()
    write_json(to_json(analyze(tmp_path / "b", "synthetic:3", options)), saved)
    _switch(saved.parent / "b_switch.json", str(tmp_path / "b"), "2026-01-01")
    runs = gather([tmp_path / "a", saved], "synthetic:3", options)
    assert [r.label for r in runs] == ["a", "b"] and [r.source for r in runs] == [str(tmp_path / "a"), str(saved)]
    assert [r.hyperparameters["lr"] for r in runs] == [0.05, 0.2]
    assert runs[0].report["checkpoints"][0]["kernel_cached"] is False and runs[0].switch is None
    assert runs[1].switch_source == str(saved.parent / "b_switch.json")
    again = gather([tmp_path / "a"], "synthetic:3", options)
    assert all(c["kernel_cached"] for c in again[0].report["checkpoints"])  # a second compare computes nothing


def test_an_older_report_takes_the_hyperparameters_from_its_run_folder(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    (tmp_path / "run" / "args.yaml").write_text("lr: 0.1\n")
    report = to_json(analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu", cache=False, resamples=0)))
    del report["run"]["hyperparameters"]  # schema 1.6 and older
    report["schema_version"] = "1.6"
    write_json(report, tmp_path / "old.json")
    assert gather([tmp_path / "old.json"], None, AnalyzeOptions())[0].hyperparameters == {"lr": 0.1}


def test_the_switch_report_of_the_same_run_is_found_the_newest_of_several(tmp_path: Path) -> None:
    report = {"run": {"path": "/elsewhere/runs/r20"}}
    _switch(tmp_path / "other.json", "/elsewhere/runs/r21", "2026-03-01")
    assert switch_beside(tmp_path, report) is None
    _switch(tmp_path / "s1.json", "/moved/r20", "2026-01-01")  # the same run folder name, moved
    _switch(tmp_path / "s2.json", "/moved/r20", "2026-02-01")
    (tmp_path / "notes.json").write_text("not json")
    with pytest.warns(UserWarning, match="2 switch reports of run r20 .* uses the newest, s2.json"):
        assert switch_beside(tmp_path, report)[1].name == "s2.json"  # type: ignore[index]
    _switch(tmp_path / "exact.json", "/elsewhere/runs/r20", "2025-01-01")
    assert switch_beside(tmp_path, report)[1].name == "exact.json"  # type: ignore[index]


def test_what_is_neither_a_run_nor_an_analysis_report_is_refused(tmp_path: Path) -> None:
    _switch(tmp_path / "s.json", "/r", "2026-01-01")
    with pytest.raises(UsageError, match="s.json is a switch report: give the run's analysis report"):
        gather([tmp_path / "s.json"], None, AnalyzeOptions())
    with pytest.raises(UsageError, match="missing: no such run folder or JSON report"):
        gather([tmp_path / "missing"], None, AnalyzeOptions())
    with pytest.raises(UsageError, match="compare needs run folders or JSON reports"):
        gather([], None, AnalyzeOptions())
