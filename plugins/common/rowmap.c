/*
 * rowmap.c - warehouse rows to canonical records (see rowmap.h).
 *
 * The `map` config is compiled once into targets (a record field and the
 * column that feeds it); rowmap_bind() resolves the column names against a
 * result, so mapping a row is a walk over targets with indexes, writing the
 * record's JSON members into buffers (rm_value.c).  The message_id hashes
 * what the record carries and the row's cursor values, so an unchanged row
 * re-read later is a duplicate, while a changed row, or another row that
 * happens to map to the same content, is new.  An events source may name
 * a column holding a unique event id instead (map.message_id).
 *
 * Plugin code: plain malloc, no hub internals, only hub_plugin.h.
 */
#include "rowmap_int.h"
#include "text.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_IDS 16 /* identifier columns of a map: custom_id, installation_id, external */

/* ---- config ------------------------------------------------------------------ */

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void target_free(struct target *t)
{
	free(t->key);
	free(t->column);
	free(t->path);
}

static void list_free(struct target_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		target_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int target_set(struct target *t, const char *key, json_t *col, const char *path,
		      char *err, size_t err_size)
{
	if (!json_is_string(col) || json_string_length(col) == 0) {
		snprintf(err, err_size, "%s: expected a column name", path);
		return -1;
	}
	t->key = dup_str(key);
	t->column = dup_str(json_string_value(col));
	t->path = dup_str(path);
	t->index = -1;
	if ((key && !t->key) || !t->column || !t->path) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

static struct target *list_add(struct target_list *l)
{
	struct target *items = realloc(l->items, (l->n + 1) * sizeof(*items));

	if (!items)
		return NULL;
	l->items = items;
	memset(&items[l->n], 0, sizeof(items[0]));
	items[l->n].index = -1;
	return &items[l->n++];
}

/* "date(signup)" -> CAST_DATE, "signup"; plain keys are lowercased unless
 * they are native ($...) attributes. */
static int attr_key_parse(const char *spec, char *key, size_t size, enum rm_cast *cast)
{
	static const struct {
		const char *name;
		enum rm_cast cast;
	} casts[] = {{"date", CAST_DATE}, {"number", CAST_NUMBER}, {"string", CAST_STRING},
		     {"bool", CAST_BOOL}, {"json", CAST_JSON}};
	const char *open = strchr(spec, '('), *name = spec;
	size_t len = strlen(spec);

	*cast = CAST_NONE;
	if (open) {
		size_t fn = (size_t)(open - spec);
		if (spec[len - 1] != ')')
			return -1;
		*cast = CAST_NONE;
		for (size_t i = 0; i < sizeof(casts) / sizeof(casts[0]); i++)
			if (strlen(casts[i].name) == fn && strncmp(spec, casts[i].name, fn) == 0)
				*cast = casts[i].cast;
		if (*cast == CAST_NONE)
			return -1;
		name = open + 1;
		len = len - fn - 2;
	}
	if (len == 0 || len >= size)
		return -1;
	for (size_t i = 0; i < len; i++)
		key[i] = name[0] == '$' ? name[i] : (char)tolower((unsigned char)name[i]);
	key[len] = '\0';
	return 0;
}

/* The target of a list with this key, or NULL. */
static const struct target *list_find(const struct target_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].key, key) == 0)
			return &l->items[i];
	return NULL;
}

/* A {key: column} object into a list; attribute keys may carry a cast.
 * Two names of one key ("Plan" and "plan", "plan" and "string(plan)": the
 * hub refuses a record with the key twice) are refused. */
static int read_object(json_t *obj, const char *path, struct target_list *l, int is_attrs,
		       char *err, size_t err_size)
{
	const char *k;
	json_t *col;
	char p[256], key[128];

	if (!json_is_object(obj)) {
		snprintf(err, err_size, "%s: expected a mapping of names to columns", path);
		return -1;
	}
	json_object_foreach(obj, k, col) {
		enum rm_cast cast = CAST_NONE;
		const struct target *twice;
		struct target *t;

		snprintf(p, sizeof(p), "%s.%s", path, k);
		if (is_attrs ? attr_key_parse(k, key, sizeof(key), &cast)
			     : (strlen(k) >= sizeof(key) || !*k)) {
			snprintf(err, err_size, "%s: a name, or date(name), number(name), "
				 "string(name), bool(name), json(name)", p);
			return -1;
		}
		if (!is_attrs)
			snprintf(key, sizeof(key), "%s", k);
		if ((twice = list_find(l, key))) {
			snprintf(err, err_size, "%s.%s: declared twice (%s, %s)", path, key,
				 twice->path + strlen(path) + 1, k);
			return -1;
		}
		if (!(t = list_add(l))) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		t->cast = cast;
		if (target_set(t, key, col, p, err, err_size))
			return -1;
	}
	return 0;
}

