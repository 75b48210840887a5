#!/bin/sh
# import_crash.sh - an import killed with SIGKILL at random points, then run
# again to the end, leaves exactly the store a clean import leaves.
#
# Store A gets one clean `profilehub import` of a generated file
# (tests/tools/gen_records), then the same file again, which must change
# nothing.  Store B gets the file again and again, each run killed with
# SIGKILL after a random delay inside the import (5 kills, spread over the
# file), then one complete run.  Store B's runs commit every tenth of the
# file (--commit-every), so kills land between commits; store A's run commits at
# the default size, which must not change the result either.  The dumps
# (`dump --events all`) must be identical byte for byte; PROFILEHUB_ID_KEY is fixed so both stores make
# the same profile IDs.  The final run's counts must account for every
# record: what the killed runs committed comes back as duplicates, blocked
# records are blocked again (dedupe remembers applied records only).
# With IMPORT_CRASH_STORE=postgres (pg_import_crash.sh) stores A and B are
# two schemas of a throwaway PostgreSQL (tests/pgtest.sh).  There a profile
# ID comes from a sequence, which a killed transaction does not give back
# (docs/scaling-out.md), so store B's IDs differ from A's: the dumps are
# compared without profile_id, merged_from by its length, in sorted order.
#
# Usage: HUB_BUILD=build sh tests/integration/import_crash.sh
# Knobs: IMPORT_CRASH_SEED (generator seed, default 1), IMPORT_CRASH_RECORDS
# (default 200000; 60000 when profilehub is built with AddressSanitizer),
# IMPORT_CRASH_STORE (sqlite|postgres), IMPORT_CRASH_ERASE_RATE (default 0.002).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/pid.sh # pid_signal: no signal to a PID that is no longer ours
. tests/lib/pgstore.sh
B=${HUB_BUILD:-build}
PH=$B/profilehub
GEN=$B/tests/tools/gen_records
SEED=${IMPORT_CRASH_SEED:-1}
KILLS=5
MAX_RUNS=14
STORE=${IMPORT_CRASH_STORE:-sqlite}

fail() {
	echo "import_crash: FAIL: $*" >&2
	exit 1
}

for f in "$PH" "$GEN"; do
	[ -x "$f" ] || fail "$f is missing (make $f)"
done
if [ -n "${IMPORT_CRASH_RECORDS:-}" ]; then
	RECORDS=$IMPORT_CRASH_RECORDS
elif ldd "$PH" 2>/dev/null | grep -q libasan; then
	RECORDS=60000
else
	RECORDS=200000
fi

COMMIT_EVERY=$((RECORDS / 10))
T=$(mktemp -d "${TMPDIR:-/tmp}/import_crash.XXXXXX") || fail "mktemp"
bg_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$bg_pid" ]; then
		pid_signal KILL "$bg_pid"
		wait "$bg_pid" 2>/dev/null
	fi
	[ "$STORE" = postgres ] && sh tests/pgtest.sh stop "$T/pg"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PROFILEHUB_ID_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
export PROFILEHUB_ID_KEY

# milliseconds since the epoch (GNU date), or seconds x 1000 elsewhere
now_ms() {
	t=$(date +%s%N 2>/dev/null)
	case $t in
	*N* | "") echo $(($(date +%s) * 1000)) ;;
	*) echo $((t / 1000000)) ;;
	esac
}

# a random number in [lo, hi)
random_in() {
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	echo $(($1 + r % ($2 - $1)))
}

# "records N, applied N, duplicates N, blocked N, refused N, rejected N"
# -> "N N N N N N"
counts_of() {
	awk '/^records / { gsub(",", ""); print $2, $4, $6, $8, $10, $12; exit }' "$1"
}

case $STORE in
sqlite) ;;
postgres) pgstore_start || fail "cannot start PostgreSQL" ;;
*) fail "IMPORT_CRASH_STORE=$STORE: sqlite or postgres" ;;
esac

