"""Tokenising a text probe: the run's tokenizer, its identity, the prompt, padding and truncation.

- The tokenizer is read from ``TextTarget.tokenizer_dir`` with transformers' ``AutoTokenizer``
  (offline); transformers is imported only here and only when a text probe is built.
- Its identity (``tokenizer_sha256``) is the sha256 over the tokenizer files of that folder
  (``TOKENIZER_FILES``) in name order, each as its name, a NUL byte, its size in decimal, a NUL
  byte and its bytes: the same files give the same hash on every machine.
- A prompt template places each example: ``{text}`` (required), ``{text_b}`` (the second text of
  a pair) and ``{mask}`` (the tokenizer's mask token) are replaced in one pass, so braces inside
  the examples are left alone. Without a prompt, pairs are encoded as the tokenizer's pairs.
- Every example is padded on the right to L tokens with ``attention_mask`` 0 there: L is the
  target's ``max_length``, else the longest selected example's length capped at the model's
  positions (``model_max_length``, else the tokenizer's own maximum where it states a real one).
  Longer examples are truncated on the right, with one warning saying how many and to what.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ProbeError, UsageError, warn
from .probe import TextTarget
from .tokens import TOKEN_KEYS, pack

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                   "merges.txt", "spiece.model", "sentencepiece.bpe.model", "added_tokens.json")
SANE_MAX_LENGTH = 1_000_000  # transformers states int(1e30) where a tokenizer has no maximum
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDERS = ("text", "text_b", "mask")


@dataclass(frozen=True)
class Encoded:
    """A tokenised probe: packed tokens (N, K, L) int64 with their keys, L, and what was done."""

    inputs: Tensor  # (N, K, L) int64, planes in ``keys`` order (tokens.TOKEN_KEYS order)
    keys: tuple[str, ...]
    max_length: int  # L
    notes: tuple[str, ...]  # truncation and padding notes, for Probe.transforms


def tokenizer_sha256(folder: Path) -> str:
    """sha256 over the tokenizer files in ``folder`` (module docstring); ProbeError if it holds none."""
    files = sorted(name for name in TOKENIZER_FILES if (folder / name).is_file())
    if not files:
        raise ProbeError(f"tokenizer folder {folder} holds none of {', '.join(TOKENIZER_FILES)}: pass --tokenizer DIR "
                         "with the folder the model's tokenizer was saved to")
    digest = hashlib.sha256()
    for name in files:
        data = (folder / name).read_bytes()
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def load_tokenizer(text: TextTarget) -> tuple[Any, str]:
    """The tokenizer in ``text.tokenizer_dir`` (transformers, offline) and its sha256."""
    folder = text.tokenizer_dir
    if folder is None:
        raise UsageError(f"a text probe needs the model's tokenizer and {text.source} has none saved: pass "
                         "--tokenizer DIR (a folder with tokenizer.json or the tokenizer's vocabulary files)")
    if not Path(folder).is_dir():
        raise UsageError(f"tokenizer folder {folder} does not exist ({text.source}); pass --tokenizer DIR")
    digest = tokenizer_sha256(Path(folder))
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UsageError("text probes need the text extra: pip install 'entk-probe[text]'") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for unusable folders
        why = " ".join(str(exc).split())[:200]
        raise ProbeError(f"tokenizer folder {folder}: transformers cannot read a tokenizer there ({why})") from None
    return tokenizer, digest


def apply_prompt(template: str, texts: Sequence[str], texts_b: Sequence[str] | None,
                 mask_token: str | None) -> list[str]:
    """Each example (N of them) placed in ``template``: {text}, {text_b}, {mask} replaced in one pass."""
    names = set(_PLACEHOLDER.findall(template))
    unknown = sorted(names - set(_PLACEHOLDERS))
    if unknown:
        raise UsageError(f"prompt {template!r}: unknown placeholder {{{unknown[0]}}}; use {{text}}, {{text_b}}, {{mask}}")
    if "text" not in names:
        raise UsageError(f"prompt {template!r} has no {{text}}: write where each example goes, e.g. '{{text}} It was {{mask}}.'")
    if "mask" in names and not mask_token:
        raise UsageError(f"prompt {template!r} has {{mask}} but the tokenizer has no mask token: write the prompt without it")
    if ("text_b" in names) != (texts_b is not None):
        why = "the examples are single texts" if texts_b is None else "the examples are pairs: place {text_b} too"
        raise UsageError(f"prompt {template!r}: {why}")
    out = []
    for i, text in enumerate(texts):
        values = {"text": text, "text_b": texts_b[i] if texts_b is not None else "", "mask": mask_token or ""}
        out.append(_PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], template))  # type: ignore[misc]
    return out


def ensure_pad_token(tokenizer: Any) -> str | None:
    """Give ``tokenizer`` a pad token (its eos token) if it has none; the note saying so, or None."""
    if tokenizer.pad_token is not None:
        return None
    if tokenizer.eos_token is None:
        raise ProbeError("the tokenizer has neither a pad token nor an eos token, so a text probe cannot be padded: "
                         "save the tokenizer with a pad_token")
    tokenizer.pad_token = tokenizer.eos_token
    note = f"padded with the eos token {tokenizer.eos_token!r} (the tokenizer has no pad token)"
    warn(f"text probe: {note}; the attention mask hides the padding", code="probe-pad-token")
    return note


def _length_cap(tokenizer: Any, model_max_length: int | None) -> int | None:
    if model_max_length is not None:
        return model_max_length
    stated = getattr(tokenizer, "model_max_length", None)
    return stated if isinstance(stated, int) and 0 < stated < SANE_MAX_LENGTH else None


def choose_length(lengths: Sequence[int], tokenizer: Any, max_length: int | None,
                  model_max_length: int | None) -> int:
    """L: ``max_length``, else the longest of ``lengths`` (N token counts) capped at the model's positions."""
    cap = _length_cap(tokenizer, model_max_length)
    if max_length is not None:
        if model_max_length is not None and max_length > model_max_length:
            raise UsageError(f"--max-length {max_length} is more than the model's {model_max_length} positions: "
                             f"choose at most {model_max_length}")
        return max_length
    longest = max(lengths, default=0)
    if longest < 1:
        raise ProbeError("every selected example tokenises to nothing: the probe would be empty")
    return min(longest, cap) if cap is not None else longest


