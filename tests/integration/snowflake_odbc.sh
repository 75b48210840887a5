#!/bin/sh
# snowflake_odbc.sh - the snowflake plugin's odbc transport against a real
# ODBC data source: a throwaway PostgreSQL (tests/pgtest.sh) through
# Debian's odbc-postgresql driver, registered in a temp odbcinst.ini.
# Tables with NULLs, unicode, equal timestamps across page boundaries and
# late-arriving rows; first runs of text, number, time, TIME, UUID and date cursors
# reading every row (times before 1970 too); a NULL first cursor value
# selected by the query (NULLs last and first) applied once and never the
# cursor; map.message_id; syncs checked through `profilehub dump`; a second
# sync reads only new rows; a sync killed (SIGKILL) or stopped (SIGTERM)
# mid-way resumes without loss or duplicates (compared with a clean run);
# SIGTERM while a long query runs cancels it, and so does one before the
# driver executes it (an LD_PRELOAD shim, odbc_late_execute.c), and so does
# query_timeout;
# bad configs refused by `check --connect`, which does not run a query the
# driver describes; a query without columns refused; a dead server retried,
# a connection lost mid-query too (connected again);
# a row failing past the first fetch fails the sync; a value past max_answer_bytes fails it,
# named; times read in UTC when
# the database's time zone is not.
set -u
cd "$(dirname "$0")/../.."
PATH="$PWD/tests/lib/bin:$PATH" # its jq: -e fails on no input (tests/lib/bin/jq)
. tests/lib/pid.sh # pid_stop: no signal to a PID that is no longer ours
B=${HUB_BUILD:-build}
HUB="$PWD/$B/profilehub"
T=$(mktemp -d)
chmod 755 "$T"
cleanup() {
	sh tests/pgtest.sh stop "$T/pg" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

driver=$(ls /usr/lib/*/odbc/psqlodbcw.so /usr/lib/odbc/psqlodbcw.so 2>/dev/null | head -1)
[ -n "$driver" ] || { echo "FAIL: psqlodbcw.so not found (install odbc-postgresql)"; exit 1; }

# ---- PostgreSQL, the ODBC driver and the tables -------------------------------------
mkdir -p "$T/pg"
sh tests/pgtest.sh start "$T/pg" >/dev/null || { echo "FAIL: PostgreSQL did not start"; exit 1; }
PORT=$(cat "$T/pg/port")
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres hubtest "$@"; }

mkdir -p "$T/odbc"
cat >"$T/odbc/odbcinst.ini" <<EOF
[PostgreSQL Unicode]
Description = PostgreSQL ODBC driver (Unicode)
Driver = $driver
EOF
# streaming results (a server-side cursor), booleans as booleans
OPTS="UseDeclareFetch=1;Fetch=2000;BoolsAsChar=0"
cat >"$T/odbc/odbc.ini" <<EOF
[hubtest]
Driver = PostgreSQL Unicode
Servername = 127.0.0.1
Port = $PORT
Database = hubtest
Username = postgres
UseDeclareFetch = 1
Fetch = 2000
BoolsAsChar = 0
EOF
export ODBCSYSINI="$T/odbc" ODBCINSTINI=odbcinst.ini ODBCINI="$T/odbc/odbc.ini"
# under `make check`: the driver's own leak is not ours (see the file)
export LSAN_OPTIONS="suppressions=$PWD/tests/integration/snowflake_odbc.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
CONN="Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=$PORT;Database=hubtest;UID=postgres;$OPTS"

# the database's time zone is not UTC: the plugin sets its session's (timestamptz read
# as local times were instants off by 5 hours)
psql_ <<'EOF'
ALTER DATABASE hubtest SET timezone TO 'America/New_York';
CREATE TABLE users (id bigint PRIMARY KEY, user_id text, email text, plan text,
  score numeric(10,2), vip boolean, signup timestamptz, updated_at timestamptz NOT NULL,
  name text, tags text);
-- ids 3..7 share one updated_at: with page_size 3 a page boundary falls inside
INSERT INTO users VALUES
  (1, 'u1', 'a@example.com', 'gold', 12.5, true, '2025-01-01 10:00:00+00', '2026-01-01 00:00:00+00', 'Zoë 🚀', '["x","y"]'),
  (2, 'u2', 'b@example.com', NULL, NULL, false, NULL, '2026-01-01 00:01:00+00', 'Bob', NULL),
  (3, 'u3', 'c@example.com', 'silver', 3, NULL, '2025-02-01 10:00:00.123456+00', '2026-01-01 00:02:00+00', 'Ça va', NULL),
  (4, 'u4', 'd@example.com', 'gold', 4, true, NULL, '2026-01-01 00:02:00+00', '日本語', NULL),
  (5, 'u5', 'e@example.com', 'gold', 5, true, NULL, '2026-01-01 00:02:00+00', 'E', NULL),
  (6, 'u6', 'f@example.com', 'gold', 6, true, NULL, '2026-01-01 00:02:00+00', 'F', NULL),
  (7, 'u7', 'g@example.com', 'gold', 7, true, NULL, '2026-01-01 00:02:00+00', 'G', NULL),
  (8, NULL, 'nobody@example.com', 'gold', 8, true, NULL, '2026-01-01 00:03:00+00', 'no id', NULL),
  (9, 'u9', 'i@example.com', 'gold', 9, true, NULL, '2026-01-01 00:04:00.5+00', 'I', NULL);
CREATE TABLE events (event_id bigint PRIMARY KEY, user_id text, device_id text, event_name text,
  props json, occurred_at timestamptz NOT NULL);
INSERT INTO events
  SELECT i, 'u' || (i % 9 + 1), 'd' || (i % 9 + 1), CASE WHEN i % 2 = 0 THEN 'purchase' ELSE 'view' END,
         json_build_object('n', i, 'long', repeat('x', CASE WHEN i = 7 THEN 1000 ELSE 1 END)),
         '2026-01-02 00:00:00+00'::timestamptz + (i / 4) * interval '1 second'
  FROM generate_series(1, 40) i;
-- first runs: text sorting before '0', numbers below 0, a NULL cursor value
CREATE TABLE phones (phone text, user_id text);
INSERT INTO phones VALUES ('+33612345678', 'p1'), ('-legacy', 'p2'), ('0611', 'p3'),
  ('alice', 'p4'), ('', 'p5'), (' lead', 'p6'), ('#7', 'p7'), (NULL, 'p8');
-- a TIME first cursor column: midnight is its start ('' is no time: 22007)
CREATE TABLE shifts (at time, id bigint, user_id text);
INSERT INTO shifts VALUES ('08:30:00', 2, 't2'), ('00:00:00', 1, 't1'), ('23:59:59.5', 3, 't3');
-- a UUID first cursor column (psqlodbc: SQL_GUID): the zero UUID is its start
CREATE TABLE devices (id uuid PRIMARY KEY, user_id text);
INSERT INTO devices VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'v2'),
  ('00000000-0000-0000-0000-000000000000', 'v1'), ('0a0eebc9-9c0b-4ef8-bb6d-6bb9bd380a11', 'v3');
CREATE TABLE ledger (id bigint PRIMARY KEY, user_id text, amount numeric(10,2), rate float8);
INSERT INTO ledger VALUES (-20, 'l1', -5.5, -1e300), (-3, 'l2', 0, -2.5), (0, 'l3', 2.25, 0),
  (5, 'l4', -0.01, 7);
-- NUMERIC values wider than the 72-character buffer (90 digits, 80 + 20 decimals)
CREATE TABLE wide (user_id text, big numeric);
INSERT INTO wide VALUES ('w1', ('1' || repeat('0', 89))::numeric), ('w2', repeat('9', 90)::numeric),
  ('w3', (repeat('1', 80) || '.' || repeat('5', 20))::numeric);
-- a single-precision cursor: 0.7 is 0.69999998... as a real
CREATE TABLE scores (score real, id bigint, user_id text, PRIMARY KEY (score, id));
INSERT INTO scores VALUES (0.5, 1, 's1'), (0.7, 2, 's2');
-- times and dates before 1970, back to 0001-01-01
CREATE TABLE history (id bigint PRIMARY KEY, user_id text, at timestamptz, day date, wall timestamp);
INSERT INTO history VALUES (4, 'h4', '2026-01-01 00:00:00+00', '2026-01-01', '2026-01-01 00:00:00'),
  (1, 'h1', '0001-01-01 00:00:00+00', '0001-01-01', '0001-01-01 00:00:00'),
  (3, 'h3', '1969-12-31 23:59:59.999999+00', '1969-12-31', '1969-12-31 23:59:59.999999'),
  (2, 'h2', '1900-01-01 00:00:00+00', '1900-01-01', '1900-01-01 00:00:00');
-- a NULL first cursor value, selected (OR updated_at IS NULL)
CREATE TABLE nullable (id bigint PRIMARY KEY, user_id text, updated_at timestamptz);
INSERT INTO nullable VALUES (1, 'n1', '2026-01-01 00:00:00+00'), (3, 'n3', NULL);
-- two clicks alike in every mapped column and in the cursor (to the second)
CREATE TABLE clicks (click_id text PRIMARY KEY, user_id text, name text, at timestamptz NOT NULL);
INSERT INTO clicks VALUES ('c1', 'k1', 'click', '2026-01-03 00:00:00+00'),
  ('c2', 'k1', 'click', '2026-01-03 00:00:00+00');
-- the kill test: 60000 events of 3000 users, ties every 3 rows
CREATE TABLE bulk (id bigint PRIMARY KEY, user_id text, event_name text, at timestamptz NOT NULL);
INSERT INTO bulk SELECT i, 'b' || (i % 3000), 'tick',
  '2026-02-01 00:00:00+00'::timestamptz + (i / 3) * interval '1 millisecond'
  FROM generate_series(1, 60000) i;
EOF
[ $? -eq 0 ] || { echo "FAIL: loading the tables"; exit 1; }

mkdir -p "$T/plugins"
ln -s "$PWD/$B/plugins/snowflake.so" "$T/plugins/snowflake.so"

users_map='{custom_id: user_id, attributes: {$email_address: email, plan: plan, score: score, vip: vip, date(signup): signup, name: name, json(tags): tags}}'
# config DB: one file per store
config() {
	cat <<EOF
store:
  path: $T/$1.db
plugin_dir: $T/plugins
sources:
  - name: users
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, email, plan, score, vip, signup, updated_at, name, tags FROM users WHERE updated_at >= :cursor ORDER BY updated_at, id
    cursor: [updated_at, id]
    page_size: 3
    map: $users_map
  - name: events
    plugin: snowflake
    transport: odbc
    connection_string: "$CONN"
    query: SELECT * FROM events WHERE occurred_at >= :cursor ORDER BY occurred_at, event_id
    cursor: [occurred_at, event_id]
    page_size: 7
    kind: events
    map: {custom_id: user_id, installation_id: device_id, timestamp: occurred_at, event: {name: event_name, properties: props}}
  - name: bulk
    plugin: snowflake
    connection_string: "$CONN"
    query: SELECT id, user_id, event_name, at FROM bulk WHERE at >= :cursor ORDER BY at, id
    cursor: [at, id]
    page_size: 500
    map: {custom_id: user_id, event: {name: event_name}}
  - name: shifts
    plugin: snowflake
    dsn: hubtest
    query: SELECT at, id, user_id FROM shifts WHERE at >= :cursor ORDER BY at, id
    cursor: [at, id]
    map: {custom_id: user_id, attributes: {at: at}}
  - name: devices
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id FROM devices WHERE id >= :cursor ORDER BY id
    cursor: [id]
    map: {custom_id: user_id, attributes: {device: id}}
  - name: phones
    plugin: snowflake
    dsn: hubtest
    query: SELECT phone, user_id FROM phones WHERE phone COLLATE "C" >= :cursor ORDER BY phone COLLATE "C"
    cursor: [phone]
    map: {custom_id: user_id, attributes: {phone: phone}}
  - name: ledger
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id FROM ledger WHERE id >= :cursor ORDER BY id
    cursor: [id]
    map: {custom_id: user_id, attributes: {id: id}}
  - name: amounts
    plugin: snowflake
    dsn: hubtest
    query: SELECT amount, user_id FROM ledger WHERE amount >= :cursor ORDER BY amount
    cursor: [amount]
    map: {custom_id: user_id, attributes: {amount: amount}}
  - name: rates
    plugin: snowflake
    dsn: hubtest
    query: SELECT rate, user_id FROM ledger WHERE rate >= :cursor ORDER BY rate
    cursor: [rate]
    map: {custom_id: user_id, attributes: {rate: rate}}
  - name: wide
    plugin: snowflake
    dsn: hubtest
    query: SELECT big, user_id FROM wide WHERE big >= :cursor ORDER BY big
    cursor: [big]
    map: {custom_id: user_id, attributes: {string(big): big}}
  - name: scores
    plugin: snowflake
    dsn: hubtest
    query: SELECT score, id, user_id FROM scores WHERE score >= :cursor ORDER BY score, id
    cursor: [score, id]
    map: {custom_id: user_id, attributes: {score: score}}
$(for col in at day wall; do printf '  - name: history_%s
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, %s FROM history WHERE %s >= :cursor ORDER BY %s, id
    cursor: [%s, id]
    map: {custom_id: user_id, attributes: {n: id}}\n' $col $col $col $col $col; done)
  - name: nullable
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, updated_at FROM nullable WHERE updated_at >= :cursor OR updated_at IS NULL ORDER BY updated_at, id
    cursor: [updated_at, id]
    map: {custom_id: user_id, attributes: {n: id}}
  - name: nullable_first
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, updated_at FROM nullable WHERE updated_at >= :cursor OR updated_at IS NULL ORDER BY updated_at NULLS FIRST, id
    cursor: [updated_at, id]
    map: {custom_id: user_id, attributes: {n: id}}
  - name: clicks
    plugin: snowflake
    dsn: hubtest
    query: SELECT * FROM clicks WHERE at >= :cursor ORDER BY at
    cursor: at
    kind: events
    map: {custom_id: user_id, message_id: click_id, event: {name: name}}
  - name: clicks_hashed
    plugin: snowflake
    dsn: hubtest
    query: SELECT * FROM clicks WHERE at >= :cursor ORDER BY at
    cursor: at
    kind: events
    map: {custom_id: user_id, event: {name: name}}
  - name: down
    plugin: snowflake
    connection_string: "Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=1;Database=x;UID=x"
    query: SELECT * FROM users WHERE updated_at >= :cursor
    cursor: updated_at
    max_retries: 1
    map: $users_map
  - name: slow
    plugin: snowflake
    dsn: hubtest
    query: WITH z AS (SELECT pg_sleep(s) FROM nap) SELECT u.* FROM users u, z WHERE updated_at >= :cursor ORDER BY updated_at, id
    cursor: [updated_at, id]
    map: $users_map
  - name: huge
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, updated_at, repeat('y', 70000) AS big FROM users WHERE updated_at >= :cursor ORDER BY updated_at, id
    cursor: [updated_at, id]
    max_answer_bytes: 65536
    map: {custom_id: user_id, attributes: {string(big): big}}
  - name: timed
    plugin: snowflake
    dsn: hubtest
    query: WITH z AS (SELECT pg_sleep(s) FROM nap) SELECT u.* FROM users u, z WHERE updated_at >= :cursor ORDER BY updated_at, id
    cursor: [updated_at, id]
    query_timeout: 1s
    max_retries: 0
    map: $users_map
  - name: boom
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, 1 / (3000 - id) AS boom FROM bulk WHERE id >= :cursor ORDER BY id
    cursor: [id]
    page_size: 500
    map: {custom_id: user_id, attributes: {b: boom}}
  - name: dropped
    plugin: snowflake
    dsn: hubtest
    query: SELECT id, user_id, updated_at FROM users WHERE updated_at >= :cursor AND drop_once() ORDER BY updated_at, id
    cursor: [updated_at, id]
    max_retries: 2
    map: {custom_id: user_id, attributes: {n: id}}
  - name: refused
    plugin: snowflake
    connection_string: "Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=$PORT;Database=hubtest;UID=hub;PWD=wrong-$$"
    query: SELECT * FROM users WHERE updated_at >= :cursor
    cursor: updated_at
    map: $users_map
EOF
}
config main >"$T/main.yaml"
sync() { "$HUB" -c "$T/$1.yaml" sync "$2" ${3:-} >"$T/out" 2>"$T/err"; }
# synced WHAT READ APPLIED DUPLICATES SYNC-ARGS...: the sync succeeds with those counts
synced() {
	what=$1 counts="read $2, applied $3, duplicates $4, rejected 0, blocked 0, refused 0"
	shift 4
	sync "$@" || fail "$what: $(cat "$T/err")"
	grep -qx "$counts" "$T/out" || fail "$what: $(cat "$T/out")"
}

# ---- 1. users: typed attributes, NULLs, unicode, ties across pages -----------------------
sync main users || fail "users sync: $(cat "$T/err")"
grep -qx "read 9, applied 8, duplicates 0, rejected 1, blocked 0, refused 0" "$T/out" ||
	fail "users summary: $(cat "$T/out")"
grep -q "rejected: identifiers: no usable identifier" "$T/err" || fail "no rejection reason: $(cat "$T/err")"
# named with its row's cursor values, by which the warehouse finds it again
grep -qF "(first in the row with updated_at=2026-01-01T00:03:00.000000000Z, id=8)" "$T/err" ||
	fail "the rejection names no row: $(cat "$T/err")"
grep -qx 'cursor \["2026-01-01T00:04:00.500000000Z","9"\]' "$T/out" || fail "users cursor: $(cat "$T/out")"
"$HUB" -c "$T/main.yaml" dump >"$T/dump"
[ "$(wc -l <"$T/dump")" -eq 8 ] || fail "8 user profiles expected"
jq -e -s 'map(select(.custom_id == "u1"))[0].attributes == {"$email_address": "a@example.com",
	"plan": "gold", "score": 12.5, "vip": true, "signup": "2025-01-01T10:00:00.000Z",
	"name": "Zoë 🚀", "tags": ["x", "y"]}' "$T/dump" >/dev/null ||
	fail "u1: $(jq -c -s 'map(select(.custom_id == "u1"))[0].attributes' "$T/dump")"
jq -e -s 'map(select(.custom_id == "u2"))[0].attributes == {"$email_address": "b@example.com",
	"vip": false, "name": "Bob"}' "$T/dump" >/dev/null || fail "u2 NULLs"
jq -e -s '(map(select(.custom_id == "u3"))[0].attributes.signup == "2025-02-01T10:00:00.123Z") and
	(map(select(.custom_id == "u4"))[0].attributes.name == "日本語") and
	([.[].custom_id] | sort == ["u1","u2","u3","u4","u5","u6","u7","u9"])' "$T/dump" >/dev/null ||
	fail "ties or unicode: $(jq -c -s 'map({custom_id, name: .attributes.name})' "$T/dump")"

# ---- 1b. first runs of text, TIME, UUID and number cursors: every row but a NULL one ----
config first >"$T/first.yaml"
sync first phones || fail "phones sync: $(cat "$T/err")"
grep -qx "read 7, applied 7, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "a first run of a text cursor reads every row: $(cat "$T/out")"
grep -qx 'cursor \["alice"\]' "$T/out" || fail "phones cursor: $(cat "$T/out")"
sync first shifts || fail "shifts sync: $(cat "$T/err")"
grep -qx "read 3, applied 3, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "a first run of a TIME cursor reads every row, midnight's too: $(cat "$T/out")"
grep -qx 'cursor \["23:59:59.5","3"\]' "$T/out" || fail "shifts cursor: $(cat "$T/out")"
sync first shifts || fail "shifts second sync: $(cat "$T/err")"
grep -q "^read 0," "$T/out" || fail "a TIME cursor read rows again: $(cat "$T/out")"
sync first devices || fail "devices sync: $(cat "$T/err")"
grep -qx "read 3, applied 3, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "a first run of a UUID cursor reads every row, the zero UUID's too: $(cat "$T/out")"
grep -qix 'cursor \["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"\]' "$T/out" ||
	fail "devices cursor: $(cat "$T/out")"
for src in ledger amounts rates; do
	sync first $src || fail "$src sync: $(cat "$T/err")"
	grep -qx "read 4, applied 4, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
		fail "a first run of a number cursor ($src) reads the negative ones too: $(cat "$T/out")"
done

# a NUMERIC wider than its buffer is fetched whole (it was cut to 71 characters: the
# attribute and the cursor lost digits)
sync first wide || fail "wide sync: $(cat "$T/err")"
grep -qx "read 3, applied 3, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "wide numbers: $(cat "$T/out")"
grep -qx "cursor \\[\"$(printf '9%.0s' $(seq 90))\"\\]" "$T/out" || fail "wide cursor: $(cat "$T/out")"
"$HUB" -c "$T/first.yaml" dump | jq -e -s 'map(select(.custom_id | startswith("w"))) | sort_by(.custom_id) |
	map(.attributes.big) == ["1" + "0" * 89, "9" * 90, "1" * 80 + "." + "5" * 20]' >/dev/null ||
	fail "wide numbers cut: $("$HUB" -c "$T/first.yaml" dump | jq -c -s 'map(select(.custom_id | startswith("w")) | .attributes.big)')"
sync first wide || fail "wide sync again: $(cat "$T/err")"
grep -q "^read 0," "$T/out" || fail "wide numbers again: $(cat "$T/out")"

# ---- 1b''. a single-precision (real) cursor: rows added later at the cursor's value are read
# (bound as a double, the cursor 0.7 was above the column's 0.69999998...: they were lost)
synced "real cursor, first sync" 2 2 0 first scores
psql_ -c "INSERT INTO scores VALUES (0.7, 3, 's3'), (0.9, 4, 's4')" || fail "inserting scores"
synced "real cursor, the rows added at its value" 2 2 0 first scores
[ "$("$HUB" -c "$T/first.yaml" dump | jq -s 'map(select(.custom_id // "" | startswith("s"))) | length')" = 4 ] ||
	fail "real cursor: rows at the cursor's value were left out: $(cat "$T/out")"

# ---- 1b'. times and dates before 1970 (back to 0001-01-01): a first sync and --full read them
# (the epoch was bound: they were left out for good)
for col in at day wall; do
	synced "$col before 1970, first sync" 4 4 0 first "history_$col"
	synced "$col before 1970, --full" 4 0 4 first "history_$col" --full
done

# ---- 1c. a NULL first cursor value: applied once, never the cursor, a duplicate after ----
# (PostgreSQL sorts NULLs last; NULLS FIRST as BigQuery does)
for src in nullable nullable_first; do
	sync first $src || fail "$src sync: $(cat "$T/err")"
	grep -qx "read 2, applied 2, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
		fail "$src: $(cat "$T/out")"
	grep -qx 'cursor \["2026-01-01T00:00:00.000000000Z","1"\]' "$T/out" || fail "$src cursor: $(cat "$T/out")"
	sync first $src || fail "$src again: $(cat "$T/err")"
	grep -qx "read 1, applied 0, duplicates 1, rejected 0, blocked 0, refused 0" "$T/out" ||
		fail "$src again: the NULL row is read again as a duplicate: $(cat "$T/out")"
	grep -qx 'cursor \["2026-01-01T00:00:00.000000000Z","1"\]' "$T/out" || fail "$src cursor again: $(cat "$T/out")"
done

# ---- 1d. map.message_id: two clicks alike but for their id stay two ----------------------
sync first clicks || fail "clicks sync: $(cat "$T/err")"
grep -qx "read 2, applied 2, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "clicks with map.message_id: $(cat "$T/out")"
sync first clicks_hashed || fail "clicks_hashed sync: $(cat "$T/err")"
grep -qx "read 2, applied 1, duplicates 1, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "clicks without map.message_id (the second hashes as the first): $(cat "$T/out")"

# ---- 2. events: properties (one longer than its buffer), installations --------------------
sync main events || fail "events sync: $(cat "$T/err")"
grep -qx "read 40, applied 40, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "events summary: $(cat "$T/out")"
"$HUB" -c "$T/main.yaml" dump --events all >"$T/dump"
jq -e -s '(map(.event_count) | add == 40) and
	(map(.events[]) | map(select(.properties.n == 7))[0].properties.long | length == 1000) and
	(map(select(.custom_id == "u8"))[0].installations[0].installation_id == "d8")' "$T/dump" >/dev/null ||
	fail "events in profiles"

# ---- 3. again: nothing; then late rows at the cursor's time, newer rows, an update ---------
sync main users || fail "second users sync"
grep -q "^read 0," "$T/out" || fail "second sync read rows: $(cat "$T/out")"
psql_ <<'EOF'
INSERT INTO users VALUES
  (10, 'u10', 'j@example.com', 'gold', 1, true, NULL, '2026-01-01 00:04:00.5+00', 'late, same time', NULL),
  (11, 'u11', 'k@example.com', 'gold', 1, true, NULL, '2026-01-01 00:05:00+00', 'later', NULL);
UPDATE users SET plan = 'platinum', updated_at = '2026-01-01 00:06:00+00' WHERE id = 2;
INSERT INTO events VALUES (41, 'u1', 'd1', 'late', '{}', '2026-01-02 00:00:10+00');
EOF
sync main users || fail "third users sync: $(cat "$T/err")"
grep -qx "read 3, applied 3, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "only the three new rows expected: $(cat "$T/out")"
sync main events || fail "second events sync"
grep -qx "read 1, applied 1, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "only the late event expected: $(cat "$T/out")"
"$HUB" -c "$T/main.yaml" dump | jq -e -s 'length == 11 and
	(map(select(.custom_id == "u2"))[0].attributes.plan == "platinum")' >/dev/null ||
	fail "late rows / update not applied"

# ---- 4. SIGKILL and SIGTERM mid-way: no loss, no duplicates --------------------------------
normalize() { jq -c '{custom_id, event_count}' | sort; }
config clean >"$T/clean.yaml"
sync clean bulk || fail "clean bulk sync: $(cat "$T/err")"
grep -qx "read 60000, applied 60000, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "clean bulk summary: $(cat "$T/out")"
"$HUB" -c "$T/clean.yaml" dump | normalize >"$T/clean.dump"

for sig in KILL TERM; do
	config "$sig" >"$T/$sig.yaml"
	"$HUB" -c "$T/$sig.yaml" sync bulk >"$T/$sig.out" 2>"$T/$sig.err" &
	pid=$!
	# a random point of the run (it takes about a second); SIGTERM once the query
	# has returned (a first page committed): a stop while it runs cancels it, and
	# nothing is committed (4b), as a slow start (a sanitizer build) showed
	sleep "0.$(( $(od -An -N2 -tu2 /dev/urandom) % 5 + 2 ))"
	n=0
	while [ "$sig" = TERM ] && [ $n -lt 100 ] &&
		[ "$(sqlite3 "$T/$sig.db" "SELECT count(*) FROM meta WHERE key = 'cursor:bulk'" 2>/dev/null)" != 1 ]; do
		n=$((n + 1))
		sleep 0.05
	done
	kill -"$sig" $pid 2>/dev/null || fail "$sig: the sync ended before the signal"
	wait $pid 2>/dev/null
	rc=$?
	if [ "$sig" = TERM ]; then
		[ $rc -eq 1 ] || fail "SIGTERM: exit $rc, expected 1"
		grep -q "stopped before catching up" "$T/$sig.err" || fail "SIGTERM message: $(cat "$T/$sig.err")"
		# the page in progress ended at a cursor boundary and committed
		part=$(sed -n 's/^read \([0-9]*\),.*/\1/p' "$T/$sig.out")
		[ "${part:-0}" -gt 0 ] || fail "SIGTERM: nothing committed before stopping"
	fi
	sync "$sig" bulk || fail "$sig: resumed sync: $(cat "$T/err")"
	"$HUB" -c "$T/$sig.yaml" dump | normalize >"$T/$sig.dump"
	cmp -s "$T/clean.dump" "$T/$sig.dump" ||
		fail "$sig: profiles differ from a clean run: $(diff "$T/clean.dump" "$T/$sig.dump" | head -5)"
	grep -q "^read [1-9]" "$T/out" || fail "$sig: the resumed sync read nothing: $(cat "$T/out")"
done

# ---- 4b. SIGTERM while the query runs: it is cancelled, not waited for -------------------------
# (SQLExecute blocked until the query ended: a stopping hub waited for it)
psql_ -c "CREATE TABLE nap (s float8); INSERT INTO nap VALUES (25)" || fail "creating nap"
running() { # the number of slow queries PostgreSQL is running
	psql_ -At -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND
		query LIKE '%pg_sleep(s) FROM nap%' AND pid <> pg_backend_pid()"
}
# query_ended WHAT: the slow query no longer runs on the server (5 s): a cancel reached it
query_ended() {
	n=0
	until [ "$(running)" = 0 ]; do
		n=$((n + 1))
		[ $n -lt 50 ] || { fail "$1: the cancelled query still runs on the server"; break; }
		sleep 0.1
	done
}
config slow >"$T/slow.yaml"
"$HUB" -c "$T/slow.yaml" sync slow >"$T/slow.out" 2>"$T/slow.err" &
pid=$!
n=0
until [ "$(running)" = 1 ]; do
	n=$((n + 1))
	[ $n -lt 100 ] || { fail "the slow query never ran: $(cat "$T/slow.err")"; break; }
	sleep 0.1
done
# stopped_in_time WHEN ERR: SIGTERM to $pid stops it within 10 s (the query
# sleeps 25 s), and the query no longer runs on the server
stopped_in_time() {
	t0=$(date +%s)
	pid_stop TERM $pid 10; rc=$?
	[ $rc -ne 124 ] || { fail "SIGTERM $1: still running 10 s later (the query sleeps 25 s)"; pid_signal KILL $pid; }
	[ $(($(date +%s) - t0)) -lt 10 ] || fail "SIGTERM $1: the hub took $(($(date +%s) - t0)) s to stop"
	grep -q "stopped before catching up" "$2" || fail "SIGTERM $1 (exit $rc): $(cat "$2")"
	query_ended "SIGTERM $1"
}
stopped_in_time "while the query ran" "$T/slow.err"

# ---- 4c. SIGTERM before the driver executes: the cancel is sent again -------------------------
# (a first SQLCancel found nothing executing and was the only one: the hub
# waited the whole query); the shim holds the first SQLExecute back until
# the hub's first SQLCancel
${CC:-cc} -shared -fPIC -o "$T/late.so" tests/integration/odbc_late_execute.c -ldl -lpthread ||
	fail "building the shim"
HUB_SHIM_MARK="$T/late.mark" LD_PRELOAD="$T/late.so" \
	ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
	"$HUB" -c "$T/slow.yaml" sync slow >"$T/late.out" 2>"$T/late.err" &
pid=$!
n=0
until [ -e "$T/late.mark" ]; do
	n=$((n + 1))
	[ $n -lt 100 ] || { fail "the shim never held SQLExecute: $(cat "$T/late.err")"; break; }
	sleep 0.1
done
stopped_in_time "before the driver executed the query" "$T/late.err"

# ---- 4d. a query past query_timeout: cancelled on the server, the run fails retryable ----------
# (a query that never ended held its source for ever: ODBC had no timeout)
t0=$(date +%s)
sync slow timed; rc=$?
[ $rc -eq 1 ] || fail "query_timeout: exit $rc: $(cat "$T/err")"
[ $(($(date +%s) - t0)) -lt 10 ] || fail "query_timeout 1s: the sync took $(($(date +%s) - t0)) s"
grep -q "sync: timed: running the query: still running after query_timeout (1 s): cancelled" \
	"$T/err" || fail "query_timeout message: $(cat "$T/err")"
query_ended "query_timeout"

psql_ -c "UPDATE nap SET s = 0"
rows=$(psql_ -At -c "SELECT count(*) FROM users")
sync slow slow || fail "the run after a cancelled query: $(cat "$T/err")"
# (u8 has no user_id: rejected, as in the users source)
grep -qx "read $rows, applied $((rows - 1)), duplicates 0, rejected 1, blocked 0, refused 0" "$T/out" ||
	fail "the run after a cancelled query reads every row: $(cat "$T/out")"

# ---- 5. failures and bad configs ----------------------------------------------------------------
sync main down; rc=$?
[ $rc -eq 1 ] || fail "dead server: exit $rc"
grep -q "profilehub: sync: down: connecting: SQLSTATE 08001" "$T/err" || fail "dead server message: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "a connection failure is retried: $(cat "$T/out")"

# the connection lost while the query runs (its backend ends itself, once): the retry
# connects again (it ran on the broken connection until out of retries)
psql_ <<'EOF'
CREATE SEQUENCE once_seq;
CREATE FUNCTION drop_once() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('once_seq') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
  RETURN true;
END $$;
EOF
rows=$(psql_ -At -c "SELECT count(*) FROM users")
sync main dropped || fail "a connection lost mid-query: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "a connection lost mid-query is retried once: $(cat "$T/out")"
grep -q "^read $rows," "$T/out" || fail "a connection lost mid-query, then every row: $(cat "$T/out")"

# a wrong password: psqlodbc says 08001, as for a dead server, but it is refused
# credentials (HUB_ERR_AUTH: the source is disabled), not retried max_retries times
psql_ -c "CREATE ROLE hub LOGIN PASSWORD 'right-$$'" || fail "creating the role hub"
{ echo "host all hub 127.0.0.1/32 scram-sha-256"; cat "$T/pg/data/pg_hba.conf"; } >"$T/hba"
cat "$T/hba" >"$T/pg/data/pg_hba.conf"
psql_ -c "SELECT pg_reload_conf()" >/dev/null
n=0 # the reload is signalled: wait until the server asks hub for its password
until ! PGPASSWORD=wrong-$$ psql -X -h 127.0.0.1 -p "$PORT" -U hub -c "SELECT 1" hubtest >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 100 ] || { fail "pg_hba.conf was not reloaded"; break; }
	sleep 0.1
done
sync main refused; rc=$?
[ $rc -eq 1 ] || fail "a wrong password: exit $rc"
grep -q 'profilehub: sync: refused: connecting: SQLSTATE 08001: .*password authentication failed for user "hub"' "$T/err" ||
	fail "a wrong password: message: $(cat "$T/err")"
grep -q "^retries" "$T/out" && fail "a wrong password was retried as a network error: $(cat "$T/out") $(cat "$T/err")"
grep -q "(retry 1 of" "$T/err" && fail "a wrong password was retried: $(cat "$T/err")"
grep -q "wrong-$$" "$T/out" "$T/err" && fail "the connection string's password in a message: $(cat "$T/err")"

# a row the server fails to compute past the driver's first fetch (2000 rows) fails the
# sync, named (it ended the result as if it were its last row)
sync main boom; rc=$?
[ $rc -eq 1 ] || fail "a failed fetch: exit $rc: $(cat "$T/out")"
grep -q "boom: fetching rows: SQLSTATE 22012" "$T/err" || fail "a failed fetch: $(cat "$T/err")"

# a value past max_answer_bytes fails the run as the configuration's, naming the column and
# the bound (it was read whole, however large: a text cell may hold 1 GB)
sync main huge; rc=$?
[ $rc -eq 1 ] || fail "a value past max_answer_bytes: exit $rc: $(cat "$T/out")"
grep -q "huge: column big: a value of [0-9]* bytes or more (as the driver hands it), over \
max_answer_bytes (65536 bytes): raise max_answer_bytes" "$T/err" ||
	fail "a value past max_answer_bytes: $(cat "$T/err")"

check() {
	cat >"$T/check.yaml" <<EOF
store:
  path: $T/check.db
plugin_dir: $T/plugins
sources:
  - name: c
    plugin: snowflake
    dsn: hubtest
    query: $1
    cursor: [updated_at, id]
    map: $2
EOF
	"$HUB" -c "$T/check.yaml" check --connect >/dev/null 2>"$T/err"
}
Q="SELECT * FROM users WHERE updated_at >= :cursor ORDER BY updated_at, id"
check "$Q" "$users_map" || fail "check --connect on a good config: $(cat "$T/err")"
check "$Q" "{custom_id: user_id, attributes: {colour: colour}}" && fail "unknown column accepted"
grep -q 'sources\[0\] "c": map.attributes.colour: no column "colour" in the query.s result (columns: id, user_id, email' "$T/err" ||
	fail "unknown column message: $(cat "$T/err")"
check "SELECT * FROM users ORDER BY updated_at" "$users_map" && fail "a query without :cursor accepted"
grep -q "query: has no :cursor placeholder" "$T/err" || fail "no :cursor message: $(cat "$T/err")"
check "SELECT * FROM nope WHERE updated_at >= :cursor" "$users_map" && fail "a missing table accepted"
grep -q "SQLSTATE 42P01" "$T/err" || fail "missing table message: $(cat "$T/err")"
# a query the driver describes is not run by check (it divides by zero when run)
check "SELECT id, user_id, updated_at, 1 / (id - id) AS z FROM users WHERE updated_at >= :cursor" \
	"{custom_id: user_id, attributes: {z: z}}" || fail "check --connect ran the query: $(cat "$T/err")"
check "UPDATE users SET plan = plan WHERE id < 0 AND user_id >= :cursor" "$users_map" &&
	fail "a query without columns accepted"
grep -q "query: returns no columns" "$T/err" || fail "a query without columns: $(cat "$T/err")"

[ $fails -eq 0 ]
