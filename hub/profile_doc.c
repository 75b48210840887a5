/*
 * profile_doc.c - the profile document of API.md, built from the store:
 * fixed key order and sorted lists, so two dumps of equal stores are equal
 * byte for byte.  Also the privacy access document.  No SQL here.
 *
 * Out of memory fails a document whole: every member set and item appended
 * is checked (jansson refuses a NULL value, so a constructor that failed is
 * caught there too), and a store list op stopped by its callback returns 0,
 * so the collectors keep their failure in their context.
 */
#include "profile.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <string.h>

static const char *const attr_type_names[] = {"string", "number", "bool", "date", "url", "array"};

/* An attribute's type as the documents name it ("string" for one unknown). */
static const char *attr_type_name(int type)
{
	return type >= 0 && (size_t)type < ARRAY_SIZE(attr_type_names) ? attr_type_names[type]
								  : "string";
}

/* Sets key of obj to v (taken, NULL included): *has_failed set when it
 * could not be. */
static void doc_set(json_t *obj, const char *key, json_t *v, int *has_failed)
{
	if (json_object_set_new(obj, key, v))
		*has_failed = 1;
}

static void doc_append(json_t *arr, json_t *v, int *has_failed)
{
	if (json_array_append_new(arr, v))
		*has_failed = 1;
}

/* obj as built, or NULL (obj released) when building it failed. */
static json_t *doc_done(json_t *obj, int has_failed)
{
	if (!has_failed)
		return obj;
	json_decref(obj);
	return NULL;
}

/* Stored JSON text, parsed.  The hub writes it with json_dumps, yet older
 * versions stored a few values jansson refuses to read back (a real past
 * DBL_MAX): such a value is left out of the document and logged, as it
 * always was, so one old row cannot fail a person's access request or an
 * export's feed.  Only memory running out fails it (*has_failed). */
static json_t *stored_json(const char *text, size_t flags, const char *what, int *has_failed)
{
	json_error_t jerr;
	json_t *v;
	int is_oom;

	if ((v = json_loads_whole(text, flags, &jerr, &is_oom)))
		return v;
	if (is_oom)
		*has_failed = 1;
	else
		log_warn("store", "%s: stored JSON unreadable (%s), left out", what, jerr.text);
	return NULL;
}

/* Sets obj[key] to stored JSON text, left out when unreadable. */
static void doc_set_stored(json_t *obj, const char *key, const char *text, size_t flags,
			   int *has_failed)
{
	json_t *v = stored_json(text, flags, key, has_failed);
	if (v)
		doc_set(obj, key, v, has_failed);
}

/* What a collector fills, and whether that failed. */
struct collect {
	json_t *into;
	int has_failed;
};

/* An instant: 0 is 1970-01-01T00:00:00.000Z like any other. */
static json_t *instant_json(int64_t ms)
{
	char buf[40];
	return json_string(time_format_ms(ms, buf, sizeof(buf)));
}

/* ---- identifiers and installations ---------------------------------- */

struct ident_acc {
	json_t *custom;       /* values of custom_id */
	json_t *installs;     /* values of installation_id */
	json_t *others;       /* type -> [values], types in name order */
	json_t *installations;/* the installation objects */
	json_t *push;         /* platforms with push on */
	int has_failed;
};

static void push_platform_add(json_t *push, const char *platform, int *has_failed)
{
	size_t i;
	json_t *v;
	json_array_foreach(push, i, v)
		if (strcmp(json_string_value(v), platform) == 0)
			return;
	doc_append(push, json_string(platform), has_failed);
}

static int ident_collect(void *ctx, const struct store_ident *id)
{
	struct ident_acc *acc = ctx;
	int *failed = &acc->has_failed;

	if (strcmp(id->type, "custom_id") == 0) {
		doc_append(acc->custom, json_string(id->value), failed);
	} else if (strcmp(id->type, "installation_id") == 0) {
		json_t *inst = json_object();
		doc_append(acc->installs, json_string(id->value), failed);
		doc_set(inst, "installation_id", json_string(id->value), failed);
		doc_set(inst, "platform", id->platform ? json_string(id->platform) : json_null(),
			failed);
		doc_set(inst, "last_seen", id->last_seen_ms == STORE_NEVER_SEEN
			? json_null() : instant_json(id->last_seen_ms), failed);
		doc_set(inst, "push_enabled",
			id->push_enabled < 0 ? json_null() : json_boolean(id->push_enabled),
			failed);
		doc_append(acc->installations, inst, failed);
		if (id->push_enabled == 1 && id->platform) /* a platform to list */
			push_platform_add(acc->push, id->platform, failed);
	} else {
		json_t *list = json_object_get(acc->others, id->type);
		if (!list) {
			doc_set(acc->others, id->type, json_array(), failed);
			list = json_object_get(acc->others, id->type); /* NULL: not set */
		}
		doc_append(list, json_string(id->value), failed);
	}
	return *failed; /* 1 stops the listing */
}

