#!/bin/sh
# pg_lost_commit.sh - the link to PostgreSQL breaks just after the server
# committed, its answer to COMMIT lost (tests/tools/cut_proxy between the
# hub and the server).  The hub must ask the server what became of the
# transaction and tell the truth: the request that was committed is
# answered 2xx (it was 503 "not stored"), and an import goes on past the
# cut (it stopped, saying the lines from there on were not stored).  Each
# record is stored exactly once: a second run of the file is all
# duplicates, and its --commit-every is the size of PostgreSQL's groups
# (the server counts its commits).  The check is bound at 10 s also when
# the server accepts the new connection and then never answers it; an
# unknown outcome says why the server could not be asked, and a link that
# breaks again before txid_status answers is asked again within the 10 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_need_built
hub_need jq curl psql
[ -f "$ROOT/$B/tests/plugins/echo_push.so" ] || die "$B/tests/plugins/echo_push.so is not built"
[ -x "$ROOT/$B/tests/tools/cut_proxy" ] || die "$B/tests/tools/cut_proxy is not built"
hub_tmpdir lost_commit
PGD=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX") || die "mktemp failed" # pgtest.sh's own
proxies=""
hub_at_exit 'pid_signal KILL $proxies; sh tests/pgtest.sh stop "$PGD"; rm -rf "$PGD"'
url=$(sh tests/pgtest.sh start "$PGD") || die "cannot start PostgreSQL"
pg_port=$(echo "$url" | sed -n 's|.*@127\.0\.0\.1:\([0-9]*\)/.*|\1|p')
[ -n "$pg_port" ] || die "no port in $url"
# proxy_start ARM_FILE: a cut_proxy in front of the server, armed by
# ARM_FILE; its port in proxy_port
proxy_start() {
	proxy_port=$(hub_free_port) || die "no free port"
	"$B/tests/tools/cut_proxy" "$proxy_port" "$pg_port" "$1" >"$1.out" 2>&1 &
	proxies="$proxies $!"
	i=0
	until grep -q ready "$1.out" 2>/dev/null; do
		kill -0 "$!" 2>/dev/null || die "cut_proxy exited: $(cat "$1.out")"
		i=$((i + 1))
		[ $i -lt 100 ] || die "cut_proxy not ready within 10 s"
		sleep 0.1
	done
}
proxy_start "$T/arm"
pg_url=$url # the server itself, not through the proxy
url=$(echo "$url" | sed "s|@127\.0\.0\.1:$pg_port/|@127.0.0.1:$proxy_port/|")

mkdir -p "$T/plugins"
cp "$B/tests/plugins/echo_push.so" "$T/plugins/"
port=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$port"
cat >"$T/hub.yaml" <<EOF
plugin_dir: $T/plugins
log_level: info
store:
  driver: postgres
  url: "$url"
  schema: lost
http:
  listen: 127.0.0.1:$port
  timeout: 5s
api:
  tokens: ["t"]
sources:
  - name: web
    plugin: echo_push
EOF

# an import of 3000 lines, 100 a commit, the link cut at one COMMIT's answer
awk 'BEGIN {
	for (n = 1; n <= 3000; n++)
		printf "{\"type\":\"track\",\"message_id\":\"m-%d\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"identifiers\":{\"installation_id\":\"I%d\"},\"event\":{\"name\":\"e\"}}\n", n, n
}' >"$T/in.jsonl"
"$HUB" -c "$T/hub.yaml" import /dev/null --source s >"$T/out" 2>&1 || die "making the schema: $(cat "$T/out")"
: >"$T/arm"
"$HUB" -c "$T/hub.yaml" import "$T/in.jsonl" --source s --commit-every 100 >"$T/out" 2>"$T/err" ||
	die "the import stopped at the lost answer: $(cat "$T/out" "$T/err")"
[ -e "$T/arm.cut" ] || die "the proxy cut no COMMIT during the import"
grep -q "^records 3000, applied 3000," "$T/out" || die "import counts: $(cat "$T/out")"
grep -q "the answer to COMMIT was lost (.*); transaction [0-9]* committed" "$T/err" ||
	die "the import did not say what became of the COMMIT: $(cat "$T/err")"
