/*
 * test_http.c - the HTTP server in-process: a real store (SQLite, or
 * PostgreSQL: teststore.h) and intake (testhub), the echo_push test plugin
 * mounted at /in/web/, the server on 127.0.0.1 port 0, and libcurl (or a
 * raw socket, where a client must misbehave) on the other side: routes,
 * CORS, bodies and their encodings, all or nothing, metrics, backpressure,
 * the stop, slow clients and the header deadline.  The management API over
 * the server is tested in test_http_api.c, the webhook export as a client
 * in test_http_webhook.c; what they share is http_helpers.c.
 *
 * No sleep stands for synchronization: where a test needs the server in a
 * given state (a request waiting for its commit, the queue full, the
 * listener closed) it polls that state with a deadline.
 *
 * The PostgreSQL pass (tests/run.sh) runs this suite too, for what the
 * store changes under the server (a writer held in BEGIN, commits failing,
 * the stop committing what it queued).  The tests of the server alone (its
 * deadlines, limits and slow clients, where a stored record is incidental)
 * return at once there: they would only wait their timeouts again.
 */
#include "http_helpers.h"
#include "testlib.h"
#include "testhub.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/config.h"
#include "../../hub/host.h"
#include "../../hub/http.h"
#include "../../hub/http_deadline.h"
#include "../../hub/http_ingest.h"
#include "../../hub/log.h"
#include "../../hub/metrics.h"
#include "../../hub/plugin.h"
#include "../../hub/util.h"
#include "../../hub/version.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- tests: routes ---------------------------------------------------- */

static void test_healthz_answers_ok(void)
{
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.body, "{\"status\":\"ok\"}");
	CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
	http_do(w.port, "HEAD", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	world_close(&w);
}

/* The intake's store with its commits failing while is_full is set (a
 * full disk). */
static struct {
	atomic_int is_full;
	const struct store_ops *real;
	struct store_ops ops;
} full_disk;

static int full_disk_commit(struct store *s)
{
	if (atomic_load(&full_disk.is_full)) {
		err_set(s->err, sizeof(s->err), "injected fault: database or disk is full");
		return -1;
	}
	return full_disk.real->commit(s);
}

/* Wraps the intake's store (idle: it reads its ops after the next submit). */
static void full_disk_wrap(struct world *w)
{
	full_disk.real = w->th->writer->ops;
	full_disk.ops = *full_disk.real;
	full_disk.ops.commit = full_disk_commit;
	atomic_store(&full_disk.is_full, 1);
	w->th->writer->ops = &full_disk.ops;
}

static int readyz_is_ok(void *arg)
{
	struct resp r;

	http_do(*(int *)arg, "GET", "/readyz", NULL, 0, 0, NULL, &r);
	return r.status == 200 && strcmp(r.body, "{\"status\":\"ok\"}") == 0;
}

/* A store that cannot commit gets every ingestion answered 503: /readyz
 * then answers 503 naming the store and since when (not the store's error,
 * which names its file or server), while /healthz, liveness, stays 200.
 * Once the store commits again /readyz is 200 without any request sent
 * meanwhile (a load balancer sends none to a hub that is not ready): the
 * intake tries a commit itself. */
static void test_readyz_fails_while_commits_fail_and_recovers_by_itself(void)
{
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	CU_ASSERT(readyz_is_ok(&w.port));
	full_disk_wrap(&w);
	post(&w, "/in/web/v1/echo", "m1\n", &r);
	CU_ASSERT_EQUAL(r.status, 503);
	http_do(w.port, "GET", "/readyz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 503);
	CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "{\"status\":\"failing\",\"store\":\"commits failing"
					   " since 20"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, " (1 batches refused); the cause is in the hub's"
					   " log\"}"));
	CU_ASSERT_PTR_NULL(strstr(r.body, "disk is full"));
	http_do(w.port, "HEAD", "/readyz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 503);
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	atomic_store(&full_disk.is_full, 0);
	CU_ASSERT(wait_until(readyz_is_ok, &w.port));
	post(&w, "/in/web/v1/echo", "m2\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(readyz_is_ok(&w.port));
	world_close(&w);
}

static void test_unknown_routes_are_404_json(void)
{
	static const char *const paths[] = {
		"/nope", "/in/", "/in/nope/v1/echo", "/in/web/v1/nope", "/in/web", "/in/web/",
		"/in/webx/v1/echo", "/healthz/x", "/in/we/v1/echo", /* a prefix of "web" */
	};
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		post(&w, paths[i], "x", &r);
		ASSERT_ERROR(&r, 404, "not_found");
		if (r.status != 404)
			fprintf(stderr, "path %s: %ld %s\n", paths[i], r.status, r.body);
	}
	world_close(&w);
}

static void test_wrong_method_is_405_with_allow(void)
{
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	http_do(w.port, "GET", "/in/web/v1/echo", NULL, 0, 0, NULL, &r);
	ASSERT_ERROR(&r, 405, "method_not_allowed");
	CU_ASSERT_STRING_EQUAL(r.allow, "POST, PUT, OPTIONS");
	http_do(w.port, "DELETE", "/in/web/v1/reject", NULL, 0, 0, NULL, &r);
	ASSERT_ERROR(&r, 405, "method_not_allowed");
	CU_ASSERT_STRING_EQUAL(r.allow, "POST, OPTIONS");
	post(&w, "/healthz", "x", &r);
	ASSERT_ERROR(&r, 405, "method_not_allowed");
	CU_ASSERT_STRING_EQUAL(r.allow, "GET, HEAD");
	/* the same path with another declared method is a route of its own */
	http_do(w.port, "PUT", "/in/web/v1/echo", "p1\n", 3, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	world_close(&w);
}

/* ---- CORS (http.cors_origins) ------------------------------------------ */

static const char *const from_shop[] = {"Origin: https://shop.example", NULL};

/* By default a page of any origin may read the answers of /in/ routes
 * (analytics.js posts as a simple request and reads the answer; without
 * Access-Control-Allow-Origin the browser hides it and the library sends
 * the batch again): every answer of a source's routes names "*", an error
 * too; a request without Origin, and routes other than /in/, name none. */
static void test_cors_lets_any_origin_read_ingestion_answers_by_default(void)
{
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	http_do(w.port, "POST", "/in/web/v1/echo", "p1\n", 3, 0, from_shop, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.acao, "*");
	CU_ASSERT_STRING_EQUAL(r.expose, "Retry-After");
	CU_ASSERT_STRING_EQUAL(r.vary, "");
	http_do(w.port, "POST", "/in/web/v1/reject", "x", 1, 0, from_shop, &r);
	CU_ASSERT_EQUAL(r.status, 400);
	CU_ASSERT_STRING_EQUAL(r.acao, "*");
	http_do(w.port, "POST", "/in/web/v1/none", "x", 1, 0, from_shop, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	CU_ASSERT_STRING_EQUAL(r.acao, "*");
	http_do(w.port, "POST", "/in/web/v1/echo", "p2\n", 3, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.acao, "");
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, from_shop, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.acao, "");
	CU_ASSERT_EQUAL(world_profiles(&w), 2);
	world_close(&w);
}

/* OPTIONS on a source's path is a browser's preflight (a POST with an
 * Authorization header or a JSON content type): 204 with the methods the
 * path takes and the headers asked for, no credential asked, nothing
 * stored; without an Origin it only says what the path allows; a path no
 * route serves is 404, and requested headers that are not a list of names
 * get the usual ones.  Like every answer of the ingestion routes it is
 * no-store and nosniff (docs/reliability-and-security.md). */
static void test_cors_preflight_of_a_source_route(void)
{
	static const char *const preflight[] = {
		"Origin: https://shop.example", "Access-Control-Request-Method: POST",
		"Access-Control-Request-Headers: authorization, content-type", NULL};
	static const char *const odd[] = {"Origin: https://shop.example",
					  "Access-Control-Request-Headers: a;b", NULL};
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	http_do(w.port, "OPTIONS", "/in/web/v1/echo", NULL, 0, 0, preflight, &r);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_EQUAL(r.len, 0);
	CU_ASSERT_STRING_EQUAL(r.allow, "POST, PUT, OPTIONS");
	CU_ASSERT_STRING_EQUAL(r.acao, "*");
	CU_ASSERT_STRING_EQUAL(r.acam, "POST, PUT, OPTIONS");
	CU_ASSERT_STRING_EQUAL(r.acah, "authorization, content-type");
	CU_ASSERT_STRING_EQUAL(r.max_age, "600");
	CU_ASSERT_STRING_EQUAL(r.cache_control, "no-store");
	CU_ASSERT_STRING_EQUAL(r.nosniff, "nosniff");
	http_do(w.port, "OPTIONS", "/in/web/v1/reject", NULL, 0, 0, odd, &r);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_STRING_EQUAL(r.acah, "Authorization, Content-Type, Content-Encoding");
	http_do(w.port, "OPTIONS", "/in/web/v1/echo", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_STRING_EQUAL(r.allow, "POST, PUT, OPTIONS");
	CU_ASSERT_STRING_EQUAL(r.nosniff, "nosniff");
	CU_ASSERT_STRING_EQUAL(r.acao, "");
	CU_ASSERT_STRING_EQUAL(r.acam, "");
	http_do(w.port, "OPTIONS", "/in/web/v1/none", NULL, 0, 0, preflight, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	http_do(w.port, "OPTIONS", "/in/nosuch/v1/echo", NULL, 0, 0, preflight, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	world_close(&w);
}

/* http.cors_origins lists the origins that may read: a listed one is
 * named back (any case of it), with Vary: Origin; another gets no header,
 * its request served all the same (the write key, not CORS, guards the
 * store); [] turns CORS off. */
static void test_cors_names_only_the_listed_origins(void)
{
	static const char *const from_other[] = {"Origin: https://other.example", NULL};
	static const char *const from_local[] = {"Origin: HTTP://LOCALHOST:3000", NULL};
	struct world w;
	struct resp r;

	world_open(&w, "  cors_origins: [https://shop.example, http://localhost:3000]\n", NULL);
	http_do(w.port, "POST", "/in/web/v1/echo", "p1\n", 3, 0, from_shop, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.acao, "https://shop.example");
	CU_ASSERT_STRING_EQUAL(r.vary, "Origin");
	http_do(w.port, "POST", "/in/web/v1/echo", "p2\n", 3, 0, from_local, &r);
	CU_ASSERT_STRING_EQUAL(r.acao, "HTTP://LOCALHOST:3000");
	http_do(w.port, "POST", "/in/web/v1/echo", "p3\n", 3, 0, from_other, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.acao, "");
	http_do(w.port, "OPTIONS", "/in/web/v1/echo", NULL, 0, 0, from_other, &r);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_STRING_EQUAL(r.acao, "");
	CU_ASSERT_STRING_EQUAL(r.acam, "");
	CU_ASSERT_EQUAL(world_profiles(&w), 3);
	world_close(&w);

	world_open(&w, "  cors_origins: []\n", NULL);
	http_do(w.port, "POST", "/in/web/v1/echo", "p1\n", 3, 0, from_shop, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.acao, "");
	world_close(&w);

	world_open(&w, "  cors_origins: [https://shop.example, \"*\"]\n", NULL);
	http_do(w.port, "POST", "/in/web/v1/echo", "p1\n", 3, 0, from_other, &r);
	CU_ASSERT_STRING_EQUAL(r.acao, "*");
	world_close(&w);
}

/* A request method is case-sensitive (RFC 9110): "post" is no route's
 * POST, and nothing it carries is stored. */
static void test_a_method_in_lowercase_is_no_routes(void)
{
	static const char req[] = "post /in/web/v1/echo HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\nContent-Length: 3\r\n\r\nl1\n";
	struct world w;
	char buf[2048];
	int fd, closed;

	world_open(&w, NULL, NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1);
	raw_read_all(fd, buf, sizeof(buf), 5000, &closed);
	close(fd);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 405", 12) == 0);
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	world_close(&w);
}

/* `req` sent alone on a new connection: the answer into buf (the
 * connection closed by the request's "Connection: close"). */
static void raw_exchange(const struct world *w, const char *req, char *buf, size_t size)
{
	int fd = raw_connect(w->port), closed;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
	raw_read_all(fd, buf, size, 5000, &closed);
	close(fd);
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host, or one with two, or
 * one whose Host is not a host[:port] is answered 400 (JSON, naming Host)
 * and nothing it carries is stored; an HTTP/1.0 request needs none. */
static void test_host_missing_twice_or_invalid_is_400(void)
{
	static const struct {
		const char *head;
		const char *code; /* NULL: taken */
	} rows[] = {
		{"POST /in/web/v1/echo HTTP/1.1\r\n", "missing_host"},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n", "duplicate_header"},
		{"POST /in/web/v1/echo HTTP/1.0\r\nHost: a\r\nhost: a\r\n", "duplicate_header"},
		{"POST /in/web/v1/echo HTTP/1.0\r\n", NULL},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\n", NULL},
		/* a Host of an invalid value (RFC 9112 3.2): 400 too */
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: a b\r\n", "invalid_host"},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: a.example/p\r\n", "invalid_host"},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: ann@a.example\r\n", "invalid_host"},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: a.example:80x\r\n", "invalid_host"},
		{"POST /in/web/v1/echo HTTP/1.0\r\nHost: a\x01" "b\r\n", "invalid_host"},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: [::1]:8080\r\n", NULL},
		{"POST /in/web/v1/echo HTTP/1.1\r\nHost: \r\n", NULL},
	};
	struct world w;
	char req[512], buf[2048];
	size_t n_taken = 0;

	world_open(&w, NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		snprintf(req, sizeof(req),
			 "%sConnection: close\r\nContent-Length: 3\r\n\r\nh%zu\n", rows[i].head,
			 i);
		raw_exchange(&w, req, buf, sizeof(buf));
		if (!rows[i].code) {
			CU_ASSERT(strncmp(buf + 8, " 200", 4) == 0);
			n_taken++;
		} else {
			const char *body = strstr(buf, "\r\n\r\n");
			json_t *o = body ? json_loads(body + 4, 0, NULL) : NULL;
			json_t *e = json_object_get(o, "error");

			CU_ASSERT(strncmp(buf + 8, " 400", 4) == 0);
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "code")) ?: "",
					       rows[i].code);
			CU_ASSERT_EQUAL(strncmp(json_string_value(json_object_get(e, "message")) ?: "",
						"Host ", 5), 0);
			json_decref(o);
		}
		if (!strstr(buf, rows[i].code ? rows[i].code : " 200"))
			fprintf(stderr, "\n  row %zu: %s", i, buf);
		CU_ASSERT_EQUAL(world_profiles(&w), n_taken);
	}
	world_close(&w);
}

