"""Test-wide settings: a fixed seed, hypothesis's examples fixed too, and CUDA-marked tests skipped
with a reason on CPU machines; real Hugging Face Trainer runs on SST-2 (tests/textruns.py), built once a
session for the tests that use them (they carry needs_sst2 and needs_text, tests/textdata.py, so skipped
tests build none; a run's folder is shared: tests read it, never write it).

Property tests draw the same examples on every run (the "default" profile), so CI cannot fail by
chance; ``HYPOTHESIS_PROFILE=explore pytest tests/...`` draws new ones to hunt for bugs,
and any failure it finds belongs in the test as an ``@example``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from .textruns import make_bert_run, make_gpt2_run, make_lora_run

settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _private_kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Kernels the tests compute never land in (or come from) the user's cache."""
    os.environ["ENTK_PROBE_CACHE"] = str(tmp_path_factory.mktemp("kernel-cache"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; this machine has none (the CPU path is tested)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bert_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BertForSequenceClassification, 40 steps, checkpoints at textruns.SAVE_STEPS."""
    return make_bert_run(tmp_path_factory.mktemp("hf") / "bert")


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LoRA on the BERT saved in the run's sibling folder ``base`` (adapter checkpoints)."""
    root = tmp_path_factory.mktemp("hf")
    return make_lora_run(root / "lora", base_dir=root / "base")


@pytest.fixture(scope="session")
def gpt2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GPT2LMHeadModel fine-tuned as a language model on prompted SST-2."""
    return make_gpt2_run(tmp_path_factory.mktemp("hf") / "gpt2")


@pytest.fixture(scope="session")
def sharded_run(bert_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The BERT run's checkpoints 32 and 40 saved again by save_pretrained in 20 KB shards (with
    their trainer_state.json), in a run of their own."""
    from transformers import BertForSequenceClassification

    run = tmp_path_factory.mktemp("hf") / "sharded"
    for step in (32, 40):
        source, target = bert_run / f"checkpoint-{step}", run / f"checkpoint-{step}"
        BertForSequenceClassification.from_pretrained(str(source)).save_pretrained(str(target), max_shard_size="20KB")
        shutil.copy(source / "trainer_state.json", target / "trainer_state.json")
    return run


@pytest.fixture(scope="session")
def small_analysis(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A real ``Analysis`` of a small run (test_resnet, nine checkpoints, a synthetic probe of 3, 20 resamples),
    made once a session for the tests of its outputs (HTML report, notebook display); they read it, never change it."""
    import warnings

    from entk_probe.pipeline import AnalyzeOptions, analyze

    from .helpers import write_run

    run = tmp_path_factory.mktemp("small") / "run"
    write_run(run, steps=tuple(range(0, 45, 5)))
    with warnings.catch_warnings(record=True):  # the synthetic probe's and BatchNorm's: in the analysis's own list
        return analyze(run, "synthetic:3", AnalyzeOptions(device="cpu", resamples=20))
