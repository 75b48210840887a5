/*
 * http_ingest.c - see http_ingest.h.  Three ideas:
 *
 *   - A body is held in memory up to the limit (http.max_body) and never
 *     beyond: past it the bytes are counted and dropped, and a client that
 *     keeps sending gets its connection closed.  A compressed body is
 *     inflated with the same limit on its output (no zip bombs).
 *   - Records a route emits are validated and copied at once
 *     (record_from_hub); invalid ones are refused to the plugin with the
 *     reason, which decides (Segment rejects the whole request, naming the
 *     item).  Nothing reaches the intake unless the route answered 2xx.
 *   - The answer waits for the commit: 2xx means durable.  It says what
 *     was wrong with the request, never what is stored: the writer's
 *     warnings about a push source's records are logged instead.
 *
 * Runs on the HTTP threads; nothing here knows libmicrohttpd.  Never log a
 * body, a header or a record value.
 */
#include "http_ingest.h"

#include "alloc.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define WARNINGS_MAX 100

/* ---- answers ---------------------------------------------------------- */

static char *json_text_new(json_t *v)
{
	char *text = v ? json_dumps_whole(v, JSON_COMPACT) : NULL;
	char *copy = text ? hub_strdup(text) : NULL;

	free(text);
	return copy;
}

#define ERROR_BODY_MAX 1024 /* what a plugin's error_body may write */

void ingest_reply_error(struct ingest_reply *r, unsigned status, const char *code,
			const char *message)
{
	json_t *o;

	hub_free(r->body);
	r->body = NULL;
	r->status = status;
	if (r->error_body) {
		char body[ERROR_BODY_MAX] = "";

		r->error_body(status, code, message, body, sizeof(body));
		body[sizeof(body) - 1] = '\0';
		if (body[0]) {
			r->body = hub_strdup(body);
			return;
		}
	}
	o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
	r->body = json_text_new(o);
	json_decref(o);
}

void ingest_reply_free(struct ingest_reply *r)
{
	hub_free(r->body);
	r->body = NULL;
}

/* The ingestion's words when its records are not committed. */
static const struct ingest_fail_words ingest_records_words = {
	"the records could not be stored; retry later (a resend of records stored after"
	" all is skipped as a duplicate)",
	"whether the records were stored is unknown (the store's answer to the commit was"
	" lost); resend them: records stored already are skipped as duplicates",
};

/* ingest_reply_intake() with the words of `w`. */
static void ingest_reply_failed(struct ingest_reply *r, hub_rc rc, const char *why,
				const struct ingest_fail_words *w)
{
	switch (rc) {
	case HUB_ERR_BUSY:
		ingest_reply_error(r, 429, "busy", "the intake queue is full; retry later");
		snprintf(r->retry_after, sizeof(r->retry_after), "1");
		break;
	case HUB_ERR_STOPPED:
		ingest_reply_error(r, 503, "stopping", "the hub is shutting down; retry later");
		snprintf(r->retry_after, sizeof(r->retry_after), "5");
		break;
	case HUB_RETRY:
		/* the intake logs a store that cannot commit, as a state:
		 * not here, once a request */
		log_debug("http", "commit failed, answering 503: %s", why ? why : "");
		/* an outcome the store could not tell is answered apart
		 * (ingest_pending_finish: commit_unknown); a resend is safe
		 * either way (dedupe) */
		ingest_reply_error(r, 503, "commit_failed", w->failed);
		snprintf(r->retry_after, sizeof(r->retry_after), "1");
		break;
	default:
		log_error("http", "intake failed, answering 500: %s", why ? why : "");
		ingest_reply_error(r, 500, "internal", w->failed);
		break;
	}
}

void ingest_reply_intake(struct ingest_reply *r, hub_rc rc, const char *why)
{
	ingest_reply_failed(r, rc, why, &ingest_records_words);
}

/* ---- bodies ----------------------------------------------------------- */

