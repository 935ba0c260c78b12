"""Token inputs: how a text probe's tensors travel through entk-probe as one tensor.

A text probe is a mapping of integer tensors of one shape (N, L): ``input_ids``,
``attention_mask`` and, where the tokenizer gives them, ``token_type_ids``. Everything that
handles probes (selection, hashing, probe files, chunking in the engine, the kernel cache) works
on one tensor whose first dimension is the sample, so the mapping is packed into an int64
tensor (N, K, L), its K planes in ``TOKEN_KEYS`` order, and unpacked where a model is called.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..errors import UsageError

# The keys a packed tensor may hold, in plane order; input_ids and attention_mask always.
TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")
REQUIRED_KEYS = TOKEN_KEYS[:2]


def pack(inputs: Mapping[str, Tensor]) -> tuple[Tensor, tuple[str, ...]]:
    """Integer tensors of one shape (N, L) by name, as (packed (N, K, L) int64, their keys in plane order)."""
    unknown = sorted(set(inputs) - set(TOKEN_KEYS))
    if unknown:
        raise UsageError(f"token inputs hold {', '.join(unknown)}: entk-probe takes {', '.join(TOKEN_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in inputs]
    if missing:
        raise UsageError(f"token inputs need {', '.join(missing)} besides {', '.join(inputs) or 'nothing'}")
    keys = tuple(k for k in TOKEN_KEYS if k in inputs)
    shapes = {tuple(inputs[k].shape) for k in keys}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise UsageError(f"token inputs must all have one shape (N, L), got {sorted(shapes)}")
    for k in keys:
        if inputs[k].is_floating_point() or inputs[k].is_complex():
            raise UsageError(f"token input {k} must hold integers, not {inputs[k].dtype}")
    return torch.stack([inputs[k].long() for k in keys], dim=1).contiguous(), keys  # (N, K, L)


def unpack(packed: Tensor, keys: tuple[str, ...]) -> dict[str, Tensor]:
    """The mapping {key: (n, L)} a packed tensor (n, K, L) holds."""
    return {k: packed[:, i] for i, k in enumerate(keys)}
