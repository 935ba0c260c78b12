"""Checkpoints of a run: discovery, training order, duplicates and selection.

A run directory holds checkpoint files (``*.safetensors``, ``*.pt``, ``*.pth``, ``*.pth.tar``,
``*.bin``, Lightning ``*.ckpt``, sharded ``*.safetensors.index.json``) and/or Hugging Face style
folders ``checkpoint-<step>/`` holding ``model.safetensors``, a sharded save, ``pytorch_model.bin``
or a PEFT adapter (with ``trainer_state.json``; ``hflayout``); a ``save_pretrained`` folder given
as the run directory is one checkpoint. Files with identical bytes count once (timm's train.py
keeps ``last.pth.tar`` and ``model_best.pth.tar`` as hard links of numbered checkpoints).
safetensors files that entk-probe wrote itself (``probe.safetensors``, saved kernels; metadata
``format`` "entk-probe-...") are not checkpoints, nor the Trainer's ``training_args.bin``,
optimizer, scheduler and RNG state files.

Order: by the epoch every checkpoint records (then its step), else by the step every one
records, else by the numbers in the file names, with a warning naming the files that forced it.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError, warn
from ..errors import CheckpointError
from .formats import FORMATS, format_of
from .hflayout import (HF_FOLDER, NOT_WEIGHTS, TRAINER_STATE, WEIGHT_FILES, adapter_config, checkpoint_files,
                       files_sha256, folder_weights, hf_position, sharded_files)
from .loading import arch_hints, read_content, train_args, training_position

__all__ = ["Checkpoint", "discover", "is_adapter", "parse_range", "read_checkpoint", "select", "sha256_of", "single"]

HF_WEIGHTS = WEIGHT_FILES  # the weights files of a checkpoint-<step>/ folder, preferred in this order
OWN_FORMAT_PREFIX = "entk-probe-"  # metadata "format" of the files entk-probe writes (probes, kernels)


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a run and what it records about itself."""

    path: Path  # the weights file (inside the folder for Hugging Face layouts)
    name: str  # as shown to the user: relative to the run directory
    sha256: str
    step: int | None
    epoch: float | None
    arch_hints: tuple[tuple[str, str], ...] = ()  # (architecture name, where it was found)
    args: dict[str, Any] = field(default_factory=dict)  # timm train.py arguments, if stored
    aliases: tuple[str, ...] = ()  # other names of identical files
    ordered_by: str = "metadata"  # "metadata" or "file name"
    unpickled: bool = False  # read with full unpickling (--trust-checkpoints)
    rebuilt: bool = False  # the initial model rebuilt from the run's seed (--init seed), not a file of the run
    adapter_config: Path | None = None  # a PEFT adapter's adapter_config.json: the weights are the adapter's only

    def time(self, unit: str) -> float | None:
        """The checkpoint's time in ``unit`` ("epoch" or "step")."""
        value = self.epoch if unit == "epoch" else self.step
        return None if value is None else float(value)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a checkpoint's bytes: its file's, or a sharded save's index and every shard's."""
    return files_sha256(checkpoint_files(path))


def is_adapter(ckpt: Checkpoint) -> bool:
    """Whether the checkpoint is a PEFT adapter (its weights are the adapter's; ``ckpt.adapter_config``
    names the base model)."""
    return ckpt.adapter_config is not None


def _candidates(run_dir: Path) -> list[Path]:
    """The run directory's checkpoint files (not the shards of a sharded save, nor the Trainer's
    other files), and the weights of every checkpoint-<step>/ folder."""
    shards = sharded_files(run_dir)
    files = [p for p in run_dir.iterdir()
             if p.is_file() and format_of(p) is not None and p not in shards and not NOT_WEIGHTS.match(p.name)]
    for folder in run_dir.iterdir():
        if folder.is_dir() and HF_FOLDER.match(folder.name):
            weights = folder_weights(folder)
            if weights is None:
                raise CheckpointError(f"{folder}: a checkpoint folder without model weights (looked for "
                                      f"{', '.join(HF_WEIGHTS)})")
            files.append(weights)
    return sorted(files)


def _hf_layout(path: Path, run_dir: Path) -> bool:
    """Whether ``path`` is the weights of a checkpoint-<step>/ folder of the run, or the run
    directory's own save_pretrained weights with a trainer_state.json beside them."""
    if HF_FOLDER.match(path.parent.name) and path.parent.parent == run_dir:
        return True
    return path.parent == run_dir and path.name in HF_WEIGHTS and (run_dir / TRAINER_STATE).is_file()


