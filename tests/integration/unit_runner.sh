#!/bin/sh
# unit_runner.sh - the unit pass's own arguments (tests/unit/pass.sh,
# tests/unit/main.c): SUITE:TEST runs that one test of the suite and no
# other, on SQLite and on PostgreSQL (CUnit's run summary and the runner's
# "unit: N tests run" line count them); a suite or test that does not
# exist is exit 2, naming it, never a pass of nothing.
set -u
cd "$(dirname "$0")/../.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ONE=test_str_copy_cuts_to_the_buffer_and_terminates
TWO=test_log_levels_are_whole_names

# $1: what; $2: the tests expected to run; the rest: pass.sh's arguments
ran() {
	what=$1 n=$2
	shift 2
	sh tests/unit/pass.sh "$@" >"$T/out" 2>&1 || fail "$what: exit $?: $(tail -5 "$T/out")"
	grep -q "^unit: $n tests run, 0 failed$" "$T/out" ||
		fail "$what: $n tests expected to run: $(grep '^unit:' "$T/out")"
	[ "$(grep -c "^  Test: " "$T/out")" -eq "$n" ] ||
		fail "$what: CUnit names other than $n tests: $(grep "^  Test: " "$T/out")"
}

ran "util:$ONE" 1 sqlite "util:$ONE"
grep -q "^  Test: $ONE \.\.\.passed" "$T/out" || fail "util:$ONE did not run $ONE"
ran "two tests of util" 2 sqlite "util:$ONE" "util:$TWO"
total=$(grep -c "TEST(test_" tests/unit/test_util.c)
ran "util and util:$ONE: the whole suite" "$total" sqlite util "util:$ONE"
ran "store:test_every_op_is_implemented on PostgreSQL" 1 postgres \
	store:test_every_op_is_implemented
grep -q "^  Test: test_every_op_is_implemented \.\.\.passed" "$T/out" ||
	fail "store:test_every_op_is_implemented did not run on PostgreSQL"

sh tests/unit/pass.sh sqlite util:test_no_such_test >"$T/out" 2>&1
[ $? -eq 2 ] || fail "a test that does not exist: exit 2 expected"
grep -q "unit: suite 'util' has no test named 'test_no_such_test'" "$T/out" ||
	fail "a test that does not exist is not named: $(cat "$T/out")"
sh tests/unit/pass.sh sqlite no_such_suite:$ONE >"$T/out" 2>&1
[ $? -eq 2 ] || fail "a suite that does not exist: exit 2 expected"
grep -q "unit: no suite is named 'no_such_suite'" "$T/out" ||
	fail "a suite that does not exist is not named: $(cat "$T/out")"

[ $fails -eq 0 ]
