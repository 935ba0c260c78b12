"""``--shard`` under torchrun: whole kernels to each rank, or each kernel's parameters over the ranks.

``choose`` settles the way. With ``checkpoints`` each rank computes whole kernels (``distributed``).
With ``parameters`` (``compute_parts``) every rank computes its part of each kernel
(``engine.partial``: a share of the plan's captured layers and Jacobian parameter groups, balanced
by estimated flops) and one all-reduce sums the parts in float64: gloo for CPU tensors, nccl for
CUDA ones, the same call. Rank 0 writes the sum to the kernel cache, where its analysis finds it.
The parts are the single-process kernel's own products, so the sum is that kernel up to the order
of float64 additions. ``auto`` shares out checkpoints when there are at least as many kernels to
compute as ranks, else parameters.

Every rank must follow the same plan, so the ranks first agree on the smallest of their default
memory budgets (unless --max-memory gives one), and before summing a kernel they compare digests of
the plans they followed. Each kernel's parts are settled through the rendezvous store
(``Group.settle``) before anyone enters the all-reduce: a rank whose part failed, or that was
killed while computing it, ends every rank with its message. A rank lost inside the all-reduce
itself fails the others' all-reduce: gloo says so when the connection closes, at the latest after
--dist-timeout (the process group's timeout).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor

from ..engine.capture import BatchDependence
from ..engine.kernel import resolve_device
from ..engine.memory import default_budget
from ..engine.planning import EntkPlan
from ..errors import DistributedError, warn
from ..runs.checkpoints import Checkpoint
from ..runs.models import load_weights
from .job import read_state, weight_problem
from .options import SHARDS, AnalyzeOptions

if TYPE_CHECKING:  # distributed imports this module
    from .distributed import Group


def choose(shard: str, to_compute: int, ranks: int) -> str:
    """``checkpoints`` or ``parameters``: as asked, or for ``auto`` checkpoints when there are at least
    as many kernels ``to_compute`` as ``ranks`` (each rank then has whole kernels to compute)."""
    if shard not in SHARDS:
        raise ValueError(f"unknown shard {shard!r}")
    if shard != "auto":
        return shard
    return "checkpoints" if to_compute >= ranks else "parameters"


def kernel_identity(ckpt: Checkpoint, options: AnalyzeOptions) -> dict[str, str]:
    """Which weights a checkpoint's kernel is of, as the job names it in the kernel cache."""
    return {"checkpoint": ckpt.sha256, "weights": options.weights}


def plan_digest(plan: EntkPlan) -> str:
    """A short digest of everything in ``plan``: equal digests, the same parts."""
    return hashlib.sha256(repr(plan).encode()).hexdigest()[:16]


def sum_parts(part: Tensor, device: str) -> Tensor:
    """The sum over every rank of ``part`` (any shape, float64), on the CPU.

    Summed on ``device``: a CUDA tensor goes through nccl, a CPU one through gloo.
    """
    total = part.to(device=device, dtype=torch.float64)  # (N, N) or (N, N, C, C)
    try:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    except RuntimeError as exc:  # gloo and nccl errors (a closed connection, the timeout) are RuntimeErrors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DistributedError(f"rank {dist.get_rank()} could not sum the kernel's parts with the other ranks (one "
                               f"ended, or --dist-timeout passed): {first}", everywhere=True) from exc
    return total.cpu()


Fault = Callable[[int, int], None]  # (rank, parts computed): the tests' injected fault


def compute_parts(group: Group, todo: Sequence[int], held: dict[str, Any], fault: Fault,
                  on_checkpoint: Callable[[int, int, Checkpoint], None] | None = None) -> dict[str, float]:
    """Every kernel of ``todo`` (indices into the run's chosen checkpoints) from every rank's part;
    rank 0 puts each sum in the kernel cache. {cache key: seconds} of the kernels computed.

    ``group`` is the ranks' ``distributed.Group``; ``held`` the run, model and kernel source every
    rank built. Checkpoints whose weights or logits are not finite are skipped (on every rank):
    rank 0's analysis leaves them out and says so.
    """
    run, source = held["run"], held["source"]
    budget = None
    if run.options.max_memory is None:  # half of what each rank has free: the least of them, for one plan
        budget = min(group.settle("budget", lambda: default_budget(resolve_device(source.device))))
    done: dict[str, float] = {}
    for n, i in enumerate(todo):
        ckpt = run.chosen[i]
        if on_checkpoint is not None:
            on_checkpoint(n, len(todo), ckpt)
        started = time.perf_counter()
        kernel = _summed(group, f"part/{i}", ckpt, held, budget, lambda: fault(group.rank, n + 1))
        if kernel is None:
            continue
        seconds = time.perf_counter() - started
        identity = kernel_identity(ckpt, run.options)
        if group.rank == 0:
            source.put(identity, kernel, source.device, seconds)
        done[source.key(identity)] = seconds
    return done


def _summed(group: Group, phase: str, ckpt: Checkpoint, held: dict[str, Any], budget: int | None,
            fault: Callable[[], None]) -> Tensor | None:
    """The kernel of ``ckpt``, summed from every rank's part; None when its weights or logits are not finite."""
    run, model, source = held["run"], held["model"], held["source"]
    mine: dict[str, Tensor] = {}

    def part(paths: str | None) -> dict[str, Any]:
        if paths is None:
            state, _ = read_state(ckpt, run.options)
            load_weights(model, state, arch=run.arch, where=str(ckpt.path))
            if weight_problem(model, source.probe.inputs)[0] is not None:
                return {"skip": True}
        try:
            result = source.kernel_part((group.rank, group.size), max_memory=budget, paths=paths)
        except BatchDependence as exc:
            return {"batch": str(exc)}
        mine["part"] = result.kernel  # (N, N) or (N, N, C, C) float64
        fault()
        return {"plan": plan_digest(result.plan)}

    outcomes = group.settle(phase, lambda: part(None))
    if any(o.get("skip") for o in outcomes):
        return None
    if found := [o["batch"] for o in outcomes if "batch" in o]:  # as one process would: every part on the Jacobian path
        warn(f"{found[0]} on a later chunk of the probe, so per-layer kernels do not apply and every parameter "
             "goes through the Jacobian path", code="batch-dependence")
        outcomes = group.settle(phase + "/jacobian", lambda: part("jacobian"))
    if len({o["plan"] for o in outcomes}) > 1:
        raise DistributedError(f"the ranks planned {ckpt.name}'s kernel differently, so their parts would not sum to "
                               "it: give every rank the same --max-memory and the same kind of device")
    return sum_parts(mine.pop("part"), source.device)
