"""One checkpoint's kernel (entk-probe kernel): the kernel the analysis of its run has for it."""

from __future__ import annotations

from pathlib import Path

import torch

from entk_probe.pipeline import AnalyzeOptions, analyze, checkpoint_kernel

from ..helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"


def test_one_checkpoints_kernel_is_the_one_its_runs_analysis_has(tmp_path: Path) -> None:
    probe = f"file:{SAMPLE / 'probe.safetensors'}"
    options = AnalyzeOptions(device="cpu", plugins=[REPO / "plugins" / "mlp.py"], cache=False, max_checkpoints=2,
                             resamples=0)
    result = analyze(SAMPLE, probe, options)
    last = result.runs[-1].checkpoint
    one = checkpoint_kernel(last.path, probe, options)
    assert one.checkpoint.sha256 == last.sha256 and not one.cached and one.plan is not None
    assert torch.equal(one.kernel, result.kernels[-1])
    result.kernels.close()
