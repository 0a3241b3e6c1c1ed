#!/usr/bin/env bash
# /recommend load test: a release build on the demo data (SQLite in a temp
# dir), wrk on the same machine against 127.0.0.1 for DURATION seconds.
# With EXPERIMENT=1 it then starts a two-arm A/B experiment and runs again,
# so the cost of assignment and impression logging is measured in one run.
#   scripts/load-recommend.sh        DURATION=10 CONNECTIONS=32 EXPERIMENT=1 scripts/load-recommend.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-18081}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
COURSEREC_LOG__FILTER=warn ${BIN:-./target/release/courserec} serve --demo --listen "127.0.0.1:$PORT" \
    --database-url "sqlite://$work/demo.db" &
pid=$!
for _ in $(seq 1 300); do
    curl -sf "127.0.0.1:$PORT/model" 2>/dev/null | grep -q '"serving"' && break
    sleep 0.5
done
curl -sf "127.0.0.1:$PORT/model" | grep -q '"serving"' || { echo "no model after 150 s"; exit 1; }
echo "== GET /recommend/<user>?n=10, ${DURATION}s, 2 threads, $CONNECTIONS connections"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/wrk-recommend.lua "http://127.0.0.1:$PORT" | tail -3
curl -s "127.0.0.1:$PORT/metrics" | grep '^courserec_recommendations_total'
if [ -n "${EXPERIMENT:-}" ]; then
    curl -sf -XPUT "127.0.0.1:$PORT/experiments/load" -H 'content-type: application/json' \
        -d '{"variants":[{"name":"model","weight":1},{"name":"popular","weight":1,"arm":"popular"}]}' >/dev/null
    echo "== the same with experiment 'load' running (assignment + impression log)"
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/wrk-recommend.lua "http://127.0.0.1:$PORT" | tail -3
    curl -s "127.0.0.1:$PORT/metrics" | grep -E '^courserec_(experiment_impressions_total|impressions_dropped_total)'
    curl -sf "127.0.0.1:$PORT/experiments/load/report" | python3 -c \
        'import json,sys; r=json.load(sys.stdin); print("report:", [(v["name"], v["users"], v["impressions"]) for v in r["variants"]])'
fi
