"""timm's summary.csv: rows belong to the checkpoint after epoch index + 1; bad files are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from entk_probe.errors import CheckpointError
from entk_probe.runs.traininglog import entry_for, read_training_log

SUMMARY = """epoch,train_loss,eval_loss,eval_top1,eval_top5,lr
0,2.1,1.9,31.5,80.0,0.1
1,1.7,1.6,42.25,88.0,0.1
2,1.5,nan,45.0,90.0,0.01
"""


def test_rows_belong_to_the_checkpoint_after_that_many_epochs(tmp_path: Path) -> None:
    (tmp_path / "summary.csv").write_text(SUMMARY)
    log = read_training_log(tmp_path)
    assert sorted(log) == [1, 2, 3] and log[2]["eval_top1"] == 42.25 and log[1]["eval_loss"] == 1.9
    assert "eval_loss" not in log[3]  # nan: not a value
    assert entry_for(log, 2.0) == log[2] and entry_for(log, 0.5) is None and entry_for(log, None) is None
    assert entry_for(log, 7.0) is None
    assert read_training_log(tmp_path / "none") == {}


def test_a_file_that_is_not_timms_log_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "summary.csv").write_text("name,value\na,1\n")
    with pytest.raises(CheckpointError, match="line 2 has no numeric epoch") as err:
        read_training_log(tmp_path)
    assert str(tmp_path / "summary.csv") in str(err.value)


# Hugging Face's trainer_state.json, read where no summary.csv is (hflog).

import json  # noqa: E402
import shutil  # noqa: E402

from entk_probe.runs.checkpoints import discover  # noqa: E402

from ..textdata import needs_sst2, needs_text  # noqa: E402


def _expected(entries: list[dict]) -> dict[str, float] | None:
    """A checkpoint's row from its step's log_history entries, mapped by hand."""
    row: dict[str, float] = {}
    for e in entries:
        row.update({"train_loss": e["loss"], "lr": e["learning_rate"]} if "loss" in e else {})
        row.update({"eval_loss": e["eval_loss"], "eval_top1": 100 * e["eval_accuracy"]} if "eval_loss" in e else {})
    return row or None


@needs_sst2
@needs_text
def test_a_trainer_runs_log_gives_each_checkpoint_its_steps_row(bert_run: Path) -> None:
    log = read_training_log(bert_run)
    assert log.per_step and log.source == "checkpoint-40/trainer_state.json"
    history = json.loads((bert_run / log.source).read_text())["log_history"]
    rows = [entry_for(log, c.epoch) for c in discover(bert_run)]
    assert rows == [_expected([e for e in history if e["step"] == c.step]) for c in discover(bert_run)]
    assert set(rows[0]) == {"eval_loss", "eval_top1"} and set(rows[-1]) == {"eval_loss", "eval_top1", "train_loss", "lr"}
    assert set(rows[1]) == {"train_loss", "lr"}  # step 2: logged, not evaluated


@needs_sst2
@needs_text
def test_summary_csv_comes_first(bert_run: Path, tmp_path: Path) -> None:
    shutil.copytree(bert_run / "checkpoint-40", tmp_path / "checkpoint-40")
    assert read_training_log(tmp_path).per_step
    (tmp_path / "summary.csv").write_text(SUMMARY)
    log = read_training_log(tmp_path)
    assert not log.per_step and log.source == "summary.csv" and sorted(log) == [1, 2, 3]
