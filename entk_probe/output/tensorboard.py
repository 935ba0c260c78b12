"""TensorBoard event files of a report (``analyze --tensorboard DIR``), so that ``tensorboard --logdir``
shows the kernel's dynamics beside the run's own curves.

Written from the JSON report dict (``jsonreport.to_json``), the single source of every number:

- scalars ``entk/<metric>``: each number in a checkpoint's ``metrics`` (``entk/<metric>/<statistic>``
  for ``subspace_to_next``; lists such as ``top_eigenvalues`` are left out), at that checkpoint's
  global step; nulls (a checkpoint left out, the last one's velocity...) are skipped; ``entk/phase``
  is 1 or 2 where the run has a boundary;
- text ``entk/verdict``, ``entk/boundary`` and ``entk/time_axis`` (what the steps are), at the last step;
- image ``entk/dynamics``: the figure ``--plot`` writes, at the last step (needs matplotlib).

The step is the global step each checkpoint records. Where not every checkpoint records one (or the
steps do not increase), it is the epoch number if every epoch is a whole number, else the checkpoint's
position in the report; ``entk/time_axis`` says which, and a warning ``tensorboard-steps`` too.

One event file per analysis, named ``events.out.tfevents.*.entk-probe``: it is written in a hidden
folder inside DIR and renamed into DIR when complete, and it replaces the file an earlier analysis
wrote there; other event files in DIR (the run's own) are left alone. Needs the tensorboard package
(the ``tensorboard`` extra), imported only when used.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis.verdicts import verdict as describe
from ..errors import UsageError, warn

PREFIX = "entk"
SUFFIX = ".entk-probe"  # the end of the event files this module writes (and replaces)
PHASES = {"I": 1, "II": 2}


def summary_writer() -> Any:
    """torch's ``SummaryWriter`` class, or a UsageError saying how to install the tensorboard extra."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it; say so before torch does)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError("--tensorboard needs the tensorboard extra: pip install 'entk-probe[tensorboard]'") from None
    return SummaryWriter


def check_tensorboard() -> None:
    """A UsageError now, rather than after the analysis, when the tensorboard package is missing."""
    summary_writer()


@dataclass(frozen=True)
class TimeAxis:
    """The TensorBoard step of every checkpoint of a report, in its order, and what those steps are."""

    steps: list[int]
    source: str  # "step" (the recorded global step), "epoch" (whole epoch numbers) or "index" (position)
    note: str  # one sentence for ``entk/time_axis``


