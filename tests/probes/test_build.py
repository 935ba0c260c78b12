"""Building probes for a model: real CIFAR-10, image folders, Fashion-MNIST, normalisation, synthetic."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from entk_probe.errors import EntkProbeWarning, ProbeError, UsageError
from entk_probe.probes import Target, make_probe

from ..data import CIFAR_TARGET, CIFAR10, SHARED, fake_images, needs_cifar, needs_fashion, write_cifar10_python

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
    standard = make_probe("cifar10:20", Target((3, 32, 32)), data_root=tmp_path)  # the run records none
    assert standard.normalization.mean == (0.4914, 0.4822, 0.4465) and standard.normalization.std == (0.2470, 0.2435, 0.2616)
    assert standard.normalization.source.startswith("cifar10's standard normalisation: the run records none")
    mean, std = torch.tensor(standard.normalization.mean), torch.tensor(standard.normalization.std)
    torch.testing.assert_close(standard.inputs, (plain.inputs - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    custom = make_probe("cifar10:20", CIFAR_TARGET, data_root=tmp_path, normalize_override="0.5,0.5,0.5/0.5,0.5,0.5")
    torch.testing.assert_close(custom.inputs, plain.inputs * 2 - 1)
    with pytest.raises(ProbeError, match="channel"):
        make_probe("cifar10:20", Target((3, 32, 32)), data_root=tmp_path, normalize_override="mnist")
    with pytest.raises(ProbeError, match="3 channels and the model takes 2"):
        make_probe("cifar10:20", Target((2, 32, 32)), data_root=tmp_path)


def test_without_a_recorded_size_the_probe_keeps_its_own_and_converts_only_channels(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        native = make_probe("cifar10:20", Target(None, channels=3), data_root=tmp_path)
        grey = make_probe("cifar10:20", Target(None, channels=1), data_root=tmp_path, normalize_override="none")
    assert native.inputs.shape == (20, 3, 32, 32) and native.transforms == ()
    assert grey.inputs.shape == (20, 1, 32, 32) and "RGB -> grey" in " ".join(grey.transforms)
    assert not [w for w in caught if "resized" in str(w.message)]


def test_a_resize_says_from_what_to_what_and_why(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    with pytest.warns(EntkProbeWarning) as caught:
        make_probe("cifar10:20", Target((3, 64, 64), size_source="args.yaml input_size"), data_root=tmp_path)
    assert any("resized 32x32 -> 64x64 (bilinear, antialiased), as the model expects (3, 64, 64) (args.yaml input_size)"
               in str(w.message)
               for w in caught)


def test_the_default_count_is_capped_at_what_the_source_holds(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    with pytest.warns(EntkProbeWarning, match="room for a class-balanced probe of 40, fewer than the default N=500"):
        probe = make_probe("cifar10", CIFAR_TARGET, data_root=tmp_path)
    assert probe.n == 40


def test_synthetic_probes_are_seeded_and_marked() -> None:
    probe = make_probe("synthetic:5,seed=3", Target((3, 8, 8)))
    assert torch.equal(probe.inputs, torch.randn((5, 3, 8, 8), generator=torch.Generator().manual_seed(3)))
    assert probe.synthetic and probe.labels is None
    with pytest.raises(UsageError, match="input size"):
        make_probe("synthetic:5", Target(None))
    with pytest.raises(UsageError, match="at least 2"):
        make_probe("synthetic:1", Target((3, 8, 8)))
