/*
 * access_doc.c - the privacy access document, written piece by piece to a
 * sink (see access_doc.h): the API streams it over HTTP, the CLI to stdout.
 *
 * Two ideas.  The skeleton ({, keys, [, ...) is written here the way
 * jansson's json_dumps() writes it (separators, indentation, "[]" for an
 * empty list), and every value inside is a json_dumps() of its own,
 * re-indented to its depth: so the text equals the dump of the whole tree
 * the in-memory builder made.  And the two parts that grow with a
 * profile's age are read a page at a time, never all at once: the events
 * ACCESS_DOC_PAGE_EVENTS at a time, each page after the last event of the
 * one before (event_list's cursor), then the identity log
 * ACCESS_DOC_PAGE_LOG rows at a time (profile_log_reader: log_page's seq).
 *
 * Its "recipients" come from the configuration, never the store: the
 * exports, named by name and plugin, with the `kinds` and `attributes`
 * they are limited to, nothing else (their other keys are where the data
 * goes, and may hold secrets).
 *
 * No SQL here, no transaction either: the caller holds the snapshot.
 */
#include "access_doc.h"

#include "alloc.h"
#include "export.h"
#include "profile.h"
#include "util.h"

#include <string.h>

#define DOC_DEPTH_MAX 8 /* the skeleton's nesting: 6 at most (5 without wrap_key) */

enum doc_state {
	DOC_HEAD,     /* nothing written yet */
	DOC_PROFILE,  /* between profiles: the next one, or the end */
	DOC_EVENTS,   /* inside a profile's "events": the next page */
	DOC_LOG,      /* inside its "identity_log": the next page */
	DOC_DONE,
	DOC_FAILED,
};

/* An event's place in the listing order, its message_id in a buffer of
 * its own (owned). */
struct doc_cursor {
	struct store_event at;
	char *mid;
	size_t mid_size;
};

struct access_doc_writer {
	struct store *s;                       /* borrowed */
	const json_t *head;                    /* borrowed */
	json_t *recipients;                    /* owned */
	const char *wrap_key, *by, *value;     /* borrowed */
	const char (*ids)[PROFILE_ID_SIZE];    /* borrowed */
	size_t n_ids, next_id, n_written;
	access_doc_sink sink;
	void *sink_ctx;
	size_t flags;
	int indent;                            /* spaces per level; 0: one line */
	int is_compact;

	enum doc_state state;
	int depth;                             /* open containers */
	int is_empty[DOC_DEPTH_MAX + 1];       /* per depth: nothing in it yet */
	int has_failed;                        /* the sink refused, or out of memory */

	/* the profile being written */
	json_t *access;                        /* its access object, "events" []
						* and no "identity_log" */
	char pid[PROFILE_ID_SIZE];
	/* where the page being read starts, and the last event of the page
	 * written so far: two, since the store reads the first (SQLite binds
	 * its message_id as is) while the page's events overwrite the second;
	 * swapped after the page */
	struct doc_cursor cursor, next;
	int has_cursor;
	size_t n_page;                         /* events of the current page */
	struct profile_log_reader log;         /* its identity log, read so far */
};

/* ---- text out ---------------------------------------------------------- */

static void doc_put(struct access_doc_writer *w, const char *data, size_t len)
{
	if (w->has_failed || !len)
		return;
	if (w->sink(w->sink_ctx, data, len))
		w->has_failed = 1;
}

/* jansson's dump_indent(): a newline and the depth's spaces when
 * indenting, else one space after a separator unless compact. */
static void doc_indent(struct access_doc_writer *w, int depth, int is_after_separator)
{
	static const char spaces[] = "                                ";
	size_t n;

	if (w->indent > 0) {
		doc_put(w, "\n", 1);
		for (n = (size_t)w->indent * (size_t)depth; n > 0;) {
			size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
			doc_put(w, spaces, k);
			n -= k;
		}
	} else if (is_after_separator && !w->is_compact) {
		doc_put(w, " ", 1);
	}
}

