"""Memory budgets: parsing sizes, the default budget of a device, and formatting.

The host's free memory is /proc/meminfo's MemAvailable, read by hand: the kernel's estimate of
what can be allocated without swapping, page cache that can be dropped included. Not
``os.sysconf("SC_AVPHYS_PAGES")``, which is MemFree and leaves that cache out (18.2 against
21.5 GiB on this project's machine, 3.3 GiB of it cache), kept only as the fallback where there
is no /proc (macOS); not psutil, a dependency that would read the same line.
"""

from __future__ import annotations

import ctypes
import os
import re

import torch

from ..errors import UsageError

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")

# Share of the memory a device has free that the engine takes when no budget is given.
DEFAULT_BUDGET_FRACTION = 0.5


def parse_bytes(value: int | float | str) -> int:
    """Parse a memory size: an int of bytes, or a string such as ``"512MiB"``, ``"2GB"``, ``"1e9"``.

    Decimal (kB, MB, GB) and binary (KiB, MiB, GiB) units are accepted, case-insensitively.
    """
    if isinstance(value, bool):
        raise UsageError(f"memory size must be a number of bytes or a string like '2GiB', not {value!r}")
    if isinstance(value, (int, float)):
        size = float(value)
    else:
        text = str(value)
        match = _SIZE.match(text)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            try:
                size = float(text)
            except ValueError:
                raise UsageError(
                    f"cannot read memory size {text!r}: give bytes or a number with a unit "
                    "(KB, MB, GB, KiB, MiB, GiB), e.g. '4GiB'"
                ) from None
        else:
            size = float(match.group(1)) * _UNITS[unit]
    if not size > 0 or size != size or size == float("inf"):
        raise UsageError(f"memory size must be positive and finite, got {value!r}")
    return int(size)


def format_bytes(size: float) -> str:
    """Human-readable size in binary units, e.g. ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def available_memory(device: torch.device) -> int:
    """Bytes the device has free now: CUDA free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def default_budget(device: torch.device) -> int:
    """The budget used when the caller gives none: half of what the device has free."""
    return int(available_memory(device) * DEFAULT_BUDGET_FRACTION)


def release_host_memory() -> None:
    """Hand memory that glibc's malloc keeps after large frees back to the system.

    Between parameter groups the engine frees buffers of tens of MB; glibc keeps such memory in
    its heap (its mmap threshold rises after each large free), so without this the process
    grows beyond the budget by one group's buffers. A no-op where malloc_trim does not exist.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return
    trim(0)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure: CUDA's OutOfMemoryError or the CPU allocator's."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
