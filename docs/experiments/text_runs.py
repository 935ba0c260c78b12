"""Make the README's Hugging Face runs: three real Trainer fine-tunings on SST-2 (CPU, seconds each).

    python docs/experiments/text_runs.py /tmp/hf

writes /tmp/hf/bert (a 2-layer BertForSequenceClassification, 40 steps), /tmp/hf/base (its initial
weights, saved with save_pretrained) and /tmp/hf/lora (LoRA r=4 on query and value of that base,
adapter-only checkpoints), and /tmp/hf/gpt2 (a 2-layer GPT2LMHeadModel trained on
"<sentence> it was great|terrible"), each with checkpoints at steps 0, 2, 4, 6, 8, 12, 16, 24, 32,
40 and the Trainer's trainer_state.json. The runs are the tests' own (tests/textruns.py): real
SST-2 from ../shared/data, a tokenizer built from it, nothing downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.textruns import make_bert_run, make_gpt2_run, make_lora_run  # noqa: E402


def main(root: Path) -> None:
    make_bert_run(root / "bert")
    make_lora_run(root / "lora", base_dir=root / "base")
    make_gpt2_run(root / "gpt2")
    print(f"wrote {root / 'bert'}, {root / 'lora'} (base {root / 'base'}) and {root / 'gpt2'}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python docs/experiments/text_runs.py FOLDER")
    main(Path(sys.argv[1]))
