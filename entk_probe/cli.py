"""The ``entk-probe`` command: a thin shell around the library.

Library errors become a one-line message and an exit code (1 failure, 2 usage; ``--debug``
shows the traceback); progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from . import __version__
from .pipeline import Analysis, AnalyzeOptions, analyze, checkpoint_kernel, load_plugins
from .analysis.dynamics import ANGLE_STATISTICS
from .errors import EntkProbeError, EntkProbeWarning, OutputError
from .output.jsonreport import dumps, read_json, to_json, write_json
from .output.kernelfile import kernel_metadata, save_kernel
from .runs.models import make_spec, parse_input_size, parse_model_kwargs
from .analysis.phases import CONE_STATISTIC, PhaseThresholds
from .engine.planning import EntkPlan
from .output.plots import check_plotting, plot_report
from .cli_options import (data_options, dist_timeout_option, kernel_options, kernel_settings, output_options, plugins_option,
                          resamples_option, shard_option, threshold_options)
from .output.switchreport import plot_switch, render_switch, switch_to_json
from .pipeline.switch import optimiser, run_switch
from .output.helptext import ANALYZE_GROUPS, GroupedCommand
from .output.messages import plan_table, show_estimate, show_shares, show_warning
from .output.writes import kernel_writes, write_all
from .pipeline.cache import default_cache_dir
from .pipeline.distributed import analyze_shared, launch_from_env
from .probes import SPEC_GRAMMAR, Target, available_probes, make_probe, save_probe
from .output.progress import progress_bars
from .runs.loading import WEIGHTS
from .runs.registry import REGISTRY
from .output.terminal import render, report_console


def _handles_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn library errors into one line on stderr and the error's exit code; warnings into lines."""

    @functools.wraps(command)
    def run(*args: Any, debug: bool = False, **kwargs: Any) -> None:
        click.get_current_context().meta[_DEBUG] = debug
        with warnings.catch_warnings():
            warnings.simplefilter("always", EntkProbeWarning)
            warnings.showwarning = show_warning
            try:
                command(*args, **kwargs)
            except EntkProbeError as exc:
                if debug:
                    raise
                if _speaks(exc):
                    click.echo(f"entk-probe: error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                if debug:
                    raise
                if click.get_current_context().meta.get(_NO_CACHE):
                    click.echo("entk-probe: interrupted; with --no-cache nothing computed so far was kept", err=True)
                else:
                    click.echo(f"entk-probe: interrupted; kernels computed so far stay in the kernel cache "
                               f"({default_cache_dir()}) and the same command continues from them", err=True)
                sys.exit(INTERRUPTED)

    return click.option("--debug", is_flag=True, help="Show the traceback of an error.")(run)


_DEBUG = "entk_probe.debug"
_NO_CACHE = "entk_probe.no_cache"  # set by analyze: what an interrupt leaves behind
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def _speaks(exc: EntkProbeError) -> bool:
    """Whether this process prints ``exc``: under torchrun every rank has the same error and rank 0
    alone says it, unless rank 0 is the one lost."""
    return os.environ.get("RANK", "0") == "0" or "WORLD_SIZE" not in os.environ or getattr(exc, "everywhere", False)


def _debug() -> bool:
    return bool(click.get_current_context().meta.get(_DEBUG))


def _show_plan(plan: EntkPlan | None) -> None:
    """Under --debug: which path every layer took and why, on stderr."""
    if plan is not None and _debug():
        report_console(stderr=True).print(plan_table(plan))


def _kept(options: AnalyzeOptions) -> str:
    """What survives a failed write, and how to write it elsewhere without recomputing."""
    if not options.cache:
        return "The analysis itself completed; with --no-cache, writing elsewhere means computing the kernels again"
    where = options.cache_dir or default_cache_dir()
    return (f"The analysis itself completed and its kernels are in the kernel cache ({where}): run the same command "
            "with the output pointing elsewhere (e.g. --json /tmp/report.json) and nothing is recomputed")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="entk-probe")
def main() -> None:
    """How a network's empirical NTK evolved over training, from its checkpoints."""


