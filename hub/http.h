/*
 * http.h - the HTTP server (libmicrohttpd, thread pool): the route table
 * (/healthz, /readyz, /metrics, push sources under /in/<source>/), body limits and
 * Content-Encoding, JSON errors, connection limits and timeouts, and a
 * stop that lets in-flight requests finish.  http.c and http_request.c
 * (and their http_int.h) are the only files that include microhttpd.h.
 */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include "api.h"
#include "config.h"
#include "intake.h"
#include "metrics.h"
#include "plugin.h"

struct http_server;

/* What the server serves from (borrowed, must outlive the server). */
struct http_context {
	const struct hub_config *cfg;
	struct intake *intake;
	/* push source instances, each mounted at /in/<instance name>/ with the
	 * routes its plugin declares */
	struct hub_instance *const *push;
	size_t n_push;
	/* the management API and the Profiles View (may be NULL) */
	struct api *api;
	/* what /metrics shows of the exports and the pull sources (may be NULL) */
	struct exporter *exports;
	struct scheduler *sched;
};

/* Can `listen` ("host:port"; NULL: the default) be bound now?  `run` asks
 * before it starts exports and syncs, so a second hub started by mistake
 * on a busy port does nothing.  0, or -1 with err set ("address in use"). */
int http_listen_check(const char *listen, char *err, size_t err_size);
/* hub_host.query (ABI 1.7): the first `name` parameter of the query
 * string of a request this server hands a push route, or NULL. */
const char *http_request_query(const struct hub_request *req, const char *name);
/* Starts listening on cfg->http_listen ("host:port", "[v6]:port"; port 0
 * picks a free one).  0, or -1 with err set. */
int http_start(struct http_server **out, const struct http_context *ctx, char *err,
	       size_t err_size);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *srv);
/* The server's counters (for tests). */
struct metrics *http_metrics(struct http_server *srv);

/* The first part of a stop: for http.stop_delay (0: not at all) /readyz
 * answers 503 "stopping" while every other request is served, so that a
 * load balancer takes the hub out before http_stop() drains it.  Returns
 * when the delay is over.  NULL is ignored. */
void http_stop_delay(struct http_server *srv);

/* http.stop_delay in ms (0 for none, or NULL). */
int64_t http_stop_delay_ms(const struct http_server *srv);

/* Stops accepting connections, lets the requests in progress finish (at
 * most http.timeout; a request whose batch went to the intake is answered
 * however long its commit takes), then closes everything.  Plugins'
 * routes are not called once this returns.  NULL is ignored. */
void http_stop(struct http_server *srv);

#endif
