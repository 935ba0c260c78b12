"""Lightning's hparams.yaml and a checkpoint's hyper_parameters, read under timm's names with
where they came from (the real Trainer writing them: test_lightning_runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from entk_probe.errors import CheckpointError
from entk_probe.runs.lightninghparams import CKPT_HPARAMS, HPARAMS_FILE, checkpoint_hparams, normalised, read_hparams
from entk_probe.runs.records import RUN_ARGS_FILE, read_run_args

# As Lightning writes it: yaml.dump of the module's arguments, tuples tagged, a module argument as a Python object.
HPARAMS = """arch: resnet18
model:
  name: not-a-name-but-a-config
learning_rate: 0.1
batch_size: 64
n_classes: 10
in_channels: 1
channels: [64, 128, 256]
image_size: [28, 28]
mean: !!python/tuple
- 0.1307
std: !!python/tuple
- 0.3081
momentum: 0.9
seed: 7
net: !!python/object:torch.nn.modules.linear.Linear
  in_features: 2
"""


def test_hparams_yaml_is_read_under_timms_names(tmp_path: Path) -> None:
    (tmp_path / HPARAMS_FILE).write_text(HPARAMS)
    args = read_hparams(tmp_path)
    assert args == {"model": "resnet18", "lr": 0.1, "batch_size": 64, "num_classes": 10, "in_chans": 1,
                    "img_size": [28, 28], "mean": [0.1307], "std": [0.3081], "momentum": 0.9}
    assert args.source == HPARAMS_FILE and args.path == tmp_path / HPARAMS_FILE
    assert args.names["lr"] == "learning_rate" and args.names["model"] == "arch"  # the nested model config is not a name
    assert "seed" not in args  # a Lightning run's seed does not rebuild timm train.py's initial model


def test_python_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "constructed"
    (tmp_path / HPARAMS_FILE).write_text(f"lr: 0.5\nhook: !!python/object/apply:os.mkdir ['{marker}']\n")  # unsafe_load makes it
    assert read_hparams(tmp_path) == {"lr": 0.5}
    assert not marker.exists()


def test_found_in_the_run_dir_or_above_its_checkpoints_folder(tmp_path: Path) -> None:
    checkpoints = tmp_path / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert read_run_args(checkpoints) == {}
    (tmp_path / "version_0" / HPARAMS_FILE).write_text("lr: 0.01\nnum_classes: 3\n")
    args = read_run_args(checkpoints)
    assert args == {"lr": 0.01, "num_classes": 3} and args.source == HPARAMS_FILE  # type: ignore[attr-defined]
    (checkpoints / HPARAMS_FILE).write_text("lr: 0.02\n")
    assert read_run_args(checkpoints) == {"lr": 0.02}  # the run dir's own first
    (checkpoints / RUN_ARGS_FILE).write_text("model: test_resnet\nlr: 0.3\n")
    args = read_run_args(checkpoints)
    assert args["lr"] == 0.3 and args.source == RUN_ARGS_FILE  # type: ignore[attr-defined]  # timm's args.yaml wins


def test_values_of_another_form_are_not_read() -> None:
    args = normalised({"lr": "fast", "batch_size": 0, "num_classes": True, "mean": [], "std": [0.2, 0.0],
                       "input_size": 32, "model": ""}, source="x")
    assert args == {"img_size": 32}  # an integer input_size is the image's side
    assert normalised({"input_size": [3, 32, 32], "img_size": 40}, source="x") == {"input_size": [3, 32, 32], "img_size": 40}


@pytest.mark.parametrize("text, message", [
    ("lr: [unclosed\n", "not readable as YAML"),
    ("- a list\n", "holds a list, not the mapping"),
])
def test_a_malformed_hparams_yaml_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / HPARAMS_FILE).write_text(text)
    with pytest.raises(CheckpointError, match=message) as err:
        read_hparams(tmp_path)
    assert str(tmp_path / HPARAMS_FILE) in str(err.value) and "\n" not in str(err.value)
    assert "move it aside" in str(err.value)


def test_a_checkpoints_hyper_parameters() -> None:
    args = checkpoint_hparams({"hyper_parameters": {"lr": 0.1, "mean": (0.5, 0.4, 0.3), "arch_name": "vit"}})
    assert args == {"lr": 0.1, "mean": [0.5, 0.4, 0.3], "model": "vit"} and args is not None
    assert args.source == CKPT_HPARAMS and args.path is None
    assert checkpoint_hparams({"state_dict": {}}) is None and checkpoint_hparams({"hyper_parameters": "x"}) is None
