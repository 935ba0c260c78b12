"""The compare table in the terminal."""

from __future__ import annotations

import io

from rich.console import Console

from entk_probe.output.comparetable import COLUMNS, render_compare
from entk_probe.output.comparison import Compared, compare_to_json

from .test_comparison import report, switch


def _text(rep: dict, width: int = 120) -> str:
    out = io.StringIO()
    render_compare(rep, Console(file=out, width=width, no_color=True))
    return out.getvalue()


def test_a_row_a_run_with_its_by_value_and_a_legend() -> None:
    runs = [Compared("slow", "slow", report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1), hyperparameters={"lr": 0.01},
                     switch=switch([(0.0, 0.5, 0.1), (2.0, 0.62, 0.6)], None)),
            Compared("fast", "fast", report([0, 1, 2, 3], [0, 50, 60, 61], boundary=2), hyperparameters={"lr": 0.2}),
            Compared("none", "none", report([0, 1, 2, 3], [0, 5, 6, 7], boundary=None, confidence=None))]
    text = _text(compare_to_json(runs, by="lr"))
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["run", "lr"]
    slow = next(line for line in lines if line.startswith("slow"))
    assert slow.split() == ["slow", "0.01", "two-phase-cone", "90%", "ep", "1", "40.0", "12.5", "35.0", "0.80",
                            ".20/.60", ".10/.30", "+0.020"]
    assert next(line for line in lines if line.startswith("none")).split()[3:5] == ["—", "—"]  # no conf, no boundary
    assert "no recorded lr: none" in text
    assert all(f"{name}:" in " ".join(lines) for name, _ in COLUMNS[1:])  # every column explained


def test_an_80_column_terminal_gets_a_column_a_run_and_a_crowd_folds_never_cuts() -> None:
    runs = [Compared(name, name, report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1), hyperparameters={"lr": lr})
            for name, lr in (("a-rather-long-run-name", 0.01), ("b", 0.1), ("c", 0.2))]
    lines = _text(compare_to_json(runs, by="lr"), width=80).splitlines()
    assert lines[1].split() == ["a-rather-long-run-name", "b", "c"] and lines[2].split() == ["lr", "0.01", "0.1", "0.2"]
    assert next(line for line in lines if line.startswith("verdict")).split()[1:] == ["two-phase-cone"] * 3
    crowd = [Compared(f"run{i:02d}", "x", report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1)) for i in range(12)]
    text = _text(compare_to_json(crowd), width=80)  # too many runs for a column each: a row each, folded
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80 and "run11" in text
