"""Progress bars: drawn on a terminal, silent otherwise, never on stdout."""

from __future__ import annotations

import io

from rich.console import Console

from entk_probe.output.progress import progress_bars


def test_silent_when_quiet_or_not_a_terminal() -> None:
    with progress_bars(quiet=True) as callbacks:
        assert callbacks == (None, None)
    with progress_bars(console=Console(file=io.StringIO(), force_terminal=False)) as callbacks:
        assert callbacks == (None, None)


def test_bars_follow_the_callbacks_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_bars(console=console) as (on_checkpoint, on_chunk):
        assert on_checkpoint is not None and on_chunk is not None
        on_checkpoint(0, 3, type("C", (), {"name": "step00001.safetensors"})())
        on_chunk(2, 5)
    assert "step00001" in out.getvalue()
