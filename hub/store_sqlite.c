/*
 * store_sqlite.c - the embedded default store: SQLite in WAL mode with
 * synchronous=FULL, so a COMMIT returns only once the data is on disk.
 *
 * Every statement is prepared once at open (one array, indexed by enum
 * stmt_id) and bound with parameters: no SQL text is ever built from data.
 * This file implements the primitives of store.h and nothing else: the
 * rules of unification live in unify.c.
 *
 * WAL checkpoints run on a checkpointer thread with its own connection,
 * started by the first commit that leaves the WAL past CKPT_PAGES, so the
 * writer's commits only append to the WAL and fsync it.  Past
 * CKPT_PAGES_INLINE the writer restarts the WAL itself, between two
 * transactions, but never waits for a reader to do so (lite_busy).
 */
#include "store.h"

#include "alloc.h"
#include "kvcache.h"
#include "lease_lock.h"
#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION 5

/* A dead letter's change (JSON text): its profile_id and kind when they
 * are strings, else NULL (step 4) */
#define DL_MEMBER(m)                                                             \
	"(CASE WHEN json_valid(change) THEN CASE WHEN json_type(change, '$." m "')" \
	" = 'text' THEN json_extract(change, '$." m "') END END)"
#define DL_PROFILE DL_MEMBER("profile_id")
#define DL_KIND DL_MEMBER("kind")

/*
 * Migrations: migrations[v] takes a store from version v to v + 1, in the
 * transaction that also records the new version.  A new store gets
 * schema_sql at once.  Append a step (and bump SCHEMA_VERSION) whenever
 * schema_sql changes, or rows an older hub wrote must be mended; never
 * edit a step that has shipped.
 */
