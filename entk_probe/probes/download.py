"""``--download``: fetch an official CIFAR archive, check its published MD5, extract it atomically.

The archive is written to a temporary file in the data root, checked against the MD5 the CIFAR
page publishes, and extracted into a temporary folder there (members outside the archive's own
folder, links and devices are refused); only then is the extracted folder renamed into place.
An interrupted or corrupt download therefore leaves nothing that a later run could mistake for
the dataset.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProbeError


@dataclass(frozen=True)
class Archive:
    url: str
    md5: str  # as published on https://www.cs.toronto.edu/~kriz/cifar.html
    folder: str  # the top-level folder inside the archive


ARCHIVES = {
    ("cifar10", "python"): Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                                   "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"),
    ("cifar10", "binary"): Archive("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                                   "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin"),
    ("cifar100", "python"): Archive("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                                    "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python"),
    ("cifar100", "binary"): Archive("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                                    "03b5dce01913d631647c71ecec9e9cb8", "cifar-100-binary"),
}


def _safe_members(tar: tarfile.TarFile, folder: str) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if not parts or parts[0] != folder or ".." in parts or Path(m.name).is_absolute():
            raise ProbeError(f"the archive holds {m.name!r}, outside its folder {folder}/: refused")
        if not (m.isfile() or m.isdir()):
            raise ProbeError(f"the archive holds {m.name!r}, which is not a plain file: refused")
    return members


def fetch(archive: Archive, root: Path, *, timeout: float = 60.0) -> Path:
    """Download ``archive`` into ``root`` (if its folder is not there yet); the extracted folder."""
    target = root / archive.folder
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".entk-probe-download-", dir=root) as tmp:
        tarball = Path(tmp) / "archive.tar.gz"
        digest = hashlib.md5()
        try:
            with urllib.request.urlopen(archive.url, timeout=timeout) as response, open(tarball, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        except (urllib.error.URLError, OSError) as exc:
            raise ProbeError(f"download of {archive.url} failed: {exc}") from None
        if digest.hexdigest() != archive.md5:
            raise ProbeError(
                f"{archive.url}: MD5 {digest.hexdigest()} is not the published {archive.md5}; the download "
                "is corrupt or not the official archive, and was discarded"
            )
        extracted = Path(tmp) / "extracted"
        try:
            with tarfile.open(tarball, "r:gz") as tar:
                tar.extractall(extracted, members=_safe_members(tar, archive.folder))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ProbeError(f"{archive.url}: not a readable tar.gz archive ({exc})") from None
        try:
            (extracted / archive.folder).rename(target)
        except OSError:
            if not target.is_dir():  # another process finished first: keep theirs
                raise
    return target


def download_cifar(name: str, layout: str, root: Path) -> Path:
    """Fetch the official ``name`` ("cifar10"/"cifar100") archive in ``layout`` into ``root``."""
    return fetch(ARCHIVES[(name, layout)], root)

