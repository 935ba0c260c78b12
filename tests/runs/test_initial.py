"""--init seed: timm train.py's initial model rebuilt from the recorded seed."""

from __future__ import annotations

import argparse
import io
import dataclasses
from pathlib import Path

import pytest
from rich.console import Console
import timm
import torch
from timm.utils import CheckpointSaver, ModelEmaV3, random_seed

from entk_probe.errors import EntkProbeWarning, UsageError
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.runs.initial import initial_checkpoint, initial_state
from entk_probe.runs.models import make_spec
from entk_probe.runs.records import CHECKPOINT_ARGS, RUN_ARGS_FILE, Records

from ..helpers import write_run

ARGS = {"model": "test_resnet", "num_classes": 10, "seed": 7, "img_size": 32, "pretrained": False}


def _spec(records: Records, arch: str = "test_resnet"):  # type: ignore[no-untyped-def]
    return make_spec(arch, "args.model", timm.create_model(arch, num_classes=10).state_dict(), records=records)


def test_two_rebuilds_are_identical_and_equal_what_train_py_starts_from() -> None:
    records = Records(((RUN_ARGS_FILE, ARGS),))
    first, seed = initial_state(_spec(records), records)
    torch.randn(100)  # whatever ran in between
    second, _ = initial_state(_spec(records), records)
    assert seed == 7 and first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    # train.py: utils.random_seed(args.seed, args.rank), then create_model(args.model, ...) with its options
    random_seed(7, 0)
    trained_from = timm.create_model("test_resnet", pretrained=False, num_classes=10, drop_rate=0.0, drop_path_rate=None,
                                     drop_block_rate=None, global_pool=None, bn_momentum=None, bn_eps=None).state_dict()
    assert all(torch.equal(trained_from[k], first[k]) for k in trained_from)
    seed8 = Records(((RUN_ARGS_FILE, {**ARGS, "seed": 8}),))
    other, _ = initial_state(_spec(seed8), seed8)
    assert any(not torch.equal(other[k], first[k]) for k in first if first[k].is_floating_point())


@pytest.mark.parametrize("args, message", [
    ({k: v for k, v in ARGS.items() if k != "seed"}, "needs the run's seed"),
    ({**ARGS, "pretrained": True}, "started from pretrained=True"),
    ({**ARGS, "initial_checkpoint": "w.pth"}, "started from initial_checkpoint='w.pth'"),
])
def test_runs_that_cannot_be_rebuilt_say_why(args: dict, message: str) -> None:
    records = Records(((CHECKPOINT_ARGS, args),))
    with pytest.raises(UsageError, match=message):
        initial_state(_spec(records), records)


def test_the_rebuilt_checkpoint_is_at_time_0_with_a_stable_file(tmp_path: Path) -> None:
    records = Records(((RUN_ARGS_FILE, ARGS),))
    a = initial_checkpoint(_spec(records), records, tmp_path)
    b = initial_checkpoint(_spec(records), records, tmp_path)
    assert (a.step, a.epoch, a.name) == (None, 0.0, "init (seed 7)")
    assert a.sha256 == b.sha256 and a.path == b.path  # the kernel cache recognises it on the next run


def test_analyze_with_init_seed_starts_a_timm_run_at_its_initialisation(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    random_seed(7, 0)
    model = timm.create_model("test_resnet", num_classes=10)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    saver = CheckpointSaver(model, torch.optim.SGD(model.parameters(), lr=0.1), args=argparse.Namespace(**ARGS),
                            model_ema=ModelEmaV3(model), checkpoint_dir=str(run), max_history=5)
    for epoch in range(2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        saver.save_checkpoint(epoch, metric=float(epoch))
    options = AnalyzeOptions(device="cpu", cache_dir=tmp_path / "cache", init="seed", trust_checkpoints=False)
    with pytest.warns(EntkProbeWarning, match="rebuilt from the recorded seed"):
        result = analyze(run, "synthetic:4", options)
    names = [r.checkpoint.name for r in result.runs]
    assert names[0] == "init (seed 7)" and [r.time for r in result.runs] == [0.0, 1.0, 2.0]
    rebuilt = result.runs[0].checkpoint.path
    from safetensors.torch import load_file

    assert all(torch.equal(load_file(str(rebuilt))[k], initial[k]) for k in initial)
    from entk_probe import render, to_json

    report = to_json(result)
    assert [c["rebuilt"] for c in report["checkpoints"]] == [True, False, False]
    console = Console(file=io.StringIO(), width=200)
    render(report, console)
    assert "init (seed 7): the initial model, not a file of the run: rebuilt from the run's seed" in console.file.getvalue()
    ema = analyze(run, "synthetic:4", dataclasses.replace(options, weights="ema"))  # the init is its own EMA
    assert ema.runs[0].checkpoint.rebuilt and torch.equal(ema.kernels[0], result.kernels[0])
    write_run(tmp_path / "from_zero")  # its first checkpoint is at step 0
    with pytest.raises(UsageError, match="already starts at its initialisation"):
        analyze(tmp_path / "from_zero", "synthetic:4", options)
