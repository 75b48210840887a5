/*
 * store_pg_int.h - what the PostgreSQL store's files share (store_pg.c:
 * opening, the schema, the leases, closing; store_pg_exec.c: the
 * statements, the pipeline, errors and reconnects; store_pg_tx.c:
 * transactions and the outbox written at commit; store_pg_ops.c: the
 * operations on the tables and the store_ops table).  Not for the rest of
 * the hub: see store.h.
 */
#ifndef HUB_STORE_PG_INT_H
#define HUB_STORE_PG_INT_H

#include "store.h"
#include "store_pg_memo.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/* Advisory lock classes (the first int4 of the two-key form), each xor'ed
 * with hashtext(schema) so two hubs in two schemas never share a lock. */
#define LOCK_PROFILE 0   /* objid: the profile id's bucket */
#define LOCK_OUTBOX 1    /* objid 0 */
#define LOCK_MIGRATE 2   /* objid 0: schema creation and migrations */
#define LOCK_LEASE 3     /* objid hashtext(lease name): taken shared (pg_lease_try) */
#define LOCK_IDENT 4     /* objid: the identifier's bucket */
#define LOCK_LEASE_ID 5  /* objid: the lease name's id (meta lease_id:<name>) */

/* Identifiers and profiles are locked by bucket, 1024 of each (a hash and
 * this mask), so a group takes at most 2048 such locks however large it
 * is: the server's lock table is shared by every session
 * (max_locks_per_transaction * max_connections, 6400 by default), and one
 * lock per identifier ran out of it at an import's second batch.  Two
 * small groups share a bucket rarely, and then one waits for the other's
 * commit. */
#define LOCK_BUCKET_MASK "1023"

/* Every statement, prepared on a connection the first time it runs there
 * (stmt_prepare, pg_pipe_send).  Keep enum and table (store_pg_exec.c's
 * stmt_sql) in step.  $n::type casts where PostgreSQL could not infer the
 * type. */
enum stmt_id {
	S_META_GET, S_META_GET_HELD, S_META_PUT, S_META_LIST, S_META_DELETE,
	S_DEDUPE_ADD, S_DEDUPE_REMOVE,
	S_BLOCK_GET, S_BLOCK_PUT, S_BLOCK_ANY, S_BLOCK_PRUNE,
	S_PROFILE_NEXT_SEQ, S_PROFILE_INSERT, S_PROFILE_GET, S_PROFILE_SET_CUSTOM,
	S_PROFILE_MERGE, S_PROFILE_DELETE, S_PROFILE_TOMBSTONES, S_PROFILE_ITER,
	S_IDENT_GET, S_IDENT_GET_LOCKED, S_IDENT_PUT, S_IDENT_DELETE, S_IDENT_COUNT,
	S_IDENT_COUNT_ALL, S_IDENT_LIST, S_IDENT_REASSIGN, S_INSTALL_TOUCH,
	S_IDENT_DELETE_PROFILE, S_IDENT_LOCK, S_IDENT_LOCK_OWNERS, S_IDENT_STATE, S_IDENT_LOCK_ONE,
	S_PROFILE_LOCK,
	S_ATTR_GET, S_ATTR_PUT, S_ATTR_PUT_NEWER, S_ATTR_LIST, S_ATTR_DELETE_PROFILE, S_ATTR_FIND,
	S_ATTR_FIND_EMAIL,
	S_ATTR_COUNT,
	S_CONSENT_GET, S_CONSENT_PUT, S_CONSENT_PUT_NEWER, S_CONSENT_LIST, S_CONSENT_DELETE_PROFILE,
	S_EVENT_INSERT, S_EVENT_MOVE, S_EVENT_LIST_TOP, S_EVENT_LIST_AFTER, S_EVENT_STATS,
	S_EVENT_DELETE_PROFILE,
	S_LOG_APPEND, S_LOG_PAGE, S_LOG_DELETE_PROFILE, S_LOG_UNLINK_PROFILE,
	S_OUTBOX_ALLOC, S_OUTBOX_INSERT, S_OUTBOX_READ, S_OUTBOX_DELETE_PROFILE, S_OUTBOX_PRUNE,
	S_DEAD_PUT, S_DEAD_LIST, S_DEAD_DELETE_PROFILE, S_DEAD_DELETE, S_DEAD_LAST, S_DEAD_COUNT,
	S_OUTBOX_HOLD,
	S_LEASE_TRY, S_LEASE_ID_MAKE, S_LEASE_EPOCH, S_LEASE_RELEASE,
	S_COUNT
};

