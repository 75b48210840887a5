/*
 * api.c - the management API and the Profiles View page (see api.h).
 *
 * Reads go through a small pool of store connections of their own (one
 * per HTTP thread at most): the intake writer keeps its connection to
 * itself.  Erasure is a record like any other: it goes through the intake,
 * so it is ordered with ingestion and blocks what arrives after it.
 * Privacy requests are recorded in the store (meta rows, privacy.h: what
 * GET /v1/privacy/requests/<id> answers, never whom a request was about),
 * so that a restarted hub or another process on the same store answers
 * for them; their effect is in the store too.  An access request's record
 * is written on a connection of the API's own once its document is ready,
 * and at its end; an erase's, "done", in the erase's transaction by the
 * intake writer (an erase waits off the request threads, and so does its
 * record).  A request has a record from when its ID is given out.
 *
 * An access document has no bound (every event of a profile), so it is
 * never built whole in memory: it is written a page of events at a time
 * (access_doc.c), within one read snapshot, to an unnamed temporary file,
 * and the pooled connection goes back before the answer begins; the
 * answer is a stream (struct api_stream) that reads the file back as the
 * transport sends it.
 */
#include "api.h"

#include "access_doc.h"
#include "alloc.h"
#include "export.h"
#include "http_auth.h"
#include "http_ingest.h"
#include "log.h"
#include "outage.h"
#include "privacy.h"
#include "profile.h"
#include "record.h"
#include "util.h"
#include "web_assets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API_POOL_MAX 16
#define API_EVENTS_DEFAULT 50
#define API_EVENTS_MAX 200
#define API_HISTORY_DEFAULT 100
#define API_HISTORY_MAX 1000
#define API_FIND_MAX 50

struct privacy_request {
	char id[32];
	char type[8];
	char status[16];
	int64_t created_ms;
	int64_t finished_ms;
};

struct api {
	const struct hub_config *cfg;
	struct intake *intake;
	struct api_providers providers;
	struct record_rules rules;

	pthread_mutex_t lock;           /* guards the pool and the outage below */
	struct store *pool[API_POOL_MAX];
	size_t n_pool;
	/* requests that found no store connection (pool_note_outage): its n */
	struct outage outage;
	pthread_mutex_t record_lock;    /* guards record_store */
	struct store *record_store;     /* writes the privacy request records;
					 * opened when first needed, closed on
					 * a failure */

	void (*store_hook)(void *ctx, struct store *s); /* tests; set before use */
	void *store_hook_ctx;
};

/* A streamed access document (api.h).  Used by one thread at a time: the
 * one that runs the request, then the transport's, which reads it and
 * frees it. */
struct api_stream {
	struct api *api;
	FILE *spool;                    /* the whole document, written before
					 * the answer: no snapshot is held
					 * while the client reads */
	int spool_errno;                /* why writing it failed */
	struct privacy_request request; /* its record, written at the end */
	int state;                      /* STREAM_* */
};

enum { STREAM_SENDING, STREAM_DONE, STREAM_BROKEN };

/* ---- responses -------------------------------------------------------- */

static _Atomic size_t headers_max = API_HEADERS_MAX; /* tests lower it */

void api_set_headers_max(size_t n)
{
	atomic_store(&headers_max, n == 0 || n > API_HEADERS_MAX ? API_HEADERS_MAX : n);
}

/* Adds a header (name and value: literals).  One the response has no room
 * for is not dropped quietly: logged, and the response marked, which
 * api_handle() answers as a 500 (resp_checked()). */
static void resp_header(struct api_response *resp, const char *name, const char *value)
{
	size_t max = atomic_load(&headers_max);

	if (resp->n_headers < max) {
		resp->headers[resp->n_headers++] = (struct api_header){name, value};
		return;
	}
	log_error("api", "a response holds at most %zu headers: %s found it full; answered 500"
		  " instead (a bug in the hub)", max, name);
	resp->is_header_lost = 1;
}

/* Every JSON answer may hold personal data: never cached, never sniffed. */
static int respond_json(struct api_response *resp, int status, json_t *body)
{
	resp_header(resp, "Cache-Control", "no-store");
	resp_header(resp, "X-Content-Type-Options", "nosniff");
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = json_dumps_whole(body, JSON_COMPACT | HUB_JSON_REAL);
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	json_decref(body);
	if (!resp->body) {
		resp->status = 500;
		resp->static_body = (const unsigned char *)"{\"error\":{\"code\":\"internal\"}}";
		resp->body_len = strlen((const char *)resp->static_body);
	}
	return 1;
}

static int respond_error(struct api_response *resp, int status, const char *code,
			 const char *fmt, ...) HUB_PRINTF(4, 5);

