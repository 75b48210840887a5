#!/bin/sh
# export_webhook.sh - the webhook export end to end: a real `profilehub run`
# (temp dir, temp config: a segment source "web", a webhook export "crm")
# takes Segment batches over HTTP while tests/integration/export_receiver.js
# receives the change feed.  The receiver checks every signature, its
# timestamp and idempotency key (and a batch sent again altered, or late,
# is refused) and is made to fail on purpose: 500, 429 with
# Retry-After, a hang past the export's timeout, stopped (connection
# refused), and a batch stored but never acknowledged while the hub is
# SIGKILLed.  A privacy erase runs while the hub runs.  At the end:
#
#   - every change of the outbox arrived at least once (nothing lost),
#   - per profile in seq order (first arrivals),
#   - every duplicate carries the same Idempotency-Key as its first arrival,
#   - no bad signature, stale timestamp or key, the erase change carries no
#     personal data, and no log or output holds the export's secret;
#   - then delivered changes leave the feed, and a backfill asked for with
#     `profilehub exports backfill` brings every live profile once more.
#
# Synchronization is by answers: the receiver's /stats and the hub's
# `profilehub exports --json`, polled with a bound; no sleep stands for an
# event.  Needs node, curl, jq and sqlite3 (scripts/deps.sh).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir export_webhook
rpid=""
hub_at_exit 'pid_signal KILL "$rpid"; wait 2>/dev/null'
hub_die_hook() {
	hub_show_log "$T/receiver.log" receiver 5
}
hub_need node curl jq sqlite3
hub_need_built webhook

PORT=$(hub_free_port) || die "no free port"
RPORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
RBASE="http://127.0.0.1:$RPORT"
SEGMENT_WRITE_KEY="wk_export_$$"
EXPORT_SECRET="whsec_export_$$_$RPORT"
EXPORT_API_TOKEN="api_export_$$_$RPORT"
export SEGMENT_WRITE_KEY EXPORT_SECRET EXPORT_API_TOKEN
cat >"$T/hub.yaml" <<EOF
store:
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
api:
  tokens: ["\${EXPORT_API_TOKEN}"]
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
exports:
  - name: crm
    plugin: webhook
    url: $RBASE/hook
    secret: "\${EXPORT_SECRET}"
    timeout: 2s
    batch_size: 25
  # disabled, so its cursor stays at 0 and holds the whole change feed: the
  # outbox is then the list of every change, to compare with what arrived
  - name: keep
    plugin: jsonl
    path: $T/keep.jsonl
    enabled: false
EOF

# ---- the receiver and the hub --------------------------------------------

receiver_start() {
	node "$ROOT/tests/integration/export_receiver.js" "$RPORT" "$EXPORT_SECRET" \
		"$T/received.jsonl" >>"$T/receiver.log" 2>&1 &
	rpid=$!
	i=0
	until curl -fs "$RBASE/stats" >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$rpid" 2>/dev/null || die "the receiver exited at start"
		[ $i -le 100 ] || die "no receiver after 10 s"
		sleep 0.1
	done
}
receiver_mode() { # MODE [RETRY_AFTER]
	curl -fs -o /dev/null --data "{\"mode\":\"$1\",\"retry_after\":${2:-1}}" "$RBASE/mode" ||
		die "cannot set the receiver's mode"
}
receiver_stat() { # JQ-PATH
	curl -fs "$RBASE/stats" | jq -r "$1 // 0"
}

export_field() { # JQ-PATH of the export's status
	"$HUB" -c "$T/hub.yaml" exports --json 2>>"$T/cli.log" | jq -r ".exports[0]$1"
}

# wait_for WHAT CMD...: polls CMD (a shell test) every 0.2 s, at most 60 s
wait_for() {
	what=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -le 300 ] || die "waited 60 s for $what"
		sleep 0.2
	done
}
lag_is_zero() { [ "$(export_field .lag)" = 0 ]; }
stat_at_least() { [ "$(receiver_stat "$1")" -ge "$2" ]; }
error_has() { export_field .last_error | grep -q "$1"; }

