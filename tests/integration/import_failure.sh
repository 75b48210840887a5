#!/bin/sh
# import_failure.sh - a batch of an import that fails to store stops the
# import there: the lines before it are stored, none after it (not even the
# batches already queued behind it), the summary names the first line not
# stored, and running the same file again gives exactly the store a clean
# import gives.  Identity resolution depends on order, so a hole filled by a
# second run would not: line 5000 logs ann in on installation I1 and line
# 9000 bob, so I1 must end with bob.
#
# The failure is a trigger on the dedupe table that refuses line 5000's
# message_id, as a full disk or a lost connection would refuse the batch.
# A line of --format mparticle (one batch of three events) is stored whole
# or not at all: the failing event is the second of its line's three.
#
# Usage: HUB_BUILD=build sh tests/integration/import_failure.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${HUB_BUILD:-build}
PH=$B/profilehub

fail() {
	echo "import_failure: FAIL: $*" >&2
	exit 1
}

[ -x "$PH" ] || fail "$PH is missing (make $PH)"
command -v sqlite3 >/dev/null || fail "sqlite3 is missing"
T=$(mktemp -d "${TMPDIR:-/tmp}/import_failure.XXXXXX") || fail "mktemp"
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
PROFILEHUB_ID_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
export PROFILEHUB_ID_KEY

config() { # config NAME: a config whose store is $T/NAME.db
	printf 'log_level: error\nstore: {path: %s/%s.db}\nsources:\n  - name: mp\n    plugin: mparticle\n    api_key: k\n    api_secret: s\n' \
		"$T" "$1" >"$T/$1.yaml"
}
: >"$T/empty.jsonl"
# failing_store NAME MSGID: an empty store NAME (config NAME) whose dedupe
# table refuses MSGID, as a full disk would refuse its batch
failing_store() {
	config "$1"
	"$PH" -c "$T/$1.yaml" import "$T/empty.jsonl" --source s >/dev/null 2>&1 ||
		fail "creating the $1 store"
	sqlite3 "$T/$1.db" "CREATE TRIGGER boom BEFORE INSERT ON dedupe WHEN NEW.message_id = '$2'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END;" || fail "trigger ($1)"
}

# 10000 canonical lines: events on 500 installations, ann's login on I1 at
# line 5000, bob's at line 9000
awk 'BEGIN {
	for (n = 1; n <= 10000; n++) {
		if (n == 5000 || n == 9000)
			printf "{\"type\":\"identify\",\"message_id\":\"m-%d\",\"timestamp\":\"2026-01-01T00:00:%02dZ\",\"identifiers\":{\"custom_id\":\"%s\",\"installation_id\":\"I1\"}}\n", n, n % 60, n == 5000 ? "ann" : "bob"
		else
			printf "{\"type\":\"track\",\"message_id\":\"m-%d\",\"timestamp\":\"2026-01-01T00:00:%02dZ\",\"identifiers\":{\"installation_id\":\"I%d\"},\"event\":{\"name\":\"e\"}}\n", n, n % 60, n % 500 + 1
	}
}' >"$T/in.jsonl"

config clean
"$PH" -c "$T/clean.yaml" import "$T/in.jsonl" --source s >"$T/out" 2>"$T/err" ||
	fail "clean import: $(cat "$T/err")"
"$PH" -c "$T/clean.yaml" dump --events all >"$T/clean.dump" || fail "dump of the clean store"

# the same file, a batch failing
failing_store failing m-5000
"$PH" -c "$T/failing.yaml" import "$T/in.jsonl" --source s >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "an import with a failed batch must exit 1: $(cat "$T/err")"
first=$(sed -n 's/^profilehub: import: line \([0-9]*\) and every line after it are not stored.*/\1/p' "$T/err")
[ -n "$first" ] || fail "no first line not stored named: $(cat "$T/err")"
[ "$first" -le 5000 ] || fail "line $first named, but line 5000 failed"
[ "$first" -gt 1000 ] || fail "line $first named: the batches before the failed one are not stored"
grep -q "injected failure" "$T/err" || fail "the cause is not shown: $(cat "$T/err")"
stored=$(sqlite3 "$T/failing.db" "SELECT count(*) FROM dedupe")
[ "$stored" -eq $((first - 1)) ] ||
	fail "lines 1..$((first - 1)) should be stored, the store holds $stored records"