int ingest_encoding_parse(const char *value, enum ingest_encoding *out)
{
	size_t n;

	*out = INGEST_IDENTITY;
	if (!value)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(value);
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n == 0 || (n == 8 && strncasecmp(value, "identity", 8) == 0))
		return 0;
	if ((n == 4 && strncasecmp(value, "gzip", 4) == 0) ||
	    (n == 6 && strncasecmp(value, "x-gzip", 6) == 0)) {
		*out = INGEST_GZIP;
		return 0;
	}
	if (n == 7 && strncasecmp(value, "deflate", 7) == 0) {
		*out = INGEST_DEFLATE;
		return 0;
	}
	return -1;
}

int ingest_body_init(struct ingest_body *b, size_t limit, size_t expected)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
	if (expected == 0 || expected > limit)
		return 0;
	b->data = hub_malloc(expected + 1);
	if (!b->data)
		return -1;
	b->cap = expected + 1;
	b->data[0] = '\0';
	return 0;
}

int ingest_body_append(struct ingest_body *b, const char *data, size_t n)
{
	if (b->is_too_large || n > b->limit - b->len) {
		if (!b->is_too_large) {
			b->is_too_large = 1;
			b->discarded = b->len; /* what was kept is dropped too */
			hub_free(b->data);
			b->data = NULL;
			b->len = b->cap = 0;
		}
		b->discarded += n;
		return b->discarded - b->limit > b->limit ? -1 : 1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->limit + 1)
			cap = b->limit + 1;
		p = hub_realloc(b->data, cap);
		if (!p)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void ingest_body_free(struct ingest_body *b)
{
	hub_free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Grows the output of an inflate to hold up to limit + 1 bytes (one more
 * than allowed, to tell "exactly the limit" from "past it").  -1: no memory. */
static int inflate_grow(char **buf, size_t *cap, size_t limit)
{
	size_t want = *cap ? *cap * 2 : 16384;
	char *p;

	if (want > limit + 2)
		want = limit + 2; /* limit + 1 bytes + NUL */
	p = hub_realloc(*buf, want);
	if (!p)
		return -1;
	*buf = p;
	*cap = want;
	return 0;
}

/* One inflate attempt with zlib's window bits `wbits`.  Returns 0, 1 (too
 * large), 2 (invalid), 3 (no memory). */
static int inflate_try(int wbits, int allow_members, const char *in, size_t in_len,
		       size_t limit, char **out, size_t *out_len)
{
	z_stream zs;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	int ret, rc = 2;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, wbits) != Z_OK)
		return 3;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len; /* in_len <= http.max_body, checked by caller */
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= limit + 2) {
				rc = 1;
				goto out;
			}
			if (inflate_grow(&buf, &cap, limit)) {
				rc = 3;
				goto out;
			}
		}
		zs.next_out = (Bytef *)buf + len;
		zs.avail_out = (uInt)(cap - 1 - len);
		ret = inflate(&zs, Z_NO_FLUSH);
		len = (size_t)((char *)zs.next_out - buf);
		if (len > limit) {
			rc = 1;
			goto out;
		}
		if (ret == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			/* gzip allows several members back to back */
			if (!allow_members || inflateReset(&zs) != Z_OK)
				goto out;
			continue;
		}
		if (ret == Z_MEM_ERROR) {
			rc = 3;
			goto out;
		}
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			goto out; /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
		if (zs.avail_in == 0 && zs.avail_out > 0)
			goto out; /* the input ended inside the stream: truncated */
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
out:
	inflateEnd(&zs);
	hub_free(buf);
	return rc;
}

