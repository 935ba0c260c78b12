"""Safe reading of checkpoint files and choosing the weights inside them."""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from entk_probe.errors import EntkProbeWarning, ModelError, UsageError
from entk_probe.runs.loading import (
    CheckpointError,
    _ema_named,
    arch_hints,
    closest_note,
    fit_prefix,
    read_content,
    select_state_dict,
    strip_prefixes,
    train_args,
    training_position,
)

WEIGHTS = {"fc.weight": torch.ones(2, 3), "fc.bias": torch.zeros(2)}


class _Payload:
    """Unpickling this runs os.system: what safe loading must never do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_safetensors_metadata_and_tensors(tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    save_file(WEIGHTS, str(path), metadata={"step": "12", "epoch": "0.5", "arch": "resnet20_cifar", "input_size": "[3, 32, 32]"})
    content = read_content(path)
    assert training_position(content) == (12, 0.5)
    assert arch_hints(content) == [("resnet20_cifar", "metadata arch")]
    assert train_args(content)["input_size"] == [3, 32, 32]
    state, key = select_state_dict(content)
    assert key == "(file)" and torch.equal(state["fc.weight"], WEIGHTS["fc.weight"])
    assert read_content(path, tensors=False).content == {}


def test_timm_train_checkpoint_with_args_namespace(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint-3.pth.tar"
    args = argparse.Namespace(model="resnet18", num_classes=2, img_size=32)
    ema = {k: v + 1 for k, v in WEIGHTS.items()}
    torch.save({"epoch": 3, "arch": "resnet", "args": args, "state_dict": WEIGHTS, "state_dict_ema": ema,
                "optimizer": {"state": {}, "param_groups": []}, "metric": 0.5, "version": 2}, path)
    content = read_content(path)
    assert training_position(content) == (None, 4.0)  # timm's epoch 3 is the index of the 4th epoch, just finished
    assert arch_hints(content) == [("resnet18", "args.model"), ("resnet", "arch")]
    assert train_args(content)["img_size"] == 32
    raw, key = select_state_dict(content, "raw")
    assert key == "state_dict" and torch.equal(raw["fc.bias"], WEIGHTS["fc.bias"])
    ema_state, key = select_state_dict(content, "ema")
    assert key == "state_dict_ema" and torch.equal(ema_state["fc.bias"], ema["fc.bias"])


def test_code_in_a_pickle_never_runs(tmp_path: Path) -> None:
    path, marker = tmp_path / "evil.pt", tmp_path / "ran"
    torch.save({"state_dict": WEIGHTS, "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt.*safe loading refuses.*--trust-checkpoints"):
        read_content(path)
    assert not marker.exists()


def test_trust_unpickles_fully_with_a_warning(tmp_path: Path) -> None:
    path, marker = tmp_path / "evil.pt", tmp_path / "ran"
    torch.save({"state_dict": WEIGHTS, "payload": _Payload(marker)}, path)
    with pytest.warns(EntkProbeWarning, match="full unpickling"):
        content = read_content(path, trust=True)
    assert content.unpickled and marker.exists()


def test_lightning_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "epoch=3-step=120.ckpt"
    state = {"model.fc.weight": WEIGHTS["fc.weight"], "model.fc.bias": WEIGHTS["fc.bias"], "loss.pos_weight": torch.ones(1)}
    torch.save({"epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0", "state_dict": state,
                "optimizer_states": [], "lr_schedulers": []}, path)
    content = read_content(path)
    assert training_position(content) == (120, None)  # epoch 3 is the epoch in progress: the step tells time
    fitted, removed, dropped = strip_prefixes(select_state_dict(content)[0], WEIGHTS.keys())
    assert set(fitted) == set(WEIGHTS) and removed == ["model."] and dropped == ["loss.pos_weight"]


def test_old_torch_format_without_zip_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pth"
    torch.save({"step": 7, "model": WEIGHTS}, path, _use_new_zipfile_serialization=False)
    content = read_content(path)
    assert training_position(content) == (7, None)
    assert select_state_dict(content)[1] == "model"


@pytest.mark.parametrize("payload", [b"", b"garbage that is no checkpoint", None])
def test_unreadable_files_are_errors_naming_the_file(tmp_path: Path, payload: bytes | None) -> None:
    path = tmp_path / "broken.pt"
    if payload is None:  # truncated
        torch.save({"state_dict": WEIGHTS}, path)
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="broken.pt"):
        read_content(path)
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        read_content(bad)


def test_position_keys_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"global_step": torch.tensor(40), "iteration": 99, "epoch": torch.tensor(2.5), "model": WEIGHTS}, path)
    assert training_position(read_content(path)) == (40, 2.5)  # step keys in order: step, global_step, iteration
    torch.save({"epoch": "three", "model": WEIGHTS}, path)
    with pytest.raises(CheckpointError, match="epoch='three'"):
        training_position(read_content(path))


def test_state_dict_choice_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save(WEIGHTS, path)
    with pytest.raises(CheckpointError, match="no EMA weights"):
        select_state_dict(read_content(path), "ema")
    with pytest.raises(UsageError, match="raw or ema"):
        select_state_dict(read_content(path), "best")
    torch.save({"epoch": 1, "notes": "no weights here"}, path)
    with pytest.raises(CheckpointError, match="found no state dict.*epoch, notes"):
        select_state_dict(read_content(path))
    with open(path, "wb") as fh:
        pickle.dump([1, 2], fh)
    with pytest.raises(CheckpointError):
        read_content(path)


def test_wrapper_prefixes_are_removed_only_where_needed() -> None:
    expected = {"fc.weight", "fc.bias"}
    wrapped = {f"module._orig_mod.{k}": v for k, v in WEIGHTS.items()}
    fitted, removed, dropped = strip_prefixes(wrapped, expected)
    assert set(fitted) == expected and removed == ["module.", "_orig_mod."] and not dropped
    own = {"model.fc.weight", "model.fc.bias"}  # a model whose own names start with model.
    fitted, removed, _ = strip_prefixes({f"model.{k}": v for k, v in WEIGHTS.items()}, own)
    assert set(fitted) == own and removed == []


def test_the_prefix_is_wherever_the_names_fit() -> None:
    extra = {"loss.pos_weight": torch.ones(1), "metrics.total": torch.zeros(())}
    nested = {**{f"model.backbone.{k}": v for k, v in WEIGHTS.items()}, "model.aux.weight": torch.ones(1), **extra}
    fit = fit_prefix(nested, WEIGHTS)
    assert fit.prefix == "model.backbone." and fit.removed == ["model.", "backbone."] and fit.fits
    assert fit.left_out == ("loss.pos_weight", "metrics.total", "model.aux.weight") and set(fit.state) == set(WEIGHTS)
    fitted, removed, dropped = strip_prefixes({**{f"net.{k}": v for k, v in WEIGHTS.items()}, **extra}, WEIGHTS.keys())
    assert set(fitted) == set(WEIGHTS) and removed == ["net."] and dropped == ["loss.pos_weight", "metrics.total"]


def test_an_ema_copy_gives_way_and_shapes_tell_networks_apart() -> None:
    both = {**{f"ema_model.{k}": v for k, v in WEIGHTS.items()}, **{f"model.{k}": v for k, v in WEIGHTS.items()}}
    fit = fit_prefix(both, WEIGHTS)
    assert fit.prefix == "model." and fit.passed_over == ("ema_model.",) and not fit.rivals
    wider = {f"teacher.{k}": torch.ones(4, *v.shape[1:]) for k, v in WEIGHTS.items()}
    fit = fit_prefix({**wider, **{f"student.{k}": v for k, v in WEIGHTS.items()}}, WEIGHTS)
    assert fit.prefix == "student." and not fit.rivals  # the teacher's names fit, its shapes do not
    twins = {**{f"teacher.{k}": v for k, v in WEIGHTS.items()}, **{f"student.{k}": v for k, v in WEIGHTS.items()}}
    with pytest.raises(ModelError, match=r"^run\.ckpt: 2 networks fit the model: student\., teacher\.; .*prefix='student\.'"):
        strip_prefixes(twins, WEIGHTS, where="run.ckpt")
    assert strip_prefixes(twins, WEIGHTS, prefix="teacher.")[1] == ["teacher."]


def test_where_nothing_fits_the_closest_prefixes_are_kept() -> None:
    state = {"net.fc.weight": WEIGHTS["fc.weight"], "net.extra": torch.ones(1), "loss.w": torch.ones(1)}
    fit = fit_prefix(state, WEIGHTS)
    assert not fit.fits and fit.prefix == "net." and fit.closest == (("net.", 1, 1),)
    assert "closest prefixes: 'net.' (1 missing, 1 unexpected)" in closest_note(fit)
    assert closest_note(fit_prefix({"fc.weight": WEIGHTS["fc.weight"]}, WEIGHTS)) == ""  # no prefix: nothing to add


@pytest.mark.parametrize("prefix, ema", [("ema_model.", True), ("model_ema.module.", True), ("ema.", True),
                                         ("model.", False), ("schema.", False), ("ema_", False)])
def test_ema_copies_are_named_so(prefix: str, ema: bool) -> None:
    assert _ema_named(prefix) is ema


def test_weights_ema_takes_the_entries_under_an_ema_attribute(tmp_path: Path) -> None:
    path = tmp_path / "epoch=0-step=5.ckpt"
    state = {"net.fc.weight": torch.ones(2, 3), "ema_net.module.fc.weight": torch.zeros(2, 3), "ema_net.n_averaged": torch.ones(())}
    torch.save({"global_step": 5, "pytorch-lightning_version": "2.6.0", "state_dict": state}, path)
    ema, key = select_state_dict(read_content(path), "ema")
    assert set(ema) == {"ema_net.module.fc.weight", "ema_net.n_averaged"} and key == "state_dict, under ema_net."
    torch.save({"state_dict": {"net.fc.weight": torch.ones(2, 3)}}, path)
    with pytest.raises(CheckpointError, match="no EMA weights.*ema_model.*--weights raw"):
        select_state_dict(read_content(path), "ema")