static int cmp_json_strings(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings in place: 0, or -1 out of memory (unsorted). */
static int sort_strings(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **items;
	if (n < 2)
		return 0;
	items = hub_malloc(n * sizeof(*items));
	if (!items)
		return -1;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), cmp_json_strings);
	for (size_t i = 0; i < n; i++)
		json_array_set_new(arr, i, items[i]); /* a slot replaced: allocates nothing */
	hub_free(items);
	return 0;
}

/* NULL when out of memory. */
static json_t *identifiers_json(struct ident_acc *acc)
{
	json_t *ids = json_object();
	const char *type;
	json_t *list;
	int has_failed = 0;

	if (json_array_size(acc->custom))
		doc_set(ids, "custom_id", json_incref(acc->custom), &has_failed);
	if (json_array_size(acc->installs))
		doc_set(ids, "installation_id", json_incref(acc->installs), &has_failed);
	json_object_foreach(acc->others, type, list)
		doc_set(ids, type, json_incref(list), &has_failed);
	return doc_done(ids, has_failed);
}

/* ---- attributes, consent, events ------------------------------------ */

/* The attributes, and when asked (meta not NULL) each one's type and
 * time: attribute_meta, read in the same pass. */
struct attr_acc {
	json_t *into;
	json_t *meta;
	int has_failed;
};

static json_t *attr_meta_json(const struct store_attr *a)
{
	json_t *m = json_object();
	int has_failed = 0;

	doc_set(m, "type", json_string(attr_type_name(a->type)), &has_failed);
	doc_set(m, "updated_at", instant_json(a->ts_ms), &has_failed);
	return doc_done(m, has_failed);
}

static int attr_collect(void *ctx, const struct store_attr *a)
{
	struct attr_acc *c = ctx;
	if (a->is_deleted || !a->value_json)
		return 0;
	doc_set_stored(c->into, a->key, a->value_json, JSON_DECODE_ANY, &c->has_failed);
	if (c->meta)
		doc_set(c->meta, a->key, attr_meta_json(a), &c->has_failed);
	return c->has_failed;
}

static int consent_collect(void *ctx, const struct store_consent *c)
{
	struct collect *subs = ctx;
	doc_set(subs->into, c->channel, c->state ? json_string(c->state) : json_null(),
		&subs->has_failed);
	return subs->has_failed;
}

json_t *profile_event_json(const struct store_event *e)
{
	json_t *ev = json_object(), *props;
	int has_failed = 0;

	doc_set(ev, "name", json_string(e->name), &has_failed);
	doc_set(ev, "timestamp", instant_json(e->ts_ms), &has_failed);
	doc_set(ev, "source", json_string(e->source), &has_failed);
	doc_set(ev, "message_id", json_string(e->message_id), &has_failed);
	props = e->properties_json
			? stored_json(e->properties_json, 0, "event properties", &has_failed)
			: NULL;
	doc_set(ev, "properties", props || has_failed ? props : json_object(), &has_failed);
	return doc_done(ev, has_failed);
}

static int event_collect(void *ctx, const struct store_event *e)
{
	struct collect *c = ctx;
	doc_append(c->into, profile_event_json(e), &c->has_failed);
	return c->has_failed;
}

static int tombstone_collect(void *ctx, const struct store_profile *p)
{
	struct collect *c = ctx;
	doc_append(c->into, json_string(p->id), &c->has_failed);
	return c->has_failed;
}

/* ---- the document --------------------------------------------------- */

