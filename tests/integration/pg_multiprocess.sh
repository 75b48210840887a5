#!/bin/sh
# pg_multiprocess.sh - several hub processes writing one PostgreSQL at once
# (store_pg.c's lock protocol).  A generated stream of shared users
# (anonymous sessions, logins, logouts, user switches on shared devices,
# crm ids, resends) is cut into small chunks dealt round-robin to three
# lanes; each lane imports its chunks one `profilehub import` after the
# other, the three lanes at the same time, into one schema.  Then:
#   - invariants, in SQL: never two live profiles with one custom_id, every
#     identifier (so every installation) held by exactly one live profile,
#     a known profile holds its own custom_id;
#   - equality with a serial replay of the same stream in another schema:
#     the same custom_ids, the same set of events (each applied track
#     exactly once), the same applied / duplicate counts, one dedupe row
#     per applied record.
# Erases and aliases are left out of the stream: their outcome depends on
# the order records meet (IDENTITY.md), so two serial orders may differ.
set -u
cd "$(dirname "$0")/../.."
B=${HUB_BUILD:-build}
HUB="$B/profilehub"
GEN="$B/tests/tools/gen_records"
T=$(mktemp -d "${TMPDIR:-/tmp}/hubmp.XXXXXX")
PGD=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX") # reachable by the server's user
trap 'sh tests/pgtest.sh stop "$PGD"; rm -rf "$T" "$PGD"' EXIT
trap 'exit 130' INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

LANES=3
CHUNK=250
USERS=120
RECORDS=9000

[ -x "$GEN" ] || { echo "FAIL: $GEN not built"; exit 1; }
url=$(sh tests/pgtest.sh start "$PGD") || { echo "FAIL: cannot start PostgreSQL"; exit 1; }
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$url" -c "$1"; }
. tests/lib/pg_invariants.sh

config() { # schema
	printf 'log_level: warn\nstore:\n  driver: postgres\n  url: "%s"\n  schema: %s\n' "$url" "$1"
	"$GEN" --print-config
}
config mp >"$T/mp.yaml"
config serial >"$T/serial.yaml"

"$GEN" --seed 77 --users $USERS --records $RECORDS --erase-rate 0 --alias-rate 0 --blocked-rate 0 \
	--invalid-rate 0 --share-rate 0.3 --switch-rate 0.3 --logout-rate 0.1 \
	--dup-rate 0.05 >"$T/all.jsonl" || fail "gen_records"
split -l $CHUNK -d -a 4 "$T/all.jsonl" "$T/chunk."

# the schema is created by the first process; the lanes race for it too
lane() { # index
	k=0
	for c in "$T"/chunk.*; do
		if [ $((k % LANES)) -eq "$1" ]; then
			"$HUB" -c "$T/mp.yaml" import "$c" --source app >>"$T/lane$1.out" 2>>"$T/lane$1.err" ||
				echo "import $c failed" >>"$T/lane$1.err"
		fi
		k=$((k + 1))
	done
}
t0=$(date +%s)
pids=""
i=0
while [ $i -lt $LANES ]; do
	lane $i &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
t1=$(date +%s)
for i in $(seq 0 $((LANES - 1))); do
	if grep -q "failed" "$T/lane$i.err" 2>/dev/null; then
		fail "lane $i: $(head -3 "$T/lane$i.err")"
	fi
done

"$HUB" -c "$T/serial.yaml" import "$T/all.jsonl" --source app >"$T/serial.out" 2>"$T/serial.err" ||
	fail "serial import: $(head -3 "$T/serial.err")"
echo "  $LANES lanes x $CHUNK-record chunks: ${RECORDS} records in $((t1 - t0)) s"

# -- counts: every record applied once across the lanes, as serially ----
# "records N, applied N, duplicates N, blocked N, refused N, rejected N"
sum() { # field
	cat "$T"/lane*.out | awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) { v = $(i + 1); sub(",", "", v); s += v } } END { print s + 0 }'
}
one() { # field
	awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) { v = $(i + 1); sub(",", "", v); print v } }' "$T/serial.out"
}
for f in records applied duplicates blocked refused rejected; do
	[ "$(sum $f)" = "$(one $f)" ] || fail "$f: lanes $(sum $f), serial $(one $f)"
done
[ "$(sum records)" = "$RECORDS" ] || fail "lanes saw $(sum records) of $RECORDS records"
for s in mp serial; do
	n=$(sql "SELECT count(*) FROM $s.dedupe")
	[ "$n" = "$(one applied)" ] || fail "$s: $n dedupe rows, $(one applied) applied"
done

# -- invariants ----------------------------------------------------------
for s in mp serial; do
	pg_identity_invariants "$s"
done

# -- the same outcome as the serial replay, through the CLI -------------
for s in mp serial; do
	"$HUB" -c "$T/$s.yaml" dump --events all >"$T/$s.dump" 2>"$T/$s.dump.err" ||
		fail "$s: dump: $(head -3 "$T/$s.dump.err")"
	jq -r 'select(.custom_id != null) | .custom_id' "$T/$s.dump" | sort >"$T/$s.customs"
	jq -r '.events[] | .message_id' "$T/$s.dump" | sort >"$T/$s.events"
done
pg_matches_serial
echo "  $(wc -l <"$T/mp.customs") custom_ids, $(wc -l <"$T/mp.events") events, $(one applied) applied"

[ $fails -eq 0 ]
