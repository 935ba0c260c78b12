"""The ``entk-probe`` command: a thin shell around the library.

Library errors become a one-line message and an exit code (1 failure, 2 usage; ``--debug``
shows the traceback); progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import __version__
from .pipeline import Analysis, AnalyzeOptions, analyze, checkpoint_kernel, load_plugins
from .analysis.dynamics import ANGLE_STATISTICS
from .errors import OutputError
from .output.jsonreport import dumps, read_json, to_json, write_json
from .output.kernelfile import kernel_metadata, save_kernel
from .runs.models import parse_input_size, parse_model_kwargs
from .analysis.phases import CONE_STATISTIC, PhaseThresholds
from .output.plots import check_plotting, plot_report
from .output.tensorboard import check_tensorboard, write_tensorboard
from .cli_catalog import models_command, probe_group, probes_command
from .cli_watch import watch_command
from .cli_options import (data_options, dist_timeout_option, kernel_options, kernel_settings, output_options, plugins_option,
                          resamples_option, shard_option, text_options, threshold_options)
from .cli_shell import NO_CACHE_KEY, debug_on, handles_errors, kept, show_plan
from .output.switchreport import plot_switch, render_switch, switch_to_json
from .pipeline.switch import optimiser, run_switch
from .output.helptext import ANALYZE_GROUPS, GroupedCommand
from .output.messages import show_estimate, show_shares
from .output.writes import kernel_writes, write_all
from .pipeline.distributed import analyze_shared, launch_from_env
from .output.progress import progress_bars
from .runs.loading import WEIGHTS
from .output.terminal import render, report_console


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
@text_options
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
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Write the metrics (at each checkpoint's step), verdict and plot to DIR as TensorBoard events "
                   "(needs the tensorboard extra).")
@output_options
@shard_option
@dist_timeout_option
@handles_errors
def analyze_command(run_dir: Path, probe_spec: str | None, arch: str | None, plugins: tuple[Path, ...],
                    model_kwargs: tuple[str, ...], weights: str, glob: str | None, every: int | None,
                    range_: str | None, max_checkpoints: int | None, trust_checkpoints: bool, init: str | None, mode: str,
                    params: str | None, device: str, max_memory: str | None, jacobian_dtype: str, gram_dtype: str,
                    paths: str, force: bool, input_size: str | None, normalize: str | None, data_root: Path | None,
                    download: bool, resamples: int, cone_statistic: str,
                    subspace_k: int | None, buffer_motion: bool, no_cache: bool, json_path: str | None,
                    plot_path: Path | None, save_kernels: Path | None, tensorboard_dir: Path | None, quiet: bool,
                    no_color: bool, shard: str, dist_timeout: float, text: dict[str, Any], **thresholds: Any) -> None:
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
        shard=shard, resamples=resamples, **text,
    )
    click.get_current_context().meta[NO_CACHE_KEY] = no_cache
    if plot_path is not None:
        check_plotting()  # before hours of kernels, not after
    if tensorboard_dir is not None:
        check_tensorboard()
    launch = launch_from_env()  # under torchrun: rank 0 reports, the other ranks only compute kernels
    with progress_bars(quiet or (launch is not None and launch.rank != 0)) as (on_checkpoint, on_chunk):
        if launch is None:
            result = analyze(run_dir, probe_spec, options, on_checkpoint=on_checkpoint, on_chunk=on_chunk,
                             on_estimate=None if quiet else show_estimate)
        else:
            result = analyze_shared(launch, run_dir, probe_spec, options, timeout=dist_timeout,
                                    on_checkpoint=on_checkpoint, on_chunk=on_chunk,
                                    on_estimate=None if quiet else show_estimate,
                                    on_shares=None if quiet else show_shares, debug=debug_on())
    if result is None:
        return  # a rank other than 0: its kernels are in the cache, rank 0 reports
    with result.kernels:  # with --no-cache they wait in a temporary folder, removed when the outputs are written
        _report(result, options, json_path, plot_path, save_kernels, jacobian_dtype, params, no_color, tensorboard_dir)


def _report(result: Analysis, options: AnalyzeOptions, json_path: str | None, plot_path: Path | None,
            save_kernels: Path | None, jacobian_dtype: str, params: str | None, no_color: bool,
            tensorboard_dir: Path | None = None) -> None:
    """The outputs of a finished analysis: the plan (--debug), kernel files, plot, TensorBoard events, JSON,
    the terminal report."""
    show_plan(result.plan)
    report = to_json(result)
    writes = [] if save_kernels is None else kernel_writes(result, save_kernels, jacobian_dtype, params)
    if plot_path is not None:
        writes.append(("plot", plot_path, lambda: plot_report(report, plot_path)))
    if tensorboard_dir is not None:
        writes.append(("TensorBoard events in", tensorboard_dir, lambda: write_tensorboard(report, tensorboard_dir)))
    if json_path not in (None, "-"):
        writes.append(("JSON report", Path(json_path), lambda: write_json(report, Path(json_path))))
    failures = write_all(writes)
    if json_path == "-":
        click.echo(dumps(report))
    else:
        render(report, report_console(no_color))
    if failures:
        raise OutputError(f"{'; '.join(failures)}. {kept(options)}")


@main.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Also write the PNG of the dynamics.")
@click.option("--no-color", is_flag=True, help="No colours or styles.")
@handles_errors
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
@text_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handles_errors
def kernel_command(checkpoint: Path, probe_spec: str, output: Path, arch: str | None, plugins: tuple[Path, ...],
                   model_kwargs: tuple[str, ...], weights: str, trust_checkpoints: bool, mode: str, params: str | None,
                   device: str, max_memory: str | None, jacobian_dtype: str, gram_dtype: str, paths: str,
                   force: bool, input_size: str | None, normalize: str | None, data_root: Path | None, download: bool,
                   quiet: bool, text: dict[str, Any]) -> None:
    """Compute one checkpoint's eNTK on a probe and save it with its metadata.

    Example: entk-probe kernel runs/r20/step00620.safetensors --probe cifar10:200 -o K.safetensors
    """
    options = AnalyzeOptions(
        arch=arch, plugins=plugins, model_kwargs=parse_model_kwargs(model_kwargs), weights=weights,
        trust_checkpoints=trust_checkpoints, **kernel_settings(mode, params, device, max_memory, jacobian_dtype,
                                                                 gram_dtype, paths, force),
        normalize=normalize, input_size=parse_input_size(input_size) if input_size else None, data_root=data_root,
        download=download, **text,
    )
    with progress_bars(quiet) as (_, on_chunk):
        result = checkpoint_kernel(checkpoint, probe_spec, options, on_chunk=on_chunk)
    show_plan(result.plan)
    meta = kernel_metadata(result.checkpoint, arch=result.model.arch, probe_spec=result.probe.spec,
                           probe_sha256=result.probe.sha256, mode=mode, jacobian_dtype=jacobian_dtype,
                           gram_dtype=str(options.products).removeprefix("torch."),
                           device=result.device, params=params)
    failures = write_all([("kernel file", output, lambda: save_kernel(output, result.kernel, meta))])
    if failures:
        raise OutputError(f"{failures[0]}. {kept(options)}")
    click.echo(f"wrote {output}: {mode} kernel of shape {tuple(result.kernel.shape)} for {result.checkpoint.name}"
               f"{' (from the kernel cache)' if result.cached else ''}", err=True)


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
@text_options
@handles_errors
def switch_command(run_dir: Path, train_spec: str, eval_spec: str, at: str, epochs: float, lr: float | None,
                   momentum: float | None, weight_decay: float | None, batch_size: int | None, seed: int, device: str,
                   probe_spec: str | None,
                   arch: str | None, plugins: tuple[Path, ...], json_path: Path | None, plot_path: Path | None,
                   no_color: bool, input_size: str | None, normalize: str | None, data_root: Path | None,
                   download: bool, text: dict[str, Any]) -> None:
    """Train the network and its linearisation from chosen checkpoints and compare them.

    \b
    Example:
      entk-probe switch runs/r20 --train cifar10:4000,split=train --eval cifar10:1000 --epochs 2
    """
    options = AnalyzeOptions(arch=arch, plugins=plugins, device=device, normalize=normalize, data_root=data_root,
                             download=download, input_size=parse_input_size(input_size) if input_size else None, **text)
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


for _command in (probe_group, probes_command, models_command, watch_command):
    main.add_command(_command)


if __name__ == "__main__":
    main()
