"""The Lightning callback with the real Lightning Trainer: the schedule, the loggers, and analyze afterwards."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.probes import Target, make_probe
from entk_probe.runs.registry import REGISTRY

from ..helpers import REPO

lightning = pytest.importorskip("lightning", reason="the lightning extra is not installed: pip install -e '.[lightning]'")
PLUGIN = REPO / "plugins" / "mlp.py"


class _Module(lightning.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        REGISTRY.load_plugins(PLUGIN)
        torch.manual_seed(0)
        self.net = REGISTRY.get("mlp_28").factory(num_classes=10)
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def test_the_callback_logs_the_kernel_beside_the_loss_and_analyze_recomputes_nothing(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from entk_probe.integrations.lightning import EntkProbeCallback

    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(96, 1, 28, 28, generator=g), torch.randint(0, 10, (96,), generator=g))
    loader = torch.utils.data.DataLoader(data, batch_size=16)  # 6 steps an epoch
    probe = make_probe("synthetic:24", Target((1, 28, 28)))
    run = tmp_path / "entk"
    callback = EntkProbeCallback(probe, run, network="net", arch="mlp_28", budget=None)
    loggers = [CSVLogger(tmp_path / "logs"), TensorBoardLogger(tmp_path / "tb")]
    trainer = lightning.Trainer(max_epochs=2, logger=loggers, callbacks=[callback],
                                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                accelerator="cpu", log_every_n_steps=1)
    trainer.fit(_Module(), loader)
    # checkpoint_steps(6, 2): 0..4, then 6 (the first epoch's end), then 12
    assert [r.step for r in callback.watcher.records] == [0, 1, 2, 3, 4, 6, 12]
    with open(Path(loggers[0].log_dir) / "metrics.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("entk/centered_angle_from_first_deg")]
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3, 4, 6, 12]
    events = EventAccumulator(loggers[1].log_dir)  # every logger the Trainer has, TensorBoard's too
    events.Reload()
    assert [e.step for e in events.Scalars("entk/centered_angle_from_first_deg")] == [0, 1, 2, 3, 4, 6, 12]
    assert [e.step for e in events.Scalars("entk/phase")] == [0, 1, 2, 3, 4, 6, 12]
    result = analyze(run, "synthetic:24", AnalyzeOptions(plugins=[PLUGIN], input_size=(1, 28, 28),
                                                         cache_dir=tmp_path / "cache", resamples=0))
    assert all(r.cached for r in result.runs) and len(result.runs) == 7
    for row, metrics in zip(rows, result.summary.checkpoints):
        assert abs(float(row["entk/centered_angle_from_first_deg"]) - metrics.centered_angle_from_first_deg) < 1e-4


def test_the_callback_logs_to_weights_and_biases_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb", reason="wandb is not installed (the dev extra installs it)")
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    from entk_probe.integrations.lightning import EntkProbeCallback

    from ..wandbrecords import history

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(48, 1, 28, 28, generator=g), torch.randint(0, 10, (48,), generator=g))
    callback = EntkProbeCallback(make_probe("synthetic:16", Target((1, 28, 28))), tmp_path / "entk", network="net",
                                 arch="mlp_28", steps=[0, 1, 3], budget=None)
    trainer = lightning.Trainer(max_epochs=1, logger=WandbLogger(project="entk", save_dir=str(tmp_path), offline=True),
                                callbacks=[callback], enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, accelerator="cpu", log_every_n_steps=1)
    trainer.fit(_Module(), torch.utils.data.DataLoader(data, batch_size=16))
    wandb.teardown()  # finish() can return before wandb-core has flushed the record log; teardown waits for it
    rows = [r for r in history(tmp_path) if "entk/centered_angle_from_first_deg" in r]
    assert [r["trainer/global_step"] for r in rows] == [0, 1, 3]
    logged = [r.metrics["entk/centered_angle_from_first_deg"] for r in callback.watcher.records]
    assert [r["entk/centered_angle_from_first_deg"] for r in rows] == pytest.approx(logged)