@main.command("analyze", cls=GroupedCommand, groups=ANALYZE_GROUPS)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--probe", "probe_spec", help="Probe set spec, e.g. cifar10:500 (default: RUN_DIR/probe.safetensors).")
@click.option("--arch", help="Architecture (timm or plugin name); default: what the checkpoints record.")
@plugins_option
@click.option("--model-kwargs", "model_kwargs", multiple=True, metavar="KEY=VALUE",
              help="Argument for the model factory, e.g. img_size=32 (repeatable).")
@click.option("--weights", type=click.Choice(list(WEIGHTS)), default="raw", show_default=True,
              help="Raw weights or the EMA copy timm keeps.")
@click.option("--glob", "glob", metavar="PATTERN", help="Only checkpoints whose path in RUN_DIR matches.")
@click.option("--every", type=int, metavar="K", help="Every k-th checkpoint, from the first.")
@click.option("--range", "range_", metavar="A:B", help="Epochs A to B (steps where epochs are unknown), inclusive.")
@click.option("--max-checkpoints", type=int, metavar="N", help="At most N, evenly spaced, first and last kept.")
@click.option("--trust-checkpoints", is_flag=True,
              help="Allow full unpickling of torch files safe loading refuses (runs code in them).")
@click.option("--init", type=click.Choice(["seed"]), default=None,
              help="Add the initial model timm's train.py started from, rebuilt from the recorded seed.")
@kernel_options
@data_options
@threshold_options
@resamples_option
@click.option("--cone-statistic", type=click.Choice(list(ANGLE_STATISTICS)), default=CONE_STATISTIC, show_default=True,
              help="Which principal angle of the top-k eigenspaces measures the cone.")
@click.option("--subspace-k", type=int, help="Eigenspace dimension for subspace angles (default: number of classes).")
@click.option("--buffer-motion", is_flag=True, help="Measure how much of each step's kernel motion the buffers (BatchNorm statistics) explain.")
@click.option("--no-cache", is_flag=True, help="Recompute every kernel (default: reuse the kernel cache).")
@click.option("--json", "json_path", metavar="PATH|-", help="Write the JSON report to PATH, or to stdout with -.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Write a PNG of the dynamics (needs the plot extra).")
@click.option("--save-kernels", type=click.Path(path_type=Path), metavar="DIR", help="Save every kernel to DIR as safetensors.")
@output_options
@shard_option
@dist_timeout_option
@_handles_errors
def analyze_command(run_dir: Path, probe_spec: str | None, arch: str | None, plugins: tuple[Path, ...],
                    model_kwargs: tuple[str, ...], weights: str, glob: str | None, every: int | None,
                    range_: str | None, max_checkpoints: int | None, trust_checkpoints: bool, init: str | None, mode: str,
                    params: str | None, device: str, max_memory: str | None, jacobian_dtype: str, gram_dtype: str,
                    paths: str, force: bool, input_size: str | None, normalize: str | None, data_root: Path | None,
                    download: bool, resamples: int, cone_statistic: str,
                    subspace_k: int | None, buffer_motion: bool, no_cache: bool, json_path: str | None,
                    plot_path: Path | None, save_kernels: Path | None, quiet: bool, no_color: bool,
                    shard: str, dist_timeout: float, **thresholds: Any) -> None:
    """Compute the eNTK of every checkpoint in RUN_DIR and show how it moved.

    \b
    Examples:
      entk-probe analyze output/train/resnet18-cifar --probe cifar10:500
      entk-probe analyze runs/r20 --plugins plugins/ --probe cifar10:500 --json r20.json --plot r20.png
      entk-probe analyze runs/loop --probe ./data/val:200 --input-size 3,64,64 --range 0:5
      torchrun --nproc-per-node 4 -m entk_probe analyze runs/r20 --probe cifar10:500 --json r20.json
    """
    options = AnalyzeOptions(
        arch=arch, plugins=plugins, model_kwargs=parse_model_kwargs(model_kwargs), weights=weights, glob=glob,
        every=every, range=range_, max_checkpoints=max_checkpoints, trust_checkpoints=trust_checkpoints, init=init,
        **kernel_settings(mode, params, device, max_memory, jacobian_dtype, gram_dtype, paths, force),
        normalize=normalize, input_size=parse_input_size(input_size) if input_size else None, data_root=data_root,
        download=download,
        thresholds=PhaseThresholds(**{k.removeprefix("threshold_"): v for k, v in thresholds.items()}),
        cone_statistic=cone_statistic, subspace_k=subspace_k, buffer_motion=buffer_motion, cache=not no_cache,
        shard=shard, resamples=resamples,
    )
    click.get_current_context().meta[_NO_CACHE] = no_cache
    if plot_path is not None:
        check_plotting()  # before hours of kernels, not after
    launch = launch_from_env()  # under torchrun: rank 0 reports, the other ranks only compute kernels
    with progress_bars(quiet or (launch is not None and launch.rank != 0)) as (on_checkpoint, on_chunk):
        if launch is None:
            result = analyze(run_dir, probe_spec, options, on_checkpoint=on_checkpoint, on_chunk=on_chunk,
                             on_estimate=None if quiet else show_estimate)
        else:
            result = analyze_shared(launch, run_dir, probe_spec, options, timeout=dist_timeout,
                                    on_checkpoint=on_checkpoint, on_chunk=on_chunk,
                                    on_estimate=None if quiet else show_estimate,
                                    on_shares=None if quiet else show_shares, debug=_debug())
    if result is None:
        return  # a rank other than 0: its kernels are in the cache, rank 0 reports
    with result.kernels:  # with --no-cache they wait in a temporary folder, removed when the outputs are written
        _report(result, options, json_path, plot_path, save_kernels, jacobian_dtype, params, no_color)


