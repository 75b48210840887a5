#!/bin/sh
# bigquery.sh - the bigquery plugin through `profilehub sync` against a fake
# of BigQuery's REST API (tests/integration/fake_bigquery/server.js; its
# faithfulness is proven by Google's own clients in bigquery_clients.sh):
# a service-account key made here (the fake verifies the JWT with its public
# half), the metadata server and a static token; every cell type, REPEATED
# and RECORD, INT64 above 2^53; pages with ties across their boundaries;
# incremental syncs; jobComplete: false polling; 429 / 403 rateLimitExceeded
# / 5xx retried (Retry-After, the same requestId); a job given up on (a
# refused poll, polls that keep failing, a stop) cancelled once, a job that
# completed never, a failed cancel logged; TIMESTAMPs as float
# seconds in exponent form read exactly as int64 microseconds; SIGKILL mid
# sync then resume without loss or duplicates; SIGTERM while a page downloads
# committing the rows read before it; invalidQuery, notFound,
# accessDenied and a refused key failing clearly and disabling the source
# in `profilehub run`; `check --connect`; @cursor typed from the first cursor
# column (INT64, STRING, DATE, DATETIME, NUMERIC, FLOAT64) by a dry run before
# each process's first query, cursor_type overriding it; a first run of a
# time column reading times before 1970 (back to 0001-01-01); NULLs in a second
# cursor column, which BigQuery sorts first (or last, with NULLS LAST).
set -u
cd "$(dirname "$0")/../.."
PATH="$PWD/tests/lib/bin:$PATH" # its jq: -e fails on no input (tests/lib/bin/jq)
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
B=${HUB_BUILD:-build}
HUB="$PWD/$B/profilehub"
T=$(mktemp -d "${TMPDIR:-/tmp}/hub_bq.XXXXXX")
FAKE_PID=
HUB_PID=
cleanup() {
	pid_signal KILL "$HUB_PID"
	pid_signal TERM "$FAKE_PID"
	wait 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for tool in node jq curl openssl; do
	command -v $tool >/dev/null || { echo "FAIL: $tool is not installed (scripts/deps.sh)"; exit 1; }
done
[ -f "$B/plugins/bigquery.so" ] || { echo "FAIL: $B/plugins/bigquery.so is not built"; exit 1; }

# ---- keys, data, the fake ----------------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
EMAIL=hub-loader@proj-test.iam.gserviceaccount.com

sh tests/integration/fake_bigquery/seed.sh "$T/data.json"
base=1767225600 # 2026-01-01T00:00:00Z, the seed's first time

node tests/integration/fake_bigquery/server.js --port-file "$T/port" --public-key "$T/pub.pem" \
	--client-email "$EMAIL" --static-token "static-$$" --data "$T/data.json" --page-rows 5 \
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
log_from() { fake_log | jq --argjson from "$1" '.[$from:]'; }

# service-account key files, as the Cloud console writes them
sa_key() {
	jq -n --arg email "$EMAIL" --rawfile pem "$1" --arg uri "$FAKE/token" \
		'{type: "service_account", project_id: "proj-test", private_key_id: "k1",
		  private_key: $pem, client_email: $email, client_id: "1",
		  auth_uri: "https://accounts.google.com/o/oauth2/auth", token_uri: $uri}'
}
sa_key "$T/key.pem" >"$T/sa.json"
sa_key "$T/other.pem" >"$T/sa_other.json"

mkdir -p "$T/plugins"
ln -s "$PWD/$B/plugins/bigquery.so" "$T/plugins/bigquery.so"

USERS_Q='SELECT * FROM `proj-test.analytics.users` WHERE updated_at >= :cursor ORDER BY updated_at, id'
# (the hub keeps no objects as attributes and numbers as doubles: RECORD, JSON and
# INT64 beyond 2^53 go in as text with string(x); as event properties they stay JSON)
USERS_MAP='{custom_id: user_id, attributes: {$email_address: email, plan: plan, score: score, ratio: ratio, vip: vip, date(signup): signup, last_login: last_login, string(big): big, tags: tags, string(address): address, string(prefs): prefs, name: name}}'
# source NAME [QUERY [MAP [CURSOR [AUTH [EXTRA]]]]]: one bigquery source entry
source_yaml() {
	cat <<EOF
  - name: $1
    plugin: bigquery
    endpoint: $FAKE
    project: proj-test
    location: EU
    ${5:-credentials_file: $T/sa.json}
    query: "${2:-$USERS_Q}"
    cursor: ${4:-[updated_at, id]}
    page_size: ${PAGE:-4}
    map: ${3:-$USERS_MAP}
${6:-}
EOF
}
EVENTS_Q='SELECT * FROM analytics.events WHERE occurred_at >= :cursor ORDER BY occurred_at, event_id'
EVENTS_MAP='{custom_id: user_id, installation_id: device_id, timestamp: occurred_at, event: {name: event_name, properties: {items: items, seen: seen, big: big}}}'
BULK_Q='SELECT * FROM analytics.bulk WHERE updated_at >= :cursor ORDER BY updated_at, id'
BULK_MAP='{custom_id: user_id, timestamp: updated_at, event: {name: event_name, properties: {plan: plan}}}'
ACCT_Q='SELECT * FROM analytics.accounts WHERE acct_id >= :cursor ORDER BY acct_id'
ACCT_MAP='{custom_id: owner, attributes: {acct: acct_id}}'
CODES_Q='SELECT * FROM analytics.codes WHERE code >= :cursor ORDER BY code'
CODES_MAP='{custom_id: owner, attributes: {code: code}}'
BLOBS_Q='SELECT * FROM analytics.blobs WHERE k >= :cursor ORDER BY k'
BLOBS_MAP='{custom_id: owner, attributes: {k: k}}'
NULLS_Q='SELECT * FROM analytics.nulls WHERE updated_at >= :cursor ORDER BY updated_at, id'
NULLS_MAP='{custom_id: user_id, attributes: {n: id}}'

