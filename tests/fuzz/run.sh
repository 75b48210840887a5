#!/bin/sh
# run.sh - runs every libFuzzer binary in $HUB_BUILD/fuzz for FUZZ_SECONDS,
# each from a seed corpus made of the test fixtures, FUZZ_JOBS targets at a
# time (default: one per core).  A crash leaves its input in
# $HUB_BUILD/fuzz/artifacts/ and fails the run: turn it into a regression
# test (a row in the module's unit test table).  Before fuzzing, a target's
# seeds alone must reach its floor of edges in tests/fuzz/seed_cov.
set -u
cd "$(dirname "$0")/../.."
B=${HUB_BUILD:-build/fuzz}
SECS=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-$(nproc)}
S=${HUB_SHARED:-../shared}
failed=0

# seeds <target> <corpus dir>: copies the fixtures that fit the target
seeds() {
	mkdir -p "$2"
	case "$1" in
	fuzz_record)
		i=0
		for f in "$S"/data/scenarios/*.jsonl tests/fixtures/record/*.jsonl; do
			[ -e "$f" ] || continue
			while IFS= read -r line; do
				i=$((i + 1))
				printf '%s' "$line" >"$2/seed-$i"
			done <"$f"
		done ;;
	fuzz_config) cp tests/fixtures/config/*.yaml conf/*.yaml "$2/" 2>/dev/null ;;
	*) cp tests/fixtures/"${1#fuzz_}"/* "$2/" 2>/dev/null ;;
	esac
	return 0
}

# seed_cov_check <binary>: the edges its seeds alone reach (a fresh copy,
# run once each) against its floor in tests/fuzz/seed_cov, and the functions
# named there each reached; a harness whose every input is refused early
# would fuzz nothing and pass.  Prints the verdict's reason and returns 1
# when under the floor or without one, or a named function not reached, or
# "seed_crash" when a seed crashes the target (its output in the target's
# log, its input in the artifacts: it was told as "0 edges, under the
# floor", the crash file left in the current directory).
seed_cov_check() {
	name=$(basename "$1")
	dir="$B/fuzz/seeds/$name"
	rm -rf "$dir"
	seeds "$name" "$dir"
	if ! "$1" -runs=0 -print_coverage=1 -artifact_prefix="$B/fuzz/artifacts/$name-" "$dir" \
		>"$B/fuzz/$name.log" 2>&1; then
		echo seed_crash
		return 1
	fi
	cov=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$B/fuzz/$name.log" | head -1)
	floor=$(awk -v t="$name" '$1 == t { print $2 }' tests/fuzz/seed_cov)
	echo "${cov:-0}" >"$1.cov"
	if [ -z "$floor" ]; then
		echo "no floor in tests/fuzz/seed_cov (its seeds reach ${cov:-0} edges: add" \
			"\"$name $(( ${cov:-0} * 8 / 10 ))\")"
		return 1
	fi
	if [ "${cov:-0}" -lt "$floor" ]; then
		echo "its seeds reach ${cov:-0} edges, under their floor of $floor" \
			"(tests/fuzz/seed_cov): does the harness still reach the code it fuzzes?"
		return 1
	fi
	for fn in $(awk -v t="$name" '$1 == t { for (i = 3; i <= NF; i++) print $i }' \
		tests/fuzz/seed_cov); do
		if ! grep -q "^COVERED_FUNC: .* $fn " "$B/fuzz/$name.log"; then
			echo "its seeds never reach $fn (tests/fuzz/seed_cov names it): does" \
				"the harness still call it, and use what it returns?"
			return 1
		fi
	done
}

# fuzz_one <binary>: one target; its verdict goes to <binary>.verdict
fuzz_one() {
	name=$(basename "$1")
	corpus="$B/fuzz/corpus/$name"
	if ! seed_cov_check "$1" >"$1.verdict"; then
		return
	fi
	seeds "$name" "$corpus"
	if "$1" -max_total_time="$SECS" -print_final_stats=1 \
		-artifact_prefix="$B/fuzz/artifacts/$name-" "$corpus" >"$B/fuzz/$name.log" 2>&1; then
		echo ok >"$1.verdict"
	else
		echo failed >"$1.verdict"
	fi
}

# report <binary>: prints one target's outcome, counts a failure
report() {
	name=$(basename "$1")
	verdict=$(cat "$1.verdict" 2>/dev/null)
	if [ "$verdict" = ok ]; then
		echo "=== $name: ${SECS}s, $(grep -E "stat::number_of_executed_units" \
			"$B/fuzz/$name.log" | awk '{ print $2 }') runs, no crash" \
			"($(cat "$1.cov") edges from the seeds)"
	elif [ "$verdict" = seed_crash ]; then
		echo "--- $name FAILED: a seed crashes it, before any fuzzing: see $B/fuzz/$name.log"
		tail -30 "$B/fuzz/$name.log"
		failed=$((failed + 1))
	elif [ -n "$verdict" ] && [ "$verdict" != failed ]; then
		echo "--- $name FAILED: $verdict"
		failed=$((failed + 1))
	else
		echo "--- $name FAILED: see $B/fuzz/$name.log"
		tail -30 "$B/fuzz/$name.log"
		failed=$((failed + 1))
	fi
	rm -f "$1.verdict" "$1.cov"
}

mkdir -p "$B/fuzz/artifacts"
batch=""
n=0
for bin in "$B"/fuzz/fuzz_*; do
	case "$bin" in *.d|*.log|*.verdict|*.cov) continue ;; esac
	[ -x "$bin" ] || continue
	fuzz_one "$bin" &
	batch="$batch $bin"
	n=$((n + 1))
	if [ $n -ge "$JOBS" ]; then
		wait
		for b in $batch; do report "$b"; done
		batch=""
		n=0
	fi
done
wait
for b in $batch; do report "$b"; done
echo "fuzz: $failed target(s) failed"
[ $failed -eq 0 ]
