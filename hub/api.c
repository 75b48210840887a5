/*
 * api.c - the management API and the Profiles View page (see api.h): the
 * answers (JSON, their headers), the reader pool, the bearer check, the
 * sources and exports routes, and the dispatch of every route.  The
 * profile reads are in api_profiles.c, the privacy requests in
 * api_privacy.c; api_int.h is what the three share.
 *
 * Reads go through a small pool of store connections of their own (one
 * per HTTP thread at most): the intake writer keeps its connection to
 * itself.  No /v1 route is answered before its bearer token is checked
 * (auth_check); nothing here writes to the store.
 */
#include "api_int.h"

#include "alloc.h"
#include "export.h"
#include "http_auth.h"
#include "http_ingest.h"
#include "log.h"
#include "outage.h"
#include "record.h"
#include "util.h"
#include "web_assets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- responses -------------------------------------------------------- */

static _Atomic size_t headers_max = API_HEADERS_MAX; /* tests lower it */

void api_set_headers_max(size_t n)
{
	atomic_store(&headers_max, n == 0 || n > API_HEADERS_MAX ? API_HEADERS_MAX : n);
}

/* Adds a header (name and value: literals).  One the response has no room
 * for is not dropped quietly: logged, and the response marked, which
 * api_handle() answers as a 500 (resp_checked()). */
void api_resp_header(struct api_response *resp, const char *name, const char *value)
{
	size_t max = atomic_load(&headers_max);

	if (resp->n_headers < max) {
		resp->headers[resp->n_headers++] = (struct api_header){name, value};
		return;
	}
	log_error("api", "a response holds at most %zu headers: %s found it full; answered 500"
		  " instead (a bug in the hub)", max, name);
	resp->is_header_lost = 1;
}

/* Every JSON answer may hold personal data: never cached, never sniffed. */
int api_respond_json(struct api_response *resp, int status, json_t *body)
{
	api_resp_header(resp, "Cache-Control", "no-store");
	api_resp_header(resp, "X-Content-Type-Options", "nosniff");
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = json_dumps_whole(body, JSON_COMPACT | HUB_JSON_REAL);
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	json_decref(body);
	if (!resp->body) {
		resp->status = 500;
		resp->static_body = (const unsigned char *)"{\"error\":{\"code\":\"internal\"}}";
		resp->body_len = strlen((const char *)resp->static_body);
	}
	return 1;
}

