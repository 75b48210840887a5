/*
 * fuzz_rowmap.c - libFuzzer target for the shared warehouse row mapping
 * (plugins/common/rowmap.c, rm_cursor.c, rm_value.c, compiled in): a
 * `map` / `kind` / `cursor` config, a result's columns, a saved cursor
 * text, then rows of cells, each checked against the saved cursor and the
 * remembered tuple, mapped and emitted, and remembered.  The emitted
 * records go through the hub's own validation (record_from_hub).  Also the
 * :cursor rewrite of a query and rowmap_cursor_first().
 *
 * The input is read as a stream; texts are a length byte then that many
 * bytes (cut at a NUL; not UTF-8: its high bytes become '?', as cells
 * are UTF-8):
 *
 *   byte     n: 1 + n % 8 columns c0..c7; bit 7: the config is raw texts
 *   per column: a byte (type % 7, bit 3: its name in capitals) and a byte
 *            (structured config: role % 14 and cast / 14 % 6, see roles[])
 *   byte     kind % 6: none, attributes, events, consent, erase, "bogus"
 *   byte     cursor: 1 + k % 3 columns, then each a byte (index % n; bit
 *            7: a column that is not in the result)
 *   raw:     three texts: map JSON, kind (empty: none), cursor JSON
 *   text     the saved cursor (empty: none)
 *   text     a query for rowmap_query_rewrite()
 *   rows     until the input ends: per cell a byte (bit 0: NULL) then by
 *            the column's type a text, 8 bytes of double, a byte of bool,
 *            or 8 bytes of seconds and 4 of nanoseconds (mod 1e9)
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - a record with a message_id other than "<source>:<64 hex>" or
 *     "<source>:id:<text>" (map.message_id), or
 *     attributes / consent that are not a JSON object (when every JSON
 *     cell of the row is JSON);
 *   - the same row mapped twice to different message_ids;
 *   - a warning of a value left out (warn()) that does not name its place
 *     in the map, or longer than its buffer;
 *   - a row that, once remembered, does not compare equal to itself;
 *   - a row whose first cursor value is NULL that is not new, or that
 *     changes the remembered tuple (it is never a checkpoint), or a
 *     checkpoint text whose first value is not a value;
 *   - a checkpoint text (rowmap_remembered_text) that does not read back
 *     (rowmap_cursor_set), or after which its own row is still "new"
 *     (times within years 0..9999, what rm_time_parse reads);
 *   - a rewritten query whose length does not add up (either dialect), or
 *     a trimmed length past the query's.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/rowmap/
 *                  when there are any)
 */
#include "../../plugins/common/rm_cursor.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rowmap.c"

#include "record.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SOURCE "wh"
#define FUZZ_NOW_MS 1772000000000LL
#define MAX_COLS 8
#define MAX_ROWS 64

/* ---- the input as a stream ---------------------------------------------- */

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned take_byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static void take_bytes(struct input *in, void *out, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memset(out, 0, n);
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
}

/* Cells are UTF-8 (struct rm_cell): anything jansson would refuse (it
 * checks strictly: no overlong forms, no surrogates) loses its high bytes. */
static void utf8_make_valid(char *t)
{
	json_t *j = json_string(t);

	if (!j) {
		for (unsigned char *p = (unsigned char *)t; *p; p++)
			if (*p >= 0x80)
				*p = '?';
	}
	json_decref(j);
}

/* A text (malloc'd, kept in `texts` until the input is done). */
static char *take_text(struct input *in, char **texts, size_t *n_texts)
{
	size_t len = take_byte(in);
	char *t = malloc(len + 1);

	if (!t)
		abort();
	take_bytes(in, t, len);
	t[len] = '\0';
	utf8_make_valid(t);
	texts[(*n_texts)++] = t;
	return t;
}

/* ---- the config ------------------------------------------------------------ */

enum role {
	R_NONE = 0, R_CUSTOM_ID, R_INSTALLATION_ID, R_EXTERNAL, R_PLATFORM, R_TIMESTAMP,
	R_ATTRIBUTE, R_ATTRIBUTE_CAST, R_EMAIL_CONSENT, R_SMS_CONSENT, R_EVENT_NAME,
	R_EVENT_PROPS, R_EVENT_PROP, R_MESSAGE_ID, R_COUNT
};

static const char *const casts[] = {"date", "number", "string", "bool", "json", "Date"};

