#!/bin/sh
# limits.sh - hostile clients do not take the hub down or grow its memory.
#
# A real `profilehub run` (temp dir, free port, a Segment source "web",
# http.timeout 2s, http.max_body 1 MB) meets tests/tools/limits_client:
#   1. idle: N connections that send nothing (N = 10000, or what the
#      machine's open-file limit allows: said in the output); /healthz
#      answers while they are open, the hub closes every one of them about
#      http.timeout later, then a normal request is served;
#   2. slowloris: 50 connections trickle their headers and 50 their bodies,
#      one byte each every 500 ms; /healthz and a normal request are served
#      meanwhile; every body trickler is cut at the body deadline (twice
#      http.timeout); header tricklers are reported (see KNOWN GAP below);
#   3. a 1 GiB body announced by Content-Length: 413 at once, no byte read;
#      a 1 GiB chunked body: the hub answers or hangs up after a few MB;
#      a gzip bomb (200 MB of zeros in ~200 KB): 413 on the decoded size;
#   4. the hub is still up, its peak RSS (VmHWM) stayed under a fixed bound,
#      and it stops cleanly on SIGTERM.
# Then a second hub with http.max_connections 64 takes twice that many idle
# connections: the extra ones wait in the kernel's backlog, none is lost,
# and the hub serves again once they have timed out.
#
# libmicrohttpd's connection timeout is an idle timeout, so a client that
# sends one header byte per second would never be cut: the hub's header
# deadline (hub/http_deadline.c) must cut every header trickler.
#
# Usage: HUB_BUILD=build sh tests/integration/limits.sh
# Knobs: LIMITS_IDLE (default 10000), LIMITS_RSS_MB (the bound; default 64,
# 192 under AddressSanitizer).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
ROOT=$(pwd)
B=${HUB_BUILD:-build}
HUB=$ROOT/$B/profilehub
CLIENT=$ROOT/$B/tests/tools/limits_client
FREEPORT=$ROOT/$B/tests/tools/freeport
WANT_IDLE=${LIMITS_IDLE:-10000}

T=$(mktemp -d "${TMPDIR:-/tmp}/limits.XXXXXX") || exit 1
hub_pid=
bg_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	pid_signal KILL "$bg_pid" "$hub_pid"
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "limits: FAIL: $*"
	[ -f "$T/hub.log" ] && tail -10 "$T/hub.log" | sed 's/^/  hub: /'
	exit 1
}

for f in "$HUB" "$CLIENT" "$FREEPORT" "$ROOT/$B/plugins/segment.so"; do
	[ -e "$f" ] || fail "$f is not built (make test builds it)"
done
for tool in curl gzip head; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

if [ -n "${LIMITS_RSS_MB:-}" ]; then
	RSS_MB=$LIMITS_RSS_MB
elif ldd "$HUB" 2>/dev/null | grep -q libasan; then
	RSS_MB=192 # ASan's shadow memory and quarantine (measured: 44 MB)
else
	RSS_MB=64
fi

# ---- how many idle connections this machine allows -------------------------
# the client and the hub each hold one descriptor per connection; both
# inherit this shell's limit, raised as far as the hard limit lets it
# (ulimit -n and -H are not POSIX, but dash, bash and busybox sh have them)
want_fds=$((WANT_IDLE + 256))
# shellcheck disable=SC3045
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
	hard=$(ulimit -Hn)
	if [ "$hard" = unlimited ] || [ "$hard" -ge "$want_fds" ]; then
		ulimit -n "$want_fds" 2>/dev/null
	else
		ulimit -n "$hard" 2>/dev/null
	fi
fi
# shellcheck disable=SC3045
fds=$(ulimit -n)
IDLE=$WANT_IDLE
if [ "$fds" != unlimited ] && [ $((fds - 256)) -lt "$IDLE" ]; then
	IDLE=$((fds - 256))
	# shellcheck disable=SC3045
	echo "limits: the open-file limit is $fds (hard $(ulimit -Hn)): $IDLE idle connections" \
		"instead of $WANT_IDLE"
fi
[ "$IDLE" -ge 100 ] || fail "the open-file limit ($fds) leaves no room for the test"

PORT=$("$FREEPORT") || fail "no free port"
BASE=http://127.0.0.1:$PORT
LIMITS_WRITE_KEY=limits-wk-$$
export LIMITS_WRITE_KEY
AUTH="Basic $(printf '%s:' "$LIMITS_WRITE_KEY" | base64)"

# config MAX_CONNECTIONS
config() {
	cat <<EOF
plugin_dir: $ROOT/$B/plugins
log_level: info
store:
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
  threads: 4
  max_connections: $1
  timeout: 2s
  max_body: 1048576
sources:
  - name: web
    plugin: segment
    write_keys: ["\${LIMITS_WRITE_KEY}"]
EOF
}

