"""Checkpoint discovery in every supported layout, training order, duplicates and selection."""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.utils import CheckpointSaver, ModelEmaV3

from entk_probe.errors import CheckpointError
from entk_probe.runs.checkpoints import discover, parse_range, select, sha256_of
from entk_probe.errors import EntkProbeWarning, UsageError


def _weights(seed: int) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3,), float(seed))}


def _save_st(path: Path, seed: int, **metadata: str) -> None:
    save_file(_weights(seed), str(path), metadata=metadata)


def _names(found: list) -> list[str]:
    return [c.name for c in found]


def test_every_format_is_found_and_ordered_by_recorded_epoch(tmp_path: Path) -> None:
    _save_st(tmp_path / "a.safetensors", 1, epoch="4")
    torch.save({"epoch": 1, "state_dict": _weights(2)}, tmp_path / "b.pt")
    torch.save({"epoch": 2, "model": _weights(3)}, tmp_path / "c.pth")
    torch.save({"epoch": 3, "state_dict": _weights(4)}, tmp_path / "d.pth.tar")
    torch.save({"epoch": 0, **_weights(5)}, tmp_path / "e.bin")
    torch.save({"epoch": 5, "global_step": 50, "state_dict": _weights(6)}, tmp_path / "f.ckpt")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EntkProbeWarning)  # recorded epochs order everything: no warning
        found = discover(tmp_path)
    assert _names(found) == ["e.bin", "b.pt", "c.pth", "d.pth.tar", "a.safetensors", "f.ckpt"]
    assert [c.epoch for c in found] == [0, 1, 2, 3, 4, 5]
    assert found[-1].step == 50 and all(c.ordered_by == "metadata" for c in found)
    assert found[0].sha256 == sha256_of(tmp_path / "e.bin")


def test_hugging_face_checkpoint_folders(tmp_path: Path) -> None:
    for step, epoch in ((500, 1.0), (1000, 2.0), (50, 0.1)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        _save_st(folder / "model.safetensors", step)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "epoch": epoch}))
    bin_only = tmp_path / "checkpoint-2000"
    bin_only.mkdir()
    torch.save(_weights(7), bin_only / "pytorch_model.bin")  # no trainer_state.json: step from the name
    found = discover(tmp_path)
    assert _names(found) == ["checkpoint-50", "checkpoint-500",
                             "checkpoint-1000", "checkpoint-2000"]
    assert [c.step for c in found] == [50, 500, 1000, 2000]
    (tmp_path / "checkpoint-3000").mkdir()
    with pytest.raises(CheckpointError, match=r"checkpoint-3000.*without model weights \(looked for model.safetensors, "
                       r"model.safetensors.index.json, pytorch_model.bin"):
        discover(tmp_path)


@pytest.mark.parametrize(("state", "message"), [
    ('{"global_step": "soon", "epoch": 1}', "global_step is 'soon'"),
    ('{"global_step": -3}', "global_step is -3"),
    ('{"global_step": 10, "epoch": [1]}', r"epoch is \[1\]"),
    ('[1, 2]', "holds a JSON list"),
    ('{"global_step": 1', "not readable JSON"),
])
def test_a_malformed_trainer_state_is_one_line_naming_it(tmp_path: Path, state: str, message: str) -> None:
    folder = tmp_path / "checkpoint-10"
    folder.mkdir()
    _save_st(folder / "model.safetensors", 1)
    (folder / "trainer_state.json").write_text(state)
    with pytest.raises(CheckpointError, match=f"trainer_state.json: {message}"):
        discover(tmp_path)


