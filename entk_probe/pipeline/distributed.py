"""Many processes under torchrun: who is who, how the work is shared out, and how one rank's failure
ends them all.

torchrun (or ``srun torchrun``) sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in
every process it starts; ``launch_from_env`` reads them (None outside torchrun or with a single
process). ``start`` joins the process group: gloo on the CPU, nccl beside gloo on GPUs, each rank on
``cuda:LOCAL_RANK``. This slice moves no tensors between ranks (kernels travel through the shared
kernel cache); the ranks talk through the rendezvous store instead of collectives: at each
``Group.settle`` every rank posts its outcome (a JSON value, or its error in one line) and waits for
the others', so a rank's failure reaches every rank and ends each with that rank's message. While
waiting, a rank watches the others' heartbeats (a thread in every process bumps a counter): one not
heard from for ``timeout`` seconds (``--dist-timeout``) is taken as lost. The timeout thus bounds
silence, not work, and a killed rank or machine ends the command however long the others' shares
take.

``analyze_shared`` is ``analyze`` under torchrun: each rank computes its share of the kernels into
the shared kernel cache, then rank 0 runs the single-process analysis, which finds them there. With
``--shard parameters`` (``sharding``) the ranks share each kernel's parameters instead, and one
all-reduce a kernel sums their parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..engine.partial import balance
from ..errors import DistributedError, EntkProbeError, UsageError
from ..runs.checkpoints import Checkpoint
from ..runs.models import load_weights
from .forecast import RunEstimate, check_fits, forecast
from .job import Analysis, analyze, read_state, select_run, source_for
from .weights import weight_problem
from .options import AnalyzeOptions
from .sharding import choose, compute_parts, kernel_identity

DEFAULT_TIMEOUT = 1800.0  # seconds of silence after which a rank is taken as lost
FAULT_ENV = "ENTK_PROBE_TEST_FAULT"  # tests only: "RANK:raise" or "RANK:kill" after that rank's first kernel
_POLL = 0.05  # seconds between looks at the store while waiting; store reads are cheap


@dataclass(frozen=True)
class Launch:
    """This process's place among the ranks, as torchrun describes it."""

    rank: int
    world_size: int
    local_rank: int  # the rank on this machine: which GPU it takes


