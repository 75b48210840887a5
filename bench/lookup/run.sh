#!/bin/sh
# bench/lookup/run.sh - profile lookups over HTTP: how many a second the
# management API answers, and how fast, with LOOKUP_PROFILES profiles in the
# store.
#
# Builds (once, cached under $HUB_BUILD/bench/lookup/) a SQLite store of
# LOOKUP_PROFILES profiles by importing generated identify records with
# `profilehub import - --source bench`: user i has custom_id "u<i>", an
# installation, an email "u<i>@bench.example" and four other attributes;
# every second user also has one event.  Then `profilehub run` on a free
# loopback port, and build/bench/lookup_load (bench/lookup/lookup_load.c)
# sends GET /v1/profiles?custom_id=u<random> for LOOKUP_SECONDS over
# LOOKUP_CONNECTIONS keep-alive connections (closed loop, one request in
# flight each, after LOOKUP_WARMUP seconds of warm-up), then the same by
# email.  Every answer must be 200 with one profile (else it counts as an
# error).
#
# Target (issue "The Profiles View and the management API"): >= 20k
# lookups/s and p99 < 5 ms on 2 cores, the load generator sharing them.
# Prints, never fails on a missed target: the exit status is non-zero only
# when the benchmark could not run.  Summary lines go to $BENCH_SUMMARY.
#
# Knobs: LOOKUP_PROFILES (1000000), LOOKUP_SECONDS (20), LOOKUP_WARMUP (2),
# LOOKUP_CONNECTIONS (16), LOOKUP_THREADS (the hub's http.threads, 4).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${HUB_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac

PROFILES=${LOOKUP_PROFILES:-1000000}
SECONDS_EACH=${LOOKUP_SECONDS:-20}
WARMUP=${LOOKUP_WARMUP:-2}
CONNECTIONS=${LOOKUP_CONNECTIONS:-16}
THREADS=${LOOKUP_THREADS:-4}
TARGET_RPS=20000
TARGET_P99_MS=5

HUB="$B/profilehub"
LOAD="$B/bench/lookup_load"
FREEPORT="$B/tests/tools/freeport"
CACHE="$B/bench/lookup"
SUMMARY=${BENCH_SUMMARY:-/dev/null}

note() { printf 'lookup: %s\n' "$*"; }
summary() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
die() {
	printf 'lookup: error: %s\n' "$*" >&2
	printf 'lookup: ERROR %s\n' "$*" >>"$SUMMARY"
	exit 1
}
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }
verdict() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }
now() { date +%s.%N; }

for f in "$HUB" "$LOAD" "$FREEPORT"; do
	[ -x "$f" ] || die "$f not built (run make bench)"
done
command -v curl >/dev/null 2>&1 || die "curl is not installed"

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
# a closed terminal (HUP) or reader (PIPE) stops the run as ^C does: the trap cleans up
trap 'exit 130' HUP INT TERM PIPE

# ---- the store, cached: a changed generator or store schema makes a new one ---

# gen N: the identify records (and every second user's event), JSON Lines
gen() {
	awk -v n="$1" 'BEGIN {
		split("free gold silver platinum", plans, " ")
		split("ios android web", platforms, " ")
		for (i = 0; i < n; i++) {
			d = i % 28 + 1
			printf "{\"type\":\"identify\",\"message_id\":\"b%d\",\"timestamp\":\"2026-02-%02dT10:00:00.000Z\",", i, d
			printf "\"identifiers\":{\"custom_id\":\"u%d\",\"installation_id\":\"i%d\"},\"platform\":\"%s\",", i, i, platforms[i % 3 + 1]
			printf "\"attributes\":{\"$email_address\":\"u%d@bench.example\",\"$first_name\":\"User%d\",", i, i
			printf "\"$language\":\"en\",\"plan\":\"%s\",\"logins\":%d}}\n", plans[i % 4 + 1], i % 97
			if (i % 2 == 0)
				printf "{\"type\":\"track\",\"message_id\":\"e%d\",\"timestamp\":\"2026-02-%02dT10:05:00.000Z\",\"identifiers\":{\"custom_id\":\"u%d\"},\"event\":{\"name\":\"Order Completed\",\"properties\":{\"total\":%d.5,\"currency\":\"EUR\"}}}\n", i, d, i, i % 300
		}
	}'
}

# the key: this generator and the store's schema version
SCHEMA=$(grep -h 'define SCHEMA_VERSION' hub/store_sqlite*.[ch]) ||
	die "no SCHEMA_VERSION in hub/store_sqlite*.[ch]: the cached store's key needs it"