static int respond_error(struct api_response *resp, int status, const char *code,
			 const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return respond_json(resp, status,
			    json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

void api_response_free(struct api_response *resp)
{
	free(resp->body); /* jansson's json_dumps: plain malloc */
	resp->body = NULL;
	api_stream_free(resp->stream);
	resp->stream = NULL;
	ingest_pending_free(resp->pending);
	resp->pending = NULL;
}

/* `handled` (1: resp filled), with a response that lost a header made a
 * 500: what the hub meant to answer cannot go out without it. */
static int resp_checked(struct api_response *resp, int handled)
{
	if (!handled || !resp->is_header_lost)
		return handled;
	api_response_free(resp);
	memset(resp, 0, sizeof(*resp));
	return respond_error(resp, 500, "internal",
			     "the hub could not build this answer; see the hub's log");
}

/* ---- the reader pool --------------------------------------------------- */

/* A pooled connection in a read snapshot, or NULL when none can be had:
 * the reason (the store's, which names its file or server) is logged
 * here, never given to the client (respond_store_unavailable()). */
#define OUTAGE_LOG_MS 10000 /* while the store cannot be opened: a line at most this often */

/*
 * Requests that find no store connection are logged as a state, not one
 * line each (an outage of a minute under load would be thousands of
 * error lines): the first with its cause, then at most one line every
 * OUTAGE_LOG_MS while it lasts, naming the count and the last cause, and
 * one line when a request gets a connection again.  Every such request
 * is still answered 503 store_unavailable.
 */
static const struct outage_words pool_outage_words = {
	.module = "api",
	.every_ms = OUTAGE_LOG_MS,
	.first = "no store connection for a request",
	.meanwhile = "requests are answered 503 until one opens",
	.ongoing = "no store connection",
	.counted = "requests answered 503",
	.over = "store connections open again",
	.was = "failing",
};

static void pool_note_outage(struct api *api, const char *err)
{
	pthread_mutex_lock(&api->lock);
	outage_note_failure(&api->outage, &pool_outage_words, 1, err);
	pthread_mutex_unlock(&api->lock);
}

/* A request got its connection: the end of an outage, if one ran. */
static void pool_note_open(struct api *api)
{
	pthread_mutex_lock(&api->lock);
	outage_note_ok(&api->outage, &pool_outage_words);
	pthread_mutex_unlock(&api->lock);
}

static struct store *pool_take(struct api *api)
{
	struct store *s = NULL;
	char err[512];

	pthread_mutex_lock(&api->lock);
	if (api->n_pool)
		s = api->pool[--api->n_pool];
	pthread_mutex_unlock(&api->lock);
	if (!s && store_open_existing(api->cfg, &s, err, sizeof(err)))
		goto fail;
	/* one snapshot per request: a document never mixes two commits */
	if (s->ops->read_begin && s->ops->read_begin(s)) {
		err_set(err, sizeof(err), "%s", store_error(s));
		store_close(s);
		goto fail;
	}
	if (api->store_hook)
		api->store_hook(api->store_hook_ctx, s);
	pool_note_open(api);
	return s;
fail:
	pool_note_outage(api, err);
	return NULL;
}

/* The 503 of a request pool_take() found no connection for: what is
 * wrong, where to look; its reason is in the log only. */
static int respond_store_unavailable(struct api_response *resp)
{
	return respond_error(resp, 503, "store_unavailable",
			     "the store cannot be read; see the hub's log");
}

static void pool_give(struct api *api, struct store *s)
{
	if (s->ops->read_end && s->ops->read_end(s)) {
		store_close(s); /* in doubt: never reuse it */
		return;
	}
	pthread_mutex_lock(&api->lock);
	if (api->n_pool < API_POOL_MAX) {
		api->pool[api->n_pool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&api->lock);
	store_close(s);
}

/* ---- auth -------------------------------------------------------------- */

/* 0 allowed; else the response is filled (401 / 403). */
static int auth_check(const struct api *api, const struct api_request *req,
		      struct api_response *resp)
{
	/* the same rule as /metrics from afar (http_request.c, metrics_refusal) */
	int status = http_auth_bearer_status(req->authorization, api->cfg->api_tokens,
					     api->cfg->n_api_tokens);

	if (status == 401) {
		resp_header(resp, "WWW-Authenticate", "Bearer"); /* RFC 6750 */
		return respond_error(resp, 401, "unauthorized",
				     "send Authorization: Bearer <token> (a token of api.tokens)");
	}
	if (status == 403)
		return respond_error(resp, 403, "forbidden", "%s",
				     http_auth_forbidden_message(api->cfg->n_api_tokens));
	return 0;
}

/* ---- profiles ---------------------------------------------------------- */

/* Why a read failed, for the log: the store's error, or memory (an answer
 * that could not be built leaves the store's empty). */
static const char *read_error(const struct store *s)
{
	const char *why = store_error(s);
	return why[0] ? why : "out of memory";
}

/* attribute_meta as it is collected (a store list op stopped by its
 * callback returns 0: a failure is kept here). */
struct attr_meta {
	json_t *meta;
	int has_failed;
};

static int attr_meta_collect(void *ctx, const struct store_attr *a)
{
	static const char *const names[] = {"string", "number", "bool", "date", "url", "array"};
	struct attr_meta *m = ctx;
	char when[40];
	if (a->is_deleted)
		return 0;
	if (json_object_set_new(m->meta, a->key,
				json_pack("{s:s, s:s}", "type",
					  a->type >= 0 && a->type < 6 ? names[a->type] : "string",
					  "updated_at",
					  time_format_ms(a->ts_ms, when, sizeof(when)))))
		m->has_failed = 1;
	return m->has_failed;
}

/* A profile document for the API: the document of API.md plus
 * attribute_meta (each attribute's type and time) for the view.  Returns
 * as profile_doc_build() does. */
static int api_profile_doc(struct store *s, const char *pid, json_t **out)
{
	struct attr_meta m = {NULL, 0};
	json_t *doc = NULL;
	int rc = profile_doc_build(s, pid, PROFILE_EVENTS_DEFAULT, &doc);
	if (rc != 1)
		return rc;
	m.meta = json_object();
	if (s->ops->attr_list(s, pid, attr_meta_collect, &m)) {
		rc = -1;
	} else if (m.has_failed || json_object_set(doc, "attribute_meta", m.meta)) {
		err_set(s->err, sizeof(s->err), "out of memory");
		rc = -1;
	}
	json_decref(m.meta);
	if (rc == 1)
		*out = doc;
	else
		json_decref(doc);
	return rc;
}

static const char *const lookup_keys[] = {"custom_id", "installation_id", "email", "phone",
					  "profile_id"};

/* What a free-text search can be, most specific first. */
static size_t search_kinds(const char *q, const char **kinds)
{
	size_t n = 0;
	if (strncmp(q, "p_", 2) == 0)
		kinds[n++] = "profile_id";
	if (strchr(q, '@'))
		kinds[n++] = "email";
	if (q[0] == '+')
		kinds[n++] = "phone";
	kinds[n++] = "custom_id";
	kinds[n++] = "installation_id";
	return n;
}

/* The query parameter `key` into *value (NULL: not sent): 0, or -1 with
 * the 400 in resp when it holds a NUL byte (a decoded %00: read as a C
 * string, "C1%00zz" would stand for "C1") or is sent more than once
 * (?custom_id=a&custom_id=b: answering for one of them would be a guess). */
static int query_param(const struct api_request *req, const char *key, const char **value,
		       struct api_response *resp)
{
	size_t len = 0, n_sent = 0;
	const char *v = req->query(req, key, &len, &n_sent);

	*value = NULL;
	if (v && memchr(v, '\0', len)) {
		respond_error(resp, 400, "invalid_parameter", "%s: contains a NUL byte", key);
		return -1;
	}
	if (n_sent > 1) {
		respond_error(resp, 400, "invalid_parameter", "%s: given %zu times (at most once)",
			      key, n_sent);
		return -1;
	}
	*value = v;
	return 0;
}

/* The lookup of GET /v1/profiles: *by (NULL for a search, ?q=) and its
 * *value.  0, or -1 with the 400 in resp. */
static int profiles_params(const struct api_request *req, const char **by, const char **value,
			   struct api_response *resp)
{
	const char *q, *v;

	*by = NULL;
	if (query_param(req, "q", &q, resp))
		return -1;
	*value = q;
	for (size_t i = 0; i < ARRAY_SIZE(lookup_keys); i++) {
		if (query_param(req, lookup_keys[i], &v, resp))
			return -1;
		if (!v)
			continue;
		if (*by || q) {
			respond_error(resp, 400, "invalid_parameter",
				      "give one of custom_id, installation_id, email, phone, "
				      "profile_id or q, not several");
			return -1;
		}
		*by = lookup_keys[i];
		*value = v;
	}
	if (!*value || !**value) {
		respond_error(resp, 400, "missing_parameter",
			      "give one of custom_id, installation_id, email, phone, profile_id or q");
		return -1;
	}
	if (!str_is_utf8(*value)) { /* no identifier is stored so (PostgreSQL refuses it) */
		respond_error(resp, 400, "invalid_parameter", "%s: not valid UTF-8",
			      *by ? *by : "q");
		return -1;
	}
	return 0;
}

static int get_profiles(struct api *api, const struct api_request *req, struct api_response *resp)
{
	const char *kinds[8], *by, *value;
	char (*ids)[PROFILE_ID_SIZE] = NULL;
	size_t n_kinds = 0, n_ids = 0;
	json_t *matched, *profiles;
	struct store *s;
	int is_truncated = 0; /* more than API_FIND_MAX profiles match */

	if (profiles_params(req, &by, &value, resp))
		return 1;
	if (by)
		kinds[n_kinds++] = by;
	else
		n_kinds = search_kinds(value, kinds);
	if (!(s = pool_take(api)))
		return respond_store_unavailable(resp);
	matched = json_array();
	profiles = json_array();
	ids = hub_malloc((API_FIND_MAX + 1) * PROFILE_ID_SIZE); /* one more: are there more? */
	if (!ids)
		goto fail;
	for (size_t k = 0; k < n_kinds; k++) {
		int n = profile_find(s, kinds[k], value, ids, API_FIND_MAX + 1);
		if (n < 0)
			goto fail;
		if (n > 0 && json_array_append_new(matched, json_string(kinds[k])))
			goto fail;
		if (n > API_FIND_MAX)
			is_truncated = 1;
		for (int i = 0; i < n; i++) {
			json_t *doc = NULL;
			int seen = 0;
			size_t j;
			json_t *p;
			json_array_foreach(profiles, j, p) {
				const char *pid = json_string_value(json_object_get(p, "profile_id"));
				seen |= pid && strcmp(pid, ids[i]) == 0;
			}
			if (seen)
				continue;
			if (n_ids == API_FIND_MAX) {
				is_truncated = 1;
				break;
			}
			if (api_profile_doc(s, ids[i], &doc) < 0)
				goto fail;
			if (!doc)
				continue;
			if (json_array_append_new(profiles, doc))
				goto fail;
			n_ids++;
		}
	}
	hub_free(ids);
	pool_give(api, s);
	return respond_json(resp, 200, json_pack("{s:o, s:o, s:b}", "matched_by", matched, "profiles",
						 profiles, "truncated", is_truncated));
fail:
	log_error("api", "profile lookup: %s", read_error(s));
	hub_free(ids);
	store_close(s);
	json_decref(matched);
	json_decref(profiles);
	return respond_error(resp, 500, "store_error", "the store failed; see the hub's log");
}

/* ---- events feed -------------------------------------------------------- */

struct page {
	json_t *events;
	size_t limit, n;
	char next_mid[512];
	struct store_event next;   /* the limit-th event: where the next page starts */
	int has_failed;            /* out of memory: the listing was stopped */
};

static int page_add(void *ctx, const struct store_event *e)
{
	struct page *pg = ctx;
	if (++pg->n > pg->limit)
		return 1; /* one more than asked: there is a next page */
	if (json_array_append_new(pg->events, profile_event_json(e))) {
		pg->has_failed = 1;
		return 1;
	}
	if (pg->n == pg->limit) {
		pg->next = *e;
		snprintf(pg->next_mid, sizeof(pg->next_mid), "%s", e->message_id);
		pg->next.message_id = pg->next_mid;
	}
	return 0;
}

/* Cursor: "<ts>.<seq>.<hex of message_id>": opaque to clients. */
static char *cursor_make(const struct store_event *e)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_printf(&sb, "%lld.%lld.", (long long)e->ts_ms, (long long)e->seq);
	for (const unsigned char *p = (const unsigned char *)e->message_id; *p; p++)
		strbuf_printf(&sb, "%02x", *p);
	return strbuf_take(&sb);
}

#define CURSOR_INVALID (-1)
#define CURSOR_OUT_OF_RANGE (-2)

/* One number of a cursor at *p, as cursor_make() writes it (decimal
 * digits, '-' first when negative), followed by `stop` ('.' between
 * numbers, '\0' at the end): *p moves past a '.'.  0, CURSOR_INVALID, or
 * CURSOR_OUT_OF_RANGE when it does not fit 64 bits. */
static int cursor_number(const char **p, char stop, long long *out)
{
	const char *s = *p;
	char *end;

	if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
		return CURSOR_INVALID; /* strtoll would take spaces and '+' too */
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (*end != stop)
		return CURSOR_INVALID;
	if (errno == ERANGE)
		return CURSOR_OUT_OF_RANGE;
	*p = stop ? end + 1 : end;
	return 0;
}

/* "<ts>.<seq>.<hex of message_id>" -> e (message_id into mid).  0,
 * CURSOR_INVALID or CURSOR_OUT_OF_RANGE. */
static int cursor_parse(const char *text, struct store_event *e, char *mid, size_t mid_size)
{
	long long ts, seq;
	size_t n = 0;
	const char *hex = text;
	int rc;

	if ((rc = cursor_number(&hex, '.', &ts)) || (rc = cursor_number(&hex, '.', &seq)))
		return rc;
	if (seq < 0 || strlen(hex) % 2 || strlen(hex) / 2 >= mid_size) /* ts: before 1970 too */
		return CURSOR_INVALID;
	for (; hex[0]; hex += 2) {
		int hi = hex_digit(hex[0]), lo = hex_digit(hex[1]);
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return CURSOR_INVALID; /* not hex, or a NUL byte */
		mid[n++] = (char)(hi << 4 | lo);
	}
	mid[n] = '\0';
	if (!str_is_utf8(mid)) /* no message_id is stored so */
		return CURSOR_INVALID;
	e->ts_ms = ts;
	e->seq = seq;
	e->message_id = mid;
	return 0;
}

/* ?limit=: 1..max into *out, or -1. */
static int limit_parse(const char *text, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)text[0])) /* strtol would skip blanks, take + */
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end || errno == ERANGE || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The profile ID of /v1/profiles/<id>/<what> (into id), or -1. */
static int path_profile(const char *path, const char *what, char *id, size_t size)
{
	const char *rest = path + strlen("/v1/profiles/");
	const char *slash = strchr(rest, '/');
	size_t n;
	if (!slash || strcmp(slash + 1, what) != 0)
		return -1;
	n = (size_t)(slash - rest);
	if (n == 0 || n >= size)
		return -1;
	memcpy(id, rest, n);
	id[n] = '\0';
	return 0;
}

