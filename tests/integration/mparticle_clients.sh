#!/bin/sh
# mparticle_clients.sh - the mparticle source against real clients: a real
# `profilehub run` (temp dir, temp config with an mparticle source "mp",
# identity.external.mpid, a free port) takes batches from the real
# `mparticle` npm SDK (uploadEvents and bulkUploadEvents: custom events,
# screen views, a purchase, sessions, user attributes, identities, consent,
# an anonymous device that then logs in; a wrong secret and no credentials
# refused), an mpid of 2^63-1 and mParticle webhook bodies sent with curl,
# a development batch (acknowledged, not stored), a backfill through
# /v2/bulkevents/historical (kept at its own times; one without them refused)
# and bad requests that must store nothing.  Then the hub is stopped and
# `profilehub dump --events all` must show exactly the profiles those calls
# make, with each mpid's digits exactly as sent.
#
# Synchronization is by answers, never by sleeps: the SDK's callbacks run
# after the hub's HTTP response, and a 2xx means committed.  The only
# polling: bounded waits for /healthz and for the stop.
#
# Needs node and npm (scripts/deps.sh installs nodejs); installs the SDK
# into tests/integration/node_mparticle/node_modules when missing.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
NODE_DIR="$ROOT/tests/integration/node_mparticle"

hub_tmpdir mparticle
hub_need node npm curl jq
hub_need_built mparticle

# ---- the npm SDK (node_modules is not committed) ---------------------------

hub_npm_ci "$NODE_DIR" mparticle

# ---- a hub of our own -------------------------------------------------------

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
IN="$BASE/in/mp"
# Secrets reach the config through the environment, as in production.
MPARTICLE_API_KEY="mpkey_$$_$PORT"
MPARTICLE_API_SECRET="mpsecret_$$_$PORT"
MPARTICLE_WEBHOOK_AUTH="Bearer mpwebhook_$$_$PORT"
export MPARTICLE_API_KEY MPARTICLE_API_SECRET MPARTICLE_WEBHOOK_AUTH
cat >"$T/hub.yaml" <<EOF
log_level: info
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
identity:
  external:
    mpid: {limit: 1, priority: 1}
sources:
  - name: mp
    plugin: mparticle
    api_key: "\${MPARTICLE_API_KEY}"
    api_secret: "\${MPARTICLE_API_SECRET}"
    webhook_authorization: "\${MPARTICLE_WEBHOOK_AUTH}"
    environments: [Production]
    gdpr_purposes:
      email_marketing: email_marketing
      Newsletter: [email_marketing, sms_marketing]
EOF

hub_start "$T/hub.yaml" "$T/hub.log"

# ---- the mParticle Node SDK ---------------------------------------------------

(cd "$NODE_DIR" && node mparticle_sdk.js "$IN/v2" sdk) >"$T/sdk.out" 2>&1 ||
	fail "mparticle SDK: $(cat "$T/sdk.out")"
grep -q "^sdk: 5 batches delivered, refusals as expected" "$T/sdk.out" ||
	fail "mparticle SDK: $(cat "$T/sdk.out")"

# ---- curl: an mpid no double holds, webhooks, refusals ---------------------

# post PATH BODY [AUTHORIZATION]: prints the HTTP status; the answer in $T/resp
post() {
	if [ $# -ge 3 ]; then
		curl -s -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
			-H "Authorization: $3" --data-binary "$2" "$IN$1"
	else
		curl -s -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
			--data-binary "$2" "$IN$1"
	fi
}
BASIC="Basic $(printf '%s:%s' "$MPARTICLE_API_KEY" "$MPARTICLE_API_SECRET" | base64 | tr -d '\n')"
NOW_MS=$(($(date +%s) * 1000))

big='{"mpid": 9223372036854775807, "user_identities": {"customer_id": "curl-user-1"},
 "events": [{"event_type": "custom_event", "data": {"event_name": "Big Mpid",
 "timestamp_unixtime_ms": '"$NOW_MS"', "source_message_id": "curl-m1"}}]}'