static void test_header_lookup_ignores_case(void)
{
	static const char *const good[] = {"AUTHORIZATION: Bearer k-123", NULL};
	static const char *const bad[] = {"Authorization: Bearer k-124", NULL};
	struct world w;
	struct resp r;

	world_open(&w, NULL, "    key: k-123\n");
	http_do(w.port, "POST", "/in/web/v1/echo", "h1\n", 3, 0, bad, &r);
	ASSERT_ERROR(&r, 401, "unauthorized");
	http_do(w.port, "POST", "/in/web/v1/echo", "h1\n", 3, 0, good, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(world_profiles(&w), 1);
	world_close(&w);
}

/*
 * A route reads its request's query string (host->query, ABI 1.7): a
 * webhook that authenticates with ?key= (echo_push takes its key there
 * too).  Decoded; the first of two; a value with %00 is none (it would be
 * cut); and the route's path is matched without the query.
 */
static void test_a_route_reads_the_query_string(void)
{
	static const struct {
		const char *path;
		long status;
		const char *installation; /* stored when 200 */
	} rows[] = {
		{"/in/web/v1/echo?key=k-123", 200, "q1"},
		{"/in/web/v1/echo?key=k%2D123", 200, "q2"},           /* decoded */
		{"/in/web/v1/echo?other=1&key=k-123&key=x", 200, "q3"}, /* the first */
		{"/in/web/v1/echo?key=k-124", 401, "q4"},
		{"/in/web/v1/echo?key=k-123%00", 401, "q5"},            /* cut: none */
		{"/in/web/v1/echo?key=", 401, "q6"},
		{"/in/web/v1/echo?KEY=k-123", 401, "q7"},               /* names keep case */
		{"/in/web/v1/echo?ke=k-123", 401, "q8"},                /* a prefix: no name */
	};
	struct world w;
	struct resp r;

	world_open(&w, NULL, "    key: k-123\n");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char body[16];

		snprintf(body, sizeof(body), "%s\n", rows[i].installation);
		post(&w, rows[i].path, body, &r);
		CU_ASSERT_EQUAL(r.status, rows[i].status);
		if (r.status != rows[i].status)
			fprintf(stderr, "\n  %s: %ld %s", rows[i].path, r.status, r.body);
		CU_ASSERT_EQUAL(world_has_installation(&w, rows[i].installation),
				rows[i].status == 200);
	}
	world_close(&w);
}

/* A route that keeps its request (ownership rule 1 broken) and reads it
 * in a later request: its header() and query() answer none, and its body
 * is empty, where they read a freed request (on this one thread: the later
 * request's own headers); the refusal is logged naming the plugin. */
static void test_a_request_kept_past_its_route_is_refused(void)
{
	static const char *const first[] = {"X-Probe: first", NULL};
	static const char *const later[] = {"X-Probe: later", NULL};
	struct testlib_capture cap;
	struct world w;
	struct resp r;
	char *logged;

	world_open(&w, "  threads: 1\n", NULL);
	host_reset_refusal_lines();
	http_do(w.port, "POST", "/in/web/v1/keep?probe=one", "abc", 3, 0, first, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"first\":true"));
	/* a GET on a connection of its own between: the memory of the first
	 * one's (its method, with MHD) holds "GET" then */
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	testlib_capture_begin(&cap);
	http_do(w.port, "POST", "/in/web/v1/keep?probe=two", "abcdef", 6, 0, later, &r);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(r.status, 200);
	/* its method is the route's, not the closed connection's memory */
	CU_ASSERT_STRING_EQUAL(r.body, "{\"method\":\"POST\",\"header\":null,\"query\":null,"
			       "\"body_len\":0}");
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "error [web] plugin echo_push called "));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "() with the request of its handle() after it "
				      "returned (a request is borrowed for its callback"));
	CU_ASSERT_EQUAL(testlib_lines_with(logged, ""), 1); /* the second: rate-limited */
	world_close(&w);
	free(logged);
}

/* host->query answers only for a request of this server: a hub_request a
 * plugin made up itself has no connection behind it. */
static const char *made_up_header(const struct hub_request *req, const char *name)
{
	(void)req, (void)name;
	return NULL;
}

static void test_query_of_a_made_up_request_is_none(void)
{
	struct hub_request req = {.method = "POST", .path = "/v1/echo", .body = "",
				  .header = made_up_header};

	CU_ASSERT_PTR_NULL(http_request_query(&req, "key"));
	CU_ASSERT_PTR_NULL(http_request_query(NULL, "key"));
}

/* What a port in use is answered with: the bind's error, then what to do
 * (a newcomer's second `make run`, or another server on 8080, got the
 * error alone). */
#define IN_USE_MESSAGE                                                                 \
	"cannot listen on %s: Address already in use (another process listens there, a hub" \
	" already running?: stop it, or set http.listen to another address)"

/* A server started on a port another listens on says the port is in use,
 * for certain (the bind's own error), where it guessed "(address in use?)"
 * for any failure to start, a thread it could not create included (that
 * case: tests/integration/http_run.sh, under ulimit -v). */
static void test_a_start_on_a_taken_port_says_it_is_in_use(void)
{
	struct world w;
	struct http_server *second = NULL;
	char listen[32], want[256], err[1024] = "";
	char *saved;

	world_open(&w, NULL, NULL);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", w.port);
	saved = w.th->cfg->http_listen; /* the config of a second server */
	w.th->cfg->http_listen = listen;
	CU_ASSERT_EQUAL(http_start(&second, &w.ctx, err, sizeof(err)), -1);
	w.th->cfg->http_listen = saved;
	if (second)
		http_stop(second);
	snprintf(want, sizeof(want), IN_USE_MESSAGE, listen);
	CU_ASSERT_STRING_EQUAL(err, want);
	world_close(&w);
}

/* A socket listening on `ip` (IPv4 or IPv6 text) port 0, v6only for
 * IPv6; its fd and port, or -1 (the machine has no such address). */