static const char *const migrations[SCHEMA_VERSION] = {
	[0] = NULL, /* a new store: schema_sql */
	/* 1 -> 2: events and the identity log clustered by profile */
	[1] = "CREATE TABLE events_2(profile_id TEXT NOT NULL, ts INTEGER NOT NULL,"
	      " message_id TEXT NOT NULL, seq INTEGER NOT NULL, source TEXT NOT NULL,"
	      " name TEXT NOT NULL, properties TEXT NOT NULL,"
	      " PRIMARY KEY(profile_id, ts, message_id, seq)) WITHOUT ROWID;"
	      "INSERT INTO events_2 SELECT profile_id, ts, message_id, seq, source, name, properties"
	      " FROM events;"
	      "DROP TABLE events; ALTER TABLE events_2 RENAME TO events;"
	      "CREATE TABLE identity_log_2(profile_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	      " at INTEGER NOT NULL, action TEXT NOT NULL, id_type TEXT, id_value TEXT,"
	      " other_profile_id TEXT, reason TEXT, PRIMARY KEY(profile_id, seq)) WITHOUT ROWID;"
	      "INSERT INTO identity_log_2 SELECT profile_id, seq, at, action, id_type, id_value,"
	      " other_profile_id, reason FROM identity_log;"
	      "DROP TABLE identity_log; ALTER TABLE identity_log_2 RENAME TO identity_log;"
	      "INSERT OR REPLACE INTO meta(key, value) SELECT 'row_seq', max(m) FROM"
	      " (SELECT coalesce(max(seq), 0) AS m FROM events"
	      "  UNION ALL SELECT coalesce(max(seq), 0) FROM identity_log);",
	/* 2 -> 3: the change feed and dead letters (created by schema_sql) */
	[2] = "",
	/* 3 -> 4: outbox seqs never reused; dead letters know their profile */
	[3] = "CREATE TABLE outbox_4(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
	      " profile_id TEXT NOT NULL, at INTEGER NOT NULL, payload TEXT NOT NULL);"
	      "INSERT INTO outbox_4 SELECT seq, kind, profile_id, at, payload FROM outbox;"
	      "DROP TABLE outbox; ALTER TABLE outbox_4 RENAME TO outbox;"
	      /* seqs erased before this step are known only to the exports: */
	      "DELETE FROM sqlite_sequence WHERE name = 'outbox';" /* no unique key there */
	      "INSERT INTO sqlite_sequence(name, seq) SELECT 'outbox', max(m) FROM"
	      " (SELECT coalesce(max(seq), 0) AS m FROM outbox"
	      "  UNION ALL SELECT coalesce(max(seq), 0) FROM dead_letters"
	      "  UNION ALL SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM meta"
	      "   WHERE key LIKE 'export_cursor:%' OR key LIKE 'export_batch_end:%');"
	      "ALTER TABLE dead_letters ADD COLUMN profile_id TEXT NOT NULL DEFAULT '';",
	/* 4 -> 5: step 3 left the dead letters written before it with
	 * profile_id '', which no erase matched: they kept the person's data.
	 * Their change names its profile ("profile_id").  One whose profile
	 * is gone was erased since (profile rows are deleted by an erase
	 * only): it goes, as a retry would drop it (export_redrive.c); an
	 * erased change (no personal data) stays.  The others get their
	 * profile.  A change that is not JSON, or names no profile, stays
	 * as it is (CASE first: json_type fails on text that is not JSON). */
	[4] = "DELETE FROM dead_letters WHERE profile_id = ''"
	      " AND " DL_PROFILE " IS NOT NULL AND " DL_KIND " IS NOT 'erased'"
	      " AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = " DL_PROFILE ");"
	      "UPDATE dead_letters SET profile_id = " DL_PROFILE
	      " WHERE profile_id = '' AND " DL_PROFILE " IS NOT NULL;",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS profiles(id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,"
	" custom_id TEXT, merged_into TEXT, merge_count INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS profiles_merged ON profiles(merged_into)"
	" WHERE merged_into IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS identifiers(type TEXT NOT NULL, value TEXT NOT NULL,"
	" profile_id TEXT NOT NULL, platform TEXT, last_seen INTEGER NOT NULL DEFAULT 0,"
	" push_enabled INTEGER NOT NULL DEFAULT -1, PRIMARY KEY(type, value)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers(profile_id, type, value);"
	"CREATE TABLE IF NOT EXISTS attributes(profile_id TEXT NOT NULL, key TEXT NOT NULL,"
	" value TEXT, type INTEGER NOT NULL, ts INTEGER NOT NULL, deleted INTEGER NOT NULL,"
	" changed_at INTEGER NOT NULL, PRIMARY KEY(profile_id, key)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS attributes_lookup ON attributes(key, value)"
	" WHERE key IN ('$email_address', '$phone_number');"
	"CREATE TABLE IF NOT EXISTS consent(profile_id TEXT NOT NULL, channel TEXT NOT NULL,"
	" state TEXT, ts INTEGER NOT NULL, source TEXT NOT NULL,"
	" PRIMARY KEY(profile_id, channel)) WITHOUT ROWID;"
	/* events and the log are clustered by profile: one B-tree insert each */
	"CREATE TABLE IF NOT EXISTS events(profile_id TEXT NOT NULL, ts INTEGER NOT NULL,"
	" message_id TEXT NOT NULL, seq INTEGER NOT NULL, source TEXT NOT NULL,"
	" name TEXT NOT NULL, properties TEXT NOT NULL,"
	" PRIMARY KEY(profile_id, ts, message_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS dedupe(source TEXT NOT NULL, message_id TEXT NOT NULL,"
	" PRIMARY KEY(source, message_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS blocks(type TEXT NOT NULL, value TEXT NOT NULL,"
	" until INTEGER NOT NULL, PRIMARY KEY(type, value)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS identity_log(profile_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	" at INTEGER NOT NULL, action TEXT NOT NULL, id_type TEXT, id_value TEXT,"
	" other_profile_id TEXT, reason TEXT, PRIMARY KEY(profile_id, seq)) WITHOUT ROWID;"
	/* AUTOINCREMENT: an erase may delete the newest changes; their seqs
	 * must never be handed out again (exports have passed them) */
	"CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
	" profile_id TEXT NOT NULL, at INTEGER NOT NULL, payload TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_profile ON outbox(profile_id);"
	"CREATE TABLE IF NOT EXISTS dead_letters(export_name TEXT NOT NULL, seq INTEGER NOT NULL,"
	" profile_id TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL, change TEXT NOT NULL,"
	" PRIMARY KEY(export_name, seq)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS dead_letters_profile ON dead_letters(profile_id);"
	"CREATE INDEX IF NOT EXISTS identity_log_other ON identity_log(other_profile_id)"
	" WHERE other_profile_id IS NOT NULL;";

/* Every statement, prepared once.  Keep the enum and the table in step. */
enum stmt_id {
	S_BEGIN, S_READ_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_META_GET, S_META_PUT, S_META_LIST, S_META_DELETE,
	S_DEDUPE_ADD, S_DEDUPE_REMOVE,
	S_BLOCK_GET, S_BLOCK_PUT, S_BLOCK_ANY, S_BLOCK_ALL, S_BLOCK_PRUNE,
	S_PROFILE_INSERT, S_PROFILE_GET, S_PROFILE_SET_CUSTOM, S_PROFILE_MERGE,
	S_PROFILE_REPOINT, S_PROFILE_MERGE_COUNT, S_PROFILE_DELETE, S_PROFILE_TOMBSTONES,
	S_PROFILE_ITER,
	S_IDENT_GET, S_IDENT_PUT, S_IDENT_DELETE, S_IDENT_COUNT, S_IDENT_COUNT_ALL,
	S_IDENT_LIST, S_IDENT_REASSIGN, S_INSTALL_TOUCH, S_IDENT_DELETE_PROFILE,
	S_ATTR_GET, S_ATTR_PUT, S_ATTR_PUT_NEWER, S_ATTR_LIST, S_ATTR_DELETE_PROFILE, S_ATTR_FIND,
	S_ATTR_COUNT,
	S_CONSENT_GET, S_CONSENT_PUT, S_CONSENT_PUT_NEWER, S_CONSENT_LIST, S_CONSENT_DELETE_PROFILE,
	S_EVENT_INSERT, S_EVENT_MOVE, S_EVENT_LIST_TOP, S_EVENT_LIST_AFTER, S_EVENT_STATS,
	S_EVENT_DELETE_PROFILE,
	S_LOG_APPEND, S_LOG_PAGE, S_LOG_DELETE_PROFILE, S_LOG_UNLINK_PROFILE,
	S_OUTBOX_APPEND, S_OUTBOX_READ, S_OUTBOX_DELETE_PROFILE, S_OUTBOX_PRUNE, S_OUTBOX_HOLD,
	S_DEAD_PUT, S_DEAD_LIST, S_DEAD_DELETE_PROFILE, S_DEAD_DELETE, S_DEAD_LAST,
	S_LEASE_EPOCH,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_READ_BEGIN] = "BEGIN DEFERRED",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT batch",
	[S_RELEASE] = "RELEASE batch",
	[S_ROLLBACK_TO] = "ROLLBACK TO batch",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[S_META_LIST] = "SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1"
			" ORDER BY key",
	[S_META_DELETE] = "DELETE FROM meta WHERE key = ?1",
	[S_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
		       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[S_DEDUPE_ADD] = "INSERT OR IGNORE INTO dedupe(source, message_id) VALUES(?1, ?2)",
	[S_DEDUPE_REMOVE] = "DELETE FROM dedupe WHERE source = ?1 AND message_id = ?2",
	[S_BLOCK_GET] = "SELECT until FROM blocks WHERE type = ?1 AND value = ?2",
	[S_BLOCK_PUT] = "INSERT INTO blocks(type, value, until) VALUES(?1, ?2, ?3)"
			" ON CONFLICT(type, value) DO UPDATE SET until = max(until, excluded.until)",
	[S_BLOCK_ANY] = "SELECT 1 FROM blocks LIMIT 1",
	[S_BLOCK_ALL] = "SELECT type, value, until FROM blocks LIMIT ?1",
	[S_BLOCK_PRUNE] = "DELETE FROM blocks WHERE until <= ?1 AND (type, value) IN"
			  " (SELECT type, value FROM blocks WHERE until <= ?1 LIMIT ?2)",
	[S_PROFILE_INSERT] = "INSERT INTO profiles(id, seq, custom_id, merged_into, merge_count,"
			     " created_at) VALUES(?1, ?2, ?3, NULL, ?4, ?5)",
	[S_PROFILE_GET] = "SELECT id, seq, custom_id, merged_into, merge_count, created_at"
			  " FROM profiles WHERE id = ?1",
	[S_PROFILE_SET_CUSTOM] = "UPDATE profiles SET custom_id = ?2 WHERE id = ?1",
	[S_PROFILE_MERGE] = "UPDATE profiles SET merged_into = ?2 WHERE id = ?1",
	[S_PROFILE_REPOINT] = "UPDATE profiles SET merged_into = ?2 WHERE merged_into = ?1",
	[S_PROFILE_MERGE_COUNT] = "UPDATE profiles SET merge_count = ?2 WHERE id = ?1",
	[S_PROFILE_DELETE] = "DELETE FROM profiles WHERE id = ?1",
	[S_PROFILE_TOMBSTONES] = "SELECT id, seq, custom_id, merged_into, merge_count, created_at"
				 " FROM profiles WHERE merged_into = ?1 ORDER BY id",
	[S_PROFILE_ITER] = "SELECT id, seq, custom_id, merged_into, merge_count, created_at"
			   " FROM profiles WHERE merged_into IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
	[S_IDENT_GET] = "SELECT profile_id FROM identifiers WHERE type = ?1 AND value = ?2",
	[S_IDENT_PUT] = "INSERT INTO identifiers(type, value, profile_id) VALUES(?1, ?2, ?3)"
			" ON CONFLICT(type, value) DO UPDATE SET profile_id = excluded.profile_id",
	[S_IDENT_DELETE] = "DELETE FROM identifiers WHERE type = ?1 AND value = ?2",
	[S_IDENT_COUNT] = "SELECT count(*) FROM identifiers WHERE profile_id = ?1 AND type = ?2",
	[S_IDENT_COUNT_ALL] = "SELECT count(*) FROM identifiers WHERE profile_id = ?1",
	[S_IDENT_LIST] = "SELECT type, value, profile_id, platform, last_seen, push_enabled"
			 " FROM identifiers WHERE profile_id = ?1 ORDER BY type, value",
	[S_IDENT_REASSIGN] = "UPDATE identifiers SET profile_id = ?2 WHERE profile_id = ?1",
	[S_INSTALL_TOUCH] = "UPDATE identifiers SET platform = coalesce(?2, platform),"
			    " last_seen = max(last_seen, ?3),"
			    " push_enabled = CASE WHEN ?4 < 0 THEN push_enabled ELSE ?4 END"
			    " WHERE type = 'installation_id' AND value = ?1",
	[S_IDENT_DELETE_PROFILE] = "DELETE FROM identifiers WHERE profile_id = ?1",
	[S_ATTR_GET] = "SELECT key, value, type, ts, deleted, changed_at FROM attributes"
		       " WHERE profile_id = ?1 AND key = ?2",
	[S_ATTR_PUT] = "INSERT INTO attributes(profile_id, key, value, type, ts, deleted, changed_at)"
		       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(profile_id, key) DO UPDATE"
		       " SET value = excluded.value, type = excluded.type, ts = excluded.ts,"
		       " deleted = excluded.deleted, changed_at = excluded.changed_at",
	[S_ATTR_PUT_NEWER] = "INSERT INTO attributes(profile_id, key, value, type, ts, deleted,"
			     " changed_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
			     " ON CONFLICT(profile_id, key) DO UPDATE"
			     " SET value = excluded.value, type = excluded.type, ts = excluded.ts,"
			     " deleted = excluded.deleted, changed_at = excluded.changed_at"
			     " WHERE attributes.ts <= excluded.ts",
	[S_ATTR_LIST] = "SELECT key, value, type, ts, deleted, changed_at FROM attributes"
			" WHERE profile_id = ?1 ORDER BY key",
	[S_ATTR_DELETE_PROFILE] = "DELETE FROM attributes WHERE profile_id = ?1",
	[S_ATTR_COUNT] = "SELECT count(*) FROM attributes WHERE profile_id = ?1",
	[S_ATTR_FIND] = "SELECT p.id, p.seq, p.custom_id, p.merged_into, p.merge_count, p.created_at"
			" FROM attributes a JOIN profiles p ON p.id = a.profile_id"
			" WHERE a.key = ?1 AND a.value = ?2 AND a.deleted = 0"
			" AND a.key IN ('$email_address', '$phone_number')" /* the partial index */
			" AND p.merged_into IS NULL ORDER BY p.id",
	[S_CONSENT_GET] = "SELECT channel, state, ts, source FROM consent"
			  " WHERE profile_id = ?1 AND channel = ?2",
	[S_CONSENT_PUT] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
			  " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(profile_id, channel) DO UPDATE"
			  " SET state = excluded.state, ts = excluded.ts, source = excluded.source",
	[S_CONSENT_PUT_NEWER] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
				" VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(profile_id, channel)"
				" DO UPDATE SET state = excluded.state, ts = excluded.ts,"
				" source = excluded.source WHERE consent.ts <= excluded.ts",
	[S_CONSENT_LIST] = "SELECT channel, state, ts, source FROM consent WHERE profile_id = ?1"
			   " ORDER BY channel",
	[S_CONSENT_DELETE_PROFILE] = "DELETE FROM consent WHERE profile_id = ?1",
	[S_EVENT_INSERT] = "INSERT INTO events(profile_id, ts, source, message_id, name, properties,"
			   " seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_EVENT_MOVE] = "UPDATE events SET profile_id = ?2 WHERE profile_id = ?1",
	[S_EVENT_LIST_TOP] = "SELECT seq, profile_id, ts, source, message_id, name, properties"
			     " FROM events WHERE profile_id = ?1"
			     " ORDER BY ts DESC, message_id DESC, seq DESC LIMIT ?2",
	[S_EVENT_LIST_AFTER] = "SELECT seq, profile_id, ts, source, message_id, name, properties"
			       " FROM events WHERE profile_id = ?1 AND (ts, message_id, seq) < (?3, ?4, ?5)"
			       " ORDER BY ts DESC, message_id DESC, seq DESC LIMIT ?2",
	[S_EVENT_STATS] = "SELECT count(*), coalesce(max(ts), 0) FROM events WHERE profile_id = ?1",
	[S_EVENT_DELETE_PROFILE] = "DELETE FROM events WHERE profile_id = ?1",
	[S_LOG_APPEND] = "INSERT INTO identity_log(at, profile_id, action, id_type, id_value,"
			 " other_profile_id, reason, seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* its own rows in the primary key's order, merged by seq with the
	 * (few) rows naming it as the other profile: a page reads no further
	 * than its last row */
	[S_LOG_PAGE] = "SELECT seq, at, profile_id, action, id_type, id_value, other_profile_id,"
		       " reason FROM identity_log WHERE profile_id = ?1 AND seq > ?2"
		       " UNION ALL SELECT seq, at, profile_id, action, id_type, id_value,"
		       " other_profile_id, reason FROM identity_log"
		       " WHERE other_profile_id = ?1 AND profile_id <> ?1 AND seq > ?2"
		       " ORDER BY seq LIMIT ?3",
	[S_LOG_DELETE_PROFILE] = "DELETE FROM identity_log WHERE profile_id = ?1",
	[S_LOG_UNLINK_PROFILE] = "UPDATE identity_log SET other_profile_id = NULL"
				 " WHERE other_profile_id = ?1",
	[S_OUTBOX_APPEND] = "INSERT INTO outbox(kind, profile_id, at, payload) VALUES(?1, ?2, ?3, ?4)",
	[S_OUTBOX_READ] = "SELECT seq, kind, profile_id, at, payload FROM outbox WHERE seq > ?1"
			  " ORDER BY seq LIMIT ?2",
	[S_OUTBOX_DELETE_PROFILE] = "DELETE FROM outbox WHERE profile_id = ?1",
	[S_OUTBOX_PRUNE] = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
			   " WHERE seq <= ?1 ORDER BY seq LIMIT ?2)",
	[S_DEAD_PUT] = "INSERT OR REPLACE INTO dead_letters(export_name, seq, profile_id, at, reason,"
		       " change) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_DEAD_DELETE_PROFILE] = "DELETE FROM dead_letters WHERE profile_id = ?1",
	[S_DEAD_DELETE] = "DELETE FROM dead_letters WHERE export_name = ?1 AND seq = ?2 RETURNING 1",
	[S_OUTBOX_HOLD] = "SELECT 1 FROM outbox WHERE seq = ?1",
	[S_DEAD_LAST] = "SELECT coalesce(max(seq), 0) FROM dead_letters WHERE export_name = ?1",
	[S_DEAD_LIST] = "SELECT export_name, seq, at, reason, change FROM dead_letters"
			" WHERE export_name = ?1 AND seq > ?3 ORDER BY seq LIMIT ?2",
	[S_LEASE_EPOCH] = "INSERT INTO meta(key, value) VALUES('lease_epoch:' || ?1, '1')"
			  " ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1"
			  " AS TEXT) RETURNING CAST(value AS INTEGER)",
};

#define CKPT_PAGES 4000          /* wake the checkpointer (16 MB of WAL) */
#define CKPT_PAGES_INLINE 65536  /* the writer restarts the WAL itself (256 MB) */
#define LITE_BUSY_MS 10000       /* how long a connection waits for a lock */
/* After a write transaction that held the lock this long, the writer
 * pauses LITE_TURN_MS before its next one: five of a waiting connection's
 * busy steps (lite_busy: 10 ms; a loaded machine may run it late), so
 * another process's writer
 * (a hub beside an import, a second import) takes its turn instead of
 * waiting out LITE_BUSY_MS behind back-to-back transactions.  At most
 * LITE_TURN_MS / LITE_TURN_AFTER_MS (10 %) of a long import's time; a
 * shorter transaction (an HTTP group, unless the hub is very busy) never
 * pauses, and one that does delays its acknowledgements by the pause. */
#define LITE_TURN_AFTER_MS 500
#define LITE_TURN_MS 50

static _Atomic int wal_restart_pages = CKPT_PAGES_INLINE;

void store_sqlite_set_wal_restart_pages(int pages)
{
	wal_restart_pages = pages > 0 ? pages : CKPT_PAGES_INLINE;
}

struct checkpointer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int is_running;           /* under lock */
	int is_stopping;          /* under lock */
	int is_due;               /* under lock */
	char *path;
};

struct sqlite_store {
	struct store base;   /* first: a struct store * is a struct sqlite_store * */
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	int in_tx;
	int64_t seq;         /* profile_seq within the transaction */
	int has_seq;         /* seq was read in this transaction */
	int is_seq_dirty;    /* seq must be written before COMMIT */
	int64_t row_seq;     /* row_seq (events, log order) likewise */
	int has_row_seq;
	int is_row_seq_dirty;
	struct checkpointer ckpt;
	/* the writer's caches (lite_cache_*): valid inside a write transaction */
	struct kvcache idents;  /* (type, value) -> owner profile id, "" none */
	struct kvcache blocks;  /* (type, value) -> until, or not blocked */
	int blocks_state;       /* BLOCKS_UNKNOWN, BLOCKS_COMPLETE, BLOCKS_PARTIAL */
	int is_writing;         /* in a transaction begun by lite_begin */
	int64_t tx_began_ms;    /* when lite_begin took the write lock (monotonic), or 0 */
	unsigned data_version;  /* the file's, when this connection last wrote */
	int is_restarting_wal;  /* in lite_wal_hook's restart: never wait */
	int is_moved_logged;    /* lite_check_unmoved said so */
	struct lease_locks leases; /* this connection's (lite_lease_try) */
};

static struct sqlite_store *lite(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* ---- statement helpers ---------------------------------------------- */

static int fail(struct sqlite_store *ls, enum stmt_id id)
{
	err_set(ls->base.err, sizeof(ls->base.err), "sqlite: %s (statement %d)",
		sqlite3_errmsg(ls->db), (int)id);
	return -1;
}

/* Resets and binds: fmt has one letter per parameter: s (const char *,
 * NULL binds NULL), i (int64_t), d (int). */
static sqlite3_stmt *prep(struct sqlite_store *ls, enum stmt_id id, const char *fmt, ...)
{
	sqlite3_stmt *st = ls->stmt[id];
	va_list ap;
	int col = 1;

	if (store_fault_hit(&ls->base))
		return NULL;
	sqlite3_reset(st);
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++, col++) {
		int rc;
		if (*f == 's') {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC)
			       : sqlite3_bind_null(st, col);
		} else if (*f == 'i') {
			rc = sqlite3_bind_int64(st, col, va_arg(ap, int64_t));
		} else {
			rc = sqlite3_bind_int(st, col, va_arg(ap, int));
		}
		if (rc != SQLITE_OK) {
			va_end(ap);
			fail(ls, id);
			return NULL;
		}
	}
	va_end(ap);
	return st;
}

