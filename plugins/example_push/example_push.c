/*
 * example_push.c - a push source: one HTTP route that takes one JSON object
 * and turns it into one canonical record.
 * The template of `make plugin NAME=foo KIND=push` (plugins/foo/foo.c).
 *
 *   POST /in/<source name>/v1/record
 *   Authorization: Bearer <token>
 *   {"user_id": "u1", "event": "signup", "properties": {"plan": "gold"},
 *    "message_id": "m1", "timestamp_ms": 1767225600000}
 *
 * With "event" the record is a track, without it an identify whose
 * attributes are "traits".  A push source is three steps:
 *
 *   1. Declare the config keys (keys[]): here the token clients send.
 *   2. create() keeps the config; routes may run on several HTTP threads
 *      at once, so the state is read-only after it.
 *   3. The route authenticates first (the hub checks nothing on /in/
 *      routes), compares the secret in constant time (secret_equal), then
 *      emits.  The hub answers only once the record is committed.
 *      admit() refuses a wrong token from the headers already, before the
 *      body is read.
 *
 * A plugin includes only hub_plugin.h (and its own libraries, here jansson).
 */
#include <hub_plugin.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hub_config_key keys[] = {
	{.name = "token", .type = HUB_CFG_STRING, .is_required = 1, .is_secret = 1,
	 .description = "what clients send as \"Authorization: Bearer <token>\""},
	{.name = NULL},
};

/* Read-only after create(): shared by every HTTP thread. */
struct example_push_state {
	const struct hub_host *host;
	const char *token; /* the config's: lives as long as the instance */
};

static hub_rc example_push_create(const struct hub_host *host, const struct hub_instance *inst,
				  void **state, char *err, size_t err_size)
{
	struct example_push_state *st = calloc(1, sizeof(*st));

	(void)err;
	(void)err_size;
	if (!st)
		return HUB_ERR_NOMEM;
	st->host = host;
	/* required: the hub refused a config without it, or with "" */
	st->token = host->config_string(inst, "token");
	*state = st;
	return HUB_OK;
}

static void example_push_destroy(void *state)
{
	free(state);
}

/* "Bearer <token>" with the configured token.  secret_equal() takes the
 * same time wherever the two differ: never strcmp() a secret. */
static int is_authorized(const struct example_push_state *st, const struct hub_request *req)
{
	const char *auth = req->header(req, "Authorization");

	if (!auth || strncmp(auth, "Bearer ", 7) != 0)
		return 0;
	auth += 7;
	return st->host->secret_equal(auth, strlen(auth), st->token, strlen(st->token));
}

/* The answer of a refused request, in the hub's error shape. */
static hub_rc refuse(struct hub_response *resp, hub_rc rc, int status, const char *code,
		     const char *why)
{
	json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", why);
	size_t n = body ? json_dumpb(body, resp->body, sizeof(resp->body) - 1, JSON_COMPACT) : 0;

	resp->status = status;
	/* json_dumpb() writes no NUL, and a text that does not fit is cut
	 * anywhere: then "" (the hub writes its own) */
	resp->body[n < sizeof(resp->body) ? n : 0] = '\0';
	json_decref(body);
	return rc;
}

/* Whether an allocation failed on this thread since the last clear (ABI
 * 1.8; an older host cannot tell): jansson reports memory running out as
 * bad JSON, and leaves out of what it builds what it could not allocate,
 * so ask before answering 400 or emitting. */
static int memory_ran_out(const struct hub_host *host, int clear)
{
	return HUB_HOST_HAS(host, alloc_failed) && host->alloc_failed &&
	       host->alloc_failed(clear);
}

/* An optional member of kind `type` (JSON_STRING, JSON_OBJECT, ...): 0,
 * or -1 with `why` when it is there but of another kind. */
static int member_of(json_t *obj, const char *key, json_type type, json_t **out, char *why,
		     size_t why_size)
{
	*out = json_object_get(obj, key);
	if (json_is_null(*out))
		*out = NULL;
	if (*out && json_typeof(*out) != type) {
		snprintf(why, why_size, "\"%s\" has the wrong type", key);
		return -1;
	}
	return 0;
}

/* The body's object -> one record, emitted.  HUB_ERR_DATA with `why` when
 * the body is wrong or emit() refused the record. */
