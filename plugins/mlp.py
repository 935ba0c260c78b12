"""A small MLP for 28x28 grey images (MNIST, Fashion-MNIST), as an entk-probe model plugin.

Flatten, two hidden layers of ``width`` ReLU units, a linear classifier. The smallest example of
a plugin: copy it, change the factory, load it with ``--plugins path/to/mlp.py``.
"""

from __future__ import annotations

from torch import nn

import entk_probe

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


@entk_probe.register_model("mlp_28", input_size=(1, 28, 28), mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD)
def mlp_28(num_classes: int = 10, width: int = 256) -> nn.Module:
    """784 -> width -> width -> num_classes, ReLU."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, num_classes),
    )
