/*
 * pgx.h - what the files of the postgres plugin share (private to the
 * plugin: the hub never sees it).
 *
 *   postgres.c   descriptor, config keys, create/destroy, check --connect,
 *                a batch's transaction
 *   pgx_conn.c   the connection: connect, the session's settings, the
 *                table and the prepared statement
 *   pgx_query.c  a query and its answer: the wait, a cancel, a failure's
 *                code and message (the password starred out)
 *   pgx_batch.c  how a batch is cut into statements and what a SQLSTATE
 *                means for it: no libpq calls, so a unit test compiles it in
 */
#ifndef PGX_H
#define PGX_H

#include <hub_plugin.h>

#include <libpq-fe.h>
#include <stddef.h>

struct pgx {
	const struct hub_host *host;
	const struct hub_instance *inst;
	char *url;
	char *password;   /* as libpq parses it from url, or NULL: starred out
			   * of messages */
	char table[140];  /* quoted: "schema"."name" */
	long long timeout_ms; /* statement_timeout and lock_timeout (0: none) */
	long long answer_ms; /* the wait for an answer: the session's
			      * statement_timeout and ANSWER_MARGIN_MS (0: none) */
	PGconn *conn;     /* connected and set up; NULL: connect on the next batch */
	struct hub_call *call; /* during export_batch(): should_stop(); else NULL */
};

/* ---- pgx_conn.c ---------------------------------------------------------- */

/* Connected and set up (nothing to do when p->conn is): HUB_OK; else no
 * connection, the failure's code (HUB_ERR_CONFIG, HUB_ERR_AUTH,
 * HUB_ERR_NOMEM or HUB_RETRY), its message in err. */
hub_rc pgx_connect(struct pgx *p, char *err, size_t err_size);
/* Drops the connection (if any): the next pgx_connect() makes a new one. */
void pgx_disconnect(struct pgx *p);

/* ---- pgx_query.c --------------------------------------------------------- */

/* The message without its trailing newline, nothing of the password in it. */
void pgx_copy_message(const struct pgx *p, const char *msg, char *err, size_t err_size);
/* A failed result (cleared here): its code, the message in err. */
hub_rc pgx_result_fail(struct pgx *p, PGresult *res, const char *what, char *err,
		       size_t err_size);
/* The answer to the query just sent, in *res (the caller clears it). */
hub_rc pgx_query_end(struct pgx *p, int sent, const char *what, PGresult **res, char *err,
		     size_t err_size);
/* The answer of status `want` in *res (the caller clears it): HUB_OK. */
hub_rc pgx_query_expect(struct pgx *p, int sent, ExecStatusType want, const char *what,
			PGresult **res, char *err, size_t err_size);
/* A query of one row about the table (the quoted name bound as $1, never
 * in the SQL): HUB_OK with the row in *res (the caller clears it); else
 * the failure's code, its message in err, *res NULL. */
hub_rc pgx_table_row(struct pgx *p, const char *sql, const char *what, PGresult **res,
		     char *err, size_t err_size);
/* A statement without rows, run to its end. */
hub_rc pgx_exec_simple(struct pgx *p, const char *sql, const char *what, char *err,
		       size_t err_size);

/* ---- pgx_batch.c --------------------------------------------------------- */

/* The most JSON one statement of a batch binds: jsonb holds at most
 * 268435455 bytes (256 MB, SQLSTATE 54000 past it), and a document can
 * grow on its way from text to jsonb.  A test build of the plugin lowers
 * it (PGX_TEST_CHUNK_MAX_BYTES, Makefile) so that a batch of several
 * statements is a few MB, not 128. */
#ifndef PGX_CHUNK_MAX_BYTES
#define PGX_CHUNK_MAX_BYTES (64u << 20)
#endif

/* The end (exclusive) of the chunk of changes[from..n) that starts at
 * `from`: as many changes as their JSON array ("[c,c,...]") holds in
 * max_bytes, and at least one (a change larger than that goes alone). */
size_t pgx_chunk_end(const char *const *changes, size_t n, size_t from, size_t max_bytes);

/* What a SQLSTATE (NULL: none, a client-side failure) means for a batch. */
hub_rc pgx_sqlstate_rc(const char *state);
/* What libpq's message of a failed connect (no SQLSTATE: the server's
 * text) means: HUB_ERR_AUTH, HUB_ERR_CONFIG or HUB_RETRY. */
hub_rc pgx_connect_refusal_rc(const char *raw);
/* Whether a failure is a not-null violation (state 23502) of a column of
 * the export's table (quoted: "schema"."name" or "name"; the server names
 * it unquoted in err_table, without its schema) that the export does not
 * write: no change is at fault, every one would fail alike (the table's
 * schema changed under a running export), so it is a configuration error. */
int pgx_is_unwritten_not_null(const char *table, const char *state, const char *err_table,
			      const char *column);
/* How a column the export does not write and may not be left NULL is
 * named, in a set-up's check and a batch's failure alike; %s: the quoted
 * table, then the column(s).  What to do about it follows PGX_UNWRITTEN_FIX. */
#define PGX_UNWRITTEN_FMT "the table %s: %s NOT NULL without a default and the export " \
			  "does not write %s"
#define PGX_UNWRITTEN_FIX "give each such column a default or drop its NOT NULL (the " \
			  "export writes only profile_id, doc and updated_seq), then " \
			  "enable the export again"
/* HUB_OK when a query that answers one row answered n_rows == 1; else
 * HUB_RETRY (a server's odd answer), err naming what and the count. */
hub_rc pgx_one_row(int n_rows, const char *what, char *err, size_t err_size);

#endif
