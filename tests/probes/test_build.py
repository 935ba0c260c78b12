"""Probe specs, balanced reproducible selection, preprocessing for the model, probe files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from entk_probe.errors import ProbeError
from entk_probe.probes.datasets import Split
from entk_probe.errors import EntkProbeWarning, UsageError
from entk_probe.probes.preprocess import Normalization
from entk_probe.probes.build import (
    SPEC_GRAMMAR,
    Target,
    available_probes,
    balanced_indices,
    load_probe,
    make_probe,
    parse_spec,
    register_probe,
    save_probe,
)

from ..data import CIFAR10, SHARED, fake_images, needs_cifar, needs_fashion, write_cifar10_python

CIFAR_TARGET = Target((3, 32, 32), Normalization((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "test model"))


def test_spec_grammar() -> None:
    spec = parse_spec("cifar10:500,split=train,seed=1")
    assert (spec.name, spec.n, spec.options) == ("cifar10", 500, {"split": "train", "seed": "1"})
    assert parse_spec("imagefolder:data/pets:200").path == Path("data/pets")
    assert parse_spec("imagefolder:data/pets:200").n == 200
    assert parse_spec("imagefolder:/x/y").n is None
    assert parse_spec("file:probe.safetensors").path == Path("probe.safetensors")
    assert parse_spec("synthetic").n is None


@pytest.mark.parametrize("text", ["", ":500", "cifar10:5x", "cifar10:500,split", "file:", "file:p.safetensors:3", "10:cifar"])
def test_malformed_specs_are_usage_errors_showing_the_grammar(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_spec(text)
    assert SPEC_GRAMMAR in str(info.value) and info.value.exit_code == 2


def test_balanced_selection_counts_and_stability() -> None:
    labels = np.arange(1000) % 10
    classes = tuple(str(i) for i in range(10))
    chosen = balanced_indices(labels, 53, 0, dataset="d", split="test", classes=classes)
    assert np.bincount(labels[chosen]).tolist() == [6, 6, 6, 5, 5, 5, 5, 5, 5, 5]  # remainder to the first classes
    assert len(set(chosen.tolist())) == 53
    assert np.array_equal(chosen, balanced_indices(labels, 53, 0, dataset="d", split="test", classes=classes))
    assert not np.array_equal(chosen, balanced_indices(labels, 53, 1, dataset="d", split="test", classes=classes))
    # the rule itself, recomputed independently: smallest sha256 keys within each class
    zeros = sorted(np.flatnonzero(labels == 0).tolist(), key=lambda p: hashlib.sha256(f"0:d:test:{p}".encode()).digest())[:6]
    assert sorted(zeros) == chosen[:6].tolist()


def test_selection_errors() -> None:
    labels = np.array([0] * 5 + [1] * 20)
    with pytest.raises(ProbeError, match="N=30 is more than the 25 records"):
        balanced_indices(labels, 30, 0, dataset="d", split="test", classes=("a", "b"))
    with pytest.raises(ProbeError, match="smaller than the number of classes"):
        balanced_indices(labels, 1, 0, dataset="d", split="test", classes=("a", "b"))
    with pytest.raises(ProbeError, match="class 'a' has 5 records .*choose N <= 10"):
        balanced_indices(labels, 20, 0, dataset="d", split="test", classes=("a", "b"))


@needs_cifar
def test_cifar10_probe_on_the_real_subset() -> None:
    probe = make_probe("cifar10:50", CIFAR_TARGET, data_root=SHARED)
    assert probe.inputs.shape == (50, 3, 32, 32) and probe.inputs.dtype == torch.float32
    assert np.bincount(probe.labels.numpy()).tolist() == [5] * 10
    assert probe.labels.tolist() == sorted(probe.labels.tolist())  # ordered by class
    again = make_probe("cifar10:50,layout=binary", CIFAR_TARGET, data_root=SHARED)
    assert torch.equal(probe.inputs, again.inputs) and probe.sha256 == again.sha256
    assert probe.sha256 == hashlib.sha256(probe.inputs.numpy().tobytes()).hexdigest()
    # the inputs are the recorded records, normalised with the stated constants
    import pickle

    with open(CIFAR10 / "cifar-10-batches-py" / "test_batch", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    i = int(probe.indices[7])
    image = torch.tensor(raw[b"data"][i], dtype=torch.float32).view(3, 32, 32) / 255
    mean, std = torch.tensor(CIFAR_TARGET.normalization.mean).view(3, 1, 1), torch.tensor(CIFAR_TARGET.normalization.std).view(3, 1, 1)
    torch.testing.assert_close(probe.inputs[7], (image - mean) / std)
    assert raw[b"labels"][i] == probe.labels[7]
    train = make_probe("cifar10:50,split=train,seed=3", CIFAR_TARGET, data_root=SHARED)
    assert train.split == "train" and train.seed == 3 and int(train.indices.max()) < 4000


@needs_cifar
def test_image_folder_probe_has_the_same_classes() -> None:
    probe = make_probe(f"imagefolder:{CIFAR10 / 'test-jpeg'}:20", CIFAR_TARGET)
    assert probe.classes[3] == "cat" and np.bincount(probe.labels.numpy()).tolist() == [2] * 10


@needs_fashion
def test_fashion_mnist_for_an_rgb_32px_model_converts_and_says_so() -> None:
    with pytest.warns(EntkProbeWarning) as caught:
        probe = make_probe("fashion-mnist:20", CIFAR_TARGET)
    texts = " ".join(str(w.message) for w in caught)
    assert "grey -> RGB" in texts and "resized 28x28 -> 32x32" in texts
    assert probe.inputs.shape == (20, 3, 32, 32) and len(probe.transforms) == 2


def test_generated_cifar_probe_normalisation_choices(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    plain = make_probe("cifar10:20", CIFAR_TARGET, data_root=tmp_path, normalize_override="none")
    assert plain.normalization.mean is None and float(plain.inputs.min()) >= 0 and float(plain.inputs.max()) <= 1
    with pytest.warns(EntkProbeWarning, match="no normalisation is known"):
        make_probe("cifar10:20", Target((3, 32, 32)), data_root=tmp_path)
    custom = make_probe("cifar10:20", CIFAR_TARGET, data_root=tmp_path, normalize_override="0.5,0.5,0.5/0.5,0.5,0.5")
    torch.testing.assert_close(custom.inputs, plain.inputs * 2 - 1)
    with pytest.raises(ProbeError, match="channel"):
        make_probe("cifar10:20", Target((3, 32, 32)), data_root=tmp_path, normalize_override="mnist")
    with pytest.raises(ProbeError, match="3 channels and the model takes 2"):
        make_probe("cifar10:20", Target((2, 32, 32)), data_root=tmp_path)


def test_spec_option_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="colour"):
        make_probe("cifar10:20,colour=red", CIFAR_TARGET, data_root=tmp_path)
    with pytest.raises(UsageError, match="split must be train or test"):
        make_probe("cifar10:20,split=val", CIFAR_TARGET, data_root=tmp_path)
    with pytest.raises(UsageError, match="unknown probe 'imagenet'"):
        make_probe("imagenet:20", CIFAR_TARGET)
    with pytest.raises(UsageError, match="--download fetches CIFAR"):
        make_probe("mnist:20", CIFAR_TARGET, download=True, data_root=tmp_path)


def test_synthetic_probes_are_seeded_and_marked() -> None:
    probe = make_probe("synthetic:5,seed=3", Target((3, 8, 8)))
    assert torch.equal(probe.inputs, torch.randn((5, 3, 8, 8), generator=torch.Generator().manual_seed(3)))
    assert probe.synthetic and probe.labels is None
    with pytest.raises(UsageError, match="input size"):
        make_probe("synthetic:5", Target(None))
    with pytest.raises(UsageError, match="at least 2"):
        make_probe("synthetic:1", Target((3, 8, 8)))


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


def test_plugins_register_probes() -> None:
    @register_probe("stripes_for_test")
    def stripes(split: str, options: dict) -> Split:
        width = int(options.get("width", 4))
        labels = np.arange(12) % 3
        return Split("stripes", split, "generated", labels, ("a", "b", "c"),
                     lambda idx: [np.full((width, width, 1), 20 * i, np.uint8) for i in idx])

    probe = make_probe("stripes_for_test:6,width=8", Target((1, 8, 8), Normalization((0.0,), (1.0,), "t")))
    assert probe.inputs.shape == (6, 1, 8, 8) and np.bincount(probe.labels.numpy()).tolist() == [2, 2, 2]
    assert ("stripes_for_test", f"module {__name__}") in available_probes()
    with pytest.raises(ProbeError, match="'cifar10' is claimed twice: by entk-probe"):
        register_probe("cifar10")(stripes)