after=$(sqlite3 "$T/failing.db" "SELECT count(*) FROM dedupe
	WHERE CAST(substr(message_id, 3) AS INTEGER) >= $first")
[ "$after" -eq 0 ] || fail "$after records from line $first on were stored after the failed batch"

# fixed, the same file again: what a clean import gives
sqlite3 "$T/failing.db" "DROP TRIGGER boom" || fail "drop trigger"
"$PH" -c "$T/failing.yaml" import "$T/in.jsonl" --source s >"$T/out" 2>"$T/err" ||
	fail "the second run: $(cat "$T/err")"
grep -q "duplicates $((first - 1))," "$T/out" || fail "the second run's counts: $(cat "$T/out")"
"$PH" -c "$T/failing.yaml" dump --events all >"$T/again.dump" || fail "dump after the second run"
cmp -s "$T/clean.dump" "$T/again.dump" ||
	fail "the store after a failed batch and a second run differs from a clean import's: $(diff "$T/clean.dump" "$T/again.dump" | head -5)"
"$PH" -c "$T/failing.yaml" profile --installation-id I1 | grep -q '"custom_id": *"bob"' ||
	fail "I1 does not end with bob"

# --commit-every below a batch's 2000 records: commits are that often, so
# a failure at line 150 keeps lines 1..100 (a group took a whole batch of
# 2000, and none was stored)
failing_store small m-150
"$PH" -c "$T/small.yaml" import "$T/in.jsonl" --source s --commit-every 100 >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "--commit-every 100 with a failed batch must exit 1: $(cat "$T/err")"
small_first=$(sed -n 's/^profilehub: import: line \([0-9]*\) and every line after it are not stored.*/\1/p' "$T/err")
stored=$(sqlite3 "$T/small.db" "SELECT count(*) FROM dedupe")
[ "$small_first" = 101 ] && [ "$stored" -eq 100 ] ||
	fail "--commit-every 100, line 150 failing: line $small_first named, $stored stored (want 101, 100)"

# a warning says the rest of its record was applied: the warnings of lines
# not stored are not counted nor shown (they were: every line read ahead)
awk 'BEGIN {
	for (n = 1; n <= 3000; n++)
		printf "{\"type\":\"identify\",\"message_id\":\"m-%d\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"identifiers\":{\"installation_id\":\"I%d\"},\"attributes\":{\"$phone_number\":\"%s\"}}\n", n, n, (n == 50 || n >= 120) ? "bad" : "+15550100"
}' >"$T/warn.jsonl"
failing_store warn m-150
"$PH" -c "$T/warn.yaml" import "$T/warn.jsonl" --source s --commit-every 100 >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "the import with warnings and a failed batch must exit 1: $(cat "$T/err")"
grep -qx "warnings 1 (.*" "$T/out" || fail "warnings of lines not stored counted: $(cat "$T/out")"
[ "$(grep -c "^profilehub: import: warning: " "$T/err")" -eq 1 ] &&
	grep -q "^profilehub: import: warning: line 50: attributes.\$phone_number" "$T/err" ||
	fail "warnings of lines not stored shown: $(cat "$T/err")"

# --format mparticle: 1000 lines of one batch with three events each; the
# 2001st event (the second of line 667) fails.  Line 667 is stored whole or
# not at all, never in part.
awk 'BEGIN {
	for (n = 1; n <= 1000; n++) {
		printf "{\"environment\":\"production\",\"user_identities\":{\"customer_id\":\"u%d\"},\"events\":[", n
		for (e = 1; e <= 3; e++)
			printf "%s{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\",\"source_message_id\":\"x-%d\",\"timestamp_unixtime_ms\":1767225600000}}", (e > 1 ? "," : ""), 3 * (n - 1) + e
		printf "]}\n"
	}
}' >"$T/mp.jsonl"
failing_store mp x-2000
"$PH" -c "$T/mp.yaml" import "$T/mp.jsonl" --source mp --format mparticle >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "mparticle import with a failed batch must exit 1: $(cat "$T/err")"
part=$(sqlite3 "$T/mp.db" "SELECT count(*) FROM dedupe WHERE message_id IN ('x-1999', 'x-2000', 'x-2001')")
[ "$part" -eq 0 ] || fail "line 667 was stored in part ($part of its 3 events)"
# the same with --commit-every 2: a line's three events are still one batch
failing_store mp2 x-2000
"$PH" -c "$T/mp2.yaml" import "$T/mp.jsonl" --source mp --format mparticle --commit-every 2 \
	>"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "mparticle --commit-every 2 with a failed batch must exit 1: $(cat "$T/err")"
