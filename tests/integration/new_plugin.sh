#!/bin/sh
# new_plugin.sh - `make plugin NAME=foo [KIND=pull|push|export]` scaffolds a
# plugin that builds and works: in a temp copy of the tree, scaffold one
# plugin of each kind, build each .so and check that it exports
# hub_plugin_entry and nothing else; then a real hub loads the three
# (check, plugins) and uses each: a pull (sync) and a push (an authorized
# POST; wrong tokens and bodies refused) seen in the profile, the export's
# file gaining the pushed change.  Also checks that bad names, a wrong KIND
# and existing plugins are refused without touching files.
set -eu
cd "$(dirname "$0")/../.."
# a fresh make in a copy of the tree: forget the calling make's variables
# (make check passes B=build/asan SAN=1 down, through MAKEFLAGS and as
# environment variables)
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES B SAN FUZZ EXTRA_CFLAGS EXTRA_LDFLAGS
. tests/lib/hub.sh
hub_need_built
hub_need curl jq
hub_tmpdir new_plugin
work="$T/tree"

# Only what a plugin build needs: the Makefile, the header, the scaffold
# script and the templates (other plugins may be mid-edit in this tree).
mkdir -p "$work/hub" "$work/plugins"
cp Makefile "$work/"
cp -r scripts "$work/"
cp -r hub/include "$work/hub/"
cp -r plugins/example plugins/example_push plugins/example_export "$work/plugins/"
cd "$work"
templates="example example_export example_push "

# Refusals: bad names, a template's own name, a wrong KIND, an existing plugin.
for bad in "" Foo 1abc foo-bar "foo bar" a234567890123456789012345678901234 example example_push; do
	if make --no-print-directory plugin NAME="$bad" >out.txt 2>&1; then
		die "make plugin NAME=\"$bad\" succeeded"
	fi
done
for bad in pul PUSH "push export"; do
	if make --no-print-directory plugin NAME=foo KIND="$bad" >out.txt 2>&1; then
		die "make plugin KIND=\"$bad\" succeeded"
	fi
	grep -q "unknown KIND \"$bad\": use pull (.*), push (.*) or export (.*)" out.txt ||
		fail "KIND=$bad: the kinds are not listed: $(cat out.txt)"
done
[ "$(ls plugins | tr '\n' ' ')" = "$templates" ] || die "a refused name left files: $(ls -A plugins)"

# scaffold NAME KIND: plugins/NAME/NAME.c renamed from KIND's template, built
# into build/plugins/NAME.so exporting hub_plugin_entry alone
scaffold() {
	make --no-print-directory plugin NAME="$1" ${2:+KIND=$2} >"$1.steps" 2>&1 ||
		die "scaffold $1: $(cat "$1.steps")"
	grep -q "Next steps" "$1.steps" || fail "$1: no next steps printed"
	[ -f "plugins/$1/$1.c" ] || fail "plugins/$1/$1.c missing"
	[ -f "plugins/$1/plugin.mk" ] || fail "plugins/$1/plugin.mk missing"
	grep -q "\.name = \"$1\"" "plugins/$1/$1.c" || fail "$1: descriptor name not renamed"
	grep -q "^$1_LIBS" "plugins/$1/plugin.mk" || fail "$1: plugin.mk variable not renamed"
	grep -q "Made by .make plugin NAME=$1 KIND=${2:-pull}. from the hub's template" "plugins/$1/$1.c" ||
		fail "$1: the header does not say what made it: $(sed -n 1,6p "plugins/$1/$1.c")"
	! grep -q "The template of" "plugins/$1/$1.c" ||
		fail "$1: the header still says it is the template"
	if grep -n example "plugins/$1/"*; then
		fail "$1: \"example\" left in the scaffold"
	fi
	[ "$(ls -A "plugins/$1" | wc -l)" -eq 2 ] || fail "$1: stray files: $(ls -A "plugins/$1")"
	make --no-print-directory HUB_DEPS_DONE=1 "build/plugins/$1.so" >out.txt 2>&1 ||
		die "build of $1.so: $(cat out.txt)"
	exported=$(nm -D --defined-only "build/plugins/$1.so" | awk '{ print $NF }')
	[ "$exported" = hub_plugin_entry ] ||
		fail "$1.so must export only hub_plugin_entry, exports: $exported"
}
scaffold tap ""
scaffold hook push
scaffold sink export
grep -q "profilehub sync tap" tap.steps && grep -q "/in/hook/v1/record" hook.steps &&
	grep -q "^  4. Add it under exports:" sink.steps || fail "next steps: $(cat ./*.steps)"
# the test to copy is the one of the kind's template
grep -q "Test it like tests/unit/test_example_plugin.c does" tap.steps &&
	grep -q "Test it like tests/unit/test_example_templates.c does" hook.steps &&
	grep -q "Test it like tests/unit/test_example_templates.c does" sink.steps ||
	fail "step 6 names another kind's test: $(grep -h 'Test it' ./*.steps)"
[ "$(ls -A plugins | tr '\n' ' ')" = "${templates}hook sink tap " ] || fail "stray files: $(ls -A plugins)"

if make --no-print-directory plugin NAME=tap KIND=push >out.txt 2>&1; then
	fail "scaffolding over an existing plugin succeeded"
fi
grep -q "already exists" out.txt || fail "no 'already exists' message"

# A hub with the three, as their next steps say to configure them.
mkdir -p "$T/plugins"
for p in tap hook sink; do
	cp "build/plugins/$p.so" "$T/plugins/"
