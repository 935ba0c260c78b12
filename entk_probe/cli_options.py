"""The command line's shared options: how a kernel is computed, the model, the checkpoints, the data,
the outputs, the phase thresholds and plugins, each declared once for every command that takes them.

A group of options reaches its command as one dict of ``AnalyzeOptions`` fields (``model``,
``selection``, ``kernel``, ``data``, ``text``, ``analysis``), already parsed, so that a command is only
``AnalyzeOptions(**model, **selection, **kernel, **data, **text, **analysis)`` and its own options;
``run_options`` puts all six groups on a command, ``report_options`` the outputs of one that reports.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import torch

from .analysis.dynamics import ANGLE_STATISTICS
from .analysis.phases import CONE_STATISTIC, PhaseThresholds
from .analysis.confidence import CONFIDENT_SHARE
from .analysis.resample import DRAWS
from .engine.layerplan import PATHS
from .engine.modes import MODES
from .pipeline.distributed import DEFAULT_TIMEOUT
from .pipeline.options import SHARDS
from .runs.loading import WEIGHTS
from .runs.models import parse_input_size, parse_model_kwargs

Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def gathered(into: str, options: Mapping[str, Decorator],
             convert: Callable[[dict[str, Any]], dict[str, Any]] = dict) -> Decorator:
    """Declare ``options`` (click parameter name -> click.option) on a command that receives their
    values as one keyword ``into``: ``convert`` of {name: value}."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def wrapped(*args: Any, **kwargs: Any) -> None:
            command(*args, **{into: convert({name: kwargs.pop(name) for name in options})}, **kwargs)

        for option in reversed(list(options.values())):
            wrapped = option(wrapped)
        return wrapped
    return decorate


def kernel_settings(mode: str, params: str | None, device: str, max_memory: str | None, jacobian_dtype: str,
                    gram_dtype: str, paths: str, force: bool) -> dict[str, Any]:
    """AnalyzeOptions fields from the kernel options."""
    return {"mode": mode, "params": params, "device": device, "max_memory": max_memory, "force": force,
            "jacobian_dtype": getattr(torch, jacobian_dtype),
            "gram_dtype": None if gram_dtype == "auto" else getattr(torch, gram_dtype), "paths": paths}


kernel_options = gathered("kernel", {
    "mode": click.option("--mode", type=click.Choice(list(MODES)), default="trace", show_default=True,
                         help="Kernel mode (docs/definitions.md: kernel modes)."),
    "params": click.option("--params", metavar="PATTERNS",
                           help="Only parameters whose names match, e.g. 'layer4.*,fc.*'."),
    "device": click.option("--device", default="auto", metavar="DEVICE", show_default=True,
                           help="auto, cpu, cuda or cuda:N."),
    "max_memory": click.option("--max-memory", default=None, metavar="SIZE",
                               help="Memory budget for the engine, e.g. 4GiB (default: half of free)."),
    "jacobian_dtype": click.option("--jacobian-dtype", type=click.Choice(["float32", "float64"]), default="float32",
                                   show_default=True, help="Dtype of the model's evaluation and of Jacobian rows."),
    "gram_dtype": click.option("--gram-dtype", type=click.Choice(["auto", "float32", "float64"]), default="auto",
                               show_default=True, help="Dtype of the products that sum Jacobian rows into the kernel "
                                                       "(auto: the Jacobian dtype); sums are float64."),
    "paths": click.option("--paths", type=click.Choice(list(PATHS)), default="auto", show_default=True,
                          help="How each layer's share is computed: auto lets the cost model choose per layer; "
                               "--debug lists the choices."),
    "force": click.option("--force", is_flag=True, help="Run even when the estimate says it will not fit in memory."),
}, lambda v: kernel_settings(**v))


plugins_option = click.option(
    "--plugins", "plugins", multiple=True, type=click.Path(path_type=Path),
    help="A plugin file or folder registering models (repeatable); ENTK_PROBE_PLUGINS is read too.",
)


model_kwargs_option = click.option("--model-kwargs", "model_kwargs", multiple=True, metavar="KEY=VALUE",
                                   help="Argument for the model factory, e.g. img_size=32 (repeatable).")


def _model_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "model_kwargs": parse_model_kwargs(values["model_kwargs"])}


