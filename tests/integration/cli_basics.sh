#!/bin/sh
# cli_basics.sh - the command line as a user meets it: version, plugins,
# check on every malformed config fixture (exact file:line:col messages,
# exit 1, no secret printed), usage errors (exit 2), and the scenario
# vectors through `import` + `dump` with their counts.
set -u
cd "$(dirname "$0")/../.."
PATH="$PWD/tests/lib/bin:$PATH" # its jq: -e fails on no input (tests/lib/bin/jq)
B=${HUB_BUILD:-build}
HUB="$B/profilehub"
T=$(mktemp -d)
ro=$(mktemp -d /tmp/hub_ro.XXXXXX) # under /tmp: another user reaches it whatever TMPDIR is
trap 'rm -rf "$T" "$ro"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# version and plugins
"$HUB" version >"$T/out" || fail "version exits non-zero"
abi=$(sed -n 's/.*(plugin ABI \([0-9]*\.[0-9]*\)).*/\1/p' "$T/out")
[ -n "$abi" ] || fail "version does not name the ABI"
for lib in sqlite jansson libyaml libmicrohttpd libcurl openssl libpq zlib; do
	grep -Eq "^  $lib [0-9A-Za-z]" "$T/out" || fail "version does not name $lib: $(cat "$T/out")"
done
"$HUB" version --help >"$T/out" 2>&1 && grep -q "^usage: profilehub version" "$T/out" ||
	fail "version --help does not answer its usage: $(cat "$T/out")"
"$HUB" version extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "version with an argument: exit 2 expected"
"$HUB" -c /nonexistent/none.yaml version >/dev/null 2>&1 || fail "version needs no config"
"$HUB" plugins >"$T/out" || fail "plugins exits non-zero"
grep -Eq "^example +[0-9.]+ +pull +$abi " "$T/out" || fail "plugins does not list example with ABI $abi: $(cat "$T/out")"
"$HUB" plugins --describe example >"$T/out" && grep -q "path" "$T/out" || fail "plugins --describe example"
# the hub's keys of each entry too: a pull source's schedule, an export's
# batch_size; a push-only source is refused pull keys, so none is listed;
# the keys a pull only hands to its plugin (query, cursor, ...) are listed
# where the plugin reads them (snowflake), not where it does not (example)
grep -Eq "^    schedule " "$T/out" &&
	! grep -Eq "^    (query|cursor|cursor_start|kind|map) " "$T/out" ||
	fail "plugins --describe example: schedule, and no query/cursor/...: $(cat "$T/out")"
"$HUB" plugins --describe snowflake >"$T/out" && grep -Eq "^    query " "$T/out" &&
	[ "$(grep -Ec "^    (query|cursor|cursor_start|kind|map) " "$T/out")" -eq 5 ] ||
	fail "plugins --describe snowflake lists not each of query/cursor/...: $(cat "$T/out")"
"$HUB" plugins --describe webhook >"$T/out" && grep -Eq "^    batch_size " "$T/out" &&
	grep -Eq "^    kinds " "$T/out" || fail "plugins --describe webhook lists no batch_size/kinds"
# the hub's defaults of the keys it reads on every entry, where the plugin cannot say them
grep -q "changes per delivery (default 100, at most 10000)" "$T/out" ||
	fail "plugins --describe webhook: batch_size's default: $(cat "$T/out")"
"$HUB" plugins --describe snowflake >"$T/out" &&
	grep -q "rows per page (default 10000, at most 1000000)" "$T/out" ||
	fail "plugins --describe snowflake: page_size's default: $(cat "$T/out")"
"$HUB" plugins --describe segment >"$T/out" && grep -Eq "^    enabled " "$T/out" &&
	! grep -Eq "^    schedule " "$T/out" || fail "plugins --describe segment: $(cat "$T/out")"

# usage errors exit 2; unknown command too
"$HUB" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command: exit 2 expected"
"$HUB" dump --events lots >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --events: exit 2 expected"
"$HUB" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command: exit 2 expected"
"$HUB" dupm >/dev/null 2>"$T/err"; [ $? -eq 2 ] || fail "unknown command dupm: exit 2 expected"
grep -q '^profilehub: unknown command "dupm" (did you mean "dump"?)$' "$T/err" ||
	fail "unknown command dupm: $(head -1 "$T/err")"
# a store not there: a relative path is said to be read from the current
# directory, an absolute one not
printf 'store: {path: %s/nothere.db}\n' "$T" >"$T/abs.yaml"
printf 'store: {path: nothere-%s.db}\n' "$$" >"$T/rel.yaml"
"$HUB" -c "$T/abs.yaml" profile --custom-id x >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "nothere.db: No such file or directory (-c FILE names" "$T/err" ||
	fail "profile on an absolute store.path not there: $(cat "$T/err")"
"$HUB" -c "$T/rel.yaml" profile --custom-id x >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "(a relative store.path is read from the current directory; -c" \
	"$T/err" || fail "profile on a relative store.path not there: $(cat "$T/err")"
[ ! -e "$T/nothere.db" ] && [ ! -e "nothere-$$.db" ] ||
	fail "profile created the store it did not find"
# a misuse names what is wrong before the usage line (exit 2 every time)
misuse() { # MESSAGE ARGS...
	want=$1
	shift
	"$HUB" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 2 ] || fail "$*: exit $rc, want 2"
	[ "$(head -1 "$T/err")" = "$want" ] || fail "$*: said $(head -1 "$T/err"), want $want"
}
misuse 'profilehub: profile: --events: "abc" is not all or a number of events' \
	profile --custom-id ann --events abc
misuse 'profilehub: profile: unexpected argument "--bogus"' profile --bogus x
misuse 'profilehub: profile: one lookup at a time: --email after --custom-id' \
	profile --custom-id ann --email x@y
misuse 'profilehub: profile: --custom-id needs a value' profile --custom-id
misuse 'profilehub: privacy: "foo" is not access or erase' privacy foo --custom-id ann
misuse 'profilehub: privacy: a request names --custom-id, --installation-id, --external or --profile-id, not --email' \
	privacy erase --email a@b
misuse 'profilehub: dump: --events needs a value (all, or a number of events)' dump --events
misuse 'profilehub: sync: unexpected argument "--bogus"' sync ex --bogus
misuse "profilehub: import: --source NAME is needed (the records' source, for dedupe)" \
	import f.jsonl
misuse 'profilehub: import: --commit-every: "0" is not a number of records from 1 to 150000' \
	import f.jsonl --source s --commit-every 0
misuse 'profilehub: exports: retry takes one export NAME, 0 given' exports retry
misuse 'profilehub: -c: needs a value (a config FILE)' -c
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "a missing -c value: more than its message: $(cat "$T/err")"
misuse 'profilehub: version: unexpected argument "--bogus"' version --bogus
misuse 'profilehub: run: unexpected argument "--bogus"' run --bogus
# an option that takes one value, given twice, is a misuse naming it and both values
# (the last one silently won: a second -c read another store than the first named)
twice() { # FLAG FIRST SECOND: the end of the message
	echo "$1 given twice (\"$2\", then \"$3\"): it takes one value"
}
misuse "profilehub: $(twice -c a.yaml b.yaml)" -c a.yaml version -c b.yaml
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "-c given twice: more than its message: $(cat "$T/err")"
misuse "profilehub: $(twice --config a.yaml b.yaml)" --config a.yaml dump --config b.yaml
misuse "profilehub: $(twice --config a.yaml b.yaml)" -c a.yaml dump --config b.yaml
misuse "profilehub: $(twice --log-level warn debug)" --log-level warn version --log-level debug
misuse "profilehub: import: $(twice --source s t)" import f.jsonl --source s --source t
misuse "profilehub: import: $(twice --format canonical segment)" \
	import f.jsonl --source s --format canonical --format segment
misuse "profilehub: import: $(twice --commit-every 5 6)" \
	import f.jsonl --source s --commit-every 5 --commit-every 6
misuse "profilehub: import: $(twice --rejects r1 r2)" \
	import f.jsonl --source s --rejects r1 --rejects r2
misuse "profilehub: plugins: $(twice --describe jsonl webhook)" \
	plugins --describe jsonl --describe webhook
misuse "profilehub: dump: $(twice --events all 3)" dump --events all --events 3
misuse "profilehub: profile: $(twice --events 1 2)" profile --custom-id ann --events 1 --events 2
misuse "profilehub: profile: $(twice --after p_a p_b)" profile --email a@b --after p_a --after p_b
misuse "profilehub: exports: $(twice --after 1 2)" exports dead-letters x --after 1 --after 2
misuse "profilehub: exports: $(twice --limit 5 6)" exports dead-letters x --limit 5 --limit 6
# --help shows what each command takes (profile's --after and --events as the command
# reads them) and the exit statuses
"$HUB" --help >"$T/out" || fail "--help: exit $?"
grep -q -- "--external TYPE=VALUE) \[--after P\] \[--events all|N\]" "$T/out" ||
	fail "--help: profile's --after and --events: $(cat "$T/out")"
grep -q -- "--external TYPE=VALUE | --profile-id P)" "$T/out" ||
	fail "--help: privacy's --profile-id: $(cat "$T/out")"
grep -q "Exit status: 0 done, 1 failed" "$T/out" && grep -q "2 a misuse of the arguments" "$T/out" &&
	grep -q "^sync: 130 when a second Ctrl-C" "$T/out" ||
	fail "--help does not give the exit statuses: $(cat "$T/out")"
"$HUB" dump --help >"$T/out" 2>"$T/err" && [ ! -s "$T/err" ] && grep -q "^usage: profilehub dump" "$T/out" ||
	fail "dump --help: the usage alone on stdout, exit 0: $(cat "$T/out" "$T/err")"
"$HUB" --help | grep -q "sync SOURCE" || fail "--help lists sync"
# a command's --help is an answer: its usage on stdout, exit 0
"$HUB" import --help >"$T/out" 2>"$T/err" || fail "import --help: exit $? expected 0"
grep -q "^usage: profilehub import FILE" "$T/out" && [ ! -s "$T/err" ] || fail "import --help: $(cat "$T/out" "$T/err")"
# --help anywhere after the command is its usage, and nothing runs: given to the command,
# it was the value of the flag before it ("privacy erase --custom-id --help" erased the
# custom_id "--help" and printed its request, exit 0), or a NAME ("exports backfill --help")
printf 'store: {path: %s/help.db}\n' "$T" >"$T/help.yaml"
"$HUB" -c "$T/help.yaml" check --connect >/dev/null 2>&1 || fail "check --connect: no store for the --help checks"
for args in "privacy erase --custom-id --help" "privacy access --installation-id -h" \
	"exports backfill --help" "exports forget -h" "plugins --describe --help" \
	"sync --help" "profile --custom-id --help"; do
	# shellcheck disable=SC2086 # the words of $args are the arguments
	"$HUB" -c "$T/help.yaml" $args >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 0 ] && [ ! -s "$T/err" ] && grep -q "^usage: profilehub ${args%% *}" "$T/out" ||
		fail "$args: exit $rc, want 0 and the usage alone: $(cat "$T/out" "$T/err")"
