"""Kernel files: one eNTK saved as safetensors with what it is the kernel of.

Written by `entk-probe kernel` and `analyze --save-kernels DIR`: a tensor ``kernel`` (float64;
(N, N), or (N, N, C, C) in full mode) and string metadata: format, checkpoint path, sha256,
step and epoch, architecture, probe spec and sha256, kernel mode, Jacobian and product dtypes, device,
parameter filter and the tool's version. A run directory may hold them: discovery skips them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from .. import __version__
from ..atomic import write_atomically
from ..pipeline.cache import KERNEL_FORMAT
from ..runs.checkpoints import Checkpoint
from ..errors import EntkProbeError


def kernel_metadata(checkpoint: Checkpoint, *, arch: str, probe_spec: str, probe_sha256: str, mode: str,
                    jacobian_dtype: str, gram_dtype: str, device: str, params: str | None) -> dict[str, str]:
    """Metadata for a kernel file, every value a string (safetensors metadata)."""
    values: dict[str, Any] = {
        "format": KERNEL_FORMAT, "tool_version": __version__, "checkpoint": str(checkpoint.path),
        "checkpoint_sha256": checkpoint.sha256, "step": checkpoint.step, "epoch": checkpoint.epoch, "arch": arch,
        "probe": probe_spec, "probe_sha256": probe_sha256, "mode": mode, "jacobian_dtype": jacobian_dtype,
        "gram_dtype": gram_dtype, "device": device, "params": params,
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def save_kernel(path: Path, kernel: Tensor, metadata: dict[str, str]) -> None:
    """Write a kernel file atomically."""
    write_atomically(path, lambda tmp: save_file({"kernel": kernel.contiguous()}, str(tmp), metadata=metadata))


def load_kernel(path: Path) -> tuple[Tensor, dict[str, str]]:
    """A kernel file's tensor and metadata."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            if meta.get("format") != KERNEL_FORMAT or "kernel" not in fh.keys():
                raise EntkProbeError(f"{path}: not an entk-probe kernel file")
            return fh.get_tensor("kernel"), meta
    except EntkProbeError:
        raise
    except Exception as exc:
        raise EntkProbeError(f"{path}: not a readable kernel file ({exc})") from None
