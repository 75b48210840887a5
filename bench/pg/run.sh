#!/bin/sh
# bench/pg/run.sh - unification and HTTP ingestion on PostgreSQL, with 1
# and with 3 hub processes on one PostgreSQL (issue 9's benchmark).
#
# A throwaway PostgreSQL on 127.0.0.1 (tests/pgtest.sh: fsync on).
#  1. unify: a gen_records stream of BENCH_PG_RECORDS records (the same
#     generator as bench/unify) is imported by one `profilehub import` into
#     schema unify1, then cut into thirds (by lines) imported by three
#     `profilehub import` processes at once into schema unify3.  Prints
#     records/s of each and the speedup.
#  2. ingest: one `profilehub run` on schema ingest1 under wrk (Segment
#     /v1/batch bodies of 100 events, bench/ingest's generator and wrk
#     script), then three `profilehub run` on schema ingest3, each on its
#     own port, each loaded by its own wrk (no load balancer here; the
#     connections are split three ways).  Prints events/s of each and the
#     speedup.
#
# Small defaults, a few minutes in all.  Prints, never fails on a miss: the
# exit status is non-zero only when the benchmark could not run.  Summary
# lines are appended to $BENCH_SUMMARY when set.
#
# Knobs: BENCH_PG_RECORDS (60000), BENCH_PG_USERS (records / 5),
# BENCH_PG_SECONDS (10, each ingest phase), BENCH_PG_CONNECTIONS (24 in
# all), BENCH_PG_THREADS (hub http.threads, 4), BENCH_PG_INGEST (1; 0
# skips the ingest half), BENCH_PG_UNIFY (1; 0 skips the unify half).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${HUB_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac

RECORDS=${BENCH_PG_RECORDS:-60000}
USERS=${BENCH_PG_USERS:-$((RECORDS / 5 > 0 ? RECORDS / 5 : 1))}
SECS=${BENCH_PG_SECONDS:-10}
CONNECTIONS=${BENCH_PG_CONNECTIONS:-24}
THREADS=${BENCH_PG_THREADS:-4}
DO_INGEST=${BENCH_PG_INGEST:-1}
DO_UNIFY=${BENCH_PG_UNIFY:-1}
N_BODIES=300
EVENTS_PER_BODY=100

HUB="$B/profilehub"
GEN="$B/tests/tools/gen_records"
FREEPORT="$B/tests/tools/freeport"
LUA="$ROOT/bench/ingest/ingest.lua"
SUMMARY=${BENCH_SUMMARY:-/dev/null}

note() { printf 'pg: %s\n' "$*"; }
summary() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
die() {
	printf 'pg: error: %s\n' "$*" >&2
	printf 'pg: ERROR %s\n' "$*" >>"$SUMMARY"
	exit 1
}
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
now() { date +%s.%N; }

for f in "$HUB" "$GEN" "$FREEPORT"; do
	[ -x "$f" ] || die "$f not built (run make bench)"
done
command -v psql >/dev/null 2>&1 || die "psql is not installed (Debian package postgresql-client)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hubbenchpg.XXXXXX")
PGD=$(mktemp -d "${TMPDIR:-/tmp}/hubbenchpgd.XXXXXX")
chmod 755 "$WORK" "$PGD"
HUB_PIDS=""
cleanup() {
	for p in $HUB_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	for p in $HUB_PIDS; do
		wait "$p" 2>/dev/null || true
	done
	sh tests/pgtest.sh stop "$PGD" >/dev/null 2>&1 || true
	rm -rf "$WORK" "$PGD"
}
trap cleanup EXIT
# a closed terminal (HUP) or reader (PIPE) stops the run as ^C does: the trap cleans up
trap 'exit 130' HUP INT TERM PIPE

URL=$(sh tests/pgtest.sh start "$PGD") || die "cannot start PostgreSQL (tests/pgtest.sh)"
note "PostgreSQL on loopback: $URL; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# import_check WHAT RC OUT ERR: dies unless the import ran to its end.  Exit 1
# is also a failure (a store it could not reach), so the counts line says
# it read the stream; the stream's rejected records make exit 1 too.
import_check() {
	if [ "$2" -gt 1 ] || ! grep -q '^records ' "$3"; then
		die "import ($1) failed (exit $2): $(tail -3 "$4")"
	fi
}

