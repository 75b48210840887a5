/*
 * sf_cell.c - the cells of the SQL API's result sets (jsonv2), read as
 * values of their columns' types for the shared mapping.
 *
 * Every cell is a JSON string, or null for SQL NULL:
 *
 *   FIXED (NUMBER)        decimal text, kept exact: "-12.50"     RM_NUMBER
 *   REAL                  "1.5", "-2e-3", "inf", "-inf", "NaN"   RM_FLOAT
 *   BOOLEAN               "true" / "false" in any case (Snowflake's
 *                         connectors also give "TRUE"), or "1" / "0"  RM_BOOL
 *   DATE                  days since the epoch: "19000"          RM_TIMESTAMP
 *   TIMESTAMP_NTZ / _LTZ  epoch seconds, 9 decimals              RM_TIMESTAMP
 *   TIMESTAMP_TZ          the same, a space, the offset in minutes plus
 *                         1440 ("1616173619.000000000 1500"); the epoch is
 *                         UTC already                             RM_TIMESTAMP
 *   TIME                  seconds since midnight, 9 decimals:
 *                         "82919.000000000", rewritten in place as
 *                         "23:01:59" (ODBC's and BigQuery's form)  RM_STRING
 *   VARIANT, OBJECT, ARRAY  JSON text                             RM_JSON
 *   anything else         text                                    RM_STRING
 *
 * A cell that is not a value of its type, or a time beyond int64
 * microseconds, is refused with a message naming the column and the type:
 * never read as 0, false or 1970, and never an overflow.
 */
#include "sf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Instants a cell may hold: within the range of int64 microseconds (about
 * 292,000 years either side of 1970), which every sum the mapping does on
 * seconds keeps in range. */
#define EPOCH_MAX_S (INT64_MAX / 1000000)
#define DATE_MAX_DAYS (EPOCH_MAX_S / 86400)
#define FRACTION_DIGITS 9
/* TIMESTAMP_TZ's offset: minutes east of UTC plus 1440. */
#define TZ_OFFSET_MAX 2880

enum sf_kind sf_kind_of(const char *type, enum rm_type *rm)
{
	static const struct {
		const char *name;
		enum sf_kind kind;
		enum rm_type rm;
	} types[] = {
		{"fixed", K_FIXED, RM_NUMBER},		{"real", K_REAL, RM_FLOAT},
		{"boolean", K_BOOLEAN, RM_BOOL},	{"date", K_DATE, RM_TIMESTAMP},
		{"timestamp_ntz", K_TIMESTAMP_NTZ, RM_TIMESTAMP},
		{"timestamp_ltz", K_TIMESTAMP_LTZ, RM_TIMESTAMP},
		{"timestamp_tz", K_TIMESTAMP_TZ, RM_TIMESTAMP},
		{"variant", K_JSON, RM_JSON},		{"object", K_JSON, RM_JSON},
		{"array", K_JSON, RM_JSON},		{"time", K_TIME, RM_STRING},
		{"decfloat", K_DECFLOAT, RM_NUMBER},
	};

	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(type, types[i].name) == 0) {
			*rm = types[i].rm;
			return types[i].kind;
		}
	}
	*rm = RM_STRING;
	return K_TEXT;
}

