#!/bin/sh
# export_kills.sh - the hub killed with SIGKILL at random moments while its
# webhook export delivers, EXPORT_KILLS times (default 20), and started again
# each time on the same store: every change arrives, the receiver ends with
# what a clean run delivers, and each kill costs at most one batch sent again.
#
# The store holds the changes of EXPORT_KILLS_RECORDS (15000) generated
# records (tests/tools/gen_records, imported before the hub starts), so the
# outbox does not move while the export runs.  `profilehub run` delivers it
# to tests/integration/export_receiver.js (always answering 200; it appends
# every change it accepts to its log, with a digest of the change's JSON,
# before answering) in batches of 20.
#
# Each round starts the hub and kills it (SIGKILL) once the receiver has
# accepted K batches more than when the round began (K in 0..4; its /stats,
# polled), D ms later (D in 0..10).  K and D come from a generator seeded by
# EXPORT_KILLS_SEED (printed; random when unset) so a failing run can be
# replayed.  A round counts as a kill when the export's committed cursor had
# not reached the end of the outbox: the kill hit a delivery in flight.  The
# delay only spreads the moments (reading, sending, committing the cursor);
# correctness never depends on it.  Should the export catch up first, the
# next chunk of records is imported (the hub is down) and noted, and the
# rounds go on.  Then the hub runs until the cursor is at the end.
#
# The contract (hub/export.h, docs/exports.md): delivery at least once, in
# seq order, a batch sent again after a crash covering the same seqs under
# the same Idempotency-Key.  Asserted:
#   - every change of the outbox arrived (nothing lost), nothing else did
#     (the outbox as it was before each chunk's import and at the end: an
#     erase in a chunk deletes the erased profile's delivered changes);
#   - first arrivals come in strictly increasing seq order;
#   - every arrival of a change carries the same key and the same content
#     (digest) as its first;
#   - redeliveries are bounded: at most one batch sent again per kill, so at
#     most KILLS batches and KILLS x 20 changes arrived twice;
#   - the receiver's state, deduplicated by seq, equals what a clean run
#     delivers: a second store with the same imports, exported without kills
#     (importing each noted chunk after it caught up, as the killed run did)
#     to a second receiver: the same seqs with the same digests.
#
# Usage: HUB_BUILD=build sh tests/integration/export_kills.sh
# Knobs: EXPORT_KILLS (20), EXPORT_KILLS_SEED, EXPORT_KILLS_RECORDS (15000).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

