"""Language models as (batch, classes) networks: prediction positions, label words, the adapted forward."""

from __future__ import annotations

import pytest
import torch

from entk_probe.errors import ProbeError, UsageError
from entk_probe.probes.tokens import pack
from entk_probe.runs.textcall import as_text_classifier, label_word_ids, prediction_positions

from ..textdata import needs_text

KEYS = ("input_ids", "attention_mask")


def test_the_prediction_position_is_the_last_kept_token_or_the_mask() -> None:
    ids = torch.tensor([[5, 6, 7, 0, 0], [5, 9, 6, 7, 8]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    packed, keys = pack({"input_ids": ids, "attention_mask": mask})
    assert prediction_positions(packed, keys, "causal-lm", None).tolist() == [2, 4]
    masked, _ = pack({"input_ids": torch.tensor([[5, 4, 7, 0], [4, 6, 6, 6]]), "attention_mask": torch.ones(2, 4, dtype=torch.long)})
    assert prediction_positions(masked, keys, "masked-lm", 4).tolist() == [1, 0]
    with pytest.raises(ProbeError, match="exactly one mask token"):
        prediction_positions(packed, keys, "masked-lm", 9)  # the first example has none


@needs_text
def test_label_words_are_one_token_each_with_a_leading_space_where_the_vocabulary_wants_it() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "great": 1, "Ġbad": 2, "Ġ": 3, "b": 4, "a": 5, "d": 6, "terr": 7, "ible": 8}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    assert label_word_ids(fast, ["great"]) == (1,)
    assert label_word_ids(fast, ["bad"]) == (2,)  # only " bad" is one token
    with pytest.raises(UsageError, match="not one token"):
        label_word_ids(fast, ["terrible"])
    with pytest.raises(UsageError, match="same token"):
        label_word_ids(fast, ["great", "great"])


@needs_text
def test_an_adapted_model_keeps_its_names_and_gives_label_word_logits() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_embd=8, n_layer=1, n_head=2, n_positions=8)).eval()
    names = [n for n, _ in model.named_parameters()]
    ids = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    expected = torch.stack([model(input_ids=ids[:1, :3]).logits[0, -1, [11, 12]],
                            model(input_ids=ids[1:]).logits[0, -1, [11, 12]]])
    adapted = as_text_classifier(model, KEYS, "causal-lm", (11, 12))
    again = as_text_classifier(adapted, KEYS, "causal-lm", (11, 12))  # adapting twice changes nothing
    assert again is model and [n for n, _ in again.named_parameters()] == names
    packed, _ = pack({"input_ids": ids, "attention_mask": mask})
    assert torch.allclose(again(packed), expected, atol=1e-6)