/* Transaction control statements in messages (ids after the prepared). */
enum {
	W_BEGIN = S_COUNT, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO, W_COMMIT, W_ROLLBACK, W_SETUP,
	W_MIGRATE, W_XID, W_XID_STATUS, W_LEASE_GIVE_UP,
	W_LAST = W_LEASE_GIVE_UP /* the ids after it are Parses (store_pg_exec.c) */
};

/* A change waiting for commit (the outbox is written then, in order). */
struct outbox_row {
	char *kind;
	char *profile_id;
	int64_t at_ms;
	char *payload;
};

/* The session's lock_timeout where the role, database or URL set none. */
#define PG_LOCK_TIMEOUT "10s"

#define PIPE_MAX_PENDING 256 /* results read at least this often */

struct pg_store {
	struct store base;   /* first: a struct store * is a struct pg_store * */
	PGconn *conn;
	char where[256];     /* user@host:port/db: the URL without its password */
	char schema[64];
	int32_t salt;        /* hashtext(schema): the lock namespace */
	char profile_lock_text[16];
	char ident_lock_text[16];
	int is_ready;        /* the session is set up (pg_session_setup) */
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
	/* rows [0, outbox_sent) are written already, by a feed read or an
	 * erase inside the open savepoint: kept until it is released, written
	 * again if it is rolled back (that undoes them too) */
	size_t outbox_sent;
	int is_in_savepoint;
	struct memo memo;
	int64_t reconnect_at_ms;
	int64_t backoff_ms;
	/* libpq's connect_timeout (the URL's, else 10 s; 0: none): an open's
	 * and a reset's session setup are answered within it too (pg_open_as,
	 * pg_reconnect) */
	int64_t connect_timeout_ms;
	/* the leases this connection holds (its session locks); a reconnect
	 * loses them all, and conn_gen counts reconnects */
	struct pg_lease {
		char *name;
		int64_t epoch;
		int id; /* its name's id: LOCK_LEASE_ID's objid */
	} *leases; /* n_leases of size_leases; as many as its syncs running at once */
	size_t n_leases, size_leases;
	uint64_t conn_gen;
	PGconn *fault_killer; /* test hook only: see pg_fault_disconnect */
	int is_schema_newer_logged; /* pg_schema_check said so once */
	long schema_newer;          /* the newer version it saw, or 0 */
	int is_open_done;           /* opened: migrated, the migration lock freed */
	int64_t lock_timeout_cfg_ms;/* store.lock_timeout, or -1: not set */
	int is_lock_timeout_ours;   /* the hub SETs lock_timeout: store.lock_timeout's,
				     * or PG_LOCK_TIMEOUT where the session had none */
	char lock_timeout[32];      /* the session's, for messages (and the SET) */
};

static inline struct pg_store *pgs(struct store *s)
{
	return (struct pg_store *)s;
}

/* ---- store_pg.c ----------------------------------------------------- */

/* Per-connection settings (search_path, the lock namespace, durable
 * commits), waited for until `until` (time_mono_ms; 0: no bound): 0, or
 * -1 with the error set. */
int pg_session_setup(struct pg_store *ps, int64_t until);
/* The connection's session locks are gone (a reset, a close). */
void pg_leases_forget(struct pg_store *ps);
/* A newer hub migrated the schema (pg_schema_check refused): every lease
 * this connection holds is given up, with a line saying why. */
void pg_leases_give_up(struct pg_store *ps);
int pg_lease_try(struct store *s, const char *name, int64_t *epoch);
int pg_lease_release(struct store *s, const char *name);
void pg_close(struct store *s);
/* A write transaction found meta.schema_version `version` (text): 0 when
 * this hub knows it, -1 (the error set, logged once) when a newer hub has
 * migrated the schema since this store was opened. */
