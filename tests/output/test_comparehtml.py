"""The compare report's HTML page: self-contained, every run and number in it, names escaped."""

from __future__ import annotations

import re

import pytest

from entk_probe.output.comparison import Compared, compare_to_json

from .test_comparison import report
from .test_html import external_loads

pytest.importorskip("plotly")


def test_the_page_holds_every_run_its_curves_and_loads_nothing_from_outside() -> None:
    from entk_probe.output.comparehtml import compare_html

    rep = compare_to_json([Compared("<b>evil</b>", "x", report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1),
                                    hyperparameters={"lr": 0.1}),
                           Compared("plain", "y", report([0, 1, 2, 3], [0, 5, 6, 7], boundary=None))], by="lr")
    page = compare_html(rep)
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page
    assert "two-phase-cone" in page and "plain" in page and "12.5" in page
    assert external_loads(page) == []  # no script, style or image fetched
    assert page.count('class="plotly-graph-div"') == 4  # angle and velocity, absolute and relative
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", page).group(1)  # type: ignore[union-attr]
    first_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", page).group(1)  # type: ignore[union-attr]
    assert header.count("<th>") == first_row.count("<td>") == 12  # run, lr and the ten columns of COLUMNS[1:]
