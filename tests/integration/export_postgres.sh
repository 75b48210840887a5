#!/bin/sh
# export_postgres.sh - the postgres export against a real PostgreSQL on
# loopback (tests/pgtest.sh): a randomized record stream
# (tests/tools/gen_records: merges, logouts, erasures, resends, ...) is
# imported in three parts while `profilehub run` exports, the hub is
# SIGKILLed in the middle of it, and at the end the target table must equal
# `profilehub dump` (profile documents without events, compared with jq).
# Meanwhile another session locks the target table for a while: the
# export's batches time out (`timeout`) and are retried, never stuck.
#
# Synchronization: `profilehub exports --json` (lag 0), polled with a
# bound.  Needs PostgreSQL server binaries, psql and jq (scripts/deps.sh).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
GEN="$ROOT/$B/tests/tools/gen_records"
SEED=${EXPORT_PG_SEED:-$(date +%s)}
RECORDS=${EXPORT_PG_RECORDS:-30000}

hub_tmpdir export_pg
chmod 755 "$T"
hub_at_exit 'sh "$ROOT/tests/pgtest.sh" stop "$T/pg" 2>/dev/null'
HUB_DIE_NOTE=" (seed $SEED)"
for tool in psql jq; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/deps.sh)"
done
for f in "$HUB" "$GEN" "$FREEPORT"; do
	[ -x "$f" ] || die "$f is not built"
done
[ -f "$ROOT/$B/plugins/postgres.so" ] || die "$B/plugins/postgres.so is not built"

mkdir -p "$T/pg"
PG_URL=$(HUB_BUILD="$B" sh "$ROOT/tests/pgtest.sh" start "$T/pg") || die "PostgreSQL did not start"
export PG_URL
PORT=$(hub_free_port) || die "no free port"

"$GEN" --seed "$SEED" --users $((RECORDS / 40)) --records "$RECORDS" >"$T/records.jsonl" ||
	die "gen_records failed"
third=$((RECORDS / 3 + 1))
split -l "$third" "$T/records.jsonl" "$T/part."
{
	echo "store:"
	echo "  path: $T/hub.db"
	echo "http:"
	echo "  listen: 127.0.0.1:$PORT"
	"$GEN" --print-config
	cat <<EOF
exports:
  - name: warehouse
    plugin: postgres
    url: "\${PG_URL}"
    table: hub.profiles
    batch_size: 200
    timeout: 2s
EOF
} >"$T/hub.yaml"
psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c 'CREATE SCHEMA hub' || die "CREATE SCHEMA"

export_field() {
	"$HUB" -c "$T/hub.yaml" exports --json 2>>"$T/cli.log" | jq -r ".exports[0]$1"
}
# import_part FILE: the stream has records the hub rejects on purpose
# (exit 1 with a summary); only a missing summary is a failure
import_part() {
	"$HUB" -c "$T/hub.yaml" import "$1" --source gen >"$T/import.out" 2>&1
	cat "$T/import.out" >>"$T/import.log"
	grep -q '^records [0-9]*, applied [0-9]*' "$T/import.out" ||
		die "import $1: $(tail -3 "$T/import.out")"
}
wait_lag_zero() {
	i=0
	until [ "$(export_field .lag)" = 0 ]; do
		i=$((i + 1))
		[ $i -le 600 ] || die "the export did not catch up in 120 s: $(export_field .)"
		sleep 0.2
	done
}

# part 1 before the hub runs; part 2 while it exports; SIGKILL as soon as
# the export is under way; part 3 after the restart
import_part "$T/part.aa"
hub_start "$T/hub.yaml" "$T/hub.log" "http://127.0.0.1:$PORT"
import_part "$T/part.ab"
i=0
until [ "$(export_field .cursor)" -gt 0 ]; do
	i=$((i + 1))
	[ $i -le 300 ] || die "nothing exported in 60 s: $(export_field .)"
	sleep 0.2
done
hub_kill
hub_start "$T/hub.yaml" "$T/hub.log" "http://127.0.0.1:$PORT"
# someone else holds a lock on the table: each batch gives up after the
# export's timeout (a lock or statement timeout, retried) instead of
# waiting with it;
# once the lock is gone the rest is delivered
psql -X -q "$PG_URL" -c 'BEGIN; LOCK TABLE hub.profiles; SELECT pg_sleep(300)' \
	>/dev/null 2>&1 &
locker=$!
i=0
until [ "$(psql -X -At "$PG_URL" -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	WHERE c.relname = 'profiles' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ]; do
	i=$((i + 1))
	[ $i -le 300 ] || die "the lock on the table was not taken in 60 s"
	sleep 0.2
done
import_part "$T/part.ac"
i=0
until export_field .last_error | grep -Eq "(lock|statement) timeout"; do
	i=$((i + 1))
	[ $i -le 300 ] || die "no timeout in 60 s while the table is locked: $(export_field .last_error)"
	sleep 0.2
done
psql -X -q "$PG_URL" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'BEGIN; LOCK TABLE%' AND pid <> pg_backend_pid()" >/dev/null ||
	die "could not end the lock"
wait "$locker" 2>/dev/null
wait_lag_zero
hub_stop TERM

# ---- the table equals the dump ---------------------------------------------

"$HUB" -c "$T/hub.yaml" dump | jq -c -S 'del(.events)' >"$T/dump.jsonl" || die "dump failed"
psql -X -q -At -v ON_ERROR_STOP=1 "$PG_URL" \
	-c 'SELECT doc FROM hub.profiles ORDER BY profile_id' | jq -c -S . >"$T/table.jsonl" ||
	die "reading the table failed"
n_dump=$(wc -l <"$T/dump.jsonl")
n_table=$(wc -l <"$T/table.jsonl")
[ "$n_dump" -gt 0 ] || die "the dump is empty"
if ! cmp -s "$T/dump.jsonl" "$T/table.jsonl"; then
	fail "the table ($n_table rows) differs from the dump ($n_dump profiles), seed $SEED:"
	diff "$T/dump.jsonl" "$T/table.jsonl" | head -6 | cut -c1-300
fi
dead=$(export_field '.dead_letters | length')
[ "$dead" = 0 ] || fail "$dead dead letters: $(export_field '.dead_letters[0].reason')"
echo "export_postgres: $RECORDS records (seed $SEED), $n_dump profiles, table equal: $([ $fails = 0 ] && echo yes || echo no)"
[ "$fails" -eq 0 ]
