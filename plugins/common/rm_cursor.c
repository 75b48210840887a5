/*
 * rm_cursor.c - cursor tuples and the :cursor placeholder.
 *
 * A cursor is the tuple of a row's cursor columns, saved as a JSON array
 * of strings (times as RFC 3339 with nanoseconds, numbers as decimals).
 * A time outside years 0000..9999 has no such text that reads back (the
 * year takes four digits), nor has a text that is not UTF-8 (JSON text is
 * UTF-8), and a NaN (a float's, or a decimal's "NaN") has no order (it
 * compares equal to every value):
 * a row holding one is never a checkpoint, it fails the pull (rowpull.c).
 * Rows compare with it column by column with their types: numbers
 * numerically, times as instants, strings bytewise, BYTES by the bytes
 * their base64 text encodes (saved as that text, as BigQuery takes it).
 * Bytewise is the one string order a plugin can know without the
 * warehouse's collation, so the query must sort strings that way too
 * (rowpull.c fails the sync when rows arrive out of this order rather than
 * skip rows silently).
 *
 * NULLs: where they sort is the query's (ORDER BY ... ASC puts them last in
 * Snowflake and PostgreSQL, first in BigQuery; NULLS FIRST / LAST says
 * otherwise), so the plugin does not assume it:
 *   - a row whose FIRST cursor value is NULL has no place in the cursor
 *     order: it is always new, never remembered, never a checkpoint (the
 *     checkpoint stays at the last tuple with a value; every sync that
 *     selects such a row reads it again, a duplicate by its message_id);
 *   - a NULL against a value in a later column, skipping at the saved
 *     tuple: the row counts as new (read again, at worst a duplicate;
 *     skipped, it might be lost);
 *   - the same in the order check: the rows' order decides.  The first
 *     NULL next to a value (with equal earlier columns) shows where this
 *     result puts the column's NULLs; a row putting them on the other side
 *     later is out of order.
 */
#include "rowmap_int.h"
#include "text.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- cursor tuples ------------------------------------------------------------------ */

static int tuple_reserve(struct tuple *t, size_t n)
{
	if (!t->v && !(t->v = calloc(n ? n : 1, sizeof(*t->v))))
		return -1;
	t->pool_len = 0;
	return 0;
}

static int pool_add(struct tuple *t, const char *s, size_t *at)
{
	size_t n = strlen(s) + 1;

	if (t->pool_len + n > t->pool_cap) {
		size_t cap = t->pool_cap ? t->pool_cap : 64;
		char *p;
		while (cap < t->pool_len + n)
			cap *= 2;
		if (!(p = realloc(t->pool, cap)))
			return -1;
		t->pool = p;
		t->pool_cap = cap;
	}
	memcpy(t->pool + t->pool_len, s, n);
	*at = t->pool_len;
	t->pool_len += n;
	return 0;
}

enum rm_type rm_col_type(const struct rowmap *m, const struct target *t)
{
	return t->index >= 0 && (size_t)t->index < m->n_cols ? m->cols[t->index].type : RM_STRING;
}

static int value_from_cell(struct tuple *t, struct value *v, enum rm_type type,
			   const struct rm_cell *c)
{
	memset(v, 0, sizeof(*v));
	if ((v->is_null = c->is_null))
		return 0;
	v->sec = c->sec;
	v->nsec = c->nsec;
	v->f = c->f;
	v->b = c->b;
	if (type == RM_STRING || type == RM_NUMBER || type == RM_JSON || type == RM_BYTES)
		return pool_add(t, c->text ? c->text : "", &v->text_at);
	return 0;
}

static int value_from_text(struct tuple *t, struct value *v, enum rm_type type, json_t *j)
{
	const char *s = json_string_value(j);
	char *end;

	memset(v, 0, sizeof(*v));
	if (json_is_null(j)) {
		v->is_null = 1;
		return 0;
	}
	if (!s)
		return -1;
	switch (type) {
	case RM_TIMESTAMP:
		return rm_time_parse(s, &v->sec, &v->nsec);
	case RM_FLOAT:
		v->f = strtod(s, &end);
		return *s && !*end ? 0 : -1;
	case RM_BOOL:
		v->b = strcmp(s, "true") == 0;
		return v->b || strcmp(s, "false") == 0 ? 0 : -1;
	default:
		return pool_add(t, s, &v->text_at);
	}
}

