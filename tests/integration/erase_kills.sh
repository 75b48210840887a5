#!/bin/sh
# erase_kills.sh - privacy erases over HTTP (POST /v1/privacy/requests) while
# the hub is killed with SIGKILL at random moments, ERASE_KILLS times
# (default 10), and started again each time on the same SQLite store: an
# erase happened wholly or not at all, an answered one is never undone, and
# its blocks hold after every restart.
#
# The store holds ERASE_KILLS_USERS (24) people imported before the hub
# starts, each with ERASE_KILLS_EVENTS (1000) anonymous events on a first
# device I, a login (I, C), as many on a second device J and a login (J, C)
# that merges J's anonymous profile into C's: an erase deletes two
# profiles, their events, identifiers and log, and blocks C, I and J, in
# one transaction.  A client (a shell loop, curl) asks to erase the users
# one after the other in a random order, each again (a new request) until
# answered 200, and logs "sent C" before and "acked C" after.
#
# Each round lets the client begin at most two erases past those answered
# (the one in flight, then the next), waits until the client logged a new
# answer and sent its next erase, then kills the hub D ms later (D in
# 0..60, from a generator seeded by ERASE_KILLS_SEED, printed; random when
# unset).  However fast erases are, the users last ERASE_KILLS_USERS / 2
# rounds (unbounded, the client erased them all before the kills were
# done on a fast machine).  With the hub down, the killed store is
# checked: its `dump --events all` is the dump taken before the first
# start without the acknowledged users, and without or with the
# one in flight (last logged "sent"), that one's profile as it was, byte for
# byte; the blocks table holds exactly C, I and J of each erased user.  A
# round counts as one in flight when a "sent" was not yet answered.
# At the end (every erase answered, the hub running after its last
# restart): GET /v1/privacy/requests/<id> of every answered request says
# "done"; a Segment batch over HTTP for every erased custom_id is taken
# (200) and stores nothing, and a canonical import of records for every
# C, I and J counts all of them blocked.  The dump is then empty.
# With ERASE_KILLS_STORE=postgres (pg_erase_kills.sh) the store is a schema
# of a throwaway PostgreSQL (tests/pgtest.sh), its blocks read with psql,
# and the identity invariants (tests/lib/pg_invariants.sh) stand for
# SQLite's integrity_check at the end.
#
# Usage: HUB_BUILD=build sh tests/integration/erase_kills.sh
# Knobs: ERASE_KILLS (10), ERASE_KILLS_SEED, ERASE_KILLS_USERS (24),
# ERASE_KILLS_EVENTS (1000), ERASE_KILLS_STORE (sqlite|postgres).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
. tests/lib/pg_invariants.sh
. tests/lib/pgstore.sh

KILLS=${ERASE_KILLS:-10}
USERS=${ERASE_KILLS_USERS:-24}
EVENTS=${ERASE_KILLS_EVENTS:-1000}
STORE=${ERASE_KILLS_STORE:-sqlite}
SEED=${ERASE_KILLS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
TOKEN=tok-erase-kills-$$
WRITE_KEY=wk-erase-kills-$$

case $STORE in
sqlite) hub_need curl jq sqlite3 od awk ;;
postgres) hub_need curl jq psql od awk ;;
*) die "ERASE_KILLS_STORE=$STORE: sqlite or postgres" ;;
esac
hub_need_built segment
hub_tmpdir erase_kills
client_pid=""
hub_at_exit 'pid_signal KILL "$client_pid"; wait 2>/dev/null'
if [ "$STORE" = postgres ]; then
	hub_at_exit 'sh tests/pgtest.sh stop "$T/pg"'
	pgstore_start || die "cannot start PostgreSQL"
	store_yaml=$(pgstore_yaml erase)
else
	store_yaml=$(printf 'store:\n  path: %s/hub.db' "$T")
