/*
 * test_http_api.c - the management API (/v1, hub/api.c) over the HTTP
 * server, in-process: a world of http_helpers.h with the API's token
 * (and, where its export routes are tested, an exporter), libcurl or a raw
 * socket on the other side.  What the server refuses before a route reads
 * a request (the token before the body, NUL bytes, uncertain framing), the
 * paged routes' parameters, the dead letters, HEAD, erase requests waiting
 * off the request threads, and the streamed access document (a client gone
 * or stalled, the stop).
 *
 * No sleep stands for synchronization: a test polls the state it needs
 * with a deadline (wait_until).
 */
#include "http_helpers.h"
#include "testlib.h"
#include "testhub.h"
#include "teststore.h"

#include "../../hub/api.h"
#include "../../hub/export_int.h"
#include "../../hub/http.h"
#include "../../hub/metrics.h"
#include "../../hub/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- tests: the management API (/v1) ----------------------------------- */

#define API_TOKEN "tok-http-test"
#define API_MAX_BODY (1024 * 1024) /* http.max_body's default */
#define BIG_BODY (3 * API_MAX_BODY / 2)

static void world_open_api(struct world *w)
{
	world_start(w, API_MAX_BODY, 1, NULL, "api:\n  tokens: [\"" API_TOKEN "\"]\n");
}

/* Sends `head` (request line and headers) and then `n_body` bytes of 'x'
 * on a new connection, and reads the answer for up to `ms` into buf. */
static void raw_exchange(int port, const char *head, size_t n_body, char *buf, size_t size,
			 int ms, int *closed)
{
	int fd = raw_connect(port);
	char chunk[4096];

	buf[0] = '\0';
	*closed = 0;
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	memset(chunk, 'x', sizeof(chunk));
	for (size_t sent = 0; sent < n_body;) {
		size_t k = n_body - sent < sizeof(chunk) ? n_body - sent : sizeof(chunk);
		ssize_t w = send(fd, chunk, k, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server answered and closed: fine */
		sent += (size_t)w;
	}
	raw_read_all(fd, buf, size, ms, closed);
	close(fd);
}

static char *big_json_body(size_t n)
{
	static const char head[] = "{\"type\": \"access\", \"custom_id\": \"";
	char *b = malloc(n + 1);

	CU_ASSERT_FATAL(b != NULL);
	memset(b, 'a', n);
	memcpy(b, head, sizeof(head) - 1);
	memcpy(b + n - 2, "\"}", 2);
	b[n] = '\0';
	return b;
}

/*
 * The security review's case: a /v1 request without a valid token used to
 * have its whole body read and buffered (up to http.max_body, and read up
 * to twice that) before the token was looked at, so 1.5 MB got 413 instead
 * of 401.  The token is now checked with the headers: 401 / 403 at once,
 * the body never read.
 */
static void test_api_token_is_checked_before_the_body(void)
{
	static const char *const expect[] = {"Expect: 100-continue", NULL};
	static const char *const expect_wrong[] = {"Expect: 100-continue",
						   "Authorization: Bearer not-the-token", NULL};
	struct world w;
	struct resp r;
	char buf[4096], head[512];
	char *body = big_json_body(BIG_BODY);
	int closed;
	int64_t t0;

	world_open_api(&w);
	/* announced, never sent: answered from the headers alone */
	snprintf(head, sizeof(head),
		 "POST /v1/privacy/requests HTTP/1.1\r\nHost: x\r\n"
		 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", BIG_BODY);
	t0 = time_mono_ms();
	raw_exchange(w.port, head, 0, buf, sizeof(buf), 5000, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 401", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"unauthorized\""));
	CU_ASSERT(closed); /* the body is not read: the connection cannot go on */
	CU_ASSERT(time_mono_ms() - t0 < 4000);
	if (strncmp(buf, "HTTP/1.1 401", 12) != 0)
		fprintf(stderr, "no token, 1.5 MB announced: \"%.80s\"\n", buf);
	/* the same with a wrong token: 403 */
	snprintf(head, sizeof(head),
		 "POST /v1/profiles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
		 "Content-Length: %d\r\n\r\n", BIG_BODY);
	raw_exchange(w.port, head, 0, buf, sizeof(buf), 5000, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 403", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"forbidden\""));

	/* a client that waits for 100 Continue never sends its 1.5 MB */
	http_do(w.port, "POST", "/v1/profiles", body, BIG_BODY, 0, expect, &r);
	ASSERT_ERROR(&r, 401, "unauthorized");
	http_do(w.port, "POST", "/v1/privacy/requests", body, BIG_BODY, 0, expect_wrong, &r);
	ASSERT_ERROR(&r, 403, "forbidden");
	/* chunked (no length announced): refused before the first chunk */
	snprintf(head, sizeof(head), "POST /v1/privacy/requests HTTP/1.1\r\nHost: x\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n");
	raw_exchange(w.port, head, 0, buf, sizeof(buf), 5000, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 401", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(buf, "\r\nWWW-Authenticate: Bearer\r\n")); /* RFC 6750 */
	/* the refusals are counted on the API's route */
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, NULL, &r);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(r.body, "http_requests_total{route=\"/v1\",status=\"401\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(r.body, "http_requests_total{route=\"/v1\",status=\"403\"} 2\n"));
	world_close(&w);
	free(body);
}

/* A route that takes no body counts one sent without a length against
 * http.max_body, both ends held: max_body bytes are dropped and answered
 * (400 body_not_taken, a POST's body not being empty or {}); one byte more
 * is a 413 once read; past twice the limit the connection is closed
 * unanswered rather than read on. */
