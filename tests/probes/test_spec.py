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
