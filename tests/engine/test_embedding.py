"""Embedding tables and token inputs: kernels of small language models against explicit float64 Jacobians."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from entk_probe.engine.kernel import compute_entk
from entk_probe.engine.embedding import EmbeddingLayer, add_embedding
from entk_probe.engine.kernel import compute_entk_result

from ..reference import explicit_token_jacobian, kernels_from_jacobian, relative_error
from ..textdata import needs_text

MODES = ("trace", "full", "pntk")


def _tokens(n: int, length: int, vocab: int, padded: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (n, length), generator=g)
    ids[:, :3] = ids[0, :3]  # shared tokens across samples: the equality pairs matter
    mask = torch.ones(n, length, dtype=torch.long)
    if padded:
        for i in range(n):
            keep = length - (i % 3) * 2
            mask[i, keep:] = 0
            ids[i, keep:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _bert() -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     max_position_embeddings=16, num_labels=3, pad_token_id=0)
    return BertForSequenceClassification(cfg).double().eval()


def _gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=16, num_labels=2, pad_token_id=0,
                     bos_token_id=1, eos_token_id=1)
    return GPT2ForSequenceClassification(cfg).double().eval()


def _lora() -> nn.Module:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_bert().float(), LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"]))
    with torch.no_grad():  # LoRA's B starts at zero: move it so that the A matrices have gradients
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return model.double().eval()


@needs_text
@pytest.mark.parametrize("build", [_bert, _gpt2, _lora], ids=["bert", "gpt2", "lora"])
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_kernels_of_small_language_models_equal_the_explicit_jacobian(build, padded) -> None:  # type: ignore[no-untyped-def]
    model = build()
    inputs = _tokens(5, 9, 50, padded)
    jac = explicit_token_jacobian(model, inputs, keep=lambda name: dict(model.named_parameters())[name].requires_grad)
    expected = kernels_from_jacobian(jac)
    embeddings = [name for name, m in model.named_modules() if isinstance(m, nn.Embedding)
                  and any(q.requires_grad for q in m.parameters())]
    for paths in ("auto", "structured"):  # auto takes per-sample gradients of these small tables
        for mode in MODES:
            result = compute_entk_result(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64,
                                         paths=paths)
            assert relative_error(result.kernel, expected[mode]) < 1e-10, (paths, mode)
        chosen = {p.layer: p.path for p in result.plan.layers}
        assert all(chosen[name] == ("structured" if paths == "structured" else "per-sample") for name in embeddings)


@needs_text
def test_a_padded_example_has_the_kernel_of_the_same_example_unpadded() -> None:
    model = _bert()
    padded = _tokens(3, 9, 50, padded=True)
    k_padded = compute_entk(model, padded, device="cpu", jacobian_dtype=torch.float64)
    length = int(padded["attention_mask"][1].sum())
    alone = {k: v[1:2, :length] for k, v in padded.items()}
    k_alone = compute_entk(model, alone, device="cpu", jacobian_dtype=torch.float64)
    assert abs(float(k_padded[1, 1]) - float(k_alone[0, 0])) < 1e-10 * float(k_alone[0, 0])


def test_the_embedding_gram_is_the_gram_of_scattered_gradients() -> None:
    torch.manual_seed(1)
    table = nn.Embedding(7, 3, padding_idx=0).double()
    layer = EmbeddingLayer("emb", table, ["emb.weight"])
    ids = torch.tensor([[1, 2, 2, 0], [2, 3, 0, 0], [4, 1, 1, 6]])  # (N, T), 0 the padding index
    g = torch.randn(3, 2, 4, 3, dtype=torch.float64)  # (N, R, T, D)
    layer.set_shapes((4,), (4, 3))
    grads = torch.zeros(3, 2, 7, 3, dtype=torch.float64)  # reference: explicit scatter of each position
    for n in range(3):
        for t in range(4):
            if ids[n, t] != 0:
                grads[n, :, ids[n, t]] += g[n, :, t]
    flat = grads.reshape(3, 2, -1)
    for full in (False, True):
        size = 6 if full else 3
        gram = torch.zeros(size, size, dtype=torch.float64)
        add_embedding(gram, layer, ids, g, full=full, block=2)
        upper = torch.triu(torch.ones(size, size, dtype=torch.bool))
        if full:
            expected = torch.einsum("nrp,mqp->nrmq", flat, flat).reshape(6, 6)
        else:
            expected = torch.einsum("nrp,mrp->nm", flat, flat)
        # only the upper block triangle is filled; blocks of 2 samples
        assert torch.allclose(gram[upper & (gram != 0)], expected[upper & (gram != 0)], rtol=1e-12)
        assert torch.allclose(torch.triu(gram)[0], expected[0], rtol=1e-12)
    assert torch.equal(layer.per_sample_grads(ids, g, {}, {}), flat)
