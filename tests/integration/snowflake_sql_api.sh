#!/bin/sh
# snowflake_sql_api.sh - the snowflake plugin's sql_api transport against a
# fake of the SQL API v2 (tests/integration/fake_snowflake/server.js, from
# the documented shapes): key-pair JWT checked against a key pair made
# here, result partitions (gzip), 202 then 200, 422, injected 429 / 503
# with Retry-After and idempotent resubmission, a gateway's empty 503, a
# partition over max_answer_bytes once inflated, a partition cut in transit (its body
# closed or reset after a few bytes: retried; held open at SIGTERM: the rows before it kept),
# transient SQLSTATEs retried, first runs of text, number, time and date
# cursors that read every row (times before 1970 too; NUMBERs past 2^53 in
# order), a DATE cursor bound again, all through `profilehub sync`; bad
# configs through `profilehub check --connect`.
set -u
cd "$(dirname "$0")/../.."
PATH="$PWD/tests/lib/bin:$PATH" # its jq: -e fails on no input (tests/lib/bin/jq)
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
B=${HUB_BUILD:-build}
HUB="$PWD/$B/profilehub"
T=$(mktemp -d)
FAKE_PID=
cleanup() {
	pid_signal KILL "${HUB_PID:-}"
	pid_signal TERM "$FAKE_PID"
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# a missing node is a failure, as in every other script: a skip would pass
command -v node >/dev/null || { echo "FAIL: node is not installed (scripts/deps.sh)"; exit 1; }

# ---- a key pair, the data, the fake ------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null

# 12 users; UPDATED_AT ties for ids 3..7 (across pages of 4 and partitions of 5)
base=1767225600 # 2026-01-01T00:00:00Z
jq -n --argjson base $base '
  def ts($s): "\($s).000000000";
  {USERS: {columns: [
     {name: "ID", type: "fixed"}, {name: "USER_ID", type: "text"},
     {name: "EMAIL", type: "text"}, {name: "PLAN", type: "text"},
     {name: "SCORE", type: "fixed", scale: 2}, {name: "VIP", type: "boolean"},
     {name: "UPDATED_AT", type: "timestamp_ntz"}, {name: "TAGS", type: "variant"},
     {name: "SIGNUP", type: "timestamp_tz"}, {name: "BIRTHDAY", type: "date"},
     {name: "NAME", type: "text"}],
   rows: [range(1; 13) as $i | [
     "\($i)", "u\($i)", "user\($i)@example.com",
     (if $i % 3 == 0 then null elif $i % 2 == 0 then "gold" else "silver" end),
     "\($i).50", (if $i % 2 == 0 then "true" else "false" end),
     ts(if $i <= 2 then $base + $i * 60 elif $i <= 7 then $base + 600
        else $base + 600 + $i * 60 end),
     "[\"t\($i)\"]", "\($base - 86400 * $i).123456789 1440", "\(20000 + $i)",
     "Zoë 🚀 \($i)"]]},
   PHONES: {columns: [{name: "PHONE", type: "text"}, {name: "USER_ID", type: "text"}],
     rows: [["+33612345678", "p1"], ["-legacy", "p2"], ["0611", "p3"], ["alice", "p4"],
            ["", "p5"], [" lead", "p6"], ["#7", "p7"], [null, "p8"]]},
   LEDGER: {columns: [{name: "ID", type: "fixed"}, {name: "USER_ID", type: "text"}],
     rows: [["-20", "l1"], ["-3", "l2"], ["0", "l3"], ["5", "l4"]]},
   FUTURE: {columns: [{name: "AT", type: "timestamp_ntz"}, {name: "USER_ID", type: "text"}],
     rows: [["253402300799.000000000", "f1"], ["253402300800.000000000", "f2"]]},
   HISTORY: {columns: [{name: "ID", type: "fixed"}, {name: "USER_ID", type: "text"},
       {name: "AT", type: "timestamp_ntz"}, {name: "DAY", type: "date"}],
     rows: [["4", "h4", ts($base), "20454"], ["1", "h1", ts(-62135596800), "-719162"],
       ["3", "h3", "-0.500000000", "-1"], ["2", "h2", ts(-2208988800), "-25567"]]},
   BLOBS: {columns: [{name: "ID", type: "fixed"}, {name: "USER_ID", type: "text"},
       {name: "NOTE", type: "text"}],
     rows: [range(1; 11) as $i | ["\($i)", "b\($i)",
       (if $i <= 5 then "short" else [range(20000) | "x"] | add end)]]}}' >"$T/data.json"

node tests/integration/fake_snowflake/server.js --port-file "$T/port" --public-key "$T/pub.pem" \
	--account xy12345 --user hub_user --data "$T/data.json" --partition-rows 5 \
	>"$T/fake.log" 2>&1 &
FAKE_PID=$!
n=0
until [ -s "$T/port" ]; do
	n=$((n + 1))
	[ $n -lt 200 ] || { echo "FAIL: the fake did not start: $(cat "$T/fake.log")"; exit 1; }
	sleep 0.05
done
PORT=$(cat "$T/port")
FAKE="http://127.0.0.1:$PORT"
control() { curl -s -X POST -d "$1" "$FAKE/_control" >/dev/null; }
fake_log() { curl -s "$FAKE/_log"; }
# until_logged FROM COND WHAT: waits (10 s at most) until a request the fake logged since
# entry FROM matches the jq condition COND; else fails saying WHAT
until_logged() {
	n=0
	until fake_log | jq -e --argjson from "$1" ".[\$from:] | any($2)" >/dev/null; do
		n=$((n + 1))
		[ $n -lt 100 ] || { fail "$3"; return 1; }
		sleep 0.1
	done
}

mkdir -p "$T/plugins"
ln -s "$PWD/$B/plugins/snowflake.so" "$T/plugins/snowflake.so"

# source NAME [KEY [QUERY [MAP [EXTRA [CURSOR]]]]]: one sql_api source entry
source_yaml() {
	cat <<EOF
  - name: $1
    plugin: snowflake
    transport: sql_api
    endpoint: $FAKE
    account: xy12345.us-east-1
    user: hub_user
    private_key_file: ${2:-$T/key.pem}
    warehouse: WH
    database: ANALYTICS
    schema: PUBLIC
    role: LOADER
    query: "${3:-SELECT * FROM analytics.users WHERE updated_at >= :cursor ORDER BY updated_at, id}"
    cursor: ${6:-[updated_at, id]}
    page_size: 4
    map: ${4:-"{custom_id: user_id, attributes: {\$email_address: email, plan: plan, score: score, vip: vip, tags: tags, date(signup): signup, date(birthday): birthday, name: name}}"}
${5:-}
EOF
}

{
	printf 'store:\n  path: %s/hub.db\nplugin_dir: %s/plugins\nsources:\n' "$T" "$T"
	source_yaml users
	source_yaml retry_out "" "" "" "    max_retries: 1"
	source_yaml timeouts "" "" "" "    max_retries: 2"
	source_yaml no_table "" "SELECT * FROM nope WHERE updated_at >= :cursor"
	source_yaml wrong_key "$T/other.pem"
	source_yaml phones "" "SELECT * FROM phones WHERE phone >= :cursor ORDER BY phone" \
		"{custom_id: user_id, attributes: {phone: phone}}" "" "[phone]"
	source_yaml ledger "" "SELECT * FROM ledger WHERE id >= :cursor ORDER BY id" \
		"{custom_id: user_id, attributes: {id: id}}" "    query_timeout: 90s" "[id]"
	source_yaml future "" "SELECT * FROM future WHERE at >= :cursor ORDER BY at" \
		"{custom_id: user_id, attributes: {at: at}}" "" "[at]"
	for col in at day; do
		source_yaml "history_$col" "" "SELECT * FROM history WHERE $col >= :cursor ORDER BY $col, id" \
			"{custom_id: user_id, attributes: {n: id}}" "" "[$col, id]"
	done
	source_yaml blobs "" "SELECT * FROM blobs WHERE id >= :cursor ORDER BY id" \
		"{custom_id: user_id, attributes: {note: note}}" "    max_answer_bytes: 65536" "[id]"
} >"$T/hub.yaml"
sync() { "$HUB" -c "$T/hub.yaml" sync "$@" >"$T/out" 2>"$T/err"; }
dump() { "$HUB" -c "$T/hub.yaml" dump; }
# synced WHAT READ APPLIED DUPLICATES SYNC-ARGS...: the sync succeeds with those counts
synced() {
	what=$1 counts="read $2, applied $3, duplicates $4, rejected 0, blocked 0, refused 0"
	shift 4
	sync "$@" || fail "$what: $(cat "$T/err")"
	grep -qx "$counts" "$T/out" || fail "$what: $(cat "$T/out")"
}

# ---- 1. a first sync: every row, typed, across pages and partitions -----------
sync users || fail "first sync: $(cat "$T/err")"
grep -qx "read 12, applied 12, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "first sync summary: $(cat "$T/out")"
grep -qx 'cursor \["2026-01-01T00:22:00.000000000Z","12"\]' "$T/out" || fail "cursor: $(cat "$T/out")"
dump >"$T/dump1"
[ "$(wc -l <"$T/dump1")" -eq 12 ] || fail "12 profiles expected, got $(wc -l <"$T/dump1")"
jq -e -s 'map(select(.custom_id == "u4"))[0].attributes ==
	{"$email_address": "user4@example.com", "plan": "gold", "score": 4.5, "vip": true,
	 "tags": ["t4"], "signup": "2025-12-28T00:00:00.123Z", "birthday": "2024-10-08T00:00:00.000Z",
	 "name": "Zoë 🚀 4"}' "$T/dump1" >/dev/null ||
	fail "u4 attributes: $(jq -c -s 'map(select(.custom_id == "u4"))[0].attributes' "$T/dump1")"
jq -e -s 'map(select(.custom_id == "u3"))[0].attributes | has("plan") | not' "$T/dump1" >/dev/null ||
	fail "a NULL plan should leave no plan attribute"
fake_log >"$T/log1"
jq -e 'all(.jwt_ok)' "$T/log1" >/dev/null || fail "a request was refused: $(jq -c 'map(select(.jwt_ok | not))' "$T/log1")"
jq -e '[.[] | select(.partition != null)] | map(.partition) == [1, 2] and all(.gzip)' "$T/log1" >/dev/null ||
	fail "partitions 1 and 2 fetched with gzip: $(jq -c '[.[] | select(.partition != null)]' "$T/log1")"
# a first run learns the cursor column's type (LIMIT 0), then binds its start
jq -e 'map(select(.method == "POST")) | (.[0].statement | test("\\) LIMIT 0$")) and
	.[1].binding == "0001-01-01T00:00:00.000000000Z" and .[1].binding_type == "TEXT" and
	.[1].database == "ANALYTICS"' "$T/log1" >/dev/null ||
	fail "the first sync binds the first time: $(jq -c 'map(select(.method == "POST") | {statement, binding, binding_type, database})' "$T/log1")"

# ---- 2. again: nothing new; the saved cursor is bound ------------------------------
sync users || fail "second sync: $(cat "$T/err")"
grep -q "^read 0," "$T/out" || fail "second sync read rows: $(cat "$T/out")"
fake_log | jq -e 'last | .binding == "2026-01-01T00:22:00.000000000Z"' >/dev/null ||
	fail "the cursor was not bound: $(fake_log | jq -c 'last')"

# ---- 3. late rows: one at the cursor's own time, one later, an updated row -------
control "{\"append\": {\"USERS\": [
  [\"13\", \"u13\", \"u13@example.com\", \"gold\", \"1\", \"true\", \"$((base + 1320)).000000000\", null, null, null, null],
  [\"14\", \"u14\", \"u14@example.com\", \"gold\", \"1\", \"true\", \"$((base + 1400)).000000000\", null, null, null, null],
  [\"2\", \"u2\", \"user2@example.com\", \"platinum\", \"2.50\", \"true\", \"$((base + 1500)).000000000\", null, null, null, null]]}}"
sync users || fail "third sync: $(cat "$T/err")"
grep -qx "read 3, applied 3, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "third sync summary: $(cat "$T/out")"
dump | jq -e -s 'length == 14 and (map(select(.custom_id == "u2"))[0].attributes.plan == "platinum")' >/dev/null ||
	fail "late rows and the update not applied"

# ---- 3b. first runs of a text and a number cursor: every row, NULLs left out -------------
# values sorting before "0" ("", " lead", "#7", "+33...", "-legacy") and numbers below 0
# are read; a NULL cursor value is not (in SQL, NULL >= x is not true)
before=$(fake_log | jq length)
sync phones || fail "phones sync: $(cat "$T/err")"
grep -qx "read 7, applied 7, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "a first run of a text cursor reads every row: $(cat "$T/out")"
grep -qx 'cursor \["alice"\]' "$T/out" || fail "phones cursor: $(cat "$T/out")"
dump | jq -e -s '[.[] | select(.custom_id | startswith("p")) | .custom_id] | sort ==
	["p1", "p2", "p3", "p4", "p5", "p6", "p7"]' >/dev/null ||
	fail "phones profiles: $(dump | jq -c -s '[.[] | select(.custom_id | startswith("p")) | {custom_id, phone: .attributes.phone}]')"
fake_log | jq --argjson from "$before" '.[$from:] | map(select(.method == "POST"))' >"$T/log3b"
jq -e '.[0].binding == "0" and (.[0].statement | test("LIMIT 0$")) and
	.[1].binding == "" and .[1].binding_type == "TEXT"' "$T/log3b" >/dev/null ||
	fail "a text cursor's first run binds \"\": $(jq -c 'map({statement, binding, binding_type})' "$T/log3b")"
sync phones || fail "second phones sync: $(cat "$T/err")"
grep -q "^read 0," "$T/out" || fail "second phones sync read rows: $(cat "$T/out")"
fake_log | jq -e 'last | .binding == "alice" and .binding_type == "TEXT"' >/dev/null ||
	fail "the phones cursor was not bound: $(fake_log | jq -c 'last')"

sync ledger || fail "ledger sync: $(cat "$T/err")"
# its statements may run query_timeout (90s), the others the default hour
fake_log | jq -e 'map(select(.method == "POST")) | last.timeout == 90 and first.timeout == 3600' \
	>/dev/null || fail "query_timeout: $(fake_log | jq -c 'map(select(.method == "POST") | .timeout)')"
grep -qx "read 4, applied 4, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "a first run of a number cursor reads the negative ones too: $(cat "$T/out")"
grep -qx 'cursor \["5"\]' "$T/out" || fail "ledger cursor: $(cat "$T/out")"
fake_log | jq -e 'last | .binding_type == "REAL" and (.binding | tonumber) < -1e300' >/dev/null ||
	fail "a number cursor's first run binds the lowest double: $(fake_log | jq -c 'last')"
# NUMBERs past 2^53 keep their order (as doubles, these two are one number)
control '{"append": {"LEDGER": [["9007199254740993", "l6"], ["9007199254740992", "l5"]]}}'
synced "ledger past 2^53" 2 2 0 ledger
grep -qx 'cursor \["9007199254740993"\]' "$T/out" || fail "ledger past 2^53: $(cat "$T/out")"

# ---- 3b'. times and dates before 1970 (back to 0001-01-01): a first sync and --full read them ----
# (they bound the epoch, which left them out for good); a DATE cursor is saved as a time,
# which the next sync binds as it is (Snowflake's DATE reads a timestamp's text)
for col in at day; do
	before=$(fake_log | jq length)
	synced "$col before 1970, first sync" 4 4 0 "history_$col"
	synced "$col before 1970, --full" 4 0 4 "history_$col" --full
	fake_log | jq -e --argjson from "$before" '.[$from:] | map(select(.method == "POST" and
		(.statement | test("LIMIT 0") | not))) | length == 2 and
		all(.binding == "0001-01-01T00:00:00.000000000Z" and .binding_type == "TEXT" and .status == 200)' >/dev/null ||
		fail "$col: the first time was not bound: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map({binding, status})')"
done
grep -qx 'cursor \["2026-01-01T00:00:00.000000000Z","4"\]' "$T/out" || fail "DATE cursor: $(cat "$T/out")"
control "{\"append\": {\"HISTORY\": [[\"5\", \"h5\", null, \"20454\"], [\"6\", \"h6\", null, \"20455\"]]}}"
synced "a DATE cursor, second sync" 2 2 0 history_day
grep -qx 'cursor \["2026-01-02T00:00:00.000000000Z","6"\]' "$T/out" || fail "DATE cursor, second sync: $(cat "$T/out")"
fake_log | jq -e 'last | .binding == "2026-01-01T00:00:00.000000000Z" and .binding_type == "TEXT" and .status == 200' >/dev/null ||
	fail "the saved DATE cursor was not bound: $(fake_log | jq -c 'last')"

# ---- 3c. a cursor time past year 9999: the sync fails naming it, no cursor is saved ------------
# (its text, "10000-01-01...", never reads back: every later sync, and --full, failed)
for full in "" --full; do
	sync future $full; rc=$?
	[ $rc -eq 1 ] || fail "a cursor time past 9999$full: exit $rc: $(cat "$T/out")"
	grep -q 'cursor column at: the time "10000-01-01T00:00:00.000000000Z" is outside years 0000..9999' "$T/err" ||
		fail "a cursor time past 9999$full: $(cat "$T/err")"
	grep -qx 'cursor (none)' "$T/out" || fail "a cursor time past 9999$full saved a cursor: $(cat "$T/out")"
done

# ---- 4. 429 with Retry-After, 202 polling, a 503 on a partition: --full ----------
control '{"async_polls": 2, "faults": [{"on": "post", "status": 429, "retry_after": 1},
  {"on": "partition", "status": 503}]}'
