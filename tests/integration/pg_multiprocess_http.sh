#!/bin/sh
# pg_multiprocess_http.sh - three `profilehub run` processes on loopback,
# one PostgreSQL schema (started here, tests/pgtest.sh), fed over HTTP by
# concurrent mParticle clients (tests/integration/node_mparticle/
# concurrent_logins.js, the real `mparticle` npm SDK): 6 clients, each with
# 4 devices, in rounds where every client sends one request at once, each
# request to a hub picked at random.  They interleave anonymous events,
# logins, logouts (a user_identity_change to no customer_id), user switches
# on a device and bulk requests, for 24 regular users every client shares,
# and in one round in three a fresh user that all six log in at once (its
# profile is created by several hubs at the same moment).  Some answered
# requests are resent to another hub, some sent to two hubs at once, a few
# are invalid (must be 400).  Only requests answered 2xx are accepted; 429
# and 503 are retried with the same body; any other outcome of a valid
# request fails the test.  Then:
#   - invariants, in SQL (both schemas): never two live profiles with one
#     custom_id, every identifier held by a live profile (the primary key
#     makes it one), a known profile holds its own custom_id, no event on a
#     merged or missing profile, the installations held are exactly the
#     devices used, no profile near the merge cap (the premise below);
#   - every accepted event stored exactly once, nothing of a refused request;
#   - equality with a serial replay of the accepted requests in a second
#     schema (`profilehub import --format mparticle` of their batches,
#     client after client) and with the clients' own model of the outcome:
#     the same profiles, each as (custom_id or anonymous, its installations,
#     its events); the same custom_ids and events; the same applied count
#     (the hubs' records_applied_total, the dedupe rows and the import's
#     "applied"; both runs saw the same records, so the same duplicates).
#
# Why those facts do not depend on the order the hubs applied records in,
# though a logout's effect does: a device belongs to one client, which
# sends its next request only after the answer to the last (a 2xx means
# committed), so the records of one device are applied in the client's
# order whichever hub takes them; only records of different devices
# interleave.  Those meet only on a shared user's known profile, and known
# profiles never merge (no erase, alias or shared external id here; no
# profile nears the 100-merge cap), so: who holds a device at the end is
# decided by the device's own last login / switch / logout; an event of a
# logged-in device belongs to that user; an anonymous event belongs to the
# user of the device's next login, else to the device's anonymous profile.
# What stays order-dependent is not compared: profile ids, whether a user's
# profile was created or renamed from an anonymous one, tombstones and
# merge counts, attribute and last-seen ties.
#
# Without the lock protocol (store_pg_ops.c ident_lock turned into a no-op, or
# its identifier locks skipped) two hubs create one fresh user twice: the
# custom_id lands on two live profiles, one of them without its identifier,
# and the profiles differ from the replay; all of it fails here.
#
# Bounded: 2400 requests, about 15 s on 2 cores; servers started here and
# stopped by the exit trap; waits are bounded polls of /healthz.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
NODE_DIR="$ROOT/tests/integration/node_mparticle"

HUBS=3
CLIENTS=6
DEVICES=4  # per client
USERS=24   # regular users, shared by every client
ROUNDS=400 # each: one request per client, all at once
SEED=${PGMP_SEED:-9}

hub_tmpdir pgmphttp
hub_need node npm curl jq psql
hub_need_built mparticle

hub_npm_ci "$NODE_DIR" mparticle

# ---- one PostgreSQL, three hubs -----------------------------------------------

PGD=$(mktemp -d "${TMPDIR:-/tmp}/hubpg.XXXXXX") || die "mktemp failed" # the server's user reaches it
PIDS=""
stop_hubs() { # at exit: SIGKILL what still runs (a failed test; the end stops them with SIGINT)
	pid_signal KILL $PIDS
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=""
}
hub_at_exit 'stop_hubs; sh tests/pgtest.sh stop "$PGD"; rm -rf "$PGD"'
url=$(sh tests/pgtest.sh start "$PGD") || die "cannot start PostgreSQL"
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$url" -c "$1"; }
. tests/lib/pg_invariants.sh

