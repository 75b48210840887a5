/*
 * bq_job.c - one query job over BigQuery's REST API v2:
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
 * A jobs.query that failed in transit is sent again with the same
 * requestId within the run, so BigQuery runs it once (the next run's is
 * a new one: bq_query_run_end); a getQueryResults that failed
 * (in transit, 429, 5xx) is sent again as it was, so a job that ran is
 * read, not run again (bq_get_results).  The waits before either, a
 * Retry-After's, are RUN_WAIT_MAX_MS in all in one run: a longer one ends
 * the run (run_wait_take).  Failures keep Google's reason
 * (bq_error.c), a job's that failed in a 200 answer (errors[], no
 * schema) too.
 *
 * Never decodes a row nor binds the map (bq_query.c takes the pages this
 * hands back), and never logs a URL's query string or a token.
 */
#include "bq_query_int.h"
#include "../common/request_id.h"
#include "../common/retry_wait.h"
#include "../common/transient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVER_WAIT_MS 10000   /* timeoutMs: how long BigQuery may hold a call */
#define POLL_FIRST_MS 50
#define POLL_MAX_MS 1000
#define GET_RETRIES 4          /* failed getQueryResults in a row sent again: 200 ms .. 1.6 s */
#define GET_RETRY_FIRST_MS 200
#define GET_RETRY_AFTER_MAX_S 3600
/* The most one run waits in all before requests sent again, a server's
 * Retry-After included (4 in-place resends of up to an hour each held a
 * run, and its source, for 4 h): a longer wait ends the run and the
 * scheduler's next one, after it, starts over from the checkpoint. */
#define RUN_WAIT_MAX_MS (5 * 60 * 1000L)

/* GET_RETRY_FIRST_MS, RUN_WAIT_MAX_MS; the unit tests, which compile this
 * file in, shorten them */
static long get_retry_first_ms = GET_RETRY_FIRST_MS;
static long run_wait_max_ms = RUN_WAIT_MAX_MS;
#define CANCEL_MAX_MS 3000     /* jobs.cancel: the most the whole step may take */

/* ---- requests ---------------------------------------------------------------------- */

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

/* The requestId: the pending one when the same query failed in transit
 * in this run. */
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

void bq_query_run_end(struct bq_query *q)
{
	q->run_waited_ms = 0;
	q->has_pending = 0;
	free(q->pending_param);
	q->pending_param = NULL;
}

/* ---- the job ----------------------------------------------------------------------- */

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

/* A job still running past query_timeout (since jobs.query accepted it):
 * given up, as a query that never ends (a queue, a lock) would hold its
 * source for ever; said into err.  1 when past it. */
static int job_past_timeout(const struct bq_query *q, char *err, size_t err_size)
{
	if (!q->timeout_ms || mono_clock_ms() - q->job_started_ms < q->timeout_ms)
		return 0;
	snprintf(err, err_size, "job %s still running after query_timeout (%lld s): cancelled, "
		 "the run is retried (raise query_timeout for a query this long)",
		 q->job_id ? q->job_id : "?", (long long)(q->timeout_ms / 1000));
	return 1;
}

/*
 * A wait of wait_ms before a request goes again after err (HUB_RETRY, a
 * server's Retry-After in it as "retry after Ns: "), taken within this run
 * while the run's waits stay within run_wait_max_ms in all (counted; the
 * hub waits for a jobs.query's).  Past that, HUB_ERR_BUSY: the run ends
 * without waiting (the hub tries only HUB_RETRY again within a run), err
 * naming the wait asked for, which the scheduler keeps before the next
 * run, and that run starts over from the checkpoint.  Else HUB_RETRY.
 */
static hub_rc run_wait_take(struct bq_query *q, long wait_ms, char *err, size_t err_size)
{
	size_t n = strlen(err);

	if (wait_ms <= run_wait_max_ms - q->run_waited_ms) {
		q->run_waited_ms += wait_ms;
		return HUB_RETRY;
	}
	snprintf(err + n, err_size - n, " (a wait of %ld s asked for; this run has waited %ld s "
		 "of the %ld s it may: it ends, and the next run starts over from the checkpoint)",
		 (wait_ms + 999) / 1000, q->run_waited_ms / 1000, run_wait_max_ms / 1000);
	return HUB_ERR_BUSY;
}

