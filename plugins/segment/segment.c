/*
 * segment.c - the segment push source: Segment's HTTP Tracking API
 * (/v1/batch and the single calls /v1/identify, /v1/track, /v1/page,
 * /v1/screen, /v1/group, /v1/alias) and the Segment Webhooks destination
 * (/webhook), mounted by the hub under /in/<source name>/.  Also reads
 * Segment events from JSON Lines for `profilehub import --format segment`.
 *
 * This file holds the descriptor, the config, and the routes: each route
 * checks who is calling (segment_auth.c), runs the body (segment_request.c)
 * and turns the outcome into the answer: 200 {"success": true}, or
 * {"error": {"code", "message", "index"?}} with 400, 401, 404, 413 or 503.
 * The host discards everything a call emitted unless the answer is 2xx.
 *
 * A webhook array signed over its first element only (Segment Actions
 * batch mode) is refused unless the source sets webhook_batch_signature:
 * such a signature says nothing of the later elements, so anyone holding one
 * signed event could append any events to it.
 *
 * The webhook of a source without webhook_secret is off: it answers as a
 * path the hub does not serve (route_off.h), and the log says why.
 *
 * The state is read-only after create(), but for one atomic counter:
 * routes run on several HTTP threads at once.  Write keys, the webhook secret and signatures never
 * appear in a message or a log line.
 */
#include "segment.h"

#include "../common/route_off.h"
#include "../common/text.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hub_config_key segment_keys[] = {
	{.name = "write_keys", .type = HUB_CFG_STRING_LIST, .is_secret = 1,
	 .description = "write keys accepted by the tracking API (/v1/...): Basic auth "
			"user name or \"writeKey\" in the body"},
	{.name = "webhook_secret", .type = HUB_CFG_STRING, .is_secret = 1,
	 .description = "shared secret of the Segment Webhooks destination (/webhook): "
			"X-Signature is the hex HMAC-SHA1 of the body"},
	{.name = "webhook_batch_signature", .type = HUB_CFG_BOOL, .default_value = "false",
	 .description = "true: also accept a webhook array whose X-Signature covers only its "
			"first element (Segment Actions batch mode); the later elements are then "
			"not authenticated"},
	{.name = NULL},
};

/* ---- create / destroy ------------------------------------------------- */

static void segment_destroy(void *state)
{
	struct seg_state *st = state;

	if (!st)
		return;
	for (size_t i = 0; i < st->n_write_keys; i++) {
		OPENSSL_cleanse(st->write_keys[i].value, st->write_keys[i].len);
		free(st->write_keys[i].value);
	}
	free(st->write_keys);
	if (st->webhook_secret)
		OPENSSL_cleanse(st->webhook_secret, st->webhook_secret_len);
	free(st->webhook_secret);
	free(st);
}

/* The write keys (seg_values_check() refused an empty one). */
static hub_rc keys_load(struct seg_state *st)
{
	size_t n = st->host->config_list_size(st->inst, "write_keys");

	if (n && !(st->write_keys = calloc(n, sizeof(*st->write_keys))))
		return HUB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *key = st->host->config_list_item(st->inst, "write_keys", i);
		if (!(st->write_keys[i].value = strdup(key)))
			return HUB_ERR_NOMEM;
		st->write_keys[i].len = strlen(key);
		st->n_write_keys++;
	}
	return HUB_OK;
}

/* The webhook secret, when set (seg_values_check() refused an empty one). */
static hub_rc secret_load(struct seg_state *st)
{
	const char *secret = st->host->config_string(st->inst, "webhook_secret");

	if (!secret)
		return HUB_OK;
	if (!(st->webhook_secret = strdup(secret)))
		return HUB_ERR_NOMEM;
	st->webhook_secret_len = strlen(secret);
	return HUB_OK;
}

/* A write key holding ":" could never match through Basic auth: the user
 * name ends at its first ":" (RFC 7617), and Segment's libraries send
 * base64("<writeKey>:") as it is.  Refused by its place, never its value:
 * HUB_OK or HUB_ERR_CONFIG with err. */
static hub_rc seg_write_keys_problem(const struct hub_host *host,
				     const struct hub_instance *inst, char *err, size_t err_size)
{
	size_t n = host->config_list_size(inst, "write_keys");

	for (size_t i = 0; i < n; i++) {
		const char *key = host->config_list_item(inst, "write_keys", i);
		if (!key || !*key) {
			snprintf(err, err_size, "write_keys[%zu] is empty", i);
			return HUB_ERR_CONFIG;
		}
		if (strchr(key, ':')) {
			snprintf(err, err_size, "write_keys[%zu]: must not contain \":\" (a Basic "
				 "auth user name ends at its first \":\": the key would never "
				 "match)", i);
			return HUB_ERR_CONFIG;
		}
	}
	return HUB_OK;
}