/* A value as json_dumps() writes it at the current depth: its own dump,
 * each line break followed by the depth's indentation.  A string holds no
 * raw line break (jansson escapes them), so every '\n' is layout. */
static void doc_value(struct access_doc_writer *w, const json_t *v)
{
	char *text = json_dumps_whole(v, w->flags | JSON_ENCODE_ANY);
	const char *p, *nl;

	if (!text) {
		w->has_failed = 1;
		return;
	}
	for (p = text; w->indent > 0 && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		doc_put(w, p, (size_t)(nl - p));
		doc_indent(w, w->depth, 0);
	}
	doc_put(w, p, strlen(p));
	free(text); /* jansson's: plain malloc */
}

static void doc_open(struct access_doc_writer *w, char c)
{
	doc_put(w, &c, 1);
	if (w->depth == DOC_DEPTH_MAX) {
		w->has_failed = 1; /* cannot happen: the skeleton is fixed */
		return;
	}
	w->is_empty[++w->depth] = 1;
}

static void doc_close(struct access_doc_writer *w, char c)
{
	if (!w->is_empty[w->depth])
		doc_indent(w, w->depth - 1, 0);
	w->depth--;
	doc_put(w, &c, 1);
}

/* Before a list item or an object member: the separator and layout. */
static void doc_next(struct access_doc_writer *w)
{
	int is_first = w->is_empty[w->depth];

	if (!is_first)
		doc_put(w, ",", 1);
	doc_indent(w, w->depth, !is_first);
	w->is_empty[w->depth] = 0;
}

static void doc_key(struct access_doc_writer *w, const char *key)
{
	json_t *k = json_string(key);

	doc_next(w);
	if (!k) {
		w->has_failed = 1;
		return;
	}
	doc_value(w, k);
	json_decref(k);
	doc_put(w, w->is_compact ? ":" : ": ", w->is_compact ? 1 : 2);
}

/* The members of obj in order, but for `skip` (may be NULL). */
static void doc_members(struct access_doc_writer *w, const json_t *obj, const char *skip)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		if (skip && strcmp(key, skip) == 0)
			continue;
		doc_key(w, key);
		doc_value(w, v);
	}
}

/* ---- the recipients ---------------------------------------------------- */

#define RECIPIENTS_ABOUT                                                                   \
	"Where this hub sends profile changes: each export in its configuration is sent a " \
	"profile's changes as they are stored (of the kinds the export takes: identifiers, " \
	"attributes, consent, events), and its erasure; an export limited to some change " \
	"kinds or profile attributes lists them in its \"kinds\" and \"attributes\"."
#define RECIPIENT_ENABLED "enabled: sent the changes of profiles"
#define RECIPIENT_DISABLED                                                                 \
	"disabled in the configuration: sent no change; the changes wait in the hub and " \
	"go to it if it is enabled again"

/* One export: its name, plugin, whether enabled and the kinds and
 * attributes it is limited to (when it is), nothing else of its entry (a
 * URL, path, table or secret). */
static json_t *recipient_json(const struct config_instance *ci)
{
	json_t *r = json_pack("{s:s, s:s, s:b, s:s}", "name", ci->name, "plugin", ci->plugin,
			      "enabled", ci->is_enabled != 0, "receives",
			      ci->is_enabled ? RECIPIENT_ENABLED : RECIPIENT_DISABLED);

	if (r && export_filters_json(ci, r)) {
		json_decref(r);
		return NULL;
	}
	return r;
}

json_t *access_doc_recipients(const struct hub_config *cfg)
{
	json_t *exports = json_array();
	json_t *out = json_object();

	if (!exports || !out || json_object_set_new(out, "about", json_string(RECIPIENTS_ABOUT)))
		goto fail;
	for (size_t i = 0; i < cfg->n_exports; i++)
		if (json_array_append_new(exports, recipient_json(&cfg->exports[i])))
			goto fail;
	if (json_object_set(out, "exports", exports))
		goto fail;
	json_decref(exports);
	return out;
fail:
	json_decref(exports);
	json_decref(out);
	return NULL;
}

