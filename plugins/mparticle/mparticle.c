/*
 * mparticle.c - the mparticle push source: mParticle's Events API
 * (POST /v2/events with one batch, /v2/bulkevents with up to 100,
 * /v2/bulkevents/historical: up to 100 whose events all carry their time) and
 * mParticle's outbound webhook (/webhook), mounted by the hub under
 * /in/<source name>/.  Also reads one batch per JSON Lines line for
 * `profilehub import --format mparticle`.
 *
 * This file holds the descriptor, the config and the routes: each route
 * checks the size and who is calling (mparticle_auth.c), runs the body
 * (mparticle_request.c) and turns the outcome into the answer: 202 {}, or
 * mParticle's error body {"errors": [{"code", "message", "index"?,
 * "event_index"?}]} with 400, 401, 403, 404, 413 or 503.  The host
 * discards everything a call emitted unless the answer is 2xx.
 *
 * A route whose credential is not set (api_key, webhook_authorization) is
 * off: it answers as a path the hub does not serve (route_off.h), and the
 * log says why.
 *
 * The state is read-only after create(), but for atomic counters: routes
 * run on several HTTP threads at once.  The key, secret and webhook Authorization value never
 * appear in a message or a log line.
 */
#include "mparticle.h"

#include "../common/route_off.h"
#include "../common/text.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct hub_config_key mparticle_keys[] = {
	{.name = "api_key", .type = HUB_CFG_STRING,
	 .description = "Events API key (/v2/events, /v2/bulkevents, "
			"/v2/bulkevents/historical): the Basic auth user name; set with "
			"api_secret"},
	{.name = "api_secret", .type = HUB_CFG_STRING, .is_secret = 1,
	 .description = "Events API secret: the Basic auth password; set with api_key"},
	{.name = "webhook_authorization", .type = HUB_CFG_STRING, .is_secret = 1,
	 .description = "the Authorization header value mParticle's webhook output sends "
			"(/webhook); unset: the webhook is off"},
	{.name = "gdpr_purposes", .type = HUB_CFG_OBJECT,
	 .description = "GDPR consent purpose -> the subscription it sets (email_marketing, "
			"sms_marketing or a list of both), purposes and channels without case; "
			"unset: gdpr_email_purpose and gdpr_sms_purpose"},
	{.name = "gdpr_email_purpose", .type = HUB_CFG_STRING,
	 .description = "the GDPR consent purpose whose \"consented\" sets the "
			"email_marketing subscription (case-insensitive; default "
			"email_marketing; not with gdpr_purposes)"},
	{.name = "gdpr_sms_purpose", .type = HUB_CFG_STRING,
	 .description = "the GDPR consent purpose whose \"consented\" sets the "
			"sms_marketing subscription (case-insensitive; default "
			"sms_marketing; not with gdpr_purposes)"},
	{.name = "environments", .type = HUB_CFG_STRING_LIST, .default_value = "[production]",
	 .description = "the batch environments stored: production, development or both "
			"(without case); a batch of another is acknowledged (202), counted "
			"and not stored"},
	{.name = NULL},
};

/* ---- create / destroy ------------------------------------------------- */

static void secret_free(char *s, size_t len)
{
	if (s)
		OPENSSL_cleanse(s, len);
	free(s);
}

static void mparticle_destroy(void *state)
{
	struct mp_state *st = state;

	if (!st)
		return;
	secret_free(st->api_key, st->api_key_len);
	secret_free(st->api_secret, st->api_secret_len);
	secret_free(st->webhook_auth, st->webhook_auth_len);
	mp_purposes_free(&st->purposes);
	mp_unmapped_free(st->unmapped);
	free(st);
}

/* Copies config key `key` into *out (NULL when unset; mp_values_read()
 * refused an empty one). */
static hub_rc string_load(struct mp_state *st, const char *key, char **out, size_t *len)
{
	const char *v = st->host->config_string(st->inst, key);

	*out = NULL;
	if (!v)
		return HUB_OK;
	if (!(*out = strdup(v)))
		return HUB_ERR_NOMEM;
	if (len)
		*len = strlen(v);
	return HUB_OK;
}

/* What create() refuses of which credentials are set, whoever asks:
 * HUB_OK or HUB_ERR_CONFIG with err. */
