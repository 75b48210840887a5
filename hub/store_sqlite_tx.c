/*
 * store_sqlite_tx.c - how the SQLite store runs a statement (the design is
 * in store_sqlite.c): reset, bound and stepped, its error named by its
 * statement; transactions and savepoints, with the counters (profile_seq,
 * row_seq) kept in memory and written at commit, the file checked before
 * every commit, and the writer's caches (valid only inside its write
 * transaction, dropped on a rollback or another connection's commit); and
 * the bookkeeping rows those lean on: meta (the counters), dedupe, blocks
 * (cached whole by the writer).  No SQL text here (store_sqlite.c's
 * stmt_sql); the caches are never read outside the writer's own write
 * transaction.
 */
#include "store_sqlite_int.h"

#include "kvcache.h"
#include "lease_lock.h"
#include "log.h"
#include "util.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After a write transaction that held the lock this long, the writer
 * pauses LITE_TURN_MS before its next one: five of a waiting connection's
 * busy steps (lite_busy: 10 ms; a loaded machine may run it late), so
 * another process's writer (a hub beside an import, a second import)
 * takes its turn instead of waiting out LITE_BUSY_MS behind back-to-back
 * transactions.  At most
 * LITE_TURN_MS / LITE_TURN_AFTER_MS (10 %) of a long import's time; a
 * shorter transaction (an HTTP group, unless the hub is very busy) never
 * pauses, and one that does delays its acknowledgements by the pause. */
#define LITE_TURN_AFTER_MS 500
#define LITE_TURN_MS 50

/* ---- statement helpers ---------------------------------------------- */

/* What the person on call can do about a failed statement, after "; ",
 * or "", by SQLite's extended error code.  A full disk's write is
 * SQLITE_FULL or, written in part or not at all (a file-size limit too),
 * SQLITE_IOERR_WRITE; SQLite's saved errno is lost by then (0).  Nothing
 * of what the caller does next: a command (import, sync, erase) fails and
 * is run again, the intake tries again by itself and says so.  The
 * checkpointer's failures get it too. */
const char *lite_fail_hint(int code)
{
	if (code == SQLITE_IOERR_WRITE)
		return "; a write failed: free space on its filesystem, or raise a file-size"
		       " limit (ulimit -f), or see the kernel's log for a failing device";
	switch (code & 0xff) {
	case SQLITE_FULL:
		return "; its filesystem is full: free space there";
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "; another process holds its write lock (an sqlite3 shell or a program"
		       " inside a transaction, a second hub or an import): end that transaction";
	case SQLITE_READONLY:
		return "; it cannot be written: check the permissions of the file, its -wal and"
		       " -shm files and its directory";
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return "; check that the file, its -wal and -shm files and its directory are"
		       " there and writable";
	default:
		return "";
	}
}

/* The error names the store's file: the log line of a failed commit is
 * what the person on call reads first (several stores may share a host). */
int lite_fail(struct sqlite_store *ls, enum stmt_id id)
{
	const char *path = sqlite3_db_filename(ls->db, "main");

	err_set(ls->base.err, sizeof(ls->base.err), "sqlite: %s (statement %d) on %s%s",
		sqlite3_errmsg(ls->db), (int)id, path && path[0] ? path : "a store in memory",
		lite_fail_hint(sqlite3_extended_errcode(ls->db)));
	return -1;
}

/* Resets and binds: fmt has one letter per parameter: s (const char *,
 * NULL binds NULL), i (int64_t), d (int). */
sqlite3_stmt *lite_prep(struct sqlite_store *ls, enum stmt_id id, const char *fmt, ...)
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
			lite_fail(ls, id);
			return NULL;
		}
	}
	va_end(ap);
	return st;
}

/* Runs a statement that returns no rows. */
int lite_run(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return lite_fail(ls, id);
	return 0;
}

const char *lite_col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* Reads one int64 from a one-row query; *out untouched when no row. */
int lite_query_int(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st, int64_t *out)
{
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		/* a write's autocommit (a lease's epoch bump) commits here */
		return sqlite3_reset(st) == SQLITE_OK ? 1 : lite_fail(ls, id);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : lite_fail(ls, id);
}

/* ---- transactions --------------------------------------------------- */

static int lite_exec(struct store *s, enum stmt_id id)
{
	return RUN(lite(s), id, "");
}

/* ---- the writer's caches -------------------------------------------- */

/*
 * The readers' page caches (API pool, exports, status, housekeeping: up to
 * 20 connections) share one budget: each gets READERS_CACHE_KIB divided by
 * the readers open in the process, within [READER_CACHE_MIN_KIB,
 * READER_CACHE_MAX_KIB] (16 readers had 64 MB each: 1 GB).  A reader fits
 * its cache at its next transaction when the count changed: SQLite frees
 * the pages past a smaller size at once.  The writer's is its own.
 */
#define READERS_CACHE_KIB 131072 /* 128 MB */
#define READER_CACHE_MAX_KIB 65536
#define READER_CACHE_MIN_KIB 2048

