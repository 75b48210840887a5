#!/bin/sh
# bench/unify/run.sh - end-to-end unification throughput and memory.
#
# Generates (once, cached under $HUB_BUILD/bench/) a canonical JSON Lines
# stream of UNIFY_RECORDS records for UNIFY_USERS users with login/logout
# patterns, imports it with `profilehub import FILE --source bench` into a
# fresh SQLite store (durable commits: WAL, synchronous=FULL) and reports
# records/s and peak RSS against the targets.  The same import runs on a
# smaller stream (UNIFY_SMALL_RECORDS, users scaled alike) to show that
# peak RSS does not grow with the input.
#
# Baseline: the usual warehouse identity stitching on the same records.  A
# throwaway PostgreSQL on 127.0.0.1 loads the records' identity links with
# COPY, then label propagation ("every node takes the smallest label of its
# neighbours", baseline_step.sql) runs until a round changes nothing.
#
# Prints, never fails on a missed target: the exit status is non-zero only
# when the benchmark itself could not run (no binary, import crashed).
# Summary lines are appended to $BENCH_SUMMARY when bench/run.sh sets it.
#
# Knobs (environment): UNIFY_RECORDS (1000000), UNIFY_USERS (200000),
# UNIFY_SMALL_RECORDS (200000, 0 skips), UNIFY_SEED (1), UNIFY_BASELINE
# (1; 0 skips PostgreSQL), UNIFY_PG_BUDGET_S (300: rounds stop past it).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${HUB_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac

RECORDS=${UNIFY_RECORDS:-1000000}
USERS=${UNIFY_USERS:-200000}
SMALL=${UNIFY_SMALL_RECORDS:-200000}
SEED=${UNIFY_SEED:-1}
BASELINE=${UNIFY_BASELINE:-1}
PG_BUDGET_S=${UNIFY_PG_BUDGET_S:-300}
TARGET_RPS=100000
TARGET_RSS_MB=256

HUB="$B/profilehub"
CACHE="$B/bench"
SUMMARY=${BENCH_SUMMARY:-/dev/null}

say() { printf '%s\n' "$*"; }
note() { printf 'unify: %s\n' "$*"; }
summary() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
die() {
	printf 'unify: error: %s\n' "$*" >&2
	printf 'unify: ERROR %s\n' "$*" >>"$SUMMARY"
	exit 1
}
# calc EXPR: floating point arithmetic through awk.
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
now() { date +%s.%N; }
mb() { calc "sprintf(\"%.1f\", $1 / 1024)"; }
verdict() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }
bytes_h() { calc "sprintf(\"%.1f MB\", $1 / 1048576)"; }

[ -x "$HUB" ] || die "$HUB not built (run make bench)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (Debian package \"time\")"

# ---- the generator --------------------------------------------------

# tests/tools/gen_records, shared with the tests.  The cache key includes
# its sources' checksum, so a changed generator regenerates.
GEN="$B/tests/tools/gen_records"
[ -x "$GEN" ] || die "$GEN not built (run make bench)"
GEN_KEY=$(cat tests/tools/gen_records.c tests/tools/gen.h 2>/dev/null | cksum | awk '{ print $1 }')

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
chmod 755 "$WORK"
PG_CTL=""
PG_DATA=""
PG_SOCK=""
TIME_PID=""
cleanup() {
	# An import in the background ignores ^C (an asynchronous command of
	# a non-interactive shell, and GNU time, ignore SIGINT): stop it here.
	if [ -n "$TIME_PID" ]; then
		# shellcheck disable=SC2046 # the pids, split on purpose
		kill $(pgrep -P "$TIME_PID") "$TIME_PID" 2>/dev/null || true
		wait "$TIME_PID" 2>/dev/null || true
	fi
	if [ -n "$PG_CTL" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
		as_pg "$PG_CTL" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	[ -z "$PG_SOCK" ] || rm -rf "$PG_SOCK"
	rm -rf "$WORK"
}
trap cleanup EXIT
# a closed terminal (HUP) or reader (PIPE) stops the run as ^C does: the trap cleans up
trap 'exit 130' HUP INT TERM PIPE

# stream_file RECORDS USERS: prints the cached stream's path, generating it
# first if needed (atomically: a killed run leaves no half file).
stream_file() {
	f="$CACHE/unify-r$1-u$2-s$SEED-g$GEN_KEY.jsonl"
	if [ ! -s "$f" ]; then
		rm -f "$CACHE"/unify-r"$1"-u"$2"-s"$SEED"-g*
		t0=$(now)
		"$GEN" --seed "$SEED" --users "$2" --records "$1" >"$f.tmp" ||
			die "generator failed: $GEN --seed $SEED --users $2 --records $1"
		mv "$f.tmp" "$f"
		note "generated $(basename "$f") in $(calc "sprintf(\"%.1f\", $(now) - $t0)") s" >&2
	fi
	printf '%s\n' "$f"
}

# ---- profilehub import ----------------------------------------------

# cpu_times: the machine's CPU time so far, "TOTAL STEAL" in ticks (the
# "cpu" line of /proc/stat; steal is time a virtual machine was ready to
# run but the hypervisor ran another guest).
cpu_times() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $9; exit }' /proc/stat
}
# steal_percent BEFORE AFTER: the share of the time between two cpu_times
# the hypervisor took away, in percent.
steal_percent() {
	# shellcheck disable=SC2086 # split into the two figures on purpose
	set -- $1 $2
	calc "sprintf(\"%.0f\", ($3 - $1) > 0 ? 100 * ($4 - $2) / ($3 - $1) : 0)"
}