# ---- traffic: Segment batches over HTTP ----------------------------------

n_posted=0
# post_batches N: N batches of 8 messages (identify + tracks) for users u0..u14
post_batches() {
	b=0
	while [ $b -lt "$1" ]; do
		body='{"batch":['
		k=0
		while [ $k -lt 8 ]; do
			n=$((n_posted * 8 + k))
			u="u$((n % 15))"
			ts="2026-03-01T10:$(printf '%02d' $(((n / 60) % 60))):$(printf '%02d' $((n % 60))).000Z"
			[ $k -gt 0 ] && body="$body,"
			if [ $((n % 4)) = 0 ]; then
				body="$body{\"type\":\"identify\",\"userId\":\"$u\",\"messageId\":\"m$n\",\"timestamp\":\"$ts\",\"traits\":{\"plan\":\"p$((n % 3))\",\"email\":\"$u@example.com\"}}"
			else
				body="$body{\"type\":\"track\",\"userId\":\"$u\",\"event\":\"e$((n % 5))\",\"messageId\":\"m$n\",\"timestamp\":\"$ts\",\"properties\":{\"n\":$n}}"
			fi
			k=$((k + 1))
		done
		body="$body]}"
		status=$(curl -s -o "$T/resp" -w '%{http_code}' -u "$SEGMENT_WRITE_KEY:" \
			-H 'Content-Type: application/json' --data-binary "$body" "$BASE/in/web/v1/batch")
		[ "$status" = 200 ] || die "POST /v1/batch: $status $(cat "$T/resp")"
		n_posted=$((n_posted + 1))
		b=$((b + 1))
	done
}

receiver_start
hub_start "$T/hub.yaml" "$T/hub.log"

# 1. all well
post_batches 10
wait_for "the first changes to be delivered" lag_is_zero

