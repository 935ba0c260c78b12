"""Every exception type of entk-probe, and its warnings.

Library code raises these; the CLI turns them into a one-line message and an exit code. The one
rule: a ``UsageError`` (a malformed option or value, or a path the user named that does not
exist) exits 2; every other ``EntkProbeError`` (the analysis failed: a file that exists but
cannot be read or used, a model that does not fit, memory) exits 1.
"""

from __future__ import annotations

import contextlib  # noqa: F401  (warn skips its frames)
import os
import sys
import warnings
from collections.abc import Sequence


class EntkProbeError(Exception):
    """Base class of every error entk-probe raises on purpose."""

    exit_code = 1


class UsageError(EntkProbeError):
    """An argument or option value is malformed, or a path the user named does not exist (exit code 2)."""

    exit_code = 2


class ModelError(EntkProbeError):
    """The model cannot be built or evaluated as the engine needs: unknown architecture, weights
    that do not fit it, wrong output shape, no parameters."""


class MemoryBudgetError(EntkProbeError):
    """The kernel cannot be computed within the given memory budget."""


class CheckpointError(EntkProbeError):
    """A checkpoint cannot be read, ordered or matched to its model."""


class PluginError(EntkProbeError):
    """A plugin cannot be loaded, or it claims a name that is already taken."""


class ProbeError(EntkProbeError):
    """A probe set cannot be built: data missing, corrupt, or not enough of it."""


class DatasetNotFound(ProbeError):
    """A dataset is in none of the places looked at; the message lists them and how to get it."""

    def __init__(self, name: str, looked: Sequence[str]) -> None:
        how = ("pass --download to fetch the official archive, or " if name.startswith("cifar") else "")
        if name == "fashion-mnist":
            how = "install Debian's dataset-fashion-mnist package, or "
        super().__init__(
            f"{name} not found; looked in {', '.join(dict.fromkeys(looked))}. To get it: {how}point "
            "--data-root (or ENTK_PROBE_DATA) at a folder holding it in its official layout"
        )


class ReportError(EntkProbeError):
    """A saved report or kernel file cannot be read."""


class KernelStoreError(EntkProbeError):
    """A kernel the analysis keeps on disk (in the kernel cache or its temporary folder) cannot be
    written, or is gone or changed when the analysis reads it back."""


class OutputError(EntkProbeError):
    """An output (JSON report, plot, kernel file) could not be written; the analysis itself is complete."""


class DistributedError(EntkProbeError):
    """Under torchrun: a rank failed (the message names it and says why) or stopped responding.

    Every rank raises it with the same message; ``exit_code`` is the failed rank's own. ``everywhere``
    says whether every rank should print it (rank 0 is the one lost) or rank 0 alone.
    """

    def __init__(self, message: str, exit_code: int = 1, everywhere: bool = False) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.everywhere = everywhere


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
