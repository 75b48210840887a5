/*
 * test_http.c - the HTTP server in-process: a real store (SQLite, or
 * PostgreSQL: teststore.h) and intake (testhub), the echo_push test plugin
 * mounted at /in/web/ (and, for the /v1 tests, the management API of
 * hub/api.c), the server on 127.0.0.1 port 0, and libcurl (or a raw
 * socket, where a client must misbehave) on the other side.  Also the
 * other direction once: the webhook export (webhook.so) as a raw receiver
 * sees it: its Retry-After reading, the statuses it retries, its
 * Idempotency-Key and what its signature covers.
 *
 * No sleep stands for synchronization: where a test needs the server in a
 * given state (a request waiting for its commit, the queue full, the
 * listener closed) it polls that state with a deadline.
 */
#include "testlib.h"
#include "testhub.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/api.h"
#include "../../hub/config.h"
#include "../../hub/export_int.h"
#include "../../hub/host.h"
#include "../../hub/http.h"
#include "../../hub/http_deadline.h"
#include "../../hub/http_ingest.h"
#include "../../hub/log.h"
#include "../../hub/metrics.h"
#include "../../hub/plugin.h"
#include "../../hub/util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
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

#define MAX_BODY 4096
#define WAIT_MS 10000

/* ---- the world -------------------------------------------------------- */

struct world {
	struct testhub *th;
	struct plugin_module mod;
	struct hub_instance *inst;
	struct http_context ctx;
	struct http_server *srv;
	struct api *api;      /* world_open_api() only */
	struct exporter *ex;  /* WORLD_API_EXPORTING only */
	int port;
	void *writer_hold;    /* PostgreSQL: world_hold_writer()'s */
};

/* with_api of world_start(): the API's export routes answered by an
 * exporter of the world's configuration, as `profilehub run` wires them
 * (1: the API without providers). */
#define WORLD_API_EXPORTING 2

/* The API of w, its export routes those of w->ex when it has one. */
static void world_api_open(struct world *w)
{
	struct api_providers providers = {
		.exports_status = export_status_provider, .export_backfill = export_backfill_provider,
		.export_retry = export_retry_provider, .export_enable = export_enable_provider,
		.ctx = w->ex};
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(api_open(&w->api, w->th->cfg, w->th->intake,
				       w->ex ? &providers : NULL, err, sizeof(err)), 0);
}

/* Starts store, intake, the instance "web" of `plugin` (the hub's own, else
 * the tests'), with_api the management API (WORLD_API_EXPORTING: with an
 * exporter), and the server (http.max_body = max_body, 2 threads unless
 * http_extra sets them).  `extra` is more YAML (http: keys go in
 * `http_extra`, indented; the source's own keys first, indented by 4). */
static void world_start_plugin(struct world *w, const char *plugin, int max_body, int with_api,
			       const char *http_extra, const char *extra)
{
	struct http_context *ctx = &w->ctx;
	const char *threads =
		http_extra && strstr(http_extra, "  threads:") ? "" : "  threads: 2\n";
	char *so, *yaml;
	char err[1024] = "";

	memset(w, 0, sizeof(*w));
	CU_ASSERT_FATAL(asprintf(&yaml,
				 "http:\n"
				 "  listen: 127.0.0.1:0\n"
				 "  max_body: %d\n"
				 "%s"
				 "%s"
				 "sources:\n"
				 "  - name: web\n"
				 "    plugin: %s\n"
				 "%s",
				 max_body, threads, http_extra ? http_extra : "", plugin,
				 extra ? extra : "") > 0);
	w->th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
	CU_ASSERT_FATAL(asprintf(&so, "%s/plugins/%s.so", testlib_build_dir(), plugin) > 0);
	if (access(so, F_OK) != 0) {
		free(so);
		CU_ASSERT_FATAL(asprintf(&so, "%s/tests/plugins/%s.so", testlib_build_dir(),
					 plugin) > 0);
	}
	CU_ASSERT_EQUAL_FATAL(plugin_load(so, &w->mod, err, sizeof(err)), 0);
	free(so);
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&w->mod, &w->th->cfg->sources[0], &w->inst,
						     err, sizeof(err)), 0);
	ctx->cfg = w->th->cfg;
	ctx->intake = w->th->intake;
	ctx->push = &w->inst;
	ctx->n_push = 1;
	if (with_api == WORLD_API_EXPORTING)
		CU_ASSERT_EQUAL_FATAL(export_start(&w->ex, w->th->cfg, err, sizeof(err)), 0);
	if (with_api) {
		world_api_open(w);
		ctx->api = w->api;
	}
	if (http_start(&w->srv, ctx, err, sizeof(err)))
		fprintf(stderr, "http_start: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->srv);
	w->port = http_port(w->srv);
	CU_ASSERT_FATAL(w->port > 0);
}

static void world_start(struct world *w, int max_body, int with_api, const char *http_extra,
			const char *extra)
{
	world_start_plugin(w, "echo_push", max_body, with_api, http_extra, extra);
}

static void world_open(struct world *w, const char *http_extra, const char *extra)
{
	world_start(w, MAX_BODY, 0, http_extra, extra);
}

static void world_close(struct world *w)
{
	http_stop(w->srv);
	api_close(w->api);
	export_stop(w->ex);
	plugin_instance_destroy(w->inst);
	testhub_stop(w->th);
	plugin_unload(&w->mod);
}

static size_t world_profiles(struct world *w)
{
	json_t *all = testhub_dump(w->th, 0);
	size_t n = json_array_size(all);

	json_decref(all);
	return n;
}

/* 1 when a live profile has the identifier `type` `value`. */
static int world_has_ident(struct world *w, const char *type, const char *value)
{
	json_t *all = testhub_dump(w->th, 0), *doc;
	size_t i;
	int found = 0;

	json_array_foreach(all, i, doc) {
		json_t *ids = json_object_get(json_object_get(doc, "identifiers"), type);
		json_t *v;
		size_t j;
		json_array_foreach(ids, j, v)
			found |= json_is_string(v) && strcmp(json_string_value(v), value) == 0;
	}
	json_decref(all);
	return found;
}

/* 1 when a live profile has installation id `iid`. */
static int world_has_installation(struct world *w, const char *iid)
{
	return world_has_ident(w, "installation_id", iid);
}

/* Holds the store's writer in its BEGIN until world_release_writer(): on
 * SQLite a transaction of the world's reader takes the write lock; on
 * PostgreSQL, where that would not block it, a lock it waits for at BEGIN
 * (teststore_hold_writes).  0, else -1. */
static int world_hold_writer(struct world *w)
{
	if (teststore_is_pg())
		return (w->writer_hold = teststore_hold_writes(w->th->schema)) ? 0 : -1;
	return w->th->reader->ops->begin(w->th->reader);
}

static int world_release_writer(struct world *w)
{
	void *hold = w->writer_hold;

	w->writer_hold = NULL;
	if (teststore_is_pg())
		return teststore_release_writes(hold);
	return w->th->reader->ops->rollback(w->th->reader);
}

/* Polls cond(arg) until true or WAIT_MS passed; returns its last value. */
static int wait_until(int (*cond)(void *), void *arg)
{
	int64_t until = time_mono_ms() + WAIT_MS;
	struct timespec pause = {0, 2 * 1000 * 1000};

	while (!cond(arg)) {
		if (time_mono_ms() > until)
			return 0;
		nanosleep(&pause, NULL);
	}
	return 1;
}

/* ---- a curl client ---------------------------------------------------- */

struct resp {
	long status;
	CURLcode rc;
	char body[8192];
	size_t len;
	char retry_after[32];
	char allow[64];
	char content_type[64];
	char cache_control[32];
	char nosniff[32]; /* X-Content-Type-Options */
	/* CORS: Access-Control-Allow-Origin, -Methods, -Headers, -Max-Age,
	 * -Expose-Headers; Vary */
	char acao[300], acam[64], acah[160], max_age[16], expose[32], vary[32];
};

