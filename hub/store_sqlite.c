/*
 * store_sqlite.c - the embedded default store: SQLite in WAL mode with
 * synchronous=FULL, so a COMMIT returns only once the data is on disk.
 *
 * Every statement is prepared once at open (one array, indexed by enum
 * stmt_id) and bound with parameters: no SQL text is ever built from data.
 * The store implements the primitives of store.h and nothing else: the
 * rules of unification live in unify.c.
 *
 * WAL checkpoints run on a checkpointer thread with its own connection,
 * started by the first commit that leaves the WAL past CKPT_PAGES, so the
 * writer's commits only append to the WAL and fsync it.  Past
 * CKPT_PAGES_INLINE the writer restarts the WAL itself, between two
 * transactions, but never waits for a reader to do so (lite_busy).
 *
 * This file holds the schema, its migrations and the text of every
 * statement, opens the store (and migrates it), runs the checkpointer and
 * closes it.  Running a statement and transactions, with the counters and
 * the writer's caches (and meta, dedupe, blocks), are in
 * store_sqlite_tx.c; the operations on a profile's rows, the leases, the
 * change feed, dead letters and the store_ops table in store_sqlite_ops.c;
 * store_sqlite_int.h is what they share.
 */
#include "store_sqlite_int.h"

#include "alloc.h"
#include "kvcache.h"
#include "lease_lock.h"
#include "log.h"
#include "util.h"

#include <errno.h>
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

/* An email lookup ignores the case of ASCII letters (lower() folds those
 * alone here and on PostgreSQL's "C" collation); the value stays as sent */
