/*
 * bq_query.c - the query, over BigQuery's REST API v2:
 *
 *   POST {endpoint}/bigquery/v2/projects/{project}/queries
 *        {"query", "useLegacySql": false, "parameterMode": "NAMED",
 *         "queryParameters": [{"name": "cursor", "parameterType": {"type"},
 *         "parameterValue": {"value"}}], "maxResults", "timeoutMs",
 *         "location", "requestId", "formatOptions": {"useInt64Timestamp"}}
 *     -> {jobComplete, jobReference, schema, rows, totalRows, pageToken}
 *   GET  .../projects/{p}/queries/{jobId}?pageToken=&maxResults=&location=
 *        while jobComplete is false (polled), then for every next page
 *   POST .../projects/{p}/jobs/{jobId}/cancel?location=  (an empty body)
 *        a job given up on before it completed: the hub stops, or its polls
 *        keep failing or are refused (job_cancel)
 *
 * One page (at most maxResults rows: the pull's page size) is in memory at
 * a time; its rows are decoded (bq_cell.c) one by one as the pull loop asks
 * for them.  :cursor is the named parameter @cursor, never interpolated,
 * typed from the first cursor column: before a process's first query a dry
 * run learns the column's type from the result's schema (the parameter's
 * type must suit the column before BigQuery accepts the dry run, so it
 * tries a few, below), and every result's schema keeps it up to date.
 * `cursor_type` overrides it; a guess from the value is the last resort.
 * A jobs.query that failed in transit is sent again with the same
 * requestId, so BigQuery runs it once; a getQueryResults that failed
 * (in transit, 429, 5xx) is sent again as it was, so a job that ran is
 * read, not run again (get_results).  Failures keep Google's reason
 * (bq_error.c).
 */
#include "bq.h"
#include "../common/request_id.h"
#include "../common/retry_wait.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SERVER_WAIT_MS 10000   /* timeoutMs: how long BigQuery may hold a call */
#define POLL_FIRST_MS 50
#define POLL_MAX_MS 1000
#define GET_RETRIES 4          /* failed getQueryResults in a row sent again: 200 ms .. 1.6 s */
#define GET_RETRY_FIRST_MS 200
#define GET_RETRY_AFTER_MAX_S 3600
#define MAX_RESULTS_CAP 100000
#define MAX_EMPTY_PAGES 1000
#define CANCEL_MAX_MS 3000     /* jobs.cancel: the most the whole step may take */

/* Where the type of the @cursor sent last came from (for error hints). */
enum type_from {
	TYPE_GUESSED = 0, /* from the value: nothing better was known */
	TYPE_CONFIG,      /* cursor_type */
	TYPE_COLUMN,      /* the cursor column's, from a result's schema */
	TYPE_PROBE,       /* a dry run trying a type (probes[] below) */
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
	char *page_token;
	struct bq_field *fields;
	size_t n_fields;
	struct rm_column *cols;
	struct rm_cell *cells;
	struct bq_text *scratch;    /* one per column: RECORD / REPEATED JSON */
};

/* ---- requests ---------------------------------------------------------------------- */

/* Waits ms in short slices; 1 when the hub stops meanwhile. */
static int wait_ms(struct bq_query *q, long ms)
{
	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;
		struct timespec d = {0, slice * 1000000L};
		if (q->call && q->host->should_stop(q->call))
			return 1;
		nanosleep(&d, NULL);
		ms -= slice;
	}
	return q->call && q->host->should_stop(q->call);
}

/* One API call with a token; a 401 drops the token and tries once more. */
static hub_rc api_call(struct bq_query *q, const char *url, const char *body, const char *what,
		       long *status, char *err, size_t err_size)
{
	for (int attempt = 0;; attempt++) {
		hub_rc rc;
		const char *token = bq_auth_token(q->auth, &q->http, q->host->now_ms(), &rc, err,
						  err_size);
		if (!token)
			return rc;
		rc = bq_http_request(&q->http, url, token, NULL, body, "application/json", what,
				     status, err, err_size);
		if (rc != HUB_OK || *status != 401 || attempt > 0 || !bq_auth_invalidate(q->auth))
			return rc;
	}
}

