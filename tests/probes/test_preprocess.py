"""Channels, resizing and normalisation of probe images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from entk_probe.errors import ProbeError
from entk_probe.errors import UsageError
from entk_probe.probes.preprocess import PRESETS, Normalization, convert_channels, normalize, parse_normalize, resize, to_tensor


def test_to_tensor_scales_uint8_to_unit_interval() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    (t,) = to_tensor([image])
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32
    assert torch.equal(t[1, 0, 2], torch.tensor(image[0, 2, 1] / 255.0, dtype=torch.float32))


def test_channel_conversions() -> None:
    grey = torch.rand(1, 4, 4)
    rgb, note = convert_channels(grey, 3)
    assert torch.equal(rgb, grey.repeat(3, 1, 1)) and "grey -> RGB" in note
    colour = torch.rand(3, 4, 4)
    luma, note = convert_channels(colour, 1)
    torch.testing.assert_close(luma[0], 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2])
    assert convert_channels(colour, 3) == (colour, None)
    with pytest.raises(ProbeError, match="4 channels and the model takes 3"):
        convert_channels(torch.rand(4, 2, 2), 3)


def test_resize_is_antialiased_bilinear() -> None:
    image = torch.rand(1, 28, 28)
    out, note = resize(image, (32, 32))
    expected = F.interpolate(image[None], size=(32, 32), mode="bilinear", antialias=True)[0]
    assert torch.equal(out, expected) and note.startswith("resized 28x28 -> 32x32")
    assert resize(image, (28, 28)) == (image, None)


def test_normalize_per_channel() -> None:
    batch = torch.rand(2, 3, 4, 4)
    norm = Normalization((0.1, 0.2, 0.3), (0.5, 0.25, 2.0), "test")
    out = normalize(batch, norm)
    torch.testing.assert_close(out[:, 1], (batch[:, 1] - 0.2) / 0.25)
    assert normalize(batch, Normalization(None, None, "none")) is batch
    with pytest.raises(ProbeError, match="1 channel.*inputs have 3"):
        normalize(batch, Normalization((0.5,), (0.5,), "mnist"))


def test_parse_normalize() -> None:
    assert parse_normalize("cifar").std == (0.2470, 0.2435, 0.2616)
    assert parse_normalize("cifar-2023").std == (0.2023, 0.1994, 0.2010)
    assert parse_normalize("NONE").mean is None
    custom = parse_normalize("0.5,0.5/0.25,0.2")
    assert custom.mean == (0.5, 0.5) and custom.std == (0.25, 0.2) and "0.5,0.5/0.25,0.2" in custom.source
    for bad in ("cifar11", "0.5/0", "0.5,0.5/0.2", "a/b"):
        with pytest.raises(UsageError, match="--normalize"):
            parse_normalize(bad)
    assert set(PRESETS) >= {"cifar", "imagenet", "mnist", "fashion-mnist"}
