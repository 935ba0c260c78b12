"""The compare report in the terminal: one row a run, grouped by the ``--by`` hyperparameter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


# (header, what it shows): the legend printed under the table; docs/definitions.md has the definitions.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "the run folder or report"),
    ("verdict", "the verdict (where uncertain, the full probe's in brackets)"),
    ("conf", "share of probe resamples that agree with the full probe's verdict"),
    ("boundary", "time of the last Phase I checkpoint (the JSON and HTML name the rule that placed it)"),
    ("PI°", "Phase I travel: centred angle from the first kernel at the boundary"),
    ("half°", "Phase II half-angle"),
    ("axis°", "angle from the initial kernel to the Phase II axis"),
    ("drift", "Phase II drift ratio"),
    ("KR b/e", "kernel regression accuracy on the probe at the boundary / the end"),
    ("acc b/e", "the network's accuracy on the probe at the boundary / the end"),
    ("gap", "switch: standard minus linearised accuracy after the boundary"),
)


def _f(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _share(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}".removeprefix("0")  # .93: narrow columns fit 80 characters


def _pair(values: Mapping[str, Any]) -> str:
    return f"{_share(values.get('boundary'))}/{_share(values.get('end'))}"


def _boundary(row: Mapping[str, Any], rule: bool) -> str:
    b = row["boundary"]
    if b is None or b.get("time") is None:
        return "—"
    unit = {"epoch": "ep ", "step": "step "}.get(row["time_unit"] or "", "")
    return f"{unit}{b['time']:.3g}" + (f" ({b['rule']})" if rule and b.get("rule") else "")


def verdict_text(row: Mapping[str, Any]) -> str:
    """The verdict id, and the full probe's where the resamples left it uncertain."""
    verdict = row["verdict"] or "—"
    point = row.get("point_verdict")
    return f"{verdict} ({point})" if row["uncertain"] and point and point != verdict else verdict


def cells(row: Mapping[str, Any], by: str | None, rule: bool = False) -> list[str]:
    """A run's row under the headers run, ``by`` (where given) and ``COLUMNS[1:]``; ``rule``: the boundary's rule
    too (the HTML table, which has the room)."""
    gap = row["switch_gap"]
    first = [row["label"]] + ([str(row["by_value"]) if row["by_value"] is not None else "—"] if by else [])
    return first + [verdict_text(row), "—" if row["confidence"] is None else f"{row['confidence']:.0%}",
                     _boundary(row, rule), _f(row["phase1_travel_deg"]), _f(row["half_angle_deg"]),
                     _f(row["axis_angle_deg"]), _f(row["drift_ratio"], 2), _pair(row["kernel_regression"]),
                     _pair(row["accuracy"]), "—" if gap is None else f"{gap['gap']:+.3f}"]


def _cells(row: Mapping[str, Any], by: str | None) -> list[Text | str]:
    """``cells``, the verdict bold where the resamples agree with it."""
    row_cells: list[Text | str] = list(cells(row, by))
    at = 2 if by else 1
    row_cells[at] = Text(str(row_cells[at]), style="bold" if row["uncertain"] is False else "")
    return row_cells


def _table() -> Table:
    return Table(show_edge=False, pad_edge=False, box=None, header_style="bold", padding=(0, 1, 0, 0))


def _wide(report: Mapping[str, Any], headers: list[str]) -> Table:
    """A row a run, a section a ``by`` value."""
    table = _table()
    for name in headers:
        table.add_column(name, justify="left" if name in ("run", "verdict", "boundary") else "right", overflow="fold")
    for i, row in enumerate(report["runs"]):
        if report.get("by") and i and row["by_value"] != report["runs"][i - 1]["by_value"]:
            table.add_section()
        table.add_row(*_cells(row, report.get("by")))
    return table


def _tall(report: Mapping[str, Any], headers: list[str]) -> Table:
    """The same, transposed: a column a run, for a terminal too narrow for a row a run."""
    table = _table()
    table.add_column("", style="bold")
    for row in report["runs"]:
        table.add_column(row["label"], justify="right", overflow="fold")
    columns = [_cells(row, report.get("by")) for row in report["runs"]]
    for i, name in enumerate(headers[1:], start=1):
        table.add_row(name, *[cells[i] for cells in columns])
    return table


def render_compare(report: Mapping[str, Any], console: Console) -> None:
    """The table (a row a run; transposed where the terminal is too narrow for that), its legend, and the runs
    without the ``by`` value."""
    by = report.get("by")
    headers = [COLUMNS[0][0]] + ([by] if by else []) + [name for name, _ in COLUMNS[1:]]
    table = _wide(report, headers)
    unbounded = console.options.update_width(10_000)  # a table's natural width, not the terminal's
    if Measurement.get(console, unbounded, table).maximum > console.width:
        tall = _tall(report, headers)
        table = tall if Measurement.get(console, unbounded, tall).maximum <= console.width else table
    count = len(report["runs"])
    console.print(Text(f"entk-probe {report['tool']['version']} · compare · {count} run{'s' if count != 1 else ''}"
                       + (f" by {by}" if by else "")))
    console.print(table)
    console.print(Text("; ".join(f"{name}: {what}" for name, what in COLUMNS[1:]), style="dim"))
    missing = [row["label"] for row in report["runs"] if by and row["by_value"] is None]
    if missing:
        console.print(Text(f"no recorded {by}: {', '.join(missing)}", style="yellow"))
