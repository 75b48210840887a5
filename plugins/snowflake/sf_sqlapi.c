/*
 * sf_sqlapi.c - transport sql_api: Snowflake's SQL API v2 over libcurl.
 *
 *   POST /api/v2/statements?requestId=<uuid>  {"statement", "bindings":
 *        {"1": {"type": "TEXT", "value": <cursor>}}, ...}
 *     200  a result set: rowType, partitionInfo, partition 0's rows
 *     202  still running: poll GET /api/v2/statements/<handle> (a poll
 *          that fails in transit or with 429/5xx is sent again, at most
 *          POLL_RETRIES times in a row; a statement given up on, when the
 *          hub stops or the polls keep failing, is cancelled: POST
 *          /api/v2/statements/<handle>/cancel)
 *     422  the SQL failed (its message is the error); retried when its
 *          SQLSTATE is transient (08xxx, 40001, 57014), as over ODBC
 *     429 / 503 / 5xx  retry (Retry-After honoured by the hub's backoff)
 *   GET  /api/v2/statements/<handle>?partition=N  the other partitions
 *        (Snowflake sizes them; they may come gzip-encoded)
 *
 * :cursor is bound as TEXT to the saved cursor value (or cursor_start), and
 * Snowflake casts it to the column's type.  A first run (neither) binds the
 * start of the first cursor column's type: 0001-01-01 for times and dates
 * (RM_TIME_FIRST, as a saved cursor is written), "" for text, the lowest
 * double for numbers, false for booleans.  That type comes with every
 * result's rowType; before a process's first result, the query with
 * LIMIT 0 learns it.
 *
 * A POST that failed in transit or with 429/503 is sent again with the
 * same requestId and retry=true, so Snowflake runs the statement at most
 * once; a statement that ran and failed (422) runs again under a new one.
 * Every answer starts from an empty body: one without a body (a gateway's
 * 502/503/504) is never read as the answer before it.
 *
 * Cells arrive as strings (jsonv2): NUMBER as decimal text, BOOLEAN
 * "true"/"false", TIMESTAMP_* as epoch seconds with 9 decimals (TZ adds an
 * offset after a space), DATE as days since the epoch, VARIANT as JSON.
 * A cell that is not a value of its column's type (sf_cell.c), or a time
 * beyond int64 microseconds, fails the page, naming the partition, row,
 * column and type.
 * One partition is in memory at a time.
 */
#include "sf.h"
#include "../common/request_id.h"
#include "../common/retry_wait.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STATEMENT_TIMEOUT_S 3600
#define POLL_FIRST_MS 100
#define POLL_MAX_MS 2000
#define POLL_RETRIES 4          /* failed polls in a row sent again: 200 ms .. 1.6 s */
#define POLL_RETRY_FIRST_MS 200
#define USER_AGENT "profilehub-snowflake/1.0"

/* Snowflake's statement handles are UUIDs; they go into URLs. */
#define HANDLE_MAX 128

struct body {
	char *p;
	size_t len, cap;
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
	size_t n_parts, part_no, row_no;
	struct rm_column *cols;
	enum sf_kind *kinds;
	size_t n_cols;
	struct rm_cell *cells;
	char **names;
};

/* ---- HTTP ----------------------------------------------------------------------------------- */

/* Empties b before an answer.  curl calls on_body only for the bytes it
 * gets, so an answer without a body must find "" here, not the answer
 * before it (its message, its statementHandle). */
static void body_reset(struct body *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t len = size * n;

	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;
		while (cap < b->len + len + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return 0; /* curl fails the transfer */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct sf_api *a = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		const char *v = data + sizeof(name) - 1;
		size_t k = 0;
		while (v < data + len && *v == ' ') /* a header line is not NUL-terminated */
			v++;
		while (k + 1 < sizeof(a->retry_after) && v + k < data + len && v[k] >= '0' &&
		       v[k] <= '9') {
			a->retry_after[k] = v[k];
			k++;
		}
		a->retry_after[k] = '\0';
	}
	return len;
}

