"""stderr messages: warnings as one line, the estimate line, the plan table."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from entk_probe.engine.layerplan import LayerPlan
from entk_probe.engine.planning import EntkPlan
from entk_probe.errors import EntkProbeWarning
from entk_probe.output.messages import plan_table, show_estimate, show_warning
from entk_probe.pipeline.forecast import RunEstimate


def test_own_warnings_are_one_line_on_stderr_and_others_keep_their_origin(capsys: pytest.CaptureFixture[str]) -> None:
    show_warning(EntkProbeWarning("the probe is small", code="x"), EntkProbeWarning, "f.py", 3)
    show_warning(UserWarning("from torch"), UserWarning, "torch/x.py", 7)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "entk-probe: warning: the probe is small"
    assert "torch/x.py:7" in lines[1] and "from torch" in lines[1]


def test_the_estimate_is_one_stderr_line(capsys: pytest.CaptureFixture[str]) -> None:
    estimate = RunEstimate(kernels=0, cached=4, seconds=0.0, kernel=None, kernel_bytes=128, held_bytes=512, device="cpu",
                           budget_bytes=2**30, device_peak_bytes=512, device_free_bytes=2**31, host_peak_bytes=0,
                           host_free_bytes=2**31)
    show_estimate(estimate)
    out, err = capsys.readouterr()
    assert out == "" and err == ("entk-probe: estimate: nothing to compute (4 in the kernel cache); peak memory about 512 B of 2.0 GiB free on cpu (kernels held at once: 512 B)\n")


def test_the_plan_table_has_a_row_a_layer_with_its_path_and_reason() -> None:
    layers = (LayerPlan("fc", "linear", ("fc.weight",), 1_200, "structured", 3e9, 0, 0, reason="cheapest"),
              LayerPlan("", "model", ("pos",), 7, "jacobian", 1e6, 0, 0, reason="a parameter of the model itself"))
    plan = EntkPlan(4, 3, 3, 4, 4, 2**20, (), layers=layers)
    console = Console(file=io.StringIO(), width=200)
    console.print(plan_table(plan))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "fc" in text and "1,200" in text and "structured" in text and "cheapest" in text
    assert "(model)" in text and "a parameter of the model itself" in text


def test_lines_go_above_live_progress_bars(capsys: pytest.CaptureFixture[str]) -> None:
    from entk_probe.output.messages import say
    from entk_probe.output.progress import live_console, progress_bars

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_bars(console=console) as (on_checkpoint, _):
        assert live_console() is console
        on_checkpoint(0, 2, "ckpt_0")
        say("entk-probe: warning: something")
    assert live_console() is None
    assert "entk-probe: warning: something" in out.getvalue() and capsys.readouterr().err == ""
    say("entk-probe: warning: after")
    assert capsys.readouterr().err == "entk-probe: warning: after\n"


def test_the_shares_are_one_stderr_line_with_each_ranks_count(capsys: pytest.CaptureFixture[str]) -> None:
    from entk_probe.output.messages import show_shares

    show_shares("checkpoints", [[0, 2, 4], [1, 3], []])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "entk-probe: 3 ranks share the kernels to compute: 3 + 2 + 0 (rank 0 first), by estimated cost\n")
    show_shares("parameters", [[1, 4], [1, 4]])  # every rank has every kernel: its part of each
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "entk-probe: 2 ranks share the parameters of each of the 2 kernel(s) to compute (--shard parameters): each "
        "computes its part, by estimated cost, and the parts are summed\n")