static void test_an_unread_body_is_held_to_the_limit(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	char *body = big_json_body(3 * API_MAX_BODY);
	struct world w;
	struct resp r;

	world_open_api(&w);
	http_do(w.port, "POST", "/v1/sources/web/sync", body, API_MAX_BODY, 1, auth, &r);
	ASSERT_ERROR(&r, 400, "body_not_taken"); /* answered, not 413: read, dropped */
	http_do(w.port, "POST", "/v1/sources/web/sync", body, API_MAX_BODY + 1, 1, auth, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	http_do(w.port, "POST", "/v1/sources/web/sync", body, 2 * API_MAX_BODY, 1, auth, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	http_do(w.port, "POST", "/v1/sources/web/sync", body, 3 * API_MAX_BODY, 1, auth, &r);
	CU_ASSERT_NOT_EQUAL(r.rc, CURLE_OK);
	CU_ASSERT_EQUAL(r.status, 0);
	world_close(&w);
	free(body);
}

static void test_api_with_a_token_still_works(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const char *const auth_expect[] = {"Authorization: Bearer " API_TOKEN,
						  "Expect: 100-continue", NULL};
	static const char access[] = "{\"type\": \"access\", \"custom_id\": \"nobody\"}";
	struct world w;
	struct resp r;
	char buf[4096], head[512];
	char *body = big_json_body(BIG_BODY);
	json_t *o;
	int closed;

	world_open_api(&w);
	http_do(w.port, "GET", "/v1/sources", NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.body, "{\"sources\":[]}");
	/* the route that takes a body gets it, whole, in pieces or not */
	http_do(w.port, "POST", "/v1/privacy/requests", access, strlen(access), 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT(json_is_array(json_object_get(json_object_get(o, "document"), "profiles")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "type")), "access");
	json_decref(o);
	http_do(w.port, "POST", "/v1/privacy/requests", access, strlen(access), 1, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	http_do(w.port, "POST", "/v1/privacy/requests", "{bad", 4, 0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_json");
	/* its limit holds: announced too large to a client waiting for 100
	 * Continue, refused before reading; sent whole, read, dropped, 413 */
	http_do(w.port, "POST", "/v1/privacy/requests", body, BIG_BODY, 0, auth_expect, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	snprintf(head, sizeof(head),
		 "POST /v1/privacy/requests HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Authorization: Bearer " API_TOKEN "\r\nContent-Length: %d\r\n\r\n", BIG_BODY);
	raw_exchange(w.port, head, BIG_BODY, buf, sizeof(buf), 5000, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 413", 12) == 0);
	CU_ASSERT(closed);
	/* a route that takes no body counts it against the limit as well */
	snprintf(head, sizeof(head),
		 "GET /v1/sources HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Authorization: Bearer " API_TOKEN "\r\nContent-Length: %d\r\n\r\n", BIG_BODY);
	raw_exchange(w.port, head, BIG_BODY, buf, sizeof(buf), 5000, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 413", 12) == 0);
	/* ...and sent without a length, past the limit */
	http_do(w.port, "POST", "/v1/privacy/requests", body, BIG_BODY, 1, auth, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	/* a route that takes no body ignores one (within the limit) */
	snprintf(head, sizeof(head),
		 "GET /v1/sources HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Authorization: Bearer " API_TOKEN "\r\nContent-Length: 3000\r\n\r\n");
	raw_exchange(w.port, head, 3000, buf, sizeof(buf), 5000, &closed);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "{\"sources\":[]}"));
	/* ...but a POST's body is refused rather than dropped, unless it is
	 * empty or {}: {"full": true} to .../sync was answered 202 and the
	 * sync run incremental (web is a push source here: 409 when read) */
	http_do(w.port, "POST", "/v1/sources/web/sync", access, strlen(access), 0, auth, &r);
	ASSERT_ERROR(&r, 400, "body_not_taken");
	http_do(w.port, "POST", "/v1/sources/web/sync", "{\"full\":true}", 13, 1, auth, &r);
	ASSERT_ERROR(&r, 400, "body_not_taken");
	http_do(w.port, "POST", "/v1/sources/web/sync", " { }\n", 5, 0, auth, &r);
	ASSERT_ERROR(&r, 409, "not_pull_source");
	http_do(w.port, "POST", "/v1/sources/web/sync", "", 0, 0, auth, &r);
	ASSERT_ERROR(&r, 409, "not_pull_source");
	http_do(w.port, "POST", "/v1/sources/web/sync", body, BIG_BODY, 1, auth, &r);
	ASSERT_ERROR(&r, 413, "body_too_large");
	/* the page still needs no token, /metrics is still open to loopback */
	http_do(w.port, "GET", "/", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	world_close(&w);
	free(body);
}

/* With api.tokens unset, /metrics from afar (here a rebound name in Host)
 * is answered as /v1 is: the 401 without a token says, as the 403 with one
 * does, that no token is allowed, since api.tokens is not set (it asked
 * for "a bearer token of api.tokens", which none could be). */
static void test_metrics_from_afar_without_api_tokens_says_they_are_not_set(void)
{
	static const char *const rebound[] = {"Host: rebound.example", NULL};
	static const char *const rebound_token[] = {"Host: rebound.example",
						    "Authorization: Bearer " API_TOKEN, NULL};
	static const char not_set[] = "api.tokens is not set";
	struct world w;
	struct resp r;

	world_start(&w, API_MAX_BODY, 1, NULL, NULL);
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, rebound, &r);
	ASSERT_ERROR(&r, 401, "unauthorized");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, not_set));
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, rebound_token, &r);
	ASSERT_ERROR(&r, 403, "forbidden");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, not_set));
	http_do(w.port, "GET", "/v1/sources", NULL, 0, 0, NULL, &r);
	ASSERT_ERROR(&r, 401, "unauthorized");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, not_set));
	world_close(&w);

	/* with a token set, the 401 asks for one */
	world_open_api(&w);
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, rebound, &r);
	ASSERT_ERROR(&r, 401, "unauthorized");
	CU_ASSERT_PTR_NULL(strstr(r.body, not_set));
	http_do(w.port, "GET", "/metrics", NULL, 0, 0, rebound_token, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	world_close(&w);
}

struct bg_erase {
	struct world *w;
	char body[96];
	pthread_t thread;
	struct resp r;
};

static void *bg_erase_main(void *arg)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	struct bg_erase *b = arg;

	http_do(b->w->port, "POST", "/v1/privacy/requests", b->body, strlen(b->body), 0, auth,
		&b->r);
	return NULL;
}

static int three_waiting(void *arg)
{
	struct world *w = arg;
	return metrics_waiting(http_metrics(w->srv)) == 3;
}

/* A privacy erase waits for its commit with its connection suspended, as
 * ingestion does, not on a request thread: with the writer blocked, three
 * erases (the server has two threads) all wait, /healthz still answers,
 * and once the writer goes on each is answered 200 and is done. */
static void test_erase_requests_wait_off_the_request_threads(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	struct bg_erase e[3];
	struct world w;
	struct resp r;

	world_open_api(&w);
	post(&w, "/in/web/v1/echo", "e0\ne1\ne2\n", &r);
	CU_ASSERT_EQUAL_FATAL(r.status, 200);
	CU_ASSERT_EQUAL_FATAL(world_hold_writer(&w), 0); /* the writer blocks in BEGIN */
	for (int i = 0; i < 3; i++) {
		e[i].w = &w;
		snprintf(e[i].body, sizeof(e[i].body),
			 "{\"type\":\"erase\",\"installation_id\":\"e%d\"}", i);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&e[i].thread, NULL, bg_erase_main, &e[i]), 0);
	}
	CU_ASSERT(wait_until(three_waiting, &w));
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(world_has_installation(&w, "e0"));

	CU_ASSERT_EQUAL(world_release_writer(&w), 0);
	for (int i = 0; i < 3; i++) {
		char id[32] = "", path[64], iid[16];
		const char *p;
		pthread_join(e[i].thread, NULL);
		CU_ASSERT_EQUAL(e[i].r.status, 200);
		CU_ASSERT_PTR_NOT_NULL(strstr(e[i].r.body, "\"status\":\"done\""));
		/* answered after its commit, as every API answer: never cached */
		CU_ASSERT_STRING_EQUAL(e[i].r.cache_control, "no-store");
		CU_ASSERT_STRING_EQUAL(e[i].r.nosniff, "nosniff");
		snprintf(iid, sizeof(iid), "e%d", i);
		CU_ASSERT(!world_has_installation(&w, iid));
		p = strstr(e[i].r.body, "\"id\":\"");
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		sscanf(p + 6, "%31[^\"]", id);
		snprintf(path, sizeof(path), "/v1/privacy/requests/%s", id);
		http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\"status\":\"done\""));
	}
	world_close(&w);
}