done
# no config at the default place: the defaults, said on stderr
case "$HUB" in /*) hub_abs=$HUB ;; *) hub_abs=$PWD/$HUB ;; esac
(cd "$T" && "$hub_abs" plugins >/dev/null 2>"$T/err") || fail "plugins without a config"
grep -q "no conf/hub.yaml here: using the defaults" "$T/err" || fail "no notice of the defaults: $(cat "$T/err")"
# check says it once, not again as an empty configuration
(cd "$T" && "$hub_abs" check >/dev/null 2>"$T/err") || fail "check without a config"
[ "$(grep -c "using the defaults\|running on the defaults" "$T/err")" = 1 ] ||
	fail "check without a config: the defaults said other than once: $(cat "$T/err")"

# the global options and the dispatch: --version is version; a --log-level
# that is no level, or one without its value, an argument check or plugins
# does not take, and a flag of a command without its value (its last one
# too) are misuses; libpq's version as MAJOR.MINOR
"$HUB" --version >"$T/out" 2>&1 && grep -q "^profilehub [0-9.]* (plugin ABI $abi)$" "$T/out" ||
	fail "--version: $(cat "$T/out")"
grep -Eq "^  libpq [0-9]{1,2}\.[0-9]+$" "$T/out" || fail "libpq's version: $(grep libpq "$T/out")"
misuse 'profilehub: --log-level: unknown level "loud" (error, warn, info, debug)' \
	--log-level loud version
# another case, or a letter or two off: the level suggested, as the config's
# log_level does
misuse 'profilehub: --log-level: unknown level "WARN" (did you mean "warn"?; error, warn, info, debug)' \
	--log-level WARN version
misuse 'profilehub: --log-level: unknown level "debgu" (did you mean "debug"?; error, warn, info, debug)' \
	version --log-level debgu
misuse 'profilehub: --log-level: needs a value (LEVEL)' version --log-level
misuse 'profilehub: check: unexpected argument "--bogus"' check --bogus
misuse 'profilehub: plugins: --describe needs a value' plugins --describe
misuse 'profilehub: import: --commit-every needs a value' import f.jsonl --source s --commit-every
# plugins --describe: a required key said so; a pull source key's description
# without its "pull: " mark
"$HUB" plugins --describe example >"$T/out" || fail "plugins --describe example: exit $?"
grep -Eq '^    path +string, required$' "$T/out" &&
	grep -q '^      "every 15m" or a 5-field cron$' "$T/out" ||
	fail "plugins --describe example: $(cat "$T/out")"
# eight of the README's example secrets are each named; a ninth is counted
tokens=dev-token-change-me
for i in 2 3 4 5 6 7 8; do tokens="$tokens, dev-token-change-me"; done
printf 'store: {path: %s/eight.db}\napi: {tokens: [%s]}\n' "$T" "$tokens" >"$T/eight.yaml"
printf 'store: {path: %s/eight.db}\napi: {tokens: [%s, %s]}\n' "$T" "$tokens" \
	dev-token-change-me >"$T/nine.yaml"
example="this secret is the README's example value"
"$HUB" -c "$T/eight.yaml" check >/dev/null 2>"$T/err" || fail "check of eight example secrets"
[ "$(grep -c "$example" "$T/err")" -eq 8 ] && ! grep -q "more of the" "$T/err" ||
	fail "eight example secrets: $(cat "$T/err")"
"$HUB" -c "$T/nine.yaml" check >/dev/null 2>"$T/err" || fail "check of nine example secrets"
[ "$(grep -c "$example" "$T/err")" -eq 8 ] &&
	grep -q "and 1 more of the README's example secrets" "$T/err" ||
	fail "nine example secrets: $(cat "$T/err")"

# check on each malformed fixture: exit 1 and the exact first line
while IFS='|' read -r fixture want; do
	case "$fixture" in '#'* | '') continue ;; esac
	"$HUB" check -c "tests/fixtures/config/$fixture" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 1 ] || fail "$fixture: exit $rc, expected 1"
	got=$(head -1 "$T/err" | sed 's/^profilehub: //')
	case "$want" in
	*...) prefix=${want%...}
	      case "$got" in "$prefix"*) ;; *) fail "$fixture: got '$got', want prefix '$prefix'" ;; esac ;;
	*) [ "$got" = "$want" ] || fail "$fixture: got '$got', want '$want'" ;;
	esac
done <tests/fixtures/config/expected.txt
"$HUB" check -c tests/fixtures/config/secret_wrong_type.yaml 2>&1 | grep -q "s3cr3t" &&
	fail "a secret value reached check's output"
# an empty file (a template that produced nothing) runs on the defaults: said
: >"$T/empty.yaml"
"$HUB" check -c "$T/empty.yaml" >/dev/null 2>"$T/err" || fail "check refused an empty file"
grep -q "empty.yaml: the configuration is empty: running on the defaults" "$T/err" ||
	fail "check on an empty file: no warning: $(cat "$T/err")"
# -c after the subcommand works the same
"$HUB" check -c tests/fixtures/config/bad_driver.yaml 2>"$T/a"
"$HUB" -c tests/fixtures/config/bad_driver.yaml check 2>"$T/b"
cmp -s "$T/a" "$T/b" || fail "-c before and after the subcommand differ"
(unset HUB_API_TOKEN SEGMENT_WRITE_KEY
 "$HUB" check -c conf/hub.yaml >/dev/null 2>"$T/err") || fail "conf/hub.yaml does not pass check"
# its fallback secrets are the README's: fine on loopback, said by check as by run
grep -q "conf/hub.yaml:[0-9]*:[0-9]*: this secret is the README's example value: fine on this machine" \
	"$T/err" || fail "check on loopback with the example secrets: no warning: $(cat "$T/err")"
# an API token that is also the (public) Segment write key, or a short one: said, by
# place, never by value
same=0123456789abcdef0123456789abcdef-both
HUB_API_TOKEN=$same SEGMENT_WRITE_KEY=$same "$HUB" check -c conf/hub.yaml >/dev/null 2>"$T/err" ||
	fail "check refused a reused API token (a warning, not a refusal)"
grep -q "conf/hub.yaml:[0-9]*:[0-9]*: api.tokens: this token is also the value at conf/hub.yaml:[0-9]*:[0-9]*" \
	"$T/err" || fail "check: no warning for an API token that is the write key: $(cat "$T/err")"
! grep -q "$same" "$T/err" || fail "check printed the reused token"
HUB_API_TOKEN=tiny-token SEGMENT_WRITE_KEY=$same "$HUB" check -c conf/hub.yaml >/dev/null 2>"$T/err"
grep -q "api.tokens: a token of 10 characters can be guessed" "$T/err" ||
	fail "check: no warning for a 10-character API token: $(cat "$T/err")"
! grep -q "this token is also" "$T/err" || fail "check: a reuse warning for tokens that differ"

# conf/hub.yaml's fallback secrets are printed in the README: `run` refuses
# them when it would listen beyond this machine (it stops before binding), and
# `check` says so (it said ok)
sed -e "s|listen: 127.0.0.1:8080|listen: 0.0.0.0:8080|" -e "s|path: var/hub.db|path: $T/ex.db|" \
	conf/hub.yaml >"$T/exposed.yaml"
grep -q "listen: 0.0.0.0:8080" "$T/exposed.yaml" || fail "conf/hub.yaml: no listen line to change"
for cmd in run check; do
	(unset HUB_API_TOKEN SEGMENT_WRITE_KEY
	 timeout 20 "$HUB" -c "$T/exposed.yaml" $cmd >"$T/out" 2>"$T/err")
	rc=$?
	[ $rc -eq 1 ] || fail "$cmd with the example secrets on 0.0.0.0: exit $rc, expected 1"
	grep -q "^profilehub: $cmd: .*this secret is the README's example value, and http.listen (0.0.0.0:8080) is reachable" \
		"$T/err" || fail "$cmd with the example secrets on 0.0.0.0: $(cat "$T/err")"
	# each of them is named (the API token and the write key), not only the first
	for v in dev-token-change-me dev-write-key; do
		at=$(grep -n "$v" "$T/exposed.yaml" | head -1 | cut -d: -f1)
		grep -q "exposed.yaml:$at:[0-9]*: this secret is the README's example value" "$T/err" ||
			fail "$cmd did not name the example secret of line $at: $(cat "$T/err")"
	done
	grep -q "dev-token-change-me\|dev-write-key" "$T/err" "$T/out" && fail "the example secret was printed"
done

# the scenario vectors through the CLI: counts printed by import
S=${HUB_SHARED:-../shared}/data/scenarios
for f in "$S"/*.jsonl; do
	[ -e "$f" ] || {
		fail "no scenarios in $S (set HUB_SHARED to the shared directory, beside the repository)"
		break
	}
	n=$(basename "$f" .jsonl)
	exp="$S/$n.expected.json"
	cfg="$T/$n.yaml"
	printf 'store:\n  path: %s/%s.db\n' "$T" "$n" >"$cfg"
	jq -r '.config.identity.external // {} | to_entries | if length > 0 then
		"identity:\n  external:\n" + (map("    \(.key): {limit: \(.value.limit), priority: \(.value.priority)}") | join("\n")) else "" end' \
		"$exp" >>"$cfg"
	"$HUB" -c "$cfg" import "$f" --source test >"$T/import.out" 2>&1 || fail "$n: import failed: $(cat "$T/import.out")"
	want=$(jq -r '.counts | "records \(.records), applied \(.applied), duplicates \(.duplicates), blocked \(.blocked), refused \(.refused), rejected \(.rejected)"' "$exp")
	grep -qx "$want" "$T/import.out" || fail "$n: import printed '$(head -1 "$T/import.out")', want '$want'"
	"$HUB" -c "$cfg" dump --events all >"$T/dump.jsonl" || fail "$n: dump failed"
	got=$(jq -s -c 'map({c: .custom_id, i: .identifiers, n: .event_count}) | sort_by(.i | tostring)' "$T/dump.jsonl")
	want=$(jq -c '.profiles | map({c: .custom_id, i: .identifiers, n: .event_count}) | sort_by(.i | tostring)' "$exp")
	[ "$got" = "$want" ] || fail "$n: dump $got, want $want"
	"$HUB" -c "$cfg" dump --events all >"$T/dump2.jsonl"
	cmp -s "$T/dump.jsonl" "$T/dump2.jsonl" || fail "$n: two dumps differ"
done

# profile lookups and privacy on scenario 8 (email is not a merge key)
cfg="$T/08-email-not-a-merge-key.yaml"
[ "$("$HUB" -c "$cfg" profile --email a@x | wc -l)" -eq 2 ] || fail "lookup by email should return both profiles"
"$HUB" -c "$cfg" profile --custom-id C1 | jq -e '.custom_id == "C1"' >/dev/null || fail "profile --custom-id"
"$HUB" -c "$cfg" profile --custom-id nobody >"$T/nobody.out" 2>"$T/nobody.err"; [ $? -eq 1 ] || fail "missing profile: exit 1"
# one line saying what was not found, and no store error after it
[ ! -s "$T/nobody.out" ] && [ "$(cat "$T/nobody.err")" = 'profilehub: profile: no profile with custom_id "nobody"' ] ||
	fail "missing profile: $(cat "$T/nobody.err")"
"$HUB" -c "$cfg" privacy access --custom-id C1 | jq -e '.profiles[0].profile.custom_id == "C1" and (.profiles[0].identity_log | length) > 0' >/dev/null ||
	fail "privacy access"
# a lookup value that is not UTF-8 is named as such (no identifier is)
"$HUB" -c "$cfg" privacy access --custom-id "$(printf 'C\377')" >"$T/out" 2>"$T/err" &&
	fail "privacy access of a value that is not UTF-8 succeeded"
grep -q -- "--custom-id: not valid UTF-8" "$T/err" || fail "not-UTF-8 lookup: $(cat "$T/err")"
"$HUB" -c "$cfg" privacy erase --custom-id C1 >/dev/null || fail "privacy erase"
"$HUB" -c "$cfg" profile --custom-id C1 >/dev/null 2>&1 && fail "erased profile still found"
[ "$("$HUB" -c "$cfg" dump | wc -l)" -eq 1 ] || fail "erase should leave one profile"

# a command that reads or erases refuses a store that is not there (run
# from the wrong directory, it read a new empty one, or erased in it and
# answered "done"), names the path, and creates nothing
cfg="$T/nostore.yaml"
printf 'store: {path: %s/nostore/hub.db}\n' "$T" >"$cfg"
for cmd in "dump" "profile --custom-id C1" "privacy access --custom-id C1" \
	"privacy erase --custom-id C1" "exports"; do
	# shellcheck disable=SC2086
	"$HUB" -c "$cfg" $cmd >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 1 ] || fail "$cmd on a missing store: exit $rc, want 1: $(cat "$T/out" "$T/err")"
	grep -q "store: $T/nostore/hub.db: No such file or directory" "$T/err" ||
		fail "$cmd on a missing store: $(cat "$T/err")"
	[ -e "$T/nostore" ] && fail "$cmd on a missing store created $T/nostore"
done

# a store the hub may not write is refused, naming it (SQLite opened it
# read-only, silently: run answered /healthz and 503 to every write)
printf 'store: {path: %s/hub.db}\n' "$ro" >"$ro/hub.yaml"
"$HUB" -c "$ro/hub.yaml" import /dev/null --source s >/dev/null 2>&1 || fail "making the ro store"
chmod 444 "$ro/hub.db"
chmod 755 "$ro"
cp "$HUB" "$ro/profilehub" # runnable by another user, wherever the build is
as_other=""
[ "$(id -u)" = 0 ] && as_other="runuser -u nobody --" # root writes whatever the mode
$as_other "$ro/profilehub" -c "$ro/hub.yaml" import /dev/null --source s >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] || fail "a read-only store: exit $rc, want 1: $(cat "$T/err")"
grep -q "sqlite: $ro/hub.db is read-only (its permissions, or a read-only mount)" "$T/err" ||
	fail "a read-only store: $(cat "$T/err")"

# a -wal file the hub's user may not write (restored or copied as root) is
# named with its owner, and a store.path that is a directory is said to be
# one: both were SQLite's bare "unable to open database file"
mkdir "$ro/w"
printf 'store: {path: %s/w/hub.db}\n' "$ro" >"$ro/w.yaml"
"$HUB" -c "$ro/w.yaml" import /dev/null --source s >/dev/null 2>&1 || fail "making the wal store"
: >"$ro/w/hub.db-wal"
if [ -n "$as_other" ]; then
	chown -R nobody "$ro/w" && chown root "$ro/w/hub.db-wal" && chmod 600 "$ro/w/hub.db-wal"
else
	chmod 000 "$ro/w/hub.db-wal"
fi
$as_other "$ro/profilehub" -c "$ro/w.yaml" import /dev/null --source s >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] || fail "a -wal the hub may not write: exit $rc, want 1: $(cat "$T/err")"
grep -q "sqlite: $ro/w/hub.db: .*; $ro/w/hub.db-wal is owned by uid [0-9]* (mode 0[0-7]*)" \
	"$T/err" && grep -q "may not read and write it" "$T/err" ||
	fail "a -wal the hub may not write: $(cat "$T/err")"
printf 'store: {path: %s/w}\n' "$ro" >"$ro/wdir.yaml"
"$HUB" -c "$ro/wdir.yaml" import /dev/null --source s >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "sqlite: cannot open $ro/w: .*; it is a directory: store.path names" \
	"$T/err" || fail "a store.path that is a directory: exit $rc, $(cat "$T/err")"

# a new store in a directory the hub's user may not write names the
# directory, its owner and mode (SQLite said "unable to open database file")
mkdir "$ro/d"
[ -n "$as_other" ] || chmod 555 "$ro/d"
printf 'store: {path: %s/d/hub.db}\n' "$ro" >"$ro/d.yaml"
$as_other "$ro/profilehub" -c "$ro/d.yaml" import /dev/null --source s >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "sqlite: cannot open $ro/d/hub.db: " "$T/err" &&
	grep -q "; this process (uid [0-9]*) may not write its directory $ro/d (owned by uid" \
		"$T/err" || fail "a directory the hub may not write: exit $rc, $(cat "$T/err")"

# privacy access also lists the identity log of the profiles merged into it
cfg="$T/access.yaml"
printf 'store: {path: %s/access.db}\n' "$T" >"$cfg"
{
	echo '{"type":"track","message_id":"m1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"installation_id":"I1"},"event":{"name":"e"}}'
	echo '{"type":"identify","message_id":"m2","timestamp":"2026-01-01T00:01:00Z","identifiers":{"custom_id":"C1","installation_id":"I0"}}'
	echo '{"type":"identify","message_id":"m3","timestamp":"2026-01-01T00:02:00Z","identifiers":{"custom_id":"C1","installation_id":"I1"}}'
} >"$T/access.jsonl"
"$HUB" -c "$cfg" import "$T/access.jsonl" --source test >/dev/null || fail "access: import"
"$HUB" -c "$cfg" privacy access --custom-id C1 >"$T/access.json" || fail "access: privacy access"
jq -e '.profiles[0] | .profile.profile_id as $live | .identity_log |
	any(.profile_id != $live and .action == "create" and .value == "I1") and
	(map(select(.action == "merge")) | length == 1 and .[0].profile_id == $live)' "$T/access.json" >/dev/null ||
	fail "privacy access misses the merged profile's identity log: $(cat "$T/access.json")"

# a value added to identity.blocked_values after it was stored is still
# accessed and erased by it (IDENTITY.md 7; the erase said "no usable
# identifier"); a built-in junk word, never stored, stays refused
printf '%s\n' '{"type":"track","message_id":"u1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"installation_id":"unknown"},"event":{"name":"e"}}' \
	>"$T/blocked.jsonl"
printf 'store: {path: %s/blocked.db}\n' "$T" >"$T/blocked.yaml"
"$HUB" -c "$T/blocked.yaml" import "$T/blocked.jsonl" --source test >/dev/null || fail "blocked: import"
printf 'identity: {blocked_values: [unknown]}\n' >>"$T/blocked.yaml"
"$HUB" -c "$T/blocked.yaml" privacy access --installation-id unknown >"$T/out" &&
	jq -e '.profiles | length == 1' "$T/out" >/dev/null || fail "blocked: privacy access: $(cat "$T/out")"
"$HUB" -c "$T/blocked.yaml" privacy erase --installation-id unknown >"$T/out" 2>"$T/err" ||
	fail "blocked: privacy erase: $(cat "$T/err")"
[ "$("$HUB" -c "$T/blocked.yaml" dump | wc -l)" -eq 0 ] || fail "blocked: the profile is still there"
"$HUB" -c "$T/blocked.yaml" privacy erase --installation-id null >"$T/out" 2>"$T/err" &&
	fail "blocked: an erase of the junk word null succeeded"
grep -q "no usable identifier" "$T/err" || fail "blocked: erase of null: $(cat "$T/err")"

# push subscriptions list the platforms of enabled installations, and only those
printf '%s\n' '{"type":"identify","message_id":"p1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"C2","installation_id":"I7"},"push_enabled":true}' \
	'{"type":"identify","message_id":"p2","timestamp":"2026-01-01T00:01:00Z","identifiers":{"custom_id":"C2","installation_id":"I8"},"platform":"ios","push_enabled":true}' \
	>"$T/push.jsonl"
"$HUB" -c "$cfg" import "$T/push.jsonl" --source test >/dev/null || fail "push: import"
"$HUB" -c "$cfg" profile --custom-id C2 | jq -e '.subscriptions.push == ["ios"]' >/dev/null ||
	fail "push subscriptions: $("$HUB" -c "$cfg" profile --custom-id C2 | jq -c .subscriptions)"

# a command's option's value is never read as a global option: "--custom-id -c" looks up
# custom_id "-c" (-c took the argument after it as the config, or said it needs a value),
# and -c or --log-level after that value is still global
printf '%s\n' '{"type":"identify","message_id":"d1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"-c"}}' \
	'{"type":"identify","message_id":"d2","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"--log-level"}}' \
	>"$T/dash.jsonl"
"$HUB" -c "$cfg" import "$T/dash.jsonl" --source test >/dev/null || fail "dash: import"
"$HUB" -c "$cfg" profile --custom-id -c >"$T/out" 2>"$T/err" &&
	jq -e '.custom_id == "-c"' "$T/out" >/dev/null || fail "profile --custom-id -c: $(cat "$T/err")"
"$HUB" profile --custom-id -c --config "$cfg" --log-level warn >"$T/out" 2>"$T/err" &&
	jq -e '.custom_id == "-c"' "$T/out" >/dev/null ||
	fail "profile --custom-id -c --config FILE: $(cat "$T/err")"
"$HUB" privacy access --custom-id --log-level -c "$cfg" >"$T/out" 2>"$T/err" &&
	jq -e '.profiles[0].profile.custom_id == "--log-level"' "$T/out" >/dev/null ||
	fail "privacy access --custom-id --log-level: $(cat "$T/err")"
# so for every option of --help that takes a value: "version FLAG --log-level loud" is
# version's misuse of FLAG (its value is --log-level), not an unknown level "loud"
for flag in $("$HUB" --help | grep -o -- '--[a-z-]* [A-Za-z<]' | cut -d' ' -f1 | sort -u); do
	case $flag in --log-level | --help) continue ;; esac
	misuse "profilehub: version: unexpected argument \"$flag\"" version "$flag" --log-level loud
done

# a merge stopped by the 100-merge cap (a warning) and a refused alias (info) are
# logged (IDENTITY.md 3)
cfg="$T/caps.yaml"
printf 'store: {path: %s/caps.db}\nlog_level: info\n' "$T" >"$cfg"
{
	echo '{"type":"identify","message_id":"c0","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"C1"}}'
	k=1
	while [ $k -le 101 ]; do
		echo '{"type":"track","message_id":"t'$k'","timestamp":"2026-01-01T00:00:01Z","identifiers":{"installation_id":"I'$k'"},"event":{"name":"e"}}'
		echo '{"type":"identify","message_id":"i'$k'","timestamp":"2026-01-01T00:00:02Z","identifiers":{"custom_id":"C1","installation_id":"I'$k'"}}'
		k=$((k + 1))
	done
	echo '{"type":"identify","message_id":"c9","timestamp":"2026-01-01T00:00:03Z","identifiers":{"custom_id":"C9"}}'
	echo '{"type":"alias","message_id":"a1","timestamp":"2026-01-01T00:00:04Z","previous_id":"C1","identifiers":{"custom_id":"C9"}}'
} >"$T/caps.jsonl"
"$HUB" -c "$cfg" import "$T/caps.jsonl" --source test >"$T/caps.out" 2>"$T/caps.err" || fail "caps: import: $(cat "$T/caps.err")"
grep -q "identify i101 (test): no merge with profile p_[a-z0-9]*: its merge count would pass the cap of 100" "$T/caps.err" ||
	fail "caps: no warning for the merge past the cap: $(cat "$T/caps.err")"
[ "$(grep -c "no merge with profile" "$T/caps.err")" -eq 1 ] || fail "caps: one warning expected: $(cat "$T/caps.err")"
grep -q "alias a1 (test): refused: previous_id is the custom_id of another profile" "$T/caps.err" ||
	fail "caps: no warning for the refused alias: $(cat "$T/caps.err")"
grep -q "refused 1," "$T/caps.out" || fail "caps: the alias is counted as refused: $(cat "$T/caps.out")"
grep -q "C1\|I101" "$T/caps.err" && fail "caps: identifier values in the log: $(cat "$T/caps.err")"

# import: a byte order mark, blank, blank-looking and CRLF lines; errors name the
# file's own line numbers
cfg="$T/lines.yaml"
printf 'store: {path: %s/lines.db}\n' "$T" >"$cfg"
{
	printf '\357\273\277{"type":"track","message_id":"l1","identifiers":{"custom_id":"L"},"event":{"name":"e"}}\r\n'
	printf '\r\n'
	printf '   \n'
	printf '\t\n'
	printf '{"type":"track","message_id":"l2","identifiers":{"custom_id":"L"},"event":{"name":"e"}}\n'
	printf '{bad\n'
	printf '{"type":"track","message_id":"l3","identifiers":{"custom_id":"L"},"event":{"name":"e"}}'
} >"$T/lines.jsonl"
"$HUB" -c "$cfg" import "$T/lines.jsonl" --source test >"$T/lines.out" 2>"$T/lines.err"
[ $? -eq 1 ] || fail "import with a bad line: exit 1 expected"
grep -qx "records 4, applied 3, duplicates 0, blocked 0, refused 0, rejected 1" "$T/lines.out" ||
	fail "import of BOM, blank and CRLF lines: $(cat "$T/lines.out") $(cat "$T/lines.err")"
grep -q "line 6: " "$T/lines.err" || fail "the bad line is line 6 of the file: $(cat "$T/lines.err")"

# two enabled exports writing one target (a jsonl file however its path is
# spelled; a table at one url) stop check and run, naming both and the target;
# they were taken, and interleaved or doubled each other's rows
mkdir -p "$T/tgt"
tgt_yaml() { # FILE SECOND_PATH SECOND_TABLE [ENABLED_OF_THE_SECONDS]
	cat >"$1" <<EOF
store: {path: $T/tgt.db}
http: {listen: "127.0.0.1:0"}
exports:
  - name: one
    plugin: jsonl
    path: $T/tgt/changes.jsonl
  - name: two
    plugin: jsonl
    path: $2
    enabled: ${4:-true}
  - name: wh1
    plugin: postgres
    url: "\${HUB_TEST_TGT_URL}"
    table: analytics.people
  - name: wh2
    plugin: postgres
    url: "\${HUB_TEST_TGT_URL}"
    table: $3
    enabled: ${4:-true}
EOF
}
export HUB_TEST_TGT_URL="postgresql://hub@localhost/tgt?sslmode=disable"
tgt_yaml "$T/tgt.yaml" "$T/tgt/../tgt/./changes.jsonl" analytics.people
"$HUB" -c "$T/tgt.yaml" check >"$T/tgt.out" 2>&1 &&
	fail "check accepted two exports writing one file"
real_tgt=$(cd "$T/tgt" && pwd -P)
grep -qF "exports[1] \"two\" and exports[0] \"one\" both write the file $real_tgt/changes.jsonl" \
	"$T/tgt.out" || fail "check on two exports writing one file: $(cat "$T/tgt.out")"
grep -qF 'exports[3] "wh2" and exports[2] "wh1" both write table analytics.people at the same url' \
	"$T/tgt.out" || fail "check on two exports writing one table: $(cat "$T/tgt.out")"
timeout 30 "$HUB" -c "$T/tgt.yaml" run >"$T/tgt.out" 2>&1 &&
	fail "run accepted two exports writing one file"
grep -qF 'exports[1] "two" and exports[0] "one" both write the file' "$T/tgt.out" ||
	fail "run on two exports writing one file: $(cat "$T/tgt.out")"
# each its own target, or the second ones off: accepted
tgt_yaml "$T/tgt2.yaml" "$T/tgt/other.jsonl" analytics.others
"$HUB" -c "$T/tgt2.yaml" check >"$T/tgt.out" 2>&1 ||
	fail "check refused exports with their own targets: $(cat "$T/tgt.out")"
tgt_yaml "$T/tgt3.yaml" "$T/tgt/changes.jsonl" analytics.people false
"$HUB" -c "$T/tgt3.yaml" check >"$T/tgt.out" 2>&1 ||
	fail "check refused a shared target of exports that are off: $(cat "$T/tgt.out")"
unset HUB_TEST_TGT_URL
# one database and table spelled two ways (a url with or without its default
# port, a key/value conninfo; a table with or without public.), one file by a
# relative path and through a symlinked directory: refused too, no password
# printed.  They were compared as written, and taken.
tgt_two() { # FILE URL1 TABLE1 URL2 TABLE2 PATH1 PATH2
	printf 'store: {path: %s/tgt.db}\nexports:\n' "$T" >"$1"
	printf '  - {name: p1, plugin: postgres, url: "%s", table: %s}\n' "$2" "$3" >>"$1"
	printf '  - {name: p2, plugin: postgres, url: "%s", table: %s}\n' "$4" "$5" >>"$1"
	printf '  - {name: j1, plugin: jsonl, path: "%s"}\n' "$6" >>"$1"
	printf '  - {name: j2, plugin: jsonl, path: "%s"}\n' "$7" >>"$1"
}
ln -s "$T/tgt" "$T/tgtlink"
hub_abs=$(cd "$(dirname "$HUB")" && pwd -P)/$(basename "$HUB")
for pair in "postgresql://hub:s3cret@DB.example:5432/crm|people|postgres://db.example/crm?sslmode=disable|public.people" \
	"host=db.example dbname=crm password=s3cret|public.people|postgres://hub@db.example:5432/crm|people"; do
	IFS='|' read -r u1 t1 u2 t2 <<EOF
$pair
EOF
	tgt_two "$T/tgt4.yaml" "$u1" "$t1" "$u2" "$t2" ./tgt/same.jsonl "$T/tgtlink/same.jsonl"
	(cd "$T" && "$hub_abs" -c "$T/tgt4.yaml" check) >"$T/tgt.out" 2>&1 &&
		fail "check accepted two exports writing one table spelled two ways ($pair)"
	grep -qF 'exports[1] "p2" and exports[0] "p1" both write table public.people at the same url (db.example:5432/crm)' \
		"$T/tgt.out" || fail "one table spelled two ways ($pair): $(cat "$T/tgt.out")"
	grep -qF "exports[3] \"j2\" and exports[2] \"j1\" both write the file $real_tgt/same.jsonl" \
		"$T/tgt.out" || fail "one file spelled two ways: $(cat "$T/tgt.out")"
	grep -q s3cret "$T/tgt.out" && fail "a password printed: $(cat "$T/tgt.out")"
done
# another database, port or schema: accepted (without dbname, libpq's
# database is the user's; a host may be given as hostaddr; a search_path in
# options makes a bare table another schema's, maybe)
sp="options=-csearch_path%3Danalytics"
for pair in "postgres://db.example/crm|people|postgres://db.example/crm2|people" \
	"postgres://db.example/crm|people|postgres://db.example:5433/crm|people" \
	"postgres://db.example/crm|people|postgres://db.example/crm|analytics.people" \
	"postgres://ann@db.example|people|postgres://bob@db.example|people" \
	"hostaddr=10.0.0.1 dbname=crm|people|hostaddr=10.0.0.2 dbname=crm|people" \
	"postgres://db.example/crm?$sp|people|postgres://db.example/crm|people"; do
	IFS='|' read -r u1 t1 u2 t2 <<EOF
$pair
EOF
	tgt_two "$T/tgt4.yaml" "$u1" "$t1" "$u2" "$t2" ./tgt/a.jsonl "$T/tgtlink/b.jsonl"
	(cd "$T" && "$hub_abs" -c "$T/tgt4.yaml" check) >"$T/tgt.out" 2>&1 ||
		fail "check refused exports with their own targets ($pair): $(cat "$T/tgt.out")"
done

# a secret set from an empty ${VAR} stops check (and run) at its place: a webhook
# export signed with an empty key would be forgeable
printf 'store: {path: %s/sec.db}\nexports:\n  - name: w\n    plugin: webhook\n    url: https://crm.example.com/hook\n    secret: "${HUB_TEST_EMPTY_SECRET}"\n' "$T" >"$T/sec.yaml"
HUB_TEST_EMPTY_SECRET= "$HUB" -c "$T/sec.yaml" check >"$T/sec.out" 2>&1 && fail "check accepted an empty secret"
grep -q "sec.yaml:6:13: exports\[0\].secret: must not be empty" "$T/sec.out" ||
	fail "an empty secret: $(cat "$T/sec.out")"
# unquoted too (an empty plain scalar is YAML's null: the key was taken as absent
# and the check skipped), and a variable set to "null" is that text, not null
sed 's/secret: "\(.*\)"/secret: \1/' "$T/sec.yaml" >"$T/sec2.yaml"
grep -q 'secret: \${HUB_TEST_EMPTY_SECRET}$' "$T/sec2.yaml" || fail "sec2.yaml: $(cat "$T/sec2.yaml")"
HUB_TEST_EMPTY_SECRET= "$HUB" -c "$T/sec2.yaml" check >"$T/sec.out" 2>&1 && fail "check accepted an empty unquoted secret"
grep -q "sec2.yaml:6:13: exports\[0\].secret: must not be empty" "$T/sec.out" ||
	fail "an empty unquoted secret: $(cat "$T/sec.out")"
HUB_TEST_EMPTY_SECRET=null "$HUB" -c "$T/sec2.yaml" check >/dev/null 2>&1 ||
	fail "a secret \"null\" from the environment was taken as absent"

# a variable only the service's environment sets (an export's secret) leaves the
# commands that do not run that export working in an operator's shell; check (and
# run) still stop at its place, and a sync stops at its own source's
unset HUB_TEST_UNSET_HOOK HUB_TEST_UNSET_WH
printf '{"type":"identify","message_id":"e1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"env-1"}}\n' >"$T/env.jsonl"
sed "s#sec.db#env.db#; s#HUB_TEST_EMPTY_SECRET#HUB_TEST_UNSET_HOOK#" "$T/sec.yaml" >"$T/env.yaml"
HUB_TEST_UNSET_HOOK=k "$HUB" -c "$T/env.yaml" import "$T/env.jsonl" --source test >/dev/null 2>&1 ||
	fail "import with the variable set failed"
for cmd in "dump" "profile --custom-id env-1" "privacy access --custom-id env-1" "exports" \
	"plugins" "import $T/env.jsonl --source test"; do
	# shellcheck disable=SC2086
	"$HUB" -c "$T/env.yaml" $cmd >"$T/env.out" 2>&1 ||
		fail "$cmd needed an export's variable: $(cat "$T/env.out")"
done
"$HUB" -c "$T/env.yaml" dump 2>&1 | grep -q '"custom_id": *"env-1"' ||
	fail "dump without the export's variable printed no profile env-1"
"$HUB" -c "$T/env.yaml" check >"$T/env.out" 2>&1 && fail "check passed without the export's variable"
grep -q "env.yaml:6:13: exports\[0\].secret: environment variable HUB_TEST_UNSET_HOOK is not set" "$T/env.out" ||
	fail "check without the export's variable: $(cat "$T/env.out")"
printf 'sources:\n  - name: wh\n    plugin: example\n    path: "${HUB_TEST_UNSET_WH}"\n' >>"$T/env.yaml"
HUB_TEST_UNSET_HOOK=k "$HUB" -c "$T/env.yaml" sync wh >"$T/env.out" 2>&1 &&
	fail "sync ran without its source's variable"
grep -q "env.yaml:10:11: sources\[0\].path: environment variable HUB_TEST_UNSET_WH is not set" "$T/env.out" ||
	fail "sync without its source's variable: $(cat "$T/env.out")"
printf '{"user_id": "env-2", "id": "e2", "timestamp": "2026-01-01T00:00:00Z"}\n' >"$T/env_wh.jsonl"
HUB_TEST_UNSET_WH="$T/env_wh.jsonl" "$HUB" -c "$T/env.yaml" sync wh >"$T/env.out" 2>&1 ||
	fail "sync needed an export's variable: $(cat "$T/env.out")"
"$HUB" -c "$T/env.yaml" profile --custom-id env-2 >/dev/null 2>&1 || fail "sync stored no env-2"

# a plugin's connection string (postgres export url, Snowflake's ODBC string, the webhook
# export's url) whose password is written in the file is warned about as store.url is: its
# place, never its value
cat >"$T/pw.yaml" <<EOF
store: {path: $T/pw.db}
sources:
  - name: wh
    plugin: snowflake
    connection_string: "Driver=x;UID=u;PWD=s3cr3t-odbc"
    query: SELECT id, plan FROM t WHERE id >= :cursor ORDER BY id
    cursor: id
    map: {custom_id: id, attributes: {plan: plan}}
exports:
  - name: pg-out
    plugin: postgres
    url: postgresql://hub:s3cr3t-pg@127.0.0.1/hub
  - name: pg-env
    plugin: postgres
    url: "postgresql://hub:\${HUB_TEST_UNSET_PGPASS:-}@127.0.0.1/hub2"
  - name: hook
    plugin: webhook
    url: https://hook:s3cr3t-hook@127.0.0.1:9/in?token=s3cr3t-query
    secret: "\${HUB_TEST_UNSET_HOOK:-s3cr3t-sign}"
  - name: hook-env
    plugin: webhook
    url: "https://hook:\${HUB_TEST_UNSET_HOOKPW:-}@127.0.0.1:9/in"
    secret: "\${HUB_TEST_UNSET_HOOK:-s3cr3t-sign}"
EOF
"$HUB" -c "$T/pw.yaml" check >"$T/out" 2>"$T/err" || fail "check of written passwords: $(cat "$T/err")"
grep -q "pw.yaml: ok (1 source, 4 exports, [0-9]* plugins)$" "$T/out" ||
	fail "check of pw.yaml: $(cat "$T/out")"
[ -e "$T/pw.db" ] && fail "check without --connect made the store"
# the config's log_level error hides those warnings; a --log-level given wins over it
{ cat "$T/pw.yaml"; echo "log_level: error"; } >"$T/pwq.yaml"
"$HUB" -c "$T/pwq.yaml" check >/dev/null 2>"$T/errq" ||
	fail "check at log_level error: $(cat "$T/errq")"
"$HUB" -c "$T/pwq.yaml" --log-level warn check >/dev/null 2>"$T/errw" ||
	fail "check --log-level warn: $(cat "$T/errw")"
! grep -q "the password is written in the file" "$T/errq" &&
	[ "$(grep -c "the password is written in the file" "$T/errw")" -eq 3 ] ||
	fail "log_level error, then --log-level warn: $(cat "$T/errq" "$T/errw")"
grep -q "pw.yaml:5:24: sources\[0\]\.connection_string: the password is written in the file" "$T/err" &&
	grep -qF 'pw.yaml:12:10: exports[0].url: the password is written in the file (anyone who reads the file or a copy of it has it): read it from the environment, as url: "${PG_OUT_URL}"' "$T/err" &&
	grep -qF 'pw.yaml:18:10: exports[2].url: the password is written in the file (anyone who reads the file or a copy of it has it): read it from the environment, as url: "${HOOK_URL}"' "$T/err" ||
	fail "a plugin's written password is not warned about: $(cat "$T/err")"
[ "$(grep -c "the password is written in the file" "$T/err")" -eq 3 ] ||
	fail "a password read from the environment was warned about: $(cat "$T/err")"
grep -q "s3cr3t" "$T/out" "$T/err" && fail "check printed a written password"
# the store's own url too (check opens no store without --connect)
printf 'store:\n  driver: postgres\n  url: %s\n' postgresql://hub:s3cr3t-st@127.0.0.1:9/hub \
	>"$T/st.yaml"
"$HUB" -c "$T/st.yaml" check >"$T/out" 2>"$T/err" || fail "check of a written store password"
grep -qF 'store.url: the password is written in the file (anyone who reads the file' "$T/err" &&
	grep -qF 'as url: "${HUB_DATABASE_URL}", or from ~/.pgpass' "$T/err" ||
	fail "a store's written password is not warned about: $(cat "$T/err")"
grep -q "s3cr3t" "$T/out" "$T/err" && fail "check printed the store's written password"

# check reads the hub's own keys of an entry as run does: a schedule, an export's kinds
printf 'store: {path: %s/keys.db}\nsources:\n  - name: wh\n    plugin: snowflake\n    schedule: "every 15x"\n' "$T" >"$T/keys1.yaml"
"$HUB" -c "$T/keys1.yaml" check >"$T/keys.out" 2>&1 && fail "check accepted a bad schedule"
grep -q "keys1.yaml:5:15: sources\[0\]\.schedule: " "$T/keys.out" || fail "a bad schedule: $(cat "$T/keys.out")"
printf 'store: {path: %s/keys.db}\nexports:\n  - name: j\n    plugin: jsonl\n    path: %s/j.jsonl\n    kinds: [bogus]\n' "$T" "$T" >"$T/keys2.yaml"
"$HUB" -c "$T/keys2.yaml" check >"$T/keys.out" 2>&1 && fail "check accepted a bad kind"
grep -q "keys2.yaml:6:13: exports\[0\].kinds\[0\]: unknown change kind" "$T/keys.out" ||
	fail "a bad kind: $(cat "$T/keys.out")"
[ -e "$T/j.jsonl" ] && fail "check created the jsonl export's file"

# check --connect names the code of a plugin's check_connect() that failed
# without a message (tests/plugins/odd_messages), not what its buffer held
mkdir -p "$T/odd_plugins"
ln -s "$(cd "$B" && pwd)/tests/plugins/odd_messages.so" "$T/odd_plugins/odd_messages.so"
odd_config() { # FILE KEY-LINE
	printf 'store: {path: %s/odd.db}\nplugin_dir: %s/odd_plugins\nsources:\n  - name: app\n    plugin: odd_messages\n    %s\n' \
		"$T" "$T" "$2" >"$1"
}
odd_config "$T/odd1.yaml" "connect_rc: 2"
"$HUB" -c "$T/odd1.yaml" check --connect >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "check --connect, a connect failure without a message: exit 1 expected"
[ "$(cat "$T/err")" = 'profilehub: sources[0] "app": temporary failure' ] ||
	fail "check --connect, a connect failure without a message: $(od -c "$T/err" | head -5)"
odd_config "$T/odd2.yaml" "connect_rc: 77"
"$HUB" -c "$T/odd2.yaml" check --connect >"$T/out" 2>"$T/err"
[ "$(cat "$T/err")" = 'profilehub: sources[0] "app": unknown result code 77' ] ||
	fail "check --connect, an unknown code without a message: $(od -c "$T/err" | head -5)"
odd_config "$T/odd3.yaml" "connect_rc: 0"
"$HUB" -c "$T/odd3.yaml" check --connect >"$T/out" 2>"$T/err" ||
	fail "check --connect, a plugin that connects: $(cat "$T/err")"
# an entry check refuses (its plugin not found) is not connected: said, exit 1
sed 's/plugin: odd_messages/plugin: no_such_plugin/' "$T/odd3.yaml" >"$T/oddmissing.yaml"
"$HUB" -c "$T/oddmissing.yaml" check --connect >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'no plugin named "no_such_plugin"' "$T/err" ||
	fail "check --connect of a missing plugin: exit $rc, $(cat "$T/err")"
# a store check --connect cannot open fails it (its path under a file)
sed "s|$T/odd.db|$T/odd3.yaml/odd.db|" "$T/odd3.yaml" >"$T/oddstore.yaml"
"$HUB" -c "$T/oddstore.yaml" check --connect >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "^profilehub: store: " "$T/err" ||
	fail "check --connect of a store it cannot open: exit $rc, $(cat "$T/err")"
# check --connect leaves a store an older hub made as it is (that hub may
# still run, or be needed back: once migrated it refuses the store), says
# so and passes; the next command of this hub migrates it
sqlite3 "$T/odd.db" "UPDATE meta SET value = '4' WHERE key = 'schema_version'"
"$HUB" -c "$T/odd3.yaml" check --connect >"$T/out" 2>"$T/err" &&
	grep -q "odd.db has schema version 4, made by an older hub: left as it is" "$T/out" ||
	fail "check --connect of an older store: $(cat "$T/out" "$T/err")"
[ "$(sqlite3 "$T/odd.db" "SELECT value FROM meta WHERE key = 'schema_version'")" = 4 ] ||
	fail "check --connect migrated a store an older hub made"
"$HUB" -c "$T/odd3.yaml" dump >/dev/null 2>"$T/err" &&
	grep -q "schema migrated from version 4 to" "$T/err" ||
	fail "dump did not migrate the older store: $(cat "$T/err")"
# a message a plugin wrote to the end of its buffer, no NUL, is read cut
# there, never past it (the ASan build aborts on a read past it): create(),
# check_connect(), pull() (sync) and import_line() (import) fill err
odd_cut() { # WHAT PREFIX: stderr holds PREFIX then only x
	grep -q "^$2x\{100,\}\$" "$T/err" && [ "$(grep -c . "$T/err")" -eq 1 ] &&
		! grep -q AddressSanitizer "$T/err" || fail "$1, a message without a NUL: $(head -c 300 "$T/err")"
}
odd_config "$T/odd4.yaml" "unterminated: create"
"$HUB" -c "$T/odd4.yaml" check --connect >"$T/out" 2>"$T/err"
odd_cut "create()" 'profilehub: sources\[0\] "app" (plugin odd_messages): '
odd_config "$T/odd5.yaml" "unterminated: connect"
"$HUB" -c "$T/odd5.yaml" check --connect >"$T/out" 2>"$T/err"
odd_cut "check_connect()" 'profilehub: sources\[0\] "app": '
odd_config "$T/odd6.yaml" "unterminated: pull"
"$HUB" -c "$T/odd6.yaml" sync app >"$T/out" 2>"$T/err"
odd_cut "pull()" 'profilehub: sync: app: '
# sync of a source whose plugin is missing names the key as check does, and
# the plugins there, as plugins --describe does
printf 'store: {path: %s/np.db}\nsources: [{name: a, plugin: nosuch}]\n' "$T" >"$T/np.yaml"
"$HUB" -c "$T/np.yaml" sync a >"$T/out" 2>"$T/err"
grep -q "^profilehub: sync: $T/np.yaml:2:29: sources\[0\]\.plugin: no plugin named \"nosuch\"" "$T/err" &&
	grep -q '(plugins: .*example, .*segment' "$T/err" ||
	fail "sync with a missing plugin: $(cat "$T/err")"
odd_config "$T/odd7.yaml" "unterminated: import"
echo '{}' >"$T/odd.jsonl"
"$HUB" -c "$T/odd7.yaml" import "$T/odd.jsonl" --source app --format odd_messages >"$T/out" 2>"$T/err"
odd_cut "import_line()" 'profilehub: import: line 1: '
# a disabled entry is checked as an enabled one, by check and by run alike: run
# stops at check's first error, before opening the store (it started, skipping them)
port=$("$B/tests/tools/freeport") || fail "no free port"
n=0
while IFS='|' read -r entry want; do
	n=$((n + 1))
	printf 'store: {path: %s/dis%s.db}\nhttp: {listen: 127.0.0.1:%s}\n%s\n' "$T" "$n" "$port" \
		"$entry" >"$T/dis$n.yaml"
	"$HUB" -c "$T/dis$n.yaml" check >/dev/null 2>"$T/check.err" && fail "check accepted $entry"
	case "$(head -1 "$T/check.err")" in
	"profilehub: $T/dis$n.yaml:3:$want"*) ;;
	*) fail "check of $entry: $(cat "$T/check.err"), want 3:$want" ;;
	esac
	timeout 20 "$HUB" -c "$T/dis$n.yaml" run >/dev/null 2>"$T/err"
	rc=$?
	[ $rc -eq 1 ] || fail "run of $entry: exit $rc, want 1 (as check): $(cat "$T/err")"
	[ "$(head -1 "$T/err")" = "$(head -1 "$T/check.err")" ] ||
		fail "run of $entry: $(cat "$T/err"), check: $(cat "$T/check.err")"
	[ -e "$T/dis$n.db" ] && fail "run of $entry opened the store"
done <<EOF
sources: [{name: a, plugin: segment, enabled: false, write_keys: [k], bogus: 1}]|71: sources[0].bogus: unknown key
sources: [{name: a, plugin: nosuch, enabled: false}]|29: sources[0].plugin: no plugin named "nosuch"
exports: [{name: j, plugin: jsonl, enabled: false, bogus: 1, path: $T/j.jsonl}]|52: exports[0].bogus: unknown key
exports: [{name: j, plugin: jsonl, enabled: false}]|11: exports[0]: missing required key "path"
exports: [{name: j, plugin: jsonl, enabled: false, kinds: [bogus], path: $T/j.jsonl}]|60: exports[0].kinds[0]: unknown change kind
sources: [{name: e, plugin: example, enabled: false, schedule: every 0s, path: $T/e.jsonl}]|64: sources[0].schedule: "every" needs a duration
sources: [{name: e, plugin: example, enabled: false}]|11: sources[0]: missing required key "path"
sources: [{name: a, plugin: segment, enabled: false, write_keys: [k], schedule: every 1m}]|71: sources[0].schedule: only a pull source reads this key
EOF

# import --format <plugin>: a source's own format through its plugin
cfg="$T/plugins.yaml"
printf 'store: {path: %s/plugins.db}\nsources:\n  - name: web\n    plugin: segment\n    write_keys: ["k"]\n' "$T" >"$cfg"
{
	echo '{"type":"identify","userId":"ann","anonymousId":"a1","traits":{"plan":"gold"},"messageId":"s1","timestamp":"2026-01-01T00:00:00Z"}'
	echo '{"type":"track","anonymousId":"a1","event":"Viewed","messageId":"s2","timestamp":"2026-01-01T00:01:00Z"}'
	echo '{"type":"bogus","anonymousId":"a1"}'
} >"$T/seg.jsonl"
"$HUB" -c "$cfg" import "$T/seg.jsonl" --source web --format segment >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "import --format segment with a bad line: exit 1 expected"
grep -qx "records 3, applied 2, duplicates 0, blocked 0, refused 0, rejected 1" "$T/out" || fail "segment import counts: $(cat "$T/out")"
grep -q "line 3: type: unknown type" "$T/err" || fail "segment import names the bad line: $(cat "$T/err")"
"$HUB" -c "$cfg" import "$T/seg.jsonl" --source web --format segment >"$T/out" 2>/dev/null
grep -q "applied 0, duplicates 2" "$T/out" || fail "re-import is not deduplicated: $(cat "$T/out")"
"$HUB" -c "$cfg" profile --custom-id ann | jq -e '.event_count == 1 and .attributes.plan == "gold" and .events[0].source == "web"' >/dev/null ||
	fail "segment import: profile"
# a misspelt format names the plugin missing and what --format takes, not a source to add
"$HUB" -c "$cfg" import "$T/seg.jsonl" --source web --format segmnt >/dev/null 2>"$T/err"
[ $? -eq 1 ] || fail "import --format segmnt: exit 1 expected (as plugins --describe segmnt)"
grep -q 'format segmnt: no plugin named "segmnt" .*takes one of: canonical, .*mparticle, segment' "$T/err" ||
	fail "unknown format: $(cat "$T/err")"

# a source, export or plugin that is not there is one failure for every command
# (exit 1, API.md: the arguments are well formed, the configuration lacks the
# name; import --format said 2, the others 1), named with the configured ones it
# could have been and the closest as "did you mean"
cfg="$T/names.yaml"
{
	printf 'store: {path: %s/names.db}\nsources:\n' "$T"
	printf '  - {name: web, plugin: segment, write_keys: ["k"]}\n'
	printf '  - {name: crm, plugin: example, path: %s/none.jsonl}\n' "$T"
	printf 'exports:\n  - {name: lake, plugin: jsonl, path: %s/lake.jsonl}\n' "$T"
} >"$cfg"
unknown_name() { # MESSAGE ARGS...
	want=$1
	shift
	"$HUB" -c "$cfg" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 1 ] || fail "$*: exit $rc, want 1 (a name the configuration lacks)"
	[ "$(cat "$T/err")" = "$want" ] || fail "$*: said $(cat "$T/err"), want $want"
}
while IFS='|' read -r want args; do
	# shellcheck disable=SC2086 # args are words
	unknown_name "profilehub: $want" $args
done <<NAMES
sync: no pull source named "crn" in $cfg (did you mean "crm"?; pull sources: crm)|sync crn
sync: no pull source named "nope" in $cfg (pull sources: crm)|sync nope
sync: no pull source named "wbe" in $cfg (pull sources: crm)|sync wbe
sync: source "web" (plugin segment) is a push source: it is not synced (its data is sent to the hub over HTTP)|sync web
exports: no export named "lak" in $cfg (did you mean "lake"?; exports: lake)|exports backfill lak
exports: no export named "nope" in $cfg (exports: lake)|exports retry nope
plugins: no plugin named "nope" in $(cd "$B" && pwd)/plugins (plugins: $(cd "$B/plugins" && LC_ALL=C ls -- *.so | sed 's/\.so$//' | paste -sd, - | sed 's/,/, /g'))|plugins --describe nope
import: --format segment reads the config of the source --source names: no source named "wbe" in $cfg (did you mean "web"?; sources of plugin segment: web)|import $T/seg.jsonl --source wbe --format segment
import: --format segment reads the config of the source --source names: source "crm" of $cfg has plugin example, not segment (sources of plugin segment: web)|import $T/seg.jsonl --source crm --format segment
import: --format mparticle reads the config of the source --source names: no source named "app" in $cfg (no source of plugin mparticle configured)|import $T/seg.jsonl --source app --format mparticle
NAMES

# an item the plugin refuses itself (host->reject(), ABI 1.2) counts as rejected, named
# with its line like the hub's own rejections, and the exit status is the same (1);
# tests/plugins/reject_lines: "!why" is rejected, "FAIL" fails the whole line; a
# record emit() refuses (line 7: not UTF-8) counts too though the plugin goes on,
# and a line that rejects an item and then fails (line 8) counts once
mkdir -p "$T/rl_plugins"
ln -s "$(cd "$B" && pwd)/tests/plugins/reject_lines.so" "$T/rl_plugins/reject_lines.so"
cfg="$T/rl.yaml"
printf 'store: {path: %s/rl.db}\nplugin_dir: %s/rl_plugins\nsources:\n  - name: rl\n    plugin: reject_lines\n    lines: [p1, "!not a user", p2, "w:u5"]\n' "$T" "$T" >"$cfg"
printf 'u1\n!not a user: x\nu2\n\nFAIL\nu3\n\377\376\n!!twice\n' >"$T/rl.txt"
"$HUB" -c "$cfg" import "$T/rl.txt" --source rl --format reject_lines >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "import with an item the plugin rejects: exit 1 expected"
grep -qx "records 7, applied 3, duplicates 0, blocked 0, refused 0, rejected 4" "$T/out" ||
	fail "import counts with reject(): $(cat "$T/out") $(cat "$T/err")"
grep -qx "profilehub: import: line 7: message_id: not valid UTF-8" "$T/err" ||
	fail "import names the record emit() refused: $(cat "$T/err")"
grep -qx "profilehub: import: line 8: the line fails" "$T/err" ||
	fail "import names the line that rejected an item and failed: $(cat "$T/err")"
grep -q "line 8: twice" "$T/err" && fail "a failed line's reject() counted too: $(cat "$T/err")"
grep -qx "profilehub: import: line 2: not a user: x" "$T/err" ||
	fail "import names the rejected item's line: $(cat "$T/err")"
grep -qx "profilehub: import: line 5: the line fails" "$T/err" ||
	fail "import names the failed line: $(cat "$T/err")"
# memory running out at a line says nothing of the line: the import stops
# there as at a failed batch (the lines before it stored, none after it), and
# nothing is counted as rejected
printf 'm1\nm2\nNOMEM\nm3\n' >"$T/rlm.txt"
"$HUB" -c "$cfg" import "$T/rlm.txt" --source rl --format reject_lines >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "import that runs out of memory: exit 1 expected"
grep -qx "records 2, applied 2, duplicates 0, blocked 0, refused 0, rejected 0" "$T/out" ||
	fail "import counts with memory running out: $(cat "$T/out") $(cat "$T/err")"
grep -qx "profilehub: import: line 3: out of memory" "$T/err" &&
	grep -q "^profilehub: import: line 3 and every line after it are not stored (the lines before it are stored)" "$T/err" ||
	fail "import names the line memory ran out at as the first not stored: $(cat "$T/err")"
"$HUB" -c "$cfg" profile --custom-id m2 >/dev/null 2>&1 || fail "the line before memory ran out is stored"
"$HUB" -c "$cfg" profile --custom-id m3 >/dev/null 2>&1 && fail "a line after memory ran out is stored"
"$HUB" -c "$cfg" sync rl >"$T/out" 2>"$T/err"
[ $? -eq 0 ] || fail "sync with an item the plugin rejects: $(cat "$T/err")"
grep -qx "read 4, applied 3, duplicates 0, rejected 1, blocked 0, refused 0" "$T/out" ||
	fail "sync counts with reject(): $(cat "$T/out") $(cat "$T/err")"
grep -q "sync: rl: rejected: not a user" "$T/err" || fail "sync names the rejected item: $(cat "$T/err")"
# a value dropped as invalid (the rest of the record applied) is named too
grep -qx "profilehub: sync: rl: warning: attributes.\$timezone: must be UTC or an IANA Area/Location name (first in w-item)" "$T/err" ||
	fail "sync names the warning: $(cat "$T/err")"
# the summary is flushed before the reasons follow it on stderr: in one file
# (2>&1), it comes first
"$HUB" -c "$cfg" sync rl --full >"$T/both" 2>&1 || fail "sync --full: $(cat "$T/both")"
[ "$(grep -n '^cursor ' "$T/both" | cut -d: -f1)" -lt "$(grep -n 'rejected: not a user' "$T/both" | cut -d: -f1)" ] ||
	fail "sync: the summary after the reasons: $(cat "$T/both")"
"$HUB" -c "$cfg" profile --custom-id u5 | jq -e '.attributes.plan == "gold" and (.attributes | has("$timezone") | not)' >/dev/null ||
	fail "sync: the record with a warning applied without the bad value"

# import names its first warnings with their lines, and the record's origin
# in its line when the plugin gives one (ABI 1.3)
printf 'w:u6\n' >"$T/rlw.txt"
"$HUB" -c "$cfg" import "$T/rlw.txt" --source rl --format reject_lines >"$T/out" 2>"$T/err" ||
	fail "import with a warning: $(cat "$T/err")"
grep -q "^warnings 1 " "$T/out" || fail "import counts the warning: $(cat "$T/out")"
grep -qx "profilehub: import: warning: line 1 (w-item): attributes.\$timezone: must be UTC or an IANA Area/Location name" "$T/err" ||
	fail "import names the warning with its line and origin: $(cat "$T/err")"
printf '%s\n' '{"type": "identify", "message_id": "cw1", "timestamp": "2026-01-01T00:00:00Z", "identifiers": {"custom_id": "u7"}, "attributes": {"plan": "a"}}' \
	'{"type": "identify", "message_id": "cw2", "timestamp": "2026-01-01T00:00:00Z", "identifiers": {"custom_id": "u7"}, "attributes": {"$phone_number": "555"}}' >"$T/cw.jsonl"
"$HUB" -c "$cfg" import "$T/cw.jsonl" --source rl >"$T/out" 2>"$T/err" ||
	fail "canonical import with a warning: $(cat "$T/err")"
grep -qxF 'profilehub: import: warning: line 2: attributes.$phone_number: must match ^\+[0-9]{1,15}$' "$T/err" ||
	fail "canonical import names the warning with its line: $(cat "$T/err")"
# an array op that passes 25 items only with what is stored (20, then 10
# new ones) is the writer's warning: counted and named with its line, the
# attribute left as it was, the rest of the record applied
tags=$(seq -f '"t%g"' 0 19 | paste -sd, -)
printf '%s\n' '{"type": "identify", "message_id": "aw1", "timestamp": "2026-01-01T00:00:00Z", "identifiers": {"custom_id": "u8"}, "attributes": {"tags": ['"$tags"']}}' \
	'{"type": "identify", "message_id": "aw2", "timestamp": "2026-01-01T00:01:00Z", "identifiers": {"custom_id": "u8"}, "attributes": {"plan": "b", "tags": {"$add": ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"]}}}' >"$T/aw.jsonl"
"$HUB" -c "$cfg" import "$T/aw.jsonl" --source rl >"$T/out" 2>"$T/err" ||
	fail "import of an array op past the limit: $(cat "$T/err")"
grep -q "^records 2, applied 2, " "$T/out" && grep -q "^warnings 1 " "$T/out" ||
	fail "import counts the array op past the limit as a warning: $(cat "$T/out")"
grep -qxF 'profilehub: import: warning: line 2: attributes.tags: the array op would leave 30 items, more than 25; the attribute is left unchanged' "$T/err" ||
	fail "import names the array op past the limit with its line: $(cat "$T/err")"
"$HUB" -c "$cfg" profile --custom-id u8 | jq -e '(.attributes.tags | length) == 20 and .attributes.tags[19] == "t19" and .attributes.plan == "b"' >/dev/null ||
	fail "the array op past the limit left tags as they were, the rest applied"
# the first warnings shown are the file's first by line, the writer's among
# them: validation noted lines 3..14 first, and the writer's line 2 came
# only when its batch committed (it was left out, the list already full)
{
	printf '%s\n' '{"type": "identify", "message_id": "ow1", "timestamp": "2026-01-01T00:00:00Z", "identifiers": {"custom_id": "u9"}, "attributes": {"tags": ['"$tags"']}}' \
		'{"type": "identify", "message_id": "ow2", "timestamp": "2026-01-01T00:01:00Z", "identifiers": {"custom_id": "u9"}, "attributes": {"tags": {"$add": ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"]}}}'
	for i in $(seq 3 14); do
		printf '{"type": "identify", "message_id": "ow%d", "timestamp": "2026-01-01T00:02:00Z", "identifiers": {"custom_id": "u9"}, "attributes": {"$phone_number": "555"}}\n' "$i"
	done
} >"$T/ow.jsonl"
"$HUB" -c "$cfg" import "$T/ow.jsonl" --source rl >"$T/out" 2>"$T/err" ||
	fail "import with 13 warnings: $(cat "$T/err")"
grep -q "^warnings 13 " "$T/out" || fail "import counts 13 warnings: $(cat "$T/out")"
sed -n 's/^profilehub: import: warning: line \([0-9]*\):.*/\1/p' "$T/err" | paste -sd, - >"$T/lines"
[ "$(cat "$T/lines")" = "2,3,4,5,6,7,8,9,10,11" ] ||
	fail "the first 10 warnings by line, the writer's line 2 first: lines $(cat "$T/lines")"