{
	printf 'store:\n  path: %s/hub.db\nplugin_dir: %s/plugins\nsources:\n' "$T" "$T"
	source_yaml users
	source_yaml events "$EVENTS_Q" "$EVENTS_MAP" "[occurred_at, event_id]" "access_token: static-$$" "    kind: events"
	source_yaml retry_out "" "" "" "" "    max_retries: 1"
	source_yaml bad_query 'SELECT colour FROM analytics.users WHERE updated_at >= :cursor'
	source_yaml no_table 'SELECT * FROM analytics.nope WHERE updated_at >= :cursor'
	source_yaml denied 'SELECT * FROM analytics.secret WHERE id >= :cursor' "{custom_id: id, attributes: {n: id}}" "id"
	source_yaml wrong_key "" "" "" "credentials_file: $T/sa_other.json"
	source_yaml meta "" "" "" "metadata: true"
	# @cursor's type: learned from the column, or cursor_type
	source_yaml accounts "$ACCT_Q" "$ACCT_MAP" "acct_id"
	source_yaml accounts_start "$ACCT_Q" "$ACCT_MAP" "acct_id" "" "    cursor_start: '2020-01-01T00:00:00Z'"
	source_yaml accounts_numeric "$ACCT_Q" "$ACCT_MAP" "acct_id" "" "    cursor_type: NUMERIC"
	source_yaml accounts_wrong "$ACCT_Q" "$ACCT_MAP" "acct_id" "" "    cursor_type: TIMESTAMP"
	source_yaml codes "$CODES_Q" "$CODES_MAP" "code"
	source_yaml blobs "$BLOBS_Q" "$BLOBS_MAP" "k"
	source_yaml floats 'SELECT * FROM analytics.floats WHERE x >= :cursor ORDER BY x' \
		'{custom_id: owner, attributes: {x: x}}' "x"
	for col in signup last_login score ratio; do
		source_yaml "by_$col" "SELECT * FROM analytics.users WHERE $col >= :cursor ORDER BY $col, id" "" "[$col, id]"
	done
	source_yaml nulls_default "$NULLS_Q" "$NULLS_MAP"
	for col in at day wall; do
		source_yaml "history_$col" "SELECT * FROM analytics.history WHERE $col >= :cursor ORDER BY $col, id" \
			"{custom_id: owner, attributes: {n: id}}" "[$col, id]"
	done
	source_yaml nulls_last "$NULLS_Q NULLS LAST" "$NULLS_MAP"
} >"$T/hub.yaml"
sync() { "$HUB" -c "$T/hub.yaml" sync "$@" >"$T/out" 2>"$T/err"; }
dump() { "$HUB" -c "$T/hub.yaml" dump "$@"; }
user() { jq -c -s "map(select(.custom_id == \"$1\"))[0]" "$T/dump1"; }
# synced WHAT READ APPLIED DUPLICATES SYNC-ARGS...: the sync succeeds with those counts
synced() {
	what=$1 counts="read $2, applied $3, duplicates $4, rejected 0, blocked 0, refused 0"
	shift 4
	sync "$@" || fail "$what: $(cat "$T/err")"
	grep -qx "$counts" "$T/out" || fail "$what: $(cat "$T/out")"
}

# ---- 1. a first sync: every type, across pages, the JWT exchanged once ----------------------
sync users || fail "first sync: $(cat "$T/err")"
grep -qx "read 12, applied 12, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "first sync summary: $(cat "$T/out") $(cat "$T/err")"
grep -qx 'cursor \["2026-01-01T00:22:00.000000000Z","12"\]' "$T/out" || fail "cursor: $(cat "$T/out")"
dump >"$T/dump1"
[ "$(wc -l <"$T/dump1")" -eq 12 ] || fail "12 profiles expected, got $(wc -l <"$T/dump1")"
user u4 | jq -e '.attributes == {"$email_address": "user4@example.com", "plan": "gold",
	"score": 4.5, "ratio": 1, "vip": true, "signup": "2024-05-14T00:00:00.000Z",
	"last_login": "2025-12-30T10:14:00.250Z", "big": "9007199254741104", "tags": ["t4", "ü4"],
	"address": "{\"city\":\"Zürich 4\",\"zip\":null,\"geo\":{\"lat\":47.5,\"lon\":8.25}}",
	"prefs": "{\"theme\":\"dark\",\"n\":4}", "name": "Zoë 🚀 4"}' >/dev/null ||
	fail "u4 attributes: $(user u4 | jq -c .attributes)"
user u1 | jq -e '.attributes.big == "9007199254741101" and .attributes.ratio == 0.25 and .attributes.vip == false and
	.attributes.signup == "2024-02-11T00:00:00.000Z"' >/dev/null || fail "u1 attributes: $(user u1 | jq -c .attributes)"
user u3 | jq -e '.attributes | has("plan") | not' >/dev/null || fail "a NULL plan should leave no plan attribute"
user u5 | jq -e '.attributes | has("address") | not' >/dev/null || fail "a NULL RECORD should leave no attribute"
fake_log >"$T/log1"
jq -e '[.[] | select(.path == "/token")] | length == 1 and .[0].status == 200' "$T/log1" >/dev/null ||
	fail "one token exchange expected: $(jq -c '[.[] | select(.path == "/token")]' "$T/log1")"
jq -e '[.[] | select(.path | startswith("/bigquery"))] | all(.token == "issued")' "$T/log1" >/dev/null ||
	fail "a request without the exchanged token"
# a dry run learns the cursor column's type (a STRING @cursor coerces to a TIMESTAMP column)
jq -e '.[1] | .dryRun and .param == {"type": "STRING", "value": "1970-01-01"} and .status == 200' "$T/log1" >/dev/null ||
	fail "the dry run before the first query: $(jq -c '.[1]' "$T/log1")"
jq -e '.[2] | (.dryRun | not) and .param == {"type": "TIMESTAMP", "value": "0001-01-01 00:00:00.000000+00:00"} and
	.parameterMode == "NAMED" and .location == "EU" and .maxResults == 4 and .useInt64Timestamp and
	(.query | test("@cursor"))' "$T/log1" >/dev/null ||
	fail "the first jobs.query: $(jq -c '.[2]' "$T/log1")"
jq -e '[.[] | select(.pageToken != null)] | length == 2 and all(.location == "EU" and .maxResults == 4)' "$T/log1" >/dev/null ||
	fail "pages 2 and 3 through getQueryResults: $(jq -c '[.[] | select(.method == "GET")]' "$T/log1")"

# ---- 2. again: nothing new; the saved cursor is the parameter ------------------------------------
sync users || fail "second sync: $(cat "$T/err")"
grep -q "^read 0," "$T/out" || fail "second sync read rows: $(cat "$T/out")"
fake_log | jq -e 'map(select(.method == "POST" and .path != "/token")) | last | .param ==
	{"type": "TIMESTAMP", "value": "2026-01-01 00:22:00.000000+00:00"}' >/dev/null ||
	fail "the cursor was not the parameter: $(fake_log | jq -c 'last')"

