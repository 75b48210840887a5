#!/bin/sh
# pg_import_crash.sh - import_crash.sh on the PostgreSQL store: an import
# killed with SIGKILL at random points, then run to the end, leaves the
# store a clean import leaves (two schemas of a throwaway PostgreSQL).  No
# test killed an import on PostgreSQL before (pg_restart.sh kills the
# server; pg_lost_commit.sh cuts the link).  Fewer records than on SQLite
# (a dump of the store is slower there), more of them erasures so that
# blocked records still cross the kills, for a run near 40 s.
#
# Usage: HUB_BUILD=build sh tests/integration/pg_import_crash.sh
# Knobs: IMPORT_CRASH_SEED, IMPORT_CRASH_RECORDS (default 6000),
# IMPORT_CRASH_ERASE_RATE (default 0.01).
IMPORT_CRASH_RECORDS=${IMPORT_CRASH_RECORDS:-6000} \
	IMPORT_CRASH_ERASE_RATE=${IMPORT_CRASH_ERASE_RATE:-0.01} IMPORT_CRASH_STORE=postgres \
	exec sh "$(dirname "$0")/import_crash.sh"