grep -qx "profilehub: import: ... and 3 more warnings" "$T/err" || fail "the rest counted: $(cat "$T/err")"

# every command that prints: a write to stdout that fails is exit 1 and
# named (a full disk must not look like a whole dump; version, plugins and
# exports exited 0 with nothing written)
cfg="$T/access.yaml"
[ -c /dev/full ] || fail "no /dev/full to write to"
for cmd in "dump" "profile --custom-id C1" "privacy access --custom-id C1" "version" "help" \
	"plugins" "plugins --describe segment" "exports" "exports --json"; do
	# shellcheck disable=SC2086
	"$HUB" -c "$cfg" $cmd >/dev/full 2>"$T/err"
	rc=$?
	[ $rc -eq 1 ] || fail "$cmd to a full disk: exit $rc, expected 1"
	grep -q "cannot write to stdout: No space left on device" "$T/err" ||
		fail "$cmd to a full disk: $(cat "$T/err")"
	[ "$(grep -c "cannot write to stdout" "$T/err")" -eq 1 ] ||
		fail "$cmd to a full disk: said twice"
done
# rows older versions stored and jansson cannot read back (a reason cut inside a
# character, a real past DBL_MAX, properties text that is no JSON) are left out
# of the documents, logged; they never fail a person's access or profile
printf 'store: {path: %s/legacy.db}\n' "$T" >"$T/legacy.yaml"
{
	echo '{"type":"identify","source":"t","message_id":"l1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"leg"},"attributes":{"plan":"gold","big":1}}'
	echo '{"type":"track","source":"t","message_id":"l2","timestamp":"2026-01-01T00:01:00Z","identifiers":{"custom_id":"leg"},"event":{"name":"E","properties":{"a":1}}}'
} >"$T/legacy.jsonl"
"$HUB" -c "$T/legacy.yaml" import "$T/legacy.jsonl" --source t >/dev/null 2>&1 || fail "legacy: import"
sqlite3 "$T/legacy.db" "UPDATE attributes SET value = '1.79769313486232e+308' WHERE key = 'big';
	UPDATE events SET properties = '{bad';
	UPDATE identity_log SET reason = CAST(x'61c3' AS TEXT);" || fail "legacy: sqlite3"