int rowmap_cursor_set(struct rowmap *m, const char *cursor, char *err, size_t err_size)
{
	json_t *arr = NULL, *item;
	size_t i;
	int rc = -1;

	m->saved.n = 0;
	m->last.n = 0;
	m->before.n = 0;
	for (i = 0; i < m->cursor.n; i++)
		m->cursor.items[i].nulls = 0; /* a new result shows its own order */
	if (!cursor)
		return 0;
	arr = json_loads(cursor, JSON_DECODE_ANY, NULL);
	if (json_is_string(arr)) {
		json_t *list = json_pack("[O]", arr);
		json_decref(arr);
		arr = list;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > m->cursor.n) {
		snprintf(err, err_size, "the saved cursor %.200s does not fit the cursor columns "
			 "(%zu): run once with --full", cursor, m->cursor.n);
		goto out;
	}
	if (tuple_reserve(&m->saved, m->cursor.n) || tuple_reserve(&m->last, m->cursor.n)) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	json_array_foreach(arr, i, item) {
		enum rm_type type = rm_col_type(m, &m->cursor.items[i]);
		if (value_from_text(&m->saved, &m->saved.v[i], type, item)) {
			snprintf(err, err_size,
				 "the saved cursor %.200s: value %zu does not read as "
				 "the type of column %s: run once with --full",
				 cursor, i + 1, m->cursor.items[i].column);
			goto out;
		}
	}
	m->saved.n = json_array_size(arr);
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

char *rowmap_cursor_first(const char *cursor)
{
	json_t *arr, *first;
	char *out;

	if (!cursor)
		return NULL;
	arr = json_loads(cursor, JSON_DECODE_ANY, NULL);
	if (!arr)
		return strdup(cursor); /* a plain value */
	first = json_is_array(arr) ? json_array_get(arr, 0) : arr;
	out = json_is_string(first) ? strdup(json_string_value(first)) : NULL;
	json_decref(arr);
	return out;
}

/* cell_cmp(): one of the two is NULL, the other not. */
#define CMP_NULL 2

/* A cell against a tuple value of the same column: <0, 0, >0, or CMP_NULL
 * when exactly one of them is NULL (two NULLs are equal). */
static int cell_cmp(const struct tuple *t, const struct value *v, enum rm_type type,
		    const struct rm_cell *c)
{
	const char *vt = t->pool ? t->pool + v->text_at : "";

	if (c->is_null || v->is_null)
		return c->is_null == v->is_null ? 0 : CMP_NULL;
	switch (type) {
	case RM_TIMESTAMP:
		if (c->sec != v->sec)
			return c->sec < v->sec ? -1 : 1;
		return c->nsec < v->nsec ? -1 : c->nsec > v->nsec;
	case RM_NUMBER:
		return rm_decimal_cmp(c->text ? c->text : "0", vt);
	case RM_FLOAT:
		return c->f < v->f ? -1 : c->f > v->f;
	case RM_BOOL:
		return (c->b != 0) - (v->b != 0);
	case RM_BYTES:
		return rm_base64_cmp(c->text ? c->text : "", vt);
	default: {
		int r = strcmp(c->text ? c->text : "", vt);
		return r < 0 ? -1 : r > 0;
	}
	}
}

/* A row after a tuple, one NULL between them in a column: where that puts
 * the column's NULLs: 1 last (the row's is NULL), -1 first. */
static int nulls_if_after(const struct rm_cell *c)
{
	return c->is_null ? 1 : -1;
}

/* Row against a tuple over the tuple's columns (a shorter saved tuple
 * compares its prefix; an equal prefix counts as after it).  A NULL
 * against a value (see the top of this file): after, for skipping; for
 * the order check (is_order), after unless this result put the column's
 * NULLs on the other side before. */
static int tuple_cmp(const struct rowmap *m, const struct tuple *t, const struct rm_cell *row,
		     int is_order)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct target *col = &m->cursor.items[i];
		const struct rm_cell *c = &row[col->index];
		int r = cell_cmp(t, &t->v[i], rm_col_type(m, col), c);
		if (r == CMP_NULL)
			return !is_order || col->nulls == 0 || col->nulls == nulls_if_after(c)
				       ? 1
				       : -1;
		if (r)
			return r;
	}
	return t->n < m->cursor.n ? 1 : 0;
}

