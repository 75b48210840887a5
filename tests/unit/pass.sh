#!/bin/sh
# pass.sh - one pass of the CUnit unit tests (build/tests/unit_tests), run
# by tests/run.sh as one job of its lanes, side by side with the
# integration tests:
#
#   sh tests/unit/pass.sh sqlite [SUITE...]  every suite, or those (stores on SQLite)
#   sh tests/unit/pass.sh postgres SUITE...  those suites on PostgreSQL
#
# A SUITE may be SUITE:TEST, one test of it, on either store (to repeat a
# flaky one: a shell loop over the pass), e.g.
#   sh tests/unit/pass.sh postgres store:test_every_op_is_implemented
# A suite or test that does not exist is an error (exit 2), never a pass
# of nothing.
#
# The PostgreSQL pass starts its own throwaway server (tests/pgtest.sh; a
# fresh schema per test world), stopped also when the pass is interrupted
# (INT, TERM).  That
# server does not fsync (PGTEST_FSYNC=off): no test of a unit pass crashes
# the machine under it, so what the tests see is the same, and the pass
# takes half the time.  The integration tests' servers fsync.
# Prints CUnit's output; exits non-zero when a test fails or the pass
# cannot run.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${HUB_BUILD:-build}
what=${1:-}
[ $# -gt 0 ] && shift

case "$what" in
sqlite)
	exec "$B/tests/unit_tests" "$@"
	;;
postgres)
	[ $# -gt 0 ] || {
		echo "pass.sh: postgres needs the suites to run" >&2
		exit 2
	}
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX")
	trap 'sh tests/pgtest.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
	trap 'exit 130' INT TERM
	pgurl=$(PGTEST_FSYNC=off sh tests/pgtest.sh start "$pgdir") || {
		echo "FAIL: the PostgreSQL of the unit pass did not start" >&2
		exit 1
	}
	HUB_TEST_STORE=postgres HUB_TEST_PG_URL="$pgurl" "$B/tests/unit_tests" "$@"
	;;
*)
	echo "usage: pass.sh sqlite [SUITE[:TEST]...] | postgres SUITE[:TEST]..." >&2
	exit 2
	;;
esac
