/*
 * sf_odbc_fetch.c - the odbc transport's result: its columns and rows.
 *
 * Results are read with column-wise binding and block fetches
 * (SQL_ATTR_ROW_ARRAY_SIZE rows per SQLFetch): one buffer per column, sized
 * once, so memory stays flat whatever the table size.  Strings travel as
 * UTF-16 (SQL_C_WCHAR: no dependence on the process locale) and are turned
 * into UTF-8 here; DECIMAL / NUMERIC as text (SQL_C_CHAR, NUMBER_WIDTH
 * bytes).  A value longer than its bound buffer (rare: buffers follow the
 * declared column size; a NUMERIC past 71 digits) is fetched whole with
 * SQLGetData on that row only, never cut, up to max_answer_bytes (as the
 * driver hands it: UTF-16, 2 bytes a character); a longer one fails the
 * run rather than grow memory without bound (a text cell may hold 1 GB).
 *
 * Never cuts a value, and never fetches a rowset or frees the statement:
 * SQLFetch and the statement's life are sf_odbc.c's.
 */
#include "sf_odbc_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STRING_CAP_CHARS 2048   /* a string column's buffer, at most */
#define JSON_CAP_CHARS 16384    /* a VARIANT / json column's buffer, at most */
#define MIN_CAP_CHARS 256       /* at least (drivers under-report some sizes) */
#define NUMBER_WIDTH 72
#define ROWS_MAX 1024
#define BUFFER_BUDGET (32u << 20) /* bytes of all column buffers */

/* Snowflake's own SQL types (its ODBC driver reports them for these). */
#define SF_SQL_TIMESTAMP_LTZ 2000
#define SF_SQL_TIMESTAMP_TZ 2001
#define SF_SQL_TIMESTAMP_NTZ 2002
#define SF_SQL_ARRAY 2003
#define SF_SQL_OBJECT 2004
#define SF_SQL_VARIANT 2005

/* ---- UTF-16 -> UTF-8 ----------------------------------------------------------------- */

static size_t utf8_put(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* n UTF-16 units -> NUL-terminated UTF-8 in *out (grown); -1: no memory.
 * A lone surrogate becomes U+FFFD. */
static int utf16_to_utf8(const SQLWCHAR *w, size_t n, char **out, size_t *cap)
{
	size_t need = n * 3 + 1, len = 0;

	if (need > *cap) {
		char *p = realloc(*out, need);
		if (!p)
			return -1;
		*out = p;
		*cap = need;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned cp = w[i];
		if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && w[i + 1] >= 0xDC00 &&
		    w[i + 1] <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (w[i + 1] - 0xDC00u);
			i++;
		} else if (cp >= 0xD800 && cp <= 0xDFFF) {
			cp = 0xFFFD;
		}
		len += utf8_put(*out + len, cp);
	}
	(*out)[len] = '\0';
	return 0;
}

/* ---- columns ------------------------------------------------------------------------------ */

