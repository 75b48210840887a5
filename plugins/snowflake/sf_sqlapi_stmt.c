/*
 * sf_sqlapi_stmt.c - the sql_api transport's statements: one sent and
 * waited for until it answers with its first partition.
 *
 * :cursor is bound as TEXT to the saved cursor value (or cursor_start), and
 * Snowflake casts it to the column's type.  A first run (neither) binds the
 * start of the first cursor column's type: 0001-01-01 for times and dates
 * (RM_TIME_FIRST, as a saved cursor is written), midnight for TIME, "" for
 * text, the lowest double for numbers, false for booleans.  That type comes
 * with every result's rowType; before a process's first result, the query
 * with LIMIT 0 learns it.
 *
 * A POST that failed in transit (its answer cut, with a length or
 * without one) or with 429/503 is sent again with the same requestId and
 * retry=true, so Snowflake runs the statement at most once; a statement
 * that ran and failed (422) or timed out (a 408 naming it) runs again
 * under a new one, and so does the next run's (sf_api_run_end): Snowflake
 * would answer the requestId with the result it made for the earlier run.
 * A 202 (or a 200 whose code, 333334, says it still runs) is polled until
 * the statement answers; a 200 with any code but 090001 is an error naming
 * it, never read as rows.  A statement given up on
 * (the hub stops, its polls keep failing, it still runs query_timeout
 * after it was sent) is cancelled.  A poll answered 404 (the handle
 * unknown to the endpoint that gave it) is retried as a run, the
 * statement cancelled should it run on.
 *
 * Never puts the cursor value into the SQL text (it is a binding), and
 * never reads a result set's columns or rows (sf_sqlapi_result.c).
 */
#include "sf_sqlapi_int.h"
#include "../common/request_id.h"
#include "../common/retry_wait.h"
#include "../common/transient.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATEMENT_TIMEOUT_S SF_QUERY_TIMEOUT_DEFAULT_S
#define POLL_FIRST_MS 100
#define POLL_MAX_MS 2000
#define POLL_RETRIES 4          /* failed polls in a row sent again: 200 ms .. 1.6 s */
#define POLL_RETRY_FIRST_MS 200
#define CANCEL_MAX_MS 3000      /* a cancel's transfer, at most */

/* CANCEL_MAX_MS; the unit tests, which compile this file in, shorten it */
static long cancel_max_ms = CANCEL_MAX_MS;

/* Snowflake's statement handles are UUIDs; they go into URLs. */
#define HANDLE_MAX 128

/* A bind variable of the SQL API: a Snowflake type and a value as text. */
struct binding {
	const char *type, *value;
};

/* :cursor on a first run (no saved cursor, no cursor_start): a value at or
 * before every value of the first cursor column's type, so the first run
 * reads every row.  Until that type is known (the LIMIT 0 that learns it,
 * which reads no row), "0", which every type the SQL API returns reads (as
 * the epoch for times). */
static struct binding first_binding(const struct sf_api *a)
{
	if (!a->is_kind_known)
		return (struct binding){"TEXT", "0"};
	switch (a->cursor_kind) {
	case K_FIXED:
	case K_REAL:
	case K_DECFLOAT:
		/* the lowest double; a REAL, so a NUMBER(p, s) column compares
		 * with it as a float instead of casting it to its own precision
		 * (a DECFLOAT below it could not be read: out of range) */
		return (struct binding){"REAL", "-1.7976931348623157e308"};
	case K_BOOLEAN:
		return (struct binding){"BOOLEAN", "false"};
	case K_DATE:
	case K_TIMESTAMP_NTZ:
	case K_TIMESTAMP_LTZ:
	case K_TIMESTAMP_TZ:
		/* DATE reads a TIMESTAMP's text too (the time truncated) */
		return (struct binding){"TEXT", RM_TIME_FIRST};
	case K_TIME:
		/* midnight: "" is no TIME (Snowflake casts the text to the
		 * column's type, and refuses it: 22007) */
		return (struct binding){"TEXT", "00:00:00"};
	default:
		return (struct binding){"TEXT", ""}; /* text: the empty string sorts first */
	}
}

