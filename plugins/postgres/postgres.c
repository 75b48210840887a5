/*
 * postgres.c - "reverse ETL into your own database": an export that keeps
 * one row per live profile in a table of a PostgreSQL database,
 *
 *     <table>(profile_id text PRIMARY KEY, doc jsonb NOT NULL,
 *             updated_seq bigint NOT NULL)
 *
 * created when missing (also when dropped while the export runs: a batch
 * finding no table sets up a new connection, once).  `doc` is the profile
 * document without events, as the change feed carries it.  The session's
 * client_encoding is UTF8 (a character the database's encoding cannot hold
 * is a data error for its change, never converted wrongly); a SQL_ASCII
 * database is refused.
 *
 * One transaction per batch, acknowledged once it commits: a statement
 * (APPLY_SQL) per chunk of the batch (pgx_batch.c: at most 64 MB of JSON,
 * as jsonb holds at most 256 MB), each chunk bound as a single JSON
 * parameter, so no SQL is built from data and the plugin parses nothing.
 * Each chunk is reduced to the last action per profile (in seq order):
 * upsert the document a change carries, delete on erased, delete the
 * absorbed profiles of a merged change (so `kinds`, when set, must include
 * merged); a change whose profile no longer exists does nothing (the
 * merged or erased change that removed it deletes the row).  An upsert
 * never replaces a row written by a later seq, so a batch replayed after a
 * crash cannot move a row back in time.
 *
 * Errors: connection and server trouble (SQLSTATE classes 08, 40, 53, 55,
 * 57, 58) retry; refused credentials (28) disable; a wrong table or missing
 * privilege (42), or a target that cannot take the statement (0A, 55000: a
 * view, a table with rules, one publishing deletes without a replica
 * identity) disable as configuration errors, except a table dropped
 * meanwhile (42P01 from a batch: set up again, once, else retried); a
 * login pg_hba.conf refuses (no entry, or reject) is refused credentials
 * too, as a webhook's 401/403; a NOT NULL column without a default that
 * the export does not write disables it too, found when a connection is
 * set up (and by check --connect) or, added while the export runs, by its
 * 23502 (every change would be refused alike, none is at fault); bad
 * data (22, 23) is HUB_ERR_DATA for the batch, which the exporter then
 * narrows down to the change at fault; so is a program limit (54: a change
 * too large for jsonb, or nested too deep), which no retry gets past.
 * Setting up a new connection (the table, the prepared statement) never
 * fails with HUB_ERR_DATA: no change is at fault there (a concurrent
 * CREATE TABLE IF NOT EXISTS can fail with 23505, or 42P07), so it retries
 * on a new connection.
 *
 * The connection URL (it may hold a password) is secret: it is checked once
 * at create, and no message ever quotes it or libpq's text about parsing
 * it (that text echoes the URL).  A URL whose password holds an unescaped
 * '@' is refused (libpq would read the rest as the host, and quote it), and
 * every libpq message copied into an error has what it holds of the
 * password starred out.
 *
 * Here: the descriptor, the config keys and their checks at create,
 * check --connect and a batch's transaction.  The connection and its
 * set-up (the table, APPLY_SQL prepared) are pgx_conn.c's, a query and its
 * answer pgx_query.c's, the chunks and the SQLSTATEs pgx_batch.c's
 * (pgx.h).  Nothing here waits on the connection itself: every query goes
 * through pgx_query_end() or pgx_query_expect().
 */
#include "pgx.h"

#include "../common/pg_tls.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hub_config_key postgres_keys[] = {
	{.name = "url", .type = HUB_CFG_STRING, .is_required = 1,
	 .is_secret = HUB_SECRET_CONNECTION,
	 .description = "libpq connection URI of the target database"},
	{.name = "table", .type = HUB_CFG_STRING, .default_value = "profilehub_profiles",
	 .description = "target table, optionally schema-qualified (created when missing)"},
	{.name = "timeout", .type = HUB_CFG_DURATION, .default_value = "30s",
	 .description = "how long a batch's statement may run or wait for a lock on the "
			"table before it is retried (statement_timeout, lock_timeout); "
			"5 s more without any answer from the target also retries"},
	{.name = NULL},
};

