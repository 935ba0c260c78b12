"""The switch report: JSON keys, the table, the plot."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from entk_probe.output.switchreport import plot_switch, render_switch, switch_figure, switch_header, switch_table, switch_to_json
from entk_probe.pipeline.switch import SwitchReport, SwitchResult
from entk_probe.pipeline.training import Optimiser


def _report() -> dict:
    probe = SimpleNamespace(spec="cifar10:100", n=100, sha256="ab" * 32, dataset="cifar10", split="test")
    results = [SwitchResult(0.0, "ckpt-0.pth", kind, acc, 1.0, 0.1) for kind, acc in (("standard", 0.5), ("linearized", 0.3))]
    results += [SwitchResult(2.0, "ckpt-2.pth", kind, acc, 0.8, 0.1) for kind, acc in (("standard", 0.6), ("linearized", 0.58))]
    report = SwitchReport(Path("runs/x"), "epoch", {"index": 1, "time": 1.0}, Optimiser(0.1, 0.9, 5e-4, 128, (("lr", "the flag"),)),
                          2.0, probe, probe, results)  # type: ignore[arg-type]
    return switch_to_json(report)


def test_json_has_the_results_with_their_keys_and_fits_its_closed_schema() -> None:
    import json

    import jsonschema

    from tests.helpers import REPO

    report = _report()
    schema = json.loads((REPO / "entk_probe" / "output" / "schema" / "switch.schema.json").read_text())
    jsonschema.validate(report, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**report, "extra": 1}, schema)
    assert report["kind"] == "switch" and report["switch"]["optimiser"]["from"] == {"lr": "the flag"}
    assert {tuple(sorted(r)) for r in report["switch"]["results"]} == {
        ("accuracy", "at_epoch", "checkpoint", "kind", "loss", "seconds")}
    assert [r["kind"] for r in report["switch"]["results"]] == ["standard", "linearized"] * 2


def test_the_table_has_a_row_a_switch_point_with_the_gap() -> None:
    console = Console(file=io.StringIO(), width=120)
    render_switch(_report(), console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "+0.200" in text and "+0.020" in text and " II " in text and "BatchNorm running statistics frozen" in text


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    plot_switch(_report(), tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_header_table_and_figure_are_the_pieces_of_both_reports() -> None:
    report = _report()
    assert switch_header(report)[0].endswith("switch · run runs/x") and "N=100" in switch_header(report)[1]
    headers, rows = switch_table(report)
    assert headers[:3] == ["at epoch", "checkpoint", "ph"] and [row[1:3] for row in rows] == [["ckpt-0", "I"], ["ckpt-2", "II"]]
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    fig = switch_figure(report)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["standard", "linearised", "end of Phase I"]
