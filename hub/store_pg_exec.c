/*
 * store_pg_exec.c - how the PostgreSQL store runs a statement (the design
 * is in store_pg.c): the table of every statement, prepared on a
 * connection the first time it runs there and bound with parameters; the
 * pipeline inside a transaction (a write sent without waiting, its failure
 * reported by the next statement that is waited for); errors named by
 * their statement; a lost connection reset with backoff.  Never splices a
 * value into SQL; decides nothing about transactions (store_pg_tx.c) or
 * rows (store_pg_ops.c).
 */
#include "store_pg_int.h"

#include "log.h"
#include "outage.h"
#include "util.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000

/* A server that does not answer is one outage for the whole process, not
 * a line per connection and attempt: each connection (writer, readers,
 * exports, leases) retries on its own backoff, and every one of them
 * logged each try (about 40 lines a minute a hub).  A server that answers
 * and refuses (no such database, a password or a role refused, a session
 * setup statement failed) is an outage of its own, in its own words: it
 * was "unreachable" too, sending the reader to the network and the
 * server's process while the cause was in the URL or the server's
 * configuration.  Indexed by enum reconnect_kind; guarded by the lock. */
enum reconnect_kind { RECONNECT_UNREACHABLE, RECONNECT_REFUSED, RECONNECT_KINDS };
#define RECONNECT_MEANWHILE                                                                        \
	"each connection tries again 0.1 s to 5 s apart, and what needs the store is refused"      \
	" meanwhile"
static pthread_mutex_t reconnect_outage_lock = PTHREAD_MUTEX_INITIALIZER;
static struct outage reconnect_outages[RECONNECT_KINDS];
static const struct outage_words reconnect_words[RECONNECT_KINDS] = {
	[RECONNECT_UNREACHABLE] = {
		.module = "store",
		.every_ms = 30000,
		.first = "PostgreSQL unreachable",
		.meanwhile = RECONNECT_MEANWHILE,
		.ongoing = "PostgreSQL unreachable",
		.counted = "connection attempts failed",
		.over = "reconnected to PostgreSQL",
		.was = "unreachable",
	},
	[RECONNECT_REFUSED] = {
		.module = "store",
		.every_ms = 30000,
		.first = "PostgreSQL refuses the hub's connections",
		.meanwhile = RECONNECT_MEANWHILE,
		.ongoing = "PostgreSQL refusing the hub's connections",
		.counted = "connection attempts refused",
		.over = "PostgreSQL takes the hub's connections again",
		.was = "refusing them",
	},
};
#define MAX_PARAMS 8

#define PROFILE_COLS "id, seq, custom_id, merged_into, merge_count, created_at"