int api_respond_error(struct api_response *resp, int status, const char *code, const char *fmt, ...)
{
	char message[1024]; /* a 409 not_running naming a 64-character export twice: 548 */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return api_respond_json(
		resp, status,
		json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

void api_response_free(struct api_response *resp)
{
	free(resp->body); /* jansson's json_dumps: plain malloc */
	resp->body = NULL;
	api_stream_free(resp->stream);
	resp->stream = NULL;
	ingest_pending_free(resp->pending);
	resp->pending = NULL;
}

/* `handled` (1: resp filled), with a response that lost a header made a
 * 500: what the hub meant to answer cannot go out without it. */
static int resp_checked(struct api_response *resp, int handled)
{
	if (!handled || !resp->is_header_lost)
		return handled;
	api_response_free(resp);
	memset(resp, 0, sizeof(*resp));
	return api_respond_error(resp, 500, "internal",
				 "the hub could not build this answer; see the hub's log");
}

/* ---- the reader pool --------------------------------------------------- */

/* A pooled connection in a read snapshot, or NULL when none can be had:
 * the reason (the store's, which names its file or server) is logged
 * here, never given to the client (api_respond_store_unavailable()). */
#define OUTAGE_LOG_MS 10000 /* while the store cannot be opened: a line at most this often */

/*
 * Requests that find no store connection are logged as a state, not one
 * line each (an outage of a minute under load would be thousands of
 * error lines): the first with its cause, then at most one line every
 * OUTAGE_LOG_MS while it lasts, naming the count and the last cause, and
 * one line when a request gets a connection again.  Every such request
 * is still answered 503 store_unavailable.
 */
static const struct outage_words pool_outage_words = {
	.module = "api",
	.every_ms = OUTAGE_LOG_MS,
	.first = "no store connection for a request",
	.meanwhile = "requests are answered 503 until one opens",
	.ongoing = "no store connection",
	.counted = "requests answered 503",
	.over = "store connections open again",
	.was = "failing",
};

static void pool_note_outage(struct api *api, const char *err)
{
	pthread_mutex_lock(&api->lock);
	outage_note_failure(&api->outage, &pool_outage_words, 1, err);
	pthread_mutex_unlock(&api->lock);
}

/* A request got its connection: the end of an outage, if one ran. */
static void pool_note_open(struct api *api)
{
	pthread_mutex_lock(&api->lock);
	outage_note_ok(&api->outage, &pool_outage_words);
	pthread_mutex_unlock(&api->lock);
}

struct store *api_pool_take(struct api *api)
{
	struct store *s = NULL;
	char err[512];

	pthread_mutex_lock(&api->lock);
	if (api->n_pool)
		s = api->pool[--api->n_pool];
	pthread_mutex_unlock(&api->lock);
	if (!s && store_open_existing(api->cfg, &s, err, sizeof(err)))
		goto fail;
	/* one snapshot per request: a document never mixes two commits */
	if (s->ops->read_begin && s->ops->read_begin(s)) {
		err_set(err, sizeof(err), "%s", store_error(s));
		store_close(s);
		goto fail;
	}
	if (api->store_hook)
		api->store_hook(api->store_hook_ctx, s);
	pool_note_open(api);
	return s;
fail:
	pool_note_outage(api, err);
	return NULL;
}

/* The 503 of a request api_pool_take() found no connection for: what is
 * wrong, where to look; its reason is in the log only. */
int api_respond_store_unavailable(struct api_response *resp)
{
	/* as the intake's 503: the store comes back by itself (a connection
	 * retries 0.1 s to 5 s apart), so a client may ask again soon */
	api_resp_header(resp, "Retry-After", "1");
	return api_respond_error(resp, 503, "store_unavailable",
				 "the store cannot be read; see the hub's log");
}

void api_pool_give(struct api *api, struct store *s)
{
	if (s->ops->read_end && s->ops->read_end(s)) {
		store_close(s); /* in doubt: never reuse it */
		return;
	}
	pthread_mutex_lock(&api->lock);
	if (api->n_pool < API_POOL_MAX) {
		api->pool[api->n_pool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&api->lock);
	store_close(s);
}

/* ---- auth -------------------------------------------------------------- */

/* The 401's message.  Basic auth is a source's write key: a Segment client
 * given the hub's address without the source's path posts to /v1/batch,
 * and was told to send a bearer token, which sent people looking for an
 * API token to use as a write key. */
static const char *auth_unauthorized_message(const struct api *api, const char *authorization)
{
	if (authorization && strncasecmp(authorization, "Basic ", 6) == 0)
		return "this is the management API (Authorization: Bearer <token>, a token of"
		       " api.tokens); Basic auth, a write key, is for a push source's routes"
		       " under /in/<source>/ (Segment's: POST /in/<source>/v1/batch)";
	/* with api.tokens unset no token would do: say so, as the 403 does */
	return api->cfg->n_api_tokens ? "send Authorization: Bearer <token> (a token of api.tokens)"
				      : http_auth_forbidden_message(0);
}

/* 0 allowed; else the response is filled (401 / 403). */
static int auth_check(const struct api *api, const struct api_request *req,
		      struct api_response *resp)
{
	/* the same rule as /metrics from afar (http_request.c, metrics_refusal) */
	int status = http_auth_bearer_status(req->authorization, api->cfg->api_tokens,
					     api->cfg->n_api_tokens);

	if (status == 401) {
		api_resp_header(resp, "WWW-Authenticate", "Bearer"); /* RFC 6750 */
		return api_respond_error(resp, 401, "unauthorized", "%s",
					 auth_unauthorized_message(api, req->authorization));
	}
	if (status == 403)
		return api_respond_error(resp, 403, "forbidden", "%s",
					 http_auth_forbidden_message(api->cfg->n_api_tokens));
	return 0;
}

/* ---- sources and exports ---------------------------------------------- */

/* A provider that cannot answer (GET /v1/exports reads the store: PostgreSQL
 * unreachable) is a 503 store_unavailable like every route that cannot read
 * the store, its reason in the log: it was a 500 "internal", which told a
 * dashboard or an operator's script that the hub was broken, not that the
 * store was away and a retry would do. */
static int get_status(json_t *(*fn)(void *), void *ctx, const char *key,
		      struct api_response *resp)
{
	json_t *list = fn ? fn(ctx) : json_array();
	if (!list)
		return api_respond_store_unavailable(resp);
	/* a provider may answer the list, or the whole {"<key>": [...]} */
	if (json_is_object(list) && json_is_array(json_object_get(list, key)))
		return api_respond_json(resp, 200, list);
	return api_respond_json(resp, 200, json_pack("{s:o}", key, list));
}

/* Why the scheduler has no source `name` to sync, from the configuration:
 * one `enabled: false` (409 off, as an export's enable answers), one that
 * is pushed to (409 not_pull_source), or none (404).  Both 404'd as "no
 * scheduled pull source", which told a client with the name right to look
 * for a typo, and said a source without a schedule could not be synced,
 * which it can. */
static int sync_refused(const struct api *api, const char *name, struct api_response *resp)
{
	const struct config_instance *ci = config_source(api->cfg, name);
	char shown[RECORD_SHOW_SIZE];

	record_show(shown, name);
	if (ci && !ci->is_enabled)
		return api_respond_error(resp, 409, "off",
					 "source %s is disabled (enabled: false in the hub's"
					 " configuration): nothing was queued",
					 shown);
	if (ci)
		return api_respond_error(resp, 409, "not_pull_source",
					 "source %s (plugin %s) is not a pull source: its data is"
					 " pushed to /in/%s/, there is nothing to sync",
					 shown, ci->plugin, shown);
	return api_respond_error(resp, 404, "not_found", "no pull source named %s", shown);
}

/* ?full=true asks for a full sync (from the plugin's first record, as
 * `profilehub sync --full`), false or none an incremental one: 0, or -1
 * with the 400 naming the value in resp. */
static int sync_full_param(const struct api_request *req, int *is_full,
			   struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE];
	const char *v;

	*is_full = 0;
	if (api_query_param(req, "full", &v, resp))
		return -1;
	if (!v || strcmp(v, "false") == 0)
		return 0;
	if (strcmp(v, "true") == 0) {
		*is_full = 1;
		return 0;
	}
	api_respond_error(resp, 400, "invalid_parameter", "full: \"%s\" is neither true nor false",
			  record_show(shown, v));
	return -1;
}

static int post_sync(struct api *api, const struct api_request *req, const char *name,
		     struct api_response *resp)
{
	int is_full;

	if (sync_full_param(req, &is_full, resp))
		return 1; /* the 400 is in resp */
	if (!api->providers.source_trigger ||
	    api->providers.source_trigger(api->providers.ctx, name, is_full))
		return sync_refused(api, name, resp);
	return api_respond_json(resp, 202, json_pack("{s:s, s:s, s:b}", "source", name, "status",
						     "queued", "full", is_full));
}

/* The 404 of an export `name` the configuration lacks, naming the closest
 * one it has when one is close, as the CLI does: a typo ("crm_fed") was
 * answered as if the export were gone.  With s (a route that serves the
 * exports of other configurations sharing the store too: its dead
 * letters), the closest of those as well; s is given back to the pool, or
 * closed when its read failed. */
static int export_not_found(struct api *api, const char *name, struct store *s,
			    struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE], best[256];

	if (export_closest_name(s, api->cfg, name, best, sizeof(best)) && s) {
		log_warn("api", "the exports the store knows, for a 404's closest name: %s",
			 store_error(s));
		store_close(s); /* in doubt: never reused */
	} else if (s) {
		api_pool_give(api, s);
	}
	return api_respond_error(resp, 404, "not_found", "no export named %s%s%s%s",
				 record_show(shown, name), best[0] ? " (did you mean \"" : "",
				 best, best[0] ? "\"?)" : "");
}

static int post_backfill(struct api *api, const char *name, struct api_response *resp)
{
	char err[512] = "";
	int why = 0, rc;

	if (!api->providers.export_backfill)
		return export_not_found(api, name, NULL, resp);
	rc = api->providers.export_backfill(api->providers.ctx, name, &why, err, sizeof(err));
	if (rc == 1 && why == EXPORT_BACKFILL_NO_EXPORT)
		return export_not_found(api, name, NULL, resp);
	if (rc == 1)
		return api_respond_error(resp, 409, "no_profile_updates", "%s", err);
	if (rc != 0) {
		log_error("api", "backfill of %s: %s", name, err);
		return api_respond_error(resp, 503, "store_unavailable", "the store failed; retry");
	}
	return api_respond_json(resp, 202, json_pack("{s:s, s:s}", "export", name, "backfill",
						 "requested"));
}

static int post_enable(struct api *api, const char *name, struct api_response *resp)
{
	char err[512] = "";
	int why = 0, was_disabled = 0, rc;

	if (!api->providers.export_enable)
		return export_not_found(api, name, NULL, resp);
	rc = api->providers.export_enable(api->providers.ctx, name, &why, &was_disabled, err,
					  sizeof(err));
	if (rc == 1 && why == EXPORT_NOT_STARTED)
		return api_respond_error(resp, 409, "not_started", "%s", err);
	if (rc == 1 && why == EXPORT_OFF)
		return api_respond_error(resp, 409, "off", "%s", err);
	if (rc == 1)
		return export_not_found(api, name, NULL, resp);
	if (rc != 0) {
		log_error("api", "enabling %s: %s", name, err);
		return api_respond_error(resp, 503, "store_unavailable", "the store failed; retry");
	}
	return api_respond_json(resp, 200, json_pack("{s:s, s:b}", "export", name,
						 "was_disabled", was_disabled));
}

static int post_retry(struct api *api, const char *name, struct api_response *resp)
{
	char err[1024] = ""; /* export_retry_check's, as api_respond_error's message */
	int why = 0, rc;
	int64_t n = 0;

	if (!api->providers.export_retry)
		return export_not_found(api, name, NULL, resp);
	rc = api->providers.export_retry(api->providers.ctx, name, &why, &n, err, sizeof(err));
	if (rc == 1 && why == EXPORT_NOT_RUNNING) /* its dead letters kept */
		return api_respond_error(resp, 409, "not_running", "%s", err);
	if (rc == 1) /* the closest name of those it retries too */
		return export_not_found(api, name, api_pool_take(api), resp);
	if (rc != 0) {
		log_error("api", "dead letters of %s: %s", name, err);
		return api_respond_error(resp, 503, "store_unavailable", "the store failed; retry");
	}
	return api_respond_json(resp, 200, json_pack("{s:s, s:I}", "export", name, "retried",
						 (json_int_t)n));
}

/* GET /v1/exports/<name>/dead_letters?after=<seq>&limit=<1..1000>: a page
 * of the export's dead letters, in one snapshot with their total
 * (GET /v1/exports shows the first 100 only).  Also of an export another
 * hub's configuration has (the store knows it: "elsewhere" in GET
 * /v1/exports): hubs sharing a store answer alike, whichever one a load
 * balancer picks. */
static int get_dead_letters(struct api *api, const struct api_request *req, const char *name,
			    struct api_response *resp)
{
	char err[512] = "";
	struct store *s;
	int64_t after;
	long limit;
	json_t *page = NULL;
	int known;

	if (api_limit_param(req, EXPORT_DEAD_LETTERS_PAGE, EXPORT_DEAD_LETTERS_PAGE_MAX, &limit,
			    resp) ||
	    api_seq_param(req, "after", &after, resp))
		return 1;
	if (!(s = api_pool_take(api)))
		return api_respond_store_unavailable(resp);
	known = export_exists(s, api->cfg, name);
	if (known == 0)
		return export_not_found(api, name, s, resp);
	if (known < 0)
		err_set(err, sizeof(err), "%s", store_error(s));
	else
		page = export_dead_letters_page(s, name, after, (size_t)limit, err, sizeof(err));
	if (!page) {
		log_error("api", "dead letters of %s: %s", name, err);
		store_close(s); /* in doubt: never reused */
		return api_respond_error(resp, 500, "store_error",
					 "the store failed; see the hub's log");
	}
	api_pool_give(api, s);
	return api_respond_json(resp, 200, page);
}

/* ---- dispatch ------------------------------------------------------------ */

/* The 405 of a route that takes `allow` ("GET, HEAD", "POST"): Allow and a
 * message that lists the same methods (it said "use GET" beside "Allow:
 * GET, HEAD"). */
static int method_refused(const struct api_request *req, const char *allow,
			  struct api_response *resp)
{
	api_resp_header(resp, "Allow", allow);
	return api_respond_error(resp, 405, "method_not_allowed",
				 "%.32s is not allowed here: this route takes %s", req->method, allow);
}

static int serve_page(const struct api_request *req, struct api_response *resp)
{
	const struct web_asset *a = web_asset_find(req->path);
	if (!a)
		return 0;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
		return method_refused(req, "GET, HEAD", resp);
	resp->status = 200;
	resp->static_body = a->data;
	resp->body_len = a->size;
	resp->content_type = a->content_type;
	api_resp_header(
		resp, "Content-Security-Policy",
		"default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
		"frame-ancestors 'none'");
	/* frame-ancestors, for browsers before CSP 2 */
	api_resp_header(resp, "X-Frame-Options", "DENY");
	api_resp_header(resp, "X-Content-Type-Options", "nosniff");
	api_resp_header(resp, "Cache-Control", "no-cache");
	api_resp_header(resp, "Referrer-Policy", "no-referrer");
	return 1;
}

/* The query parameters each route reads (NULL-terminated; GET
 * /v1/profiles': api->profile_takes); the others read none.  A name not read
 * is refused: ?limt=5 or ?user_id=ann was answered as if not sent. */
static const char *const events_params[] = {"limit", "before", NULL};
static const char *const history_params[] = {"limit", "after", NULL};
static const char *const no_params[] = {NULL};
static const char *const sync_params[] = {"full", NULL};
static const char *const dead_letters_params[] = {"limit", "after", NULL};

/* 1 when every query parameter of req is one of `takes`; else 0 with the
 * 400 naming the first other one (and the closest it takes) in resp. */
static int params_known(const struct api_request *req, const char *const *takes,
			struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE], list[160] = "";
	const char *name, *closest;
	size_t n_takes = 0, len = 0;

	if (!req->query_name)
		return 1;
	while (takes[n_takes])
		n_takes++;
	for (size_t i = 0; (name = req->query_name(req, i)) != NULL; i++) {
		size_t k = 0;

		while (takes[k] && strcmp(takes[k], name) != 0)
			k++;
		if (takes[k])
			continue;
		for (k = 0; takes[k] && len < sizeof(list); k++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						k ? ", " : "", takes[k]);
		closest = n_takes ? cfg_closest_name(name, takes, n_takes) : NULL;
		api_respond_error(resp, 400, "invalid_parameter",
				  "unknown parameter \"%s\": this route reads %s%s%s%s",
				  record_show(shown, name), n_takes ? list : "none",
				  closest ? " (did you mean \"" : "", closest ? closest : "",
				  closest ? "\"?)" : "");
		return 0;
	}
	return 1;
}

