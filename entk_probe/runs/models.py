"""Models: which architecture a run used, how to build it, and loading each checkpoint's weights.

The architecture comes from ``--arch``, else from the checkpoints (timm's ``args.model``, an
``arch`` entry, safetensors metadata ``arch``: the first of those that names a known model),
else from ``args.yaml`` or ``config.json`` in the run directory. ``num_classes`` and ``in_chans``
come from ``--model-kwargs``, else from the recorded training arguments, else from the shapes of
the weights (the classifier's rows, the first convolution's input channels). Everything else the
factory needs is passed with ``--model-kwargs key=value``.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from timm.models import get_pretrained_cfg
from torch import Tensor, nn

from .checkpoints import Checkpoint
from ..errors import ModelError, UsageError, warn
from .loading import ambiguity, closest_note, fit_prefix, left_out_message, network_entries
from ..probes.preprocess import Normalization
from ..probes.probe import Target, TextTarget
from .records import RUN_ARGS_FILE, Records, read_run_args
from .registry import REGISTRY, ModelEntry, ModelRegistry
from .hfweights import is_text_model, load_text_weights
from .textmodels import text_run


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build the run's network, with where each value came from."""

    arch: str
    arch_source: str
    entry: ModelEntry
    kwargs: dict[str, Any]  # passed to the factory
    sources: dict[str, str] = field(default_factory=dict)  # kwarg or setting -> where it came from
    input_size: tuple[int, ...] | None = None  # (C, H, W) the model expects
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    text: TextTarget | None = None  # a language model (runs.textmodels): its probe is text

    @property
    def origin(self) -> str:
        return self.entry.origin

    def target(self) -> Target:
        """What the model expects of its probe inputs."""
        if self.text is not None:
            return Target(None, text=self.text, size_source="a language model")
        channels = self.input_size[0] if self.input_size else self.kwargs.get("in_chans")
        channels = channels if isinstance(channels, int) else None
        where = self.sources.get("input_size", "the model")
        if self.mean is None:
            return Target(self.input_size, transform=self.entry.transform, channels=channels, size_source=where)
        norm = Normalization(self.mean, self.std, self.sources["normalization"])
        return Target(self.input_size, norm, self.entry.transform, channels, where)


def parse_model_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings as a dict; values are Python literals where they parse, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"--model-kwargs takes key=value, e.g. img_size=32; got {item!r}")
        try:
            value: Any = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        out[key.strip()] = value
    return out


def parse_input_size(text: str) -> tuple[int, int, int]:
    """``--input-size C,H,W`` (or CxHxW) as three positive integers."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"--input-size takes C,H,W (three positive integers, e.g. 3,32,32), not {text!r}")
    c, h, w = (int(p) for p in parts)
    return c, h, w


CONFIG_KEYS = ("architecture", "model", "arch")  # of a config.json beside the checkpoints


def _run_dir_hints(run_dir: Path) -> list[tuple[str, str]]:
    """Architecture names in timm's args.yaml or a config.json of the run directory."""
    hints = []
    args = read_run_args(run_dir)
    model = args.get("model")
    if isinstance(model, str):
        hints.append((model, f"{getattr(args, 'path', run_dir / RUN_ARGS_FILE)} model"))  # args.yaml or hparams.yaml
    path = run_dir / "config.json"
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text())  # YAML is a superset of JSON
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: not readable ({str(exc).splitlines()[0]})") from None
        if isinstance(data, Mapping):
            hints += [(data[key], f"{path} {key}") for key in CONFIG_KEYS if isinstance(data.get(key), str)]
    return hints