/* NULL when out of memory. */
static json_t *subscriptions_json(json_t *consent, const json_t *attrs, json_t *push)
{
	json_t *subs = json_object();
	json_t *em = json_object_get(consent, "email_marketing");
	json_t *sm = json_object_get(consent, "sms_marketing");
	int has_failed = sort_strings(push) != 0;

	doc_set(subs, "email_marketing", em ? json_incref(em) : json_null(), &has_failed);
	doc_set(subs, "sms_marketing", sm ? json_incref(sm) : json_null(), &has_failed);
	doc_set(subs, "email_transactional",
		json_boolean(json_object_get(attrs, "$email_address") != NULL), &has_failed);
	doc_set(subs, "sms_transactional",
		json_boolean(json_object_get(attrs, "$phone_number") != NULL), &has_failed);
	doc_set(subs, "push", json_incref(push), &has_failed);
	return doc_done(subs, has_failed);
}

/* 0, or -1 with the store's error set ("out of memory" included). */
static int doc_fill(struct store *s, const struct store_profile *p, long n_events,
		    int with_meta, json_t *doc)
{
	struct ident_acc acc = {json_array(), json_array(), json_object(),
				json_array(), json_array(), 0};
	struct attr_acc attrs = {json_object(), with_meta ? json_object() : NULL, 0};
	struct collect consent = {json_object(), 0};
	struct collect merged = {json_array(), 0}, events = {json_array(), 0};
	int64_t count = 0, last = 0;
	int has_failed = 0, rc = -1;

	if (!acc.custom || !acc.installs || !acc.others || !acc.installations || !acc.push ||
	    !attrs.into || (with_meta && !attrs.meta) || !consent.into || !merged.into ||
	    !events.into) {
		has_failed = 1;
		goto out;
	}
	if (s->ops->ident_list(s, p->id, ident_collect, &acc) ||
	    s->ops->attr_list(s, p->id, attr_collect, &attrs) ||
	    s->ops->consent_list(s, p->id, consent_collect, &consent) ||
	    s->ops->profile_tombstones(s, p->id, tombstone_collect, &merged) ||
	    s->ops->event_stats(s, p->id, &count, &last))
		goto out;
	if (n_events != 0 &&
	    s->ops->event_list(s, p->id, NULL, n_events < 0 ? 0 : (size_t)n_events,
			       event_collect, &events))
		goto out;
	has_failed = acc.has_failed || attrs.has_failed || consent.has_failed ||
		     merged.has_failed || events.has_failed || sort_strings(merged.into);

	doc_set(doc, "profile_id", json_string(p->id), &has_failed);
	doc_set(doc, "custom_id", p->is_anonymous ? json_null() : json_string(p->custom_id),
		&has_failed);
	doc_set(doc, "anonymous", json_boolean(p->is_anonymous), &has_failed);
	doc_set(doc, "created_at", instant_json(p->created_at_ms), &has_failed);
	/* an event at 1970-01-01T00:00:00Z is a visit too */
	doc_set(doc, "last_visit", count ? instant_json(last) : json_null(), &has_failed);
	doc_set(doc, "attributes", json_incref(attrs.into), &has_failed);
	if (with_meta)
		doc_set(doc, "attribute_meta", json_incref(attrs.meta), &has_failed);
	doc_set(doc, "subscriptions", subscriptions_json(consent.into, attrs.into, acc.push),
		&has_failed);
	doc_set(doc, "installations", json_incref(acc.installations), &has_failed);
	doc_set(doc, "identifiers", identifiers_json(&acc), &has_failed);
	doc_set(doc, "merged_from", json_incref(merged.into), &has_failed);
	doc_set(doc, "event_count", json_integer(count), &has_failed);
	doc_set(doc, "events", json_incref(events.into), &has_failed);
	rc = has_failed ? -1 : 0;
out:
	if (has_failed)
		err_set(s->err, sizeof(s->err), "out of memory");
	json_decref(acc.custom);
	json_decref(acc.installs);
	json_decref(acc.others);
	json_decref(acc.installations);
	json_decref(acc.push);
	json_decref(attrs.into);
	json_decref(attrs.meta);
	json_decref(consent.into);
	json_decref(merged.into);
	json_decref(events.into);
	return rc;
}

static int doc_build(struct store *s, const char *pid, long n_events, int with_meta,
		     json_t **out)
{
	struct store_profile p;
	json_t *doc;
	int rc = s->ops->profile_get(s, pid, &p);

	if (rc <= 0)
		return rc;
	if (p.merged_into[0])
		return 0;
	doc = json_object();
	if (!doc) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	if (doc_fill(s, &p, n_events, with_meta, doc)) {
		json_decref(doc);
		return -1;
	}
	*out = doc;
	return 1;
}

