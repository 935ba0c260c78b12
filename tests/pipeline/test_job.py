"""The whole job on generated runs, against kernels computed directly."""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from rich.console import Console
from safetensors.torch import load_file
from timm.utils import CheckpointSaver, ModelEmaV3

from entk_probe import compute_entk
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.analysis.dynamics import kernel_angle_deg, kernel_distance
from entk_probe.errors import EntkProbeWarning
from entk_probe.probes import Target, make_probe

from ..helpers import REPO, write_run

CPU = AnalyzeOptions(device="cpu")


def test_angles_and_velocities_match_direct_kernels(tmp_path: Path) -> None:
    paths = write_run(tmp_path / "run")
    seen: list[int] = []
    with pytest.warns(EntkProbeWarning, match="BatchNorm"):
        result = analyze(tmp_path / "run", "synthetic:4", CPU, on_checkpoint=lambda i, n, c: seen.append(i))
    assert seen == [0, 1, 2] and result.time_unit == "epoch"
    assert result.model.arch == "test_resnet" and result.model.input_size == (3, 32, 32)
    probe = make_probe("synthetic:4", Target((3, 32, 32)))
    assert torch.equal(result.probe.inputs, probe.inputs)
    kernels = []
    for path in paths:
        model = timm.create_model("test_resnet", pretrained=False, num_classes=3)
        model.load_state_dict(load_file(str(path)))
        kernels.append(compute_entk(model.eval(), probe.inputs, device="cpu"))
    rows = result.summary.checkpoints
    assert [r.checkpoint.path for r in result.runs] == paths
    assert math.isclose(rows[2].angle_from_first_deg, kernel_angle_deg(kernels[0], kernels[2]), rel_tol=1e-9)
    assert math.isclose(rows[0].velocity, kernel_distance(kernels[0], kernels[1]) / 0.5, rel_tol=1e-9)
    assert math.isnan(rows[-1].velocity) and rows[-1].angle_to_last_deg == 0.0
    assert result.summary.phases.verdict == "insufficient"  # three checkpoints
    again = analyze(tmp_path / "run", "synthetic:4", CPU)
    assert all(run.cached for run in again.runs), "the second analysis must come from the kernel cache"
    assert np.array_equal(again.summary.angle, result.summary.angle)


def _timm_train_run(run_dir: Path) -> timm.models.ResNet:
    """Checkpoints as timm's train.py writes them, through timm's own CheckpointSaver."""
    model = timm.create_model("test_resnet", num_classes=4)
    ema = ModelEmaV3(model, decay=0.5)
    args = argparse.Namespace(model="test_resnet", num_classes=4, img_size=32, input_size=None, model_kwargs={})
    saver = CheckpointSaver(model, torch.optim.SGD(model.parameters(), lr=0.1), args=args, model_ema=ema,
                            checkpoint_dir=str(run_dir), max_history=10)
    for epoch in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p))
        ema.update(model)
        saver.save_checkpoint(epoch, metric=float(epoch))
    return model