before=$(fake_log | jq length)
sync users --full || fail "sync through faults: $(cat "$T/err")"
grep -qx "read 15, applied 0, duplicates 15, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "full sync summary: $(cat "$T/out")"
grep -qx "retries 2" "$T/out" || fail "two retries expected: $(cat "$T/out")"
fake_log | jq --argjson from "$before" '.[$from:]' >"$T/log4"
jq -e '(map(select(.method == "POST")) | .[0].status == 429 and .[1].retry == true and
	.[1].requestId == .[0].requestId and .[1].at - .[0].at >= 1000)' "$T/log4" >/dev/null ||
	fail "the 429 was not retried with the same requestId, retry=true, after Retry-After: $(jq -c 'map(select(.method == "POST")) | map({status, requestId, retry, at})' "$T/log4")"
jq -e 'map(select(.method == "GET" and .partition == null and .status == 202)) | length >= 2' "$T/log4" >/dev/null ||
	fail "202 was not polled"
jq -e 'any(.partition != null and .status == 503)' "$T/log4" >/dev/null || fail "the 503 was not met"
jq -e 'all(.duplicate_without_retry | not)' "$T/log4" >/dev/null || fail "a requestId was reused without retry=true"
control '{"async_polls": 0}'

# ---- 4b. a poll that fails polls the same statement again; one given up on is cancelled ----
# (a 503 while polling ran the statement anew and left the first running, billed, unread)
control '{"async_polls": 3, "faults": [{"on": "get", "status": 503}]}'
before=$(fake_log | jq length)
synced "a 503 while polling" 15 0 15 users --full
grep -q "^retries" "$T/out" && fail "a 503 while polling was retried as a new run: $(cat "$T/out")"
fake_log | jq --argjson from "$before" '.[$from:]' >"$T/log4b"
jq -e 'map(select(.method == "POST")) | length == 2 and all(.status == 202)' "$T/log4b" >/dev/null ||
	fail "a 503 while polling submitted the statement again: $(jq -c 'map({method, path, status, requestId})' "$T/log4b")"
