"""A language model as the engine calls a network: packed tokens in, (batch, classes) logits out.

``as_text_classifier`` gives the model a forward that takes a text probe's packed inputs
(n, K, L) (``probes.tokens``) and passes them as keywords. What it returns:

- a sequence classifier (``...ForSequenceClassification``): its logits (n, C);
- a causal LM: the logits of the label words (one token each) at the last position the
  attention mask keeps, where the next token is predicted (n, C);
- a masked LM: the logits of the label words at the mask token of each example (exactly one).

The model stays the same object with the same parameter names (its class becomes a subclass
whose forward does the above), so weights, parameter filters and the cache read as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ProbeError, UsageError


class _TextCall:
    """Mixed in before the model's own class: forward on packed tokens, logits per class."""

    entk_keys: tuple[str, ...] = ()
    entk_kind: str = "classifier"
    entk_words: tuple[int, ...] = ()  # label words' token ids (language models)
    entk_mask_id: int | None = None  # the mask token's id (masked LMs)

    def forward(self, packed: Tensor) -> Tensor:  # packed (n, K, L)
        kwargs = {k: packed[:, i] for i, k in enumerate(self.entk_keys)}
        out = super().forward(**kwargs)  # type: ignore[misc]
        logits = out if isinstance(out, Tensor) else out.logits
        if self.entk_kind == "classifier":
            return logits  # (n, C)
        return logits[torch.arange(packed.shape[0], device=logits.device), prediction_positions(
            packed, self.entk_keys, self.entk_kind, self.entk_mask_id)][:, list(self.entk_words)]  # (n, C)


def prediction_positions(packed: Tensor, keys: Sequence[str], kind: str, mask_id: int | None) -> Tensor:
    """(n,) the position whose logits predict the label: the last kept token (causal), the mask token (masked)."""
    ids, mask = packed[:, keys.index("input_ids")], packed[:, keys.index("attention_mask")]  # (n, L)
    if kind == "causal-lm":
        return mask.sum(dim=1) - 1
    hits = ids == mask_id
    if not bool((hits.sum(dim=1) == 1).all()):
        raise ProbeError("a masked LM's probe needs exactly one mask token an example: give --prompt with {mask} "
                         "once, e.g. '{text} It was {mask} .'")
    return hits.long().argmax(dim=1)


def label_word_ids(tokenizer: Any, words: Sequence[str]) -> tuple[int, ...]:
    """One token id a label word: the word alone, else with a leading space (BPE vocabularies)."""
    ids = []
    for word in words:
        for form in (word, " " + word):
            tokens = tokenizer(form, add_special_tokens=False)["input_ids"]
            if len(tokens) == 1 and tokens[0] != tokenizer.unk_token_id:  # an unknown word is no label
                ids.append(int(tokens[0]))
                break
        else:
            raise UsageError(f"--label-words: {word!r} is not one token of the tokenizer "
                             f"({tokenizer.tokenize(word)}); choose words the vocabulary holds whole")
    if len(set(ids)) != len(ids):
        raise UsageError(f"--label-words {','.join(words)}: two words are the same token")
    return tuple(ids)


def model_kind(arch: str) -> str:
    """"classifier" (logits per class), "causal-lm" or "masked-lm" (label words' logits), from a class name."""
    if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel"):
        return "causal-lm"
    return "masked-lm" if arch.endswith("ForMaskedLM") else "classifier"


class LabelWordLogits(nn.Module):
    """A language model's label-word logits at the prediction position, the model itself unchanged
    (a training loop keeps calling it): ``forward(input_ids=..., attention_mask=...)`` gives (n, C)."""

    def __init__(self, model: nn.Module, kind: str, words: Sequence[int], mask_id: int | None = None) -> None:
        super().__init__()
        self.model, self.kind, self.words, self.mask_id = model, kind, tuple(words), mask_id

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **rest: Tensor) -> Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **rest).logits  # (n, L, V)
        packed = torch.stack([input_ids, attention_mask], dim=1)  # (n, 2, L)
        at = prediction_positions(packed, ("input_ids", "attention_mask"), self.kind, self.mask_id)
        return logits[torch.arange(input_ids.shape[0], device=logits.device), at][:, list(self.words)]


def as_text_classifier(model: nn.Module, keys: Sequence[str], kind: str, words: Sequence[int] = (),
                       mask_id: int | None = None) -> nn.Module:
    """``model`` (a transformers or PEFT model) made to take packed tokens and return (n, C) logits."""
    base = type(model)
    if issubclass(base, _TextCall):
        base = base.__mro__[2]  # already adapted: adapt the original class again
    model.__class__ = type(base.__name__, (_TextCall, base), {
        "entk_keys": tuple(keys), "entk_kind": kind, "entk_words": tuple(words), "entk_mask_id": mask_id})
    return model