/* 1 when req's method is the route's, m, and it sends only the query
 * parameters the route reads, `takes`.  A GET route takes HEAD too (RFC
 * 9110: HEAD wherever GET; the transport sends the answer's status and
 * headers without its body).  Else 0, the 405 with the route's Allow or
 * the 400 of an unknown parameter in resp and *handled set. */
static int route_accepts(const struct api_request *req, const char *m,
			 const char *const *takes, struct api_response *resp, int *handled)
{
	int is_get = strcmp(m, "GET") == 0;

	if (strcmp(req->method, m) != 0 && !(is_get && strcmp(req->method, "HEAD") == 0)) {
		*handled = method_refused(req, is_get ? "GET, HEAD" : m, resp);
		return 0;
	}
	if (!params_known(req, takes, resp)) {
		*handled = 1;
		return 0;
	}
	return 1;
}

/* The profile ID of /v1/profiles/<id>/<what> (into id), or -1. */
static int path_profile(const char *path, const char *what, char *id, size_t size)
{
	const char *rest = path + strlen("/v1/profiles/");
	const char *slash = strchr(rest, '/');
	size_t n;
	if (!slash || strcmp(slash + 1, what) != 0)
		return -1;
	n = (size_t)(slash - rest);
	if (n == 0 || n >= size)
		return -1;
	memcpy(id, rest, n);
	id[n] = '\0';
	return 0;
}

