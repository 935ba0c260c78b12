"""`entk-probe compare`: the table on stdout, JSON and HTML files, JSON alone with --json -."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from entk_probe.cli import main

from .helpers import write_run


@pytest.fixture()
def two_runs(tmp_path: Path) -> list[str]:
    for name, lr in (("fast", 0.2), ("slow", 0.01)):
        write_run(tmp_path / name)
        (tmp_path / name / "args.yaml").write_text(f"lr: {lr}\n")
    return [str(tmp_path / "fast"), str(tmp_path / "slow")]


def test_compare_prints_the_table_by_lr_and_writes_json_and_html(tmp_path: Path, two_runs: list[str]) -> None:
    pytest.importorskip("plotly")
    args = ["compare", *two_runs, "--probe", "synthetic:4", "--device", "cpu", "--by", "lr", "--no-color",
            "--json", str(tmp_path / "c.json"), "--html", str(tmp_path / "c.html")]
    result = CliRunner().invoke(main, args, terminal_width=120)
    assert result.exit_code == 0, result.output
    rows = [line.split()[:2] for line in result.stdout.splitlines() if line.startswith(("fast", "slow"))]
    assert rows == [["slow", "0.01"], ["fast", "0.2"]]  # ordered by lr
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["kind"] == "compare" and [r["by_value"] for r in report["runs"]] == [0.01, 0.2]
    assert "slow" in (tmp_path / "c.html").read_text()
    assert result.stderr.count("entk-probe: compare: analysing") == 2


def test_compare_json_to_stdout_reads_saved_reports_too(tmp_path: Path, two_runs: list[str]) -> None:
    saved = tmp_path / "fast.json"
    first = CliRunner().invoke(main, ["analyze", two_runs[0], "--probe", "synthetic:4", "--device", "cpu", "--quiet",
                                      "--json", str(saved)])
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(main, ["compare", str(saved), two_runs[1], "--probe", "synthetic:4", "--device", "cpu",
                                       "--json", "-", "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["label"] for r in report["runs"]] == ["fast", "slow"] and report["runs"][0]["source"] == str(saved)
    assert "compare:" not in result.stderr  # --quiet
    missing = CliRunner().invoke(main, ["compare", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no such run folder or JSON report" in missing.stderr


def test_report_shows_a_saved_compare_report_and_compare_leaves_one_out(tmp_path: Path, two_runs: list[str]) -> None:
    saved = tmp_path / "c.json"
    made = CliRunner().invoke(main, ["compare", *two_runs, "--probe", "synthetic:4", "--device", "cpu", "--by", "lr",
                                     "--json", str(saved), "--no-color"], terminal_width=120)
    assert made.exit_code == 0, made.output
    shown = CliRunner().invoke(main, ["report", str(saved), "--no-color"], terminal_width=120)
    assert shown.exit_code == 0 and shown.stdout == made.stdout  # the same table, from the file
    left_out = CliRunner().invoke(main, ["compare", str(saved), two_runs[0], "--probe", "synthetic:4", "--device", "cpu",
                                         "--json", "-", "--quiet"])  # a glob over a results folder catches it
    assert left_out.exit_code == 0 and "compare leaves out" in left_out.stderr
    assert [r["label"] for r in json.loads(left_out.stdout)["runs"]] == ["fast"]


def test_compare_takes_the_phase_options_of_analyze(tmp_path: Path, two_runs: list[str]) -> None:
    result = CliRunner().invoke(main, ["compare", two_runs[0], "--probe", "synthetic:4", "--device", "cpu", "--quiet",
                                       "--min-checkpoints", "50", "--resamples", "0", "--json", "-"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["runs"][0]
    assert row["verdict"] == "insufficient" and row["confidence"] is None  # 3 checkpoints < 50; no resamples


def test_run_options_with_saved_reports_alone_are_said_to_be_unused(tmp_path: Path, two_runs: list[str]) -> None:
    saved = tmp_path / "fast.json"
    assert CliRunner().invoke(main, ["analyze", two_runs[0], "--probe", "synthetic:4", "--device", "cpu", "--quiet",
                                     "--json", str(saved)]).exit_code == 0
    result = CliRunner().invoke(main, ["compare", str(saved), "--mode", "full", "--min-checkpoints", "3", "--quiet",
                                       "--json", "-"])
    assert result.exit_code == 0, result.output
    assert "--mode, --min-checkpoints apply to run folders only" in result.stderr
    quiet = CliRunner().invoke(main, ["compare", str(saved), "--quiet", "--json", "-"])
    assert "apply to run folders only" not in quiet.stderr
