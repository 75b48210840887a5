/*
 * bq_param.c - the @cursor parameter's BigQuery type and value, as text:
 * what a saved cursor (or cursor_start, or nothing: a first run) binds
 * @cursor to once its type is known, and the guess from the value when it
 * is not.  :cursor is the named parameter @cursor, never interpolated;
 * a time is floored to the microsecond and kept within BigQuery's years
 * 1 to 9999, a BYTES value is base64, as BigQuery writes BYTES cells.
 *
 * Pure functions of their arguments: never sends a request, never learns
 * the column's type (the dry runs in bq_query.c do) and never sees struct
 * bq_query, so a unit test or a fuzz target compiles it in alone.
 */
#include "bq.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_integer(const char *s)
{
	int64_t v;
	return bq_int64_check(s, &v) == 0;
}

static const char *guess_type(const char *param)
{
	int64_t sec;
	int32_t nsec;
	char *end;

	if (!param)
		return "TIMESTAMP";
	if (is_integer(param))
		return "INT64";
	if (rm_time_parse(param, &sec, &nsec) == 0)
		return "TIMESTAMP";
	if (*param && (strtod(param, &end), !*end) && !isalpha((unsigned char)*param))
		return "NUMERIC";
	return "STRING";
}

/* A time for a TIMESTAMP/DATETIME/DATE parameter, floored to the microsecond
 * (NULL: the first one, RM_TIME_FIRST). */
static int param_time(const char *param, int64_t *sec, int32_t *nsec)
{
	int64_t v;

	if (!param)
		param = RM_TIME_FIRST;
	if (bq_int64_check(param, &v) == 0) { /* epoch seconds */
		*sec = v;
		*nsec = 0;
		return 0;
	}
	return rm_time_parse(param, sec, nsec);
}

const char *bq_param_first(enum bq_type t)
{
	switch (t) {
	case BQ_T_TIMESTAMP:
	case BQ_T_DATETIME:
	case BQ_T_DATE: /* bq_param_for writes it as the type takes it */
		return RM_TIME_FIRST;
	case BQ_T_INT64:
		return "-9223372036854775808";
	case BQ_T_NUMERIC: /* 29 digits, 9 decimals */
		return "-99999999999999999999999999999.999999999";
	case BQ_T_BIGNUMERIC: /* -2^255 / 10^38 */
		return "-578960446186580977117854925043439539266."
		       "34992332820282019728792003956564819968";
	case BQ_T_FLOAT64: /* below every double but NaN, which no `>=` selects */
		return "-Infinity";
	default: /* STRING, BYTES: the empty one sorts first */
		return "";
	}
}

/* A BYTES value: base64, as BigQuery writes BYTES cells and reads BYTES
 * parameters. */
static int is_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 >= n)
			pad++;
		else if (pad || !(isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/'))
			return 0;
	}
	return n % 4 == 0;
}

/* Digits with a sign, a point and an exponent: how BigQuery reads a number
 * (strtod also takes hex, "inf" and "nan", which BigQuery does not). */
static int is_decimal_text(const char *s)
{
	int has_digit = 0;

	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			has_digit = 1;
		else if (!strchr("+-.eE", *s))
			return 0;
	}
	return has_digit;
}

/* An infinity's text: a sign, then "inf" or "infinity" in any case (C's
 * "%g" of one, BigQuery's "Infinity"); not what strtod also reads as one
 * (spaces before it, a hex number past the largest double). */
static int is_infinity_text(const char *s)
{
	s += *s == '+' || *s == '-';
	return strcasecmp(s, "inf") == 0 || strcasecmp(s, "infinity") == 0;
}

/*
 * A FLOAT64 value as BigQuery spells it: the decimal as written, and an
 * infinity as "Infinity" / "-Infinity", the spelling of BigQuery's result
 * rows and of Google's clients' FLOAT64 parameters (Java's
 * Double.toString, Ruby's Float#to_s); the hub's cursor text of one is C's
 * "inf" / "-inf", which is not it.  -1 for text that is no double, 1 for
 * NaN (it has no order: `col >= NaN` selects no row).
 */