/* ?before= numbers past 64 bits are refused, naming the parameter (they
 * were read with sscanf's %lld, undefined past the range). */
static void test_api_cursor_out_of_range_is_400(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const char *const cursors[] = {
		"99999999999999999999.1.61", "-99999999999999999999.1.61",
		"1.99999999999999999999.61", "9223372036854775808.0.61",
	};
	struct world w;
	struct resp r;
	char path[256];

	world_open_api(&w);
	for (size_t i = 0; i < ARRAY_SIZE(cursors); i++) {
		snprintf(path, sizeof(path), "/v1/profiles/p_aaaaaaaaaaaaaaaa/events?before=%s",
			 cursors[i]);
		http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 400, "invalid_cursor");
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "before"));
		if (r.status != 400)
			fprintf(stderr, "before=%s: %ld %s\n", cursors[i], r.status, r.body);
	}
	/* the extremes that fit are cursors like any other: the profile is unknown */
	http_do(w.port, "GET",
		"/v1/profiles/p_aaaaaaaaaaaaaaaa/events?before=-9223372036854775808."
		"9223372036854775807.61", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	/* only what a next cursor looks like: no spaces or '+' before a number */
	http_do(w.port, "GET", "/v1/profiles/p_aaaaaaaaaaaaaaaa/events?before=+1.2.61", NULL, 0, 0,
		auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_cursor");
	http_do(w.port, "GET", "/v1/profiles/p_aaaaaaaaaaaaaaaa/events?before=1.%202.61", NULL, 0,
		0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_cursor");
	world_close(&w);
}

/* One refused query of the API: GET route?query answers 400
 * invalid_parameter with the message "<key><what>".  A route not starting
 * with '/' is under /v1/profiles/<pid>/. */
struct query_refusal {
	const char *route, *query, *key;
};

/* Opens w with one profile (installation I1) and its ID into pid. */
static void world_open_api_one_profile(struct world *w, char pid[64])
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	struct resp r;
	json_t *o;

	world_open_api(w);
	post(w, "/in/web/v1/echo", "I1\n", &r);
	CU_ASSERT_EQUAL_FATAL(r.status, 200);
	http_do(w->port, "GET", "/v1/profiles?installation_id=I1", NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL_FATAL(r.status, 200);
	o = json_loads(r.body, 0, NULL);
	snprintf(pid, 64, "%s",
		 json_string_value(json_object_get(
			 json_array_get(json_object_get(o, "profiles"), 0), "profile_id")));
	json_decref(o);
	CU_ASSERT_FATAL(strncmp(pid, "p_", 2) == 0);
}

static void assert_query_refusals(struct world *w, const char *pid,
				  const struct query_refusal *rows, size_t n, const char *what)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	struct resp r;
	char path[256], want[128];

	for (size_t i = 0; i < n; i++) {
		if (rows[i].route[0] == '/')
			snprintf(path, sizeof(path), "%s?%s", rows[i].route, rows[i].query);
		else
			snprintf(path, sizeof(path), "/v1/profiles/%s/%s?%s", pid, rows[i].route,
				 rows[i].query);
		http_do(w->port, "GET", path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 400, "invalid_parameter");
		snprintf(want, sizeof(want), "\"%s%s\"", rows[i].key, what);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, want));
		if (r.status != 400 || !strstr(r.body, want))
			fprintf(stderr, "\n  %s: %ld %s", path, r.status, r.body);
	}
}

/* A query value decoded from %00 holds a NUL byte: refused, naming the
 * parameter.  libmicrohttpd's C-string lookup cut the value there, so
 * ?installation_id=I1%00zz found I1 (and a limit or cursor followed by
 * %00 was taken for its prefix). */
static void test_api_query_value_with_a_nul_byte_is_400(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const struct query_refusal rows[] = {
		{"/v1/profiles", "installation_id=I1%00zz", "installation_id"},
		{"/v1/profiles", "custom_id=C1%00zz", "custom_id"},
		{"/v1/profiles", "custom_id=%00", "custom_id"},
		{"/v1/profiles", "email=a%00@example.com", "email"},
		{"/v1/profiles", "phone=%2B33%00612", "phone"},
		{"/v1/profiles", "profile_id=p_%00", "profile_id"},
		{"/v1/profiles", "q=I1%00", "q"},
		{"events", "limit=5%00", "limit"},
		{"events", "before=1.1.61%0000", "before"},
		{"history", "limit=5%00zz", "limit"},
		{"history", "after=1%00", "after"},
	};
	struct world w;
	struct resp r;
	char path[256], pid[64] = "";

	world_open_api_one_profile(&w, pid);
	assert_query_refusals(&w, pid, rows, ARRAY_SIZE(rows), ": contains a NUL byte");
	/* without the NUL byte, the same parameters are answered */
	snprintf(path, sizeof(path), "/v1/profiles/%s/events?limit=5&before=1.1.61", pid);
	http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	snprintf(path, sizeof(path), "/v1/profiles/%s/history?limit=5&after=1", pid);
	http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	/* a limit is digits only: strtol took " 5", "\n5" and "+5" */
	for (size_t i = 0; i < 3; i++) {
		static const char *const limits[] = {"%205", "%0A5", "+5"};
		snprintf(path, sizeof(path), "/v1/profiles/%s/events?limit=%s", pid, limits[i]);
		http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 400, "invalid_parameter");
	}
	world_close(&w);
}

/* A query key sent twice is a 400 naming it: ?custom_id=C1&custom_id=C2
 * was answered with C1's profile, the second key silently ignored. */
static void test_api_query_key_sent_twice_is_400(void)
{
	static const struct query_refusal rows[] = {
		{"/v1/profiles", "installation_id=I1&installation_id=I2", "installation_id"},
		{"/v1/profiles", "installation_id=I1&installation_id=I1", "installation_id"},
		{"/v1/profiles", "q=I1&q=I1", "q"},
		{"events", "limit=5&limit=7", "limit"},
		{"history", "limit=5&after=1&limit=5", "limit"},
		{"events", "limit&limit=5", "limit"}, /* a bare first one counts too */
	};
	struct world w;
	char pid[64] = "";

	world_open_api_one_profile(&w, pid);
	assert_query_refusals(&w, pid, rows, ARRAY_SIZE(rows), ": given 2 times (at most once)");
	world_close(&w);
}

/* A query's names are case-sensitive: libmicrohttpd's lookup is not, so
 * ?INSTALLATION_ID=I1 found I1's profile, and with ?limit=5&LIMIT=7 the
 * lookup and the count of `limit` could see different parameters. */