struct upload {
	const char *data;
	size_t len, pos;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, k < room ? k : room);
	r->len += k < room ? k : room;
	r->body[r->len] = '\0';
	return k;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name), v;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	line += n + 1;
	len -= n + 1;
	while (len && *line == ' ')
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	v = len < size - 1 ? len : size - 1;
	memcpy(out, line, v);
	out[v] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	header_value(p, size * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
	header_value(p, size * n, "Allow", r->allow, sizeof(r->allow));
	header_value(p, size * n, "Content-Type", r->content_type, sizeof(r->content_type));
	header_value(p, size * n, "Cache-Control", r->cache_control, sizeof(r->cache_control));
	header_value(p, size * n, "X-Content-Type-Options", r->nosniff, sizeof(r->nosniff));
	header_value(p, size * n, "Access-Control-Allow-Origin", r->acao, sizeof(r->acao));
	header_value(p, size * n, "Access-Control-Allow-Methods", r->acam, sizeof(r->acam));
	header_value(p, size * n, "Access-Control-Allow-Headers", r->acah, sizeof(r->acah));
	header_value(p, size * n, "Access-Control-Max-Age", r->max_age, sizeof(r->max_age));
	header_value(p, size * n, "Access-Control-Expose-Headers", r->expose, sizeof(r->expose));
	header_value(p, size * n, "Vary", r->vary, sizeof(r->vary));
	return size * n;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = size * n, left = u->len - u->pos;

	if (k > left)
		k = left;
	memcpy(p, u->data + u->pos, k);
	u->pos += k;
	return k;
}

/* One request.  body NULL: no body.  headers: NULL-terminated, or NULL. */
static void http_do(int port, const char *method, const char *path, const char *body,
		    size_t len, int chunked, const char *const *headers, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct upload up = {body, len, 0};
	char url[512];
	int is_expecting = 0;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	/* no 100-continue wait unless the caller asks for one: curl obeys the
	 * first Expect header of the list, so an "Expect:" before the caller's
	 * "Expect: 100-continue" would send the body at once (and a refusal
	 * answered from the headers then races the upload: a reset) */
	for (size_t i = 0; headers && headers[i]; i++)
		if (strncasecmp(headers[i], "Expect:", 7) == 0)
			is_expecting = 1;
	if (!is_expecting)
		hl = curl_slist_append(hl, "Expect:");
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (is_expecting) /* wait for the answer to the headers, however slow */
		curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 20000L);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (body && chunked) {
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    !(strcmp(method, "POST") == 0 && body))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

static void post(struct world *w, const char *path, const char *body, struct resp *r)
{
	http_do(w->port, "POST", path, body, strlen(body), 0, NULL, r);
}

/* The "error.code" of a JSON error body, into buf ("" if none). */
static const char *error_code(const struct resp *r, char *buf, size_t size)
{
	json_t *o = json_loads(r->body, 0, NULL);
	const char *code = json_string_value(json_object_get(json_object_get(o, "error"), "code"));

	snprintf(buf, size, "%s", code ? code : "");
	json_decref(o);
	return buf;
}

#define ASSERT_ERROR(r, st, code)                                                       \
	do {                                                                             \
		char code_buf_[64];                                                      \
		CU_ASSERT_EQUAL((r)->status, (st));                                     \
		CU_ASSERT_STRING_EQUAL(error_code((r), code_buf_, sizeof(code_buf_)), (code)); \
	} while (0)

/* ---- compression ------------------------------------------------------ */

/* ---- raw sockets (clients that misbehave) ----------------------------- */

static int raw_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads until the peer closes or ms pass.  Returns the bytes read into buf
 * (NUL-terminated); *closed tells whether the peer closed. */
