"""Atomic writes: the whole new file or the old one, and no temporary file left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from entk_probe.atomic import write_atomically, write_error_cause


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_write_replaces_the_file_and_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "k.txt"
    assert write_atomically(target, lambda tmp: tmp.write_text("new")) == target
    assert target.read_text() == "new" and [p.name for p in target.parent.iterdir()] == ["k.txt"]


def test_write_error_cause_prefers_the_os_message_and_keeps_one_line() -> None:
    assert write_error_cause(PermissionError(13, "Permission denied", "/x")) == "Permission denied"
    assert write_error_cause(RuntimeError("first line\nsecond line")) == "first line"
    assert write_error_cause(OSError()) == "OSError"


def test_a_file_where_a_folder_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("a file")
    for target in (tmp_path / "afile" / "x.json", tmp_path / "afile" / "deeper" / "x.json"):
        try:
            write_atomically(target, lambda tmp: tmp.write_text("{}"))
        except OSError as exc:
            assert write_error_cause(exc) == f"{tmp_path / 'afile'} is a file, not a folder"
        else:
            raise AssertionError("the write went through a file")
