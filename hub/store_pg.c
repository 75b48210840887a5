/*
 * store_pg.c - the PostgreSQL store (libpq), for several hub processes on
 * one database.  Same schema semantics and same result order as
 * store_sqlite.c, so `profilehub dump` is byte for byte the same: text
 * columns are COLLATE "C" (memcmp order, like SQLite's BINARY), integers
 * int8, JSON kept as the text written (not jsonb).
 *
 * Every statement is prepared once per connection, the first time it runs
 * there (a new connection, after a failover or for the API's pool, costs
 * no round trip for the ~70 statements it may never run), and bound with
 * parameters; the only SQL text built here is the schema name, which the
 * config restricts to [a-z_][a-z0-9_]* (checked again below).  Inside a
 * transaction statements are pipelined: a write is sent without waiting,
 * and its result is read with the next statement that must be waited for
 * (a read, the savepoint release, the commit), which reports its failure.
 *
 * Several writers (READ COMMITTED: every statement sees what committed
 * before it started), made equivalent to one writer by advisory locks:
 *   - ident_lock (the intake, at group start): every identifier of the
 *     group, in one fixed order (by bucket: LOCK_BUCKET_MASK), then the
 *     profiles holding them, likewise.  Identifier locks taken in one order cannot deadlock.
 *     What the group's identifiers are (holder, block) is then read once
 *     into the memo, which stays true while the locks are held.
 *   - after ident_lock, ident_get of an identifier the memo does not know
 *     locks the profile it finds and reads again until the holder is
 *     stable, so a profile's data is only read or written under its lock.
 *     A profile reached out of order may deadlock: the server aborts one
 *     group (40P01), which sets is_retryable, and the intake retries it.
 *   - erase writes blocks for identifiers it did not lock: block_put
 *     takes that identifier's lock first.
 *   - the outbox is buffered and written at commit under one lock, so seq
 *     order is commit order and an exporter never skips a row.
 * Sequences give profile_seq, row_seq (events, identity log) and outbox
 * seq; they never repeat, across processes too.
 *
 * A lost connection is reset at the next begin (or read) with backoff;
 * the transaction that saw it fails and the intake answers HUB_RETRY.
 * Never print the URL as configured: it may hold a password.
 */
#include "store.h"

#include "alloc.h"
#include "log.h"
#include "store_pg_memo.h"
#include "util.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
#define COMMIT_SETTLE_MS 10000 /* commit_status: an old backend's COMMIT */
#define MAX_PARAMS 8

/* Advisory lock classes (the first int4 of the two-key form), each xor'ed
 * with hashtext(schema) so two hubs in two schemas never share a lock. */
#define LOCK_PROFILE 0   /* objid: the profile id's bucket */
#define LOCK_OUTBOX 1    /* objid 0 */
#define LOCK_MIGRATE 2   /* objid 0: schema creation and migrations */
#define LOCK_LEASE 3     /* objid hashtext(lease name): session locks */
#define LOCK_IDENT 4     /* objid: the identifier's bucket */

/* Identifiers and profiles are locked by bucket, 1024 of each (a hash and
 * this mask), so a group takes at most 2048 such locks however large it
 * is: the server's lock table is shared by every session
 * (max_locks_per_transaction * max_connections, 6400 by default), and one
 * lock per identifier ran out of it at an import's second batch.  Two
 * small groups share a bucket rarely, and then one waits for the other's
 * commit. */
#define LOCK_BUCKET_MASK "1023"


/*
 * Migrations, applied in order inside one transaction under LOCK_MIGRATE;
 * meta.schema_version counts the steps applied.  Append only: never edit a
 * step that has shipped.  Step 1 is store_sqlite.c's schema 3.
 */
static const char *const migrations[] = {
	"CREATE TABLE IF NOT EXISTS profiles(id text COLLATE \"C\" PRIMARY KEY,"
	" seq int8 NOT NULL UNIQUE, custom_id text COLLATE \"C\","
	" merged_into text COLLATE \"C\", merge_count int8 NOT NULL DEFAULT 0,"
	" created_at int8 NOT NULL);"
	"CREATE INDEX IF NOT EXISTS profiles_merged ON profiles(merged_into)"
	" WHERE merged_into IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS identifiers(type text COLLATE \"C\" NOT NULL,"
	" value text COLLATE \"C\" NOT NULL, profile_id text COLLATE \"C\" NOT NULL,"
	" platform text COLLATE \"C\", last_seen int8 NOT NULL DEFAULT 0,"
	" push_enabled int8 NOT NULL DEFAULT -1, PRIMARY KEY(type, value));"
	"CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers(profile_id, type, value);"
	"CREATE TABLE IF NOT EXISTS attributes(profile_id text COLLATE \"C\" NOT NULL,"
	" key text COLLATE \"C\" NOT NULL, value text COLLATE \"C\", type int8 NOT NULL,"
	" ts int8 NOT NULL, deleted int8 NOT NULL, changed_at int8 NOT NULL,"
	" PRIMARY KEY(profile_id, key));"
	/* md5: a long value must not overflow a B-tree entry */
	"CREATE INDEX IF NOT EXISTS attributes_lookup ON attributes(key, md5(value))"
	" WHERE key IN ('$email_address', '$phone_number');"
	"CREATE TABLE IF NOT EXISTS consent(profile_id text COLLATE \"C\" NOT NULL,"
	" channel text COLLATE \"C\" NOT NULL, state text COLLATE \"C\", ts int8 NOT NULL,"
	" source text COLLATE \"C\" NOT NULL, PRIMARY KEY(profile_id, channel));"
	"CREATE TABLE IF NOT EXISTS events(profile_id text COLLATE \"C\" NOT NULL,"
	" ts int8 NOT NULL, message_id text COLLATE \"C\" NOT NULL, seq int8 NOT NULL,"
	" source text COLLATE \"C\" NOT NULL, name text COLLATE \"C\" NOT NULL,"
	" properties text NOT NULL, PRIMARY KEY(profile_id, ts, message_id, seq));"
	"CREATE TABLE IF NOT EXISTS dedupe(source text COLLATE \"C\" NOT NULL,"
	" message_id text COLLATE \"C\" NOT NULL, PRIMARY KEY(source, message_id));"
	"CREATE TABLE IF NOT EXISTS blocks(type text COLLATE \"C\" NOT NULL,"
	" value text COLLATE \"C\" NOT NULL, until int8 NOT NULL, PRIMARY KEY(type, value));"
	"CREATE TABLE IF NOT EXISTS identity_log(profile_id text COLLATE \"C\" NOT NULL,"
	" seq int8 NOT NULL, at int8 NOT NULL, action text COLLATE \"C\" NOT NULL,"
	" id_type text COLLATE \"C\", id_value text COLLATE \"C\","
	" other_profile_id text COLLATE \"C\", reason text COLLATE \"C\","
	" PRIMARY KEY(profile_id, seq));"
	"CREATE INDEX IF NOT EXISTS identity_log_other ON identity_log(other_profile_id)"
	" WHERE other_profile_id IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS outbox(seq int8 PRIMARY KEY, kind text COLLATE \"C\" NOT NULL,"
	" profile_id text COLLATE \"C\" NOT NULL, at int8 NOT NULL, payload text NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_profile ON outbox(profile_id);"
	"CREATE TABLE IF NOT EXISTS dead_letters(export_name text COLLATE \"C\" NOT NULL,"
	" seq int8 NOT NULL, profile_id text COLLATE \"C\" NOT NULL, at int8 NOT NULL,"
	" reason text NOT NULL, change text NOT NULL, PRIMARY KEY(export_name, seq));"
	"CREATE INDEX IF NOT EXISTS dead_letters_profile ON dead_letters(profile_id);"
	"CREATE SEQUENCE IF NOT EXISTS profile_seq;"
	"CREATE SEQUENCE IF NOT EXISTS row_seq;"
	"CREATE SEQUENCE IF NOT EXISTS outbox_seq;"
	/* the owner of an identifier, its profile locked and the owner read
	 * again until stable (each statement sees the latest commits) */
	"CREATE OR REPLACE FUNCTION hub_ident_owner(t text, v text, salt int4) RETURNS text"
	" LANGUAGE plpgsql VOLATILE AS $f$"
	" DECLARE cur text; again text;"
	" BEGIN"
	"  SELECT profile_id INTO cur FROM identifiers WHERE type = t AND value = v;"
	"  LOOP"
	"   IF cur IS NULL THEN RETURN NULL; END IF;"
	"   PERFORM pg_advisory_xact_lock(salt, hashtext(cur));"
	"   SELECT profile_id INTO again FROM identifiers WHERE type = t AND value = v;"
	"   IF again IS NOT DISTINCT FROM cur THEN RETURN cur; END IF;"
	"   cur := again;"
	"  END LOOP;"
	" END $f$;",
	/* 2: profiles are locked by bucket (LOCK_BUCKET_MASK) */
	"CREATE OR REPLACE FUNCTION hub_ident_owner(t text, v text, salt int4) RETURNS text"
	" LANGUAGE plpgsql VOLATILE AS $f$"
	" DECLARE cur text; again text;"
	" BEGIN"
	"  SELECT profile_id INTO cur FROM identifiers WHERE type = t AND value = v;"
	"  LOOP"
	"   IF cur IS NULL THEN RETURN NULL; END IF;"
	"   PERFORM pg_advisory_xact_lock(salt, hashtext(cur) & " LOCK_BUCKET_MASK ");"
	"   SELECT profile_id INTO again FROM identifiers WHERE type = t AND value = v;"
	"   IF again IS NOT DISTINCT FROM cur THEN RETURN cur; END IF;"
	"   cur := again;"
	"  END LOOP;"
	" END $f$;",
};

#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

/* Every statement, prepared on a connection the first time it runs there
 * (stmt_prepare, pipe_send).  Keep enum and table in step.  $n::type casts
 * where PostgreSQL could not infer the type. */
