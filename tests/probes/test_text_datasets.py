"""Text dataset readers: real SST-2, generated GLUE task folders, .tsv/.csv/.jsonl text files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from entk_probe.errors import DatasetNotFound, ProbeError, UsageError
from entk_probe.probes.text_datasets import labels_and_classes, read_glue, read_sst2, read_text_file

from ..data import SHARED
from ..textdata import SST2, needs_sst2


def write_tsv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(str(v) for v in row) for row in [header, *rows]) + "\n", encoding="utf-8")
    return path


@needs_sst2
@pytest.mark.parametrize("split, count, negative", [("validation", 872, 428), ("test", 1821, 912),
                                                    ("train", 67349, 29780)])
def test_real_sst2_splits_hold_glues_counts(split: str, count: int, negative: int) -> None:
    data = read_sst2(split, [SHARED])
    assert len(data.labels) == len(data.texts) == count and data.texts_b is None
    assert np.bincount(data.labels).tolist() == [negative, count - negative]
    assert data.classes == ("negative", "positive") and data.dataset == "sst2" and data.split == split
    file = {"validation": "dev.tsv", "test": "test_labeled.tsv", "train": "train.tsv"}[split]
    with open(SST2 / file, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    assert data.texts[0] == rows[0][0] and data.texts[-1] == rows[-1][0] and int(rows[-1][1]) == data.labels[-1]
    assert str(SST2 / file) in data.source


@needs_sst2
def test_sst2_is_found_in_either_folder_layout_and_glue_reads_it_too() -> None:
    direct = read_sst2("validation", [SHARED / "sst2"])  # <root>/SST-2
    assert len(direct.labels) == 872
    glue = read_glue("sst-2", "validation", [SHARED])  # <root>/sst2/SST-2, the name in any case
    assert glue.dataset == "glue/sst-2" and glue.classes == ("negative", "positive")
    assert np.array_equal(glue.labels, direct.labels)


def test_glue_pair_tasks_with_string_and_integer_labels(tmp_path: Path) -> None:
    write_tsv(tmp_path / "glue" / "RTE" / "dev.tsv", ["index", "sentence1", "sentence2", "label"],
              [[0, "a cat sat", "a cat is sitting", "entailment"], [1, "rain", "it is dry", "not_entailment"],
               [2, "he ran \"fast\"", "he moved", "entailment"]])
    rte = read_glue("rte", "validation", [tmp_path])
    assert rte.dataset == "glue/rte" and rte.classes == ("entailment", "not_entailment")
    assert rte.labels.tolist() == [0, 1, 0] and rte.texts[2] == 'he ran "fast"' and rte.texts_b[1] == "it is dry"
    write_tsv(tmp_path / "QNLI" / "train.tsv", ["index", "question", "sentence", "label"],
              [[0, "who?", "him.", "entailment"], [1, "where?", "then.", "not_entailment"]])
    qnli = read_glue("QNLI", "train", [tmp_path])  # question/sentence wins over sentence alone
    assert qnli.texts == ("who?", "where?") and qnli.texts_b == ("him.", "then.")
    write_tsv(tmp_path / "MRPC" / "dev.tsv", ["sentence1", "sentence2", "label"], [["a", "b", 1], ["c", "d", 0]])
    mrpc = read_glue("MRPC", "validation", [tmp_path])
    assert mrpc.classes == ("not_equivalent", "equivalent") and mrpc.labels.tolist() == [1, 0]


def test_glue_errors_say_what_is_missing(tmp_path: Path) -> None:
    write_tsv(tmp_path / "SST-2" / "test.tsv", ["index", "sentence"], [[0, "fine"]])
    with pytest.raises(ProbeError, match=r"test\.tsv has no labels \(GLUE withholds them\): use split=validation"):
        read_sst2("test", [tmp_path])
    with pytest.raises(ProbeError, match=r"SST-2 has no dev\.tsv for split=validation \(it holds test\.tsv\)"):
        read_sst2("validation", [tmp_path])
    (tmp_path / "CoLA").mkdir()
    (tmp_path / "CoLA" / "dev.tsv").write_text("gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n")
    with pytest.raises(ProbeError, match=r"CoLA/dev\.tsv: no header row naming the text .* use textfile:PATH"):
        read_glue("cola", "validation", [tmp_path])
    with pytest.raises(DatasetNotFound, match=r"glue:WNLI not found; looked in .*glue/WNLI.*--data-root"):
        read_glue("WNLI", "validation", [tmp_path])
    with pytest.raises(UsageError, match="split must be validation, train, test for a text probe, not 'dev'"):
        read_sst2("dev", [tmp_path / "nowhere"])  # the split is checked before any folder is looked for
    write_tsv(tmp_path / "STS-B" / "dev.tsv", ["sentence1", "sentence2", "label"], [["a", "b", 3.8], ["c", "d", 1]])
    with pytest.raises(ProbeError, match="not all integers .*class labels"):
        read_glue("sts-b", "validation", [tmp_path])
    write_tsv(tmp_path / "Bad" / "dev.tsv", ["sentence", "label"], [["a", 0], ["b\tc", 1]])
    with pytest.raises(ProbeError, match=r"line 3 has 3 fields but the header 2"):
        read_glue("Bad", "validation", [tmp_path])


def test_text_files_in_three_formats_read_alike(tmp_path: Path) -> None:
    rows = [("a \"quoted\" word", "x", "pos"), ("plain, with comma", "y", "neg"), ("third", "z", "pos")]
    write_tsv(tmp_path / "t.tsv", ["text", "other", "label"], [list(r) for r in rows])
    with open(tmp_path / "t.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("text", "other", "label"), *rows])
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(dict(zip(("text", "other", "label"), r))) for r in rows)
                                      + "\n\n", encoding="utf-8")
    for suffix in ("tsv", "csv", "jsonl"):
        data = read_text_file(tmp_path / f"t.{suffix}", text_b="other")
        assert data.texts == tuple(r[0] for r in rows) and data.texts_b == ("x", "y", "z"), suffix
        assert data.classes == ("neg", "pos") and data.labels.tolist() == [1, 0, 1]
        assert data.dataset == f"t.{suffix}" and data.split == "all"
    write_tsv(tmp_path / "s.tsv", ["sentence", "stars"], [["good", 5], ["bad", 1]])
    stars = read_text_file(tmp_path / "s.tsv", label="stars")  # text defaults to sentence when no text column
    assert stars.texts == ("good", "bad") and stars.labels.tolist() == [5, 1] and len(stars.classes) == 6


def test_text_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"textfile .*missing\.tsv does not exist"):
        read_text_file(tmp_path / "missing.tsv")
    (tmp_path / "x.txt").write_text("hello\n")
    with pytest.raises(UsageError, match=r"give a \.tsv, \.csv or \.jsonl file, not \.txt"):
        read_text_file(tmp_path / "x.txt")
    write_tsv(tmp_path / "nolabel.tsv", ["text", "y"], [["a", 1]])
    with pytest.raises(ProbeError, match=r"has no column 'label' \(its columns: text, y\): name one with label=COL"):
        read_text_file(tmp_path / "nolabel.tsv")
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 0}\n{"text": ["a"], "label": 1}\n')
    with pytest.raises(ProbeError, match=r"record 1 has no text or number in column 'text'"):
        read_text_file(tmp_path / "bad.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"text": "a", "label": 0}\n{"text": \n')
    with pytest.raises(ProbeError, match="not a readable JSON-lines file"):
        read_text_file(tmp_path / "broken.jsonl")


def test_labels_and_classes() -> None:
    labels, classes = labels_and_classes(["2", "0", "1.0"], "f")
    assert labels.tolist() == [2, 0, 1] and classes == ("0", "1", "2")
    labels, classes = labels_and_classes(["positive", "negative"], "f", ("negative", "positive"))
    assert labels.tolist() == [1, 0] and classes == ("negative", "positive")
    with pytest.raises(ProbeError, match="range over -1..0, class indices must be 0 or more"):
        labels_and_classes(["-1", "0"], "f")
    with pytest.raises(ProbeError, match=r"class indices must be 0\.\.1"):
        labels_and_classes(["2", "0"], "f", ("negative", "positive"))
    with pytest.raises(ProbeError, match="record 1 has an empty label"):
        labels_and_classes(["a", " "], "f")