static void test_api_query_names_match_exactly(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	struct world w;
	struct resp r;
	char path[256], pid[64] = "";
	json_t *o;

	world_open_api_one_profile(&w, pid);
	/* a name in another case is no name the route reads: refused, naming
	 * the one meant (it was read as not given) */
	http_do(w.port, "GET", "/v1/profiles?INSTALLATION_ID=I1", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_parameter");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "unknown parameter \\\"INSTALLATION_ID\\\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "(did you mean \\\"installation_id\\\"?)"));
	http_do(w.port, "GET", "/v1/profiles?Installation_Id=nobody&installation_id=I1", NULL, 0,
		0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_parameter");
	http_do(w.port, "GET", "/v1/profiles?installation_id=I1", NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "profiles")), 1);
	json_decref(o);
	snprintf(path, sizeof(path), "/v1/profiles/%s/events?LIMIT=0&limit=5", pid);
	http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_parameter");
	/* a bare ?limit (no '=') is not given, as libmicrohttpd's lookup had it */
	snprintf(path, sizeof(path), "/v1/profiles/%s/events?limit", pid);
	http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	/* a typo is named, over HTTP too; a route that reads none says so */
	snprintf(path, sizeof(path), "/v1/profiles/%s/events?limt=5", pid);
	http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_parameter");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "this route reads limit, before"));
	http_do(w.port, "GET", "/v1/sources?verbose=1", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_parameter");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "this route reads none"));
	world_close(&w);
}

/* The /v1 route that takes a body takes it as plain JSON: a compressed
 * one is refused 415 before it is read, naming the coding. */
static void test_api_body_with_a_content_encoding_is_415(void)
{
	static const char *const gz[] = {"Authorization: Bearer " API_TOKEN,
					 "Content-Type: application/json",
					 "Content-Encoding: gzip", NULL};
	static const char body[] = "{\"type\": \"access\", \"custom_id\": \"c1\"}";
	struct world w;
	struct resp r;

	world_open_api(&w);
	http_do(w.port, "POST", "/v1/privacy/requests", body, sizeof(body) - 1, 0, gz, &r);
	ASSERT_ERROR(&r, 415, "unsupported_encoding");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "\\\"gzip\\\""));
	world_close(&w);
}

/* A path holding %00 is a 400 invalid_path: libmicrohttpd's decoded path
 * is a C string, cut at the NUL, so /v1/sources%00x was /v1/sources and a
 * privacy request's ID followed by %00 and anything was that request.  An
 * escaped percent (%2500) is no NUL. */
static void test_a_path_with_a_nul_byte_is_400(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const char *const paths[] = {
		"/v1/sources%00x", "/healthz%00", "/v1/profiles%00?custom_id=C1",
		"/in/web/v1/echo%00", "/%00",
	};
	struct world w;
	struct resp r;

	world_open_api(&w);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		http_do(w.port, "GET", paths[i], NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 400, "invalid_path");
		CU_ASSERT_STRING_EQUAL(r.cache_control, "no-store"); /* a refusal too */
		CU_ASSERT_STRING_EQUAL(r.nosniff, "nosniff");
		if (r.status != 400)
			fprintf(stderr, "\n  %s: %ld %s", paths[i], r.status, r.body);
	}
	/* the same without it, and an escaped percent, are routed */
	http_do(w.port, "GET", "/v1/sources", NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	http_do(w.port, "GET", "/v1/privacy/requests/pr_%2500", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 400, "invalid_parameter"); /* routed: not a request ID */
	/* the connection goes on: a later request on it is answered */
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	world_close(&w);
}

/* The answers in buf: how many status lines. */
static int count_answers(const char *buf)
{
	int n = 0;

	for (const char *p = buf; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
		n++;
	return n;
}

/*
 * A request whose end is not certain (Content-Length with
 * Transfer-Encoding, Content-Length twice, a coding other than chunked) is
 * answered 400 and its connection closed: the bytes after what one header
 * framed were read as the next request (request smuggling: behind a proxy
 * framing by the other header, a client's bytes became the start of
 * another client's request, sent with that one's token).
 */
static void test_a_request_with_uncertain_framing_is_400_and_closed(void)
{
	static const char next[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char *const heads[] = {
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
		"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
		"Transfer-Encoding: gzip\r\n\r\n",
		"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		/* two lines are one list: "chunked, identity", framed by the
		 * first line here, maybe by the last behind a proxy */
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
	};
	struct world w;
	char req[512], buf[4096];

	world_open_api(&w);
	for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
		int fd = raw_connect(w.port), closed = 0;

		CU_ASSERT_FATAL(fd >= 0);
		snprintf(req, sizeof(req), "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\n"
			 "Content-Type: application/json\r\n%s%s", heads[i], next);
		CU_ASSERT(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
		raw_read_all(fd, buf, sizeof(buf), 5000, &closed);
		close(fd);
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "HTTP/1.1 400"));
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "bad_framing"));
		CU_ASSERT_EQUAL(count_answers(buf), 1); /* the next request never read */
		CU_ASSERT_PTR_NOT_NULL(strcasestr(buf, "\r\nConnection: close\r\n"));
		CU_ASSERT(closed);
		if (count_answers(buf) != 1 || !closed)
			fprintf(stderr, "\n  %zu: closed %d: %s", i, closed, buf);
	}
	/* sound framing goes on being taken: the next request is answered */
	{
		int fd = raw_connect(w.port), closed = 0;

		CU_ASSERT_FATAL(fd >= 0);
		snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\n"
			 "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"
			 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
		CU_ASSERT(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
		raw_read_all(fd, buf, sizeof(buf), 10000, &closed); /* closed after the 2nd */
		close(fd);
		CU_ASSERT_EQUAL(count_answers(buf), 2);
		CU_ASSERT(closed);
	}
	world_close(&w);
}

/* A dead letter's change: an erasure of p_gone, whole, so that a retry
 * sends it again (one without its profile is left as it is). */
#define ERASED_CHANGE                                                                   \
	"{\"kind\":\"erased\",\"profile_id\":\"p_gone\",\"identifier_types\":[\"custom_id\"]}"

/* The dead letters of export `name` at `seqs` (n of them), through the
 * store's own writes (either store). */
static void put_dead_letters(struct world *w, const char *name, const int64_t *seqs, size_t n)
{
	struct store *s = w->th->reader;

	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	for (size_t i = 0; i < n; i++) {
		char reason[32];
		struct store_dead_letter d = {name, seqs[i], "p_gone", 1000 * seqs[i], reason,
					      ERASED_CHANGE};

		snprintf(reason, sizeof(reason), "refused %lld", (long long)seqs[i]);
		CU_ASSERT_EQUAL_FATAL(s->ops->dead_letter_put(s, &d), 0);
	}
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
}

