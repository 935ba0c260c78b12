"""A probe's identity: the sha256 of its input tensor's bytes."""

from __future__ import annotations

import hashlib

import torch

from entk_probe.probes.probe import tensor_sha256


def test_sha256_is_of_the_float32_bytes_in_c_order() -> None:
    x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    assert tensor_sha256(x) == hashlib.sha256(x.numpy().tobytes()).hexdigest()
    assert tensor_sha256(x.transpose(1, 2).contiguous().transpose(1, 2)) == tensor_sha256(x)  # layout does not matter
    y = x.clone()
    y[1, 2, 3] += 1e-6
    assert tensor_sha256(y) != tensor_sha256(x)


def test_sha256_of_packed_tokens_is_of_their_int64_bytes() -> None:
    tokens = torch.arange(2 * 3 * 5, dtype=torch.int64).reshape(2, 3, 5)
    assert tensor_sha256(tokens) == hashlib.sha256(tokens.numpy().astype("<i8").tobytes()).hexdigest()
    assert tensor_sha256(tokens) != tensor_sha256(tokens.float())  # the dtype's own bytes, not float32's
    changed = tokens.clone()
    changed[1, 1, 4] = 0
    assert tensor_sha256(changed) != tensor_sha256(tokens)
