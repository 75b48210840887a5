#!/bin/sh
# api_routes.sh - the management API (API.md) end to end: a real
# `profilehub run` (temp dir, SQLite store, free port, a segment source
# "web" that the data arrives through, as in production), then every route:
#
#   GET  /v1/profiles?custom_id=|installation_id=|email=|phone=|profile_id=|q=
#   GET  /v1/profiles/<id>/events?before=&limit=     GET /v1/profiles/<id>/history?after=&limit=
#   POST /v1/privacy/requests    GET /v1/privacy/requests/<id>
#   GET  /v1/sources   POST /v1/sources/<name>/sync   GET /v1/exports
#   POST /v1/exports/<name>/backfill   POST /v1/exports/<name>/dead_letters/retry
#   POST /v1/exports/<name>/enable (of an export off in the configuration)
#   GET  /, /app.js, /style.css
#
# with their success shapes, 401 without a token and 403 with a wrong one
# on every /v1 route, bad parameters (no lookup key, two, limit 0/201/x, bad
# cursors, unknown profiles, wrong methods with Allow, invalid JSON,
# unknown privacy type, missing identifier), HEAD on the GET routes, an old merged profile ID
# resolving to its survivor (and a login that is a rename, not a merge),
# cursor paging across pages (every event once, newest first, stable while
# new events arrive; the identity history oldest first, every row once),
# opaque profile IDs, CORS off, the page's security
# headers, the access document, and erase: gone everywhere and its
# identifiers blocked for what arrives after.
#
# Synchronization is by answers: a 2xx from the segment source means the
# records are committed, so the API sees them on the next request.  The
# only polling: bounded waits for /healthz, for the stop and for the end of
# a sync asked of the pull source "crm" (the API queues it: 202).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir api
n_checks=0
hub_need curl jq gzip
hub_need_built segment jsonl

# ---- a hub of our own -------------------------------------------------------

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
API_ROUTES_TOKEN="tok-api-$$-$PORT-secret"
SEGMENT_WRITE_KEY="wk-api-$$-$PORT"
export API_ROUTES_TOKEN SEGMENT_WRITE_KEY
TOKEN=$API_ROUTES_TOKEN
cat >"$T/hub.yaml" <<EOF
log_level: info
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
api:
  tokens: ["\${API_ROUTES_TOKEN}", "a-second-token-$$"]
privacy:
  erase_block_days: 30
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
  - name: off_pull
    plugin: example
    path: $T/off_pull.jsonl
    enabled: false
  - name: crm
    plugin: example
    path: $T/crm.jsonl
exports:
  - name: feed
    plugin: jsonl
    path: $T/feed.jsonl
  - name: off_feed
    plugin: jsonl
    path: $T/off_feed.jsonl
    enabled: false
EOF

printf '%s\n' '{"user_id": "crm-1", "traits": {"plan": "pro"}, "id": "crm-m1"}' >"$T/crm.jsonl"
hub_start "$T/hub.yaml" "$T/hub.log"

# ---- helpers ------------------------------------------------------------------

# req METHOD PATH [BODY [AUTH]]: sends one request; the status goes to $code,
# the body to $T/body, the headers to $T/headers.  AUTH is the whole
# Authorization value ("Bearer <token>" by default; "-" sends none).
req() {
	r_method=$1
	r_path=$2
	r_body=${3:-}
	r_auth=${4:-Bearer $TOKEN}
	set -- -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$r_method"
	[ "$r_auth" != "-" ] && set -- "$@" -H "Authorization: $r_auth"
	[ -n "$r_body" ] && set -- "$@" -H 'Content-Type: application/json' --data-binary "$r_body"
	code=$(curl "$@" "$BASE$r_path") || code="curl-failed"
}

# expect WHAT STATUS [ERROR_CODE]: the last answer's status, and for an error
# the API.md shape {"error": {"code": ERROR_CODE, "message": "..."}}.
expect() {
	n_checks=$((n_checks + 1))
	if [ "$code" != "$2" ]; then
		fail "$1: HTTP $code, $2 expected: $(head -c 300 "$T/body")"
		return 1
	fi
	if [ -n "${3:-}" ] &&
		! jq -e --arg c "$3" '.error.code == $c and (.error.message | type == "string" and length > 0)' \
			"$T/body" >/dev/null 2>&1; then
		fail "$1: error body $(head -c 300 "$T/body"), code \"$3\" expected"
		return 1
	fi
	return 0
}

# body_is WHAT FILTER [jq args...]: the filter holds on the last body.
body_is() {
	b_what=$1
	b_filter=$2
	shift 2
	n_checks=$((n_checks + 1))
	jq -e "$@" "$b_filter" "$T/body" >/dev/null 2>&1 ||
		fail "$b_what: $(head -c 400 "$T/body")"
}

# header_is WHAT NAME REGEX: a header of the last answer matches (grep -E).
header_is() {
	n_checks=$((n_checks + 1))
	tr -d '\r' <"$T/headers" | grep -qiE "^$2: $3" ||
		fail "$1: no \"$2: $3\" in: $(tr -d '\r' <"$T/headers" | tr '\n' '|')"
}

# header_absent WHAT NAME
header_absent() {
	n_checks=$((n_checks + 1))
	if tr -d '\r' <"$T/headers" | grep -qi "^$2:"; then
		fail "$1: unexpected $(tr -d '\r' <"$T/headers" | grep -i "^$2:")"
	fi
}

# seg PATH BODY: one call to the segment source "web"; must be stored (200).
seg() {
	s_code=$(curl -s -o "$T/seg" -w '%{http_code}' -u "$SEGMENT_WRITE_KEY:" \
		-H 'Content-Type: application/json' --data-binary "$2" "$BASE/in/web/v1/$1")
	[ "$s_code" = 200 ] || die "segment $1: HTTP $s_code $(cat "$T/seg")"
}

# pid_of QUERY: the profile_id of the one profile GET /v1/profiles?QUERY finds.
pid_of() {
	req GET "/v1/profiles?$1"
	jq -er 'if (.profiles | length) == 1 then .profiles[0].profile_id else error("not one") end' \
		"$T/body" 2>/dev/null || echo "none"
}

# ---- data, through the segment source ---------------------------------------

# A login that is a rename: an anonymous session gets the custom_id.
seg track '{"anonymousId":"anon-r","event":"First Visit","messageId":"r-1","timestamp":"2026-01-02T10:00:00.000Z"}'
P_R0=$(pid_of "installation_id=anon-r")
seg identify '{"userId":"user-r","anonymousId":"anon-r","messageId":"r-2","timestamp":"2026-01-02T10:01:00.000Z"}'

