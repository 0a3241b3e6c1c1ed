#!/usr/bin/env bash
# Times GET /campaigns/<id>/report on Postgres over the demo platform grown to
# about 1,000,000 events (USERS learners), loaded through `courserec import`
# (the bulk path), trained once, with simulated responses in the window.
# Prints the median of RUNS timed reports for a category campaign (the whole
# audience of a category) and for a course campaign.
#   USERS=20000 RUNS=11 scripts/campaign-report.sh      (NO_BUILD=1 to skip cargo,
#   BIN= and DEMO_CSV= for other builds of the binary and the CSV generator,
#   KEEP_DB=1 to keep the database for a look)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS="${USERS:-20000}"
RUNS="${RUNS:-11}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${BIN:-./target/release/courserec}"
DEMO_CSV="${DEMO_CSV:-./target/release/examples/demo_csv}"
work=$(mktemp -d)
dbname="courserec_campaign_$$"
url="${PG_ADMIN%/*}/$dbname"
port=$((20000 + $$ % 20000))
base="http://127.0.0.1:$port"
server=""
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null || true
    [ -z "$server" ] || wait "$server" 2>/dev/null || true
    [ -n "${KEEP_DB:-}" ] || psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" || true
    rm -rf "$work"
}
trap cleanup EXIT

[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin courserec --example demo_csv
"$DEMO_CSV" "$USERS" "$work"
psql "$PG_ADMIN" -qc "CREATE DATABASE $dbname"
"$BIN" migrate --database-url "$url" >/dev/null
t0=$(date +%s.%N)
"$BIN" import --courses "$work/courses.csv" --events "$work/events.csv" --database-url "$url"
t1=$(date +%s.%N)
echo "import seconds: $(echo "$t1 - $t0" | bc)"
"$BIN" train --database-url "$url" >/dev/null
t2=$(date +%s.%N)
echo "train seconds: $(echo "$t2 - $t1" | bc)"
psql "$url" -Atc "SELECT 'rows in events: ' || count(*) FROM events"

# No background training while timing: the persisted model serves.
COURSEREC_TRAIN__ENABLED=false COURSEREC_LOG__FILTER=warn \
    "$BIN" serve --listen "127.0.0.1:$port" --database-url "$url" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
    curl -sf "$base/readyz" >/dev/null && curl -sf "$base/model" | jq -e '.marketing' >/dev/null && break
    sleep 0.2
done

# One campaign over a whole category's audience, one over a course's.
category=$(curl -sf "$base/popular?n=1" | jq -r '.items[0].course_id' |
    xargs -I{} curl -sf "$base/courses/{}" | jq -r '.category')
course=$(curl -sf "$base/popular?n=1" | jq -r '.items[0].course_id')
create() {
    curl -sf -X POST "$base/campaigns" -H 'content-type: application/json' -d "$1" | jq -r '.campaign_id'
}
cat_id=$(create "{\"name\":\"timing-category\",\"category\":\"$category\",\"discount_pct\":20}")
course_id=$(create "{\"name\":\"timing-course\",\"course_id\":\"$course\",\"discount_pct\":20}")

# Responses in the window: a third of each campaign's recipients buy its
# offer, and 5 % of all learners buy something of the category. The course is
# of the category, so the course campaign's responses also convert members of
# the category campaign, in both of its arms.
curl -sf -H 'accept: text/csv' "$base/campaigns/$cat_id/recipients" | tail -n +2 >"$work/cat.txt"
curl -sf -H 'accept: text/csv' "$base/campaigns/$course_id/recipients" | tail -n +2 >"$work/course.txt"
python3 - "$work" "$category" "$course" "$USERS" <<'PY'
import csv, json, random, sys
work, category, course, users = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
random.seed(11)
in_cat = [r["id"] for r in csv.DictReader(open(f"{work}/courses.csv")) if r["category"] == category]
events = []
for u in open(f"{work}/cat.txt").read().split():
    if random.random() < 1 / 3:
        events.append({"user_id": u, "course_id": random.choice(in_cat), "type": "purchase"})
for u in open(f"{work}/course.txt").read().split():
    if random.random() < 1 / 3:
        events.append({"user_id": u, "course_id": course, "type": "purchase"})
for u in range(users):
    if random.random() < 0.05:
        events.append({"user_id": f"u{u:05}", "course_id": random.choice(in_cat), "type": "purchase"})
for i in range(0, len(events), 1000):
    json.dump({"events": events[i:i + 1000]}, open(f"{work}/batch{i // 1000:04}.json", "w"))
print(f"responses: {len(events)} purchases")
PY
for f in "$work"/batch*.json; do
    curl -sf -X POST "$base/events" -H 'content-type: application/json' --data-binary "@$f" >/dev/null
done
sleep 1

time_report() {
    local id=$1 name=$2
    curl -sf "$base/campaigns/$id/report" |
        jq -c "{campaign: \"$name\", treatment: .treatment, control: .control, uplift, p_value}"
    for _ in $(seq 1 "$RUNS"); do
        curl -sf -o /dev/null -w '%{time_total}\n' "$base/campaigns/$id/report"
    done | sort -n | awk -v name="$name" '{t[NR] = $1} END {
        printf "%s report over %d runs: median %.1f ms, min %.1f ms, max %.1f ms\n",
            name, NR, 1000 * t[int((NR + 1) / 2)], 1000 * t[1], 1000 * t[NR] }'
}
time_report "$cat_id" category
time_report "$course_id" course
