"""Building timm models from checkpoint weights."""

from __future__ import annotations

import pytest
import timm
import torch

from entk_probe.models import ModelBuildError, build_model, input_size


def test_weights_are_loaded_exactly_and_the_model_is_in_eval_mode() -> None:
    source = timm.create_model("test_resnet", pretrained=False, num_classes=4)
    model = build_model("test_resnet", source.state_dict(), num_classes=4)
    assert not model.training
    for (name, a), b in zip(source.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    assert input_size(model) == (3, 160, 160)


def test_unknown_architecture_and_wrong_weights_are_clear_errors() -> None:
    with pytest.raises(ModelBuildError, match="unknown architecture 'resnet_nope'"):
        build_model("resnet_nope", {})
    with pytest.raises(ModelBuildError, match="do not fit .test_resnet.: size mismatch for fc.weight"):
        build_model("test_resnet", {"fc.weight": torch.zeros(4, 2)}, num_classes=4)
