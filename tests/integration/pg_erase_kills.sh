#!/bin/sh
# pg_erase_kills.sh - erase_kills.sh on the PostgreSQL store: privacy erases
# over HTTP with the hub SIGKILLed at random moments; each erase happened
# wholly or not at all, an answered one is kept, its blocks (read with psql)
# hold after every restart.  No test killed a hub on PostgreSQL during an
# erase before.
#
# Usage: HUB_BUILD=build sh tests/integration/pg_erase_kills.sh
# Knobs: those of erase_kills.sh; fewer kills (6), users (14) and events (400)
# by default than there, a dump of the store being slower, for a run near 40 s.
ERASE_KILLS=${ERASE_KILLS:-6} ERASE_KILLS_USERS=${ERASE_KILLS_USERS:-14} \
	ERASE_KILLS_EVENTS=${ERASE_KILLS_EVENTS:-400} ERASE_KILLS_STORE=postgres \
	exec sh "$(dirname "$0")/erase_kills.sh"
