"""Small real Hugging Face Trainer runs on real SST-2, for tests (CPU, a few seconds each).

Each ``make_*_run`` trains a tiny transformers model with the real ``transformers.Trainer`` and
leaves a run folder in the Trainer's own layout: ``checkpoint-<step>/`` folders holding the
weights (``model.safetensors``, or ``adapter_model.safetensors`` + ``adapter_config.json`` for a
PEFT model), ``config.json``, ``trainer_state.json`` (with ``log_history``: train loss and
learning rate every ``logging_steps``, eval loss and accuracy every ``eval_steps`` and before the
first step), ``training_args.bin`` and the tokenizer files. Checkpoints are written only at
``save_steps`` (``SaveAt``, a TrainerCallback that sets ``control.should_save``); step 0, the
initial model, is saved as the Trainer saves any checkpoint, before the first step.

Everything is seeded (the model's initialisation, the data order): the same arguments give the
same bytes, in any process. The tokenizer is a WordPiece with textdata's normaliser, pre-tokenizer,
special tokens and [CLS]/[SEP] template, and a vocabulary counted here (no download): special
tokens, every character, every character as a word piece (##c), then SST-2's most frequent words,
ties by spelling. (``textdata.train_tokenizer``'s trained vocabulary differs between processes:
the tokenizers trainer breaks ties between equally frequent pieces in hash order.) The causal
language model's copy adds no special tokens (as GPT-2's) and has "great" and "terrible", the
label words, as words.
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .textdata import SPECIAL_TOKENS, sst2_sentences

SAVE_STEPS = (0, 2, 4, 6, 8, 12, 16, 24, 32, 40)
TRAIN_SENTENCES = 2000
EVAL_SENTENCES = 64
MAX_LENGTH = 64
VOCAB_SIZE = 1000
LABEL_WORDS = ("terrible", "great")  # SST-2 label 0, label 1
PROMPT = "{sentence} It was"  # the causal LM's text before its label word (the tokenizer lowercases)


def _transformers():  # type: ignore[no-untyped-def]
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def sst2_vocabulary(size: int = VOCAB_SIZE, sentences: int = 4000) -> list[str]:
    """Special tokens, characters, ##characters, then the most frequent words of SST-2's first
    ``sentences`` training sentences (ties by spelling) up to ``size`` tokens, the label words included."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer, splitter = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts = Counter(word for s, _ in sst2_sentences(sentences)
                     for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(s)))
    chars = sorted({c for word in counts for c in word})
    vocab = [*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars), *LABEL_WORDS]
    known = set(vocab)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if w not in known]
    return vocab + words[: size - len(vocab)]


def _wordpiece(template: bool) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = sst2_vocabulary()
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    ) if template else processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    return tok


@functools.lru_cache(maxsize=None)
def bert_tokenizer() -> Any:
    """The WordPiece tokenizer of ``sst2_vocabulary`` with BERT's [CLS] ... [SEP] template."""
    return _transformers().PreTrainedTokenizerFast(
        tokenizer_object=_wordpiece(template=True), unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_LENGTH,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"])


@functools.lru_cache(maxsize=None)
def lm_tokenizer() -> Any:
    """The same vocabulary for a causal LM: no special tokens added, [SEP] as end of text, [PAD] to pad."""
    return _transformers().PreTrainedTokenizerFast(
        tokenizer_object=_wordpiece(template=False), unk_token="[UNK]", pad_token="[PAD]", eos_token="[SEP]",
        bos_token="[CLS]", model_max_length=MAX_LENGTH, model_input_names=["input_ids", "attention_mask"])


def bert_model(tokenizer: Any, seed: int = 0) -> Any:
    """A 2-layer BertForSequenceClassification (hidden 32, 2 heads) at its seeded initial weights."""
    transformers = _transformers()
    transformers.set_seed(seed)
    config = transformers.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=MAX_LENGTH,
                                     num_labels=2, pad_token_id=tokenizer.pad_token_id)
    return transformers.BertForSequenceClassification(config)


