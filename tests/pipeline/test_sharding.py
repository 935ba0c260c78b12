"""--shard under torchrun: the choice of way, and --shard parameters against the single-process run.

The end-to-end tests start two ranks with gloo on 127.0.0.1 (through torchrun, or with the
environment torchrun would set) on the shipped sample run, as tests/pipeline/test_distributed.py does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from entk_probe.engine.kernel import plan_entk
from entk_probe.errors import UsageError
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.pipeline.distributed import FAULT_ENV
from entk_probe.pipeline.sharding import choose, plan_digest

from .test_distributed import ARGS, _env, _free_port, _kernels, _ranks, _same_run, _single, _torchrun

# Two ranks of a gloo group; after joining, rank 1 leaves (exit) or stays silent (hang) instead of
# summing its part, and rank 0 says how its sum_parts ended, with its seconds.
SUM_PROGRAM = """
import os, signal, sys, time
from datetime import timedelta
import torch, torch.distributed as dist
from entk_probe.errors import DistributedError
from entk_probe.pipeline.sharding import sum_parts
rank, port, timeout, how = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                        timeout=timedelta(seconds=timeout))
dist.barrier()
if rank == 1:
    os._exit(0) if how == "exit" else signal.pause()
started = time.monotonic()
try:
    print(sum_parts(torch.ones(3, 3, dtype=torch.float64), "cpu").sum().item())
except DistributedError as exc:
    print(f"{time.monotonic() - started:.1f}", exc, exc.everywhere)
# Leave without tearing the group down: with rank 1 still hanging, gloo's worker thread can abort the
# interpreter's exit ("terminate called without an active exception"), which is not what is tested.
sys.stdout.flush()
os._exit(0)
"""
PARAMETERS_LINE = "2 ranks share the parameters of each of the {} kernel(s) to compute (--shard parameters)"


def test_auto_shares_checkpoints_when_every_rank_has_a_kernel_else_parameters() -> None:
    assert choose("auto", 14, 2) == "checkpoints" and choose("auto", 2, 2) == "checkpoints"
    assert choose("auto", 1, 2) == "parameters" and choose("auto", 3, 4) == "parameters"
    assert choose("parameters", 14, 2) == "parameters" and choose("checkpoints", 0, 2) == "checkpoints"
    with pytest.raises(ValueError):
        choose("layers", 1, 2)
    with pytest.raises(UsageError, match="unknown --shard 'layers'"):
        AnalyzeOptions(shard="layers").validate()


def test_plans_for_other_budgets_have_other_digests() -> None:
    model, x = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), torch.randn(5, 4)
    plan = plan_entk(model, x, device="cpu", max_memory="1GiB")
    assert plan_digest(plan) == plan_digest(plan_entk(model, x, device="cpu", max_memory="1GiB"))
    assert plan_digest(plan) != plan_digest(plan_entk(model, x, device="cpu", max_memory="2GiB"))


@pytest.mark.parametrize("how", ["exit", "hang"])
def test_a_rank_lost_inside_the_sum_fails_the_others_sum_at_the_latest_after_the_timeout(how: str) -> None:
    port, timeout = str(_free_port()), 3.0
    ranks = [subprocess.Popen([sys.executable, "-c", SUM_PROGRAM, str(r), port, str(timeout), how], env=_env(Path(".")),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        out, err = ranks[0].communicate(timeout=60)
    finally:
        ranks[1].kill()
        ranks[1].communicate()
    assert ranks[0].returncode == 0, err
    seconds, message = out.split(" ", 1)
    assert message.startswith("rank 0 could not sum the kernel's parts with the other ranks") and message.endswith(" True\n")
    # a rank that ended closes its connections: the sum fails at once; a silent one, at the group's timeout
    assert float(seconds) < timeout if how == "exit" else timeout <= float(seconds) < timeout + 5


def test_shard_parameters_report_equals_the_single_process_one(tmp_path: Path) -> None:
    single = _single([*ARGS, "--json"], tmp_path / "single")
    shared = _torchrun([*ARGS, "--json", "-", "--shard", "parameters"], tmp_path / "shared")
    assert PARAMETERS_LINE.format(14) in shared.stderr
    _same_run(single, json.loads(shared.stdout), tmp_path / "single", tmp_path / "shared")


def test_auto_shares_parameters_when_there_are_fewer_kernels_than_ranks(tmp_path: Path) -> None:
    args = [*ARGS, "--max-checkpoints", "1", "--json"]
    single = _single(args, tmp_path / "single")
    rank0, rank1 = _ranks([*args, str(tmp_path / "r.json"), "--dist-timeout", "60"], tmp_path / "shared")
    assert rank0.returncode == rank1.returncode == 0, rank0.stderr + rank1.stderr
    assert PARAMETERS_LINE.format(1) in rank0.stderr and rank1.stderr == ""
    assert "ranks share the kernels to compute" not in rank0.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    _same_run(single, report, tmp_path / "single", tmp_path / "shared")


def test_a_rank_failing_in_its_part_fails_every_rank_with_its_message(tmp_path: Path) -> None:
    args = [*ARGS, "--max-checkpoints", "2", "--shard", "parameters"]
    rank0, rank1 = _ranks([*args, "--dist-timeout", "60"], tmp_path / "cache", **{FAULT_ENV: "1:raise"})
    assert rank0.returncode == rank1.returncode == 1
    assert "entk-probe: error: rank 1: RuntimeError: fault injected for a test" in rank0.stderr
    assert rank1.stderr == "" and rank0.stdout == rank1.stdout == ""
    assert _kernels(tmp_path / "cache") == {}  # no part was summed


def test_a_rank_killed_in_its_part_ends_the_command_within_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    args = [*ARGS, "--max-checkpoints", "2", "--shard", "parameters", "--dist-timeout", "5"]
    rank0, rank1 = _ranks(args, tmp_path / "cache", **{FAULT_ENV: "1:kill"})
    assert rank1.returncode == -9 and rank0.returncode == 1
    assert "entk-probe: error: rank 1 stopped responding" in rank0.stderr
    assert time.monotonic() - started < 60
