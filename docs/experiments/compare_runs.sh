#!/usr/bin/env bash
# Three real runs for `entk-probe compare --by lr`: test_resnet on the CIFAR-10 subset of
# ../shared/data, plain SGD (momentum 0.9) at a constant learning rate of 0.01, 0.05 or 0.2, and
# nothing else different (random crops and flips, dense early checkpoints then one an epoch,
# 8 epochs, seed 0). Each run is analysed on cifar10:100 (its JSON report and terminal report go
# beside it), then the three are compared, grouped and ordered by the lr each checkpoint records
# (metadata "training"). Checkpoints, logs and reports go to $RUNS, not into the repository.
# Under a minute a run and half a minute an analysis on one CPU core; the kernels are cached, so
# the comparison at the end takes seconds. Re-running skips what a .done marker says is done.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
ENTK=${ENTK:-.venv/bin/entk-probe}
RUNS=${RUNS:-/tmp/entk-probe-runs}
DATA=${DATA:-../shared/data}  # train_cifar.py reads the same folder
# The reported runs were made on one thread; torch's CPU results can change with the thread count.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
mkdir -p "$RUNS"
common=(--arch test_resnet --crops --early 0,1,2,3,6,11,20 --epochs 8 --seed 0)
run() {
  local name=$1; shift
  [ -f "$RUNS/$name/.done" ] || { rm -rf "$RUNS/$name"; $PY docs/experiments/train_cifar.py --out "$RUNS/$name" "$@" > "$RUNS/$name.log" 2>&1; touch "$RUNS/$name/.done"; }
  [ -f "$RUNS/$name.json.done" ] || { $ENTK analyze "$RUNS/$name" --probe cifar10:100 --data-root "$DATA" --json "$RUNS/$name.json" > "$RUNS/$name.analyze.log" 2>&1; touch "$RUNS/$name.json.done"; }
}
run cmp_lr001 "${common[@]}" --lr 0.01
run cmp_lr005 "${common[@]}" --lr 0.05
run cmp_lr02 "${common[@]}" --lr 0.2
$ENTK compare "$RUNS"/cmp_lr001 "$RUNS"/cmp_lr005 "$RUNS"/cmp_lr02 --probe cifar10:100 --data-root "$DATA" --by lr \
  --json "$RUNS/cmp_lr.json" --html "$RUNS/cmp_lr.html"
