"""The shared options: one declaration, the same option on every command that takes it."""

from __future__ import annotations

import dataclasses
import sys

import click
import torch
from click.testing import CliRunner

from entk_probe.analysis.phases import PhaseThresholds
from entk_probe.analysis.resample import DRAWS
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.cli import main
from entk_probe.cli_options import kernel_settings
from entk_probe.output.helptext import GroupedCommand


def test_every_threshold_is_an_option_and_kernel_settings_map_dtypes() -> None:
    names = {p.name for p in main.commands["analyze"].params}
    assert {f"threshold_{f.name}" for f in dataclasses.fields(PhaseThresholds)} <= names
    settings = kernel_settings("full", None, "cpu", "1GiB", "float64", "auto", "auto", False)
    assert settings["jacobian_dtype"] is torch.float64 and settings["gram_dtype"] is None and settings["mode"] == "full"
    resamples = next(p for p in main.commands["analyze"].params if p.name == "resamples")
    assert resamples.default == AnalyzeOptions().resamples == DRAWS  # declared once, the library's default
    for command in ("analyze", "kernel"):
        assert {"mode", "device", "max_memory", "force", "input_size", "normalize"} <= {
            p.name for p in main.commands[command].params}


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def _commands() -> dict[str, click.Command]:
    return {**{n: c for n, c in main.commands.items() if not isinstance(c, click.Group)},
            "probe export": main.commands["probe"].commands["export"]}  # type: ignore[attr-defined]


def test_an_option_means_the_same_in_every_command() -> None:
    """Same flags, type, default and help wherever a parameter name appears (declared once), except the
    --probe default and --arch of `probe export`, which say what differs for that command."""
    seen: dict[str, tuple[str, click.Option]] = {}
    for name, command in _commands().items():
        for param, option in _options(command).items():
            if param in ("probe_spec", "json_path", "plot_path") or (name == "probe export" and param == "arch"):
                continue
            if param in seen:
                first, other = seen[param]
                assert (option.opts, option.type.name, option.default, option.help) == (
                    other.opts, other.type.name, other.default, other.help), f"{param}: {first} and {name} differ"
            else:
                seen[param] = (name, option)


def test_every_reporting_command_takes_the_shared_options() -> None:
    shared = {"json_path", "quiet", "no_color"}
    for name in ("analyze", "report", "kernel", "switch", "compare", "watch"):
        assert shared <= set(_options(main.commands[name])), name
    for name in ("analyze", "report", "switch", "compare", "watch"):
        assert {"html_path", "plot_path"} <= set(_options(main.commands[name])), name
    for name in ("analyze", "switch", "compare", "watch"):
        assert {"arch", "plugins", "model_kwargs", "weights", "trust_checkpoints", "glob", "every", "range",
                "max_checkpoints", "device", "input_size", "tokenizer", "threshold_cone_max_drift_ratio", "resamples",
                "no_cache", "init"} <= set(_options(main.commands[name])), name


def test_every_commands_help_is_grouped_and_names_its_values() -> None:
    for name, command in _commands().items():
        if not isinstance(command, GroupedCommand):
            continue
        text = CliRunner().invoke(main, [*name.split(), "--help"]).output
        assert "Other options" not in text, name  # every option sits in a named group
        assert " TEXT " not in text, name  # a metavar says what a value is
    assert all(isinstance(main.commands[n], GroupedCommand)
               for n in ("analyze", "report", "kernel", "switch", "compare", "watch"))


def test_shell_completion_completes_commands_and_options() -> None:
    import os
    import shutil
    import subprocess

    exe = shutil.which("entk-probe", path=os.path.dirname(sys.executable))
    assert exe is not None
    env = {**os.environ, "_ENTK_PROBE_COMPLETE": "bash_complete", "COMP_WORDS": "entk-probe comp", "COMP_CWORD": "1"}
    done = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=120)
    assert "plain,compare" in done.stdout.splitlines(), done.stdout  # click's bash protocol: type,value a line
    env.update(COMP_WORDS="entk-probe switch --tr", COMP_CWORD="2")
    done = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=120)
    assert {"plain,--train", "plain,--trust-checkpoints"} <= set(done.stdout.splitlines()), done.stdout
    source = subprocess.run([exe], env={**os.environ, "_ENTK_PROBE_COMPLETE": "bash_source"}, capture_output=True,
                            text=True, timeout=120)
    assert "complete -o nosort -F _entk_probe_completion entk-probe" in source.stdout
