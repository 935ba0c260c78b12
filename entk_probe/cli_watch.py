"""`entk-probe watch RUN_DIR`: follow a run as its checkpoints are written, then report it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import click

from .analysis.online import OnlineCall
from .cli_options import data_options, kernel_options, kernel_settings, output_options, plugins_option, text_options
from .cli_shell import handles_errors
from .errors import warn
from .output.liveview import LiveView
from .output.terminal import report_console
from .pipeline import AnalyzeOptions, analyze
from .pipeline.watch import follow, parse_until
from .runs.checkpoints import Checkpoint
from .runs.models import parse_input_size


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


@click.command("watch")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--probe", "probe_spec", help="Probe set spec, e.g. cifar10:500 (default: RUN_DIR/probe.safetensors).")
@click.option("--arch", help="Architecture (timm or plugin name); default: what the checkpoints record.")
@plugins_option
@click.option("--until", "until", metavar="STEP|idle:SECONDS",
              help="Stop after the checkpoint at STEP (or later), or after SECONDS without a new one (default: Ctrl-C).")
@click.option("--on-phase2", "on_phase2", metavar="CMD",
              help="Run CMD (a shell command) once, when Phase II is called; ENTK_PROBE_CHECKPOINT, "
                   "ENTK_PROBE_BOUNDARY_TIME and ENTK_PROBE_VERDICT say where.")
@click.option("--poll", type=float, default=2.0, show_default=True, metavar="SECONDS", help="How often to look for checkpoints.")
@kernel_options
@data_options
@text_options
@click.option("--json", "json_path", metavar="PATH|-", help="Write the final JSON report to PATH, or to stdout with -.")
@output_options
@handles_errors
def watch_command(run_dir: Path, probe_spec: str | None, arch: str | None, plugins: tuple[Path, ...], until: str | None,
                  on_phase2: str | None, poll: float, mode: str, params: str | None, device: str, max_memory: str | None,
                  jacobian_dtype: str, gram_dtype: str, paths: str, force: bool, input_size: str | None,
                  normalize: str | None, data_root: Path | None, download: bool, text: dict[str, Any],
                  json_path: str | None, quiet: bool, no_color: bool) -> None:
    """Follow RUN_DIR as its checkpoints are written: each kernel once, a line and the provisional phase call
    a checkpoint (on stderr), then the final report.

    \b
    Examples:
      entk-probe watch runs/r20 --probe cifar10:500 --until idle:600
      entk-probe watch runs/r20 --probe cifar10:500 --on-phase2 'touch phase2.flag' --until 5000
    """
    from .cli import _report  # the same outputs as analyze

    step, idle = parse_until(until)
    options = AnalyzeOptions(arch=arch, plugins=plugins, **kernel_settings(mode, params, device, max_memory,
                                                                         jacobian_dtype, gram_dtype, paths, force),
                             normalize=normalize, input_size=parse_input_size(input_size) if input_size else None,
                             data_root=data_root, download=download, **text)
    with LiveView(report_console(no_color, stderr=True)) as view:  # a redrawn table on a terminal, else lines
        followed = follow(run_dir, probe_spec, options, until_step=step, idle=idle, poll=poll, on_checkpoint=view.add,
                          on_phase2=_on_phase2(on_phase2))
    click.echo(f"entk-probe: watch ended: {followed.ended}; the final report of {len(followed.checkpoints)} "
               "checkpoints follows", err=True)
    if not followed.checkpoints:
        return
    result = analyze(run_dir, probe_spec, options)  # every kernel is in the cache now
    with result.kernels:
        _report(result, options, json_path, None, None, jacobian_dtype, params, no_color)
