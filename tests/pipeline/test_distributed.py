"""analyze under torchrun: sharing out, failure propagation, and the report against the single-process one.

The end-to-end tests start two ranks with gloo on 127.0.0.1 (through torchrun, or with the
environment torchrun would set) on the shipped sample run, each in its own process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from click.testing import CliRunner
from safetensors import safe_open

from entk_probe.cli import main
from entk_probe.errors import DistributedError, UsageError
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.pipeline.distributed import (FAULT_ENV, Group, Launch, analyze_shared, injected_fault, launch_from_env,
                                             rank_device, share_out)

from ..helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"
ARGS = ["analyze", str(SAMPLE), "--plugins", str(REPO / "plugins" / "mlp.py"), "--device", "cpu"]


def test_shares_are_balanced_by_cost_and_cover_every_index_once() -> None:
    costs = [5.0, 1.0, 1.0, 4.0, 2.0, 3.0, 3.0]
    shares = share_out(costs, 3)
    assert sorted(i for s in shares for i in s) == list(range(len(costs)))
    loads = sorted(sum(costs[i] for i in s) for s in shares)
    assert loads == [6.0, 6.0, 7.0]  # the best split of 19 over 3; round robin would give 5+4+3 = 12 on one
    assert share_out(costs, 3) == shares and all(s == sorted(s) for s in shares)
    assert share_out([1.0] * 5, 2) == [[0, 2, 4], [1, 3]]  # equal costs: interleaved, so both ranks span the run
    assert share_out([], 2) == [[], []] and share_out([1.0], 3) == [[0], [], []]


def test_the_launch_is_read_from_torchruns_environment() -> None:
    assert launch_from_env({}) is None
    assert launch_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process: the plain path
    assert launch_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Launch(1, 4, 1)
    for bad in ({"RANK": "x", "WORLD_SIZE": "2"}, {"RANK": "2", "WORLD_SIZE": "2"}):
        with pytest.raises(UsageError):
            launch_from_env(bad)


def test_a_rank_takes_its_own_gpu_and_keeps_an_explicit_device() -> None:
    assert rank_device("cpu", 3) == "cpu" and rank_device("cuda:1", 0) == "cuda:1"
    if torch.cuda.is_available():
        assert rank_device("auto", 0) == "cuda:0"
    else:
        assert rank_device("auto", 1) == "cpu"
        with pytest.raises(UsageError, match="LOCAL_RANK 1 has no GPU"):
            rank_device("cuda", 1)


def test_the_injected_fault_hits_only_its_rank_after_its_first_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "1:raise")
    injected_fault(0, 1)
    injected_fault(1, 0)
    with pytest.raises(RuntimeError, match="fault injected"):
        injected_fault(1, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _groups(timeout: float) -> list[Group]:
    """Two Groups in this process on one store, as two ranks would have them."""
    port = _free_port()
    server = dist.TCPStore("127.0.0.1", port, 2, True, timedelta(seconds=10), wait_for_workers=False)
    client = dist.TCPStore("127.0.0.1", port, 2, False, timedelta(seconds=10))
    return [Group(Launch(0, 2, 0), server, timeout), Group(Launch(1, 2, 1), client, timeout)]


def _both(groups: list[Group], work: list[Any]) -> list[Any]:
    """Each group's settle("p", work[r]) in its own thread: its result or the exception it raised."""
    out: list[Any] = [None, None]

    def run(r: int) -> None:
        try:
            out[r] = groups[r].settle("p", work[r])
        except Exception as exc:
            out[r] = exc

    threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_every_rank_gets_every_result_or_the_failed_ranks_error() -> None:
    groups = _groups(timeout=10)
    assert _both(groups, [lambda: {"a": 1}, lambda: [2]]) == [[{"a": 1}, [2]]] * 2

    def usage() -> None:
        raise UsageError("no such probe")

    groups = _groups(timeout=10)
    out = _both(groups, [lambda: 1, usage])
    assert all(isinstance(e, DistributedError) and str(e) == "rank 1: no such probe" and e.exit_code == 2 for e in out)
    groups = _groups(timeout=10)
    out = _both(groups, [lambda: {}["missing"], usage])  # a bug names its type; the lowest failed rank is told
    assert all(str(e) == "rank 0: KeyError: 'missing' (and 1 other rank(s) failed too)" and e.exit_code == 1 for e in out)


def test_a_silent_rank_is_lost_after_the_timeout_not_waited_for_forever() -> None:
    rank0, _silent = _groups(timeout=1.0)  # rank 1 never posts: as if killed during its work
    _silent._stop.set()  # and its heartbeat stops
    started = time.monotonic()
    with pytest.raises(DistributedError, match="rank 1 stopped responding"):
        rank0.settle("p", lambda: 0)
    assert time.monotonic() - started < 8


@pytest.mark.skipif(torch.cuda.device_count() >= 2, reason="needs a machine with fewer than two GPUs")
def test_a_rank_without_a_gpu_of_its_own_says_so_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen on a one-GPU machine: rank 1 failed before the ranks could talk, its message was kept back
    # as if rank 0 would say it, and torchrun ended rank 0 first: nobody said anything.
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    result = CliRunner().invoke(main, [*ARGS, "--device", "cuda"])
    assert result.exit_code == 2
    assert "entk-probe: error: rank 1: LOCAL_RANK 1 has no GPU of its own" in result.stderr


