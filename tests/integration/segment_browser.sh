#!/bin/sh
# segment_browser.sh - Segment's browser library against a real hub.  A real
# `profilehub run` (temp dir, SQLite, a free port, a segment source "web"),
# then tests/integration/segment_browser/browser.js loads analytics-next
# (analytics.js 2.0, from npm) in Debian's chromium from a page of another
# origin and sends an identify, a track and a page: each crosses origins
# with an Authorization header (a preflight first), goes to the short paths
# api.segment.io serves (/v1/i, /v1/t, /v1/p) and must read a 2xx, posted
# once (a hidden answer makes the library send it again).  Then the profile,
# read through the API, holds what the page sent: the traits (a key with a
# space named as the mParticle source names it), the event and the page
# view, each once.
#
# Needs node, npm and chromium (scripts/deps.sh installs them); installs
# @segment/analytics-next and playwright-core into
# tests/integration/segment_browser/node_modules when missing, never a
# browser.  The browser talks to 127.0.0.1 only.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
DIR="$ROOT/tests/integration/segment_browser"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

hub_tmpdir segment_browser
[ -x "$CHROMIUM" ] || die "$CHROMIUM is not installed (scripts/deps.sh installs chromium)"
hub_need node npm curl jq
hub_need_built segment

hub_npm_ci "$DIR" @segment/analytics-next playwright-core

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
HUB_TOKEN="tok-sb-$$-$PORT"
SEGMENT_WRITE_KEY="wk-sb-$$-$PORT"
export HUB_TOKEN SEGMENT_WRITE_KEY
cat >"$T/hub.yaml" <<YAML
log_level: warn
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
api:
  tokens: ["\${HUB_TOKEN}"]
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
YAML
hub_start "$T/hub.yaml" "$T/hub.log"

mkdir -p "$T/home" "$T/tmp"
(cd "$DIR" && HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config" XDG_CACHE_HOME="$T/home/.cache" \
	TMPDIR="$T/tmp" HUB="$BASE" WRITE_KEY="$SEGMENT_WRITE_KEY" CHROMIUM="$CHROMIUM" \
	node browser.js) 2>&1 | tee "$T/browser.out"
grep -q '^segment_browser: [0-9]* checks passed, 0 failed$' "$T/browser.out" ||
	die "the browser library's calls did not go through"

# what the page sent, once each
curl -fsS -H "Authorization: Bearer $HUB_TOKEN" \
	"$BASE/v1/profiles?custom_id=ann-browser" >"$T/profile.json" ||
	die "no answer to the profile lookup"
jq -e '.profiles | length == 1' "$T/profile.json" >/dev/null ||
	fail "one profile of custom_id ann-browser: $(cat "$T/profile.json")"
jq -e '.profiles[0].attributes | .plan == "gold" and .favorite_color == "blue"
	and ."$email_address" == "ann.browser@example.com"' "$T/profile.json" >/dev/null ||
	fail "the identify's traits: $(jq -c '.profiles[0].attributes' "$T/profile.json")"
jq -e '[.profiles[0].events[].name] | sort == ["$page", "Order Completed"]' \
	"$T/profile.json" >/dev/null ||
	fail "the track and the page view, once each: $(jq -c '[.profiles[0].events[].name]' \
		"$T/profile.json")"
jq -e '.profiles[0].events[] | select(.name == "$page") | .properties.name == "Home"' \
	"$T/profile.json" >/dev/null ||
	fail "the page view's name: $(jq -c '.profiles[0].events' "$T/profile.json")"
jq -e '.profiles[0].installations | length == 1 and .[0].platform == "web"' \
	"$T/profile.json" >/dev/null ||
	fail "the browser's installation: $(jq -c '.profiles[0].installations' "$T/profile.json")"

hub_stop TERM "" || exit 1
finish segment_browser
echo "segment_browser: analytics-next from another origin: identify, track and page stored once each"
