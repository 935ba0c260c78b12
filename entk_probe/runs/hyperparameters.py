"""The hyperparameters a run records, as one flat mapping of scalars, and where they were read.

``compare --by lr`` groups runs by them and the report keeps them (``run.hyperparameters``). The
first source that exists wins: timm's ``args.yaml`` or Lightning's ``hparams.yaml``
(``records.read_run_args``, Lightning's names read as timm's), the Hugging Face Trainer's
``training_args.bin``, then the first checkpoint's own record (timm's ``args`` in a torch file, a
Lightning checkpoint's ``hyper_parameters``, or a ``training`` JSON in safetensors metadata).

``training_args.bin`` is a pickled ``TrainingArguments``. It is read without running any of its
code: every class it names becomes an inert stand-in that only keeps its arguments and state, so
the file is read as data, safely, with no transformers import and no --trust-checkpoints.
"""

from __future__ import annotations

import ast
import io
import json
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from .checkpoints import Checkpoint
from .records import read_run_args

TRAINER_ARGS = "training_args.bin"
Scalar = int | float | str | bool | None


class _Inert:
    """What a pickled object becomes: its constructor arguments and its state, nothing run."""

    args: tuple[Any, ...] = ()  # class defaults: an object made by __new__ alone has no __init__ call
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.state = args, None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _new(cls: type, *args: Any) -> Any:
    return cls.__new__(cls)


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "copyreg" and name in ("__newobj__", "_reconstructor"):
            return _new
        return type(name, (_Inert,), {})

    def persistent_load(self, pid: Any) -> None:  # torch.save's tensor storages: none in training arguments
        return None


def _plain(value: Any) -> Scalar:
    """An enum member pickled as its class called with its value (IntervalStrategy('steps')) is the value."""
    if isinstance(value, _Inert) and len(value.args) == 1:
        value = value.args[0]
    return value if isinstance(value, (int, float, str, bool, type(None))) else None


def trainer_arguments(path: Path) -> dict[str, Scalar]:
    """The scalar fields of a Trainer's ``training_args.bin`` (a torch zip or a bare pickle)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(name)
        else:
            data = path.read_bytes()
        obj = _DataOnly(io.BytesIO(data)).load()
    except (OSError, StopIteration, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not readable as the Trainer's training arguments ({exc}); move it aside") from None
    state = obj.state if isinstance(obj, _Inert) and isinstance(obj.state, Mapping) else {}
    return {str(k): _plain(v) for k, v in state.items() if _plain(v) is not None or v is None}


def _literal(text: Any) -> Scalar:
    if not isinstance(text, str):
        return _plain(text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return _plain(value) if not isinstance(value, str) else value


def _scalars(values: Mapping[str, Any]) -> dict[str, Scalar]:
    return {str(k): v for k, v in values.items() if isinstance(v, (int, float, str, bool))}


def _checkpoint_record(ckpt: Checkpoint) -> tuple[dict[str, Scalar], str] | None:
    training = ckpt.args.get("training")
    if isinstance(training, str):  # metadata read as text
        try:
            training = json.loads(training)
        except ValueError:
            training = None
    if isinstance(training, Mapping):  # a loop's own record, {name: str(value)}, in the safetensors metadata
        return {str(k): _literal(v) for k, v in training.items()}, "the checkpoint's metadata (training)"
    if ckpt.path.suffix != ".safetensors" and ckpt.args:
        return _scalars(ckpt.args), getattr(ckpt.args, "source", "the checkpoint's args")
    return None


def recorded_hyperparameters(run_dir: Path, first: Checkpoint | None = None) -> tuple[dict[str, Scalar], str | None]:
    """(name -> scalar value, where they were read) for the run in ``run_dir`` whose first checkpoint is
    ``first``; ({}, None) when the run records none."""
    args = read_run_args(run_dir)
    if args:
        return _scalars(args), str(getattr(args, "source", "args.yaml"))
    folders = [first.path.parent] if first is not None else []
    folders += sorted(run_dir.glob("checkpoint-*")) + [run_dir]
    for folder in folders:
        if (folder / TRAINER_ARGS).is_file():
            return trainer_arguments(folder / TRAINER_ARGS), TRAINER_ARGS
    if first is not None and (record := _checkpoint_record(first)) is not None:
        return record
    return {}, None