enum stmt_id {
	S_META_GET, S_META_GET_HELD, S_META_PUT, S_META_LIST, S_META_DELETE,
	S_DEDUPE_ADD, S_DEDUPE_REMOVE,
	S_BLOCK_GET, S_BLOCK_PUT, S_BLOCK_ANY, S_BLOCK_PRUNE,
	S_PROFILE_NEXT_SEQ, S_PROFILE_INSERT, S_PROFILE_GET, S_PROFILE_SET_CUSTOM,
	S_PROFILE_MERGE, S_PROFILE_DELETE, S_PROFILE_TOMBSTONES, S_PROFILE_ITER,
	S_IDENT_GET, S_IDENT_GET_LOCKED, S_IDENT_PUT, S_IDENT_DELETE, S_IDENT_COUNT,
	S_IDENT_COUNT_ALL, S_IDENT_LIST, S_IDENT_REASSIGN, S_INSTALL_TOUCH,
	S_IDENT_DELETE_PROFILE, S_IDENT_LOCK, S_IDENT_LOCK_OWNERS, S_IDENT_STATE, S_IDENT_LOCK_ONE,
	S_ATTR_GET, S_ATTR_PUT, S_ATTR_PUT_NEWER, S_ATTR_LIST, S_ATTR_DELETE_PROFILE, S_ATTR_FIND,
	S_ATTR_COUNT,
	S_CONSENT_GET, S_CONSENT_PUT, S_CONSENT_PUT_NEWER, S_CONSENT_LIST, S_CONSENT_DELETE_PROFILE,
	S_EVENT_INSERT, S_EVENT_MOVE, S_EVENT_LIST_TOP, S_EVENT_LIST_AFTER, S_EVENT_STATS,
	S_EVENT_DELETE_PROFILE,
	S_LOG_APPEND, S_LOG_PAGE, S_LOG_DELETE_PROFILE, S_LOG_UNLINK_PROFILE,
	S_OUTBOX_ALLOC, S_OUTBOX_INSERT, S_OUTBOX_READ, S_OUTBOX_DELETE_PROFILE, S_OUTBOX_PRUNE,
	S_DEAD_PUT, S_DEAD_LIST, S_DEAD_DELETE_PROFILE, S_DEAD_DELETE, S_DEAD_LAST, S_OUTBOX_HOLD,
	S_LEASE_TRY, S_LEASE_EPOCH, S_LEASE_RELEASE,
	S_COUNT
};

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
			    " UPDATE profiles SET merge_count = $3 WHERE id = $2",
	[S_PROFILE_DELETE] = "DELETE FROM profiles WHERE id = $1",
	[S_PROFILE_TOMBSTONES] = "SELECT " PROFILE_COLS " FROM profiles WHERE merged_into = $1"
				 " ORDER BY id",
	[S_PROFILE_ITER] = "SELECT " PROFILE_COLS " FROM profiles"
			   " WHERE merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2",
	[S_IDENT_GET] = "SELECT profile_id FROM identifiers WHERE type = $1 AND value = $2",
	[S_IDENT_GET_LOCKED] = "SELECT hub_ident_owner($1, $2, $3)",
	[S_IDENT_PUT] = "INSERT INTO identifiers(type, value, profile_id) VALUES($1, $2, $3)"
			" ON CONFLICT(type, value) DO UPDATE SET profile_id = excluded.profile_id",
	[S_IDENT_DELETE] = "DELETE FROM identifiers WHERE type = $1 AND value = $2",
	[S_IDENT_COUNT] = "SELECT count(*) FROM identifiers WHERE profile_id = $1 AND type = $2",
	[S_IDENT_COUNT_ALL] = "SELECT count(*) FROM identifiers WHERE profile_id = $1",
	[S_IDENT_LIST] = "SELECT type, value, profile_id, platform, last_seen, push_enabled"
			 " FROM identifiers WHERE profile_id = $1 ORDER BY type, value",
	[S_IDENT_REASSIGN] = "UPDATE identifiers SET profile_id = $2 WHERE profile_id = $1",
	[S_INSTALL_TOUCH] = "UPDATE identifiers SET platform = coalesce($2, platform),"
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
	[S_IDENT_LOCK_OWNERS] = "SELECT pid, pg_advisory_xact_lock($3::int4, h) FROM (SELECT DISTINCT"
				" i.profile_id AS pid, hashtext(i.profile_id) & " LOCK_BUCKET_MASK " AS h"
				" FROM unnest($1::text[], $2::text[]) AS u(t, v)"
				" JOIN identifiers i ON i.type = u.t AND i.value = u.v ORDER BY 2, 1) s",
	/* holder and block of each identifier, in the order given */
	[S_IDENT_STATE] = "SELECT i.profile_id, b.until FROM unnest($1::text[], $2::text[])"
			  " WITH ORDINALITY AS u(t, v, o)"
			  " LEFT JOIN identifiers i ON i.type = u.t AND i.value = u.v"
			  " LEFT JOIN blocks b ON b.type = u.t AND b.value = u.v ORDER BY u.o",
	[S_IDENT_LOCK_ONE] = "SELECT pg_advisory_xact_lock($3::int4, (hashtextextended($2,"
			     " hashtext($1)) & " LOCK_BUCKET_MASK ")::int4)",
	[S_ATTR_GET] = "SELECT key, value, type, ts, deleted, changed_at FROM attributes"
		       " WHERE profile_id = $1 AND key = $2",
	[S_ATTR_PUT] = "INSERT INTO attributes(profile_id, key, value, type, ts, deleted, changed_at)"
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
	[S_ATTR_FIND] = "SELECT p.id, p.seq, p.custom_id, p.merged_into, p.merge_count, p.created_at"
			" FROM attributes a JOIN profiles p ON p.id = a.profile_id"
			" WHERE a.key IN ('$email_address', '$phone_number') AND a.key = $1"
			" AND md5(a.value) = md5($2) AND a.value = $2 AND a.deleted = 0"
			" AND p.merged_into IS NULL ORDER BY p.id",
	[S_CONSENT_GET] = "SELECT channel, state, ts, source FROM consent"
			  " WHERE profile_id = $1 AND channel = $2",
	[S_CONSENT_PUT] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
			  " VALUES($1, $2, $3, $4, $5) ON CONFLICT(profile_id, channel) DO UPDATE"
			  " SET state = excluded.state, ts = excluded.ts, source = excluded.source",
	[S_CONSENT_PUT_NEWER] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
				" VALUES($1, $2, $3, $4, $5) ON CONFLICT(profile_id, channel)"
				" DO UPDATE SET state = excluded.state, ts = excluded.ts,"
				" source = excluded.source WHERE consent.ts <= excluded.ts",
	[S_CONSENT_LIST] = "SELECT channel, state, ts, source FROM consent WHERE profile_id = $1"
			   " ORDER BY channel",
	[S_CONSENT_DELETE_PROFILE] = "DELETE FROM consent WHERE profile_id = $1",
	[S_EVENT_INSERT] = "INSERT INTO events(profile_id, ts, source, message_id, name, properties,"
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
	[S_OUTBOX_INSERT] = "INSERT INTO outbox(seq, kind, profile_id, at, payload)"
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
	[S_DEAD_DELETE] = "DELETE FROM dead_letters WHERE export_name = $1 AND seq = $2 RETURNING 1",
	/* an erase deleting the row waits for this transaction, or this
	 * waits for the erase and finds the row gone */
	[S_OUTBOX_HOLD] = "SELECT 1 FROM outbox WHERE seq = $1 FOR SHARE",
	[S_DEAD_LAST] = "SELECT coalesce(max(seq), 0) FROM dead_letters WHERE export_name = $1",
	[S_DEAD_LIST] = "SELECT export_name, seq, at, reason, change FROM dead_letters"
			" WHERE export_name = $1 AND seq > $3 ORDER BY seq LIMIT $2",
	/* a session lock: it outlives transactions, ends with the connection */
	[S_LEASE_TRY] = "SELECT pg_try_advisory_lock($1::int4, hashtext($2))",
	[S_LEASE_EPOCH] = "INSERT INTO meta(key, value) VALUES('lease_epoch:' || $1, '1')"
			  " ON CONFLICT(key) DO UPDATE SET value = (meta.value::int8 + 1)::text"
			  " RETURNING value::int8",
	[S_LEASE_RELEASE] = "SELECT pg_advisory_unlock($1::int4, hashtext($2))",
};

/* A change waiting for commit (the outbox is written then, in order). */
struct outbox_row {
	char *kind;
	char *profile_id;
	int64_t at_ms;
	char *payload;
};

#define PIPE_MAX_PENDING 256 /* results read at least this often */

struct pg_store {
	struct store base;   /* first: a struct store * is a struct pg_store * */
	PGconn *conn;
	char where[256];     /* user@host:port/db: the URL without its password */
	char schema[64];
	int32_t salt;        /* hashtext(schema): the lock namespace */
	char profile_lock_text[16];
	char ident_lock_text[16];
	int is_ready;        /* the session is set up (session_setup) */
	/* per statement, on this connection: 0 not prepared, PREP_SENT its
	 * Parse in the pipeline (its result not read yet), PREP_DONE */
	unsigned char prep[S_COUNT];
	int in_tx;
	char xid[24];        /* the transaction's id, read with its COMMIT: "" not
			      * known, "-" none (it wrote nothing) */
	int is_multi_writer; /* ident_lock ran in this transaction */
	/* Inside a transaction statements are pipelined: a statement whose
	 * result nobody needs is sent and its result read with the next one
	 * that is needed (a savepoint release and the commit read them all). */
	int is_pipelined;
	int n_pending;                  /* sent, result not read yet */
	int pending_id[PIPE_MAX_PENDING];/* what they were, for messages */
	int pending_head;
	PGresult *kept[S_COUNT]; /* results whose strings a caller borrows */
	struct outbox_row *outbox;
	size_t outbox_n, outbox_cap, outbox_mark;
	struct memo memo;
	int64_t reconnect_at_ms;
	int64_t backoff_ms;
	/* the leases this connection holds (its session locks); a reconnect
	 * loses them all, and conn_gen counts reconnects */
	struct pg_lease {
		char *name;
		int64_t epoch;
	} *leases; /* n_leases of size_leases; as many as its syncs running at once */
	size_t n_leases, size_leases;
	uint64_t conn_gen;
	PGconn *fault_killer; /* test hook only: see pg_fault_disconnect */
};

static struct pg_store *pgs(struct store *s)
{
	return (struct pg_store *)s;
}

/* ---- errors and connection ------------------------------------------ */

/* First line of a libpq message, without the trailing newline. */
static void first_line(char *buf, size_t size, const char *msg)
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

/* Transaction control statements in messages (ids after the prepared). */
enum {
	W_BEGIN = S_COUNT, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO, W_COMMIT, W_ROLLBACK, W_SETUP,
	W_MIGRATE, W_XID
};

/* A pending result of the pipeline that is statement id's Parse. */
#define PREP_ID(id) ((id) + W_XID + 1)
enum { PREP_SENT = 1, PREP_DONE = 2 };

