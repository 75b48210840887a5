/*
 * profile_doc.c - the profile document of API.md, built from the store:
 * fixed key order and sorted lists, so two dumps of equal stores are equal
 * byte for byte.  Also the privacy access document.  No SQL here.
 */
#include "profile.h"

#include "alloc.h"
#include "util.h"

#include <string.h>

static const char *const attr_type_names[] = {"string", "number", "bool", "date", "url", "array"};

/* An instant: 0 is 1970-01-01T00:00:00.000Z like any other. */
static json_t *instant_json(int64_t ms)
{
	char buf[40];
	return json_string(time_format_ms(ms, buf, sizeof(buf)));
}

/* A time that may be unknown: 0 means never (no event yet, an
 * installation never seen), shown as null. */
static json_t *time_json(int64_t ms)
{
	return ms ? instant_json(ms) : json_null();
}

/* ---- identifiers and installations ---------------------------------- */

struct ident_acc {
	json_t *custom;       /* values of custom_id */
	json_t *installs;     /* values of installation_id */
	json_t *others;       /* type -> [values], types in name order */
	json_t *installations;/* the installation objects */
	json_t *push;         /* platforms with push on */
};

static void push_platform_add(json_t *push, const char *platform)
{
	size_t i;
	json_t *v;
	json_array_foreach(push, i, v)
		if (strcmp(json_string_value(v), platform) == 0)
			return;
	json_array_append_new(push, json_string(platform));
}

static int ident_collect(void *ctx, const struct store_ident *id)
{
	struct ident_acc *acc = ctx;

	if (strcmp(id->type, "custom_id") == 0) {
		json_array_append_new(acc->custom, json_string(id->value));
	} else if (strcmp(id->type, "installation_id") == 0) {
		json_t *inst = json_object();
		json_array_append_new(acc->installs, json_string(id->value));
		json_object_set_new(inst, "installation_id", json_string(id->value));
		json_object_set_new(inst, "platform",
				    id->platform ? json_string(id->platform) : json_null());
		json_object_set_new(inst, "last_seen", time_json(id->last_seen_ms));
		json_object_set_new(inst, "push_enabled",
				    id->push_enabled < 0 ? json_null() : json_boolean(id->push_enabled));
		json_array_append_new(acc->installations, inst);
		if (id->push_enabled == 1 && id->platform) /* a platform to list */
			push_platform_add(acc->push, id->platform);
	} else {
		json_t *list = json_object_get(acc->others, id->type);
		if (!list) {
			list = json_array();
			json_object_set_new(acc->others, id->type, list);
		}
		json_array_append_new(list, json_string(id->value));
	}
	return 0;
}

static int cmp_json_strings(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings in place. */
static void sort_strings(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **items;
	if (n < 2)
		return;
	items = hub_malloc(n * sizeof(*items));
	if (!items)
		return;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), cmp_json_strings);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	hub_free(items);
}

static json_t *identifiers_json(struct ident_acc *acc)
{
	json_t *ids = json_object();
	const char *type;
	json_t *list;

	if (json_array_size(acc->custom))
		json_object_set(ids, "custom_id", acc->custom);
	if (json_array_size(acc->installs))
		json_object_set(ids, "installation_id", acc->installs);
	json_object_foreach(acc->others, type, list)
		json_object_set(ids, type, list);
	return ids;
}

/* ---- attributes, consent, events ------------------------------------ */

static int attr_collect(void *ctx, const struct store_attr *a)
{
	json_t *attrs = ctx;
	json_t *v;
	if (a->is_deleted || !a->value_json)
		return 0;
	v = json_loads(a->value_json, JSON_DECODE_ANY, NULL);
	if (v)
		json_object_set_new(attrs, a->key, v);
	return 0;
}

static int consent_collect(void *ctx, const struct store_consent *c)
{
	json_t *subs = ctx;
	json_object_set_new(subs, c->channel, c->state ? json_string(c->state) : json_null());
	return 0;
}

json_t *profile_event_json(const struct store_event *e)
{
	json_t *ev = json_object();
	json_t *props = json_loads(e->properties_json, 0, NULL);
	json_object_set_new(ev, "name", json_string(e->name));
	json_object_set_new(ev, "timestamp", instant_json(e->ts_ms));
	json_object_set_new(ev, "source", json_string(e->source));
	json_object_set_new(ev, "message_id", json_string(e->message_id));
	json_object_set_new(ev, "properties", props ? props : json_object());
	return ev;
}

