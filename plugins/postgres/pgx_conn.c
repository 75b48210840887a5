/*
 * pgx_conn.c - the postgres export's connection: connected with libpq's
 * timeouts and keepalives (the URL may override them), then set up: the
 * session's client_encoding UTF8 (a SQL_ASCII database refused), its
 * timeouts and synchronous_commit, the wait for an answer read from its
 * statement_timeout, the table (created when missing) and the statement
 * a batch runs (APPLY_SQL), prepared.  A set-up that fails leaves no
 * connection: the next batch connects and sets up again.
 *
 * Never fails with HUB_ERR_DATA (no change is at fault here), never runs a
 * batch (postgres.c does) and never quotes the URL: it passed
 * url_is_valid() at create, and libpq's messages go through
 * pgx_copy_message().
 */
#include "pgx.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A chunk of the batch in one statement (the chunks of a batch in one
 * transaction, in order), its changes bound as one JSON array ($1).  The
 * last action per profile wins, in the order of the chunk: a change with a
 * profile upserts it, an erased change deletes its row, a merged change
 * deletes the absorbed profiles' rows.  Both %s are the quoted table name.
 */
#define APPLY_SQL                                                                  \
	"WITH c AS (SELECT x, ord FROM jsonb_array_elements($1::jsonb)"            \
	"            WITH ORDINALITY AS e(x, ord)),"                               \
	" a AS (SELECT x->>'profile_id' AS pid, ord, 1 AS sub,"                    \
	"              CASE WHEN x->>'kind' = 'erased' THEN NULL ELSE x->'profile' END AS doc," \
	"              (x->>'seq')::bigint AS seq"                                 \
	"         FROM c WHERE x->>'kind' = 'erased' OR x ? 'profile'"             \
	"       UNION ALL"                                                         \
	"       SELECT m, ord, 0, NULL, (x->>'seq')::bigint"                       \
	"         FROM c, jsonb_array_elements_text(CASE WHEN jsonb_typeof(x->'merged_from')" \
	"              = 'array' THEN x->'merged_from' ELSE '[]' END) AS m),"      \
	" last AS (SELECT DISTINCT ON (pid) pid, doc, seq FROM a"                  \
	"          ORDER BY pid, ord DESC, sub DESC),"                             \
	" gone AS (DELETE FROM %s WHERE profile_id IN"                             \
	"          (SELECT pid FROM last WHERE doc IS NULL))"                      \
	" INSERT INTO %s AS t (profile_id, doc, updated_seq)"                      \
	" SELECT pid, doc, seq FROM last WHERE doc IS NOT NULL"                    \
	" ON CONFLICT (profile_id) DO UPDATE SET doc = EXCLUDED.doc,"              \
	" updated_seq = EXCLUDED.updated_seq WHERE t.updated_seq <= EXCLUDED.updated_seq"

#define ANSWER_MARGIN_MS 5000      /* past statement_timeout: the server's own answers first */

/* ---- the session's settings --------------------------------------------- */

/* p->answer_ms from the session's statement_timeout as set_timeouts() left
 * it, the url's when it sets one: a statement the url lets wait longer
 * than `timeout` (0: for ever) is not given up on before the server does.
 * lock_timeout adds nothing: statement_timeout bounds lock waits too, and
 * without it a statement may run long on its own. */
static hub_rc read_answer_wait(struct pgx *p, char *err, size_t err_size)
{
	PGresult *res;
	hub_rc rc = pgx_query_expect(p,
				     PQsendQuery(p->conn, "SELECT setting::bigint FROM pg_settings"
							  " WHERE name = 'statement_timeout'"),
				     PGRES_TUPLES_OK, "reading statement_timeout", &res, err,
				     err_size);
	long long ms;

	if (rc != HUB_OK)
		return rc;
	ms = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	p->answer_ms = ms > 0 ? ms + ANSWER_MARGIN_MS : 0;
	PQclear(res);
	return HUB_OK;
}

/* `timeout` as the session's statement_timeout and lock_timeout, unless
 * the url sets them (options=-c ...: their source is "client"), and
 * synchronous_commit on when it is off, whoever set it (a batch is
 * acknowledged once its commit returns: with it off, a crash of the server
 * lost batches the export's cursor had passed; every other value flushes
 * the commit locally first).  Session settings, not startup options, which
 * a pooler such as PgBouncer refuses. */