static hub_rc emit_body(const struct example_push_state *st, struct hub_call *call, json_t *obj,
			char *why, size_t why_size)
{
	json_t *user, *event, *id, *ts, *payload;
	struct hub_ident ident;
	struct hub_record rec;
	char *payload_text = NULL;
	hub_rc rc;

	if (member_of(obj, "user_id", JSON_STRING, &user, why, why_size) ||
	    member_of(obj, "event", JSON_STRING, &event, why, why_size) ||
	    member_of(obj, "message_id", JSON_STRING, &id, why, why_size) ||
	    member_of(obj, "timestamp_ms", JSON_INTEGER, &ts, why, why_size) ||
	    member_of(obj, event ? "properties" : "traits", JSON_OBJECT, &payload, why, why_size))
		return HUB_ERR_DATA;
	if (!user) {
		snprintf(why, why_size, "\"user_id\" is needed");
		return HUB_ERR_DATA;
	}
	hub_record_init(&rec, event ? HUB_REC_TRACK : HUB_REC_IDENTIFY);
	ident = (struct hub_ident){"custom_id", json_string_value(user)};
	rec.identifiers = &ident;
	rec.n_identifiers = 1;
	rec.message_id = json_string_value(id);
	rec.timestamp_ms = json_integer_value(ts);
	rec.has_timestamp = ts != NULL;
	rec.event_name = json_string_value(event);
	if (payload && (!(payload_text = json_dumps(payload, JSON_COMPACT)) ||
			memory_ran_out(st->host, 0))) {
		free(payload_text);
		return HUB_ERR_NOMEM;
	}
	if (event)
		rec.properties_json = payload_text;
	else
		rec.attributes_json = payload_text;
	rc = st->host->emit(call, &rec, why, why_size); /* copied: free right after */
	free(payload_text);
	return rc;
}

/* POST /v1/record.  Any code but HUB_OK drops what the request emitted. */
static hub_rc example_push_record(void *state, struct hub_call *call,
				  const struct hub_request *req, struct hub_response *resp)
{
	struct example_push_state *st = state;
	json_error_t jerr;
	json_t *obj;
	char why[256] = "";
	hub_rc rc;

	if (!is_authorized(st, req))
		return refuse(resp, HUB_ERR_AUTH, 401, "unauthorized",
			      "a wrong or missing bearer token");
	memory_ran_out(st->host, 1); /* a new watch */
	obj = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (memory_ran_out(st->host, 0))
		rc = HUB_ERR_NOMEM;
	else if (!json_is_object(obj))
		rc = refuse(resp, HUB_ERR_DATA, 400, "invalid_body",
			    "the body is not a JSON object");
	else if ((rc = emit_body(st, call, obj, why, sizeof(why))) == HUB_ERR_DATA)
		refuse(resp, rc, 400, "invalid_record", why);
	json_decref(obj);
	if (rc == HUB_ERR_NOMEM) /* a 5xx: the client sends it again */
		return refuse(resp, rc, 503, "no_memory", "out of memory; send it again");
	if (rc != HUB_OK)
		return rc; /* refused above, or the hub's answer (429 when it is busy) */
	resp->status = 200;
	snprintf(resp->body, sizeof(resp->body), "{\"success\":true}");
	return HUB_OK; /* sent once the record is committed */
}

/* Optional (ABI 1.11): the token checked from the headers, before the hub
 * reads a byte of the body, so that a client without it cannot make the
 * hub read and inflate up to http.max_body.  The route checks it again: an
 * older hub does not call this. */
static hub_rc example_push_admit(void *state, const struct hub_request *req,
				 struct hub_response *resp)
{
	if (!is_authorized(state, req))
		return refuse(resp, HUB_ERR_AUTH, 401, "unauthorized",
			      "a wrong or missing bearer token");
	return HUB_OK;
}

static const struct hub_route routes[] = {
	{.method = "POST", .path = "/v1/record", .handle = example_push_record},
	{.method = NULL},
};

static const struct hub_plugin example_push_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "example_push",
	.version = "1.0.0",
	.description = "takes one JSON record per POST, with a bearer token",
	.roles = HUB_ROLE_PUSH,
	.config = keys,
	.create = example_push_create,
	.destroy = example_push_destroy,
	.routes = routes,
	.admit = example_push_admit,
};

/* The one exported function: return the descriptor, nothing else. */
HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &example_push_plugin;
}
