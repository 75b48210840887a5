/*
 * echo_push.c - a push plugin for the HTTP server's tests.  It parses no
 * JSON: every line of the body is one record.
 *
 *   POST /v1/echo     each line "I" emits a track event "echo" of
 *                     installation I; a line "I<TAB>{attributes}" emits an
 *                     attributes record instead (its origin "lines[N]",
 *                     ABI 1.3: N counts the lines); a line "!why" is an item
 *                     the plugin refuses itself: host->reject(why) (ABI
 *                     1.2), and the others go on; a line "?why" is a
 *                     value left out of the line before: host->warn(why)
 *                     (ABI 1.6); a line "~why" an item deliberately not
 *                     stored: host->skip(why) (ABI 1.12).  200 {"ok":true}, or 400
 *                     naming the first line the host refused.
 *   POST /v1/reject   400 without emitting anything.
 *   POST /v1/emit_then_reject   emits every line, then answers 400 (the
 *                     host must store none of them).
 *   POST /v1/emit_then_status?status=N   emits every line, then answers
 *                     status N with HUB_OK: a non-2xx status alone
 *                     discards the records too (hub_plugin.h, hub_route).
 *   POST /v1/emit_deaf   emits each line as /v1/echo does, going on past
 *                     any failure of emit() (a plugin bug), then 200.
 *   POST /v1/answer   body "RC STATUS": returns RC (any int, hub_rc or not)
 *                     with status STATUS and the body {"ok":true}: a
 *                     plugin's wrong answers, for the host's handling.
 *                     "RC STATUS RETRY" also sets Retry-After to RETRY
 *                     (the rest of the body, bytes as they are).
 *   POST /v1/hold     with the key `hold` set to a path: creates
 *                     "<hold>.held", then waits (at most 20 s, not asking
 *                     should_stop) until the file <hold> exists: a route
 *                     that holds up the hub's stop.  200 {"ok":true}.
 *   POST /v1/until_stop   with `hold` set: creates "<hold>.held", then
 *                     waits (at most 20 s) until host->should_stop() says
 *                     the hub stops: 200 {"stopped":true}, or
 *                     {"stopped":false} when it never did.
 *   POST /v1/keep     keeps its request past its return (ownership rule 1
 *                     broken on purpose) and answers what the request the
 *                     last /v1/keep kept gives now: {"method": its
 *                     method, "header": its X-Probe header, "query": its
 *                     ?probe=, "body_len": N}
 *                     (null: none; {"first":true} when none was kept).
 *   PUT  /v1/echo     so that POST-only paths and wrong methods differ.
 *
 * With the key `key` set, every route wants "Authorization: Bearer <key>",
 * or the query parameter ?key=<key> (host->query, ABI 1.7), compared with
 * the host's secret_equal, and answers 401 otherwise.
 */
#include <hub_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct echo {
	const struct hub_host *host;
	char *key;        /* NULL: no auth */
	const char *hold; /* /v1/hold's file, or NULL */
	char retry_after[128]; /* /v1/answer's last Retry-After */
	const struct hub_request *kept; /* /v1/keep's last request (a bug, on purpose) */
};

static const struct hub_config_key keys[] = {
	{.name = "key", .type = HUB_CFG_STRING, .is_secret = 1,
	 .description = "bearer token the routes require (none when unset)"},
	{.name = "hold", .type = HUB_CFG_STRING,
	 .description = "POST /v1/hold waits until this file exists"},
	{.name = NULL},
};

static hub_rc echo_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	struct echo *e = calloc(1, sizeof(*e));
	const char *key = host->config_string(inst, "key");

	if (!e || (key && !(e->key = strdup(key)))) {
		free(e);
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	e->host = host;
	e->hold = host->config_string(inst, "hold");
	*state = e;
	return HUB_OK;
}

static void echo_destroy(void *state)
{
	struct echo *e = state;

	if (!e)
		return;
	free(e->key);
	free(e);
}

/* 0 when the request may pass; else resp is a 401. */
static int echo_auth(const struct echo *e, const struct hub_request *req,
		     struct hub_response *resp)
{
	const char *h, *q;

	if (!e->key)
		return 0;
	h = req->header(req, "authorization"); /* any case works */
	if (h && strncmp(h, "Bearer ", 7) == 0 &&
	    e->host->secret_equal(h + 7, strlen(h + 7), e->key, strlen(e->key)))
		return 0;
	q = HUB_HOST_HAS(e->host, query) ? e->host->query(req, "key") : NULL;
	if (q && e->host->secret_equal(q, strlen(q), e->key, strlen(e->key)))
		return 0;
	resp->status = 401;
	snprintf(resp->body, sizeof(resp->body),
		 "{\"error\":{\"code\":\"unauthorized\",\"message\":\"bad key\"}}");
	return -1;
}

/* Emits one record per line; stops at the first refused one (its index in
 * *bad, the host's reason in why). */
