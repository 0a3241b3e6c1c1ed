#!/usr/bin/env bash
# Times `courserec import` of a generated CSV (default 1,000,000 events) into a
# fresh Postgres database.   EVENTS=1000000 scripts/load-import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-1000000}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
work=$(mktemp -d)
dbname="courserec_import_$$"
trap 'psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" || true; rm -rf "$work"' EXIT

python3 - "$work/events.csv" "$EVENTS" <<'PY'
import csv, sys, random
random.seed(7)
kinds = ["view"] * 6 + ["click"] * 3 + ["add_to_cart", "purchase", "rating", "watch"]
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["user_id", "course_id", "type", "value", "ts", "event_id", "rec_id"])
    for i in range(int(sys.argv[2])):
        k = random.choice(kinds)
        v = random.randint(1, 5) if k == "rating" else (round(random.random(), 2) if k == "watch" else "")
        day = 1 + i % 28
        w.writerow([f"u{random.randrange(100000)}", f"c{random.randrange(20000)}", k, v,
                    f"2026-10-{day:02d}T12:00:00Z", f"imp-{i}", ""])
PY
ls -lh "$work/events.csv" | awk '{print "csv:", $5}'
psql "$PG_ADMIN" -qc "CREATE DATABASE $dbname"
url="${PG_ADMIN%/*}/$dbname"
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
${BIN:-./target/release/courserec} migrate --database-url "$url" >/dev/null
start=$(date +%s.%N)
${BIN:-./target/release/courserec} import --events "$work/events.csv" --database-url "$url"
end=$(date +%s.%N)
echo "import seconds: $(echo "$end - $start" | bc)"
psql "${url}" -Atc "SELECT 'rows in events: ' || count(*) FROM events"
