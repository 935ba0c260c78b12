"""The engine against explicit float64 Jacobians built sample by sample with torch.autograd."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

from entk_probe import (
    EntkProbeWarning,
    MemoryBudgetError,
    ModelError,
    UsageError,
    compute_entk,
    compute_entk_result,
)

from .. import models
from ..helpers import REPO
from ..reference import explicit_jacobian, kernels_from_jacobian, relative_error

MODES = ("full", "trace", "pntk")
PATHS = ("auto", "structured", "per-sample", "jacobian")


@functools.cache
def _case(name: str) -> tuple[nn.Module, torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    model, inputs = models.ALL[name]()
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))
    return model, inputs, reference


@pytest.mark.parametrize("paths", PATHS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(models.ALL))
def test_every_mode_and_path_matches_the_explicit_jacobian(name: str, mode: str, paths: str) -> None:
    model, inputs, reference = _case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EntkProbeWarning)  # the BN/Dropout model starts in train mode
        result = compute_entk_result(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64, paths=paths)
    kernel = result.kernel
    assert kernel.dtype == torch.float64 and kernel.device.type == "cpu"
    assert kernel.shape == reference[mode].shape
    assert relative_error(kernel, reference[mode]) < 1e-10
    taken = {layer.path for layer in result.plan.layers}
    assert taken == {"jacobian"} if paths == "jacobian" else paths == "auto" or paths in taken


def test_the_plan_covers_every_parameter_once() -> None:
    model, inputs, _ = _case("timm_test_vit")
    result = compute_entk_result(model, inputs, device="cpu", jacobian_dtype=torch.float64)
    named = [p for layer in result.plan.layers for p in layer.params]
    assert sorted(named) == sorted(result.param_names)
    on_jacobians = [p.name for g in result.plan.groups for p in g.pieces]
    assert sorted(on_jacobians) == sorted(p for layer in result.plan.layers if layer.path == "jacobian" for p in layer.params)
    # The ViT's own cls_token and pos_embed cannot be captured: the root module's forward is the model.
    root = next(layer for layer in result.plan.layers if layer.layer == "")
    assert set(root.params) == {"cls_token", "pos_embed"} and root.path == "jacobian"
    assert result.plan.num_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("mode", MODES)
def test_chunked_equals_unchunked_for_odd_n(mode: str, chunk_size: int) -> None:
    model, inputs, reference = _case("mlp")
    assert inputs.shape[0] == 7
    kernel = compute_entk(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64, chunk_size=chunk_size)
    assert relative_error(kernel, reference[mode]) < 1e-12


@pytest.mark.parametrize("mode", MODES)
def test_parameter_streaming_equals_unchunked(mode: str) -> None:
    model, inputs, reference = _case("layernorm_gelu")
    # Small enough that the 16x16 weight is split into column ranges and the rest into groups
    # (pntk holds one Jacobian row a sample, not three, so it needs a smaller budget to split).
    budget = 20_000 if mode == "pntk" else 60_000
    result = compute_entk_result(
        model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64, max_memory=budget, paths="jacobian"
    )
    pieces = [p for g in result.plan.groups for p in g.pieces]
    assert len(result.plan.groups) > 3
    assert any(p.size < model.get_parameter(p.name).numel() for p in pieces), "no parameter was split"
    assert relative_error(result.kernel, reference[mode]) < 1e-12


def test_kernels_are_symmetric_and_positive_semidefinite() -> None:
    model, inputs, _ = _case("layernorm_gelu")
    for mode in MODES:
        kernel = compute_entk(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64)
        n = inputs.shape[0]
        matrix = kernel.permute(0, 2, 1, 3).reshape(n * kernel.shape[2], -1) if mode == "full" else kernel
        assert torch.equal(matrix, matrix.T)
        eigenvalues = torch.linalg.eigvalsh(matrix)
        assert eigenvalues.min() > -1e-12 * eigenvalues.max()


def test_trace_and_pntk_agree_with_the_full_kernel() -> None:
    model, inputs, _ = _case("timm_test_resnet")
    full = compute_entk(model, inputs, mode="full", device="cpu", jacobian_dtype=torch.float64)
    trace = compute_entk(model, inputs, mode="trace", device="cpu", jacobian_dtype=torch.float64)
    pntk = compute_entk(model, inputs, mode="pntk", device="cpu", jacobian_dtype=torch.float64)
    num_classes = full.shape[2]
    assert relative_error(trace, torch.diagonal(full, dim1=2, dim2=3).sum(-1)) < 1e-12
    assert relative_error(pntk, full.sum(dim=(2, 3)) / num_classes) < 1e-12


@pytest.mark.parametrize("name", ["cnn_bn_dropout", "timm_test_resnet"])
def test_float32_jacobians_are_close_to_the_float64_reference(name: str) -> None:
    model, inputs, reference = _case(name)
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EntkProbeWarning)
        for gram_dtype in (None, torch.float32, torch.float64):
            for paths in ("structured", "per-sample", "jacobian"):
                kernel = compute_entk(model.float(), inputs.float(), mode="full", device="cpu", paths=paths,
                                      gram_dtype=gram_dtype)
                assert kernel.dtype == torch.float64
                errors[gram_dtype, paths] = relative_error(kernel, reference["full"])
    model.double()
    assert max(errors.values()) < 1e-6, errors
    # Float32 products (the default for float32 Jacobians) add little to the float32 Jacobians' own error.
    for paths in ("structured", "per-sample", "jacobian"):
        assert errors[None, paths] == errors[torch.float32, paths]
        assert errors[torch.float32, paths] < 3 * errors[torch.float64, paths] + 1e-7


def test_gram_dtype_must_fit_the_jacobian_dtype() -> None:
    model, inputs = models.mlp()
    with pytest.raises(UsageError, match="gram_dtype"):
        compute_entk(model.eval(), inputs, device="cpu", jacobian_dtype=torch.float64, gram_dtype=torch.float32)
    with pytest.raises(UsageError, match="gram_dtype"):
        compute_entk(model.eval().float(), inputs.float(), device="cpu", gram_dtype=torch.float16)


def test_eval_mode_is_used_and_the_callers_flags_and_buffers_are_restored() -> None:
    model, inputs = models.cnn_bn_dropout()
    model[3].eval()  # a mixed state: one Dropout already in eval mode
    flags = [m.training for m in model.modules()]
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    with pytest.warns(EntkProbeWarning, match="training mode"):
        kernel = compute_entk(model, inputs, device="cpu", jacobian_dtype=torch.float64)
    assert [m.training for m in model.modules()] == flags
    for name, value in model.named_buffers():
        assert torch.equal(value, buffers[name]), name
    # Eval mode (running statistics, no dropout) is what the reference computes; train mode differs.
    assert relative_error(kernel, kernels_from_jacobian(explicit_jacobian(model, inputs))["trace"]) < 1e-10


def test_no_warning_for_a_model_in_eval_mode() -> None:
    model, inputs = models.mlp()
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_entk(model, inputs, device="cpu")


def test_tf32_is_off_while_the_engine_runs_and_restored_after() -> None:
    model, inputs = models.mlp()
    matmul = torch.backends.cuda.matmul
    attr, loose, exact = ("fp32_precision", "tf32", "ieee") if hasattr(matmul, "fp32_precision") else ("allow_tf32", True, False)
    saved = getattr(matmul, attr)
    seen = []
    try:
        setattr(matmul, attr, loose)
        compute_entk(model.eval(), inputs, device="cpu", progress=lambda done, total: seen.append(getattr(matmul, attr)))
        assert seen and all(s == exact for s in seen)
        assert getattr(matmul, attr) == loose
    finally:
        setattr(matmul, attr, saved)


def test_progress_counts_every_chunk() -> None:
    model, inputs = models.mlp()
    calls: list[tuple[int, int]] = []
    result = compute_entk_result(model.eval(), inputs, device="cpu", chunk_size=3, progress=lambda d, t: calls.append((d, t)),
                                 paths="jacobian")
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert result.plan.num_chunks == 3
    # Captured layers: one unit a capture chunk (7 samples, 3 a chunk), then one a layer (3 Linear).
    calls.clear()
    result = compute_entk_result(model.eval(), inputs, device="cpu", chunk_size=3, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(d, 6) for d in range(1, 7)]
    assert result.plan.num_chunks == 3 and len(result.plan.capture_groups) == 1


def test_parameter_filter_by_pattern_list_and_callable() -> None:
    model, inputs = models.layernorm_gelu()
    keep = lambda name: name.startswith(("head.", "norm."))  # noqa: E731
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs, keep=keep))
    for params in ("head.*, norm.*", ["head.*", "norm.*"], keep):
        result = compute_entk_result(model, inputs, mode="full", device="cpu", params=params, jacobian_dtype=torch.float64)
        assert result.param_names == ("norm.weight", "norm.bias", "head.weight", "head.bias")
        assert relative_error(result.kernel, reference["full"]) < 1e-12


def test_frozen_parameters_do_not_count_by_default() -> None:
    model, inputs = models.layernorm_gelu()
    model.embed.requires_grad_(False)
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))
    result = compute_entk_result(model, inputs, device="cpu", jacobian_dtype=torch.float64)
    assert not any(name.startswith("embed.") for name in result.param_names)
    assert relative_error(result.kernel, reference["trace"]) < 1e-12


def test_models_vmap_cannot_trace_fall_back_to_a_correct_per_sample_path() -> None:
    model, inputs = models.item_control_flow()
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))
    for mode in MODES:
        with pytest.warns(EntkProbeWarning, match="one sample at a time"):
            result = compute_entk_result(model.eval(), inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64,
                                         chunk_size=4, paths="jacobian")
        assert result.per_sample_fallback
        assert relative_error(result.kernel, reference[mode]) < 1e-10
        # The capture check runs such a model one sample at a time on every chunk, so its dependence
        # on the batch (the branch is on the batch's sum) is found and the kernel stays exact.
        with pytest.warns(EntkProbeWarning, match="depends on the other samples"):
            auto = compute_entk_result(model.eval(), inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64)
        assert relative_error(auto.kernel, reference[mode]) < 1e-10


class _TupleOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lin(x), x


def test_bad_arguments_are_clear_errors() -> None:
    model, inputs = models.mlp()
    model.eval()
    with pytest.raises(UsageError, match="unknown kernel mode 'diag'"):
        compute_entk(model, inputs, mode="diag")
    with pytest.raises(UsageError, match="device"):
        compute_entk(model, inputs, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA device"):
            compute_entk(model, inputs, device="cuda")
    with pytest.raises(UsageError, match="NaN"):
        compute_entk(model, torch.full_like(inputs, float("nan")), device="cpu")
    with pytest.raises(UsageError, match="floating point, or integers"):
        compute_entk(model, inputs > 0, device="cpu")  # integers (token ids) are inputs too; booleans are not
    with pytest.raises(UsageError, match="chunk_size"):
        compute_entk(model, inputs, device="cpu", chunk_size=0)
    with pytest.raises(UsageError, match="jacobian_dtype"):
        compute_entk(model, inputs, device="cpu", jacobian_dtype=torch.float16)
    with pytest.raises(ModelError, match="tuple"):
        compute_entk(_TupleOutput().eval(), torch.randn(4, 3), device="cpu")
    with pytest.raises(ModelError, match=r"shape \(1, 5, 4\)"):
        compute_entk(nn.Linear(4, 4).eval(), torch.randn(2, 5, 4), device="cpu")


def test_a_diverged_model_gives_a_warning_not_silent_nans() -> None:
    model, inputs = models.mlp()
    with torch.no_grad():
        model[0].weight.fill_(float("inf"))
    with pytest.warns(EntkProbeWarning, match="not finite"):
        kernel = compute_entk(model.eval(), inputs, device="cpu")
    assert not torch.isfinite(kernel).all()


@pytest.mark.cuda
@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_equals_cpu_kernel(mode: str) -> None:
    model, inputs, reference = _case("timm_test_resnet")
    kernel = compute_entk(model, inputs, mode=mode, device="cuda", jacobian_dtype=torch.float64)
    assert kernel.device.type == "cpu"
    assert relative_error(kernel, reference[mode]) < 1e-10
    assert next(model.parameters()).device.type == "cpu", "the engine must not move the model"


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from torch import nn
    from entk_probe import compute_entk_result
    from tests.reference import explicit_jacobian, kernels_from_jacobian, relative_error

    def status():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}

    torch.manual_seed(0)
    torch.set_num_threads(2)
    case, paths = sys.argv[1], sys.argv[2]
    if case == "mlp":
        width, n, budget = 512, 64, 128 * 2**20
        layers = [nn.Flatten(), nn.Linear(768, width)]
        for _ in range(3):
            layers += [nn.Tanh(), nn.Linear(width, width)]
        model = nn.Sequential(*layers, nn.Tanh(), nn.Linear(width, 10)).eval()
    else:  # a CNN whose captured tensors are several times the budget
        n, budget = 64, 16 * 2**20
        layers = [nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * 64, 10)).eval()
    inputs = torch.randn(n, 3, 8, 8) if case == "cnn" else torch.randn(n, 3, 16, 16)
    # Warm up: the first call loads torch.func's code paths, outside any budget.
    compute_entk_result(model, inputs[:2], device="cpu", paths=paths)
    before = status()["VmRSS"]
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    result = compute_entk_result(model, inputs, mode="trace", device="cpu", max_memory=budget, paths=paths)
    peak = status()["VmHWM"]
    num_params = sum(p.numel() for p in model.parameters())
    # An explicit float64 reference where it is cheap (the MLP's would be 3 GB).
    reference = kernels_from_jacobian(explicit_jacobian(model.double(), inputs.double()))["trace"] if case == "cnn" else None
    print(json.dumps({
        "peak_increase": peak - before,
        "budget": budget,
        "jacobian_bytes": n * 10 * num_params * 4,
        "captured_bytes": sum(g.capture_bytes for g in result.plan.capture_groups),
        "capture_groups": len(result.plan.capture_groups),
        "model_bytes": num_params * 4,
        "kernel_bytes": result.kernel.numel() * 8,
        "groups": len(result.plan.groups),
        "error": relative_error(result.kernel, reference) if reference is not None else None,
        "finite": bool(torch.isfinite(result.kernel).all()),
    }))
    """
)


