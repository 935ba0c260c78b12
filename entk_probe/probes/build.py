"""Probe sets: the fixed inputs every checkpoint's eNTK is computed on.

A spec names one (grammar in ``SPEC_GRAMMAR``): ``cifar10:500``, ``cifar10:500,split=train,seed=1``,
``cifar100:200``, ``mnist:300``, ``fashion-mnist:300``, ``imagefolder:PATH:200``,
``file:probe.safetensors``, ``synthetic:64`` (Gaussian inputs, smoke tests only), or a name a
plugin registered with ``register_probe``; for language models the text probes ``sst2:500``,
``glue:RTE:200``, ``textfile:PATH:100`` (``text_build``).

``make_probe`` reads the source (``sources``), selects class-balanced samples (``selection``),
converts channels and size only where the model demands it, normalises, and records the final
input tensor's sha256 with the dataset, split, seed, positions and labels (``probe.Probe``).
Probe files are ``files``; the grammar is ``spec``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ProbeError, UsageError, warn
from .datasets import check_split
from .files import load_probe
from .preprocess import Normalization, convert_channels, normalize, parse_normalize, resize, to_tensor
from .probe import Probe, Target, tensor_sha256
from .selection import select_positions
from .sources import is_built_in, load_split
from .spec import DEFAULT_N, ProbeSpec, check_options, int_option, parse_spec
from .text_build import check_kind, is_text_spec, make_text_probe

# The standard normalisation of each built-in dataset (a preset of --normalize), used when the run
# records none: a plain training loop on CIFAR-10 normalises with CIFAR-10's statistics or not at
# all, never with ImageNet's.
DATASET_NORMALIZATION = {"cifar10": "cifar", "cifar100": "cifar100", "mnist": "mnist", "fashion-mnist": "fashion-mnist"}


def _choose_normalization(target: Target | None, override: str | None, dataset: str | None = None) -> Normalization:
    if override is not None:
        return parse_normalize(override)
    if target is not None and target.normalization.mean is not None:
        return target.normalization
    if dataset in DATASET_NORMALIZATION:
        preset = parse_normalize(DATASET_NORMALIZATION[dataset])  # type: ignore[index]
        return Normalization(preset.mean, preset.std, f"{dataset}'s standard normalisation: the run records none "
                                                      "(--normalize sets another)")
    warn("no normalisation is known for this model: the probe inputs stay in [0, 1]; pass --normalize if it "
         "was trained on normalised images", code="no-normalization")
    return Normalization(None, None, "none known for the model")


def _shaped(images: list[torch.Tensor], target: Target | None) -> tuple[list[torch.Tensor], list[str]]:
    """Images converted to the channels and resized to the size the model expects, and what was done."""
    if target is None or (target.input_size is None and target.channels is None):
        return images, []
    channels = target.input_size[0] if target.input_size is not None else target.channels
    size = tuple(target.input_size[1:]) if target.input_size is not None else None
    notes: list[str] = []
    converted = []
    for image in images:
        image, channel_note = convert_channels(image, channels)  # type: ignore[arg-type]
        image, size_note = resize(image, size) if size is not None else (image, None)
        notes += [note for note in (channel_note, size_note) if note and note not in notes]
        converted.append(image)
    return converted, notes


def _synthetic(spec: ProbeSpec, target: Target | None) -> Probe:
    check_options(spec, {"seed"})
    if target is None or target.input_size is None:
        raise UsageError(
            "the run records no input size, so a synthetic probe cannot be shaped: pass --input-size C,H,W "
            "(e.g. 3,32,32) or use a dataset or probe file"
        )
    n = spec.n if spec.n is not None else DEFAULT_N["synthetic"]
    if n < 2:
        raise UsageError(f"a probe needs at least 2 samples, got {n}")
    seed = int_option(spec, "seed", 0)
    inputs = torch.randn((n, *target.input_size), generator=torch.Generator().manual_seed(seed))  # (N, C, H, W)
    return Probe(
        spec=spec.text, dataset="synthetic", split=None, seed=seed, inputs=inputs, labels=None,
        indices=torch.arange(n), classes=(), normalization=Normalization(None, None, "synthetic N(0, 1) inputs"),
        source="torch.randn with the seed", synthetic=True, sha256=tensor_sha256(inputs),
    )


def make_probe(
    spec_text: str,
    target: Target | None = None,
    *,
    normalize_override: str | None = None,
    data_root: Path | None = None,
    download: bool = False,
) -> Probe:
    """Build the probe ``spec_text`` names, as inputs for a model that expects ``target``.

    Channels are converted and images resized only where the model demands it, each with a
    warning; ``normalize_override`` (``--normalize``) replaces the model's normalisation. Text
    specs (sst2, glue, textfile) go to ``text_build.make_text_probe`` and need a target with
    ``text`` (a language model); an image spec for a language model is a UsageError.
    """
    spec = parse_spec(spec_text)
    if is_text_spec(spec):
        return make_text_probe(spec, target, data_root=data_root, normalize_override=normalize_override,
                               download=download)
    check_kind(spec, target)
    if spec.name == "synthetic":
        return _synthetic(spec, target)
    if spec.name == "file":
        check_options(spec, set())
        assert spec.path is not None
        return load_probe(spec.path, target)
    allowed = {"split", "seed", "balance"} | ({"layout"} if spec.name.startswith("cifar") else set())
    if not is_built_in(spec.name):
        allowed = set(spec.options)  # a plugin's own options pass through
    check_options(spec, allowed)
    split = "all" if spec.name == "imagefolder" else check_split(spec.options.get("split", "test"))
    seed = int_option(spec, "seed", 0)
    data = load_split(spec, split, data_root, download)
    positions = select_positions(data.labels, data.classes, spec, seed, dataset=data.dataset, split=data.split)
    images, notes = _shaped(to_tensor(data.load(positions)), target)  # N x (C, H, W) in [0, 1]
    sizes = {tuple(im.shape) for im in images}
    if len(sizes) > 1:
        raise ProbeError(f"the selected images differ in size ({sorted(sizes)[:3]}); the model states no input size to "
                         "resize them to: pass --input-size C,H,W")
    for note in notes:
        why = "" if target is None or target.input_size is None else (
            f", as the model expects {tuple(target.input_size)} ({target.size_source})")
        warn(f"probe {spec.text}: {note}{why}", code="probe-converted")
    norm = _choose_normalization(target, normalize_override, data.dataset)
    inputs = normalize(torch.stack(images), norm)  # (N, C, H, W)
    if target is not None and target.transform is not None:
        inputs = target.transform(inputs)
        notes.append("the model's input transform")
    inputs = inputs.contiguous().float()
    return Probe(
        spec=spec.text, dataset=data.dataset, split=data.split, seed=seed, inputs=inputs,
        labels=torch.from_numpy(data.labels[positions]), indices=torch.from_numpy(positions),
        classes=data.classes, normalization=norm, source=data.source, transforms=tuple(notes),
        sha256=tensor_sha256(inputs),
    )