static size_t raw_read_all(int fd, char *buf, size_t size, int ms, int *closed)
{
	int64_t until = time_mono_ms() + ms;
	size_t len = 0;

	*closed = 0;
	buf[0] = '\0';
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = until - time_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0) {
			*closed = n == 0 || errno == ECONNRESET;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (len == size - 1)
			break;
	}
	return len;
}

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
 * get the usual ones. */
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
	http_do(w.port, "OPTIONS", "/in/web/v1/reject", NULL, 0, 0, odd, &r);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_STRING_EQUAL(r.acah, "Authorization, Content-Type, Content-Encoding");
	http_do(w.port, "OPTIONS", "/in/web/v1/echo", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_STRING_EQUAL(r.allow, "POST, PUT, OPTIONS");
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
 * (its first 12 bytes) into status. */
static void healthz_with_header_of(int port, size_t pad, char status[13])
{
	size_t cap = pad + 128, len;
	char *req = malloc(cap), buf[4096];
	int fd = raw_connect(port), closed;

	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	CU_ASSERT_FATAL(fd >= 0);
	len = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ");
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

/* 1 when a new connection's GET /readyz is answered 503 "stopping". */
static int readyz_says_stopping(void *arg)
{
	static const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[1024];
	int fd = raw_connect(*(int *)arg), closed;

	if (fd < 0)
		return 0;
	buf[0] = '\0';
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1)
		raw_read_all(fd, buf, sizeof(buf), 2000, &closed);
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
	struct bg_stop s;
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

/* http.stop_delay: a stopping hub answers /readyz 503 "stopping" while it
 * still serves every other request (ingestion stored, /healthz 200), so
 * that a load balancer takes it out before the drain refuses them; a load
 * balancer used to see the hub ready until the drain's own 503s. */
static void test_stop_delay_answers_readyz_503_while_serving(void)
{
	struct world w;
	struct bg_stop s = {0};
	struct resp r;
	int is_delaying;

	world_open(&w, "  stop_delay: 5s\n", NULL);
	CU_ASSERT_EQUAL(w.th->cfg->http_stop_delay_ms, 5000);
	http_do(w.port, "GET", "/readyz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	s.srv = w.srv;
	is_delaying = pthread_create(&s.thread, NULL, bg_stop_delay_main, &s) == 0;
	CU_ASSERT_FATAL(is_delaying);
	CU_ASSERT(wait_until(readyz_says_leaving, &w.port));
	post(&w, "/in/web/v1/echo", "sd-1\n", &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(world_has_installation(&w, "sd-1"));
	http_do(w.port, "GET", "/healthz", NULL, 0, 0, NULL, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(!atomic_load(&s.is_done)); /* all that within the delay */
	pthread_join(s.thread, NULL);
	CU_ASSERT(atomic_load(&s.is_done));
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

	world_open(&w, "  timeout: 2s\n  max_connections: 4\n", NULL);
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
 * (400 body_not_taken, a POST's body not being empty or {}); one byte more is a 413 once read; past twice the limit the
 * connection is closed unanswered rather than read on. */
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

	world_start(&w, API_MAX_BODY, 1, "  timeout: 2s\n",
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

/* ---- tests: the webhook export as a client ----------------------------- */

/* A receiver that answers each of `answers` to one request, in turn, and
 * keeps the start of each request (up to 4) in `seen`. */
struct receiver {
	int lfd, port;
	const char *const *answers;
	size_t n_answers;
	pthread_t thread;
	char seen[4][2048];
};

/* Reads one request: its headers, then Content-Length bytes of body; its
 * start is copied to `out`. */
static void receiver_read(int fd, char *out, size_t out_size)
{
	char buf[16384], *end;
	size_t len = 0, want = (size_t)-1;
	int closed;

	buf[0] = '\0';

	while (len < want && len < sizeof(buf) - 1) {
		size_t n = raw_read_all(fd, buf + len, sizeof(buf) - len, 50, &closed);
		len += n;
		if (closed || (n == 0 && want == (size_t)-1 && len == 0))
			break;
		if (want == (size_t)-1 && (end = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		}
	}
	buf[len] = '\0';
	snprintf(out, out_size, "%s", buf);
}

static void *receiver_main(void *arg)
{
	struct receiver *r = arg;

	for (size_t i = 0; i < r->n_answers; i++) {
		int fd = accept(r->lfd, NULL, NULL);
		if (fd < 0)
			break;
		receiver_read(fd, r->seen[i < 4 ? i : 3], sizeof(r->seen[0]));
		(void)send(fd, r->answers[i], strlen(r->answers[i]), MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static void receiver_start(struct receiver *r, const char *const *answers, size_t n)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(r, 0, sizeof(*r));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(r->lfd >= 0);
	CU_ASSERT_FATAL(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(r->lfd, 4) == 0);
	CU_ASSERT_FATAL(getsockname(r->lfd, (struct sockaddr *)&sa, &sl) == 0);
	r->port = ntohs(sa.sin_port);
	r->answers = answers;
	r->n_answers = n;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&r->thread, NULL, receiver_main, r), 0);
}

static const char webhook_ok[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/* A hub with export crm, a webhook.so instance with `keys` (its YAML
 * lines after "plugin: webhook"): loaded into *mod, created as *inst;
 * plugin_instance_create()'s rc (0: created), its message in err. */
static struct testhub *webhook_create_from(const char *keys, struct plugin_module *mod,
					   struct hub_instance **inst, int *rc, char *err,
					   size_t err_size)
{
	struct testhub *th;
	char *so, *yaml;

	CU_ASSERT_FATAL(asprintf(&yaml, "exports:\n  - name: crm\n    plugin: webhook\n%s",
				 keys) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_FATAL(asprintf(&so, "%s/plugins/webhook.so", testlib_build_dir()) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_load(so, mod, err, err_size), 0);
	free(so);
	*rc = plugin_instance_create(mod, &th->cfg->exports[0], inst, err, err_size);
	return th;
}

/* How many lines YAML text has (its newlines). */
static int yaml_lines(const char *yaml)
{
	int n = 0;

	for (const char *p = yaml; *p; p++)
		n += *p == '\n';
	return n;
}

/* The same, posting to `url` with `timeout` and the test's secret. */
static struct testhub *webhook_try_open(const char *url, const char *timeout,
					struct plugin_module *mod, struct hub_instance **inst,
					int *rc, char *err, size_t err_size)
{
	struct testhub *th;
	char *keys;

	CU_ASSERT_FATAL(asprintf(&keys, "    url: %s\n    secret: whsec-test\n    timeout: %s\n",
				 url, timeout) > 0);
	th = webhook_create_from(keys, mod, inst, rc, err, err_size);
	free(keys);
	return th;
}

static struct testhub *webhook_open(int port, struct plugin_module *mod,
				    struct hub_instance **inst)
{
	char err[1024], url[64];
	int rc;
	struct testhub *th;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
	th = webhook_try_open(url, "5s", mod, inst, &rc, err, sizeof(err));

	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return th;
}

/* Retry-After's value may follow spaces or tabs (RFC 9110's OWS): a tab
 * used to send the value to curl_getdate(), which made it no delay at all
 * (fuzz_answers found it). */
static void test_webhook_reads_retry_after_after_spaces_or_tabs(void)
{
	static const char *const answers[] = {
		"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 0\r\n"
		"Connection: close\r\n\r\n",
		"HTTP/1.1 429 Too Many\r\nRetry-After:\t8\r\nContent-Length: 0\r\n"
		"Connection: close\r\n\r\n",
		"HTTP/1.1 503 Busy\r\nretry-after: \t 9 \r\nContent-Length: 0\r\n"
		"Connection: close\r\n\r\n",
		"HTTP/1.1 503 Busy\r\nRetry-After: soon\r\nContent-Length: 0\r\n"
		"Connection: close\r\n\r\n",
	};
	static const char *const expected[] = {"retry after 7s: HTTP 429 from ",
					       "retry after 8s: HTTP 429 from ",
					       "retry after 9s: HTTP 503 from ", "HTTP 503 from "};
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	struct receiver r;
	char err[1024];
	size_t n_done;

	receiver_start(&r, answers, ARRAY_SIZE(answers));
	th = webhook_open(r.port, &mod, &inst);
	for (size_t i = 0; i < ARRAY_SIZE(answers); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
						       sizeof(err)), HUB_RETRY);
		CU_ASSERT_EQUAL(strncmp(err, expected[i], strlen(expected[i])), 0);
		if (strncmp(err, expected[i], strlen(expected[i])) != 0)
			fprintf(stderr, "\n  answer %zu: \"%s\"\n", i, err);
	}
	pthread_join(r.thread, NULL);
	close(r.lfd);
	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
}

/* 425 Too Early is retried, as RFC 8470 means (it was "other 4xx": each
 * change sent alone, then dead-lettered); another 4xx is still refused. */
static void test_webhook_retries_a_425_too_early(void)
{
	static const char *const answers[] = {
		"HTTP/1.1 425 Too Early\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	};
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	struct receiver r;
	char err[1024] = "";
	size_t n_done = 9;

	receiver_start(&r, answers, ARRAY_SIZE(answers));
	th = webhook_open(r.port, &mod, &inst);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
					       sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_EQUAL(strncmp(err, "HTTP 425 from ", 14), 0);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
					       sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 0);
	pthread_join(r.thread, NULL);
	close(r.lfd);
	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
}

/* What each answer means for the batch (webhook.c's table): 2xx done;
 * 408, 429 (Retry-After also as an HTTP date) and 5xx retried; 401, 403,
 * 407 refused credentials; 3xx not followed, its Location named by its
 * origin (where to point url; never its user info, path or query, which
 * may hold credentials), relative ones resolved: it named the receiver's
 * only, which the operator knew; another 4xx bad data, its
 * message ending with the answer's length, media type and first 200
 * bytes, printable, a word that may identify someone redacted (it went to
 * the log, the last error and the dead letter as the receiver wrote it). */
static void test_webhook_answers_by_status(void)
{
#define ANSWER(status, head) "HTTP/1.1 " status "\r\n" head "Connection: close\r\n"
#define NO_BODY "Content-Length: 0\r\n\r\n"
	static const struct {
		const char *answer;
		hub_rc rc;
		size_t n_done;
		const char *message; /* its start, then the origin */
		const char *tail;    /* what follows "<origin>" */
	} rows[] = {
		{ANSWER("204 No Content", "") NO_BODY, HUB_OK, 1, "", ""},
		{ANSWER("299 Fine", "") NO_BODY, HUB_OK, 1, "", ""},
		{ANSWER("408 Timeout", "") NO_BODY, HUB_RETRY, 0, "HTTP 408 from ", ""},
		{ANSWER("429 Slow", "Retry-After: Fri, 31 Dec 2100 23:59:59 GMT\r\n") NO_BODY,
		 HUB_RETRY, 0, "retry after ", ""},
		{ANSWER("500 Oops", "") NO_BODY, HUB_RETRY, 0, "HTTP 500 from ", ""},
		{ANSWER("401 Who", "") NO_BODY, HUB_ERR_AUTH, 0, "HTTP 401 from ",
		 ": credentials refused"},
		{ANSWER("403 No", "") NO_BODY, HUB_ERR_AUTH, 0, "HTTP 403 from ",
		 ": credentials refused"},
		{ANSWER("407 Proxy", "") NO_BODY, HUB_ERR_AUTH, 0, "HTTP 407 from ",
		 ": credentials refused"},
		{ANSWER("301 Moved", "Location: http://127.0.0.1:1/\r\n") NO_BODY, HUB_ERR_CONFIG,
		 0, "HTTP 301 from ", ": redirects are not followed; its Location is at "
		 "http://127.0.0.1:1: set the export's url there if that is the receiver"},
		{ANSWER("302 Found", "location:  https://ann:pw@crm.example/v2/hook?token=t0k \r\n")
		 NO_BODY, HUB_ERR_CONFIG, 0, "HTTP 302 from ", ": redirects are not followed; its "
		 "Location is at https://crm.example:443: set the export's url there if that is the "
		 "receiver"},
		{ANSWER("307 Temporary", "Location: /v2/hook?token=t0k\r\n") NO_BODY, HUB_ERR_CONFIG,
		 0, "HTTP 307 from ", ": redirects are not followed; its Location is another path "
		 "at the same origin: check the path of the export's url"},
		{ANSWER("308 Permanent", "") NO_BODY, HUB_ERR_CONFIG, 0, "HTTP 308 from ",
		 ": redirects are not followed (no Location given)"},
		{ANSWER("301 Moved", "Location: ftp://crm.example/hook\r\n") NO_BODY, HUB_ERR_CONFIG,
		 0, "HTTP 301 from ", ": redirects are not followed (its Location is not an http(s)"
		 " URL)"},
		{ANSWER("422 Nope", "") NO_BODY, HUB_ERR_DATA, 0, "HTTP 422 from ", " (no body)"},
		{ANSWER("422 Echo", "Content-Type: application/json; charset=utf-8\r\n"
			"Content-Length: 79\r\n") "\r\n"
		 "{\"error\":\"invalid email ann@example.com\",\"phone\":\"+15551234567\","
		 "\"code\":\"E_BAD\"}",
		 HUB_ERR_DATA, 0, "HTTP 422 from ",
		 " (79 bytes, application/json): {\"error\":\"invalid email [redacted]\","
		 "\"phone\":\"[redacted]\",\"code\":\"E_BAD\"}"},
		/* an email URL-encoded, a run of 3 digits; 2 digits stay */
		{ANSWER("422 Echo", "Content-Type: text/plain\r\nContent-Length: 38\r\n") "\r\n"
		 "user ann%40example.com id 123 code E12",
		 HUB_ERR_DATA, 0, "HTTP 422 from ",
		 " (38 bytes, text/plain): user [redacted] id [redacted] code E12"},
		{NULL, HUB_ERR_DATA, 0, "HTTP 400 from ", NULL}, /* made below */
	};
	const char *answers[ARRAY_SIZE(rows)];
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	struct receiver r;
	char err[1024], want[1024], bad[512], tail[256], *p;
	size_t n_done;

	/* 301 bytes: a control byte, 250 a, 50 b; the message keeps 200, less
	 * the word the cut ends (it may be an identifier cut before its '@') */
	p = bad + sprintf(bad, ANSWER("400 Bad", "Content-Length: 301\r\n") "\r\n\x01");
	memset(p, 'a', 250);
	p += 250;
	memset(p, 'b', 50);
	p[50] = '\0';
	snprintf(tail, sizeof(tail), " (301 bytes):  ...");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		answers[i] = rows[i].answer ? rows[i].answer : bad;
	receiver_start(&r, answers, ARRAY_SIZE(answers));
	th = webhook_open(r.port, &mod, &inst);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		err[0] = '\0';
		n_done = 9;
		CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
						       sizeof(err)), rows[i].rc);
		CU_ASSERT_EQUAL(n_done, rows[i].n_done);
		if (rows[i].rc == HUB_OK)
			continue;
		if (strcmp(rows[i].message, "retry after ") == 0) {
			CU_ASSERT_EQUAL(strncmp(err, "retry after ", 12), 0);
			CU_ASSERT(atol(err + 12) > 86400);
			continue;
		}
		snprintf(want, sizeof(want), "%shttp://127.0.0.1:%d%s", rows[i].message, r.port,
			 rows[i].tail ? rows[i].tail : tail);
		if (strcmp(err, want) != 0)
			fprintf(stderr, "\n  answer %zu: \"%s\"\n", i, err);
		CU_ASSERT_STRING_EQUAL(err, want);
	}
	pthread_join(r.thread, NULL);
	close(r.lfd);
	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
#undef ANSWER
#undef NO_BODY
}

/* A receiver that cannot be reached (connection refused) is retried,
 * named by its origin. */
static void test_webhook_retries_when_the_receiver_is_down(void)
{
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	char err[1024] = "", want[64];
	size_t n_done = 9;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a port bound and not listening, kept so: connect() is refused, and
	 * no other process (a test beside this one, its server on a free port)
	 * can take it meanwhile, as it could a port closed again */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	th = webhook_open(ntohs(sa.sin_port), &mod, &inst);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
					       sizeof(err)), HUB_RETRY);
	close(fd);
	CU_ASSERT_EQUAL(n_done, 0);
	snprintf(want, sizeof(want), "POST to http://127.0.0.1:%d: ", ntohs(sa.sin_port));
	CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
}

/* A timeout of 0 would be none at all (curl's 0): refused at create. */
static void test_webhook_timeout_must_be_positive(void)
{
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	char err[1024] = "";
	int rc = 0;
	struct testhub *th = webhook_try_open("http://127.0.0.1:1/hook", "0s", &mod, &inst, &rc,
					      err, sizeof(err));

	CU_ASSERT_NOT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(err,
			       "exports[0] \"crm\" (plugin webhook): timeout must be positive");
	if (rc == 0)
		plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
}

/* The url must be http:// or https:// (what curl would otherwise try:
 * file://, ftp://, a bare host:port): refused at create, naming where the
 * key is; no test held it. */
static void test_webhook_url_must_be_http_or_https(void)
{
	static const char *const bad[] = {"file:///etc/passwd", "ftp://127.0.0.1/hook",
					  "127.0.0.1:8080/hook"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct plugin_module mod;
		struct hub_instance *inst = NULL;
		char err[1024] = "";
		int rc = 0;
		struct testhub *th = webhook_try_open(bad[i], "5s", &mod, &inst, &rc, err,
						      sizeof(err));
		char expected[256];

		/* url's line: the 4th of the exports after the store's (2 lines on
		 * SQLite, 4 on PostgreSQL) */
		snprintf(expected, sizeof(expected),
			 "test.yaml:%d:10: exports[0] \"crm\" (plugin webhook): url: not an "
			 "http:// or https:// URL", yaml_lines(th->store_yaml) + 4);
		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(err, expected);
		if (rc == 0)
			plugin_instance_destroy(inst);
		plugin_unload(&mod);
		testhub_stop(th);
	}
}

/*
 * The Idempotency-Key is the range the host planned the batch over
 * (batch_range(), ABI 1.4), not the seqs handed over: a batch sent again
 * after an erase took some of its changes out keeps its key.  Without a
 * range (an older host; here no call) it is the seqs of the first and
 * last change.
 */
static void test_webhook_key_is_the_planned_range(void)
{
	static const char *const answers[] = {webhook_ok, webhook_ok};
	const char *changes[] = {"{\"seq\": 3, \"kind\": \"profile_updated\"}",
				 "{\"seq\": 5, \"kind\": \"profile_updated\"}"};
	struct hub_call call = {.batch_first = 1, .batch_last = 9};
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	struct receiver r;
	char err[1024];
	size_t n_done = 0;

	receiver_start(&r, answers, ARRAY_SIZE(answers));
	th = webhook_open(r.port, &mod, &inst);
	call.inst = inst;
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, &call, changes, 2, &n_done, err,
					       sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 2);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 2, &n_done, err,
					       sizeof(err)), HUB_OK);
	pthread_join(r.thread, NULL);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(r.seen[0], "\r\nIdempotency-Key: crm-1-9\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strcasestr(r.seen[1], "\r\nIdempotency-Key: crm-3-5\r\n"));
	close(r.lfd);
	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
}

/* The value of header `name` in a raw request, or "" (at most size - 1
 * bytes). */
static void request_header(const char *request, const char *name, char *out, size_t size)
{
	char want[128];
	const char *at;
	size_t n;

	snprintf(want, sizeof(want), "\r\n%s: ", name);
	out[0] = '\0';
	if (!(at = strcasestr(request, want)))
		return;
	at += strlen(want);
	n = strcspn(at, "\r");
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), at);
}

