"""analyze --tensorboard: the event files, read back with TensorBoard's own reader, hold the JSON
report's numbers at each checkpoint's step, the verdict, the boundary and the figure."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from entk_probe.cli import main
from entk_probe.errors import EntkProbeWarning
from entk_probe.output.tensorboard import SUFFIX, checkpoint_scalars, time_axis, write_tensorboard

from ..helpers import REPO, write_run

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"  # steps and epochs recorded; two-phase-cone


def _events(directory: Path) -> Any:
    """TensorBoard's own reader over ``directory``, everything kept."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def _text(events: Any, tag: str) -> str:
    (event,) = events.Tensors(f"entk/{tag}/text_summary")
    return event.tensor_proto.string_val[0].decode()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """The sample run analysed through the CLI with --tensorboard and --json: (event folder, report, stderr)."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    out = tmp_path_factory.mktemp("tensorboard")
    result = CliRunner().invoke(main, ["analyze", str(SAMPLE), "--plugins", str(REPO / "plugins" / "mlp.py"),
                                       "--resamples", "20", "--device", "cpu", "--quiet", "--json", str(out / "r.json"),
                                       "--tensorboard", str(out / "tb")])
    assert result.exit_code == 0, result.output
    return out / "tb", json.loads((out / "r.json").read_text()), result.stderr


def test_every_checkpoints_metrics_are_scalars_at_its_global_step(written: tuple[Path, dict[str, Any], str]) -> None:
    directory, report, _ = written
    assert [p.name.endswith(SUFFIX) for p in directory.iterdir()] == [True]  # one event file, nothing left over
    events = _events(directory)
    checkpoints = report["checkpoints"]
    assert all(isinstance(c["step"], int) for c in checkpoints) and checkpoints[-1]["step"] == 2808
    expected: dict[str, dict[int, float]] = {}
    for c in checkpoints:
        for tag, value in checkpoint_scalars(c).items():
            expected.setdefault(tag, {})[c["step"]] = value
    for key in ("centered_angle_from_first_deg", "centered_angle_to_last_deg", "angular_velocity_deg",
                "centered_alignment", "accuracy", "kernel_regression_accuracy", "subspace_to_next/mean", "phase"):
        assert f"entk/{key}" in expected
    assert set(events.Tags()["scalars"]) == set(expected)
    for tag, values in expected.items():
        read = {e.step: e.value for e in events.Scalars(tag)}
        assert read == pytest.approx(values, rel=1e-6), tag  # TensorBoard keeps float32
    velocity = {e.step for e in events.Scalars("entk/angular_velocity_deg")}
    assert velocity == {c["step"] for c in checkpoints[:-1]}  # the last one's is null: skipped
    phases = {e.step: e.value for e in events.Scalars("entk/phase")}
    assert phases == {c["step"]: {"I": 1.0, "II": 2.0}[c["phase"]] for c in checkpoints}
    assert checkpoints[0]["metrics"]["subspace_to_next"]["mean"] == pytest.approx(
        events.Scalars("entk/subspace_to_next/mean")[0].value, rel=1e-6)


def test_the_verdict_boundary_and_time_axis_are_text(written: tuple[Path, dict[str, Any], str]) -> None:
    directory, report, _ = written
    events = _events(directory)
    phases = report["phases"]
    verdict = _text(events, "verdict")
    assert verdict.startswith(f"**{phases['verdict']}**") and phases["explanation"] in verdict
    assert phases["confidence"]["summary"] in verdict
    boundary = _text(events, "boundary")
    assert phases["boundary"]["checkpoint"] in boundary and "step 468" in boundary
    assert "global step each checkpoint records" in _text(events, "time_axis")
    assert {e.step for e in events.Tensors("entk/verdict/text_summary")} == {2808}


def test_the_figure_is_an_image_when_matplotlib_is_present(written: tuple[Path, dict[str, Any], str]) -> None:
    directory, _, stderr = written
    events = _events(directory)
    if importlib.util.find_spec("matplotlib") is None:
        assert events.Tags()["images"] == [] and "pip install 'entk-probe[plot]'" in stderr
        return
    (image,) = events.Images("entk/dynamics")
    assert image.step == 2808 and (image.width, image.height) == (1600, 800)
    assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_scalars_are_written_and_a_warning_says_so(
        written: tuple[Path, dict[str, Any], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, report, _ = written
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an environment without the plot extra
    with pytest.warns(EntkProbeWarning, match=r"pip install 'entk-probe\[plot\]'") as record:
        write_tensorboard(report, tmp_path / "tb")
    assert [w.message.code for w in record] == ["tensorboard-no-images"]  # type: ignore[union-attr]
    events = _events(tmp_path / "tb")
    assert events.Tags()["images"] == [] and "entk/accuracy" in events.Tags()["scalars"]


def test_a_second_write_replaces_the_first_and_leaves_other_event_files(
        written: tuple[Path, dict[str, Any], str], tmp_path: Path) -> None:
    _, report, _ = written
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    directory = tmp_path / "tb"
    directory.mkdir()
    own = directory / "events.out.tfevents.1.host.1.0"  # the run's own (empty) event file
    own.write_bytes(b"")
    first = write_tensorboard(report, directory)
    second = write_tensorboard(report, directory)
    assert not first.exists() or first == second
    assert sorted(p.name for p in directory.iterdir()) == sorted([own.name, second.name])
    assert len(_events(directory).Scalars("entk/accuracy")) == len(report["checkpoints"])  # not twice


def test_without_recorded_steps_the_positions_are_the_steps_with_a_note(
        written: tuple[Path, dict[str, Any], str], tmp_path: Path) -> None:
    _, report, _ = written
    stepless = {**report, "checkpoints": [{**c, "step": None} for c in report["checkpoints"]]}
    with pytest.warns(EntkProbeWarning) as record:
        write_tensorboard(stepless, tmp_path / "tb")
    assert "tensorboard-steps" in [getattr(w.message, "code", None) for w in record]
    events = _events(tmp_path / "tb")
    assert [e.step for e in events.Scalars("entk/accuracy")] == list(range(len(report["checkpoints"])))
    assert "position in the report" in _text(events, "time_axis")


def _report(steps: list[Any], epochs: list[Any]) -> dict[str, Any]:
    return {"checkpoints": [{"step": s, "epoch": e} for s, e in zip(steps, epochs)]}


def test_time_axis_prefers_steps_then_whole_epochs_then_positions() -> None:
    axis = time_axis(_report([0, 100, 200], [0.0, 0.5, 1.0]))
    assert (axis.source, axis.steps) == ("step", [0, 100, 200])
    axis = time_axis(_report([None, 100, 200], [0.0, 1.0, 2.0]))
    assert (axis.source, axis.steps) == ("epoch", [0, 1, 2]) and "epoch number" in axis.note
    axis = time_axis(_report([None, None, None], [0.0, 0.5, 1.0]))
    assert (axis.source, axis.steps) == ("index", [0, 1, 2])
    axis = time_axis(_report([5, 5, 6], [1.0, 2.0, 3.0]))  # steps that do not increase
    assert (axis.source, axis.steps) == ("epoch", [1, 2, 3]) and "do not increase" in axis.note


def test_a_checkpoint_left_out_has_no_scalars_and_nulls_are_skipped() -> None:
    assert checkpoint_scalars({"metrics": None, "phase": None}) == {}
    scalars = checkpoint_scalars({"phase": "II", "metrics": {"accuracy": 0.5, "angular_velocity_deg": None,
                                                             "top_eigenvalues": [3.0, 1.0],
                                                             "subspace_to_next": {"mean": 4.0, "rms": None}}})
    assert scalars == {"entk/accuracy": 0.5, "entk/subspace_to_next/mean": 4.0, "entk/phase": 2.0}


def test_without_tensorboard_it_is_a_usage_error_before_any_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)  # an environment without the tensorboard extra
    write_run(tmp_path / "run")
    cache = tmp_path / "cache"
    result = CliRunner(env={"ENTK_PROBE_CACHE": str(cache)}).invoke(
        main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
               "--tensorboard", str(tmp_path / "tb")])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("entk-probe: error: --tensorboard needs the tensorboard extra: "
                                     "pip install 'entk-probe[tensorboard]'")
    assert result.stdout == "" and not cache.exists() and not (tmp_path / "tb").exists()  # no kernel computed


def test_an_unwritable_folder_is_one_line_and_the_json_is_still_written(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    write_run(tmp_path / "run")
    (tmp_path / "file").write_text("a file where a folder should be")
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                       "--quiet", "--tensorboard", str(tmp_path / "file" / "tb"),
                                       "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"entk-probe: error: could not write the TensorBoard events in {tmp_path / 'file' / 'tb'}")
    assert json.loads((tmp_path / "r.json").read_text())["phases"]["verdict"] and "verdict" in result.stdout