/* :cursor: the saved cursor value (or cursor_start) as TEXT, which
 * Snowflake casts to the column's type; NULL on a first run. */
static struct binding cursor_binding(const struct sf_api *a, const char *param)
{
	return param ? (struct binding){"TEXT", param} : first_binding(a);
}

/* The statement's timeout in seconds, as the request body says it. */
static json_int_t statement_timeout_s(const struct sf_api *a)
{
	return (json_int_t)(sf_sqlapi_query_timeout_ms(a) / 1000);
}

/* A statement still running (202) query_timeout after it was sent
 * (sent_ms, monotonic): given up, said into err.  Snowflake's own
 * `timeout` counts the time it runs, not the time it waits in a queued
 * warehouse's queue, so a statement that never leaves the queue held its
 * source, polled, for ever.  1 when past it. */
static int statement_past_timeout(const struct sf_api *a, const char *handle, int64_t sent_ms,
				  char *err, size_t err_size)
{
	int64_t timeout_ms = sf_sqlapi_query_timeout_ms(a);

	if (mono_clock_ms() - sent_ms < timeout_ms)
		return 0;
	snprintf(err, err_size, "statement %s still running after query_timeout (%lld s): "
		 "cancelled, the run is retried (raise query_timeout for a query this long, or "
		 "look at the warehouse's queue)", handle, (long long)(timeout_ms / 1000));
	return 1;
}

static char *statement_body(struct sf_api *a, const char *statement, const char *param)
{
	json_t *body = json_pack("{s:s, s:I}", "statement", statement, "timeout",
				 statement_timeout_s(a));
	json_t *bindings = json_object();
	struct binding b = cursor_binding(a, param);
	char key[16], *text = NULL;

	if (!body || !bindings)
		goto out;
	for (int i = 1; i <= a->n_params; i++) {
		snprintf(key, sizeof(key), "%d", i);
		json_object_set_new(bindings, key, json_pack("{s:s, s:s}", "type", b.type, "value",
							     b.value));
	}
	json_object_set(body, "bindings", bindings);
	if (a->database)
		json_object_set_new(body, "database", json_string(a->database));
	if (a->schema)
		json_object_set_new(body, "schema", json_string(a->schema));
	if (a->warehouse)
		json_object_set_new(body, "warehouse", json_string(a->warehouse));
	if (a->role)
		json_object_set_new(body, "role", json_string(a->role));
	/* TIMESTAMP_LTZ and _TZ as UTC instants */
	json_object_set_new(body, "parameters", json_pack("{s:s}", "TIMEZONE", "UTC"));
	text = json_dumps(body, JSON_COMPACT);
out:
	json_decref(bindings);
	json_decref(body);
	return text;
}

/* The request id for this request body: the pending one again
 * (retry=true) when the same request (statement, bindings) failed in
 * transit in this run, else a new one. */
static int request_id_for(struct sf_api *a, const char *body)
{
	int is_retry = a->has_pending && a->pending_body && strcmp(body, a->pending_body) == 0;

	if (!is_retry) {
		free(a->pending_body);
		a->pending_body = strdup(body); /* NULL: no retry=true, a new id next time */
		request_id_new(a->request_id, sizeof(a->request_id));
	}
	a->has_pending = 1;
	return is_retry;
}

void sf_api_run_end(struct sf_api *a)
{
	a->has_pending = 0;
	free(a->pending_body);
	a->pending_body = NULL;
}

/* 1 when a poll's answer (not 200 or 202; err set from it) is a
 * transient failure of the poll itself (429, a gateway's 408, 5xx), not
 * the statement's outcome (a 422 is its SQL failing, a 408 naming it its
 * timeout: polled again, it answers the same). */
