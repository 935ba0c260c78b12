"""The whole run's expected cost before its first kernel: time, memory, and whether it fits.

From the first checkpoint's plan (``engine.estimate``): the time of each kernel not in the cache,
the engine's peak on the device, and the kernels the analysis holds in host memory (``held``: the
kernels wait on disk, ``kernelstore``, and the pairwise products read them in blocks sized by the
memory budget, so this is bounded by the budget whatever the number of checkpoints). The run does not
fit when the engine's working set exceeds the memory budget, or a device's share of the peak
exceeds what it has free now; the job then refuses unless told to go on (``--force``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..engine.estimate import KernelEstimate, estimate_kernel, gemm_rate, pass_flops
from ..engine.memory import available_memory, format_bytes
from ..errors import MemoryBudgetError
from ..runs.checkpoints import Checkpoint
from .kernels import KernelSource
from .kernelstore import analysis_bytes, analysis_budget


@dataclass(frozen=True)
class RunEstimate:
    """What the run is expected to cost (bytes, seconds)."""

    kernels: int  # to compute
    cached: int  # found in the kernel cache
    seconds: float  # for the kernels to compute
    kernel: KernelEstimate | None  # one kernel's cost; None when every kernel is cached
    kernel_bytes: int  # one finished kernel (float64)
    held_bytes: int  # the kernels the analysis holds at once in host memory (kernelstore.analysis_bytes)
    device: str
    budget_bytes: int
    device_peak_bytes: int  # on the device: one kernel's peak (and on the CPU, the kernels held too)
    device_free_bytes: int  # what the device has free now
    host_peak_bytes: int  # CUDA only: the kernels held in host memory
    host_free_bytes: int

    def problems(self) -> list[str]:
        """Why the run does not fit (empty when it does)."""
        found = []
        if self.kernel is not None and self.kernel.working_bytes > self.budget_bytes:
            found.append(f"the engine's working set ({format_bytes(self.kernel.working_bytes)}) exceeds the memory "
                         f"budget ({format_bytes(self.budget_bytes)})")
        if self.device_peak_bytes > self.device_free_bytes:
            found.append(f"the peak on {self.device} ({format_bytes(self.device_peak_bytes)}) exceeds the "
                         f"{format_bytes(self.device_free_bytes)} it has free")
        if self.host_peak_bytes > self.host_free_bytes:
            found.append(f"the kernels the analysis holds at once ({format_bytes(self.host_peak_bytes)}) exceed the "
                         f"{format_bytes(self.host_free_bytes)} of host memory free")
        return found

    def describe(self) -> str:
        """One line: kernels, time, peak memory against what is free."""
        cached = f" ({self.cached} in the kernel cache)" if self.cached else ""
        work = (f"{self.kernels} kernel(s) to compute{cached}, about {_duration(self.seconds)} "
                f"({_duration(self.kernel.seconds)} a kernel)" if self.kernel is not None else f"nothing to compute{cached}")
        return (f"{work}; peak memory about "
                f"{format_bytes(self.device_peak_bytes)} of {format_bytes(self.device_free_bytes)} free on {self.device}"
                + (f", {format_bytes(self.host_peak_bytes)} of host memory for the kernels held at once"
                   if self.device != "cpu" else f" (kernels held at once: {format_bytes(self.held_bytes)})"))

    def as_dict(self) -> dict[str, Any]:
        """The estimate as JSON-ready values (bytes, seconds, flop/s)."""
        k = self.kernel
        return {"kernels_to_compute": self.kernels, "kernels_cached": self.cached, "seconds": self.seconds,
                "seconds_per_kernel": None if k is None else k.seconds, "flops_per_kernel": None if k is None else k.flops,
                "gemm_rate": None if k is None else k.rate, "kernel_bytes": self.kernel_bytes,
                "held_bytes": self.held_bytes, "budget_bytes": self.budget_bytes,
                "working_bytes": None if k is None else k.working_bytes, "device_peak_bytes": self.device_peak_bytes,
                "device_free_bytes": self.device_free_bytes, "host_peak_bytes": self.host_peak_bytes,
                "host_free_bytes": self.host_free_bytes}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _identities(chosen: Sequence[Checkpoint], weights: str, buffer_motion: bool) -> list[dict[str, str]]:
    """The weights of every kernel the run needs (as the job names them for the cache)."""
    ids = [{"checkpoint": c.sha256, "weights": weights} for c in chosen]
    if buffer_motion:
        ids += [{"checkpoint": c.sha256, "buffers_of": p.sha256, "weights": weights} for p, c in zip(chosen, chosen[1:])]
    return ids


def forecast(source: KernelSource, chosen: Sequence[Checkpoint]) -> RunEstimate:
    """The cost of computing ``source``'s kernels for ``chosen`` (from the model's plan, whatever weights it holds)."""
    o = source.options
    ids = _identities(chosen, o.weights, o.buffer_motion)
    todo = sum(not source.cached(i) for i in ids)
    x = source.probe.inputs
    kernel = None
    plan = source.expected_plan()
    if todo:
        resident = sum(p.numel() * p.element_size() for p in source.model.parameters()) + x.numel() * o.jacobian_dtype.itemsize
        sample = x[0].to(o.jacobian_dtype) if x.is_floating_point() else x[0]  # token ids stay integers
        kernel = estimate_kernel(plan, pass_flops(source.model, sample),
                                 gemm_rate(source.device, source.gram_dtype), gemm_rate(source.device, o.jacobian_dtype),
                                 resident)
    kernel_bytes = plan.gram_rows**2 * 8
    held = analysis_bytes(kernel_bytes, len(chosen), analysis_budget(o.max_memory), o.buffer_motion)
    device = torch.device(source.device)
    engine = kernel.peak_bytes if kernel is not None else 0
    on_cpu = device.type == "cpu"
    free = available_memory(device)
    return RunEstimate(
        kernels=todo, cached=len(ids) - todo, seconds=todo * (kernel.seconds if kernel else 0.0), kernel=kernel,
        kernel_bytes=kernel_bytes, held_bytes=held, device=source.device, budget_bytes=plan.budget,
        device_peak_bytes=engine + held if on_cpu else engine, device_free_bytes=free,
        host_peak_bytes=0 if on_cpu else held, host_free_bytes=free if on_cpu else available_memory(torch.device("cpu")),
    )


def check_fits(estimate: RunEstimate, force: bool) -> None:
    """Raise MemoryBudgetError, with the estimate and the ways to lower it, when the run does not fit."""
    problems = estimate.problems()
    if not problems or force:
        return
    raise MemoryBudgetError(
        f"this run is not expected to fit: {'; '.join(problems)} (estimate: {estimate.describe()}). To lower it: fewer "
        "checkpoints (--every, --max-checkpoints, --range), a smaller probe (e.g. cifar10:200), the trace or pntk "
        "mode instead of full (a kernel of N² numbers instead of (NC)²), a smaller --max-memory for the engine, "
        "or --device cpu when the GPU is the one too small; --force runs it anyway"
    )