int ingest_inflate(enum ingest_encoding enc, const char *in, size_t in_len, size_t limit,
		   char **out, size_t *out_len, struct ingest_reply *r)
{
	char msg[128];
	int rc;

	*out = NULL;
	*out_len = 0;
	if (enc == INGEST_GZIP) {
		rc = inflate_try(15 + 16, 1, in, in_len, limit, out, out_len);
	} else {
		/* "deflate" is zlib-wrapped by the RFC; some clients send it raw */
		rc = inflate_try(15, 0, in, in_len, limit, out, out_len);
		if (rc == 2)
			rc = inflate_try(-15, 0, in, in_len, limit, out, out_len);
	}
	switch (rc) {
	case 0:
		return 0;
	case 1:
		/* the hub's own limit: a route's smaller one is its plugin's to name */
		snprintf(msg, sizeof(msg),
			 "the decoded body is larger than the hub's http.max_body (%zu bytes)",
			 limit);
		ingest_reply_error(r, 413, "body_too_large", msg);
		break;
	case 2:
		ingest_reply_error(r, 400, "invalid_gzip",
				   enc == INGEST_GZIP ? "the gzip body is truncated or corrupt"
						      : "the deflate body is truncated or corrupt");
		break;
	default:
		ingest_reply_error(r, 503, "no_memory", "out of memory; retry later");
		snprintf(r->retry_after, sizeof(r->retry_after), "1");
		break;
	}
	return -1;
}

/* ---- the call --------------------------------------------------------- */

/* One request's batch being built (one HTTP thread). */
struct ingest_call {
	const struct ingest_env *env;
	const char *source;
	int64_t now_ms;
	struct record **recs;
	size_t *indexes;   /* each record's emit() index */
	size_t n_recs, cap_recs;
	size_t n_emitted;  /* emit() calls: the index of the next record */
	size_t n_invalid;  /* refused: by validation, or by the plugin (reject()) */
	size_t n_skipped;  /* not stored by the plugin's choice (skip()) */
	json_t *warnings;  /* [{"index", "at"?, "message"}] or NULL */
	hub_rc failed_rc;  /* the first emit() failure not a refusal (out of
			    * memory), its record not taken: no 2xx may follow */
	char failed_why[160];
};

/* One warning per dropped attribute: `index` is the record's among the
 * request's records; `at`, when the plugin says (ABI 1.3 origin), where
 * the record is in the request ("batches[1].events[2]"). */
static void warnings_add(json_t **list, size_t index, const char *origin, const char *msg)
{
	json_t *o;

	if (!*list && !(*list = json_array()))
		return;
	if (json_array_size(*list) >= WARNINGS_MAX)
		return;
	o = json_pack("{s:I, s:s}", "index", (json_int_t)index, "message", msg);
	if (o && origin)
		json_object_set_new(o, "at", json_string(origin));
	json_array_append_new(*list, o);
}

/* Validation's warnings about a record. */
static void call_add_warnings(struct ingest_call *ic, size_t index, const char *origin,
			      struct record_warnings *w)
{
	for (size_t i = 0; i < w->n; i++)
		warnings_add(&ic->warnings, index, origin, w->items[i]);
}

/* The writer's warnings about the committed records (an array op past the
 * limit because of what was stored: intake.h), after validation's: for
 * records of the hub's own (an erase's: its client holds an API token). */
static void pending_add_warnings(struct ingest_pending *p)
{
	for (size_t i = 0; i < p->batch.n_warnings; i++) {
		const struct intake_warning *w = &p->batch.warnings[i];
		size_t index = p->indexes ? p->indexes[w->index] : w->index;
		warnings_add(&p->warnings, index, p->batch.records[w->index]->origin, w->message);
	}
}

/* The same warnings of a push source's records, logged instead: they say
 * what is stored ("would leave 26 items": the stored array and whether a
 * value $removed was in it), and a write key is public in a browser, so
 * whoever holds one could read any customer's attributes through them
 * without changing a thing.  As a refused alias, the log says why.  A
 * client can send them at will, so the source's first one is logged, then
 * one at most every LOG_NOTE_MS, with the count so far (the request's
 * first warning stands for the rest of it). */
