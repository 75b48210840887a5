#!/bin/sh
# backup.sh - docs/operations.md's backup advice for a running SQLite store, tested:
# while pushes are being committed, `sqlite3 STORE ".backup FILE"` and
# `VACUUM INTO` each make a copy that passes integrity_check, opens with
# `profilehub dump` (a config naming the copy) and holds every record
# acknowledged before the copy began; its restore steps (hub
# stopped, the copy in place, no -wal/-shm left) give a hub that starts on it,
# and its after-restore statements (a new profile-ID key, the change numbers
# moved on) keep it from handing out again the IDs the lost store gave.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir backup
load_pid=""
hub_at_exit 'pid_signal KILL "$load_pid"; wait 2>/dev/null'
hub_need sqlite3
hub_echo_push_dir

PORT=$(hub_free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
# config STORE: a config on STORE (the hub's, a copy's)
config() {
	cat <<EOF
plugin_dir: $T/plugins
log_level: info
store:
  path: $1
http:
  listen: 127.0.0.1:$PORT
sources:
  - name: web
    plugin: echo_push
    key: "key-backup"
EOF
}
config "$T/hub.db" >"$T/hub.yaml"
hub_start "$T/hub.yaml" "$T/hub.log"

# the load: pushes one after another until $T/stop exists, each ID
# acknowledged (200) appended to $T/acked
(
	i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer key-backup" \
			--data-binary "bk-$i" "$BASE/in/web/v1/echo")
		[ "$code" != 200 ] || echo "bk-$i" >>"$T/acked"
	done
) &
load_pid=$!

# acked_at_least N: waits (bounded: 60 s) for N acknowledged pushes
acked_at_least() {
	w=0
	until [ -f "$T/acked" ] && [ "$(wc -l <"$T/acked")" -ge "$1" ]; do
		w=$((w + 1))
		[ $w -le 600 ] || die "fewer than $1 pushes acknowledged in 60 s"
		sleep 0.1
	done
}

acked_at_least 20
cp "$T/acked" "$T/before1"
sqlite3 "$T/hub.db" ".backup '$T/b1.db'" || fail "sqlite3 .backup of the running store"
acked_at_least $(($(wc -l <"$T/before1") + 20)) # the load goes on between the two
cp "$T/acked" "$T/before2"
sqlite3 "$T/hub.db" "VACUUM INTO '$T/b2.db'" || fail "VACUUM INTO of the running store"
acked_at_least $(($(wc -l <"$T/before2") + 5))
touch "$T/stop"
wait "$load_pid"
load_pid=""

# check_copy NAME BEFORE: NAME.db is whole and holds every ID in BEFORE
check_copy() {
	ok=$(sqlite3 "$T/$1.db" "PRAGMA integrity_check") || ok="sqlite3 failed"
	[ "$ok" = ok ] || fail "$1: integrity_check: $ok"
	config "$T/$1.db" >"$T/$1.yaml"
	"$HUB" -c "$T/$1.yaml" dump >"$T/$1.dump" 2>"$T/$1.err" || fail "$1: dump: $(cat "$T/$1.err")"
	missing=0
	while read -r id; do
		grep -q "\"installation_id\":\"$id\"" "$T/$1.dump" || missing=$((missing + 1))
	done <"$2"
	[ $missing = 0 ] || fail "$1: $missing of $(wc -l <"$2") records acknowledged before it are missing"
}
check_copy b1 "$T/before1"
check_copy b2 "$T/before2"

# restore (docs/operations.md): the hub stopped, the copy in place of the store, its
# -wal and -shm removed; the hub starts on it and serves its profiles
pid_stop TERM "$HUB_PID" 10 || fail "the hub did not stop on SIGTERM"
HUB_PID=""
# what the lost store handed out: the profile IDs that went downstream
"$HUB" -c "$T/hub.yaml" dump >"$T/lost.dump" 2>"$T/lost.err" ||
	fail "dump of the store before the restore: $(cat "$T/lost.err")"
cp "$T/b1.db" "$T/hub.db" && rm -f "$T/hub.db-wal" "$T/hub.db-shm" || die "restoring b1"
hub_start "$T/hub.yaml" "$T/hub.log"
pid_stop TERM "$HUB_PID" 10 || fail "the hub on the restored store did not stop on SIGTERM"
HUB_PID=""
"$HUB" -c "$T/hub.yaml" dump >"$T/restored.dump" 2>"$T/restored.err" ||
	fail "dump of the restored store: $(cat "$T/restored.err")"
cmp -s "$T/b1.dump" "$T/restored.dump" || fail "the restored store does not dump as its backup"

# after a restore (docs/operations.md): a new profile-ID key and the change numbers
# moved on, so that nothing the lost store handed out is handed out again;
# without it the next profile took the ID the lost store gave its next one
seq_before=$(sqlite3 "$T/hub.db" "SELECT coalesce(max(seq), 0) FROM sqlite_sequence
	WHERE name = 'outbox'") || fail "reading the outbox's sequence"
sqlite3 "$T/hub.db" "BEGIN; DELETE FROM meta WHERE key = 'id_key';
UPDATE sqlite_sequence SET seq = seq + 4294967296 WHERE name = 'outbox';
INSERT INTO sqlite_sequence(name, seq) SELECT 'outbox', 4294967296
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox');
COMMIT;" || fail "the after-restore statements of docs/operations.md"
seq_after=$(sqlite3 "$T/hub.db" "SELECT group_concat(seq) FROM sqlite_sequence
	WHERE name = 'outbox'")
[ "$seq_after" = $((seq_before + 4294967296)) ] ||
	fail "the outbox's sequence after the restore: $seq_after (was $seq_before)"
hub_start "$T/hub.yaml" "$T/hub.log"
for i in 1 2 3; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer key-backup" \
		--data-binary "after-$i" "$BASE/in/web/v1/echo")
	[ "$code" = 200 ] || fail "a push after the restore: $code"
done
pid_stop TERM "$HUB_PID" 10 || fail "the hub after the restore did not stop on SIGTERM"
HUB_PID=""
"$HUB" -c "$T/hub.yaml" dump >"$T/after.dump" 2>"$T/after.err" ||
	fail "dump after the restore: $(cat "$T/after.err")"
reused=0
for i in 1 2 3; do
	pid=$(grep "\"installation_id\":\"after-$i\"" "$T/after.dump" | jq -r '.profile_id')
	[ -n "$pid" ] && [ "$pid" != null ] || { fail "no profile of after-$i"; continue; }
	! grep -q "\"profile_id\":\"$pid\"" "$T/lost.dump" || reused=$((reused + 1))
done
[ $reused = 0 ] || fail "$reused profile IDs of the lost store handed out again after the restore"

finish backup
echo "backup: ok ($(wc -l <"$T/acked") pushes acknowledged during the copies)"
