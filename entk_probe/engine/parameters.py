"""Which parameters count in the eNTK: the default set, or the user's filter by name."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from torch import nn

from ..errors import ModelError, UsageError

ParamFilter = str | Iterable[str] | Callable[[str], bool] | None


def select_parameters(model: nn.Module, params: ParamFilter = None) -> list[tuple[str, int]]:
    """(name, numel) of the parameters that count, in the model's order.

    ``params`` is None (every parameter with ``requires_grad``), a callable taking a parameter
    name, or glob patterns (a comma-separated string or an iterable) matched against the names of
    all parameters, frozen ones included: a name counts when any pattern matches it. A pattern
    that matches nothing is an error, so that a typo never shrinks the kernel silently.
    """
    named = list(model.named_parameters())
    if not named:
        raise ModelError("the model has no parameters, so its eNTK is zero")
    if params is None:
        chosen = [(name, p.numel()) for name, p in named if p.requires_grad]
        if not chosen:
            raise ModelError(
                "no parameter of the model requires grad: pass params=... (or --params) to choose "
                "the parameters the kernel is taken over"
            )
        return chosen
    if callable(params):
        chosen = [(name, p.numel()) for name, p in named if params(name)]
        what = "the params filter"
    else:
        patterns = [s.strip() for s in params.split(",")] if isinstance(params, str) else list(params)
        patterns = [p for p in patterns if p]
        if not patterns:
            raise UsageError("the params filter is empty: give glob patterns such as 'fc.*,head.*'")
        names = [name for name, _ in named]
        unmatched = [pat for pat in patterns if not fnmatch.filter(names, pat)]
        if unmatched:
            raise UsageError(
                f"parameter pattern(s) {', '.join(map(repr, unmatched))} match no parameter of the "
                f"model; its parameters are named like {', '.join(names[:4])}"
                + (", ..." if len(names) > 4 else "")
            )
        chosen = [(name, p.numel()) for name, p in named if any(fnmatch.fnmatchcase(name, pat) for pat in patterns)]
        what = f"the patterns {patterns!r}"
    if not chosen:
        raise UsageError(f"{what} select no parameter of the model")
    return chosen


def describe_selection(model: nn.Module, params: str | None) -> str:
    """Which of ``model``'s parameters ``params`` (as ``select_parameters`` takes it) selects, in words."""
    if params:
        return f"the parameters {params} names"
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    if not frozen:
        return "every parameter"
    trained = "the adapters and modules_to_save" if hasattr(model, "peft_config") else "those that require grad"
    return f"the trained parameters ({trained}; {frozen:,} frozen left out, --params widens)"
