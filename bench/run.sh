#!/bin/sh
# bench/run.sh - runs the benchmarks: every bench/*/run.sh (or only those
# named: `sh bench/run.sh unify`, or BENCH=unify in the environment), then
# prints the summary lines each one reported.
# Usage: HUB_BUILD=build sh bench/run.sh [NAME...]   (make bench does this)
#
# A benchmark prints its figures beside its targets with PASS or MISS; a
# missed target never fails the run.  The exit status is non-zero only when
# a benchmark could not run at all (a missing binary, a crashed import).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${HUB_BUILD:-build}
export HUB_BUILD="$B"

names="$*"
[ -z "$names" ] && names=${BENCH:-}
if [ -z "$names" ]; then
	for f in bench/*/run.sh; do
		[ -e "$f" ] || continue
		names="$names $(basename "$(dirname "$f")")"
	done
fi

BENCH_SUMMARY=$(mktemp)
export BENCH_SUMMARY
trap 'rm -f "$BENCH_SUMMARY"' EXIT
broken=""
start=$(date +%s)
for name in $names; do
	if [ ! -f "bench/$name/run.sh" ]; then
		echo "bench: no benchmark \"$name\" (bench/$name/run.sh)" >&2
		broken="$broken $name"
		continue
	fi
	t0=$(date +%s)
	if ! sh "bench/$name/run.sh"; then
		broken="$broken $name"
		echo "$name: ERROR: the benchmark did not complete" >>"$BENCH_SUMMARY"
	fi
	echo "bench: $name took $(($(date +%s) - t0)) s"
	echo
done

echo "==== bench summary ($(nproc) cores, $(($(date +%s) - start)) s)"
cat "$BENCH_SUMMARY"
[ -z "$broken" ] || { echo "bench: could not run:$broken"; exit 1; }
exit 0