static atomic_int lite_n_readers;

void lite_reader_join(struct sqlite_store *ls)
{
	if (!ls->is_reader) {
		ls->is_reader = 1;
		atomic_fetch_add(&lite_n_readers, 1);
	}
}

void lite_reader_leave(struct sqlite_store *ls)
{
	if (ls->is_reader) {
		ls->is_reader = 0;
		atomic_fetch_sub(&lite_n_readers, 1);
	}
}

void lite_reader_fit(struct sqlite_store *ls)
{
	int n = atomic_load(&lite_n_readers), kib = READERS_CACHE_KIB / (n > 0 ? n : 1);
	char sql[48];

	if (!ls->is_reader)
		return;
	kib = kib > READER_CACHE_MAX_KIB ? READER_CACHE_MAX_KIB : kib;
	kib = kib < READER_CACHE_MIN_KIB ? READER_CACHE_MIN_KIB : kib;
	if (kib == ls->cache_kib)
		return;
	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", kib);
	if (sqlite3_exec(ls->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		ls->cache_kib = kib;
}

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
		lite_reader_leave(ls);
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

static void lite_reset_all(struct sqlite_store *ls)
{
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_reset(ls->stmt[i]);
}

/* A transaction the store ended whose ROLLBACK failed (an I/O error) is
 * still open on the connection: rolled back before the next one begins,
 * else every BEGIN after it fails ("within a transaction") for good. */
static int lite_end_leftover(struct store *s)
{
	struct sqlite_store *ls = lite(s);

	if (ls->in_tx || sqlite3_get_autocommit(ls->db))
		return 0;
	lite_reset_all(ls);
	return lite_exec(s, S_ROLLBACK);
}

/*
 * Two processes may share the file (a hub beside an import, a second
 * hub), and a newer hub may migrate it while this one has it open: this
 * one's rows would then go, in its older form, into a schema it does not
 * know.  So a write transaction, once its BEGIN holds the write lock,
 * reads meta.schema_version whenever the file changed since this
 * connection last looked (its data version: a migration is a commit),
 * as PostgreSQL's BEGIN does (store_pg_tx.c, begin_write).  0, or -1 with
 * the error set (logged once per connection).
 */
static int lite_schema_check(struct sqlite_store *ls)
{
	unsigned dv = lite_data_version(ls);
	sqlite3_stmt *st = ls->stmt[S_META_GET];
	char text[32] = "";
	long v;
	int rc;

	if (ls->is_schema_known && dv == ls->schema_dv)
		return 0;
	/* not through lite_prep: read or not, depending on other connections,
	 * it must not move the statement a test's injected fault hits */
	sqlite3_reset(st);
	if (sqlite3_bind_text(st, 1, "schema_version", -1, SQLITE_STATIC) != SQLITE_OK)
		return lite_fail(ls, S_META_GET);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(text, sizeof(text), "%s", lite_col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return lite_fail(ls, S_META_GET);
	if ((v = strtol(text, NULL, 10)) <= SCHEMA_VERSION) {
		ls->is_schema_known = 1;
		ls->schema_dv = dv;
		return 0;
	}
	err_set(ls->base.err, sizeof(ls->base.err), "sqlite: %s: store schema version %ld,"
		" this hub knows %d: a newer hub migrated it while this one ran; this process"
		" writes nothing more (stop it and start the new version)",
		sqlite3_db_filename(ls->db, "main"), v, SCHEMA_VERSION);
	if (!ls->is_schema_newer_logged)
		log_error("store", "%s", ls->base.err);
	ls->is_schema_newer_logged = 1;
	return -1;
}

/*
 * An older process that stopped writing (lite_schema_check) kept its
 * exports' and syncs' leases (their lock files) until it was stopped, and
 * the newer processes delivered none of those exports meanwhile.  So its
 * next refused write or lease take gives them up, in one line, as
 * PostgreSQL's does (store_pg.c, pg_leases_give_up).  0, or -1 with the
 * error set.
 */
int lite_schema_check_leases(struct sqlite_store *ls)
{
	size_t n = ls->leases.n_held;

	if (lite_schema_check(ls) == 0)
		return 0;
	if (!ls->is_schema_newer_logged || n == 0) /* a read that failed: kept */
		return -1;
	log_warn("store", "%s was migrated by a newer hub: this process gives up its %zu"
		 " lease%s (%s%s) for the newer processes, and takes none",
		 sqlite3_db_filename(ls->db, "main"), n, plural_s(n), ls->leases.held[0].name,
		 n > 1 ? ", ..." : "");
	while (ls->leases.n_held > 0)
		lease_locks_drop(&ls->leases, (int)ls->leases.n_held - 1);
	return -1;
}

/* A BEGIN refused (inside a transaction, or the lock not had) leaves the
 * state as it was: an open transaction keeps its counters to write. */
int lite_begin(struct store *s)
{
	if (lite_end_leftover(s) || lite_exec(s, S_BEGIN))
		return -1;
	if (lite_schema_check_leases(lite(s))) {
		lite_reset_all(lite(s));
		lite_exec(s, S_ROLLBACK); /* its error is the check's */
		return -1;
	}
	lite_cache_begin(lite(s));
	lite_reader_fit(lite(s));
	lite(s)->tx_began_ms = time_mono_ms();
	lite(s)->has_seq = 0;
	lite(s)->is_seq_dirty = 0;
	lite(s)->has_row_seq = 0;
	lite(s)->is_row_seq_dirty = 0;
	lite(s)->in_tx = 1;
	return 0;
}

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
int lite_counter_next(struct store *s, const char *key, int64_t *value, int *has,
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

int lite_next_row_seq(struct sqlite_store *ls, int64_t *out)
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
		" put the store back (or restore a backup) at that path, then restart the hub"
		" (started where no store is, it makes a new, empty one)", path);
	if (!ls->is_moved_logged)
		log_error("store", "%s", ls->base.err);
	ls->is_moved_logged = 1;
	return -1;
}

int lite_commit(struct store *s)
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
		ls->schema_dv = ls->data_version; /* its own commit: no migration */
		lite_give_turn(ls);
	}
	return rc;
}