# the second run, all duplicates, also 100 lines a commit: --commit-every
# bounds PostgreSQL's groups too (they took up to 50,000 records whatever it
# said), so the server counts at least 30 more commits.  Its count is read
# until the import's backend has reported it (a backend reports at exit).
pg_commits() {
	psql -X -At "$pg_url" -c \
		"SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}
commits0=$(pg_commits) || die "psql: cannot read the server's commit count"
"$HUB" -c "$T/hub.yaml" import "$T/in.jsonl" --source s --commit-every 100 >"$T/out" 2>"$T/err" ||
	die "the second run: $(cat "$T/err")"
grep -q "^records 3000, applied 0, duplicates 3000," "$T/out" ||
	die "the second run: $(cat "$T/out")"
i=0
until [ $(($(pg_commits) - commits0)) -ge 30 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] ||
		die "3000 lines, --commit-every 100: $(($(pg_commits) - commits0)) commits (want at least 30)"
	sleep 0.1
done

# an import whose COMMIT's answer is lost, the server then unreachable for
# longer than the hub asks (10 s): it cannot ask, so it stops there and says the lines from that batch on are
# not stored but for the batch whose answer was lost, which may be; a run
# again (once the server answers) completes the file, each record once.
# Through a proxy of its own, run beside the requests below (its 12 s of
# waiting were the script's alone); checked after them.
sed -n 's/"message_id":"m-/"message_id":"u-/p' "$T/in.jsonl" | head -n 1000 >"$T/in2.jsonl"
proxy_start "$T/down.arm"
sed "s|@127\.0\.0\.1:[0-9]*/|@127.0.0.1:$proxy_port/|" "$T/hub.yaml" >"$T/down.yaml"
echo "down 12" >"$T/down.arm"
down_import() { # the first run's exit status in $T/down.rc; the last run's in $T/down2.*
	"$HUB" -c "$T/down.yaml" import "$T/in2.jsonl" --source s --commit-every 100 \
		>"$T/down.out" 2>"$T/down.err"
	echo $? >"$T/down.rc"
	i=0
	until "$HUB" -c "$T/down.yaml" import "$T/in2.jsonl" --source s >"$T/down2.out" \
		2>"$T/down2.err"; do
		i=$((i + 1))
		[ $i -lt 250 ] || return
		sleep 0.1 # the proxy refuses connections for 12 s
	done
}
down_import &
down_pid=$!
hub_at_exit 'pid_signal KILL $down_pid' # its loop, should the script die first
# down_import_check: what down_import did, once it has ended
down_import_check() {
	wait "$down_pid"
	[ "$(cat "$T/down.rc")" != 0 ] ||
		die "an import went on past a COMMIT whose outcome is unknown:" \
			"$(cat "$T/down.out" "$T/down.err")"
	[ -e "$T/down.arm.cut" ] || die "the proxy cut no COMMIT of the second import"
	grep -q "but for those of the batches whose COMMIT answer was lost, which may be" "$T/down.err" ||
		die "the import did not say a batch may be stored: $(cat "$T/down.err")"
	applied=$(sed -n 's/^records 1000, applied \([0-9]*\), duplicates \([0-9]*\),.*/\1+\2/p' \
		"$T/down2.out")
	[ -n "$applied" ] && [ $(($applied)) = 1000 ] ||
		die "the second import run again: $(cat "$T/down2.out" "$T/down2.err")"
	n=$(psql -X -At "$pg_url" -c "SELECT count(*) FROM lost.events WHERE message_id LIKE 'u-%'")
	[ "$n" = 1000 ] || die "the second import's records are not stored once each: $n events"
}

# a request (installation ID $1) whose COMMIT's answer is lost, the proxy
# armed with $2: 2xx, stored once
request_settled() {
	rm -f "$T/arm.cut"
	echo "$2" >"$T/arm"
	code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 --data-binary "$1" \
		"$BASE/in/web/v1/echo")
	[ -e "$T/arm.cut" ] || die "the proxy ($2) cut no COMMIT of request $1"
	[ "$code" = 200 ] || die "request $1 committed, its answer lost ($2): $code $(cat "$T/body")"
	"$HUB" -c "$T/hub.yaml" profile --installation-id "$1" >"$T/profile" 2>&1 ||
		die "the record of request $1 is not stored: $(cat "$T/profile")"
	[ "$(jq -r '.event_count' "$T/profile")" = 1 ] ||
		die "the record of request $1 is not stored once: $(cat "$T/profile")"
}
hub_start "$T/hub.yaml" "$T/log"
request_settled lost-1 ""

