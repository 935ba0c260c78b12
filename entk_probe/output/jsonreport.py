"""The JSON report: a versioned, self-describing record of an analysis, for other tools.

docs/definitions.md ("JSON keys") defines every key; ``schema/report.schema.json`` (shipped in the
package) is its JSON Schema. Non-finite numbers are written as null, never as NaN. A breaking
change of the keys other tools rely on raises ``SCHEMA_VERSION``'s major number.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..atomic import write_atomically
from ..analysis.phases import SLOPE_AXES
from ..analysis.regression import RIDGES
from ..analysis.regression import RULE as REGRESSION_RULE
from ..pipeline.job import Analysis
from ..runs.hyperparameters import recorded_hyperparameters
from ..runs.traininglog import entry_for
from ..engine.kernel import products_dtype
from ..engine.planning import EntkPlan
from ..errors import ReportError, UsageError
from .notebook import Report


SCHEMA_VERSION = "1.7"  # 1.7: run.hyperparameters; 1.6: probe.text (token probes), model.total_params, kernel.scope; 1.1: kernel.gram_dtype, kernel.paths, kernel.plan; 1.2: checkpoints[].excluded; 1.3: estimate, run.first_is_initialisation, checkpoints[].training_log, checkpoints[].rebuilt, kernel_regression, cone.init_to_axis_deg; 1.4: phases.boundary.rule, evidence corner_boundary_time, speed_fall_ratio, phase2_half_angle_deg, init_to_axis_deg, thresholds speed_fall_ratio and cone_max_half_angle_fraction (cone_max_diameter_fraction removed); 1.5: phases.confidence, verdict uncertain, boundary rule plateau (speed removed: thresholds plateau_fraction and plateau_tolerance replace speed_fall_ratio; evidence plateau_boundary_time, plateau_level_deg, plateau_below_share replace speed_*), phases.slopes_against and phases.learning_rates


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (also inside lists, dicts, arrays) replaced by None."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    if isinstance(value, torch.Tensor):
        return finite(value.tolist())
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _environment(analysis: Analysis) -> dict[str, Any]:
    import safetensors
    import timm

    device = analysis.device
    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else platform.processor() or platform.machine()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "device": device,
        "device_name": name,
        "plugins": [str(p) for p in analysis.options.plugins] + [p for p in os.environ.get("ENTK_PROBE_PLUGINS", "").split(os.pathsep) if p],
        "argv": sys.argv,
    }


def _checkpoint(analysis: Analysis, i: int, rows: dict[int, Any]) -> dict[str, Any]:
    run, row = analysis.runs[i], rows.get(i)
    c = run.checkpoint
    metrics = None if row is None else {f.name: getattr(row, f.name) for f in dataclasses.fields(row)
                                        if f.name not in ("time", "phase")}
    return {
        "path": str(c.path), "name": c.name, "sha256": c.sha256, "step": c.step, "epoch": c.epoch, "time": run.time,
        "phase": (row.phase or None) if row is not None else None, "aliases": list(c.aliases), "ordered_by": c.ordered_by,
        "weights": {"choice": analysis.options.weights, "key": run.state_dict_key},
        "unpickled": c.unpickled, "kernel_cached": run.cached, "kernel_seconds": run.kernel_seconds,
        "excluded": run.excluded, "metrics": metrics,
        "training_log": entry_for(analysis.training_log, c.epoch), "rebuilt": c.rebuilt,
    }


def _spread(values: Any, included: list[int], count: int) -> Any:
    """Per-included-checkpoint values (a list, or a square matrix) at their positions among all ``count``; NaN elsewhere."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 2:
        full = np.full((count, count), np.nan)
        full[np.ix_(included, included)] = array
        return full
    full = np.full(count, np.nan)
    full[included] = array
    return full


def _plan(plan: EntkPlan | None) -> dict[str, Any] | None:
    """Which path every layer took, or None when every kernel came from the cache."""
    if plan is None:
        return None
    return {"layers": [layer.as_dict() for layer in plan.layers], "capture_passes": len(plan.capture_groups),
            "jacobian_groups": len(plan.groups), "budget_bytes": plan.budget,
            "flops": sum(layer.flops for layer in plan.layers)}


def _starts_at_init(analysis: Analysis) -> bool | None:
    """Whether the first checkpoint is the initialisation (time 0); None when no time is recorded."""
    return None if analysis.time_unit == "index" else analysis.runs[0].time == 0


def _hyperparameters(analysis: Analysis) -> dict[str, Any]:
    """The training arguments the run records (``runs.hyperparameters``), for ``compare --by``."""
    first = next((r.checkpoint for r in analysis.runs if not r.checkpoint.rebuilt), None)
    values, source = recorded_hyperparameters(analysis.run_dir, first)
    return {"values": values, "source": source}


