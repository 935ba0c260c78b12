"""The command line's shared options: how a kernel is computed, the data, the outputs, the phase
thresholds and plugins, each declared once for every command that takes them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import torch

from .analysis.phases import PhaseThresholds
from .analysis.confidence import CONFIDENT_SHARE
from .analysis.resample import DRAWS
from .engine.layerplan import PATHS
from .engine.modes import MODES
from .pipeline.distributed import DEFAULT_TIMEOUT
from .pipeline.options import SHARDS


def kernel_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of how a kernel is computed, shared by analyze and kernel."""
    for option in reversed([
        click.option("--mode", type=click.Choice(list(MODES)), default="trace", show_default=True,
                     help="Kernel mode (README: definitions)."),
        click.option("--params", metavar="PATTERNS", help="Only parameters whose names match, e.g. 'layer4.*,fc.*'."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--max-memory", default=None, help="Memory budget for the engine, e.g. 4GiB (default: half of free)."),
        click.option("--jacobian-dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
                     help="Dtype of the model's evaluation and of Jacobian rows."),
        click.option("--gram-dtype", type=click.Choice(["auto", "float32", "float64"]), default="auto", show_default=True,
                     help="Dtype of the products that sum Jacobian rows into the kernel (auto: the Jacobian dtype); "
                          "sums are float64."),
        click.option("--paths", type=click.Choice(list(PATHS)), default="auto", show_default=True,
                     help="How each layer's share is computed: auto lets the cost model choose per layer; "
                          "--debug lists the choices."),
        click.option("--force", is_flag=True, help="Run even when the estimate says it will not fit in memory."),
    ]):
        command = option(command)
    return command


def kernel_settings(mode: str, params: str | None, device: str, max_memory: str | None, jacobian_dtype: str,
                     gram_dtype: str, paths: str, force: bool) -> dict[str, Any]:
    """AnalyzeOptions fields from the kernel options."""
    return {"mode": mode, "params": params, "device": device, "max_memory": max_memory, "force": force,
            "jacobian_dtype": getattr(torch, jacobian_dtype),
            "gram_dtype": None if gram_dtype == "auto" else getattr(torch, gram_dtype), "paths": paths}


def data_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed([
        click.option("--input-size", metavar="C,H,W",
                     help="The model's input size, overriding what the run records (default: the recorded one, else "
                          "the probe's own)."),
        click.option("--normalize", metavar="NAME|MEAN/STD",
                      help="Override the model's normalisation: cifar, cifar-2023, cifar100, imagenet, mnist, "
                           "fashion-mnist, none, or e.g. 0.5,0.5,0.5/0.25,0.25,0.25."),
        click.option("--data-root", type=click.Path(path_type=Path),
                     help="Folder holding the datasets (default: ENTK_PROBE_DATA, ./data, ~/.cache/entk-probe)."),
        click.option("--download", is_flag=True, help="Fetch the official CIFAR archive if it is not found."),
    ]):
        command = option(command)
    return command


TEXT_FIELDS = ("tokenizer", "max_length", "base_model", "label_words", "prompt")


def text_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of language-model runs; the command receives them as one dict ``text`` of
    AnalyzeOptions fields (``TEXT_FIELDS``)."""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> None:
        words = kwargs.get("label_words")
        kwargs["label_words"] = None if words is None else tuple(w.strip() for w in words.split(","))
        text = {name: kwargs.pop(name) for name in TEXT_FIELDS}
        command(*args, text=text, **kwargs)

    for option in reversed([
        click.option("--tokenizer", type=click.Path(path_type=Path), metavar="DIR",
                     help="Text probes: the tokenizer's folder (default: the one saved with the run's checkpoints)."),
        click.option("--max-length", type=int, metavar="L",
                     help="Text probes: tokens an example is padded or truncated to (default: the longest selected "
                          "example, at most the model's positions)."),
        click.option("--base-model", type=click.Path(path_type=Path), metavar="DIR",
                     help="PEFT adapter runs: the base model's local folder (default: the adapter's "
                          "base_model_name_or_path when that is a local folder)."),
        click.option("--label-words", metavar="WORDS",
                     help="Causal and masked LMs: one word a class, e.g. 'terrible,great'; the outputs are their "
                          "logits at the prediction position."),
        click.option("--prompt", metavar="TEMPLATE",
                     help="Text probes: a template around each example, {text} (and {text_b}) for the example and "
                          "{mask} for the prediction position, e.g. '{text} It was {mask} .'."),
    ]):
        wrapped = option(wrapped)
    return wrapped


def output_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("--no-color", is_flag=True, help="No colours or styles in the report.")(command)
    return click.option("--quiet", is_flag=True, help="No progress bars (they are off anyway when stderr is no terminal).")(command)


def threshold_options(command: Callable[..., None]) -> Callable[..., None]:
    """One option per PhaseThresholds field, e.g. --cone-max-drift-ratio, defaults from the dataclass."""
    for f in reversed(dataclasses.fields(PhaseThresholds)):
        command = click.option(
            "--" + f.name.replace("_", "-"), f"threshold_{f.name}", type=type(f.default), default=f.default,
            show_default=True, help=f"Phase threshold: {f.metadata['help']}.",
        )(command)
    return command


resamples_option = click.option(
    "--resamples", type=int, default=DRAWS, show_default=True, metavar="N",
    help="Probe resamples (rows and columns of the kernels, no new kernel) that test how sure the verdict is; "
         f"the verdict is uncertain when fewer than {CONFIDENT_SHARE} of them agree with it (0: off).",
)


plugins_option = click.option(
    "--plugins", "plugins", multiple=True, type=click.Path(path_type=Path),
    help="A plugin file or folder registering models (repeatable); ENTK_PROBE_PLUGINS is read too.",
)


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