"$HUB" -c "$T/legacy.yaml" profile --custom-id leg >"$T/out" 2>"$T/err" ||
	fail "legacy rows fail the profile: $(cat "$T/err")"
jq -e '.attributes.plan == "gold" and (.attributes | has("big") | not) and .events[0].properties == {}' \
	"$T/out" >/dev/null || fail "legacy rows: profile $(cat "$T/out")"
grep -q "big: stored JSON unreadable" "$T/err" || fail "legacy rows: not logged: $(cat "$T/err")"
"$HUB" -c "$T/legacy.yaml" privacy access --custom-id leg >"$T/out" 2>"$T/err" ||
	fail "legacy rows fail the access request: $(cat "$T/err")"
jq -e '[.profiles[0].identity_log[] | has("reason")] | any | not' "$T/out" >/dev/null ||
	fail "legacy rows: access $(head -c 600 "$T/out")"
# sync prints its summary and flushes it itself: the error named is the write's
# own (it was a stale errno, "Resource temporarily unavailable")
echo '{"user_id":"full1","event":"e","id":"f1","timestamp":"2026-01-02T03:04:05Z"}' >"$T/full.jsonl"
printf 'store: {path: %s/full.db}\nsources:\n  - name: ex\n    plugin: example\n    path: %s/full.jsonl\n' \
	"$T" "$T" >"$T/full.yaml"
