"""What a PyTorch Lightning run records about its training: ``hparams.yaml`` and ``hyper_parameters``.

``LightningModule.save_hyperparameters()`` stores the module's arguments in every ``*.ckpt``
(``hyper_parameters``), and Lightning's CSVLogger and TensorBoardLogger write them to
``lightning_logs/version_N/hparams.yaml``, the parent of ModelCheckpoint's ``checkpoints/``
folder. Their names are the user's own, so the common spellings are read as timm's args.yaml
names (``ALIASES``: ``learning_rate`` as ``lr``, ``arch`` as ``model``, ``in_channels`` as
``in_chans``, ...); a value of another form (a nested config, a list of layer widths named
``channels``) is not read. Lightning writes tuples as ``!!python/tuple``, read as lists; other
Python tags (an ``nn.Module`` argument) are never constructed, only noted as ``<tag>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import CheckpointError

HPARAMS_FILE = "hparams.yaml"
CKPT_HPARAMS = "the checkpoint's hyper_parameters"

# timm's args.yaml name <- the names a LightningModule's arguments commonly use for it, first wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("model", "arch", "architecture", "model_name", "arch_name"),
    "lr": ("lr", "learning_rate"),
    "batch_size": ("batch_size",),
    "num_classes": ("num_classes", "n_classes"),
    "in_chans": ("in_chans", "in_channels"),
    "input_size": ("input_size",),
    "img_size": ("img_size", "image_size", "input_size"),
    "mean": ("mean",),
    "std": ("std",),
    "weight_decay": ("weight_decay",),
    "momentum": ("momentum",),
}


class RunArgs(dict):  # type: ignore[type-arg]
    """A run's recorded training arguments under timm's names, with where they were read.

    ``source`` names the record in reports ("args.yaml", "hparams.yaml", the checkpoint's
    hyper_parameters); ``path`` is the file read, if one; ``names`` maps each value's name to
    the name the record gave it (``lr`` -> ``learning_rate``).
    """

    def __init__(self, values: Mapping[str, Any] | None = None, *, source: str, path: Path | None = None,
                 names: Mapping[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.source = source
        self.path = path
        self.names = dict(names or {})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(_number(x) for x in v)


CHECKS: dict[str, Callable[[Any], bool]] = {
    "model": lambda v: isinstance(v, str) and bool(v.strip()) and not v.startswith("<"),
    "lr": lambda v: _number(v) and v > 0,
    "batch_size": _count, "num_classes": _count, "in_chans": _count,
    "input_size": lambda v: isinstance(v, list) and len(v) == 3 and all(_count(x) for x in v),
    "img_size": lambda v: _count(v) or (isinstance(v, list) and len(v) == 2 and all(_count(x) for x in v)),
    "mean": _numbers,
    "std": lambda v: _numbers(v) and all(x > 0 for x in v),
    "weight_decay": lambda v: _number(v) and v >= 0,
    "momentum": lambda v: _number(v) and v >= 0,
}


def _listed(value: Any) -> Any:
    """Tuples as lists, recursively (``hyper_parameters`` in a checkpoint keeps Python tuples)."""
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    return value


def normalised(data: Mapping[str, Any], *, source: str, path: Path | None = None) -> RunArgs:
    """``data``'s values under timm's names (``ALIASES``), each of the form ``CHECKS`` asks; the rest is not read."""
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for key, aliases in ALIASES.items():
        for alias in aliases:
            value = _listed(data.get(alias))
            if value is not None and CHECKS[key](value):
                values[key], names[key] = value, alias
                break
    return RunArgs(values, source=source, path=path, names=names)


class _Loader(yaml.SafeLoader):
    """YAML's safe subset, plus Lightning's ``!!python/tuple`` (as a list); other Python tags are
    noted as ``<tag>`` strings, never constructed."""


_Loader.add_constructor("tag:yaml.org,2002:python/tuple", lambda loader, node: loader.construct_sequence(node))
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: f"<python/{suffix}>")


def hparams_path(run_dir: Path) -> Path | None:
    """The hparams.yaml of a run: in ``run_dir``, else in its parent (Lightning's ``version_N/``
    above ModelCheckpoint's ``checkpoints/``); None where there is none."""
    for folder in (run_dir, run_dir.parent):
        if (folder / HPARAMS_FILE).is_file():
            return folder / HPARAMS_FILE
    return None


def read_hparams(run_dir: Path) -> RunArgs:
    """What the run's hparams.yaml records, under timm's names (empty when there is none)."""
    path = hparams_path(run_dir)
    if path is None:
        return RunArgs(source=HPARAMS_FILE)
    try:
        data = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path}: not readable as YAML ({str(exc).splitlines()[0]}); "
                              "fix it or move it aside") from None
    if data is None:
        return RunArgs(source=HPARAMS_FILE, path=path)
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not the mapping of hyperparameters "
                              "Lightning writes; fix it or move it aside")
    return normalised(data, source=HPARAMS_FILE, path=path)


def checkpoint_hparams(content: Mapping[str, Any]) -> RunArgs | None:
    """A Lightning checkpoint's ``hyper_parameters`` under timm's names; None where it has none."""
    data = content.get("hyper_parameters")
    if not isinstance(data, Mapping):
        return None
    return normalised(data, source=CKPT_HPARAMS)