static int is_transient_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* One request; *status is the HTTP status, the body is in a->resp. */
static hub_rc http(struct sf_api *a, const char *url, const char *post, long *status, char *err,
		   size_t err_size)
{
	struct curl_slist *h = NULL;
	char auth[4096], jwt_err[128];
	const char *token =
		sf_jwt_token(a->jwt, a->host->now_ms() / 1000, jwt_err, sizeof(jwt_err));
	CURLcode c;

	if (!token) {
		snprintf(err, err_size, "%s", jwt_err);
		return HUB_ERR_INTERNAL;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT");
	h = curl_slist_append(h, "Accept: application/json");
	if (post)
		h = curl_slist_append(h, "Content-Type: application/json");
	body_reset(&a->resp);
	a->retry_after[0] = '\0';
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	if (post)
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, post);
	else
		curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
	c = curl_easy_perform(a->curl);
	curl_slist_free_all(h);
	if (c != CURLE_OK) {
		snprintf(err, err_size, "%s %s: %s", post ? "POST" : "GET", a->base,
			 curl_easy_strerror(c));
		return is_transient_curl(c) ? HUB_RETRY : HUB_ERR_CONFIG;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, status);
	if (a->resp.p == NULL)
		on_body("", 1, 0, &a->resp);
	return HUB_OK;
}

/* 1 when a statement that failed with this SQLSTATE may pass when run
 * again: the connection was lost (08xxx), the transaction was rolled back
 * (40001: a deadlock or a conflict), the statement was cancelled or timed
 * out (57014).  The odbc transport retries them too (sf_odbc.c). */
static int is_transient_state(const char *state)
{
	return strncmp(state, "08", 2) == 0 || strcmp(state, "40001") == 0 ||
	       strcmp(state, "57014") == 0;
}

/* A 422's class, by its SQLSTATE. */
static hub_rc sql_error_class(const char *state)
{
	if (!state)
		return HUB_ERR_DATA;
	if (is_transient_state(state))
		return HUB_RETRY;
	return strncmp(state, "42", 2) == 0 ? HUB_ERR_CONFIG : HUB_ERR_DATA;
}

/* The error of a non-2xx answer, from its JSON body {code, message, sqlState}. */
static hub_rc status_error(struct sf_api *a, long status, char *err, size_t err_size)
{
	json_t *root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "message"));
	const char *code = json_string_value(json_object_get(root, "code"));
	const char *state = json_string_value(json_object_get(root, "sqlState"));
	char prefix[64] = "";
	hub_rc rc;

	if (!msg)
		msg = "(no message)";
	if (status == 429 || status == 408 || status >= 500) {
		if (a->retry_after[0])
			snprintf(prefix, sizeof(prefix), "retry after %ss: ", a->retry_after);
		snprintf(err, err_size, "%sHTTP %ld from Snowflake: %.300s", prefix, status, msg);
		rc = status == 501 ? HUB_ERR_INTERNAL : HUB_RETRY;
	} else if (status == 401 || status == 403) {
		snprintf(err, err_size,
			 "HTTP %ld from Snowflake: %.300s (the user's registered public "
			 "key must be %s)",
			 status, msg, sf_jwt_fingerprint(a->jwt));
		rc = HUB_ERR_AUTH;
	} else if (status == 422) {
		snprintf(err, err_size, "SQL error %s (SQLSTATE %s): %.600s", code ? code : "?",
			 state ? state : "?", msg);
		rc = sql_error_class(state);
	} else {
		snprintf(err, err_size, "HTTP %ld from Snowflake: %.300s", status, msg);
		rc = status >= 400 && status < 500 ? HUB_ERR_CONFIG : HUB_ERR_INTERNAL;
	}
	json_decref(root);
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' '; /* SQL messages come in lines: one line here */
	return rc;
}

/* Waits ms in short slices, ending early when the hub stops (1). */
static int wait_ms(struct sf_api *a, long ms)
{
	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;
		struct timespec d = {0, slice * 1000000L};
		if (a->call && a->host->should_stop(a->call))
			return 1;
		nanosleep(&d, NULL);
		ms -= slice;
	}
	return a->call && a->host->should_stop(a->call);
}

/* ---- statements ----------------------------------------------------------------------------- */

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