# run_import FILE LABEL: imports FILE into a fresh store and sets
# IMP_SECS IMP_RSS_KB IMP_RECORDS IMP_RPS IMP_DB_BYTES IMP_WAL_BYTES
# IMP_LIVE IMP_PROFILES IMP_EVENTS.
run_import() {
	dir="$WORK/$2"
	mkdir -p "$dir"
	# The default configuration, with the store in the work dir and the
	# identity settings the stream is written for (crm_id, limit 1).
	{
		printf 'log_level: warn\nstore:\n  driver: sqlite\n  path: %s\n' "$dir/hub.db"
		"$GEN" --print-config
	} >"$dir/hub.yaml"
	# The store lives on the same disk as the build (not a tmpfs), so its
	# fsyncs cost what they cost in production.
	# Peak RSS so far (VmHWM) is sampled every second beside GNU time's
	# final figure: memory that still grows in the second half of the run
	# grows with the input; memory that stops once the caches are warm
	# does not.
	set +e
	stat0=$(cpu_times)
	/usr/bin/time -f '%e %M %U %S' -o "$dir/time.txt" \
		"$HUB" -c "$dir/hub.yaml" import "$1" --source bench >"$dir/out.txt" 2>"$dir/err.txt" &
	tpid=$!
	TIME_PID=$tpid
	hpid=""
	t0=$(now)
	while kill -0 "$tpid" 2>/dev/null; do
		[ -n "$hpid" ] || hpid=$(pgrep -P "$tpid" | head -1)
		[ -n "$hpid" ] && awk -v t="$(calc "$(now) - $t0")" \
			'$1 == "VmHWM:" { print t, $2 }' "/proc/$hpid/status" >>"$dir/hwm.txt" 2>/dev/null
		sleep 1
	done
	wait "$tpid"
	rc=$?
	TIME_PID=""
	IMP_STEAL=$(steal_percent "$stat0" "$(cpu_times)")
	set -e
	if [ ! -s "$dir/time.txt" ] || ! grep -q '^records ' "$dir/out.txt"; then
		cat "$dir/out.txt" "$dir/err.txt" >&2
		die "import of $(basename "$1") failed (exit $rc)"
	fi
	# The stream holds records the hub must reject (blocked values leave
	# some with no usable identifier): the import then exits 1.
	[ $rc -eq 0 ] || note "import exit status $rc (rejected records), the first: $(grep -m1 'line [0-9]*:' "$dir/err.txt" | sed 's/^profilehub: import: //')"
	# GNU time writes "Command exited with non-zero status N" first then.
	# shellcheck disable=SC2046 # split into the four figures on purpose
	set -- $(tail -1 "$dir/time.txt")
	IMP_SECS=$1
	IMP_RSS_KB=$2
	IMP_CPU="user $3 s, sys $4 s"
	# The peak over the first half of the run (0 when too short to sample).
	IMP_HALF_RSS_KB=$(awk -v half="$(calc "$IMP_SECS / 2")" \
		'$1 <= half { kb = $2 } END { print kb + 0 }' "$dir/hwm.txt" 2>/dev/null || echo 0)
	IMP_RECORDS=$(sed -n 's/^records \([0-9]*\),.*/\1/p' "$dir/out.txt")
	IMP_COUNTS=$(grep '^records ' "$dir/out.txt")
	IMP_RPS=$(calc "sprintf(\"%.0f\", $IMP_RECORDS / ($IMP_SECS > 0 ? $IMP_SECS : 0.01))")
	IMP_DB_BYTES=$(stat -c %s "$dir/hub.db")
	IMP_WAL_BYTES=0
	[ -f "$dir/hub.db-wal" ] && IMP_WAL_BYTES=$(stat -c %s "$dir/hub.db-wal")
	IMP_LIVE=$(sqlite3 -readonly "$dir/hub.db" \
		'SELECT count(*) FROM profiles WHERE merged_into IS NULL' 2>/dev/null || echo '?')
	IMP_PROFILES=$(sqlite3 -readonly "$dir/hub.db" 'SELECT count(*) FROM profiles' 2>/dev/null || echo '?')
	IMP_EVENTS=$(sqlite3 -readonly "$dir/hub.db" 'SELECT count(*) FROM events' 2>/dev/null || echo '?')
	# ($1 and $2 are GNU time's figures by now: the label is in $dir)
	case $dir in */big) store_floor "$dir/hub.db" "$dir/floor.db" ;; esac
	rm -f "$dir/hub.db" "$dir/hub.db-wal" "$dir/hub.db-shm"
}

