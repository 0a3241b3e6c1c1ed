#!/usr/bin/env bash
# Validates the OpenAPI document the binary serves with openapi-spec-validator
# (from PyPI, in the same virtual environment as schemathesis), and checks
# that every operationId is unique.
#   scripts/openapi-validate.sh        Env: BIN, VENV (as schemathesis.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/courserec}
VENV=${VENV:-.ci/venv}
[ -x "$BIN" ] || cargo build --quiet
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/openapi-spec-validator" --help >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check openapi-spec-validator==0.7.2
fi
doc=$(mktemp --suffix=.json)
trap 'rm -f "$doc"' EXIT
"$BIN" openapi >"$doc"
"$VENV/bin/openapi-spec-validator" "$doc"
"$VENV/bin/python" - "$doc" <<'PY'
import collections, json, sys
doc = json.load(open(sys.argv[1]))
ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()
       if isinstance(op, dict) and "operationId" in op]
dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
assert not dupes, f"operationIds used more than once: {dupes}"
print(f"{len(ids)} operations, every operationId unique")
PY
# `courserec openapi | head` ends quietly when the reader stops early.
out=$("$BIN" openapi 2>&1 | head -c 100 >/dev/null; echo "${PIPESTATUS[0]}")
[ "$out" = 0 ] || { echo "courserec openapi | head failed with $out"; exit 1; }