/* The requestId: the pending one when the same query failed in transit. */
static void request_id_for(struct bq_query *q, const char *param, int is_dry)
{
	int is_retry = !is_dry && q->has_pending &&
		       ((!param && !q->pending_param) ||
			(param && q->pending_param && strcmp(param, q->pending_param) == 0));

	if (!is_retry) {
		free(q->pending_param);
		q->pending_param = param ? strdup(param) : NULL;
		request_id_new(q->request_id, sizeof(q->request_id));
	}
	q->has_pending = !is_dry;
}

/* ---- the :cursor parameter --------------------------------------------------------- */

static int is_integer(const char *s)
{
	int64_t v;
	return bq_int64_check(s, &v) == 0;
}

static const char *guess_type(const char *param)
{
	int64_t sec;
	int32_t nsec;
	char *end;

	if (!param)
		return "TIMESTAMP";
	if (is_integer(param))
		return "INT64";
	if (rm_time_parse(param, &sec, &nsec) == 0)
		return "TIMESTAMP";
	if (*param && (strtod(param, &end), !*end) && !isalpha((unsigned char)*param))
		return "NUMERIC";
	return "STRING";
}

/* A time for a TIMESTAMP/DATETIME/DATE parameter, floored to the microsecond
 * (NULL: the first one, RM_TIME_FIRST). */
static int param_time(const char *param, int64_t *sec, int32_t *nsec)
{
	int64_t v;

	if (!param)
		param = RM_TIME_FIRST;
	if (bq_int64_check(param, &v) == 0) { /* epoch seconds */
		*sec = v;
		*nsec = 0;
		return 0;
	}
	return rm_time_parse(param, sec, nsec);
}

const char *bq_param_first(enum bq_type t)
{
	switch (t) {
	case BQ_T_TIMESTAMP:
	case BQ_T_DATETIME:
	case BQ_T_DATE: /* bq_param_for writes it as the type takes it */
		return RM_TIME_FIRST;
	case BQ_T_INT64:
		return "-9223372036854775808";
	case BQ_T_NUMERIC: /* 29 digits, 9 decimals */
		return "-99999999999999999999999999999.999999999";
	case BQ_T_BIGNUMERIC: /* -2^255 / 10^38 */
		return "-578960446186580977117854925043439539266."
		       "34992332820282019728792003956564819968";
	case BQ_T_FLOAT64: /* the lowest finite double */
		return "-1.7976931348623157e308";
	default: /* STRING, BYTES: the empty one sorts first */
		return "";
	}
}

/* A BYTES value: base64, as BigQuery writes BYTES cells and reads BYTES
 * parameters. */
static int is_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 >= n)
			pad++;
		else if (pad || !(isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/'))
			return 0;
	}
	return n % 4 == 0;
}

int bq_param_for(const char *type, const char *param, char *type_out, size_t type_size,
		 char *value, size_t value_size, char *err, size_t err_size)
{
	int64_t sec, y;
	int32_t nsec;
	int mo, d;
	char *end;
	enum bq_type t;

	if (!type)
		type = guess_type(param);
	t = bq_type_of(type);
	snprintf(type_out, type_size, "%s", bq_type_name(t));
	switch (t) {
	case BQ_T_TIMESTAMP:
	case BQ_T_DATETIME:
	case BQ_T_DATE: {
		int64_t days, rem;
		if (param_time(param, &sec, &nsec))
			break;
		/* floor division without sec - 86399, which overflows near
		 * INT64_MIN (as rm_time_format) */
		days = sec / 86400;
		rem = sec % 86400;
		if (rem < 0) {
			rem += 86400;
			days--;
		}
		rm_civil_from_days(days, &y, &mo, &d);
		if (y < 1 || y > 9999) /* BigQuery's range: it would refuse the query */
			break;
		if (t == BQ_T_DATE)
			snprintf(value, value_size, "%04lld-%02d-%02d", (long long)y, mo, d);
		else
			snprintf(value, value_size, "%04lld-%02d-%02d %02d:%02d:%02d.%06d%s",
				 (long long)y, mo, d, (int)(rem / 3600), (int)(rem / 60 % 60),
				 (int)(rem % 60), (int)(nsec / 1000),
				 t == BQ_T_TIMESTAMP ? "+00:00" : "");
		return 0;
	}
	case BQ_T_INT64:
		if (param && !is_integer(param))
			break;
		snprintf(value, value_size, "%s", param ? param : "0");
		return 0;
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
	case BQ_T_FLOAT64:
		if (param && (!*param || (strtod(param, &end), *end) ||
			      strlen(param) >= value_size))
			break;
		snprintf(value, value_size, "%s", param ? param : "0");
		return 0;
	case BQ_T_BYTES:
		if (param && (!is_base64(param) || strlen(param) >= value_size))
			break;
		snprintf(value, value_size, "%s", param ? param : "");
		return 0;
	case BQ_T_STRING:
		if (param && strlen(param) >= value_size)
			break;
		snprintf(value, value_size, "%s", param ? param : "");
		return 0;
	default:
		snprintf(err, err_size, "cursor_type: \"%.40s\" is not TIMESTAMP, DATETIME, DATE, "
			 "INT64, NUMERIC, BIGNUMERIC, FLOAT64, STRING or BYTES", type);
		return -1;
	}
	snprintf(err, err_size, "the cursor value \"%.100s\" does not read as %s (the type of "
		 "the :cursor parameter)", param ? param : "", type_out);
	return -1;
}

