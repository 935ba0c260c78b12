"""How a command runs: one line and an exit code for library errors, the traceback with --debug."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from entk_probe.cli_shell import handles_errors, kept
from entk_probe.errors import ModelError, UsageError
from entk_probe.pipeline import AnalyzeOptions


@click.command()
@click.option("--usage", is_flag=True)
@handles_errors
def _failing(usage: bool) -> None:
    raise UsageError("bad value") if usage else ModelError("cannot build")


def test_errors_are_one_line_and_their_exit_code_and_debug_shows_the_traceback() -> None:
    usage = CliRunner().invoke(_failing, ["--usage"])
    assert usage.exit_code == 2 and usage.stderr == "entk-probe: error: bad value\n"
    failure = CliRunner().invoke(_failing, [])
    assert failure.exit_code == 1 and failure.stderr == "entk-probe: error: cannot build\n"
    debug = CliRunner().invoke(_failing, ["--debug"])
    assert isinstance(debug.exception, ModelError)


def test_a_failed_write_says_what_was_kept(tmp_path: pytest.TempPathFactory) -> None:
    assert "with --no-cache" in kept(AnalyzeOptions(cache=False))
    assert str(tmp_path) in kept(AnalyzeOptions(cache_dir=tmp_path))  # type: ignore[arg-type]
