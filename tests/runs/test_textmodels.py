"""Which runs are Hugging Face models, what they are built from, and where their tokenizer is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entk_probe.errors import ModelError, UsageError
from entk_probe.runs.checkpoints import discover
from entk_probe.runs.textmodels import build_text_model, text_run

from ..textdata import needs_sst2, needs_text

pytestmark = [needs_sst2, needs_text]


def test_a_trainer_run_is_its_config_json_architecture_with_its_own_tokenizer(bert_run: Path) -> None:
    ckpt = discover(bert_run)[-1]
    run = text_run(ckpt, bert_run)
    assert run is not None and run.arch == "BertForSequenceClassification" and run.kind == "classifier"
    assert run.arch_source == f"{bert_run / 'checkpoint-40' / 'config.json'} architectures"
    assert run.tokenizer_dir == bert_run / "checkpoint-40" and run.adapter is None
    model = build_text_model(run)
    config = json.loads((bert_run / "checkpoint-40" / "config.json").read_text())
    assert model.config.num_hidden_layers == config["num_hidden_layers"] and not model.training
    assert text_run(ckpt, bert_run, arch="BertForMaskedLM").kind == "masked-lm"  # type: ignore[union-attr]
    with pytest.raises(ModelError, match="no model class 'NoSuchModel'"):
        build_text_model(text_run(ckpt, bert_run, arch="NoSuchModel"))  # type: ignore[arg-type]


def test_an_adapter_run_builds_its_base_and_a_trainable_adapter(lora_run: Path, tmp_path: Path) -> None:
    ckpt = discover(lora_run)[-1]
    run = text_run(ckpt, lora_run)
    assert run is not None and run.base_dir == lora_run.parent / "base" and run.adapter is not None
    model = build_text_model(run)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert text_run(ckpt, lora_run, tokenizer=tmp_path).tokenizer_dir == tmp_path  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="no Hugging Face config.json"):
        text_run(ckpt, lora_run, base_model=tmp_path)


def test_a_run_without_a_transformers_config_is_not_a_text_run(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "step1.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"arch": "resnet18"}))  # a timm-style hint, no model_type
    assert text_run(discover(tmp_path)[0], tmp_path) is None
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(UsageError, match="names no architectures: pass --arch"):
        text_run(discover(tmp_path)[0], tmp_path)
