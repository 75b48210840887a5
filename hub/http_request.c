/*
 * http_request.c - one request of the HTTP server (http.c), from its
 * headers to its answer: the route table, what is refused from the
 * headers, the routes' runs, and every answer queued.
 *
 * A request goes through three callbacks of libmicrohttpd's access handler
 * (http.c, on_access):
 *   1. headers in (http_route_request): the route is chosen and everything
 *      that can be refused without the body is refused (404, 405, 415, 413,
 *      on /v1 the bearer token: 401, 403, on /in/ what the source's admit()
 *      refuses: its credential).  A body the client sends without waiting
 *      for 100 Continue and within twice the limit is read and dropped
 *      first, then the refusal goes (refuse(), http_headers_announced_length:
 *      answered at once, the close would reset a client still sending).  Otherwise
 *      (/v1's 401 and 403 and admit()'s refusals always) it is answered at
 *      once, the body never read, and the connection closes after the answer;
 *   2. body pieces (http.c): kept up to http.max_body (http_ingest.c), past it
 *      dropped, and a client sending far past it is disconnected.  A /v1
 *      route that takes no body (api_wants_body) keeps none: its bytes are
 *      counted against the same limit and dropped;
 *   3. end of body (http_request_finish): the route runs.  If it accepted
 *      records, its batch goes to http.c's commit waiter
 *      (http_commit_start) and the answer is queued once it is committed.
 *      An API answer may be a stream (the privacy access document): sent
 *      chunked as api_stream_read() reads it back from its spool file, on
 *      the connection's pool thread; MHD's free callback closes it.
 *
 * Runs on the pool thread serving the request's connection, which it must
 * never block on a commit (no intake_wait() here).  Never log a request
 * body, a header value or a token.
 */
#include "http_int.h"

#include "web_assets.h"

#include "alloc.h"
#include "host.h"
#include "http_auth.h"
#include "http_headers.h"
#include "http_ingest.h"
#include "log.h"
#include "util.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define API_STREAM_BLOCK (16 * 1024) /* a streamed answer's reads at most */
#define ALLOW_GET "GET, HEAD"
/* /readyz while http.stop_delay runs (http_stop_delay) */
#define READYZ_LEAVING                                                                    \
	"{\"status\":\"stopping\",\"message\":\"the hub is stopping: it serves requests" \
	" until http.stop_delay is over, then drains\"}"

static void free_body(void *p)
{
	hub_free(p);
}

/* ---- CORS (http.cors_origins) ----------------------------------------- */

/* An /in/ request from a web page (its Origin header): the origin its
 * answers name in Access-Control-Allow-Origin, if http.cors_origins allows
 * it, into req->cors_origin.  Browser libraries (analytics.js) post as a
 * simple request and read the answer: without the header the browser hides
 * it, and the library sends the batch again.  Only /in/ routes: the
 * management API and the page are never read across origins. */
static void cors_decide(struct http_req *req, const char *url)
{
	const struct hub_config *cfg = req->srv->cfg;
	const char *origin;
	size_t len;

	req->cors_origin[0] = '\0';
	if (strncmp(url, "/in/", 4) != 0)
		return;
	origin = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Origin");
	if (!origin || !*origin)
		return;
	if (cfg->http_cors_any) {
		snprintf(req->cors_origin, sizeof(req->cors_origin), "*");
		return;
	}
	len = strlen(origin);
	if (len > HTTP_CORS_ORIGIN_MAX)
		return;
	for (size_t i = 0; i < cfg->n_http_cors_origins; i++) {
		if (strcasecmp(cfg->http_cors_origins[i], origin) == 0) {
			memcpy(req->cors_origin, origin, len + 1);
			return;
		}
	}
}

static void cors_headers_add(const struct http_req *req, struct MHD_Response *resp)
{
	if (!req->cors_origin[0])
		return;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
				req->cors_origin);
	/* a script may read when to send again */
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Retry-After");
	if (strcmp(req->cors_origin, "*") != 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
}

