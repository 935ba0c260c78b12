"""Safe reading of checkpoint files, and choosing the weights inside them.

safetensors files are read with the safetensors library. Torch files (``.pt``, ``.pth``,
``.pth.tar``, ``.bin``, Lightning ``.ckpt``) are read with ``torch.load(weights_only=True)``,
which refuses any Python object but tensors, containers and primitives; ``argparse.Namespace``
is admitted because timm's train.py stores its arguments so. Nothing ever falls back to full
unpickling: only ``trust=True`` (``--trust-checkpoints``) does that, with a warning.

The state dict is chosen as timm does (``state_dict``, ``model``, else the file is the state dict
itself; with ``weights="ema"``: ``state_dict_ema``, ``model_ema``), and wrapper prefixes
(``module.`` of DataParallel, ``_orig_mod.`` of torch.compile, Lightning's ``model.``) are removed
where the model's own names need it.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import Tensor

from ..errors import CheckpointError, UsageError, warn

POSITION_KEYS = {"epoch": ("epoch",), "step": ("step", "global_step", "iteration")}
RAW_KEYS = ("state_dict", "model")
EMA_KEYS = ("state_dict_ema", "model_ema")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
LIGHTNING_PREFIX = "model."
SAFE_GLOBALS = [argparse.Namespace]


@dataclass(frozen=True)
class CheckpointContent:
    """What a checkpoint file holds: its top-level object and its safetensors metadata."""

    path: Path
    content: dict[str, Any]  # for safetensors: the tensors
    metadata: dict[str, str]  # safetensors metadata ({} for torch files)
    is_safetensors: bool
    unpickled: bool  # read with full unpickling (trust=True)


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


def _refusal(exc: Exception) -> str:
    """The line of torch's weights-only error that names what it refused."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "Unsupported global" in line or "GLOBAL" in line]
    return (named or lines or [type(exc).__name__])[0][:300]


def read_content(path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
    """Read a checkpoint file safely. ``tensors=False`` reads only the metadata where it can.

    Torch files are memory-mapped where their format allows, so reading one for its metadata
    does not read its weights from disk.
    """
    if path.name.endswith(".safetensors"):
        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = dict(fh.metadata() or {})
            content = load_file(str(path), device="cpu") if tensors else {}
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
        return CheckpointContent(path, content, metadata, True, False)
    return CheckpointContent(path, _torch_load(path, trust), {}, False, trust)


def _torch_load(path: Path, trust: bool) -> dict[str, Any]:
    if trust:
        warn(
            f"{path}: loaded with full unpickling (--trust-checkpoints): the file could have run "
            "arbitrary code; this is recorded in the report",
            code="unpickled",
            checkpoint=path.name,
        )
        obj = torch.load(path, map_location="cpu", weights_only=False)
    else:
        try:
            with torch.serialization.safe_globals(SAFE_GLOBALS):
                try:
                    obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as exc:
                    if "mmap" not in str(exc):  # old (non-zip) torch.save format cannot be mapped
                        raise
                    obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise CheckpointError(
                f"{path}: holds Python objects that safe loading refuses ({_refusal(exc)}); if you "
                "trust this file, pass --trust-checkpoints to unpickle it fully"
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable torch checkpoint ({_refusal(exc)})") from None
    if _is_state_dict(obj):
        return dict(obj)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of weights")
    return dict(obj)


def _number(value: object) -> float | None:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def training_position(content: CheckpointContent) -> tuple[int | None, float | None]:
    """(step, epoch) the checkpoint records: safetensors metadata or the torch dict's keys."""
    source: Mapping[str, object] = content.metadata if content.is_safetensors else content.content
    found: dict[str, float | None] = {}
    for kind, keys in POSITION_KEYS.items():
        found[kind] = None
        for key in keys:
            if key in source:
                value = _number(source[key])
                if value is None:
                    raise CheckpointError(f"{content.path}: {key}={source[key]!r} is not a number")
                found[kind] = value
                break
    step = found["step"]
    return (None if step is None else int(step)), found["epoch"]


def train_args(content: CheckpointContent) -> dict[str, Any]:
    """What the checkpoint records about how it was trained, as typed values ({} if nothing).

    Torch files: timm train.py's ``args`` (an argparse.Namespace or a dict). safetensors files:
    the metadata, each value read as JSON where it parses (``"10"``, ``"[3, 32, 32]"``).
    """
    if content.is_safetensors:
        return {key: _json_or_text(value) for key, value in content.metadata.items()}
    args = content.content.get("args")
    if isinstance(args, argparse.Namespace):
        return dict(vars(args))
    return dict(args) if isinstance(args, Mapping) else {}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def arch_hints(content: CheckpointContent) -> list[tuple[str, str]]:
    """Architecture names the file records, most specific first, as (name, where)."""
    hints = []
    model = train_args(content).get("model")
    if isinstance(model, str):
        hints.append((model, "args.model"))
    source = content.metadata if content.is_safetensors else content.content
    arch = source.get("arch")
    if isinstance(arch, str):
        hints.append((arch, "metadata arch" if content.is_safetensors else "arch"))
    return hints


def select_state_dict(content: CheckpointContent, weights: str = "raw") -> tuple[dict[str, Tensor], str]:
    """The state dict to evaluate, and the key it came from (``"(file)"`` for a bare state dict)."""
    if weights not in ("raw", "ema"):
        raise UsageError(f"--weights must be raw or ema, not {weights!r}")
    obj = content.content
    keys = EMA_KEYS if weights == "ema" else RAW_KEYS
    for key in keys:
        if _is_state_dict(obj.get(key)):
            return dict(obj[key]), key
    if weights == "raw" and _is_state_dict(obj):
        return dict(obj), "(file)"
    if weights == "ema":
        raise CheckpointError(
            f"{content.path}: holds no EMA weights (none of {', '.join(EMA_KEYS)}); use --weights raw"
        )
    raise CheckpointError(
        f"{content.path}: found no state dict (looked for {', '.join(RAW_KEYS)} and for a bare dict "
        f"of tensors; top-level keys: {', '.join(map(str, list(obj)[:8]))})"
    )


def strip_prefixes(
    state: Mapping[str, Tensor], expected: Collection[str]
) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """Remove wrapper prefixes so that ``state``'s names match the model's ``expected`` names.

    Returns (state dict, prefixes removed, names dropped). ``module.`` and ``_orig_mod.`` are
    removed when every name carries them; Lightning's ``model.`` when that makes the names fit,
    keeping only the entries under it (the others, such as a loss module's buffers, are returned
    as dropped so that the caller can say so).
    """
    expected = set(expected)
    out = dict(state)
    removed: list[str] = []
    changed = True
    while changed and set(out) != expected:
        changed = False
        for prefix in WRAPPER_PREFIXES + (LIGHTNING_PREFIX,):
            if out and all(k.startswith(prefix) for k in out) and not all(k.startswith(prefix) for k in expected):
                out = {k[len(prefix):]: v for k, v in out.items()}
                removed.append(prefix)
                changed = True
    dropped: list[str] = []
    if set(out) != expected:
        inner = {k[len(LIGHTNING_PREFIX):]: v for k, v in out.items() if k.startswith(LIGHTNING_PREFIX)}
        if inner and set(inner) == expected:
            dropped = sorted(k for k in out if not k.startswith(LIGHTNING_PREFIX))
            out = inner
            removed.append(LIGHTNING_PREFIX)
    return out, removed, dropped
