/*
 * test_snowflake.c - suite `snowflake`: how the snowflake plugin's SQL API
 * transport reads Snowflake's answers (plugins/snowflake/sf_sqlapi.c,
 * sf_sqlapi_stmt.c, sf_sqlapi_result.c and sf_cell.c, compiled in): every
 * cell checked against its column's type (a DATE, REAL or BOOLEAN that is
 * not one fails the page instead of
 * becoming 1970, 0 or false), epoch times and dates beyond int64
 * microseconds refused without overflowing, the error naming the
 * partition, row, column and type; partition answers; statement handles;
 * an empty answer never read as the one before it; transient SQLSTATEs
 * retried; a first run's :cursor bound to the start of the cursor
 * column's type, every :cursor bound, the statement's context named; a
 * request id reused only for the same request; VARIANT, OBJECT and ARRAY
 * read as JSON; the JWT's claims, signature and renewal; through the
 * loaded plugin, its run_end (ABI 1.14) forgetting a pending request id.
 * The shared mapping it binds to comes from test_rowmap.c.  The HTTP side
 * is tested against the fake in tests/integration/snowflake_sql_api.sh.
 */
#include "plugtest.h"
#include "testlib.h"

#include "../../plugins/snowflake/sf_jwt.c"
#include "../../plugins/snowflake/sf_cell.c"
/* sf_sqlapi.c's realloc (its answer's body) fails for more than this many
 * bytes (0: never), as memory running out would. */
static size_t body_realloc_max;
static void *body_realloc(void *p, size_t n)
{
	return body_realloc_max && n > body_realloc_max ? NULL : realloc(p, n);
}
#define realloc body_realloc
#include "../../plugins/snowflake/sf_sqlapi.c"
#undef realloc
#include "../../plugins/snowflake/sf_sqlapi_stmt.c"
#include "../../plugins/snowflake/sf_sqlapi_result.c"
#include "../../plugins/common/rowmap_int.h" /* rm_append_value: test_rowmap.c compiles it */

#include <math.h>
#include <stdarg.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tables below leave the trailing fields of a row zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- cells ------------------------------------------------------------------------ */

struct cell_case {
	const char *type; /* rowType's */
	const char *v;    /* the cell as JSON */
	hub_rc rc;
	const char *err;  /* the message when refused (NULL: not checked) */
	int64_t sec;
	int32_t nsec;
	double f;
	int b;
	int is_nan;
	const char *text; /* the cell's text after reading (NULL: not checked) */
};

#define RANGE "more than 292,000 years from 1970"
#define DATE_FORM "days since the epoch, an integer"
#define NTZ_FORM "epoch seconds with at most 9 decimals"

static const struct cell_case cells[] = {
	/* TIMESTAMP_*: epoch seconds, at most 9 decimals; TZ adds its offset */
	{"timestamp_ntz", "\"1616173619.123456789\"", HUB_OK, NULL, 1616173619, 123456789},
	{"timestamp_ltz", "\"1616173619\"", HUB_OK, NULL, 1616173619, 0},
	{"timestamp_ntz", "\"-1.5\"", HUB_OK, NULL, -2, 500000000},
	{"timestamp_ntz", "\"-0.000000001\"", HUB_OK, NULL, -1, 999999999},
	{"timestamp_ntz", "\"9223372036854.999999999\"", HUB_OK, NULL, 9223372036854, 999999999},
	{"timestamp_ntz", "\"-9223372036854.5\"", HUB_OK, NULL, -9223372036855, 500000000},
	{"timestamp_tz", "\"1616173619.000000000 1440\"", HUB_OK, NULL, 1616173619, 0},
	{"timestamp_tz", "\"-86400.123456789 0\"", HUB_OK, NULL, -86401, 876543211},
	{"timestamp_tz", "\"1.5 2880\"", HUB_OK, NULL, 1, 500000000},
	/* before 1970 without a fraction: the whole second, no borrow */
	{"timestamp_ntz", "\"-5\"", HUB_OK, NULL, -5, 0},
	{"timestamp_ltz", "\"-86400.000000000\"", HUB_OK, NULL, -86400, 0},
	/* fix 1: no signed overflow, a clear refusal */
	{"timestamp_ntz", "\"99999999999999999999999.5\"", HUB_ERR_INTERNAL,
	 "column C: TIMESTAMP_NTZ \"99999999999999999999999.5\" is out of range (" RANGE ")"},
	{"timestamp_ltz", "\"9223372036855\"", HUB_ERR_INTERNAL,
	 "column C: TIMESTAMP_LTZ \"9223372036855\" is out of range (" RANGE ")"},
	{"timestamp_tz", "\"-99999999999999999999 1440\"", HUB_ERR_INTERNAL,
	 "column C: TIMESTAMP_TZ \"-99999999999999999999 1440\" is out of range (" RANGE ")"},
	{"timestamp_ntz", "\"garbage\"", HUB_ERR_INTERNAL,
	 "column C: \"garbage\" is not a TIMESTAMP_NTZ (" NTZ_FORM ")"},
	{"timestamp_ntz", "\"12.1234567891\"", HUB_ERR_INTERNAL},
	{"timestamp_ntz", "\"12.\"", HUB_ERR_INTERNAL},
	{"timestamp_ntz", "\"\"", HUB_ERR_INTERNAL},
	{"timestamp_ntz", "\"+5\"", HUB_ERR_INTERNAL},
	{"timestamp_ntz", "\"1616173619.000000000 1440\"", HUB_ERR_INTERNAL},
	{"timestamp_tz", "\"1616173619.000000000\"", HUB_ERR_INTERNAL},
	{"timestamp_tz", "\"1616173619 2881\"", HUB_ERR_INTERNAL},
	{"timestamp_tz", "\"1616173619 -60\"", HUB_ERR_INTERNAL},
	{"timestamp_tz", "\"1616173619x1440\"", HUB_ERR_INTERNAL},
	{"timestamp_tz", "\"1616173619 99999999999999999999999\"", HUB_ERR_INTERNAL},
	{"timestamp_tz", "\"99999999999999999999999 x\"", HUB_ERR_INTERNAL,
	 "column C: \"99999999999999999999999 x\" is not a TIMESTAMP_TZ (" NTZ_FORM
	 ", a space and the offset in minutes plus 1440)"},
	/* DATE: days since the epoch; fix 2 (overflow) and fix 3 (garbage) */
	{"date", "\"20004\"", HUB_OK, NULL, 20004LL * 86400},
	{"date", "\"-1\"", HUB_OK, NULL, -86400},
	{"date", "\"106751991\"", HUB_OK, NULL, 106751991LL * 86400},
	{"date", "\"999999999999999999\"", HUB_ERR_INTERNAL,
	 "column C: DATE \"999999999999999999\" is out of range (" RANGE ")"},
	{"date", "\"106751992\"", HUB_ERR_INTERNAL},
	{"date", "\"garbage\"", HUB_ERR_INTERNAL,
	 "column C: \"garbage\" is not a DATE (" DATE_FORM ")"},
	{"date", "\"12.5\"", HUB_ERR_INTERNAL},
	{"date", "\"\"", HUB_ERR_INTERNAL},
	{"date", "\"2024-01-01\"", HUB_ERR_INTERNAL},
	/* REAL: a float, inf, -inf, NaN (fix 3: garbage is not 0.0) */
	{"real", "\"1.5\"", HUB_OK, NULL, .f = 1.5},
	{"real", "\"-2e-3\"", HUB_OK, NULL, .f = -2e-3},
	{"real", "\"42\"", HUB_OK, NULL, .f = 42},
	{"real", "\"inf\"", HUB_OK, NULL, .f = INFINITY},
	{"real", "\"-inf\"", HUB_OK, NULL, .f = -INFINITY},
	{"real", "\"NaN\"", HUB_OK, NULL, .is_nan = 1},
	/* the smallest double (subnormal: strtod says ERANGE) is a value */
	{"real", "\"5e-324\"", HUB_OK, NULL, .f = 5e-324},
	{"real", "\"garbage\"", HUB_ERR_INTERNAL,
	 "column C: \"garbage\" is not a REAL (a floating-point number, inf, -inf or NaN)"},
	{"real", "\"1.5x\"", HUB_ERR_INTERNAL},
	{"real", "\" 1\"", HUB_ERR_INTERNAL},
	{"real", "\"0x10\"", HUB_ERR_INTERNAL},
	{"real", "\"\"", HUB_ERR_INTERNAL},
	{"real", "\"1e999\"", HUB_ERR_INTERNAL,
	 "column C: REAL \"1e999\" is out of range (beyond a double)"},
	/* BOOLEAN: true/false or 1/0 (fix 3: garbage is not false) */
	{"boolean", "\"true\"", HUB_OK, NULL, .b = 1},
	{"boolean", "\"1\"", HUB_OK, NULL, .b = 1},
	{"boolean", "\"false\"", HUB_OK, NULL, .b = 0},
	{"boolean", "\"0\"", HUB_OK, NULL, .b = 0},
	/* in any case: Snowflake's connectors give TRUE / FALSE too */
	{"boolean", "\"TRUE\"", HUB_OK, NULL, .b = 1},
	{"boolean", "\"False\"", HUB_OK, NULL, .b = 0},
	{"boolean", "\"YES\"", HUB_ERR_INTERNAL},
	{"boolean", "\"01\"", HUB_ERR_INTERNAL},
	{"boolean", "\"garbage\"", HUB_ERR_INTERNAL,
	 "column C: \"garbage\" is not a BOOLEAN (true, false, 1 or 0)"},
	{"boolean", "\"yes\"", HUB_ERR_INTERNAL},
	{"boolean", "\"\"", HUB_ERR_INTERNAL},
	/* FIXED: decimal text, kept exact */
	{"fixed", "\"42\"", HUB_OK},
	{"fixed", "\"-0.50\"", HUB_OK},
	{"fixed", "\"12345678901234567890123456789012345678\"", HUB_OK},
	{"fixed", "\"4e5\"", HUB_ERR_INTERNAL,
	 "column C: \"4e5\" is not a FIXED (a decimal number)"},
	{"fixed", "\"1.\"", HUB_ERR_INTERNAL},
	{"fixed", "\"\"", HUB_ERR_INTERNAL},
	/* TIME: seconds since midnight, read as the wall clock ODBC and
	 * BigQuery give ("82919.000000000" was stored as that text) */
	{"time", "\"82919.000000000\"", HUB_OK, .text = "23:01:59"},
	{"time", "\"0.000000000\"", HUB_OK, .text = "00:00:00"},
	{"time", "\"86399.999999999\"", HUB_OK, .text = "23:59:59.999999999"},
	{"time", "\"3723.5\"", HUB_OK, .text = "01:02:03.5"},
	{"time", "\"45296.120000000\"", HUB_OK, .text = "12:34:56.12"},
	{"time", "null", HUB_OK},
	{"time", "\"86400.000000000\"", HUB_ERR_INTERNAL,
	 "column C: \"86400.000000000\" is not a TIME (seconds since midnight"
	 " with at most 9 decimals)"},
	{"time", "\"-1.000000000\"", HUB_ERR_INTERNAL},
	{"time", "\"23:01:59\"", HUB_ERR_INTERNAL},
	{"time", "\"1.0000000001\"", HUB_ERR_INTERNAL},
	/* DECFLOAT: FIXED's text, or with an exponent past 38 digits (it was
	 * read as text: a string attribute, a cursor compared as text) */
	{"decfloat", "\"12.5\"", HUB_OK},
	{"decfloat", "\"-42\"", HUB_OK},
	{"decfloat", "\"12345678901234567890123456789012345678\"", HUB_OK},
	{"decfloat", "\"-1.2345678901234567890123456789012345678E+40\"", HUB_OK},
	{"decfloat", "\"1E-50\"", HUB_OK},
	{"decfloat", "\"5e+3\"", HUB_OK},
	{"decfloat", "null", HUB_OK},
	/* zero is a value, not one a double cannot hold */
	{"decfloat", "\"0\"", HUB_OK},
	{"decfloat", "\"-0.000\"", HUB_OK},
	{"decfloat", "\"0E+5\"", HUB_OK},
	{"decfloat", "\"1E+400\"", HUB_ERR_INTERNAL,
	 "column C: DECFLOAT \"1E+400\" is out of range (beyond a double)"},
	{"decfloat", "\"-2.5E-400\"", HUB_ERR_INTERNAL,
	 "column C: DECFLOAT \"-2.5E-400\" is out of range (beyond a double)"},
	{"decfloat", "\"garbage\"", HUB_ERR_INTERNAL,
	 "column C: \"garbage\" is not a DECFLOAT (a decimal number, or one with an exponent)"},
	{"decfloat", "\"1.E5\"", HUB_ERR_INTERNAL},
	{"decfloat", "\"E5\"", HUB_ERR_INTERNAL},
	{"decfloat", "\"1E\"", HUB_ERR_INTERNAL},
	{"decfloat", "\"1E+5x\"", HUB_ERR_INTERNAL},
	{"decfloat", "\"inf\"", HUB_ERR_INTERNAL},
	{"decfloat", "\"0x10\"", HUB_ERR_INTERNAL},
	{"decfloat", "\"\"", HUB_ERR_INTERNAL},
	/* text and VARIANT as they come; NULL stays NULL; a cell is a string */
	{"text", "\"anything 1970\"", HUB_OK},
	{"variant", "\"[1, 2]\"", HUB_OK},
	{"date", "null", HUB_OK},
	{"real", "null", HUB_OK},
	{"boolean", "null", HUB_OK},
	{"timestamp_tz", "null", HUB_OK},
	{"date", "20004", HUB_ERR_INTERNAL, "column C: a cell that is not a string"},
	/* a message quotes at most 40 bytes, without line breaks */
	{"date", "\"12\\n34\"", HUB_ERR_INTERNAL,
	 "column C: \"12?34\" is not a DATE (" DATE_FORM ")"},
	{"date", "\"12\\u007f34\"", HUB_ERR_INTERNAL,
	 "column C: \"12?34\" is not a DATE (" DATE_FORM ")"},
	{"date", "\"0123456789012345678901234567890123456789xyz\"", HUB_ERR_INTERNAL,
	 "column C: \"0123456789012345678901234567890123456789...\" is not a DATE (" DATE_FORM ")"},
	{"date", "\"012345678901234567890123456789012345678\\u00e9\"", HUB_ERR_INTERNAL,
	 "column C: \"012345678901234567890123456789012345678...\" is not a DATE (" DATE_FORM ")"},
};