model_options = gathered("model", {
    "arch": click.option("--arch", metavar="NAME",
                         help="Architecture (timm or plugin name); default: what the checkpoints record."),
    "plugins": plugins_option,
    "model_kwargs": model_kwargs_option,
    "weights": click.option("--weights", type=click.Choice(list(WEIGHTS)), default="raw", show_default=True,
                            help="Raw weights or the EMA copy timm keeps."),
    "trust_checkpoints": click.option("--trust-checkpoints", is_flag=True,
                                      help="Allow full unpickling of torch files safe loading refuses (runs code "
                                           "in them)."),
}, _model_fields)


selection_options = gathered("selection", {
    "glob": click.option("--glob", "glob", metavar="PATTERN", help="Only checkpoints whose path in RUN_DIR matches."),
    "every": click.option("--every", type=int, metavar="K", help="Every k-th checkpoint, from the first."),
    "range": click.option("--range", "range", metavar="A:B",
                          help="Epochs A to B (steps where epochs are unknown), inclusive."),
    "max_checkpoints": click.option("--max-checkpoints", type=int, metavar="N",
                                    help="At most N, evenly spaced, first and last kept."),
})


def _data_fields(values: dict[str, Any]) -> dict[str, Any]:
    size = values["input_size"]
    return {**values, "input_size": parse_input_size(size) if size else None}


data_options = gathered("data", {
    "input_size": click.option("--input-size", metavar="C,H,W",
                               help="The model's input size, overriding what the run records (default: the "
                                    "recorded one, else the probe's own)."),
    "normalize": click.option("--normalize", metavar="NAME|MEAN/STD",
                              help="Override the model's normalisation: cifar, cifar-2023, cifar100, imagenet, mnist, "
                                   "fashion-mnist, none, or e.g. 0.5,0.5,0.5/0.25,0.25,0.25."),
    "data_root": click.option("--data-root", type=click.Path(path_type=Path),
                              help="Folder holding the datasets (default: ENTK_PROBE_DATA, ./data, "
                                   "~/.cache/entk-probe)."),
    "download": click.option("--download", is_flag=True, help="Fetch the official CIFAR archive if it is not found."),
}, _data_fields)


def probe_option(default: str = "RUN_DIR/probe.safetensors", required: bool = False) -> Decorator:
    """``--probe SPEC``; ``default`` says what a command takes without it."""
    return click.option("--probe", "probe_spec", required=required, metavar="SPEC",
                        help="Probe set spec, e.g. cifar10:500" + ("." if required else f" (default: {default})."))


def _text_fields(values: dict[str, Any]) -> dict[str, Any]:
    words = values["label_words"]
    return {**values, "label_words": None if words is None else tuple(w.strip() for w in words.split(","))}


text_options = gathered("text", {
    "tokenizer": click.option("--tokenizer", type=click.Path(path_type=Path), metavar="DIR",
                              help="Text probes: the tokenizer's folder (default: the one saved with the run's "
                                   "checkpoints)."),
    "max_length": click.option("--max-length", type=int, metavar="L",
                               help="Text probes: tokens an example is padded or truncated to (default: the longest "
                                    "selected example, at most the model's positions)."),
    "base_model": click.option("--base-model", type=click.Path(path_type=Path), metavar="DIR",
                               help="PEFT adapter runs: the base model's local folder (default: the adapter's "
                                    "base_model_name_or_path when that is a local folder)."),
    "label_words": click.option("--label-words", metavar="WORDS",
                                help="Causal and masked LMs: one word a class, e.g. 'terrible,great'; the outputs are "
                                     "their logits at the prediction position."),
    "prompt": click.option("--prompt", metavar="TEMPLATE",
                           help="Text probes: a template around each example, {text} (and {text_b}) for the example "
                                "and {mask} for the prediction position, e.g. '{text} It was {mask} .'."),
}, _text_fields)
TEXT_FIELDS = ("tokenizer", "max_length", "base_model", "label_words", "prompt")


def _threshold(f: dataclasses.Field) -> Decorator:  # type: ignore[type-arg]
    return click.option("--" + f.name.replace("_", "-"), f"threshold_{f.name}", type=type(f.default), default=f.default,
                        show_default=True, metavar="X" if isinstance(f.default, float) else "N",
                        help=f"Phase threshold: {f.metadata['help']}.")


