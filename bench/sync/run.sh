#!/bin/sh
# bench/sync/run.sh - pull-sync throughput: rows a second through
# `profilehub sync`, from the source plugin to committed profiles.
#
# ---- BigQuery -----------------------------------------------------------------
# The bigquery plugin against the fake BigQuery of the tests
# (tests/integration/fake_bigquery/server.js, a static token, plain http on
# loopback): SYNC_ROWS generated event rows (default 200000) of SYNC_USERS
# users (20000), three rows per timestamp, pages of SYNC_PAGE rows (10000:
# maxResults and the hub's page).  Two runs into a fresh SQLite store:
#   first   every row a new event (profiles created on the way): the path a
#           scheduled sync takes with new data
#   --full  the same rows again, every one a duplicate: reading, decoding
#           and mapping, with the writer only checking message_ids
# Prints rows/s for each (wall clock of the whole `profilehub sync`,
# including the query and the fake's own JSON encoding on the same two
# cores).  No target: figures only; the exit status is non-zero only when
# the benchmark could not run.  Summary lines go to $BENCH_SUMMARY.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${HUB_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
HUB="$B/profilehub"
ROWS=${SYNC_ROWS:-200000}
USERS=${SYNC_USERS:-20000}
PAGE=${SYNC_PAGE:-10000}
SUMMARY=${BENCH_SUMMARY:-/dev/null}

for tool in node jq curl; do
	command -v $tool >/dev/null || { echo "sync: $tool is not installed" >&2; exit 1; }
done
[ -x "$HUB" ] && [ -f "$B/plugins/bigquery.so" ] || { echo "sync: build first (make)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/bench_sync.XXXXXX")
FAKE_PID=
cleanup() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "== sync: BigQuery, $ROWS rows of $USERS users, pages of $PAGE"
jq -n --argjson rows "$ROWS" --argjson users "$USERS" --argjson page "$PAGE" '
  {bulk: {generate: $rows, users: $users, page_rows: $page, schema: [
     {name: "id", type: "INTEGER"}, {name: "user_id", type: "STRING"},
     {name: "email", type: "STRING"}, {name: "plan", type: "STRING"},
     {name: "updated_at", type: "TIMESTAMP"}, {name: "event_name", type: "STRING"}]}}' >"$T/data.json"
node tests/integration/fake_bigquery/server.js --port-file "$T/port" --static-token "bench-$$" \
	--data "$T/data.json" --page-rows "$PAGE" >"$T/fake.log" 2>&1 &
FAKE_PID=$!
n=0
until [ -s "$T/port" ]; do
	n=$((n + 1))
	[ $n -lt 400 ] || { echo "sync: the fake did not start: $(cat "$T/fake.log")" >&2; exit 1; }
	sleep 0.05
done
mkdir -p "$T/plugins"
ln -s "$B/plugins/bigquery.so" "$T/plugins/bigquery.so"
cat >"$T/hub.yaml" <<EOF
store:
  path: $T/hub.db
plugin_dir: $T/plugins
sources:
  - name: bulk
    plugin: bigquery
    endpoint: http://127.0.0.1:$(cat "$T/port")
    project: bench
    access_token: "bench-$$"
    query: SELECT * FROM bench.bulk WHERE updated_at >= :cursor ORDER BY updated_at, id
    cursor: [updated_at, id]
    page_size: $PAGE
    kind: events
    map: {custom_id: user_id, timestamp: updated_at, event: {name: event_name, properties: {plan: plan}}}
EOF

run() { # LABEL [--full]
	label=$1
	shift
	t0=$(now_ms)
	"$HUB" -c "$T/hub.yaml" sync bulk "$@" >"$T/out" 2>"$T/err" ||
		{ echo "sync: $label: $(cat "$T/err")" >&2; exit 1; }
	ms=$(($(now_ms) - t0))
	[ $ms -gt 0 ] || ms=1
	read_n=$(sed -n 's/^read \([0-9]*\),.*/\1/p' "$T/out")
	rate=$((read_n * 1000 / ms))
	echo "  $label: $(head -1 "$T/out") in $ms ms: $rate rows/s"
	echo "sync: bigquery $label: $rate rows/s ($read_n rows in $ms ms)" >>"$SUMMARY"
}
run "new events"
run "re-read (--full, all duplicates)" --full
