"""Tokenising text probes: the tokenizer's identity, loading it, prompts, padding and truncation."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from entk_probe.errors import EntkProbeWarning, ProbeError, UsageError
from entk_probe.probes.probe import TextTarget
from entk_probe.probes.tokenization import apply_prompt, choose_length, encode, load_tokenizer, tokenizer_sha256

from ..textdata import needs_text

SENTENCES = ["a gorgeous , witty , seductive movie .", "bad", "the story is too simple , the acting is flat and the "
             "whole thing feels like a rough draft of a much better film ."]


@pytest.fixture
def tokenizer(sst2_tokenizer: Path):  # type: ignore[no-untyped-def]
    return load_tokenizer(TextTarget(sst2_tokenizer))[0]


def test_the_tokenizer_hash_is_over_its_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_bytes(b"[PAD]\n[UNK]\n")
    (tmp_path / "tokenizer_config.json").write_bytes(b"{}")
    (tmp_path / "config.json").write_bytes(b"not a tokenizer file")
    expected = hashlib.sha256(b"tokenizer_config.json\x002\x00{}" + b"vocab.txt\x0012\x00[PAD]\n[UNK]\n").hexdigest()
    assert tokenizer_sha256(tmp_path) == expected
    (tmp_path / "config.json").write_bytes(b"changed")  # not a tokenizer file: the hash stays
    assert tokenizer_sha256(tmp_path) == expected
    (tmp_path / "vocab.txt").write_bytes(b"[PAD]\n[UNK]\nx\n")
    assert tokenizer_sha256(tmp_path) != expected
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProbeError, match=r"holds none of tokenizer\.json, .*pass --tokenizer DIR"):
        tokenizer_sha256(tmp_path / "empty")


def test_loading_errors_say_what_to_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="the run has none saved: pass --tokenizer DIR"):
        load_tokenizer(TextTarget(None))
    with pytest.raises(UsageError, match=r"tokenizer folder .*nowhere does not exist \(--tokenizer\)"):
        load_tokenizer(TextTarget(tmp_path / "nowhere", source="--tokenizer"))
    (tmp_path / "tokenizer.json").write_text("{not json")
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if the text extra were not installed
    with pytest.raises(UsageError, match=r"text probes need the text extra: pip install 'entk-probe\[text\]'"):
        load_tokenizer(TextTarget(tmp_path))


@needs_text
def test_an_unreadable_tokenizer_is_a_probe_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ProbeError, match="transformers cannot read a tokenizer there"):
        load_tokenizer(TextTarget(tmp_path))


def test_prompts_place_each_example_once() -> None:
    assert apply_prompt("Review: {text} It was {mask}.", ["fine {mask} {text}"], None, "[MASK]") == [
        "Review: fine {mask} {text} It was [MASK]."]  # braces in the example are left alone
    assert apply_prompt("{text} ? {mask} , {text_b}", ["a", "b"], ["c", "d"], "<mask>") == ["a ? <mask> , c",
                                                                                         "b ? <mask> , d"]
    for template, texts_b, mask, match in [
        ("It was {mask}.", None, "[MASK]", "has no {text}"),
        ("{text} {mask}", None, None, "has {mask} but the tokenizer has no mask token"),
        ("{text} {label}", None, None, "unknown placeholder {label}"),
        ("{text}", ["b"], None, "the examples are pairs: place {text_b} too"),
        ("{text} {text_b}", None, None, "the examples are single texts"),
    ]:
        with pytest.raises(UsageError, match=match.replace("{", r"\{").replace("}", r"\}")):
            apply_prompt(template, ["a"], texts_b, mask)


@needs_text
def test_encoding_pads_right_with_the_mask_and_keeps_token_types(tokenizer) -> None:  # type: ignore[no-untyped-def]
    encoded = encode(tokenizer, SENTENCES, None)
    reference = [tokenizer(s)["input_ids"] for s in SENTENCES]
    length = max(len(r) for r in reference)
    assert encoded.keys == ("input_ids", "attention_mask", "token_type_ids") and encoded.max_length == length
    assert encoded.inputs.shape == (3, 3, length) and encoded.inputs.dtype == torch.int64
    for i, ids in enumerate(reference):
        row = encoded.inputs[i]
        assert row[0, : len(ids)].tolist() == ids and set(row[0, len(ids):].tolist()) <= {tokenizer.pad_token_id}
        assert row[1].tolist() == [1] * len(ids) + [0] * (length - len(ids))
    pairs = encode(tokenizer, ["a cat", "a dog"], ["it sat", "it ran far"])
    assert pairs.inputs[1, 2].tolist() == tokenizer("a dog", "it ran far")["token_type_ids"]


@needs_text
def test_truncation_warns_once_with_the_count_and_length(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.warns(EntkProbeWarning, match=r"2 of 3 examples truncated to 6 tokens \(their end cut; the longest has \d+\)") as caught:
        encoded = encode(tokenizer, SENTENCES, None, max_length=6)
    assert len([w for w in caught if getattr(w.message, "code", "") == "probe-truncated"]) == 1
    assert encoded.inputs.shape[-1] == 6
    for i, sentence in enumerate(SENTENCES):  # cut on the right, the closing special token kept
        assert encoded.inputs[i, 0].tolist() == tokenizer(sentence, truncation=True, max_length=6, padding="max_length")["input_ids"]
    longest = max(len(tokenizer(s)["input_ids"]) for s in SENTENCES)
    assert encoded.notes == (f"2 of 3 examples truncated to 6 tokens (their end cut; the longest has {longest})",)
    with pytest.warns(EntkProbeWarning, match="truncated to 8 tokens"):  # the model's positions cap the longest
        assert encode(tokenizer, SENTENCES, None, model_max_length=8).max_length == 8
    with pytest.raises(UsageError, match="--max-length 200 is more than the model's 128 positions"):
        encode(tokenizer, SENTENCES, None, max_length=200, model_max_length=128)


@needs_text
def test_a_prompted_example_is_cut_at_its_start_so_that_the_prompts_end_survives(tokenizer) -> None:  # type: ignore[no-untyped-def]
    prompted = [f"{s} it was {tokenizer.mask_token} ." for s in SENTENCES]
    with pytest.warns(EntkProbeWarning, match="their start cut, keeping the prompt's end"):
        encoded = encode(tokenizer, prompted, None, max_length=8, prompted=True)
    for i, text in enumerate(prompted):
        full = tokenizer(text)["input_ids"]  # [CLS] ... [SEP]
        kept = [t for t, m in zip(encoded.inputs[i, 0].tolist(), encoded.inputs[i, 1].tolist()) if m]
        assert kept[0] == full[0] and kept[1:] == full[len(full) - len(kept) + 1 :]  # [CLS] + the last tokens
        assert kept.count(tokenizer.mask_token_id) == 1


@needs_text
def test_choose_length_caps_at_the_tokenizers_own_maximum(tokenizer) -> None:  # type: ignore[no-untyped-def]
    assert tokenizer.model_max_length == 128
    assert choose_length([5, 300], tokenizer, None, None) == 128
    assert choose_length([5, 300], tokenizer, None, 512) == 300
    assert choose_length([5, 9], tokenizer, 40, None) == 40
    tokenizer.model_max_length = int(1e30)  # transformers' "no maximum"
    assert choose_length([5, 300], tokenizer, None, None) == 300


@needs_text
def test_without_a_pad_token_the_eos_token_pads_with_a_warning(sst2_tokenizer: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(sst2_tokenizer, tmp_path / "tok"))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("pad_token")
    config["eos_token"] = "[SEP]"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = load_tokenizer(TextTarget(folder))[0]
    with pytest.warns(EntkProbeWarning, match=r"padded with the eos token '\[SEP\]'"):
        encoded = encode(tokenizer, SENTENCES[:2], None)
    sep = tokenizer.convert_tokens_to_ids("[SEP]")
    assert encoded.inputs[1, 0, -1] == sep and encoded.inputs[1, 1, -1] == 0
    config.pop("eos_token")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ProbeError, match="neither a pad token nor an eos token"):
        encode(load_tokenizer(TextTarget(folder))[0], SENTENCES[:2], None)