static void pending_log_warnings(const struct ingest_pending *p)
{
	const struct intake_warning *w = &p->batch.warnings[0];
	const char *message_id;
	char shown[RECORD_SHOW_SIZE];
	long long n;

	if (p->batch.n_warnings == 0 || !p->inst)
		return;
	n = log_note_add(&p->inst->write_warnings, (long long)p->batch.counts.warnings,
			 time_mono_ms());
	if (n == 0)
		return;
	message_id = p->batch.records[w->index]->message_id;
	log_info("http", "source \"%s\": record %zu of a request (message_id %s): %s (not in the"
		 " answer: it tells what is stored; %lld such warning%s so far, a line every %d s"
		 " at most)", p->inst->name, p->indexes ? p->indexes[w->index] : w->index,
		 record_show(shown, message_id ? message_id : ""), w->message, n, n == 1 ? "" : "s",
		 LOG_NOTE_MS / 1000);
}

/* Room for more records (and their indexes).  0, or -1 out of memory. */
static int call_grow(struct ingest_call *ic)
{
	size_t cap = ic->cap_recs ? 2 * ic->cap_recs : 16;
	struct record **recs = hub_realloc(ic->recs, cap * sizeof(*recs));
	size_t *indexes;

	if (!recs)
		return -1;
	ic->recs = recs;
	indexes = hub_realloc(ic->indexes, cap * sizeof(*indexes));
	if (!indexes)
		return -1;
	ic->indexes = indexes;
	ic->cap_recs = cap;
	return 0;
}

/* emit() could not take a record: remembered, so that a route going on to
 * a 2xx regardless is not believed (ingest_run).  Returns rc. */
static hub_rc call_failed(struct ingest_call *ic, hub_rc rc, const char *why)
{
	if (ic->failed_rc == HUB_OK) {
		ic->failed_rc = rc;
		snprintf(ic->failed_why, sizeof(ic->failed_why), "%s", why);
	}
	return rc;
}

static hub_rc call_on_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			   size_t err_size)
{
	struct ingest_call *ic = call->ctx;
	struct record_warnings w;
	struct record *r = NULL;
	size_t index = ic->n_emitted++;
	hub_rc rc;

	memset(&w, 0, sizeof(w));
	rc = record_from_hub(rec, ic->source, &ic->env->rules, ic->now_ms, &r, &w, err, err_size);
	if (rc != HUB_OK) {
		if (rc == HUB_ERR_DATA)
			ic->n_invalid++;
		record_warnings_clear(&w);
		return rc == HUB_ERR_DATA ? rc : call_failed(ic, rc, err);
	}
	if (ic->n_recs == ic->cap_recs && call_grow(ic)) {
		record_free(r);
		record_warnings_clear(&w);
		err_set(err, err_size, "out of memory");
		return call_failed(ic, HUB_ERR_NOMEM, err);
	}
	ic->indexes[ic->n_recs] = index;
	ic->recs[ic->n_recs++] = r;
	call_add_warnings(ic, index, record_origin(rec), &w);
	record_warnings_clear(&w);
	return HUB_OK;
}

/* reject() (ABI 1.2): an item the route refused itself.  Counted in the
 * metrics with the records validation refused; the route answers the
 * client itself, so the reason goes nowhere. */
static hub_rc call_on_reject(struct hub_call *call, const char *why)
{
	struct ingest_call *ic = call->ctx;

	(void)why;
	ic->n_invalid++;
	return HUB_OK;
}

/* skip() (ABI 1.12): an item the route deliberately does not store
 * (host_skip logged why): counted in the metrics if the request stands. */
static hub_rc call_on_skip(struct hub_call *call, const char *why)
{
	struct ingest_call *ic = call->ctx;

	(void)why;
	ic->n_skipped++;
	return HUB_OK;
}

/* warn() (ABI 1.6): a value the route left out of the record it last
 * emitted (and kept), added to the answer's warnings as validation's are:
 * its index, and its origin as "at". */
static hub_rc call_on_warn(struct hub_call *call, const char *why)
{
	struct ingest_call *ic = call->ctx;
	const struct record *last = ic->n_recs ? ic->recs[ic->n_recs - 1] : NULL;

	warnings_add(&ic->warnings, ic->n_emitted ? ic->n_emitted - 1 : 0,
		     last ? last->origin : NULL, why);
	return HUB_OK;
}

