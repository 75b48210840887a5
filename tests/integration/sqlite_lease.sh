#!/bin/sh
# sqlite_lease.sh - the leases of pg_lease.sh on one SQLite store shared by
# two `profilehub run` processes (one config; only the listen address
# differs, through ${HUB_LISTEN}): a lease is an flock() on a file of its
# own in <store>-leases/, so it is one process's at a time and frees when
# that process dies.  Checked:
#   - a jsonl export delivers each change once, not once per process; the
#     other process shows "held by another process";
#   - while one process runs a sync (the example plugin, blocked opening a
#     FIFO), the other shows "held by another process" and `profilehub
#     sync` refuses to start;
#   - SIGKILL of the holder: the other takes both leases over (the sync by
#     its kept trigger, the export for the changes after the kill);
#   - the lease files are made 0640, as the store is.
# Synchronization is by answers (GET /v1/sources, /v1/exports), polled
# with a bound.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir sqlite_lease
pid_a=""
pid_b=""
hub_at_exit 'pid_signal KILL "$pid_a" "$pid_b"; wait 2>/dev/null'
HUB_LOG=$T/a.log
hub_die_hook() {
	hub_show_log "$T/b.log" b 10
}
hub_need curl jq
hub_need_built segment jsonl example

PORT_A=$(hub_free_port) || die "no free port"
PORT_B=$(hub_free_port) || die "no free port"
SEGMENT_WRITE_KEY="wk_lease_$$"
export SEGMENT_WRITE_KEY
cat >"$T/hub.yaml" <<EOF
plugin_dir: $ROOT/$B/plugins
log_level: info
store:
  path: $T/hub.db
http:
  listen: "\${HUB_LISTEN:-127.0.0.1:1}"
api:
  tokens: ["t"]
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
  - name: feed
    plugin: example
    path: $T/feed.jsonl
    # no schedule: a first scheduled run at start could go to either process
    # (it then waits on the FIFO), and the test names the one it triggers
exports:
  - name: crm
    plugin: jsonl
    path: $T/crm.jsonl
    batch_size: 5
EOF
mkfifo "$T/feed.jsonl" || die "mkfifo"

