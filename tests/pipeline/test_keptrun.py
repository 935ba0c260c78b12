"""A run of kernels alone (a Watcher with save=False): analysed as the same run with its checkpoints is."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from entk_probe.errors import UsageError
from entk_probe.integrations import Watcher
from entk_probe.output.jsonreport import to_json
from entk_probe.output.terminal import render
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline.keptrun import kept_index

from ..integrations.test_watcher import PLUGIN, STEPS, _mlp, _probe, _train
from ..output.test_jsonreport import validate


def test_kernels_alone_give_the_analysis_of_the_run_with_its_checkpoints(tmp_path: Path) -> None:
    for folder, save in (("kept", False), ("saved", True)):
        model = _mlp()  # seeded: the same weights and training both times
        _train(model, Watcher(model, _probe(), tmp_path / folder, steps=STEPS, save=save, arch="mlp_28", budget=None))
    assert not list((tmp_path / "kept").glob("*.safetensors")) and [r["step"] for r in kept_index(tmp_path / "kept")] == STEPS
    options = AnalyzeOptions(plugins=[PLUGIN], input_size=(1, 28, 28), cache_dir=tmp_path / "cache", resamples=20)
    kept = analyze(tmp_path / "kept", None, options)
    saved = analyze(tmp_path / "saved", "synthetic:24", options)
    assert kept.time_unit == saved.time_unit == "epoch" and [r.time for r in kept.runs] == [r.time for r in saved.runs]
    assert np.allclose(kept.summary.centered_angle, saved.summary.centered_angle, atol=1e-9, equal_nan=True)
    assert (kept.summary.phases.verdict, kept.summary.phases.boundary) == (saved.summary.phases.verdict,
                                                                            saved.summary.phases.boundary)
    report = to_json(kept)
    validate(report)
    assert report["model"]["arch"] == "mlp_28" and report["checkpoints"][0]["name"] == "step 0"
    out = io.StringIO()
    render(report, Console(file=out, width=100, color_system=None))
    assert "model mlp_28 (the training loop)" in out.getvalue() and "step 12" in out.getvalue()
    with pytest.raises(UsageError, match="holds kernels alone"):
        analyze(tmp_path / "kept", "synthetic:24", options)
    with pytest.raises(UsageError, match="not of this analysis's settings"):
        analyze(tmp_path / "kept", None, AnalyzeOptions(mode="pntk", cache_dir=tmp_path / "cache"))
