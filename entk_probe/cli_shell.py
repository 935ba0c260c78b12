"""How a command runs: library errors as one line and an exit code, interrupts, --debug, and what a
failed write leaves behind."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from .engine.planning import EntkPlan
from .errors import EntkProbeError, EntkProbeWarning
from .output.messages import plan_table, show_warning
from .output.terminal import report_console
from .pipeline import AnalyzeOptions
from .pipeline.cache import default_cache_dir


def handles_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn library errors into one line on stderr and the error's exit code; warnings into lines."""

    @functools.wraps(command)
    def run(*args: Any, debug: bool = False, **kwargs: Any) -> None:
        click.get_current_context().meta[DEBUG_KEY] = debug
        with warnings.catch_warnings():
            warnings.simplefilter("always", EntkProbeWarning)
            warnings.showwarning = show_warning
            try:
                command(*args, **kwargs)
            except EntkProbeError as exc:
                if debug:
                    raise
                if speaks(exc):
                    click.echo(f"entk-probe: error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                if debug:
                    raise
                if click.get_current_context().meta.get(NO_CACHE_KEY):
                    click.echo("entk-probe: interrupted; with --no-cache nothing computed so far was kept", err=True)
                else:
                    click.echo(f"entk-probe: interrupted; kernels computed so far stay in the kernel cache "
                               f"({default_cache_dir()}) and the same command continues from them", err=True)
                sys.exit(INTERRUPTED)

    return click.option("--debug", is_flag=True, help="Show the traceback of an error.")(run)


DEBUG_KEY = "entk_probe.debug"
NO_CACHE_KEY = "entk_probe.no_cache"  # set by analyze: what an interrupt leaves behind
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def speaks(exc: EntkProbeError) -> bool:
    """Whether this process prints ``exc``: under torchrun every rank has the same error and rank 0
    alone says it, unless rank 0 is the one lost."""
    return os.environ.get("RANK", "0") == "0" or "WORLD_SIZE" not in os.environ or getattr(exc, "everywhere", False)


def debug_on() -> bool:
    return bool(click.get_current_context().meta.get(DEBUG_KEY))


def show_plan(plan: EntkPlan | None) -> None:
    """Under --debug: which path every layer took and why, on stderr."""
    if plan is not None and debug_on():
        report_console(stderr=True).print(plan_table(plan))


def kept(options: AnalyzeOptions) -> str:
    """What survives a failed write, and how to write it elsewhere without recomputing."""
    if not options.cache:
        return "The analysis itself completed; with --no-cache, writing elsewhere means computing the kernels again"
    where = options.cache_dir or default_cache_dir()
    return (f"The analysis itself completed and its kernels are in the kernel cache ({where}): run the same command "
            "with the output pointing elsewhere (e.g. --json /tmp/report.json) and nothing is recomputed")