static int get_events(struct api *api, const struct api_request *req, const char *id,
		      struct api_response *resp)
{
	const char *limit_text, *before;
	struct page pg = {0};
	struct store_event cursor = {0};
	char mid[512], live[PROFILE_ID_SIZE], shown[RECORD_SHOW_SIZE];
	long limit = API_EVENTS_DEFAULT;
	struct store *s;
	char *next = NULL;
	int rc;

	if (query_param(req, "limit", &limit_text, resp) ||
	    query_param(req, "before", &before, resp))
		return 1;
	if (limit_text && limit_parse(limit_text, API_EVENTS_MAX, &limit))
		return respond_error(resp, 400, "invalid_parameter",
				     "limit must be a number from 1 to %d", API_EVENTS_MAX);
	if (!str_is_utf8(id)) /* no profile ID is so */
		return respond_error(resp, 404, "not_found", "no profile %s", record_show(shown, id));
	rc = before ? cursor_parse(before, &cursor, mid, sizeof(mid)) : 0;
	if (rc == CURSOR_OUT_OF_RANGE)
		return respond_error(resp, 400, "invalid_cursor",
				     "before: a number of the cursor is out of range (use a "
				     "previous page's next)");
	if (rc)
		return respond_error(resp, 400, "invalid_cursor",
				     "before must be a cursor from a previous page's next");
	if (!(s = pool_take(api)))
		return respond_store_unavailable(resp);
	rc = profile_resolve_id(s, id, live);
	if (rc == 0) {
		pool_give(api, s);
		return respond_error(resp, 404, "not_found", "no profile %s", record_show(shown, id));
	}
	pg.events = json_array();
	pg.limit = (size_t)limit;
	if (rc < 0 ||
	    s->ops->event_list(s, live, before ? &cursor : NULL, (size_t)limit + 1, page_add, &pg) ||
	    pg.has_failed || (pg.n > pg.limit && !(next = cursor_make(&pg.next)))) {
		log_error("api", "events: %s", read_error(s));
		json_decref(pg.events);
		store_close(s);
		return respond_error(resp, 500, "store_error", "the store failed; see the hub's log");
	}
	pool_give(api, s);
	rc = respond_json(resp, 200, json_pack("{s:s, s:o, s:o}", "profile_id", live, "events",
					       pg.events, "next", next ? json_string(next) : json_null()));
	hub_free(next);
	return rc;
}