fi
# sql QUERY: its rows, fields separated by one space, from the store
sql() {
	if [ "$STORE" = postgres ]; then
		psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 "$PG_URL" -c "SET search_path = erase" \
			-c "$1"
	else
		sqlite3 -separator ' ' "$T/hub.db" "$1"
	fi
}
HUB_DIE_NOTE=" (seed $SEED)"
hub_rng_seed "$SEED"
PORT=$(hub_free_port) || die "no free port"
BASE=http://127.0.0.1:$PORT
PROFILEHUB_ID_KEY=e5a5ec0ffee5a5ec0ffee5a5ec0ffee5a5ec0ffee5a5ec0ffee5a5ec0ffee5a5
export PROFILEHUB_ID_KEY

cat >"$T/hub.yaml" <<EOF
plugin_dir: $ROOT/$B/plugins
log_level: info
$store_yaml
http:
  listen: 127.0.0.1:$PORT
api:
  tokens: ["$TOKEN"]
sources:
  - name: web
    plugin: segment
    write_keys: ["$WRITE_KEY"]
EOF

# the records: each user's two devices and logins, canonical, timed yesterday
day=$(date -u -d '-1 day' +%Y-%m-%d)
awk -v users="$USERS" -v events="$EVENTS" -v day="$day" '
function rec(type, id, ids, n) {
	printf "{\"type\": \"%s\", \"source\": \"web\", \"message_id\": \"%s\",", type, id
	printf " \"timestamp\": \"%sT%02d:%02d:%02d.000Z\", \"identifiers\": {%s}", day,
		int(n / 3600) % 24, int(n / 60) % 60, n % 60, ids
	if (type == "track")
		printf ", \"event\": {\"name\": \"view\", \"properties\": {\"n\": %d}}", n
	print "}"
}
BEGIN {
	for (u = 1; u <= users; u++) {
		i = "\"installation_id\": \"I" u "\""; j = "\"installation_id\": \"J" u "\""
		c = "\"custom_id\": \"C" u "\""
		for (e = 0; e < events; e++) rec("track", "u" u "i" e, i, e)
		rec("identify", "u" u "li", c ", " i, events)
		for (e = 0; e < events; e++) rec("track", "u" u "j" e, j, events + 1 + e)
		rec("identify", "u" u "lj", c ", " j, 2 * events + 1)
	}
}' >"$T/records.jsonl" || die "awk failed"
"$HUB" -c "$T/hub.yaml" import "$T/records.jsonl" --source web >"$T/import.out" 2>&1 ||
	die "import: $(cat "$T/import.out")"
"$HUB" -c "$T/hub.yaml" dump --events all 2>"$T/dump.err" | jq -c . | sort >"$T/pre.jsonl" ||
	die "dump: $(cat "$T/dump.err")"
[ "$(wc -l <"$T/pre.jsonl")" -eq "$USERS" ] ||
	die "$USERS profiles expected: $(cat "$T/import.out")"
jq -e -s "all(.[]; .event_count == $((2 * EVENTS)) and (.merged_from | length) == 1)" \
	"$T/pre.jsonl" >/dev/null || die "each profile should hold both devices' events, one merged"

# the client: every user erased once answered 200, in a random order
order=""
n=1
while [ $n -le "$USERS" ]; do
	hub_rnd 1000000
	order="$order$R C$n
"
	n=$((n + 1))
done
printf '%s' "$order" | sort -n | cut -d' ' -f2 >"$T/order"
# allow N: the client may begin its erases 1..N (it waits for the next)
allow() {
	echo "$1" >"$T/allowed.new" && mv "$T/allowed.new" "$T/allowed" || die "writing allowed"
}
erase_client() {
	k=0
	while read -r c; do
		k=$((k + 1))
		until [ "$k" -le "$(cat "$T/allowed")" ]; do
			sleep 0.02
		done
		echo "sent $c" >>"$T/erase.log"
		# a refused connection (the hub is down), a reset, 429 or 503: again
		until code=$(curl -s -o "$T/answer" -w '%{http_code}' --max-time 20 \
			-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
			--data-binary "{\"type\": \"erase\", \"custom_id\": \"$c\"}" \
			"$BASE/v1/privacy/requests") && [ "$code" = 200 ]; do
			case $code in 000 | 429 | 503) ;; *) echo "bad $c $code $(cat "$T/answer")" ;; esac
			sleep 0.02 # a client's pause before it tries again
		done
		echo "acked $c $(jq -r .id "$T/answer")" >>"$T/erase.log"
	done <"$T/order"
	echo "done" >>"$T/erase.log"
}
: >"$T/erase.log"
allow 0
acked() { grep -c '^acked' "$T/erase.log"; }

