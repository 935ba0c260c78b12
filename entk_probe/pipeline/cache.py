"""A cache of computed kernels, so that re-analysing a run (other thresholds, more checkpoints)
does not recompute the kernels it already has.

A kernel is stored under the sha256 of everything that determines it: the checkpoint's bytes
(sha256) and which weights were taken, the architecture and factory arguments, the probe's input
tensor (sha256), the kernel mode, the Jacobian dtype, the parameter filter, and
``CACHE_VERSION`` (raised whenever the engine's numbers change). Files are safetensors, written
atomically, under ``ENTK_PROBE_CACHE`` or ``~/.cache/entk-probe/kernels``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from ..atomic import write_atomically

CACHE_VERSION = 1
KERNEL_FORMAT = "entk-probe-kernel/1"


def default_cache_dir() -> Path:
    if os.environ.get("ENTK_PROBE_CACHE"):
        return Path(os.environ["ENTK_PROBE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "entk-probe" / "kernels"


def cache_key(**parts: Any) -> str:
    """sha256 of the parts as canonical JSON, with the cache version."""
    text = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class KernelCache:
    """Kernels by key in a folder; a missing or unreadable entry is a miss, never an error."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, key: str) -> Tensor | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as fh:
                return fh.get_tensor("kernel")
        except Exception:  # a torn or foreign file: recompute rather than fail
            return None

    def put(self, key: str, kernel: Tensor, metadata: dict[str, str]) -> Path:
        meta = {"format": KERNEL_FORMAT, "key": key, **metadata}
        return write_atomically(self._path(key), lambda tmp: save_file({"kernel": kernel.contiguous()}, str(tmp), metadata=meta))
