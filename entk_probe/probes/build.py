"""Probe sets: the fixed inputs every checkpoint's eNTK is computed on.

A spec names one (grammar in ``SPEC_GRAMMAR``): ``cifar10:500``, ``cifar10:500,split=train,seed=1``,
``cifar100:200``, ``mnist:300``, ``fashion-mnist:300``, ``imagefolder:PATH:200``,
``file:probe.safetensors``, ``synthetic:64`` (Gaussian inputs, smoke tests only), or a name a
plugin registered with ``register_probe``.

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
from .selection import balanced_indices
from .sources import is_built_in, load_split
from .spec import DEFAULT_DATASET_N, DEFAULT_N, ProbeSpec, check_options, int_option, parse_spec

def _choose_normalization(target: Target | None, override: str | None) -> Normalization:
    if override is not None:
        return parse_normalize(override)
    if target is not None and target.normalization.mean is not None:
        return target.normalization
    warn("no normalisation is known for this model: the probe inputs stay in [0, 1]; pass --normalize if it "
         "was trained on normalised images", code="no-normalization")
    return Normalization(None, None, "none known for the model")


def _synthetic(spec: ProbeSpec, target: Target | None) -> Probe:
    check_options(spec, {"seed"})
    if target is None or target.input_size is None:
        raise UsageError(
            "the model does not say which input size it expects, so a synthetic probe cannot be shaped: "
            "pass --model-kwargs img_size=N or use a dataset or probe file"
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
    warning; ``normalize_override`` (``--normalize``) replaces the model's normalisation.
    """
    spec = parse_spec(spec_text)
    if spec.name == "synthetic":
        return _synthetic(spec, target)
    if spec.name == "file":
        check_options(spec, set())
        assert spec.path is not None
        return load_probe(spec.path, target)
    allowed = {"split", "seed"} | ({"layout"} if spec.name.startswith("cifar") else set())
    if not is_built_in(spec.name):
        allowed = set(spec.options)  # a plugin's own options pass through
    check_options(spec, allowed)
    split = "all" if spec.name == "imagefolder" else check_split(spec.options.get("split", "test"))
    seed = int_option(spec, "seed", 0)
    data = load_split(spec, split, data_root, download)
    n = spec.n if spec.n is not None else DEFAULT_DATASET_N
    positions = balanced_indices(data.labels, n, seed, dataset=data.dataset, split=data.split, classes=data.classes)
    images = to_tensor(data.load(positions))  # N x (C, H, W) in [0, 1]
    notes: list[str] = []
    if target is not None and target.input_size is not None:
        channels, size = target.input_size[0], tuple(target.input_size[1:])
        converted = []
        for image in images:
            image, channel_note = convert_channels(image, channels)
            image, size_note = resize(image, size)
            notes += [note for note in (channel_note, size_note) if note and note not in notes]
            converted.append(image)
        images = converted
    sizes = {tuple(im.shape) for im in images}
    if len(sizes) > 1:
        raise ProbeError(f"the selected images differ in size ({sorted(sizes)[:3]}); the model states no input size to resize them to")
    for note in notes:
        warn(f"probe {spec.text}: {note}, as the model expects {tuple(target.input_size)}",  # type: ignore[union-attr]
             code="probe-converted")
    norm = _choose_normalization(target, normalize_override)
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
