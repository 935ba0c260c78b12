"""The conditions the engine runs under: eval mode, and float32 without TF32.

Both are context managers that restore the caller's state on the way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .errors import warn


def _precision_settings() -> list[tuple[object, str]]:
    """The (object, attribute) pairs that let float32 matmuls and convolutions use TF32."""
    backends = torch.backends
    if hasattr(backends.cuda.matmul, "fp32_precision"):  # torch >= 2.9: per-backend precision
        pairs: list[tuple[object, str]] = [(backends.cuda.matmul, "fp32_precision")]
        for holder in (backends.cudnn, getattr(backends.cudnn, "conv", None),
                       getattr(backends.cudnn, "rnn", None)):
            if holder is not None and hasattr(holder, "fp32_precision"):
                pairs.append((holder, "fp32_precision"))
        return pairs
    return [(backends.cuda.matmul, "allow_tf32"), (backends.cudnn, "allow_tf32")]


@contextmanager
def exact_float32() -> Iterator[None]:
    """Turn TF32 (and reduced-precision float32 matmul) off; restore the caller's settings after."""
    pairs = _precision_settings()
    saved = [getattr(obj, attr) for obj, attr in pairs]
    saved_matmul = torch.get_float32_matmul_precision()
    try:
        for obj, attr in pairs:
            setattr(obj, attr, "ieee" if attr == "fp32_precision" else False)
        torch.set_float32_matmul_precision("highest")
        yield
    finally:
        torch.set_float32_matmul_precision(saved_matmul)
        for (obj, attr), value in zip(pairs, saved):
            setattr(obj, attr, value)


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
            "running statistics, dropout is off) and the training flags are restored afterwards"
        )
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
