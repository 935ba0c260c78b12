"""Buffer motion: how much of a step's kernel motion the buffers (BatchNorm statistics) explain.

For the step from checkpoint i to i+1 the pipeline computes one more kernel: checkpoint i+1's
weights with checkpoint i's buffers. ``summary.buffer_shares`` splits the step's angle at it.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from ..runs.checkpoints import Checkpoint
from ..runs.loading import strip_prefixes
from ..runs.models import load_weights
from .kernels import KernelSource


def fitted(model: nn.Module, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with the wrapper prefixes the model's own names do not have removed."""
    return strip_prefixes(state, model.state_dict())[0]  # names and shapes: two networks of one module may differ in width


def mixed_kernel(model: nn.Module, source: KernelSource, arch: str, weights: str, ckpt: Checkpoint,
                 state: Mapping[str, Tensor], previous: Checkpoint, previous_state: Mapping[str, Tensor]) -> Tensor:
    """The kernel of ``ckpt``'s weights with ``previous``'s buffers (both states fitted to the model).

    Leaves the model holding that blend; the caller loads the next weights.
    """
    buffers = {name for name, _ in model.named_buffers()}
    blend = {k: (previous_state[k] if k in buffers and k in previous_state else v) for k, v in state.items()}
    load_weights(model, blend, arch=arch, where=f"{ckpt.path} with the buffers of {previous.path}")
    return source.kernel({"checkpoint": ckpt.sha256, "buffers_of": previous.sha256, "weights": weights})[0]
