"""Loading Hugging Face weights: a model's own (tied weights saved once) and a PEFT adapter's.

``save_pretrained`` writes a tensor tied to another (GPT-2's ``lm_head.weight`` is its
``transformer.wte.weight``) once, so a checkpoint lacks the names of tied copies; every other
name and shape must fit exactly, as for any checkpoint. A PEFT checkpoint holds the adapter's
tensors only (the LoRA matrices and ``modules_to_save``), loaded into the adapted model with
peft's own key mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor, nn

from ..errors import CheckpointError, ModelError
from .hflayout import folder_weights
from .loading import read_content, select_state_dict


def read_folder_weights(folder: Path) -> dict[str, Tensor]:
    """The weights of a ``save_pretrained`` folder (one file, or a sharded save)."""
    path = folder_weights(folder)
    if path is None:
        raise CheckpointError(f"{folder}: no model.safetensors, sharded index or pytorch_model.bin (save the model "
                              "with save_pretrained)")
    return select_state_dict(read_content(path))[0]


def _tied(model: nn.Module) -> dict[str, str]:
    """{name: the name it shares its tensor with} for parameters registered under several names."""
    first: dict[int, str] = {}
    tied: dict[str, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in first:
            tied[name] = first[id(p)]
        else:
            first[id(p)] = name
    return tied


def _listed(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" ({len(names) - 4} more)" if len(names) > 4 else "")


def load_hf_weights(model: nn.Module, state: Mapping[str, Tensor], *, where: str) -> None:
    """Load ``state`` into a transformers ``model``: every name and shape must fit, tied copies may be absent."""
    expected = model.state_dict()
    tied = _tied(model)
    missing = sorted(k for k in set(expected) - set(state) if not (k in tied and tied[k] in state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(f"{where}: weights do not fit the model: "
                         + (f"missing {_listed(missing)} " if missing else "")
                         + (f"unexpected {_listed(unexpected)}" if unexpected else "") + " (is --arch right?)")
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise ModelError(f"{where}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)} in the checkpoint but "
                         f"{tuple(expected[wrong[0]].shape)} in the model built from config.json")
    model.load_state_dict(dict(state), strict=False)


def is_text_model(model: nn.Module) -> bool:
    """Whether ``model`` is a language model adapted to packed tokens (``textcall``)."""
    return hasattr(model, "entk_kind")


def load_text_weights(model: nn.Module, state: Mapping[str, Tensor], *, where: str) -> None:
    """A Hugging Face checkpoint's weights into ``model``: a PEFT model takes its adapter's tensors."""
    if hasattr(model, "peft_config"):
        load_adapter_weights(model, state, where=where)
    else:
        load_hf_weights(model, state, where=where)


def load_adapter_weights(model: nn.Module, state: Mapping[str, Tensor], *, where: str) -> None:
    """Load a PEFT checkpoint's tensors into the adapted ``model``; a tensor it does not have is an error."""
    from peft import set_peft_model_state_dict

    try:
        result = set_peft_model_state_dict(model, dict(state))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ModelError(f"{where}: the adapter's weights do not fit the adapted model ({str(exc).splitlines()[0]})") from None
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ModelError(f"{where}: the adapter holds tensors the adapted model lacks: {_listed(sorted(unexpected))}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ModelError(f"{where}: the adapted model has no trainable parameters")
