#!/bin/sh
# store_locked.sh - another process holding the SQLite store's write lock
# (an `sqlite3 hub.db` shell left inside BEGIN IMMEDIATE) under a running
# hub, then letting go.  Checked:
#   - a push meanwhile answers 503 commit_failed, /readyz answers 503, and
#     the log's "store commits failing" line names the store's file and says
#     another process holds its write lock (it said "database is locked
#     (statement 0)", naming neither the file nor the cause);
#   - once the shell commits, /readyz is 200 again with no push (the
#     intake's probe), the next push is 200, and `dump` holds the pushes
#     answered 200 and not the one answered 503.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/hub.sh

hub_tmpdir store_locked
hub_need sqlite3 mkfifo
hub_echo_push_conf key-store-locked

# push ID: POSTs one record (an installation ID of the body); prints the
# status, the answer in $T/out
push() {
	curl -s -o "$T/out" -w '%{http_code}' -H "Authorization: Bearer key-store-locked" \
		--data-binary "$1" "$BASE/in/web/v1/echo"
}

# ready_code: /readyz's status
ready_code() {
	curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz"
}

hub_start "$T/hub.yaml" "$T/hub.log"
code=$(push sl-1)
[ "$code" = 200 ] || die "push before the lock: $code $(cat "$T/out")"

# the shell reads its statements from a fifo held open by this script, and
# says "held" once BEGIN IMMEDIATE has the write lock
mkfifo "$T/sql" || die "mkfifo"
sqlite3 "$T/hub.db" <"$T/sql" >"$T/sql.out" 2>&1 &
SQL_PID=$!
hub_at_exit "kill $SQL_PID 2>/dev/null"
exec 3>"$T/sql"
printf "BEGIN IMMEDIATE;\nSELECT 'held';\n" >&3
i=0
until grep -q '^held$' "$T/sql.out"; do
	i=$((i + 1))
	[ $i -le 200 ] || die "the sqlite3 shell did not take the lock: $(cat "$T/sql.out")"
	sleep 0.05
done

code=$(push sl-2)
[ "$code" = 503 ] || fail "push while the lock is held: $code $(cat "$T/out")"
grep -q '"commit_failed"' "$T/out" || fail "push while the lock is held: answer $(cat "$T/out")"
code=$(ready_code)
[ "$code" = 503 ] || fail "/readyz while the lock is held: $code"
line=$(grep 'store commits failing: ' "$T/hub.log" | head -1)
[ -n "$line" ] || fail "no \"store commits failing: \" logged"
case $line in
*"$T/hub.db"*) ;;
*) fail "the failing line does not name the store's file: $line" ;;
esac
case $line in
*"another process holds its write lock"*) ;;
*) fail "the failing line does not say another process holds the lock: $line" ;;
esac

printf "COMMIT;\n.quit\n" >&3
exec 3>&-
wait "$SQL_PID" || fail "the sqlite3 shell: $(cat "$T/sql.out")"
# no push: the intake's probe commits within a second once the lock is free
i=0
until [ "$(ready_code)" = 200 ]; do
	i=$((i + 1))
	[ $i -le 300 ] || die "/readyz not 200 within 30 s of the lock's release"
	sleep 0.1
done
grep -q 'store commits succeed again' "$T/hub.log" || fail "no \"store commits succeed again\""
code=$(push sl-3)
[ "$code" = 200 ] || fail "push once the lock is released: $code $(cat "$T/out")"

hub_stop
"$HUB" -c "$T/hub.yaml" dump >"$T/dump" 2>"$T/dump.err" || die "dump: $(cat "$T/dump.err")"
for id in sl-1 sl-3; do
	grep -q "\"installation_id\":\"$id\"" "$T/dump" || fail "$id (answered 200) is not stored"
done
! grep -q '"installation_id":"sl-2"' "$T/dump" || fail "sl-2 (answered 503) is stored"

finish store_locked
echo "store_locked: ok"
