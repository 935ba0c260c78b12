"""Kernel modes: how per-sample Jacobians become the eNTK.

All three modes are Gram matrices of a per-sample feature matrix Φ built from Jacobian rows
(definitions in docs/definitions.md, "Kernel modes"). With J[n, c, :] = ∂f_c(x_n)/∂θ for N
samples, C logits, P parameters:

- ``full``:  Φ has N·C rows (sample-major) and P columns; Θ = (Φ Φᵀ) viewed as (N, C, N, C),
  permuted to (N, N, C, C).
- ``trace``: Φ has N rows and C·P columns (J[n] flattened); Φ Φᵀ = Σ_c J[:, c] J[:, c]ᵀ, (N, N).
- ``pntk``:  Φ has N rows and P columns, Φ[n] = ∇θ Σ_c f_c(x_n), the gradient of the summed logits
  (one backward pass per sample instead of C); Θ_p = Φ Φᵀ / C, (N, N).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UsageError


@dataclass(frozen=True)
class KernelMode:
    """How one kernel mode maps per-sample Jacobians to a Gram matrix.

    Everything a mode does follows from its two flags; a new mode is a new ``MODES`` entry here
    (with its schema enum value and its reference in tests/reference.py).

    ``jacobian_rows(C)`` is how many cotangents (backward passes) each sample needs;
    ``gram_rows_per_sample(C)`` how many rows of Φ each sample contributes.
    """

    name: str
    summed_logits: bool  # Jacobian of Σ_c f_c (one row) instead of every logit
    rows_are_logits: bool  # Φ rows are (sample, logit) pairs rather than samples

    def jacobian_rows(self, num_classes: int) -> int:
        return 1 if self.summed_logits else num_classes

    def gram_rows_per_sample(self, num_classes: int) -> int:
        return num_classes if self.rows_are_logits else 1

    def features(self, jac: torch.Tensor) -> torch.Tensor:
        """View per-sample Jacobian rows (n, R, P) as this mode's feature rows Φ, no copy."""
        n, r, p = jac.shape
        if self.rows_are_logits:
            return jac.view(n * r, p)  # (n·C, P)
        return jac.view(n, r * p)  # (n, C·P) or (n, P)

    def finalize(self, gram: torch.Tensor, num_samples: int, num_classes: int) -> torch.Tensor:
        """Turn the symmetric Gram matrix of Φ into the kernel of this mode's shape."""
        if self.rows_are_logits:
            n, c = num_samples, num_classes
            return gram.view(n, c, n, c).permute(0, 2, 1, 3).contiguous()  # (N, N, C, C)
        if self.summed_logits:  # Φ rows are gradients of Σ_c f_c: the pNTK is their Gram / C
            return gram / num_classes  # (N, N)
        return gram  # (N, N)


MODES: dict[str, KernelMode] = {
    "full": KernelMode("full", summed_logits=False, rows_are_logits=True),
    "trace": KernelMode("trace", summed_logits=False, rows_are_logits=False),
    "pntk": KernelMode("pntk", summed_logits=True, rows_are_logits=False),
}


def get_mode(name: str) -> KernelMode:
    """Look a mode up by name; a usage error lists the valid names."""
    try:
        return MODES[name]
    except KeyError:
        raise UsageError(
            f"unknown kernel mode {name!r}: use one of {', '.join(sorted(MODES))}"
        ) from None