/* The name of <head><name><tail> (into name), e.g. /v1/sources/<name>/sync,
 * or -1. */
static int path_named(const char *path, const char *head, const char *tail, char *name,
		      size_t size)
{
	size_t len = strlen(path), lh = strlen(head), lt = strlen(tail), n;

	if (strncmp(path, head, lh) != 0 || len < lh + lt || strcmp(path + len - lt, tail) != 0)
		return -1;
	n = len - lh - lt;
	if (n == 0 || n >= size || memchr(path + lh, '/', n))
		return -1;
	memcpy(name, path + lh, n);
	name[n] = '\0';
	return 0;
}

/* The 404 of a /v1 path no route takes; it says what the route meant may
 * be when a client's habit shows: a trailing '/' (/v1/profiles/, which
 * base URLs joined with a '/' make), or a profile read at its own path
 * (/v1/profiles/<id>), which a lookup reads here. */
static int no_route(const char *path, struct api_response *resp)
{
	static const char profiles[] = "/v1/profiles/";
	char shown[RECORD_SHOW_SIZE];
	size_t len = strlen(path);

	if (len && path[len - 1] == '/')
		return api_respond_error(resp, 404, "not_found",
					 "no such route (no route's path ends in '/')");
	if (strncmp(path, profiles, sizeof(profiles) - 1) == 0 &&
	    !strchr(path + sizeof(profiles) - 1, '/'))
		return api_respond_error(resp, 404, "not_found",
					 "no such route: a profile is read by a lookup, GET "
					 "/v1/profiles?profile_id=%s",
					 record_show(shown, path + sizeof(profiles) - 1));
	return api_respond_error(resp, 404, "not_found", "no such route");
}