store_yaml() { # schema
	printf 'log_level: warn\nstore:\n  driver: postgres\n  url: "%s"\n  schema: %s\n' "$URL" "$1"
}

# ---- 1. unify: profilehub import, 1 process vs 3 ------------------------------------

if [ "$DO_UNIFY" = 1 ]; then
	"$GEN" --seed 1 --users "$USERS" --records "$RECORDS" >"$WORK/all.jsonl" ||
		die "gen_records failed"
	split -n l/3 -d -a 1 "$WORK/all.jsonl" "$WORK/third."
	for s in unify1 unify3; do
		{ store_yaml "$s"; "$GEN" --print-config; } >"$WORK/$s.yaml"
	done
	# the schema first (migrations), so neither side times them
	for s in unify1 unify3; do
		: >"$WORK/empty.jsonl"
		"$HUB" -c "$WORK/$s.yaml" import "$WORK/empty.jsonl" --source bench \
			>/dev/null 2>"$WORK/$s.init.err" || true
	done

	t0=$(now)
	rc=0
	"$HUB" -c "$WORK/unify1.yaml" import "$WORK/all.jsonl" --source bench \
		>"$WORK/u1.out" 2>"$WORK/u1.err" || rc=$?
	t1=$(now)
	import_check "1 process" "$rc" "$WORK/u1.out" "$WORK/u1.err"
	U1_S=$(calc "$t1 - $t0")

	t0=$(now)
	pids=""
	for i in 0 1 2; do
		"$HUB" -c "$WORK/unify3.yaml" import "$WORK/third.$i" --source bench \
			>"$WORK/u3.$i.out" 2>"$WORK/u3.$i.err" &
		pids="$pids $!"
	done
	i=0
	for p in $pids; do
		rc=0
		wait "$p" || rc=$?
		import_check "3 processes, third $i" "$rc" "$WORK/u3.$i.out" "$WORK/u3.$i.err"
		i=$((i + 1))
	done
	t1=$(now)
	U3_S=$(calc "$t1 - $t0")

	U1_RPS=$(calc "sprintf(\"%.0f\", $RECORDS / $U1_S)")
	U3_RPS=$(calc "sprintf(\"%.0f\", $RECORDS / $U3_S)")
	note "unify: 1 process: $(grep -m1 '^records' "$WORK/u1.out" || true)"
	note "unify: 3 processes: $(grep -h '^records' "$WORK"/u3.*.out | tr '\n' ';')"
	summary "$(printf 'pg: unify %s records (%s users), import on PostgreSQL: 1 process %s records/s (%.1f s), 3 processes %s records/s (%.1f s), speedup %.2fx' \
		"$RECORDS" "$USERS" "$U1_RPS" "$U1_S" "$U3_RPS" "$U3_S" "$(calc "$U3_RPS / $U1_RPS")")"
fi

# ---- 2. ingest: profilehub run under wrk, 1 process vs 3 --------------------------

