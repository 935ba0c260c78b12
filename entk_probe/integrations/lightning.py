"""``EntkProbeCallback`` for Lightning: the watcher at the dense early schedule, logged to the Trainer's loggers.

    trainer = lightning.Trainer(callbacks=[EntkProbeCallback("cifar10:500", network="net", arch="resnet18")])

The network is the LightningModule itself, or its attribute ``network`` (dotted: "model.backbone"),
whose forward gives the logits; its state dict is what the checkpoints hold. The schedule is
``runs.schedule.checkpoint_steps`` of the Trainer's batches an epoch and epochs (or ``steps``); the
run folder is ``run_dir``, by default ``entk-probe/`` in the Trainer's log folder. Metrics go to
every logger the Trainer has (TensorBoard, CSV, Weights & Biases, ...) at its global step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from ..errors import UsageError, warn
from ..probes import Probe
from ..runs.schedule import checkpoint_steps
from .watcher import Watcher

__all__ = ["EntkProbeCallback"]


class EntkProbeCallback(Callback):
    """The kernel of the network at the dense early schedule of a Lightning run (module docstring)."""

    def __init__(self, probe: Probe | str, run_dir: Path | None = None, *, network: str | None = None,
                 steps: Iterable[int] | None = None, **watcher: Any) -> None:
        self.probe, self.run_dir, self.network, self.steps, self.options = probe, run_dir, network, steps, watcher
        self.watcher: Watcher | None = None
        self.steps_per_epoch = 1

    def _network(self, pl_module: Any) -> Any:
        model = pl_module
        for name in (self.network or "").split(".") if self.network else []:
            if not hasattr(model, name):
                raise UsageError(f"EntkProbeCallback(network={self.network!r}): {type(model).__name__} has no {name!r}")
            model = getattr(model, name)
        return model

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        batches = trainer.num_training_batches
        self.steps_per_epoch = int(batches) if math.isfinite(batches) and batches > 0 else 1
        epochs = max(1, int(trainer.max_epochs or 1))
        steps = self.steps if self.steps is not None else checkpoint_steps(self.steps_per_epoch, epochs)
        run_dir = self.run_dir or Path(trainer.log_dir or trainer.default_root_dir) / "entk-probe"
        total = trainer.estimated_stepping_batches
        try:
            self.watcher = Watcher(self._network(pl_module), self.probe, run_dir, steps=steps,
                                   total_steps=int(total) if math.isfinite(total) else None,
                                   log=lambda metrics, step: _log(trainer, metrics, step), **self.options)
        except Exception as exc:  # a bad probe or option: the training still runs
            warn(f"entk-probe callback not started: {exc}", code="watch-failed")
            return
        self.watcher.step(trainer.global_step, epoch=trainer.global_step / self.steps_per_epoch)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.watcher is not None:
            self.watcher.step(trainer.global_step, epoch=trainer.global_step / self.steps_per_epoch)


def _log(trainer: Any, metrics: Mapping[str, float], step: int) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(dict(metrics), step=step)
