"""Following a run as its checkpoints are written: replayed from the sample run, file by file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from entk_probe.errors import UsageError
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline.watch import follow, parse_until
from entk_probe.runs.checkpoints import discover

from ..helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"
PLUGIN = REPO / "plugins" / "mlp.py"


def test_until_takes_a_step_or_a_quiet_spell() -> None:
    assert parse_until("2000") == (2000, None) and parse_until("idle:1.5") == (None, 1.5) and parse_until(None) == (None, None)
    for bad in ("idle:0", "soon", "idle:x", "-3"):
        with pytest.raises(UsageError, match="--until takes a step"):
            parse_until(bad)


@pytest.mark.slow
def test_a_run_written_file_by_file_is_followed_and_ends_at_the_offline_call(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(SAMPLE / "probe.safetensors", run / "probe.safetensors")
    order = [c.path for c in discover(SAMPLE)]
    pending = list(order)
    half: list[Path] = []

    def write_next() -> None:  # one poll, one event: finish a half-written file, or start the next one
        if half:
            src = half.pop()
            shutil.copy(src, run / src.name)
        elif pending:
            src = pending.pop(0)
            (run / src.name).write_bytes(src.read_bytes()[: src.stat().st_size // 2])  # being written
            half.append(src)

    options = AnalyzeOptions(device="cpu", plugins=[PLUGIN], cache_dir=tmp_path / "cache", resamples=0)
    called = []
    followed = follow(run, None, options, idle=0.5, poll=0.0, on_poll=write_next,
                      on_phase2=lambda ckpt, call: called.append((ckpt.name, call)))
    assert followed.ended == "no new checkpoint for 0.5 s"
    assert [c.name for c in followed.checkpoints] == [p.name for p in order]
    offline = analyze(run, None, options)
    assert all(r.cached for r in offline.runs)  # following computed every kernel once
    final = followed.calls[-1]
    assert (final.verdict, final.boundary) == (offline.summary.phases.verdict, offline.summary.phases.boundary)
    assert len(called) == 1
    boundary_time = offline.runs[offline.included[offline.summary.phases.boundary]].checkpoint.step
    assert called[0][1].boundary_time >= boundary_time  # Phase II no earlier than the offline analysis places it


def test_an_interrupt_ends_following_with_what_was_taken(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(SAMPLE, run)
    polls = []

    def interrupt_on_second_poll() -> None:
        polls.append(1)
        if len(polls) == 2:
            raise KeyboardInterrupt

    options = AnalyzeOptions(device="cpu", plugins=[PLUGIN], cache_dir=tmp_path / "cache", resamples=0)
    followed = follow(run, None, options, poll=0.0, on_poll=interrupt_on_second_poll)
    assert followed.ended == "interrupted" and len(followed.checkpoints) == len(discover(SAMPLE))


def test_each_file_is_read_once_however_many_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import entk_probe.pipeline.watch as watch

    run = tmp_path / "run"
    shutil.copytree(SAMPLE, run)
    reads: list[str] = []
    real = watch.read_checkpoint
    monkeypatch.setattr(watch, "read_checkpoint", lambda path, *a: (reads.append(path.name), real(path, *a))[1])
    options = AnalyzeOptions(device="cpu", plugins=[PLUGIN], cache_dir=tmp_path / "cache", resamples=0)
    followed = follow(run, None, options, poll=0.0, idle=0.3)
    assert sorted(reads) == sorted(set(reads))  # a file is hashed once, not at every poll
    assert len(followed.checkpoints) == len(discover(SAMPLE))  # last.pth.tar and model_best are copies: not taken
