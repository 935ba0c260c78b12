"""The model registry: architectures from plugins, installed packages and timm, with their origins.

A plugin is a Python file that registers model factories::

    import entk_probe

    @entk_probe.register_model("resnet20", input_size=(3, 32, 32),
                               mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))
    def resnet20(num_classes: int = 10) -> torch.nn.Module:
        ...

Plugins come from ``--plugins PATH`` (a file, or a folder whose ``*.py`` files are loaded in name
order; repeatable) and from ``ENTK_PROBE_PLUGINS`` (paths separated by ``os.pathsep``). Installed
packages offer factories through the entry-point group ``entk_probe.runs.models``; those are imported
only when their model is used. A plugin file may use timm's own ``@register_model`` instead: its
models then come through timm, with the file as their origin. A name claimed twice (by two
plugins, a plugin and a package, or a plugin and timm) is an error naming both origins.

``Registry`` is the one mechanism behind both kinds of plugin entries: named entries with their
origins, conflicts named. The model registry adds timm and entry points to it; the probe sources
(``probes.sources``) are another instance. A plugin file may register both: while it is loaded,
``REGISTRY.current_origin`` names it, for either kind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import timm
from torch import Tensor, nn

from ..errors import EntkProbeError, PluginError, UsageError

ENTRY_POINT_GROUP = "entk_probe.runs.models"
PLUGINS_ENV = "ENTK_PROBE_PLUGINS"

Factory = Callable[..., nn.Module]
T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, each with its origin; a name claimed by a second origin is a PluginError.

    ``kind`` names the entries in messages ("model", "probe"); ``claimed(name)`` may report an
    origin outside the registry that owns a name (timm, an entry point).
    """

    def __init__(self, kind: str, claimed: Callable[[str], str | None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[T, str]] = {}
        self._claimed = claimed

    def register(self, name: str, entry: T, origin: str) -> None:
        """Add ``entry`` under ``name``; registering it again from the same origin replaces it."""
        taken = self.origin_of(name)
        if taken is not None and taken != origin:
            raise PluginError(f"{self.kind} name {name!r} is claimed twice: by {taken} and by {origin}")
        self._entries[name] = (entry, origin)

    def origin_of(self, name: str) -> str | None:
        """Where ``name`` comes from, or None if nobody provides it."""
        if name in self._entries:
            return self._entries[name][1]
        return self._claimed(name) if self._claimed is not None else None

    def get(self, name: str) -> T | None:
        """The entry registered under ``name``, or None."""
        found = self._entries.get(name)
        return None if found is None else found[0]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def available(self) -> list[tuple[str, str]]:
        """(name, origin) of every entry, in registration order."""
        return [(name, origin) for name, (_, origin) in self._entries.items()]


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: its factory and what it says about its inputs.

    ``classifier`` and ``first_conv`` name the modules whose weights give ``num_classes`` and
    ``in_chans`` when a checkpoint does not say them (as in timm's pretrained configs).
    """

    name: str
    origin: str
    factory: Factory
    input_size: tuple[int, ...] | None = None  # (C, H, W)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    transform: Callable[[Tensor], Tensor] | None = None  # applied to probe inputs after normalisation
    classifier: str | None = None
    first_conv: str | None = None


class ModelRegistry:
    """Architectures by name: plugins, then installed packages' entry points, then timm."""

    def __init__(self) -> None:
        self._entries: Registry[ModelEntry] = Registry("model", self._claimed_elsewhere)
        self._entry_points: dict[str, EntryPoint] | None = None
        self._timm_origins: dict[str, str] = {}  # timm names that plugin files registered
        self._loaded_files: dict[Path, str] = {}
        self._loading: str | None = None  # origin of the plugin or entry point being imported

    # --------------------------------------------------------------------------- registration

    def register(self, entry: ModelEntry) -> None:
        """Add ``entry``; a PluginError names both origins when its name is taken."""
        self._entries.register(entry.name, entry, entry.origin)

    def origin_of(self, name: str) -> str | None:
        """Where ``name`` comes from, or None if nobody provides it."""
        return self._entries.origin_of(name)

    def _claimed_elsewhere(self, name: str) -> str | None:
        if name in self._timm_origins:
            return self._timm_origins[name]
        points = self.entry_points()
        if name in points and self._loading != _entry_point_origin(points[name]):
            return _entry_point_origin(points[name])
        if timm.is_model(name):
            return "timm"
        return None

    @contextmanager
    def loading(self, origin: str) -> Iterator[None]:
        """Attribute registrations made inside the block to ``origin``."""
        previous, self._loading = self._loading, origin
        try:
            yield
        finally:
            self._loading = previous

    @property
    def current_origin(self) -> str | None:
        return self._loading

    # ------------------------------------------------------------------------------- sources

    def load_plugins(self, path: Path) -> list[str]:
        """Load a plugin file, or every ``*.py`` file of a folder in name order; the names added."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
            if not files:
                raise PluginError(f"plugin folder {path} holds no .py file")
            return [name for f in files for name in self._load_file(f)]
        if not path.is_file():
            raise UsageError(f"plugin path {path} does not exist")
        if path.suffix != ".py":
            raise UsageError(f"plugin {path} is not a .py file")
        return self._load_file(path)

    def load_env(self) -> list[str]:
        """Load the plugins ``ENTK_PROBE_PLUGINS`` names (paths separated by os.pathsep)."""
        value = os.environ.get(PLUGINS_ENV, "")
        return [name for part in value.split(os.pathsep) if part.strip() for name in self.load_plugins(Path(part.strip()))]

    def _load_file(self, path: Path) -> list[str]:
        resolved = path.resolve()
        if resolved in self._loaded_files:
            return []
        origin = f"plugin {resolved}"
        module_name = "entk_probe_plugin_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(module_name, resolved)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot import plugin {path}")
        module = importlib.util.module_from_spec(spec)
        before_entries, before_timm = {n for n, _ in self._entries.available()}, set(timm.list_models())
        sys.modules[module_name] = module
        try:
            with self.loading(origin), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                spec.loader.exec_module(module)
        except EntkProbeError:
            raise
        except SystemExit as exc:  # a plugin must not end the tool
            raise PluginError(f"plugin {path} called sys.exit({exc.code!r}) while loading; a plugin only registers models "
                              "and probes") from None
        except Exception as exc:
            raise PluginError(f"plugin {path} failed to load: {type(exc).__name__}: {exc}") from exc
        for w in caught:
            text = str(w.message)
            if text.startswith("Overwriting ") and " in registry with " in text:
                name = text.split()[1]
                raise PluginError(f"model name {name!r} is claimed twice: by timm and by {origin} (timm register_model)")
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        added_timm = sorted(set(timm.list_models()) - before_timm)
        for name in added_timm:
            if name in self._entries or name in self.entry_points():
                raise PluginError(f"model name {name!r} is claimed twice: by {self.origin_of(name)} and by {origin} (timm register_model)")
            self._timm_origins[name] = f"{origin} (timm register_model)"
        self._loaded_files[resolved] = origin
        return sorted({n for n, _ in self._entries.available()} - before_entries) + added_timm

    def entry_points(self) -> dict[str, EntryPoint]:
        """Entry points of the ``entk_probe.runs.models`` group by name (found once, not imported)."""
        if self._entry_points is None:
            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in found and found[ep.name].value != ep.value:
                    raise PluginError(
                        f"model name {ep.name!r} is claimed twice: by {_entry_point_origin(found[ep.name])} "
                        f"and by {_entry_point_origin(ep)}"
                    )
                found[ep.name] = ep
            self._entry_points = found
        return self._entry_points

    # --------------------------------------------------------------------------------- lookup

    def get(self, name: str) -> ModelEntry:
        """The entry for ``name``, importing its package if it comes from an entry point."""
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        points = self.entry_points()
        if name in points:
            return self._load_entry_point(points[name])
        if timm.is_model(name):
            return ModelEntry(name, self._timm_origins.get(name, "timm"), _timm_factory(name))
        raise UsageError(
            f"unknown architecture {name!r}: it is neither a timm model nor a registered plugin "
            "(`entk-probe models` lists them; --plugins PATH loads a plugin file)"
        )

    def _load_entry_point(self, ep: EntryPoint) -> ModelEntry:
        origin = _entry_point_origin(ep)
        with self.loading(origin):
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # a package must not end the tool either
                raise PluginError(f"{origin} failed to load: {type(exc).__name__}: {exc}") from None
        registered = self._entries.get(ep.name)
        if registered is not None:  # the package registered itself with register_model
            return registered
        if not callable(obj):
            raise PluginError(f"{origin} is not a callable model factory")
        entry = ModelEntry(ep.name, origin, obj)
        self._entries.register(ep.name, entry, origin)
        return entry

    def available(self) -> list[tuple[str, str]]:
        """(name, origin) of every plugin and entry-point model, then every timm model."""
        rows = self._entries.available()
        rows += [(n, _entry_point_origin(ep)) for n, ep in self.entry_points().items() if n not in self._entries]
        rows += [(n, self._timm_origins.get(n, "timm")) for n in timm.list_models() if n not in self._entries]
        return rows


def _entry_point_origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    package = f"{dist.name} {dist.version}" if dist is not None else "an installed package"
    return f"entry point {ep.value} ({package})"


def _timm_factory(name: str) -> Factory:
    def create(**kwargs: object) -> nn.Module:
        return timm.create_model(name, pretrained=False, **kwargs)

    create.__name__ = name
    return create


REGISTRY = ModelRegistry()


def register_model(
    name: str | None = None,
    *,
    input_size: tuple[int, ...] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    classifier: str | None = None,
    first_conv: str | None = None,
    registry: ModelRegistry | None = None,
) -> Callable[[Factory], Factory]:
    """Decorator: register a model factory under ``name`` (default: the function's name).

    ``input_size`` is (C, H, W); ``mean``/``std`` the per-channel normalisation the model was
    trained with; ``transform`` a function applied to normalised probe inputs (N, C, H, W);
    ``classifier``/``first_conv`` the module names whose weights tell num_classes and in_chans.
    """
    if callable(name):  # used bare: @register_model
        return register_model()(name)  # type: ignore[return-value]
    target = registry or REGISTRY

    def decorate(factory: Factory) -> Factory:
        origin = target.current_origin or f"module {factory.__module__}"
        target.register(ModelEntry(
            name=name or factory.__name__,
            origin=origin,
            factory=factory,
            input_size=tuple(input_size) if input_size is not None else None,
            mean=tuple(mean) if mean is not None else None,
            std=tuple(std) if std is not None else None,
            transform=transform,
            classifier=classifier,
            first_conv=first_conv,
        ))
        return factory

    return decorate
