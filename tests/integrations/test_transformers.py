"""The Hugging Face callback with the real Trainer on SST-2: its checkpoints, its reporters, analyze afterwards."""

from __future__ import annotations

from pathlib import Path

import torch

from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.probes import Target, make_probe
from entk_probe.probes.probe import TextTarget

from ..data import SHARED
from ..textdata import needs_sst2, needs_text
from ..textruns import TRAIN_SENTENCES, _classification_rows, bert_model, bert_tokenizer, sst2_sentences

pytestmark = [needs_sst2, needs_text]
STEPS = [0, 1, 2, 4, 8]


def test_the_trainer_saves_at_the_schedule_reports_the_kernel_and_analyze_recomputes_nothing(tmp_path: Path) -> None:
    import transformers
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from entk_probe.integrations.transformers import EntkProbeCallback

    tokenizer = bert_tokenizer()
    tokenizer.save_pretrained(str(tmp_path / "tok"))
    probe = make_probe("sst2:12", Target(None, text=TextTarget(tmp_path / "tok", 24, 64, None, "test")), data_root=SHARED)
    out = tmp_path / "run"
    args = transformers.TrainingArguments(
        output_dir=str(out), max_steps=8, per_device_train_batch_size=16, learning_rate=1e-3, save_strategy="no",
        save_only_model=True, report_to=["tensorboard"], logging_steps=100,
        use_cpu=True, seed=0, disable_tqdm=True, dataloader_num_workers=0, log_level="error")
    callback = EntkProbeCallback(probe, steps=STEPS, budget=None)
    trainer = transformers.Trainer(model=bert_model(tokenizer), args=args, processing_class=tokenizer,
                                   train_dataset=_classification_rows(tokenizer, sst2_sentences(TRAIN_SENTENCES // 10)),
                                   data_collator=transformers.DataCollatorWithPadding(tokenizer), callbacks=[callback])
    callback.trainer = trainer
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    assert sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")) == STEPS
    assert all(r.kernel_seconds is not None for r in callback.watcher.records)
    events = EventAccumulator(str(next(tmp_path.rglob("events.out.tfevents.*")).parent))  # the reporter's own folder
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("train/entk/centered_angle_from_first_deg")]
    assert [s for s, _ in logged] == STEPS
    result = analyze(out, "sst2:12", AnalyzeOptions(data_root=SHARED, max_length=24, cache_dir=tmp_path / "cache",
                                                    resamples=0))
    assert [r.checkpoint.step for r in result.runs] == STEPS and all(r.cached for r in result.runs)
    for (_, value), metrics in zip(logged, result.summary.checkpoints):
        assert abs(value - metrics.centered_angle_from_first_deg) < 1e-3


def test_a_language_models_label_words_are_kept_for_analyze_with_the_same_words(tmp_path: Path) -> None:
    import transformers

    from entk_probe.integrations.transformers import EntkProbeCallback

    from ..textruns import LABEL_WORDS, _lm_rows, gpt2_model, lm_tokenizer

    tokenizer = lm_tokenizer()
    tokenizer.save_pretrained(str(tmp_path / "tok"))
    target = Target(None, text=TextTarget(tmp_path / "tok", 24, 64, "{text} It was", "test"))
    probe = make_probe("sst2:12", target, data_root=SHARED)
    out = tmp_path / "run"
    args = transformers.TrainingArguments(
        output_dir=str(out), max_steps=4, per_device_train_batch_size=16, learning_rate=1e-2, save_strategy="no",
        save_only_model=True, report_to=[], use_cpu=True, seed=0, disable_tqdm=True, dataloader_num_workers=0,
        log_level="error")
    callback = EntkProbeCallback(probe, steps=[0, 2, 4], budget=None, label_words=LABEL_WORDS)
    trainer = transformers.Trainer(model=gpt2_model(tokenizer), args=args, processing_class=tokenizer,
                                   train_dataset=_lm_rows(tokenizer, sst2_sentences(200)),
                                   data_collator=transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False),
                                   callbacks=[callback])
    trainer.train()
    assert all(r.kernel_seconds is not None for r in callback.watcher.records)
    options = AnalyzeOptions(data_root=SHARED, max_length=24, cache_dir=tmp_path / "cache", resamples=0,
                             label_words=LABEL_WORDS)
    result = analyze(out, "sst2:12", options)
    assert [r.checkpoint.step for r in result.runs] == [0, 2, 4] and all(r.cached for r in result.runs)
    other = analyze(out, "sst2:12", AnalyzeOptions(data_root=SHARED, max_length=24, cache_dir=tmp_path / "cache2",
                                                   resamples=0, label_words=LABEL_WORDS[::-1]))
    assert not any(r.cached for r in other.runs)  # other outputs of the same weights: computed, not taken
