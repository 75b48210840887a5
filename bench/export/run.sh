#!/bin/sh
# bench/export/run.sh - how fast the exports deliver the change feed.
#
# A stream of EXPORT_RECORDS canonical records (tests/tools/gen_records)
# is imported three ways into fresh SQLite stores (durable commits):
#
#   1. no export configured: the ingest rate without a change feed
#   2. webhook (tests/integration/export_receiver.js on loopback, signature
#      checked, every change appended to a file) and postgres (a throwaway
#      PostgreSQL, tests/pgtest.sh) exports, imported while `profilehub
#      run` exports: the ingest rate with exports running, and the time
#      until both exports caught up (changes/s delivered while ingesting)
#   3. drain: the same records imported once more into a store that lists
#      both exports disabled (they hold the change feed from its first
#      change: nothing is pruned), and that feed delivered from scratch by
#      each export alone, enabled on a copy of the store each, nothing else
#      running: changes/s per export, from the hub's start until its lag is
#      0, checked against what the receiver or PostgreSQL got
#
# Targets (issue #8): the exports keep up with ingestion (caught up within
# 10% of the import's end, + 0.5 s for the polling of the lags) and
# ingestion with exports runs at >= 80% of the rate without them.  Prints PASS or MISS; fails only when it cannot
# run.  Knobs: EXPORT_RECORDS (100000), EXPORT_SEED (1), EXPORT_BATCH (500).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${HUB_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac

RECORDS=${EXPORT_RECORDS:-100000}
SEED=${EXPORT_SEED:-1}
BATCH=${EXPORT_BATCH:-500}
HUB="$B/profilehub"
GEN="$B/tests/tools/gen_records"
FREEPORT="$B/tests/tools/freeport"
SUMMARY=${BENCH_SUMMARY:-/dev/null}

note() { printf 'export: %s\n' "$*"; }
summary() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
die() {
	printf 'export: error: %s\n' "$*" >&2
	printf 'export: ERROR %s\n' "$*" >>"$SUMMARY"
	exit 1
}
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }
now() { date +%s.%N; }
verdict() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }

for f in "$HUB" "$GEN" "$FREEPORT"; do
	[ -x "$f" ] || die "$f not built (run make bench)"