static int is_json_type_name(const char *name)
{
	static const char *const names[] = {"variant", "object", "array", "json", "jsonb"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Picks the rowmap type, the C type to bind and the buffer width. */
static void column_kind(struct ocol *c, const char *type_name)
{
	size_t chars;

	c->c_type = SQL_C_WCHAR;
	c->type = RM_STRING;
	switch (c->sql_type) {
	case SQL_DECIMAL:
	case SQL_NUMERIC:
		c->type = RM_NUMBER;
		c->c_type = SQL_C_CHAR;
		c->width = NUMBER_WIDTH;
		return;
	case SQL_TINYINT:
	case SQL_SMALLINT:
	case SQL_INTEGER:
	case SQL_BIGINT:
		c->type = RM_NUMBER;
		c->c_type = SQL_C_SBIGINT;
		c->width = sizeof(SQLBIGINT);
		return;
	case SQL_REAL:
	case SQL_FLOAT:
	case SQL_DOUBLE:
		c->type = RM_FLOAT;
		c->c_type = SQL_C_DOUBLE;
		c->width = sizeof(double);
		return;
	case SQL_BIT:
		c->type = RM_BOOL;
		c->c_type = SQL_C_BIT;
		c->width = 1;
		return;
	case SQL_TYPE_TIMESTAMP:
	case SQL_TIMESTAMP:
	case SQL_TYPE_DATE:
	case SQL_DATE:
	case SF_SQL_TIMESTAMP_LTZ:
	case SF_SQL_TIMESTAMP_TZ:
	case SF_SQL_TIMESTAMP_NTZ:
		c->type = RM_TIMESTAMP;
		c->c_type = SQL_C_TYPE_TIMESTAMP;
		c->width = sizeof(SQL_TIMESTAMP_STRUCT);
		return;
	case SF_SQL_ARRAY:
	case SF_SQL_OBJECT:
	case SF_SQL_VARIANT:
		c->type = RM_JSON;
		break;
	default:
		if (is_json_type_name(type_name))
			c->type = RM_JSON;
	}
	chars = c->type == RM_JSON ? JSON_CAP_CHARS : STRING_CAP_CHARS;
	if (c->size > 0 && c->size < chars)
		chars = c->size;
	if (chars < MIN_CAP_CHARS)
		chars = MIN_CAP_CHARS;
	c->width = (SQLLEN)((chars + 1) * sizeof(SQLWCHAR));
}

void sf_odbc_columns_free(struct sf_odbc *o)
{
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		free(o->cols[i].data);
		free(o->cols[i].ind);
		free(o->cols[i].text);
	}
	free(o->cols);
	free(o->rm_cols);
	free(o->cells);
	free(o->status);
	o->cols = NULL;
	o->rm_cols = NULL;
	o->cells = NULL;
	o->status = NULL;
	o->n_cols = 0;
}

hub_rc sf_odbc_describe(struct sf_odbc *o, SQLSMALLINT n, char *err, size_t err_size)
{
	sf_odbc_columns_free(o);
	o->cols = calloc((size_t)n, sizeof(*o->cols));
	o->rm_cols = calloc((size_t)n, sizeof(*o->rm_cols));
	o->cells = calloc((size_t)n, sizeof(*o->cells));
	if (!o->cols || !o->rm_cols || !o->cells) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	o->n_cols = n;
	for (SQLSMALLINT i = 0; i < n; i++) {
		struct ocol *c = &o->cols[i];
		SQLCHAR type_name[64] = "";
		SQLSMALLINT len, nullable;

		if (!SQL_SUCCEEDED(SQLDescribeCol(o->stmt, (SQLUSMALLINT)(i + 1),
						  (SQLCHAR *)c->name, sizeof(c->name), &len,
						  &c->sql_type, &c->size, &c->digits, &nullable)))
			return sf_odbc_diag(SQL_HANDLE_STMT, o->stmt, "describing the result", err,
					    err_size);
		SQLColAttribute(o->stmt, (SQLUSMALLINT)(i + 1), SQL_DESC_TYPE_NAME, type_name,
				sizeof(type_name), &len, NULL);
		column_kind(c, (char *)type_name);
		o->rm_cols[i].name = c->name;
		o->rm_cols[i].type = c->type;
	}
	return HUB_OK;
}

/* Buffers for `rows` rows per fetch, bound to the statement. */
hub_rc sf_odbc_bind_columns(struct sf_odbc *o, size_t batch_hint, char *err, size_t err_size)
{
	size_t row_bytes = 0;

	for (SQLSMALLINT i = 0; i < o->n_cols; i++)
		row_bytes += (size_t)o->cols[i].width + sizeof(SQLLEN);
	o->rows = batch_hint < ROWS_MAX ? (batch_hint ? batch_hint : 1) : ROWS_MAX;
	if (row_bytes && o->rows > BUFFER_BUDGET / row_bytes)
		o->rows = BUFFER_BUDGET / row_bytes ? BUFFER_BUDGET / row_bytes : 1;
	if (!(o->status = calloc(o->rows, sizeof(*o->status))))
		goto nomem;
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		struct ocol *c = &o->cols[i];
		if (!(c->data = malloc(o->rows * (size_t)c->width)) ||
		    !(c->ind = calloc(o->rows, sizeof(*c->ind))))
			goto nomem;
	}
	if (!SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROW_BIND_TYPE,
					  (SQLPOINTER)SQL_BIND_BY_COLUMN, 0)) ||
	    !SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROW_ARRAY_SIZE,
					  (SQLPOINTER)(uintptr_t)o->rows, 0)) ||
	    !SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROWS_FETCHED_PTR, &o->n_fetched, 0)) ||
	    !SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROW_STATUS_PTR, o->status, 0)))
		return sf_odbc_diag(SQL_HANDLE_STMT, o->stmt, "setting up block fetch", err,
				    err_size);
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		struct ocol *c = &o->cols[i];
		if (!SQL_SUCCEEDED(SQLBindCol(o->stmt, (SQLUSMALLINT)(i + 1), c->c_type, c->data,
					      c->width, c->ind)))
			return sf_odbc_diag(SQL_HANDLE_STMT, o->stmt, "binding a column", err,
					    err_size);
	}
	return HUB_OK;