def test_a_timm_train_run_counts_hard_linked_copies_once(tmp_path: Path) -> None:
    model = timm.create_model("test_resnet", num_classes=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = argparse.Namespace(model="test_resnet", num_classes=3, img_size=32)
    saver = CheckpointSaver(model, optimizer, args=args, model_ema=ModelEmaV3(model), checkpoint_dir=str(tmp_path), max_history=3)
    for epoch, metric in enumerate([0.1, 0.5, 0.3, 0.2, 0.6]):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        saver.save_checkpoint(epoch, metric=metric)
    assert os.stat(tmp_path / "last.pth.tar").st_ino == os.stat(tmp_path / "checkpoint-4.pth.tar").st_ino
    found = discover(tmp_path)
    assert _names(found) == ["checkpoint-1.pth.tar", "checkpoint-2.pth.tar", "checkpoint-4.pth.tar"]
    assert set(found[-1].aliases) == {"last.pth.tar", "model_best.pth.tar"}
    assert found[-1].arch_hints[0] == ("test_resnet", "args.model") and found[-1].args["img_size"] == 32
    assert [c.epoch for c in found] == [2.0, 3.0, 5.0]  # after the 2nd, 3rd and 5th epoch: timm saves 0-based indices


def test_without_recorded_positions_file_name_numbers_order_with_a_warning(tmp_path: Path) -> None:
    for i, name in enumerate(["ep10.pt", "ep9.pt", "ep100.pt", "final.pt"]):
        torch.save(_weights(i), tmp_path / name)
    _save_st(tmp_path / "ep50.safetensors", 9, step="500")
    with pytest.warns(EntkProbeWarning, match=r"by the numbers in their file names.*ep10\.pt.*record no epoch or step.*final\.pt hold"):
        found = discover(tmp_path)
    assert _names(found) == ["ep9.pt", "ep10.pt", "ep50.safetensors", "ep100.pt", "final.pt"]
    assert all(c.ordered_by == "file name" for c in found)


def test_steps_order_when_epochs_are_not_all_known(tmp_path: Path) -> None:
    _save_st(tmp_path / "x.safetensors", 1, step="30", epoch="1")
    _save_st(tmp_path / "y.safetensors", 2, step="10")
    _save_st(tmp_path / "z.safetensors", 3, step="20")
    assert _names(discover(tmp_path)) == ["y.safetensors", "z.safetensors", "x.safetensors"]


def test_same_recorded_time_different_content_warns(tmp_path: Path) -> None:
    _save_st(tmp_path / "a.safetensors", 1, step="10")
    _save_st(tmp_path / "b.safetensors", 2, step="10")
    with pytest.warns(EntkProbeWarning, match="record the same epoch/step"):
        discover(tmp_path)


def test_glob_filters_before_reading(tmp_path: Path) -> None:
    _save_st(tmp_path / "keep_1.safetensors", 1, step="1")
    _save_st(tmp_path / "keep_2.safetensors", 2, step="2")
    (tmp_path / "skip.pt").write_bytes(b"unreadable: would fail if read")
    assert _names(discover(tmp_path, glob="keep_*")) == ["keep_1.safetensors", "keep_2.safetensors"]
    with pytest.raises(CheckpointError, match="matches --glob 'nothing\\*'"):
        discover(tmp_path, glob="nothing*")


def test_selection_range_every_and_max(tmp_path: Path) -> None:
    for i in range(11):
        _save_st(tmp_path / f"s{i}.safetensors", i, step=str(10 * i), epoch=str(i / 2))
    found = discover(tmp_path)
    assert [c.epoch for c in select(found, range_="1:3")] == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert [c.epoch for c in select(found, range_="4:")] == [4.0, 4.5, 5.0]
    assert [c.step for c in select(found, every=4)] == [0, 40, 80]
    assert [c.step for c in select(found, max_checkpoints=3)] == [0, 50, 100]
    assert [c.step for c in select(found, max_checkpoints=4)] == [0, 30, 70, 100]
    assert [c.step for c in select(found, range_=":2", every=2, max_checkpoints=2)] == [0, 40]
    assert len(select(found, max_checkpoints=50)) == 11


def test_range_uses_steps_when_epochs_are_unknown(tmp_path: Path) -> None:
    for i in range(4):
        _save_st(tmp_path / f"s{i}.safetensors", i, step=str(100 * i))
    assert [c.step for c in select(discover(tmp_path), range_="100:250")] == [100, 200]


@pytest.mark.parametrize("text", ["1-3", "a:b", "3:1", "1:2:3"])
def test_bad_ranges_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="range"):
        parse_range(text)


def test_bad_selection_values(tmp_path: Path) -> None:
    _save_st(tmp_path / "a.safetensors", 1, step="1")
    found = discover(tmp_path)
    with pytest.raises(UsageError, match="--every"):
        select(found, every=0)
    with pytest.raises(UsageError, match="--max-checkpoints"):
        select(found, max_checkpoints=0)
    with pytest.raises(UsageError, match="no checkpoint has its step in --range 5:6"):
        select(found, range_="5:6")


