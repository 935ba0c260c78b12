"""What ``analyze`` can be told besides the run directory and the probe, checked before anything is read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..analysis.dynamics import ANGLE_STATISTICS
from ..analysis.phases import CONE_STATISTIC, PhaseThresholds
from ..analysis.resample import DRAWS, check_resamples
from ..engine.kernel import check_dtypes, products_dtype, resolve_device
from ..engine.layerplan import check_paths
from ..engine.memory import parse_bytes
from ..engine.modes import get_mode
from ..errors import UsageError
from ..probes.preprocess import parse_normalize
from ..probes.spec import parse_spec
from ..runs.checkpoints import check_selection
from ..runs.loading import check_weights
from ..runs.models import parse_input_size


INITS = (None, "seed")  # how the initial model may be added to a run that lacks it
# Under torchrun, how the ranks share the work (pipeline.sharding): whole kernels, each kernel's
# parameters, or auto (kernels when there are at least as many to compute as ranks).
SHARDS = ("auto", "checkpoints", "parameters")


@dataclass(frozen=True)
class AnalyzeOptions:
    """Everything ``analyze`` can be told besides the run directory and the probe."""

    arch: str | None = None
    plugins: Sequence[Path] = ()
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: str = "raw"  # "raw" or "ema"
    glob: str | None = None
    every: int | None = None
    range: str | None = None
    max_checkpoints: int | None = None
    trust_checkpoints: bool = False
    mode: str = "trace"
    device: str = "auto"
    max_memory: int | str | None = None
    params: str | None = None
    jacobian_dtype: torch.dtype = torch.float32
    gram_dtype: torch.dtype | None = None  # dtype of the Gram products; None: the Jacobian dtype
    paths: str = "auto"  # per-layer path choice (engine.compute_entk's ``paths``)
    normalize: str | None = None  # --normalize: overrides the model's normalisation
    input_size: tuple[int, ...] | None = None  # --input-size: overrides the recorded (C, H, W)
    data_root: Path | None = None
    download: bool = False
    thresholds: PhaseThresholds = PhaseThresholds()
    cone_statistic: str = CONE_STATISTIC
    subspace_k: int | None = None  # default: the number of classes
    resamples: int = DRAWS  # probe resamples that test how sure the verdict is (analysis.confidence); 0: off
    buffer_motion: bool = False  # one more kernel a step: weights of the next checkpoint, buffers of this one
    cache: bool = True
    cache_dir: Path | None = None
    force: bool = False  # run even when the estimate says the run does not fit in memory
    init: str | None = None  # "seed": rebuild timm train.py's initial model from the recorded seed
    shard: str = "auto"  # under torchrun: one of SHARDS; a single process ignores it
    # Language models (README: "A fine-tuning run from the Hugging Face Trainer").
    tokenizer: Path | None = None  # --tokenizer: a tokenizer folder; default: the one saved with the run
    max_length: int | None = None  # --max-length: tokens a text probe example is padded/truncated to
    base_model: Path | None = None  # --base-model: the local folder a PEFT adapter's base model is in
    label_words: tuple[str, ...] | None = None  # --label-words: a causal/masked LM's outputs, one word a class
    prompt: str | None = None  # --prompt: template around each text, "{text} It was {mask} ."

    @property
    def products(self) -> torch.dtype:
        """The dtype of the Gram products: ``gram_dtype``, else the Jacobian dtype."""
        return products_dtype(self.jacobian_dtype, self.gram_dtype)

    def validate(self, probe_spec: str | None = None) -> None:
        """Raise a UsageError for any malformed value, before a checkpoint or a dataset is read.

        Each value is checked by the function that later uses it, so the rules live in one place.
        """
        get_mode(self.mode)
        check_paths(self.paths)
        check_dtypes(self.jacobian_dtype, self.gram_dtype)
        check_weights(self.weights)
        resolve_device(self.device)
        if self.max_memory is not None:
            parse_bytes(self.max_memory)
        check_selection(every=self.every, range_=self.range, max_checkpoints=self.max_checkpoints)
        if self.normalize is not None:
            parse_normalize(self.normalize)
        if self.input_size is not None:
            parse_input_size(",".join(str(v) for v in self.input_size))
        if probe_spec is not None:
            parse_spec(probe_spec)
        if self.subspace_k is not None and (isinstance(self.subspace_k, bool) or not isinstance(self.subspace_k, int)
                                            or self.subspace_k < 1):
            raise UsageError(f"--subspace-k must be a positive integer, not {self.subspace_k!r}")
        check_resamples(self.resamples)
        if self.init not in INITS:
            raise UsageError(f"unknown --init {self.init!r}: use one of {', '.join(i for i in INITS if i)}")
        if self.shard not in SHARDS:
            raise UsageError(f"unknown --shard {self.shard!r}: use one of {', '.join(SHARDS)}")
        if self.max_length is not None and (isinstance(self.max_length, bool) or not isinstance(self.max_length, int)
                                            or self.max_length < 2):
            raise UsageError(f"--max-length must be an integer of at least 2, not {self.max_length!r}")
        if self.cone_statistic not in ANGLE_STATISTICS:
            raise UsageError(f"unknown cone statistic {self.cone_statistic!r}: use one of {', '.join(ANGLE_STATISTICS)}")