/* "v1=" and the hex HMAC-SHA256 under the test's secret of "stamp.key.body". */
static void expected_signature(const char *stamp, const char *key, const char *body,
			       char out[3 + 2 * EVP_MAX_MD_SIZE + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char *msg = NULL;

	CU_ASSERT_FATAL(asprintf(&msg, "%s.%s.%s", stamp, key, body) > 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(HMAC(EVP_sha256(), "whsec-test", 10,
					  (const unsigned char *)msg, strlen(msg), mac, &mac_len));
	free(msg);
	strcpy(out, "v1=");
	for (unsigned int i = 0; i < mac_len; i++)
		sprintf(out + 3 + 2 * i, "%02x", mac[i]);
}

/*
 * The signature covers the send time and the Idempotency-Key as well as
 * the body: "v1=" HMAC-SHA256("<X-Profilehub-Timestamp>.<key>.<body>").
 * It signed the body alone, so a captured request could be sent again at
 * any time, and under another key, past a receiver's deduplication.
 */
static void test_webhook_signs_the_time_the_key_and_the_body(void)
{
	static const char *const answers[] = {webhook_ok};
	const char *changes[] = {"{\"seq\": 3, \"kind\": \"profile_updated\"}"};
	struct hub_call call = {.batch_first = 1, .batch_last = 9};
	char err[1024], stamp[32], sig[256], want[3 + 2 * EVP_MAX_MD_SIZE + 1];
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	struct receiver r;
	size_t n_done = 0;
	const char *body;
	time_t before, after;

	receiver_start(&r, answers, ARRAY_SIZE(answers));
	th = webhook_open(r.port, &mod, &inst);
	call.inst = inst;
	before = time(NULL);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, &call, changes, 1, &n_done, err,
					       sizeof(err)), HUB_OK);
	after = time(NULL);
	pthread_join(r.thread, NULL);
	request_header(r.seen[0], "X-Profilehub-Timestamp", stamp, sizeof(stamp));
	request_header(r.seen[0], "X-Profilehub-Signature", sig, sizeof(sig));
	body = strstr(r.seen[0], "\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	body += 4;
	CU_ASSERT_STRING_EQUAL(body, "{\"changes\":[{\"seq\": 3, \"kind\": \"profile_updated\"}]}");
	/* the time of the attempt, in unix seconds */
	CU_ASSERT(stamp[0] != '\0' && strspn(stamp, "0123456789") == strlen(stamp));
	CU_ASSERT(strtoll(stamp, NULL, 10) >= (long long)before &&
		  strtoll(stamp, NULL, 10) <= (long long)after);
	expected_signature(stamp, "crm-1-9", body, want);
	CU_ASSERT_STRING_EQUAL(sig, want);
	CU_ASSERT_PTR_NULL(strstr(r.seen[0], "whsec-test"));
	close(r.lfd);
	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
}

/* A webhook.so instance posting to a receiver answering `answers` in turn
 * (the tests below, each a few exports against one receiver). */
struct hook {
	struct plugin_module mod;
	struct hub_instance *inst;
	struct testhub *th;
	struct receiver r;
};

static void hook_open(struct hook *h, const char *const *answers, size_t n)
{
	receiver_start(&h->r, answers, n);
	h->th = webhook_open(h->r.port, &h->mod, &h->inst);
}

/* One change, seq 1, sent alone (no call); the rc, the message in err. */
static hub_rc hook_send_one(struct hook *h, size_t *n_done, char *err, size_t err_size)
{
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};

	err[0] = '\0';
	*n_done = 9;
	return h->mod.desc->export_batch(h->inst->state, NULL, changes, 1, n_done, err, err_size);
}

