"""A Hugging Face run's model, spec and text probe, built together (the language-model side of ``job.prepare``)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import UsageError
from ..probes import Probe, make_probe
from ..probes.probe import TextTarget
from ..probes.tokenization import load_tokenizer
from ..runs.models import ModelSpec
from ..runs.registry import ModelEntry
from ..runs.checkpoints import Checkpoint
from ..runs.textcall import as_text_classifier, label_word_ids
from ..runs.textmodels import TextRun, build_text_model, import_transformers, text_run
from .options import AnalyzeOptions

# The prompt a language model's label words are read under when --prompt is not given (Malladi et
# al. 2023's SST-2 template): the mask token for a masked LM, the next token for a causal LM.
DEFAULT_PROMPTS = {"masked-lm": "{text} It was {mask} .", "causal-lm": "{text} It was"}


def _prompt(run: TextRun, options: AnalyzeOptions) -> tuple[str | None, str]:
    if options.prompt is not None:
        return options.prompt, "--prompt"
    if run.kind in DEFAULT_PROMPTS and options.label_words:
        return DEFAULT_PROMPTS[run.kind], f"the default template of a {run.kind} (--prompt sets another)"
    return None, "none"


def text_spec(run: TextRun, options: AnalyzeOptions) -> ModelSpec:
    """The spec of ``run``'s model: its class, config, outputs and what the probe is tokenised with."""
    transformers = import_transformers()
    if run.kind != "classifier" and not options.label_words:
        raise UsageError(f"{run.arch} is a language model ({run.kind}): pass --label-words, one word a class, e.g. "
                         "--label-words terrible,great, to take their logits as the outputs")
    if run.kind == "classifier" and options.label_words:
        raise UsageError(f"--label-words is for causal and masked LMs; {run.arch} gives class logits itself")
    prompt, prompt_source = _prompt(run, options)
    entry = ModelEntry(run.arch, f"transformers {transformers.__version__}", lambda **_: build_text_model(run))
    kwargs = {"config": run.identity[:16], "outputs": run.kind, "label_words": ",".join(options.label_words or ()),
              "prompt": prompt or ""}
    sources = {"config": str(run.config_dir / "config.json"), "tokenizer": run.tokenizer_source,
               "prompt": prompt_source}
    if run.base_dir is not None:
        sources["base model"] = f"{run.base_dir} ({run.base_source})"
    positions = run.config.get("max_position_embeddings") or run.config.get("n_positions")
    text = TextTarget(run.tokenizer_dir, options.max_length, positions if isinstance(positions, int) else None, prompt,
                      run.tokenizer_source)
    return ModelSpec(run.arch, run.arch_source, entry, kwargs, sources, text=text)


def prepare_text(ckpt: Checkpoint, run_dir: Path, probe_spec: str, options: AnalyzeOptions
                 ) -> tuple[ModelSpec, nn.Module, Probe] | None:
    """The spec, the model taking the probe's packed tokens, and the text probe; None when ``ckpt``
    is not a Hugging Face model's (``runs.textmodels.text_run``)."""
    run = text_run(ckpt, run_dir, arch=options.arch, base_model=options.base_model, tokenizer=options.tokenizer)
    if run is None:
        return None
    spec = text_spec(run, options)
    model = build_text_model(run)
    probe = make_probe(probe_spec, spec.target(), normalize_override=options.normalize, data_root=options.data_root,
                       download=options.download)
    words: tuple[int, ...] = ()
    mask_id = None
    if run.kind != "classifier":
        assert spec.text is not None and options.label_words
        tokenizer, _ = load_tokenizer(spec.text)
        words, mask_id = label_word_ids(tokenizer, options.label_words), tokenizer.mask_token_id
        if run.kind == "masked-lm" and mask_id is None:
            raise UsageError(f"{run.arch} is a masked LM but the tokenizer ({run.tokenizer_source}) has no mask token")
        if probe.classes and len(words) != len(probe.classes):
            raise UsageError(f"--label-words gives {len(words)} words for the probe's {len(probe.classes)} classes "
                             f"({', '.join(probe.classes)}): one word a class, in class order")
    return spec, as_text_classifier(model, probe.input_keys, run.kind, words, mask_id), probe