/* The wait before getQueryResults number n_failed + 1 after a transient
 * failure (err): doubling from GET_RETRY_FIRST_MS, or the server's
 * Retry-After when longer; *wait_ms.  Within the run's waits (run_wait_take)
 * it is logged, as the hub logs its own retries, and HUB_RETRY; past them,
 * HUB_ERR_BUSY. */
static hub_rc get_retry_delay(struct bq_query *q, int n_failed, long *wait_ms, char *err,
			      size_t err_size)
{
	hub_rc rc;

	*wait_ms = retry_wait_ms(n_failed, get_retry_first_ms, q->http.retry_after,
				 GET_RETRY_AFTER_MAX_S);
	if ((rc = run_wait_take(q, *wait_ms, err, err_size)) == HUB_RETRY)
		q->host->log(q->inst, HUB_LOG_WARN,
			     "getQueryResults: %s (sent again, %d of %d, in %ld ms)", err,
			     n_failed + 1, GET_RETRIES, *wait_ms);
	return rc;
}

/* GET the job's results (first page, or the one after q->page_token) until
 * jobComplete; *out the answer.  A GET that fails in transit or with a
 * transient error (429, 5xx, backendError) is sent again as it was (the
 * same jobId and pageToken: the job runs on, the pages already read stay
 * read), GET_RETRIES times in a row at most; only then, or when the
 * results are gone (404), does the pull fail and the query run again. */
hub_rc bq_get_results(struct bq_query *q, int with_token, json_t **out, char *err,
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
		if (rc == HUB_RETRY && n_failed < GET_RETRIES &&
		    (rc = get_retry_delay(q, n_failed, &wait, err, err_size)) == HUB_RETRY) {
			n_failed++;
		} else if (rc != HUB_OK) {
			break;
		} else {
			if ((rc = take_json(q, &root, "getQueryResults", err, err_size)) != HUB_OK)
				break;
			if (json_is_true(json_object_get(root, "jobComplete"))) {
				q->is_job_running = 0;
				if ((rc = bq_error_of_job(root, err, err_size)) != HUB_OK)
					json_decref(root); /* it ended: asked again, the same */
				else
					*out = root;
				break;
			}
			json_decref(root);
			if (job_past_timeout(q, err, err_size)) {
				rc = HUB_RETRY; /* the caller cancels the job */
				break;
			}
			n_failed = 0;
			wait = delay;
			delay = delay * 2 < POLL_MAX_MS ? delay * 2 : POLL_MAX_MS;
		}
		if (transient_wait(q->host, q->call, wait)) {
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
	q->http.deadline_ms = mono_clock_ms() + CANCEL_MAX_MS;
	q->http.stop.call = NULL; /* it goes out while the hub stops: CANCEL_MAX_MS bounds it */
	rc = api_call(q, q->cancel_url, "", "jobs.cancel", &status, err, sizeof(err));
	q->http.stop.call = q->call;
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
hub_rc bq_run_query(struct bq_query *q, const char *type, const char *param, int is_dry,
		    json_t **out, char *err, size_t err_size)
{
	char ptype[16], pvalue[1024], url[2048], *body;
	json_t *root = NULL;
	long status = 0;
	hub_rc rc;

	*out = NULL;
	if (bq_param_for(type, bq_param_value(type, param), ptype, sizeof(ptype), pvalue,
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
		if (rc == HUB_RETRY && q->http.retry_after[0]) /* the hub waits it */
			rc = run_wait_take(q, retry_wait_ms(0, 0, q->http.retry_after,
							    GET_RETRY_AFTER_MAX_S),
					   err, err_size);
		if (rc != HUB_RETRY)
			q->has_pending = 0;
		return rc;
	}
	q->has_pending = 0;
	if ((rc = take_json(q, &root, "jobs.query", err, err_size)) != HUB_OK)
		return rc;
	if ((rc = bq_error_of_job(root, err, err_size)) != HUB_OK) {
		json_decref(root);
		return rc;
	}
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
	q->job_started_ms = mono_clock_ms();
	if ((rc = bq_get_results(q, 0, out, err, err_size)) != HUB_OK && q->is_job_running)
		job_cancel(q); /* a retry runs it anew: this one must stop */
	return rc;
}