# ---- 3. late rows: one at the cursor's own time, one later, an updated row ---------------------
row() { # id user plan updated_at_seconds
	printf '["%s","%s","%s@example.com","%s","1.00",0.5,true,"%s000000","2024-01-01","2025-01-01T00:00:00",
	  "1",[],null,null,"x"]' "$1" "$2" "$2" "$3" "$4"
}
control "{\"append\": {\"users\": [$(row 13 u13 gold $((base + 1320))), $(row 14 u14 gold $((base + 1400))),
  $(row 2 u2 platinum $((base + 1500)))]}}"
sync users || fail "third sync: $(cat "$T/err")"
grep -qx "read 3, applied 3, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "third sync summary: $(cat "$T/out")"
dump | jq -e -s 'length == 14 and (map(select(.custom_id == "u2"))[0].attributes.plan == "platinum")' >/dev/null ||
	fail "late rows and the update not applied"

# ---- 4. polling, retried faults, float TIMESTAMPs in exponent form: --full --------------------------
control '{"async_polls": 2, "float_timestamps": true, "faults": [
  {"on": "dryrun", "status": 503},
  {"on": "query", "status": 429, "retry_after": 1},
  {"on": "query", "status": 403, "reason": "rateLimitExceeded"},
  {"on": "results", "status": 503}]}'
before=$(fake_log | jq length)
sync users --full || fail "sync through faults: $(cat "$T/err")"
grep -qx "read 15, applied 0, duplicates 15, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "--full with float TIMESTAMPs should read every row as a duplicate: $(cat "$T/out")"
grep -qx "retries 3" "$T/out" || fail "three retries expected (the 503 on getQueryResults is sent again, not retried as a run): $(cat "$T/out")"
log_from "$before" >"$T/log4"
jq -e 'map(select(.dryRun)) | length == 2 and .[0].status == 503 and .[1].status == 200' "$T/log4" >/dev/null ||
	fail "a 503 on the dry run was not retried: $(jq -c 'map(select(.dryRun)) | map({status, param})' "$T/log4")"
jq -e 'map(select((.path | test("queries$")) and (.dryRun | not))) | .[0].status == 429 and .[1].status == 403 and
	.[1].requestId == .[0].requestId and .[2].requestId == .[0].requestId and
	.[1].at - .[0].at >= 1000' "$T/log4" >/dev/null ||
	fail "429 / 403 rateLimitExceeded not retried with the same requestId after Retry-After: $(jq -c 'map(select(.path | test("queries$"))) | map({dryRun, status, reason, requestId, at})' "$T/log4")"
jq -e 'map(select(.jobComplete == false)) | length >= 2' "$T/log4" >/dev/null || fail "jobComplete: false was not polled"
jq -e 'any(.status == 503 and .reason == "backendError")' "$T/log4" >/dev/null || fail "the 503 was not met"
# a 503 while the job runs: the same job is polled again, not run again (a second job, billed)
jq -e '(map(.status == 503 and .job != null) | index(true)) as $i | .[$i + 1].job == .[$i].job and
	.[$i + 1].method == "GET" and (map(select(.dryRun == false and .status == 200)) | length == 1)' \
	"$T/log4" >/dev/null || fail "a 503 on getQueryResults ran the query again: $(jq -c 'map({method, path, dryRun, status, job})' "$T/log4")"
control '{"async_polls": 0, "float_timestamps": false}'

# a 503 on a next page: that page is asked for again, the query is not run again
control '{"faults": [{"on": "results", "status": 503, "retry_after": 1}]}'
before=$(fake_log | jq length)
sync users --full || fail "sync through a 503 on a next page: $(cat "$T/err")"
grep -qx "read 15, applied 0, duplicates 15, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "a 503 on a next page: $(cat "$T/out")"
grep -q "^retries" "$T/out" && fail "a 503 on a next page was retried as a new run: $(cat "$T/out")"
log_from "$before" >"$T/log4p"
jq -e '(map(.status == 503) | index(true)) as $i | .[$i].pageToken != null and
	.[$i + 1].pageToken == .[$i].pageToken and .[$i + 1].job == .[$i].job and .[$i + 1].status == 200 and
	.[$i + 1].at - .[$i].at >= 1000 and
	(map(select(.dryRun == false)) | length == 1)' "$T/log4p" >/dev/null ||
	fail "a 503 on a next page was not asked for again after Retry-After: $(jq -c 'map({method, dryRun, status, job, pageToken, at})' "$T/log4p")"

# a Retry-After longer than one run may wait in all (5 min) on a next page: the run ends at
# once naming the wait (it held the run for up to 4 x 1 h), not sent again, not retried within
# the run; the next run starts over from the checkpoint
control '{"faults": [{"on": "results", "status": 429, "retry_after": 3600}]}'
before=$(fake_log | jq length)
timeout 60 "$HUB" -c "$T/hub.yaml" sync users --full >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "a Retry-After of an hour: exit $rc (124: it was waited for)"
grep -q "retry after 3600s: BigQuery rateLimitExceeded (HTTP 429): .*(a wait of 3600 s asked \
for; this run has waited 0 s of the 300 s it may: it ends, and the next run starts over from \
the checkpoint)" "$T/err" || fail "a Retry-After of an hour: $(cat "$T/err")"
grep -q "^retries" "$T/out" && fail "a Retry-After of an hour was retried in the run: $(cat "$T/out")"
log_from "$before" | jq -e 'map(.status == 429) | index(true) as $i | $i != null and
	length == $i + 1' >/dev/null || fail "a Retry-After of an hour: the page was asked for again: \
$(log_from "$before" | jq -c 'map({method, status, pageToken})')"
sync users --full || fail "the run after a Retry-After of an hour: $(cat "$T/err")"
grep -qx "read 15, applied 0, duplicates 15, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "the run after a Retry-After of an hour: $(cat "$T/out")"

# 403 blocked (BigQuery "temporarily denylisted" the operation) is retried: it disabled the
# source as refused credentials
control '{"faults": [{"on": "query", "status": 403, "reason": "blocked",
  "message": "The operation was temporarily blocked"}]}'
sync users --full || fail "a 403 blocked: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" && grep -q "BigQuery blocked (HTTP 403)" "$T/err" ||
	fail "a 403 blocked was not retried: $(cat "$T/out") $(cat "$T/err")"