"$HUB" -c "$T/full.yaml" sync ex >/dev/full 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "sync: cannot write to stdout: No space left on device" "$T/err" ||
	fail "sync to a full disk: exit $rc, $(cat "$T/err")"
# a SIGTERM mid-pull lets the page in progress finish; a second one quits at once,
# exit 130 (--help's "130 when a second Ctrl-C").  The example plugin blocks opening
# its FIFO, which has no writer: its page never ends.  The sync holds its lease
# (a lock file) once the signals are its signal thread's.
mkfifo "$T/sig.fifo" || fail "mkfifo"
printf 'store: {path: %s/sig.db}\nsources:\n  - {name: ex, plugin: example, path: %s/sig.fifo}\n' \
	"$T" "$T" >"$T/sig.yaml"
"$HUB" -c "$T/sig.yaml" sync ex >"$T/out" 2>"$T/err" &
pid=$!
lock="$(realpath "$T")/sig.db-leases/sync%3aex"
until_true() { # WHAT COMMAND...: at most 10 s
	what=$1
	shift
	n=0
	until "$@"; do
		n=$((n + 1))
		[ $n -lt 100 ] || { fail "$what: $(cat "$T/err")"; return 1; }
		sleep 0.1
	done
}
lock_is_held() { [ -e "$lock" ] && ! flock -n "$lock" true; }
pid_is_gone() { ! kill -0 "$pid" 2>/dev/null; }
said_finishing() { grep -q "SIGTERM: finishing the page in progress" "$T/err"; }
if until_true "the sync never took its lease" lock_is_held; then
	kill -TERM "$pid"
	until_true "no word of the first SIGTERM" said_finishing
	kill -0 "$pid" 2>/dev/null || fail "sync quit at the first SIGTERM mid-page"
	kill -TERM "$pid"
	until_true "a second SIGTERM did not quit the sync at once" pid_is_gone