/* GET `path` with the token: 200, the body parsed (new reference). */
static json_t *api_get_json(struct world *w, const char *path)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	struct resp r;
	json_t *o;

	http_do(w->port, "GET", path, NULL, 0, 0, auth, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	if (r.status != 200)
		fprintf(stderr, "\n  GET %s: %ld %s", path, r.status, r.body);
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

/* GET /v1/exports showed an export's first 100 dead letters and their
 * total, with no way to read the others: GET
 * /v1/exports/<name>/dead_letters pages through them, lowest seq first,
 * ?limit= of them a page and next the cursor for ?after= (null on the last
 * page), as the identity history does; every page says the export's total
 * (not another export's).  A bad limit or after is a 400 naming it, an
 * export the configuration lacks a 404, HEAD is answered, a token needed. */
static void test_api_dead_letters_are_paged_after_a_seq(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const int64_t seqs[] = {3, 7, 8, 20, 41};
	static const int64_t other[] = {5};
	static const struct {
		const char *query;
		int status;
		const char *code, *named;
	} bad[] = {
		{"?limit=0", 400, "invalid_parameter", "limit"},
		{"?limit=1001", 400, "invalid_parameter", "limit"},
		{"?limit=x", 400, "invalid_parameter", "limit"},
		{"?after=-1", 400, "invalid_cursor", "after"},
		{"?after=7x", 400, "invalid_cursor", "after"},
		{"?after=99999999999999999999", 400, "invalid_cursor", "after"},
		{"?before=7", 400, "invalid_parameter", "before"},
	};
	struct world w;
	struct resp r, head;
	char path[128], after[32] = "0";
	size_t n_seen = 0, n_pages = 0;
	json_t *o;

	world_start(&w, API_MAX_BODY, 1, NULL,
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n"
		    "exports:\n  - {name: feed, plugin: jsonl, path: /nonexistent/f.jsonl}\n");
	put_dead_letters(&w, "feed", seqs, ARRAY_SIZE(seqs));
	put_dead_letters(&w, "gone", other, ARRAY_SIZE(other));
	do {
		json_t *list, *d;
		size_t i;

		snprintf(path, sizeof(path), "/v1/exports/feed/dead_letters?limit=2&after=%s",
			 after);
		o = api_get_json(&w, path);
		list = json_object_get(o, "dead_letters");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "export")), "feed");
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "dead_letters_total")),
				(json_int_t)ARRAY_SIZE(seqs));
		CU_ASSERT(json_array_size(list) >= 1 && json_array_size(list) <= 2);
		json_array_foreach(list, i, d) {
			char reason[32];

			CU_ASSERT_FATAL(n_seen < ARRAY_SIZE(seqs));
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(d, "seq")),
					seqs[n_seen]);
			snprintf(reason, sizeof(reason), "refused %lld", (long long)seqs[n_seen]);
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "reason")),
					       reason);
			CU_ASSERT_PTR_NULL(json_object_get(d, "change")); /* personal data */
			n_seen++;
		}
		d = json_object_get(o, "next");
		CU_ASSERT(json_is_null(d) || json_is_string(d));
		snprintf(after, sizeof(after), "%s", json_is_string(d) ? json_string_value(d) : "");
		json_decref(o);
	} while (after[0] && ++n_pages < 10);
	CU_ASSERT_EQUAL(n_seen, ARRAY_SIZE(seqs));
	CU_ASSERT_EQUAL(n_pages, 2); /* 3 pages: 2, 2 and 1 */
	/* the default page holds them all; after any seq, those above it */
	o = api_get_json(&w, "/v1/exports/feed/dead_letters");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "dead_letters")), ARRAY_SIZE(seqs));
	CU_ASSERT(json_is_null(json_object_get(o, "next")));
	json_decref(o);
	o = api_get_json(&w, "/v1/exports/feed/dead_letters?after=10");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(
				json_array_get(json_object_get(o, "dead_letters"), 0), "seq")),
			20);
	json_decref(o);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char message[512] = "";
		json_t *e;

		snprintf(path, sizeof(path), "/v1/exports/feed/dead_letters%s", bad[i].query);
		http_do(w.port, "GET", path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, bad[i].status, bad[i].code);
		e = json_loads(r.body, 0, NULL);
		snprintf(message, sizeof(message), "%s", json_string_value(json_object_get(
			json_object_get(e, "error"), "message")) ?: "");
		json_decref(e);
		CU_ASSERT_PTR_NOT_NULL(strstr(message, bad[i].named));
		if (r.status != bad[i].status)
			fprintf(stderr, "\n  %s: %ld %s", path, r.status, r.body);
	}
	http_do(w.port, "GET", "/v1/exports/gone/dead_letters", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "no export named gone"));
	http_do(w.port, "GET", "/v1/exports/feed/dead_letters", NULL, 0, 0, NULL, &r);
	ASSERT_ERROR(&r, 401, "unauthorized");
	http_do(w.port, "HEAD", "/v1/exports/feed/dead_letters?limit=1", NULL, 0, 0, auth, &head);
	CU_ASSERT_EQUAL(head.status, 200);
	CU_ASSERT_EQUAL(head.len, 0);
	http_do(w.port, "DELETE", "/v1/exports/feed/dead_letters", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 405, "method_not_allowed");
	CU_ASSERT_STRING_EQUAL(r.allow, "GET, HEAD");
	world_close(&w);
}

/* The store of w knows export `name` from another hub's configuration
 * sharing it, registered as that hub does when it starts. */
static void world_know_elsewhere(struct world *w, const char *name)
{
	struct hub_config *other = NULL;
	char *yaml, err[512];

	CU_ASSERT_FATAL(asprintf(&yaml, "%sexports:\n"
				 "  - {name: %s, plugin: jsonl, path: /nonexistent/c.jsonl}\n",
				 w->th->store_yaml, name) > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("other.yaml", yaml, &other, err, sizeof(err)), 0);
	free(yaml);
	CU_ASSERT_EQUAL_FATAL(export_known_register(w->th->reader, other), 0);
	config_free(other);
}

/* An export of another hub's configuration sharing the store ("elsewhere"
 * in GET /v1/exports) has its dead letters paged too: behind a load
 * balancer, a hub without it answered 404 "no export named crm" while
 * the next request, on the hub running it, listed them.  A name the store
 * does not know is a 404 still, dead letters or not. */
static void test_api_dead_letters_of_an_export_known_elsewhere(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const int64_t seqs[] = {4, 9};
	struct world w;
	struct resp r;
	json_t *o, *list;

	world_start(&w, API_MAX_BODY, 1, NULL,
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n"
		    "exports:\n  - {name: feed, plugin: jsonl, path: /nonexistent/f.jsonl}\n");
	world_know_elsewhere(&w, "crm");
	put_dead_letters(&w, "crm", seqs, ARRAY_SIZE(seqs));
	put_dead_letters(&w, "gone", seqs, 1);
	o = api_get_json(&w, "/v1/exports/crm/dead_letters?limit=1");
	list = json_object_get(o, "dead_letters");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "export")), "crm");
	CU_ASSERT_EQUAL(json_array_size(list), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 4);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "dead_letters_total")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "next")), "4");
	json_decref(o);
	http_do(w.port, "GET", "/v1/exports/gone/dead_letters", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	world_close(&w);
}

/* The feed's changes after seq `after` addressed to a retry (their
 * payload {"for", "retry_of", "payload"}): [{"for", "retry_of"}, ...]. */
static int retried_add(void *ctx, const struct store_change *c)
{
	json_t *payload = json_loads(c->payload_json ? c->payload_json : "", 0, NULL);
	json_t *f = json_object_get(payload, "for");

	if (f)
		json_array_append_new(ctx, json_pack("{s:O, s:O}", "for", f, "retry_of",
						     json_object_get(payload, "retry_of")));
	json_decref(payload);
	return 0;
}

static json_t *feed_retried_after(struct world *w, int64_t after)
{
	struct store *s = w->th->reader;
	json_t *list = json_array();

	CU_ASSERT_EQUAL(s->ops->outbox_read(s, after, 100, retried_add, list), 0);
	return list;
}

/* How many dead letters export `name` has in w's store. */
static int64_t world_dead_letters(struct world *w, const char *name)
{
	struct store *s = w->th->reader;
	int64_t n = -1;

	CU_ASSERT_EQUAL(s->ops->dead_letter_count(s, name, &n), 0);
	return n;
}

