"""Which learning rate each checkpoint was saved at: its metadata, else timm's summary.csv, else none."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from entk_probe.runs.checkpoints import discover
from entk_probe.runs.learningrate import recorded_learning_rates
from entk_probe.runs.traininglog import read_training_log


def _run(tmp_path: Path, rates: list[str | None], key: str = "lr") -> list:
    for step, rate in enumerate(rates):
        metadata = {"step": str(step), "epoch": str(step)}
        if rate is not None:
            metadata[key] = rate
        save_file({"w": torch.zeros(2)}, str(tmp_path / f"ckpt_{step}.safetensors"), metadata=metadata)
    return discover(tmp_path)


def test_the_checkpoints_own_metadata_first(tmp_path: Path) -> None:
    found = recorded_learning_rates(_run(tmp_path, ["0.1", "0.05", "0"], key="learning_rate"), {})
    assert found is not None and found.values == [0.1, 0.05, 0.0] and "metadata" in found.source


def test_a_checkpoint_without_one_means_none_unless_summary_csv_covers_every_checkpoint(tmp_path: Path) -> None:
    checkpoints = _run(tmp_path, ["0.1", None, "0.1"])
    assert recorded_learning_rates(checkpoints, {}) is None
    (tmp_path / "summary.csv").write_text("epoch,train_loss,lr\n0,2.0,0.2\n1,1.9,0.02\n")
    found = recorded_learning_rates(checkpoints, read_training_log(tmp_path))
    # epoch 0 takes the first row's rate, epoch k the rate of the row of epoch k - 1 (the epoch it ends)
    assert found is not None and found.values == [0.2, 0.2, 0.02] and "summary.csv" in found.source


def test_values_that_are_no_rate_are_not_used(tmp_path: Path) -> None:
    assert recorded_learning_rates(_run(tmp_path, ["0.1", "fast", "0.1"]), {}) is None
    negative = tmp_path / "negative"
    negative.mkdir()
    assert recorded_learning_rates(_run(negative, ["0.1", "-1", "0.1"]), {}) is None