/* Runs a statement that returns no rows. */
static int run(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(ls, id);
	return 0;
}

#define RUN(ls, id, ...) run(ls, id, prep(ls, id, __VA_ARGS__))

static const char *col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* Reads one int64 from a one-row query; *out untouched when no row. */
static int query_int(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st, int64_t *out)
{
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		/* a write's autocommit (a lease's epoch bump) commits here */
		return sqlite3_reset(st) == SQLITE_OK ? 1 : fail(ls, id);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(ls, id);
}

/* ---- transactions --------------------------------------------------- */

static int lite_exec(struct store *s, enum stmt_id id)
{
	return RUN(lite(s), id, "");
}

/* ---- the writer's caches -------------------------------------------- */

#define IDENT_CACHE_KEYS 131072 /* about 13 MB */
#define WRITER_PAGE_CACHE "PRAGMA cache_size=-122880" /* KiB: 120 MB */
#define BLOCK_CACHE_KEYS 8192
#define BLOCK_LIST_MAX (BLOCK_CACHE_KEYS / 4) /* a longer list is cached per key */

enum { BLOCKS_UNKNOWN, BLOCKS_COMPLETE, BLOCKS_PARTIAL };

/*
 * Identifier owners and blocked values are read for nearly every record;
 * the writer keeps them in kvcaches.  They are used only inside a write
 * transaction (BEGIN IMMEDIATE holds the file's write lock), every write
 * of those rows through this connection updates them, a rollback drops
 * them, and lite_begin drops them when another connection (or process)
 * has committed since this one last did (SQLite's data version).  Readers
 * never use them.
 */
static unsigned lite_data_version(struct sqlite_store *ls)
{
	unsigned v = 0;
	sqlite3_file_control(ls->db, "main", SQLITE_FCNTL_DATA_VERSION, &v);
	return v;
}

static void lite_cache_drop(struct sqlite_store *ls)
{
	kvcache_clear(&ls->idents);
	kvcache_clear(&ls->blocks);
	ls->blocks_state = BLOCKS_UNKNOWN;
}

static void lite_cache_begin(struct sqlite_store *ls)
{
	if (!ls->idents.entries && ls->base.is_intake_writer) {
		size_t n_keys = ls->base.n_ident_cache_keys ? ls->base.n_ident_cache_keys
							     : IDENT_CACHE_KEYS;
		/* the first write transaction of this connection: a writer's
		 * page cache, and its caches */
		sqlite3_exec(ls->db, WRITER_PAGE_CACHE, NULL, NULL, NULL);
		if (kvcache_init(&ls->idents, n_keys) ||
		    kvcache_init(&ls->blocks, BLOCK_CACHE_KEYS)) {
			kvcache_free(&ls->idents); /* no cache: every read goes to SQL */
			return;
		}
	}
	if (lite_data_version(ls) != ls->data_version)
		lite_cache_drop(ls);
	ls->is_writing = 1;
}