/* POST /v1/exports/<name>/dead_letters/retry of an export another hub's
 * configuration runs (the store knows it: "elsewhere"; that hub holds its
 * lease) puts its dead letters back in the shared feed, each addressed to
 * that export, whose worker delivers it wherever it runs: they could be
 * read from every hub sharing the store, but retried only from the one
 * running it (404 "no export named crm" from the others, behind a load
 * balancer one request in two).  While no process runs it, 409
 * not_running saying why, and they stay dead letters: in the feed they
 * waited for no one.  A name the store does not know is a 404 naming the
 * closest known one, and its dead letters stay. */
static void test_api_retries_the_dead_letters_of_an_export_known_elsewhere(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const int64_t seqs[] = {4, 9};
	struct world w;
	struct resp r;
	int64_t last = 0, epoch = 0;
	json_t *o, *retried;

	world_start(&w, API_MAX_BODY, WORLD_API_EXPORTING, NULL,
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n"
		    "exports:\n  - {name: feed, plugin: jsonl, path: /nonexistent/f.jsonl,"
		    " enabled: false}\n");
	world_know_elsewhere(&w, "crm");
	put_dead_letters(&w, "crm", seqs, ARRAY_SIZE(seqs));
	put_dead_letters(&w, "gone", seqs, 1);
	CU_ASSERT_EQUAL_FATAL(export_outbox_last_seq(w.th->reader, 0, &last), 0);
	http_do(w.port, "POST", "/v1/exports/crm/dead_letters/retry", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 409, "not_running");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "export crm is not in this configuration and no"
				      " process runs it now"));
	CU_ASSERT_EQUAL(world_dead_letters(&w, "crm"), 2);
	retried = feed_retried_after(&w, last);
	CU_ASSERT_EQUAL(json_array_size(retried), 0);
	json_decref(retried);
	/* the hub running it (its lease held on another connection) */
	CU_ASSERT_EQUAL_FATAL(w.th->reader->ops->lease_try(w.th->reader, "export:crm", &epoch),
			      1);
	http_do(w.port, "POST", "/v1/exports/crm/dead_letters/retry", NULL, 0, 0, auth, &r);
	w.th->reader->ops->lease_release(w.th->reader, "export:crm");
	CU_ASSERT_EQUAL(r.status, 200);
	o = json_loads(r.body, 0, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "export")) ?: "", "crm");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "retried")), 2);
	json_decref(o);
	CU_ASSERT_EQUAL(world_dead_letters(&w, "crm"), 0);
	retried = feed_retried_after(&w, last);
	CU_ASSERT_EQUAL_FATAL(json_array_size(retried), 2);
	for (size_t i = 0; i < ARRAY_SIZE(seqs); i++) {
		json_t *c = json_array_get(retried, i);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "for")) ?: "", "crm");
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "retry_of")), seqs[i]);
	}
	json_decref(retried);
	/* a name neither the configuration nor the store knows */
	http_do(w.port, "POST", "/v1/exports/gone/dead_letters/retry", NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 404, "not_found");
	CU_ASSERT_EQUAL(world_dead_letters(&w, "gone"), 1);
	retried = feed_retried_after(&w, last);
	CU_ASSERT_EQUAL(json_array_size(retried), 2);
	json_decref(retried);
	world_close(&w);
}

/* The 409 of a retry no process would deliver ends with the command
 * that forgets the export, its name whole, for a name of the most
 * characters a name may have (64): the answer was cut at 511 bytes, its
 * command naming an export that does not exist ("... forget crm_aaaa"). */
static void test_api_not_running_names_a_long_export_whole(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const char name[] =
		"crm_012345678901234567890123456789012345678901234567890123456789";
	struct world w;
	struct resp r;
	char path[160], tail[160];

	CU_ASSERT_EQUAL_FATAL(strlen(name), 64);
	world_start(&w, API_MAX_BODY, WORLD_API_EXPORTING, NULL,
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n");
	world_know_elsewhere(&w, name);
	snprintf(path, sizeof(path), "/v1/exports/%s/dead_letters/retry", name);
	http_do(w.port, "POST", path, NULL, 0, 0, auth, &r);
	ASSERT_ERROR(&r, 409, "not_running");
	snprintf(tail, sizeof(tail), "; one that no configuration has any more: profilehub"
		 " exports forget %s\"}}", name);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.body, tail));
	world_close(&w);
}

/* A typo of an export another hub's configuration runs is answered with
 * that one on the routes that serve it (its dead letters, to read or
 * retry): the 404 named only the configuration's, none of them close
 * here.  The others (backfill, enable) act on the configuration's alone,
 * and name only those. */
static void test_api_a_typo_of_an_export_known_elsewhere_is_answered_with_it(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const struct {
		const char *method, *route;
		int is_elsewhere_named;
	} routes[] = {
		{"GET", "dead_letters", 1},
		{"POST", "dead_letters/retry", 1},
		{"POST", "backfill", 0},
		{"POST", "enable", 0},
	};
	struct world w;
	struct resp r;
	char path[128];

	world_start(&w, API_MAX_BODY, WORLD_API_EXPORTING, NULL,
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n"
		    "exports:\n  - {name: archive, plugin: jsonl, path: /nonexistent/a.jsonl,"
		    " enabled: false}\n");
	world_know_elsewhere(&w, "crm_feed");
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const char *named = routes[i].is_elsewhere_named
					    ? "no export named crm_fed (did you mean \\\"crm_feed\\\"?)\""
					    : "no export named crm_fed\"";

		snprintf(path, sizeof(path), "/v1/exports/crm_fed/%s", routes[i].route);
		http_do(w.port, routes[i].method, path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 404, "not_found");
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, named));
		if (!strstr(r.body, named))
			fprintf(stderr, "\n  %s %s: %s", routes[i].method, path, r.body);
		/* the configuration's names still */
		snprintf(path, sizeof(path), "/v1/exports/archiv/%s", routes[i].route);
		http_do(w.port, routes[i].method, path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 404, "not_found");
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "(did you mean \\\"archive\\\"?)"));
	}
	world_close(&w);
}

/* An export name the configuration lacks is a 404 naming the closest one
 * it has when one is close, as the CLI says it: a typo was answered as if
 * the export were gone.  A name close to none is answered without one. */
static void test_api_an_unknown_export_is_answered_with_the_closest_name(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const struct {
		const char *method, *route;
	} routes[] = {
		{"GET", "dead_letters"},
		{"POST", "backfill"},
		{"POST", "enable"},
		{"POST", "dead_letters/retry"},
	};
	struct world w;
	struct resp r;
	char path[128];

	world_start(&w, API_MAX_BODY, 1, NULL,
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n"
		    "exports:\n  - {name: crm_feed, plugin: jsonl, path: /nonexistent/f.jsonl}\n"
		    "  - {name: archive, plugin: jsonl, path: /nonexistent/a.jsonl}\n");
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		snprintf(path, sizeof(path), "/v1/exports/crm_fed/%s", routes[i].route);
		http_do(w.port, routes[i].method, path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 404, "not_found");
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "no export named crm_fed (did you mean"
						      " \\\"crm_feed\\\"?)"));
		snprintf(path, sizeof(path), "/v1/exports/warehouse/%s", routes[i].route);
		http_do(w.port, routes[i].method, path, NULL, 0, 0, auth, &r);
		ASSERT_ERROR(&r, 404, "not_found");
		CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "no export named warehouse\""));
		if (!strstr(r.body, "no export named warehouse\""))
			fprintf(stderr, "\n  %s %s: %s", routes[i].method, path, r.body);
	}
	world_close(&w);
}

