"""A run of kernels alone: what a training callback kept when it saved no checkpoint, analysed.

A 1B-parameter model's 50 checkpoints are 200 GB; its kernel trajectory a few megabytes. With
``save=False`` a ``Watcher`` keeps only the kernels (``runkernels``), and beside them, here, an
index (``index.jsonl``: a line a kernel, with its step, epoch and key), the probe they are over
(``probe.safetensors``) and the model's logits on it at each step. ``analyze RUN_DIR`` on a folder
with no checkpoint but such an index measures that trajectory: the same summary, phases and report,
with nothing to compute (the model is never built; what only the model could say is absent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor

from ..analysis.summary import summarize
from ..atomic import write_atomically
from ..errors import CheckpointError, UsageError
from ..probes import Probe, load_probe, save_probe
from ..runs.checkpoints import Checkpoint
from ..runs.models import ModelSpec
from ..runs.registry import ModelEntry
from .cache import KernelCache
from .kernelstore import MemoryKernels, analysis_budget
from .options import AnalyzeOptions
from .runkernels import LOGITS, RUN_KERNELS, run_parts

INDEX = "index.jsonl"
PROBE_FILE = "probe.safetensors"
KEPT = "kept by the training loop (entk-kernels/index.jsonl)"


def keep_entry(run_dir: Path, step: int, epoch: float | None, parts: Mapping[str, Any], probe: Probe, logits: Tensor,
               *, arch: str | None, num_params: int) -> None:
    """Record a kernel the store holds under ``parts``: its step, epoch, the probe (once) and the logits (N, C)."""
    folder = Path(run_dir) / RUN_KERNELS
    if not (folder / PROBE_FILE).is_file():
        save_probe(probe, folder / PROBE_FILE)
    name = f"logits-step{step:08d}.safetensors"
    write_atomically(folder / name, lambda tmp: save_file({"logits": logits.contiguous().float()}, str(tmp)))
    row = {"step": step, "epoch": epoch, "parts": dict(parts), "arch": arch, "num_params": num_params, "logits": name}
    with open(folder / INDEX, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")


def kept_index(run_dir: Path) -> list[dict[str, Any]] | None:
    """The rows of the run's kernel index (the last row of a step wins), or None when it has none."""
    path = Path(run_dir) / RUN_KERNELS / INDEX
    if not path.is_file():
        return None
    rows: dict[int, dict[str, Any]] = {}
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(text)
            rows[int(row["step"])] = row
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path}: line {number} is not an entry of the kernel index") from None
    return [rows[s] for s in sorted(rows)]


def _matching(rows: Sequence[dict[str, Any]], probe: Probe, options: AnalyzeOptions) -> list[dict[str, Any]]:
    wanted = run_parts("", probe.sha256, options.mode, options.jacobian_dtype, options.products, options.params, LOGITS)
    same = [r for r in rows if {**r["parts"], "weights_sha256": ""} == wanted]
    if not same:
        held = sorted({f"mode {r['parts']['mode']}, params {r['parts']['params']}" for r in rows})
        raise UsageError(f"the kernels kept in this run are not of this analysis's settings ({'; '.join(held)}): "
                         "analyze with the settings the training loop used")
    return same


def _kernels(folder: Path, rows: Sequence[dict[str, Any]], n: int) -> MemoryKernels:
    store, kernels = KernelCache(folder), []
    for row in rows:
        kernel = store.get(row["parts"], n)
        if kernel is None:
            raise CheckpointError(f"{folder}: the kernel of step {row['step']} is missing or damaged")
        kernels.append(kernel)
    return MemoryKernels(kernels)


def analyze_kept(run_dir: Path, probe_spec: str | None, options: AnalyzeOptions) -> Any:
    """The ``Analysis`` of the kernels kept in ``run_dir`` (no checkpoint there): module docstring."""
    from .job import Analysis, CheckpointRun  # the job calls this module for a run of kernels alone

    started = time.perf_counter()
    folder = Path(run_dir) / RUN_KERNELS
    rows = kept_index(run_dir) or []
    probe = load_probe(folder / PROBE_FILE)
    if probe_spec and not probe_spec.strip().startswith("file:"):
        raise UsageError(f"{run_dir} holds kernels alone, over the probe its training loop used ({probe.spec}): "
                         "analyze it without --probe")
    rows = _matching(rows, probe, options)
    kernels = _kernels(folder, rows, probe.n)
    unit = "epoch" if all(r.get("epoch") is not None for r in rows) else "step"
    times = [float(r["epoch"] if unit == "epoch" else r["step"]) for r in rows]
    logits = [load_file(str(folder / r["logits"]))["logits"] for r in rows]  # each (N, C)
    num_classes = int(kernels[0].shape[-1]) if options.mode == "full" else int(logits[0].shape[1])
    labels = probe.labels
    label_classes = max(len(probe.classes), int(labels.max()) + 1) if labels is not None else None
    summary = summarize(kernels, times, num_classes=num_classes, labels=labels, label_classes=label_classes,
                        logits=logits, thresholds=options.thresholds, k=options.subspace_k,
                        statistic=options.cone_statistic, max_memory=analysis_budget(options.max_memory),
                        resamples=options.resamples, time_unit=unit)
    arch = next((r["arch"] for r in rows if r.get("arch")), None) or "unknown"
    spec = ModelSpec(arch, KEPT, ModelEntry(arch, "the training loop", lambda **_: None), {}, {"kernels": KEPT})
    runs = [CheckpointRun(Checkpoint(folder / INDEX, f"step {r['step']}", r["parts"]["weights_sha256"], int(r["step"]),
                                     r.get("epoch")), "kept kernel", 0.0, True, t) for r, t in zip(rows, times)]
    count = int(rows[-1].get("num_params") or 0)
    return Analysis(run_dir=Path(run_dir), model=spec, num_params=count, num_classes=num_classes, probe=probe,
                    options=options, device="the training loop", param_names=(), time_unit=unit, runs=runs,
                    summary=summary, included=list(range(len(rows))), buffer_share=None, has_batchnorm=False,
                    seconds=time.perf_counter() - started, kernels=kernels, model_params=count,
                    kernel_scope="what the training loop's kernels covered")