static hub_rc echo_emit_lines(const struct echo *e, struct hub_call *call,
			      const struct hub_request *req, size_t *bad, char *why,
			      size_t why_size)
{
	const char *p = req->body, *end = req->body + req->body_len;
	size_t index = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[2048], *tab, where[32];
		struct hub_ident id = {"installation_id", line};
		struct hub_record rec;
		hub_rc rc;

		if (len == 0 || len >= sizeof(line)) {
			p += len + 1;
			continue;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		if (line[0] == '!' && HUB_HOST_HAS(e->host, reject)) {
			if ((rc = e->host->reject(call, line + 1)) != HUB_OK) {
				*bad = index;
				return rc;
			}
			index++;
			p += len + 1;
			continue;
		}
		if (line[0] == '~' && HUB_HOST_HAS(e->host, skip)) {
			if ((rc = e->host->skip(call, line + 1)) != HUB_OK) {
				*bad = index;
				return rc;
			}
			index++;
			p += len + 1;
			continue;
		}
		if (line[0] == '?' && HUB_HOST_HAS(e->host, warn)) {
			/* a value left out of the record emitted last (ABI 1.6) */
			if ((rc = e->host->warn(call, line + 1)) != HUB_OK) {
				*bad = index;
				return rc;
			}
			p += len + 1;
			continue;
		}
		tab = strchr(line, '\t');
		if (tab) {
			*tab = '\0';
			hub_record_init(&rec, HUB_REC_ATTRIBUTES);
			rec.attributes_json = tab + 1;
			snprintf(where, sizeof(where), "lines[%zu]", index);
			rec.origin = where; /* ABI 1.3; track lines leave it unset */
		} else {
			hub_record_init(&rec, HUB_REC_TRACK);
			rec.event_name = "echo";
		}
		rec.identifiers = &id;
		rec.n_identifiers = 1;
		rc = e->host->emit(call, &rec, why, why_size);
		if (rc != HUB_OK) {
			*bad = index;
			return rc;
		}
		index++;
		p += len + 1;
	}
	return HUB_OK;
}

static hub_rc echo_handle(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	struct echo *e = state;
	char why[512] = "";
	size_t bad = 0;
	hub_rc rc;

	if (echo_auth(e, req, resp))
		return HUB_ERR_AUTH;
	rc = echo_emit_lines(e, call, req, &bad, why, sizeof(why));
	if (rc != HUB_OK) {
		resp->status = 400;
		snprintf(resp->body, sizeof(resp->body),
			 "{\"error\":{\"code\":\"invalid_record\",\"message\":\"line %zu refused\","
			 "\"index\":%zu}}",
			 bad, bad);
		return rc;
	}
	resp->status = 200;
	snprintf(resp->body, sizeof(resp->body), "{\"ok\":true}");
	return HUB_OK;
}

static hub_rc echo_reject(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	(void)call;
	if (echo_auth(state, req, resp))
		return HUB_ERR_AUTH;
	resp->status = 400; /* empty body: the host writes the JSON error */
	return HUB_ERR_DATA;
}

/* A JSON string of s (plain ASCII, as the tests send) or null. */
static const char *json_or_null(const char *s, char *buf, size_t size)
{
	if (!s)
		return "null";
	snprintf(buf, size, "\"%.60s\"", s);
	return buf;
}

static hub_rc echo_keep(void *state, struct hub_call *call, const struct hub_request *req,
			struct hub_response *resp)
{
	struct echo *e = state;
	const struct hub_request *old = e->kept;
	char m[80], h[80], q[80];

	(void)call;
	e->kept = req;
	if (!old) {
		snprintf(resp->body, sizeof(resp->body), "{\"first\":true}");
		return HUB_OK;
	}
	snprintf(resp->body, sizeof(resp->body),
		 "{\"method\":%s,\"header\":%s,\"query\":%s,\"body_len\":%zu}",
		 json_or_null(old->method, m, sizeof(m)),
		 json_or_null(old->header(old, "x-probe"), h, sizeof(h)),
		 json_or_null(e->host->query(old, "probe"), q, sizeof(q)), old->body_len);
	return HUB_OK;
}

static hub_rc echo_emit_then_reject(void *state, struct hub_call *call,
				    const struct hub_request *req, struct hub_response *resp)
{
	char why[512] = "";
	size_t bad = 0;

	if (echo_auth(state, req, resp))
		return HUB_ERR_AUTH;
	echo_emit_lines(state, call, req, &bad, why, sizeof(why));
	resp->status = 400;
	snprintf(resp->body, sizeof(resp->body),
		 "{\"error\":{\"code\":\"rejected\",\"message\":\"told to\",\"index\":0}}");
	return HUB_ERR_DATA;
}

