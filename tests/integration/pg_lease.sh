#!/bin/sh
# pg_lease.sh - a scheduled sync runs on one process at a time (a
# PostgreSQL advisory-lock lease), and another finishes it when that one
# dies.  One PostgreSQL (tests/pgtest.sh) holds both the hub's schema and
# a table read over ODBC (Debian's odbc-postgresql, as in snowflake_odbc.sh).
# Two `profilehub run` processes share one config (only the listen address
# differs, through ${HUB_LISTEN}).  Checked:
#   - while one runs the sync, the other shows "held by another process"
#     in GET /v1/sources, and `profilehub sync` refuses to start;
#   - SIGKILL of the holder mid-sync: the other takes the lease over by
#     the trigger it kept while the lease was held (no new trigger) and
#     finishes from the committed cursor;
#   - the result equals a clean single-process sync into another schema
#     (every custom_id with the same event count: no loss, no duplicates);
#   - two `profilehub exports retry` at once send each dead letter once.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
B=${HUB_BUILD:-build}
HUB="$PWD/$B/profilehub"
T=$(mktemp -d "${TMPDIR:-/tmp}/hublease.XXXXXX")
chmod 755 "$T"
pid_a=""
pid_b=""
cleanup() {
	pid_signal KILL "$pid_a" "$pid_b"
	sh tests/pgtest.sh stop "$T/pg" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
	echo "FAIL: $*"
	for l in a b; do
		[ -f "$T/$l.log" ] && tail -8 "$T/$l.log" | sed "s/^/  $l: /"
	done
	exit 1
}

for f in "$HUB" "$B/plugins/snowflake.so" "$B/tests/tools/freeport"; do
	[ -e "$f" ] || fail "$f is not built (make test builds it)"
