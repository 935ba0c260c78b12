"""A cache of computed kernels, so that re-analysing a run (other thresholds, more checkpoints)
does not recompute the kernels it already has.

A kernel is stored under the sha256 of everything that determines it: the checkpoint's bytes
(sha256) and which weights were taken, the architecture and factory arguments, the probe's input
tensor (sha256), the kernel mode, the Jacobian and product dtypes, the parameter filter, and
``CACHE_VERSION`` (raised whenever the engine's numbers or the entry format change). Files are
safetensors, written atomically, under ``ENTK_PROBE_CACHE`` or ``~/.cache/entk-probe/kernels``.

Nothing read from the cache is trusted blindly: an entry carries its full key and the sha256 of
its kernel's bytes in its metadata, and is used only when both match and its shape is that of
the probe; an entry that does not match or cannot be read is recomputed, with a warning naming
it. The cache is never the reason an analysis fails: a failed write is a warning too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from .. import __version__
from ..atomic import write_atomically, write_error_cause
from ..errors import warn

CACHE_VERSION = 2  # 2: entries carry their key and a checksum
KERNEL_FORMAT = "entk-probe-kernel/1"


def default_cache_dir() -> Path:
    if os.environ.get("ENTK_PROBE_CACHE"):
        return Path(os.environ["ENTK_PROBE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "entk-probe" / "kernels"


def _canonical(parts: dict[str, Any]) -> str:
    return json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)


def cache_key(**parts: Any) -> str:
    """sha256 of the parts as canonical JSON, with the cache version."""
    return hashlib.sha256(_canonical(parts).encode()).hexdigest()


def kernel_sha256(kernel: Tensor) -> str:
    """sha256 of a kernel's float64 bytes in C order."""
    return hashlib.sha256(kernel.detach().cpu().double().contiguous().numpy().tobytes()).hexdigest()


def _shape_problem(kernel: Tensor, n: int | None) -> str | None:
    shape = tuple(kernel.shape)
    square = len(shape) == 2 or (len(shape) == 4 and shape[2] == shape[3])
    if not square or shape[0] != shape[1] or (n is not None and shape[0] != n):
        return f"its kernel has shape {shape}, not that of a kernel over {n if n is not None else 'N'} probe inputs"
    return None


class KernelCache:
    """Kernels by key in a folder; what is missing, foreign or damaged is a miss, never an error."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.root / key[:2] / f"{key}.safetensors"

    def has(self, parts: dict[str, Any]) -> bool:
        """Whether an entry for ``parts`` exists (it is checked only when read)."""
        return self.path(cache_key(**parts)).is_file()

    def get(self, parts: dict[str, Any], n: int | None = None) -> Tensor | None:
        """The kernel cached for ``parts`` (over ``n`` probe inputs), or None; a bad entry is warned about."""
        key = cache_key(**parts)
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = dict(fh.metadata() or {})
                kernel = fh.get_tensor("kernel")
        except Exception as exc:  # a torn or foreign file
            problem: str | None = f"it cannot be read ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
        else:
            problem = self._problem(meta, kernel, key, parts, n)
        if problem:
            warn(f"kernel cache entry {path}: {problem}; computing the kernel again", code="cache-invalid")
            return None
        return kernel

    @staticmethod
    def _problem(meta: dict[str, str], kernel: Tensor, key: str, parts: dict[str, Any], n: int | None) -> str | None:
        if meta.get("format") != KERNEL_FORMAT or meta.get("key") != key or meta.get("key_parts") != _canonical(parts):
            return "its metadata does not name the kernel asked for"
        if meta.get("sha256") != kernel_sha256(kernel):
            return "its kernel's checksum does not match (the file was damaged or changed)"
        return _shape_problem(kernel, n)

    def put(self, parts: dict[str, Any], kernel: Tensor, metadata: dict[str, str]) -> Path | None:
        """Store ``kernel`` for ``parts``; returns its path, or None (with a warning) when it cannot be written."""
        key = cache_key(**parts)
        meta = {"format": KERNEL_FORMAT, "key": key, "key_parts": _canonical(parts), "sha256": kernel_sha256(kernel),
                "shape": json.dumps(list(kernel.shape)), "dtype": str(kernel.dtype).removeprefix("torch."),
                "tool_version": __version__, **metadata}
        path = self.path(key)
        try:
            return write_atomically(path, lambda tmp: save_file({"kernel": kernel.contiguous()}, str(tmp), metadata=meta))
        except (OSError, SafetensorError) as exc:  # safetensors reports I/O errors in its own type
            warn(f"could not write the kernel cache entry {path} ({write_error_cause(exc)}); the analysis goes on without caching it "
                 "(ENTK_PROBE_CACHE sets another folder, --no-cache turns the cache off)", code="cache-write-failed")
            return None
