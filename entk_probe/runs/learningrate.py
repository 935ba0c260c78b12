"""The learning rate a run recorded at each checkpoint, for the gradient-flow time of the phase call.

Read from, in this order, the first source that has a rate for every checkpoint:

- the checkpoint's own safetensors metadata, ``lr`` or ``learning_rate`` (the learning rate in
  force when it was saved; entk-probe's example training script writes it, any script can);
- timm train.py's summary.csv, its ``lr`` column: the rate of the epoch a checkpoint ends (the
  first row's for a checkpoint before any epoch ended);
- Hugging Face's trainer_state.json, its log_history's ``learning_rate`` (the rate of the step
  logged): the one logged at the checkpoint's step, else the last logged before it (the first
  logged for a checkpoint before any, such as the initial model's); found by the epochs that the
  log and the checkpoints' trainer_state.json record (``hflog``).

A torch file's ``args.lr`` is the base rate of a schedule, not the rate in force, and is not used.
None where no source covers every checkpoint: the phase call then measures slopes against time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .checkpoints import Checkpoint
from .traininglog import SUMMARY_FILE, entry_for

LR_KEYS = ("lr", "learning_rate")


@dataclass(frozen=True)
class LearningRates:
    values: list[float]  # one a checkpoint, in the order given
    source: str  # where they were read, for the report


def _rate(value: object) -> float | None:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return rate if math.isfinite(rate) and rate >= 0 else None


def _from_metadata(checkpoints: Sequence[Checkpoint]) -> list[float] | None:
    rates = []
    for ckpt in checkpoints:
        if ckpt.path.suffix != ".safetensors":
            return None
        found = next((_rate(ckpt.args[k]) for k in LR_KEYS if k in ckpt.args), None)
        if found is None:
            return None
        rates.append(found)
    return rates


def _from_log(checkpoints: Sequence[Checkpoint], log: Mapping[float, Mapping[str, float]]) -> list[float] | None:
    if not log or any(c.epoch is None for c in checkpoints):
        return None
    rates = []
    for ckpt in checkpoints:
        row = log[min(log)] if ckpt.epoch == 0 else entry_for(log, ckpt.epoch)  # before any epoch: the first's rate
        rate = _rate(row.get("lr")) if row is not None else None
        if rate is None:
            return None
        rates.append(rate)
    return rates


def _from_step_log(checkpoints: Sequence[Checkpoint], log: Mapping[float, Mapping[str, float]]) -> list[float] | None:
    """The rate logged at each checkpoint's epoch or last before it; the first logged before any."""
    logged = sorted((epoch, rate) for epoch, row in log.items() if (rate := _rate(row.get("lr"))) is not None)
    if not logged or any(c.epoch is None for c in checkpoints):
        return None
    return [next((rate for epoch, rate in reversed(logged) if epoch <= c.epoch), logged[0][1])  # type: ignore[operator]
            for c in checkpoints]


def recorded_learning_rates(checkpoints: Sequence[Checkpoint],
                            training_log: Mapping[float, Mapping[str, float]]) -> LearningRates | None:
    """Each checkpoint's learning rate and where it was read (module docstring); None without."""
    rates = _from_metadata(checkpoints)
    if rates is not None:
        return LearningRates(rates, "the checkpoints' metadata (lr)")
    if getattr(training_log, "per_step", False):  # trainer_state.json's log_history (traininglog.TrainingLog)
        rates = _from_step_log(checkpoints, training_log)
        source = getattr(training_log, "source", "trainer_state.json")
        return None if rates is None else LearningRates(
            rates, f"{source} log_history (learning_rate logged at each checkpoint's step or last before it)")
    rates = _from_log(checkpoints, training_log)
    if rates is not None:
        return LearningRates(rates, f"{SUMMARY_FILE} (lr of the epoch each checkpoint ends)")
    return None
