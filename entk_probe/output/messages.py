"""What the command says on stderr besides errors: warnings, the run's estimate, the plan.

stdout carries only the report or the JSON; everything here goes to stderr.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..engine.planning import EntkPlan
from ..errors import EntkProbeWarning
from ..pipeline.forecast import RunEstimate
from .progress import live_console


def say(line: str) -> None:
    """One line on stderr, above the progress bars when they are showing."""
    console = live_console()
    if console is not None:
        console.print(Text(line), soft_wrap=True)
    else:
        click.echo(line, err=True)


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command: entk-probe's own warnings as one line."""
    if issubclass(category, EntkProbeWarning):
        say(f"entk-probe: warning: {message}")
    else:
        say(warnings.formatwarning(message, category, filename, lineno, line).rstrip())


def show_estimate(estimate: RunEstimate) -> None:
    """The run's estimate, before its first kernel."""
    say(f"entk-probe: estimate: {estimate.describe()}")


def show_shares(how: str, shares: Sequence[Sequence[int]]) -> None:
    """Under torchrun: how the ranks share the work (``how``: checkpoints or parameters) and how many
    kernels each rank computes (``shares``: checkpoint indices, one list a rank)."""
    if how == "parameters":
        say(f"entk-probe: {len(shares)} ranks share the parameters of each of the {len(shares[0])} kernel(s) to "
            "compute (--shard parameters): each computes its part, by estimated cost, and the parts are summed")
        return
    counts = " + ".join(str(len(s)) for s in shares)
    say(f"entk-probe: {len(shares)} ranks share the kernels to compute: {counts} (rank 0 first), by estimated cost")


def plan_table(plan: EntkPlan) -> Table:
    """Which path every layer took and why."""
    table = Table("layer", "kind", "params", "path", "GFLOP", "why", show_edge=False, title=plan.describe())
    for layer in plan.layers:
        table.add_row(layer.layer or "(model)", layer.kind, f"{layer.num_params:,}", layer.path,
                      f"{layer.flops / 1e9:.3g}", layer.reason)
    return table