int store_sqlite_page_cache_kib(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int kib = -1;

	if (sqlite3_prepare_v2(lite(s)->db, "PRAGMA cache_size", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		kib = -sqlite3_column_int(st, 0); /* negative: KiB */
	sqlite3_finalize(st);
	return kib;
}

static int lite_begin(struct store *s)
{
	int rc = lite_exec(s, S_BEGIN);
	if (rc == 0) {
		lite_cache_begin(lite(s));
		lite(s)->tx_began_ms = time_mono_ms();
	}
	lite(s)->has_seq = 0;
	lite(s)->is_seq_dirty = 0;
	lite(s)->has_row_seq = 0;
	lite(s)->is_row_seq_dirty = 0;
	lite(s)->in_tx = rc == 0;
	return rc;
}

static void lite_reset_all(struct sqlite_store *ls)
{
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_reset(ls->stmt[i]);
}

static int lite_meta_put(struct store *s, const char *key, const char *value);
static int lite_meta_get(struct store *s, const char *key, char *out, size_t out_size);

static int lite_counter_save(struct store *s, const char *key, int64_t value)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", (long long)value);
	return lite_meta_put(s, key, text);
}

/*
 * Counters (profile_seq, row_seq) live in meta; within a transaction they
 * are kept in memory and written once at commit.  A savepoint rollback
 * keeps the higher value: numbers may be skipped, never reused.
 */
static int lite_counter_next(struct store *s, const char *key, int64_t *value, int *has,
			     int *is_dirty, int64_t *out)
{
	if (!*has) {
		char text[32];
		int rc = lite_meta_get(s, key, text, sizeof(text));
		if (rc < 0)
			return -1;
		*value = rc == 1 ? strtoll(text, NULL, 10) : 0;
		*has = 1;
	}
	*out = ++*value;
	*is_dirty = 1;
	return 0;
}

static int lite_next_row_seq(struct sqlite_store *ls, int64_t *out)
{
	return lite_counter_next(&ls->base, "row_seq", &ls->row_seq, &ls->has_row_seq,
				 &ls->is_row_seq_dirty, out);
}

/* After a long write transaction, a pause in which another process's
 * writer waiting for the lock gets it (LITE_TURN_MS). */
static void lite_give_turn(struct sqlite_store *ls)
{
	const struct timespec turn = {0, LITE_TURN_MS * 1000000L};

	if (ls->tx_began_ms && time_mono_ms() - ls->tx_began_ms >= LITE_TURN_AFTER_MS)
		nanosleep(&turn, NULL);
	ls->tx_began_ms = 0;
}

/*
 * Is the file at the store's path still the one this connection opened?
 * One deleted or replaced under a running hub (rm, mv) stays open here,
 * and SQLite notices a moved file only in rollback-journal mode: its
 * commits would succeed into a file no one reads again.  Asked before
 * every commit (a stat(), beside the commit's fsync); the error is
 * logged once per connection.  0, or -1 with the error set.
 */
static int lite_check_unmoved(struct sqlite_store *ls)
{
	const char *path = sqlite3_db_filename(ls->db, "main");
	int has_moved = 0;

	if (sqlite3_file_control(ls->db, "main", SQLITE_FCNTL_HAS_MOVED, &has_moved) !=
		    SQLITE_OK ||
	    !has_moved)
		return 0;
	err_set(ls->base.err, sizeof(ls->base.err), "sqlite: %s is no longer the store this"
		" process opened (deleted, moved or replaced): nothing is committed to it;"
		" restart the hub", path);
	if (!ls->is_moved_logged)
		log_error("store", "%s", ls->base.err);
	ls->is_moved_logged = 1;
	return -1;
}

static int lite_commit(struct store *s)
{
	struct sqlite_store *ls = lite(s);
	int rc;
	if (lite_check_unmoved(ls))
		return -1;
	if (ls->is_seq_dirty && lite_counter_save(s, "profile_seq", ls->seq))
		return -1;
	if (ls->is_row_seq_dirty && lite_counter_save(s, "row_seq", ls->row_seq))
		return -1;
	ls->is_seq_dirty = 0;
	ls->is_row_seq_dirty = 0;
	lite_reset_all(ls); /* no read left pending across a commit */
	rc = lite_exec(s, S_COMMIT);
	if (rc == 0) {
		ls->in_tx = 0;
		ls->is_writing = 0;
		ls->data_version = lite_data_version(ls);
		lite_give_turn(ls);
	}
	return rc;
}

static int lite_rollback(struct store *s)
{
	struct sqlite_store *ls = lite(s);
	if (ls->is_writing)
		lite_cache_drop(ls); /* they may hold what is being undone */
	ls->is_writing = 0;
	ls->tx_began_ms = 0;
	if (!ls->in_tx && sqlite3_get_autocommit(ls->db))
		return 0;
	ls->in_tx = 0;
	ls->has_seq = 0;
	ls->is_seq_dirty = 0;
	ls->has_row_seq = 0;
	ls->is_row_seq_dirty = 0;
	lite_reset_all(ls);
	/* a statement that failed with SQLITE_NOMEM, SQLITE_FULL or an I/O
	 * error may have rolled the transaction back already (SQLite does):
	 * then it is done, and a ROLLBACK would fail ("no transaction is
	 * active") */
	if (sqlite3_get_autocommit(ls->db))
		return 0;
	return lite_exec(s, S_ROLLBACK);
}

static int lite_savepoint(struct store *s) { return lite_exec(s, S_SAVEPOINT); }

static int lite_read_begin(struct store *s)
{
	int rc = lite_exec(s, S_READ_BEGIN);
	lite(s)->in_tx = rc == 0;
	return rc;
}

static int lite_read_end(struct store *s)
{
	return lite_rollback(s); /* nothing was written */
}
static int lite_savepoint_release(struct store *s) { return lite_exec(s, S_RELEASE); }

static int lite_savepoint_rollback(struct store *s)
{
	lite_cache_drop(lite(s));
	if (lite_exec(s, S_ROLLBACK_TO))
		return -1;
	return lite_exec(s, S_RELEASE);
}

/* ---- meta, dedupe, blocks ------------------------------------------- */

static int lite_meta_get(struct store *s, const char *key, char *out, size_t out_size)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_META_GET, "s", key);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, out_size, "%s", col_text(st, 0));
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(ls, S_META_GET);
}

static int lite_meta_put(struct store *s, const char *key, const char *value)
{
	return RUN(lite(s), S_META_PUT, "ss", key, value);
}

static int lite_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_META_LIST, "s", prefix);
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ctx, col_text(st, 0), col_text(st, 1)))
			break;
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_META_LIST);
}

static int lite_meta_delete(struct store *s, const char *key)
{
	return RUN(lite(s), S_META_DELETE, "s", key);
}

static int lite_dedupe_add(struct store *s, const char *source, const char *mid)
{
	struct sqlite_store *ls = lite(s);
	if (RUN(ls, S_DEDUPE_ADD, "ss", source, mid))
		return -1;
	return sqlite3_changes(ls->db) > 0;
}

static int lite_dedupe_remove(struct store *s, const char *source, const char *mid)
{
	return RUN(lite(s), S_DEDUPE_REMOVE, "ss", source, mid);
}

/*
 * The block list is short (erasures of the last days): the writer loads it
 * whole into ls->blocks, so that a miss means "not blocked" without a
 * query.  A list too long for that (or a key too long to cache) leaves the
 * cache per key (BLOCKS_PARTIAL).  A cached value: byte 0 says blocked,
 * bytes 8.. hold until.
 */
static int lite_block_cache(struct sqlite_store *ls, const char *type, const char *value,
			    int64_t until)
{
	unsigned char v[KVCACHE_VALUE_SIZE] = {1};
	memcpy(v + 8, &until, sizeof(until));
	return kvcache_put(&ls->blocks, type, value, v);
}

static int lite_blocks_load(struct sqlite_store *ls)
{
	sqlite3_stmt *st = prep(ls, S_BLOCK_ALL, "i", (int64_t)BLOCK_LIST_MAX + 1);
	int rc, n = 0, is_complete = 1;
	if (!st)
		return -1;
	kvcache_clear(&ls->blocks);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (++n > BLOCK_LIST_MAX ||
		    lite_block_cache(ls, col_text(st, 0), col_text(st, 1),
				     sqlite3_column_int64(st, 2)) != 0)
			is_complete = 0;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail(ls, S_BLOCK_ALL);
	if (!is_complete)
		kvcache_clear(&ls->blocks);
	ls->blocks_state = is_complete ? BLOCKS_COMPLETE : BLOCKS_PARTIAL;
	return 0;
}

static int lite_block_get(struct store *s, const char *type, const char *value, int64_t *until)
{
	struct sqlite_store *ls = lite(s);
	unsigned char v[KVCACHE_VALUE_SIZE] = {0};
	int rc;

	if (ls->is_writing && ls->blocks_state == BLOCKS_UNKNOWN && lite_blocks_load(ls))
		return -1;
	if (ls->is_writing && kvcache_get(&ls->blocks, type, value, v)) {
		if (v[0])
			memcpy(until, v + 8, sizeof(*until));
		return v[0];
	}
	if (ls->is_writing && ls->blocks_state == BLOCKS_COMPLETE)
		return 0;
	rc = query_int(ls, S_BLOCK_GET, prep(ls, S_BLOCK_GET, "ss", type, value), until);
	if (rc < 0 || !ls->is_writing)
		return rc;
	v[0] = (unsigned char)rc;
	if (rc)
		memcpy(v + 8, until, sizeof(*until));
	kvcache_put(&ls->blocks, type, value, v);
	return rc;
}