for s in a b; do
	if [ "$STORE" = postgres ]; then
		pgstore_yaml "$s"
	else
		printf 'store:\n  path: %s/%s.db\n' "$T" "$s"
	fi >"$T/$s.yaml"
	"$GEN" --print-config >>"$T/$s.yaml"
done

# No blocked identifier values: with nothing rejected, the import's exit
# status says whether it worked.  More erasures than usual, to have
# blocked records across the kills.
"$GEN" --seed "$SEED" --users 20000 --records "$RECORDS" --blocked-rate 0 \
	--erase-rate "${IMPORT_CRASH_ERASE_RATE:-0.002}" >"$T/records.jsonl" || fail "gen_records"
echo "import_crash: seed $SEED, $RECORDS records, $STORE"

# ---- the clean run, then the same file again on the same store ---------
t0=$(now_ms)
"$PH" -c "$T/a.yaml" import "$T/records.jsonl" --source s >"$T/clean.out" 2>"$T/clean.err" ||
	fail "clean import exited $?: $(cat "$T/clean.err")"
clean_ms=$(($(now_ms) - t0))
"$PH" -c "$T/a.yaml" dump --events all >"$T/clean.jsonl" || fail "dump of the clean store"
echo "import_crash: clean import $clean_ms ms: $(head -1 "$T/clean.out")"
[ "$clean_ms" -ge 300 ] || fail "the clean import took $clean_ms ms: too short to kill inside"

# a second import of the same file changes nothing; its time is what a
# run spends replaying an imported prefix as duplicates
t0=$(now_ms)
"$PH" -c "$T/a.yaml" import "$T/records.jsonl" --source s >"$T/again.out" 2>"$T/again.err" ||
	fail "second import exited $?: $(cat "$T/again.err")"
dup_ms=$(($(now_ms) - t0))
"$PH" -c "$T/a.yaml" dump --events all >"$T/again.jsonl" || fail "dump after the second import"
cmp -s "$T/clean.jsonl" "$T/again.jsonl" || fail "importing the file twice changed the dump"
echo "import_crash: second import $dup_ms ms: $(head -1 "$T/again.out")"

# ---- the crashed runs ----------------------------------------------------
# Kill i aims at a random point of the i-th sixth of the file.  A run first
# replays what earlier runs committed (dup_ms per whole file), then goes on
# at the clean run's pace, so the delay for a target q (per mille) after a
# prefix p is (p * dup_ms + (q - p) * clean_ms) / 1000.  The estimate is
# rough (startup, batches in flight), which only moves the points.
kills=0
runs=0
p=0
while [ "$kills" -lt "$KILLS" ]; do
	runs=$((runs + 1))
	[ "$runs" -le "$MAX_RUNS" ] ||
		fail "only $kills of $runs runs were still importing when killed"
	if [ "$p" -ge 0 ]; then
		q=$(((kills * 1000 + $(random_in 100 900)) / (KILLS + 1)))
		delay=$(((p * dup_ms + (q - p) * clean_ms) / 1000))
	else
		q=-1 # the store is complete: kill inside the replay of duplicates
		delay=$(random_in $((dup_ms / 10)) $((dup_ms * 9 / 10 + 1)))
	fi
	"$PH" -c "$T/b.yaml" import "$T/records.jsonl" --source s --commit-every "$COMMIT_EVERY" \
		>/dev/null 2>&1 &
	bg_pid=$!
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	pid_signal KILL "$bg_pid" # not if it ended during the sleep: its PID may be another's
	wait "$bg_pid" 2>/dev/null # the shell's "Killed" notice goes to stderr
	rc=$?
	bg_pid=
	if [ "$rc" -eq 137 ]; then
		kills=$((kills + 1))
		if [ "$q" -ge 0 ]; then
			echo "import_crash: run $runs killed after $delay ms, aimed at record" \
				"$((q * RECORDS / 1000))"
			p=$q
		else
			echo "import_crash: run $runs killed after $delay ms, all duplicates"
		fi
	elif [ "$rc" -eq 0 ]; then
		echo "import_crash: run $runs finished within $delay ms"
		p=-1
	else
		fail "run $runs exited $rc"
	fi
