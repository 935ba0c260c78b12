"""In the training loop: the kernel computed while a run trains, beside the loss.

``Watcher`` (``watcher``) is the loop-independent part: at scheduled steps it saves a checkpoint
``analyze`` reads, computes the kernel in-process into the run's kernel store, measures it, makes
the provisional phase call and logs the numbers. ``lightning.EntkProbeCallback`` (a Lightning
Callback) and ``transformers.EntkProbeCallback`` (a Hugging Face TrainerCallback) drive it from
those loops, with the dense early schedule and the loops' own loggers; a hand-written loop calls
``watcher.step(global_step)`` itself. Lightning and transformers are imported only by their modules.
"""

from .watcher import Watcher, WatchRecord

__all__ = ["WatchRecord", "Watcher"]
