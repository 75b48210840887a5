/*
 * fuzz_odbc.c - the snowflake plugin's ODBC transport (plugins/snowflake/
 * sf_odbc.c, sf_odbc_param.c and sf_odbc_fetch.c, compiled in) without a
 * driver: what a driver hands back and what the hub binds.
 *
 *   byte 0 bit 0 = 0: the :cursor parameter.  byte 1 picks the column's
 *            SQL type (types[]), byte 2 its declared size; the rest is the
 *            saved cursor text, bound by param_value() (column_kind()
 *            first).  A string parameter's UTF-16 must read back to the
 *            same UTF-8 (when it is valid UTF-8).  The text is also a
 *            SQLSTATE for classify().
 *   byte 0 bit 0 = 1: one fetched row.  byte 1: 1 + n % 4 columns, each
 *            a type byte and a size byte; then per column an indicator
 *            byte (NULL, SQL_NO_TOTAL, or a length within the buffer)
 *            and the buffer's bytes from the input (zero past its end).
 *            sf_odbc_convert_row() must give valid UTF-8 for strings and a
 *            NUL-terminated text for numbers.
 */
#include "../../plugins/snowflake/sf_odbc.c"
#include "../../plugins/snowflake/sf_odbc_param.c"
#include "../../plugins/snowflake/sf_odbc_fetch.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rm_cursor.c"
#include "../../plugins/common/rowmap.c"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const SQLSMALLINT types[] = {
	SQL_DECIMAL, SQL_NUMERIC, SQL_TINYINT, SQL_SMALLINT, SQL_INTEGER, SQL_BIGINT,
	SQL_REAL, SQL_FLOAT, SQL_DOUBLE, SQL_BIT, SQL_TYPE_TIMESTAMP, SQL_TIMESTAMP,
	SQL_TYPE_DATE, SQL_DATE, SF_SQL_TIMESTAMP_LTZ, SF_SQL_TIMESTAMP_TZ,
	SF_SQL_TIMESTAMP_NTZ, SF_SQL_ARRAY, SF_SQL_OBJECT, SF_SQL_VARIANT, SQL_VARCHAR,
	SQL_WVARCHAR, SQL_CHAR, SQL_LONGVARCHAR,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static int is_utf8(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static void fuzz_param(const uint8_t *data, size_t size)
{
	struct sf_odbc o;
	struct ocol c;
	SQLSMALLINT ctype, stype, digits;
	SQLULEN sz;
	SQLPOINTER ptr;
	SQLLEN len;
	char err[512], *text;
	size_t units;
	SQLWCHAR *w;

	if (size < 3 || !(text = malloc(size - 2)))
		return;
	memcpy(text, data + 3, size - 3);
	text[size - 3] = '\0';
	memset(&o, 0, sizeof(o));
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "c0");
	c.sql_type = types[data[1] % N_TYPES];
	c.size = data[2];
	column_kind(&c, (data[1] & 0x80) ? "variant" : "varchar");
	err[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		hub_rc rc = param_value(&o, &c, pass ? NULL : text, &ctype, &stype, &sz, &digits,
					&ptr, &len, err, sizeof(err));
		if (rc != HUB_OK && !err[0])
			abort();
		if (rc == HUB_OK && ctype == SQL_C_TYPE_TIMESTAMP &&
		    (o.p_ts.month < 1 || o.p_ts.month > 12 || o.p_ts.day < 1 || o.p_ts.day > 31 ||
		     o.p_ts.hour > 23 || o.p_ts.minute > 59 || o.p_ts.second > 59 ||
		     o.p_ts.fraction >= 1000000000u)) {
			fprintf(stderr, "param \"%s\" bound as %d-%d-%d %d:%d:%d.%u\n", text,
				o.p_ts.year, o.p_ts.month, o.p_ts.day, o.p_ts.hour, o.p_ts.minute,
				o.p_ts.second, (unsigned)o.p_ts.fraction);
			abort();
		}
	}
	free(o.p_w);
	free(o.p_num);
	(void)classify(text);
	/* UTF-8 -> UTF-16 -> UTF-8 */
	if ((w = utf8_to_utf16(text, &units))) {
		char *back = NULL;
		size_t cap = 0;
		if (utf16_to_utf8(w, units, &back, &cap) == 0) {
			if (!is_utf8(back))
				abort();
			if (is_utf8(text) && strcmp(back, text) != 0) {
				fprintf(stderr, "utf-8 \"%s\" back as \"%s\"\n", text, back);
				abort();
			}
		}
		free(back);
		free(w);
	}
	free(text);
}