nomem:
	snprintf(err, err_size, "out of memory");
	return HUB_ERR_NOMEM;
}

/* ---- a fetched row as cells ------------------------------------------------------------- */

/* c->text = the n bytes at s, NUL-terminated.  0 or -1 (out of memory). */
static int text_set(struct ocol *c, const char *s, size_t n)
{
	char *p;

	if (n + 1 > c->text_cap) {
		if (!(p = realloc(c->text, n + 1)))
			return -1;
		c->text = p;
		c->text_cap = n + 1;
	}
	memcpy(c->text, s, n);
	c->text[n] = '\0';
	return 0;
}

/* A value of `bytes` (as the driver hands it) past max_answer_bytes, said
 * into err: the run fails as the configuration's (raise the bound or cast
 * the column shorter), as an SQL API answer past it does. */
static hub_rc too_long(const struct sf_odbc *o, const struct ocol *c, size_t bytes, char *err,
		       size_t err_size)
{
	snprintf(err, err_size, "column %s: a value of %zu bytes or more (as the driver hands it), "
		 "over max_answer_bytes (%lld bytes): raise max_answer_bytes, or cast it shorter "
		 "in the query", c->name, bytes, (long long)o->value_max);
	return HUB_ERR_CONFIG;
}

/* A value longer than its buffer (a string, or a DECIMAL / NUMERIC as
 * text): this row's value, whole, with SQLGetData in the column's C type
 * (the driver must support it on block cursors), into c->text as UTF-8;
 * one past max_answer_bytes is refused before it is read whole. */
