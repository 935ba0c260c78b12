"""Writing the outputs of a finished analysis so that one failed write loses nothing else.

Each write is atomic (see ``entk_probe.atomic``), so a failure leaves no temporary file; the
caller gets one line per failure and decides how to report it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError

from ..atomic import write_error_cause

Write = tuple[str, Path, Callable[[], object]]  # (what, path, the write itself)


def write_all(writes: list[Write]) -> list[str]:
    """Run every write, even after one fails; one line naming the output and the cause for each failure."""
    failures = []
    for what, path, write in writes:
        try:
            write()
        except (OSError, SafetensorError) as exc:  # safetensors reports I/O errors in its own type
            failures.append(f"could not write the {what} {path} ({write_error_cause(exc)})")
    return failures
