#!/bin/sh
# crash_http.sh - nothing acknowledged over HTTP is lost or doubled when the
# hub is killed with SIGKILL at random moments under load.
#
# A real `profilehub run` (temp dir, free port, a Segment source "web" and
# an mParticle source "mp") takes load on every ingestion route from
# tests/tools/crash_load (one thread per route: /v1/batch, /v1/track, signed
# /webhook; /v2/events, /v2/bulkevents, /webhook), which retries each
# request with the same body until it is acknowledged and logs the records
# of every 2xx in acknowledgement order.  Meanwhile the hub is killed
# (SIGKILL) KILLS times, each after a random delay read from /dev/urandom,
# and restarted on the same store; readiness is a bounded poll of /healthz
# and a kill waits until new acknowledgements show the load is flowing.
# At the end:
#   - every acknowledged event is in the store exactly once (message IDs of
#     `dump --events all` against the acknowledged ones);
#   - the store equals a clean replay of the acknowledged records: the
#     Segment events and mParticle batches imported in acknowledgement
#     order (`import --format segment|mparticle`) into a fresh store give
#     the same dump.  Profile IDs come from a sequence that the interleaving
#     of the load threads decides, so profile_id is left out and
#     merged_from compared by its length; each thread has its own users.
#   - SQLite's integrity_check of the killed store says ok.
# With CRASH_HTTP_STORE=postgres (pg_crash_http.sh) the store is a schema of
# a throwaway PostgreSQL (tests/pgtest.sh), the replay another schema.
#
# Usage: HUB_BUILD=build sh tests/integration/crash_http.sh
# Knobs: CRASH_HTTP_KILLS (default 20), CRASH_HTTP_STORE (sqlite|postgres).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
. tests/lib/pgstore.sh
ROOT=$(pwd)
B=${HUB_BUILD:-build}
HUB=$ROOT/$B/profilehub
LOAD=$ROOT/$B/tests/tools/crash_load
FREEPORT=$ROOT/$B/tests/tools/freeport
KILLS=${CRASH_HTTP_KILLS:-20}
STORE=${CRASH_HTTP_STORE:-sqlite}

T=$(mktemp -d "${TMPDIR:-/tmp}/crash_http.XXXXXX") || exit 1
hub_pid=
load_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	pid_signal KILL "$load_pid" "$hub_pid"
	wait 2>/dev/null
	[ "$STORE" = postgres ] && sh tests/pgtest.sh stop "$T/pg"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "crash_http: FAIL: $*"
	[ -f "$T/hub.log" ] && tail -15 "$T/hub.log" | sed 's/^/  hub: /'
	[ -f "$T/load.out" ] && sed 's/^/  load: /' "$T/load.out" | tail -5
	exit 1
}

for f in "$HUB" "$LOAD" "$FREEPORT" "$ROOT/$B/plugins/segment.so" "$ROOT/$B/plugins/mparticle.so"; do
	[ -x "$f" ] || [ -f "$f" ] || fail "$f is not built (make test builds it)"
done
for tool in curl jq sqlite3 od; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (scripts/deps.sh)"
done

now_ms() {
	t=$(date +%s%N)
	echo $((t / 1000000))
}

# random_in LO HI: a number in [LO, HI) from /dev/urandom
random_in() {
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	echo $(($1 + r % ($2 - $1)))
}

lines_of() {
	if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

PORT=$("$FREEPORT") || fail "no free port"
BASE=http://127.0.0.1:$PORT
PROFILEHUB_ID_KEY=5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17
CRASH_SEG_KEY=seg-wk-$$
CRASH_SEG_WEBHOOK=seg-whsec-$$
CRASH_MP_KEY=mp-key-$$
CRASH_MP_SECRET=mp-secret-$$
CRASH_MP_WEBHOOK="Bearer mp-webhook-$$"
export PROFILEHUB_ID_KEY CRASH_SEG_KEY CRASH_SEG_WEBHOOK CRASH_MP_KEY CRASH_MP_SECRET \
	CRASH_MP_WEBHOOK

case $STORE in
sqlite) ;;
postgres) pgstore_start || fail "cannot start PostgreSQL" ;;
*) fail "CRASH_HTTP_STORE=$STORE: sqlite or postgres" ;;
esac

# store_yaml NAME DB: the store's lines, an SQLite file DB or a schema NAME
store_yaml() {
	if [ "$STORE" = postgres ]; then
		pgstore_yaml "$1"
	else
		printf 'store:\n  path: %s/%s\n' "$T" "$2"
	fi
}

# config NAME DB: the live hub and the replay share everything but the store
config() {
	cat <<EOF
plugin_dir: $ROOT/$B/plugins
log_level: info
$(store_yaml "$1" "$2")
http:
  listen: 127.0.0.1:$PORT
  timeout: 5s
sources:
  - name: web
    plugin: segment
    write_keys: ["\${CRASH_SEG_KEY}"]
    webhook_secret: "\${CRASH_SEG_WEBHOOK}"
  - name: mp
    plugin: mparticle
    api_key: "\${CRASH_MP_KEY}"
    api_secret: "\${CRASH_MP_SECRET}"
    webhook_authorization: "\${CRASH_MP_WEBHOOK}"
EOF
}
config live live.db >"$T/live.yaml"
config replay replay.db >"$T/replay.yaml"