def _phases(analysis: Analysis) -> dict[str, Any]:
    """The report's ``phases``: verdict, boundary, thresholds, evidence, confidence, time axis."""
    summary, included, count = analysis.summary, analysis.included, len(analysis.runs)
    phases, rates = summary.phases, analysis.learning_rates
    boundary = None
    if phases.boundary is not None:
        b = included[phases.boundary]
        c = analysis.runs[b].checkpoint
        boundary = {"index": b, "step": c.step, "epoch": c.epoch, "time": analysis.runs[b].time, "checkpoint": c.name,
                    "rule": phases.boundary_rule}
    return {"verdict": phases.verdict, "boundary": boundary, "thresholds": phases.thresholds.as_dict(),
            "evidence": phases.evidence, "explanation": phases.explanation, "kernels": summary.drives_verdict,
            "confidence": None if summary.confidence is None else summary.confidence.as_dict(),
            "slopes_against": SLOPE_AXES[0] if rates is None else SLOPE_AXES[1],
            "learning_rates": None if rates is None else {"source": rates.source,
                                                          "values": _spread(rates.values, included, count)}}


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The report as a JSON-ready dict (schema_version ``SCHEMA_VERSION``)."""
    spec, probe, summary, opts = analysis.model, analysis.probe, analysis.summary, analysis.options
    cone = summary.cone
    included, count = analysis.included, len(analysis.runs)
    rows = dict(zip(included, summary.checkpoints))
    report = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "entk-probe", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run": {"path": str(analysis.run_dir), "first_is_initialisation": _starts_at_init(analysis),
                "hyperparameters": _hyperparameters(analysis)},
        "model": {"arch": spec.arch, "source": spec.arch_source, "origin": spec.origin, "num_params": analysis.num_params,
                  "kwargs": {k: repr(v) if not isinstance(v, (int, float, str, bool, type(None))) else v for k, v in spec.kwargs.items()},
                  "settings_from": spec.sources, "input_size": list(spec.input_size) if spec.input_size else None,
                  "has_batchnorm": analysis.has_batchnorm, "total_params": analysis.model_params},
        "probe": {"spec": probe.spec, "n": probe.n, "dataset": probe.dataset, "split": probe.split, "seed": probe.seed,
                  "indices": probe.indices.tolist(), "labels": probe.labels.tolist() if probe.labels is not None else None,
                  "classes": list(probe.classes), "sha256": probe.sha256, "synthetic": probe.synthetic,
                  "normalization": {"mean": probe.normalization.mean, "std": probe.normalization.std,
                                    "source": probe.normalization.source},
                  "transforms": list(probe.transforms), "source": probe.source, "input_shape": list(probe.inputs.shape[1:]),
                  "text": {"keys": list(probe.input_keys), "max_length": int(probe.max_length or probe.inputs.shape[-1]),
                           "tokenizer": probe.tokenizer, "prompt": spec.text.prompt if spec.text else None}
                  if probe.is_text else None},
        "kernel": {"mode": opts.mode, "jacobian_dtype": str(opts.jacobian_dtype).removeprefix("torch."),
                   "gram_dtype": str(products_dtype(opts.jacobian_dtype, opts.gram_dtype)).removeprefix("torch."),
                   "device": analysis.device, "params": opts.params, "param_names": list(analysis.param_names),
                   "num_params": analysis.num_params, "num_classes": analysis.num_classes,
                   "paths": opts.paths, "plan": _plan(analysis.plan), "scope": analysis.kernel_scope},
        "time_unit": analysis.time_unit,
        "checkpoints": [_checkpoint(analysis, i, rows) for i in range(count)],
        "pairwise": {key: _spread(matrix, included, count) for key, matrix in (
            ("distance", summary.distance), ("distance_centered", summary.centered_distance),
            ("angle_deg", summary.angle), ("angle_centered_deg", summary.centered_angle))},
        "phases": _phases(analysis),
        "cone": None if cone is None else {
            "k": cone.k, "statistic": cone.statistic, "width_deg": cone.width_deg,
            "per_checkpoint_deg": _spread(cone.per_checkpoint_deg, included, count),
            "statistics_deg": {k: _spread(v, included, count) for k, v in cone.all_statistics.items()},
            "frobenius_half_angle_deg": cone.frobenius_half_angle_deg, "init_to_axis_deg": cone.init_to_axis_deg,
            "reference": "top-k eigenspace of the Phase II mean kernel",
        },
        "buffer_motion": None if analysis.buffer_share is None else {
            "share_per_step": analysis.buffer_share, "steps": [list(pair) for pair in zip(included, included[1:])]},
        "warnings": analysis.warnings,
        "environment": _environment(analysis),
        "timings": {"total_seconds": analysis.seconds,
                    "kernel_seconds": sum(r.kernel_seconds for r in analysis.runs)},
        "estimate": None if analysis.estimate is None else analysis.estimate.as_dict(),
        "kernel_regression": {"rule": REGRESSION_RULE, "ridges": list(RIDGES)},
    }
    return finite(report)


def dumps(report: dict[str, Any]) -> str:
    """Serialise a report; NaN or infinity anywhere is an error, never written."""
    return json.dumps(report, indent=1, allow_nan=False)


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write ``report`` to ``path`` atomically (a temporary file renamed into place)."""
    text = dumps(report) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))


def schema() -> dict[str, Any]:
    """The report's JSON Schema, as shipped in the package."""
    return json.loads(resources.files("entk_probe.output").joinpath("schema/report.schema.json").read_text())


def read_json(path: Path) -> Report:
    """Read a saved report (or a switch report) as a ``Report``: its dict, which a notebook displays as the
    HTML report and which ``plot()`` draws; a clear error when it is missing, not JSON, or of another major version."""
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"report {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(report, dict) or "schema_version" not in report:
        raise ReportError(f"{path}: not an entk-probe report (no schema_version); give a file that analyze, switch or "
                          "compare wrote with --json")
    version = str(report.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ReportError(f"{path}: schema_version {version or 'missing'}; this entk-probe reads {SCHEMA_VERSION.split('.')[0]}.x")
    return Report(report)
