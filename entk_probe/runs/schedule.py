"""When a training loop should save checkpoints so that the analysis sees Phase I.

The kernel moves fastest in the first steps (Phase I often ends within the first epoch), so one
checkpoint an epoch shows almost none of it. ``checkpoint_steps`` gives every step up to
``dense``, then steps growing geometrically to the end of the first epoch, then every epoch's end.
"""

from __future__ import annotations

import math

from ..errors import UsageError


def checkpoint_steps(steps_per_epoch: int, epochs: int, *, dense: int = 4, growth: float = 2.0) -> list[int]:
    """The optimiser steps after which to save, sorted: 0 (the initialisation), 1, ..., ``dense``,
    then each about ``growth`` times the last up to one epoch, then every epoch's end.

    Save with the step and the epochs done (``step / steps_per_epoch``) recorded, e.g.
    ``torch.save({"state_dict": model.state_dict(), "step": step, "epoch": step / steps_per_epoch}, path)``,
    and entk-probe orders and spaces them by time. With the defaults, 30 epochs of 390 steps give
    12 checkpoints in the first epoch (0, 1, 2, 3, 4, 8, ..., 256, 390) and 41 in all.
    """
    for name, value in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, not {value!r}")
    if isinstance(dense, bool) or not isinstance(dense, int) or dense < 0:
        raise UsageError(f"dense must be a non-negative integer, not {dense!r}")
    if not growth > 1:
        raise UsageError(f"growth must be more than 1, not {growth!r}")
    steps = set(range(min(dense, steps_per_epoch) + 1))
    step = min(max(dense, 1), steps_per_epoch)
    steps.add(step)
    while step < steps_per_epoch:
        step = min(steps_per_epoch, max(step + 1, math.ceil(step * growth)))
        steps.add(step)
    steps.update(k * steps_per_epoch for k in range(1, epochs + 1))
    return sorted(steps)
