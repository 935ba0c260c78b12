"""Hugging Face Trainer runs end to end: the kernels of real runs against explicit float64 Jacobians of
the checkpoints loaded by transformers and peft themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from entk_probe.cli import main
from entk_probe.errors import UsageError
from entk_probe.pipeline import AnalyzeOptions, analyze

from ..data import SHARED
from ..reference import explicit_jacobian, relative_error
from ..textdata import needs_sst2, needs_text

pytestmark = [needs_sst2, needs_text]
PROBE = "sst2:12"
LENGTH = 24


def _options(tmp_path: Path, **kw: object) -> AnalyzeOptions:
    return AnalyzeOptions(data_root=SHARED, cache_dir=tmp_path / "cache", max_length=LENGTH, resamples=0,
                          jacobian_dtype=torch.float64, **kw)  # type: ignore[arg-type]


class _Logits(torch.nn.Module):
    """Sample i of the probe alone (its padding cut off), through a model transformers or peft loaded."""

    def __init__(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, words: list[int] | None) -> None:
        super().__init__()
        self.model, self.ids, self.mask, self.words = model, ids, mask, words

    def forward(self, i: torch.Tensor) -> torch.Tensor:
        n = int(i.reshape(-1)[0])
        length = int(self.mask[n].sum())
        logits = self.model(input_ids=self.ids[n : n + 1, :length]).logits  # (1, C) or (1, L, V)
        return logits if self.words is None else logits[:, -1, self.words]


def _reference(model: torch.nn.Module, probe_inputs: torch.Tensor, words: list[int] | None = None) -> torch.Tensor:
    wrapped = _Logits(model.double().eval(), probe_inputs[:, 0], probe_inputs[:, 1], words)
    trained = {f"model.{n}" for n, p in model.named_parameters() if p.requires_grad}
    jac = explicit_jacobian(wrapped, torch.arange(probe_inputs.shape[0]).unsqueeze(1), keep=lambda n: n in trained)
    return torch.einsum("ncp,mcp->nm", jac, jac)  # trace kernel (N, N)


def test_a_trainer_runs_kernels_are_those_of_its_checkpoints(bert_run: Path, tmp_path: Path) -> None:
    from transformers import BertForSequenceClassification

    result = analyze(bert_run, PROBE, _options(tmp_path))
    assert result.model.arch == "BertForSequenceClassification" and result.probe.is_text
    assert [r.checkpoint.step for r in result.runs] == [0, 2, 4, 6, 8, 12, 16, 24, 32, 40]
    last = BertForSequenceClassification.from_pretrained(str(bert_run / "checkpoint-40"))
    expected = _reference(last, result.probe.inputs)
    assert relative_error(result.kernels[-1], expected) < 1e-9
    assert result.kernel_scope == "every parameter" and result.num_params == result.model_params
    assert any(row.get("eval_top1") is not None for row in result.training_log.values())  # log_history's eval_accuracy


def test_a_lora_runs_kernel_is_over_the_adapters_and_modules_to_save(lora_run: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import BertForSequenceClassification

    result = analyze(lora_run, PROBE, _options(tmp_path))
    assert result.param_names and all("lora_" in n or "modules_to_save" in n for n in result.param_names)
    assert result.num_params < result.model_params / 10 and "adapters" in result.kernel_scope
    base = BertForSequenceClassification.from_pretrained(str(lora_run.parent / "base"))
    adapted = PeftModel.from_pretrained(base, str(lora_run / "checkpoint-40"), is_trainable=True)
    assert relative_error(result.kernels[-1], _reference(adapted, result.probe.inputs)) < 1e-9
    widened = analyze(lora_run, PROBE, _options(tmp_path, params="*", max_checkpoints=2))
    assert widened.num_params == widened.model_params


def test_a_causal_lm_gives_the_logits_of_its_label_words(gpt2_run: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer, GPT2LMHeadModel

    result = analyze(gpt2_run, PROBE, _options(tmp_path, label_words=("terrible", "great"), max_checkpoints=2))
    assert result.num_classes == 2 and result.model.kwargs["prompt"] == "{text} It was"
    tokenizer = AutoTokenizer.from_pretrained(str(gpt2_run / "checkpoint-40"))
    words = [tokenizer.convert_tokens_to_ids(w) for w in ("terrible", "great")]
    last = GPT2LMHeadModel.from_pretrained(str(gpt2_run / "checkpoint-40"))
    assert relative_error(result.kernels[-1], _reference(last, result.probe.inputs, words)) < 1e-9
    with pytest.raises(UsageError, match="--label-words"):
        analyze(gpt2_run, PROBE, _options(tmp_path))


def test_an_adapter_whose_base_model_is_not_local_says_to_pass_base_model(lora_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "moved"
    (run / "checkpoint-2").mkdir(parents=True)
    for f in (lora_run / "checkpoint-2").iterdir():
        (run / "checkpoint-2" / f.name).write_bytes(f.read_bytes())
    config = json.loads((run / "checkpoint-2" / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "bert-base-uncased"  # a hub name: never downloaded
    (run / "checkpoint-2" / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="pass --base-model DIR"):
        analyze(run, PROBE, _options(tmp_path))
    result = analyze(run, PROBE, _options(tmp_path, base_model=lora_run.parent / "base"))
    assert len(result.runs) == 1


def test_the_command_line_reports_a_trainer_run_and_exports_its_text_probe(bert_run: Path, tmp_path: Path) -> None:
    env = {"ENTK_PROBE_CACHE": str(tmp_path / "cache"), "ENTK_PROBE_DATA": str(SHARED)}
    out = CliRunner(env=env).invoke(main, ["analyze", str(bert_run), "--probe", PROBE, "--max-length", str(LENGTH),
                                           "--max-checkpoints", "3", "--resamples", "0", "--json", "-", "--quiet"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["probe"]["text"]["keys"][:2] == ["input_ids", "attention_mask"]
    assert report["probe"]["text"]["max_length"] == LENGTH and report["kernel"]["scope"] == "every parameter"
    probe_file = tmp_path / "probe.safetensors"
    export = CliRunner(env=env).invoke(main, ["probe", "export", PROBE, "--tokenizer", str(bert_run / "checkpoint-0"),
                                              "--max-length", str(LENGTH), "-o", str(probe_file)])
    assert export.exit_code == 0, export.output
    again = CliRunner(env=env).invoke(main, ["analyze", str(bert_run), "--probe", f"file:{probe_file}",
                                             "--max-checkpoints", "3", "--resamples", "0", "--json", "-", "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["probe"]["sha256"] == report["probe"]["sha256"]


def test_switch_trains_a_text_run_and_its_linearisation_from_a_checkpoint(bert_run: Path, tmp_path: Path) -> None:
    from entk_probe.pipeline.switch import run_switch
    from entk_probe.pipeline.training import Optimiser

    options = AnalyzeOptions(data_root=SHARED, cache_dir=tmp_path / "cache", max_length=LENGTH)
    opt = Optimiser(lr=0.5, momentum=0.0, weight_decay=0.0, batch_size=8)
    report = run_switch(bert_run, "sst2:16,split=train", "sst2:12", "0", 1.0, opt, options)
    by_kind = {r.kind: r for r in report.results}
    assert {r.checkpoint for r in report.results} == {"checkpoint-0"} and set(by_kind) == {"standard", "linearized"}
    standard, linearised = by_kind["standard"], by_kind["linearized"]
    # Two SGD steps at lr 0.5 move both networks off the initial loss, and they are different models.
    assert standard.loss != linearised.loss and abs(standard.loss - 0.6931) > 1e-4


def test_kernel_writes_one_trainer_checkpoints_kernel(bert_run: Path, tmp_path: Path) -> None:
    from entk_probe.output.kernelfile import load_kernel

    env = {"ENTK_PROBE_CACHE": str(tmp_path / "cache"), "ENTK_PROBE_DATA": str(SHARED)}
    out = tmp_path / "k.safetensors"
    result = CliRunner(env=env).invoke(main, ["kernel", str(bert_run / "checkpoint-40"), "--probe", PROBE,
                                              "--max-length", str(LENGTH), "--jacobian-dtype", "float64", "-o", str(out)])
    assert result.exit_code == 0, result.output
    analysed = analyze(bert_run, PROBE, _options(tmp_path, glob="checkpoint-40/*"))
    assert relative_error(load_kernel(out)[0], analysed.kernels[0]) < 1e-12


def test_a_masked_lm_gives_its_label_words_at_the_mask_token(bert_run: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(str(bert_run / "checkpoint-0"))
    config = BertConfig.from_pretrained(str(bert_run / "checkpoint-0"))
    config.architectures = ["BertForMaskedLM"]
    run = tmp_path / "mlm"
    for step, seed in ((0, 0), (5, 1)):
        torch.manual_seed(seed)
        folder = run / f"checkpoint-{step}"
        BertForMaskedLM(config).save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    result = analyze(run, PROBE, _options(tmp_path, label_words=("bad", "good")))
    assert result.model.kwargs["prompt"] == "{text} It was {mask} ."
    ids, keys = result.probe.inputs, result.probe.input_keys
    mask_id = tokenizer.mask_token_id
    assert bool(((ids[:, keys.index("input_ids")] == mask_id).sum(dim=1) == 1).all())
    words = [tokenizer.convert_tokens_to_ids(w) for w in ("bad", "good")]
    last = BertForMaskedLM.from_pretrained(str(run / "checkpoint-5")).double().eval()

    class AtMask(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = last

        def forward(self, i: torch.Tensor) -> torch.Tensor:
            n = int(i.reshape(-1)[0])
            row, kept = ids[n, keys.index("input_ids")], int(ids[n, keys.index("attention_mask")].sum())
            position = int((row == mask_id).nonzero()[0, 0])
            return self.model(input_ids=row[None, :kept]).logits[:, position, words]

    jac = explicit_jacobian(AtMask(), torch.arange(ids.shape[0]).unsqueeze(1))
    assert relative_error(result.kernels[-1], torch.einsum("ncp,mcp->nm", jac, jac)) < 1e-9


def test_without_the_text_extra_the_core_imports_and_a_text_run_names_the_extra(bert_run: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['transformers'] = None; sys.modules['peft'] = None\n"
            "import entk_probe, entk_probe.cli\n"
            "from entk_probe.errors import UsageError\n"
            "from entk_probe.pipeline import AnalyzeOptions, analyze\n"
            "try:\n"
            f"    analyze(__import__('pathlib').Path({str(bert_run)!r}), 'sst2:12', AnalyzeOptions(cache=False))\n"
            "except UsageError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'entk-probe[text]'" in out.stdout