static const char *const stmt_sql[S_COUNT] = {
	[S_META_GET] = "SELECT value FROM meta WHERE key = $1",
	[S_META_GET_HELD] = "SELECT value FROM meta WHERE key = $1 FOR SHARE",
	[S_META_LIST] = "SELECT key, value FROM meta WHERE left(key, length($1)) = $1"
			" ORDER BY key",
	[S_META_DELETE] = "DELETE FROM meta WHERE key = $1",
	[S_META_PUT] = "INSERT INTO meta(key, value) VALUES($1, $2)"
		       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[S_DEDUPE_ADD] = "INSERT INTO dedupe(source, message_id) VALUES($1, $2)"
			 " ON CONFLICT DO NOTHING",
	[S_DEDUPE_REMOVE] = "DELETE FROM dedupe WHERE source = $1 AND message_id = $2",
	[S_BLOCK_GET] = "SELECT until FROM blocks WHERE type = $1 AND value = $2",
	[S_BLOCK_PUT] = "INSERT INTO blocks(type, value, until) VALUES($1, $2, $3)"
			" ON CONFLICT(type, value) DO UPDATE"
			" SET until = greatest(blocks.until, excluded.until)",
	[S_BLOCK_ANY] = "SELECT 1 FROM blocks LIMIT 1",
	/* rows another transaction holds (an erase extending the block,
	 * another process pruning) are skipped, never waited for: two
	 * processes pruning at once cannot deadlock.  A row extended and
	 * committed since the statement began is read as it is now (READ
	 * COMMITTED) and kept: until is checked on the row locked */
	[S_BLOCK_PRUNE] = "WITH d AS (DELETE FROM blocks WHERE until <= $1 AND (type, value) IN"
			  " (SELECT type, value FROM blocks WHERE until <= $1 LIMIT $2"
			  " FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM d",
	[S_PROFILE_NEXT_SEQ] = "SELECT nextval('profile_seq')",
	[S_PROFILE_INSERT] = "INSERT INTO profiles(id, seq, custom_id, merged_into, merge_count,"
			     " created_at) VALUES($1, $2, $3, NULL, $4, $5)",
	[S_PROFILE_GET] = "SELECT " PROFILE_COLS " FROM profiles WHERE id = $1",
	[S_PROFILE_SET_CUSTOM] = "UPDATE profiles SET custom_id = $2 WHERE id = $1",
	/* a and a's tombstones point to b; b's count (disjoint rows) */
	[S_PROFILE_MERGE] = "WITH m AS (UPDATE profiles SET merged_into = $2"
			    " WHERE id = $1 OR merged_into = $1 RETURNING 1)"
			    " UPDATE profiles SET merge_count = $3, created_at = least(created_at,"
			    " (SELECT created_at FROM profiles WHERE id = $1)) WHERE id = $2",
	[S_PROFILE_DELETE] = "DELETE FROM profiles WHERE id = $1",
	[S_PROFILE_TOMBSTONES] = "SELECT " PROFILE_COLS " FROM profiles WHERE merged_into = $1"
				 " ORDER BY id",
	[S_PROFILE_ITER] = "SELECT " PROFILE_COLS " FROM profiles"
			   " WHERE merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2",
	[S_IDENT_GET] = "SELECT profile_id FROM identifiers WHERE type = $1 AND value = $2",
	[S_IDENT_GET_LOCKED] = "SELECT hub_ident_owner($1, $2, $3)",
	/* a new installation is never seen (STORE_NEVER_SEEN) until touched */
	[S_IDENT_PUT] = "INSERT INTO identifiers(type, value, profile_id, last_seen)"
			" VALUES($1, $2, $3, CASE WHEN $1 = 'installation_id'"
			" THEN " STORE_NEVER_SEEN_SQL " ELSE 0 END)"
			" ON CONFLICT(type, value) DO UPDATE SET profile_id = excluded.profile_id",
	[S_IDENT_DELETE] = "DELETE FROM identifiers WHERE type = $1 AND value = $2",
	[S_IDENT_COUNT] = "SELECT count(*) FROM identifiers WHERE profile_id = $1 AND type = $2",
	[S_IDENT_COUNT_ALL] = "SELECT count(*) FROM identifiers WHERE profile_id = $1",
	[S_IDENT_LIST] = "SELECT type, value, profile_id, platform, last_seen, push_enabled"
			 " FROM identifiers WHERE profile_id = $1 ORDER BY type, value",
	[S_IDENT_REASSIGN] = "UPDATE identifiers SET profile_id = $2 WHERE profile_id = $1",
	[S_INSTALL_TOUCH] =
		"UPDATE identifiers SET platform = coalesce($2, platform),"
		" last_seen = greatest(last_seen, $3::int8),"
		" push_enabled = CASE WHEN $4::int8 < 0 THEN push_enabled ELSE $4::int8 END"
		" WHERE type = 'installation_id' AND value = $1",
	[S_IDENT_DELETE_PROFILE] = "DELETE FROM identifiers WHERE profile_id = $1",
	/* one lock per distinct bucket, taken in bucket order: a fixed global
	 * order */
	[S_IDENT_LOCK] = "SELECT pg_advisory_xact_lock($3::int4, k) FROM (SELECT DISTINCT"
			 " (hashtextextended(u.v, hashtext(u.t)) & " LOCK_BUCKET_MASK ")::int4 AS k"
			 " FROM unnest($1::text[], $2::text[]) AS u(t, v) ORDER BY 1) s",
	/* then their holders, likewise; the profiles locked come back */
	[S_IDENT_LOCK_OWNERS] =
		"SELECT pid, pg_advisory_xact_lock($3::int4, h) FROM (SELECT DISTINCT"
		" i.profile_id AS pid, hashtext(i.profile_id) & " LOCK_BUCKET_MASK " AS h"
		" FROM unnest($1::text[], $2::text[]) AS u(t, v)"
		" JOIN identifiers i ON i.type = u.t AND i.value = u.v ORDER BY 2, 1) s",
	/* holder and block of each identifier, in the order given */
	[S_IDENT_STATE] = "SELECT i.profile_id, b.until FROM unnest($1::text[], $2::text[])"
			  " WITH ORDINALITY AS u(t, v, o)"
			  " LEFT JOIN identifiers i ON i.type = u.t AND i.value = u.v"
			  " LEFT JOIN blocks b ON b.type = u.t AND b.value = u.v ORDER BY u.o",
	/* one profile, by the key S_IDENT_LOCK_OWNERS and hub_ident_owner use */
	[S_PROFILE_LOCK] = "SELECT pg_advisory_xact_lock($2::int4, hashtext($1) & " LOCK_BUCKET_MASK ")",
	[S_IDENT_LOCK_ONE] = "SELECT pg_advisory_xact_lock($3::int4, (hashtextextended($2,"
			     " hashtext($1)) & " LOCK_BUCKET_MASK ")::int4)",
	[S_ATTR_GET] = "SELECT key, value, type, ts, deleted, changed_at FROM attributes"
		       " WHERE profile_id = $1 AND key = $2",
	[S_ATTR_PUT] =
		"INSERT INTO attributes(profile_id, key, value, type, ts, deleted, changed_at)"
		" VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(profile_id, key) DO UPDATE"
		" SET value = excluded.value, type = excluded.type, ts = excluded.ts,"
		" deleted = excluded.deleted, changed_at = excluded.changed_at",
	[S_ATTR_PUT_NEWER] = "INSERT INTO attributes(profile_id, key, value, type, ts, deleted,"
			     " changed_at) VALUES($1, $2, $3, $4, $5, $6, $7)"
			     " ON CONFLICT(profile_id, key) DO UPDATE"
			     " SET value = excluded.value, type = excluded.type, ts = excluded.ts,"
			     " deleted = excluded.deleted, changed_at = excluded.changed_at"
			     " WHERE attributes.ts <= excluded.ts",
	[S_ATTR_COUNT] = "SELECT count(*) FROM attributes WHERE profile_id = $1",
	[S_ATTR_LIST] = "SELECT key, value, type, ts, deleted, changed_at FROM attributes"
			" WHERE profile_id = $1 ORDER BY key",
	[S_ATTR_DELETE_PROFILE] = "DELETE FROM attributes WHERE profile_id = $1",
	/* like store_sqlite.c: the two indexed keys only, in a form the
	 * planner matches with the partial index */
	[S_ATTR_FIND] =
		"SELECT p.id, p.seq, p.custom_id, p.merged_into, p.merge_count, p.created_at"
		" FROM attributes a JOIN profiles p ON p.id = a.profile_id"
		" WHERE a.key IN ('$email_address', '$phone_number') AND a.key = $1"
		" AND md5(a.value) = md5($2) AND a.value = $2 AND a.deleted = 0"
		" AND p.merged_into IS NULL AND p.id > $3 ORDER BY p.id LIMIT $4",
	/* value given in lower case: attributes_email_ci */
	[S_ATTR_FIND_EMAIL] =
		"SELECT p.id, p.seq, p.custom_id, p.merged_into, p.merge_count, p.created_at"
		" FROM attributes a JOIN profiles p ON p.id = a.profile_id"
		" WHERE a.key = '$email_address' AND md5(lower(a.value)) = md5($1)"
		" AND lower(a.value) = $1 AND a.deleted = 0"
		" AND p.merged_into IS NULL AND p.id > $2 ORDER BY p.id LIMIT $3",
	[S_CONSENT_GET] = "SELECT channel, state, ts, source FROM consent"
			  " WHERE profile_id = $1 AND channel = $2",
	[S_CONSENT_PUT] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
			  " VALUES($1, $2, $3, $4, $5) ON CONFLICT(profile_id, channel) DO UPDATE"
			  " SET state = excluded.state, ts = excluded.ts, source = excluded.source",
	/* one row, whether the state changed, when the write applied: the
	 * CTE reads the row as it was (the statement's snapshot) */
	[S_CONSENT_PUT_NEWER] = "WITH old AS (SELECT state FROM consent"
				" WHERE profile_id = $1 AND channel = $2)"
				" INSERT INTO consent(profile_id, channel, state, ts, source)"
				" VALUES($1, $2, $3, $4, $5) ON CONFLICT(profile_id, channel)"
				" DO UPDATE SET state = excluded.state, ts = excluded.ts,"
				" source = excluded.source WHERE consent.ts <= excluded.ts"
				/* none stored reads as unset: a first unset is no change */
				" RETURNING consent.state IS DISTINCT FROM (SELECT state FROM old)",
	[S_CONSENT_LIST] = "SELECT channel, state, ts, source FROM consent WHERE profile_id = $1"
			   " ORDER BY channel",
	[S_CONSENT_DELETE_PROFILE] = "DELETE FROM consent WHERE profile_id = $1",
	[S_EVENT_INSERT] =
		"INSERT INTO events(profile_id, ts, source, message_id, name, properties,"
		" seq) VALUES($1, $2, $3, $4, $5, $6, nextval('row_seq'))",
	[S_EVENT_MOVE] = "UPDATE events SET profile_id = $2 WHERE profile_id = $1",
	[S_EVENT_LIST_TOP] = "SELECT seq, profile_id, ts, source, message_id, name, properties"
			     " FROM events WHERE profile_id = $1"
			     " ORDER BY ts DESC, message_id DESC, seq DESC LIMIT $2",
	[S_EVENT_LIST_AFTER] = "SELECT seq, profile_id, ts, source, message_id, name, properties"
			       " FROM events WHERE profile_id = $1"
			       " AND (ts, message_id, seq) < ($3::int8, $4::text, $5::int8)"
			       " ORDER BY ts DESC, message_id DESC, seq DESC LIMIT $2",
	[S_EVENT_STATS] = "SELECT count(*), coalesce(max(ts), 0) FROM events WHERE profile_id = $1",
	[S_EVENT_DELETE_PROFILE] = "DELETE FROM events WHERE profile_id = $1",
	[S_LOG_APPEND] = "INSERT INTO identity_log(at, profile_id, action, id_type, id_value,"
			 " other_profile_id, reason, seq)"
			 " VALUES($1, $2, $3, $4, $5, $6, $7, nextval('row_seq'))",
	/* as store_sqlite.c's: its own rows by the primary key, merged by
	 * seq with the (few) rows naming it as the other profile */
	[S_LOG_PAGE] = "SELECT seq, at, profile_id, action, id_type, id_value, other_profile_id,"
		       " reason FROM identity_log WHERE profile_id = $1 AND seq > $2::int8"
		       " UNION ALL SELECT seq, at, profile_id, action, id_type, id_value,"
		       " other_profile_id, reason FROM identity_log"
		       " WHERE other_profile_id = $1 AND profile_id <> $1 AND seq > $2::int8"
		       " ORDER BY seq LIMIT $3::int8",
	[S_LOG_DELETE_PROFILE] = "DELETE FROM identity_log WHERE profile_id = $1",
	[S_LOG_UNLINK_PROFILE] = "UPDATE identity_log SET other_profile_id = NULL"
				 " WHERE other_profile_id = $1",
	/* under the outbox lock: the next $2 numbers, higher than any committed */
	[S_OUTBOX_ALLOC] = "SELECT setval('outbox_seq', nextval('outbox_seq') + $2::int8 - 1)"
			   " - $2::int8 + 1 FROM (SELECT pg_advisory_xact_lock($1::int4, 0)) l",
	[S_OUTBOX_INSERT] =
		"INSERT INTO outbox(seq, kind, profile_id, at, payload)"
		" SELECT $1::int8 + o - 1, k, p, a, pl FROM unnest($2::text[], $3::text[],"
		" $4::int8[], $5::text[]) WITH ORDINALITY AS u(k, p, a, pl, o)",
	[S_OUTBOX_READ] = "SELECT seq, kind, profile_id, at, payload FROM outbox WHERE seq > $1"
			  " ORDER BY seq LIMIT $2",
	[S_OUTBOX_DELETE_PROFILE] = "DELETE FROM outbox WHERE profile_id = $1",
	[S_OUTBOX_PRUNE] = "WITH d AS (DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
			   " WHERE seq <= $1 ORDER BY seq LIMIT $2) RETURNING 1)"
			   " SELECT count(*) FROM d",
	[S_DEAD_PUT] = "INSERT INTO dead_letters(export_name, seq, profile_id, at, reason, change)"
		       " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(export_name, seq) DO UPDATE"
		       " SET profile_id = excluded.profile_id, at = excluded.at,"
		       " reason = excluded.reason, change = excluded.change",
	[S_DEAD_DELETE_PROFILE] = "DELETE FROM dead_letters WHERE profile_id = $1",
	[S_DEAD_DELETE] =
		"DELETE FROM dead_letters WHERE export_name = $1 AND seq = $2 RETURNING 1",
	/* an erase deleting the row waits for this transaction, or this
	 * waits for the erase and finds the row gone */
	[S_OUTBOX_HOLD] = "SELECT 1 FROM outbox WHERE seq = $1 FOR SHARE",
	[S_DEAD_LAST] = "SELECT coalesce(max(seq), 0) FROM dead_letters WHERE export_name = $1",
	[S_DEAD_COUNT] = "SELECT count(*) FROM dead_letters WHERE export_name = $1",
	[S_DEAD_LIST] = "SELECT export_name, seq, at, reason, change FROM dead_letters"
			" WHERE export_name = $1 AND seq > $3 ORDER BY seq LIMIT $2",
	/* session locks: they outlive transactions, end with the connection.
	 * The name's id exclusive ($1), then its hash shared ($3), which a hub
	 * before session 46 takes exclusive: both or neither (pg_lease_try).
	 * No row: the name has no id yet (S_LEASE_ID_MAKE) */
	[S_LEASE_TRY] = "SELECT CASE"
			" WHEN NOT pg_try_advisory_lock($1::int4, value::int4) THEN false"
			" WHEN pg_try_advisory_lock_shared($3::int4, hashtext($2)) THEN true"
			" ELSE NOT pg_advisory_unlock($1::int4, value::int4) END, value::int4"
			" FROM meta WHERE key = 'lease_id:' || $2",
	/* ids are never given twice: the counter's row is locked to the end of
	 * the statement.  Two processes making the same name's id at once use
	 * up one number for nothing */
	[S_LEASE_ID_MAKE] = "WITH n AS (INSERT INTO meta(key, value) VALUES('lease_id_last', '1')"
			    " ON CONFLICT(key) DO UPDATE SET value = (meta.value::int8 + 1)::text"
			    " RETURNING value) INSERT INTO meta(key, value)"
			    " SELECT 'lease_id:' || $1, value FROM n ON CONFLICT(key) DO NOTHING",
	[S_LEASE_EPOCH] = "INSERT INTO meta(key, value) VALUES('lease_epoch:' || $1, '1')"
			  " ON CONFLICT(key) DO UPDATE SET value = (meta.value::int8 + 1)::text"
			  " RETURNING value::int8,"
			  " (SELECT value FROM meta WHERE key = 'schema_version')",
	[S_LEASE_RELEASE] = "SELECT pg_advisory_unlock($1::int4, $2::int4),"
			    " pg_advisory_unlock_shared($3::int4, hashtext($4))",
};

