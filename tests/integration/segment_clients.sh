#!/bin/sh
# segment_clients.sh - the segment source against real clients: a real
# `profilehub run` (temp dir, temp config with a segment source "web", a
# free port) takes the six Segment calls from three npm libraries --
# @segment/analytics-node, the legacy analytics-node and
# @rudderstack/rudder-sdk-node (gzip) --, an identify shaped as RudderStack's
# browser SDK posts it (traits in context.traits only), and signed webhook
# bodies sent with curl (classic, whole-body signed array; bad and missing signatures
# refused; an array signed over its first element only -- Segment Actions
# batch mode -- refused by default, a spliced one included, and accepted by
# a second source "batch" that sets webhook_batch_signature).
# Then the hub is stopped and `profilehub dump --events all` must show
# exactly the profiles those calls make (custom_ids, installations,
# attributes, event names and counts).
#
# Synchronization is by answers, never by sleeps: the clients' callbacks
# and flush promises resolve after the hub's HTTP response, and a 2xx means
# committed.  The only polling: bounded waits for /healthz and for the stop.
#
# Needs node and npm (scripts/deps.sh installs nodejs); installs the npm
# clients into tests/integration/node/node_modules when missing.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
NODE_DIR="$ROOT/tests/integration/node"

hub_tmpdir segment
hub_need node npm curl jq openssl
hub_need_built segment

# ---- the npm clients (node_modules is not committed) ----------------------

if [ ! -d "$NODE_DIR/node_modules/@segment/analytics-node" ] ||
	[ ! -d "$NODE_DIR/node_modules/analytics-node" ] ||
	[ ! -d "$NODE_DIR/node_modules/@rudderstack/rudder-sdk-node" ]; then
	echo "segment_clients: npm ci in tests/integration/node"
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) ||
		{ cat "$T/npm.log"; die "npm ci failed"; }
fi

# ---- a hub of our own -------------------------------------------------------

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
# Secrets reach the config through the environment, as in production.
SEGMENT_WRITE_KEY="wk_test_$$_$PORT"
SEGMENT_WEBHOOK_SECRET="whsec_test_$$_$PORT"
export SEGMENT_WRITE_KEY SEGMENT_WEBHOOK_SECRET
cat >"$T/hub.yaml" <<EOF
log_level: debug
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}", "another-key"]
    webhook_secret: "\${SEGMENT_WEBHOOK_SECRET}"
  - name: batch
    plugin: segment
    webhook_secret: "\${SEGMENT_WEBHOOK_SECRET}"
    webhook_batch_signature: true
  - name: nohook
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
EOF

hub_start "$T/hub.yaml" "$T/hub.log"

# ---- the npm clients --------------------------------------------------------