# A login that is a merge: ann-1 exists (on dev-2), dev-1 browses anonymously,
# then logs in as ann-1: dev-1's profile merges into ann-1's.
seg identify '{"userId":"ann-1","anonymousId":"dev-2","messageId":"a-1","timestamp":"2026-01-02T11:00:00.000Z",
	"traits":{"email":"ann@example.com","phone":"+33612345678","plan":"gold","logins":3},
	"context":{"locale":"fr-FR","timezone":"Europe/Paris"}}'
P_ANN=$(pid_of "custom_id=ann-1")
seg track '{"anonymousId":"dev-1","event":"Viewed Pricing","properties":{"plan":"pro"},"messageId":"a-2","timestamp":"2026-01-02T11:05:00.000Z"}'
P_ANON=$(pid_of "installation_id=dev-1")
seg identify '{"userId":"ann-1","anonymousId":"dev-1","messageId":"a-3","timestamp":"2026-01-02T11:06:00.000Z"}'

# Two people sharing one email: a search lists both.
seg identify '{"userId":"sam-1","traits":{"email":"family@example.com"},"messageId":"s-1"}'
seg identify '{"userId":"sam-2","traits":{"email":"family@example.com"},"messageId":"s-2"}'

# 125 events for paging: three share each timestamp (ties by message_id).
seg identify '{"userId":"pager","messageId":"pg-0","timestamp":"2026-01-01T00:00:00.000Z"}'
awk 'BEGIN {
	printf "{\"batch\":["
	for (i = 1; i <= 125; i++)
		printf "%s{\"type\":\"track\",\"userId\":\"pager\",\"event\":\"Step %d\",\"messageId\":\"pg-%03d\",\"timestamp\":\"2026-01-01T00:%02d:%02d.000Z\",\"properties\":{\"i\":%d}}",
			(i > 1 ? "," : ""), i, i, int(i / 3) / 60, int(i / 3) % 60, i
	printf "]}"
}' >"$T/batch.json"
seg batch "$(cat "$T/batch.json")"
P_PAGER=$(pid_of "custom_id=pager")

case " $P_R0 $P_ANN $P_ANON $P_PAGER " in *" none "*)
	die "setup: a profile was not found: $P_R0 $P_ANN $P_ANON $P_PAGER" ;;
esac

# ---- auth: every /v1 route ----------------------------------------------------

BASIC=$(printf '%s:' "$TOKEN" | base64 | tr -d '\n')
for route in "GET /v1/profiles?custom_id=ann-1" "GET /v1/profiles/$P_ANN/events" \
	"GET /v1/profiles/$P_ANN/history" "POST /v1/privacy/requests" \
	"GET /v1/privacy/requests/pr_0000000000000000" "GET /v1/sources" \
	"POST /v1/sources/web/sync" "GET /v1/exports" "POST /v1/exports/feed/backfill" \
	"POST /v1/exports/feed/dead_letters/retry" "GET /v1/no-such-route" \
	"DELETE /v1/profiles"; do
	m=${route%% *}
	p=${route#* }
	body=""
	[ "$m" = POST ] && body='{"type":"erase","custom_id":"ann-1"}'
	req "$m" "$p" "$body" -
	expect "$route without a token" 401 unauthorized
	body_is "$route without a token: no data" '(tostring | test("ann") | not)'
	req "$m" "$p" "$body" "Bearer wrong-token"
	expect "$route with a wrong token" 403 forbidden
	req "$m" "$p" "$body" "Basic $BASIC"
	expect "$route with Basic instead of Bearer" 401 unauthorized
done
req GET "/v1/sources" "" "Bearer "
expect "an empty bearer token" 401 unauthorized
req GET "/v1/sources" "" "Bearer $(printf '%s' "$TOKEN" | cut -c1-10)"
expect "a prefix of the token" 403 forbidden
req GET "/v1/sources" "" "Bearer ${TOKEN}x"
expect "the token and one more character" 403 forbidden
req GET "/v1/sources" "" "bearer $TOKEN"
expect "the scheme is case-insensitive" 200
req GET "/v1/sources" "" "Bearer   $TOKEN"
expect "spaces after the scheme, as on /metrics" 200
req GET "/v1/sources" "" "Bearer a-second-token-$$"
expect "the second token of api.tokens" 200
# the refused erase above changed nothing
[ "$(pid_of custom_id=ann-1)" = "$P_ANN" ] || fail "a refused erase erased"
n_checks=$((n_checks + 1))
curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz" | grep -q 200 || fail "/healthz needs no token"

# ---- lookups ---------------------------------------------------------------------

req GET "/v1/profiles?custom_id=ann-1"
expect "by custom_id" 200 &&
	body_is "by custom_id: the profile document" '
	.matched_by == ["custom_id"] and (.profiles | length == 1) and (.profiles[0] |
	.profile_id == $p and .custom_id == "ann-1" and .anonymous == false and
	(.created_at | test("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$")) and
	.last_visit == "2026-01-02T11:05:00.000Z" and
	.attributes."$email_address" == "ann@example.com" and .attributes.plan == "gold" and
	.attributes.logins == 3 and .attributes."$language" == "fr" and
	.attributes."$timezone" == "Europe/Paris" and
	(.subscriptions | has("email_marketing") and has("sms_marketing") and
		has("email_transactional") and has("sms_transactional") and (.push | type == "array")) and
	([.installations[].installation_id] == ["dev-1", "dev-2"]) and
	(.installations[0] | has("platform") and has("last_seen") and has("push_enabled")) and
	.identifiers == {"custom_id": ["ann-1"], "installation_id": ["dev-1", "dev-2"]} and
	.merged_from == [$old] and .event_count == 1 and
	.events[0].name == "Viewed Pricing" and .events[0].properties.plan == "pro" and
	.events[0].source == "web" and .events[0].message_id == "a-2" and
	.attribute_meta.plan.type == "string" and .attribute_meta.logins.type == "number" and
	(.attribute_meta.plan.updated_at | type == "string"))' --arg p "$P_ANN" --arg old "$P_ANON"
header_is "JSON answers are not cached" Cache-Control no-store
header_is "JSON answers have their type" Content-Type application/json

for q in "installation_id=dev-1:installation_id" "installation_id=dev-2:installation_id" \
	"email=ann@example.com:email" "phone=%2B33612345678:phone" "profile_id=$P_ANN:profile_id" \
	"q=ann@example.com:email" "q=%2B33612345678:phone" "q=ann-1:custom_id" \
	"q=dev-1:installation_id" "q=$P_ANN:profile_id" "q=+33612345678:phone"; do
	req GET "/v1/profiles?${q%:*}"
	expect "lookup ${q%:*}" 200 &&
		body_is "lookup ${q%:*} finds ann-1, matched by ${q##*:}" \
			'.matched_by == [$by] and [.profiles[].profile_id] == [$p]' --arg by "${q##*:}" --arg p "$P_ANN"
done

# the absorbed profile ID resolves to its survivor, on every route
req GET "/v1/profiles?profile_id=$P_ANON"
expect "an old merged profile ID" 200 &&
	body_is "an old merged profile ID finds the survivor" \
		'.matched_by == ["profile_id"] and [.profiles[].profile_id] == [$p]' --arg p "$P_ANN"
req GET "/v1/profiles?q=$P_ANON"
body_is "q= with an old merged profile ID" '[.profiles[].profile_id] == [$p]' --arg p "$P_ANN"
req GET "/v1/profiles/$P_ANON/events"
expect "events of an old merged profile ID" 200 &&
	body_is "events of an old merged ID: the survivor's" \
		'.profile_id == $p and [.events[].message_id] == ["a-2"] and .next == null' --arg p "$P_ANN"
req GET "/v1/profiles/$P_ANON/history"
expect "history of an old merged profile ID" 200 &&
	body_is "history: create, attach, merge of the anonymous profile" '
	.profile_id == $p and
	(.identity_log | map(.action) | index("create") != null and index("merge") != null) and
	(.identity_log[] | select(.action == "merge") | .other_profile_id == $old and
		(.at | type == "string") and (.reason | type == "string"))' --arg p "$P_ANN" --arg old "$P_ANON"

# a login on an anonymous session with no existing user is a rename
req GET "/v1/profiles?custom_id=user-r"
body_is "an anonymous session logging in keeps its profile ID (rename)" \
	'[.profiles[] | .profile_id] == [$p] and .profiles[0].anonymous == false and
	 .profiles[0].merged_from == [] and .profiles[0].event_count == 1' --arg p "$P_R0"

# several matches are listed
req GET "/v1/profiles?email=family@example.com"
body_is "two profiles share an email: both listed" \
	'.matched_by == ["email"] and ([.profiles[].custom_id] | sort) == ["sam-1", "sam-2"] and
	 .truncated == false'
# past 50 matches: the first 50, and the answer says there are more
awk 'BEGIN {
	printf "{\"batch\":["
	for (i = 1; i <= 51; i++)
		printf "%s{\"type\":\"identify\",\"userId\":\"crowd-%d\",\"traits\":{\"email\":\"crowd@example.com\"},\"messageId\":\"cr-%d\"}",
			(i > 1 ? "," : ""), i, i
	printf "]}"
}' >"$T/crowd.json"
seg batch "$(cat "$T/crowd.json")"
req GET "/v1/profiles?email=crowd@example.com"
expect "51 profiles share an email" 200 &&
	body_is "51 share an email: 50 listed, truncated" '(.profiles | length) == 50 and .truncated == true'