int api_authorize(const struct api *api, const char *path, const char *authorization,
		  struct api_response *resp)
{
	struct api_request req = {.path = path, .authorization = authorization};

	memset(resp, 0, sizeof(*resp));
	if (strncmp(path, "/v1/", 4) != 0)
		return 0;
	return resp_checked(resp, auth_check(api, &req, resp));
}

int api_wants_body(const char *method, const char *path)
{
	return strcmp(method, "POST") == 0 && strcmp(path, "/v1/privacy/requests") == 0;
}

/* api_handle() but for a response that lost a header. */
static int api_route(struct api *api, const struct api_request *req, struct api_response *resp)
{
	const char *p = req->path;
	char id[256];
	int handled = 1;

	if (strncmp(p, "/v1/", 4) != 0)
		return serve_page(req, resp);
	if (auth_check(api, req, resp))
		return 1;
	if (strcmp(p, "/v1/profiles") == 0)
		return route_accepts(req, "GET", api->profile_takes, resp, &handled)
			       ? api_get_profiles(api, req, resp)
			       : handled;
	if (strncmp(p, "/v1/profiles/", 13) == 0 && !path_profile(p, "events", id, sizeof(id)))
		return route_accepts(req, "GET", events_params, resp, &handled)
			       ? api_get_events(api, req, id, resp)
			       : handled;
	if (strncmp(p, "/v1/profiles/", 13) == 0 && !path_profile(p, "history", id, sizeof(id)))
		return route_accepts(req, "GET", history_params, resp, &handled)
			       ? api_get_history(api, req, id, resp)
			       : handled;
	if (strcmp(p, "/v1/privacy/requests") == 0)
		return route_accepts(req, "POST", no_params, resp, &handled)
			       ? api_post_privacy(api, req, resp)
			       : handled;
	if (strncmp(p, "/v1/privacy/requests/", 21) == 0 && p[21] && !strchr(p + 21, '/'))
		return route_accepts(req, "GET", no_params, resp, &handled)
			       ? api_get_privacy(api, p + 21, resp)
			       : handled;
	if (strcmp(p, "/v1/sources") == 0)
		return route_accepts(req, "GET", no_params, resp, &handled)
			       ? get_status(api->providers.sources_status, api->providers.ctx,
					    "sources", resp)
			       : handled;
	if (!path_named(p, "/v1/sources/", "/sync", id, sizeof(id)))
		return route_accepts(req, "POST", sync_params, resp, &handled)
			       ? post_sync(api, req, id, resp)
			       : handled;
	if (!path_named(p, "/v1/exports/", "/backfill", id, sizeof(id)))
		return route_accepts(req, "POST", no_params, resp, &handled)
			       ? post_backfill(api, id, resp)
			       : handled;
	if (!path_named(p, "/v1/exports/", "/dead_letters/retry", id, sizeof(id)))
		return route_accepts(req, "POST", no_params, resp, &handled)
			       ? post_retry(api, id, resp)
			       : handled;
	if (!path_named(p, "/v1/exports/", "/dead_letters", id, sizeof(id)))
		return route_accepts(req, "GET", dead_letters_params, resp, &handled)
			       ? get_dead_letters(api, req, id, resp)
			       : handled;
	if (!path_named(p, "/v1/exports/", "/enable", id, sizeof(id)))
		return route_accepts(req, "POST", no_params, resp, &handled)
			       ? post_enable(api, id, resp)
			       : handled;
	if (strcmp(p, "/v1/exports") == 0)
		return route_accepts(req, "GET", no_params, resp, &handled)
			       ? get_status(api->providers.exports_status, api->providers.ctx,
					    "exports", resp)
			       : handled;
	return no_route(p, resp);
}