static void describe_stmt(int id, char *buf, size_t size)
{
	static const char *const names[] = {"begin", "savepoint", "release savepoint",
					    "rollback to savepoint", "commit", "rollback",
					    "session setup", "schema migration",
					    "transaction id before commit"};
	if (id > W_XID)
		id -= W_XID + 1; /* its Parse: named as the statement */
	if (id >= S_COUNT && id <= W_XID)
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
static int pg_fail(struct pg_store *ps, const PGresult *res, int id)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[256], what[64];

	describe_stmt(id, what, sizeof(what));
	if (is_retryable_state(state))
		ps->base.is_retryable = 1;
	if (PQstatus(ps->conn) != CONNECTION_OK || is_gone_state(state)) {
		first_line(line, sizeof(line), msg ? msg : PQerrorMessage(ps->conn));
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: connection to %s lost (%s): %s", ps->where, what, line);
		return -1;
	}
	first_line(line, sizeof(line), msg ? msg : PQerrorMessage(ps->conn));
	err_set(ps->base.err, sizeof(ps->base.err), "postgres: %s (%s, SQLSTATE %s)", line, what,
		state ? state : "none");
	return -1;
}

/* Whether a postgresql:// URI holds an '@' other than the one that ends its
 * user name and password (libpq's: the first '@', when no '/' comes before
 * it).  Any other is a user name's or password's '@' not percent-encoded,
 * which moves the password into the host, port, database name or a query's
 * user ("u@?user=:pw@h" sets the user ":pw@h", "u/?user=:pw@h" too): the
 * plugins/postgres export refuses the same, in uri_has_stray_at. */
static int url_has_stray_at(const char *url)
{
	static const char *const schemes[] = {"postgresql://", "postgres://"};
	const char *rest, *at;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) != 0)
			continue;
		rest = url + n;
		if (!(at = strchr(rest, '@')))
			return 0;
		return (size_t)(at - rest) > strcspn(rest, "/") || strchr(at + 1, '@') != NULL;
	}
	return 0;
}

int store_pg_url_check(const char *url)
{
	char *why = NULL;
	PQconninfoOption *opts;
	int ok;

	if (url_has_stray_at(url))
		return 0;
	opts = PQconninfoParse(url, &why);
	ok = opts != NULL;

	if (why) { /* libpq's message quotes the URL: never shown */
		memset(why, 0, strlen(why));
		PQfreemem(why);
	} else if (!opts) {
		return -1;
	}
	for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
		if (!o->val)
			continue;
		/* an '@' or '/' of the password, not percent-encoded, moves
		 * the password into these (host "pw@h", port "pa", dbname
		 * "ss@h/db", a query's hostaddr "h:pw@h"), and from there
		 * into every message */
		if ((strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
		     strcmp(o->keyword, "dbname") == 0) &&
		    strchr(o->val, '@'))
			ok = 0;
		if (strcmp(o->keyword, "port") == 0 && o->val[strspn(o->val, "0123456789,")])
			ok = 0;
	}
	PQconninfoFree(opts);
	return ok;
}

int store_pg_url_has_written_password(const char *text)
{
	PQconninfoOption *opts = PQconninfoParse(text, NULL);
	int is_written = 0;

	if (!opts)
		return 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val &&
		    !strstr(o->val, "${"))
			is_written = 1;
	PQconninfoFree(opts);
	return is_written;
}

/* "user@host:port/dbname" from a URL or conninfo, without the password,
 * its control bytes escaped (a %0A in the user name would start a line of
 * its own in an error printed or logged). */
static void describe_url(const char *url, char *out, size_t size)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
	char plain[512];

	if (!opts) {
		snprintf(out, size, "(unparsable PostgreSQL URL)");
		return;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0 || (!host && strcmp(o->keyword, "hostaddr") == 0))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(plain, sizeof(plain), "%s%s%s%s%s/%s", user ? user : "", user ? "@" : "",
		 host ? host : "localhost", port ? ":" : "", port ? port : "", db ? db : "");
	log_escape(plain, out, size);
	PQconninfoFree(opts);
}

/* The connection's session locks are gone (a reset, a close). */
static void leases_forget(struct pg_store *ps)
{
	for (size_t i = 0; i < ps->n_leases; i++)
		hub_free(ps->leases[i].name);
	ps->n_leases = 0;
}

static void kept_clear(struct pg_store *ps)
{
	for (int i = 0; i < S_COUNT; i++) {
		PQclear(ps->kept[i]);
		ps->kept[i] = NULL;
	}
}

/* A statement outside any pipeline (setup, migrations), waited for. */
static int exec_simple(struct pg_store *ps, const char *sql, int id)
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

/*
 * Per-connection settings: search_path (bound as a value, never spliced
 * in), the lock namespace, and durable commits even where the server's
 * default is synchronous_commit=off.
 */
static int session_setup(struct pg_store *ps)
{
	const char *vals[1] = {ps->schema};
	PGresult *res = PQexecParams(ps->conn,
				     "SELECT set_config('search_path', quote_ident($1), false),"
				     " hashtext($1), current_setting('synchronous_commit'),"
				     " current_setting('server_encoding')",
				     1, NULL, vals, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = pg_fail(ps, res, W_SETUP);
		goto out;
	}
	/* the hub stores any UTF-8 text, as SQLite does: a database of
	 * another encoding would refuse some of it (a whole group failing), or
	 * not check it at all (SQL_ASCII) */
	if (strcmp(PQgetvalue(res, 0, 3), "UTF8") != 0) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: database %s has encoding %s; the hub needs UTF8 (CREATE"
			" DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
			ps->where, PQgetvalue(res, 0, 3));
		rc = -1;
		goto out;
	}
	ps->salt = (int32_t)strtol(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(ps->profile_lock_text, sizeof(ps->profile_lock_text), "%d",
		 (int)(ps->salt ^ LOCK_PROFILE));
	snprintf(ps->ident_lock_text, sizeof(ps->ident_lock_text), "%d",
		 (int)(ps->salt ^ LOCK_IDENT));
	if (strcmp(PQgetvalue(res, 0, 2), "off") == 0)
		rc = exec_simple(ps, "SET synchronous_commit = on", W_SETUP);
out:
	PQclear(res);
	return rc;
}

/*
 * Resets a broken connection, at most once per backoff period (100 ms
 * doubling to 5 s) so a down server costs each caller one quick failure.
 */
static int reconnect(struct pg_store *ps)
{
	int64_t now = time_mono_ms();
	char line[256];

	if (now < ps->reconnect_at_ms) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: no connection to %s (next attempt in %lld ms)", ps->where,
			(long long)(ps->reconnect_at_ms - now));
		return -1;
	}
	/* kept results stay: a PGresult outlives its connection, and callers
	 * borrow them until the next call of their operation (store.h) */
	if (ps->n_leases)
		log_warn("store", "PostgreSQL connection reset: %zu leases lost", ps->n_leases);
	leases_forget(ps);
	ps->conn_gen++;
	ps->in_tx = 0;
	ps->is_ready = 0;
	memset(ps->prep, 0, sizeof(ps->prep)); /* a new session prepares anew */
	ps->is_pipelined = 0;
	ps->n_pending = 0;
	PQreset(ps->conn);
	if (PQpipelineStatus(ps->conn) != PQ_PIPELINE_OFF)
		PQexitPipelineMode(ps->conn);
	if (PQstatus(ps->conn) == CONNECTION_OK && session_setup(ps) == 0) {
		ps->is_ready = 1;
		if (ps->backoff_ms)
			log_info("store", "reconnected to PostgreSQL at %s", ps->where);
		ps->backoff_ms = 0;
		ps->reconnect_at_ms = 0;
		return 0;
	}
	first_line(line, sizeof(line), PQerrorMessage(ps->conn));
	ps->backoff_ms = ps->backoff_ms ? ps->backoff_ms * 2 : RECONNECT_MIN_MS;
	if (ps->backoff_ms > RECONNECT_MAX_MS)
		ps->backoff_ms = RECONNECT_MAX_MS;
	ps->reconnect_at_ms = now + ps->backoff_ms;
	log_warn("store", "PostgreSQL at %s unreachable, retrying in %lld ms: %s", ps->where,
		 (long long)ps->backoff_ms, line);
	err_set(ps->base.err, sizeof(ps->base.err), "postgres: cannot reach %s: %s", ps->where,
		line);
	return -1;
}

/*
 * Test hook, for fault injection of kind STORE_FAULT_GONE (store.h): the
 * server terminates this connection's backend, asked from a second
 * connection with the same parameters (PQconninfo), kept from call to call
 * in fault_killer (a connection costs 15 ms on a small machine, and a test
 * takes a thousand), which then waits until the backend is gone from
 * pg_stat_activity (by then its transaction is rolled back and its locks
 * are free; polled every millisecond: pg_terminate_backend's own wait polls
 * every 100 ms).  The statement about to run then meets a dead connection,
 * as after a server crash or a failover.  Never called unless a test armed
 * fault_at.  1 once the backend is gone, 0 when the connection was broken
 * already, -1.
 */
static PGconn *fault_killer_get(struct pg_store *ps)
{
	const char *keys[48], *vals[48];
	PQconninfoOption *opts;
	int n = 0;

	if (ps->fault_killer && PQstatus(ps->fault_killer) == CONNECTION_OK)
		return ps->fault_killer;
	PQfinish(ps->fault_killer);
	ps->fault_killer = NULL;
	if (!(opts = PQconninfo(ps->conn)))
		return NULL;
	for (PQconninfoOption *o = opts; o->keyword && n < 47; o++)
		if (o->val && *o->val) {
			keys[n] = o->keyword;
			vals[n++] = o->val;
		}
	keys[n] = vals[n] = NULL;
	ps->fault_killer = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	return PQstatus(ps->fault_killer) == CONNECTION_OK ? ps->fault_killer : NULL;
}

