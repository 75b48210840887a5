/*
 * sf_sqlapi_int.h - what the files of the sql_api transport share (private
 * to them: snowflake.c sees struct sf_api only through sf.h):
 *
 *   sf_sqlapi.c         the curl handle, HTTP exchanges and their errors,
 *                       new / set_call / free
 *   sf_sqlapi_stmt.c    a statement sent, and polled (or cancelled) until
 *                       it answers
 *   sf_sqlapi_result.c  its result set: columns, partitions, rows as cells;
 *                       the reader ops and check
 */
#ifndef SF_SQLAPI_INT_H
#define SF_SQLAPI_INT_H

#include "sf.h"
#include "../common/transient.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

/* An answer's body, decoded (a gzip partition inflated).  Past max bytes
 * (0: no bound) the transfer fails with is_over set; is_nomem: memory ran
 * out for it. */
struct body {
	char *p;
	size_t len, cap;
	size_t max;
	int is_over, is_nomem;
};

struct sf_api {
	const struct hub_host *host;
	const struct hub_instance *inst;
	struct sf_jwt *jwt;
	char *base;                 /* endpoint without a trailing / */
	char *query;
	int n_params;
	char *warehouse, *database, *schema, *role;
	CURL *curl;
	struct hub_call *call;      /* during a pull: should_stop() */
	struct transient_stop stop; /* ends a transfer when the pull is asked to stop */
	long transfer_ms;           /* the most one transfer may take (CURLOPT_TIMEOUT_MS) */
	struct body resp;
	char retry_after[32];

	/* a POST to send again with the same requestId */
	int has_pending;
	char request_id[40];
	char *pending_body;

	/* the first cursor column's type, from the last result's rowType */
	int is_kind_known;
	enum sf_kind cursor_kind;

	/* the open result */
	char *handle;
	json_t *part;               /* the current partition's response */
	json_t *part_info;          /* partitionInfo: each partition's rowCount */
	size_t n_parts, part_no, row_no;
	struct rm_column *cols;
	enum sf_kind *kinds;
	size_t n_cols;
	struct rm_cell *cells;
	char **names;
};

/* query_timeout's default: a statement's `timeout`, the plugin's own limit */
#define SF_QUERY_TIMEOUT_DEFAULT_S 3600

/* ---- sf_sqlapi.c ---------------------------------------------------------------------------- */

/* query_timeout in ms (at least 1 s), else SF_QUERY_TIMEOUT_DEFAULT_S's. */
int64_t sf_sqlapi_query_timeout_ms(const struct sf_api *a);

/* One request; *status is the HTTP status, the body is in a->resp (a
 * non-2xx one with every copy of the JWT redacted: an endpoint that echoes
 * the request it refused is quoted without it). */
hub_rc sf_sqlapi_http(struct sf_api *a, const char *url, const char *post, long *status, char *err,
		      size_t err_size);
/* The error of a non-2xx answer, from its JSON body {code, message, sqlState}. */
hub_rc sf_sqlapi_status_error(struct sf_api *a, long status, char *err, size_t err_size);
/* 1 when a non-2xx answer (its body in a->resp) is the statement's own
 * outcome, not a request that failed: it ran and failed (422), or ran past
 * its `timeout` and Snowflake cancelled it (a 408 naming its
 * statementHandle).  Its requestId is then spent: Snowflake answers it
 * with that outcome again, so a retry sends a new one; and a poll that
 * got it polls no more. */
int sf_sqlapi_is_statement_outcome(const struct sf_api *a, long status);
/* 1 when a 200's body (a->resp) that json_loads refused (jerr) broke off
 * in transit: it is empty, or an object whose JSON fails at its last byte. */
int sf_sqlapi_answer_is_cut(const struct sf_api *a, const json_error_t *jerr);

/* ---- sf_sqlapi_stmt.c ----------------------------------------------------------------------- */

/* 1 when a statementHandle may go into a URL as it is. */
int sf_sqlapi_handle_is_valid(const char *h);
/* Runs a statement to its first partition; *out is the 200 response. */
hub_rc sf_sqlapi_run_statement(struct sf_api *a, const char *statement, const char *param,
			       json_t **out, char *err, size_t err_size);

/* ---- sf_sqlapi_result.c --------------------------------------------------------------------- */

void sf_sqlapi_result_free(struct sf_api *a);

#endif