/* ---- errors and connection ------------------------------------------ */

/* First line of a libpq message, without the trailing newline. */
void pg_first_line(char *buf, size_t size, const char *msg)
{
	size_t n = strcspn(msg ? msg : "", "\n");
	if (n >= size)
		n = size - 1;
	memcpy(buf, msg ? msg : "", n);
	buf[n] = '\0';
}

static int is_retryable_state(const char *state)
{
	return state && (strcmp(state, "40001") == 0 ||  /* serialization_failure */
			 strcmp(state, "40P01") == 0 ||  /* deadlock_detected */
			 strcmp(state, "55P03") == 0);   /* lock_not_available */
}

/* A pending result of the pipeline that is statement id's Parse. */
#define PREP_ID(id) ((id) + W_LAST + 1)
enum { PREP_SENT = 1, PREP_DONE = 2 };

static void describe_stmt(int id, char *buf, size_t size)
{
	static const char *const names[] = {"begin", "savepoint", "release savepoint",
					    "rollback to savepoint", "commit", "rollback",
					    "session setup", "schema migration",
					    "transaction id before commit",
					    "what became of the transaction",
					    "giving up the leases"};
	if (id > W_LAST)
		id -= W_LAST + 1; /* its Parse: named as the statement */
	if (id >= S_COUNT && id <= W_LAST)
		snprintf(buf, size, "%s", names[id - S_COUNT]);
	else if (id >= 0 && id < S_COUNT && stmt_sql[id])
		snprintf(buf, size, "%.40s...", stmt_sql[id]); /* the statement's start */
	else
		snprintf(buf, size, "statement %d", id);
}