static hub_rc fetch_whole(struct sf_odbc *o, SQLSMALLINT i, char *err, size_t err_size)
{
	struct ocol *c = &o->cols[i];
	size_t unit = c->c_type == SQL_C_CHAR ? 1 : sizeof(SQLWCHAR); /* bytes a character */
	size_t cap = (size_t)c->width / unit * 4, used = 0, known;    /* in characters */
	char *buf = NULL, *grown;
	SQLLEN ind;
	SQLRETURN r;
	hub_rc rc = HUB_OK;

	if (!SQL_SUCCEEDED(SQLSetPos(o->stmt, (SQLSETPOSIROW)(o->pos + 1), SQL_POSITION,
				     SQL_LOCK_NO_CHANGE)))
		goto unsupported;
	for (;;) {
		if (!(grown = realloc(buf, cap * unit))) {
			free(buf);
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		buf = grown;
		r = SQLGetData(o->stmt, (SQLUSMALLINT)(i + 1), c->c_type, buf + used * unit,
			       (SQLLEN)((cap - used) * unit), &ind);
		if (r == SQL_SUCCESS_WITH_INFO && (ind == SQL_NO_TOTAL ||
						   (size_t)ind >= (cap - used) * unit)) {
			/* the value's bytes: ind from where this call read, or (none
			 * told) at least what the buffer holds now */
			known = ind == SQL_NO_TOTAL ? cap * unit : used * unit + (size_t)ind;
			if (o->value_max > 0 && known > (uint64_t)o->value_max) {
				free(buf);
				return too_long(o, c, known, err, err_size);
			}
			used = cap - 1; /* the part read, without its NUL */
			cap *= 2;
			continue;
		}
		if (!SQL_SUCCEEDED(r))
			goto unsupported;
		used += ind > 0 ? (size_t)ind / unit : 0;
		break;
	}
	if (unit == 1 ? text_set(c, buf, used)
		      : utf16_to_utf8((SQLWCHAR *)(void *)buf, used, &c->text, &c->text_cap)) {
		snprintf(err, err_size, "out of memory");
		rc = HUB_ERR_NOMEM;
	}
	free(buf);
	return rc;
unsupported:
	free(buf);
	snprintf(err, err_size, "column %s: a value longer than %zu characters, which the driver "
		 "cannot fetch whole: cast it shorter in the query", c->name,
		 (size_t)c->width / unit - 1);
	return HUB_ERR_CONFIG;
}

static int format_int(struct ocol *c, SQLBIGINT v)
{
	if (!c->text) {
		if (!(c->text = malloc(24)))
			return -1;
		c->text_cap = 24;
	}
	snprintf(c->text, c->text_cap, "%lld", (long long)v);
	return 0;
}

/* Fills o->cells from row o->pos of the rowset. */
hub_rc sf_odbc_convert_row(struct sf_odbc *o, char *err, size_t err_size)
{
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		struct ocol *c = &o->cols[i];
		struct rm_cell *cell = &o->cells[i];
		char *v = c->data + o->pos * (size_t)c->width;
		SQLLEN ind = c->ind[o->pos];
		const SQL_TIMESTAMP_STRUCT *ts;
		hub_rc rc;

		memset(cell, 0, sizeof(*cell));
		if ((cell->is_null = ind == SQL_NULL_DATA))
			continue;
		switch (c->c_type) {
		case SQL_C_WCHAR:
			if (ind == SQL_NO_TOTAL || ind > c->width - (SQLLEN)sizeof(SQLWCHAR)) {
				if ((rc = fetch_whole(o, i, err, err_size)) != HUB_OK)
					return rc;
			} else if (utf16_to_utf8((SQLWCHAR *)v, (size_t)ind / sizeof(SQLWCHAR),
						 &c->text, &c->text_cap)) {
				snprintf(err, err_size, "out of memory");
				return HUB_ERR_NOMEM;
			}
			cell->text = c->text;
			break;
		case SQL_C_CHAR: /* DECIMAL, NUMERIC: digits, NUL-terminated by the driver */
			if (ind == SQL_NO_TOTAL || ind >= c->width) { /* cut: fetch it whole */
				if ((rc = fetch_whole(o, i, err, err_size)) != HUB_OK)
					return rc;
				cell->text = c->text;
			} else {
				cell->text = v;
			}
			break;
		case SQL_C_SBIGINT:
			if (format_int(c, *(SQLBIGINT *)v)) { /* never read as 0 */
				snprintf(err, err_size, "out of memory");
				return HUB_ERR_NOMEM;
			}
			cell->text = c->text;
			break;
		case SQL_C_DOUBLE:
			memcpy(&cell->f, v, sizeof(double));
			break;
		case SQL_C_BIT:
			cell->b = *(unsigned char *)v != 0;
			break;
		default:
			ts = (const SQL_TIMESTAMP_STRUCT *)v;
			cell->sec = rm_days_from_civil(ts->year, ts->month, ts->day) * 86400 +
				    ts->hour * 3600 + ts->minute * 60 + ts->second;
			cell->nsec = (int32_t)ts->fraction;
		}
	}
	return HUB_OK;
}