if [ "$DO_INGEST" = 1 ]; then
	if ! command -v wrk >/dev/null 2>&1; then
		note "ingest: skipped: wrk is not installed (Debian package wrk)"
		exit 0
	fi
	t=$(($(date +%s) - 3600))
	awk -f bench/ingest/gen_bodies.awk -v kind=batch -v bodies="$N_BODIES" -v users="$USERS" \
		-v seed=1 -v base_iso="$(date -u -d "@$t" +%Y-%m-%dT%H)" -v base_ms="${t}000" \
		>"$WORK/batch.txt" || die "gen_bodies.awk failed"
	export BENCH_PG_WRITE_KEY="bench-pg-key-$$"
	AUTH="Basic $(printf '%s:' "$BENCH_PG_WRITE_KEY" | base64 -w0)"

	# start_hub SCHEMA NAME: starts `profilehub run`, sets PORT_<NAME> via the file
	start_hub() {
		port=$("$FREEPORT") || die "no free port"
		{
			store_yaml "$1"
			cat <<EOF2
http:
  listen: 127.0.0.1:$port
  threads: $THREADS
api:
  tokens: ["bench-token-$$"]
sources:
  - name: web
    plugin: segment
    write_keys: ["\${BENCH_PG_WRITE_KEY}"]
EOF2
		} >"$WORK/$2.yaml"
		"$HUB" -c "$WORK/$2.yaml" run >"$WORK/$2.log" 2>&1 &
		pid=$!
		HUB_PIDS="$HUB_PIDS $pid"
		i=0
		until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
			i=$((i + 1))
			kill -0 "$pid" 2>/dev/null || die "hub $2 exited at start: $(tail -5 "$WORK/$2.log")"
			[ $i -le 300 ] || die "hub $2: no /healthz after 30 s"
			sleep 0.1
		done
		echo "$port" >"$WORK/$2.port"
	}
	stop_hubs() {
		for p in $HUB_PIDS; do
			kill "$p" 2>/dev/null || true
		done
		for p in $HUB_PIDS; do
			wait "$p" 2>/dev/null || true
		done
		HUB_PIDS=""
	}
	# run_wrk NAME PORT CONNECTIONS: wrk in the background, output in NAME.wrk
	run_wrk() {
		wrk -t 1 -c "$3" -d "${SECS}s" --timeout 10s -s "$LUA" "http://127.0.0.1:$2" -- \
			"$WORK/batch.txt" /in/web/v1/batch "$AUTH" "$1$$" >"$WORK/$1.wrk" 2>&1
	}
	# eps NAMES...: EPS, events/s (of 2xx answers) summed over the wrk runs;
	# ERRS their errors
	eps() {
		total=0
		ERRS=0
		for n in "$@"; do
			line=$(grep '^wrk: ' "$WORK/$n.wrk" | tail -1)
			[ -n "$line" ] || die "wrk printed no figures ($n): $(tail -5 "$WORK/$n.wrk")"
			field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
			# answered 2xx: a refused body stored no event
			ok=$(($(field requests) - $(field status_errors)))
			total=$(calc "$total + $ok * $EVENTS_PER_BODY / ($(field duration_us) / 1e6)")
			ERRS=$((ERRS + $(field status_errors) + $(field connect_errors) + $(field read_errors) + $(field write_errors) + $(field timeouts)))
		done
		EPS=$(calc "sprintf(\"%.0f\", $total)")
	}

	HUB_PORTS_FILE="$WORK/ports" # freeport: the hubs' ports distinct
	export HUB_PORTS_FILE
	start_hub ingest1 i1
	run_wrk w1 "$(cat "$WORK/i1.port")" "$CONNECTIONS" || die "wrk failed: $(tail -5 "$WORK/w1.wrk")"
	eps w1
	I1_EPS=$EPS
	I1_ERRS=$ERRS
	stop_hubs

	for n in a b c; do
		start_hub ingest3 "i3$n"
	done
	per=$(((CONNECTIONS + 2) / 3))
	pids=""
	for n in a b c; do
		run_wrk "w3$n" "$(cat "$WORK/i3$n.port")" "$per" &
		pids="$pids $!"
	done
	for p in $pids; do
		wait "$p" || die "wrk failed (3 processes)"
	done
	eps w3a w3b w3c
	I3_EPS=$EPS
	I3_ERRS=$ERRS
	stop_hubs
	stored() {
		psql -X -q -A -t "$URL" -c "SELECT count(*) FROM $1.events" 2>/dev/null || echo "?"
	}
	note "ingest: events stored: ingest1 $(stored ingest1), ingest3 $(stored ingest3); errors (non-2xx, socket): 1 process $I1_ERRS, 3 processes $I3_ERRS"
	summary "$(printf 'pg: ingest /v1/batch (100 events a body), %s s, %s connections, on PostgreSQL: 1 process %s events/s, 3 processes %s events/s, speedup %.2fx' \
		"$SECS" "$CONNECTIONS" "$I1_EPS" "$I3_EPS" "$(calc "$I3_EPS / ($I1_EPS > 0 ? $I1_EPS : 1)")")"
fi
summary "pg: machine: $(nproc) cores (the hubs, wrk and PostgreSQL share them), load average $(cut -d' ' -f1-3 /proc/loadavg)"
