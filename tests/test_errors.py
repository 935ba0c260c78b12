"""Error types and warnings that point at the user's code."""

from __future__ import annotations

import warnings

from entk_probe.errors import EntkProbeError, EntkProbeWarning, MemoryBudgetError, ModelError, UsageError, warn


def test_exit_codes() -> None:
    assert UsageError("x").exit_code == 2
    assert ModelError("x").exit_code == 1 and MemoryBudgetError("x").exit_code == 1
    assert issubclass(UsageError, EntkProbeError)


def test_warn_points_at_the_caller_outside_the_package() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn("something to know")
    assert caught[0].category is EntkProbeWarning
    assert caught[0].filename == __file__
