"""The kernel cache: keys cover what determines a kernel; nothing it holds is trusted blindly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from entk_probe.errors import EntkProbeWarning
from entk_probe.pipeline.cache import CACHE_VERSION, KernelCache, cache_key

PARTS = {"checkpoint": "abc", "probe": "def", "mode": "trace"}


def _entry(cache: KernelCache, n: int = 4) -> tuple[torch.Tensor, Path]:
    kernel = torch.randn(n, n, dtype=torch.float64)
    path = cache.put(PARTS, kernel, {"device": "cpu"})
    assert path is not None
    return kernel, path


def test_round_trip_and_misses(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path)
    assert cache.get(PARTS, 4) is None
    kernel, path = _entry(cache)
    assert torch.equal(cache.get(PARTS, 4), kernel) and path.parent.parent == tmp_path
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    assert json.loads(meta["key_parts"])["checkpoint"] == "abc" and json.loads(meta["shape"]) == [4, 4]
    assert len(meta["sha256"]) == 64 and meta["dtype"] == "float64"


def _recomputed(cache: KernelCache, n: int = 4, match: str = "") -> None:
    with pytest.warns(EntkProbeWarning, match=match) as caught:
        assert cache.get(PARTS, n) is None
    assert caught[0].message.code == "cache-invalid"  # type: ignore[union-attr]


def test_a_flipped_bit_in_the_data_is_caught_by_the_checksum(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path)
    _, path = _entry(cache)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the kernel's bytes; the header still parses
    path.write_bytes(bytes(data))
    _recomputed(cache, match="checksum does not match")


def test_an_entry_of_the_wrong_shape_or_another_key_is_not_used(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path)
    _entry(cache, n=5)
    _recomputed(cache, n=4, match=r"shape \(5, 5\)")
    other = cache.path(cache_key(**PARTS))
    save_file({"kernel": torch.eye(4, dtype=torch.float64)}, str(other), metadata={"format": "entk-probe-kernel/1"})
    _recomputed(cache, match="metadata does not name the kernel asked for")


def test_a_torn_entry_is_recomputed(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path)
    _, path = _entry(cache)
    path.write_bytes(b"torn")
    _recomputed(cache, match="cannot be read")


def test_a_failed_write_is_a_warning_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    cache = KernelCache(tmp_path / "file")  # every entry path is under a regular file
    with pytest.warns(EntkProbeWarning, match="could not write the kernel cache entry") as caught:
        assert cache.put(PARTS, torch.eye(3, dtype=torch.float64), {}) is None
    assert caught[0].message.code == "cache-write-failed"  # type: ignore[union-attr]
    assert os.listdir(tmp_path) == ["file"]


def test_keys_depend_on_every_part() -> None:
    base = dict(checkpoint="a", weights="raw", probe="p", mode="trace", dtype="float32", params=None)
    keys = {cache_key(**base)}
    for name, other in (("checkpoint", "b"), ("weights", "ema"), ("probe", "q"), ("mode", "full"), ("dtype", "float64"), ("params", "fc.*")):
        keys.add(cache_key(**{**base, name: other}))
    assert len(keys) == 7
    assert cache_key(**base) == cache_key(**dict(reversed(list(base.items()))))  # order does not matter
    assert CACHE_VERSION >= 2


def test_default_location_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENTK_PROBE_CACHE", str(tmp_path / "c"))
    assert KernelCache().root == tmp_path / "c"
