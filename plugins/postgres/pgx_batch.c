/*
 * pgx_batch.c - how the postgres export cuts a batch into statements, and
 * what a SQLSTATE, a row count or a refused login's text means for the
 * batch.  Pure functions over text: no libpq, no I/O.
 *
 * A batch is applied in one transaction, as one statement per chunk of at
 * most PGX_CHUNK_MAX_BYTES of JSON: one jsonb value past 256 MB fails with
 * 54000 however often it is sent.  A change too large alone fails so in its
 * own chunk: class 54 (a program limit: a value too large, a document
 * nested too deep) is a data error, which the exporter narrows down to the
 * change at fault and dead-letters, instead of retrying forever.
 */
#include "pgx.h"

#include <stdio.h>
#include <string.h>

size_t pgx_chunk_end(const char *const *changes, size_t n, size_t from, size_t max_bytes)
{
	size_t end = from, bytes = 2; /* "[" and "]" */

	while (end < n) {
		bytes += strlen(changes[end]) + (end > from); /* a ',' before all but the first */
		if (bytes > max_bytes && end > from)
			break;
		end++;
	}
	return end;
}

/*
 * Connection and server trouble (08, 40, 53, 55, 57, 58, anything not
 * named) retries; refused credentials (28) disable; a wrong table or
 * privilege (42, 3D, 3F) and a target that cannot take the statement (0A,
 * 55000: a view, a table with rules, a table publishing deletes without a
 * replica identity) disable as configuration errors, except a
 * duplicate table or object (42P07, 42710: only CREATE TABLE IF NOT EXISTS
 * racing another creator raises them); bad data (22, 23) and a limit a
 * change passes (54) are data errors (but a not-null violation of a column
 * the export does not write: pgx_is_unwritten_not_null()).
 */
hub_rc pgx_sqlstate_rc(const char *state)
{
	if (!state || strlen(state) < 2)
		return HUB_RETRY;
	if (strcmp(state, "42P07") == 0 || strcmp(state, "42710") == 0)
		return HUB_RETRY;
	if (strncmp(state, "28", 2) == 0)
		return HUB_ERR_AUTH;
	if (strncmp(state, "42", 2) == 0 || strncmp(state, "3D", 2) == 0 ||
	    strncmp(state, "3F", 2) == 0 || strncmp(state, "0A", 2) == 0 ||
	    strcmp(state, "55000") == 0)
		return HUB_ERR_CONFIG;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	    strncmp(state, "54", 2) == 0)
		return HUB_ERR_DATA;
	return HUB_RETRY;
}

/* The export's own columns: a not-null violation (23502) on one of them is
 * its change's fault (a change without a profile_id or a seq). */
static int is_written_column(const char *column)
{
	return strcmp(column, "profile_id") == 0 || strcmp(column, "doc") == 0 ||
	       strcmp(column, "updated_seq") == 0;
}

int pgx_is_unwritten_not_null(const char *table, const char *state, const char *err_table,
			      const char *column)
{
	const char *name = strrchr(table, '.');
	size_t len;

	name = name ? name + 2 : table + 1; /* past '.' and '"', or the first '"' */
	len = strlen(name) - 1;             /* without the closing '"' */
	return state && strcmp(state, "23502") == 0 && err_table && column &&
	       strlen(err_table) == len && strncmp(err_table, name, len) == 0 &&
	       !is_written_column(column);
}

/* What the server's refusal of a login says (libpq gives no SQLSTATE for
 * it, only the server's text): refused credentials, a login the server's
 * pg_hba.conf has no line for or rejects, a role that may not log in
 * (SQLSTATE class 28) are HUB_ERR_AUTH, as a webhook's 401 and 403: the
 * export is disabled, not retried for ever, until its configuration or
 * `exports enable` says the cause is fixed; a database or role that does
 * not exist, or no CONNECT privilege on the database, HUB_ERR_CONFIG;
 * anything else (the network, a server starting or full) HUB_RETRY. */
hub_rc pgx_connect_refusal_rc(const char *raw)
{
	static const char *const auth[] = {
		"authentication failed", "no password supplied", "no pg_hba.conf entry",
		"pg_hba.conf rejects connection", "is not permitted to log in",
	};

	for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++)
		if (strstr(raw, auth[i]))
			return HUB_ERR_AUTH;
	if (strstr(raw, "does not exist") || strstr(raw, "permission denied for database"))
		return HUB_ERR_CONFIG;
	return HUB_RETRY;
}

hub_rc pgx_one_row(int n_rows, const char *what, char *err, size_t err_size)
{
	if (n_rows == 1)
		return HUB_OK;
	snprintf(err, err_size, "%s: the server answered %d rows, not one", what, n_rows);
	return HUB_RETRY;
}
