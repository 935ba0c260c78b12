"""Probe sets: the fixed inputs every checkpoint's eNTK is computed on.

A spec names one (grammar in ``SPEC_GRAMMAR``): ``cifar10:500``, ``cifar10:500,split=train,seed=1``,
``cifar100:200``, ``mnist:300``, ``fashion-mnist:300``, ``imagefolder:PATH:200``,
``file:probe.safetensors``, ``synthetic:64`` (Gaussian inputs, smoke tests only), or a name a
plugin registered with ``register_probe``.

Selection is class-balanced: N = q·K + r samples over K classes gives q to each class and one
more to the first r classes (by class index). Within a class, the samples taken are those with
the smallest sha256(f"{seed}:{dataset}:{split}:{position}"), so a probe is the same on every
machine and every library version; the probe is ordered by class, then by position in the split.
The final input tensor's sha256 is recorded with the dataset, split, seed, positions and labels.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from .datasets import (
    DatasetNotFound,
    ProbeError,
    Split,
    check_split,
    default_roots,
    read_cifar,
    read_idx,
    read_image_folder,
)
from .download import download_cifar
from ..atomic import write_atomically
from ..errors import UsageError, warn
from .preprocess import Normalization, convert_channels, normalize, parse_normalize, resize, to_tensor

SPEC_GRAMMAR = (
    "NAME[:N][,key=value...] with NAME one of cifar10, cifar100, mnist, fashion-mnist, synthetic or a "
    "registered probe (keys: split=test|train, seed=INT, layout=python|binary for CIFAR); "
    "imagefolder:PATH[:N][,seed=INT]; file:PATH.safetensors. Examples: cifar10:500, "
    "cifar10:500,split=train,seed=1, imagefolder:data/pets:200, file:probe.safetensors"
)
DEFAULT_N = {"synthetic": 64}
DEFAULT_DATASET_N = 500
PROBE_FORMAT = "entk-probe-probe/1"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class ProbeSpec:
    """A parsed probe spec."""

    text: str
    name: str
    n: int | None
    path: Path | None  # imagefolder and file
    options: dict[str, str]


def parse_spec(text: str) -> ProbeSpec:
    """Parse ``text``; a malformed spec is a usage error that shows the grammar."""
    def bad(why: str) -> UsageError:
        return UsageError(f"cannot read probe spec {text!r}: {why}. The grammar: {SPEC_GRAMMAR}")

    head, *opts = text.strip().split(",")
    options: dict[str, str] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise bad(f"option {opt!r} is not key=value")
        options[key.strip()] = value.strip()
    name, _, rest = head.partition(":")
    name = name.strip().lower()
    if not _NAME.match(name):
        raise bad("it does not start with a probe name")
    path: Path | None = None
    count = rest
    if name in ("imagefolder", "file"):
        path_text, sep, count = rest.rpartition(":") if re.search(r":\d+$", rest) else (rest, "", "")
        if not path_text:
            raise bad(f"{name} needs a path, as in {name}:PATH")
        path = Path(path_text)
        if name == "file" and count:
            raise bad("a probe file holds its own N; write file:PATH")
    if count and not count.isdigit():
        raise bad(f"N must be a positive integer, not {count!r}")
    return ProbeSpec(text.strip(), name, int(count) if count else None, path, options)


@dataclass(frozen=True)
class Target:
    """What the model expects of its inputs: (C, H, W), normalisation and an optional transform."""

    input_size: tuple[int, ...] | None
    normalization: Normalization = Normalization(None, None, "the model states none")
    transform: Callable[[Tensor], Tensor] | None = None


@dataclass(frozen=True)
class Probe:
    """Probe inputs as fed to the model, with everything needed to recompute them."""

    spec: str
    dataset: str
    split: str | None
    seed: int | None
    inputs: Tensor  # (N, C, H, W) float32, as fed to the model
    labels: Tensor | None  # (N,) int64; None for synthetic probes
    indices: Tensor  # (N,) int64, positions in the source split
    classes: tuple[str, ...]
    normalization: Normalization
    source: str
    synthetic: bool = False
    transforms: tuple[str, ...] = ()  # what was done to the images besides normalisation
    sha256: str = field(default="")

    @property
    def n(self) -> int:
        return int(self.inputs.shape[0])


def tensor_sha256(inputs: Tensor) -> str:
    """sha256 of a tensor's bytes (float32, C order, little-endian)."""
    return hashlib.sha256(inputs.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


# ------------------------------------------------------------------------------- sources

ProbeFactory = Callable[[str, Mapping[str, str]], Split]


@dataclass(frozen=True)
class ProbeSource:
    name: str
    origin: str
    factory: ProbeFactory


_PLUGIN_PROBES: dict[str, ProbeSource] = {}
BUILT_IN = ("cifar10", "cifar100", "mnist", "fashion-mnist", "imagefolder", "file", "synthetic")


def register_probe(name: str) -> Callable[[ProbeFactory], ProbeFactory]:
    """Decorator: register ``factory(split, options) -> datasets.Split`` as probe ``name``.

    The factory returns the labels of a whole split and a function decoding the records asked
    for as uint8 (H, W, C) images; selection, resizing and normalisation are entk-probe's.
    """
    from ..runs.registry import REGISTRY  # the plugin file being loaded, if any, is the origin

    def decorate(factory: ProbeFactory) -> ProbeFactory:
        origin = REGISTRY.current_origin or f"module {factory.__module__}"
        if name in BUILT_IN:
            raise ProbeError(f"probe name {name!r} is claimed twice: by entk-probe (built in) and by {origin}")
        taken = _PLUGIN_PROBES.get(name)
        if taken is not None and taken.origin != origin:
            raise ProbeError(f"probe name {name!r} is claimed twice: by {taken.origin} and by {origin}")
        _PLUGIN_PROBES[name] = ProbeSource(name, origin, factory)
        return factory

    return decorate


def available_probes() -> list[tuple[str, str]]:
    """(name, origin) of every probe source."""
    return [(n, "entk-probe (built in)") for n in BUILT_IN] + [(s.name, s.origin) for s in _PLUGIN_PROBES.values()]


def _load_split(spec: ProbeSpec, split: str, data_root: Path | None, download: bool) -> Split:
    roots = default_roots(data_root)
    layout = spec.options.get("layout")
    if layout not in (None, "python", "binary"):
        raise UsageError(f"layout must be python or binary, not {layout!r}")
    if spec.name in ("cifar10", "cifar100"):
        try:
            return read_cifar(spec.name, split, roots, layout)
        except DatasetNotFound:
            if not download:
                raise
        download_cifar(spec.name, layout or "python", roots[0])
        return read_cifar(spec.name, split, roots, layout)
    if download:
        raise UsageError(f"--download fetches CIFAR-10 and CIFAR-100 only, not {spec.name}")
    if spec.name in ("mnist", "fashion-mnist"):
        return read_idx(spec.name, split, roots)
    if spec.name == "imagefolder":
        assert spec.path is not None
        return read_image_folder(spec.path)
    source = _PLUGIN_PROBES.get(spec.name)
    if source is None:
        names = ", ".join(n for n, _ in available_probes())
        raise UsageError(f"unknown probe {spec.name!r}: known probes are {names}. The grammar: {SPEC_GRAMMAR}")
    extra = {k: v for k, v in spec.options.items() if k not in ("split", "seed")}
    split_data = source.factory(split, extra)
    if not isinstance(split_data, Split):
        raise ProbeError(f"probe {spec.name!r} ({source.origin}) returned {type(split_data).__name__}, not a datasets.Split")
    return split_data


def _sample_key(seed: int, dataset: str, split: str, position: int) -> bytes:
    return hashlib.sha256(f"{seed}:{dataset}:{split}:{position}".encode()).digest()


def balanced_indices(labels: np.ndarray, n: int, seed: int, *, dataset: str, split: str,
                     classes: tuple[str, ...]) -> np.ndarray:
    """Positions of a class-balanced selection of ``n`` records (module docstring), class-major."""
    k = len(classes)
    if n > len(labels):
        raise ProbeError(f"N={n} is more than the {len(labels)} records of {dataset} {split}")
    if n < k:
        raise ProbeError(f"N={n} is smaller than the number of classes ({k}); a balanced probe needs N >= {k}")
    base, extra = divmod(n, k)
    chosen = []
    for c in range(k):
        want = base + (1 if c < extra else 0)
        pool = np.flatnonzero(labels == c)
        if len(pool) < want:
            raise ProbeError(
                f"class {classes[c]!r} has {len(pool)} records in {dataset} {split}, fewer than the {want} a "
                f"balanced probe of N={n} needs; choose N <= {k * int(np.bincount(labels, minlength=k).min())}"
            )
        ranked = sorted(pool.tolist(), key=lambda pos: _sample_key(seed, dataset, split, pos))
        chosen.extend(sorted(ranked[:want]))
    return np.asarray(chosen, dtype=np.int64)


# --------------------------------------------------------------------------------- building


def _int_option(spec: ProbeSpec, key: str, default: int) -> int:
    value = spec.options.get(key)
    if value is None:
        return default
    if not re.fullmatch(r"-?\d+", value):
        raise UsageError(f"probe option {key}={value!r} must be an integer")
    return int(value)


def _check_options(spec: ProbeSpec, allowed: set[str]) -> None:
    unknown = sorted(set(spec.options) - allowed)
    if unknown:
        raise UsageError(
            f"probe option(s) {', '.join(unknown)} unknown for {spec.name}; allowed: {', '.join(sorted(allowed)) or 'none'}. "
            f"The grammar: {SPEC_GRAMMAR}"
        )


def _choose_normalization(target: Target | None, override: str | None) -> Normalization:
    if override is not None:
        return parse_normalize(override)
    if target is not None and target.normalization.mean is not None:
        return target.normalization
    warn("no normalisation is known for this model: the probe inputs stay in [0, 1]; pass --normalize if it "
         "was trained on normalised images", code="no-normalization")
    return Normalization(None, None, "none known for the model")


def _synthetic(spec: ProbeSpec, target: Target | None) -> Probe:
    _check_options(spec, {"seed"})
    if target is None or target.input_size is None:
        raise UsageError(
            "the model does not say which input size it expects, so a synthetic probe cannot be shaped: "
            "pass --model-kwargs img_size=N or use a dataset or probe file"
        )
    n = spec.n if spec.n is not None else DEFAULT_N["synthetic"]
    if n < 2:
        raise UsageError(f"a probe needs at least 2 samples, got {n}")
    seed = _int_option(spec, "seed", 0)
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
        _check_options(spec, set())
        assert spec.path is not None
        return load_probe(spec.path, target)
    allowed = {"split", "seed"} | ({"layout"} if spec.name.startswith("cifar") else set())
    if spec.name not in BUILT_IN:
        allowed = set(spec.options)  # a plugin's own options pass through
    _check_options(spec, allowed)
    split = "all" if spec.name == "imagefolder" else check_split(spec.options.get("split", "test"))
    seed = _int_option(spec, "seed", 0)
    data = _load_split(spec, split, data_root, download)
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


# ------------------------------------------------------------------------------ probe files


def save_probe(probe: Probe, path: Path) -> None:
    """Write ``probe`` as a safetensors file: tensors inputs, labels, indices; provenance in metadata."""
    labels = probe.labels if probe.labels is not None else torch.full((probe.n,), -1, dtype=torch.int64)
    metadata = {
        "format": PROBE_FORMAT,
        "spec": probe.spec,
        "dataset": probe.dataset,
        "split": json.dumps(probe.split),
        "seed": json.dumps(probe.seed),
        "classes": json.dumps(list(probe.classes)),
        "normalization": json.dumps({"mean": probe.normalization.mean, "std": probe.normalization.std,
                                     "source": probe.normalization.source}),
        "transforms": json.dumps(list(probe.transforms)),
        "source": probe.source,
        "synthetic": json.dumps(probe.synthetic),
        "sha256": probe.sha256,
    }
    tensors = {"inputs": probe.inputs.contiguous(), "labels": labels.contiguous(), "indices": probe.indices.contiguous()}
    write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_probe(path: Path, target: Target | None = None) -> Probe:
    """Read a probe file, check its sha256, and check it fits the model (no resizing: its inputs
    are what the model is fed)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except FileNotFoundError:
        raise UsageError(f"probe file {path} does not exist") from None
    except Exception as exc:
        raise ProbeError(f"{path}: not a readable safetensors probe file ({exc})") from None
    missing = {"inputs", "labels", "indices"} - set(tensors)
    if missing or meta.get("format") != PROBE_FORMAT:
        raise ProbeError(f"{path}: not an entk-probe probe file (needs tensors inputs, labels, indices and format {PROBE_FORMAT})")
    inputs = tensors["inputs"].float()
    digest = tensor_sha256(inputs)
    if digest != meta.get("sha256"):
        raise ProbeError(f"{path}: the inputs' sha256 {digest[:12]}... differs from the recorded {meta.get('sha256', '')[:12]}...; the file was modified or is corrupt")
    if target is not None and target.input_size is not None and tuple(inputs.shape[1:]) != tuple(target.input_size):
        raise ProbeError(
            f"{path}: inputs of shape {tuple(inputs.shape[1:])} but the model expects {tuple(target.input_size)}; "
            "export a probe for this model (entk-probe probe export ... --arch NAME)"
        )
    norm = json.loads(meta.get("normalization", "null")) or {}
    normalization = Normalization(
        tuple(norm["mean"]) if norm.get("mean") else None, tuple(norm["std"]) if norm.get("std") else None,
        f"{norm.get('source', 'unknown')}, recorded in {path.name}",
    )
    if target is not None and target.normalization.mean is not None and normalization.mean is not None and (
        tuple(target.normalization.mean) != normalization.mean or tuple(target.normalization.std or ()) != normalization.std
    ):
        warn(f"{path}: its inputs were normalised with {normalization.describe()}, the model states "
             f"{target.normalization.describe()}", code="probe-normalization")
    synthetic = json.loads(meta.get("synthetic", "false"))
    labels = tensors["labels"].long()
    return Probe(
        spec=f"file:{path}", dataset=meta.get("dataset", "unknown"), split=json.loads(meta.get("split", "null")),
        seed=json.loads(meta.get("seed", "null")), inputs=inputs, labels=None if synthetic else labels,
        indices=tensors["indices"].long(), classes=tuple(json.loads(meta.get("classes", "[]"))),
        normalization=normalization, source=f"{path} (exported from {meta.get('spec')}; {meta.get('source', '')})",
        synthetic=synthetic, transforms=tuple(json.loads(meta.get("transforms", "[]"))), sha256=digest,
    )
