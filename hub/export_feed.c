/*
 * export_feed.c - the change feed as export plugins see it (API.md, "The
 * change feed"): reading a page of outbox rows after a cursor, enriching
 * each change with the current profile document (built once per profile
 * per page), and the per-export filters (kinds, attributes).
 *
 * The document is the profile as it is when the change is read, not as it
 * was when the change was written: the last change of a profile always
 * carries its final state, which is what a downstream copy needs.  A
 * document stays in a cache while it is current (see doc_get).  A
 * profile that no longer exists (merged away, erased) is sent without
 * "profile".  An erased change never carries more than seq, kind, at,
 * profile_id and identifier_types.  A backfill change (export_backfill.c)
 * goes to its own export only, and only while its profile exists: one
 * gone since the page was written (merged away, or erased by a transaction
 * that committed while the page was written, on PostgreSQL) is skipped, so
 * no profile_updated follows its merge or erasure.  So is a dead letter
 * sent again (export_redrive.c: "retry_of" says which), an erasure aside.  No SQL here: store.h
 * only.
 */
#include "export_int.h"

#include "alloc.h"
#include "profile.h"
#include "util.h"

#include <string.h>

static const char *const kind_names[] = {
	[FEED_PROFILE_UPDATED] = "profile_updated",
	[FEED_EVENT] = "event",
	[FEED_MERGED] = "merged",
	[FEED_ERASED] = "erased",
};

