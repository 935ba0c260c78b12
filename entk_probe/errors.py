"""Exception types of entk-probe.

Library code raises these; the CLI turns them into a one-line message and an exit code
(1 for a failure of the analysis, 2 for a usage error).
"""

from __future__ import annotations

import contextlib  # noqa: F401  (warn skips its frames)
import os
import sys
import warnings


class EntkProbeError(Exception):
    """Base class of every error entk-probe raises on purpose."""

    exit_code = 1


class UsageError(EntkProbeError):
    """An argument or option value is malformed (exit code 2)."""

    exit_code = 2


class ModelError(EntkProbeError):
    """The model cannot be evaluated as the engine needs (wrong output shape, no parameters...)."""


class MemoryBudgetError(EntkProbeError):
    """The kernel cannot be computed within the given memory budget."""


class EntkProbeWarning(UserWarning):
    """Something the user should know about a result (not a bug): always shown, never silent.

    ``code`` names the kind of warning for tools reading the JSON report; ``checkpoint`` the
    checkpoint it concerns, if one.
    """

    def __init__(self, message: str, code: str = "warning", checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.checkpoint = checkpoint


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CONTEXTLIB = os.path.abspath(sys.modules["contextlib"].__file__ or "")


def warn(message: str, *, code: str = "warning", checkpoint: str | None = None) -> None:
    """Give an EntkProbeWarning that points at the caller's code, not at entk-probe's."""
    level = 2  # 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not (path.startswith(_PACKAGE_DIR) or path == _CONTEXTLIB):
            break
        frame = frame.f_back
        level += 1
    warnings.warn(EntkProbeWarning(message, code, checkpoint), stacklevel=level)
