"""Checkpoint file formats: how each is recognised, read safely, and described.

A format knows its file suffixes (``detect``), reads a file into a ``CheckpointContent``
(``read``: the tensors or the top-level object, and what the file records besides its weights),
and names itself in messages (``describe``). Discovery takes the files some format detects, the
loader reads them through their format, and the report shortens names by the formats' suffixes.
A new format is one more ``CheckpointFormat`` subclass in ``FORMATS``.

- ``SafetensorsFormat``: ``*.safetensors``, read with the safetensors library; what it records is
  its string metadata (JSON values parsed where they parse).
- ``TorchFormat``: ``*.pt``, ``*.pth``, ``*.pth.tar``, ``*.bin``, Lightning ``*.ckpt``, read with
  ``torch.load(weights_only=True)``, which refuses any Python object but tensors, containers
  and primitives; ``argparse.Namespace`` is admitted because timm's train.py stores its arguments
  so. Only a file that safe loading refused for the objects it holds is unpickled fully, only
  with ``trust=True`` (``--trust-checkpoints``), once, with a warning.
- ``ShardedFormat``: a Hugging Face sharded save, ``*.safetensors.index.json`` (or older
  transformers' ``*.bin.index.json``): the tensors of every shard its ``weight_map`` names
  (``hflayout``), each read through its own format; what it records is the shards' records. A
  missing shard, or a tensor the index places in a shard that lacks it, is an error.

Every read error is one CheckpointError naming the file and the cause: cannot be read, empty,
truncated or corrupt, or holding objects safe loading refuses.
"""

from __future__ import annotations

import argparse
import json
import pickle
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import Tensor

from ..errors import CheckpointError, warn
from .hflayout import SHARD_INDEX_SUFFIXES, read_shard_index, shard_paths

SAFE_GLOBALS = [argparse.Namespace]


@dataclass(frozen=True)
class CheckpointContent:
    """What a checkpoint file holds, as its format read it."""

    path: Path
    format: CheckpointFormat
    content: dict[str, Any]  # the tensors (safetensors) or the top-level dict (torch)
    records: dict[str, Any]  # what the file records besides its weights: epoch, step, arch, args...
    unpickled: bool = False  # read with full unpickling (trust=True)


