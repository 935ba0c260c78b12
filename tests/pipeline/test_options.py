"""Options are checked before any checkpoint or dataset is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from entk_probe.errors import UsageError
from entk_probe.pipeline import AnalyzeOptions, analyze


@pytest.mark.parametrize(("options", "probe", "message"), [
    (AnalyzeOptions(mode="diag"), "synthetic:3", "unknown kernel mode 'diag'"),
    (AnalyzeOptions(max_memory="lots"), "synthetic:3", "cannot read memory size 'lots'"),
    (AnalyzeOptions(paths="fast"), "synthetic:3", "unknown path choice 'fast'"),
    (AnalyzeOptions(jacobian_dtype=torch.float64, gram_dtype=torch.float32), "synthetic:3", "gram_dtype"),
    (AnalyzeOptions(weights="best"), "synthetic:3", "--weights must be raw or ema"),
    (AnalyzeOptions(every=0), "synthetic:3", "--every must be a positive integer"),
    (AnalyzeOptions(range="5:1"), "synthetic:3", "is empty"),
    (AnalyzeOptions(subspace_k=0), "synthetic:3", "--subspace-k must be a positive integer"),
    (AnalyzeOptions(resamples=-1), "synthetic:3", "--resamples must be a whole number"),
    (AnalyzeOptions(normalize="sepia"), "synthetic:3", "sepia"),
    (AnalyzeOptions(device="tpu"), "synthetic:3", "unknown device"),
    (AnalyzeOptions(), "cifar10:5x", "cannot read probe spec"),
])
def test_a_bad_value_fails_before_any_checkpoint_is_read(tmp_path: Path, options: AnalyzeOptions, probe: str,
                                                         message: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "ckpt.pt").write_bytes(b"not a checkpoint")  # reading it would be a CheckpointError
    with pytest.raises(UsageError, match=message):
        analyze(run, probe, options)
