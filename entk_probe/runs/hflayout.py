"""Hugging Face's layout of a run: ``checkpoint-<step>/`` folders, their weights and trainer_state.json.

transformers' Trainer writes a folder a checkpoint, ``checkpoint-<global step>/``, holding the
weights as ``save_pretrained`` writes them (``WEIGHT_FILES``, preferred in that order):

- ``model.safetensors`` (or ``pytorch_model.bin``, older transformers' format);
- a sharded save: ``model.safetensors.index.json`` (or ``pytorch_model.bin.index.json``), whose
  ``weight_map`` names the shard (``model-0000k-of-0000n.safetensors``) of every tensor: one
  checkpoint, read from all shards (``shard_paths``) and hashed over the index and every shard
  (``checkpoint_files``, ``files_sha256``);
- a PEFT model: ``adapter_model.safetensors`` (or ``.bin``) with ``adapter_config.json`` (which names
  the base model), the adapter's tensors only (``adapter_config``, ``read_adapter_config``);

and ``trainer_state.json`` (``global_step``, ``epoch``, ``log_history``: see ``hflog``). A
``save_pretrained`` folder given as the run directory is read the same way, as one checkpoint.
The Trainer's other files (``training_args.bin``, optimizer, scheduler, RNG state: ``NOT_WEIGHTS``)
are not checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

HF_FOLDER = re.compile(r"^checkpoint-(\d+)$")
SHARD_INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
                *ADAPTER_WEIGHTS)
ADAPTER_CONFIG = "adapter_config.json"
TRAINER_STATE = "trainer_state.json"
NOT_WEIGHTS = re.compile(r"^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth)$")


def folder_weights(folder: Path) -> Path | None:
    """The weights file of a Hugging Face checkpoint folder (``WEIGHT_FILES``' first present), else None.

    An adapter without its adapter_config.json is an error: nothing would say what it adapts."""
    path = next((folder / w for w in WEIGHT_FILES if (folder / w).is_file()), None)
    if path is not None and path.name in ADAPTER_WEIGHTS and not (folder / ADAPTER_CONFIG).is_file():
        raise CheckpointError(f"{path}: a PEFT adapter without {ADAPTER_CONFIG} beside it (PEFT saves both); "
                              "without it the base model and the adapted layers are unknown")
    return path


def adapter_config(path: Path) -> Path | None:
    """The adapter_config.json of a PEFT adapter's weights file ``path``; None for any other file."""
    config = path.parent / ADAPTER_CONFIG
    return config if path.name in ADAPTER_WEIGHTS and config.is_file() else None


def json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path`` (a file ``what`` writes), or a CheckpointError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: holds a JSON {type(data).__name__}, not the object {what} writes")
    return data


def read_adapter_config(path: Path) -> dict[str, Any]:
    """A PEFT adapter_config.json (``base_model_name_or_path``, ``target_modules``, ``r``, ...)."""
    return json_object(path, "PEFT")


def read_trainer_state(path: Path) -> dict[str, Any]:
    """A trainer_state.json as a dict; a one-line CheckpointError naming it when it is not one."""
    return json_object(path, "Hugging Face's Trainer")


def hf_position(folder: Path) -> tuple[int | None, float | None]:
    """(step, epoch) of the Hugging Face checkpoint in ``folder``: its trainer_state.json's
    ``global_step`` and ``epoch``; without that file the step in the folder's name (else None)."""
    named = HF_FOLDER.match(folder.name)
    step = int(named.group(1)) if named else None
    state = folder / TRAINER_STATE
    if not state.is_file():
        return step, None
    data = read_trainer_state(state)
    global_step, epoch = data.get("global_step", step), data.get("epoch")
    if "global_step" in data and (isinstance(global_step, bool) or not isinstance(global_step, int) or global_step < 0):
        raise CheckpointError(f"{state}: global_step is {global_step!r}, not a non-negative integer")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (int, float))):
        raise CheckpointError(f"{state}: epoch is {epoch!r}, not a number")
    return global_step, (None if epoch is None else float(epoch))


def read_shard_index(index: Path) -> dict[str, str]:
    """The ``weight_map`` of a sharded save's index, {tensor name: shard file name}."""
    data = json_object(index, "save_pretrained")
    weight_map = data.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise CheckpointError(f"{index}: no weight_map of tensor names to shard files, as save_pretrained writes")
    outside = sorted({v for v in weight_map.values() if Path(v).name != v or v in ("", ".", "..")})
    if outside:
        raise CheckpointError(f"{index}: names shards outside its folder ({', '.join(outside[:3])})")
    return weight_map


def shard_paths(index: Path, weight_map: dict[str, str] | None = None) -> list[Path]:
    """The shards a sharded save's index names, in file-name order; a CheckpointError naming a missing one."""
    names = sorted(set((weight_map if weight_map is not None else read_shard_index(index)).values()))
    for name in names:
        if not (index.parent / name).is_file():
            raise CheckpointError(f"{index}: shard {name} is missing (the index names {len(names)} shards)")
    return [index.parent / name for name in names]


def sharded_files(run_dir: Path) -> set[Path]:
    """The shards that sharded saves directly in ``run_dir`` name: parts of one checkpoint, not checkpoints."""
    return {p for suffix in SHARD_INDEX_SUFFIXES for index in run_dir.glob(f"*{suffix}") if index.is_file()
            for p in _named_shards(index)}


def _named_shards(index: Path) -> list[Path]:
    try:
        return [index.parent / name for name in set(read_shard_index(index).values())]
    except CheckpointError:
        return []  # reading the index as a checkpoint says what is wrong with it


def files_sha256(paths: Iterable[Path]) -> str:
    """Hex sha256 of the files' bytes, one after the other."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def checkpoint_files(path: Path) -> list[Path]:
    """The files a checkpoint's bytes are: the file itself, or a sharded save's index and its shards."""
    if path.name.endswith(SHARD_INDEX_SUFFIXES):
        return [path, *shard_paths(path)]
    return [path]
