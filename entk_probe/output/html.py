"""The HTML report: one self-contained page (plotly.js inlined once, nothing fetched) per report.

``report_html(report)`` is the page of an analysis report (the dict of ``jsonreport.to_json`` or
``read_json``, of any 1.x schema: what an older report lacks is not shown): the header (run,
model, probe, kernel settings), the verdict with its explanation, confidence, evidence and
thresholds, the cone width, the interactive figures (``htmlfigures``), the table of checkpoints and
the warnings: the facts of the terminal report (``terminal``), laid out for a browser.
``switch_html(report)`` is the switch experiment's page. ``report_parts`` and ``switch_parts`` are
their sections, and ``page``, ``figure_html``, ``table_html``, ``warnings_html`` (``htmlblocks``)
the pieces, so that other pages (several runs side by side) are assembled from the same parts;
``write_html`` writes a page atomically. Needs plotly (the ``html`` extra); ``check_html`` says so
before any work; ``report_parts(report, plots=False)`` needs nothing.
"""

from __future__ import annotations

from typing import Any

from .htmlblocks import (
    check_html,
    esc,
    facts_html,
    figure_html,
    fragment,
    page,
    paragraphs,
    section,
    table_html,
    warnings_html,
    write_html,
)
from .htmlfigures import dynamics_figure, heatmap_figure, switch_figure, trajectory_figure
from .switchreport import GAP, switch_header, switch_table
from .terminal import checkpoint_notes, evidence_cells, header_lines, legend, table_cells, verdict_lines, verdict_notes, verdict_title

__all__ = ["check_html", "checkpoints_html", "evidence_html", "figure_html", "fragment", "page", "report_html", "report_parts", "switch_html", "switch_parts",
           "table_html", "verdict_html", "warnings_html", "write_html"]


def _heading(title: str, lines: list[str]) -> str:
    return f"<header>\n<h1>{esc(title)}</h1>\n{facts_html(lines)}\n</header>"


def _run_name(report: dict[str, Any]) -> str:
    path = str(report["run"]["path"]).rstrip("/")
    return path.rsplit("/", 1)[-1] or path


def verdict_html(report: dict[str, Any]) -> str:
    """The verdict section: its id, what it means, how sure, why, the boundary, the cone."""
    verdict = report["phases"]["verdict"]
    rest = verdict_title(report).removeprefix(f"verdict: {verdict}")
    return (f"<section class=\"verdict-section\">\n<h2>Verdict: <span class=\"verdict\">{esc(verdict)}</span>{esc(rest)}</h2>\n"
            + paragraphs(verdict_lines(report)) + "\n" + paragraphs(verdict_notes(report)) + "\n</section>")


def evidence_html(report: dict[str, Any]) -> str:
    """The numbers behind the verdict and the thresholds they were held against, side by side."""
    evidence, thresholds = evidence_cells(report)
    return section("Evidence and thresholds", "<div class=\"pairs\"><div>" + table_html(["evidence", "value"], evidence)
                   + "</div><div>" + table_html(["threshold", "value"], thresholds) + "</div></div>")


def checkpoints_html(report: dict[str, Any]) -> str:
    """The table of checkpoints (full names; Phase II rows shaded, left-out ones greyed) and what its columns mean."""
    headers, rows = table_cells(report)
    classes = ["excluded" if c["metrics"] is None else ("phase-II" if c["phase"] == "II" else "")
               for c in report["checkpoints"]]
    named = [[c["name"], *row[1:]] for c, row in zip(report["checkpoints"], rows)]
    return section("Checkpoints", table_html(headers, named, classes), paragraphs([legend(report)], "note"))


def _footer(report: dict[str, Any]) -> str:
    tool = report.get("tool", {})
    return paragraphs([f"{tool.get('name', 'entk-probe')} {tool.get('version', '')} · report schema "
                       f"{report.get('schema_version', '?')} · created {report.get('created', '?')}"], "note")


def report_parts(report: dict[str, Any], plots: bool = True) -> list[str]:
    """The sections of an analysis report's page, in order; without ``plots``, no figure (and no plotly needed)."""
    parts = [_heading(f"{report['model']['arch']} · {_run_name(report)}", header_lines(report)), verdict_html(report)]
    if plots:
        parts.append(section("Dynamics", figure_html(dynamics_figure(report))))
        parts.append(section("Trajectory and pairwise angles", "<div class=\"grid\">" + figure_html(trajectory_figure(report))
                             + figure_html(heatmap_figure(report)) + "</div>"))
    parts += [evidence_html(report), checkpoints_html(report), warnings_html(report["warnings"], checkpoint_notes(report)), _footer(report)]
    return [p for p in parts if p]


def report_html(report: dict[str, Any]) -> str:
    """The whole page of an analysis report (``check_html``'s error when plotly is missing)."""
    check_html()
    return page(f"entk-probe · {report['model']['arch']} · {report['run']['path']}", report_parts(report))


def switch_parts(report: dict[str, Any], plots: bool = True) -> list[str]:
    """The sections of a switch report's page, in order; without ``plots``, no figure."""
    headers, rows = switch_table(report)
    classes = ["phase-II" if row[2] == "II" else "" for row in rows]
    parts = [_heading(f"switch · {_run_name(report)}", switch_header(report))]
    if plots:
        parts.append(section("Network or linearisation", figure_html(switch_figure(report))))
    parts += [section("Switch points", table_html(headers, rows, classes), paragraphs([GAP], "note")), _footer(report)]
    return parts


def switch_html(report: dict[str, Any]) -> str:
    """The whole page of a switch report (``check_html``'s error when plotly is missing)."""
    check_html()
    return page(f"entk-probe · switch · {report['run']['path']}", switch_parts(report))