# store_floor SRC DST: the store's floor.  Copies the rows the import left
# in SRC into an empty store DST of the same schema and settings (WAL,
# synchronous=FULL, the writer's 120 MB page cache, the same disk), one
# table per transaction, with `INSERT INTO ... SELECT`: no lookup, no
# update, no statement set-up per row, no application code, and every
# table in an order at least as kind as the import's (events, profiles and
# the identity log in arrival order, the others in key order).  Any import
# that leaves these rows in SQLite writes at least this much, so the
# records/s it gives is a ceiling for this schema on this machine today.
# The copy also reads SRC (from the page cache): the same reads, timed
# alone first, are taken off, so the floor is the writing only.
# Sets FLOOR_SECS (writing) FLOOR_READ_SECS FLOOR_ROWS FLOOR_RPS.
store_floor() {
	rm -f "$2" "$2-wal" "$2-shm"
	{
		printf 'PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nPRAGMA cache_size=-122880;\n'
		sqlite3 -readonly "$1" .schema | grep -v '^CREATE TABLE sqlite_sequence'
	} | sqlite3 "$2" >/dev/null || die "floor: could not create $2"
	FLOOR_ROWS=0
	copy=""
	read=""
	for t in dedupe events identity_log profiles identifiers attributes consent; do
		order=""
		case $t in events | identity_log | profiles) order=" ORDER BY seq" ;; esac
		copy="$copy BEGIN; INSERT INTO main.$t SELECT * FROM src.$t$order; COMMIT;"
		read="$read SELECT count(*) FROM (SELECT * FROM src.$t$order);"
		FLOOR_ROWS=$((FLOOR_ROWS + $(sqlite3 -readonly "$1" "SELECT count(*) FROM $t")))
	done
	t0=$(now)
	sqlite3 "$2" "PRAGMA cache_size=-122880; ATTACH '$1' AS src; $read" >/dev/null ||
		die "floor: reading $1 failed"
	FLOOR_READ_SECS=$(calc "sprintf(\"%.2f\", $(now) - $t0)")
	t0=$(now)
	sqlite3 "$2" "PRAGMA synchronous=FULL; PRAGMA cache_size=-122880;
		ATTACH '$1' AS src; $copy" >/dev/null || die "floor: copy into $2 failed"
	FLOOR_SECS=$(calc "sprintf(\"%.2f\", $(now) - $t0 - $FLOOR_READ_SECS)")
	FLOOR_RPS=$(calc "sprintf(\"%.0f\", $RECORDS / ($FLOOR_SECS > 0.01 ? $FLOOR_SECS : 0.01))")
	rm -f "$2" "$2-wal" "$2-shm"
}

