"""A probe set as fed to the model, and what the model expects of its inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from .preprocess import Normalization

@dataclass(frozen=True)
class Target:
    """What the model expects of its inputs: (C, H, W), normalisation and an optional transform."""

    input_size: tuple[int, ...] | None  # None: the probe keeps its own size
    normalization: Normalization = Normalization(None, None, "the model states none")
    transform: Callable[[Tensor], Tensor] | None = None
    channels: int | None = None  # the model's input channels, where its size is not known
    size_source: str = "the model"  # where input_size came from, for messages
    text: TextTarget | None = None  # a language model: its probe is text, tokenised so


@dataclass(frozen=True)
class TextTarget:
    """What a language model expects of a text probe: its tokenizer, a length, a prompt."""

    tokenizer_dir: Path | None  # the run's tokenizer folder (or --tokenizer); None: none known
    max_length: int | None = None  # None: the longest selected text (capped at the model's maximum)
    model_max_length: int | None = None  # positions the model has (config max_position_embeddings)
    prompt: str | None = None  # template with {text} (and {text_b}) around each example, e.g. "{text} It was <mask> ."
    source: str = "the run"  # where the tokenizer came from, for messages


@dataclass(frozen=True)
class Probe:
    """Probe inputs as fed to the model, with everything needed to recompute them."""

    spec: str
    dataset: str
    split: str | None
    seed: int | None
    inputs: Tensor  # (N, C, H, W) float32 as fed to the model, or packed tokens (N, K, L) int64
    labels: Tensor | None  # (N,) int64; None for synthetic probes
    indices: Tensor  # (N,) int64, positions in the source split
    classes: tuple[str, ...]
    normalization: Normalization
    source: str
    synthetic: bool = False
    transforms: tuple[str, ...] = ()  # what was done to the images besides normalisation
    sha256: str = field(default="")
    # Text probes (probes.tokens): inputs are packed token tensors (N, K, L) int64 with these keys.
    input_keys: tuple[str, ...] = ()
    tokenizer: str = ""  # sha256 of the tokenizer's files
    max_length: int | None = None  # L: every text padded (and truncated) to it

    @property
    def is_text(self) -> bool:
        return bool(self.input_keys)

    @property
    def n(self) -> int:
        return int(self.inputs.shape[0])


def tensor_sha256(inputs: Tensor) -> str:
    """sha256 of a tensor's bytes in its own dtype, C order, native (little-endian) byte order: the
    float32 bytes of an image probe (N, C, H, W), the int64 bytes of packed tokens (N, K, L)."""
    return hashlib.sha256(inputs.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