static void call_free(struct ingest_call *ic)
{
	for (size_t i = 0; i < ic->n_recs; i++)
		record_free(ic->recs[i]);
	hub_free(ic->recs);
	hub_free(ic->indexes);
	json_decref(ic->warnings);
}

/* ---- the plugin's answer ---------------------------------------------- */

static const char *status_code_name(unsigned status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 413: return "body_too_large";
	case 415: return "unsupported_media_type";
	case 429: return "busy";
	case 503: return "unavailable";
	default: return status >= 500 ? "internal" : "error";
	}
}

/* The status a handler's rc means when it set no failing status. */
static unsigned status_of_rc(hub_rc rc)
{
	switch (rc) {
	case HUB_ERR_DATA: return 400;
	case HUB_ERR_AUTH: return 401;
	case HUB_ERR_BUSY: return 429;
	case HUB_RETRY:
	case HUB_ERR_NOMEM:
	case HUB_ERR_STOPPED: return 503;
	default: return 500;
	}
}

/* A Retry-After the plugin set: a short printable token, or nothing. */
static void copy_retry_after(struct ingest_reply *r, const char *value)
{
	size_t n = value ? strlen(value) : 0;

	if (n == 0 || n >= sizeof(r->retry_after))
		return;
	for (size_t i = 0; i < n; i++)
		if (value[i] < 0x20 || value[i] > 0x7e)
			return;
	memcpy(r->retry_after, value, n + 1);
}

/* The body of a 2xx: the plugin's, with the warnings added when it is a
 * JSON object that has none. */
static char *body_with_warnings(const char *body, json_t *warnings)
{
	json_t *o;
	char *text;

	if (!warnings || json_array_size(warnings) == 0)
		return hub_strdup(body[0] ? body : "{}");
	o = json_loads(body[0] ? body : "{}", JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || json_object_get(o, "warnings")) {
		json_decref(o);
		return hub_strdup(body);
	}
	json_object_set(o, "warnings", warnings);
	text = json_text_new(o);
	json_decref(o);
	return text;
}

/* A handler's answer no client can be given as it is (a plugin bug): a
 * code not of enum hub_rc, or a status neither 0 nor 200..599.  Returns 1
 * and says what is wrong in why, else 0. */
static int answer_problem(hub_rc rc, int status, char *why, size_t why_size)
{
	if (!plugin_rc_is_known(rc))
		snprintf(why, why_size, "returned %d, which is not a hub_rc", (int)rc);
	else if (rc == HUB_MORE)
		snprintf(why, why_size, "returned HUB_MORE, which only a pull returns");
	else if (status != 0 && (status < 200 || status > 599))
		snprintf(why, why_size, "set status %d (0 or 200..599)", status);
	else
		return 0;
	return 1;
}

/* Names the plugin, its route and what is wrong: the first time, then at
 * most every PLUGIN_BAD_ANSWER_NOTE_MS with the count (a route that always
 * answers so must not flood the log). */
static void note_bad_answer(struct hub_instance *inst, const struct hub_route *route,
			    const char *why, unsigned status)
{
	long long n = plugin_bad_answer_count(inst);

	if (n == 0)
		return;
	log_error("http", "source \"%s\" (plugin %s): route %s %s %s; answered %u (a bug in"
			  " the plugin; %lld such answers so far)",
		  inst->name, inst->mod->name, route->method, route->path, why, status, n);
}

/* The answer of a handler that did not succeed (rc or status).  One the
 * hub cannot use is logged (note_bad_answer) and, when it comes out a 500
 * (HUB_OK or an unknown code without a status of 300..599), its body is
 * not sent either, as it may say success; with the plugin's own 300..599
 * status, or a code's 4xx/503, the body goes out as with any refusal. */
