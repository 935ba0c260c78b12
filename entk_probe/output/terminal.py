"""The terminal report, rendered from the JSON report (so `entk-probe report FILE` prints the same).

Sections: a header (run, model, probe, kernel, time taken), a table with a row per checkpoint,
a compact chart of displacement and velocity over time, the verdict in plain words with how sure
it is (probe resamples) and the numbers and thresholds behind it, the cone width, and the
warnings. It reads at 80 columns and without colour (rich drops the styles where the terminal
has none).
"""

from __future__ import annotations

import math
import os
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..analysis.verdicts import verdict as describe
from ..engine.memory import format_bytes
from ..runs.formats import short_name

BARS = "▁▂▃▄▅▆▇█"


def _num(value: Any, spec: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _rate(value: Any) -> str:
    """A velocity in at most five characters: 1990, 27.1, 0.594."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if minutes else f"{seconds:.1f}s"


def spark(values: list[float | None], log: bool = False) -> str:
    """One character a value, heights scaled between the smallest and the largest."""
    xs = [None if v is None or (log and v <= 0) else (math.log10(v) if log else v) for v in values]
    known = [x for x in xs if x is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    scale = (len(BARS) - 1) / (high - low) if high > low else 0.0
    return "".join(" " if x is None else BARS[int(round((x - low) * scale))] for x in xs)


def _dtypes(jacobians: str, products: str) -> str:
    return f"{jacobians} Jacobians and products" if jacobians == products else f"{jacobians} Jacobians, {products} products"


def _weights(r: dict[str, Any]) -> str:
    """Raw or EMA weights, and the key they were read from where it says more."""
    chosen = {(c["weights"]["choice"], c["weights"]["key"]) for c in r["checkpoints"]}
    choice = next(iter(chosen))[0]
    keys = sorted({key for _, key in chosen if key})
    return f"EMA weights ({', '.join(keys)})" if choice == "ema" else "raw weights"


def _geometry(r: dict[str, Any]) -> str:
    """The input size fed to the model, where it came from, and what was done to the probe to get it."""
    model, probe = r["model"], r["probe"]
    text = probe.get("text")
    if text:
        line = (f"input tokens: {', '.join(text['keys'])} of length {text['max_length']}, tokenizer sha256 "
                f"{text['tokenizer'][:12]} ({model['settings_from'].get('tokenizer', 'the run')})")
        return line + ("; probe " + ", ".join(probe["transforms"]) if probe["transforms"] else "")
    shape = "x".join(str(v) for v in probe["input_shape"])
    where = model["settings_from"].get("input_size") if model["input_size"] else None
    line = f"input {shape}: " + (where or "the probe's own size, as the run records none (--input-size sets one)")
    if probe["transforms"]:
        line += "; probe " + ", ".join(probe["transforms"])
    return line


def _parameters(r: dict[str, Any]) -> str:
    """How many parameters the kernel covers, and of how many, where it is not all of them."""
    kernel, total = r["kernel"], r["model"].get("total_params")
    if total is None or total == kernel["num_params"]:
        return f"{kernel['num_params']:,} parameters"
    return f"kernel over {kernel['num_params']:,} of {total:,} parameters: {kernel.get('scope', '')}"


def header_lines(r: dict[str, Any]) -> list[str]:
    """The header: run, model, probe, input geometry, kernel settings, and notes on the run (one string a line)."""
    model, probe, kernel = r["model"], r["probe"], r["kernel"]
    norm = probe["normalization"]
    normalization = "none" if norm["mean"] is None else f"mean {norm['mean']} std {norm['std']}"
    lines = [
        f"entk-probe {r['tool']['version']} · run {r['run']['path']}",
        f"model {model['arch']} ({model['origin']}), {_parameters(r)}, {_weights(r)}",
        f"probe {probe['spec']}: N={probe['n']}"
        + (" synthetic Gaussian inputs (smoke test only)" if probe["synthetic"] else
           f" from {probe['dataset']} {probe['split'] or ''}, seed {probe['seed']}, sha256 {probe['sha256'][:12]}")
        + f"; normalisation {normalization} ({norm['source']})",
        _geometry(r),
        f"kernel {kernel['mode']} · {_dtypes(kernel['jacobian_dtype'], kernel.get('gram_dtype', 'float64'))} · "
        f"{kernel['device']} · {len(r['checkpoints'])} checkpoints in {_duration(r['timings'].get('total_seconds'))}",
    ]
    plan = kernel.get("plan")
    if plan:
        counts: dict[str, int] = {}
        for layer in plan["layers"]:
            counts[layer["path"]] = counts.get(layer["path"], 0) + 1
        lines.append(f"layers by path: {', '.join(f'{k} {v}' for k, v in counts.items())}; "
                     f"{plan['capture_passes']} capture pass(es), {plan['flops'] / 1e9:,.1f} GFLOP a kernel")
    rebuilt = [c for c in r["checkpoints"] if c.get("rebuilt")]
    if rebuilt:
        lines.append(f"{short_name(rebuilt[0]['name'])}: the initial model, not a file of the run: rebuilt from the run's "
                     "seed (--init seed; the warnings say with which versions)")
    if r["run"].get("first_is_initialisation") is False:
        first = r["checkpoints"][0]
        lines.append(f"first checkpoint {short_name(first['name'])} is after {r['time_unit']} {_num(first['time'], '.3g')}, "
                     "not the initialisation: ∠first is measured from it, and the motion before it is not seen "
                     "(README: keeping dense early checkpoints)")
    estimate = r.get("estimate")
    if estimate and estimate["kernels_to_compute"]:
        lines.append(f"estimated beforehand: {estimate['kernels_to_compute']} kernel(s) in "
                     f"{_duration(estimate['seconds'])}, peak {format_bytes(estimate['device_peak_bytes'])}; "
                     f"they took {_duration(r['timings'].get('kernel_seconds'))}")
    return lines


def _rows(r: dict[str, Any]) -> list[list[str]]:
    """The table's cells, a row per checkpoint, in the order of ``_columns``."""
    rows = []
    for c in r["checkpoints"]:
        m = c["metrics"]
        if m is None:  # left out: a diverged checkpoint (the warnings say why)
            rows.append([short_name(c["name"]), _num(c["step"], "d"), _num(c["epoch"], ".3g"), *["—"] * 9, "x"])
            continue
        rows.append([
            short_name(c["name"]), _num(c["step"], "d"), _num(c["epoch"], ".3g"),
            _num(m["centered_angle_from_first_deg"], ".1f"), _num(m["centered_angle_to_last_deg"], ".1f"),
            _rate(m["angular_velocity_deg"]), _num(m["centered_alignment"], ".2f"),
            _num(m["subspace_to_next"].get("mean"), ".0f"), _num(m["accuracy"], ".2f"),
            _num(m.get("kernel_regression_accuracy"), ".2f"),
            _num((c.get("training_log") or {}).get("eval_top1"), ".1f"),
            _num((c.get("training_log") or {}).get("eval_loss"), ".2f"), c["phase"] or "",
        ])
    return rows


def _columns(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, justification, what it means) of every column the table can have, in order."""
    first = "∠first" if r["run"].get("first_is_initialisation") is False else "∠init"
    unit = r["time_unit"]
    return [
        ("checkpoint", "left", ""), ("step", "right", ""), ("epoch", "right", ""),
        (first, "right", "centred angle (°) from the first kernel"), ("∠final", "right", "centred angle (°) to the last kernel"),
        (f"ω/{unit[:2]}", "right", f"centred angle per {unit} to the next checkpoint"),
        ("align", "right", "centred kernel-target alignment"),
        ("sub°", "right", "mean principal angle to the next checkpoint's top-k eigenspace"),
        ("acc", "right", "probe accuracy"),
        ("krr", "right", "accuracy of kernel regression with the checkpoint's kernel on half the probe (JSON: how)"),
        ("val%", "right", "the run's validation top-1 (summary.csv, or trainer_state.json's eval_accuracy)"), ("vloss", "right", "the run's validation loss"),
        ("ph", "left", "phase (x: left out)"),
    ]


def _shown(r: dict[str, Any]) -> list[int]:
    """The columns with something in them (no steps recorded, no labels, no phases: left out)."""
    rows = _rows(r)
    return [j for j in range(len(_columns(r))) if j == 0 or any(row[j] not in ("—", "") for row in rows)]


def table_cells(r: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table's column names and its rows, a row per checkpoint, of the columns with something in them."""
    columns, kept = _columns(r), _shown(r)
    return [columns[j][0] for j in kept], [[row[j] for j in kept] for row in _rows(r)]


def legend(r: dict[str, Any]) -> str:
    """What the shown columns mean, one sentence."""
    columns = _columns(r)
    return "; ".join(f"{columns[j][0]}: {columns[j][2]}" for j in _shown(r) if columns[j][2]) + "."


def _table(r: dict[str, Any]) -> Table:
    """A row per checkpoint, the columns of ``_shown``."""
    columns, kept = _columns(r), _shown(r)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold", padding=(0, 1, 0, 0))
    for j in kept:
        name, justify, _ = columns[j]
        table.add_column(name, justify=justify, no_wrap=name != "checkpoint", overflow="fold")  # type: ignore[arg-type]
    for row in table_cells(r)[1]:
        table.add_row(*row)
    return table


def _chart(r: dict[str, Any]) -> list[str]:
    metrics = [c["metrics"] or {} for c in r["checkpoints"]]  # {} for a checkpoint left out
    marks = "".join("┃" if c["phase"] == "II" and (i == 0 or r["checkpoints"][i - 1]["phase"] == "I") else " "
                    for i, c in enumerate(r["checkpoints"]))
    return [
        f"∠ from init  {spark([m.get('centered_angle_from_first_deg') for m in metrics])}",
        f"velocity log {spark([m.get('angular_velocity_deg') for m in metrics[:-1]] + [None], log=True)}",
        f"Phase II     {marks}",
    ]


def _boundary_rule(rule: str | None, phases: dict[str, Any], unit: str) -> str:
    """How the boundary was placed, in words (phases.BOUNDARY_RULES; "speed" in reports of schema 1.4)."""
    ev, th = phases["evidence"], phases["thresholds"]
    share = ev.get("plateau_below_share")
    if rule == "plateau":
        return (f", where the angle from the first kernel reaches its plateau ({_num(ev.get('phase1_travel_deg'), '.3g')}°, "
                f"its level over the next five checkpoints {_num(ev.get('plateau_level_deg'), '.3g')}°) and stays at "
                f"{th.get('plateau_fraction')} of it or above ({_num(None if share is None else 100 * share, '.0f')}% "
                "of the later checkpoints dip below)")
    if rule == "speed":
        return (f", where the kernel's speed over windows of {_num(ev.get('speed_window'), '.3g')} {unit}(s) falls from "
                f"{_num(ev.get('speed_before_deg'), '.3g')}° to {_num(ev.get('speed_after_deg'), '.3g')}° a {unit} and stays low")
    if rule == "corner":
        return (", at the corner of the displacement from the first kernel (the angle from the first kernel never "
                f"reaches a level it keeps: {th.get('plateau_fraction')} of its next five checkpoints' median)")
    return ""


def _confidence(phases: dict[str, Any]) -> list[str]:
    """How sure the verdict is (``phases.confidence``, schema 1.5; nothing for older reports or --resamples 0):
    the summary line, and the margins of the full probe's verdict to its thresholds."""
    conf = phases.get("confidence")
    if not conf:
        return []
    summary = conf["summary"]
    lines = [(summary[:1].upper() + summary[1:] if conf["uncertain"] else f"Confidence: {summary}") + "."]
    if conf["margins"]:
        signed = [f"{m['threshold']} {_num(m['relative_margin'], '+.0%')}" for m in conf["margins"]]
        lines.append(f"Margins of {conf['point_verdict']} to its thresholds (value / threshold - 1; positive: on its "
                     f"side): {', '.join(signed)}.")
    return lines


def verdict_lines(r: dict[str, Any]) -> list[str]:
    """The verdict in plain words: what it means, how sure it is, the explanation, where the boundary is."""
    phases = r["phases"]
    lines = [describe(phases["verdict"]).description, *_confidence(phases), "", phases.get("explanation", "")]
    if phases["boundary"] is not None:
        b = phases["boundary"]
        lines.append(f"Boundary: {b.get('checkpoint', b['index'])} (step {_num(b['step'], 'd')}, epoch {_num(b['epoch'], '.3g')})"
                     + _boundary_rule(b.get("rule"), phases, r.get("time_unit", "")) + ".")
    return lines


def evidence_cells(r: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(evidence, thresholds) behind the verdict, as (name, value) pairs formatted for reading."""
    phases = r["phases"]
    evidence = [(k, _num(v, ".3g")) for k, v in phases["evidence"].items() if k not in ("checkpoints",)]
    return evidence, [(k, str(v)) for k, v in phases["thresholds"].items()]


def verdict_title(r: dict[str, Any]) -> str:
    """``verdict: ID``, and the full probe's verdict where the resamples changed it."""
    phases = r["phases"]
    point = (phases.get("confidence") or {}).get("point_verdict", phases["verdict"])
    return f"verdict: {phases['verdict']}" + (f" (full probe: {point})" if point != phases["verdict"] else "")


def verdict_notes(r: dict[str, Any]) -> list[str]:
    """Which kernels decide, the cone's width, the buffers' share of the motion (what the report has of them)."""
    phases = r["phases"]
    lines = [f"Angles of the {phases.get('kernels', 'centered')} kernels (H K H) decide; the JSON has both."]
    cone = r.get("cone")
    if cone is not None:
        lines.append(f"Cone width: {cone['statistic']} principal angle {_num(cone['width_deg'], '.1f')}° between top-{cone['k']} "
                     f"eigenspaces and the Phase II mean kernel's; Frobenius half-angle {_num(cone['frobenius_half_angle_deg'], '.1f')}° "
                     f"around that axis, which is {_num(cone.get('init_to_axis_deg'), '.1f')}° from the first kernel.")
    buffers = r.get("buffer_motion")
    if buffers is not None:
        shares = [s for s in buffers["share_per_step"] if s is not None]
        if shares:
            lines.append(f"Buffers (BatchNorm statistics) explain {_num(shares[0], '.0%')} of the first step's motion, "
                         f"{_num(sum(shares) / len(shares), '.0%')} of a step's on average.")
    return lines


def _verdict(r: dict[str, Any]) -> Panel:
    evidence, thresholds = evidence_cells(r)
    lines = [*verdict_lines(r), "Evidence: " + ", ".join(f"{k} {v}" for k, v in evidence),
             "Thresholds: " + ", ".join(f"{k} {v}" for k, v in thresholds), *verdict_notes(r)]
    return Panel(Text("\n".join(lines)), title=verdict_title(r), title_align="left", expand=True)


def checkpoint_notes(r: dict[str, Any]) -> list[str]:
    """Checkpoints that are also other files of the run, or were fully unpickled."""
    notes = []
    for c in r["checkpoints"]:
        if c["aliases"]:
            notes.append(f"{c['name']} is also {', '.join(c['aliases'])} (identical bytes)")
        if c["unpickled"]:
            notes.append(f"{c['name']} was loaded with full unpickling (--trust-checkpoints)")
    return notes


def report_console(no_color: bool = False, stderr: bool = False, **options: Any) -> Console:
    """A console for the report: with --no-color or NO_COLOR set, no colour and no style at all
    (rich's own no_color keeps bold and dim). ``options`` go to rich's Console (file, force_terminal...)."""
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, color_system=None if plain else "auto", no_color=plain, **options)


def render(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the terminal report of a JSON report dict (to stdout unless ``console`` says otherwise)."""
    console = console or report_console()
    parts: list[Any] = [Text(line) for line in header_lines(report)]
    parts += [Text(""), _table(report), Text("")]
    parts += [Text(line) for line in _chart(report)]
    parts.append(_verdict(report))
    notes = checkpoint_notes(report) + [f"warning [{w['code']}]: {w['message']}" for w in report["warnings"]]
    parts += [Text(n) for n in notes]
    parts.append(Text(legend(report), style="dim"))
    console.print(Group(*parts))
