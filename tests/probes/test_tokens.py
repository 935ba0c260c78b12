"""Packed token inputs: pack and unpack, and what pack refuses."""

from __future__ import annotations

import pytest
import torch

from entk_probe.errors import UsageError
from entk_probe.probes.tokens import TOKEN_KEYS, pack, unpack


def test_pack_orders_planes_and_unpack_gives_them_back() -> None:
    ids = torch.tensor([[5, 6, 0], [7, 0, 0]], dtype=torch.int32)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    types = torch.tensor([[0, 1, 0], [0, 0, 0]])
    packed, keys = pack({"token_type_ids": types, "attention_mask": mask, "input_ids": ids})
    assert keys == TOKEN_KEYS and packed.shape == (2, 3, 3) and packed.dtype == torch.int64
    assert packed[:, 0].tolist() == ids.tolist() and packed[:, 2].tolist() == types.tolist()
    back = unpack(packed[1:], keys)
    assert list(back) == list(TOKEN_KEYS) and back["attention_mask"].tolist() == [[1, 0, 0]]
    assert pack({"input_ids": ids, "attention_mask": mask})[1] == ("input_ids", "attention_mask")


@pytest.mark.parametrize("inputs, match", [
    ({"input_ids": torch.zeros(2, 3, dtype=torch.long)}, "need attention_mask"),
    ({"input_ids": torch.zeros(2, 3), "attention_mask": torch.zeros(2, 3)}, "must hold integers"),
    ({"input_ids": torch.zeros(2, 3, dtype=torch.long), "attention_mask": torch.zeros(2, 4, dtype=torch.long)}, "one shape"),
    ({"input_ids": torch.zeros(2, 3, dtype=torch.long), "attention_mask": torch.zeros(2, 3, dtype=torch.long),
      "pixel_values": torch.zeros(2, 3, dtype=torch.long)}, "hold pixel_values"),
])
def test_pack_refuses_what_is_not_token_inputs(inputs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        pack(inputs)
