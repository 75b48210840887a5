#!/bin/sh
# bench/sync/run.sh - pull-sync throughput: rows a second through
# `profilehub sync`, from the source plugin to committed profiles.
# Two parts, BigQuery then ODBC (BENCH_SYNC_ONLY=bigquery or odbc runs one).
#
# ---- BigQuery -----------------------------------------------------------------
# The bigquery plugin against the fake BigQuery of the tests
# (tests/integration/fake_bigquery/server.js, a static token, plain http on
# loopback): SYNC_ROWS generated event rows (default 200000) of SYNC_USERS
# users (20000), three rows per timestamp, pages of SYNC_PAGE rows (10000:
# maxResults and the hub's page).  Two runs into a fresh SQLite store:
#   first   every row a new event (profiles created on the way): the path a
#           scheduled sync takes with new data
#   --full  the same rows again, every one a duplicate: reading, decoding
#           and mapping, with the writer only checking message_ids
# Prints rows/s for each (wall clock of the whole `profilehub sync`,
# including the query and the fake's own JSON encoding on the same two
# cores).  No target: figures only.
#
# ---- ODBC (issue 6) -----------------------------------------------------------
# The snowflake plugin's odbc transport against a throwaway PostgreSQL
# (tests/pgtest.sh) through Debian's odbc-postgresql driver registered in a
# temp odbcinst.ini (as tests/integration/snowflake_odbc.sh does).  Tables
# made with generate_series: `users`, BENCH_SYNC_USERS rows (default
# BENCH_SYNC_ROWS / 5) of typed attributes, and `events`, BENCH_SYNC_ROWS
# rows (default 1000000) spread over those users, with JSON properties and
# two events per timestamp.  Into a fresh SQLite store: `profilehub sync
# users` (kind attributes: creates the profiles), then `profilehub sync
# events` (kind events onto them), then `profilehub sync events --full` (the
# same rows again, all duplicates: extraction, decoding and mapping with the
# writer only checking message_ids), each under /usr/bin/time (wall clock and
# peak RSS), pages of BENCH_SYNC_PAGE rows (10000), the driver fetching
# BENCH_SYNC_FETCH rows at a time (10000, a server-side cursor).  Beside each:
# `psql -c "\copy (query) to /dev/null"` of the same query with the cursor's
# start value: the extraction ceiling (PostgreSQL and the wire, no ODBC, no
# hub).  Targets: >= 50k rows/s end to end, peak RSS <= 256 MB, PASS or MISS.
#
# A missed target never fails the run; the exit status is non-zero only
# when the benchmark could not run.  Summary lines go to $BENCH_SUMMARY.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${HUB_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
HUB="$B/profilehub"
ROWS=${SYNC_ROWS:-200000}
USERS=${SYNC_USERS:-20000}
PAGE=${SYNC_PAGE:-10000}
SUMMARY=${BENCH_SUMMARY:-/dev/null}
ONLY=${BENCH_SYNC_ONLY:-}

[ -x "$HUB" ] || { echo "sync: build first (make)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/bench_sync.XXXXXX")
chmod 755 "$T" # the PostgreSQL server runs as `postgres` when we are root
FAKE_PID=
cleanup() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	[ -d "$T/pg" ] && sh tests/pgtest.sh stop "$T/pg" >/dev/null 2>&1
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
# a closed terminal (HUP) or reader (PIPE) stops the run as ^C does: the trap cleans up
trap 'exit 130' HUP INT TERM PIPE

now_ms() { echo $(($(date +%s%N) / 1000000)); }
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
verdict() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }

# short_read READ WANT: "" when READ is WANT, else a warning to print beside
# the figure (a sync that read fewer rows than the source holds)
short_read() {
	[ "$1" -eq "$2" ] || printf '   WARNING: read %s rows of %s' "$1" "$2"
}

