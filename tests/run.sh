#!/bin/sh
# run.sh - runs the test suite: the passes of the CUnit unit tests
# (tests/unit/pass.sh: every suite on SQLite, the store-facing suites again
# on PostgreSQL) and every tests/integration/*.sh (each starts its own hub,
# servers and temp dirs), as jobs two at a time on two cores
# (HUB_TEST_JOBS=1: one at a time).
# Usage: HUB_BUILD=build sh tests/run.sh [unit|integration]
#        HUB_BUILD=build/asan HUB_RELEASE_BUILD=build sh tests/run.sh ci
# "ci" (what `make test` runs) is every job once on HUB_BUILD, the
# sanitizer build, and on HUB_RELEASE_BUILD the jobs that a sanitizer build
# cannot run or runs only in part (RELEASE_JOBS below).
# Prints one closing line "N passed, N failed" (a unit pass counts its
# CUnit tests, an integration test counts one) and exits non-zero on
# failure; before it, a job run twice because it hung in the sanitizer's
# leak check at exit (see the watchdog), and the parts of integration
# scripts that skipped themselves here (their "SKIP: why" lines), if any.
set -u
cd "$(dirname "$0")/.." || exit 1
# jq whose -e fails on no input, as jq 1.7's (tests/lib/bin/jq says why)
PATH="$(pwd)/tests/lib/bin:$PATH"
export PATH
if printf '' | jq -e . >/dev/null 2>&1; then
	echo "run.sh: jq -e passes empty input: tests/lib/bin/jq is not in effect" >&2
	exit 2
fi
B=${HUB_BUILD:-build}
export HUB_BUILD="$B"
what=${1:-all}
RB=${HUB_RELEASE_BUILD:-}
case "$what" in
all | unit | integration) ;;
ci)
	[ -n "$RB" ] || {
		echo "run.sh: ci needs HUB_RELEASE_BUILD (the release build's directory)" >&2
		exit 2
	}
	;;
*)
	echo "usage: run.sh [all|unit|integration|ci]" >&2
	exit 2
	;;
esac
# The unit passes: "unit:sqlite" runs every suite; "unit:postgres:A,B"
# runs suites A and B on PostgreSQL (store_pg.c): the store-facing ones,
# the exporter's included, store_gone (the server terminating the store's
# connection at every statement; a no-op on SQLite, and the longest, so a
# job of its own), the paged reads of the API and the access document (api,
# access_doc), the end of erase blocks (housekeep), the intake's group
# retried after a conflict (intake), a sync's pages committed with their
# cursors (sync), the writer failing at every statement (faults), the
# scheduler's ticks and triggers under PostgreSQL's leases (scheduler,
# scheduler_run), and a run's claim of its tick and its lease let go (scheduler_worker);
# and the HTTP face over PostgreSQL (http, http_api: a writer held in
# BEGIN by a lock on meta where SQLite's is held by its write lock, no
# snapshot kept by a stalled access client; the server's own deadlines and
# limits return at once there, test_http.c says why; about half a minute,
# mostly waiting, so a job of its own after unit:sqlite).  Not on
# PostgreSQL: the other suites, most of which open no store (run there once
# in session 43, all of them passed), and http_webhook (the webhook
# export's HTTP client; the export's store side is the export suite's).
UNIT_PASSES="unit:postgres:store_gone unit:postgres:scenarios,random,unify,store,store_pg,export,api,access_doc,housekeep,intake,sync,faults,scheduler,scheduler_run,scheduler_worker unit:sqlite unit:postgres:http,http_api"
# The integration tests that take longest (seconds in CI's sanitizer pass
# at 3450283: 77 65 51 49 48 43 38 36 35 35 34 30 24, then about 20),
# started after the unit passes in this order, longest first, the others
# after them by name, so that the lanes end together (a long one among the
# short ones by name could leave one lane idle near the end).
INTEGRATION_LONG="view_browser cli_basics bigquery pg_lost_commit snowflake_odbc api_routes snowflake_sql_api export_kills pg_lease export_postgres_setup import_crash pg_import_crash erase_kills pg_erase_kills sync_kills sync_kills_bigquery sync_kills_sql_api export_webhook pg_multiprocess_http crash_http pg_crash_http http_run pg_multiprocess limits import_turns valgrind"
# In "ci", these jobs run on the release build as well (named "release:NAME"
# in the output): valgrind (which cannot run an AddressSanitizer build) and
# import_limits (whose memory budget is the release hub's) only there;
# limits (its RSS budget: 64 MB, 192 MB under ASan) and http_run (an
# address-space limit tried on the release hub only) on both builds.
RELEASE_ONLY="valgrind import_limits"
RELEASE_TOO="limits http_run"
# A job still running after HUB_TEST_TIMEOUT seconds (default 600; the
# slowest takes about 2 minutes under the sanitizers on a busy machine) is
# stuck: the watchdog (job_once) names it, shows what each of its processes
# is doing and stops it, so that a hang fails one job instead of the whole
# run.
TEST_TIMEOUT=${HUB_TEST_TIMEOUT:-600}

