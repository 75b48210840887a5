# hub.sh - shared helpers for tests/integration/*.sh (POSIX sh, sourced).
# Not a test itself: tests/run.sh runs every tests/integration/*.sh, so this
# lives outside that directory.  Source it after `cd` to the repo root:
#
#	cd "$(dirname "$0")/../.." || exit 1
#	. tests/lib/hub.sh
#
# Sets ROOT (the repo root), B ($HUB_BUILD, default build), HUB (the
# profilehub binary) and FREEPORT (tests/tools/freeport), and fails=0.
# All waits are bounded polls for a condition; no sleep stands for one.

ROOT=$(pwd)
PATH="$ROOT/tests/lib/bin:$PATH" # its jq: -e fails on no input (tests/lib/bin/jq)
B=${HUB_BUILD:-build}
HUB="$ROOT/$B/profilehub"
FREEPORT="$ROOT/$B/tests/tools/freeport"
# the ports freeport gave this script, never given twice (tests/tools/freeport.c)
HUB_PORTS_FILE=${HUB_PORTS_FILE:-${TMPDIR:-/tmp}/hub_ports.$$}
export HUB_PORTS_FILE
fails=0
. "$ROOT/tests/lib/pid.sh"
HUB_PID=""
HUB_LOG=""
HUB_AT_EXIT=""
HUB_DIE_NOTE=""

# fail MESSAGE: prints "FAIL: MESSAGE" and counts it; the script goes on.
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# hub_show_log FILE LABEL [N]: the last N (20) lines of FILE, prefixed
# "  LABEL: ", if FILE exists.
hub_show_log() {
	[ -f "$1" ] && sed "s/^/  $2: /" "$1" | tail -"${3:-20}"
	return 0
}

# die MESSAGE: prints "FAIL: MESSAGE$HUB_DIE_NOTE", the tail of the hub's
# log ($HUB_LOG, else $T/hub.log), runs hub_die_hook if the script defines
# one (to show more logs), and exits 1.
die() {
	echo "FAIL: $*$HUB_DIE_NOTE"
	hub_show_log "${HUB_LOG:-${T:-}/hub.log}" hub
	if command -v hub_die_hook >/dev/null 2>&1; then
		hub_die_hook
	fi
	exit 1
}

# finish NAME: exits 1 with "NAME: N failures" if fail() was called, else
# returns (the script prints its own success line).
finish() {
	if [ "$fails" -ne 0 ]; then
		echo "$1: $fails failures"
		exit 1
	fi
}

# hub_need TOOL...: dies unless every TOOL is on the PATH.
hub_need() {
	for hub_tool in "$@"; do
		command -v "$hub_tool" >/dev/null 2>&1 ||
			die "$hub_tool is not installed (scripts/deps.sh)"
	done
}

# hub_need_built PLUGIN...: dies unless profilehub, freeport and each
# $B/plugins/PLUGIN.so are built.
hub_need_built() {
	[ -x "$HUB" ] || die "$HUB is not built"
	[ -x "$FREEPORT" ] || die "$FREEPORT is not built (make builds tests/tools)"
	for hub_plugin in "$@"; do
		[ -f "$ROOT/$B/plugins/$hub_plugin.so" ] ||
			die "$B/plugins/$hub_plugin.so is not built"
	done
}

# hub_echo_push_dir: makes $T/plugins, a plugin_dir holding only
# $B/tests/plugins/echo_push.so (the test plugins are built apart from the
# hub's), and checks curl, profilehub and freeport; dies if one is missing.
hub_echo_push_dir() {
	hub_need curl
	hub_need_built
	[ -f "$B/tests/plugins/echo_push.so" ] || die "$B/tests/plugins/echo_push.so is not built"
	mkdir "$T/plugins" && cp "$B/tests/plugins/echo_push.so" "$T/plugins/" ||
		die "copying echo_push.so to $T/plugins"
}

# hub_echo_push_conf KEY: hub_echo_push_dir, then PORT (free), BASE and
# $T/hub.yaml: the SQLite store $T/hub.db, log_level info, and the source
# "web" of the echo_push plugin taking the bearer KEY.
hub_echo_push_conf() {
	hub_echo_push_dir
	PORT=$(hub_free_port) || die "no free port"
	BASE="http://127.0.0.1:$PORT"
	cat >"$T/hub.yaml" <<EOF
plugin_dir: $T/plugins
log_level: info
store:
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
sources:
  - name: web
    plugin: echo_push
    key: "$1"
EOF
}

# hub_at_exit COMMAND: COMMAND (a shell string) runs at exit, after the hub
# is stopped and before $T is removed; several compose, in order.
hub_at_exit() {
	HUB_AT_EXIT="$HUB_AT_EXIT
$1"
}

