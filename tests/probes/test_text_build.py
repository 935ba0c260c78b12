"""Text probes end to end: real SST-2 through make_probe, generated GLUE folders and text files."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from entk_probe.errors import EntkProbeWarning, UsageError
from entk_probe.probes import Target, make_probe
from entk_probe.probes.probe import TextTarget
from entk_probe.probes.tokenization import load_tokenizer, tokenizer_sha256

from ..data import CIFAR_TARGET, SHARED
from ..textdata import SST2, needs_sst2, needs_text

pytestmark = [needs_sst2, needs_text]


def text_target(folder: Path, **kwargs: object) -> Target:
    return Target(None, text=TextTarget(folder, **kwargs))  # type: ignore[arg-type]


def dev_rows() -> list[tuple[str, int]]:
    """SST-2's dev.tsv read independently of entk-probe: (sentence, label) in file order."""
    with open(SST2 / "dev.tsv", encoding="utf-8", newline="") as fh:
        return [(row[0], int(row[1])) for row in list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]]


def test_sst2_probe_is_balanced_reproducible_and_what_the_tokenizer_gives(sst2_tokenizer: Path) -> None:
    target = text_target(sst2_tokenizer)
    probe = make_probe("sst2:60", target, data_root=SHARED)
    assert (probe.dataset, probe.split, probe.seed, probe.classes) == ("sst2", "validation", 0, ("negative", "positive"))
    assert probe.is_text and probe.input_keys == ("input_ids", "attention_mask", "token_type_ids")
    assert probe.inputs.dtype == torch.int64 and probe.inputs.shape[:2] == (60, 3)
    assert np.bincount(probe.labels.numpy()).tolist() == [30, 30]
    assert probe.sha256 == hashlib.sha256(probe.inputs.numpy().tobytes()).hexdigest()
    assert probe.normalization.mean is None and probe.normalization.source == "text: tokenised, not normalised"
    assert probe.tokenizer == tokenizer_sha256(sst2_tokenizer) and f"sha256 {probe.tokenizer[:12]}" in probe.source
    tokenizer = load_tokenizer(TextTarget(sst2_tokenizer))[0]
    rows = dev_rows()
    reference = [tokenizer(rows[i][0])["input_ids"] for i in probe.indices.tolist()]
    assert probe.max_length == probe.inputs.shape[2] == max(len(r) for r in reference)
    for i, (ids, position) in enumerate(zip(reference, probe.indices.tolist())):
        assert rows[position][1] == int(probe.labels[i])
        assert probe.inputs[i, 0, : len(ids)].tolist() == ids
        assert probe.inputs[i, 1].tolist() == [1] * len(ids) + [0] * (probe.max_length - len(ids))  # padding: mask 0
        assert (probe.inputs[i, 0, len(ids):] == tokenizer.pad_token_id).all()
    again = make_probe("sst2:60", target, data_root=SHARED)
    assert again.sha256 == probe.sha256 and torch.equal(again.indices, probe.indices)
    other = make_probe("sst2:60,seed=1", target, data_root=SHARED)
    assert other.sha256 != probe.sha256 and other.seed == 1


def test_splits_default_count_and_fixed_length(sst2_tokenizer: Path) -> None:
    probe = make_probe("sst2", text_target(sst2_tokenizer, max_length=120), data_root=SHARED)
    assert probe.n == 500 and probe.inputs.shape[2] == probe.max_length == 120  # the default N; 500 < 2 x 428
    assert probe.inputs[:, 1, -1].sum() == 0  # no example is that long: padding only
    train = make_probe("sst2:20,split=train", text_target(sst2_tokenizer), data_root=SHARED)
    assert train.split == "train" and int(train.indices.max()) > 872  # positions in train.tsv's 67,349
    test = make_probe("sst2:20,split=test", text_target(sst2_tokenizer), data_root=SHARED)
    assert test.split == "test" and "test_labeled.tsv" in test.source


def test_prompt_placement_and_mask_token(sst2_tokenizer: Path) -> None:
    template = "review : {text} it was {mask} ."
    probe = make_probe("sst2:10", text_target(sst2_tokenizer, prompt=template), data_root=SHARED)
    assert probe.transforms == (f"prompt {template!r}",)
    tokenizer = load_tokenizer(TextTarget(sst2_tokenizer))[0]
    rows = dev_rows()
    for i, position in enumerate(probe.indices.tolist()):
        ids = tokenizer(f"review : {rows[position][0]} it was [MASK] .")["input_ids"]
        assert probe.inputs[i, 0, : len(ids)].tolist() == ids
        assert tokenizer.mask_token_id in ids
    plain = make_probe("sst2:10", text_target(sst2_tokenizer), data_root=SHARED)
    assert torch.equal(plain.indices, probe.indices) and plain.sha256 != probe.sha256


def test_truncation_is_warned_and_recorded(sst2_tokenizer: Path) -> None:
    with pytest.warns(EntkProbeWarning, match=r"examples truncated to 12 tokens") as caught:
        probe = make_probe("sst2:20", text_target(sst2_tokenizer, max_length=12), data_root=SHARED)
    assert [w.message.code for w in caught if "truncated" in str(w.message)] == ["probe-truncated"]
    assert probe.inputs.shape == (20, 3, 12) and any("truncated to 12" in t for t in probe.transforms)
    assert (probe.inputs[:, 1].sum(1) <= 12).all() and probe.inputs[:, 1, -1].sum() > 0  # long ones fill L