def resolve_arch(
    explicit: str | None, checkpoints: Sequence[Checkpoint], run_dir: Path, registry: ModelRegistry = REGISTRY,
    base_model: Path | None = None,
) -> tuple[str, str]:
    """(architecture name, where it came from); checkpoints that name different ones are an error.

    A Hugging Face run's is its config.json's (``runs.textmodels``; ``base_model``: --base-model).
    """
    hf = text_run(checkpoints[0], run_dir, arch=explicit, base_model=base_model) if checkpoints else None
    if hf is not None:
        return hf.arch, hf.arch_source
    if explicit:
        return explicit, "--arch"
    named: dict[str, str] = {}
    unknown: list[str] = []
    for ckpt in checkpoints:
        for name, where in ckpt.arch_hints:
            if registry.origin_of(name) is not None:
                named.setdefault(name, f"{where} in {ckpt.name}")
                break
            unknown.append(f"{name!r} ({where} in {ckpt.name})")
    if len(named) > 1:
        raise ModelError(
            "the checkpoints name different architectures: "
            + "; ".join(f"{n} ({w})" for n, w in named.items()) + ": select one run with --glob, or pass --arch"
        )
    if named:
        return next(iter(named.items()))
    for name, where in _run_dir_hints(run_dir):
        if registry.origin_of(name) is not None:
            return name, where
        unknown.append(f"{name!r} ({where})")
    raise UsageError(
        "cannot tell which architecture these checkpoints belong to: pass --arch NAME"
        + (f" (names found but not known: {', '.join(dict.fromkeys(unknown))})" if unknown else "")
    )


