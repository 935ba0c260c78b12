"""The run's own log: timm train.py's summary.csv (per epoch), else Hugging Face's trainer_state.json (per logged step).

summary.csv: its ``epoch`` column is the 0-based index of the finished epoch, so row k belongs to
the checkpoint taken after k + 1 epochs of training. Columns read: eval_top1, eval_top5,
eval_loss, train_loss, lr; a file that is not such a log is an error naming it.

trainer_state.json (``hflog``), read where no summary.csv is: a row a logged step, keyed by the
epochs of training done at that step (a fraction within an epoch), with the columns train_loss,
lr, eval_loss and eval_top1. Either way a checkpoint's row is the one at its epoch (``entry_for``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import CheckpointError
from .hflog import read_log_history

SUMMARY_FILE = "summary.csv"
COLUMNS = ("eval_top1", "eval_top5", "eval_loss", "train_loss", "lr")


class TrainingLog(dict):  # type: ignore[type-arg]  # {epochs of training done: {column: value}}
    """The run's own log, {epochs of training done: {column: value}}, and where it was read.

    ``per_step``: the rows are the logged steps of trainer_state.json (keys: fractions of epochs)
    rather than summary.csv's epochs; ``source``: the file, relative to the run directory."""

    def __init__(self, rows: Mapping[float, Mapping[str, float]] | None = None, *, source: str = "",
                 per_step: bool = False) -> None:
        super().__init__(rows or {})
        self.source = source
        self.per_step = per_step


def read_training_log(run_dir: Path) -> TrainingLog:
    """The run's log: ``run_dir/summary.csv``'s rows, else its newest trainer_state.json's log_history
    (``hflog``); empty when there is neither."""
    if (run_dir / SUMMARY_FILE).is_file():
        return TrainingLog(_read_summary(run_dir / SUMMARY_FILE), source=SUMMARY_FILE)
    history = read_log_history(run_dir) if run_dir.is_dir() else None
    if history is None:
        return TrainingLog()
    rows, path = history
    return TrainingLog(rows, source=str(path.relative_to(run_dir)), per_step=True)


def _read_summary(path: Path) -> dict[int, dict[str, float]]:
    """{epochs of training done: {column: value}} from timm's summary.csv."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CheckpointError(f"{path}: not readable as timm's summary.csv ({exc})") from None
    log: dict[int, dict[str, float]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            index = int(float(row["epoch"]))
            values = {k: float(row[k]) for k in COLUMNS if row.get(k) not in (None, "")}
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: line {line} has no numeric epoch or a value that is not a number; "
                                  "move the file aside if it is not timm's summary.csv") from None
        log[index + 1] = {k: v for k, v in values.items() if math.isfinite(v)}
    return log


def entry_for(log: Mapping[float, Mapping[str, float]], epoch: float | None) -> Mapping[str, float] | None:
    """The log's row for a checkpoint taken after ``epoch`` epochs, else None: summary.csv's rows are
    at whole epochs; trainer_state.json's at the epoch of each logged step, as its checkpoints record it."""
    if epoch is None or math.isnan(epoch):
        return None
    return log.get(epoch)