/* The headers a preflight may ask for: a list of header names (letters,
 * digits, '-', ", ") as a browser sends it; else the usual ones. */
static const char *cors_allowed_headers(const struct http_req *req)
{
	const char *asked = MHD_lookup_connection_value(
		req->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
	size_t len = asked ? strlen(asked) : 0;

	if (len == 0 || len > 1024 ||
	    strspn(asked, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_, ") !=
		    len)
		return "Authorization, Content-Type, Content-Encoding";
	return asked;
}

/* OPTIONS on an /in/ path some route of the source serves: 204, what it
 * allows (`allow`, mount_allow()); a preflight from an allowed origin gets
 * the CORS answer too.  Nothing is read or stored, so no credential is
 * asked (a browser sends none with a preflight).  no-store and nosniff as
 * every other answer (http_answer_take). */
static enum MHD_Result answer_options(struct http_req *req, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (req->cors_origin[0]) {
		cors_headers_add(req, resp);
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
					cors_allowed_headers(req));
		MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	}
	if (atomic_load(&req->srv->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(req->conn, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	metrics_count_request(req->srv->metrics, req->route_id, MHD_HTTP_NO_CONTENT);
	req->kind = REQ_ANSWERED;
	return rc;
}

/* ---- answers ---------------------------------------------------------- */

/* Queues `body` (taken: hub_malloc'd, freed by MHD) and counts it. */
static enum MHD_Result http_answer_take(struct http_req *req, unsigned status, char *body,
					const char *content_type, const char *retry_after,
					const char *allow)
{
	static const char no_memory[] =
		"{\"error\":{\"code\":\"no_memory\",\"message\":\"out of memory\"}}";
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (body)
		resp = MHD_create_response_from_buffer_with_free_callback(strlen(body), body,
									 free_body);
	else
		resp = MHD_create_response_from_buffer(sizeof(no_memory) - 1, (void *)no_memory,
						       MHD_RESPMEM_PERSISTENT);
	if (!body)
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
	if (!resp) {
		hub_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				content_type ? content_type : "application/json");
	/* as the API's own answers (api.c, api_respond_json): an erase's answer,
	 * a refusal, a 413 may name a person or a request; none is cached */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (retry_after && *retry_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_UNAUTHORIZED && req->kind == REQ_METRICS)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (atomic_load(&req->srv->stopping) || req->is_closing)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	cors_headers_add(req, resp);
	rc = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	metrics_count_request(req->srv->metrics, req->route_id, status);
	req->kind = REQ_ANSWERED;
	return rc;
}

/* A reply for req, in the error shape of its source's plugin, if it has
 * one (hub_plugin.error_body) and req is one of its routes. */
static struct ingest_reply reply_for(const struct http_req *req)
{
	return (struct ingest_reply){
		.error_body = req->mount ? req->mount->inst->mod->error_body : NULL};
}

static enum MHD_Result http_answer_error(struct http_req *req, unsigned status, const char *code,
					 const char *message, const char *allow)
{
	struct ingest_reply r = reply_for(req);

	ingest_reply_error(&r, status, code, message);
	return http_answer_take(req, r.status, r.body, NULL, NULL, allow);
}

enum MHD_Result http_answer_reply(struct http_req *req, struct ingest_reply *r)
{
	char *body = r->body;

	r->body = NULL;
	return http_answer_take(req, r->status, body, NULL, r->retry_after, NULL);
}

/* ---- small readers ---------------------------------------------------- */

static const char *req_header(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* struct hub_request.header: case-insensitive (MHD compares header names
 * without case). */
static const char *hub_request_header(const struct hub_request *hreq, const char *name)
{
	const struct http_req *req = host_request_private(hreq, "header");

	return name && req ? req_header(req, name) : NULL;
}

/* The first query parameter named exactly `name` (libmicrohttpd's lookup
 * ignores case, which a query's names do not). */
struct query_first {
	const char *name;
	size_t name_len;
	const char *value;     /* "" for a bare ?name (no '=') */
	size_t value_len;
	int is_bare;
};

static enum MHD_Result query_first_exact(void *cls, enum MHD_ValueKind kind, const char *key,
					 size_t key_len, const char *value, size_t value_len)
{
	struct query_first *q = cls;

	(void)kind;
	if (key_len != q->name_len || memcmp(key, q->name, key_len) != 0)
		return MHD_YES;
	q->value = value ? value : "";
	q->value_len = value ? value_len : 0;
	q->is_bare = value == NULL;
	return MHD_NO; /* found: stop */
}

const char *http_request_query(const struct hub_request *hreq, const char *name)
{
	const struct http_req *req;
	struct query_first q = {name, 0, NULL, 0, 0};

	/* only a request of this server has an http_req behind it */
	if (!hreq || !name || hreq->header != hub_request_header ||
	    !(req = host_request_private(hreq, "query")))
		return NULL;
	q.name_len = strlen(name);
	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_first_exact, &q);
	if (!q.value || strlen(q.value) != q.value_len)
		return NULL; /* none, or a %00 that would cut it */
	return q.value;
}

/* /metrics: open to loopback clients that name a loopback host (not a
 * page's own name rebound to 127.0.0.1), else a bearer token of the API,
 * as on /v1 (api.c, auth_check).  Returns 0 allowed, 401 without a bearer
 * token, 403 with a wrong one. */
static int metrics_refusal(const struct http_req *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci && http_auth_is_loopback(ci->client_addr) &&
	    http_auth_is_loopback_host(req->head.host))
		return 0;
	return http_auth_bearer_status(req->head.authorization, req->srv->cfg->api_tokens,
				       req->srv->cfg->n_api_tokens);
}

/* ---- routing (headers in) --------------------------------------------- */

/* The mount of "/in/<name>/...", or NULL. */
static const struct http_mount *mount_of_url(const struct http_server *srv, const char *url)
{
	size_t len;
	const char *name = url + 4, *path = http_target_source(url, &len);

	for (size_t i = 0; path && i < srv->n_mounts; i++) {
		const struct http_mount *m = &srv->mounts[i];
		if (m->name_len == len && memcmp(m->inst->name, name, len) == 0)
			return m;
	}
	return NULL;
}

/* "POST, PUT, OPTIONS" of every route of m at `path` (into buf), OPTIONS
 * last (the host answers it: answer_options), or NULL if none. */
static const char *mount_allow(const struct http_mount *m, const char *path, char *buf,
			       size_t size)
{
	const struct hub_route *routes = m->inst->mod->desc->routes;
	size_t len = 0;
	int k;

	buf[0] = '\0';
	for (size_t i = 0; i < m->n_routes; i++) {
		if (strcmp(routes[i].path, path) != 0)
			continue;
		k = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", routes[i].method);
		if (k < 0 || (size_t)k >= size - len)
			break;
		len += (size_t)k;
	}
	if (!buf[0])
		return NULL;
	if (!strstr(buf, "OPTIONS") && len + strlen(", OPTIONS") < size)
		memcpy(buf + len, ", OPTIONS", strlen(", OPTIONS") + 1);
	return buf;
}

/*
 * Refuses a request from its headers (404, 405, 415, /metrics' 401, 403).  With
 * a body on its way (http_headers_is_body_to_drain) the body is read and dropped first,
 * then the refusal is answered (http_request_finish): answered at once, the
 * close would reset a client still sending, which would see a broken
 * connection instead of the answer (and a misconfigured one would retry
 * forever).  Without one it is answered now.  `code` is a static string;
 * `message` and `allow` are copied.
 */
static enum MHD_Result refuse(struct http_req *req, unsigned status, const char *code,
			      const char *message, const char *allow)
{
	if (!http_headers_is_body_to_drain(&req->head, req->srv->max_body))
		return http_answer_error(req, status, code, message, allow);
	req->refusal.status = status;
	req->refusal.code = code;
	snprintf(req->refusal.message, sizeof(req->refusal.message), "%s", message);
	snprintf(req->refusal.allow, sizeof(req->refusal.allow), "%s", allow ? allow : "");
	req->is_body_ignored = 1;
	return ingest_body_init(&req->body, req->srv->max_body, 0) ? MHD_NO : MHD_YES;
}

/* The 405 of a method the route at the URL does not take: Allow and the
 * message list the same methods (the message said "use GET" beside
 * "Allow: GET, HEAD", or no method at all on a source's route). */
static enum MHD_Result refuse_method(struct http_req *req, const char *method, const char *allow)
{
	char msg[256]; /* the method cut at 32, an Allow of mount_allow at most 127 */

	snprintf(msg, sizeof(msg), "%.32s is not allowed here: this route takes %s", method,
		 allow);
	return refuse(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg, allow);
}

/* Reads the body the client announced: MHD_YES (body pieces follow; one
 * announced past the limit is counted and dropped, as refuse() drops one,
 * and answered 413 at its end), MHD_NO out of memory. */
static enum MHD_Result body_expect(struct http_req *req, size_t announced, int over)
{
	if (ingest_body_init(&req->body, req->srv->max_body, over ? 0 : announced))
		return MHD_NO;
	if (over) {
		req->is_body_ignored = 1;
		req->body.is_too_large = 1;
	}
	return MHD_YES;
}

static enum MHD_Result answer_too_large(struct http_req *req)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "the body is larger than %zu bytes", req->srv->max_body);
	return http_answer_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", msg, NULL);
}

/* A push route's view of req (hub_plugin.h): `body` borrowed.  Its method
 * is the route's own (the same text), not MHD's, which lives in the
 * connection's memory: a request a plugin keeps past its callback
 * (host_request_enter) would read it after the connection is gone. */
static struct hub_request request_of(struct http_req *req, const char *body, size_t body_len)
{
	return (struct hub_request){.method = req->route->method,
				    .path = req->route->path,
				    .body = body,
				    .body_len = body_len,
				    .header = hub_request_header,
				    .host_private = req};
}

/* The plugin's refusal from the headers (ingest_admit): answered now, the
 * body never read, the connection closed after the answer if one was
 * coming, as /v1's 401 and 403. */
static enum MHD_Result answer_unadmitted(struct http_req *req, struct ingest_reply *r)
{
	enum MHD_Result rc = http_answer_reply(req, r);

	ingest_reply_free(r);
	return rc;
}

/* Headers of a request to /in/<instance>/<path>: choose the route and
 * refuse what can be refused now.  The plugin's admit() sees the headers
 * first: a wrong credential is answered before the body's size or coding
 * is looked at. */
static enum MHD_Result route_ingest(struct http_req *req, const char *url, const char *method)
{
	struct http_server *srv = req->srv;
	const struct hub_route *routes;
	struct hub_request hreq;
	struct ingest_reply r;
	const char *path;
	char allow[128];
	size_t announced, name_len;
	int over;

	req->mount = mount_of_url(srv, url);
	if (!req->mount)
		return refuse(req, MHD_HTTP_NOT_FOUND, "not_found", "no such source", NULL);
	path = http_target_source(url, &name_len);
	routes = req->mount->inst->mod->desc->routes;
	for (size_t i = 0; i < req->mount->n_routes; i++) {
		if (strcmp(routes[i].path, path) == 0 && strcmp(routes[i].method, method) == 0) {
			req->route = &routes[i];
			req->route_id = req->mount->route_ids[i];
			break;
		}
	}
	if (!req->route) {
		if (mount_allow(req->mount, path, allow, sizeof(allow))) {
			if (strcmp(method, "OPTIONS") == 0 &&
			    !http_headers_is_body_to_drain(&req->head, srv->max_body))
				return answer_options(req, allow);
			return refuse_method(req, method, allow);
		}
		return refuse(req, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL);
	}
	req->kind = REQ_INGEST;
	hreq = request_of(req, "", 0);
	r = reply_for(req);
	if (ingest_admit(req->mount->inst, req->route, &hreq, &r))
		return answer_unadmitted(req, &r);
	if (ingest_encoding_parse(req->head.content_encoding, &req->enc))
		return refuse(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding",
			      "Content-Encoding must be gzip, deflate or identity", NULL);
	if ((over = http_headers_announced_length(&req->head, srv->max_body, &announced)) < 0)
		return answer_too_large(req);
	return body_expect(req, announced, over);
}

/* MHD_ContentReaderCallback of a streamed API answer, on the pool thread
 * serving the connection.  A break ends the chunked answer without its
 * last chunk: the client sees a cut-short transfer (api.h). */
static ssize_t api_stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	long n = api_stream_read(cls, buf, max);

	(void)pos;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

/* MHD_ContentReaderFreeCallback: once, when MHD lets the answer go (sent,
 * broken, client gone, or MHD_stop_daemon): the stream closes its spool
 * file and says how its request ended. */
static void api_stream_free_cb(void *cls)
{
	api_stream_free(cls);
}

/* Queues what the API answered (resp is freed) and counts it. */
static enum MHD_Result api_answer(struct http_req *req, struct api_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (resp->stream) {
		/* chunked: the bytes go out as they are written; the response
		 * owns the stream from here, even if it cannot be made */
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, API_STREAM_BLOCK,
						      api_stream_cb, resp->stream,
						      api_stream_free_cb);
		if (!r)
			api_stream_free(resp->stream);
		resp->stream = NULL;
	} else if (resp->body) {
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
						    MHD_RESPMEM_MUST_COPY);
	} else {
		r = MHD_create_response_from_buffer(resp->body_len, (void *)resp->static_body,
						    MHD_RESPMEM_PERSISTENT);
	}
	if (!r) {
		api_response_free(resp);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (size_t i = 0; i < resp->n_headers; i++)
		MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	rc = MHD_queue_response(req->conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	metrics_count_request(req->srv->metrics, req->route_id, (unsigned)resp->status);
	req->kind = REQ_ANSWERED;
	api_response_free(resp);
	return rc;
}

/*
 * Headers of a /v1 request.  The bearer token is checked now, before a
 * byte of the body is read, so a client without one cannot make the
 * server hold anything (401 / 403, and the connection closes if a body
 * was coming).  Then only the route that takes a body keeps one, and
 * only without a Content-Encoding (415, refuse()); the others drop theirs
 * (still within http.max_body).  Everything else (404, 405, the
 * parameters) is the API's, once the body is in.
 */
static enum MHD_Result route_api(struct http_req *req, const char *url, const char *method)
{
	struct http_server *srv = req->srv;
	struct api_response resp;
	char msg[160];
	size_t announced;
	int over;

	req->route_id = srv->id_api;
	req->kind = REQ_API;
	if (api_authorize(srv->api, url, req->head.authorization, &resp))
		return api_answer(req, &resp);
	req->is_body_ignored = !api_wants_body(method, url);
	if (!req->is_body_ignored &&
	    http_headers_api_encoding_refused(&req->head, msg, sizeof(msg)))
		return refuse(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding", msg,
			      NULL);
	if ((over = http_headers_announced_length(&req->head, srv->max_body, &announced)) < 0)
		return answer_too_large(req);
	if (req->is_body_ignored)
		announced = 0;
	req->url = hub_strdup(url);
	if (!req->url)
		return MHD_NO;
	return body_expect(req, announced, over);
}

/* MHD_KeyValueIterator: each header line, in the order received, into
 * req->head (http_headers.c reads them). */
static enum MHD_Result head_add(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct http_req *req = cls;

	(void)kind;
	http_headers_add(&req->head, key, value);
	return MHD_YES;
}

enum MHD_Result http_route_request(struct http_req *req, const char *target,
				   const char *method, const char *version, int is_path_nul)
{
	const char *url = http_target_origin_path(target);
	struct http_server *srv = req->srv;
	struct http_headers_refusal bad;
	int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int denied;

	http_headers_set_version(&req->head, version);
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, head_add, req);
	cors_decide(req, url);
	if (atomic_load(&srv->stopping)) {
		struct ingest_reply r;
		if (strncmp(url, "/in/", 4) == 0)
			req->mount = mount_of_url(srv, url);
		r = reply_for(req);
		ingest_reply_intake(&r, HUB_ERR_STOPPED, NULL); /* 503, Retry-After */
		return http_answer_reply(req, &r);
	}
	/* a body of uncertain end is answered 400 and its connection closed,
	 * never read; a header twice or Host missing is refuse()d (the
	 * framing is sound, a body on its way is drained first) */
	if (http_headers_refusal(&req->head, &bad)) {
		if (strncmp(url, "/in/", 4) == 0)
			req->mount = mount_of_url(srv, url); /* its source's error shape */
		if (!bad.is_closing)
			return refuse(req, bad.status, bad.code, bad.message, NULL);
		req->is_closing = 1;
		return http_answer_error(req, bad.status, bad.code, bad.message, NULL);
	}
	if (is_path_nul)
		return refuse(req, MHD_HTTP_BAD_REQUEST, "invalid_path",
			      "the path contains a NUL byte (%00)", NULL);
	if (strncmp(url, "/in/", 4) == 0)
		return route_ingest(req, url, method);
	if (strcmp(url, "/healthz") == 0) {
		req->route_id = srv->id_healthz;
		req->kind = REQ_HEALTHZ;
	} else if (strcmp(url, "/readyz") == 0) {
		req->route_id = srv->id_readyz;
		req->kind = REQ_READYZ;
	} else if (strcmp(url, "/metrics") == 0) {
		req->route_id = srv->id_metrics;
		req->kind = REQ_METRICS;
	} else if (srv->api && strncmp(url, "/v1/", 4) == 0) {
		return route_api(req, url, method);
	} else if (srv->api && web_asset_find(url)) {
		/* the page: answered once the body (read and ignored) is in */
		req->route_id = srv->id_page;
		req->kind = REQ_API;
		req->url = hub_strdup(url);
		if (!req->url || ingest_body_init(&req->body, srv->max_body, 0))
			return MHD_NO;
		return MHD_YES;
	} else {
		return refuse(req, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL);
	}
	if (!is_get)
		return refuse_method(req, method, ALLOW_GET);
	denied = req->kind == REQ_METRICS ? metrics_refusal(req) : 0;
	/* with api.tokens unset no token would do: say so, as /v1 does */
	if (denied == MHD_HTTP_UNAUTHORIZED)
		return refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
			      srv->cfg->n_api_tokens ? "a bearer token of api.tokens is required"
						     : http_auth_forbidden_message(0),
			      NULL);
	if (denied == MHD_HTTP_FORBIDDEN)
		return refuse(req, MHD_HTTP_FORBIDDEN, "forbidden",
			      http_auth_forbidden_message(srv->cfg->n_api_tokens), NULL);
	/* a GET body is read (within the limit) and ignored */
	return ingest_body_init(&req->body, srv->max_body, 0) ? MHD_NO : MHD_YES;
}