static void put(json_t *obj, const char *path1, const char *key, const char *column)
{
	json_t *o = obj;

	if (path1) {
		o = json_object_get(obj, path1);
		if (!json_is_object(o)) {
			o = json_object();
			json_object_set_new(obj, path1, o);
		}
	}
	json_object_set_new(o, key, json_string(column));
}

/* The map of the structured form: column i has role roles[i]. */
static char *map_build(const struct rm_column *cols, size_t n, const unsigned *roles)
{
	json_t *map = json_object(), *event = json_object();
	char key[32], *text;

	for (size_t i = 0; i < n; i++) {
		const char *c = cols[i].name;
		switch (roles[i] % R_COUNT) {
		case R_CUSTOM_ID: put(map, NULL, "custom_id", c); break;
		case R_INSTALLATION_ID: put(map, NULL, "installation_id", c); break;
		case R_PLATFORM: put(map, NULL, "platform", c); break;
		case R_TIMESTAMP: put(map, NULL, "timestamp", c); break;
		case R_EXTERNAL:
			snprintf(key, sizeof(key), "ext%zu", i);
			put(map, "external", key, c);
			break;
		case R_ATTRIBUTE:
			snprintf(key, sizeof(key), "%sa%zu", i % 3 ? "" : "$", i);
			put(map, "attributes", key, c);
			break;
		case R_ATTRIBUTE_CAST:
			snprintf(key, sizeof(key), "%s(a%zu)", casts[roles[i] / R_COUNT % 6], i);
			put(map, "attributes", key, c);
			break;
		case R_EMAIL_CONSENT: put(map, "consent", "email_marketing", c); break;
		case R_SMS_CONSENT: put(map, "consent", "sms_marketing", c); break;
		case R_EVENT_NAME: put(event, NULL, "name", c); break;
		case R_EVENT_PROPS: put(event, NULL, "properties", c); break;
		case R_EVENT_PROP:
			snprintf(key, sizeof(key), "p%zu", i);
			put(event, "properties", key, c);
			break;
		case R_MESSAGE_ID: put(map, NULL, "message_id", c); break;
		default: break;
		}
	}
	if (json_object_size(event))
		json_object_set(map, "event", event);
	json_decref(event);
	text = json_dumps(map, JSON_COMPACT);
	json_decref(map);
	return text;
}

static char *cursor_build(struct input *in, const struct rm_column *cols, size_t n)
{
	json_t *list = json_array();
	size_t k = 1 + take_byte(in) % 3;
	char *text;

	for (size_t i = 0; i < k; i++) {
		unsigned b = take_byte(in);
		json_array_append_new(list, json_string(b & 0x80 ? "nowhere" : cols[b % n].name));
	}
	text = json_dumps(k == 1 && take_byte(in) % 2 ? json_array_get(list, 0) : list,
			  JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(list);
	return text;
}

/* ---- the host ---------------------------------------------------------------- */

static char last_id[512];

/* Read as the hub reads a plugin's JSON (record_hub.c): an integer past 64
 * bits, which a NUMBER column's digits become, as a real. */
static int json_object_text(const char *text)
{
	json_error_t jerr;
	int had_big = 0;
	json_t *v = text ? json_loadb_big_ints(text, strlen(text), 0, &jerr, &had_big, NULL) : NULL;
	int ok = !text || json_is_object(v);

	json_decref(v);
	return ok;
}

static int row_json_ok; /* every non-NULL JSON cell of the row is JSON */

static hub_rc fake_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			size_t err_size)
{
	struct record_warnings w = {0};
	struct record *r = NULL;
	const char *hex;
	hub_rc rc;

	(void)call;
	if (!rec->message_id || strncmp(rec->message_id, FUZZ_SOURCE ":", 3) != 0)
		abort();
	hex = rec->message_id + 3;
	if (strncmp(hex, "id:", 3) == 0) {
		if (!hex[3] || rec->type != HUB_REC_TRACK)
			abort();
	} else if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) {
		abort();
	}
	for (size_t i = 0; i < rec->n_identifiers; i++)
		if (!rec->identifiers[i].type || !rec->identifiers[i].value)
			abort();
	if (row_json_ok && (!json_object_text(rec->attributes_json) ||
			    !json_object_text(rec->consent_json)))
		abort();
	snprintf(last_id, sizeof(last_id), "%s", rec->message_id);
	rc = record_from_hub(rec, FUZZ_SOURCE, NULL, FUZZ_NOW_MS, &r, &w, err, err_size);
	record_free(r);
	record_warnings_clear(&w);
	return rc == HUB_OK ? HUB_OK : HUB_ERR_DATA;
}