/* ---- identity history --------------------------------------------------- */

/* The identity log is paged oldest first (log_page's seq order), so a page
 * stays the same as the log grows.  Cursor: "<seq>", the seq of the page's
 * last row (opaque to clients). */

struct history_page {
	json_t *rows;
	size_t limit, n;
	int64_t next_seq;          /* the limit-th row's: the next page is after it */
	int has_failed;            /* out of memory: the listing was stopped */
};

static int history_add(void *ctx, const struct store_log_entry *e)
{
	struct history_page *pg = ctx;
	if (++pg->n > pg->limit)
		return 1; /* one more than asked: there is a next page */
	if (json_array_append_new(pg->rows, profile_log_json(e))) {
		pg->has_failed = 1;
		return 1;
	}
	pg->next_seq = e->seq;
	return 0;
}

/* "<seq>" -> *seq.  0, CURSOR_INVALID or CURSOR_OUT_OF_RANGE. */
static int history_cursor_parse(const char *text, int64_t *seq)
{
	long long v;
	int rc;

	if (text[0] == '-')
		return CURSOR_INVALID; /* never made: seqs start at 1 */
	if ((rc = cursor_number(&text, '\0', &v)))
		return rc;
	*seq = v;
	return 0;
}

static int get_history(struct api *api, const struct api_request *req, const char *id,
		       struct api_response *resp)
{
	const char *limit_text, *after;
	struct history_page pg = {0};
	char live[PROFILE_ID_SIZE], shown[RECORD_SHOW_SIZE], next[24];
	long limit = API_HISTORY_DEFAULT;
	int64_t after_seq = 0;
	struct store *s;
	int rc;

	if (query_param(req, "limit", &limit_text, resp) ||
	    query_param(req, "after", &after, resp))
		return 1;
	if (limit_text && limit_parse(limit_text, API_HISTORY_MAX, &limit))
		return respond_error(resp, 400, "invalid_parameter",
				     "limit must be a number from 1 to %d", API_HISTORY_MAX);
	if (!str_is_utf8(id)) /* no profile ID is so */
		return respond_error(resp, 404, "not_found", "no profile %s", record_show(shown, id));
	rc = after ? history_cursor_parse(after, &after_seq) : 0;
	if (rc == CURSOR_OUT_OF_RANGE)
		return respond_error(resp, 400, "invalid_cursor",
				     "after: the cursor is out of range (use a previous page's next)");
	if (rc)
		return respond_error(resp, 400, "invalid_cursor",
				     "after must be a cursor from a previous page's next");
	if (!(s = pool_take(api)))
		return respond_store_unavailable(resp);
	rc = profile_resolve_id(s, id, live);
	if (rc == 0) {
		pool_give(api, s);
		return respond_error(resp, 404, "not_found", "no profile %s", record_show(shown, id));
	}
	pg.rows = json_array();
	pg.limit = (size_t)limit;
	if (rc < 0 ||
	    s->ops->log_page(s, live, after_seq, (size_t)limit + 1, history_add, &pg) ||
	    pg.has_failed) {
		log_error("api", "history: %s", read_error(s));
		json_decref(pg.rows);
		store_close(s);
		return respond_error(resp, 500, "store_error", "the store failed; see the hub's log");
	}
	pool_give(api, s);
	snprintf(next, sizeof(next), "%lld", (long long)pg.next_seq);
	return respond_json(resp, 200,
			    json_pack("{s:s, s:o, s:o}", "profile_id", live, "identity_log", pg.rows,
				      "next", pg.n > pg.limit ? json_string(next) : json_null()));
}