static int listen_on(const char *ip, int *port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof(ss);
	int is_v6 = strchr(ip, ':') != NULL, one = 1;
	int fd = socket(is_v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (is_v6) {
		in6->sin6_family = AF_INET6;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
	} else {
		in4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &in4->sin_addr);
	}
	if (bind(fd, (struct sockaddr *)&ss, is_v6 ? sizeof(*in6) : sizeof(*in4)) != 0 ||
	    listen(fd, 4) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(is_v6 ? in6->sin6_port : in4->sin_port);
	return fd;
}

/* http.listen as API.md reads it: ":P" and "localhost:P" are 127.0.0.1
 * (loopback only, never every address), "[::1]:P" an IPv6 address in
 * brackets, "[::]:P" IPv6 alone (beside an IPv4 "0.0.0.0:P"); a host too
 * long or a missing port is refused. */
static void test_listen_addresses_are_read_as_documented(void)
{
	char addr[400], err[1024] = "", want[600], host[257];
	int port = 0, fd;

	/* ":P" beside 127.0.0.2:P: free on 127.0.0.1, taken on 0.0.0.0 */
	fd = listen_on("127.0.0.2", &port);
	CU_ASSERT_FATAL(fd >= 0);
	snprintf(addr, sizeof(addr), ":%d", port);
	CU_ASSERT_EQUAL(http_listen_check(addr, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	close(fd);
	/* "localhost:P" beside 127.0.0.1:P: taken */
	fd = listen_on("127.0.0.1", &port);
	CU_ASSERT_FATAL(fd >= 0);
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	CU_ASSERT_EQUAL(http_listen_check(addr, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), IN_USE_MESSAGE, addr);
	CU_ASSERT_STRING_EQUAL(err, want);
	/* in any case: LOCALHOST is the same name, 127.0.0.1 too */
	snprintf(addr, sizeof(addr), "LOCALHOST:%d", port);
	CU_ASSERT_EQUAL(http_listen_check(addr, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), IN_USE_MESSAGE, addr);
	CU_ASSERT_STRING_EQUAL(err, want);
	close(fd);

	if ((fd = listen_on("::1", &port)) >= 0) { /* the machine has IPv6 */
		close(fd);
		CU_ASSERT_EQUAL(http_listen_check("[::1]:0", err, sizeof(err)), 0);
		fd = listen_on("0.0.0.0", &port);
		CU_ASSERT_FATAL(fd >= 0);
		snprintf(addr, sizeof(addr), "[::]:%d", port);
		CU_ASSERT_EQUAL(http_listen_check(addr, err, sizeof(err)), 0);
		close(fd);
	}

	memset(host, 'h', 256);
	host[256] = '\0';
	snprintf(addr, sizeof(addr), "%s:8080", host);
	CU_ASSERT_EQUAL(http_listen_check(addr, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "http.listen: \"%s\" is not host:port", addr);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(http_listen_check("127.0.0.1:", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "http.listen: \"127.0.0.1:\" is not host:port");
	/* a name of the right form that no resolver knows (RFC 6761 .invalid) */
	CU_ASSERT_EQUAL(http_listen_check("no-such-host.invalid:8080", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "http.listen: cannot resolve \"no-such-host.invalid\": "));
}

/* ---- tests: bodies ---------------------------------------------------- */

static void test_announced_oversize_body_is_refused_unread(void)
{
	static const char req[] = "POST /in/web/v1/echo HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n"
				  "Content-Length: 1000000000\r\n"
				  "\r\n"
				  "abc";
	struct world w;
	char buf[2048];
	int fd, closed;
	int64_t t0;

	world_open(&w, NULL, NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	t0 = time_mono_ms();
	CU_ASSERT_EQUAL(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	raw_read_all(fd, buf, sizeof(buf), 5000, &closed);
	/* answered without waiting for the gigabyte, and the connection closed */
	CU_ASSERT(strncmp(buf, "HTTP/1.1 413", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"body_too_large\""));
	CU_ASSERT(closed);
	CU_ASSERT(time_mono_ms() - t0 < 4000);
	close(fd);
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	world_close(&w);
}

/* GET /healthz with one header of `pad` bytes: the answer's first line
 * (its first 12 bytes) into status.  Connection: close ends the read at
 * the answer (a kept-alive 200 held it the whole 5 s). */
static void healthz_with_header_of(int port, size_t pad, char status[13])
{
	size_t cap = pad + 128, len;
	char *req = malloc(cap), buf[4096];
	int fd = raw_connect(port), closed;

	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	CU_ASSERT_FATAL(fd >= 0);
	len = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			      "Connection: close\r\nX-Pad: ");
	memset(req + len, 'p', pad);
	len += pad;
	len += (size_t)snprintf(req + len, cap - len, "\r\n\r\n");
	/* the hub may refuse and close before it has read all of an oversized one */
	CU_ASSERT(send(fd, req, len, MSG_NOSIGNAL) > 0);
	raw_read_all(fd, buf, sizeof(buf), 5000, &closed);
	memcpy(status, buf, 12);
	status[12] = '\0';
	close(fd);
	free(req);
}

/* The request line and headers share the connection's 64 KiB pool
 * (docs/reliability-and-security.md): 60,000 bytes of headers are
 * served, 70,000 refused 431 by libmicrohttpd. */
static void test_headers_fit_a_64_kib_pool(void)
{
	struct world w;
	char status[13];

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	world_open(&w, NULL, NULL);
	healthz_with_header_of(w.port, 60000, status);
	CU_ASSERT_STRING_EQUAL(status, "HTTP/1.1 200");
	healthz_with_header_of(w.port, 70000, status);
	CU_ASSERT_STRING_EQUAL(status, "HTTP/1.1 431");
	world_close(&w);
}

static void test_chunked_body_past_limit_is_413(void)
{
	struct world w;
	struct resp r;
	char *body = malloc(MAX_BODY + 100);

	for (size_t i = 0; i < MAX_BODY + 100; i++)
		body[i] = i % 10 == 9 ? '\n' : 'c';
	world_open(&w, NULL, NULL);
	http_do(w.port, "POST", "/in/web/v1/echo", body, MAX_BODY + 100, 1, NULL, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "larger than 4096 bytes")); /* the limit named */
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	/* exactly the limit is fine */
	http_do(w.port, "POST", "/in/web/v1/echo", body, MAX_BODY, 1, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	world_close(&w);
	free(body);
}

/*
 * Sends `head` (a request announcing n body bytes, no Expect), gives the
 * server time to answer early (it must not: nothing readable for 300 ms),
 * then the body, and reads the answer into buf.  Returns the bytes of the
 * body that went through: all of them, unless the server closed early and
 * the kernel reset the connection.
 */
static size_t send_whole_then_read(int port, const char *head, size_t n, char *buf,
				   size_t size)
{
	char chunk[4096];
	struct pollfd p;
	size_t sent = 0;
	int fd = raw_connect(port), closed;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	p = (struct pollfd){fd, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 300), 0); /* an answer now would be the early one */
	memset(chunk, 'c', sizeof(chunk));
	while (sent < n) {
		size_t k = n - sent < sizeof(chunk) ? n - sent : sizeof(chunk);
		ssize_t w = send(fd, chunk, k, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* reset: the server closed with the body unread */
		sent += (size_t)w;
	}
	raw_read_all(fd, buf, size, 5000, &closed);
	close(fd);
	return sent;
}

/*
 * A client that sends its body without waiting for an answer to its
 * headers (no Expect: 100-continue, as most SDKs send a batch) gets the
 * answer whole when its request is refused from the headers: a body a
 * little past the limit (413), an unknown source (404), a wrong method
 * (405), an unknown encoding (415).  These used to be answered at once and
 * the connection closed while the body was still coming: the kernel reset
 * it, so the client saw a broken connection (and sent the same request
 * again and again) or read the answer only when it won the race.  Now a
 * body within twice the limit is read and dropped first.
 */
static void test_a_body_sent_whole_reads_its_refusal(void)
{
	enum { LIMIT = 64 * 1024, N = LIMIT + LIMIT / 2, SMALL = LIMIT / 2 };
	static const struct {
		const char *line, *extra; /* the request line, more headers */
		int n;
		const char *status, *code;
	} cases[] = {
		{"POST /in/web/v1/echo", "", N, "HTTP/1.1 413", "\"body_too_large\""},
		{"POST /in/nosuch/v1/batch", "", SMALL, "HTTP/1.1 404", "\"not_found\""},
		{"DELETE /in/web/v1/echo", "", SMALL, "HTTP/1.1 405", "\"method_not_allowed\""},
		{"POST /in/web/v1/echo", "Content-Encoding: br\r\n", SMALL, "HTTP/1.1 415",
		 "\"unsupported_encoding\""},
	};
	struct world w;
	char head[256], buf[2048];

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	world_start(&w, LIMIT, 0, NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(head, sizeof(head),
			 "%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			 "%sContent-Length: %d\r\n\r\n",
			 cases[i].line, cases[i].extra, cases[i].n);
		CU_ASSERT_EQUAL(send_whole_then_read(w.port, head, (size_t)cases[i].n, buf,
						     sizeof(buf)),
				(size_t)cases[i].n);
		CU_ASSERT(strncmp(buf, cases[i].status, 12) == 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, cases[i].code));
		if (strncmp(buf, cases[i].status, 12) != 0)
			fprintf(stderr, "\n  case %zu: \"%.60s\"\n", i, buf);
	}
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	world_close(&w);
}

static void test_gzip_and_deflate_bodies_are_decoded(void)
{
	static const char *const gz[] = {"Content-Encoding: gzip", NULL};
	static const char *const df[] = {"Content-Encoding: Deflate", NULL};
	static const char text[] = "g1\ng2\n";
	struct world w;
	struct resp r;
	size_t n;
	char *z;

	world_open(&w, NULL, NULL);
	z = testlib_compress(31, text, strlen(text), &n);
	http_do(w.port, "POST", "/in/web/v1/echo", z, n, 0, gz, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	free(z);
	z = testlib_compress(15, "d1\n", 3, &n);
	http_do(w.port, "POST", "/in/web/v1/echo", z, n, 0, df, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	free(z);
	z = testlib_compress(-15, "d2\n", 3, &n); /* raw deflate, as some clients send */
	http_do(w.port, "POST", "/in/web/v1/echo", z, n, 1, df, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	free(z);
	CU_ASSERT_EQUAL(world_profiles(&w), 4);
	CU_ASSERT(world_has_installation(&w, "g2"));
	CU_ASSERT(world_has_installation(&w, "d2"));
	world_close(&w);
}

static void test_bad_gzip_is_400_and_bombs_are_413(void)
{
	static const char *const gz[] = {"Content-Encoding: gzip", NULL};
	struct world w;
	struct resp r;
	char *big = malloc(3 * MAX_BODY), *z;
	size_t n;

	memset(big, 'a', 3 * MAX_BODY);
	world_open(&w, NULL, NULL);
	z = testlib_compress(31, "t1\nt2\nt3\nt4\n", 12, &n);
	http_do(w.port, "POST", "/in/web/v1/echo", z, n - 6, 0, gz, &r); /* truncated */
	ASSERT_ERROR(&r, 400, "invalid_gzip");
	z[n / 2] ^= 0x55; /* corrupt */
	http_do(w.port, "POST", "/in/web/v1/echo", z, n, 0, gz, &r);
	ASSERT_ERROR(&r, 400, "invalid_gzip");
	http_do(w.port, "POST", "/in/web/v1/echo", "plain\n", 6, 0, gz, &r); /* not gzip */
	ASSERT_ERROR(&r, 400, "invalid_gzip");
	free(z);
	z = testlib_compress(31, big, 3 * MAX_BODY, &n); /* small, inflates past the limit */
	CU_ASSERT(n < MAX_BODY);
	http_do(w.port, "POST", "/in/web/v1/echo", z, n, 0, gz, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	free(z);
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	world_close(&w);
	free(big);
}

/* admit() reads the request's query string with host->query(), as
 * handle() does: a webhook whose token is in ?token= is refused before its
 * body is read, and let through with the right one. */
static void test_admit_reads_the_query_string(void)
{
	static const char *const expect100[] = {"Expect: 100-continue", NULL};
	struct world w;
	struct resp r;

	world_start_plugin(&w, "query_admit", MAX_BODY, 0, NULL, "    token: t0k\n");
	http_do(w.port, "POST", "/in/web/v1/hit?token=nope", "{}", 2, 0, expect100, &r);
	CU_ASSERT_EQUAL(r.status, 401);
	http_do(w.port, "POST", "/in/web/v1/hit", "{}", 2, 0, expect100, &r);
	CU_ASSERT_EQUAL(r.status, 401);
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	http_do(w.port, "POST", "/in/web/v1/hit?token=t0k", "{}", 2, 0, expect100, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(world_profiles(&w), 1);
	world_close(&w);
}

/*
 * The security review's case for the push routes: Segment and mParticle
 * checked a credential sent in a header only once the whole body was read
 * and inflated (up to http.max_body), so a client without one made the hub
 * do that work for each request.  Their admit() (ABI 1.11) refuses it from
 * the headers: a body past the limit, or a gzip bomb, that would be a 413
 * once read is a 401 / 403 unread, and nothing is stored.  Segment's
 * writeKey sent in the body (no Authorization header) still works.
 */
static void test_push_credentials_are_checked_before_the_body(void)
{
	/* "nope:" and "key:wrong" in Basic; curl waits for 100 Continue */
	static const char *const seg_wrong[] = {"Expect: 100-continue",
						"Authorization: Basic bm9wZTo=", NULL};
	static const char *const seg_bomb[] = {"Expect: 100-continue", "Content-Encoding: gzip",
					       "Authorization: Basic bm9wZTo=", NULL};
	static const char *const seg_unsigned[] = {"Expect: 100-continue", NULL};
	static const char *const mp_none[] = {"Expect: 100-continue", NULL};
	static const char *const mp_wrong[] = {"Expect: 100-continue",
					       "Authorization: Basic a2V5Ondyb25n", NULL};
	static const char body_key[] = "{\"writeKey\": \"wk_1\", \"batch\": [{\"type\": "
				       "\"identify\", \"userId\": \"u1\"}]}";
	char *big = malloc(3 * MAX_BODY), *z;
	struct world w;
	struct resp r;
	size_t n;

	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'a', 3 * MAX_BODY);
	z = testlib_compress(31, big, 3 * MAX_BODY, &n); /* small, inflates past the limit */
	CU_ASSERT(n < MAX_BODY);

	world_start_plugin(&w, "segment", MAX_BODY, 0, NULL,
			   "    write_keys: [wk_1]\n    webhook_secret: s3cret\n");
	http_do(w.port, "POST", "/in/web/v1/batch", big, MAX_BODY + 100, 0, seg_wrong, &r);
	CU_ASSERT_EQUAL(r.status, 401);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "unknown write key"));
	http_do(w.port, "POST", "/in/web/v1/batch", z, n, 0, seg_bomb, &r);
	CU_ASSERT_EQUAL(r.status, 401);
	http_do(w.port, "POST", "/in/web/webhook", big, MAX_BODY + 100, 0, seg_unsigned, &r);
	CU_ASSERT_EQUAL(r.status, 401);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "missing or wrong X-Signature"));
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	/* the key in the body: read with the body, as before */
	post(&w, "/in/web/v1/batch", body_key, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(world_profiles(&w), 1);
	world_close(&w);

	world_start_plugin(&w, "mparticle", MAX_BODY, 0, NULL,
			   "    api_key: key\n    api_secret: secret\n");
	http_do(w.port, "POST", "/in/web/v2/events", big, MAX_BODY + 100, 0, mp_none, &r);
	CU_ASSERT_EQUAL(r.status, 401);
	http_do(w.port, "POST", "/in/web/v2/bulkevents", big, MAX_BODY + 100, 0, mp_wrong, &r);
	CU_ASSERT_EQUAL(r.status, 403);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "wrong Basic credentials"));
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	world_close(&w);
	free(z);
	free(big);
}

/* A push route a source leaves off (Segment's /webhook without
 * webhook_secret, mParticle's Events API without api_key, its webhook
 * without webhook_authorization) answers as a path the hub does not serve:
 * the same status and body, in the source's shape.  It answered "this
 * source has no webhook_secret: the webhook is off", which told a caller
 * without credentials how the source is configured. */
static void test_a_route_off_answers_as_an_unknown_path(void)
{
	static const struct {
		const char *plugin, *keys, *path, *header;
	} rows[] = {
		{"segment", "    write_keys: [wk_1]\n", "/in/web/webhook", "X-Signature: 00"},
		{"mparticle", "    api_key: key\n    api_secret: secret\n", "/in/web/webhook",
		 "Authorization: Bearer x"},
		{"mparticle", "    webhook_authorization: x\n", "/in/web/v2/events",
		 "Authorization: Basic a2V5OnNlY3JldA=="},
		{"mparticle", "    webhook_authorization: x\n", "/in/web/v2/bulkevents", NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *const headers[] = {rows[i].header, NULL};
		struct resp off, unknown;
		struct world w;

		world_start_plugin(&w, rows[i].plugin, MAX_BODY, 0, NULL, rows[i].keys);
		http_do(w.port, "POST", rows[i].path, "[]", 2, 0, headers, &off);
		http_do(w.port, "POST", "/in/web/no/such/path", "[]", 2, 0, headers, &unknown);
		if (strcmp(off.body, unknown.body) != 0)
			fprintf(stderr, "\n  row %zu: %s\n  unknown: %s\n", i, off.body,
				unknown.body);
		CU_ASSERT_EQUAL(off.status, 404);
		CU_ASSERT_EQUAL(unknown.status, 404);
		CU_ASSERT_STRING_EQUAL(off.body, unknown.body);
		CU_ASSERT_EQUAL(world_profiles(&w), 0);
		world_close(&w);
	}
}

/* The hub's refusal of a request's headers on a source's route (a header
 * sent twice) is written in the source's error shape, as its others are. */
static void test_a_header_refusal_on_a_source_is_in_its_shape(void)
{
	static const char *const twice[] = {"Authorization: Basic a2V5OnNlY3JldA==",
					    "Authorization: Basic a2V5OnNlY3JldA==", NULL};
	struct world w;
	struct resp r;
	json_t *o;

	world_start_plugin(&w, "mparticle", MAX_BODY, 0, NULL,
			   "    api_key: key\n    api_secret: secret\n");
	http_do(w.port, "POST", "/in/web/v2/events", "{}", 2, 0, twice, &r);
	CU_ASSERT_EQUAL(r.status, 400);
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT(json_is_array(json_object_get(o, "errors"))); /* mParticle's, not "error" */
	json_decref(o);
	world_close(&w);
}

static void test_unknown_encoding_is_415(void)
{
	static const char *const br[] = {"Content-Encoding: br", NULL};
	static const char *const id[] = {"Content-Encoding: identity", NULL};
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	http_do(w.port, "POST", "/in/web/v1/echo", "e1\n", 3, 0, br, &r);
	ASSERT_ERROR(&r, 415, "unsupported_encoding");
	http_do(w.port, "POST", "/in/web/v1/echo", "e1\n", 3, 0, id, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(world_profiles(&w), 1);
	world_close(&w);
}

/* ---- tests: all or nothing, durable before acknowledged -------------- */

static void test_rejected_request_stores_nothing(void)
{
	struct world w;
	struct resp r;
	json_t *o;

	world_open(&w, NULL, NULL);
	/* the plugin emitted three valid records, then refused the request */
	post(&w, "/in/web/v1/emit_then_reject", "r1\nr2\nr3\n", &r);
	ASSERT_ERROR(&r, 400, "rejected");
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "error"), "index")),
			0);
	CU_ASSERT(json_is_integer(json_object_get(json_object_get(o, "error"), "index")));
	json_decref(o);
	/* a refusal with no body gets the host's JSON error */
	post(&w, "/in/web/v1/reject", "r4\n", &r);
	ASSERT_ERROR(&r, 400, "bad_request");
	/* one invalid record: the plugin names it, its valid neighbour is dropped */
	post(&w, "/in/web/v1/echo", "r5\nr6\tnot json\nr7\n", &r);
	ASSERT_ERROR(&r, 400, "invalid_record");
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "error"), "index")),
			1);
	json_decref(o);
	/* HUB_OK with a non-2xx status discards the records as well */
	post(&w, "/in/web/v1/emit_then_status?status=422", "r8\nr9\n", &r);
	CU_ASSERT_EQUAL(r.status, 422);
	post(&w, "/in/web/v1/emit_then_status?status=302", "r10\n", &r);
	CU_ASSERT_EQUAL(r.status, 302);
	CU_ASSERT_EQUAL(world_profiles(&w), 0);
	/* 3 + 1 (valid but in a refused request) + 1 (invalid) + 2 + 1 */
	CU_ASSERT_EQUAL(metrics_rejected(http_metrics(w.srv)), 8);
	world_close(&w);
}