int feed_kind_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (strcmp(kind_names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *feed_kind_name(int kind)
{
	return kind_names[kind];
}

const char *feed_kind_list(void)
{
	return "profile_updated, event, merged, erased";
}

const char *feed_kind_closest(const char *name)
{
	return cfg_closest_name(name, kind_names, ARRAY_SIZE(kind_names));
}

/* ---- reading a page ----------------------------------------------------- */

/* A retried dead letter's row: addressed, and its own payload inside. */
static int row_unwrap_retry(struct feed_row *r)
{
	char *inner = NULL;
	int rc = export_retry_target(r->payload, &r->retry_for, &r->retry_of, &inner);

	if (rc == 1) {
		char *copy = hub_strdup(inner);
		free(inner); /* json_dumps' */
		if (!copy)
			return -1;
		hub_free(r->payload);
		r->payload = copy;
	}
	return rc;
}

static int row_copy(void *ctx, const struct store_change *c)
{
	struct feed_page *pg = ctx;
	struct feed_row *r = &pg->rows[pg->n];

	if (c->seq > pg->until)
		return 1;
	r->seq = c->seq;
	r->at_ms = c->at_ms;
	r->kind = feed_kind_parse(c->kind);
	r->kind_name = hub_strdup(c->kind);
	memcpy(r->profile_id, c->profile_id, strnlen(c->profile_id, PROFILE_ID_SIZE - 1));
	r->profile_id[strnlen(c->profile_id, PROFILE_ID_SIZE - 1)] = '\0';
	r->payload = hub_strdup(c->payload_json ? c->payload_json : "{}");
	r->backfill_for = r->retry_for = NULL;
	r->retry_of = 0;
	pg->n++;
	if (!r->kind_name || !r->payload ||
	    (r->kind == FEED_PROFILE_UPDATED &&
	     export_backfill_target(r->payload, &r->backfill_for) < 0) ||
	    row_unwrap_retry(r) < 0) {
		pg->failed = 1;
		return 1;
	}
	return 0;
}

int feed_page_read(struct store *s, int64_t after, int64_t until, size_t limit,
		   struct feed_page *pg)
{
	feed_page_clear(pg);
	pg->until = until;
	if (limit > pg->cap) {
		struct feed_row *rows = hub_realloc(pg->rows, limit * sizeof(*rows));
		if (!rows) {
			err_set(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
		pg->rows = rows;
		pg->cap = limit;
	}
	memset(pg->rows, 0, limit * sizeof(*pg->rows));
	if (s->ops->outbox_read(s, after, limit, row_copy, pg))
		return -1;
	if (pg->failed) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	return 0;
}

void feed_page_clear(struct feed_page *pg)
{
	for (size_t i = 0; i < pg->n; i++) {
		hub_free(pg->rows[i].kind_name);
		hub_free(pg->rows[i].payload);
		hub_free(pg->rows[i].backfill_for);
		pg->rows[i].backfill_for = NULL;
		hub_free(pg->rows[i].retry_for);
		pg->rows[i].retry_for = NULL;
		hub_free(pg->rows[i].text);
		pg->rows[i].text = NULL;
	}
	pg->n = 0;
	pg->failed = 0;
}

void feed_page_free(struct feed_page *pg)
{
	feed_page_clear(pg);
	hub_free(pg->rows);
	pg->rows = NULL;
	pg->cap = 0;
}

/* ---- documents, kept while they are current ---------------------------- */

/*
 * A document read when the outbox ended at seq H (its horizon: H was read
 * first, so every change up to H was committed before the document was
 * built) already shows every change of its profile up to H.  So a change
 * with seq <= H reuses it, across pages: draining a backlog builds each
 * profile's document about once, not once per change.  The cache is
 * emptied when half full, so memory stays bounded.
 */
struct doc_slot {
	char pid[PROFILE_ID_SIZE]; /* "": free */
	char *text;                /* the document as this export shows it
				      (compact JSON); NULL: no live profile */
	json_t *custom_id;         /* its custom_id (string or null) */
	int64_t horizon;
};

#define DOC_SLOTS 32768 /* a power of two; at most half are used */

static uint32_t pid_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void slot_empty(struct doc_slot *slot)
{
	free(slot->text); /* json_dumps() allocates with malloc */
	json_decref(slot->custom_id);
	slot->text = NULL;
	slot->custom_id = NULL;
	slot->pid[0] = '\0';
}

static void docs_clear(struct feed_docs *dc)
{
	for (size_t i = 0; dc->slots && i < DOC_SLOTS; i++)
		slot_empty(&dc->slots[i]);
	dc->n = 0;
}

void feed_docs_free(struct feed_docs *dc)
{
	docs_clear(dc);
	hub_free(dc->slots);
	dc->slots = NULL;
}

/* The slot of pid, or the free slot where it goes. */
static struct doc_slot *doc_slot(struct feed_docs *dc, const char *pid)
{
	size_t i = pid_hash(pid) & (DOC_SLOTS - 1);

	while (dc->slots[i].pid[0] && strcmp(dc->slots[i].pid, pid) != 0)
		i = (i + 1) & (DOC_SLOTS - 1);
	return &dc->slots[i];
}

/* The document as this export shows it: only the listed attributes.
 * NULL when out of memory (never one missing a listed attribute, nor
 * showing the others). */
static json_t *profile_filtered(json_t *doc, const struct feed_filter *f)
{
	json_t *copy, *attrs, *kept;

	if (!f->n_attributes)
		return json_incref(doc);
	copy = json_copy(doc); /* shallow: members are shared, not changed */
	kept = json_object();
	if (!copy || !kept)
		goto fail;
	attrs = json_object_get(doc, "attributes");
	for (size_t i = 0; i < f->n_attributes; i++) {
		json_t *v = json_object_get(attrs, f->attributes[i]);
		if (v && json_object_set(kept, f->attributes[i], v))
			goto fail;
	}
	if (json_object_set(copy, "attributes", kept))
		goto fail;
	json_decref(kept);
	return copy;
fail:
	json_decref(copy);
	json_decref(kept);
	return NULL;
}

/* Builds the slot's text: the document without events, filtered.
 * 0, or -1 with s->err set. */
static int slot_fill(struct doc_slot *slot, struct store *s, const char *pid,
		     const struct feed_filter *f)
{
	json_t *doc = NULL, *shown;
	int rc = profile_doc_build(s, pid, 0, &doc);

	if (rc <= 0) {
		slot->custom_id = rc == 0 ? json_null() : NULL;
		return rc;
	}
	json_object_del(doc, "events");
	slot->custom_id = json_incref(json_object_get(doc, "custom_id"));
	shown = profile_filtered(doc, f);
	slot->text = shown ? json_dumps_whole(shown, JSON_COMPACT | HUB_JSON_REAL) : NULL;
	json_decref(shown);
	json_decref(doc);
	if (!slot->text || !slot->custom_id) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	return 0;
}

/* The slot of pid with its document as of at least seq; NULL on a store
 * failure. */
static struct doc_slot *doc_get(struct feed_docs *dc, struct store *s, const char *pid,
				int64_t seq, const struct feed_filter *f)
{
	struct doc_slot *slot = doc_slot(dc, pid);

	if (slot->pid[0] && seq <= slot->horizon)
		return slot;
	if (!slot->pid[0] && dc->n >= DOC_SLOTS / 2) {
		docs_clear(dc);
		slot = doc_slot(dc, pid);
	}
	if (!slot->pid[0])
		dc->n++;
	slot_empty(slot);
	snprintf(slot->pid, sizeof(slot->pid), "%s", pid);
	slot->horizon = 0; /* until built */
	if (slot_fill(slot, s, pid, f))
		return NULL;
	slot->horizon = dc->horizon;
	return slot;
}

/* ---- one change ---------------------------------------------------------- */

/* {"seq", "kind", "at", "profile_id"}: the members every change has. */
static json_t *change_head(const struct feed_row *r)
{
	char at[32];
	json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)r->seq, "kind",
			      r->kind_name, "at", time_format_ms(r->at_ms, at, sizeof(at)),
			      "profile_id", r->profile_id);

	if (o && r->retry_of && json_object_set_new(o, "retry_of", json_integer(r->retry_of))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The change's own part, taken from the outbox payload by kind: an erased
 * change gets its identifier types and nothing else; a backfill change
 * says so ("backfill": true). */
static int change_body(json_t *c, const struct feed_row *r, json_t *payload)
{
	json_t *v;

	switch (r->kind) {
	case FEED_EVENT:
		return json_object_set(c, "event", payload);
	case FEED_MERGED:
		v = json_object_get(payload, "merged_from");
		return json_object_set_new(c, "merged_from", v ? json_incref(v) : json_array());
	case FEED_ERASED:
		v = json_object_get(payload, "identifier_types");
		return json_object_set_new(c, "identifier_types",
					   v ? json_incref(v) : json_array());
	case FEED_PROFILE_UPDATED:
		return r->backfill_for ? json_object_set_new(c, "backfill", json_true()) : 0;
	default:
		return 0;
	}
}

/*
 * The change's text: the head and body are dumped, the document's text
 * (shared by every change of the profile) is spliced between them, so a
 * document is serialized once, not once per change:
 *   {"seq",...,"profile_id","custom_id","profile":{...},"event":{...}}
 */
static char *change_text(const struct feed_row *r, const struct doc_slot *slot)
{
	json_t *head = change_head(r), *body = json_object();
	json_t *payload = json_loads_whole(r->payload, 0, NULL, NULL);
	char *head_text = NULL, *body_text = NULL;
	struct strbuf sb;

	strbuf_init(&sb);
	if (!head || !body || !payload)
		goto out;
	if (slot && json_object_set(head, "custom_id", slot->custom_id))
		goto out;
	if (change_body(r->kind == FEED_ERASED ? head : body, r, payload))
		goto out;
	if (!(head_text = json_dumps_whole(head, JSON_COMPACT | HUB_JSON_REAL)) ||
	    !(body_text = json_dumps_whole(body, JSON_COMPACT | HUB_JSON_REAL)))
		goto out;
	strbuf_append(&sb, head_text, strlen(head_text) - 1); /* without its '}' */
	if (slot && slot->text) {
		strbuf_puts(&sb, ",\"profile\":");
		strbuf_puts(&sb, slot->text);
	}
	if (json_object_size(body)) {
		strbuf_puts(&sb, ",");
		strbuf_puts(&sb, body_text + 1); /* without its '{' */
	} else {
		strbuf_puts(&sb, "}");
	}
out:
	free(head_text);
	free(body_text);
	json_decref(head);
	json_decref(body);
	json_decref(payload);
	if (!head_text || !body_text || sb.failed) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}

int feed_is_wanted(const struct feed_row *r, const struct feed_filter *f)
{
	const char *only = r->backfill_for ? r->backfill_for : r->retry_for;

	if (only && (!f->export_name || strcmp(only, f->export_name) != 0))
		return 0; /* another export's backfill or retried dead letter */
	if (r->kind == FEED_ERASED || !f->kinds_mask)
		return 1; /* erasures reach every export */
	return r->kind >= 0 && (f->kinds_mask & (1u << r->kind));
}

/*
 * A retried change whose profile was merged away after the retry put it in
 * the feed: sent as the profile it went into (its events are there now),
 * as the retry itself does for one merged away before; the row's profile
 * becomes that one.  Skipped, it would be lost: its dead letter is gone.
 * The survivor's slot, or `slot` itself (no document) when the profile was
 * erased; NULL on a store failure.
 */
static struct doc_slot *retry_survivor(struct feed_docs *dc, struct store *s,
				       struct feed_row *r, struct doc_slot *slot,
				       const struct feed_filter *f)
{
	char live[PROFILE_ID_SIZE];
	int rc = profile_resolve_id(s, r->profile_id, live);

	if (rc < 0)
		return NULL;
	if (rc == 0 || strcmp(live, r->profile_id) == 0)
		return slot; /* erased since: nothing to send */
	memcpy(r->profile_id, live, PROFILE_ID_SIZE);
	return doc_get(dc, s, r->profile_id, r->seq, f);
}

int feed_page_build(struct feed_page *pg, struct store *s, const struct feed_filter *f,
		    struct feed_docs *dc)
{
	if (!dc->slots && !(dc->slots = hub_calloc(DOC_SLOTS, sizeof(*dc->slots)))) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	/* the horizon of the documents built for this page: read first */
	if (pg->n && export_outbox_last_seq(s, pg->rows[pg->n - 1].seq, &dc->horizon))
		return -1;
	for (size_t i = 0; i < pg->n; i++) {
		struct feed_row *r = &pg->rows[i];
		struct doc_slot *slot = NULL;

		if (!feed_is_wanted(r, f))
			continue;
		if (r->kind != FEED_ERASED &&
		    !(slot = doc_get(dc, s, r->profile_id, r->seq, f)))
			return -1;
		if (r->retry_for && r->kind != FEED_ERASED && !slot->text &&
		    !(slot = retry_survivor(dc, s, r, slot, f)))
			return -1;
		if ((r->backfill_for || (r->retry_for && r->kind != FEED_ERASED)) && !slot->text)
			continue; /* gone since (erased; a backfill's merged away too,
				   * the survivor's own changes carry its state) */
		if (!(r->text = change_text(r, slot))) {
			err_set(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
	}
	return 0;
}

/* ---- the end of the outbox ------------------------------------------------ */

static int first_seq_cb(void *ctx, const struct store_change *c)
{
	*(int64_t *)ctx = c->seq;
	return 1;
}

/* The first seq after `after`, or -1 when there is none; -2 on failure. */
static int64_t first_after(struct store *s, int64_t after)
{
	int64_t seq = -1;
	if (s->ops->outbox_read(s, after, 1, first_seq_cb, &seq))
		return -2;
	return seq;
}

/* Galloping from the floor, then bisecting: each probe is one indexed
 * lookup, so the lag of a large backlog costs O(log n), not a scan. */
int export_outbox_last_seq(struct store *s, int64_t floor, int64_t *last)
{
	int64_t best = floor, hi, step = 1, r;

	if ((r = first_after(s, best)) == -2)
		return -1;
	if (r < 0) {
		*last = floor;
		return 0;
	}
	best = r;
	while ((r = first_after(s, best + step - 1)) >= 0) {
		best = r;
		if (step < (INT64_MAX >> 2))
			step *= 2;
	}
	if (r == -2)
		return -1;
	hi = best + step - 1; /* nothing after hi */
	while (best < hi) {
		int64_t mid = best + (hi - best + 1) / 2;
		if ((r = first_after(s, mid - 1)) == -2)
			return -1;
		if (r >= 0)
			best = r;
		else
			hi = mid - 1;
	}
	*last = best;
	return 0;
}