def _peak_memory(case: str, paths: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, case, paths], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to read peak memory")
def test_trace_kernel_of_a_jacobian_over_4x_the_budget_stays_within_it() -> None:
    """Peak RSS increase < budget + model + kernel + 32 MiB + 15% of the budget.

    The margin covers what the planner cannot see: allocator slack and the transient buffers of
    vmap, which benchmarks/memory_calibration.py measures.
    """
    m = _peak_memory("mlp", "jacobian")
    assert m["jacobian_bytes"] > 4 * m["budget"]
    assert m["groups"] > 1 and m["finite"]
    margin = 32 * 2**20 + 0.15 * m["budget"]
    assert m["peak_increase"] < m["budget"] + m["model_bytes"] + m["kernel_bytes"] + margin, m


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to read peak memory")
def test_captured_layers_over_the_budget_are_split_into_passes_within_it() -> None:
    """The same bound when the captured inputs and cotangents alone exceed the budget."""
    m = _peak_memory("cnn", "auto")
    assert m["captured_bytes"] > m["budget"] and m["capture_groups"] > 1
    assert m["error"] < 1e-5
    margin = 32 * 2**20 + 0.15 * m["budget"]
    assert m["peak_increase"] < m["budget"] + m["model_bytes"] + m["kernel_bytes"] + margin, m


