"""The kernel while a run trains: ``Watcher(model, probe, run_dir)``, and ``watcher.step(global_step)``.

At the steps of its schedule (the dense early ``checkpoint_steps``, or the user's own) a watcher
saves a checkpoint ``analyze`` reads (``stepNNNNNNNN.safetensors``: the state dict, with the step,
epoch and architecture in its metadata), computes the kernel on the probe in-process and keeps it
in the run's kernel store (``pipeline.runkernels``: by the weights' hash, so ``analyze`` later
computes nothing twice), or both. After each kernel it measures what the report's table shows
(the centred angle from the first kernel, the velocity, the kernel-target alignment, kernel
regression and probe accuracy), makes the provisional phase call (``analysis.online``) and hands
the numbers to ``log(metrics, step)`` (the loop's loggers). Its cost is estimated before the first
kernel and bounded by ``budget``, a fraction of the training time; a kernel that would exceed it
is skipped with a warning naming the step. Nothing it does can stop the training: an error is a
warning (code ``watch-failed``) and the next step is tried.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from ..analysis.dynamics import accuracy, alignment, center, kernel_angle_deg
from ..analysis.online import OnlineCall, OnlineCaller
from ..analysis.phases import PhaseThresholds
from ..analysis.regression import kernel_regression
from ..atomic import write_atomically
from ..engine.kernel import compute_entk_result
from ..errors import warn
from ..pipeline.keptrun import keep_entry
from ..pipeline.runkernels import LOGITS, run_parts, run_store, weights_sha256
from ..probes import Probe, make_probe
from ..probes.tokens import unpack

Log = Callable[[Mapping[str, float], int], None]
PREFIX = "entk/"  # of every logged metric's name


@dataclass
class WatchRecord:
    """What the watcher did at one scheduled step."""

    step: int
    epoch: float | None
    checkpoint: Path | None = None
    kernel_seconds: float | None = None
    skipped: str | None = None  # why no kernel was computed
    metrics: dict[str, float] = field(default_factory=dict)
    call: OnlineCall | None = None


def _probe(probe: Probe | str) -> Probe:
    return make_probe(probe) if isinstance(probe, str) else probe


class Watcher:
    """Checkpoints and kernels at scheduled steps of a training loop (module docstring).

    ``steps``: the global steps to act at (default: every call); ``total_steps``: the run's length,
    which lets the budget count the whole run's training time (without it, the time so far).
    ``arch``: the architecture name ``analyze`` builds (saved in each checkpoint's metadata).
    ``budget``: the kernels' share of the training time at most (None: no bound). ``outputs``: a
    module around ``model`` whose outputs the kernel is of (``runs.textcall.LabelWordLogits``), keyed
    in the run's store as ``outputs_key`` (``runkernels.label_words_outputs``).
    """

    def __init__(self, model: nn.Module, probe: Probe | str, run_dir: Path, *, steps: Iterable[int] | None = None,
                 save: bool = True, kernels: bool = True, arch: str | None = None, mode: str = "trace",
                 device: str = "auto", params: str | None = None, budget: float | None = 0.1,
                 total_steps: int | None = None, log: Log | None = None, thresholds: PhaseThresholds = PhaseThresholds(),
                 outputs: nn.Module | None = None, outputs_key: str = LOGITS) -> None:
        self.model, self.probe, self.run_dir = model, _probe(probe), Path(run_dir)
        self.steps = None if steps is None else set(int(s) for s in steps)
        self.save, self.kernels, self.arch, self.mode, self.device, self.params = save, kernels, arch, mode, device, params
        self.budget, self.total_steps, self.log = budget, total_steps, log
        self.caller = OnlineCaller(thresholds)
        # What the kernel is of: the model's logits, or a module around it (a language model's label words).
        self.outputs, self.outputs_key = outputs if outputs is not None else model, outputs_key
        self.records: list[WatchRecord] = []
        self.spent = 0.0  # seconds the watcher took, training excluded
        self.started: float | None = None
        self._first: Tensor | None = None
        self._last: tuple[int, Tensor] | None = None

    def due(self, step: int) -> bool:
        """Whether ``step`` is one the watcher acts at (and has not acted at yet)."""
        return (self.steps is None or step in self.steps) and not any(r.step == step for r in self.records)

    def step(self, global_step: int, epoch: float | None = None) -> WatchRecord | None:
        """Act at ``global_step`` if it is due: save, compute, measure, log. Never raises."""
        now = time.perf_counter()
        self.started = self.started if self.started is not None else now
        if not self.due(global_step):
            return None
        record = WatchRecord(int(global_step), epoch)
        try:
            self._act(record)
        except Exception as exc:  # the user's training goes on whatever happens here
            record.skipped = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            warn(f"entk-probe watcher, step {global_step}: {record.skipped}; training goes on", code="watch-failed")
        self.records.append(record)
        self.spent += time.perf_counter() - now
        return record

    def _act(self, record: WatchRecord) -> None:
        if self.save:
            record.checkpoint = self._save(record)
        if not self.kernels:
            return
        why = self._over_budget()
        if why:
            record.skipped = why
            warn(f"entk-probe watcher, step {record.step}: kernel skipped, {why}", code="watch-budget")
            return
        started = time.perf_counter()
        kernel, parts = self._kernel()
        record.kernel_seconds = time.perf_counter() - started
        if not any(r.kernel_seconds is not None for r in self.records):
            self._state_cost(record.kernel_seconds)
        logits = self._logits()
        keep_entry(self.run_dir, record.step, record.epoch, parts, self.probe, logits, arch=self.arch,
                   num_params=sum(p.numel() for p in self.model.parameters()))
        record.metrics = self._measure(record.step, kernel, logits)
        record.call = self.caller.add(kernel, float(record.step))
        record.metrics[PREFIX + "phase"] = 2.0 if record.call.phase2 else 1.0
        if self.log is not None:
            self.log(record.metrics, record.step)

    def _state_cost(self, seconds: float) -> None:
        """Say on stderr, at the first kernel, what the schedule's kernels will cost."""
        count = len(self.steps) if self.steps is not None else None
        total = f"; {count} scheduled: about {count * seconds:.0f} s in all" if count else ""
        bound = "no budget" if self.budget is None else f"at most {self.budget:.0%} of the training time (the budget)"
        print(f"entk-probe watcher: the kernel on {self.probe.n} probe inputs took {seconds:.1f} s{total}; {bound}",
              file=sys.stderr)

    def _over_budget(self) -> str | None:
        """Why the next kernel would exceed the budget, or None (the first kernel is always computed)."""
        done = [r.kernel_seconds for r in self.records if r.kernel_seconds is not None]
        if not done or self.budget is None:
            return None
        training = time.perf_counter() - (self.started or 0.0) - self.spent
        steps_done = max(1, max(r.step for r in self.records))
        total = training / steps_done * self.total_steps if self.total_steps else training
        if self.spent + done[-1] <= self.budget * total:
            return None
        return (f"the kernels so far took {self.spent:.1f} s, and another would exceed the budget of {self.budget:.0%} "
                f"of the training time ({total:.1f} s{' projected' if self.total_steps else ' so far'})")

    def _save(self, record: WatchRecord) -> Path:
        path = self.run_dir / f"step{record.step:08d}.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        meta = {"step": str(record.step)} | ({"epoch": repr(float(record.epoch))} if record.epoch is not None else {}) \
            | ({"arch": self.arch} if self.arch else {})
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: save_file(_unshared(state), str(tmp), metadata=meta))
        return path

    def _inputs(self) -> Tensor | dict[str, Tensor]:
        return unpack(self.probe.inputs, self.probe.input_keys) if self.probe.is_text else self.probe.inputs

    def _kernel(self) -> tuple[Tensor, dict]:
        result = compute_entk_result(self.outputs, self._inputs(), mode=self.mode, device=self.device,
                                     params=self.params)
        store = run_store(self.run_dir, create=True)
        assert store is not None
        parts = run_parts(weights_sha256(self.model), self.probe.sha256, self.mode, torch.float32, torch.float32,
                          self.params, self.outputs_key)
        store.put(parts, result.kernel, {"device": result.device, "seconds": f"{result.seconds:.3f}"})
        return result.kernel, parts

    def _logits(self) -> Tensor:
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                device = next(self.model.parameters()).device
                inputs = self._inputs()
                moved = {k: v.to(device) for k, v in inputs.items()} if isinstance(inputs, dict) else inputs.to(device)
                out = self.outputs(**moved) if isinstance(moved, dict) else self.outputs(moved)
        finally:
            self.model.train(was)
        return (out if isinstance(out, Tensor) else out.logits).detach().cpu()  # (N, C)

    def _measure(self, step: int, kernel: Tensor, logits: Tensor) -> dict[str, float]:
        """The report's per-checkpoint numbers for this kernel, named ``entk/`` and the report's key
        (``analysis.summary.CheckpointMetrics``, as ``analyze --tensorboard`` names them); the velocity
        is to the previous checkpoint, per step."""
        c = center(kernel)
        self._first = c if self._first is None else self._first
        metrics = {PREFIX + "centered_angle_from_first_deg": kernel_angle_deg(self._first, c)}
        if self._last is not None and step > self._last[0]:  # the report's velocity looks ahead; this one back
            metrics[PREFIX + "angular_velocity_from_previous_deg"] = kernel_angle_deg(self._last[1], c) / (step - self._last[0])
        self._last = (step, c)
        labels = self.probe.labels
        if labels is not None:
            classes = max(len(self.probe.classes), int(labels.max()) + 1)
            metrics[PREFIX + "centered_alignment"] = alignment(c, labels, classes)
            metrics[PREFIX + "kernel_regression_accuracy"] = kernel_regression(kernel, labels, classes)[0]
            if logits.shape[1] == classes:
                metrics[PREFIX + "accuracy"] = accuracy(logits, labels)
        return metrics


def _unshared(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Tensors that share memory (tied weights) cloned, as safetensors writes no aliases."""
    seen: set[int] = set()
    out = {}
    for name, t in state.items():
        key = t.untyped_storage().data_ptr()
        out[name] = t.clone() if key in seen and t.numel() else t
        seen.add(key)
    return out
