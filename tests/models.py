"""Small models of every kind the engine must handle, in float64, with inputs to match.

All are in eval mode except the BatchNorm/Dropout CNN, which is left training as a training loop
leaves it.
"""

from __future__ import annotations

import timm
import torch
from torch import Tensor, nn


def mlp() -> tuple[nn.Module, Tensor]:
    model = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3))
    return model.double().eval(), torch.randn(7, 5, dtype=torch.float64)


def cnn_bn_dropout() -> tuple[nn.Module, Tensor]:
    """A CNN whose BatchNorm has non-trivial running statistics and whose Dropout is active in train mode."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
        nn.Conv2d(4, 6, 3, stride=2), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(6, 4),
    ).double()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0.0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.normal_(module.weight, 1.0, 0.2)
            nn.init.normal_(module.bias, 0.0, 0.2)
    model.train()  # as a training loop leaves it: the engine must switch to eval itself
    return model, torch.randn(5, 3, 8, 8, dtype=torch.float64)


class LayerNormGelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(6, 16)
        self.norm = nn.LayerNorm(16)
        self.hidden = nn.Linear(16, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = nn.functional.gelu(self.norm(self.embed(x)))
        return self.head(nn.functional.gelu(self.hidden(h)) + h)


def layernorm_gelu() -> tuple[nn.Module, Tensor]:
    return LayerNormGelu().double().eval(), torch.randn(5, 6, dtype=torch.float64)


def timm_resnet() -> tuple[nn.Module, Tensor]:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=3)
    return model.double().eval(), torch.randn(3, 3, 32, 32, dtype=torch.float64)


def timm_vit() -> tuple[nn.Module, Tensor]:
    model = timm.create_model("test_vit", pretrained=False, num_classes=3, img_size=32)
    return model.double().eval(), torch.randn(3, 3, 32, 32, dtype=torch.float64)


class ItemControlFlow(nn.Module):
    """Data-dependent control flow through ``.item()``: vmap cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 8)
        self.second = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = self.first(x)
        if h.sum().item() > 0:
            h = torch.tanh(h)
        else:
            h = torch.sin(h)
        return self.second(h)


def item_control_flow() -> tuple[nn.Module, Tensor]:
    return ItemControlFlow().double().eval(), torch.randn(6, 4, dtype=torch.float64)


ALL = {
    "mlp": mlp,
    "cnn_bn_dropout": cnn_bn_dropout,
    "layernorm_gelu": layernorm_gelu,
    "timm_test_resnet": timm_resnet,
    "timm_test_vit": timm_vit,
}
