"""Reports that show themselves in a notebook: ``Report``, what ``read_json`` returns.

A ``Report`` is the report's dict (every dict operation and ``json.dumps`` work as before) that a
Jupyter cell displays as its HTML report (``_repr_html_``: ``notebook_html``) and that plots itself
(``plot()``: the matplotlib Figure of the ``--plot`` PNG, written too where a path is given). A
switch or compare report (``kind`` "switch", "compare") shows its own page and plot. ``pipeline.display`` gives an
``Analysis`` the same two methods. Where plotly is missing, the HTML has no figures and says how
to get them: a notebook never shows a traceback for it. Imports are inside the functions:
``jsonreport`` imports this module.
"""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path
from typing import Any

from ..errors import EntkProbeError


def notebook_html(report: dict[str, Any]) -> str:
    """A report (analysis, switch or compare) as HTML for a notebook cell, with plotly.js once, so it draws without a
    network; without plotly, the same without figures and a line saying how to get them."""
    from .comparehtml import compare_parts
    from .html import report_parts, switch_parts
    from .htmlblocks import check_html, fragment, paragraphs

    parts = {"switch": switch_parts, "compare": compare_parts}.get(report.get("kind"), report_parts)
    try:
        check_html()
    except EntkProbeError as exc:  # plotly missing: the tables without figures, never a traceback
        return fragment([*parts(report, plots=False), paragraphs([f"No figures: {exc}"], "note")], plots=False)
    # figure ids are the figures' hashes (the same page for the same report); two cells showing one report
    # must not share them, or the second cell's figures would draw into the first's
    token = uuid.uuid4().hex[:8]
    return re.sub(r"entk-[0-9a-f]{16}", lambda m: f"{m.group(0)}-{token}", fragment(parts(report)))


def report_plot(report: dict[str, Any], path: Path | str | None = None) -> Any:
    """The matplotlib Figure of a report (the six panels, the switch plot or the compare curves); also written to ``path`` (PNG) if given."""
    from .compareplots import compare_figure
    from .plots import report_figure, save_png
    from .switchreport import switch_figure

    fig = {"switch": switch_figure, "compare": compare_figure}.get(report.get("kind"), report_figure)(report)
    if path is not None:
        save_png(fig, Path(path))
    if "IPython" in sys.modules:  # pyplot's import sets up IPython's display of figures, so the Figure shows itself
        import matplotlib.pyplot  # noqa: F401
    return fig


class Report(dict):  # type: ignore[type-arg]
    """A saved report as read by ``read_json``: its dict, which a notebook displays as the HTML report and
    which plots itself."""

    def _repr_html_(self) -> str:
        return notebook_html(self)

    def plot(self, path: Path | str | None = None) -> Any:
        """The report's matplotlib Figure (needs the ``plot`` extra); also written to ``path`` (PNG) if given."""
        return report_plot(self, path)
