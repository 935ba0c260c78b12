"""Buffer motion: the kernel of one checkpoint's weights with another's buffers."""

from __future__ import annotations

from pathlib import Path

import torch

from entk_probe import compute_entk
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.pipeline.buffers import fitted, mixed_kernel
from entk_probe.pipeline.kernels import KernelSource
from entk_probe.probes import Target, make_probe
from entk_probe.runs.checkpoints import Checkpoint
from entk_probe.runs.models import build_model, make_spec


def test_the_mixed_kernel_has_these_weights_and_those_buffers(tmp_path: Path) -> None:
    spec = make_spec("test_resnet", "test", {}, user_kwargs={"num_classes": 3})
    model = build_model(spec)
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    after = {k: v + (0.3 * torch.rand_like(v) if v.is_floating_point() else 0) for k, v in before.items()}
    wrapped = {f"module.{k}": v for k, v in after.items()}  # as DataParallel saves it
    assert fitted(model, wrapped).keys() == after.keys()
    probe = make_probe("synthetic:3", Target((3, 32, 32)))
    source = KernelSource(model, probe, spec, AnalyzeOptions(device="cpu", cache=False), None)
    ckpt, prev = (Checkpoint(Path(f"{n}.pt"), f"{n}.pt", n * 64, None, None) for n in "ba")
    kernel = mixed_kernel(model, source, "test_resnet", "raw", ckpt, fitted(model, wrapped), prev, before)
    buffers = {name for name, _ in model.named_buffers()}
    reference = build_model(spec)
    reference.load_state_dict({k: before[k] if k in buffers else after[k] for k in after})
    assert torch.equal(kernel, compute_entk(reference, probe.inputs, device="cpu"))
    everything_after = build_model(spec)
    everything_after.load_state_dict(after)
    assert not torch.allclose(kernel, compute_entk(everything_after, probe.inputs, device="cpu"))  # buffers matter
