#!/usr/bin/env bash
# Compares courserec's ALS with benfred/implicit 0.7.3 on the same data, in
# the same run, both with 2 threads.
#   bench/compare-implicit.sh [ml|synthetic|all]   (default all)
# Env: DATA (default ../shared/datasets/ml-100k), REPEAT (default 5 for
# ML-100K, 3 for synthetic), WORK (scratch dir, default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
DATA=${DATA:-../shared/datasets/ml-100k}
VENV=bench/.venv
if ! "$VENV/bin/python" -c 'import implicit' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet implicit==0.7.3
fi
# One BLAS thread per worker; two workers on each side.
export OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1 RAYON_NUM_THREADS=2
cargo build --quiet --release --example eval_ml100k --example synthetic
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
bin=target/release/examples

if [[ $mode == ml || $mode == all ]]; then
    for split in random temporal; do
        "$bin/eval_ml100k" --data "$DATA" --split "$split" --seed 42 --k 10 \
            --dump "$WORK/ml-$split" --repeat "${REPEAT:-5}" --json > "$WORK/rust-ml-$split.json"
        "$VENV/bin/python" bench/compare_implicit.py ml "$WORK/ml-$split" \
            "$WORK/rust-ml-$split.json" --repeat "${REPEAT:-5}"
    done
fi

if [[ $mode == synthetic || $mode == all ]]; then
    [[ -f $WORK/synth/meta.txt ]] || "$bin/synthetic" --dump "$WORK/synth" \
        --users 100000 --items 20000 --nnz 5000000 --seed 42
    "$bin/synthetic" --load "$WORK/synth" --repeat "${REPEAT:-3}" --json > "$WORK/rust-synth.json"
    "$VENV/bin/python" bench/compare_implicit.py synthetic "$WORK/synth" \
        "$WORK/rust-synth.json" --repeat "${REPEAT:-3}"
fi