# check_store ROUND: the killed store (the hub is down) against pre.jsonl
check_store() {
	# one reading of the log: an answer received before the kill may be
	# logged after it (that erase then shows as in flight)
	cp "$T/erase.log" "$T/erase.seen"
	sed -n 's/^acked \([^ ]*\).*/\1/p' "$T/erase.seen" | sort >"$T/acked"
	inflight=$(tail -1 "$T/erase.seen" | sed -n 's/^sent //p')
	"$HUB" -c "$T/hub.yaml" dump --events all 2>"$T/dump.err" | jq -c . | sort >"$T/now.jsonl" ||
		die "round $1: dump: $(cat "$T/dump.err")"
	jq -c --rawfile a "$T/acked" --arg f "$inflight" \
		'select(.custom_id as $c | ($a | split("\n") | index([$c]) | not) and $c != $f)' \
		"$T/pre.jsonl" | sort >"$T/without.jsonl"
	jq -c --rawfile a "$T/acked" \
		'select(.custom_id as $c | $a | split("\n") | index([$c]) | not)' \
		"$T/pre.jsonl" | sort >"$T/with.jsonl"
	erased=$(cat "$T/acked")
	if cmp -s "$T/now.jsonl" "$T/without.jsonl"; then
		erased="$erased $inflight"
		[ -n "$inflight" ] && inflight_done=$((inflight_done + 1))
	elif [ -z "$inflight" ] || ! cmp -s "$T/now.jsonl" "$T/with.jsonl"; then
		diff "$T/without.jsonl" "$T/now.jsonl" | cut -c1-300 | head -4
		die "round $1: the store is neither without nor with ${inflight:-the acked users}" \
			"(acked $(wc -l <"$T/acked"))"
	fi
	for c in $erased; do
		n=${c#C}
		printf 'custom_id %s\ninstallation_id I%s\ninstallation_id J%s\n' "$c" "$n" "$n"
	done | sort >"$T/blocks.want"
	sql 'SELECT type, value FROM blocks' | sort >"$T/blocks.got" ||
		die "round $1: reading the blocks"
	cmp -s "$T/blocks.want" "$T/blocks.got" ||
		die "round $1: blocks differ from the erased users': $(diff "$T/blocks.want" \
			"$T/blocks.got" | head -4)"
}

hub_start "$T/hub.yaml" "$T/hub.log"
erase_client >"$T/client.out" 2>&1 &
client_pid=$!
kills=0
in_flight=0
inflight_done=0 # of those, the erase committed (the rest: not at all)
while [ $kills -lt "$KILLS" ]; do
	seen=$(acked)
	allow $((seen + 2))
	i=0
	while [ "$(acked)" -le "$seen" ]; do
		grep -q '^done' "$T/erase.log" && die "every user was erased after $kills kills: more" \
			"users (ERASE_KILLS_USERS) or fewer kills"
		i=$((i + 1))
		[ $i -le 2000 ] || die "no erase answered 20 s after a start"
		sleep 0.01 # soon after the answer: the next erase is then likely in flight
	done
	# the round's second erase sent (or answered, or none left): D from then
	i=0
	until tail -1 "$T/erase.log" | grep -q '^sent\|^done' || [ "$(acked)" -ge $((seen + 2)) ]; do
		i=$((i + 1))
		[ $i -le 2000 ] || die "no next erase sent 20 s after an answer"
		sleep 0.01
	done
	hub_rnd 61
	sleep "$(printf '0.%03d' "$R")" # spreads the moment only; nothing waits on it
	hub_kill
	kills=$((kills + 1))
	check_store $kills
	[ -n "$inflight" ] && in_flight=$((in_flight + 1))
	hub_start "$T/hub.yaml" "$T/hub.log"
done
allow "$USERS"
i=0
until grep -q '^done' "$T/erase.log"; do
	i=$((i + 1))
	[ $i -le 1200 ] || die "the client did not finish 60 s after the last restart"
	sleep 0.05
done
wait "$client_pid"
client_pid=""
[ ! -s "$T/client.out" ] || fail "unexpected answers: $(head -3 "$T/client.out")"
[ "$in_flight" -ge 1 ] || fail "no kill hit an erase in flight ($kills kills)"

# ---- the blocks hold after the restarts ---------------------------------------
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
batch=$(awk -v users="$USERS" -v now="$now" 'BEGIN {
	printf "{\"batch\": ["
	for (u = 1; u <= users; u++)
		printf "%s{\"type\": \"track\", \"event\": \"back\", \"userId\": \"C%d\"," \
			" \"messageId\": \"back-%d\", \"timestamp\": \"%s\"}",
			(u > 1 ? "," : ""), u, u, now
	print "]}"
}')
code=$(curl -s -o "$T/answer" -w '%{http_code}' -u "$WRITE_KEY:" --data-binary "$batch" \
	"$BASE/in/web/v1/batch")
[ "$code" = 200 ] || fail "the batch for the erased users: $code $(cat "$T/answer")"
# each answered request's record says done, after the restarts
awk '/^acked/ {print $3}' "$T/erase.log" >"$T/ids"
while read -r id; do
	curl -s -H "Authorization: Bearer $TOKEN" "$BASE/v1/privacy/requests/$id" |
		jq -e '.status == "done"' >/dev/null || fail "request $id: not done"
done <"$T/ids"
hub_stop TERM
awk -v users="$USERS" -v now="$now" 'BEGIN {
	for (u = 1; u <= users; u++) {
		split("C I J", kind, " ")
		for (k = 1; k <= 3; k++)
			printf "{\"type\": \"track\", \"source\": \"web\", \"message_id\": \"late-%s%d\"," \
				" \"timestamp\": \"%s\", \"identifiers\": {\"%s\": \"%s%d\"}," \
				" \"event\": {\"name\": \"late\"}}\n", kind[k], u, now,
				k == 1 ? "custom_id" : "installation_id", kind[k], u
	}
}' >"$T/late.jsonl"
"$HUB" -c "$T/hub.yaml" import "$T/late.jsonl" --source web >"$T/late.out" 2>&1 ||
	fail "import of the late records: $(cat "$T/late.out")"
grep -q "^records $((3 * USERS)), applied 0, duplicates 0, blocked $((3 * USERS))," \
	"$T/late.out" || fail "the late records should all be blocked: $(head -1 "$T/late.out")"
"$HUB" -c "$T/hub.yaml" dump --events all >"$T/end.jsonl" 2>"$T/dump.err" ||
	die "dump: $(cat "$T/dump.err")"
[ ! -s "$T/end.jsonl" ] || fail "profiles left after every erase: $(head -c 300 "$T/end.jsonl")"
if [ "$STORE" = postgres ]; then
	pg_identity_invariants erase
else
	[ "$(sql 'PRAGMA integrity_check')" = ok ] || fail "integrity_check of the store"
fi
finish erase_kills
echo "erase_kills: $kills SIGKILLs (seed $SEED), $in_flight with an erase in flight" \
	"($inflight_done of them committed, the rest not at all);" \
	"$USERS users of $((2 * EVENTS)) events erased wholly ($STORE), each once answered; blocks held"