static int lite_block_put(struct store *s, const char *type, const char *value, int64_t until)
{
	struct sqlite_store *ls = lite(s);
	int64_t old = 0;

	if (ls->is_writing && ls->blocks_state == BLOCKS_COMPLETE) {
		int rc = lite_block_get(s, type, value, &old);
		if (rc < 0)
			return -1;
		if (rc == 1 && old > until)
			until = old; /* the row keeps the later */
	}
	kvcache_forget(&ls->blocks, type, value);
	if (RUN(ls, S_BLOCK_PUT, "ssi", type, value, until)) {
		ls->blocks_state = BLOCKS_UNKNOWN; /* not knowing the row: reload */
		return -1;
	}
	if (ls->blocks_state == BLOCKS_COMPLETE && lite_block_cache(ls, type, value, until) != 0) {
		kvcache_clear(&ls->blocks);
		ls->blocks_state = BLOCKS_PARTIAL;
	}
	return 0;
}

static int lite_block_any(struct store *s)
{
	struct sqlite_store *ls = lite(s);
	int64_t one = 0;
	return query_int(ls, S_BLOCK_ANY, prep(ls, S_BLOCK_ANY, ""), &one);
}

/* The writer's cache may hold the rows deleted: it is read again.  (A
 * prune by another connection is seen by the writer's next lite_begin:
 * the file's data version has changed.) */
static int lite_block_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	struct sqlite_store *ls = lite(s);

	*n_deleted = 0;
	if (RUN(ls, S_BLOCK_PRUNE, "ii", upto, (int64_t)limit))
		return -1;
	*n_deleted = (size_t)sqlite3_changes(ls->db);
	if (*n_deleted) {
		kvcache_clear(&ls->blocks);
		ls->blocks_state = BLOCKS_UNKNOWN;
	}
	return 0;
}

/* ---- profiles ------------------------------------------------------- */

static int lite_profile_next_seq(struct store *s, int64_t *seq)
{
	struct sqlite_store *ls = lite(s);
	return lite_counter_next(s, "profile_seq", &ls->seq, &ls->has_seq, &ls->is_seq_dirty, seq);
}

static void row_profile(sqlite3_stmt *st, struct store_profile *p)
{
	const char *merged = col_text(st, 3);
	const char *custom_id = col_text(st, 2);
	str_copy(p->id, sizeof(p->id), col_text(st, 0));
	p->seq = sqlite3_column_int64(st, 1);
	p->is_anonymous = custom_id == NULL;
	str_copy(p->custom_id, sizeof(p->custom_id), custom_id ? custom_id : "");
	str_copy(p->merged_into, sizeof(p->merged_into), merged ? merged : "");
	p->merge_count = sqlite3_column_int(st, 4);
	p->created_at_ms = sqlite3_column_int64(st, 5);
}

/* Steps through rows, handing each profile to cb; cb non-zero stops. */
static int each_profile(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st,
			store_profile_cb cb, void *ctx)
{
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_profile p;
		row_profile(st, &p);
		if (cb(ctx, &p)) {
			sqlite3_reset(st);
			return 0;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(ls, id);
}

static int lite_profile_insert(struct store *s, const struct store_profile *p)
{
	return RUN(lite(s), S_PROFILE_INSERT, "sisdi", p->id, p->seq,
		   p->is_anonymous ? NULL : p->custom_id,
		   p->merge_count, p->created_at_ms);
}

static int lite_profile_get(struct store *s, const char *id, struct store_profile *out)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_PROFILE_GET, "s", id);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_profile(st, out);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(ls, S_PROFILE_GET);
}

static int lite_profile_set_custom_id(struct store *s, const char *id, const char *custom_id)
{
	return RUN(lite(s), S_PROFILE_SET_CUSTOM, "ss", id, custom_id);
}

static int lite_profile_mark_merged(struct store *s, const char *a, const char *b, int count)
{
	struct sqlite_store *ls = lite(s);
	if (RUN(ls, S_PROFILE_MERGE, "ss", a, b) || RUN(ls, S_PROFILE_REPOINT, "ss", a, b))
		return -1;
	return RUN(ls, S_PROFILE_MERGE_COUNT, "sd", b, count);
}

static int lite_profile_delete(struct store *s, const char *id)
{
	return RUN(lite(s), S_PROFILE_DELETE, "s", id);
}

static int lite_profile_tombstones(struct store *s, const char *id, store_profile_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	return each_profile(ls, S_PROFILE_TOMBSTONES, prep(ls, S_PROFILE_TOMBSTONES, "s", id), cb, ctx);
}

static int lite_profile_iter_live(struct store *s, const char *after, size_t limit,
				  store_profile_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	int64_t lim = limit ? (int64_t)limit : -1;
	return each_profile(ls, S_PROFILE_ITER, prep(ls, S_PROFILE_ITER, "si", after, lim), cb, ctx);
}

/* ---- identifiers ---------------------------------------------------- */

/* Remembers the owner of (type, value); pid "" when nobody holds it. */
static void lite_cache_owner(struct sqlite_store *ls, const char *type, const char *value,
			     const char *pid)
{
	unsigned char v[KVCACHE_VALUE_SIZE] = {0};
	if (!ls->is_writing)
		return;
	str_copy((char *)v, sizeof(v), pid);
	kvcache_put(&ls->idents, type, value, v);
}

static int lite_ident_get(struct store *s, const char *type, const char *value,
			  char profile_id[PROFILE_ID_SIZE])
{
	struct sqlite_store *ls = lite(s);
	unsigned char v[KVCACHE_VALUE_SIZE];
	sqlite3_stmt *st;
	int rc;

	if (ls->is_writing && kvcache_get(&ls->idents, type, value, v)) {
		memcpy(profile_id, v, PROFILE_ID_SIZE);
		profile_id[PROFILE_ID_SIZE - 1] = '\0';
		return profile_id[0] != '\0';
	}
	st = prep(ls, S_IDENT_GET, "ss", type, value);
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		str_copy(profile_id, PROFILE_ID_SIZE, col_text(st, 0));
		sqlite3_reset(st);
		lite_cache_owner(ls, type, value, profile_id);
		return 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(ls, S_IDENT_GET);
	lite_cache_owner(ls, type, value, "");
	return 0;
}

static int lite_ident_put(struct store *s, const char *type, const char *value, const char *pid)
{
	struct sqlite_store *ls = lite(s);
	kvcache_forget(&ls->idents, type, value); /* unknown if the write fails */
	if (RUN(ls, S_IDENT_PUT, "sss", type, value, pid))
		return -1;
	lite_cache_owner(ls, type, value, pid);
	return 0;
}

static int lite_ident_delete(struct store *s, const char *type, const char *value)
{
	struct sqlite_store *ls = lite(s);
	kvcache_forget(&ls->idents, type, value);
	if (RUN(ls, S_IDENT_DELETE, "ss", type, value))
		return -1;
	lite_cache_owner(ls, type, value, "");
	return 0;
}

static int lite_ident_count(struct store *s, const char *pid, const char *type)
{
	struct sqlite_store *ls = lite(s);
	int64_t n = 0;
	if (query_int(ls, S_IDENT_COUNT, prep(ls, S_IDENT_COUNT, "ss", pid, type), &n) < 0)
		return -1;
	return (int)n;
}

static int lite_ident_count_all(struct store *s, const char *pid)
{
	struct sqlite_store *ls = lite(s);
	int64_t n = 0;
	if (query_int(ls, S_IDENT_COUNT_ALL, prep(ls, S_IDENT_COUNT_ALL, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int lite_ident_list(struct store *s, const char *pid, store_ident_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_IDENT_LIST, "s", pid);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_ident id = {
			.type = col_text(st, 0),
			.value = col_text(st, 1),
			.profile_id = col_text(st, 2),
			.platform = col_text(st, 3),
			.last_seen_ms = sqlite3_column_int64(st, 4),
			.push_enabled = sqlite3_column_int(st, 5),
		};
		if (cb(ctx, &id))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_IDENT_LIST);
}

static int forget_owner_cb(void *ctx, const struct store_ident *id)
{
	kvcache_forget(ctx, id->type, id->value);
	return 0;
}

/* Before the identifiers of pid move or go: forgets their cached owner. */
static int lite_cache_forget_profile(struct sqlite_store *ls, const char *pid)
{
	if (!ls->idents.entries)
		return 0;
	return lite_ident_list(&ls->base, pid, forget_owner_cb, &ls->idents);
}

static int lite_ident_reassign(struct store *s, const char *from, const char *to)
{
	if (lite_cache_forget_profile(lite(s), from))
		return -1;
	return RUN(lite(s), S_IDENT_REASSIGN, "ss", from, to);
}

static int lite_install_touch(struct store *s, const char *iid, const char *platform,
			      int64_t seen_ms, int push)
{
	return RUN(lite(s), S_INSTALL_TOUCH, "ssid", iid, platform, seen_ms, push);
}

static int lite_ident_delete_profile(struct store *s, const char *pid)
{
	if (lite_cache_forget_profile(lite(s), pid))
		return -1;
	return RUN(lite(s), S_IDENT_DELETE_PROFILE, "s", pid);
}

/* ---- attributes ----------------------------------------------------- */

static void row_attr(sqlite3_stmt *st, struct store_attr *a)
{
	a->key = col_text(st, 0);
	a->value_json = col_text(st, 1);
	a->type = sqlite3_column_int(st, 2);
	a->ts_ms = sqlite3_column_int64(st, 3);
	a->is_deleted = sqlite3_column_int(st, 4);
	a->changed_at_ms = sqlite3_column_int64(st, 5);
}

static int lite_attr_get(struct store *s, const char *pid, const char *key, struct store_attr *out)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_ATTR_GET, "ss", pid, key);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_attr(st, out); /* valid until the next attr_get */
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(ls, S_ATTR_GET);
}