def _call(tokenizer: Any, texts: list[str], texts_b: list[str] | None, **kwargs: Any) -> dict:
    try:
        return dict(tokenizer(texts, text_pair=texts_b, add_special_tokens=True, return_attention_mask=True,
                              verbose=False, **kwargs))
    except (ValueError, TypeError, RuntimeError) as exc:
        why = " ".join(str(exc).split())[:200]
        raise ProbeError(f"the tokenizer failed on the probe's texts ({why})") from None


def encode(tokenizer: Any, texts: Sequence[str], texts_b: Sequence[str] | None, *,
           max_length: int | None = None, model_max_length: int | None = None, prompted: bool = False) -> Encoded:
    """N texts (or pairs) as packed tokens (N, K, L) int64, right-padded with ``attention_mask``.

    A long example is cut on the right, or, when ``prompted`` (a template put the prediction
    position at its end: the mask token, or "It was" before a causal LM's next token), on the
    left, so that the template's end survives; special tokens are added after the cut either way.
    """
    notes = [n for n in [ensure_pad_token(tokenizer)] if n]
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "left" if prompted else "right"
    first, second = list(texts), (list(texts_b) if texts_b is not None else None)
    lengths = [len(ids) for ids in _call(tokenizer, first, second)["input_ids"]]
    length = choose_length(lengths, tokenizer, max_length, model_max_length)
    cut = sum(n > length for n in lengths)
    if cut:
        side = "their start cut, keeping the prompt's end" if prompted else "their end cut"
        note = f"{cut} of {len(lengths)} examples truncated to {length} tokens ({side}; the longest has {max(lengths)})"
        warn(f"text probe: {note}; --max-length sets the length", code="probe-truncated")
        notes.append(note)
    encoded = _call(tokenizer, first, second, padding="max_length", truncation=True, max_length=length)
    tensors = {k: torch.tensor(encoded[k], dtype=torch.int64) for k in TOKEN_KEYS if k in encoded}  # each (N, L)
    packed, keys = pack(tensors)
    return Encoded(packed, keys, length, tuple(notes))
