/*
 * http_helpers.h - what the HTTP server's unit tests (test_http.c,
 * test_http_api.c, test_http_webhook.c) share: a world (a testhub store and
 * intake, the echo_push test plugin mounted as source "web", optionally the
 * management API, and the server on 127.0.0.1 port 0), a libcurl client
 * whose answers land in a struct resp, raw sockets for clients that
 * misbehave, and polling with a deadline (no sleep stands for
 * synchronization).
 */
#ifndef HUB_HTTP_HELPERS_H
#define HUB_HTTP_HELPERS_H

#include "testhub.h"

#include "../../hub/api.h"
#include "../../hub/export.h"
#include "../../hub/http.h"
#include "../../hub/plugin.h"

#include <CUnit/CUnit.h>
#include <curl/curl.h>
#include <stddef.h>

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

/* Starts store, intake, the instance "web" of `plugin` (the hub's own, else
 * the tests'), with_api the management API (WORLD_API_EXPORTING: with an
 * exporter), and the server (http.max_body = max_body, 2 threads unless
 * http_extra sets them).  `extra` is more YAML (http: keys go in
 * `http_extra`, indented; the source's own keys first, indented by 4).
 * A failure fails the test (CUnit's FATAL asserts). */
void world_start_plugin(struct world *w, const char *plugin, int max_body, int with_api,
			const char *http_extra, const char *extra);
/* world_start_plugin() of echo_push. */
void world_start(struct world *w, int max_body, int with_api, const char *http_extra,
		 const char *extra);
/* world_start() with max_body MAX_BODY and no API. */
void world_open(struct world *w, const char *http_extra, const char *extra);
void world_close(struct world *w);

/* How many live profiles the store holds. */
size_t world_profiles(struct world *w);
/* 1 when a live profile has the identifier `type` `value`. */
int world_has_ident(struct world *w, const char *type, const char *value);
/* 1 when a live profile has installation id `iid`. */
int world_has_installation(struct world *w, const char *iid);

/* Holds the store's writer in its BEGIN until world_release_writer(): on
 * SQLite a transaction of the world's reader takes the write lock; on
 * PostgreSQL, where that would not block it, a lock it waits for at BEGIN
 * (teststore_hold_writes).  0, else -1. */
int world_hold_writer(struct world *w);
int world_release_writer(struct world *w);

/* Polls cond(arg) until true or WAIT_MS passed; returns its last value. */
int wait_until(int (*cond)(void *), void *arg);

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

/* One request.  body NULL: no body.  headers: NULL-terminated, or NULL. */
void http_do(int port, const char *method, const char *path, const char *body, size_t len,
	     int chunked, const char *const *headers, struct resp *r);
/* A POST of the string body to w's server. */
void post(struct world *w, const char *path, const char *body, struct resp *r);

/* The "error.code" of a JSON error body, into buf ("" if none). */
const char *error_code(const struct resp *r, char *buf, size_t size);

#define ASSERT_ERROR(r, st, code)                                                       \
	do {                                                                             \
		char code_buf_[64];                                                      \
		CU_ASSERT_EQUAL((r)->status, (st));                                     \
		CU_ASSERT_STRING_EQUAL(error_code((r), code_buf_, sizeof(code_buf_)), (code)); \
	} while (0)

/* ---- raw sockets (clients that misbehave) ----------------------------- */

/* A connection to 127.0.0.1:port, or -1. */
int raw_connect(int port);
/* Reads until the peer closes or ms pass.  Returns the bytes read into buf
 * (NUL-terminated); *closed tells whether the peer closed. */
size_t raw_read_all(int fd, char *buf, size_t size, int ms, int *closed);

/* ---- the suites' setup ------------------------------------------------ */

/* curl's global state, and the log at WARN (no "routes under /in/web/"
 * per test); http_suite_clean() undoes both. */
int http_suite_init(void);
int http_suite_clean(void);

#endif
