"""Checkpoints of a run: discovery, order and safe loading.

This first version reads safetensors files (``*.safetensors``) whose metadata may record
``step``, ``epoch`` and ``arch``. Torch pickles, Lightning and Hugging Face layouts come next
(issue 3).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file
from torch import Tensor

from .errors import EntkProbeError, UsageError


class CheckpointError(EntkProbeError):
    """A checkpoint cannot be found, read or ordered."""


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file and what its metadata says about it."""

    path: Path
    step: int | None
    epoch: float | None
    arch: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def time(self) -> float | None:
        """Epoch where known, else step (DESIGN.md)."""
        return self.epoch if self.epoch is not None else (None if self.step is None else float(self.step))


def _number(metadata: dict[str, str], key: str, kind: type, path: Path) -> int | float | None:
    if key not in metadata:
        return None
    try:
        return kind(metadata[key])
    except ValueError:
        raise CheckpointError(f"{path}: metadata {key}={metadata[key]!r} is not a number") from None


def _numbers_in_name(path: Path) -> tuple[int, ...]:
    return tuple(int(s) for s in re.findall(r"\d+", path.name))


def read_checkpoint(path: Path) -> Checkpoint:
    """Read the metadata of one safetensors checkpoint (no tensors are loaded)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = dict(fh.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    return Checkpoint(
        path=path,
        step=_number(metadata, "step", int, path),
        epoch=_number(metadata, "epoch", float, path),
        arch=metadata.get("arch"),
        metadata=metadata,
    )


def discover(run_dir: Path) -> list[Checkpoint]:
    """The checkpoints of ``run_dir`` in training order: by epoch, then step, then file name numbers."""
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist or is not a directory")
    found = [read_checkpoint(p) for p in sorted(run_dir.glob("*.safetensors"))]
    if not found:
        raise CheckpointError(f"{run_dir} holds no checkpoint (*.safetensors)")

    def key(c: Checkpoint) -> tuple:
        return (
            c.epoch if c.epoch is not None else float("inf"),
            c.step if c.step is not None else float("inf"),
            _numbers_in_name(c.path),
        )

    return sorted(found, key=key)


def load_weights(checkpoint: Checkpoint) -> dict[str, Tensor]:
    """The checkpoint's tensors, on the CPU."""
    return load_file(str(checkpoint.path), device="cpu")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
