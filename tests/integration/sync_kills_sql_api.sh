#!/bin/sh
# sync_kills_sql_api.sh - sync_kills.sh over the snowflake plugin's SQL API
# transport (fake_snowflake): `profilehub sync` SIGKILLed 20 times at seeded
# random moments after its committed cursor moved (signing the JWT, posting
# the statement, fetching a partition, mapping, committing), then resumed,
# keeps every row exactly once and ends with the store a clean sync makes.
# No kill test covered the SQL API transport before.
#
# Usage: HUB_BUILD=build sh tests/integration/sync_kills_sql_api.sh
# Knobs: SYNC_KILLS (20), SYNC_KILLS_SEED, SYNC_KILLS_ROWS (12000).
SYNC_KILLS_TRANSPORT=sql_api exec sh "$(dirname "$0")/sync_kills.sh"
