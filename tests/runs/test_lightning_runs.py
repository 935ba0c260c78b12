"""Real PyTorch Lightning runs, read as they are: the network under whatever attribute the
LightningModule gave it (``net.``, ``model.backbone.``), a loss module's buffer and an EMA copy
beside it, hparams.yaml and the checkpoints' hyper_parameters. Trained a few steps on CPU on
random data with Lightning's own Trainer, ModelCheckpoint and CSVLogger; nothing is mocked."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from torch import Tensor, nn

from entk_probe.errors import EntkProbeWarning, ModelError
from entk_probe.runs.checkpoints import Checkpoint, discover
from entk_probe.runs.lightninghparams import CKPT_HPARAMS, HPARAMS_FILE
from entk_probe.runs.loading import read_content, select_state_dict
from entk_probe.runs.models import build_model, load_weights, make_spec, resolve_arch
from entk_probe.runs.records import read_run_args, records_of
from entk_probe.runs.registry import ModelRegistry, register_model

L = pytest.importorskip("lightning", reason="lightning is not installed: pip install 'entk-probe[lightning]'")
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers import CSVLogger  # noqa: E402

STEPS, EVERY = 6, 2  # checkpoints at steps 2, 4, 6


class TinyNet(nn.Module):
    """The network trained: a convolution with BatchNorm (buffers too), pooled, and a classifier."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_chans, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.stem(x)).mean(dim=(2, 3)))


class WeightedLoss(nn.Module):
    """A loss module with a buffer of its own: it lands in the LightningModule's state_dict."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("class_weight", torch.linspace(0.5, 1.5, num_classes))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(logits, target, weight=self.class_weight)


class Trained(L.LightningModule):
    """What every module here shares: its network's loss, and SGD on its trainable parameters."""

    def network(self) -> nn.Module:
        raise NotImplementedError

    def training_step(self, batch: tuple[Tensor, Tensor], index: int) -> Tensor:
        x, y = batch
        return self.loss(self.network()(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("ema_net.")],
                               lr=0.05)


class NetModule(Trained):
    """The network as ``self.net``, after an auxiliary head (its convolution comes first in the
    state_dict) and beside the loss and an EMA copy (``ema_net.module.``)."""

    def __init__(self, learning_rate: float = 0.05, arch: str = "tiny_net", n_classes: int = 3, in_channels: int = 2,
                 img_size: int = 8, batch_size: int = 4, mean: tuple[float, ...] = (0.5, 0.5),
                 std: tuple[float, ...] = (0.25, 0.25)) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.aux = nn.Sequential(nn.Conv2d(5, 4, 1), nn.Linear(4, 7))  # unused in training
        self.net = TinyNet(n_classes, in_channels)
        self.loss = WeightedLoss(n_classes)
        self.ema_net = torch.optim.swa_utils.AveragedModel(self.net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.9))

    def network(self) -> nn.Module:
        return self.net

    def on_train_batch_start(self, *args: Any) -> None:  # after the batch, ModelCheckpoint would save first
        self.ema_net.update_parameters(self.net)


