/*
 * bq_cell.c - BigQuery's result schema and cells, as the shared mapping
 * (plugins/common/rowmap.h) reads them.
 *
 * Every cell is {"v": ...}: a string for scalars (INT64 in decimal,
 * FLOAT64 as text with NaN / Infinity spelled out, NUMERIC exact, BOOL
 * "true"/"false", TIMESTAMP as float seconds - "1.767571200123E9" too -
 * or, with formatOptions.useInt64Timestamp, int64 microseconds, DATE
 * "2026-01-02", DATETIME "2026-01-02T03:04:05.123456", JSON as text), null,
 * an array of {"v"} for REPEATED, {"f": [cells]} for RECORD.
 *
 *   INT64, NUMERIC, BIGNUMERIC      RM_NUMBER: the exact decimal text, never
 *                                   through a double (2^53 + 1 stays itself)
 *   FLOAT64                         RM_FLOAT
 *   BOOL                            RM_BOOL
 *   TIMESTAMP, DATE, DATETIME       RM_TIMESTAMP (DATE at midnight UTC,
 *                                   DATETIME read as UTC), to the microsecond
 *   JSON, RECORD, any REPEATED      RM_JSON (RECORD an object by field name)
 *   BYTES                           RM_BYTES: base64 text, a string but as a
 *                                   cursor value compared by its bytes
 *   STRING, TIME, GEOGRAPHY, INTERVAL, RANGE   RM_STRING
 *
 * Inside RECORD and REPEATED values keep their JSON types: numbers as
 * numbers (exact text), TIMESTAMP as RFC 3339 with microseconds, FLOAT64
 * NaN / Infinity as null (JSON has no such numbers).
 */
#include "bq.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/json_bigint.h"

#define MAX_DEPTH 32 /* BigQuery allows 15 levels of RECORD */

/* ---- types and the schema ------------------------------------------------- */

static const struct {
	const char *name;
	enum bq_type type;
} type_names[] = {
	{"STRING", BQ_T_STRING},     {"BYTES", BQ_T_BYTES},
	{"INTEGER", BQ_T_INT64},     {"INT64", BQ_T_INT64},
	{"FLOAT", BQ_T_FLOAT64},     {"FLOAT64", BQ_T_FLOAT64},
	{"NUMERIC", BQ_T_NUMERIC},   {"BIGNUMERIC", BQ_T_BIGNUMERIC},
	{"DECIMAL", BQ_T_NUMERIC},   {"BIGDECIMAL", BQ_T_BIGNUMERIC},
	{"BOOLEAN", BQ_T_BOOL},      {"BOOL", BQ_T_BOOL},
	{"TIMESTAMP", BQ_T_TIMESTAMP}, {"DATE", BQ_T_DATE},
	{"TIME", BQ_T_TIME},         {"DATETIME", BQ_T_DATETIME},
	{"GEOGRAPHY", BQ_T_GEOGRAPHY}, {"JSON", BQ_T_JSON},
	{"RECORD", BQ_T_RECORD},     {"STRUCT", BQ_T_RECORD},
};

enum bq_type bq_type_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(name, type_names[i].name) == 0)
			return type_names[i].type;
	return BQ_T_OTHER;
}

const char *bq_type_name(enum bq_type t)
{
	switch (t) {
	case BQ_T_INT64: return "INT64";
	case BQ_T_FLOAT64: return "FLOAT64";
	case BQ_T_NUMERIC: return "NUMERIC";
	case BQ_T_BIGNUMERIC: return "BIGNUMERIC";
	case BQ_T_BOOL: return "BOOL";
	case BQ_T_TIMESTAMP: return "TIMESTAMP";
	case BQ_T_DATE: return "DATE";
	case BQ_T_DATETIME: return "DATETIME";
	case BQ_T_TIME: return "TIME";
	case BQ_T_BYTES: return "BYTES";
	case BQ_T_JSON: return "JSON";
	case BQ_T_RECORD: return "STRUCT";
	case BQ_T_GEOGRAPHY: return "GEOGRAPHY";
	default: return "STRING";
	}
}

