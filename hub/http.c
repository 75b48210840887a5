/*
 * http.c - the HTTP server: libmicrohttpd with an internal thread pool, the
 * route table, per-request state, limits, and an orderly stop.
 *
 * A request goes through three callbacks of libmicrohttpd's access handler:
 *   1. headers in: the route is chosen and everything that can be refused
 *      without the body is refused (404, 405, 415, 413, on /v1 the bearer
 *      token: 401, 403, on /in/ what the source's admit() refuses: its
 *      credential).  A body the client sends without waiting
 *      for 100 Continue and within twice the limit is read and dropped
 *      first, then the refusal goes (refuse(), http_headers_announced_length:
 *      answered at once, the close would reset a client still sending).  Otherwise
 *      (/v1's 401 and 403 and admit()'s refusals always) it is answered at
 *      once, the body never read, and the connection closes after the answer;
 *   2. body pieces: kept up to http.max_body (http_ingest.c), past it
 *      dropped, and a client sending far past it is disconnected.  A /v1
 *      route that takes no body (api_wants_body) keeps none: its bytes are
 *      counted against the same limit and dropped;
 *   3. end of body: the route runs.  If it accepted records, its batch is
 *      submitted to the intake and the connection suspended; the commit
 *      waiter thread waits for the batches in submission order and resumes
 *      each connection, whose answer is then queued.  So no pool thread
 *      ever blocks on a commit: a full queue is still answered 429 at once,
 *      and /healthz stays live while commits are slow (or fail: /readyz
 *      says so, from the intake's failing state, metrics_readiness).
 *      An API answer may be a stream (the privacy access document): sent
 *      chunked as api_stream_read() reads it back from its spool file, on
 *      the connection's pool thread; MHD's free callback closes it.
 * Connection limits, the idle timeout and a per-request body deadline keep
 * slow or stalled clients from holding the server.
 *
 * Threads: MHD's pool threads run the callbacks; a request's state belongs
 * to the thread serving its connection, except while it is suspended,
 * when the waiter owns it.  Shared: the metrics (their own lock), `active`
 * (under active_lock), the wait queue (under wait_lock), `stopping`
 * (atomic).
 *
 * Never log a request body, a header value or a token.
 */
#include "http.h"

#include "http_deadline.h"

#include "web_assets.h"

#include "alloc.h"
#include "http_auth.h"
#include "http_headers.h"
#include "http_ingest.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per connection: the request line and headers must fit, else
 * libmicrohttpd answers 414/431 itself, with its own HTML body (README,
 * "Reliability and security"). */
#define CONNECTION_MEMORY_LIMIT (64 * 1024)
#define API_STREAM_BLOCK (16 * 1024) /* a streamed answer's reads at most */
#define STOP_GRACE_MAX_MS 30000
#define ALLOW_GET "GET, HEAD"

/* A push instance and its routes, mounted at /in/<name>/. */
struct http_mount {
	struct hub_instance *inst;
	size_t name_len;
	int *route_ids;   /* metrics label ids, one per declared route */
	size_t n_routes;
};

struct http_server {
	struct MHD_Daemon *daemon;
	const struct hub_config *cfg;
	struct ingest_env env;
	struct metrics *metrics;
	struct metrics_feeds feeds; /* what /metrics reads besides (borrowed) */
	struct http_mount *mounts;
	size_t n_mounts;
	size_t max_body;
	int64_t body_deadline_ms;  /* a body must arrive within this */
	int64_t stop_grace_ms;
	int port;
	int id_healthz, id_readyz, id_metrics, id_api, id_page;
	struct api *api;           /* borrowed; may be NULL */
	struct deadline *deadline; /* request headers must arrive in time */

	atomic_int stopping;
	pthread_mutex_t active_lock;
	pthread_cond_t active_done;
	int active;                /* requests between headers and completion */
	int n_suspended;           /* requests waiting for their commit */

	/* the commit waiter: suspended requests in submission order */
	pthread_t waiter;
	int has_waiter;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_more;
	struct http_req *wait_head, *wait_tail; /* under wait_lock */
	int is_waiter_closing;                   /* under wait_lock */
};

