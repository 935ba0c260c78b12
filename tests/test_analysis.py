"""The whole job on a generated run, against kernels computed directly."""

from __future__ import annotations

import math
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file

from entk_probe import compute_entk
from entk_probe.analysis import analyze
from entk_probe.dynamics import kernel_angle_deg, kernel_distance
from entk_probe.probes import make_probe

from .helpers import write_run


def test_angles_and_velocities_match_direct_kernels(tmp_path: Path) -> None:
    paths = write_run(tmp_path / "run")
    seen: list[int] = []
    result = analyze(tmp_path / "run", "synthetic:4", device="cpu", on_checkpoint=lambda i, n, c: seen.append(i))
    assert seen == [0, 1, 2] and result.time_unit == "epoch"
    probe = make_probe("synthetic:4", (3, 160, 160))
    assert torch.equal(result.probe.inputs, probe.inputs)
    kernels = []
    for path in paths:
        model = timm.create_model("test_resnet", pretrained=False, num_classes=3)
        model.load_state_dict(load_file(str(path)))
        kernels.append(compute_entk(model.eval(), probe.inputs, device="cpu"))
    rows = result.checkpoints
    assert [r.checkpoint.path for r in rows] == paths
    assert math.isclose(rows[2].angle_from_first_deg, kernel_angle_deg(kernels[0], kernels[2]), rel_tol=1e-9)
    assert math.isclose(rows[0].velocity, kernel_distance(kernels[0], kernels[1]) / 0.5, rel_tol=1e-9)
    assert math.isnan(rows[-1].velocity) and rows[-1].angle_to_last_deg == 0.0