#define TIMEOUT_MAX_MS 86400000LL /* 1 day: PostgreSQL takes at most 2^31 - 1 ms */
#define NAME_MAX_BYTES 63          /* PostgreSQL cuts longer names (NAMEDATALEN - 1) */

/* ---- identifiers -------------------------------------------------------- */

/* Lower case only: PostgreSQL folds an unquoted name to lower case, and the
 * name is quoted here, so `analytics.Profiles` would have been a second
 * table beside the user's analytics.profiles (table_has_upper()). */
static int is_ident_char(char c, int first)
{
	return c == '_' || (c >= 'a' && c <= 'z') ||
	       (!first && ((c >= '0' && c <= '9') || c == '$'));
}

static int table_has_upper(const char *name)
{
	for (; *name; name++)
		if (*name >= 'A' && *name <= 'Z')
			return 1;
	return 0;
}

/* "name" or "schema.name" of plain lower-case identifiers of at most 63
 * bytes each (PostgreSQL would cut a longer one, silently: two long names
 * that share their first 63 bytes would be one table), double-quoted into
 * out. */
static int table_quote(const char *name, char *out, size_t size)
{
	size_t o = 0, part_len = 0;
	int first = 1, n_dots = 0;

	if (size < 3)
		return -1;
	out[o++] = '"';
	for (const char *p = name; *p; p++) {
		if (o + 4 >= size)
			return -1;
		/* one '.' at most: db.schema.name passed, then every batch
		 * failed on the cross-database reference (0A000), retried */
		if (*p == '.' && !first && n_dots++ == 0) {
			out[o++] = '"';
			out[o++] = '.';
			out[o++] = '"';
			first = 1;
			part_len = 0;
			continue;
		}
		if (!is_ident_char(*p, first) || ++part_len > NAME_MAX_BYTES)
			return -1;
		out[o++] = *p;
		first = 0;
	}
	if (first)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

/* ---- create / destroy ----------------------------------------------------- */

static void postgres_destroy(void *state)
{
	struct pgx *p = state;

	if (!p)
		return;
	pgx_disconnect(p);
	if (p->url)
		explicit_bzero(p->url, strlen(p->url));
	free(p->url);
	if (p->password)
		explicit_bzero(p->password, strlen(p->password));
	free(p->password);
	free(p);
}

/* Whether a postgresql:// URI has an '@' other than the one that ends the
 * user name and password (libpq's: the first '@', when no '/' comes before
 * it): an unescaped '@' in the password (libpq ends the password at the
 * first '@', then reads "rest@host" as the host or, after a '/', as the
 * database name), or in the user name ("a@?user=:pw@h" ends the user at its
 * '@' and sets the user ":pw@h" from the query; "a/?user=:pw@h" as well). */
static int uri_has_stray_at(const char *url)
{
	static const char *const schemes[] = {"postgresql://", "postgres://"};
	const char *at;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) != 0)
			continue;
		url += n;
		if (!(at = strchr(url, '@')))
			return 0;
		return (size_t)(at - url) > strcspn(url, "/") || strchr(at + 1, '@') != NULL;
	}
	return 0;
}

/*
 * Whether libpq reads the URL as a connection string (pgx_connect passes it
 * as an expanded dbname): 1 yes, 0 no, -1 out of memory; with 1, the
 * password it holds (malloc'd) in *password, or NULL.  Also refused: a
 * host or dbname holding '@' or a port that is not digits, which is where
 * an unescaped '@' or '/' in a password (or a '/' in the user name) ends
 * up, to be quoted by connect errors (as store_pg_url_check does).
 * libpq's message is dropped unread: it quotes the URL.
 */