def test_glue_pair_task_from_a_generated_folder(sst2_tokenizer: Path, tmp_path: Path) -> None:
    rows = [(f"premise number {i} is long", f"hypothesis {i}", ("entailment", "not_entailment")[i % 2]) for i in range(12)]
    folder = tmp_path / "glue" / "RTE"
    folder.mkdir(parents=True)
    with open(folder / "train.tsv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter="\t").writerows([("index", "sentence1", "sentence2", "label"),
                                                  *[(i, *r) for i, r in enumerate(rows)]])
    probe = make_probe("glue:rte:6,split=train", text_target(sst2_tokenizer), data_root=tmp_path)
    assert probe.dataset == "glue/rte" and probe.classes == ("entailment", "not_entailment")
    assert np.bincount(probe.labels.numpy()).tolist() == [3, 3]
    tokenizer = load_tokenizer(TextTarget(sst2_tokenizer))[0]
    i, position = 4, int(probe.indices[4])
    pair = tokenizer(rows[position][0], rows[position][1])
    assert probe.inputs[i, 0, : len(pair["input_ids"])].tolist() == pair["input_ids"]
    assert probe.inputs[i, 2, : len(pair["input_ids"])].tolist() == pair["token_type_ids"] and 1 in pair["token_type_ids"]
    prompted = make_probe("glue:RTE:6,split=train", text_target(sst2_tokenizer, prompt="{text} ? {mask} , {text_b}"),
                          data_root=tmp_path)
    single = tokenizer(f"{rows[position][0]} ? [MASK] , {rows[position][1]}")
    assert prompted.inputs[i, 0, : len(single["input_ids"])].tolist() == single["input_ids"]


@pytest.mark.parametrize("suffix", ["tsv", "csv", "jsonl"])
def test_text_files(sst2_tokenizer: Path, tmp_path: Path, suffix: str) -> None:
    rows = [(sentence, ("neg", "pos")[label]) for sentence, label in dev_rows()[:40]]
    path = tmp_path / f"reviews.{suffix}"
    if suffix == "jsonl":
        path.write_text("".join(json.dumps({"review": s, "y": y}) + "\n" for s, y in rows), encoding="utf-8")
    else:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None) if suffix == "tsv" \
                else csv.writer(fh)
            writer.writerows([("review", "y"), *rows])
    probe = make_probe(f"textfile:{path}:10,text=review,label=y,seed=4", text_target(sst2_tokenizer), data_root=tmp_path)
    assert probe.dataset == f"reviews.{suffix}" and probe.split == "all" and probe.classes == ("neg", "pos")
    tokenizer = load_tokenizer(TextTarget(sst2_tokenizer))[0]
    for i, position in enumerate(probe.indices.tolist()):
        ids = tokenizer(rows[position][0])["input_ids"]
        assert probe.inputs[i, 0, : len(ids)].tolist() == ids and probe.classes[int(probe.labels[i])] == rows[position][1]


def test_the_probe_kind_must_match_the_model(sst2_tokenizer: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"probe sst2:10 is text but the model takes images: use an image probe"):
        make_probe("sst2:10", CIFAR_TARGET, data_root=SHARED)
    with pytest.raises(UsageError, match=r"probe sst2:10 is text: it needs the language model's tokenizer; pass --tokenizer"):
        make_probe("sst2:10", None, data_root=SHARED)
    for spec in ("cifar10:10", "synthetic:4", "mnist:10"):
        with pytest.raises(UsageError, match=rf"probe {spec} is an image probe but the model is a language model: .*sst2"):
            make_probe(spec, text_target(sst2_tokenizer), data_root=tmp_path)
    with pytest.raises(UsageError, match="--tokenizer DIR"):
        make_probe("sst2:10", Target(None, text=TextTarget(None)), data_root=SHARED)


def test_text_spec_option_errors(sst2_tokenizer: Path, tmp_path: Path) -> None:
    target = text_target(sst2_tokenizer)
    cases = [("sst2:10,layout=python", "probe option.s. layout unknown for sst2; allowed: balance, seed, split"),
             ("textfile:x.tsv,split=train", "unknown for textfile; allowed: balance, label, seed, text, text_b"),
             ("sst2:10,split=dev", "split must be validation, train, test for a text probe, not 'dev'"),
             ("sst2:10,seed=x", "seed='x' must be an integer")]
    for spec, match in cases:
        with pytest.raises(UsageError, match=match):
            make_probe(spec, target, data_root=SHARED)
    with pytest.raises(UsageError, match="--normalize applies to image probes"):
        make_probe("sst2:10", target, data_root=SHARED, normalize_override="cifar")
    with pytest.raises(UsageError, match="--download fetches CIFAR-10 and CIFAR-100 only, not sst2"):
        make_probe("sst2:10", target, data_root=SHARED, download=True)
    with pytest.raises(UsageError, match=r"--max-length 300 is more than the model's 128 positions"):
        make_probe("sst2:10", text_target(sst2_tokenizer, max_length=300, model_max_length=128), data_root=SHARED)


def test_the_default_count_is_capped_at_what_a_text_file_holds(sst2_tokenizer: Path, tmp_path: Path) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps({"text": f"line {i}", "label": int(i < 3)}) + "\n" for i in range(10)))
    with pytest.warns(EntkProbeWarning, match=r"holds 10 texts, room for a class-balanced probe of 6, fewer than the default"):
        probe = make_probe(f"textfile:{path}", text_target(sst2_tokenizer))
    assert probe.n == 6 and np.bincount(probe.labels.numpy()).tolist() == [3, 3]