/* The text @cursor is bound to: param, else (no saved cursor, no
 * cursor_start) the first value of the type; NULL when the type is to be
 * guessed from the value. */
static const char *param_value(const char *type, const char *param)
{
	return param ? param : type ? bq_param_first(bq_type_of(type)) : NULL;
}

/* The cursor column's type, remembered for the next @cursor. */
static void learn_type(struct bq_query *q, struct rowmap *m)
{
	int i = rowmap_cursor_column(m);
	const struct bq_field *f;

	if (i < 0 || (size_t)i >= q->n_fields)
		return;
	f = &q->fields[i];
	if (f->is_repeated)
		return;
	switch (f->type) {
	case BQ_T_TIMESTAMP:
	case BQ_T_DATETIME:
	case BQ_T_DATE:
	case BQ_T_INT64:
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
	case BQ_T_FLOAT64:
	case BQ_T_STRING:
	case BQ_T_BYTES:
		snprintf(q->learned_type, sizeof(q->learned_type), "%s", bq_type_name(f->type));
		break;
	default:
		break;
	}
}

/* ---- results ----------------------------------------------------------------------- */

static void result_free(struct bq_query *q)
{
	json_decref(q->page);
	q->page = NULL;
	for (size_t i = 0; q->scratch && i < q->n_fields; i++)
		free(q->scratch[i].p);
	free(q->scratch);
	free(q->cols);
	free(q->cells);
	bq_fields_free(q->fields, q->n_fields);
	free(q->job_url);
	free(q->cancel_url);
	free(q->job_id);
	free(q->page_token);
	q->scratch = NULL;
	q->cols = NULL;
	q->cells = NULL;
	q->fields = NULL;
	q->job_url = NULL;
	q->cancel_url = NULL;
	q->job_id = NULL;
	q->is_job_running = 0;
	q->page_token = NULL;
	q->n_fields = q->row_no = 0;
}

static char *jobs_query_body(struct bq_query *q, const char *ptype, const char *pvalue,
			     int is_dry)
{
	json_t *body = json_pack("{s:s, s:b, s:s, s:[{s:s, s:{s:s}, s:{s:s}}], s:I, s:i, s:s, "
				 "s:{s:b}}",
				 "query", q->query, "useLegacySql", 0, "parameterMode", "NAMED",
				 "queryParameters", "name", "cursor", "parameterType", "type",
				 ptype, "parameterValue", "value", pvalue, "maxResults",
				 (json_int_t)q->max_results, "timeoutMs", SERVER_WAIT_MS,
				 "requestId", q->request_id,
				 "formatOptions", "useInt64Timestamp", 1);
	char *text = NULL;

	if (!body)
		return NULL;
	if (q->location)
		json_object_set_new(body, "location", json_string(q->location));
	if (is_dry)
		json_object_set_new(body, "dryRun", json_true());
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

/* A non-200 answer: the envelope's verdict, with a hint saying where the
 * @cursor type came from when it may be the cause. */
static hub_rc answer_error(struct bq_query *q, long status, char *err, size_t err_size)
{
	static const char *const why[TYPE_PROBE + 1] = {
		[TYPE_GUESSED] = "guessed from its value: set cursor_type if the column has "
				 "another type",
		[TYPE_CONFIG] = "as cursor_type says",
		[TYPE_COLUMN] = "the type of the first cursor column: set cursor_type if the "
				"query compares :cursor with another type",
	};
	hub_rc rc = bq_error_decode(status, q->http.resp.p, q->http.retry_after, err, err_size);
	char reason[64];
	size_t n = strlen(err);

	if (rc == HUB_ERR_CONFIG && why[q->sent_from] &&
	    strcmp(bq_error_reason(q->http.resp.p, reason, sizeof(reason)), "invalidQuery") == 0 &&
	    (strstr(err, "signature") || strstr(err, "cursor")))
		snprintf(err + n, err_size - n, " (@cursor was sent as %s, %s)", q->sent_type,
			 why[q->sent_from]);
	return rc;
}

static hub_rc take_json(struct bq_query *q, json_t **out, const char *what, char *err,
			size_t err_size)
{
	if (!(*out = json_loads(q->http.resp.p, 0, NULL)) || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, err_size, "%s: an answer that is not a JSON object", what);
		return HUB_ERR_INTERNAL;
	}
	return HUB_OK;
}

