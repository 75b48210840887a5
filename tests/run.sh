#!/bin/sh
# run.sh - runs the test suite: the CUnit unit tests, then every
# tests/integration/*.sh (each starts its own hub, servers and temp dirs),
# two at a time on two cores (HUB_TEST_JOBS=1: one at a time).
# Usage: HUB_BUILD=build sh tests/run.sh [unit|integration]
# Prints one closing line "N passed, N failed" and exits non-zero on failure;
# before it, the parts of integration scripts that skipped themselves here
# (their "SKIP: why" lines), if any.
set -u
cd "$(dirname "$0")/.."
B=${HUB_BUILD:-build}
export HUB_BUILD="$B"
what=${1:-all}
# The integration tests that take longest (CI logs), started first.
INTEGRATION_LONG="import_crash crash_http valgrind limits bigquery sync_kills snowflake_odbc export_kills pg_lease view_browser api_routes"
passed=0
failed=0
failures=""

if [ "$what" = all ] || [ "$what" = unit ]; then
	out=$(mktemp)
	"$B/tests/unit_tests" >"$out" 2>&1
	rc=$?
	cat "$out"
	# CUnit's summary: "tests  N  N  N  N  0" (total ran passed failed inactive)
	t_pass=$(awk '$1 == "tests" && NF >= 5 { print $4 }' "$out" | tail -1)
	t_fail=$(awk '$1 == "tests" && NF >= 5 { print $5 }' "$out" | tail -1)
	rm -f "$out"
	passed=$((passed + ${t_pass:-0}))
	failed=$((failed + ${t_fail:-0}))
	if [ $rc -ne 0 ] && [ "${t_fail:-0}" -eq 0 ]; then
		failed=$((failed + 1))
		failures="$failures unit_tests(exit $rc)"
	fi

	# The store-facing suites again on PostgreSQL (store_pg.c), the
	# exporter's included: one throwaway server (tests/pgtest.sh), a fresh
	# schema per test world, counted in the totals like the run above, and
	# store_gone (the server terminating the store's connection at every
	# statement; a no-op on SQLite), and the paged reads of the API and the
	# access document (api, access_doc), the end of erase blocks
	# (housekeep), and the intake's group retried after a conflict (intake).
	# Stopped even on ^C.
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX")
	trap 'sh tests/pgtest.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
	trap 'exit 130' INT TERM
	if pgurl=$(sh tests/pgtest.sh start "$pgdir"); then
		out=$(mktemp)
		HUB_TEST_STORE=postgres HUB_TEST_PG_URL="$pgurl" \
			"$B/tests/unit_tests" scenarios random unify store store_gone export api access_doc \
			housekeep intake >"$out" 2>&1
		rc=$?
		cat "$out"
		t_pass=$(awk '$1 == "tests" && NF >= 5 { print $4 }' "$out" | tail -1)
		t_fail=$(awk '$1 == "tests" && NF >= 5 { print $5 }' "$out" | tail -1)
		rm -f "$out"
		passed=$((passed + ${t_pass:-0}))
		failed=$((failed + ${t_fail:-0}))
		if [ $rc -ne 0 ] && [ "${t_fail:-0}" -eq 0 ]; then
			failed=$((failed + 1))
			failures="$failures unit_tests_postgres(exit $rc)"
		fi
	else
		failed=$((failed + 1))
		failures="$failures postgres(start)"
	fi
	sh tests/pgtest.sh stop "$pgdir"
	rm -rf "$pgdir"
	trap - EXIT INT TERM
fi

# run_integration NAME: runs tests/integration/NAME.sh with its output in
# $ires/NAME.log, then prints that log whole (one test's lines together
# even when lanes run side by side) and records PASS or FAIL in
# $ires/NAME.rc.
run_integration() {
	t0=$(date +%s)
	if sh "tests/integration/$1.sh" >"$ires/$1.log" 2>&1; then
		r="PASS"
	else
		r="FAIL"
	fi
	flock "$ires/.print" sh -c 'echo "=== integration: $1"; cat "$2"; echo "--- $3: $1 ($4 s)"' \
		- "$1" "$ires/$1.log" "$r" "$(($(date +%s) - t0))"
	echo "$r" >"$ires/$1.rc"
}

# integration_lane: takes the next test off the shared list until none is
# left (the counter in $ires/.next, under flock).
integration_lane() {
	while :; do
		i=$(flock "$ires/.next" sh -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"; echo "$n"' \
			- "$ires/.next")
		name=$(sed -n "$((i + 1))p" "$ires/.list")
		[ -n "$name" ] || return 0
		run_integration "$name"
	done
}

if [ "$what" = all ] || [ "$what" = integration ]; then
	# Each test starts its own hub, servers and temp dirs on ports the
	# kernel hands out, so tests run side by side: HUB_TEST_JOBS lanes
	# (default: one per core, at most 2; 1 runs them one after another).
	# The longest come first so that the lanes end together.
	jobs=${HUB_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
	[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
	[ "$jobs" -le 2 ] || jobs=2
	# the npm clients (Segment, mParticle, BigQuery) and Playwright need
	# Node.js 20 or later: said once here rather than by each failing test
	node_v=$(node --version 2>/dev/null || echo v0)
	node_major=${node_v#v}
	node_major=${node_major%%.*}
	if [ "$node_major" -lt 20 ] 2>/dev/null; then
		echo "run.sh: Node.js 20 or later is needed by the npm test clients," \
			"found $node_v (Debian 12's nodejs is 18: Debian 13's, or" \
			"https://deb.nodesource.com)" >&2
		failed=$((failed + 1))
		failures="$failures node_version"
	fi
	ires=$(mktemp -d "${TMPDIR:-/tmp}/hubit.XXXXXX")
	for t in tests/integration/*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
		case " $INTEGRATION_LONG " in
		*" $name "*) echo "0 $name" ;;
		*) echo "1 $name" ;;
		esac
	done | sort -k1,1n -k2,2 | cut -d' ' -f2 >"$ires/.list"
	echo 0 >"$ires/.next"
	lane=0
	while [ $lane -lt "$jobs" ]; do
		integration_lane &
		lane=$((lane + 1))
	done
	wait
	while read -r name; do
		# a part a script could not run here ("SKIP: why" in its log) is
		# named at the end: a pass must not hide what it did not test
		grep "^SKIP:" "$ires/$name.log" 2>/dev/null | sed "s/^SKIP:/$name:/" >>"$ires/.skips"
		if [ "$(cat "$ires/$name.rc" 2>/dev/null)" = PASS ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures="$failures $name"
		fi
	done <"$ires/.list"
	if [ -s "$ires/.skips" ]; then
		echo "parts not run here ($(wc -l <"$ires/.skips")):"
		sed 's/^/  /' "$ires/.skips"
	fi
	rm -rf "$ires"
fi

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