def test_missing_and_empty_run_directories(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        discover(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        discover(tmp_path)


def test_entk_probes_own_files_are_not_checkpoints(tmp_path: Path) -> None:
    _save_st(tmp_path / "a.safetensors", 1, step="1")
    save_file({"inputs": torch.zeros(2, 3)}, str(tmp_path / "probe.safetensors"), metadata={"format": "entk-probe-probe/1"})
    assert _names(discover(tmp_path)) == ["a.safetensors"]
    (tmp_path / "a.safetensors").unlink()
    with pytest.raises(CheckpointError, match="only entk-probe's own files"):
        discover(tmp_path)


# ------------------------------------------------------------------ properties (hypothesis)

import tempfile  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

POSITIONS = st.lists(st.tuples(st.none() | st.integers(0, 50), st.none() | st.integers(0, 2000)),
                     min_size=1, max_size=5, unique=True)


@given(positions=POSITIONS, names=st.permutations(range(5)), created=st.permutations(range(5)))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_checkpoints_come_out_in_training_order_whatever_their_names_and_file_order(
        positions: list[tuple[int | None, int | None]], names: list[int], created: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", EntkProbeWarning)
        run = Path(tmp)
        files = {}
        for i, (epoch, step) in enumerate(positions):
            meta = {k: str(v) for k, v in (("epoch", epoch), ("step", step)) if v is not None}
            files[i] = (run / f"ckpt_{names[i]}.safetensors", meta)
        for i in (c for c in created if c in files):  # the order the files are written in must not matter
            path, meta = files[i]
            save_file({"w": torch.full((2,), float(i))}, str(path), metadata=meta)
        found = discover(run)
    got = [int(c.name.removeprefix("ckpt_").removesuffix(".safetensors")) for c in found]
    assert sorted(got) == sorted(names[i] for i in files)  # every checkpoint once
    by_name = {names[i]: positions[i] for i in files}
    if all(e is not None for e, _ in positions):
        keys = [(by_name[g][0], -1 if by_name[g][1] is None else by_name[g][1], g) for g in got]
    elif all(s is not None for _, s in positions):
        keys = [(by_name[g][1], g) for g in got]
    else:  # nothing reliable recorded: the numbers in the file names
        keys = got
        assert all(c.ordered_by == "file name" for c in found)
    assert keys == sorted(keys)


# Real Hugging Face Trainer runs (tests/textruns.py): checkpoint folders, adapters, sharded saves.

import hashlib  # noqa: E402
import shutil  # noqa: E402

from safetensors.torch import load_file  # noqa: E402

from entk_probe.runs.checkpoints import is_adapter, single  # noqa: E402
from entk_probe.runs.loading import read_content, select_state_dict  # noqa: E402

from ..textdata import needs_sst2, needs_text  # noqa: E402
from ..textruns import SAVE_STEPS  # noqa: E402


@needs_sst2
@needs_text
@pytest.mark.parametrize("run_fixture", ["bert_run", "gpt2_run"])
def test_a_trainer_runs_checkpoints_in_training_order(run_fixture: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(run_fixture)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EntkProbeWarning)  # every checkpoint records its position: no warning
        found = discover(run)
    assert _names(found) == [f"checkpoint-{s}" for s in SAVE_STEPS]  # by number, not as text
    states = [json.loads((run / f"checkpoint-{s}" / "trainer_state.json").read_text()) for s in SAVE_STEPS]
    assert [c.step for c in found] == [s["global_step"] for s in states] == list(SAVE_STEPS)
    assert [c.epoch for c in found] == [s["epoch"] for s in states] and found[0].epoch == 0.0 < found[1].epoch
    assert all(c.ordered_by == "metadata" and not is_adapter(c) and c.adapter_config is None for c in found)
    assert found[5].sha256 == hashlib.sha256(found[5].path.read_bytes()).hexdigest()
    assert single(run / "checkpoint-8") == found[4]  # `entk-probe kernel` given the folder


@needs_sst2
@needs_text
def test_peft_adapter_checkpoints_are_found_and_read_as_saved(lora_run: Path) -> None:
    found = discover(lora_run)
    assert _names(found) == [f"checkpoint-{s}" for s in SAVE_STEPS]  # the folder names the checkpoint
    assert [c.step for c in found] == list(SAVE_STEPS)
    assert all(is_adapter(c) and c.adapter_config == c.path.parent / "adapter_config.json" for c in found)
    first, last = (select_state_dict(read_content(c.path)) for c in (found[0], found[-1]))
    saved = load_file(str(found[-1].path))
    assert last[1] == "(file)" and set(last[0]) == set(saved) and all(torch.equal(last[0][k], v) for k, v in saved.items())
    lora_b = [k for k in saved if "lora_B" in k]
    assert len(lora_b) == 4 and any(k.endswith("classifier.weight") for k in saved)
    assert not any("embeddings" in k or "intermediate" in k for k in saved)  # the adapter's tensors only
    assert all(not first[0][k].any() for k in lora_b) and all(last[0][k].any() for k in lora_b)  # LoRA starts at B = 0


@needs_sst2
@needs_text
def test_the_trainers_final_save_in_the_run_directory(bert_run: Path, tmp_path: Path) -> None:
    """Trainer.save_model() and save_state() at the end put the last weights, training_args.bin and
    trainer_state.json in the run directory itself: the same checkpoint, not a failure."""
    run = tmp_path / "run"
    for step in (32, 40):
        shutil.copytree(bert_run / f"checkpoint-{step}", run / f"checkpoint-{step}")
    for name in ("model.safetensors", "config.json", "training_args.bin", "trainer_state.json"):
        shutil.copy(bert_run / "checkpoint-40" / name, run / name)
    with pytest.raises(CheckpointError, match="safe loading refuses"):
        read_content(run / "training_args.bin")  # the TrainingArguments object: it would stop discovery
    found = discover(run)
    assert _names(found) == ["checkpoint-32", "checkpoint-40"]
    assert found[-1].aliases == ("model.safetensors",)


@needs_sst2
@needs_text
def test_sharded_checkpoints_and_a_sharded_save_given_as_the_run_directory(sharded_run: Path) -> None:
    found = discover(sharded_run)
    assert _names(found) == ["checkpoint-32", "checkpoint-40"]
    assert [c.step for c in found] == [32, 40]
    alone = discover(sharded_run / "checkpoint-40")  # a save_pretrained folder: its shards are one checkpoint
    assert _names(alone) == ["model.safetensors.index.json"]
    assert (alone[0].step, alone[0].epoch, alone[0].sha256) == (40, found[1].epoch, found[1].sha256)
    assert single(sharded_run / "checkpoint-40").sha256 == found[1].sha256