done

# ---- the complete run ---------------------------------------------------
"$PH" -c "$T/b.yaml" import "$T/records.jsonl" --source s --commit-every "$COMMIT_EVERY" \
	>"$T/final.out" 2>"$T/final.err" ||
	fail "final import exited $?: $(cat "$T/final.err")"
"$PH" -c "$T/b.yaml" dump --events all >"$T/crashed.jsonl" || fail "dump of the crashed store"
echo "import_crash: final import: $(head -1 "$T/final.out")"

# comparable DUMP: the dump as compared (on PostgreSQL without the IDs)
comparable() {
	if [ "$STORE" = postgres ]; then
		jq -c 'del(.profile_id) | .merged_from = (.merged_from // [] | length)' "$1" | sort
	else
		cat "$1"
	fi
}
comparable "$T/clean.jsonl" >"$T/clean.cmp" || fail "jq over the clean dump"
comparable "$T/crashed.jsonl" >"$T/crashed.cmp" || fail "jq over the crashed dump"
cmp "$T/clean.cmp" "$T/crashed.cmp" ||
	fail "the dumps differ: $(diff "$T/clean.cmp" "$T/crashed.cmp" | head -4 | cut -c1-200)"
[ -s "$T/clean.jsonl" ] || fail "the dump is empty"

# The summaries: "records N, applied N, duplicates N, blocked N, refused N,
# rejected N".  Blocked records are evaluated again on every run (dedupe
# remembers applied records only); everything else the killed runs did
# comes back as duplicates.
# shellcheck disable=SC2046
set -- $(counts_of "$T/clean.out") $(counts_of "$T/again.out") $(counts_of "$T/final.out")
[ $# -eq 18 ] || fail "cannot read the import summaries"
c_rec=$1 c_app=$2 c_dup=$3 c_blk=$4 c_ref=$5 c_rej=$6
a_rec=$7 a_app=$8 a_dup=$9
shift 9
a_blk=$1 a_ref=$2 a_rej=$3
f_rec=$4 f_app=$5 f_dup=$6 f_blk=$7 f_ref=$8 f_rej=$9
handled=$((c_app + c_dup + c_ref))
if [ "$c_rec" -ne "$RECORDS" ] || [ "$a_rec" -ne "$RECORDS" ] || [ "$f_rec" -ne "$RECORDS" ]; then
	fail "records counted: clean $c_rec, again $a_rec, final $f_rec; the file has $RECORDS"
fi
if [ "$a_app" -ne 0 ] || [ "$a_ref" -ne 0 ] || [ "$a_dup" -ne "$handled" ] ||
	[ "$a_blk" -ne "$c_blk" ] || [ "$a_rej" -ne "$c_rej" ]; then
	fail "second import: $(head -1 "$T/again.out"); expected $handled duplicates"
fi
if [ "$f_blk" -ne "$c_blk" ] || [ "$f_rej" -ne "$c_rej" ]; then
	fail "blocked/rejected: clean $c_blk/$c_rej, final $f_blk/$f_rej"
fi
if [ $((f_app + f_dup + f_ref)) -ne "$handled" ] || [ "$f_app" -gt "$c_app" ]; then
	fail "final run: applied $f_app + duplicates $f_dup + refused $f_ref does not account for" \
		"clean applied $c_app + duplicates $c_dup + refused $c_ref"
fi
echo "import_crash: $kills kills in $runs runs; the killed runs applied $((c_app - f_app))" \
	"of $c_app records, the final run the rest; dumps identical" \
	"($(wc -l <"$T/clean.jsonl") profiles)"
exit 0