done
for tool in node jq psql curl; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool missing (scripts/deps.sh)"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/bench_export.XXXXXX")
chmod 755 "$W"
hub_pid=""
rcv_pid=""
cleanup() {
	[ -n "$hub_pid" ] && kill -9 "$hub_pid" 2>/dev/null
	[ -n "$rcv_pid" ] && kill -9 "$rcv_pid" 2>/dev/null
	wait 2>/dev/null || true
	sh "$ROOT/tests/pgtest.sh" stop "$W/pg" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
# a closed terminal (HUP) or reader (PIPE) stops the run as ^C does: the trap cleans up
trap 'exit 130' HUP INT TERM PIPE

"$GEN" --seed "$SEED" --users $((RECORDS / 5)) --records "$RECORDS" >"$W/records.jsonl"
mkdir -p "$W/pg"
PG_URL=$(HUB_BUILD="$B" sh "$ROOT/tests/pgtest.sh" start "$W/pg") || die "PostgreSQL did not start"
# two ports, distinct (freeport never gives one listed in HUB_PORTS_FILE)
HUB_PORTS_FILE="$W/ports"
export HUB_PORTS_FILE
RPORT=$("$FREEPORT") || die "no free port"
HPORT=$("$FREEPORT") || die "no free port"
BENCH_SECRET="bench-secret-$$"
export PG_URL BENCH_SECRET
node "$ROOT/tests/integration/export_receiver.js" "$RPORT" "$BENCH_SECRET" "$W/received.jsonl" \
	>"$W/receiver.log" 2>&1 &
rcv_pid=$!
# await PID WHAT LOG CMD...: polls CMD for 10 s while PID (WHAT, logging
# to LOG) runs; dies naming WHAT when PID exits or CMD never succeeds
await() {
	a_pid=$1 a_what=$2 a_log=$3
	shift 3
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$a_pid" 2>/dev/null || die "$a_what exited at start: $(tail -3 "$a_log")"
		[ $i -le 100 ] || die "$a_what does not answer after 10 s"
		sleep 0.1
	done
}
await "$rcv_pid" "the webhook receiver" "$W/receiver.log" grep -q '^listening' "$W/receiver.log"
# rcv_stat FIELD: a figure of the receiver's GET /stats
rcv_stat() {
	curl -fs "http://127.0.0.1:$RPORT/stats" | jq -e ".$1" ||
		die "the webhook receiver does not answer GET /stats"
}

# config NAME DB EXPORTS: $W/NAME.yaml on store $W/DB.db; EXPORTS: none,
# both, hook, pg or keep (both, disabled).  No backfill: the drain
# measured is of the changes the import wrote.  A new export with
# backfill: false starts at the end of the feed, so the drained ones are
# listed (disabled) from the feed's first import on: they keep their place.
config() {
	{
		echo "store:"
		echo "  path: $W/$2.db"
		echo "http:"
		echo "  listen: 127.0.0.1:$HPORT"
		"$GEN" --print-config
		[ "$3" = none ] || echo "exports:"
		if [ "$3" = both ] || [ "$3" = hook ] || [ "$3" = keep ]; then
			cat <<EOF
  - name: hook
    plugin: webhook
    url: http://127.0.0.1:$RPORT/hook
    secret: "\${BENCH_SECRET}"
    batch_size: $BATCH
    backfill: false
EOF
			[ "$3" != keep ] || echo "    enabled: false"
		fi
		if [ "$3" = both ] || [ "$3" = pg ] || [ "$3" = keep ]; then
			cat <<EOF
  - name: pg
    plugin: postgres
    url: "\${PG_URL}"
    table: profiles
    batch_size: $BATCH
    backfill: false
EOF
			[ "$3" != keep ] || echo "    enabled: false"
		fi
	} >"$W/$1.yaml"
}

# import CONFIG: seconds the import took
import() {
	t0=$(now)
	"$HUB" -c "$W/$1.yaml" import "$W/records.jsonl" --source bench >"$W/$1.import" 2>&1 || true
	grep -q '^records ' "$W/$1.import" || die "import failed: $(tail -3 "$W/$1.import")"
	calc "$(now) - $t0"
}

hub_start() {
	"$HUB" -c "$W/$1.yaml" run >>"$W/hub.log" 2>&1 &
	hub_pid=$!
	await "$hub_pid" "the hub ($1)" "$W/hub.log" curl -fs "http://127.0.0.1:$HPORT/healthz"
}
hub_stop() {
	kill -TERM "$hub_pid"
	wait "$hub_pid" || true
	hub_pid=""
}
# lags CONFIG: the exports' lags, space-separated
lags() {
	"$HUB" -c "$W/$1.yaml" exports --json 2>/dev/null | jq -r '[.exports[].lag] | join(" ")'
}
# wait_caught_up CONFIG: polls until every lag is 0 (at most 20 min)
wait_caught_up() {
	i=0
	while :; do
		l=$(lags "$1")
		[ -n "$l" ] && [ "$(echo "$l" | tr -d ' 0')" = "" ] && return 0
		i=$((i + 1))
		[ $i -le 6000 ] || die "the exports did not catch up: lags $l"
		sleep 0.2
	done
}

# 1. no exports
config plain plain none
s_plain=$(import plain)
rate_plain=$(calc "$RECORDS / $s_plain")
note "ingest without exports: $(calc "sprintf(\"%.2f\", $s_plain)") s, $(calc "sprintf(\"%.0f\", $rate_plain)") records/s"

# 2. exports running while importing
config live live both
hub_start live
t0=$(now)
s_live=$(import live)
wait_caught_up live
s_caught=$(calc "$(now) - $t0")
hub_stop
rate_live=$(calc "$RECORDS / $s_live")
note "ingest with webhook + postgres exports running: $(calc "sprintf(\"%.2f\", $s_live)") s," \
	"$(calc "sprintf(\"%.0f\", $rate_live)") records/s; both exports caught up after" \
	"$(calc "sprintf(\"%.2f\", $s_caught)") s"

# 3. drain: each export alone, from the feed's start, on its own copy of it
config feed feed keep
import feed >/dev/null
changes=$(sqlite3 "$W/feed.db" 'SELECT count(*) FROM outbox')
# drain NAME: DRAIN_RATE changes/s, from the hub's start until NAME's lag is
# 0; DRAIN_GOT what arrived (webhook: changes the receiver accepted;
# postgres: rows of its table)
drain() {
	rm -f "$W/drain_$1.db"
	sqlite3 "$W/feed.db" "VACUUM INTO '$W/drain_$1.db'" || die "cannot copy $W/feed.db"
	config "drain_$1" "drain_$1" "$1"
	lag0=$(lags "drain_$1")
	[ "${lag0:-0}" -gt 0 ] || die "drain $1: the export has nothing to deliver (lag ${lag0:-?})"
	if [ "$1" = pg ]; then
		psql -X -q "$PG_URL" -c 'TRUNCATE profiles' >/dev/null || die "cannot empty profiles"
	else
		got0=$(rcv_stat changes)
	fi
	t0=$(now)
	hub_start "drain_$1"
	wait_caught_up "drain_$1"
	s=$(calc "$(now) - $t0")
	hub_stop
	if [ "$1" = pg ]; then
		DRAIN_GOT=$(psql -X -q -A -t "$PG_URL" -c 'SELECT count(*) FROM profiles') ||
			die "cannot count the postgres export's rows"
	else
		DRAIN_GOT=$(($(rcv_stat changes) - got0))
	fi
	[ "$DRAIN_GOT" -gt 0 ] || die "drain $1: caught up, but nothing arrived"
	DRAIN_RATE=$(calc "$changes / $s")
	note "drain $1: lag $lag0 at the start, caught up after $(calc "sprintf(\"%.2f\", $s)") s"
}
drain hook
drain_hook=$DRAIN_RATE
hook_got=$DRAIN_GOT
drain pg
drain_pg=$DRAIN_RATE
pg_got=$DRAIN_GOT
bad=$(rcv_stat bad_signatures)
[ "$bad" -eq 0 ] || die "the webhook receiver refused $bad batches for their signature"

summary "$(printf 'export: webhook drain: %.0f changes/s (%s changes in the feed, %s accepted by the receiver, batch %s, local receiver)' \
	"$drain_hook" "$changes" "$hook_got" "$BATCH")"
summary "$(printf 'export: postgres drain: %.0f changes/s (%s changes in the feed, %s profile rows written, batch %s, loopback)' \
	"$drain_pg" "$changes" "$pg_got" "$BATCH")"
summary "$(printf 'export: ingest with exports %.0f records/s vs %.0f without (%.0f%%)   >= 80%%   %s' \
	"$rate_live" "$rate_plain" "$(calc "100 * $rate_live / $rate_plain")" \
	"$(verdict "$rate_live >= 0.8 * $rate_plain")")"
summary "$(printf 'export: caught up %.2f s after the import started, import took %.2f s   within 10%% (+ 0.5 s)   %s' \
	"$s_caught" "$s_live" "$(verdict "$s_caught <= 1.1 * $s_live + 0.5")")"