static int is_poll_transient(struct sf_api *a, long status, char *err, size_t err_size)
{
	return !sf_sqlapi_is_statement_outcome(a, status) &&
	       sf_sqlapi_status_error(a, status, err, err_size) == HUB_RETRY;
}

/* The wait before poll number n_failed + 1 after a transient failure
 * (err): doubling from POLL_RETRY_FIRST_MS, or the server's Retry-After
 * when longer.  Logged, as the hub logs its own retries. */
static long poll_retry_delay(struct sf_api *a, int n_failed, const char *err)
{
	long ms = retry_wait_ms(n_failed, POLL_RETRY_FIRST_MS, a->retry_after, STATEMENT_TIMEOUT_S);

	a->host->log(a->inst, HUB_LOG_WARN, "polling the statement: %s (polled again, %d of %d, "
		     "in %ld ms)", err, n_failed + 1, POLL_RETRIES, ms);
	return ms;
}

/* A 200 or 202 answer's `code` (QueryStatus, ResultSet): 090001 the
 * statement ran and its result set is the answer; 333334 (asynchronous
 * execution in progress) and 333333 (in progress) it still runs.  A 200
 * without a code is read by its body as a result set. */
#define CODE_SUCCESS "090001"
#define RUNNING_ANSWER_MAX 65536 /* a still-running answer has no rows: small */

static int code_is_running(const char *code)
{
	return code && (strcmp(code, "333334") == 0 || strcmp(code, "333333") == 0);
}

/* 1 when an answer (its HTTP status, the body in a->resp) says the
 * statement still runs: a 202, or a 200 whose code says so (its handle is
 * polled as a 202's).  One with rows is never that: a long 200 is not
 * parsed here, and its code is checked when it is read (answer_code_check). */
static int is_running_answer(const struct sf_api *a, long status)
{
	json_t *root;
	int is_running;

	if (status == 202)
		return 1;
	if (status != 200 || !a->resp.p || a->resp.len > RUNNING_ANSWER_MAX)
		return 0;
	root = json_loads(a->resp.p, 0, NULL);
	is_running = code_is_running(json_string_value(json_object_get(root, "code")));
	json_decref(root);
	return is_running;
}

/* A 200's code (root, its JSON) other than 090001: the statement did not
 * succeed, or Snowflake says something this plugin does not know, and its
 * body is no result set to read rows from.  HUB_ERR_INTERNAL naming the
 * code and message (the run ends; the next one starts from the cursor). */
static hub_rc answer_code_check(const json_t *root, char *err, size_t err_size)
{
	const json_t *code = json_object_get(root, "code");
	const char *message = json_string_value(json_object_get(root, "message"));
	char c[24], m[SF_MSG / 2];

	if (!code || (json_is_string(code) && strcmp(json_string_value(code), CODE_SUCCESS) == 0))
		return HUB_OK;
	sf_excerpt(json_is_string(code) ? json_string_value(code) : "(not a string)", c,
		   sizeof(c));
	sf_excerpt(message ? message : "", m, sizeof(m));
	snprintf(err, err_size, "HTTP 200 from Snowflake with code %s (\"%s\"), not %s "
		 "(statement executed successfully): %s, no rows read", c, m, CODE_SUCCESS,
		 code_is_running(json_string_value(code)) ? "the statement still runs"
							  : "not a result set");
	return HUB_ERR_INTERNAL;
}

/* Polls a running statement (sent at sent_ms) until it answers: HUB_OK
 * with *status its answer (200, or its failure).  A poll that fails in
 * transit or with 429/408/5xx is sent again, POLL_RETRIES times in a row
 * at most: the statement runs on meanwhile, and a retry that ran it anew
 * would leave it running, billed, beside the new one.  Any other code
 * (err says why): the statement is given up on, as is one still running
 * after query_timeout (HUB_RETRY). */