int profile_doc_build(struct store *s, const char *pid, long n_events, json_t **out)
{
	return doc_build(s, pid, n_events, 0, out);
}

int profile_doc_view(struct store *s, const char *pid, long n_events, json_t **out)
{
	return doc_build(s, pid, n_events, 1, out);
}

int profile_resolve_id(struct store *s, const char *pid, char live_id[PROFILE_ID_SIZE])
{
	struct store_profile p;
	char cur[PROFILE_ID_SIZE];

	snprintf(cur, sizeof(cur), "%s", pid);
	for (int hops = 0; hops < 1000; hops++) {
		int rc = s->ops->profile_get(s, cur, &p);
		if (rc <= 0)
			return rc;
		if (!p.merged_into[0]) {
			memcpy(live_id, p.id, PROFILE_ID_SIZE);
			return 1;
		}
		memcpy(cur, p.merged_into, PROFILE_ID_SIZE);
	}
	err_set(s->err, sizeof(s->err), "merge chain of %s does not end", pid);
	return -1;
}

/* ---- lookups -------------------------------------------------------- */

struct found {
	char (*ids)[PROFILE_ID_SIZE];
	size_t n, max;
};

static int found_add(void *ctx, const struct store_profile *p)
{
	struct found *f = ctx;
	if (f->n == f->max)
		return 1;
	memcpy(f->ids[f->n++], p->id, PROFILE_ID_SIZE);
	return 0;
}

/* Drops repeats from ids[0..n) (a profile found twice), keeping the
 * first; the count left. */
static size_t found_unique(char (*ids)[PROFILE_ID_SIZE], size_t n)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < kept && strcmp(ids[j], ids[i]) != 0)
			j++;
		if (j == kept)
			memmove(ids[kept++], ids[i], PROFILE_ID_SIZE);
	}
	return kept;
}

/* value as a stored attribute value (JSON text; free() it), or NULL with
 * the error in s. */