static void fuzz_row(const uint8_t *data, size_t size)
{
	struct sf_odbc o;
	struct ocol cols[4];
	struct rm_cell cells[4];
	SQLUSMALLINT status[1] = {0};
	size_t at = 2, n;
	char err[512];

	if (size < 2)
		return;
	n = 1 + data[1] % 4;
	memset(&o, 0, sizeof(o));
	memset(cols, 0, sizeof(cols));
	o.cols = cols;
	o.cells = cells;
	o.n_cols = (SQLSMALLINT)n;
	o.rows = 1;
	o.status = status;
	for (size_t i = 0; i < n; i++) {
		uint8_t t = at < size ? data[at] : 0, s = at + 1 < size ? data[at + 1] : 0;
		at += 2;
		snprintf(cols[i].name, sizeof(cols[i].name), "c%zu", i);
		cols[i].sql_type = types[t % N_TYPES];
		cols[i].size = s;
		column_kind(&cols[i], (t & 0x80) ? "json" : "text");
		cols[i].data = calloc(1, (size_t)cols[i].width);
		cols[i].ind = calloc(1, sizeof(SQLLEN));
		if (!cols[i].data || !cols[i].ind)
			abort();
	}
	for (size_t i = 0; i < n; i++) {
		struct ocol *c = &cols[i];
		uint8_t k = at < size ? data[at] : 0;
		size_t take;
		at++;
		take = at >= size ? 0 : size - at < (size_t)c->width ? size - at : (size_t)c->width;
		memcpy(c->data, data + at, take);
		at += take;
		if (k == 0xff)
			c->ind[0] = SQL_NULL_DATA;
		else if (k == 0xfe && (c->c_type == SQL_C_WCHAR || c->c_type == SQL_C_CHAR))
			c->ind[0] = SQL_NO_TOTAL;
		else if (c->c_type == SQL_C_WCHAR) /* bytes of whole units, within the buffer */
			c->ind[0] = (SQLLEN)((k * 2) % (size_t)c->width) & ~(SQLLEN)1;
		else if (c->c_type == SQL_C_CHAR) { /* the driver writes its NUL */
			c->ind[0] = (SQLLEN)(k % (size_t)c->width);
			c->data[c->ind[0] < c->width ? c->ind[0] : c->width - 1] = '\0';
		} else
			c->ind[0] = c->width;
	}
	err[0] = '\0';
	if (sf_odbc_convert_row(&o, err, sizeof(err)) == HUB_OK) {
		for (size_t i = 0; i < n; i++) {
			if (cells[i].is_null)
				continue;
			if (cols[i].c_type == SQL_C_WCHAR &&
			    (!cells[i].text || !is_utf8(cells[i].text)))
				abort();
			if (cols[i].c_type == SQL_C_TYPE_TIMESTAMP) {
				char buf[64];
				rm_time_format(cells[i].sec, cells[i].nsec, buf, sizeof(buf));
			}
		}
	} else if (!err[0]) {
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		free(cols[i].data);
		free(cols[i].ind);
		free(cols[i].text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 70000)
		return 0;
	if (data[0] & 1)
		fuzz_row(data, size);
	else
		fuzz_param(data, size);
	return 0;
}
