"""Probe files: round trip and the sha256 check, for image and text probes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from entk_probe.errors import EntkProbeWarning, ProbeError, UsageError
from entk_probe.probes import Probe, Target, load_probe, make_probe, save_probe
from entk_probe.probes.files import PROBE_FORMAT, TEXT_PROBE_FORMAT
from entk_probe.probes.preprocess import Normalization
from entk_probe.probes.probe import TextTarget, tensor_sha256
from entk_probe.probes.tokenization import tokenizer_sha256

from ..data import CIFAR_TARGET, SHARED, fake_images, write_cifar10_python
from ..textdata import needs_sst2, needs_text

def test_probe_files_round_trip_and_check_their_hash(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    probe = make_probe("cifar10:20", CIFAR_TARGET, data_root=tmp_path)
    path = tmp_path / "out" / "probe.safetensors"
    save_probe(probe, path)
    with safe_open(str(path), framework="pt") as fh:
        assert set(fh.keys()) == {"inputs", "labels", "indices"}
        meta = fh.metadata()
    assert meta["dataset"] == "cifar10" and meta["sha256"] == probe.sha256 and meta["spec"] == "cifar10:20"
    loaded = make_probe(f"file:{path}", CIFAR_TARGET)
    assert torch.equal(loaded.inputs, probe.inputs) and torch.equal(loaded.labels, probe.labels)
    assert torch.equal(loaded.indices, probe.indices) and loaded.normalization.mean == probe.normalization.mean
    assert loaded.split == "test" and loaded.seed == 0 and loaded.classes == probe.classes
    with pytest.raises(ProbeError, match=r"shape \(3, 32, 32\) but the model expects \(3, 28, 28\)"):
        load_probe(path, Target((3, 28, 28)))
    with pytest.warns(EntkProbeWarning, match="normalised with"):
        load_probe(path, Target((3, 32, 32), Normalization((0.5,) * 3, (0.5,) * 3, "other")))
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    tensors["inputs"][0, 0, 0, 0] += 1.0  # one value changed, metadata kept
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ProbeError, match="sha256 .* differs from the recorded"):
        load_probe(path)
    with pytest.raises(UsageError, match="does not exist"):  # a path the user named: exit 2, like a missing report
        load_probe(tmp_path / "missing.safetensors")


@needs_sst2
@needs_text
def test_text_probe_files_round_trip_and_check_the_tokenizer(sst2_tokenizer: Path, tmp_path: Path) -> None:
    target = Target(None, text=TextTarget(sst2_tokenizer))
    probe = make_probe("sst2:20", target, data_root=SHARED)
    path = tmp_path / "text.safetensors"
    save_probe(probe, path)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        assert fh.get_tensor("inputs").dtype == torch.int64
    assert meta["format"] == TEXT_PROBE_FORMAT and json.loads(meta["input_keys"]) == list(probe.input_keys)
    assert meta["tokenizer"] == probe.tokenizer and json.loads(meta["max_length"]) == probe.max_length
    loaded = make_probe(f"file:{path}", target)
    assert loaded.inputs.dtype == torch.int64 and torch.equal(loaded.inputs, probe.inputs)
    assert (loaded.input_keys, loaded.tokenizer, loaded.max_length) == (probe.input_keys, probe.tokenizer, probe.max_length)
    assert loaded.sha256 == probe.sha256 and loaded.dataset == "sst2" and loaded.split == "validation"
    assert torch.equal(loaded.labels, probe.labels) and loaded.classes == ("negative", "positive")
    other = Path(shutil.copytree(sst2_tokenizer, tmp_path / "other"))
    (other / "tokenizer_config.json").write_text((other / "tokenizer_config.json").read_text().replace("128", "64"))
    ours = tokenizer_sha256(other)
    with pytest.raises(ProbeError, match=rf"tokenised by tokenizer {probe.tokenizer[:12]} but the run's tokenizer "
                                         rf"\(.*other\) is {ours[:12]}: export the probe with the run's tokenizer"):
        load_probe(path, Target(None, text=TextTarget(other)))
    with pytest.raises(ProbeError, match="a text probe .tokens. but the model takes images"):
        load_probe(path, CIFAR_TARGET)
    with pytest.raises(ProbeError, match=rf"texts of {probe.max_length} tokens but the model has 8 positions"):
        load_probe(path, Target(None, text=TextTarget(sst2_tokenizer, model_max_length=8)))
    with pytest.warns(EntkProbeWarning, match="is not checked against the model's; pass --tokenizer DIR"):
        load_probe(path, Target(None, text=TextTarget(None)))
    assert load_probe(path).is_text  # no model: nothing to check against


def test_an_image_probe_file_is_refused_for_a_language_model(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    path = tmp_path / "image.safetensors"
    save_probe(make_probe("cifar10:20", CIFAR_TARGET, data_root=tmp_path), path)
    with safe_open(str(path), framework="pt") as fh:
        assert fh.metadata()["format"] == PROBE_FORMAT and "input_keys" not in fh.metadata()
    with pytest.raises(ProbeError, match="an image probe but the model is a language model: export a text probe"):
        make_probe(f"file:{path}", Target(None, text=TextTarget(tmp_path)))


def test_a_text_probe_file_with_inconsistent_planes_is_corrupt(tmp_path: Path) -> None:
    from entk_probe.probes.preprocess import Normalization as Norm

    inputs = torch.ones((4, 2, 5), dtype=torch.int64)
    probe = Probe(spec="t", dataset="t", split="all", seed=0, inputs=inputs, labels=torch.zeros(4, dtype=torch.int64),
                  indices=torch.arange(4), classes=("a",), normalization=Norm(None, None, "text"), source="t",
                  sha256=tensor_sha256(inputs), input_keys=("input_ids", "token_type_ids"), tokenizer="0" * 64,
                  max_length=5)
    save_probe(probe, tmp_path / "bad.safetensors")
    with pytest.raises(ProbeError, match=r"int64 inputs \(N, K, L\) and K input_keys .* the file is corrupt"):
        load_probe(tmp_path / "bad.safetensors")