/* The instance, its plugin and its hub, gone. */
static void webhook_close(struct plugin_module *mod, struct hub_instance *inst,
			  struct testhub *th)
{
	plugin_instance_destroy(inst);
	plugin_unload(mod);
	testhub_stop(th);
}

/* After the receiver answered every answer. */
static void hook_close(struct hook *h)
{
	pthread_join(h->r.thread, NULL);
	close(h->r.lfd);
	webhook_close(&h->mod, h->inst, h->th);
}

/* A port on 127.0.0.1 bound and not listening, *fd kept open till the
 * test closes it: connect() is refused, and no other process takes it. */
static int refusing_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(*fd >= 0 && bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(getsockname(*fd, (struct sockaddr *)&sa, &sl) == 0);
	return ntohs(sa.sin_port);
}

/* The batch is one POST to the url's path: Content-Type application/json,
 * the body {"changes":[...]} with every change once, in order, commas
 * between them, Content-Length its exact size; no test sent more than two
 * changes nor read the body of a batch of several. */
static void test_webhook_posts_the_changes_as_one_json_array(void)
{
	static const char *const answers[] = {webhook_ok};
	const char *changes[] = {"{\"seq\": 3, \"kind\": \"a\"}", "{\"seq\": 4, \"kind\": \"b\"}",
				 "{\"seq\": 6, \"kind\": \"c\"}"};
	struct hub_call call = {.batch_first = 3, .batch_last = 6};
	char err[1024], want[256], type[64], length[32];
	struct hook h;
	size_t n_done = 0;
	const char *body;

	hook_open(&h, answers, ARRAY_SIZE(answers));
	call.inst = h.inst;
	CU_ASSERT_EQUAL(h.mod.desc->export_batch(h.inst->state, &call, changes, 3, &n_done, err,
						 sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 3);
	hook_close(&h);
	CU_ASSERT_EQUAL(strncmp(h.r.seen[0], "POST /hook HTTP/1.1\r\n", 21), 0);
	request_header(h.r.seen[0], "Content-Type", type, sizeof(type));
	CU_ASSERT_STRING_EQUAL(type, "application/json");
	snprintf(want, sizeof(want), "{\"changes\":[%s,%s,%s]}", changes[0], changes[1],
		 changes[2]);
	body = strstr(h.r.seen[0], "\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	CU_ASSERT_STRING_EQUAL(body + 4, want);
	request_header(h.r.seen[0], "Content-Length", length, sizeof(length));
	CU_ASSERT_EQUAL(strtoul(length, NULL, 10), strlen(want));
}

/* 404, 405 and 410 say the url is wrong or gone, not the batch: the export
 * stops (HUB_ERR_CONFIG), nothing is dead-lettered; the message says why
 * and points at the url.  Only export_webhook.sh's 404 held one of them. */
static void test_webhook_a_url_without_an_endpoint_is_a_config_error(void)
{
#define REFUSAL(status) "HTTP/1.1 " status "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	static const char *const answers[] = {REFUSAL("404 Not Found"),
					      REFUSAL("405 Not Allowed"), REFUSAL("410 Gone")};
	static const char *const why[][2] = {{"404", "no such endpoint"},
					     {"405", "the endpoint does not take a POST"},
					     {"410", "the endpoint is gone"}};
	char err[1024], want[256];
	struct hook h;
	size_t n_done;

	hook_open(&h, answers, ARRAY_SIZE(answers));
	for (size_t i = 0; i < ARRAY_SIZE(answers); i++) {
		CU_ASSERT_EQUAL(hook_send_one(&h, &n_done, err, sizeof(err)), HUB_ERR_CONFIG);
		CU_ASSERT_EQUAL(n_done, 0);
		snprintf(want, sizeof(want), "HTTP %s from http://127.0.0.1:%d: %s; check the "
			 "export's url", why[i][0], h.r.port, why[i][1]);
		CU_ASSERT_STRING_EQUAL(err, want);
	}
	hook_close(&h);
#undef REFUSAL
}

/* A refusal's message ends with its answer's length and the start of its
 * body: all of it when it came in pieces (chunks), none of an earlier
 * answer's, bytes outside printable ASCII (32 to 126) shown as spaces. */
static void test_webhook_a_refusal_quotes_only_its_own_answer(void)
{
#define REFUSED "HTTP/1.1 422 No\r\nConnection: close\r\n"
	static const char *const answers[] = {
		REFUSED "Content-Length: 5\r\n\r\nfirst",
		REFUSED "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		REFUSED "Content-Length: 7\r\n\r\na\x1f ~\x7f\xffz",
	};
	static const char *const tails[] = {" (5 bytes): first", " (11 bytes): hello world",
					    " (7 bytes): a  ~  z"};
	char err[1024], want[256];
	struct hook h;
	size_t n_done;

	hook_open(&h, answers, ARRAY_SIZE(answers));
	for (size_t i = 0; i < ARRAY_SIZE(answers); i++) {
		CU_ASSERT_EQUAL(hook_send_one(&h, &n_done, err, sizeof(err)), HUB_ERR_DATA);
		snprintf(want, sizeof(want), "HTTP 422 from http://127.0.0.1:%d%s", h.r.port,
			 tails[i]);
		CU_ASSERT_STRING_EQUAL(err, want);
	}
	hook_close(&h);
#undef REFUSED
}

/* An answer of one-byte words a redaction replaces ("@ @ @ ...") makes a
 * message five times as long as its 200 bytes: it overran the buffer the
 * redacted snippet was written to (sized for 4 times). */
static void test_webhook_a_refusal_of_many_short_identifiers(void)
{
	static char answer[512];
	const char *const answers[] = {answer};
	char err[4096], want[2048];
	struct hook h;
	size_t n_done, len;

	len = (size_t)snprintf(answer, sizeof(answer), "HTTP/1.1 422 No\r\nConnection: close\r\n"
			       "Content-Length: 200\r\n\r\n");
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(answer + len, sizeof(answer) - len, "@ ");
	hook_open(&h, answers, ARRAY_SIZE(answers));
	CU_ASSERT_EQUAL(hook_send_one(&h, &n_done, err, sizeof(err)), HUB_ERR_DATA);
	len = (size_t)snprintf(want, sizeof(want),
			       "HTTP 422 from http://127.0.0.1:%d (200 bytes): ", h.r.port);
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(want + len, sizeof(want) - len, "[redacted] ");
	CU_ASSERT_STRING_EQUAL(err, want);
	hook_close(&h);
}

/* An answer longer than the snippet is cut at SNIPPET_MAX (200) bytes: a
 * word the cut ends, which may be the start of an email before its '@'
 * ("ann" of "ann@example.com"), is left out, "..." in its place. */
static void test_webhook_a_refusal_cut_in_a_word_leaves_the_word_out(void)
{
	static char answer[512];
	const char *const answers[] = {answer};
	char err[4096], pad[256];
	struct hook h;
	size_t n_done;

	memset(pad, 'x', 190);
	pad[190] = '\0';
	/* 190 + 5 bytes, then the cut at 200 in "annabel" */
	snprintf(answer, sizeof(answer), "HTTP/1.1 422 No\r\nConnection: close\r\n"
		 "Content-Length: %zu\r\n\r\n%s bad annabel@example.com",
		 strlen(pad) + strlen(" bad annabel@example.com"), pad);
	hook_open(&h, answers, ARRAY_SIZE(answers));
	CU_ASSERT_EQUAL(hook_send_one(&h, &n_done, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_PTR_NULL(strstr(err, "annab"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(214 bytes): "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, " bad ..."));
	hook_close(&h);
}

/* `check --connect`: any answer at all is a receiver (a HEAD, so nothing
 * is posted); none is HUB_RETRY, the message naming the origin only, never
 * the url's path.  No test called check_connect. */
static void test_webhook_check_connect_takes_any_answer_and_posts_nothing(void)
{
	static const char *const answers[] = {
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
	char err[1024] = "", want[64];
	struct hook h;
	int fd, port;

	hook_open(&h, answers, ARRAY_SIZE(answers));
	CU_ASSERT_EQUAL(h.mod.desc->check_connect(h.inst->state, err, sizeof(err)), HUB_OK);
	hook_close(&h);
	CU_ASSERT_EQUAL(strncmp(h.r.seen[0], "HEAD /hook HTTP/1.1\r\n", 21), 0);

	port = refusing_port(&fd);
	h.th = webhook_open(port, &h.mod, &h.inst);
	CU_ASSERT_EQUAL(h.mod.desc->check_connect(h.inst->state, err, sizeof(err)), HUB_RETRY);
	close(fd);
	snprintf(want, sizeof(want), "http://127.0.0.1:%d: ", port);
	CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
	CU_ASSERT_PTR_NULL(strstr(err, "/hook"));
	webhook_close(&h.mod, h.inst, h.th);
}

/* https:// is taken as well as http://, and a url without a port (the
 * scheme's own); no test created an instance but at http://host:port. */
static void test_webhook_takes_https_and_a_url_without_a_port(void)
{
	static const char *const good[] = {"https://127.0.0.1:1/hook", "http://127.0.0.1/hook",
					   "https://127.0.0.1/hook"};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct plugin_module mod;
		struct hub_instance *inst = NULL;
		char err[1024] = "";
		int rc = -1;
		struct testhub *th = webhook_try_open(good[i], "5s", &mod, &inst, &rc, err,
						      sizeof(err));

		CU_ASSERT_EQUAL(rc, 0);
		if (rc != 0)
			fprintf(stderr, "\n  %s: \"%s\"\n", good[i], err);
		else
			plugin_instance_destroy(inst);
		plugin_unload(&mod);
		testhub_stop(th);
	}
}

/* A receiver of one request that answers 200 late: it reads the request,
 * sets `stop` when is_stop_after_request, then waits (at most wait_ms) for
 * the client to give up before it answers.  Its listening socket shut
 * down, it ends at once. */
struct slow_receiver {
	struct receiver r;
	atomic_int stop;
	int is_stop_after_request, wait_ms;
	int is_cut; /* the client closed before the answer */
};

static void *slow_receiver_main(void *arg)
{
	struct slow_receiver *s = arg;
	char buf[256];
	int fd = accept(s->r.lfd, NULL, NULL), closed = 0;

	if (fd < 0)
		return NULL;
	receiver_read(fd, s->r.seen[0], sizeof(s->r.seen[0]));
	if (s->is_stop_after_request)
		atomic_store(&s->stop, 1);
	raw_read_all(fd, buf, sizeof(buf), s->wait_ms, &closed);
	s->is_cut = closed;
	(void)send(fd, webhook_ok, strlen(webhook_ok), MSG_NOSIGNAL);
	close(fd);
	return NULL;
}

static void slow_receiver_start(struct slow_receiver *s, int is_stop_after_request, int wait_ms)
{
	receiver_start(&s->r, NULL, 0);
	pthread_join(s->r.thread, NULL); /* no answers: it ended at once */
	atomic_init(&s->stop, 0);
	s->is_stop_after_request = is_stop_after_request;
	s->wait_ms = wait_ms;
	s->is_cut = 0;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&s->r.thread, NULL, slow_receiver_main, s), 0);
}

/* A stop aborts a batch until its body is sent, never after: then the
 * receiver may have stored it, and its answer is waited for (a stop that
 * cut it made the batch come twice).  No unit test held either side; 1.5
 * s of waiting is more than curl's once a second progress call. */
static void test_webhook_stop_cuts_only_a_batch_not_yet_sent(void)
{
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct slow_receiver s;
	struct hub_call call = {.batch_first = 1, .batch_last = 1, .stop = &s.stop};
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	char err[1024] = "";
	size_t n_done = 9;

	for (int after = 0; after <= 1; after++) {
		slow_receiver_start(&s, after, after ? 1500 : 0);
		atomic_store(&s.stop, !after);
		th = webhook_open(s.r.port, &mod, &inst);
		call.inst = inst;
		CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, &call, changes, 1, &n_done,
						       err, sizeof(err)),
				after ? HUB_OK : HUB_RETRY);
		CU_ASSERT_EQUAL(n_done, after ? 1u : 0u);
		shutdown(s.r.lfd, SHUT_RDWR); /* ends an accept() nobody answered */
		pthread_join(s.r.thread, NULL);
		CU_ASSERT_EQUAL(s.is_cut, 0);
		close(s.r.lfd);
		webhook_close(&mod, inst, th);
	}
}

/* `timeout` bounds the whole request, the wait for the answer included:
 * a receiver that does not answer is given up (HUB_RETRY) at 1 s, long
 * before this one would answer (5 s).  Only export_webhook.sh held it. */
static void test_webhook_timeout_bounds_the_wait_for_the_answer(void)
{
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct slow_receiver s;
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	char err[1024] = "", url[64];
	size_t n_done = 9;
	int rc = -1;

	slow_receiver_start(&s, 0, 5000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", s.r.port);
	th = webhook_try_open(url, "1s", &mod, &inst, &rc, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
					       sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "timed out"));
	pthread_join(s.r.thread, NULL);
	CU_ASSERT_EQUAL(s.is_cut, 1);
	close(s.r.lfd);
	webhook_close(&mod, inst, th);
}

/* Without a `timeout` key the bound is 10 s: an answer after 2 s is
 * taken (as 1 s, it was given up; the receiver's 2 s are its bound of
 * waiting for a client that gives up, and this one does not). */
static void test_webhook_default_timeout_outlasts_a_2s_answer(void)
{
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	struct slow_receiver s;
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	char err[1024] = "", *keys;
	size_t n_done = 9;
	int rc = -1;

	slow_receiver_start(&s, 0, 2000);
	CU_ASSERT_FATAL(asprintf(&keys, "    url: http://127.0.0.1:%d/hook\n"
				 "    secret: whsec-test\n", s.r.port) > 0);
	th = webhook_create_from(keys, &mod, &inst, &rc, err, sizeof(err));
	free(keys);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
					       sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	pthread_join(s.r.thread, NULL);
	CU_ASSERT_EQUAL(s.is_cut, 0);
	close(s.r.lfd);
	webhook_close(&mod, inst, th);
}

/* A batch of no change is done at once: nothing is sent (the receiver's
 * port refuses connections) and it is not a failure. */
static void test_webhook_an_empty_batch_sends_nothing(void)
{
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct testhub *th;
	char err[1024] = "";
	size_t n_done = 9;
	int fd;

	th = webhook_open(refusing_port(&fd), &mod, &inst);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, NULL, 0, &n_done, err,
					       sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	close(fd);
	webhook_close(&mod, inst, th);
}

/* A batch over 1 MiB goes without "Expect: 100-continue" (curl's own for
 * such bodies): each would wait a second for a "100 Continue" most
 * receivers never send.  Only the request's head is read here. */
static void test_webhook_a_big_batch_does_not_wait_for_100_continue(void)
{
	static const char *const answers[] = {webhook_ok};
	static const char head[] = "{\"seq\": 1, \"pad\": \"", tail[] = "\"}";
	size_t pad = 1100 * 1024;
	char *big = malloc(sizeof(head) + pad + sizeof(tail)), err[1024], expect[64];
	const char *changes[1];
	struct hook h;
	size_t n_done;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memcpy(big, head, sizeof(head) - 1);
	memset(big + sizeof(head) - 1, 'a', pad);
	memcpy(big + sizeof(head) - 1 + pad, tail, sizeof(tail));
	changes[0] = big;
	hook_open(&h, answers, ARRAY_SIZE(answers));
	/* the receiver answers before it read the whole body: any rc */
	(void)h.mod.desc->export_batch(h.inst->state, NULL, changes, 1, &n_done, err,
				       sizeof(err));
	hook_close(&h);
	CU_ASSERT_EQUAL(strncmp(h.r.seen[0], "POST /hook HTTP/1.1\r\n", 21), 0);
	request_header(h.r.seen[0], "Expect", expect, sizeof(expect));
	CU_ASSERT_STRING_EQUAL(expect, "");
	free(big);
}

/* url and secret are required, the secret not empty: an export without
 * one is refused at create, naming the key (an unset one was taken, and
 * failed as out of memory). */
static void test_webhook_url_and_secret_are_required(void)
{
	static const char *const rows[][2] = {
		{"    url: http://127.0.0.1:1/hook\n", "missing required key \"secret\""},
		{"    secret: whsec-test\n", "missing required key \"url\""},
		{"    url: http://127.0.0.1:1/hook\n    secret: \"\"\n",
		 "secret: must not be empty"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct plugin_module mod;
		struct hub_instance *inst = NULL;
		char err[1024] = "";
		int rc = 0;
		struct testhub *th = webhook_create_from(rows[i][0], &mod, &inst, &rc, err,
							 sizeof(err));

		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i][1]));
		if (!strstr(err, rows[i][1]))
			fprintf(stderr, "\n  row %zu: \"%s\"\n", i, err);
		if (rc == 0)
			plugin_instance_destroy(inst);
		plugin_unload(&mod);
		testhub_stop(th);
	}
}

