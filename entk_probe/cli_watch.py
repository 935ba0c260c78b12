"""`entk-probe watch RUN_DIR`: follow a run as its checkpoints are written, then report it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import click

from .analysis.online import OnlineCall
from .cli_options import probe_option, report_options, run_options
from .cli_outputs import Outputs, check_outputs
from .cli_shell import handles_errors
from .output.helptext import GroupedCommand
from .errors import warn
from .output.liveview import LiveView
from .output.terminal import report_console
from .pipeline import AnalyzeOptions, analyze
from .pipeline.watch import follow, parse_until
from .runs.checkpoints import Checkpoint


def _on_phase2(command: str | None):  # type: ignore[no-untyped-def]
    """Run ``command`` once, with the boundary in its environment; its failure is a warning."""
    def run(ckpt: Checkpoint, call: OnlineCall) -> None:
        click.echo(f"entk-probe: Phase II called at {ckpt.name} (boundary at time {call.boundary_time:g})", err=True)
        if not command:
            return
        env = {**os.environ, "ENTK_PROBE_CHECKPOINT": ckpt.name, "ENTK_PROBE_BOUNDARY_TIME": f"{call.boundary_time:g}",
               "ENTK_PROBE_VERDICT": call.verdict}
        done = subprocess.run(command, shell=True, env=env, check=False)
        if done.returncode:
            warn(f"--on-phase2 command exited with {done.returncode}: {command}", code="on-phase2-failed")
    return run


@click.command("watch", cls=GroupedCommand)
@click.argument("run_dir", type=click.Path(path_type=Path))
@probe_option()
@run_options
@click.option("--until", "until", metavar="STEP|idle:SECONDS",
              help="Stop after the checkpoint at STEP (or later), or after SECONDS without a new one (default: Ctrl-C).")
@click.option("--on-phase2", "on_phase2", metavar="CMD",
              help="Run CMD (a shell command) once, when Phase II is called; ENTK_PROBE_CHECKPOINT, "
                   "ENTK_PROBE_BOUNDARY_TIME and ENTK_PROBE_VERDICT say where.")
@click.option("--poll", type=float, default=2.0, show_default=True, metavar="SECONDS", help="How often to look for checkpoints.")
@report_options(json="the final JSON report")
@handles_errors
def watch_command(run_dir: Path, probe_spec: str | None, model: dict[str, Any], selection: dict[str, Any],
                  until: str | None, on_phase2: str | None, poll: float, kernel: dict[str, Any], data: dict[str, Any],
                  text: dict[str, Any], analysis: dict[str, Any], json_path: str | None, html_path: Path | None,
                  plot_path: Path | None,
                  quiet: bool, no_color: bool) -> None:
    """Follow RUN_DIR as its checkpoints are written: each kernel once, a line and the provisional phase call
    a checkpoint (on stderr), then the final report.

    \b
    Examples:
      entk-probe watch runs/r20 --probe cifar10:500 --until idle:600
      entk-probe watch runs/r20 --probe cifar10:500 --on-phase2 'touch phase2.flag' --until 5000
    """
    from .cli import report_analysis  # the same outputs as analyze

    step, idle = parse_until(until)
    options = AnalyzeOptions(**model, **selection, **kernel, **data, **text, **analysis)
    check_outputs(plot_path, html_path)
    with LiveView(report_console(no_color, stderr=True)) as view:  # a redrawn table on a terminal, else lines
        followed = follow(run_dir, probe_spec, options, until_step=step, idle=idle, poll=poll, on_checkpoint=None if quiet else view.add,
                          on_phase2=_on_phase2(on_phase2))
    click.echo(f"entk-probe: watch ended: {followed.ended}; the final report of {len(followed.checkpoints)} "
               "checkpoints follows", err=True)
    if not followed.checkpoints:
        return
    result = analyze(run_dir, probe_spec, options)  # every kernel is in the cache now
    with result.kernels:
        report_analysis(result, Outputs(json_path, html_path, plot_path, no_color))