def launch_from_env(environ: Mapping[str, str] = os.environ) -> Launch | None:
    """The torchrun launch this process is part of; None outside torchrun or with one process."""
    if "WORLD_SIZE" not in environ or "RANK" not in environ:
        return None
    try:
        launch = Launch(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", "0")))
    except ValueError:
        raise UsageError(f"torchrun's RANK, WORLD_SIZE and LOCAL_RANK must be integers, not {environ['RANK']!r}, "
                         f"{environ['WORLD_SIZE']!r}, {environ.get('LOCAL_RANK')!r}") from None
    if not 0 <= launch.rank < launch.world_size:
        raise UsageError(f"RANK {launch.rank} is outside 0..{launch.world_size - 1} (WORLD_SIZE {launch.world_size})")
    return launch if launch.world_size > 1 else None


def rank_device(device: str, local_rank: int) -> str:
    """The device a rank computes on: ``auto`` and ``cuda`` become ``cuda:LOCAL_RANK`` (``auto``: the
    CPU without CUDA); ``cpu`` and an explicit ``cuda:N`` stay as given."""
    if device == "auto" and not torch.cuda.is_available():
        return "cpu"
    if device not in ("auto", "cuda"):
        return device
    if local_rank >= torch.cuda.device_count():
        raise UsageError(f"LOCAL_RANK {local_rank} has no GPU of its own: this machine has {torch.cuda.device_count()}; "
                         "start at most that many processes per machine (--nproc-per-node)")
    return f"cuda:{local_rank}"


def share_out(costs: Sequence[float], ranks: int) -> list[list[int]]:
    """Indices of ``costs`` (seconds) shared out over ``ranks``: longest first onto the least loaded.

    Deterministic (ties go to the lower index and rank); each share is in increasing index order.
    """
    return balance(costs, ranks)


def injected_fault(rank: int, kernels_done: int) -> None:
    """Tests only: ``ENTK_PROBE_TEST_FAULT=RANK:raise`` (or ``:kill``, SIGKILL) fails that rank after
    its first computed kernel, so that the kernel is in the cache when the command fails (with
    ``--shard parameters``: after its first part, before the parts are summed)."""
    spec = os.environ.get(FAULT_ENV, "")
    if not spec or kernels_done != 1 or spec.split(":")[0] != str(rank):
        return
    if spec.endswith(":kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"fault injected for a test ({FAULT_ENV}={spec})")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Group:
    """The ranks of one launch, talking through the rendezvous store (see the module's docstring)."""

    def __init__(self, launch: Launch, store: dist.Store, timeout: float) -> None:
        self.rank, self.size, self.timeout = launch.rank, launch.world_size, timeout
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # torchrun's store outlives a restart
        self.store = dist.PrefixStore(f"entk-probe/{attempt}/", store)
        self.last: str | None = None  # the last phase settled
        self._stop = threading.Event()
        self._beat = min(10.0, timeout / 4)
        self._talk(lambda: self.store.add(f"alive/{self.rank}", 1))
        threading.Thread(target=self._heartbeat, name="entk-probe-heartbeat", daemon=True).start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._beat):
            try:
                self.store.add(f"alive/{self.rank}", 1)
            except RuntimeError:  # the store is gone: the waiting side reports it
                return

    def _talk(self, call: Callable[[], Any]) -> Any:
        """``call()`` on the store, its failure as the DistributedError every rank can say."""
        try:
            return call()
        except RuntimeError as exc:  # torch's store errors (DistStoreError, connection reset) are RuntimeErrors
            raise DistributedError(f"rank {self.rank} lost contact with the rendezvous store (rank 0 or torchrun's "
                                   f"agent ended): {_one_line(exc)}", everywhere=True) from exc

    def _wait(self, keys: dict[int, str]) -> None:
        """Until every rank's key is in the store; DistributedError when a rank waited for is silent too long."""
        heard: dict[int, tuple[int, float]] = {}
        while missing := [r for r, key in keys.items() if not self._talk(lambda key=key: self.store.check([key]))]:
            now = time.monotonic()
            for r in missing:
                beats = self._talk(lambda r=r: self.store.add(f"alive/{r}", 0))
                if heard.get(r, (None, 0.0))[0] != beats:
                    heard[r] = (beats, now)
                elif now - heard[r][1] > self.timeout:
                    raise DistributedError(f"rank {r} stopped responding: nothing heard from it for {self.timeout:g} s "
                                           "(--dist-timeout); it was killed, crashed or lost its machine",
                                           everywhere=r == 0)
            self._stop.wait(_POLL)

    def exchange(self, phase: str, value: Any) -> list[Any]:
        """Post this rank's JSON-ready ``value`` for ``phase``; every rank's, in rank order."""
        self._talk(lambda: self.store.set(f"{phase}/{self.rank}", json.dumps(value)))
        self._wait({r: f"{phase}/{r}" for r in range(self.size)})
        values = [json.loads(self._talk(lambda r=r: self.store.get(f"{phase}/{r}"))) for r in range(self.size)]
        self._talk(lambda: self.store.set(f"{phase}/seen/{self.rank}", "1"))
        self.last = phase
        return values

    def settle(self, phase: str, work: Callable[[], Any]) -> list[Any]:
        """Run ``work()`` here, then every rank's result in rank order; when any rank's work failed,
        a DistributedError on every rank naming the lowest such rank, with its message and exit code."""
        error: Exception | None = None
        try:
            mine = {"ok": True, "value": work()}
        except Exception as exc:  # whatever failed here must reach the other ranks, bugs included
            error = exc
            said = _one_line(exc) if isinstance(exc, EntkProbeError) else f"{type(exc).__name__}: {_one_line(exc)}"
            mine = {"ok": False, "error": said, "exit_code": getattr(exc, "exit_code", 1)}
        outcomes = self.exchange(phase, mine)
        failed = [(r, o) for r, o in enumerate(outcomes) if not o["ok"]]
        if failed:
            r, o = failed[0]
            more = f" (and {len(failed) - 1} other rank(s) failed too)" if len(failed) > 1 else ""
            raise DistributedError(f"rank {r}: {o['error']}{more}", exit_code=o["exit_code"]) from error
        return [o["value"] for o in outcomes]

    def close(self) -> None:
        """Leave the group. Rank 0 first waits until every rank has read the last phase's outcomes:
        outside torchrun rank 0 hosts the store, and the others' last reads would fail without it."""
        try:
            if self.rank == 0 and self.last is not None:
                self._wait({r: f"{self.last}/seen/{r}" for r in range(self.size)})
        except DistributedError:
            pass  # a rank already lost cannot be waited for; the command's outcome is settled
        finally:
            self._stop.set()
            if dist.is_initialized():
                dist.destroy_process_group()


def start(launch: Launch, device: str, timeout: float = DEFAULT_TIMEOUT) -> Group:
    """Join the process group of ``launch`` for work on ``device`` (from ``rank_device``).

    Backend gloo on the CPU, nccl (with gloo for CPU tensors) on CUDA, whose current device becomes
    ``device``. Blocks until every rank has joined, at most ``timeout`` seconds.
    """
    if timeout <= 0:
        raise UsageError(f"--dist-timeout must be a positive number of seconds, not {timeout:g}")
    wait = timedelta(seconds=timeout)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(torch.device(device))
    try:
        store, _, _ = next(dist.rendezvous("env://", launch.rank, launch.world_size, timeout=wait))
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", store=dist.PrefixStore("pg/", store),
                                rank=launch.rank, world_size=launch.world_size, timeout=wait)
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(f"rank {launch.rank} could not join the other ranks within {timeout:g} s "
                               f"(--dist-timeout): {_one_line(exc)}", everywhere=True) from exc
    return Group(launch, store, timeout)