/* SQLSTATE class 57P (operator intervention: the server shut down, crashed
 * or terminated this backend): the connection is gone, whatever libpq
 * believes until its next read. */
static int is_gone_state(const char *state)
{
	return state && strncmp(state, "57P", 3) == 0;
}

/* Sets the error from a failed result (may be NULL) and returns -1. */
int pg_fail(struct pg_store *ps, const PGresult *res, int id)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[256], what[64];

	describe_stmt(id, what, sizeof(what));
	if (is_retryable_state(state))
		ps->base.is_retryable = 1;
	if (PQstatus(ps->conn) != CONNECTION_OK || is_gone_state(state)) {
		pg_first_line(line, sizeof(line), msg ? msg : PQerrorMessage(ps->conn));
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: connection to %s lost (%s): %s", ps->where, what, line);
		return -1;
	}
	pg_first_line(line, sizeof(line), msg ? msg : PQerrorMessage(ps->conn));
	if (state && strcmp(state, "55P03") == 0) {
		ps->base.is_lock_timeout = 1;
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: waited lock_timeout (%s) for a lock another session holds on"
			" schema \"%s\" at %s (%s, SQLSTATE 55P03); the transaction is rolled back"
			" (pg_locks with pg_stat_activity names the holder)",
			ps->lock_timeout[0] ? ps->lock_timeout : "?", ps->schema, ps->where, what);
		return -1;
	}
	err_set(ps->base.err, sizeof(ps->base.err), "postgres: %s (%s, SQLSTATE %s)", line, what,
		state ? state : "none");
	return -1;
}