class CheckpointFormat(ABC):
    """One on-disk format of checkpoints."""

    name: str
    suffixes: tuple[str, ...]

    def detect(self, path: Path) -> bool:
        """Whether ``path`` is a file of this format (by its name)."""
        return path.name.endswith(self.suffixes)

    def describe(self) -> str:
        """The format in messages, e.g. ``*.safetensors``."""
        return ", ".join(f"*{s}" for s in self.suffixes)

    def record_label(self, key: str) -> str:
        """Where a recorded value was found, for messages (e.g. ``metadata arch``)."""
        return key

    @abstractmethod
    def read(self, path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
        """Read ``path`` safely; ``tensors=False`` reads only what it records where it can."""


class SafetensorsFormat(CheckpointFormat):
    name = "safetensors"
    suffixes = (".safetensors",)

    def record_label(self, key: str) -> str:
        return f"metadata {key}"

    def read(self, path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
        check_readable(path)
        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = dict(fh.metadata() or {})
            content = load_file(str(path), device="cpu") if tensors else {}
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise CheckpointError(f"{path}: not a readable safetensors file, truncated or corrupt ({_cause(exc)})") from None
        return CheckpointContent(path, self, content, {key: _json_or_text(v) for key, v in metadata.items()})


class TorchFormat(CheckpointFormat):
    name = "torch"
    suffixes = (".pth.tar", ".pt", ".pth", ".bin", ".ckpt")

    def read(self, path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
        obj, unpickled = _torch_load(path, trust)
        # What it records: its scalars (a step may be a one-element tensor), and timm's args.
        records = {k: v for k, v in obj.items()
                   if not isinstance(v, Mapping) and not (isinstance(v, Tensor) and v.numel() != 1)}
        args = obj.get("args")
        if isinstance(args, argparse.Namespace):
            records["args"] = dict(vars(args))
        elif isinstance(args, Mapping):
            records["args"] = dict(args)
        return CheckpointContent(path, self, obj, records, unpickled=unpickled)


class ShardedFormat(CheckpointFormat):
    name = "sharded"
    suffixes = SHARD_INDEX_SUFFIXES

    def record_label(self, key: str) -> str:
        return f"shard {key}"

    def read(self, path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
        weight_map = read_shard_index(path)
        content: dict[str, Any] = {}
        records: dict[str, Any] = {}
        unpickled = False
        for shard in shard_paths(path, weight_map):
            fmt = format_of(shard)
            if fmt is None or isinstance(fmt, ShardedFormat):
                raise CheckpointError(f"{path}: names {shard.name}, which is not a safetensors or torch file")
            part = fmt.read(shard, trust=trust, tensors=tensors)
            if tensors:
                content.update({k: v for k, v in part.content.items() if isinstance(v, Tensor)})
            records = {**part.records, **records}  # the first shard's value where shards differ
            unpickled = unpickled or part.unpickled
        absent = [name for name in weight_map if name not in content] if tensors else []
        if absent:
            raise CheckpointError(f"{path}: {absent[0]} is not in {weight_map[absent[0]]}, the shard its index names"
                                  + (f" ({len(absent) - 1} more tensors missing)" if len(absent) > 1 else ""))
        return CheckpointContent(path, self, content, records, unpickled=unpickled)


FORMATS: tuple[CheckpointFormat, ...] = (SafetensorsFormat(), TorchFormat(), ShardedFormat())


def format_of(path: Path) -> CheckpointFormat | None:
    """The format that reads ``path``, or None."""
    return next((f for f in FORMATS if f.detect(path)), None)


def short_name(name: str) -> str:
    """A checkpoint's name without its format's suffix (``checkpoint-3.pth.tar`` -> ``checkpoint-3``)."""
    for suffix in sorted((s for f in FORMATS for s in f.suffixes), key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def is_state_dict(obj: object) -> bool:
    """Whether ``obj`` is a non-empty mapping of names to tensors."""
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


def _cause(exc: BaseException) -> str:
    """The line of a loader's error that says what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported operand" in line or "unexpected EOF" in line
             or "central directory" in line]
    return (named or lines or [type(exc).__name__])[0][:300]


def _refused_object(exc: BaseException) -> bool:
    """Whether safe loading failed because the file holds a Python object it refuses (not because it is corrupt)."""
    return isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in str(exc)


def check_readable(path: Path) -> None:
    """A CheckpointError naming the file when it cannot be opened or is empty."""
    try:
        with open(path, "rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if empty:
        raise CheckpointError(f"{path}: empty file (0 bytes); was the checkpoint written completely?")


def _safe_torch_load(path: Path) -> object:
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # old (non-zip) torch.save format cannot be mapped
                raise
            return torch.load(path, map_location="cpu", weights_only=True)


# Files read with full unpickling (--trust-checkpoints) keep their content here between discovery
# and analysis, so that the code a file may hold runs once, not once per reading.
_UNPICKLED: dict[tuple[Path, int, int], object] = {}


def _unpickle_once(path: Path) -> object:
    stat = path.stat()
    key = (path.resolve(), stat.st_size, stat.st_mtime_ns)
    if key not in _UNPICKLED:
        warn(
            f"{path}: loaded with full unpickling (--trust-checkpoints): the file could have run "
            "arbitrary code; this is recorded in the report",
            code="unpickled",
            checkpoint=path.name,
        )
        try:
            _UNPICKLED[key] = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # anything the file's own code or a corrupt pickle raises
            raise CheckpointError(f"{path}: full unpickling failed too ({type(exc).__name__}: {_cause(exc)})") from None
    return _UNPICKLED[key]


def _torch_load(path: Path, trust: bool) -> tuple[dict[str, Any], bool]:
    """The file's top-level dict, and whether it took full unpickling.

    Safe loading (memory-mapped where the format allows, so that reading what a file records does
    not read its weights) comes first for every file; full unpickling only for a file that safe
    loading refused for the Python objects it holds, and only with ``trust``.
    """
    check_readable(path)
    unpickled = False
    try:
        obj = _safe_torch_load(path)
    except Exception as exc:  # corrupt files raise whatever their first bad byte triggers
        if not _refused_object(exc):
            raise CheckpointError(f"{path}: not a readable torch checkpoint, truncated or corrupt ({_cause(exc)})") from None
        if not trust:
            raise CheckpointError(
                f"{path}: holds Python objects that safe loading refuses ({_cause(exc)}); if you "
                "trust this file, pass --trust-checkpoints to unpickle it fully"
            ) from None
        obj, unpickled = _unpickle_once(path), True
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of weights")
    return dict(obj), unpickled
