#!/bin/sh
# sync_kills_bigquery.sh - sync_kills.sh over the bigquery plugin
# (fake_bigquery): `profilehub sync` SIGKILLed 20 times at seeded random
# moments after its committed cursor moved (the token exchange, jobs.query,
# a getQueryResults page in transit, mapping, committing), then resumed,
# keeps every row exactly once and ends with the store a clean sync makes.
# bigquery.sh section 8 kills one sync at one fixed point (a held page).
#
# Usage: HUB_BUILD=build sh tests/integration/sync_kills_bigquery.sh
# Knobs: SYNC_KILLS (20), SYNC_KILLS_SEED, SYNC_KILLS_ROWS (12000).
SYNC_KILLS_TRANSPORT=bigquery exec sh "$(dirname "$0")/sync_kills.sh"