static hub_rc set_timeouts(struct pgx *p, char *err, size_t err_size)
{
	char sql[256];
	PGresult *res;
	hub_rc rc;

	snprintf(sql, sizeof(sql),
		 "SELECT set_config(name, CASE name WHEN 'synchronous_commit' THEN 'on'"
		 " ELSE '%lld' END, false) FROM pg_settings"
		 " WHERE (name IN ('statement_timeout', 'lock_timeout') AND source <> 'client')"
		 " OR (name = 'synchronous_commit' AND setting = 'off')",
		 p->timeout_ms);
	rc = pgx_query_expect(p, PQsendQuery(p->conn, sql), PGRES_TUPLES_OK,
			      "setting the timeouts and synchronous_commit", &res, err, err_size);
	PQclear(res);
	if (rc != HUB_OK)
		return rc;
	return read_answer_wait(p, err, err_size);
}

static hub_rc exec_prepare(struct pgx *p, const char *name, const char *sql, char *err,
			   size_t err_size)
{
	PGresult *res;
	hub_rc rc = pgx_query_expect(p, PQsendPrepare(p->conn, name, sql, 1, NULL),
				     PGRES_COMMAND_OK, "preparing", &res, err, err_size);

	PQclear(res);
	return rc;
}

/* ---- the connection ----------------------------------------------------- */

void pgx_disconnect(struct pgx *p)
{
	if (p->conn)
		PQfinish(p->conn);
	p->conn = NULL;
}

/* A server's notice or warning (a RAISE NOTICE of a trigger on the table):
 * into the hub's log at debug, not libpq's default, raw onto stderr. */
static void notice_to_log(void *arg, const PGresult *res)
{
	struct pgx *p = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY);
	char msg[512];

	pgx_copy_message(p, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), msg, sizeof(msg));
	p->host->log(p->inst, HUB_LOG_DEBUG, "the target database says (%s): %s",
		     severity ? severity : "notice", msg);
}

/* The URL passed url_is_valid() at create, so libpq's message here is about
 * the server or the network, not the URL's text. */
static hub_rc connect_fail(struct pgx *p, char *err, size_t err_size)
{
	const char *raw = PQerrorMessage(p->conn);
	char msg[512];
	hub_rc rc = pgx_connect_refusal_rc(raw);

	pgx_copy_message(p, raw, msg, sizeof(msg));
	snprintf(err, err_size, "connecting: %s", msg);
	pgx_disconnect(p);
	return rc;
}

/* The session's client_encoding is UTF8 whatever the URL or the database
 * say (the changes are UTF-8: in another client encoding the server would
 * convert them as if they were in that one, "Zoë" stored as "ZoÃ«"), so a
 * character the database cannot hold fails its change (22P05, a data
 * error) instead.  A SQL_ASCII database converts and checks nothing: refused. */
