"""Make the sample runs shipped in sample_checkpoints/: two real, small training runs.

1. ``cifar10_test_efficientnet/``: timm's ``test_efficientnet`` (0.10M parameters, BatchNorm)
   trained on the 4,000 CIFAR-10 training images of ../shared/data, as safetensors files with
   arch, step, epoch, num_classes, input_size and mean/std in their metadata.
2. ``fashion_mnist_mlp/``: the ``mlp_28`` plugin of plugins/mlp.py (width 128) trained on real
   Fashion-MNIST (Debian's dataset-fashion-mnist, MIT licence), written in the layout of timm's
   train.py: ``checkpoint-<epoch>.pth.tar`` dicts with ``epoch``, ``arch``, ``args`` (an
   argparse.Namespace), ``state_dict``, ``metric`` and ``version``, plus ``last.pth.tar`` and
   ``model_best.pth.tar`` as copies; the early checkpoints within the first epoch are
   ``checkpoint-step<step>.pth.tar`` with fractional epochs. The optimizer state that timm also
   stores is left out to keep the run small. Its ``probe.safetensors`` holds 500 test images, so
   ``entk-probe analyze sample_checkpoints/fashion_mnist_mlp --plugins plugins/mlp.py`` needs no
   dataset.

Both runs: checkpoints at SGD steps 0, 1, 2, 4, 8, 16 (and 32, 64 in the longer Fashion-MNIST
epoch of 468 steps), then at the end of every epoch. Deterministic for a seed on one machine, CPU only, about
two minutes on two cores.

    python sample_checkpoints/make_samples.py [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import timm
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from entk_probe.probes.datasets import read_cifar, read_idx
from entk_probe.probes.preprocess import PRESETS, Normalization
from entk_probe.probes import Target, make_probe, save_probe
from entk_probe.runs.registry import REGISTRY

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
PLUGIN = HERE.parent / "plugins" / "mlp.py"
EARLY_STEPS = (0, 1, 2, 4, 8, 16, 32, 64)  # those within the first epoch are kept


def _tensors(images: list[np.ndarray], norm: tuple[tuple[float, ...], tuple[float, ...]]) -> Tensor:
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255  # (M, C, H, W)
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in norm)
    return (x - mean) / std


def train(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float, batch: int, seed: int,
          save: Callable[[int, float, float], None]) -> None:
    """SGD with momentum; ``save(step, epoch, train_loss)`` at the early steps and every epoch end."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    steps_per_epoch = len(y) // batch
    order = torch.Generator().manual_seed(seed + 1)
    losses: list[float] = []
    model.train()
    save(0, 0.0, float("nan"))
    step = 0
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=order)[: steps_per_epoch * batch].view(steps_per_epoch, batch):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if (step in EARLY_STEPS and step < steps_per_epoch) or step % steps_per_epoch == 0:
                save(step, step / steps_per_epoch, float(np.mean(losses[-steps_per_epoch:])))


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = int((model(x).argmax(1) == y).sum())
    model.train()
    return correct / len(y)


def cifar_run(out: Path, seed: int) -> None:
    torch.manual_seed(seed)
    norm = PRESETS["cifar"]
    train_split, test_split = (read_cifar("cifar10", s, [SHARED]) for s in ("train", "test"))
    x = _tensors(train_split.load(np.arange(len(train_split.labels))), norm)
    y = torch.from_numpy(train_split.labels)
    x_test = _tensors(test_split.load(np.arange(len(test_split.labels))), norm)
    y_test = torch.from_numpy(test_split.labels)
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=10)

    def save(step: int, epoch: float, loss: float) -> None:
        metadata = {"arch": "test_efficientnet", "step": str(step), "epoch": f"{epoch:.6f}", "num_classes": "10",
                    "input_size": "[3, 32, 32]", "mean": json.dumps(norm[0]), "std": json.dumps(norm[1]),
                    "train_loss": f"{loss:.4f}", "test_accuracy": f"{accuracy(model, x_test, y_test):.4f}"}
        weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(out / f"step{step:04d}.safetensors"), metadata=metadata)
        print(f"  cifar10 step {step:4d} epoch {epoch:6.3f} loss {loss:.3f} test acc {metadata['test_accuracy']}", flush=True)

    train(model, x, y, epochs=10, lr=0.05, batch=128, seed=seed, save=save)


def fashion_run(out: Path, seed: int) -> None:
    torch.manual_seed(seed)
    REGISTRY.load_plugins(PLUGIN)
    entry = REGISTRY.get("mlp_28")
    norm = (entry.mean, entry.std)
    train_split, test_split = (read_idx("fashion-mnist", s, []) for s in ("train", "test"))
    x = _tensors(train_split.load(np.arange(len(train_split.labels))), norm)  # (60000, 1, 28, 28)
    y = torch.from_numpy(train_split.labels)
    x_test = _tensors(test_split.load(np.arange(len(test_split.labels))), norm)
    y_test = torch.from_numpy(test_split.labels)
    model = entry.factory(num_classes=10, width=128)
    args = argparse.Namespace(model="mlp_28", model_kwargs={"width": 128}, num_classes=10, img_size=28, in_chans=1,
                              lr=0.05, momentum=0.9, batch_size=128, epochs=6, seed=seed, dataset="fashion-mnist")
    best = [-1.0]

    def save(step: int, epoch: float, loss: float) -> None:
        metric = accuracy(model, x_test, y_test)
        state = {"epoch": epoch, "step": step, "arch": "mlp_28", "args": args, "version": 2, "metric": metric,
                 "train_loss": loss, "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        name = f"checkpoint-{round(epoch)}.pth.tar" if float(epoch).is_integer() and step else f"checkpoint-step{step}.pth.tar"
        torch.save(state, out / name)
        if step and float(epoch).is_integer():  # timm keeps the latest and the best as copies
            shutil.copyfile(out / name, out / "last.pth.tar")
            if metric > best[0]:
                best[0] = metric
                shutil.copyfile(out / name, out / "model_best.pth.tar")
        print(f"  fashion step {step:4d} epoch {epoch:6.3f} loss {loss:.3f} test acc {metric:.4f}", flush=True)

    train(model, x, y, epochs=6, lr=0.05, batch=128, seed=seed, save=save)
    probe = make_probe("fashion-mnist:500", Target(entry.input_size, Normalization(entry.mean, entry.std, "plugin mlp_28")))
    save_probe(probe, out / "probe.safetensors")
    notice = Path("/usr/share/doc/dataset-fashion-mnist/copyright")
    (out / "FASHION-MNIST-NOTICE").write_text(notice.read_text() if notice.is_file() else "Fashion-MNIST, MIT licence\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    for name, make in (("cifar10_test_efficientnet", cifar_run), ("fashion_mnist_mlp", fashion_run)):
        out = HERE / name
        for old in list(out.glob("*.safetensors")) + list(out.glob("*.pth.tar")):
            old.unlink()
        out.mkdir(exist_ok=True)
        print(name, flush=True)
        make(out, args.seed)


if __name__ == "__main__":
    main()