static int pg_fault_disconnect(struct store *s)
{
	struct pg_store *ps = pgs(s);
	const char *params[1];
	PGconn *killer;
	PGresult *res;
	char pid[16];
	int rc = -1;

	if (PQstatus(ps->conn) != CONNECTION_OK)
		return 0; /* gone already */
	if (!(killer = fault_killer_get(ps)))
		return -1;
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(ps->conn));
	params[0] = pid;
	res = PQexecParams(killer, "SELECT pg_terminate_backend($1::int4)", 1, NULL, params, NULL,
			   NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		rc = 1; /* signalled: wait until it is gone */
	PQclear(res);
	for (int ms = 0; rc == 1 && ms < 10000; ms++) {
		const struct timespec pause = {0, 1000000};
		res = PQexecParams(killer, "SELECT 1 FROM pg_stat_activity WHERE pid = $1::int4", 1,
				   NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = -1;
		else if (PQntuples(res) == 0)
			rc = 2; /* gone */
		PQclear(res);
		if (rc == 1)
			nanosleep(&pause, NULL);
	}
	return rc == 2 ? 1 : -1; /* else: still there after 10 s */
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
		else if (due > W_XID) /* a Parse whose fate is unknown */
			ps->prep[due - (W_XID + 1)] = 0;
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
static int pipe_collect_ex(struct pg_store *ps, PGresult **last, int is_sync)
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
		if (id > W_XID) /* a Parse: done, or not (aborted: sent again) */
			ps->prep[id - (W_XID + 1)] = st == PGRES_COMMAND_OK ? PREP_DONE : 0;
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

static int pipe_collect(struct pg_store *ps, PGresult **last)
{
	return pipe_collect_ex(ps, last, 0);
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
static int pipe_send(struct pg_store *ps, int id, const char *sql, int n,
		     const char *const *vals)
{
	char name[16];
	int ok;

	/* room for a Parse and the statement */
	if (ps->n_pending > PIPE_MAX_PENDING - 2 && pipe_collect(ps, NULL))
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
			snprintf(p->nums[k], sizeof(p->nums[k]), "%lld", (long long)va_arg(ap, int64_t));
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
		if (pipe_send(ps, (int)id, NULL, p->n, p->vals) || pipe_collect(ps, &res))
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
		    reconnect(ps))
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

static PGresult *run(struct pg_store *ps, enum stmt_id id, const char *fmt, ...)
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
static int command(struct pg_store *ps, enum stmt_id id, const char *fmt, ...)
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
		return pipe_send(ps, (int)id, NULL, p.n, p.vals);
	}
	res = run_params(ps, id, &p);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static int64_t col_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* One int64 from a one-row query: 1 found, 0 no row, -1 error. */
static int query_int(PGresult *res, int64_t *out)
{
	int found;
	if (!res)
		return -1;
	found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
	if (found)
		*out = col_int(res, 0, 0);
	PQclear(res);
	return found;
}

/* Keeps a result whose strings the caller borrows until the next call of
 * the same statement. */
static PGresult *keep(struct pg_store *ps, enum stmt_id id, PGresult *res)
{
	PQclear(ps->kept[id]);
	ps->kept[id] = res;
	return res;
}

/* ---- text[] parameters ---------------------------------------------- */

/* Appends one element of an array literal: "..." with \ and " escaped. */
static void array_add(struct strbuf *sb, const char *v)
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

static void array_open(struct strbuf *sb)
{
	strbuf_init(sb);
	strbuf_puts(sb, "{");
}

static void array_close(struct strbuf *sb)
{
	strbuf_puts(sb, "}");
}

/* ---- transactions --------------------------------------------------- */

static void outbox_drop(struct pg_store *ps, size_t from)
{
	for (size_t i = from; i < ps->outbox_n; i++) {
		hub_free(ps->outbox[i].kind);
		hub_free(ps->outbox[i].profile_id);
		hub_free(ps->outbox[i].payload);
	}
	ps->outbox_n = from;
	if (ps->outbox_mark > from)
		ps->outbox_mark = from;
}

/* Leaves the pipeline (after the last result was read). */
static void pipe_end(struct pg_store *ps)
{
	if (ps->is_pipelined && PQpipelineStatus(ps->conn) != PQ_PIPELINE_OFF &&
	    PQstatus(ps->conn) == CONNECTION_OK)
		PQexitPipelineMode(ps->conn);
	/* Results left uncollected (the server went away mid-pipeline, its
	 * FATAL read but not yet the closed socket) keep the connection in
	 * pipeline mode, where every synchronous call fails without touching
	 * the socket, and PQstatus stays OK: reset it before its next use. */
	if (PQpipelineStatus(ps->conn) != PQ_PIPELINE_OFF)
		ps->is_ready = 0;
	ps->is_pipelined = 0;
	ps->n_pending = 0;
}

static void tx_reset(struct pg_store *ps)
{
	outbox_drop(ps, 0);
	ps->outbox_mark = 0;
	ps->is_multi_writer = 0;
	memo_reset(&ps->memo);
}

/* Opens a transaction with `sql` (a lost connection is reset first) and
 * enters the pipeline. */
static int tx_open(struct pg_store *ps, const char *sql)
{
	struct store *s = &ps->base;

	if (ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: begin inside a transaction");
		return -1;
	}
	s->is_retryable = 0;
	s->is_commit_unknown = 0;
	tx_reset(ps);
	if (store_fault_hit(s))
		return -1;
	for (int attempt = 0;; attempt++) {
		if ((PQstatus(ps->conn) != CONNECTION_OK || !ps->is_ready) && reconnect(ps))
			return -1;
		/* never inherit a transaction a failure left open */
		if (PQtransactionStatus(ps->conn) == PQTRANS_INTRANS ||
		    PQtransactionStatus(ps->conn) == PQTRANS_INERROR)
			exec_simple(ps, "ROLLBACK", W_ROLLBACK);
		if (exec_simple(ps, sql, W_BEGIN) == 0)
			break;
		/* a server restart shows on the first statement after it */
		if (attempt > 0 || PQstatus(ps->conn) == CONNECTION_OK)
			return -1;
	}
	ps->in_tx = 1;
	if (PQenterPipelineMode(ps->conn) == 1) {
		ps->is_pipelined = 1;
		ps->n_pending = 0;
		ps->pending_head = 0;
	}
	return 0;
}

static int pg_begin(struct store *s)
{
	return tx_open(pgs(s), "BEGIN");
}

/* One snapshot for the reads of a request (a profile document). */
static int pg_read_begin(struct store *s)
{
	return tx_open(pgs(s), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static int pg_rollback(struct store *s);

static int pg_read_end(struct store *s)
{
	return pg_rollback(s); /* nothing was written */
}

/* Sends a transaction control statement: pipelined, or waited for. */
static int tx_statement(struct pg_store *ps, const char *sql, int id)
{
	if (ps->is_pipelined)
		return pipe_send(ps, id, sql, 0, NULL);
	return exec_simple(ps, sql, id);
}

/* Writes the buffered changes: numbers taken under the outbox lock, held
 * to commit, so seq order is commit order across processes. */
static int outbox_flush(struct pg_store *ps)
{
	struct strbuf kinds, pids, ats, payloads;
	char first_text[24];
	int64_t first = 0;
	int rc = -1;

	if (ps->outbox_n == 0)
		return 0;
	if (query_int(run(ps, S_OUTBOX_ALLOC, "di", (int)(ps->salt ^ LOCK_OUTBOX),
			  (int64_t)ps->outbox_n), &first) != 1)
		return -1;
	array_open(&kinds);
	array_open(&pids);
	array_open(&ats);
	array_open(&payloads);
	for (size_t i = 0; i < ps->outbox_n; i++) {
		char at[24];
		snprintf(at, sizeof(at), "%lld", (long long)ps->outbox[i].at_ms);
		array_add(&kinds, ps->outbox[i].kind);
		array_add(&pids, ps->outbox[i].profile_id);
		array_add(&ats, at);
		array_add(&payloads, ps->outbox[i].payload);
	}
	array_close(&kinds);
	array_close(&pids);
	array_close(&ats);
	array_close(&payloads);
	snprintf(first_text, sizeof(first_text), "%lld", (long long)first);
	if (kinds.failed || pids.failed || ats.failed || payloads.failed) {
		err_set(ps->base.err, sizeof(ps->base.err), "out of memory");
		goto out;
	}
	/* waited for: the arrays are freed on return */
	{
		PGresult *res = run(ps, S_OUTBOX_INSERT, "sssss", first_text, kinds.data, pids.data,
				    ats.data, payloads.data);
		if (!res)
			goto out;
		PQclear(res);
	}
	outbox_drop(ps, 0);
	rc = 0;
out:
	strbuf_free(&kinds);
	strbuf_free(&pids);
	strbuf_free(&ats);
	strbuf_free(&payloads);
	return rc;
}

/* txid_status() of the transaction `xid` over a new connection: 1
 * committed, 0 aborted, -1 unknown.  A transaction still "in progress" (its
 * old backend finishing the COMMIT the client no longer hears) is asked
 * again for up to COMMIT_SETTLE_MS. */
static int commit_status(struct pg_store *ps, const char *xid)
{
	struct timespec pause = {0, 50 * 1000 * 1000};
	int64_t until = time_mono_ms() + COMMIT_SETTLE_MS;

	ps->reconnect_at_ms = 0; /* one attempt now: the caller is waiting */
	if (reconnect(ps))
		return -1;
	for (;;) {
		PGresult *res = PQexecParams(ps->conn, "SELECT txid_status($1::bigint)", 1, NULL,
					     &xid, NULL, NULL, 0);
		const char *st = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
						 !PQgetisnull(res, 0, 0)
					 ? PQgetvalue(res, 0, 0)
					 : "";
		int rc = strcmp(st, "committed") == 0 ? 1 : strcmp(st, "aborted") == 0 ? 0 : -1;
		int is_waiting = strcmp(st, "in progress") == 0;

		PQclear(res);
		if (!is_waiting || time_mono_ms() >= until)
			return rc;
		nanosleep(&pause, NULL);
	}
}

/*
 * The connection broke after COMMIT was sent: the server may have committed
 * (only its answer lost) or not.  Saying "not stored" of a commit that
 * happened would be false, so the server is asked, over a new connection,
 * what became of the transaction: 0 when it committed, else -1 with the
 * error, and is_commit_unknown set when it cannot tell.
 */
static int commit_settle(struct pg_store *ps, const char *xid)
{
	struct store *s = &ps->base;
	char lost[sizeof(s->err)];
	int status;

	snprintf(lost, sizeof(lost), "%s", s->err);
	if (strcmp(xid, "-") == 0) { /* it wrote nothing: nothing to have stored */
		err_set(s->err, sizeof(s->err), "%s; the transaction had written nothing", lost);
		return -1;
	}
	status = xid[0] ? commit_status(ps, xid) : -1; /* a reconnect ends the tx */
	if (status == 1) {
		tx_reset(ps);
		log_warn("store", "the answer to COMMIT was lost (%s); transaction %s committed",
			 lost, xid);
		return 0;
	}
	if (status == 0) {
		err_set(s->err, sizeof(s->err), "%s; the transaction did not commit", lost);
		return -1;
	}
	s->is_commit_unknown = 1;
	err_set(s->err, sizeof(s->err),
		"%s; whether COMMIT took effect is unknown: a resend is safe (message IDs"
		" dedupe)", lost);
	return -1;
}

/* Tests: the fault_commit_cut of this moment.  1 when the connection was
 * taken away (the error set as a lost link's), 0 otherwise. */
static int commit_cut(struct pg_store *ps, int when)
{
	struct store *s = &ps->base;

	if (s->fault_commit_cut != when || !s->fault_disconnect)
		return 0;
	s->fault_commit_cut = STORE_CUT_NONE;
	if (when == STORE_CUT_BEFORE_COMMIT && pipe_collect(ps, NULL)) /* the xid */
		return 0;
	if (s->fault_disconnect(s) <= 0)
		return 0;
	s->fault_disconnects++;
	err_set(s->err, sizeof(s->err), "postgres: connection to %s lost (commit): injected",
		ps->where);
	return 1;
}

static int pg_commit(struct store *s)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = NULL;
	int rc = -1;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: commit without a transaction");
		return -1;
	}
	if (outbox_flush(ps) || store_fault_hit(s))
		return -1;
	if (ps->is_pipelined) {
		/* the transaction's id, to ask about a COMMIT whose answer is
		 * lost: read in COMMIT's own round trip (pipe_collect_ex keeps
		 * it in ps->xid), not one more while the outbox lock is held.
		 * The flush request makes the server send it before it runs
		 * COMMIT: held for the sync, it was lost with COMMIT's answer */
		ps->xid[0] = '\0';
		if (pipe_send(ps, W_XID, "SELECT txid_current_if_assigned()", 0, NULL) ||
		    PQsendFlushRequest(ps->conn) != 1)
			return -1; /* COMMIT not sent: nothing committed */
		if (commit_cut(ps, STORE_CUT_BEFORE_COMMIT))
			return commit_settle(ps, ps->xid); /* as if COMMIT were lost on its way */
		if (pipe_send(ps, W_COMMIT, "COMMIT", 0, NULL) || pipe_collect_ex(ps, &res, 1)) {
			if (PQstatus(ps->conn) == CONNECTION_OK)
				return -1; /* the server's answer: not committed; the
					    * caller rolls back what may be left */
			return commit_settle(ps, ps->xid);
		}
		if (commit_cut(ps, STORE_CUT_AFTER_COMMIT)) {
			PQclear(res);
			return commit_settle(ps, ps->xid);
		}
	} else {
		res = PQexec(ps->conn, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_fail(ps, res, W_COMMIT);
			PQclear(res);
			return -1;
		}
	}
	/* COMMIT of a failed transaction "succeeds" as ROLLBACK */
	if (res && strcmp(PQcmdStatus(res), "COMMIT") == 0)
		rc = 0;
	else
		err_set(s->err, sizeof(s->err), "postgres: the transaction had failed and was rolled back");
	PQclear(res);
	pipe_end(ps);
	ps->in_tx = 0;
	tx_reset(ps);
	return rc;
}

static int pg_rollback(struct store *s)
{
	struct pg_store *ps = pgs(s);
	char keep_err[sizeof(s->err)];
	int rc = 0;

	tx_reset(ps);
	if (!ps->in_tx)
		return 0;
	ps->in_tx = 0;
	memcpy(keep_err, s->err, sizeof(keep_err)); /* the cause matters more */
	if (PQstatus(ps->conn) == CONNECTION_OK) {
		if (ps->is_pipelined) {
			/* first what is in flight (a failure there would abort
			 * the ROLLBACK itself), then the ROLLBACK */
			if (ps->n_pending)
				pipe_collect_ex(ps, NULL, 1);
			rc = pipe_send(ps, W_ROLLBACK, "ROLLBACK", 0, NULL) ||
					     pipe_collect_ex(ps, NULL, 1)
				     ? -1
				     : 0;
		} else
			rc = exec_simple(ps, "ROLLBACK", W_ROLLBACK);
	}
	pipe_end(ps);
	memcpy(s->err, keep_err, sizeof(keep_err));
	return rc;
}

static int pg_savepoint(struct store *s)
{
	struct pg_store *ps = pgs(s);
	if (store_fault_hit(s) || tx_statement(ps, "SAVEPOINT batch", W_SAVEPOINT))
		return -1;
	ps->outbox_mark = ps->outbox_n;
	return 0;
}

/* Reads every result in flight: a batch is released only once all its
 * statements are known to have succeeded. */
static int pg_savepoint_release(struct store *s)
{
	struct pg_store *ps = pgs(s);
	if (store_fault_hit(s) || tx_statement(ps, "RELEASE SAVEPOINT batch", W_RELEASE))
		return -1;
	return pipe_collect(ps, NULL);
}

static int pg_savepoint_rollback(struct store *s)
{
	struct pg_store *ps = pgs(s);
	outbox_drop(ps, ps->outbox_mark);
	memo_reset(&ps->memo); /* the undone writes were in it */
	if (store_fault_hit(s) || tx_statement(ps, "ROLLBACK TO SAVEPOINT batch", W_ROLLBACK_TO) ||
	    tx_statement(ps, "RELEASE SAVEPOINT batch", W_RELEASE))
		return -1;
	return pipe_collect(ps, NULL);
}

/* ---- meta, dedupe, blocks ------------------------------------------- */

static int meta_get_by(struct store *s, enum stmt_id id, const char *key, char *out,
		       size_t out_size)
{
	PGresult *res = run(pgs(s), id, "s", key);
	int found;
	if (!res)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

static int pg_meta_get(struct store *s, const char *key, char *out, size_t out_size)
{
	return meta_get_by(s, S_META_GET, key, out, out_size);
}

/* The row stays share-locked to the end of the transaction: a lease take
 * (S_LEASE_EPOCH's update) waits for it. */
static int pg_meta_get_held(struct store *s, const char *key, char *out, size_t out_size)
{
	return meta_get_by(s, S_META_GET_HELD, key, out, out_size);
}

static int pg_meta_put(struct store *s, const char *key, const char *value)
{
	return command(pgs(s), S_META_PUT, "ss", key, value);
}

static int pg_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *ctx)
{
	PGresult *res = run(pgs(s), S_META_LIST, "s", prefix);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		if (cb(ctx, col_text(res, i, 0), col_text(res, i, 1)))
			break;
	PQclear(res);
	return 0;
}

static int pg_meta_delete(struct store *s, const char *key)
{
	return command(pgs(s), S_META_DELETE, "s", key);
}

static int pg_dedupe_add(struct store *s, const char *source, const char *mid)
{
	PGresult *res = run(pgs(s), S_DEDUPE_ADD, "ss", source, mid);
	int added;
	if (!res)
		return -1;
	added = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return added;
}

static int pg_dedupe_remove(struct store *s, const char *source, const char *mid)
{
	return command(pgs(s), S_DEDUPE_REMOVE, "ss", source, mid);
}

static int pg_block_get(struct store *s, const char *type, const char *value, int64_t *until)
{
	struct pg_store *ps = pgs(s);
	const struct memo_entry *e = memo_find(&ps->memo, type, value);
	if (e) {
		if (e->has_block)
			*until = e->block_until;
		return e->has_block;
	}
	return query_int(run(ps, S_BLOCK_GET, "ss", type, value), until);
}

static int pg_block_put(struct store *s, const char *type, const char *value, int64_t until)
{
	struct pg_store *ps = pgs(s);
	struct memo_entry *e = memo_find(&ps->memo, type, value);

	/* an erase blocks identifiers the group did not lock: lock each one
	 * first, so a record that holds it waits (or deadlocks and retries) */
	if (ps->is_multi_writer && !e &&
	    command(ps, S_IDENT_LOCK_ONE, "sss", type, value, ps->ident_lock_text))
		return -1;
	if (command(ps, S_BLOCK_PUT, "ssi", type, value, until))
		return -1;
	if (e && (!e->has_block || e->block_until < until)) {
		e->has_block = 1;
		e->block_until = until;
	}
	return 0;
}

static int pg_block_any(struct store *s)
{
	int64_t one = 0;
	return query_int(run(pgs(s), S_BLOCK_ANY, ""), &one);
}

/* The memo of this connection's group forgets the blocks deleted.  (A
 * prune by another connection during a group leaves that group's memo
 * as it was: the group is then as if it had committed before the prune.) */
static int pg_block_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	struct pg_store *ps = pgs(s);
	int64_t n = 0;

	*n_deleted = 0;
	if (limit == 0) /* "n" would bind NULL, no limit */
		return 0;
	if (query_int(run(ps, S_BLOCK_PRUNE, "in", upto, limit), &n) < 0)
		return -1;
	*n_deleted = (size_t)n;
	for (size_t i = 0; n > 0 && i < ps->memo.n; i++)
		if (ps->memo.entries[i].has_block && ps->memo.entries[i].block_until <= upto)
			ps->memo.entries[i].has_block = 0;
	return 0;
}

/* ---- profiles ------------------------------------------------------- */

static int pg_profile_next_seq(struct store *s, int64_t *seq)
{
	return query_int(run(pgs(s), S_PROFILE_NEXT_SEQ, ""), seq) == 1 ? 0 : -1;
}

static void row_profile(const PGresult *res, int row, struct store_profile *p)
{
	const char *custom_id = col_text(res, row, 2);
	const char *merged = col_text(res, row, 3);
	snprintf(p->id, sizeof(p->id), "%s", PQgetvalue(res, row, 0));
	p->seq = col_int(res, row, 1);
	p->is_anonymous = custom_id == NULL;
	snprintf(p->custom_id, sizeof(p->custom_id), "%s", custom_id ? custom_id : "");
	snprintf(p->merged_into, sizeof(p->merged_into), "%s", merged ? merged : "");
	p->merge_count = (int)col_int(res, row, 4);
	p->created_at_ms = col_int(res, row, 5);
}

/* Hands each row's profile to cb; cb non-zero stops.  Consumes res. */
static int each_profile(PGresult *res, store_profile_cb cb, void *ctx)
{
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_profile p;
		row_profile(res, i, &p);
		if (cb(ctx, &p))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_profile_insert(struct store *s, const struct store_profile *p)
{
	return command(pgs(s), S_PROFILE_INSERT, "sisdi", p->id, p->seq,
		    p->is_anonymous ? NULL : p->custom_id, p->merge_count, p->created_at_ms);
}

static int pg_profile_get(struct store *s, const char *id, struct store_profile *out)
{
	PGresult *res = run(pgs(s), S_PROFILE_GET, "s", id);
	int found;
	if (!res)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		row_profile(res, 0, out);
	PQclear(res);
	return found;
}

static int pg_profile_set_custom_id(struct store *s, const char *id, const char *custom_id)
{
	return command(pgs(s), S_PROFILE_SET_CUSTOM, "ss", id, custom_id);
}

static int pg_profile_mark_merged(struct store *s, const char *a, const char *b, int count)
{
	return command(pgs(s), S_PROFILE_MERGE, "ssd", a, b, count);
}

static int pg_profile_delete(struct store *s, const char *id)
{
	return command(pgs(s), S_PROFILE_DELETE, "s", id);
}

static int pg_profile_tombstones(struct store *s, const char *id, store_profile_cb cb, void *ctx)
{
	return each_profile(run(pgs(s), S_PROFILE_TOMBSTONES, "s", id), cb, ctx);
}

static int pg_profile_iter_live(struct store *s, const char *after, size_t limit,
				store_profile_cb cb, void *ctx)
{
	return each_profile(run(pgs(s), S_PROFILE_ITER, "sn", after, limit), cb, ctx);
}

/* ---- identifiers ---------------------------------------------------- */

static int pg_ident_get(struct store *s, const char *type, const char *value,
			char profile_id[PROFILE_ID_SIZE])
{
	struct pg_store *ps = pgs(s);
	struct memo_entry *e = memo_find(&ps->memo, type, value);
	PGresult *res;
	int found;

	if (e && e->is_owner_known)
		return memo_owner(&ps->memo, e, profile_id);
	res = ps->is_multi_writer
		      ? run(ps, S_IDENT_GET_LOCKED, "sss", type, value, ps->profile_lock_text)
		      : run(ps, S_IDENT_GET, "ss", type, value);
	if (!res)
		return -1;
	found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
	if (found)
		snprintf(profile_id, PROFILE_ID_SIZE, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* the holder is locked now, and the identifier was (it is in the memo) */
	if (e)
		memo_set_owner(&ps->memo, type, value, found ? profile_id : NULL);
	return found;
}

static int pg_ident_put(struct store *s, const char *type, const char *value, const char *pid)
{
	struct pg_store *ps = pgs(s);
	if (command(ps, S_IDENT_PUT, "sss", type, value, pid))
		return -1;
	memo_set_owner(&ps->memo, type, value, pid);
	return 0;
}

static int pg_ident_delete(struct store *s, const char *type, const char *value)
{
	struct pg_store *ps = pgs(s);
	if (command(ps, S_IDENT_DELETE, "ss", type, value))
		return -1;
	memo_set_owner(&ps->memo, type, value, NULL);
	return 0;
}

static int pg_ident_count(struct store *s, const char *pid, const char *type)
{
	int64_t n = 0;
	if (query_int(run(pgs(s), S_IDENT_COUNT, "ss", pid, type), &n) < 0)
		return -1;
	return (int)n;
}

static int pg_attr_count(struct store *s, const char *pid)
{
	int64_t n = 0;
	if (query_int(run(pgs(s), S_ATTR_COUNT, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int pg_ident_count_all(struct store *s, const char *pid)
{
	int64_t n = 0;
	if (query_int(run(pgs(s), S_IDENT_COUNT_ALL, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int pg_ident_list(struct store *s, const char *pid, store_ident_cb cb, void *ctx)
{
	PGresult *res = run(pgs(s), S_IDENT_LIST, "s", pid);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_ident id = {
			.type = col_text(res, i, 0),
			.value = col_text(res, i, 1),
			.profile_id = col_text(res, i, 2),
			.platform = col_text(res, i, 3),
			.last_seen_ms = col_int(res, i, 4),
			.push_enabled = (int)col_int(res, i, 5),
		};
		if (cb(ctx, &id))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_ident_reassign(struct store *s, const char *from, const char *to)
{
	struct pg_store *ps = pgs(s);
	if (command(ps, S_IDENT_REASSIGN, "ss", from, to))
		return -1;
	memo_reassign(&ps->memo, from, to);
	return 0;
}

static int pg_install_touch(struct store *s, const char *iid, const char *platform,
			    int64_t seen_ms, int push)
{
	return command(pgs(s), S_INSTALL_TOUCH, "ssid", iid, platform, seen_ms, push);
}

static int pg_ident_delete_profile(struct store *s, const char *pid)
{
	struct pg_store *ps = pgs(s);
	if (command(ps, S_IDENT_DELETE_PROFILE, "s", pid))
		return -1;
	memo_delete_profile(&ps->memo, pid);
	return 0;
}

/* Fills the memo from S_IDENT_STATE (rows in the order of ids, skipping
 * incomplete ones) and the profiles S_IDENT_LOCK_OWNERS locked. */
static int memo_fill(struct memo *m, const struct store_ident *ids, size_t n,
		     const PGresult *owners, const PGresult *state)
{
	int row = 0;

	memo_reset(m);
	m->is_on = 1;
	for (int i = 0; i < PQntuples(owners); i++) {
		int sl = memo_slot(m, PQgetvalue(owners, i, 0));
		if (sl < 0)
			return -1;
		m->slots[sl].is_locked = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct memo_entry *e;
		const char *pid;
		if (!ids[i].type || !ids[i].value)
			continue;
		if (row >= PQntuples(state) || !(e = memo_add(m, ids[i].type, ids[i].value)))
			return -1;
		pid = col_text(state, row, 0);
		if (!pid) {
			e->owner = -1;
			e->is_owner_known = 1; /* only we may attach it: it is locked */
		} else {
			int sl = memo_slot(m, pid);
			if (sl < 0)
				return -1;
			/* a holder that changed after the pre-lock is locked (and
			 * read again) by ident_get */
			e->owner = sl;
			e->is_owner_known = m->slots[sl].is_locked;
		}
		if (!PQgetisnull(state, row, 1)) {
			e->has_block = 1;
			e->block_until = col_int(state, row, 1);
		}
		row++;
	}
	return 0;
}

/*
 * The group's identifiers, then the profiles holding them, each set locked
 * in key order (the order of ids does not matter, nor repeats); then what
 * they are is read once into the memo.  From here on ident_get locks what
 * it returns that the memo does not know.
 */
static int pg_ident_lock(struct store *s, const struct store_ident *ids, size_t n)
{
	struct pg_store *ps = pgs(s);
	struct strbuf types, values;
	PGresult *owners = NULL, *state = NULL;
	int rc = -1;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: ident_lock outside a transaction");
		return -1;
	}
	ps->is_multi_writer = 1;
	array_open(&types);
	array_open(&values);
	for (size_t i = 0; i < n; i++) {
		if (!ids[i].type || !ids[i].value)
			continue;
		array_add(&types, ids[i].type);
		array_add(&values, ids[i].value);
	}
	array_close(&types);
	array_close(&values);
	if (types.failed || values.failed) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	if (command(ps, S_IDENT_LOCK, "sss", types.data, values.data, ps->ident_lock_text) ||
	    !(owners = run(ps, S_IDENT_LOCK_OWNERS, "sss", types.data, values.data,
			   ps->profile_lock_text)) ||
	    !(state = run(ps, S_IDENT_STATE, "ss", types.data, values.data)))
		goto out;
	if (memo_fill(&ps->memo, ids, n, owners, state)) {
		memo_reset(&ps->memo); /* without it every read asks the server */
		log_warn("store", "postgres: no memory for the identifier memo");
	}
	rc = 0;
out:
	PQclear(owners);
	PQclear(state);
	strbuf_free(&types);
	strbuf_free(&values);
	return rc;
}

/* ---- attributes ----------------------------------------------------- */

static void row_attr(const PGresult *res, int row, struct store_attr *a)
{
	a->key = col_text(res, row, 0);
	a->value_json = col_text(res, row, 1);
	a->type = (int)col_int(res, row, 2);
	a->ts_ms = col_int(res, row, 3);
	a->is_deleted = (int)col_int(res, row, 4);
	a->changed_at_ms = col_int(res, row, 5);
}

static int pg_attr_get(struct store *s, const char *pid, const char *key, struct store_attr *out)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = run(ps, S_ATTR_GET, "ss", pid, key);
	if (!res)
		return -1;
	keep(ps, S_ATTR_GET, res); /* valid until the next attr_get, as in SQLite */
	if (PQntuples(res) == 0)
		return 0;
	row_attr(res, 0, out);
	return 1;
}

static int pg_attr_put(struct store *s, const char *pid, const struct store_attr *a)
{
	return command(pgs(s), S_ATTR_PUT, "sssdidi", pid, a->key, a->is_deleted ? NULL : a->value_json,
		    a->type, a->ts_ms, a->is_deleted, a->changed_at_ms);
}

static int pg_attr_put_newer(struct store *s, const char *pid, const struct store_attr *a)
{
	return command(pgs(s), S_ATTR_PUT_NEWER, "sssdidi", pid, a->key,
		       a->is_deleted ? NULL : a->value_json, a->type, a->ts_ms, a->is_deleted,
		       a->changed_at_ms);
}

static int pg_attr_list(struct store *s, const char *pid, store_attr_cb cb, void *ctx)
{
	PGresult *res = run(pgs(s), S_ATTR_LIST, "s", pid);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_attr a;
		row_attr(res, i, &a);
		if (cb(ctx, &a))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_attr_delete_profile(struct store *s, const char *pid)
{
	return command(pgs(s), S_ATTR_DELETE_PROFILE, "s", pid);
}

static int pg_attr_find_profiles(struct store *s, const char *key, const char *value_json,
				 store_profile_cb cb, void *ctx)
{
	return each_profile(run(pgs(s), S_ATTR_FIND, "ss", key, value_json), cb, ctx);
}

/* ---- consent -------------------------------------------------------- */

static void row_consent(const PGresult *res, int row, struct store_consent *c)
{
	c->channel = col_text(res, row, 0);
	c->state = col_text(res, row, 1);
	c->ts_ms = col_int(res, row, 2);
	c->source = col_text(res, row, 3);
}

static int pg_consent_get(struct store *s, const char *pid, const char *channel,
			  struct store_consent *out)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = run(ps, S_CONSENT_GET, "ss", pid, channel);
	if (!res)
		return -1;
	keep(ps, S_CONSENT_GET, res);
	if (PQntuples(res) == 0)
		return 0;
	row_consent(res, 0, out);
	return 1;
}

static int pg_consent_put(struct store *s, const char *pid, const struct store_consent *c)
{
	return command(pgs(s), S_CONSENT_PUT, "sssis", pid, c->channel, c->state, c->ts_ms, c->source);
}

static int pg_consent_put_newer(struct store *s, const char *pid, const struct store_consent *c)
{
	return command(pgs(s), S_CONSENT_PUT_NEWER, "sssis", pid, c->channel, c->state, c->ts_ms,
		       c->source);
}

static int pg_consent_list(struct store *s, const char *pid, store_consent_cb cb, void *ctx)
{
	PGresult *res = run(pgs(s), S_CONSENT_LIST, "s", pid);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_consent c;
		row_consent(res, i, &c);
		if (cb(ctx, &c))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_consent_delete_profile(struct store *s, const char *pid)
{
	return command(pgs(s), S_CONSENT_DELETE_PROFILE, "s", pid);
}

/* ---- events --------------------------------------------------------- */

static int pg_event_insert(struct store *s, const struct store_event *e)
{
	return command(pgs(s), S_EVENT_INSERT, "sissss", e->profile_id, e->ts_ms, e->source,
		    e->message_id, e->name, e->properties_json);
}

static int pg_event_move(struct store *s, const char *from, const char *to)
{
	return command(pgs(s), S_EVENT_MOVE, "ss", from, to);
}

static int pg_event_list(struct store *s, const char *pid, const struct store_event *before,
			 size_t limit, store_event_cb cb, void *ctx)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = before ? run(ps, S_EVENT_LIST_AFTER, "snisi", pid, limit, before->ts_ms,
				     before->message_id, before->seq)
			       : run(ps, S_EVENT_LIST_TOP, "sn", pid, limit);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_event e = {
			.seq = col_int(res, i, 0),
			.profile_id = col_text(res, i, 1),
			.ts_ms = col_int(res, i, 2),
			.source = col_text(res, i, 3),
			.message_id = col_text(res, i, 4),
			.name = col_text(res, i, 5),
			.properties_json = col_text(res, i, 6),
		};
		if (cb(ctx, &e))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_event_stats(struct store *s, const char *pid, int64_t *count, int64_t *last)
{
	PGresult *res = run(pgs(s), S_EVENT_STATS, "s", pid);
	if (!res)
		return -1;
	*count = col_int(res, 0, 0);
	*last = col_int(res, 0, 1);
	PQclear(res);
	return 0;
}

static int pg_event_delete_profile(struct store *s, const char *pid)
{
	return command(pgs(s), S_EVENT_DELETE_PROFILE, "s", pid);
}

/* ---- identity log --------------------------------------------------- */

static int pg_log_append(struct store *s, const struct store_log_entry *e)
{
	return command(pgs(s), S_LOG_APPEND, "issssss", e->at_ms, e->profile_id, e->action,
		    e->id_type, e->id_value, e->other_profile_id, e->reason);
}

static int pg_log_page(struct store *s, const char *pid, int64_t after, size_t limit,
		       store_log_cb cb, void *ctx)
{
	PGresult *res = run(pgs(s), S_LOG_PAGE, "sii", pid, after, (int64_t)limit);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_log_entry e = {
			.seq = col_int(res, i, 0),
			.at_ms = col_int(res, i, 1),
			.profile_id = col_text(res, i, 2),
			.action = col_text(res, i, 3),
			.id_type = col_text(res, i, 4),
			.id_value = col_text(res, i, 5),
			.other_profile_id = col_text(res, i, 6),
			.reason = col_text(res, i, 7),
		};
		if (cb(ctx, &e))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_log_delete_profile(struct store *s, const char *pid)
{
	return command(pgs(s), S_LOG_DELETE_PROFILE, "s", pid) ||
	       command(pgs(s), S_LOG_UNLINK_PROFILE, "s", pid);
}

/* ---- change feed, dead letters -------------------------------------- */

static int pg_outbox_append(struct store *s, const struct store_change *c)
{
	struct pg_store *ps = pgs(s);
	struct outbox_row *row;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: outbox_append outside a transaction");
		return -1;
	}
	if (ps->outbox_n == ps->outbox_cap) {
		size_t cap = ps->outbox_cap ? 2 * ps->outbox_cap : 64;
		void *grown = hub_realloc(ps->outbox, cap * sizeof(*ps->outbox));
		if (!grown)
			goto oom;
		ps->outbox = grown;
		ps->outbox_cap = cap;
	}
	row = &ps->outbox[ps->outbox_n];
	row->kind = hub_strdup(c->kind);
	row->profile_id = hub_strdup(c->profile_id);
	row->payload = hub_strdup(c->payload_json);
	row->at_ms = c->at_ms;
	ps->outbox_n++;
	if (!row->kind || !row->profile_id || !row->payload) {
		outbox_drop(ps, ps->outbox_n - 1);
		goto oom;
	}
	return 0;
oom:
	err_set(s->err, sizeof(s->err), "out of memory");
	return -1;
}

static int pg_outbox_read(struct store *s, int64_t after, size_t limit, store_change_cb cb,
			  void *ctx)
{
	struct pg_store *ps = pgs(s);
	PGresult *res;

	/* the transaction's own changes are part of what it reads */
	if (ps->in_tx && outbox_flush(ps))
		return -1;
	res = run(ps, S_OUTBOX_READ, "in", after, limit ? limit : 1000);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_change c = {
			.seq = col_int(res, i, 0),
			.kind = col_text(res, i, 1),
			.profile_id = col_text(res, i, 2),
			.at_ms = col_int(res, i, 3),
			.payload_json = col_text(res, i, 4),
		};
		if (cb(ctx, &c))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_outbox_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	int64_t n = 0;

	*n_deleted = 0;
	if (limit == 0) /* "n" would bind NULL, no limit */
		return 0;
	if (query_int(run(pgs(s), S_OUTBOX_PRUNE, "in", upto, limit), &n) < 0)
		return -1;
	*n_deleted = (size_t)n;
	return 0;
}

static int pg_outbox_delete_profile(struct store *s, const char *pid)
{
	struct pg_store *ps = pgs(s);
	size_t kept = 0;

	/* buffered changes of the profile go too (they carry personal data) */
	for (size_t i = 0; i < ps->outbox_n; i++) {
		struct outbox_row *row = &ps->outbox[i];
		if (strcmp(row->profile_id, pid) == 0) {
			hub_free(row->kind);
			hub_free(row->profile_id);
			hub_free(row->payload);
			if (i < ps->outbox_mark)
				ps->outbox_mark--;
			continue;
		}
		ps->outbox[kept++] = *row;
	}
	ps->outbox_n = kept;
	return command(ps, S_OUTBOX_DELETE_PROFILE, "s", pid);
}

static int pg_dead_letter_put(struct store *s, const struct store_dead_letter *d)
{
	return command(pgs(s), S_DEAD_PUT, "sisiss", d->export_name, d->seq,
		       d->profile_id ? d->profile_id : "", d->at_ms, d->reason, d->change_json);
}

static int pg_dead_letter_delete_profile(struct store *s, const char *pid)
{
	return command(pgs(s), S_DEAD_DELETE_PROFILE, "s", pid);
}

static int pg_outbox_hold(struct store *s, int64_t seq)
{
	int64_t one = 0;

	return query_int(run(pgs(s), S_OUTBOX_HOLD, "i", seq), &one);
}

static int pg_dead_letter_delete(struct store *s, const char *name, int64_t seq)
{
	int64_t one = 0;

	return query_int(run(pgs(s), S_DEAD_DELETE, "si", name, seq), &one);
}

static int pg_dead_letter_last_seq(struct store *s, const char *name, int64_t *seq)
{
	*seq = 0;
	return query_int(run(pgs(s), S_DEAD_LAST, "s", name), seq) < 0 ? -1 : 0;
}

static int pg_dead_letter_list(struct store *s, const char *name, int64_t after, size_t limit,
			       store_dead_letter_cb cb, void *ctx)
{
	PGresult *res = run(pgs(s), S_DEAD_LIST, "sni", name, limit ? limit : 100, after);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_dead_letter d = {
			.export_name = col_text(res, i, 0),
			.seq = col_int(res, i, 1),
			.at_ms = col_int(res, i, 2),
			.reason = col_text(res, i, 3),
			.change_json = col_text(res, i, 4),
		};
		if (cb(ctx, &d))
			break;
	}
	PQclear(res);
	return 0;
}

/* ---- open / close --------------------------------------------------- */

/* ---- leases ---------------------------------------------------------- */

static int lease_find(const struct pg_store *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_leases; i++)
		if (strcmp(ps->leases[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * pg_try_advisory_lock(salt ^ LOCK_LEASE, hashtext(name)) on this session,
 * then lease_epoch:<name> bumped (autocommit).  A lease already held here
 * is not taken again (session locks stack).  Two names whose hashes meet
 * share one lock: they only take turns.
 */
static int pg_lease_try(struct store *s, const char *name, int64_t *epoch)
{
	struct pg_store *ps = pgs(s);
	int cls = (int)(ps->salt ^ LOCK_LEASE), i, rc;
	uint64_t gen;
	PGresult *res;

	if (ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: lease_try inside a transaction");
		return -1;
	}
	if ((i = lease_find(ps, name)) >= 0) {
		*epoch = ps->leases[i].epoch;
		return 1;
	}
	if (ps->n_leases == ps->size_leases) {
		size_t size = ps->size_leases ? 2 * ps->size_leases : 8;
		struct pg_lease *leases = hub_realloc(ps->leases, size * sizeof(*leases));
		if (!leases) {
			err_set(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
		ps->leases = leases;
		ps->size_leases = size;
	}
	if (!(res = run(ps, S_LEASE_TRY, "ds", cls, name)))
		return -1;
	gen = ps->conn_gen;
	rc = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!rc)
		return 0;
	if (query_int(run(ps, S_LEASE_EPOCH, "s", name), epoch) != 1 || ps->conn_gen != gen) {
		if (ps->conn_gen != gen) /* the lock went with the old connection */
			err_set(s->err, sizeof(s->err), "postgres: connection lost taking lease %s",
				name);
		else
			PQclear(run(ps, S_LEASE_RELEASE, "ds", cls, name));
		return -1;
	}
	if (!(ps->leases[ps->n_leases].name = hub_strdup(name))) {
		PQclear(run(ps, S_LEASE_RELEASE, "ds", cls, name));
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	ps->leases[ps->n_leases++].epoch = *epoch;
	return 1;
}

static int pg_lease_release(struct store *s, const char *name)
{
	struct pg_store *ps = pgs(s);
	int i = lease_find(ps, name);
	PGresult *res;

	if (i < 0)
		return 0; /* not held (or lost with a connection) */
	hub_free(ps->leases[i].name);
	ps->leases[i] = ps->leases[--ps->n_leases];
	if (ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: lease_release inside a transaction");
		return -1;
	}
	res = run(ps, S_LEASE_RELEASE, "ds", (int)(ps->salt ^ LOCK_LEASE), name);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static void pg_close(struct store *s)
{
	struct pg_store *ps = pgs(s);
	if (!ps)
		return;
	kept_clear(ps);
	leases_forget(ps);
	hub_free(ps->leases);
	outbox_drop(ps, 0);
	hub_free(ps->outbox);
	memo_free(&ps->memo);
	PQfinish(ps->fault_killer);
	PQfinish(ps->conn);
	hub_free(ps);
}

static const struct store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.savepoint_release = pg_savepoint_release,
	.savepoint_rollback = pg_savepoint_rollback,
	.read_begin = pg_read_begin,
	.read_end = pg_read_end,
	.meta_get = pg_meta_get,
	.meta_get_held = pg_meta_get_held,
	.meta_list = pg_meta_list,
	.meta_delete = pg_meta_delete,
	.meta_put = pg_meta_put,
	.dedupe_add = pg_dedupe_add,
	.dedupe_remove = pg_dedupe_remove,
	.block_get = pg_block_get,
	.block_put = pg_block_put,
	.block_any = pg_block_any,
	.block_prune = pg_block_prune,
	.profile_next_seq = pg_profile_next_seq,
	.profile_insert = pg_profile_insert,
	.profile_get = pg_profile_get,
	.profile_set_custom_id = pg_profile_set_custom_id,
	.profile_mark_merged = pg_profile_mark_merged,
	.profile_delete = pg_profile_delete,
	.profile_tombstones = pg_profile_tombstones,
	.profile_iter_live = pg_profile_iter_live,
	.ident_get = pg_ident_get,
	.ident_put = pg_ident_put,
	.ident_delete = pg_ident_delete,
	.ident_count = pg_ident_count,
	.ident_count_all = pg_ident_count_all,
	.ident_list = pg_ident_list,
	.ident_reassign = pg_ident_reassign,
	.install_touch = pg_install_touch,
	.ident_delete_profile = pg_ident_delete_profile,
	.attr_get = pg_attr_get,
	.attr_put = pg_attr_put,
	.attr_put_newer = pg_attr_put_newer,
	.attr_list = pg_attr_list,
	.attr_delete_profile = pg_attr_delete_profile,
	.attr_find_profiles = pg_attr_find_profiles,
	.attr_count = pg_attr_count,
	.consent_get = pg_consent_get,
	.consent_put = pg_consent_put,
	.consent_put_newer = pg_consent_put_newer,
	.consent_list = pg_consent_list,
	.consent_delete_profile = pg_consent_delete_profile,
	.event_insert = pg_event_insert,
	.event_move = pg_event_move,
	.event_list = pg_event_list,
	.event_stats = pg_event_stats,
	.event_delete_profile = pg_event_delete_profile,
	.ident_lock = pg_ident_lock,
	.lease_try = pg_lease_try,
	.lease_release = pg_lease_release,
	.outbox_append = pg_outbox_append,
	.outbox_read = pg_outbox_read,
	.outbox_delete_profile = pg_outbox_delete_profile,
	.outbox_prune = pg_outbox_prune,
	.dead_letter_put = pg_dead_letter_put,
	.dead_letter_list = pg_dead_letter_list,
	.dead_letter_delete_profile = pg_dead_letter_delete_profile,
	.dead_letter_delete = pg_dead_letter_delete,
	.outbox_hold = pg_outbox_hold,
	.dead_letter_last_seq = pg_dead_letter_last_seq,
	.log_append = pg_log_append,
	.log_page = pg_log_page,
	.log_delete_profile = pg_log_delete_profile,
};

/* Server notices ("relation already exists, skipping") are not errors. */
static void pg_notice(void *arg, const char *msg)
{
	char line[256];
	(void)arg;
	first_line(line, sizeof(line), msg);
	log_debug("store", "postgres: %s", line);
}

static int is_plain_identifier(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n &&
	       !(s[0] >= '0' && s[0] <= '9');
}

/*
 * Creates the schema and applies the missing migrations in one
 * transaction.  The caller holds LOCK_MIGRATE (a session lock), so two
 * processes starting on an empty database do not race.
 */
static int migrate(struct pg_store *ps, char *err, size_t err_size)
{
	char sql[160], version_text[16];
	long version = 0;
	int rc;

	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS \"%s\"", ps->schema);
	if (exec_simple(ps, "BEGIN", W_MIGRATE) || exec_simple(ps, sql, W_MIGRATE) ||
	    exec_simple(ps, "CREATE TABLE IF NOT EXISTS meta(key text COLLATE \"C\" PRIMARY KEY,"
			    " value text NOT NULL)", W_MIGRATE))
		goto fail;
	{
		const char *vals[1] = {"schema_version"};
		PGresult *res = PQexecParams(ps->conn, "SELECT value FROM meta WHERE key = $1", 1,
					     NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			pg_fail(ps, res, W_MIGRATE);
			PQclear(res);
			goto fail;
		}
		if (PQntuples(res) > 0)
			version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	if (version > SCHEMA_VERSION) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: store schema version %ld, this hub knows %d", version,
			SCHEMA_VERSION);
		goto fail;
	}
	for (long v = version; v < SCHEMA_VERSION; v++)
		if (exec_simple(ps, migrations[v], W_MIGRATE))
			goto fail;
	if (version < SCHEMA_VERSION) {
		const char *vals[2] = {"schema_version", version_text};
		PGresult *res;
		snprintf(version_text, sizeof(version_text), "%d", SCHEMA_VERSION);
		res = PQexecParams(ps->conn,
				   "INSERT INTO meta(key, value) VALUES($1, $2)"
				   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
				   2, NULL, vals, NULL, NULL, 0);
		rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_fail(ps, res, W_MIGRATE);
		PQclear(res);
		if (rc)
			goto fail;
		log_msg(version ? HUB_LOG_INFO : HUB_LOG_DEBUG, "store",
			"PostgreSQL schema \"%s\" at version %d (was %ld)", ps->schema,
			 SCHEMA_VERSION, version);
	}
	if (exec_simple(ps, "COMMIT", W_MIGRATE))
		goto fail;
	return 0;
fail:
	err_set(err, err_size, "%s", ps->base.err);
	exec_simple(ps, "ROLLBACK", W_MIGRATE);
	return -1;
}

/* A session-level advisory lock on (salt ^ cls, 0): lock (1) or unlock (0). */
static int migrate_lock(struct pg_store *ps, int is_lock)
{
	char cls[16];
	const char *vals[1] = {cls};
	PGresult *res;
	int rc = 0;

	snprintf(cls, sizeof(cls), "%d", (int)(ps->salt ^ LOCK_MIGRATE));
	res = PQexecParams(ps->conn,
			   is_lock ? "SELECT pg_advisory_lock($1::int4, 0)"
				   : "SELECT pg_advisory_unlock($1::int4, 0)",
			   1, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_fail(ps, res, W_MIGRATE);
	PQclear(res);
	return rc;
}

int store_pg_open(const char *url, const char *schema, struct store **out, char *err,
		  size_t err_size)
{
	/* defaults before dbname (the URL may override them), encoding after.
	 * A server gone without a reset (a failover, a dropped route) is
	 * noticed within about a minute (keepalives while idle, a TCP user
	 * timeout while a statement waits), not after the kernel's 15 minutes
	 * of retransmissions with the writer and every waiter stuck. */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "keepalives",
				    "keepalives_idle", "keepalives_interval", "keepalives_count",
				    "tcp_user_timeout", "dbname", "client_encoding", NULL};
	const char *vals[] = {"10", "profilehub", "1", "30", "10", "3", "60000", url, "UTF8", NULL};
	struct pg_store *ps;
	int is_locked = 0;

	if (!url || !*url) {
		err_set(err, err_size, "postgres: store.url is not set");
		return -1;
	}
	switch (store_pg_url_check(url)) {
	case 1:
		break;
	case 0:
		err_set(err, err_size, "postgres: store.url: %s", STORE_PG_URL_INVALID);
		return -1;
	default:
		err_set(err, err_size, "out of memory");
		return -1;
	}
	schema = schema && *schema ? schema : "public";
	if (!is_plain_identifier(schema)) {
		err_set(err, err_size, "postgres: store.schema must match [a-z_][a-z0-9_]*");
		return -1;
	}
	ps = hub_calloc(1, sizeof(*ps));
	if (!ps) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	ps->base.ops = &pg_ops;
	ps->base.fault_disconnect = pg_fault_disconnect;
	snprintf(ps->schema, sizeof(ps->schema), "%s", schema);
	describe_url(url, ps->where, sizeof(ps->where));
	ps->conn = PQconnectdbParams(keys, vals, 1);
	if (!ps->conn) {
		err_set(err, err_size, "out of memory");
		goto fail;
	}
	if (PQstatus(ps->conn) != CONNECTION_OK) {
		char line[256];
		first_line(line, sizeof(line), PQerrorMessage(ps->conn));
		err_set(err, err_size, "postgres: cannot connect to %s: %s", ps->where, line);
		goto fail;
	}
	PQsetNoticeProcessor(ps->conn, pg_notice, NULL);
	if (session_setup(ps) || migrate_lock(ps, 1)) {
		err_set(err, err_size, "%s", ps->base.err);
		goto fail;
	}
	is_locked = 1;
	if (migrate(ps, err, err_size))
		goto fail;
	ps->is_ready = 1; /* statements are prepared as they first run */
	/* under the lock too: two processes on a new store agree on one key */
	if (store_load_id_key(&ps->base, err, err_size))
		goto fail;
	is_locked = 0;
	if (migrate_lock(ps, 0)) {
		err_set(err, err_size, "%s", ps->base.err);
		goto fail;
	}
	*out = &ps->base;
	return 0;
fail:
	if (is_locked)
		migrate_lock(ps, 0);
	pg_close(&ps->base);
	return -1;
}
