"""Error types and warnings that point at the user's code."""

from __future__ import annotations

import warnings

import inspect

import entk_probe
from entk_probe import errors
from entk_probe.errors import EntkProbeError, EntkProbeWarning, UsageError, warn


def _error_types() -> list[type]:
    return [t for _, t in inspect.getmembers(errors, inspect.isclass) if issubclass(t, EntkProbeError)]


def test_one_exit_code_rule() -> None:
    for kind in _error_types():
        assert kind.exit_code == (2 if issubclass(kind, UsageError) else 1), kind
    assert {t.__name__ for t in _error_types()} >= {"UsageError", "ModelError", "MemoryBudgetError", "CheckpointError",
                                                    "PluginError", "ProbeError", "DatasetNotFound", "ReportError"}


def test_every_error_type_lives_in_errors_py() -> None:
    """No module of the package defines an EntkProbeError subclass of its own."""
    import pkgutil

    for info in pkgutil.walk_packages(entk_probe.__path__, "entk_probe."):
        module = __import__(info.name, fromlist=["_"])
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if issubclass(kind, EntkProbeError):
                assert kind.__module__ == "entk_probe.errors", f"{kind.__name__} is defined in {kind.__module__}"


def test_warn_points_at_the_caller_outside_the_package() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn("something to know")
    assert caught[0].category is EntkProbeWarning
    assert caught[0].filename == __file__