start_hub() {
	config "$1" >"$T/hub.yaml"
	echo "--- start, max_connections $1" >>"$T/hub.log"
	"$HUB" -c "$T/hub.yaml" run >>"$T/hub.log" 2>&1 &
	hub_pid=$!
	i=0
	until curl -s --max-time 1 -o /dev/null "$BASE/healthz" 2>/dev/null; do
		kill -0 "$hub_pid" 2>/dev/null || fail "the hub exited at start"
		i=$((i + 1))
		[ $i -le 200 ] || fail "no /healthz 10 s after the start"
		sleep 0.05
	done
}

stop_hub() {
	pid_stop TERM "$hub_pid" 15
	rc=$?
	[ $rc -ne 124 ] || fail "the hub did not stop within 15 s of SIGTERM"
	hub_pid=
	[ $rc -eq 0 ] || fail "the hub exited $rc on SIGTERM"
}

# kb FIELD: VmRSS / VmHWM of the hub in kB
kb() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$hub_pid/status"
}

alive() {
	kill -0 "$hub_pid" 2>/dev/null || fail "the hub died ($1)"
}

# healthz WHEN [SECONDS]: /healthz answers 200 within SECONDS (2)
healthz() {
	code=$(curl -s --max-time "${2:-2}" -o "$T/health" -w '%{http_code}' "$BASE/healthz")
	[ "$code" = 200 ] || fail "/healthz answered $code $1"
}

n_req=0
normal_request() {
	n_req=$((n_req + 1))
	code=$(curl -s --max-time 5 -o "$T/resp" -w '%{http_code}' -u "$LIMITS_WRITE_KEY:" \
		--data-binary "{\"userId\":\"limits-user\",\"event\":\"Normal\",\"messageId\":\"limits-$n_req\"}" \
		"$BASE/in/web/v1/track")
	[ "$code" = 200 ] || fail "a normal request $1: $code $(cat "$T/resp" 2>/dev/null)"
}

# wait_line FILE PATTERN SECONDS: until the background client prints it
wait_line() {
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		kill -0 "$bg_pid" 2>/dev/null || fail "the client exited early: $(cat "$1")"
		i=$((i + 1))
		[ $i -le $(($3 * 20)) ] || fail "the client did not print \"$2\" within $3 s"
		sleep 0.05
	done
}

# wait_bg SECONDS: the background client ends (it bounds its own time)
wait_bg() {
	pid_wait "$bg_pid" "$1"
	case $? in
	0) ;;
	124) fail "the client did not end within $1 s" ;;
	*) fail "the client failed" ;;
	esac
	bg_pid=
}

# field FILE PREFIX N: the Nth word of the line starting with PREFIX
field() {
	awk -v p="$2" -v n="$3" 'index($0, p) == 1 { print $n; exit }' "$1"
}

start_hub $((IDLE + 200))
base_kb=$(kb VmRSS)
echo "limits: hub up, RSS $((base_kb / 1024)) MB; bound $RSS_MB MB"

# ---- 1. idle connections ------------------------------------------------------
"$CLIENT" idle "$PORT" "$IDLE" 20000 >"$T/idle.out" 2>&1 &
bg_pid=$!
wait_line "$T/idle.out" '^opened' 30
opened=$(field "$T/idle.out" opened 2)
[ "$opened" -eq "$IDLE" ] || fail "only $opened of $IDLE idle connections opened: $(cat "$T/idle.out")"
# 10 s: the first connections opened time out (2 s) about now, and under the
# sanitizers on a busy machine closing thousands of them takes the hub
# longer than 2 s (CI saw 000); what counts is that it answers at all
healthz "with $IDLE idle connections open" 10
idle_kb=$(kb VmRSS)
wait_bg 30
closed=$(field "$T/idle.out" closed 5)
last=$(field "$T/idle.out" closed 14)
[ "$closed" -eq "$IDLE" ] || fail "the hub closed $closed of $IDLE idle connections: $(cat "$T/idle.out")"
# by the configured 2 s, not the 30 s default; closing 10 000 of them under
# the sanitizers on a machine running two suites at once took 7.1 s
[ "$last" -le 15000 ] || fail "the last idle connection was closed after $last ms (timeout 2 s)"
alive "after the idle connections"
normal_request "after the idle connections timed out"
echo "limits: $IDLE idle connections (RSS $((idle_kb / 1024)) MB with them open), /healthz" \
	"served meanwhile, all closed by the hub within $last ms, then a request served"