/* ---- the request's end ------------------------------------------------ */

static enum MHD_Result run_ingest(struct http_req *req, const char *method)
{
	struct http_server *srv = req->srv;
	struct ingest_reply r = reply_for(req);
	struct hub_request hreq;
	char *decoded = NULL;
	size_t decoded_len = 0;
	enum MHD_Result rc;
	int64_t t0 = time_mono_ms();
	int is_pending;

	hreq = request_of(req, req->body.data ? req->body.data : "", req->body.len);
	if (req->enc != INGEST_IDENTITY) {
		if (ingest_inflate(req->enc, hreq.body, hreq.body_len, srv->max_body, &decoded,
				   &decoded_len, &r))
			return http_answer_reply(req, &r);
		hreq.body = decoded;
		hreq.body_len = decoded_len;
	}
	is_pending = ingest_run(&srv->env, req->mount->inst, req->route, &hreq, &r,
				&req->pending);
	hub_free(decoded);
	ingest_body_free(&req->body); /* the records are copies: not kept while waiting */
	if (is_pending)
		return http_commit_start(req, &r);
	log_debug("http", "%s /in/%s%s -> %u (%lld ms)", method, req->mount->inst->name,
		  req->route->path, r.status, (long long)(time_mono_ms() - t0));
	rc = http_answer_reply(req, &r);
	ingest_reply_free(&r);
	return rc;
}

