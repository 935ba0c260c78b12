"""Probe specs: the text that names a probe set, its grammar and its options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

SPEC_GRAMMAR = (
    "NAME[:N][,key=value...] with NAME one of cifar10, cifar100, mnist, fashion-mnist, synthetic or a "
    "registered probe (keys: split=test|train, seed=INT, layout=python|binary for CIFAR); "
    "imagefolder:PATH[:N][,seed=INT] (or the folder's path alone); file:PATH.safetensors; run:validation[:N] or "
    "run:train[:N] (the run's own data, from its args.yaml). Text, for language models: sst2[:N] or "
    "glue:TASK[:N] (keys: split=validation|train|test, seed=INT); textfile:PATH.tsv|.csv|.jsonl[:N] (keys: "
    "text=COL, text_b=COL, label=COL, seed=INT). Every dataset also takes balance=yes|no (yes, the default: a "
    "class-balanced selection; no: any class, every record of the split without N). Examples: cifar10:500, cifar10:500,split=train,seed=1, "
    "imagefolder:data/pets:200, file:probe.safetensors, sst2:500, glue:RTE:200,split=train, textfile:reviews.jsonl:100"
)
DEFAULT_N = {"synthetic": 64}
DEFAULT_DATASET_N = 500
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_TASK = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # a GLUE task folder's name: SST-2, RTE, QNLI...
PATH_PROBES = ("imagefolder", "file", "textfile")


@dataclass(frozen=True)
class ProbeSpec:
    """A parsed probe spec."""

    text: str
    name: str
    n: int | None
    path: Path | None  # imagefolder, file and textfile
    options: dict[str, str]
    task: str | None = None  # glue: the task folder's name as written (glue:RTE -> "RTE")


def _looks_like_a_path(head: str) -> bool:
    head = head.strip()
    return head.startswith(("/", "./", "../", "~")) or ("/" in head.partition(":")[0])


def parse_spec(text: str) -> ProbeSpec:
    """Parse ``text``; a malformed spec is a usage error that shows the grammar."""
    def bad(why: str) -> UsageError:
        return UsageError(f"cannot read probe spec {text!r}: {why}. The grammar: {SPEC_GRAMMAR}")

    head, *opts = text.strip().split(",")
    options: dict[str, str] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise bad(f"option {opt!r} is not key=value")
        options[key.strip()] = value.strip()
    name, _, rest = head.partition(":")
    name = name.strip().lower()
    if _looks_like_a_path(head):  # a bare folder: an image-folder probe
        return parse_spec(f"imagefolder:{text.strip()}")
    if not _NAME.match(name):
        raise bad("it does not start with a probe name")
    path: Path | None = None
    task: str | None = None
    count = rest
    if name == "glue":
        task, _, count = rest.partition(":")
        if not _TASK.fullmatch(task.strip()):
            raise bad("glue needs a task folder's name, as in glue:RTE or glue:SST-2:200")
        task = task.strip()
    if name in PATH_PROBES:
        path_text, sep, count = rest.rpartition(":") if re.search(r":[0-9]+$", rest) else (rest, "", "")
        if not path_text:
            raise bad(f"{name} needs a path, as in {name}:PATH")
        try:
            path = Path(path_text).expanduser()
        except RuntimeError:  # ~user of an unknown user
            raise bad(f"cannot expand {path_text!r}: no such user's home folder") from None
        if name == "file" and count:
            raise bad("a probe file holds its own N; write file:PATH")
    if count and (not re.fullmatch(r"[0-9]+", count) or int(count) < 1):  # str.isdigit also accepts ² and ٣
        raise bad(f"N must be a positive integer, not {count!r}")
    return ProbeSpec(text.strip(), name, int(count) if count else None, path, options, task)


def int_option(spec: ProbeSpec, key: str, default: int) -> int:
    value = spec.options.get(key)
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", value):
        raise UsageError(f"probe option {key}={value!r} must be an integer")
    return int(value)


def check_options(spec: ProbeSpec, allowed: set[str]) -> None:
    unknown = sorted(set(spec.options) - allowed)
    if unknown:
        raise UsageError(
            f"probe option(s) {', '.join(unknown)} unknown for {spec.name}; allowed: {', '.join(sorted(allowed)) or 'none'}. "
            f"The grammar: {SPEC_GRAMMAR}"
        )