# hub_cleanup: the EXIT trap hub_tmpdir sets.  Stops a running hub (SIGTERM,
# at most 5 s, then SIGKILL; none if it ended already: pid.sh), runs the
# hub_at_exit commands, removes $T.
hub_cleanup() {
	if [ -n "$HUB_PID" ]; then
		pid_stop TERM "$HUB_PID" 5 2>/dev/null
		[ $? -ne 124 ] || pid_stop KILL "$HUB_PID" 5 2>/dev/null
	fi
	HUB_PID=""
	eval "$HUB_AT_EXIT"
	rm -f "${TMPDIR:-/tmp}/hub_ports.$$"
	[ -n "${T:-}" ] && rm -rf "$T"
}

# hub_tmpdir NAME: sets T to a new temp dir ${TMPDIR:-/tmp}/hub_NAME.XXXXXX
# and traps EXIT (hub_cleanup) and INT/TERM (exit 1).  Use hub_at_exit for
# the script's own cleanup rather than another trap.
hub_tmpdir() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/hub_$1.XXXXXX") || die "mktemp failed"
	trap hub_cleanup EXIT
	trap 'exit 1' INT TERM
}

# hub_rng_seed SEED, then hub_rnd N: sets R to a number in [0, N) from a
# linear congruential generator, so that a run replays from its printed seed.
hub_rng_seed() {
	HUB_RS=$(($1 % 2147483648))
}
hub_rnd() {
	HUB_RS=$(((HUB_RS * 1103515245 + 12345) % 2147483648))
	R=$((HUB_RS / 65536 % $1))
}

# hub_now_ms: prints the wall clock in milliseconds.
hub_now_ms() {
	hub_t=$(date +%s%N)
	echo $((hub_t / 1000000))
}

# hub_free_port: prints a free TCP port (use: PORT=$(hub_free_port) || die ...).
# hub_npm_ci DIR PACKAGE...: `npm ci` in DIR (its package-lock.json; never
# a browser download) unless every PACKAGE is in DIR/node_modules already;
# dies with npm's log when it fails.  Needs T (hub_tmpdir).
hub_npm_ci() {
	hub_npm_dir=$1
	shift
	for hub_npm_pkg in "$@"; do
		[ -d "$hub_npm_dir/node_modules/$hub_npm_pkg" ] && continue
		echo "$(basename "$0" .sh): npm ci in ${hub_npm_dir#"$ROOT"/}"
		(cd "$hub_npm_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
			npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) ||
			{ cat "$T/npm.log"; die "npm ci failed"; }
		return 0
	done
}

hub_free_port() {
	"$FREEPORT"
}

# hub_start CONFIG LOGFILE [URL]: `profilehub -c CONFIG run` in the
# background, appending to LOGFILE; sets HUB_PID and HUB_LOG and waits at
# most 10 s for URL/healthz (URL defaults to $BASE).  Dies, with the log's
# tail, if the hub exits first or never answers.
hub_start() {
	HUB_LOG=$2
	"$HUB" -c "$1" run >>"$2" 2>&1 &
	HUB_PID=$!
	hub_i=0
	until curl -fs --max-time 5 "${3:-$BASE}/healthz" >/dev/null 2>&1; do
		hub_i=$((hub_i + 1))
		if ! kill -0 "$HUB_PID" 2>/dev/null; then
			wait "$HUB_PID"
			hub_rc=$?
			HUB_PID=""
			die "the hub exited at start ($hub_rc)"
		fi
		[ $hub_i -le 100 ] || die "no /healthz after 10 s"
		sleep 0.1
	done
}

# hub_stop [SIGNAL [LOGGED]]: sends SIGNAL (INT by default) to the hub and
# waits at most 10 s for it to exit (dies if it does not).  fail()s unless
# it exited 0 and its log has LOGGED ("stopped", logged at info; pass ""
# when log_level is above info); returns 1 then.  Clears HUB_PID.
hub_stop() {
	hub_sig=${1:-INT}
	hub_logged=${2-stopped}
	if ! pid_ours "$HUB_PID"; then
		wait "$HUB_PID" 2>/dev/null
		hub_rc=$?
		HUB_PID=""
		fail "the hub had exited ($hub_rc) before SIG$hub_sig"
		return 1
	fi
	hub_rc=0
	pid_stop "$hub_sig" "$HUB_PID" 10 || hub_rc=$?
	[ $hub_rc -ne 124 ] || die "the hub still runs 10 s after SIG$hub_sig"
	HUB_PID=""
	if [ $hub_rc -ne 0 ]; then
		fail "the hub exited with $hub_rc on SIG$hub_sig"
		return 1
	fi
	if [ -n "$hub_logged" ] && ! grep -q "$hub_logged" "$HUB_LOG"; then
		fail "no \"$hub_logged\" in the hub's log after SIG$hub_sig"
		return 1
	fi
	return 0
}

# hub_kill: SIGKILL to the hub (a crash), reaped; clears HUB_PID.
hub_kill() {
	pid_signal KILL "$HUB_PID"
	wait "$HUB_PID" 2>/dev/null
	HUB_PID=""
}