# 1b. what the signature covers: the last batch the receiver recorded, sent
#     to its /verify as the hub sent it (accepted), under another
#     Idempotency-Key or with a newer timestamp (refused: both are signed),
#     and as it came once the receiver's clock is 5 minutes past its
#     timestamp (refused as stale) or before it
curl -fs "$RBASE/last" >"$T/last.json" || die "the receiver recorded no batch"
jq -r .body_base64 "$T/last.json" | base64 -d >"$T/last.body"
last_key=$(jq -r .key "$T/last.json")
last_ts=$(jq -r .timestamp "$T/last.json")
last_sig=$(jq -r .signature "$T/last.json")
# replay KEY TIMESTAMP [NOW]: that batch's body and signature to /verify,
# with the receiver's clock at NOW; prints the status and the refusal
replay() {
	rm -f "$T/verify.json"
	status=$(curl -s -o "$T/verify.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H "Idempotency-Key: $1" -H "X-Profilehub-Timestamp: $2" \
		-H "X-Profilehub-Signature: $last_sig" --data-binary @"$T/last.body" \
		"$RBASE/verify${3:+?now=$3}")
	echo "$status $(jq -r '.error // empty' "$T/verify.json" 2>/dev/null)"
}
expect_replay() { # WHAT EXPECTED KEY TIMESTAMP [NOW]
	what=$1
	want=$2
	shift 2
	got=$(replay "$@")
	[ "$got" = "$want" ] || fail "$what: '$got', '$want' expected"
}
printf '%s' "$last_sig" | grep -Eq '^v1=[0-9a-f]{64}$' || fail "signature header: $last_sig"
altered_key="crm-0-${last_key##*-}"
[ "$altered_key" != "$last_key" ] || altered_key="crm-1-${last_key##*-}"
expect_replay "the batch as sent" "204 " "$last_key" "$last_ts"
expect_replay "the batch as sent, 299 s later" "204 " "$last_key" "$last_ts" $((last_ts + 299))
expect_replay "the batch under another Idempotency-Key" "401 bad signature" \
	"$altered_key" "$last_ts"
expect_replay "the batch with a newer timestamp" "401 bad signature" \
	"$last_key" $((last_ts + 600)) $((last_ts + 600))
expect_replay "the batch 301 s later" "401 stale timestamp" \
	"$last_key" "$last_ts" $((last_ts + 301))
expect_replay "the batch 301 s earlier" "401 stale timestamp" \
	"$last_key" "$last_ts" $((last_ts - 301))

# 2. the receiver fails: 500, then 429 with Retry-After, then hangs
receiver_mode 500
post_batches 4
wait_for "two 500 answers" stat_at_least '.by_mode["500"]' 2
wait_for "the 500 in the export's state" error_has "HTTP 500"
receiver_mode 429 1
wait_for "a 429 answer" stat_at_least '.by_mode["429"]' 1
wait_for "the 429 in the export's state" error_has "retry after 1s: HTTP 429"
receiver_mode hang
wait_for "a hanging request" stat_at_least '.by_mode.hang' 1
wait_for "the timeout in the export's state" error_has "imed out"

# 3. the receiver is gone: connections refused
kill -9 "$rpid"
wait "$rpid" 2>/dev/null
rpid=""
post_batches 3
wait_for "the refused connection in the export's state" error_has "onnect"

# 4. back, but the hub dies (SIGKILL) while a batch is stored by the
#    receiver and not yet acknowledged: it must come again, same key
receiver_start
receiver_mode delay
# the export may have delivered what was pending (its retry can land in
# the moment between the receiver's start and its switch to delay): one
# more batch is then what the receiver holds
post_batches 1
wait_for "a stored, unanswered batch" stat_at_least '.by_mode.delay' 1
hub_kill
receiver_mode ok
hub_start "$T/hub.yaml" "$T/hub.log"
post_batches 3
"$HUB" -c "$T/hub.yaml" privacy erase --custom-id u3 >"$T/erase.out" 2>&1 ||
	die "privacy erase: $(cat "$T/erase.out")"
post_batches 2
wait_for "everything to be delivered" lag_is_zero
# the errors of 2. and 3. are past: kept, said past since a delivery (they
# read as a live problem), saved and live
[ "$(export_field .last_error_is_past)" = true ] ||
	fail "exports --json: last_error $(export_field .last_error) not past after delivering"
"$HUB" -c "$T/hub.yaml" exports >"$T/ex_table.out" 2>>"$T/cli.log"
grep -Eq '^crm .* - \(past, delivered since: ' "$T/ex_table.out" ||
	fail "profilehub exports shows a live error after delivering: $(cat "$T/ex_table.out")"
api_error_past() {
	curl -fs -H "Authorization: Bearer $EXPORT_API_TOKEN" "$BASE/v1/exports" >"$T/ex_api.json" &&
		[ "$(jq -r '.exports[0].last_error_is_past' "$T/ex_api.json")" = true ]
}
wait_for "GET /v1/exports to show the error past after delivering" api_error_past

# 5. SIGTERM while the receiver takes 1 s (the export's timeout is 2 s) to
#    answer a batch it stored: the hub waits for the answer, so that batch
#    is not sent again after a restart (the stop cut the transfer, and it
#    came twice)
n_before=$(wc -l <"$T/received.jsonl")
receiver_mode slow
post_batches 1
wait_for "a stored batch answered slowly" stat_at_least '.by_mode.slow' 1
hub_stop TERM
slow_key=$(tail -n +$((n_before + 1)) "$T/received.jsonl" | jq -r '.key' | head -n 1)
[ -n "$slow_key" ] || die "the slow batch was not recorded"
receiver_mode ok
hub_start "$T/hub.yaml" "$T/hub.log"
post_batches 1
wait_for "everything to be delivered" lag_is_zero
twice=$(jq -r --arg k "$slow_key" 'select(.key == $k) | .seq' "$T/received.jsonl" | sort | uniq -d | wc -l)
[ "$twice" = 0 ] ||
	fail "$twice changes of the batch answered during the stop ($slow_key) came again after the restart"
hub_stop TERM

# ---- what arrived ---------------------------------------------------------

# (comm wants the lexical order)
sqlite3 "$T/hub.db" 'SELECT seq FROM outbox' | sort >"$T/outbox.seqs"
jq -r '.seq' "$T/received.jsonl" | sort -u >"$T/received.seqs"
[ -s "$T/outbox.seqs" ] || die "the outbox is empty"
missing=$(comm -23 "$T/outbox.seqs" "$T/received.seqs" | wc -l)
[ "$missing" -eq 0 ] || fail "$missing changes of the outbox never arrived: $(comm -23 "$T/outbox.seqs" "$T/received.seqs" | head -5 | tr '\n' ' ')"

# per profile, the first arrivals come in seq order
jq -s -r 'reduce .[] as $c ({seen: {}, bad: []};
		if .seen[($c.seq | tostring)] then . else
		.seen[($c.seq | tostring)] = true
		| .last[$c.profile_id] as $l
		| (if $l != null and $l > $c.seq then .bad += [$c.seq] else . end)
		| .last[$c.profile_id] = $c.seq end) | .bad | length' \
	"$T/received.jsonl" >"$T/order.bad"