static void check_cell(const struct cell_case *t)
{
	json_t *v = json_loads(t->v, JSON_DECODE_ANY, NULL);
	enum rm_type rm;
	enum sf_kind k = sf_kind_of(t->type, &rm);
	struct rm_cell c;
	char err[SF_MSG] = "";
	hub_rc rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	rc = sf_cell_convert(k, v, &c, "C", err, sizeof(err));
	if (rc != t->rc || (t->err && strcmp(err, t->err) != 0))
		fprintf(stderr, "\n  %s %s: rc %d, \"%s\"\n", t->type, t->v, rc, err);
	CU_ASSERT_EQUAL(rc, t->rc);
	if (t->err)
		CU_ASSERT_STRING_EQUAL(err, t->err);
	if (rc == HUB_OK && json_is_null(v))
		CU_ASSERT(c.is_null);
	if (rc == HUB_OK && !json_is_null(v)) {
		CU_ASSERT_FALSE(c.is_null);
		CU_ASSERT_STRING_EQUAL(c.text, json_string_value(v));
		if (t->text)
			CU_ASSERT_STRING_EQUAL(c.text, t->text);
		if (rm == RM_TIMESTAMP && (c.sec != t->sec || c.nsec != t->nsec))
			fprintf(stderr, "\n  %s %s: %lld.%09d\n", t->type, t->v, (long long)c.sec,
				(int)c.nsec);
		if (rm == RM_TIMESTAMP) {
			CU_ASSERT_EQUAL(c.sec, t->sec);
			CU_ASSERT_EQUAL(c.nsec, t->nsec);
		}
		if (rm == RM_FLOAT)
			CU_ASSERT(t->is_nan ? isnan(c.f) : c.f == t->f);
		if (rm == RM_BOOL)
			CU_ASSERT_EQUAL(c.b, t->b);
	}
	json_decref(v);
}

static void test_cells_are_values_of_their_type(void)
{
	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++)
		check_cell(&cells[i]);
}

/* A DECFLOAT column maps to a JSON number (an attribute, a property), not
 * to a string, and its cursor values compare as numbers. */
static void test_decfloat_is_a_number(void)
{
	static const struct {
		const char *cell;
		double v;
	} cases[] = {
		{"12.5", 12.5}, {"-42", -42}, {"-1.5E+40", -1.5e40}, {"1E-50", 1e-50},
		{"5e+3", 5000},
	};
	enum rm_type rm;
	enum sf_kind k = sf_kind_of("DECFLOAT", &rm);
	char err[SF_MSG] = "";

	CU_ASSERT_EQUAL(k, K_DECFLOAT);
	CU_ASSERT_EQUAL(rm, RM_NUMBER);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = json_string(cases[i].cell), *j;
		struct buf b = {0};
		struct rm_cell c;

		CU_ASSERT_EQUAL_FATAL(sf_cell_convert(k, v, &c, "C", err, sizeof(err)), HUB_OK);
		CU_ASSERT_EQUAL(rm_append_value(&b, rm, CAST_NONE, &c), 0);
		j = b.p ? json_loads(b.p, JSON_DECODE_ANY, NULL) : NULL;
		if (!json_is_number(j) || json_number_value(j) != cases[i].v)
			fprintf(stderr, "\n  DECFLOAT %s mapped to %s\n", cases[i].cell,
				b.p ? b.p : "(nothing)");
		CU_ASSERT(json_is_number(j) && json_number_value(j) == cases[i].v);
		json_decref(j);
		free(b.p);
		json_decref(v);
	}
	CU_ASSERT(rm_decimal_cmp("-1.5E+40", "-42") < 0);
	CU_ASSERT(rm_decimal_cmp("1E-50", "0") > 0);
	CU_ASSERT(rm_decimal_cmp("5e+3", "4999.5") > 0);
	CU_ASSERT(rm_decimal_cmp("9", "10") < 0);
}

/* VARIANT, OBJECT and ARRAY cells map as the JSON they hold (an object
 * stays an object), not as a string of its text. */
static void test_variant_object_array_map_as_json(void)
{
	static const char *const types[] = {"variant", "OBJECT", "array"};
	char err[SF_MSG] = "";

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		json_t *v = json_string("{\"a\": [1, 2]}"), *j;
		struct buf b = {0};
		struct rm_cell c;
		enum rm_type rm;
		enum sf_kind k = sf_kind_of(types[i], &rm);

		CU_ASSERT_EQUAL(rm, RM_JSON);
		CU_ASSERT_EQUAL_FATAL(sf_cell_convert(k, v, &c, "C", err, sizeof(err)), HUB_OK);
		CU_ASSERT_EQUAL(rm_append_value(&b, rm, CAST_NONE, &c), 0);
		j = b.p ? json_loads(b.p, 0, NULL) : NULL;
		CU_ASSERT(json_array_size(json_object_get(j, "a")) == 2);
		json_decref(j);
		free(b.p);
		json_decref(v);
	}
}

/* ---- pages --------------------------------------------------------------------------- */

/* A first partition, as api_open leaves it (no rowmap: the columns only). */
static struct sf_api *open_page(const char *json)
{
	struct sf_api *a = calloc(1, sizeof(*a));
	char err[SF_MSG];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	a->part = json_loads(json, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->part);
	CU_ASSERT_EQUAL_FATAL(take_columns(a, json_object_get(a->part, "resultSetMetaData"), err,
					   sizeof(err)), HUB_OK);
	a->n_parts = 1;
	return a;
}

#define META(cols) "{\"resultSetMetaData\": {\"rowType\": [" cols "]}, "

static void test_bad_cell_fails_the_page_naming_row_column_and_type(void)
{
	struct sf_api *a = open_page(META("{\"name\": \"ID\", \"type\": \"fixed\"}, "
					  "{\"name\": \"BIRTHDAY\", \"type\": \"date\"}")
				     "\"data\": [[\"1\", \"20000\"], [\"2\", \"garbage\"],"
				     " [\"3\", \"1\"]]}");
	const struct rm_cell *row = NULL;
	char err[SF_MSG] = "";

	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(row);
	CU_ASSERT_EQUAL(row[1].sec, 20000LL * 86400);
	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "partition 0 row 2: column BIRTHDAY: \"garbage\" is not a DATE "
				    "(days since the epoch, an integer)");
	sf_api_free(a);
}

static void test_out_of_range_times_fail_the_page(void)
{
	static const struct {
		const char *type, *v, *err;
	} rows[] = {
		{"timestamp_ntz", "99999999999999999999999.5",
		 "partition 0 row 1: column AT: TIMESTAMP_NTZ \"99999999999999999999999.5\" is out "
		 "of range (" RANGE ")"},
		{"date", "999999999999999999",
		 "partition 0 row 1: column AT: DATE \"999999999999999999\" is out of range (" RANGE
		 ")"},
		{"boolean", "maybe",
		 "partition 0 row 1: column AT: \"maybe\" is not a BOOLEAN (true, false, 1 or 0)"},
		{"real", "garbage",
		 "partition 0 row 1: column AT: \"garbage\" is not a REAL"
		 " (a floating-point number, inf, -inf or NaN)"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char json[512], err[SF_MSG] = "";
		const struct rm_cell *row = NULL;
		struct sf_api *a;

		snprintf(json, sizeof(json),
			 META("{\"name\": \"AT\", \"type\": \"%s\"}") "\"data\": [[\"%s\"]]}",
			 rows[i].type, rows[i].v);
		a = open_page(json);
		CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_ERR_INTERNAL);
		CU_ASSERT_STRING_EQUAL(err, rows[i].err);
		sf_api_free(a);
	}
}

/* The body of an answer, as sf_sqlapi_http() leaves it: emptied before the
 * answer, then what curl hands on_body (nothing at all for an empty body). */
static void set_body(struct sf_api *a, const char *body)
{
	body_reset(&a->resp);
	if (*body)
		CU_ASSERT_EQUAL(on_body((char *)body, 1, strlen(body), &a->resp), strlen(body));
}

/* A partition's answer, as fetch_partition() hands it on. */
static hub_rc answer_partition(struct sf_api *a, size_t n, long status, const char *body,
			       char *err, size_t err_size)
{
	set_body(a, body);
	return take_partition(a, n, status, err, err_size);
}