static void reply_refused(struct ingest_reply *r, struct hub_instance *inst,
			  const struct hub_route *route, hub_rc rc, const struct hub_response *resp)
{
	unsigned status = (unsigned)resp->status;
	int is_bad = 0;
	char msg[160];

	if (answer_problem(rc, resp->status, msg, sizeof(msg)))
		is_bad = 1;
	if (resp->status < 300 || resp->status > 599)
		status = rc == HUB_OK ? 500 : status_of_rc(rc);
	if (is_bad)
		note_bad_answer(inst, route, msg, status);
	copy_retry_after(r, resp->retry_after);
	if (is_bad && status == 500) {
		ingest_reply_error(r, 500, "internal",
				   "the source's plugin gave an answer the hub cannot use (see the"
				   " hub's log)");
		return;
	}
	if (resp->body[0]) {
		hub_free(r->body);
		r->status = status;
		r->body = hub_strdup(resp->body);
		return;
	}
	snprintf(msg, sizeof(msg), "the request was refused (%s)",
		 rc == HUB_OK ? "no reason given" : status_code_name(status));
	ingest_reply_error(r, status, status_code_name(status), msg);
}

/* A route answered 2xx after emit() could not take one of its records:
 * the 2xx would say stored of a record that is not.  Logged as the
 * plugin's bug; the request is refused as emit() was (503, nothing stored).
 * Returns the code it is refused with. */
static hub_rc call_refuse_success(const struct ingest_call *ic, struct hub_instance *inst,
				  const struct hub_route *route, struct hub_response *resp)
{
	char why[240];

	snprintf(why, sizeof(why), "answered %d after emit() failed (%s)", resp->status,
		 ic->failed_why);
	note_bad_answer(inst, route, why, status_of_rc(ic->failed_rc));
	resp->status = 0;
	resp->body[0] = '\0';
	resp->retry_after = "1";
	return ic->failed_rc;
}

int ingest_admit(struct hub_instance *inst, const struct hub_route *route,
		 const struct hub_request *req, struct ingest_reply *r)
{
	struct hub_response resp;
	hub_rc rc;

	if (!inst->mod->admit)
		return 0;
	memset(&resp, 0, sizeof(resp));
	atomic_fetch_add(&inst->n_in_handler, 1);
	req = host_request_enter(req, inst, "admit");
	rc = inst->mod->admit(inst->state, req, &resp);
	host_request_leave(req);
	atomic_fetch_sub(&inst->n_in_handler, 1);
	resp.body[sizeof(resp.body) - 1] = '\0';
	if (rc == HUB_OK && (resp.status == 0 || (resp.status >= 200 && resp.status <= 299)))
		return 0;
	reply_refused(r, inst, route, rc, &resp);
	return 1;
}

int ingest_run(const struct ingest_env *env, struct hub_instance *inst,
	       const struct hub_route *route, const struct hub_request *req,
	       struct ingest_reply *r, struct ingest_pending **out)
{
	struct ingest_pending *p;
	struct ingest_call ic;
	struct hub_call call, *h;
	hub_rc rc;

	*out = NULL;
	p = hub_calloc(1, sizeof(*p));
	if (!p) {
		ingest_reply_error(r, 503, "no_memory", "out of memory; retry later");
		snprintf(r->retry_after, sizeof(r->retry_after), "1");
		return 0;
	}
	memset(&ic, 0, sizeof(ic));
	ic.env = env;
	ic.source = inst->name;
	ic.now_ms = host_table()->now_ms();
	memset(&call, 0, sizeof(call));
	call.inst = inst;
	call.on_emit = call_on_emit;
	call.on_reject = call_on_reject;
	call.on_warn = call_on_warn;
	call.on_skip = call_on_skip;
	call.stop = env->stop;
	call.ctx = &ic;