/* ---- the document ------------------------------------------------------ */

static void doc_write_head(struct access_doc_writer *w)
{
	json_t *value = json_string(w->value);

	doc_open(w, '{');
	doc_members(w, w->head, NULL);
	if (w->wrap_key) {
		doc_key(w, w->wrap_key);
		doc_open(w, '{');
	}
	doc_key(w, w->by);
	if (value)
		doc_value(w, value);
	else
		w->has_failed = 1;
	json_decref(value);
	doc_key(w, "recipients");
	doc_value(w, w->recipients);
	doc_key(w, "profiles");
	doc_open(w, '[');
}

static void doc_write_tail(struct access_doc_writer *w)
{
	doc_close(w, ']');
	if (w->wrap_key)
		doc_close(w, '}');
	doc_close(w, '}');
}

/* Opens the next profile's access object up to its "events": [.  0
 * opened, 1 no profile left, -1 store failure. */
static int doc_profile_begin(struct access_doc_writer *w)
{
	json_t *profile;
	int rc = 0;

	while (rc == 0) {
		if (w->next_id == w->n_ids)
			return 1;
		memcpy(w->pid, w->ids[w->next_id++], PROFILE_ID_SIZE);
		rc = profile_access_build_paged(w->s, w->pid, &w->access);
		if (rc < 0)
			return -1;
	}
	/* "events" is the profile's last member (profile_doc.c): the events
	 * close it, then come the access object's other members and, last,
	 * its identity log */
	profile = json_object_get(w->access, "profile");
	doc_next(w);
	doc_open(w, '{');
	doc_key(w, "profile");
	doc_open(w, '{');
	doc_members(w, profile, "events");
	doc_key(w, "events");
	doc_open(w, '[');
	w->has_cursor = 0;
	return 0;
}

/* After the last event: the profile object closes, the access object's
 * other members follow, and its "identity_log" opens (the last member of
 * the whole one, profile_access_build()). */
static void doc_events_end(struct access_doc_writer *w)
{
	const json_t *profile = json_object_get(w->access, "profile");

	doc_close(w, ']');
	doc_close(w, '}');
	doc_members(w, w->access, "profile");
	doc_key(w, "identity_log");
	doc_open(w, '[');
	profile_log_reader_init(&w->log, w->s, w->pid, json_object_get(profile, "merged_from"));
}

static void doc_profile_end(struct access_doc_writer *w)
{
	doc_close(w, ']');
	doc_close(w, '}');
	json_decref(w->access);
	w->access = NULL;
	w->n_written++;
}

/* Keeps e's place in c (e's strings end with the page). */
static int doc_cursor_set(struct doc_cursor *c, const struct store_event *e)
{
	size_t need = strlen(e->message_id) + 1;

	if (need > c->mid_size) {
		char *mid = hub_realloc(c->mid, need);
		if (!mid)
			return -1;
		c->mid = mid;
		c->mid_size = need;
	}
	memcpy(c->mid, e->message_id, need);
	c->at = (struct store_event){.seq = e->seq, .ts_ms = e->ts_ms, .message_id = c->mid};
	return 0;
}

/* store_event_cb: one event out, at once. */
static int doc_event(void *ctx, const struct store_event *e)
{
	struct access_doc_writer *w = ctx;
	json_t *ev = profile_event_json(e);

	w->n_page++;
	doc_next(w);
	if (ev)
		doc_value(w, ev);
	else
		w->has_failed = 1;
	json_decref(ev);
	if (!w->has_failed && doc_cursor_set(&w->next, e))
		w->has_failed = 1;
	return w->has_failed; /* 1 stops the listing */
}

