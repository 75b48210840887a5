/*
 * http_ingest.h - the push-source half of the HTTP server, free of
 * libmicrohttpd so it can be tested alone: request bodies with a hard
 * limit, Content-Encoding (gzip, deflate), the struct hub_call that
 * validates what a route emits into one batch, and the commit that comes
 * before the answer (a 2xx means the batch is durable).  Used by http.c and
 * http_request.c.
 */
#ifndef HUB_HTTP_INGEST_H
#define HUB_HTTP_INGEST_H

#include "intake.h"
#include "metrics.h"
#include "record.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

/* ---- answers ---------------------------------------------------------- */

/* What the server sends back. */
struct ingest_reply {
	unsigned status;
	char *body;             /* JSON text, hub_malloc'd (owned); NULL: no memory */
	char retry_after[32];   /* Retry-After value, "" for none */
	/* the route's plugin's error shape (hub_plugin.error_body), or NULL */
	void (*error_body)(unsigned status, const char *code, const char *message, char *body,
			   size_t body_size);
};

/* Fills r with {"error": {"code": code, "message": message}}, or what
 * r->error_body writes for them (replacing any body it had). */
void ingest_reply_error(struct ingest_reply *r, unsigned status, const char *code,
			const char *message);
void ingest_reply_free(struct ingest_reply *r);

/* The answer to a failed intake_submit()/intake_wait() (rc != HUB_OK):
 * HUB_ERR_BUSY 429 "busy", HUB_ERR_STOPPED 503 "stopping", HUB_RETRY 503
 * "commit_failed", each with Retry-After; anything else 500 "internal".
 * `why` goes into the log, never to the client. */
void ingest_reply_intake(struct ingest_reply *r, hub_rc rc, const char *why);

/* ---- bodies ----------------------------------------------------------- */

enum ingest_encoding { INGEST_IDENTITY = 0, INGEST_GZIP, INGEST_DEFLATE };

/* Reads a Content-Encoding value (NULL or "identity": none; "gzip",
 * "x-gzip", "deflate", any case).  Returns 0, or -1 for anything else
 * (answer 415). */
int ingest_encoding_parse(const char *value, enum ingest_encoding *out);

/* A request body being received.  Owned by one request (one thread). */
struct ingest_body {
	char *data;        /* hub_malloc'd, NUL-terminated when len > 0 */
	size_t len, cap;
	size_t limit;      /* bytes kept at most */
	size_t discarded;  /* bytes dropped once the limit was passed */
	int is_too_large;
};

/* Sizes the buffer for `expected` bytes when the client announced them
 * (0: unknown).  Returns 0, or -1 (no memory). */
int ingest_body_init(struct ingest_body *b, size_t limit, size_t expected);
/* Returns 0 (kept), 1 (past the limit: dropped, answer 413 at the end), or
 * -1: stop reading and close the connection (no memory, or the client sent
 * more than `limit` bytes past the limit: draining it is not worth it). */
int ingest_body_append(struct ingest_body *b, const char *data, size_t n);
void ingest_body_free(struct ingest_body *b);

/*
 * Decodes a gzip or deflate (zlib, or raw deflate) body into a new
 * hub_malloc'd NUL-terminated buffer of at most `limit` bytes.  Returns 0,
 * or -1 with r filled: 413 "body_too_large" when it inflates past the
 * limit, 400 "invalid_gzip" when it is truncated or corrupt, 503 when out
 * of memory.
 */
int ingest_inflate(enum ingest_encoding enc, const char *in, size_t in_len, size_t limit,
		   char **out, size_t *out_len, struct ingest_reply *r);

/* ---- running a route -------------------------------------------------- */

struct ingest_env {
	struct intake *intake;
	struct record_rules rules;   /* from the hub config (borrowed) */
	struct metrics *metrics;
	const atomic_int *stop;      /* should_stop() of the calls */
};

/* What an answer says when its records are not committed: `failed` for
 * 503 commit_failed and 500 internal, `unknown` for 503 commit_unknown. */
struct ingest_fail_words {
	const char *failed, *unknown;
};

/* A route's accepted outcome, waiting for its batch to be committed. */
struct ingest_pending {
	struct intake_batch batch;   /* the validated records (owned) */
	struct hub_response resp;    /* the plugin's answer */
	char retry_after[32];
	json_t *warnings;            /* [{"index", "message"}] or NULL */
	size_t *indexes;             /* each batch record's index among the
				      * request's (owned), or NULL: the same */
	int is_push;                 /* a push source's records: the writer's
				      * warnings are logged, never answered
				      * (they tell what is stored) */
	struct hub_instance *inst;   /* that push source (borrowed: it outlives
				      * the request), or NULL */
	void *next;                  /* the caller's (a wait queue) */
	/* Called once when p is freed, with the batch's outcome (HUB_OK: it is
	 * committed; HUB_ERR_STOPPED when it was never submitted).  May be
	 * NULL. */
	void (*on_end)(void *ctx, hub_rc rc);
	void *on_end_ctx;
	hub_rc end_rc;
	/* Borrowed: the words of a failure for records of the hub's own (an
	 * erase: not "the records"); NULL: the ingestion's. */
	const struct ingest_fail_words *fail_words;
};

/* A pending answer for records of the hub's own (an API request): `recs`
 * (n of them, taken: freed with p) to commit, then `status` with `body`
 * (JSON, at most 1023 bytes).  NULL when out of memory (recs freed). */
struct ingest_pending *ingest_pending_new(struct record **recs, size_t n, int status,
					  const char *body);

/*
 * Asks the plugin of `inst` (hub_plugin.admit, ABI 1.11) whether the
 * request to `route` may send its body, from its headers (req's body
 * empty).  0: yes (also without admit()).  1: r holds the refusal, as
 * ingest_run() answers a handler's.
 */
int ingest_admit(struct hub_instance *inst, const struct hub_route *route,
		 const struct hub_request *req, struct ingest_reply *r);

/*
 * Calls route->handle() of `inst` with a struct hub_call that validates
 * every emitted record (record_from_hub(), source = the instance name) into
 * one batch.
 *
 * Returns 0 when r holds the answer: the handler failed or answered non-2xx
 * (the batch is dropped, nothing stored; the plugin's status and body are
 * answered, a JSON error when the body is empty), or it succeeded without
 * emitting anything.  Returns 1 when the route succeeded with records:
 * *out holds them in out->batch; submit it to the intake and, once
 * committed or failed, call ingest_pending_finish().  Only then does the
 * client get the plugin's 2xx (durable before acknowledged).
 */
int ingest_run(const struct ingest_env *env, struct hub_instance *inst,
	       const struct hub_route *route, const struct hub_request *req,
	       struct ingest_reply *r, struct ingest_pending **out);

/* The answer once p->batch is done: `rc` is what intake_submit() or
 * intake_wait() returned.  HUB_OK: the plugin's answer, plus "warnings"
 * when validation dropped attributes and the body is a JSON object without
 * one; else ingest_reply_intake().  Frees p. */
void ingest_pending_finish(struct ingest_pending *p, hub_rc rc, struct ingest_reply *r);
void ingest_pending_free(struct ingest_pending *p);

#endif
