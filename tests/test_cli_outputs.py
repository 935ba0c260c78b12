"""The outputs every reporting command shares: a missing optional library is refused before any kernel, a
failed write loses nothing else, ``--json -`` is JSON alone on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from entk_probe.cli import main

from .helpers import write_run


@pytest.mark.parametrize(("option", "library"), [("--plot", "matplotlib"), ("--html", "plotly")])
def test_a_missing_output_library_is_refused_before_any_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 option: str, library: str) -> None:
    import entk_probe.cli as cli

    for name in [m for m in sys.modules if m == library or m.startswith(library + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, library, None)  # import raises ImportError, as where it is not installed
    monkeypatch.setattr(cli, "analyze", lambda *a, **k: pytest.fail("the analysis ran"))
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", option, "x.out"])
    assert result.exit_code == 2 and f"pip install 'entk-probe[" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_failed_write_keeps_the_other_outputs_and_the_report(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    write_run(tmp_path / "run")
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                       "--html", str(blocked / "r.html"), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1
    assert json.loads((tmp_path / "r.json").read_text())["phases"]["verdict"]  # written despite the HTML failing
    assert "verdict" in result.stdout  # the terminal report too
    assert f"could not write the HTML report {blocked / 'r.html'}" in result.stderr


def test_json_to_stdout_is_the_json_alone_for_report_and_analyze(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    first = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                      "--json", "-", "--quiet"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    (tmp_path / "r.json").write_text(first.stdout)
    again = CliRunner().invoke(main, ["report", str(tmp_path / "r.json"), "--json", "-"])
    assert again.exit_code == 0 and json.loads(again.stdout) == report
