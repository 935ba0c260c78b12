"""write_all: every output is attempted, each failure is one line naming the output, path and cause."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from entk_probe.atomic import write_atomically
from entk_probe.output.writes import write_all


def test_a_failed_write_does_not_stop_the_others_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    blocked = tmp_path / "a-directory"
    blocked.mkdir()
    good = tmp_path / "plot.txt"
    failures = write_all([
        ("JSON report", blocked, lambda: write_atomically(blocked, lambda tmp: tmp.write_text("{}"))),
        ("plot", good, lambda: write_atomically(good, lambda tmp: tmp.write_text("ok"))),
    ])
    assert good.read_text() == "ok"
    assert len(failures) == 1 and failures[0].startswith(f"could not write the JSON report {blocked} (")
    assert "\n" not in failures[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory", "plot.txt"]


def test_safetensors_write_errors_are_reported_not_raised(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "k.safetensors"  # save_file does not create folders
    failures = write_all([("kernel file", target, lambda: save_file({"k": torch.zeros(2)}, str(target)))])
    assert len(failures) == 1 and str(target) in failures[0]


def test_nothing_to_write_is_no_failure() -> None:
    assert write_all([]) == []