def test_no_cache_is_refused_under_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="--no-cache cannot be used under torchrun"):
        analyze_shared(Launch(0, 2, 0), SAMPLE, None, AnalyzeOptions(cache=False))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(main, [*ARGS, "--no-cache"])
    assert result.exit_code == 2 and result.stderr == ""  # rank 1 is silent: rank 0 says it
    monkeypatch.setenv("RANK", "0")
    result = CliRunner().invoke(main, [*ARGS, "--no-cache"])
    assert result.exit_code == 2 and "--no-cache cannot be used under torchrun" in result.stderr


def _env(cache: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, "ENTK_PROBE_CACHE": str(cache), "OMP_NUM_THREADS": "1", **extra}


def _ranks(args: list[str], cache: Path, timeout: float = 120, **extra: str) -> list[subprocess.CompletedProcess[str]]:
    """The command in two ranks started as torchrun would start them: (returncode, stdout, stderr) each."""
    env = _env(cache, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2", **extra)
    procs = [subprocess.Popen([sys.executable, "-m", "entk_probe", *args], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        done = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
        return done
    finally:
        for p in procs:
            p.kill()


def _kernels(cache: Path) -> dict[str, torch.Tensor]:
    found = {}
    for path in cache.rglob("*.safetensors"):
        with safe_open(str(path), framework="pt") as fh:
            found[path.name] = fh.get_tensor("kernel")
    return found


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what depends on the moment and the machine: timings, environment, creation
    time, the estimate and the plan's memory budget (both from the memory free then), kernel seconds."""
    report = {k: v for k, v in report.items() if k not in ("created", "timings", "environment", "estimate")}
    report["kernel"]["plan"].pop("budget_bytes")
    for c in report["checkpoints"]:
        c.pop("kernel_seconds")
    return report


def _single(args: list[str], cache: Path) -> dict[str, Any]:
    """The JSON report of one process (``args`` end with ``--json``), with its own kernel cache."""
    done = subprocess.run([sys.executable, "-m", "entk_probe", *args, "-"], capture_output=True, text=True,
                          timeout=300, env=_env(cache))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _torchrun(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    """Two ranks under torchrun, their stdout and stderr together (``args`` end with ``--json -``)."""
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
                           "-m", "entk_probe", *args, "--dist-timeout", "60"],
                          capture_output=True, text=True, timeout=300, env=_env(cache))
    assert done.returncode == 0, done.stderr
    return done


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _same_run(single: dict, shared: dict, single_cache: Path, shared_cache: Path) -> dict[str, float]:
    """The same report apart from timings and environment, the same verdict, the same kernels to 1e-12
    relative; returns the largest absolute difference of each kernel, by cache key."""
    assert _comparable(shared) == _comparable(single)
    assert shared["phases"]["verdict"] == single["phases"]["verdict"]
    assert not any(c["kernel_cached"] for c in shared["checkpoints"])  # computed by the ranks in this run
    mine, theirs = _kernels(shared_cache), _kernels(single_cache)
    assert len(mine) == len(shared["checkpoints"]) and mine.keys() == theirs.keys()
    assert all(_relative(mine[k], theirs[k]) < 1e-12 for k in mine)
    return {k: float((mine[k] - theirs[k]).abs().max()) for k in mine}


def test_torchrun_report_equals_the_single_process_one(tmp_path: Path) -> None:
    single = _single([*ARGS, "--json"], tmp_path / "single")
    shared = _torchrun([*ARGS, "--json", "-"], tmp_path / "shared")
    assert "2 ranks share the kernels to compute: 7 + 7" in shared.stderr
    # stdout is both ranks' together: only rank 0's JSON is there
    differences = _same_run(single, json.loads(shared.stdout), tmp_path / "single", tmp_path / "shared")
    assert max(differences.values()) <= 1e-12


def test_a_failing_rank_fails_every_rank_with_its_message(tmp_path: Path) -> None:
    rank0, rank1 = _ranks([*ARGS, "--dist-timeout", "60"], tmp_path / "cache", **{FAULT_ENV: "1:raise"})
    assert rank0.returncode == rank1.returncode == 1
    assert "entk-probe: error: rank 1: RuntimeError: fault injected for a test" in rank0.stderr
    assert rank1.stderr == "" and rank0.stdout == rank1.stdout == ""  # rank 0 alone says it, and no report


def test_a_killed_rank_ends_the_command_within_the_timeout_and_the_rerun_reuses_the_cache(tmp_path: Path) -> None:
    started = time.monotonic()
    rank0, rank1 = _ranks([*ARGS, "--dist-timeout", "5"], tmp_path / "cache", **{FAULT_ENV: "1:kill"})
    assert rank1.returncode == -9 and rank0.returncode == 1
    assert "entk-probe: error: rank 1 stopped responding" in rank0.stderr
    assert time.monotonic() - started < 90
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.safetensors")}
    assert len(kept) == 8  # rank 0's share of 7 and rank 1's first kernel
    rank0, rank1 = _ranks([*ARGS, "--json", str(tmp_path / "r.json")], tmp_path / "cache")
    assert rank0.returncode == rank1.returncode == 0, rank0.stderr + rank1.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert sum(c["kernel_cached"] for c in report["checkpoints"]) == len(kept)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # read, not written again
    assert "2 ranks share the kernels to compute: 3 + 3" in rank0.stderr