void sf_excerpt(const char *s, char *out, size_t size)
{
	size_t n = strnlen(s, 41), i;
	int is_cut = n > 40;

	if (is_cut)
		for (n = 40; n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; n--)
			;
	for (i = 0; i < n && i + 4 < size; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	snprintf(out + i, size - i, "%s", is_cut ? "..." : "");
}

/* What reading a cell found. */
enum cell_check {
	CELL_OK = 0,
	CELL_BAD,   /* not a value of the type */
	CELL_RANGE, /* one, but beyond what the hub holds */
};

static const struct {
	const char *name;  /* rowType's, for messages */
	const char *form;  /* what its cells are */
	const char *range; /* what out of range means */
} kind_info[] = {
	[K_TEXT] = {"TEXT", "text", ""},
	[K_FIXED] = {"FIXED", "a decimal number", ""},
	[K_REAL] = {"REAL", "a floating-point number, inf, -inf or NaN", "beyond a double"},
	[K_BOOLEAN] = {"BOOLEAN", "true, false, 1 or 0", ""},
	[K_DATE] = {"DATE", "days since the epoch, an integer",
		    "more than 292,000 years from 1970"},
	[K_TIMESTAMP_NTZ] = {"TIMESTAMP_NTZ", "epoch seconds with at most 9 decimals",
			     "more than 292,000 years from 1970"},
	[K_TIMESTAMP_LTZ] = {"TIMESTAMP_LTZ", "epoch seconds with at most 9 decimals",
			     "more than 292,000 years from 1970"},
	[K_TIMESTAMP_TZ] = {"TIMESTAMP_TZ", "epoch seconds with at most 9 decimals, a space and "
			    "the offset in minutes plus 1440", "more than 292,000 years from 1970"},
	[K_JSON] = {"VARIANT", "JSON text", ""},
	[K_TIME] = {"TIME", "seconds since midnight with at most 9 decimals", ""},
	[K_DECFLOAT] = {"DECFLOAT", "a decimal number, or one with an exponent",
			"beyond a double"},
};

/* The digits at *p (at least one) as a number up to max; *p moves past
 * every digit.  CELL_RANGE: more than max (*v is then not the value). */
static enum cell_check read_digits(const char **p, int64_t max, int64_t *v)
{
	const char *s = *p;
	enum cell_check c = CELL_OK;
	int64_t n = 0;

	if (*s < '0' || *s > '9')
		return CELL_BAD;
	for (; *s >= '0' && *s <= '9'; s++) {
		int d = *s - '0';
		if (c == CELL_OK && n <= (max - d) / 10)
			n = n * 10 + d;
		else
			c = CELL_RANGE;
	}
	*p = s;
	*v = n;
	return c;
}

/* "1616173619.123456789" -> instant; with has_offset, TIMESTAMP_TZ's
 * "1616173619.123456789 1500" (the epoch is UTC already: the offset,
 * 0..2880, is checked and left). */
static enum cell_check epoch_parse(const char *s, int has_offset, int64_t *sec, int32_t *nsec)
{
	int is_neg = *s == '-';
	int64_t whole, offset;
	int32_t frac = 0, scale = 100000000;
	enum cell_check range;

	s += is_neg;
	if ((range = read_digits(&s, EPOCH_MAX_S, &whole)) == CELL_BAD)
		return CELL_BAD;
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return CELL_BAD;
		for (int n = 0; *s >= '0' && *s <= '9'; s++, n++, scale /= 10) {
			if (n == FRACTION_DIGITS)
				return CELL_BAD;
			frac += (*s - '0') * scale;
		}
	}
	if (has_offset) {
		if (*s++ != ' ' || read_digits(&s, TZ_OFFSET_MAX, &offset) != CELL_OK)
			return CELL_BAD;
	}
	if (*s)
		return CELL_BAD;
	if (range != CELL_OK)
		return range;
	if (is_neg && frac) {
		*sec = -whole - 1;
		*nsec = 1000000000 - frac;
	} else {
		*sec = is_neg ? -whole : whole;
		*nsec = frac;
	}
	return CELL_OK;
}

/* "19000" (days since 1970-01-01) -> its midnight. */
static enum cell_check date_parse(const char *s, int64_t *sec)
{
	int is_neg = *s == '-';
	int64_t days;
	enum cell_check c;

	s += is_neg;
	if ((c = read_digits(&s, DATE_MAX_DAYS, &days)) == CELL_BAD || *s)
		return CELL_BAD;
	if (c == CELL_OK)
		*sec = (is_neg ? -days : days) * 86400;
	return c;
}

/* "1.5", "-2e-3", "inf", "-inf", "NaN" -> a double (no hex, no spaces). */
static enum cell_check real_parse(const char *s, double *f)
{
	static const char *const words[] = {"inf", "-inf", "nan"};
	static const double values[] = {INFINITY, -INFINITY, NAN};
	char *end;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(s, words[i]) == 0) {
			*f = values[i];
			return CELL_OK;
		}
	}
	if (!*s || s[strspn(s, "0123456789+-.eE")])
		return CELL_BAD;
	errno = 0;
	*f = strtod(s, &end);
	if (end == s || *end)
		return CELL_BAD;
	return errno == ERANGE && isinf(*f) ? CELL_RANGE : CELL_OK;
}

/* "82919.500000000" (seconds since midnight) -> "23:01:59.5" in out (at
 * least 19 bytes): the wall-clock text ODBC and BigQuery give for TIME. */
static enum cell_check time_format(const char *s, char *out, size_t out_size)
{
	int64_t sec;
	int32_t nsec;
	int n;

