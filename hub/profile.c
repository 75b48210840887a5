/*
 * profile.c - attributes, consent and events of a profile, and how they
 * merge (IDENTITY.md sections 4 and 5, and the readings of section 9).
 *
 * Attributes store (value, ts); a write applies when its event time is >=
 * the stored ts (ties: the later arrival wins); null deletes and keeps the
 * ts as a tombstone.  Array ops apply at arrival to the current array and
 * take the max of both times.  No SQL here.
 */
#include "profile.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <string.h>

/* ---- attributes ----------------------------------------------------- */

/* The stored array of attribute `key`, or a new empty one (none stored, or
 * not an array); NULL when memory ran out (an empty one would replace the
 * stored items). */
static json_t *current_array(const struct store_attr *a, int found)
{
	json_t *v = NULL;
	int is_oom = 0;

	if (found && !a->is_deleted && a->value_json)
		v = json_loads_whole(a->value_json, 0, NULL, &is_oom);
	if (v && json_is_array(v))
		return v;
	json_decref(v);
	return is_oom ? NULL : json_array();
}

static int array_has(const json_t *arr, const json_t *item)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_equal(v, item))
			return 1;
	return 0;
}

/* $remove first (every occurrence), then $add (set-like, order kept). */
static void array_apply_ops(json_t *arr, const json_t *add, const json_t *remove)
{
	size_t i;
	json_t *v;

	if (remove) {
		for (i = json_array_size(arr); i-- > 0;)
			if (array_has(remove, json_array_get(arr, i)))
				json_array_remove(arr, i);
	}
	if (add) {
		json_array_foreach(add, i, v)
			if (!array_has(arr, v))
				json_array_append(arr, v);
	}
}

/* A write of key at ts; value_json NULL: a delete (a tombstone with the time). */
static struct store_attr attr_write(const char *key, const char *value_json, int type, int64_t ts)
{
	return (struct store_attr){
		.key = key, .value_json = value_json, .type = type, .ts_ms = ts,
		.is_deleted = value_json == NULL, .changed_at_ms = ts,
	};
}

/* An op past the limit is a warning, the attribute left as it is: the
 * limit holds whatever the stored array is (validation only knows the op). */
static int attr_warn_too_long(struct store *s, const struct record_attr *ra, size_t n,
			      struct record_warnings *warnings)
{
	char shown[RECORD_SHOW_SIZE];

	if (!warnings)
		return 0;
	if (record_warnings_add(warnings, "attributes.%s: the array op would leave %zu items, more"
				" than %d; the attribute is left unchanged",
				record_show(shown, ra->key), n, RECORD_ATTR_ARRAY_MAX) == 0)
		return 0;
	err_set(s->err, sizeof(s->err), "out of memory");
	return -1;
}

static int attr_apply_array(struct store *s, const char *pid, const struct record_attr *ra,
			    int64_t ts, struct record_warnings *warnings)
{
	struct store_attr cur;
	int found = s->ops->attr_get(s, pid, ra->key, &cur);
	int64_t new_ts;
	char *text = NULL;
	json_t *arr;
	int rc = 0;

	if (found < 0)
		return -1;
	arr = current_array(&cur, found);
	if (!arr) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	new_ts = found && cur.ts_ms > ts ? cur.ts_ms : ts;
	array_apply_ops(arr, ra->add, ra->remove);
	if (json_array_size(arr) > RECORD_ATTR_ARRAY_MAX)
		rc = attr_warn_too_long(s, ra, json_array_size(arr), warnings);
	else if ((text = json_dumps_whole(arr, JSON_COMPACT | JSON_ENCODE_ANY | HUB_JSON_REAL))) {
		struct store_attr a = attr_write(ra->key, text, ATTR_ARRAY, new_ts);
		rc = s->ops->attr_put(s, pid, &a);
	} else {
		err_set(s->err, sizeof(s->err), "out of memory");
		rc = -1;
	}
	free(text);
	json_decref(arr);
	return rc;
}

/*
 * Whether attribute ra may be written on a profile storing *n of at most
 * max: 1 yes (*n counts it when it is new), 0 no (a new one past the
 * limit: a warning, the attribute left out), -1 error.  Else one client
 * could add attributes without end, and every read and exported change
 * of the profile carried them all.
 */
