#!/bin/sh
# fuzz_seed_check.sh - tests/fuzz/run.sh's verdicts before and after
# fuzzing, with fake libFuzzer targets (shell scripts: no clang needed) in
# a build dir of their own:
#
#   - fuzz_cron, one of whose seeds crashes it: failed as a seed crash,
#     the target's output shown, its input in the artifacts (it was told
#     as "its seeds reach 0 edges, under their floor", the crash file left
#     in the repo's root);
#   - fuzz_url, whose seeds reach fewer edges than its floor: failed naming
#     the floor;
#   - fuzz_time, whose seeds reach its floor: fuzzed, its runs counted.
#
# Usage: sh tests/integration/fuzz_seed_check.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir fuzz_seed_check
crash="crash-seedcheck-$$"
[ ! -e "$crash" ] || die "$crash is in the repo's root already"
hub_at_exit "rm -f '$ROOT/$crash'"
mkdir -p "$T/b/fuzz"

# fake NAME COV: a target whose seeds reach COV edges; COV "crash": one of
# them crashes it, its input written where libFuzzer writes it
fake() {
	cat >"$T/b/fuzz/$1" <<EOF
#!/bin/sh
prefix=./
runs=
for a; do
	case "\$a" in
	-artifact_prefix=*) prefix=\${a#-artifact_prefix=} ;;
	-runs=*) runs=\${a#-runs=} ;;
	esac
done
if [ "$2" = crash ]; then
	echo "==1== ERROR: libFuzzer: deadly signal"
	printf x >"\${prefix}$crash"
	echo "artifact_prefix='\$prefix'; Test unit written to \${prefix}$crash"
	exit 1
fi
echo "#2	INITED cov: $2 ft: $2 corp: 2/2b exec/s: 0 rss: 30Mb"
[ "\$runs" = 0 ] || echo "stat::number_of_executed_units: 7"
EOF
	chmod +x "$T/b/fuzz/$1"
}
fake fuzz_cron crash
fake fuzz_url 3
fake fuzz_time 9999

HUB_BUILD="$T/b" FUZZ_SECONDS=1 FUZZ_JOBS=3 sh tests/fuzz/run.sh >"$T/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "run.sh passed with two targets failed"
said() {
	grep -qF -- "$1" "$T/out" || fail "run.sh did not say: $1"
}
said "--- fuzz_cron FAILED: a seed crashes it, before any fuzzing: see $T/b/fuzz/fuzz_cron.log"
said "==1== ERROR: libFuzzer: deadly signal"
said "--- fuzz_url FAILED: its seeds reach 3 edges, under their floor of 120"
said "=== fuzz_time: 1s, 7 runs, no crash (9999 edges from the seeds)"
said "fuzz: 2 target(s) failed"
if grep -q "fuzz_cron FAILED: its seeds reach" "$T/out"; then
	fail "a seed's crash told as too few edges"
fi
[ -f "$T/b/fuzz/artifacts/fuzz_cron-$crash" ] || fail "the crashing seed is not in the artifacts"
[ ! -e "$crash" ] || fail "the crashing seed was written to the repo's root"
[ "$fails" -eq 0 ] || sed 's/^/  run.sh: /' "$T/out"

finish fuzz_seed_check
echo "fuzz_seed_check: a seed's crash, a floor not reached and a target fuzzed told apart"