[ "$(cat "$T/order.bad")" = 0 ] || fail "$(cat "$T/order.bad") changes arrived out of order for their profile"

# duplicates: at least the one of step 4, each with one key only
dups=$(jq -s -r 'group_by(.seq) | map(select(length > 1)) | length' "$T/received.jsonl")
[ "$dups" -ge 1 ] || fail "no duplicate after the SIGKILL of step 4 (the stored batch was not sent again)"
keys=$(jq -s -r 'group_by(.seq) | map(select(length > 1) | map(.key) | unique | length)
	| map(select(. > 1)) | length' "$T/received.jsonl")
[ "$keys" = 0 ] || fail "$keys changes arrived again under another Idempotency-Key"

# the receiver is still running: ask it for its counters
bad_sig=$(receiver_stat .bad_signatures)
stale=$(receiver_stat .stale_timestamps)
bad_key=$(receiver_stat .bad_keys)
[ "$bad_sig" = 0 ] || fail "$bad_sig batches with a bad signature"
[ "$stale" = 0 ] || fail "$stale batches with a timestamp 5 minutes off"
[ "$bad_key" = 0 ] || fail "$bad_key batches with a bad Idempotency-Key"

# the erase change: arrived, and carries nothing but its five members
erased=$(jq -c 'select(.kind == "erased") | .keys | sort' "$T/received.jsonl" | sort -u)
[ "$erased" = '["at","identifier_types","kind","profile_id","seq"]' ] ||
	fail "erase change: members $erased"
# every other change carries its profile, except a profile gone since
jq -e 'select(.kind != "erased" and .has_profile == false and .custom_id != null)' \
	"$T/received.jsonl" >/dev/null && fail "a change without its profile names a custom_id"

total=$(wc -l <"$T/received.jsonl")

# ---- pruning: with no export holding them, delivered changes leave the feed
# (the first step of the export prunes; nothing is delivered again)
sed '/^  # disabled, so its cursor/,$d' "$T/hub.yaml" >"$T/pruned.yaml"
grep -q 'name: keep' "$T/pruned.yaml" && die "pruned.yaml still lists keep"
# taken out of the configuration, keep is still known to the store (another
# process may run it) and holds the feed until it is forgotten
"$HUB" -c "$T/pruned.yaml" exports >"$T/ex.out" 2>&1
grep -q "^export keep: not in this configuration" "$T/ex.out" ||
	fail "profilehub exports does not name keep as known to the store: $(cat "$T/ex.out")"
"$HUB" -c "$T/hub.yaml" exports forget keep >"$T/forget.out" 2>&1 &&
	fail "exports forget of an export still configured succeeded"
"$HUB" -c "$T/pruned.yaml" exports forget keep >"$T/forget.out" 2>&1 ||
	fail "exports forget keep: $(cat "$T/forget.out")"
grep -q "^export keep forgotten" "$T/forget.out" || fail "exports forget keep: $(cat "$T/forget.out")"
hub_start "$T/pruned.yaml" "$T/hub.log"
outbox_is_empty() { [ "$(sqlite3 "$T/hub.db" 'SELECT count(*) FROM outbox')" = 0 ]; }
wait_for "the delivered changes to leave the change feed" outbox_is_empty
[ "$(export_field .lag)" = 0 ] || fail "lag $(export_field .lag) after pruning"
hub_stop TERM
[ "$(wc -l <"$T/received.jsonl")" -eq "$total" ] ||
	fail "$(($(wc -l <"$T/received.jsonl") - total)) changes sent again after pruning"

# ---- backfill: asked for beside the running hub (`profilehub exports
# backfill`), every live profile arrives once more, a profile_updated
# change each marked "backfill", then the export is idle again
hub_start "$T/pruned.yaml" "$T/hub.log"
"$HUB" -c "$T/pruned.yaml" exports backfill nosuch >"$T/bf.out" 2>&1 &&
	fail "exports backfill of an unknown export succeeded"
grep -q 'no export named "nosuch"' "$T/bf.out" || fail "exports backfill nosuch: $(cat "$T/bf.out")"
"$HUB" -c "$T/pruned.yaml" exports backfill crm >"$T/bf.out" 2>&1 ||
	fail "exports backfill crm: $(cat "$T/bf.out")"
backfill_delivered() { [ "$(export_field .backfill.state)" = done ] && [ "$(export_field .lag)" = 0 ]; }
wait_for "the backfill to be delivered" backfill_delivered
after_cli=$(wc -l <"$T/received.jsonl")
# the same over the API (the hub wakes the export at once): 202, and 404
# for an unknown export
api_backfill() { # NAME: the HTTP status
	curl -s -o "$T/bf_api.json" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $EXPORT_API_TOKEN" "$BASE/v1/exports/$1/backfill"
}
[ "$(api_backfill nosuch)" = 404 ] || fail "POST /v1/exports/nosuch/backfill: not 404"
[ "$(api_backfill crm)" = 202 ] || fail "POST /v1/exports/crm/backfill: $(cat "$T/bf_api.json")"
wait_for "the backfill asked over the API to be delivered" backfill_delivered
hub_stop TERM
live=$(sqlite3 "$T/hub.db" 'SELECT count(*) FROM profiles WHERE merged_into IS NULL')
# backfill_check FROM TO WHO: lines FROM..TO of what arrived are one backfill
backfill_check() {
	sed -n "$1,$2p" "$T/received.jsonl" >"$T/backfill.jsonl"
	[ "$(jq -s 'map(select(.kind == "profile_updated" and (.keys | index("backfill"))
		and .has_profile)) | map(.profile_id) | unique | length' "$T/backfill.jsonl")" = "$live" ] ||
		fail "$3: the backfill did not bring each of the $live live profiles"
	[ "$(jq -s 'map(select(.keys | index("backfill") | not)) | length' "$T/backfill.jsonl")" = 0 ] ||
		fail "$3: changes other than the backfill's arrived after it was asked for"
}
backfill_check "$((total + 1))" "$after_cli" "exports backfill"
backfill_check "$((after_cli + 1))" '$' "POST /v1/exports/crm/backfill"
[ "$(export_field .backfill.profiles)" = "$live" ] ||
	fail "exports --json: backfill.profiles $(export_field .backfill.profiles), $live live"