done
driver=$(ls /usr/lib/*/odbc/psqlodbcw.so /usr/lib/odbc/psqlodbcw.so 2>/dev/null | head -1)
[ -n "$driver" ] || fail "psqlodbcw.so not found (install odbc-postgresql)"

mkdir -p "$T/pg"
url=$(sh tests/pgtest.sh start "$T/pg") || fail "cannot start PostgreSQL"
PGPORT_=$(cat "$T/pg/port")
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT_" -U postgres hubtest <<'EOF' ||
-- 40000 events of 2000 users, ties every 4 rows: pages of 200, a few seconds
CREATE TABLE bulk (id bigint PRIMARY KEY, user_id text, event_name text, at timestamptz NOT NULL);
INSERT INTO bulk SELECT i, 'b' || (i % 2000), 'tick',
  '2026-02-01 00:00:00+00'::timestamptz + (i / 4) * interval '1 millisecond'
  FROM generate_series(1, 40000) i;
EOF
	fail "loading the table"

mkdir -p "$T/odbc" "$T/plugins"
printf '[PostgreSQL Unicode]\nDriver = %s\n' "$driver" >"$T/odbc/odbcinst.ini"
export ODBCSYSINI="$T/odbc" ODBCINSTINI=odbcinst.ini
export LSAN_OPTIONS="suppressions=$PWD/tests/integration/snowflake_odbc.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
ln -s "$PWD/$B/plugins/snowflake.so" "$T/plugins/snowflake.so"
CONN="Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=$PGPORT_;Database=hubtest;UID=postgres;UseDeclareFetch=1;Fetch=2000"

config() { # schema
	cat <<EOF
plugin_dir: $T/plugins
log_level: info
store:
  driver: postgres
  url: "$url"
  schema: $1
http:
  listen: "\${HUB_LISTEN:-127.0.0.1:1}"
api:
  tokens: ["t"]
sources:
  - name: bulk
    plugin: snowflake
    connection_string: "$CONN"
    query: SELECT id, user_id, event_name, at FROM bulk WHERE at >= :cursor ORDER BY at, id
    cursor: [at, id]
    page_size: 200
    schedule: every 1m
    map: {custom_id: user_id, event: {name: event_name}}
EOF
}
config lease >"$T/hub.yaml"
config clean >"$T/clean.yaml"

port_a=$("$B/tests/tools/freeport") || fail "no free port"
port_b=$("$B/tests/tools/freeport") || fail "no free port"
HUB_LISTEN=127.0.0.1:$port_a "$HUB" -c "$T/hub.yaml" run >"$T/a.log" 2>&1 &
pid_a=$!
HUB_LISTEN=127.0.0.1:$port_b "$HUB" -c "$T/hub.yaml" run >"$T/b.log" 2>&1 &
pid_b=$!
for p in $port_a $port_b; do
	i=0
	until curl -s --max-time 1 "http://127.0.0.1:$p/healthz" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "no answer on port $p within 10 s"
		sleep 0.1
	done
done

status() { # port: the bulk source's state, read, result (tab-separated)
	curl -s --max-time 5 -H "Authorization: Bearer t" "http://127.0.0.1:$1/v1/sources" |
		jq -r '(if type == "array" then . else .sources end)[] | select(.name == "bulk") |
			[.state, (.last_run.read // 0), (.last_run.result // "none")] | @tsv'
}
trigger() { # port
	curl -s -o /dev/null --max-time 5 -X POST -H "Authorization: Bearer t" \
		"http://127.0.0.1:$1/v1/sources/bulk/sync"
}

# ---- 1. one process runs it; the other is refused the lease -----------------------------
trigger "$port_a"
holder=""
i=0
while [ -z "$holder" ]; do
	[ "$(status "$port_a" | cut -f1)" = running ] && holder=a
	[ -z "$holder" ] && [ "$(status "$port_b" | cut -f1)" = running ] && holder=b
	i=$((i + 1))
	[ $i -lt 200 ] || fail "no process started the sync within 20 s"
	[ -z "$holder" ] && sleep 0.1
done
if [ $holder = a ]; then
	hport=$port_a hpid=$pid_a oport=$port_b other=b
else
	hport=$port_b hpid=$pid_b oport=$port_a other=a
fi
trigger "$oport"
i=0
until [ "$(status "$oport" | cut -f1)" = "held by another process" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "$other: not \"held by another process\" while $holder syncs: $(status "$oport")"
	sleep 0.1
	trigger "$oport"
done
[ "$(status "$hport" | cut -f1)" = running ] ||
	fail "$holder: the sync ended before the check (make the table bigger): $(status "$hport")"
"$HUB" -c "$T/hub.yaml" sync bulk >"$T/fg.out" 2>"$T/fg.err" &&
	fail "profilehub sync ran while $holder held the lease"
grep -q "another process is running this sync" "$T/fg.err" ||
	fail "foreground sync message: $(cat "$T/fg.err")"

# ---- 2. SIGKILL the holder mid-sync; the other finishes --------------------------------
i=0
until [ "$(status "$hport" | cut -f2)" -ge 1000 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "$holder: fewer than 1000 rows read in 30 s: $(status "$hport")"
	sleep 0.1
done
st=$(status "$hport")
[ "$(echo "$st" | cut -f1)" = running ] || fail "$holder finished before the kill: $st"
kill -KILL "$hpid"
wait "$hpid" 2>/dev/null
if [ $holder = a ]; then pid_a=""; else pid_b=""; fi
echo "  $holder killed mid-sync after $(echo "$st" | cut -f2) rows; $other takes over"

# the lease frees when PostgreSQL notices the dead session.  The other's
# trigger of step 1 was kept while the lease was held (tried every second),
# so it runs the sync without another trigger, long before its next tick
# (every 1m, counted from its start); then wait for it to finish
other_is() { # started|finished: whether the other's sync has (st: its status)
	st=$(status "$oport")
	case "$1:$st" in
	started:running*) return 0 ;;
	*:"idle	"*"	ok") [ "$(echo "$st" | cut -f2)" -gt 0 ] && return 0 ;;
	esac
	return 1
}
await_other() { # started|finished tenths why: polls other_is; fails after tenths/10 s
	i=0
	until other_is "$1"; do
		i=$((i + 1))
		[ $i -lt "$2" ] || fail "$other: $3: $st"
		sleep 0.1
	done
}
await_other started 150 "its kept trigger did not run the sync within 15 s of the kill"
echo "  $other took the lease over $((i / 10)).$((i % 10)) s after the kill, by its kept trigger"
await_other finished 600 "did not finish the sync within 60 s"
echo "  $other resumed and read $(echo "$st" | cut -f2) rows (of 40000)"
[ "$(echo "$st" | cut -f2)" -lt 40000 ] || fail "$other started over instead of resuming"

opid=$pid_a
[ $other = b ] && opid=$pid_b
kill -INT "$opid"
wait "$opid" || fail "$other exited with $? after SIGINT"
pid_a="" pid_b=""

# ---- 3. equal to a clean single-process sync ----------------------------------------------
"$HUB" -c "$T/clean.yaml" sync bulk >"$T/clean.out" 2>"$T/clean.err" ||
	fail "clean sync: $(cat "$T/clean.err")"
grep -q "^read 40000, applied 40000, duplicates 0" "$T/clean.out" ||
	fail "clean sync summary: $(cat "$T/clean.out")"
normalize() { jq -c '{custom_id, event_count}' | sort; }
"$HUB" -c "$T/clean.yaml" dump | normalize >"$T/clean.dump"
"$HUB" -c "$T/hub.yaml" dump | normalize >"$T/lease.dump"
[ "$(wc -l <"$T/clean.dump")" -eq 2000 ] || fail "clean dump: $(wc -l <"$T/clean.dump") profiles"
cmp -s "$T/clean.dump" "$T/lease.dump" ||
	fail "profiles differ from a clean sync: $(diff "$T/clean.dump" "$T/lease.dump" | head -5)"
n=$(psql -X -q -At -h 127.0.0.1 -p "$PGPORT_" -U postgres hubtest \
	-c "SELECT count(*) FROM lease.events")
[ "$n" = 40000 ] || fail "$n events stored, expected 40000"
echo "  2000 profiles, 40000 events: the same as a clean single-process sync"

# ---- 4. two `profilehub exports retry` at once --------------------------------------------
# 3000 dead letters of export x: two processes sending them again at once
# send each once in all (each only what it deleted itself).  They are
# erasures (sent again whatever became of their profile; a change of a
# profile gone since is deleted, not sent).  The configuration asking has
# x enabled (no hub runs it here: a retry of an export no process runs and
# the configuration has off is refused, its dead letters kept).
{
	config retry
	printf 'exports:\n  - name: x\n    plugin: jsonl\n    path: %s/x.jsonl\n' "$T"
} | sed "s|^plugin_dir: .*|plugin_dir: $PWD/$B/plugins|" >"$T/retry.yaml"
"$HUB" -c "$T/retry.yaml" exports >/dev/null 2>"$T/retry.err" || fail "exports: $(cat "$T/retry.err")"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT_" -U postgres hubtest \
	-c "INSERT INTO retry.dead_letters(export_name, seq, profile_id, at, reason, change)
	    SELECT 'x', i, 'p_gone' || i, 0, 'refused',
	      '{\"seq\":' || i || ',\"kind\":\"erased\",\"profile_id\":\"p_gone' || i ||
	      '\",\"identifier_types\":[\"custom_id\"]}'
	    FROM generate_series(1, 3000) i" || fail "dead letters"
"$HUB" -c "$T/retry.yaml" exports retry x >"$T/r1.out" 2>&1 &
r1=$!
"$HUB" -c "$T/retry.yaml" exports retry x >"$T/r2.out" 2>&1 || fail "retry 2: $(cat "$T/r2.out")"
wait "$r1" || fail "retry 1: $(cat "$T/r1.out")"
sent=$(($(sed -n 's/^\([0-9]*\) dead letters of x sent again.*/\1/p' "$T/r1.out") + \
	$(sed -n 's/^\([0-9]*\) dead letters of x sent again.*/\1/p' "$T/r2.out")))
rows=$(psql -X -q -At -h 127.0.0.1 -p "$PGPORT_" -U postgres hubtest \
	-c "SELECT count(*), count(DISTINCT payload) FROM retry.outbox WHERE payload LIKE '{\"for\":\"x\"%'")
left=$(psql -X -q -At -h 127.0.0.1 -p "$PGPORT_" -U postgres hubtest -c "SELECT count(*) FROM retry.dead_letters")
[ "$rows" = "3000|3000" ] && [ "$sent" = 3000 ] && [ "$left" = 0 ] ||
	fail "two retries at once: feed rows (all|distinct) $rows, reported $sent, dead letters left $left"
echo "  two retries at once: 3000 dead letters sent again once each"