def gpt2_model(tokenizer: Any, seed: int = 0) -> Any:
    """A 2-layer GPT2LMHeadModel (n_embd 32, 2 heads) at its seeded initial weights."""
    transformers = _transformers()
    transformers.set_seed(seed)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=MAX_LENGTH, n_embd=32, n_layer=2,
                                     n_head=2, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                     bos_token_id=tokenizer.bos_token_id)
    return transformers.GPT2LMHeadModel(config)


def _classification_rows(tokenizer: Any, rows: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    encoded = tokenizer([s for s, _ in rows], truncation=True, max_length=MAX_LENGTH)
    return [{**{k: v[i] for k, v in encoded.items()}, "labels": label} for i, (_, label) in enumerate(rows)]


def _classification_data(tokenizer: Any) -> tuple[list, list]:
    """(training rows, evaluation rows): SST-2's first training sentences and first dev sentences."""
    return (_classification_rows(tokenizer, sst2_sentences(TRAIN_SENTENCES)),
            _classification_rows(tokenizer, sst2_sentences(EVAL_SENTENCES, "dev.tsv")))


def lm_text(sentence: str, label: int) -> str:
    """The causal LM's training text: the prompt, then the label word and a full stop."""
    return f"{PROMPT.format(sentence=sentence)} {LABEL_WORDS[label]} ."


def _lm_rows(tokenizer: Any, rows: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    encoded = tokenizer([lm_text(s, y) for s, y in rows])
    return [{"input_ids": ids, "attention_mask": mask} for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])
            if len(ids) <= MAX_LENGTH]


def _accuracy(prediction: Any) -> dict[str, float]:
    logits, labels = prediction.predictions, prediction.label_ids
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())}


def _label_word_logits(logits: Any, labels: Any, *, words: tuple[int, ...]) -> Any:
    return logits[..., list(words)]  # (B, L, 2): only the label words' logits are kept for the metric


def _label_word_accuracy(prediction: Any, *, words: tuple[int, ...]) -> dict[str, float]:
    """How often the right label word has the larger of the two label words' logits after the
    prompt: with labels ``... word .`` (then -100 padding), the word is label n - 2, predicted at n - 3."""
    logits, labels = np.asarray(prediction.predictions), np.asarray(prediction.label_ids)
    n = (labels != -100).sum(axis=1)
    rows = np.arange(len(labels))
    chosen = np.asarray(words)[logits[rows, n - 3].argmax(-1)]
    return {"accuracy": float((chosen == labels[rows, n - 2]).mean())}


def _save_at(steps: Sequence[int]) -> Any:
    """A TrainerCallback that saves checkpoints at ``steps`` only; step 0 before training."""
    transformers = _transformers()

    class SaveAt(transformers.TrainerCallback):
        trainer: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if 0 in steps:  # the initial model, in the layout of every checkpoint the Trainer saves
                state.epoch = 0.0
                folder = Path(args.output_dir) / "checkpoint-0"
                self.trainer.save_model(str(folder))
                state.save_to_json(str(folder / "trainer_state.json"))
            return control

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            control.should_save = state.global_step in steps
            return control

    return SaveAt()


def _train(folder: Path, model: Any, tokenizer: Any, data: tuple[list, list], *, collator: Any, metrics: Callable,
           steps: int, save_steps: Sequence[int], seed: int, learning_rate: float, preprocess: Callable | None = None,
           ) -> Path:
    transformers = _transformers()
    args = transformers.TrainingArguments(
        output_dir=str(folder), max_steps=steps, per_device_train_batch_size=16, per_device_eval_batch_size=EVAL_SENTENCES,
        learning_rate=learning_rate, lr_scheduler_type="linear", warmup_steps=4, logging_strategy="steps",
        logging_steps=2, eval_strategy="steps", eval_steps=8, eval_on_start=True, save_strategy="no",
        save_only_model=True, report_to=[], use_cpu=True, seed=seed, data_seed=seed, disable_tqdm=True,
        label_names=["labels"], dataloader_num_workers=0, log_level="error",
    )
    saver = _save_at(tuple(save_steps))
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data[0], eval_dataset=data[1],
                                   processing_class=tokenizer, data_collator=collator, compute_metrics=metrics,
                                   preprocess_logits_for_metrics=preprocess, callbacks=[saver])
    saver.trainer = trainer
    trainer.remove_callback(transformers.PrinterCallback)  # no log lines on stdout
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # models this small gain nothing from more; on a busy machine threads waiting
    try:  # for each other made a 1.4 s run take 23 s
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    return folder


