"""The terminal report reads at 80 columns without colour, and renders a saved report the same."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.output.jsonreport import read_json, to_json, write_json
from entk_probe.analysis.verdicts import verdict
from entk_probe.output.terminal import render

from ..helpers import write_run


def _text(report: dict, width: int = 80) -> str:
    out = io.StringIO()
    render(report, Console(file=out, width=width, no_color=True, force_terminal=False))
    return out.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = tmp_path_factory.mktemp("report") / "run"
    paths = write_run(run, steps=tuple(range(0, 45, 5)))
    shutil.copy(paths[-1], run / "last.safetensors")
    with pytest.warns(Warning):
        return to_json(analyze(run, "synthetic:3", AnalyzeOptions(device="cpu")))


def test_report_fits_80_columns_without_colour(report: dict) -> None:
    text = _text(report)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b[" not in text
    for name in ("ckpt_0", "ckpt_20", "ckpt_40"):
        assert name in text
    assert "test_resnet" in text and "synthetic:3" in text and "synthetic Gaussian inputs" in text
    assert f"verdict: {report['phases']['verdict']}" in text
    assert verdict(report["phases"]["verdict"]).description[:30] in text.replace("\n", " ").replace("│", "").replace("  ", " ")
    assert "ckpt_40.safetensors is also last.safetensors (identical bytes)" in text
    assert "warning [batchnorm-buffers]" in text
    assert "cone_max_drift_ratio 1.5" in text.replace("\n│ ", " ")  # thresholds are printed


def test_a_saved_report_renders_identically(tmp_path: Path, report: dict) -> None:
    path = tmp_path / "report.json"
    write_json(report, path)
    assert _text(read_json(path)) == _text(report)


def test_bad_report_files(tmp_path: Path) -> None:
    from entk_probe.errors import EntkProbeError, UsageError

    with pytest.raises(UsageError, match="does not exist"):
        read_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EntkProbeError, match="not a readable JSON report"):
        read_json(bad)
    bad.write_text('{"schema_version": "2.0"}')
    with pytest.raises(EntkProbeError, match="schema_version 2.0"):
        read_json(bad)


def test_the_header_says_the_input_size_and_where_it_came_from(report: dict) -> None:
    import copy

    recorded = _text(report)
    assert "input 3x32x32: the checkpoint's metadata input_size" in recorded
    own = copy.deepcopy(report)
    own["model"]["input_size"] = None
    own["probe"]["transforms"] = ["resized 28x28 -> 32x32 (bilinear, antialiased)"]
    text = _text(own, width=200)
    assert "input 3x32x32: the probe's own size, as the run records none (--input-size sets one); probe resized 28x28" in text


@pytest.mark.parametrize("how", ["--no-color", "NO_COLOR"])
def test_no_color_drops_every_style_even_on_a_terminal(report: dict, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from entk_probe.output.terminal import report_console

    def rendered(no_color: bool) -> str:
        out = io.StringIO()
        render(report, report_console(no_color, file=out, force_terminal=True))  # as on a real terminal
        return out.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[1m" in rendered(False)  # bold headers on a terminal by default
    if how == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in rendered(how == "--no-color")


def test_columns_with_nothing_in_them_are_left_out(report: dict) -> None:
    import copy

    no_steps = copy.deepcopy(report)
    for c in no_steps["checkpoints"]:
        c["step"] = None
    header = [line for line in _text(no_steps, width=200).splitlines() if line.startswith("checkpoint ")][0]
    assert "step" not in header.split() and "epoch" in header.split()
    assert "step" in [line for line in _text(report, width=200).splitlines() if line.startswith("checkpoint ")][0].split()


def test_a_run_without_its_initialisation_says_so(report: dict) -> None:
    import copy

    assert report["run"]["first_is_initialisation"] is True and "∠init" in _text(report)
    late = copy.deepcopy(report)
    late["run"]["first_is_initialisation"] = False
    late["checkpoints"][0]["time"] = 1.0
    text = _text(late, width=300)
    assert "∠first" in text and "∠init" not in text
    assert "is after epoch 1, not the initialisation: ∠first is measured from it" in text


def test_the_legend_explains_only_the_columns_shown(report: dict) -> None:
    import copy

    text = _text(report, width=300)
    assert "krr" not in text and "val%" not in text and "∠final: centred angle" in text  # a synthetic probe: no labels
    logged = copy.deepcopy(report)
    logged["checkpoints"][0]["training_log"] = {"eval_top1": 12.5, "eval_loss": 2.0}
    logged["checkpoints"][0]["metrics"]["kernel_regression_accuracy"] = 0.5
    text = _text(logged, width=300)
    assert "val%: the run's validation top-1" in text and "krr: accuracy of kernel regression" in text


def test_the_boundary_says_which_rule_placed_it(report: dict) -> None:
    import copy

    for rule, words in (("plateau", "the angle from the first kernel reaches its plateau (40°, its level over the next five "
                                    "checkpoints 42°) "
                                    "and stays at 0.9 of it or above (10% of the later checkpoints dip below)"),
                        ("speed", "speed over windows of 2 step(s) falls from 30° to 5° a step and stays low"),
                        ("corner", "at the corner of the displacement from the first kernel")):
        changed = copy.deepcopy(report)
        changed["time_unit"] = "step"
        changed["phases"]["boundary"] = {"index": 1, "step": 5, "epoch": None, "time": 5.0, "checkpoint": "ckpt_5", "rule": rule}
        changed["phases"]["evidence"].update(speed_window=2.0, speed_before_deg=30.0, speed_after_deg=5.0,
                                             phase1_travel_deg=40.0, plateau_level_deg=42.0, plateau_below_share=0.1)
        text = " ".join(_text(changed, width=400).replace("│", " ").split())
        assert words in text, text
    assert "rule" not in (report["phases"]["boundary"] or {}) or report["phases"]["boundary"]["rule"] in ("plateau", "corner")


def _flat(report: dict) -> str:
    """The report at 400 columns, boxes and line breaks gone: what it says, whatever the wrapping."""
    return " ".join(_text(report, width=400).replace("│", " ").split())


def test_the_verdict_says_how_sure_it_is(report: dict) -> None:
    conf = report["phases"]["confidence"]
    text = _flat(report)
    line = conf["summary"][:1].upper() + conf["summary"][1:] if conf["uncertain"] else f"Confidence: {conf['summary']}"
    assert f"{line}." in text
    assert text.index(line) < text.index("Evidence:")  # right under the verdict's description
    for margin in conf["margins"]:
        assert f"{margin['threshold']} {margin['relative_margin']:+.0%}" in text


def test_an_uncertain_verdict_names_the_full_probes_and_a_1_4_report_still_renders(report: dict) -> None:
    import copy

    uncertain = copy.deepcopy(report)
    uncertain["phases"]["verdict"] = "uncertain"
    uncertain["phases"]["confidence"].update(
        uncertain=True, point_verdict="two-phase-cone", between=["two-phase-cone", "no-cone"],
        threshold="cone_max_half_angle_fraction",
        summary="uncertain between two-phase-cone (0.55) and no-cone (0.41) of 200 probe resamples: the cone's "
                "half-angle sits at its threshold (cone_max_half_angle_fraction 0.5)")
    text = _flat(uncertain)
    assert "verdict: uncertain (full probe: two-phase-cone)" in text
    assert verdict("uncertain").description in text
    assert "Uncertain between two-phase-cone (0.55) and no-cone (0.41) of 200 probe resamples" in text
    assert "Confidence:" not in text
    old = copy.deepcopy(report)
    old["schema_version"] = "1.4"
    old["phases"]["verdict"] = old["phases"].pop("confidence")["point_verdict"]
    text = _flat(old)
    assert f"verdict: {old['phases']['verdict']} " in text and "Confidence:" not in text and "Margins" not in text
