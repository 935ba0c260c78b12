"""Dataset readers on the real CIFAR-10 subset and Fashion-MNIST, and on generated edge cases."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from entk_probe.errors import DatasetNotFound, ProbeError
from entk_probe.probes.datasets import read_cifar, read_idx, read_image_folder

from ..data import (
    CIFAR10,
    CLASSES,
    fake_images,
    needs_cifar,
    needs_fashion,
    write_cifar10_binary,
    write_cifar10_python,
    write_idx,
)

CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@needs_cifar
@pytest.mark.parametrize("split,count,first", [("test", 1000, [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]),
                                               ("train", 4000, [6, 9, 9, 4, 1, 1, 2, 7, 8, 3])])
def test_python_and_binary_layouts_give_identical_records(split: str, count: int, first: list[int]) -> None:
    py = read_cifar("cifar10", split, [CIFAR10.parent], "python")
    binary = read_cifar("cifar10", split, [CIFAR10.parent], "binary")
    assert len(py.labels) == len(binary.labels) == count  # the record count comes from the files
    assert py.labels[:10].tolist() == first  # the official order (../shared/data/README.md)
    assert np.array_equal(py.labels, binary.labels)
    everything = np.arange(count)
    assert np.array_equal(np.stack(py.load(everything)), np.stack(binary.load(everything)))
    assert py.classes == binary.classes == CIFAR_NAMES
    assert py.load(np.array([0]))[0].shape == (32, 32, 3)


@needs_cifar
def test_per_class_counts_of_the_test_subset() -> None:
    labels = read_cifar("cifar10", "test", [CIFAR10.parent]).labels
    assert np.bincount(labels).tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]


@needs_cifar
def test_image_folder_on_test_jpeg_matches_the_lossless_batches() -> None:
    folder = read_image_folder(CIFAR10 / "test-jpeg")
    assert folder.classes == CIFAR_NAMES and len(folder.labels) == 10_000
    assert np.bincount(folder.labels).tolist() == [1000] * 10
    lossless = read_cifar("cifar10", "test", [CIFAR10.parent])
    # test-jpeg/<class>/NNNN.jpg is the NNNN-th image of that class in official test order
    for cls in (0, 5, 9):
        first_positions = np.flatnonzero(lossless.labels == cls)[:3]
        jpeg_positions = np.flatnonzero(folder.labels == cls)[:3]
        for jpeg, exact in zip(folder.load(jpeg_positions), lossless.load(first_positions)):
            error = np.abs(jpeg.astype(float) - exact.astype(float)).mean()
            assert error < 15, f"class {cls}: mean abs pixel error {error:.1f}: not the same image"


@needs_fashion
def test_real_fashion_mnist_from_the_debian_package() -> None:
    test = read_idx("fashion-mnist", "test", [])
    assert len(test.labels) == 10_000 and np.bincount(test.labels).tolist() == [1000] * 10
    assert test.load(np.array([0]))[0].shape == (28, 28, 1)
    assert test.classes[0] == "T-shirt/top" and test.labels[:5].tolist() == [9, 2, 1, 1, 6]


def test_generated_layouts_and_record_counts(tmp_path: Path) -> None:
    data, labels = fake_images(37)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    write_cifar10_binary(tmp_path / "cifar-10-batches-bin", data, labels)
    py, binary = (read_cifar("cifar10", "test", [tmp_path], layout) for layout in ("python", "binary"))
    assert len(py.labels) == 37 and np.array_equal(py.labels, binary.labels)
    expected = data[5].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(py.load(np.array([5]))[0], expected) and np.array_equal(binary.load(np.array([5]))[0], expected)
    assert py.classes == tuple(CLASSES)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_gzipped_or_not(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = np.arange(12) % 10
    write_idx(tmp_path / "MNIST" / "raw", "t10k", images, labels, gz)
    split = read_idx("mnist", "test", [tmp_path])
    assert split.labels.tolist() == labels.tolist()
    assert np.array_equal(split.load(np.array([3]))[0][:, :, 0], images[3])


def test_truncated_and_corrupt_files_are_errors_naming_them(tmp_path: Path) -> None:
    data, labels = fake_images(10)
    write_cifar10_binary(tmp_path / "cifar-10-batches-bin", data, labels)
    batch = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(ProbeError, match=r"test_batch\.bin.*not a whole number of 3073-byte records"):
        read_cifar("cifar10", "test", [tmp_path], "binary")
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    py_batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    py_batch.write_bytes(py_batch.read_bytes()[:500])
    with pytest.raises(ProbeError, match="test_batch: not a readable CIFAR python batch"):
        read_cifar("cifar10", "test", [tmp_path], "python")
    write_idx(tmp_path / "mnist", "t10k", np.zeros((5, 28, 28), np.uint8), np.zeros(5), gz=False)
    images = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(ProbeError, match="header says .* truncated or corrupt"):
        read_idx("mnist", "test", [tmp_path])


def test_the_python_reader_runs_no_code(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple:
            import os

            return (os.system, (f"touch {marker}",))

    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": Payload(), b"labels": [0]}, fh, protocol=2)
    with pytest.raises(ProbeError, match="refused posix.system|refused os.system"):
        read_cifar("cifar10", "test", [tmp_path], "python")
    assert not marker.exists()


def test_not_found_lists_every_place_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match=r"cifar10 not found; looked in .*cifar-10-batches-py.*--download.*--data-root"):
        read_cifar("cifar10", "test", [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(DatasetNotFound, match="mnist not found.*MNIST/raw"):
        read_idx("mnist", "test", [tmp_path])


def test_image_folder_grey_and_rgb(tmp_path: Path) -> None:
    for cls, mode in (("cats", "RGB"), ("dogs", "L")):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new(mode, (5, 4), color=(10 * i, 20, 30) if mode == "RGB" else 40 + i).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    split = read_image_folder(tmp_path)
    assert split.classes == ("cats", "dogs") and split.labels.tolist() == [0, 0, 1, 1]
    rgb, grey = split.load(np.array([1, 3]))
    assert rgb.shape == (4, 5, 3) and rgb[0, 0].tolist() == [10, 20, 30]
    assert grey.shape == (4, 5, 1) and grey[0, 0, 0] == 41
    (tmp_path / "dogs" / "2.png").write_bytes(b"broken")
    with pytest.raises(ProbeError, match=r"2\.png: not a readable image"):
        read_image_folder(tmp_path).load(np.array([4]))


def test_cifar100_python_and_binary_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(30, 3072), dtype=np.uint8)
    fine, coarse = np.arange(30) % 100, np.arange(30) % 20
    names = [f"fine{i}" for i in range(100)]
    py = tmp_path / "cifar-100-python"
    py.mkdir()
    with open(py / "test", "wb") as fh:
        pickle.dump({b"data": data, b"fine_labels": fine.tolist(), b"coarse_labels": coarse.tolist()}, fh, protocol=2)
    with open(py / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [n.encode() for n in names]}, fh, protocol=2)
    binary = tmp_path / "cifar-100-binary"
    binary.mkdir()
    records = np.concatenate([coarse.astype(np.uint8)[:, None], fine.astype(np.uint8)[:, None], data], axis=1)
    (binary / "test.bin").write_bytes(records.tobytes())
    (binary / "fine_label_names.txt").write_text("\n".join(names) + "\n")
    a, b = (read_cifar("cifar100", "test", [tmp_path], layout) for layout in ("python", "binary"))
    assert a.labels.tolist() == b.labels.tolist() == fine.tolist()  # the fine labels, not the coarse ones
    assert a.classes == b.classes == tuple(names)
    assert np.array_equal(a.load(np.array([7]))[0], data[7].reshape(3, 32, 32).transpose(1, 2, 0))
    assert np.array_equal(b.load(np.array([7]))[0], a.load(np.array([7]))[0])