"$HUB" -c "$T/pruned.yaml" exports | grep -q "^backfill of crm: done, $live profiles" ||
	fail "profilehub exports does not show the backfill"

# ---- dead letters sent again: the receiver refuses (400) a batch's changes,
# each alone too, so each is dead-lettered and delivery goes on; once it
# accepts, POST /v1/exports/crm/dead_letters/retry brings each once more,
# marked "retry_of", and leaves no dead letter
hub_start "$T/pruned.yaml" "$T/hub.log"
before_dl=$(wc -l <"$T/received.jsonl")
receiver_mode 400
post_batches 1
dead_count() {
	"$HUB" -c "$T/pruned.yaml" exports --json 2>>"$T/cli.log" | jq -r '.exports[0].dead_letters | length'
}
dead_and_idle() { [ "$(dead_count)" -gt 0 ] && [ "$(export_field .lag)" = 0 ]; }
wait_for "the refused changes to be dead-lettered" dead_and_idle
n_dead=$(dead_count)
receiver_mode ok
status=$(curl -s -o "$T/retry.json" -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $EXPORT_API_TOKEN" "$BASE/v1/exports/crm/dead_letters/retry")
[ "$status" = 200 ] || fail "POST /v1/exports/crm/dead_letters/retry: $status $(cat "$T/retry.json")"
[ "$(jq -r .retried "$T/retry.json")" = "$n_dead" ] ||
	fail "$(jq -r .retried "$T/retry.json") dead letters sent again, $n_dead were there"
none_dead_and_idle() { [ "$(dead_count)" = 0 ] && [ "$(export_field .lag)" = 0 ]; }
wait_for "the dead letters sent again to be delivered" none_dead_and_idle
hub_stop TERM
n_retried=$(tail -n "+$((before_dl + 1))" "$T/received.jsonl" |
	jq -s 'map(select(.keys | index("retry_of"))) | length')
[ "$n_retried" = "$n_dead" ] || fail "$n_retried changes marked retry_of arrived, $n_dead were dead letters"

# ---- a url the receiver has no endpoint at (404): the export stops with an
# error naming the url, nothing is dead-lettered, and the changes held back
# arrive once the configuration is fixed
sed "s#$RBASE/hook#$RBASE/gone#" "$T/pruned.yaml" >"$T/wrong_url.yaml"
wrong_field() { # JQ-PATH of the export's status under the wrong url
	"$HUB" -c "$T/wrong_url.yaml" exports --json 2>>"$T/cli.log" | jq -r ".exports[0]$1"
}
stopped_at_404() {
	[ "$(wrong_field .state)" = disabled ] &&
		wrong_field .last_error |
		grep -q "HTTP 404 from .*: no such endpoint; check the export's url"
}
hub_start "$T/wrong_url.yaml" "$T/hub.log"
before_404=$(wc -l <"$T/received.jsonl")
post_batches 1
wait_for "the export to stop at the 404" stopped_at_404
held=$(wrong_field .lag)
[ "$held" -gt 0 ] || fail "the stopped export holds no change back (lag $held)"
[ "$(dead_count)" = 0 ] ||
	fail "$(dead_count) changes dead-lettered at a 404 (the url is wrong, not they)"
hub_stop TERM
grep -q "disabled until its configuration changes or .*: HTTP 404" "$T/hub.log" ||
	fail "the hub's log does not say why the export stopped"
hub_start "$T/pruned.yaml" "$T/hub.log"
wait_for "the held-back changes to arrive once the url is fixed" lag_is_zero
hub_stop TERM
arrived=$(($(wc -l <"$T/received.jsonl") - before_404))
[ "$arrived" -ge "$held" ] || fail "$arrived changes arrived after the fix, $held were held back"
[ "$(dead_count)" = 0 ] || fail "$(dead_count) dead letters after the fix"

grep -rlF "$EXPORT_SECRET" "$T"/*.log "$T"/*.out >/dev/null 2>&1 &&
	fail "the export's secret reached a log or an output"

echo "export_webhook: $(wc -l <"$T/outbox.seqs") changes in the outbox, $total arrivals" \
	"($dups duplicates), all pruned once no export held them; a backfill of $live profiles;" \
	"$n_dead dead letters sent again;" \
	"$held changes held at a 404 and sent once the url was fixed"
[ "$fails" -eq 0 ]