KILLS=${EXPORT_KILLS:-20}
RECORDS=${EXPORT_KILLS_RECORDS:-15000}
BATCH=20
SEED=${EXPORT_KILLS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
GEN="$ROOT/$B/tests/tools/gen_records"

hub_tmpdir export_kills
rpid=""
cpid=""
hub_at_exit 'pid_signal KILL $rpid $cpid; wait 2>/dev/null'
hub_die_hook() {
	hub_show_log "$T/receiver.log" receiver 5
}
hub_need node curl jq sqlite3 od
hub_need_built webhook
[ -x "$GEN" ] || die "$GEN is not built"

echo "export_kills: seed $SEED (replay: EXPORT_KILLS_SEED=$SEED)"
hub_rng_seed "$SEED"

PORT=$(hub_free_port) || die "no free port"
RPORT=$(hub_free_port) || die "no free port"
CPORT=$(hub_free_port) || die "no free port"
# shellcheck disable=SC2034 # hub_start polls $BASE/healthz
BASE="http://127.0.0.1:$PORT"
EXPORT_SECRET="whsec_kills_$$"
PROFILEHUB_ID_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
export EXPORT_SECRET PROFILEHUB_ID_KEY

config() { # STORE RECEIVER_PORT
	cat <<EOF
store:
  path: $T/$1.db
plugin_dir: $ROOT/$B/plugins
http:
  listen: 127.0.0.1:$PORT
exports:
  - name: feed
    plugin: webhook
    url: http://127.0.0.1:$2/hook
    secret: "\${EXPORT_SECRET}"
    timeout: 5s
    batch_size: $BATCH
    backfill: false   # the outbox as it was imported is what is compared
  # disabled, so its cursor stays at 0 and holds the change feed: nothing is
  # pruned, and the outbox is the list of every change to compare with
  - name: keep
    plugin: jsonl
    path: $T/$1.keep.jsonl
    enabled: false
EOF
	"$GEN" --print-config
}
config live "$RPORT" >"$T/live.yaml"
config clean "$CPORT" >"$T/clean.yaml"

# import STORE CHUNK: the records of chunk CHUNK (the hub is not running)
import() {
	"$GEN" --seed $((100 + $2)) --users 2000 --records "$RECORDS" >"$T/chunk.jsonl" ||
		die "gen_records"
	"$HUB" -c "$T/$1.yaml" import "$T/chunk.jsonl" --source "gen$2" >"$T/import.out" 2>&1
	grep -q "^records $RECORDS, " "$T/import.out" || die "import: $(head -3 "$T/import.out")"
}

receiver_start() { # PORT LOG: sets R_PID
	node "$ROOT/tests/integration/export_receiver.js" "$1" "$EXPORT_SECRET" "$2" --digest \
		>>"$T/receiver.log" 2>&1 &
	R_PID=$!
	i=0
	until curl -fs "http://127.0.0.1:$1/stats" >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$R_PID" 2>/dev/null || die "the receiver exited at start"
		[ $i -le 100 ] || die "no receiver after 10 s"
		sleep 0.1
	done
}
accepted() { # PORT: the batches the receiver accepted
	curl -fs "http://127.0.0.1:$1/stats" | jq -r '.accepted'
}
sql() { # STORE SQL
	sqlite3 -cmd ".timeout 5000" "$T/$1.db" "$2"
}
# is_caught_up STORE: the committed cursor is at the end of the outbox
is_caught_up() {
	[ "$(sql "$1" "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta
		WHERE key = 'export_cursor:feed'), 0) = (SELECT coalesce(max(seq), 0) FROM outbox)")" = 1 ]
}
# outbox_seqs_keep STORE: adds the seqs in its outbox now to $T/STORE.seqs.
# An erase record deletes the erased profile's changes from the outbox
# (hub/unify_erase.c), delivered ones too, so a chunk imported after the
# export caught up may take seqs the receiver already got out of it: the
# changes to compare with are those of the outbox before each such import
# and at the end.
outbox_seqs_keep() {
	sql "$1" 'SELECT seq FROM outbox' >>"$T/$1.seqs" || die "reading the outbox of $1"
}
# run_to_end STORE: starts the hub, waits until the cursor is at the end
# (bounded), stops it (SIGTERM)
run_to_end() {
	hub_start "$T/$1.yaml" "$T/$1.log"
	i=0
	until is_caught_up "$1"; do
		i=$((i + 1))
		[ $i -le 1200 ] || die "$1: the export did not reach the end of the outbox in 60 s"
		sleep 0.05
	done
	hub_stop TERM
}

import live 0
import clean 0
[ ! -e "$T/live.db-wal" ] || die "the store was not closed cleanly after the import"
[ "$(sql live 'SELECT count(*) FROM outbox')" -ge $((RECORDS / 2)) ] || die "too few changes"

# ---- the killed runs -----------------------------------------------------
receiver_start "$RPORT" "$T/live.jsonl"
# shellcheck disable=SC2034 # the exit hook kills it
rpid=$R_PID
t0=$(hub_now_ms)
kills=0
chunks=""
chunk=0
while [ "$kills" -lt "$KILLS" ]; do
	hub_rnd 5
	k=$R
	hub_rnd 11
	d=$R
	from=$(accepted "$RPORT")
	echo "--- round $((kills + 1)): kill after $k batches, $d ms (at $from)" >>"$T/live.log"
	# not hub_start: its wait for /healthz would let the export run on
	"$HUB" -c "$T/live.yaml" run >>"$T/live.log" 2>&1 &
	HUB_PID=$!
	i=0
	while [ "$(accepted "$RPORT")" -lt $((from + k)) ] && ! is_caught_up live; do
		i=$((i + 1))
		kill -0 "$HUB_PID" 2>/dev/null || die "the hub exited by itself"
		[ $i -le 3000 ] || die "the receiver got no batch in 30 s (round $((kills + 1)))"
		sleep 0.01
	done
	sleep "$(printf '0.%03d' "$d")"
	kill -9 "$HUB_PID" 2>/dev/null
	wait "$HUB_PID" 2>/dev/null
	rc=$?
	HUB_PID=""
	[ $rc -eq 137 ] || die "the hub exited $rc before it was killed"
	if ! is_caught_up live; then
		kills=$((kills + 1))
		continue
	fi
	# everything was delivered before the kill: more changes
	chunk=$((chunk + 1))
	[ $chunk -le 10 ] || die "the export caught up 10 times before $KILLS kills"
	outbox_seqs_keep live
	import live "$chunk"
	chunks="$chunks $chunk"
