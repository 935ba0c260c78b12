"""Reading a checkpoint through its format, and choosing the weights inside it.

Formats (``formats``) read files safely and say what they record; here: where a checkpoint
records its training position, architecture and arguments, which state dict to evaluate (as timm
does: ``state_dict``, ``model``, else the file is the state dict itself; with ``weights="ema"``:
``state_dict_ema``, ``model_ema``, else the entries under an EMA-named attribute such as
``ema_model.``), and under which prefix the model's own names are (``fit_prefix``).

The prefix: a LightningModule's state_dict holds its network under the attribute the module gave
it (``model.``, ``net.``, ``model.backbone.``), beside a loss module's buffers, metrics or a second
network; DataParallel adds ``module.`` and torch.compile ``_orig_mod.``. The prefix taken is the
one under which the names (and shapes, where the model's are given) are exactly the model's; the
entries outside it are left out. Where several fit, an EMA copy (an attribute named ``ema``,
``ema_model``, ``model_ema``...) gives way to the other network; two others are an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import CheckpointError, ModelError, UsageError
from .formats import FORMATS, CheckpointContent, format_of, is_state_dict
from .lightninghparams import RunArgs, checkpoint_hparams

POSITION_KEYS = {"epoch": ("epoch",), "step": ("step", "global_step", "iteration")}
RAW_KEYS = ("state_dict", "model")
EMA_KEYS = ("state_dict_ema", "model_ema")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


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

    Torch files: timm train.py's ``args`` (an argparse.Namespace or a dict), else Lightning's
    ``hyper_parameters`` under timm's names (a ``RunArgs`` whose source says so). safetensors
    files: the metadata, each value read as JSON where it parses (``"10"``, ``"[3, 32, 32]"``).
    """
    if content.format.name == "safetensors":
        return dict(content.records)
    args = content.records.get("args")
    if isinstance(args, Mapping):
        return dict(args)
    hparams = checkpoint_hparams(content.content)
    return hparams if hparams is not None else {}


def arch_hints(content: CheckpointContent) -> list[tuple[str, str]]:
    """Architecture names the file records, most specific first, as (name, where)."""
    hints = []
    args = train_args(content)
    model = args.get("model")
    if isinstance(model, str):
        where = f"hyper_parameters {args.names['model']}" if isinstance(args, RunArgs) else "args.model"
        hints.append((model, where))
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


def _ema_named(prefix: str) -> bool:
    """Whether a prefix names an EMA copy: one of its attributes is ``ema`` or has ``ema`` as a
    ``_``-separated word (``ema_model.``, ``model_ema.module.``)."""
    return any("ema" in part.lower().split("_") for part in prefix.split(".")[:-1])