passed=0
failed=0
failures=""

# test_dump_stuck SID: the processes of session SID, and the threads' stacks
# of each of them that is ours (gdb, when installed), on stdout.
test_dump_stuck() {
	ps -o pid,ppid,etime,stat,wchan:20,args -s "$1" 2>/dev/null
	command -v gdb >/dev/null 2>&1 || return 0
	for p in $(ps -o pid= -s "$1" 2>/dev/null); do
		# still in the session: a short-lived curl may be gone and its PID
		# another test's by the time gdb (which stops what it attaches) gets to it
		[ "$(ps -o sid= -p "$p" 2>/dev/null | tr -d ' ')" = "$1" ] || continue
		case "$(cat "/proc/$p/comm" 2>/dev/null)" in
		profilehub | unit_tests | crash_load | limits_client | node | curl)
			echo "--- stacks of $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
			timeout 60 gdb -batch -p "$p" -ex "set print frame-arguments none" -ex "thread apply all bt 30" 2>&1 |
				grep -E "^(Thread|#)" | head -400
			;;
		esac
	done
}

# test_watchdog PID NAME FILE: waits (polling each second) while PID, the
# leader of its own session and process group, runs; once it has run
# TEST_TIMEOUT seconds, writes to FILE what is stuck, then SIGTERM to the
# group (the scripts' traps stop their servers), SIGKILL 10 s later.
test_watchdog() {
	w=0
	while kill -0 "$1" 2>/dev/null; do
		if [ $w -ge "$TEST_TIMEOUT" ]; then
			{
				echo "FAIL: $2 still runs after $TEST_TIMEOUT s (HUB_TEST_TIMEOUT); its processes:"
				test_dump_stuck "$1"
			} >"$3" 2>&1
			# a process stopped by a tracer that is not ours: LeakSanitizer's
			# StopTheWorld at a process's exit, which hangs now and then
			# (google/sanitizers#1330, #777), not the hub's code
			if ps -o stat= -s "$1" 2>/dev/null | grep -q t; then
				echo "a process of it is stopped by a tracer (LeakSanitizer's check at exit)" >"$3.tracer"
			fi
			kill -TERM -"$1" 2>/dev/null
			w=0
			while kill -0 "$1" 2>/dev/null && [ $w -lt 10 ]; do
				sleep 1
				w=$((w + 1))
			done
			kill -KILL -"$1" 2>/dev/null
			return 0
		fi
		sleep 1
		w=$((w + 1))
	done
}

# job_start NAME: starts the job NAME in a session of its own, its output
# appended to $ires/NAME.log: a unit pass (unit:sqlite, unit:postgres:A,B)
# or tests/integration/NAME.sh; "release:NAME" runs NAME on the release build.
job_start() {
	job=$1
	HUB_BUILD=$B
	case "$job" in
	release:*)
		job=${job#release:}
		HUB_BUILD=$RB
		;;
	esac
	export HUB_BUILD
	case "$job" in
	unit:*)
		# "unit:postgres:A,B" is `pass.sh postgres A B`
		# shellcheck disable=SC2046 # the store and the suites, one word each
		setsid sh tests/unit/pass.sh $(echo "${job#unit:}" | tr ':,' '  ') \
			>>"$ires/$1.log" 2>&1 </dev/null &
		;;
	*)
		setsid sh "tests/integration/$job.sh" >>"$ires/$1.log" 2>&1 </dev/null &
		;;
	esac
}