# ---- 4c. a job given up on is cancelled, once; a job that completed never is -------------------
cancels() { curl -s "$FAKE/_state" | jq -c '.cancels'; }
# every job above completed (polled to its end, read page by page): none was cancelled
[ "$(cancels)" = "{}" ] || fail "a job that completed was cancelled: $(cancels)"
# jobs_cancelled LOG: the jobs.cancel calls in LOG, as {JOB: n} (each must be a POST
# with the job's location, answered 200)
jobs_cancelled() {
	jq -c 'map(select(.cancel)) | if all(.method == "POST" and .location == "EU" and .status == 200)
		then group_by(.job) | map({(.[0].job): length}) | add // {} else "bad: \(.)" end' "$1"
}
# a poll refused (403 accessDenied) while the job runs: the pull fails, the job is cancelled
control '{"async_polls": 100000, "faults": [{"on": "results", "status": 403, "reason": "accessDenied",
  "message": "Access Denied: Job proj-test:EU.job"}]}'
before=$(fake_log | jq length)
sync users --full; rc=$?
[ $rc -eq 1 ] || fail "a refused poll: exit $rc"
log_from "$before" >"$T/log4c"
job=$(jq -r 'map(select(.status == 403)) | .[0].job' "$T/log4c")
[ "$(jobs_cancelled "$T/log4c")" = "{\"$job\":1}" ] ||
	fail "a job whose poll was refused was not cancelled once: $(jq -c 'map({method, path, status, job, location})' "$T/log4c")"
grep -q "accessDenied (HTTP 403): Access Denied: Job" "$T/err" || fail "a refused poll: $(cat "$T/err")"
grep -q "could not cancel" "$T/err" && fail "a cancel that succeeded was reported: $(cat "$T/err")"
# polls that keep failing (503, sent again 4 times): each run's job is cancelled once, and
# the retry runs a new one
control '{"faults": [{"on": "results", "status": 503}, {"on": "results", "status": 503},
  {"on": "results", "status": 503}, {"on": "results", "status": 503}, {"on": "results", "status": 503},
  {"on": "results", "status": 503}, {"on": "results", "status": 503}, {"on": "results", "status": 503},
  {"on": "results", "status": 503}, {"on": "results", "status": 503}]}'
before=$(fake_log | jq length)
sync retry_out --full; rc=$?
[ $rc -eq 1 ] || fail "polls that keep failing: exit $rc"
log_from "$before" >"$T/log4d"
jq -e 'map(select((.path | test("queries$")) and (.dryRun | not)) | .job) | length == 2 and .[0] != .[1]' "$T/log4d" >/dev/null ||
	fail "polls that keep failing: not two runs of two jobs: $(jq -c 'map({method, path, status, job})' "$T/log4d")"
[ "$(jobs_cancelled "$T/log4d")" = "$(jq -c 'map(select((.path | test("queries$")) and (.dryRun | not)) | {(.job): 1}) | add' "$T/log4d")" ] ||
	fail "jobs whose polls kept failing were not each cancelled once: $(jq -c 'map({method, path, status, job})' "$T/log4d")"
# a cancel that fails is logged; the pull's own error stands
control '{"faults": [{"on": "results", "status": 403, "reason": "accessDenied", "message": "Access Denied: Job"},
  {"on": "cancel", "status": 500}]}'
sync users --full; rc=$?
[ $rc -eq 1 ] || fail "a failed cancel: exit $rc"
grep -q "could not cancel job job_fake[0-9]*: BigQuery backendError (HTTP 500)" "$T/err" &&
	grep -q "profilehub: sync: users: BigQuery accessDenied (HTTP 403)" "$T/err" ||
	fail "a cancel that failed: $(cat "$T/err")"
# the hub stops while the job runs: the job is cancelled, and the stop is not held up
before=$(fake_log | jq length)
"$HUB" -c "$T/hub.yaml" sync users --full >"$T/out" 2>"$T/err" &
SYNC_PID=$!
n=0
until log_from "$before" | jq -e 'any(.jobComplete == false)' >/dev/null; do
	n=$((n + 1))
	[ $n -lt 300 ] || { fail "the job was not polled: $(cat "$T/err")"; break; }
	sleep 0.1
done
pid_stop TERM "$SYNC_PID" 30; rc=$? # a bound: a stop held up fails here
[ $rc -eq 1 ] || fail "a sync stopped while its job ran: exit $rc (124: still running 30 s after SIGTERM): $(cat "$T/err")"
[ $rc -eq 124 ] && pid_signal KILL "$SYNC_PID"
log_from "$before" >"$T/log4e"
job=$(jq -r 'map(select((.path | test("queries$")) and (.dryRun | not))) | .[0].job' "$T/log4e")
[ "$(jobs_cancelled "$T/log4e")" = "{\"$job\":1}" ] ||
	fail "a job the hub stopped waiting for was not cancelled once: $(jq -c 'map({method, path, status, job})' "$T/log4e")"
# a poll answered 400 is the job's own failure: it has ended, no cancel is sent for it
control '{"faults": [{"on": "results", "status": 400, "reason": "invalidQuery",
  "message": "Division by zero: 1 / 0"}]}'
before=$(fake_log | jq length)
sync users --full; rc=$?
[ $rc -eq 1 ] || fail "a poll answered with the job's failure: exit $rc"
log_from "$before" >"$T/log4f"
grep -q "invalidQuery (HTTP 400): Division by zero" "$T/err" || fail "a failed job's poll: $(cat "$T/err")"
[ "$(jobs_cancelled "$T/log4f")" = "{}" ] ||
	fail "a job that had failed was cancelled: $(jq -c 'map({method, path, status, job})' "$T/log4f")"
# the cancel step is bounded as a whole (3 s): a 401, a slow token renewal (2.5 s; the
# process's first token is not) and a slow cancel (2.5 s) took each its own 3 s, so the
# cancel went through after 5 s; now the cancel has what is left of the 3 s and is given
# up, logged
control '{"faults": [{"on": "results", "status": 403, "reason": "accessDenied", "message": "Access Denied: Job"},
  {"on": "cancel", "status": 401}, {"on": "token", "delay_ms": 2500, "skip": 1},
  {"on": "cancel", "delay_ms": 2500}]}'
sync users --full; rc=$?
[ $rc -eq 1 ] || fail "a slow cancel: exit $rc"
grep -q "could not cancel job job_fake[0-9]*: jobs.cancel: Timeout was reached" "$T/err" &&
	grep -q "profilehub: sync: users: BigQuery accessDenied (HTTP 403)" "$T/err" ||
	fail "a cancel past its 3 s: $(cat "$T/err")"
control '{"async_polls": 0}'