/* ---- the webhook export over TLS ---------------------------------------- */

/* A self-signed P-256 certificate for `san` ("IP:127.0.0.1",
 * "DNS:localhost"), its key in *key. */
static X509 *tls_cert_new(const char *san, EVP_PKEY **key)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;

	*key = EVP_EC_gen("P-256");
	CU_ASSERT_FATAL(x && *key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, *key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"receiver",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	CU_ASSERT_FATAL(ext != NULL);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	CU_ASSERT_FATAL(X509_sign(x, *key, EVP_sha256()) > 0);
	return x;
}

/* The certificate as a PEM file in dir (malloc'd path). */
static char *tls_cert_file(const char *dir, const char *name, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem, *path;
	long n;

	CU_ASSERT_FATAL(b && PEM_write_bio_X509(b, x) == 1);
	n = BIO_get_mem_data(b, &pem);
	pem = strndup(pem, (size_t)n);
	path = testlib_write_file(dir, name, pem);
	free(pem);
	BIO_free(b);
	return path;
}

/* A TLS receiver of n_conn connections, each: the handshake, then (if it
 * passed) one request read, counted in n_requests, and answered 200. */
struct tls_receiver {
	struct receiver r;
	SSL_CTX *ctx;
	int n_conn, n_requests;
};

/* The request read whole: a HEAD's headers, a POST's body ("}]}" ends it). */
static int tls_request_is_whole(const char *buf)
{
	return strstr(buf, "\r\n\r\n") && (strncmp(buf, "HEAD ", 5) == 0 || strstr(buf, "}]}"));
}

