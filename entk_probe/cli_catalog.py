"""The catalogue commands: `probe export`, `probes` and `models` (what entk-probe can build, and a probe to keep)."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .cli_options import data_options, json_option, model_kwargs_option, output_options, plugins_option, text_options
from .cli_outputs import Outputs, emit
from .cli_shell import handles_errors
from .output.helptext import GroupedCommand
from .pipeline import load_plugins
from .probes import SPEC_GRAMMAR, Target, available_probes, make_probe, save_probe
from .probes.probe import TextTarget
from .runs.models import make_spec, parse_model_kwargs
from .runs.registry import REGISTRY


@click.group("probe")
def probe_group() -> None:
    """Probe sets: export one to a file that travels with a run."""


@probe_group.command("export", cls=GroupedCommand)
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .safetensors file to write.")
@click.option("--arch", metavar="NAME", help="Shape and normalise the probe for this architecture (timm or plugin name).")
@plugins_option
@model_kwargs_option
@data_options
@text_options
@handles_errors
def probe_export_command(spec: str, output: Path, arch: str | None, plugins: tuple[Path, ...],
                         model_kwargs: tuple[str, ...], data: dict[str, Any], text: dict[str, Any]) -> None:
    """Build the probe SPEC and save it (inputs, labels, indices, provenance) to OUTPUT.

    \b
    Without --arch the images keep their own size and channels; a text probe is tokenised with
    --tokenizer DIR (the run's tokenizer folder). Examples:
      entk-probe probe export cifar10:500 --arch resnet20_cifar --plugins plugins/ -o probe.safetensors
      entk-probe probe export sst2:500 --tokenizer runs/sst2/checkpoint-40 --max-length 64 -o probe.safetensors
    """
    target = None
    if text["tokenizer"] is not None:
        target = Target(None, text=TextTarget(text["tokenizer"], text["max_length"], None, text["prompt"], "--tokenizer"))
    elif arch:
        load_plugins(plugins)
        target = make_spec(arch, "--arch", {}, user_kwargs=parse_model_kwargs(model_kwargs),
                           input_size=data["input_size"]).target()
    elif data["input_size"]:
        target = Target(data["input_size"], size_source="--input-size")
    probe = make_probe(spec, target, normalize_override=data["normalize"], data_root=data["data_root"],
                       download=data["download"])
    save_probe(probe, output)
    what = (f"tokens of length {probe.max_length}, tokenizer {probe.tokenizer[:12]}" if probe.is_text
            else f"normalisation {probe.normalization.describe()}")
    click.echo(f"wrote {output}: {probe.n} inputs of shape {tuple(probe.inputs.shape[1:])} from {probe.source}; "
               f"{what}; sha256 {probe.sha256}", err=True)


def _listing(kind: str, rows: list[tuple[str, str]], json_path: str | None, no_color: bool, notes: list[str]) -> None:
    """``rows`` (name, origin) as a table with ``notes`` under it, and as JSON where ``--json PATH|-`` asks."""
    def table(listing: dict[str, Any], console: Console) -> None:
        shown = Table(kind.removesuffix("s"), "from", show_edge=False)
        for row in listing[kind]:
            shown.add_row(row["name"], row["from"])
        console.print(shown)
        for note in listing["notes"]:
            console.print(note)

    emit({kind: [{"name": name, "from": origin} for name, origin in rows], "notes": notes},
         Outputs(json_path, no_color=no_color), table)


@click.command("probes", cls=GroupedCommand)
@plugins_option
@json_option("the listing")
@output_options
@handles_errors
def probes_command(plugins: tuple[Path, ...], json_path: str | None, quiet: bool, no_color: bool) -> None:
    """List the probe sets entk-probe can build and where each comes from.

    Example: entk-probe probes --plugins my_plugins/
    """
    load_plugins(plugins)
    _listing("probes", list(available_probes()), json_path, no_color, [f"Spec grammar: {SPEC_GRAMMAR}"])


@click.command("models", cls=GroupedCommand)
@plugins_option
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching, e.g. 'resnet*'.")
@click.option("--timm/--no-timm", "with_timm", default=False, show_default=True,
              help="List timm's architectures too (over a thousand), not only their count.")
@json_option("the listing")
@output_options
@handles_errors
def models_command(plugins: tuple[Path, ...], pattern: str | None, with_timm: bool, json_path: str | None, quiet: bool,
                   no_color: bool) -> None:
    """List the architectures entk-probe can build and where each comes from.

    Example: entk-probe models --plugins plugins/ --filter 'resnet*'
    """
    load_plugins(plugins)
    rows = [(n, o) for n, o in REGISTRY.available() if pattern is None or fnmatch.fnmatch(n, pattern)]
    own = [(n, o) for n, o in rows if o != "timm"]
    timm_names = [n for n, o in rows if o == "timm"]
    notes = [] if with_timm else [f"and {len(timm_names)} timm architectures (--timm lists them)"]
    _listing("models", own + ([(n, "timm") for n in timm_names] if with_timm else []), json_path, no_color, notes)
