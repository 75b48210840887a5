#!/bin/sh
# promtext.sh - tests/tools/promtext, the check http_run.sh holds each
# /metrics scrape to, is itself held to what it says it refuses: a sound
# exposition passes, and each of a list of wrong ones (one fault each: a
# family typed twice or split, a series twice, in another label order too,
# a label twice, a counter below 0 or not *_total, buckets not cumulative,
# le not a number, a histogram sample of its bare name, no +Inf, ...) fails
# naming its problem.  A checker that passes bad text is worse than none.
set -u
cd "$(dirname "$0")/../.."
B=${HUB_BUILD:-build}
PT=$B/tests/tools/promtext
[ -x "$PT" ] || {
	echo "FAIL: $PT is not built (make test builds it)"
	exit 1
}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

GOOD='# HELP intake_commit_seconds commit latency
# TYPE intake_commit_seconds histogram
intake_commit_seconds_bucket{le="0.5"} 1
intake_commit_seconds_bucket{le="1"} 1
intake_commit_seconds_bucket{le="+Inf"} 2
intake_commit_seconds_sum 1.75
intake_commit_seconds_count 2
# HELP http_requests_total requests
# TYPE http_requests_total counter
http_requests_total{route="/in/a",status="200"} 3
http_requests_total{route="/in/a",status="400"} 0
# HELP export_lag a gauge
# TYPE export_lag gauge
export_lag{export="x \"q\" \\ y"} -1.5e3
export_lag{export="z"} NaN'

printf '%s\n' "$GOOD" | "$PT" 2>"$T/err" || fail "a sound exposition refused: $(cat "$T/err")"

# bad WHAT SAID TEXT: TEXT (a newline added) fails, its stderr holding SAID
bad() {
	if printf '%s\n' "$3" | "$PT" 2>"$T/err"; then
		fail "$1: passed"
	elif ! grep -qF -- "$2" "$T/err"; then
		fail "$1: not said as \"$2\": $(cat "$T/err")"
	fi
}
# GOOD with one line changed: sed's s command $2
good_but() {
	printf '%s\n' "$GOOD" | sed "$1"
}

bad "a counter typed gauge" "a counter's name ends in _total" \
	"$(good_but 's/^# TYPE http_requests_total counter/# TYPE http_requests_total gauge/')"
bad "a gauge named *_total" "a counter's name ends in _total" \
	"$(good_but 's/export_lag/export_lag_total/g')"
bad "TYPE twice" "a second TYPE" \
	"$(good_but '/^# TYPE export_lag/p')"
bad "HELP twice" "a second HELP" \
	"$(good_but '/^# HELP export_lag/p')"
bad "no HELP" "without its HELP and TYPE" \
	"$(good_but '/^# HELP export_lag/d')"
bad "not a type" "not a type" \
	"$(good_but 's/^# TYPE export_lag gauge/# TYPE export_lag gauges/')"
bad "a family split" "apart from the rest of it" \
	"$GOOD
http_requests_total{route=\"/in/b\",status=\"200\"} 1"
bad "TYPE after the samples" "after the family's samples" \
	"$GOOD
# TYPE http_requests_total counter"
bad "a series twice" "a series given twice" \
	"$(good_but '/status="400"/p')"
bad "a series twice, its labels in another order" "a series given twice" \
	"$(good_but 's/{route="\/in\/a",status="400"}/{status="200",route="\/in\/a"}/')"
bad "a label twice" "a label given twice" \
	"$(good_but 's/{export="z"}/{export="z",export="w"}/')"
bad "a counter below 0" "a counter below 0" \
	"$(good_but 's/status="400"} 0/status="400"} -1/')"
bad "a counter NaN" "a counter below 0" \
	"$(good_but 's/status="400"} 0/status="400"} NaN/')"
bad "buckets not cumulative" "buckets not rising" \
	"$(good_but 's/le="1"} 1/le="1"} 0/')"
bad "le not rising" "buckets not rising" \
	"$(good_but 's/le="1"} 1/le="0.25"} 1/')"
bad "le NaN" "le twice, or not a number" \
	"$(good_but 's/le="1"}/le="NaN"}/')"
bad "le with a blank" "le twice, or not a number" \
	"$(good_but 's/le="1"}/le=" 1"}/')"
bad "le empty" "le twice, or not a number" \
	"$(good_but 's/le="1"}/le=""}/')"
bad "le outside a histogram" "le outside a histogram" \
	"$(good_but 's/{export="z"}/{export="z",le="1"}/')"
bad "no +Inf bucket" "_sum or _count before the +Inf bucket" \
	"$(good_but '/le="+Inf"/d')"
bad "_count not +Inf's" "_count is not the +Inf bucket's count" \
	"$(good_but 's/_count 2/_count 3/')"
bad "no _count" "no +Inf bucket, _sum or _count" \
	"$(good_but '/_count/d')"
bad "the bare name in place of _sum" "other than _bucket, _sum or _count" \
	"$(good_but 's/^intake_commit_seconds_sum/intake_commit_seconds/')"
bad "a timestamp" "no timestamp" \
	"$(good_but 's/} NaN/} NaN 1700000000000/')"
bad "two blanks" "no timestamp" \
	"$(good_but 's/} NaN/}  NaN/')"
bad "a value not a float" "no timestamp" \
	"$(good_but 's/} -1.5e3/} 0x10/')"
bad "an escape other than \\\\ \\\" \\n" "escapes more than" \
	"$(good_but 's/x \\"q\\"/x \\t/')"
bad "a label value not closed" "without its closing quote" \
	"$(good_but 's/{export="z"}/{export="z}/')"
bad "a label name of __" "not name=\"value\"" \
	"$(good_but 's/{export="z"}/{__name__="z"}/')"
bad "a comment" "a comment other than HELP or TYPE" \
	"# made by the hub
$GOOD"
bad "a blank line" "a blank line" \
	"$(good_but 's/^# HELP export_lag/\n&/')"
printf '%s' "$GOOD" | "$PT" 2>"$T/err" && fail "no newline at the end: passed"
grep -qF "does not end in a newline" "$T/err" || fail "no newline at the end: $(cat "$T/err")"
"$PT" </dev/null 2>"$T/err" && fail "no text: passed"
grep -qF "no text" "$T/err" || fail "no text: $(cat "$T/err")"

[ $fails -eq 0 ] || exit 1
echo "promtext.sh: ok"