static void tls_receiver_serve(struct tls_receiver *t, int fd)
{
	struct timeval guard = {.tv_sec = 5}; /* a client that hangs: not forever */
	char buf[4096] = "";
	size_t len = 0;
	SSL *ssl = SSL_new(t->ctx);
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		while (!tls_request_is_whole(buf) && len < sizeof(buf) - 1 &&
		       (n = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len))) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
		}
		if (tls_request_is_whole(buf)) {
			t->n_requests++;
			(void)SSL_write(ssl, webhook_ok, (int)strlen(webhook_ok));
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
}

static void *tls_receiver_main(void *arg)
{
	struct tls_receiver *t = arg;
	sigset_t sigpipe;

	/* a client that gave up: a write fails, the process is not killed */
	sigemptyset(&sigpipe);
	sigaddset(&sigpipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigpipe, NULL);
	for (int i = 0; i < t->n_conn; i++) {
		int fd = accept(t->r.lfd, NULL, NULL);
		if (fd < 0)
			break;
		tls_receiver_serve(t, fd);
		close(fd);
	}
	return NULL;
}

/* Over https:// the receiver's certificate is verified, its chain and its
 * name: a certificate `ca_file` names and made for 127.0.0.1 is taken; the
 * same certificate without `ca_file` (the system's CAs), or one made for
 * another name, is refused before anything is sent.  No test spoke TLS. */
static void test_webhook_verifies_the_receivers_certificate(void)
{
	static const struct {
		const char *san;
		int has_ca_file;
		hub_rc rc;
	} rows[] = {
		{"IP:127.0.0.1", 1, HUB_OK},
		{"IP:127.0.0.1", 0, HUB_RETRY},
		{"DNS:localhost", 1, HUB_RETRY},
	};
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	char *dir = testlib_mkdtemp();

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct tls_receiver t = {.ctx = SSL_CTX_new(TLS_server_method()),
					 .n_conn = rows[i].rc == HUB_OK ? 2 : 1};
		struct plugin_module mod;
		struct hub_instance *inst = NULL;
		EVP_PKEY *key;
		X509 *x = tls_cert_new(rows[i].san, &key);
		char *ca = tls_cert_file(dir, "ca.pem", x), *keys, err[1024] = "";
		size_t n_done = 9;
		int rc;
		struct testhub *th;

		CU_ASSERT_FATAL(t.ctx && SSL_CTX_use_certificate(t.ctx, x) == 1 &&
				SSL_CTX_use_PrivateKey(t.ctx, key) == 1);
		receiver_start(&t.r, NULL, 0);
		pthread_join(t.r.thread, NULL); /* no answers: it ended at once */
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t.r.thread, NULL, tls_receiver_main, &t), 0);
		CU_ASSERT_FATAL(asprintf(&keys, "    url: https://127.0.0.1:%d/hook\n"
					 "    secret: whsec-test\n%s%s%s", t.r.port,
					 rows[i].has_ca_file ? "    ca_file: " : "",
					 rows[i].has_ca_file ? ca : "",
					 rows[i].has_ca_file ? "\n" : "") > 0);
		th = webhook_create_from(keys, &mod, &inst, &rc, err, sizeof(err));
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
						       sizeof(err)), rows[i].rc);
		CU_ASSERT_EQUAL(n_done, rows[i].rc == HUB_OK ? 1u : 0u);
		/* `check --connect` takes the same certificate */
		if (rows[i].rc == HUB_OK)
			CU_ASSERT_EQUAL(mod.desc->check_connect(inst->state, err, sizeof(err)),
					HUB_OK);
		pthread_join(t.r.thread, NULL);
		CU_ASSERT_EQUAL(t.n_requests, rows[i].rc == HUB_OK ? 2 : 0);
		close(t.r.lfd);
		webhook_close(&mod, inst, th);
		free(keys);
		free(ca);
		X509_free(x);
		EVP_PKEY_free(key);
		SSL_CTX_free(t.ctx);
	}
	testlib_rmtree(dir);
	free(dir);
}

/* A webhook.so instance posting to https://127.0.0.1:port with `ca_file`
 * ca: created (*rc 0) or refused, its message in err. */
static struct testhub *webhook_create_with_ca(int port, const char *ca, struct plugin_module *mod,
					      struct hub_instance **inst, int *rc, char *err,
					      size_t err_size)
{
	struct testhub *th;
	char *keys;

	CU_ASSERT_FATAL(asprintf(&keys, "    url: https://127.0.0.1:%d/hook\n"
				 "    secret: whsec-test\n    ca_file: %s\n", port, ca) > 0);
	th = webhook_create_from(keys, mod, inst, rc, err, err_size);
	free(keys);
	return th;
}

/* The PEM of a P-256 private key (malloc'd): a file that is not a CA. */
static char *tls_key_pem(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long n;

	CU_ASSERT_FATAL(key && b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL));
	n = BIO_get_mem_data(b, &pem);
	pem = strndup(pem, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(key);
	return pem;
}

/* A ca_file that cannot verify a receiver is refused at create (`run`,
 * `check --connect`) and by `check` (check_config), at its line, naming
 * the file and why: missing, a directory, text or a key alone (no PEM
 * certificate), unreadable by this user (not as root: it reads all).  It
 * was taken, and every batch failed at its TLS handshake, retried for
 * ever with curl's words. */