part=$(sqlite3 "$T/mp2.db" "SELECT count(*) FROM dedupe WHERE message_id IN ('x-1999', 'x-2000', 'x-2001')")
stored=$(sqlite3 "$T/mp2.db" "SELECT count(*) FROM dedupe")
[ "$part" -eq 0 ] && [ "$stored" -eq 1998 ] ||
	fail "--commit-every 2: line 667 stored in part ($part of its 3 events) or lines before it lost ($stored of 1998 stored)"

# big lines close a batch by bytes (IMPORT_BATCH_BYTES, 6 MiB of lines):
# 40 lines of about 240 KB, three events each; the second event of the line
# that reaches 6 MiB fails, and that line is stored whole or not at all too
awk 'BEGIN {
	v = sprintf("%300s", ""); gsub(/ /, "v", v)
	props = ""
	for (k = 1; k <= 250; k++)
		props = props sprintf("%s\"p%d\":\"%s\"", (k > 1 ? "," : ""), k, v)
	for (n = 1; n <= 40; n++) {
		printf "{\"environment\":\"production\",\"user_identities\":{\"customer_id\":\"b%d\"},\"events\":[", n
		for (e = 1; e <= 3; e++)
			printf "%s{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\",\"source_message_id\":\"y-%d\",\"timestamp_unixtime_ms\":1767225600000,\"custom_attributes\":{%s}}}", (e > 1 ? "," : ""), 3 * (n - 1) + e, props
		printf "]}\n"
	}
}' >"$T/big.jsonl"
line_len=$(head -1 "$T/big.jsonl" | tr -d '\n' | wc -c)
k=$(((6291456 + line_len - 1) / line_len)) # the line that reaches 6 MiB
failing_store big "y-$((3 * (k - 1) + 2))"
"$PH" -c "$T/big.yaml" import "$T/big.jsonl" --source mp --format mparticle >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "big-line import with a failed batch must exit 1: $(cat "$T/err")"
part=$(sqlite3 "$T/big.db" "SELECT count(*) FROM dedupe WHERE message_id IN
	('y-$((3 * (k - 1) + 1))', 'y-$((3 * (k - 1) + 2))', 'y-$((3 * (k - 1) + 3))')")
[ "$part" -eq 0 ] || fail "line $k (big) was stored in part ($part of its 3 events)"
big_first=$(sed -n 's/^profilehub: import: line \([0-9]*\) and every line after it are not stored.*/\1/p' "$T/err")
stored=$(sqlite3 "$T/big.db" "SELECT count(*) FROM dedupe")
[ -n "$big_first" ] && [ "$stored" -eq $((3 * (big_first - 1))) ] ||
	fail "big lines: line $big_first named, $stored events stored (3 a line)"
# stopped_import NAME TAIL: an import of a pipe (store NAME) that holds
# the first 100 lines of in.jsonl, then TAIL, its writer open, stopped by
# SIGTERM once the 100 are committed; its exit status in rc, its output in
# $T/out and $T/err
sig_mask() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$pid/status"; }
stopped_import() {
	config "$1"
	mkfifo "$T/$1.fifo" || fail "mkfifo"
	"$PH" -c "$T/$1.yaml" import - --source s --commit-every 1 <"$T/$1.fifo" \
		>"$T/out" 2>"$T/err" &
	pid=$!
	exec 3>"$T/$1.fifo"
	# one write: the import reads TAIL with the lines (a TAIL written later
	# could still be unread at the stop, which then names no line 101)
	{ head -100 "$T/in.jsonl" && printf '%s' "$2"; } >"$T/$1.head"
	cat "$T/$1.head" >&3
	i=0 # the 100 lines committed (a batch a record): the import waits for more
	while [ "$(sqlite3 "$T/$1.db" "SELECT count(*) FROM dedupe" 2>/dev/null)" != 100 ] &&
		[ $i -lt 400 ]; do
		i=$((i + 1))
		sleep 0.05
	done
	# started in the background by a non-interactive shell, the import
	# inherited SIGINT ignored and leaves it so (nohup-like,
	# docs/sources.md): SIGTERM stops it
	if [ -r "/proc/$pid/status" ]; then
		[ $((0x$(sig_mask SigIgn) & 2)) -ne 0 ] ||
			fail "SIGINT not ignored: $(cat "/proc/$pid/status")"
		[ $((0x$(sig_mask SigCgt) & 16384)) -ne 0 ] ||
			fail "SIGTERM not caught by the import"
	fi
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	exec 3>&-
}
# SIGTERM (SIGINT, Ctrl-C, alike unless inherited ignored) stops the reading:
# what was read commits, the summary is printed and names the first line not
# stored, exit 1; the same run again completes the store as a clean import.  The import reads a pipe that
# holds 100 lines and half a line: it is waiting in read() when stopped (a
# signal used to kill it: no summary, the uncommitted records lost)
stopped_import stop '{"type":"track","message_id":"hal'
[ $rc -eq 1 ] || fail "an import stopped by SIGTERM must exit 1 (got $rc): $(cat "$T/err")"
grep -q "^records 100, applied 100, duplicates 0" "$T/out" || fail "stopped: $(cat "$T/out")"
grep -q "^profilehub: import: stopped by SIGTERM after line 100 " "$T/err" &&
	grep -q "^profilehub: import: line 101 and every line after it are not stored" "$T/err" ||
	fail "stopped: the first line not stored: $(cat "$T/err")"
"$PH" -c "$T/stop.yaml" import "$T/in.jsonl" --source s >"$T/out" 2>"$T/err" ||
	fail "the run after a stop: $(cat "$T/err")"
grep -q "^records 10000, applied 9900, duplicates 100" "$T/out" || fail "after a stop: $(cat "$T/out")"
"$PH" -c "$T/stop.yaml" dump --events all >"$T/stop.dump" || fail "dump after a stop"
cmp -s "$T/clean.dump" "$T/stop.dump" || fail "a stopped import run again differs from a clean one"
# A stop between lines, nothing past the last one read (the pipe's writer
# sent 100 whole lines and holds it open), names no line after it: the file
# may hold none ("line 101 and every line after it are not stored" named a
# line that was never sent)
stopped_import stop2 ''
[ $rc -eq 1 ] || fail "an import stopped between lines must exit 1 (got $rc): $(cat "$T/err")"
grep -q "^records 100, applied 100, duplicates 0" "$T/out" || fail "stopped: $(cat "$T/out")"
read_to="nothing after line 100 was read: line 100 and those before it are stored, any after"
grep -q "^profilehub: import: stopped by SIGTERM after line 100 " "$T/err" &&
	grep -q "^profilehub: import: $read_to it is not: to go on, run the same file again" \
		"$T/err" && ! grep -q "line 101" "$T/err" ||
	fail "stopped between lines: a line never sent named: $(cat "$T/err")"
# A line without end (/dev/zero; a JSON array of gigabytes on one line) is
# stopped too: the reading ends at the signal, not at the line's end, which
# never came (the first SIGTERM was taken and then nothing happened until a
# second one killed the import, as a crash).
"$PH" -c "$T/stop.yaml" import /dev/zero --source s >"$T/out" 2>"$T/err" &
pid=$!
i=0 # SIGTERM caught: the import is past its start, reading
while [ -r "/proc/$pid/status" ] && [ $((0x$(sig_mask SigCgt) & 16384)) -eq 0 ] &&
	[ $i -lt 200 ]; do
	i=$((i + 1))
	sleep 0.05
done
kill -TERM "$pid"
i=0 # bounded: a reading blind to the stop never ends
while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
	i=$((i + 1))
	sleep 0.05
done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	wait "$pid"
	fail "import /dev/zero still reading 10 s after SIGTERM"
fi
wait "$pid"
rc=$?
[ $rc -eq 1 ] || fail "import /dev/zero stopped by SIGTERM must exit 1 (got $rc): $(cat "$T/err")"
grep -q "^records 0, applied 0," "$T/out" || fail "/dev/zero stopped: $(cat "$T/out")"
grep -q "^profilehub: import: stopped by SIGTERM after line 0 " "$T/err" &&
	grep -q "^profilehub: import: line 1 and every line after it are not stored" "$T/err" ||
	fail "/dev/zero stopped: the first line not stored: $(cat "$T/err")"
echo "import_failure: ok (first line not stored: $first)"