done
run_to_end live
kill_ms=$(($(hub_now_ms) - t0))

# ---- what the receiver got -----------------------------------------------
# (comm wants the lexical order)
outbox_seqs_keep live
sort -u "$T/live.seqs" >"$T/outbox.seqs"
jq -r '.seq' "$T/live.jsonl" | sort -u >"$T/received.seqs"
n_changes=$(wc -l <"$T/outbox.seqs")
missing=$(comm -23 "$T/outbox.seqs" "$T/received.seqs" | wc -l)
[ "$missing" -eq 0 ] || fail "$missing changes of the outbox never arrived:" \
	"$(comm -23 "$T/outbox.seqs" "$T/received.seqs" | head -5 | tr '\n' ' ')"
extra=$(comm -13 "$T/outbox.seqs" "$T/received.seqs" | wc -l)
[ "$extra" -eq 0 ] || fail "$extra changes arrived that are not in the outbox"

# one line per arrival, in arrival order: seq key digest
jq -r '"\(.seq) \(.key) \(.digest)"' "$T/live.jsonl" >"$T/arrivals" || die "jq over the log"
arrivals=$(wc -l <"$T/arrivals")
dup_changes=$((arrivals - n_changes))
# first arrivals in increasing seq order; later ones the same as the first;
# a batch (key) arrived (its lines / its distinct seqs) times, each time whole
awk '!($1 in first) { first[$1] = $2 " " $3; if ($1 + 0 <= max) order++; else max = $1 + 0 }
	first[$1] != $2 " " $3 { changed++ }
	{ n[$2]++; if (!(($2, $1) in s)) { s[$2, $1] = 1; u[$2]++ } }
	END { for (k in n) { again += int(n[k] / u[k]) - 1; if (n[k] % u[k]) changed++ }
		print order + 0, changed + 0, again + 0 }' \
	"$T/arrivals" >"$T/verdict"
read -r bad_order changed dup_batches <"$T/verdict"
[ "$bad_order" = 0 ] || fail "$bad_order changes arrived for the first time after a later seq"
[ "$changed" = 0 ] || fail "$changed arrivals differ in key or content from their change's first arrival"
[ "$dup_batches" -le "$kills" ] || fail "$dup_batches batches sent again for $kills kills"
[ "$dup_changes" -le $((kills * BATCH)) ] ||
	fail "$dup_changes changes arrived again for $kills kills of batches of $BATCH"
bad=$(curl -fs "http://127.0.0.1:$RPORT/stats" |
	jq -r '.bad_signatures + .stale_timestamps + .bad_keys')
[ "$bad" = 0 ] || fail "$bad batches with a bad signature, timestamp or Idempotency-Key"

# ---- the same as a clean run ---------------------------------------------
t1=$(hub_now_ms)
receiver_start "$CPORT" "$T/clean.jsonl"
# shellcheck disable=SC2034 # the exit hook kills it
cpid=$R_PID
for c in $chunks; do
	run_to_end clean
	import clean "$c"
done
run_to_end clean
clean_ms=$(($(hub_now_ms) - t1))
firsts() { # LOG: seq and digest of each change's first arrival, in seq order
	jq -r '"\(.seq) \(.digest)"' "$1" | awk '!($1 in seen) { seen[$1] = 1; print }' | sort -n
}
firsts "$T/live.jsonl" >"$T/live.state"
firsts "$T/clean.jsonl" >"$T/clean.state"
[ "$(wc -l <"$T/clean.state")" -eq "$n_changes" ] ||
	fail "the clean run delivered $(wc -l <"$T/clean.state") changes, the outbox has $n_changes"
if ! cmp -s "$T/live.state" "$T/clean.state"; then
	fail "the receiver's state differs from a clean run's: $(diff "$T/live.state" "$T/clean.state" |
		head -4 | tr '\n' ' ')"
fi

finish export_kills
echo "export_kills: $kills SIGKILLs in $kill_ms ms while delivering $n_changes changes" \
	"(chunks imported on catching up:${chunks:- none}); $arrivals arrivals: $dup_batches batches" \
	"($dup_changes changes) sent again; state equals a clean run's ($clean_ms ms)"