static void test_webhook_a_ca_file_that_cannot_verify_is_refused(void)
{
	char *dir = testlib_mkdtemp(), *key = tls_key_pem();
	const struct {
		const char *name; /* in dir; "" the dir itself */
		const char *text; /* NULL: none written */
		const char *why;
	} rows[] = {
		{"none.pem", NULL, "No such file or directory"},
		{"", NULL, "a directory, not a file of PEM certificates"},
		{"text.pem", "not a certificate\n",
		 "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"},
		{"key.pem", key, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"},
		{"locked.pem", key, "Permission denied"}, /* made mode 000 below */
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct plugin_module mod;
		struct hub_instance *inst = NULL;
		char path[512], want[1024], err[1024] = "";
		int rc = 0;
		struct testhub *th;

		snprintf(path, sizeof(path), "%s/%s", dir, rows[i].name);
		if (rows[i].text)
			free(testlib_write_file(dir, rows[i].name, rows[i].text));
		if (strcmp(rows[i].name, "locked.pem") == 0) {
			if (geteuid() == 0)
				continue;
			CU_ASSERT_EQUAL_FATAL(chmod(path, 0), 0);
		}
		th = webhook_create_with_ca(1, path, &mod, &inst, &rc, err, sizeof(err));
		/* ca_file's line: the 6th of the exports after the store's */
		snprintf(want, sizeof(want), "test.yaml:%d:14: exports[0] \"crm\" (plugin webhook):"
			 " ca_file: %s: %s", yaml_lines(th->store_yaml) + 6, path, rows[i].why);
		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(err, want);
		if (rc == 0)
			plugin_instance_destroy(inst);
		err[0] = '\0';
		CU_ASSERT_EQUAL(plugin_instance_check_config(&mod, &th->cfg->exports[0], err,
							     sizeof(err)), -1);
		CU_ASSERT_STRING_EQUAL(err, want);
		plugin_unload(&mod);
		testhub_stop(th);
	}
	free(key);
	testlib_rmtree(dir);
	free(dir);
}

/* A ca_file gone after create (being replaced, say) is retried, as a
 * receiver out of reach is, the message naming the file and why rather
 * than curl's "problem with the SSL CA cert". */
static void test_webhook_a_ca_file_gone_after_create_is_retried_naming_it(void)
{
	const char *changes[] = {"{\"seq\": 1, \"kind\": \"profile_updated\"}"};
	char *dir = testlib_mkdtemp(), *ca, want[1024], err[1024] = "";
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct receiver r;
	struct testhub *th;
	EVP_PKEY *key;
	X509 *x = tls_cert_new("IP:127.0.0.1", &key);
	size_t n_done = 9;
	int rc;

	ca = tls_cert_file(dir, "ca.pem", x);
	receiver_start(&r, NULL, 0);
	pthread_join(r.thread, NULL); /* listening, nobody accepting */
	th = webhook_create_with_ca(r.port, ca, &mod, &inst, &rc, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(unlink(ca), 0);
	CU_ASSERT_EQUAL(mod.desc->export_batch(inst->state, NULL, changes, 1, &n_done, err,
					       sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(n_done, 0);
	snprintf(want, sizeof(want), "POST to https://127.0.0.1:%d: ca_file: %s: No such file or"
		 " directory", r.port, ca);
	CU_ASSERT_STRING_EQUAL(err, want);
	close(r.lfd);
	webhook_close(&mod, inst, th);
	free(ca);
	X509_free(x);
	EVP_PKEY_free(key);
	testlib_rmtree(dir);
	free(dir);
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
 * body a byte every 200 ms (3.8 s, past a header deadline of http.timeout
 * 3 s and its sweep, 2.2 s short of the body's 6 s): 1 when it is answered
 * 200. */
static int slow_body_is_served(int fd)
{
	char buf[1024];

	send_text(fd, "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n");
	return trickle(fd, SLOW_BODY, 20, 200) == -1 &&
	       raw_read_until(fd, buf, sizeof(buf), "\r\n\r\n") &&
	       strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

/* A body has twice http.timeout (3 s here) from its headers: one that
 * takes 1.25 times it is read, stored and answered (the header deadline no
 * longer watches a request whose headers are in); one that would take
 * longer is cut, never before twice the timeout. */
static void test_a_body_has_twice_http_timeout_to_arrive(void)
{
	char body[100];
	struct world w;
	int fd;

	memset(body, 'x', sizeof(body));
	world_open(&w, "  timeout: 3s\n", NULL);
	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(slow_body_is_served(fd));
	close(fd);
	CU_ASSERT(world_has_installation(&w, "trickle02"));

	fd = raw_connect(w.port);
	CU_ASSERT_FATAL(fd >= 0);
	send_text(fd, "POST /in/web/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
	CU_ASSERT(trickle(fd, body, sizeof(body), 200) > 5000); /* cut at 6 s, not 3 */
	close(fd);
	world_close(&w);
}

/* A connection closed before its headers leaves the deadline's watch with
 * it: the next connection, given the same descriptor, is not cut at the
 * first one's deadline (3 s here) while its body still comes. */
static void test_a_closed_connection_is_no_longer_watched(void)
{
	struct world w;
	int fd;

	world_open(&w, "  timeout: 3s\n", NULL);
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

static enum hub_log_level saved_level;

static int suite_init(void)
{
	saved_level = log_get_level();
	log_set_level(HUB_LOG_WARN); /* no "routes under /in/web/" per test */
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int suite_clean(void)
{
	curl_global_cleanup();
	log_set_level(saved_level);
	return 0;
}

TEST_SUITE(http, suite_init, suite_clean,
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
	   TEST(test_full_queue_is_429_with_retry_after),
	   TEST(test_stop_finishes_requests_in_progress),
	   TEST(test_stop_delay_answers_readyz_503_while_serving),
	   TEST(test_stop_under_load_never_aborts),
	   TEST(test_slow_clients_do_not_exhaust_the_server),
	   TEST(test_api_token_is_checked_before_the_body),
	   TEST(test_api_with_a_token_still_works),
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
	   TEST(test_api_a_typo_of_an_export_known_elsewhere_is_answered_with_it),
	   TEST(test_api_an_unknown_export_is_answered_with_the_closest_name),
	   TEST(test_erase_requests_wait_off_the_request_threads),
	   TEST(test_api_access_stream_client_gone_and_stop),
	   TEST(test_a_stalled_access_client_holds_no_snapshot),
	   TEST(test_webhook_reads_retry_after_after_spaces_or_tabs),
	   TEST(test_webhook_retries_a_425_too_early), TEST(test_webhook_answers_by_status),
	   TEST(test_webhook_timeout_must_be_positive),
	   TEST(test_webhook_url_must_be_http_or_https),
	   TEST(test_webhook_retries_when_the_receiver_is_down),
	   TEST(test_webhook_key_is_the_planned_range),
	   TEST(test_webhook_signs_the_time_the_key_and_the_body),
	   TEST(test_a_method_in_lowercase_is_no_routes),
	   TEST(test_a_request_kept_past_its_route_is_refused),
	   TEST(test_query_of_a_made_up_request_is_none),
	   TEST(test_a_header_refusal_on_a_source_is_in_its_shape),
	   TEST(test_api_body_with_a_content_encoding_is_415),
	   TEST(test_deadline_cuts_only_headers_late_past_it),
	   TEST(test_deadline_unwatch_leaves_the_others_watched),
	   TEST(test_webhook_posts_the_changes_as_one_json_array),
	   TEST(test_webhook_a_url_without_an_endpoint_is_a_config_error),
	   TEST(test_webhook_a_refusal_quotes_only_its_own_answer),
	   TEST(test_webhook_a_refusal_of_many_short_identifiers),
	   TEST(test_webhook_a_refusal_cut_in_a_word_leaves_the_word_out),
	   TEST(test_webhook_check_connect_takes_any_answer_and_posts_nothing),
	   TEST(test_webhook_takes_https_and_a_url_without_a_port),
	   TEST(test_webhook_stop_cuts_only_a_batch_not_yet_sent),
	   TEST(test_webhook_timeout_bounds_the_wait_for_the_answer),
	   TEST(test_webhook_default_timeout_outlasts_a_2s_answer),
	   TEST(test_webhook_an_empty_batch_sends_nothing),
	   TEST(test_webhook_a_big_batch_does_not_wait_for_100_continue),
	   TEST(test_webhook_url_and_secret_are_required),
	   TEST(test_webhook_verifies_the_receivers_certificate),
	   TEST(test_webhook_a_ca_file_that_cannot_verify_is_refused),
	   TEST(test_webhook_a_ca_file_gone_after_create_is_retried_naming_it),
	   TEST(test_stop_past_its_grace_still_answers_a_commit),
	   TEST(test_a_header_trickler_is_cut_also_between_requests),
	   TEST(test_a_body_has_twice_http_timeout_to_arrive),
	   TEST(test_a_closed_connection_is_no_longer_watched),
	   TEST(test_a_subsecond_timeout_still_closes_an_idle_request),
	   TEST(test_push_records_obey_identity_rules),
	   TEST(test_stop_reads_a_body_in_progress_to_its_end),
	   TEST(test_a_push_route_is_told_the_hub_stops),
	   TEST(test_a_stop_closes_the_listener))