def make_bert_run(folder: Path, *, steps: int = 40, save_steps: Sequence[int] = SAVE_STEPS, seed: int = 0,
                  learning_rate: float = 1e-3) -> Path:
    """A BertForSequenceClassification trained ``steps`` steps on SST-2; returns ``folder``."""
    transformers = _transformers()
    tokenizer = bert_tokenizer()
    data = _classification_data(tokenizer)
    return _train(Path(folder), bert_model(tokenizer, seed), tokenizer, data,
                  collator=transformers.DataCollatorWithPadding(tokenizer), metrics=_accuracy, steps=steps,
                  save_steps=save_steps, seed=seed, learning_rate=learning_rate)


def save_bert_base(base_dir: Path, seed: int = 0) -> Path:
    """The BERT of ``make_bert_run`` at its initial weights, saved with save_pretrained (and its tokenizer)."""
    tokenizer = bert_tokenizer()
    bert_model(tokenizer, seed).save_pretrained(str(base_dir))
    tokenizer.save_pretrained(str(base_dir))
    return Path(base_dir)


def make_lora_run(folder: Path, *, base_dir: Path, steps: int = 40, save_steps: Sequence[int] = SAVE_STEPS,
                  seed: int = 0, learning_rate: float = 3e-3) -> Path:
    """LoRA (r=4 on query and value; the classifier trained in full, as peft does for SEQ_CLS) on the
    BERT saved in ``base_dir`` (saved there first when absent), trained as ``make_bert_run``.
    Checkpoints hold the adapter only; adapter_config.json names ``base_dir`` as its base model."""
    import peft

    transformers = _transformers()
    base_dir = Path(base_dir)
    if not (base_dir / "config.json").is_file():
        save_bert_base(base_dir, seed)
    tokenizer = bert_tokenizer()
    data = _classification_data(tokenizer)
    with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question: not the tests' business
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        base = transformers.BertForSequenceClassification.from_pretrained(str(base_dir))
        transformers.set_seed(seed)
        model = peft.get_peft_model(base, peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8,
                                                          target_modules=["query", "value"]))
        return _train(Path(folder), model, tokenizer, data, collator=transformers.DataCollatorWithPadding(tokenizer),
                      metrics=_accuracy, steps=steps, save_steps=save_steps, seed=seed, learning_rate=learning_rate)


def make_gpt2_run(folder: Path, *, steps: int = 40, save_steps: Sequence[int] = SAVE_STEPS, seed: int = 0,
                  learning_rate: float = 1e-2) -> Path:
    """A GPT2LMHeadModel fine-tuned as a language model on "{sentence} It was {great|terrible} ."
    (SST-2's label as the word after the prompt); eval_accuracy: the right label word's logit after
    the prompt is the larger of the two. Returns ``folder``."""
    transformers = _transformers()
    tokenizer = lm_tokenizer()
    data = (_lm_rows(tokenizer, sst2_sentences(TRAIN_SENTENCES)), _lm_rows(tokenizer, sst2_sentences(EVAL_SENTENCES, "dev.tsv")))
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False)
    words = tuple(tokenizer.convert_tokens_to_ids(list(LABEL_WORDS)))
    return _train(Path(folder), gpt2_model(tokenizer, seed), tokenizer, data, collator=collator,
                  metrics=functools.partial(_label_word_accuracy, words=words),
                  preprocess=functools.partial(_label_word_logits, words=words), steps=steps, save_steps=save_steps,
                  seed=seed, learning_rate=learning_rate)