enum rm_type bq_rm_type(const struct bq_field *f)
{
	if (f->is_repeated)
		return RM_JSON;
	switch (f->type) {
	case BQ_T_INT64:
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
		return RM_NUMBER;
	case BQ_T_FLOAT64:
		return RM_FLOAT;
	case BQ_T_BOOL:
		return RM_BOOL;
	case BQ_T_TIMESTAMP:
	case BQ_T_DATE:
	case BQ_T_DATETIME:
		return RM_TIMESTAMP;
	case BQ_T_JSON:
	case BQ_T_RECORD:
		return RM_JSON;
	case BQ_T_BYTES:
		return RM_BYTES;
	default:
		return RM_STRING;
	}
}

void bq_fields_free(struct bq_field *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++) {
		free(f[i].name);
		bq_fields_free(f[i].fields, f[i].n_fields);
	}
	free(f);
}

static int schema_parse(json_t *fields, struct bq_field **out, size_t *n, int depth, char *err,
			size_t err_size)
{
	size_t i, count = json_array_size(fields);
	struct bq_field *f;
	json_t *item;

	*out = NULL;
	*n = 0;
	if (!json_is_array(fields) || count == 0 || depth > MAX_DEPTH) {
		snprintf(err, err_size, "a result schema without fields");
		return -1;
	}
	if (!(f = calloc(count, sizeof(*f)))) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	json_array_foreach(fields, i, item) {
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *mode = json_string_value(json_object_get(item, "mode"));

		*n = i + 1;
		if (!(f[i].name = strdup(name ? name : ""))) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		f[i].type = bq_type_of(json_string_value(json_object_get(item, "type")));
		f[i].is_repeated = mode && strcasecmp(mode, "REPEATED") == 0;
		if (f[i].type == BQ_T_RECORD &&
		    schema_parse(json_object_get(item, "fields"), &f[i].fields, &f[i].n_fields,
				 depth + 1, err, err_size))
			goto fail;
	}
	*out = f;
	return 0;
fail:
	bq_fields_free(f, *n);
	*n = 0;
	return -1;
}

int bq_schema_parse(json_t *fields, struct bq_field **out, size_t *n, char *err,
		    size_t err_size)
{
	return schema_parse(fields, out, n, 0, err, err_size);
}

/* ---- scalar texts ---------------------------------------------------------- */

int bq_int64_check(const char *s, int64_t *out)
{
	const char *p = *s == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (!isdigit((unsigned char)*p) || strlen(p) > 19 || strspn(p, "0123456789") != strlen(p))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static void micros_split(int64_t micros, int64_t *sec, int32_t *nsec)
{
	int64_t r = micros % 1000000;

	*sec = micros / 1000000;
	if (r < 0) {
		r += 1000000;
		(*sec)--;
	}
	*nsec = (int32_t)(r * 1000);
}

int bq_timestamp_parse(const char *s, int is_micros, int64_t *sec, int32_t *nsec)
{
	char dig[48];
	size_t nd = 0;
	long point = 0, exp = 0, shift;
	int neg = 0, has_dot = 0, has_exp = 0, any = 0;
	int64_t micros = 0;
	const char *p = s;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (; *p; p++) {
		if (isdigit((unsigned char)*p)) {
			any = 1;
			if (nd == 0 && *p == '0') {
				point -= has_dot; /* 0.00x: the point moves, no digit yet */
				continue;
			}
			if (nd < sizeof(dig))
				dig[nd++] = *p;
			else if (!has_dot)
				return -1; /* far too large */
			if (!has_dot)
				point++;
		} else if (*p == '.' && !has_dot) {
			has_dot = 1;
		} else if ((*p == 'e' || *p == 'E') && any) {
			char *end;
			has_exp = 1;
			errno = 0;
			exp = strtol(p + 1, &end, 10);
			if (end == p + 1 || *end || errno || exp > 400 || exp < -400)
				return -1;
			break;
		} else {
			return -1;
		}
	}
	if (!any)
		return -1;
	if (!has_dot && !has_exp) {
		if (bq_int64_check(s[0] == '+' ? s + 1 : s, &micros))
			return -1;
		if (!is_micros) {
			if (micros > INT64_MAX / 1000000 || micros < INT64_MIN / 1000000)
				return -1;
			micros *= 1000000;
		}
		micros_split(micros, sec, nsec);
		return 0;
	}
	/* value = 0.dig * 10^point * 10^exp; micros = round(value * 10^6) */
	shift = point + exp + 6;
	if (shift > 18)
		return -1;
	for (long i = 0; i < shift; i++)
		micros = micros * 10 + ((size_t)i < nd ? dig[i] - '0' : 0);
	if (shift >= 0 && (size_t)shift < nd && dig[shift] >= '5')
		micros++;
	micros_split(neg ? -micros : micros, sec, nsec);
	return 0;
}

/* 1 when s is a JSON number as written (no '+', no leading zeros, no ".5"). */
static int is_json_number(const char *s)
{
	const char *p = *s == '-' ? s + 1 : s;

	if (*p == '0')
		p++;
	else if (isdigit((unsigned char)*p))
		p += strspn(p, "0123456789");
	else
		return 0;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return 0;
		p += 1 + strspn(p + 1, "0123456789");
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		p += strspn(p, "0123456789");
	}
	return *p == '\0';
}