const char *pg_err_reason(const struct pg_store *ps)
{
	static const char prefix[] = "postgres: ";
	size_t n = strlen(prefix);

	return ps->base.err + (strncmp(ps->base.err, prefix, n) == 0 ? n : 0);
}

/* A statement outside any pipeline (setup, migrations), waited for. */
int pg_exec_simple(struct pg_store *ps, const char *sql, int id)
{
	PGresult *res = PQexec(ps->conn, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_fail(ps, res, id);
	PQclear(res);
	return rc;
}

/* Prepares statement id outside a pipeline (a round trip), unless it is
 * prepared on this connection already: 0, or -1 with the error set. */
static int stmt_prepare(struct pg_store *ps, int id)
{
	char name[16];
	PGresult *res;
	int rc = 0;

	if (ps->prep[id] == PREP_DONE)
		return 0;
	snprintf(name, sizeof(name), "hub_%d", id);
	res = PQprepare(ps->conn, name, stmt_sql[id], 0, NULL);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		ps->prep[id] = PREP_DONE;
	else
		rc = pg_fail(ps, res, PREP_ID(id));
	PQclear(res);
	return rc;
}

/* Waits until conn's socket is ready for `events` (POLLIN, POLLOUT) or
 * fails: 1, or 0 at `until` (time_mono_ms). */
static int conn_wait(PGconn *conn, short events, int64_t until)
{
	for (;;) {
		struct pollfd pfd = {PQsocket(conn), events, 0};
		int64_t left = until - time_mono_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0 || (n < 0 && errno != EINTR))
			return 1;
	}
}

/*
 * PQreset bounded at `until` (time_mono_ms): the reset started and polled
 * without blocking until then.  A blocking one waits connect_timeout (the
 * URL's, else 10 s) per address from whenever it starts, so an attempt
 * begun late in commit_status's 10 s ran on 10 s past them.  libpq leaves
 * the timing of such a connection to its caller: connect_timeout is not
 * read here, so a host of a multi-host URL that hangs (not one that
 * refuses) is not left for the next before `until`.  1 connected, 0 failed
 * (PQerrorMessage says why), -1 out of time.
 */
static int conn_reset_until(PGconn *conn, int64_t until)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING; /* as libpq says */

	if (!PQresetStart(conn))
		return 0;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		if (!conn_wait(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, until))
			return -1;
		st = PQresetPoll(conn); /* it reads or writes, or names the error */
	}
	return st == PGRES_POLLING_OK;
}

/*
 * One statement (sql, n parameters vals) outside any pipeline, waited for
 * no later than `until` (time_mono_ms; 0: as long as it takes, which is
 * PQexecParams).  The check of a lost COMMIT (commit_status) runs its
 * statements so: a server that accepts the login and then never answers
 * held a blocking one past the check's 10 s, until the TCP user timeout
 * (60 s), or without end while its host still acknowledges.  Sent at once
 * (a statement of a few hundred bytes on a connection with nothing else in
 * flight fits the socket's buffer), then its answer read as the socket has
 * it.  Not cancelled at `until` (PQcancel connects
 * again, without a bound, to the host that hangs): the connection is left
 * for a reset at its next use (is_ready 0), which closes it, and the
 * server's backend with it.  Its result (PQclear it; a failed one too), or
 * NULL with the error set: not sent, or no answer by `until`.
 */
PGresult *pg_exec_until(struct pg_store *ps, const char *sql, int n, const char *const *vals,
			int id, int64_t until)
{
	PGresult *res = NULL, *next;
	char what[64];

	if (!until) {
		if (!(res = PQexecParams(ps->conn, sql, n, NULL, vals, NULL, NULL, 0)))
			pg_fail(ps, NULL, id); /* out of memory */
		return res;
	}
	if (!PQsendQueryParams(ps->conn, sql, n, NULL, vals, NULL, NULL, 0)) {
		pg_fail(ps, NULL, id);
		return NULL;
	}
	for (;;) { /* to the NULL after the last result: the connection is idle */
		while (PQisBusy(ps->conn)) {
			if (!conn_wait(ps->conn, POLLIN, until))
				goto late;
			if (!PQconsumeInput(ps->conn))
				break; /* the link broke: PQgetResult says so, at once */
		}
		if (!(next = PQgetResult(ps->conn)))
			return res;
		if (res)
			PQclear(next); /* one statement: one result */
		else
			res = next;
	}
late:
	PQclear(res);
	ps->is_ready = 0; /* the statement is still in flight */
	describe_stmt(id, what, sizeof(what));
	err_set(ps->base.err, sizeof(ps->base.err),
		"postgres: %s accepted the connection but did not answer (%s) in time",
		ps->where, what);
	return NULL;
}

int pg_reconnect(struct pg_store *ps)
{
	return pg_reconnect_until(ps, 0);
}

void pg_setup_unanswered_say(struct pg_store *ps, int64_t setup_ms)
{
	err_set(ps->base.err, sizeof(ps->base.err), "postgres: %s accepted the connection, then"
		" did not answer the session setup within %lld ms (connect_timeout)", ps->where,
		(long long)setup_ms);
}