static int url_is_valid(const char *url, char **password)
{
	char *why = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &why);
	int ok = opts != NULL;

	if (why) {
		memset(why, 0, strlen(why));
		PQfreemem(why);
	} else if (!opts) {
		return -1;
	}
	for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
		if (!o->val)
			continue;
		if ((strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
		     strcmp(o->keyword, "dbname") == 0) &&
		    strchr(o->val, '@'))
			ok = 0;
		if (strcmp(o->keyword, "port") == 0 && o->val[strspn(o->val, "0123456789,")])
			ok = 0;
		if (strcmp(o->keyword, "password") == 0 && *o->val &&
		    !(*password = strdup(o->val)))
			ok = -1;
	}
	if (opts) {
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val)
				memset(o->val, 0, strlen(o->val));
	}
	PQconninfoFree(opts);
	return ok;
}

/* Whether the export's `kinds` (a key of every export, read through the
 * host like the plugin's own) let merged changes through: the rows of the
 * profiles a merge absorbed are deleted by them alone (erased changes
 * reach every export whatever its kinds).  Left out: every kind. */
static int kinds_have_merged(const struct hub_host *host, const struct hub_instance *inst)
{
	size_t n = host->config_list_size(inst, "kinds");

	for (size_t i = 0; i < n; i++) {
		const char *kind = host->config_list_item(inst, "kinds", i);
		if (kind && strcmp(kind, "merged") == 0)
			return 1;
	}
	return n == 0;
}

/*
 * Everything create() refuses of the values alone, and all that
 * check_config() refuses (ABI 1.10): the url (never quoted), the table,
 * kinds and timeout.  Opens no connection.  Fills p's url, password,
 * table and timeout_ms (postgres_destroy() frees them); HUB_OK, or
 * HUB_ERR_CONFIG (err naming the key) or HUB_ERR_NOMEM.
 */
static hub_rc postgres_values_read(const struct hub_host *host, const struct hub_instance *inst,
				   struct pgx *p, char *err, size_t err_size)
{
	const char *table = host->config_string(inst, "table");

