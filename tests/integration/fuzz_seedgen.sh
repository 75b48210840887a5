#!/bin/sh
# fuzz_seedgen.sh - each seed generator of tests/fuzz/seedgen/ writes
# exactly the committed seeds of its target: the same files, byte for byte,
# none missing and none more (a generator changed without its seeds
# written again, or seeds edited by hand, fail here).  Then the check
# itself: a seed changed by one byte, or one more, is caught.  Also that
# each of fuzz_odbc's fetched-row seeds gives every column its own bytes
# (odbc.py --check: a first column's buffer wider than meant once took the
# bytes of the three after it; a first column of SQL_NO_TOTAL ended the row
# before the two after it), and that check itself.
#
# Usage: sh tests/integration/fuzz_seedgen.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_need python3 cmp
hub_tmpdir fuzz_seedgen

# differs GENERATOR DIR: prints how the seeds GENERATOR writes differ from
# DIR's (nothing when they are the same)
differs() {
	out="$T/gen-$(basename "$1" .py)"
	rm -rf "$out"
	if ! python3 "$1" "$out" >"$T/gen.log" 2>&1; then
		echo "python3 $1 failed: $(cat "$T/gen.log")"
		return
	fi
	for f in "$out"/* "$2"/*; do
		name=$(basename "$f")
		if [ ! -e "$2/$name" ]; then
			echo "$name: written, not committed in $2"
		elif [ ! -e "$out/$name" ]; then
			echo "$name: committed in $2, not written"
		elif ! cmp -s "$out/$name" "$2/$name"; then
			echo "$name: differs ($(cmp "$out/$name" "$2/$name" 2>&1 | sed 's/.*: //'))"
		fi
	done | sort -u
}

n=0
for gen in tests/fuzz/seedgen/*.py; do
	target=$(basename "$gen" .py)
	[ "$target" != seedgen ] || continue # the shared part
	dir="tests/fixtures/$target"
	[ -d "$dir" ] || { fail "$gen: no $dir"; continue; }
	d=$(differs "$gen" "$dir")
	if [ -n "$d" ]; then
		fail "$gen does not write $dir's seeds (run it and commit, or mend it):"
		echo "$d" | sed 's/^/  /'
	fi
	n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "$n generators in tests/fuzz/seedgen/, not the 3 (hubrec, odbc, rowmap)"

# every fetched-row seed reaches each of its columns
if ! p=$(python3 tests/fuzz/seedgen/odbc.py --check tests/fixtures/odbc/*); then
	fail "fuzz_odbc seeds whose columns do not get their own bytes:"
	echo "$p" | sed 's/^/  /'
fi

# the check: one byte changed, one seed more
cp -r tests/fixtures/odbc "$T/odbc"
printf 'x' | dd of="$T/odbc/p1" bs=1 seek=3 conv=notrunc 2>/dev/null
printf 'y' >"$T/odbc/extra"
d=$(differs tests/fuzz/seedgen/odbc.py "$T/odbc")
echo "$d" | grep -q "^p1: differs" || fail "a changed seed not caught: $d"
echo "$d" | grep -q "^extra: written, not committed\|^extra: committed in" ||
	fail "a seed more not caught: $d"
# and a row cut before its second column, or with bytes past its last
head -c 100 tests/fixtures/odbc/row0 >"$T/odbc/cut"
{ cat tests/fixtures/odbc/row6; printf 'tail'; } >"$T/odbc/tail"
# a DECIMAL of SQL_NO_TOTAL (its fetch fails without a driver) before a TIMESTAMP
{ printf '\001\001\000\000\012\000\376'; head -c 89 /dev/zero; } >"$T/odbc/nototal"
p=$(python3 tests/fuzz/seedgen/odbc.py --check "$T/odbc/cut" "$T/odbc/tail" "$T/odbc/nototal")
echo "$p" | grep -q "^cut: c1 (type byte 0x0a) reads 0 of its 17 bytes" ||
	fail "a column left without its bytes not caught: $p"
echo "$p" | grep -q "^tail: 4 bytes past the last column" || fail "a tail not caught: $p"
echo "$p" | grep -q "^nototal: c0: SQL_NO_TOTAL ends the row before c1" ||
	fail "a row ended before its last column not caught: $p"

finish fuzz_seedgen
echo "fuzz_seedgen: $n generators write their committed seeds byte for byte"
