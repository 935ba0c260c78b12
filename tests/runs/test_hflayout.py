"""Hugging Face's folder layout: which file holds a folder's weights, adapters, sharded saves, positions."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from entk_probe.errors import CheckpointError
from entk_probe.runs.checkpoints import discover, sha256_of
from entk_probe.runs.hflayout import (
    ADAPTER_CONFIG, WEIGHT_FILES, adapter_config, checkpoint_files, files_sha256, folder_weights, hf_position,
    read_adapter_config, read_shard_index, shard_paths,
)

from ..textdata import needs_sst2, needs_text


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("{}")


def test_the_weights_of_a_folder_are_the_first_weight_file_present(tmp_path: Path) -> None:
    _touch(tmp_path, *reversed(WEIGHT_FILES), ADAPTER_CONFIG)
    for expected in WEIGHT_FILES:  # remove the preferred one: the next is taken
        assert folder_weights(tmp_path) == tmp_path / expected
        (tmp_path / expected).unlink()
    assert folder_weights(tmp_path) is None


def test_an_adapter_needs_its_config(tmp_path: Path) -> None:
    _touch(tmp_path, "adapter_model.safetensors")
    with pytest.raises(CheckpointError, match="adapter without adapter_config.json"):
        folder_weights(tmp_path)
    assert adapter_config(tmp_path / "adapter_model.safetensors") is None
    _touch(tmp_path, ADAPTER_CONFIG, "model.safetensors")
    assert adapter_config(tmp_path / "adapter_model.safetensors") == tmp_path / ADAPTER_CONFIG
    assert adapter_config(tmp_path / "model.safetensors") is None  # a full model beside an adapter's config


def test_the_position_comes_from_trainer_state_else_the_folder_name(tmp_path: Path) -> None:
    _touch(tmp_path / "checkpoint-30")
    assert hf_position(tmp_path / "checkpoint-30") == (30, None)
    assert hf_position(tmp_path) == (None, None)  # a save_pretrained folder without a number or state
    (tmp_path / "trainer_state.json").write_text(json.dumps({"global_step": 12, "epoch": 0.5}))
    assert hf_position(tmp_path) == (12, 0.5)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"global_step": None}))
    with pytest.raises(CheckpointError, match="global_step is None"):
        hf_position(tmp_path)


def _index(folder: Path, weight_map: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps({"metadata": {"total_size": 8}, "weight_map": weight_map}))
    return path


@pytest.mark.parametrize(("weight_map", "message"), [
    ({}, "no weight_map"), (["a"], "no weight_map"), ({"w": 3}, "no weight_map"),
    ({"w": "../elsewhere.safetensors"}, r"names shards outside its folder \(../elsewhere.safetensors\)"),
])
def test_a_malformed_index_is_one_line_naming_it(tmp_path: Path, weight_map: object, message: str) -> None:
    index = _index(tmp_path, weight_map)
    with pytest.raises(CheckpointError, match=message) as err:
        read_shard_index(index)
    assert str(index) in str(err.value) and "\n" not in str(err.value)


def test_shards_in_name_order_and_a_missing_one_named(tmp_path: Path) -> None:
    index = _index(tmp_path, {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-2.safetensors"})
    for name in ("m-1.safetensors", "m-2.safetensors"):
        save_file({"x": torch.zeros(1)}, str(tmp_path / name))
    assert shard_paths(index) == [tmp_path / "m-1.safetensors", tmp_path / "m-2.safetensors"]
    assert checkpoint_files(index) == [index, tmp_path / "m-1.safetensors", tmp_path / "m-2.safetensors"]
    assert checkpoint_files(tmp_path / "m-1.safetensors") == [tmp_path / "m-1.safetensors"]
    expected = hashlib.sha256(b"".join(p.read_bytes() for p in checkpoint_files(index))).hexdigest()
    assert files_sha256(checkpoint_files(index)) == expected == sha256_of(index)
    (tmp_path / "m-2.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"shard m-2.safetensors is missing \(the index names 2 shards\)"):
        shard_paths(index)


@needs_sst2
@needs_text
def test_a_sharded_checkpoints_hash_changes_with_any_shard_or_the_index(sharded_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(sharded_run, run)
    index = run / "checkpoint-40" / "model.safetensors.index.json"
    shards = shard_paths(index)
    assert len(shards) > 2 and sha256_of(index) == files_sha256([index, *shards])
    before = sha256_of(index)
    last = load_file(str(shards[-1]))
    name = sorted(last)[0]
    save_file({**last, name: last[name] + 1}, str(shards[-1]), metadata={"format": "pt"})
    changed = sha256_of(index)
    assert changed != before
    index.write_text(index.read_text().replace('"weight_map"', '"weight_map" '))  # same map, other bytes
    assert sha256_of(index) not in (before, changed)
    assert [c.sha256 for c in discover(run)][1] == sha256_of(index)  # what the kernel cache is keyed by
    shards[0].unlink()
    with pytest.raises(CheckpointError, match=f"shard {shards[0].name} is missing"):
        discover(run)


@needs_sst2
@needs_text
def test_an_adapters_config_names_the_local_base_model(lora_run: Path) -> None:
    folder = lora_run / "checkpoint-40"
    config = read_adapter_config(adapter_config(folder_weights(folder)))  # type: ignore[arg-type]
    assert config["base_model_name_or_path"] == str(lora_run.parent / "base")
    assert (lora_run.parent / "base" / "model.safetensors").is_file()
    assert "classifier" in config["modules_to_save"] and sorted(config["target_modules"]) == ["query", "value"]
    assert config["peft_type"] == "LORA" and config["task_type"] == "SEQ_CLS" and config["r"] == 4
