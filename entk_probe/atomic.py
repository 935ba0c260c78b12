"""Writing a file so that a reader sees the old file or the whole new one, never a part of it."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then rename it into place.

    The folder is created if needed; when writing fails, the temporary file is removed and the
    error goes on to the caller. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Host and pid: processes on several machines (torchrun ranks) may write beside each other on a shared filesystem.
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_error_cause(exc: BaseException) -> str:
    """The cause of a failed write in a few words: the OS's message, else the first line of the error."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:
        where = Path(exc.filename)
        blocking = next((q for q in (where, *where.parents) if q.is_file()), None)  # mkdir met a file on the way
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