enum req_kind {
	REQ_NONE = 0,
	REQ_HEALTHZ,
	REQ_READYZ,
	REQ_METRICS,
	REQ_INGEST,
	REQ_API,
	REQ_ANSWERED
};

/* One request; *con_cls of its connection until the completion callback. */
struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	enum req_kind kind;
	int route_id;
	const struct http_mount *mount;
	const struct hub_route *route;
	enum ingest_encoding enc;
	struct ingest_body body;
	int is_body_ignored;  /* the route takes no body, or the request is refused:
			       * its body is counted and dropped */
	/* a refusal decided from the headers, answered once the body is in
	 * (refuse()): status 0 when none */
	struct {
		unsigned status;
		const char *code; /* a static string */
		char message[160];
		char allow[128];
	} refusal;
	struct http_headers head; /* what the hub reads of its headers (borrowed
				   * from the connection, as long as the request) */
	int64_t started_ms;   /* monotonic, headers received */
	int is_closing;       /* the answer closes the connection (http_headers_refusal) */
	char *url;            /* REQ_API: the path, kept until the body is in */

	/* a batch being committed (the connection is suspended meanwhile) */
	struct ingest_pending *pending;
	hub_rc commit_rc;
	int is_committed;
	struct http_req *wait_next;
};

/* ---- answers ---------------------------------------------------------- */

static void free_body(void *p)
{
	hub_free(p);
}

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
	/* as the API's own answers (api.c respond_json): an erase's answer,
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

static enum MHD_Result http_answer_reply(struct http_req *req, struct ingest_reply *r)
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
	const struct http_req *req = hreq->host_private;

	return name ? req_header(req, name) : NULL;
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
	if (!hreq || !name || hreq->header != hub_request_header)
		return NULL;
	req = hreq->host_private;
	q.name_len = strlen(name);
	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_first_exact, &q);
	if (!q.value || strlen(q.value) != q.value_len)
		return NULL; /* none, or a %00 that would cut it */
	return q.value;
}

/* /metrics: open to loopback clients, else a bearer token of the API, as
 * on /v1 (api.c, auth_check).  Returns 0 allowed, 401 without a bearer
 * token, 403 with a wrong one. */
static int metrics_refusal(const struct http_req *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci && http_auth_is_loopback(ci->client_addr))
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

/* "POST, PUT" of every route of m at `path` (into buf), or NULL if none. */
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
	return buf[0] ? buf : NULL;
}

