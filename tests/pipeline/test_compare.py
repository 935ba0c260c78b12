"""compare's runs: folders analysed (kernels from the cache), reports read, the switch report beside found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entk_probe.errors import UsageError
from entk_probe.output.jsonreport import to_json, write_json
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline.compare import gather, switch_beside, switch_reports

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
    assert switch_beside(report, switch_reports(tmp_path)) is None
    _switch(tmp_path / "s1.json", "/moved/r20", "2026-01-01")  # the same run folder name, moved
    _switch(tmp_path / "s2.json", "/moved/r20", "2026-02-01")
    (tmp_path / "notes.json").write_text("not json")
    with pytest.warns(UserWarning, match="2 switch reports of run r20 .* uses the newest, s2.json"):
        assert switch_beside(report, switch_reports(tmp_path))[1].name == "s2.json"  # type: ignore[index]  # no switch points to check
    _switch(tmp_path / "exact.json", "/elsewhere/runs/r20", "2025-01-01")
    assert switch_beside(report, switch_reports(tmp_path))[1].name == "exact.json"  # type: ignore[index]


def test_every_argument_is_checked_before_any_run_is_analysed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import entk_probe.pipeline.compare as compare

    monkeypatch.setattr(compare, "analyze", lambda *a, **k: pytest.fail("a run was analysed"))
    write_run(tmp_path / "run")
    _switch(tmp_path / "s.json", "/r", "2026-01-01")
    with pytest.raises(UsageError, match="missing: no such run folder or JSON report"):
        gather([tmp_path / "run", tmp_path / "missing"], None, AnalyzeOptions())
    with pytest.raises(UsageError, match="none of the arguments is a run folder or an analysis report"), \
            pytest.warns(UserWarning, match="compare leaves out .*s.json: a switch report"):
        gather([tmp_path / "s.json"], None, AnalyzeOptions())
    (tmp_path / "other.json").write_text(json.dumps({"kind": "kernel-listing", "schema_version": "1.0"}))
    with pytest.raises(UsageError, match="other.json is a kernel-listing report, not an analysis report"):
        gather([tmp_path / "run", tmp_path / "other.json"], None, AnalyzeOptions())
    with pytest.raises(UsageError, match="compare needs run folders or JSON reports"):
        gather([], None, AnalyzeOptions())


def test_a_switch_report_matched_by_folder_name_must_be_of_the_same_checkpoints(tmp_path: Path) -> None:
    report = {"run": {"path": "/a/cmp"}, "checkpoints": [{"name": "step0.safetensors"}, {"name": "step5.safetensors"}]}
    (tmp_path / "s.json").write_text(json.dumps({"kind": "switch", "created": "1", "run": {"path": "/b/cmp"}, "switch": {
        "results": [{"checkpoint": "checkpoint-2.pth.tar", "kind": "standard", "accuracy": 0.5, "at_epoch": 2}]}}))
    assert switch_beside(report, switch_reports(tmp_path)) is None  # another run that happens to share the folder's name
    (tmp_path / "s.json").write_text(json.dumps({"kind": "switch", "created": "1", "run": {"path": "/b/cmp"}, "switch": {
        "results": [{"checkpoint": "step5.safetensors", "kind": "standard", "accuracy": 0.5, "at_epoch": 5}]}}))
    with pytest.warns(UserWarning, match="taken as run /a/cmp's switch report by its run folder's name"):
        assert switch_beside(report, switch_reports(tmp_path)) is not None


def test_compare_runs_is_the_command_for_notebooks(tmp_path: Path) -> None:
    from entk_probe import Report, compare_runs

    for name, lr in (("a", 0.1), ("b", 0.01)):
        write_run(tmp_path / name)
        (tmp_path / name / "args.yaml").write_text(f"lr: {lr}\n")
    report = compare_runs([tmp_path / "a", str(tmp_path / "b")], "synthetic:3",
                          AnalyzeOptions(device="cpu", cache_dir=tmp_path / "cache", resamples=0), by="lr")
    assert isinstance(report, Report) and report["kind"] == "compare"
    assert [r["label"] for r in report["runs"]] == ["b", "a"]  # ordered by lr