def _increasing(values: list[Any]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def time_axis(report: dict[str, Any]) -> TimeAxis:
    """The recorded global steps; else whole epoch numbers; else positions 0, 1, ... (see the module's docstring)."""
    checkpoints = report["checkpoints"]
    steps = [c.get("step") for c in checkpoints]
    if all(isinstance(s, int) for s in steps) and _increasing(steps):
        return TimeAxis(steps, "step", "The step is the global step each checkpoint records.")
    epochs = [c.get("epoch") for c in checkpoints]
    why = "Not every checkpoint records its global step" if None in steps else "The recorded steps do not increase"
    if all(isinstance(e, (int, float)) and float(e).is_integer() for e in epochs) and _increasing(epochs):
        return TimeAxis([int(e) for e in epochs], "epoch", f"{why}: the step is the epoch number, so curves logged "
                        "by global step do not line up with these.")
    return TimeAxis(list(range(len(checkpoints))), "index",
                    f"{why}, nor a whole epoch number: the step is the checkpoint's position in the report (0, 1, ...), "
                    "so curves logged by global step do not line up with these.")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checkpoint_scalars(checkpoint: dict[str, Any]) -> dict[str, float]:
    """Tag to value for one checkpoint of a report: its numeric metrics (dicts of numbers flattened to
    ``metric/key``), and ``phase`` as 1 or 2; nulls and lists left out; nothing for a checkpoint left out."""
    metrics = checkpoint.get("metrics")
    if metrics is None:
        return {}
    scalars: dict[str, float] = {}
    for key, value in metrics.items():
        if _number(value):
            scalars[f"{PREFIX}/{key}"] = float(value)
        elif isinstance(value, dict):
            scalars.update({f"{PREFIX}/{key}/{k}": float(v) for k, v in value.items() if _number(v)})
    if checkpoint.get("phase") in PHASES:
        scalars[f"{PREFIX}/phase"] = float(PHASES[checkpoint["phase"]])
    return scalars


def verdict_text(report: dict[str, Any]) -> str:
    """The verdict in Markdown: its id and meaning, how sure it is (probe resamples), the explanation."""
    phases = report["phases"]
    lines = [f"**{phases['verdict']}**: {describe(phases['verdict']).description}"]
    confidence = phases.get("confidence")
    if confidence:
        lines.append(f"Confidence: {confidence['summary']}.")
    if phases.get("explanation"):
        lines.append(phases["explanation"])
    return "\n\n".join(lines)


def boundary_text(report: dict[str, Any]) -> str:
    """Where Phase I ends, in Markdown: the checkpoint, its step and epoch, the rule that placed it."""
    b = report["phases"]["boundary"]
    if b is None:
        return "No boundary: the run has no Phase II (see the verdict)."
    where = ", ".join(f"{key} {b[key]}" for key in ("step", "epoch") if b.get(key) is not None)
    rule = f", placed by the {b['rule']} rule" if b.get("rule") else ""
    return f"End of Phase I: **{b['checkpoint']}** ({where + ', ' if where else ''}report index {b['index']}){rule}."


def _add_figure(writer: Any, report: dict[str, Any], step: int) -> None:
    """The ``--plot`` figure as image ``entk/dynamics``; without matplotlib, a warning instead."""
    from .plots import pyplot, report_figure

    try:
        pyplot()
    except UsageError:
        warn("--tensorboard wrote the scalars and text but no images: the plot panels need matplotlib: "
             "pip install 'entk-probe[plot]'", code="tensorboard-no-images")
        return
    writer.add_figure(f"{PREFIX}/dynamics", report_figure(report), global_step=step, close=True)


def _write_events(writer: Any, report: dict[str, Any], axis: TimeAxis) -> None:
    """Every scalar at its checkpoint's step; the text and the figure at the last step."""
    for checkpoint, step in zip(report["checkpoints"], axis.steps):
        for tag, value in checkpoint_scalars(checkpoint).items():
            writer.add_scalar(tag, value, global_step=step)
    last = axis.steps[-1] if axis.steps else 0
    unit = report.get("time_unit")
    rates = f" Rates (velocity, angular_velocity_deg) are per {unit}, as in the report." if unit in ("epoch", "step") else ""
    for tag, text in (("verdict", verdict_text(report)), ("boundary", boundary_text(report)),
                      ("time_axis", axis.note + rates)):
        writer.add_text(f"{PREFIX}/{tag}", text, global_step=last)
    _add_figure(writer, report, last)


def write_tensorboard(report: dict[str, Any], directory: Path) -> Path:
    """Write ``report`` as one TensorBoard event file in ``directory`` (created if needed) and return
    its path; it replaces the one an earlier call wrote there. A failed write leaves no partial file
    and raises OSError."""
    writer_class = summary_writer()
    from tensorboard.compat.tensorflow_stub.errors import OpError

    axis = time_axis(report)
    if axis.source != "step":
        warn(f"--tensorboard: {axis.note}", code="tensorboard-steps")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".entk-probe-", dir=directory))
    try:
        with writer_class(str(staging), filename_suffix=SUFFIX) as writer:
            _write_events(writer, report, axis)
        (written,) = staging.glob(f"events.out.tfevents.*{SUFFIX}")
        target = directory / written.name
        written.replace(target)
    except OpError as exc:  # tensorboard's own I/O errors
        raise OSError(str(exc.message or exc)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for earlier in directory.glob(f"events.out.tfevents.*{SUFFIX}"):
        if earlier != target:
            earlier.unlink(missing_ok=True)
    return target