jq -e '(map(.status) | index(503)) as $i | .[$i].handle == .[$i + 1].handle and .[$i + 1].method == "GET"' \
	"$T/log4b" >/dev/null || fail "the statement was not polled again after the 503: $(jq -c 'map({method, handle, status})' "$T/log4b")"
# polls failing more than 4 times in a row: the statement is cancelled, then the hub retries
control '{"faults": [{"on": "get", "status": 503}, {"on": "get", "status": 503},
  {"on": "get", "status": 503}, {"on": "get", "status": 503}, {"on": "get", "status": 503}]}'
before=$(fake_log | jq length)
synced "polls failing 5 times" 15 0 15 users --full
grep -qx "retries 1" "$T/out" || fail "polls failing 5 times: one retry of the run expected: $(cat "$T/out")"
fake_log | jq --argjson from "$before" '.[$from:]' >"$T/log4b"
jq -e '(.[0].handle) as $h | (map(.cancel == true) | index(true)) as $c |
	[.[1:6][] | .handle == $h and .status == 503] == [true, true, true, true, true] and
	$c == 6 and .[$c].handle == $h and .[$c].status == 200 and
	(.[$c + 1:] | all(.handle != $h)) and .[$c + 1].method == "POST"' "$T/log4b" >/dev/null ||
	fail "a statement given up on was not cancelled: $(jq -c 'map({method, path, status})' "$T/log4b")"
