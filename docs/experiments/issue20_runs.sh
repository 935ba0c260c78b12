#!/usr/bin/env bash
# Issue 20's real runs: the schedules people train with (step decay, cosine, warm-up + cosine,
# OneCycle, constant), dense early checkpoints then one an epoch, and even spacing. Each run's
# trace kernels on cifar10:300 are saved (dump_kernels.py) for the probe-resampling evidence of
# docs/phases.md (docs/experiments/boundary_evidence.py). Checkpoints and kernels go to $RUNS and
# $KERNELS, not into the repository. About 5 minutes a run on two CPU cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-/tmp/entk-probe-runs}
KERNELS=${KERNELS:-/tmp/entk-kernels}
mkdir -p "$RUNS" "$KERNELS"
r20=(--arch resnet20_cifar --plugins plugins)
dense=(--crops --every 4 --dense-until 4 --epochs 20)   # a checkpoint every 4 steps up to epoch 4
sparse=(--crops --early 0,1,2,3,6,11,20)                # dense early, then one an epoch
run() {
  local name=$1; shift
  [ -f "$RUNS/$name/.done" ] || { rm -rf "$RUNS/$name"; $PY docs/experiments/train_cifar.py --out "$RUNS/$name" "$@" > "$RUNS/$name.log" 2>&1; touch "$RUNS/$name/.done"; }
  [ -f "$KERNELS/$name.npz" ] || $PY docs/experiments/dump_kernels.py "$RUNS/$name" "$KERNELS/$name.npz"
}
# tuning set
run r20cos_s "${r20[@]}" --lr 0.1 --cosine "${sparse[@]}" --epochs 20
run r20oc_s "${r20[@]}" --lr 0.1 --onecycle --warmup 0.15 "${sparse[@]}" --epochs 20
run cnx_oc_s --arch test_convnext --optimizer adam --lr 0.002 --onecycle --warmup 0.15 "${sparse[@]}" --epochs 20
run ts_oc_s --arch test_resnet --lr 0.05 --onecycle --warmup 0.15 "${sparse[@]}" --epochs 30
run ts_step --arch test_resnet --lr 0.05 --drop 3:0.005 "${dense[@]}"
run r20drop "${r20[@]}" --lr 0.1 --drop 3:0.01 "${dense[@]}"
run r20crops "${r20[@]}" --lr 0.1 "${dense[@]}"
run ts_onecycle --arch test_resnet --lr 0.1 --onecycle "${dense[@]}"
run convnext_step --arch test_convnext --optimizer adam --lr 0.001 --drop 3:0.0001 "${dense[@]}"
# held out: not looked at while the rule was chosen
run r20wc_even "${r20[@]}" --lr 0.1 --cosine --warmup 0.1 --crops --every 8 --dense-until 15 --epochs 15 --seed 1
run ts_const_s --arch test_resnet --lr 0.05 "${sparse[@]}" --epochs 20 --seed 1
run r20drop_s "${r20[@]}" --lr 0.1 --drop 5:0.01 "${sparse[@]}" --epochs 20 --seed 2
run cnx_cos_s --arch test_convnext --optimizer adam --lr 0.002 --cosine --warmup 0.05 "${sparse[@]}" --epochs 20 --seed 1
