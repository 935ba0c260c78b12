"""entk-probe: how a network's empirical Neural Tangent Kernel evolved over a training run.

Python API (see README.md):

- ``compute_entk(model, inputs, mode="trace"|"full"|"pntk", ...)``: the eNTK as a float64 tensor.
- ``compute_entk_result(...)``: the same with the plan, device and settings that produced it.
- ``register_model(name, ...)``: a decorator that registers a model factory from a plugin.
- ``register_probe(name)``: a decorator that registers a probe source from a plugin.
- ``analyze(run_dir, probe_spec, AnalyzeOptions(...))``: the whole analysis of a run.
"""

from .pipeline import Analysis, AnalyzeOptions, analyze
from .engine.kernel import EntkResult, compute_entk, compute_entk_result
from .errors import EntkProbeError, EntkProbeWarning, MemoryBudgetError, ModelError, UsageError
from .probes.sources import register_probe
from .runs.registry import register_model

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "AnalyzeOptions",
    "EntkProbeError",
    "EntkProbeWarning",
    "EntkResult",
    "MemoryBudgetError",
    "ModelError",
    "UsageError",
    "__version__",
    "compute_entk",
    "analyze",
    "compute_entk_result",
    "register_model",
    "register_probe",
]