OnCheckpoint = Callable[[int, int, Checkpoint], None]


def analyze_shared(launch: Launch, run_dir: Path, probe_spec: str | None, options: AnalyzeOptions, *,
                   timeout: float = DEFAULT_TIMEOUT, on_checkpoint: OnCheckpoint | None = None,
                   on_chunk: Callable[[int, int], None] | None = None,
                   on_estimate: Callable[[RunEstimate], None] | None = None,
                   on_shares: Callable[[str, list[list[int]]], None] | None = None,
                   debug: bool = False) -> Analysis | None:
    """``analyze`` by every rank of ``launch``: the Analysis on rank 0, None on the others.

    1. Every rank selects the run's checkpoints and builds the model and probe from the first; rank
       0 forecasts the run (``on_estimate``), chooses how to share the kernels not yet in the kernel
       cache (``options.shard``, ``sharding.choose``) and, for ``checkpoints``, shares them out by
       estimated cost (``on_shares`` gets the way and each rank's checkpoint indices: with
       ``parameters`` every rank has every kernel). Ranks must see the same checkpoints (names and
       sha256): run directory and cache on a filesystem they all see.
    2. Each rank computes its share into the kernel cache (``on_checkpoint``, ``on_chunk``), or its
       part of each kernel, summed into the cache by rank 0.
    3. Rank 0 runs the single-process ``analyze``, which finds every kernel in the cache; those the
       ranks computed in this run are reported as computed, with their seconds.
    A failure anywhere raises the same DistributedError on every rank. ``--no-cache`` is refused:
    the cache is how kernels reach rank 0. Ranks other than 0 say nothing, unless ``debug``: then
    their warnings and each checkpoint they start go to stderr, marked with their rank.
    """
    if not options.cache:
        raise UsageError("--no-cache cannot be used under torchrun: the ranks hand their kernels to rank 0 through "
                         "the kernel cache (ENTK_PROBE_CACHE, on a filesystem every rank sees)")
    try:
        options = replace(options, device=rank_device(options.device, launch.local_rank))
    except UsageError as exc:  # this rank's own, before the ranks can talk: it must say it itself
        raise DistributedError(f"rank {launch.rank}: {exc}", exit_code=UsageError.exit_code, everywhere=True) from exc
    group = start(launch, options.device, timeout)
    try:
        with warnings.catch_warnings():  # rank 0's analysis below gives the run's warnings once, in the report too
            warnings.showwarning = _rank_warning(launch.rank, debug)
            if launch.rank != 0:
                on_checkpoint = _rank_log(launch.rank) if debug else None
            elsewhere = _shared(launch, group, run_dir, probe_spec, options, on_checkpoint, on_chunk, on_estimate,
                                on_shares)
    finally:
        group.close()
    if elsewhere is None:
        return None
    return analyze(run_dir, probe_spec, options, on_checkpoint=on_checkpoint, on_chunk=on_chunk, elsewhere=elsewhere)


def _rank_warning(rank: int, debug: bool) -> Callable[..., None]:
    def show(message: Warning | str, *args: Any, **kwargs: Any) -> None:
        if debug:
            print(f"entk-probe[rank {rank}]: warning: {message}", file=sys.stderr, flush=True)
    return show