for script in segment_next:seg segment_legacy:legacy rudder:rudder; do
	js=${script%%:*}
	prefix=${script#*:}
	(cd "$NODE_DIR" && node "$js.js" "$BASE" "$prefix") >"$T/$js.out" 2>&1 ||
		fail "$js: $(cat "$T/$js.out")"
	grep -q "^$prefix: 6 calls delivered" "$T/$js.out" || fail "$js: $(cat "$T/$js.out")"
done
(cd "$NODE_DIR" && node segment_next.js "$BASE" seg-badkey --bad-key) >"$T/badkey.out" 2>&1 ||
	fail "a wrong write key: $(cat "$T/badkey.out")"

# ---- RudderStack's browser SDK: its identify as it posts it (traits in
# context.traits only, its anonymousId among them), sent with curl --------

rsjs='{"type":"identify","userId":"rsjs-user-1","anonymousId":"rsjs-anon-1","channel":"web","context":{"library":{"name":"RudderLabs JavaScript SDK","version":"3.31.4"},"os":{"name":"","version":""},"locale":"fr-FR","traits":{"anonymousId":"rsjs-anon-1","email":"rsjs@example.com","firstName":"Ann","plan":"gold"}},"messageId":"rsjs-1","originalTimestamp":"2026-02-01T10:00:00.000Z","sentAt":"2026-02-01T10:00:01.000Z","integrations":{"All":true}}'
status=$(curl -s -o "$T/resp" -w '%{http_code}' -u "$SEGMENT_WRITE_KEY:" \
	-H 'Content-Type: application/json' --data-binary "$rsjs" "$BASE/in/web/v1/identify")
[ "$status" = 200 ] || fail "RudderStack browser identify: $status $(cat "$T/resp")"

# ---- webhooks (Segment's servers), signed with curl + openssl --------------

# sign TEXT: the hex HMAC-SHA1 of TEXT with the webhook secret
sign() {
	printf '%s' "$1" | openssl dgst -sha1 -hmac "$SEGMENT_WEBHOOK_SECRET" | sed 's/^.*= *//'
}
# post BODY [SIGNATURE [SOURCE]]: prints the HTTP status (SOURCE: web)
post_webhook() {
	if [ $# -ge 2 ]; then
		curl -s -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
			-H "X-Signature: $2" --data-binary "$1" "$BASE/in/${3:-web}/webhook"
	else
		curl -s -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
			--data-binary "$1" "$BASE/in/web/webhook"
	fi
}

classic='{"type":"track","event":"Webhook Order","userId":"wh-user-1","messageId":"wh-1","timestamp":"2026-02-01T10:00:00.000Z","properties":{"total":7}}'
status=$(post_webhook "$classic" "$(sign "$classic")")
[ "$status" = 200 ] || fail "signed webhook: $status $(cat "$T/resp")"

bad='{"type":"track","event":"Forged","userId":"wh-bad-1","messageId":"wh-bad-1"}'
status=$(post_webhook "$bad" "$(sign "$classic")")
[ "$status" = 401 ] || fail "wrong signature: $status, 401 expected"
jq -e '.error.code == "unauthorized"' "$T/resp" >/dev/null || fail "wrong signature body: $(cat "$T/resp")"
status=$(post_webhook "$bad")
[ "$status" = 401 ] || fail "missing signature: $status, 401 expected"

# An array signed as a whole: accepted by default
whole='[{"type":"identify","userId":"wh-user-3","traits":{"plan":"silver"},"messageId":"wh-4"},{"type":"track","event":"Webhook Whole Array","userId":"wh-user-3","messageId":"wh-5"}]'
status=$(post_webhook "$whole" "$(sign "$whole")")
[ "$status" = 200 ] || fail "whole-body signed webhook array: $status $(cat "$T/resp")"

# A signed event spliced in front of forged ones, with the event's signature:
# refused by default (the signature covers only the first element), and
# the answer says which option would accept it, without the signature.
victim='{"type":"identify","userId":"wh-bad-victim","traits":{"email":"attacker@evil.com"},"messageId":"wh-bad-3"}'
status=$(post_webhook "[$classic,$victim]" "$(sign "$classic")")
[ "$status" = 401 ] || fail "spliced webhook array: $status, 401 expected"
jq -e '.error.code == "unauthorized" and (.error.message | contains("webhook_batch_signature: true on source web"))' \
	"$T/resp" >/dev/null || fail "spliced webhook array body: $(cat "$T/resp")"
grep -q "$(sign "$classic")" "$T/resp" && fail "the signature is echoed in the answer"

# Actions batch mode: an array signed over its first element's JSON only.
# Refused by "web" (the default), accepted by "batch" (webhook_batch_signature)
first='{"type":"identify","userId":"wh-user-2","traits":{"email":"wh2@example.com"},"messageId":"wh-2"}'
second='{"type":"track","event":"Webhook Batch Event","userId":"wh-user-2","messageId":"wh-3"}'
status=$(post_webhook "[$first,$second]" "$(sign "$first")")
[ "$status" = 401 ] || fail "first-element signed array without the option: $status, 401 expected"
status=$(post_webhook "[$first,$second]" "$(sign "$first")" batch)
[ "$status" = 200 ] || fail "first-element signed array with the option: $status $(cat "$T/resp")"
status=$(post_webhook "[$bad,$second]" "$(sign "$first")" batch)
[ "$status" = 401 ] || fail "array with a forged first element: $status, 401 expected"

# A bad event in a signed array: 400 naming it, nothing of the array stored
third='{"type":"track","event":"Never Stored","userId":"wh-bad-2","messageId":"wh-bad-2"}'
status=$(post_webhook "[$third,{\"type\":\"purchase\",\"userId\":\"wh-bad-2\"}]" "$(sign "$third")" batch)
[ "$status" = 400 ] || fail "bad event in a webhook array: $status, 400 expected"
jq -e '.error.index == 1' "$T/resp" >/dev/null || fail "bad event index: $(cat "$T/resp")"

# ---- what the answers and the log name ---------------------------------------

# post_api PATH BODY: a tracking API call with the write key; prints the status
post_api() {
	curl -s -o "$T/resp" -w '%{http_code}' -u "$SEGMENT_WRITE_KEY:" \
		-H 'Content-Type: application/json' --data-binary "$2" "$BASE/in/web$1"
}

# A type in another case than the Spec's is refused naming it and the six
status=$(post_api /v1/batch '{"batch":[{"type":"Track","event":"e","userId":"case-bad-1"}]}')
[ "$status" = 400 ] || fail "type \"Track\": $status, 400 expected"
jq -e '.error.code == "unknown_type" and .error.index == 0 and
	(.error.message | contains("\"Track\" (write \"track\")") and
		contains("identify, track, page, screen, group, alias"))' "$T/resp" >/dev/null ||
	fail "type \"Track\" answer: $(cat "$T/resp")"

# A push token beside an empty anonymousId: stored without push, the
# answer's warning naming the fields as sent
empty_anon='{"type":"identify","userId":"emptyanon-1","anonymousId":"","messageId":"ea-1","context":{"device":{"token":"tok-1"}}}'
status=$(post_api /v1/identify "$empty_anon")
[ "$status" = 200 ] || fail "identify with an empty anonymousId: $status $(cat "$T/resp")"
jq -e '(.warnings | length == 1) and
	(.warnings[0].message | startswith("context.device.token: ") and contains("anonymousId")) and
	([.warnings[].message | select(contains("push_enabled") or contains("installation_id"))]
		== [])' "$T/resp" >/dev/null || fail "empty anonymousId warning: $(cat "$T/resp")"

# The webhook of a source without webhook_secret is off whatever the method,
# and the log names the method it came with
for m in PUT PATCH; do
	status=$(curl -s -o "$T/resp" -w '%{http_code}' -X "$m" -H 'X-Signature: 00' \
		-H 'Content-Type: application/json' --data-binary "$classic" "$BASE/in/nohook/webhook")
	[ "$status" = 404 ] || fail "$m to an off webhook: $status, 404 expected"
done

# ---- stop, then read the profiles -------------------------------------------

hub_stop TERM
grep -q "$SEGMENT_WRITE_KEY\|$SEGMENT_WEBHOOK_SECRET\|$(sign "$first")" "$T/hub.log" &&
	fail "a secret or a signature reached the hub's log"
grep -q "signature of its first element only" "$T/hub.log" ||
	fail "no debug line for the array accepted on a first-element signature"
grep -q 'PUT /webhook is off (no webhook_secret set): 1 request ' "$T/hub.log" ||
	fail "no log line naming the PUT to the off webhook"
grep -q 'PATCH /webhook is off (no webhook_secret set): 2 requests ' "$T/hub.log" ||
	fail "no log line naming the PATCH to the off webhook"
grep -q 'POST /webhook is off' "$T/hub.log" && fail "a PUT or PATCH logged as POST /webhook"

"$HUB" -c "$T/hub.yaml" dump --events all >"$T/dump.jsonl" 2>"$T/dump.err" ||
	die "dump failed: $(cat "$T/dump.err")"

# check WHAT JQ_FILTER: the filter gets the dump as one array ($d)
check() {
	jq -e -s "$2" "$T/dump.jsonl" >/dev/null 2>&1 || fail "$1"
}

check "11 profiles expected, got $(jq -s length "$T/dump.jsonl")" 'length == 11'
check "emptyanon-1: no installation, so no push" '
	.[] | select(.custom_id == "emptyanon-1") | (.installations // []) == []'
check "nothing of a refused request is stored" \
	'[.[] | .identifiers.custom_id[]? | select(startswith("wh-bad") or startswith("seg-badkey"))] == []'
check "no spliced attribute is stored" \
	'[.[] | select(.attributes."$email_address" == "attacker@evil.com")] == []'

for p in seg legacy rudder; do
	check "$p-user-1: identifiers and installation" "
		[.[] | select(.custom_id == \"$p-user-1\")] | length == 1 and
		(.[0].identifiers.installation_id == [\"$p-anon-1\"]) and
		(.[0].installations | length == 1 and .[0].platform == \"server\")"
	check "$p-user-1: attributes" "
		.[] | select(.custom_id == \"$p-user-1\") | .attributes |
		.\"\$email_address\" == \"$p.one@example.com\" and .\"\$first_name\" == \"Ann\" and
		.\"\$last_name\" == \"Lee\" and .plan == \"gold\" and .logins == 3 and
		.\"\$language\" == \"fr\" and .\"\$region\" == \"FR\" and .\"\$timezone\" == \"Europe/Paris\""
	check "$p-user-1: three events: track, \$screen, \$group" "
		.[] | select(.custom_id == \"$p-user-1\") |
		.event_count == 3 and ([.events[].name] | sort) == [\"\$group\", \"\$screen\", \"Order Completed\"] and
		(.events[] | select(.name == \"Order Completed\") | .properties.total == 42 and .source == \"web\") and
		(.events[] | select(.name == \"\$screen\") | .properties.name == \"Home\") and
		(.events[] | select(.name == \"\$group\") | .properties.group_id == \"$p-acme\" and
			.properties.traits.name == \"Acme Inc\")"
	check "$p-user-2: the aliased installation with its \$page" "
		.[] | select(.custom_id == \"$p-user-2\") |
		.identifiers.installation_id == [\"$p-anon-2\"] and .event_count == 1 and
		.events[0].name == \"\$page\" and .events[0].properties.name == \"Pricing\" and
		.events[0].properties.path == \"/pricing\""
done

check "RudderStack browser identify: context.traits as attributes, a web installation" '
	.[] | select(.custom_id == "rsjs-user-1") |
	.attributes == {"$email_address": "rsjs@example.com", "$first_name": "Ann", "plan": "gold",
		"$language": "fr", "$region": "FR"} and
	.installations == [.installations[0]] and .installations[0].installation_id == "rsjs-anon-1" and
	.installations[0].platform == "web"'
check "webhook: wh-user-1 with its event" '
	.[] | select(.custom_id == "wh-user-1") |
	.event_count == 1 and .events[0].name == "Webhook Order" and .events[0].message_id == "wh-1"'
check "webhook array (batch source): wh-user-2 with email and event" '
	.[] | select(.custom_id == "wh-user-2") |
	.attributes."$email_address" == "wh2@example.com" and .event_count == 1 and
	.events[0].name == "Webhook Batch Event" and .events[0].source == "batch"'
check "whole-body signed webhook array: wh-user-3 with plan and event" '
	.[] | select(.custom_id == "wh-user-3") |
	.attributes.plan == "silver" and .event_count == 1 and
	.events[0].name == "Webhook Whole Array"'
check "wh-user-1 has only its own event (nothing spliced after it)" '
	[.[] | select(.custom_id == "wh-user-1")] | length == 1'

if [ "$fails" -ne 0 ]; then
	echo "segment_clients: $fails failures; the dump:"
	jq -c '{custom_id, identifiers, attributes, event_count, events: [.events[].name]}' "$T/dump.jsonl"
	exit 1
fi
echo "segment_clients: 3 npm clients x 6 calls, 4 signed webhooks, refusals, warnings and" \
	"log lines: profiles as expected"