/* HEAD is answered wherever GET is (RFC 9110), with GET's status and no
 * body: the GET routes of /v1 answered it 405 (only /healthz and the page
 * took it).  A 405 lists GET, HEAD on those routes and POST on the others. */
static void test_api_head_is_answered_as_get_without_the_body(void)
{
	static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
	static const struct {
		const char *method, *path, *allow;
	} refused[] = {
		{"POST", "/v1/sources", "GET, HEAD"},
		{"DELETE", "/v1/profiles", "GET, HEAD"},
		{"PUT", "/v1/exports", "GET, HEAD"},
		{"GET", "/v1/privacy/requests", "POST"},
		{"HEAD", "/v1/privacy/requests", "POST"},
		{"HEAD", "/v1/sources/web/sync", "POST"},
		{"HEAD", "/v1/exports/feed/backfill", "POST"},
	};
	const char *routes[8];
	struct world w;
	struct resp get, head;
	char events[96], history[96], pid[64];
	json_t *o;

	world_open_api(&w);
	post(&w, "/in/web/v1/echo", "I1\n", &get);
	CU_ASSERT_EQUAL_FATAL(get.status, 200);
	http_do(w.port, "GET", "/v1/profiles?installation_id=I1", NULL, 0, 0, auth, &get);
	o = json_loads(get.body, 0, NULL);
	snprintf(pid, sizeof(pid), "%s",
		 json_string_value(json_object_get(
			 json_array_get(json_object_get(o, "profiles"), 0), "profile_id")));
	json_decref(o);
	CU_ASSERT_FATAL(strncmp(pid, "p_", 2) == 0);
	snprintf(events, sizeof(events), "/v1/profiles/%s/events", pid);
	snprintf(history, sizeof(history), "/v1/profiles/%s/history", pid);
	routes[0] = "/v1/profiles?installation_id=I1";
	routes[1] = events;
	routes[2] = history;
	routes[3] = "/v1/sources";
	routes[4] = "/v1/exports";
	routes[5] = "/v1/privacy/requests/pr_0123456789abcdef"; /* unknown: 404 either way */
	routes[6] = "/v1/profiles"; /* no parameter: 400 either way */
	routes[7] = "/";
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		http_do(w.port, "GET", routes[i], NULL, 0, 0, auth, &get);
		http_do(w.port, "HEAD", routes[i], NULL, 0, 0, auth, &head);
		CU_ASSERT_EQUAL(head.rc, CURLE_OK);
		CU_ASSERT_EQUAL(head.status, get.status);
		CU_ASSERT_EQUAL(head.len, 0);
		CU_ASSERT(get.len > 0);
		CU_ASSERT_STRING_EQUAL(head.content_type, get.content_type);
		if (head.status != get.status)
			fprintf(stderr, "\n  HEAD %s: %ld (GET: %ld) %s", routes[i], head.status,
				get.status, head.body);
	}
	CU_ASSERT_EQUAL(get.status, 200); /* the page */
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		http_do(w.port, refused[i].method, refused[i].path, NULL, 0, 0, auth, &head);
		CU_ASSERT_EQUAL(head.status, 405);
		CU_ASSERT_STRING_EQUAL(head.allow, refused[i].allow);
		if (head.status != 405 || strcmp(head.allow, refused[i].allow) != 0)
			fprintf(stderr, "\n  %s %s: %ld, Allow: %s", refused[i].method,
				refused[i].path, head.status, head.allow);
	}
	world_close(&w);
}

/* ---- the streamed access document over HTTP ----------------------------- */

#define STREAM_EVENTS 3000

/* A profile "streamer" with STREAM_EVENTS events of about 2 KB each: its
 * access document (some 6 MB) is far more than the sockets hold. */
static void add_stream_events(struct world *w)
{
	char pad[2001], *line;
	struct strbuf sb;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(w->th,
		"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"s-id\","
		"\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":"
		"\"streamer\",\"installation_id\":\"IS\"}}"), 0);
	strbuf_init(&sb);
	for (int i = 0; i < STREAM_EVENTS; i++) {
		strbuf_printf(&sb,
			      "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"s-%05d\","
			      "\"timestamp\":\"2025-03-02T09:%02d:%02d.000Z\",\"identifiers\":"
			      "{\"installation_id\":\"IS\"},\"event\":{\"name\":\"e\","
			      "\"properties\":{\"pad\":\"%s\"}}}\n",
			      i, (i / 60) % 60, i % 60, pad);
		if ((i + 1) % 500 == 0) {
			CU_ASSERT_FATAL(!sb.failed);
			line = sb.data;
			CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(w->th, line), 0);
			sb.len = 0;
		}
	}
	strbuf_free(&sb);
}

/* Sends the access request for "streamer" on a connection whose receive
 * window is small, and reads until its request id has come: the server is
 * then midway, blocked on the socket.  Returns the socket; the id in id. */