#define EMAIL_CI_INDEX                                                          \
	"CREATE INDEX IF NOT EXISTS attributes_email_ci ON attributes(lower(value))" \
	" WHERE key = '$email_address';"

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
	      "INSERT INTO events_2"
	      " SELECT profile_id, ts, message_id, seq, source, name, properties FROM events;"
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
	/* 5 -> 6: email lookups without case (ASCII letters) */
	[5] = EMAIL_CI_INDEX,
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
	EMAIL_CI_INDEX
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
	"CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind TEXT NOT NULL, profile_id TEXT NOT NULL, at INTEGER NOT NULL,"
	" payload TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_profile ON outbox(profile_id);"
	"CREATE TABLE IF NOT EXISTS dead_letters(export_name TEXT NOT NULL, seq INTEGER NOT NULL,"
	" profile_id TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL,"
	" change TEXT NOT NULL, PRIMARY KEY(export_name, seq)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS dead_letters_profile ON dead_letters(profile_id);"
	"CREATE INDEX IF NOT EXISTS identity_log_other ON identity_log(other_profile_id)"
	" WHERE other_profile_id IS NOT NULL;";


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
			" ON CONFLICT(type, value)"
			" DO UPDATE SET until = max(until, excluded.until)",
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
	/* the survivor: its merge count, and the earlier of the two creations
	 * (the person was first seen then) */
	[S_PROFILE_MERGE_COUNT] = "UPDATE profiles SET merge_count = ?2, created_at = min(created_at,"
				  " coalesce((SELECT created_at FROM profiles WHERE id = ?3),"
				  " created_at)) WHERE id = ?1",
	[S_PROFILE_DELETE] = "DELETE FROM profiles WHERE id = ?1",
	[S_PROFILE_TOMBSTONES] = "SELECT id, seq, custom_id, merged_into, merge_count, created_at"
				 " FROM profiles WHERE merged_into = ?1 ORDER BY id",
	[S_PROFILE_ITER] = "SELECT id, seq, custom_id, merged_into, merge_count, created_at"
			   " FROM profiles WHERE merged_into IS NULL AND id > ?1"
			   " ORDER BY id LIMIT ?2",
	[S_IDENT_GET] = "SELECT profile_id FROM identifiers WHERE type = ?1 AND value = ?2",
	/* a new installation is never seen (STORE_NEVER_SEEN) until touched */
	[S_IDENT_PUT] = "INSERT INTO identifiers(type, value, profile_id, last_seen)"
			" VALUES(?1, ?2, ?3, CASE WHEN ?1 = 'installation_id'"
			" THEN " STORE_NEVER_SEEN_SQL " ELSE 0 END)"
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
	[S_ATTR_PUT] = "INSERT INTO attributes"
		       "(profile_id, key, value, type, ts, deleted, changed_at)"
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
	[S_ATTR_FIND] = "SELECT p.id, p.seq, p.custom_id, p.merged_into, p.merge_count,"
			" p.created_at FROM attributes a JOIN profiles p ON p.id = a.profile_id"
			" WHERE a.key = ?1 AND a.value = ?2 AND a.deleted = 0"
			" AND a.key IN ('$email_address', '$phone_number')" /* the partial index */
			" AND p.merged_into IS NULL AND p.id > ?3 ORDER BY p.id LIMIT ?4",
	/* value given in lower case: attributes_email_ci */
	[S_ATTR_FIND_EMAIL] = "SELECT p.id, p.seq, p.custom_id, p.merged_into, p.merge_count,"
			      " p.created_at FROM attributes a JOIN profiles p"
			      " ON p.id = a.profile_id WHERE a.key = '$email_address'"
			      " AND lower(a.value) = ?1 AND a.deleted = 0"
			      " AND p.merged_into IS NULL AND p.id > ?2 ORDER BY p.id LIMIT ?3",
	[S_CONSENT_GET] = "SELECT channel, state, ts, source FROM consent"
			  " WHERE profile_id = ?1 AND channel = ?2",
	[S_CONSENT_PUT] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
			  " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(profile_id, channel) DO UPDATE"
			  " SET state = excluded.state, ts = excluded.ts, source = excluded.source",
	[S_CONSENT_PUT_NEWER] = "INSERT INTO consent(profile_id, channel, state, ts, source)"
				" VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(profile_id, channel)"
				" DO UPDATE SET state = excluded.state, ts = excluded.ts,"
				" source = excluded.source WHERE consent.ts <= excluded.ts"
				" AND consent.state IS NOT excluded.state",
	/* the same state newer: its time and source (no change to show) */
	[S_CONSENT_TOUCH] = "UPDATE consent SET ts = ?4, source = ?5"
			    " WHERE profile_id = ?1 AND channel = ?2 AND state IS ?3 AND ts <= ?4",
	[S_CONSENT_LIST] = "SELECT channel, state, ts, source FROM consent WHERE profile_id = ?1"
			   " ORDER BY channel",
	[S_CONSENT_DELETE_PROFILE] = "DELETE FROM consent WHERE profile_id = ?1",
	[S_EVENT_INSERT] = "INSERT INTO events"
			   "(profile_id, ts, source, message_id, name, properties, seq)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_EVENT_MOVE] = "UPDATE events SET profile_id = ?2 WHERE profile_id = ?1",
	[S_EVENT_LIST_TOP] = "SELECT seq, profile_id, ts, source, message_id, name, properties"
			     " FROM events WHERE profile_id = ?1"
			     " ORDER BY ts DESC, message_id DESC, seq DESC LIMIT ?2",
	[S_EVENT_LIST_AFTER] = "SELECT seq, profile_id, ts, source, message_id, name, properties"
			       " FROM events"
			       " WHERE profile_id = ?1 AND (ts, message_id, seq) < (?3, ?4, ?5)"
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
	[S_OUTBOX_APPEND] = "INSERT INTO outbox(kind, profile_id, at, payload)"
			    " VALUES(?1, ?2, ?3, ?4)",
	[S_OUTBOX_READ] = "SELECT seq, kind, profile_id, at, payload FROM outbox WHERE seq > ?1"
			  " ORDER BY seq LIMIT ?2",
	[S_OUTBOX_DELETE_PROFILE] = "DELETE FROM outbox WHERE profile_id = ?1",
	[S_OUTBOX_PRUNE] = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
			   " WHERE seq <= ?1 ORDER BY seq LIMIT ?2)",
	[S_DEAD_PUT] = "INSERT OR REPLACE INTO dead_letters"
		       "(export_name, seq, profile_id, at, reason, change)"
		       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_DEAD_DELETE_PROFILE] = "DELETE FROM dead_letters WHERE profile_id = ?1",
	[S_DEAD_DELETE] = "DELETE FROM dead_letters WHERE export_name = ?1 AND seq = ?2"
			  " RETURNING 1",
	[S_OUTBOX_HOLD] = "SELECT 1 FROM outbox WHERE seq = ?1",
	[S_DEAD_LAST] = "SELECT coalesce(max(seq), 0) FROM dead_letters WHERE export_name = ?1",
	[S_DEAD_COUNT] = "SELECT count(*) FROM dead_letters WHERE export_name = ?1",
	[S_DEAD_LIST] = "SELECT export_name, seq, at, reason, change FROM dead_letters"
			" WHERE export_name = ?1 AND seq > ?3 ORDER BY seq LIMIT ?2",
	[S_LEASE_EPOCH] = "INSERT INTO meta(key, value) VALUES('lease_epoch:' || ?1, '1')"
			  " ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1"
			  " AS TEXT) RETURNING CAST(value AS INTEGER)",
};

