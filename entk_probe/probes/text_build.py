"""Text probes for language models: ``sst2[:N]``, ``glue:TASK[:N]``, ``textfile:PATH[:N]``.

``make_text_probe`` reads the records (``sources.load_text_split``), selects class-balanced
samples exactly as for images (``selection``), places them in the prompt and tokenises them with
the run's tokenizer (``tokenization``), and records the packed tokens (N, K, L) int64 with their
keys, the tokenizer's sha256 and L (``probe.Probe``). ``check_kind`` refuses an image probe for a
language model and a text probe for an image model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UsageError
from .preprocess import Normalization
from .probe import Probe, Target, TextTarget, tensor_sha256
from .selection import select_positions
from .sources import TEXT_SOURCES, load_text_split
from .spec import ProbeSpec, check_options, int_option
from .text_datasets import check_text_split
from .tokenization import apply_prompt, encode, load_tokenizer

TEXT_OPTIONS = {"sst2": {"split", "seed", "balance"}, "glue": {"split", "seed", "balance"},
                "textfile": {"text", "text_b", "label", "seed", "balance"}}
TEXT_NORMALIZATION = Normalization(None, None, "text: tokenised, not normalised")
TEXT_FORMS = "sst2[:N], glue:TASK[:N] or textfile:PATH[:N]"


def is_text_spec(spec: ProbeSpec) -> bool:
    return spec.name in TEXT_SOURCES


def check_kind(spec: ProbeSpec, target: Target | None) -> TextTarget | None:
    """The target's text side for a text spec; a UsageError where the spec's kind is not the model's."""
    text = target.text if target is not None else None
    if is_text_spec(spec) and text is None:
        if target is None:
            raise UsageError(f"probe {spec.text} is text: it needs the language model's tokenizer; pass --tokenizer DIR "
                             "(and the model), or use an image probe")
        raise UsageError(f"probe {spec.text} is text but the model takes images: use an image probe (cifar10:500, "
                         "mnist:300, imagefolder:PATH, ...)")
    if not is_text_spec(spec) and spec.name != "file" and text is not None:
        raise UsageError(f"probe {spec.text} is an image probe but the model is a language model: it needs a text "
                         f"probe, {TEXT_FORMS}")
    return text


def _check_flags(spec: ProbeSpec, normalize_override: str | None, download: bool) -> None:
    if normalize_override is not None:
        raise UsageError(f"--normalize applies to image probes; text probe {spec.text} is tokenised, not normalised")
    if download:
        raise UsageError(f"--download fetches CIFAR-10 and CIFAR-100 only, not {spec.name}: point --data-root at "
                         "the text data")
    if spec.name != "textfile":
        check_text_split(spec.options.get("split", "validation"))


def make_text_probe(spec: ProbeSpec, target: Target | None, *, data_root: Path | None = None,
                    normalize_override: str | None = None, download: bool = False) -> Probe:
    """The text probe ``spec`` names, tokenised for the language model ``target`` describes."""
    check_options(spec, TEXT_OPTIONS[spec.name])
    text = check_kind(spec, target)
    assert text is not None
    _check_flags(spec, normalize_override, download)
    seed = int_option(spec, "seed", 0)
    tokenizer, digest = load_tokenizer(text)
    data = load_text_split(spec, data_root)
    positions = select_positions(data.labels, data.classes, spec, seed, dataset=data.dataset, split=data.split,
                                 noun="texts")
    texts = [data.texts[i] for i in positions]
    texts_b = [data.texts_b[i] for i in positions] if data.texts_b is not None else None
    transforms: list[str] = []
    if text.prompt is not None:
        texts, texts_b = apply_prompt(text.prompt, texts, texts_b, tokenizer.mask_token), None
        transforms.append(f"prompt {text.prompt!r}")
    encoded = encode(tokenizer, texts, texts_b, max_length=text.max_length, model_max_length=text.model_max_length,
                     prompted=text.prompt is not None)
    source = f"{data.source}; tokenizer {text.tokenizer_dir} ({text.source}), sha256 {digest[:12]}"
    return Probe(
        spec=spec.text, dataset=data.dataset, split=data.split, seed=seed, inputs=encoded.inputs,
        labels=torch.from_numpy(data.labels[positions]), indices=torch.from_numpy(positions), classes=data.classes,
        normalization=TEXT_NORMALIZATION, source=source, transforms=(*transforms, *encoded.notes),
        sha256=tensor_sha256(encoded.inputs), input_keys=encoded.keys, tokenizer=digest, max_length=encoded.max_length,
    )