/* "2026-01-02T03:04:05.123456Z" */
static void time_format_us(int64_t sec, int32_t nsec, char *buf, size_t size)
{
	char full[48];
	size_t n;

	rm_time_format(sec, nsec, full, sizeof(full));
	n = strlen(full); /* "...SS.nnnnnnnnnZ": drop the last three digits */
	snprintf(buf, size, "%.*sZ", (int)(n - 4), full);
}

/* ---- cells ----------------------------------------------------------------- */

static int write_value(struct bq_text *t, const struct bq_field *f, json_t *v, int is_micros,
		       int as_element, int depth);

static int write_scalar(struct bq_text *t, enum bq_type type, const char *s, int is_micros)
{
	int64_t sec, i64;
	int32_t nsec;
	char buf[64];

	switch (type) {
	case BQ_T_INT64:
		if (bq_int64_check(s, &i64))
			return -1;
		bq_text_puts(t, s);
		return 0;
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
		if (is_json_number(s))
			bq_text_puts(t, s);
		else
			bq_text_json_string(t, s);
		return 0;
	case BQ_T_FLOAT64: {
		char *end;
		double d = strtod(s, &end);
		if (*end || end == s)
			return -1;
		bq_text_puts(t, !isfinite(d) ? "null" : is_json_number(s) ? s : "null");
		return 0;
	}
	case BQ_T_BOOL:
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return -1;
		bq_text_puts(t, s);
		return 0;
	case BQ_T_TIMESTAMP:
		if (bq_timestamp_parse(s, is_micros, &sec, &nsec))
			return -1;
		time_format_us(sec, nsec, buf, sizeof(buf));
		bq_text_json_string(t, buf);
		return 0;
	case BQ_T_JSON:
		if (!json_text_is_json(s, JSON_DECODE_ANY))
			return -1;
		bq_text_puts(t, s);
		return 0;
	default:
		bq_text_json_string(t, s);
		return 0;
	}
}

static int write_record(struct bq_text *t, const struct bq_field *f, json_t *v, int is_micros,
			int depth)
{
	json_t *cells = json_object_get(v, "f");

	if (!json_is_array(cells) || json_array_size(cells) != f->n_fields)
		return -1;
	bq_text_add(t, "{", 1);
	for (size_t i = 0; i < f->n_fields; i++) {
		if (i)
			bq_text_add(t, ",", 1);
		bq_text_json_string(t, f->fields[i].name);
		bq_text_add(t, ":", 1);
		if (write_value(t, &f->fields[i], json_object_get(json_array_get(cells, i), "v"),
				is_micros, 0, depth + 1))
			return -1;
	}
	bq_text_add(t, "}", 1);
	return 0;
}

