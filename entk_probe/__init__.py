"""entk-probe: how a network's empirical Neural Tangent Kernel evolved over a training run.

The package follows the data flow from checkpoints to report, one subpackage a stage: ``runs`` (checkpoints,
their formats, safe loading, models and the plugin registry), ``probes`` (probe sets),
``engine`` (the eNTK of one model on one probe), ``analysis`` (dynamics, phases, verdicts),
``pipeline`` (the main job that runs them over a run directory, with the kernel cache) and
``output`` (JSON, terminal and plot renderers); ``cli`` is the shell on top.

What users and plugins need is exported here (``__all__``); README.md shows it in use:

- ``compute_entk(model, inputs, mode="trace"|"full"|"pntk", ...)``: the eNTK as a float64 tensor;
  ``compute_entk_result(...)``: with the plan, device and settings that produced it.
- ``analyze(run_dir, probe_spec, AnalyzeOptions(...))``: the whole analysis of a run; ``to_json``,
  ``write_json``, ``read_json`` and ``render`` for its reports; in a notebook an ``Analysis`` and a
  ``Report`` (what ``read_json`` returns: the report's dict) display themselves and ``plot()`` themselves.
- ``compare_runs([run_or_report, ...], probe_spec, options, by="lr")``: runs side by side, a ``Report``.
- ``register_model(name, ...)`` and ``register_probe(name)`` (with ``Split``) for plugins.
"""

__version__ = "0.1.0"

from .analysis.phases import PhaseThresholds
from .analysis.verdicts import VERDICTS, Verdict
from .engine.kernel import EntkResult, compute_entk, compute_entk_result
from .engine.modes import MODES
from .errors import (
    CheckpointError,
    DatasetNotFound,
    EntkProbeError,
    EntkProbeWarning,
    MemoryBudgetError,
    ModelError,
    OutputError,
    PluginError,
    ProbeError,
    ReportError,
    UsageError,
)
from .output.jsonreport import read_json, to_json, write_json
from .output.notebook import Report
from .output.terminal import render
from .pipeline import Analysis, AnalyzeOptions, analyze
from .pipeline.compare import compare_runs
from .probes import Probe, Split, Target, make_probe, register_probe
from .runs.registry import register_model
from .runs.schedule import checkpoint_steps

__all__ = [
    "MODES",
    "VERDICTS",
    "Analysis",
    "AnalyzeOptions",
    "CheckpointError",
    "DatasetNotFound",
    "EntkProbeError",
    "EntkProbeWarning",
    "EntkResult",
    "MemoryBudgetError",
    "ModelError",
    "OutputError",
    "PhaseThresholds",
    "PluginError",
    "Probe",
    "ProbeError",
    "Report",
    "ReportError",
    "Split",
    "Target",
    "UsageError",
    "Verdict",
    "__version__",
    "analyze",
    "checkpoint_steps",
    "compare_runs",
    "compute_entk",
    "compute_entk_result",
    "make_probe",
    "read_json",
    "register_model",
    "register_probe",
    "render",
    "to_json",
    "write_json",
]