static void test_2xx_means_records_are_stored(void)
{
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	for (int i = 0; i < 5; i++) {
		char body[64], iid[16];
		snprintf(body, sizeof(body), "s%d-a\ns%d-b\n", i, i);
		post(&w, "/in/web/v1/echo", body, &r);
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_STRING_EQUAL(r.body, "{\"ok\":true}");
		/* read through another connection right after the answer */
		snprintf(iid, sizeof(iid), "s%d-b", i);
		CU_ASSERT(world_has_installation(&w, iid));
		CU_ASSERT_EQUAL(world_profiles(&w), (size_t)(2 * (i + 1)));
	}
	world_close(&w);
}

static void test_warnings_are_listed_in_the_2xx_body(void)
{
	struct world w;
	struct resp r;
	json_t *o, *warn;

	world_open(&w, NULL, NULL);
	post(&w, "/in/web/v1/echo",
	     "w0\nw1\t{\"$phone_number\": \"not a phone\", \"plan\": \"gold\"}\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT(json_is_true(json_object_get(o, "ok")));
	warn = json_object_get(o, "warnings");
	CU_ASSERT_EQUAL_FATAL(json_array_size(warn), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(warn, 0), "index")), 1);
	/* the plugin's origin of the record (ABI 1.3) */
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(warn, 0), "at")),
			       "lines[1]");
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(json_array_get(warn, 0),
									 "message")),
				      "$phone_number"));
	json_decref(o);
	CU_ASSERT_EQUAL(world_profiles(&w), 2);
	world_close(&w);
}