/* A boolean key; false when the host table has no config_bool (the fuzzers'
 * fake hosts): the secure default. */
static int config_flag(const struct hub_host *host, const struct hub_instance *inst,
		       const char *key)
{
	return host->config_bool && host->config_bool(inst, key) == 1;
}

/* What create() refuses of which keys are set, whoever asks: HUB_OK or
 * HUB_ERR_CONFIG with err.  (Empty values are the host's to refuse, at
 * their place: a secret must not be empty.) */
static hub_rc seg_keys_problem(int has_write_keys, int has_webhook_secret,
			       int is_batch_signature_allowed, char *err, size_t err_size)
{
	if (!has_write_keys && !has_webhook_secret) {
		snprintf(err, err_size, "set write_keys (tracking API), webhook_secret "
					"(webhooks) or both");
		return HUB_ERR_CONFIG;
	}
	if (is_batch_signature_allowed && !has_webhook_secret) {
		snprintf(err, err_size, "webhook_batch_signature: true needs webhook_secret");
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

/*
 * Everything create() refuses of the values alone, and all that
 * check_config() refuses (ABI 1.10; a source with neither write_keys nor
 * webhook_secret passed `check` and stopped `run`): the write keys, an
 * empty webhook_secret, which keys are set.  HUB_OK or HUB_ERR_CONFIG with
 * err.
 */
static hub_rc seg_values_check(const struct hub_host *host, const struct hub_instance *inst,
			       char *err, size_t err_size)
{
	const char *secret = host->config_string(inst, "webhook_secret");

	if (seg_write_keys_problem(host, inst, err, err_size))
		return HUB_ERR_CONFIG;
	if (secret && !*secret) {
		snprintf(err, err_size, "webhook_secret is empty");
		return HUB_ERR_CONFIG;
	}
	return seg_keys_problem(host->config_list_size(inst, "write_keys") > 0, secret != NULL,
				config_flag(host, inst, "webhook_batch_signature"), err,
				err_size);
}

static hub_rc segment_check_config(const struct hub_host *host, const struct hub_instance *inst,
				   char *err, size_t err_size)
{
	return seg_values_check(host, inst, err, err_size);
}

static hub_rc segment_create(const struct hub_host *host, const struct hub_instance *inst,
			     void **state, char *err, size_t err_size)
{
	struct seg_state *st = calloc(1, sizeof(*st));
	hub_rc rc;

	if (!st)
		return HUB_ERR_NOMEM;
	st->host = host;
	st->inst = inst;
	if ((rc = seg_values_check(host, inst, err, err_size)) || (rc = keys_load(st)) ||
	    (rc = secret_load(st)))
		goto fail;
	st->is_batch_signature_allowed = config_flag(host, inst, "webhook_batch_signature");
	*state = st;
	return HUB_OK;
fail:
	segment_destroy(st);
	return rc;
}

/* ---- answers ---------------------------------------------------------- */

static int error_body(struct hub_response *resp, const struct seg_error *e, size_t max)
{
	size_t n = text_utf8_prefix(e->message, max); /* not inside a character */
	json_t *inner, *outer;

	inner = json_pack("{s:s, s:s%}", "code", e->code, "message", e->message, n);
	if (inner && e->index >= 0)
		json_object_set_new(inner, "index", json_integer(e->index));
	outer = inner ? json_pack("{s:o}", "error", inner) : NULL;
	n = outer ? json_dumpb(outer, resp->body, sizeof(resp->body) - 1, JSON_COMPACT) : 0;
	json_decref(outer);
	if (n == 0 || n >= sizeof(resp->body))
		return -1;
	resp->body[n] = '\0';
	return 0;
}

/* Fills the answer for an outcome; returns the rc the route returns. */
static hub_rc respond(struct hub_response *resp, hub_rc rc, struct seg_error *e)
{
	if (rc == HUB_OK) {
		resp->status = 200;
		snprintf(resp->body, sizeof(resp->body), "{\"success\":true}");
		return HUB_OK;
	}
	resp->status = e->status ? e->status : 500;
	if (!e->code)
		e->code = "internal";
	if (resp->status == 503)
		resp->retry_after = "1";
	text_utf8_repair(e->message);
	/* a message may be cut (while staying UTF-8) to fit the body */
	if (error_body(resp, e, sizeof(e->message)) && error_body(resp, e, 120))
		snprintf(resp->body, sizeof(resp->body),
			 "{\"error\":{\"code\":\"internal\",\"message\":\"error\"}}");
	if (resp->status == 503)
		return rc == HUB_ERR_STOPPED ? HUB_ERR_STOPPED : HUB_ERR_BUSY;
	return resp->status >= 500 ? rc : HUB_ERR_DATA;
}

/* ---- routes ----------------------------------------------------------- */

static const char *header(const struct hub_request *req, const char *name)
{
	return req->header ? req->header(req, name) : NULL;
}

/* The tracking API's refusal from the headers: an Authorization header
 * whose Basic write key is not one of write_keys (without one the key
 * is read from the body).  1 with e set, or 0. */
static int api_header_refused(const struct seg_state *st, const struct hub_request *req,
			      struct seg_error *e)
{
	const char *authorization = header(req, "Authorization");

	if (!authorization || seg_auth_header(st, authorization))
		return 0;
	seg_error_set(e, 401, "unauthorized", -1, "unknown write key");
	return 1;
}

/* The webhook's refusal from the headers: no webhook_secret (the webhook
 * is off: answered as a path the hub does not serve, said in the log), or
 * no X-Signature.  1 with e set, or 0. */
static int webhook_header_refused(const struct seg_state *st, const struct hub_request *req,
				  struct seg_error *e)
{
	char route[32];

	if (!st->webhook_secret) {
		/* the method the request came with: the route takes PUT and PATCH too */
		snprintf(route, sizeof(route), "%.10s /webhook",
			 req->method ? req->method : "POST");
		route_off_log(st->host, st->inst, (atomic_llong *)&st->n_off_requests, route,
			      "webhook_secret");
		seg_error_set(e, 404, ROUTE_OFF_CODE, -1, ROUTE_OFF_MESSAGE);
		return 1;
	}
	if (header(req, "X-Signature"))
		return 0;
	seg_error_set(e, 401, "unauthorized", -1, "missing or wrong X-Signature");
	return 1;
}

/* The tracking API: Basic auth when there is a header, else the body's
 * writeKey.  `forced`: the type of a single call, -1 for /v1/batch. */
static hub_rc route_api(void *state, struct hub_call *call, const struct hub_request *req,
			struct hub_response *resp, int forced)
{
	const struct seg_state *st = state;
	const char *authorization = header(req, "Authorization");
	struct seg_error e = {0};
	hub_rc rc;

	if (api_header_refused(st, req, &e))
		return respond(resp, HUB_ERR_DATA, &e);
	if (req->body_len > SEG_MAX_BODY) {
		seg_error_set(&e, 413, "body_too_large", -1, "body: %zu bytes, the limit is %d",
			      req->body_len, SEG_MAX_BODY);
		return respond(resp, HUB_ERR_DATA, &e);
	}
	rc = seg_request_run(st, call, req->body, req->body_len, forced, SEG_MODE_API,
			     !authorization, &e);
	return respond(resp, rc, &e);
}

static hub_rc route_batch(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	return route_api(state, call, req, resp, -1);
}

static hub_rc route_identify(void *state, struct hub_call *call,
			     const struct hub_request *req, struct hub_response *resp)
{
	return route_api(state, call, req, resp, SEG_IDENTIFY);
}

static hub_rc route_track(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	return route_api(state, call, req, resp, SEG_TRACK);
}

static hub_rc route_page(void *state, struct hub_call *call, const struct hub_request *req,
			 struct hub_response *resp)
{
	return route_api(state, call, req, resp, SEG_PAGE);
}

static hub_rc route_screen(void *state, struct hub_call *call, const struct hub_request *req,
			   struct hub_response *resp)
{
	return route_api(state, call, req, resp, SEG_SCREEN);
}

static hub_rc route_group(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	return route_api(state, call, req, resp, SEG_GROUP);
}

static hub_rc route_alias(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	return route_api(state, call, req, resp, SEG_ALIAS);
}

static const char *source_name(const struct seg_state *st)
{
	const char *name = st->host->instance_name ? st->host->instance_name(st->inst) : NULL;

	return name ? name : "(this source)";
}

/* The Webhooks destination: the signature is checked on the raw body
 * before it is parsed.  A signature of the first element alone is enough
 * only with webhook_batch_signature; without it the answer says so. */
static hub_rc route_webhook(void *state, struct hub_call *call,
			    const struct hub_request *req, struct hub_response *resp)
{
	const struct seg_state *st = state;
	struct seg_error e = {0};
	hub_rc rc;

	if (webhook_header_refused(st, req, &e))
		return respond(resp, HUB_ERR_DATA, &e);
	if (req->body_len > SEG_MAX_BODY) {
		seg_error_set(&e, 413, "body_too_large", -1, "body: %zu bytes, the limit is %d",
			      req->body_len, SEG_MAX_BODY);
		return respond(resp, HUB_ERR_DATA, &e);
	}
	switch (seg_auth_webhook(st, header(req, "X-Signature"), req->body, req->body_len)) {
	case SEG_SIG_BODY:
		break;
	case SEG_SIG_FIRST_ELEMENT:
		if (st->is_batch_signature_allowed) {
			st->host->log(st->inst, HUB_LOG_DEBUG,
				      "webhook: a %zu-byte array accepted on a signature of its "
				      "first element only (webhook_batch_signature)",
				      req->body_len);
			break;
		}
		seg_error_set(&e, 401, "unauthorized", -1,
			      "X-Signature covers only the first element (Segment Actions "
			      "batching): set webhook_batch_signature: true on source %s to "
			      "accept such batches",
			      source_name(st));
		return respond(resp, HUB_ERR_DATA, &e);
	default:
		seg_error_set(&e, 401, "unauthorized", -1, "missing or wrong X-Signature");
		return respond(resp, HUB_ERR_DATA, &e);
	}
	rc = seg_request_run(st, call, req->body, req->body_len, -1, SEG_MODE_WEBHOOK, 0, &e);
	return respond(resp, rc, &e);
}

static const struct hub_route segment_routes[] = {
	{"POST", "/v1/batch", route_batch},
	{"POST", "/v1/identify", route_identify},
	{"POST", "/v1/track", route_track},
	{"POST", "/v1/page", route_page},
	{"POST", "/v1/screen", route_screen},
	{"POST", "/v1/group", route_group},
	{"POST", "/v1/alias", route_alias},
	{"POST", "/webhook", route_webhook},
	/* The paths Segment's own mobile and browser libraries post to
	 * (api.segment.io serves them all): analytics-next sends one call to
	 * /v1/t, /v1/i, /v1/p, /v1/s, /v1/g or /v1/a (the type's first letter)
	 * and its batching mode, analytics-swift and analytics-kotlin send
	 * batches to /v1/b; the classic analytics-android sends its batches
	 * to /v1/import. */
	{"POST", "/v1/b", route_batch},
	{"POST", "/v1/import", route_batch},
	{"POST", "/v1/i", route_identify},
	{"POST", "/v1/t", route_track},
	{"POST", "/v1/p", route_page},
	{"POST", "/v1/s", route_screen},
	{"POST", "/v1/g", route_group},
	{"POST", "/v1/a", route_alias},
	/* Segment's Webhooks (Actions) "Send" sends with the method its
	 * mapping chooses: POST (the default), PUT or PATCH.  Any other
	 * answer than 2xx, 408, 429 or 5xx is a drop (a 405 lost the events). */
	{"PUT", "/webhook", route_webhook},
	{"PATCH", "/webhook", route_webhook},
	{.method = NULL},
};

/* ABI 1.11: what the headers alone refuse, before the body is read (a
 * wrong write key or a missing signature costs the hub no read of up to
 * http.max_body); the routes check it again for an older hub. */
static hub_rc segment_admit(void *state, const struct hub_request *req,
			    struct hub_response *resp)
{
	const struct seg_state *st = state;
	struct seg_error e = {0};
	int is_refused = strcmp(req->path, "/webhook") == 0 ? webhook_header_refused(st, req, &e)
							    : api_header_refused(st, req, &e);

	return is_refused ? respond(resp, HUB_ERR_DATA, &e) : HUB_OK;
}

/* ---- import ----------------------------------------------------------- */

static hub_rc segment_import_line(void *state, struct hub_call *call, const char *line,
				  size_t len, char *err, size_t err_size)
{
	struct seg_error e = {0};
	hub_rc rc = seg_import_line(state, call, line, len, &e);

	if (rc != HUB_OK)
		snprintf(err, err_size, "%s", e.message);
	return rc;
}

/* ---- the descriptor --------------------------------------------------- */

static const struct hub_plugin segment_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "segment",
	.version = "1.0.0",
	.description = "Segment HTTP Tracking API and Webhooks destination (push)",
	.roles = HUB_ROLE_PUSH,
	.config = segment_keys,
	.create = segment_create,
	.destroy = segment_destroy,
	.routes = segment_routes,
	.import_line = segment_import_line,
	.admit = segment_admit,
	.check_config = segment_check_config,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &segment_plugin;
}
