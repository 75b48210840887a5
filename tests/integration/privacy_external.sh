#!/bin/sh
# privacy_external.sh - a person named by an external id (IDENTITY.md
# section 7: a privacy request resolves custom_id, installation_id and the
# external ids of identity.external): an mParticle MPID or a CRM key, as a
# data subject request from mParticle or the CRM names them.  A real
# `profilehub run` (SQLite, a segment and an mparticle source), then:
#
#   GET /v1/profiles?crm_id= and ?mpid=, and ?q= with either, find the person;
#   POST /v1/privacy/requests {"type": "access", "mpid": ...} is their
#   document; an unknown key lists the keys a request takes;
#   profilehub profile / privacy access --external TYPE=VALUE do the same;
#   POST {"type": "erase", "crm_id": ...} erases them and blocks every
#   identifier they held; a misspelt type is a misuse (exit 2);
#   `profilehub privacy erase` prints its request's ID, which the running
#   hub's GET /v1/privacy/requests/<id> answers.
#
# Each was refused: the API and the CLI named a person by custom_id or
# installation_id only, so a request keyed by an MPID could not be run.
#
# Usage: HUB_BUILD=build sh tests/integration/privacy_external.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
hub_need curl jq sqlite3
hub_need_built segment mparticle
hub_tmpdir privacy_external
PORT=$(hub_free_port) || die "no free port"
BASE=http://127.0.0.1:$PORT
TOKEN="tok-px-$$"

cat >"$T/hub.yaml" <<EOF
log_level: info
store:
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
api:
  tokens: ["$TOKEN"]
identity:
  external:
    crm_id: {limit: 1, priority: 1}
    mpid: {limit: 1, priority: 2}
sources:
  - name: web
    plugin: segment
    write_keys: ["wk-$$"]
  - name: mp
    plugin: mparticle
    api_key: "mk-$$"
    api_secret: "ms-$$"
EOF
hub_start "$T/hub.yaml" "$T/hub.log"

# post USER:PASS PATH BODY: must be stored (2xx)
post() {
	p_code=$(curl -s -o "$T/in" -w '%{http_code}' -u "$1" --data-binary "$3" "$BASE$2")
	case $p_code in 2??) ;; *) die "$2: HTTP $p_code $(cat "$T/in")" ;; esac
}
# api METHOD PATH [BODY]: the answer's body in $T/body, its status in $code
api() {
	set -- -s -o "$T/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
		"$BASE$2" ${3:+--data-binary} ${3:+"$3"}
	code=$(curl "$@") || code=curl-failed
}
# is WHAT STATUS FILTER: the last answer had STATUS and FILTER holds on it
is() {
	[ "$code" = "$2" ] && jq -e "$3" "$T/body" >/dev/null 2>&1 ||
		fail "$1: HTTP $code: $(head -c 400 "$T/body")"
}

# Ann: a web visitor with a CRM key who logs in; the same person on iOS
# through mParticle, with her MPID.  Bob: someone else, to be left alone.
post "wk-$$:" /in/web/v1/batch '{"batch": [
 {"type": "track", "anonymousId": "web-ann", "event": "Viewed", "messageId": "w1",
  "context": {"externalIds": [{"id": "K-ann", "type": "crm_id"}]}},
 {"type": "identify", "anonymousId": "web-ann", "userId": "ann", "messageId": "w2",
  "traits": {"email": "ann@example.com"}},
 {"type": "identify", "userId": "bob", "messageId": "w3",
  "context": {"externalIds": [{"id": "K-bob", "type": "crm_id"}]}}]}'
post "mk-$$:ms-$$" /in/mp/v2/events '{"source_request_id": "r1", "mpid": "8000000000000001",
 "user_identities": {"customer_id": "ann"}, "device_info": {"ios_idfv": "ios-ann"},
 "events": [{"event_type": "custom_event",
  "data": {"event_name": "opened", "source_message_id": "m1"}}]}'