# ---- 5. events: REPEATED RECORD, REPEATED TIMESTAMP, a static token -------------------------------
sync events || fail "events sync: $(cat "$T/err")"
grep -qx "read 8, applied 8, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "events summary: $(cat "$T/out") $(cat "$T/err")"
dump --events all >"$T/dump1e"
dump --events all | jq -e -s 'map(select(.custom_id == "u3"))[0] | .event_count == 3 and
	([.events[] | select(.name == "purchase")] | length == 2 and all((.properties.items | length) == 2 and
	 .properties.items[1] == {"sku": "s1", "qty": 2, "price": 9.99}))' >/dev/null ||
	fail "events of u3: $(dump --events all | jq -c -s 'map(select(.custom_id == "u3"))[0].events')"
dump --events all | jq -e -s '[.[].events[].properties.seen[0]] | all(test("^2026-01-01T00:00:0[0-9].000000Z$"))' >/dev/null ||
	fail "REPEATED TIMESTAMP: $(dump --events all | jq -c -s '[.[].events[].properties.seen]')"
# INT64 properties keep all their digits (jq would round them: read the text)
grep -q '"big":9223372036854775800[,}]' "$T/dump1e" && grep -q '"big":9223372036854775807[,}]' "$T/dump1e" ||
	fail "INT64 near 2^63 lost digits: $(grep -o '"big":[0-9]*' "$T/dump1e" | head -3)"
fake_log | jq -e 'map(select(.path | test("queries"))) | last | .token == "static"' >/dev/null ||
	fail "the static token was not used"

# ---- 6. the metadata server -----------------------------------------------------------------------
before=$(fake_log | jq length)
GCE_METADATA_HOST="127.0.0.1:$PORT" sync meta || fail "metadata sync: $(cat "$T/err")"
grep -q "^read 15," "$T/out" || fail "metadata sync summary: $(cat "$T/out")"
log_from "$before" | jq -e '.[0].path == "/computeMetadata/v1/instance/service-accounts/default/token" and .[0].status == 200' >/dev/null ||
	fail "no token from the metadata server: $(log_from "$before" | jq -c '.[0]')"

# ---- 7. failures: retries run out; invalidQuery, notFound, accessDenied, a refused key -------------
control '{"faults": [{"on": "query", "status": 500}, {"on": "query", "status": 500}]}'
sync retry_out; rc=$?
[ $rc -eq 1 ] || fail "retries exhausted: exit $rc"
grep -q "profilehub: sync: retry_out: BigQuery backendError (HTTP 500): Error encountered" "$T/err" ||
	fail "500 message: $(cat "$T/err")"
grep -qx "retries 1" "$T/out" || fail "max_retries 1: $(cat "$T/out")"

# expect SOURCE "message" : exit 1, the message, nothing retried
expect_error() {
	before=$(fake_log | jq length)
	sync "$1"; rc=$?
	[ $rc -eq 1 ] || fail "$1: exit $rc"
	grep -q "profilehub: sync: $1: $2" "$T/err" || fail "$1 message: $(cat "$T/err")"
	grep -q "^retries" "$T/out" && fail "$1 was retried: $(cat "$T/out")"
	grep -q "static-$$\|ya29\.\|BEGIN PRIVATE" "$T/err" "$T/out" && fail "$1: a secret in the output"
}
expect_error bad_query 'BigQuery invalidQuery (HTTP 400): Unrecognized name: colour at \[1:8\]'
expect_error no_table 'BigQuery notFound (HTTP 404): Not found: Table proj-test:analytics.nope was not found in location EU'
expect_error denied 'BigQuery accessDenied (HTTP 403): Access Denied: Table proj-test:analytics.secret'
# a job that failed, told in a 200 answer (errors[], no schema): its reason, not a missing schema
control '{"async_polls": 1, "faults": [{"on": "results", "status": 200, "reason": "invalidQuery",
	"message": "Query error: division by zero: 1 / 0"}]}'
expect_error retry_out \
	'BigQuery invalidQuery (the job failed): Query error: division by zero: 1 / 0'
control '{"async_polls": 0}'
expect_error wrong_key "the key file's token_uri refused the token request (HTTP 400): invalid_grant: Invalid JWT Signature."
[ "$(log_from "$before" | jq length)" -eq 1 ] || fail "a refused key was retried"

# ---- 7b. @cursor typed from the first cursor column: dry runs learn it in each new process ----------
queries_from() { log_from "$1" | jq -c 'map(select(.path | test("queries$")) | {dryRun, param, status, reason, message})'; }
# an INT64 column, neither cursor_type nor cursor_start: the STRING dry run is refused as
# BigQuery refuses it, the INT64 one accepted; the query binds the lowest INT64 (reads id -5)
before=$(fake_log | jq length)
sync accounts || fail "INT64 cursor column, first sync: $(cat "$T/err")"
grep -q '^read 4,' "$T/out" && grep -qx 'cursor \["30"\]' "$T/out" || fail "INT64 cursor column, first sync: $(cat "$T/out")"
queries_from "$before" >"$T/q7"
jq -e 'length == 3 and (.[0] | .dryRun and .param.type == "STRING" and .status == 400 and .reason == "invalidQuery" and
	(.message | startswith("No matching signature for operator >= for argument types: INT64, STRING"))) and
	(.[1] | .dryRun and .param.type == "INT64" and .status == 200) and
	(.[2] | (.dryRun | not) and .param == {"type": "INT64", "value": "-9223372036854775808"} and .status == 200)' "$T/q7" >/dev/null ||
	fail "INT64 cursor column: the dry runs and the query: $(cat "$T/q7")"
# a restart: the new process learns the type again and goes on from the saved cursor
control '{"append": {"accounts": [["40", "u4"]]}}'
before=$(fake_log | jq length)
sync accounts || fail "INT64 cursor column, second sync: $(cat "$T/err")"
grep -q '^read 1,' "$T/out" && grep -qx 'cursor \["40"\]' "$T/out" || fail "INT64 cursor column, second sync: $(cat "$T/out")"
queries_from "$before" | jq -e 'last | .param == {"type": "INT64", "value": "30"} and .status == 200' >/dev/null ||
	fail "the saved INT64 cursor: $(queries_from "$before")"
