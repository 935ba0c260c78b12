"""`entk-probe switch RUN_DIR`: train the network and its linearisation from chosen checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .cli_options import probe_option, report_options, run_options
from .cli_outputs import Outputs, check_outputs, emit
from .cli_shell import handles_errors
from .output.helptext import GroupedCommand
from .output.html import switch_html
from .output.switchreport import plot_switch, render_switch, switch_to_json
from .pipeline import AnalyzeOptions, load_plugins
from .pipeline.switch import SwitchResult, optimiser, run_switch


def _progress(result: SwitchResult) -> None:
    click.echo(f"entk-probe: switch at {result.checkpoint} ({result.kind}): accuracy {result.accuracy:.3f}, "
               f"loss {result.loss:.3g}, {result.seconds:.1f}s", err=True)


@click.command("switch", cls=GroupedCommand)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--train", "train_spec", required=True, metavar="SPEC",
              help="Training data, e.g. cifar10:4000,split=train (every record of the split; balance=yes for "
                   "class balance).")
@click.option("--eval", "eval_spec", required=True, metavar="SPEC", help="Evaluation data, e.g. cifar10:1000.")
@probe_option("--eval; its analysis places the boundary")
@click.option("--at", default="boundary", show_default=True, metavar="WHERE",
              help="Where to switch besides the first checkpoint: 'boundary' (the analysis's) and/or times, e.g. "
                   "boundary,3,10.")
@click.option("--epochs", type=float, metavar="EPOCHS", default=1.0, show_default=True,
              help="Epochs of training from each switch point.")
@click.option("--lr", type=float, metavar="LR", help="SGD learning rate (default: the run's args.yaml, else 0.01).")
@click.option("--momentum", type=float, metavar="M", help="SGD momentum (default: args.yaml, else 0.9).")
@click.option("--weight-decay", type=float, metavar="WD",
              help="Weight decay on the network's weights (default: args.yaml, else 5e-4).")
@click.option("--batch-size", type=int, metavar="N", help="Batch size (default: args.yaml, else 128).")
@click.option("--seed", type=int, metavar="SEED", default=0, show_default=True,
              help="Seed of the batch order (the same for both kinds).")
@run_options
@report_options("accuracy against switch point")
@handles_errors
def switch_command(run_dir: Path, train_spec: str, eval_spec: str, probe_spec: str | None, at: str, epochs: float,
                   lr: float | None, momentum: float | None, weight_decay: float | None, batch_size: int | None,
                   seed: int, model: dict[str, Any], selection: dict[str, Any], kernel: dict[str, Any],
                   data: dict[str, Any], text: dict[str, Any], analysis: dict[str, Any], json_path: str | None,
                   html_path: Path | None, plot_path: Path | None, quiet: bool, no_color: bool) -> None:
    """Train the network and its linearisation from chosen checkpoints and compare them.

    The kernel and phase options are those of the analysis that places the boundary; --device trains too.

    \b
    Example:
      entk-probe switch runs/r20 --train cifar10:4000,split=train --eval cifar10:1000 --epochs 2
    """
    options = AnalyzeOptions(**model, **selection, **kernel, **data, **text, **analysis)
    load_plugins(options.plugins)
    opt = optimiser(run_dir, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "batch_size": batch_size})
    check_outputs(plot_path, html_path)
    report = switch_to_json(run_switch(run_dir, train_spec, eval_spec, at, epochs, opt, options, probe_spec, seed,
                                       on_result=None if quiet else _progress))
    emit(report, Outputs(json_path, html_path, plot_path, no_color), render_switch, plot_switch, switch_html)
