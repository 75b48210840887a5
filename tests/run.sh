#!/bin/sh
# run.sh - runs the test suite: the CUnit unit tests, then every
# tests/integration/*.sh (each starts its own hub, servers and temp dirs).
# Usage: HUB_BUILD=build sh tests/run.sh [unit|integration]
# Prints one closing line "N passed, N failed" and exits non-zero on failure.
set -u
cd "$(dirname "$0")/.."
B=${HUB_BUILD:-build}
export HUB_BUILD="$B"
what=${1:-all}
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
	# statement; a no-op on SQLite).  Stopped even on ^C.
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX")
	trap 'sh tests/pgtest.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
	trap 'exit 130' INT TERM
	if pgurl=$(sh tests/pgtest.sh start "$pgdir"); then
		out=$(mktemp)
		HUB_TEST_STORE=postgres HUB_TEST_PG_URL="$pgurl" \
			"$B/tests/unit_tests" scenarios random store store_gone export >"$out" 2>&1
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

if [ "$what" = all ] || [ "$what" = integration ]; then
	for t in tests/integration/*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
		echo "=== integration: $name"
		t0=$(date +%s)
		if sh "$t"; then
			echo "--- PASS: $name ($(($(date +%s) - t0)) s)"
			passed=$((passed + 1))
		else
			echo "--- FAIL: $name ($(($(date +%s) - t0)) s)"
			failed=$((failed + 1))
			failures="$failures $name"
		fi
	done
fi

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
