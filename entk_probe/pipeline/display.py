"""An ``Analysis`` in a notebook: it displays itself as its HTML report and plots itself.

``NotebookDisplay`` is a mixin of ``job.Analysis``: ``_repr_html_`` (what Jupyter shows for a cell
whose value is the analysis) and ``plot(path=None)`` (the ``--plot`` figure as a matplotlib Figure)
both go through the analysis's JSON report (``output.jsonreport.to_json``), so they show what
``entk-probe report`` would. The output stage is imported inside the methods: it imports this stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class NotebookDisplay:
    """``_repr_html_`` and ``plot`` for an ``Analysis``, through its JSON report."""

    def _report(self) -> dict[str, Any]:
        from ..output.jsonreport import to_json

        return to_json(self)  # type: ignore[arg-type]

    def _repr_html_(self) -> str:
        from ..output.notebook import notebook_html

        return notebook_html(self._report())

    def plot(self, path: Path | str | None = None) -> Any:
        """The analysis's matplotlib Figure (velocity, displacement, accuracy, subspaces, trajectory map, heatmap;
        needs the ``plot`` extra); also written to ``path`` (PNG) if given."""
        from ..output.notebook import report_plot

        return report_plot(self._report(), path)
