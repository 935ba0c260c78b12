"""Writing the outputs of a finished analysis so that one failed write loses nothing else.

Each write is atomic (see ``entk_probe.atomic``), so a failure leaves no temporary file; the
caller gets one line per failure and decides how to report it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError

from ..atomic import write_error_cause
from ..pipeline.job import Analysis
from .kernelfile import kernel_metadata, save_kernel

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


def kernel_writes(analysis: Analysis, directory: Path, jacobian_dtype: str, params: str | None) -> list[Write]:
    """One write for each included checkpoint's kernel, as ``DIR/<checkpoint>.kernel.safetensors``."""
    writes: list[Write] = []
    for i, kernel in zip(analysis.included, analysis.kernels):
        ckpt = analysis.runs[i].checkpoint
        meta = kernel_metadata(ckpt, arch=analysis.model.arch, probe_spec=analysis.probe.spec,
                               probe_sha256=analysis.probe.sha256, mode=analysis.options.mode,
                               jacobian_dtype=jacobian_dtype, gram_dtype=str(analysis.options.products).removeprefix("torch."),
                               device=analysis.device, params=params)
        path = directory / (ckpt.name.replace("/", "__") + ".kernel.safetensors")
        writes.append(("kernel file", path, lambda p=path, k=kernel, m=meta: save_kernel(p, k, m)))
    return writes
