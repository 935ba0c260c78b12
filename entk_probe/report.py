"""The terminal report: a rich rendering of an Analysis, for people (stdout)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from .analysis import Analysis


def _fmt(value: float, spec: str) -> str:
    return "—" if value is None or math.isnan(value) else format(value, spec)


def render(analysis: Analysis, console: Console) -> None:
    """Print the header and the per-checkpoint table of ``analysis``."""
    probe = analysis.probe
    console.print(f"[bold]entk-probe[/bold] · run {analysis.run_dir}")
    spec = analysis.model
    console.print(
        f"model {spec.arch} from {spec.origin} ({analysis.num_params:,} parameters) · probe {probe.spec} "
        f"(N={probe.inputs.shape[0]}{', synthetic inputs' if probe.synthetic else ''}) · "
        f"kernel {analysis.mode} · device {analysis.device}"
    )
    unit = analysis.time_unit
    table = Table(title=None, show_edge=False)
    table.add_column("checkpoint", overflow="fold")
    table.add_column("step", justify="right")
    table.add_column("epoch", justify="right")
    table.add_column("∠ from init°", justify="right")
    table.add_column("∠ to final°", justify="right")
    table.add_column(f"velocity /{unit}", justify="right")
    for row in analysis.checkpoints:
        c = row.checkpoint
        table.add_row(
            c.name.removesuffix(".safetensors"),
            "—" if c.step is None else str(c.step),
            _fmt(c.epoch, ".2f") if c.epoch is not None else "—",
            _fmt(row.angle_from_first_deg, ".2f"),
            _fmt(row.angle_to_last_deg, ".2f"),
            _fmt(row.velocity, ".3g"),
        )
    console.print(table)
    for row in analysis.checkpoints:
        if row.checkpoint.aliases:
            console.print(f"{row.checkpoint.name} is also {', '.join(row.checkpoint.aliases)} (identical bytes)")
    unpickled = [row.checkpoint.name for row in analysis.checkpoints if row.checkpoint.unpickled]
    if unpickled:
        console.print(f"[bold red]Loaded with full unpickling (--trust-checkpoints):[/] {', '.join(unpickled)}")
    console.print(
        "Angles are arccos of the kernel cosine (DESIGN.md); velocity is kernel distance 1 − ρ per "
        f"{unit} to the next checkpoint. Phase analysis and the cone verdict come with issue 5."
    )