/* An array op that passes 25 items only with what is stored is the
 * writer's warning, the attribute left as it was: logged with the record's
 * index and message_id, never in the 2xx body, which anyone holding a
 * (public) write key reads: "would leave 30 items" told them how many the
 * profile stores and, with a $remove, whether it holds a value. */
static void test_an_array_op_past_the_limit_is_logged_not_answered(void)
{
	struct testlib_capture cap;
	struct world w;
	struct resp r;
	char body[512], *logged;
	size_t len;
	json_t *all, *tags = NULL, *doc;
	enum hub_log_level level = log_get_level();
	size_t i;

	world_open(&w, NULL, NULL);
	len = (size_t)snprintf(body, sizeof(body), "a1\t{\"tags\": [");
	for (int k = 0; k < 20; k++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s\"t%d\"", k ? "," : "",
					k);
	snprintf(body + len, sizeof(body) - len, "]}\n");
	post(&w, "/in/web/v1/echo", body, &r);
	CU_ASSERT_EQUAL_FATAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.body, "{\"ok\":true}");
	log_set_level(HUB_LOG_INFO);
	testlib_capture_begin(&cap);
	post(&w, "/in/web/v1/echo",
	     "b1\na1\t{\"plan\": \"gold\", \"tags\": {\"$add\": [\"u0\", \"u1\", \"u2\", \"u3\","
	     " \"u4\", \"u5\", \"u6\", \"u7\", \"u8\", \"u9\"]}}\n", &r);
	logged = testlib_capture_end(&cap);
	log_set_level(level);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.body, "{\"ok\":true}");
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "source \"web\": record 1 of a request (message_id "));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "attributes.tags: the array op would leave 30 items, "
				      "more than 25; the attribute is left unchanged (not in the "
				      "answer: it tells what is stored; 1 such warning so far, a "
				      "line every 10 s at most)"));
	free(logged);
	all = testhub_dump(w.th, 0);
	json_array_foreach(all, i, doc) {
		json_t *attrs = json_object_get(doc, "attributes");
		if (json_object_get(attrs, "tags")) {
			tags = json_object_get(attrs, "tags");
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(attrs, "plan")),
					       "gold");
		}
	}
	CU_ASSERT_EQUAL(json_array_size(tags), 20);
	json_decref(all);
	world_close(&w);
}

/* ---- tests: metrics --------------------------------------------------- */

static void test_metrics_count_requests_by_route_and_status(void)
{
	static const char *const expected[] = {
		"http_requests_total{route=\"/healthz\",status=\"200\"} 2\n",
		"http_requests_total{route=\"unmatched\",status=\"404\"} 1\n",
		"http_requests_total{route=\"/in/web/v1/echo\",status=\"200\"} 2\n",
		"http_requests_total{route=\"/in/web/v1/emit_then_reject\",status=\"400\"} 1\n",
		"# TYPE http_requests_total counter\n",
		"records_applied_total 3\n",
		"records_duplicates_total 1\n",
		"records_blocked_total 0\n",
		"records_refused_total 0\n",
		"records_rejected_total 1\n",
		"intake_queue_depth 0\n",
		"# TYPE intake_commit_seconds histogram\n",
		"intake_commit_seconds_bucket{le=\"+Inf\"} 2\n",
		"intake_commit_seconds_count 2\n",
	};
	struct world w;
	struct resp r;

	world_open(&w, NULL, NULL);
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	http_do(w.port, "GET", "/nowhere", NULL, 0, 0, NULL, &r);
	post(&w, "/in/web/v1/echo", "m1\nm2\nm3\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	post(&w, "/in/web/v1/echo", "m1\n", &r); /* the same record again: a duplicate */
	CU_ASSERT_EQUAL(r.status, 200);
	post(&w, "/in/web/v1/emit_then_reject", "m4\n", &r);
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.content_type, "text/plain; version=0.0.4");
	for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, expected[i]));
		if (!strstr(r.body, expected[i]))
			fprintf(stderr, "missing: %s", expected[i]);
	}
	/* the /metrics request itself is counted once answered */
	CU_ASSERT_EQUAL(metrics_requests(http_metrics(w.srv), 2, 200), 1);
	world_close(&w);
}

/* 1 when a line of text starts with `start`. */
static int has_line_starting(const char *text, const char *start)
{
	char nl_start[128];

	snprintf(nl_start, sizeof(nl_start), "\n%s", start);
	return strncmp(text, start, strlen(start)) == 0 || strstr(text, nl_start);
}

/* process_start_time_seconds of a /metrics answer, in ms (-1: none). */
static int64_t scraped_start_ms(int port, char *line, size_t size)
{
	struct resp r;
	const char *p;
	long long sec = -1;
	int ms = -1, n = 0;

	http_do(port, "GET", "/metrics", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	p = strstr(r.body, "\nprocess_start_time_seconds ");
	if (!p || sscanf(p + 1, "process_start_time_seconds %lld.%3d%n", &sec, &ms, &n) != 2 ||
	    p[1 + n] != '\n')
		return -1;
	snprintf(line, size, "%.*s", n, p + 1);
	CU_ASSERT(has_line_starting(r.body, "# HELP process_start_time_seconds "));
	CU_ASSERT(has_line_starting(r.body, "# TYPE process_start_time_seconds gauge\n"));
	CU_ASSERT(has_line_starting(r.body, "# HELP profilehub_build_info "));
	CU_ASSERT(has_line_starting(r.body, "# TYPE profilehub_build_info gauge\n"));
	CU_ASSERT(has_line_starting(r.body,
				    "profilehub_build_info{version=\"" HUB_VERSION "\"} 1\n"));
	return sec * 1000 + ms;
}

/*
 * /metrics says when the process started and which build it is, so that a
 * counter lower than at the last scrape reads as a restart (the start time
 * moved), not a reset.  The start is this process's, before the hub was
 * opened, and the same at every scrape (not the time of the scrape).
 */
static void test_metrics_say_when_the_process_started_and_its_build(void)
{
	int64_t before = time_now_ms(), first, again, mark;
	char line[64] = "", line_again[64] = "";
	struct world w;

	world_open(&w, NULL, NULL);
	while (time_now_ms() <= before) /* each scrape in a later ms than the last mark */
		;
	first = scraped_start_ms(w.port, line, sizeof(line));
	CU_ASSERT(first > 0);
	CU_ASSERT(first <= before);
	mark = time_now_ms();
	while (time_now_ms() <= mark)
		;
	again = scraped_start_ms(w.port, line_again, sizeof(line_again));
	CU_ASSERT_EQUAL(again, first);
	CU_ASSERT_STRING_EQUAL(line_again, line);
	world_close(&w);
}

/* ---- tests: backpressure ---------------------------------------------- */

struct bg_post {
	struct world *w;
	const char *body;
	const char *path; /* NULL: /in/web/v1/echo */
	pthread_t thread;
	struct resp r;
};

static void *bg_post_main(void *arg)
{
	struct bg_post *b = arg;

	http_do(b->w->port, "POST", b->path ? b->path : "/in/web/v1/echo", b->body,
		strlen(b->body), 0, NULL, &b->r);
	return NULL;
}

static int intake_depth(struct world *w)
{
	struct intake_stats st;

	intake_get_stats(w->th->intake, &st);
	return st.queue_depth;
}

/* One request is with the (blocked) writer: waiting, none queued. */
static int one_with_writer(void *arg)
{
	struct world *w = arg;
	return metrics_waiting(http_metrics(w->srv)) == 1 && intake_depth(w) == 0;
}

static int one_queued(void *arg)
{
	struct world *w = arg;
	return metrics_waiting(http_metrics(w->srv)) == 2 && intake_depth(w) == 1;
}

static void test_full_queue_is_429_with_retry_after(void)
{
	struct world w;
	struct bg_post a = {.body = "q1\n"}, b = {.body = "q2\n"};
	struct resp r;
	char *text;
	int has_b = 0;

	world_open(&w, NULL, "intake:\n  queue_max: 1\n");
	a.w = b.w = &w;
	CU_ASSERT_EQUAL_FATAL(world_hold_writer(&w), 0); /* the writer blocks in BEGIN */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&a.thread, NULL, bg_post_main, &a), 0);
	/* no FATAL assertion until the joins: one would leave this frame with
	 * a and b still writing their answers into it */
	CU_ASSERT(wait_until(one_with_writer, &w));
	has_b = pthread_create(&b.thread, NULL, bg_post_main, &b) == 0;
	CU_ASSERT(has_b);
	if (!has_b || !wait_until(one_queued, &w)) {
		CU_FAIL("not two requests waiting for their commit, one of them queued");
		goto out;
	}
	text = metrics_render(http_metrics(w.srv), &(struct metrics_feeds){.intake = w.th->intake});
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "\nhttp_requests_waiting_commit 2\n") : NULL);
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "\nintake_queue_depth 1\n") : NULL);
	hub_free(text);

	post(&w, "/in/web/v1/echo", "q3\n", &r);
	ASSERT_ERROR(&r, 429, "busy");
	CU_ASSERT_STRING_EQUAL(r.retry_after, "1");

