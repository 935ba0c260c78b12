"""Following a run as it is written: each new checkpoint's kernel once, and the phase call so far.

``follow`` polls the run directory; a checkpoint counts once its files have kept their size and
modification time over two polls and it reads (one being written is waited for). The model and
probe are built from the first checkpoint, as ``analyze`` builds them; each kernel goes through the
kernel cache (and the run's own store, ``runkernels``), so the final ``analyze`` computes nothing
again. After each kernel the provisional call (``analysis.online``) is made; ``on_phase2`` is called
once, the first time Phase II is called. It ends when a checkpoint at ``until_step`` or later has
been taken, after ``idle`` seconds without a new checkpoint, or on an interrupt (the caller then
reports what there is).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.online import OnlineCall, OnlineCaller
from ..errors import CheckpointError, UsageError, warn
from ..runs.checkpoints import Checkpoint, checkpoint_paths, read_checkpoint, training_order
from ..runs.hflayout import checkpoint_files
from ..runs.models import load_weights, resolve_arch
from .job import load_plugins, prepare, probe_spec_for, read_state
from .kernels import KernelSource
from .options import AnalyzeOptions
from .runprobe import resolve_run_probe


@dataclass
class Followed:
    """What ``follow`` took: the checkpoints in the order they were taken, and the call after each."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    calls: list[OnlineCall] = field(default_factory=list)
    ended: str = ""  # why following stopped


def parse_until(text: str | None) -> tuple[int | None, float | None]:
    """``--until STEP`` or ``--until idle:SECONDS`` as (step, idle seconds)."""
    if text is None:
        return None, None
    kind, sep, value = text.partition(":")
    try:
        if sep and kind == "idle" and float(value) > 0:
            return None, float(value)
        if not sep and int(text) >= 0:
            return int(text), None
    except ValueError:
        pass
    raise UsageError(f"--until takes a step (e.g. 2000) or idle:SECONDS (e.g. idle:600), not {text!r}")


def _signature(ckpt_path: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in checkpoint_files(ckpt_path))


class _Follower:
    """The state of one ``follow``: what was seen, the model once built, the online caller."""

    def __init__(self, run_dir: Path, probe_spec: str | None, options: AnalyzeOptions) -> None:
        self.run_dir, self.probe_spec, self.options = run_dir, probe_spec, options
        self.sizes: dict[Path, tuple] = {}  # file -> signature at the last poll
        self.read: set[Path] = set()  # files read (taken, or not checkpoints): never read again
        self.shas: set[str] = set()  # of the checkpoints taken: a copy of one (last.pth.tar) is not taken again
        self.source: KernelSource | None = None
        self.arch = ""
        self.caller = OnlineCaller(options.thresholds)
        self.followed = Followed()

    def ready(self) -> list[Checkpoint]:
        """New checkpoints whose files did not change since the last poll, in training order.

        Only file sizes and times are looked at every poll; a file is read (and hashed) once, when it
        has kept them over two polls.
        """
        try:
            paths = checkpoint_paths(self.run_dir, self.options.glob)
        except CheckpointError:
            return []  # a checkpoint folder still without its weights: the next poll sees
        out: list[Checkpoint] = []
        for path in paths:
            if path in self.read:
                continue
            signature = _signature(path)
            if self.sizes.get(path) == signature:
                try:
                    ckpt = read_checkpoint(path, self.run_dir, self.options.trust_checkpoints)
                except CheckpointError:
                    continue  # still being written by something that keeps its size: the next poll sees
                self.read.add(path)
                if ckpt is not None and ckpt.sha256 not in self.shas:
                    self.shas.add(ckpt.sha256)
                    out.append(ckpt)
            self.sizes[path] = signature
        return training_order(out) if out else out

    def take(self, ckpt: Checkpoint) -> OnlineCall | None:
        """The checkpoint's kernel (built on the first), and the call on all taken so far."""
        state, _ = read_state(ckpt, self.options)
        if self.source is None:
            spec_text, self.options = resolve_run_probe(probe_spec_for(self.run_dir, self.probe_spec), self.run_dir,
                                                        self.options)
            self.arch, source = resolve_arch(self.options.arch, [ckpt], self.run_dir, base_model=self.options.base_model)
            spec, model, probe = prepare(self.arch, source, ckpt, state, spec_text, self.options, self.run_dir)
            self.source = KernelSource(model, probe, spec, self.options, None, None, self.run_dir)
        load_weights(self.source.model, state, arch=self.arch, where=str(ckpt.path))
        kernel, _, _ = self.source.kernel({"checkpoint": ckpt.sha256, "weights": self.options.weights})
        self.followed.checkpoints.append(ckpt)
        moment = ckpt.time("step") if ckpt.step is not None else ckpt.time("epoch")
        if moment is None or (self.caller.times and moment <= self.caller.times[-1]):
            warn(f"{ckpt.name} arrived out of training order (or records no step): it is in the final report, not in "
                 "the provisional call", code="watch-order", checkpoint=ckpt.name)
            return None
        call = self.caller.add(kernel, moment)
        self.followed.calls.append(call)
        return call


def follow(run_dir: Path, probe_spec: str | None, options: AnalyzeOptions, *, until_step: int | None = None,
           idle: float | None = None, poll: float = 2.0,
           on_checkpoint: Callable[[Checkpoint, OnlineCall | None], None] | None = None,
           on_phase2: Callable[[Checkpoint, OnlineCall], None] | None = None,
           on_poll: Callable[[], None] | None = None) -> Followed:
    """Take ``run_dir``'s checkpoints as they appear until ``until_step``, ``idle`` seconds of quiet or an interrupt.

    ``on_checkpoint(checkpoint, call)`` after each kernel; ``on_phase2(checkpoint, call)`` once; ``on_poll()``
    after each look at the folder. A KeyboardInterrupt ends following; what was taken is returned.
    """
    options.validate(None)
    load_plugins(options.plugins)
    follower = _Follower(Path(run_dir), probe_spec, options)
    quiet_since = time.monotonic()
    try:
        while True:
            fresh = follower.ready()
            for ckpt in fresh:
                call = follower.take(ckpt)
                if on_checkpoint is not None:
                    on_checkpoint(ckpt, call)
                if call is not None and call.phase2 and on_phase2 is not None and call is follower.caller.phase2_call:
                    on_phase2(ckpt, call)
                if until_step is not None and ckpt.step is not None and ckpt.step >= until_step:
                    follower.followed.ended = f"step {ckpt.step} reached (--until {until_step})"
                    return follower.followed
            quiet_since = time.monotonic() if fresh else quiet_since
            if on_poll is not None:
                on_poll()
            if idle is not None and time.monotonic() - quiet_since >= idle:
                follower.followed.ended = f"no new checkpoint for {idle:g} s"
                return follower.followed
            time.sleep(poll)
    except KeyboardInterrupt:
        follower.followed.ended = "interrupted"
        return follower.followed