static int stream_begin(int port, char *id, size_t id_size)
{
	static const char body[] = "{\"type\":\"access\",\"custom_id\":\"streamer\"}";
	char head[512], buf[8192];
	const char *p;
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096, closed = 0;
	struct sockaddr_in sa;

	CU_ASSERT_FATAL(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	snprintf(head, sizeof(head),
		 "POST /v1/privacy/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " API_TOKEN
		 "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 sizeof(body) - 1, body);
	CU_ASSERT(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	while (!(p = strstr(buf, "\"id\":\"pr_")) && len < sizeof(buf) - 1 && !closed)
		len += raw_read_all(fd, buf + len, sizeof(buf) - len, 5000, &closed);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Transfer-Encoding: chunked"));
	snprintf(id, id_size, "%.19s", p + 6);
	return fd;
}

/* The status of privacy request id, asked of the API directly (also once
 * the server is stopped). */
static int request_status_is(struct api *api, const char *id, const char *status)
{
	struct api_request req = {.method = "GET", .authorization = "Bearer " API_TOKEN};
	struct api_response resp;
	char path[128];
	json_t *o;
	int is;

	snprintf(path, sizeof(path), "/v1/privacy/requests/%s", id);
	req.path = path;
	CU_ASSERT_EQUAL(api_handle(api, &req, &resp), 1);
	o = json_loads(resp.body ? resp.body : "", 0, NULL);
	is = json_string_value(json_object_get(o, "status")) &&
	     strcmp(json_string_value(json_object_get(o, "status")), status) == 0;
	json_decref(o);
	api_response_free(&resp);
	return is;
}

struct wait_status {
	struct api *api;
	const char *id, *status;
};

static int status_reached(void *arg)
{
	struct wait_status *ws = arg;
	return request_status_is(ws->api, ws->id, ws->status);
}

/* An access request straight through the API, read to its end: 1 when
 * whole and "done" (the pooled connection it used is sound). */
static int access_is_whole(struct api *api)
{
	static const char body[] = "{\"type\":\"access\",\"custom_id\":\"streamer\"}";
	struct api_request req = {.method = "POST", .path = "/v1/privacy/requests",
				  .authorization = "Bearer " API_TOKEN, .body = body,
				  .body_len = sizeof(body) - 1};
	struct api_response resp;
	struct strbuf sb;
	char buf[16384];
	json_t *o;
	long n = -1;
	int is;

	strbuf_init(&sb);
	CU_ASSERT_EQUAL(api_handle(api, &req, &resp), 1);
	CU_ASSERT_EQUAL(resp.status, 200);
	while (resp.stream && (n = api_stream_read(resp.stream, buf, sizeof(buf))) > 0)
		strbuf_append(&sb, buf, (size_t)n);
	api_response_free(&resp);
	o = sb.data ? json_loads(sb.data, 0, NULL) : NULL;
	is = n == 0 && json_array_size(json_object_get(
			       json_object_get(json_array_get(json_object_get(
						       json_object_get(o, "document"), "profiles"),
							      0),
					       "profile"),
			       "events")) == STREAM_EVENTS;
	json_decref(o);
	strbuf_free(&sb);
	return is;
}

/*
 * A streamed access document whose client goes away midway, and one in
 * flight when the server stops: each request says "failed", its pooled
 * store connection comes back with its read transaction ended (the next
 * access request is whole), nothing leaks (ASan), and a client that reads
 * to the end gets the whole document, "done".
 */
static void test_api_access_stream_client_gone_and_stop(void)
{
	struct world w;
	struct wait_status ws;
	struct resp r;
	struct linger hard = {1, 0};
	char id[32];
	int fd, closed;
	char buf[4096];

	world_start(&w, API_MAX_BODY, 1, "  timeout: 1s\n",
		    "api:\n  tokens: [\"" API_TOKEN "\"]\n");
	add_stream_events(&w);

	/* the client resets the connection midway */
	fd = stream_begin(w.port, id, sizeof(id));
	CU_ASSERT(request_status_is(w.api, id, "running"));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	close(fd);
	ws = (struct wait_status){w.api, id, "failed"};
	CU_ASSERT(wait_until(status_reached, &ws));
	CU_ASSERT(access_is_whole(w.api));

	/* a client that reads it all: chunked, complete, "done" */
	{
		static const char *const auth[] = {"Authorization: Bearer " API_TOKEN, NULL};
		static const char body[] = "{\"type\":\"access\",\"custom_id\":\"streamer\"}";
		const char *p;
		http_do(w.port, "POST", "/v1/privacy/requests", body, sizeof(body) - 1, 0, auth,
			&r);
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_EQUAL(r.rc, CURLE_OK);
		p = strstr(r.body, "\"id\":\"pr_");
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		snprintf(id, sizeof(id), "%.19s", p + 6);
		ws = (struct wait_status){w.api, id, "done"};
		CU_ASSERT(wait_until(status_reached, &ws));
	}

	/* the server stops while a stream is in flight, its client stalled */
	fd = stream_begin(w.port, id, sizeof(id));
	http_stop(w.srv);
	w.srv = NULL;
	CU_ASSERT(request_status_is(w.api, id, "failed"));
	raw_read_all(fd, buf, sizeof(buf), 100, &closed);
	close(fd);
	CU_ASSERT(access_is_whole(w.api));
	world_close(&w);
}

/*
 * A client that stalls midway through its access document holds no store
 * snapshot: the document was spooled whole before the answer began.  On
 * SQLite a snapshot held while the client read kept every checkpoint from
 * restarting the WAL, which grew while the hub took writes: a TRUNCATE
 * checkpoint must complete while the client is stalled.  On PostgreSQL it
 * held back vacuum: no session of the hub may keep a snapshot from a
 * transaction begun before the stall was seen.
 */
static void assert_no_sqlite_snapshot(struct world *w)
{
	sqlite3 *db = NULL;
	int n_log = -1, n_done = -1;

	CU_ASSERT_EQUAL_FATAL(sqlite3_open(w->th->cfg->store_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 3000); /* the hub's own writer may hold it a moment */
	/* a first read: the connection learns the store is in WAL mode */
	CU_ASSERT_EQUAL(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL),
			SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &n_log,
						  &n_done), SQLITE_OK);
	CU_ASSERT_EQUAL(n_log, 0); /* the WAL restarted: nobody reads from it */
	sqlite3_close(db);
}

static void test_a_stalled_access_client_holds_no_snapshot(void)
{
	struct world w;
	char id[32], stalled_at[64] = "";
	int fd;

	world_start(&w, API_MAX_BODY, 1, NULL, "api:\n  tokens: [\"" API_TOKEN "\"]\n");
	add_stream_events(&w);
	fd = stream_begin(w.port, id, sizeof(id));
	CU_ASSERT(request_status_is(w.api, id, "running")); /* stalled midway */
	if (teststore_is_pg()) {
		CU_ASSERT_EQUAL_FATAL(teststore_pg_clock(stalled_at, sizeof(stalled_at)), 0);
	}
	CU_ASSERT_EQUAL(testhub_apply_lines(w.th,
		"{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"late\","
		"\"timestamp\":\"2025-03-03T09:00:00.000Z\",\"identifiers\":"
		"{\"installation_id\":\"IS\"},\"event\":{\"name\":\"late\"}}"), 0);
	if (teststore_is_pg()) {
		CU_ASSERT_EQUAL(teststore_snapshots_before(stalled_at), 0);
	} else {
		assert_no_sqlite_snapshot(&w);
	}
	close(fd);
	world_close(&w);
}


TEST_SUITE(http_api, http_suite_init, http_suite_clean,
	   TEST(test_api_token_is_checked_before_the_body),
	   TEST(test_api_with_a_token_still_works),
	   TEST(test_metrics_from_afar_without_api_tokens_says_they_are_not_set),
	   TEST(test_an_unread_body_is_held_to_the_limit),
	   TEST(test_api_cursor_out_of_range_is_400),
	   TEST(test_api_query_value_with_a_nul_byte_is_400),
	   TEST(test_api_query_key_sent_twice_is_400),
	   TEST(test_api_query_names_match_exactly),
	   TEST(test_a_path_with_a_nul_byte_is_400),
	   TEST(test_a_request_with_uncertain_framing_is_400_and_closed),
	   TEST(test_api_head_is_answered_as_get_without_the_body),
	   TEST(test_api_dead_letters_are_paged_after_a_seq),
	   TEST(test_api_dead_letters_of_an_export_known_elsewhere),
	   TEST(test_api_retries_the_dead_letters_of_an_export_known_elsewhere),
	   TEST(test_api_not_running_names_a_long_export_whole),
	   TEST(test_api_a_typo_of_an_export_known_elsewhere_is_answered_with_it),
	   TEST(test_api_an_unknown_export_is_answered_with_the_closest_name),
	   TEST(test_erase_requests_wait_off_the_request_threads),
	   TEST(test_api_access_stream_client_gone_and_stop),
	   TEST(test_a_stalled_access_client_holds_no_snapshot),
	   TEST(test_api_body_with_a_content_encoding_is_415))