static int attr_room(struct store *s, const char *pid, const struct record_attr *ra,
		     size_t *n, size_t max, struct record_warnings *warnings)
{
	char shown[RECORD_SHOW_SIZE];
	struct store_attr cur;
	int found = s->ops->attr_get(s, pid, ra->key, &cur);

	if (found != 0)
		return found < 0 ? -1 : 1;
	if (*n < max) {
		(*n)++;
		return 1;
	}
	if (warnings &&
	    record_warnings_add(warnings,
				"attributes.%s: the profile stores %zu"
				" attributes, the most it may (identity.max_attributes);"
				" left out",
				record_show(shown, ra->key), *n) != 0) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	return 0;
}

int profile_apply_attributes(struct store *s, const char *pid, const struct record *r,
			     size_t max_attrs, struct record_warnings *warnings)
{
	size_t n_stored = 0;
	int is_tight = 0; /* the record's keys, all new, would pass the limit */

	if (r->n_attrs > 0) {
		int n = s->ops->attr_count(s, pid);
		if (n < 0)
			return -1;
		n_stored = (size_t)n;
		is_tight = n_stored + r->n_attrs > max_attrs;
	}
	for (size_t i = 0; i < r->n_attrs; i++) {
		const struct record_attr *ra = &r->attrs[i];
		struct store_attr a;

		if (is_tight) {
			int room = attr_room(s, pid, ra, &n_stored, max_attrs, warnings);
			if (room < 0)
				return -1;
			if (room == 0)
				continue;
		}
		if (ra->op == ATTR_OP_ARRAY) {
			if (attr_apply_array(s, pid, ra, r->timestamp_ms, warnings))
				return -1;
			continue;
		}
		a = attr_write(ra->key, ra->op == ATTR_OP_SET ? ra->value_json : NULL,
			       (int)ra->type, r->timestamp_ms);
		if (s->ops->attr_put_newer(s, pid, &a)) /* an older write never wins */
			return -1;
	}
	return 0;
}

/* ---- consent -------------------------------------------------------- */

static const char *consent_text(enum consent_state st)
{
	switch (st) {
	case CONSENT_SUBSCRIBED: return "subscribed";
	case CONSENT_UNSUBSCRIBED: return "unsubscribed";
	default: return NULL;
	}
}

static int consent_apply_one(struct store *s, const char *pid, const char *channel,
			     enum consent_state st, const struct record *r)
{
	struct store_consent c = {
		.channel = channel, .state = consent_text(st), .ts_ms = r->timestamp_ms,
		.source = r->source,
	};

	if (st == CONSENT_ABSENT)
		return 0;
	return s->ops->consent_put_newer(s, pid, &c); /* an older state never wins */
}

int profile_apply_consent(struct store *s, const char *pid, const struct record *r)
{
	int email = consent_apply_one(s, pid, "email_marketing", r->email_marketing, r);
	int sms = email < 0 ? -1 : consent_apply_one(s, pid, "sms_marketing", r->sms_marketing, r);

	return sms < 0 ? -1 : email || sms;
}

/* ---- events --------------------------------------------------------- */

int profile_append_event(struct store *s, const char *pid, const struct record *r)
{
	struct store_event e = {
		.profile_id = pid,
		.ts_ms = r->timestamp_ms,
		.source = r->source,
		.message_id = r->message_id,
		.name = r->event_name,
		.properties_json = r->properties_json,
	};

	return s->ops->event_insert(s, &e);
}

/* ---- merge ---------------------------------------------------------- */

/* A copied attribute or consent row of the absorbed profile. */
struct row_copy {
	char *key;      /* attribute key or consent channel */
	char *value;    /* attribute JSON / consent state; NULL deleted/unset */
	char *source;   /* consent */
	int type;
	int is_deleted;
	int64_t ts_ms;
};

struct row_list {
	struct row_copy *rows;
	size_t n, cap;
	int failed;
};

static struct row_copy *row_list_push(struct row_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct row_copy *grown = hub_realloc(l->rows, cap * sizeof(*grown));
		if (!grown) {
			l->failed = 1;
			return NULL;
		}
		l->rows = grown;
		l->cap = cap;
	}
	memset(&l->rows[l->n], 0, sizeof(l->rows[0]));
	return &l->rows[l->n++];
}

static void row_list_free(struct row_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		hub_free(l->rows[i].key);
		hub_free(l->rows[i].value);
		hub_free(l->rows[i].source);
	}
	hub_free(l->rows);
}