static int lite_attr_put(struct store *s, const char *pid, const struct store_attr *a)
{
	return RUN(lite(s), S_ATTR_PUT, "sssdidi", pid, a->key, a->is_deleted ? NULL : a->value_json,
		   a->type, a->ts_ms, a->is_deleted, a->changed_at_ms);
}

static int lite_attr_put_newer(struct store *s, const char *pid, const struct store_attr *a)
{
	return RUN(lite(s), S_ATTR_PUT_NEWER, "sssdidi", pid, a->key,
		   a->is_deleted ? NULL : a->value_json, a->type, a->ts_ms, a->is_deleted,
		   a->changed_at_ms);
}

static int lite_attr_list(struct store *s, const char *pid, store_attr_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_ATTR_LIST, "s", pid);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_attr a;
		row_attr(st, &a);
		if (cb(ctx, &a))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_ATTR_LIST);
}

static int lite_attr_count(struct store *s, const char *pid)
{
	struct sqlite_store *ls = lite(s);
	int64_t n = 0;
	if (query_int(ls, S_ATTR_COUNT, prep(ls, S_ATTR_COUNT, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int lite_attr_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_ATTR_DELETE_PROFILE, "s", pid);
}

static int lite_attr_find_profiles(struct store *s, const char *key, const char *value_json,
				   store_profile_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	return each_profile(ls, S_ATTR_FIND, prep(ls, S_ATTR_FIND, "ss", key, value_json), cb, ctx);
}

/* ---- consent -------------------------------------------------------- */

static void row_consent(sqlite3_stmt *st, struct store_consent *c)
{
	c->channel = col_text(st, 0);
	c->state = col_text(st, 1);
	c->ts_ms = sqlite3_column_int64(st, 2);
	c->source = col_text(st, 3);
}

static int lite_consent_get(struct store *s, const char *pid, const char *channel,
			    struct store_consent *out)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_CONSENT_GET, "ss", pid, channel);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_consent(st, out);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(ls, S_CONSENT_GET);
}

static int lite_consent_put(struct store *s, const char *pid, const struct store_consent *c)
{
	return RUN(lite(s), S_CONSENT_PUT, "sssis", pid, c->channel, c->state, c->ts_ms, c->source);
}

static int lite_consent_put_newer(struct store *s, const char *pid, const struct store_consent *c)
{
	return RUN(lite(s), S_CONSENT_PUT_NEWER, "sssis", pid, c->channel, c->state, c->ts_ms,
		   c->source);
}

static int lite_consent_list(struct store *s, const char *pid, store_consent_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_CONSENT_LIST, "s", pid);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_consent c;
		row_consent(st, &c);
		if (cb(ctx, &c))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_CONSENT_LIST);
}

static int lite_consent_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_CONSENT_DELETE_PROFILE, "s", pid);
}

/* ---- events --------------------------------------------------------- */

static int lite_event_insert(struct store *s, const struct store_event *e)
{
	int64_t seq;
	if (lite_next_row_seq(lite(s), &seq))
		return -1;
	return RUN(lite(s), S_EVENT_INSERT, "sissssi", e->profile_id, e->ts_ms, e->source,
		   e->message_id, e->name, e->properties_json, seq);
}

static int lite_event_move(struct store *s, const char *from, const char *to)
{
	return RUN(lite(s), S_EVENT_MOVE, "ss", from, to);
}

static int lite_event_list(struct store *s, const char *pid, const struct store_event *before,
			   size_t limit, store_event_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	int64_t lim = limit ? (int64_t)limit : -1;
	enum stmt_id id = before ? S_EVENT_LIST_AFTER : S_EVENT_LIST_TOP;
	sqlite3_stmt *st = before ? prep(ls, id, "siisi", pid, lim, before->ts_ms,
					 before->message_id, before->seq)
				  : prep(ls, id, "si", pid, lim);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_event e = {
			.seq = sqlite3_column_int64(st, 0),
			.profile_id = col_text(st, 1),
			.ts_ms = sqlite3_column_int64(st, 2),
			.source = col_text(st, 3),
			.message_id = col_text(st, 4),
			.name = col_text(st, 5),
			.properties_json = col_text(st, 6),
		};
		if (cb(ctx, &e))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, id);
}

static int lite_event_stats(struct store *s, const char *pid, int64_t *count, int64_t *last)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_EVENT_STATS, "s", pid);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return fail(ls, S_EVENT_STATS);
	}
	*count = sqlite3_column_int64(st, 0);
	*last = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

static int lite_event_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_EVENT_DELETE_PROFILE, "s", pid);
}

/* ---- identity log --------------------------------------------------- */

static int lite_log_append(struct store *s, const struct store_log_entry *e)
{
	int64_t seq;
	if (lite_next_row_seq(lite(s), &seq))
		return -1;
	return RUN(lite(s), S_LOG_APPEND, "issssssi", e->at_ms, e->profile_id, e->action,
		   e->id_type, e->id_value, e->other_profile_id, e->reason, seq);
}

static int lite_log_page(struct store *s, const char *pid, int64_t after, size_t limit,
			 store_log_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_LOG_PAGE, "sii", pid, after, (int64_t)limit);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_log_entry e = {
			.seq = sqlite3_column_int64(st, 0),
			.at_ms = sqlite3_column_int64(st, 1),
			.profile_id = col_text(st, 2),
			.action = col_text(st, 3),
			.id_type = col_text(st, 4),
			.id_value = col_text(st, 5),
			.other_profile_id = col_text(st, 6),
			.reason = col_text(st, 7),
		};
		if (cb(ctx, &e))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_LOG_PAGE);
}

static int lite_log_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_LOG_DELETE_PROFILE, "s", pid) ||
	       RUN(lite(s), S_LOG_UNLINK_PROFILE, "s", pid);
}


/* ---- locks, change feed, dead letters ------------------------------- */

static int lite_ident_lock(struct store *s, const struct store_ident *ids, size_t n)
{
	(void)s;
	(void)ids;
	(void)n;
	return 0; /* one writer: the write transaction is the lock */
}

/*
 * A lease is an flock(2) on a file of its own in <store>-leases/
 * (lease_lock.c), held by this connection until it releases it or closes,
 * or its process dies; then lease_epoch:<name> is bumped (autocommit), as
 * on PostgreSQL.  The bump waits for the write lock, so a commit fence
 * that read the epoch in its write transaction (export_commit.c, sync.c) commits
 * before the take or sees it.  A lease already held here is not taken
 * again.
 */
static int lite_lease_try(struct store *s, const char *name, int64_t *epoch)
{
	struct sqlite_store *ls = lite(s);
	int i, rc;

	if (ls->in_tx) {
		err_set(s->err, sizeof(s->err), "sqlite: lease_try inside a transaction");
		return -1;
	}
	if ((i = lease_locks_find(&ls->leases, name)) >= 0) {
		*epoch = ls->leases.held[i].epoch;
		return 1;
	}
	if ((rc = lease_locks_take(&ls->leases, name, s->err, sizeof(s->err))) <= 0)
		return rc;
	i = (int)ls->leases.n_held - 1;
	if (query_int(ls, S_LEASE_EPOCH, prep(ls, S_LEASE_EPOCH, "s", name), epoch) != 1) {
		lease_locks_drop(&ls->leases, i);
		return -1;
	}
	ls->leases.held[i].epoch = *epoch;
	return 1;
}

static int lite_lease_release(struct store *s, const char *name)
{
	struct sqlite_store *ls = lite(s);
	int i = lease_locks_find(&ls->leases, name);

	if (i >= 0)
		lease_locks_drop(&ls->leases, i);
	return 0;
}

static int lite_outbox_append(struct store *s, const struct store_change *c)
{
	return RUN(lite(s), S_OUTBOX_APPEND, "ssis", c->kind, c->profile_id, c->at_ms,
		   c->payload_json);
}

static int lite_outbox_read(struct store *s, int64_t after, size_t limit, store_change_cb cb,
			    void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_OUTBOX_READ, "ii", after, (int64_t)(limit ? limit : 1000));
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_change c = {
			.seq = sqlite3_column_int64(st, 0),
			.kind = col_text(st, 1),
			.profile_id = col_text(st, 2),
			.at_ms = sqlite3_column_int64(st, 3),
			.payload_json = col_text(st, 4),
		};
		if (cb(ctx, &c))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_OUTBOX_READ);
}

static int lite_outbox_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_OUTBOX_DELETE_PROFILE, "s", pid);
}