# a STRING column: the first query binds "" (the row with code "" is read); the saved cursor "7"
# looks like a number but stays a STRING in the next process
before=$(fake_log | jq length)
sync codes || fail "STRING cursor column, first sync: $(cat "$T/err")"
grep -q '^read 4,' "$T/out" && grep -qx 'cursor \["7"\]' "$T/out" || fail "STRING cursor column, first sync: $(cat "$T/out")"
sync codes || fail "STRING cursor column, second sync: $(cat "$T/err")"
grep -q '^read 0,' "$T/out" || fail "STRING cursor column, second sync: $(cat "$T/out")"
queries_from "$before" | jq -e 'map(select(.dryRun | not)) | length == 2 and
	.[0].param == {"type": "STRING", "value": ""} and .[1].param == {"type": "STRING", "value": "7"}' >/dev/null ||
	fail "the STRING cursor: $(queries_from "$before")"
# a BYTES column: rows come in byte order (00, 41, 80, fc), which their base64 does not
# follow ("gA==" then "/A=="); the saved cursor is base64, as the parameter takes it
before=$(fake_log | jq length)
sync blobs || fail "BYTES cursor column, first sync: $(cat "$T/err")"
grep -q '^read 4,' "$T/out" && grep -qx 'cursor \["/A=="\]' "$T/out" || fail "BYTES cursor column, first sync: $(cat "$T/out")"
control '{"append": {"blobs": [["fw==", "b0"], ["/w==", "b5"]]}}' # 7f: before the cursor; ff: after
sync blobs || fail "BYTES cursor column, second sync: $(cat "$T/err")"
grep -q '^read 1,' "$T/out" && grep -qx 'cursor \["/w=="\]' "$T/out" || fail "BYTES cursor column, second sync: $(cat "$T/out")"
queries_from "$before" | jq -e 'map(select(.dryRun | not)) | length == 2 and
	.[0].param == {"type": "BYTES", "value": ""} and .[1].param == {"type": "BYTES", "value": "/A=="}' >/dev/null ||
	fail "the BYTES cursor: $(queries_from "$before")"
# a FLOAT64 column with infinities: the first sync binds -Infinity (the lowest finite double
# left -inf out for good) and reads all but NaN (no `>=` selects it); the saved +inf cursor
# is bound as BigQuery spells it, "Infinity" (it was C's "inf"), and reads nothing new
before=$(fake_log | jq length)
sync floats || fail "FLOAT64 infinities, first sync: $(cat "$T/err")"
grep -q '^read 3,' "$T/out" && grep -qx 'cursor \["inf"\]' "$T/out" ||
	fail "FLOAT64 infinities, first sync: $(cat "$T/out")"
sync floats || fail "FLOAT64 infinities, second sync: $(cat "$T/err")"
grep -q '^read 0,' "$T/out" || fail "FLOAT64 infinities, second sync: $(cat "$T/out")"
queries_from "$before" | jq -e 'map(select(.dryRun | not)) | length == 2 and all(.status == 200) and
	.[0].param == {"type": "FLOAT64", "value": "-Infinity"} and
	.[1].param == {"type": "FLOAT64", "value": "Infinity"}' >/dev/null ||
	fail "the FLOAT64 cursor: $(queries_from "$before")"
# DATE, DATETIME, NUMERIC, FLOAT64 columns: a first sync from the start of the type, then a restart
for c in "signup DATE 0001-01-01" "last_login DATETIME 0001-01-01 00:00:00.000000" \
	"score NUMERIC -99999999999999999999999999999.999999999" "ratio FLOAT64 -Infinity"; do
	set -- $c
	col=$1 type=$2
	shift 2
	before=$(fake_log | jq length)
	sync "by_$col" || fail "$type cursor column, first sync: $(cat "$T/err")"
	grep -q '^read 15,' "$T/out" || fail "$type cursor column, first sync: $(cat "$T/out")"
	sync "by_$col" || fail "$type cursor column, second sync: $(cat "$T/err")"
	grep -q '^read 0,' "$T/out" || fail "$type cursor column, second sync: $(cat "$T/out")"
	queries_from "$before" | jq -e --arg t "$type" --arg first "$*" 'map(select(.dryRun | not)) | length == 2 and
		all(.param.type == $t and .status == 200) and .[0].param.value == $first' >/dev/null ||
		fail "the $type cursor: $(queries_from "$before")"
done
# times before 1970 (back to 0001-01-01, the first BigQuery holds): a first sync and --full
# bind the first TIMESTAMP, DATE and DATETIME and read them (the epoch left them out for good)
for c in "at TIMESTAMP 0001-01-01 00:00:00.000000+00:00" "day DATE 0001-01-01" \
	"wall DATETIME 0001-01-01 00:00:00.000000"; do
	set -- $c
	col=$1 type=$2
	shift 2
	before=$(fake_log | jq length)
	synced "$type before 1970, first sync" 4 4 0 "history_$col"
	synced "$type before 1970, --full" 4 0 4 "history_$col" --full
	queries_from "$before" | jq -e --arg t "$type" --arg first "$*" 'map(select(.dryRun | not)) |
		length == 2 and all(.param == {"type": $t, "value": $first} and .status == 200)' >/dev/null ||
		fail "the first $type: $(queries_from "$before")"
done
history_ids='[.[] | select(.custom_id | startswith("h")) | .custom_id] | sort'
dump | jq -e -s "$history_ids == [\"h1\", \"h2\", \"h3\", \"h4\"]" >/dev/null ||
	fail "profiles before 1970: $(dump | jq -c -s "$history_ids")"
# cursor_type overrides the column's type: no dry run; NUMERIC suits an INT64 column, TIMESTAMP
# does not (BigQuery's refusal, saying where the type came from)
before=$(fake_log | jq length)
sync accounts_numeric || fail "cursor_type NUMERIC: $(cat "$T/err")"
grep -q '^read 5,' "$T/out" || fail "cursor_type NUMERIC: $(cat "$T/out")"
queries_from "$before" | jq -e 'length == 1 and (.[0].dryRun | not) and
	.[0].param == {"type": "NUMERIC", "value": "-99999999999999999999999999999.999999999"}' >/dev/null ||
	fail "cursor_type NUMERIC was not the parameter's type: $(queries_from "$before")"
expect_error accounts_wrong 'BigQuery invalidQuery (HTTP 400): No matching signature for operator >= for argument types: INT64, TIMESTAMP.*(@cursor was sent as TIMESTAMP, as cursor_type says)'
# a cursor_start that does not read as the column's type: said before any query runs
expect_error accounts_start 'the cursor value "2020-01-01T00:00:00Z" does not read as INT64 (the type of the :cursor parameter)'
log_from "$before" | jq -e 'last | .dryRun' >/dev/null || fail "accounts_start ran a query: $(log_from "$before" | jq -c last)"