/* warn() (ABI 1.6): one line of text naming the map's place, after an
 * emit() that kept its record. */
static hub_rc fake_warn(struct hub_call *call, const char *why)
{
	(void)call;
	if (!last_id[0] || strncmp(why, "map.", 4) != 0 || strlen(why) >= 320 ||
	    !strstr(why, ": left out"))
		abort();
	return HUB_OK;
}

static const struct hub_host host = {
	.size = sizeof(struct hub_host), .emit = fake_emit, .warn = fake_warn};

/* ---- rows ---------------------------------------------------------------------- */

/* 1 when text is one JSON value without duplicate keys. */
static int is_json(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

	json_decref(j);
	return j != NULL;
}

/* One row's cells; 0 when the input ended first. */
static int take_row(struct input *in, const struct rm_column *cols, size_t n,
		    struct rm_cell *row, char **texts, size_t *n_texts)
{
	if (!in->n)
		return 0;
	row_json_ok = 1;
	for (size_t i = 0; i < n; i++) {
		struct rm_cell *c = &row[i];
		uint32_t ns;

		memset(c, 0, sizeof(*c));
		c->is_null = take_byte(in) & 1;
		switch (cols[i].type) {
		case RM_FLOAT: take_bytes(in, &c->f, sizeof(c->f)); break;
		case RM_BOOL: c->b = take_byte(in) & 1; break;
		case RM_TIMESTAMP:
			take_bytes(in, &c->sec, sizeof(c->sec));
			take_bytes(in, &ns, sizeof(ns));
			c->nsec = (int32_t)(ns % 1000000000u);
			break;
		default:
			c->text = take_text(in, texts, n_texts);
			if (cols[i].type == RM_JSON && !c->is_null)
				row_json_ok &= is_json(c->text);
			break;
		}
	}
	return 1;
}

/* 1 when every cursor time of the row is within years 0..9999. */
static int cursor_times_in_range(const struct rowmap *m, const struct rm_cell *row)
{
	for (size_t i = 0; i < rowmap_cursor_n(m); i++) {
		const struct rm_cell *c = &row[m->cursor.items[i].index];
		if (rowmap_cursor_type(m, i) == RM_TIMESTAMP && !c->is_null &&
		    (c->sec < RM_SEC_MIN || c->sec > RM_SEC_MAX))
			return 0;
	}
	return 1;
}

/* The remembered tuple's text (malloc'd), or NULL. */
static char *remembered(const struct rowmap *m)
{
	char *text = rowmap_remembered_text(m), *first;

	if (!text)
		return NULL;
	if (!(first = rowmap_cursor_first(text))) /* never a NULL first value */
		abort();
	free(first);
	return text;
}

static void check_row(struct rowmap *m, const struct rm_cell *row)
{
	char err[1024], buf[64], first_id[sizeof(last_id)], *before, *after;
	int is_placed = rowmap_row_is_placed(m, row);
	hub_rc rc;

	if (rowmap_row_is_new(m, row) != 1 && !is_placed)
		abort();
	if (rowmap_cmp_remembered(m, row) != 1 && !is_placed)
		abort();
	if (rowmap_cursor_first_difference(m, row) >= (rowmap_cursor_n(m) ? rowmap_cursor_n(m) : 1))
		abort();
	for (size_t i = 0; i < rowmap_cursor_n(m); i++) {
		(void)rowmap_row_cursor_text(m, row, i, buf, sizeof(buf));
		(void)rowmap_remembered_cursor_text(m, i, buf, sizeof(buf));
	}
	last_id[0] = '\0';
	rc = rowmap_emit(m, &host, NULL, row, err, sizeof(err));
	if (rc != HUB_OK && rc != HUB_ERR_DATA)
		abort();
	if (rc == HUB_ERR_DATA && !err[0])
		abort();
	/* the same row maps to the same message_id */
	snprintf(first_id, sizeof(first_id), "%s", last_id);
	last_id[0] = '\0';
	if (rowmap_emit(m, &host, NULL, row, err, sizeof(err)) != rc || strcmp(first_id, last_id))
		abort();
	before = remembered(m);
	if (rowmap_remember(m, row))
		abort();
	after = remembered(m);
	if (is_placed ? rowmap_cmp_remembered(m, row) != 0
		      : (!before) != (!after) || (before && strcmp(before, after)))
		abort();
	free(before);
	free(after);
}

