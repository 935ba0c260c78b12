"""The switch experiment's outputs: JSON (``switch.results[]``), a terminal table, a plot.

``switch_header`` and ``switch_table`` are the facts and cells of the terminal report, which the HTML
report (``html.switch_html``) shows too; ``switch_figure`` is the plot as a matplotlib Figure.

The JSON has its own ``kind`` ("switch"), ``schema_version`` and closed schema
(``schema/switch.schema.json``, written by scripts/make_schema.py); each result has ``at_epoch`` (the
checkpoint's time in the run's unit), ``checkpoint``, ``kind`` (standard | linearized),
``accuracy`` and ``loss`` on the evaluation data, and ``seconds``.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..pipeline.switch import SwitchReport
from ..runs.formats import short_name
from .jsonreport import finite
from .plots import new_figure, save_png

SWITCH_SCHEMA_VERSION = "1.0"
SHOWN = {"standard": "standard", "linearized": "linearised"}  # the JSON's kind ids, as the table and plots spell them
GAP = "gap: standard minus linearised accuracy (Fort et al.'s nonlinear advantage)"
BATCHNORM = "the linearisation is of the eval-mode network: BatchNorm running statistics frozen at the checkpoint"


def _data(probe: Any) -> dict[str, Any]:
    return {"spec": probe.spec, "n": probe.n, "sha256": probe.sha256, "dataset": probe.dataset, "split": probe.split}


def switch_to_json(report: SwitchReport) -> dict[str, Any]:
    """The switch report as a JSON-ready dict."""
    opt = report.optimiser
    return finite({
        "kind": "switch", "schema_version": SWITCH_SCHEMA_VERSION,
        "tool": {"name": "entk-probe", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run": {"path": str(report.run_dir)}, "time_unit": report.time_unit,
        "switch": {
            "epochs": report.epochs, "boundary": report.boundary, "batchnorm": BATCHNORM, "seed": report.seed,
            "device": report.device,
            "optimiser": {"name": "sgd", "lr": opt.lr, "momentum": opt.momentum, "weight_decay": opt.weight_decay,
                          "batch_size": opt.batch_size, "from": dict(opt.sources)},
            "train": _data(report.train), "eval": _data(report.eval),
            "results": [dataclasses.asdict(r) for r in report.results],
        },
    })


def switch_header(report: dict[str, Any]) -> list[str]:
    """The run, and how both kinds were trained and evaluated (one string a line)."""
    sw = report["switch"]
    opt = sw["optimiser"]
    return [f"entk-probe {report['tool']['version']} · switch · run {report['run']['path']}",
            f"train {sw['train']['spec']} (N={sw['train']['n']}) for {sw['epochs']:g} epoch(s), SGD lr {opt['lr']:g} "
            f"momentum {opt['momentum']:g} weight decay {opt['weight_decay']:g} batch {opt['batch_size']}; "
            f"evaluated on {sw['eval']['spec']} (N={sw['eval']['n']}); {sw['batchnorm']}"]


def switch_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The column names and a row per switch point: both kinds' accuracy and loss, and the gap between them."""
    sw = report["switch"]
    rows: dict[float, dict[str, Any]] = {}
    for r in sw["results"]:
        rows.setdefault(r["at_epoch"], {"checkpoint": r["checkpoint"]})[r["kind"]] = r
    boundary, cells = sw["boundary"], []
    for at, row in sorted(rows.items()):
        s, lin = row.get("standard"), row.get("linearized")
        phase = "" if boundary is None else ("II" if at > boundary["time"] else "I")
        cells.append([f"{at:.3g}", short_name(row["checkpoint"]), phase, f"{s['accuracy']:.3f}", f"{s['loss']:.3f}",
                      f"{lin['accuracy']:.3f}", f"{lin['loss']:.3f}", f"{s['accuracy'] - lin['accuracy']:+.3f}"])
    return [f"at {report['time_unit']}", "checkpoint", "ph", "standard acc", "loss", "linearised acc", "loss", "gap"], cells


def render_switch(report: dict[str, Any], console: Console) -> None:
    """A row per switch point: both kinds' accuracy and loss, and the linearisation's gap."""
    for line in switch_header(report):
        console.print(Text(line))
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold", padding=(0, 1, 0, 0))
    headers, rows = switch_table(report)
    for name in headers:
        table.add_column(name, justify="left" if name == "checkpoint" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(Text(GAP, style="dim"))


def plot_switch(report: dict[str, Any], path: Path) -> None:
    """Write ``switch_figure`` to ``path`` (PNG)."""
    save_png(switch_figure(report), path)


def switch_figure(report: dict[str, Any]) -> Any:
    """Accuracy after training against the switch point, for both kinds, the boundary marked (a matplotlib Figure)."""
    sw = report["switch"]
    fig = new_figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for kind, style in (("standard", "o-"), ("linearized", "s--")):
        points = sorted((r["at_epoch"], r["accuracy"]) for r in sw["results"] if r["kind"] == kind)
        ax.plot([p[0] for p in points], [p[1] for p in points], style, label=SHOWN[kind])
    if sw["boundary"] is not None:
        ax.axvline(sw["boundary"]["time"], color="tab:red", linestyle="--", linewidth=1, label="end of Phase I")
    ax.set_xlabel(f"switch point ({report['time_unit']})")
    ax.set_ylabel(f"accuracy after {sw['epochs']:g} epoch(s)")
    ax.set_title("Training the network or its linearisation")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
