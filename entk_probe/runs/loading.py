"""Reading a checkpoint through its format, and choosing the weights inside it.

Formats (``formats``) read files safely and say what they record; here: where a checkpoint
records its training position, architecture and arguments, which state dict to evaluate (as timm
does: ``state_dict``, ``model``, else the file is the state dict itself; with ``weights="ema"``:
``state_dict_ema``, ``model_ema``), and which wrapper prefixes to remove (``module.`` of
DataParallel, ``_orig_mod.`` of torch.compile, Lightning's ``model.``) where the model's own
names need it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import CheckpointError, UsageError
from .formats import FORMATS, CheckpointContent, format_of, is_state_dict

POSITION_KEYS = {"epoch": ("epoch",), "step": ("step", "global_step", "iteration")}
RAW_KEYS = ("state_dict", "model")
EMA_KEYS = ("state_dict_ema", "model_ema")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
LIGHTNING_PREFIX = "model."


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
    """(step, epoch) the checkpoint records: safetensors metadata or the torch dict's keys; epochs
    count epochs of training done (timm's finished-epoch index + 1, ``finished_epoch_index``);
    a Lightning checkpoint's time is its global_step alone."""
    source = content.records
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
    step, epoch = found["step"], found["epoch"]
    if epoch is not None and finished_epoch_index(content):
        epoch += 1  # timm's index of the epoch just finished: after epoch 0 is one epoch of training
    if "pytorch-lightning_version" in content.records and step is not None:
        epoch = None  # Lightning's epoch is the one in progress (equal for every checkpoint within it): steps tell time
    return (None if step is None else int(step)), epoch


def finished_epoch_index(content: CheckpointContent) -> bool:
    """Whether the file is timm's CheckpointSaver dict, whose integer ``epoch`` is the 0-based index
    of the epoch that just finished (``version`` 2, ``arch``, ``state_dict``); its time in epochs of
    training is that index + 1."""
    r = content.records
    return (content.format.name == "torch" and r.get("version") == 2 and isinstance(r.get("arch"), str)
            and isinstance(r.get("epoch"), int) and not isinstance(r.get("epoch"), bool))


def train_args(content: CheckpointContent) -> dict[str, Any]:
    """What the checkpoint records about how it was trained, as typed values ({} if nothing).

    Torch files: timm train.py's ``args`` (an argparse.Namespace or a dict). safetensors files:
    the metadata, each value read as JSON where it parses (``"10"``, ``"[3, 32, 32]"``).
    """
    if content.format.name == "safetensors":
        return dict(content.records)
    args = content.records.get("args")
    return dict(args) if isinstance(args, Mapping) else {}


def arch_hints(content: CheckpointContent) -> list[tuple[str, str]]:
    """Architecture names the file records, most specific first, as (name, where)."""
    hints = []
    model = train_args(content).get("model")
    if isinstance(model, str):
        hints.append((model, "args.model"))
    arch = content.records.get("arch")
    if isinstance(arch, str):
        hints.append((arch, content.format.record_label("arch")))
    return hints


def read_content(path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
    """Read a checkpoint file safely through its format. ``tensors=False`` reads only what it records where it can."""
    fmt = format_of(path)
    if fmt is None:
        raise CheckpointError(f"{path}: not a checkpoint format entk-probe reads ({', '.join(f.describe() for f in FORMATS)})")
    return fmt.read(path, trust=trust, tensors=tensors)


WEIGHTS = ("raw", "ema")


def check_weights(weights: str) -> str:
    """Validate the ``--weights`` choice."""
    if weights not in WEIGHTS:
        raise UsageError(f"--weights must be raw or ema, not {weights!r}")
    return weights


def select_state_dict(content: CheckpointContent, weights: str = "raw") -> tuple[dict[str, Tensor], str]:
    """The state dict to evaluate, and the key it came from (``"(file)"`` for a bare state dict)."""
    check_weights(weights)
    obj = content.content
    keys = EMA_KEYS if weights == "ema" else RAW_KEYS
    for key in keys:
        if is_state_dict(obj.get(key)):
            return dict(obj[key]), key
    if weights == "raw" and is_state_dict(obj):
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
