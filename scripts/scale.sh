#!/usr/bin/env bash
# Scale benchmark on Postgres: generates EVENTS events with realistic skew
# (examples/scale_events.rs), imports them into a fresh database, trains
# once, and prints the import time, each training phase's time and memory,
# and the peak resident memory of the whole `courserec train` process.
#   EVENTS=5000000 LEARNERS=200000 COURSES=20000 scripts/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-5000000}"
LEARNERS="${LEARNERS:-200000}"
COURSES="${COURSES:-20000}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
work=$(mktemp -d)
dbname="courserec_scale_$$"
# KEEP=1 keeps the database for a closer look (its URL is printed).
if [ -n "${KEEP:-}" ]; then
  trap 'rm -rf "$work"; echo "kept: ${PG_ADMIN%/*}/$dbname"' EXIT
else
  trap 'psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" || true; rm -rf "$work"' EXIT
fi

[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin courserec --example scale_events
BIN="${BIN:-./target/release/courserec}"
t() { date +%s.%N; }

s=$(t)
./target/release/examples/scale_events "$EVENTS" "$LEARNERS" "$COURSES" "$work"
echo "generate seconds: $(echo "$(t) - $s" | bc)  csv: $(du -h "$work/events.csv" | cut -f1)"

psql "$PG_ADMIN" -qc "CREATE DATABASE $dbname"
url="${PG_ADMIN%/*}/$dbname"
"$BIN" migrate --database-url "$url" >/dev/null
s=$(t)
COURSEREC_LOG__FILTER=error "$BIN" import --database-url "$url" --courses "$work/courses.csv" --events "$work/events.csv" >/dev/null
echo "import seconds: $(echo "$(t) - $s" | bc)"

# Two trainings: the first also compacts the whole log into the rollup; the
# second is the steady state (only events since the last compaction are new).
for run in first second; do
  s=$(t)
  COURSEREC_LOG__FILTER=error /usr/bin/time -v "$BIN" train --database-url "$url" >"$work/train.out" 2>"$work/train.err" || { cat "$work/train.err"; exit 1; }
  wall=$(echo "$(t) - $s" | bc)
  # Each phase resets the kernel's high-water mark (clear_refs), which is
  # also what getrusage reports at exit, so `time -v` sees only the peak
  # since the last phase began; the process's peak is the largest phase peak.
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print int($2 / 1024)}' "$work/train.err")
  python3 - "$work/train.out" "$wall" "$rss" "$run" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
doc = json.loads(text[text.index("{"):])
phases = doc.get("phases", [])
peak = max([p["peak_rss_bytes"] / 2**20 for p in phases] + [float(sys.argv[3])])
print(f"train ({sys.argv[4]}): wall seconds {float(sys.argv[2]):.1f}, peak RSS {peak:.0f} MiB")
for p in phases:
    print(f"  {p['name']:<9} {p['seconds']:7.2f} s  {p['peak_rss_bytes'] / 2**20:7.0f} MiB")
PY
done