status=$(post /v2/events "$big" "$BASIC")
[ "$status" = 202 ] || fail "mpid 2^63-1: $status $(cat "$T/resp")"

# mParticle's webhook output: identities as an array, message_id per event
hook='{"user_identities": [{"identity_type": "customer_id", "identity": "wh-user-1"},
 {"identity_type": "email", "identity": "wh1@example.com"}],
 "mpid": -7636538281262557001,
 "device_info": {"platform": "Android", "android_uuid": "wh-uuid-1"},
 "events": [{"event_type": "custom_event", "message_id": "wh-1",
 "data": {"event_name": "Webhook Event", "timestamp_unixtime_ms": '"$NOW_MS"'}},
 {"event_type": "opt_out", "message_id": "wh-2",
 "data": {"is_opted_out": true, "timestamp_unixtime_ms": '"$NOW_MS"'}}]}'
status=$(post /webhook "$hook" "$MPARTICLE_WEBHOOK_AUTH")
[ "$status" = 202 ] || fail "webhook: $status $(cat "$T/resp")"
forged='{"user_identities": {"customer_id": "curl-bad-1"}}'
status=$(post /webhook "$forged" "Bearer wrong")
[ "$status" = 403 ] || fail "webhook, wrong Authorization: $status, 403 expected"
jq -e '.errors[0].code == "forbidden"' "$T/resp" >/dev/null || fail "403 body: $(cat "$T/resp")"
status=$(post /webhook "$forged")
[ "$status" = 401 ] || fail "webhook, no Authorization: $status, 401 expected"
status=$(post /v2/events "$forged" "Basic $(printf 'nope:nope' | base64)")
[ "$status" = 403 ] || fail "Events API, wrong key: $status, 403 expected"

# development data stays out of the production profiles: acknowledged (202, so
# mParticle does not retry), said in the answer and the log, not stored
envbulk='[{"environment": "development", "user_identities": {"customer_id": "curl-dev-1"},
  "events": [{"event_type": "custom_event", "data": {"event_name": "Dev Test"}}]},
 {"environment": "production", "user_identities": {"customer_id": "curl-prod-1"},
  "events": [{"event_type": "custom_event", "data": {"event_name": "Prod Event",
  "timestamp_unixtime_ms": '"$NOW_MS"'}}]}]'
status=$(post /v2/bulkevents "$envbulk" "$BASIC")
[ "$status" = 202 ] || fail "a development batch beside a production one: $status $(cat "$T/resp")"
jq -e '.not_stored.batches == 1 and (.not_stored.reason | contains("development"))' \
	"$T/resp" >/dev/null || fail "development batch: answer $(cat "$T/resp")"
# counted by the hub as skipped (ABI 1.12 skip()), with the plugin's reason
grep -q "skipped: a development batch not stored: the source's environments are" \
	"$T/hub.log" || fail "development batch: not in the log"
grep -q "(1 item(s) skipped so far)" "$T/hub.log" ||
	fail "development batch: the log does not count it"
curl -s "$BASE/metrics" | grep -q '^records_skipped_total{source="mp"} 1$' ||
	fail "development batch: records_skipped_total{source=\"mp\"} is not 1"

# a backfill through /v2/bulkevents/historical keeps the times it sends: its
# events are dated 2015 in the dump, and its attributes of 2015 lose to today's
# (last write wins by time: stored at the upload's time, they would win)
today='{"user_identities": {"customer_id": "curl-hist-1"}, "timestamp_unixtime_ms": '"$NOW_MS"',
 "user_attributes": {"plan": "gold"}}'
status=$(post /v2/events "$today" "$BASIC")
[ "$status" = 202 ] || fail "today's attributes of curl-hist-1: $status $(cat "$T/resp")"
hist='[{"user_identities": {"customer_id": "curl-hist-1"}, "user_attributes": {"plan": "bronze"},
  "events": [{"event_type": "custom_event", "data": {"event_name": "Old Purchase",
  "timestamp_unixtime_ms": 1425168000000, "source_message_id": "curl-h1"}}]},
 {"user_identities": {"customer_id": "curl-hist-1"}, "timestamp_unixtime_ms": 1451606400000,
  "user_attributes": {"tier": "early"}}]'