int api_handle(struct api *api, const struct api_request *req, struct api_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	return resp_checked(resp, api_route(api, req, resp));
}

int api_open(struct api **out, const struct hub_config *cfg, struct intake *intake,
	     const struct api_providers *providers, char *err, size_t err_size)
{
	struct api *api = hub_calloc(1, sizeof(*api));
	if (!api) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	api->cfg = cfg;
	api->intake = intake;
	if (providers)
		api->providers = *providers;
	api->rules.external_ids = cfg->external_ids;
	api->rules.n_external_ids = cfg->n_external_ids;
	api->rules.blocked_values = cfg->blocked_values;
	api->rules.n_blocked_values = cfg->n_blocked_values;
	api_profile_params_init(api);
	pthread_mutex_init(&api->lock, NULL);
	pthread_mutex_init(&api->record_lock, NULL);
	*out = api;
	return 0;
}

void api_set_store_hook(struct api *api, void (*hook)(void *ctx, struct store *s), void *ctx)
{
	api->store_hook = hook;
	api->store_hook_ctx = ctx;
}

void api_close(struct api *api)
{
	if (!api)
		return;
	for (size_t i = 0; i < api->n_pool; i++)
		store_close(api->pool[i]);
	store_close(api->record_store);
	pthread_mutex_destroy(&api->lock);
	pthread_mutex_destroy(&api->record_lock);
	hub_free(api);
}