# the next page, from the first's next: the 51st, each profile once, then no next
first=$(jq -c '[.profiles[].profile_id]' "$T/body")
next=$(jq -r '.next' "$T/body")
req GET "/v1/profiles?email=crowd@example.com&after=$next"
expect "51 share an email: the page after next" 200 &&
	body_is "the page after next: the 51st, none of the first 50, no next" '
	(.profiles | length) == 1 and .next == null and .truncated == false and
	.matched_by == ["email"] and ([.profiles[].profile_id] - $first | length) == 1 and
	(.profiles[0].profile_id > $first[-1])' --argjson first "$first"
req GET "/v1/profiles?email=crowd@example.com&after=0.nope"
expect "a lookup's malformed cursor" 400 &&
	body_is "a malformed after names it" '.error.code == "invalid_cursor" and
	(.error.message | startswith("after"))'

# nothing found is not an error
for q in "custom_id=nobody" "email=nobody@example.com" "profile_id=p_aaaaaaaaaaaaaaaa" "q=nobody"; do
	req GET "/v1/profiles?$q"
	expect "$q" 200 && body_is "$q: an empty list" \
		'. == {"matched_by": [], "profiles": [], "truncated": false, "next": null}'
done

# ---- an alias the identity rules refuse ------------------------------------------

# alias-a and alias-b are two known profiles: an alias never merges them
# (IDENTITY.md).  Segment's API accepts it (200), and so does the hub, with
# the same bare answer as an alias it applies: a write key is public in a
# browser, and a warning would tell anyone holding it that previousId is a
# known customer's.  The refusal is logged and counted in records_refused_total.
refused_before=$(curl -s "$BASE/metrics" | sed -n 's/^records_refused_total //p')
# (and a push source's records_skipped_total is there from the start)
n_checks=$((n_checks + 1))
curl -s "$BASE/metrics" | grep -q '^records_skipped_total{source="web"} 0$' ||
	fail "records_skipped_total{source=\"web\"} is not shown before a skip"
seg identify '{"userId": "alias-a", "messageId": "al-a"}'
seg identify '{"userId": "alias-b", "messageId": "al-b"}'
alias_t0=$(date +%s)
seg alias '{"previousId": "alias-a", "userId": "alias-b", "messageId": "al-ab"}'
n_checks=$((n_checks + 1))
jq -e '. == {"success": true}' "$T/seg" >/dev/null ||
	fail "a refused alias: answer $(cat "$T/seg"), not the bare success of any alias"
n_checks=$((n_checks + 1))
[ "$(curl -s "$BASE/metrics" | sed -n 's/^records_refused_total //p')" = $((refused_before + 1)) ] ||
	fail "a refused alias: records_refused_total not $((refused_before + 1))"
n_checks=$((n_checks + 1))
grep -q "info \[unify\] alias al-ab (web): refused: previous_id is the custom_id of another" \
	"$T/hub.log" || fail "a refused alias: not logged with its reason"
[ "$(pid_of custom_id=alias-a)" != "$(pid_of custom_id=alias-b)" ] || fail "a refused alias merged"
# A client can send refused aliases by the thousand: the log says why for
# the first, then once every 10 s at most with the count so far (20 more
# in one batch: one line, or one more per 10 s the test took).
items=$(seq 1 20 | sed 's/.*/{"type": "alias", "previousId": "alias-a", "userId": "alias-b", "messageId": "al-ab&"}/' |
	paste -sd, -)