# SIGTERM while the statement runs: the hub stops and cancels it
control '{"async_polls": 100000}'
before=$(fake_log | jq length)
"$HUB" -c "$T/hub.yaml" sync users --full >"$T/out" 2>"$T/err" &
HUB_PID=$!
until_logged "$before" '.method == "GET" and .status == 202' "the statement was never polled"
pid_stop TERM "$HUB_PID" 10; rc=$?
[ $rc -ne 124 ] || fail "sync did not stop on SIGTERM while polling: $(cat "$T/err")"
HUB_PID=
fake_log | jq -e --argjson from "$before" '.[$from:] | (map(select(.method == "POST" and .handle))[0].handle) as $h |
	any(.cancel == true and .handle == $h and .status == 200)' >/dev/null ||
	fail "a statement running at SIGTERM was not cancelled: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map({method, path, status})')"
control '{"async_polls": 0}'
# a poll refused (403) after the statement was accepted: the pull fails and
# cancels it (it ran on, unread, when only a failing poll() cancelled)
control '{"async_polls": 2, "faults": [{"on": "get", "status": 403}]}'
before=$(fake_log | jq length)
sync users --full && fail "a 403 while polling: the sync succeeded"
fake_log | jq --argjson from "$before" '.[$from:]' >"$T/log4c"
jq -e '(map(select(.method == "GET" and .status == 403))[0].handle) as $h |
	$h != null and any(.cancel == true and .handle == $h)' "$T/log4c" >/dev/null ||
	fail "a statement whose poll was refused was not cancelled: $(jq -c 'map({method, path, handle, status})' "$T/log4c")"
control '{"async_polls": 0}'

# a gateway's 503 has no body: its error is not the answer before it (partition 0's)
control '{"faults": [{"on": "partition", "status": 503, "empty": true}]}'
sync users --full || fail "sync through an empty 503: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "an empty 503 is retried: $(cat "$T/out")"
grep -q "HTTP 503 from Snowflake: (no message)" "$T/err" || fail "empty 503 message: $(cat "$T/err")"
grep -q "Statement executed successfully" "$T/err" &&
	fail "an empty 503 read as the answer before it: $(cat "$T/err")"
# a partition whose gzip is spoiled in transit is a transient failure, as
# BigQuery's is: the run is retried (it disabled the source, as a bad key does)
control '{"faults": [{"on": "partition", "status": 200, "bad_gzip": true}]}'
sync users --full || fail "sync through a spoiled gzip partition: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "a spoiled gzip partition is retried: $(cat "$T/out")"
grep -q "bad HTTP Content or Transfer-Encoding (retry 1 of" "$T/err" ||
	fail "spoiled gzip message: $(cat "$T/err")"

# ---- 4d. a partition cut in transit: headers sent, its gzip body cut ---------------------
# (the fake's cut_after: a reset, a close, a connection held open).  Three stores read the
# same 15 rows (3 partitions of 5, pages of 4): a clean sync; a sync through a reset of
# partition 1 and a close of partition 2 (each retried from the committed cursor); a sync
# stopped (SIGTERM) while partition 2 arrives, then run again.  All end with the same rows,
# stored once, and the same cursor.
for db in clean cut stopped unframed; do
	{
		printf 'store:\n  path: %s/%s.db\nplugin_dir: %s/plugins\nsources:\n' "$T" $db "$T"
		source_yaml users
	} >"$T/$db.yaml"
