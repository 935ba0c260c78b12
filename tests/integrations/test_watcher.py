"""A hand-written loop with a Watcher: checkpoints analyze reads, kernels it does not compute again."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from entk_probe.errors import EntkProbeWarning
from entk_probe.integrations import Watcher
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline.runkernels import RUN_KERNELS
from entk_probe.probes import Target, make_probe
from entk_probe.runs.registry import REGISTRY

from ..helpers import REPO

PLUGIN = REPO / "plugins" / "mlp.py"
STEPS = [0, 1, 2, 4, 8, 12]


def _mlp() -> nn.Module:
    REGISTRY.load_plugins(PLUGIN)
    torch.manual_seed(0)
    return REGISTRY.get("mlp_28").factory(num_classes=10)


def _train(model: nn.Module, watcher: Watcher, steps: int = 12) -> None:
    """SGD on random images with labels, the watcher told after every step (and before the first)."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    watcher.step(0, epoch=0.0)
    for step in range(1, steps + 1):
        i = torch.randint(0, 64, (16,), generator=g)
        loss = nn.functional.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        watcher.step(step, epoch=step / 4)


def _probe():  # type: ignore[no-untyped-def]
    return make_probe("synthetic:24", Target((1, 28, 28)))


def test_a_watched_loop_is_analysed_without_computing_a_kernel_again(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model, logged = _mlp(), []
    watcher = Watcher(model, _probe(), tmp_path / "run", steps=STEPS, arch="mlp_28", budget=None,
                      log=lambda m, s: logged.append((s, m)))
    _train(model, watcher)
    assert "entk-probe watcher: the kernel on 24 probe inputs took" in capsys.readouterr().err  # the cost, up front
    assert [r.step for r in watcher.records] == STEPS and all(r.checkpoint and r.checkpoint.is_file() for r in watcher.records)
    assert [s for s, _ in logged] == STEPS and logged[0][1]["entk/centered_angle_from_first_deg"] == 0.0
    assert all("entk/angular_velocity_from_previous_deg" in m for _, m in logged[1:])
    assert (tmp_path / "run" / RUN_KERNELS).is_dir()
    result = analyze(tmp_path / "run", "synthetic:24", AnalyzeOptions(plugins=[PLUGIN], input_size=(1, 28, 28),
                                                                      cache_dir=tmp_path / "cache", resamples=0))
    assert [r.checkpoint.step for r in result.runs] == STEPS
    assert all(r.cached for r in result.runs)  # every kernel came from the run's store
    for metrics, (_, logged_metrics) in zip(result.summary.checkpoints, logged):
        assert abs(metrics.centered_angle_from_first_deg - logged_metrics["entk/centered_angle_from_first_deg"]) < 1e-6
    final = watcher.caller.calls[-1]
    assert (final.verdict, final.boundary) == (result.summary.phases.verdict, result.summary.phases.boundary)


def test_a_plain_loop_logs_to_tensorboard_through_its_own_writer(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    model = _mlp()
    writer = SummaryWriter(str(tmp_path / "tb"))
    watcher = Watcher(model, _probe(), tmp_path / "run", steps=STEPS, save=False, budget=None,
                      log=lambda metrics, step: [writer.add_scalar(k, v, step) for k, v in metrics.items()])
    _train(model, watcher)
    writer.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("entk/centered_angle_from_first_deg")] == STEPS
    assert not list((tmp_path / "run").glob("*.safetensors"))  # save=False: kernels only


def test_the_budget_skips_kernels_and_errors_never_stop_the_loop(tmp_path: Path) -> None:
    model = _mlp()
    watcher = Watcher(model, _probe(), tmp_path / "run", steps=STEPS, save=False, budget=0.0)
    with pytest.warns(EntkProbeWarning, match=r"step 1: kernel skipped, the kernels so far took .* budget of 0%"):
        _train(model, watcher)
    assert watcher.records[0].kernel_seconds is not None
    assert all(r.skipped and "budget" in r.skipped for r in watcher.records[1:])
    broken = Watcher(model, make_probe("synthetic:4", Target((3, 32, 32))), tmp_path / "other", steps=[0, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = broken.step(0)
    assert record is not None and record.skipped and record.skipped.startswith("failed:")
    assert any(getattr(w.message, "code", "") == "watch-failed" for w in caught)