out:
	CU_ASSERT_EQUAL(world_release_writer(&w), 0);
	pthread_join(a.thread, NULL);
	if (has_b)
		pthread_join(b.thread, NULL);
	CU_ASSERT_EQUAL(a.r.status, 200);
	CU_ASSERT_EQUAL(b.r.status, 200);
	CU_ASSERT(world_has_installation(&w, "q1"));
	CU_ASSERT(world_has_installation(&w, "q2"));
	CU_ASSERT(!world_has_installation(&w, "q3"));
	world_close(&w);
}

/* ---- tests: stopping -------------------------------------------------- */

struct bg_stop {
	struct http_server *srv;
	pthread_t thread;
	atomic_int is_done; /* http_stop returned */
};

static void *bg_stop_main(void *arg)
{
	struct bg_stop *s = arg;

	http_stop(s->srv);
	atomic_store(&s->is_done, 1);
	return NULL;
}

/* Joins the stop s if it was started: w's server is gone. */
static void bg_stop_join(struct bg_stop *s, int is_stopping, struct world *w)
{
	if (!is_stopping)
		return;
	pthread_join(s->thread, NULL);
	w->srv = NULL;
}

static int listener_closed(void *arg)
{
	int fd = raw_connect(*(int *)arg);

	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

static int raw_read_until(int fd, char *buf, size_t size, const char *needle);

/* 1 when a new connection's GET /readyz is answered 503 "stopping".  Read
 * to the end of its JSON body, not to a close: a 200 from before the stop
 * began keeps the connection open (it held this wait 2 s). */
static int readyz_says_stopping(void *arg)
{
	static const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[1024];
	int fd = raw_connect(*(int *)arg);

	if (fd < 0)
		return 0;
	buf[0] = '\0';
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1)
		raw_read_until(fd, buf, sizeof(buf), "\"}");
	close(fd);
	return strncmp(buf, "HTTP/1.1 503", 12) == 0 && strstr(buf, "\"stopping\"") &&
	       strcasestr(buf, "\r\nConnection: close\r\n");
}

/* While a request is in progress the stop keeps its listener: a new
 * connection (a load balancer's health check) is answered 503 "stopping",
 * as docs/api.md says; once the request is answered the listener is closed. */
static void test_stop_finishes_requests_in_progress(void)
{
	struct world w;
	struct bg_post a = {.body = "f1\n"};
	struct bg_stop s = {0};
	int is_stopping;

	world_open(&w, NULL, NULL);
	a.w = &w;
	CU_ASSERT_EQUAL_FATAL(world_hold_writer(&w), 0); /* the writer blocks in BEGIN */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&a.thread, NULL, bg_post_main, &a), 0);
	/* no FATAL assertion until a is joined: one would leave this frame
	 * with a still writing its answer into it */
	CU_ASSERT(wait_until(one_with_writer, &w));
	/* stop while the request waits for its commit: new requests are
	 * refused 503 "stopping", not waited for... */
	s.srv = w.srv;
	is_stopping = pthread_create(&s.thread, NULL, bg_stop_main, &s) == 0;
	CU_ASSERT(is_stopping);
	CU_ASSERT(is_stopping && wait_until(readyz_says_stopping, &w.port));
	CU_ASSERT(is_stopping && !atomic_load(&s.is_done));
	/* ...and the request in progress is answered once committed */
	CU_ASSERT_EQUAL(world_release_writer(&w), 0);
	pthread_join(a.thread, NULL);
	CU_ASSERT(wait_until(listener_closed, &w.port));
	bg_stop_join(&s, is_stopping, &w);
	CU_ASSERT_EQUAL(a.r.status, 200);
	CU_ASSERT(world_has_installation(&w, "f1"));
	world_close(&w);
}

static void *bg_stop_delay_main(void *arg)
{
	struct bg_stop *s = arg;

	http_stop_delay(s->srv);
	atomic_store(&s->is_done, 1);
	return NULL;
}

/* 1 when GET /readyz is answered 503 "stopping" (http.stop_delay). */
static int readyz_says_leaving(void *arg)
{
	struct resp r;

	http_do(*(int *)arg, "GET", "/readyz", NULL, 0, 0, NULL, &r);
	return r.status == 503 && strstr(r.body, "\"status\":\"stopping\"") != NULL;
}

/*
 * One http.stop_delay of delay_ms on w's server (set in the configuration
 * it reads) and, while it runs, /readyz 503 "stopping", a POST stored
 * (installation `id`) and /healthz 200.  They begin after the delay does:
 * when they end before delay_ms has passed, the delay was still running
 * (that is asserted, not raced); *took_ms says how long they took.  1 then,
 * 0 when they took longer (a loaded machine: nothing to tell).  Either way
 * the delay lasted delay_ms.
 */
static int stop_delay_serves(struct world *w, int64_t delay_ms, const char *id,
			     int64_t *took_ms)
{
	struct bg_stop s = {.srv = w->srv};
	int64_t began = time_mono_ms();
	char body[32];
	struct resp r;
	int was_done;

	w->th->cfg->http_stop_delay_ms = delay_ms;
	CU_ASSERT_FATAL(pthread_create(&s.thread, NULL, bg_stop_delay_main, &s) == 0);
	CU_ASSERT(wait_until(readyz_says_leaving, &w->port));
	snprintf(body, sizeof(body), "%s\n", id);
	post(w, "/in/web/v1/echo", body, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(world_has_installation(w, id));
	http_do(w->port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	was_done = atomic_load(&s.is_done);
	*took_ms = time_mono_ms() - began;
	pthread_join(s.thread, NULL);
	CU_ASSERT(time_mono_ms() - began >= delay_ms);
	if (*took_ms >= delay_ms)
		return 0;
	CU_ASSERT(!was_done); /* read before the delay could have ended */
	return 1;
}

/* http.stop_delay: a stopping hub answers /readyz 503 "stopping" while it
 * still serves every other request (ingestion stored, /healthz 200), so
 * that a load balancer takes it out before the drain refuses them; a load
 * balancer used to see the hub ready until the drain's own 503s.  A machine
 * too slow to do all that inside the 2 s (under AddressSanitizer, beside
 * other jobs) does it again inside a delay four times what it took: the
 * test asserted it within the 2 s, a race. */
static void test_stop_delay_answers_readyz_503_while_serving(void)
{
	struct world w;
	struct resp r;
	int64_t took = 0;

	world_open(&w, "  stop_delay: 2s\n", NULL);
	CU_ASSERT_EQUAL(w.th->cfg->http_stop_delay_ms, 2000);
	http_do(w.port, "GET", "/readyz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	if (!stop_delay_serves(&w, 2000, "sd-1", &took))
		CU_ASSERT(stop_delay_serves(&w, 4 * took, "sd-2", &took));
	world_close(&w);
}

/*
 * Stopping while clients keep connecting.  On an epoll pool,
 * libmicrohttpd 0.9.75's MHD_quiesce_daemon() races the pool's threads for
 * the listener's epoll entry and aborts the process when it loses
 * ("Failed to remove listen FD from epoll set").  The server uses poll()
 * instead.  With one connection per pool thread the epoll server aborted
 * here on every one of six runs, within the first few hundred stops.
 */
#define LOAD_STOPS 1000
#define LOAD_CLIENTS 3

struct load {
	_Atomic int port;       /* 0 between a stop and the next start */
	_Atomic int is_done;
	_Atomic long n_ok;      /* 200 answers */
	pthread_t threads[LOAD_CLIENTS];
};

static void *load_client_main(void *arg)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct load *l = arg;
	char buf[256];
	int closed;

	while (!atomic_load(&l->is_done)) {
		int port = atomic_load(&l->port), fd;

		if (!port || (fd = raw_connect(port)) < 0) {
			sched_yield();
			continue;
		}
		if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) > 0 &&
		    raw_read_all(fd, buf, sizeof(buf), 2000, &closed) > 12 &&
		    strncmp(buf, "HTTP/1.1 200", 12) == 0)
			atomic_fetch_add(&l->n_ok, 1);
		close(fd);
	}
	return NULL;
}

static void test_stop_under_load_never_aborts(void)
{
	struct load l = {0};
	char err[1024] = "";
	struct world w;
	int n_started = 0;

	/* one connection per pool thread: each accept takes the listener out
	 * of that thread's epoll set and each close puts it back, the moves
	 * that MHD_quiesce_daemon races with */
	world_open(&w, "  max_connections: 2\n", NULL);
	atomic_store(&l.port, w.port);
	for (int i = 0; i < LOAD_CLIENTS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&l.threads[i], NULL, load_client_main, &l), 0);
	for (int i = 0; i < LOAD_STOPS; i++) {
		long ok_before = atomic_load(&l.n_ok);
		int64_t until = time_mono_ms() + WAIT_MS;

		/* a stop with a client answered since the start, so the pool
		 * threads are busy with it */
		while (atomic_load(&l.n_ok) == ok_before && time_mono_ms() < until)
			sched_yield();
		atomic_store(&l.port, 0);
		http_stop(w.srv);
		w.srv = NULL;
		if (http_start(&w.srv, &w.ctx, err, sizeof(err))) {
			fprintf(stderr, "http_start: %s\n", err);
			break;
		}
		n_started++;
		atomic_store(&l.port, http_port(w.srv));
	}
	atomic_store(&l.is_done, 1);
	for (int i = 0; i < LOAD_CLIENTS; i++)
		pthread_join(l.threads[i], NULL);
	CU_ASSERT_EQUAL(n_started, LOAD_STOPS);
	CU_ASSERT(atomic_load(&l.n_ok) >= LOAD_STOPS); /* every stop had traffic before it */
	world_close(&w);
}

/* ---- tests: slow clients ---------------------------------------------- */