# ---- finding the person -------------------------------------------------------
api GET "/v1/profiles?crm_id=K-ann"
is "lookup by crm_id" 200 '.matched_by == ["crm_id"] and [.profiles[].custom_id] == ["ann"]'
api GET "/v1/profiles?mpid=8000000000000001"
is "lookup by mpid" 200 '[.profiles[].custom_id] == ["ann"]'
api GET "/v1/profiles?q=K-bob"
is "search by a crm_id" 200 '.matched_by == ["crm_id"] and [.profiles[].custom_id] == ["bob"]'
api GET "/v1/profiles?crm_id=K-ann&mpid=8000000000000001"
is "two lookups" 400 '.error.code == "invalid_parameter"'
api GET "/v1/profiles?crmid=K-ann"
is "a misspelt external id" 400 '.error.message | contains("did you mean \"crm_id\"")'

# ---- access -------------------------------------------------------------------
api POST /v1/privacy/requests '{"type": "access", "mpid": "8000000000000001"}'
is "access by mpid" 200 '.status == "done" and .document.mpid == "8000000000000001" and
	[.document.profiles[].profile.custom_id] == ["ann"] and
	(.document.profiles[0].profile.identifiers.crm_id == ["K-ann"]) and
	(.document.profiles[0].profile.event_count == 2)'
api POST /v1/privacy/requests '{"type": "access", "crm_id": "K-ann", "custom_id": "ann"}'
is "two identifiers" 400 '.error.code == "invalid_parameter" and
	(.error.message | contains("custom_id, installation_id, crm_id or mpid"))'
api POST /v1/privacy/requests '{"type": "access", "crm_id": "K-ann", "crm": "K"}'
is "an unknown key" 400 '.error.code == "invalid_parameter" and
	(.error.message | contains("unknown key \"crm\""))'
"$HUB" -c "$T/hub.yaml" privacy access --external crm_id=K-ann >"$T/doc" 2>"$T/err" ||
	fail "privacy access --external: $(cat "$T/err")"
jq -e '.crm_id == "K-ann" and [.profiles[].profile.custom_id] == ["ann"]' "$T/doc" >/dev/null ||
	fail "privacy access --external: $(head -c 400 "$T/doc")"
"$HUB" -c "$T/hub.yaml" profile --external mpid=8000000000000001 >"$T/doc" 2>"$T/err" ||
	fail "profile --external: $(cat "$T/err")"
jq -e '.custom_id == "ann"' "$T/doc" >/dev/null || fail "profile --external: $(cat "$T/doc")"
"$HUB" -c "$T/hub.yaml" privacy erase --external crmid=K-ann >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q "crmid: not an external id" "$T/err" ||
	fail "privacy erase --external crmid=: exit $rc, $(cat "$T/err")"

# ---- erase --------------------------------------------------------------------
api POST /v1/privacy/requests '{"type": "erase", "crm_id": "K-ann"}'
is "erase by crm_id" 200 '.status == "done" and (.id | startswith("pr_"))'
api GET "/v1/profiles?custom_id=ann"
is "ann after the erase" 200 '.profiles == []'
api GET "/v1/profiles?custom_id=bob"
is "bob after ann's erase" 200 '[.profiles[].custom_id] == ["bob"]'
blocked=$(sqlite3 "$T/hub.db" "SELECT type || '=' || value FROM blocks ORDER BY 1" | tr '\n' ' ')
[ "$blocked" = "crm_id=K-ann custom_id=ann installation_id=ios-ann installation_id=web-ann \
mpid=8000000000000001 " ] || fail "the blocks after the erase: $blocked"

# `profilehub privacy erase` beside the running hub: its request has an ID
# and a record the hub answers for, as the API's erases do (it had none)
"$HUB" -c "$T/hub.yaml" privacy erase --external crm_id=K-bob >"$T/out" 2>"$T/err" ||
	fail "privacy erase --external: $(cat "$T/err")"
id=$(jq -r .id "$T/out")
case $id in
pr_????????????????) ;;
*) fail "privacy erase printed no request ID: $(cat "$T/out")" ;;
esac
api GET "/v1/privacy/requests/$id"
is "the CLI's erase, asked of the hub" 200 '.type == "erase" and .status == "done" and
	(tostring | contains("bob") | not)'
api GET "/v1/profiles?custom_id=bob"
is "bob after his erase" 200 '.profiles == []'

hub_stop
finish privacy_external
echo "privacy_external: ok"