/*
 * Refuses a request from its headers (404, 405, 415, /metrics' 401, 403).  With
 * a body on its way (http_headers_is_body_to_drain) the body is read and dropped first,
 * then the refusal is answered (request_finish): answered at once, the
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

/* A push route's view of req (hub_plugin.h): `body` borrowed. */
static struct hub_request request_of(struct http_req *req, const char *method, const char *body,
				     size_t body_len)
{
	return (struct hub_request){.method = method,
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
		if (mount_allow(req->mount, path, allow, sizeof(allow)))
			return refuse(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
				      "this route does not take that method", allow);
		return refuse(req, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL);
	}
	req->kind = REQ_INGEST;
	hreq = request_of(req, method, "", 0);
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
	if (!req->is_body_ignored && http_headers_api_encoding_refused(&req->head, msg, sizeof(msg)))
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

/* A piece of a body the route does not take: counted, never kept.  The
 * same outcome as ingest_body_append(): 0, 1 once past the limit (413 at
 * the end), -1 far past it (close). */
static int body_ignore(struct ingest_body *b, size_t n)
{
	b->discarded += n;
	if (b->discarded <= b->limit)
		return b->is_too_large; /* refused from its announced length */
	b->is_too_large = 1;
	return b->discarded - b->limit > b->limit ? -1 : 1;
}

/*
 * A request whose path holds %00 (path_nul_mark, on_uri): libmicrohttpd
 * hands the decoded path over as a C string, cut at the NUL, so
 * /v1/privacy/requests/<id>%00x was answered as request <id>.
 */
static char path_nul_mark;

/* The request target as sent, before libmicrohttpd decodes it: marks a
 * path that holds %00 (the query's values are checked where they are read,
 * with their lengths).  The request's first context: NULL or the mark. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	return http_target_has_nul(uri) ? &path_nul_mark : NULL;
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

static enum MHD_Result route_request(struct http_req *req, const char *target,
				     const char *method, int is_path_nul)
{
	const char *url = http_target_origin_path(target);
	struct http_server *srv = req->srv;
	struct http_headers_refusal bad;
	int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int denied;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, head_add, req);
	if (atomic_load(&srv->stopping)) {
		struct ingest_reply r;
		if (strncmp(url, "/in/", 4) == 0)
			req->mount = mount_of_url(srv, url);
		r = reply_for(req);
		ingest_reply_intake(&r, HUB_ERR_STOPPED, NULL); /* 503, Retry-After */
		return http_answer_reply(req, &r);
	}
	/* a body of uncertain end is answered 400 and its connection closed,
	 * never read; a header twice is refuse()d (the framing is sound, a
	 * body on its way is drained first) */
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
		return refuse(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use GET",
			      ALLOW_GET);
	denied = req->kind == REQ_METRICS ? metrics_refusal(req) : 0;
	if (denied == MHD_HTTP_UNAUTHORIZED)
		return refuse(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
			      "a bearer token of api.tokens is required", NULL);
	if (denied == MHD_HTTP_FORBIDDEN)
		return refuse(req, MHD_HTTP_FORBIDDEN, "forbidden",
			      http_auth_forbidden_message(srv->cfg->n_api_tokens), NULL);
	/* a GET body is read (within the limit) and ignored */
	return ingest_body_init(&req->body, srv->max_body, 0) ? MHD_NO : MHD_YES;
}

/* ---- the commit waiter ------------------------------------------------ */

/* Submits req->pending's batch; on success suspends the connection and
 * hands it to the waiter (in submission order, hence the one lock around
 * both).  On refusal (queue full, stopping) answers at once. */
static enum MHD_Result commit_start(struct http_req *req, struct ingest_reply *r)
{
	struct http_server *srv = req->srv;
	hub_rc rc = HUB_ERR_STOPPED;
	enum MHD_Result ret;

	pthread_mutex_lock(&srv->wait_lock);
	if (!srv->env.intake)
		rc = HUB_ERR_INTERNAL;
	else if (!srv->is_waiter_closing)
		rc = intake_submit(srv->env.intake, &req->pending->batch);
	if (rc == HUB_OK) {
		MHD_suspend_connection(req->conn);
		req->wait_next = NULL;
		if (srv->wait_tail)
			srv->wait_tail->wait_next = req;
		else
			srv->wait_head = req;
		srv->wait_tail = req;
		pthread_mutex_lock(&srv->active_lock);
		srv->n_suspended++;
		pthread_mutex_unlock(&srv->active_lock);
		metrics_waiting_add(srv->metrics, 1);
		pthread_cond_signal(&srv->wait_more);
	}
	pthread_mutex_unlock(&srv->wait_lock);
	if (rc == HUB_OK)
		return MHD_YES;
	ingest_pending_finish(req->pending, rc, r);
	req->pending = NULL;
	ret = http_answer_reply(req, r);
	ingest_reply_free(r);
	return ret;
}

/* The waiter thread: waits for each batch in turn, resumes its
 * connection.  Batches commit in queue order, so waiting in that order
 * costs nothing.  Leaves once closing and nothing is left. */