/* One page of the profile's events, newest first, after the cursor; its
 * last event becomes the cursor once the listing is over.  0 more may
 * follow, 1 that was the last (a short page), -1 a store failure. */
static int doc_events_page(struct access_doc_writer *w)
{
	struct doc_cursor read_from;

	w->n_page = 0;
	if (w->s->ops->event_list(w->s, w->pid, w->has_cursor ? &w->cursor.at : NULL,
				  ACCESS_DOC_PAGE_EVENTS, doc_event, w))
		return -1;
	if (w->n_page > 0) {
		read_from = w->cursor;
		w->cursor = w->next;
		w->next = read_from;
		w->has_cursor = 1;
	}
	return !w->has_failed && w->n_page < ACCESS_DOC_PAGE_EVENTS;
}

/* store_log_cb: one row of the identity log out, at once. */
static int doc_log_row(void *ctx, const struct store_log_entry *e)
{
	struct access_doc_writer *w = ctx;
	json_t *row = profile_log_json(e);

	doc_next(w);
	if (row)
		doc_value(w, row);
	else
		w->has_failed = 1;
	json_decref(row);
	return w->has_failed; /* 1 stops the page */
}

static int doc_step(struct access_doc_writer *w)
{
	int rc;

	switch (w->state) {
	case DOC_HEAD:
		doc_write_head(w);
		w->state = DOC_PROFILE;
		return 1;
	case DOC_PROFILE:
		rc = doc_profile_begin(w);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			doc_write_tail(w);
			w->state = DOC_DONE;
			return 0;
		}
		w->state = DOC_EVENTS;
		return 1;
	case DOC_EVENTS:
		rc = doc_events_page(w);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			doc_events_end(w);
			w->state = DOC_LOG;
		}
		return 1;
	case DOC_LOG:
		rc = profile_log_reader_next(&w->log, ACCESS_DOC_PAGE_LOG, doc_log_row, w);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			doc_profile_end(w);
			w->state = DOC_PROFILE;
		}
		return 1;
	case DOC_DONE:
		return 0;
	case DOC_FAILED:
		break;
	}
	return -1;
}

int access_doc_writer_step(struct access_doc_writer *w)
{
	int rc = doc_step(w);

	if (rc < 0 || w->has_failed) {
		if (w->has_failed && w->state != DOC_FAILED)
			err_set(w->s->err, sizeof(w->s->err),
				"the access document could not be written (out of memory, "
				"or its reader went away)");
		w->state = DOC_FAILED;
		return -1;
	}
	return rc;
}

size_t access_doc_writer_profiles(const struct access_doc_writer *w)
{
	return w->n_written;
}

struct access_doc_writer *access_doc_writer_new(struct store *s, const struct hub_config *cfg,
						const json_t *head,
						const char *wrap_key, const char *by,
						const char *value,
						const char (*ids)[PROFILE_ID_SIZE], size_t n_ids,
						size_t flags, access_doc_sink sink, void *sink_ctx)
{
	struct access_doc_writer *w = hub_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (!(w->recipients = access_doc_recipients(cfg))) {
		hub_free(w);
		return NULL;
	}
	w->s = s;
	w->head = head;
	w->wrap_key = wrap_key;
	w->by = by;
	w->value = value;
	w->ids = ids;
	w->n_ids = n_ids;
	w->flags = flags;
	w->indent = (int)(flags & JSON_MAX_INDENT);
	w->is_compact = (flags & JSON_COMPACT) != 0;
	w->sink = sink;
	w->sink_ctx = sink_ctx;
	w->state = DOC_HEAD;
	return w;
}

void access_doc_writer_free(struct access_doc_writer *w)
{
	if (!w)
		return;
	json_decref(w->access);
	json_decref(w->recipients);
	hub_free(w->cursor.mid);
	hub_free(w->next.mid);
	hub_free(w);
}