def test_running_out_of_memory_is_a_budget_error_not_a_vmap_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import entk_probe.engine.jacobian as jacobian

    def no_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(jacobian, "_rows_vmap", no_memory)
    model, inputs = models.mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("error", EntkProbeWarning)  # no fallback warning may be given
        with pytest.raises(MemoryBudgetError, match="ran out of memory.*max_memory"):
            compute_entk(model.eval(), inputs, device="cpu", paths="jacobian")


def test_running_out_of_memory_in_a_capture_is_a_budget_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import entk_probe.engine.structured as structured

    def no_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(structured, "capture", no_memory)
    model, inputs = models.mlp()
    with pytest.raises(MemoryBudgetError, match="ran out of memory.*max_memory"):
        compute_entk(model.eval(), inputs, device="cpu")


# Whole timm networks at 32x32 in float64, with few classes so that the explicit reference (N·C
# rows of every parameter's gradient) stays near 500 MB. vgg11_bn's 4096-wide classifier MLP is
# narrowed to 64 (mlp_ratio) for the same reason; its layers are the same kinds.
TIMM_MODELS = {
    "resnet18": {},
    "vgg11_bn": {"mlp_ratio": 1 / 64},
    "convnext_atto": {},
    "test_vit": {"img_size": 32},
    "efficientnet_b0": {},
}


@functools.cache
def _timm_case(name: str) -> tuple[nn.Module, torch.Tensor, dict[str, torch.Tensor]]:
    import timm

    torch.manual_seed(2)
    model = timm.create_model(name, pretrained=False, num_classes=3, **TIMM_MODELS[name]).double().eval()
    for module in model.modules():  # running statistics as a trained network has them, not 0 and 1
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0.0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    inputs = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    return model, inputs, kernels_from_jacobian(explicit_jacobian(model, inputs))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TIMM_MODELS))
def test_whole_timm_models_match_the_explicit_jacobian_on_every_path(name: str) -> None:
    model, inputs, reference = _timm_case(name)
    for mode in MODES:
        for paths in ("auto", "structured", "per-sample"):
            result = compute_entk_result(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64, paths=paths)
            assert relative_error(result.kernel, reference[mode]) < 1e-10, (mode, paths)
            if paths != "auto":
                assert paths in {layer.path for layer in result.plan.layers}