fi
if kill -0 "$pid" 2>/dev/null; then # a failure above: end it (its FIFO gets a writer)
	timeout 5 sh -c ': >"$1"' _ "$T/sig.fifo"
	kill -KILL "$pid" 2>/dev/null
fi
wait "$pid"
rc=$?
[ $rc -eq 130 ] || fail "sync quit by a second SIGTERM: exit $rc, want 130: $(cat "$T/err")"
# a PROFILEHUB_ID_KEY that is not 64 hex digits is refused, not replaced by
# a random key (a test comparing two stores would compare different IDs)
printf 'store: {path: %s/idkey.db}\n' "$T" >"$T/idkey.yaml"
: >"$T/idkey.db" # an empty file is an empty SQLite store: dump opens it
PROFILEHUB_ID_KEY=+1f "$HUB" -c "$T/idkey.yaml" dump >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "PROFILEHUB_ID_KEY: must be 64 hex digits" "$T/err" ||
	fail "a bad PROFILEHUB_ID_KEY: exit $rc, $(cat "$T/err")"

# email promoted to an external id is an identifier: a lookup by email finds its
# holder (it sets no $email_address), and a profile with the attribute too
cfg="$T/ext_email.yaml"
printf 'store: {path: %s/ext_email.db}\nidentity:\n  external:\n    email: {limit: 5, priority: 2}\n' "$T" >"$cfg"
printf '%s\n' '{"type":"identify","message_id":"e1","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"C9","email":"e@x.com"}}' \
	'{"type":"identify","message_id":"e2","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"C8"},"attributes":{"$email_address":"e@x.com"}}' >"$T/ext_email.jsonl"