int pg_schema_check(struct pg_store *ps, const char *version);

/* ---- store_pg_exec.c ------------------------------------------------ */

/* First line of a libpq message, without the trailing newline. */
void pg_first_line(char *buf, size_t size, const char *msg);
/* Sets the error from a failed result (may be NULL) and returns -1. */
int pg_fail(struct pg_store *ps, const PGresult *res, int id);
/* The error without its "postgres: ", to quote it inside another. */
const char *pg_err_reason(const struct pg_store *ps);
/* A statement outside any pipeline (setup, migrations), waited for. */
int pg_exec_simple(struct pg_store *ps, const char *sql, int id);
/* One statement with n parameters outside any pipeline, waited for until
 * `until` (time_mono_ms; 0: no bound, PQexecParams): its result (PQclear
 * it), or NULL with the error set; left unanswered at `until`, the
 * connection is reset at its next use. */
PGresult *pg_exec_until(struct pg_store *ps, const char *sql, int n, const char *const *vals,
			int id, int64_t until);
/* The error of a session setup left unanswered after setup_ms (an open's,
 * a reset's): the server took the login, then did not answer. */
void pg_setup_unanswered_say(struct pg_store *ps, int64_t setup_ms);
/* Resets a broken connection, at most once per backoff period: 0, or -1
 * with the error set.  pg_reconnect waits connect_timeout for the reset
 * and as long again for the session's setup; pg_reconnect_until gives up
 * at `until` (time_mono_ms) whatever connect_timeout says. */
int pg_reconnect(struct pg_store *ps);
int pg_reconnect_until(struct pg_store *ps, int64_t until);
/* The pipeline, inside a transaction: pg_pipe_send sends a statement (or
 * sql) without waiting; pg_pipe_collect_ex reads every result in flight,
 * the last one handed to *last when last is not NULL, and with is_sync
 * ends the pipeline there; pg_pipe_collect is it without is_sync. */
int pg_pipe_send(struct pg_store *ps, int id, const char *sql, int n, const char *const *vals);
int pg_pipe_collect_ex(struct pg_store *ps, PGresult **last, int is_sync);
int pg_pipe_collect(struct pg_store *ps, PGresult **last);
/* A prepared statement, fmt one letter per parameter (s, i, d, n): pg_run
 * waits for its result (PQclear it; NULL with the error set); pg_command,
 * whose rows nobody reads, is only sent inside a transaction. */
PGresult *pg_run(struct pg_store *ps, enum stmt_id id, const char *fmt, ...);
int pg_command(struct pg_store *ps, enum stmt_id id, const char *fmt, ...);
int64_t pg_col_int(const PGresult *res, int row, int col);
const char *pg_col_text(const PGresult *res, int row, int col);
/* One int64 from a one-row query (res consumed): 1 found, 0 no row, -1 error. */
int pg_query_int(PGresult *res, int64_t *out);
/* Keeps a result whose strings the caller borrows until the next call of
 * the same statement. */
PGresult *pg_keep(struct pg_store *ps, enum stmt_id id, PGresult *res);
/* A text[] parameter: opened, one element added at a time, closed. */
void pg_array_open(struct strbuf *sb);
void pg_array_add(struct strbuf *sb, const char *v);
void pg_array_close(struct strbuf *sb);

/* ---- store_pg_tx.c -------------------------------------------------- */

/* Frees the buffered changes from index `from` on. */
void pg_outbox_drop(struct pg_store *ps, size_t from);
int pg_begin(struct store *s);
int pg_read_begin(struct store *s);
int pg_read_end(struct store *s);
int pg_commit(struct store *s);
int pg_rollback(struct store *s);
int pg_savepoint(struct store *s);
int pg_savepoint_release(struct store *s);
int pg_savepoint_rollback(struct store *s);
int pg_outbox_append(struct store *s, const struct store_change *c);
int pg_outbox_read(struct store *s, int64_t after, size_t limit, store_change_cb cb, void *ctx);
int pg_outbox_delete_profile(struct store *s, const char *pid);

/* ---- store_pg_ops.c ------------------------------------------------- */

extern const struct store_ops pg_ops;

#endif