def _analysis_fields(values: dict[str, Any]) -> dict[str, Any]:
    thresholds = {k.removeprefix("threshold_"): values.pop(k) for k in list(values) if k.startswith("threshold_")}
    cache = not values.pop("no_cache")
    return {**values, "thresholds": PhaseThresholds(**thresholds), "cache": cache}


# How the kernels become a verdict: one option per PhaseThresholds field (e.g. --cone-max-drift-ratio, defaults
# from the dataclass), the probe resamples, the cone's statistic, the buffers' share, the cache, timm's initial model.
analysis_options = gathered("analysis", {
    **{f"threshold_{f.name}": _threshold(f) for f in dataclasses.fields(PhaseThresholds)},
    "resamples": click.option(
        "--resamples", type=int, default=DRAWS, show_default=True, metavar="N",
        help="Probe resamples (rows and columns of the kernels, no new kernel) that test how sure the verdict is; "
             f"the verdict is uncertain when fewer than {CONFIDENT_SHARE} of them agree with it (0: off)."),
    "cone_statistic": click.option("--cone-statistic", type=click.Choice(list(ANGLE_STATISTICS)), default=CONE_STATISTIC,
                                   show_default=True, help="Which principal angle of the top-k eigenspaces measures the cone."),
    "subspace_k": click.option("--subspace-k", type=int, metavar="K",
                               help="Eigenspace dimension for subspace angles (default: number of classes)."),
    "buffer_motion": click.option("--buffer-motion", is_flag=True,
                                  help="Measure how much of each step's kernel motion the buffers (BatchNorm "
                                       "statistics) explain."),
    "no_cache": click.option("--no-cache", is_flag=True, help="Recompute every kernel (default: reuse the kernel cache)."),
    "init": click.option("--init", type=click.Choice(["seed"]), default=None,
                         help="Add the initial model timm's train.py started from, rebuilt from the recorded seed."),
}, _analysis_fields)


def run_options(command: Callable[..., None]) -> Callable[..., None]:
    """Every option of how a run is read, its kernels computed and analysed: model, checkpoints, kernel, data, text,
    analysis (the keywords ``model``, ``selection``, ``kernel``, ``data``, ``text`` and ``analysis``)."""
    for options in reversed((model_options, selection_options, kernel_options, data_options, text_options,
                             analysis_options)):
        command = options(command)
    return command


def report_options(plot: str = "the dynamics", json: str = "the JSON report") -> Decorator:
    """``--json``, ``--html``, ``--plot``, ``--quiet`` and ``--no-color`` of a command that reports."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed((json_option(json), html_option, plot_option(plot), output_options)):
            command = option(command)
        return command
    return decorate


def output_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--quiet`` and ``--no-color``, on every command that reports."""
    command = click.option("--no-color", is_flag=True, help="No colours or styles (also NO_COLOR).")(command)
    return click.option("--quiet", is_flag=True,
                        help="No progress on stderr (bars are off anyway when stderr is no terminal).")(command)


def json_option(what: str = "the JSON report") -> Decorator:
    """``--json PATH|-``: ``what`` to PATH, or to stdout instead of the terminal report."""
    return click.option("--json", "json_path", metavar="PATH|-",
                        help=f"Write {what} to PATH, or to stdout with - (instead of the terminal report).")


html_option = click.option("--html", "html_path", type=click.Path(path_type=Path), metavar="PATH",
                           help="Write the report as one self-contained HTML page, interactive plots included "
                                "(needs the html extra).")


def plot_option(what: str = "the dynamics") -> Decorator:
    return click.option("--plot", "plot_path", type=click.Path(path_type=Path), metavar="PATH",
                        help=f"Write a PNG of {what} (needs the plot extra).")





dist_timeout_option = click.option(
    "--dist-timeout", "dist_timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True, metavar="SECONDS",
    envvar="ENTK_PROBE_DIST_TIMEOUT",
    help="Under torchrun: a rank not heard from for this long is taken as lost and the command fails "
         "(also ENTK_PROBE_DIST_TIMEOUT).",
)


shard_option = click.option(
    "--shard", type=click.Choice(list(SHARDS)), default="auto", show_default=True,
    help="Under torchrun: give each rank whole kernels (checkpoints), or a part of every kernel's parameters, "
         "summed across the ranks (parameters: for a kernel too big or too slow for one device); auto: checkpoints "
         "when there are at least as many kernels to compute as ranks.",
)