api() { # PORT PATH: GET with the token, the body on stdout
	curl -s --max-time 5 -H "Authorization: Bearer t" "http://127.0.0.1:$1$2"
}
# Conditions for await; each leaves what it saw in $seen.
is_up() { # PORT
	seen="no answer"
	curl -fs --max-time 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1
}
feed_is() { # PORT STATE [READ RESULT]: the source feed's state (and last run)
	seen=$(api "$1" /v1/sources | jq -r '.sources[] | select(.name == "feed") |
		[.state, (.last_run.read // 0), (.last_run.result // "none")] | @tsv')
	if [ $# -gt 2 ]; then
		[ "$seen" = "$2	$3	$4" ]
	else
		[ "$(echo "$seen" | cut -f1)" = "$2" ]
	fi
}
crm_is() { # PORT started|delivered|STATE: the export crm (state, cursor, lag in $seen)
	seen=$(api "$1" /v1/exports | jq -r '.exports[] | select(.name == "crm") |
		[.state, .cursor, .lag] | @tsv')
	case "$2" in
	started) echo "$seen" | cut -f1 | grep -qx "idle\|held by another process" ;;
	delivered) [ "$(echo "$seen" | cut -f3)" = 0 ] && [ "$(echo "$seen" | cut -f2)" -gt 0 ] ;;
	*) [ "$(echo "$seen" | cut -f1)" = "$2" ] ;;
	esac
}
await() { # SECONDS WHY CONDITION...: polls CONDITION every 0.1 s; dies after SECONDS
	a_n=$(($1 * 10))
	a_why=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -lt $a_n ] || die "$a_why within $((a_n / 10)) s: $seen"
		sleep 0.1
	done
}

start() { # a|b PORT: `profilehub run` on PORT in the background (pid_a, pid_b; $T/a.log)
	HUB_LISTEN=127.0.0.1:$2 "$HUB" -c "$T/hub.yaml" run >"$T/$1.log" 2>&1 &
	eval "pid_$1=\$!"
	await 10 "the hub $1: no /healthz" is_up "$2"
}
trigger() { # PORT
	curl -s -o /dev/null --max-time 5 -X POST -H "Authorization: Bearer t" \
		"http://127.0.0.1:$1/v1/sources/feed/sync"
}
post() { # PORT FIRST N: N Segment track events, message IDs FIRST...
	p_body='{"batch":['
	p_i=$2
	while [ "$p_i" -lt $(($2 + $3)) ]; do
		[ "$p_i" -gt "$2" ] && p_body="$p_body,"
		p_body="$p_body{\"type\":\"track\",\"userId\":\"u$((p_i % 4))\",\"event\":\"e\",\"messageId\":\"m$p_i\",\"timestamp\":\"2026-03-01T10:00:$(printf '%02d' $((p_i % 60))).000Z\"}"
		p_i=$((p_i + 1))
	done
	p_st=$(curl -s -o "$T/resp" -w '%{http_code}' -u "$SEGMENT_WRITE_KEY:" \
		-H 'Content-Type: application/json' --data-binary "$p_body]}" \
		"http://127.0.0.1:$1/in/web/v1/batch")
	[ "$p_st" = 200 ] || die "POST /v1/batch on $1: $p_st $(cat "$T/resp")"
}
check_once() { # WHAT: every line of crm.jsonl a seq of its own
	lines=$(wc -l <"$T/crm.jsonl")
	seqs=$(jq -r .seq "$T/crm.jsonl" | sort -u | wc -l)
	[ "$lines" -gt 0 ] && [ "$lines" = "$seqs" ] ||
		die "$1: $lines changes delivered for $seqs seqs (each seq once expected)"
	echo "  $1: $lines changes delivered, each once"
}

start a "$PORT_A"
start b "$PORT_B"

# ---- 1. the export runs on one process ------------------------------------------------
# both exporters have started (a cursor loaded) before the changes exist
await 10 "crm on a: not started" crm_is "$PORT_A" started
await 10 "crm on b: not started" crm_is "$PORT_B" started
post "$PORT_A" 0 20
# each shows the holder's cursor: delivered on both once the holder is done
await 20 "crm on a: not delivered" crm_is "$PORT_A" delivered
await 20 "crm on b: not delivered" crm_is "$PORT_B" delivered
check_once "two processes on one store"
if crm_is "$PORT_A" idle && crm_is "$PORT_B" "held by another process"; then
	PORT_H=$PORT_A pid_h=$pid_a PORT_O=$PORT_B pid_o=$pid_b
elif crm_is "$PORT_A" "held by another process" && crm_is "$PORT_B" idle; then
	PORT_H=$PORT_B pid_h=$pid_b PORT_O=$PORT_A pid_o=$pid_a
else
	die "crm: one process should hold the lease (b: $seen)"
fi

# ---- 2. a sync runs on one process; `profilehub sync` refuses -----------------------
# the holder of crm runs it: its SIGKILL below frees both leases
trigger "$PORT_H"
await 10 "the holder did not start the sync" feed_is "$PORT_H" running
trigger "$PORT_O"
await 10 "the other: not \"held by another process\"" feed_is "$PORT_O" "held by another process"
timeout 20 "$HUB" -c "$T/hub.yaml" sync feed >"$T/fg.out" 2>"$T/fg.err" &&
	die "profilehub sync ran while a hub held the lease"
grep -q "another process is running this sync" "$T/fg.err" ||
	die "profilehub sync: $(cat "$T/fg.err")"
echo "  a sync on one process: the other waits, profilehub sync refuses"

# ---- 3. SIGKILL the holder: the other takes both leases over -------------------------
rm -f "$T/feed.jsonl"
for n in 1 2 3; do
	printf '{"user_id":"f%s","event":"e","timestamp":"2026-03-01T11:00:0%sZ","id":"f%s"}\n' \
		"$n" "$n" "$n" >>"$T/feed.jsonl"
done
pid_signal KILL "$pid_h"
wait "$pid_h" 2>/dev/null
# its kept trigger runs the sync once the lease is free
await 15 "the other did not run the sync after the kill" feed_is "$PORT_O" idle 3 ok
post "$PORT_O" 100 5
await 20 "crm after the kill: not delivered" crm_is "$PORT_O" delivered
crm_is "$PORT_O" idle || die "crm after the kill: $seen"
check_once "after the holder's SIGKILL"
"$HUB" -c "$T/hub.yaml" sync feed >"$T/fg.out" 2>"$T/fg.err" ||
	die "profilehub sync with the lease free: $(cat "$T/fg.err")"

# ---- 4. the lease files --------------------------------------------------------------
modes=$(stat -c '%a %n' "$T/hub.db-leases"/* 2>/dev/null)
[ -n "$modes" ] || die "no lease files in $T/hub.db-leases"
echo "$modes" | grep -qv '^640 ' && die "lease files not 0640: $modes"
pid_stop INT "$pid_o" 10 || die "the other exited with $? after SIGINT"
pid_a="" pid_b=""
echo "sqlite_lease: ok"
