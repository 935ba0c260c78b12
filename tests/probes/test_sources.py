"""Probe sources: plugins register them in the one registry."""

from __future__ import annotations


import numpy as np
import pytest

from entk_probe.errors import PluginError
from entk_probe.probes import Split, Target, available_probes, make_probe, register_probe
from entk_probe.probes.preprocess import Normalization


def test_plugins_register_probes() -> None:
    @register_probe("stripes_for_test")
    def stripes(split: str, options: dict) -> Split:
        width = int(options.get("width", 4))
        labels = np.arange(12) % 3
        return Split("stripes", split, "generated", labels, ("a", "b", "c"),
                     lambda idx: [np.full((width, width, 1), 20 * i, np.uint8) for i in idx])

    probe = make_probe("stripes_for_test:6,width=8", Target((1, 8, 8), Normalization((0.0,), (1.0,), "t")))
    assert probe.inputs.shape == (6, 1, 8, 8) and np.bincount(probe.labels.numpy()).tolist() == [2, 2, 2]
    assert ("stripes_for_test", f"module {__name__}") in available_probes()
    with pytest.raises(PluginError, match="'cifar10' is claimed twice: by entk-probe"):
        register_probe("cifar10")(stripes)
    with pytest.raises(PluginError, match="'sst2' is claimed twice: by entk-probe"):
        register_probe("sst2")(stripes)


def test_text_sources_are_built_in() -> None:
    names = dict(available_probes())
    assert all(names[n] == "entk-probe (built in)" for n in ("sst2", "glue", "textfile"))