static void *waiter_main(void *arg)
{
	struct http_server *srv = arg;
	struct http_req *req;

	pthread_mutex_lock(&srv->wait_lock);
	for (;;) {
		while (!srv->wait_head && !srv->is_waiter_closing)
			pthread_cond_wait(&srv->wait_more, &srv->wait_lock);
		req = srv->wait_head;
		if (!req)
			break;
		srv->wait_head = req->wait_next;
		if (!srv->wait_head)
			srv->wait_tail = NULL;
		pthread_mutex_unlock(&srv->wait_lock);

		req->commit_rc = intake_wait(srv->env.intake, &req->pending->batch);
		req->is_committed = 1;
		metrics_waiting_add(srv->metrics, -1);
		MHD_resume_connection(req->conn); /* req belongs to MHD again */
		pthread_mutex_lock(&srv->active_lock);
		if (--srv->n_suspended == 0)
			pthread_cond_broadcast(&srv->active_done);
		pthread_mutex_unlock(&srv->active_lock);

		pthread_mutex_lock(&srv->wait_lock);
	}
	pthread_mutex_unlock(&srv->wait_lock);
	return NULL;
}

/* Lets the waiter finish what is queued and leave; later submissions are
 * answered 503 "stopping". */
static void waiter_close(struct http_server *srv)
{
	if (!srv->has_waiter)
		return;
	pthread_mutex_lock(&srv->wait_lock);
	srv->is_waiter_closing = 1;
	pthread_cond_signal(&srv->wait_more);
	pthread_mutex_unlock(&srv->wait_lock);
	pthread_join(srv->waiter, NULL);
	srv->has_waiter = 0;
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

	hreq = request_of(req, method, req->body.data ? req->body.data : "", req->body.len);
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
		return commit_start(req, &r);
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
		return commit_start(req, &r);
	}
	return api_answer(req, &resp);
}

static enum MHD_Result request_finish(struct http_req *req, const char *method)
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

/* ---- libmicrohttpd callbacks ------------------------------------------ */

/* ---- the header deadline (http_deadline.c) ---------------------------- */

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void headers_in(struct http_server *srv, struct MHD_Connection *conn)
{
	deadline_headers_in(srv->deadline, conn_watch_of(conn));
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = ci ? deadline_watch(srv->deadline, ci->connect_fd) : NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* before the library closes the socket: the sweeper cannot
		 * shut down a number given to a new connection */
		deadline_unwatch(srv->deadline, *socket_context);
		*socket_context = NULL;
	}
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;
	int rc;

	(void)version;
	if (!req || req == (void *)&path_nul_mark) {
		int is_path_nul = req != NULL;

		req = hub_calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
		req->route_id = METRICS_ROUTE_UNMATCHED;
		req->started_ms = time_mono_ms();
		*con_cls = req;
		headers_in(srv, conn);
		pthread_mutex_lock(&srv->active_lock);
		srv->active++;
		pthread_mutex_unlock(&srv->active_lock);
		return route_request(req, url, method, is_path_nul);
	}
	if (*upload_size) {
		if (req->kind == REQ_ANSWERED) {
			*upload_size = 0;
			return MHD_YES;
		}
		if (req->is_body_ignored)
			rc = body_ignore(&req->body, *upload_size);
		else
			rc = ingest_body_append(&req->body, upload_data, *upload_size);
		*upload_size = 0;
		if (rc < 0)
			return MHD_NO; /* no memory, or far past the limit: close */
		if (time_mono_ms() - req->started_ms > srv->body_deadline_ms) {
			log_debug("http", "closing a connection: its body is too slow");
			return MHD_NO;
		}
		return MHD_YES;
	}
	return request_finish(req, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	(void)toe;
	deadline_request_done(srv->deadline, conn_watch_of(conn));
	if (!req || req == (void *)&path_nul_mark) { /* on_access never took it */
		*con_cls = NULL;
		return;
	}
	/* the connection ended after its batch's commit, before the answer:
	 * what was committed still counts (a privacy erase is done) */
	if (req->pending && req->is_committed)
		req->pending->end_rc = req->commit_rc;
	ingest_pending_free(req->pending);
	ingest_body_free(&req->body);
	hub_free(req->url);
	hub_free(req);
	*con_cls = NULL;
	pthread_mutex_lock(&srv->active_lock);
	if (--srv->active == 0)
		pthread_cond_broadcast(&srv->active_done);
	pthread_mutex_unlock(&srv->active_lock);
}