MPARTICLE_API_KEY="mpkey_$$"
MPARTICLE_API_SECRET="mpsecret_$$"
export MPARTICLE_API_KEY MPARTICLE_API_SECRET
config() { # schema [port]
	printf 'log_level: warn\nstore:\n  driver: postgres\n  url: "%s"\n  schema: %s\n' "$url" "$1"
	[ -n "${2:-}" ] && printf 'http:\n  listen: 127.0.0.1:%s\n  timeout: 30s\n' "$2"
	cat <<'EOF'
sources:
  - name: mp
    plugin: mparticle
    api_key: "${MPARTICLE_API_KEY}"
    api_secret: "${MPARTICLE_API_SECRET}"
EOF
}
config mp >"$T/mp.yaml" # the CLI's view of the hubs' schema
config serial >"$T/serial.yaml"

t0=$(date +%s)
BASES=""
i=0
while [ $i -lt $HUBS ]; do # all at once: they race for the schema too
	port=$(hub_free_port) || die "no free port"
	config mp "$port" >"$T/hub$i.yaml"
	"$HUB" -c "$T/hub$i.yaml" run >"$T/hub$i.log" 2>&1 &
	PIDS="$PIDS $!"
	echo "$port" >"$T/port$i"
	BASES="$BASES http://127.0.0.1:$port/in/mp/v2"
	i=$((i + 1))
done
hub_die_hook() {
	for k in $(seq 0 $((HUBS - 1))); do hub_show_log "$T/hub$k.log" "hub$k" 10; done
}
i=0
for p in $PIDS; do
	port=$(cat "$T/port$i")
	n=0
	until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
		n=$((n + 1))
		kill -0 "$p" 2>/dev/null || die "hub $i exited at start"
		[ $n -le 100 ] || die "hub $i: no /healthz after 10 s"
		sleep 0.1
	done
	i=$((i + 1))
done

# ---- the clients ----------------------------------------------------------------

# shellcheck disable=SC2086 # BASES: one word per hub
(cd "$NODE_DIR" && node concurrent_logins.js "$T" "$SEED" $CLIENTS $DEVICES $USERS $ROUNDS \
	$BASES) >"$T/clients.out" 2>&1 || fail "clients: $(tail -5 "$T/clients.out")"
t1=$(date +%s)
echo "  $(grep '^clients:' "$T/clients.out")"
[ -s "$T/replay.jsonl" ] || die "the clients wrote no accepted batch"

# what each hub applied, before they stop
applied_hubs=0
max_merges=0
i=0
for p in $PIDS; do
	n=$(curl -fs "http://127.0.0.1:$(cat "$T/port$i")/metrics" |
		awk '$1 == "records_applied_total" { print $2 }')
	[ -n "$n" ] || fail "hub $i: no records_applied_total in /metrics"
	[ "${n:-0}" -gt 0 ] || fail "hub $i applied nothing: requests did not reach every hub"
	applied_hubs=$((applied_hubs + ${n:-0}))
	i=$((i + 1))
done
i=0
for p in $PIDS; do
	HUB_PID=$p
	HUB_LOG="$T/hub$i.log"
	hub_stop INT "" || hub_show_log "$HUB_LOG" "hub $i" # exits 0 within 10 s
	i=$((i + 1))
done
PIDS=""

# ---- the serial replay ------------------------------------------------------------

"$HUB" -c "$T/serial.yaml" import "$T/replay.jsonl" --source mp --format mparticle \
	>"$T/serial.out" 2>"$T/serial.err" || fail "serial import: $(head -3 "$T/serial.err")"
# "records N, applied N, duplicates N, blocked N, refused N, rejected N"
one() { # field
	awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) { v = $(i + 1); sub(",", "", v); print v } }' \
		"$T/serial.out"
}
for f in blocked refused rejected; do
	[ "$(one $f)" = 0 ] || fail "serial replay: $f $(one $f), expected 0"