done
sync_db() { db=$1; shift; "$HUB" -c "$T/$db.yaml" sync users "$@" >"$T/out.$db" 2>"$T/err.$db"; }
# stored DB: its profiles as the hub keeps them, one line each, in a stable order
stored() {
	"$HUB" -c "$T/$1.yaml" dump |
		jq -c -s 'map({custom_id, attributes}) | sort_by(.custom_id, (.attributes | tostring)) | .[]'
}
# applied DB: the applied count of its last sync
applied() { sed -n 's/^read [0-9]*, applied \([0-9]*\),.*/\1/p' "$T/out.$1"; }
sync_db clean || fail "4d: clean sync: $(cat "$T/err.clean")"
stored clean >"$T/stored.clean"
[ "$(wc -l <"$T/stored.clean")" -eq 14 ] || fail "4d: a clean sync stores 14 profiles: $(wc -l <"$T/stored.clean")"
clean_cursor=$(grep '^cursor ' "$T/out.clean")

before=$(fake_log | jq length)
control '{"faults": [{"on": "partition", "partition": 1, "cut_after": 60, "cut": "reset"},
  {"on": "partition", "partition": 2, "cut_after": 60, "cut": "close"}]}'
sync_db cut || fail "4d: a sync through cut partitions: $(cat "$T/err.cut")"
grep -qx "retries 2" "$T/out.cut" || fail "4d: two cuts, two retries: $(cat "$T/out.cut")"
fake_log | jq -e --argjson from "$before" '[.[$from:][] | select(.cut) | .cut] |
	map(.how) == ["reset", "close"] and all(.sent == 60 and .of > 60)' >/dev/null ||
	fail "4d: the fake did not cut: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map(select(.partition))')"
stored cut | cmp -s - "$T/stored.clean" || fail "4d: the cut sync stored otherwise: $(stored cut | diff "$T/stored.clean" - | head -5)"
[ "$(applied cut)" = "$(applied clean)" ] || fail "4d: applied $(applied cut) where a clean sync applies $(applied clean)"
grep -qxF "$clean_cursor" "$T/out.cut" || fail "4d: the cut sync's cursor: $(cat "$T/out.cut")"
# the error names the partition, the statement and the bytes received; never the key or JWT
# (a reset may drop bytes the hub had not read yet, the headers too: its count is not sure)
of=$(fake_log | jq --argjson from "$before" '.[$from:][] | select(.cut.how == "close") | .cut.of')
grep -q "partition 1 of statement 01b2c3d4-[0-9-]*: [0-9]*\( of [0-9]*\)\? bytes received: GET $FAKE: .* (retry 1 of" \
	"$T/err.cut" || fail "4d: the message of partition 1's reset: $(cat "$T/err.cut")"
grep -q "partition 2 of statement 01b2c3d4-[0-9-]*: 60 of $of bytes received: GET $FAKE: .* (retry 1 of" \
	"$T/err.cut" || fail "4d: the message of partition 2's cut: $(cat "$T/err.cut")"
grep -q "eyJ\|PRIVATE" "$T/err.cut" && fail "4d: a cut's message holds the JWT or the key"

# SIGTERM while partition 2 arrives (held open after 60 bytes): the rows read before it stay
before=$(fake_log | jq length)
control '{"faults": [{"on": "partition", "partition": 2, "cut_after": 60, "cut": "hold"}]}'
"$HUB" -c "$T/stopped.yaml" sync users >"$T/out.stopped" 2>"$T/err.stopped" &
HUB_PID=$!
until_logged "$before" '.cut.how == "hold"' "4d: partition 2 was never held"
pid_stop TERM "$HUB_PID" 10; rc=$?
[ $rc -ne 124 ] || fail "4d: sync did not stop on SIGTERM while a partition arrived: $(cat "$T/err.stopped")"
HUB_PID=
# partitions 0 and 1 (rows u1..u10 in cursor order) were read whole: they stay
stored stopped | jq -e -s 'map(.custom_id) | sort == ([range(1; 11) | "u\(.)"] | sort)' >/dev/null ||
	fail "4d: the rows before the held partition: $(stored stopped | jq -c -s 'map(.custom_id)'): $(cat "$T/out.stopped" "$T/err.stopped")"
grep -q '^cursor \[' "$T/out.stopped" || fail "4d: the stopped sync kept no cursor: $(cat "$T/out.stopped")"
first=$(applied stopped)
sync_db stopped || fail "4d: the sync run again after SIGTERM: $(cat "$T/err.stopped")"
stored stopped | cmp -s - "$T/stored.clean" ||
	fail "4d: the sync run again stored otherwise: $(stored stopped | diff "$T/stored.clean" - | head -5)"
then=$(applied stopped)
[ $((${first:-0} + ${then:-0})) -eq "$(applied clean)" ] ||
	fail "4d: applied $first, then $then, where a clean sync applies $(applied clean)"
grep -qxF "$clean_cursor" "$T/out.stopped" || fail "4d: the cursor after the run again: $(cat "$T/out.stopped")"

# answers without a length (no Content-Length, no chunks: the body ends where the connection
# does), a statement's and a partition's, cut: curl takes each as whole, its JSON broken off
# (the run failed, "not JSON", and was not retried); the statement ran, so its retry is sent
# under the same requestId with retry=true, as a cut with a length is (it ran again under a
# new requestId)
before=$(fake_log | jq length)
control '{"faults": [{"on": "post", "cut_after": 200, "cut": "close", "unframed": true},
  {"on": "partition", "partition": 1, "cut_after": 60, "cut": "close", "unframed": true}]}'
sync_db unframed || fail "4d: a sync through unframed cuts: $(cat "$T/err.unframed")"
grep -qx "retries 2" "$T/out.unframed" || fail "4d: two unframed cuts, two retries: $(cat "$T/out.unframed")"
fake_log | jq -e --argjson from "$before" '[.[$from:][] | select(.cut)] | length == 2' >/dev/null ||
	fail "4d: the fake did not cut: $(fake_log | jq -c --argjson from "$before" '.[$from:]')"
stored unframed | cmp -s - "$T/stored.clean" ||
	fail "4d: the unframed cuts' sync stored otherwise: $(stored unframed | diff "$T/stored.clean" - | head -5)"