/* The checkpoint of the last row with a first cursor value reads back, and
 * that row is then not new. */
static void check_checkpoint(const struct rm_config *cfg, const struct rm_column *cols, size_t n,
			     const struct rowmap *m, const struct rm_cell *row)
{
	char *text = rowmap_remembered_text(m), *first, err[1024];
	struct rowmap *m2 = NULL;

	if (!text)
		return;
	if (rowmap_new(cfg, &m2, err, sizeof(err)) || rowmap_bind(m2, cols, n, err, sizeof(err)))
		abort();
	if (cursor_times_in_range(m, row)) {
		if (rowmap_cursor_set(m2, text, err, sizeof(err)))
			abort();
		if (rowmap_row_is_new(m2, row))
			abort();
	}
	first = rowmap_cursor_first(text);
	free(first);
	rowmap_free(m2);
	free(text);
}

static void check_rewrite(const char *query)
{
	static const char ph[] = "@cursor_value";
	char err[256], *out;
	int n = 0;

	for (int d = RM_SQL_SNOWFLAKE; d <= RM_SQL_BIGQUERY; d++) {
		out = rowmap_query_rewrite(query, ph, (enum rm_dialect)d, &n, err, sizeof(err));
		if (!out) {
			if (!strchr(query, '?') || !err[0])
				abort();
			continue;
		}
		if (n < 0 || strlen(out) != strlen(query) + (size_t)n * (sizeof(ph) - 1 - 7))
			abort();
		free(out);
		if (rowmap_query_trimmed_len(query, (enum rm_dialect)d) > strlen(query))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = {NULL, "attributes", "events", "consent", "erase",
					    "bogus"};
	struct input in = {data, size};
	struct rm_column cols[MAX_COLS];
	struct rm_cell row[MAX_COLS], placed[MAX_COLS];
	char names[MAX_COLS][4], err[1024];
	char *texts[4 + MAX_ROWS * MAX_COLS + 8], *map_text = NULL, *cursor_text = NULL;
	unsigned roles[MAX_COLS], b0 = take_byte(&in);
	size_t n = 1 + b0 % MAX_COLS, n_texts = 0, n_rows = 0;
	struct rm_config cfg = {.source = FUZZ_SOURCE};
	struct rowmap *m = NULL;
	const char *saved, *query;
	int has_row = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned t = take_byte(&in);
		snprintf(names[i], sizeof(names[i]), "%c%zu", t & 8 ? 'C' : 'c', i);
		cols[i].name = names[i];
		cols[i].type = (enum rm_type)(t % 7);
		roles[i] = take_byte(&in);
	}
	cfg.kind = kinds[take_byte(&in) % 6];
	if (b0 & 0x80) {
		cfg.map_json = take_text(&in, texts, &n_texts);
		cfg.kind = take_text(&in, texts, &n_texts);
		if (!*cfg.kind)
			cfg.kind = NULL;
		cfg.cursor_json = take_text(&in, texts, &n_texts);
	} else {
		cfg.map_json = map_text = map_build(cols, n, roles);
		cfg.cursor_json = cursor_text = cursor_build(&in, cols, n);
	}
	saved = take_text(&in, texts, &n_texts);
	query = take_text(&in, texts, &n_texts);
	check_rewrite(query);
	free(rowmap_cursor_first(*saved ? saved : NULL));

	if (rowmap_new(&cfg, &m, err, sizeof(err))) {
		if (!err[0] || m)
			abort();
		goto out;
	}
	if (rowmap_bind(m, cols, n, err, sizeof(err))) {
		if (!err[0])
			abort();
		goto out;
	}
	if (rowmap_cursor_column(m) < 0 || (size_t)rowmap_cursor_column(m) >= n)
		abort();
	if (rowmap_cursor_set(m, *saved ? saved : NULL, err, sizeof(err)) && !err[0])
		abort();
	while (n_rows < MAX_ROWS && take_row(&in, cols, n, row, texts, &n_texts)) {
		check_row(m, row);
		if (rowmap_row_is_placed(m, row)) {
			memcpy(placed, row, sizeof(placed)); /* its texts live until the end */
			has_row = 1;
		}
		n_rows++;
	}
	if (has_row)
		check_checkpoint(&cfg, cols, n, m, placed);
out:
	rowmap_free(m);
	free(map_text);
	free(cursor_text);
	for (size_t i = 0; i < n_texts; i++)
		free(texts[i]);
	return 0;
}