static int event_collect(void *ctx, const struct store_event *e)
{
	json_array_append_new(ctx, profile_event_json(e));
	return 0;
}

static int tombstone_collect(void *ctx, const struct store_profile *p)
{
	json_array_append_new(ctx, json_string(p->id));
	return 0;
}

/* ---- the document --------------------------------------------------- */

static json_t *subscriptions_json(json_t *consent, const json_t *attrs, json_t *push)
{
	json_t *subs = json_object();
	json_t *em = json_object_get(consent, "email_marketing");
	json_t *sm = json_object_get(consent, "sms_marketing");

	json_object_set(subs, "email_marketing", em ? em : json_null());
	json_object_set(subs, "sms_marketing", sm ? sm : json_null());
	json_object_set_new(subs, "email_transactional",
			    json_boolean(json_object_get(attrs, "$email_address") != NULL));
	json_object_set_new(subs, "sms_transactional",
			    json_boolean(json_object_get(attrs, "$phone_number") != NULL));
	sort_strings(push);
	json_object_set(subs, "push", push);
	return subs;
}

static int doc_fill(struct store *s, const struct store_profile *p, long n_events, json_t *doc)
{
	struct ident_acc acc = {json_array(), json_array(), json_object(), json_array(), json_array()};
	json_t *attrs = json_object(), *consent = json_object(), *merged = json_array();
	json_t *events = json_array();
	int64_t count = 0, last = 0;
	int rc = -1;

	if (s->ops->ident_list(s, p->id, ident_collect, &acc) ||
	    s->ops->attr_list(s, p->id, attr_collect, attrs) ||
	    s->ops->consent_list(s, p->id, consent_collect, consent) ||
	    s->ops->profile_tombstones(s, p->id, tombstone_collect, merged) ||
	    s->ops->event_stats(s, p->id, &count, &last))
		goto out;
	if (n_events != 0 &&
	    s->ops->event_list(s, p->id, NULL, n_events < 0 ? 0 : (size_t)n_events,
			       event_collect, events))
		goto out;
	sort_strings(merged);

	json_object_set_new(doc, "profile_id", json_string(p->id));
	json_object_set_new(doc, "custom_id", p->is_anonymous ? json_null() : json_string(p->custom_id));
	json_object_set_new(doc, "anonymous", json_boolean(p->is_anonymous));
	json_object_set_new(doc, "created_at", instant_json(p->created_at_ms));
	/* an event at 1970-01-01T00:00:00Z is a visit too */
	json_object_set_new(doc, "last_visit", count ? instant_json(last) : json_null());
	json_object_set(doc, "attributes", attrs);
	json_object_set_new(doc, "subscriptions", subscriptions_json(consent, attrs, acc.push));
	json_object_set(doc, "installations", acc.installations);
	json_object_set_new(doc, "identifiers", identifiers_json(&acc));
	json_object_set(doc, "merged_from", merged);
	json_object_set_new(doc, "event_count", json_integer(count));
	json_object_set(doc, "events", events);
	rc = 0;
out:
	json_decref(acc.custom);
	json_decref(acc.installs);
	json_decref(acc.others);
	json_decref(acc.installations);
	json_decref(acc.push);
	json_decref(attrs);
	json_decref(consent);
	json_decref(merged);
	json_decref(events);
	return rc;
}

int profile_doc_build(struct store *s, const char *pid, long n_events, json_t **out)
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
	if (doc_fill(s, &p, n_events, doc)) {
		json_decref(doc);
		return -1;
	}
	*out = doc;
	return 1;
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

