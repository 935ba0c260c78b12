"""Where a run's kernels wait for the analysis: on disk, read back one at a time when indexed.

A store is a sequence of kernels (float64 tensors, (N, N) or (N, N, C, C)) in analysis order:
``store[i]`` loads kernel i, so ``summary.summarize`` and the writers take it as they take a
list, and only what they index is in memory. ``DiskKernels`` keeps no kernel in memory: a kernel
that is in the kernel cache is read back from its cache entry (nothing is written twice); any
other (``--no-cache``, or a cache entry that could not be written) goes to a private temporary
folder under ``TMPDIR`` that ``close()`` removes, and failing that the garbage collector or the
interpreter's exit. ``MemoryKernels`` holds them, for small runs and tests.

A cache entry is shared with other runs; each is checked when added (its recorded sha256 must be
that of the kernel in hand: one hash per kernel) and when read back (its metadata must still
name that sha256), so that an entry replaced or removed meanwhile is an error and never a
different kernel.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from ..analysis.blocked import block_size, working_bytes
from ..atomic import write_error_cause
from ..engine.memory import default_budget, parse_bytes
from ..errors import KernelStoreError
from .cache import kernel_sha256


def analysis_budget(max_memory: int | str | None) -> int:
    """Bytes the analysis of the kernels may hold: ``--max-memory``, else half of the host memory free."""
    return parse_bytes(max_memory) if max_memory is not None else default_budget(torch.device("cpu"))


def analysis_bytes(kernel_bytes: int, count: int, budget: int, buffer_motion: bool = False) -> int:
    """Peak bytes of kernels the analysis holds for ``count`` kernels of ``kernel_bytes`` under ``budget``:
    the blocked pairwise products' (``analysis.blocked``), or with ``buffer_motion`` the three kernels of a
    step (previous, mixed, current) if more."""
    held = working_bytes(kernel_bytes, block_size(kernel_bytes, budget, count)) if count else 0
    return max(held, 3 * kernel_bytes if buffer_motion else 0)


class KernelStore(Sequence[Tensor]):
    """A run's kernels in analysis order; ``store[i]`` is kernel i (loaded when asked for)."""

    def add(self, kernel: Tensor, entry: Path | None = None) -> None:
        """Append ``kernel``; ``entry`` is the kernel cache file that holds it, when there is one."""
        raise NotImplementedError

    def load(self, i: int) -> Tensor:
        """Kernel i (0 <= i < len)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the store holds (its temporary folder); kernels in the cache stay there."""

    @overload
    def __getitem__(self, i: int) -> Tensor: ...

    @overload
    def __getitem__(self, i: slice) -> list[Tensor]: ...

    def __getitem__(self, i: int | slice) -> Tensor | list[Tensor]:
        if isinstance(i, slice):
            return [self.load(j) for j in range(len(self))[i]]
        if not -len(self) <= i < len(self):
            raise IndexError(f"kernel {i} of {len(self)}")
        return self.load(i % len(self))

    def __iter__(self) -> Iterator[Tensor]:
        return (self.load(i) for i in range(len(self)))

    def __enter__(self) -> KernelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryKernels(KernelStore):
    """Every kernel in memory, as a list holds them."""

    def __init__(self, kernels: Sequence[Tensor] = ()) -> None:
        self._kernels = list(kernels)

    def add(self, kernel: Tensor, entry: Path | None = None) -> None:
        self._kernels.append(kernel)

    def load(self, i: int) -> Tensor:
        return self._kernels[i]

    def __len__(self) -> int:
        return len(self._kernels)


def _entry_sha256(path: Path) -> str | None:
    """The sha256 a kernel cache entry's metadata names, or None when it cannot be read."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return (fh.metadata() or {}).get("sha256")
    except (OSError, SafetensorError):
        return None


class DiskKernels(KernelStore):
    """Kernels on disk: cache entries where they are in the cache, else files in a temporary folder.

    ``folder`` is where the temporary folder is made (default: ``tempfile``'s, i.e. ``TMPDIR``);
    it is made only when a kernel needs it. ``temporary`` is that folder once made (None before).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._parent = folder
        self._items: list[tuple[Path, str | None]] = []  # (file, the sha256 a cache entry must name; None: ours)
        self.temporary: Path | None = None
        self._cleanup: weakref.finalize | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, kernel: Tensor, entry: Path | None = None) -> None:
        if entry is not None:
            sha = kernel_sha256(kernel)
            if _entry_sha256(entry) == sha:  # the entry holds this very kernel: read it back from there
                self._items.append((entry, sha))
                return
        self._items.append((self._write(kernel), None))

    def _write(self, kernel: Tensor) -> Path:
        """Write ``kernel`` into the temporary folder (made on first use); its path."""
        if self.temporary is None:
            try:
                if self._parent is not None:
                    self._parent.mkdir(parents=True, exist_ok=True)
                self.temporary = Path(tempfile.mkdtemp(prefix="entk-probe-kernels-", dir=self._parent))
            except OSError as exc:
                raise KernelStoreError(f"could not make a temporary folder for the kernels in "
                                       f"{self._parent or tempfile.gettempdir()} ({write_error_cause(exc)}); "
                                       "TMPDIR sets another folder") from exc
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.temporary), True)
        path = self.temporary / f"{len(self._items)}.safetensors"
        try:
            save_file({"kernel": kernel.detach().cpu().contiguous()}, str(path))
        except (OSError, SafetensorError) as exc:  # safetensors reports I/O errors in its own type
            raise KernelStoreError(f"could not write a kernel to the temporary folder {self.temporary} "
                                   f"({write_error_cause(exc)}); TMPDIR sets another folder") from exc
        return path

    def load(self, i: int) -> Tensor:
        path, sha = self._items[i]
        if sha is None and self._cleanup is not None and not self._cleanup.alive:
            raise KernelStoreError(f"kernel {i} was in the temporary folder {self.temporary}, removed when the store "
                                   "was closed: read the kernels before closing it")
        try:
            with safe_open(str(path), framework="pt") as fh:
                if sha is not None and (fh.metadata() or {}).get("sha256") != sha:
                    raise KernelStoreError(f"the kernel cache entry {path} changed while the analysis was using it "
                                           "(another run or a cleanup replaced it); run the analysis again")
                return fh.get_tensor("kernel").to(torch.float64)
        except (OSError, SafetensorError) as exc:
            where = "kernel cache entry" if sha is not None else "temporary kernel file"
            raise KernelStoreError(f"the {where} {path} cannot be read back ({str(exc).splitlines()[0][:120]}): "
                                   "was it removed while the analysis ran? run the analysis again") from exc

    def close(self) -> None:
        """Remove the temporary folder and what it holds (at once; idempotent)."""
        if self._cleanup is not None:
            self._cleanup()
