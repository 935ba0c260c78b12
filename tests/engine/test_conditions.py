"""Eval mode and exact float32: both restore the caller's state, even on errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from entk_probe.engine.conditions import eval_mode, exact_float32
from entk_probe.errors import EntkProbeWarning

NEW_API = hasattr(torch.backends.cuda.matmul, "fp32_precision")


def test_eval_mode_restores_each_flag_even_after_an_exception() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.BatchNorm1d(2))
    model[1].eval()
    flags = [m.training for m in model.modules()]
    with pytest.warns(EntkProbeWarning, match="training mode"), pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            assert not any(m.training for m in model.modules())
            raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == flags


@pytest.mark.skipif(not NEW_API, reason="torch < 2.9 has only the legacy allow_tf32 flags")
def test_exact_float32_sets_every_backend_to_ieee_and_restores_the_callers_values() -> None:
    backends = torch.backends
    holders = {"cuda.matmul": backends.cuda.matmul, "cudnn.conv": backends.cudnn.conv,
               "mkldnn.matmul": backends.mkldnn.matmul}
    saved = {k: h.fp32_precision for k, h in holders.items()}
    try:
        backends.cuda.matmul.fp32_precision = "tf32"
        backends.cudnn.conv.fp32_precision = "tf32"
        backends.mkldnn.matmul.fp32_precision = "bf16"
        with exact_float32():
            assert {k: h.fp32_precision for k, h in holders.items()} == dict.fromkeys(holders, "ieee")
        assert [h.fp32_precision for h in holders.values()] == ["tf32", "tf32", "bf16"]
    finally:
        for k, h in holders.items():
            h.fp32_precision = saved[k]


@pytest.mark.skipif(NEW_API, reason="the legacy flags are not read on torch >= 2.9")
def test_exact_float32_with_the_legacy_flags() -> None:
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        with exact_float32():
            assert torch.backends.cuda.matmul.allow_tf32 is False
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
