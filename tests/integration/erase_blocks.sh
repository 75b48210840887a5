#!/bin/sh
# erase_blocks.sh - the blocks erasures leave (IDENTITY.md section 7) are
# deleted once over for a second privacy.erase_block_days on the wall clock
# (hub/privacy.c): by `profilehub privacy erase`, before its own erase, and
# by `profilehub run` at start (then every hour).  A block over for less
# than that, and one not over, stay; so do the erase's own.  SQLite: the
# rows are planted and read with sqlite3.  An erase that cannot commit
# says nothing was erased.
#
# Usage: HUB_BUILD=build sh tests/integration/erase_blocks.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
hub_need sqlite3 curl
hub_need_built
hub_tmpdir erase_blocks
PORT=$(hub_free_port) || die "no free port"
BASE=http://127.0.0.1:$PORT
DAY=86400000

cat >"$T/hub.yaml" <<EOF
log_level: info
store:
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
privacy:
  erase_block_days: 10
api:
  tokens: ["tok-erase-blocks"]
EOF

# plant VALUE UNTIL_MS: a custom_id block, as an erase at UNTIL_MS - 10 days left it
plant() {
	sqlite3 "$T/hub.db" "INSERT INTO blocks VALUES('custom_id', '$1', $2)" || die "planting $1"
}
blocks() {
	sqlite3 "$T/hub.db" "SELECT value FROM blocks ORDER BY value" | tr '\n' ' '
}
erase() {
	"$HUB" -c "$T/hub.yaml" privacy erase --custom-id "$1" >"$T/out" 2>"$T/err" ||
		die "privacy erase $1: $(cat "$T/err")"
}

# privacy erase
"$HUB" -c "$T/hub.yaml" import /dev/null --source s >/dev/null 2>"$T/err" ||
	die "an empty import to make the store: $(cat "$T/err")"
erase C1
now=$(hub_now_ms)
plant old $((now - 11 * DAY))
plant margin $((now - 9 * DAY))
plant live $((now + DAY))
erase C2
[ "$(blocks)" = "C1 C2 live margin " ] || fail "after privacy erase, the blocks are: $(blocks)"

# run
plant older $((now - 30 * DAY))
hub_start "$T/hub.yaml" "$T/hub.log"
i=0
until [ "$(blocks)" = "C1 C2 live margin " ]; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		fail "10 s after run started, the blocks are: $(blocks)"
		break
	fi
	sleep 0.1
done
grep -q "deleted 1 erase block that ended 10 days ago or more" "$T/hub.log" ||
	fail "run did not log the deletion"

# an erase the store cannot commit (a trigger refuses its block) says that the
# erase was not done and nothing was erased, and to retry, from the API and the
# CLI alike; they said "the records could not be stored"
sqlite3 "$T/hub.db" "CREATE TRIGGER boom BEFORE INSERT ON blocks
	BEGIN SELECT RAISE(ABORT, 'injected failure'); END;" || die "trigger"
code=$(curl -s -o "$T/out" -w '%{http_code}' -H "Authorization: Bearer tok-erase-blocks" \
	--data '{"type":"erase","custom_id":"C3"}' "$BASE/v1/privacy/requests")
[ "$code" = 503 ] || fail "an erase that cannot commit: $code $(cat "$T/out")"
grep -q '"commit_failed".*the erase was not done: nothing was erased.*; retry later' "$T/out" ||
	fail "an erase that cannot commit, answered: $(cat "$T/out")"
"$HUB" -c "$T/hub.yaml" privacy erase --custom-id C3 >"$T/out" 2>"$T/err" &&
	fail "privacy erase that cannot commit exited 0"
grep -q "privacy: the erase was not done: nothing was erased (.*injected failure.*); run it again" \
	"$T/err" || fail "privacy erase that cannot commit said: $(cat "$T/err")"
[ "$(blocks)" = "C1 C2 live margin " ] || fail "after the failed erases, the blocks are: $(blocks)"
sqlite3 "$T/hub.db" "DROP TRIGGER boom" || die "dropping the trigger"
hub_stop
finish erase_blocks
echo "erase_blocks: ok"