/* ---- privacy requests ---------------------------------------------------- */

/* A new request ("running", created now) in *out, not yet recorded.  0,
 * or -1 (logged) when no random ID can be drawn: a fixed one would be
 * shared by every such request, and an erase's record, whose message_id
 * is the ID (source "privacy"), would be dropped as a duplicate of the
 * first. */
static int request_new(const char *type, struct privacy_request *out)
{
	unsigned char rnd[8];
	char why[256];
	unsigned long e;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		e = ERR_get_error();
		ERR_error_string_n(e, why, sizeof(why));
		log_error("api", "%s request refused: no random request ID (RAND_bytes: %s)", type,
			  e ? why : "failed");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "pr_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(out->type, sizeof(out->type), "%s", type);
	snprintf(out->status, sizeof(out->status), "running");
	out->created_ms = time_now_ms();
	return 0;
}

/* The answer when request_new() failed. */
static int respond_no_request_id(struct api_response *resp)
{
	return respond_error(resp, 503, "random_unavailable",
			     "the hub cannot draw a random request ID; see its log");
}

static json_t *request_json(const struct privacy_request *r)
{
	char c[40], f[40];
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", r->id, "type", r->type, "status",
			 r->status, "created_at", time_format_ms(r->created_ms, c, sizeof(c)),
			 "finished_at", r->finished_ms ? json_string(time_format_ms(r->finished_ms, f, sizeof(f)))
						       : json_null());
}

/* The meta row of a request: its key, and its value (what GET answers,
 * malloc'd by jansson; NULL when out of memory). */
static void request_key(char *key, size_t size, const char *id)
{
	snprintf(key, size, PRIVACY_REQUEST_PREFIX "%s", id);
}

static char *request_text(const struct privacy_request *r)
{
	json_t *o = request_json(r);
	char *text = o ? json_dumps_whole(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

/* Writes r's record in a transaction of the API's record connection,
 * beside the intake writer as any other writer (never on the intake's
 * connection).  0, or -1 (logged: the record keeps what it said before). */
static int request_save(struct api *api, const struct privacy_request *r)
{
	char key[64], err[512] = "out of memory";
	char *text = request_text(r);
	struct store *s;
	int rc = -1;

	request_key(key, sizeof(key), r->id);
	pthread_mutex_lock(&api->record_lock);
	if (!text || (!api->record_store &&
		      store_open_existing(api->cfg, &api->record_store, err, sizeof(err))))
		goto out;
	s = api->record_store;
	if (s->ops->begin(s))
		goto failed;
	if (s->ops->meta_put(s, key, text) || s->ops->commit(s)) {
		s->ops->rollback(s);
		goto failed;
	}
	rc = 0;
	goto out;
failed:
	snprintf(err, sizeof(err), "%s", store_error(s));
	store_close(s); /* in doubt: never reused */
	api->record_store = NULL;
out:
	pthread_mutex_unlock(&api->record_lock);
	if (rc)
		log_error("api", "%s request %s: its record (%s) could not be written: %s", r->type,
			  r->id, r->status, err);
	free(text); /* json_dumps() allocates with malloc */
	return rc;
}

/* A request's end: its record says status, finished now. */
static void request_finish(struct api *api, struct privacy_request *r, const char *status)
{
	snprintf(r->status, sizeof(r->status), "%s", status);
	r->finished_ms = time_now_ms();
	request_save(api, r);
}

/* access_doc_sink: into the stream's spool file; the first failure's
 * errno is kept for the log. */
static int spool_sink(void *ctx, const char *data, size_t len)
{
	struct api_stream *st = ctx;

	if (fwrite(data, 1, len, st->spool) == len)
		return 0;
	if (!st->spool_errno)
		st->spool_errno = errno ? errno : EIO;
	return -1;
}

long api_stream_read(struct api_stream *st, char *buf, size_t max)
{
	size_t n;

	if (st->state != STREAM_SENDING)
		return st->state == STREAM_BROKEN ? -1 : 0;
	n = fread(buf, 1, max, st->spool);
	if (n > 0)
		return (long)n;
	if (ferror(st->spool)) {
		/* the 200 and part of the document are out: the answer is
		 * cut short, and what the client got is not valid JSON */
		log_error("api", "access request %s: reading its spooled document: %s",
			  st->request.id, strerror(errno));
		st->state = STREAM_BROKEN;
		return -1;
	}
	/* recorded before the end of the answer reaches the client: a GET
	 * that follows says done */
	st->state = STREAM_DONE;
	request_finish(st->api, &st->request, "done");
	return 0;
}

void api_stream_free(struct api_stream *st)
{
	if (!st)
		return;
	if (st->state == STREAM_SENDING)
		log_warn("api", "access request %s: the document was not read to its end "
			 "(the client went away, or the server stops)", st->request.id);
	if (st->state != STREAM_DONE)
		request_finish(st->api, &st->request, "failed");
	if (st->spool)
		fclose(st->spool);
	hub_free(st);
}

/* The record as the answer shows it before the work is over (the access
 * document's stream, an erase's commit): "done", finished now.
 * Provisional: if the document breaks off, the answer is not valid JSON;
 * if the erase is not committed, the answer is a 429 or 503; either way
 * the record (GET) says "failed". */
static json_t *request_json_provisional(const struct privacy_request *r)
{
	struct privacy_request shown = *r;

	snprintf(shown.status, sizeof(shown.status), "done");
	shown.finished_ms = time_now_ms();
	return request_json(&shown);
}

/* An unnamed file for a document (under $TMPDIR, else /tmp), readable by
 * this process alone: O_TMPFILE where the file system has it, else a
 * mkstemp name removed at once (a file that cannot be removed is not
 * used: it would keep personal data after the answer).  Not inherited by
 * a child a plugin may start.  Gone when closed.  NULL with errno set. */
static FILE *spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd, saved;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/profilehub-access.XXXXXX", dir);
		if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
			return NULL;
		if (unlink(path) != 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return NULL;
		}
	}
	if (!(f = fdopen(fd, "w+"))) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return f;
}

/*
 * Writes the access document of the profiles of by = value to a spool
 * file, within s's snapshot, then gives s back: a client reading slowly
 * holds no snapshot (which on PostgreSQL holds back vacuum and on SQLite
 * the WAL's checkpoints), and a store failure is a 500 before the
 * document, never a 200 cut short.  The answer streams the file.  Takes s.
 */