# parse_floor FILE: a bare jansson parse of the stream's lines on one core
# (build/bench/parse_ceiling, as strict as the hub's parse), for 10 s.
# Sets PARSE_FLOOR: "N records/s on one core", or why it was not measured.
parse_floor() {
	if [ ! -x "$B/bench/parse_ceiling" ]; then
		PARSE_FLOOR="not measured ($B/bench/parse_ceiling is not built: make bench builds it)"
		return 0
	fi
	line=$("$B/bench/parse_ceiling" "$1" 1 10 1) || line=""
	rps=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^events_per_s=//p')
	PARSE_FLOOR="${rps:+$rps records/s on one core}"
	PARSE_FLOOR="${PARSE_FLOOR:-not measured ($B/bench/parse_ceiling failed)}"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=""
# Other work on the machine slows the import and the baseline alike, but
# not equally: say so beside the figures.
if [ "$(calc "$(cut -d' ' -f1 /proc/loadavg) > $(nproc) * 0.5 ? 1 : 0")" = 1 ]; then
	BUSY=" (busy machine: figures are pessimistic)"
fi
say "== unify: $RECORDS records, $USERS users, seed $SEED ($(nproc) cores, $(basename "$GEN"))"

# The speed of this kind of machine moves by 2x from day to day with the
# same code (see bench/README.md).  A fixed SQLite workload, timed beside,
# says how fast the machine is today: 1M random 16-character keys into an
# in-memory WITHOUT ROWID table (pure CPU and memory, no disk), best of 3.
calibrate() {
	best=""
	for _ in 1 2 3; do
		t0=$(now)
		sqlite3 :memory: "CREATE TABLE t(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
			WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
			INSERT INTO t SELECT hex(randomblob(8)), x FROM c;" || return 1
		t=$(calc "$(now) - $t0")
		if [ -z "$best" ] || [ "$(calc "$t < $best ? 1 : 0")" = 1 ]; then best=$t; fi
	done
	calc "sprintf(\"%.2f\", $best)"
}
CALIBRATION=$(calibrate) || CALIBRATION="?"
note "machine speed: the calibration workload took $CALIBRATION s (lower is faster)"
BIG=$(stream_file "$RECORDS" "$USERS")
note "stream $(basename "$BIG"): $(bytes_h "$(stat -c %s "$BIG")")"

run_import "$BIG" big
BIG_SECS=$IMP_SECS
BIG_RSS_KB=$IMP_RSS_KB
BIG_RPS=$IMP_RPS
BIG_LIVE=$IMP_LIVE
BIG_HALF_RSS_KB=$IMP_HALF_RSS_KB
BIG_STEAL=$IMP_STEAL
note "import: $IMP_COUNTS"
note "import: $IMP_SECS s wall ($IMP_CPU)"
note "store: $IMP_PROFILES profiles created, $IMP_LIVE live ($(calc "$IMP_PROFILES - $IMP_LIVE") merged away), $IMP_EVENTS events stored"
note "store: file $(bytes_h "$IMP_DB_BYTES") (+ WAL $(bytes_h "$IMP_WAL_BYTES")), $(calc "sprintf(\"%.0f\", $IMP_DB_BYTES / $RECORDS)") bytes/record"
note "store floor: the import's $FLOOR_ROWS rows copied into an empty store of the same schema in $FLOOR_SECS s of writing (+ $FLOOR_READ_SECS s reading them): at most $FLOOR_RPS records/s for any import that writes them"
parse_floor "$BIG"
note "parse floor: a bare jansson parse of the stream: $PARSE_FLOOR"

SMALL_RSS_KB=""
if [ "$SMALL" -gt 0 ] && [ "$SMALL" -ne "$RECORDS" ]; then
	SMALL_USERS=$(calc "sprintf(\"%.0f\", $USERS * $SMALL / $RECORDS)")
	SMALL_FILE=$(stream_file "$SMALL" "$SMALL_USERS")
	run_import "$SMALL_FILE" small
	SMALL_RSS_KB=$IMP_RSS_KB
	note "import $SMALL records ($SMALL_USERS users): $IMP_SECS s, $IMP_RPS records/s, peak RSS $(mb "$IMP_RSS_KB") MB"
fi

say ""
summary "$(printf 'unify: import %s records: %s records/s (%s s)   target >= %s records/s   %s' \
	"$RECORDS" "$BIG_RPS" "$BIG_SECS" "$TARGET_RPS" "$(verdict "$BIG_RPS >= $TARGET_RPS")")"
summary "$(printf 'unify: floors on this machine today: the store rows alone %s s (%s records/s at most), a bare parse %s' \
	"$FLOOR_SECS" "$FLOOR_RPS" "$PARSE_FLOOR")"
summary "$(printf 'unify: peak RSS at %s records: %s MB   target <= %s MB   %s' \
	"$RECORDS" "$(mb "$BIG_RSS_KB")" "$TARGET_RSS_MB" "$(verdict "$BIG_RSS_KB <= $TARGET_RSS_MB * 1024")")"
# Flat: the first half of the big run already holds the warm caches
# (SQLite's page cache is bounded); a peak that keeps rising in the second
# half means memory in proportion to the input.
# A run of less than 20 s is over before the caches are warm: no verdict.
if [ "$(calc "$BIG_SECS >= 20 && $BIG_HALF_RSS_KB > 0 ? 1 : 0")" = 1 ]; then
	flat=$(verdict "$BIG_RSS_KB <= $BIG_HALF_RSS_KB * 1.10 + 4096")
else
	flat="n/a (run too short to judge)"
fi
summary "$(printf 'unify: peak RSS flat with input size: %s MB after half of the run, %s MB at the end%s   %s' \
	"$(mb "$BIG_HALF_RSS_KB")" "$(mb "$BIG_RSS_KB")" \
	"${SMALL_RSS_KB:+; $(mb "$SMALL_RSS_KB") MB for $SMALL records}" "$flat")"
# A virtual machine whose host is busy loses CPU time to other guests (the
# steal of /proc/stat): the same code then runs slower, so say how much.
STOLEN=""
[ "${BIG_STEAL:-0}" -ge 5 ] && STOLEN=" (the import ran that much slower than on an idle host)"
summary "unify: machine: $(nproc) cores, load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) after the import$BUSY; CPU steal during the import ${BIG_STEAL:-?}%$STOLEN; calibration $CALIBRATION s"

# ---- baseline: label propagation in PostgreSQL -----------------------

# as_pg CMD...: PostgreSQL refuses to run as root; as root, run it as the
# postgres (or nobody) user.
as_pg() {
	if [ "$(id -u)" -ne 0 ]; then
		"$@"
	else
		runuser -u "$PG_USER" -- "$@"
	fi
}

baseline() {
	# shellcheck disable=SC2012 # version directories: plain names
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
		note "baseline skipped: no PostgreSQL server (Debian package postgresql)"
		return 0
	fi
	links="$B/bench/unify_edges"
	[ -x "$links" ] || die "$links not built (run make bench)"
	PG_USER=postgres
	id postgres >/dev/null 2>&1 || PG_USER=nobody

	# The links, extracted once and cached beside the stream (not timed
	# against the baseline: a warehouse has its event tables already).
	edges="${BIG%.jsonl}.edges-$(cksum <bench/unify/unify_edges.c | awk '{ print $1 }').csv"
	if [ ! -s "$edges" ]; then
		rm -f "${BIG%.jsonl}".edges-*.csv
		t0=$(now)
		"$links" <"$BIG" >"$edges.tmp" || die "unify_edges failed on $BIG"
		mv "$edges.tmp" "$edges"
		note "baseline: extracted $(wc -l <"$edges") links in $(calc "sprintf(\"%.1f\", $(now) - $t0)") s (cached, not timed)"
	fi

	PG_DATA="$WORK/pg/data"
	sock=$(mktemp -d /tmp/unify-pg.XXXXXX)
	PG_SOCK=$sock
	mkdir -p "$WORK/pg"
	chmod 777 "$sock"
	if [ "$(id -u)" -eq 0 ]; then chown "$PG_USER" "$WORK/pg" "$sock"; fi
	as_pg "$bin/initdb" -D "$PG_DATA" -A trust -U bench -E UTF8 --locale=C --no-sync \
		>"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; die "initdb failed"; }
	PG_CTL="$bin/pg_ctl"
	# Settings a warehouse box of this size would have; durability stays on
	# (fsync, synchronous_commit), like the hub's synchronous=FULL.
	opts="-c listen_addresses=127.0.0.1 -k $sock -c shared_buffers=512MB -c work_mem=128MB"
	opts="$opts -c maintenance_work_mem=512MB -c max_wal_size=8GB -c checkpoint_timeout=30min"
	port=""
	for try in 1 2 3 4 5; do
		p=$((20000 + ($$ * 7 + try * 7919) % 30000))
		if as_pg "$PG_CTL" -D "$PG_DATA" -l "$WORK/pg/server.log" -w -t 60 \
			-o "-p $p $opts" start >/dev/null 2>&1; then
			port=$p
			break
		fi
	done
	rm -rf "$sock" 2>/dev/null || true
	[ -n "$port" ] || { tail -20 "$WORK/pg/server.log" >&2; die "PostgreSQL did not start"; }
	psql="$bin/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $port -U bench -d postgres"

	t0=$(now)
	$psql -c 'CREATE TABLE edge_text(a text NOT NULL, b text NOT NULL)'
	$psql -c '\copy edge_text FROM STDIN WITH (FORMAT csv)' <"$edges"
	t1=$(now)
	$psql -f bench/unify/baseline_load.sql
	t2=$(now)
	copy_s=$(calc "$t1 - $t0")
	load_s=$(calc "$t2 - $t0")
	note "baseline: load $(calc "sprintf(\"%.1f\", $load_s)") s (COPY $(calc "sprintf(\"%.1f\", $copy_s)") s, ids and edges $(calc "sprintf(\"%.1f\", $t2 - $t1)") s): $($psql -tA -c 'SELECT count(*) FROM labels') nodes, $($psql -tA -c 'SELECT count(*) FROM edges') directed edges"

	rounds=0
	stopped=""
	while :; do
		r0=$(now)
		# a failed round must not read as "0 changed" (converged)
		"$bin/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U bench -d postgres \
			-f bench/unify/baseline_step.sql >"$WORK/pg/step.out" ||
			die "baseline: round $((rounds + 1)) failed (bench/unify/baseline_step.sql)"
		changed=$(awk '$1 == "UPDATE" { print $2 }' "$WORK/pg/step.out")
		[ -n "$changed" ] || die "baseline: round $((rounds + 1)) printed no UPDATE count"
		rounds=$((rounds + 1))
		note "baseline: round $rounds: $changed labels changed, $(calc "sprintf(\"%.1f\", $(now) - $r0)") s"
		[ "${changed:-0}" -eq 0 ] && break
		if [ "$(calc "($(now) - $t2) > $PG_BUDGET_S ? 1 : 0")" = 1 ]; then
			stopped=" (stopped at the ${PG_BUDGET_S} s budget, not converged: a lower bound)"
			break
		fi
	done
	t3=$(now)
	stitch_s=$(calc "$t3 - $t2")
	total_s=$(calc "$t3 - $t0")
	# shellcheck disable=SC2046 # "persons P largest L records R"
	set -- $($psql -f bench/unify/baseline_stats.sql)
	note "baseline: stitch $(calc "sprintf(\"%.1f\", $stitch_s)") s in $rounds rounds$stopped"
	note "baseline: $2 persons (connected components), the largest with $4 identifiers; profilehub: $BIG_LIVE live profiles"
	as_pg "$PG_CTL" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
	PG_CTL=""

	summary "$(printf 'unify: baseline (PostgreSQL label propagation): %.1f s (load %.1f s + stitch %.1f s, %d rounds)%s, ratio profilehub/baseline = %.2f (records/s; > 1: profilehub faster)' \
		"$total_s" "$load_s" "$stitch_s" "$rounds" "$stopped" "$(calc "$total_s / ($BIG_SECS > 0 ? $BIG_SECS : 0.01)")")"
}

if [ "$BASELINE" = 1 ]; then
	say ""
	baseline
fi
