#!/usr/bin/env bash
# The real runs behind docs/phases.md: train on the CIFAR-10 subset of ../shared/data, analyse
# each run with entk-probe, write the JSON reports to docs/experiments/results/ and the tables
# to docs/experiments/real_runs.md. About 40 minutes on two CPU cores (the MLP's kernels most).
# Checkpoints go to $RUNS (default /tmp/entk-probe-runs), not into the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
ENTK=${ENTK:-.venv/bin/entk-probe}
RUNS=${RUNS:-/tmp/entk-probe-runs}
OUT=docs/experiments/results
mkdir -p "$RUNS" "$OUT"
train() { [ -d "$RUNS/$1" ] || $PY docs/experiments/train_cifar.py --out "$RUNS/$1" "${@:2}"; }
train test_resnet --arch test_resnet --lr 0.05 --epochs 20
train r20 --arch resnet20_cifar --plugins plugins --lr 0.1 --epochs 20
train r20cos --arch resnet20_cifar --plugins plugins --lr 0.1 --cosine --epochs 20
train r20lr01 --arch resnet20_cifar --plugins plugins --lr 0.01 --epochs 20
train mlp4096 --arch mlp2_cifar --plugins docs/experiments/cifar_mlp.py --model-kwargs width=4096 --lr 1e-3 --epochs 8
for run in test_resnet r20 r20cos r20lr01; do
  $ENTK analyze "$RUNS/$run" --probe cifar10:200 --data-root ../shared/data --plugins plugins --device cpu \
    --json "$OUT/$run.json" --plot "$OUT/$run.png" > "$OUT/$run.txt"
done
# 12.6M parameters: the Jacobian of the 3072x4096 weight is split into column ranges (about 30 minutes)
$ENTK analyze "$RUNS/mlp4096" --probe cifar10:64 --data-root ../shared/data --plugins docs/experiments/cifar_mlp.py \
  --device cpu --max-memory 14GiB --json "$OUT/mlp4096.json" --plot "$OUT/mlp4096.png" > "$OUT/mlp4096.txt"
$ENTK analyze "$RUNS/r20cos" --probe cifar10:200 --data-root ../shared/data --plugins plugins --device cpu \
  --buffer-motion --range 0:3 --json "$OUT/r20cos_buffers.json" > "$OUT/r20cos_buffers.txt"
$PY docs/experiments/synthetic_phases.py > docs/experiments/synthetic_phases.md
$PY docs/experiments/summarize_runs.py "$OUT"/test_resnet.json "$OUT"/r20.json "$OUT"/r20cos.json "$OUT"/r20lr01.json \
  "$OUT"/mlp4096.json > docs/experiments/real_runs.md
# The switch experiment (docs/phases.md, "Function space"): a minute each
for lr in 0.01 0.05; do
  $ENTK switch "$RUNS/test_resnet" --train cifar10:3660,split=train --eval cifar10:860 --probe cifar10:200 \
    --data-root ../shared/data --at boundary,0.258,3,10,20 --epochs 2 --lr $lr --momentum 0.9 --weight-decay 0 \
    --batch-size 128 --json "$OUT/test_resnet_switch_lr${lr/./}.json" > "$OUT/test_resnet_switch_lr${lr/./}.txt"
done