seg batch "{\"batch\": [$items]}"
n_checks=$((n_checks + 1))
[ "$(curl -s "$BASE/metrics" | sed -n 's/^records_refused_total //p')" = $((refused_before + 21)) ] ||
	fail "20 refused aliases more: records_refused_total not $((refused_before + 21))"
n_checks=$((n_checks + 1))
n_lines=$(grep -c "\[unify\] alias al-ab[0-9]* (web): refused: " "$T/hub.log")
most=$((2 + ($(date +%s) - alias_t0) / 10))
[ "$n_lines" -le "$most" ] ||
	fail "21 refused aliases: $n_lines log lines, not one per 10 s ($most at most)"
grep -q "alias al-ab (web): refused: .*; 1 alias refused so far, a line every 10 s at most" \
	"$T/hub.log" || fail "a refused alias: its line does not count the refusals so far"

# ---- profile IDs are opaque -----------------------------------------------------

ids="$P_R0 $P_ANN $P_ANON $P_PAGER"
for q in custom_id=sam-1 custom_id=sam-2; do ids="$ids $(pid_of "$q")"; done
n_checks=$((n_checks + 1))
for id in $ids; do
	printf '%s\n' "$id" | grep -qE '^p_[a-km-np-z2-9]{16,}$' ||
		fail "profile ID \"$id\" is not p_ + 16 or more characters of the ID alphabet"
done
n_checks=$((n_checks + 1))
n_distinct_prefixes=$(for id in $ids; do printf '%s\n' "$id" | cut -c1-10; done | sort -u | wc -l)
[ "$n_distinct_prefixes" -eq 6 ] ||
	fail "profile IDs made one after another share prefixes (sequential?): $ids"

# ---- bad parameters ---------------------------------------------------------------

req GET "/v1/profiles"
expect "no lookup key" 400 missing_parameter
req GET "/v1/profiles?custom_id="
expect "an empty lookup value" 400 missing_parameter
req GET "/v1/profiles?color=blue"
expect "an unknown lookup key" 400 invalid_parameter
req GET "/v1/profiles?custom_id=ann-1&email=ann@example.com"
expect "two lookup keys" 400 invalid_parameter
req GET "/v1/profiles?q=ann-1&custom_id=ann-1"
expect "q and a lookup key" 400 invalid_parameter

for l in 0 201 x -1 1.5 "" 10abc; do
	req GET "/v1/profiles/$P_PAGER/events?limit=$l"
	expect "events limit=\"$l\"" 400 invalid_parameter
done
for c in zz 1.2 1.2.0g 1.2.000a "1.2.6" "1.-2.61" "1.x.61" "1.2.6z"; do
	req GET "/v1/profiles/$P_PAGER/events?before=$c"
	expect "events before=\"$c\"" 400 invalid_cursor
done
for l in 0 1001 x -1 1.5 "" 10abc; do
	req GET "/v1/profiles/$P_ANN/history?limit=$l"
	expect "history limit=\"$l\"" 400 invalid_parameter &&
		body_is "history limit=\"$l\": the message names it" '.error.message | startswith("limit")'
done
for c in zz -1 1.2 1x 0x10 99999999999999999999; do
	req GET "/v1/profiles/$P_ANN/history?after=$c"
	expect "history after=\"$c\"" 400 invalid_cursor &&
		body_is "history after=\"$c\": the message names it" '.error.message | startswith("after")'
done
# a malformed profile ID is the same 400 on every route that takes one (the
# lookup answered 200 with no profile, events and history 404 "no profile")
for r in "GET /v1/profiles?profile_id=ann-1" "GET /v1/profiles/ann-1/events" \
	"GET /v1/profiles/ann-1/history" "GET /v1/profiles?profile_id=p_AAAAAAAAAAAAAAAA" \
	"GET /v1/profiles/p_aaa/events?limit=5" "POST /v1/privacy/requests"; do
	req "${r%% *}" "${r#* }" '{"type": "access", "profile_id": "ann-1"}'
	expect "malformed profile ID: $r" 400 invalid_parameter &&
		body_is "malformed profile ID: $r: names profile_id and its shape" \
			'.error.message | startswith("profile_id: \"") and contains("is not a profile ID (p_ and 16")'
done
req GET "/v1/profiles/p_aaaaaaaaaaaaaaaa/events"
expect "events of an unknown profile" 404 not_found
req GET "/v1/profiles/p_aaaaaaaaaaaaaaaa/history"
expect "history of an unknown profile" 404 not_found
req GET "/v1/profiles/$P_ANN/nothing"
expect "an unknown profile sub-route" 404 not_found
req GET "/v1/privacy/requests/pr_0000000000000000"
expect "an unknown privacy request" 404 not_found
req POST "/v1/sources/no-such-source/sync"
expect "sync of an unknown source" 404 not_found
# a source the configuration has but the scheduler does not run is named
# as what it is, not "no scheduled pull source" as an unknown name is
req POST "/v1/sources/off_pull/sync"
expect "sync of a source with enabled: false" 409 off &&
	body_is "a disabled source is said to be" '.error.message | test("off_pull is disabled")'
req POST "/v1/sources/web/sync"
expect "sync of a push source" 409 not_pull_source &&
	body_is "a push source is said to be" '.error.message | test("web \\(plugin segment\\)")'
# an export off in the configuration: enabling it over the API cannot
# change that, and says so (it answered 404 "no export named")
req POST "/v1/exports/off_feed/enable"
expect "enable of an export with enabled: false" 409 off &&
	body_is "an export off is said to be" '.error.message | test("off_feed is off in the configuration")'
req POST "/v1/exports/no-such-export/backfill"
expect "backfill of an unknown export" 404 not_found
req POST "/v1/exports/no-such-export/dead_letters/retry"
expect "dead letters of an unknown export" 404 not_found
# a typo is answered with the export it may have meant (the running
# exporter's answer for the POSTs, the store's for the GET)
for route in "POST backfill" "POST enable" "POST dead_letters/retry" "GET dead_letters"; do
	req "${route%% *}" "/v1/exports/fed/${route#* }"
	expect "$route of a typo of an export" 404 not_found &&
		body_is "$route of a typo names the closest export" \
			'.error.message == "no export named fed (did you mean \"feed\"?)"'
done