/* Set on the thread in http_start() while MHD_start_daemon() runs: a
 * buffer of MHD_REASON_SIZE, "" until libmicrohttpd logs there, then its
 * first line (why it could not start: a thread, a socket, memory).  Its
 * own threads never see it set. */
#define MHD_REASON_SIZE 256
static _Thread_local char *mhd_start_reason;

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
							      va_list ap)
{
	char line[MHD_REASON_SIZE];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("http", "libmicrohttpd: %s", line);
	if (mhd_start_reason && !mhd_start_reason[0])
		snprintf(mhd_start_reason, MHD_REASON_SIZE, "%s", line);
}

/* ---- start and stop --------------------------------------------------- */

/* Files the hub keeps open besides its connections: the store's
 * connections, plugins' sockets and files, the leases, the listener. */
#define FD_RESERVE 128

/* Each connection is a descriptor: raises the soft open-file limit to fit
 * max_conn, as far as the hard limit lets it (as Redis and nginx do), and
 * says so when it cannot; past the limit, connections wait unanswered in
 * the kernel's backlog and nothing else tells why. */
static void fit_open_file_limit(unsigned max_conn)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_conn + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		log_warn("http",
			 "the open-file limit is %llu, below http.max_connections (%u) + %d"
			 " other files: connections past the limit wait unanswered; raise it"
			 " (ulimit -n, or LimitNOFILE= in a systemd unit) or lower max_connections",
			 (unsigned long long)rl.rlim_cur, max_conn, FD_RESERVE);
		return;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("http",
			 "cannot raise the open-file limit to %llu for http.max_connections"
			 " (%u): %s",
			 (unsigned long long)want, max_conn, strerror(errno));
}

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" -> address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *err,
			size_t err_size)
{
	const char *text = listen;
	char host[256] = "127.0.0.1";
	const char *colon = strrchr(listen, ':');
	const char *port_text = colon ? colon + 1 : listen;
	struct addrinfo hints, *ai = NULL;
	size_t n = colon ? (size_t)(colon - listen) : 0;

	if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
		listen++;
		n -= 2;
	}
	if (n > 0) {
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, listen, n);
		host[n] = '\0';
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (!*port_text || getaddrinfo(host, port_text, &hints, &ai) != 0 || !ai)
		goto bad;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
bad:
	err_set(err, err_size, "http.listen: \"%s\" is not host:port", text);
	return -1;
}

static int mounts_build(struct http_server *srv, const struct http_context *ctx, char *err,
			size_t err_size)
{
	srv->mounts = hub_calloc(ctx->n_push ? ctx->n_push : 1, sizeof(*srv->mounts));
	if (!srv->mounts)
		goto nomem;
	for (size_t i = 0; i < ctx->n_push; i++) {
		struct http_mount *m = &srv->mounts[srv->n_mounts++];
		const struct hub_route *routes = ctx->push[i]->mod->desc->routes;
		m->inst = ctx->push[i];
		m->name_len = strlen(m->inst->name);
		while (routes && routes[m->n_routes].method)
			m->n_routes++;
		m->route_ids = hub_calloc(m->n_routes ? m->n_routes : 1, sizeof(int));
		if (!m->route_ids)
			goto nomem;
		for (size_t j = 0; j < m->n_routes; j++) {
			char label[512];
			snprintf(label, sizeof(label), "/in/%s%s", m->inst->name, routes[j].path);
			if ((m->route_ids[j] = metrics_route_add(srv->metrics, label)) < 0)
				goto nomem;
		}
		log_info("http", "source \"%s\" (plugin %s): %zu routes under /in/%s/",
			 m->inst->name, m->inst->mod->name, m->n_routes, m->inst->name);
	}
	return 0;
nomem:
	err_set(err, err_size, "out of memory");
	return -1;
}

static void server_free(struct http_server *srv)
{
	deadline_stop(srv->deadline); /* after the daemon: every watch is gone */
	for (size_t i = 0; i < srv->n_mounts; i++)
		hub_free(srv->mounts[i].route_ids);
	hub_free(srv->mounts);
	metrics_free(srv->metrics);
	pthread_mutex_destroy(&srv->active_lock);
	pthread_cond_destroy(&srv->active_done);
	pthread_mutex_destroy(&srv->wait_lock);
	pthread_cond_destroy(&srv->wait_more);
	hub_free(srv);
}

