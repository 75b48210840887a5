#!/bin/sh
# pg_restart.sh - PostgreSQL goes away during ingestion and comes back.
# `profilehub run` on PostgreSQL (the echo_push test plugin at /in/web/);
# a client sends one record per request and resends on 503, as clients
# must.  Midway the server is killed (pg_ctl -m immediate), requests go on
# and must be answered 503 (never 2xx, never a hang); the server comes back
# and requests must succeed again without restarting the hub (/readyz 503
# while it is down, 200 again by itself once it is back, /healthz 200).  Then it is
# restarted while requests are in flight.  Every record answered 2xx is in
# the store at the end, exactly once.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
B=${HUB_BUILD:-build}
HUB="$B/profilehub"

T=$(mktemp -d "${TMPDIR:-/tmp}/hubrs.XXXXXX")
PGD=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX")
pid=""
cleanup() {
	pid_signal KILL "$pid"
	sh tests/pgtest.sh stop "$PGD"
	rm -rf "$T" "$PGD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
	echo "FAIL: $*"
	[ -f "$T/log" ] && tail -20 "$T/log" | sed 's/^/  log: /'
	exit 1
}

for f in "$HUB" "$B/tests/plugins/echo_push.so" "$B/tests/tools/freeport"; do
	[ -e "$f" ] || fail "$f is not built (make test builds it)"
done
url=$(sh tests/pgtest.sh start "$PGD") || fail "cannot start PostgreSQL"
mkdir -p "$T/plugins"
cp "$B/tests/plugins/echo_push.so" "$T/plugins/"
port=$("$B/tests/tools/freeport") || fail "no free port"
base="http://127.0.0.1:$port"
cat >"$T/hub.yaml" <<EOF
plugin_dir: $T/plugins
log_level: info
store:
  driver: postgres
  url: "$url"
  schema: restart
http:
  listen: 127.0.0.1:$port
  timeout: 5s
api:
  tokens: ["t"]
sources:
  - name: web
    plugin: echo_push
EOF
"$HUB" -c "$T/hub.yaml" run >"$T/log" 2>&1 &
pid=$!
i=0
until curl -s --max-time 1 "$base/healthz" >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || fail "the hub exited before listening"
	i=$((i + 1))
	[ $i -lt 100 ] || fail "no answer on /healthz within 10 s"
	sleep 0.1
done
# a new schema is said to be made, naming it, as a new SQLite file is
# (logged before the hub listens)
grep -q "info \[store\] created a new, empty store at schema \"restart\" of " "$T/log" ||
	fail "no \"created a new, empty store\" line for the new schema"

# one request: prints the HTTP status ("000" when no answer in time)
send() { # installation id
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 --data-binary "$1" \
		"$base/in/web/v1/echo" 2>/dev/null
}
# sends records from..to, each until 2xx
phase() { # from to
	k=$1
	while [ "$k" -le "$2" ]; do
		tries=0
		while :; do
			code=$(send "r-$k")
			case "$code" in
			200) echo "r-$k" >>"$T/acked"; break ;;
			503) ;;
			*) fail "r-$k: HTTP $code" ;;
			esac
			tries=$((tries + 1))
			[ $tries -lt 300 ] || fail "r-$k: still 503 after $tries tries"
			sleep 0.05 # the client's own retry pause (Retry-After is longer)
		done
		k=$((k + 1))
	done
}

phase 1 40
sh tests/pgtest.sh stop "$PGD"
# while the server is down: 503 at once, and nothing acknowledged
for k in 1 2 3 4 5; do
	code=$(send "down-$k")
	[ "$code" = 503 ] || fail "PostgreSQL down: HTTP $code, expected 503"
done
kill -0 "$pid" 2>/dev/null || fail "the hub died with PostgreSQL"
# readiness says so, liveness does not
code=$(curl -s -o "$T/readyz" -w '%{http_code}' --max-time 10 "$base/readyz")
[ "$code" = 503 ] || fail "PostgreSQL down: /readyz answered $code, expected 503"
grep -q '"status":"failing","store":"commits failing since' "$T/readyz" ||
	fail "PostgreSQL down: /readyz said $(cat "$T/readyz")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$base/healthz")
[ "$code" = 200 ] || fail "PostgreSQL down: /healthz answered $code, expected 200"
sh tests/pgtest.sh start "$PGD" >/dev/null || fail "cannot start PostgreSQL again"
# ready again with no request sent meanwhile (the intake probes the store)
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/readyz")" = 200 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "/readyz not 200 within 30 s of PostgreSQL coming back"
	sleep 0.1
done
phase 41 80
kill -0 "$pid" 2>/dev/null || fail "the hub died"
grep -q "reconnected to PostgreSQL (unreachable since " "$T/log" ||
	fail "no reconnection in the log"
# the outage is one state for the process (its first line, a reminder at
# most every 30 s, its end), not a line per connection and attempt
n=$(grep -c "error \[store\] PostgreSQL unreachable: " "$T/log")
[ "$n" = 1 ] || fail "the outage's first line $n times, once expected"
# a restart while requests are in flight (groups lose their connection
# in the middle of a transaction)
phase 81 160 &
client=$!
sh tests/pgtest.sh restart "$PGD" || fail "cannot restart PostgreSQL"
wait $client || fail "the client during the restart failed"
kill -0 "$pid" 2>/dev/null || fail "the hub died"

kill -INT "$pid"
wait "$pid" || fail "the hub exited with $? after SIGINT"
pid=""
"$HUB" -c "$T/hub.yaml" dump >"$T/dump" 2>"$T/dump.err" || fail "dump: $(cat "$T/dump.err")"
jq -r '.installations[].installation_id' "$T/dump" | sort >"$T/stored"
sort "$T/acked" >"$T/acked.sorted"
[ "$(wc -l <"$T/acked.sorted")" -eq 160 ] || fail "$(wc -l <"$T/acked.sorted") of 160 acknowledged"
comm -23 "$T/acked.sorted" "$T/stored" >"$T/lost"
[ -s "$T/lost" ] && fail "acknowledged but not stored: $(head -5 "$T/lost")"
grep -q '^down-' "$T/stored" && fail "a record refused with 503 was stored"
[ -z "$(uniq -d "$T/stored")" ] || fail "stored twice: $(uniq -d "$T/stored" | head -3)"
echo "  160 records acknowledged and stored, across a crash and a restart of PostgreSQL;" \
	"5 refused with 503 while it was down"
