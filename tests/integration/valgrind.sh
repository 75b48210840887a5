#!/bin/sh
# valgrind.sh - a representative path of the hub under Valgrind's memcheck:
# check, a canonical import (tests/tools/gen_records), a Segment-format
# import, dump, profile, then a short `profilehub run` that takes Segment
# and mParticle requests (a gzip body, a bad body, a wrong key, an unknown
# route, API lookups, /metrics) and stops on SIGTERM.  Every command runs as
#   valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
# so an invalid read or write, a use of uninitialised memory or a definite
# leak fails the test; the first lines of the report are printed.
#
# Skipped (exit 0, with a note) when valgrind is missing or the binary is
# built with AddressSanitizer (`make check`): the two do not mix.
#
# Usage: HUB_BUILD=build sh tests/integration/valgrind.sh
# Knobs: VALGRIND_RECORDS (canonical records imported, default 1000).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
ROOT=$(pwd)
B=${HUB_BUILD:-build}
HUB=$ROOT/$B/profilehub
GEN=$ROOT/$B/tests/tools/gen_records
FREEPORT=$ROOT/$B/tests/tools/freeport
RECORDS=${VALGRIND_RECORDS:-1000}

if ! command -v valgrind >/dev/null 2>&1; then
	echo "SKIP: valgrind is not installed (scripts/deps.sh installs it)"
	exit 0
fi
if ldd "$HUB" 2>/dev/null | grep -q libasan; then
	echo "SKIP: $HUB is built with AddressSanitizer (valgrind cannot run it)"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/valgrind.XXXXXX") || exit 1
hub_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	pid_signal KILL "$hub_pid"
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fails=0
fail() {
	echo "valgrind: FAIL: $*"
	fails=$((fails + 1))
}
die() {
	echo "valgrind: FAIL: $*"
	exit 1
}

for f in "$HUB" "$GEN" "$FREEPORT" "$ROOT/$B/plugins/segment.so" "$ROOT/$B/plugins/mparticle.so"; do
	[ -e "$f" ] || die "$f is not built (make test builds it)"
done

n=0
# vg NAME ARGS...: the hub under memcheck, its report in $T/vg.NAME
VG_OPTS="-q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
--show-leak-kinds=definite --num-callers=30"
vg() {
	name=$1
	shift
	# shellcheck disable=SC2086 # VG_OPTS is a list of words
	valgrind $VG_OPTS --log-file="$T/vg.$name" "$HUB" -c "$T/hub.yaml" "$@"
}
# judge NAME RC: fails on valgrind's exit status or anything in its report
judge() {
	if [ "$2" -eq 99 ] || [ -s "$T/vg.$1" ]; then
		fail "$1: memcheck reported errors (exit $2):"
		head -40 "$T/vg.$1" | sed 's/^/  /'
	fi
}

PORT=$("$FREEPORT") || die "no free port"
BASE=http://127.0.0.1:$PORT
VG_WRITE_KEY=vg-wk-$$
VG_MP_SECRET=vg-mps-$$
VG_TOKEN=vg-token-$$
export VG_WRITE_KEY VG_MP_SECRET VG_TOKEN
{
	cat <<EOF
plugin_dir: $ROOT/$B/plugins
log_level: debug
store:
  path: $T/hub.db
http:
  listen: 127.0.0.1:$PORT
  threads: 2
  timeout: 10s
api:
  tokens: ["\${VG_TOKEN}"]
sources:
  - name: web
    plugin: segment
    write_keys: ["\${VG_WRITE_KEY}"]
  - name: mp
    plugin: mparticle
    api_key: vg-key
    api_secret: "\${VG_MP_SECRET}"
EOF
	"$GEN" --print-config
} >"$T/hub.yaml"
"$GEN" --seed 7 --users 300 --records "$RECORDS" --blocked-rate 0 >"$T/records.jsonl" || die "gen_records"
cat >"$T/segment.jsonl" <<'EOF'
{"type":"identify","userId":"vg-1","anonymousId":"vg-a1","messageId":"vg-i1","timestamp":"2026-05-01T00:00:00Z","traits":{"email":"vg1@example.com","plan":"gold"},"context":{"locale":"fr-FR"}}
{"type":"track","userId":"vg-1","event":"Bought","messageId":"vg-t1","timestamp":"2026-05-01T00:00:01Z","properties":{"total":9.5}}
{"type":"track","event":"no identifier","messageId":"vg-bad"}
EOF

