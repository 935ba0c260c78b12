"""The run's estimate before the first kernel: what it counts, and the refusal when it cannot fit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from entk_probe.engine.estimate import KernelEstimate
from entk_probe.errors import EntkProbeWarning, MemoryBudgetError
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline import forecast as forecast_module
from entk_probe.pipeline.forecast import RunEstimate, check_fits

from ..helpers import write_run

GIB = 2**30


def _estimate(**changes: object) -> RunEstimate:
    kernel = KernelEstimate(flops=1e9, seconds=2.0, working_bytes=GIB, peak_bytes=2 * GIB, rate=1e11)
    base = RunEstimate(kernels=10, cached=2, seconds=20.0, kernel=kernel, kernel_bytes=8 * 10**6, held_bytes=96 * 10**6,
                       device="cpu", budget_bytes=4 * GIB, device_peak_bytes=3 * GIB, device_free_bytes=16 * GIB,
                       host_peak_bytes=0, host_free_bytes=16 * GIB)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_run_that_fits_passes_and_says_so_in_one_line() -> None:
    estimate = _estimate()
    assert estimate.problems() == []
    check_fits(estimate, force=False)
    line = estimate.describe()
    assert "\n" not in line and line.startswith("10 kernel(s) to compute (2 in the kernel cache), about 20 s (2.0 s a kernel)")
    assert "3.0 GiB of 16.0 GiB free on cpu" in line


@pytest.mark.parametrize("changes, problem", [
    ({"device_free_bytes": 2 * GIB}, "the peak on cpu (3.0 GiB) exceeds the 2.0 GiB it has free"),
    ({"budget_bytes": GIB // 2}, "the engine's working set (1.0 GiB) exceeds the memory budget (512.0 MiB)"),
    ({"device": "cuda:0", "host_peak_bytes": 20 * GIB}, "the kernels the analysis holds at once (20.0 GiB) exceed the 16.0 GiB"),
])
def test_a_run_that_does_not_fit_is_refused_with_the_ways_out_unless_forced(changes: dict, problem: str) -> None:
    estimate = _estimate(**changes)
    with pytest.raises(MemoryBudgetError) as err:
        check_fits(estimate, force=False)
    message = str(err.value)
    assert problem in message and "\n" not in message
    for way_out in ("--every", "--max-checkpoints", "cifar10:200", "trace or pntk", "--max-memory", "--force"):
        assert way_out in message
    check_fits(estimate, force=True)


def test_the_job_estimates_before_the_first_kernel_and_counts_the_cache(tmp_path: Path) -> None:
    write_run(tmp_path / "run")
    options = AnalyzeOptions(device="cpu", cache_dir=tmp_path / "cache")
    events: list[str] = []
    with pytest.warns(EntkProbeWarning, match="BatchNorm"):
        first = analyze(tmp_path / "run", "synthetic:4", options, on_estimate=lambda e: events.append(f"estimate {e.kernels}"),
                        on_checkpoint=lambda i, n, c: events.append(f"checkpoint {i}"))
    assert events[0] == "estimate 3" and events[1:] == ["checkpoint 0", "checkpoint 1", "checkpoint 2"]
    e = first.estimate
    assert e is not None and e.kernels == 3 and e.cached == 0 and e.kernel is not None
    assert e.kernel_bytes == 4 * 4 * 8  # trace kernels of N=4
    assert e.held_bytes == e.kernel_bytes * (4 * 3 + 5)  # the blocked products: two blocks of all 3, uncentred and centred, and one loading
    assert e.seconds == pytest.approx(3 * e.kernel.seconds) and e.device_peak_bytes >= e.kernel.peak_bytes
    again = analyze(tmp_path / "run", "synthetic:4", dataclasses.replace(options, buffer_motion=True))
    assert again.estimate is not None and (again.estimate.kernels, again.estimate.cached) == (2, 3)  # two mixed kernels


def test_the_job_refuses_a_run_that_cannot_fit_before_any_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_run(tmp_path / "run")
    monkeypatch.setattr(forecast_module, "available_memory", lambda device: 1024)
    computed: list[int] = []
    with pytest.raises(MemoryBudgetError, match="not expected to fit"):
        analyze(tmp_path / "run", "synthetic:4", AnalyzeOptions(device="cpu", cache=False),
                on_checkpoint=lambda i, n, c: computed.append(i))
    assert computed == []
    with pytest.warns(EntkProbeWarning, match="BatchNorm"):
        forced = analyze(tmp_path / "run", "synthetic:4", AnalyzeOptions(device="cpu", cache=False, force=True))
    assert len(forced.kernels) == 3 and forced.estimate is not None and forced.estimate.problems()