static int access_stream_start(struct api *api, const struct privacy_request *r, struct store *s,
			       const char *by, const char *value, struct api_response *resp)
{
	struct api_stream *st = hub_calloc(1, sizeof(*st));
	char(*ids)[PROFILE_ID_SIZE] = hub_calloc(API_FIND_MAX, PROFILE_ID_SIZE);
	struct access_doc_writer *w = NULL;
	json_t *head = NULL;
	int n, rc, code = 503;
	const char *err_code = "no_memory", *why = "out of memory";

	if (!st || !ids)
		goto fail;
	st->api = api;
	st->request = *r;
	if (!(st->spool = spool_open())) {
		log_error("api", "access request %s: no spool file: %s", r->id, strerror(errno));
		err_code = "spool_failed";
		why = "the hub cannot write a temporary file; see its log";
		goto fail;
	}
	n = profile_find(s, by, value, ids, API_FIND_MAX);
	if (n < 0)
		goto store_failed;
	head = request_json_provisional(r);
	w = head ? access_doc_writer_new(s, head, "document", by, value,
					 (const char(*)[PROFILE_ID_SIZE])ids, (size_t)n,
					 JSON_COMPACT | HUB_JSON_REAL, spool_sink, st)
		 : NULL;
	if (!w)
		goto fail;
	while ((rc = access_doc_writer_step(w)) > 0)
		;
	if (rc < 0 && !st->spool_errno)
		goto store_failed;
	if (!st->spool_errno && (fflush(st->spool) || fseek(st->spool, 0, SEEK_SET)))
		st->spool_errno = errno ? errno : EIO;
	if (st->spool_errno) {
		log_error("api", "access request %s: writing its spool file: %s", r->id,
			  strerror(st->spool_errno));
		err_code = "spool_failed";
		why = "the hub cannot write a temporary file; see its log";
		goto fail;
	}
	access_doc_writer_free(w);
	w = NULL;
	json_decref(head);
	head = NULL;
	hub_free(ids);
	ids = NULL;
	pool_give(api, s); /* ends the snapshot: the document is whole */
	s = NULL;
	/* the document gives out the ID: GET must know it from now on */
	if (request_save(api, r)) {
		err_code = "store_unavailable";
		why = "the store failed to record the request; see the hub's log";
		goto fail;
	}
	resp_header(resp, "Cache-Control", "no-store");
	resp_header(resp, "X-Content-Type-Options", "nosniff");
	resp->status = 200;
	resp->content_type = "application/json";
	resp->stream = st;
	return 1;
store_failed:
	log_error("api", "access request %s: %s", r->id, store_error(s));
	code = 500;
	store_close(s); /* in doubt: never reused */
	s = NULL;
fail:
	access_doc_writer_free(w);
	json_decref(head);
	hub_free(ids);
	if (s)
		pool_give(api, s);
	if (st && st->spool)
		fclose(st->spool);
	hub_free(st);
	if (code == 500)
		return respond_error(resp, 500, "store_error", "the store failed; see the hub's log");
	return respond_error(resp, 503, err_code, "%s", why);
}

static int privacy_access(struct api *api, const char *by, const char *value,
			  struct api_response *resp)
{
	struct privacy_request r;
	struct store *s;

	if (request_new("access", &r))
		return respond_no_request_id(resp);
	if (!(s = pool_take(api)))
		return respond_store_unavailable(resp);
	return access_stream_start(api, &r, s, by, value, resp);
}

/* An erase's record once done, committed with its batch (the batch's
 * cursor_key and cursor_value point here); freed at the batch's end
 * (ingest_pending.on_end). */
struct erase_done {
	char key[64];
	char *text;                     /* jansson's */
};

static void erase_done_free(void *ctx, hub_rc rc)
{
	struct erase_done *d = ctx;

	(void)rc; /* the record went with the batch, or nothing did: the
		   * client of an erase not committed got no ID */
	free(d->text); /* json_dumps() allocates with malloc */
	hub_free(d);
}

/*
 * An erase is a record through the intake, committed before the answer,
 * like ingestion: the answer is pending on its batch (resp->pending), which
 * the transport submits and waits for off its request threads, so erase
 * requests never hold them while commits are slow.  The answer's record
 * says "done", and the same record is committed in the erase's transaction
 * (GET says "done" once the answer is out).  If the commit fails the client
 * gets 429 or 503 instead, without an ID, and no record is left.
 */
static int privacy_erase(struct api *api, const char *by, const char *value,
			 struct api_response *resp)
{
	struct privacy_request r;
	struct erase_done *done = NULL;
	struct record *rec = NULL;
	char err[512];
	json_t *shown;
	hub_rc rc;

	if (request_new("erase", &r))
		return respond_no_request_id(resp);
	rc = privacy_erase_record(&api->rules, by, value, r.id, &rec, err, sizeof(err));
	if (rc == HUB_ERR_DATA)
		return respond_error(resp, 400, "invalid_request", "%s", err);
	done = rc == HUB_OK ? hub_calloc(1, sizeof(*done)) : NULL;
	shown = done ? request_json_provisional(&r) : NULL;
	if (done)
		done->text = shown ? json_dumps_whole(shown, JSON_COMPACT) : NULL;
	json_decref(shown);
	if (done && done->text && !(resp->pending = ingest_pending_new(&rec, 1, 200, done->text)))
		rec = NULL; /* freed by ingest_pending_new */
	if (!done || !resp->pending) {
		record_free(rec);
		if (done)
			erase_done_free(done, HUB_ERR_NOMEM);
		return respond_error(resp, 503, "no_memory", "out of memory");
	}
	request_key(done->key, sizeof(done->key), r.id);
	resp->pending->batch.cursor_key = done->key;
	resp->pending->batch.cursor_value = done->text;
	resp->pending->on_end = erase_done_free;
	resp->pending->on_end_ctx = done;
	resp->status = 200;
	return 1;
}

/* The 400 for a body jansson could not read: where, and what is wrong in
 * jansson's words; not the token it quotes ("... near 'token'"), which
 * could be anything the client sent (an identifier). */
static int respond_bad_json(struct api_response *resp, json_error_t *jerr)
{
	char *near = strstr(jerr->text, " near ");

	if (near)
		*near = '\0';
	return respond_error(resp, 400, "invalid_json", "invalid JSON at line %d, column %d: %s",
			     jerr->line, jerr->column, jerr->text);
}

/* The first member of a privacy request's body that is not type,
 * custom_id or installation_id, or an identifier that is not a non-empty
 * string, said into msg; 0 when there is none.  An erase cannot be
 * undone: an option it does not know ("dry_run") or a second identifier
 * it could not read is refused, never passed over. */