/*
 * The line of libpq's message msg (a failed connection's) that holds the
 * server's answer, into line: 1, or 0 when the server gave none (not
 * reached, no answer, the link closed).  libpq writes a server's error as
 * "<severity>:  <message>", two spaces after the colon, in every language
 * (pqBuildErrorMessage3); its own reasons never hold them.  No public
 * call says whether the server answered (PQping connects again).
 */
static int conn_refusal_line(const char *msg, char *line, size_t size)
{
	const char *at = msg ? msg : "";

	while (*at) {
		size_t n = strcspn(at, "\n");
		const char *both = strstr(at, ":  ");

		if (both && both < at + n) {
			pg_first_line(line, size, at);
			return 1;
		}
		at += n + (at[n] == '\n');
	}
	return 0;
}

/*
 * Why a reset failed, into the error, and which outage it is: the server
 * not reached (libpq's reason, or no answer within waited_ms), or reached
 * and its session setup not answered within setup_ms (unreachable both);
 * or the server refused: the login (libpq's line with the server's answer,
 * or the password it asked for and the URL lacks), or the session setup
 * (the setup's own reason kept: a lock_timeout the server refuses, a role
 * without rights).  "cannot reach" with libpq's stale message hid the
 * setup's reason.  Never the URL: describe_url's `where`.
 */
static enum reconnect_kind reconnect_fail_say(struct pg_store *ps, int is_connected,
					      int64_t waited_ms, int64_t setup_ms)
{
	const char *msg = PQerrorMessage(ps->conn);
	char line[256], setup[sizeof(ps->base.err)];
	int is_refused = 0;

	if (is_connected && PQtransactionStatus(ps->conn) == PQTRANS_ACTIVE) {
		pg_setup_unanswered_say(ps, setup_ms); /* in flight: pg_exec_until gave up */
		return RECONNECT_UNREACHABLE;
	}
	if (is_connected) {
		snprintf(setup, sizeof(setup), "%s", pg_err_reason(ps));
		err_set(ps->base.err, sizeof(ps->base.err), "postgres: %s accepted the connection,"
			" but the session setup failed: %s", ps->where, setup);
		return PQstatus(ps->conn) == CONNECTION_OK ? RECONNECT_REFUSED
							   : RECONNECT_UNREACHABLE;
	}
	if (waited_ms >= 0) {
		snprintf(line, sizeof(line), "no answer within %lld ms", (long long)waited_ms);
	} else if (!(is_refused = conn_refusal_line(msg, line, sizeof(line)))) {
		pg_first_line(line, sizeof(line), msg);
		is_refused = PQconnectionNeedsPassword(ps->conn); /* the URL has none */
	}
	if (is_refused) {
		err_set(ps->base.err, sizeof(ps->base.err), "postgres: %s refused the connection:"
			" %s", ps->where, line);
		return RECONNECT_REFUSED;
	}
	err_set(ps->base.err, sizeof(ps->base.err), "postgres: cannot reach %s: %s", ps->where,
		line);
	return RECONNECT_UNREACHABLE;
}

/*
 * Resets a broken connection, at most once per backoff period (100 ms
 * doubling to 5 s) so a down server costs each caller one quick failure.
 * until 0: the reset as long as libpq's connect_timeout (per address), and
 * the session's setup answered within connect_timeout of it (a server that
 * logs in and then never answers held the writer, and every request
 * waiting on it, until the TCP user timeout); else both no later than
 * `until` (pg_exec_until).
 */
int pg_reconnect_until(struct pg_store *ps, int64_t until)
{
	int64_t now = time_mono_ms(), setup_until = until, setup_at;
	int is_late = 0, is_connected;
	enum reconnect_kind kind;

	if (now < ps->reconnect_at_ms) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: no connection to %s (next attempt in %lld ms)", ps->where,
			(long long)(ps->reconnect_at_ms - now));
		return -1;
	}
	/* kept results stay: a PGresult outlives its connection, and callers
	 * borrow them until the next call of their operation (store.h) */
	if (ps->n_leases)
		log_warn("store", "PostgreSQL connection reset: %zu lease%s lost", ps->n_leases,
			 plural_s(ps->n_leases));
	pg_leases_forget(ps);
	ps->conn_gen++;
	ps->in_tx = 0;
	ps->is_ready = 0;
	memset(ps->prep, 0, sizeof(ps->prep)); /* a new session prepares anew */
	ps->is_pipelined = 0;
	ps->n_pending = 0;
	if (!until)
		PQreset(ps->conn);
	else
		is_late = conn_reset_until(ps->conn, until) < 0;
	if (PQpipelineStatus(ps->conn) != PQ_PIPELINE_OFF)
		PQexitPipelineMode(ps->conn);
	setup_at = time_mono_ms();
	if (!until && ps->connect_timeout_ms)
		setup_until = setup_at + ps->connect_timeout_ms;
	is_connected = !is_late && PQstatus(ps->conn) == CONNECTION_OK;
	if (is_connected && pg_session_setup(ps, setup_until) == 0) {
		ps->is_ready = 1;
		if (ps->backoff_ms) {
			pthread_mutex_lock(&reconnect_outage_lock);
			for (int k = 0; k < RECONNECT_KINDS; k++)
				outage_note_ok(&reconnect_outages[k], &reconnect_words[k]);
			pthread_mutex_unlock(&reconnect_outage_lock);
		}
		ps->backoff_ms = 0;
		ps->reconnect_at_ms = 0;
		return 0;
	}
	kind = reconnect_fail_say(ps, is_connected, is_late ? until - now : -1,
				  setup_until - setup_at);
	ps->backoff_ms = ps->backoff_ms ? ps->backoff_ms * 2 : RECONNECT_MIN_MS;
	if (ps->backoff_ms > RECONNECT_MAX_MS)
		ps->backoff_ms = RECONNECT_MAX_MS;
	ps->reconnect_at_ms = now + ps->backoff_ms;
	pthread_mutex_lock(&reconnect_outage_lock);
	outage_note_failure(&reconnect_outages[kind], &reconnect_words[kind], 1, ps->base.err);
	pthread_mutex_unlock(&reconnect_outage_lock);
	return -1;
}

