#!/usr/bin/env bash
# /recommend with 50 active merchandising rules, fatigue and exploration on,
# against the same build with all three off, in one run: a release build on
# the demo (SQLite in a temp dir), ROUNDS alternating runs of DURATION
# seconds each (off, on, off, on, ...), wrk on the same machine.
#   scripts/load-feedback.sh        DURATION=10 ROUNDS=3 scripts/load-feedback.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-15}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-18083}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
pid=
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
BIN=${BIN:-./target/release/courserec}
base="127.0.0.1:$PORT"

start() { # $1: on|off
    if [ "$1" = on ]; then
        export COURSEREC_SERVE__EXPLORATION=0.05 COURSEREC_SERVE__FATIGUE__MAX_IMPRESSIONS=5
    else
        export COURSEREC_SERVE__EXPLORATION=0 COURSEREC_SERVE__FATIGUE__MAX_IMPRESSIONS=0
    fi
    COURSEREC_LOG__FILTER=warn COURSEREC_TRAIN__ENABLED=false "$BIN" serve --demo --listen "$base" \
        --database-url "sqlite://$work/demo.db" &
    pid=$!
    for _ in $(seq 1 600); do
        curl -sf "$base/model" 2>/dev/null | grep -q '"serving"' && return 0
        sleep 0.5
    done
    echo "no model after 300 s"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

rules() { # $1: put|delete; 50 rules over the demo's courses and categories
    for i in $(seq 1 50); do
        if [ "$1" = delete ]; then
            curl -sf -XDELETE "$base/rules/load-$i" >/dev/null || true
            continue
        fi
        case $((i % 4)) in
            0) body="{\"action\":\"boost\",\"course_ids\":[\"c$(printf %03d $((i * 7 % 336 + 1)))\"],\"weight\":0.3}" ;;
            1) body="{\"action\":\"bury\",\"course_ids\":[\"c$(printf %03d $((i * 11 % 336 + 1)))\"],\"weight\":0.2}" ;;
            2) body="{\"action\":\"block\",\"course_ids\":[\"c$(printf %03d $((i * 13 % 336 + 1)))\"]}" ;;
            3) body="{\"action\":\"boost\",\"category\":\"python\",\"weight\":0.05,\"segments\":[$((i % 8))]}" ;;
        esac
        curl -sf -XPUT "$base/rules/load-$i" -H 'content-type: application/json' -d "$body" >/dev/null
    done
}

for r in $(seq 1 "$ROUNDS"); do
    for mode in off on; do
        start "$mode"
        if [ "$mode" = on ]; then rules put; else rules delete; fi
        active=$(curl -sf "$base/metrics" | awk '/^courserec_rules_active /{print $2}')
        echo "== round $r, $mode (rules active: $active): GET /recommend/<user>?n=10, ${DURATION}s, $CONNECTIONS connections"
        wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/wrk-recommend.lua "http://$base" | tail -3
        [ "$mode" = on ] && curl -s "$base/metrics" | grep '^courserec_served_items_total' | grep -v ' 0$' || true
        stop
    done
done
