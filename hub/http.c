/*
 * http.c - the HTTP server: libmicrohttpd with an internal thread pool, its
 * callbacks, the commit waiter, limits, and an orderly start and stop.
 * What a request does between its headers and its answer (the route
 * table, refusals, the routes' runs, every answer) is http_request.c's;
 * the state both files share is in http_int.h.
 *
 * libmicrohttpd calls on_access for a request's headers, for each piece of
 * its body and at its end (http_request.c says what each step does).  A
 * route that accepted records has its batch submitted to the intake and
 * its connection suspended (http_commit_start); the commit waiter thread
 * waits for the batches in submission order and resumes each connection,
 * whose answer is then queued.  So no pool thread ever blocks on a
 * commit: a full queue is still answered 429 at once, and /healthz stays
 * live while commits are slow (or fail: /readyz says so, from the intake's
 * failing state, metrics_readiness).
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
#include "http_int.h"

#include "http_deadline.h"

#include "alloc.h"
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
 * libmicrohttpd answers 414/431 itself, with its own HTML body
 * (docs/reliability-and-security.md, "What is proven"). */
#define CONNECTION_MEMORY_LIMIT (64 * 1024)
#define STOP_GRACE_MAX_MS 30000

/* ---- the commit waiter ------------------------------------------------ */

/* Submits req->pending's batch; on success suspends the connection and
 * hands it to the waiter (in submission order, hence the one lock around
 * both).  On refusal (queue full, stopping) answers at once. */
enum MHD_Result http_commit_start(struct http_req *req, struct ingest_reply *r)
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
		srv->n_committing++;
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
		/* req belongs to MHD again; still committing until on_completed */
		MHD_resume_connection(req->conn);

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

/* ---- libmicrohttpd callbacks ------------------------------------------ */

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