static int privacy_body_problem(json_t *body, char *msg, size_t size)
{
	char shown[RECORD_SHOW_SIZE];
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		int is_id = strcmp(key, "custom_id") == 0 || strcmp(key, "installation_id") == 0;
		if (!is_id && strcmp(key, "type") != 0) {
			snprintf(msg, size, "unknown key \"%s\": a privacy request has type and "
					    "custom_id or installation_id", record_show(shown, key));
			return 1;
		}
		if (is_id && (!json_is_string(v) || !*json_string_value(v))) {
			snprintf(msg, size, "%s must be a non-empty string (or left out)", key);
			return 1;
		}
	}
	return 0;
}

static int post_privacy(struct api *api, const struct api_request *req, struct api_response *resp)
{
	char problem[256];
	json_error_t jerr;
	json_t *body = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
				 : NULL;
	const char *type, *by = NULL, *value = NULL;
	int n_ids = 0, rc;

	if (req->body && !body)
		return respond_bad_json(resp, &jerr);
	if (!json_is_object(body)) {
		json_decref(body);
		return respond_error(resp, 400, "invalid_json",
				     "the body must be a JSON object like {\"type\": \"access\", \"custom_id\": \"C1\"}");
	}
	type = json_string_value(json_object_get(body, "type"));
	for (size_t i = 0; i < 2; i++) {
		const char *v = json_string_value(json_object_get(body, lookup_keys[i]));
		if (v && *v) {
			n_ids++;
			by = lookup_keys[i];
			value = v;
		}
	}
	if (!type || (strcmp(type, "access") != 0 && strcmp(type, "erase") != 0))
		rc = respond_error(resp, 400, "invalid_parameter", "type must be \"access\" or \"erase\"");
	else if (n_ids > 1)
		rc = respond_error(resp, 400, "invalid_parameter",
				   "give the person's custom_id or installation_id, not both");
	else if (!by)
		rc = respond_error(resp, 400, "missing_parameter",
				   "give the person's custom_id or installation_id (a string)");
	else if (privacy_body_problem(body, problem, sizeof(problem)))
		rc = respond_error(resp, 400, "invalid_parameter", "%s", problem);
	else if (strcmp(type, "access") == 0)
		rc = privacy_access(api, by, value, resp);
	else
		rc = privacy_erase(api, by, value, resp);
	json_decref(body);
	return rc;
}

/* 1 when id is one request_new() draws: "pr_" and 16 hex digits. */
static int request_id_is_valid(const char *id)
{
	return strncmp(id, "pr_", 3) == 0 && strlen(id) == 19 &&
	       strspn(id + 3, "0123456789abcdef") == 16;
}

static int get_privacy(struct api *api, const char *id, struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE], key[64], text[512];
	json_t *found = NULL;
	struct store *s;
	int rc = 0;

	if (request_id_is_valid(id)) {
		if (!(s = pool_take(api)))
			return respond_store_unavailable(resp);
		request_key(key, sizeof(key), id);
		rc = s->ops->meta_get(s, key, text, sizeof(text));
		if (rc < 0) {
			log_error("api", "privacy request %s: %s", id, store_error(s));
			store_close(s);
			return respond_error(resp, 500, "store_error",
					     "the store failed; see the hub's log");
		}
		pool_give(api, s);
	}
	if (rc == 1 && !(found = json_loads_whole(text, 0, NULL, NULL)))
		return respond_error(resp, 500, "internal", "the request's record is unreadable");
	if (!found)
		return respond_error(resp, 404, "not_found", "no privacy request %s",
				     record_show(shown, id));
	return respond_json(resp, 200, found);
}

/* ---- sources and exports ---------------------------------------------- */

static int get_status(json_t *(*fn)(void *), void *ctx, const char *key,
		      struct api_response *resp)
{
	json_t *list = fn ? fn(ctx) : json_array();
	if (!list)
		return respond_error(resp, 500, "internal", "status unavailable");
	/* a provider may answer the list, or the whole {"<key>": [...]} */
	if (json_is_object(list) && json_is_array(json_object_get(list, key)))
		return respond_json(resp, 200, list);
	return respond_json(resp, 200, json_pack("{s:o}", key, list));
}

static int post_sync(struct api *api, const char *name, struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE];

	if (!api->providers.source_trigger || api->providers.source_trigger(api->providers.ctx, name))
		return respond_error(resp, 404, "not_found", "no scheduled pull source named %s",
				     record_show(shown, name));
	return respond_json(resp, 202, json_pack("{s:s, s:s}", "source", name, "status", "queued"));
}

static int post_backfill(struct api *api, const char *name, struct api_response *resp)
{
	char err[512] = "", shown[RECORD_SHOW_SIZE];
	int why = 0, rc;

	if (!api->providers.export_backfill)
		return respond_error(resp, 404, "not_found", "no export named %s",
				     record_show(shown, name));
	rc = api->providers.export_backfill(api->providers.ctx, name, &why, err, sizeof(err));
	if (rc == 1 && why == EXPORT_BACKFILL_NO_EXPORT)
		return respond_error(resp, 404, "not_found", "no export named %s",
				     record_show(shown, name));
	if (rc == 1)
		return respond_error(resp, 409, "no_profile_updates", "%s", err);
	if (rc != 0) {
		log_error("api", "backfill of %s: %s", name, err);
		return respond_error(resp, 503, "store_unavailable", "the store failed; retry");
	}
	return respond_json(resp, 202, json_pack("{s:s, s:s}", "export", name, "backfill",
						 "requested"));
}

static int post_retry(struct api *api, const char *name, struct api_response *resp)
{
	char err[512] = "", shown[RECORD_SHOW_SIZE];
	int why = 0, rc;
	int64_t n = 0;

	if (!api->providers.export_retry)
		return respond_error(resp, 404, "not_found", "no export named %s",
				     record_show(shown, name));
	rc = api->providers.export_retry(api->providers.ctx, name, &why, &n, err, sizeof(err));
	if (rc == 1)
		return respond_error(resp, 404, "not_found", "no export named %s",
				     record_show(shown, name));
	if (rc != 0) {
		log_error("api", "dead letters of %s: %s", name, err);
		return respond_error(resp, 503, "store_unavailable", "the store failed; retry");
	}
	return respond_json(resp, 200, json_pack("{s:s, s:I}", "export", name, "retried",
						 (json_int_t)n));
}

