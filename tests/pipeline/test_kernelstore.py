"""Kernels on disk: exact round trips, cache entries read back and checked, the temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from entk_probe.analysis.blocked import working_bytes
from entk_probe.errors import KernelStoreError
from entk_probe.pipeline.cache import KernelCache
from entk_probe.pipeline.kernelstore import DiskKernels, MemoryKernels, analysis_bytes


def _kernels(count: int = 4) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(5, 5, 3, 3, generator=gen, dtype=torch.float64) for _ in range(count)]


def test_the_disk_store_round_trips_exactly_and_removes_its_folder(tmp_path: Path) -> None:
    kernels = _kernels()
    store = DiskKernels(tmp_path)
    for k in kernels:
        store.add(k)
    assert store.temporary is not None and store.temporary.parent == tmp_path and len(store) == 4
    assert all(torch.equal(a, b) and b.dtype == torch.float64 for a, b in zip(kernels, store))
    assert torch.equal(store[-1], kernels[3]) and len(store[1:3]) == 2 and torch.equal(store[1:3][0], kernels[1])
    with pytest.raises(IndexError):
        store[4]
    with store:
        pass  # closing: the folder goes
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KernelStoreError, match="removed when the store was closed"):
        store[0]
    store.close()  # twice is fine


def test_kernels_in_the_cache_are_read_from_their_entries_and_checked(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path / "cache")
    kernels = _kernels(3)
    entries = [cache.put({"checkpoint": str(i)}, k, {}) for i, k in enumerate(kernels)]
    store = DiskKernels(tmp_path / "tmp")
    for k, entry in zip(kernels, entries):
        store.add(k, entry)
    assert store.temporary is None  # nothing written twice
    assert all(torch.equal(a, b) for a, b in zip(kernels, store))
    stale = cache.put({"checkpoint": "3"}, kernels[0], {})  # an entry that does not hold the kernel in hand
    store.add(kernels[2] * 2, stale)
    assert store.temporary is not None and torch.equal(store[3], kernels[2] * 2)
    cache.put({"checkpoint": "1"}, kernels[0], {})  # another run replaces an entry meanwhile
    with pytest.raises(KernelStoreError, match="changed while the analysis was using it"):
        store[1]
    entries[2].unlink()
    with pytest.raises(KernelStoreError, match="cannot be read back"):
        store[2]
    store.close()


def test_the_memory_store_holds_its_kernels() -> None:
    kernels = _kernels(2)
    store = MemoryKernels()
    for k in kernels:
        store.add(k)
    assert len(store) == 2 and store[1] is kernels[1] and list(store) == kernels


def test_what_the_analysis_holds_does_not_grow_with_the_run() -> None:
    kb = 200 * 10**6  # a full-mode kernel at N=500 with 10 classes
    budget = 4 * 10**9
    held = [analysis_bytes(kb, count, budget) for count in (20, 100, 1000)]
    assert held[0] == held[1] == held[2] == working_bytes(kb, 3) <= budget  # blocks of 3 kernels
    assert analysis_bytes(kb, 2, budget) == working_bytes(kb, 2)
    assert analysis_bytes(kb, 100, 10**6, buffer_motion=True) == working_bytes(kb, 1)  # below one block: one block