done
[ "$(one duplicates)" -gt 0 ] 2>/dev/null || fail "serial replay: no duplicates: the resends did not happen"

# ---- invariants ------------------------------------------------------------------

for s in mp serial; do
	pg_identity_invariants "$s"
	sql "SELECT value FROM $s.identifiers WHERE type = 'installation_id'" | LC_ALL=C sort >"$T/$s.devices"
	# the premise of the comparison: no profile near the merge cap
	n=$(sql "SELECT coalesce(max(merge_count), 0) FROM $s.profiles")
	[ "$n" -lt 90 ] || fail "$s: a profile took part in $n merges: the stream nears the cap (fewer rounds)"
	[ $s = mp ] && max_merges=$n
	n=$(sql "SELECT count(*) FROM $s.dedupe")
	[ "$n" = "$(one applied)" ] || fail "$s: $n dedupe rows, the serial replay applied $(one applied)"
done
[ "$applied_hubs" = "$(one applied)" ] ||
	fail "the hubs applied $applied_hubs records (records_applied_total), the serial replay $(one applied)"
cut -f2 "$T/expected.tsv" | tr ',' '\n' | grep . | LC_ALL=C sort >"$T/model.devices"
cmp -s "$T/mp.devices" "$T/model.devices" ||
	fail "the installations held are not the devices used: $(diff "$T/mp.devices" "$T/model.devices" | head -5)"

# ---- the same outcome as the serial replay and the clients' model -----------------

for s in mp serial; do
	"$HUB" -c "$T/$s.yaml" dump --events all >"$T/$s.dump" 2>"$T/$s.dump.err" ||
		fail "$s: dump: $(head -3 "$T/$s.dump.err")"
	jq -r '[(.custom_id // "anon"), ([.installations[].installation_id] | sort | join(",")),
		([.events[].message_id] | sort | join(","))] | @tsv' "$T/$s.dump" |
		LC_ALL=C sort >"$T/$s.profiles"
	jq -r 'select(.custom_id != null) | .custom_id' "$T/$s.dump" | LC_ALL=C sort >"$T/$s.customs"
	jq -r '.events[] | .message_id' "$T/$s.dump" | LC_ALL=C sort >"$T/$s.events"
done
LC_ALL=C sort "$T/expected.tsv" >"$T/model.profiles"
LC_ALL=C sort "$T/events.txt" >"$T/model.events"
pg_matches_serial
cmp -s "$T/mp.events" "$T/model.events" ||
	fail "stored events are not the accepted ones: $(diff "$T/mp.events" "$T/model.events" | cut -c1-120 | head -5)"
cmp -s "$T/mp.profiles" "$T/serial.profiles" ||
	fail "profiles differ from the serial replay: $(diff "$T/mp.profiles" "$T/serial.profiles" | cut -c1-160 | head -5)"
cmp -s "$T/mp.profiles" "$T/model.profiles" ||
	fail "profiles differ from the clients' model: $(diff "$T/mp.profiles" "$T/model.profiles" | cut -c1-160 | head -5)"
n=$(grep -c . "$T/never.txt")
[ "$n" -gt 0 ] || fail "no invalid request was sent"
if grep -qFx -f "$T/never.txt" "$T/mp.customs"; then
	fail "a refused request's user was stored: $(grep -Fx -f "$T/never.txt" "$T/mp.customs" | head -3)"
fi
anon=$(grep -c '^anon' "$T/mp.profiles")
echo "  $HUBS hubs, $CLIENTS clients: $(wc -l <"$T/mp.customs") users, $anon anonymous devices," \
	"$(wc -l <"$T/mp.events") events, $(one applied) applied, $(one duplicates) duplicates," \
	"at most $max_merges merges into one profile, in $((t1 - t0)) s"

finish pg_multiprocess_http
echo "pg_multiprocess_http: logins, logouts and switches over HTTP on $HUBS hubs: invariants hold," \
	"the same profiles as a serial replay"