/* Back from suspension: the batch is committed (or failed). */
static enum MHD_Result commit_answer(struct http_req *req, const char *method)
{
	struct ingest_reply r = reply_for(req);
	enum MHD_Result rc;

	ingest_pending_finish(req->pending, req->commit_rc, &r);
	req->pending = NULL;
	if (req->mount)
		log_debug("http", "%s /in/%s%s -> %u (%lld ms)", method, req->mount->inst->name,
			  req->route->path, r.status,
			  (long long)(time_mono_ms() - req->started_ms));
	else
		log_debug("http", "%s %s -> %u (%lld ms)", method, req->url ? req->url : "/v1",
			  r.status, (long long)(time_mono_ms() - req->started_ms));
	rc = http_answer_reply(req, &r);
	ingest_reply_free(&r);
	return rc;
}

/* Counts the query arguments named as the key in cls. */
struct query_count {
	const char *key;
	size_t key_len, n;
};

static enum MHD_Result query_count_one(void *cls, enum MHD_ValueKind kind, const char *key,
				       size_t key_len, const char *value, size_t value_len)
{
	struct query_count *qc = cls;

	(void)kind, (void)value, (void)value_len;
	if (key_len == qc->key_len && memcmp(key, qc->key, key_len) == 0)
		qc->n++;
	return MHD_YES;
}

