"""The kernel cache: keys cover what determines a kernel; bad entries are misses."""

from __future__ import annotations

from pathlib import Path

import torch

from entk_probe.pipeline.cache import CACHE_VERSION, KernelCache, cache_key


def test_round_trip_and_misses(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path)
    key = cache_key(checkpoint="abc", probe="def", mode="trace")
    assert cache.get(key) is None
    kernel = torch.randn(4, 4, dtype=torch.float64)
    path = cache.put(key, kernel, {"device": "cpu"})
    assert torch.equal(cache.get(key), kernel) and path.parent.parent == tmp_path
    path.write_bytes(b"torn")
    assert cache.get(key) is None


def test_keys_depend_on_every_part() -> None:
    base = dict(checkpoint="a", weights="raw", probe="p", mode="trace", dtype="float32", params=None)
    keys = {cache_key(**base)}
    for name, other in (("checkpoint", "b"), ("weights", "ema"), ("probe", "q"), ("mode", "full"), ("dtype", "float64"), ("params", "fc.*")):
        keys.add(cache_key(**{**base, name: other}))
    assert len(keys) == 7
    assert cache_key(**base) == cache_key(**dict(reversed(list(base.items()))))  # order does not matter
    assert CACHE_VERSION >= 1


def test_default_location_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENTK_PROBE_CACHE", str(tmp_path / "c"))
    assert KernelCache().root == tmp_path / "c"
