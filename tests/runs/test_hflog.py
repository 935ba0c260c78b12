"""trainer_state.json's log_history as the run's log: rows a logged step, keyed by epoch, report columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entk_probe.errors import CheckpointError
from entk_probe.runs.hflog import COLUMNS, log_rows, newest_trainer_state, read_log_history

from ..helpers import REPO
from ..textdata import needs_sst2, needs_text


def _state(folder: Path, global_step: int, history: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trainer_state.json"
    path.write_text(json.dumps({"global_step": global_step, "epoch": global_step / 10, "log_history": history}))
    return path


@needs_sst2
@needs_text
def test_rows_hold_what_the_trainer_logged_at_each_step(bert_run: Path) -> None:
    rows, path = read_log_history(bert_run)  # type: ignore[misc]
    assert path == bert_run / "checkpoint-40" / "trainer_state.json"
    history = json.loads(path.read_text())["log_history"]
    steps = [e for e in history if "train_runtime" not in e]  # the run's summary comes after the last checkpoint
    assert sorted(rows) == sorted({e["epoch"] for e in steps}) and len(rows) == 21  # steps 0, 2, ..., 40
    for entry in steps:
        row = rows[entry["epoch"]]
        if "loss" in entry:
            assert row["train_loss"] == entry["loss"] and row["lr"] == entry["learning_rate"]
        if "eval_loss" in entry:
            assert row["eval_loss"] == entry["eval_loss"]
            assert row["eval_top1"] == pytest.approx(100 * entry["eval_accuracy"])
    assert set(rows[0.0]) == {"eval_loss", "eval_top1"}  # eval_on_start: the initial model's accuracy


def test_the_columns_are_those_the_report_schema_allows() -> None:
    schema = json.loads((REPO / "entk_probe" / "output" / "schema" / "report.schema.json").read_text())
    checkpoint = schema["properties"]["checkpoints"]["items"]["properties"]
    assert set(COLUMNS.values()) <= set(checkpoint["training_log"]["propertyNames"]["enum"])


def test_entries_without_an_epoch_and_values_that_are_no_number(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    rows = log_rows([
        {"eval_loss": 0.7, "eval_accuracy": 0.5, "step": 0},  # eval_on_start before the Trainer sets an epoch
        {"loss": 0.6, "learning_rate": 0.1, "step": 5},  # no epoch: cannot be placed
        {"loss": "nan?", "learning_rate": float("inf"), "grad_norm": 2.0, "epoch": 0.5, "step": 10},
        {"loss": 0.5, "learning_rate": True, "eval_accuracy": 87.5, "epoch": 1.0, "step": 20},  # a percentage already
        {"train_runtime": 3.0, "train_loss": 0.55, "epoch": 1.0, "step": 20},
    ], path)
    assert rows == {0.0: {"eval_loss": 0.7, "eval_top1": 50.0}, 1.0: {"train_loss": 0.5, "eval_top1": 87.5}}


@pytest.mark.parametrize(("history", "message"), [
    ({"loss": 1}, "log_history is a dict, not the list"), ([{"loss": 1}, [2]], "log_history entry 1 is a list"),
])
def test_a_malformed_log_history_is_one_line_naming_the_file(tmp_path: Path, history: object, message: str) -> None:
    path = _state(tmp_path / "checkpoint-3", 3, history)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match=message) as err:
        read_log_history(tmp_path)
    assert str(path) in str(err.value)


def test_the_newest_state_is_the_highest_checkpoints_or_the_run_directorys(tmp_path: Path) -> None:
    assert newest_trainer_state(tmp_path) is None and read_log_history(tmp_path) is None
    for step in (8, 40, 100):  # "checkpoint-8" sorts after "checkpoint-100" as text
        _state(tmp_path / f"checkpoint-{step}", step, [{"loss": step, "epoch": step / 10, "step": step}])
    (tmp_path / "checkpoint-200").mkdir()  # a folder without trainer_state.json
    assert newest_trainer_state(tmp_path)[0] == tmp_path / "checkpoint-100" / "trainer_state.json"  # type: ignore[index]
    _state(tmp_path, 120, [{"loss": 1.5, "epoch": 12.0, "step": 120}])  # Trainer.save_state() at the end
    rows, path = read_log_history(tmp_path)  # type: ignore[misc]
    assert path == tmp_path / "trainer_state.json" and rows == {12.0: {"train_loss": 1.5}}
    _state(tmp_path, 50, [])
    assert read_log_history(tmp_path)[1] == tmp_path / "checkpoint-100" / "trainer_state.json"  # type: ignore[index]