# the same, the server then unreachable for 4 s, as while it restarts: the
# hub asks once it answers again (it tried once at once, and answered 503
# commit_unknown), 2xx, stored once
request_settled lost-3 down
grep -q "the answer to COMMIT was lost (.*); transaction [0-9]* committed" "$T/log" ||
	die "the hub did not say what became of the COMMIT: $(grep -i commit "$T/log")"

# the same, the server then unreachable for longer than the hub asks: it
# cannot say "not stored" either: 503 commit_unknown, and the record is
# stored (a resend is a duplicate)
rm -f "$T/arm.cut"
echo "down 12" >"$T/arm"
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 --data-binary "lost-2" \
	"$BASE/in/web/v1/echo")
[ -e "$T/arm.cut" ] || die "the proxy cut no COMMIT of the second request"
[ "$code" = 503 ] && grep -q '"commit_unknown"' "$T/body" ||
	die "a request whose COMMIT's outcome is unknown: $code $(cat "$T/body")"
grep -q "commit outcome unknown, answering 503: .*connection to .* lost (commit)" "$T/log" ||
	die "the lost link is not named by its COMMIT: $(grep 503 "$T/log")"
# and why the server could not be asked (it said only that it could not)
grep -q "commit outcome unknown, answering 503: .*could not say within 10 s: cannot reach " \
	"$T/log" || die "the unknown COMMIT does not say why: $(grep 503 "$T/log")"
i=0
until "$HUB" -c "$T/hub.yaml" profile --installation-id lost-2 >"$T/profile" 2>&1; do
	i=$((i + 1))
	[ $i -lt 250 ] || die "the second request's record is not stored: $(cat "$T/profile")"
	sleep 0.1 # the proxy refuses connections for 12 s
done
i=0
while :; do # resent until 2xx, as a client must (a 503 while the hub reconnects)
	code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 --data-binary "lost-2" \
		"$BASE/in/web/v1/echo")
	[ "$code" = 503 ] || break
	i=$((i + 1))
	[ $i -lt 100 ] || break
	sleep 0.1
done
[ "$code" = 200 ] || die "the resend: $code $(cat "$T/body")"
"$HUB" -c "$T/hub.yaml" profile --installation-id lost-2 >"$T/profile" 2>&1
[ "$(jq -r '.event_count' "$T/profile")" = 1 ] ||
	die "the resent record is not stored once: $(cat "$T/profile")"
down_import_check
# imports whose COMMIT's answer is lost, each through a proxy of its own
# that then lets new connections log in but never answers the statement
# named, for 14 s: the new session's setup, or the txid_status asked over
# it.  Each blocked until the proxy closed the connection (a host that
# stops answering: the TCP user timeout, 60 s; a server process that hangs:
# no end) where the check is bound at 10 s.  Run beside the request below:
# each waits those 10 s.
stall_import() { # NAME: $T/NAME.yaml imports $T/NAME.jsonl
	sed -n "s/\"message_id\":\"m-/\"message_id\":\"$1-/p" "$T/in.jsonl" |
		head -n 300 >"$T/$1.jsonl"
	"$HUB" -c "$T/$1.yaml" import "$T/$1.jsonl" --source s --commit-every 100 \
		>"$T/$1.out" 2>"$T/$1.err"
	echo $? >"$T/$1.rc"
}
stalls=""
for stall in setup:search_path status:txid_status; do
	name=${stall%%:*}
	proxy_start "$T/$name.arm"
	sed "s|@127\.0\.0\.1:[0-9]*/|@127.0.0.1:$proxy_port/|" "$T/hub.yaml" >"$T/$name.yaml"
	echo "hang 14 at ${stall#*:}" >"$T/$name.arm"
	stall_import "$name" &
	stalls="$stalls $!"
done
# an import whose COMMIT's answer is lost, the link then breaking again
# before each txid_status's answer for 3 s (a server still restarting): asked
# again over a new connection within the 10 s, it goes on, each record once
# (it stopped at the first break, the outcome "unknown" with the 10 s unspent)
proxy_start "$T/drop.arm"
sed "s|@127\.0\.0\.1:[0-9]*/|@127.0.0.1:$proxy_port/|" "$T/hub.yaml" >"$T/drop.yaml"
echo "drop 3 at txid_status" >"$T/drop.arm"
stall_import drop &
stalls="$stalls $!"