"$HUB" -c "$cfg" import "$T/ext_email.jsonl" --source test >/dev/null 2>&1 || fail "external email: import"
"$HUB" -c "$cfg" profile --email e@x.com | jq -s -e 'map(.custom_id) == ["C9", "C8"]' >/dev/null ||
	fail "lookup by an external-id email: $("$HUB" -c "$cfg" profile --email e@x.com 2>&1)"
cfg="$T/access.yaml"

# an event at 1970-01-01T00:00:00Z is a last visit too
printf '%s\n' '{"type":"track","message_id":"z1","timestamp":"1970-01-01T00:00:00.000Z","identifiers":{"custom_id":"Z"},"event":{"name":"e"}}' >"$T/zero.jsonl"
"$HUB" -c "$cfg" import "$T/zero.jsonl" --source test >/dev/null 2>&1 || fail "import of an event at 0"
"$HUB" -c "$cfg" profile --custom-id Z | jq -e '.event_count == 1 and .last_visit == "1970-01-01T00:00:00.000Z"' >/dev/null ||
	fail "last_visit at 0: $("$HUB" -c "$cfg" profile --custom-id Z)"

# import: a line that begins with a NUL is rejected, not skipped as blank; an
# empty --events is a usage error; a directory or an unreadable input is named
# with its reason, before any store is made
printf '\000{"type":"identify","message_id":"n1","identifiers":{"custom_id":"N"}}\n' >"$T/nul.jsonl"
"$HUB" -c "$cfg" import "$T/nul.jsonl" --source test >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "import of a NUL line: exit 1 expected"
grep -q "rejected 1" "$T/out" || fail "a NUL line is counted as rejected: $(cat "$T/out")"
"$HUB" -c "$cfg" dump --events "" >/dev/null 2>&1; [ $? -eq 2 ] || fail "dump --events '': exit 2 expected"
printf 'store: {path: %s/dir.db}\n' "$T" >"$T/dir.yaml"
"$HUB" -c "$T/dir.yaml" import "$T" --source test >/dev/null 2>"$T/err" && fail "import of a directory succeeded"
grep -q "import: \"$T\": Is a directory" "$T/err" || fail "import of a directory: $(cat "$T/err")"
[ -e "$T/dir.db" ] && fail "import of a directory made a store"
"$HUB" -c "$T/dir.yaml" import /proc/self/mem --source test >/dev/null 2>"$T/err" && fail "import of /proc/self/mem succeeded"
grep -q "import: \"/proc/self/mem\": read error: Input/output error" "$T/err" ||
	fail "a read error: $(cat "$T/err")"

