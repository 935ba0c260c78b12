"""Write entk-probe's closed JSON report schema from the code's registries.

The schema's enums and keys come from where the code defines them (verdicts, modes, paths, angle
statistics, metrics, thresholds, evidence keys); after a change to the report, run
``python scripts/make_schema.py`` and commit entk_probe/output/schema/report.schema.json.
tests/output/test_schema.py checks that the committed file is what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "entk_probe" / "output" / "schema" / "report.schema.json"
from dataclasses import fields
from entk_probe.analysis.summary import CheckpointMetrics
from entk_probe.analysis.phases import BOUNDARY_RULES, SLOPE_AXES, PhaseThresholds
from entk_probe.analysis.verdicts import VERDICTS
from entk_probe.analysis.dynamics import ANGLE_STATISTICS
from entk_probe.engine.modes import MODES
from entk_probe.engine.layerplan import PATHS
from entk_probe.output.jsonreport import SCHEMA_VERSION
from entk_probe.output.switchreport import SWITCH_SCHEMA_VERSION
from entk_probe.output.comparison import COMPARE_SCHEMA_VERSION
from entk_probe.pipeline.training import KINDS
from entk_probe.runs.traininglog import COLUMNS as LOG_COLUMNS

S = {"type": "string"}
I = {"type": "integer"}
N = {"type": "number"}
B = {"type": "boolean"}
def null(t): return {"type": [t["type"], "null"]} if "type" in t and isinstance(t["type"], str) else {"anyOf": [t, {"type": "null"}]}
NN = {"type": ["number", "null"]}  # non-finite numbers are written as null
def arr(items, **kw): return {"type": "array", "items": items, **kw}
def obj(props, optional=(), extra=False, nullable=False):
    o = {"type": ["object", "null"] if nullable else "object",
         "required": [k for k in props if k not in optional], "properties": props, "additionalProperties": extra}
    return o
def enum(values): return {"enum": list(values)}

SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
hyperparameters = obj({"values": {"type": "object", "additionalProperties": SCALAR}, "source": null(S)})
layer = obj({"layer": S, "kind": S, "params": arr(S), "num_params": I, "path": enum(["structured", "per-sample", "jacobian"]),
             "flops": N, "working_bytes": I, "capture_bytes": I, "block": I, "out_slab": I, "reason": S,
             "keeps": enum(["activations", "gradients"])})
plan = obj({"layers": arr(layer), "capture_passes": I, "jacobian_groups": I, "budget_bytes": I, "flops": N}, nullable=True)
metric_types = {"top_eigenvalues": arr(NN), "subspace_to_next": obj({k: NN for k in ANGLE_STATISTICS}, optional=ANGLE_STATISTICS)}
metrics = obj({f.name: metric_types.get(f.name, NN) for f in fields(CheckpointMetrics) if f.name not in ("time", "phase")},
              nullable=True)  # null for a checkpoint left out (excluded)
checkpoint = obj({
    "path": S, "name": S, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "step": null(I), "epoch": NN, "time": NN,
    "phase": enum(["I", "II", None]), "aliases": arr(S), "ordered_by": enum(["metadata", "file name"]),
    "weights": obj({"choice": enum(["raw", "ema"]), "key": S}), "unpickled": B, "kernel_cached": B, "kernel_seconds": NN,
    "excluded": null(S), "metrics": metrics,
    "training_log": {"type": ["object", "null"], "additionalProperties": N, "propertyNames": enum(LOG_COLUMNS)},
    "rebuilt": B,
}, optional=("excluded", "training_log", "rebuilt"))
from entk_probe.analysis.phases import EVIDENCE_KEYS as EVIDENCE
from entk_probe.analysis.confidence import BOUNDARY, EVERY_OTHER, BoundarySpread, Confidence, Margin, Subset
thresholds = obj({f.name: (I if f.type in ("int", int) else N) for f in fields(PhaseThresholds)})
verdict = enum(v.id for v in VERDICTS)
def fields_of(cls, types, **kw):  # a dataclass's fields, every one typed here (a new field without a type is an error)
    return obj({f.name: types[f.name] for f in fields(cls)}, **kw)
threshold_name = enum([f.name for f in fields(PhaseThresholds)])
confidence = fields_of(Confidence, {
    "point_verdict": verdict, "draws": I, "draws_asked": I, "draws_reduced": null(S), "seed": I, "method": S,
    "verdict_share": NN, "verdict_counts": {"type": "object", "additionalProperties": I, "propertyNames": verdict},
    "boundary": fields_of(BoundarySpread, {k: NN for k in ("p5", "p50", "p95", "placed_share", "same_share")}),
    "every_other": arr(fields_of(Subset, {"checkpoints": enum(EVERY_OTHER), "count": I, "verdict": verdict,
                                          "boundary_time": NN})),
    "margins": arr(fields_of(Margin, {"quantity": S, "value": NN, "threshold": threshold_name, "threshold_value": NN,
                                      "relative_margin": NN})),
    "uncertain": B, "between": {"type": ["array", "null"], "items": verdict, "minItems": 2, "maxItems": 2},
    "threshold": enum([*threshold_name["enum"], BOUNDARY, None]), "summary": S,
}, nullable=True)  # null: --resamples 0
matrix = arr(arr(NN, minItems=1), minItems=1)  # T x T, T >= 1 checkpoints
schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://entk-probe/schema/report/{SCHEMA_VERSION}",
    "title": "entk-probe report",
    "description": "The JSON report of `entk-probe analyze` (schema_version 1.x). Every object is closed: a key not declared here is an error. Non-finite numbers are null.",
    **obj({
        "schema_version": {"type": "string", "pattern": "^1\\.[0-9]+$"},
        "tool": obj({"name": {"const": "entk-probe"}, "version": S}),
        "created": S,
        "run": obj({"path": S, "first_is_initialisation": null(B), "hyperparameters": hyperparameters},
                   optional=("first_is_initialisation", "hyperparameters")),
        "model": obj({"arch": S, "source": S, "origin": S, "num_params": I, "kwargs": {"type": "object", "additionalProperties": SCALAR},
                      "settings_from": {"type": "object", "additionalProperties": S}, "input_size": null(arr(I)), "has_batchnorm": B,
                      "total_params": I}, optional=("total_params",)),
        "probe": obj({"spec": S, "n": I, "dataset": S, "split": null(S), "seed": null(I), "indices": arr(I), "labels": null(arr(I)),
                      "classes": arr(S), "sha256": S, "synthetic": B,
                      "normalization": obj({"mean": null(arr(N)), "std": null(arr(N)), "source": S}),
                      "transforms": arr(S), "source": S, "input_shape": arr(I),
                      "text": obj({"keys": arr(S), "max_length": I, "tokenizer": S, "prompt": null(S)}, nullable=True)},
                     optional=("text",)),
        "kernel": obj({"mode": enum(MODES), "jacobian_dtype": enum(["float32", "float64"]), "gram_dtype": enum(["float32", "float64"]),
                       "device": S, "params": null(S), "param_names": arr(S), "num_params": I, "num_classes": I,
                       "paths": enum(PATHS), "plan": plan, "scope": S}, optional=("gram_dtype", "paths", "plan", "scope")),
        "time_unit": enum(["epoch", "step", "index"]),
        "checkpoints": arr(checkpoint, minItems=1),
        "pairwise": obj({"distance": matrix, "distance_centered": matrix, "angle_deg": matrix, "angle_centered_deg": matrix}),
        "phases": obj({"verdict": verdict,
                       "boundary": obj({"index": I, "step": null(I), "epoch": NN, "time": NN, "checkpoint": S,
                                        "rule": enum(BOUNDARY_RULES)}, nullable=True, optional=("rule",)),
                       "thresholds": thresholds, "evidence": obj({k: NN for k in EVIDENCE}, optional=EVIDENCE[2:]),
                       "explanation": S, "kernels": enum(["centered", "uncentered"]), "confidence": confidence,
                       "slopes_against": enum(SLOPE_AXES),
                       "learning_rates": obj({"source": S, "values": arr(NN)}, nullable=True)},
                      optional=("confidence", "slopes_against", "learning_rates")),
        "cone": obj({"k": I, "statistic": enum(ANGLE_STATISTICS), "width_deg": NN, "per_checkpoint_deg": arr(NN),
                     "statistics_deg": obj({k: arr(NN) for k in ANGLE_STATISTICS}), "frobenius_half_angle_deg": NN,
                     "init_to_axis_deg": NN, "reference": S}, optional=("init_to_axis_deg",), nullable=True),
        "buffer_motion": obj({"share_per_step": arr(NN), "steps": arr(arr(I, minItems=2, maxItems=2))},
                             optional=("steps",), nullable=True),
        "warnings": arr(obj({"code": S, "message": S, "checkpoint": S}, optional=("checkpoint",))),
        "environment": obj({"python": S, "platform": S, "torch": S, "timm": S, "numpy": S, "safetensors": S, "device": S,
                            "device_name": S, "plugins": arr(S), "argv": arr(S)}),
        "timings": obj({"total_seconds": NN, "kernel_seconds": NN}),
        "estimate": obj({"kernels_to_compute": I, "kernels_cached": I, "seconds": NN, "seconds_per_kernel": NN,
                         "flops_per_kernel": NN, "gemm_rate": NN, "kernel_bytes": I, "held_bytes": I, "budget_bytes": I,
                         "working_bytes": null(I), "device_peak_bytes": I, "device_free_bytes": I, "host_peak_bytes": I,
                         "host_free_bytes": I}, nullable=True),
        "kernel_regression": obj({"rule": S, "ridges": arr(N)}),
    }, optional=("estimate", "kernel_regression")),
}

data = obj({"spec": S, "n": I, "sha256": S, "dataset": S, "split": null(S)})
result = obj({"at_epoch": NN, "checkpoint": S, "kind": enum(KINDS), "accuracy": NN, "loss": NN, "seconds": NN})
switch_schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://entk-probe/schema/switch/{SWITCH_SCHEMA_VERSION}",
    "title": "entk-probe switch report",
    "description": "The JSON report of `entk-probe switch`. Every object is closed. Non-finite numbers are null.",
    **obj({
        "kind": {"const": "switch"}, "schema_version": {"type": "string", "pattern": "^1\\.[0-9]+$"},
        "tool": obj({"name": {"const": "entk-probe"}, "version": S}), "created": S, "run": obj({"path": S}),
        "time_unit": enum(["epoch", "step", "index"]),
        "switch": obj({
            "epochs": N, "boundary": obj({"index": I, "time": NN}, nullable=True), "batchnorm": S, "seed": I, "device": S,
            "optimiser": obj({"name": {"const": "sgd"}, "lr": N, "momentum": N, "weight_decay": N, "batch_size": I,
                              "from": {"type": "object", "additionalProperties": S}}),
            "train": data, "eval": data, "results": arr(result),
        }),
    }),
}
SWITCH_OUT = OUT.with_name("switch.schema.json")

pair = obj({"boundary": NN, "end": NN})
compared = obj({
    "label": S, "source": S, "report_schema_version": S, "hyperparameters": {"type": "object", "additionalProperties": SCALAR},
    "hyperparameters_source": null(S), "by_value": SCALAR, "arch": null(S), "probe": null(S), "mode": null(S),
    "time_unit": {"type": ["string", "null"]},
    "verdict": null(S), "point_verdict": null(S), "confidence": NN, "uncertain": null(B),
    "boundary": obj({"checkpoint": null(S), "time": NN, "rule": {"type": ["string", "null"]}}, nullable=True),
    "phase1_travel_deg": NN, "half_angle_deg": NN, "axis_angle_deg": NN, "drift_ratio": NN,
    "kernel_regression": pair, "accuracy": pair,
    "switch_gap": obj({"at": N, "checkpoint": S, "standard": NN, "linearized": NN, "gap": NN}, nullable=True),
    "switch_source": null(S),
    "curves": obj({"checkpoints": arr(S), "time": arr(NN), "angle_from_first_deg": arr(NN), "velocity_deg": arr(NN)}),
})
compare_schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://entk-probe/schema/compare/{COMPARE_SCHEMA_VERSION}",
    "title": "entk-probe compare report",
    "description": "The JSON report of `entk-probe compare`: one entry a run (docs/definitions.md). Every object is "
                   "closed. Non-finite numbers are null.",
    **obj({
        "kind": {"const": "compare"}, "schema_version": {"type": "string", "pattern": "^1\\.[0-9]+$"},
        "tool": obj({"name": {"const": "entk-probe"}, "version": S}), "created": S, "by": null(S), "runs": arr(compared),
    }),
}
COMPARE_OUT = OUT.with_name("compare.schema.json")


def text(which: dict = schema) -> str:
    """A schema file's text."""
    return json.dumps(which, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(text())
    SWITCH_OUT.write_text(text(switch_schema))
    COMPARE_OUT.write_text(text(compare_schema))
    print("wrote", OUT, SWITCH_OUT, "and", COMPARE_OUT)