# ---- one-shot commands ---------------------------------------------------------
vg check check >"$T/check.out" 2>&1
judge check $?
vg import import "$T/records.jsonl" --source s >"$T/import.out" 2>&1
rc=$?
judge import $rc
[ $rc -eq 0 ] || [ $rc -eq 99 ] || fail "import exited $rc: $(tail -3 "$T/import.out")"
vg import_segment import "$T/segment.jsonl" --source web --format segment >"$T/import2.out" 2>&1
judge import_segment $? # exit 1: the last line is rejected, on purpose
grep -q 'rejected 1' "$T/import2.out" || fail "segment import: $(cat "$T/import2.out")"
vg dump dump --events all >"$T/dump.out" 2>&1
judge dump $?
vg profile profile --custom-id vg-1 --events 5 >"$T/profile.out" 2>&1
judge profile $?
grep -q '"Bought"' "$T/profile.out" || fail "profile: $(head -c 300 "$T/profile.out")"

# ---- a short run ---------------------------------------------------------------
# not through vg(): $! must be valgrind itself, not a subshell running it
# shellcheck disable=SC2086
valgrind $VG_OPTS --log-file="$T/vg.run" "$HUB" -c "$T/hub.yaml" --log-level debug run \
	>"$T/run.log" 2>&1 &
hub_pid=$!
i=0
until curl -s --max-time 2 -o /dev/null "$BASE/healthz" 2>/dev/null; do
	kill -0 "$hub_pid" 2>/dev/null || die "the hub exited at start: $(tail -5 "$T/run.log")"
	i=$((i + 1))
	[ $i -le 300 ] || die "no /healthz 30 s after the start under valgrind"
	sleep 0.1
done

# req EXPECTED CURL-ARGS...
req() {
	want=$1
	shift
	n=$((n + 1))
	code=$(curl -s --max-time 30 -o "$T/resp" -w '%{http_code}' "$@")
	[ "$code" = "$want" ] || fail "request $n: $code, $want expected: $(head -c 200 "$T/resp")"
}
J='Content-Type: application/json'
req 200 -u "$VG_WRITE_KEY:" -H "$J" "$BASE/in/web/v1/batch" -d '{"batch":[
 {"type":"track","anonymousId":"vg-a2","event":"Viewed","messageId":"vg-h1","timestamp":"2026-05-01T00:01:00Z"},
 {"type":"identify","anonymousId":"vg-a2","userId":"vg-2","messageId":"vg-h2","timestamp":"2026-05-01T00:01:01Z","traits":{"plan":"silver","address":{"city":"Paris"}}}]}'
printf '%s' '{"type":"track","userId":"vg-2","event":"Zipped","messageId":"vg-h3","timestamp":"2026-05-01T00:01:02Z"}' |
	gzip >"$T/body.gz"
req 200 -u "$VG_WRITE_KEY:" -H "$J" -H 'Content-Encoding: gzip' --data-binary @"$T/body.gz" \
	"$BASE/in/web/v1/track"
req 400 -u "$VG_WRITE_KEY:" -H "$J" -H 'Content-Encoding: gzip' -d 'not gzip' "$BASE/in/web/v1/track"
req 400 -u "$VG_WRITE_KEY:" -H "$J" -d '{"batch":[{"type":"purchase","userId":"x"}]}' "$BASE/in/web/v1/batch"
req 401 -u "wrong-key:" -H "$J" -d '{"batch":[]}' "$BASE/in/web/v1/batch"
req 202 -u "vg-key:$VG_MP_SECRET" -H "$J" "$BASE/in/mp/v2/events" -d '{"source_request_id":"vg-r1",
 "mp_deviceid":"vg-d1","user_identities":{"customer_id":"vg-3"},"user_attributes":{"Favorite Color":"red"},
 "events":[{"event_type":"custom_event","data":{"event_name":"Played","custom_event_type":"other",
 "source_message_id":"vg-m1","timestamp_unixtime_ms":1777593600000}}]}'
req 403 -u "vg-key:wrong" -H "$J" -d '{}' "$BASE/in/mp/v2/events"
req 404 "$BASE/in/nowhere/v1/batch"
req 200 -H "Authorization: Bearer $VG_TOKEN" "$BASE/v1/profiles?custom_id=vg-2"
req 401 "$BASE/v1/profiles?custom_id=vg-2"
req 200 "$BASE/metrics"

kill -TERM "$hub_pid"
i=0
while kill -0 "$hub_pid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 600 ] || die "the hub did not stop within 60 s of SIGTERM under valgrind"
	sleep 0.1
done
wait "$hub_pid"
rc=$?
hub_pid=
judge run $rc
[ $rc -eq 0 ] || [ $rc -eq 99 ] || fail "the hub exited $rc on SIGTERM: $(tail -5 "$T/run.log")"

if [ $fails -ne 0 ]; then
	echo "valgrind: $fails failures"
	exit 1
fi
echo "valgrind: check, import of $RECORDS records, Segment import, dump, profile and a run with" \
	"$n requests: memcheck clean (no errors, no definite leaks)"
exit 0
