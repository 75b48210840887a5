# pgstore.sh - a throwaway PostgreSQL as the hub's store, for the scripts
# that run on SQLite or, under a pg_ wrapper, on PostgreSQL (crash_http.sh,
# import_crash.sh, erase_kills.sh).  Sourced after `cd` to the repo root;
# the caller stops the server at exit (sh tests/pgtest.sh stop "$T/pg").

# pgstore_start: starts tests/pgtest.sh's server in $T/pg and exports
# PG_URL, its URL; nonzero when it did not start.
pgstore_start() {
	mkdir "$T/pg" && chmod 755 "$T" || return 1
	PG_URL=$(sh tests/pgtest.sh start "$T/pg") || return 1
	export PG_URL
}

# pgstore_yaml SCHEMA: the config's store section for schema SCHEMA of
# $PG_URL (the hub expands ${PG_URL}: the URL is not written in the file).
pgstore_yaml() {
	# shellcheck disable=SC2016 # ${PG_URL}: the hub expands it
	printf 'store:\n  driver: postgres\n  url: "${PG_URL}"\n  schema: %s\n' "$1"
}
