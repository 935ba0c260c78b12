"""``EntkProbeCallback`` for the Hugging Face Trainer: checkpoints and kernels at the dense early schedule.

    callback = EntkProbeCallback(probe)            # a text probe made with the run's tokenizer
    trainer = Trainer(model=model, args=args, ..., callbacks=[callback])
    callback.trainer = trainer                     # optional: metrics through trainer.log (its reporters)

At the steps of ``runs.schedule.checkpoint_steps`` (of the run's steps an epoch and epochs, or
``steps``) it asks the Trainer to save (``control.should_save``: checkpoint-<step>/ folders, its
own layout; the initial model is saved as checkpoint-0 before the first step) and computes the
kernel in-process into ``output_dir/entk-kernels/``. Metrics go through ``trainer.log`` when the
callback knows the trainer (then to TensorBoard, Weights & Biases... as the Trainer reports), else
into ``state.log_history``. A sequence classifier's kernel is of its logits; a causal or masked
LM's of the logits of ``label_words`` at the prediction position (``runs.textcall.LabelWordLogits``),
with ``prompt`` the template the probe was made with (default: ``analyze``'s for that kind of
model), so that ``analyze --label-words ... --prompt ...`` finds the same kernels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..errors import UsageError, warn
from ..pipeline.runkernels import label_words_outputs
from ..pipeline.textrun import DEFAULT_PROMPTS
from ..probes import Probe
from ..runs.schedule import checkpoint_steps
from ..runs.textcall import LabelWordLogits, label_word_ids, model_kind
from .watcher import Watcher

__all__ = ["EntkProbeCallback"]


class EntkProbeCallback(TrainerCallback):
    """The kernel of a Trainer's model at the dense early schedule (module docstring)."""

    def __init__(self, probe: Probe | str, *, steps: Iterable[int] | None = None, save: bool = True,
                 trainer: Any = None, label_words: Sequence[str] | None = None, prompt: str | None = None,
                 **watcher: Any) -> None:
        self.probe, self.steps, self.save, self.trainer, self.options = probe, steps, save, trainer, watcher
        self.label_words, self.prompt = label_words, prompt
        self.watcher: Watcher | None = None
        self.state: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        epochs = max(1, math.ceil(args.num_train_epochs))
        per_epoch = max(1, math.ceil(state.max_steps / args.num_train_epochs)) if state.max_steps > 0 else 1
        steps = self.steps if self.steps is not None else checkpoint_steps(per_epoch, epochs)
        self.state = state
        try:
            outputs = self._outputs(model, kwargs.get("processing_class"))
            self.watcher = Watcher(model, self.probe, Path(args.output_dir), steps=steps, save=False,
                                   total_steps=state.max_steps or None, log=self._log, **outputs, **self.options)
        except Exception as exc:  # a bad probe or option: the training still runs
            warn(f"entk-probe callback not started: {exc}", code="watch-failed")
            return
        if self.save and self.watcher.due(state.global_step) and state.global_step == 0:
            _save_initial(Path(args.output_dir), model, state, kwargs.get("processing_class"))
        self.watcher.step(state.global_step, epoch=state.epoch or 0.0)

    def _outputs(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """The Watcher's ``outputs`` and ``outputs_key`` for a language model's label words ({} otherwise)."""
        kind = model_kind(type(model).__name__)
        if kind == "classifier" or not self.label_words:
            if kind != "classifier":
                raise UsageError(f"{type(model).__name__} is a language model: pass label_words=(...), one word a class")
            return {}
        if tokenizer is None:
            raise UsageError("label words need the tokenizer: give the Trainer processing_class=tokenizer")
        words = label_word_ids(tokenizer, self.label_words)
        prompt = self.prompt or DEFAULT_PROMPTS[kind]
        return {"outputs": LabelWordLogits(model, kind, words, tokenizer.mask_token_id),
                "outputs_key": label_words_outputs(",".join(self.label_words), prompt)}

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.watcher is None:
            return
        if self.save and self.watcher.due(state.global_step):
            control.should_save = True
        self.watcher.step(state.global_step, epoch=state.epoch)

    def _log(self, metrics: Mapping[str, float], step: int) -> None:
        if self.trainer is not None:
            self.trainer.log(dict(metrics))
        elif self.state is not None:
            self.state.log_history.append({**metrics, "step": step})


def _save_initial(output_dir: Path, model: Any, state: Any, tokenizer: Any) -> None:
    """checkpoint-0 as the Trainer writes a checkpoint: the model, its trainer_state.json, the tokenizer."""
    try:
        folder = output_dir / "checkpoint-0"
        model.save_pretrained(str(folder))
        state.save_to_json(str(folder / "trainer_state.json"))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(folder))
    except Exception as exc:  # the training goes on without it
        warn(f"entk-probe callback: the initial model was not saved ({exc})", code="watch-failed")
