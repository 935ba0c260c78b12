"""A run in timm train.py's layout on the real CIFAR-10 subset, made with timm's own pieces.

What timm's train.py leaves in its output folder: args.yaml, summary.csv (update_summary), and
checkpoint-<epoch>.pth.tar with last.pth.tar and model_best.pth.tar (CheckpointSaver, with the EMA
weights), no initial model. Seeding and model creation follow train.py (utils.random_seed(seed,
rank), then create_model). The training data are the 4,000 images of ../shared/data, normalised
with CIFAR's constants (recorded as mean/std), SGD at lr 0.05 with momentum, batch 128.
README.md ("A run from timm's train.py") shows what entk-probe prints on it.

    python docs/experiments/timm_layout_run.py --out /tmp/timm_run --epochs 4
    entk-probe analyze /tmp/timm_run --probe run:validation:200 --init seed
"""

from __future__ import annotations

import argparse
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
import yaml
from timm.utils import CheckpointSaver, ModelEmaV3, random_seed, update_summary

from train_cifar import DATA, evaluate, load_split

CIFAR_MEAN, CIFAR_STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    cli = parser.parse_args()
    args = argparse.Namespace(model="test_resnet", num_classes=10, img_size=32, input_size=None, mean=CIFAR_MEAN,
                              std=CIFAR_STD, seed=cli.seed, epochs=cli.epochs, lr=0.05, batch_size=128, pretrained=False,
                              data_dir=str(DATA / "cifar10"), dataset="torch/cifar10", train_split="train",
                              val_split="validation", model_kwargs={})
    cli.out.mkdir(parents=True, exist_ok=False)
    (cli.out / "args.yaml").write_text(yaml.safe_dump(vars(args), default_flow_style=False))
    random_seed(args.seed, 0)
    model = timm.create_model(args.model, pretrained=False, num_classes=args.num_classes)
    ema = ModelEmaV3(model, decay=0.99)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    saver = CheckpointSaver(model, optimizer, args=args, model_ema=ema, checkpoint_dir=str(cli.out),
                            max_history=args.epochs)
    x, y = load_split("train")
    x_val, y_val = load_split("test")
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        losses = []
        for i in range(0, len(y) - args.batch_size + 1, args.batch_size):
            batch = order[i:i + args.batch_size]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            ema.update(model)
            losses.append(loss.item())
        top1 = 100 * evaluate(model, x_val, y_val)
        with torch.no_grad():
            val_loss = float(F.cross_entropy(model.eval()(x_val), y_val))
        update_summary(epoch, {"loss": sum(losses) / len(losses)}, {"loss": val_loss, "top1": top1, "top5": 0.0},
                       str(cli.out / "summary.csv"), lr=args.lr, write_header=epoch == 0)
        saver.save_checkpoint(epoch, metric=top1)
        print(f"epoch {epoch}: train loss {sum(losses) / len(losses):.3f}, val top-1 {top1:.1f}%")


if __name__ == "__main__":
    main()