static int read_event(struct rowmap *m, json_t *ev, char *err, size_t err_size)
{
	const char *k;
	json_t *v;

	if (!json_is_object(ev)) {
		snprintf(err, err_size, "map.event: expected {name: column, properties: column}");
		return -1;
	}
	json_object_foreach(ev, k, v) {
		if (strcmp(k, "name") == 0) {
			if (target_set(&m->event_name, NULL, v, "map.event.name", err, err_size))
				return -1;
		} else if (strcmp(k, "properties") == 0) {
			if (json_is_object(v)) {
				if (read_object(v, "map.event.properties", &m->props, 0, err,
						err_size))
					return -1;
			} else if (target_set(&m->event_props, NULL, v, "map.event.properties", err,
					      err_size)) {
				return -1;
			}
		} else {
			snprintf(err, err_size, "map.event.%s: unknown key (name, properties)", k);
			return -1;
		}
	}
	if (!m->event_name.column) {
		snprintf(err, err_size, "map.event.name: required (the event name column)");
		return -1;
	}
	return 0;
}

static int read_map_member(struct rowmap *m, const char *k, json_t *v, char *err,
			   size_t err_size)
{
	struct {
		const char *name;
		struct target *t;
	} singles[] = {
		{"custom_id", &m->custom_id}, {"installation_id", &m->installation_id},
		{"platform", &m->platform},   {"timestamp", &m->timestamp},
		{"message_id", &m->msg_id},
	};
	char path[128];

	snprintf(path, sizeof(path), "map.%s", k);
	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++)
		if (strcmp(k, singles[i].name) == 0)
			return target_set(singles[i].t, NULL, v, path, err, err_size);
	if (strcmp(k, "external") == 0)
		return read_object(v, path, &m->externals, 0, err, err_size);
	if (strcmp(k, "attributes") == 0)
		return read_object(v, path, &m->attrs, 1, err, err_size);
	if (strcmp(k, "consent") == 0)
		return read_object(v, path, &m->consent, 0, err, err_size);
	if (strcmp(k, "event") == 0)
		return read_event(m, v, err, err_size);
	snprintf(err, err_size, "%s: unknown key (custom_id, installation_id, external, platform, "
		 "timestamp, attributes, consent, event, message_id)", path);
	return -1;
}

static int read_kind(struct rowmap *m, const char *kind, char *err, size_t err_size)
{
	static const char *const names[] = {"attributes", "events", "consent", "erase"};

	if (!kind) {
		m->kind = m->event_name.column ? RM_KIND_EVENTS : RM_KIND_ATTRIBUTES;
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		if (strcmp(kind, names[i]) == 0) {
			m->kind = (enum rm_kind)i;
			return 0;
		}
	}
	snprintf(err, err_size, "kind: \"%s\" is not one of attributes, events, consent, erase",
		 kind);
	return -1;
}

/* At least one identifier column, and at most MAX_IDS (a record's
 * identifiers are collected into arrays of that size). */
static int check_ids(const struct rowmap *m, char *err, size_t err_size)
{
	size_t n = (m->custom_id.column != NULL) + (m->installation_id.column != NULL) +
		   m->externals.n;

	if (n == 0) {
		snprintf(err, err_size, "map: needs an identifier column (custom_id, "
			 "installation_id or external)");
		return -1;
	}
	if (n > MAX_IDS) {
		snprintf(err, err_size, "map.external: at most %d identifier columns (custom_id, "
			 "installation_id and external together), %zu mapped", MAX_IDS, n);
		return -1;
	}
	return 0;
}

