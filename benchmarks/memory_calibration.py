"""How well the planner's memory estimate matches what the engine really uses on the CPU.

Two tables. The Jacobian path (``paths="jacobian"``): for each model and budget, the engine runs
with every parameter group instrumented: before the group, glibc's heap is trimmed and the
peak-RSS counter reset (``/proc/self/clear_refs``); after it, the peak increase (VmHWM) is
compared with the planner's estimate for that group (store + float64 slab + chunk x per-sample
working memory, planning.py). The per-layer paths (``paths="auto"``): the same for every capture
group (one capture pass and its layers' Gram matrices) against ``CaptureGroup.peak_bytes``
(layerplan.py). In both, the whole call's peak increase is compared with the budget. Ratios
above 1 mean the planner underestimated.

    python benchmarks/memory_calibration.py      # Linux only; about two minutes on two cores

The constants JACOBIAN_COPIES and ACTIVATION_SAFETY in planning.py and CAPTURE_ACTIVATION_COPIES
in layerplan.py come from this script.
"""

from __future__ import annotations

import ctypes
import sys

import timm
import torch
from torch import nn

import entk_probe.engine.contributions as contributions
import entk_probe.engine.kernel as engine
import entk_probe.engine.structured as structured
from entk_probe import compute_entk_result
from entk_probe.engine.planning import ACTIVATION_SAFETY, JACOBIAN_COPIES

MIB = 2**20
N = 32


def _status() -> dict[str, int]:
    with open("/proc/self/status") as fh:
        fields = dict(line.split(":", 1) for line in fh)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def _reset_peak() -> int:
    ctypes.CDLL(None).malloc_trim(0)
    rss = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return rss


class Recorder:
    """Wraps JacobianContribution.add_to and the activation probe to record each group's peak."""

    def __init__(self) -> None:
        self.activation_bytes = 0
        self.rows: list[tuple[str, int, int, float, float]] = []  # first piece, size, chunk, estimate, measured
        self.highest = 0  # highest absolute VmHWM seen in any group (each group resets the counter)

    def install(self) -> None:
        add_to, probe = contributions.JacobianContribution.add_to, engine.probe_model
        recorder = self

        def measured_add_to(self: contributions.JacobianContribution, gram: torch.Tensor, ctx: contributions.EngineContext) -> None:
            before = _reset_peak()
            add_to(self, gram, ctx)
            high = _status()["VmHWM"]
            recorder.highest = max(recorder.highest, high)
            peak = high - before
            g, n, r = self.group, ctx.num_samples, ctx.jacobian_rows
            itemsize = ctx.inputs.element_size()
            rows = n * ctx.mode.gram_rows_per_sample(ctx.num_classes)
            per_sample = JACOBIAN_COPIES * r * g.tensor_elements * itemsize + (r + 2) * recorder.activation_bytes * ACTIVATION_SAFETY
            estimate = n * r * g.size * itemsize + rows * g.slab_columns * 8 + g.chunk_size * per_sample
            recorder.rows.append((g.pieces[0].name, g.size, g.chunk_size, estimate, peak))

        def recording_probe(fn: object, x0: torch.Tensor) -> tuple[int, int]:
            classes, activation = probe(fn, x0)
            recorder.activation_bytes = activation
            return classes, activation

        capture_add_to = structured.CaptureContribution.add_to

        def measured_capture(self: structured.CaptureContribution, gram: torch.Tensor, ctx: contributions.EngineContext) -> None:
            before = _reset_peak()
            capture_add_to(self, gram, ctx)
            high = _status()["VmHWM"]
            recorder.highest = max(recorder.highest, high)
            recorder.rows.append((self.layers[0].name, len(self.layers), self.group.chunk_size, self.group.peak_bytes,
                                  high - before))

        contributions.JacobianContribution.add_to = measured_add_to  # type: ignore[method-assign]
        structured.CaptureContribution.add_to = measured_capture  # type: ignore[method-assign]
        engine.probe_model = recording_probe  # type: ignore[assignment]


def models() -> dict[str, nn.Module]:
    mlp = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(768, 512), nn.Tanh(), nn.Linear(512, 512),
                        nn.Tanh(), nn.Linear(512, 10))
    return {
        "mlp (0.66M)": mlp,
        "timm test_resnet": timm.create_model("test_resnet", num_classes=10),
        "timm test_vit": timm.create_model("test_vit", num_classes=10, img_size=32),
    }


def main() -> int:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    recorder = Recorder()
    recorder.install()
    print(f"N={N}, trace mode, float32, CPU; estimate and measured are MiB of peak RSS increase")
    for paths, what, n in (("jacobian", "Jacobian groups", N), ("auto", "capture groups", 4 * N)):
        x = torch.randn(n, 3, 32, 32)
        print(f"\npaths={paths!r}, N={n}\n")
        print(f"| model | budget MiB | {what} | worst group: measured / estimate | whole call: peak MiB | peak / budget |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, model in models().items():
            model.eval()
            compute_entk_result(model, x[:2], device="cpu", paths=paths)  # load torch.func's code paths first
            for budget in (400 * MIB, 150 * MIB):
                recorder.rows.clear()
                before = _reset_peak()
                recorder.highest = 0
                result = compute_entk_result(model, x, device="cpu", max_memory=budget, paths=paths)
                peak = max(recorder.highest, _status()["VmHWM"]) - before
                worst = max(recorder.rows, key=lambda row: row[4] / row[3])
                groups = len(result.plan.groups) if paths == "jacobian" else len(result.plan.capture_groups)
                print(f"| {name} | {budget / MIB:.0f} | {groups} | {worst[4] / worst[3]:.2f} "
                      f"({worst[0]}, chunk {worst[2]}) | {peak / MIB:.0f} | {peak / budget:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
