#!/bin/sh
# import_limits.sh - what `profilehub import` holds in memory follows the
# bytes of its input, not only the count of records.
#
# 1. A line longer than a record may be (1 MiB) is rejected, named with its
#    line number and length, and never held whole; the lines around it are
#    applied.
# 2. Big events: 300 lines of about 900 KB (a 270 MB file, fewer records
#    than one batch holds) keep the import's peak RSS within the 256 MB
#    budget, because a batch closes at 6 MB of lines and at most 48 MB of
#    lines are in flight.  Without those bounds the whole file is one batch
#    and the peak is about twice the budget.  Skipped under AddressSanitizer,
#    whose own memory makes RSS meaningless.
#
# Usage: HUB_BUILD=build sh tests/integration/import_limits.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${HUB_BUILD:-build}
PH=$B/profilehub

fail() {
	echo "import_limits: FAIL: $*" >&2
	exit 1
}

[ -x "$PH" ] || fail "$PH is missing (make $PH)"
[ -x /usr/bin/time ] || fail "/usr/bin/time is missing (Debian package \"time\")"
T=$(mktemp -d "${TMPDIR:-/tmp}/import_limits.XXXXXX") || fail "mktemp"
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
printf 'store:\n  path: %s/hub.db\n' "$T" >"$T/hub.yaml"

# a record line whose event carries a string property of $2 bytes
event_line() {
	printf '{"type":"track","message_id":"%s","timestamp":"2025-01-01T00:00:00Z",' "$1"
	printf '"identifiers":{"installation_id":"i1"},"event":{"name":"big","properties":{"blob":"'
	head -c "$2" /dev/zero | tr '\0' x
	printf '"}}}\n'
}

# ---- 1. an over-long line ------------------------------------------------
{
	event_line m1 10
	event_line m2 1048576 # with the JSON around it, past the limit
	event_line m3 10
} >"$T/long.jsonl"
"$PH" -c "$T/hub.yaml" import "$T/long.jsonl" --source s >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "an import with a rejected line must exit 1"
grep -qx "records 3, applied 2, duplicates 0, blocked 0, refused 0, rejected 1" "$T/out" ||
	fail "counts: $(cat "$T/out")"
len=$(sed -n 2p "$T/long.jsonl" | tr -d '\n' | wc -c)
grep -q "line 2: the line is $len bytes, longer than a record may be (1048576)" "$T/err" ||
	fail "the rejection does not name the line and its length: $(cat "$T/err")"
echo "import_limits: a $len-byte line is rejected by number and length; its neighbours applied"

# ---- 2. big events stay within the memory budget -------------------------
if ldd "$PH" 2>/dev/null | grep -q libasan; then
	echo "SKIP: the big events' memory budget (an AddressSanitizer build's peak RSS is not the hub's)"
	exit 0
fi
event_line proto 900000 >"$T/proto.jsonl"
i=0
while [ "$i" -lt 300 ]; do
	sed "s/\"proto\"/\"b$i\"/" "$T/proto.jsonl"
	i=$((i + 1))
done >"$T/big.jsonl"
rm -f "$T"/hub.db*
/usr/bin/time -f '%M' -o "$T/rss" "$PH" -c "$T/hub.yaml" import "$T/big.jsonl" --source s \
	>"$T/out" 2>"$T/err" || fail "big import exited $?: $(cat "$T/err")"
grep -qx "records 300, applied 300, duplicates 0, blocked 0, refused 0, rejected 0" "$T/out" ||
	fail "big import counts: $(cat "$T/out")"
rss_kb=$(tail -1 "$T/rss")
mb=$(($(stat -c %s "$T/big.jsonl") / 1048576))
[ "$rss_kb" -le 262144 ] || fail "importing $mb MB of big events peaked at $((rss_kb / 1024)) MB (budget 256 MB)"
echo "import_limits: $mb MB of 900 KB events imported at a peak RSS of $((rss_kb / 1024)) MB"
exit 0