/* What each kind needs from the map. */
static int check_kind(const struct rowmap *m, char *err, size_t err_size)
{
	if (m->kind == RM_KIND_EVENTS && !m->event_name.column) {
		snprintf(err, err_size, "map.event: kind events needs map.event.name");
		return -1;
	}
	if (m->msg_id.column && m->kind != RM_KIND_EVENTS) {
		snprintf(err, err_size, "map.message_id: only for kind events (rows of other kinds "
			 "change in place: their message_id hashes what they carry)");
		return -1;
	}
	if (m->kind == RM_KIND_CONSENT && m->consent.n == 0) {
		snprintf(err, err_size, "map.consent: kind consent needs map.consent");
		return -1;
	}
	if (m->kind == RM_KIND_ATTRIBUTES && m->attrs.n == 0 && m->consent.n == 0) {
		snprintf(err, err_size, "map.attributes: kind attributes needs map.attributes");
		return -1;
	}
	for (size_t i = 0; i < m->consent.n; i++) {
		const char *c = m->consent.items[i].key;
		if (strcmp(c, "email_marketing") != 0 && strcmp(c, "sms_marketing") != 0) {
			snprintf(err, err_size,
				 "%s: unknown channel (email_marketing, sms_marketing)",
				 m->consent.items[i].path);
			return -1;
		}
	}
	return 0;
}

static int read_cursor(struct rowmap *m, const char *json, char *err, size_t err_size)
{
	json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL, *item;
	size_t i;
	int rc = -1;

	if (!v || json_is_null(v)) {
		snprintf(err, err_size, "cursor: required (the column, or list of columns, the "
			 "query orders by)");
		goto out;
	}
	if (json_is_string(v)) {
		json_t *list = json_pack("[O]", v);
		json_decref(v);
		v = list;
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		snprintf(err, err_size, "cursor: expected a column name or a list of them");
		goto out;
	}
	json_array_foreach(v, i, item) {
		struct target *t = list_add(&m->cursor);
		char path[32];

		snprintf(path, sizeof(path), "cursor[%zu]", i);
		if (!t || target_set(t, NULL, item, path, err, err_size))
			goto out;
	}
	rc = 0;
out:
	json_decref(v);
	return rc;
}

