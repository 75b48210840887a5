/*
 * sf_sqlapi.c - transport sql_api: Snowflake's SQL API v2 over libcurl.
 *
 *   POST /api/v2/statements?requestId=<uuid>  {"statement", "bindings":
 *        {"1": {"type": "TEXT", "value": <cursor>}}, ...}
 *     200  a result set: rowType, partitionInfo, partition 0's rows
 *     202  still running: poll GET /api/v2/statements/<handle> (a poll
 *          that fails in transit or with 429/5xx is sent again, at most
 *          POLL_RETRIES times in a row; a statement given up on, when the
 *          hub stops, the polls keep failing or it still runs
 *          query_timeout after it was sent, is cancelled: POST
 *          /api/v2/statements/<handle>/cancel)
 *     422  the SQL failed (its message is the error); retried when its
 *          SQLSTATE is transient (08xxx, 40001, 57014), as over ODBC
 *     408  naming the statement: it ran past its `timeout` (query_timeout)
 *          and Snowflake cancelled it; retried, the message saying so (a
 *          408 naming none is a gateway's: retried as a 429)
 *     429 / 503 / 5xx  retry (Retry-After, seconds or an HTTP date, honoured
 *                      by the hub's backoff)
 *   GET  /api/v2/statements/<handle>?partition=N  the other partitions
 *        (Snowflake sizes them; they may come gzip-encoded)
 *
 * This file holds the transport's curl handle and its HTTP exchanges (the
 * JWT, the answer's body and Retry-After), the error of a non-2xx answer
 * and its class, and the transport's life (the endpoint checked, new,
 * set_call, free).  Sending a statement until it answers is
 * sf_sqlapi_stmt.c's, reading its result set sf_sqlapi_result.c's
 * (sf_sqlapi_int.h holds what they share).
 *
 * Every answer starts from an empty body: one without a body (a gateway's
 * 502/503/504) is never read as the answer before it.  A transfer ends at
 * its deadline (transfer_ms: query_timeout, 60 s at least; HUB_RETRY) and
 * within a second of the hub asking the pull to stop (HUB_ERR_STOPPED),
 * however slowly the server sends: curl's low-speed limit (1 byte/s over
 * 120 s) alone let a trickling server hold the pull and a shutdown.
 *
 * Never builds a statement or reads a result set, and never names the
 * endpoint with credentials in it (endpoint_check refuses them).
 */
#include "sf_sqlapi_int.h"
#include "../common/retry_after.h"
#include "../common/text.h"
#include "../common/transient.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define USER_AGENT "profilehub-snowflake/1.0"

/* ---- HTTP ----------------------------------------------------------------------------------- */

/* Empties b before an answer.  curl calls on_body only for the bytes it
 * gets, so an answer without a body must find "" here, not the answer
 * before it (its message, its statementHandle). */
static void body_reset(struct body *b)
{
	b->len = 0;
	b->is_over = b->is_nomem = 0;
	if (b->p)
		b->p[0] = '\0';
}

/* Appends what curl got (decoded); past b->max, or out of memory, it
 * returns 0 and curl fails the transfer (the flags say why). */
static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t len = size * n;

	if (b->max && len > b->max - b->len) {
		b->is_over = 1;
		return 0;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;
		while (cap < b->len + len + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->is_nomem = 1;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* Retry-After's seconds, from delta-seconds or an HTTP date; "" when it
 * is neither. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct sf_api *a = ctx;
	size_t len = size * n;

	retry_after_keep(data, len, a->retry_after, sizeof(a->retry_after));
	return len;
}

/* The request's header lines, or NULL when memory ran out: a request
 * sent without some of them (its token) would be refused as unauthorized,
 * and the source disabled for it. */
static struct curl_slist *headers_build(const char *auth, int is_post)
{
	const char *lines[] = {auth, "X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT",
			       "Accept: application/json",
			       is_post ? "Content-Type: application/json" : NULL};
	struct curl_slist *h = NULL, *next;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && lines[i]; i++) {
		if (!(next = curl_slist_append(h, lines[i]))) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = next;
	}
	return h;
}

