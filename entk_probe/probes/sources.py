"""Where probe images and texts come from: the built-in datasets and the sources plugins register.

Built-in sources and plugin sources share one registry (``runs.registry.Registry``), so a plugin
that claims a built-in name, or a name another plugin took, is an error naming both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetNotFound, ProbeError, UsageError
from ..runs.registry import REGISTRY, Registry
from .datasets import Split, default_roots, read_cifar, read_idx, read_image_folder
from .download import download_cifar
from .spec import SPEC_GRAMMAR, ProbeSpec
from .text_datasets import TextSplit, read_glue, read_sst2, read_text_file

ProbeFactory = Callable[[str, Mapping[str, str]], Split]


@dataclass(frozen=True)
class ProbeSource:
    """A registered probe source: a plugin's factory, or None for the built-in readers."""

    name: str
    factory: ProbeFactory | None


BUILT_IN_ORIGIN = "entk-probe (built in)"
TEXT_SOURCES = ("sst2", "glue", "textfile")  # text probes, for language models (probes.text_build)
SOURCES: Registry[ProbeSource] = Registry("probe")
for _name in ("cifar10", "cifar100", "mnist", "fashion-mnist", "imagefolder", "file", "synthetic", *TEXT_SOURCES):
    SOURCES.register(_name, ProbeSource(_name, None), BUILT_IN_ORIGIN)


def register_probe(name: str) -> Callable[[ProbeFactory], ProbeFactory]:
    """Decorator: register ``factory(split, options) -> datasets.Split`` as probe ``name``.

    The factory returns the labels of a whole split and a function decoding the records asked
    for as uint8 (H, W, C) images; selection, resizing and normalisation are entk-probe's. The
    plugin file being loaded, if any, is the origin.
    """

    def decorate(factory: ProbeFactory) -> ProbeFactory:
        SOURCES.register(name, ProbeSource(name, factory), REGISTRY.current_origin or f"module {factory.__module__}")
        return factory

    return decorate


def available_probes() -> list[tuple[str, str]]:
    """(name, origin) of every probe source."""
    return SOURCES.available()


def is_built_in(name: str) -> bool:
    return SOURCES.origin_of(name) == BUILT_IN_ORIGIN


def load_split(spec: ProbeSpec, split: str, data_root: Path | None, download: bool) -> Split:
    """The split ``spec`` names, from the built-in readers or a plugin's source."""
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
    source = SOURCES.get(spec.name)
    if source is None or source.factory is None:
        names = ", ".join(n for n, _ in available_probes())
        raise UsageError(f"unknown probe {spec.name!r}: known probes are {names}. The grammar: {SPEC_GRAMMAR}")
    extra = {k: v for k, v in spec.options.items() if k not in ("split", "seed")}
    split_data = source.factory(split, extra)
    if not isinstance(split_data, Split):
        raise ProbeError(f"probe {spec.name!r} ({SOURCES.origin_of(spec.name)}) returned {type(split_data).__name__}, "
                         "not a datasets.Split")
    return split_data


def load_text_split(spec: ProbeSpec, data_root: Path | None) -> TextSplit:
    """The records a text spec (``sst2``, ``glue:TASK``, ``textfile:PATH``) names; split validation by default."""
    if spec.name == "textfile":
        assert spec.path is not None
        o = spec.options
        return read_text_file(spec.path, o.get("text"), o.get("text_b"), o.get("label"))
    split = spec.options.get("split", "validation")
    if spec.name == "glue":
        assert spec.task is not None
        return read_glue(spec.task, split, default_roots(data_root))
    return read_sst2(split, default_roots(data_root))
