"""`entk-probe switch`: the shared options reach the job, and its report goes where --json, --html and --plot say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from entk_probe.cli import main

from .helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"
SWITCH = ["switch", str(SAMPLE), "--plugins", str(REPO / "plugins" / "mlp.py"), "--train", "fashion-mnist:200,split=train",
          "--eval", "fashion-mnist:100", "--at", "1", "--epochs", "1"]  # 200 // 128: one step


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed")
def test_switch_writes_its_json_and_table_and_reports_progress(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*SWITCH, "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "s.json").read_text())
    assert [(r["at_epoch"], r["kind"]) for r in report["switch"]["results"]] == [
        (0.0, "standard"), (0.0, "linearized"), (1.0, "standard"), (1.0, "linearized")]
    assert "linearised acc" in result.stdout and "checkpoint-1" in result.stdout
    assert result.stderr.count("entk-probe: switch at ") == 4  # one line a trained model; --quiet silences them


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed")
def test_switch_takes_the_shared_selection_and_json_to_stdout(tmp_path: Path) -> None:
    """--range keeps checkpoints 0..1 (the only times switch can pick then), --json - prints only the JSON, --quiet
    leaves stderr without progress."""
    result = CliRunner().invoke(main, [*SWITCH, "--at", "1,5", "--range", "0:1", "--quiet", "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted({r["at_epoch"] for r in report["switch"]["results"]}) == [0.0, 1.0]
    assert "switch at" not in result.stderr
    later = CliRunner().invoke(main, [*SWITCH, "--at", "2", "--range", "1:2", "--quiet", "--json", "-"])
    assert later.exit_code == 0 and "checkpoint-1.pth.tar (epoch 1), is the linearised baseline" in later.stderr
    refused = CliRunner().invoke(main, [*SWITCH, "--weights", "ema"])
    assert refused.exit_code != 0 and "ema" in refused.stderr.lower()  # the job reads --weights


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed")
def test_switch_refuses_an_epoch_count_that_is_no_step_and_warns_at_a_time_outside_the_run() -> None:
    refused = CliRunner().invoke(main, [*SWITCH, "--epochs", "0.4"])
    assert refused.exit_code == 2 and "--epochs 0.4 is no SGD step: 200 training records make 1 batch(es)" in refused.stderr
    outside = CliRunner().invoke(main, [*SWITCH, "--at", "100", "--quiet", "--json", "-"])
    assert outside.exit_code == 0, outside.output
    assert "switch --at 100: the checkpoints span epoch 0 to 6; switching at the nearest, checkpoint-6" in outside.stderr
