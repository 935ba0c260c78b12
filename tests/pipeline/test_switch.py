"""The switch experiment on the shipped Fashion-MNIST run: after Phase I, the linearised network
trains to what the network itself does, and beats the network linearised at initialisation."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from entk_probe.errors import UsageError
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.pipeline.switch import _chosen, optimiser, run_switch

from ..helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_optimiser_settings_come_from_flags_then_args_yaml_then_defaults(tmp_path: Path) -> None:
    (tmp_path / "args.yaml").write_text("lr: 0.2\nmomentum: 0.5\n")
    opt = optimiser(tmp_path, {"lr": 0.05, "batch_size": None})
    assert (opt.lr, opt.momentum, opt.weight_decay, opt.batch_size) == (0.05, 0.5, 5e-4, 128)
    assert dict(opt.sources) == {"lr": "the flag", "momentum": "args.yaml", "weight_decay": "the default",
                                 "batch_size": "the default"}
    with pytest.raises(UsageError, match="out of range"):
        optimiser(tmp_path, {"lr": -1.0})


def test_switch_points_are_the_first_and_the_boundary_or_the_nearest_times() -> None:
    class C:
        def __init__(self, t: float) -> None:
            self.t = t

        def time(self, unit: str) -> float:
            return self.t

    ckpts = [C(t) for t in (0.0, 0.5, 1.0, 2.0, 3.0)]
    assert _chosen(ckpts, "epoch", "boundary", {"index": 1, "time": 0.5}) == [0, 2]  # type: ignore[arg-type]
    assert _chosen(ckpts, "epoch", "1.1,2.9", None) == [0, 2, 4]  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="places no boundary"):
        _chosen(ckpts, "epoch", "boundary", None)  # type: ignore[arg-type]
    assert _chosen(ckpts, "epoch", "boundary,2.9", {"index": 1, "time": 0.5}) == [0, 2, 4]  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="'boundary' and/or times"):
        _chosen(ckpts, "epoch", "late", None)  # type: ignore[arg-type]


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"Fashion-MNIST not installed at {FASHION} (Debian's dataset-fashion-mnist)")
def test_after_the_boundary_the_linearised_network_beats_the_one_linearised_at_init() -> None:
    from entk_probe.pipeline.job import load_plugins

    load_plugins([REPO / "plugins" / "mlp.py"])
    opt = optimiser(SAMPLE, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 64})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_switch(SAMPLE, "fashion-mnist:2000,split=train", "fashion-mnist:500", "boundary", 1.0, opt,
                            AnalyzeOptions(device="cpu", plugins=(REPO / "plugins" / "mlp.py",)),
                            probe_spec=f"file:{SAMPLE / 'probe.safetensors'}")
    by = {(r.at_epoch, r.kind): r for r in report.results}
    init, after = sorted({r.at_epoch for r in report.results})
    assert report.boundary is not None and after > report.boundary["time"] and init == 0.0
    assert by[(after, "linearized")].accuracy > by[(init, "linearized")].accuracy + 0.05
    assert by[(after, "linearized")].accuracy > 0.9 * by[(after, "standard")].accuracy


def test_training_and_evaluation_sets_take_every_record_unless_the_spec_says() -> None:
    from entk_probe.pipeline.switch import whole_split

    assert whole_split("cifar10:4000,split=train") == "cifar10:4000,split=train,balance=no"
    assert whole_split("cifar10:1000,balance=yes") == "cifar10:1000,balance=yes"
    assert whole_split("file:probe.safetensors") == "file:probe.safetensors"
    assert whole_split("run:train") == "run:train,balance=no"
