"""Which architecture a run used, the factory's arguments, and loading weights exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

from entk_probe.runs.checkpoints import Checkpoint
from entk_probe.errors import EntkProbeWarning, UsageError
from entk_probe.errors import ModelError
from entk_probe.runs.models import build_model, load_weights, make_spec, parse_model_kwargs, resolve_arch
from entk_probe.runs.records import CHECKPOINT_ARGS, RUN_ARGS_FILE, Records
from entk_probe.runs.registry import ModelRegistry, register_model


def _ckpt(name: str, *hints: tuple[str, str]) -> Checkpoint:
    return Checkpoint(path=Path(name), name=name, sha256="0", step=None, epoch=None, arch_hints=hints)


def test_model_kwargs_are_literals_or_strings() -> None:
    assert parse_model_kwargs(["img_size=32", "drop_rate=0.1", "global_pool=avg", "mlp_ratio=(4, 2)", "flag=True"]) == {
        "img_size": 32, "drop_rate": 0.1, "global_pool": "avg", "mlp_ratio": (4, 2), "flag": True}
    for bad in ("img_size", "=3", "two words=1"):
        with pytest.raises(UsageError, match="key=value"):
            parse_model_kwargs([bad])


def test_architecture_sources_in_order(tmp_path: Path) -> None:
    timm_ckpt = _ckpt("checkpoint-1.pth.tar", ("test_resnet", "args.model"), ("resnet", "arch"))
    assert resolve_arch("test_vit", [timm_ckpt], tmp_path) == ("test_vit", "--arch")
    assert resolve_arch(None, [timm_ckpt], tmp_path) == ("test_resnet", "args.model in checkpoint-1.pth.tar")
    # timm's own "arch" entry is the class name: unknown as a model, so the next source is used
    class_only = _ckpt("c.pth.tar", ("resnet", "arch"))
    (tmp_path / "args.yaml").write_text("model: test_vit\nlr: 0.1\n")
    assert resolve_arch(None, [class_only], tmp_path) == ("test_vit", f"{tmp_path / 'args.yaml'} model")
    (tmp_path / "args.yaml").unlink()
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "test_resnet", "num_classes": 3}))
    assert resolve_arch(None, [class_only], tmp_path)[0] == "test_resnet"
    (tmp_path / "config.json").unlink()
    with pytest.raises(UsageError, match=r"pass --arch NAME.*'resnet' \(arch in c\.pth\.tar\)"):
        resolve_arch(None, [class_only], tmp_path)


def test_checkpoints_that_disagree_are_an_error(tmp_path: Path) -> None:
    a, b = _ckpt("a", ("test_resnet", "metadata arch")), _ckpt("b", ("test_vit", "metadata arch"))
    with pytest.raises(ModelError, match="different architectures.*test_resnet.*test_vit"):
        resolve_arch(None, [a, b], tmp_path)


def test_timm_num_classes_and_in_chans_come_from_the_weights() -> None:
    source = timm.create_model("test_resnet", num_classes=7, in_chans=1)
    spec = make_spec("test_resnet", "--arch", source.state_dict())
    assert spec.kwargs == {"num_classes": 7, "in_chans": 1}
    assert spec.sources["num_classes"] == "rows of fc.weight"
    assert spec.sources["in_chans"] == "input channels of conv1.0.weight"
    # Nothing recorded (a plain training loop): no input size, so the probe keeps its own; timm's
    # pretrained default (160x160 here) applies only to runs timm's train.py recorded.
    assert spec.input_size is None and spec.mean is None and "input_size" not in spec.sources
    assert spec.target().channels == 1
    timm_run = Records(((RUN_ARGS_FILE, {"model": "test_resnet", "input_size": None, "img_size": None, "mean": None,
                                         "std": None}),))
    plain_args = Records(((CHECKPOINT_ARGS, {"model": "test_resnet", "lr": 0.1, "epochs": 30}),))  # a loop's own argparse
    assert make_spec("test_resnet", "--arch", source.state_dict(), records=plain_args).input_size is None
    spec_timm = make_spec("test_resnet", "--arch", source.state_dict(), records=timm_run)
    assert spec_timm.input_size == (1, 160, 160) and "timm's default config" in spec_timm.sources["input_size"]
    assert spec_timm.mean == tuple(timm.get_pretrained_cfg("test_resnet").mean)
    model = build_model(spec)
    load_weights(model, source.state_dict(), arch="test_resnet", where="here")
    for (name, a), b in zip(source.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_recorded_arguments_and_user_kwargs_take_precedence() -> None:
    source = timm.create_model("test_vit", num_classes=4, img_size=32)
    recorded = {"num_classes": 4, "img_size": 32, "model_kwargs": {"img_size": 32}, "mean": [0.5] * 3, "std": [0.2] * 3}
    records = Records(((CHECKPOINT_ARGS, recorded),))
    spec = make_spec("test_vit", "args.model", source.state_dict(), records=records)
    assert spec.kwargs == {"img_size": 32, "num_classes": 4, "in_chans": 3}
    assert spec.sources["num_classes"] == "the checkpoint's args num_classes"
    assert spec.input_size == (3, 32, 32) and spec.mean == (0.5,) * 3
    spec = make_spec("test_vit", "args.model", source.state_dict(), records=records, user_kwargs={"num_classes": 9})
    assert spec.kwargs["num_classes"] == 9 and spec.sources["num_classes"] == "--model-kwargs"
    spec = make_spec("test_vit", "args.model", source.state_dict(), records=records, input_size=(3, 48, 48))
    assert spec.input_size == (3, 48, 48) and spec.sources["input_size"] == "--input-size"


def test_the_record_is_read_in_order_checkpoint_args_args_yaml_metadata_then_the_plugin() -> None:
    registry = ModelRegistry()

    @register_model("sized", input_size=(3, 8, 8), mean=(0.1, 0.1, 0.1), std=(0.3, 0.3, 0.3), registry=registry)
    def sized(num_classes: int = 2) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, num_classes))

    state = sized().state_dict()
    layers = [(CHECKPOINT_ARGS, {"input_size": [3, 16, 16]}), (RUN_ARGS_FILE, {"input_size": [3, 24, 24], "mean": [0.4] * 3,
                                                                              "std": [0.2] * 3}),
              ("the checkpoint's metadata", {"input_size": [3, 40, 40], "num_classes": 2})]
    for start, (size, where) in enumerate([((3, 16, 16), "the checkpoint's args input_size"),
                                           ((3, 24, 24), "args.yaml input_size"),
                                           ((3, 40, 40), "the checkpoint's metadata input_size")]):
        spec = make_spec("sized", "--arch", state, records=Records(tuple(layers[start:])), registry=registry)
        assert (spec.input_size, spec.sources["input_size"]) == (size, where)
    spec = make_spec("sized", "--arch", state, records=Records(tuple(layers[:2])), registry=registry)
    assert spec.mean == (0.4,) * 3 and spec.sources["normalization"] == "args.yaml mean/std"
    bare = make_spec("sized", "--arch", state, registry=registry)
    assert bare.input_size == (3, 8, 8) and bare.mean == (0.1,) * 3 and bare.sources["input_size"].startswith("the registration in module ")


def test_plugin_factories_get_only_the_arguments_they_accept() -> None:
    registry = ModelRegistry()

    @register_model("fixed_head", input_size=(3, 4, 4), registry=registry)
    def fixed_head() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(48, 6))

    @register_model("flexible", registry=registry)
    def flexible(num_classes: int = 2) -> nn.Module:
        return nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(16, num_classes))

    assert make_spec("fixed_head", "--arch", fixed_head().state_dict(), registry=registry).kwargs == {}
    weights = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(16, 5)).state_dict()
    spec = make_spec("flexible", "--arch", weights, registry=registry)
    assert spec.kwargs == {"num_classes": 5}  # the last matrix's rows; in_chans is not an argument
    assert spec.sources["num_classes"] == "rows of 2.weight" and spec.input_size is None


def test_weights_load_through_wrapper_prefixes() -> None:
    source = timm.create_model("test_resnet", num_classes=3)
    spec = make_spec("test_resnet", "--arch", source.state_dict())
    model = build_model(spec)
    wrapped = {f"module.{k}": v for k, v in source.state_dict().items()}
    assert load_weights(model, wrapped, arch="test_resnet", where="w.pt") == ["module."]
    lightning = {**{f"model.{k}": v for k, v in source.state_dict().items()}, "criterion.weight": torch.ones(3)}
    with pytest.warns(EntkProbeWarning, match=r"l\.ckpt: the model's weights are under 'model\.'; ignored 1 entries outside it: criterion\.weight"):
        assert load_weights(model, lightning, arch="test_resnet", where="l.ckpt") == ["model."]


def test_weights_that_do_not_fit_are_clear_errors() -> None:
    spec = make_spec("test_vit", "--arch", timm.create_model("test_vit", num_classes=3).state_dict())
    model = build_model(spec)
    small = timm.create_model("test_vit", num_classes=3, img_size=32).state_dict()
    with pytest.raises(ModelError, match=r"ckpt\.pt: pos_embed has shape .*--model-kwargs img_size"):
        load_weights(model, small, arch="test_vit", where="ckpt.pt")
    with pytest.raises(ModelError, match="missing .*unexpected extra.weight.*--arch"):
        state = dict(model.state_dict())
        state.pop("head.weight")
        load_weights(model, {**state, "extra.weight": torch.ones(1)}, arch="test_vit", where="x")


def test_weights_under_no_prefix_that_fits_name_the_closest() -> None:
    source = timm.create_model("test_resnet", num_classes=3)
    model = build_model(make_spec("test_resnet", "--arch", source.state_dict()))
    state = {f"net.{k}": v for k, v in source.state_dict().items() if k != "fc.bias"}
    state.update({"loss.weight": torch.ones(3), "ema.fc.weight": source.state_dict()["fc.weight"]})
    with pytest.raises(ModelError, match=r"^l\.ckpt: weights do not fit 'test_resnet' \(under 'net\.'\): missing fc\.bias; "
                                         r"closest prefixes: 'net\.' \(1 missing, 0 unexpected\) \(is --arch right\?\)$"):
        load_weights(model, state, arch="test_resnet", where="l.ckpt")


def test_a_failing_factory_is_a_build_error() -> None:
    spec = make_spec("test_resnet", "--arch", {}, user_kwargs={"no_such_argument": 1})
    with pytest.raises(ModelError, match="building 'test_resnet' .*no_such_argument"):
        build_model(spec)


class _Net(nn.Module):
    """Modules whose definition order is not the alphabetical order a safetensors file keeps."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_chans, 16, 3)
        self.body = nn.Conv2d(16, 32, 3)
        self.norm_fc = nn.Linear(32, 32)
        self.head = nn.Linear(32, num_classes)


def test_shape_hints_follow_the_module_order_not_the_files_alphabetical_order(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    registry = ModelRegistry()
    register_model("ordered_net", registry=registry)(_Net)
    path = tmp_path / "w.safetensors"
    save_file(_Net(num_classes=5, in_chans=1).state_dict(), str(path))
    state = load_file(str(path))
    assert list(state)[0].startswith("body") and list(state)[-1].startswith("stem")  # alphabetical on disk
    spec = make_spec("ordered_net", "--arch", state, registry=registry)
    assert spec.kwargs == {"num_classes": 5, "in_chans": 1}
    assert spec.sources["num_classes"] == "rows of head.weight"
    assert spec.sources["in_chans"] == "input channels of stem.weight"


def test_a_factory_that_cannot_build_on_the_meta_device_keeps_the_files_order() -> None:
    registry = ModelRegistry()

    @register_model("needs_args", registry=registry)
    def needs_args(width: int, num_classes: int = 2) -> nn.Module:  # no default for width: not buildable bare
        return nn.Sequential(nn.Linear(4, width), nn.Linear(width, num_classes))

    weights = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 7)).state_dict()
    assert make_spec("needs_args", "--arch", weights, registry=registry).kwargs["num_classes"] == 7