# the same, the server refusing connections for 6 s and then accepting them
# without a word (its host stopped answering): the hub's attempt from then
# on waited its own connect_timeout (10 s), the whole check 16 s where it
# is bound at 10 s.  Answered 503 commit_unknown by then, counted from the
# cut, and the record is stored once (read from the server itself)
rm -f "$T/arm.cut"
echo "down 6 hang 11" >"$T/arm"
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 --data-binary "lost-4" \
	"$BASE/in/web/v1/echo")
answered_ms=$(date +%s%3N)
[ -s "$T/arm.cut" ] || die "the proxy cut no COMMIT of request lost-4"
[ "$code" = 503 ] && grep -q '"commit_unknown"' "$T/body" ||
	die "a request whose COMMIT's outcome could not be asked: $code $(cat "$T/body")"
took_ms=$((answered_ms - $(cat "$T/arm.cut")))
[ "$took_ms" -lt 13000 ] ||
	die "asking what became of a COMMIT took $took_ms ms from the cut, past its 10 s"
n=$(psql -X -At "$pg_url" -c "SELECT count(*) FROM lost.events e JOIN lost.identifiers i
	ON i.profile_id = e.profile_id WHERE i.type = 'installation_id' AND i.value = 'lost-4'")
[ "$n" = 1 ] || die "request lost-4, committed, its answer lost: $n events stored"
wait $stalls
[ -s "$T/drop.arm.cut" ] || die "the proxy cut no COMMIT of the drop import"
[ "$(cat "$T/drop.rc")" = 0 ] && grep -q "^records 300, applied 300," "$T/drop.out" ||
	die "the link broke again before txid_status answered: $(cat "$T/drop.out" "$T/drop.err")"
grep -q "the answer to COMMIT was lost (.*); transaction [0-9]* committed" "$T/drop.err" ||
	die "the drop import did not say what became of the COMMIT: $(cat "$T/drop.err")"
! grep -q "Sanitizer\|runtime error:" "$T/drop.err" || die "the drop import: $(cat "$T/drop.err")"
n=$(psql -X -At "$pg_url" -c "SELECT count(*) FROM lost.events WHERE message_id LIKE 'drop-%'")
[ "$n" = 300 ] || die "the drop import: $n events stored, want 300"
# each import stopped within the 10 s, the batch whose answer was lost
# stored (once) and said to be maybe stored, nothing after it, saying why
# the server could not be asked
why_setup="accepted the connection, then did not answer the session setup within"
why_status="accepted the connection but did not answer (what became of the transaction)"
for name in setup status; do
	[ -s "$T/$name.arm.cut" ] || die "the proxy cut no COMMIT of the $name import"
	[ "$(cat "$T/$name.rc")" != 0 ] ||
		die "the $name import went on past an unknown COMMIT: $(cat "$T/$name.err")"
	! grep -q "Sanitizer\|runtime error:" "$T/$name.err" ||
		die "the $name import (SAN=1): $(cat "$T/$name.err")"
	grep -q "but for those of the batches whose COMMIT answer was lost, which may be" \
		"$T/$name.err" ||
		die "the $name import did not say a batch may be stored: $(cat "$T/$name.err")"
	# when the check ended: the intake's line (the import's next batch then
	# waits for a connection that hangs, as any statement outside the check)
	at=$(sed -n 's/^\([0-9T:.-]*Z\) error \[intake\] store commits failing: .*whether COMMIT took effect is unknown.*/\1/p' \
		"$T/$name.err" | head -n 1)
	[ -n "$at" ] || die "the $name import logged no unknown COMMIT: $(cat "$T/$name.err")"
	eval why=\$why_$name
	grep -q "COMMIT took effect is unknown (the server could not say within 10 s: .*$why" \
		"$T/$name.err" || die "the $name import's unknown COMMIT: $(cat "$T/$name.err")"
	took_ms=$(($(date -d "$at" +%s%3N) - $(cat "$T/$name.arm.cut")))
	[ "$took_ms" -lt 13000 ] || die "asking what became of a COMMIT, the server hanging at" \
		"the $name: $took_ms ms from the cut, past its 10 s"
	n=$(psql -X -At "$pg_url" -c \
		"SELECT count(*) FROM lost.events WHERE message_id LIKE '$name-%'")
	[ "$n" = 100 ] || die "the $name import: $n events stored, want its first batch's 100"
done
finish pg_lost_commit
echo "pg_lost_commit: an import and a request whose COMMIT's answer was lost: stored once, said so, also beside a 4 s outage; unknown when the server could not be asked for 12 s, said within 10 s, and why, also when connecting, the session setup or txid_status hangs; asked again when the link breaks before txid_status answers"