for route in "POST /v1/profiles:GET, HEAD" "DELETE /v1/profiles/$P_ANN/events:GET, HEAD" \
	"PUT /v1/profiles/$P_ANN/history:GET, HEAD" "GET /v1/privacy/requests:POST" \
	"DELETE /v1/privacy/requests/pr_0000000000000000:GET, HEAD" \
	"POST /v1/sources:GET, HEAD" \
	"GET /v1/sources/web/sync:POST" "POST /v1/exports:GET, HEAD" \
	"GET /v1/exports/feed/backfill:POST" "GET /v1/exports/feed/dead_letters/retry:POST" \
	"DELETE /:GET, HEAD" \
	"POST /app.js:GET, HEAD"; do
	rm=${route%%:*}
	req "${rm%% *}" "${rm#* }"
	expect "$rm" 405 method_not_allowed && header_is "$rm names the method" Allow "${route#*:}\$" &&
		body_is "$rm: the message lists what Allow lists (it said \"use GET\")" \
			'.error.message | endswith("this route takes " + $allow) and startswith($m)' \
			--arg allow "${route#*:}" --arg m "${rm%% *}"
done
for route in "POST /healthz:GET, HEAD" "PUT /metrics:GET, HEAD" "GET /in/web/v1/batch:POST, OPTIONS"; do
	rm=${route%%:*}
	req "${rm%% *}" "${rm#* }"
	n_checks=$((n_checks + 1))
	[ "$code" = 405 ] && header_is "$rm names the method" Allow "${route#*:}\$" &&
		body_is "$rm: the message lists what Allow lists" \
			'.. | .message? // empty | strings | endswith("this route takes " + $allow)' \
			--arg allow "${route#*:}" || fail "$rm: HTTP $code $(head -c 300 "$T/body")"
done

# HEAD wherever GET (RFC 9110): GET's status and headers, no body
for p in "/v1/profiles?custom_id=ann-1" "/v1/profiles/$P_ANN/events" \
	"/v1/profiles/$P_ANN/history" /v1/sources /v1/exports; do
	n_checks=$((n_checks + 1))
	code=$(curl -s -I -o "$T/headers" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		"$BASE$p") || code="curl-failed"
	[ "$code" = 200 ] || fail "HEAD $p: HTTP $code, 200 expected"
	header_is "HEAD $p" Content-Type "application/json"
done

for b in '{bad' '[]' '"access"' '{"type":"access","custom_id":"a","custom_id":"b"}' ' '; do
	req POST /v1/privacy/requests "$b"
	expect "privacy body $b" 400 invalid_json
done
# a body that is not JSON: the message says where and what is wrong, in
# jansson's words, without the token it quotes (what the client sent)
bad_json() {
	req POST /v1/privacy/requests "$2"
	expect "privacy body: $1" 400 invalid_json &&
		body_is "privacy body: $1: the message says why" \
			'.error.message | test("^invalid JSON at " + $why + "$") and (contains(" near ") | not)' \
			--arg why "$3"
}
bad_json "a duplicate key" '{"type":"access","custom_id":"ann","custom_id":"bob"}' \
	'line 1, column 46: duplicate object key'
bad_json "trailing text" '{"type":"access"} x' 'line 1, column 19: end of file expected'
bad_json "invalid UTF-8" "$(printf '{"type":"access","custom_id":"a\377"}')" \
	'line 1, column 31: unable to decode byte 0xff'
bad_json "a byte order mark" "$(printf '\357\273\277{"type":"access"}')" \
	"line 1, column 1: '\\[' or '\\{' expected"
req POST /v1/privacy/requests
expect "privacy without a body" 400 invalid_json
# the API inflates nothing: a body with a Content-Encoding is refused 415,
# naming the coding, never read as plain JSON (a br body was taken, a gzip
# one was a misleading invalid_json)
printf '%s' '{"type":"access","custom_id":"ann-1"}' | gzip >"$T/privacy.gz"
for ce in br gzip GZIP deflate "identity, gzip"; do
	code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' -H "Content-Encoding: $ce" \
		--data-binary @"$T/privacy.gz" "$BASE/v1/privacy/requests") || code="curl-failed"
	expect "a privacy body with Content-Encoding: $ce" 415 unsupported_encoding &&
		body_is "the 415 names the coding ($ce)" '.error.message | contains($ce)' --arg ce "$ce"
done
code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Encoding: br' -d '{"type":"access","custom_id":"ann-1"}' "$BASE/v1/privacy/requests")
expect "a plain body sent as br" 415 unsupported_encoding
code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Encoding: identity' -d '{"type":"delete","custom_id":"ann-1"}' \
	"$BASE/v1/privacy/requests")
expect "Content-Encoding: identity is read as it is" 400 invalid_parameter
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Encoding: gzip' "$BASE/v1/sources/web/sync")
n_checks=$((n_checks + 1))
[ "$code" != 415 ] || fail "a route that takes no body refused its Content-Encoding"
req POST /v1/privacy/requests '{"type":"delete","custom_id":"ann-1"}'
expect "an unknown privacy type" 400 invalid_parameter
req POST /v1/privacy/requests '{"custom_id":"ann-1"}'
expect "a privacy request without a type" 400 missing_parameter
req POST /v1/privacy/requests '{"type":1,"custom_id":"ann-1"}'
expect "a privacy type that is not a string" 400 invalid_parameter
req POST /v1/privacy/requests '{"type":"access"}'
expect "a privacy request without an identifier" 400 missing_parameter
req POST /v1/privacy/requests '{"type":"erase","email":"ann@example.com"}'
expect "erase by email (not an identifier of the person)" 400 missing_parameter
req POST /v1/privacy/requests '{"type":"erase","custom_id":42}'
expect "a custom_id that is not a string" 400 invalid_parameter &&
	body_is "a custom_id that is not a string is named" '.error.message | startswith("custom_id")'
req POST /v1/privacy/requests '{"type":"erase","custom_id":"ann-1","installation_id":"dev-1"}'
expect "two identifiers in one privacy request" 400 invalid_parameter
[ "$(pid_of custom_id=ann-1)" = "$P_ANN" ] || fail "a refused erase request erased"

req GET /v1/no-such-route
expect "an unknown /v1 route" 404 not_found
# a client's habits: a trailing '/' (a base URL joined with one), a profile
# at its own path; the answer says what the route is
req GET "/v1/profiles/?custom_id=ann-1"
expect "a trailing slash" 404 not_found &&
	body_is "a trailing slash is named" '.error.message | endswith("ends in '"'/'"')")'
req GET "/v1/profiles/$P_ANN"
expect "a profile at its own path" 404 not_found &&
	body_is "a profile at its own path: the lookup is named" \
		'.error.message | endswith("GET /v1/profiles?profile_id=" + $p)' --arg p "$P_ANN"

# ---- sources and exports -------------------------------------------------------

