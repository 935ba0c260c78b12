"""Train a small model on the real CIFAR-10 subset and keep dense early checkpoints.

The runs behind docs/phases.md. Training images: the 4,000 of ../shared/data (data_batch_1),
normalised with the CIFAR constants, no augmentation unless --crops (random 32x32 crops of the
4-pixel zero-padded image and horizontal flips); plain SGD with momentum (or Adam) at a constant
learning rate unless --cosine, --onecycle or --drop EPOCH:LR. Checkpoints: steps 0, 1, 2, 4, 8, 16
(within the first epoch of 31 steps at batch 128), every --every steps up to epoch --dense-until
if given, then once an epoch; safetensors with arch, step, epoch,
num_classes, input_size, mean/std and the running train loss and test accuracy (the 1,000
test images) in the metadata.

    python docs/experiments/train_cifar.py --arch test_resnet --lr 0.05 --epochs 20 --out runs/test_resnet
    python docs/experiments/train_cifar.py --arch resnet20_cifar --plugins plugins --lr 0.1 --out runs/r20
    python docs/experiments/train_cifar.py --arch test_resnet --lr 0.05 --drop 3:0.005 --crops \
        --every 4 --dense-until 4 --out runs/test_resnet_step
    python docs/experiments/train_cifar.py --arch mlp2_cifar --plugins docs/experiments/cifar_mlp.py \
        --model-kwargs width=4096 --lr 1e-3 --epochs 8 --out runs/mlp4096

Deterministic for a seed on one machine (torch.use_deterministic_algorithms); CPU only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from entk_probe.pipeline.job import load_plugins
from entk_probe.probes.datasets import read_cifar
from entk_probe.runs.models import parse_model_kwargs as parse_kwarg_list
from entk_probe.probes.preprocess import PRESETS
from entk_probe.runs.registry import REGISTRY

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def parse_model_kwargs(text: str) -> dict:
    return parse_kwarg_list([item for item in text.split(",") if item])
EARLY_STEPS = (0, 1, 2, 4, 8, 16)  # --early replaces them


def load_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = read_cifar("cifar10", split, [DATA])
    images = np.stack(data.load(np.arange(len(data.labels))))  # (M, 32, 32, 3) uint8
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in PRESETS["cifar"])
    return (x - mean) / std, torch.from_numpy(data.labels)


def make_model(args: argparse.Namespace) -> nn.Module:
    return REGISTRY.get(args.arch).factory(num_classes=10, **args.model_kwargs)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(y), 500))
    model.train()
    return correct / len(y)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 32x32 crops of the 4-pixel zero-padded batch (B, 3, 32, 32), each flipped with probability 1/2."""
    padded = nn.functional.pad(x, (4, 4, 4, 4))  # (B, 3, 40, 40)
    offsets = torch.randint(0, 9, (len(x), 2), generator=gen)
    flips = torch.rand(len(x), generator=gen) < 0.5
    crops = [padded[i, :, r:r + 32, c:c + 32] for i, (r, c) in enumerate(offsets.tolist())]
    return torch.stack([crop.flip(-1) if flip else crop for crop, flip in zip(crops, flips.tolist())])


def lr_factor(args: argparse.Namespace, total: int, steps_per_epoch: int):
    """The schedule as a factor of --lr for LambdaLR, by optimiser step."""
    if args.cosine:  # linear warm-up over --warmup of the run (none by default), then cosine down to 0
        warm = int(args.warmup * total)
        return lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + np.cos(np.pi * (s - warm) / (total - warm)))
    if args.onecycle:  # linear warm-up to --lr over --warmup of the run (30% by default), then cosine down to lr/1e4
        warm = max(1, int((0.3 if args.warmup == 0 else args.warmup) * total))
        return lambda s: (0.04 + 0.96 * s / warm) if s < warm else 1e-4 + (1 - 1e-4) * 0.5 * (1 + np.cos(np.pi * (s - warm) / (total - warm)))
    if args.drop:
        epoch, lr = args.drop
        return lambda s: 1.0 if s < epoch * steps_per_epoch else lr / args.lr
    return lambda s: 1.0


def parse_drop(text: str) -> tuple[float, float]:
    epoch, lr = text.split(":")
    return float(epoch), float(lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True)
    parser.add_argument("--plugins", type=Path, action="append", default=[])
    parser.add_argument("--model-kwargs", type=parse_model_kwargs, default={}, metavar="K=V[,K=V]",
                        help="factory arguments, e.g. width=4096")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--cosine", action="store_true", help="cosine learning-rate decay to 0 over the run")
    parser.add_argument("--onecycle", action="store_true", help="OneCycle: warm-up over 30%% of the run, then cosine decay")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="fraction of the run spent warming up linearly (--cosine: none by default; --onecycle: 0.3)")
    parser.add_argument("--drop", type=parse_drop, metavar="EPOCH:LR", help="step decay: the lr becomes LR at EPOCH")
    parser.add_argument("--crops", action="store_true", help="random crops (4-pixel padding) and horizontal flips")
    parser.add_argument("--every", type=int, default=0, help="also a checkpoint every this many steps ...")
    parser.add_argument("--dense-until", type=float, default=0.0, help="... up to this epoch")
    parser.add_argument("--early", type=lambda text: tuple(int(v) for v in text.split(",")), default=EARLY_STEPS,
                        metavar="S,S,...", help="steps of the early checkpoints (default 0,1,2,4,8,16)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    load_plugins(args.plugins)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    x_train, y_train = load_split("train")
    x_test, y_test = load_split("test")
    model = make_model(args)
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = len(y_train) // args.batch_size
    total = steps_per_epoch * args.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(args, total, steps_per_epoch))
    args.out.mkdir(parents=True, exist_ok=True)
    order = torch.Generator().manual_seed(args.seed + 1)
    crops = torch.Generator().manual_seed(args.seed + 2)
    losses: list[float] = []
    started = time.time()

    def save(step: int) -> None:
        accuracy = evaluate(model, x_test, y_test)
        recent = float(np.mean(losses[-steps_per_epoch:])) if losses else float("nan")
        metadata = {
            "arch": args.arch, "model_kwargs": json.dumps(args.model_kwargs), "step": str(step),
            "epoch": f"{step / steps_per_epoch:.6f}", "num_classes": "10", "input_size": "[3, 32, 32]",
            "mean": json.dumps(PRESETS["cifar"][0]), "std": json.dumps(PRESETS["cifar"][1]),
            "train_loss": f"{recent:.4f}", "test_accuracy": f"{accuracy:.4f}", "lr": f"{schedule.get_last_lr()[0]:.6g}",
            "training": json.dumps({k: str(v) for k, v in vars(args).items()}),
        }
        weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(args.out / f"step{step:05d}.safetensors"), metadata=metadata)
        print(f"step {step:5d} epoch {step / steps_per_epoch:6.3f} loss {recent:.3f} test acc {accuracy:.3f} "
              f"({time.time() - started:.0f} s)", flush=True)

    model.train()
    save(0)
    step = 0
    for _ in range(args.epochs):
        for batch in torch.randperm(len(y_train), generator=order)[: steps_per_epoch * args.batch_size].view(steps_per_epoch, -1):
            inputs = augment(x_train[batch], crops) if args.crops else x_train[batch]
            loss = nn.functional.cross_entropy(model(inputs), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            step += 1
            dense = args.every and step % args.every == 0 and step <= args.dense_until * steps_per_epoch
            if step in args.early or dense or step % steps_per_epoch == 0:
                save(step)


if __name__ == "__main__":
    main()