def read_checkpoint(path: Path, run_dir: Path, trust: bool = False) -> Checkpoint | None:
    """The checkpoint at ``path``; None for entk-probe's own files (probe.safetensors, kernels)."""
    content = read_content(path, trust=trust, tensors=False)
    if content.format.name == "safetensors" and str(content.records.get("format", "")).startswith(OWN_FORMAT_PREFIX):
        return None
    step, epoch = training_position(content)
    if step is None and epoch is None and _hf_layout(path, run_dir):
        step, epoch = hf_position(path.parent)
    folder = HF_FOLDER.match(path.parent.name) and path.parent.parent == run_dir
    return Checkpoint(
        path=path,
        name=str((path.parent if folder else path).relative_to(run_dir)),  # a Trainer checkpoint: its folder
        sha256=sha256_of(path),
        step=step,
        epoch=epoch,
        arch_hints=tuple(arch_hints(content)),
        args=train_args(content),
        unpickled=content.unpickled,
        adapter_config=adapter_config(path),
    )


def _name_numbers(name: str) -> tuple[int, ...]:
    return tuple(int(s) for s in re.findall(r"\d+", name))


def _deduplicate(found: list[Checkpoint]) -> list[Checkpoint]:
    """Keep one checkpoint per content; prefer a name with numbers (checkpoint-7 over last)."""
    by_hash: dict[str, list[Checkpoint]] = {}
    for ckpt in found:
        by_hash.setdefault(ckpt.sha256, []).append(ckpt)
    kept = []
    for same in by_hash.values():
        same.sort(key=lambda c: (not _name_numbers(c.name), c.name))
        first = same[0]
        kept.append(replace(first, aliases=tuple(c.name for c in same[1:])))
    return kept


def training_order(found: list[Checkpoint]) -> list[Checkpoint]:
    """``found`` by the epoch every one records (then step), else by step, else by the numbers in file names."""
    if all(c.epoch is not None for c in found):
        return sorted(found, key=lambda c: (c.epoch, -1 if c.step is None else c.step, _name_numbers(c.name)))
    if all(c.step is not None for c in found):
        return sorted(found, key=lambda c: (c.step, _name_numbers(c.name)))
    lacking = [c.name for c in found if c.step is None and c.epoch is None]
    partial = [c.name for c in found if c.name not in lacking]
    unnumbered = [c.name for c in found if not _name_numbers(c.name)]
    warn(
        f"ordered {len(found)} checkpoints by the numbers in their file names, because "
        f"{', '.join(lacking[:5]) or 'some'}{' ...' if len(lacking) > 5 else ''} record no epoch or step"
        + (f" (the epoch/step of {', '.join(partial[:5])} were not used for ordering)" if partial else "")
        + (f"; {', '.join(unnumbered)} hold no number and go last" if unnumbered else ""),
        code="ordered-by-file-name",
    )
    ordered = sorted(found, key=lambda c: (not _name_numbers(c.name), _name_numbers(c.name), c.name))
    return [replace(c, ordered_by="file name") for c in ordered]


def _warn_equal_times(ordered: Sequence[Checkpoint]) -> None:
    seen: dict[tuple, str] = {}
    for c in ordered:
        if c.ordered_by != "metadata":
            return
        key = (c.epoch, c.step)
        if key in seen:
            warn(f"{seen[key]} and {c.name} record the same epoch/step {key} but differ in content",
                 code="same-position", checkpoint=c.name)
        seen[key] = c.name


def check_run_dir(run_dir: Path) -> None:
    """A UsageError unless ``run_dir`` is a folder; for a checkpoint file, say what to run instead."""
    if run_dir.is_file():
        raise UsageError(f"{run_dir} is a file: analyze takes the folder of a run's checkpoints (here "
                         f"{run_dir.parent}, with --glob to choose among them); for this one checkpoint's kernel, run "
                         f"entk-probe kernel {run_dir} --probe SPEC -o K.safetensors")
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist or is not a directory")


def checkpoint_paths(run_dir: Path, glob: str | None = None) -> list[Path]:
    """The files discovery reads as checkpoints, those whose path in ``run_dir`` matches ``glob``,
    found without reading any (what ``watch`` looks at every poll)."""
    paths = _candidates(run_dir)
    return paths if glob is None else [p for p in paths if fnmatch.fnmatch(str(p.relative_to(run_dir)), glob)]