# job_once NAME: runs the job NAME once under the watchdog; sets r to PASS
# or FAIL.
job_once() {
	rm -f "$ires/$1.stuck" "$ires/$1.stuck.tracer"
	job_start "$1"
	tpid=$!
	echo "$tpid" >"$ires/$1.pid" # for run_stop
	test_watchdog "$tpid" "$1" "$ires/$1.stuck" </dev/null >/dev/null 2>&1 &
	wpid=$!
	if wait "$tpid"; then
		r="PASS"
	else
		r="FAIL"
	fi
	rm -f "$ires/$1.pid"
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	if [ -s "$ires/$1.stuck" ]; then
		cat "$ires/$1.stuck" >>"$ires/$1.log"
		r="FAIL"
	fi
}

# run_job NAME: runs the job (again once, said in its log, if it hung in
# the sanitizer's leak check rather than in our code), then prints its log
# whole (one job's lines together even when lanes run side by side) and
# records PASS or FAIL in $ires/NAME.rc.
run_job() {
	t0=$(date +%s)
	: >"$ires/$1.log"
	job_once "$1"
	if [ -e "$ires/$1.stuck.tracer" ]; then
		echo "RERUN: $1 hung in LeakSanitizer's check at exit (stacks above): once more" >>"$ires/$1.log"
		job_once "$1"
	fi
	case "${1#release:}" in
	unit:*) kind=unit ;;
	*) kind=integration ;;
	esac
	flock "$ires/.print" sh -c 'echo "=== $1: $2"; cat "$3"; echo "--- $4: $2 ($5 s)"' \
		- "$kind" "$1" "$ires/$1.log" "$r" "$(($(date +%s) - t0))"
	echo "$r" >"$ires/$1.rc"
}