done
cp "$ROOT/$B/plugins/segment.so" "$T/plugins/" # conf/hub.yaml's `web`, for sink's step 5
cd "$ROOT"
PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
HOOK_TOKEN="hook-token-$$"
export HOOK_TOKEN
cat >"$T/hub.yaml" <<EOT
plugin_dir: $T/plugins
store: {path: $T/hub.db}
http: {listen: "127.0.0.1:$PORT"}
sources:
  - {name: tap, plugin: tap, path: $T/tap.jsonl}
  - {name: hook, plugin: hook, token: "\${HOOK_TOKEN}"}
  - {name: web, plugin: segment, write_keys: ["\${SEGMENT_WRITE_KEY:-dev-write-key}"]}
exports:
  - {name: sink, plugin: sink, path: $T/sink.jsonl}
EOT
"$HUB" -c "$T/hub.yaml" check >"$T/out" 2>&1 || fail "check: $(cat "$T/out")"
"$HUB" -c "$T/hub.yaml" plugins >"$T/out" 2>&1 || fail "plugins: $(cat "$T/out")"
for row in "tap pull" "hook push" "sink export"; do
	# shellcheck disable=SC2086 # the row's two words
	set -- $row
	grep -Eq "^$1 +1\.0\.0 +$2 " "$T/out" || fail "plugins does not list $1 as $2: $(cat "$T/out")"
done

# pull: one sync reads the file
echo '{"user_id": "u1", "event": "signup", "id": "t1"}' >"$T/tap.jsonl"
"$HUB" -c "$T/hub.yaml" sync tap >"$T/out" 2>&1 || fail "sync tap: $(cat "$T/out")"
"$HUB" -c "$T/hub.yaml" profile --custom-id u1 >"$T/out" 2>&1 &&
	jq -e '.event_count == 1 and .events[0].name == "signup" and .events[0].source == "tap"' "$T/out" >/dev/null ||
	fail "the pulled record is not in the profile: $(cat "$T/out")"

# push: a request with the token is stored before the answer; others are refused
hub_start "$T/hub.yaml" "$T/hub.log"
post() { # TOKEN BODY: the status, the body in $T/answer
	curl -s -o "$T/answer" -w '%{http_code}' -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' --data-binary "$2" "$BASE/in/hook/v1/record"
}
body='{"user_id": "u2", "event": "signup", "properties": {"plan": "gold"}, "message_id": "h1", "timestamp_ms": 1767225600000}'
[ "$(post "$HOOK_TOKEN" "$body")" = 200 ] && [ "$(cat "$T/answer")" = '{"success":true}' ] ||
	fail "an authorized push: $(cat "$T/answer")"
[ "$(post "wrong-$HOOK_TOKEN" "$body")" = 401 ] || fail "a wrong token: $(cat "$T/answer")"
[ "$(post "" "$body")" = 401 ] || fail "no token: $(cat "$T/answer")"
[ "$(post "$HOOK_TOKEN" '[1]')" = 400 ] && jq -e '.error.code == "invalid_body"' "$T/answer" >/dev/null ||
	fail "a body that is no object: $(cat "$T/answer")"
[ "$(post "$HOOK_TOKEN" '{"event": "x"}')" = 400 ] &&
	jq -e '.error.message == "\"user_id\" is needed"' "$T/answer" >/dev/null ||
	fail "a body without user_id: $(cat "$T/answer")"
"$HUB" -c "$T/hub.yaml" profile --custom-id u2 >"$T/out" 2>&1 &&
	jq -e '.event_count == 1 and .events[0].source == "hook" and .events[0].message_id == "h1" and
		.events[0].timestamp == "2026-01-01T00:00:00.000Z" and .events[0].properties.plan == "gold"' \
		"$T/out" >/dev/null || fail "the pushed record is not in the profile: $(cat "$T/out")"

# export: the pushed change reaches the file (a bounded poll: the exporter
# runs on its own thread)
i=0
until [ -f "$T/sink.jsonl" ] &&
	jq -e 'select(.kind == "event" and .custom_id == "u2" and .event.name == "signup")' \
		"$T/sink.jsonl" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 200 ] || die "the export wrote no change of u2 within 20 s: $(cat "$T/sink.jsonl" 2>/dev/null)"
	sleep 0.1
done
jq -e -s 'all(.[]; .seq > 0)' "$T/sink.jsonl" >/dev/null || fail "a line of the export is no change: $(cat "$T/sink.jsonl")"

# export: the record its step 5 sends, by the printed curl (on this hub's
# port), reaches the file too: the step said "send it a record" and showed none
sed -n '/^  5\. /,/^  6\. /p' "$work/sink.steps" | grep -A1 '^ *curl ' |
	sed "s|127\.0\.0\.1:8080|127.0.0.1:$PORT|" >"$T/step5.sh"
grep -q 'in/web/v1/track' "$T/step5.sh" ||
	fail "the export's step 5 shows no curl: $(cat "$work/sink.steps")"
[ "$(unset SEGMENT_WRITE_KEY; sh "$T/step5.sh" 2>/dev/null)" = '{"success":true}' ] ||
	fail "the export's step 5 curl: $(cat "$T/step5.sh")"
i=0
until jq -e 'select(.kind == "event" and .custom_id == "u1" and .event.source == "web")' \
	"$T/sink.jsonl" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 200 ] ||
		die "the export wrote no change of step 5's record within 20 s: $(cat "$T/sink.jsonl")"
	sleep 0.1
done
hub_stop TERM
finish new_plugin
echo "new_plugin: a pull, a push and an export plugin scaffolded, built, loaded and used by a hub"
