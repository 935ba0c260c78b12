"""Dataset readers for probe sets: the official on-disk layouts, read exactly, no network.

- CIFAR-10 and CIFAR-100, python release (pickled batches, read through an unpickler that admits
  only the numpy and bytes constructors those files hold) and binary release (fixed-size
  records). The record count is taken from each file, never assumed.
- MNIST and Fashion-MNIST in IDX format, gzipped or not (torchvision's ``MNIST/raw`` and
  ``FashionMNIST/raw`` layouts, or a plain folder; Debian's dataset-fashion-mnist package
  installs the real Fashion-MNIST under ``/usr/share/datasets/fashion-mnist``).
- An image folder ``<class>/<image>``, decoded with Pillow, classes in name order.

These readers are entk-probe's own rather than torchvision's datasets: torchvision's CIFAR
classes unpickle the batches with plain ``pickle`` (code in a crafted file would run) and reject
files whose MD5 is not the official one (the project's real CIFAR-10 subsets hold 1,000 and 4,000
records), read no binary CIFAR release, and its MNIST classes need their own folder layout;
each reader here is some 30 lines.

Each reader returns a ``Split``: the labels of every record, and a function that decodes the
records a probe selects as uint8 images (H, W, C).
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetNotFound, ProbeError, UsageError

Images = list[np.ndarray]  # each (H, W, C) uint8


@dataclass(frozen=True)
class Split:
    """One split of a labelled dataset; images are decoded only for the records asked for."""

    dataset: str
    split: str
    source: str  # what was read, for the report
    labels: np.ndarray  # (M,) int64, one per record in the split's official order
    classes: tuple[str, ...]
    load: Callable[[np.ndarray], Images]  # record positions (n,) -> n images (H, W, C) uint8


def default_roots(data_root: Path | None = None) -> list[Path]:
    """Where datasets are looked for: ``data_root``, else ENTK_PROBE_DATA, else ./data and the cache."""
    if data_root is not None:
        return [Path(data_root)]
    if os.environ.get("ENTK_PROBE_DATA"):
        return [Path(p) for p in os.environ["ENTK_PROBE_DATA"].split(os.pathsep) if p]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "entk-probe"
    return [Path("data"), cache]


# ------------------------------------------------------------------------------------ CIFAR

CIFAR = {
    "cifar10": {
        "python": ("cifar-10-batches-py", {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}),
        "binary": ("cifar-10-batches-bin", {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}),
    },
    "cifar100": {
        "python": ("cifar-100-python", {"train": ["train"], "test": ["test"]}),
        "binary": ("cifar-100-binary", {"train": ["train.bin"], "test": ["test.bin"]}),
    },
}
_CIFAR_IMAGE_BYTES = 3 * 32 * 32


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what the CIFAR python batches hold: numpy arrays, dtypes, and bytes."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}: a CIFAR batch holds no such object")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct, wherever it lives
        if module == "_codecs":
            import codecs

            return codecs.encode
        return getattr(np, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _CifarUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ProbeError(f"{path}: not a readable CIFAR python batch ({exc}); the file may be corrupt or truncated") from None
    if not isinstance(obj, dict):
        raise ProbeError(f"{path}: not a CIFAR python batch (holds a {type(obj).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_python(folder: Path, name: str, files: list[Path]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    label_key = "labels" if name == "cifar10" else "fine_labels"
    datas, labels = [], []
    for path in files:
        batch = _unpickle(path)
        data, lab = batch.get("data"), batch.get(label_key)
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != _CIFAR_IMAGE_BYTES or lab is None:
            raise ProbeError(f"{path}: not a CIFAR python batch (no {_CIFAR_IMAGE_BYTES}-byte 'data' rows and '{label_key}')")
        if len(lab) != data.shape[0]:
            raise ProbeError(f"{path}: {data.shape[0]} images but {len(lab)} labels; the file is corrupt")
        datas.append(np.asarray(data, dtype=np.uint8))
        labels.append(np.asarray(lab, dtype=np.int64))
    meta = _unpickle(folder / ("batches.meta" if name == "cifar10" else "meta"))
    names = meta.get("label_names" if name == "cifar10" else "fine_label_names")
    if names is None:
        raise ProbeError(f"{folder}: the meta file holds no class names")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return np.concatenate(datas), np.concatenate(labels), classes


def _cifar_binary(folder: Path, name: str, files: list[Path]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    label_bytes = 1 if name == "cifar10" else 2  # CIFAR-100 records: coarse label, fine label
    record = label_bytes + _CIFAR_IMAGE_BYTES
    datas, labels = [], []
    for path in files:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % record:
            raise ProbeError(
                f"{path}: {raw.size} bytes is not a whole number of {record}-byte records; the file is truncated or corrupt"
            )
        rows = raw.reshape(-1, record)
        labels.append(rows[:, label_bytes - 1].astype(np.int64))
        datas.append(rows[:, label_bytes:])
    meta = folder / ("batches.meta.txt" if name == "cifar10" else "fine_label_names.txt")
    if not meta.is_file():
        raise ProbeError(f"{folder}: {meta.name} (the class names) is missing")
    classes = tuple(line.strip() for line in meta.read_text().splitlines() if line.strip())
    return np.concatenate(datas), np.concatenate(labels), classes


def _present_files(folder: Path, names: list[str]) -> list[Path]:
    """The split's files in order; a gap (a later batch without an earlier one) is an error."""
    present = [folder / n for n in names if (folder / n).is_file()]
    if present and present != [folder / n for n in names[: len(present)]]:
        missing = [n for n in names[: names.index(present[-1].name)] if not (folder / n).is_file()]
        raise ProbeError(f"{folder}: {', '.join(missing)} missing while later batches exist; record positions would shift")
    return present