/* struct api_request.query: the decoded value of the first parameter named
 * exactly `key` (a query's names are case-sensitive; libmicrohttpd's lookup
 * is not) with its length, which counts a NUL byte decoded from %00, and
 * how many times the key was sent. */
static const char *api_query(const struct api_request *areq, const char *key, size_t *len,
			     size_t *n_sent)
{
	const struct http_req *req = areq->priv;
	struct query_count qc = {key, strlen(key), 0};
	struct query_first q = {key, qc.key_len, NULL, 0, 0};

	*len = 0;
	*n_sent = 0;
	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_first_exact, &q);
	if (!q.value)
		return NULL;
	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_count_one, &qc);
	if (q.is_bare && qc.n == 1)
		return NULL; /* ?limit alone (no '='): not given */
	*len = q.value_len;
	*n_sent = qc.n;
	return q.value;
}

/* The n-th query parameter's name (MHD_KeyValueIteratorN). */
struct query_nth {
	size_t want, at;
	const char *name;
};

static enum MHD_Result query_nth_name(void *cls, enum MHD_ValueKind kind, const char *key,
				      size_t key_len, const char *value, size_t value_len)
{
	struct query_nth *q = cls;

	(void)kind;
	(void)key_len;
	(void)value;
	(void)value_len;
	if (q->at++ != q->want)
		return MHD_YES;
	q->name = key;
	return MHD_NO;
}