/* .../queries/{jobId}?maxResults=N&timeoutMs=T[&location=L]&formatOptions...: the
 * getQueryResults URL of the job in root (a jobs.query answer), and its
 * jobs.cancel URL. */
static hub_rc make_job_url(struct bq_query *q, json_t *root, char *err, size_t err_size)
{
	json_t *ref = json_object_get(root, "jobReference");
	const char *job = json_string_value(json_object_get(ref, "jobId"));
	const char *proj = json_string_value(json_object_get(ref, "projectId"));
	const char *loc = json_string_value(json_object_get(ref, "location"));
	char *job_esc = job ? bq_http_escape(&q->http, job) : NULL;
	char *proj_esc = proj ? bq_http_escape(&q->http, proj) : NULL;
	char *loc_esc = loc ? bq_http_escape(&q->http, loc) : NULL;
	const char *l = loc_esc ? loc_esc : q->location_esc;
	size_t n;
	hub_rc rc = HUB_OK;

	free(q->job_url);
	free(q->cancel_url);
	free(q->job_id);
	q->job_url = q->cancel_url = q->job_id = NULL;
	if (!job) {
		snprintf(err, err_size, "jobs.query: an answer without jobReference.jobId");
		rc = HUB_ERR_INTERNAL;
		goto out;
	}
	n = strlen(q->base) + strlen(proj_esc ? proj_esc : q->project_esc) +
	    (job_esc ? strlen(job_esc) : 0) + (l ? strlen(l) : 0) + 160;
	if (!job_esc || (proj && !proj_esc) || (loc && !loc_esc) || !(q->job_url = malloc(n)) ||
	    !(q->cancel_url = malloc(n)) || !(q->job_id = strdup(job))) {
		snprintf(err, err_size, "out of memory");
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	snprintf(q->job_url, n,
		 "%s/bigquery/v2/projects/%s/queries/%s?maxResults=%zu&timeoutMs=%d"
		 "&formatOptions.useInt64Timestamp=true%s%s",
		 q->base, proj_esc ? proj_esc : q->project_esc, job_esc, q->max_results,
		 SERVER_WAIT_MS, l ? "&location=" : "", l ? l : "");
	snprintf(q->cancel_url, n, "%s/bigquery/v2/projects/%s/jobs/%s/cancel%s%s", q->base,
		 proj_esc ? proj_esc : q->project_esc, job_esc, l ? "?location=" : "", l ? l : "");
out:
	free(job_esc);
	free(proj_esc);
	free(loc_esc);
	return rc;
}

/* The wait before getQueryResults number n_failed + 1 after a transient
 * failure (err): doubling from GET_RETRY_FIRST_MS, or the server's
 * Retry-After when longer.  Logged, as the hub logs its own retries. */
static long get_retry_delay(struct bq_query *q, int n_failed, const char *err)
{
	long ms = retry_wait_ms(n_failed, GET_RETRY_FIRST_MS, q->http.retry_after,
				GET_RETRY_AFTER_MAX_S);

	q->host->log(q->inst, HUB_LOG_WARN, "getQueryResults: %s (sent again, %d of %d, in %ld ms)",
		     err, n_failed + 1, GET_RETRIES, ms);
	return ms;
}

/* GET the job's results (first page, or the one after q->page_token) until
 * jobComplete; *out the answer.  A GET that fails in transit or with a
 * transient error (429, 5xx, backendError) is sent again as it was (the
 * same jobId and pageToken: the job runs on, the pages already read stay
 * read), GET_RETRIES times in a row at most; only then, or when the
 * results are gone (404), does the pull fail and the query run again. */
static hub_rc get_results(struct bq_query *q, int with_token, json_t **out, char *err,
			  size_t err_size)
{
	char *url = NULL, *tok = NULL;
	long status, delay = POLL_FIRST_MS, wait;
	int n_failed = 0;
	json_t *root;
	hub_rc rc;

	*out = NULL;
	if (with_token) {
		size_t n;
		if (!(tok = bq_http_escape(&q->http, q->page_token)) ||
		    !(url = malloc((n = strlen(q->job_url) + strlen(tok) + 16)))) {
			free(tok);
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		snprintf(url, n, "%s&pageToken=%s", q->job_url, tok);
		free(tok);
	}
	for (;;) {
		rc = api_call(q, url ? url : q->job_url, NULL, "getQueryResults", &status, err,
			      err_size);
		if (rc == HUB_OK && status == 404) { /* the results expired: run the query again */
			snprintf(err, err_size, "getQueryResults: the job's results are gone (HTTP "
				 "404): the query runs again");
			q->is_job_running = 0; /* nothing left to cancel */
			rc = HUB_RETRY;
			break;
		}
		if (rc == HUB_OK && status == 400) /* the job's own failure: it has ended */
			q->is_job_running = 0;
		if (rc == HUB_OK && status != 200)
			rc = answer_error(q, status, err, err_size);
		if (rc == HUB_RETRY && n_failed < GET_RETRIES) {
			wait = get_retry_delay(q, n_failed++, err);
		} else if (rc != HUB_OK) {
			break;
		} else {
			if ((rc = take_json(q, &root, "getQueryResults", err, err_size)) != HUB_OK)
				break;
			if (json_is_true(json_object_get(root, "jobComplete"))) {
				q->is_job_running = 0;
				*out = root;
				break;
			}
			json_decref(root);
			n_failed = 0;
			wait = delay;
			delay = delay * 2 < POLL_MAX_MS ? delay * 2 : POLL_MAX_MS;
		}
		if (wait_ms(q, wait)) {
			snprintf(err, err_size, "stopped while the query ran");
			rc = HUB_ERR_STOPPED;
			break;
		}
	}
	free(url);
	return rc;
}

/* Asks BigQuery to cancel the job given up on before it completed (the
 * hub stops, its polls keep failing or are refused), so that it does not
 * run on, billed, with no one to read it; not one known to have ended (a
 * poll answered with its failure, 400).  Best effort and bounded: the
 * whole step, a token renewed, a 401 and the token renewed again
 * included, takes CANCEL_MAX_MS at most (each request up to 3 s, it took
 * up to 12 s), whether the hub stops or not; a cancel that fails is
 * logged (never the URL's query string, never a token) and the pull's own
 * error stands. */
static void job_cancel(struct bq_query *q)
{
	char err[512];
	long status = 0;
	hub_rc rc;

	q->is_job_running = 0;
	q->http.deadline_ms = bq_http_now_ms() + CANCEL_MAX_MS;
	rc = api_call(q, q->cancel_url, "", "jobs.cancel", &status, err, sizeof(err));
	q->http.deadline_ms = 0;
	if (rc == HUB_OK && status == 200)
		return;
	if (rc == HUB_OK)
		bq_error_decode(status, q->http.resp.p, q->http.retry_after, err, sizeof(err));
	q->host->log(q->inst, HUB_LOG_WARN, "could not cancel job %s: %s", q->job_id, err);
}

/* Runs jobs.query to its first page of results (or, dry, its schema), with
 * @cursor of `type` (NULL: guessed from param) bound to param (NULL: the
 * first value of the type, bq_param_first). */
static hub_rc run_query(struct bq_query *q, const char *type, const char *param, int is_dry,
			json_t **out, char *err, size_t err_size)
{
	char ptype[16], pvalue[1024], url[2048], *body;
	json_t *root = NULL;
	long status = 0;
	hub_rc rc;

	*out = NULL;
	if (bq_param_for(type, param_value(type, param), ptype, sizeof(ptype), pvalue,
			 sizeof(pvalue), err, err_size))
		return HUB_ERR_CONFIG;
	snprintf(q->sent_type, sizeof(q->sent_type), "%s", ptype);
	request_id_for(q, param, is_dry);
	if (!(body = jobs_query_body(q, ptype, pvalue, is_dry))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	snprintf(url, sizeof(url), "%s/bigquery/v2/projects/%s/queries", q->base, q->project_esc);
	rc = api_call(q, url, body, "jobs.query", &status, err, err_size);
	free(body);
	if (rc != HUB_OK)
		return rc; /* in transit: the same requestId next time */
	if (status != 200) {
		rc = answer_error(q, status, err, err_size);
		if (rc != HUB_RETRY)
			q->has_pending = 0;
		return rc;
	}
	q->has_pending = 0;
	if ((rc = take_json(q, &root, "jobs.query", err, err_size)) != HUB_OK)
		return rc;
	if (is_dry || json_is_true(json_object_get(root, "jobComplete"))) {
		if (!is_dry && (rc = make_job_url(q, root, err, err_size)) != HUB_OK &&
		    json_object_get(root, "pageToken")) {
			json_decref(root);
			return rc; /* more pages, but no job to read them from */
		}
		*out = root;
		return HUB_OK;
	}
	rc = make_job_url(q, root, err, err_size);
	json_decref(root);
	if (rc != HUB_OK)
		return rc;
	q->is_job_running = 1;
	if ((rc = get_results(q, 0, out, err, err_size)) != HUB_OK && q->is_job_running)
		job_cancel(q); /* a retry runs it anew: this one must stop */
	return rc;
}

/* Takes a page: the schema on the first one, its rows, its pageToken. */
static hub_rc take_page(struct bq_query *q, json_t *root, char *err, size_t err_size)
{
	const char *tok = json_string_value(json_object_get(root, "pageToken"));

	json_decref(q->page);
	q->page = root;
	q->row_no = 0;
	free(q->page_token);
	q->page_token = NULL;
	if (tok && *tok && !(q->page_token = strdup(tok))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (!json_is_array(json_object_get(root, "rows")) && json_object_get(root, "rows")) {
		snprintf(err, err_size, "getQueryResults: rows is not an array");
		return HUB_ERR_INTERNAL;
	}
	return HUB_OK;
}

static hub_rc take_schema(struct bq_query *q, json_t *root, struct rowmap *m, char *err,
			  size_t err_size)
{
	if (bq_schema_parse(json_object_get(json_object_get(root, "schema"), "fields"), &q->fields,
			    &q->n_fields, err, err_size))
		return HUB_ERR_INTERNAL;
	q->cols = calloc(q->n_fields, sizeof(*q->cols));
	q->cells = calloc(q->n_fields, sizeof(*q->cells));
	q->scratch = calloc(q->n_fields, sizeof(*q->scratch));
	if (!q->cols || !q->cells || !q->scratch) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	for (size_t i = 0; i < q->n_fields; i++) {
		q->cols[i].name = q->fields[i].name;
		q->cols[i].type = bq_rm_type(&q->fields[i]);
	}
	if (rowmap_bind(m, q->cols, q->n_fields, err, err_size))
		return HUB_ERR_CONFIG;
	learn_type(q, m);
	return HUB_OK;
}

/* ---- the cursor column's type, before the first query --------------------------------- */

/*
 * The dry runs that learn the first cursor column's type.  BigQuery checks
 * `col >= @cursor` before it answers even a dry run, so @cursor needs a
 * type that suits the column before the column's type is known: these are
 * tried in turn, and the first one accepted wins (its result's schema then
 * names the column's own type).  A STRING parameter coerces to DATE,
 * DATETIME, TIME and TIMESTAMP (the value must read as each: a date does),
 * INT64 to NUMERIC, BIGNUMERIC and FLOAT64, DATE to DATETIME; TIMESTAMP and
 * DATE cover a query where the STRING coercion does not apply.
 */
static const struct {
	const char *type, *value;
} probes[] = {
	{"STRING", "1970-01-01"},
	{"INT64", "0"},
	{"TIMESTAMP", "1970-01-01 00:00:00+00:00"},
	{"DATE", "1970-01-01"},
	{"BYTES", ""},
};

/* BigQuery refused the query for @cursor's type (err from answer_error):
 * the next probe may fit. */
static int is_type_refused(hub_rc rc, const char *err)
{
	return rc == HUB_ERR_CONFIG && strstr(err, "BigQuery invalidQuery") &&
	       strstr(err, "No matching signature");
}

/* Dry runs until one is accepted (probes[]); its schema binds the map and
 * sets learned_type (when the column's type is one a parameter can have).
 * Any error but a refused type ends it; when every type is refused, the
 * first refusal is the error. */
static hub_rc probe_type(struct bq_query *q, struct rowmap *m, char *err, size_t err_size)
{
	const size_t n = sizeof(probes) / sizeof(probes[0]);
	char first[512] = "";
	hub_rc rc = HUB_OK;
	json_t *root;

	for (size_t i = 0; i < n; i++) {
		q->sent_from = TYPE_PROBE;
		rc = run_query(q, probes[i].type, probes[i].value, 1, &root, err, err_size);
		if (rc == HUB_OK) {
			q->is_probed = 1;
			if (json_object_get(root, "schema"))
				rc = take_schema(q, root, m, err, err_size);
			json_decref(root);
			result_free(q);
			return rc;
		}
		if (!is_type_refused(rc, err))
			return rc;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", err);
	}
	snprintf(err, err_size, "%s (dry runs found no @cursor type the query accepts: STRING, "
		 "INT64, TIMESTAMP, DATE and BYTES were tried; set cursor_type)", first);
	return rc;
}

/* @cursor's type for the next query (*type NULL: guess it from the value):
 * cursor_type, else the cursor column's, learned by dry runs before a
 * process's first query.  *did_probe (may be NULL) says whether this call
 * ran them. */
static hub_rc cursor_type_for(struct bq_query *q, struct rowmap *m, const char **type,
			      int *did_probe, char *err, size_t err_size)
{
	hub_rc rc;

	*type = NULL;
	if (did_probe)
		*did_probe = 0;
	if (q->cursor_type) {
		q->sent_from = TYPE_CONFIG;
		*type = q->cursor_type;
		return HUB_OK;
	}
	if (!q->learned_type[0] && !q->is_probed) {
		if ((rc = probe_type(q, m, err, err_size)) != HUB_OK)
			return rc;
		if (did_probe)
			*did_probe = 1;
	}
	q->sent_from = q->learned_type[0] ? TYPE_COLUMN : TYPE_GUESSED;
	*type = q->learned_type[0] ? q->learned_type : NULL;
	return HUB_OK;
}

/* ---- the reader -------------------------------------------------------------------- */

static hub_rc q_open(void *t, struct rowmap *m, const char *param, size_t batch_hint, char *err,
		     size_t err_size)
{
	struct bq_query *q = t;
	const char *type;
	json_t *root;
	hub_rc rc;

	result_free(q);
	q->max_results = batch_hint < 1 ? 1 : batch_hint > MAX_RESULTS_CAP ? MAX_RESULTS_CAP
									 : batch_hint;
	if ((rc = cursor_type_for(q, m, &type, NULL, err, err_size)) != HUB_OK ||
	    (rc = run_query(q, type, param, 0, &root, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = take_schema(q, root, m, err, err_size)) != HUB_OK ||
	    (rc = take_page(q, root, err, err_size)) != HUB_OK) {
		if (q->page != root)
			json_decref(root);
		result_free(q);
	}
	return rc;
}

static hub_rc q_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct bq_query *q = t;
	json_t *rows = json_object_get(q->page, "rows"), *r, *cells, *root;
	size_t n_empty = 0;
	hub_rc rc;

	while (q->row_no >= json_array_size(rows)) {
		if (!q->page_token)
			return HUB_OK;
		if (!q->job_url) {
			snprintf(err, err_size, "jobs.query: a pageToken without a job");
			return HUB_ERR_INTERNAL;
		}
		if (++n_empty > MAX_EMPTY_PAGES) {
			snprintf(err, err_size, "getQueryResults: %d pages without rows",
				 MAX_EMPTY_PAGES);
			return HUB_ERR_INTERNAL;
		}
		if ((rc = get_results(q, 1, &root, err, err_size)) != HUB_OK)
			return rc;
		if ((rc = take_page(q, root, err, err_size)) != HUB_OK)
			return rc;
		rows = json_object_get(q->page, "rows");
	}
	r = json_array_get(rows, q->row_no++);
	cells = json_object_get(r, "f");
	if (!json_is_array(cells) || json_array_size(cells) != q->n_fields) {
		snprintf(err, err_size, "a row without its %zu cells", q->n_fields);
		return HUB_ERR_INTERNAL;
	}
	for (size_t i = 0; i < q->n_fields; i++)
		if ((rc = bq_cell_decode(&q->fields[i],
					 json_object_get(json_array_get(cells, i), "v"), 1,
					 &q->cells[i], &q->scratch[i], err, err_size)) != HUB_OK)
			return rc;
	*row = q->cells;
	return HUB_MORE;
}

static void q_close(void *t)
{
	result_free(t);
}

const struct rp_reader_ops bq_query_ops = {
	.open = q_open,
	.next = q_next,
	.close = q_close,
};

hub_rc bq_query_check(struct bq_query *q, struct rowmap *m, const char *param, char *err,
		      size_t err_size)
{
	char ptype[16], pvalue[1024];
	const char *type;
	int did_probe;
	json_t *root;
	hub_rc rc;

	result_free(q);
	q->max_results = 1;
	if ((rc = cursor_type_for(q, m, &type, &did_probe, err, err_size)) != HUB_OK)
		return rc;
	if (did_probe) { /* the query and the map passed a dry run: the value is left */
		if (bq_param_for(type, param_value(type, param), ptype, sizeof(ptype), pvalue,
				 sizeof(pvalue), err, err_size))
			return HUB_ERR_CONFIG;
		return HUB_OK;
	}
	if ((rc = run_query(q, type, param, 1, &root, err, err_size)) != HUB_OK)
		return rc;
	if (json_object_get(root, "schema"))
		rc = take_schema(q, root, m, err, err_size);
	json_decref(root);
	result_free(q);
	return rc;
}

/* ---- lifecycle --------------------------------------------------------------------- */

void bq_query_set_call(struct bq_query *q, struct hub_call *call)
{
	q->call = call;
}

int bq_query_new(const struct hub_host *host, const struct hub_instance *inst,
		 const struct bq_query_config *cfg, struct bq_query **out, char *err,
		 size_t err_size)
{
	struct bq_query *q = calloc(1, sizeof(*q));
	size_t n;

	*out = NULL;
	if (!q) {
		bq_auth_free(cfg->auth);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	q->host = host;
	q->inst = inst;
	q->auth = cfg->auth;
	if (bq_http_init(&q->http, err, err_size))
		goto fail;
	if (!(q->base = strdup(cfg->endpoint ? cfg->endpoint : BQ_DEFAULT_ENDPOINT)) ||
	    !(q->query = strdup(cfg->query)) ||
	    !(q->project_esc = bq_http_escape(&q->http, cfg->project)) ||
	    (cfg->location && (!(q->location = strdup(cfg->location)) ||
			       !(q->location_esc = bq_http_escape(&q->http, cfg->location)))) ||
	    (cfg->cursor_type && !(q->cursor_type = strdup(cfg->cursor_type)))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	n = strlen(q->base);
	while (n && q->base[n - 1] == '/')
		q->base[--n] = '\0';
	if (strncmp(q->base, "https://", 8) != 0 && strncmp(q->base, "http://", 7) != 0) {
		snprintf(err, err_size, "endpoint: expected an http:// or https:// URL");
		goto fail;
	}
	*out = q;
	return 0;
fail:
	bq_query_free(q);
	return -1;
}

void bq_query_free(struct bq_query *q)
{
	if (!q)
		return;
	result_free(q);
	bq_http_cleanup(&q->http);
	bq_auth_free(q->auth);
	free(q->pending_param);
	free(q->base);
	free(q->project_esc);
	free(q->location);
	free(q->location_esc);
	free(q->query);
	free(q->cursor_type);
	free(q);
}
