"""Models: building the network a checkpoint's weights belong to (timm architectures)."""

from __future__ import annotations

import timm
from torch import Tensor, nn

from .errors import EntkProbeError


class ModelBuildError(EntkProbeError):
    """The architecture is unknown, or the weights do not fit it."""


def build_model(arch: str, weights: dict[str, Tensor], num_classes: int | None = None) -> nn.Module:
    """A timm model ``arch`` (never pretrained, never downloaded) with ``weights`` loaded strictly."""
    if arch not in timm.list_models():
        raise ModelBuildError(f"unknown architecture {arch!r}: `entk-probe models` lists what timm provides")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    model = timm.create_model(arch, pretrained=False, **kwargs)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelBuildError(f"weights do not fit {arch!r}: {str(exc).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ModelBuildError(
            f"weights do not fit {arch!r}: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    return model.eval()


def input_size(model: nn.Module) -> tuple[int, ...]:
    """The (C, H, W) input size a timm model was configured for."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    size = cfg.get("input_size")
    if size is None:
        raise ModelBuildError("the model does not say which input size it expects")
    return tuple(size)
