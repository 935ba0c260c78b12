"""What the benchmarks measure with: peak memory, other processes' CPU time, a clean heap, and
how they compare kernels and print numbers.

Shared by bench_entk.py and bench_networks.py; Linux only (/proc).
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import signal
import subprocess
from typing import Any

import torch

MIB = 2**20


def status_bytes(field: str) -> int:
    """A ``Vm*`` field of /proc/self/status, in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> None:
    """Make VmHWM equal the current RSS (Linux clear_refs, value 5)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def busy_cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds this process has used)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK"), own.ru_utime + own.ru_stime


def trim_heap() -> None:
    """Collect garbage and hand glibc's free heap back, so that the next peak is the next call's own."""
    gc.collect()
    ctypes.CDLL(None).malloc_trim(0)


def rel_diff(kernel: Any, reference: Any) -> float:
    """max |K - K_ref| / max |K_ref|, in float64 (a float32 peer's kernel included)."""
    a, b = torch.as_tensor(kernel).double(), torch.as_tensor(reference).double()
    if a.shape != b.shape:
        raise RuntimeError(f"kernel shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a - b).abs().max() / b.abs().max())


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def fmt_mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.0f} MiB"


def fmt_share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def describe_failure(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit status and the last line of a failed worker's stderr (its exception)."""
    if proc.returncode < 0:
        status = f"killed by {signal.Signals(-proc.returncode).name}"
    else:
        status = f"exit status {proc.returncode}"
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no message"
    return f"{status}: {last[:300]}"
