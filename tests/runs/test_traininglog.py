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