status=$(post /v2/bulkevents/historical "$hist" "$BASIC")
[ "$status" = 202 ] && [ "$(cat "$T/resp")" = "{}" ] ||
	fail "a historical backfill: $status $(cat "$T/resp")"
status=$(post /v2/bulkevents/historical "$hist" "Basic $(printf 'nope:nope' | base64)")
[ "$status" = 403 ] || fail "historical, wrong key: $status, 403 expected"
# an event without its time would be stored at the upload's: 400 naming it, nothing stored
undated='[{"user_identities": {"customer_id": "curl-bad-8"}, "timestamp_unixtime_ms": 1425168000000,
  "events": [{"event_type": "custom_event", "data": {"event_name": "Undated"}}]}]'
status=$(post /v2/bulkevents/historical "$undated" "$BASIC")
[ "$status" = 400 ] || fail "a historical event without its time: $status, 400 expected"
jq -e '.errors[0].code == "missing_field" and .errors[0].index == 0 and
	.errors[0].event_index == 0 and (.errors[0].message |
	startswith("batches[0].events[0].data.timestamp_unixtime_ms: required on"))' \
	"$T/resp" >/dev/null || fail "a historical event without its time: $(cat "$T/resp")"

# GDPR purposes: gdpr_purposes maps any of them (without case); one it does not
# map is logged once per name, however often it comes, never dropped silently
consent='{"user_identities": {"customer_id": "curl-consent-1"}, "consent_state": {"gdpr": {
 "newsletter": {"consented": false, "timestamp_unixtime_ms": '"$NOW_MS"'},
 "analytics": {"consented": true}}}}'
for i in 1 2; do
	status=$(post /v2/events "$consent" "$BASIC")
	[ "$status" = 202 ] || fail "GDPR purposes, request $i: $status $(cat "$T/resp")"
done
[ "$(grep -c 'consent_state.gdpr."analytics": no subscription channel' "$T/hub.log")" = 1 ] ||
	fail "an unmapped GDPR purpose is not logged once: $(grep analytics "$T/hub.log")"

# two batches of one request with one source_request_id: no resend, a client's
# mistake that lost the second batch behind a 202; now a 400 naming both
twice='[{"source_request_id": "curl-r1", "user_identities": {"customer_id": "curl-bad-6"}},
 {"source_request_id": "curl-r1", "user_identities": {"customer_id": "curl-bad-7"}}]'
status=$(post /v2/bulkevents "$twice" "$BASIC")
[ "$status" = 400 ] || fail "one source_request_id on two batches: $status, 400 expected"
jq -e '.errors[0].code == "invalid_batch" and .errors[0].index == 1 and
	(.errors[0].message | startswith("batches[1].source_request_id: the same as batches[0]"))' \
	"$T/resp" >/dev/null || fail "one source_request_id on two batches: $(cat "$T/resp")"

# a bad event in batch 1 of a bulk: 400 naming it, nothing of the request stored
badbulk='[{"user_identities": {"customer_id": "curl-bad-2"}, "events": []},
 {"user_identities": {"customer_id": "curl-bad-3"},
  "events": [{"event_type": "custom_event", "data": {"event_name": "ok"}},
             {"event_type": "custom_event", "data": {}}]}]'
status=$(post /v2/bulkevents "$badbulk" "$BASIC")
[ "$status" = 400 ] || fail "bad bulk: $status, 400 expected"
jq -e '.errors[0].index == 1 and .errors[0].event_index == 1 and
	(.errors[0].message | contains("batches[1].events[1].data.event_name"))' "$T/resp" \
	>/dev/null || fail "bad bulk body: $(cat "$T/resp")"
