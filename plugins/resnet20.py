"""ResNet-20 for CIFAR (He et al. 2016, section 4.2), as an entk-probe model plugin.

The architecture of the cone-effect experiments (Zhou et al. 2025): a 3x3 convolution with 16
filters, then three stages of 3 basic blocks (16, 32, 64 filters; stride 2 at the start of the
second and third), global average pooling and a linear classifier: 0.27M parameters. Shortcuts
that change shape are option A of the paper (identity, subsampled, with zero-padded channels),
so that the shortcut adds no parameters. Copy this file, adapt it, and load it with
``--plugins path/to/resnet20.py`` (or set ENTK_PROBE_PLUGINS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import entk_probe

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.subsample = stride != 1 or in_planes != planes
        self.pad = planes - in_planes

    def shortcut(self, x: Tensor) -> Tensor:
        if not self.subsample:
            return x
        x = x[:, :, ::2, ::2]  # option A: subsample, then zero-pad the new channels
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


@entk_probe.register_model(
    "resnet20_cifar", input_size=(3, 32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, classifier="fc", first_conv="conv1"
)
def resnet20_cifar(num_classes: int = 10, in_chans: int = 3) -> nn.Module:
    """ResNet-20 of He et al. for 32x32 inputs: 3 stages of 3 basic blocks."""
    return ResNetCifar(3, num_classes=num_classes, in_chans=in_chans)