/* ---- the pipeline (inside a transaction) ----------------------------- */

/* The connection broke while results were due: nothing more will come.
 * Named by the statement whose result was next, or by COMMIT when it was
 * in flight: what matters is that its answer is what was lost. */
static int pipe_broken(struct pg_store *ps, int id)
{
	for (int i = 0; i < ps->n_pending; i++) {
		int due = ps->pending_id[(ps->pending_head + i) % PIPE_MAX_PENDING];
		if (due == W_COMMIT)
			id = W_COMMIT;
		else if (due > W_LAST) /* a Parse whose fate is unknown */
			ps->prep[due - (W_LAST + 1)] = 0;
	}
	pg_fail(ps, NULL, id);
	ps->n_pending = 0;
	return -1;
}

/* After a failure the server skips everything up to a sync point. */
static void pipe_resync(struct pg_store *ps)
{
	if (PQpipelineSync(ps->conn) != 1)
		return;
	for (int nulls = 0; nulls < 2 * PIPE_MAX_PENDING;) {
		PGresult *res = PQgetResult(ps->conn);
		int is_sync;
		if (!res) {
			if (PQstatus(ps->conn) != CONNECTION_OK)
				return;
			nulls++;
			continue;
		}
		is_sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		if (is_sync)
			return;
	}
}

/*
 * Reads the result of every statement in flight.  The last one is handed
 * to *last when last is not NULL (the caller clears it).  The first
 * failure sets the error (the pipeline is then re-synced): -1.  With
 * is_sync the server is told the pipeline ends here (before leaving it).
 */
int pg_pipe_collect_ex(struct pg_store *ps, PGresult **last, int is_sync)
{
	int rc = 0;

	if (last)
		*last = NULL;
	if (ps->n_pending == 0 && !is_sync)
		return 0;
	if ((is_sync ? PQpipelineSync(ps->conn) : PQsendFlushRequest(ps->conn)) != 1 ||
	    PQflush(ps->conn) != 0)
		return pipe_broken(ps, ps->pending_id[ps->pending_head]);
	while (ps->n_pending > 0) {
		int id = ps->pending_id[ps->pending_head];
		PGresult *res = PQgetResult(ps->conn), *end;
		ExecStatusType st;

		if (!res) /* a statement always has a result: the link is gone */
			return pipe_broken(ps, id);
		while ((end = PQgetResult(ps->conn))) /* to the NULL that ends it */
			PQclear(end);
		ps->n_pending--;
		ps->pending_head = (ps->pending_head + 1) % PIPE_MAX_PENDING;
		st = PQresultStatus(res);
		if (id > W_LAST) /* a Parse: done, or not (aborted: sent again) */
			ps->prep[id - (W_LAST + 1)] = st == PGRES_COMMAND_OK ? PREP_DONE : 0;
		if (id == W_XID && st == PGRES_TUPLES_OK && PQntuples(res) == 1)
			snprintf(ps->xid, sizeof(ps->xid), "%s",
				 PQgetisnull(res, 0, 0) ? "-" : PQgetvalue(res, 0, 0));
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (last && ps->n_pending == 0 && rc == 0)
				*last = res;
			else
				PQclear(res);
			continue;
		}
		if (rc == 0 && st != PGRES_PIPELINE_ABORTED)
			rc = pg_fail(ps, res, id);
		PQclear(res);
	}
	if (is_sync) {
		/* the sync point's own result.  Without it the connection is
		 * gone, but a COMMIT whose answer came is done: failing it would
		 * tell the waiters that nothing was stored. */
		PGresult *res = PQgetResult(ps->conn);
		int is_synced = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		if (!is_synced && rc == 0 && !(last && *last))
			rc = pg_fail(ps, NULL, W_COMMIT);
	} else if (rc && PQstatus(ps->conn) == CONNECTION_OK) {
		pipe_resync(ps);
	}
	if (rc && last && *last) {
		PQclear(*last);
		*last = NULL;
	}
	return rc;
}

int pg_pipe_collect(struct pg_store *ps, PGresult **last)
{
	return pg_pipe_collect_ex(ps, last, 0);
}

/* One more result due in the pipeline: statement (or Parse) id's. */
static void pipe_pending_add(struct pg_store *ps, int id)
{
	ps->pending_id[(ps->pending_head + ps->n_pending) % PIPE_MAX_PENDING] = id;
	ps->n_pending++;
}

/* Sends one statement without waiting: prepared `id` with its parameters,
 * or `sql` (transaction control, no parameters).  A full pipeline is read
 * first, so the statement sent stays in flight for a caller that waits for
 * its result. */