static void test_slow_clients_do_not_exhaust_the_server(void)
{
	static const char partial[] = "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\n";
	struct world w;
	struct resp r;
	int fds[4], closed, n_closed = 0;
	char buf[256];
	int64_t t0, until;

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	world_open(&w, "  timeout: 1s\n  max_connections: 4\n", NULL);
	/* every connection slot taken: two sent half their headers, two nothing */
	for (int i = 0; i < 4; i++) {
		fds[i] = raw_connect(w.port);
		CU_ASSERT_FATAL(fds[i] >= 0);
		if (i % 2 == 0)
			CU_ASSERT(send(fds[i], partial, sizeof(partial) - 1, MSG_NOSIGNAL) > 0);
	}
	/* a normal client gets served once the idle ones time out (a refused
	 * connection is retried, as a client would) */
	t0 = time_mono_ms();
	until = t0 + 15000;
	do {
		post(&w, "/in/web/v1/echo", "n1\n", &r);
	} while (r.status != 200 && time_mono_ms() < until);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(time_mono_ms() - t0 < 10000);
	/* the idle connections were closed by the server */
	for (int i = 0; i < 4; i++) {
		raw_read_all(fds[i], buf, sizeof(buf), 8000, &closed);
		n_closed += closed;
		close(fds[i]);
	}
	CU_ASSERT_EQUAL(n_closed, 4);
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(world_has_installation(&w, "n1"));
	world_close(&w);
}

/* ---- tests: the header deadline (http_deadline.c) ----------------------- */

/* 1 when the peer of fd has closed or shut down its side (EOF readable
 * within ms), 0 when nothing came. */
static int peer_closed_within(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	char c;

	return poll(&p, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/*
 * The sweeper cuts a connection whose headers are not in within the
 * deadline, never sooner, and only that one: one whose headers are in is
 * left alone until its request is done, which starts its clock again.
 * The cut shuts the socket both ways (the server's read sees EOF, so the
 * library closes it) and is counted once.
 */
static void test_deadline_cuts_only_headers_late_past_it(void)
{
	enum { LIMIT_MS = 600 };
	struct deadline *d = NULL;
	struct conn_watch *late, *served;
	int a[2], b[2];
	int64_t t0, t_done;
	char c;

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	CU_ASSERT_EQUAL_FATAL(deadline_start(&d, LIMIT_MS), 0);
	t0 = time_mono_ms();
	late = deadline_watch(d, a[0]);
	served = deadline_watch(d, b[0]);
	CU_ASSERT_FATAL(late && served);
	deadline_headers_in(d, served);
	/* at the first sweep past the limit (twice a second); the bound is
	 * only how long a test waits, never a rule (sanitizers, a busy CI) */
	CU_ASSERT(peer_closed_within(a[1], WAIT_MS));
	CU_ASSERT(time_mono_ms() - t0 >= LIMIT_MS);
	CU_ASSERT_EQUAL(recv(a[0], &c, 1, MSG_DONTWAIT), 0); /* the server's read: EOF */
	CU_ASSERT_FALSE(peer_closed_within(b[1], 0));
	CU_ASSERT_EQUAL(deadline_cut_count(d), 1);
	/* done: the next request's headers have the whole time again */
	t_done = time_mono_ms();
	deadline_request_done(d, served);
	CU_ASSERT(peer_closed_within(b[1], WAIT_MS));
	CU_ASSERT(time_mono_ms() - t_done >= LIMIT_MS);
	CU_ASSERT_EQUAL(deadline_cut_count(d), 2); /* the first not counted again */
	deadline_unwatch(d, late);
	deadline_unwatch(d, served);
	deadline_stop(d);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

/* A connection that leaves the watch (closed by the library) takes only
 * itself out: the ones watched before and after it are still cut. */
static void test_deadline_unwatch_leaves_the_others_watched(void)
{
	struct deadline *d = NULL;
	struct conn_watch *w[3];
	int fds[3][2];

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	CU_ASSERT_EQUAL_FATAL(deadline_start(&d, 1), 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds[i]), 0);
		w[i] = deadline_watch(d, fds[i][0]);
		CU_ASSERT_FATAL(w[i] != NULL);
	}
	deadline_unwatch(d, w[1]); /* the middle one */
	CU_ASSERT(peer_closed_within(fds[0][1], WAIT_MS));
	CU_ASSERT(peer_closed_within(fds[2][1], WAIT_MS));
	CU_ASSERT_FALSE(peer_closed_within(fds[1][1], 0));
	CU_ASSERT_EQUAL(deadline_cut_count(d), 2);
	deadline_unwatch(d, w[2]); /* the first of the list */
	deadline_unwatch(d, w[0]);
	deadline_stop(d);
	for (int i = 0; i < 3; i++)
		close(fds[i][0]), close(fds[i][1]);
}

/* ---- tests: what http.c itself holds (mutation pass) ------------------ */

/* The file echo_push's /v1/hold and /v1/until_stop wait on (the source's
 * key `hold`); they create <path>.held once they are in. */
struct hold {
	char dir[128], path[160], held[168], extra[192];
};

static void hold_init(struct hold *h)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(h->dir, sizeof(h->dir), "%s/hubhold.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(h->dir));
	snprintf(h->path, sizeof(h->path), "%s/hold", h->dir);
	snprintf(h->held, sizeof(h->held), "%s.held", h->path);
	snprintf(h->extra, sizeof(h->extra), "    hold: %s\n", h->path);
}

static int hold_is_in(void *arg)
{
	return access(((struct hold *)arg)->held, F_OK) == 0;
}

static void hold_release(struct hold *h)
{
	FILE *f = fopen(h->path, "w");

	CU_ASSERT_PTR_NOT_NULL(f);
	if (f)
		fclose(f);
}

static void hold_clean(struct hold *h)
{
	unlink(h->path);
	unlink(h->held);
	rmdir(h->dir);
}

static int stop_done(void *arg)
{
	return atomic_load(&((struct bg_stop *)arg)->is_done);
}

/* 1 when the stop s returns within ms. */
static int stop_done_within(struct bg_stop *s, int ms)
{
	int64_t until = time_mono_ms() + ms;
	struct timespec pause = {0, 2 * 1000 * 1000};

	while (!stop_done(s) && time_mono_ms() < until)
		nanosleep(&pause, NULL);
	return stop_done(s);
}

static int none_waiting(void *arg)
{
	struct world *w = arg;
	return metrics_waiting(http_metrics(w->srv)) == 0;
}

/*
 * The grace of a stop (http.timeout, here 1 s) bounds requests in
 * progress, never a batch in the intake: a request whose commit comes past
 * it is still answered 200, and the stop waits for that answer, not only
 * for the commit.  The one pool thread is held in a route (/v1/hold) when
 * the commit comes, so the answer can only be written after it: the stop
 * closed that connection with the daemon meanwhile, unanswered.
 */
static void test_stop_past_its_grace_still_answers_a_commit(void)
{
	struct bg_post a = {.body = "g1\n"}, h = {.body = "", .path = "/in/web/v1/hold"};
	struct bg_stop s = {0};
	struct hold hold;
	struct world w;
	int is_holding, is_stopping = 0;

	hold_init(&hold);
	world_open(&w, "  timeout: 1s\n  threads: 1\n", hold.extra);
	a.w = h.w = &w;
	CU_ASSERT_EQUAL_FATAL(world_hold_writer(&w), 0); /* the writer blocks in BEGIN */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&a.thread, NULL, bg_post_main, &a), 0);
	/* no FATAL assertion until the joins */
	CU_ASSERT(wait_until(one_with_writer, &w));
	is_holding = pthread_create(&h.thread, NULL, bg_post_main, &h) == 0;
	CU_ASSERT(is_holding && wait_until(hold_is_in, &hold));
	s.srv = w.srv;
	is_stopping = pthread_create(&s.thread, NULL, bg_stop_main, &s) == 0;
	CU_ASSERT(is_stopping && !stop_done_within(&s, 2000)); /* twice the grace */
	CU_ASSERT(is_stopping && listener_closed(&w.port)); /* past it: closed */
	CU_ASSERT_EQUAL(world_release_writer(&w), 0);
	CU_ASSERT(wait_until(none_waiting, &w)); /* committed, its connection resumed */
	hold_release(&hold);
	pthread_join(a.thread, NULL);
	if (is_holding)
		pthread_join(h.thread, NULL);
	bg_stop_join(&s, is_stopping, &w);
	CU_ASSERT_EQUAL(a.r.status, 200);
	CU_ASSERT(world_has_installation(&w, "g1"));
	world_close(&w);
	hold_clean(&hold);
}

/* Reads from fd until buf holds `needle`, the peer closes or WAIT_MS pass:
 * 1 when it holds it. */
