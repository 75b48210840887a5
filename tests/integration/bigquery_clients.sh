#!/bin/sh
# bigquery_clients.sh - the fake BigQuery (tests/integration/fake_bigquery)
# is proven faithful by Google's own clients: the `bq` command line tool
# (google-cloud-cli; jobs.insert and, with --rpc, jobs.query, each paging
# through getQueryResults) and the npm @google-cloud/bigquery client
# (apiEndpoint; its credentials from the fake's metadata server through
# Google's own auth library) read the seeded users with the same named
# TIMESTAMP parameter, and the bigquery plugin reads them through
# `profilehub sync`.  All three must come out the same, value by value,
# once each is written in one canonical form (below).
#
# bq runs with a temp HOME (no gcloud config), --oauth_access_token and
# --api pointing at the fake over plain http; its discovery document is
# the one bq ships (--discovery_file), as bq would otherwise fetch it from
# the API endpoint.  Without bq (no google-cloud-cli) its part is skipped
# with the reason; the npm client's part always runs.
#
# Needs node and npm; installs the client into
# tests/integration/bigquery_node/node_modules when missing (npm ci).
set -u
cd "$(dirname "$0")/../.."
PATH="$PWD/tests/lib/bin:$PATH" # its jq: -e fails on no input (tests/lib/bin/jq)
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
ROOT=$(pwd)
B=${HUB_BUILD:-build}
HUB="$ROOT/$B/profilehub"
NODE_DIR="$ROOT/tests/integration/bigquery_node"
DISCOVERY=/usr/lib/google-cloud-sdk/platform/bq/discovery_next/bigquery.json
T=$(mktemp -d "${TMPDIR:-/tmp}/hub_bqc.XXXXXX")
FAKE_PID=
cleanup() {
	pid_signal TERM "$FAKE_PID"
	wait 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for tool in node npm jq curl; do
	command -v $tool >/dev/null || { echo "FAIL: $tool is not installed (scripts/deps.sh)"; exit 1; }
done
[ -f "$B/plugins/bigquery.so" ] || { echo "FAIL: $B/plugins/bigquery.so is not built"; exit 1; }
if [ ! -d "$NODE_DIR/node_modules/@google-cloud/bigquery" ]; then
	echo "bigquery_clients: npm ci in tests/integration/bigquery_node"
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 ||
		{ echo "FAIL: npm ci: $(tail -5 "$T/npm.log")"; exit 1; }
fi

# ---- the fake, seeded ---------------------------------------------------------------------
TOKEN="ya29.clients-$$"
sh tests/integration/fake_bigquery/seed.sh "$T/data.json"
node tests/integration/fake_bigquery/server.js --port-file "$T/port" --static-token "$TOKEN" \
	--client-email hub@proj-test.iam.gserviceaccount.com --data "$T/data.json" --page-rows 5 \
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
fake_log() { curl -s "$FAKE/_log"; }

CURSOR=2026-01-01T00:02:00Z # users 2..12 (and the ties after it)
QUERY='SELECT * FROM `proj-test.analytics.users` WHERE updated_at >= @cursor ORDER BY updated_at, id'

# The canonical form of a user row, from any reader: text where a client has
# no exact type (INT64, NUMERIC), times as UTC to the second (bq's JSON
# shows seconds), DATETIME to the millisecond, JSON parsed, RECORD floats as
# numbers (bq writes them as strings).
CANON='def num: if type == "string" then tonumber else . end;
  def secs: if . == null then null else .[0:19] | sub(" "; "T") + "Z" end;
  {user_id, email, plan, score: (.score | num | tostring), ratio: (.ratio | num),
   vip: (.vip == true or .vip == "true"), updated: (.updated | secs),
   signup: .signup[0:10], last_login: .last_login[0:23], big: (.big | tostring),
   tags, address: (.address | if type == "string" then fromjson else . end |
     if . == null then null else .geo |= map_values(num) end),
   prefs: (.prefs | if type == "string" then fromjson else . end), name}'
canon() { jq -c -S "$CANON" | sort; }

# ---- 1. the plugin, through profilehub sync ---------------------------------------------------
mkdir -p "$T/plugins"
ln -s "$ROOT/$B/plugins/bigquery.so" "$T/plugins/bigquery.so"
cat >"$T/hub.yaml" <<EOF
store:
  path: $T/hub.db
plugin_dir: $T/plugins
sources:
  - name: users
    plugin: bigquery
    endpoint: $FAKE
    project: proj-test
    location: EU
    access_token: "$TOKEN"
    query: "$(printf '%s' "$QUERY" | sed 's/@cursor/:cursor/')"
    cursor: [updated_at, id]
    cursor_start: "$CURSOR"
    page_size: 4
    map: {custom_id: user_id, attributes: {\$email_address: email, plan: plan, score: score,
      ratio: ratio, vip: vip, date(updated): updated_at, date(signup): signup,
      date(last_login): last_login, string(big): big, tags: tags, string(address): address,
      string(prefs): prefs, name: name}}
EOF
"$HUB" -c "$T/hub.yaml" sync users >"$T/sync.out" 2>"$T/sync.err" || fail "sync: $(cat "$T/sync.err")"
"$HUB" -c "$T/hub.yaml" dump | jq -c '.attributes + {user_id: .custom_id, email: .attributes["$email_address"],
	plan: .attributes.plan}' | canon >"$T/plugin.rows"
[ "$(wc -l <"$T/plugin.rows")" -eq 11 ] || fail "the plugin read $(wc -l <"$T/plugin.rows") users, 11 expected: $(cat "$T/sync.out")"