req GET /v1/sources
expect "GET /v1/sources" 200 && body_is "sources: a list" '.sources | type == "array"'
# a pull source enabled: false is listed as off (as GET /v1/exports lists an
# export off), not left out while its sync answers 409 off; push sources are not
body_is "sources: the one off, named" '[.sources[] | select(.name == "off_pull") |
	[.name, .plugin, .state, .next_run_at]] == [["off_pull", "example", "off", null]]'
# sync_ends FILTER: GET /v1/sources until crm's last run ended and FILTER
# holds on it (bounded: 10 s); the answer then in $T/body.
sync_ends() {
	n_checks=$((n_checks + 1))
	s_i=0
	while [ $s_i -lt 200 ]; do
		req GET /v1/sources
		jq -e ".sources[] | select(.name == \"crm\") | .last_run |
			.ended_at != null and ($1)" "$T/body" >/dev/null 2>&1 && return 0
		s_i=$((s_i + 1))
		sleep 0.05
	done
	fail "crm's sync never ended with $1: $(head -c 400 "$T/body")"
}
# a sync asked for is incremental (from the saved cursor) unless ?full=true,
# which reads the source from its start again, as `profilehub sync --full`:
# the line read once more, a duplicate (?full was refused, 400 unknown)
req POST /v1/sources/crm/sync
expect "POST /v1/sources/crm/sync" 202 &&
	body_is "sync: queued, not full" '.source == "crm" and .status == "queued" and .full == false'
sync_ends '.result == "ok" and .read == 1 and .applied == 1'
req POST "/v1/sources/crm/sync?full=false"
expect "POST /v1/sources/crm/sync?full=false" 202 && body_is "sync: full false" '.full == false'
sync_ends '.result == "ok" and .read == 0'
req POST "/v1/sources/crm/sync?full=true"
expect "POST /v1/sources/crm/sync?full=true" 202 &&
	body_is "sync: queued, full" '.source == "crm" and .status == "queued" and .full == true'
sync_ends '.result == "ok" and .read == 1 and .duplicates == 1'
req POST "/v1/sources/crm/sync?full=yes"
expect "sync?full=yes" 400 invalid_parameter &&
	body_is "full=yes: the value named" '.error.message | test("full: \"yes\"")'
req GET /v1/exports
expect "GET /v1/exports" 200 &&
	body_is "exports: the configured exports" '(.exports | type == "array") and
	([.exports[].name] == ["feed", "off_feed"]) and .exports[0].plugin == "jsonl" and
	.exports[1].state == "off"'
# a backfill asked for: 202, and the export shows it (running or done)
req POST /v1/exports/feed/backfill
expect "POST /v1/exports/feed/backfill" 202 &&
	body_is "backfill: requested" '.export == "feed" and .backfill == "requested"'
req GET /v1/exports
expect "GET /v1/exports after a backfill" 200 &&
	body_is "exports: the backfill shown" '.exports[0].backfill.state | IN("running", "done")'
# the JSON Lines export refuses nothing: no dead letter to send again
req POST /v1/exports/feed/dead_letters/retry
expect "POST /v1/exports/feed/dead_letters/retry" 200 &&
	body_is "retry: none" '.export == "feed" and .retried == 0'

# ---- the events feed: cursor paging -------------------------------------------

# the expected order: newest first, ties by message_id (newest = pg-125)
expected=$(awk 'BEGIN { for (i = 125; i >= 1; i--) printf "pg-%03d\n", i }')
: >"$T/paged"
cursor=""
pages=0
while :; do
	p="/v1/profiles/$P_PAGER/events?limit=7"
	[ -n "$cursor" ] && p="$p&before=$(printf '%s' "$cursor" | jq -sRr @uri)"
	req GET "$p"
	[ "$code" = 200 ] || { fail "events page $pages: HTTP $code $(cat "$T/body")"; break; }
	jq -r '.events[].message_id' "$T/body" >>"$T/paged"
	n=$(jq '.events | length' "$T/body")
	cursor=$(jq -r '.next // empty' "$T/body")
	pages=$((pages + 1))
	if [ $pages = 1 ]; then
		# an event arriving while a reader pages does not shift its pages
		seg track '{"userId":"pager","event":"Late","messageId":"pg-new","timestamp":"2026-01-01T01:00:00.000Z"}'
	fi
	if [ -z "$cursor" ]; then
		[ "$n" -le 7 ] || fail "the last page has $n events"
		break
	fi
	[ "$n" = 7 ] || fail "page $pages has $n events, 7 expected (a next cursor was given)"
	[ $pages -le 40 ] || { fail "paging does not end"; break; }
done
n_checks=$((n_checks + 1))
[ "$(cat "$T/paged")" = "$expected" ] ||
	fail "paging by 7: not every event once, newest first: $(tr '\n' ' ' <"$T/paged" | head -c 600)"
n_checks=$((n_checks + 1))
[ "$pages" = 18 ] || fail "125 events by 7: $pages pages, 18 expected"

req GET "/v1/profiles/$P_PAGER/events"
expect "events with the default limit" 200 &&
	body_is "default limit 50, the new event first, times newest first" '
	.profile_id == $p and (.events | length == 50) and .events[0].message_id == "pg-new" and
	(.next | type == "string") and
	([.events[].timestamp] as $t | $t == ($t | sort | reverse)) and
	(.events[1] | .name == "Step 125" and .properties.i == 125 and .source == "web" and
		.timestamp == "2026-01-01T00:00:41.000Z")' --arg p "$P_PAGER"
req GET "/v1/profiles/$P_PAGER/events?limit=200"
expect "events limit=200" 200 &&
	body_is "limit=200: all 126, no next" '(.events | length == 126) and .next == null and
	([.events[].message_id] | unique | length == 126)'
req GET "/v1/profiles/$P_PAGER/events?limit=1"
expect "events limit=1" 200 && body_is "limit=1: one event and a next cursor" \
	'(.events | length == 1) and (.next | type == "string")'

# ---- the identity history: pages, oldest first ------------------------------------

req GET "/v1/profiles/$P_ANN/history?limit=1000"
expect "history limit=1000" 200 &&
	body_is "history limit=1000: the whole log, no next" '(.identity_log | length >= 3) and .next == null'
jq -c '.identity_log[]' "$T/body" >"$T/hist_whole"
req GET "/v1/profiles/$P_ANN/history"
expect "history with the default limit" 200 &&
	body_is "history: the default page holds it all, null next" \
		'(.identity_log | length) == $n and .next == null' --argjson n "$(wc -l <"$T/hist_whole")"