int rowmap_row_is_placed(const struct rowmap *m, const struct rm_cell *row)
{
	return m->cursor.n == 0 || !row[m->cursor.items[0].index].is_null;
}

int rowmap_row_cursor_out_of_range(const struct rowmap *m, const struct rm_cell *row)
{
	if (!rowmap_row_is_placed(m, row))
		return -1; /* never a checkpoint */
	for (size_t i = 0; i < m->cursor.n; i++) {
		const struct target *col = &m->cursor.items[i];
		const struct rm_cell *c = &row[col->index];
		enum rm_type type = rm_col_type(m, col);
		if (type == RM_TIMESTAMP && !c->is_null &&
		    (c->sec < RM_SEC_MIN || c->sec > RM_SEC_MAX))
			return (int)i;
		if (type == RM_FLOAT && !c->is_null && isnan(c->f))
			return (int)i;
		/* a decimal's "NaN" (PostgreSQL's NUMERIC has one) */
		if (type == RM_NUMBER && !c->is_null && c->text && isnan(strtod(c->text, NULL)))
			return (int)i;
	}
	return -1;
}

int rowmap_row_cursor_not_utf8(const struct rowmap *m, const struct rm_cell *row)
{
	if (!rowmap_row_is_placed(m, row))
		return -1; /* never a checkpoint */
	for (size_t i = 0; i < m->cursor.n; i++) {
		const struct target *col = &m->cursor.items[i];
		const struct rm_cell *c = &row[col->index];
		enum rm_type type = rm_col_type(m, col);
		int is_text = type == RM_STRING || type == RM_NUMBER || type == RM_JSON ||
			      type == RM_BYTES;
		if (is_text && !c->is_null && c->text && !text_utf8_is_valid(c->text))
			return (int)i;
	}
	return -1;
}

int rowmap_row_is_new(const struct rowmap *m, const struct rm_cell *row)
{
	return !rowmap_row_is_placed(m, row) || m->saved.n == 0 ||
	       tuple_cmp(m, &m->saved, row, 0) > 0;
}

/* The row follows the remembered tuple: the first NULL next to a value
 * (equal before it) shows where this result puts the column's NULLs. */
static void learn_nulls(struct rowmap *m, const struct rm_cell *row)
{
	for (size_t i = 0; i < m->last.n; i++) {
		struct target *col = &m->cursor.items[i];
		int r = cell_cmp(&m->last, &m->last.v[i], rm_col_type(m, col), &row[col->index]);
		if (r == CMP_NULL && col->nulls == 0)
			col->nulls = nulls_if_after(&row[col->index]);
		if (r)
			return;
	}
}

int rowmap_remember(struct rowmap *m, const struct rm_cell *row)
{
	if (!rowmap_row_is_placed(m, row))
		return 0; /* never a checkpoint */
	learn_nulls(m, row);
	if (m->last.n > 0) { /* kept as the one before: its buffers swapped, not copied */
		struct tuple t = m->before;
		m->before = m->last;
		m->is_before_new = m->is_last_new;
		m->last = t;
	}
	m->last.n = 0;
	m->is_last_new = rowmap_row_is_new(m, row);
	if (tuple_reserve(&m->last, m->cursor.n))
		return -1;
	for (size_t i = 0; i < m->cursor.n; i++) {
		const struct target *col = &m->cursor.items[i];
		if (value_from_cell(&m->last, &m->last.v[i], rm_col_type(m, col), &row[col->index]))
			return -1;
	}
	m->last.n = m->cursor.n;
	return 0;
}

int rowmap_cmp_remembered(const struct rowmap *m, const struct rm_cell *row)
{
	if (!rowmap_row_is_placed(m, row) || m->last.n == 0)
		return 1;
	return tuple_cmp(m, &m->last, row, 1);
}