# import: a gzip file (Segment's S3 archives are .gz) is inflated as read, from
# a file or stdin, its members in turn; one cut short stores its whole lines and
# fails naming gzip and the last line read (each compressed line was rejected
# as invalid JSON)
printf '{"type":"identify","message_id":"g%d","identifiers":{"custom_id":"G%d"}}\n' 1 1 2 2 |
	gzip >"$T/g.jsonl.gz"
printf '{"type":"identify","message_id":"g3","identifiers":{"custom_id":"G3"}}\n' | gzip >>"$T/g.jsonl.gz"
printf 'store: {path: %s/gz.db}\n' "$T" >"$T/gz.yaml"
"$HUB" -c "$T/gz.yaml" import "$T/g.jsonl.gz" --source test >"$T/out" 2>"$T/err" ||
	fail "import of a gzip file: $(cat "$T/out" "$T/err")"
grep -q "records 3, applied 3, duplicates 0" "$T/out" || fail "a gzip file's lines: $(cat "$T/out")"
"$HUB" -c "$T/gz.yaml" import - --source test <"$T/g.jsonl.gz" >"$T/out" 2>"$T/err" ||
	fail "import of gzip on stdin: $(cat "$T/err")"
grep -q "records 3, applied 0, duplicates 3" "$T/out" || fail "gzip on stdin: $(cat "$T/out")"
awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "{\"type\":\"identify\",\"message_id\":\"c%d\",\"identifiers\":{\"custom_id\":\"C%d\"}}\n", i, i }' |
	gzip >"$T/c.gz"
head -c $(($(wc -c <"$T/c.gz") - 6)) "$T/c.gz" >"$T/cut.gz"
"$HUB" -c "$T/gz.yaml" import "$T/cut.gz" --source test >"$T/out" 2>"$T/err" &&
	fail "import of a gzip file cut short succeeded"
grep -q "import: \"$T/cut.gz\": read error after line [0-9]*: gzip: the compressed data ends" \
	"$T/err" || fail "a gzip file cut short: $(cat "$T/err")"
grep -q "rejected 0" "$T/out" || fail "a gzip file cut short: lines rejected: $(cat "$T/out")"
# zero bytes after the last member (tape or dd padding) are ignored, as gzip(1)
# does; other bytes after it fail naming gzip, the line and the offset
{ cat "$T/g.jsonl.gz"; head -c 70000 /dev/zero; } >"$T/pad.gz"
"$HUB" -c "$T/gz.yaml" import "$T/pad.gz" --source test >"$T/out" 2>"$T/err" ||
	fail "import of a gzip file padded with zeros: $(cat "$T/out" "$T/err")"
grep -q "records 3, applied 0, duplicates 3" "$T/out" || fail "a padded gzip file: $(cat "$T/out")"
{ cat "$T/pad.gz"; printf x; } >"$T/junk.gz"
"$HUB" -c "$T/gz.yaml" import "$T/junk.gz" --source test >"$T/out" 2>"$T/err" &&
	fail "import of a gzip file with trailing garbage succeeded"
pad_n=$(($(wc -c <"$T/pad.gz")))
grep -q "import: \"$T/junk.gz\": read error after line 3: gzip: .* at byte $pad_n" \
	"$T/err" || fail "a gzip file with trailing garbage: $(cat "$T/err")"

# import --rejects FILE: every rejected line as read (a CRLF line's break and the
# BOM aside), in order, to fix and import again, past the ten shown; a line over
# the line limit is counted, not kept; FILE that cannot be made fails first
{
	printf '\357\273\277{"type":"identify","message_id":"r0","identifiers":{"custom_id":"R0"}}\n'
	i=1
	while [ $i -le 12 ]; do
		printf '{"type":"identify","message_id":"r%d","identifiers":{"custom_id":"R%d"}}\n' $i $i
		printf '{"type":"identify","message_id":"bad%d",\r\n' $i
		i=$((i + 1))
	done
	printf '{"type":"identify","message_id":"x\377","identifiers":{"custom_id":"X"}}\n'
	printf '{"type":"identify","message_id":"long","identifiers":{"custom_id":"L"},"p":"'
	head -c 1100000 /dev/zero | tr '\0' a
	printf '"}\n{"type":"identify","message_id":"r13","identifiers":{"custom_id":"R13"}}\n'
} >"$T/rej.jsonl"
{
	i=1
	while [ $i -le 12 ]; do
		printf '{"type":"identify","message_id":"bad%d",\n' $i
		i=$((i + 1))
	done
	printf '{"type":"identify","message_id":"x\377","identifiers":{"custom_id":"X"}}\n'
} >"$T/rej.want"
"$HUB" -c "$T/gz.yaml" import "$T/rej.jsonl" --source test --rejects "$T/rej.out" >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "import --rejects with rejected lines: exit 1 expected"
grep -q "records 28, applied 14, duplicates 0, blocked 0, refused 0, rejected 14" "$T/out" ||
	fail "import --rejects: $(cat "$T/out")"
cmp -s "$T/rej.want" "$T/rej.out" || fail "import --rejects: the file holds $(od -c "$T/rej.out" | head -5)"
grep -q "import: 13 rejected lines written to $T/rej.out, not the 1 longer than 1048576 bytes" \
	"$T/err" || fail "import --rejects: the summary: $(cat "$T/err")"
"$HUB" -c "$T/gz.yaml" import "$T/rej.jsonl" --source test --rejects "$T/none/rej" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "import: --rejects \"$T/none/rej\": No such file or directory" "$T/err" ||
	fail "import --rejects into a missing directory: $(cat "$T/err")"
# --rejects naming the file being read (the rejects file fixed and imported again
# with the same command line) is refused before it is opened: "w" emptied it first
cp "$T/rej.out" "$T/again.jsonl"
"$HUB" -c "$T/gz.yaml" import "$T/again.jsonl" --source test --rejects "$T/again.jsonl" \
	>/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "import: --rejects $T/again.jsonl is the file being imported" "$T/err" ||
	fail "import --rejects of its own input: $(cat "$T/err")"
cmp -s "$T/rej.out" "$T/again.jsonl" || fail "import --rejects of its own input emptied it"
"$HUB" -c "$T/gz.yaml" import - --source test --rejects "$T/again.jsonl" <"$T/again.jsonl" \
	>/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "is the file being imported" "$T/err" ||
	fail "import - --rejects of the file on stdin: $(cat "$T/err")"

# dump reads one snapshot and locks no writer out: an import commits while a
# dump waits for a reader that has read only its first byte (on SQLite the dump
# held the write lock: the import failed with "database is locked")
cfg="$T/snap.yaml"
printf 'store: {path: %s/snap.db}\n' "$T" >"$cfg"
pad=$(printf '%0300d' 0)
awk -v pad="$pad" 'BEGIN { for (i = 0; i < 600; i++)
	printf "{\"type\":\"identify\",\"message_id\":\"s%d\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"S%d\"},\"attributes\":{\"pad\":\"%s\"}}\n", i, i, pad }' >"$T/snap.jsonl"
"$HUB" -c "$cfg" import "$T/snap.jsonl" --source test >/dev/null || fail "snapshot: import"
printf '%s\n' '{"type":"identify","message_id":"late","timestamp":"2026-01-01T00:00:00Z","identifiers":{"custom_id":"LATE"}}' >"$T/late.jsonl"
mkfifo "$T/fifo"
"$HUB" -c "$cfg" dump >"$T/fifo" 2>"$T/dump.err" &
dump_pid=$!
exec 3<"$T/fifo"
dd bs=1 count=1 <&3 >/dev/null 2>&1 # the dump has printed: its snapshot is taken
timeout 60 "$HUB" -c "$cfg" import "$T/late.jsonl" --source test >"$T/out" 2>"$T/err" ||
	fail "an import beside a dump: $(cat "$T/err")"
cat <&3 >"$T/snap_dump.jsonl"
exec 3<&-
wait $dump_pid || fail "the dump beside an import: $(cat "$T/dump.err")"
[ "$(wc -l <"$T/snap_dump.jsonl")" -eq 600 ] || fail "the dump: $(wc -l <"$T/snap_dump.jsonl") lines, 600 expected"
grep -q LATE "$T/snap_dump.jsonl" && fail "the dump shows a profile committed after its snapshot"
"$HUB" -c "$cfg" profile --custom-id LATE >/dev/null || fail "the import beside the dump is not stored"

[ $fails -eq 0 ]
