"""The conditions the engine runs under: eval mode, and float32 without TF32 or bf16.

Both are context managers that restore the caller's state on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import warn

_NEW_API_HOLDERS = ("", "cuda.matmul", "cudnn", "cudnn.conv", "cudnn.rnn",
                    "mkldnn", "mkldnn.matmul", "mkldnn.conv", "mkldnn.rnn")


def _holders() -> list[object]:
    """torch.backends objects with an ``fp32_precision`` setting (torch >= 2.9), root included."""
    found = []
    for path in _NEW_API_HOLDERS:
        obj: object | None = torch.backends
        for part in filter(None, path.split(".")):
            obj = getattr(obj, part, None)
        if obj is not None and hasattr(obj, "fp32_precision"):
            found.append(obj)
    return found


@contextmanager
def exact_float32() -> Iterator[None]:
    """Turn TF32 and bf16 float32 arithmetic off (CUDA, cuDNN, oneDNN); restore the caller's settings.

    On torch >= 2.9 only the per-backend ``fp32_precision`` settings are touched: torch raises
    when the legacy ones are read after a caller set the new ones.
    """
    holders = _holders()
    if holders:
        saved = [h.fp32_precision for h in holders]  # type: ignore[attr-defined]
        try:
            for h in holders:
                h.fp32_precision = "ieee"  # type: ignore[attr-defined]
            yield
        finally:
            for h, value in zip(holders, saved):
                h.fp32_precision = value  # type: ignore[attr-defined]
        return
    cuda_matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved_legacy = cuda_matmul.allow_tf32, cudnn.allow_tf32, torch.get_float32_matmul_precision()
    try:
        cuda_matmul.allow_tf32 = cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        yield
    finally:
        cuda_matmul.allow_tf32, cudnn.allow_tf32 = saved_legacy[:2]
        torch.set_float32_matmul_precision(saved_legacy[2])


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode, then give every submodule back its own training flag.

    Warns when any submodule was in training mode: the eNTK is defined for the eval-mode
    network (BatchNorm with running statistics, dropout off).
    """
    flags = [(module, module.training) for module in model.modules()]
    if any(flag for _, flag in flags):
        warn(
            "the model was in training mode; the eNTK is computed in eval mode (BatchNorm uses "
            "running statistics, dropout is off) and the training flags are restored afterwards",
            code="training-mode",
        )
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