static int lite_outbox_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	struct sqlite_store *ls = lite(s);

	*n_deleted = 0;
	if (RUN(ls, S_OUTBOX_PRUNE, "ii", upto, (int64_t)limit))
		return -1;
	*n_deleted = (size_t)sqlite3_changes(ls->db);
	return 0;
}

static int lite_dead_letter_put(struct store *s, const struct store_dead_letter *d)
{
	return RUN(lite(s), S_DEAD_PUT, "sisiss", d->export_name, d->seq,
		   d->profile_id ? d->profile_id : "", d->at_ms, d->reason, d->change_json);
}

static int lite_dead_letter_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_DEAD_DELETE_PROFILE, "s", pid);
}

static int lite_outbox_hold(struct store *s, int64_t seq)
{
	struct sqlite_store *ls = lite(s);
	int64_t one = 0;

	return query_int(ls, S_OUTBOX_HOLD, prep(ls, S_OUTBOX_HOLD, "i", seq), &one);
}

static int lite_dead_letter_delete(struct store *s, const char *name, int64_t seq)
{
	struct sqlite_store *ls = lite(s);
	int64_t one = 0;

	return query_int(ls, S_DEAD_DELETE, prep(ls, S_DEAD_DELETE, "si", name, seq), &one);
}

static int lite_dead_letter_last_seq(struct store *s, const char *name, int64_t *seq)
{
	struct sqlite_store *ls = lite(s);

	*seq = 0;
	return query_int(ls, S_DEAD_LAST, prep(ls, S_DEAD_LAST, "s", name), seq) < 0 ? -1 : 0;
}

static int lite_dead_letter_list(struct store *s, const char *name, int64_t after, size_t limit,
				 store_dead_letter_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = prep(ls, S_DEAD_LIST, "sii", name, (int64_t)(limit ? limit : 100), after);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_dead_letter d = {
			.export_name = col_text(st, 0),
			.seq = sqlite3_column_int64(st, 1),
			.at_ms = sqlite3_column_int64(st, 2),
			.reason = col_text(st, 3),
			.change_json = col_text(st, 4),
		};
		if (cb(ctx, &d))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(ls, S_DEAD_LIST);
}

/* ---- checkpoints ---------------------------------------------------- */

/* What one checkpointer_run() came to. */
enum ckpt_result {
	CKPT_FAILED = -1,
	CKPT_DONE = 0,
	CKPT_BUSY = 1, /* another connection held the checkpoint: not a failure */
};

/*
 * One checkpoint of the whole WAL into the file, as far as readers allow
 * (PASSIVE), durable as the writer's commits (synchronous=FULL).  The
 * connection reads first: until it has read, its pager
 * has not opened the WAL, and SQLite (3.40) then checkpoints nothing and
 * reports success.  Either step may meet another connection (another hub
 * process on the same file) and get SQLITE_BUSY: the PASSIVE checkpoint at
 * once when that one is checkpointing (it copies the WAL), the read after
 * the busy timeout when that one holds the WAL index (recovering it).
 * Neither is a failure (CKPT_BUSY): the next commit past CKPT_PAGES wakes
 * this one again.  CKPT_FAILED sets err.
 */
static enum ckpt_result checkpointer_run(sqlite3 *db, char *err, size_t err_size)
{
	int n_log = 0, n_done = 0, rc;

	/* synchronous as the writer's: a checkpoint fsyncs the WAL before
	 * copying it and the file after only at NORMAL or above, which is not
	 * left to how the library was built */
	rc = sqlite3_exec(db, "PRAGMA synchronous=FULL; SELECT 1 FROM sqlite_master LIMIT 1",
			  NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY) {
		log_debug("store", "checkpoint: another connection holds the store: %s",
			  sqlite3_errmsg(db));
		return CKPT_BUSY;
	}
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_done);
	if (rc == SQLITE_BUSY) {
		log_debug("store", "checkpoint: another connection is checkpointing");
		return CKPT_BUSY;
	}
	if (rc != SQLITE_OK)
		goto fail;
	log_debug("store", "checkpoint: %d of %d WAL frames in the file", n_done, n_log);
	return CKPT_DONE;
fail:
	err_set(err, err_size, "%s", sqlite3_errmsg(db));
	return CKPT_FAILED;
}

/* The checkpointer's own connection to the store at path, or NULL (logged:
 * the WAL then grows until a commit restarts it). */
static sqlite3 *checkpointer_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		log_error("store", "%s: the checkpointer cannot open the store: %s: the WAL grows"
			  " until a commit restarts it", path, db ? sqlite3_errmsg(db) :
			  "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 1000);
	return db;
}

/* One checkpoint on db, logged: a failure once (*is_failing set), the
 * first success after failures; a busy attempt neither. */
static enum ckpt_result checkpointer_attempt(const char *path, sqlite3 *db, int *is_failing)
{
	char err[256] = "";
	enum ckpt_result rc = checkpointer_run(db, err, sizeof(err));

	if (rc == CKPT_FAILED && !*is_failing)
		log_error("store", "%s: checkpoint failed: %s", path, err);
	else if (rc == CKPT_DONE && *is_failing)
		log_info("store", "%s: checkpoints succeed again", path);
	if (rc != CKPT_BUSY) /* neither a failure nor a recovery */
		*is_failing = rc == CKPT_FAILED;
	return rc;
}