int rowmap_has_remembered(const struct rowmap *m)
{
	return m->last.n > 0;
}

int rowmap_cursor_nulls(const struct rowmap *m, size_t i)
{
	return m->cursor.items[i].nulls;
}

/* A tuple value as the cell it was copied from. */
static struct rm_cell value_cell(const struct tuple *t, const struct value *v)
{
	struct rm_cell c = {v->is_null, t->pool ? t->pool + v->text_at : "", v->f, v->b, v->sec,
			    v->nsec};
	return c;
}

/* A non-NULL cell as cursor text: times RFC 3339 with nanoseconds, floats
 * with every digit, strings and decimals as they are.  Returns buf or the
 * cell's own text. */
static const char *cell_text(enum rm_type type, const struct rm_cell *c, char *buf,
			     size_t size)
{
	switch (type) {
	case RM_TIMESTAMP:
		return rm_time_format(c->sec, c->nsec, buf, size);
	case RM_FLOAT:
		snprintf(buf, size, "%.17g", c->f);
		return buf;
	case RM_BOOL:
		return c->b ? "true" : "false";
	default:
		return c->text ? c->text : "";
	}
}

/* A tuple as cursor text (malloc'd), or NULL (none; out of memory). */
static char *tuple_text(const struct rowmap *m, const struct tuple *t)
{
	struct buf b = {0};
	char num[48];

	if (t->n == 0)
		return NULL;
	rm_buf_add(&b, "[", 1);
	for (size_t i = 0; i < t->n; i++) {
		struct rm_cell c = value_cell(t, &t->v[i]);
		if (i)
			rm_buf_add(&b, ",", 1);
		if (c.is_null)
			rm_buf_puts(&b, "null");
		else
			rm_buf_json_string(&b, cell_text(rm_col_type(m, &m->cursor.items[i]), &c,
							 num, sizeof(num)));
	}
	rm_buf_add(&b, "]", 1);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

char *rowmap_remembered_text(const struct rowmap *m)
{
	return tuple_text(m, &m->last);
}

char *rowmap_settled_text(const struct rowmap *m)
{
	return m->is_before_new ? tuple_text(m, &m->before) : NULL;
}

/* ---- cursor values for hashing and messages ------------------------------------------ */

size_t rowmap_cursor_n(const struct rowmap *m)
{
	return m->cursor.n;
}

const char *rowmap_cursor_name(const struct rowmap *m, size_t i)
{
	return m->cursor.items[i].column;
}

enum rm_type rowmap_cursor_type(const struct rowmap *m, size_t i)
{
	return rm_col_type(m, &m->cursor.items[i]);
}

const char *rowmap_row_cursor_text(const struct rowmap *m, const struct rm_cell *row, size_t i,
				   char *buf, size_t size)
{
	const struct target *col = &m->cursor.items[i];
	const struct rm_cell *c = &row[col->index];

	return c->is_null ? NULL : cell_text(rm_col_type(m, col), c, buf, size);
}

const char *rowmap_remembered_cursor_text(const struct rowmap *m, size_t i, char *buf,
					  size_t size)
{
	struct rm_cell c;

	if (i >= m->last.n)
		return NULL;
	c = value_cell(&m->last, &m->last.v[i]);
	return c.is_null ? NULL : cell_text(rm_col_type(m, &m->cursor.items[i]), &c, buf, size);
}

size_t rowmap_cursor_first_difference(const struct rowmap *m, const struct rm_cell *row)
{
	size_t i;

	for (i = 0; i < m->last.n; i++) {
		const struct target *col = &m->cursor.items[i];
		if (cell_cmp(&m->last, &m->last.v[i], rm_col_type(m, col), &row[col->index]))
			return i;
	}
	return i ? i - 1 : 0;
}

/* ---- queries ------------------------------------------------------------------------- */

static int is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Length of a quoted string, comment or dollar-quoted body at q (0: none),
 * by Snowflake's rules: '...' with '' and backslash escapes, "..." with
 * "", -- and // comments to the end of the line, slash-star comments,
 * $$...$$ (PostgreSQL's too, but for //, which it has no use for). */
static size_t skip_quoted_snowflake(const char *q)
{
	const char *p, *end;

	if (*q == '\'' || *q == '"') {
		for (p = q + 1; *p; p++) {
			if (*p == *q && p[1] == *q)
				p++; /* doubled quote */
			else if (*p == *q)
				return (size_t)(p - q) + 1;
			else if (*p == '\\' && *q == '\'' && p[1])
				p++; /* Snowflake's backslash escapes */
		}
		return strlen(q);
	}
	if ((q[0] == '-' && q[1] == '-') || (q[0] == '/' && q[1] == '/'))
		return (end = strchr(q, '\n')) ? (size_t)(end - q) : strlen(q);
	if (q[0] == '/' && q[1] == '*')
		return (end = strstr(q + 2, "*/")) ? (size_t)(end - q) + 2 : strlen(q);
	if (q[0] == '$' && q[1] == '$')
		return (end = strstr(q + 2, "$$")) ? (size_t)(end - q) + 2 : strlen(q);
	return 0;
}

/* The same by GoogleSQL's rules (BigQuery's): '...', "...", their
 * triple-quoted forms ''' and """ (quotes and newlines inside) and `names`,
 * all with backslash escapes (raw strings too: a backslash never lets
 * their quote end them); # and -- comments to the end of the line,
 * slash-star comments. */
static size_t skip_quoted_bigquery(const char *q)
{
	const char *p, *end;

	if (*q == '\'' || *q == '"' || *q == '`') {
		size_t n_quote = *q != '`' && q[1] == *q && q[2] == *q ? 3 : 1;
		for (p = q + n_quote; *p; p++) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == *q && (n_quote == 1 || (p[1] == *q && p[2] == *q)))
				return (size_t)(p - q) + n_quote;
		}
		return strlen(q);
	}
	if (q[0] == '#' || (q[0] == '-' && q[1] == '-'))
		return (end = strchr(q, '\n')) ? (size_t)(end - q) : strlen(q);
	if (q[0] == '/' && q[1] == '*')
		return (end = strstr(q + 2, "*/")) ? (size_t)(end - q) + 2 : strlen(q);
	return 0;
}