static hub_rc poll_statement(struct sf_api *a, const char *handle, int64_t sent_ms,
			     long *status, char *err, size_t err_size)
{
	char url[1024];
	long delay = POLL_FIRST_MS;
	int n_failed = 0;
	hub_rc rc;

	snprintf(url, sizeof(url), "%s/api/v2/statements/%s", a->base, handle);
	for (;;) {
		if (transient_wait(a->host, a->call, delay)) {
			snprintf(err, err_size, "stopped while the statement ran");
			return HUB_ERR_STOPPED;
		}
		rc = sf_sqlapi_http(a, url, NULL, status, err, err_size);
		if (rc == HUB_OK && is_running_answer(a, *status)) {
			if (statement_past_timeout(a, handle, sent_ms, err, err_size))
				return HUB_RETRY; /* the caller cancels it */
			n_failed = 0;
			delay = delay * 2 < POLL_MAX_MS ? delay * 2 : POLL_MAX_MS;
			continue;
		}
		if (rc == HUB_OK &&
		    (*status == 200 || !is_poll_transient(a, *status, err, err_size)))
			return HUB_OK;
		if (rc == HUB_OK)
			rc = HUB_RETRY; /* 429, 408, 5xx: err says which */
		if (rc != HUB_RETRY || n_failed == POLL_RETRIES)
			return rc;
		delay = poll_retry_delay(a, n_failed++, err);
	}
}

/* Asks Snowflake to cancel a statement given up on (the hub stops, its
 * polls keep failing), so that it does not run on with no one to read
 * it.  Best effort and bounded: it goes out while the hub stops, and
 * takes CANCEL_MAX_MS at most (a server that stalls it held a stop up);
 * a cancel that fails is logged. */
static void cancel_statement(struct sf_api *a, const char *handle)
{
	const struct hub_call *call = a->stop.call;
	long transfer_ms = a->transfer_ms;
	char url[1024], err[SF_MSG];
	long status = 0;
	hub_rc rc;

	snprintf(url, sizeof(url), "%s/api/v2/statements/%s/cancel", a->base, handle);
	a->stop.call = NULL;
	a->transfer_ms = cancel_max_ms;
	rc = sf_sqlapi_http(a, url, "", &status, err, sizeof(err));
	a->stop.call = call;
	a->transfer_ms = transfer_ms;
	if (rc == HUB_OK && status == 200)
		return;
	if (rc == HUB_OK)
		sf_sqlapi_status_error(a, status, err, sizeof(err));
	a->host->log(a->inst, HUB_LOG_WARN, "could not cancel statement %s: %s", handle, err);
}

/* A poll of a statement the endpoint accepted (202) answered 404.
 * Snowflake documents a 404 as "the request endpoint is not valid" (its
 * OpenAPI sqlapi.yaml, 404NotFound): the endpoint was, a moment ago, so
 * the handle is what it does not know (a statement lost on its side, a
 * gateway's routing).  Nothing of the source's configuration is wrong,
 * and running the statement anew is the remedy: HUB_RETRY, not the
 * HUB_ERR_CONFIG of other 4xx (which disabled the source).  A 404 to the
 * POST itself stays that: the endpoint is wrong. */
static hub_rc poll_not_found(struct sf_api *a, const char *handle, char *err, size_t err_size)
{
	char why[SF_MSG];

	sf_sqlapi_status_error(a, 404, why, sizeof(why));
	snprintf(err, err_size, "statement %s: its poll was answered %.300s (the statement is "
		 "unknown there): the run is retried", handle, why);
	return HUB_RETRY;
}

/* 1 when a statementHandle may go into a URL as it is (Snowflake's are
 * UUIDs). */
