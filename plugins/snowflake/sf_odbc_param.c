/*
 * sf_odbc_param.c - the odbc transport's :cursor parameter.
 *
 * The query is prepared with ? for :cursor and the cursor value is bound
 * with SQLBindParameter, typed after the first cursor column (never
 * interpolated into the SQL); a first run binds the start of its type
 * (0001-01-01 for times and dates, RM_TIME_FIRST; the lowest number, false,
 * midnight for a TIME, the zero UUID, "").  A string travels as UTF-16
 * (SQL_C_WCHAR: no dependence on the process locale).
 *
 * Never puts the value into the SQL text, and never connects or runs the
 * statement (sf_odbc.c).
 */
#include "sf_odbc_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* UTF-8 -> NUL-terminated UTF-16 (malloc'd); *units without the NUL.
 * s must be valid UTF-8, which a cursor is: it is read back from its JSON
 * by jansson, which refuses any other; bytes that are not would be
 * decoded as they fall, not replaced by U+FFFD. */
static SQLWCHAR *utf8_to_utf16(const char *s, size_t *units)
{
	size_t n = strlen(s), k = 0;
	SQLWCHAR *w = malloc((n + 1) * 2 * sizeof(*w));
	const unsigned char *p = (const unsigned char *)s;

	if (!w)
		return NULL;
	while (*p) {
		unsigned cp = *p, extra = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0 ? 1 : 0;
		if (extra)
			cp &= 0x3F >> extra;
		p++;
		for (unsigned i = 0; i < extra && (*p & 0xC0) == 0x80; i++)
			cp = cp << 6 | (*p++ & 0x3F);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			w[k++] = (SQLWCHAR)(0xD800 + (cp >> 10));
			w[k++] = (SQLWCHAR)(0xDC00 + (cp & 0x3FF));
		} else {
			w[k++] = (SQLWCHAR)cp;
		}
	}
	w[k] = 0;
	*units = k;
	return w;
}

/* ---- the :cursor parameter ----------------------------------------------------------------- */

static void ts_from_instant(SQL_TIMESTAMP_STRUCT *ts, int64_t sec, int32_t nsec)
{
	int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400, rem = sec - days * 86400, y;
	int m, d;

	rm_civil_from_days(days, &y, &m, &d);
	ts->year = (SQLSMALLINT)y;
	ts->month = (SQLUSMALLINT)m;
	ts->day = (SQLUSMALLINT)d;
	ts->hour = (SQLUSMALLINT)(rem / 3600);
	ts->minute = (SQLUSMALLINT)(rem / 60 % 60);
	ts->second = (SQLUSMALLINT)(rem % 60);
	ts->fraction = (SQLUINTEGER)nsec;
}

/* A first run's :cursor for a number column: the lowest BIGINT for an
 * integer column, else the lowest double, which a DECIMAL of any precision
 * and scale compares with (a DECIMAL would have to fit the column's own). */
static void param_lowest_number(struct sf_odbc *o, const struct ocol *c, SQLSMALLINT *ctype,
				SQLSMALLINT *stype, SQLPOINTER *ptr)
{
	if (c->c_type == SQL_C_SBIGINT) {
		o->p_int = INT64_MIN;
		*ctype = SQL_C_SBIGINT;
		*stype = SQL_BIGINT;
		*ptr = &o->p_int;
		return;
	}
	o->p_f = -DBL_MAX;
	*ctype = SQL_C_DOUBLE;
	*stype = SQL_DOUBLE;
	*ptr = &o->p_f;
}

/* A first run's :cursor for a column read as text: "", or the lowest value
 * of a TIME or a UUID column, which "" is no value of: the database casts
 * the parameter to the column's type and refuses it (22007, 22P02). */
static const char *param_lowest_text(const struct ocol *c)
{
	if (c && (c->sql_type == SQL_TYPE_TIME || c->sql_type == SQL_TIME))
		return "00:00:00";
	if (c && c->sql_type == SQL_GUID)
		return "00000000-0000-0000-0000-000000000000";
	return "";
}

/* Fills the parameter buffers from `param` (NULL: the type's start:
 * RM_TIME_FIRST for times, the lowest number, false, "") as the type of
 * column c (NULL: text).  Sets the ODBC types. */