def _report(result: Analysis, options: AnalyzeOptions, json_path: str | None, plot_path: Path | None,
            save_kernels: Path | None, jacobian_dtype: str, params: str | None, no_color: bool) -> None:
    """The outputs of a finished analysis: the plan (--debug), kernel files, plot, JSON, the terminal report."""
    _show_plan(result.plan)
    report = to_json(result)
    writes = [] if save_kernels is None else kernel_writes(result, save_kernels, jacobian_dtype, params)
    if plot_path is not None:
        writes.append(("plot", plot_path, lambda: plot_report(report, plot_path)))
    if json_path not in (None, "-"):
        writes.append(("JSON report", Path(json_path), lambda: write_json(report, Path(json_path))))
    failures = write_all(writes)
    if json_path == "-":
        click.echo(dumps(report))
    else:
        render(report, report_console(no_color))
    if failures:
        raise OutputError(f"{'; '.join(failures)}. {_kept(options)}")


@main.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Also write the PNG of the dynamics.")
@click.option("--no-color", is_flag=True, help="No colours or styles.")
@_handles_errors
def report_command(path: Path, plot_path: Path | None, no_color: bool) -> None:
    """Print a saved JSON report (entk-probe analyze --json PATH) as the terminal report.

    Example: entk-probe report runs/r20/report.json --plot r20.png
    """
    report = read_json(path)
    failures = write_all([("plot", plot_path, lambda: plot_report(report, plot_path))] if plot_path else [])
    render(report, report_console(no_color))
    if failures:
        raise OutputError(failures[0])


