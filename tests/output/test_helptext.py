"""Grouped --help: every option once, under its group, in order; the rest under "Other options"."""

from __future__ import annotations

import click
from click.testing import CliRunner

from entk_probe.cli import main
from entk_probe.output.helptext import OPTION_GROUPS, GroupedCommand


def test_analyze_help_groups_every_option_once_in_order() -> None:
    text = CliRunner().invoke(main, ["analyze", "--help"]).output
    titles = [title for title, _ in OPTION_GROUPS if title in ("Probe", "Model", "Checkpoints", "Kernel", "Phases", "Output")]
    positions = [text.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions) and "Other options:" not in text
    command = main.commands["analyze"]
    for param in command.params:
        if isinstance(param, click.Option):
            assert text.count(f"  {param.opts[0]} ") + text.count(f"  {param.opts[0]}\n") == 1, param.opts[0]
    assert text.index("--cone-max-drift-ratio") > text.index("\nPhases:\n") > text.index("--force")
    assert text.index("\nOutput:\n") > text.index("--resamples") > text.index("\nPhases:\n")
    assert "entk-probe analyze output/train/resnet18-cifar --probe cifar10:500" in text


def test_options_in_no_group_come_last() -> None:
    @click.command(cls=GroupedCommand, groups=[("First", ("b",))])
    @click.option("--a", help="A.")
    @click.option("--b", help="B.")
    def command(a: str, b: str) -> None:
        pass

    text = CliRunner().invoke(command, ["--help"]).output
    assert text.index("First:") < text.index("--b") < text.index("Other options:") < text.index("--a")