# ---- BigQuery -----------------------------------------------------------------
bigquery() {
	for tool in node jq curl; do
		command -v $tool >/dev/null || { echo "sync: $tool is not installed" >&2; exit 1; }
	done
	[ -f "$B/plugins/bigquery.so" ] || { echo "sync: build first (make)" >&2; exit 1; }
	mkdir -p "$T/bq"

	echo "== sync: BigQuery, $ROWS rows of $USERS users, pages of $PAGE"
	jq -n --argjson rows "$ROWS" --argjson users "$USERS" --argjson page "$PAGE" '
	  {bulk: {generate: $rows, users: $users, page_rows: $page, schema: [
	     {name: "id", type: "INTEGER"}, {name: "user_id", type: "STRING"},
	     {name: "email", type: "STRING"}, {name: "plan", type: "STRING"},
	     {name: "updated_at", type: "TIMESTAMP"}, {name: "event_name", type: "STRING"}]}}' >"$T/bq/data.json"
	node tests/integration/fake_bigquery/server.js --port-file "$T/bq/port" --static-token "bench-$$" \
		--data "$T/bq/data.json" --page-rows "$PAGE" >"$T/bq/fake.log" 2>&1 &
	FAKE_PID=$!
	n=0
	until [ -s "$T/bq/port" ]; do
		n=$((n + 1))
		[ $n -lt 400 ] || { echo "sync: the fake did not start: $(cat "$T/bq/fake.log")" >&2; exit 1; }
		sleep 0.05
	done
	mkdir -p "$T/bq/plugins"
	ln -s "$B/plugins/bigquery.so" "$T/bq/plugins/bigquery.so"
	cat >"$T/bq/hub.yaml" <<EOC
store:
  path: $T/bq/hub.db
plugin_dir: $T/bq/plugins
sources:
  - name: bulk
    plugin: bigquery
    endpoint: http://127.0.0.1:$(cat "$T/bq/port")
    project: bench
    access_token: "bench-$$"
    query: SELECT * FROM bench.bulk WHERE updated_at >= :cursor ORDER BY updated_at, id
    cursor: [updated_at, id]
    page_size: $PAGE
    kind: events
    map: {custom_id: user_id, timestamp: updated_at, event: {name: event_name, properties: {plan: plan}}}
EOC
	bq_run "new events"
	bq_run "re-read (--full, all duplicates)" --full
	kill "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null || true
	FAKE_PID=
}

bq_run() { # LABEL [--full]
	label=$1
	shift
	t0=$(now_ms)
	"$HUB" -c "$T/bq/hub.yaml" sync bulk "$@" >"$T/bq/out" 2>"$T/bq/err" ||
		{ echo "sync: $label: $(cat "$T/bq/err")" >&2; exit 1; }
	ms=$(($(now_ms) - t0))
	[ $ms -gt 0 ] || ms=1
	read_n=$(sed -n 's/^read \([0-9]*\),.*/\1/p' "$T/bq/out")
	[ -n "$read_n" ] || { echo "sync: $label: no \"read N\" line: $(cat "$T/bq/out")" >&2; exit 1; }
	short=$(short_read "$read_n" "$ROWS")
	rate=$((read_n * 1000 / ms))
	echo "  $label: $(head -1 "$T/bq/out") in $ms ms: $rate rows/s$short"
	echo "sync: bigquery $label: $rate rows/s ($read_n rows in $ms ms)$short" >>"$SUMMARY"
}

# ---- ODBC from PostgreSQL ----------------------------------------------------
O_ROWS=${BENCH_SYNC_ROWS:-1000000}
O_USERS=${BENCH_SYNC_USERS:-$((O_ROWS / 5))}
[ "$O_USERS" -gt 0 ] || O_USERS=1
O_PAGE=${BENCH_SYNC_PAGE:-10000}
O_FETCH=${BENCH_SYNC_FETCH:-10000}
T_RATE=50000       # rows/s, end to end
T_RSS_KB=262144    # 256 MB

odbc_fail() {
	echo "sync: odbc: $*" >&2
	echo "sync: odbc: ERROR $*" >>"$SUMMARY"
	exit 1
}

