"""A model's kernels on the probe, through the kernel cache: what the pipeline asks the engine for."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..engine.kernel import EntkResult, compute_entk_result, plan_entk, resolve_device
from ..engine.partial import Part
from ..engine.parameters import select_parameters
from ..engine.planning import EntkPlan
from ..probes import Probe
from ..runs.models import ModelSpec
from .cache import KernelCache, cache_key
from .runkernels import LOGITS, label_words_outputs, run_parts, run_store, stored_kernel
from .options import AnalyzeOptions


class KernelSource:
    """Kernels of one model on one probe, cached under everything that determines them.

    ``plan`` is the first computed kernel's plan (None while every kernel came from the cache).
    ``elsewhere`` maps the cache keys of kernels other processes computed for this run (torchrun
    ranks) to their seconds: those are read from the cache but count as computed, here and in the
    estimate, so that the report reads as the single-process one.
    """

    def __init__(self, model: nn.Module, probe: Probe, spec: ModelSpec, options: AnalyzeOptions,
                 progress: Callable[[int, int], None] | None, elsewhere: Mapping[str, float] | None = None,
                 run_dir: Path | None = None) -> None:
        self.model, self.probe, self.spec, self.options, self.progress = model, probe, spec, options, progress
        self.elsewhere = dict(elsewhere or {})
        self.cache = KernelCache(options.cache_dir) if options.cache else None
        self.runs = run_store(run_dir) if run_dir is not None else None  # kernels a training callback kept
        self.device = str(resolve_device(options.device))
        chosen = select_parameters(model, options.params)
        self.param_names = tuple(name for name, _ in chosen)
        self.num_params = sum(numel for _, numel in chosen)
        self.gram_dtype = options.products
        self.plan: EntkPlan | None = None

    def _parts(self, identity: Mapping[str, Any]) -> dict[str, Any]:
        """The cache key's parts: ``identity`` (which weights) and everything else the kernel depends on."""
        o = self.options
        return {**identity, "arch": self.spec.arch, "kwargs": self.spec.kwargs, "probe": self.probe.sha256,
                "mode": o.mode, "dtype": str(o.jacobian_dtype), "gram_dtype": str(self.gram_dtype), "params": o.params}

    def _engine(self) -> dict[str, Any]:
        o = self.options
        return {"mode": o.mode, "device": o.device, "max_memory": o.max_memory, "params": o.params,
                "jacobian_dtype": o.jacobian_dtype, "paths": o.paths, "gram_dtype": self.gram_dtype}

    def key(self, identity: Mapping[str, Any]) -> str:
        """The kernel cache's key of these weights' kernel."""
        return cache_key(**self._parts(identity))

    def cached(self, identity: Mapping[str, Any]) -> bool:
        """Whether the kernel cache held an entry for these weights before this run."""
        return self.cache is not None and self.key(identity) not in self.elsewhere and self.cache.has(self._parts(identity))

    def entry(self, identity: Mapping[str, Any]) -> Path | None:
        """The kernel cache file of these weights' kernel, when the cache is on and holds one."""
        if self.cache is None:
            return None
        path = self.cache.path(self.key(identity))
        return path if path.is_file() else None

    def expected_plan(self) -> EntkPlan:
        """The plan the engine would follow for the model's current weights."""
        return plan_entk(self.model, self.probe.inputs, **self._engine())

    def kernel(self, identity: Mapping[str, Any]) -> tuple[Tensor, float, bool]:
        """(kernel, seconds spent, whether it came from the cache) of the model's current weights.

        ``identity`` says which weights those are (checkpoint sha256, raw or EMA, ...).
        """
        parts = self._parts(identity)
        if self.cache is not None and (hit := self.cache.get(parts, self.probe.n)) is not None:
            if (seconds := self.elsewhere.get(cache_key(**parts))) is not None:
                self.plan = self.plan or self.expected_plan()  # what the rank that computed it planned, on like hardware
                return hit, seconds, False
            return hit, 0.0, True
        o, kw = self.options, self.spec.kwargs
        outputs = label_words_outputs(kw["label_words"], kw["prompt"]) if kw.get("label_words") else LOGITS
        kept = stored_kernel(self.runs, self.model, run_parts("", self.probe.sha256, o.mode, o.jacobian_dtype,
                                                              self.gram_dtype, o.params, outputs), self.probe.n)
        if kept is not None:  # computed during training (integrations.Watcher): into the cache too
            if self.cache is not None:
                self.cache.put(parts, kept, {"device": "training loop", "seconds": "0"})
            return kept, 0.0, True
        result = self._compute(self._engine())
        self.plan = self.plan or result.plan
        self.put(identity, result.kernel, result.device, result.seconds)
        return result.kernel, result.seconds, False

    def _compute(self, engine: dict[str, Any]) -> EntkResult:
        with warnings.catch_warnings():  # the job names the checkpoint of a non-finite kernel itself
            warnings.filterwarnings("ignore", message="the eNTK has NaN or infinite entries")
            return compute_entk_result(self.model, self.probe.inputs, progress=self.progress, **engine)

    def kernel_part(self, part: Part, *, max_memory: int | None = None, paths: str | None = None) -> EntkResult:
        """Part ``part`` = (index, parts) of the model's current weights' kernel (``engine.partial``),
        not cached: summed over every index, the kernel. ``max_memory`` and ``paths`` replace the options'."""
        engine = {**self._engine(), "part": part}
        engine.update({k: v for k, v in (("max_memory", max_memory), ("paths", paths)) if v is not None})
        return self._compute(engine)

    def put(self, identity: Mapping[str, Any], kernel: Tensor, device: str, seconds: float) -> None:
        """Keep ``kernel`` (computed here, or summed from its parts) in the cache under these weights' key."""
        if self.cache is not None:
            self.cache.put(self._parts(identity), kernel, {"device": device, "seconds": f"{seconds:.3f}"})