# start_hub: runs the hub on the live store and waits for /healthz (bounded)
start_hub() {
	echo "--- start" >>"$T/hub.log"
	"$HUB" -c "$T/live.yaml" run >>"$T/hub.log" 2>&1 &
	hub_pid=$!
	i=0
	until curl -s --max-time 1 -o /dev/null "$BASE/healthz" 2>/dev/null; do
		kill -0 "$hub_pid" 2>/dev/null || fail "the hub exited at start"
		i=$((i + 1))
		[ $i -le 400 ] || fail "no /healthz 20 s after a start"
		sleep 0.05
	done
}

# wait_acks N: until more than N acknowledgements are logged (bounded)
wait_acks() {
	i=0
	while [ "$(lines_of "$T/acked_events.txt")" -le "$1" ]; do
		kill -0 "$load_pid" 2>/dev/null || fail "the load generator exited"
		i=$((i + 1))
		[ $i -le 400 ] || fail "no acknowledgement 20 s after a restart"
		sleep 0.05
	done
}

t0=$(now_ms)
start_hub
"$LOAD" --base "$BASE" --out "$T" >"$T/load.out" 2>&1 &
load_pid=$!

kills=0
while [ $kills -lt "$KILLS" ]; do
	wait_acks "$(lines_of "$T/acked_events.txt")"
	sleep "0.$(printf '%03d' "$(random_in 0 800)")"
	kill -9 "$hub_pid" 2>/dev/null
	wait "$hub_pid" 2>/dev/null
	rc=$?
	[ $rc -eq 137 ] || fail "the hub exited with $rc before kill $((kills + 1))"
	kills=$((kills + 1))
	start_hub
done
wait_acks "$(lines_of "$T/acked_events.txt")"

# stop the load: the requests in progress are retried until acknowledged
kill -TERM "$load_pid"
i=0
while kill -0 "$load_pid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the load generator did not stop within 30 s"
	sleep 0.05
done
wait "$load_pid"
load_rc=$?
load_pid=
[ $load_rc -eq 0 ] || fail "the load generator exited $load_rc: $(cat "$T/load.out")"

kill -TERM "$hub_pid"
i=0
while kill -0 "$hub_pid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the hub did not stop within 30 s of SIGTERM"
	sleep 0.05
done
wait "$hub_pid"
rc=$?
hub_pid=
[ $rc -eq 0 ] || fail "the hub exited $rc on SIGTERM"
load_ms=$(($(now_ms) - t0))

# ---- every acknowledged event exactly once ---------------------------------
[ "$STORE" = postgres ] || [ "$(sqlite3 "$T/live.db" 'PRAGMA integrity_check')" = ok ] ||
	fail "integrity_check of the live store"
"$HUB" -c "$T/live.yaml" dump --events all >"$T/live.jsonl" 2>"$T/dump.err" ||
	fail "dump of the live store: $(cat "$T/dump.err")"
jq -r '.events[].message_id' "$T/live.jsonl" | sort >"$T/stored_ids" || fail "jq over the dump"
sort "$T/acked_events.txt" >"$T/acked_ids"
n_acked=$(lines_of "$T/acked_ids")
[ "$n_acked" -ge 1000 ] || fail "only $n_acked events were acknowledged: too little load"
dups=$(uniq -d "$T/stored_ids" | head -3)
[ -z "$dups" ] || fail "events stored twice: $dups"
[ "$(uniq -d "$T/acked_ids" | head -1)" = "" ] || fail "the load generator repeated a message ID"
lost=$(comm -23 "$T/acked_ids" "$T/stored_ids" | head -3)
[ -z "$lost" ] || fail "acknowledged events missing from the store: $lost"
extra=$(comm -13 "$T/acked_ids" "$T/stored_ids" | head -3)
[ -z "$extra" ] || fail "events stored that were never acknowledged nor retried to the end: $extra"

# ---- the store equals a clean replay of the acknowledged records -----------
"$HUB" -c "$T/replay.yaml" import "$T/acked_segment.jsonl" --source web --format segment \
	>"$T/replay_seg.out" 2>&1 || fail "replay of the Segment events: $(cat "$T/replay_seg.out")"
"$HUB" -c "$T/replay.yaml" import "$T/acked_mparticle.jsonl" --source mp --format mparticle \
	>"$T/replay_mp.out" 2>&1 || fail "replay of the mParticle batches: $(cat "$T/replay_mp.out")"
"$HUB" -c "$T/replay.yaml" dump --events all >"$T/replay.jsonl" 2>"$T/dump.err" ||
	fail "dump of the replay: $(cat "$T/dump.err")"
normalize() {
	jq -c 'del(.profile_id) | .merged_from = (.merged_from // [] | length)' "$1" | sort
}
normalize "$T/live.jsonl" >"$T/live.norm" || fail "jq over the live dump"
normalize "$T/replay.jsonl" >"$T/replay.norm" || fail "jq over the replay dump"
[ -s "$T/live.norm" ] || fail "the live dump is empty"
if ! cmp -s "$T/live.norm" "$T/replay.norm"; then
	echo "crash_http: the live store and the replay differ (first lines of the diff):"
	diff "$T/live.norm" "$T/replay.norm" | head -6 | cut -c1-400
	fail "dump differs from a clean replay of the acknowledged records"
fi

echo "crash_http: $kills SIGKILLs ($STORE) in $load_ms ms;" \
	"$(sed 's/^crash_load: //' "$T/load.out" | tail -1)"
echo "crash_http: $n_acked acknowledged events stored exactly once; replay:" \
	"$(grep -m1 '^records' "$T/replay_seg.out") / $(grep -m1 '^records' "$T/replay_mp.out");" \
	"$(lines_of "$T/live.norm") profiles identical"
exit 0
