/*
 * bq_query_int.h - what the files of the query share (private to them:
 * bigquery.c sees struct bq_query only through bq.h):
 *
 *   bq_query.c  the query's state, the reader ops, check, the dry runs
 *               that learn the cursor column's type
 *   bq_job.c    one job over the REST API: jobs.query, getQueryResults
 *               polled and paged, jobs.cancel
 *
 * (bq_param.c, the @cursor parameter's text, needs none of it: bq.h.)
 */
#ifndef BQ_QUERY_INT_H
#define BQ_QUERY_INT_H

#include "bq.h"

#include <stddef.h>

/* Where the type of the @cursor sent last came from (for error hints). */
enum type_from {
	TYPE_GUESSED = 0, /* from the value: nothing better was known */
	TYPE_CONFIG,      /* cursor_type */
	TYPE_COLUMN,      /* the cursor column's, from a result's schema */
	TYPE_PROBE,       /* a dry run trying a type (probes[] in bq_query.c) */
};

struct bq_query {
	const struct hub_host *host;
	const struct hub_instance *inst;
	struct bq_http http;
	struct bq_auth *auth;
	char *base;                 /* endpoint without a trailing / */
	char *project_esc;
	char *location, *location_esc; /* may be NULL */
	char *query;
	char *cursor_type;          /* config: the parameter's type, or NULL */
	char learned_type[16];      /* the cursor column's type, once seen */
	char sent_type[16];         /* the type of the last @cursor sent */
	enum type_from sent_from;   /* where sent_type came from */
	int is_probed;              /* a dry run has looked for learned_type */
	struct hub_call *call;      /* during a pull: should_stop() */

	long run_waited_ms;         /* this run's waits before a resend, Retry-After's */

	/* a jobs.query to send again with the same requestId */
	int has_pending;
	char request_id[40];
	char *pending_param;

	/* the open result */
	json_t *page;
	size_t row_no, max_results;
	char *job_url;              /* .../queries/{jobId}?maxResults=...&location=... */
	char *cancel_url;           /* .../jobs/{jobId}/cancel[?location=...] */
	char *job_id;               /* the job's, for logs */
	int is_job_running;         /* accepted, not yet seen complete (nor gone) */
	int64_t timeout_ms;         /* query_timeout; 0: none */
	int64_t job_started_ms;     /* monotonic: when jobs.query accepted it */
	char *page_token;
	struct bq_field *fields;
	size_t n_fields;
	struct rm_column *cols;
	struct rm_cell *cells;
	struct bq_text *scratch;    /* one per column: RECORD / REPEATED JSON */
};

/* ---- bq_job.c ------------------------------------------------------------ */

/* Runs jobs.query to its first page of results (or, dry, its schema), with
 * @cursor of `type` (NULL: guessed from param) bound to param (NULL: the
 * first value of the type, bq_param_first). */
hub_rc bq_run_query(struct bq_query *q, const char *type, const char *param, int is_dry,
		    json_t **out, char *err, size_t err_size);
/* GET the job's results (first page, or the one after q->page_token) until
 * jobComplete (HUB_RETRY once the job has run past q->timeout_ms); *out
 * the answer. */
hub_rc bq_get_results(struct bq_query *q, int with_token, json_t **out, char *err,
		      size_t err_size);

#endif
