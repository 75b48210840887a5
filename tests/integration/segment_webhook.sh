#!/bin/sh
# segment_webhook.sh - the segment source's /webhook as Segment's servers
# call it, through a real `profilehub run` (temp dir, free port, a source
# "web" with a webhook secret), with curl and openssl only (no npm):
#
#   - the Webhooks (Actions) "Send" action sends with the method its
#     mapping chooses, POST (the default), PUT or PATCH: a signed event
#     with each is stored (a 405 would be dropped by Segment, never
#     retried: the events lost), a wrong signature refused with each;
#   - a method Segment never sends (GET) is 405, its Allow naming the three;
#   - the same messageId through the tracking API (/v1/batch) and the
#     webhook is one record: the second is skipped as a duplicate.
#
# Then the hub is stopped and `profilehub dump --events all` must show
# exactly those events.  Synchronization is by answers (a 2xx means
# committed), never by sleeps.
#
# Usage: HUB_BUILD=build sh tests/integration/segment_webhook.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir segment_webhook
hub_need curl jq openssl
hub_need_built segment

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
SEGMENT_WRITE_KEY="wk_test_$$_$PORT"
SEGMENT_WEBHOOK_SECRET="whsec_test_$$_$PORT"
export SEGMENT_WRITE_KEY SEGMENT_WEBHOOK_SECRET
cat >"$T/hub.yaml" <<EOF
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
    webhook_secret: "\${SEGMENT_WEBHOOK_SECRET}"
EOF
hub_start "$T/hub.yaml" "$T/hub.log"

# sign TEXT: the hex HMAC-SHA1 of TEXT with the webhook secret
sign() {
	printf '%s' "$1" | openssl dgst -sha1 -hmac "$SEGMENT_WEBHOOK_SECRET" | sed 's/^.*= *//'
}
# send METHOD BODY SIGNATURE: prints the HTTP status; the answer in $T/resp,
# its headers in $T/headers
send() {
	curl -s -o "$T/resp" -D "$T/headers" -w '%{http_code}' -X "$1" \
		-H 'Content-Type: application/json' -H "X-Signature: $3" --data-binary "$2" \
		"$BASE/in/web/webhook"
}

# ---- every method of Webhooks (Actions) "Send" ------------------------------

for method in POST PUT PATCH; do
	event=$(jq -cn --arg m "$method" '{type: "track", event: "Sent with \($m)",
		userId: "wh-\($m)", messageId: "wh-\($m)-1", timestamp: "2026-02-01T10:00:00.000Z"}')
	status=$(send "$method" "$event" "$(sign "$event")")
	[ "$status" = 200 ] || fail "$method signed event: $status $(cat "$T/resp")"
	forged=$(jq -cn --arg m "$method" \
		'{type: "track", event: "Forged", userId: "wh-bad-\($m)", messageId: "wh-bad-\($m)"}')
	status=$(send "$method" "$forged" "$(sign "$event")")
	[ "$status" = 401 ] || fail "$method with a wrong signature: $status, 401 expected"
	jq -e '.error.code == "unauthorized"' "$T/resp" >/dev/null ||
		fail "$method with a wrong signature: $(cat "$T/resp")"
done

status=$(curl -s -o "$T/resp" -D "$T/headers" -w '%{http_code}' "$BASE/in/web/webhook")
[ "$status" = 405 ] || fail "GET /webhook: $status, 405 expected"
tr -d '\r' <"$T/headers" | grep -qi '^Allow: POST, PUT, PATCH, OPTIONS$' ||
	fail "GET /webhook: Allow should name POST, PUT, PATCH: $(grep -i '^Allow' "$T/headers")"

# ---- one messageId through both routes: one record -------------------------

both='{"type":"track","event":"Both Routes","userId":"wh-both","messageId":"both-1",'
both=$both'"timestamp":"2026-02-01T11:00:00.000Z"'
api="{\"batch\":[$both}]}"
status=$(curl -s -o "$T/resp" -w '%{http_code}' -u "$SEGMENT_WRITE_KEY:" --data-binary "$api" \
	"$BASE/in/web/v1/batch")
[ "$status" = 200 ] || fail "tracking API event: $status $(cat "$T/resp")"
again="$both,\"receivedAt\":\"2026-02-01T11:00:01.000Z\"}"
status=$(send PUT "$again" "$(sign "$again")")
[ "$status" = 200 ] || fail "the same event through the webhook: $status $(cat "$T/resp")"

# ---- stop, then read the profiles -------------------------------------------

hub_stop TERM
"$HUB" -c "$T/hub.yaml" dump --events all >"$T/dump.jsonl" 2>"$T/dump.err" ||
	die "dump failed: $(cat "$T/dump.err")"

# check WHAT JQ_FILTER: the filter gets the dump as one array
check() {
	jq -e -s "$2" "$T/dump.jsonl" >/dev/null 2>&1 || fail "$1"
}

check "4 profiles expected, got $(jq -s length "$T/dump.jsonl")" 'length == 4'
for method in POST PUT PATCH; do
	check "wh-$method: its one event, sent with $method" "
		[.[] | select(.custom_id == \"wh-$method\")] | length == 1 and
		.[0].event_count == 1 and .[0].events[0].name == \"Sent with $method\" and
		.[0].events[0].message_id == \"wh-$method-1\""
done
check "nothing of a refused webhook is stored" \
	'[.[] | .identifiers.custom_id[]? | select(startswith("wh-bad"))] == []'
check "one messageId through both routes is one event" '
	.[] | select(.custom_id == "wh-both") | .event_count == 1 and
	.events[0].message_id == "both-1"'

finish segment_webhook
echo "segment_webhook: POST, PUT and PATCH signed webhooks stored, forgeries refused, one" \
	"messageId through both routes stored once"