[ "$(applied unframed)" = "$(applied clean)" ] ||
	fail "4d: applied $(applied unframed) where a clean sync applies $(applied clean)"
grep -qxF "$clean_cursor" "$T/out.unframed" || fail "4d: the unframed cuts' cursor: $(cat "$T/out.unframed")"
grep -q "the statement's answer breaks off after 200 bytes, in the middle of its JSON: cut in transit (retry 1 of" \
	"$T/err.unframed" || fail "4d: the message of a statement's unframed cut: $(cat "$T/err.unframed")"
fake_log | jq -e --argjson from "$before" '[.[$from:][] | select(.path == "/api/v2/statements")] |
	(map(.cut != null) | index(true)) as $c | $c != null and (.[$c].retry | not) and
	.[$c + 1].requestId == .[$c].requestId and .[$c + 1].retry == true and
	.[$c + 1].status == 200 and .[$c + 1].answered_again' >/dev/null ||
	fail "4d: the statement's unframed cut was not sent again under its requestId with retry=true: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map(select(.path == "/api/v2/statements") | {requestId, retry, status, cut})')"
grep -q "partition 1 of statement 01b2c3d4-[0-9-]*: the answer breaks off after [0-9]* bytes (decoded), in the middle of its JSON: cut in transit (retry 1 of" \
	"$T/err.unframed" || fail "4d: the message of a partition's unframed cut: $(cat "$T/err.unframed")"

# ---- 5. failures: retries run out; a SQL error; a refused key ------------------------
control '{"faults": [{"on": "post", "status": 503}, {"on": "post", "status": 503}]}'
sync retry_out; rc=$?
[ $rc -eq 1 ] || fail "retries exhausted: exit $rc"
grep -q "profilehub: sync: retry_out: HTTP 503 from Snowflake" "$T/err" || fail "503 error: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "max_retries 1: $(cat "$T/out")"

# transient SQLSTATEs (a deadlock, a statement timeout) are retried under a new requestId
for state in 40001 57014; do
	before=$(fake_log | jq length)
	control "{\"faults\": [{\"on\": \"post\", \"status\": 422, \"sql_state\": \"$state\",
	  \"code\": \"000630\", \"message\": \"Statement was aborted ($state).\"}]}"
	sync users || fail "$state: a transient SQL error is retried: $(cat "$T/err")"
	grep -qx "retries 1" "$T/out" || fail "$state: one retry expected: $(cat "$T/out")"
	grep -q "SQL error 000630 (SQLSTATE $state): Statement was aborted ($state)." "$T/err" ||
		fail "$state: retry message: $(cat "$T/err")"
	fake_log | jq -e --argjson from "$before" '.[$from:] | map(select(.method == "POST")) |
		length == 2 and .[0].status == 422 and .[1].status == 200 and
		.[1].requestId != .[0].requestId and (.[1].retry | not)' >/dev/null ||
		fail "$state: not run again under a new requestId: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map({method, status, requestId, retry})')"
done
# a statement that ran past its timeout (Snowflake's 408, naming it) is retried under a new
# requestId (under the old one Snowflake answers the same 408), the message naming
# query_timeout; one that times out while polled is polled no more, and not cancelled again
timed_out_msg="ran past its timeout (query_timeout, 3600 s) and Snowflake cancelled it (HTTP 408: Statement reached its statement or warehouse timeout of 3600 second(s) and was canceled.): the run is retried"
before=$(fake_log | jq length)
control '{"faults": [{"on": "post", "status": 408, "timed_out": true}]}'
sync users || fail "408: a statement timed out is retried: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "408: one retry expected: $(cat "$T/out")"
grep -q "statement timedout-[0-9]* $timed_out_msg" "$T/err" || fail "408: retry message: $(cat "$T/err")"
fake_log | jq -e --argjson from "$before" '.[$from:] | map(select(.method == "POST")) |
	length == 2 and .[0].status == 408 and .[1].status == 200 and
	.[1].requestId != .[0].requestId and (.[1].retry | not)' >/dev/null ||
	fail "408: not run again under a new requestId: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map({method, status, requestId, retry})')"
before=$(fake_log | jq length)
control '{"async_polls": 2, "faults": [{"on": "get", "timed_out": true}]}'
sync users || fail "408 to a poll: retried: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "408 to a poll: one retry expected: $(cat "$T/out")"
grep -q "statement 01b2c3d4-[0-9-]* $timed_out_msg" "$T/err" || fail "408 to a poll: message: $(cat "$T/err")"
fake_log | jq -e --argjson from "$before" '.[$from:] | (.[0].handle) as $h |
	.[0].method == "POST" and .[0].status == 202 and
	(map(select(.handle == $h)) | length == 2 and .[1].status == 408 and all(.cancel | not)) and
	(map(select(.method == "POST")) | length == 2 and .[1].requestId != .[0].requestId)' >/dev/null ||
	fail "408 to a poll: polled again or cancelled: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map({method, handle, status, cancel})')"
control '{"async_polls": 0}'
# a statement that runs past query_timeout every time is not retried without end: after
# max_retries the run fails with the message naming query_timeout and saves no cursor (no row
# was read); the next run starts over from the checkpoint (here none: every row)
control '{"faults": [{"on": "post", "status": 408, "timed_out": true},
  {"on": "post", "status": 408, "timed_out": true}, {"on": "post", "status": 408, "timed_out": true}]}'
sync timeouts; rc=$?
[ $rc -eq 1 ] || fail "timed out every time: exit $rc"
grep -qx "retries 2" "$T/out" || fail "timed out every time: max_retries 2: $(cat "$T/out")"
grep -qx "cursor (none)" "$T/out" || fail "timed out every time: a cursor saved: $(cat "$T/out")"
grep -q "profilehub: sync: timeouts: statement timedout-[0-9]* ran past its timeout (query_timeout, 3600 s)" \
	"$T/err" || fail "timed out every time: message: $(cat "$T/err")"
