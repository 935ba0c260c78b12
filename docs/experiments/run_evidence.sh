#!/usr/bin/env bash
# The real runs behind docs/phases.md: train on the CIFAR-10 subset of ../shared/data, analyse
# each run with entk-probe, write the JSON reports to docs/experiments/results/ and the tables
# to docs/experiments/real_runs.md. About 80 minutes on two CPU cores (the MLP's kernels most).
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
# Issue 14's runs: random crops and flips, a checkpoint every 4 steps up to epoch 4
dense=(--crops --every 4 --dense-until 4 --epochs 20)
train ts_step --arch test_resnet --lr 0.05 --drop 3:0.005 "${dense[@]}"
train r20drop --arch resnet20_cifar --plugins plugins --lr 0.1 --drop 3:0.01 "${dense[@]}"
train r20crops --arch resnet20_cifar --plugins plugins --lr 0.1 "${dense[@]}"
train ts_onecycle --arch test_resnet --lr 0.1 --onecycle "${dense[@]}"
train convnext_step --arch test_convnext --optimizer adam --lr 0.001 --drop 3:0.0001 "${dense[@]}"
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
for run in ts_step r20drop r20crops ts_onecycle convnext_step; do
  $ENTK analyze "$RUNS/$run" --probe cifar10:100 --data-root ../shared/data --plugins plugins --device cpu \
    --json "$OUT/$run.json" --plot "$OUT/$run.png" > "$OUT/$run.txt"
done
$PY docs/experiments/synthetic_phases.py > docs/experiments/synthetic_phases.md
$PY docs/experiments/reclassify_runs.py "$OUT"/{test_resnet,r20,r20lr01,r20cos,r20crops,ts_step,r20drop,convnext_step,ts_onecycle}.json \
  > docs/experiments/reclassified_runs.md
$PY docs/experiments/summarize_runs.py "$OUT"/test_resnet.json "$OUT"/r20.json "$OUT"/r20cos.json "$OUT"/r20lr01.json \
  "$OUT"/mlp4096.json > docs/experiments/real_runs.md
# The switch experiment (docs/phases.md, "Function space"): a minute each
for lr in 0.01 0.05; do
  $ENTK switch "$RUNS/test_resnet" --train cifar10:3660,split=train --eval cifar10:860 --probe cifar10:200 \
    --data-root ../shared/data --at boundary,0.258,3,10,20 --epochs 2 --lr $lr --momentum 0.9 --weight-decay 0 \
    --batch-size 128 --json "$OUT/test_resnet_switch_lr${lr/./}.json" > "$OUT/test_resnet_switch_lr${lr/./}.txt"
done
# Issue 14's switch table (docs/phases.md): the analysis's boundary, 2 epochs from each switch point
for spec in r20lr01:200 r20:200 ts_step:100; do
  run=${spec%%:*}; n=${spec##*:}
  $ENTK switch "$RUNS/$run" --train cifar10:3660,split=train --eval cifar10:860 --probe cifar10:$n \
    --data-root ../shared/data --plugins plugins --at boundary,0.258,3,10 --epochs 2 --lr 0.01 --momentum 0.9 \
    --weight-decay 0 --batch-size 128 --json "$OUT/${run}_switch.json" > "$OUT/${run}_switch.txt"
done