/* ---- dispatch ------------------------------------------------------------ */

static int serve_page(const struct api_request *req, struct api_response *resp)
{
	const struct web_asset *a = web_asset_find(req->path);
	if (!a)
		return 0;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		resp_header(resp, "Allow", "GET, HEAD");
		return respond_error(resp, 405, "method_not_allowed", "use GET");
	}
	resp->status = 200;
	resp->static_body = a->data;
	resp->body_len = a->size;
	resp->content_type = a->content_type;
	resp_header(resp, "Content-Security-Policy",
		    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
		    "frame-ancestors 'none'");
	resp_header(resp, "X-Frame-Options", "DENY"); /* frame-ancestors, for browsers before CSP 2 */
	resp_header(resp, "X-Content-Type-Options", "nosniff");
	resp_header(resp, "Cache-Control", "no-cache");
	resp_header(resp, "Referrer-Policy", "no-referrer");
	return 1;
}

/* 1 when req's method is the route's, m.  A GET route takes HEAD too
 * (RFC 9110: HEAD wherever GET; the transport sends the answer's status
 * and headers without its body).  Else 0, the 405 with the route's Allow
 * in resp and *handled set. */
static int method_is(const struct api_request *req, const char *m, struct api_response *resp,
		     int *handled)
{
	int is_get = strcmp(m, "GET") == 0;

	if (strcmp(req->method, m) == 0 || (is_get && strcmp(req->method, "HEAD") == 0))
		return 1;
	resp_header(resp, "Allow", is_get ? "GET, HEAD" : m);
	*handled = respond_error(resp, 405, "method_not_allowed", "use %s", m);
	return 0;
}

/* The name of <head><name><tail> (into name), e.g. /v1/sources/<name>/sync,
 * or -1. */
static int path_named(const char *path, const char *head, const char *tail, char *name,
		      size_t size)
{
	size_t len = strlen(path), lh = strlen(head), lt = strlen(tail), n;

	if (strncmp(path, head, lh) != 0 || len < lh + lt || strcmp(path + len - lt, tail) != 0)
		return -1;
	n = len - lh - lt;
	if (n == 0 || n >= size || memchr(path + lh, '/', n))
		return -1;
	memcpy(name, path + lh, n);
	name[n] = '\0';
	return 0;
}

int api_authorize(const struct api *api, const char *path, const char *authorization,
		  struct api_response *resp)
{
	struct api_request req = {.path = path, .authorization = authorization};

	memset(resp, 0, sizeof(*resp));
	if (strncmp(path, "/v1/", 4) != 0)
		return 0;
	return resp_checked(resp, auth_check(api, &req, resp));
}

int api_wants_body(const char *method, const char *path)
{
	return strcmp(method, "POST") == 0 && strcmp(path, "/v1/privacy/requests") == 0;
}

/* api_handle() but for a response that lost a header. */
static int api_route(struct api *api, const struct api_request *req, struct api_response *resp)
{
	const char *p = req->path;
	char id[256];
	int handled = 1;

	if (strncmp(p, "/v1/", 4) != 0)
		return serve_page(req, resp);
	if (auth_check(api, req, resp))
		return 1;
	if (strcmp(p, "/v1/profiles") == 0)
		return method_is(req, "GET", resp, &handled) ? get_profiles(api, req, resp) : handled;
	if (strncmp(p, "/v1/profiles/", 13) == 0 && !path_profile(p, "events", id, sizeof(id)))
		return method_is(req, "GET", resp, &handled) ? get_events(api, req, id, resp) : handled;
	if (strncmp(p, "/v1/profiles/", 13) == 0 && !path_profile(p, "history", id, sizeof(id)))
		return method_is(req, "GET", resp, &handled) ? get_history(api, req, id, resp) : handled;
	if (strcmp(p, "/v1/privacy/requests") == 0)
		return method_is(req, "POST", resp, &handled) ? post_privacy(api, req, resp) : handled;
	if (strncmp(p, "/v1/privacy/requests/", 21) == 0 && p[21] && !strchr(p + 21, '/'))
		return method_is(req, "GET", resp, &handled) ? get_privacy(api, p + 21, resp) : handled;
	if (strcmp(p, "/v1/sources") == 0)
		return method_is(req, "GET", resp, &handled)
			       ? get_status(api->providers.sources_status, api->providers.ctx, "sources", resp)
			       : handled;
	if (!path_named(p, "/v1/sources/", "/sync", id, sizeof(id)))
		return method_is(req, "POST", resp, &handled) ? post_sync(api, id, resp) : handled;
	if (!path_named(p, "/v1/exports/", "/backfill", id, sizeof(id)))
		return method_is(req, "POST", resp, &handled) ? post_backfill(api, id, resp) : handled;
	if (!path_named(p, "/v1/exports/", "/dead_letters/retry", id, sizeof(id)))
		return method_is(req, "POST", resp, &handled) ? post_retry(api, id, resp) : handled;
	if (strcmp(p, "/v1/exports") == 0)
		return method_is(req, "GET", resp, &handled)
			       ? get_status(api->providers.exports_status, api->providers.ctx, "exports", resp)
			       : handled;
	return respond_error(resp, 404, "not_found", "no such route");
}

int api_handle(struct api *api, const struct api_request *req, struct api_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	return resp_checked(resp, api_route(api, req, resp));
}

int api_open(struct api **out, const struct hub_config *cfg, struct intake *intake,
	     const struct api_providers *providers, char *err, size_t err_size)
{
	struct api *api = hub_calloc(1, sizeof(*api));
	if (!api) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	api->cfg = cfg;
	api->intake = intake;
	if (providers)
		api->providers = *providers;
	api->rules.external_ids = cfg->external_ids;
	api->rules.n_external_ids = cfg->n_external_ids;
	api->rules.blocked_values = cfg->blocked_values;
	api->rules.n_blocked_values = cfg->n_blocked_values;
	pthread_mutex_init(&api->lock, NULL);
	pthread_mutex_init(&api->record_lock, NULL);
	*out = api;
	return 0;
}

void api_set_store_hook(struct api *api, void (*hook)(void *ctx, struct store *s), void *ctx)
{
	api->store_hook = hook;
	api->store_hook_ctx = ctx;
}

void api_close(struct api *api)
{
	if (!api)
		return;
	for (size_t i = 0; i < api->n_pool; i++)
		store_close(api->pool[i]);
	store_close(api->record_store);
	pthread_mutex_destroy(&api->lock);
	pthread_mutex_destroy(&api->record_lock);
	hub_free(api);
}