def _accepts(factory: Any, name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _find(state: Mapping[str, Tensor], module: str | None) -> Tensor | None:
    return state.get(f"{module}.weight") if module is not None else None


def _default_names(entry: ModelEntry) -> list[str] | None:
    """The names of the architecture built with its default arguments on the meta device (no
    memory, no computation); None where it cannot be built so (a factory that needs arguments)."""
    try:
        with torch.device("meta"):
            model = entry.factory()
        return list(model.state_dict()) if isinstance(model, nn.Module) else None
    except (Exception, SystemExit):
        return None


def _in_module_order(names: list[str] | None, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` in the order the architecture's modules define their weights (``names``).

    A safetensors file sorts its keys alphabetically ("head.fc" before "stem"), so "the last
    matrix" of a file is not the classifier. Names the architecture does not have keep their order
    after the others; without ``names`` the file's order is kept.
    """
    if not names:
        return dict(state)
    rank = {name: i for i, name in enumerate(names)}
    keys = list(state)
    order = sorted(range(len(keys)), key=lambda i: (rank.get(keys[i], len(rank)), i))
    return {keys[i]: state[keys[i]] for i in order}


def _shape_hints(entry: ModelEntry, state: Mapping[str, Tensor]) -> dict[str, tuple[int, str]]:
    """num_classes and in_chans read off the weights, with the tensor each came from; the network's
    own entries only, under whatever prefix a Lightning module or a wrapper gave them."""
    classifier, first_conv = entry.classifier, entry.first_conv
    cfg = get_pretrained_cfg(entry.name) if entry.origin == "timm" else None
    if cfg is not None:  # timm's config names the classifier and the first convolution
        head = cfg.classifier[0] if isinstance(cfg.classifier, (list, tuple)) else cfg.classifier
        classifier, first_conv = classifier or head, first_conv or cfg.first_conv
    anchors = [f"{m}.weight" for m in (classifier, first_conv) if m]
    state = network_entries(state, anchors)
    hints: dict[str, tuple[int, str]] = {}
    head = _find(state, classifier)
    conv = _find(state, first_conv)
    if head is None or conv is None:
        names = _default_names(entry)
        state = _in_module_order(names, network_entries(state, anchors, names))
        head, conv = _find(state, classifier), _find(state, first_conv)
    if head is None:  # the last matrix whose name ends in .weight
        matrices = [(k, v) for k, v in state.items() if k.endswith(".weight") and v.dim() == 2]
        if matrices:
            hints["num_classes"] = (int(matrices[-1][1].shape[0]), f"rows of {matrices[-1][0]}")
    elif head.dim() >= 2:
        hints["num_classes"] = (int(head.shape[0]), f"rows of {classifier}.weight")
    if conv is None:
        convs = [(k, v) for k, v in state.items() if k.endswith(".weight") and v.dim() == 4]
        if convs:
            hints["in_chans"] = (int(convs[0][1].shape[1]), f"input channels of {convs[0][0]}")
    elif conv.dim() == 4:
        hints["in_chans"] = (int(conv.shape[1]), f"input channels of {first_conv}.weight")
    return hints


def _recorded_size(records: Records, in_chans: int) -> tuple[tuple[int, ...], str] | None:
    found = records.get("input_size")
    if found is not None:
        return tuple(int(v) for v in found[0]), f"{found[1]} input_size"
    found = records.get("img_size")
    if found is not None:
        img = found[0]
        hw = (int(img), int(img)) if isinstance(img, int) else (int(img[0]), int(img[1]))
        return (in_chans, *hw), f"{found[1]} img_size"
    return None


def _factory_kwargs(entry: ModelEntry, state: Mapping[str, Tensor], records: Records,
                    user_kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The factory's arguments, and where each came from: recorded model_kwargs, then num_classes
    and in_chans (recorded, else read off the weights), then --model-kwargs."""
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    base = records.get("model_kwargs")
    if base is not None and isinstance(base[0], Mapping):
        kwargs.update(base[0])
        sources.update(dict.fromkeys(base[0], f"{base[1]} model_kwargs"))
    shape = _shape_hints(entry, state)
    for key in ("num_classes", "in_chans"):
        if not _accepts(entry.factory, key):
            continue
        found = records.get(key)
        if found is not None and isinstance(found[0], int):
            kwargs[key], sources[key] = found[0], f"{found[1]} {key}"
        elif key in shape:
            kwargs[key], sources[key] = shape[key][0], shape[key][1]
    for key, value in user_kwargs.items():
        kwargs[key], sources[key] = value, "--model-kwargs"
    return kwargs, sources


TIMM_DEFAULT = "timm's default config for {arch}, which timm's train.py uses when {what} is not set"


def _input_size(entry: ModelEntry, arch: str, records: Records, kwargs: Mapping[str, Any], sources: Mapping[str, str],
                override: tuple[int, ...] | None) -> tuple[tuple[int, ...], str] | None:
    """(C, H, W) and where it came from: --input-size, an img_size given with --model-kwargs, the
    record, the plugin's registration, timm's default where timm's train.py recorded the run; else None."""
    recorded_chans = records.get("in_chans")
    in_chans = int(kwargs.get("in_chans") or (recorded_chans[0] if recorded_chans and isinstance(recorded_chans[0], int)
                                               else None) or (entry.input_size[0] if entry.input_size else 3))
    if override is not None:
        return tuple(override), "--input-size"
    if isinstance(kwargs.get("img_size"), int) and sources.get("img_size") == "--model-kwargs":
        return (in_chans, kwargs["img_size"], kwargs["img_size"]), "--model-kwargs img_size"
    size = _recorded_size(records, in_chans)
    if size is None and isinstance(kwargs.get("img_size"), int):
        size = (in_chans, kwargs["img_size"], kwargs["img_size"]), sources["img_size"]
    if size is None and entry.input_size is not None:
        size = entry.input_size, f"the registration in {entry.origin}"
    if size is None and entry.origin == "timm" and records.from_timm_train:
        cfg = get_pretrained_cfg(arch)
        if cfg is not None and cfg.input_size:
            size = (in_chans, *cfg.input_size[1:]), TIMM_DEFAULT.format(arch=arch, what="input_size")
    return size


def _normalization(entry: ModelEntry, arch: str, records: Records) -> tuple[tuple[float, ...], tuple[float, ...], str] | None:
    """(mean, std, where): the record, the plugin's registration, timm's default where timm's
    train.py recorded the run; else None (the probe then takes its dataset's standard one)."""
    mean, std = records.get("mean"), records.get("std")
    if mean is not None and std is not None:
        return tuple(mean[0]), tuple(std[0]), f"{mean[1]} mean/std"
    if entry.mean is not None and entry.std is not None:
        return entry.mean, entry.std, f"the registration in {entry.origin}"
    if entry.origin == "timm" and records.from_timm_train:
        cfg = get_pretrained_cfg(arch)
        if cfg is not None:
            return tuple(cfg.mean), tuple(cfg.std), TIMM_DEFAULT.format(arch=arch, what="mean/std")
    return None


def make_spec(
    arch: str,
    arch_source: str,
    state: Mapping[str, Tensor],
    *,
    records: Records = Records(),
    user_kwargs: Mapping[str, Any] | None = None,
    input_size: tuple[int, ...] | None = None,
    registry: ModelRegistry = REGISTRY,
) -> ModelSpec:
    """Work out the factory's arguments, the input size and the normalisation for ``arch``.

    ``state`` is one checkpoint's weights, ``records`` what the run recorded about its training
    (``runs.records``), ``user_kwargs`` what ``--model-kwargs`` gave and ``input_size`` what
    ``--input-size`` gave (they win). Input size and normalisation stay None where nothing tells
    them: the probe then keeps its dataset's own size and takes its standard normalisation.
    """
    entry = registry.get(arch)
    kwargs, sources = _factory_kwargs(entry, state, records, user_kwargs or {})
    size = _input_size(entry, arch, records, kwargs, sources, input_size)
    norm = _normalization(entry, arch, records)
    if size is not None:
        sources["input_size"] = size[1]
    if norm is not None:
        sources["normalization"] = norm[2]
    return ModelSpec(arch, arch_source, entry, kwargs, sources, size[0] if size else None,
                     norm[0] if norm else None, norm[1] if norm else None)


def build_model(spec: ModelSpec) -> nn.Module:
    """A fresh model of ``spec`` in eval mode (weights not loaded yet)."""
    try:
        model = spec.entry.factory(**spec.kwargs)
    except (Exception, SystemExit) as exc:  # a plugin's factory must not end the tool
        raise ModelError(
            f"building {spec.arch!r} ({spec.origin}) with {spec.kwargs} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, nn.Module):
        raise ModelError(f"the factory of {spec.arch!r} ({spec.origin}) returned {type(model).__name__}, not a torch module")
    return model.eval()


def load_weights(model: nn.Module, state: Mapping[str, Tensor], *, arch: str, where: str,
                 prefix: str | None = None) -> list[str]:
    """Load ``state`` into ``model`` exactly (every name and shape must fit); the prefix removed, as
    its attributes (``"".join`` of them is the prefix: ``"model.backbone."``; [] for none).

    The model's weights are taken under the prefix where they fit (``loading.fit_prefix``: a
    LightningModule's ``net.``, DataParallel's ``module.``...; ``prefix`` forces one); entries
    outside it are left out with an ``ignored-entries`` warning naming the prefix. ``where`` names
    the checkpoint in errors and warnings. A language model of a Hugging Face run takes its
    weights as save_pretrained or PEFT wrote them (``hfweights``).
    """
    if is_text_model(model):
        load_text_weights(model, state, where=where)
        return []
    expected = model.state_dict()
    fit = fit_prefix(state, expected, prefix=prefix)
    if fit.rivals:
        raise ambiguity(fit, where)
    fitted = fit.state
    missing = sorted(set(expected) - set(fitted))
    unexpected = sorted(set(fitted) - set(expected))
    if missing or unexpected:
        names = [f"{what} {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise ModelError(f"{where}: weights do not fit {arch!r}{f' (under {fit.prefix!r})' if fit.prefix else ''}: "
                         f"{' '.join(names)}{closest_note(fit)} (is --arch right?)")
    wrong = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in fitted.items() if v.shape != expected[k].shape]
    if wrong:
        name, got, want = wrong[0]
        raise ModelError(
            f"{where}: {name} has shape {got} in the checkpoint but {want} in {arch!r}"
            + (f" ({len(wrong) - 1} more mismatches)" if len(wrong) > 1 else "")
            + ": pass the factory arguments it was trained with, e.g. --model-kwargs img_size=32"
        )
    if fit.left_out:
        warn(left_out_message(fit, where), code="ignored-entries")
    model.load_state_dict(fitted, strict=True)
    return fit.removed
