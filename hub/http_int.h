/*
 * http_int.h - what the HTTP server's files share (http.c: libmicrohttpd,
 * its callbacks, the commit waiter, start and stop; http_request.c: one
 * request from its headers to its answer): the server, its push mounts and
 * a request's state.  Not for the rest of the hub: see http.h.
 */
#ifndef HUB_HTTP_INT_H
#define HUB_HTTP_INT_H

#include "http.h"

#include "http_headers.h"
#include "http_ingest.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct deadline;


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
	atomic_int is_leaving;     /* http.stop_delay runs: /readyz 503, all else served */
	pthread_mutex_t active_lock;
	pthread_cond_t active_done;
	int active;                /* requests between headers and completion */
	int n_committing;          /* requests from their batch's submission to
				    * their completion (suspended, then answered) */

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
#define HTTP_CORS_ORIGIN_MAX 255 /* a longer Origin is never echoed */

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
	int ignored_body;     /* what the body of a route that takes none held
			       * (enum ignored_body, http.c body_scan) */
	int is_uncounted;     /* begun while stopping: answered 503 at once, not in
			       * `active`, so the stop's drain does not wait for it */
	char *url;            /* REQ_API: the path, kept until the body is in */
	/* an /in/ request's Access-Control-Allow-Origin (http.cors_origins):
	 * its Origin, or "*"; "" when the answer carries none */
	char cors_origin[HTTP_CORS_ORIGIN_MAX + 1];

	/* a batch being committed (the connection is suspended meanwhile) */
	struct ingest_pending *pending;
	hub_rc commit_rc;
	int is_committed;
	struct http_req *wait_next;
};

/* What a body dropped unread (is_body_ignored) held so far: white space
 * only, then `{`, then `{}` (a no-op a client may send to any POST), or
 * anything else. */
enum ignored_body { IGNORED_BLANK, IGNORED_OPEN, IGNORED_EMPTY_OBJECT, IGNORED_CONTENT };

/* ---- http_request.c ----------------------------------------------------- */

/* Headers in: chooses req's route and refuses what can be refused now
 * (`version`: the request line's, "HTTP/1.1"; `is_path_nul`: the target
 * holds %00, on_uri). */
enum MHD_Result http_route_request(struct http_req *req, const char *target,
				   const char *method, const char *version, int is_path_nul);
/* End of body: runs the route, or answers its refusal. */
enum MHD_Result http_request_finish(struct http_req *req, const char *method);
/* Queues r's answer (its body taken) and counts it. */
enum MHD_Result http_answer_reply(struct http_req *req, struct ingest_reply *r);

/* ---- http.c: the commit waiter ------------------------------------------ */

/* Submits req->pending's batch; on success suspends the connection and
 * hands it to the waiter.  On refusal (queue full, stopping) answers at
 * once, with r. */
enum MHD_Result http_commit_start(struct http_req *req, struct ingest_reply *r);

#endif