# ---- 2. Google's Node.js client ------------------------------------------------------------------
before=$(fake_log | jq length)
(cd "$NODE_DIR" && GCE_METADATA_HOST="127.0.0.1:$PORT" METADATA_SERVER_DETECTION=assume-present \
	node read.js "$FAKE" proj-test EU "$QUERY" TIMESTAMP "$CURSOR") >"$T/node.raw" 2>"$T/node.err" ||
	fail "the Node client: $(cat "$T/node.err")"
jq -c '. + {updated: .updated_at}' "$T/node.raw" | canon >"$T/node.rows"
fake_log | jq --argjson from "$before" '.[$from:]' >"$T/node.log"
jq -e '.[0].path | test("^/computeMetadata/v1/instance/service-accounts/.*/token")' "$T/node.log" >/dev/null ||
	fail "the Node client did not take its token from the fake's metadata server: $(jq -c '.[0]' "$T/node.log")"
jq -e 'map(select(.path | startswith("/bigquery"))) | (.[0].path | test("queries$")) and
	(.[0].param == {"type": "TIMESTAMP", "value": "2026-01-01T00:02:00.000Z"}) and
	(map(select(.pageToken != null)) | length >= 2) and all(.status == 200 and .token == "issued")' "$T/node.log" >/dev/null ||
	fail "the Node client's requests: $(jq -c 'map({method, path, status, token, pageToken, param})' "$T/node.log")"
grep -q '"updated_at":"2026-01-01T00:20:00.123456' "$T/node.raw" ||
	fail "the Node client did not read user 10's microseconds: $(grep u10 "$T/node.raw")"
"$HUB" -c "$T/hub.yaml" dump | grep -q '"updated":"2026-01-01T00:20:00.123Z"' ||
	fail "the plugin did not read user 10's milliseconds"
if cmp -s "$T/plugin.rows" "$T/node.rows"; then
	echo "bigquery_clients: the Node client (@google-cloud/bigquery $(jq -r .version "$NODE_DIR/node_modules/@google-cloud/bigquery/package.json")) read the plugin's $(wc -l <"$T/node.rows") rows"
else
	fail "the Node client and the plugin read different rows: $(diff "$T/node.rows" "$T/plugin.rows" | head -6)"
fi

# no rows: the fake leaves `rows` out of the answer, as BigQuery does; the client reads none
(cd "$NODE_DIR" && GCE_METADATA_HOST="127.0.0.1:$PORT" METADATA_SERVER_DETECTION=assume-present \
	node read.js "$FAKE" proj-test EU "$QUERY" TIMESTAMP 2099-01-01T00:00:00Z) >"$T/node0.raw" \
	2>"$T/node0.err" || fail "the Node client, no rows: $(cat "$T/node0.err")"
[ -s "$T/node0.raw" ] && fail "the Node client read rows after 2099: $(head -2 "$T/node0.raw")"

# ---- 3. the bq command line tool -----------------------------------------------------------------
if ! command -v bq >/dev/null 2>&1; then
	echo "SKIP: bq: not installed (Debian package google-cloud-cli); the Node client's part ran"
elif [ ! -f "$DISCOVERY" ]; then
	echo "SKIP: bq: $DISCOVERY missing: bq would fetch its discovery document from the endpoint"
else
	mkdir -p "$T/home"
	bq_query() { # MODE-FLAGS...: bq query with the named parameter, JSON out, pages of 4
		HOME="$T/home" CLOUDSDK_CONFIG="$T/home/gcloud" bq --api="$FAKE" --discovery_file="$DISCOVERY" \
			--oauth_access_token="$TOKEN" --project_id=proj-test --location=EU \
			--max_rows_per_request=4 query "$@" --nouse_legacy_sql --format=json -n 1000 \
			--parameter="cursor:TIMESTAMP:$CURSOR" "$QUERY"
	}
	before=$(fake_log | jq length)
	bq_query >"$T/bq.raw" 2>"$T/bq.err" || fail "bq query: $(tail -5 "$T/bq.err") $(head -c 600 "$T/bq.raw")"
	jq -c '.[] | . + {updated: .updated_at}' "$T/bq.raw" 2>/dev/null | canon >"$T/bq.rows"
	bq_query --rpc >"$T/bq_rpc.raw" 2>"$T/bq_rpc.err" || fail "bq query --rpc: $(tail -5 "$T/bq_rpc.err")"
	jq -c '.[] | . + {updated: .updated_at}' "$T/bq_rpc.raw" 2>/dev/null | canon >"$T/bq_rpc.rows"
	fake_log | jq --argjson from "$before" '.[$from:]' >"$T/bq.log"
	jq -e '(map(.path | sub("/bigquery/v2/projects/proj-test/"; "") | sub("/.*"; "")) | index("jobs") != null and
		index("queries") != null) and (map(select(.pageToken != null)) | length >= 4) and
		all(.status == 200 and .token == "static") and
		(map(select(.param != null)) | all(.param == {"type": "TIMESTAMP", "value": "2026-01-01T00:02:00Z"}))' "$T/bq.log" >/dev/null ||
		fail "bq's requests: $(jq -c 'map({method, path, status, pageToken, param})' "$T/bq.log")"
	if cmp -s "$T/plugin.rows" "$T/bq.rows" && cmp -s "$T/bq.rows" "$T/bq_rpc.rows"; then
		echo "bigquery_clients: bq ($(HOME="$T/home" bq version 2>/dev/null | tail -1)) read the plugin's $(wc -l <"$T/bq.rows") rows, through jobs.insert and jobs.query (--rpc)"
	else
		fail "bq and the plugin read different rows: $(diff "$T/bq.rows" "$T/plugin.rows" | head -6) $(diff "$T/bq.rows" "$T/bq_rpc.rows" | head -4)"
	fi
fi

[ $fails -eq 0 ] && echo "bigquery_clients: all checks passed"
[ $fails -eq 0 ]
