"""Probe files: a probe saved as safetensors (inputs, labels, indices, provenance), and read back."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import write_atomically
from ..errors import ProbeError, UsageError, warn
from .preprocess import Normalization
from .probe import Probe, Target, tensor_sha256

PROBE_FORMAT = "entk-probe-probe/1"


def save_probe(probe: Probe, path: Path) -> None:
    """Write ``probe`` as a safetensors file: tensors inputs, labels, indices; provenance in metadata."""
    labels = probe.labels if probe.labels is not None else torch.full((probe.n,), -1, dtype=torch.int64)
    metadata = {
        "format": PROBE_FORMAT,
        "spec": probe.spec,
        "dataset": probe.dataset,
        "split": json.dumps(probe.split),
        "seed": json.dumps(probe.seed),
        "classes": json.dumps(list(probe.classes)),
        "normalization": json.dumps({"mean": probe.normalization.mean, "std": probe.normalization.std,
                                     "source": probe.normalization.source}),
        "transforms": json.dumps(list(probe.transforms)),
        "source": probe.source,
        "synthetic": json.dumps(probe.synthetic),
        "sha256": probe.sha256,
    }
    tensors = {"inputs": probe.inputs.contiguous(), "labels": labels.contiguous(), "indices": probe.indices.contiguous()}
    write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_probe(path: Path, target: Target | None = None) -> Probe:
    """Read a probe file, check its sha256, and check it fits the model (no resizing: its inputs
    are what the model is fed)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except FileNotFoundError:
        raise UsageError(f"probe file {path} does not exist") from None
    except Exception as exc:
        raise ProbeError(f"{path}: not a readable safetensors probe file ({exc})") from None
    missing = {"inputs", "labels", "indices"} - set(tensors)
    if missing or meta.get("format") != PROBE_FORMAT:
        raise ProbeError(f"{path}: not an entk-probe probe file (needs tensors inputs, labels, indices and format {PROBE_FORMAT})")
    inputs = tensors["inputs"].float()
    digest = tensor_sha256(inputs)
    if digest != meta.get("sha256"):
        raise ProbeError(f"{path}: the inputs' sha256 {digest[:12]}... differs from the recorded {meta.get('sha256', '')[:12]}...; the file was modified or is corrupt")
    if target is not None and target.input_size is not None and tuple(inputs.shape[1:]) != tuple(target.input_size):
        raise ProbeError(
            f"{path}: inputs of shape {tuple(inputs.shape[1:])} but the model expects {tuple(target.input_size)}; "
            "export a probe for this model (entk-probe probe export ... --arch NAME)"
        )
    norm = json.loads(meta.get("normalization", "null")) or {}
    normalization = Normalization(
        tuple(norm["mean"]) if norm.get("mean") else None, tuple(norm["std"]) if norm.get("std") else None,
        f"{norm.get('source', 'unknown')}, recorded in {path.name}",
    )
    if target is not None and target.normalization.mean is not None and normalization.mean is not None and (
        tuple(target.normalization.mean) != normalization.mean or tuple(target.normalization.std or ()) != normalization.std
    ):
        warn(f"{path}: its inputs were normalised with {normalization.describe()}, the model states "
             f"{target.normalization.describe()}", code="probe-normalization")
    synthetic = json.loads(meta.get("synthetic", "false"))
    labels = tensors["labels"].long()
    return Probe(
        spec=f"file:{path}", dataset=meta.get("dataset", "unknown"), split=json.loads(meta.get("split", "null")),
        seed=json.loads(meta.get("seed", "null")), inputs=inputs, labels=None if synthetic else labels,
        indices=tensors["indices"].long(), classes=tuple(json.loads(meta.get("classes", "[]"))),
        normalization=normalization, source=f"{path} (exported from {meta.get('spec')}; {meta.get('source', '')})",
        synthetic=synthetic, transforms=tuple(json.loads(meta.get("transforms", "[]"))), sha256=digest,
    )
