"""The example plugins users copy: ResNet-20 for CIFAR (He et al.) and a small MLP."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from entk_probe.runs.registry import ModelRegistry

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    fresh = ModelRegistry()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("entk_probe.runs.registry.REGISTRY", fresh)
        assert sorted(fresh.load_plugins(PLUGINS)) == ["mlp_28", "resnet20_cifar"]
    return fresh


def test_resnet20_is_the_paper_architecture(registry: ModelRegistry) -> None:
    entry = registry.get("resnet20_cifar")
    model = entry.factory()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 20  # 1 + 3 stages x 3 blocks x 2 + 1: the 20 weighted layers
    assert sum(p.numel() for p in model.parameters()) == 269_722  # "0.27M" in He et al., table 6
    assert [c.out_channels for c in convs[1::6]] == [16, 32, 64]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert entry.input_size == (3, 32, 32) and entry.std == (0.2470, 0.2435, 0.2616)


def test_option_a_shortcut_is_a_padded_identity(registry: ModelRegistry) -> None:
    block = registry.get("resnet20_cifar").factory().layer2[0]
    x = torch.randn(1, 16, 8, 8)
    short = block.shortcut(x)
    assert short.shape == (1, 32, 4, 4)
    assert torch.equal(short[:, 8:24], x[:, :, ::2, ::2]) and not short[:, :8].any() and not short[:, 24:].any()


def test_mlp_28(registry: ModelRegistry) -> None:
    entry = registry.get("mlp_28")
    model = entry.factory(num_classes=4, width=32)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 4)
    assert entry.input_size == (1, 28, 28)
