"""Loading Hugging Face weights: tied copies may be absent, everything else must fit."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from entk_probe.errors import CheckpointError, ModelError
from entk_probe.runs.hfweights import is_text_model, load_hf_weights, read_folder_weights

from ..textdata import needs_text

pytestmark = needs_text


def _gpt2(seed: int):  # type: ignore[no-untyped-def]
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=20, n_embd=8, n_layer=1, n_head=2, n_positions=8)).eval()


def test_save_pretrained_weights_load_with_their_tied_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trained, fresh = _gpt2(1), _gpt2(2)
    trained.save_pretrained(str(tmp_path))
    state = read_folder_weights(tmp_path)
    assert "lm_head.weight" not in state  # tied to transformer.wte.weight: saved once
    load_hf_weights(fresh, state, where="ckpt")
    for name, p in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], p), name
    assert fresh.lm_head.weight.data_ptr() == fresh.transformer.wte.weight.data_ptr()
    assert not is_text_model(fresh)


def test_missing_unexpected_and_misshapen_weights_are_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _gpt2(0)
    state = dict(model.state_dict())
    del state["lm_head.weight"]
    with pytest.raises(ModelError, match="missing transformer.ln_f.bias"):
        load_hf_weights(model, {k: v for k, v in state.items() if k != "transformer.ln_f.bias"}, where="ckpt")
    with pytest.raises(ModelError, match="unexpected extra.weight"):
        load_hf_weights(model, {**state, "extra.weight": torch.zeros(1)}, where="ckpt")
    with pytest.raises(ModelError, match=r"transformer.ln_f.bias has shape \(3,\)"):
        load_hf_weights(model, {**state, "transformer.ln_f.bias": torch.zeros(3)}, where="ckpt")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        read_folder_weights(tmp_path)