def _ema_entries(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The entries under an EMA-named top-level attribute (a LightningModule's ``ema_model.``)."""
    return {k: v for k, v in state.items() if "." in k and _ema_named(k.split(".", 1)[0] + ".")}


def select_state_dict(content: CheckpointContent, weights: str = "raw") -> tuple[dict[str, Tensor], str]:
    """The state dict to evaluate, and the key it came from (``"(file)"`` for a bare state dict).

    ``weights="ema"`` takes ``state_dict_ema`` or ``model_ema``, else the raw state dict's entries
    under EMA-named attributes (a LightningModule's ``ema_model.``), named in the key.
    """
    check_weights(weights)
    obj = content.content
    keys = EMA_KEYS if weights == "ema" else RAW_KEYS
    for key in keys:
        if is_state_dict(obj.get(key)):
            return dict(obj[key]), key
    raw = next(((dict(obj[k]), k) for k in RAW_KEYS if is_state_dict(obj.get(k))), None)
    if raw is None and is_state_dict(obj):
        raw = dict(obj), "(file)"
    if weights == "raw" and raw is not None:
        return raw
    if weights == "ema":
        ema = _ema_entries(raw[0]) if raw is not None else {}
        if raw is not None and ema:
            return ema, f"{raw[1]}, under {', '.join(sorted({k.split('.', 1)[0] + '.' for k in ema}))}"
        raise CheckpointError(
            f"{content.path}: holds no EMA weights (none of {', '.join(EMA_KEYS)}, nor entries under an attribute "
            "such as ema_model.); use --weights raw"
        )
    raise CheckpointError(
        f"{content.path}: found no state dict (looked for {', '.join(RAW_KEYS)} and for a bare dict "
        f"of tensors; top-level keys: {', '.join(map(str, list(obj)[:8]))})"
    )


@dataclass(frozen=True)
class PrefixFit:
    """Where a model's weights are among a checkpoint's entries (``fit_prefix``)."""

    prefix: str  # removed from the entries taken ("" for none; possibly nested: "model.backbone.")
    state: dict[str, Tensor]  # the entries under ``prefix``, with it removed
    left_out: tuple[str, ...]  # the entries outside it (a loss module's buffers, metrics, a second network)
    fits: bool  # the names under ``prefix`` are exactly the model's (shapes are checked by the caller)
    passed_over: tuple[str, ...] = ()  # EMA copies that fit too and gave way (``--weights ema`` takes them)
    rivals: tuple[str, ...] = ()  # other networks that fit as well: which one is meant cannot be told
    closest: tuple[tuple[str, int, int], ...] = ()  # where nothing fits: (prefix, missing, unexpected), best first

    @property
    def removed(self) -> list[str]:
        """The prefix as the attributes it is made of, outermost first (``["model.", "backbone."]``)."""
        return [part + "." for part in self.prefix.split(".")[:-1]]


def _tally(keys: Collection[str], names: Collection[str]) -> dict[str, list[int]]:
    """For every prefix P of a key ("" and each up to a dot): [keys under P whose rest is a model
    name, keys under P]; P fits the names exactly when both equal ``len(names)``."""
    tally: dict[str, list[int]] = {}
    for key in keys:
        start = 0
        while True:
            counts = tally.setdefault(key[:start], [0, 0])
            counts[0] += key[start:] in names
            counts[1] += 1
            start = key.find(".", start) + 1
            if start == 0:
                break
    return tally


def _shape(value: Any) -> tuple[int, ...] | None:
    """A tensor's shape; None for a module's extra state, which is no tensor."""
    return tuple(value.shape) if isinstance(value, Tensor) else None


def _taken(state: Mapping[str, Tensor], prefix: str, fits: bool, **found: Any) -> PrefixFit:
    inner = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    left_out = tuple(sorted(k for k in state if not k.startswith(prefix)))
    return PrefixFit(prefix, inner, left_out, fits, **found)


def fit_prefix(state: Mapping[str, Tensor], expected: Collection[str] | Mapping[str, Tensor], *,
               prefix: str | None = None) -> PrefixFit:
    """The prefix under which ``state``'s names are exactly ``expected``'s (and their shapes, where
    ``expected`` is the model's state dict): the shortest such, an EMA copy last; ``prefix`` forces one.

    Where none fits, the prefix that comes closest (fewest missing and unexpected names), with the
    candidates that matched at least half the names in ``closest``.
    """
    names = set(expected)
    if prefix is not None:
        fit = _taken(state, prefix, False)
        return replace(fit, fits=set(fit.state) == names)
    tally = _tally(list(state), names)
    exact = sorted((p for p, (matched, under) in tally.items() if matched == under == len(names)),
                   key=lambda p: (_ema_named(p), len(p), p))
    if isinstance(expected, Mapping) and exact:
        shaped = [p for p in exact if all(_shape(state[p + k]) == _shape(expected[k]) for k in names)]
        if not shaped:  # names fit but shapes do not: the caller says which shape, for the first
            return _taken(state, exact[0], True)
        exact = shaped
    if exact:
        chosen, rest = exact[0], exact[1:]
        passed = tuple(p for p in rest if _ema_named(p) and not _ema_named(chosen))
        rivals = tuple(p for p in rest if p not in passed)
        return _taken(state, chosen, True, passed_over=passed, rivals=rivals)
    near = sorted(((p, len(names) - m, u - m) for p, (m, u) in tally.items() if m > 0 and 2 * m >= len(names)),
                  key=lambda c: (c[1] + c[2], len(c[0])))
    return _taken(state, near[0][0] if near else "", False, closest=tuple(near[:3]))


def ambiguity(fit: PrefixFit, where: str) -> ModelError:
    """The error for a checkpoint holding several networks that fit the model alike."""
    fitting = (fit.prefix, *fit.rivals)
    return ModelError(
        f"{where}: {len(fitting)} networks fit the model: {', '.join(fitting)}; entk-probe analyses one: save the "
        f"state_dict of the one to analyse on its own (its entries without the prefix), or pass "
        f"prefix={fit.prefix!r} (or another) to load_weights"
    )


def strip_prefixes(
    state: Mapping[str, Tensor], expected: Collection[str] | Mapping[str, Tensor], *, prefix: str | None = None,
    where: str = "the checkpoint",
) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """Remove the prefix under which ``state``'s names are the model's ``expected`` names (``fit_prefix``).

    Returns (state dict, prefix removed as its attributes, names left out). Two networks that fit
    alike are a ModelError naming both (``where`` names the checkpoint).
    """
    fit = fit_prefix(state, expected, prefix=prefix)
    if fit.rivals:
        raise ambiguity(fit, where)
    return fit.state, fit.removed, list(fit.left_out) if fit.fits else []


def unwrapped(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the wrapper prefixes (``module.``, ``_orig_mod.``) that every name carries."""
    out = dict(state)
    for prefix in WRAPPER_PREFIXES:
        if out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix):]: v for k, v in out.items()}
    return out


def network_entries(state: Mapping[str, Tensor], anchors: list[str], names: list[str] | None = None) -> dict[str, Tensor]:
    """The network's own entries of ``state``, without their prefix, for reading its geometry off
    the shapes before the model is built: under the prefix where ``names`` (the architecture's
    names, built with its default arguments) fit or come closest; else under the shortest prefix
    that holds any of ``anchors`` (its classifier's and first convolution's weights), if it holds
    them all; else ``state`` without wrapper prefixes."""
    if names is not None:
        fit = fit_prefix(state, names)
        if fit.fits or fit.closest:
            return fit.state
    found = [k[:len(k) - len(a)] for k in state for a in anchors if k == a or k.endswith("." + a)]
    prefix = min(found, key=lambda p: (len(p), p), default=None)
    if prefix is not None and all(prefix + a in state for a in anchors):
        return _taken(state, prefix, True).state
    return unwrapped(state)


def left_out_message(fit: PrefixFit, where: str) -> str:
    """The ``ignored-entries`` warning: the prefix taken, and how many entries outside it were left out."""
    n, first = len(fit.left_out), ", ".join(fit.left_out[:4])
    ema = (f"; {', '.join(fit.passed_over)} holds an EMA copy, which --weights ema takes" if fit.passed_over else "")
    return (f"{where}: the model's weights are under {fit.prefix!r}; ignored {n} entries outside it: "
            f"{first}{' ...' if n > 4 else ''}{ema}")


def closest_note(fit: PrefixFit) -> str:
    """Where nothing fits, the prefixes that came closest (for the error), or ""."""
    near = fit.closest
    if not near or (len(near) == 1 and not near[0][0]):
        return ""
    return "; closest prefixes: " + ", ".join(f"{repr(p) if p else 'no prefix'} ({m} missing, {u} unexpected)"
                                              for p, m, u in near)