	atomic_fetch_add(&inst->n_in_handler, 1);
	h = host_call_enter(&call, "handle");
	req = host_request_enter(req, inst, "handle");
	rc = route->handle(inst->state, h, req, &p->resp);
	host_request_leave(req);
	host_call_leave(h);
	atomic_fetch_sub(&inst->n_in_handler, 1);
	p->resp.body[sizeof(p->resp.body) - 1] = '\0';
	if (rc == HUB_OK && p->resp.status == 0)
		p->resp.status = 200;
	if (rc == HUB_OK && p->resp.status >= 200 && p->resp.status <= 299 &&
	    ic.failed_rc != HUB_OK)
		rc = call_refuse_success(&ic, inst, route, &p->resp);
	if (rc != HUB_OK || p->resp.status < 200 || p->resp.status > 299) {
		metrics_add_rejected(env->metrics, (int64_t)(ic.n_recs + ic.n_invalid));
		reply_refused(r, inst, route, rc, &p->resp);
		call_free(&ic);
		hub_free(p);
		return 0;
	}
	metrics_add_rejected(env->metrics, (int64_t)ic.n_invalid);
	metrics_add_skipped(env->metrics, inst->name, (int64_t)ic.n_skipped);
	/* the plugin's Retry-After is borrowed: keep a copy */
	copy_retry_after(r, p->resp.retry_after);
	memcpy(p->retry_after, r->retry_after, sizeof(p->retry_after));
	p->resp.retry_after = NULL;
	p->warnings = ic.warnings;
	ic.warnings = NULL;
	if (ic.n_recs == 0) {
		ingest_pending_finish(p, HUB_OK, r);
		call_free(&ic);
		return 0;
	}
	p->batch.records = ic.recs;
	p->batch.n_records = ic.n_recs;
	p->indexes = ic.indexes;
	p->is_push = 1;
	p->inst = inst;
	*out = p;
	return 1;
}

struct ingest_pending *ingest_pending_new(struct record **recs, size_t n, int status,
					  const char *body)
{
	struct ingest_pending *p = hub_calloc(1, sizeof(*p));

	if (p)
		p->batch.records = hub_calloc(n ? n : 1, sizeof(*p->batch.records));
	if (!p || !p->batch.records) {
		for (size_t i = 0; i < n; i++)
			record_free(recs[i]);
		hub_free(p);
		return NULL;
	}
	memcpy(p->batch.records, recs, n * sizeof(*recs));
	p->batch.n_records = n;
	p->resp.status = status;
	snprintf(p->resp.body, sizeof(p->resp.body), "%s", body);
	p->end_rc = HUB_ERR_STOPPED;
	return p;
}

void ingest_pending_finish(struct ingest_pending *p, hub_rc rc, struct ingest_reply *r)
{
	const struct ingest_fail_words *w = p->fail_words ? p->fail_words : &ingest_records_words;

	p->end_rc = rc;
	if (rc == HUB_RETRY && p->batch.is_outcome_unknown) {
		/* the store's answer to COMMIT was lost and it could not be
		 * asked since: the records may be stored, and saying they were
		 * not would be false */
		log_warn("http", "commit outcome unknown, answering 503: %s", p->batch.err);
		ingest_reply_error(r, 503, "commit_unknown", w->unknown);
		snprintf(r->retry_after, sizeof(r->retry_after), "1");
	} else if (rc != HUB_OK) {
		ingest_reply_failed(r, rc, p->batch.err, w);
	} else {
		hub_free(r->body);
		r->status = (unsigned)p->resp.status;
		if (p->is_push)
			pending_log_warnings(p);
		else
			pending_add_warnings(p);
		r->body = body_with_warnings(p->resp.body, p->warnings);
		memcpy(r->retry_after, p->retry_after, sizeof(r->retry_after));
	}
	ingest_pending_free(p);
}

void ingest_pending_free(struct ingest_pending *p)
{
	if (!p)
		return;
	if (p->on_end)
		p->on_end(p->on_end_ctx, p->end_rc);
	for (size_t i = 0; i < p->batch.n_records; i++)
		record_free(p->batch.records[i]);
	hub_free(p->batch.records);
	hub_free(p->indexes);
	json_decref(p->warnings);
	hub_free(p);
}