status=$(post /v2/events '{"mpid": 1.5, "user_identities": {"customer_id": "curl-bad-4"}}' "$BASIC")
[ "$status" = 400 ] || fail "an mpid that is a double: $status, 400 expected"

# over 256 KB: 413, whoever answers it (the plugin, or the server's max_body)
awk 'BEGIN { printf "{\"user_identities\": {\"customer_id\": \"curl-bad-5\"}, \"x\": \"";
	for (i = 0; i < 270000; i++) printf "x"; printf "\"}" }' >"$T/large.json"
status=$(curl -s -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
	-H "Authorization: $BASIC" --data-binary @"$T/large.json" "$IN/v2/events")
[ "$status" = 413 ] || fail "a body over 256 KB: $status, 413 expected"
jq -e '.errors[0].code == "body_too_large"' "$T/resp" >/dev/null ||
	fail "413 body: $(cat "$T/resp")"

# the hub's own refusals on mParticle's routes are in mParticle's shape too
# (hub_plugin.error_body): past http.max_body, a method the route does not
# take, an unknown encoding, a body that does not inflate; elsewhere the
# hub's own shape
awk 'BEGIN { for (i = 0; i < 1100000; i++) printf "x" }' >"$T/huge.json"
refused() { # EXPECTED_STATUS EXPECTED_CODE WHAT, after a curl into $T/resp
	[ "$status" = "$1" ] || fail "$3: $status, $1 expected"
	jq -e --arg c "$2" '.errors[0].code == $c and (.errors[0].message | length > 0)' \
		"$T/resp" >/dev/null || fail "$3: body $(cat "$T/resp")"
}
status=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: $BASIC" \
	--data-binary @"$T/huge.json" "$IN/v2/events")
refused 413 body_too_large "a body past http.max_body"
status=$(curl -s -o "$T/resp" -w '%{http_code}' -X PUT -H "Authorization: $BASIC" \
	--data-binary '{}' "$IN/v2/events")
refused 405 method_not_allowed "PUT /v2/events"
status=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: $BASIC" \
	-H 'Content-Encoding: br' --data-binary '{}' "$IN/v2/events")
refused 415 unsupported_encoding "Content-Encoding: br"
status=$(curl -s -o "$T/resp" -w '%{http_code}' -H "Authorization: $BASIC" \
	-H 'Content-Encoding: gzip' --data-binary '{"not": "gzip"}' "$IN/v2/events")
refused 400 invalid_gzip "a gzip body that does not inflate"
status=$(curl -s -o "$T/resp" -w '%{http_code}' --data-binary '{}' "$BASE/in/nosuch/v2/events")
[ "$status" = 404 ] && jq -e '.error.code == "not_found"' "$T/resp" >/dev/null ||
	fail "an unknown source: $status $(cat "$T/resp")"

# ---- stop, then read the profiles -------------------------------------------

hub_stop TERM
grep -q "$MPARTICLE_API_SECRET\|mpwebhook_" "$T/hub.log" && fail "a secret reached the hub's log"

"$HUB" -c "$T/hub.yaml" dump --events all >"$T/dump.jsonl" 2>"$T/dump.err" ||
	die "dump failed: $(cat "$T/dump.err")"

# check WHAT JQ_FILTER: the filter gets the dump as one array
check() {
	jq -e -s "$2" "$T/dump.jsonl" >/dev/null 2>&1 || fail "$1"
}

check "8 profiles expected, got $(jq -s length "$T/dump.jsonl")" 'length == 8'
check "curl-consent-1: the purpose Newsletter sets both channels" '
	.[] | select(.custom_id == "curl-consent-1") |
	.subscriptions.email_marketing == "unsubscribed" and
	.subscriptions.sms_marketing == "unsubscribed"'
check "nothing of a refused request is stored" \
	'[.[] | .identifiers.custom_id[]? | select(test("bad"))] == []'
check "a development batch is not stored, the production one beside it is" '
	([.[] | select(.custom_id == "curl-dev-1")] == []) and
	(.[] | select(.custom_id == "curl-prod-1") | .events[0].name == "Prod Event")'

