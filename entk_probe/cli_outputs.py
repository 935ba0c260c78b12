"""The report outputs every reporting command shares: ``--json PATH|-``, ``--html``, ``--plot`` and the
terminal report, written so that one failed write loses nothing else."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .errors import OutputError
from .output.htmlblocks import check_html, write_html
from .output.jsonreport import dumps, write_json
from .output.plots import check_plotting
from .output.tensorboard import check_tensorboard
from .output.terminal import report_console
from .output.writes import Write, write_all

Report = dict[str, Any]


@dataclass(frozen=True)
class Outputs:
    """Where a command's report goes: ``json`` a path or "-" (stdout, instead of the terminal report)."""

    json: str | None = None
    html: Path | None = None
    plot: Path | None = None
    no_color: bool = False


def check_outputs(plot: Path | None = None, html: Path | None = None, tensorboard: Path | None = None) -> None:
    """Refuse at once an output whose optional library is missing: before any kernel, not after."""
    if plot is not None:
        check_plotting()
    if html is not None:
        check_html()
    if tensorboard is not None:
        check_tensorboard()


def emit(report: Report, out: Outputs, render: Callable[[Report, Any], None],
         plot: Callable[[Report, Path], None] | None = None, html: Callable[[Report], str] | None = None,
         writes: Sequence[Write] = (), kept: str = "") -> None:
    """Write ``writes`` and the files ``out`` asks for, then print the JSON (``--json -``) or the terminal
    report; every failed write is one line of the OutputError raised at the end, ``kept`` after them.
    ``plot`` and ``html`` draw the report for a command that has --plot and --html."""
    todo = list(writes)
    if out.plot is not None and plot is not None:
        todo.append(("plot", out.plot, lambda: plot(report, out.plot)))  # type: ignore[arg-type]
    if out.html is not None and html is not None:
        todo.append(("HTML report", out.html, lambda: write_html(html(report), out.html)))  # type: ignore[arg-type]
    if out.json not in (None, "-"):
        todo.append(("JSON report", Path(out.json), lambda: write_json(report, Path(out.json))))  # type: ignore[arg-type]
    failures = write_all(todo)
    if out.json == "-":
        click.echo(dumps(report))
    else:
        render(report, report_console(out.no_color))
    if failures:
        raise OutputError("; ".join(failures) + (f". {kept}" if kept else ""))
