"""Text dataset readers for text probes: GLUE's task folders (SST-2 among them) and text files.

- GLUE's layout: a task folder (``SST-2``, ``RTE``, ``QNLI``, ``MRPC``...) under a data root, as
  ``<root>/glue/<TASK>/``, ``<root>/<TASK>/`` or ``<root>/<task>/<TASK>/`` (``<task>``: lower case
  without ``-``, as in ``<root>/sst2/SST-2/``), folder names matched without regard to case. Splits: ``validation`` = ``dev.tsv``, ``train`` =
  ``train.tsv``, ``test`` = ``test_labeled.tsv`` (GLUE's own ``test.tsv`` carries no labels). Each
  file is tab-separated with a header row and no quoting (csv.QUOTE_NONE, as GLUE writes them).
  The text is column ``sentence``, or a pair (``sentence1``/``sentence2``, ``question``/
  ``sentence``, ``question1``/``question2``); labels are column ``label``.
- A text file: ``.tsv`` (tab-separated, header row, no quoting), ``.csv`` (the csv module's
  dialect, quoting allowed) or ``.jsonl`` (one JSON object a line), with named columns.

Labels that are integers are the class indices (negative ones are an error); labels that are
strings become classes in sorted order. Each reader returns a ``TextSplit``: every record's
text(s) and label, in file order (positions are record numbers, header excluded).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetNotFound, ProbeError, UsageError

TEXT_SPLITS = {"validation": "dev.tsv", "train": "train.tsv", "test": "test_labeled.tsv"}
SST2_CLASSES = ("negative", "positive")
# Class names of GLUE tasks whose labels are integers (lower-case folder names).
GLUE_CLASSES = {"sst-2": SST2_CLASSES, "mrpc": ("not_equivalent", "equivalent"),
                "cola": ("unacceptable", "acceptable"), "qqp": ("not_duplicate", "duplicate")}
# Text columns of GLUE tasks, pairs first (QNLI has both ``question`` and ``sentence``).
GLUE_TEXT_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("sentence1", "sentence2"), ("question", "sentence"), ("question1", "question2"), ("sentence", None))
_INT = re.compile(r"[+-]?[0-9]+(\.0*)?")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class TextSplit:
    """One split of a labelled text dataset: M records, all in memory."""

    dataset: str
    split: str
    source: str  # what was read, for the report
    labels: np.ndarray  # (M,) int64 class indices, in file order
    classes: tuple[str, ...]
    texts: tuple[str, ...]  # (M,) the (first) text of each record
    texts_b: tuple[str, ...] | None  # (M,) the second text of sentence pairs; None for single texts


def check_text_split(split: str) -> str:
    """``split`` if it names a text split (validation, train, test), else a UsageError."""
    if split not in TEXT_SPLITS:
        raise UsageError(f"split must be {', '.join(TEXT_SPLITS)} for a text probe, not {split!r}")
    return split


def find_task_folder(name: str, task: str, roots: Sequence[Path], parents: Sequence[str]) -> Path:
    """The first folder named ``task`` (case aside) in ``<root>/<parent>`` for each root and parent
    (``""``: the root itself); DatasetNotFound listing where it looked."""
    looked = []
    for root in roots:
        for parent in parents:
            base = root / parent if parent else root
            looked.append(str(base / task))
            if not base.is_dir():
                continue
            found = sorted(p for p in base.iterdir() if p.is_dir() and p.name.lower() == task.lower())
            if found:
                return found[0]
    raise DatasetNotFound(name, looked)


def _split_file(folder: Path, split: str) -> Path:
    path = folder / TEXT_SPLITS[split]
    if path.is_file():
        return path
    if split == "test" and (folder / "test.tsv").is_file():
        raise ProbeError(f"{folder / 'test.tsv'} has no labels (GLUE withholds them): use split=validation, or "
                         f"put a labelled test set there as {TEXT_SPLITS['test']}")
    held = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file())) or "no files"
    raise ProbeError(f"{folder} has no {TEXT_SPLITS[split]} for split={split} (it holds {held})")


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the records of a .tsv (no quoting) or .csv file, each record {column: value}."""
    tsv = path.suffix.lower() == ".tsv"
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE) if tsv else csv.reader(fh)
            rows = [(reader.line_num, row) for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ProbeError(f"{path}: not a readable {'tab' if tsv else 'comma'}-separated UTF-8 file ({exc})") from None
    if not rows:
        raise ProbeError(f"{path} is empty: a text probe needs a header row and records")
    header = [name.strip() for name in rows[0][1]]
    records = []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise ProbeError(f"{path}: line {line} has {len(row)} fields but the header {len(header)}; the file is "
                             "malformed (a .tsv is read without quoting: no tab may occur inside a field)")
        records.append(dict(zip(header, row)))
    return header, records


def read_jsonl(path: Path) -> tuple[list[str], list[dict[str, object]]]:
    """The keys of the first record and every record of a .jsonl file (one JSON object a line)."""
    records: list[dict[str, object]] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ProbeError(f"{path}: line {line_no} holds a JSON {type(record).__name__}, not an object")
                records.append(record)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProbeError(f"{path}: not a readable JSON-lines file ({exc})") from None
    if not records:
        raise ProbeError(f"{path} holds no records: a text probe needs one JSON object a line")
    return list(records[0]), records


def labels_and_classes(values: Sequence[str], where: str,
                       known: tuple[str, ...] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices (M,) int64 and class names from label values: integers are indices (named by
    ``known`` where given), strings become classes in sorted order (in ``known``'s order if all in it)."""
    values = [v.strip() for v in values]
    if any(not v for v in values):
        raise ProbeError(f"{where}: record {[bool(v) for v in values].index(False)} has an empty label")
    if all(_INT.fullmatch(v) for v in values):
        labels = np.asarray([int(float(v)) for v in values], dtype=np.int64)
        if labels.min() < 0 or (known is not None and labels.max() >= len(known)):
            top = f"0..{len(known) - 1}" if known is not None else "0 or more"
            raise ProbeError(f"{where}: labels range over {labels.min()}..{labels.max()}, class indices must be {top}")
        return labels, known or tuple(str(i) for i in range(int(labels.max()) + 1))
    if all(_NUMBER.fullmatch(v) for v in values):
        raise ProbeError(f"{where}: labels are numbers that are not all integers (regression targets?); a probe "
                         "needs class labels")
    classes = known if known is not None and set(values) <= set(known) else tuple(sorted(set(values)))
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[v] for v in values], dtype=np.int64), classes


def _column(records: Sequence[dict], column: str, path: Path) -> list[str]:
    out = []
    for i, record in enumerate(records):
        value = record.get(column)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProbeError(f"{path}: record {i} has no text or number in column {column!r} (it holds {value!r})")
        out.append(str(value))
    return out


def _glue_split(folder: Path, dataset: str, split: str, known: tuple[str, ...] | None) -> TextSplit:
    path = _split_file(folder, split)
    header, records = read_table(path)
    columns = next((pair for pair in GLUE_TEXT_COLUMNS if all(c in header for c in pair if c)), None)
    if columns is None or "label" not in header:
        raise ProbeError(f"{path}: no header row naming the text ({', '.join(c for p in GLUE_TEXT_COLUMNS for c in p if c)})"
                         f" and label columns (its first row: {', '.join(header)[:120]}); use textfile:PATH with "
                         "text=COL,label=COL for another layout")
    labels, classes = labels_and_classes(_column(records, "label", path), str(path), known)
    texts_b = tuple(_column(records, columns[1], path)) if columns[1] else None
    source = f"{path} ({len(records)} records; text {' + '.join(c for c in columns if c)}, label label)"
    return TextSplit(dataset, split, source, labels, classes, tuple(_column(records, columns[0], path)), texts_b)


def read_sst2(split: str, roots: Sequence[Path]) -> TextSplit:
    """SST-2 from GLUE's ``SST-2`` folder: ``<root>/sst2/SST-2``, ``<root>/SST-2`` or ``<root>/glue/SST-2``;
    dataset ``sst2`` (a probe of its own, not the same selection as ``glue:SST-2``)."""
    split = check_text_split(split)  # a bad split is the user's to fix before any folder is looked for
    folder = find_task_folder("sst2", "SST-2", roots, ("sst2", "", "glue"))
    return _glue_split(folder, "sst2", split, SST2_CLASSES)


def read_glue(task: str, split: str, roots: Sequence[Path]) -> TextSplit:
    """A GLUE task's split from ``<root>/glue/<TASK>``, ``<root>/<TASK>`` or ``<root>/<task>/<TASK>``;
    dataset ``glue/<task>`` (the folder's name in lower case)."""
    split = check_text_split(split)
    folder = find_task_folder(f"glue:{task}", task, roots, ("glue", "", task.lower().replace("-", "")))
    key = folder.name.lower()
    return _glue_split(folder, f"glue/{key}", split, GLUE_CLASSES.get(key))


def read_text_file(path: Path, text: str | None = None, text_b: str | None = None,
                   label: str | None = None) -> TextSplit:
    """A .tsv, .csv or .jsonl file's records: text column ``text`` (default ``text``, else
    ``sentence``), optional second text ``text_b``, labels ``label`` (default ``label``)."""
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".csv", ".jsonl"):
        raise UsageError(f"textfile {path}: give a .tsv, .csv or .jsonl file, not {suffix or 'a file without suffix'}")
    if not path.is_file():
        raise UsageError(f"textfile {path} does not exist")
    header, records = read_jsonl(path) if suffix == ".jsonl" else read_table(path)
    if text is None:
        text = "sentence" if "text" not in header and "sentence" in header else "text"
    label = label or "label"
    for option, column in (("text", text), ("text_b", text_b), ("label", label)):
        if column is not None and column not in header:
            raise ProbeError(f"{path} has no column {column!r} (its columns: {', '.join(header)[:120]}): "
                             f"name one with {option}=COL")
    labels, classes = labels_and_classes(_column(records, label, path), str(path))
    texts_b = tuple(_column(records, text_b, path)) if text_b else None
    columns = " + ".join(c for c in (text, text_b) if c)
    source = f"{path} ({len(records)} records; text {columns}, label {label})"
    return TextSplit(path.name, "all", source, labels, classes, tuple(_column(records, text, path)), texts_b)
