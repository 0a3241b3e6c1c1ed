#!/usr/bin/env bash
# Ingestion load test against a release build on Postgres (or SQLite with
# DB=sqlite). Bounded: each phase runs DURATION seconds against 127.0.0.1.
#   scripts/load-ingest.sh            # both phases, 30 s each
#   DURATION=10 DB=sqlite scripts/load-ingest.sh
#   IDS=1 scripts/load-ingest.sh      # batches with unique event_ids as well
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-30}"
DB="${DB:-postgres}"
PORT="${PORT:-18080}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

if [ "$DB" = postgres ]; then
    dbname="courserec_load_$$"
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname"
    url="${PG_ADMIN%/*}/$dbname"
else
    url="sqlite://$work/load.db"
fi

[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
COURSEREC_LOG__FILTER=warn ${BIN:-./target/release/courserec} serve --listen "127.0.0.1:$PORT" --database-url "$url" &
pid=$!
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

python3 - "$work" <<'PY'
import json, sys
kinds = ["view", "click", "add_to_cart", "purchase", "favorite"]
batch = [{"user_id": f"u{i % 997}", "course_id": f"c{i % 301}", "type": kinds[i % 5],
          "ts": "2026-11-01T12:00:00Z"} for i in range(500)]
json.dump({"events": batch}, open(f"{sys.argv[1]}/batch.json", "w"))
json.dump({"user_id": "u1", "course_id": "c1", "type": "view"}, open(f"{sys.argv[1]}/single.json", "w"))
PY

count() { curl -s "127.0.0.1:$PORT/metrics" | awk '/^courserec_events_ingested_total/ {s += $2} END {print s + 0}'; }

echo "== batches of 500 events, ${DURATION}s, 2 threads, 16 connections ($DB)"
before=$(count)
BODY_FILE="$work/batch.json" wrk -t2 -c16 -d"${DURATION}s" --latency -s scripts/wrk-post.lua "http://127.0.0.1:$PORT/events" | tail -4
after=$(count)
echo "events stored: $((after - before))  => $(( (after - before) / DURATION )) events/s"

if [ -n "${IDS:-}" ]; then
    echo "== batches of 500 events with unique event_ids, ${DURATION}s, 2 threads, 16 connections ($DB)"
    before=$(count)
    wrk -t2 -c16 -d"${DURATION}s" --latency -s scripts/wrk-post-ids.lua "http://127.0.0.1:$PORT/events" | tail -4
    after=$(count)
    echo "events stored: $((after - before))  => $(( (after - before) / DURATION )) events/s"
fi

echo "== single-event posts, ${DURATION}s, 2 threads, 64 connections ($DB)"
before=$(count)
BODY_FILE="$work/single.json" wrk -t2 -c64 -d"${DURATION}s" --latency -s scripts/wrk-post.lua "http://127.0.0.1:$PORT/events" | tail -4
after=$(count)
echo "events stored: $((after - before))  => $(( (after - before) / DURATION )) events/s"

if [ "$DB" = postgres ]; then
    kill "$pid"; wait "$pid" 2>/dev/null || true
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)"
fi
