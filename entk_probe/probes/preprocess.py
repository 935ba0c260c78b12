"""Turning decoded images into model inputs: channels, size, normalisation.

Several CIFAR constants circulate: the per-channel std over the training pixels is
(0.2470, 0.2435, 0.2616) (``cifar``), while many code bases copy (0.2023, 0.1994, 0.2010)
(``cifar-2023``, the mean of per-image stds; on the 4,000 training images in ../shared/data:
0.2471/0.2440/0.2625 against 0.2034/0.2003/0.2021). The report always prints the values used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ProbeError
from ..errors import UsageError

PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar-2023": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
}
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's RGB -> L


@dataclass(frozen=True)
class Normalization:
    """Per-channel (x - mean) / std, or none; ``source`` says who chose it."""

    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    source: str

    def describe(self) -> str:
        if self.mean is None:
            return f"none ({self.source})"
        return f"mean {list(self.mean)} std {list(self.std or ())} ({self.source})"


def parse_normalize(text: str) -> Normalization:
    """``--normalize``: a preset name, ``none``, or ``MEAN/STD`` with comma-separated values."""
    key = text.strip().lower()
    if key == "none":
        return Normalization(None, None, "--normalize none")
    if key in PRESETS:
        mean, std = PRESETS[key]
        return Normalization(mean, std, f"--normalize {key}")
    mean_text, sep, std_text = text.partition("/")
    try:
        mean = tuple(float(v) for v in mean_text.split(","))
        std = tuple(float(v) for v in std_text.split(","))
    except ValueError:
        mean = std = ()
    if not sep or not mean or len(mean) != len(std) or any(s <= 0 for s in std):
        raise UsageError(
            f"--normalize {text!r}: give one of {', '.join(['none', *PRESETS])}, or MEAN/STD such as "
            "0.5,0.5,0.5/0.25,0.25,0.25 (one value per channel, positive std)"
        )
    return Normalization(mean, std, f"--normalize {text}")


def to_tensor(images: Sequence[np.ndarray]) -> list[Tensor]:
    """uint8 (H, W, C) images as float32 (C, H, W) tensors in [0, 1]."""
    return [torch.from_numpy(np.array(im, dtype=np.uint8, copy=True)).permute(2, 0, 1).float() / 255.0 for im in images]


def convert_channels(image: Tensor, channels: int) -> tuple[Tensor, str | None]:
    """(C, H, W) to ``channels``: grey to RGB by repetition, RGB to grey by BT.601 luma."""
    have = image.shape[0]
    if have == channels:
        return image, None
    if have == 1 and channels == 3:
        return image.expand(3, -1, -1).clone(), "grey -> RGB (channel repeated)"
    if have == 3 and channels == 1:
        luma = torch.tensor(_LUMA, dtype=image.dtype).view(3, 1, 1)
        return (image * luma).sum(0, keepdim=True), "RGB -> grey (BT.601 luma)"
    raise ProbeError(f"the images have {have} channels and the model takes {channels}: no conversion applies")


def resize(image: Tensor, size: tuple[int, int]) -> tuple[Tensor, str | None]:
    """(C, H, W) to ``size`` (H, W) by antialiased bilinear interpolation."""
    if tuple(image.shape[1:]) == tuple(size):
        return image, None
    out = F.interpolate(image.unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False)
    return out.squeeze(0), f"resized {image.shape[1]}x{image.shape[2]} -> {size[0]}x{size[1]} (bilinear, antialiased)"


def normalize(batch: Tensor, norm: Normalization) -> Tensor:
    """(N, C, H, W) normalised per channel; the channel counts must agree."""
    if norm.mean is None:
        return batch
    channels = batch.shape[1]
    if len(norm.mean) != channels:
        raise ProbeError(
            f"normalisation from {norm.source} has {len(norm.mean)} channel(s) but the inputs have {channels}; "
            "pass --normalize with matching values"
        )
    mean = torch.tensor(norm.mean, dtype=batch.dtype).view(1, -1, 1, 1)
    std = torch.tensor(norm.std, dtype=batch.dtype).view(1, -1, 1, 1)
    return (batch - mean) / std