def _rank_log(rank: int) -> OnCheckpoint:
    def log(index: int, total: int, ckpt: Checkpoint) -> None:
        print(f"entk-probe[rank {rank}]: kernel {index + 1}/{total}: {ckpt.name}", file=sys.stderr, flush=True)
    return log


def _shared(launch: Launch, group: Group, run_dir: Path, probe_spec: str | None, options: AnalyzeOptions,
            on_checkpoint: OnCheckpoint | None, on_chunk: Callable[[int, int], None] | None,
            on_estimate: Callable[[RunEstimate], None] | None,
            on_shares: Callable[[str, list[list[int]]], None] | None) -> dict[str, float] | None:
    """Steps 1 and 2 of ``analyze_shared``: on rank 0 {cache key: seconds} of the kernels the ranks computed."""
    held: dict[str, Any] = {}
    plans = group.settle("plan", lambda: _plan(launch, run_dir, probe_spec, options, held, on_chunk, on_estimate))
    for r, plan in enumerate(plans):
        if plan["digest"] != plans[0]["digest"]:
            raise DistributedError(f"rank {r} sees other checkpoints than rank 0 in {run_dir}: the run directory must "
                                   "be the same on a filesystem every rank sees")
    how, shares = plans[0]["how"], plans[0]["shares"]
    if on_shares is not None and launch.rank == 0:
        on_shares(how, shares)
    if how == "parameters":  # every rank has every kernel to compute: its part of each
        computed = [compute_parts(group, shares[launch.rank], held, injected_fault, on_checkpoint)]
    else:
        computed = group.settle("kernels", lambda: _compute(launch.rank, shares[launch.rank], held, on_checkpoint))
    if launch.rank != 0:
        return None
    return {key: seconds for part in computed for key, seconds in part.items()}


def _plan(launch: Launch, run_dir: Path, probe_spec: str | None, options: AnalyzeOptions, held: dict[str, Any],
          on_chunk: Callable[[int, int], None] | None,
          on_estimate: Callable[[RunEstimate], None] | None) -> dict[str, Any]:
    """This rank's view of the run (the checkpoints' digest); on rank 0 also how the kernels are shared
    and the shares (indices into the chosen checkpoints, one list a rank). Keeps the run, model and
    source in ``held`` for the work."""
    run = select_run(run_dir, probe_spec, options)
    state, _ = read_state(run.chosen[0], run.options)
    _, held["model"], _, held["source"] = source_for(run, state, run_dir, on_chunk)
    held["run"] = run
    names = json.dumps([(c.name, c.sha256) for c in run.chosen])
    digest = hashlib.sha256(names.encode()).hexdigest()
    if launch.rank != 0:
        return {"digest": digest}
    source = held["source"]
    estimate = forecast(source, run.chosen)
    if on_estimate is not None:
        on_estimate(estimate)
    check_fits(estimate, run.options.force)
    todo = [i for i, c in enumerate(run.chosen) if not source.cached(kernel_identity(c, run.options))]
    how = choose(run.options.shard, len(todo), launch.world_size)
    if how == "parameters":
        return {"digest": digest, "how": how, "shares": [todo] * launch.world_size}
    # Every kernel of a run has the same architecture and probe, so the same estimated cost; a cached one costs nothing.
    per_kernel = estimate.kernel.seconds if estimate.kernel is not None else 0.0
    shares = share_out([per_kernel] * len(todo), launch.world_size)
    return {"digest": digest, "how": how, "shares": [[todo[j] for j in share] for share in shares]}


def _compute(rank: int, share: Sequence[int], held: dict[str, Any],
             on_checkpoint: OnCheckpoint | None) -> dict[str, float]:
    """Compute this rank's share of kernels into the cache: {cache key: seconds} of those computed.

    Checkpoints whose weights or logits are not finite are skipped: rank 0's analysis leaves them out
    and says so.
    """
    run, model, source = held["run"], held["model"], held["source"]
    done: dict[str, float] = {}
    for n, i in enumerate(share):
        ckpt = run.chosen[i]
        if on_checkpoint is not None:
            on_checkpoint(n, len(share), ckpt)
        state, _ = read_state(ckpt, run.options)
        load_weights(model, state, arch=run.arch, where=str(ckpt.path))
        if weight_problem(model, source.probe.inputs)[0] is None:
            _, seconds, cached = source.kernel(kernel_identity(ckpt, run.options))
            if not cached:
                done[source.key(kernel_identity(ckpt, run.options))] = seconds
        injected_fault(rank, len(done))
    return done
