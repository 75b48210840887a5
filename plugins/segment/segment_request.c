/*
 * segment_request.c - one request body (or one imported line) from text to
 * emitted records, all or nothing:
 *
 *   1. size: a body over 500 KB is refused (413) before it is parsed;
 *   2. parse with duplicate object keys rejected (two parsers must never
 *      read one body differently); a body holding an integer too big for
 *      64 bits (JavaScript clients send 12345678901234567000 as plain
 *      digits) is parsed again with those integers, and only those, read
 *      as doubles (plugins/common/json_bigint.h), so the request is kept
 *      rather than refused whole;
 *   3. the body's writeKey, when the route asks for it;
 *   4. shape: {"batch": [...], "context"?, "integrations"?, "sentAt"?}
 *      for /v1/batch, one event object for a single call (/v1/track ...),
 *      an event or an array of events for the webhook; at most 2500;
 *   5. read every event: its size as sent, in the raw body (32 KB), then
 *      its fields (segment_event.c) - the first bad one is named by its
 *      index and nothing is emitted;
 *   6. an event without messageId gets one derived from its content and
 *      its occurrence in the request (segment_msgid.c, which says what
 *      counts as its content);
 *   7. read and emit each event again (segment_map.c).
 *
 * The batch-level context merges into each item (the item's keys win) and
 * the batch-level sentAt applies to items without their own.  The batch's
 * integrations only have their type checked: no record field takes them.
 */
#include "segment.h"

#include "../common/alloc_watch.h"
#include "../common/json_bigint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a body's events are and what their batch lends them. */
struct seg_body {
	const char *text; /* the raw body (borrowed) */
	size_t len;
	json_t *root;
	json_t *items;  /* the events: an array, or NULL for one event (root) */
	struct seg_batch_ctx batch;
	int forced;     /* a single call's type, or -1 */
};

static size_t body_n_items(const struct seg_body *b)
{
	return b->items ? json_array_size(b->items) : 1;
}

static json_t *body_item(const struct seg_body *b, size_t i)
{
	return b->items ? json_array_get(b->items, i) : b->root;
}

/* The body as JSON, an integer too big for 64 bits read as a double;
 * every other integer stays one.  NULL with e set: a 400, or a 500 when
 * memory ran out (which jansson reports as bad text: the host's
 * alloc_failed() tells, ABI 1.8). */
static json_t *parse(const struct seg_state *st, const char *text, size_t len,
		     struct seg_error *e)
{
	json_error_t jerr;
	int had_big;
	json_t *root = json_loadb_big_ints(
		text, len, JSON_REJECT_DUPLICATES, &jerr, &had_big,
		alloc_watch_of(st->host));
	char *near;

	if (had_big < 0) {
		seg_error_set(e, 500, "internal", -1, "out of memory");
		return NULL;
	}
	if (root)
		return root;
	/* "... near 'token'": the token could be anything the client sent
	 * (a write key): only jansson's own words are repeated. */
	if ((near = strstr(jerr.text, " near ")))
		*near = '\0';
	seg_error_set(e, 400, "invalid_json", -1, "invalid JSON at line %d, column %d: %s",
		      jerr.line, jerr.column, jerr.text);
	return NULL;
}

static int check_count(size_t n, struct seg_error *e)
{
	if (n <= SEG_MAX_EVENTS)
		return 0;
	seg_error_set(e, 400, "too_many_events", -1, "batch: %zu events, the limit is %d", n,
		      SEG_MAX_EVENTS);
	return -1;
}

/* /v1/batch: {"batch": [...], "context"?, "integrations"?, "sentAt"?}. */
static int shape_batch(struct seg_body *b, struct seg_error *e)
{
	json_t *root = b->root, *v;
	const char *sent;

	if (!json_is_object(root)) {
		seg_error_set(e, 400, "invalid_request", -1, "body: must be a JSON object");
		return -1;
	}
	b->items = json_object_get(root, "batch");
	if (!json_is_array(b->items)) {
		seg_error_set(e, 400, "invalid_request", -1, "batch: required, an array");
		return -1;
	}
	v = json_object_get(root, "context");
	if (v && !json_is_null(v) && !json_is_object(v)) {
		seg_error_set(e, 400, "invalid_request", -1, "context: must be an object");
		return -1;
	}
	b->batch.context = json_is_object(v) ? v : NULL;
	v = json_object_get(root, "integrations");
	if (v && !json_is_null(v) && !json_is_object(v)) {
		seg_error_set(e, 400, "invalid_request", -1, "integrations: must be an object");
		return -1;
	}
	v = json_object_get(root, "sentAt");
	sent = json_string_value(v);
	if ((v && !json_is_null(v) && !sent) ||
	    (sent && seg_time_parse(sent, &b->batch.sent_at_ms))) {
		seg_error_set(e, 400, "invalid_request", -1,
			      "sentAt: " SEG_TIME_WANTED);
		return -1;
	}
	b->batch.has_sent_at = sent != NULL;
	return check_count(json_array_size(b->items), e);
}

