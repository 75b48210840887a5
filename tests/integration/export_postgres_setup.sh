#!/bin/sh
# export_postgres_setup.sh - the postgres export's configuration and
# connection setup, against a real PostgreSQL on loopback (tests/pgtest.sh):
#
#  1. a url libpq cannot parse, holding a password-like token: `check
#     --connect` (also for an unescaped '@' or '/' in the password) and
#     `run` at its start refuse it with the fixed message
#     "url: not a valid PostgreSQL connection URL", and the token appears in
#     no output, log or the store;
#  2. setup failing on a new connection is retried on a new connection:
#     CREATE TABLE IF NOT EXISTS of the missing table fails with 23505 (an
#     event trigger stands for a concurrent creator), then times out on the
#     lock of a table another session is creating (55P03); once the causes
#     are gone the export delivers everything (the table equals `profilehub
#     dump`), with no dead letter and no "prepared statement does not
#     exist" (26000);
#  3. a target that stops answering (the export's server process
#     SIGSTOPped: its kernel still acknowledges): a SIGTERM of the hub
#     while a batch waits for it returns at once, a batch gives up after
#     `timeout` and 5 s ("no answer from the target within 7 s") and goes
#     on over a new connection; once the process goes on again the table
#     equals `profilehub dump`, with no dead letter.
#  4. the url's own timeouts (both 0) and `timeout: 1s`, the table locked by
#     another session: the batch waits on the lock, not given up ("no
#     answer from the target") and sent again over a new connection (an
#     export session each time, left waiting on the server) for as long
#     as `timeout` and 5 s with 3 s to spare; once the lock goes the
#     table equals `profilehub dump`.
#
# Synchronization: GET /v1/exports (the live state) and `profilehub exports
# --json` (lag 0), pg_stat_activity, each polled with a bound; a stop's
# time measured.  Needs PostgreSQL
# server binaries, psql, curl and jq (scripts/deps.sh).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
GEN="$ROOT/$B/tests/tools/gen_records"
SEED=${EXPORT_PG_SEED:-$(date +%s)}
TOKEN_PW='S3cr%t!'
BAD_MSG='url: not a valid PostgreSQL connection URL'

hub_tmpdir export_pg_setup
chmod 755 "$T"
hub_at_exit 'pid_signal TERM "${LOCKER:-}"; wait 2>/dev/null'
hub_at_exit '[ -z "${STALLED:-}" ] || kill -CONT "$STALLED" 2>/dev/null'
hub_at_exit 'sh "$ROOT/tests/pgtest.sh" stop "$T/pg" 2>/dev/null'
HUB_DIE_NOTE=" (seed $SEED)"
hub_need psql jq curl
hub_need_built postgres
[ -x "$GEN" ] || die "$GEN is not built"

