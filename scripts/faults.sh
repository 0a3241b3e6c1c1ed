#!/usr/bin/env bash
# The fault battery of issue #8, run as an operator would break a deployment:
# kill -9 under concurrent ingest (3x per store), a full SQLite file, a cut
# Postgres connection, SIGTERM with 300 half-open connections, 10,000
# maximum-length unknown user ids, and 2,000 idle keep-alive connections
# (both stores). Prints the figures.
#
#   scripts/faults.sh                 # release build
#   PROFILE=debug scripts/faults.sh   # reuse the debug build
#   PG=postgres://postgres@127.0.0.1:5432/test scripts/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
exec python3 scripts/faults.py "target/$PROFILE/courserec" "${PG:-postgres://postgres@127.0.0.1:5432/test}" "$@"