check "sdk-user-1: identifiers, the mpid's digits exactly, the iOS installation" '
	.[] | select(.custom_id == "sdk-user-1") |
	.identifiers.mpid == ["-8433569109474474420"] and
	.identifiers.installation_id == ["sdk-idfv-1"] and
	(.identifiers | has("other_id_2") | not) and
	(.installations | length == 1 and .[0].platform == "ios" and .[0].push_enabled == true)'
check "sdk-user-1: attributes" '
	.[] | select(.custom_id == "sdk-user-1") | .attributes |
	."$first_name" == "Ann" and ."$last_name" == "Lee" and .favorite_color == "blue" and
	.plan == "gold" and .age == 34 and ."$language" == "fr" and ."$region" == "FR" and
	."$email_address" == "sdk.one@example.com" and .ccpa_data_sale_opt_out == true'
check "sdk-user-1: consent" '
	.[] | select(.custom_id == "sdk-user-1") | .subscriptions.email_marketing == "subscribed"'
check "sdk-user-1: a custom event, a screen view, a purchase" '
	.[] | select(.custom_id == "sdk-user-1") |
	.event_count == 3 and ([.events[].name] | sort) == ["$commerce", "$screen", "Order Completed"] and
	(.events[] | select(.name == "Order Completed") | .message_id == "sdk-m1" and
		.properties.total == 42 and .source == "mp") and
	(.events[] | select(.name == "$screen") | .properties.name == "Home" and .properties.tab == "feed") and
	(.events[] | select(.name == "$commerce") | .properties.action == "purchase" and
		.properties.transaction_id == "T-1" and .properties.total_amount == 57.5 and
		.properties.currency_code == "EUR" and (.properties.products | length) == 2)'

check "login: sdk-user-2 holds the anonymous device and its history" '
	[.[] | select(.identifiers.installation_id[]? == "sdk-dev-2")] | length == 1 and
	.[0].custom_id == "sdk-user-2" and .[0].event_count == 3 and
	([.[0].events[].name] | sort) == ["$screen", "Browsed", "Signed In"] and
	.[0].attributes.plan == "silver"'
check "bulk: sdk-user-3 session" '
	.[] | select(.custom_id == "sdk-user-3") |
	.identifiers.installation_id == ["sdk-uuid-3"] and .installations[0].platform == "android" and
	([.events[].name] | sort) == ["$session_end", "$session_start", "Played"] and
	(.events[] | select(.name == "$session_end") | .properties.session_duration_ms == 60000) and
	.attributes.opted_out == true'

check "curl-hist-1: the backfill at its own times, under today's attributes" '
	.[] | select(.custom_id == "curl-hist-1") |
	.event_count == 1 and .events[0].name == "Old Purchase" and
	.events[0].timestamp == "2015-03-01T00:00:00.000Z" and .events[0].message_id == "curl-h1" and
	.attributes.plan == "gold" and .attributes.tier == "early"'
check "curl-user-1: mpid 2^63-1 exactly" '
	.[] | select(.custom_id == "curl-user-1") |
	.identifiers.mpid == ["9223372036854775807"] and .events[0].message_id == "curl-m1"'
check "webhook: wh-user-1" '
	.[] | select(.custom_id == "wh-user-1") |
	.identifiers.mpid == ["-7636538281262557001"] and
	.identifiers.installation_id == ["wh-uuid-1"] and
	.attributes."$email_address" == "wh1@example.com" and .attributes.opted_out == true and
	.event_count == 1 and .events[0].name == "Webhook Event" and .events[0].message_id == "wh-1"'

if [ "$fails" -ne 0 ]; then
	echo "mparticle_clients: $fails failures; the dump:"
	jq -c '{custom_id, identifiers, attributes, subscriptions, installations, event_count,
		events: [.events[] | {name, message_id}]}' "$T/dump.jsonl"
	exit 1
fi
echo "mparticle_clients: the mParticle Node SDK (events, bulk, login, refusals), int64 mpids, webhooks: profiles as expected"
