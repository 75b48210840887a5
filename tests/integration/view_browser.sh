#!/bin/sh
# view_browser.sh - the Profiles View in a real browser.  A real `profilehub
# run` (temp dir, SQLite store seeded with `profilehub import`, a free port,
# a segment source "web" for what arrives while the page is open), then
# tests/integration/view/view.js drives Debian's chromium through
# playwright-core: sign in, search by each identifier kind, anonymous then
# logged in after a login merge, a live event within 2 s, older events on
# scroll, the access document, erase, phone width, no console errors; then,
# each in a tab of its own: the access document byte for byte (an integer
# past 2^53), an older page of events answered after a live update, the
# times of 5,000 attributes, the identity history's moves and logouts from
# both sides, a token a header cannot carry, a hub without api.tokens (its
# 403 said on the page), custom IDs with spaces around
# them, events of one time, Escape after a failed erase, event and
# identifier type names an object inherits ("constructor", "__proto__"),
# markup and direction overrides (U+202E) in the data, values wider than a
# phone (a list of matches, the erase dialog), and the live poll's
# backoff on 503 and pause while the tab is hidden, a 502 and a 401 while
# a profile is open, Back after a search, the search text kept out of the
# page's address (a reload, Back, an older ?q= link), and a burst of events past what
# the poll catches up with; by keyboard and screen reader: focus kept
# when what held it goes, seen (3:1) and not under the top bar, the erase
# dialog's description, and what the live region says of a search.
# Screenshots are left in $HUB_BUILD/artifacts/view/.
#
# Needs node, npm and chromium (scripts/deps.sh installs them); installs
# playwright-core into tests/integration/view/node_modules when missing,
# never a browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).  The browser talks
# to 127.0.0.1 only.
#
# DOC_SCREENSHOT=docs/profiles-view.png refreshes the README's screenshot.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh
VIEW_DIR="$ROOT/tests/integration/view"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
ARTIFACTS="$ROOT/$B/artifacts/view"

hub_tmpdir view
[ -x "$CHROMIUM" ] || die "$CHROMIUM is not installed (scripts/deps.sh installs chromium)"
hub_need node npm curl
hub_need_built segment

# ---- playwright-core (node_modules is not committed; no browser download) -----

hub_npm_ci "$VIEW_DIR" playwright-core

# ---- a hub of our own, seeded -------------------------------------------------

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
HUB_TOKEN="tok-view-$$-$PORT"
SEGMENT_WRITE_KEY="wk-view-$$-$PORT"
export HUB_TOKEN SEGMENT_WRITE_KEY
cat >"$T/hub.yaml" <<EOF
log_level: warn
store:
  driver: sqlite
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
api:
  tokens: ["\${HUB_TOKEN}"]
identity:
  max_attributes: 6000          # the page's test of a profile of 5,000
  external:                     # names an object inherits (seed.js's proto-1)
    constructor: {limit: 2}
    __proto__: {limit: 2}
    crm_id: {limit: 1}          # seed.js's crm-only-1, known by it alone
sources:
  - name: web
    plugin: segment
    write_keys: ["\${SEGMENT_WRITE_KEY}"]
EOF

node "$VIEW_DIR/seed.js" "$(($(date +%s) * 1000))" >"$T/seed.jsonl" || die "seed.js failed"
"$HUB" -c "$T/hub.yaml" import "$T/seed.jsonl" --source app >"$T/import.log" 2>&1 ||
	die "import of the seed failed: $(cat "$T/import.log")"
grep -q "rejected 0" "$T/import.log" || die "the seed has rejected records: $(cat "$T/import.log")"

hub_start "$T/hub.yaml" "$T/hub.log"

# ---- the browser ------------------------------------------------------------------

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
# chromium's state stays in $T: playwright's launch() makes a fresh
# --user-data-dir under TMPDIR; HOME and the XDG dirs hold the rest
mkdir -p "$T/home" "$T/tmp"
(cd "$VIEW_DIR" && HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config" XDG_CACHE_HOME="$T/home/.cache" \
	TMPDIR="$T/tmp" BASE="$BASE" ARTIFACTS="$ARTIFACTS" CHROMIUM="$CHROMIUM" node view.js) 2>&1 |
	tee "$T/view.out"
grep -q '^view: [0-9]* checks passed, 0 failed$' "$T/view.out" || die "the Profiles View test failed"

hub_stop TERM "" || exit 1
echo "view_browser: $(sed -n 's/^view: \([0-9]*\) checks passed.*/\1/p' "$T/view.out") checks passed; screenshots in $B/artifacts/view/"
