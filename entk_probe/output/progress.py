"""Progress bars on stderr: over checkpoints (with ETA) and within a kernel (Jacobian chunks).

Silent with ``--quiet`` or when stderr is not a terminal, so logs and pipes stay clean; stdout is
never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from .terminal import report_console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_LIVE: list[Console] = []  # the console of the progress display showing now, if any


def live_console() -> Console | None:
    """The console of the progress bars on screen now (lines printed through it go above the bars)."""
    return _LIVE[-1] if _LIVE else None


OnCheckpoint = Callable[[int, int, Any], None]
OnChunk = Callable[[int, int], None]


@contextmanager
def progress_bars(quiet: bool = False, console: Console | None = None) -> Iterator[tuple[OnCheckpoint | None, OnChunk | None]]:
    """Yield (on_checkpoint, on_chunk) callbacks that drive two bars; (None, None) when silent."""
    console = console or report_console(stderr=True)
    if quiet or not console.is_terminal:
        yield None, None
        return
    columns = (TextColumn("{task.description:<28.28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        checkpoints = progress.add_task("checkpoints", total=None)
        chunks = progress.add_task("kernel", total=None, visible=False)

        def on_checkpoint(index: int, total: int, checkpoint: Any) -> None:
            progress.update(checkpoints, total=total, completed=index, description=getattr(checkpoint, "name", str(checkpoint)))
            progress.reset(chunks, total=None, visible=False)

        def on_chunk(done: int, total: int) -> None:
            progress.update(chunks, total=total, completed=done, description="  Jacobian chunks", visible=True)

        _LIVE.append(console)
        try:
            yield on_checkpoint, on_chunk
        finally:
            _LIVE.remove(console)
        progress.update(checkpoints, completed=progress.tasks[0].total or 0)
