"""The HTML report's figures: what each draws from a report, the time axis, hover labels, Phase II."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from entk_probe.output.htmlfigures import (
    checkpoint_hovers,
    dynamics_figure,
    heatmap_figure,
    switch_figure,
    time_axis,
    trajectory_figure,
)
from entk_probe.output.jsonreport import read_json

from ..helpers import REPO

pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
RESULTS = REPO / "docs" / "experiments" / "results"


@pytest.fixture(scope="module")
def report() -> dict:
    return read_json(RESULTS / "ts_onecycle.json")  # schema 1.4: 53 checkpoints, dense early, two-phase-cone


def test_time_is_linear_unless_checkpoints_are_dense_early() -> None:
    x, scale = time_axis([0, 1, 2, 3])
    assert scale == {} and list(x) == [0, 1, 2, 3]
    x, scale = time_axis([0.0, 0.01, 0.02, 0.1, 1.0, 10.0, None])
    assert np.all(np.diff(x[:-1]) > 0) and np.isnan(x[-1])
    assert x[0] == 0 and x[1] == pytest.approx(0.5) and x[4] == pytest.approx(2.5)  # linear to 0.01, then log
    assert scale["ticktext"][:2] == ["0", "0.01"] and "10" in scale["ticktext"] and len(scale["tickvals"]) == len(scale["ticktext"])


def test_a_hover_label_is_the_checkpoints_name_and_its_row(report: dict) -> None:
    hovers = checkpoint_hovers(report)
    assert len(hovers) == len(report["checkpoints"])
    assert hovers[3].startswith(f"<b>{report['checkpoints'][3]['name']}</b><br>step 4<br>epoch 0.129<br>")
    hostile = copy.deepcopy(report)
    hostile["checkpoints"][0]["name"] = "<img src=x onerror=alert(1)>"
    assert checkpoint_hovers(hostile)[0].startswith("<b>&lt;img src=x onerror=alert(1)&gt;</b>")


def test_dynamics_draws_angles_velocity_and_accuracy_with_phase_two_shaded(report: dict) -> None:
    fig = dynamics_figure(report)
    names = [t.name for t in fig.data]
    assert "∠ from first, centred" in names and "velocity, centred kernel" in names and "kernel regression" in names
    velocity = next(t for t in fig.data if t.name == "velocity, centred kernel")
    assert len(velocity.x) == len(report["checkpoints"]) - 1 and fig.layout.yaxis2.type == "log"
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 3  # Phase II, in every row
    assert any(a.text == "Phase II" for a in fig.layout.annotations) and fig.layout.xaxis3.tickmode == "array"
    old = read_json(RESULTS / "r20cos.json")  # schema 1.0: no kernel regression
    krr = next(t for t in dynamics_figure(old).data if t.name == "kernel regression")
    assert all(v is None for v in krr.y)


def test_no_boundary_no_phase_two(report: dict) -> None:
    none = copy.deepcopy(report)
    none["phases"]["boundary"] = None
    assert not dynamics_figure(none).layout.shapes
    assert [t.name for t in trajectory_figure(none).data] == [None, "checkpoints"]
    assert not heatmap_figure(none).layout.shapes


def test_the_trajectory_map_circles_the_boundary_and_outlines_phase_two(report: dict) -> None:
    fig = trajectory_figure(report)
    assert [t.name for t in fig.data] == [None, "checkpoints", "end of Phase I", "Phase II region"]
    points = fig.data[1]
    assert len(points.x) == len(report["checkpoints"]) and points.marker.showscale
    assert fig.layout.yaxis.scaleanchor == "x" and "kept" in fig.layout.title.text


def test_the_heatmap_has_every_pair_and_names_unique(report: dict) -> None:
    fig = heatmap_figure(report)
    count = len(report["checkpoints"])
    assert np.array(fig.data[0].z, dtype=float).shape == (count, count) and len(set(fig.data[0].x)) == count
    assert len(fig.layout.shapes) == 2 and fig.layout.yaxis.autorange == "reversed"
    twins = copy.deepcopy(report)
    for c in twins["checkpoints"]:
        c["name"] = "same"
    assert len(set(heatmap_figure(twins).data[0].x)) == count


def test_the_switch_figure_has_both_kinds_and_the_boundary() -> None:
    report = read_json(RESULTS / "r20_switch.json")
    fig = switch_figure(report)
    assert {t.name for t in fig.data} == {"standard", "linearised"} and len(fig.data) == 4
    standard = [r for r in report["switch"]["results"] if r["kind"] == "standard"]
    assert len(fig.data[0].x) == len(standard) and fig.layout.yaxis2.type == "log"
    assert any(s.type == "line" for s in fig.layout.shapes)
    assert all(name in "".join(fig.data[0].text) for name in {r["checkpoint"] for r in standard})