static size_t skip_quoted(const char *q, enum rm_dialect dialect)
{
	return dialect == RM_SQL_BIGQUERY ? skip_quoted_bigquery(q) : skip_quoted_snowflake(q);
}

size_t rowmap_query_trimmed_len(const char *query, enum rm_dialect dialect)
{
	const char *p = query;
	size_t end = 0, skip;

	while (*p) {
		if ((skip = skip_quoted(p, dialect))) {
			/* a string or name, not a comment */
			if (*p != '-' && *p != '/' && *p != '#')
				end = (size_t)(p - query) + skip;
			p += skip;
			continue;
		}
		if (!isspace((unsigned char)*p) && *p != ';')
			end = (size_t)(p - query) + 1;
		p++;
	}
	return end;
}

char *rowmap_query_rewrite(const char *query, const char *placeholder, enum rm_dialect dialect,
			   int *n_found, char *err, size_t err_size)
{
	static const char name[] = ":cursor";
	const size_t name_len = sizeof(name) - 1;
	struct buf b = {0};
	const char *p = query;

	*n_found = 0;
	rm_buf_add(&b, "", 0);
	while (*p) {
		size_t skip = skip_quoted(p, dialect);

		if (skip) {
			rm_buf_add(&b, p, skip);
			p += skip;
		} else if (*p == '?') {
			snprintf(err, err_size, "query: has a \"?\" placeholder; use :cursor");
			free(b.p);
			return NULL;
		} else if (strncasecmp(p, name, name_len) == 0 && !is_ident_char(p[name_len]) &&
			   (p == query || (p[-1] != ':' && !is_ident_char(p[-1])))) {
			rm_buf_puts(&b, placeholder);
			(*n_found)++;
			p += name_len;
		} else {
			rm_buf_add(&b, p++, 1);
		}
	}
	if (b.failed) {
		snprintf(err, err_size, "out of memory");
		free(b.p);
		return NULL;
	}
	return b.p;
}

