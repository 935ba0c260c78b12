"""The hyperparameters a run records: args.yaml, the Trainer's training_args.bin (read as data, never run), and
a loop's own record in the checkpoint metadata."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from entk_probe.errors import CheckpointError
from entk_probe.runs.checkpoints import discover
from entk_probe.runs.hyperparameters import recorded_hyperparameters, trainer_arguments

from ..textdata import needs_text


def _checkpoint(folder: Path, metadata: dict[str, str], name: str = "step00000.safetensors") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"w": torch.zeros(2)}, str(folder / name), metadata={"step": "0", **metadata})


def test_args_yaml_scalars_win_and_say_where_they_were_read(tmp_path: Path) -> None:
    _checkpoint(tmp_path, {"training": json.dumps({"lr": "0.5"})})
    (tmp_path / "args.yaml").write_text("lr: 0.1\nsched: cosine\ninput_size: [3, 32, 32]\namp: false\n")
    values, source = recorded_hyperparameters(tmp_path, discover(tmp_path)[0])
    assert values == {"lr": 0.1, "sched": "cosine", "amp": False} and source == "args.yaml"  # a list is no scalar


def test_a_loops_record_in_the_metadata_is_read_as_values(tmp_path: Path) -> None:
    # docs/experiments/train_cifar.py's record: every argument as str(value), the whole as JSON
    _checkpoint(tmp_path, {"training": json.dumps({"lr": "0.05", "epochs": "8", "crops": "True", "drop": "None",
                                                   "optimizer": "sgd"})})
    values, source = recorded_hyperparameters(tmp_path, discover(tmp_path)[0])
    assert values == {"lr": 0.05, "epochs": 8, "crops": True, "drop": None, "optimizer": "sgd"}
    assert source == "the checkpoint's metadata (training)"
    assert recorded_hyperparameters(tmp_path / "none") == ({}, None)


@needs_text
def test_the_trainers_arguments_are_read_without_transformers_code(tmp_path: Path) -> None:
    import transformers

    args = transformers.TrainingArguments(output_dir=str(tmp_path), learning_rate=3e-4, per_device_train_batch_size=8,
                                          eval_strategy="steps", lr_scheduler_type="cosine", report_to=[])
    folder = tmp_path / "checkpoint-40"
    _checkpoint(folder, {}, "model.safetensors")  # the Trainer's layout
    torch.save(args, folder / "training_args.bin")  # what Trainer._save writes
    values, source = recorded_hyperparameters(tmp_path, discover(tmp_path)[0])
    assert source == "training_args.bin"
    assert values["learning_rate"] == 3e-4 and values["per_device_train_batch_size"] == 8
    assert values["eval_strategy"] == "steps" and values["lr_scheduler_type"] == "cosine"  # enums: their values


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (exec, ("open(__import__('os').environ['ENTK_TEST_FLAG'], 'w').write('ran')",))


def test_a_pickle_that_would_run_code_runs_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "ran"
    monkeypatch.setenv("ENTK_TEST_FLAG", str(flag))
    assert pickle.loads(pickle.dumps(_Payload())) is None and flag.exists()  # the payload is real: plain pickle runs it
    flag.unlink()
    buffer = io.BytesIO()
    torch.save(_Payload(), buffer)
    (tmp_path / "training_args.bin").write_bytes(buffer.getvalue())
    assert trainer_arguments(tmp_path / "training_args.bin") == {}
    assert not flag.exists()
    (tmp_path / "training_args.bin").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="training_args.bin: not readable as the Trainer's training arguments"):
        trainer_arguments(tmp_path / "training_args.bin")