static int write_value(struct bq_text *t, const struct bq_field *f, json_t *v, int is_micros,
		       int as_element, int depth)
{
	size_t i;
	json_t *item;

	if (depth > MAX_DEPTH)
		return -1;
	if (f->is_repeated && !as_element) {
		if (json_is_null(v)) { /* an empty array may come as null */
			bq_text_puts(t, "[]");
			return 0;
		}
		if (!json_is_array(v))
			return -1;
		bq_text_add(t, "[", 1);
		json_array_foreach(v, i, item) {
			if (i)
				bq_text_add(t, ",", 1);
			if (!json_is_object(item) ||
			    write_value(t, f, json_object_get(item, "v"), is_micros, 1, depth + 1))
				return -1;
		}
		bq_text_add(t, "]", 1);
		return 0;
	}
	if (json_is_null(v)) {
		bq_text_puts(t, "null");
		return 0;
	}
	if (f->type == BQ_T_RECORD)
		return write_record(t, f, v, is_micros, depth);
	if (!json_is_string(v))
		return -1;
	return write_scalar(t, f->type, json_string_value(v), is_micros);
}

static hub_rc bad_cell(const struct bq_field *f, const char *s, char *err, size_t err_size)
{
	if (s)
		snprintf(err, err_size, "column %s: \"%.40s\" does not read as %s", f->name, s,
			 bq_type_name(f->type));
	else
		snprintf(err, err_size, "column %s: a cell that is not a %s%s value", f->name,
			 f->is_repeated ? "REPEATED " : "", bq_type_name(f->type));
	return HUB_ERR_INTERNAL;
}

hub_rc bq_cell_decode(const struct bq_field *f, json_t *v, int is_micros, struct rm_cell *c,
		      struct bq_text *scratch, char *err, size_t err_size)
{
	const char *s;
	char *end;
	int64_t i64;

	memset(c, 0, sizeof(*c));
	if (f->is_repeated || f->type == BQ_T_RECORD) {
		if (json_is_null(v) && !f->is_repeated) {
			c->is_null = 1;
			return HUB_OK;
		}
		bq_text_reset(scratch);
		if (write_value(scratch, f, v, is_micros, 0, 0))
			return bad_cell(f, NULL, err, err_size);
		if (scratch->failed) {
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		c->text = scratch->p;
		return HUB_OK;
	}
	if ((c->is_null = json_is_null(v)))
		return HUB_OK;
	if (!(s = json_string_value(v)))
		return bad_cell(f, NULL, err, err_size);
	c->text = s;
	switch (f->type) {
	case BQ_T_INT64:
		if (bq_int64_check(s, &i64))
			return bad_cell(f, s, err, err_size);
		break;
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
		if (!*s || (strtod(s, &end), *end))
			return bad_cell(f, s, err, err_size);
		break;
	case BQ_T_FLOAT64:
		c->f = strtod(s, &end);
		if (end == s || *end)
			return bad_cell(f, s, err, err_size);
		break;
	case BQ_T_BOOL:
		if (strcmp(s, "true") == 0)
			c->b = 1;
		else if (strcmp(s, "false") != 0)
			return bad_cell(f, s, err, err_size);
		break;
	case BQ_T_TIMESTAMP:
		if (bq_timestamp_parse(s, is_micros, &c->sec, &c->nsec))
			return bad_cell(f, s, err, err_size);
		break;
	case BQ_T_DATE:
	case BQ_T_DATETIME:
		if (rm_time_parse(s, &c->sec, &c->nsec))
			return bad_cell(f, s, err, err_size);
		break;
	case BQ_T_JSON: /* goes into the record's JSON as it is: one value, or refused */
		if (!json_text_is_json(s, JSON_DECODE_ANY))
			return bad_cell(f, s, err, err_size);
		break;
	default:
		break;
	}
	return HUB_OK;
}
