"""Real text for tests: SST-2 from ../shared/data, and a small tokenizer trained on it.

No tokenizer or weights are downloaded: ``train_tokenizer`` trains a WordPiece tokenizer on the
first sentences of SST-2's training set with the ``tokenizers`` package (a second or two) and
saves it as transformers saves one (``tokenizer.json``, ``tokenizer_config.json``), so that
``AutoTokenizer.from_pretrained(folder)`` reads it offline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .data import SHARED

SST2 = SHARED / "sst2" / "SST-2"
needs_sst2 = pytest.mark.skipif(
    not (SST2 / "dev.tsv").is_file(), reason=f"real SST-2 is not at {SST2} (see ../shared/data/README.md)"
)
try:  # the text extra: pip install -e '.[text]'
    import peft  # noqa: F401
    import tokenizers  # noqa: F401
    import transformers  # noqa: F401
except ImportError as exc:  # pragma: no cover - CI installs the extra
    needs_text = pytest.mark.skip(reason=f"the text extra is not installed ({exc}): pip install -e '.[text]'")
else:
    needs_text = pytest.mark.skipif(False, reason="")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sst2_sentences(count: int, split: str = "train.tsv") -> list[tuple[str, int]]:
    """The first ``count`` (sentence, label) rows of an SST-2 file."""
    rows = []
    with open(SST2 / split, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            sentence, label = line.rstrip("\n").split("\t")
            rows.append((sentence, int(label)))
            if len(rows) == count:
                break
    return rows


def train_tokenizer(folder: Path, *, vocab_size: int = 600, sentences: int = 4000) -> Path:
    """A BERT-style WordPiece tokenizer trained on SST-2's first ``sentences`` training sentences,
    saved in ``folder`` in transformers' layout; returns ``folder``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    tok.train_from_iterator((s for s, _ in sst2_sentences(sentences)), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    fast.save_pretrained(str(folder))
    return folder