#define CKPT_PAGES 4000          /* wake the checkpointer (16 MB of WAL) */
#define CKPT_PAGES_INLINE 65536  /* the writer restarts the WAL itself (256 MB) */
#define LITE_BUSY_MS 10000       /* how long a connection waits for a lock */
#define CKPT_IDLE_MS 1000        /* no checkpoint asked for this long: truncate the WAL */

static _Atomic int wal_restart_pages = CKPT_PAGES_INLINE;

void store_sqlite_set_wal_restart_pages(int pages)
{
	wal_restart_pages = pages > 0 ? pages : CKPT_PAGES_INLINE;
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

	sqlite3_busy_timeout(db, 1000);

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
	err_set(err, err_size, "%s%s", sqlite3_errmsg(db),
		lite_fail_hint(sqlite3_extended_errcode(db)));
	return CKPT_FAILED;
}

/*
 * The WAL file truncated to nothing, once the checkpointer has found no
 * work for CKPT_IDLE_MS after a checkpoint: it keeps its size otherwise
 * (SQLite writes a restarted WAL over the old file), up to the 256 MB of
 * an import, for good.  A TRUNCATE checkpoint that never waits: a writer
 * in a transaction or a reader of an older snapshot (an access document
 * streamed) makes it CKPT_BUSY, tried again after another idle period, and
 * no commit waits for it.  CKPT_FAILED sets err.
 */
static enum ckpt_result checkpointer_truncate(sqlite3 *db, char *err, size_t err_size)
{
	int rc;

	sqlite3_busy_timeout(db, 0);
	rc = sqlite3_exec(db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
		log_debug("store", "WAL truncation: the store is in use: %s", sqlite3_errmsg(db));
		return CKPT_BUSY;
	}
	if (rc != SQLITE_OK) {
		err_set(err, err_size, "%s%s", sqlite3_errmsg(db),
			lite_fail_hint(sqlite3_extended_errcode(db)));
		return CKPT_FAILED;
	}
	log_debug("store", "WAL truncated");
	return CKPT_DONE;
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

/* One checkpoint on db (or, is_truncate, the WAL's truncation), logged:
 * a failure once (*is_failing set), the first success after failures; a
 * busy attempt neither. */
static enum ckpt_result checkpointer_attempt(const char *path, sqlite3 *db, int is_truncate,
					     int *is_failing)
{
	char err[256] = "";
	enum ckpt_result rc = is_truncate ? checkpointer_truncate(db, err, sizeof(err))
					  : checkpointer_run(db, err, sizeof(err));

	if (rc == CKPT_FAILED && !*is_failing)
		log_error("store", "%s: checkpoint failed: %s (until one succeeds the WAL"
			  " file grows)", path, err);
	else if (rc == CKPT_DONE && *is_failing)
		log_info("store", "%s: checkpoints succeed again", path);
	if (rc != CKPT_BUSY) /* neither a failure nor a recovery */
		*is_failing = rc == CKPT_FAILED;
	return rc;
}

/* c->wake on the monotonic clock (checkpointer_idle_wait): a clock set
 * back must not hold the truncation off. */
static void checkpointer_cond_init(struct checkpointer *c)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
}

/* Waits CKPT_IDLE_MS on c (locked) for a wake: 0 when none came. */
static int checkpointer_idle_wait(struct checkpointer *c)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CKPT_IDLE_MS / 1000;
	until.tv_nsec += (long)(CKPT_IDLE_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!c->is_due && !c->is_stopping)
		if (pthread_cond_timedwait(&c->wake, &c->lock, &until) == ETIMEDOUT)
			break;
	return c->is_due || c->is_stopping;
}

