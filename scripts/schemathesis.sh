#!/usr/bin/env bash
# Property-based API tests with schemathesis against the live server, on
# SQLite and on Postgres, with the demo data: every operation of the
# generated OpenAPI document, positive and negative inputs. Fails on any
# 5xx, any response that violates its schema or content type, and any
# status the document does not list.
#   scripts/schemathesis.sh [sqlite|postgres|both]     (default both)
# Env: BIN (default target/debug/courserec, built if missing), PG (admin URL,
# default postgres://postgres@127.0.0.1:5432/test), EXAMPLES (per operation,
# default 40), VENV (default .ci/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
BIN=${BIN:-target/debug/courserec}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
EXAMPLES=${EXAMPLES:-40}
VENV=${VENV:-.ci/venv}
[ -x "$BIN" ] || cargo build --quiet
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

run() {
    local store=$1 url=$2 port=$3
    echo "== schemathesis on $store"
    COURSEREC_LOG__FILTER=warn "$BIN" serve --demo --listen "127.0.0.1:$port" --database-url "$url" \
        >"$work/$store.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -sf "127.0.0.1:$port/model" 2>/dev/null | grep -q '"serving"' && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/$store.log"; exit 1; }
        sleep 0.5
    done
    curl -sf "127.0.0.1:$port/model" | grep -q '"serving"' || { echo "no model after 300 s"; exit 1; }
    # One worker: Debian 12's Python 3.11 keeps the AST recursion depth per
    # interpreter, so hypothesis parsing lambdas on two threads at once can
    # fail with "AST constructor recursion depth mismatch" (a tool error,
    # not a finding).
    "$VENV/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --seed 20261202 \
        --workers 1 --request-timeout 30 --no-color --suppress-health-check all \
        --report junit --report-junit-path "target/schemathesis-$store.xml"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    if grep -q '"level":"ERROR"\|panicked' "$work/$store.log"; then
        echo "the server logged errors:"; grep '"level":"ERROR"\|panicked' "$work/$store.log" | head -20
        exit 1
    fi
}

if [[ $which == sqlite || $which == both ]]; then
    run sqlite "sqlite://$work/st.db" 18091
fi
if [[ $which == postgres || $which == both ]]; then
    db="courserec_schemathesis_$$"
    psql "$PG" -qc "CREATE DATABASE $db" >/dev/null
    trap 'cleanup; psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
    run postgres "${PG%/*}/$db" 18092
fi
