"""Plugin for the evidence runs: the wide two-layer MLP of the lazy example (docs/phases.md).

    entk-probe analyze runs/mlp4096 --plugins docs/experiments/cifar_mlp.py --probe cifar10:100
"""

from __future__ import annotations

from torch import nn

import entk_probe

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@entk_probe.register_model("mlp2_cifar", input_size=(3, 32, 32), mean=CIFAR_MEAN, std=CIFAR_STD)
def mlp2_cifar(num_classes: int = 10, width: int = 4096) -> nn.Module:
    """3072 -> width (ReLU) -> num_classes."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, width), nn.ReLU(), nn.Linear(width, num_classes))