	if (*s == '-' || epoch_parse(s, 0, &sec, &nsec) != CELL_OK || sec >= 86400)
		return CELL_BAD;
	n = snprintf(out, out_size, "%02d:%02d:%02d", (int)(sec / 3600), (int)(sec / 60 % 60),
		     (int)(sec % 60));
	if (nsec) {
		snprintf(out + n, out_size - (size_t)n, ".%09d", (int)nsec);
		for (n = (int)strlen(out); out[n - 1] == '0'; n--)
			out[n - 1] = '\0';
	}
	return CELL_OK;
}

static enum cell_check bool_parse(const char *s, int *b)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*b = 1;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*b = 0;
	else
		return CELL_BAD;
	return CELL_OK;
}

/* Past the decimal number at s ("-12.50": a sign, digits, maybe a point
 * and more digits), or NULL when s does not start with one. */
static const char *decimal_end(const char *s)
{
	s += *s == '-';
	if (*s < '0' || *s > '9')
		return NULL;
	s += strspn(s, "0123456789");
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return NULL;
		s += 1 + strspn(s + 1, "0123456789");
	}
	return s;
}

/* "-12.50": NUMBER's exact decimal text, kept as it is. */
static enum cell_check fixed_check(const char *s)
{
	const char *end = decimal_end(s);
	return end && !*end ? CELL_OK : CELL_BAD;
}

/* DECFLOAT: FIXED's text up to 38 digits, else the same with an exponent
 * ("-1.2345E+40").  A value a double cannot hold (past 1.8e308, or one
 * that would read as 0) is out of range: the hub's numbers are doubles
 * past 64-bit integers, and a value is never read as 0. */
static enum cell_check decfloat_check(const char *s)
{
	const char *p = decimal_end(s);
	int is_zero;
	double v;

	if (!p)
		return CELL_BAD;
	is_zero = strcspn(s, "123456789") >= (size_t)(p - s);
	if (*p == 'e' || *p == 'E') {
		p += 1 + (p[1] == '+' || p[1] == '-');
		if (*p < '0' || *p > '9')
			return CELL_BAD;
		p += strspn(p, "0123456789");
	}
	if (*p)
		return CELL_BAD;
	v = strtod(s, NULL);
	return isinf(v) || (v == 0 && !is_zero) ? CELL_RANGE : CELL_OK;
}

static hub_rc bad_cell(enum sf_kind k, enum cell_check why, const char *s, const char *col,
		       char *err, size_t err_size)
{
	char v[48];

	sf_excerpt(s, v, sizeof(v));
	if (why == CELL_RANGE)
		snprintf(err, err_size, "column %s: %s \"%s\" is out of range (%s)", col,
			 kind_info[k].name, v, kind_info[k].range);
	else
		snprintf(err, err_size, "column %s: \"%s\" is not a %s (%s)", col, v,
			 kind_info[k].name, kind_info[k].form);
	return HUB_ERR_INTERNAL;
}

hub_rc sf_cell_convert(enum sf_kind k, json_t *v, struct rm_cell *c, const char *col, char *err,
		       size_t err_size)
{
	const char *s = json_string_value(v);
	enum cell_check why = CELL_OK;
	char clock[32];

	memset(c, 0, sizeof(*c));
	if ((c->is_null = json_is_null(v)))
		return HUB_OK;
	if (!s) {
		snprintf(err, err_size, "column %s: a cell that is not a string", col);
		return HUB_ERR_INTERNAL;
	}
	c->text = s;
	switch (k) {
	case K_FIXED:
		why = fixed_check(s);
		break;
	case K_DECFLOAT:
		why = decfloat_check(s);
		break;
	case K_REAL:
		why = real_parse(s, &c->f);
		break;
	case K_BOOLEAN:
		why = bool_parse(s, &c->b);
		break;
	case K_DATE:
		why = date_parse(s, &c->sec);
		break;
	case K_TIMESTAMP_NTZ:
	case K_TIMESTAMP_LTZ:
	case K_TIMESTAMP_TZ:
		why = epoch_parse(s, k == K_TIMESTAMP_TZ, &c->sec, &c->nsec);
		break;
	case K_TIME:
		why = time_format(s, clock, sizeof(clock));
		if (why == CELL_OK && json_string_set(v, clock) != 0) {
			snprintf(err, err_size, "column %s: out of memory", col);
			return HUB_ERR_INTERNAL;
		}
		c->text = json_string_value(v);
		break;
	default:
		break;
	}
	return why == CELL_OK ? HUB_OK : bad_cell(k, why, s, col, err, err_size);
}
