#!/bin/sh
# run.sh - runs every libFuzzer binary in $HUB_BUILD/fuzz for FUZZ_SECONDS,
# each from a seed corpus made of the test fixtures.  A crash leaves its
# input in $HUB_BUILD/fuzz/artifacts/ and fails the run: turn it into a
# regression test (a row in the module's unit test table).
set -u
cd "$(dirname "$0")/../.."
B=${HUB_BUILD:-build/fuzz}
SECS=${FUZZ_SECONDS:-30}
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
	*) name=${1#fuzz_}
	   cp tests/fixtures/"$name"/* "$2/" 2>/dev/null ;;
	esac
	return 0
}

mkdir -p "$B/fuzz/artifacts"
for bin in "$B"/fuzz/fuzz_*; do
	case "$bin" in *.d) continue ;; esac
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus="$B/fuzz/corpus/$name"
	seeds "$name" "$corpus"
	echo "=== $name: ${SECS}s"
	if "$bin" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$B/fuzz/artifacts/$name-" \
		"$corpus" >"$B/fuzz/$name.log" 2>&1; then
		grep -E "stat::number_of_executed_units|Done" "$B/fuzz/$name.log" | tail -2
	else
		echo "--- $name FAILED: see $B/fuzz/$name.log"
		tail -30 "$B/fuzz/$name.log"
		failed=$((failed + 1))
	fi
done
echo "fuzz: $failed target(s) failed"
[ $failed -eq 0 ]