int sf_sqlapi_handle_is_valid(const char *h)
{
	size_t n = strspn(h, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_");

	return n > 0 && n <= HANDLE_MAX && h[n] == '\0';
}

/* The handle of a still-running answer (its HTTP status: 202, or a 200
 * saying 333334; the body in a->resp), copied to h. */
static hub_rc take_accepted(struct sf_api *a, long status, char *h, size_t h_size, char *err,
			    size_t err_size)
{
	json_t *root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL);
	const char *handle = json_string_value(json_object_get(root, "statementHandle"));
	hub_rc rc = HUB_ERR_INTERNAL;
	char v[48];

	if (!handle) {
		snprintf(err, err_size, "HTTP %ld from Snowflake without a statementHandle",
			 status);
	} else if (!sf_sqlapi_handle_is_valid(handle) || strlen(handle) >= h_size) {
		sf_excerpt(handle, v, sizeof(v));
		snprintf(err, err_size, "HTTP %ld from Snowflake whose statementHandle is not a "
			 "handle: \"%s\"", status, v);
	} else {
		memcpy(h, handle, strlen(handle) + 1);
		rc = HUB_OK;
	}
	json_decref(root);
	return rc;
}

/* Runs a statement to its first partition; *out is the 200 response. */
hub_rc sf_sqlapi_run_statement(struct sf_api *a, const char *statement, const char *param,
			       json_t **out, char *err, size_t err_size)
{
	char url[1024], *body = statement_body(a, statement, param);
	int64_t sent_ms = mono_clock_ms();
	json_error_t jerr;
	long status = 0;
	int is_retry;
	hub_rc rc;

	*out = NULL;
	if (!body) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	is_retry = request_id_for(a, body);
	snprintf(url, sizeof(url), "%s/api/v2/statements?requestId=%s%s", a->base, a->request_id,
		 is_retry ? "&retry=true" : "");
	rc = sf_sqlapi_http(a, url, body, &status, err, err_size);
	free(body);
	if (rc != HUB_OK)
		return rc; /* in transit: the same requestId next time */
	if (is_running_answer(a, status)) {
		char h[HANDLE_MAX + 1];

		if ((rc = take_accepted(a, status, h, sizeof(h), err, err_size)) != HUB_OK)
			return rc;
		a->has_pending = 0; /* accepted: polled below until it answers */
		if ((rc = poll_statement(a, h, sent_ms, &status, err, err_size)) != HUB_OK) {
			cancel_statement(a, h); /* a retry runs it anew: this one must stop */
			return rc;
		}
		if (status == 404) {
			rc = poll_not_found(a, h, err, err_size);
			cancel_statement(a, h); /* should it run on, unseen */
			return rc;
		}
		if (status != 200 && !sf_sqlapi_is_statement_outcome(a, status)) {
			/* a poll refused (400, 401/403, 501): the statement runs on */
			rc = sf_sqlapi_status_error(a, status, err, err_size);
			cancel_statement(a, h);
			return rc;
		}
	}
	if (status != 200) {
		rc = sf_sqlapi_status_error(a, status, err, err_size);
		/* 429/5xx: maybe never run, the same requestId again; 422, or a
		 * 408 naming the statement: it ran and failed or timed out
		 * (Snowflake would answer its requestId with that again), so a
		 * retry runs it anew */
		if (rc != HUB_RETRY || sf_sqlapi_is_statement_outcome(a, status))
			a->has_pending = 0;
		return rc;
	}
	if (!(*out = json_loads(a->resp.p, 0, &jerr))) {
		if (sf_sqlapi_answer_is_cut(a, &jerr)) {
			/* cut in transit as one with a length is (curl's error
			 * above): the same requestId with retry=true, which
			 * Snowflake answers without running it again */
			snprintf(err, err_size, "the statement's answer breaks off after %zu bytes, "
				 "in the middle of its JSON: cut in transit", a->resp.len);
			return HUB_RETRY;
		}
		a->has_pending = 0;
		snprintf(err, err_size, "a result set that is not JSON");
		return HUB_ERR_INTERNAL;
	}
	a->has_pending = 0; /* answered: the same request again is a new run */
	if ((rc = answer_code_check(*out, err, err_size)) != HUB_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}