: >"$T/hist_paged"
cursor=""
pages=0
while :; do
	p="/v1/profiles/$P_ANN/history?limit=1"
	[ -n "$cursor" ] && p="$p&after=$(printf '%s' "$cursor" | jq -sRr @uri)"
	req GET "$p"
	[ "$code" = 200 ] || { fail "history page $pages: HTTP $code $(cat "$T/body")"; break; }
	jq -c '.identity_log[]' "$T/body" >>"$T/hist_paged"
	cursor=$(jq -r '.next // empty' "$T/body")
	pages=$((pages + 1))
	[ -n "$cursor" ] || break
	[ $pages -le 40 ] || { fail "history paging does not end"; break; }
done
n_checks=$((n_checks + 1))
cmp -s "$T/hist_whole" "$T/hist_paged" ||
	fail "history by 1: not the whole log, every row once, in order: $(head -c 600 "$T/hist_paged")"
n_checks=$((n_checks + 1))
[ "$pages" = "$(wc -l <"$T/hist_whole")" ] ||
	fail "history by 1: $pages pages for $(wc -l <"$T/hist_whole") rows"

# a path id that is not UTF-8, or cut inside a character, is the 400 of
# any malformed ID, its message still valid UTF-8 (jq reads it)
req GET "/v1/profiles/%ff/events"
expect "a profile id of a byte that is not UTF-8" 400 invalid_parameter &&
	body_is "a profile id not UTF-8: named" '.error.message | startswith("profile_id: ")'
req GET "/v1/profiles/$(printf 'a%.0s' $(seq 63))%C3%A9/history"
expect "a profile id cut inside a character in the message" 400 invalid_parameter &&
	body_is "a profile id cut: named" '.error.message | startswith("profile_id: \"aaaa")'

# ---- privacy: access ------------------------------------------------------------

req POST /v1/privacy/requests '{"type":"access","custom_id":"ann-1"}'
expect "access by custom_id" 200 &&
	body_is "access: the request and the whole document" '
	(.id | test("^pr_[0-9a-f]{16}$")) and .type == "access" and .status == "done" and
	(.created_at | type == "string") and (.finished_at | type == "string") and
	.document.custom_id == "ann-1" and (.document.profiles | length == 1) and
	(.document.profiles[0] |
		.profile.profile_id == $p and .profile.custom_id == "ann-1" and
		.profile.attributes."$email_address" == "ann@example.com" and
		.profile.attributes."$phone_number" == "+33612345678" and
		.profile.identifiers.installation_id == ["dev-1", "dev-2"] and
		.profile.merged_from == [$old] and
		([.profile.events[].name] == ["Viewed Pricing"]) and
		([.attribute_history[].key] | index("plan") != null) and
		(.consent_history | type == "array") and
		([.identity_log[].action] | index("merge") != null))' --arg p "$P_ANN" --arg old "$P_ANON"
ACCESS_ID=$(jq -r '.id' "$T/body")
req GET "/v1/privacy/requests/$ACCESS_ID"
expect "GET the access request" 200 &&
	body_is "the access request's status (without the document)" \
		'.id == $id and .type == "access" and .status == "done" and (has("document") | not)' \
		--arg id "$ACCESS_ID"
req POST /v1/privacy/requests '{"type":"access","installation_id":"dev-1"}'
expect "access by installation_id" 200 &&
	body_is "access by installation_id: the same person" \
		'.document.installation_id == "dev-1" and [.document.profiles[].profile.profile_id] == [$p]' \
		--arg p "$P_ANN"
req POST /v1/privacy/requests '{"type":"access","custom_id":"nobody"}'
expect "access for nobody" 200 && body_is "access for nobody: no profiles" '.document.profiles == []'

# More events than a page of the streamed document (256, hub/access_doc.h):
# sent chunked as it is read, and still every event, once, newest first.
seg identify '{"userId":"streamer","messageId":"st-0","timestamp":"2026-01-01T00:00:00.000Z"}'
for part in 0 1; do
	awk -v part=$part 'BEGIN {
		printf "{\"batch\":["
		for (i = part * 350 + 1; i <= part * 350 + 350; i++)
			printf "%s{\"type\":\"track\",\"userId\":\"streamer\",\"event\":\"S %d\",\"messageId\":\"st-%03d\",\"timestamp\":\"2026-01-01T01:%02d:%02d.000Z\",\"properties\":{\"i\":%d}}",
				(i > part * 350 + 1 ? "," : ""), i, i, int(i / 3) / 60, int(i / 3) % 60, i
		printf "]}"
	}' >"$T/stream.json"
	seg batch "$(cat "$T/stream.json")"
done
req POST /v1/privacy/requests '{"type":"access","custom_id":"streamer"}'
expect "access to 700 events" 200 &&
	body_is "access to 700 events: all of them, once, newest first" '
	.status == "done" and (.document.profiles | length == 1) and
	(.document.profiles[0].profile | .event_count == 700 and (.events | length == 700) and
		([.events[].message_id] | unique | length == 700) and
		([.events[] | [.timestamp, .message_id]] as $k | $k == ($k | sort | reverse)))'
header_is "access to 700 events: streamed" Transfer-Encoding chunked
header_absent "access to 700 events: no length before the end" Content-Length
header_is "access to 700 events: JSON" Content-Type 'application/json'
header_is "access to 700 events: not cached" Cache-Control no-store
req GET "/v1/privacy/requests/$(jq -r '.id' "$T/body")"
expect "GET the streamed access request" 200 &&
	body_is "the streamed access request is done" '.status == "done"'

# ---- privacy: erase ---------------------------------------------------------------

req POST /v1/privacy/requests '{"type":"erase","custom_id":"ann-1"}'
expect "erase by custom_id" 200 &&
	body_is "erase: done" '(.id | test("^pr_")) and .type == "erase" and .status == "done" and
	(has("document") | not)'
ERASE_ID=$(jq -r '.id' "$T/body")
req GET "/v1/privacy/requests/$ERASE_ID"
expect "GET the erase request" 200 &&
	body_is "the erase request's status" '.id == $id and .type == "erase" and .status == "done"' \
		--arg id "$ERASE_ID"
for q in custom_id=ann-1 installation_id=dev-1 installation_id=dev-2 email=ann@example.com \
	phone=%2B33612345678 "profile_id=$P_ANN" "profile_id=$P_ANON" q=ann-1; do
	req GET "/v1/profiles?$q"
	expect "after erase: $q" 200 && body_is "after erase: $q finds nothing" '.profiles == []'