@main.command("kernel")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--probe", "probe_spec", required=True, help="Probe set spec, e.g. cifar10:500.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .safetensors file to write.")
@click.option("--arch", help="Architecture (timm or plugin name); default: what the checkpoint records.")
@plugins_option
@click.option("--model-kwargs", "model_kwargs", multiple=True, metavar="KEY=VALUE", help="Argument for the model factory (repeatable).")
@click.option("--weights", type=click.Choice(list(WEIGHTS)), default="raw", show_default=True)
@click.option("--trust-checkpoints", is_flag=True, help="Allow full unpickling of a torch file safe loading refuses.")
@kernel_options
@data_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_handles_errors
def kernel_command(checkpoint: Path, probe_spec: str, output: Path, arch: str | None, plugins: tuple[Path, ...],
                   model_kwargs: tuple[str, ...], weights: str, trust_checkpoints: bool, mode: str, params: str | None,
                   device: str, max_memory: str | None, jacobian_dtype: str, gram_dtype: str, paths: str,
                   force: bool, input_size: str | None, normalize: str | None, data_root: Path | None, download: bool,
                   quiet: bool) -> None:
    """Compute one checkpoint's eNTK on a probe and save it with its metadata.

    Example: entk-probe kernel runs/r20/step00620.safetensors --probe cifar10:200 -o K.safetensors
    """
    options = AnalyzeOptions(
        arch=arch, plugins=plugins, model_kwargs=parse_model_kwargs(model_kwargs), weights=weights,
        trust_checkpoints=trust_checkpoints, **kernel_settings(mode, params, device, max_memory, jacobian_dtype,
                                                                 gram_dtype, paths, force),
        normalize=normalize, input_size=parse_input_size(input_size) if input_size else None, data_root=data_root,
        download=download,
    )
    with progress_bars(quiet) as (_, on_chunk):
        result = checkpoint_kernel(checkpoint, probe_spec, options, on_chunk=on_chunk)
    _show_plan(result.plan)
    meta = kernel_metadata(result.checkpoint, arch=result.model.arch, probe_spec=result.probe.spec,
                           probe_sha256=result.probe.sha256, mode=mode, jacobian_dtype=jacobian_dtype,
                           gram_dtype=str(options.products).removeprefix("torch."),
                           device=result.device, params=params)
    failures = write_all([("kernel file", output, lambda: save_kernel(output, result.kernel, meta))])
    if failures:
        raise OutputError(f"{failures[0]}. {_kept(options)}")
    click.echo(f"wrote {output}: {mode} kernel of shape {tuple(result.kernel.shape)} for {result.checkpoint.name}"
               f"{' (from the kernel cache)' if result.cached else ''}", err=True)


@main.group("probe")
def probe_group() -> None:
    """Probe sets: export one to a file that travels with a run."""


@probe_group.command("export")
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .safetensors file to write.")
@click.option("--arch", help="Shape and normalise the probe for this architecture (timm or plugin name).")
@plugins_option
@click.option("--model-kwargs", "model_kwargs", multiple=True, metavar="KEY=VALUE",
              help="Factory arguments that change the model's input (e.g. img_size=32).")
@data_options
@_handles_errors
def probe_export_command(spec: str, output: Path, arch: str | None, plugins: tuple[Path, ...],
                         model_kwargs: tuple[str, ...], input_size: str | None, normalize: str | None,
                         data_root: Path | None, download: bool) -> None:
    """Build the probe SPEC and save it (inputs, labels, indices, provenance) to OUTPUT.

    Without --arch the images keep their own size and channels. Example:
    entk-probe probe export cifar10:500 --arch resnet20_cifar --plugins plugins/ -o probe.safetensors
    """
    target = None
    if arch:
        load_plugins(plugins)
        target = make_spec(arch, "--arch", {}, user_kwargs=parse_model_kwargs(model_kwargs),
                           input_size=parse_input_size(input_size) if input_size else None).target()
    elif input_size:
        c, h, w = parse_input_size(input_size)
        target = Target((c, h, w), size_source="--input-size")
    probe = make_probe(spec, target, normalize_override=normalize, data_root=data_root, download=download)
    save_probe(probe, output)
    click.echo(f"wrote {output}: {probe.n} inputs of shape {tuple(probe.inputs.shape[1:])} from {probe.source}; "
               f"normalisation {probe.normalization.describe()}; sha256 {probe.sha256}", err=True)


@main.command("probes")
@plugins_option
@_handles_errors
def probes_command(plugins: tuple[Path, ...]) -> None:
    """List the probe sets entk-probe can build and where each comes from.

    Example: entk-probe probes --plugins my_plugins/
    """
    load_plugins(plugins)
    table = Table("probe", "from", show_edge=False)
    for name, origin in available_probes():
        table.add_row(name, origin)
    report_console().print(table)
    report_console().print(f"Spec grammar: {SPEC_GRAMMAR}")