static hub_rc param_value(struct sf_odbc *o, const struct ocol *c, const char *param,
			  SQLSMALLINT *ctype, SQLSMALLINT *stype, SQLULEN *size,
			  SQLSMALLINT *digits, SQLPOINTER *ptr, SQLLEN *len, char *err,
			  size_t err_size)
{
	enum rm_type type = c ? c->type : RM_STRING;
	int64_t sec = 0;
	int32_t nsec = 0;
	size_t units;

	*size = 0;
	*digits = 0;
	*len = 0;
	switch (type) {
	case RM_TIMESTAMP:
		if (rm_time_parse(param ? param : RM_TIME_FIRST, &sec, &nsec))
			goto bad;
		ts_from_instant(&o->p_ts, sec, nsec);
		*ctype = SQL_C_TYPE_TIMESTAMP;
		*stype = SQL_TYPE_TIMESTAMP;
		*digits = nsec % 1000 ? 9 : 6;
		*size = 20 + (SQLULEN)*digits;
		*ptr = &o->p_ts;
		return HUB_OK;
	case RM_NUMBER:
		if (!param) {
			param_lowest_number(o, c, ctype, stype, ptr);
			return HUB_OK;
		}
		/* whole, however long (a NUMERIC of PostgreSQL's may pass 38
		 * digits): cut, it would be another value */
		free(o->p_num);
		if (!(o->p_num = strdup(param))) {
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		if (c->c_type == SQL_C_SBIGINT) {
			char *end;
			errno = 0;
			o->p_int = strtoll(o->p_num, &end, 10);
			if (end == o->p_num || *end || errno == ERANGE)
				goto bad;
			*ctype = SQL_C_SBIGINT;
			*stype = SQL_BIGINT;
			*ptr = &o->p_int;
			return HUB_OK;
		}
		*ctype = SQL_C_CHAR;
		*stype = c->sql_type;
		*size = c->size ? c->size : 38;
		*digits = c->digits;
		*ptr = o->p_num;
		*len = (SQLLEN)strlen(o->p_num);
		o->p_ind = *len;
		return HUB_OK;
	case RM_FLOAT:
		o->p_f = -DBL_MAX;
		if (param) {
			char *end;
			o->p_f = strtod(param, &end);
			if (end == param || *end) /* bound as 0, or as its start */
				goto bad;
		}
		if (c->sql_type == SQL_REAL && fabs(o->p_f) <= FLT_MAX) {
			/* a single-precision column is compared with its own
			 * type: as a double, the cursor 0.7 is above the
			 * column's 0.7 (0.69999998...), and rows sharing it
			 * were left out of the next run */
			o->p_f4 = (float)o->p_f;
			*ctype = SQL_C_FLOAT;
			*stype = SQL_REAL;
			*ptr = &o->p_f4;
			return HUB_OK;
		}
		*ctype = SQL_C_DOUBLE;
		*stype = SQL_DOUBLE;
		*ptr = &o->p_f;
		return HUB_OK;
	case RM_BOOL:
		o->p_bit = param && strcmp(param, "true") == 0;
		*ctype = SQL_C_BIT;
		*stype = SQL_BIT;
		*ptr = &o->p_bit;
		return HUB_OK;
	default:
		free(o->p_w);
		if (!(o->p_w = utf8_to_utf16(param ? param : param_lowest_text(c), &units))) {
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		*ctype = SQL_C_WCHAR;
		*stype = SQL_WVARCHAR;
		*size = units ? units : 1;
		*ptr = o->p_w;
		*len = (SQLLEN)(units * sizeof(SQLWCHAR));
		o->p_ind = *len;
		return HUB_OK;
	}
bad:
	snprintf(err, err_size,
		 "the cursor value \"%.100s\" does not read as the type of column %s", param,
		 c->name);
	return HUB_ERR_CONFIG;
}

hub_rc sf_odbc_bind_param(struct sf_odbc *o, const struct rowmap *m, const char *param, char *err,
			  size_t err_size)
{
	int idx = o->n_cols ? rowmap_cursor_column(m) : -1;
	const struct ocol *c = idx >= 0 ? &o->cols[idx] : NULL;
	SQLSMALLINT ctype, stype, digits;
	SQLULEN size;
	SQLPOINTER ptr;
	SQLLEN len;
	hub_rc rc;

	rc = param_value(o, c, param, &ctype, &stype, &size, &digits, &ptr, &len, err, err_size);
	if (rc != HUB_OK)
		return rc;
	if (ctype != SQL_C_CHAR && ctype != SQL_C_WCHAR)
		o->p_ind = 0;
	for (int i = 1; i <= o->n_params; i++)
		if (!SQL_SUCCEEDED(SQLBindParameter(o->stmt, (SQLUSMALLINT)i, SQL_PARAM_INPUT,
						    ctype, stype, size, digits, ptr, len,
						    &o->p_ind)))
			return sf_odbc_diag(SQL_HANDLE_STMT, o->stmt, "binding :cursor", err,
					    err_size);
	return HUB_OK;
}
