"""The ``entk-probe`` command: a thin shell around the library.

Library errors become a one-line message and an exit code (1 failure, 2 usage; ``--debug``
shows the traceback); progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import __version__
from .pipeline import Analysis, AnalyzeOptions, analyze, checkpoint_kernel
from .errors import OutputError
from .output.jsonreport import dumps, read_json, to_json, write_json
from .output.kernelfile import kernel_metadata, save_kernel
from .output.plots import plot_report
from .output.tensorboard import write_tensorboard
from .cli_catalog import models_command, probe_group, probes_command
from .cli_watch import watch_command
from .cli_switch import switch_command
from .cli_compare import compare_command
from .cli_outputs import Outputs, check_outputs, emit
from .output.switchreport import plot_switch, render_switch
from .output.comparehtml import compare_html
from .output.compareplots import plot_compare
from .output.comparetable import render_compare
from .output.html import report_html, switch_html
from .cli_options import (data_options, dist_timeout_option, json_option, kernel_options, model_options, output_options,
                          probe_option, report_options, run_options, shard_option, text_options)
from .cli_shell import NO_CACHE_KEY, debug_on, handles_errors, kept, show_plan
from .output.helptext import GroupedCommand
from .output.messages import show_estimate, show_shares
from .output.writes import kernel_writes, write_all
from .pipeline.distributed import analyze_shared, launch_from_env
from .output.progress import progress_bars
from .output.terminal import render


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="entk-probe")
def main() -> None:
    """How a network's empirical NTK evolved over training, from its checkpoints.

    What every number of the report means (kernel modes, centring, angles, velocity, the boundary rule,
    the cone test, the verdicts and their thresholds): docs/definitions.md in entk-probe's source.
    """


@main.command("analyze", cls=GroupedCommand)
@click.argument("run_dir", type=click.Path(path_type=Path))
@probe_option()
@run_options
@report_options()
@click.option("--save-kernels", type=click.Path(path_type=Path), metavar="DIR", help="Save every kernel to DIR as safetensors.")
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Write the metrics (at each checkpoint's step), verdict and plot to DIR as TensorBoard events "
                   "(needs the tensorboard extra).")
@shard_option
@dist_timeout_option
@handles_errors
def analyze_command(run_dir: Path, probe_spec: str | None, model: dict[str, Any], selection: dict[str, Any],
                    kernel: dict[str, Any], data: dict[str, Any], text: dict[str, Any], analysis: dict[str, Any],
                    json_path: str | None, html_path: Path | None, plot_path: Path | None, save_kernels: Path | None,
                    tensorboard_dir: Path | None, quiet: bool, no_color: bool, shard: str, dist_timeout: float) -> None:
    """Compute the eNTK of every checkpoint in RUN_DIR and show how it moved.

    \b
    Examples:
      entk-probe analyze output/train/resnet18-cifar --probe cifar10:500
      entk-probe analyze runs/r20 --plugins plugins/ --probe cifar10:500 --json r20.json --html r20.html
      entk-probe analyze runs/loop --probe ./data/val:200 --input-size 3,64,64 --range 0:5
      torchrun --nproc-per-node 4 -m entk_probe analyze runs/r20 --probe cifar10:500 --json r20.json

    The report's numbers and the thresholds below are defined in docs/definitions.md.
    """
    options = AnalyzeOptions(**model, **selection, **kernel, **data, **text, **analysis, shard=shard)
    click.get_current_context().meta[NO_CACHE_KEY] = not options.cache
    check_outputs(plot_path, html_path, tensorboard_dir)  # before hours of kernels, not after
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
        report_analysis(result, Outputs(json_path, html_path, plot_path, no_color), save_kernels, tensorboard_dir)


def report_analysis(result: Analysis, out: Outputs, save_kernels: Path | None = None,
                    tensorboard_dir: Path | None = None) -> None:
    """The outputs of a finished analysis: the plan (--debug), kernel files, plot, HTML, TensorBoard events,
    JSON, the terminal report."""
    show_plan(result.plan)
    report = to_json(result)
    options = result.options
    writes = [] if save_kernels is None else kernel_writes(
        result, save_kernels, str(options.jacobian_dtype).removeprefix("torch."), options.params)
    if tensorboard_dir is not None:
        writes.append(("TensorBoard events in", tensorboard_dir, lambda: write_tensorboard(report, tensorboard_dir)))
    emit(report, out, render, plot_report, report_html, writes, kept(options))


# A saved report's kind (its "kind" key; an analysis report has none): how it is shown.
RENDERERS = {None: (render, plot_report, report_html), "switch": (render_switch, plot_switch, switch_html),
             "compare": (render_compare, plot_compare, compare_html)}


@main.command("report", cls=GroupedCommand)
@click.argument("path", type=click.Path(path_type=Path))
@report_options(plot="the report (the dynamics, or a switch or compare report's plot)",
                json="the report (as read, after its checks)")
@handles_errors
def report_command(path: Path, json_path: str | None, html_path: Path | None, plot_path: Path | None, quiet: bool,
                   no_color: bool) -> None:
    """Show a saved JSON report (of analyze, switch or compare --json PATH) as the terminal report.

    Example: entk-probe report runs/r20/report.json --html r20.html
    """
    report = read_json(path)
    check_outputs(plot_path, html_path)
    render_it, plot_it, html_it = RENDERERS.get(report.get("kind"), RENDERERS[None])
    emit(report, Outputs(json_path, html_path, plot_path, no_color), render_it, plot_it, html_it)


@main.command("kernel", cls=GroupedCommand)
@click.argument("checkpoint", type=click.Path(path_type=Path))
@probe_option(required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .safetensors file to write.")
@model_options
@kernel_options
@data_options
@text_options
@json_option("the kernel's metadata")
@output_options
@handles_errors
def kernel_command(checkpoint: Path, probe_spec: str, output: Path, model: dict[str, Any], kernel: dict[str, Any],
                   data: dict[str, Any], text: dict[str, Any], json_path: str | None, quiet: bool,
                   no_color: bool) -> None:
    """Compute one checkpoint's eNTK on a probe and save it with its metadata.

    Example: entk-probe kernel runs/r20/step00620.safetensors --probe cifar10:200 -o K.safetensors
    """
    options = AnalyzeOptions(**model, **kernel, **data, **text)
    with progress_bars(quiet) as (_, on_chunk):
        result = checkpoint_kernel(checkpoint, probe_spec, options, on_chunk=on_chunk)
    show_plan(result.plan)
    dtype = str(options.jacobian_dtype).removeprefix("torch.")
    meta = kernel_metadata(result.checkpoint, arch=result.model.arch, probe_spec=result.probe.spec,
                           probe_sha256=result.probe.sha256, mode=options.mode, jacobian_dtype=dtype,
                           gram_dtype=str(options.products).removeprefix("torch."),
                           device=result.device, params=options.params)
    writes = [("kernel file", output, lambda: save_kernel(output, result.kernel, meta))]
    if json_path not in (None, "-"):
        writes.append(("JSON metadata", Path(json_path), lambda: write_json(meta, Path(json_path))))
    failures = write_all(writes)
    if json_path == "-":
        click.echo(dumps(meta))
    if failures:
        raise OutputError(f"{'; '.join(failures)}. {kept(options)}")
    click.echo(f"wrote {output}: {options.mode} kernel of shape {tuple(result.kernel.shape)} for "
               f"{result.checkpoint.name}{' (from the kernel cache)' if result.cached else ''}", err=True)


for _command in (switch_command, compare_command, probe_group, probes_command, models_command, watch_command):
    main.add_command(_command)


if __name__ == "__main__":
    main()