class NestedModule(Trained):
    """A timm network two levels down, ``self.model.backbone``, beside an unused ``model.aux``."""

    def __init__(self, arch: str = "test_resnet", n_classes: int = 5, in_channels: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = nn.Module()
        self.model.backbone = timm.create_model(arch, num_classes=n_classes, in_chans=in_channels)
        self.model.aux = nn.Linear(2, 2)
        self.loss = WeightedLoss(n_classes)

    def network(self) -> nn.Module:
        return self.model.backbone


class TwinModule(Trained):
    """Two networks of one architecture, ``student.`` and a frozen ``teacher.``: both fit."""

    def __init__(self) -> None:
        super().__init__()
        self.student, self.teacher = TinyNet(3, 2), TinyNet(3, 2)
        self.teacher.requires_grad_(False)
        self.loss = WeightedLoss(3)

    def network(self) -> nn.Module:
        return self.student


class Snapshots(Callback):
    """The network's own state_dict after every step, to compare each checkpoint with."""

    def __init__(self) -> None:
        self.at: dict[int, dict[str, Tensor]] = {}

    def on_train_batch_end(self, trainer: L.Trainer, module: Trained, *args: Any) -> None:
        self.at[trainer.global_step] = copy.deepcopy(module.network().state_dict())


def _train(root: Path, make: Callable[[], Trained], chans: int, classes: int) -> tuple[Path, Any, Snapshots]:
    """Train ``make()`` STEPS steps on random data; (the checkpoints' folder, the module, its snapshots)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    try:
        torch.manual_seed(0)
        data = torch.utils.data.TensorDataset(torch.randn(24, chans, 8, 8), torch.randint(0, classes, (24,)))
        module, snapshots = make(), Snapshots()
        trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", devices=1, logger=CSVLogger(root),
                            callbacks=[snapshots, ModelCheckpoint(every_n_train_steps=EVERY, save_top_k=-1)],
                            enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's advice on workers and logging intervals
            trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=4))
    finally:
        torch.set_num_threads(threads)
    return root / "lightning_logs" / "version_0" / "checkpoints", module, snapshots


@pytest.fixture(scope="module")
def net_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Snapshots]:
    return _train(tmp_path_factory.mktemp("net"), NetModule, chans=2, classes=3)


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    registry = ModelRegistry()
    register_model("tiny_net", registry=registry)(TinyNet)  # no classifier named: read off the module order
    return registry


def _checkpoints(run_dir: Path) -> list[Checkpoint]:
    found = discover(run_dir)
    assert [c.step for c in found] == [2, 4, 6]
    return found


def _same(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_the_net_attribute_loads_exactly_and_what_is_left_out_is_named(net_run: Any, registry: ModelRegistry) -> None:
    run_dir, module, snapshots = net_run
    for ckpt in _checkpoints(run_dir):
        state, key = select_state_dict(read_content(ckpt.path))
        assert key == "state_dict" and {k.split(".")[0] for k in state} == {"aux", "net", "loss", "ema_net"}
        model = TinyNet(3, 2)
        with pytest.warns(EntkProbeWarning) as caught:
            assert load_weights(model, state, arch="tiny_net", where=str(ckpt.path)) == ["net."]
        (warning,) = [w.message for w in caught if getattr(w.message, "code", None) == "ignored-entries"]
        outside = [k for k in state if not k.startswith("net.")]
        assert f"under 'net.'; ignored {len(outside)} entries outside it" in str(warning) and ckpt.path.name in str(warning)
        assert "ema_net." in str(warning) and "--weights ema" in str(warning)
        assert _same(model.state_dict(), snapshots.at[ckpt.step])
    assert _same(model.state_dict(), module.net.state_dict())  # the last checkpoint is the trained network


def test_weights_ema_takes_the_ema_copy(net_run: Any) -> None:
    run_dir, module, _ = net_run
    last = _checkpoints(run_dir)[-1]
    state, key = select_state_dict(read_content(last.path), "ema")
    assert key == "state_dict, under ema_net."
    model = TinyNet(3, 2)
    with pytest.warns(EntkProbeWarning, match=r"under 'ema_net\.module\.'; ignored 1 entries outside it: ema_net\.n_averaged"):
        assert load_weights(model, state, arch="tiny_net", where=last.name) == ["ema_net.", "module."]
    assert _same(model.state_dict(), module.ema_net.module.state_dict())
    assert not _same(model.state_dict(), module.net.state_dict())


def test_hparams_yaml_and_hyper_parameters_are_read_with_their_source(net_run: Any, registry: ModelRegistry) -> None:
    run_dir, _, _ = net_run
    args = read_run_args(run_dir)  # the checkpoints/ folder: hparams.yaml is in its parent, version_0/
    assert args.source == HPARAMS_FILE and args.path == run_dir.parent / HPARAMS_FILE  # type: ignore[attr-defined]
    assert args == {"model": "tiny_net", "lr": 0.05, "batch_size": 4, "num_classes": 3, "in_chans": 2, "img_size": 8,
                    "mean": [0.5, 0.5], "std": [0.25, 0.25]}
    ckpt = _checkpoints(run_dir)[0]
    assert ckpt.args == args and ckpt.args.source == CKPT_HPARAMS  # type: ignore[attr-defined]
    assert resolve_arch(None, [ckpt], run_dir, registry=registry) == ("tiny_net", f"hyper_parameters arch in {ckpt.name}")
    assert records_of(ckpt, args).get("lr") == (0.05, CKPT_HPARAMS)
    assert records_of(replace(ckpt, args={}), args).get("lr") == (0.05, HPARAMS_FILE)
    state = select_state_dict(read_content(ckpt.path))[0]
    spec = make_spec("tiny_net", "--arch", state, records=records_of(replace(ckpt, args={}), args), registry=registry)
    assert spec.kwargs == {"num_classes": 3, "in_chans": 2} and spec.sources["num_classes"] == "hparams.yaml num_classes"
    assert spec.input_size == (2, 8, 8) and spec.sources["input_size"] == "hparams.yaml img_size"
    assert spec.mean == (0.5, 0.5) and spec.sources["normalization"] == "hparams.yaml mean/std"


def test_shapes_tell_the_geometry_under_the_net_prefix(net_run: Any, registry: ModelRegistry) -> None:
    state = select_state_dict(read_content(_checkpoints(net_run[0])[-1].path))[0]
    spec = make_spec("tiny_net", "--arch", state, registry=registry)  # nothing recorded: the weights tell
    assert list(state)[0] == "aux.0.weight"  # the first convolution of the file is not the network's
    assert spec.kwargs == {"num_classes": 3, "in_chans": 2}  # not aux's (7, 5), nor TinyNet's defaults (10, 3)
    assert spec.sources == {"num_classes": "rows of head.weight", "in_chans": "input channels of stem.weight"}
    model = build_model(spec)
    with pytest.warns(EntkProbeWarning, match="under 'net.'"):
        load_weights(model, state, arch="tiny_net", where="x")
    assert _same(model.state_dict(), net_run[1].net.state_dict())


def test_a_timm_network_nested_as_model_backbone(tmp_path: Path) -> None:
    run_dir, module, snapshots = _train(tmp_path, NestedModule, chans=1, classes=5)
    ckpt = _checkpoints(run_dir)[1]
    state = select_state_dict(read_content(ckpt.path))[0]
    spec = make_spec("test_resnet", "--arch", state)  # timm's config names fc and conv1.0, under model.backbone.
    assert spec.kwargs == {"num_classes": 5, "in_chans": 1}
    assert spec.sources["num_classes"] == "rows of fc.weight" and spec.sources["in_chans"] == "input channels of conv1.0.weight"
    model = build_model(spec)
    with pytest.warns(EntkProbeWarning, match=r"under 'model\.backbone\.'; ignored 3 entries") as caught:
        assert load_weights(model, state, arch="test_resnet", where=ckpt.name) == ["model.", "backbone."]
    assert all(name in str(caught[0].message) for name in ("loss.class_weight", "model.aux.bias", "model.aux.weight"))
    assert _same(model.state_dict(), snapshots.at[4])
    assert ckpt.arch_hints == (("test_resnet", "hyper_parameters arch"),)
    assert read_run_args(run_dir) == {"model": "test_resnet", "num_classes": 5, "in_chans": 1}


def test_two_networks_that_fit_alike_are_an_error_naming_both(tmp_path: Path) -> None:
    run_dir, module, _ = _train(tmp_path, TwinModule, chans=2, classes=3)
    ckpt = _checkpoints(run_dir)[-1]
    state = select_state_dict(read_content(ckpt.path))[0]
    with pytest.raises(ModelError, match=r"step=6\.ckpt: 2 networks fit the model: student\., teacher\.; .*prefix=") as err:
        load_weights(TinyNet(3, 2), state, arch="tiny_net", where=str(ckpt.path))
    assert "\n" not in str(err.value)
    assert read_run_args(run_dir) == {}  # no save_hyperparameters(): hparams.yaml records nothing
    model = TinyNet(3, 2)
    with pytest.warns(EntkProbeWarning, match="under 'teacher.'"):
        assert load_weights(model, state, arch="tiny_net", where="x", prefix="teacher.") == ["teacher."]
    assert _same(model.state_dict(), module.teacher.state_dict())
    assert not _same(model.state_dict(), module.student.state_dict())
