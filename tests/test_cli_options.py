"""The shared options: one declaration, the same option on every command that takes it."""

from __future__ import annotations

import dataclasses

import torch

from entk_probe.analysis.phases import PhaseThresholds
from entk_probe.analysis.resample import DRAWS
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.cli import main
from entk_probe.cli_options import kernel_settings


def test_every_threshold_is_an_option_and_kernel_settings_map_dtypes() -> None:
    names = {p.name for p in main.commands["analyze"].params}
    assert {f"threshold_{f.name}" for f in dataclasses.fields(PhaseThresholds)} <= names
    settings = kernel_settings("full", None, "cpu", "1GiB", "float64", "auto", "auto", False)
    assert settings["jacobian_dtype"] is torch.float64 and settings["gram_dtype"] is None and settings["mode"] == "full"
    resamples = next(p for p in main.commands["analyze"].params if p.name == "resamples")
    assert resamples.default == AnalyzeOptions().resamples == DRAWS  # declared once, the library's default
    for command in ("analyze", "kernel"):
        assert {"mode", "device", "max_memory", "force", "input_size", "normalize"} <= {
            p.name for p in main.commands[command].params}
