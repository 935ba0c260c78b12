"""Kernels kept with a run: the ones a training-loop callback computed in-process, by the weights' hash.

A callback (``entk_probe.integrations``) that computes kernels while the run trains puts each one
in ``RUN_DIR/entk-kernels/`` under the sha256 of the model's state (every tensor of its
state_dict, in name order) and of what else determines it (the probe's sha256, the mode, the
dtypes, ``--params``). ``analyze`` looks there before computing a kernel: the checkpoint the
callback saved at the same step holds the same state, so nothing is computed twice. Entries are
checked like the kernel cache's (``cache.KernelCache``): a damaged one is a miss, with a warning.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .cache import KernelCache

RUN_KERNELS = "entk-kernels"  # the folder under the run directory


def weights_sha256(model: nn.Module) -> str:
    """sha256 of the model's state: every state_dict tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# What a run kernel's outputs are: the model's own logits. A language model's label words read at a
# prediction position are other outputs of the same weights, keyed apart (``label_words_outputs``).
LOGITS = "logits"


def label_words_outputs(words: str, prompt: str) -> str:
    """The outputs key of a language model's label-word logits."""
    return f"label words {words} under {prompt!r}"


def run_parts(weights: str, probe_sha256: str, mode: str, jacobian_dtype: torch.dtype, gram_dtype: torch.dtype,
              params: str | None, outputs: str = LOGITS) -> dict[str, Any]:
    """The key parts of a run kernel: the weights' hash and everything else the kernel depends on."""
    return {"weights_sha256": weights, "probe": probe_sha256, "mode": mode, "outputs": outputs,
            "dtype": str(jacobian_dtype), "gram_dtype": str(gram_dtype), "params": params}


def run_store(run_dir: Path, *, create: bool = False) -> KernelCache | None:
    """The run's kernel store, or None when it has none (and ``create`` is false)."""
    folder = Path(run_dir) / RUN_KERNELS
    return KernelCache(folder) if create or folder.is_dir() else None


def stored_kernel(store: KernelCache | None, model: nn.Module, parts: dict[str, Any], n: int) -> Tensor | None:
    """The kernel of the model's current weights in ``store`` (``parts`` without the weights), or None."""
    if store is None:
        return None
    return store.get({**parts, "weights_sha256": weights_sha256(model)}, n)