done
for p in "$P_ANN/events" "$P_ANON/events" "$P_ANN/history"; do
	req GET "/v1/profiles/$p"
	expect "after erase: /v1/profiles/$p" 404 not_found
done
req POST /v1/privacy/requests '{"type":"access","custom_id":"ann-1"}'
body_is "after erase: the access document is empty" '.document.profiles == []'

# the erased identifiers are blocked: what arrives for them now is not stored
seg identify '{"userId":"ann-1","traits":{"email":"ann.again@example.com"},"messageId":"a-9"}'
seg track '{"anonymousId":"dev-1","event":"Came Back","messageId":"a-10"}'
seg track '{"userId":"ann-1","event":"Came Back","messageId":"a-11"}'
for q in custom_id=ann-1 installation_id=dev-1 email=ann.again@example.com; do
	req GET "/v1/profiles?$q"
	body_is "an erased identifier is blocked: $q finds nothing" '.profiles == []'
done
# others are untouched
[ "$(pid_of custom_id=user-r)" = "$P_R0" ] || fail "erasing ann-1 touched user-r"
[ "$(pid_of custom_id=pager)" = "$P_PAGER" ] || fail "erasing ann-1 touched pager"
n_checks=$((n_checks + 2))

# ---- the page, its headers, CORS -----------------------------------------------

req GET / "" -
expect "GET /" 200
header_is "the page is HTML" Content-Type "text/html"
header_is "the page has a CSP" Content-Security-Policy "default-src 'self'.*frame-ancestors 'none'"
header_is "the page is not sniffed" X-Content-Type-Options nosniff
header_is "the page may not be framed, also where CSP is not read" X-Frame-Options DENY
header_is "the page sends no referrer" Referrer-Policy no-referrer
n_checks=$((n_checks + 1))
grep -q '<script src="/app.js"></script>' "$T/body" || fail "the page does not load /app.js"
n_checks=$((n_checks + 1))
grep -qi '<script>' "$T/body" && fail "the page has an inline script (the CSP forbids it)"
req GET /app.js "" -
expect "GET /app.js" 200 && header_is "app.js is JavaScript" Content-Type "text/javascript"
header_is "app.js is not sniffed" X-Content-Type-Options nosniff
req GET /style.css "" -
expect "GET /style.css" 200 && header_is "style.css is CSS" Content-Type "text/css"
req GET /no-such-page.html "" -
expect "an unknown page" 404

for p in / /v1/sources "/v1/profiles?custom_id=user-r"; do
	code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -H 'Origin: http://evil.example' \
		-H "Authorization: Bearer $TOKEN" "$BASE$p")
	header_absent "CORS is off: GET $p with an Origin" Access-Control-Allow-Origin
	header_absent "CORS is off: GET $p with an Origin" Access-Control-Allow-Credentials
done
code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X OPTIONS \
	-H 'Origin: http://evil.example' -H 'Access-Control-Request-Method: POST' \
	-H 'Access-Control-Request-Headers: authorization, content-type' "$BASE/v1/privacy/requests")
header_absent "CORS is off: a preflight is not granted" Access-Control-Allow-Origin
header_absent "CORS is off: a preflight is not granted" Access-Control-Allow-Methods

# ---- the secrets stay out of the log ---------------------------------------------

hub_stop TERM
n_checks=$((n_checks + 1))
grep -q "$TOKEN\|$SEGMENT_WRITE_KEY" "$T/hub.log" && fail "a secret reached the hub's log"

# ---- after a restart: privacy requests; events before 1970 (canonical import:
# Segment refuses such times) -------------------------------------------------------

# they page like any other, and one at the epoch keeps its time
printf '%s\n' \
	'{"type":"track","message_id":"o-1","timestamp":"1969-06-01T00:00:00.000Z","identifiers":{"custom_id":"old-1"},"event":{"name":"Old"}}' \
	'{"type":"track","message_id":"o-2","timestamp":"1969-12-31T23:59:59.000Z","identifiers":{"custom_id":"old-1"},"event":{"name":"Old"}}' \
	'{"type":"track","message_id":"o-3","timestamp":"1970-01-01T00:00:00.000Z","identifiers":{"custom_id":"old-1"},"event":{"name":"Old"}}' \
	>"$T/old.jsonl"
"$HUB" -c "$T/hub.yaml" import "$T/old.jsonl" --source old >"$T/old.out" 2>&1 ||
	die "importing events before 1970: $(cat "$T/old.out")"
hub_start "$T/hub.yaml" "$T/hub.log"

# the privacy requests' records are in the store: a restarted hub answers
# for those the one before ran
for r in "access:$ACCESS_ID" "erase:$ERASE_ID"; do
	req GET "/v1/privacy/requests/${r#*:}"
	expect "after a restart: GET the ${r%%:*} request" 200 &&
		body_is "after a restart: the ${r%%:*} request is done" \
			'.id == $id and .type == $type and .status == "done" and
			(.finished_at | type == "string") and (keys == ["created_at", "finished_at", "id", "status", "type"])' \
			--arg id "${r#*:}" --arg type "${r%%:*}"
done
req GET "/v1/privacy/requests/pr_0000000000000000"
expect "after a restart: an unknown privacy request" 404 not_found

P_OLD=$(pid_of "custom_id=old-1")
: >"$T/paged_old"
cursor=""
for page in 1 2 3 4; do
	p="/v1/profiles/$P_OLD/events?limit=1"
	[ -n "$cursor" ] && p="$p&before=$(printf '%s' "$cursor" | jq -sRr @uri)"
	req GET "$p"
	expect "events before 1970, page $page" 200 || break
	jq -r '.events[] | "\(.message_id) \(.timestamp)"' "$T/body" >>"$T/paged_old"
	cursor=$(jq -r '.next // empty' "$T/body")
	[ -n "$cursor" ] || break
done
n_checks=$((n_checks + 1))
[ "$(tr '\n' ' ' <"$T/paged_old")" = "o-3 1970-01-01T00:00:00.000Z o-2 1969-12-31T23:59:59.000Z o-1 1969-06-01T00:00:00.000Z " ] ||
	fail "paging events before 1970: $(tr '\n' ' ' <"$T/paged_old")"
hub_stop TERM


if [ "$fails" -ne 0 ]; then
	echo "api_routes: $fails of $n_checks checks failed"
	sed 's/^/  hub: /' "$T/hub.log" | tail -20
	exit 1
fi
echo "api_routes: $n_checks checks passed (every route, auth, bad parameters, merge, paging, privacy)"
