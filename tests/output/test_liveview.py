"""watch's view: one line a checkpoint in a log, a redrawn table and sparkline on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from entk_probe.analysis.online import OnlineCall
from entk_probe.analysis.phases import PhaseResult, PhaseThresholds
from entk_probe.output.liveview import LiveView, line
from entk_probe.runs.checkpoints import Checkpoint


def _rows() -> list[tuple[Checkpoint, OnlineCall]]:
    rows = []
    for i, (angle, verdict, boundary, phase2) in enumerate([(0.0, "insufficient", None, False),
                                                             (20.0, "insufficient", None, False),
                                                             (30.0, "two-phase-cone", 1, True)]):
        ckpt = Checkpoint(Path(f"step{i}.safetensors"), f"step{i}.safetensors", "0" * 64, step=10 * i, epoch=None)
        call = OnlineCall(i + 1, PhaseResult(verdict, boundary, PhaseThresholds()), None if boundary is None else 10.0,
                          phase2, angle)
        rows.append((ckpt, call))
    return rows


def test_a_log_gets_a_line_a_checkpoint() -> None:
    out = io.StringIO()
    with LiveView(Console(file=out, force_terminal=False, width=200)) as view:
        for ckpt, call in _rows():
            view.add(ckpt, call)
    lines = out.getvalue().splitlines()
    assert lines == [line(c, k) for c, k in _rows()]
    assert lines[2] == ("step2.safetensors (step 20): centred angle from the first kernel 30.0°; Phase II called: "
                        "two-phase-cone, boundary at time 10 (3 checkpoints)")


def test_a_terminal_gets_the_table_the_sparkline_and_the_call() -> None:
    out = io.StringIO()
    with LiveView(Console(file=out, force_terminal=True, width=100, color_system=None)) as view:
        for ckpt, call in _rows():
            view.add(ckpt, call)
    shown = out.getvalue()
    assert "step2.safetensors" in shown and "30.0" in shown
    assert "∠ from first ▁▆█" in shown and "Phase II called: two-phase-cone, boundary at time 10" in shown