int lite_rollback(struct store *s)
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

int lite_savepoint(struct store *s) { return lite_exec(s, S_SAVEPOINT); }

int lite_read_begin(struct store *s)
{
	int rc;

	lite_reader_fit(lite(s));
	rc = lite_end_leftover(s) ? -1 : lite_exec(s, S_READ_BEGIN);
	lite(s)->in_tx = rc == 0;
	return rc;
}

int lite_read_end(struct store *s)
{
	return lite_rollback(s); /* nothing was written */
}
int lite_savepoint_release(struct store *s) { return lite_exec(s, S_RELEASE); }

int lite_savepoint_rollback(struct store *s)
{
	lite_cache_drop(lite(s));
	if (lite_exec(s, S_ROLLBACK_TO))
		return -1;
	return lite_exec(s, S_RELEASE);
}

/* ---- meta, dedupe, blocks ------------------------------------------- */

int lite_meta_get(struct store *s, const char *key, char *out, size_t out_size)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_META_GET, "s", key);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, out_size, "%s", lite_col_text(st, 0));
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : lite_fail(ls, S_META_GET);
}

int lite_meta_put(struct store *s, const char *key, const char *value)
{
	return RUN(lite(s), S_META_PUT, "ss", key, value);
}

int lite_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_META_LIST, "s", prefix);
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ctx, lite_col_text(st, 0), lite_col_text(st, 1)))
			break;
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_META_LIST);
}

int lite_meta_delete(struct store *s, const char *key)
{
	return RUN(lite(s), S_META_DELETE, "s", key);
}

int lite_dedupe_add(struct store *s, const char *source, const char *mid)
{
	struct sqlite_store *ls = lite(s);
	if (RUN(ls, S_DEDUPE_ADD, "ss", source, mid))
		return -1;
	return sqlite3_changes(ls->db) > 0;
}

int lite_dedupe_remove(struct store *s, const char *source, const char *mid)
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
	sqlite3_stmt *st = lite_prep(ls, S_BLOCK_ALL, "i", (int64_t)BLOCK_LIST_MAX + 1);
	int rc, n = 0, is_complete = 1;
	if (!st)
		return -1;
	kvcache_clear(&ls->blocks);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (++n > BLOCK_LIST_MAX ||
		    lite_block_cache(ls, lite_col_text(st, 0), lite_col_text(st, 1),
				     sqlite3_column_int64(st, 2)) != 0)
			is_complete = 0;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return lite_fail(ls, S_BLOCK_ALL);
	if (!is_complete)
		kvcache_clear(&ls->blocks);
	ls->blocks_state = is_complete ? BLOCKS_COMPLETE : BLOCKS_PARTIAL;
	return 0;
}

int lite_block_get(struct store *s, const char *type, const char *value, int64_t *until)
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
	rc = lite_query_int(ls, S_BLOCK_GET, lite_prep(ls, S_BLOCK_GET, "ss", type, value), until);
	if (rc < 0 || !ls->is_writing)
		return rc;
	v[0] = (unsigned char)rc;
	if (rc)
		memcpy(v + 8, until, sizeof(*until));
	kvcache_put(&ls->blocks, type, value, v);
	return rc;
}

int lite_block_put(struct store *s, const char *type, const char *value, int64_t until)
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

int lite_block_any(struct store *s)
{
	struct sqlite_store *ls = lite(s);
	int64_t one = 0;
	return lite_query_int(ls, S_BLOCK_ANY, lite_prep(ls, S_BLOCK_ANY, ""), &one);
}

/* The writer's cache may hold the rows deleted: it is read again.  (A
 * prune by another connection is seen by the writer's next lite_begin:
 * the file's data version has changed.) */
int lite_block_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
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