GEN_KEY=$({ sed -n '/^gen() {/,/^}/p' "$0"; echo "$SCHEMA"; } | cksum | awk '{ print $1 }')
STORE="$CACHE/hub-$PROFILES-$GEN_KEY.db"
if [ ! -f "$STORE" ]; then
	rm -f "$CACHE"/hub-*.db "$CACHE"/hub-*.db-wal "$CACHE"/hub-*.db-shm
	note "building a store of $PROFILES profiles (once; cached in $STORE)"
	cat >"$WORK/import.yaml" <<EOF
log_level: warn
store:
  driver: sqlite
  path: $WORK/store.db
EOF
	t0=$(now)
	gen "$PROFILES" | "$HUB" -c "$WORK/import.yaml" import - --source bench >"$WORK/import.log" 2>&1 ||
		die "import failed: $(tail -5 "$WORK/import.log")"
	t1=$(now)
	note "$(tail -1 "$WORK/import.log")"
	note "import: $(calc "sprintf(\"%.0f\", $t1 - $t0)") s"
	mv "$WORK/store.db" "$STORE"
	rm -f "$WORK/store.db-wal" "$WORK/store.db-shm"
fi
note "store: $STORE ($(du -m "$STORE" | cut -f1) MB)"

# ---- the hub ----------------------------------------------------------------------

PORT=$("$FREEPORT") || die "no free port"
TOKEN="bench-lookup-$$"
export LOOKUP_BENCH_TOKEN="$TOKEN"
cat >"$WORK/hub.yaml" <<EOF
log_level: warn
store:
  driver: sqlite
  path: $STORE
http:
  listen: 127.0.0.1:$PORT
  threads: $THREADS
api:
  tokens: ["\${LOOKUP_BENCH_TOKEN}"]
EOF
"$HUB" -c "$WORK/hub.yaml" run >"$WORK/hub.log" 2>&1 &
pid=$!
i=0
until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	kill -0 "$pid" 2>/dev/null || die "the hub exited at start: $(tail -5 "$WORK/hub.log")"
	[ $i -le 300 ] || die "no /healthz after 30 s"
	sleep 0.1
done
last=$((PROFILES - 1))
for q in "custom_id=u$last" "email=u$last%40bench.example"; do
	curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/profiles?$q" |
		grep -q "\"custom_id\":\"u$last\"" || die "GET /v1/profiles?$q does not find u$last"
done

# ---- the load -------------------------------------------------------------------

note "$(nproc) cores; hub http.threads $THREADS; $CONNECTIONS keep-alive connections; ${WARMUP} s warm-up + ${SECONDS_EACH} s each"
for by in custom_id email; do
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	"$LOAD" --port "$PORT" --token "$TOKEN" --by "$by" --users "$PROFILES" \
		--connections "$CONNECTIONS" --seconds "$SECONDS_EACH" --warmup "$WARMUP" \
		>"$WORK/load.out" 2>"$WORK/load.err" || die "lookup_load failed: $(cat "$WORK/load.err")"
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	line=$(cat "$WORK/load.out")
	note "$line"
	[ -s "$WORK/load.err" ] && note "$(cat "$WORK/load.err")"
	field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	rps=$(field rps)
	p50=$(field p50_ms)
	p99=$(field p99_ms)
	errors=$(field errors)
	[ "$(field requests)" -gt 0 ] || die "no lookup by $by answered 200 with a profile: $(cat "$WORK/load.err")"
	hub_cores=$(calc "sprintf(\"%.2f\", ($cpu1 - $cpu0) / $(getconf CLK_TCK) / ($SECONDS_EACH + $WARMUP))")
	summary "$(printf 'lookup: by %-9s %6s lookups/s   target >= %s   %s' "$by" "$rps" "$TARGET_RPS" \
		"$(verdict "$rps >= $TARGET_RPS")")"
	summary "$(printf 'lookup: by %-9s p50 %s ms, p99 %s ms   target p99 < %s ms   %s   (%s profiles, %s errors, hub used %s cores)' \
		"$by" "$p50" "$p99" "$TARGET_P99_MS" "$(verdict "$p99 < $TARGET_P99_MS")" "$PROFILES" "$errors" "$hub_cores")"
done

kill -TERM "$pid"
wait "$pid" || note "the hub exited with $? on SIGTERM"
pid=""
