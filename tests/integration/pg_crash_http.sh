#!/bin/sh
# pg_crash_http.sh - crash_http.sh on the PostgreSQL store: the hub killed
# with SIGKILL at random moments under load on every ingestion route keeps
# every acknowledged event exactly once, and the store equals a clean
# replay of the acknowledged records (in a second schema).  Nothing killed
# a hub on PostgreSQL mid-ingestion before (pg_restart.sh kills the server;
# pg_lost_commit.sh cuts the link).
#
# Usage: HUB_BUILD=build sh tests/integration/pg_crash_http.sh
# Knobs: CRASH_HTTP_KILLS (default 20).
CRASH_HTTP_STORE=postgres exec sh "$(dirname "$0")/crash_http.sh"