static void *checkpointer_main(void *arg)
{
	struct checkpointer *c = arg;
	sqlite3 *db;
	int is_failing = 0; /* the last attempt not CKPT_BUSY failed (logged once) */

	int is_truncate_due = 0; /* a checkpoint done since the last truncation */

	pthread_setname_np(pthread_self(), "hub-checkpoint");
	db = checkpointer_open(c->path);
	pthread_mutex_lock(&c->lock);
	while (!c->is_stopping) {
		int is_truncate = 0;
		if (!c->is_due && !is_truncate_due) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		if (!c->is_due && checkpointer_idle_wait(c))
			continue; /* woken: due, or stopping */
		is_truncate = !c->is_due;
		c->is_due = 0;
		pthread_mutex_unlock(&c->lock);
		if (db)
			is_truncate_due = checkpointer_attempt(c->path, db, is_truncate,
							       &is_failing) != CKPT_DONE ||
					  !is_truncate;
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
	enum ckpt_result rc = db ? checkpointer_attempt(path, db, 0, &is_failing) : CKPT_FAILED;

	sqlite3_close(db);
	return (int)rc;
}

int store_sqlite_wal_truncate_attempt(const char *path)
{
	sqlite3 *db = checkpointer_open(path);
	int is_failing = 0;
	enum ckpt_result rc = db ? checkpointer_attempt(path, db, 1, &is_failing) : CKPT_FAILED;

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

void lite_close(struct store *s)
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
	lite_reader_leave(ls);
	hub_free(ls);
}

/* The store's schema version: 0 for a new (empty) store, -1 on error. */
static int lite_schema_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = 0;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
			       NULL) != SQLITE_OK) {
		/* no meta table: a new store (or not ours at all: lite_foreign_check) */
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
		err_set(err, err_size, "sqlite: %s has schema version %d, made by a newer hub "
			"(this one knows %d)", path, version, SCHEMA_VERSION);
		return -1;
	}
	return version == SCHEMA_VERSION;
}

/* A file with tables but no schema version is not a store (another
 * program's database: store.path mistyped) and is refused: the hub's
 * tables went in beside its own, even by a read command.  An empty file
 * (no tables) is a new store.  0, or -1 with err set. */
static int lite_foreign_check(sqlite3 *db, int version, const char *path, char *err,
			      size_t err_size)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (version != 0)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
			       " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		err_set(err, err_size, "sqlite: %s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		err_set(err, err_size, "sqlite: %s is not a profilehub store: it holds tables of"
			" another program (\"%s\") and no schema version; store.path names the"
			" hub's own file (where there is none, a new store is made)", path,
			(const char *)sqlite3_column_text(st, 0));
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Creates the schema of a new store or migrates an older one, in one
 * transaction, and records the version.  The version is read again in that
 * transaction: another process may have migrated the store since the
 * first read (two hubs started at once after an upgrade), and its steps
 * run again failed ("duplicate column name").  Without is_migrate an
 * older store is left as it is: STORE_OLDER, err naming its version. */
static int lite_migrate(sqlite3 *db, const char *path, int is_migrate, int *is_created,
			char *err, size_t err_size)
{
	char *msg = NULL, sql[128];
	int version = lite_schema_version(db);
	int done = lite_version_check(version, path, err, err_size);

	if (done != 0)
		return done < 0 ? -1 : 0;
	if (!is_migrate && version > 0) {
		err_set(err, err_size, "sqlite: %s has schema version %d, " STORE_OLDER_TEXT, path,
			version, SCHEMA_VERSION);
		return STORE_OLDER;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	version = lite_schema_version(db);
	done = lite_version_check(version, path, err, err_size);
	if (done == 0 && lite_foreign_check(db, version, path, err, err_size))
		done = -1;
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
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta(key, value)"
		 " VALUES('schema_version', '%d'); COMMIT", SCHEMA_VERSION);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (version > 0)
		log_info("store", "%s: schema migrated from version %d to %d", path, version,
			 SCHEMA_VERSION);
	*is_created = version == 0;
	return 0;
fail:
	err_set(err, err_size,
		"sqlite: %s: creating or migrating the schema (version %d to %d): %s", path,
		version, SCHEMA_VERSION, msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* 1 when file exists and this process may not read and write it (set
 * *st), else 0.  Root may, whatever the mode. */
static int lite_is_barred(const char *file, int mode, struct stat *st)
{
	return stat(file, st) == 0 && faccessat(AT_FDCWD, file, mode, AT_EACCESS) != 0;
}

/*
 * Why the store at path could not be opened, after "; " (or ""): SQLite's
 * "unable to open database file" names neither the file nor the cause.  A
 * directory at store.path; the file, its -wal or -shm file that this
 * process may not read and write (left by another user: restored or
 * copied as root); its directory, where SQLite makes the -wal and -shm,
 * not writable; else the system's error.
 */
static void lite_open_why(sqlite3 *db, const char *path, char *out, size_t size)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char file[4096], *slash;
	struct stat st;
	int e = db ? sqlite3_system_errno(db) : 0;

	out[0] = '\0';
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		err_set(out, size, "; it is a directory: store.path names the database file"
			 " itself (e.g. %s/hub.db)", path);
		return;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (snprintf(file, sizeof(file), "%s%s", path, suffixes[i]) >= (int)sizeof(file) ||
		    !lite_is_barred(file, R_OK | W_OK, &st))
			continue;
		err_set(out, size, "; %s is owned by uid %u (mode %04o) and this process (uid %u)"
			 " may not read and write it: give it to the user the hub runs as, like the"
			 " store file", file, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
			 (unsigned)geteuid());
		return;
	}
	if (snprintf(file, sizeof(file), "%s", path) < (int)sizeof(file)) {
		slash = strrchr(file, '/');
		if (slash)
			slash[slash == file] = '\0'; /* "/x" is in "/" */
		else
			snprintf(file, sizeof(file), ".");
		if (lite_is_barred(file, W_OK | X_OK, &st)) {
			err_set(out, size, "; this process (uid %u) may not write its directory %s"
				 " (owned by uid %u, mode %04o), where the store's file and its -wal and"
				 " -shm files are made", (unsigned)geteuid(), file, (unsigned)st.st_uid,
				 (unsigned)(st.st_mode & 07777));
			return;
		}
	}
	if (e)
		err_set(out, size, " (%s)", strerror(e));
}