int rowmap_new(const struct rm_config *cfg, struct rowmap **out, char *err, size_t err_size)
{
	struct rowmap *m = calloc(1, sizeof(*m));
	json_error_t jerr;
	json_t *map = NULL, *v;
	const char *k;

	*out = NULL;
	if (!m || !(m->source = dup_str(cfg->source))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	m->custom_id.index = m->installation_id.index = m->platform.index = -1;
	m->timestamp.index = m->event_name.index = m->event_props.index = -1;
	m->msg_id.index = -1;
	map = cfg->map_json ? json_loads(cfg->map_json, 0, &jerr) : NULL;
	if (!json_is_object(map)) {
		snprintf(err, err_size, "map: required: a mapping of record fields to columns");
		goto fail;
	}
	json_object_foreach(map, k, v)
		if (read_map_member(m, k, v, err, err_size))
			goto fail;
	if (read_kind(m, cfg->kind, err, err_size) || check_ids(m, err, err_size) ||
	    check_kind(m, err, err_size) || read_cursor(m, cfg->cursor_json, err, err_size))
		goto fail;
	json_decref(map);
	*out = m;
	return 0;
fail:
	json_decref(map);
	rowmap_free(m);
	return -1;
}

int rowmap_attrs_check(const struct rowmap *m, const struct hub_host *host, char *err,
		       size_t err_size)
{
	char why[512];

	if (!HUB_HOST_HAS(host, attr_key_refusal))
		return 0; /* a host before ABI 1.15: emit() drops such a name */
	for (size_t i = 0; i < m->attrs.n; i++) {
		const struct target *t = &m->attrs.items[i];
		const char *written = t->path + strlen("map.attributes.");

		if (!host->attr_key_refusal(t->key, why, sizeof(why)))
			continue;
		if (strcmp(written, t->key) == 0)
			snprintf(err, err_size, "%s: %s", t->path, why);
		else /* lowercased, or a cast around it */
			snprintf(err, err_size, "%s: the attribute \"%s\": %s", t->path, t->key,
				 why);
		return -1;
	}
	return 0;
}

/* An instance's map, kind and cursor keys as rowmap_new() reads them
 * (borrowed from the host until the instance is destroyed). */
static struct rm_config config_of(const struct hub_host *host, const struct hub_instance *inst)
{
	const char *kind = host->config_string(inst, "kind");
	struct rm_config mc = {
		.source = host->instance_name(inst),
		.map_json = host->config_json(inst, "map"),
		.kind = kind && *kind ? kind : NULL,
		.cursor_json = host->config_json(inst, "cursor"),
	};

	return mc;
}

int rowmap_new_of(const struct hub_host *host, const struct hub_instance *inst,
		  struct rowmap **out, char *err, size_t err_size)
{
	struct rm_config mc = config_of(host, inst);

	if (rowmap_new(&mc, out, err, err_size))
		return -1;
	if (rowmap_attrs_check(*out, host, err, err_size)) {
		rowmap_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void rm_tuple_free(struct tuple *t)
{
	free(t->v);
	free(t->pool);
	memset(t, 0, sizeof(*t));
}

void rowmap_free(struct rowmap *m)
{
	struct target *singles[7];

	if (!m)
		return;
	singles[0] = &m->custom_id;
	singles[1] = &m->installation_id;
	singles[2] = &m->platform;
	singles[3] = &m->timestamp;
	singles[4] = &m->event_name;
	singles[5] = &m->event_props;
	singles[6] = &m->msg_id;
	for (int i = 0; i < 7; i++)
		target_free(singles[i]);
	list_free(&m->externals);
	list_free(&m->attrs);
	list_free(&m->consent);
	list_free(&m->props);
	list_free(&m->cursor);
	for (size_t i = 0; i < m->n_cols; i++)
		free((char *)m->cols[i].name);
	free(m->cols);
	rm_tuple_free(&m->saved);
	rm_tuple_free(&m->last);
	rm_tuple_free(&m->before);
	free(m->attrs_json.p);
	free(m->consent_json.p);
	free(m->props_json.p);
	free(m->text.p);
	free(m->hash_in.p);
	free(m->source);
	free(m);
}

/* ---- binding ------------------------------------------------------------------ */

static void column_list(const struct rm_column *cols, size_t n, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len + 8 < size; i++) {
		int w = snprintf(out + len, size - len, "%s%s", i ? ", " : "", cols[i].name);
		if (w < 0 || (size_t)w >= size - len) {
			snprintf(out + len, size - len, ", ...");
			break;
		}
		len += (size_t)w;
	}
}

static int bind_one(struct target *t, const struct rm_column *cols, size_t n, char *err,
		    size_t err_size)
{
	char list[400];

	if (!t->column)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(t->column, cols[i].name) == 0) {
			t->index = (int)i;
			return 0;
		}
	}
	column_list(cols, n, list, sizeof(list));
	snprintf(err, err_size, "%s: no column \"%s\" in the query's result (columns: %s)", t->path,
		 t->column, list);
	return -1;
}

static int bind_list(struct target_list *l, const struct rm_column *cols, size_t n, char *err,
		     size_t err_size)
{
	for (size_t i = 0; i < l->n; i++)
		if (bind_one(&l->items[i], cols, n, err, err_size))
			return -1;
	return 0;
}

static int copy_columns(struct rowmap *m, const struct rm_column *cols, size_t n)
{
	for (size_t i = 0; i < m->n_cols; i++)
		free((char *)m->cols[i].name);
	free(m->cols);
	m->n_cols = 0;
	if (!(m->cols = calloc(n ? n : 1, sizeof(*m->cols))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!(m->cols[i].name = strdup(cols[i].name)))
			return -1;
		m->cols[i].type = cols[i].type;
		m->n_cols++;
	}
	return 0;
}

int rowmap_bind(struct rowmap *m, const struct rm_column *cols, size_t n, char *err,
		size_t err_size)
{
	struct target *singles[] = {&m->custom_id, &m->installation_id, &m->platform,
				    &m->timestamp, &m->event_name, &m->event_props, &m->msg_id};
	struct target_list *lists[] = {&m->externals, &m->attrs, &m->consent, &m->props,
				       &m->cursor};

	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++)
		if (bind_one(singles[i], cols, n, err, err_size))
			return -1;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (bind_list(lists[i], cols, n, err, err_size))
			return -1;
	if (copy_columns(m, cols, n)) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

int rowmap_cursor_column(const struct rowmap *m)
{
	return m->cursor.n ? m->cursor.items[0].index : -1;
}

/* ---- building records ---------------------------------------------------------------- */

/* {"key": value, ...} of a list; attributes whose cast does not apply
 * are left out (noted in m->dropped).  Empty lists write nothing (b stays
 * empty). */