def read_cifar(name: str, split: str, roots: Sequence[Path], layout: str | None = None) -> Split:
    """CIFAR-10 or CIFAR-100 from the first root holding either official layout."""
    layouts = [layout] if layout else ["python", "binary"]
    looked = []
    for root in roots:
        for kind in layouts:
            folder_name, splits = CIFAR[name][kind]
            for folder in (root / folder_name, root / name / folder_name):
                looked.append(str(folder))
                files = _present_files(folder, splits[split]) if folder.is_dir() else []
                if not files:
                    continue
                reader = _cifar_python if kind == "python" else _cifar_binary
                data, labels, classes = reader(folder, name, files)
                if labels.min() < 0 or labels.max() >= len(classes):
                    raise ProbeError(f"{folder}: labels outside 0..{len(classes) - 1}; the files are corrupt")
                images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (M, 32, 32, 3)
                source = f"{folder} ({kind} layout: {', '.join(f.name for f in files)}, {len(labels)} records)"
                return Split(name, split, source, labels, classes, lambda idx, im=images: list(im[idx]))
    raise DatasetNotFound(name, looked)


# -------------------------------------------------------------------------------------- IDX

IDX = {
    "mnist": {"folders": ("MNIST/raw", "mnist", "MNIST"), "classes": tuple("0123456789")},
    "fashion-mnist": {
        "folders": ("FashionMNIST/raw", "fashion-mnist", "FashionMNIST", "/usr/share/datasets/fashion-mnist"),
        "classes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    },
}
_IDX_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(path: Path, dims: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ProbeError(f"{path}: not readable ({exc}); the file may be corrupt or truncated") from None
    if len(raw) < 4 + 4 * dims or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != dims:
        raise ProbeError(f"{path}: not an IDX file of unsigned bytes with {dims} dimension(s)")
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ProbeError(f"{path}: header says {shape} but the file holds {body.size} bytes of data; truncated or corrupt")
    return body.reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(name: str, split: str, roots: Sequence[Path]) -> Split:
    """MNIST or Fashion-MNIST from the first folder holding both IDX files of the split."""
    prefix = _IDX_PREFIX[split]
    looked = []
    folders = [root / f for root in roots for f in IDX[name]["folders"] if not f.startswith("/")]
    folders += [Path(f) for f in IDX[name]["folders"] if f.startswith("/")]
    for folder in folders:
        looked.append(str(folder))
        images_path = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
        labels_path = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
        if images_path is None or labels_path is None:
            continue
        images, labels = _read_idx(images_path, 3), _read_idx(labels_path, 1).astype(np.int64)
        if len(images) != len(labels):
            raise ProbeError(f"{folder}: {len(images)} images but {len(labels)} labels")
        classes = IDX[name]["classes"]
        if labels.max() >= len(classes):
            raise ProbeError(f"{labels_path}: labels outside 0..{len(classes) - 1}")
        source = f"{folder} (IDX: {images_path.name}, {labels_path.name}, {len(labels)} records)"
        return Split(name, split, source, labels, classes, lambda idx, im=images: [im[i][:, :, None] for i in idx])
    raise DatasetNotFound(name, looked)


# ------------------------------------------------------------------------------ image folder

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def read_image_folder(path: Path) -> Split:
    """Images in ``path/<class>/<image>``: classes in name order, images in name order within each."""
    from PIL import Image, UnidentifiedImageError  # a declared dependency; imported only for image folders

    if not path.is_dir():
        raise ProbeError(f"image folder {path} does not exist")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir())
    files: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        found = sorted(p for p in (path / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [label] * len(found)
    if not files:
        raise ProbeError(f"image folder {path} holds no <class>/<image> files ({', '.join(IMAGE_SUFFIXES)})")

    def load(indices: np.ndarray) -> Images:
        out = []
        for i in indices:
            try:
                with Image.open(files[i]) as img:
                    img = img.convert("L" if img.mode in ("L", "I;16", "I", "1") else "RGB")
                    array = np.asarray(img, dtype=np.uint8)
            except (OSError, UnidentifiedImageError) as exc:
                raise ProbeError(f"{files[i]}: not a readable image ({exc})") from None
            out.append(array[:, :, None] if array.ndim == 2 else array)
        return out

    source = f"{path} (image folder, {len(classes)} classes, {len(files)} images)"
    return Split("imagefolder", "all", source, np.asarray(labels, dtype=np.int64), tuple(classes), load)


def check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise UsageError(f"split must be train or test, not {split!r}")
    return split
