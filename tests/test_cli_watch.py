"""`entk-probe watch`: the lines it prints, the final report, and the command it runs once at Phase II."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from entk_probe.cli import main

from .helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"
PLUGIN = REPO / "plugins" / "mlp.py"


@pytest.mark.slow
def test_the_watch_command_reports_and_runs_its_phase2_command_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(SAMPLE, run)
    flag = tmp_path / "flag"
    result = CliRunner(env={"ENTK_PROBE_CACHE": str(tmp_path / "cache")}).invoke(main, [
        "watch", str(run), "--plugins", str(PLUGIN), "--until", "idle:0.3", "--poll", "0.05", "--json", "-",
        "--on-phase2", f"echo $ENTK_PROBE_CHECKPOINT >> {flag}"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    lines = [line for line in result.stderr.splitlines() if "centred angle from the first kernel" in line]
    assert len(lines) == len(report["checkpoints"])
    assert flag.read_text().count("\n") == 1 and report["phases"]["verdict"] != "insufficient"