static hub_rc mp_keys_problem(const char *api_key, int has_api_secret, int has_webhook_auth,
			       char *err, size_t err_size)
{
	if (!api_key != !has_api_secret) {
		snprintf(err, err_size, "set api_key and api_secret together");
		return HUB_ERR_CONFIG;
	}
	if (!api_key && !has_webhook_auth) {
		snprintf(err, err_size, "set api_key and api_secret (Events API), "
					"webhook_authorization (webhook) or both");
		return HUB_ERR_CONFIG;
	}
	if (strchr(api_key ? api_key : "", ':')) {
		snprintf(err, err_size, "api_key: must not contain \":\" (Basic auth)");
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

/* `environments`: which batch environments are stored, into *production
 * and *development, named without case as a batch's `environment` is read
 * ("Production" is production).  HUB_OK, or HUB_ERR_CONFIG with err (an
 * unknown name, or an empty list, which would store nothing). */
static hub_rc mp_envs_read(const struct hub_host *host, const struct hub_instance *inst,
			   int *production, int *development, char *err, size_t err_size)
{
	size_t n = host->config_list_size(inst, "environments");

	*production = *development = 0;
	for (size_t i = 0; i < n; i++) {
		const char *v = host->config_list_item(inst, "environments", i);
		if (v && strcasecmp(v, "production") == 0) {
			*production = 1;
		} else if (v && strcasecmp(v, "development") == 0) {
			*development = 1;
		} else {
			snprintf(err, err_size, "environments[%zu]: \"%.40s\" is no mParticle "
				 "environment (production or development)", i, v ? v : "");
			return HUB_ERR_CONFIG;
		}
	}
	if (!*production && !*development) {
		snprintf(err, err_size, "environments: empty: it would store nothing (the "
					"default is [production])");
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

/*
 * Everything create() refuses of the values alone, and all that
 * check_config() refuses (ABI 1.10; a source without credentials passed
 * `check` and stopped `run`): an empty credential, which credentials are
 * set, environments and the GDPR purposes.  Reads them into *production,
 * *development and *purposes (the caller's to free, also on failure).
 * HUB_OK, or a code with err naming the key.
 */
static hub_rc mp_values_read(const struct hub_host *host, const struct hub_instance *inst,
			     int *production, int *development, struct mp_purposes *purposes,
			     char *err, size_t err_size)
{
	static const char *const keys[] = {"api_key", "api_secret", "webhook_authorization"};
	hub_rc rc;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = host->config_string(inst, keys[i]);
		if (v && !*v) {
			snprintf(err, err_size, "%s: must not be empty", keys[i]);
			return HUB_ERR_CONFIG;
		}
	}
	if ((rc = mp_keys_problem(host->config_string(inst, "api_key"),
				  host->config_string(inst, "api_secret") != NULL,
				  host->config_string(inst, "webhook_authorization") != NULL, err,
				  err_size)) ||
	    (rc = mp_envs_read(host, inst, production, development, err, err_size)))
		return rc;
	return mp_purposes_read(host, inst, purposes, err, err_size);
}

static hub_rc mparticle_check_config(const struct hub_host *host,
				     const struct hub_instance *inst, char *err, size_t err_size)
{
	struct mp_purposes purposes;
	int production, development;
	hub_rc rc;

	memset(&purposes, 0, sizeof(purposes));
	rc = mp_values_read(host, inst, &production, &development, &purposes, err, err_size);
	mp_purposes_free(&purposes);
	return rc;
}

static hub_rc mparticle_create(const struct hub_host *host, const struct hub_instance *inst,
			       void **state, char *err, size_t err_size)
{
	struct mp_state *st = calloc(1, sizeof(*st));
	hub_rc rc;

	if (!st)
		return HUB_ERR_NOMEM;
	st->host = host;
	st->inst = inst;
	if ((rc = mp_values_read(host, inst, &st->store_production, &st->store_development,
				 &st->purposes, err, err_size)))
		goto fail;
	rc = HUB_ERR_NOMEM;
	if (string_load(st, "api_key", &st->api_key, &st->api_key_len) ||
	    string_load(st, "api_secret", &st->api_secret, &st->api_secret_len) ||
	    string_load(st, "webhook_authorization", &st->webhook_auth, &st->webhook_auth_len))
		goto fail;
	if (!(st->unmapped = mp_unmapped_new()))
		goto fail;
	*state = st;
	return HUB_OK;
fail:
	mparticle_destroy(st);
	return rc;
}

/* ---- answers ---------------------------------------------------------- */

/* {"errors": [{"code", "message", "index"?, "event_index"?}]} into out
 * (NUL-terminated), the message cut at `max` bytes (at a character
 * boundary).  0, or -1 if it does not fit. */
static int mp_errors_write(char *out, size_t out_size, const struct mp_error *e, size_t max)
{
	size_t n = text_utf8_prefix(e->message, max);
	json_t *item, *doc;

	item = json_pack("{s:s, s:s%}", "code", e->code, "message", e->message, n);
	if (item && e->index >= 0)
		json_object_set_new(item, "index", json_integer(e->index));
	if (item && e->event_index >= 0)
		json_object_set_new(item, "event_index", json_integer(e->event_index));
	doc = item ? json_pack("{s:[o]}", "errors", item) : NULL;
	n = doc && out_size ? json_dumpb(doc, out, out_size - 1, JSON_COMPACT) : 0;
	json_decref(doc);
	if (n == 0 || n >= out_size)
		return -1;
	out[n] = '\0';
	return 0;
}

static int mp_error_body(struct hub_response *resp, const struct mp_error *e, size_t max)
{
	return mp_errors_write(resp->body, sizeof(resp->body), e, max);
}

/* hub_plugin.error_body (ABI 1.6): the hub's own refusals on our routes
 * (405, 413 past http.max_body, 415, a body that does not inflate, 429,
 * 503) in mParticle's shape, as every answer of ours is. */
static void mparticle_error_body(unsigned status, const char *code, const char *message,
				 char *body, size_t body_size)
{
	struct mp_error e = {(int)status, code, -1, -1, ""};

	snprintf(e.message, sizeof(e.message), "%s", message);
	text_utf8_repair(e.message);
	if (mp_errors_write(body, body_size, &e, sizeof(e.message)) && body_size)
		body[0] = '\0'; /* the hub's shape, rather than nothing */
}

/* The 202's body: {} when every batch was stored, else what was not. */
static void mp_accepted(struct hub_response *resp, size_t n_skipped, const char *skipped_env)
{
	resp->status = 202;
	if (n_skipped == 0)
		snprintf(resp->body, sizeof(resp->body), "{}");
	else
		snprintf(resp->body, sizeof(resp->body),
			 "{\"not_stored\":{\"batches\":%zu,\"reason\":\"environment %s: not "
			 "one of this source's environments\"}}",
			 n_skipped, skipped_env);
}

/* Fills the answer for an outcome; returns the rc the route returns. */
static hub_rc mp_respond(const struct mp_state *st, struct hub_response *resp, hub_rc rc,
			 struct mp_error *e, size_t n_skipped)
{
	if (rc == HUB_OK) {
		/* one of the two environments is stored: the other is skipped */
		mp_accepted(resp, n_skipped, st->store_production ? "development" : "production");
		return HUB_OK;
	}
	resp->status = e->status ? e->status : 500;
	if (!e->code)
		e->code = "internal";
	if (resp->status == 503)
		resp->retry_after = "1";
	text_utf8_repair(e->message);
	if (mp_error_body(resp, e, sizeof(e->message)) && mp_error_body(resp, e, 120))
		snprintf(resp->body, sizeof(resp->body),
			 "{\"errors\":[{\"code\":\"internal\",\"message\":\"error\"}]}");
	if (resp->status == 503)
		return rc == HUB_ERR_STOPPED ? HUB_ERR_STOPPED : HUB_ERR_BUSY;
	return resp->status >= 500 ? rc : HUB_ERR_DATA;
}

/* The refusal of a caller: 401 or 403 from mparticle_auth.c. */
static hub_rc mp_refuse(struct hub_response *resp, int status, const char *what)
{
	struct mp_error e = {0};

	if (status == 401)
		mp_error_set(&e, 401, "unauthorized", -1, "missing or unreadable %s", what);
	else
		mp_error_set(&e, 403, "forbidden", -1, "wrong %s", what);
	return mp_respond(NULL, resp, HUB_ERR_DATA, &e, 0);
}

static hub_rc mp_too_large(struct hub_response *resp, size_t len)
{
	struct mp_error e = {0};

	mp_error_set(&e, 413, "body_too_large", -1, "body: %zu bytes, the limit is %d", len,
		     MP_MAX_BODY);
	return mp_respond(NULL, resp, HUB_ERR_DATA, &e, 0);
}

/* A route that is off for want of `key`: answered as a path the hub
 * does not serve, said in the log (route_off.h). */
static hub_rc mp_off(const struct mp_state *st, struct hub_response *resp, const char *route,
		     const char *key)
{
	struct mp_error e = {0};

	route_off_log(st->host, st->inst, (atomic_llong *)&st->n_off_requests, route, key);
	mp_error_set(&e, 404, ROUTE_OFF_CODE, -1, ROUTE_OFF_MESSAGE);
	return mp_respond(NULL, resp, HUB_ERR_DATA, &e, 0);
}

/* ---- routes ----------------------------------------------------------- */

static const char *mp_header(const struct hub_request *req, const char *name)
{
	return req->header ? req->header(req, name) : NULL;
}

/* The Events API's refusal from the headers (off, or Basic credentials
 * missing or wrong) into resp: its code, or HUB_OK. */
static hub_rc api_header_refusal(const struct mp_state *st, const struct hub_request *req,
				 struct hub_response *resp)
{
	int status;

	if (!st->api_key)
		return mp_off(st, resp,
			      "the Events API (POST /v2/events, /v2/bulkevents, "
			      "/v2/bulkevents/historical)",
			      "api_key");
	if ((status = mp_auth_basic(st, mp_header(req, "Authorization"))) != 200)
		return mp_refuse(resp, status, "Basic credentials (api_key:api_secret)");
	return HUB_OK;
}

/* The same for the webhook output (its configured Authorization value). */
static hub_rc webhook_header_refusal(const struct mp_state *st, const struct hub_request *req,
				     struct hub_response *resp)
{
	int status;

	if (!st->webhook_auth)
		return mp_off(st, resp, "POST /webhook", "webhook_authorization");
	if ((status = mp_auth_webhook(st, mp_header(req, "Authorization"))) != 200)
		return mp_refuse(resp, status, "Authorization");
	return HUB_OK;
}

static hub_rc route_api(void *state, struct hub_call *call, const struct hub_request *req,
			struct hub_response *resp, enum mp_shape shape)
{
	const struct mp_state *st = state;
	struct mp_error e = {0};
	size_t n_skipped;
	hub_rc rc;

	if ((rc = api_header_refusal(st, req, resp)) != HUB_OK)
		return rc;
	if (req->body_len > MP_MAX_BODY)
		return mp_too_large(resp, req->body_len);
	rc = mp_request_run(st, call, req->body, req->body_len, shape, st->host->now_ms(), &e,
			    &n_skipped);
	return mp_respond(st, resp, rc, &e, n_skipped);
}

static hub_rc route_events(void *state, struct hub_call *call, const struct hub_request *req,
			   struct hub_response *resp)
{
	return route_api(state, call, req, resp, MP_ONE_BATCH);
}

static hub_rc route_bulkevents(void *state, struct hub_call *call,
			       const struct hub_request *req, struct hub_response *resp)
{
	return route_api(state, call, req, resp, MP_BULK);
}

/* A backfill: /v2/bulkevents whose every event carries its own time. */
static hub_rc route_historical(void *state, struct hub_call *call,
			       const struct hub_request *req, struct hub_response *resp)
{
	return route_api(state, call, req, resp, MP_HISTORICAL);
}

/* mParticle's webhook output: the configured Authorization value. */
static hub_rc route_webhook(void *state, struct hub_call *call,
			    const struct hub_request *req, struct hub_response *resp)
{
	const struct mp_state *st = state;
	struct mp_error e = {0};
	size_t n_skipped;
	hub_rc rc;

	if ((rc = webhook_header_refusal(st, req, resp)) != HUB_OK)
		return rc;
	if (req->body_len > MP_MAX_BODY)
		return mp_too_large(resp, req->body_len);
	rc = mp_request_run(st, call, req->body, req->body_len, MP_ANY, st->host->now_ms(), &e,
			    &n_skipped);
	return mp_respond(st, resp, rc, &e, n_skipped);
}

static const struct hub_route mparticle_routes[] = {
	{"POST", "/v2/events", route_events},
	{"POST", "/v2/bulkevents", route_bulkevents},
	{"POST", "/v2/bulkevents/historical", route_historical},
	{"POST", "/webhook", route_webhook},
	{.method = NULL},
};

/* ABI 1.11: the credentials, from the headers, before the body is read
 * (a wrong one costs the hub no read of up to http.max_body); the routes
 * check them again for an older hub. */
static hub_rc mparticle_admit(void *state, const struct hub_request *req,
			      struct hub_response *resp)
{
	const struct mp_state *st = state;

	return strcmp(req->path, "/webhook") == 0 ? webhook_header_refusal(st, req, resp)
						  : api_header_refusal(st, req, resp);
}

/* ---- import ----------------------------------------------------------- */

/* One batch (Events API or webhook form) per line; no auth. */
static hub_rc mparticle_import_line(void *state, struct hub_call *call, const char *line,
				    size_t len, char *err, size_t err_size)
{
	struct mp_error e = {0};
	size_t n_skipped;
	hub_rc rc = mp_request_run(state, call, line, len, MP_ONE_BATCH, 0, &e, &n_skipped);

	if (rc != HUB_OK)
		snprintf(err, err_size, "%s", e.message);
	return rc;
}

/* ---- the descriptor --------------------------------------------------- */

static const struct hub_plugin mparticle_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "mparticle",
	.version = "1.0.0",
	.description = "mParticle Events API and webhook output (push)",
	.roles = HUB_ROLE_PUSH,
	.config = mparticle_keys,
	.create = mparticle_create,
	.destroy = mparticle_destroy,
	.routes = mparticle_routes,
	.import_line = mparticle_import_line,
	.error_body = mparticle_error_body,
	.admit = mparticle_admit,
	.check_config = mparticle_check_config,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &mparticle_plugin;
}
