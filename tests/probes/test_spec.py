"""Probe specs: the grammar and the errors that show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from entk_probe.errors import UsageError
from entk_probe.probes import SPEC_GRAMMAR, make_probe, parse_spec

from ..data import CIFAR_TARGET


def test_spec_grammar() -> None:
    spec = parse_spec("cifar10:500,split=train,seed=1")
    assert (spec.name, spec.n, spec.options) == ("cifar10", 500, {"split": "train", "seed": "1"})
    assert parse_spec("imagefolder:data/pets:200").path == Path("data/pets")
    assert parse_spec("imagefolder:data/pets:200").n == 200
    assert parse_spec("imagefolder:/x/y").n is None
    assert parse_spec("file:probe.safetensors").path == Path("probe.safetensors")
    assert parse_spec("synthetic").n is None


def test_text_spec_grammar() -> None:
    spec = parse_spec("glue:RTE:200,split=train,seed=2")
    assert (spec.name, spec.task, spec.n, spec.options, spec.path) == ("glue", "RTE", 200, {"split": "train", "seed": "2"}, None)
    assert (parse_spec("glue:SST-2").task, parse_spec("glue:SST-2").n) == ("SST-2", None)
    spec = parse_spec("textfile:data/reviews.jsonl:100,text=review,label=y")
    assert (spec.name, spec.path, spec.n, spec.task) == ("textfile", Path("data/reviews.jsonl"), 100, None)
    assert spec.options == {"text": "review", "label": "y"}
    assert (parse_spec("sst2:300,split=validation").n, parse_spec("sst2").n) == (300, None)
    assert "sst2[:N]" in SPEC_GRAMMAR and "glue:TASK[:N]" in SPEC_GRAMMAR and "textfile:PATH" in SPEC_GRAMMAR


@pytest.mark.parametrize("text, why", [("glue", "glue needs a task"), ("glue:200", "glue needs a task"),
                                       ("glue:RTE:x", "N must be a positive integer"), ("textfile:", "textfile needs a path"),
                                       ("glue:a/b", "glue needs a task"), ("sst2:0", "N must be a positive integer")])
def test_malformed_text_specs_say_why(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as info:
        parse_spec(text)
    assert SPEC_GRAMMAR in str(info.value)


@pytest.mark.parametrize("text", ["", ":500", "cifar10:5x", "cifar10:500,split", "file:", "file:p.safetensors:3", "10:cifar",
                                  "cifar10:0", "imagefolder:pets:0"])
def test_malformed_specs_are_usage_errors_showing_the_grammar(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_spec(text)
    assert SPEC_GRAMMAR in str(info.value) and info.value.exit_code == 2


def test_spec_option_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="colour"):
        make_probe("cifar10:20,colour=red", CIFAR_TARGET, data_root=tmp_path)
    with pytest.raises(UsageError, match="split must be train or test"):
        make_probe("cifar10:20,split=val", CIFAR_TARGET, data_root=tmp_path)
    with pytest.raises(UsageError, match="unknown probe 'imagenet'"):
        make_probe("imagenet:20", CIFAR_TARGET)
    with pytest.raises(UsageError, match="--download fetches CIFAR"):
        make_probe("mnist:20", CIFAR_TARGET, download=True, data_root=tmp_path)


# ------------------------------------------------------------------ properties (hypothesis)

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Texts built from the grammar's own pieces (and non-ASCII digits such as ² and ٣, which Python's
# str.isdigit accepts and int() does not), mixed with arbitrary text.
NAMES = st.sampled_from(["cifar10", "synthetic", "imagefolder", "file", "imagefolder:/tmp/x", "file:p.safetensors",
                         " MNIST", "", "9lives"]) | st.text(max_size=6)
COUNTS = st.none() | st.text(st.sampled_from(list("0123456789²٣-+ .xe")), max_size=5)
OPTIONS = st.lists(st.tuples(st.sampled_from(["split", "seed", "", " "]) | st.text(max_size=3),
                             st.sampled_from(["=", "", "=="]), st.text(max_size=4)), max_size=3)
SPECS = st.builds(lambda name, count, options: name + ("" if count is None else f":{count}")
                  + "".join(f",{k}{eq}{v}" for k, eq, v in options), NAMES, COUNTS, OPTIONS) | st.text(max_size=30)


@given(SPECS)
@example("cifar10:²")  # found by this test: str.isdigit accepts it, int() did not
@example("imagefolder:/data:٣")
@example("~0")  # found by this test: expanding an unknown user's home raised RuntimeError
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_spec_or_a_one_line_usage_error(text: str) -> None:
    try:
        spec = parse_spec(text)
    except UsageError as exc:
        message = str(exc)
        assert message.startswith("cannot read probe spec ") and "\n" not in message.replace(repr(text), "")
    else:
        assert spec.name and spec.name == spec.name.strip().lower()
        assert spec.n is None or spec.n >= 1
        assert all(k.strip() == k and k and v.strip() == v and v for k, v in spec.options.items())


@given(name=st.sampled_from(["cifar10", "cifar100", "mnist", "fashion-mnist", "synthetic"]),
       n=st.none() | st.integers(1, 10**6),
       options=st.dictionaries(st.sampled_from(["split", "seed", "layout"]),
                               st.text("abcdefghij0123456789", min_size=1, max_size=6), max_size=3))
@settings(max_examples=200, deadline=None)
def test_a_well_formed_spec_reads_back_what_was_written(name: str, n: int | None, options: dict[str, str]) -> None:
    text = name + ("" if n is None else f":{n}") + "".join(f",{k}={v}" for k, v in options.items())
    spec = parse_spec(text)
    assert (spec.name, spec.n, spec.options, spec.path) == (name, n, options, None)


@pytest.mark.parametrize("text, path, n, options", [
    ("/data/pets", "/data/pets", None, {}),
    ("./pets:200", "pets", 200, {}),
    ("runs/data/val,seed=3", "runs/data/val", None, {"seed": "3"}),
])
def test_a_bare_folder_path_is_an_image_folder_probe(text: str, path: str, n: int | None, options: dict) -> None:
    spec = parse_spec(text)
    assert (spec.name, spec.path, spec.n, spec.options) == ("imagefolder", Path(path), n, options)
    assert spec.text == f"imagefolder:{text}"
    assert parse_spec("~/pets").path == Path.home() / "pets"
