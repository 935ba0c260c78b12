"""`entk-probe compare RUN_OR_REPORT...`: many runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .cli_options import probe_option, report_options, run_options
from .cli_outputs import Outputs, check_outputs, emit
from .cli_shell import handles_errors
from .errors import warn
from .output.comparehtml import compare_html
from .output.compareplots import plot_compare
from .output.comparetable import render_compare
from .output.comparison import compare_to_json
from .output.helptext import GroupedCommand
from .pipeline import AnalyzeOptions
from .pipeline.compare import gather


# compare's own options: every other one says how a run folder is analysed
OWN = {"by", "json_path", "html_path", "plot_path", "quiet", "no_color"}


def _warn_unused_run_options(runs: tuple[Path, ...]) -> None:
    """A saved report keeps the analysis it was made with: say so when run options are given and no run folder."""
    ctx = click.get_current_context()
    given = [p.opts[0] for p in ctx.command.params if isinstance(p, click.Option) and p.name not in OWN
             and ctx.get_parameter_source(p.name or "") is click.core.ParameterSource.COMMANDLINE]
    if given and not any(path.is_dir() for path in runs):
        warn(f"{', '.join(given)} apply to run folders only: every argument is a saved report, shown as it was "
             "analysed", code="run-options-unused")


@click.command("compare", cls=GroupedCommand)
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--by", metavar="NAME",
              help="Group and order the runs by this recorded hyperparameter, e.g. lr (from args.yaml, Lightning's "
                   "hparams.yaml, the Trainer's training_args.bin or the checkpoints' own record).")
@probe_option("RUN/probe.safetensors; for run folders only")
@run_options
@report_options("every run's curves overlaid")
@handles_errors
def compare_command(runs: tuple[Path, ...], by: str | None, probe_spec: str | None, model: dict[str, Any],
                    selection: dict[str, Any], kernel: dict[str, Any], data: dict[str, Any], text: dict[str, Any],
                    analysis: dict[str, Any], json_path: str | None, html_path: Path | None, plot_path: Path | None, quiet: bool,
                    no_color: bool) -> None:
    """Put runs side by side: RUNS are run folders (analysed, kernels from the cache) or saved JSON reports.

    A switch report beside a run (same run path) adds its switch gap.

    \b
    Examples:
      entk-probe compare runs/r20 runs/r20cos runs/r20lr01 --probe cifar10:500 --by lr
      entk-probe compare docs/experiments/results/r20*.json --html runs.html --json runs.json
    """
    options = AnalyzeOptions(**model, **selection, **kernel, **data, **text, **analysis)
    check_outputs(plot_path, html_path)
    _warn_unused_run_options(runs)

    def progress(path: Path) -> None:
        if not quiet:
            click.echo(f"entk-probe: compare: {'analysing' if path.is_dir() else 'reading'} {path}", err=True)

    report = compare_to_json(gather(list(runs), probe_spec, options, on_run=progress), by)
    emit(report, Outputs(json_path, html_path, plot_path, no_color), render_compare, plot_compare, compare_html)
