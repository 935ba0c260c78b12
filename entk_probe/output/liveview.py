"""`watch`'s view: a line a checkpoint in a log, or a table with the sparkline redrawn in a terminal."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ..analysis.online import OnlineCall
from ..runs.checkpoints import Checkpoint
from .terminal import spark


def line(ckpt: Checkpoint, call: OnlineCall | None) -> str:
    """One line a checkpoint: what a plain log (no terminal) shows."""
    where = f"step {ckpt.step}" if ckpt.step is not None else f"epoch {ckpt.epoch}"
    if call is None:
        return f"{ckpt.name} ({where}): kernel computed; out of order, in the final report only"
    boundary = "" if call.boundary is None else f", boundary at time {call.boundary_time:g}"
    phase = "Phase II called" if call.phase2 else "provisional"
    return (f"{ckpt.name} ({where}): centred angle from the first kernel {call.angle_from_first_deg:.1f}°; "
            f"{phase}: {call.verdict}{boundary} ({call.checkpoints} checkpoints)")


class LiveView:
    """What ``watch`` shows as checkpoints come: a redrawn table and sparkline on a terminal, else lines."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: list[tuple[Checkpoint, OnlineCall | None]] = []
        self.live = Live(console=console, auto_refresh=False) if console.is_terminal else None

    def __enter__(self) -> LiveView:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.stop()

    def add(self, ckpt: Checkpoint, call: OnlineCall | None) -> None:
        """Show one more checkpoint."""
        self.rows.append((ckpt, call))
        if self.live is None:
            self.console.print(line(ckpt, call), soft_wrap=True, highlight=False)
        else:
            self.live.update(self.renderable(), refresh=True)

    def renderable(self) -> Group:
        """The table of checkpoints so far, the angle's sparkline and the latest call."""
        table = Table("checkpoint", "step", "epoch", "∠first", "call", show_edge=False)
        for ckpt, call in self.rows[-20:]:
            table.add_row(ckpt.name, "" if ckpt.step is None else str(ckpt.step),
                          "" if ckpt.epoch is None else f"{ckpt.epoch:g}",
                          "" if call is None else f"{call.angle_from_first_deg:.1f}",
                          "" if call is None else ("II" if call.phase2 else "I?"))
        angles = [call.angle_from_first_deg for _, call in self.rows if call is not None]
        last = next((call for _, call in reversed(self.rows) if call is not None), None)
        summary = "" if last is None else (f"{'Phase II called' if last.phase2 else 'provisional'}: {last.verdict}"
                                            + ("" if last.boundary is None else f", boundary at time {last.boundary_time:g}"))
        return Group(table, f"∠ from first {spark(angles)}", summary)