def discover(run_dir: Path, *, glob: str | None = None, trust: bool = False) -> list[Checkpoint]:
    """The checkpoints of ``run_dir`` in training order, identical files counted once.

    ``glob`` keeps only files whose path relative to ``run_dir`` matches the pattern (before
    anything is read). ``trust`` allows full unpickling of torch files that safe loading refuses.
    """
    check_run_dir(run_dir)
    paths = checkpoint_paths(run_dir, glob)
    if glob is not None and not paths:
        raise CheckpointError(f"no checkpoint in {run_dir} matches --glob {glob!r}")
    if not paths:
        raise CheckpointError(
            f"{run_dir} holds no checkpoint: looked for {', '.join(f.describe() for f in FORMATS)} and checkpoint-<step>/ "
            f"folders with {', '.join(HF_WEIGHTS)}"
        )
    found = [c for c in (read_checkpoint(p, run_dir, trust) for p in paths) if c is not None]
    if not found:
        raise CheckpointError(f"{run_dir} holds no checkpoint, only entk-probe's own files")
    ordered = training_order(_deduplicate(found))
    _warn_equal_times(ordered)
    return ordered


def parse_range(text: str) -> tuple[float | None, float | None]:
    """``A:B``, ``A:`` or ``:B`` (inclusive bounds) as numbers; a usage error otherwise."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = (float(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UsageError(f"--range must look like A:B, A: or :B with numbers, not {text!r}") from None
    if low is not None and high is not None and low > high:
        raise UsageError(f"--range {text!r} is empty: its start is after its end")
    return low, high


def time_unit(checkpoints: Sequence[Checkpoint]) -> str | None:
    """"epoch" when every checkpoint records one, else "step" when every one does, else None."""
    if all(c.epoch is not None for c in checkpoints):
        return "epoch"
    if all(c.step is not None for c in checkpoints):
        return "step"
    return None


def check_selection(*, every: int | None = None, range_: str | None = None, max_checkpoints: int | None = None) -> None:
    """Validate ``--every``, ``--range`` and ``--max-checkpoints`` without any checkpoint."""
    if range_ is not None:
        parse_range(range_)
    for value, option in ((every, "--every"), (max_checkpoints, "--max-checkpoints")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{option} must be a positive integer, not {value!r}")


def select(
    checkpoints: Sequence[Checkpoint],
    *,
    every: int | None = None,
    range_: str | None = None,
    max_checkpoints: int | None = None,
) -> list[Checkpoint]:
    """Apply ``--range`` (epochs, or steps where epochs are unknown), then ``--every K`` (every
    k-th, from the first), then ``--max-checkpoints N`` (N evenly spaced, first and last kept)."""
    check_selection(every=every, range_=range_, max_checkpoints=max_checkpoints)
    chosen = list(checkpoints)
    if range_ is not None:
        low, high = parse_range(range_)
        unit = time_unit(chosen)
        if unit is None:
            raise UsageError("--range needs checkpoints that record their epoch or step; these do not all")
        chosen = [c for c in chosen if (low is None or c.time(unit) >= low) and (high is None or c.time(unit) <= high)]
        if not chosen:
            raise UsageError(f"no checkpoint has its {unit} in --range {range_}")
    if every is not None:
        chosen = chosen[::every]
    if max_checkpoints is not None:
        if len(chosen) > max_checkpoints:
            if max_checkpoints == 1:
                chosen = [chosen[-1]]
            else:
                step = (len(chosen) - 1) / (max_checkpoints - 1)
                chosen = [chosen[math.floor(i * step + 0.5)] for i in range(max_checkpoints)]
    return chosen


def run_dir_of(path: Path) -> Path:
    """The run directory of a checkpoint file: the folder above its checkpoint-<step>/ folder, else its own."""
    return path.parent.parent if HF_FOLDER.match(path.parent.name) else path.parent


def single(path: Path, *, trust: bool = False) -> Checkpoint:
    """One checkpoint given by its file (or Hugging Face checkpoint folder), for `entk-probe kernel`."""
    path = Path(path)
    if path.is_dir():
        weights = folder_weights(path)
        if weights is None:
            raise UsageError(f"{path} is a folder without model weights ({', '.join(HF_WEIGHTS)}); give a checkpoint file")
        path = weights
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    found = read_checkpoint(path, run_dir_of(path), trust)
    if found is None:
        raise UsageError(f"{path} is a file entk-probe wrote (a probe or a kernel), not a checkpoint")
    return found