static void test_partition_answers(void)
{
	struct sf_api *a = open_page(META("{\"name\": \"ID\", \"type\": \"fixed\"}")
				     "\"data\": [[\"1\"]]}");
	const struct rm_cell *row = NULL;
	char err[SF_MSG] = "";

	a->n_parts = 3;
	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(answer_partition(a, 1, 404, "", err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "partition 1 of the result is gone (HTTP 404)");
	CU_ASSERT_EQUAL(answer_partition(a, 1, 503, "{\"message\": \"busy\\nnow\"}", err,
					 sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 503 from Snowflake: busy now");
	CU_ASSERT_EQUAL(answer_partition(a, 1, 200, "[1", err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "partition 1: not a JSON result");
	CU_ASSERT_EQUAL(answer_partition(a, 1, 200, "{\"data\": {}}", err, sizeof(err)),
			HUB_ERR_INTERNAL);
	/* only a 200 carries a partition's rows */
	CU_ASSERT_EQUAL(answer_partition(a, 1, 202, "{\"data\": [[\"9\"]]}", err, sizeof(err)),
			HUB_ERR_INTERNAL);

	/* partition 1 taken: its rows are read, a bad one is placed in it */
	CU_ASSERT_EQUAL(answer_partition(a, 1, 200, "{\"data\": [[\"7\"], [\"x\"]]}", err,
					 sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_STRING_EQUAL(row[0].text, "7");
	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "partition 1 row 2: column ID: \"x\" is not a FIXED (a decimal "
				    "number)");
	CU_ASSERT_EQUAL(answer_partition(a, 2, 200, "{\"data\": [[\"1\", \"2\"]]}", err,
					 sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "partition 2 row 1: expected 1 cells");
	CU_ASSERT_EQUAL(api_next(a, &row, err, sizeof(err)), HUB_OK); /* the last one: the end */
	sf_api_free(a);
}

/* A 200 whose JSON breaks off at its end (empty, or an object cut at its
 * last byte) was cut in transit: an answer sent without a length ends where
 * its connection does, and curl takes it as whole.  HUB_RETRY naming the
 * partition, its statement and the bytes (it failed the run as "not a JSON
 * result", unretried); JSON spoiled before its end is no cut. */
static void test_a_partition_broken_off_is_retried(void)
{
	struct sf_api *a = open_page(META("{\"name\": \"ID\", \"type\": \"fixed\"}")
				     "\"data\": [[\"1\"]]}");
	static const char *const cut[] = {"", "{", "{\"data\": [[\"7\"], [\"",
					  "{\"data\": [[\"7\"], [tr", "{\"data\": [[\"7\"]]"};
	static const char *const spoiled[] = {"x", "[1", "{\"data\": [[\"7\"]]} x",
					      "{\"data\": [1,]}"};
	char err[SF_MSG] = "", want[SF_MSG];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a->handle = strdup("01b2c3d4-q"));
	a->n_parts = 3;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		CU_ASSERT_EQUAL(answer_partition(a, 2, 200, cut[i], err, sizeof(err)), HUB_RETRY);
		snprintf(want, sizeof(want), "partition 2 of statement 01b2c3d4-q: the answer breaks "
			 "off after %zu bytes (decoded), in the middle of its JSON: cut in transit",
			 strlen(cut[i]));
		CU_ASSERT_STRING_EQUAL(err, want);
		CU_ASSERT_EQUAL(a->part_no, 0); /* not taken */
	}
	for (size_t i = 0; i < sizeof(spoiled) / sizeof(spoiled[0]); i++) {
		CU_ASSERT_EQUAL(answer_partition(a, 2, 200, spoiled[i], err, sizeof(err)),
				HUB_ERR_INTERNAL);
		CU_ASSERT_STRING_EQUAL(err, "partition 2: not a JSON result");
	}
	sf_api_free(a);
}

/* A result set through take_result(), bound to a map of ID. */
static hub_rc take(const char *json, char *err, size_t err_size)
{
	struct rm_config cfg = {"wh", "{\"custom_id\": \"ID\", \"attributes\": {\"id\": \"ID\"}}",
				NULL, "\"ID\""};
	struct sf_api *a = calloc(1, sizeof(*a));
	struct rowmap *m = NULL;
	hub_rc rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	if (rowmap_new(&cfg, &m, err, err_size))
		fprintf(stderr, "\n  rowmap_new: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	rc = take_result(a, json_loads(json, 0, NULL), m, err, err_size);
	sf_api_free(a);
	rowmap_free(m);
	return rc;
}

/* partitionInfo[n].rowCount is held against the rows partition n brings:
 * one short (or long) was taken as whole, and the cursor moved past rows
 * never read.  HUB_RETRY: the run reads it again.  No rowCount: nothing
 * to hold it against. */
static void test_a_partition_not_of_its_row_count_is_retried(void)
{
	struct rm_config cfg = {"wh", "{\"custom_id\": \"ID\", \"attributes\": {\"id\": \"ID\"}}",
				NULL, "\"ID\""};
	struct sf_api *a = calloc(1, sizeof(*a));
	struct rowmap *m = NULL;
	char err[SF_MSG] = "";

#define COUNTED(data, counts)                                                               \
	"{\"statementHandle\": \"q-1\", \"resultSetMetaData\": {\"rowType\": [{\"name\": "  \
	"\"ID\", \"type\": \"fixed\"}], \"partitionInfo\": [" counts "]}, \"data\": " data "}"
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL_FATAL(rowmap_new(&cfg, &m, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(take_result(a, json_loads(COUNTED("[[\"1\"]]", "{\"rowCount\": 2}, "
						     "{\"rowCount\": 3}"), 0, NULL), m, err,
				    sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "partition 0: 1 rows where partitionInfo says 2: the run is "
			       "retried (the answer was not the whole partition)");
#define THREE "{\"rowCount\": 2}, {\"rowCount\": 3}, {}"
	CU_ASSERT_EQUAL(take_result(a, json_loads(COUNTED("[[\"1\"], [\"2\"]]", THREE), 0, NULL),
				    m, err, sizeof(err)), HUB_OK);
#undef THREE
	CU_ASSERT_EQUAL(answer_partition(a, 1, 200, "{\"data\": [[\"3\"], [\"4\"]]}", err,
					 sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "partition 1: 2 rows where partitionInfo says 3: the run is "
			       "retried (the answer was not the whole partition)");
	CU_ASSERT_EQUAL(a->part_no, 0); /* not taken */
	CU_ASSERT_EQUAL(answer_partition(a, 1, 200, "{\"data\": [[\"3\"], [\"4\"], [\"5\"], "
					 "[\"6\"]]}", err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(answer_partition(a, 1, 200, "{\"data\": [[\"3\"], [\"4\"], [\"5\"]]}",
					 err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(a->part_no, 1);
	CU_ASSERT_EQUAL(answer_partition(a, 2, 200, "{\"data\": [[\"7\"]]}", err, sizeof(err)),
			HUB_OK); /* partition 2 gives no rowCount */
#undef COUNTED
	sf_api_free(a);
	rowmap_free(m);
}

/*
 * A 200's `code`: 090001 (statement executed successfully) is a result set,
 * 333334/333333 a statement still running (polled as a 202 is), any other
 * an error naming the code and message, its rows never read.  One row per
 * answer: its HTTP status and body, whether it still runs, what reading it
 * as the statement's answer gives.
 */
static void test_an_answer_code_not_090001_is_no_result_set(void)
{
#define ROWS200 ", \"resultSetMetaData\": {\"rowType\": []}, \"data\": [[\"1\"]]}"
	static const struct {
		long status;
		const char *body;
		int is_running;
		hub_rc rc;
		const char *err;
	} rows[] = {
		{200, "{\"code\": \"090001\"" ROWS200, 0, HUB_OK, ""},
		{200, "{\"data\": []}", 0, HUB_OK, ""}, /* no code: read by its body */
		{200, "{\"code\": \"391908\", \"message\": \"m\"" ROWS200, 0, HUB_ERR_INTERNAL,
		 "HTTP 200 from Snowflake with code 391908 (\"m\"), not 090001 (statement executed "
		 "successfully): not a result set, no rows read"},
		{200, "{\"code\": 90001" ROWS200, 0, HUB_ERR_INTERNAL,
		 "HTTP 200 from Snowflake with code (not a string) (\"\"), not 090001 (statement "
		 "executed successfully): not a result set, no rows read"},
		{200, "{\"code\": \"333334\", \"message\": \"Asynchronous execution in "
		      "progress.\", \"statementHandle\": \"h-1\"}", 1, HUB_ERR_INTERNAL,
		 "HTTP 200 from Snowflake with code 333334 (\"Asynchronous execution in progress.\"), "
		 "not 090001 (statement executed successfully): the statement still runs, no rows "
		 "read"},
		{200, "{\"code\": \"333333\"}", 1, HUB_ERR_INTERNAL, NULL},
		{202, "{\"code\": \"333334\", \"statementHandle\": \"h-1\"}", 1, HUB_ERR_INTERNAL,
		 NULL},
		{422, "{\"code\": \"333334\"}", 0, HUB_ERR_INTERNAL, NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sf_api a = {0};
		char err[SF_MSG] = "";
		json_t *root;

		set_body(&a, rows[i].body);
		CU_ASSERT_EQUAL(is_running_answer(&a, rows[i].status), rows[i].is_running);
		root = json_loads(rows[i].body, 0, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(root);
		if (rows[i].status == 200)
			CU_ASSERT_EQUAL(answer_code_check(root, err, sizeof(err)), rows[i].rc);
		if (rows[i].status == 200 && rows[i].err)
			CU_ASSERT_STRING_EQUAL(err, rows[i].err);
		json_decref(root);
		free(a.resp.p);
	}
#undef ROWS200
}

static void test_statement_handle_must_be_one(void)
{
	static const char uuid[] = "01b2c3d4-0000-0001-0000-000000000000";
	char h[HANDLE_MAX + 1], err[SF_MSG] = "", json[256];
	struct sf_api a = {0};

	set_body(&a, "{\"statementHandle\": \"01b2c3d4-0000-0001-0000-000000000000\"}");
	CU_ASSERT_EQUAL(take_accepted(&a, 202, h, sizeof(h), err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(h, uuid);
	set_body(&a, "{\"statementHandle\": \"x?partition=0#\"}");
	CU_ASSERT_EQUAL(take_accepted(&a, 202, h, sizeof(h), err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err,
			       "HTTP 202 from Snowflake whose statementHandle is not a handle: "
			       "\"x?partition=0#\"");
	set_body(&a, "{}");
	CU_ASSERT_EQUAL(take_accepted(&a, 202, h, sizeof(h), err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 202 from Snowflake without a statementHandle");
	free(a.resp.p);

#define RESULT(handle, parts)                                                               \
	"{" handle "\"resultSetMetaData\": {\"rowType\": [{\"name\": \"ID\", \"type\": "        \
	"\"fixed\"}], \"partitionInfo\": [" parts "]}, \"data\": []}"
	snprintf(json, sizeof(json), RESULT("\"statementHandle\": \"%s\", ", "{}, {}"), uuid);
	CU_ASSERT_EQUAL(take(json, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(take(RESULT("", "{}"), err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(take(RESULT("", "{}, {}"), err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "a result set in 2 partitions without a statementHandle");
	CU_ASSERT_EQUAL(take(RESULT("\"statementHandle\": \"../x\", ", "{}"), err, sizeof(err)),
			HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "a result set whose statementHandle is not a handle: \"../x\"");
#undef RESULT
}

#define ID_COLUMN "{\"name\": \"%s\", \"type\": \"fixed\"}"

/* A result set is read only with columns and as jsonv2 (another format is
 * named); one without the map's columns is the config's error. */
static void test_result_without_columns_or_as_another_format_is_refused(void)
{
	static const struct {
		const char *format, *col, *err;
		hub_rc rc;
	} rows[] = {
		{"jsonv2", "ID", "", HUB_OK},
		{"arrowv1", "ID", "result format \"arrowv1\" (only jsonv2 is read)",
		 HUB_ERR_INTERNAL},
		{"jsonv2", NULL, "a result set without rowType", HUB_ERR_INTERNAL},
		{"jsonv2", "OTHER", NULL, HUB_ERR_CONFIG},
	};
	char json[256], cols[64], err[SF_MSG];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cols[0] = '\0';
		if (rows[i].col)
			snprintf(cols, sizeof(cols), ID_COLUMN, rows[i].col);
		snprintf(json, sizeof(json), "{\"resultSetMetaData\": {\"format\": \"%s\", "
			 "\"rowType\": [%s]}, \"data\": []}", rows[i].format, cols);
		err[0] = '\0';
		CU_ASSERT_EQUAL(take(json, err, sizeof(err)), rows[i].rc);
		if (rows[i].err)
			CU_ASSERT_STRING_EQUAL(err, rows[i].err);
	}
}

/* A statementHandle goes into URLs: 1 to HANDLE_MAX characters, the
 * longest taken from a 202 whole, an empty one refused. */
static void test_statement_handle_is_1_to_128_characters(void)
{
	char id[HANDLE_MAX + 2], h[HANDLE_MAX + 1], body[HANDLE_MAX + 64], err[SF_MSG] = "";
	struct sf_api a = {0};

	memset(id, 'a', sizeof(id) - 1);
	id[HANDLE_MAX + 1] = '\0';
	CU_ASSERT_FALSE(sf_sqlapi_handle_is_valid(id));
	CU_ASSERT_FALSE(sf_sqlapi_handle_is_valid(""));
	id[HANDLE_MAX] = '\0';
	CU_ASSERT_TRUE(sf_sqlapi_handle_is_valid(id));
	snprintf(body, sizeof(body), "{\"statementHandle\": \"%s\"}", id);
	set_body(&a, body);
	CU_ASSERT_EQUAL(take_accepted(&a, 202, h, sizeof(h), err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(h, id);
	set_body(&a, "{\"statementHandle\": \"\"}");
	CU_ASSERT_EQUAL(take_accepted(&a, 202, h, sizeof(h), err, sizeof(err)), HUB_ERR_INTERNAL);
	free(a.resp.p);
}

/* ---- an empty answer ------------------------------------------------------------------ */

#define DONE_UUID "01b2c3d4-0000-0001-0000-000000000000"
#define DONE                                                                                \
	"{\"resultSetMetaData\": {\"rowType\": [{\"name\": \"ID\", \"type\": \"fixed\"}], "        \
	"\"partitionInfo\": [{}, {}]}, \"data\": [[\"1\"]], \"code\": \"090001\", "                \
	"\"sqlState\": \"00000\", \"statementHandle\": \"" DONE_UUID "\", "                      \
	"\"message\": \"Statement executed successfully.\"}"

/* A gateway's 502/503/504 (or a 202) may have no body: curl then never
 * calls on_body, and what is read must not be the answer before it. */
static void test_an_empty_answer_is_not_the_one_before(void)
{
	struct sf_api *a = open_page(DONE);
	char h[HANDLE_MAX + 1] = "", err[SF_MSG] = "";

	a->n_parts = 2;
	set_body(a, DONE); /* the statement's answer */
	set_body(a, "");   /* partition 1's: HTTP 503, no body */
	CU_ASSERT_EQUAL(take_partition(a, 1, 503, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 503 from Snowflake: (no message)");
	CU_ASSERT_EQUAL(take_partition(a, 1, 504, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_PTR_NULL(strstr(err, "Statement executed successfully"));

	set_body(a, DONE);
	set_body(a, ""); /* a 202 without a body: no handle, not the old one */
	CU_ASSERT_EQUAL(take_accepted(a, 202, h, sizeof(h), err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 202 from Snowflake without a statementHandle");
	CU_ASSERT_STRING_EQUAL(h, "");

	set_body(a, DONE);
	set_body(a, "");
	CU_ASSERT_EQUAL(sf_sqlapi_status_error(a, 422, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_STRING_EQUAL(err, "SQL error ? (SQLSTATE ?): (no message)");
	sf_api_free(a);
}

/* ---- SQL errors ---------------------------------------------------------------------- */

static void test_transient_sql_errors_are_retried(void)
{
	static const struct {
		const char *state; /* NULL: no sqlState */
		hub_rc rc;
	} cases[] = {
		{"40001", HUB_RETRY},      /* a deadlock, a conflict: rolled back */
		{"57014", HUB_RETRY},      /* cancelled, statement timeout */
		{"08001", HUB_RETRY},      /* connection */
		{"08S01", HUB_RETRY},
		{"42S02", HUB_ERR_CONFIG}, /* no such table */
		{"42000", HUB_ERR_CONFIG},
		{"22018", HUB_ERR_DATA},   /* a value that does not cast */
		{"40002", HUB_ERR_DATA},
		{"57000", HUB_ERR_DATA},
		{"P0001", HUB_ERR_DATA},
		{NULL, HUB_ERR_DATA},
	};
	struct sf_api a = {0};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[256], err[SF_MSG] = "", want[128];

		if (cases[i].state)
			snprintf(body, sizeof(body),
				 "{\"code\": \"000630\", \"message\": \"failed\", "
				 "\"sqlState\": \"%s\"}",
				 cases[i].state);
		else
			snprintf(body, sizeof(body),
				 "{\"code\": \"000630\", \"message\": \"failed\"}");
		set_body(&a, body);
		CU_ASSERT_EQUAL(sf_sqlapi_status_error(&a, 422, err, sizeof(err)), cases[i].rc);
		snprintf(want, sizeof(want), "SQL error 000630 (SQLSTATE %s): failed",
			 cases[i].state ? cases[i].state : "?");
		CU_ASSERT_STRING_EQUAL(err, want);
	}
	free(a.resp.p);
}

/* A poll's 422 is the statement's own failure (run anew when transient),
 * never a failed poll to send again; a poll's 429 or 503 is one. */
static void test_a_poll_s_422_is_the_statement_s_failure(void)
{
	struct sf_api a = {0};
	char err[SF_MSG] = "";

	set_body(&a, "{\"code\": \"000630\", \"message\": \"x\", \"sqlState\": \"40001\"}");
	CU_ASSERT_FALSE(is_poll_transient(&a, 422, err, sizeof(err)));
	CU_ASSERT_TRUE(is_poll_transient(&a, 429, err, sizeof(err)));
	CU_ASSERT_TRUE(is_poll_transient(&a, 503, err, sizeof(err)));
	CU_ASSERT_FALSE(is_poll_transient(&a, 400, err, sizeof(err)));
	free(a.resp.p);
}

/* ---- :cursor ------------------------------------------------------------------------- */

/* The binding of statement_body(a, ..., param) as "TYPE value". */
static void binding_of(struct sf_api *a, const char *param, char *out, size_t size)
{
	char *text = statement_body(a, "SELECT 1", param);
	json_t *root = json_loads(text ? text : "", 0, NULL);
	json_t *b = json_object_get(json_object_get(root, "bindings"), "1");

	snprintf(out, size, "%s %s", json_string_value(json_object_get(b, "type")),
		 json_string_value(json_object_get(b, "value")));
	json_decref(root);
	free(text);
}

static void test_first_run_binds_the_start_of_the_cursor_type(void)
{
	static const struct {
		const char *type, *binding;
	} kinds[] = {
		{"text", "TEXT "}, /* "+33...", "-legacy", "#x" sort before "0" */
		{"fixed", "REAL -1.7976931348623157e308"},
		{"real", "REAL -1.7976931348623157e308"},
		{"decfloat", "REAL -1.7976931348623157e308"},
		{"boolean", "BOOLEAN false"},
		/* before 1970 too: DATE reads a TIMESTAMP's text */
		{"date", "TEXT 0001-01-01T00:00:00.000000000Z"},
		{"timestamp_ntz", "TEXT 0001-01-01T00:00:00.000000000Z"},
		{"timestamp_ltz", "TEXT 0001-01-01T00:00:00.000000000Z"},
		{"timestamp_tz", "TEXT 0001-01-01T00:00:00.000000000Z"},
		{"variant", "TEXT "},
		/* "" is no TIME: Snowflake failed the first run (22007) */
		{"time", "TEXT 00:00:00"},
	};
	struct rm_config cfg = {"wh", "{\"custom_id\": \"ID\", \"attributes\": {\"c\": \"C\"}}",
				NULL, "[\"C\", \"ID\"]"};
	struct sf_api *a = calloc(1, sizeof(*a));
	struct rowmap *m = NULL;
	char got[128], err[SF_MSG] = "", json[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	a->n_params = 2;
	CU_ASSERT_EQUAL_FATAL(rowmap_new(&cfg, &m, err, sizeof(err)), 0);
	binding_of(a, NULL, got, sizeof(got)); /* the type not known yet */
	CU_ASSERT_STRING_EQUAL(got, "TEXT 0");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		/* the cursor column second: its own type counts, not the first column's */
		snprintf(json, sizeof(json), "{\"resultSetMetaData\": {\"rowType\": [{\"name\": "
			 "\"ID\", \"type\": \"fixed\"}, {\"name\": \"C\", \"type\": \"%s\"}]}, "
			 "\"data\": []}", kinds[i].type);
		CU_ASSERT_EQUAL(take_result(a, json_loads(json, 0, NULL), m, err, sizeof(err)),
				HUB_OK);
		learn_cursor_kind(a, m);
		sf_sqlapi_result_free(a);
		binding_of(a, NULL, got, sizeof(got));
		CU_ASSERT_STRING_EQUAL(got, kinds[i].binding);
		binding_of(a, "+33612345678", got, sizeof(got)); /* a saved cursor as it is */
		CU_ASSERT_STRING_EQUAL(got, "TEXT +33612345678");
	}
	rowmap_free(m);
	sf_api_free(a);
}

/* A string member of a statement's body, or "" when it is missing. */
static const char *member(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/* Every :cursor of the query is bound, to the same value; the statement
 * names the source's warehouse, database, schema and role, reads times as
 * UTC and may run an hour; a saved "" cursor is bound as it is (not as a
 * first run's). */
static void test_statement_binds_every_cursor_and_names_its_context(void)
{
	char wh[] = "WH", db[] = "DB", schema[] = "SC", role[] = "RO", key[16], got[64];
	struct sf_api a = {0};
	char *text;
	json_t *root, *b;

	a.n_params = 3;
	a.warehouse = wh;
	a.database = db;
	a.schema = schema;
	a.role = role;
	text = statement_body(&a, "SELECT 1", "2026-01-01");
	root = json_loads(text ? text : "", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	b = json_object_get(root, "bindings");
	CU_ASSERT_EQUAL(json_object_size(b), 3);
	for (int i = 1; i <= 3; i++) {
		snprintf(key, sizeof(key), "%d", i);
		CU_ASSERT_STRING_EQUAL(member(json_object_get(b, key), "type"), "TEXT");
		CU_ASSERT_STRING_EQUAL(member(json_object_get(b, key), "value"), "2026-01-01");
	}
	CU_ASSERT_STRING_EQUAL(member(root, "warehouse"), "WH");
	CU_ASSERT_STRING_EQUAL(member(root, "database"), "DB");
	CU_ASSERT_STRING_EQUAL(member(root, "schema"), "SC");
	CU_ASSERT_STRING_EQUAL(member(root, "role"), "RO");
	CU_ASSERT_STRING_EQUAL(member(json_object_get(root, "parameters"), "TIMEZONE"), "UTC");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(root, "timeout")), 3600);
	binding_of(&a, "", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "TEXT ");
	json_decref(root);
	free(text);
}

/* check --connect and a first run wrap the query in a LIMIT 0: a query
 * ending in a `--` comment or a `;` still makes one statement. */
static void test_limit_0_wraps_a_query_ending_in_a_comment_or_semicolon(void)
{
	static const struct {
		const char *query, *sql;
	} rows[] = {
		{"SELECT * FROM t WHERE a >= ?",
		 "SELECT * FROM (\nSELECT * FROM t WHERE a >= ?\n) LIMIT 0"},
		{"SELECT * FROM t WHERE a >= ? ORDER BY a -- oldest first",
		 "SELECT * FROM (\nSELECT * FROM t WHERE a >= ? ORDER BY a\n) LIMIT 0"},
		{"SELECT * FROM t WHERE a >= ? ORDER BY a;\n",
		 "SELECT * FROM (\nSELECT * FROM t WHERE a >= ? ORDER BY a\n) LIMIT 0"},
		{"SELECT * -- all\nFROM t WHERE a >= ? ; -- done\n",
		 "SELECT * FROM (\nSELECT * -- all\nFROM t WHERE a >= ?\n) LIMIT 0"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *sql = empty_statement(rows[i].query);
		CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
		CU_ASSERT_STRING_EQUAL(sql, rows[i].sql);
		free(sql);
	}
}

/* A private key given where its file's path goes ("${SF_KEY_PEM}") is
 * refused without being quoted: the messages printed the "path", the key
 * in it; a real path is still named. */
static void test_a_key_given_for_its_path_is_not_quoted(void)
{
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n"
				  "-----END PRIVATE KEY-----\n";
	struct sf_jwt *j = NULL;
	char err[512];

	CU_ASSERT_EQUAL(sf_jwt_new(pem, "acct", "user", &j, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(j);
	CU_ASSERT_STRING_EQUAL(err, "private_key_file: holds what looks like the key itself, not "
				    "the path of a file holding it (the value is not shown)");
	/* its bare base64 body, as some Snowflake connectors take it */
	CU_ASSERT_EQUAL(
		sf_jwt_new("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
			   "MzEfYyjiWA4R4",
			   "acct", "user", &j, err, sizeof(err)),
		-1);
	CU_ASSERT(strstr(err, "MIIEvQ") == NULL);
	/* the same with its line breaks turned into blanks (a folded YAML
	 * scalar, an env file) or written \n (copied out of a JSON file):
	 * the messages quoted it */
	CU_ASSERT_EQUAL(
		sf_jwt_new("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 VJTUt9Us8cKj"
			   "MzEfYyjiWA4R4 ",
			   "acct", "user", &j, err, sizeof(err)),
		-1);
	CU_ASSERT(strstr(err, "MIIEvQ") == NULL);
	CU_ASSERT_EQUAL(
		sf_jwt_new("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\nVJTUt9Us8"
			   "cKjMzEfYyjiWA4R4\\n",
			   "acct", "user", &j, err, sizeof(err)),
		-1);
	CU_ASSERT(strstr(err, "MIIEvQ") == NULL);
	/* a path with blanks is still a path, 64 such characters and no '.'
	 * too (its words are no key's lines): it was refused as a key */
	CU_ASSERT_EQUAL(sf_jwt_new("/home/jsmith/Company Shared Drive/Data Engineering/Snowflake/"
				   "privatekey", "acct", "user", &j, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read /home/jsmith/Company Shared Drive/"));
	CU_ASSERT_EQUAL(sf_jwt_new("/nonexistent/My Keys/snowflake key.pem", "acct", "user", &j,
				   err, sizeof(err)),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read /nonexistent/My Keys/snowflake key.pem"));
	CU_ASSERT_EQUAL(sf_jwt_new("/nonexistent/key.pem", "acct", "user", &j, err, sizeof(err)),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "private_key_file: cannot read /nonexistent/key.pem"));
}

/* A directory given for the key file is refused naming why; it was "holds
 * no unencrypted PEM private key".  (key_file_read's other refusals are
 * tested in test_bigquery.c.) */
static void test_key_file_that_is_a_directory_is_refused_naming_why(void)
{
	char *dir = testlib_mkdtemp(), err[512], want[600];
	struct sf_jwt *j = NULL;

	CU_ASSERT_EQUAL(sf_jwt_new(dir, "acct", "user", &j, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(j);
	snprintf(want, sizeof(want), "private_key_file: cannot read %s: it is a directory", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	testlib_rmtree(dir);
	free(dir);
}

/* A key OpenSSL reads but cannot sign with (its primes do not make its
 * modulus, found by fuzz_sfjwt) is refused at start naming the file; the
 * first pull said only "cannot sign the JWT". */
static void test_a_key_that_cannot_sign_is_refused_at_start(void)
{
	const char *path = "tests/fixtures/keys/rsa_damaged.pem"; /* run from the top */
	struct sf_jwt *j = NULL;
	char err[512], want[600];

	CU_ASSERT_EQUAL(sf_jwt_new(path, "acct", "user", &j, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(j);
	snprintf(want, sizeof(want),
		 "private_key_file: %s: the key cannot sign a JWT (RS256):"
		 " a damaged key?",
		 path);
	CU_ASSERT_STRING_EQUAL(err, want);
	sf_jwt_free(j);
}

/* key written as a PEM file in dir: its path (malloc'd). */
static char *key_file_of(const char *dir, EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, *text, *path;
	long n;

	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &pem);
	text = strndup(pem, (size_t)n);
	path = testlib_write_file(dir, "key.pem", text);
	free(text);
	BIO_free(bio);
	return path;
}

/* The account part of iss and sub: the identifier without its region,
 * cloud or subdomain; an account locator in a global URL is what comes
 * before its first '-' (Snowflake's key-pair authentication); an
 * org-account name keeps its '-'. */
static void test_jwt_claims_name_the_account(void)
{
	static const struct {
		const char *account, *sub;
	} rows[] = {
		{"xy12345", "XY12345.HUB_USER"},
		{"xy12345.us-east-1", "XY12345.HUB_USER"},
		{"xy12345.us-east-2.aws", "XY12345.HUB_USER"},
		{"xy12345-abc.global", "XY12345.HUB_USER"},
		{"XY12345-ABC.GLOBAL", "XY12345.HUB_USER"},
		{"myorg-analytics", "MYORG-ANALYTICS.HUB_USER"},
	};
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *dir = testlib_mkdtemp(), *path, err[512], iss[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	path = key_file_of(dir, key);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sf_jwt *j = NULL;
		CU_ASSERT_EQUAL_FATAL(sf_jwt_new(path, rows[i].account, "hub_user", &j, err,
						 sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(j->sub, rows[i].sub);
		snprintf(iss, sizeof(iss), "%s.%s", rows[i].sub, sf_jwt_fingerprint(j));
		CU_ASSERT_STRING_EQUAL(j->iss, iss);
		sf_jwt_free(j);
	}
	testlib_rmtree(dir);
	free(path);
	free(dir);
	EVP_PKEY_free(key);
}

/* A base64url part of a token (len characters), decoded and NUL-ended
 * (malloc'd); *n its bytes. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *n)
{
	unsigned char *in = malloc(len + 4), *out = malloc(len + 4);
	size_t i;
	int k = -1;

	if (in && out) {
		for (i = 0; i < len; i++)
			in[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : (unsigned char)s[i];
		for (; i % 4; i++)
			in[i] = '=';
		k = EVP_DecodeBlock(out, in, (int)i);
	}
	free(in);
	if (k < 0) {
		free(out);
		return NULL;
	}
	*n = (size_t)k - (i - len); /* EVP_DecodeBlock counts the padding */
	out[*n] = '\0';
	return out;
}

/* The token, as Snowflake checks it: RS256 over header.payload, verified
 * with the key's public half; iss ACCOUNT.USER.SHA256:<base64 SHA-256 of
 * the public key's DER> (Snowflake's RSA_PUBLIC_KEY_FP), sub ACCOUNT.USER,
 * exp 59 minutes after iat (it refuses more than an hour); base64url
 * without padding. */
static void test_jwt_token_is_signed_with_the_claims_snowflake_checks(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *dir = testlib_mkdtemp(), *path, err[512], fp[64], want[256];
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH], *head = NULL, *claims = NULL;
	unsigned char *sig = NULL;
	const char *token, *dot1, *dot2 = NULL;
	struct sf_jwt *j = NULL;
	json_t *h = NULL, *c = NULL;
	size_t n_head, n_claims, n_sig;
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	path = key_file_of(dir, key);
	CU_ASSERT_EQUAL_FATAL(sf_jwt_new(path, "xy12345.us-east-1", "hub_user", &j, err,
					 sizeof(err)), 0);
	n = i2d_PUBKEY(key, &der);
	SHA256(der, (size_t)n, md);
	memcpy(fp, "SHA256:", 7);
	EVP_EncodeBlock((unsigned char *)fp + 7, md, sizeof(md));
	CU_ASSERT_STRING_EQUAL(sf_jwt_fingerprint(j), fp);

	token = sf_jwt_token(j, 1700000000, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(token);
	CU_ASSERT_EQUAL(strcspn(token, "=+/"), strlen(token));
	if ((dot1 = strchr(token, '.')))
		dot2 = strchr(dot1 + 1, '.');
	CU_ASSERT_PTR_NOT_NULL_FATAL(dot2);
	head = b64url_decode(token, (size_t)(dot1 - token), &n_head);
	claims = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n_claims);
	sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &n_sig);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sig);
	h = json_loads(head ? (char *)head : "", 0, NULL);
	c = json_loads(claims ? (char *)claims : "", 0, NULL);
	CU_ASSERT_STRING_EQUAL(member(h, "alg"), "RS256");
	CU_ASSERT_STRING_EQUAL(member(h, "typ"), "JWT");
	snprintf(want, sizeof(want), "XY12345.HUB_USER.%s", fp);
	CU_ASSERT_STRING_EQUAL(member(c, "iss"), want);
	CU_ASSERT_STRING_EQUAL(member(c, "sub"), "XY12345.HUB_USER");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "iat")), 1700000000);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "exp")), 1700000000 + 59 * 60);
	CU_ASSERT_EQUAL(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	CU_ASSERT_EQUAL(EVP_DigestVerify(ctx, sig, n_sig, (const unsigned char *)token,
					 (size_t)(dot2 - token)), 1);
	json_decref(h);
	json_decref(c);
	free(head);
	free(claims);
	free(sig);
	OPENSSL_free(der);
	sf_jwt_free(j);
	EVP_MD_CTX_free(ctx);
	testlib_rmtree(dir);
	free(path);
	free(dir);
	EVP_PKEY_free(key);
}

/* A token is reused for 50 minutes, then made again; after the clock went
 * back a new one is made too (the old one's iat is in the future). */
static void test_jwt_token_is_reused_for_50_minutes(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *dir = testlib_mkdtemp(), *path, err[512], *first = NULL, *second = NULL;
	const int64_t t0 = 1700000000;
	struct sf_jwt *j = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	path = key_file_of(dir, key);
	CU_ASSERT_EQUAL_FATAL(sf_jwt_new(path, "acct", "user", &j, err, sizeof(err)), 0);
	first = strdup(sf_jwt_token(j, t0, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL_FATAL(first);
	CU_ASSERT_STRING_EQUAL(sf_jwt_token(j, t0 + 50 * 60 - 1, err, sizeof(err)), first);
	second = strdup(sf_jwt_token(j, t0 + 50 * 60, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL_FATAL(second);
	CU_ASSERT_STRING_NOT_EQUAL(second, first);
	CU_ASSERT_STRING_NOT_EQUAL(sf_jwt_token(j, t0 + 50 * 60 - 1, err, sizeof(err)), second);
	free(first);
	free(second);
	sf_jwt_free(j);
	testlib_rmtree(dir);
	free(path);
	free(dir);
	EVP_PKEY_free(key);
}

/* Key-pair authentication needs an RSA key: another (EC) is refused at
 * start, naming the file. */
static void test_jwt_key_that_is_not_rsa_is_refused(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	char *dir = testlib_mkdtemp(), *path, err[512], want[600];
	struct sf_jwt *j = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	path = key_file_of(dir, key);
	CU_ASSERT_EQUAL(sf_jwt_new(path, "acct", "user", &j, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(j);
	snprintf(want, sizeof(want), "private_key_file: %s: not an RSA key (key-pair "
		 "authentication needs RSA)", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	testlib_rmtree(dir);
	free(path);
	free(dir);
	EVP_PKEY_free(key);
}

static void test_request_id_is_reused_for_the_same_request_only(void)
{
	struct sf_api a = {0};
	char first[40];

	CU_ASSERT_EQUAL(request_id_for(&a, "{\"statement\": \"A\"}"), 0);
	memcpy(first, a.request_id, sizeof(first));
	/* failed in transit: the same request again */
	CU_ASSERT_EQUAL(request_id_for(&a, "{\"statement\": \"A\"}"), 1);
	CU_ASSERT_STRING_EQUAL(a.request_id, first);
	/* another statement (the LIMIT 0 before, say) never takes its id */
	CU_ASSERT_EQUAL(request_id_for(&a, "{\"statement\": \"B\"}"), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a.request_id, first);
	memcpy(first, a.request_id, sizeof(first));
	a.has_pending = 0; /* answered (or ran and failed) */
	CU_ASSERT_EQUAL(request_id_for(&a, "{\"statement\": \"B\"}"), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a.request_id, first);
	free(a.pending_body);
}

/* Without a generator (OpenSSL's and the kernel's failing), two IDs of one
 * process still differ: a repeated ID would get the first statement's rows. */
static void test_request_id_without_a_generator_is_still_unique(void)
{
	unsigned char r1[16], r2[16];
	char text[40];

	request_id_unique_bytes(r1);
	request_id_unique_bytes(r2);
	CU_ASSERT_NOT_EQUAL(memcmp(r1, r2, sizeof(r1)), 0);
	request_id_new(text, sizeof(text));
	CU_ASSERT_EQUAL(strlen(text), 36);
	CU_ASSERT_EQUAL(text[14], '4'); /* version 4 */
	CU_ASSERT_PTR_NOT_NULL(strchr("89ab", text[19]));
}

/* A non-2xx answer's class by its status: 408, 429 and 5xx are retried
 * (a Retry-After named), but not 501 (not implemented: running it again
 * does not help); 401 and 403 are the key's, naming the fingerprint the
 * user must have; another 4xx is the config's, anything else internal.
 * Its message is one line, of 300 bytes at most. */
static void test_status_error_classes_each_status(void)
{
	static const struct {
		long status;
		const char *retry_after, *err;
		hub_rc rc;
	} rows[] = {
		{408, "", "HTTP 408 from Snowflake: m  n", HUB_RETRY},
		{429, "7", "retry after 7s: HTTP 429 from Snowflake: m  n", HUB_RETRY},
		{500, "", "HTTP 500 from Snowflake: m  n", HUB_RETRY},
		{501, "", "HTTP 501 from Snowflake: m  n", HUB_ERR_INTERNAL},
		{502, "", "HTTP 502 from Snowflake: m  n", HUB_RETRY},
		{401, "", "HTTP 401 from Snowflake: m  n (the user's registered public key must "
			  "be SHA256:fp)", HUB_ERR_AUTH},
		{403, "", "HTTP 403 from Snowflake: m  n (the user's registered public key must "
			  "be SHA256:fp)", HUB_ERR_AUTH},
		{400, "9", "HTTP 400 from Snowflake: m  n", HUB_ERR_CONFIG},
		{499, "", "HTTP 499 from Snowflake: m  n", HUB_ERR_CONFIG},
		{302, "", "HTTP 302 from Snowflake: m  n", HUB_ERR_INTERNAL},
	};
	struct sf_jwt jwt = {.fingerprint = "SHA256:fp"};
	struct sf_api a = {.jwt = &jwt};
	char err[SF_MSG];

	set_body(&a, "{\"code\": \"390100\", \"message\": \"m\\r\\nn\"}");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(a.retry_after, sizeof(a.retry_after), "%s", rows[i].retry_after);
		CU_ASSERT_EQUAL(sf_sqlapi_status_error(&a, rows[i].status, err, sizeof(err)),
				rows[i].rc);
		CU_ASSERT_STRING_EQUAL(err, rows[i].err);
	}
	free(a.resp.p);
}

/* A long message is cut at 300 bytes (a SQL error's at 600). */
static void test_status_error_message_is_cut_at_300_bytes(void)
{
	char body[1024], msg[701], err[SF_MSG];
	struct sf_api a = {0};

	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"message\": \"%s\", \"sqlState\": \"22018\"}", msg);
	set_body(&a, body);
	CU_ASSERT_EQUAL(sf_sqlapi_status_error(&a, 503, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(strlen(err), strlen("HTTP 503 from Snowflake: ") + 300);
	CU_ASSERT_EQUAL(sf_sqlapi_status_error(&a, 422, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(strlen(err), strlen("SQL error ? (SQLSTATE 22018): ") + 600);
	free(a.resp.p);
}

/* ---- the endpoint -------------------------------------------------------------------- */

/* The base URL: the endpoint without its trailing '/'s, else the account's
 * own; named whole in messages, so refused with a user or password in its
 * authority (an '@' in its path is no credential), with a query or a
 * fragment, or past 512 characters.  Its scheme is http or https in any
 * case (RFC 3986 3.1). */
static void test_endpoint_is_a_base_url_without_credentials(void)
{
	static const struct {
		const char *endpoint, *base, *err; /* err NULL: taken */
	} rows[] = {
		{"https://xy.example.com///", "https://xy.example.com", NULL},
		{"http://127.0.0.1:9051/", "http://127.0.0.1:9051", NULL},
		{"HTTPS://xy.example.com/", "HTTPS://xy.example.com", NULL}, /* a scheme: any case */
		{"Http://127.0.0.1:9051", "Http://127.0.0.1:9051", NULL},
		{"HTTPS://u:p@xy.example.com", NULL,
		 "endpoint: has a user or password (user:password@), which the plugin does not "
		 "use (it signs in with private_key_file): remove it"},
		{"https://xy.example.com/a@b", "https://xy.example.com/a@b", NULL},
		{NULL, "https://xy12345.snowflakecomputing.com", NULL},
		{"ftp://xy.example.com", NULL, "endpoint: expected an http:// or https:// URL"},
		{"https://u:p@xy.example.com", NULL,
		 "endpoint: has a user or password (user:password@), which the plugin does not "
		 "use (it signs in with private_key_file): remove it"},
		{"https://xy.example.com/#top", NULL,
		 "endpoint: has a query or fragment (? or #): give the base URL only, such as "
		 "https://<account>.snowflakecomputing.com"},
		{"https://xy.example.com/?a=1", NULL,
		 "endpoint: has a query or fragment (? or #): give the base URL only, such as "
		 "https://<account>.snowflakecomputing.com"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sf_api_config cfg = {.account = "xy12345", .endpoint = rows[i].endpoint};
		char *base = make_base(&cfg), err[SF_MSG] = "";
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(base);
		rc = endpoint_check(base, err, sizeof(err));
		CU_ASSERT_EQUAL(rc, rows[i].err ? -1 : 0);
		CU_ASSERT_STRING_EQUAL(rows[i].err ? err : base,
				       rows[i].err ? rows[i].err : rows[i].base);
		free(base);
	}
}

/* 512 characters of endpoint are taken, 513 refused (the URLs made from
 * it are then never cut). */
static void test_endpoint_is_512_characters_at_most(void)
{
	char base[SF_ENDPOINT_MAX + 2], err[SF_MSG] = "";

	memset(base, 'a', sizeof(base) - 1);
	memcpy(base, "https://", 8);
	base[SF_ENDPOINT_MAX] = '\0';
	CU_ASSERT_EQUAL(endpoint_check(base, err, sizeof(err)), 0);
	base[SF_ENDPOINT_MAX] = 'a';
	base[SF_ENDPOINT_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(endpoint_check(base, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "endpoint: longer than 512 characters");
}

/* ---- the answer's body and Retry-After ----------------------------------------------------- */

/* A body grown to its buffer's size keeps room for its NUL: 16383 bytes
 * fill the first 16384, one more grows it. */
static void test_body_keeps_room_for_its_nul(void)
{
	struct body b = {0};
	char chunk[16383];

	memset(chunk, 'x', sizeof(chunk));
	CU_ASSERT_EQUAL(on_body(chunk, 1, sizeof(chunk), &b), sizeof(chunk));
	CU_ASSERT(b.cap > b.len);
	CU_ASSERT_EQUAL(on_body("y", 1, 1, &b), 1);
	CU_ASSERT_EQUAL(b.len, sizeof(chunk) + 1);
	CU_ASSERT(b.cap > b.len);
	CU_ASSERT_EQUAL(strlen(b.p), b.len);
	CU_ASSERT_EQUAL(b.p[b.len - 1], 'y');
	free(b.p);
}

/* Retry-After, as curl hands its header lines (not NUL-terminated): the
 * name in any case, blanks skipped, its seconds (past LONG_MAX: LONG_MAX),
 * or an HTTP date's less now: 0 for one in the past, "" for neither (an
 * HTTP date was not read at all). */
static void test_retry_after_header_keeps_its_seconds(void)
{
	static const struct {
		const char *line, *seconds;
	} rows[] = {
		{"Retry-After: 0\r\n", "0"},
		{"retry-after:   1209\r\n", "1209"},
		{"RETRY-AFTER:9\r\n", "9"},
		{"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", "0"},
		{"Retry-After: in a while\r\n", ""},
		{"Retry-After: 12345678901234567890123456789012345\r\n", "9223372036854775807"},
		{"X-Retry-After: 5\r\n", "unset"},
	};
	struct sf_api a = {0};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].line);
		char *line = malloc(n); /* no NUL after it */

		CU_ASSERT_PTR_NOT_NULL_FATAL(line);
		memcpy(line, rows[i].line, n);
		snprintf(a.retry_after, sizeof(a.retry_after), "unset");
		CU_ASSERT_EQUAL(on_header(line, 1, n, &a), n);
		CU_ASSERT_STRING_EQUAL(a.retry_after, rows[i].seconds);
		free(line);
	}
}

/* An HTTP date ten minutes ahead waits ten minutes: the poll's wait
 * (retry_wait_ms) and the message the hub's backoff reads both say so. */
static void test_retry_after_header_reads_an_http_date(void)
{
	time_t at = time(NULL) + 600;
	char line[128], date[64];
	struct sf_api a = {0};
	long got;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&at));
	snprintf(line, sizeof(line), "Retry-After: %s\r\n", date);
	CU_ASSERT_EQUAL(on_header(line, 1, strlen(line), &a), strlen(line));
	got = strtol(a.retry_after, NULL, 10);
	CU_ASSERT(got > 500 && got <= 600);
	CU_ASSERT_EQUAL(retry_wait_ms(0, POLL_RETRY_FIRST_MS, a.retry_after, STATEMENT_TIMEOUT_S),
			got * 1000);
}

/* ---- HTTP exchanges ---------------------------------------------------------------------- */

static int64_t fixed_now_ms(void)
{
	return 1700000000000;
}

/* A transport talking to a testlib_http_server that gives `answers`. */
struct api_world {
	EVP_PKEY *key;
	char *dir, *path;
	char endpoint[64], requests[512];
	pid_t pid;
	struct sf_api *a;
};

/* The world's key and temp dir, no server yet. */
static void api_world_init(struct api_world *w)
{
	memset(w, 0, sizeof(*w));
	w->pid = -1;
	w->key = EVP_RSA_gen(2048);
	w->dir = testlib_mkdtemp();
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->key);
	w->path = key_file_of(w->dir, w->key);
	snprintf(w->requests, sizeof(w->requests), "%s/requests", w->dir);
}

/* The transport, its endpoint the server w->pid listening on port.  0, or
 * -1 (said). */
static int api_world_connect(struct api_world *w, int port, const struct hub_host *host,
			     const struct hub_instance *inst)
{
	struct sf_api_config cfg = {.endpoint = w->endpoint, .account = "acct", .user = "u",
				    .query = "SELECT 1"};
	char err[SF_MSG] = "";

	CU_ASSERT_FATAL(w->pid > 0);
	snprintf(w->endpoint, sizeof(w->endpoint), "http://127.0.0.1:%d", port);
	cfg.key_file = w->path;
	if (sf_api_new(host, inst, &cfg, &w->a, err, sizeof(err)) != 0) {
		fprintf(stderr, "\n  sf_api_new: %s\n", err);
		CU_FAIL("sf_api_new");
		return -1;
	}
	return 0;
}

/* 0, or -1 (said) when the world could not be made; api_world_close() it
 * either way. */
static int api_world_open(struct api_world *w, const struct testlib_answer *answers, size_t n,
			  const struct hub_host *host, const struct hub_instance *inst)
{
	int port = 0;

	api_world_init(w);
	w->pid = testlib_http_server(answers, n, w->requests, &port);
	return api_world_connect(w, port, host, inst);
}

/* The requests the server got, into buf. */
static void api_world_requests(const struct api_world *w, char *buf, size_t size)
{
	FILE *f = fopen(w->requests, "r");

	buf[0] = '\0';
	if (f) {
		buf[fread(buf, 1, size - 1, f)] = '\0';
		fclose(f);
	}
}

static void api_world_close(struct api_world *w)
{
	sf_api_free(w->a);
	if (w->pid > 0)
		testlib_http_server_stop(w->pid);
	testlib_rmtree(w->dir);
	free(w->path);
	free(w->dir);
	EVP_PKEY_free(w->key);
}

/* A request carries the JWT and says it is one; a POST's body is JSON.
 * Each answer starts afresh: its Retry-After and its body are its own, not
 * the answer's before it (a 503 without them after a 429 with them). */
static void test_http_answer_keeps_no_retry_after_or_body_of_the_one_before(void)
{
	static const struct testlib_answer answers[] = {
		{429, "Retry-After: 5\r\nContent-Type: application/json\r\n",
		 "{\"message\": \"slow down\"}"},
		{503, NULL, NULL},
	};
	struct hub_host host = {.now_ms = fixed_now_ms};
	struct api_world w;
	char url[128], err[SF_MSG] = "", got[8192], *get;
	long status = 0;

	if (api_world_open(&w, answers, 2, &host, NULL))
		goto out;
	snprintf(url, sizeof(url), "%s/api/v2/statements", w.endpoint);
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, "{}", &status, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(status, 429);
	CU_ASSERT_EQUAL(sf_sqlapi_status_error(w.a, status, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "retry after 5s: HTTP 429 from Snowflake: slow down");
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, NULL, &status, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(status, 503);
	CU_ASSERT_EQUAL(sf_sqlapi_status_error(w.a, status, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 503 from Snowflake: (no message)");
	api_world_requests(&w, got, sizeof(got));
	get = strstr(got, "GET /api/v2/statements HTTP/1.1\r\n");
	CU_ASSERT_PTR_NOT_NULL(get);
	if (!get) /* no _FATAL: the server would be left running */
		goto out;
	*get = '\0'; /* got: the POST alone */
	CU_ASSERT_EQUAL(strncmp(got, "POST /api/v2/statements HTTP/1.1\r\n", 34), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(got, "\r\nContent-Type: application/json\r\n"));
	CU_ASSERT_PTR_NULL(strstr(get + 1, "Content-Type"));
	for (int i = 0; i < 2; i++) {
		const char *r = i ? get + 1 : got;
		char bearer[2048];

		snprintf(bearer, sizeof(bearer), "\r\nAuthorization: Bearer %s\r\n",
			 sf_jwt_token(w.a->jwt, fixed_now_ms() / 1000, err, sizeof(err)));
		CU_ASSERT_PTR_NOT_NULL(strstr(r, bearer));
		CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nX-Snowflake-Authorization-Token-Type: "
						 "KEYPAIR_JWT\r\n"));
		CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nAccept: application/json\r\n"));
	}
out:
	api_world_close(&w);
}

/* A refusal that echoes the request (a proxy, a test server, a misrouted
 * endpoint) is quoted without the JWT the request carried (it signs in as
 * the user for an hour; the message quoted it).  A 2xx answer is data: it
 * is left as it came. */
static void test_a_refusal_that_echoes_the_request_quotes_no_jwt(void)
{
	static const struct testlib_answer answers[] = {
		{401, NULL, "{\"message\": \"you sent %s\"}"},
		{200, NULL, "{\"echo\": \"%s\"}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms};
	struct api_world w;
	char url[128], err[SF_MSG] = "", jwt_err[128] = "";
	const char *token;
	long status = 0;
	int port = 0;

	api_world_init(&w);
	w.pid = testlib_http_echo_server(answers, 2, w.requests, &port);
	if (api_world_connect(&w, port, &host, NULL))
		goto out;
	token = sf_jwt_token(w.a->jwt, fixed_now_ms() / 1000, jwt_err, sizeof(jwt_err));
	CU_ASSERT_PTR_NOT_NULL(token);
	if (!token) /* no _FATAL: the server would be left running */
		goto out;
	snprintf(url, sizeof(url), "%s/api/v2/statements", w.endpoint);
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, "{}", &status, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(status, 401);
	CU_ASSERT_PTR_NULL(strstr(w.a->resp.p, token));
	CU_ASSERT_EQUAL(strlen(w.a->resp.p), w.a->resp.len);
	CU_ASSERT_EQUAL(sf_sqlapi_status_error(w.a, status, err, sizeof(err)), HUB_ERR_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, " Authorization: Bearer [redacted] "));
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, NULL, &status, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.a->resp.p, token));
out:
	api_world_close(&w);
}

/* An answer past max_answer_bytes (decoded) fails the request, naming the
 * bound, as a configuration matter: its body was held whole however large
 * (a gzip partition inflates many times over).  Memory running out for
 * one is HUB_ERR_NOMEM, saying so: curl reports either as a failed write
 * (CURLE_WRITE_ERROR), which was taken for a misconfiguration and
 * disabled the source.  The next answer is read afresh. */
static void test_an_answer_over_its_bound_or_memory_says_which(void)
{
	struct testlib_answer answers[3] = {{200, NULL, NULL}, {200, NULL, NULL},
					    {200, NULL, "{\"data\": []}"}};
	struct hub_host host = {.now_ms = fixed_now_ms};
	size_t n = 200000;
	char *big = malloc(n + 1), url[128], err[SF_MSG] = "";
	struct api_world w;
	long status = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', n);
	big[n] = '\0';
	answers[0].body = answers[1].body = big;
	if (api_world_open(&w, answers, 3, &host, NULL))
		goto out;
	snprintf(url, sizeof(url), "%s/api/v2/statements", w.endpoint);
	w.a->resp.max = 65536;
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, "{}", &status, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ": an answer over max_answer_bytes (65536 bytes, "
					   "decoded): raise max_answer_bytes"));
	CU_ASSERT(w.a->resp.len <= 65536);
	w.a->resp.max = 0;
	body_realloc_max = 100000;
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, NULL, &status, err, sizeof(err)), HUB_ERR_NOMEM);
	body_realloc_max = 0;
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ": out of memory for the answer ("));
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, NULL, &status, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_STRING_EQUAL(w.a->resp.p, "{\"data\": []}");
out:
	body_realloc_max = 0;
	api_world_close(&w);
	free(big);
}

/* Past max bytes the body takes no more (the one byte that fits does),
 * and says so; no bound (0) takes anything. */
static void test_body_stops_at_its_max(void)
{
	struct body b = {.max = 4};
	char five[] = "12345";

	CU_ASSERT_EQUAL(on_body(five, 1, 3, &b), 3);
	CU_ASSERT_EQUAL(on_body(five + 3, 1, 1, &b), 1);
	CU_ASSERT_FALSE(b.is_over);
	CU_ASSERT_EQUAL(on_body(five + 4, 1, 1, &b), 0);
	CU_ASSERT_TRUE(b.is_over);
	CU_ASSERT_STRING_EQUAL(b.p, "1234");
	body_reset(&b);
	CU_ASSERT_FALSE(b.is_over);
	b.max = 0;
	CU_ASSERT_EQUAL(on_body(five, 1, 5, &b), 5);
	CU_ASSERT_STRING_EQUAL(b.p, "12345");
	free(b.p);
}

/* query_timeout as config_int() gives it (ms): 1 s, the least the body says. */
static int64_t one_second_timeout(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	return strcmp(key, "query_timeout") == 0 ? 1000 : 0;
}

static void log_nothing(const struct hub_instance *inst, enum hub_log_level level,
			const char *fmt, ...)
{
	(void)inst, (void)level, (void)fmt;
}

/* A statement that stays 202 (a warehouse whose queue it never leaves:
 * Snowflake's `timeout` counts the time it runs, not the time it is queued)
 * is given up query_timeout after it was sent, cancelled, and the run is
 * retried.  It was polled for ever, the source held by the run. */
static void test_a_statement_still_running_after_query_timeout_is_cancelled(void)
{
	enum { N_POLLS = 12 };
	struct testlib_answer answers[1 + N_POLLS + 1];
	struct hub_host host = {.now_ms = fixed_now_ms, .config_int = one_second_timeout,
				.log = log_nothing};
	int inst_tag = 0;
	struct api_world w;
	char err[SF_MSG] = "", got[16384];
	json_t *out = NULL;
	int64_t t0_ms;
	int n_polls;

	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		answers[i] = (struct testlib_answer){202, "Content-Type: application/json\r\n",
						     "{\"statementHandle\": \"q-1\"}"};
	if (api_world_open(&w, answers, sizeof(answers) / sizeof(answers[0]), &host,
			   (const struct hub_instance *)&inst_tag))
		goto out;
	t0_ms = mono_clock_ms();
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_RETRY);
	/* not given up before query_timeout (whatever the machine's speed) */
	CU_ASSERT(mono_clock_ms() - t0_ms >= 1000);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_STRING_EQUAL(err, "statement q-1 still running after query_timeout (1 s): "
			       "cancelled, the run is retried (raise query_timeout for a query "
			       "this long, or look at the warehouse's queue)");
	api_world_requests(&w, got, sizeof(got));
	/* polled 100, 200, 400, 800 ms apart: past 1 s at the 4th or 5th on an
	 * idle machine, sooner when each poll's answer is slow (a loaded one
	 * failed ">= 4" once), so the time above says it waited, this that it
	 * polled and gave up */
	n_polls = testlib_count_of(got, "GET /api/v2/statements/q-1 HTTP/1.1\r\n");
	CU_ASSERT(n_polls >= 1 && n_polls < N_POLLS);
	CU_ASSERT_EQUAL(testlib_count_of(got, "POST /api/v2/statements/q-1/cancel HTTP/1.1\r\n"),
			1);
	CU_ASSERT_FALSE(w.a->has_pending); /* accepted: a retry sends it anew */
out:
	api_world_close(&w);
}

static char logged[SF_MSG]; /* the last line logged */

static void log_keep(const struct hub_instance *inst, enum hub_log_level level, const char *fmt,
		     ...)
{
	va_list ap;

	(void)inst, (void)level;
	va_start(ap, fmt);
	vsnprintf(logged, sizeof(logged), fmt, ap);
	va_end(ap);
}

/* A poll of an accepted statement answered 404: Snowflake documents a
 * 404 as "the request endpoint is not valid", and the endpoint had just
 * accepted the statement, so the handle is what it does not know.  The run
 * is retried (a new requestId), the statement cancelled should it run on;
 * it was HUB_ERR_CONFIG, which disabled the source.  A 404 to the POST
 * stays a configuration matter (the endpoint is wrong). */
static void test_a_poll_answered_404_retries_the_run(void)
{
	static const struct testlib_answer answers[] = {
		{202, "Content-Type: application/json\r\n", "{\"statementHandle\": \"q-1\"}"},
		{404, "Content-Type: application/json\r\n",
		 "{\"code\": \"000709\", \"message\": \"Statement not found\"}"},
		{404, "Content-Type: application/json\r\n", "{\"code\": \"000709\"}"},
		{404, "Content-Type: application/json\r\n", "{\"message\": \"no such route\"}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms, .log = log_keep};
	struct api_world w;
	char err[SF_MSG] = "", got[8192];
	json_t *out = NULL;

	if (api_world_open(&w, answers, 4, &host, NULL))
		goto out;
	logged[0] = '\0';
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "statement q-1: its poll was answered HTTP 404 from Snowflake: "
			       "Statement not found (the statement is unknown there): the run is "
			       "retried");
	CU_ASSERT_FALSE(w.a->has_pending); /* accepted: a retry sends it anew */
	api_world_requests(&w, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_count_of(got, "POST /api/v2/statements/q-1/cancel HTTP/1.1\r\n"),
			1);
	CU_ASSERT_STRING_EQUAL(logged, "could not cancel statement q-1: HTTP 404 from Snowflake: "
			       "(no message)");
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 404 from Snowflake: no such route");
out:
	api_world_close(&w);
}

/* Snowflake's 408: the statement ran past its `timeout` and was cancelled
 * (a QueryStatus naming it, SQLSTATE 57014). */
#define TIMED_OUT_408                                                                      \
	{408, "Content-Type: application/json\r\n",                                       \
	 "{\"code\": \"000630\", \"sqlState\": \"57014\", \"statementHandle\": \"q-1\", " \
	 "\"message\": \"Statement reached its statement or warehouse timeout of 1 "     \
	 "second(s) and was canceled.\"}"}
#define TIMED_OUT_ERR                                                                      \
	"statement q-1 ran past its timeout (query_timeout, 1 s) and Snowflake cancelled it " \
	"(HTTP 408: Statement reached its statement or warehouse timeout of 1 second(s) and " \
	"was canceled.): the run is retried (raise query_timeout for a query this long)"

/* A poll answered 408 naming the statement: it ran past its timeout and
 * Snowflake cancelled it, the run retried at once, saying so.  It was taken
 * for a poll that failed: polled 4 times more (all 408), then cancelled
 * again, the message a bare "HTTP 408 from Snowflake". */
static void test_a_poll_s_408_is_the_statement_s_timeout(void)
{
	static const struct testlib_answer answers[] = {
		{202, "Content-Type: application/json\r\n", "{\"statementHandle\": \"q-1\"}"},
		TIMED_OUT_408, TIMED_OUT_408, TIMED_OUT_408, TIMED_OUT_408, TIMED_OUT_408,
		{200, "Content-Type: application/json\r\n", "{}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms, .config_int = one_second_timeout,
				.log = log_nothing};
	int inst_tag = 0;
	struct api_world w;
	char err[SF_MSG] = "", got[16384];
	json_t *out = NULL;

	if (api_world_open(&w, answers, sizeof(answers) / sizeof(answers[0]), &host,
			   (const struct hub_instance *)&inst_tag))
		goto out;
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_STRING_EQUAL(err, TIMED_OUT_ERR);
	CU_ASSERT_FALSE(w.a->has_pending);
	api_world_requests(&w, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_count_of(got, "GET /api/v2/statements/q-1 HTTP/1.1\r\n"), 1);
	CU_ASSERT_EQUAL(testlib_count_of(got, "/cancel"), 0);
out:
	api_world_close(&w);
}

/* The requestId of the nth POST to /api/v2/statements in got (n from 0)
 * into id, and whether it said retry=true.  0, or -1 with no such POST. */
static int nth_post_request_id(const char *got, int n, char *id, size_t size, int *is_retry)
{
	static const char post[] = "POST /api/v2/statements?requestId=";
	const char *p = got;
	size_t len;

	for (int i = 0; (p = strstr(p, post)); i++, p++) {
		if (i < n)
			continue;
		p += strlen(post);
		len = strcspn(p, "& ");
		if (len >= size)
			return -1;
		memcpy(id, p, len);
		id[len] = '\0';
		*is_retry = strncmp(p + len, "&retry=true ", 12) == 0;
		return 0;
	}
	return -1;
}

/* The first three statements in got: the first sent, the second the same
 * requestId again with retry=true, the third a new request (new requestId,
 * no retry=true). */
static void assert_sent_retried_then_new(const char *got)
{
	char id[3][64];
	int is_retry[3];

	for (int i = 0; i < 3; i++)
		if (nth_post_request_id(got, i, id[i], sizeof(id[i]), &is_retry[i])) {
			CU_FAIL("a statement was not sent");
			return;
		}
	CU_ASSERT_FALSE(is_retry[0]);
	CU_ASSERT_STRING_EQUAL(id[1], id[0]);
	CU_ASSERT_TRUE(is_retry[1]);
	CU_ASSERT_STRING_NOT_EQUAL(id[2], id[0]);
	CU_ASSERT_FALSE(is_retry[2]);
}

/* A statement's 200 whose JSON breaks off at its end (an answer without a
 * length, cut: curl takes it as whole) ran on Snowflake: the retry sends it
 * under the same requestId with retry=true, as after a cut that curl sees
 * (it ran again under a new requestId); once answered whole, the same
 * request is a new run under a new one. */
static void test_a_statement_answer_broken_off_is_resent_under_its_request_id(void)
{
	static const struct testlib_answer answers[] = {
		{200, "Content-Type: application/json\r\n", "{\"data\": [[\"1\"]"},
		{200, "Content-Type: application/json\r\n", "{\"data\": [[\"1\"]]}"},
		{200, "Content-Type: application/json\r\n", "{\"data\": [[\"1\"]]}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms};
	struct api_world w;
	char err[SF_MSG] = "", got[16384];
	json_t *out = NULL;

	if (api_world_open(&w, answers, 3, &host, NULL))
		goto out;
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "the statement's answer breaks off after 15 bytes, in the "
			       "middle of its JSON: cut in transit");
	CU_ASSERT_PTR_NULL(out);
	for (int run = 0; run < 2; run++) {
		CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err,
							sizeof(err)), HUB_OK);
		CU_ASSERT_PTR_NOT_NULL(out);
		json_decref(out);
		out = NULL;
	}
	api_world_requests(&w, got, sizeof(got));
	assert_sent_retried_then_new(got);
out:
	api_world_close(&w);
}

/* A statement refused for now (503) is sent again under its requestId
 * with retry=true within the run; once the run has ended (its retries ran
 * out), the next run's is a new request under a new requestId: with the
 * old one Snowflake would answer the earlier run's result. */
static void test_a_request_id_pending_at_a_run_end_is_not_sent_again(void)
{
	static const struct testlib_answer answers[] = {
		{503, NULL, NULL},
		{503, NULL, NULL},
		{200, "Content-Type: application/json\r\n", "{\"data\": [[\"1\"]]}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms};
	struct api_world w;
	char err[SF_MSG] = "", got[16384];
	json_t *out = NULL;

	if (api_world_open(&w, answers, 3, &host, NULL))
		goto out;
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err,
							sizeof(err)), HUB_RETRY);
	sf_api_run_end(w.a);
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_OK);
	json_decref(out);
	api_world_requests(&w, got, sizeof(got));
	assert_sent_retried_then_new(got);
out:
	api_world_close(&w);
}

/* A POST answered 408: a gateway's (naming no statement: the request
 * itself timed out, the statement maybe never ran) is sent again under
 * its requestId with retry=true; Snowflake's (naming the statement, which
 * ran past its timeout and was cancelled) spends the requestId, as a 422
 * does: the retry is a new request.  Under the old requestId Snowflake
 * would answer the same timeout again. */
static void test_a_statement_timed_out_is_run_again_under_a_new_request_id(void)
{
	static const struct testlib_answer answers[] = {
		{408, "Content-Type: application/json\r\n", "{\"message\": \"Request Timeout\"}"},
		TIMED_OUT_408,
		{200, "Content-Type: application/json\r\n", "{\"data\": [[\"1\"]]}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms, .config_int = one_second_timeout};
	int inst_tag = 0;
	struct api_world w;
	char err[SF_MSG] = "", got[16384];
	json_t *out = NULL;

	if (api_world_open(&w, answers, 3, &host, (const struct hub_instance *)&inst_tag))
		goto out;
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "HTTP 408 from Snowflake: Request Timeout");
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, TIMED_OUT_ERR);
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_OK);
	json_decref(out);
	api_world_requests(&w, got, sizeof(got));
	assert_sent_retried_then_new(got);
out:
	api_world_close(&w);
}

/* The same through the loaded plugin: its descriptor hands the hub
 * run_end (ABI 1.14), which forgets the statement pending a retry, so the
 * next run's pull sends a new requestId; the run's own retry sent the
 * pending one again.  Without run_end in the descriptor, every unit test
 * above still passed while the hub never told the plugin a run ended. */
static void test_the_plugin_forgets_a_pending_request_id_at_its_run_end(void)
{
	static const struct testlib_answer answers[] = {
		{503, NULL, NULL},
		{503, NULL, NULL},
		{200, "Content-Type: application/json\r\n",
		 META("{\"name\": \"ID\", \"type\": \"fixed\"}") "\"data\": []}"},
	};
	struct api_world w;
	struct pt_fixture f;
	char err[SF_MSG] = "", got[16384];
	int port = 0;

	api_world_init(&w);
	w.pid = testlib_http_server(answers, 3, w.requests, &port);
	if (w.pid <= 0) {
		CU_FAIL("the server did not start");
		goto out_server;
	}
	if (pt_try_open(&f, "snowflake", err, sizeof(err),
			"sources:\n  - name: w\n    plugin: snowflake\n    transport: sql_api\n"
			"    endpoint: http://127.0.0.1:%d\n    account: acct\n    user: u\n"
			"    private_key_file: %s\n"
			"    query: SELECT id FROM t WHERE id > :cursor ORDER BY id\n"
			"    cursor: id\n    map: {custom_id: id, attributes: {n: id}}\n", port,
			w.path)) {
		CU_FAIL("the plugin did not start");
		fprintf(stderr, "\n  %s\n", err);
		goto out;
	}
	CU_ASSERT_PTR_NOT_NULL(f.mod.run_end);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(pt_pull(&f, "[\"5\"]", 10, err, sizeof(err)), HUB_RETRY);
	if (f.mod.run_end) /* the hub calls it once the run's retries ran out */
		f.mod.run_end(f.inst->state);
	CU_ASSERT_EQUAL(pt_pull(&f, "[\"5\"]", 10, err, sizeof(err)), HUB_OK);
	api_world_requests(&w, got, sizeof(got));
	assert_sent_retried_then_new(got);
out:
	pt_close(&f);
out_server:
	api_world_close(&w);
}

/* ---- a transfer's deadline and a stop ------------------------------------------------------ */

#define TRICKLE_BYTE_MS 100  /* 10 bytes/s: curl's low-speed limit (1 byte/s) never trips */
#define TRICKLE_MAX_MS 20000 /* how long the server trickles one answer before it closes */

static const struct body *stop_once_read; /* should_stop: 1 once this body has bytes */

static int stop_once_reading(const struct hub_call *call)
{
	(void)call;
	return stop_once_read && stop_once_read->len > 0;
}

/* A server that trickles its answer (a byte every 100 ms, never the whole
 * of it) held a transfer until it gave up itself, 20 s here, for ever in
 * life: curl's low-speed limit does not trip at 10 bytes/s.  Now the
 * transfer ends at transfer_ms (HUB_RETRY, saying so), and once the hub
 * asks the pull to stop, mid-answer (HUB_ERR_STOPPED).  A cancel, which
 * goes out while the hub stops, is not stopped, but bounded (3 s). */
static void test_a_trickled_answer_ends_at_its_deadline_or_a_stop(void)
{
	struct hub_host host = {.now_ms = fixed_now_ms, .should_stop = stop_once_reading,
				.log = log_keep};
	int port = 0, call_tag = 0;
	struct api_world w;
	char url[256], err[SF_MSG] = "";
	long status = 0;
	int64_t t0;

	api_world_init(&w);
	w.pid = testlib_trickle_server(TRICKLE_BYTE_MS, TRICKLE_MAX_MS, &port);
	if (api_world_connect(&w, port, &host, NULL))
		goto out;
	snprintf(url, sizeof(url), "%s/api/v2/statements/q-1?partition=1", w.endpoint);
	CU_ASSERT_EQUAL(w.a->transfer_ms, 3600000); /* query_timeout unset: its default, 1 h */

	w.a->transfer_ms = 750;
	t0 = mono_clock_ms();
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, NULL, &status, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT(mono_clock_ms() - t0 < 10000);
	CU_ASSERT(w.a->resp.len > 0); /* it was reading */
	snprintf(url, sizeof(url), "GET %s: no whole answer within 750 ms", w.endpoint);
	CU_ASSERT_STRING_EQUAL(err, url);

	w.a->transfer_ms = 60000;
	stop_once_read = &w.a->resp;
	sf_api_set_call(w.a, (struct hub_call *)&call_tag);
	snprintf(url, sizeof(url), "%s/api/v2/statements/q-1?partition=1", w.endpoint);
	t0 = mono_clock_ms();
	CU_ASSERT_EQUAL(sf_sqlapi_http(w.a, url, NULL, &status, err, sizeof(err)),
			HUB_ERR_STOPPED);
	CU_ASSERT(mono_clock_ms() - t0 < 10000);
	snprintf(url, sizeof(url), "GET %s: stopped while the answer was read", w.endpoint);
	CU_ASSERT_STRING_EQUAL(err, url);

	/* stopping, a cancel goes out all the same, for 3 s at most (1 s here) */
	CU_ASSERT_EQUAL(cancel_max_ms, 3000);
	cancel_max_ms = 1000;
	logged[0] = '\0';
	t0 = mono_clock_ms();
	cancel_statement(w.a, "q-1");
	CU_ASSERT(mono_clock_ms() - t0 >= cancel_max_ms - 100); /* curl's clock, not ours */
	CU_ASSERT(mono_clock_ms() - t0 < 10000);
	cancel_max_ms = CANCEL_MAX_MS;
	snprintf(url, sizeof(url), "could not cancel statement q-1: POST %s: no whole answer "
		 "within 1000 ms", w.endpoint);
	CU_ASSERT_STRING_EQUAL(logged, url);
	CU_ASSERT_EQUAL(w.a->transfer_ms, 60000); /* the pull's bound again */
	CU_ASSERT_PTR_EQUAL(w.a->stop.call, (struct hub_call *)&call_tag);
out:
	stop_once_read = NULL;
	api_world_close(&w);
}

/* A transfer's bound: query_timeout, 60 s at least (Snowflake holds a
 * POST up to 45 s before its 202), 1 h when unset. */
static void test_a_transfer_s_bound_is_query_timeout_60_s_at_least(void)
{
	CU_ASSERT_EQUAL(transient_transfer_ms(0, 3600000), 3600000);
	CU_ASSERT_EQUAL(transient_transfer_ms(1000, 3600000), 60000);
	CU_ASSERT_EQUAL(transient_transfer_ms(7200000, 3600000), 7200000);
	CU_ASSERT_EQUAL(transient_transfer_ms(0, 0), 60000);
}

static const struct sf_api *stop_once_accepted; /* should_stop: 1 once it holds no POST */

static int stop_after_the_post(const struct hub_call *call)
{
	(void)call;
	return stop_once_accepted && !stop_once_accepted->has_pending;
}

/* The hub stops while a statement runs (202): its cancel is sent, though
 * should_stop() says 1 by then (a transfer ends on a stop, a cancel's does
 * not: it would never go out). */
static void test_a_statement_running_at_a_stop_is_cancelled(void)
{
	static const struct testlib_answer answers[] = {
		{202, "Content-Type: application/json\r\n", "{\"statementHandle\": \"q-1\"}"},
		{200, "Content-Type: application/json\r\n", "{\"statementHandle\": \"q-1\"}"},
	};
	struct hub_host host = {.now_ms = fixed_now_ms, .should_stop = stop_after_the_post,
				.log = log_keep};
	int call_tag = 0;
	struct api_world w;
	char err[SF_MSG] = "", got[8192];
	json_t *out = NULL;

	if (api_world_open(&w, answers, 2, &host, NULL))
		goto out;
	sf_api_set_call(w.a, (struct hub_call *)&call_tag);
	stop_once_accepted = w.a;
	logged[0] = '\0';
	CU_ASSERT_EQUAL(sf_sqlapi_run_statement(w.a, "SELECT 1", "x", &out, err, sizeof(err)),
			HUB_ERR_STOPPED);
	CU_ASSERT_STRING_EQUAL(err, "stopped while the statement ran");
	CU_ASSERT_STRING_EQUAL(logged, ""); /* the cancel was answered 200 */
	api_world_requests(&w, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_count_of(got, "POST /api/v2/statements/q-1/cancel HTTP/1.1\r\n"),
			1);
out:
	stop_once_accepted = NULL;
	api_world_close(&w);
}

TEST_SUITE(snowflake, NULL, NULL, TEST(test_cells_are_values_of_their_type),
	   TEST(test_decfloat_is_a_number),
	   TEST(test_variant_object_array_map_as_json),
	   TEST(test_bad_cell_fails_the_page_naming_row_column_and_type),
	   TEST(test_out_of_range_times_fail_the_page), TEST(test_partition_answers),
	   TEST(test_a_partition_not_of_its_row_count_is_retried),
	   TEST(test_a_partition_broken_off_is_retried),
	   TEST(test_an_answer_code_not_090001_is_no_result_set),
	   TEST(test_statement_handle_must_be_one),
	   TEST(test_result_without_columns_or_as_another_format_is_refused),
	   TEST(test_statement_handle_is_1_to_128_characters),
	   TEST(test_statement_binds_every_cursor_and_names_its_context),
	   TEST(test_an_empty_answer_is_not_the_one_before),
	   TEST(test_transient_sql_errors_are_retried),
	   TEST(test_a_poll_s_422_is_the_statement_s_failure),
	   TEST(test_a_statement_still_running_after_query_timeout_is_cancelled),
	   TEST(test_first_run_binds_the_start_of_the_cursor_type),
	   TEST(test_limit_0_wraps_a_query_ending_in_a_comment_or_semicolon),
	   TEST(test_request_id_is_reused_for_the_same_request_only),
	   TEST(test_request_id_without_a_generator_is_still_unique),
	   TEST(test_a_key_given_for_its_path_is_not_quoted),
	   TEST(test_jwt_claims_name_the_account),
	   TEST(test_jwt_token_is_signed_with_the_claims_snowflake_checks),
	   TEST(test_jwt_token_is_reused_for_50_minutes),
	   TEST(test_jwt_key_that_is_not_rsa_is_refused),
	   TEST(test_key_file_that_is_a_directory_is_refused_naming_why),
	   TEST(test_a_key_that_cannot_sign_is_refused_at_start),
	   TEST(test_status_error_classes_each_status),
	   TEST(test_status_error_message_is_cut_at_300_bytes),
	   TEST(test_endpoint_is_a_base_url_without_credentials),
	   TEST(test_endpoint_is_512_characters_at_most),
	   TEST(test_body_keeps_room_for_its_nul),
	   TEST(test_body_stops_at_its_max),
	   TEST(test_an_answer_over_its_bound_or_memory_says_which),
	   TEST(test_retry_after_header_keeps_its_seconds),
	   TEST(test_retry_after_header_reads_an_http_date),
	   TEST(test_http_answer_keeps_no_retry_after_or_body_of_the_one_before),
	   TEST(test_a_refusal_that_echoes_the_request_quotes_no_jwt),
	   TEST(test_a_trickled_answer_ends_at_its_deadline_or_a_stop),
	   TEST(test_a_transfer_s_bound_is_query_timeout_60_s_at_least),
	   TEST(test_a_statement_running_at_a_stop_is_cancelled),
	   TEST(test_a_poll_answered_404_retries_the_run),
	   TEST(test_a_poll_s_408_is_the_statement_s_timeout),
	   TEST(test_a_statement_timed_out_is_run_again_under_a_new_request_id),
	   TEST(test_a_statement_answer_broken_off_is_resent_under_its_request_id),
	   TEST(test_a_request_id_pending_at_a_run_end_is_not_sent_again),
	   TEST(test_the_plugin_forgets_a_pending_request_id_at_its_run_end))
