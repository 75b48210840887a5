/*
 * store_sqlite_int.h - what the SQLite store's files share (store_sqlite.c:
 * the schema and its migrations, the statements' text, opening, the
 * checkpointer, closing; store_sqlite_tx.c: running a statement,
 * transactions with their counters and the writer's caches, meta, dedupe
 * and blocks; store_sqlite_ops.c: the operations on a profile's rows, the
 * leases, the change feed, dead letters and the store_ops table).  Not for
 * the rest of the hub: see store.h.
 */
#ifndef HUB_STORE_SQLITE_INT_H
#define HUB_STORE_SQLITE_INT_H

#include "store.h"

#include "kvcache.h"
#include "lease_lock.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The schema this hub knows (store_sqlite.c's migrations); a write
 * transaction refuses a store a newer hub has migrated since (lite_begin). */
#define SCHEMA_VERSION 6

/* Every statement, prepared once at open.  Keep the enum and the table
 * (store_sqlite.c's stmt_sql) in step. */
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
	S_ATTR_FIND_EMAIL,
	S_ATTR_COUNT,
	S_CONSENT_GET, S_CONSENT_PUT, S_CONSENT_PUT_NEWER, S_CONSENT_TOUCH, S_CONSENT_LIST,
	S_CONSENT_DELETE_PROFILE,
	S_EVENT_INSERT, S_EVENT_MOVE, S_EVENT_LIST_TOP, S_EVENT_LIST_AFTER, S_EVENT_STATS,
	S_EVENT_DELETE_PROFILE,
	S_LOG_APPEND, S_LOG_PAGE, S_LOG_DELETE_PROFILE, S_LOG_UNLINK_PROFILE,
	S_OUTBOX_APPEND, S_OUTBOX_READ, S_OUTBOX_DELETE_PROFILE, S_OUTBOX_PRUNE, S_OUTBOX_HOLD,
	S_DEAD_PUT, S_DEAD_LIST, S_DEAD_DELETE_PROFILE, S_DEAD_DELETE, S_DEAD_LAST, S_DEAD_COUNT,
	S_LEASE_EPOCH,
	S_COUNT
};

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
	int is_schema_known;    /* schema_version read at data version schema_dv */
	unsigned schema_dv;
	int is_schema_newer_logged; /* lite_schema_check said so */
	struct lease_locks leases; /* this connection's (lite_lease_try) */
	int is_reader;          /* counted in the readers' cache budget */
	int cache_kib;          /* its page cache as last set (lite_reader_fit) */
};

static inline struct sqlite_store *lite(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* ---- store_sqlite.c ------------------------------------------------- */

void lite_close(struct store *s);

/* ---- store_sqlite_tx.c ---------------------------------------------- */

/* The readers' page caches share READERS_CACHE_KIB: a connection joins
 * the count at open (lite_reader_join) and leaves it when it closes or
 * becomes the intake writer (lite_reader_leave); lite_reader_fit sets its
 * cache to its share, at its open and at each of its transactions. */
void lite_reader_join(struct sqlite_store *ls);
void lite_reader_leave(struct sqlite_store *ls);
void lite_reader_fit(struct sqlite_store *ls);

/* The schema check of a write transaction or a lease take: a store a
 * newer hub migrated is refused, and every lease held given up (logged).
 * 0, or -1 with the error set. */
int lite_schema_check_leases(struct sqlite_store *ls);
/* What the person on call can do about a failure of SQLite's extended
 * error code `code`, after "; ", or "". */
const char *lite_fail_hint(int code);
/* Sets the error from the connection's last failure and returns -1. */
int lite_fail(struct sqlite_store *ls, enum stmt_id id);
/* Resets and binds: fmt has one letter per parameter: s (const char *,
 * NULL binds NULL), i (int64_t), d (int). */
sqlite3_stmt *lite_prep(struct sqlite_store *ls, enum stmt_id id, const char *fmt, ...);
/* Runs a statement that returns no rows. */
int lite_run(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st);
#define RUN(ls, id, ...) lite_run(ls, id, lite_prep(ls, id, __VA_ARGS__))
const char *lite_col_text(sqlite3_stmt *st, int col);
/* Reads one int64 from a one-row query; *out untouched when no row. */
int lite_query_int(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st, int64_t *out);
/* The next value of a counter kept in meta (profile_seq, row_seq), written
 * at commit. */
int lite_counter_next(struct store *s, const char *key, int64_t *value, int *has, int *is_dirty,
		      int64_t *out);
int lite_next_row_seq(struct sqlite_store *ls, int64_t *out);
int lite_begin(struct store *s);
int lite_commit(struct store *s);
int lite_rollback(struct store *s);
int lite_savepoint(struct store *s);
int lite_read_begin(struct store *s);
int lite_read_end(struct store *s);
int lite_savepoint_release(struct store *s);
int lite_savepoint_rollback(struct store *s);
int lite_meta_get(struct store *s, const char *key, char *out, size_t out_size);
int lite_meta_put(struct store *s, const char *key, const char *value);
int lite_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *ctx);
int lite_meta_delete(struct store *s, const char *key);
int lite_dedupe_add(struct store *s, const char *source, const char *mid);
int lite_dedupe_remove(struct store *s, const char *source, const char *mid);
int lite_block_get(struct store *s, const char *type, const char *value, int64_t *until);
int lite_block_put(struct store *s, const char *type, const char *value, int64_t until);
int lite_block_any(struct store *s);
int lite_block_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted);

/* ---- store_sqlite_ops.c --------------------------------------------- */

extern const struct store_ops sqlite_ops;

#endif