sync timeouts || fail "the run after the timed-out one: $(cat "$T/err")"
grep -q "^read 15," "$T/out" || fail "the run after the timed-out one reads every row: $(cat "$T/out")"
# a 200 whose code is not 090001 (statement executed successfully) is no result set: the run
# fails naming the code and message, none of its rows read (the row at the saved cursor); a 200 saying
# 333334 (asynchronous execution in progress) is polled as a 202 is, and read when it answers
control '{"faults": [{"on": "post", "answer_code": "391908", "message": "Not a success."}]}'
sync users; rc=$?
[ $rc -eq 1 ] || fail "a 200 with code 391908: exit $rc"
grep -q "^read 0," "$T/out" || fail "a 200 with code 391908 was read as rows: $(cat "$T/out")"
grep -q 'profilehub: sync: users: HTTP 200 from Snowflake with code 391908 ("Not a success."), not 090001' \
	"$T/err" || fail "a 200 with code 391908: message: $(cat "$T/err")"
before=$(fake_log | jq length)
control '{"faults": [{"on": "post", "answer_code": "333334"}]}'
sync users --full || fail "a 200 with code 333334: $(cat "$T/err")"
grep -q "^read 15," "$T/out" || fail "a 200 with code 333334: $(cat "$T/out")"
fake_log | jq -e --argjson from "$before" '.[$from:] | .[0].handle as $h |
	.[0].method == "POST" and .[0].status == 200 and .[1].method == "GET" and
	.[1].handle == $h and .[1].status == 200 and (.[1].partition == null) and
	(map(select(.method == "POST")) | length == 2 and .[1].requestId != .[0].requestId)' \
	>/dev/null || fail "a 200 with code 333334: not polled: $(fake_log | jq -c --argjson from "$before" '.[$from:] | map({method, handle, status, partition})')"
control '{"faults": [{"on": "post", "status": 422, "sql_state": "22018", "code": "100038",
  "message": "Numeric value '"'abc'"' is not recognized"}]}'
sync users; rc=$?
[ $rc -eq 1 ] || fail "22018: exit $rc"
grep -q "^retries" "$T/out" && fail "a data error (22018) was retried"

sync no_table; rc=$?
[ $rc -eq 1 ] || fail "422: exit $rc"
grep -q "profilehub: sync: no_table: SQL error 002003 (SQLSTATE 42S02): SQL compilation error: Object 'NOPE' does not exist or not authorized." "$T/err" ||
	fail "422 message: $(cat "$T/err")"
grep -q "^retries" "$T/out" && fail "a SQL error was retried"

before=$(fake_log | jq length)
sync wrong_key; rc=$?
[ $rc -eq 1 ] || fail "401: exit $rc"
grep -q "HTTP 401 from Snowflake: JWT token is invalid" "$T/err" || fail "401 message: $(cat "$T/err")"
[ "$(fake_log | jq --argjson from "$before" '.[$from:] | length')" -eq 1 ] || fail "a refused key was retried"

# ---- 5b. an answer past max_answer_bytes (decoded) fails the run; the pages before it stay ----
# partition 1 (rows 6..10, 20 KB of text each) comes gzip'd, about 1 KB: its decoded
# 100 KB are what count.  It was held whole, however large.
before=$(fake_log | jq length)
sync blobs; rc=$?
[ $rc -eq 1 ] || fail "max_answer_bytes: exit $rc"
over="an answer over max_answer_bytes (65536 bytes, decoded): raise max_answer_bytes"
grep -q "profilehub: sync: blobs: GET $FAKE: $over" "$T/err" ||
	fail "max_answer_bytes: message: $(cat "$T/err")"
grep -q "^retries" "$T/out" && fail "max_answer_bytes: an answer too large was retried"
grep -qx 'cursor \["4"\]' "$T/out" ||
	fail "max_answer_bytes: the page before it was not kept: $(cat "$T/out")"
fake_log | jq -e --argjson from "$before" '.[$from:] | map(select(.method == "GET")) |
	length == 1 and .[0].gzip == true' >/dev/null ||
	fail "max_answer_bytes: the partition did not come gzip'd: $(fake_log | jq -c '.[-3:]')"

# ---- 6. check --connect refuses bad configs clearly ------------------------------------
check() {
	{
		printf 'store:\n  path: %s/check.db\nplugin_dir: %s/plugins\nsources:\n' "$T" "$T"
		source_yaml c "$@"
	} >"$T/check.yaml"
	"$HUB" -c "$T/check.yaml" check --connect >"$T/out" 2>"$T/err"
}
check || fail "check --connect on a good config: $(cat "$T/err")"
check "" "" "{custom_id: user_id, attributes: {colour: colour}}"
grep -q 'map.attributes.colour: no column "colour" in the query.s result (columns: ID, USER_ID' "$T/err" ||
	fail "unknown column: $(cat "$T/err")"
check "$T/missing.pem"
grep -q "private_key_file: cannot read $T/missing.pem: No such file or directory" "$T/err" ||
	fail "unreadable key: $(cat "$T/err")"
check "" "SELECT * FROM users ORDER BY updated_at"
grep -q "query: has no :cursor placeholder" "$T/err" || fail "no :cursor: $(cat "$T/err")"
check "" "" "" "    max_answer_bytes: 1000" && fail "check --connect took max_answer_bytes: 1000"
grep -q "max_answer_bytes: 1000 is below 65536 (bytes)" "$T/err" ||
	fail "max_answer_bytes too small: $(cat "$T/err")"
# an endpoint is named whole in errors, the log and the status: credentials in it
# (which the plugin does not use) are refused without being printed
FAKE_AT=$FAKE
FAKE="http://proxyuser:EpSecret5151@${FAKE_AT#http://}"
check && fail "check --connect took an endpoint with a password"
grep -q "endpoint: has a user or password (user:password@)" "$T/err" ||
	fail "an endpoint with a password: $(cat "$T/err")"
