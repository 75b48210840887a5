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
#   - fuzz_linereader, whose seeds reach its floor but not one of the
#     functions tests/fuzz/seed_cov names for it: failed naming it;
#   - fuzz_time, whose seeds reach its floor and its named functions:
#     fuzzed, its runs counted.
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

# fake NAME COV [FUNCTION...]: a target whose seeds reach COV edges and the
# FUNCTIONs (listed by -print_coverage=1 as libFuzzer lists them); COV
# "crash": one of them crashes it, its input written where libFuzzer writes it
fake() {
	fake_name=$1 fake_cov=$2
	shift 2
	cat >"$T/b/fuzz/$fake_name" <<EOF
#!/bin/sh
prefix=./
runs=
for a; do
	case "\$a" in
	-artifact_prefix=*) prefix=\${a#-artifact_prefix=} ;;
	-runs=*) runs=\${a#-runs=} ;;
	-print_coverage=1)
		for f in $*; do
			echo "COVERED_FUNC: hits: 1 edges: 1/1 \$f /src/\$f.c:1"
		done ;;
	esac
done
if [ "$fake_cov" = crash ]; then
	echo "==1== ERROR: libFuzzer: deadly signal"
	printf x >"\${prefix}$crash"
	echo "artifact_prefix='\$prefix'; Test unit written to \${prefix}$crash"
	exit 1
fi
echo "#2	INITED cov: $fake_cov ft: $fake_cov corp: 2/2b exec/s: 0 rss: 30Mb"
[ "\$runs" = 0 ] || echo "stat::number_of_executed_units: 7"
EOF
	chmod +x "$T/b/fuzz/$fake_name"
}
fake fuzz_cron crash
fake fuzz_url 3
# the functions tests/fuzz/seed_cov names for fuzz_time, and all but one of
# fuzz_linereader's
fake fuzz_time 9999 $(awk '$1 == "fuzz_time" { $1 = $2 = ""; print }' tests/fuzz/seed_cov)
fake fuzz_linereader 9999 $(awk '$1 == "fuzz_linereader" { $1 = $2 = $3 = ""; print }' \
	tests/fuzz/seed_cov)
missing=$(awk '$1 == "fuzz_linereader" { print $3 }' tests/fuzz/seed_cov)
[ -n "$missing" ] || fail "tests/fuzz/seed_cov names no function for fuzz_linereader"

HUB_BUILD="$T/b" FUZZ_SECONDS=1 FUZZ_JOBS=4 sh tests/fuzz/run.sh >"$T/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "run.sh passed with three targets failed"
said() {
	grep -qF -- "$1" "$T/out" || fail "run.sh did not say: $1"
}
said "--- fuzz_cron FAILED: a seed crashes it, before any fuzzing: see $T/b/fuzz/fuzz_cron.log"
said "==1== ERROR: libFuzzer: deadly signal"
said "--- fuzz_url FAILED: its seeds reach 3 edges, under their floor of 120"
said "=== fuzz_time: 1s, 7 runs, no crash (9999 edges from the seeds)"
said "--- fuzz_linereader FAILED: its seeds never reach $missing (tests/fuzz/seed_cov names it)"
said "fuzz: 3 target(s) failed"
if grep -q "fuzz_cron FAILED: its seeds reach" "$T/out"; then
	fail "a seed's crash told as too few edges"
fi
[ -f "$T/b/fuzz/artifacts/fuzz_cron-$crash" ] || fail "the crashing seed is not in the artifacts"
[ ! -e "$crash" ] || fail "the crashing seed was written to the repo's root"
[ "$fails" -eq 0 ] || sed 's/^/  run.sh: /' "$T/out"

finish fuzz_seed_check
echo "fuzz_seed_check: a seed's crash, a floor not reached, a named function not reached" \
	"and a target fuzzed told apart"
