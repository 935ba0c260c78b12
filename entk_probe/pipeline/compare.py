"""The runs of ``compare``: each argument a run folder (analysed, kernels from the cache) or a saved
analysis report, with its recorded hyperparameters and the switch report beside it, if any;
``compare_runs`` is the whole command for Python and notebooks."""

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


def _checkpoint_names(report: Mapping[str, Any]) -> set[str]:
    return {str(c.get("name")) for c in report.get("checkpoints") or []}


Found = list[tuple[Mapping[str, Any], Path]]  # (a switch report, its file)


def switch_reports(folder: Path) -> Found:
    """The switch reports among ``folder``'s JSON files (what is not one is passed over)."""
    found: Found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not a report: compare reads only what it was given and switch reports
        if isinstance(other, dict) and other.get("kind") == "switch" and _run_path(other) is not None:
            found.append((other, path))
    return found


def switch_beside(report: Mapping[str, Any], candidates: Found) -> tuple[Mapping[str, Any], Path] | None:
    """Among ``candidates`` (``switch_reports`` of a folder), the switch report of ``report``'s run: its run path
    equal to the report's, else (reports moved from the machine that made them) the same run folder name and
    every switch point one of the report's checkpoints, with a warning; the newest when several match."""
    run = _run_path(report)
    if run is None:
        return None
    names = _checkpoint_names(report)
    same = [(other, path) for other, path in candidates if _run_path(other) == run]
    named = [(other, path) for other, path in candidates if _run_path(other) != run
             and _run_path(other).name == run.name  # type: ignore[union-attr]
             and {str(r.get("checkpoint")) for r in (other.get("switch") or {}).get("results", [])} <= names]
    found = same or named
    if not found:
        return None
    chosen = max(found, key=lambda pair: str(pair[0].get("created", "")))
    if len(found) > 1:
        warn(f"{len(found)} switch reports of run {run.name} in {chosen[1].parent}; compare uses the newest, "
             f"{chosen[1].name}", code="several-switch-reports")
    if not same:
        warn(f"{chosen[1]} is taken as run {run}'s switch report by its run folder's name and checkpoint names "
             f"(it records {_run_path(chosen[0])})", code="switch-report-by-name")
    return chosen


def _hyperparameters(report: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    recorded = (report.get("run") or {}).get("hyperparameters")
    if isinstance(recorded, Mapping) and recorded.get("values"):
        return dict(recorded["values"]), recorded.get("source")
    run = _run_path(report)  # an older report, or one that found none: the run folder, if it is still there
    return recorded_hyperparameters(run) if run is not None and run.is_dir() else ({}, None)


SKIPPED_KINDS = {"switch": "a switch report (its gap joins its run's row when it sits beside the run's report)",
                 "compare": "a compare report (`entk-probe report` shows it)"}


def _checked(paths: Sequence[Path]) -> list[tuple[Path, Mapping[str, Any] | None]]:
    """Every argument checked before any run is analysed: (path, its report) for a JSON report, (path, None) for a
    run folder; switch and compare reports (a glob over a results folder holds them) are left out with a warning."""
    if not paths:
        raise UsageError("compare needs run folders or JSON reports, e.g. entk-probe compare runs/a runs/b.json")
    checked: list[tuple[Path, Mapping[str, Any] | None]] = []
    for path in paths:
        if path.is_dir():
            checked.append((path, None))
        elif path.is_file():
            report = read_json(path)
            if report.get("kind") in SKIPPED_KINDS:
                warn(f"compare leaves out {path}: {SKIPPED_KINDS[report['kind']]}", code="not-an-analysis-report")
            elif report.get("kind") is not None:
                raise UsageError(f"{path} is a {report['kind']} report, not an analysis report (entk-probe analyze --json)")
            else:
                checked.append((path, report))
        else:
            raise UsageError(f"{path}: no such run folder or JSON report")
    if not checked:
        raise UsageError("compare: none of the arguments is a run folder or an analysis report")
    return checked


def gather(paths: Sequence[Path], probe_spec: str | None, options: AnalyzeOptions,
           on_run: Callable[[Path], None] | None = None) -> list[Compared]:
    """The runs to compare, in the order given; a folder is analysed with ``options`` on ``probe_spec``, once
    every argument has been checked."""
    runs, labels = [], set()
    beside: dict[Path, Found] = {}  # each folder's switch reports, read once
    for path, saved in _checked(paths):
        if on_run is not None:
            on_run(path)
        if saved is None:
            analysis = analyze(path, probe_spec, options)
            with analysis.kernels:
                report: Mapping[str, Any] = to_json(analysis)
        else:
            report = saved
        folder = path if saved is None else path.parent
        if folder not in beside:
            beside[folder] = switch_reports(folder)
        switch = switch_beside(report, beside[folder])
        values, source = _hyperparameters(report)
        runs.append(Compared(label_of(path, labels), str(path), report, switch[0] if switch else None,
                             str(switch[1]) if switch else None, values, source))
    return runs


def compare_runs(paths: Sequence[Path | str], probe_spec: str | None = None, options: AnalyzeOptions | None = None,
                 by: str | None = None) -> Any:
    """``entk-probe compare`` from Python: the compare report of run folders (analysed with ``options`` on
    ``probe_spec``, kernels from the cache) and saved analysis reports, ordered by the ``by`` hyperparameter; a
    ``Report`` (the JSON's dict) that a notebook displays as its HTML page and that ``plot()`` draws."""
    from ..output.comparison import compare_to_json
    from ..output.notebook import Report

    return Report(compare_to_json(gather([Path(p) for p in paths], probe_spec, options or AnalyzeOptions()), by))