static int copy_attr(void *ctx, const struct store_attr *a)
{
	struct row_list *l = ctx;
	struct row_copy *c = row_list_push(l);
	if (!c)
		return 1;
	c->key = hub_strdup(a->key);
	c->value = a->value_json ? hub_strdup(a->value_json) : NULL;
	c->type = a->type;
	c->is_deleted = a->is_deleted;
	c->ts_ms = a->ts_ms;
	if (!c->key || (a->value_json && !c->value))
		l->failed = 1;
	return l->failed;
}

static int copy_consent(void *ctx, const struct store_consent *cs)
{
	struct row_list *l = ctx;
	struct row_copy *c = row_list_push(l);
	if (!c)
		return 1;
	c->key = hub_strdup(cs->channel);
	c->value = cs->state ? hub_strdup(cs->state) : NULL;
	c->source = hub_strdup(cs->source);
	c->ts_ms = cs->ts_ms;
	if (!c->key || !c->source || (cs->state && !c->value))
		l->failed = 1;
	return l->failed;
}

/* Absorbed's attributes onto survivor; a key survivor lacks is left out
 * once it stores max_attrs (else merges of many small profiles would build
 * one past the limit), and how many were is logged. */
static int merge_attributes(struct store *s, const char *absorbed, const char *survivor,
			    size_t max_attrs)
{
	struct row_list l = {0};
	size_t n_stored = 0, n_left_out = 0;
	int rc = -1, n = 0;

	if (s->ops->attr_list(s, absorbed, copy_attr, &l) || l.failed)
		goto out;
	if (l.n > 0 && (n = s->ops->attr_count(s, survivor)) < 0)
		goto out;
	n_stored = (size_t)n;
	for (size_t i = 0; i < l.n; i++) {
		struct store_attr cur, a;
		int found = s->ops->attr_get(s, survivor, l.rows[i].key, &cur);
		if (found < 0)
			goto out;
		/* the newer ts wins; on a tie the survivor keeps its own */
		if (found && l.rows[i].ts_ms <= cur.ts_ms)
			continue;
		if (!found && n_stored >= max_attrs) {
			n_left_out++;
			continue;
		}
		n_stored += !found;
		a = (struct store_attr){
			.key = l.rows[i].key,
			.value_json = l.rows[i].value,
			.type = l.rows[i].type,
			.ts_ms = l.rows[i].ts_ms,
			.is_deleted = l.rows[i].is_deleted,
			.changed_at_ms = l.rows[i].ts_ms,
		};
		if (s->ops->attr_put(s, survivor, &a))
			goto out;
	}
	if (n_left_out)
		log_warn("unify", "merge of profile %s into %s: %zu of its attributes left out, %s"
			 " storing %zu, the most it may (identity.max_attributes)", absorbed,
			 survivor, n_left_out, survivor, n_stored);
	rc = s->ops->attr_delete_profile(s, absorbed);
out:
	if (l.failed)
		err_set(s->err, sizeof(s->err), "out of memory");
	row_list_free(&l);
	return rc;
}

/* unsubscribed > unset > subscribed */
static int consent_rank(const char *state)
{
	if (!state)
		return 1;
	return strcmp(state, "unsubscribed") == 0 ? 2 : 0;
}

static int merge_consent(struct store *s, const char *absorbed, const char *survivor)
{
	struct row_list l = {0};
	int rc = -1;

	if (s->ops->consent_list(s, absorbed, copy_consent, &l) || l.failed)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		struct store_consent cur, c;
		int found = s->ops->consent_get(s, survivor, l.rows[i].key, &cur);
		if (found < 0)
			goto out;
		if (found && (l.rows[i].ts_ms < cur.ts_ms ||
			      (l.rows[i].ts_ms == cur.ts_ms &&
			       consent_rank(l.rows[i].value) <= consent_rank(cur.state))))
			continue;
		c = (struct store_consent){l.rows[i].key, l.rows[i].value, l.rows[i].ts_ms,
					   l.rows[i].source};
		if (s->ops->consent_put(s, survivor, &c))
			goto out;
	}
	rc = s->ops->consent_delete_profile(s, absorbed);
out:
	if (l.failed)
		err_set(s->err, sizeof(s->err), "out of memory");
	row_list_free(&l);
	return rc;
}

int profile_merge_data(struct store *s, const char *absorbed, const char *survivor,
		       size_t max_attrs)
{
	if (merge_attributes(s, absorbed, survivor, max_attrs))
		return -1;
	return merge_consent(s, absorbed, survivor);
}