static int param_float(const char *param, char *value, size_t value_size)
{
	char *end;
	double d = strtod(param, &end);

	if (!*param || *end || strlen(param) >= value_size)
		return -1;
	if (isnan(d))
		return 1;
	if (!is_decimal_text(param) && !(isinf(d) && is_infinity_text(param)))
		return -1;
	if (isinf(d))
		param = d < 0 ? "-Infinity" : "Infinity";
	return (size_t)snprintf(value, value_size, "%s", param) < value_size ? 0 : -1;
}

int bq_param_for(const char *type, const char *param, char *type_out, size_t type_size,
		 char *value, size_t value_size, char *err, size_t err_size)
{
	int64_t sec, y;
	int32_t nsec;
	int mo, d;
	char *end;
	enum bq_type t;

	if (!type)
		type = guess_type(param);
	t = bq_type_of(type);
	snprintf(type_out, type_size, "%s", bq_type_name(t));
	switch (t) {
	case BQ_T_TIMESTAMP:
	case BQ_T_DATETIME:
	case BQ_T_DATE: {
		int64_t days, rem;
		if (param_time(param, &sec, &nsec))
			break;
		/* floor division without sec - 86399, which overflows near
		 * INT64_MIN (as rm_time_format) */
		days = sec / 86400;
		rem = sec % 86400;
		if (rem < 0) {
			rem += 86400;
			days--;
		}
		rm_civil_from_days(days, &y, &mo, &d);
		if (y < 1 || y > 9999) /* BigQuery's range: it would refuse the query */
			break;
		if (t == BQ_T_DATE)
			snprintf(value, value_size, "%04lld-%02d-%02d", (long long)y, mo, d);
		else
			snprintf(value, value_size, "%04lld-%02d-%02d %02d:%02d:%02d.%06d%s",
				 (long long)y, mo, d, (int)(rem / 3600), (int)(rem / 60 % 60),
				 (int)(rem % 60), (int)(nsec / 1000),
				 t == BQ_T_TIMESTAMP ? "+00:00" : "");
		return 0;
	}
	case BQ_T_INT64:
		if (param && !is_integer(param))
			break;
		snprintf(value, value_size, "%s", param ? param : "0");
		return 0;
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
		if (param && ((strtod(param, &end), *end) || !is_decimal_text(param) ||
			      strlen(param) >= value_size))
			break;
		snprintf(value, value_size, "%s", param ? param : "0");
		return 0;
	case BQ_T_FLOAT64: {
		int rc = param ? param_float(param, value, value_size) : 0;
		if (rc > 0) {
			snprintf(err, err_size, "the cursor value \"%.40s\" is NaN, which has no "
				 "order (`>= @cursor` would select no row)", param);
			return -1;
		}
		if (rc < 0)
			break;
		if (!param)
			snprintf(value, value_size, "0");
		return 0;
	}
	case BQ_T_BYTES:
		if (param && (!is_base64(param) || strlen(param) >= value_size))
			break;
		snprintf(value, value_size, "%s", param ? param : "");
		return 0;
	case BQ_T_STRING:
		if (param && strlen(param) >= value_size)
			break;
		snprintf(value, value_size, "%s", param ? param : "");
		return 0;
	default:
		snprintf(err, err_size, "cursor_type: \"%.40s\" is not TIMESTAMP, DATETIME, DATE, "
			 "INT64, NUMERIC, BIGNUMERIC, FLOAT64, STRING or BYTES", type);
		return -1;
	}
	snprintf(err, err_size, "the cursor value \"%.100s\" does not read as %s (the type of "
		 "the :cursor parameter)", param ? param : "", type_out);
	return -1;
}

/* The text @cursor is bound to: param, else (no saved cursor, no
 * cursor_start) the first value of the type; NULL when the type is to be
 * guessed from the value. */
const char *bq_param_value(const char *type, const char *param)
{
	return param ? param : type ? bq_param_first(bq_type_of(type)) : NULL;
}