static int raw_read_until(int fd, char *buf, size_t size, const char *needle)
{
	int64_t until = time_mono_ms() + WAIT_MS;
	size_t len = 0;

	buf[0] = '\0';
	while (!strstr(buf, needle) && len < size - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = until - time_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		if ((n = recv(fd, buf + len, size - 1 - len, 0)) <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return strstr(buf, needle) != NULL;
}

/* Sends text[0..n) a byte every pace_ms, as a slow client does, until all
 * is sent or the server closes the connection: the ms from the first
 * byte to the close, or -1 when all was sent. */
static int64_t trickle(int fd, const char *text, size_t n, int pace_ms)
{
	int64_t t0 = time_mono_ms();

	for (size_t i = 0; i < n; i++) {
		if ((i && peer_closed_within(fd, pace_ms)) ||
		    send(fd, text + i, 1, MSG_NOSIGNAL) != 1)
			return time_mono_ms() - t0;
	}
	return -1;
}

/* Sends all of text on fd. */
static void send_text(int fd, const char *text)
{
	CU_ASSERT(send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text));
}

/* The header deadline is the server's, not only its module's: a client
 * sending its headers a byte at a time (never idle, so libmicrohttpd's
 * timeout never fires) is cut at http.timeout, also between two requests
 * of a kept-alive connection. */
static void test_a_header_trickler_is_cut_also_between_requests(void)
{
	static const char slow_head[] = "GET /healthz HTTP/1.1\r\nX-Slow: ";
	char slow[WAIT_MS / 100], buf[1024];
	struct world w;
	int fd;

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	memset(slow, 'a', sizeof(slow));
	memcpy(slow, slow_head, sizeof(slow_head) - 1);
	world_open(&w, "  timeout: 1s\n", NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT(raw_read_until(fd, buf, sizeof(buf), "{\"status\":\"ok\"}"));
	CU_ASSERT(trickle(fd, slow, sizeof(slow), 100) >= 0);
	close(fd);
	world_close(&w);
}

#define SLOW_BODY "trickle01\ntrickle02\n"

/* Sends a POST of SLOW_BODY's 20 bytes on fd, its headers at once and its
 * body a byte every 150 ms (2.85 s, past a header deadline of http.timeout
 * 2 s and its 0.5 s sweep, 1.15 s short of the body's 4 s): 1 when it is
 * answered 200. */
static int slow_body_is_served(int fd)
{
	char buf[1024];

	send_text(fd, "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n");
	return trickle(fd, SLOW_BODY, 20, 150) == -1 &&
	       raw_read_until(fd, buf, sizeof(buf), "\r\n\r\n") &&
	       strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

/* A body has twice http.timeout (2 s here) from its headers: one that
 * takes over 1.4 times it is read, stored and answered (the header deadline
 * no longer watches a request whose headers are in); one that would take
 * longer is cut, never before twice the timeout. */
static void test_a_body_has_twice_http_timeout_to_arrive(void)
{
	char body[100];
	struct world w;
	int fd;

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	memset(body, 'x', sizeof(body));
	world_open(&w, "  timeout: 2s\n", NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(slow_body_is_served(fd));
	close(fd);
	CU_ASSERT(world_has_installation(&w, "trickle02"));

	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	send_text(fd, "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
	CU_ASSERT(trickle(fd, body, sizeof(body), 200) > 3500); /* cut at 4 s, not 2 */
	close(fd);
	world_close(&w);
}

/* A connection closed before its headers leaves the deadline's watch with
 * it: the next connection, given the same descriptor, is not cut at the
 * first one's deadline (2 s here) while its body still comes. */
static void test_a_closed_connection_is_no_longer_watched(void)
{
	struct world w;
	int fd;

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	world_open(&w, "  timeout: 2s\n", NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	shutdown(fd, SHUT_WR);
	CU_ASSERT(peer_closed_within(fd, WAIT_MS)); /* the server has closed its end */
	close(fd);
	fd = raw_connect(w.port); /* both descriptor numbers free again: the same */
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(slow_body_is_served(fd));
	close(fd);
	world_close(&w);
}

/* libmicrohttpd counts its idle timeout in whole seconds: an http.timeout
 * under one is rounded up, never down to 0 (no timeout at all), so a
 * request idle in the middle of its body is closed. */
static void test_a_subsecond_timeout_still_closes_an_idle_request(void)
{
	struct world w;
	char buf[256];
	int fd, closed;

	if (teststore_is_pg())
		return; /* the server alone: SQLite pass only (top of file) */
	world_open(&w, "  timeout: 500ms\n", NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	send_text(fd, "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nid");
	raw_read_all(fd, buf, sizeof(buf), WAIT_MS, &closed);
	CU_ASSERT(closed);
	close(fd);
	world_close(&w);
}

/* The identity rules hold for what a push route emits: a value of
 * identity.blocked_values is no identifier (nothing is stored of it), an
 * id of identity.external is one. */
static void test_push_records_obey_identity_rules(void)
{
	static const char batch[] =
		"{\"writeKey\": \"wk_1\", \"batch\": [{\"type\": \"identify\", \"userId\": \"u1\","
		" \"context\": {\"externalIds\": [{\"id\": \"C1\", \"type\": \"crm_id\","
		" \"collection\": \"users\", \"encoding\": \"none\"}]}}]}";
	struct world w;
	struct resp r;

	world_open(&w, NULL, "identity:\n  blocked_values: [\"blk\"]\n");
	post(&w, "/in/web/v1/echo", "blk\n", &r);
	CU_ASSERT_EQUAL(r.status, 400);
	post(&w, "/in/web/v1/echo", "ok1\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(!world_has_installation(&w, "blk"));
	CU_ASSERT(world_has_installation(&w, "ok1"));
	world_close(&w);

	world_start_plugin(&w, "segment", MAX_BODY, 0, NULL,
			   "    write_keys: [wk_1]\n"
			   "identity:\n  external:\n    crm_id: {limit: 1, priority: 1}\n");
	post(&w, "/in/web/v1/batch", batch, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(world_has_ident(&w, "crm_id", "C1"));
	world_close(&w);
}

/* A request still sending its body when the stop begins (its headers in,
 * 100 Continue sent) is read to its end, stored and answered 200 with
 * Connection: close; the stop returns once it is done, long before the
 * 30 s grace of the default http.timeout, and leaves the port free (the
 * server's side of the closed connection in TIME_WAIT does not hold it). */
static void test_stop_reads_a_body_in_progress_to_its_end(void)
{
	struct bg_stop s = {0};
	char buf[2048], addr[64], err[512] = "";
	struct world w;
	int fd, closed, is_stopping;

	world_open(&w, NULL, NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	send_text(fd, "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\n"
		      "Expect: 100-continue\r\nContent-Length: 6\r\n\r\n");
	CU_ASSERT_FATAL(raw_read_until(fd, buf, sizeof(buf), "100 Continue\r\n\r\n"));
	s.srv = w.srv;
	is_stopping = pthread_create(&s.thread, NULL, bg_stop_main, &s) == 0;
	CU_ASSERT(is_stopping && wait_until(readyz_says_stopping, &w.port));
	send_text(fd, "s1\ns2\n");
	raw_read_all(fd, buf, sizeof(buf), WAIT_MS, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(buf, "\r\nConnection: close\r\n"));
	CU_ASSERT(closed);
	close(fd);
	CU_ASSERT(is_stopping && wait_until(stop_done, &s));
	bg_stop_join(&s, is_stopping, &w);
	CU_ASSERT(world_has_installation(&w, "s2"));
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", w.port);
	CU_ASSERT_EQUAL(http_listen_check(addr, err, sizeof(err)), 0);
	world_close(&w);
}

/* A push route asking hub_host.should_stop() is told the hub stops: one
 * waiting for that (/v1/until_stop) returns, and the stop with it. */
static void test_a_push_route_is_told_the_hub_stops(void)
{
	struct bg_post h = {.body = "", .path = "/in/web/v1/until_stop"};
	struct bg_stop s = {0};
	struct hold hold;
	struct world w;
	int is_stopping;

	hold_init(&hold);
	world_open(&w, NULL, hold.extra);
	h.w = &w;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&h.thread, NULL, bg_post_main, &h), 0);
	/* no FATAL assertion until the joins */
	CU_ASSERT(wait_until(hold_is_in, &hold));
	s.srv = w.srv;
	is_stopping = pthread_create(&s.thread, NULL, bg_stop_main, &s) == 0;
	CU_ASSERT(is_stopping && wait_until(stop_done, &s));
	pthread_join(h.thread, NULL);
	bg_stop_join(&s, is_stopping, &w);
	CU_ASSERT_EQUAL(h.r.status, 200);
	CU_ASSERT_STRING_EQUAL(h.r.body, "{\"stopped\":true}");
	world_close(&w);
	hold_clean(&hold);
}

/* How many descriptors the process has open (-1: no /proc). */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A stop closes the listener: the next server starts on the same port at
 * once, and a start and a stop leave no descriptor behind. */
static void test_a_stop_closes_the_listener(void)
{
	char addr[64], err[512] = "";
	struct world w;
	char *saved;
	int n_fds;

	world_open(&w, NULL, NULL);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", w.port);
	http_stop(w.srv);
	w.srv = NULL;
	n_fds = open_fds();
	saved = w.th->cfg->http_listen;
	w.th->cfg->http_listen = addr; /* the same port, named this time */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(http_start(&w.srv, &w.ctx, err, sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(err, "");
		if (!w.srv)
			break;
		http_stop(w.srv);
		w.srv = NULL;
		CU_ASSERT_EQUAL(open_fds(), n_fds);
	}
	w.th->cfg->http_listen = saved;
	world_close(&w);
}

TEST_SUITE(http, http_suite_init, http_suite_clean,
	   TEST(test_healthz_answers_ok),
	   TEST(test_readyz_fails_while_commits_fail_and_recovers_by_itself),
	   TEST(test_unknown_routes_are_404_json),
	   TEST(test_wrong_method_is_405_with_allow),
	   TEST(test_cors_lets_any_origin_read_ingestion_answers_by_default),
	   TEST(test_cors_preflight_of_a_source_route),
	   TEST(test_cors_names_only_the_listed_origins),
	   TEST(test_header_lookup_ignores_case),
	   TEST(test_a_route_reads_the_query_string),
	   TEST(test_a_start_on_a_taken_port_says_it_is_in_use),
	   TEST(test_listen_addresses_are_read_as_documented),
	   TEST(test_headers_fit_a_64_kib_pool),
	   TEST(test_announced_oversize_body_is_refused_unread),
	   TEST(test_chunked_body_past_limit_is_413),
	   TEST(test_a_body_sent_whole_reads_its_refusal),
	   TEST(test_gzip_and_deflate_bodies_are_decoded),
	   TEST(test_bad_gzip_is_400_and_bombs_are_413),
	   TEST(test_push_credentials_are_checked_before_the_body),
	   TEST(test_a_route_off_answers_as_an_unknown_path),
	   TEST(test_admit_reads_the_query_string),
	   TEST(test_unknown_encoding_is_415),
	   TEST(test_rejected_request_stores_nothing),
	   TEST(test_2xx_means_records_are_stored),
	   TEST(test_warnings_are_listed_in_the_2xx_body),
	   TEST(test_an_array_op_past_the_limit_is_logged_not_answered),
	   TEST(test_metrics_count_requests_by_route_and_status),
	   TEST(test_metrics_say_when_the_process_started_and_its_build),
	   TEST(test_full_queue_is_429_with_retry_after),
	   TEST(test_stop_finishes_requests_in_progress),
	   TEST(test_stop_delay_answers_readyz_503_while_serving),
	   TEST(test_stop_under_load_never_aborts),
	   TEST(test_slow_clients_do_not_exhaust_the_server),
	   TEST(test_a_method_in_lowercase_is_no_routes),
	   TEST(test_host_missing_twice_or_invalid_is_400),
	   TEST(test_a_request_kept_past_its_route_is_refused),
	   TEST(test_query_of_a_made_up_request_is_none),
	   TEST(test_a_header_refusal_on_a_source_is_in_its_shape),
	   TEST(test_deadline_cuts_only_headers_late_past_it),
	   TEST(test_deadline_unwatch_leaves_the_others_watched),
	   TEST(test_stop_past_its_grace_still_answers_a_commit),
	   TEST(test_a_header_trickler_is_cut_also_between_requests),
	   TEST(test_a_body_has_twice_http_timeout_to_arrive),
	   TEST(test_a_closed_connection_is_no_longer_watched),
	   TEST(test_a_subsecond_timeout_still_closes_an_idle_request),
	   TEST(test_push_records_obey_identity_rules),
	   TEST(test_stop_reads_a_body_in_progress_to_its_end),
	   TEST(test_a_push_route_is_told_the_hub_stops),
	   TEST(test_a_stop_closes_the_listener))