static struct http_server *server_new(const struct http_context *ctx)
{
	const struct hub_config *cfg = ctx->cfg;
	struct http_server *srv = hub_calloc(1, sizeof(*srv));
	pthread_condattr_t ca;
	int64_t timeout_ms = cfg->http_timeout_ms > 0 ? cfg->http_timeout_ms : 30000;

	if (!srv)
		return NULL;
	pthread_mutex_init(&srv->active_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->active_done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&srv->wait_lock, NULL);
	pthread_cond_init(&srv->wait_more, NULL);
	atomic_init(&srv->stopping, 0);
	srv->cfg = cfg;
	srv->max_body = cfg->http_max_body > 0 ? (size_t)cfg->http_max_body : 1048576;
	srv->body_deadline_ms = 2 * timeout_ms;
	srv->stop_grace_ms = timeout_ms < STOP_GRACE_MAX_MS ? timeout_ms : STOP_GRACE_MAX_MS;
	srv->env.intake = ctx->intake;
	srv->feeds.intake = ctx->intake;
	srv->feeds.exports = ctx->exports;
	srv->feeds.sched = ctx->sched;
	srv->env.rules.external_ids = cfg->external_ids;
	srv->env.rules.n_external_ids = cfg->n_external_ids;
	srv->env.rules.blocked_values = cfg->blocked_values;
	srv->env.rules.n_blocked_values = cfg->n_blocked_values;
	srv->env.stop = &srv->stopping;
	srv->metrics = metrics_new();
	if (!srv->metrics) {
		server_free(srv);
		return NULL;
	}
	srv->env.metrics = srv->metrics;
	srv->id_healthz = metrics_route_add(srv->metrics, "/healthz");
	srv->id_metrics = metrics_route_add(srv->metrics, "/metrics");
	srv->id_api = metrics_route_add(srv->metrics, "/v1");
	srv->id_page = metrics_route_add(srv->metrics, "/");
	/* last: the ids above are the tests' (test_http.c) */
	srv->id_readyz = metrics_route_add(srv->metrics, "/readyz");
	if (srv->id_healthz < 0 || srv->id_metrics < 0 || srv->id_api < 0 || srv->id_page < 0 ||
	    srv->id_readyz < 0) {
		server_free(srv);
		return NULL;
	}
	return srv;
}

