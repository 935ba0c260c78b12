"""Where the shared real data lives, and writers of small generated datasets in official layouts."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from entk_probe.probes import Target
from entk_probe.probes.preprocess import Normalization

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CIFAR10 = SHARED / "cifar10"
FASHION = Path("/usr/share/datasets/fashion-mnist")

needs_cifar = pytest.mark.skipif(
    not (CIFAR10 / "cifar-10-batches-py" / "test_batch").is_file(),
    reason=f"the real CIFAR-10 subset is not at {CIFAR10} (see ../shared/data/README.md)",
)
needs_fashion = pytest.mark.skipif(
    not (FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"real Fashion-MNIST is not at {FASHION} (Debian package dataset-fashion-mnist)",
)

CLASSES = [f"class{i}" for i in range(10)]


def fake_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random 32x32 RGB images as CIFAR rows (n, 3072), and labels cycling through 10 classes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), np.arange(n, dtype=np.int64) % 10


def write_cifar10_python(folder: Path, data: np.ndarray, labels: np.ndarray, batch: str = "test_batch") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / batch, "wb") as fh:
        pickle.dump({b"data": data, b"labels": labels.tolist(), b"batch_label": b"generated"}, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": len(labels)}, fh, protocol=2)


def write_cifar10_binary(folder: Path, data: np.ndarray, labels: np.ndarray, batch: str = "test_batch.bin") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    records = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
    (folder / batch).write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n")


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(folder / f"{prefix}-images-idx3-ubyte{suffix}", "wb") as fh:
        fh.write(b"\x00\x00\x08\x03" + struct.pack(">3I", *images.shape) + images.tobytes())
    with opener(folder / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as fh:
        fh.write(b"\x00\x00\x08\x01" + struct.pack(">I", len(labels)) + labels.astype(np.uint8).tobytes())


# A model that expects CIFAR-sized RGB inputs with CIFAR-10 normalisation.
CIFAR_TARGET = Target((3, 32, 32), Normalization((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "test model"))