/* A single call or an import line: one event object.  The webhook: one
 * event, or an array of them (Actions batch mode). */
static int shape_events(struct seg_body *b, int allow_array, struct seg_error *e)
{
	if (json_is_object(b->root))
		return 0;
	if (allow_array && json_is_array(b->root)) {
		b->items = b->root;
		return check_count(json_array_size(b->items), e);
	}
	seg_error_set(e, 400, "invalid_request", -1,
		      allow_array ? "body: must be an event object or an array of events"
				  : "body: must be an event object");
	return -1;
}

/* ---- event sizes ------------------------------------------------------ */

/* The 32 KB limit is on an event as the client sent it, in compact JSON:
 * its text in the raw body without the whitespace between tokens (jansson
 * would print 0.1 back as 0.10000000000000001).  The body parsed already,
 * so the scanner below reads valid JSON and needs no checks of its own. */
struct event_scan {
	const char *s;
	size_t len;
	size_t p; /* the next event's text */
};

static size_t skip_space(const struct event_scan *sc, size_t p)
{
	while (p < sc->len && seg_is_space(sc->s[p]))
		p++;
	return p;
}

/* The value at sc->p: moves sc->p past it and returns its bytes, the
 * whitespace outside strings not counted. */
static size_t value_size(struct event_scan *sc)
{
	size_t n = 0;
	int depth = 0, in_string = 0;

	for (; sc->p < sc->len; sc->p++) {
		char c = sc->s[sc->p];
		if (in_string) {
			if (c == '\\') {
				sc->p++;
				n++;
			} else if (c == '"') {
				in_string = 0;
			}
		} else if (seg_is_space(c)) {
			if (depth == 0)
				break;
			continue;
		} else if (depth == 0 && n > 0 && (c == ',' || c == ':' || c == ']' || c == '}')) {
			break;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		}
		n++;
	}
	return n;
}

/* 1 when the JSON string text s[0, len) is "batch", escaped or not. */
static int is_batch_key(const char *s, size_t len)
{
	json_t *key;
	int is;

	if (!memchr(s, '\\', len))
		return len == 7 && memcmp(s, "\"batch\"", 7) == 0;
	key = json_loadb(s, len, JSON_DECODE_ANY, NULL);
	is = json_is_string(key) && strcmp(json_string_value(key), "batch") == 0;
	json_decref(key);
	return is;
}

/* Sets sc->p at the first event's text: the body's one event, or the
 * first element of the body's array or of its "batch".  Returns 0, or -1
 * (no "batch" found: memory ran out). */
static int scan_start(struct event_scan *sc, const struct seg_body *b)
{
	size_t key, key_end;

	sc->s = b->text;
	sc->len = b->len;
	sc->p = skip_space(sc, 0);
	if (!b->items)
		return 0;
	if (b->items == b->root) {
		sc->p = skip_space(sc, sc->p + 1);
		return 0;
	}
	sc->p++; /* the body's '{' */
	while ((sc->p = skip_space(sc, sc->p)) < sc->len && sc->s[sc->p] == '"') {
		key = sc->p;
		value_size(sc);
		key_end = sc->p;
		sc->p = skip_space(sc, skip_space(sc, sc->p) + 1); /* past ':' */
		if (is_batch_key(sc->s + key, key_end - key)) {
			sc->p = skip_space(sc, sc->p + 1);
			return 0;
		}
		value_size(sc);
		sc->p = skip_space(sc, sc->p) + 1; /* past ',' */
	}
	return -1;
}

/* The next event's size as sent, against the limit; sc->p moves to the
 * event after it. */