int pg_pipe_send(struct pg_store *ps, int id, const char *sql, int n, const char *const *vals)
{
	char name[16];
	int ok;

	/* room for a Parse and the statement */
	if (ps->n_pending > PIPE_MAX_PENDING - 2 && pg_pipe_collect(ps, NULL))
		return -1;
	if (sql) {
		ok = PQsendQueryParams(ps->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	} else {
		snprintf(name, sizeof(name), "hub_%d", id);
		if (!ps->prep[id]) { /* its first run on this connection */
			if (!PQsendPrepare(ps->conn, name, stmt_sql[id], 0, NULL))
				return pipe_broken(ps, id);
			ps->prep[id] = PREP_SENT;
			pipe_pending_add(ps, PREP_ID(id));
		}
		ok = PQsendQueryPrepared(ps->conn, name, n, vals, NULL, NULL, 0);
	}
	if (!ok)
		return pipe_broken(ps, id);
	pipe_pending_add(ps, id);
	return 0;
}

/* ---- statement helpers ---------------------------------------------- */

struct params {
	const char *vals[MAX_PARAMS];
	char nums[MAX_PARAMS][24];
	int n;
};

/* fmt has one letter per parameter: s (const char *, NULL binds NULL),
 * i (int64_t), d (int), n (size_t limit, 0 binds NULL: no limit). */
static void params_fill(struct params *p, const char *fmt, va_list ap)
{
	p->n = 0;
	for (const char *f = fmt; *f && p->n < MAX_PARAMS; f++, p->n++) {
		int k = p->n;
		p->vals[k] = p->nums[k];
		if (*f == 's') {
			p->vals[k] = va_arg(ap, const char *);
		} else if (*f == 'i') {
			snprintf(p->nums[k], sizeof(p->nums[k]), "%lld",
				 (long long)va_arg(ap, int64_t));
		} else if (*f == 'd') {
			snprintf(p->nums[k], sizeof(p->nums[k]), "%d", va_arg(ap, int));
		} else {
			size_t lim = va_arg(ap, size_t);
			if (lim)
				snprintf(p->nums[k], sizeof(p->nums[k]), "%zu", lim);
			else
				p->vals[k] = NULL;
		}
	}
}

/*
 * Runs a prepared statement and waits for its result (PQclear it), or
 * NULL with the error set.  In a transaction it goes down the pipeline
 * behind the statements in flight, whose failures it reports.  Outside one,
 * a lost connection is reset and the statement run once more (reads are
 * safe to repeat).
 */
static PGresult *run_params(struct pg_store *ps, enum stmt_id id, const struct params *p)
{
	char name[16];

	if (store_fault_hit(&ps->base))
		return NULL;
	if (ps->is_pipelined) {
		PGresult *res = NULL;
		if (pg_pipe_send(ps, (int)id, NULL, p->n, p->vals) || pg_pipe_collect(ps, &res))
			return NULL;
		if (!res) /* never: the statement sent is the last in flight */
			err_set(ps->base.err, sizeof(ps->base.err), "postgres: no result");
		return res;
	}
	snprintf(name, sizeof(name), "hub_%d", (int)id);
	for (int attempt = 0;; attempt++) {
		PGresult *res;
		ExecStatusType st;
		if ((PQstatus(ps->conn) != CONNECTION_OK || !ps->is_ready) && !ps->in_tx &&
		    pg_reconnect(ps))
			return NULL;
		if (stmt_prepare(ps, (int)id)) {
			if (attempt > 0 || ps->in_tx || PQstatus(ps->conn) == CONNECTION_OK)
				return NULL;
			continue; /* the connection is gone: reset, once more */
		}
		res = PQexecPrepared(ps->conn, name, p->n, p->vals, NULL, NULL, 0);
		st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			return res;
		pg_fail(ps, res, (int)id);
		PQclear(res);
		if (attempt > 0 || ps->in_tx || PQstatus(ps->conn) == CONNECTION_OK)
			return NULL;
	}
}

PGresult *pg_run(struct pg_store *ps, enum stmt_id id, const char *fmt, ...)
{
	struct params p;
	va_list ap;
	va_start(ap, fmt);
	params_fill(&p, fmt, ap);
	va_end(ap);
	return run_params(ps, id, &p);
}

/*
 * Runs a statement whose rows nobody reads.  In a transaction it is only
 * sent: a failure shows at the next statement that waits (every read, the
 * savepoint release, the commit), which then fails in its place.
 */
int pg_command(struct pg_store *ps, enum stmt_id id, const char *fmt, ...)
{
	struct params p;
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	params_fill(&p, fmt, ap);
	va_end(ap);
	if (ps->is_pipelined) {
		if (store_fault_hit(&ps->base))
			return -1;
		return pg_pipe_send(ps, (int)id, NULL, p.n, p.vals);
	}
	res = run_params(ps, id, &p);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int64_t pg_col_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *pg_col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* One int64 from a one-row query: 1 found, 0 no row, -1 error. */
int pg_query_int(PGresult *res, int64_t *out)
{
	int found;
	if (!res)
		return -1;
	found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
	if (found)
		*out = pg_col_int(res, 0, 0);
	PQclear(res);
	return found;
}

/* Keeps a result whose strings the caller borrows until the next call of
 * the same statement. */
PGresult *pg_keep(struct pg_store *ps, enum stmt_id id, PGresult *res)
{
	PQclear(ps->kept[id]);
	ps->kept[id] = res;
	return res;
}

/* ---- text[] parameters ---------------------------------------------- */

/* Appends one element of an array literal: "..." with \ and " escaped. */
void pg_array_add(struct strbuf *sb, const char *v)
{
	strbuf_puts(sb, sb->len > 1 ? ",\"" : "\"");
	for (const char *p = v;;) {
		size_t n = strcspn(p, "\\\"");
		strbuf_append(sb, p, n);
		p += n;
		if (!*p)
			break;
		strbuf_append(sb, "\\", 1);
		strbuf_append(sb, p, 1);
		p++;
	}
	strbuf_puts(sb, "\"");
}

void pg_array_open(struct strbuf *sb)
{
	strbuf_init(sb);
	strbuf_puts(sb, "{");
}

void pg_array_close(struct strbuf *sb)
{
	strbuf_puts(sb, "}");
}
