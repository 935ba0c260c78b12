"""The main job: a run directory and a probe in, the analysis of its kernel trajectory out.

``analyze(run_dir, probe_spec, AnalyzeOptions(...))`` (``job``) discovers and reads the run's
checkpoints (``runs``), builds the probe (``probes``), gets each checkpoint's kernel from the
engine or the kernel cache (``kernels``, ``cache``), optionally the buffers' share of each step
(``buffers``), and measures the trajectory (``analysis``). ``options`` holds what it can be told,
checked before anything is read; ``checkpoint_kernel`` is the one-checkpoint job of
``entk-probe kernel`` (``onekernel``); ``textrun`` builds a Hugging Face run's model, spec and text probe.
"""

from .job import Analysis, CheckpointRun, analyze, load_plugins
from .onekernel import CheckpointKernel, checkpoint_kernel
from .options import AnalyzeOptions

__all__ = ["Analysis", "AnalyzeOptions", "CheckpointKernel", "CheckpointRun", "analyze", "checkpoint_kernel", "load_plugins"]
