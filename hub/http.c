/*
 * http.c - the HTTP server: libmicrohttpd with an internal thread pool,
 * connection limits and timeouts from the config, and a route table.
 * Every error is JSON: {"error": {"code": ..., "message": ...}}.
 */
#include "http.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_context ctx;
	int port;
};

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
								    MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *code,
				  const char *message)
{
	char body[512];
	json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	snprintf(body, sizeof(body), "%s", text ? text : "{\"error\":{\"code\":\"internal\"}}");
	free(text);
	json_decref(o);
	return send_json(conn, status, body);
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;

	if (*con_cls == NULL) {
		static int first_call_marker;
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* no route takes a body yet */
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					  "use GET");
		return send_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
	}
	return send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
}

/* "127.0.0.1:8080", ":8080", "8080" -> address. */
static int parse_listen(const char *listen, struct sockaddr_in *sa, char *err, size_t err_size)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(listen, ':');
	const char *port_text = colon ? colon + 1 : listen;
	char *end;
	long port = strtol(port_text, &end, 10);

	if (colon && colon != listen) {
		size_t n = (size_t)(colon - listen);
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, listen, n);
		host[n] = '\0';
	}
	if (*end || port < 0 || port > 65535)
		goto bad;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		goto bad;
	return 0;
bad:
	err_set(err, err_size, "http.listen: \"%s\" is not host:port (an IPv4 address)", listen);
	return -1;
}

int http_start(struct http_server **out, const struct http_context *ctx, char *err,
	       size_t err_size)
{
	const struct hub_config *cfg = ctx->cfg;
	struct http_server *srv;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	unsigned threads = cfg->http_threads > 0 ? (unsigned)cfg->http_threads : 4;
	unsigned timeout_s = cfg->http_timeout_ms > 0 ? (unsigned)(cfg->http_timeout_ms / 1000) : 30;

	if (parse_listen(cfg->http_listen ? cfg->http_listen : "127.0.0.1:8080", &sa, err, err_size))
		return -1;
	srv = hub_calloc(1, sizeof(*srv));
	if (!srv) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	srv->ctx = *ctx;
	srv->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG, 0,
		NULL, NULL, handle_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
		timeout_s ? timeout_s : 1, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)(cfg->http_max_connections > 0 ? cfg->http_max_connections : 1024),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, MHD_OPTION_END);
	if (!srv->daemon) {
		err_set(err, err_size, "cannot listen on %s (address in use?)",
			cfg->http_listen ? cfg->http_listen : "127.0.0.1:8080");
		hub_free(srv);
		return -1;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : ntohs(sa.sin_port);
	*out = srv;
	return 0;
}

int http_port(const struct http_server *srv)
{
	return srv->port;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	hub_free(srv);
}