static hub_rc set_encoding(struct pgx *p, char *err, size_t err_size)
{
	const char *db_encoding;

	hub_rc rc = pgx_exec_simple(p, "SET client_encoding TO 'UTF8'", "setting client_encoding",
				    err, err_size);

	if (rc != HUB_OK)
		return rc;
	db_encoding = PQparameterStatus(p->conn, "server_encoding");
	if (db_encoding && strcmp(db_encoding, "SQL_ASCII") == 0) {
		snprintf(err, err_size, "the database's encoding is SQL_ASCII, which stores text "
					"unchecked: use a database in UTF8 (or another encoding)");
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

/* Whether the table is missing.  Asked first because CREATE TABLE IF NOT
 * EXISTS needs CREATE on the schema even when the table exists: a role
 * that may only read and write the table was refused (42501). */
static hub_rc table_is_missing(struct pgx *p, int *is_missing, char *err, size_t err_size)
{
	PGresult *res;
	hub_rc rc = pgx_table_row(p, "SELECT to_regclass($1) IS NULL", "looking for the table",
				  &res, err, err_size);

	if (rc != HUB_OK)
		return rc;
	*is_missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return HUB_OK;
}

/* The most columns check_unwritten_columns() names (the others counted):
 * 5 names of at most 63 bytes fit its message whole. */
#define UNWRITTEN_NAMED_MAX 5
#define PGX_STR_(x) #x
#define PGX_STR(x) PGX_STR_(x) /* a macro's value as SQL text */

/* Refused (HUB_ERR_CONFIG, err naming the table and such columns, the
 * first UNWRITTEN_NAMED_MAX, the others counted): a table with NOT NULL
 * columns the export does not write, without a default (nor an
 * identity).  Every change would fail its INSERT with 23502 and, alone,
 * be dead-lettered; refused here the export is disabled before its first
 * batch, the changes kept in the feed. */
static hub_rc check_unwritten_columns(struct pgx *p, char *err, size_t err_size)
{
	PGresult *res;
	hub_rc rc = pgx_table_row(p,
				  "SELECT count(*), string_agg('\"' || attname || '\"', ', '"
				  " ORDER BY attnum) FILTER (WHERE nth <= "
				  PGX_STR(UNWRITTEN_NAMED_MAX) ") FROM (SELECT attname, attnum,"
				  " row_number() OVER (ORDER BY attnum) AS nth FROM pg_attribute"
				  " WHERE attrelid = to_regclass($1) AND attnum > 0"
				  " AND NOT attisdropped AND attnotnull AND NOT atthasdef"
				  " AND attidentity = ''"
				  " AND attname NOT IN ('profile_id', 'doc', 'updated_seq')) c",
				  "reading the table's columns", &res, err, err_size);
	char named[400], more[32] = "";
	int n;

	if (rc != HUB_OK)
		return rc;
	if ((n = atoi(PQgetvalue(res, 0, 0))) > 0) {
		if (n > UNWRITTEN_NAMED_MAX)
			snprintf(more, sizeof(more), " (and %d more)", n - UNWRITTEN_NAMED_MAX);
		snprintf(named, sizeof(named), "column%s %s%s %s", n > 1 ? "s" : "",
			 PQgetvalue(res, 0, 1), more, n > 1 ? "are" : "is");
		snprintf(err, err_size, PGX_UNWRITTEN_FMT ": " PGX_UNWRITTEN_FIX, p->table, named,
			 n > 1 ? "them" : "it");
		rc = HUB_ERR_CONFIG;
	}
	PQclear(res);
	return rc;
}

/* The table and the prepared statement on a new connection. */
static hub_rc pgx_setup(struct pgx *p, char *err, size_t err_size)
{
	char sql[2048];
	int is_missing = 0;
	hub_rc rc;

	if ((rc = set_encoding(p, err, err_size)) != HUB_OK ||
	    (rc = set_timeouts(p, err, err_size)) != HUB_OK ||
	    (rc = table_is_missing(p, &is_missing, err, err_size)) != HUB_OK)
		return rc;
	if (is_missing) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS %s (profile_id text PRIMARY KEY,"
			 " doc jsonb NOT NULL, updated_seq bigint NOT NULL)",
			 p->table);
		rc = pgx_exec_simple(p, sql, "creating the table", err, err_size);
		if (rc != HUB_OK)
			return rc;
	} else if ((rc = check_unwritten_columns(p, err, err_size)) != HUB_OK) {
		return rc;
	}
	snprintf(sql, sizeof(sql), APPLY_SQL, p->table, p->table);
	return exec_prepare(p, "profilehub_apply", sql, err, err_size);
}

hub_rc pgx_connect(struct pgx *p, char *err, size_t err_size)
{
	/* Defaults before dbname (the URL may override them).  A target that
	 * stops answering (a half-open connection, a table locked by someone
	 * else) fails the batch within the timeouts (the server's, then
	 * pgx_query_end()'s), to be retried: it never holds the export, or a stop
	 * of the hub, for good. */
	const char *keys[] = {"connect_timeout", "application_name", "keepalives",
			      "keepalives_idle", "keepalives_interval", "keepalives_count",
			      "tcp_user_timeout", "dbname", NULL};
	const char *values[] = {"10", "profilehub-export", "1", "30", "10", "3", "60000", p->url,
				NULL};
	hub_rc rc;

	if (p->conn)
		return HUB_OK;
	p->conn = PQconnectdbParams(keys, values, 1);
	/* until set_timeouts() reads the session's own */
	p->answer_ms = p->timeout_ms ? p->timeout_ms + ANSWER_MARGIN_MS : 0;
	if (!p->conn)
		return HUB_ERR_NOMEM;
	if (PQstatus(p->conn) != CONNECTION_OK)
		return connect_fail(p, err, err_size);
	PQsetNoticeReceiver(p->conn, notice_to_log, p);
	/* every query waits for its answer in pgx_query_end(), which sends too */
	if (PQsetnonblocking(p->conn, 1) != 0) {
		pgx_disconnect(p);
		return HUB_RETRY;
	}
	rc = pgx_setup(p, err, err_size);
	if (rc == HUB_OK)
		return HUB_OK;
	/* Not half set up: the next attempt connects and sets up again.  A
	 * wrong table or privilege (42), refused credentials (28) stay as
	 * they are; anything else is no change's fault, so it retries. */
	pgx_disconnect(p);
	if (rc == HUB_ERR_CONFIG || rc == HUB_ERR_AUTH || rc == HUB_ERR_NOMEM)
		return rc;
	return HUB_RETRY;
}