# job_lane: takes the next job off the shared list until none is left (the
# counter in $ires/.next, under flock).
job_lane() {
	while :; do
		i=$(flock "$ires/.next" sh -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"; echo "$n"' \
			- "$ires/.next")
		name=$(sed -n "$((i + 1))p" "$ires/.list")
		[ -n "$name" ] || return 0
		run_job "$name"
	done
}

# Each job starts its own hub, servers and temp dirs on ports the kernel
# hands out, so jobs run side by side: HUB_TEST_JOBS lanes (default: one
# per core, at most 2; 1 runs them one after another).  The longest come
# first so that the lanes end together.
jobs=${HUB_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
[ "$jobs" -le 2 ] || jobs=2
ires=$(mktemp -d "${TMPDIR:-/tmp}/hubit.XXXXXX")
# One initdb for every PostgreSQL the jobs start: tests/pgtest.sh copies the
# first one's files (a directory of its own: as root the postgres user
# writes it, and it cannot reach into $ires).
PGTEST_TEMPLATE=$(mktemp -d "${TMPDIR:-/tmp}/hubpgt.XXXXXX")
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
	chown postgres "$PGTEST_TEMPLATE"
fi
export PGTEST_TEMPLATE
: >"$ires/.list"
# Every curl of a job gives up after 120 s (a --max-time of its own wins):
# a request the hub never answers fails its test with curl's "timed out"
# rather than waiting for the watchdog.  The hub's libcurl reads no .curlrc.
mkdir "$ires/curl"
echo 'max-time = 120' >"$ires/curl/.curlrc"
export CURL_HOME="$ires/curl"
if [ "$what" != integration ]; then
	for name in $UNIT_PASSES; do
		echo "$name"
	done >>"$ires/.list"
fi
if [ "$what" != unit ]; then
	# the npm clients (Segment, mParticle, BigQuery) and Playwright need
	# Node.js 20 or later: said once here rather than by each failing test
	node_v=$(node --version 2>/dev/null || echo v0)
	node_major=${node_v#v}
	node_major=${node_major%%.*}
	if [ "$node_major" -lt 20 ] 2>/dev/null; then
		echo "run.sh: Node.js 20 or later is needed by the npm test clients," \
			"found $node_v (Debian 12's nodejs is 18: \`make test\` fetches 20" \
			"into .deps/node/bin through scripts/deps.sh, or see its message)" >&2
		failed=$((failed + 1))
		failures="$failures node_version"
	fi
	for name in $INTEGRATION_LONG; do
		[ -e "tests/integration/$name.sh" ] && echo "$name"
	done >>"$ires/.list"
	for t in tests/integration/*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
		case " $INTEGRATION_LONG " in
		*" $name "*) ;;
		*) echo "$name" ;;
		esac
	done >>"$ires/.list"
fi
if [ "$what" = ci ]; then
	# in the list's place of the job, so that the longest still come first;
	# one run on both builds goes last (short ones), not beside the other:
	# two runs of limits' 10,000 connections at once test neither
	for name in $RELEASE_ONLY; do
		sed -i "s/^$name\$/release:$name/" "$ires/.list"
	done
	for name in $RELEASE_TOO; do
		echo "release:$name"
	done >>"$ires/.list"
fi
echo 0 >"$ires/.next"
# run_stop STATUS: ^C or SIGTERM stops the run: the lanes (which a
# non-interactive shell's background lists ignore ^C in), then each job
# running, in a session of its own that the terminal's ^C does not reach
# (its traps stop its servers).
run_stop() {
	# shellcheck disable=SC2086 # one word per lane
	kill $lane_pids 2>/dev/null
	for f in "$ires"/*.pid; do
		[ -e "$f" ] && kill -TERM -"$(cat "$f")" 2>/dev/null
	done
	echo "run.sh: stopped; the jobs running were sent SIGTERM" >&2
	rm -rf "$ires" "$PGTEST_TEMPLATE"
	exit "$1"
}
lane_pids=""
trap 'run_stop 130' INT
trap 'run_stop 143' TERM
lane=0
while [ $lane -lt "$jobs" ]; do
	job_lane &
	lane_pids="$lane_pids $!"
	lane=$((lane + 1))
done
wait
trap - INT TERM
while read -r name; do
	# a part a script could not run here ("SKIP: why" in its log) is
	# named at the end: a pass must not hide what it did not test
	grep "^SKIP:" "$ires/$name.log" 2>/dev/null | sed "s/^SKIP:/$name:/" >>"$ires/.skips"
	grep "^RERUN:" "$ires/$name.log" 2>/dev/null | sed "s/^RERUN: //" >>"$ires/.reruns"
	rc=$(cat "$ires/$name.rc" 2>/dev/null)
	case "${name#release:}" in
	unit:*)
		# CUnit's summary: "tests  N  N  N  N  0" (total ran passed
		# failed inactive); the last one, should the pass have run twice
		t_pass=$(awk '$1 == "tests" && NF >= 5 { print $4 }' "$ires/$name.log" | tail -1)
		t_fail=$(awk '$1 == "tests" && NF >= 5 { print $5 }' "$ires/$name.log" | tail -1)
		passed=$((passed + ${t_pass:-0}))
		failed=$((failed + ${t_fail:-0}))
		if [ "${t_fail:-0}" -gt 0 ]; then
			failures="$failures $name"
		elif [ "$rc" != PASS ]; then
			# it failed without a failed test: it did not run, or not to
			# its end
			failed=$((failed + 1))
			failures="$failures $name(exit status)"
		fi
		;;
	*)
		if [ "$rc" = PASS ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures="$failures $name"
		fi
		;;
	esac
done <"$ires/.list"
if [ -s "$ires/.reruns" ]; then
	echo "run twice ($(wc -l <"$ires/.reruns")):"
	sed 's/^/  /' "$ires/.reruns"
fi
if [ -s "$ires/.skips" ]; then
	echo "parts not run here ($(wc -l <"$ires/.skips")):"
	sed 's/^/  /' "$ires/.skips"
fi
rm -rf "$ires" "$PGTEST_TEMPLATE"

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
