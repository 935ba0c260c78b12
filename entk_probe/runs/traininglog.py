"""The run's own per-epoch log: timm train.py's summary.csv (validation top-1 and loss per epoch).

Its ``epoch`` column is the 0-based index of the finished epoch, so row k belongs to the
checkpoint taken after k + 1 epochs of training. Columns read: eval_top1, eval_top5, eval_loss,
train_loss, lr; a file that is not such a log is an error naming it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import CheckpointError

SUMMARY_FILE = "summary.csv"
COLUMNS = ("eval_top1", "eval_top5", "eval_loss", "train_loss", "lr")


def read_training_log(run_dir: Path) -> dict[int, dict[str, float]]:
    """{epochs of training done: {column: value}} from ``run_dir/summary.csv``; {} when there is none."""
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        return {}
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


def entry_for(log: Mapping[int, Mapping[str, float]], epoch: float | None) -> Mapping[str, float] | None:
    """The log's row for a checkpoint taken after ``epoch`` epochs (a whole number), else None."""
    if epoch is None or not float(epoch).is_integer():
        return None
    return log.get(int(epoch))
