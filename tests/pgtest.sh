#!/bin/sh
# pgtest.sh - a throwaway PostgreSQL for tests: initdb into a directory,
# start it on 127.0.0.1 (a free port, its socket in the same directory,
# fsync on unless PGTEST_FSYNC=off at its first start; initdb skips its own
# fsyncs), create the database "hubtest", print its URL; stop it again.
#
#   url=$(sh tests/pgtest.sh start DIR)   # DIR: an empty temp dir (as root:
#                                         # one the postgres user can reach);
#                                         # again after stop: the same server
#   sh tests/pgtest.sh restart DIR        # stop -m fast + start, same port
#   sh tests/pgtest.sh stop DIR           # -m immediate (a crash for the
#                                         # clients); idempotent; DIR is left
#                                         # to the caller
#
# With PGTEST_TEMPLATE set (a directory the postgres user can write, as
# tests/run.sh makes for its jobs), the first server's initdb is kept there
# and each later one starts from a copy of it (1.7 s of initdb against 0.4
# s of cp on a small machine; the same files initdb would write).
#
# As root (CI) the server runs as the `postgres` user (initdb refuses root);
# otherwise as the current user.  Binaries: PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin, else PATH.  A caller traps its own exit and
# calls `stop` so no server outlives a failed test.
set -eu

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: pgtest.sh start|stop|restart DIR" >&2
	exit 2
}

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && bindir=$d
	done
fi
[ -n "$bindir" ] && PATH="$bindir:$PATH"
if ! command -v initdb >/dev/null 2>&1; then
	echo "pgtest: initdb not found (install postgresql)" >&2
	exit 1
fi

# Runs a command as the server's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

data="$dir/data"
sock="$dir/sock"

# initdb_into DIR: a new cluster's files in DIR (its log beside DIR).
initdb_into() {
	as_owner initdb -N -D "$1" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
		>"$1.initdb.log" 2>&1 || {
		tail -20 "$1.initdb.log" >&2
		return 1
	}
}

# data_init: the cluster's files in $data: a copy of $PGTEST_TEMPLATE/data,
# made there by the first caller (under a lock: jobs start servers side by
# side; a failed initdb leaves no template), else initdb.
data_init() {
	[ -n "${PGTEST_TEMPLATE:-}" ] || {
		initdb_into "$data"
		return
	}
	(
		flock 9
		[ -f "$PGTEST_TEMPLATE/data/PG_VERSION" ] && exit 0
		rm -rf "$PGTEST_TEMPLATE/new"
		initdb_into "$PGTEST_TEMPLATE/new" && mv "$PGTEST_TEMPLATE/new" "$PGTEST_TEMPLATE/data"
	) 9>"$PGTEST_TEMPLATE/lock" || return 1
	as_owner cp -a "$PGTEST_TEMPLATE/data" "$data"
}

pg_start() {
	port=$(cat "$dir/port")
	fsync=$(cat "$dir/fsync" 2>/dev/null || echo on) # on: a dir from before the file
	as_owner pg_ctl -D "$data" -l "$dir/server.log" -w -t 60 -s \
		-o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c fsync=$fsync \
-c deadlock_timeout=50ms -c max_connections=200 -c log_min_messages=warning" \
		start >/dev/null || {
		tail -20 "$dir/server.log" >&2
		return 1
	}
	# pg_ctl -w waits for the socket; pg_isready confirms TCP accepts too
	n=0
	until pg_isready -q -h 127.0.0.1 -p "$port"; do
		n=$((n + 1))
		[ $n -lt 100 ] || return 1
		sleep 0.1
	done
}

case "$cmd" in
start)
	if [ -f "$data/PG_VERSION" ]; then # started before: the same server again
		pg_start
		echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/hubtest"
		exit 0
	fi
	mkdir -p "$sock"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || {
			echo "pgtest: running as root needs a 'postgres' user" >&2
			exit 1
		}
		chown -R postgres "$dir"
		as_owner test -w "$dir" || {
			echo "pgtest: $dir must be reachable by the postgres user" >&2
			exit 1
		}
	fi
	data_init || exit 1
	b=${HUB_BUILD:-build}
	if [ -x "$b/tests/tools/freeport" ]; then
		"$b/tests/tools/freeport" >"$dir/port"
	else
		echo $((20000 + $$ % 30000)) >"$dir/port"
	fi
	# kept for a restart: the same server again
	if [ "${PGTEST_FSYNC:-on}" = off ]; then echo off; else echo on; fi >"$dir/fsync"
	pg_start
	port=$(cat "$dir/port")
	createdb -h 127.0.0.1 -p "$port" -U postgres hubtest
	echo "postgresql://postgres@127.0.0.1:$port/hubtest"
	;;
stop)
	[ -f "$data/postmaster.pid" ] || exit 0
	as_owner pg_ctl -D "$data" -m immediate -w -s stop >/dev/null 2>&1 || true
	;;
restart)
	as_owner pg_ctl -D "$data" -m fast -w -s stop >/dev/null
	pg_start
	;;
*)
	echo "usage: pgtest.sh start|stop|restart DIR" >&2
	exit 2
	;;
esac