def test_a_timm_train_run_with_raw_and_ema_weights(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    final = _timm_train_run(run)
    raw = analyze(run, "synthetic:3", CPU)
    assert raw.model.arch_source == "args.model in checkpoint-0.pth.tar"
    assert [r.checkpoint.name for r in raw.runs] == [f"checkpoint-{i}.pth.tar" for i in range(3)]
    assert raw.runs[-1].state_dict_key == "state_dict"
    probe = make_probe("synthetic:3", Target((3, 32, 32)))
    expected_last = compute_entk(final.eval(), probe.inputs, device="cpu")
    ema = analyze(run, "synthetic:3", AnalyzeOptions(device="cpu", weights="ema"))
    assert ema.runs[-1].state_dict_key == "state_dict_ema"
    assert not math.isclose(ema.summary.checkpoints[-1].angle_from_first_deg, raw.summary.checkpoints[-1].angle_from_first_deg)
    model = timm.create_model("test_resnet", num_classes=4)
    model.load_state_dict(torch.load(run / "checkpoint-2.pth.tar", weights_only=False)["state_dict"])
    assert torch.allclose(compute_entk(model.eval(), probe.inputs, device="cpu"), expected_last, rtol=1e-12)


def test_a_lightning_run_of_a_plugin_model(tmp_path: Path) -> None:
    plugin = REPO / "plugins" / "mlp.py"
    run = tmp_path / "lightning"
    run.mkdir()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    for step in (0, 100, 200):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.05 * torch.randn_like(p))
        state = {f"model.{k}": v.clone() for k, v in net.state_dict().items()}
        torch.save({"epoch": step // 100, "global_step": step, "state_dict": state}, run / f"epoch={step // 100}-step={step}.ckpt")
    result = analyze(run, "synthetic:3", AnalyzeOptions(device="cpu", arch="mlp_28", plugins=(plugin,),
                                                        model_kwargs={"width": 16}))
    assert result.model.origin == f"plugin {plugin}"
    assert result.model.kwargs == {"num_classes": 10, "width": 16} and result.model.input_size == (1, 28, 28)
    assert [r.checkpoint.step for r in result.runs] == [0, 100, 200]
    assert result.num_params == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10


def test_the_run_directorys_own_probe_is_used_when_no_probe_is_given(tmp_path: Path) -> None:
    from entk_probe.probes import save_probe

    write_run(tmp_path / "run")
    probe = make_probe("synthetic:3,seed=5", Target((3, 32, 32)))
    save_probe(probe, tmp_path / "run" / "probe.safetensors")
    result = analyze(tmp_path / "run", None, CPU)
    assert torch.equal(result.probe.inputs, probe.inputs) and result.probe.spec.startswith("file:")
    from entk_probe.errors import UsageError

    (tmp_path / "run" / "probe.safetensors").unlink()
    with pytest.raises(UsageError, match="no --probe given and .* holds no probe.safetensors"):
        analyze(tmp_path / "run", None, CPU)


def test_buffer_motion_splits_each_step_into_weights_and_buffers(tmp_path: Path) -> None:
    from entk_probe.analysis.dynamics import center

    run = tmp_path / "run"
    run.mkdir()
    model = timm.create_model("test_resnet", num_classes=3)
    probe = make_probe("synthetic:3", Target((3, 32, 32)))
    states = []
    for step in range(2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.mul_(1.5)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        torch.save({"epoch": step, "args": {"img_size": 32, "num_classes": 3}, "state_dict": states[-1]}, run / f"c{step}.pt")
    result = analyze(run, "synthetic:3", AnalyzeOptions(device="cpu", arch="test_resnet", buffer_motion=True))
    assert result.has_batchnorm and len(result.buffer_share) == 1

    def kernel(state: dict) -> torch.Tensor:
        m = timm.create_model("test_resnet", num_classes=3)
        m.load_state_dict(state)
        return center(compute_entk(m.eval(), probe.inputs, device="cpu"))

    buffers = {name for name, _ in model.named_buffers()}
    mixed = {k: (states[0][k] if k in buffers else v) for k, v in states[1].items()}
    k0, km, k1 = kernel(states[0]), kernel(mixed), kernel(states[1])
    weights_part, buffers_part = kernel_angle_deg(k0, km), kernel_angle_deg(km, k1)
    assert math.isclose(result.buffer_share[0], buffers_part / (weights_part + buffers_part), rel_tol=1e-6)
    assert 0 < result.buffer_share[0] < 1


def test_checkpoints_are_read_ahead_and_a_read_error_still_names_its_file(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import entk_probe.pipeline.job as analysis_module
    from entk_probe.errors import CheckpointError

    write_run(tmp_path / "run", steps=(0, 5, 10))
    read_in: list[tuple[str, str]] = []
    real = analysis_module.read_state

    def spy(ckpt, options):  # type: ignore[no-untyped-def]
        read_in.append((ckpt.name, threading.current_thread().name))
        if ckpt.name == "ckpt_10.safetensors":
            raise CheckpointError(f"{ckpt.path}: unreadable")
        return real(ckpt, options)

    monkeypatch.setattr(analysis_module, "read_state", spy)
    with pytest.raises(CheckpointError, match=r"ckpt_10.safetensors: unreadable"):
        analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu", cache=False))
    assert [name for name, _ in read_in] == ["ckpt_0.safetensors", "ckpt_5.safetensors", "ckpt_10.safetensors"]
    assert all(thread.startswith("entk-probe-read") for _, thread in read_in)


def _poison(path: Path, name: str, value: float = float("nan"), scale: float = 1.0) -> None:
    """Write ``value`` into the first element of weight ``name`` and scale the rest, keeping the file's metadata."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        weights = {k: fh.get_tensor(k) for k in fh.keys()}
    weights[name] = weights[name].clone() * scale
    if value == value:
        weights[name].view(-1)[0] = weights[name].view(-1)[0] * 1.0  # finite: only the scale changes
    else:
        weights[name].view(-1)[0] = value
    save_file(weights, str(path), metadata=meta)


def test_diverged_checkpoints_are_left_out_and_the_verdict_comes_from_the_rest(tmp_path: Path) -> None:
    import jsonschema

    from entk_probe.output.jsonreport import schema, to_json

    paths = write_run(tmp_path / "run", steps=tuple(range(0, 90, 10)))
    _poison(paths[3], "layer2.0.conv1.weight")  # NaN in a weight
    _poison(paths[6], "fc.weight", value=1.0, scale=1e38)  # finite weights and logits, gradients overflow
    _poison(paths[5], "conv1.0.weight", value=1.0, scale=1e25)  # finite weights whose activations overflow
    _poison(paths[5], "layer1.0.conv1.weight", value=1.0, scale=1e25)
    options = AnalyzeOptions(device="cpu", cache=False)
    with pytest.warns(EntkProbeWarning, match="left out of the dynamics and phases") as caught:
        result = analyze(tmp_path / "run", "synthetic:4", options)
    excluded = {r.checkpoint.name: r.excluded for r in result.runs if r.excluded}
    assert excluded == {"ckpt_30.safetensors": "NaN or infinite values in 1 weight tensor(s), e.g. layer2.0.conv1.weight",
                        "ckpt_50.safetensors": "NaN or infinite logits on the probe",
                        "ckpt_60.safetensors": "NaN or infinite entries in its kernel"}
    assert {w.message.checkpoint for w in caught if w.message.code == "excluded"} == set(excluded)  # type: ignore[union-attr]
    report = to_json(result)
    jsonschema.validate(report, schema(), cls=jsonschema.Draft202012Validator)
    rows = report["checkpoints"]
    assert rows[3]["metrics"] is None and rows[5]["excluded"] == "NaN or infinite logits on the probe"
    assert rows[4]["metrics"]["accuracy"] is None  # no labels on a synthetic probe: null, never a number
    assert report["pairwise"]["angle_deg"][3][0] is None and report["pairwise"]["angle_deg"][2][4] is not None
    # The same verdict and angles as an analysis of the other checkpoints alone.
    for path in (paths[3], paths[5], paths[6]):
        path.unlink()
    clean = analyze(tmp_path / "run", "synthetic:4", options)
    assert clean.summary.phases.verdict == result.summary.phases.verdict
    assert np.allclose(clean.summary.angle, result.summary.angle)


def test_a_run_whose_every_checkpoint_diverged_is_one_error(tmp_path: Path) -> None:
    from entk_probe.errors import CheckpointError

    for path in write_run(tmp_path / "run", steps=(0, 10)):
        _poison(path, "fc.bias")  # NaN only in the last bias: every logit would be NaN
    with pytest.raises(CheckpointError, match="every checkpoint was left out.*ckpt_0.safetensors: NaN or infinite"):
        analyze(tmp_path / "run", "synthetic:4", AnalyzeOptions(device="cpu", cache=False))


def test_a_damaged_cache_entry_is_recomputed_in_an_analysis(tmp_path: Path) -> None:
    write_run(tmp_path / "run", steps=(0, 5, 10))
    options = AnalyzeOptions(device="cpu", cache_dir=tmp_path / "cache")
    first = analyze(tmp_path / "run", "synthetic:3", options)
    entries = sorted((tmp_path / "cache").rglob("*.safetensors"))
    data = bytearray(entries[0].read_bytes())
    data[-5] ^= 0x01
    entries[0].write_bytes(bytes(data))
    with pytest.warns(EntkProbeWarning, match="checksum does not match"):
        second = analyze(tmp_path / "run", "synthetic:3", options)
    assert sum(not r.cached for r in second.runs) == 1
    assert all(torch.equal(a, b) for a, b in zip(first.kernels, second.kernels))


def test_a_warning_given_twice_is_shown_and_recorded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import types
    import warnings

    from entk_probe.errors import warn
    from entk_probe.pipeline import job

    def twice(*args: object) -> types.SimpleNamespace:
        for _ in range(2):
            warn("checkpoint-3.pth.tar records no step", code="x", checkpoint="checkpoint-3.pth.tar")
        warn("another one", code="y")
        return types.SimpleNamespace()

    monkeypatch.setattr(job, "_analyze", twice)
    shown: list[str] = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *rest: shown.append(str(message))
        result = job.analyze(Path("."), "synthetic:3")
    assert shown == ["checkpoint-3.pth.tar records no step", "another one"]
    assert [w["code"] for w in result.warnings] == ["x", "y"]


def test_a_timm_train_run_has_an_honest_time_axis_and_its_own_validation_log(tmp_path: Path) -> None:
    """timm's own CheckpointSaver and update_summary: checkpoint-k is after k+1 epochs, summary.csv
    row k belongs to it, and the report says the run starts after its first epoch."""
    from timm.utils import update_summary

    from entk_probe.output.jsonreport import to_json
    from entk_probe.output.terminal import render

    from ..data import fake_images, write_cifar10_python

    run = tmp_path / "run"
    run.mkdir()
    model = timm.create_model("test_resnet", num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = argparse.Namespace(model="test_resnet", num_classes=10, input_size=None, img_size=32, mean=None, std=None)
    (run / "args.yaml").write_text("model: test_resnet\nnum_classes: 10\nimg_size: 32\n")
    saver = CheckpointSaver(model, optimizer, args=args, checkpoint_dir=str(run), max_history=5)
    for epoch in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        update_summary(epoch, {"loss": 2.0 - epoch / 10}, {"loss": 1.9 - epoch / 10, "top1": 30.0 + epoch, "top5": 80.0},
                       str(run / "summary.csv"), lr=0.1, write_header=epoch == 0)
        saver.save_checkpoint(epoch, metric=30.0 + epoch)
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    with pytest.warns(EntkProbeWarning):
        result = analyze(run, "cifar10:20", AnalyzeOptions(device="cpu", cache=False, data_root=tmp_path))
    report = to_json(result)
    assert [c["epoch"] for c in report["checkpoints"]] == [1.0, 2.0, 3.0]
    assert report["run"]["first_is_initialisation"] is False
    assert [c["training_log"]["eval_top1"] for c in report["checkpoints"]] == [30.0, 31.0, 32.0]
    assert report["phases"]["slopes_against"] == "gradient-flow"  # summary.csv's lr column
    assert report["phases"]["learning_rates"]["values"] == [0.1, 0.1, 0.1]
    assert report["model"]["input_size"] == [3, 32, 32] and report["probe"]["normalization"]["mean"] == list(
        timm.get_pretrained_cfg("test_resnet").mean)  # train.py normalised with timm's default when mean was unset
    console = Console(file=io.StringIO(), width=120)
    render(report, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "val%" in text and "vloss" in text and "not the initialisation" in text and "∠first" in text
    assert "1.90" in text  # the first epoch's eval_loss


def test_a_tiny_memory_budget_gives_the_report_of_a_large_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from entk_probe.analysis import summary as summary_module
    from entk_probe.output.jsonreport import to_json

    blocks: list[int] = []
    real = summary_module.blocked_pairwise
    monkeypatch.setattr(summary_module, "blocked_pairwise", lambda kernels, block: (blocks.append(block), real(kernels, block))[1])
    sample = REPO / "sample_checkpoints" / "fashion_mnist_mlp"
    options = AnalyzeOptions(device="cpu", plugins=[REPO / "plugins" / "mlp.py"], cache_dir=tmp_path / "cache")
    large = analyze(sample, None, dataclasses.replace(options, max_memory="64GiB"))
    tiny = analyze(sample, None, dataclasses.replace(options, max_memory="20MB"))  # the engine's least; kernels cached
    t = len(large.included)
    assert t >= 10 and blocks == [t, 1]  # everything at once, then one kernel a block (a kernel is 2 MB)
    assert all(r.cached for r in tiny.runs) and tiny.estimate is not None and large.estimate is not None
    assert tiny.estimate.held_bytes == 9 * tiny.estimate.kernel_bytes < 20 * 10**6 < large.estimate.held_bytes
    reports = []
    for analysis in (large, tiny):
        report = {k: v for k, v in to_json(analysis).items() if k not in ("created", "timings", "environment", "estimate")}
        report["kernel"].pop("plan")  # None when every kernel came from the cache
        for c in report["checkpoints"]:
            c.pop("kernel_seconds")
            c.pop("kernel_cached")
        reports.append(report)
    assert reports[1] == reports[0]  # to the last bit: every pair's products are the same whatever the blocks
    assert tiny.summary.phases.verdict == large.summary.phases.verdict


def test_without_the_cache_kernels_wait_in_a_temporary_folder_that_goes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from click.testing import CliRunner

    from entk_probe.cli import main
    from entk_probe.pipeline import job
    from entk_probe.pipeline.kernelstore import DiskKernels

    write_run(tmp_path / "run", steps=(0, 5, 10))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    made: list[Path] = []
    real_write = DiskKernels._write
    monkeypatch.setattr(DiskKernels, "_write", lambda self, k: (p := real_write(self, k), made.append(p))[0])
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--probe", "synthetic:3", "--device", "cpu",
                                       "--no-cache", "--save-kernels", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    assert len(made) == 3 and made[0].parent.parent == tmp_path / "tmp"  # they were there
    assert list((tmp_path / "tmp").iterdir()) == []  # and are gone; the saved ones are kept
    assert len(list((tmp_path / "saved").glob("*.kernel.safetensors"))) == 3
    kept = analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu", cache=False))  # the API: until close()
    assert kept.kernels[0].shape == (3, 3) and len(list((tmp_path / "tmp").iterdir())) == 1
    kept.kernels.close()
    assert list((tmp_path / "tmp").iterdir()) == []
    monkeypatch.setattr(job, "summarize", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu", cache=False))
    assert len(made) == 9 and list((tmp_path / "tmp").iterdir()) == []  # after an error too