/* struct api_request.query_name: the i-th parameter's name, or NULL. */
static const char *api_query_name(const struct api_request *areq, size_t i)
{
	const struct http_req *req = areq->priv;
	struct query_nth q = {i, 0, NULL};

	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_nth_name, &q);
	return q.name;
}

/* Hands a /v1 or page request to the API and sends what it answers. */
static enum MHD_Result run_api(struct http_req *req, const char *method)
{
	struct api_request areq = {
		.method = method,
		.path = req->url,
		.query = api_query,
		.authorization = req->head.authorization,
		.body = req->body.len ? req->body.data : NULL,
		.body_len = req->body.len,
		.priv = req,
		.query_name = api_query_name,
	};
	struct api_response resp;

	if (!api_handle(req->srv->api, &areq, &resp))
		return http_answer_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such route",
					 NULL);
	if (resp.pending) {
		/* records to commit first (a privacy erase): waited for as
		 * ingestion is, with the connection suspended */
		struct ingest_reply r = {0};
		req->pending = resp.pending;
		resp.pending = NULL;
		api_response_free(&resp);
		return http_commit_start(req, &r);
	}
	return api_answer(req, &resp);
}

/* A POST to a /v1 route that takes no body came with one that is neither
 * empty nor `{}`: refused, 400.  Dropped unread, `{"full": true}` to
 * /v1/sources/<name>/sync was answered 202 and an incremental sync run:
 * the client believed it had asked for something the hub never saw. */