# ---- 2. slowloris ----------------------------------------------------------------
"$CLIENT" slow "$PORT" 50 50 500 12000 /in/web/v1/track >"$T/slow.out" 2>&1 &
bg_pid=$!
wait_line "$T/slow.out" trickling 10
i=0
while [ $i -lt 3 ]; do
	healthz "while 100 slowloris clients trickle"
	normal_request "while 100 slowloris clients trickle"
	sleep 1
	i=$((i + 1))
done
wait_bg 20
body_cut=$(field "$T/slow.out" "slow body" 3)
body_last=$(field "$T/slow.out" "slow body" 16)
head_cut=$(field "$T/slow.out" "slow headers" 3)
[ "$body_cut" -eq 50 ] || fail "the hub cut $body_cut of 50 slow bodies: $(cat "$T/slow.out")"
# by the deadline (4 s): a body that never pauses 2 s is not idle; the
# slack is for a loaded machine running the sanitizers
[ "$body_last" -le 10000 ] || fail "a slow body was cut only after $body_last ms (deadline 4 s)"
alive "after slowloris"
healthz "after slowloris"
echo "limits: slowloris: /healthz and requests served meanwhile; 50 of 50 slow bodies cut" \
	"within $body_last ms (deadline 2 x timeout)"
[ "$head_cut" -eq 50 ] ||
	fail "the hub cut $head_cut of 50 header tricklers: $(cat "$T/slow.out")"
echo "limits: slowloris: 50 of 50 header tricklers cut by the header deadline (http.timeout)"

# ---- 3. 1 GiB bodies and a gzip bomb ---------------------------------------------
"$CLIENT" big-length "$PORT" /in/web/v1/batch "$AUTH" >"$T/big1.out" 2>&1 ||
	fail "big-length: $(cat "$T/big1.out")"
grep -q '"HTTP/1.1 413 ' "$T/big1.out" || fail "1 GiB Content-Length: $(cat "$T/big1.out")"
ms=$(sed -n "s/.*after ms=\([0-9]*\).*/\1/p" "$T/big1.out")
[ "$ms" -le 2000 ] || fail "the 413 for a 1 GiB Content-Length took $ms ms"

"$CLIENT" big-chunked "$PORT" /in/web/v1/batch "$AUTH" >"$T/big2.out" 2>&1 ||
	fail "big-chunked: $(cat "$T/big2.out")"
sent=$(sed -n "s/.*sent=\([0-9]*\).*/\1/p" "$T/big2.out")
[ -n "$sent" ] || fail "big-chunked: $(cat "$T/big2.out")"
[ "$sent" -le $((64 * 1024 * 1024)) ] ||
	fail "the hub read $sent bytes of a chunked 1 GiB body before refusing it"
grep -q '"HTTP/1.1 413 \|(closed, no answer)' "$T/big2.out" ||
	fail "chunked 1 GiB: $(cat "$T/big2.out")"

head -c 200000000 /dev/zero | gzip -1 >"$T/bomb.gz"
code=$(curl -s --max-time 10 -o "$T/resp" -w '%{http_code}' -u "$LIMITS_WRITE_KEY:" \
	-H 'Content-Encoding: gzip' --data-binary @"$T/bomb.gz" "$BASE/in/web/v1/batch")
[ "$code" = 413 ] || fail "a gzip bomb ($(wc -c <"$T/bomb.gz") bytes, 200 MB decoded): $code"
alive "after the 1 GiB bodies"
healthz "after the 1 GiB bodies"
echo "limits: 1 GiB by Content-Length: $(sed 's/^content-length 1 GiB: //' "$T/big1.out");" \
	"1 GiB chunked: $(sed 's/^chunked 1 GiB: //' "$T/big2.out"); gzip bomb: 413"

# ---- 4. memory, and a clean stop ------------------------------------------------
normal_request "at the end"
hwm=$(kb VmHWM)
[ "$hwm" -le $((RSS_MB * 1024)) ] || fail "peak RSS $((hwm / 1024)) MB is over the bound $RSS_MB MB"
stop_hub
echo "limits: peak RSS $((hwm / 1024)) MB (bound $RSS_MB MB, $((base_kb / 1024)) MB at start);" \
	"stopped cleanly"

# ---- 5. past http.max_connections -----------------------------------------------
start_hub 64
"$CLIENT" idle "$PORT" 128 15000 >"$T/full.out" 2>&1 &
bg_pid=$!
wait_line "$T/full.out" '^opened' 10
wait_bg 20
closed=$(field "$T/full.out" closed 5)
[ "$closed" -eq 128 ] || fail "past max_connections: $(cat "$T/full.out")"
alive "past max_connections"
healthz "after the connections past max_connections"
normal_request "after the connections past max_connections"
stop_hub
echo "limits: max_connections 64, 128 idle connections: the extra ones waited, all closed" \
	"by the hub within $(field "$T/full.out" closed 14) ms, then served again"
exit 0