static hub_rc echo_emit_then_status(void *state, struct hub_call *call,
				    const struct hub_request *req, struct hub_response *resp)
{
	const struct echo *e = state;
	const char *q = HUB_HOST_HAS(e->host, query) ? e->host->query(req, "status") : NULL;
	char why[512] = "";
	size_t bad = 0;

	if (echo_auth(e, req, resp))
		return HUB_ERR_AUTH;
	echo_emit_lines(e, call, req, &bad, why, sizeof(why));
	resp->status = q ? atoi(q) : 422;
	snprintf(resp->body, sizeof(resp->body),
		 "{\"error\":{\"code\":\"told_to\",\"message\":\"status from the query\"}}");
	return HUB_OK;
}

static hub_rc echo_emit_deaf(void *state, struct hub_call *call, const struct hub_request *req,
			     struct hub_response *resp)
{
	struct hub_request line = *req;
	char why[512] = "";
	size_t bad = 0;

	if (echo_auth(state, req, resp))
		return HUB_ERR_AUTH;
	/* one line at a time: a failed emit() does not stop the next */
	for (const char *p = req->body, *nl; *p; p = nl + 1) {
		if (!(nl = strchr(p, '\n')))
			break;
		line.body = p;
		line.body_len = (size_t)(nl - p) + 1;
		echo_emit_lines(state, call, &line, &bad, why, sizeof(why));
	}
	resp->status = 200;
	snprintf(resp->body, sizeof(resp->body), "{\"ok\":true}");
	return HUB_OK;
}

static hub_rc echo_answer(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	struct echo *e = state;
	int rc = 0, status = 0, end = 0;

	(void)call;
	if (echo_auth(state, req, resp))
		return HUB_ERR_AUTH;
	if (sscanf(req->body, "%d %d%n", &rc, &status, &end) != 2)
		return HUB_ERR_DATA;
	if (req->body[end] == ' ') {
		snprintf(e->retry_after, sizeof(e->retry_after), "%.*s",
			 (int)(req->body_len - (size_t)end - 1), req->body + end + 1);
		resp->retry_after = e->retry_after;
	}
	resp->status = status;
	snprintf(resp->body, sizeof(resp->body), "{\"ok\":true}");
	return (hub_rc)rc;
}

static int hold_exists(const struct echo *e, const struct hub_call *call)
{
	(void)call;
	return access(e->hold, F_OK) == 0;
}

static int hub_stops(const struct echo *e, const struct hub_call *call)
{
	return e->host->should_stop(call);
}

/* /v1/hold and /v1/until_stop: creates "<hold>.held", then waits at most
 * 20 s until is_done(e, call); answers body_done when it came, else
 * body_late. */
static hub_rc echo_wait(const struct echo *e, struct hub_call *call,
			const struct hub_request *req, struct hub_response *resp,
			int (*is_done)(const struct echo *, const struct hub_call *),
			const char *body_done, const char *body_late)
{
	struct timespec pause = {0, 5 * 1000 * 1000};
	char held[600];
	FILE *f;

	if (echo_auth(e, req, resp))
		return HUB_ERR_AUTH;
	if (!e->hold)
		return HUB_ERR_CONFIG;
	snprintf(held, sizeof(held), "%s.held", e->hold);
	if ((f = fopen(held, "w")))
		fclose(f);
	for (int i = 0; i < 4000 && !is_done(e, call); i++)
		nanosleep(&pause, NULL);
	snprintf(resp->body, sizeof(resp->body), "%s", is_done(e, call) ? body_done : body_late);
	return HUB_OK;
}

static hub_rc echo_hold(void *state, struct hub_call *call, const struct hub_request *req,
			struct hub_response *resp)
{
	return echo_wait(state, call, req, resp, hold_exists, "{\"ok\":true}", "{\"ok\":true}");
}

static hub_rc echo_until_stop(void *state, struct hub_call *call, const struct hub_request *req,
			      struct hub_response *resp)
{
	return echo_wait(state, call, req, resp, hub_stops, "{\"stopped\":true}",
			 "{\"stopped\":false}");
}

static const struct hub_route routes[] = {
	{.method = "POST", .path = "/v1/echo", .handle = echo_handle},
	{.method = "PUT", .path = "/v1/echo", .handle = echo_handle},
	{.method = "POST", .path = "/v1/reject", .handle = echo_reject},
	{.method = "POST", .path = "/v1/emit_then_reject", .handle = echo_emit_then_reject},
	{.method = "POST", .path = "/v1/emit_then_status", .handle = echo_emit_then_status},
	{.method = "POST", .path = "/v1/emit_deaf", .handle = echo_emit_deaf},
	{.method = "POST", .path = "/v1/answer", .handle = echo_answer},
	{.method = "POST", .path = "/v1/hold", .handle = echo_hold},
	{.method = "POST", .path = "/v1/keep", .handle = echo_keep},
	{.method = "POST", .path = "/v1/until_stop", .handle = echo_until_stop},
	{.method = NULL},
};

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "echo_push",
	.version = "0.0.1",
	.description = "test push source: one record per body line",
	.roles = HUB_ROLE_PUSH,
	.config = keys,
	.create = echo_create,
	.destroy = echo_destroy,
	.routes = routes,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
