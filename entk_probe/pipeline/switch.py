"""The switch experiment: from chosen checkpoints, train the network and its linearisation.

Zhou et al. (2025) and Fort et al. (2020) test Phase II functionally: after Phase I, training the
network linearised at the current weights recovers most of what training the network itself
does, far more than linearising at initialisation. For each chosen checkpoint (the first is
always one: the fully linearised baseline) both are trained for the same epochs with the same
optimiser and data order, and evaluated on the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.kernel import resolve_device
from ..errors import UsageError, warn
from ..probes import Probe, make_probe, parse_spec
from ..runs.checkpoints import Checkpoint, discover, select, time_unit
from ..runs.models import load_weights, resolve_arch
from ..runs.records import read_run_args
from .job import analyze, prepare, read_state
from .options import AnalyzeOptions
from .training import KINDS, Optimiser, evaluate, train, training_steps

DEFAULTS = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128}


@dataclass(frozen=True)
class SwitchResult:
    at_epoch: float  # the checkpoint's time in the run's unit
    checkpoint: str
    kind: str  # standard | linearized
    accuracy: float
    loss: float
    seconds: float


@dataclass
class SwitchReport:
    run_dir: Path
    time_unit: str
    boundary: dict[str, Any] | None
    optimiser: Optimiser
    epochs: float
    train: Probe
    eval: Probe
    results: list[SwitchResult] = field(default_factory=list)
    seed: int = 0  # of the batch order
    device: str = "cpu"


def optimiser(run_dir: Path, given: dict[str, float | int | None]) -> Optimiser:
    """SGD settings: the flags, else the run's args.yaml (or Lightning's hparams.yaml), else ``DEFAULTS``."""
    recorded = read_run_args(run_dir)
    values, sources = {}, []
    for key, default in DEFAULTS.items():
        if given.get(key) is not None:
            values[key], where = given[key], "the flag"
        elif isinstance(recorded.get(key), (int, float)) and not isinstance(recorded.get(key), bool):
            values[key], where = recorded[key], getattr(recorded, "source", "args.yaml")  # timm's names; hparams.yaml mapped to them
        else:
            values[key], where = default, "the default"
        sources.append((key, where))
    if not (values["lr"] > 0 and values["batch_size"] >= 1 and values["momentum"] >= 0 and values["weight_decay"] >= 0):
        raise UsageError(f"switch: optimiser settings out of range: {values}")
    return Optimiser(float(values["lr"]), float(values["momentum"]), float(values["weight_decay"]),
                     int(values["batch_size"]), tuple(sources))


def _chosen(checkpoints: list[Checkpoint], unit: str, at: str, boundary: dict[str, Any] | None) -> list[int]:
    """Positions to switch at: the first, and for each comma-separated item of ``at`` either the
    first Phase II checkpoint ("boundary") or the checkpoint nearest that time."""
    times = [c.time(unit) if unit != "index" else float(i) for i, c in enumerate(checkpoints)]
    picks = {0}
    for text in at.split(","):
        if text.strip() == "boundary":
            if boundary is None:
                raise UsageError("switch --at boundary: the analysis places no boundary on this run; give times with --at")
            picks.add(min(boundary["index"] + 1, len(checkpoints) - 1))
            continue
        try:
            wanted = float(text)
        except ValueError:
            raise UsageError(f"switch --at takes 'boundary' and/or times such as boundary,1,2.5, not {at!r}") from None
        nearest = min(range(len(times)), key=lambda i: abs(times[i] - wanted))  # type: ignore[operator]
        if not times[0] <= wanted <= times[-1]:  # type: ignore[operator]
            warn(f"switch --at {text.strip()}: the checkpoints span {unit} {times[0]:g} to {times[-1]:g}; switching "
                 f"at the nearest, {checkpoints[nearest].name} ({unit} {times[nearest]:g})", code="switch-at-outside")
        picks.add(nearest)
    return sorted(picks)


def whole_split(spec_text: str) -> str:
    """A training or evaluation set's spec: every record of the split, any class (``balance=no``), unless
    the spec chooses (``balance=yes``): class balance is for probes, not for the data a network trains on."""
    if spec_text.strip().lower().startswith("run:"):  # the run's own data: its options pass through
        return spec_text if ",balance=" in spec_text else f"{spec_text.strip()},balance=no"
    spec = parse_spec(spec_text)
    if spec.name in ("file", "synthetic") or "balance" in spec.options:
        return spec_text
    return f"{spec_text.strip()},balance=no"


def run_switch(run_dir: Path, train_spec: str, eval_spec: str, at: str, epochs: float, opt: Optimiser,
               options: AnalyzeOptions, probe_spec: str | None = None, seed: int = 0,
               on_result: Callable[[SwitchResult], None] | None = None) -> SwitchReport:
    """Train both kinds from each chosen checkpoint for ``epochs`` epochs of ``train_spec``; evaluate on ``eval_spec``.

    ``at`` lists "boundary" (the first checkpoint after the analysis's boundary, from ``probe_spec``,
    default ``eval_spec``; kernels come from the cache when analysed before) and/or times in the
    run's unit.
    """
    if not epochs > 0:
        raise UsageError(f"switch --epochs must be positive, not {epochs}")
    options.validate()
    checkpoints = select(discover(run_dir, glob=options.glob, trust=options.trust_checkpoints),
                         every=options.every, range_=options.range, max_checkpoints=options.max_checkpoints)
    unit = time_unit(checkpoints) or "index"
    if unit != "index" and (first := checkpoints[0].time(unit)) is not None and first > 0:
        warn(f"switch: the first checkpoint selected, {checkpoints[0].name} ({unit} {first:g}), is the linearised "
             "baseline, not the initialisation", code="switch-baseline-not-init")
    arch, arch_source = resolve_arch(options.arch, checkpoints, run_dir, base_model=options.base_model)
    state, _ = read_state(checkpoints[0], options)
    spec, model, train_probe = prepare(arch, arch_source, checkpoints[0], state, whole_split(train_spec), options,
                                       run_dir)
    eval_probe = make_probe(whole_split(eval_spec), spec.target(), normalize_override=options.normalize,
                            data_root=options.data_root, download=options.download)
    if train_probe.labels is None or eval_probe.labels is None:
        raise UsageError("switch needs labelled data for --train and --eval (a dataset or image folder, not synthetic)")
    if training_steps(train_probe.n, epochs, opt.batch_size) == 0:
        raise UsageError(f"switch --epochs {epochs:g} is no SGD step: {train_probe.n} training records make "
                         f"{max(1, train_probe.n // opt.batch_size)} batch(es) of {opt.batch_size} an epoch; give more "
                         "--epochs, more --train records or a smaller --batch-size")
    boundary = None
    if "boundary" in [item.strip() for item in at.split(",")]:  # after the data, so that a bad spec fails first
        analysis = analyze(run_dir, probe_spec or eval_spec, options)
        b = analysis.summary.phases.boundary
        boundary = None if b is None else {"index": analysis.included[b], "time": analysis.runs[analysis.included[b]].time}
    report = SwitchReport(run_dir, unit, boundary, opt, epochs, train_probe, eval_probe, seed=seed,
                          device=str(resolve_device(options.device)))
    device = resolve_device(options.device)
    x, y = train_probe.inputs.to(device), train_probe.labels.to(device)
    x_eval, y_eval = eval_probe.inputs.to(device), eval_probe.labels.to(device)
    for i in _chosen(checkpoints, unit, at, boundary):
        ckpt = checkpoints[i]
        load_weights(model, read_state(ckpt, options)[0], arch=arch, where=str(ckpt.path))
        model.to(device)
        moment = float(i) if unit == "index" else float(ckpt.time(unit))  # type: ignore[arg-type]
        for kind in KINDS:
            started = time.perf_counter()
            trained = train(model, kind, x, y, epochs, opt, seed)
            acc, loss = evaluate(trained, x_eval, y_eval)
            result = SwitchResult(moment, ckpt.name, kind, acc, loss, time.perf_counter() - started)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    return report
