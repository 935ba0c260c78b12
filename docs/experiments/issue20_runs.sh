#!/usr/bin/env bash
# Issue 20's real runs: the schedules people train with (cosine, warm-up + cosine, OneCycle, step
# decay, constant), dense early checkpoints then one an epoch, and even spacing. Each run's trace
# kernels on three random probe samples (cifar10:100 with seed=0, 1, 2) are saved
# (dump_kernels.py) for docs/experiments/boundary_evidence.py. Checkpoints and kernels go to $RUNS
# and $KERNELS, not into the repository. About 15 minutes a run on two idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-/tmp/entk-probe-runs}
KERNELS=${KERNELS:-/tmp/entk-kernels}
mkdir -p "$RUNS" "$KERNELS"
r20=(--arch resnet20_cifar --plugins plugins)
sparse=(--crops --early 0,1,2,3,6,11,20)  # dense early, then one an epoch
run() {
  local name=$1; shift
  [ -f "$RUNS/$name/.done" ] || { rm -rf "$RUNS/$name"; $PY docs/experiments/train_cifar.py --out "$RUNS/$name" "$@" > "$RUNS/$name.log" 2>&1; touch "$RUNS/$name/.done"; }
  [ -f "$KERNELS/$name.npz" ] && return  # an earlier dump on cifar10:300: its three disjoint samples of 100 serve
  for seed in 0 1 2; do
    [ -f "$KERNELS/${name}_s$seed.npz" ] || $PY docs/experiments/dump_kernels.py "$RUNS/$name" "$KERNELS/${name}_s$seed.npz" --probe "cifar10:100,seed=$seed"
  done
}
# looked at while the rule was chosen
run r20cos_s "${r20[@]}" --lr 0.1 --cosine "${sparse[@]}" --epochs 20
run cnx_oc_s --arch test_convnext --optimizer adam --lr 0.002 --onecycle --warmup 0.15 "${sparse[@]}" --epochs 20
run ts_oc_s --arch test_resnet --lr 0.05 --onecycle --warmup 0.15 "${sparse[@]}" --epochs 20
# held out: analysed only once the rule was fixed
run r20drop_s "${r20[@]}" --lr 0.1 --drop 5:0.01 "${sparse[@]}" --epochs 20 --seed 2
run ts_const_s --arch test_resnet --lr 0.05 "${sparse[@]}" --epochs 12 --seed 1
run r20wc_even "${r20[@]}" --lr 0.1 --cosine --warmup 0.1 --crops --early 0 --every 16 --dense-until 10 --epochs 10 --seed 1
