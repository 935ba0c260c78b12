"""Issue 21's bars: a 6-layer, 256-wide BERT-style classifier on real SST-2, trace mode, float32.

    python benchmarks/bench_text.py [--n 500] [--recipe-n 25,50] [--skip-lora]

- entk-probe's ``compute_entk`` at N (default 500) and at the recipe's N values;
- the torch.func recipe that computes the Jacobian once (``vmap(jacrev)`` of a functional call,
  K = J Jᵀ), at small N only: its Jacobian is N·C·P floats (5 GB at N=50 for this model). The
  Hugging Face mask code branches on the mask's values, which vmap cannot trace, so the recipe
  passes the extended additive mask (n, 1, 1, L) itself, as users of torch.func do;
- a LoRA (r=8 on query and value, classifier in modules_to_save) of the same model: the kernel
  over the adapters, at N, against the full kernel's time;
- FLOPs of entk-probe's plan (engine.estimate) and the fraction of the machine's float32 GEMM rate.

The probe is ``sst2:N`` (GLUE's validation sentences, class-balanced) tokenised to 64 tokens by a
WordPiece tokenizer trained on SST-2's training set here (no download); the model has bert-base's
vocabulary size (30,522) so that the embedding table is as large as a real BERT's. Prints one
markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from entk_probe.engine.estimate import estimate_kernel, gemm_rate, pass_flops  # noqa: E402
from entk_probe.engine.kernel import compute_entk_result  # noqa: E402
from entk_probe.probes import Target, make_probe  # noqa: E402
from entk_probe.probes.probe import TextTarget  # noqa: E402
from entk_probe.runs.textcall import as_text_classifier  # noqa: E402
from tests.textdata import SHARED, train_tokenizer  # noqa: E402

LENGTH = 64


def probe(n: int, folder: Path) -> tuple[torch.Tensor, tuple[str, ...]]:
    train_tokenizer(folder, vocab_size=30522, sentences=67349)
    built = make_probe(f"sst2:{n}", Target(None, text=TextTarget(folder, LENGTH, 512, None, "bench")), data_root=SHARED)
    return built.inputs, built.input_keys


def bert() -> torch.nn.Module:
    """The benchmark's model, seeded: the same weights on every call."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=256, num_hidden_layers=6, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=512, num_labels=2, pad_token_id=0)
    config._attn_implementation = "eager"
    return BertForSequenceClassification(config).eval()


def recipe(model: torch.nn.Module, packed: torch.Tensor, keys: tuple[str, ...]) -> torch.Tensor:
    """The torch.func recipe: the whole Jacobian by vmap(jacrev), then K = Σ_c J_c J_cᵀ (trace)."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    ids, mask = packed[:, keys.index("input_ids")], packed[:, keys.index("attention_mask")]
    types = packed[:, keys.index("token_type_ids")] if "token_type_ids" in keys else torch.zeros_like(ids)
    extended = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min  # (n, 1, 1, L)

    def logits(p: dict, i: torch.Tensor, t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, p, (), {"input_ids": i[None], "token_type_ids": t[None], "attention_mask": m[None]})
        return out.logits[0]  # (C,)

    jac = vmap(jacrev(logits), in_dims=(None, 0, 0, 0))(params, ids, types, extended)  # name -> (n, C, *shape)
    flat = torch.cat([j.reshape(j.shape[0], j.shape[1], -1) for j in jac.values()], dim=2)  # (n, C, P)
    return torch.einsum("ncp,mcp->nm", flat, flat)


def timed(fn, repeats: int = 1):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def entk(model: torch.nn.Module, packed: torch.Tensor, params: str | None = None):  # type: ignore[no-untyped-def]
    return compute_entk_result(model, packed, mode="trace", device="cpu", params=params)


def lora(model: torch.nn.Module) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    adapted = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8, target_modules=["query", "value"]))
    with torch.no_grad():  # B starts at zero; a trained adapter's is not
        for name, p in adapted.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    return adapted.eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--recipe-n", default="25,50")
    parser.add_argument("--skip-lora", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    folder = Path(tempfile.mkdtemp())
    packed, keys = probe(args.n, folder)
    model = as_text_classifier(bert(), keys, "classifier")
    params = sum(p.numel() for p in model.parameters())
    real = float(packed[:, keys.index("attention_mask")].float().mean())
    print(f"## bench_text.py (issue 21; {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)\n")
    print(f"BertForSequenceClassification 6 layers x 256 (4 heads, FFN 1024, vocab 30,522): {params:,} parameters; "
          f"probe sst2:{args.n} at L={LENGTH} ({real:.0%} of positions real tokens); trace mode, float32\n")
    rate = gemm_rate("cpu", torch.float32)
    seconds, result = timed(lambda: entk(model, packed))
    passes = pass_flops(model, packed[0])
    flops = estimate_kernel(result.plan, passes, rate, rate).flops
    paths = {}
    for layer in result.plan.layers:
        paths[layer.path] = paths.get(layer.path, 0) + 1
    print(f"| method | N | seconds | FLOPs (plan) | fraction of float32 GEMM rate ({rate / 1e9:.0f} GFLOP/s) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| entk-probe | {args.n} | {seconds:.1f} | {flops:.3g} | {flops / seconds / rate:.0%} |")
    raw = bert()  # the same weights, called as transformers defines it
    small = {}
    for n in (int(v) for v in args.recipe_n.split(",")):
        sub = packed[:n]
        s_entk, k_entk = timed(lambda: entk(model, sub).kernel)
        s_recipe, k_recipe = timed(lambda: recipe(raw, sub, keys))
        diff = float((k_entk - k_recipe.double()).abs().max() / k_recipe.abs().max())
        small[n] = (s_entk, s_recipe)
        print(f"| entk-probe | {n} | {s_entk:.2f} | | |")
        print(f"| torch.func recipe (Jacobian once) | {n} | {s_recipe:.2f} | | max rel. diff {diff:.1e} |")
    (n1, (_, r1)), (n2, (_, r2)) = sorted(small.items())[:2]
    # recipe time ≈ a·N (Jacobian) + b·N² (Gram): fitted on the two sizes, extrapolated to N
    b = (r2 / n2 - r1 / n1) / (n2 - n1)
    a = r1 / n1 - b * n1
    projected = a * args.n + b * args.n**2
    print(f"\nrecipe at N={args.n}, extrapolated as a·N + b·N² from N={n1} and {n2}: {projected:.0f} s "
          f"(its Jacobian alone would be {args.n * 2 * params * 4 / 2**30:.0f} GiB); entk-probe {seconds:.1f} s: "
          f"{projected / seconds:.1f}x. Paths: {paths}")
    if not args.skip_lora:
        adapted = as_text_classifier(lora(bert()), keys, "classifier")
        s_lora, r_lora = timed(lambda: entk(adapted, packed))
        print(f"\nLoRA r=8 (query, value; classifier saved): kernel over {sum(p.numel() for p in adapted.parameters() if p.requires_grad):,} "
              f"adapter parameters at N={args.n}: {s_lora:.1f} s against the full kernel's {seconds:.1f} s "
              f"({s_lora / seconds:.0%})")


if __name__ == "__main__":
    main()
