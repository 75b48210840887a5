#!/bin/sh
# file_limit.sh - a full disk as RLIMIT_FSIZE stands for it (no mount
# needed): the file-size limit of a running hub lowered under its store's
# WAL with prlimit(1), then raised again.  Checked:
#   - pushes meanwhile answer 503 commit_failed with Retry-After, the hub
#     stays up (a write past the limit raises SIGXFSZ, whose default action
#     killed the hub), and "store commits failing" is logged once, as a state,
#     naming the store's file and what to free or raise (it named neither:
#     "disk I/O error (statement 2)");
#   - once the limit is raised the next push is 200 without a restart,
#     "store commits succeed again" is logged, SIGTERM stops it with exit 0
#     and `dump` holds the pushes answered 200 and none answered 503;
#   - `help` and `dump` over `ulimit -f` exit 1 naming the error (they were
#     killed by SIGXFSZ).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir file_limit
hub_need prlimit
hub_echo_push_conf key-file-limit

# push ID: POSTs one record (echo_push makes an installation ID of the
# body); prints the status, the answer in $T/out, its head in $T/head
push() {
	rm -f "$T/out" "$T/head"
	curl -s -o "$T/out" -D "$T/head" -w '%{http_code}' -H "Authorization: Bearer key-file-limit" \
		--data-binary "$1" "$BASE/in/web/v1/echo"
}

hub_start "$T/hub.yaml" "$T/hub.log"
code=$(push fl-1)
[ "$code" = 200 ] || die "push before the limit: $code $(cat "$T/out")"

# the soft limit only, under the WAL's first frame (a 4 KiB page and its
# headers), so that it can be raised again to the hard one; the limit holds
# for the hub's log too, which stays far under it at info (a few lines)
hard=$(prlimit --pid "$HUB_PID" --fsize --noheadings --output HARD | tr -d ' ')
prlimit --pid "$HUB_PID" --fsize="4096:$hard" || die "prlimit could not lower the hub's limit"
for id in fl-2 fl-3; do
	code=$(push $id)
	[ "$code" = 503 ] || fail "push $id past the file-size limit: $code $(cat "$T/out")"
	grep -q '"commit_failed"' "$T/out" || fail "push $id: answer $(cat "$T/out")"
	grep -qi '^Retry-After:' "$T/head" || fail "push $id: no Retry-After"
	kill -0 "$HUB_PID" 2>/dev/null || die "the hub died past its file-size limit"
done
n=$(grep -c 'store commits failing: ' "$T/hub.log")
[ "$n" = 1 ] || fail "\"store commits failing: \" logged $n times, once expected"
line=$(grep 'store commits failing: ' "$T/hub.log")
case $line in
*"$T/hub.db; a write failed: free space on its filesystem, or raise a file-size limit"*) ;;
*) fail "the failing line does not name the store's file and what to do: $line" ;;
esac

prlimit --pid "$HUB_PID" --fsize="$hard:$hard" || die "prlimit could not raise the hub's limit"
code=$(push fl-4)
[ "$code" = 200 ] || fail "push once the limit is raised: $code $(cat "$T/out")"
grep -q 'store commits succeed again' "$T/hub.log" || fail "no \"store commits succeed again\" logged"

rc=0
pid_stop TERM "$HUB_PID" 10 || rc=$?
HUB_PID=""
[ $rc = 0 ] || fail "exit status $rc after SIGTERM"
tail -1 "$T/hub.log" | grep -q 'stopped$' || fail "last log line: $(tail -1 "$T/hub.log")"

"$HUB" -c "$T/hub.yaml" dump >"$T/dump" 2>"$T/dump.err" || die "dump: $(cat "$T/dump.err")"
for id in fl-1 fl-4; do
	grep -q "\"installation_id\":\"$id\"" "$T/dump" || fail "$id (answered 200) is not stored"
done
for id in fl-2 fl-3; do
	! grep -q "\"installation_id\":\"$id\"" "$T/dump" || fail "$id (answered 503) is stored"
done

# commands over `ulimit -f` (blocks of 512 bytes in dash, 1024 in bash)
# fail naming the error: `help` (1.4 KB on stdout) and `dump` (whose store
# reader writes its -shm first)
rc=0
sh -c 'ulimit -f 1 && exec "$@"' sh "$HUB" help >"$T/cut" 2>"$T/cut.err" || rc=$?
[ $rc = 1 ] || fail "help over ulimit -f: exit $rc, 1 expected ($(cat "$T/cut.err"))"
grep -q 'help: cannot write to stdout: File too large' "$T/cut.err" ||
	fail "help over ulimit -f said: $(cat "$T/cut.err")"
rc=0
sh -c 'ulimit -f 1 && exec "$@"' sh "$HUB" -c "$T/hub.yaml" dump >"$T/cut" 2>"$T/cut.err" || rc=$?
[ $rc = 1 ] || fail "dump over ulimit -f: exit $rc, 1 expected ($(cat "$T/cut.err"))"
grep -q "hub.db" "$T/cut.err" || fail "dump over ulimit -f said: $(cat "$T/cut.err")"
# an import (a command, run again by hand) past the limit, its store at a
# path as long as a deployment's: its store's error names the file and
# what to free, whole (a batch's error was cut at 256 bytes, in the middle
# of the hint), and not that "the hub commits again by itself" (the
# intake's way, not a command's), which it said beside "fix the cause and
# run the same file again"
long="$T/srv/profilehub/production-eu-west-1/store"
mkdir -p "$long" && cp "$T/hub.db" "$long/hub.db" || die "copying the store to $long"
sed "s#$T/hub.db#$long/hub.db#" "$T/hub.yaml" >"$T/long.yaml"
awk 'BEGIN { pad = sprintf("%2000s", ""); for (i = 1; i <= 200; i++)
	printf "{\"type\":\"track\",\"message_id\":\"fl-im%d\",\"timestamp\":" \
	    "\"2025-01-01T00:00:00Z\",\"identifiers\":{\"installation_id\":\"fl-im%d\"}," \
	    "\"event\":{\"name\":\"x\",\"properties\":{\"pad\":\"%s\"}}}\n", i, i, pad }' \
	>"$T/big.jsonl"
rc=0
sh -c 'ulimit -f 512 && exec "$@"' sh "$HUB" -c "$T/long.yaml" import "$T/big.jsonl" \
	--source web >"$T/cut" 2>"$T/cut.err" || rc=$?
[ $rc = 1 ] || fail "import over ulimit -f: exit $rc, 1 expected ($(cat "$T/cut.err"))"
grep -q "$long/hub.db; a write failed: free space on its filesystem, or raise a file-size limit\
 (ulimit -f), or see the kernel's log for a failing device$" "$T/cut.err" ||
	fail "import over ulimit -f said: $(cat "$T/cut.err")"
! grep -q "by itself" "$T/cut.err" ||
	fail "import over ulimit -f says the hub commits again by itself: $(cat "$T/cut.err")"

finish file_limit
echo "file_limit: ok"
