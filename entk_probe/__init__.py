"""entk-probe: how a network's empirical Neural Tangent Kernel evolved over a training run.

Python API (see README.md):

- ``compute_entk(model, inputs, mode="trace"|"full"|"pntk", ...)``: the eNTK as a float64 tensor.
- ``compute_entk_result(...)``: the same with the plan, device and settings that produced it.
"""

from .engine import EntkResult, compute_entk, compute_entk_result
from .errors import EntkProbeError, EntkProbeWarning, MemoryBudgetError, ModelError, UsageError

__version__ = "0.1.0"

__all__ = [
    "EntkProbeError",
    "EntkProbeWarning",
    "EntkResult",
    "MemoryBudgetError",
    "ModelError",
    "UsageError",
    "__version__",
    "compute_entk",
    "compute_entk_result",
]