int profile_find(struct store *s, const char *by, const char *value,
		 char (*ids)[PROFILE_ID_SIZE], size_t max)
{
	struct found f = {ids, 0, max};
	char pid[PROFILE_ID_SIZE];
	int rc;

	if (strcmp(by, "email") == 0 || strcmp(by, "phone") == 0) {
		json_t *v = json_string(value);
		char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
		json_decref(v);
		if (!text) {
			err_set(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
		/* promoted to an external id (IDENTITY.md 9), it is an identifier
		 * and sets no attribute; the one holding it comes first */
		rc = s->ops->ident_get(s, by, value, pid);
		if (rc == 1 && max > 0)
			memcpy(ids[f.n++], pid, PROFILE_ID_SIZE);
		if (rc >= 0)
			rc = s->ops->attr_find_profiles(s, by[0] == 'e' ? "$email_address"
									: "$phone_number",
							text, found_add, &f);
		free(text);
		return rc < 0 ? -1 : (int)found_unique(ids, f.n);
	}
	if (strcmp(by, "profile_id") == 0)
		rc = profile_resolve_id(s, value, pid);
	else if (strcmp(by, "custom_id") == 0 || strcmp(by, "installation_id") == 0)
		rc = s->ops->ident_get(s, by, value, pid);
	else
		rc = 0;
	if (rc == 1 && max > 0)
		memcpy(ids[f.n++], pid, PROFILE_ID_SIZE);
	return rc < 0 ? -1 : (int)f.n;
}

/* ---- privacy access ------------------------------------------------- */

#define LOG_PAGE_ROWS 256 /* rows of one log_page read (the log built whole) */

json_t *profile_log_json(const struct store_log_entry *e)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "at", instant_json(e->at_ms));
	json_object_set_new(o, "profile_id", json_string(e->profile_id));
	json_object_set_new(o, "action", json_string(e->action));
	if (e->id_type)
		json_object_set_new(o, "type", json_string(e->id_type));
	if (e->id_value)
		json_object_set_new(o, "value", json_string(e->id_value));
	if (e->other_profile_id)
		json_object_set_new(o, "other_profile_id", json_string(e->other_profile_id));
	if (e->reason)
		json_object_set_new(o, "reason", json_string(e->reason));
	return o;
}

static int attr_row_collect(void *ctx, const struct store_attr *a)
{
	json_t *o = json_object();
	json_t *v = a->value_json ? json_loads(a->value_json, JSON_DECODE_ANY, NULL) : NULL;
	json_object_set_new(o, "key", json_string(a->key));
	json_object_set_new(o, "value", v ? v : json_null());
	json_object_set_new(o, "type", json_string(a->type >= 0 && a->type < 6
							   ? attr_type_names[a->type] : "string"));
	json_object_set_new(o, "deleted", json_boolean(a->is_deleted));
	json_object_set_new(o, "updated_at", instant_json(a->ts_ms));
	json_array_append_new(ctx, o);
	return 0;
}

static int consent_row_collect(void *ctx, const struct store_consent *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "channel", json_string(c->channel));
	json_object_set_new(o, "state", c->state ? json_string(c->state) : json_null());
	json_object_set_new(o, "updated_at", instant_json(c->ts_ms));
	json_object_set_new(o, "source", json_string(c->source));
	json_array_append_new(ctx, o);
	return 0;
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
	json_array_append_new(ctx, profile_log_json(e));
	return 0;
}

/* The whole identity log of an access document, a page at a time. */
static int access_log_collect(struct store *s, const char *pid, const json_t *merged,
			      json_t *log)
{
	struct profile_log_reader r;
	int rc;

	profile_log_reader_init(&r, s, pid, merged);
	while ((rc = profile_log_reader_next(&r, LOG_PAGE_ROWS, log_row_collect, log)) == 1)
		;
	return rc;
}

/* The access object of a live profile with n_events events (or
 * PROFILE_EVENTS_ALL), and its identity log unless is_log_paged. */
static int access_build(struct store *s, const char *pid, long n_events, int is_log_paged,
			json_t **out)
{
	json_t *doc = NULL, *log = json_array(), *attrs = json_array(), *consent = json_array();
	json_t *access;
	int rc = profile_doc_build(s, pid, n_events, &doc);

	if (rc <= 0)
		goto out;
	rc = -1;
	if ((!is_log_paged &&
	     access_log_collect(s, pid, json_object_get(doc, "merged_from"), log)) ||
	    s->ops->attr_list(s, pid, attr_row_collect, attrs) ||
	    s->ops->consent_list(s, pid, consent_row_collect, consent))
		goto out;
	access = json_object();
	json_object_set(access, "profile", doc);
	json_object_set(access, "attribute_history", attrs);
	json_object_set(access, "consent_history", consent);
	if (!is_log_paged)
		json_object_set(access, "identity_log", log);
	*out = access;
	rc = 1;
out:
	json_decref(doc);
	json_decref(log);
	json_decref(attrs);
	json_decref(consent);
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