static int check_size(struct event_scan *sc, long index, struct seg_error *e)
{
	size_t size = value_size(sc);

	sc->p = skip_space(sc, sc->p);
	if (sc->p < sc->len && sc->s[sc->p] == ',')
		sc->p = skip_space(sc, sc->p + 1);
	if (size <= SEG_MAX_EVENT)
		return 0;
	seg_error_set(e, 400, "event_too_large", index, "event: %zu bytes, the limit is %d", size,
		      SEG_MAX_EVENT);
	return -1;
}

/* Step 6 for each event: given its messageId, or derived. */
struct event_id {
	int is_derived;
	unsigned char md[SEG_SHA256_SIZE];  /* its digest (segment_msgid.c) */
	char derived[SEG_DERIVED_ID_SIZE];
};

/* Derives ids[i] of an event without messageId, ids[0..i) done: its
 * occurrence is how many of those are derived from the same digest.
 * Returns 0, or -1 (e filled: out of memory). */
static int derive_id(const struct seg_state *st, const struct seg_event *ev,
		     struct event_id *ids, size_t i, struct seg_error *e)
{
	size_t occurrence = 0;

	if (seg_msgid_digest(st, ev, ids[i].md)) {
		seg_error_set(e, 500, "internal", (long)i, "out of memory");
		return -1;
	}
	for (size_t j = 0; j < i; j++)
		occurrence += ids[j].is_derived && !memcmp(ids[j].md, ids[i].md, SEG_SHA256_SIZE);
	if (seg_msgid_format(ids[i].md, occurrence, ids[i].derived)) {
		seg_error_set(e, 500, "internal", (long)i, "out of memory");
		return -1;
	}
	ids[i].is_derived = 1;
	return 0;
}

/* Steps 5 to 7. */
static hub_rc run_events(const struct seg_state *st, struct hub_call *call,
			 struct seg_body *b, struct seg_error *e)
{
	size_t n = body_n_items(b);
	struct event_id *ids = NULL;
	struct event_scan sc;
	struct seg_event ev;
	hub_rc rc = HUB_ERR_DATA;

	if (scan_start(&sc, b) || !(ids = calloc(n ? n : 1, sizeof(*ids)))) {
		seg_error_set(e, 500, "internal", -1, "out of memory");
		return HUB_ERR_INTERNAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (check_size(&sc, (long)i, e) ||
		    seg_event_read(body_item(b, i), (long)i, b->forced, &b->batch, &ev, e))
			goto out;
		if (!ev.message_id && derive_id(st, &ev, ids, i, e)) {
			rc = HUB_ERR_INTERNAL;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (seg_event_read(body_item(b, i), (long)i, b->forced, &b->batch, &ev, e))
			goto out; /* cannot happen: read twice alike */
		if (ids[i].is_derived)
			ev.message_id = ids[i].derived;
		if ((rc = seg_event_emit(st, call, &ev, (long)i, e)) != HUB_OK)
			goto out;
	}
	rc = HUB_OK;
out:
	free(ids);
	return rc;
}

hub_rc seg_request_run(const struct seg_state *st, struct hub_call *call, const char *body,
		       size_t len, int forced, enum seg_mode mode, int check_write_key,
		       struct seg_error *e)
{
	struct seg_body b = {.text = body, .len = len, .forced = forced, .batch = {.mode = mode}};
	hub_rc rc = HUB_ERR_DATA;
	int shaped;

	if (len > SEG_MAX_BODY) {
		seg_error_set(e, 413, "body_too_large", -1, "body: %zu bytes, the limit is %d",
			      len, SEG_MAX_BODY);
		return HUB_ERR_DATA;
	}
	if (!(b.root = parse(st, body, len, e)))
		return e->status >= 500 ? HUB_ERR_NOMEM : HUB_ERR_DATA;
	if (check_write_key && !seg_auth_body(st, b.root)) {
		seg_error_set(e, 401, "unauthorized", -1,
			      "a known write key is required: Basic auth or \"writeKey\"");
		goto out;
	}
	if (forced < 0 && mode == SEG_MODE_API)
		shaped = shape_batch(&b, e);
	else
		shaped = shape_events(&b, mode == SEG_MODE_WEBHOOK, e);
	if (shaped == 0)
		rc = run_events(st, call, &b, e);
out:
	json_decref(b.root);
	return rc;
}

hub_rc seg_import_line(const struct seg_state *st, struct hub_call *call, const char *line,
		       size_t len, struct seg_error *e)
{
	return seg_request_run(st, call, line, len, -1, SEG_MODE_IMPORT, 0, e);
}