static char *attr_text(struct store *s, const char *value)
{
	json_t *v = json_string(value);
	char *text = v ? json_dumps_whole(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	if (!text)
		err_set(s->err, sizeof(s->err), "out of memory");
	return text;
}

static const char *attr_key_of(const char *by)
{
	return by[0] == 'e' ? "$email_address" : "$phone_number";
}

/* An email is looked up without the case of its ASCII letters (the
 * store's lower() folds those alone); a phone as it is. */
static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void attr_text_fold(const char *by, char *text)
{
	if (by[0] != 'e')
		return;
	for (; *text; text++)
		*text = ascii_lower(*text);
}

static int attr_text_equal(const char *by, const char *a, const char *b)
{
	if (by[0] != 'e')
		return strcmp(a, b) == 0;
	while (*a && ascii_lower(*a) == ascii_lower(*b))
		a++, b++;
	return ascii_lower(*a) == ascii_lower(*b);
}

/* Appends to f the profiles whose attribute of `by` holds value, after
 * `after`: 0 or -1. */
static int find_attr(struct store *s, const char *by, const char *value, const char *after,
		     struct found *f)
{
	char *text = attr_text(s, value);
	int rc;

	if (!text)
		return -1;
	attr_text_fold(by, text);
	rc = s->ops->attr_find_profiles(s, attr_key_of(by), text, after, f->max - f->n,
					found_add, f);
	free(text);
	return rc < 0 ? -1 : 0;
}

int profile_find_attr(struct store *s, const char *by, const char *value, const char *after,
		      char (*ids)[PROFILE_ID_SIZE], size_t max)
{
	struct found f = {ids, 0, max};

	if (max == 0)
		return 0;
	return find_attr(s, by, value, after, &f) ? -1 : (int)f.n;
}

int profile_has_attr(struct store *s, const char *by, const char *value, const char *pid)
{
	struct store_attr a;
	char *text = attr_text(s, value);
	int rc;

	if (!text)
		return -1;
	rc = s->ops->attr_get(s, pid, attr_key_of(by), &a);
	if (rc == 1)
		rc = !a.is_deleted && a.value_json && attr_text_equal(by, a.value_json, text);
	free(text);
	return rc;
}

int profile_find_after(struct store *s, const char *by, const char *value, const char *after,
		       char (*ids)[PROFILE_ID_SIZE], size_t max)
{
	struct found f = {ids, 0, max};
	char pid[PROFILE_ID_SIZE];
	size_t kept = 0;
	int rc;

	if (!after[0])
		return profile_find(s, by, value, ids, max);
	/* the holder of the identifier came first, on the first page */
	rc = s->ops->ident_get(s, by, value, pid);
	if (rc >= 0 && find_attr(s, by, value, after, &f) < 0)
		rc = -1;
	for (size_t i = 0; rc >= 0 && i < f.n; i++)
		if (rc != 1 || strcmp(ids[i], pid) != 0)
			memmove(ids[kept++], ids[i], PROFILE_ID_SIZE);
	return rc < 0 ? -1 : (int)kept;
}

int profile_find(struct store *s, const char *by, const char *value,
		 char (*ids)[PROFILE_ID_SIZE], size_t max)
{
	struct found f = {ids, 0, max};
	char pid[PROFILE_ID_SIZE];
	int rc;

	if (strcmp(by, "email") == 0 || strcmp(by, "phone") == 0) {
		/* promoted to an external id (IDENTITY.md 9), it is an identifier
		 * and sets no attribute; the one holding it comes first */
		rc = s->ops->ident_get(s, by, value, pid);
		if (rc == 1 && max > 0)
			memcpy(ids[f.n++], pid, PROFILE_ID_SIZE);
		if (rc >= 0 && f.n < max)
			rc = find_attr(s, by, value, "", &f);
		return rc < 0 ? -1 : (int)found_unique(ids, f.n);
	}
	if (strcmp(by, "profile_id") == 0)
		rc = profile_resolve_id(s, value, pid);
	else /* custom_id, installation_id, an external id */
		rc = s->ops->ident_get(s, by, value, pid);
	if (rc == 1 && max > 0)
		memcpy(ids[f.n++], pid, PROFILE_ID_SIZE);
	return rc < 0 ? -1 : (int)f.n;
}

/* ---- privacy access ------------------------------------------------- */

#define LOG_PAGE_ROWS 256 /* rows of one log_page read (the log built whole) */

json_t *profile_log_json(const struct store_log_entry *e)
{
	json_t *o = json_object();
	int has_failed = 0;

	doc_set(o, "at", instant_json(e->at_ms), &has_failed);
	doc_set(o, "profile_id", json_string(e->profile_id), &has_failed);
	doc_set(o, "action", json_string(e->action), &has_failed);
	if (e->id_type)
		doc_set(o, "type", json_string(e->id_type), &has_failed);
	if (e->id_value)
		doc_set(o, "value", json_string(e->id_value), &has_failed);
	if (e->other_profile_id)
		doc_set(o, "other_profile_id", json_string(e->other_profile_id), &has_failed);
	if (e->reason && str_is_utf8(e->reason))
		doc_set(o, "reason", json_string(e->reason), &has_failed);
	else if (e->reason) /* older versions cut some mid-character */
		log_warn("store", "identity log of %s: a reason not UTF-8, left out",
			 e->profile_id);
	return doc_done(o, has_failed);
}

static int attr_row_collect(void *ctx, const struct store_attr *a)
{
	struct collect *c = ctx;
	json_t *o = json_object();
	int *failed = &c->has_failed;

	doc_set(o, "key", json_string(a->key), failed);
	if (a->value_json)
		doc_set_stored(o, "value", a->value_json, JSON_DECODE_ANY, failed);
	else
		doc_set(o, "value", json_null(), failed);
	doc_set(o, "type", json_string(attr_type_name(a->type)), failed);
	doc_set(o, "deleted", json_boolean(a->is_deleted), failed);
	doc_set(o, "updated_at", instant_json(a->ts_ms), failed);
	doc_append(c->into, o, failed);
	return *failed;
}

static int consent_row_collect(void *ctx, const struct store_consent *c)
{
	struct collect *rows = ctx;
	json_t *o = json_object();
	int *failed = &rows->has_failed;

	doc_set(o, "channel", json_string(c->channel), failed);
	doc_set(o, "state", c->state ? json_string(c->state) : json_null(), failed);
	doc_set(o, "updated_at", instant_json(c->ts_ms), failed);
	doc_set(o, "source", json_string(c->source), failed);
	doc_append(rows->into, o, failed);
	return *failed;
}

void profile_log_reader_init(struct profile_log_reader *r, struct store *s, const char *live_id,
			     const json_t *merged_from)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->merged = merged_from;
	r->pid = live_id;
}

