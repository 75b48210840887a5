#!/bin/sh
# sync_kills.sh - a sync in flight killed with SIGKILL at random moments,
# SYNC_KILLS times (default 20), and started again each time on the same
# store, ends with every source row stored exactly once and the store a
# clean sync would make.
#
# The source, by SYNC_KILLS_TRANSPORT:
#   odbc (default)  a table of a throwaway PostgreSQL (tests/pgtest.sh) read
#                   by the snowflake plugin's odbc transport through unixODBC
#                   and Debian's odbc-postgresql;
#   sql_api         the snowflake plugin's sql_api transport against
#                   fake_snowflake (key-pair JWT, result partitions of 500
#                   rows, the first inline: sync_kills_sql_api.sh);
#   bigquery        the bigquery plugin against fake_bigquery (a service
#                   account's JWT exchanged for a token, jobs.query then
#                   getQueryResults pages: sync_kills_bigquery.sh).
# Each reads 200 rows a page into SQLite.  Each row is an event of one of
# 300 users on one of 450 devices (devices move between users, so the order
# records are applied in matters) and carries its row id in the event's
# properties; two rows share each time, so ties cross page boundaries.
#
# Each round starts `profilehub sync src` and kills it (SIGKILL) once the
# committed cursor (meta "cursor:src" in the store, polled with sqlite3) has
# moved K pages past where the round found it (K in 0..2), D ms later (D in
# 0..20).  K and D come from a generator seeded by SYNC_KILLS_SEED (printed;
# random when unset), so a failing run can be replayed.  The kill waits for
# progress, so every round is a sync in flight; the delay only spreads the
# moments (reading, mapping, committing; over HTTP also signing, posting the
# statement, fetching a partition or page) and correctness never depends on
# it.  Should the sync catch up before the kills are done, more rows are
# appended to the table (later in cursor order, as new rows arrive) and the
# rounds go on.  Then one sync runs to the end.  At the end:
#   - that last sync read exactly the rows after the committed cursor (it
#     resumed there: nothing committed is read again, nothing skipped);
#   - SQLite's integrity_check of the killed store says ok;
#   - every source row is in the store exactly once: the row ids in the
#     events of `dump --events all` are 1..N, each once;
#   - `dump --events all` equals, byte for byte, the dump of a fresh store
#     synced once without kills over the same table (PROFILEHUB_ID_KEY fixed).
#
# Usage: HUB_BUILD=build sh tests/integration/sync_kills.sh
# Knobs: SYNC_KILLS (20), SYNC_KILLS_SEED, SYNC_KILLS_ROWS (30000; 12000
# over HTTP, where each statement sorts the whole table in the fake),
# SYNC_KILLS_TRANSPORT (odbc).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

TRANSPORT=${SYNC_KILLS_TRANSPORT:-odbc}
NAME=sync_kills
case "$TRANSPORT" in
odbc) ROWS=${SYNC_KILLS_ROWS:-30000} ;;
sql_api | bigquery)
	ROWS=${SYNC_KILLS_ROWS:-12000}
	NAME=sync_kills_$TRANSPORT
	;;