# ---- 7c. NULLs in a second cursor column: BigQuery sorts them first ascending ----------------------
jobs_query() { # SQL: the first page of rows, the second column's values
	curl -s -H "Authorization: Bearer static-$$" -H 'Content-Type: application/json' \
		-d "$(jq -n --arg q "$1" '{query: $q, useLegacySql: false}')" \
		"$FAKE/bigquery/v2/projects/proj-test/queries" | jq -c '[.rows[].f[1].v]'
}
for c in 'updated_at, id|[null,"2",null,"1"]' 'updated_at ASC, id ASC NULLS LAST|["2",null,"1",null]' \
	'updated_at DESC, id DESC|["1",null,"2",null]' 'updated_at, id DESC NULLS FIRST|[null,"2",null,"1"]'; do
	got=$(jobs_query "SELECT * FROM analytics.nulls ORDER BY ${c%%|*}")
	[ "$got" = "${c#*|}" ] || fail "the fake's ORDER BY ${c%%|*}: $got, BigQuery gives ${c#*|}"
done
# Either NULL order reads every row: the plugin learns where the query puts a column's NULLs
# from its rows (BigQuery's ASC: first; NULLS LAST: last)
sync nulls_last || fail "NULLS LAST: $(cat "$T/err")"
grep -q '^read 4,' "$T/out" && grep -qx 'cursor \["2026-01-01T00:01:00.000000000Z",null\]' "$T/out" ||
	fail "NULLS LAST: $(cat "$T/out")"
sync nulls_default || fail "NULLS FIRST (BigQuery's default): $(cat "$T/err")"
grep -q '^read 4,' "$T/out" && grep -qx 'cursor \["2026-01-01T00:01:00.000000000Z","1"\]' "$T/out" ||
	fail "NULLS FIRST: $(cat "$T/out")"
# again: the row whose NULL leaves its place against the saved cursor unknown is read again,
# a duplicate; nothing is lost or applied twice
for src in nulls_default nulls_last; do
	sync $src || fail "$src again: $(cat "$T/err")"
	grep -qx 'read 1, applied 0, duplicates 1, rejected 0, blocked 0, refused 0' "$T/out" ||
		fail "$src again: $(cat "$T/out")"
done

# ---- 8. SIGKILL mid-sync, then resume: the same profiles as a clean run ---------------------------
bulk_config() {
	printf 'store:\n  path: %s/%s.db\nplugin_dir: %s/plugins\nsources:\n' "$T" "$1" "$T"
	PAGE=500 source_yaml bulk "$BULK_Q" "$BULK_MAP" "" "" "    kind: events"
}
normalize() { jq -c '{custom_id, event_count}' | sort; }
bulk_config clean >"$T/clean.yaml"
"$HUB" -c "$T/clean.yaml" sync bulk >"$T/out" 2>"$T/err" || fail "clean bulk sync: $(cat "$T/err")"
grep -qx "read 12000, applied 12000, duplicates 0, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "clean bulk summary: $(cat "$T/out")"
"$HUB" -c "$T/clean.yaml" dump | normalize >"$T/clean.dump"
# sync_to_held_page NAME: `sync bulk` with $T/NAME.yaml in the background ($pid), mid-way:
# returns once it waits for its 10th next page (page 11), which the fake holds until released
sync_to_held_page() {
	control '{"hold_pages_after": 9}'
	"$HUB" -c "$T/$1.yaml" sync bulk >"$T/$1.out" 2>"$T/$1.err" &
	pid=$!
	n=0
	until [ "$(curl -s "$FAKE/_state" | jq .held)" -gt 0 ]; do
		n=$((n + 1))
		[ $n -lt 200 ] || { fail "$1: the bulk sync never reached the held page"; break; }
		sleep 0.05
	done
}
bulk_config killed >"$T/killed.yaml"
sync_to_held_page killed
kill -KILL $pid 2>/dev/null || fail "SIGKILL: the sync ended before the signal"
wait $pid 2>/dev/null
control '{"release": true}'
part=$(sqlite3 "$T/killed.db" "SELECT count(*) FROM events" 2>/dev/null || echo "?")
"$HUB" -c "$T/killed.yaml" sync bulk >"$T/out" 2>"$T/err" || fail "resumed sync: $(cat "$T/err")"
"$HUB" -c "$T/killed.yaml" dump | normalize >"$T/killed.dump"
cmp -s "$T/clean.dump" "$T/killed.dump" ||
	fail "after SIGKILL: profiles differ from a clean run: $(diff "$T/clean.dump" "$T/killed.dump" | head -5)"
read_n=$(sed -n 's/^read \([0-9]*\),.*/\1/p' "$T/out")
[ "${read_n:-0}" -gt 0 ] && [ "${read_n:-0}" -lt 12000 ] ||
	fail "the resumed sync should read only what the killed one had not committed: $(cat "$T/out") (committed before: $part)"

# ---- 8b. SIGTERM while a page downloads: the rows read before it commit --------------------------
# (they were dropped with the page in transit, and read again by the next run).  Pages of 500
# rows, pulls of 500: the pull waiting for page 11 has emitted rows 4501..5000.  Row 5001 is not
# read, so row 5000's tuple may go on in it: the cursor is the tuple before it (row 4999's), and
# the next run reads row 5000 again, a duplicate, and nothing else twice.
bulk_config stopped >"$T/stopped.yaml"
sync_to_held_page stopped
pid_stop TERM "$pid" 10; rc=$? # within a second of the stop, the transfer ends
[ $rc -eq 124 ] && pid_signal KILL "$pid"
control '{"release": true}'
[ $rc -eq 1 ] && grep -q "sync: bulk: stopped before catching up" "$T/stopped.err" ||
	fail "SIGTERM while a page downloads: exit $rc (124: still running 10 s after it): $(cat "$T/stopped.err")"
at_4999="$(date -u -d "@$((base + 4998 / 3))" +%Y-%m-%dT%H:%M:%S).000000000Z" # 3 rows a second
grep -qx "read 5000, applied 5000, duplicates 0, rejected 0, blocked 0, refused 0" "$T/stopped.out" &&
	grep -qx "cursor \[\"$at_4999\",\"4999\"\]" "$T/stopped.out" ||
	fail "SIGTERM while a page downloads: the rows read before it, committed up to the tuple before the last: $(cat "$T/stopped.out")"
[ "$(sqlite3 "$T/stopped.db" "SELECT value FROM meta WHERE key = 'cursor:bulk'")" = "[\"$at_4999\",\"4999\"]" ] ||
	fail "SIGTERM while a page downloads: the saved cursor: $(sqlite3 "$T/stopped.db" "SELECT value FROM meta WHERE key = 'cursor:bulk'")"