static void *checkpointer_main(void *arg)
{
	struct checkpointer *c = arg;
	sqlite3 *db;
	int is_failing = 0; /* the last attempt not CKPT_BUSY failed (logged once) */

	pthread_setname_np(pthread_self(), "hub-checkpoint");
	db = checkpointer_open(c->path);
	pthread_mutex_lock(&c->lock);
	while (!c->is_stopping) {
		if (!c->is_due) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		c->is_due = 0;
		pthread_mutex_unlock(&c->lock);
		if (db)
			checkpointer_attempt(c->path, db, &is_failing);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	sqlite3_close(db);
	return NULL;
}

int store_sqlite_checkpoint_attempt(const char *path)
{
	sqlite3 *db = checkpointer_open(path);
	int is_failing = 0;
	enum ckpt_result rc = db ? checkpointer_attempt(path, db, &is_failing) : CKPT_FAILED;

	sqlite3_close(db);
	return (int)rc;
}

/*
 * Every connection's busy handler, as sqlite3_busy_timeout(LITE_BUSY_MS)
 * (1 ms steps, then 10 ms), counting the waits (store.busy_waits); except
 * in the writer's WAL restart (lite_wal_hook), which gives up at once
 * rather than wait for a reader: a reader may hold its snapshot for as
 * long as a client takes to download an access document, and every commit
 * would then wait the whole timeout.  The restart is tried again after a
 * later commit.
 */
static int lite_busy(void *arg, int n_calls)
{
	struct sqlite_store *ls = arg;
	const struct timespec step = {0, n_calls < 10 ? 1000000L : 10000000L};
	int64_t waited_ms = n_calls < 10 ? n_calls : 10 + (int64_t)(n_calls - 10) * 10;

	if (ls->is_restarting_wal || waited_ms >= LITE_BUSY_MS)
		return 0;
	ls->base.busy_waits++;
	nanosleep(&step, NULL);
	return 1;
}

/* Called by SQLite after each commit with the WAL size in pages. */
static int lite_wal_hook(void *arg, sqlite3 *db, const char *name, int n_pages)
{
	struct sqlite_store *ls = arg;
	struct checkpointer *c = &ls->ckpt;

	if (n_pages >= wal_restart_pages) {
		/* under sustained writes a passive checkpoint never lets the WAL
		 * start over: restart it here, between two transactions, unless
		 * a reader still reads an older snapshot (lite_busy) */
		ls->is_restarting_wal = 1;
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		ls->is_restarting_wal = 0;
		return SQLITE_OK;
	}
	if (n_pages < CKPT_PAGES)
		return SQLITE_OK;
	pthread_mutex_lock(&c->lock);
	if (!c->is_running && c->path)
		c->is_running = pthread_create(&c->thread, NULL, checkpointer_main, c) == 0;
	c->is_due = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return SQLITE_OK;
}

static void checkpointer_stop(struct checkpointer *c)
{
	pthread_mutex_lock(&c->lock);
	c->is_stopping = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (c->is_running)
		pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	hub_free(c->path);
}

/* ---- open / close --------------------------------------------------- */

static void lite_close(struct store *s)
{
	struct sqlite_store *ls = lite(s);
	if (!ls)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(ls->stmt[i]);
	if (ls->db)
		sqlite3_wal_hook(ls->db, NULL, NULL);
	checkpointer_stop(&ls->ckpt);
	sqlite3_close(ls->db);
	lease_locks_free(&ls->leases);
	kvcache_free(&ls->idents);
	kvcache_free(&ls->blocks);
	hub_free(ls);
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.has_one_writer = 1,
	.close = lite_close,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.savepoint = lite_savepoint,
	.savepoint_release = lite_savepoint_release,
	.savepoint_rollback = lite_savepoint_rollback,
	.read_begin = lite_read_begin,
	.read_end = lite_read_end,
	.meta_get = lite_meta_get,
	.meta_get_held = lite_meta_get, /* the write transaction holds the file */
	.meta_list = lite_meta_list,
	.meta_delete = lite_meta_delete,
	.meta_put = lite_meta_put,
	.dedupe_add = lite_dedupe_add,
	.dedupe_remove = lite_dedupe_remove,
	.block_get = lite_block_get,
	.block_put = lite_block_put,
	.block_any = lite_block_any,
	.block_prune = lite_block_prune,
	.profile_next_seq = lite_profile_next_seq,
	.profile_insert = lite_profile_insert,
	.profile_get = lite_profile_get,
	.profile_set_custom_id = lite_profile_set_custom_id,
	.profile_mark_merged = lite_profile_mark_merged,
	.profile_delete = lite_profile_delete,
	.profile_tombstones = lite_profile_tombstones,
	.profile_iter_live = lite_profile_iter_live,
	.ident_get = lite_ident_get,
	.ident_put = lite_ident_put,
	.ident_delete = lite_ident_delete,
	.ident_count = lite_ident_count,
	.ident_count_all = lite_ident_count_all,
	.ident_list = lite_ident_list,
	.ident_reassign = lite_ident_reassign,
	.install_touch = lite_install_touch,
	.ident_delete_profile = lite_ident_delete_profile,
	.attr_get = lite_attr_get,
	.attr_put = lite_attr_put,
	.attr_put_newer = lite_attr_put_newer,
	.attr_list = lite_attr_list,
	.attr_delete_profile = lite_attr_delete_profile,
	.attr_find_profiles = lite_attr_find_profiles,
	.attr_count = lite_attr_count,
	.consent_get = lite_consent_get,
	.consent_put = lite_consent_put,
	.consent_put_newer = lite_consent_put_newer,
	.consent_list = lite_consent_list,
	.consent_delete_profile = lite_consent_delete_profile,
	.event_insert = lite_event_insert,
	.event_move = lite_event_move,
	.event_list = lite_event_list,
	.event_stats = lite_event_stats,
	.event_delete_profile = lite_event_delete_profile,
	.ident_lock = lite_ident_lock,
	.lease_try = lite_lease_try,
	.lease_release = lite_lease_release,
	.outbox_append = lite_outbox_append,
	.outbox_read = lite_outbox_read,
	.outbox_delete_profile = lite_outbox_delete_profile,
	.outbox_prune = lite_outbox_prune,
	.dead_letter_put = lite_dead_letter_put,
	.dead_letter_list = lite_dead_letter_list,
	.dead_letter_delete_profile = lite_dead_letter_delete_profile,
	.dead_letter_delete = lite_dead_letter_delete,
	.outbox_hold = lite_outbox_hold,
	.dead_letter_last_seq = lite_dead_letter_last_seq,
	.log_append = lite_log_append,
	.log_page = lite_log_page,
	.log_delete_profile = lite_log_delete_profile,
};

/* The store's schema version: 0 for a new (empty) store, -1 on error. */
static int lite_schema_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = 0;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
			       NULL) != SQLITE_OK) {
		/* no meta table: a new store (or not ours at all, caught below) */
		return 0;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = atoi((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return version;
}

/* 1 when a store of this version needs no step, 0 when it needs some, -1
 * (err set) when a newer hub made it. */
static int lite_version_check(int version, const char *path, char *err, size_t err_size)
{
	if (version > SCHEMA_VERSION) {
		err_set(err, err_size, "sqlite: %s has schema version %d, made by a newer hub (this one "
			"knows %d)", path, version, SCHEMA_VERSION);
		return -1;
	}
	return version == SCHEMA_VERSION;
}

/* Creates the schema of a new store or migrates an older one, in one
 * transaction, and records the version.  The version is read again in that
 * transaction: another process may have migrated the store since the
 * first read (two hubs started at once after an upgrade), and its steps
 * run again failed ("duplicate column name"). */
static int lite_migrate(sqlite3 *db, const char *path, char *err, size_t err_size)
{
	char *msg = NULL, sql[128];
	int version = lite_schema_version(db);
	int done = lite_version_check(version, path, err, err_size);

	if (done != 0)
		return done < 0 ? -1 : 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	version = lite_schema_version(db);
	done = lite_version_check(version, path, err, err_size);
	if (done != 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return done < 0 ? -1 : 0;
	}
	/* a new store (version 0) needs no step: schema_sql is the whole schema */
	for (int v = version; v > 0 && v < SCHEMA_VERSION; v++) {
		if (migrations[v] && sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
			goto fail;
	}
	/* then every table and index of this version (IF NOT EXISTS) */
	if (sqlite3_exec(db, schema_sql, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version',"
		 " '%d'); COMMIT", SCHEMA_VERSION);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (version > 0)
		log_info("store", "%s: schema migrated from version %d to %d", path, version,
			 SCHEMA_VERSION);
	return 0;
fail:
	err_set(err, err_size, "sqlite: %s: creating or migrating the schema (version %d to %d): %s",
		path, version, SCHEMA_VERSION, msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int lite_configure(sqlite3 *db, const char *path, char *err, size_t err_size)
{
	static const char pragmas[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=FULL;"
		"PRAGMA foreign_keys=OFF;"
		"PRAGMA temp_store=MEMORY;"
		"PRAGMA cache_size=-65536;"; /* readers; the intake's grows it (lite_cache_begin) */
	char *msg = NULL;

	sqlite3_busy_timeout(db, LITE_BUSY_MS); /* lite_busy once open */
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, err_size, "sqlite: %s: %s", path, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return lite_migrate(db, path, err, err_size);
}


/* Process-wide SQLite settings, before the first connection: no memory
 * statistics (they take a global mutex on every allocation). */
static void lite_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* A new store file is created readable by its owner and group only, not
 * with the process's umask (0644 under 022): it holds personal data and
 * the profile ID key.  SQLite gives its -wal and -shm files the same
 * mode.  An existing file keeps its own; a failure here is SQLite's to
 * report. */
static void lite_create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

	if (fd >= 0)
		close(fd);
}

/* The leases' lock files live in <file>-leases/, beside the -wal and -shm
 * files, <file> being the database file itself (a store reached by two
 * paths, through a symlink, is one store: one set of leases).  Made by
 * root, they are given to the file's owner, as SQLite gives its -wal and
 * -shm.  A database in memory is this connection's alone: no files.
 * Called once the file is open (it exists). */
static int lite_leases_init(struct sqlite_store *ls, const char *path)
{
	char *file, *dir = NULL;
	struct stat st;
	int rc = -1;

	if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
		return lease_locks_init(&ls->leases, NULL);
	if (!(file = realpath(path, NULL)) && !(file = strdup(path)))
		return -1;
	if (!(dir = hub_malloc(strlen(file) + sizeof("-leases"))))
		goto out;
	sprintf(dir, "%s-leases", file);
	if ((rc = lease_locks_init(&ls->leases, dir)) == 0 && geteuid() == 0 &&
	    stat(file, &st) == 0)
		lease_locks_own(&ls->leases, st.st_uid, st.st_gid);
out:
	free(file); /* realpath's and strdup's: malloc'd */
	hub_free(dir);
	return rc;
}

static int lite_open(const char *path, int is_create, struct store **out, char *err,
		     size_t err_size)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sqlite_store *ls = hub_calloc(1, sizeof(*ls));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (is_create ? SQLITE_OPEN_CREATE : 0);

	if (!ls) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	pthread_once(&once, lite_global_init);
	ls->base.ops = &sqlite_ops;
	pthread_mutex_init(&ls->ckpt.lock, NULL);
	pthread_cond_init(&ls->ckpt.wake, NULL);
	ls->ckpt.path = hub_strdup(path);
	if (is_create)
		lite_create_private(path);
	if (sqlite3_open_v2(path, &ls->db, flags, NULL) != SQLITE_OK) {
		err_set(err, err_size, "sqlite: cannot open %s: %s", path,
			ls->db ? sqlite3_errmsg(ls->db) : "out of memory");
		goto fail;
	}
	if (lite_leases_init(ls, path)) {
		err_set(err, err_size, "out of memory");
		goto fail;
	}
	/* SQLite opens a file it may not write read-only, silently: every
	 * write would then fail (a hub answering /healthz, and 503 to all) */
	if (sqlite3_db_readonly(ls->db, "main") == 1) {
		err_set(err, err_size, "sqlite: %s is read-only (its permissions, or a read-only"
			" mount): the hub writes to its store", path);
		goto fail;
	}
	/* a larger lookaside: most statement allocations never reach malloc */
	sqlite3_db_config(ls->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 512, 2048);
	if (lite_configure(ls->db, path, err, err_size))
		goto fail;
	sqlite3_busy_handler(ls->db, lite_busy, ls);
	sqlite3_wal_hook(ls->db, lite_wal_hook, ls);
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(ls->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &ls->stmt[i], NULL) != SQLITE_OK) {
			err_set(err, err_size, "sqlite: preparing statement %d: %s", i,
				sqlite3_errmsg(ls->db));
			goto fail;
		}
	}
	if (store_load_id_key(&ls->base, err, err_size))
		goto fail;
	*out = &ls->base;
	return 0;
fail:
	lite_close(&ls->base);
	return -1;
}

int store_sqlite_open(const char *path, struct store **out, char *err, size_t err_size)
{
	return lite_open(path, 1, out, err, err_size);
}

int store_sqlite_open_existing(const char *path, struct store **out, char *err, size_t err_size)
{
	return lite_open(path, 0, out, err, err_size);
}