/* What one page read hands on (profile_log_reader_next). */
struct log_page {
	struct profile_log_reader *r;
	store_log_cb cb;
	void *ctx;
	size_t n_read;
	int is_stopped;
};

static int log_page_row(void *ctx, const struct store_log_entry *e)
{
	struct log_page *pg = ctx;
	struct profile_log_reader *r = pg->r;

	pg->n_read++;
	r->after_seq = e->seq;
	/* a merged-away profile: its own rows only, those naming it are
	 * listed with the profile that wrote them */
	if (r->is_own_only && strcmp(e->profile_id, r->pid) != 0)
		return 0;
	pg->is_stopped = pg->cb(pg->ctx, e) != 0;
	return pg->is_stopped;
}

int profile_log_reader_next(struct profile_log_reader *r, size_t limit, store_log_cb cb,
			    void *ctx)
{
	struct log_page pg = {r, cb, ctx, 0, 0};

	if (!r->pid)
		return 0;
	if (r->s->ops->log_page(r->s, r->pid, r->after_seq, limit, log_page_row, &pg))
		return -1;
	if (pg.is_stopped || pg.n_read == limit)
		return 1;
	/* a short page is this profile's last: the next merged one's follow */
	r->pid = json_string_value(json_array_get(r->merged, r->n_merged_read++));
	r->after_seq = 0;
	r->is_own_only = 1;
	return r->pid ? 1 : 0;
}

static int log_row_collect(void *ctx, const struct store_log_entry *e)
{
	struct collect *c = ctx;
	doc_append(c->into, profile_log_json(e), &c->has_failed);
	return c->has_failed;
}

/* The whole identity log of an access document, a page at a time (a row
 * that failed stops it, log->has_failed set). */
static int access_log_collect(struct store *s, const char *pid, const json_t *merged,
			      struct collect *log)
{
	struct profile_log_reader r;
	int rc;

	profile_log_reader_init(&r, s, pid, merged);
	while ((rc = profile_log_reader_next(&r, LOG_PAGE_ROWS, log_row_collect, log)) == 1 &&
	       !log->has_failed)
		;
	return rc < 0 ? -1 : 0;
}

/* The access object of a live profile with n_events events (or
 * PROFILE_EVENTS_ALL), and its identity log unless is_log_paged. */
static int access_build(struct store *s, const char *pid, long n_events, int is_log_paged,
			json_t **out)
{
	struct collect log = {json_array(), 0}, attrs = {json_array(), 0};
	struct collect consent = {json_array(), 0};
	json_t *doc = NULL, *access;
	int has_failed, rc = profile_doc_build(s, pid, n_events, &doc);

	if (rc <= 0)
		goto out;
	rc = -1;
	if ((!is_log_paged &&
	     access_log_collect(s, pid, json_object_get(doc, "merged_from"), &log)) ||
	    s->ops->attr_list(s, pid, attr_row_collect, &attrs) ||
	    s->ops->consent_list(s, pid, consent_row_collect, &consent))
		goto out;
	access = json_object();
	has_failed = log.has_failed || attrs.has_failed || consent.has_failed;
	doc_set(access, "profile", json_incref(doc), &has_failed);
	doc_set(access, "attribute_history", json_incref(attrs.into), &has_failed);
	doc_set(access, "consent_history", json_incref(consent.into), &has_failed);
	if (!is_log_paged)
		doc_set(access, "identity_log", json_incref(log.into), &has_failed);
	if (!(access = doc_done(access, has_failed))) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	*out = access;
	rc = 1;
out:
	json_decref(doc);
	json_decref(log.into);
	json_decref(attrs.into);
	json_decref(consent.into);
	return rc;
}

int profile_access_build(struct store *s, const char *pid, json_t **out)
{
	return access_build(s, pid, PROFILE_EVENTS_ALL, 0, out);
}

int profile_access_build_paged(struct store *s, const char *pid, json_t **out)
{
	return access_build(s, pid, 0, 1, out);
}