	if (!(p->url = strdup(host->config_string(inst, "url"))))
		return HUB_ERR_NOMEM;
	if (uri_has_stray_at(p->url)) {
		snprintf(err, err_size, "url: not a valid PostgreSQL connection URL: an '@' in "
					"the user name, password, database name or a query "
					"value must be percent-encoded as %%40");
		return HUB_ERR_CONFIG;
	}
	switch (url_is_valid(p->url, &p->password)) {
	case 1:
		break;
	case 0:
		snprintf(err, err_size, "url: not a valid PostgreSQL connection URL (expected "
					"postgresql://user:password@host:port/dbname, special "
					"characters percent-encoded)");
		return HUB_ERR_CONFIG;
	default:
		return HUB_ERR_NOMEM;
	}
	if (table_has_upper(table)) {
		snprintf(err, err_size, "table: \"%s\" has upper-case letters: PostgreSQL folds "
					"a name written without quotes to lower case, so write the "
					"name in lower case",
			 table);
		return HUB_ERR_CONFIG;
	}
	if (table_quote(table, p->table, sizeof(p->table))) {
		snprintf(err, err_size, "table: expected name or schema.name of lower-case "
					"letters, digits and _ (at most 63 characters each)");
		return HUB_ERR_CONFIG;
	}
	if (!kinds_have_merged(host, inst)) {
		snprintf(err, err_size,
			 "kinds: must include merged (or be left out): without it "
			 "the rows of profiles merged into others are never deleted");
		return HUB_ERR_CONFIG;
	}
	p->timeout_ms = (long long)host->config_int(inst, "timeout");
	if (p->timeout_ms < 0 || p->timeout_ms > TIMEOUT_MAX_MS) {
		snprintf(err, err_size, "timeout: at most 1d (0: none)");
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

static hub_rc postgres_create(const struct hub_host *host, const struct hub_instance *inst,
			      void **state, char *err, size_t err_size)
{
	struct pgx *p = calloc(1, sizeof(*p));
	hub_rc rc;

	if (!p)
		return HUB_ERR_NOMEM;
	p->host = host;
	p->inst = inst;
	if ((rc = postgres_values_read(host, inst, p, err, err_size)) != HUB_OK) {
		postgres_destroy(p);
		return rc;
	}
	*state = p;
	return HUB_OK;
}

/* What `profilehub check` (and `run` at start) says of the values alone
 * (ABI 1.10): what create() refuses (postgres_values_read()), and a
 * warning for a url to another machine that does not verify the server. */
static hub_rc postgres_check_config(const struct hub_host *host, const struct hub_instance *inst,
				    char *err, size_t err_size)
{
	struct pgx *p = calloc(1, sizeof(*p));
	char mode[32];
	hub_rc rc;

	if (!p)
		return HUB_ERR_NOMEM;
	rc = postgres_values_read(host, inst, p, err, err_size);
	postgres_destroy(p);
	if (rc != HUB_OK)
		return rc;
	if (pg_tls_unverified(host->config_string(inst, "url"), mode, sizeof(mode)))
		host->log(inst, HUB_LOG_WARN,
			  "url: sslmode=%s to a host other than this machine: %s; add "
			  "sslmode=verify-full (with sslrootcert, the server's CA)",
			  mode, pg_tls_risk(mode));
	return HUB_OK;
}

/* ---- check --connect ---------------------------------------------------- */

/* check --connect: the privileges on the table that a batch needs
 * (SELECT reads the rows an upsert or a delete compares), named when
 * missing: a role that can create the table but not write it passed the
 * check, then every batch was refused. */
static hub_rc check_privileges(struct pgx *p, char *err, size_t err_size)
{
	PGresult *res;
	hub_rc rc = pgx_table_row(p,
				  "SELECT string_agg(priv, ', ' ORDER BY ord) FROM unnest(ARRAY["
				  "'SELECT', 'INSERT', 'UPDATE', 'DELETE']) WITH ORDINALITY AS"
				  " t(priv, ord) WHERE NOT has_table_privilege($1::text, priv)",
				  "reading the privileges on the table", &res, err, err_size);

	if (rc != HUB_OK)
		return rc;
	if (!PQgetisnull(res, 0, 0)) {
		snprintf(err, err_size, "the role has no %s privilege on the table %s",
			 PQgetvalue(res, 0, 0), p->table);
		rc = HUB_ERR_CONFIG;
	}
	PQclear(res);
	return rc;
}

/* ---- a batch ------------------------------------------------------------ */

/* Whether res failed with 42P01 (undefined table). */
static int is_undefined_table(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return PQresultStatus(res) != PGRES_COMMAND_OK && state && strcmp(state, "42P01") == 0;
}

/* [c0,c1,...]: the changes are JSON text already.  malloc'd or NULL. */
static char *changes_join(const char *const *changes, size_t n)
{
	size_t total = 3, off = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		total += strlen(changes[i]) + 1;
	if (!(out = malloc(total)))
		return NULL;
	out[off++] = '[';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(changes[i]);
		if (i)
			out[off++] = ',';
		memcpy(out + off, changes[i], len);
		off += len;
	}
	out[off++] = ']';
	out[off] = '\0';
	return out;
}

/* Ends the failed transaction of a batch, if one is still open: ROLLBACK,
 * or a new connection for the next batch when even that fails. */
static void batch_rollback(struct pgx *p)
{
	char err[256]; /* the batch's failure is the one to report */

	if (!p->conn || PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		return;
	if (pgx_exec_simple(p, "ROLLBACK", "rolling back", err, sizeof(err)) != HUB_OK)
		pgx_disconnect(p);
}

/* One attempt at the batch: BEGIN, a statement per chunk (pgx_chunk_end()),
 * COMMIT.  HUB_OK once committed; else the failure's code with its message
 * in err, the transaction ended, and *is_no_table set when the table was
 * missing (42P01). */
static hub_rc batch_apply(struct pgx *p, const char *const *changes, size_t n, int *is_no_table,
			  char *err, size_t err_size)
{
	const char *what = "starting the transaction";
	PGresult *res;
	hub_rc rc = pgx_query_end(p, PQsendQuery(p->conn, "BEGIN"), what, &res, err, err_size);

	for (size_t from = 0, end;
	     rc == HUB_OK && PQresultStatus(res) == PGRES_COMMAND_OK && from < n; from = end) {
		char *json;

		end = pgx_chunk_end(changes, n, from, PGX_CHUNK_MAX_BYTES);
		PQclear(res);
		if (!(json = changes_join(changes + from, end - from))) {
			batch_rollback(p);
			return HUB_ERR_NOMEM;
		}
		what = "applying the batch";
		rc = pgx_query_end(p,
				   PQsendQueryPrepared(p->conn, "profilehub_apply", 1,
						       (const char *const *)&json, NULL, NULL, 0),
				   what, &res, err, err_size);
		free(json);
	}
	if (rc != HUB_OK)
		return rc; /* no answer: the connection is dropped, the transaction with it */
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		what = "committing the batch";
		if ((rc = pgx_query_end(p, PQsendQuery(p->conn, "COMMIT"), what, &res, err,
					err_size)) != HUB_OK)
			return rc;
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return HUB_OK;
		}
	}
	*is_no_table = is_undefined_table(res);
	rc = pgx_result_fail(p, res, what, err, err_size);
	batch_rollback(p);
	return rc;
}