@main.command("models")
@plugins_option
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching, e.g. 'resnet*'.")
@click.option("--timm/--no-timm", "with_timm", default=False, show_default=True,
              help="List timm's architectures too (over a thousand), not only their count.")
@_handles_errors
def models_command(plugins: tuple[Path, ...], pattern: str | None, with_timm: bool) -> None:
    """List the architectures entk-probe can build and where each comes from.

    Example: entk-probe models --plugins plugins/ --filter 'resnet*'
    """
    load_plugins(plugins)
    rows = [(n, o) for n, o in REGISTRY.available() if pattern is None or fnmatch.fnmatch(n, pattern)]
    own = [(n, o) for n, o in rows if o != "timm"]
    timm_names = [n for n, o in rows if o == "timm"]
    table = Table("model", "from", show_edge=False)
    for name, origin in own + ([(n, "timm") for n in timm_names] if with_timm else []):
        table.add_row(name, origin)
    console = report_console()
    console.print(table)
    if not with_timm:
        console.print(f"and {len(timm_names)} timm architectures (--timm lists them)")


if __name__ == "__main__":
    main()


@main.command("switch")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--train", "train_spec", required=True, help="Training data, e.g. cifar10:4000,split=train.")
@click.option("--eval", "eval_spec", required=True, help="Evaluation data, e.g. cifar10:1000.")
@click.option("--at", default="boundary", show_default=True,
              help="Where to switch besides the first checkpoint: 'boundary' (the analysis's) and/or times, e.g. boundary,3,10.")
@click.option("--epochs", type=float, default=1.0, show_default=True, help="Epochs of training from each switch point.")
@click.option("--lr", type=float, help="SGD learning rate (default: the run's args.yaml, else 0.01).")
@click.option("--momentum", type=float, help="SGD momentum (default: args.yaml, else 0.9).")
@click.option("--weight-decay", type=float, help="Weight decay on the network's weights (default: args.yaml, else 5e-4).")
@click.option("--batch-size", type=int, help="Batch size (default: args.yaml, else 128).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the batch order (the same for both kinds).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (training and the analysis).")
@click.option("--probe", "probe_spec", help="Probe for the analysis that places the boundary (default: --eval).")
@click.option("--arch", help="Architecture (timm or plugin name); default: what the checkpoints record.")
@plugins_option
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the JSON report to PATH.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Write a PNG of accuracy against switch point.")
@click.option("--no-color", is_flag=True, help="No colours or styles.")
@data_options
@_handles_errors
def switch_command(run_dir: Path, train_spec: str, eval_spec: str, at: str, epochs: float, lr: float | None,
                   momentum: float | None, weight_decay: float | None, batch_size: int | None, seed: int, device: str,
                   probe_spec: str | None,
                   arch: str | None, plugins: tuple[Path, ...], json_path: Path | None, plot_path: Path | None,
                   no_color: bool, input_size: str | None, normalize: str | None, data_root: Path | None,
                   download: bool) -> None:
    """Train the network and its linearisation from chosen checkpoints and compare them.

    \b
    Example:
      entk-probe switch runs/r20 --train cifar10:4000,split=train --eval cifar10:1000 --epochs 2
    """
    options = AnalyzeOptions(arch=arch, plugins=plugins, device=device, normalize=normalize, data_root=data_root,
                             download=download, input_size=parse_input_size(input_size) if input_size else None)
    load_plugins(plugins)
    opt = optimiser(run_dir, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "batch_size": batch_size})
    if plot_path is not None:
        check_plotting()
    report = switch_to_json(run_switch(run_dir, train_spec, eval_spec, at, epochs, opt, options, probe_spec, seed))
    failures = write_all(([("JSON report", json_path, lambda: write_json(report, json_path))] if json_path else [])
                         + ([("plot", plot_path, lambda: plot_switch(report, plot_path))] if plot_path else []))
    render_switch(report, report_console(no_color))
    if failures:
        raise OutputError("; ".join(failures))