static int lite_configure(sqlite3 *db, const char *path, int is_migrate, int *is_created,
			  char *err, size_t err_size)
{
	static const char pragmas[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=FULL;"
		"PRAGMA foreign_keys=OFF;"
		"PRAGMA temp_store=MEMORY;"
		"PRAGMA cache_size=-2048;"; /* a reader's share: lite_reader_fit; the
					     * intake's grows it (lite_cache_begin) */
	char *msg = NULL, why[1024];

	sqlite3_busy_timeout(db, LITE_BUSY_MS); /* lite_busy once open */
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		lite_open_why(db, path, why, sizeof(why));
		err_set(err, err_size, "sqlite: %s: %s%s", path, msg ? msg : sqlite3_errmsg(db),
			why);
		sqlite3_free(msg);
		return -1;
	}
	return lite_migrate(db, path, is_migrate, is_created, err, err_size);
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

/* lite_open's how */
enum { LITE_CREATE = 1, LITE_NO_MIGRATE = 2 };

static int lite_open(const char *path, int how, struct store **out, char *err, size_t err_size)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sqlite_store *ls = hub_calloc(1, sizeof(*ls));
	int is_create = (how & LITE_CREATE) != 0, rc = -1, is_created = 0;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (is_create ? SQLITE_OPEN_CREATE : 0);

	if (!ls) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	pthread_once(&once, lite_global_init);
	ls->base.ops = &sqlite_ops;
	pthread_mutex_init(&ls->ckpt.lock, NULL);
	checkpointer_cond_init(&ls->ckpt);
	/* the checkpointer opens its own connection by this path: a store
	 * without one would let its WAL grow unchecked */
	if (!(ls->ckpt.path = hub_strdup(path))) {
		err_set(err, err_size, "out of memory");
		goto fail;
	}
	if (is_create)
		lite_create_private(path);
	if (sqlite3_open_v2(path, &ls->db, flags, NULL) != SQLITE_OK) {
		char why[1024];
		lite_open_why(ls->db, path, why, sizeof(why));
		err_set(err, err_size, "sqlite: cannot open %s: %s%s", path,
			ls->db ? sqlite3_errmsg(ls->db) : "out of memory", why);
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
	if ((rc = lite_configure(ls->db, path, !(how & LITE_NO_MIGRATE), &is_created, err,
				 err_size)))
		goto fail;
	rc = -1;
	if (is_created)
		snprintf(ls->base.created_where, sizeof(ls->base.created_where), "%s", path);
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
	lite_reader_join(ls);
	lite_reader_fit(ls);
	*out = &ls->base;
	return 0;
fail:
	lite_close(&ls->base);
	return rc;
}

int store_sqlite_open(const char *path, struct store **out, char *err, size_t err_size)
{
	return lite_open(path, LITE_CREATE, out, err, err_size);
}

int store_sqlite_open_existing(const char *path, struct store **out, char *err, size_t err_size)
{
	return lite_open(path, 0, out, err, err_size);
}

int store_sqlite_open_unmigrated(const char *path, struct store **out, char *err,
				 size_t err_size)
{
	return lite_open(path, LITE_CREATE | LITE_NO_MIGRATE, out, err, err_size);
}
