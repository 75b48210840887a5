#!/bin/sh
# import_turns.sh - a hub and an import writing one SQLite store take turns:
# a request the hub takes while a long `profilehub import` runs is
# committed between the import's transactions, and answered 200 before the
# import ends.  Before, the import began its next transaction as soon as it
# committed, and the hub's writer waited out its lock timeout (10 s, then
# 503 "database is locked") or the whole import.
#
# Synchronization: the request is sent once the import has committed (a
# bounded poll of `profile` on a record of its first transaction); the
# check is that the import is still running when the answer comes.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir import_turns
hub_need curl
hub_need_built segment

# records of the import: seconds of work, in transactions of at most 4 s;
# a third under AddressSanitizer, which imports them 3.4 times slower (CI:
# 16 s, 55 s with 600,000), so that the import outlasts the request by as
# much as on the normal build, and its end is not waited for twice as long
N=600000
if ldd "$HUB" 2>/dev/null | grep -q libasan; then
	N=200000
fi
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"type\":\"identify\",\"message_id\":\"m%d\",\"identifiers\":{\"custom_id\":\"c%d\"},\"attributes\":{\"n\":%d}}\n", i, i, i }' \
	>"$T/long.jsonl"

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
WRITE_KEY="wk_$$_$PORT"
export WRITE_KEY
cat >"$T/hub.yaml" <<EOF
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
plugin_dir: $ROOT/$B/plugins
sources:
  - name: web
    plugin: segment
    write_keys: ["\${WRITE_KEY}"]
EOF
hub_start "$T/hub.yaml" "$T/hub.log"

"$HUB" -c "$T/hub.yaml" import "$T/long.jsonl" --source t >"$T/import.out" 2>&1 &
IMPORT=$!
hub_at_exit "kill $IMPORT 2>/dev/null"

# the import's first transaction committed (at most 60 s): c1 is readable
i=0
until "$HUB" -c "$T/hub.yaml" profile --custom-id c1 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 600 ] || die "the import committed nothing in 60 s: $(cat "$T/import.out")"
	kill -0 $IMPORT 2>/dev/null || die "the import ended first: $(cat "$T/import.out")"
	sleep 0.1 # the poll's step; the condition is the synchronization
done

answer=$(curl -s -o "$T/resp" -w '%{http_code} %{time_total}' -u "$WRITE_KEY:" \
	"$BASE/in/web/v1/track" -d '{"userId":"beside","event":"Clicked","messageId":"beside-1"}')
status=${answer%% *}
kill -0 $IMPORT 2>/dev/null ||
	fail "the hub's request was answered only after the import ($N records) ended: no turn"
[ "$status" = 200 ] || fail "the hub's request beside the import: $status $(cat "$T/resp")"

wait $IMPORT || fail "the import failed: $(cat "$T/import.out")"
grep -q "applied $N" "$T/import.out" || fail "the import: $(cat "$T/import.out")"
hub_stop
"$HUB" -c "$T/hub.yaml" profile --custom-id beside >"$T/beside.out" 2>&1 &&
	grep -q "Clicked" "$T/beside.out" || fail "the hub's record is not stored: $(cat "$T/beside.out")"

finish import_turns
echo "import_turns: the hub's request was committed between the import's transactions (answered in ${answer#* } s)"
