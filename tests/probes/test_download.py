"""--download: a local HTTP server on 127.0.0.1 serves an archive the test builds."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from entk_probe.errors import ProbeError
from entk_probe.probes.datasets import read_cifar
from entk_probe.probes.download import ARCHIVES, Archive, fetch

from ..data import fake_images, write_cifar10_python


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving files from a folder; yields (base URL, folder)."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def _cifar_archive(tmp_path: Path, extra: str | None = None) -> bytes:
    source = tmp_path / "source"
    data, labels = fake_images(20)
    write_cifar10_python(source / "cifar-10-batches-py", data, labels)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        if extra is not None:
            info = tarfile.TarInfo(extra)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def test_download_checks_the_md5_and_extracts_into_place(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, served = server
    payload = _cifar_archive(tmp_path)
    (served / "cifar-10-python.tar.gz").write_bytes(payload)
    root = tmp_path / "data"
    archive = Archive(f"{base}/cifar-10-python.tar.gz", hashlib.md5(payload).hexdigest(), "cifar-10-batches-py")
    folder = fetch(archive, root)
    assert folder == root / "cifar-10-batches-py"
    assert len(read_cifar("cifar10", "test", [root]).labels) == 20
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"], "no temporary files may be left"
    (served / "cifar-10-python.tar.gz").unlink()
    assert fetch(archive, root) == folder  # present: nothing is fetched again


def test_a_wrong_checksum_leaves_nothing_behind(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, served = server
    (served / "a.tar.gz").write_bytes(_cifar_archive(tmp_path))
    root = tmp_path / "data"
    with pytest.raises(ProbeError, match="is not the published 0+; the download is corrupt"):
        fetch(Archive(f"{base}/a.tar.gz", "0" * 32, "cifar-10-batches-py"), root)
    assert list(root.iterdir()) == []


def test_archive_members_outside_the_folder_are_refused(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, served = server
    payload = _cifar_archive(tmp_path, extra="../escape.txt")
    (served / "evil.tar.gz").write_bytes(payload)
    root = tmp_path / "data"
    with pytest.raises(ProbeError, match="escape.txt.*refused"):
        fetch(Archive(f"{base}/evil.tar.gz", hashlib.md5(payload).hexdigest(), "cifar-10-batches-py"), root)
    assert not (tmp_path / "escape.txt").exists() and list(root.iterdir()) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="download of http://127.0.0.1:9/x.tar.gz failed"):
        fetch(Archive("http://127.0.0.1:9/x.tar.gz", "0" * 32, "x"), tmp_path)


def test_official_archives_are_the_published_ones() -> None:
    assert ARCHIVES[("cifar10", "python")].md5 == "c58f30108f718f92721af3b95e74349a"
    assert ARCHIVES[("cifar10", "python")].url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert ARCHIVES[("cifar100", "python")].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
