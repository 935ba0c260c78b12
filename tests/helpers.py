"""Small generated runs for the pipeline's tests."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent.parent  # the repository's root


def write_run(run_dir: Path, steps: tuple[int, ...] = (0, 5, 10), arch: str = "test_resnet", num_classes: int = 3) -> list[Path]:
    """Write one safetensors checkpoint per step, perturbing the weights a little each time."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    paths = []
    for step in steps:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        path = run_dir / f"ckpt_{step}.safetensors"
        weights = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(path), metadata={"arch": arch, "step": str(step), "epoch": str(step / 10),
                                                 "num_classes": str(num_classes), "input_size": "[3, 32, 32]"})
        paths.append(path)
    return paths