grep -q EpSecret5151 "$T/err" "$T/out" && fail "the endpoint's password was printed"
FAKE="$FAKE_AT/?token=EpSecret5151"
check && fail "check --connect took an endpoint with a query"
grep -q "endpoint: has a query or fragment" "$T/err" || fail "an endpoint with a query: $(cat "$T/err")"
grep -q EpSecret5151 "$T/err" "$T/out" && fail "the endpoint's query was printed"
# an endpoint too long for the URLs made from it is refused, never cut
FAKE="$FAKE_AT/$(printf 'p%.0s' $(seq 520))"
check && fail "check --connect took an endpoint of 540 characters"
grep -q "endpoint: longer than 512 characters" "$T/err" || fail "a long endpoint: $(cat "$T/err")"
FAKE=$FAKE_AT
# a query ending in a `--` comment or a `;`: the LIMIT 0 wrapper (check --connect, a first
# run) keeps it one statement (the fake refuses parentheses that do not balance, a `;` inside)
for q in "SELECT * FROM users WHERE updated_at >= :cursor ORDER BY updated_at, id -- oldest first" \
	"SELECT * FROM users WHERE updated_at >= :cursor ORDER BY updated_at, id;" \
	"SELECT * FROM users -- all of them\\nWHERE updated_at >= :cursor ORDER BY updated_at, id ; -- done\\n"; do
	check "" "$q" || fail "check --connect, a query ending in a comment or ;: $q: $(cat "$T/err")"
	"$HUB" -c "$T/check.yaml" sync c --full >"$T/out" 2>"$T/err" ||
		fail "a first run of a query ending in a comment or ;: $q: $(cat "$T/err")"
	grep -q '^read 15,' "$T/out" || fail "a first run of a query ending in a comment or ;: $q: $(cat "$T/out")"
done

# ---- 7. the daemon: scheduled, on demand, disabled; GET/POST /v1/sources ----------------
HUB_PORT=$("$PWD/$B/tests/tools/freeport")
{
	printf 'store:\n  path: %s/run.db\nplugin_dir: %s/plugins\n' "$T" "$T"
	printf 'http:\n  listen: 127.0.0.1:%s\napi:\n  tokens: ["t0ken-%s"]\nsources:\n' "$HUB_PORT" "$$"
	source_yaml users "" "" "" "    schedule: every 5s"
	source_yaml on_demand
	source_yaml wrong_key "$T/other.pem" "" "" "    schedule: '*/5 * * * *'"
} >"$T/run.yaml"
"$HUB" -c "$T/run.yaml" run >"$T/run.log" 2>&1 &
HUB_PID=$!
api() { curl -s -H "Authorization: Bearer t0ken-$$" "$@"; }
# waits (at most 10 s) until the jq condition holds on GET /v1/sources
until_sources() {
	n=0
	until api "http://127.0.0.1:$HUB_PORT/v1/sources" 2>/dev/null | jq -e "$1" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -lt 100 ] || { fail "$2: $(api "http://127.0.0.1:$HUB_PORT/v1/sources")"; return 1; }
		sleep 0.1
	done
}
src() { printf '.sources[] | select(.name == "%s")' "$1"; }
until_sources "$(src users) | .state == \"idle\" and .last_run.result == \"ok\" and .last_run.read == 15" \
	"the scheduled source did not run"
until_sources "$(src users) | .schedule == \"every 5s\" and .cursor != null and .next_run_at != null" \
	"scheduled source status"
until_sources "$(src on_demand) | .state == \"idle\" and .last_run == null and .next_run_at == null" \
	"an on-demand source ran by itself"
# POST URL: prints the status (000: no HTTP answer at all).
post() {
	api -S -o "$T/post" -w '%{http_code}' -X POST "$1" 2>"$T/curl_err"
}
code=$(post "http://127.0.0.1:$HUB_PORT/v1/sources/on_demand/sync")
[ "$code" = 202 ] || fail "POST /v1/sources/on_demand/sync: HTTP $code $(cat "$T/post" "$T/curl_err"); log: $(tail -5 "$T/run.log")"
until_sources "$(src on_demand) | .last_run.result == \"ok\" and .last_run.read == 15" \
	"the triggered sync"
# two more runs in this process: both bind the same cursor, so they send the same request
# body; the first's 200 ends its requestId, and the second must come under a new one
# (checked with every other request at the end of the script)
for run in 2 3; do
	started=$(api "http://127.0.0.1:$HUB_PORT/v1/sources" | jq -r "$(src on_demand) | .last_run.started_at")
	code=$(post "http://127.0.0.1:$HUB_PORT/v1/sources/on_demand/sync")
	[ "$code" = 202 ] || fail "POST /v1/sources/on_demand/sync, run $run: HTTP $code"
	until_sources "$(src on_demand) | .last_run.started_at != \"$started\" and
		.last_run.result == \"ok\" and .last_run.read == 0" "triggered run $run"
done
code=$(post "http://127.0.0.1:$HUB_PORT/v1/sources/nope/sync")
[ "$code" = 404 ] || fail "POST /v1/sources/nope/sync: 404 expected, got $code"
# a cron source's first run is at the next */5 minute: trigger it now
code=$(post "http://127.0.0.1:$HUB_PORT/v1/sources/wrong_key/sync")
[ "$code" = 202 ] || fail "POST /v1/sources/wrong_key/sync: HTTP $code"
until_sources "$(src wrong_key) | .state == \"disabled\" and (.last_error | test(\"HTTP 401\")) and .next_run_at == null" \
	"a refused key should disable the source"
pid_stop TERM "$HUB_PID" 30 # a bound: a hub that does not stop fails here, not the whole run
rc=$?
[ $rc -eq 0 ] || fail "the daemon did not stop cleanly (exit $rc, 124: still running 30 s after SIGTERM): $(tail -5 "$T/run.log")"
[ $rc -eq 124 ] || HUB_PID=
grep -q "source disabled\|sync failed (source disabled)" "$T/run.log" || fail "no log line for the disabled source"

# a statement Snowflake accepted (202) or answered (200, whole) is never sent again under its
# requestId (the retry of a run given up on too): Snowflake would answer with that
# statement's outcome, the cancelled one's, instead of running it anew.  A 200 cut in transit
# is: it ran, and its retry gets its answer (4d)
fake_log | jq -e '[.[] | select(.method == "POST" and .requestId != null)] as $p |
	all(range($p | length); . as $i | ($p[$i].retry | not) or
	    all($p[:$i][]; .requestId != $p[$i].requestId or .cut != null or
		(.status != 200 and .status != 202)))' \
	>/dev/null || fail "a statement accepted or answered was sent again under its requestId"

[ $fails -eq 0 ]
