#!/usr/bin/env bash
# Learning-path load test: a release build on the demo data (SQLite in a
# temp dir, a free port), wrk on the same machine against 127.0.0.1 for
# DURATION seconds on GET /users/<track learner>/path?category=<cat>, then
# on GET /courses/<id>/next. Prints req/s, p50/p99 and non-2xx for each.
#   scripts/load-paths.sh        DURATION=30 CONNECTIONS=64 NO_BUILD=1 BIN=target/release/courserec scripts/load-paths.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-32}"
# A free port unless one is given, so runs can overlap with other servers.
PORT="${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$work"' EXIT
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
COURSEREC_LOG__FILTER=warn ${BIN:-./target/release/courserec} serve --demo --listen "127.0.0.1:$PORT" \
    --database-url "sqlite://$work/demo.db" &
pid=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
    curl -sf "$base/model" 2>/dev/null | grep -q '"serving"' && break
    sleep 0.5
done
curl -sf "$base/model" | grep -q '"serving"' || { echo "no model after 150 s"; exit 1; }
curl -sf "$base/model" | python3 -c \
    'import json,sys; p=json.load(sys.stdin).get("paths") or {}; print("paths model:", p.get("transitions"), "transitions, blend serving:", p.get("serving_blend"))'
# One request of each first: a wrong route or demo fails here, not as a
# wall of non-2xx.
for probe in "/users/t00000/path?category=rust" "/courses/c001/next?n=10"; do
    code=$(curl -s -o "$work/probe.json" -w '%{http_code}' "$base$probe")
    [ "$code" = 200 ] || { echo "GET $probe: $code $(head -c 300 "$work/probe.json")"; exit 1; }
done
run() {
    echo "== $1, ${DURATION}s, 2 threads, $CONNECTIONS connections"
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/wrk-paths.lua "$base" -- "$2" | tail -3
}
run "GET /users/<t00000..t00799>/path?category=<14 demo categories>" path
run "GET /courses/<c001..c336>/next?n=10" next