static void build_object(struct rowmap *m, struct buf *b, const struct target_list *l,
			 const struct rm_cell *row, int is_consent)
{
	rm_buf_reset(b);
	if (l->n == 0)
		return;
	rm_buf_add(b, "{", 1);
	for (size_t i = 0; i < l->n; i++) {
		const struct target *t = &l->items[i];
		size_t mark = b->len;

		if (mark > 1)
			rm_buf_add(b, ",", 1);
		rm_buf_json_string(b, t->key);
		rm_buf_add(b, ":", 1);
		if (is_consent)
			rm_append_consent(b, rm_col_type(m, t), &row[t->index]);
		else if (rm_append_value(b, rm_col_type(m, t), t->cast, &row[t->index]) &&
			 !b->failed) {
			b->len = mark; /* left out */
			if (m->n_dropped < RM_DROPPED_MAX)
				m->dropped[m->n_dropped++] = t;
		}
	}
	rm_buf_add(b, "}", 1);
}

/* ---- emitting ------------------------------------------------------------------------ */

/* The cell as an identifier (or name) string in m->text at *at; 1 when NULL. */
static int text_add(struct rowmap *m, const struct target *t, const struct rm_cell *row,
		    int lower, size_t *at)
{
	const struct rm_cell *c = &row[t->index];
	enum rm_type type = rm_col_type(m, t);
	char num[48];
	const char *s = num;

	if (c->is_null)
		return 1;
	if (type == RM_FLOAT)
		snprintf(num, sizeof(num), "%.17g", c->f);
	else if (type == RM_BOOL)
		s = c->b ? "true" : "false";
	else if (type == RM_TIMESTAMP)
		rm_time_format_ms(c->sec, c->nsec, num, sizeof(num));
	else
		s = c->text;
	*at = m->text.len;
	rm_buf_add(&m->text, s, strlen(s) + 1);
	if (lower && !m->text.failed)
		for (char *p = m->text.p + *at; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return 0;
}

/* The row's time in *ms: 1, or 0 when it has none (no such column, or
 * NULL or not a time there; *ms 0).  The epoch is a time (ABI 1.5). */
static int record_time_ms(const struct rowmap *m, const struct rm_cell *row, int64_t *ms)
{
	const struct target *t = m->timestamp.column ? &m->timestamp : NULL;
	int64_t sec;
	int32_t nsec;

	*ms = 0;
	if (!t && m->cursor.n && rm_col_type(m, &m->cursor.items[0]) == RM_TIMESTAMP)
		t = &m->cursor.items[0]; /* the row's update time */
	if (!t || rm_cell_instant(rm_col_type(m, t), &row[t->index], &sec, &nsec))
		return 0;
	*ms = sec * 1000 + nsec / 1000000;
	return 1;
}

static enum hub_record_type record_type(const struct rowmap *m)
{
	switch (m->kind) {
	case RM_KIND_EVENTS: return HUB_REC_TRACK;
	case RM_KIND_CONSENT: return HUB_REC_CONSENT;
	case RM_KIND_ERASE: return HUB_REC_ERASE;
	default: return m->consent.n ? HUB_REC_IDENTIFY : HUB_REC_ATTRIBUTES;
	}
}

/* The record's payloads, per kind. */
static void build_payloads(struct rowmap *m, const struct rm_cell *row, struct hub_record *rec)
{
	rm_buf_reset(&m->attrs_json);
	rm_buf_reset(&m->consent_json);
	rm_buf_reset(&m->props_json);
	m->n_dropped = 0;
	if (m->kind == RM_KIND_ATTRIBUTES)
		build_object(m, &m->attrs_json, &m->attrs, row, 0);
	if (m->kind == RM_KIND_ATTRIBUTES || m->kind == RM_KIND_CONSENT)
		build_object(m, &m->consent_json, &m->consent, row, 1);
	if (m->kind == RM_KIND_EVENTS) {
		if (m->props.n)
			build_object(m, &m->props_json, &m->props, row, 0);
		else if (m->event_props.column && !row[m->event_props.index].is_null &&
			 row[m->event_props.index].text)
			rm_buf_puts(&m->props_json, row[m->event_props.index].text);
		else
			rm_buf_puts(&m->props_json, "{}");
	}
	rec->attributes_json = m->attrs_json.len ? m->attrs_json.p : NULL;
	rec->consent_json = m->consent_json.len ? m->consent_json.p : NULL;
	rec->properties_json = m->props_json.len ? m->props_json.p : NULL;
}

static void hash_add(struct buf *h, const char *tag, const char *s)
{
	rm_buf_puts(h, tag);
	rm_buf_add(h, "=", 1);
	if (s)
		rm_buf_puts(h, s);
	rm_buf_add(h, "\x1f", 1);
}

/*
 * "<source>:<hex sha256>" into id.  The hash input is "tag=value\x1f" for,
 * in this order: the record type (k), each identifier (its type), the
 * platform (p), the time in ms (t; and t0 for a time at the epoch, which
 * "no time" would hash alike), attributes (a), consent (c), the event
 * name (e) and properties (q) as emitted, then each cursor column's value
 * in config order as checkpoint text ("u", or "un" for NULL).  The cursor
 * columns identify the row's version (an update time, then a row key):
 * two rows with the same content still differ, a re-read of an unchanged
 * row hashes the same, an updated row does not.
 * Changing the `cursor` config changes every id (a --full re-read then
 * applies again).  Deterministic: no time, no randomness.
 */
static int message_id_hash(struct rowmap *m, const struct hub_record *rec,
			   const struct rm_cell *row, char *id, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	char ts[32], type[8], num[48], out[2 * SHA256_DIGEST_LENGTH + 1];
	struct buf *h = &m->hash_in;

	rm_buf_reset(h);
	snprintf(type, sizeof(type), "%d", (int)rec->type);
	snprintf(ts, sizeof(ts), "%lld", (long long)rec->timestamp_ms);
	hash_add(h, "k", type);
	for (size_t i = 0; i < rec->n_identifiers; i++)
		hash_add(h, rec->identifiers[i].type, rec->identifiers[i].value);
	hash_add(h, "p", rec->platform);
	hash_add(h, "t", ts);
	if (rec->has_timestamp && rec->timestamp_ms == 0)
		hash_add(h, "t0", "epoch"); /* not "no time", which hashes "0" too */
	hash_add(h, "a", rec->attributes_json);
	hash_add(h, "c", rec->consent_json);
	hash_add(h, "e", rec->event_name);
	hash_add(h, "q", rec->properties_json);
	for (size_t i = 0; i < m->cursor.n; i++) {
		const char *v = rowmap_row_cursor_text(m, row, i, num, sizeof(num));
		hash_add(h, v ? "u" : "un", v);
	}
	if (h->failed)
		return -1;
	SHA256((const unsigned char *)h->p, h->len, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[sizeof(out) - 1] = '\0';
	snprintf(id, size, "%s:%s", m->source, out);
	return 0;
}

/*
 * The record's message_id: "<source>:id:<value>" of the map.message_id
 * column (a unique event id: two events alike in every mapped column and
 * cursor value stay two), else, or when that cell is NULL or empty, the
 * hash.  A hashed id is 64 hex digits after "<source>:", so the two never
 * meet.  A value too long for id is cut, and is then longer than the hub
 * takes (256 bytes): the hub refuses the row, never merges two.
 */
static int message_id(struct rowmap *m, const struct hub_record *rec,
		      const struct rm_cell *row, const char *value, char *id, size_t size)
{
	if (value && *value) {
		snprintf(id, size, "%s:id:%s", m->source, value);
		return 0;
	}
	return message_id_hash(m, rec, row, id, size);
}

/* Identifiers into ids[] (offsets into m->text until resolved); a map has
 * at most MAX_IDS identifier columns (check_ids). */
static size_t collect_ids(struct rowmap *m, const struct rm_cell *row, const char **types,
			  size_t *offs)
{
	size_t n = 0;

	if (m->custom_id.column && !text_add(m, &m->custom_id, row, 0, &offs[n]))
		types[n++] = "custom_id";
	if (m->installation_id.column && !text_add(m, &m->installation_id, row, 0, &offs[n]))
		types[n++] = "installation_id";
	for (size_t i = 0; i < m->externals.n && n < MAX_IDS; i++)
		if (!text_add(m, &m->externals.items[i], row, 0, &offs[n]))
			types[n++] = m->externals.items[i].key;
	return n;
}

/* warn() (ABI 1.6) of each value the row's record left out, naming its
 * place in the map and its column (never the value: it may be anyone's
 * data).  An older host has no warn(): they stay left out unnamed. */
static hub_rc warn_dropped(const struct rowmap *m, const struct hub_host *host,
			   struct hub_call *call, char *err, size_t err_size)
{
	static const char *const as[] = {
		[CAST_NONE] = "a value an attribute can hold (a finite number)",
		[CAST_DATE] = "a date", [CAST_NUMBER] = "a number", [CAST_STRING] = "a string",
		[CAST_BOOL] = "a boolean", [CAST_JSON] = "JSON"};
	char why[320];
	hub_rc rc;

	if (!HUB_HOST_HAS(host, warn))
		return HUB_OK;
	for (size_t i = 0; i < m->n_dropped; i++) {
		const struct target *t = m->dropped[i];
		/* a JSON column's value as it is must be JSON */
		enum rm_cast cast = t->cast == CAST_NONE && rm_col_type(m, t) == RM_JSON
					    ? CAST_JSON : t->cast;
		snprintf(why, sizeof(why), "%.120s: column %.60s is not %s: left out", t->path,
			 t->column, as[cast]);
		rc = host->warn(call, why);
		if (rc != HUB_OK) {
			snprintf(err, err_size, "%s", why);
			return rc;
		}
	}
	return HUB_OK;
}

/* Where the row is, for the host's messages about its record (ABI 1.3
 * origin): its cursor values, by which the warehouse finds it again
 * ("the row with UPDATED_AT=2026-11-01T10:00:00Z, ID=42").  A cursor value
 * is an order key the checkpoint shows anyway, never a mapped value; each
 * is cut at 60 bytes (at a character), made valid UTF-8, and its control
 * bytes made '?'. */
static const char *row_origin(const struct rowmap *m, const struct rm_cell *row, char *out,
			      size_t size)
{
	size_t at = (size_t)snprintf(out, size, "the row with");

	for (size_t i = 0; i < m->cursor.n && at < size; i++) {
		char num[64];
		const char *v = rowmap_row_cursor_text(m, row, i, num, sizeof(num));
		int n = v ? (int)text_utf8_prefix(v, 60) : 4;

		at += (size_t)snprintf(out + at, size - at, "%s %.60s=%.*s", i ? "," : "",
				       m->cursor.items[i].column, n, v ? v : "NULL");
	}
	text_utf8_repair(out);
	for (char *c = out; *c; c++) /* shown on a terminal: no control bytes */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return out;
}

hub_rc rowmap_emit(struct rowmap *m, const struct hub_host *host, struct hub_call *call,
		   const struct rm_cell *row, char *err, size_t err_size)
{
	struct hub_ident ids[MAX_IDS];
	const char *types[MAX_IDS];
	size_t offs[MAX_IDS], n_ids, platform_at = 0, name_at = 0, id_at = 0;
	int has_platform = 0, has_name = 0, has_id = 0;
	struct hub_record rec;
	char id[512], origin[320];
	hub_rc rc;

	hub_record_init(&rec, record_type(m));
	rec.origin = row_origin(m, row, origin, sizeof(origin));
	rm_buf_reset(&m->text);
	n_ids = collect_ids(m, row, types, offs);
	if (m->platform.column)
		has_platform = !text_add(m, &m->platform, row, 1, &platform_at);
	if (m->kind == RM_KIND_EVENTS)
		has_name = !text_add(m, &m->event_name, row, 0, &name_at);
	if (m->msg_id.column)
		has_id = !text_add(m, &m->msg_id, row, 0, &id_at);
	build_payloads(m, row, &rec);
	if (m->text.failed || m->attrs_json.failed || m->consent_json.failed ||
	    m->props_json.failed) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	for (size_t i = 0; i < n_ids; i++)
		ids[i] = (struct hub_ident){types[i], m->text.p + offs[i]};
	rec.identifiers = ids;
	rec.n_identifiers = n_ids;
	rec.platform = has_platform ? m->text.p + platform_at : NULL;
	rec.event_name = has_name ? m->text.p + name_at : NULL;
	rec.has_timestamp = record_time_ms(m, row, &rec.timestamp_ms);
	if (message_id(m, &rec, row, has_id ? m->text.p + id_at : NULL, id, sizeof(id))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	rec.message_id = id;
	rc = host->emit(call, &rec, err, err_size);
	if (rc == HUB_OK)
		rc = warn_dropped(m, host, call, err, err_size);
	return rc;
}