/* Notes in req->ignored_body what a piece of a dropped body holds. */
static void body_scan(struct http_req *req, const char *data, size_t n)
{
	for (size_t i = 0; i < n && req->ignored_body != IGNORED_CONTENT; i++) {
		char c = data[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '{' && req->ignored_body == IGNORED_BLANK)
			req->ignored_body = IGNORED_OPEN;
		else if (c == '}' && req->ignored_body == IGNORED_OPEN)
			req->ignored_body = IGNORED_EMPTY_OBJECT;
		else
			req->ignored_body = IGNORED_CONTENT;
	}
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
		req->is_uncounted = atomic_load(&srv->stopping);
		pthread_mutex_lock(&srv->active_lock);
		srv->active += !req->is_uncounted;
		pthread_mutex_unlock(&srv->active_lock);
		return http_route_request(req, url, method, version, is_path_nul);
	}
	if (*upload_size) {
		if (req->kind == REQ_ANSWERED) {
			*upload_size = 0;
			return MHD_YES;
		}
		if (req->is_body_ignored) {
			body_scan(req, upload_data, *upload_size);
			rc = body_ignore(&req->body, *upload_size);
		}
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
	return http_request_finish(req, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;
	int was_committing, was_counted;

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
	was_committing = req->is_committed;
	was_counted = !req->is_uncounted;
	ingest_pending_free(req->pending);
	ingest_body_free(&req->body);
	hub_free(req->url);
	hub_free(req);
	*con_cls = NULL;
	pthread_mutex_lock(&srv->active_lock);
	srv->n_committing -= was_committing;
	srv->active -= was_counted;
	if ((was_counted && srv->active == 0) || (was_committing && srv->n_committing == 0))
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
	int rc;

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
	if (strcasecmp(host, "localhost") == 0) /* names are case-blind (RFC 4343) */
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (!*port_text)
		goto bad;
	rc = getaddrinfo(host, port_text, &hints, &ai);
	if (rc != 0 && rc != EAI_SERVICE && rc != EAI_SYSTEM && rc != EAI_MEMORY) {
		/* a well-formed name the resolver does not know: say so, not "not host:port" */
		err_set(err, err_size, "http.listen: cannot resolve \"%s\": %s", host,
			gai_strerror(rc));
		return -1;
	}
	if (rc != 0 || !ai)
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
		if (metrics_source_add(srv->metrics, m->inst->name))
			goto nomem; /* records_skipped_total{source=...} 0 from the start */
		log_info("http", "source \"%s\" (plugin %s): %zu route%s under /in/%s/",
			 m->inst->name, m->inst->mod->name, m->n_routes, plural_s(m->n_routes),
			 m->inst->name);
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
	int64_t timeout_ms = cfg->http_timeout_ms > 0 ? cfg->http_timeout_ms : 30000;

	if (!srv)
		return NULL;
	if (time_cond_init(&srv->active_done)) {
		hub_free(srv);
		return NULL;
	}
	pthread_mutex_init(&srv->active_lock, NULL);
	pthread_mutex_init(&srv->wait_lock, NULL);
	pthread_cond_init(&srv->wait_more, NULL);
	atomic_init(&srv->stopping, 0);
	atomic_init(&srv->is_leaving, 0);
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
	if (bind(fd, (struct sockaddr *)&ss, len) == 0)
		rc = 0;
	else if (errno == EADDRINUSE) /* a second `make run`, another server on 8080 */
		err_set(err, err_size,
			"cannot listen on %s: %s (another process listens there, a hub already"
			" running?: stop it, or set http.listen to another address)",
			addr, strerror(EADDRINUSE));
	else
		err_set(err, err_size, "cannot listen on %s: %s", addr, strerror(errno));
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

/* Waits until no request begun before the stop is in progress, or the
 * grace period ends. */
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
	pthread_mutex_unlock(&srv->active_lock);
}

/* Past the grace: still lets every request whose batch went to the intake
 * be answered, not only resumed (the intake runs until after the server
 * stops; a suspended connection must not outlive the daemon, and a
 * resumed one closed with it lost its answer). */
static void wait_committing(struct http_server *srv)
{
	pthread_mutex_lock(&srv->active_lock);
	while (srv->n_committing > 0)
		pthread_cond_wait(&srv->active_done, &srv->active_lock);
	if (srv->active > 0)
		log_warn("http", "stopping with %d request%s still in progress", srv->active,
			 plural_s((size_t)srv->active));
	pthread_mutex_unlock(&srv->active_lock);
}

/* The load balancer's checks come every few seconds: it needs time to
 * see the 503 before the hub drains. */
int64_t http_stop_delay_ms(const struct http_server *srv)
{
	return srv ? srv->cfg->http_stop_delay_ms : 0;
}

void http_stop_delay(struct http_server *srv)
{
	int64_t ms = http_stop_delay_ms(srv);
	struct timespec left;

	if (ms <= 0)
		return;
	atomic_store(&srv->is_leaving, 1);
	log_info("http", "stopping in %lld.%03lld s (http.stop_delay): /readyz answers 503"
		 " meanwhile, other requests are served", (long long)(ms / 1000),
		 (long long)(ms % 1000));
	left.tv_sec = (time_t)(ms / 1000);
	left.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
}

void http_stop(struct http_server *srv)
{
	MHD_socket fd;

	if (!srv)
		return;
	atomic_store(&srv->stopping, 1);
	/* While the requests in progress finish, the listener stays open: a
	 * new request (a load balancer's /readyz) is answered 503 "stopping"
	 * and is not waited for, so the balancer takes the hub out before it
	 * refuses connections.  The pool's threads let go of the listener only
	 * when they next wake, so it is closed after MHD_stop_daemon
	 * (libmicrohttpd's rule); shutting it down refuses new connections at
	 * once, and a thread still polling it gets EINVAL from accept, which
	 * MHD expects. */
	wait_inflight(srv);
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		shutdown(fd, SHUT_RDWR);
	wait_committing(srv);
	waiter_close(srv);
	MHD_stop_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	server_free(srv);
}
