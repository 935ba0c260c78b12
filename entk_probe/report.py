"""The terminal report: a rich rendering of an Analysis, for people (stdout)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from .analysis import Analysis


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def render(analysis: Analysis, console: Console) -> None:
    """Print the header, the per-checkpoint table and the verdict of ``analysis``."""
    probe, spec, summary = analysis.probe, analysis.model, analysis.summary
    console.print(f"[bold]entk-probe[/bold] · run {analysis.run_dir}")
    console.print(
        f"model {spec.arch} from {spec.origin} ({analysis.num_params:,} parameters) · probe {probe.spec} "
        f"(N={probe.n}{', synthetic inputs' if probe.synthetic else ''}) · "
        f"kernel {analysis.options.mode} · device {analysis.device}"
    )
    unit = analysis.time_unit
    table = Table(show_edge=False)
    for name in ("checkpoint", unit, "∠init°", "∠final°", f"ω°/{unit}", "align", "acc", "phase"):
        table.add_column(name, justify="left" if name == "checkpoint" else "right", overflow="fold")
    for run, row in zip(analysis.runs, summary.checkpoints):
        table.add_row(
            run.checkpoint.name.removesuffix(".safetensors"), _fmt(row.time, ".3g"),
            _fmt(row.centered_angle_from_first_deg, ".1f"), _fmt(row.centered_angle_to_last_deg, ".1f"),
            _fmt(row.angular_velocity_deg, ".3g"), _fmt(row.centered_alignment, ".3f"), _fmt(row.accuracy, ".2f"), row.phase,
        )
    console.print(table)
    phases = summary.phases
    console.print(f"[bold]verdict: {phases.verdict}[/bold] — {phases.explanation}")
    if summary.cone is not None:
        console.print(f"cone width: {summary.cone.statistic} principal angle {summary.cone.width_deg:.1f}° (top-{summary.cone.k} "
                      f"eigenspaces); Frobenius half-angle {summary.cone.frobenius_half_angle_deg:.1f}°")
    for run in analysis.runs:
        if run.checkpoint.aliases:
            console.print(f"{run.checkpoint.name} is also {', '.join(run.checkpoint.aliases)} (identical bytes)")
    unpickled = [run.checkpoint.name for run in analysis.runs if run.checkpoint.unpickled]
    if unpickled:
        console.print(f"[bold red]Loaded with full unpickling (--trust-checkpoints):[/] {', '.join(unpickled)}")