/* The batch in one transaction on the connection (set up first when there
 * is none), once more on a new one when the table was dropped meanwhile. */
static hub_rc export_apply(struct pgx *p, const char *const *changes, size_t n, char *err,
			   size_t err_size)
{
	int is_no_table = 0;
	hub_rc rc;

	if ((rc = pgx_connect(p, err, err_size)) != HUB_OK)
		return rc;
	rc = batch_apply(p, changes, n, &is_no_table, err, err_size);
	if (is_no_table) {
		/* the table was dropped since this connection set up: a new one
		 * creates it again (once: should it fail so again, retry) */
		pgx_disconnect(p);
		err[0] = '\0';
		if ((rc = pgx_connect(p, err, err_size)) != HUB_OK)
			return rc;
		is_no_table = 0;
		rc = batch_apply(p, changes, n, &is_no_table, err, err_size);
		if (is_no_table) {
			pgx_disconnect(p);
			return HUB_RETRY;
		}
	}
	return rc;
}

/* `call` is kept for the batch: pgx_query_end() looks at should_stop(). */
static hub_rc postgres_export(void *state, struct hub_call *call, const char *const *changes,
			      size_t n, size_t *n_done, char *err, size_t err_size)
{
	struct pgx *p = state;
	hub_rc rc;

	*n_done = 0;
	p->call = call;
	rc = export_apply(p, changes, n, err, err_size);
	p->call = NULL;
	if (rc == HUB_OK)
		*n_done = n;
	return rc;
}

static hub_rc postgres_check_connect(void *state, char *err, size_t err_size)
{
	hub_rc rc = pgx_connect(state, err, err_size);

	return rc == HUB_OK ? check_privileges(state, err, err_size) : rc;
}

static const struct hub_plugin postgres_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "postgres",
	.version = "1.0.0",
	.description = "keeps the current profile documents in a PostgreSQL table",
	.roles = HUB_ROLE_EXPORT,
	.config = postgres_keys,
	.create = postgres_create,
	.destroy = postgres_destroy,
	.check_connect = postgres_check_connect,
	.check_config = postgres_check_config,
	.export_batch = postgres_export,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &postgres_plugin;
}