*) die "SYNC_KILLS_TRANSPORT: $TRANSPORT is none of odbc, sql_api, bigquery" ;;
esac
KILLS=${SYNC_KILLS:-20}
PAGE=200
SEED=${SYNC_KILLS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

hub_tmpdir "$NAME"
chmod 755 "$T" # as root, the postgres user must reach $T/pg
sync_pid=""
FAKE_PID=""
hub_at_exit 'pid_signal KILL "$sync_pid"; pid_signal TERM "$FAKE_PID"; wait 2>/dev/null
[ "$TRANSPORT" != odbc ] || sh tests/pgtest.sh stop "$T/pg" >/dev/null 2>&1'
hub_need jq sqlite3 od

echo "$NAME: seed $SEED (replay: SYNC_KILLS_SEED=$SEED SYNC_KILLS_TRANSPORT=$TRANSPORT)"
hub_rng_seed "$SEED"
PROFILEHUB_ID_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
export PROFILEHUB_ID_KEY
QUERY_TAIL="WHERE at >= :cursor ORDER BY at, id"
MAP="{custom_id: user_id, installation_id: device_id, event: {name: event_name, properties: props}}"

# ---- odbc: PostgreSQL, the ODBC driver, the table ------------------------
odbc_setup() {
	hub_need psql
	hub_need_built snowflake
	driver=$(ls /usr/lib/*/odbc/psqlodbcw.so /usr/lib/odbc/psqlodbcw.so 2>/dev/null | head -1)
	[ -n "$driver" ] || die "psqlodbcw.so not found (install odbc-postgresql)"
	mkdir -p "$T/pg" "$T/odbc"
	sh tests/pgtest.sh start "$T/pg" >/dev/null || die "PostgreSQL did not start"
	PGPORT_=$(cat "$T/pg/port")
	cat >"$T/odbc/odbcinst.ini" <<EOF
[PostgreSQL Unicode]
Description = PostgreSQL ODBC driver (Unicode)
Driver = $driver
EOF
	export ODBCSYSINI="$T/odbc" ODBCINSTINI=odbcinst.ini
	# under `make check`: the driver's own leak is not ours (see the file)
	export LSAN_OPTIONS="suppressions=$ROOT/tests/integration/snowflake_odbc.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
	CONN="Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=$PGPORT_;Database=hubtest;UID=postgres;UseDeclareFetch=1;Fetch=2000;BoolsAsChar=0"
	psql_ -c "CREATE TABLE src (id bigint PRIMARY KEY, user_id text, device_id text,
	  event_name text, at timestamptz NOT NULL)" || die "creating the table"
	odbc_add_rows 1 "$ROWS"
}
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT_" -U postgres hubtest "$@"; }
odbc_add_rows() {
	psql_ -c "INSERT INTO src SELECT i, 'u' || (i * 7 % 300), 'd' || (i % 450), 'e' || (i % 5),
	  '2026-02-01 00:00:00+00'::timestamptz + (i / 2) * interval '1 millisecond'
	  FROM generate_series($1, $2) i" || die "inserting rows $1..$2"
}
odbc_source() {
	cat <<EOF
    plugin: snowflake
    connection_string: "$CONN"
    query: SELECT id, user_id, device_id, event_name, json_build_object('row', id) AS props, at FROM src $QUERY_TAIL
EOF
}

# ---- sql_api and bigquery: a key pair, the fake --------------------------
# The rows' cells as each fake takes them (the same rows as odbc_add_rows):
# jq_rows FROM TO CELLS, CELLS a jq program of $i, $ms (ms after
# 2026-02-01T00:00:00Z) and $s (whole seconds since the epoch)
jq_rows() {
	jq -cn --argjson from "$1" --argjson to "$2" '[range($from; $to + 1) as $i |
	  ($i / 2 | floor) as $ms | (1769904000 + ($ms / 1000 | floor)) as $s |
	  ["\($i)", "u\($i * 7 % 300)", "d\($i % 450)", "e\($i % 5)", '"$3"']]'
}
# snowflake: the props a VARIANT (JSON text), the time a TIMESTAMP_NTZ's epoch seconds
SF_CELLS='"{\"row\":\($i)}", "\($s).\($ms % 1000 + 1000 | tostring | .[1:])000000"'
# bigquery: the props a JSON value, the time int64 microseconds
BQ_CELLS='{row: $i}, "\(1769904000000000 + $ms * 1000)"'

# fake_start SCRIPT ARGS...: the fake in the background, FAKE its address
fake_start() {
	hub_need node curl openssl
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem" 2>/dev/null &&
		openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem" || die "making a key pair"
	node "$@" --port-file "$T/port" --public-key "$T/pub.pem" >"$T/fake.log" 2>&1 &
	FAKE_PID=$!
	i=0
	until [ -s "$T/port" ]; do
		i=$((i + 1))
		[ $i -le 200 ] && kill -0 "$FAKE_PID" 2>/dev/null ||
			die "the fake did not start: $(cat "$T/fake.log")"
		sleep 0.05
	done
	FAKE="http://127.0.0.1:$(cat "$T/port")"
}
# The fake's table TABLE, its rows' cells CELLS (set by the setups below).
# fake_data KEY TYPE...: $T/data.json, the fake's --data: TABLE with rows
# 1..ROWS and, under KEY, its columns id, user_id, device_id, event_name,
# props, at (named in TABLE's case) of the TYPEs
fake_data() {
	k=$1
	shift
	jq_rows 1 "$ROWS" "$CELLS" | jq -c --arg t "$TABLE" --arg k "$k" --arg types "$*" '
	  ["id", "user_id", "device_id", "event_name", "props", "at"] as $names |
	  ($types | split(" ")) as $ty |
	  {($t): {($k): [range(6) as $c | {name: ($names[$c] |
	    if $t == ($t | ascii_upcase) then ascii_upcase else . end), type: $ty[$c]}],
	  rows: .}}' >"$T/data.json" ||
		die "writing the rows"
}
# fake_add_rows FROM TO: appends rows FROM..TO to the fake's TABLE
fake_add_rows() {
	jq_rows "$1" "$2" "$CELLS" | jq -c --arg t "$TABLE" '{append: {($t): .}}' >"$T/append.json" &&
		curl -sf -X POST --data-binary @"$T/append.json" "$FAKE/_control" >/dev/null ||
		die "appending rows $1..$2 to the fake's $TABLE"
}

sql_api_setup() {
	hub_need_built snowflake
	TABLE=SRC CELLS=$SF_CELLS
	fake_data columns fixed text text text variant timestamp_ntz
	fake_start tests/integration/fake_snowflake/server.js --account xy12345 --user hub_user \
		--data "$T/data.json" --partition-rows 500
}
sql_api_source() {
	cat <<EOF
    plugin: snowflake
    transport: sql_api
    endpoint: $FAKE
    account: xy12345.us-east-1
    user: hub_user
    private_key_file: $T/key.pem
    warehouse: WH
    database: ANALYTICS
    schema: PUBLIC
    role: LOADER
    query: SELECT * FROM src $QUERY_TAIL
EOF
}

bigquery_setup() {
	hub_need_built bigquery
	TABLE=src CELLS=$BQ_CELLS
	fake_data schema INTEGER STRING STRING STRING JSON TIMESTAMP
	email=hub-loader@proj-test.iam.gserviceaccount.com
	fake_start tests/integration/fake_bigquery/server.js --client-email "$email" \
		--data "$T/data.json" --page-rows 500
	jq -n --arg email "$email" --rawfile pem "$T/key.pem" --arg uri "$FAKE/token" \
		'{type: "service_account", project_id: "proj-test", private_key_id: "k1",
		  private_key: $pem, client_email: $email, client_id: "1", token_uri: $uri}' \
		>"$T/sa.json" || die "writing the service account's key file"
}
bigquery_source() {
	cat <<EOF
    plugin: bigquery
    endpoint: $FAKE
    project: proj-test
    location: EU
    credentials_file: $T/sa.json
    query: SELECT * FROM \`proj-test.analytics.src\` $QUERY_TAIL
EOF
}

# add_rows FROM TO: rows FROM..TO, in cursor order after every row before
add_rows() {
	if [ "$TRANSPORT" = odbc ]; then odbc_add_rows "$@"; else fake_add_rows "$@"; fi
}
"${TRANSPORT}_setup" # the source, rows 1..ROWS in it

config() { # STORE
	cat <<EOF
store:
  path: $T/$1.db
plugin_dir: $ROOT/$B/plugins
sources:
  - name: src
EOF
	"${TRANSPORT}_source"
	cat <<EOF
    cursor: [at, id]
    page_size: $PAGE
    map: $MAP
EOF
}
config live >"$T/live.yaml"
config clean >"$T/clean.yaml"

# committed: the row id of the committed cursor (ids follow the cursor
# order), 0 before the first commit
committed() {
	c=""
	[ -f "$T/live.db" ] &&
		c=$(sqlite3 -cmd ".timeout 5000" "$T/live.db" \
			"SELECT json_extract(value, '\$[1]') FROM meta WHERE key = 'cursor:src'" 2>/dev/null)
	echo "${c:-0}"
}

# ---- the killed runs -----------------------------------------------------
t0=$(hub_now_ms)
kills=0
topups=0
while [ "$kills" -lt "$KILLS" ]; do
	hub_rnd 3
	k=$R
	hub_rnd 21
	d=$R
	from=$(committed)
	"$HUB" -c "$T/live.yaml" sync src >"$T/run.out" 2>"$T/run.err" &
	sync_pid=$!
	# until the cursor moved k pages (bounded), or the sync ended
	i=0
	while kill -0 "$sync_pid" 2>/dev/null && [ "$(committed)" -lt $((from + k * PAGE)) ]; do
		i=$((i + 1))
		[ $i -le 3000 ] || die "the cursor did not move $k pages in 30 s (round $((kills + 1)))"
		sleep 0.01
	done
	sleep "$(printf '0.%03d' "$d")"
	kill -9 "$sync_pid" 2>/dev/null
	wait "$sync_pid" 2>/dev/null
	rc=$?
	sync_pid=""
	if [ $rc -eq 137 ]; then
		kills=$((kills + 1))
		continue
	fi
	# it ended by itself: caught up, or failed
	[ $rc -eq 0 ] || die "a sync exited $rc: $(cat "$T/run.err")"
	topups=$((topups + 1))
	[ $topups -le 10 ] || die "the sync caught up 10 times before $KILLS kills"
	add_rows $((ROWS + 1)) $((ROWS + ROWS / 4))
	ROWS=$((ROWS + ROWS / 4))
done
before=$(committed)
"$HUB" -c "$T/live.yaml" sync src >"$T/last.out" 2>"$T/last.err" ||
	die "the last sync exited $?: $(cat "$T/last.err")"
kill_ms=$(($(hub_now_ms) - t0))

# it resumed at the committed cursor: exactly the rows after it
grep -qx "read $((ROWS - before)), applied $((ROWS - before)), duplicates 0, rejected 0, blocked 0, refused 0" \
	"$T/last.out" || fail "the last sync (cursor at row $before of $ROWS): $(head -1 "$T/last.out")"
[ "$before" -lt "$ROWS" ] || fail "the killed runs had committed everything: the last sync resumed nothing"

# ---- every row exactly once; the same store as a clean sync --------------
[ "$(sqlite3 "$T/live.db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check of the killed store"
"$HUB" -c "$T/live.yaml" dump --events all >"$T/live.jsonl" 2>"$T/dump.err" ||
	die "dump of the killed store: $(cat "$T/dump.err")"
jq -r '.events[].properties.row' "$T/live.jsonl" | sort -n >"$T/rows" || die "jq over the dump"
seq 1 "$ROWS" >"$T/want_rows"
if ! cmp -s "$T/rows" "$T/want_rows"; then
	fail "rows not stored exactly once: $(wc -l <"$T/rows") events for $ROWS rows;" \
		"twice: $(uniq -d "$T/rows" | head -3 | tr '\n' ' ')" \
		"missing: $(comm -13 "$T/rows" "$T/want_rows" | head -3 | tr '\n' ' ')"
fi

t1=$(hub_now_ms)
"$HUB" -c "$T/clean.yaml" sync src >"$T/clean.out" 2>"$T/clean.err" ||
	die "the clean sync exited $?: $(cat "$T/clean.err")"
clean_ms=$(($(hub_now_ms) - t1))
grep -q "^read $ROWS, applied $ROWS, duplicates 0," "$T/clean.out" ||
	fail "clean sync: $(head -1 "$T/clean.out")"
"$HUB" -c "$T/clean.yaml" dump --events all >"$T/clean.jsonl" 2>"$T/dump.err" ||
	die "dump of the clean store: $(cat "$T/dump.err")"
if ! cmp -s "$T/live.jsonl" "$T/clean.jsonl"; then
	echo "$NAME: the killed store and the clean one differ (first lines of the diff):"
	diff "$T/live.jsonl" "$T/clean.jsonl" | head -4 | cut -c1-300
	fail "dump after $kills kills differs from a clean sync"
fi

finish "$NAME"
echo "$NAME: $kills SIGKILLs in $kill_ms ms (the last sync resumed at row $before of $ROWS," \
	"$topups top-ups); $(wc -l <"$T/live.jsonl") profiles and $ROWS rows, each once, identical to" \
	"a clean sync ($clean_ms ms)"
