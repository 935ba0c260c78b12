"""checkpoint_steps: dense early, geometric to one epoch, then every epoch; bad arguments are usage errors."""

from __future__ import annotations

import pytest

from entk_probe import checkpoint_steps
from entk_probe.errors import UsageError


def test_dense_then_geometric_then_every_epoch() -> None:
    steps = checkpoint_steps(390, 30)
    assert steps[:12] == [0, 1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 390]
    assert steps[12:] == [390 * k for k in range(2, 31)] and len(steps) == 41
    assert checkpoint_steps(3, 2) == [0, 1, 2, 3, 6]  # an epoch shorter than the dense part
    assert checkpoint_steps(100, 1, dense=0, growth=10) == [0, 1, 10, 100]


@pytest.mark.parametrize("kwargs", [dict(steps_per_epoch=0, epochs=3), dict(steps_per_epoch=10, epochs=True),
                                    dict(steps_per_epoch=10, epochs=3, growth=1.0),
                                    dict(steps_per_epoch=10, epochs=3, dense=-1)])
def test_bad_arguments_are_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        checkpoint_steps(**kwargs)
