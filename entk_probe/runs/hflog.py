"""Hugging Face Trainer's own log: trainer_state.json's ``log_history``, read as the run's training log.

The Trainer appends to ``log_history`` every ``logging_steps`` the mean train loss since the last
entry and the learning rate of the step just taken (``loss``, ``learning_rate``, ``grad_norm``),
every evaluation its metrics (``eval_loss``, ``eval_accuracy``, ...), each with ``step`` and
``epoch``, and at the end a summary of the run (``train_runtime`` and the whole run's mean
``train_loss``, not a step's: skipped). Every checkpoint's trainer_state.json holds the history up
to it; the newest is read: the highest-numbered ``checkpoint-<step>/``'s or the run directory's own
(``Trainer.save_state``), whichever records the later ``global_step``.

The entries of one step make one row, keyed, as timm's summary.csv rows are, by the epochs of
training done: the ``epoch`` the Trainer records in the entry, which is the value it records in
that step's checkpoint's trainer_state.json, so that a checkpoint finds its step's row by its
epoch (an entry at step 0 without one, ``eval_on_start``'s, is at epoch 0). Columns, named as the
report names summary.csv's: ``train_loss`` (``loss``), ``lr`` (``learning_rate``), ``eval_loss``
and ``eval_top1`` (``eval_accuracy`` in percent, as timm logs top-1; a value above 1 is taken as
a percentage already). Other metrics are not kept: the report's columns are these.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from .hflayout import HF_FOLDER, TRAINER_STATE, read_trainer_state

COLUMNS = {"loss": "train_loss", "learning_rate": "lr", "eval_loss": "eval_loss", "eval_accuracy": "eval_top1"}
PERCENT = ("eval_accuracy",)
RUN_SUMMARY_KEY = "train_runtime"  # the entry that sums up the run, not a step


def newest_trainer_state(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The trainer_state.json with the run's whole history, and its content; None without one."""
    folders = [(int(m.group(1)), f) for f in run_dir.iterdir()
               if (m := HF_FOLDER.match(f.name)) and (f / TRAINER_STATE).is_file()]
    paths = ([max(folders)[1] / TRAINER_STATE] if folders else []) + [
        p for p in [run_dir / TRAINER_STATE] if p.is_file()]
    states = [(path, read_trainer_state(path)) for path in paths]
    if not states:
        return None
    return max(states, key=lambda s: (_step(s[1].get("global_step")), len(s[1].get("log_history") or [])))


def _step(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _epoch(entry: dict[str, Any]) -> float | None:
    epoch = _number(entry.get("epoch"))
    if epoch is None and "epoch" not in entry and _step(entry.get("step")) == 0:
        return 0.0
    return epoch


def log_rows(history: object, path: Path) -> dict[float, dict[str, float]]:
    """{epochs of training done: {column: value}} from a ``log_history`` list (module docstring)."""
    if not isinstance(history, list):
        raise CheckpointError(f"{path}: log_history is a {type(history).__name__}, not the list the Trainer writes")
    rows: dict[float, dict[str, float]] = {}
    for number, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise CheckpointError(f"{path}: log_history entry {number} is a {type(entry).__name__}, not an object")
        epoch = _epoch(entry)
        if RUN_SUMMARY_KEY in entry or epoch is None:
            continue
        row = rows.setdefault(epoch, {})
        for key, column in COLUMNS.items():
            value = _number(entry.get(key))
            if value is not None:
                row[column] = 100 * value if key in PERCENT and 0 <= value <= 1 else value
    return {epoch: row for epoch, row in rows.items() if row}


def read_log_history(run_dir: Path) -> tuple[dict[float, dict[str, float]], Path] | None:
    """The rows of the run's newest trainer_state.json and its path; None when the run has none."""
    newest = newest_trainer_state(run_dir)
    if newest is None:
        return None
    path, state = newest
    return log_rows(state.get("log_history", []), path), path
