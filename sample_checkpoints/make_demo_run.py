"""Generate a small training run for `make demo`: timm's test_resnet on a synthetic task.

Until the real sample runs exist (trained on CIFAR-10 and Fashion-MNIST), `make demo` analyses
this one. Inputs are Gaussian images labelled by a fixed random convolutional teacher, so the
network has something to learn; checkpoints are dense early (steps 0, 1, 2, 4, 8, 16) and then
once an epoch, as safetensors files with arch, step and epoch in the metadata.

    python sample_checkpoints/make_demo_run.py OUT_DIR [--epochs 6] [--seed 0]

Deterministic for a seed on one machine; takes about half a minute on two CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from torch import nn

ARCH = "test_resnet"
NUM_CLASSES = 10
TRAIN_SIZE = 1024
BATCH = 64
EARLY_STEPS = (0, 1, 2, 4, 8, 16)


def synthetic_task(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (TRAIN_SIZE, 3, 32, 32) and labels of a random teacher (argmax of pooled features)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(TRAIN_SIZE, 3, 32, 32, generator=gen)
    teacher = nn.Conv2d(3, NUM_CLASSES, 5, padding=2)
    with torch.no_grad():
        teacher.weight.copy_(torch.randn(teacher.weight.shape, generator=gen))
        teacher.bias.zero_()
        labels = teacher(images).relu().mean(dim=(2, 3)).argmax(dim=1)
    return images, labels


def save(model: nn.Module, out: Path, step: int, epoch: float) -> None:
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {"arch": ARCH, "num_classes": str(NUM_CLASSES), "input_size": "[3, 32, 32]",
                "step": str(step), "epoch": f"{epoch:.4f}"}
    save_file(weights, str(out / f"step{step:06d}.safetensors"), metadata=metadata)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    images, labels = synthetic_task(args.seed)
    model = timm.create_model(ARCH, pretrained=False, num_classes=NUM_CLASSES)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    args.out.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = TRAIN_SIZE // BATCH
    order = torch.Generator().manual_seed(args.seed + 1)
    step = 0
    save(model, args.out, step, 0.0)
    for epoch in range(args.epochs):
        model.train()
        for batch in torch.randperm(TRAIN_SIZE, generator=order).view(steps_per_epoch, BATCH):
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step in EARLY_STEPS or step % steps_per_epoch == 0:
                save(model, args.out, step, step / steps_per_epoch)
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