mkdir -p "$T/pg"
PG_URL=$(HUB_BUILD="$B" sh "$ROOT/tests/pgtest.sh" start "$T/pg") || die "PostgreSQL did not start"
PG_HOSTPORT=${PG_URL#postgresql://postgres@}
PG_HOSTPORT=${PG_HOSTPORT%%/*}
EXPORT_PG_API_TOKEN="tok-pg-setup-$$"
export EXPORT_PG_API_TOKEN
"$GEN" --seed "$SEED" --users 60 --records 2000 >"$T/records.jsonl" || die "gen_records failed"

sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
}
# write_config NAME URL_VAR: $T/NAME.yaml, one postgres export "warehouse"
# whose url is ${URL_VAR}, store $T/NAME.db, the API on $PORT
write_config() {
	{
		echo "store:"
		echo "  path: $T/$1.db"
		echo "http:"
		echo "  listen: 127.0.0.1:$PORT"
		echo "api:"
		echo "  tokens: [\"\${EXPORT_PG_API_TOKEN}\"]"
		"$GEN" --print-config
		cat <<EOF
exports:
  - name: warehouse
    plugin: postgres
    url: "\${$2}"
    table: hub.profiles
    batch_size: 100
EOF
	} >"$T/$1.yaml"
}
# import_records NAME [FILE]: FILE ($T/records.jsonl) into the store of NAME.yaml
import_records() {
	"$HUB" -c "$T/$1.yaml" import "${2:-$T/records.jsonl}" --source gen >"$T/import.out" 2>&1
	grep -q '^records [0-9]*, applied [0-9]*' "$T/import.out" ||
		die "import: $(tail -3 "$T/import.out")"
}
# live FIELD: the export's FIELD in GET /v1/exports of the running hub
live() {
	curl -s -H "Authorization: Bearer $EXPORT_PG_API_TOKEN" \
		"http://127.0.0.1:$PORT/v1/exports" >"$T/live.json" 2>/dev/null
	jq -r ".exports[0]$1" "$T/live.json" 2>/dev/null
}
# poll S WHAT COMMAND...: until COMMAND succeeds, every 0.1 s; dies after S s
poll() {
	poll_s=$1
	poll_what=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -le $((poll_s * 10)) ] || die "$poll_what in $poll_s s: $(live "")"
		sleep 0.1
	done
}
error_has() {
	live .last_error | grep -q "$1"
}
# wait_error PATTERN WHAT [S]: until the live last_error matches PATTERN (S: 10 s)
wait_error() {
	poll "${3:-10}" "no $2" error_has "$1"
}
is_caught_up() {
	[ "$("$HUB" -c "$T/$1.yaml" exports --json 2>>"$T/cli.log" | jq -r '.exports[0].lag')" = 0 ]
}
# wait_caught_up NAME: until `profilehub exports` shows lag 0 (30 s)
wait_caught_up() {
	poll 30 "the export did not catch up" is_caught_up "$1"
}
# has_sessions N: the export has N sessions open
has_sessions() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'profilehub-export'")" = "$1" ]
}
# is_locked: the locker session ($LOCKER, hub_locker) holds its lock
is_locked() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'hub_locker' AND wait_event = 'PgSleep'")" = 1 ]
}
# lock_end: the locker session ends, its transaction rolled back
lock_end() {
	sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'hub_locker'" >/dev/null || die "ending the lock"
	wait "$LOCKER"
	LOCKER=""
}
# stall_session: SIGSTOP to the export's one session (its pid in STALLED)
stall_session() {
	poll 10 "not one export session" has_sessions 1
	STALLED=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'profilehub-export'")
	kill -STOP "$STALLED" || die "SIGSTOP to the export's session $STALLED"
}
# stall_end N: SIGCONT to it; it sees its connection closed and ends,
# leaving N sessions (10 s)
stall_end() {
	kill -CONT "$STALLED"
	STALLED=""
	poll 10 "not $1 export sessions after SIGCONT" has_sessions "$1"
}
# compare_dump NAME TABLE: the table equals `profilehub dump` of NAME.yaml,
# no dead letter
compare_dump() {
	"$HUB" -c "$T/$1.yaml" dump | jq -c -S 'del(.events)' >"$T/dump.jsonl" || die "dump failed"
	sql "SELECT doc FROM $2 ORDER BY profile_id" | jq -c -S . >"$T/table.jsonl" ||
		die "reading the table failed"
	n_dump=$(wc -l <"$T/dump.jsonl")
	[ "$n_dump" -gt 0 ] || die "the dump is empty"
	cmp -s "$T/dump.jsonl" "$T/table.jsonl" ||
		fail "$2 ($(wc -l <"$T/table.jsonl") rows) differs from the dump ($n_dump profiles)"
	dead=$("$HUB" -c "$T/$1.yaml" exports --json 2>>"$T/cli.log" | jq -r '.exports[0].dead_letters | length')
	[ "$dead" = 0 ] || fail "$dead dead letters in $1"
}

# ---- 1. a url libpq cannot parse ------------------------------------------------

PORT=$(hub_free_port) || die "no free port"
BAD_URL="postgresql://postgres:$TOKEN_PW@$PG_HOSTPORT/hubtest"
export BAD_URL
write_config bad BAD_URL
# one row per url: the url, the part of its password libpq would quote
# (a bad percent-encoding; an unescaped '@' makes the rest the host; an
# unescaped '/' makes the password the port; an '@' then a '/' made
# "tPassw0rd" the host, quoted by libpq's "could not translate host name")
while read -r url token; do
	BAD_URL=$url "$HUB" -c "$T/bad.yaml" check --connect >"$T/check.out" 2>&1 &&
		fail "check --connect accepted $url"
	grep -qF "$BAD_MSG" "$T/check.out" || fail "check --connect, $url: $(cat "$T/check.out")"
	grep -qF "$token" "$T/check.out" && fail "check --connect quotes $token: $(cat "$T/check.out")"
done <<EOF
$BAD_URL ${TOKEN_PW%!}
postgresql://postgres:x@Tok3n2@$PG_HOSTPORT/hubtest Tok3n2
postgresql://postgres:Tok3n3/x@$PG_HOSTPORT/hubtest Tok3n3
postgresql://postgres:S3cr@tPassw0rd/xyz@$PG_HOSTPORT/hubtest Passw0rd
EOF

# a timeout past what PostgreSQL takes (2^31 - 1 ms) is refused, named
sed 's/^    batch_size: 100$/    batch_size: 100\n    timeout: 30d/' "$T/bad.yaml" >"$T/long.yaml"
BAD_URL=$PG_URL "$HUB" -c "$T/long.yaml" check --connect >"$T/check.out" 2>&1 &&
	fail "check accepted timeout: 30d"
grep -q "timeout: at most 1d" "$T/check.out" || fail "check, timeout 30d: $(cat "$T/check.out")"

# the hub refuses to start on it, as `check` does (the plugin's
# check_config), naming the key: exit 1 before it listens (timeout: were it
# to run, it would not end by itself)
import_records bad
timeout 60 "$HUB" -c "$T/bad.yaml" run >"$T/bad.log" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "run on the bad url: exit $rc, expected 1: $(cat "$T/bad.log")"
grep -qF "$BAD_MSG" "$T/bad.log" || fail "run on the bad url: $(cat "$T/bad.log")"
"$HUB" -c "$T/bad.yaml" exports --json >"$T/bad_exports.json" 2>&1
# the token nowhere: outputs, logs, API answers, the store
leaks=$(grep -rlF "${TOKEN_PW%!}" "$T" --exclude-dir=pg)
[ -z "$leaks" ] || fail "the url's password appears in: $leaks"

# ---- 2. setup fails on a new connection, then works ------------------------

PORT=$(hub_free_port) || die "no free port"
GOOD_URL="$PG_URL?options=-c%20lock_timeout%3D100"
export GOOD_URL
write_config good GOOD_URL
sql 'CREATE SCHEMA hub' || die "CREATE SCHEMA"
# CREATE TABLE IF NOT EXISTS (the table is missing) fails with 23505 for
# the export's sessions (as when another process creates the table at the
# same moment) while the event trigger exists
sql "CREATE FUNCTION public.fail_create() RETURNS event_trigger LANGUAGE plpgsql AS
	\$\$BEGIN IF current_setting('application_name') = 'profilehub-export' THEN
	RAISE EXCEPTION 'duplicate key value violates unique constraint'
	USING ERRCODE = 'unique_violation'; END IF; END\$\$;
	CREATE EVENT TRIGGER fail_create ON ddl_command_start WHEN TAG IN ('CREATE TABLE')
	EXECUTE FUNCTION public.fail_create()" || die "CREATE EVENT TRIGGER"

import_records good
hub_start "$T/good.yaml" "$T/good.log" "http://127.0.0.1:$PORT"
wait_error 23505 "23505 while creating the table"
[ "$(live .state)" != disabled ] || fail "23505 in setup disabled the export: $(live "")"
# another session creates the table and holds it, uncommitted: the
# export's CREATE TABLE waits on it for lock_timeout
PGAPPNAME=hub_locker psql -X -q "$PG_URL" \
	-c 'BEGIN; CREATE TABLE hub.profiles (profile_id text PRIMARY KEY, doc jsonb NOT NULL,
	updated_seq bigint NOT NULL); LOCK TABLE hub.profiles IN ACCESS EXCLUSIVE MODE;
	SELECT pg_sleep(60)' >/dev/null 2>&1 &
LOCKER=$!
poll 10 "the locker did not create the table" is_locked
sql 'DROP EVENT TRIGGER fail_create' || die "DROP EVENT TRIGGER"
wait_error 55P03 "lock timeout while creating the table, on a new connection"
lock_end

wait_caught_up good
hub_stop TERM
grep -q 26000 "$T/good.log" && fail "a setup failure left the connection without its statement: $(grep -m1 26000 "$T/good.log")"
compare_dump good hub.profiles
n_good=$n_dump

# ---- 3. a target that stops answering ------------------------------------------

PORT=$(hub_free_port) || die "no free port"
export PG_URL
write_config stall PG_URL
sed -i -e 's/^    table: hub.profiles$/    table: hub.stalled/' \
	-e 's/^    batch_size: 100$/    batch_size: 100\n    timeout: 2s/' "$T/stall.yaml"
# more records for the same users (message ids of their own: not duplicates)
for k in 1 2; do
	"$GEN" --seed $((SEED + k)) --users 60 --records 200 >"$T/gen$k.jsonl" ||
		die "gen_records failed"
	sed "s/\"message_id\":\"m/\"message_id\":\"more$k-m/" "$T/gen$k.jsonl" >"$T/more$k.jsonl"
done
import_records stall
hub_start "$T/stall.yaml" "$T/stall.log" "http://127.0.0.1:$PORT"
wait_caught_up stall
# the hub stops while a batch waits for the stalled session
stall_session
import_records stall "$T/more1.jsonl"
is_delivering() {
	[ "$(live .state)" = delivering ] && [ "$(live .lag)" != 0 ]
}
poll 10 "no batch under way" is_delivering
t0=$(hub_now_ms)
hub_stop TERM
took=$(($(hub_now_ms) - t0))
[ "$took" -lt 3000 ] || fail "the stop took $took ms while the target did not answer"
stall_end 0
# a batch gives up on the stalled session after 2 s + 5 s, then goes on
# over a new connection
hub_start "$T/stall.yaml" "$T/stall.log" "http://127.0.0.1:$PORT"
wait_caught_up stall
stall_session
import_records stall "$T/more2.jsonl"
wait_error "no answer from the target within 7 s" "timeout of a stalled session" 30
[ "$(live .state)" != disabled ] || fail "a stalled session disabled the export: $(live "")"
wait_caught_up stall
stall_end 1
hub_stop TERM
compare_dump stall hub.stalled

# ---- 4. the url's timeouts: no give-up before the server's ------------------------

PORT=$(hub_free_port) || die "no free port"
NOWAIT_URL="$PG_URL?options=-c%20lock_timeout%3D0%20-c%20statement_timeout%3D0"
export NOWAIT_URL
write_config nowait NOWAIT_URL
sed -i -e 's/^    table: hub.profiles$/    table: hub.locked/' \
	-e 's/^    batch_size: 100$/    batch_size: 100\n    timeout: 1s/' "$T/nowait.yaml"
sql 'CREATE TABLE hub.locked (profile_id text PRIMARY KEY, doc jsonb NOT NULL,
	updated_seq bigint NOT NULL)' || die "CREATE TABLE hub.locked"
PGAPPNAME=hub_locker psql -X -q "$PG_URL" \
	-c 'BEGIN; LOCK TABLE hub.locked IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)' \
	>/dev/null 2>&1 &
LOCKER=$!
poll 10 "the locker did not lock the table" is_locked
import_records nowait
hub_start "$T/nowait.yaml" "$T/nowait.log" "http://127.0.0.1:$PORT"
is_waiting() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'profilehub-export' AND wait_event_type = 'Lock'")" = 1 ]
}
poll 10 "the export does not wait on the lock" is_waiting
# past `timeout` and 5 s (6 s) with 3 s to spare: no give-up, one session
# (9 s by the clock: 90 rounds of 0.1 s took 26 s, each round's psql and
# curl counted nowhere)
until_ms=$(($(date +%s%3N) + 9000))
while [ "$(date +%s%3N)" -lt "$until_ms" ]; do
	if error_has "no answer from the target"; then
		fail "the url's timeouts 0: given up client-side: $(live .last_error)"
		break
	fi
	n=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'profilehub-export'")
	[ "$n" -le 1 ] || { fail "the url's timeouts 0: $n export sessions"; break; }
	sleep 0.1
done
lock_end
wait_caught_up nowait
hub_stop TERM
compare_dump nowait hub.locked

finish export_postgres_setup
echo "export_postgres_setup: bad url refused without the password; $n_good profiles delivered after 55P03 and 23505 in setup; a stalled target retried, the stop not held; the url's timeouts 0 waited for"
