"""The command line: exit codes, stdout/stderr discipline, through CliRunner and the console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from entk_probe import __version__
from entk_probe.cli import main

from .helpers import write_run


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_analyze_prints_the_report_on_stdout(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "ckpt_10" in result.stdout and "velocity" in result.stdout


def test_usage_errors_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "missing"), "--probe", "synthetic:3"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "missing" in result.stderr
    assert "Traceback" not in result.output
    write_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--max-memory", "lots"])
    assert result.exit_code == 2 and "lots" in result.stderr


def test_analysis_failures_exit_1(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3"])
    assert result.exit_code == 1 and "no checkpoint" in result.stderr


def test_installed_console_script_runs() -> None:
    script = shutil.which("entk-probe", path=str(Path(sys.executable).parent))
    assert script is not None, "entk-probe is not installed next to this Python"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and __version__ in done.stdout