/* One request; *status is the HTTP status, the body is in a->resp. */
hub_rc sf_sqlapi_http(struct sf_api *a, const char *url, const char *post, long *status, char *err,
		      size_t err_size)
{
	struct curl_slist *h = NULL;
	char auth[4096], jwt_err[128];
	const char *token =
		sf_jwt_token(a->jwt, a->host->now_ms() / 1000, jwt_err, sizeof(jwt_err));
	int64_t t0_ms;
	CURLcode c;

	if (!token) {
		snprintf(err, err_size, "%s", jwt_err);
		return HUB_ERR_INTERNAL;
	}
	if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >=
	    sizeof(auth)) {
		snprintf(err, err_size, "the JWT does not fit its header line (%zu bytes)",
			 sizeof(auth));
		return HUB_ERR_INTERNAL;
	}
	if (!(h = headers_build(auth, post != NULL))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	body_reset(&a->resp);
	a->retry_after[0] = '\0';
	a->stop.is_stopped = 0;
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, a->transfer_ms);
	if (post)
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, post);
	else
		curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
	t0_ms = mono_clock_ms();
	c = curl_easy_perform(a->curl);
	curl_slist_free_all(h);
	if (a->stop.is_stopped) { /* the answer is dropped: the run reads it again */
		snprintf(err, err_size, "%s %s: stopped while the answer was read",
			 post ? "POST" : "GET", a->base);
		return HUB_ERR_STOPPED;
	}
	if (transient_is_past(c, mono_clock_ms() - t0_ms, a->transfer_ms)) {
		transient_timed_out(err, err_size, post ? "POST" : "GET", a->base,
				    a->transfer_ms);
		return HUB_RETRY;
	}
	if (a->resp.is_over) {
		/* a partition this size held whole, and parsed, would take the
		 * hub's memory (a gzip one inflates many times over) */
		snprintf(err, err_size, "%s %s: an answer over max_answer_bytes (%zu bytes, "
			 "decoded): raise max_answer_bytes if the rows are that large",
			 post ? "POST" : "GET", a->base, a->resp.max);
		return HUB_ERR_CONFIG;
	}
	if (a->resp.is_nomem) { /* not the endpoint's fault: not CURLE_WRITE_ERROR's class */
		snprintf(err, err_size, "%s %s: out of memory for the answer (%zu bytes so far)",
			 post ? "POST" : "GET", a->base, a->resp.len);
		return HUB_ERR_NOMEM;
	}
	if (c != CURLE_OK) {
		snprintf(err, err_size, "%s %s: %s", post ? "POST" : "GET", a->base,
			 curl_easy_strerror(c));
		return transient_curl(c) ? HUB_RETRY : HUB_ERR_CONFIG;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, status);
	if (a->resp.p == NULL)
		on_body("", 1, 0, &a->resp);
	if (*status < 200 || *status > 299) /* a refusal that echoes the request */
		a->resp.len = text_secret_redact(a->resp.p, a->resp.len, token);
	return HUB_OK;
}

/* query_timeout in ms (at least 1 s), else SF_QUERY_TIMEOUT_DEFAULT_S's. */
int64_t sf_sqlapi_query_timeout_ms(const struct sf_api *a)
{
	int64_t ms = a->host && a->inst ? a->host->config_int(a->inst, "query_timeout") : 0;

	return ms > 0 ? (ms < 1000 ? 1000 : ms) : (int64_t)SF_QUERY_TIMEOUT_DEFAULT_S * 1000;
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

/* The statementHandle a 408's body (a QueryStatus) names, or NULL: a
 * statement that ran past its `timeout`, which Snowflake cancelled.  A
 * gateway's 408 (the request itself was too slow) names none. */
static const char *timed_out_handle(json_t *root, long status)
{
	return status == 408 ? json_string_value(json_object_get(root, "statementHandle")) : NULL;
}

int sf_sqlapi_is_statement_outcome(const struct sf_api *a, long status)
{
	json_t *root;
	int is_outcome;

	if (status == 422)
		return 1;
	if (status != 408)
		return 0;
	root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL);
	is_outcome = timed_out_handle(root, status) != NULL;
	json_decref(root);
	return is_outcome;
}

