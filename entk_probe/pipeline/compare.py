"""The runs of ``compare``: each argument a run folder (analysed, kernels from the cache) or a saved
analysis report, with its recorded hyperparameters and the switch report beside it, if any."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError, warn
from ..output.comparison import Compared, label_of
from ..output.jsonreport import read_json, to_json
from ..runs.hyperparameters import recorded_hyperparameters
from .job import analyze
from .options import AnalyzeOptions


def _run_path(report: Mapping[str, Any]) -> Path | None:
    path = (report.get("run") or {}).get("path")
    return Path(path) if isinstance(path, str) else None


def switch_beside(folder: Path, report: Mapping[str, Any]) -> tuple[Mapping[str, Any], Path] | None:
    """The switch report in ``folder`` of the same run: its run path equal to the report's, else the same run
    folder name (reports moved from the machine that made them); the newest when several match."""
    run = _run_path(report)
    if run is None or not folder.is_dir():
        return None
    same, named = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not a report: compare reads only what it was given and switch reports
        if not isinstance(other, dict) or other.get("kind") != "switch" or (theirs := _run_path(other)) is None:
            continue
        if theirs == run:
            same.append((other, path))
        elif theirs.name == run.name:
            named.append((other, path))
    found = same or named
    if not found:
        return None
    chosen = max(found, key=lambda pair: str(pair[0].get("created", "")))
    if len(found) > 1:
        warn(f"{len(found)} switch reports of run {run.name} in {folder}; compare uses the newest, {chosen[1].name}",
             code="several-switch-reports")
    return chosen


def _hyperparameters(report: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    recorded = (report.get("run") or {}).get("hyperparameters")
    if isinstance(recorded, Mapping):
        return dict(recorded.get("values") or {}), recorded.get("source")
    run = _run_path(report)  # an older report: the run folder, if it is still there
    return recorded_hyperparameters(run) if run is not None and run.is_dir() else ({}, None)


def gather(paths: Sequence[Path], probe_spec: str | None, options: AnalyzeOptions,
           on_run: Callable[[Path], None] | None = None) -> list[Compared]:
    """The runs to compare, in the order given; a folder is analysed with ``options`` on ``probe_spec``."""
    if not paths:
        raise UsageError("compare needs run folders or JSON reports, e.g. entk-probe compare runs/a runs/b.json")
    runs, labels = [], set()
    for path in paths:
        if on_run is not None:
            on_run(path)
        if path.is_dir():
            analysis = analyze(path, probe_spec, options)
            with analysis.kernels:
                report: Mapping[str, Any] = to_json(analysis)
            folder = path
        elif path.is_file():
            report = read_json(path)
            if report.get("kind") == "switch":
                raise UsageError(f"{path} is a switch report: give the run's analysis report; compare finds the "
                                 "switch report beside it")
            if report.get("kind") is not None:
                raise UsageError(f"{path} is a {report['kind']} report, not an analysis report (entk-probe analyze "
                                 "--json); `entk-probe report` shows it")
            folder = path.parent
        else:
            raise UsageError(f"{path}: no such run folder or JSON report")
        switch = switch_beside(folder, report)
        values, source = _hyperparameters(report)
        runs.append(Compared(label_of(path, labels), str(path), report, switch[0] if switch else None,
                             str(switch[1]) if switch else None, values, source))
    return runs
