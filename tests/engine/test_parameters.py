"""Parameter selection by name."""

from __future__ import annotations

import pytest
from torch import nn

from entk_probe.errors import ModelError, UsageError
from entk_probe.engine.parameters import select_parameters


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_default_is_every_trainable_parameter_in_order() -> None:
    model = _model()
    model[0].bias.requires_grad_(False)
    assert select_parameters(model) == [("0.weight", 12), ("2.weight", 8), ("2.bias", 2)]


def test_patterns_match_frozen_parameters_too() -> None:
    model = _model()
    model[0].requires_grad_(False)
    assert select_parameters(model, "0.*") == [("0.weight", 12), ("0.bias", 4)]
    assert select_parameters(model, ["2.bias", "0.weight"]) == [("0.weight", 12), ("2.bias", 2)]
    assert select_parameters(model, lambda name: name.endswith("bias")) == [("0.bias", 4), ("2.bias", 2)]


def test_a_pattern_that_matches_nothing_names_itself_and_the_real_names() -> None:
    with pytest.raises(UsageError, match=r"'fc\.\*' match no parameter.*0\.weight"):
        select_parameters(_model(), "2.*,fc.*")


def test_empty_selections_are_errors() -> None:
    with pytest.raises(UsageError, match="empty"):
        select_parameters(_model(), " , ")
    with pytest.raises(UsageError, match="select no parameter"):
        select_parameters(_model(), lambda name: False)
    with pytest.raises(ModelError, match="no parameters"):
        select_parameters(nn.ReLU())
    frozen = _model().requires_grad_(False)
    with pytest.raises(ModelError, match="requires grad"):
        select_parameters(frozen)
