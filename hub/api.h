/*
 * api.h - the management API (API.md) and the Profiles View page, as one
 * handler that knows nothing of HTTP libraries: http_request.c hands it a
 * request and sends back the response it fills.
 *
 *   GET  /v1/profiles?custom_id=|installation_id=|email=|phone=|profile_id=|q=
 *   GET  /v1/profiles/<id>/events?before=<cursor>&limit=<1..200>
 *   GET  /v1/profiles/<id>/history?after=<cursor>&limit=<1..1000>  (oldest first)
 *   POST /v1/privacy/requests      {"type": "access"|"erase", "custom_id"|"installation_id"}
 *   GET  /v1/privacy/requests/<id>
 *   GET  /v1/sources, POST /v1/sources/<name>/sync, GET /v1/exports
 *   GET  /v1/exports/<name>/dead_letters?after=<seq>&limit=<1..1000>
 *   GET  /, /app.js, /style.css    the Profiles View (no token needed)
 *
 * Every /v1 route needs "Authorization: Bearer <token>" with a token of
 * api.tokens: 401 without one, 403 with a wrong one (constant-time compare).
 * Errors are {"error": {"code": ..., "message": ...}}.
 */
#ifndef HUB_API_H
#define HUB_API_H

#include "config.h"
#include "intake.h"

#include <jansson.h>

struct api;
struct store;

struct api_request {
	const char *method;
	const char *path;          /* without the query string */
	/* a query parameter's first value (decoded), or NULL; its length into
	 * *len: a decoded %00 is a NUL byte within it, which the API refuses
	 * (read as a C string, the value would stand for its prefix); into
	 * *n_sent how many times the key is in the query (the API refuses a
	 * key sent twice: which one was meant is not known) */
	const char *(*query)(const struct api_request *req, const char *key, size_t *len,
			     size_t *n_sent);
	const char *authorization; /* the header, or NULL */
	const char *body;          /* POST bodies; may be NULL */
	size_t body_len;
	const void *priv;          /* the transport's */
	/* the name of the i-th query parameter as sent (0-based), NULL past the
	 * last; a route refuses a name it does not read.  NULL (a request made
	 * in process, with no query string of its own): not checked */
	const char *(*query_name)(const struct api_request *req, size_t i);
};

struct api_header {
	const char *name;
	const char *value;
};

struct api_stream;
struct ingest_pending;

#define API_HEADERS_MAX 6 /* the most headers a response holds (Content-Type aside) */

struct api_response {
	int status;
	char *body;                /* hub_malloc'd, freed by api_response_free */
	size_t body_len;
	const unsigned char *static_body; /* pages: not freed */
	const char *content_type;
	struct api_header headers[API_HEADERS_MAX];
	size_t n_headers;
	/* a header found the response full: api_handle() answers a 500
	 * instead (logged), never the answer without it */
	int is_header_lost;
	/* A body sent from a file (the privacy access document, spooled
	 * whole before the answer): body and static_body are then unused.
	 * Owned by the response until the transport takes it (sets this to
	 * NULL): api_response_free() frees one that was not taken. */
	struct api_stream *stream;
	/* Records to commit before the answer (a privacy erase): the answer
	 * is then pending->resp once pending->batch is committed, else the
	 * intake's refusal (http_ingest.h); the transport submits it and
	 * waits off its request threads.  Owned like stream; freed unsent, it
	 * counts as never stored. */
	struct ingest_pending *pending;
};

/* Status of the scheduled sources and of the exports, from the modules
 * that own them (NULL: none configured).  Each returns a new reference. */
struct api_providers {
	json_t *(*sources_status)(void *ctx);
	/* 0 ok, -1 unknown name; is_full: a full sync (from the start) */
	int (*source_trigger)(void *ctx, const char *name, int is_full);
	json_t *(*exports_status)(void *ctx);
	/* POST /v1/exports/<name>/backfill: 0 asked; 1 refused (*why: an
	 * enum export_backfill_check of export.h; err says it); -1 */
	int (*export_backfill)(void *ctx, const char *name, int *why, char *err,
			       size_t err_size);
	/* POST /v1/exports/<name>/dead_letters/retry: 0 done (*n_retried
	 * set); 1 refused (*why as above: no such export); -1 */
	int (*export_retry)(void *ctx, const char *name, int *why, int64_t *n_retried,
			    char *err, size_t err_size);
	/* POST /v1/exports/<name>/enable: 0 done (*was_disabled set); 1
	 * refused (*why as above: no such export); -1 */
	int (*export_enable)(void *ctx, const char *name, int *why, int *was_disabled,
			     char *err, size_t err_size);
	void *ctx;
};

int api_open(struct api **out, const struct hub_config *cfg, struct intake *intake,
	     const struct api_providers *providers, char *err, size_t err_size);
void api_close(struct api *api);

/* 1 when the path is the API's or the page's (resp filled), 0 otherwise.
 * An answer that would lose a header (more than API_HEADERS_MAX: a bug of
 * the hub) is a 500 internal error instead, logged naming the header:
 * never sent without its Cache-Control or Content-Security-Policy. */
int api_handle(struct api *api, const struct api_request *req, struct api_response *resp);
void api_response_free(struct api_response *resp);

/*
 * A streamed body (resp->stream), read by the transport on its own thread:
 * up to max bytes into buf.  Returns how many (> 0), 0 at the end of the
 * body, -1 when it broke off (its spool file could not be read): the
 * status and headers are gone already, so the transport must end the
 * answer as broken (close without the last chunk); what was sent is a
 * prefix of the JSON, never valid JSON, and the request's status says
 * "failed".  The document was written whole, within one snapshot, to an
 * unnamed temporary file before the answer (a store failure was a 500
 * then), so the stream holds no store connection, only that file, until
 * api_stream_free(), which the transport calls exactly once, after the
 * end, a break, or when the client went away or the server stops (a
 * stream not read to its end is "failed").
 */
long api_stream_read(struct api_stream *st, char *buf, size_t max);
void api_stream_free(struct api_stream *st);

/* Tests: the most headers a response holds, 0..API_HEADERS_MAX (0: the
 * default, API_HEADERS_MAX), to make a response run out of room. */
void api_set_headers_max(size_t n);

/* Tests: called with every store connection a request takes from the
 * reader pool (its read transaction begun), e.g. to arm a fault. */
void api_set_store_hook(struct api *api, void (*hook)(void *ctx, struct store *s), void *ctx);

/*
 * The bearer token, alone, as soon as the request's headers are in (the
 * transport calls it before reading any body): 1 when resp holds the
 * refusal (a /v1 path without "Bearer <token of api.tokens>": 401, or 403
 * for a wrong token), 0 when the request may go on (the page needs no
 * token).  api_handle() checks the same again.
 */
int api_authorize(const struct api *api, const char *path, const char *authorization,
		  struct api_response *resp);

/* 1 when the method + path is one the API takes a body for; every other
 * request's body is ignored (the transport need not keep it). */
int api_wants_body(const char *method, const char *path);

#endif