"$HUB" -c "$T/stopped.yaml" sync bulk >"$T/out" 2>"$T/err" || fail "the sync after a stop: $(cat "$T/err")"
grep -qx "read 7001, applied 7000, duplicates 1, rejected 0, blocked 0, refused 0" "$T/out" ||
	fail "the sync after a stop mid-download reads on from the saved cursor: $(cat "$T/out")"
"$HUB" -c "$T/stopped.yaml" dump | normalize >"$T/stopped.dump"
cmp -s "$T/clean.dump" "$T/stopped.dump" ||
	fail "after SIGTERM mid-download: profiles differ from a clean run: $(diff "$T/clean.dump" "$T/stopped.dump" | head -5)"

# ---- 9. check --connect refuses bad configs clearly ------------------------------------------------
check() {
	{
		printf 'store:\n  path: %s/check.db\nplugin_dir: %s/plugins\nsources:\n' "$T" "$T"
		source_yaml c "$@"
	} >"$T/check.yaml"
	"$HUB" -c "$T/check.yaml" check --connect >"$T/out" 2>"$T/err"
}
before=$(fake_log | jq length)
check || fail "check --connect on a good config: $(cat "$T/err")"
log_from "$before" | jq -e 'map(select(.dryRun)) | length == 1' >/dev/null || fail "check --connect should dry-run the query"
before=$(fake_log | jq length)
check "$ACCT_Q" "$ACCT_MAP" "acct_id" || fail "check --connect, an INT64 cursor column: $(cat "$T/err")"
log_from "$before" | jq -e 'map(select(.dryRun) | .status) == [400, 200]' >/dev/null ||
	fail "check --connect should learn the INT64 column's type: $(log_from "$before" | jq -c 'map({dryRun, param, status})')"
check "$ACCT_Q" "$ACCT_MAP" "acct_id" "" "    cursor_start: 'x'"
grep -q 'the cursor value "x" does not read as INT64' "$T/err" || fail "check --connect, a bad cursor_start: $(cat "$T/err")"
# BigQuery's own lexical rules find :cursor: a # comment with an apostrophe (read as
# Snowflake's, it opened a string to the end: "query: has no :cursor placeholder")
BQ_LEX_Q='SELECT * FROM `proj-test.analytics.users` # the users'"'"' table\nWHERE updated_at >= :cursor ORDER BY updated_at, id'
check "$BQ_LEX_Q" || fail "check --connect, a query with a # comment: $(cat "$T/err")"
"$HUB" -c "$T/check.yaml" sync c --full >"$T/out" 2>"$T/err" || fail "a query with a # comment: $(cat "$T/err")"
grep -q '^read 1[0-9],' "$T/out" || fail "a query with a # comment: $(cat "$T/out")"
check "" "{custom_id: user_id, attributes: {colour: colour}}"
grep -q 'map.attributes.colour: no column "colour" in the query.s result (columns: id, user_id' "$T/err" ||
	fail "unknown column: $(cat "$T/err")"
check "" "" "" "credentials_file: $T/missing.json"
grep -q "credentials_file: cannot read $T/missing.json: No such file or directory" "$T/err" ||
	fail "unreadable key file: $(cat "$T/err")"
check "" "" "" "access_token: x
    metadata: true"
grep -q "only one of credentials_file, access_token and metadata: true" "$T/err" || fail "two auths: $(cat "$T/err")"
check "SELECT * FROM analytics.users ORDER BY updated_at"
grep -q "query: has no :cursor placeholder" "$T/err" || fail "no :cursor: $(cat "$T/err")"

# ---- 10. the daemon: errors disable the source (GET /v1/sources) ------------------------------------
HUB_PORT=$("$PWD/$B/tests/tools/freeport")
{
	printf 'store:\n  path: %s/run.db\nplugin_dir: %s/plugins\n' "$T" "$T"
	printf 'http:\n  listen: 127.0.0.1:%s\napi:\n  tokens: ["t0ken-%s"]\nsources:\n' "$HUB_PORT" "$$"
	source_yaml users "" "" "" "" "    schedule: every 5s"
	# scheduled: each runs at the start, fails, and must stay disabled
	source_yaml bad_query 'SELECT colour FROM analytics.users WHERE updated_at >= :cursor' "" "" "" "    schedule: every 2s"
	source_yaml no_table 'SELECT * FROM analytics.nope WHERE updated_at >= :cursor' "" "" "" "    schedule: every 2s"
	source_yaml denied 'SELECT * FROM analytics.secret WHERE id >= :cursor' "{custom_id: id, attributes: {n: id}}" "id" "" "    schedule: every 2s"
} >"$T/run.yaml"
"$HUB" -c "$T/run.yaml" run >"$T/run.log" 2>&1 &
HUB_PID=$!
api() { curl -s -H "Authorization: Bearer t0ken-$$" "$@"; }
until_sources() { # JQ-CONDITION WHAT: waits at most 10 s
	n=0
	until api "http://127.0.0.1:$HUB_PORT/v1/sources" 2>/dev/null | jq -e "$1" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -lt 100 ] || { fail "$2: $(api "http://127.0.0.1:$HUB_PORT/v1/sources") $(tail -5 "$T/run.log")"; return 1; }
		sleep 0.1
	done
}
src() { printf '.sources[] | select(.name == "%s")' "$1"; }
until_sources "$(src users) | .last_run.result == \"ok\" and .last_run.read == 15" "the scheduled source did not run"
until_sources "$(src bad_query) | .state == \"disabled\" and (.last_error | test(\"invalidQuery\")) and .next_run_at == null" "invalidQuery should disable the source"
until_sources "$(src no_table) | .state == \"disabled\" and (.last_error | test(\"notFound\")) and .next_run_at == null" "notFound should disable the source"
until_sources "$(src denied) | .state == \"disabled\" and (.last_error | test(\"accessDenied\")) and .next_run_at == null" "accessDenied should disable the source"
pid_stop TERM "$HUB_PID" 30 # a bound: a hub that does not stop fails here, not the whole run
rc=$?
[ $rc -eq 0 ] || fail "the daemon did not stop cleanly (exit $rc, 124: still running 30 s after SIGTERM): $(tail -5 "$T/run.log")"
[ $rc -eq 124 ] || HUB_PID=
grep -q "ya29\.\|static-$$" "$T/run.log" && fail "a token in the daemon's log"

[ $fails -eq 0 ] && echo "bigquery: all checks passed"
[ $fails -eq 0 ]
