/*
 * http.h - the HTTP server (libmicrohttpd, thread pool): routes, limits,
 * JSON errors.  The only file that includes microhttpd.h.
 */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include "config.h"
#include "intake.h"

struct http_server;

/* What the server serves from (borrowed, must outlive the server). */
struct http_context {
	const struct hub_config *cfg;
	struct intake *intake;
};

/* Starts listening on cfg->http_listen ("host:port").  0 or -1. */
int http_start(struct http_server **out, const struct http_context *ctx, char *err,
	       size_t err_size);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *srv);
void http_stop(struct http_server *srv);

#endif