/* The error of a non-2xx answer, from its JSON body {code, message, sqlState}. */
hub_rc sf_sqlapi_status_error(struct sf_api *a, long status, char *err, size_t err_size)
{
	json_t *root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "message"));
	const char *code = json_string_value(json_object_get(root, "code"));
	const char *state = json_string_value(json_object_get(root, "sqlState"));
	const char *timed_out = timed_out_handle(root, status);
	char prefix[64] = "";
	hub_rc rc;

	if (!msg)
		msg = "(no message)";
	if (timed_out) {
		snprintf(err, err_size, "statement %.128s ran past its timeout (query_timeout, "
			 "%lld s) and Snowflake cancelled it (HTTP 408: %.300s): the run is "
			 "retried (raise query_timeout for a query this long)", timed_out,
			 (long long)(sf_sqlapi_query_timeout_ms(a) / 1000), msg);
		rc = HUB_RETRY;
	} else if (status == 429 || status == 408 || status >= 500) {
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

/* 1 when a 200's body (a->resp) that json_loads refused (jerr) broke off
 * in transit: it is empty, or an object (every answer of the SQL API is
 * one) whose JSON ends before it closes, or in a token cut at its last
 * byte (`tr` of true).  An answer sent without a length (no
 * Content-Length, no chunks: HTTP/1.0's framing, a proxy's) ends where its
 * connection does, so curl takes one cut short as whole.  Not a malformed
 * answer (text after the object, a stray token), which the same request
 * meets again: the run is retried. */
int sf_sqlapi_answer_is_cut(const struct sf_api *a, const json_error_t *jerr)
{
	enum json_error_code code = json_error_code(jerr);

	if (a->resp.len == 0)
		return 1;
	return a->resp.p[0] == '{' &&
	       (code == json_error_premature_end_of_input ||
		(code == json_error_invalid_syntax && jerr->position >= 0 &&
		 (size_t)jerr->position >= a->resp.len));
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

#define SF_ENDPOINT_MAX 512 /* characters of the base URL */

/* The endpoint is named whole in errors, the log and the status: it may
 * hold no credentials (the plugin signs in with its key pair; a URL's user
 * and password would do nothing but be printed), query or fragment.  The
 * messages do not repeat it.  0, or -1 with err filled. */
static int endpoint_check(const char *base, char *err, size_t err_size)
{
	size_t scheme_n = text_url_http_prefix(base);
	const char *authority = base + scheme_n, *end;

	if (!scheme_n) {
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
	/* the URLs made from it (url[1024]: a statement's handle, a
	 * partition, a requestId after it) are then never cut */
	if (strlen(base) > SF_ENDPOINT_MAX) {
		snprintf(err, err_size, "endpoint: longer than %d characters", SF_ENDPOINT_MAX);
		return -1;
	}
	return 0;
}

int sf_api_endpoint_check(const struct sf_api_config *cfg, char *err, size_t err_size)
{
	char *base = make_base(cfg);
	int rc;

	if (!base) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	rc = endpoint_check(base, err, err_size);
	free(base);
	return rc;
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
	a->resp.max = cfg->max_answer_bytes > 0 ? (size_t)cfg->max_answer_bytes : 0;
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
	a->stop.host = host;
	transient_stop_install(a->curl, &a->stop);
	a->transfer_ms = transient_transfer_ms(sf_sqlapi_query_timeout_ms(a), 0);
	*out = a;
	return 0;
fail:
	sf_api_free(a);
	return -1;
}

void sf_api_set_call(struct sf_api *a, struct hub_call *call)
{
	a->call = call;
	a->stop.call = call;
}

void sf_api_free(struct sf_api *a)
{
	if (!a)
		return;
	sf_sqlapi_result_free(a);
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
