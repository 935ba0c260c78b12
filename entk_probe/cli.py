"""The ``entk-probe`` command: a thin shell around the library.

Library errors become a one-line message and an exit code (1 failure, 2 usage); progress goes
to stderr, the report to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from . import __version__
from .analysis import analyze as run_analysis
from .errors import EntkProbeError
from .report import render


def _fail(exc: EntkProbeError) -> None:
    click.echo(f"entk-probe: error: {exc}", err=True)
    sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="entk-probe")
def main() -> None:
    """How a network's empirical NTK evolved over training, from its checkpoints."""


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--probe", "probe_spec", required=True, help="Probe set spec, e.g. synthetic:64.")
@click.option("--mode", type=click.Choice(["trace", "full", "pntk"]), default="trace", show_default=True,
              help="Kernel mode (README: definitions).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--max-memory", default=None, help="Memory budget for Jacobians, e.g. 4GiB (default: half of free).")
def analyze(run_dir: Path, probe_spec: str, mode: str, device: str, max_memory: str | None) -> None:
    """Compute the eNTK of every checkpoint in RUN_DIR and show how it moved.

    Example: entk-probe analyze runs/demo --probe synthetic:48
    """
    err = Console(stderr=True)

    def progress(i: int, total: int, ckpt: object) -> None:
        if err.is_terminal:
            err.print(f"[{i + 1}/{total}] {getattr(ckpt, 'path', ckpt)}")

    try:
        result = run_analysis(run_dir, probe_spec, mode=mode, device=device, max_memory=max_memory,
                              on_checkpoint=progress)
    except EntkProbeError as exc:
        _fail(exc)
    render(result, Console())


if __name__ == "__main__":
    main()