int http_listen_check(const char *addr, char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, rc = -1;

	if (!addr)
		addr = "127.0.0.1:8080";
	if (parse_listen(addr, &ss, err, err_size))
		return -1;
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(err, err_size, "cannot listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	/* as libmicrohttpd binds: a port in TIME_WAIT is free, one another
	 * socket listens on is not; IPv6 alone (MHD_USE_IPv6 without dual
	 * stack), so "[::]:P" beside an IPv4 "0.0.0.0:P" is free */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		err_set(err, err_size, "cannot listen on %s: %s", addr, strerror(errno));
	else
		rc = 0;
	close(fd);
	return rc;
}

/*
 * Why MHD_start_daemon() failed, into err.  The port is free when `run`
 * checks it (http_listen_check) before it starts anything, so a failure
 * here is seldom a port taken: it says "in use" only when a bind now says
 * so (another process bound it since), else what libmicrohttpd logged
 * (reason: a thread, a socket, memory it could not have) or errno, and
 * the limits that usually cause it.
 */
static void start_failure(const char *listen, int start_errno, const char *reason, char *err,
			  size_t err_size)
{
	if (http_listen_check(listen, err, err_size))
		return; /* "cannot listen on <listen>: Address already in use", ... */
	err_set(err, err_size,
		"cannot start the HTTP server on %s: %s (out of memory, threads or file"
		" descriptors? see ulimit -v, -u and -n)",
		listen, reason[0]    ? reason
			: start_errno ? strerror(start_errno)
				      : "libmicrohttpd gave no reason");
}

int http_start(struct http_server **out, const struct http_context *ctx, char *err,
	       size_t err_size)
{
	const struct hub_config *cfg = ctx->cfg;
	const char *listen = cfg->http_listen ? cfg->http_listen : "127.0.0.1:8080";
	struct http_server *srv;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	char reason[MHD_REASON_SIZE] = ""; /* libmicrohttpd's, should it not start */
	int start_errno;
	/* poll(), not epoll: MHD_quiesce_daemon() on an epoll pool races
	 * with the pool's threads over the listener's epoll entry, and
	 * libmicrohttpd 0.9.75 aborts the process when it loses (see
	 * http_stop and test_stop_under_load_never_aborts) */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned threads = cfg->http_threads > 0 ? (unsigned)cfg->http_threads : 4;
	unsigned max_conn = cfg->http_max_connections > 0 ? (unsigned)cfg->http_max_connections
							 : 1024;
	int64_t timeout_ms = cfg->http_timeout_ms > 0 ? cfg->http_timeout_ms : 30000;
	unsigned timeout_s = (unsigned)((timeout_ms + 999) / 1000);

	*out = NULL;
	if (parse_listen(listen, &ss, err, err_size))
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* each pool thread gets an equal share of the connection limit */
	if (threads > max_conn)
		threads = max_conn;
	fit_open_file_limit(max_conn);
	srv = server_new(ctx);
	if (!srv) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	srv->api = ctx->api;
	if (mounts_build(srv, ctx, err, err_size)) {
		server_free(srv);
		return -1;
	}
	if (pthread_create(&srv->waiter, NULL, waiter_main, srv) != 0) {
		err_set(err, err_size, "cannot start the HTTP commit waiter thread");
		server_free(srv);
		return -1;
	}
	srv->has_waiter = 1;
	if (deadline_start(&srv->deadline, timeout_ms)) {
		err_set(err, err_size, "cannot start the HTTP header deadline thread");
		waiter_close(srv);
		server_free(srv);
		return -1;
	}
	mhd_start_reason = reason;
	errno = 0;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
		NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
		threads, MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
		timeout_s, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, srv, MHD_OPTION_END);
	start_errno = errno;
	mhd_start_reason = NULL;
	if (!srv->daemon) {
		start_failure(listen, start_errno, reason, err, err_size);
		waiter_close(srv);
		server_free(srv);
		return -1;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	*out = srv;
	return 0;
}

int http_port(const struct http_server *srv)
{
	return srv->port;
}

struct metrics *http_metrics(struct http_server *srv)
{
	return srv->metrics;
}

/* Waits until no request is in progress, or the grace period ends. */
static void wait_inflight(struct http_server *srv)
{
	struct timespec until;
	int64_t ms = srv->stop_grace_ms;

	time_deadline(&until, CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&srv->active_lock);
	while (srv->active > 0) {
		if (pthread_cond_timedwait(&srv->active_done, &srv->active_lock, &until) != 0)
			break;
	}
	/* past the grace: still let every batch in the intake be answered (the
	 * intake runs until after the server stops; a suspended connection
	 * must not outlive the daemon) */
	while (srv->n_suspended > 0)
		pthread_cond_wait(&srv->active_done, &srv->active_lock);
	if (srv->active > 0)
		log_warn("http", "stopping with %d requests still in progress", srv->active);
	pthread_mutex_unlock(&srv->active_lock);
}

void http_stop(struct http_server *srv)
{
	MHD_socket fd;

	if (!srv)
		return;
	atomic_store(&srv->stopping, 1);
	/* The pool's threads let go of the listener only when they next
	 * wake, so it is closed after MHD_stop_daemon (libmicrohttpd's rule);
	 * shutting it down refuses new connections at once, and a thread
	 * still polling it gets EINVAL from accept, which MHD expects. */
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		shutdown(fd, SHUT_RDWR);
	wait_inflight(srv);
	waiter_close(srv);
	MHD_stop_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	server_free(srv);
}
