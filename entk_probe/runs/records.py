"""What a run records about how it was trained, and where each value was found.

Three layers, the first that holds a value wins: the checkpoint's own training arguments (timm
train.py's ``args`` in a torch file, or a Lightning checkpoint's ``hyper_parameters``), the run
directory's ``args.yaml`` (timm train.py writes it beside the checkpoints, and it survives when
checkpoints are cleaned to bare weights) or, where there is none, Lightning's ``hparams.yaml``
(in the run directory or its parent: ``lightninghparams``), and the checkpoint's safetensors
metadata. Each layer is named by where it was read. A value of None (timm writes
``input_size: null`` when the option was not given) is no value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import CheckpointError
from .checkpoints import Checkpoint
from .lightninghparams import RunArgs, read_hparams

# The keys of args.yaml entk-probe reads, with what each must be when it is set.
RUN_ARGS = {
    "model": "a model name", "num_classes": "an integer", "input_size": "a list of 3 integers (C, H, W)",
    "img_size": "an integer or a list of 2 integers", "mean": "a list of numbers", "std": "a list of numbers",
    "model_kwargs": "a mapping", "seed": "an integer", "epochs": "an integer", "data_dir": "a path",
    "val_split": "a split name", "train_split": "a split name",
}
TIMM_DATA_ARGS = {"input_size", "img_size", "mean", "std"}  # always in timm train.py's arguments
CHECKPOINT_ARGS = "the checkpoint's args"
RUN_ARGS_FILE = "args.yaml"
METADATA = "the checkpoint's metadata"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _valid(key: str, v: Any) -> bool:
    numbers = isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    checks = {
        "model": isinstance(v, str), "num_classes": _is_int(v), "seed": _is_int(v), "epochs": _is_int(v),
        "input_size": isinstance(v, (list, tuple)) and len(v) == 3 and all(_is_int(x) and x > 0 for x in v),
        "img_size": (_is_int(v) and v > 0) or (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)),
        "mean": numbers and len(v) > 0, "std": numbers and len(v) > 0 and all(x > 0 for x in v),
        "model_kwargs": isinstance(v, Mapping), "data_dir": isinstance(v, str), "val_split": isinstance(v, str),
        "train_split": isinstance(v, str),
    }
    return checks.get(key, True)


def read_run_args(run_dir: Path) -> dict[str, Any]:
    """The run directory's args.yaml, else Lightning's hparams.yaml under timm's names ({} when there
    is neither), as a ``RunArgs`` whose ``source`` and ``path`` say which; a malformed value is an
    error naming it."""
    path = run_dir / RUN_ARGS_FILE
    if not path.is_file():
        return read_hparams(run_dir)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path}: not readable as YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not the mapping of training arguments "
                              "timm's train.py writes; move it aside or fix it")
    for key, what in RUN_ARGS.items():
        if data.get(key) is not None and not _valid(key, data[key]):
            raise CheckpointError(f"{path}: {key} must be {what}, not {data[key]!r}; fix it or move the file aside")
    return RunArgs(data, source=RUN_ARGS_FILE, path=path)


@dataclass(frozen=True)
class Records:
    """A checkpoint's training record, layer by layer: (where, values), first wins."""

    layers: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    def get(self, key: str) -> tuple[Any, str] | None:
        """(value, where it was found) of the first layer that sets ``key``, else None."""
        for where, values in self.layers:
            if values.get(key) is not None:
                return values[key], where
        return None

    @property
    def from_timm_train(self) -> bool:
        """Whether timm's train.py recorded the run, so that data options it left unset took timm's
        defaults: its arguments always hold input_size, img_size, mean and std (null when unset),
        which a plain loop's own argparse arguments do not."""
        return any(where in (CHECKPOINT_ARGS, RUN_ARGS_FILE) and TIMM_DATA_ARGS <= set(values)
                   for where, values in self.layers)


def records_of(ckpt: Checkpoint, run_args: Mapping[str, Any]) -> Records:
    """``ckpt``'s record: its own args (torch files: timm's args or Lightning's hyper_parameters),
    then ``run_args`` (args.yaml or hparams.yaml, as its ``source`` says), then its metadata."""
    own = CHECKPOINT_ARGS if ckpt.path.suffix != ".safetensors" else METADATA
    layers = [(getattr(ckpt.args, "source", CHECKPOINT_ARGS), ckpt.args)] if own == CHECKPOINT_ARGS else []
    layers.append((getattr(run_args, "source", RUN_ARGS_FILE), run_args))
    if own == METADATA:
        layers.append((METADATA, ckpt.args))
    return Records(tuple((where, dict(values)) for where, values in layers if values))
