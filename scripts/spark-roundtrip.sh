#!/usr/bin/env bash
# The Spark round trip on the demo platform: an empty SQLite store filled by
# `serve --demo` until its first model is published, `export-interactions`,
# Spark MLlib's implicit ALS on the export (examples/python/train_spark.py,
# local[2]), `import-factors` through the training's gate, then a native
# `courserec train` on the same store for the like-for-like figure. Prints
# each phase's time, import-factors' report and a table of native vs Spark
# (fit wall time, NDCG@10 on the gate's holdout, popularity's NDCG@10).
# Exits non-zero if the import is refused (or anything else fails).
#   scripts/spark-roundtrip.sh
# Env: BIN (default target/debug/courserec, built if missing), VENV (default
# .ci/spark-venv: pyspark, pyarrow and pandas from PyPI, created on first
# use), PORT (of the demo server, default 18093). Java comes from Debian's
# default-jre-headless when `java` is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/courserec}
VENV=${VENV:-.ci/spark-venv}
PORT=${PORT:-18093}
PYSPARK=3.5.9
PIP_PINS=("pyspark==$PYSPARK" pyarrow==18.1.0 pandas==2.2.3 numpy==1.26.4)
[ -x "$BIN" ] || cargo build --quiet

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
script_started=$(now)
phase_times=()
# phase NAME COMMAND...: runs it, prints and records its wall time.
phase() {
    local name=$1
    shift
    local t0
    t0=$(now)
    echo "==> $name"
    "$@"
    local s
    s=$(secs "$t0" "$(now)")
    phase_times+=("$name $s")
    echo "==> $name: $s s"
}

# Spark 3.5 runs on Java 8, 11 or 17 (Debian 12's default-jre-headless is
# 17). The package index is updated only when apt has no candidate.
java_runtime() {
    if ! command -v java >/dev/null; then
        if ! apt-cache policy default-jre-headless 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            apt-get update -q
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jre-headless
    fi
    java -version 2>&1 | head -1
    local major
    major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -1)
    case $major in
        1|8|11|17) ;;
        *) echo "warning: Java $major; pyspark $PYSPARK supports Java 8, 11 and 17" ;;
    esac
}

python_env() {
    if ! "$VENV/bin/python" -c "import pyspark, pyarrow, pandas; assert pyspark.__version__ == '$PYSPARK'" 2>/dev/null; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PIP_PINS[@]}"
    fi
    "$VENV/bin/python" -c "import pyspark, pyarrow, pandas; print('pyspark', pyspark.__version__, 'pyarrow', pyarrow.__version__, 'pandas', pandas.__version__)"
}

work=$(mktemp -d)
db="sqlite://$work/store.db"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The demo platform, served until its first model is published.
demo() {
    COURSEREC_LOG__FILTER=warn "$BIN" serve --demo --listen "127.0.0.1:$PORT" --database-url "$db" \
        >"$work/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -sf "127.0.0.1:$PORT/model" 2>/dev/null | grep -q '"serving"' && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
        sleep 0.5
    done
    curl -sf "127.0.0.1:$PORT/model" | grep -q '"serving"' || { echo "no model after 300 s"; exit 1; }
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    if grep -q ' ERROR \|"level":"ERROR"\|panicked' "$work/serve.log"; then
        echo "the server logged errors:"; grep ' ERROR \|"level":"ERROR"\|panicked' "$work/serve.log" | head -20
        exit 1
    fi
}

# The JSON a courserec command printed after its one-line summary.
json_of() { sed -n '/^{/,$p' "$1"; }

spark_train() {
    SPARK_LOCAL_IP=127.0.0.1 "$VENV/bin/python" examples/python/train_spark.py "$work/interactions.parquet" \
        --users "$work/users.parquet" --courses "$work/courses.parquet" | tee "$work/spark.out"
}

# Publishes only through the gate; exit 1 (refused) fails the script.
import_factors() {
    local rc=0
    "$BIN" import-factors --users "$work/users.parquet" --courses "$work/courses.parquet" \
        --database-url "$db" >"$work/import.out" 2>"$work/import.log" || rc=$?
    cat "$work/import.out"
    if [ "$rc" -ne 0 ]; then
        tail -20 "$work/import.log"
        echo "import-factors refused the Spark factors (exit $rc)"
        exit 1
    fi
}

# A native training on the same store and holdout. With refit_iterations 0
# its `fit` phase is a 15-iteration fit from scratch (on every pair, the
# holdout's too), comparable with Spark's; the gate's fit and NDCG do not
# depend on it.
native_train() {
    COURSEREC_TRAIN__REFIT_ITERATIONS=0 "$BIN" train --database-url "$db" \
        >"$work/train.out" 2>"$work/train.log"
    head -1 "$work/train.out"
}

phase java java_runtime
phase venv python_env
phase demo demo
phase export "$BIN" export-interactions --out "$work/interactions.parquet" --database-url "$db"
phase spark spark_train
phase import import_factors
phase native native_train

spark_fit=$(sed -n 's/^fit_seconds=//p' "$work/spark.out")
json_of "$work/import.out" >"$work/import.json"
json_of "$work/train.out" >"$work/train.json"
python3 - "$work/import.json" "$work/train.json" "$spark_fit" <<'EOF'
import json, sys
imp = json.load(open(sys.argv[1]))
train = json.load(open(sys.argv[2]))
spark_fit = float(sys.argv[3])
native_fit = next(p["seconds"] for p in train["phases"] if p["name"] == "fit")
rows = [
    ("native ALS (courserec train)", native_fit, train["metrics"]["ndcg"], train["baseline_metrics"]["ndcg"]),
    ("Spark ALS (import-factors)", spark_fit, imp["ndcg"], imp["baseline_ndcg"]),
]
print(f"{'':30} {'fit (s)':>8} {'NDCG@10':>8} {'popularity':>10}")
for name, fit, ndcg, base in rows:
    print(f"{name:30} {fit:8.2f} {ndcg:8.4f} {base:10.4f}")
EOF
printf 'phases (s):'
printf ' %s' "${phase_times[@]}"
echo
echo "==> total: $(secs "$script_started" "$(now)") s"