static enum MHD_Result refuse_unread_body(struct http_req *req)
{
	return http_answer_error(req, MHD_HTTP_BAD_REQUEST, "body_not_taken",
				 "this route takes no request body and would read nothing of"
				 " this one (its options, if any, are query parameters): send"
				 " none, or {}",
				 NULL);
}

static int is_body_unread(const struct http_req *req, const char *method)
{
	return req->is_body_ignored && strcmp(method, "POST") == 0 &&
	       (req->ignored_body == IGNORED_OPEN || req->ignored_body == IGNORED_CONTENT);
}

enum MHD_Result http_request_finish(struct http_req *req, const char *method)
{
	unsigned status;
	char *text;

	if (req->refusal.status)
		return http_answer_error(req, req->refusal.status, req->refusal.code,
					 req->refusal.message,
					 req->refusal.allow[0] ? req->refusal.allow : NULL);
	if (req->body.is_too_large)
		return answer_too_large(req);
	switch (req->kind) {
	case REQ_HEALTHZ:
		return http_answer_take(req, MHD_HTTP_OK, hub_strdup("{\"status\":\"ok\"}"), NULL,
					NULL, NULL);
	case REQ_READYZ:
		if (atomic_load(&req->srv->is_leaving))
			return http_answer_take(req, MHD_HTTP_SERVICE_UNAVAILABLE,
						hub_strdup(READYZ_LEAVING), NULL, NULL, NULL);
		text = metrics_readiness(req->srv->env.intake, &status);
		return http_answer_take(req, status, text, NULL, NULL, NULL);
	case REQ_METRICS:
		text = metrics_render(req->srv->metrics, &req->srv->feeds);
		if (!text)
			return http_answer_take(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL, NULL,
						NULL);
		return http_answer_take(req, MHD_HTTP_OK, text, "text/plain; version=0.0.4",
					NULL, NULL);
	case REQ_API:
		if (req->is_committed)
			return commit_answer(req, method);
		if (is_body_unread(req, method))
			return refuse_unread_body(req);
		return run_api(req, method);
	case REQ_INGEST:
		if (req->is_committed)
			return commit_answer(req, method);
		return run_ingest(req, method);
	case REQ_ANSWERED:
		return MHD_YES;
	case REQ_NONE:
		break;
	}
	return MHD_NO; /* no route chosen: cannot happen; close */
}
