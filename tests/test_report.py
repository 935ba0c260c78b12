"""The terminal report reads at 80 columns without colour."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from entk_probe.analysis import AnalyzeOptions, analyze
from entk_probe.report import render

from .helpers import write_run


def test_report_fits_80_columns_and_names_every_checkpoint(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    result = analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu"))
    out = io.StringIO()
    render(result, Console(file=out, width=80, no_color=True, force_terminal=False))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for name in ("ckpt_0", "ckpt_5", "ckpt_10"):
        assert name in text
    assert "test_resnet" in text and "synthetic:3" in text
    assert "\x1b[" not in text


def test_aliases_of_identical_files_are_listed(tmp_path: Path) -> None:
    import shutil

    paths = write_run(tmp_path / "run", steps=(0, 5))
    shutil.copy(paths[-1], tmp_path / "run" / "last.safetensors")
    result = analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu"))
    out = io.StringIO()
    render(result, Console(file=out, width=80, no_color=True))
    assert "ckpt_5.safetensors is also last.safetensors (identical bytes)" in out.getvalue()