static char *statement_body(struct sf_api *a, const char *statement, const char *param)
{
	json_t *body = json_pack("{s:s, s:i}", "statement", statement, "timeout",
				 STATEMENT_TIMEOUT_S);
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
 * transit, else a new one. */
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

/* 1 when a poll's answer (not 200 or 202; err set from it) is a
 * transient failure of the poll itself (429, 408, 5xx), not the
 * statement's outcome (a 422 is its SQL failing). */
static int is_poll_transient(struct sf_api *a, long status, char *err, size_t err_size)
{
	return status != 422 && status_error(a, status, err, err_size) == HUB_RETRY;
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

/* Polls a running statement until it answers: HUB_OK with *status its
 * answer (200, or its failure).  A poll that fails in transit or with
 * 429/408/5xx is sent again, POLL_RETRIES times in a row at most: the
 * statement runs on meanwhile, and a retry that ran it anew would leave
 * it running, billed, beside the new one.  Any other code (err says why):
 * the statement is given up on. */
static hub_rc poll(struct sf_api *a, const char *handle, long *status, char *err,
		   size_t err_size)
{
	char url[1024];
	long delay = POLL_FIRST_MS;
	int n_failed = 0;
	hub_rc rc;

	snprintf(url, sizeof(url), "%s/api/v2/statements/%s", a->base, handle);
	for (;;) {
		if (wait_ms(a, delay)) {
			snprintf(err, err_size, "stopped while the statement ran");
			return HUB_ERR_STOPPED;
		}
		rc = http(a, url, NULL, status, err, err_size);
		if (rc == HUB_OK && *status == 202) {
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
 * it.  Best effort: a cancel that fails is logged. */
static void cancel_statement(struct sf_api *a, const char *handle)
{
	char url[1024], err[SF_MSG];
	long status = 0;
	hub_rc rc;

	snprintf(url, sizeof(url), "%s/api/v2/statements/%s/cancel", a->base, handle);
	rc = http(a, url, "", &status, err, sizeof(err));
	if (rc == HUB_OK && status == 200)
		return;
	if (rc == HUB_OK)
		status_error(a, status, err, sizeof(err));
	a->host->log(a->inst, HUB_LOG_WARN, "could not cancel statement %s: %s", handle, err);
}

/* 1 when a statementHandle may go into a URL as it is (Snowflake's are
 * UUIDs). */
static int handle_is_valid(const char *h)
{
	size_t n = strspn(h, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_");

	return n > 0 && n <= HANDLE_MAX && h[n] == '\0';
}

/* The handle of a 202 answer (the body in a->resp), copied to h. */
static hub_rc take_accepted(struct sf_api *a, char *h, size_t h_size, char *err,
			    size_t err_size)
{
	json_t *root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL);
	const char *handle = json_string_value(json_object_get(root, "statementHandle"));
	hub_rc rc = HUB_ERR_INTERNAL;
	char v[48];

	if (!handle) {
		snprintf(err, err_size, "HTTP 202 from Snowflake without a statementHandle");
	} else if (!handle_is_valid(handle) || strlen(handle) >= h_size) {
		sf_excerpt(handle, v, sizeof(v));
		snprintf(err, err_size, "HTTP 202 from Snowflake whose statementHandle is not a "
			 "handle: \"%s\"", v);
	} else {
		memcpy(h, handle, strlen(handle) + 1);
		rc = HUB_OK;
	}
	json_decref(root);
	return rc;
}

/* Runs a statement to its first partition; *out is the 200 response. */
static hub_rc run_statement(struct sf_api *a, const char *statement, const char *param,
			    json_t **out, char *err, size_t err_size)
{
	char url[1024], *body = statement_body(a, statement, param);
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
	rc = http(a, url, body, &status, err, err_size);
	free(body);
	if (rc != HUB_OK)
		return rc; /* in transit: the same requestId next time */
	if (status == 202) {
		char h[HANDLE_MAX + 1];

		if ((rc = take_accepted(a, h, sizeof(h), err, err_size)) != HUB_OK)
			return rc;
		a->has_pending = 0; /* accepted: polled below until it answers */
		if ((rc = poll(a, h, &status, err, err_size)) != HUB_OK) {
			cancel_statement(a, h); /* a retry runs it anew: this one must stop */
			return rc;
		}
		if (status != 200 && status != 422 && status != 404) {
			/* a poll refused (400, 401/403, 501): the statement runs on */
			rc = status_error(a, status, err, err_size);
			cancel_statement(a, h);
			return rc;
		}
	}
	if (status != 200) {
		rc = status_error(a, status, err, err_size);
		/* 429/5xx: maybe never run, the same requestId again; 422: it ran
		 * and failed (Snowflake would answer its requestId with that
		 * failure again), so a retry runs it anew */
		if (rc != HUB_RETRY || status == 422)
			a->has_pending = 0;
		return rc;
	}
	a->has_pending = 0;
	if (!(*out = json_loads(a->resp.p, 0, NULL))) {
		snprintf(err, err_size, "a result set that is not JSON");
		return HUB_ERR_INTERNAL;
	}
	return HUB_OK;
}

/* ---- results ------------------------------------------------------------------------------ */

static void result_free(struct sf_api *a)
{
	json_decref(a->part);
	a->part = NULL;
	for (size_t i = 0; i < a->n_cols; i++)
		free(a->names[i]);
	free(a->names);
	free(a->cols);
	free(a->kinds);
	free(a->cells);
	free(a->handle);
	a->names = NULL;
	a->cols = NULL;
	a->kinds = NULL;
	a->cells = NULL;
	a->handle = NULL;
	a->n_cols = a->n_parts = a->part_no = a->row_no = 0;
}

static hub_rc take_columns(struct sf_api *a, json_t *meta, char *err, size_t err_size)
{
	json_t *row_type = json_object_get(meta, "rowType"), *col;
	size_t i, n = json_array_size(row_type);

	if (!json_is_array(row_type) || n == 0) {
		snprintf(err, err_size, "a result set without rowType");
		return HUB_ERR_INTERNAL;
	}
	a->names = calloc(n, sizeof(*a->names));
	a->cols = calloc(n, sizeof(*a->cols));
	a->kinds = calloc(n, sizeof(*a->kinds));
	a->cells = calloc(n, sizeof(*a->cells));
	if (!a->names || !a->cols || !a->kinds || !a->cells)
		goto nomem;
	json_array_foreach(row_type, i, col) {
		const char *name = json_string_value(json_object_get(col, "name"));
		if (!(a->names[i] = strdup(name ? name : "")))
			goto nomem;
		a->n_cols = i + 1;
		a->cols[i].name = a->names[i];
		a->kinds[i] = sf_kind_of(json_string_value(json_object_get(col, "type")),
				      &a->cols[i].type);
	}
	return HUB_OK;
nomem:
	snprintf(err, err_size, "out of memory");
	return HUB_ERR_NOMEM;
}

/* A 200 result set: its columns bound into m, partition 0 kept. */
static hub_rc take_result(struct sf_api *a, json_t *root, struct rowmap *m, char *err,
			  size_t err_size)
{
	json_t *meta = json_object_get(root, "resultSetMetaData");
	json_t *parts = json_object_get(meta, "partitionInfo");
	const char *format = json_string_value(json_object_get(meta, "format"));
	const char *handle = json_string_value(json_object_get(root, "statementHandle"));
	char v[48];
	hub_rc rc;

	result_free(a);
	a->part = root;
	if (format && strcmp(format, "jsonv2") != 0) {
		snprintf(err, err_size, "result format \"%s\" (only jsonv2 is read)", format);
		return HUB_ERR_INTERNAL;
	}
	if ((rc = take_columns(a, meta, err, err_size)) != HUB_OK)
		return rc;
	a->n_parts = json_array_size(parts) ? json_array_size(parts) : 1;
	if (!handle && a->n_parts > 1) {
		snprintf(err, err_size, "a result set in %zu partitions without a statementHandle",
			 a->n_parts);
		return HUB_ERR_INTERNAL;
	}
	if (handle && !handle_is_valid(handle)) {
		sf_excerpt(handle, v, sizeof(v));
		snprintf(err, err_size,
			 "a result set whose statementHandle is not a handle: \"%s\"", v);
		return HUB_ERR_INTERNAL;
	}
	if (!(a->handle = strdup(handle ? handle : ""))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (rowmap_bind(m, a->cols, a->n_cols, err, err_size))
		return HUB_ERR_CONFIG;
	return HUB_OK;
}

/* The first cursor column's type, from the result just bound to m. */
static void learn_cursor_kind(struct sf_api *a, const struct rowmap *m)
{
	int i = rowmap_cursor_column(m);

	if (i < 0 || (size_t)i >= a->n_cols)
		return;
	a->cursor_kind = a->kinds[i];
	a->is_kind_known = 1;
}

/* The query as a subquery with LIMIT 0 (malloc'd), or NULL.  The query
 * goes on lines of its own, without its trailing semicolons and comments:
 * a `--` comment at its end would swallow `) LIMIT 0`, a `;` end the
 * statement inside the parentheses. */
static char *empty_statement(const char *query)
{
	size_t len = rowmap_query_trimmed_len(query, RM_SQL_SNOWFLAKE), n = len + 64;
	char *sql = malloc(n);

	if (sql)
		snprintf(sql, n, "SELECT * FROM (\n%.*s\n) LIMIT 0", (int)len, query);
	return sql;
}

/* The query with LIMIT 0 (:cursor bound to param): its columns checked
 * against the map and the cursor column's type learned, no row read. */
static hub_rc run_empty(struct sf_api *a, struct rowmap *m, const char *param, char *err,
			size_t err_size)
{
	char *sql = empty_statement(a->query);
	json_t *root;
	hub_rc rc;

	if (!sql) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	rc = run_statement(a, sql, param, &root, err, err_size);
	free(sql);
	if (rc == HUB_OK && (rc = take_result(a, root, m, err, err_size)) == HUB_OK)
		learn_cursor_kind(a, m);
	result_free(a);
	return rc;
}

static hub_rc api_open(void *t, struct rowmap *m, const char *param, size_t batch_hint,
		       char *err, size_t err_size)
{
	struct sf_api *a = t;
	json_t *root;
	hub_rc rc;

	(void)batch_hint; /* Snowflake sizes the partitions */
	/* a first run binds the start of the cursor column's type: learn it */
	if (!param && !a->is_kind_known && (rc = run_empty(a, m, NULL, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = run_statement(a, a->query, param, &root, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = take_result(a, root, m, err, err_size)) != HUB_OK)
		result_free(a);
	else
		learn_cursor_kind(a, m);
	return rc;
}

/* A partition's answer (the body in a->resp, its HTTP status) taken as
 * the current partition n. */
static hub_rc take_partition(struct sf_api *a, size_t n, long status, char *err,
			     size_t err_size)
{
	json_t *root;

	if (status == 404) {
		snprintf(err, err_size, "partition %zu of the result is gone (HTTP 404)", n);
		return HUB_RETRY;
	}
	if (status != 200)
		return status_error(a, status, err, err_size);
	if (!(root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL)) ||
	    !json_is_array(json_object_get(root, "data"))) {
		json_decref(root);
		snprintf(err, err_size, "partition %zu: not a JSON result", n);
		return HUB_ERR_INTERNAL;
	}
	json_decref(a->part);
	a->part = root;
	a->part_no = n;
	a->row_no = 0;
	return HUB_OK;
}

static hub_rc fetch_partition(struct sf_api *a, size_t n, char *err, size_t err_size)
{
	char url[1024];
	long status = 0;
	hub_rc rc;

	snprintf(url, sizeof(url), "%s/api/v2/statements/%s?partition=%zu", a->base, a->handle, n);
	if ((rc = http(a, url, NULL, &status, err, err_size)) != HUB_OK)
		return rc;
	return take_partition(a, n, status, err, err_size);
}

static hub_rc api_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct sf_api *a = t;
	json_t *data = json_object_get(a->part, "data"), *r;
	char why[SF_MSG];
	hub_rc rc;

	while (a->row_no >= json_array_size(data)) {
		if (a->part_no + 1 >= a->n_parts)
			return HUB_OK;
		if ((rc = fetch_partition(a, a->part_no + 1, err, err_size)) != HUB_OK)
			return rc;
		data = json_object_get(a->part, "data");
	}
	r = json_array_get(data, a->row_no++);
	if (!json_is_array(r) || json_array_size(r) != a->n_cols) {
		snprintf(err, err_size, "partition %zu row %zu: expected %zu cells", a->part_no,
			 a->row_no, a->n_cols);
		return HUB_ERR_INTERNAL;
	}
	for (size_t i = 0; i < a->n_cols; i++) {
		if ((rc = sf_cell_convert(a->kinds[i], json_array_get(r, i), &a->cells[i],
					   a->names[i], why, sizeof(why))) != HUB_OK) {
			snprintf(err, err_size, "partition %zu row %zu: %s", a->part_no, a->row_no,
				 why);
			return rc;
		}
	}
	*row = a->cells;
	return HUB_MORE;
}

static void api_close(void *t)
{
	result_free(t);
}

const struct rp_reader_ops sf_api_ops = {
	.open = api_open,
	.next = api_next,
	.close = api_close,
};

hub_rc sf_api_check(struct sf_api *a, struct rowmap *m, const char *param, char *err,
		    size_t err_size)
{
	return run_empty(a, m, param, err, err_size);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static char *dup_or_null(const char *s, int *failed)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*failed = 1;
	return d;
}

static char *make_base(const struct sf_api_config *c)
{
	size_t n;
	char *b;

	if (c->endpoint) {
		if (!(b = strdup(c->endpoint)))
			return NULL;
	} else {
		n = strlen(c->account) + 40;
		if (!(b = malloc(n)))
			return NULL;
		snprintf(b, n, "https://%s.snowflakecomputing.com", c->account);
	}
	n = strlen(b);
	while (n && b[n - 1] == '/')
		b[--n] = '\0';
	return b;
}

/* The endpoint is named whole in errors, the log and the status: it may
 * hold no credentials (the plugin signs in with its key pair; a URL's user
 * and password would do nothing but be printed), query or fragment.  The
 * messages do not repeat it.  0, or -1 with err filled. */
static int endpoint_check(const char *base, char *err, size_t err_size)
{
	const char *authority, *end;

	if (strncmp(base, "https://", 8) == 0)
		authority = base + 8;
	else if (strncmp(base, "http://", 7) == 0)
		authority = base + 7;
	else {
		snprintf(err, err_size, "endpoint: expected an http:// or https:// URL");
		return -1;
	}
	end = authority + strcspn(authority, "/?#");
	if (memchr(authority, '@', (size_t)(end - authority))) {
		snprintf(err, err_size,
			 "endpoint: has a user or password (user:password@), which the"
			 " plugin does not use (it signs in with private_key_file): remove it");
		return -1;
	}
	if (strpbrk(base, "?#")) {
		snprintf(err, err_size,
			 "endpoint: has a query or fragment (? or #): give the base URL"
			 " only, such as https://<account>.snowflakecomputing.com");
		return -1;
	}
	return 0;
}

int sf_api_new(const struct hub_host *host, const struct hub_instance *inst,
	       const struct sf_api_config *cfg, struct sf_api **out, char *err, size_t err_size)
{
	struct sf_api *a = calloc(1, sizeof(*a));
	int failed = 0;

	*out = NULL;
	if (!a) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	a->host = host;
	a->inst = inst;
	a->n_params = cfg->n_params;
	if (sf_jwt_new(cfg->key_file, cfg->account, cfg->user, &a->jwt, err, err_size))
		goto fail;
	a->base = make_base(cfg);
	a->query = dup_or_null(cfg->query, &failed);
	a->warehouse = dup_or_null(cfg->warehouse, &failed);
	a->database = dup_or_null(cfg->database, &failed);
	a->schema = dup_or_null(cfg->schema, &failed);
	a->role = dup_or_null(cfg->role, &failed);
	if (failed || !a->base || !(a->curl = curl_easy_init())) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if (endpoint_check(a->base, err, err_size))
		goto fail;
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &a->resp);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(a->curl, CURLOPT_ACCEPT_ENCODING, ""); /* gzip partitions */
	curl_easy_setopt(a->curl, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(a->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(a->curl, CURLOPT_LOW_SPEED_TIME, 120L);
	*out = a;
	return 0;
fail:
	sf_api_free(a);
	return -1;
}

void sf_api_set_call(struct sf_api *a, struct hub_call *call)
{
	a->call = call;
}

void sf_api_free(struct sf_api *a)
{
	if (!a)
		return;
	result_free(a);
	if (a->curl)
		curl_easy_cleanup(a->curl);
	sf_jwt_free(a->jwt);
	free(a->resp.p);
	free(a->pending_body);
	free(a->base);
	free(a->query);
	free(a->warehouse);
	free(a->database);
	free(a->schema);
	free(a->role);
	free(a);
}