odbc() {
	[ -f "$B/plugins/snowflake.so" ] || odbc_fail "build first (make): no $B/plugins/snowflake.so"
	[ -x /usr/bin/time ] || odbc_fail "/usr/bin/time missing (Debian package \"time\")"
	command -v psql >/dev/null || odbc_fail "psql missing (Debian package postgresql-client)"
	driver=$(ls /usr/lib/*/odbc/psqlodbcw.so /usr/lib/odbc/psqlodbcw.so 2>/dev/null | head -1)
	[ -n "$driver" ] || odbc_fail "psqlodbcw.so not found (install odbc-postgresql)"

	echo "== sync: ODBC from PostgreSQL, $O_USERS users (attributes) + $O_ROWS events, pages of $O_PAGE, driver fetch $O_FETCH"
	mkdir -p "$T/pg" "$T/odbc" "$T/plugins"
	sh tests/pgtest.sh start "$T/pg" >/dev/null || odbc_fail "PostgreSQL did not start"
	PORT=$(cat "$T/pg/port")
	psql_() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres hubtest "$@"; }

	t0=$(now_ms)
	# users: one row per user, a few updated in the same instant; events:
	# spread over the users (a multiplicative hash, not round robin), two
	# per timestamp, JSON properties of ~60 bytes.
	psql_ -v users="$O_USERS" -v rows="$O_ROWS" <<'EOS' || odbc_fail "loading the tables"
CREATE TABLE users (id bigint PRIMARY KEY, user_id text NOT NULL, email text, first_name text,
  plan text, country text, ltv numeric(12,2), vip boolean, signup_at timestamptz,
  updated_at timestamptz NOT NULL);
INSERT INTO users
  SELECT i, 'u' || i, 'user' || i || '@example.com',
         (ARRAY['Ana','Bob','Chloé','Dmitri','Eun-ji','Farah','Gus','Hiroshi'])[i % 8 + 1],
         (ARRAY['free','free','free','starter','pro','enterprise'])[i % 6 + 1],
         (ARRAY['US','DE','FR','GB','JP','BR','IN'])[i % 7 + 1],
         CASE WHEN i % 10 = 0 THEN NULL ELSE ((i * 7919) % 100000) / 100.0 END,
         i % 13 = 0,
         '2024-01-01 00:00:00+00'::timestamptz + i * interval '97 seconds',
         '2026-01-01 00:00:00+00'::timestamptz + (i / 4) * interval '1 millisecond'
  FROM generate_series(1, :users) i;
CREATE INDEX users_cursor ON users (updated_at, id);
CREATE TABLE events (event_id bigint PRIMARY KEY, user_id text NOT NULL, device_id text,
  event_name text NOT NULL, props json, occurred_at timestamptz NOT NULL);
INSERT INTO events
  SELECT i, 'u' || ((i * 2654435761) % :users + 1), 'd' || ((i * 2654435761) % :users + 1),
         (ARRAY['page_view','page_view','page_view','add_to_cart','purchase','search'])[i % 6 + 1],
         json_build_object('sku', 'sku-' || (i % 5000), 'price', (i % 10000) / 100.0,
                           'currency', 'EUR', 'page', '/p/' || (i % 977)),
         '2026-02-01 00:00:00+00'::timestamptz + (i / 2) * interval '1 millisecond'
  FROM generate_series(1, :rows) i;
CREATE INDEX events_cursor ON events (occurred_at, event_id);
VACUUM ANALYZE users;
VACUUM ANALYZE events;
EOS
	echo "  loaded in $(($(now_ms) - t0)) ms ($(psql_ -Atc "SELECT pg_size_pretty(pg_database_size('hubtest'))"))"

	cat >"$T/odbc/odbcinst.ini" <<EOC
[PostgreSQL Unicode]
Description = PostgreSQL ODBC driver (Unicode)
Driver = $driver
EOC
	: >"$T/odbc/odbc.ini"
	export ODBCSYSINI="$T/odbc" ODBCINSTINI=odbcinst.ini ODBCINI="$T/odbc/odbc.ini"
	# streaming results (a server-side cursor), booleans as booleans
	conn="Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=$PORT;Database=hubtest;UID=postgres;UseDeclareFetch=1;Fetch=$O_FETCH;BoolsAsChar=0"
	ln -s "$B/plugins/snowflake.so" "$T/plugins/snowflake.so"
	q_users="SELECT id, user_id, email, first_name, plan, country, ltv, vip, signup_at, updated_at FROM users WHERE updated_at >= :cursor ORDER BY updated_at, id"
	q_events="SELECT event_id, user_id, device_id, event_name, props, occurred_at FROM events WHERE occurred_at >= :cursor ORDER BY occurred_at, event_id"
	cat >"$T/hub.yaml" <<EOC
store:
  path: $T/odbc.db
plugin_dir: $T/plugins
sources:
  - name: users
    plugin: snowflake
    transport: odbc
    connection_string: "$conn"
    query: $q_users
    cursor: [updated_at, id]
    page_size: $O_PAGE
    kind: attributes
    map: {custom_id: user_id, attributes: {\$email_address: email, \$first_name: first_name, plan: plan, country: country, ltv: ltv, vip: vip, date(signup_at): signup_at}}
  - name: events
    plugin: snowflake
    transport: odbc
    connection_string: "$conn"
    query: $q_events
    cursor: [occurred_at, event_id]
    page_size: $O_PAGE
    kind: events
    map: {custom_id: user_id, installation_id: device_id, timestamp: occurred_at, event: {name: event_name, properties: props}}
EOC
	odbc_run users "$q_users" "$O_USERS"
	odbc_run events "$q_events" "$O_ROWS"
	# the same rows again: extraction, decoding and mapping at full size,
	# the writer only finding duplicates (cf. the BigQuery re-read)
	odbc_run events "$q_events" "$O_ROWS" --full
}

# odbc_run SOURCE QUERY ROWS [--full]: the sync, then the \copy ceiling of
# the same query (the cursor's start: the epoch, what the plugin binds first).
odbc_run() {
	src=$1
	q=$(printf '%s' "$2" | sed "s/:cursor/'1970-01-01 00:00:00+00'/")
	want=$3
	full=${4:-}
	tag=$src${full:+-full}
	label="$src${full:+ --full (all duplicates)}"
	set +e
	/usr/bin/time -f '%e %M %U %S' -o "$T/$tag.time" \
		"$HUB" -c "$T/hub.yaml" sync "$src" $full >"$T/$tag.out" 2>"$T/$tag.err"
	rc=$?
	set -e
	read_n=$(sed -n 's/^read \([0-9]*\),.*/\1/p' "$T/$tag.out")
	if [ $rc -ne 0 ] || [ -z "$read_n" ]; then
		cat "$T/$tag.out" "$T/$tag.err" >&2
		odbc_fail "sync $label failed (exit $rc)"
	fi
	short=$(short_read "$read_n" "$want")
	set -- $(tail -1 "$T/$tag.time")
	secs=$1 rss=$2 cpu=$(calc "$3 + $4")
	rate=$(calc "int($read_n / ($secs > 0 ? $secs : 0.01))")
	rss_mb=$(calc "sprintf(\"%.1f\", $rss / 1024)")

	/usr/bin/time -f '%e %M' -o "$T/$tag.copy.time" \
		psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres hubtest \
		-c "\\copy ($q) to /dev/null" >/dev/null 2>"$T/$tag.copy.err" ||
		odbc_fail "\\copy $label: $(cat "$T/$tag.copy.err")"
	csecs=$(tail -1 "$T/$tag.copy.time" | cut -d' ' -f1)
	crate=$(calc "int($want / ($csecs > 0 ? $csecs : 0.01))")

	v_rate=$(verdict "$rate >= $T_RATE")
	v_rss=$(verdict "$rss <= $T_RSS_KB")
	echo "  $label: $(head -1 "$T/$tag.out")"
	echo "  $label: $read_n rows in $secs s: $rate rows/s (>= 50k: $v_rate), peak RSS $rss_mb MB (<= 256 MB: $v_rss), hub CPU $cpu s"
	# printf, not echo: dash's echo reads the \c of \copy as "stop here"
	printf '%s\n' "  $label: psql \\copy of the same query: $csecs s, $crate rows/s (the extraction ceiling); the sync reaches $(calc "sprintf(\"%.1f\", 100 * $rate / ($crate > 0 ? $crate : 1))") %$short"
	printf '%s\n' "sync: odbc $label: $rate rows/s (>= 50k: $v_rate), peak RSS $rss_mb MB (<= 256 MB: $v_rss); $read_n rows in $secs s; psql \\copy ceiling $crate rows/s$short" >>"$SUMMARY"
}

case "$ONLY" in
"") bigquery; odbc ;;
bigquery) bigquery ;;
odbc) odbc ;;
*) echo "sync: BENCH_SYNC_ONLY is bigquery or odbc, not \"$ONLY\"" >&2; exit 1 ;;
esac
