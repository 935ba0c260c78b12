"""Probe files: a probe saved as safetensors (inputs, labels, indices, provenance), and read back.

Image probes are written as format ``entk-probe-probe/1``: ``inputs`` (N, C, H, W) float32.
Text probes as ``entk-probe-probe/2``: ``inputs`` the packed tokens (N, K, L) int64 (probes.tokens)
and the metadata ``input_keys``, ``tokenizer`` (its sha256) and ``max_length``, so that a reader
of /1 alone refuses them rather than reading tokens as pixels. Both formats are read.
"""

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
from .tokenization import tokenizer_sha256
from .tokens import REQUIRED_KEYS, TOKEN_KEYS

PROBE_FORMAT = "entk-probe-probe/1"
TEXT_PROBE_FORMAT = "entk-probe-probe/2"
READABLE_FORMATS = (PROBE_FORMAT, TEXT_PROBE_FORMAT)


def save_probe(probe: Probe, path: Path) -> None:
    """Write ``probe`` as a safetensors file: tensors inputs, labels, indices; provenance in metadata."""
    labels = probe.labels if probe.labels is not None else torch.full((probe.n,), -1, dtype=torch.int64)
    metadata = {
        "format": TEXT_PROBE_FORMAT if probe.is_text else PROBE_FORMAT,
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
    if probe.is_text:
        metadata.update(input_keys=json.dumps(list(probe.input_keys)), tokenizer=probe.tokenizer,
                        max_length=json.dumps(probe.max_length))
    tensors = {"inputs": probe.inputs.contiguous(), "labels": labels.contiguous(), "indices": probe.indices.contiguous()}
    write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except FileNotFoundError:
        raise UsageError(f"probe file {path} does not exist") from None
    except Exception as exc:
        raise ProbeError(f"{path}: not a readable safetensors probe file ({exc})") from None
    missing = {"inputs", "labels", "indices"} - set(tensors)
    if missing or meta.get("format") not in READABLE_FORMATS:
        raise ProbeError(f"{path}: not an entk-probe probe file (needs tensors inputs, labels, indices and format "
                         f"{' or '.join(READABLE_FORMATS)})")
    return meta, tensors


def _text_keys(path: Path, meta: dict[str, str], inputs: torch.Tensor) -> tuple[str, ...]:
    """The keys of a text probe file's packed inputs (N, K, L), checked; () for an image probe file."""
    if meta.get("format") != TEXT_PROBE_FORMAT:
        return ()
    try:
        keys = tuple(json.loads(meta.get("input_keys", "[]")))
    except json.JSONDecodeError:
        keys = ()
    ordered = tuple(k for k in TOKEN_KEYS if k in keys)
    if keys != ordered or not set(REQUIRED_KEYS) <= set(keys) or inputs.dtype != torch.int64 or inputs.ndim != 3 \
            or inputs.shape[1] != len(keys):
        raise ProbeError(f"{path}: a text probe file must hold int64 inputs (N, K, L) and K input_keys from "
                         f"{', '.join(TOKEN_KEYS)} in that order (it holds {inputs.dtype} {tuple(inputs.shape)}, "
                         f"keys {list(keys)}); the file is corrupt")
    return keys


def _check_text_fit(path: Path, meta: dict[str, str], length: int, target: Target | None) -> None:
    """A text probe file against the model: a language model, the same tokenizer, enough positions."""
    if target is None:
        return
    text = target.text
    if text is None:
        raise ProbeError(f"{path}: a text probe (tokens) but the model takes images: export an image probe for it "
                         "(entk-probe probe export cifar10:500 --arch NAME)")
    if text.model_max_length is not None and length > text.model_max_length:
        raise ProbeError(f"{path}: texts of {length} tokens but the model has {text.model_max_length} positions: "
                         "export the probe with --max-length")
    if text.max_length is not None and text.max_length != length:
        warn(f"{path}: its texts are padded to {length} tokens; --max-length {text.max_length} applies when a probe "
             "is built, not to a probe file", code="probe-max-length")
    if text.tokenizer_dir is None:
        warn(f"{path}: {text.source} names no tokenizer, so the probe's tokenizer ({meta.get('tokenizer', '')[:12]}) "
             "is not checked against the model's; pass --tokenizer DIR", code="probe-tokenizer-unchecked")
        return
    if not Path(text.tokenizer_dir).is_dir():
        raise UsageError(f"tokenizer folder {text.tokenizer_dir} does not exist ({text.source}); pass --tokenizer DIR")
    theirs, ours = meta.get("tokenizer", ""), tokenizer_sha256(Path(text.tokenizer_dir))
    if theirs != ours:
        raise ProbeError(f"{path}: tokenised by tokenizer {theirs[:12] or '(none recorded)'} but the run's tokenizer "
                         f"({text.tokenizer_dir}) is {ours[:12]}: export the probe with the run's tokenizer "
                         f"(entk-probe probe export SPEC --tokenizer {text.tokenizer_dir})")


def _check_image_fit(path: Path, inputs: torch.Tensor, target: Target | None) -> None:
    """An image probe file against the model: not a language model, the input size it expects."""
    if target is not None and target.text is not None:
        raise ProbeError(f"{path}: an image probe but the model is a language model: export a text probe "
                         "(sst2, glue:TASK or textfile:PATH) with the run's tokenizer")
    if target is not None and target.input_size is not None and tuple(inputs.shape[1:]) != tuple(target.input_size):
        raise ProbeError(
            f"{path}: inputs of shape {tuple(inputs.shape[1:])} but the model expects {tuple(target.input_size)}; "
            "export a probe for this model (entk-probe probe export ... --arch NAME)"
        )


def load_probe(path: Path, target: Target | None = None) -> Probe:
    """Read a probe file, check its sha256, and check it fits the model (no resizing: its inputs
    are what the model is fed). A text probe file needs a language model with the same tokenizer
    (sha256 of its files); image and text probe files are refused for the other kind of model."""
    meta, tensors = _read(path)
    keys = _text_keys(path, meta, tensors["inputs"])
    inputs = tensors["inputs"] if keys else tensors["inputs"].float()  # tokens stay int64
    digest = tensor_sha256(inputs)
    if digest != meta.get("sha256"):
        raise ProbeError(f"{path}: the inputs' sha256 {digest[:12]}... differs from the recorded {meta.get('sha256', '')[:12]}...; the file was modified or is corrupt")
    if keys:
        _check_text_fit(path, meta, int(inputs.shape[2]), target)
    else:
        _check_image_fit(path, inputs, target)
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
        input_keys=keys, tokenizer=meta.get("tokenizer", "") if keys else "",
        max_length=int(inputs.shape[2]) if keys else None,
    )
