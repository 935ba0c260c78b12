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


# Hugging Face's trainer_state.json: the learning_rate logged at each checkpoint's step, or last before it.

import json  # noqa: E402

from ..textdata import needs_sst2, needs_text  # noqa: E402


@needs_sst2
@needs_text
def test_a_trainer_runs_rates_are_those_logged_at_each_checkpoints_step(bert_run: Path) -> None:
    found = discover(bert_run)
    rates = recorded_learning_rates(found, read_training_log(bert_run))
    history = json.loads((bert_run / "checkpoint-40" / "trainer_state.json").read_text())["log_history"]
    logged = {e["step"]: e["learning_rate"] for e in history if "learning_rate" in e}
    assert rates is not None and "checkpoint-40/trainer_state.json log_history" in rates.source
    assert rates.values[1:] == [logged[c.step] for c in found[1:]]
    assert rates.values[0] == logged[min(logged)] == logged[2]  # the initial model: the first rate logged
    assert max(rates.values) == rates.values[3] == logged[6]  # warmup to step 4, then linear decay


def _hf_checkpoint(run: Path, step: int, epoch: float | None, history: list) -> None:
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"w": torch.full((2,), float(step))}, str(folder / "model.safetensors"))
    state = {"global_step": step, "log_history": history} | ({} if epoch is None else {"epoch": epoch})
    (folder / "trainer_state.json").write_text(json.dumps(state))


def test_a_checkpoint_between_logged_steps_takes_the_rate_logged_last_before_it(tmp_path: Path) -> None:
    history = [{"loss": 1.0, "learning_rate": lr, "step": step, "epoch": step / 10}
               for step, lr in ((4, 0.1), (8, 0.05), (10, 0.01))]
    for step in (0, 5, 10):
        _hf_checkpoint(tmp_path, step, step / 10, [e for e in history if e["step"] <= step])
    found = recorded_learning_rates(discover(tmp_path), read_training_log(tmp_path))
    assert found is not None and found.values == [0.1, 0.1, 0.01]  # step 0: the first logged; 5: step 4's
    _hf_checkpoint(tmp_path, 12, None, history)  # no epoch: not placed in the log
    assert recorded_learning_rates(discover(tmp_path), read_training_log(tmp_path)) is None
