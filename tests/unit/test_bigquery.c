/*
 * test_bigquery.c - suite `bigquery`: the pure parts of the bigquery plugin
 * (plugins/bigquery/), compiled into this test: a table of cells of every
 * type (INT64 beyond 2^53 exact, TIMESTAMP as float seconds in exponent
 * form rounded to the microsecond, or int64 microseconds), REPEATED and
 * RECORD as JSON, the result schema, the Google error envelope -> hub_rc,
 * the @cursor parameter's type and value, and the service-account JWT's
 * claims and signature, the Retry-After header's reader.  The shared
 * mapping's functions it calls
 * (rm_time_parse, ...) come from test_rowmap.c, which builds them in.
 * The HTTP side is tested against the fake in tests/integration/bigquery.sh.
 */
#include "plugtest.h"
#include "testlib.h"

#include "../../plugins/common/key_file.h" /* KEY_FILE_MAX, key_file_read */
#include "../../plugins/bigquery/bq_auth.c"
#include "../../plugins/bigquery/bq_cell.c"
#include "../../plugins/bigquery/bq_error.c"
/* bq_http.c's realloc (an answer's body) fails for more than this many
 * bytes (0: never), as memory running out would. */
static size_t text_realloc_max;
static void *text_realloc(void *p, size_t n)
{
	return text_realloc_max && n > text_realloc_max ? NULL : realloc(p, n);
}
#define realloc text_realloc
#include "../../plugins/bigquery/bq_http.c"
#undef realloc
#include "../../plugins/bigquery/bq_jwt.c"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* bq_param_for() lives in bq_param.c; built in here with the query and
 * its HTTP paging (bq_query.c, bq_job.c), with the shared pull loop's
 * symbols from test_rowmap.c. */
#include "../../plugins/bigquery/bq_query.c"
#include "../../plugins/bigquery/bq_job.c"
#include "../../plugins/bigquery/bq_param.c"

/* The tables below leave the trailing fields of a row zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- cells ------------------------------------------------------------------------ */

struct cell_case {
	const char *type, *mode; /* mode "REPEATED" or NULL */
	const char *v;           /* the cell's "v" as JSON */
	int is_micros;
	hub_rc rc;
	enum rm_type rm;
	const char *text;        /* expected text (NULL: not checked) */
	int64_t sec;
	int32_t nsec;
	double f;
	int b;
	int is_null;
};

static const struct cell_case cells[] = {
	/* INT64: exact 64 bits, never through a double */
	{"INT64", NULL, "\"9007199254740993\"", 1, HUB_OK, RM_NUMBER, "9007199254740993"},
	{"INTEGER", NULL, "\"-9223372036854775808\"", 1, HUB_OK, RM_NUMBER, "-9223372036854775808"},
	{"INT64", NULL, "\"9223372036854775807\"", 1, HUB_OK, RM_NUMBER, "9223372036854775807"},
	{"INT64", NULL, "\"9223372036854775808\"", 1, HUB_ERR_INTERNAL},
	{"INT64", NULL, "\"12a\"", 1, HUB_ERR_INTERNAL},
	{"INT64", NULL, "12", 1, HUB_ERR_INTERNAL},
	{"INT64", NULL, "null", 1, HUB_OK, RM_NUMBER, NULL, .is_null = 1},
	/* FLOAT64, NUMERIC, BOOL */
	{"FLOAT64", NULL, "\"0.25\"", 1, HUB_OK, RM_FLOAT, "0.25", .f = 0.25},
	{"FLOAT", NULL, "\"-1.5E-7\"", 1, HUB_OK, RM_FLOAT, NULL, .f = -1.5e-7},
	{"FLOAT64", NULL, "\"Infinity\"", 1, HUB_OK, RM_FLOAT, NULL, .f = INFINITY},
	{"FLOAT64", NULL, "\"one\"", 1, HUB_ERR_INTERNAL},
	{"NUMERIC", NULL, "\"123.456789012345678901234567890\"", 1, HUB_OK, RM_NUMBER,
	 "123.456789012345678901234567890"},
	{"BIGNUMERIC", NULL, "\"-0.5\"", 1, HUB_OK, RM_NUMBER, "-0.5"},
	{"NUMERIC", NULL, "\"12,5\"", 1, HUB_ERR_INTERNAL},
	{"BOOLEAN", NULL, "\"true\"", 1, HUB_OK, RM_BOOL, NULL, .b = 1},
	{"BOOL", NULL, "\"false\"", 1, HUB_OK, RM_BOOL, NULL, .b = 0},
	{"BOOL", NULL, "\"yes\"", 1, HUB_ERR_INTERNAL},
	/* TIMESTAMP: float seconds (exponent form too), rounded to the microsecond */
	{"TIMESTAMP", NULL, "\"1767571200.123456\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1767571200,
	 123456000},
	{"TIMESTAMP", NULL, "\"1.767571200123E9\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1767571200,
	 123000000},
	{"TIMESTAMP", NULL, "\"1.7675712001234567E9\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1767571200,
	 123457000},
	{"TIMESTAMP", NULL, "\"1.767571200123456E9\"", 1, HUB_OK, RM_TIMESTAMP, NULL, 1767571200,
	 123456000},
	{"TIMESTAMP", NULL, "\"1.7675712E9\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1767571200, 0},
	{"TIMESTAMP", NULL, "\"1.0E-6\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 0, 1000},
	{"TIMESTAMP", NULL, "\"4.9E-7\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 0, 0},
	{"TIMESTAMP", NULL, "\"0.0\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 0, 0},
	{"TIMESTAMP", NULL, "\"-1.5\"", 0, HUB_OK, RM_TIMESTAMP, NULL, -2, 500000000},
	{"TIMESTAMP", NULL, "\"-6.21355968E10\"", 0, HUB_OK, RM_TIMESTAMP, NULL, -62135596800, 0},
	/* ... or int64 microseconds (formatOptions.useInt64Timestamp) */
	{"TIMESTAMP", NULL, "\"1767571200123456\"", 1, HUB_OK, RM_TIMESTAMP, NULL, 1767571200,
	 123456000},
	{"TIMESTAMP", NULL, "\"-1\"", 1, HUB_OK, RM_TIMESTAMP, NULL, -1, 999999000},
	{"TIMESTAMP", NULL, "\"1767571200\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1767571200, 0},
	{"TIMESTAMP", NULL, "\"1.7E\"", 0, HUB_ERR_INTERNAL},
	{"TIMESTAMP", NULL, "\"1.0E999\"", 0, HUB_ERR_INTERNAL},
	{"TIMESTAMP", NULL, "\"2026-01-01\"", 0, HUB_ERR_INTERNAL},
	/* DATE, DATETIME (as UTC), TIME, JSON, STRING, GEOGRAPHY */
	{"DATE", NULL, "\"2026-01-02\"", 1, HUB_OK, RM_TIMESTAMP, NULL, 1767312000, 0},
	{"DATETIME", NULL, "\"2026-01-02T03:04:05.123456\"", 1, HUB_OK, RM_TIMESTAMP, NULL,
	 1767323045, 123456000},
	{"DATE", NULL, "\"Jan 2\"", 1, HUB_ERR_INTERNAL},
	{"TIME", NULL, "\"03:04:05.5\"", 1, HUB_OK, RM_STRING, "03:04:05.5"},
	{"JSON", NULL, "\"{\\\"a\\\":[1,2]}\"", 1, HUB_OK, RM_JSON, "{\"a\":[1,2]}"},
	/* an integer past 64 bits in a JSON cell: kept (the hub reads it as a
	 * double), not refused as not JSON */
	{"JSON", NULL, "\"{\\\"id\\\":12345678901234567890}\"", 1, HUB_OK, RM_JSON,
	 "{\"id\":12345678901234567890}"},
	{"JSON", "REPEATED", "[{\"v\": \"{\\\"id\\\":-12345678901234567890}\"}]", 1, HUB_OK,
	 RM_JSON, "[{\"id\":-12345678901234567890}]"},
	{"STRING", NULL, "\"Zoë 🚀\"", 1, HUB_OK, RM_STRING, "Zoë 🚀"},
	/* BYTES: the base64 text, compared by its bytes as a cursor value */
	{"BYTES", NULL, "\"/A==\"", 1, HUB_OK, RM_BYTES, "/A=="},
	{"GEOGRAPHY", NULL, "\"POINT(8.25 47.5)\"", 1, HUB_OK, RM_STRING, "POINT(8.25 47.5)"},
	{"RANGE", NULL, "\"[2026-01-01, UNBOUNDED)\"", 1, HUB_OK, RM_STRING, NULL},
	{"STRING", NULL, "{\"f\": []}", 1, HUB_ERR_INTERNAL},
	/* REPEATED: a JSON array, values keeping their JSON types */
	{"STRING", "REPEATED", "[{\"v\": \"a\"}, {\"v\": \"é\\\"\"}]", 1, HUB_OK, RM_JSON,
	 "[\"a\",\"é\\\"\"]"},
	{"INT64", "REPEATED", "[{\"v\": \"1\"}, {\"v\": \"9007199254740993\"}]", 1, HUB_OK, RM_JSON,
	 "[1,9007199254740993]"},
	{"INT64", "REPEATED", "[]", 1, HUB_OK, RM_JSON, "[]"},
	{"INT64", "REPEATED", "null", 1, HUB_OK, RM_JSON, "[]"},
	{"FLOAT64", "REPEATED", "[{\"v\": \"NaN\"}, {\"v\": \"1.5\"}, {\"v\": null}]", 1, HUB_OK,
	 RM_JSON, "[null,1.5,null]"},
	{"TIMESTAMP", "REPEATED", "[{\"v\": \"1.767571200123E9\"}]", 0, HUB_OK, RM_JSON,
	 "[\"2026-01-05T00:00:00.123000Z\"]"},
	{"NUMERIC", "REPEATED", "[{\"v\": \"9.99\"}, {\"v\": \"1e2\"}]", 1, HUB_OK, RM_JSON,
	 "[9.99,1e2]"},
	{"BOOL", "REPEATED", "[{\"v\": \"true\"}]", 1, HUB_OK, RM_JSON, "[true]"},
	{"JSON", "REPEATED", "[{\"v\": \"{\\\"k\\\":null}\"}]", 1, HUB_OK, RM_JSON,
	 "[{\"k\":null}]"},
	{"JSON", "REPEATED", "[{\"v\": \"{bad\"}]", 1, HUB_ERR_INTERNAL},
	{"STRING", "REPEATED", "[\"a\"]", 1, HUB_ERR_INTERNAL},
	{"INT64", "REPEATED", "[{\"v\": \"x\"}]", 1, HUB_ERR_INTERNAL},
	{"FLOAT64", "REPEATED", "[{\"v\": \"x\"}]", 1, HUB_ERR_INTERNAL},
	{"FLOAT64", "REPEATED", "[{\"v\": \"\"}]", 1, HUB_ERR_INTERNAL},
	{"BOOL", "REPEATED", "[{\"v\": \"yes\"}]", 1, HUB_ERR_INTERNAL},
	{"TIMESTAMP", "REPEATED", "[{\"v\": \"soon\"}]", 0, HUB_ERR_INTERNAL},
	{"STRING", "REPEATED", "[{\"v\": 5}]", 1, HUB_ERR_INTERNAL},
	/* a FLOAT64 JSON cannot hold is null; a NUMERIC text that is no JSON
	 * number stays a string: the array stays JSON */
	{"FLOAT64", "REPEATED", "[{\"v\": \"1e999\"}, {\"v\": \"-Infinity\"}]", 1, HUB_OK, RM_JSON,
	 "[null,null]"},
	{"NUMERIC", "REPEATED", "[{\"v\": \"1.\"}, {\"v\": \"1,5\"}]", 1, HUB_OK, RM_JSON,
	 "[\"1.\",\"1,5\"]"},
	/* the schema's mode is read in any case */
	{"INT64", "repeated", "[{\"v\": \"7\"}]", 1, HUB_OK, RM_JSON, "[7]"},
	/* an empty text reads as no number, and JSON cells must be JSON */
	{"INT64", NULL, "\"\"", 1, HUB_ERR_INTERNAL},
	{"NUMERIC", NULL, "\"\"", 1, HUB_ERR_INTERNAL},
	{"FLOAT64", NULL, "\"\"", 1, HUB_ERR_INTERNAL},
	{"JSON", NULL, "\"{bad\"", 1, HUB_ERR_INTERNAL},
	/* TIMESTAMP float seconds: a '+', zeros after the point, half a
	 * microsecond rounded up, an exponent without a point (float seconds
	 * even with useInt64Timestamp); past int64 microseconds refused */
	{"TIMESTAMP", NULL, "\"+1.5\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1, 500000000},
	{"TIMESTAMP", NULL, "\"0.000123\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 0, 123000},
	{"TIMESTAMP", NULL, "\"1.7675712001234565E9\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 1767571200,
	 123457000},
	{"TIMESTAMP", NULL, "\"1E9\"", 1, HUB_OK, RM_TIMESTAMP, NULL, 1000000000, 0},
	{"TIMESTAMP", NULL, "\"9.99E11\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 999000000000, 0},
	{"TIMESTAMP", NULL, "\"1.0E12\"", 0, HUB_ERR_INTERNAL},
	{"TIMESTAMP", NULL, "\"9223372036854\"", 0, HUB_OK, RM_TIMESTAMP, NULL, 9223372036854, 0},
	{"TIMESTAMP", NULL, "\"9223372036855\"", 0, HUB_ERR_INTERNAL},
	{"TIMESTAMP", NULL, "\"-9223372036855\"", 0, HUB_ERR_INTERNAL},
};

static json_t *field_json(const char *type, const char *mode)
{
	json_t *f = json_pack("{s:s, s:s}", "name", "col", "type", type);
	if (mode)
		json_object_set_new(f, "mode", json_string(mode));
	return f;
}

static void test_cells_decode_every_type(void)
{
	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		const struct cell_case *c = &cells[i];
		json_t *schema = json_pack("[o]", field_json(c->type, c->mode));
		json_t *v = json_loads(c->v, JSON_DECODE_ANY, NULL);
		struct bq_field *f = NULL;
		size_t n = 0;
		struct rm_cell cell;
		struct bq_text scratch = {0};
		char err[256] = "";
		hub_rc rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		CU_ASSERT_FATAL(bq_schema_parse(schema, &f, &n, err, sizeof(err)) == 0);
		rc = bq_cell_decode(&f[0], v, c->is_micros, &cell, &scratch, err, sizeof(err));
		if (rc != c->rc)
			fprintf(stderr, "\ncell %zu (%s %s): rc %d, expected %d: %s\n", i, c->type,
				c->v, rc, c->rc, err);
		CU_ASSERT_EQUAL(rc, c->rc);
		if (rc == HUB_OK && c->rc == HUB_OK) {
			CU_ASSERT_EQUAL(bq_rm_type(&f[0]), c->rm);
			CU_ASSERT_EQUAL(cell.is_null, c->is_null);
			if (c->text && !(cell.text && strcmp(cell.text, c->text) == 0)) {
				fprintf(stderr, "\ncell %zu (%s %s): text %s, expected %s\n", i,
					c->type, c->v, cell.text ? cell.text : "(null)", c->text);
				CU_FAIL("cell text");
			}
			if (c->rm == RM_TIMESTAMP && (cell.sec != c->sec || cell.nsec != c->nsec)) {
				fprintf(stderr, "\ncell %zu (%s): %lld.%09d, expected %lld.%09d\n",
					i, c->v, (long long)cell.sec, cell.nsec, (long long)c->sec,
					c->nsec);
				CU_FAIL("cell instant");
			}
			if (c->rm == RM_FLOAT && isinf(c->f)) {
				CU_ASSERT(isinf(cell.f) && (cell.f > 0) == (c->f > 0));
			} else if (c->rm == RM_FLOAT && c->f != 0) {
				CU_ASSERT_DOUBLE_EQUAL(cell.f, c->f, fabs(c->f) * 1e-12);
			}
			if (c->rm == RM_BOOL)
				CU_ASSERT_EQUAL(cell.b, c->b);
		}
		if (rc != HUB_OK)
			CU_ASSERT(strstr(err, "column col") != NULL);
		free(scratch.p);
		bq_fields_free(f, n);
		json_decref(v);
		json_decref(schema);
	}
}

static void test_nan_is_a_float(void)
{
	json_t *schema = json_pack("[o]", field_json("FLOAT64", NULL)), *v = json_string("NaN");
	struct bq_field *f;
	size_t n;
	struct rm_cell cell;
	struct bq_text scratch = {0};
	char err[128];

	CU_ASSERT_FATAL(bq_schema_parse(schema, &f, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(bq_cell_decode(&f[0], v, 1, &cell, &scratch, err, sizeof(err)), HUB_OK);
	CU_ASSERT(isnan(cell.f));
	bq_fields_free(f, n);
	json_decref(v);
	json_decref(schema);
}

/* A RECORD with a nested RECORD and a REPEATED RECORD of it. */
static const char record_schema[] =
	"[{\"name\": \"address\", \"type\": \"RECORD\", \"fields\": ["
	"   {\"name\": \"city\", \"type\": \"STRING\"}, {\"name\": \"zip\", \"type\": \"STRING\"},"
	"   {\"name\": \"geo\", \"type\": \"RECORD\", \"fields\": ["
	"     {\"name\": \"lat\", \"type\": \"FLOAT\"}, {\"name\": \"lon\", \"type\": \"FLOAT\"}]},"
	"   {\"name\": \"seen\", \"type\": \"TIMESTAMP\", \"mode\": \"REPEATED\"}]},"
	" {\"name\": \"items\", \"type\": \"RECORD\", \"mode\": \"REPEATED\", \"fields\": ["
	"   {\"name\": \"sku\", \"type\": \"STRING\"}, {\"name\": \"qty\", \"type\": "
	"\"INTEGER\"}]}]";

static void test_record_and_repeated_record_are_json(void)
{
	json_t *schema = json_loads(record_schema, 0, NULL);
	json_t *addr = json_loads("{\"f\": [{\"v\": \"Zürich\"}, {\"v\": null}, {\"v\": {\"f\": "
				  "[{\"v\": \"47.5\"}, {\"v\": \"8.25\"}]}}, {\"v\": [{\"v\": "
				  "\"1767571200123456\"}]}]}", 0, NULL);
	json_t *items = json_loads("[{\"v\": {\"f\": [{\"v\": \"s1\"}, {\"v\": \"2\"}]}},"
				   " {\"v\": {\"f\": [{\"v\": null}, {\"v\": \"-3\"}]}}]", 0, NULL);
	json_t *bad = json_loads("{\"f\": [{\"v\": \"only one\"}]}", 0, NULL);
	struct bq_field *f;
	size_t n;
	struct rm_cell cell;
	struct bq_text scratch = {0};
	char err[256];

	CU_ASSERT_FATAL(schema && addr && items && bad);
	CU_ASSERT_FATAL(bq_schema_parse(schema, &f, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(f[0].n_fields, 4);
	CU_ASSERT_EQUAL(f[0].fields[2].type, BQ_T_RECORD);
	CU_ASSERT_EQUAL(bq_rm_type(&f[0]), RM_JSON);
	CU_ASSERT_EQUAL(bq_rm_type(&f[1]), RM_JSON);

	CU_ASSERT_EQUAL(bq_cell_decode(&f[0], addr, 1, &cell, &scratch, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(cell.text,
			       "{\"city\":\"Zürich\",\"zip\":null,\"geo\":{\"lat\":47.5,"
			       "\"lon\":8.25},\"seen\":[\"2026-01-05T00:00:00.123456Z\"]}");
	CU_ASSERT_EQUAL(bq_cell_decode(&f[1], items, 1, &cell, &scratch, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(cell.text, "[{\"sku\":\"s1\",\"qty\":2},{\"sku\":null,\"qty\":-3}]");
	CU_ASSERT_EQUAL(bq_cell_decode(&f[0], json_null(), 1, &cell, &scratch, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT(cell.is_null);
	CU_ASSERT_EQUAL(bq_cell_decode(&f[0], bad, 1, &cell, &scratch, err, sizeof(err)),
			HUB_ERR_INTERNAL);
	CU_ASSERT(strstr(err, "column address") != NULL);

	free(scratch.p);
	bq_fields_free(f, n);
	json_decref(bad);
	json_decref(items);
	json_decref(addr);
	json_decref(schema);
}

static void test_schema_refusals(void)
{
	const char *bad[] = {"[]", "{}", "[{\"name\": \"r\", \"type\": \"RECORD\"}]",
			     "[{\"name\": \"r\", \"type\": \"RECORD\", \"fields\": []}]"};
	struct bq_field *f;
	size_t n;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		err[0] = '\0';
		CU_ASSERT_EQUAL(bq_schema_parse(j, &f, &n, err, sizeof(err)), -1);
		CU_ASSERT(err[0] != '\0');
		json_decref(j);
	}
	CU_ASSERT_EQUAL(bq_type_of("integer"), BQ_T_INT64);
	CU_ASSERT_EQUAL(bq_type_of("STRUCT"), BQ_T_RECORD);
	CU_ASSERT_EQUAL(bq_type_of("INTERVAL"), BQ_T_OTHER);
}

/* A cell that does not read as its column's type (a RECORD with more or
 * fewer cells than fields too) is refused naming the column, the text
 * (when it has one) and the type. */
static void test_cell_refusal_names_column_text_and_type(void)
{
	static const struct {
		const char *schema, *v, *message;
	} rows[] = {
		{"[{\"name\": \"n\", \"type\": \"INT64\"}]", "\"12a\"",
		 "column n: \"12a\" does not read as INT64"},
		{"[{\"name\": \"n\", \"type\": \"INT64\", \"mode\": \"REPEATED\"}]", "{}",
		 "column n: a cell that is not a REPEATED INT64 value"},
		{"[{\"name\": \"r\", \"type\": \"RECORD\", \"fields\": [{\"name\": \"a\", "
		 "\"type\": \"STRING\"}]}]", "\"text\"",
		 "column r: a cell that is not a STRUCT value"},
		/* more cells than the RECORD has fields, as fewer */
		{"[{\"name\": \"r\", \"type\": \"RECORD\", \"fields\": [{\"name\": \"a\", "
		 "\"type\": \"STRING\"}]}]", "{\"f\": [{\"v\": \"x\"}, {\"v\": \"y\"}]}",
		 "column r: a cell that is not a STRUCT value"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *schema = json_loads(rows[i].schema, 0, NULL);
		json_t *v = json_loads(rows[i].v, JSON_DECODE_ANY, NULL);
		struct bq_field *f = NULL;
		size_t n = 0;
		struct rm_cell cell;
		struct bq_text scratch = {0};
		char err[256] = "";

		CU_ASSERT_FATAL(schema && v);
		CU_ASSERT_FATAL(bq_schema_parse(schema, &f, &n, err, sizeof(err)) == 0);
		CU_ASSERT_EQUAL(bq_cell_decode(&f[0], v, 1, &cell, &scratch, err, sizeof(err)),
				HUB_ERR_INTERNAL);
		CU_ASSERT_STRING_EQUAL(err, rows[i].message);
		free(scratch.p);
		bq_fields_free(f, n);
		json_decref(v);
		json_decref(schema);
	}
}

/* `levels` RECORDs nested (REPEATED when is_repeated), a STRING inside:
 * the schema and a cell of it (malloc'd). */
static void nested_schema(size_t levels, int is_repeated, char **schema, char **cell)
{
	struct bq_text s = {0}, c = {0};

	for (size_t i = 0; i < levels; i++) {
		bq_text_puts(&s, "[{\"name\": \"r\", \"type\": \"RECORD\", ");
		bq_text_puts(&s, is_repeated ? "\"mode\": \"REPEATED\", \"fields\": "
					     : "\"fields\": ");
		bq_text_puts(&c, is_repeated ? "[{\"v\": {\"f\": [{\"v\": " : "{\"f\": [{\"v\": ");
	}
	bq_text_puts(&s, "[{\"name\": \"s\", \"type\": \"STRING\"}]");
	bq_text_puts(&c, "\"deep\"");
	for (size_t i = 0; i < levels; i++) {
		bq_text_puts(&s, "}]");
		bq_text_puts(&c, is_repeated ? "}]}}]" : "}]}");
	}
	*schema = s.p;
	*cell = c.p;
}

/* RECORDs nest 32 levels at most (BigQuery allows 15): a deeper schema is
 * refused, and so is a cell nested deeper than that in REPEATED RECORDs;
 * BigQuery's 15 levels of REPEATED RECORD read. */
static void test_schema_and_cells_nest_32_levels_at_most(void)
{
	static const struct {
		size_t levels;
		int is_repeated, is_schema_read, is_cell_read;
	} rows[] = {
		{32, 0, 1, 1}, {33, 0, 0, 0}, {15, 1, 1, 1}, {17, 1, 1, 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *schema_text, *cell_text, err[256] = "";
		json_t *schema, *v;
		struct bq_field *f = NULL;
		size_t n = 0;
		struct rm_cell cell;
		struct bq_text scratch = {0};

		nested_schema(rows[i].levels, rows[i].is_repeated, &schema_text, &cell_text);
		schema = json_loads(schema_text, 0, NULL);
		v = json_loads(cell_text, 0, NULL);
		CU_ASSERT_FATAL(schema && v);
		CU_ASSERT_EQUAL(bq_schema_parse(schema, &f, &n, err, sizeof(err)) == 0,
				rows[i].is_schema_read);
		if (f)
			CU_ASSERT_EQUAL(bq_cell_decode(&f[0], v, 1, &cell, &scratch, err,
						       sizeof(err)) == HUB_OK,
					rows[i].is_cell_read);
		if (f && rows[i].is_cell_read)
			CU_ASSERT_PTR_NOT_NULL(strstr(cell.text, "\"s\":\"deep\""));
		free(scratch.p);
		bq_fields_free(f, n);
		json_decref(v);
		json_decref(schema);
		free(cell_text);
		free(schema_text);
	}
}

/* ---- the error envelope --------------------------------------------------------------- */

struct envelope_case {
	long status;
	const char *body, *retry_after;
	hub_rc rc;
	const char *message; /* a prefix of err */
};

#define ENV(code, reason, msg)                                                              \
	"{\"error\": {\"code\": " #code ", \"message\": \"" msg "\", "                      \
	"\"errors\": [{\"message\": \""                                                     \
	msg "\", \"domain\": \"global\", \"reason\": \"" reason "\"}], \"status\": \"X\"}}"

static const struct envelope_case envelopes[] = {
	{400, ENV(400, "invalidQuery", "Unrecognized name: colour at [1:8]"), "", HUB_ERR_CONFIG,
	 "BigQuery invalidQuery (HTTP 400): Unrecognized name: colour at [1:8]"},
	{400, ENV(400, "invalid", "Invalid timestamp: 'x'"), "", HUB_ERR_CONFIG,
	 "BigQuery invalid (HTTP 400): Invalid timestamp"},
	{404, ENV(404, "notFound", "Not found: Table p:d.t was not found in location EU"), "",
	 HUB_ERR_CONFIG, "BigQuery notFound (HTTP 404): Not found: Table p:d.t was not found in "
	 "location EU (check project"},
	{403, ENV(403, "accessDenied", "Access Denied: Table p:d.t"), "", HUB_ERR_AUTH,
	 "BigQuery accessDenied (HTTP 403): Access Denied: Table p:d.t (the credentials need"},
	{401, ENV(401, "authError", "Request had invalid authentication credentials."), "",
	 HUB_ERR_AUTH, "BigQuery authError (HTTP 401)"},
	{403, ENV(403, "rateLimitExceeded", "Exceeded rate limits"), "", HUB_RETRY,
	 "BigQuery rateLimitExceeded (HTTP 403): Exceeded rate limits"},
	/* a longer-term quota (Google: wait 10 minutes or longer): the run ends,
	 * the next after 600 s, or after a longer Retry-After */
	{403, ENV(403, "quotaExceeded", "Quota exceeded"), "", HUB_ERR_BUSY,
	 "retry after 600s: BigQuery quotaExceeded (HTTP 403): Quota exceeded (a longer-term "
	 "quota: the run ends"},
	{403, ENV(403, "quotaExceeded", "Quota exceeded"), "30", HUB_ERR_BUSY,
	 "retry after 600s: BigQuery quotaExceeded"},
	{403, ENV(403, "quotaExceeded", "Quota exceeded"), "900", HUB_ERR_BUSY,
	 "retry after 900s: BigQuery quotaExceeded"},
	{429, ENV(429, "rateLimitExceeded", "Too many"), "7", HUB_RETRY,
	 "retry after 7s: BigQuery rateLimitExceeded (HTTP 429): Too many"},
	{500, ENV(500, "backendError", "Error encountered\\nduring execution"), "", HUB_RETRY,
	 "BigQuery backendError (HTTP 500): Error encountered during execution"},
	{400, ENV(400, "backendError", "Retrying may solve the problem."), "", HUB_RETRY,
	 "BigQuery backendError (HTTP 400)"},
	{503, "<html>Service Unavailable</html>", "30", HUB_RETRY,
	 "retry after 30s: BigQuery HTTP 503: (no message)"},
	{429, "", "", HUB_RETRY, "BigQuery HTTP 429: (no message)"},
	{408, NULL, NULL, HUB_RETRY, "BigQuery HTTP 408"},
	{501, "{}", "", HUB_ERR_INTERNAL, "BigQuery HTTP 501"},
	{418, "{\"error\": \"teapot\"}", "", HUB_ERR_CONFIG, "BigQuery HTTP 418: teapot"},
	{400, ENV(400, "invalidQuery", "x"), "9", HUB_ERR_CONFIG, "BigQuery invalidQuery"},
	{302, "", "", HUB_ERR_INTERNAL, "BigQuery HTTP 302"},
	/* every reason of the table decides against a status that says otherwise */
	{400, ENV(400, "internalError", "x"), "", HUB_RETRY, "BigQuery internalError (HTTP 400)"},
	{400, ENV(400, "jobBackendError", "x"), "", HUB_RETRY, "BigQuery jobBackendError"},
	{400, ENV(400, "jobInternalError", "x"), "", HUB_RETRY, "BigQuery jobInternalError"},
	{400, ENV(400, "tableUnavailable", "x"), "", HUB_RETRY, "BigQuery tableUnavailable"},
	{400, ENV(400, "forbidden", "x"), "", HUB_ERR_AUTH,
	 "BigQuery forbidden (HTTP 400): x (the"},
	{400, ENV(400, "unauthorized", "x"), "", HUB_ERR_AUTH, "BigQuery unauthorized"},
	{403, ENV(403, "billingNotEnabled", "x"), "", HUB_ERR_CONFIG, "BigQuery billingNotEnabled"},
	{403, ENV(403, "responseTooLarge", "x"), "", HUB_ERR_CONFIG, "BigQuery responseTooLarge"},
	{500, ENV(500, "invalidParameter", "x"), "", HUB_ERR_CONFIG, "BigQuery invalidParameter"},
	{500, ENV(500, "resourcesExceeded", "x"), "", HUB_ERR_CONFIG, "BigQuery resourcesExceeded"},
	/* BigQuery's error table: 403 blocked is a temporary denylisting, not
	 * credentials (it disabled the source); 400 jobRateLimitExceeded a
	 * table's rate for now; 501 notImplemented a feature the query uses */
	{403, ENV(403, "blocked", "x"), "", HUB_RETRY, "BigQuery blocked (HTTP 403): x"},
	{403, ENV(403, "blocked", "x"), "20", HUB_RETRY, "retry after 20s: BigQuery blocked"},
	{400, ENV(400, "jobRateLimitExceeded", "x"), "", HUB_RETRY,
	 "BigQuery jobRateLimitExceeded (HTTP 400)"},
	{501, ENV(501, "notImplemented", "x"), "", HUB_ERR_CONFIG, "BigQuery notImplemented"},
	{400, ENV(400, "timeout", "x"), "", HUB_ERR_CONFIG, "BigQuery timeout (HTTP 400): x"},
	/* without a reason, the status: every bound of its ranges */
	{500, "", "", HUB_RETRY, "BigQuery HTTP 500: (no message)"},
	{401, "", "", HUB_ERR_AUTH, "BigQuery HTTP 401: (no message) (the credentials need"},
	{403, "{}", "", HUB_ERR_AUTH, "BigQuery HTTP 403: (no message) (the credentials need"},
	{400, "{}", "", HUB_ERR_CONFIG, "BigQuery HTTP 400: (no message)"},
	{499, "{}", "", HUB_ERR_CONFIG, "BigQuery HTTP 499"},
	/* one line: a CR is a space as a LF is */
	{400, ENV(400, "invalid", "a\\r\\nb"), "", HUB_ERR_CONFIG,
	 "BigQuery invalid (HTTP 400): a  b"},
};

static void test_error_envelope_decides_the_code(void)
{
	char err[1024], reason[64];

	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		const struct envelope_case *c = &envelopes[i];
		hub_rc rc = bq_error_decode(c->status, c->body, c->retry_after, err, sizeof(err));
		if (rc != c->rc || strncmp(err, c->message, strlen(c->message)) != 0) {
			fprintf(stderr, "\nenvelope %zu: rc %d \"%s\", expected %d \"%s\"\n", i, rc,
				err, c->rc, c->message);
			CU_FAIL("envelope");
		}
		CU_ASSERT(strchr(err, '\n') == NULL);
	}
	CU_ASSERT_STRING_EQUAL(bq_error_reason(ENV(404, "notFound", "x"), reason, sizeof(reason)),
			       "notFound");
	CU_ASSERT_STRING_EQUAL(bq_error_reason("nope", reason, sizeof(reason)), "");
	CU_ASSERT_STRING_EQUAL(bq_error_reason(NULL, reason, sizeof(reason)), "");
}

/* 1 when s is valid UTF-8: jansson's json_string() refuses anything else. */
static int is_json_text(const char *s)
{
	json_t *j = json_string(s);
	int ok = j != NULL;

	json_decref(j);
	return ok;
}

/* Checks one decoded message: valid UTF-8, no '?' of a repair (the cut was
 * at a character boundary), and `text` cut to at most max bytes, whole
 * characters, after "<head>". */
static void check_cut(const char *err, const char *head, const char *text, size_t max)
{
	const char *got = strstr(err, head);
	size_t n;

	CU_ASSERT(is_json_text(err));
	CU_ASSERT_PTR_NULL(strchr(err, '?'));
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	got += strlen(head);
	n = strcspn(got, " "); /* the texts below have no space */
	CU_ASSERT(n <= max && n + 3 >= max);
	CU_ASSERT(strncmp(got, text, n) == 0);
}

/* k 'm's, then `wide` until at least min bytes. */
static void fill_wide(char *buf, size_t k, const char *wide, size_t min)
{
	size_t len = k;

	memset(buf, 'm', k);
	for (; len < min; len += strlen(wide))
		memcpy(buf + len, wide, strlen(wide));
	buf[len] = '\0';
}

/*
 * The envelope's message is cut at 600 bytes and its reason at 60 at a
 * character boundary: they were cut by bytes ("%.600s"), mid-character, and
 * the error was no longer valid UTF-8 (json_string() of it NULL).  A
 * buffer too small for the whole line cuts it mid-character too: repaired.
 */
static void test_error_text_is_cut_between_characters(void)
{
	static const char *const wide[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x9a\x80"};
	char msg[1024], reason[128], body[2048], err[1024];

	for (size_t w = 0; w < sizeof(wide) / sizeof(wide[0]); w++) {
		for (size_t k = 0; k < 4; k++) { /* the cuts fall at each byte of a character */
			fill_wide(msg, k, wide[w], 700);
			fill_wide(reason, k, wide[w], 100);
			snprintf(body, sizeof(body),
				 "{\"error\": {\"code\": 400, \"message\": \"%s\", "
				 "\"errors\": [{\"reason\": \"%s\"}]}}", msg, reason);
			CU_ASSERT_EQUAL(bq_error_decode(400, body, "", err, sizeof(err)),
					HUB_ERR_CONFIG);
			check_cut(err, "BigQuery ", reason, 60);
			check_cut(err, " (HTTP 400): ", msg, 600);
		}
	}
	/* err itself too small: "BigQuery HTTP 400: " and half an "é" */
	CU_ASSERT_EQUAL(bq_error_decode(400, "{\"error\": {\"message\": \"\xc3\xa9\xc3\xa9\"}}", "",
					err, strlen("BigQuery HTTP 400: ") + 2), HUB_ERR_CONFIG);
	CU_ASSERT(is_json_text(err));
	CU_ASSERT_STRING_EQUAL(err, "BigQuery HTTP 400: ?");
}

/* Retry-After: its value after optional spaces or tabs (the OWS of RFC
 * 9110); a tab before it lost the value.  An HTTP date in the past: wait
 * no longer (an HTTP date was not read at all). */
static void test_retry_after_header_skips_spaces_and_tabs(void)
{
	static const struct {
		const char *line, *value;
	} cases[] = {
		{"Retry-After: 30\r\n", "30"},
		{"retry-after:7\r\n", "7"},
		{"Retry-After:\t7\r\n", "7"},
		{"RETRY-AFTER: \t \t120\r\n", "120"},
		{"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", "0"},
		{"Retry-After: soon\r\n", ""},
		{"Retry-After-X: 5\r\n", ""},
		{"X-Retry-After: 5\r\n", ""},
		{"Retry-After;3\r\n", ""},
		{"Retry-After: 9\r\n", "9"},
		{"Retry-After: 1234567890123456789012345678901234567890\r\n",
		 "9223372036854775807"}, /* LONG_MAX: capped where it is waited */
	};
	struct bq_http h;
	char line[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&h, 0, sizeof(h));
		snprintf(line, sizeof(line), "%s", cases[i].line);
		CU_ASSERT_EQUAL(on_header(line, 1, strlen(line), &h), strlen(line));
		if (strcmp(h.retry_after, cases[i].value) != 0) {
			fprintf(stderr, "\nheader \"%s\": \"%s\", expected \"%s\"\n", cases[i].line,
				h.retry_after, cases[i].value);
			CU_FAIL("Retry-After");
		}
	}
}

/* An HTTP date an hour ahead asks for an hour (RFC 9110 10.2.3), as
 * BigQuery's front ends may send it; it was dropped, and the poll retried
 * at once against a 503 that had asked for patience. */
static void test_retry_after_header_reads_an_http_date(void)
{
	time_t at = time(NULL) + 3600;
	char line[128], date[64];
	struct bq_http h;
	long got;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&at));
	snprintf(line, sizeof(line), "Retry-After: %s\r\n", date);
	memset(&h, 0, sizeof(h));
	CU_ASSERT_EQUAL(on_header(line, 1, strlen(line), &h), strlen(line));
	got = strtol(h.retry_after, NULL, 10);
	CU_ASSERT(got > 3500 && got <= 3600);
	/* capped as delta-seconds are: GET_RETRY_AFTER_MAX_S at most */
	CU_ASSERT_EQUAL(retry_wait_ms(0, GET_RETRY_FIRST_MS, h.retry_after,
				      GET_RETRY_AFTER_MAX_S), got * 1000);
	snprintf(line, sizeof(line), "Retry-After: Fri, 01 Jan 2100 00:00:00 GMT\r\n");
	CU_ASSERT_EQUAL(on_header(line, 1, strlen(line), &h), strlen(line));
	CU_ASSERT_EQUAL(retry_wait_ms(0, GET_RETRY_FIRST_MS, h.retry_after,
				      GET_RETRY_AFTER_MAX_S), GET_RETRY_AFTER_MAX_S * 1000L);
}

/* The shared reader, against a fixed clock: the three date forms RFC 9110
 * has recipients read, delta-seconds, and what is neither. */
static void test_retry_after_line_reads_both_forms(void)
{
	static const struct {
		const char *line;
		long seconds;
	} rows[] = {
		{"Retry-After: 120\r\n", 120},
		{"Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 37},
		{"Retry-After: Sunday, 06-Nov-94 08:49:37 GMT\r\n", 37},
		{"Retry-After: Sun Nov  6 08:49:37 1994\r\n", 37},
		{"retry-after:\tSun, 06 Nov 1994 08:51:00 GMT\r\n", 120},
		{"Retry-After: Sun, 06 Nov 1994 08:48:00 GMT\r\n", 0}, /* past */
		{"Retry-After: \r\n", RETRY_AFTER_UNREAD},
		{"Retry-After: later\r\n", RETRY_AFTER_UNREAD},
		{"Content-Type: text/plain\r\n", RETRY_AFTER_NOT_IT},
	};
	const time_t now = 784111740; /* 1994-11-06T08:49:00Z */
	char line[160];

	/* a value of 128 bytes (OWS, 125 digits, CRLF), one more than the
	 * reader's buffer holds with its NUL: cut inside it (the CR), read as
	 * 7; an ASan build sees a write past the buffer if it is not cut */
	snprintf(line, sizeof(line), "Retry-After: %0125d\r\n", 7);
	CU_ASSERT_EQUAL(strlen(line) - strlen("Retry-After:"), 128);
	CU_ASSERT_EQUAL(retry_after_line(line, strlen(line), now), 7);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long got = retry_after_line(rows[i].line, strlen(rows[i].line), now);
		if (got != rows[i].seconds) {
			fprintf(stderr, "\n\"%s\": %ld, expected %ld\n", rows[i].line, got,
				rows[i].seconds);
			CU_FAIL("retry_after_line");
		}
	}
}

/* ---- the @cursor parameter --------------------------------------------------------------- */

struct param_case {
	const char *type, *param; /* type NULL: guessed */
	int rc;
	const char *type_out, *value;
};

static const struct param_case params[] = {
	{NULL, NULL, 0, "TIMESTAMP", "0001-01-01 00:00:00.000000+00:00"}, /* the first time */
	{NULL, "2026-01-01T00:22:00.123456789Z", 0, "TIMESTAMP",
	 "2026-01-01 00:22:00.123456+00:00"},
	{NULL, "2026-01-01 02:00:00+02:00", 0, "TIMESTAMP", "2026-01-01 00:00:00.000000+00:00"},
	{NULL, "1969-12-31T23:59:59.5Z", 0, "TIMESTAMP", "1969-12-31 23:59:59.500000+00:00"},
	{NULL, "42", 0, "INT64", "42"},
	{NULL, "-9223372036854775808", 0, "INT64", "-9223372036854775808"},
	{NULL, "12.50", 0, "NUMERIC", "12.50"},
	{NULL, "u1", 0, "STRING", "u1"},
	{NULL, "inf", 0, "STRING", "inf"},
	{NULL, "", 0, "STRING", ""},
	{"INT64", NULL, 0, "INT64", "0"},
	{"int64", "30", 0, "INT64", "30"},
	{"INTEGER", "2026-01-01", -1},
	{"STRING", NULL, 0, "STRING", ""},
	{"STRING", "2026-01-01T00:00:00Z", 0, "STRING", "2026-01-01T00:00:00Z"},
	{"DATE", "2026-01-05T00:00:00.000000000Z", 0, "DATE", "2026-01-05"},
	{"DATETIME", "2026-01-05T10:11:12.345678901Z", 0, "DATETIME", "2026-01-05 10:11:12.345678"},
	{"TIMESTAMP", "1767571200", 0, "TIMESTAMP", "2026-01-05 00:00:00.000000+00:00"},
	{"TIMESTAMP", "yesterday", -1},
	{"FLOAT64", "0.5", 0, "FLOAT64", "0.5"},
	{"NUMERIC", "1,5", -1},
	{"BOOL", "true", -1},
	{"GEOGRAPHY", NULL, -1},
};

static void test_cursor_parameter_is_typed(void)
{
	char type[16], value[128], err[256];

	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const struct param_case *c = &params[i];
		int rc = bq_param_for(c->type, c->param, type, sizeof(type), value, sizeof(value),
				      err, sizeof(err));
		CU_ASSERT_EQUAL(rc, c->rc);
		if (rc == 0 && c->rc == 0 &&
		    (strcmp(type, c->type_out) != 0 || strcmp(value, c->value) != 0)) {
			fprintf(stderr, "\nparam %zu: %s \"%s\", expected %s \"%s\"\n", i, type,
				value, c->type_out, c->value);
			CU_FAIL("param");
		}
		if (rc != 0)
			CU_ASSERT(strstr(err, "cursor") != NULL);
	}
}

/* ---- the service-account JWT ----------------------------------------------------------------- */

/* A key file's JSON for key, its token_uri `uri`. */
static char *key_json_at(EVP_PKEY *key, const char *type, const char *uri)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, *out;
	long n;
	json_t *j;

	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &pem);
	j = json_pack("{s:s, s:s, s:s#, s:s, s:s}", "type", type, "private_key_id", "kid-1",
		      "private_key", pem, (size_t)n, "client_email",
		      "loader@proj.iam.gserviceaccount.com", "token_uri", uri);
	out = json_dumps(j, 0);
	json_decref(j);
	BIO_free(bio);
	return out;
}

static char *key_json(EVP_PKEY *key, const char *type)
{
	return key_json_at(key, type, "http://127.0.0.1:9/token");
}

static json_t *b64url_part(const char *s, size_t n)
{
	char *b = malloc(n + 4);
	unsigned char *raw = malloc(n + 4);
	size_t k = 0;
	int len;
	json_t *j;

	for (size_t i = 0; i < n; i++)
		b[k++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (k % 4)
		b[k++] = '=';
	len = EVP_DecodeBlock(raw, (unsigned char *)b, (int)k);
	while (len > 0 && raw[len - 1] == '\0')
		len--;
	j = len > 0 ? json_loadb((const char *)raw, (size_t)len, 0, NULL) : NULL;
	free(raw);
	free(b);
	return j;
}

static void test_jwt_claims_and_signature(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *json = key_json(key, "service_account"), err[256];
	struct bq_sa_key *k = NULL;
	char *jwt, *dot1, *dot2;
	json_t *header, *claims;
	unsigned char sig[512];
	int sig_len;
	EVP_MD_CTX *ctx;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	CU_ASSERT_EQUAL_FATAL(bq_sa_key_parse(json, &k, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(bq_sa_key_email(k), "loader@proj.iam.gserviceaccount.com");
	CU_ASSERT_STRING_EQUAL(bq_sa_key_token_uri(k), "http://127.0.0.1:9/token");
	jwt = bq_jwt_assertion(k, BQ_SCOPE, 1767225600);
	CU_ASSERT_PTR_NOT_NULL_FATAL(jwt);
	dot1 = strchr(jwt, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(dot2);
	header = b64url_part(jwt, (size_t)(dot1 - jwt));
	claims = b64url_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	CU_ASSERT_PTR_NOT_NULL_FATAL(header);
	CU_ASSERT_PTR_NOT_NULL_FATAL(claims);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(header, "alg")), "RS256");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(header, "kid")), "kid-1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "iss")),
			       "loader@proj.iam.gserviceaccount.com");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "scope")),
			       "https://www.googleapis.com/auth/bigquery");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "aud")),
			       "http://127.0.0.1:9/token");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "iat")), 1767225600);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "exp")), 1767225600 + 3600);
	CU_ASSERT_EQUAL(json_object_size(claims), 5);

	/* RS256 over "header.claims", verified with the public half */
	{
		char *b = strdup(dot2 + 1);
		size_t n = strlen(b), k4;
		char *p = malloc(n + 4);
		for (k4 = 0; k4 < n; k4++)
			p[k4] = b[k4] == '-' ? '+' : b[k4] == '_' ? '/' : b[k4];
		while (k4 % 4)
			p[k4++] = '=';
		sig_len = EVP_DecodeBlock(sig, (unsigned char *)p, (int)k4);
		sig_len -= (int)(k4 - n); /* the padding decoded as zero bytes */
		free(p);
		free(b);
	}
	ctx = EVP_MD_CTX_new();
	CU_ASSERT_EQUAL(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	CU_ASSERT_EQUAL(EVP_DigestVerify(ctx, sig, (size_t)sig_len, (const unsigned char *)jwt,
					 (size_t)(dot2 - jwt)), 1);
	EVP_MD_CTX_free(ctx);

	json_decref(header);
	json_decref(claims);
	free(jwt);
	bq_sa_key_free(k);
	free(json);
	EVP_PKEY_free(key);
}

static void test_key_file_refusals_name_no_secret(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *user_key = key_json(key, "authorized_user"), err[256];
	struct bq_sa_key *k = NULL;
	const char *bad[] = {
		"nope", "[]", "{\"type\": \"service_account\", \"private_key\": \"x\"}",
		"{\"client_email\": \"a@b\", \"private_key\": \"-----BEGIN PRIVATE KEY-----"
		"\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}"};

	CU_ASSERT_EQUAL(bq_sa_key_parse(user_key, &k, err, sizeof(err)), -1);
	CU_ASSERT(strstr(err, "not service_account") != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(bq_sa_key_parse(bad[i], &k, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NULL(k);
		CU_ASSERT(strstr(err, "AAAA") == NULL && strstr(err, "BEGIN") == NULL);
	}
	CU_ASSERT_EQUAL(bq_sa_key_load("/nonexistent/key.json", &k, err, sizeof(err)), -1);
	CU_ASSERT(strstr(err, "credentials_file: cannot read /nonexistent/key.json") != NULL);
	/* the key itself given for its path ("${BQ_KEY_JSON}"): refused, not
	 * quoted (the message printed the "path", the private key in it) */
	CU_ASSERT_EQUAL(bq_sa_key_load(user_key, &k, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "credentials_file: holds what looks like the key itself, not "
				    "the path of a file holding it (the value is not shown)");
	CU_ASSERT_EQUAL(bq_sa_key_load("-----BEGIN PRIVATE KEY-----MIIEvQ", &k, err, sizeof(err)),
			-1);
	CU_ASSERT(strstr(err, "MIIEvQ") == NULL);
	free(user_key);
	EVP_PKEY_free(key);
}

/* The JWT is three base64url parts without padding (RFC 7515), its
 * header {"alg": "RS256", "typ": "JWT", "kid"}. */
static void test_jwt_is_base64url_without_padding(void)
{
	static const char b64url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789-_.";
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *json = key_json(key, "service_account"), *jwt = NULL, err[256];
	struct bq_sa_key *k = NULL;
	json_t *header = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	CU_ASSERT_EQUAL_FATAL(bq_sa_key_parse(json, &k, err, sizeof(err)), 0);
	/* scopes of other lengths: the parts end at every padding length */
	for (size_t i = 0; i < 3; i++) {
		char scope[64];

		snprintf(scope, sizeof(scope), "%s%.*s", BQ_SCOPE, (int)i, "xx");
		jwt = bq_jwt_assertion(k, scope, 1767225600);
		CU_ASSERT_PTR_NOT_NULL_FATAL(jwt);
		CU_ASSERT_EQUAL(strspn(jwt, b64url_chars), strlen(jwt));
		free(jwt);
	}
	jwt = bq_jwt_assertion(k, BQ_SCOPE, 1767225600);
	CU_ASSERT_PTR_NOT_NULL_FATAL(jwt);
	header = b64url_part(jwt, strcspn(jwt, "."));
	CU_ASSERT_PTR_NOT_NULL_FATAL(header);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(header, "typ")), "JWT");
	CU_ASSERT_EQUAL(json_object_size(header), 3);
	json_decref(header);
	free(jwt);
	bq_sa_key_free(k);
	free(json);
	EVP_PKEY_free(key);
}

/* A key file's fields: client_email and private_key (RSA) required and
 * named when missing, type optional (but service_account when given),
 * token_uri an http(s) URL (its scheme in any case; Google's when
 * missing), a key repeated
 * refused (which of the two would be used?). */
static void test_jwt_key_fields_are_checked_naming_the_field(void)
{
	enum { KEEP, DROP, SET, REPEAT };
	static const struct {
		int how; /* with field and value */
		const char *field, *value;
		int is_ec;
		const char *refusal; /* NULL: read */
	} rows[] = {
		{DROP, "private_key", NULL, 0, "private_key missing"},
		{DROP, "client_email", NULL, 0, "client_email missing"},
		{SET, "client_email", "", 0, "client_email missing"},
		{SET, "token_uri", "ftp://127.0.0.1/token", 0, "token_uri is not an http(s) URL"},
		{SET, "token_uri", "HTTPS://oauth2.example.com/token", 0, NULL}, /* any case */
		{SET, "token_uri", "Http://127.0.0.1/token", 0, NULL},
		{KEEP, NULL, NULL, 1, "private_key is not an unencrypted PEM RSA key"},
		{REPEAT, "client_email", "again@proj.iam.gserviceaccount.com", 0,
		 "not a JSON service-account key"},
		{DROP, "type", NULL, 0, NULL},
		{DROP, "token_uri", NULL, 0, NULL},
	};
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");

	CU_ASSERT_PTR_NOT_NULL_FATAL(rsa);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ec);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *made = key_json(rows[i].is_ec ? ec : rsa, "service_account"), *text;
		json_t *j = json_loads(made, 0, NULL);
		struct bq_sa_key *k = NULL;
		char err[256] = "";
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		if (rows[i].how == DROP)
			json_object_del(j, rows[i].field);
		else if (rows[i].how == SET)
			json_object_set_new(j, rows[i].field, json_string(rows[i].value));
		text = json_dumps(j, 0);
		if (rows[i].how == REPEAT) { /* the field a second time, first */
			char *twice = malloc(strlen(text) + 128);

			sprintf(twice, "{\"%s\": \"%s\", %s", rows[i].field, rows[i].value,
				text + 1);
			free(text);
			text = twice;
		}
		rc = bq_sa_key_parse(text, &k, err, sizeof(err));
		CU_ASSERT_EQUAL(rc, rows[i].refusal ? -1 : 0);
		if (rows[i].refusal && strcmp(err, rows[i].refusal) != 0) {
			fprintf(stderr, "\n  key row %zu: \"%s\", expected \"%s\"", i, err,
				rows[i].refusal);
			CU_FAIL("key refusal");
		}
		if (rc == 0 && rows[i].field && strcmp(rows[i].field, "token_uri") == 0) {
			const char *uri = rows[i].how == SET ? rows[i].value : BQ_DEFAULT_TOKEN_URI;

			CU_ASSERT_STRING_EQUAL(bq_sa_key_token_uri(k), uri);
		}
		bq_sa_key_free(k);
		free(text);
		json_decref(j);
		free(made);
	}
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/* A key file that does not read as a key is refused naming the file. */
static void test_jwt_key_file_refusal_names_the_file(void)
{
	char *dir = testlib_mkdtemp(), *path = testlib_write_file(dir, "key.json", "nope"),
	     err[1024], want[1024];
	struct bq_sa_key *k = NULL;

	CU_ASSERT_EQUAL(bq_sa_key_load(path, &k, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "credentials_file: %s: not a JSON service-account key",
		 path);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_PTR_NULL(k);
	testlib_rmtree(dir);
	free(path);
	free(dir);
}

/* A directory, or a file larger than any key, is refused naming why (the
 * key is read with read(2) into one buffer that is wiped: no stdio copy);
 * both were "cannot read PATH", without the reason. */
static void test_key_file_that_is_no_key_file_is_refused_naming_why(void)
{
	char *dir = testlib_mkdtemp(), *big = testlib_write_file(dir, "big", ""), err[512],
	     want[600];
	struct bq_sa_key *k = NULL;
	int fd = open(big, O_WRONLY);

	CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, KEY_FILE_MAX + 1) == 0);
	close(fd);
	CU_ASSERT_EQUAL(bq_sa_key_load(dir, &k, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "credentials_file: cannot read %s: it is a directory", dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(bq_sa_key_load(big, &k, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "credentials_file: %s is %d bytes: too large for a key "
		 "file (at most %d)", big, KEY_FILE_MAX + 1, KEY_FILE_MAX);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_PTR_NULL(k);
	testlib_rmtree(dir);
	free(big);
	free(dir);
}

/* A key file is read to its end, not to the size fstat() gave: a file
 * that reports a size of 0 (procfs makes its text as it is read) was read
 * as empty.  /proc/self/status fits one read; /proc/self/smaps takes
 * several, the buffer growing past its first 4 kB; a regular file of a
 * known size comes back byte for byte. */
static void test_key_file_is_read_to_its_end(void)
{
	char *dir = testlib_mkdtemp(), *path, *text, err[512], body[10000];
	size_t len = 0;

	text = key_file_read("credentials_file", "/proc/self/status", &len, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT(len > 0 && strncmp(text, "Name:", 5) == 0 && text[len - 1] == '\n');
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nThreads:"));
	key_file_free(text, len);
	text = key_file_read("credentials_file", "/proc/self/smaps", &len, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT(len > 4096 && strlen(text) == len && text[len - 1] == '\n');
	key_file_free(text, len);
	for (size_t i = 0; i < sizeof(body) - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof(body) - 1] = '\0';
	path = testlib_write_file(dir, "key.json", body);
	text = key_file_read("credentials_file", path, &len, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(len, sizeof(body) - 1);
	CU_ASSERT_STRING_EQUAL(text, body);
	key_file_free(text, len);
	testlib_rmtree(dir);
	free(path);
	free(dir);
}


/* Reaps the child pid, which must have exited 0; one killed by a signal
 * (its alarm: it blocked) is named with `what`. */
static void expect_child_exited_0(pid_t pid, const char *what)
{
	int status = 0;

	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (WIFSIGNALED(status))
		fprintf(stderr, "%s: killed by signal %d (blocked)\n", what, WTERMSIG(status));
}
/* A FIFO given for the key file is refused at once, naming why: open()
 * without O_NONBLOCK waited for a writer that never comes, and the plugin's
 * create with it.  Tried in a child that SIGALRM ends, so that the test
 * fails rather than hangs without the fix. */
static void test_key_file_that_is_a_fifo_is_refused_at_once(void)
{
	char *dir = testlib_mkdtemp(), fifo[600], err[512], want[700];
	struct bq_sa_key *k = NULL;
	pid_t pid;

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
	snprintf(want, sizeof(want), "credentials_file: cannot read %s: not a regular file",
		 fifo);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		alarm(30);
		_exit(bq_sa_key_load(fifo, &k, err, sizeof(err)) == -1 && !k &&
		      strcmp(err, want) == 0 ? 0 : 1);
	}
	expect_child_exited_0(pid, "key_file_read on a FIFO");
	testlib_rmtree(dir);
	free(dir);
}

/* 1 when s is not NULL and reads want. */
static int is_text(const char *s, const char *want)
{
	return s && strcmp(s, want) == 0;
}

static void test_static_token_needs_no_request(void)
{
	struct bq_auth *a = NULL;
	struct bq_http h;
	char err[128];
	hub_rc rc;

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_STATIC, "tok-1", &a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(bq_auth_token(a, &h, 0, &rc, err, sizeof(err)), "tok-1");
	CU_ASSERT_EQUAL(rc, HUB_OK);
	CU_ASSERT_EQUAL(bq_auth_invalidate(a), 0); /* nothing else to get */
	CU_ASSERT(is_text(bq_auth_token(a, &h, 0, &rc, err, sizeof(err)), "tok-1"));
	bq_http_cleanup(&h);
	bq_auth_free(a);
}

/* Token answers (bq_auth.c's take_token, built in): cached until five
 * minutes before expiry (half the life of a short one), fetched again from
 * then on, refusals coded. */
static void test_token_cached_and_renewed_before_expiry(void)
{
	struct bq_auth *a = NULL;
	struct bq_http h;
	char err[256];
	hub_rc rc;

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_METADATA, NULL, &a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(take_token(a, 200, "{\"access_token\": \"t1\", \"expires_in\": 3600}",
				   "x", "", 1000, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(a->renew_at_ms, 1000 + 3600 * 1000 - 300 * 1000);
	/* still fresh: no request (the metadata host is never asked) */
	CU_ASSERT_STRING_EQUAL(bq_auth_token(a, &h, a->renew_at_ms - 1, &rc, err, sizeof(err)),
			       "t1");
	/* due: fetched again (no time left: the request fails at once) */
	h.deadline_ms = 1;
	CU_ASSERT_PTR_NULL(bq_auth_token(a, &h, a->renew_at_ms, &rc, err, sizeof(err)));
	CU_ASSERT_EQUAL(rc, HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "the metadata server: no time left to send it");
	CU_ASSERT_EQUAL(take_token(a, 200, "{\"access_token\": \"t2\", \"expires_in\": 60}", "x",
				   "", 5000, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(a->renew_at_ms, 5000 + 30 * 1000);
	CU_ASSERT_EQUAL(bq_auth_invalidate(a), 1);
	CU_ASSERT_PTR_NULL(a->token);

	CU_ASSERT_EQUAL(take_token(a, 400,
				   "{\"error\": \"invalid_grant\", \"error_description\": "
				   "\"Invalid JWT Signature.\"}",
				   "the key file's token_uri", "", 0, err, sizeof(err)),
			HUB_ERR_AUTH);
	CU_ASSERT_STRING_EQUAL(err,
			       "the key file's token_uri refused the token request (HTTP 400): "
			       "invalid_grant: Invalid JWT Signature.");
	CU_ASSERT_EQUAL(take_token(a, 503, "busy", "the metadata server", "3", 0, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT(strncmp(err, "retry after 3s: the metadata server refused", 43) == 0);
	CU_ASSERT_EQUAL(take_token(a, 200, "{\"token_type\": \"Bearer\"}", "x", "", 0, err,
				   sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(take_token(a, 404, "", "the metadata server", "", 0, err, sizeof(err)),
			HUB_ERR_CONFIG);
	bq_http_cleanup(&h);
	bq_auth_free(a);
}

/* expires_in: absent or not a number an hour, below one second a minute,
 * else its seconds; renewed five minutes early, a short one at half. */
static void test_auth_token_lifetime_is_read_from_expires_in(void)
{
	static const struct {
		const char *expires_in; /* NULL: absent */
		int64_t renew_after_ms;
	} rows[] = {
		{NULL, 3300 * 1000},   {"\"3600\"", 3300 * 1000}, {"1", 500},
		{"0.5", 30 * 1000},    {"0", 30 * 1000},          {"601", 301 * 1000},
	};
	struct bq_auth *a = NULL;
	char err[256], body[256];

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_METADATA, NULL, &a, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *e = rows[i].expires_in;

		snprintf(body, sizeof(body), "{\"access_token\": \"t\"%s%s}",
			 e ? ", \"expires_in\": " : "", e ? e : "");
		CU_ASSERT_EQUAL(take_token(a, 200, body, "x", "", 1000, err, sizeof(err)), HUB_OK);
		if (a->renew_at_ms != 1000 + rows[i].renew_after_ms)
			fprintf(stderr, "\n  expires_in %s: renewed at %lld", e ? e : "absent",
				(long long)a->renew_at_ms);
		CU_ASSERT_EQUAL(a->renew_at_ms, 1000 + rows[i].renew_after_ms);
	}
	bq_auth_free(a);
}

/* A refused token request: its code (retry, auth, config) and its message,
 * the endpoint's own error text, a retry's Retry-After; nothing is cached. */
static void test_auth_refused_token_request_is_coded_and_named(void)
{
	static const struct {
		enum bq_auth_mode mode;
		long status;
		const char *body, *retry_after;
		hub_rc rc;
		const char *message; /* a prefix of err */
	} rows[] = {
		{BQ_AUTH_METADATA, 429, "", "5", HUB_RETRY,
		 "retry after 5s: the metadata server refused the token request (HTTP 429): "
		 "no error code"},
		{BQ_AUTH_METADATA, 408, "", "", HUB_RETRY,
		 "the metadata server refused the token request (HTTP 408): no error code"},
		{BQ_AUTH_METADATA, 500, "", "", HUB_RETRY, "the metadata server refused"},
		/* a key file's token_uri that is not there: the key is wrong */
		{BQ_AUTH_SERVICE_ACCOUNT, 404, "", "", HUB_ERR_AUTH,
		 "the key file's token_uri refused the token request (HTTP 404)"},
		/* a Retry-After on a refusal that is not retried is not shown */
		{BQ_AUTH_SERVICE_ACCOUNT, 400, "{\"error\": \"invalid_grant\"}", "9", HUB_ERR_AUTH,
		 "the key file's token_uri refused the token request (HTTP 400): invalid_grant"},
		/* a token in a refusal is not taken, nor an empty one */
		{BQ_AUTH_SERVICE_ACCOUNT, 400, "{\"access_token\": \"t\"}", "", HUB_ERR_AUTH,
		 "the key file's token_uri refused the token request (HTTP 400): no error code"},
		{BQ_AUTH_METADATA, 200, "{\"access_token\": \"\"}", "", HUB_ERR_INTERNAL,
		 "the metadata server refused the token request (HTTP 200): no access_token"},
		/* the metadata server answers Google's envelope */
		{BQ_AUTH_METADATA, 403,
		 "{\"error\": {\"code\": 403, \"message\": \"no scope\", \"errors\": "
		 "[{\"reason\": \"forbidden\"}]}}", "", HUB_ERR_AUTH,
		 "BigQuery forbidden (HTTP 403): no scope"},
		/* DEL is a control character too: one printable line */
		{BQ_AUTH_METADATA, 400, "{\"error\": \"a\\u007fb\"}", "", HUB_ERR_AUTH,
		 "the metadata server refused the token request (HTTP 400): a b"},
	};
	struct bq_auth *a = NULL;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_METADATA, NULL, &a, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *what = rows[i].mode == BQ_AUTH_METADATA ? "the metadata server"
								    : "the key file's token_uri";
		hub_rc rc;

		a->mode = rows[i].mode;
		rc = take_token(a, rows[i].status, rows[i].body, what, rows[i].retry_after, 0, err,
				sizeof(err));
		if (rc != rows[i].rc ||
		    strncmp(err, rows[i].message, strlen(rows[i].message)) != 0) {
			fprintf(stderr, "\n  token row %zu: rc %d \"%s\", expected %d \"%s\"", i,
				rc, err, rows[i].rc, rows[i].message);
			CU_FAIL("token refusal");
		}
		CU_ASSERT_PTR_NULL(a->token);
	}
	a->mode = BQ_AUTH_METADATA;
	bq_auth_free(a);
}

/* The metadata server is $GCE_METADATA_HOST, else (unset or empty)
 * metadata.google.internal. */
static void test_auth_metadata_host_is_read_from_the_environment(void)
{
	static const char path[] = "/computeMetadata/v1/instance/service-accounts/default/token";
	static const struct {
		const char *env, *host; /* env NULL: unset */
	} rows[] = {
		{NULL, "metadata.google.internal"},
		{"", "metadata.google.internal"},
		{"127.0.0.1:8089", "127.0.0.1:8089"},
	};
	const char *was = getenv("GCE_METADATA_HOST");
	char *saved = was ? strdup(was) : NULL;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bq_auth *a = NULL;
		char err[256], want[256];

		if (rows[i].env)
			setenv("GCE_METADATA_HOST", rows[i].env, 1);
		else
			unsetenv("GCE_METADATA_HOST");
		CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_METADATA, NULL, &a, err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "http://%s%s", rows[i].host, path);
		CU_ASSERT_STRING_EQUAL(a->metadata_url, want);
		CU_ASSERT_PTR_NULL(bq_auth_token_uri(a));
		bq_auth_free(a);
	}
	if (saved)
		setenv("GCE_METADATA_HOST", saved, 1);
	else
		unsetenv("GCE_METADATA_HOST");
	free(saved);
}

/* A service account's token comes from its key file's token_uri; its
 * token can be invalidated (another is fetched). */
static void test_auth_service_account_token_uri_is_the_key_files(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *dir = testlib_mkdtemp(), *made = key_json(key, "service_account"), err[256];
	char *path = testlib_write_file(dir, "key.json", made);
	struct bq_auth *a = NULL;

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_SERVICE_ACCOUNT, path, &a, err, sizeof(err)), 0);
	CU_ASSERT(is_text(bq_auth_token_uri(a), "http://127.0.0.1:9/token"));
	CU_ASSERT_EQUAL(bq_auth_invalidate(a), 1);
	bq_auth_free(a);
	testlib_rmtree(dir);
	free(path);
	free(made);
	free(dir);
	EVP_PKEY_free(key);
}

/*
 * What a token endpoint answers is bounded: expires_in of any size is a
 * day at most (a large real was cast to int64_t, undefined: fuzz_answers
 * found it; a large integer overflowed * 1000), and the endpoint's error
 * texts in a message are one line of valid UTF-8 (they were cut by bytes,
 * mid character, and kept their line breaks).
 */
static void test_token_answers_are_bounded_and_printable(void)
{
	static const char *const huge[] = {"9223372036854775807", "1e300", "86400.5", "1e9"};
	static const char refused[] =
		"the metadata server refused the token request (HTTP 400): in valid:  d";
	struct bq_auth *a = NULL;
	char err[1024], body[1024], desc[640];
	json_t *j;

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_METADATA, NULL, &a, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		snprintf(body, sizeof(body), "{\"access_token\": \"t\", \"expires_in\": %s}",
			 huge[i]);
		CU_ASSERT_EQUAL(take_token(a, 200, body, "x", "", 1000, err, sizeof(err)), HUB_OK);
		CU_ASSERT_EQUAL(a->renew_at_ms, 1000 + 24 * 3600 * 1000LL - 300 * 1000);
	}
	CU_ASSERT_EQUAL(take_token(a, 200, "{\"access_token\": \"t\", \"expires_in\": -1e300}", "x",
				   "", 1000, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(a->renew_at_ms, 1000 + 30 * 1000); /* 60 s, renewed at half */

	/* a description of a line break, 298 bytes, then "é" (2 bytes): the
	 * 300-byte cut falls inside the "é" */
	memset(desc, 'd', 300);
	desc[0] = '\\';
	desc[1] = 'n';
	memcpy(desc + 300, "\xc3\xa9", 3);
	snprintf(body, sizeof(body), "{\"error\": \"in\\nvalid\", \"error_description\": \"%s\"}",
		 desc);
	CU_ASSERT_EQUAL(take_token(a, 400, body, "the metadata server", "", 0, err, sizeof(err)),
			HUB_ERR_AUTH);
	CU_ASSERT_PTR_NULL(strpbrk(err, "\r\n"));
	j = json_string(err); /* NULL when err is not valid UTF-8 */
	CU_ASSERT_PTR_NOT_NULL(j);
	json_decref(j);
	CU_ASSERT(strncmp(err, refused, strlen(refused)) == 0);
	/* a Google envelope's message, cut by bq_error_decode, is made whole */
	memset(desc, 'm', 599); /* bq_error_decode cuts its message at 600 bytes */
	desc[599] = '\0';
	snprintf(body, sizeof(body), "{\"error\": {\"code\": 403, \"message\": \"%s\\u00e9\"}}",
		 desc);
	CU_ASSERT_EQUAL(take_token(a, 403, body, "the metadata server", "", 0, err, sizeof(err)),
			HUB_ERR_AUTH);
	j = json_string(err);
	CU_ASSERT_PTR_NOT_NULL(j);
	json_decref(j);
	bq_auth_free(a);
}

/*
 * `profilehub check` without --connect creates nothing, so it saw a map
 * its kind cannot use only when sync refused it: each warehouse plugin's
 * check_config() (ABI 1.10) refuses what create() refuses of the map,
 * an attribute no profile can hold among it (ABI 1.15).  Snowflake shares
 * the row map and the gap.
 */
static void test_check_refuses_the_map_sync_refuses(void)
{
	static const struct {
		const char *plugin, *keys, *map, *kind;
		const char *refusal; /* NULL: taken */
	} rows[] = {
		{"bigquery", "project: p\n    access_token: t", "{custom_id: id}", "attributes",
		 "map.attributes: kind attributes needs map.attributes"},
		{"bigquery", "project: p\n    access_token: t",
		 "{custom_id: id, attributes: {a: a}}", "attributes", NULL},
		{"bigquery", "project: p\n    access_token: t", "{custom_id: id}", "events",
		 "map.event: kind events needs map.event.name"},
		{"snowflake", "transport: odbc\n    dsn: d", "{custom_id: id}", "attributes",
		 "map.attributes: kind attributes needs map.attributes"},
		{"snowflake", "transport: odbc\n    dsn: d", "{custom_id: id, attributes: {a: a}}",
		 "attributes", NULL},
		/* an attribute no profile can hold (ABI 1.15's attr_key_refusal) */
		{"bigquery", "project: p\n    access_token: t",
		 "{custom_id: id, attributes: {Plan: p, $emial_address: e}}", "attributes",
		 "map.attributes.$emial_address: no attribute of a profile is named so"},
		{"snowflake", "transport: odbc\n    dsn: d",
		 "{custom_id: id, attributes: {Plan: p, Plan-Tier: t}}", "attributes",
		 "map.attributes.Plan-Tier: the attribute \"plan-tier\": no attribute of a "
		 "profile is named so"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		char err[1024] = "";
		int rc;

		/* create() may refuse too (it is not what is tested here) */
		pt_try_open(&f, rows[i].plugin, err, sizeof(err),
			    "sources:\n  - name: w\n    plugin: %s\n    %s\n    kind: %s\n"
			    "    query: SELECT id FROM t WHERE id > :cursor ORDER BY id\n"
			    "    cursor: id\n    map: %s\n",
			    rows[i].plugin, rows[i].keys, rows[i].kind, rows[i].map);
		err[0] = '\0';
		rc = plugin_instance_check_config(&f.mod, &f.cfg->sources[0], err, sizeof(err));
		if (rc != (rows[i].refusal ? -1 : 0))
			fprintf(stderr, "\n  row %zu: %d %s", i, rc, err);
		CU_ASSERT_EQUAL(rc, rows[i].refusal ? -1 : 0);
		if (rows[i].refusal)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i].refusal));
		pt_close(&f);
	}
}

/* A source's keys for the rows below, each line four spaces in. */
#define CHK_QUERY "    query: SELECT id FROM t WHERE id > :cursor ORDER BY id\n"
#define CHK_MAP "    cursor: id\n    map: {custom_id: id, attributes: {a: a}}\n"
#define CHK_BQ "    project: p\n    access_token: t\n"
#define CHK_SF_ODBC "    transport: odbc\n    dsn: d\n"
#define SF_DSN_32 "profilehub-a-dsn-of-32-bytes-xyz"
#define CHK_SF_API                                                                         \
	"    transport: sql_api\n    account: a\n    user: u\n"                             \
	"    private_key_file: /nonexistent/k.pem\n"

/*
 * `profilehub check` without --connect creates nothing: a Snowflake or
 * BigQuery source without a query, with one without :cursor, or without
 * the keys its transport or authentication needs, passed it ("ok") and
 * was refused at every sync.  check_config() (ABI 1.10) refuses what
 * create() refuses of the values, in create()'s words at the key's line.
 * A key file is create()'s to read, not check's: a missing one passes.
 */
static void test_check_refuses_what_create_refuses_of_the_values(void)
{
	static const struct {
		const char *plugin, *keys;
		const char *refusal; /* NULL: taken */
	} rows[] = {
		{"bigquery", CHK_BQ CHK_MAP, "query: required (SQL with :cursor)"},
		{"bigquery", CHK_BQ "    query: SELECT id FROM t ORDER BY id\n" CHK_MAP,
		 "query: has no :cursor placeholder"},
		{"bigquery", "    project: p\n" CHK_QUERY CHK_MAP,
		 "needs one of credentials_file, access_token and metadata: true"},
		{"bigquery", CHK_BQ "    metadata: true\n" CHK_QUERY CHK_MAP,
		 "only one of credentials_file, access_token and metadata: true"},
		{"bigquery", CHK_BQ "    cursor_type: BOOL\n" CHK_QUERY CHK_MAP,
		 "cursor_type: \"BOOL\" is not TIMESTAMP"},
		{"bigquery", CHK_BQ "    endpoint: ftp://bq.example.com\n" CHK_QUERY CHK_MAP,
		 "endpoint: expected an http:// or https:// URL"},
		{"bigquery", CHK_BQ CHK_QUERY CHK_MAP, NULL},
		{"bigquery", "    project: p\n    credentials_file: /nonexistent/k.json\n" CHK_QUERY
			     CHK_MAP, NULL},
		{"snowflake", CHK_SF_ODBC CHK_MAP, "query: required (SQL with :cursor)"},
		{"snowflake", CHK_SF_ODBC "    query: SELECT id FROM t ORDER BY id\n" CHK_MAP,
		 "query: has no :cursor placeholder"},
		{"snowflake", "    transport: jdbc\n    dsn: d\n" CHK_QUERY CHK_MAP,
		 "transport: \"jdbc\" is not odbc or sql_api"},
		{"snowflake", CHK_SF_ODBC "    max_answer_bytes: 1000\n" CHK_QUERY CHK_MAP,
		 "max_answer_bytes: 1000 is below 65536 (bytes)"},
		{"snowflake", "    transport: odbc\n" CHK_QUERY CHK_MAP,
		 "transport odbc needs exactly one of dsn and connection_string"},
		{"snowflake", CHK_SF_ODBC "    connection_string: \"Driver=x\"\n" CHK_QUERY CHK_MAP,
		 "transport odbc needs exactly one of dsn and connection_string"},
		{"snowflake", "    transport: sql_api\n    user: u\n    private_key_file: /k\n"
			      CHK_QUERY CHK_MAP, "account: required with transport sql_api"},
		{"snowflake", "    transport: sql_api\n    account: a\n    private_key_file: /k\n"
			      CHK_QUERY CHK_MAP, "user: required with transport sql_api"},
		{"snowflake", "    transport: sql_api\n    account: a\n    user: u\n" CHK_QUERY
			      CHK_MAP, "private_key_file: required with transport sql_api"},
		{"snowflake", CHK_SF_API "    endpoint: \"https://u:pw@sf.example.com\"\n" CHK_QUERY
			      CHK_MAP, "endpoint: has a user or password (user:password@)"},
		{"snowflake", CHK_SF_API "    endpoint: ftp://sf.example.com\n" CHK_QUERY CHK_MAP,
		 "endpoint: expected an http:// or https:// URL"},
		{"snowflake", CHK_SF_ODBC CHK_QUERY CHK_MAP, NULL},
		/* ODBC's 32 bytes at most; create cut a longer one at 507 bytes and
		 * unixODBC answered one over 32 "DRIVER keyword syntax error" */
		{"snowflake", "    transport: odbc\n    dsn: " SF_DSN_32 "\n" CHK_QUERY CHK_MAP,
		 NULL},
		{"snowflake", "    transport: odbc\n    dsn: " SF_DSN_32 "x\n" CHK_QUERY CHK_MAP,
		 "dsn: 33 bytes, over ODBC's limit of 32 for a data source name"},
		/* ';' ended the DSN in "DSN=<dsn>": the rest was read as more
		 * attributes of the connection */
		{"snowflake", "    transport: odbc\n    dsn: \"hubtest;UID=x\"\n" CHK_QUERY CHK_MAP,
		 "dsn: holds ';' (byte 8), which no ODBC data source name holds"},
		{"snowflake", "    transport: odbc\n    dsn: \"{hubtest}\"\n" CHK_QUERY CHK_MAP,
		 "dsn: holds '{' (byte 1)"},
		{"snowflake", "    transport: odbc\n    dsn: \"hub test-1_x.y\"\n" CHK_QUERY CHK_MAP,
		 NULL},
		{"snowflake", CHK_SF_API CHK_QUERY CHK_MAP, NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		char created[1024] = "", err[1024] = "";
		int rc, created_rc;

		created_rc = pt_try_open(&f, rows[i].plugin, created, sizeof(created),
					 "sources:\n  - name: w\n    plugin: %s\n%s",
					 rows[i].plugin, rows[i].keys);
		rc = plugin_instance_check_config(&f.mod, &f.cfg->sources[0], err, sizeof(err));
		pt_check_is_create_s(rc, err, created_rc, created, rows[i].refusal, i);
		CU_ASSERT_PTR_NULL(strstr(err, "example.com"));
		CU_ASSERT_PTR_NULL(strstr(err, "pw"));
		pt_close(&f);
	}
}

/*
 * An endpoint over plain http:// sends the bearer token (BigQuery) or the
 * JWT (Snowflake's SQL API) in clear text: check and run warn, naming the
 * key, not its value; not for this machine's loopback (the tests' fakes).
 */
static void test_check_warns_of_a_clear_text_endpoint(void)
{
#define BQ_KEYS "project: p\n    access_token: t"
	static const struct {
		const char *plugin, *keys, *endpoint;
		int is_warned;
	} rows[] = {
		{"bigquery", BQ_KEYS, "http://bq.example.com:8080/x", 1},
		{"bigquery", BQ_KEYS, "HTTP://10.0.0.1", 1}, /* a scheme in any case */
		{"bigquery", BQ_KEYS, "http://127.0.0.1.example.com", 1},
		{"bigquery", BQ_KEYS, "http://[::1]x/", 1},
		/* the host is after the user info */
		{"bigquery", BQ_KEYS, "http://127.0.0.1:9@bq.example.com/", 1},
		{"bigquery", BQ_KEYS, "http://localhost@bq.example.com", 1},
		{"bigquery", BQ_KEYS, "http://u:p@127.0.0.1:9050", 0},
		{"bigquery", BQ_KEYS, "https://bq.example.com", 0},
		{"bigquery", BQ_KEYS, "http://127.0.0.1:9050", 0},
		{"bigquery", BQ_KEYS, "http://localhost/", 0},
		{"bigquery", BQ_KEYS, "http://[::1]:9050", 0},
		{"snowflake", "transport: sql_api\n    account: a\n    user: u\n"
			      "    private_key_file: /nonexistent", "http://sf.example.com", 1},
		{"snowflake", "transport: sql_api\n    account: a\n    user: u\n"
			      "    private_key_file: /nonexistent", "HTTP://sf.example.com", 1},
		{"snowflake", "transport: sql_api\n    account: a\n    user: u\n"
			      "    private_key_file: /nonexistent", "http://127.0.0.1:9051", 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct testlib_capture cap;
		struct pt_fixture f;
		char err[1024] = "", *logged;
		int rc;

		pt_try_open(&f, rows[i].plugin, err, sizeof(err),
			    "sources:\n  - name: w\n    plugin: %s\n    %s\n    endpoint: \"%s\"\n"
			    "    query: SELECT id FROM t WHERE id > :cursor ORDER BY id\n"
			    "    cursor: id\n    map: {custom_id: id, attributes: {a: a}}\n",
			    rows[i].plugin, rows[i].keys, rows[i].endpoint);
		testlib_capture_begin(&cap);
		rc = plugin_instance_check_config(&f.mod, &f.cfg->sources[0], err, sizeof(err));
		logged = testlib_capture_end(&cap);
		CU_ASSERT_EQUAL(rc, 0);
		if ((strstr(logged, "endpoint: http://") != NULL) != rows[i].is_warned)
			fprintf(stderr, "\n  row %zu: logged \"%s\"", i, logged);
		CU_ASSERT_EQUAL(strstr(logged, "endpoint: http:// to a host other than this "
					       "machine sends") != NULL, rows[i].is_warned);
		CU_ASSERT_PTR_NULL(strstr(logged, "example.com"));
		free(logged);
		pt_close(&f);
	}
#undef BQ_KEYS
}

/* The webhook export's url: it carries every profile, and the token its
 * query or user info may hold (the row with user info is why the host is
 * read after the '@'). */
static void test_webhook_check_warns_of_a_clear_text_url(void)
{
	static const struct {
		const char *url;
		int is_warned;
	} rows[] = {
		{"http://crm.example.com/hooks?token=T", 1},
		{"HTTP://10.0.0.1:8080/", 1},
		{"http://127.0.0.1:1@crm.example.com/", 1},
		{"https://crm.example.com/hooks?token=T", 0},
		{"http://127.0.0.1:9/hooks", 0},
		{"http://localhost:9/hooks", 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct testlib_capture cap;
		struct pt_fixture f;
		char err[1024] = "", *logged;
		int rc;

		pt_open(&f, "webhook",
			"exports:\n  - name: crm\n    plugin: webhook\n    url: \"%s\"\n"
			"    secret: S3CRET-abcdef\n",
			rows[i].url);
		testlib_capture_begin(&cap);
		rc = plugin_instance_check_config(&f.mod, &f.cfg->exports[0], err, sizeof(err));
		logged = testlib_capture_end(&cap);
		CU_ASSERT_EQUAL(rc, 0);
		if ((strstr(logged, "url: http://") != NULL) != rows[i].is_warned)
			fprintf(stderr, "\n  row %zu: logged \"%s\"", i, logged);
		CU_ASSERT_EQUAL(strstr(logged, "url: http:// to a host other than this machine "
					       "sends the profiles") != NULL,
				rows[i].is_warned);
		CU_ASSERT_PTR_NULL(strstr(logged, "example.com"));
		CU_ASSERT_PTR_NULL(strstr(logged, "token=T"));
		free(logged);
		pt_close(&f);
	}
}

/* `profilehub check` refused a webhook export's ca_file alone: a timeout
 * of 0s, or a url that is no http(s) URL, passed it and stopped `run`.
 * check_config() (ABI 1.10) refuses them in create()'s words. */
static void test_webhook_check_refuses_what_create_refuses(void)
{
	static const struct {
		const char *url, *keys;
		const char *refusal; /* NULL: taken */
	} rows[] = {
		{"https://crm.example.com/hooks", "    timeout: 0s\n",
		 "timeout: must be at least 1ms (0s would be none at all)"},
		{"ftp://crm.example.com/hooks", "", "url: not an http:// or https:// URL"},
		{"crm.example.com/hooks", "", "url: not an http:// or https:// URL"},
		{"https://crm.example.com/hooks", "    timeout: 1s\n", NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		char created[1024] = "", err[1024] = "";
		int rc, created_rc;

		created_rc = pt_try_open(&f, "webhook", created, sizeof(created),
					 "exports:\n  - name: crm\n    plugin: webhook\n"
					 "    url: \"%s\"\n    secret: S3CRET-abcdef\n%s",
					 rows[i].url, rows[i].keys);
		rc = plugin_instance_check_config(&f.mod, &f.cfg->exports[0], err, sizeof(err));
		pt_check_is_create_s(rc, err, created_rc, created, rows[i].refusal, i);
		CU_ASSERT_EQUAL(created_rc, rc);
		CU_ASSERT_PTR_NULL(strstr(err, "example.com"));
		pt_close(&f);
	}
}

/* The same for the token_uri of a service account's key file, read when
 * the source is created (check --connect, sync, run's pulls). */
static void test_create_warns_of_a_clear_text_token_uri(void)
{
	static const struct {
		const char *token_uri;
		int is_warned;
	} rows[] = {
		{"http://oauth.example.com/token", 1},
		{"https://oauth2.googleapis.com/token", 0},
		{"http://127.0.0.1:9/token", 0},
	};
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *dir = testlib_mkdtemp();

	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *made = key_json(key, "service_account");
		json_t *j = json_loads(made, 0, NULL);
		char *text, *path, err[1024] = "", *logged;
		struct testlib_capture cap;
		struct pt_fixture f;

		json_object_set_new(j, "token_uri", json_string(rows[i].token_uri));
		text = json_dumps(j, 0);
		path = testlib_write_file(dir, "key.json", text);
		testlib_capture_begin(&cap);
		CU_ASSERT_EQUAL(
			pt_try_open(
				&f, "bigquery", err, sizeof(err),
				"sources:\n  - name: w\n    plugin: bigquery\n"
				"    project: p\n    credentials_file: %s\n"
				"    query: SELECT id FROM t WHERE id > :cursor ORDER BY id\n"
				"    cursor: id\n    map: {custom_id: id, attributes: {a: a}}\n",
				path),
			0);
		logged = testlib_capture_end(&cap);
		if (err[0])
			fprintf(stderr, "\n  row %zu: %s", i, err);
		CU_ASSERT_EQUAL(strstr(logged,
				       "credentials_file: the key's token_uri: http:// to a "
				       "host other than this machine") != NULL,
				rows[i].is_warned);
		CU_ASSERT_PTR_NULL(strstr(logged, "example.com"));
		free(logged);
		pt_close(&f);
		free(path);
		free(text);
		free(made);
		json_decref(j);
	}
	EVP_PKEY_free(key);
	testlib_rmtree(dir);
	free(dir);
}

/* ---- the query's job (bq_job.c) and its pages (bq_query.c) --------------------------------- */

/* A map of ID, whose cursor is ID. */
static const struct rm_config id_map = {
	"w", "{\"custom_id\": \"ID\", \"attributes\": {\"id\": \"ID\"}}", NULL, "\"ID\""};

/* A query as bq_query_new makes it, with a static token. */
static struct bq_query *query_of(const char *endpoint, const char *location)
{
	struct bq_query_config cfg = {endpoint, "proj-1", location, "SELECT @cursor", NULL, NULL};
	struct bq_query *q = NULL;
	char err[256] = "";

	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_STATIC, "t", &cfg.auth, err, sizeof(err)), 0);
	if (bq_query_new(NULL, NULL, &cfg, &q, err, sizeof(err)))
		fprintf(stderr, "\n  bq_query_new: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	return q;
}

/* A jobs.query failed in transit is sent again with its requestId (so
 * BigQuery runs it once); another @cursor takes a new one, and so does a
 * dry run, which leaves none pending. */
static void test_request_id_is_kept_for_the_same_query_only(void)
{
	struct bq_query q = {0};
	char first[sizeof(q.request_id)];

	request_id_for(&q, "5", 0);
	memcpy(first, q.request_id, sizeof(first));
	request_id_for(&q, "5", 0);
	CU_ASSERT_STRING_EQUAL(q.request_id, first);
	request_id_for(&q, "6", 0);
	CU_ASSERT_STRING_NOT_EQUAL(q.request_id, first);
	memcpy(first, q.request_id, sizeof(first));
	request_id_for(&q, "6", 1);
	CU_ASSERT_STRING_NOT_EQUAL(q.request_id, first);
	CU_ASSERT_EQUAL(q.has_pending, 0);
	memcpy(first, q.request_id, sizeof(first));
	request_id_for(&q, "6", 0);
	CU_ASSERT_STRING_NOT_EQUAL(q.request_id, first);
	CU_ASSERT_EQUAL(q.has_pending, 1);
	free(q.pending_param);
}

/* getQueryResults and jobs.cancel name the job's own project and location
 * (from jobReference), else the source's; a job without jobId is refused. */
static void test_job_urls_name_the_job_s_project_and_location(void)
{
	static const struct {
		const char *ref, *location, *job, *cancel; /* after .../bigquery/v2/projects/ */
	} rows[] = {
		{"{\"jobId\": \"j 1\", \"projectId\": \"p-2\", \"location\": \"asia-east1\"}", "EU",
		 "p-2/queries/j%201?maxResults=7&timeoutMs=10000"
		 "&formatOptions.useInt64Timestamp=true&location=asia-east1",
		 "p-2/jobs/j%201/cancel?location=asia-east1"},
		{"{\"jobId\": \"j1\"}", "EU",
		 "proj-1/queries/j1?maxResults=7&timeoutMs=10000"
		 "&formatOptions.useInt64Timestamp=true&location=EU",
		 "proj-1/jobs/j1/cancel?location=EU"},
		{"{\"jobId\": \"j1\"}", NULL,
		 "proj-1/queries/j1?maxResults=7&timeoutMs=10000"
		 "&formatOptions.useInt64Timestamp=true",
		 "proj-1/jobs/j1/cancel"},
	};
	static const char head[] = "https://bq.example.com/bigquery/v2/projects/";
	char json[256], err[256] = "", want[512];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bq_query *q = query_of("https://bq.example.com/", rows[i].location);
		json_t *root;

		snprintf(json, sizeof(json), "{\"jobReference\": %s}", rows[i].ref);
		root = json_loads(json, 0, NULL);
		q->max_results = 7;
		CU_ASSERT_EQUAL(make_job_url(q, root, err, sizeof(err)), HUB_OK);
		snprintf(want, sizeof(want), "%s%s", head, rows[i].job);
		CU_ASSERT(is_text(q->job_url, want));
		snprintf(want, sizeof(want), "%s%s", head, rows[i].cancel);
		CU_ASSERT(is_text(q->cancel_url, want));
		json_decref(root);
		if (i == 0) { /* the same query, its next answer without a job */
			root = json_loads("{\"jobReference\": {}}", 0, NULL);
			CU_ASSERT_EQUAL(make_job_url(q, root, err, sizeof(err)), HUB_ERR_INTERNAL);
			CU_ASSERT_STRING_EQUAL(err, "jobs.query: an answer without "
						    "jobReference.jobId");
			CU_ASSERT_PTR_NULL(q->job_url);
			json_decref(root);
		}
		bq_query_free(q);
	}
}

/* The jobs.query body: standard SQL, @cursor named, times as int64
 * microseconds, the source's location, dryRun only for a dry run. */
static void test_jobs_query_body_asks_for_standard_sql_and_int64_times(void)
{
	struct bq_query *q = query_of(NULL, "EU");

	q->max_results = 50;
	for (int is_dry = 0; is_dry <= 1; is_dry++) {
		char *text = jobs_query_body(q, "INT64", "5", is_dry);
		json_t *b = json_loads(text ? text : "", 0, NULL), *p;

		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "query")),
				       "SELECT @cursor");
		CU_ASSERT(json_is_false(json_object_get(b, "useLegacySql")));
		CU_ASSERT(is_text(json_string_value(json_object_get(b, "parameterMode")), "NAMED"));
		p = json_array_get(json_object_get(b, "queryParameters"), 0);
		CU_ASSERT(is_text(json_string_value(json_object_get(p, "name")), "cursor"));
		CU_ASSERT(is_text(json_string_value(json_object_get(
					  json_object_get(p, "parameterType"), "type")), "INT64"));
		CU_ASSERT(is_text(json_string_value(json_object_get(
					  json_object_get(p, "parameterValue"), "value")), "5"));
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "maxResults")), 50);
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "timeoutMs")), 10000);
		CU_ASSERT(is_text(json_string_value(json_object_get(b, "location")), "EU"));
		CU_ASSERT(json_is_true(json_object_get(json_object_get(b, "formatOptions"),
						       "useInt64Timestamp")));
		CU_ASSERT_EQUAL(json_is_true(json_object_get(b, "dryRun")), is_dry);
		json_decref(b);
		free(text);
	}
	bq_query_free(q);
}

/* An answer that is JSON but not an object is refused naming the call. */
static void test_job_answer_must_be_a_json_object(void)
{
	struct bq_query q = {0};
	char body[] = "[1]", err[256] = "";
	json_t *root = NULL;

	q.http.resp.p = body;
	CU_ASSERT_EQUAL(take_json(&q, &root, "getQueryResults", err, sizeof(err)),
			HUB_ERR_INTERNAL);
	CU_ASSERT_PTR_NULL(root);
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: an answer that is not a JSON object");
}

/* The schema of a result over ID (a map whose cursor is ID), bound. */
static hub_rc schema_of(struct bq_query *q, struct rowmap *m, const char *id_field)
{
	char json[256], err[256] = "";
	json_t *root;
	hub_rc rc;

	snprintf(json, sizeof(json), "{\"schema\": {\"fields\": [%s]}}", id_field);
	root = json_loads(json, 0, NULL);
	rc = take_schema(q, root, m, err, sizeof(err));
	json_decref(root);
	return rc;
}

/* The cursor column's type is learned for the next @cursor when a
 * parameter can have it (not a REPEATED one, nor a RECORD); a result
 * without the map's columns is the config's error. */
static void test_cursor_column_type_is_learned_when_a_parameter_has_it(void)
{
	static const struct {
		const char *field, *learned;
	} rows[] = {
		{"{\"name\": \"ID\", \"type\": \"BYTES\"}", "BYTES"},
		{"{\"name\": \"ID\", \"type\": \"FLOAT\"}", "FLOAT64"},
		{"{\"name\": \"ID\", \"type\": \"INTEGER\"}", "INT64"},
		{"{\"name\": \"ID\", \"type\": \"INT64\", \"mode\": \"REPEATED\"}", ""},
		{"{\"name\": \"ID\", \"type\": \"BOOL\"}", ""},
	};
	struct rowmap *m = NULL;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(rowmap_new(&id_map, &m, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bq_query q = {0};

		CU_ASSERT_EQUAL(schema_of(&q, m, rows[i].field), HUB_OK);
		CU_ASSERT_STRING_EQUAL(q.learned_type, rows[i].learned);
		result_free(&q);
	}
	{
		struct bq_query q = {0};

		CU_ASSERT_EQUAL(schema_of(&q, m, "{\"name\": \"OTHER\", \"type\": \"INT64\"}"),
				HUB_ERR_CONFIG);
		result_free(&q);
	}
	rowmap_free(m);
}

/* A page's rows are read one by one; an empty pageToken is the last page;
 * a pageToken without a job to read it from, a row with another number of
 * cells, or rows that are not an array fail the pull. */
static void test_pages_are_read_to_their_last_row(void)
{
	const struct rm_cell *row = NULL;
	struct rowmap *m = NULL;
	struct bq_query q = {0};
	char err[256] = "";

	CU_ASSERT_EQUAL_FATAL(rowmap_new(&id_map, &m, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(schema_of(&q, m, "{\"name\": \"ID\", \"type\": \"STRING\"}"),
			      HUB_OK);
	CU_ASSERT_EQUAL(take_page(&q, json_loads("{\"rows\": [{\"f\": [{\"v\": \"a\"}]}, {\"f\": "
						 "[{\"v\": \"b\"}, {\"v\": \"c\"}]}], "
						 "\"pageToken\": \"\"}", 0, NULL),
				  err, sizeof(err)), HUB_OK);
	CU_ASSERT_PTR_NULL(q.page_token);
	CU_ASSERT_EQUAL(q_next(&q, &row, err, sizeof(err)), HUB_MORE);
	CU_ASSERT(is_text(row[0].text, "a"));
	CU_ASSERT_EQUAL(q_next(&q, &row, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "a row without its 1 cells");
	CU_ASSERT_EQUAL(q_next(&q, &row, err, sizeof(err)), HUB_OK);

	CU_ASSERT_EQUAL(take_page(&q, json_loads("{\"rows\": [], \"pageToken\": \"t2\"}", 0,
						 NULL), err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(q_next(&q, &row, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "jobs.query: a pageToken without a job");
	CU_ASSERT_EQUAL(take_page(&q, json_loads("{\"rows\": {}}", 0, NULL), err, sizeof(err)),
			HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: rows is not an array");
	result_free(&q);
	rowmap_free(m);
}

/* The endpoint: its trailing '/'s dropped, an http:// or https:// URL
 * (the scheme in any case, RFC 3986 3.1). */
static void test_query_endpoint_is_an_http_url_without_trailing_slashes(void)
{
	struct bq_query_config cfg = {"httpx://bq.example.com", "p", NULL, "SELECT 1", NULL, NULL};
	struct bq_query *q = query_of("http://127.0.0.1:9050//", NULL);
	char err[256] = "";

	CU_ASSERT_STRING_EQUAL(q->base, "http://127.0.0.1:9050");
	bq_query_free(q);
	CU_ASSERT_EQUAL(bq_query_endpoint_check("HTTPS://bq.example.com", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bq_query_endpoint_check("hTTp://127.0.0.1:9050", err, sizeof(err)), 0);
	q = query_of("HTTPS://bq.example.com/", NULL);
	CU_ASSERT_STRING_EQUAL(q->base, "HTTPS://bq.example.com");
	bq_query_free(q);
	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_STATIC, "t", &cfg.auth, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bq_query_new(NULL, NULL, &cfg, &q, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(q);
	CU_ASSERT_STRING_EQUAL(err, "endpoint: expected an http:// or https:// URL");
}

/* BigQuery refusing the query over @cursor's type (invalidQuery, naming a
 * signature or the cursor) is told where the type came from; not after a
 * dry run trying types, another reason, or another message. */
static void test_refused_cursor_type_says_where_the_type_came_from(void)
{
	static const struct {
		enum type_from from;
		const char *reason, *message, *hint; /* hint NULL: none */
	} rows[] = {
		{TYPE_COLUMN, "invalidQuery", "No matching signature for operator >=",
		 " (@cursor was sent as STRING, the type of the first cursor column: set "
		 "cursor_type if the query compares :cursor with another type)"},
		{TYPE_GUESSED, "invalidQuery", "Query parameter 'cursor' not found",
		 " (@cursor was sent as STRING, guessed from its value: set cursor_type if the "
		 "column has another type)"},
		{TYPE_CONFIG, "invalidQuery", "No matching signature for operator >=",
		 " (@cursor was sent as STRING, as cursor_type says)"},
		{TYPE_PROBE, "invalidQuery", "No matching signature for operator >=", NULL},
		{TYPE_COLUMN, "invalid", "No matching signature for operator >=", NULL},
		{TYPE_COLUMN, "invalidQuery", "Syntax error: Unexpected end of script", NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bq_query q = {.sent_from = rows[i].from, .sent_type = "STRING"};
		char body[512], err[1024], want[1024];

		snprintf(body, sizeof(body), "{\"error\": {\"code\": 400, \"message\": \"%s\", "
			 "\"errors\": [{\"reason\": \"%s\"}]}}", rows[i].message, rows[i].reason);
		q.http.resp.p = body;
		CU_ASSERT_EQUAL(bq_error_decode(400, body, "", want, sizeof(want)), HUB_ERR_CONFIG);
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s",
			 rows[i].hint ? rows[i].hint : "");
		CU_ASSERT_EQUAL(answer_error(&q, 400, err, sizeof(err)), HUB_ERR_CONFIG);
		CU_ASSERT_STRING_EQUAL(err, want);
	}
}

/* A text grows to whatever is added at once, past twice its size too. */
static void test_text_grows_past_twice_its_size_at_once(void)
{
	struct bq_text t = {0};
	char *big = malloc(100000);

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'x', 100000);
	bq_text_add(&t, "a", 1);
	bq_text_add(&t, big, 100000);
	CU_ASSERT_FATAL(!t.failed && t.len == 100001 && t.cap > 100001);
	CU_ASSERT_EQUAL(t.p[0], 'a');
	CU_ASSERT_EQUAL(memcmp(t.p + 1, big, 100000), 0);
	CU_ASSERT_EQUAL(t.p[100001], '\0');
	free(big);
	free(t.p);
}

/* A JSON string escapes quotes, backslashes and control characters (as
 * \u00XX, both hex digits), nothing else: a space and DEL stay. */
static void test_json_string_escapes_quotes_backslashes_and_controls(void)
{
	struct bq_text t = {0};

	bq_text_json_string(&t, "a b\"\\\x01\x1f\x7f\n");
	CU_ASSERT_FATAL(t.p != NULL);
	CU_ASSERT_STRING_EQUAL(t.p, "\"a b\\\"\\\\\\u0001\\u001f\x7f\\u000a\"");
	free(t.p);
}

/* mono_clock_ms (plugins/common/mono_clock.h), which times requests
 * (struct bq_http's deadline_ms) and jobs, is the monotonic clock in ms. */
static void test_mono_clock_is_the_monotonic_clock_in_ms(void)
{
	struct timespec ts;
	int64_t before, now, after;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	now = mono_clock_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	CU_ASSERT(before <= now && now <= after);
}

/* A POST carries the bearer token, the extra header, its Content-Type,
 * the user agent and the whole body; the GET after it on the same handle
 * is a GET.  Each answer's status, body ("" when empty, the first one
 * too) and Retry-After are its own (none left from the one before). */
static void test_http_request_sends_headers_body_and_reads_the_answer(void)
{
	static const struct testlib_answer answers[] = {
		{503, NULL, NULL},
		{200, "Retry-After: 4\r\n", "{\"a\": 1}"},
		{503, NULL, NULL},
	};
	char *dir = testlib_mkdtemp(), requests[512], url[96], err[256] = "", got[8192];
	struct bq_http h;
	long status = 0;
	int port = 0;
	pid_t pid;
	FILE *in;

	snprintf(requests, sizeof(requests), "%s/requests", dir);
	pid = testlib_http_server(answers, 3, requests, &port);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/get", port);
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 503);
	CU_ASSERT(is_text(h.resp.p, ""));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/post", port);
	CU_ASSERT_EQUAL(bq_http_request(&h, url, "tok-1", "X-Extra: 1", "{\"q\": 1}",
					"application/json", "jobs.query", &status, err,
					sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT(is_text(h.resp.p, "{\"a\": 1}"));
	CU_ASSERT_STRING_EQUAL(h.retry_after, "4");
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 503);
	CU_ASSERT(is_text(h.resp.p, ""));
	CU_ASSERT_STRING_EQUAL(h.retry_after, "");
	got[0] = '\0';
	if ((in = fopen(requests, "r"))) {
		got[fread(got, 1, sizeof(got) - 1, in)] = '\0';
		fclose(in);
	}
	CU_ASSERT_EQUAL(testlib_lines_with(got, "POST /post HTTP/1.1"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Authorization: Bearer tok-1"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "X-Extra: 1"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Content-Type: application/json"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Content-Length: 8"), 1);
	CU_ASSERT_EQUAL(testlib_count_of(got, "\r\n\r\n{\"q\": 1}GET /post HTTP/1.1\r\n"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "User-Agent: " USER_AGENT), 3);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Authorization:"), 1);
	bq_http_cleanup(&h);
	testlib_http_server_stop(pid);
	testlib_rmtree(dir);
	free(dir);
}

/* text_secret_redact (plugins/common/text.h): each copy of the secret,
 * whole or cut short (8 bytes or more of its start: an echo that keeps
 * only the start), becomes "[redacted]" (stars when shorter), the rest
 * stays and the bytes freed are wiped.  A secret under 8 bytes is
 * redacted where it stands apart (no letter or digit beside it), not
 * inside a word: it was left in clear everywhere.  Copies that overlap
 * are one run (the greedy scan left a whole copy's tail in clear after a
 * cut copy it took first). */
static void test_secret_redact_takes_whole_and_cut_copies(void)
{
	static const struct {
		const char *text, *secret, *want;
	} rows[] = {
		{"a SECRET-12345 b SECRET-12345.", "SECRET-12345", "a [redacted] b [redacted]."},
		{"cut: SECRET-123", "SECRET-12345", "cut: [redacted]"},
		{"cut: SECRET-1", "SECRET-12345", "cut: ********"},
		{"short SECRET- x", "SECRET-12345", "short SECRET- x"},
		{"abcdefgh!", "abcdefghi", "********!"},
		/* a cut copy running into a whole one (the secret's start
		 * repeats): one run, the whole copy's tail too */
		{"x abcdefghabcdefghabcdefghXYZ-tail-0123 y", "abcdefghabcdefghXYZ-tail-0123",
		 "x [redacted] y"},
		{"aaaaaaaaaaaaaaaaaaab!", "aaaaaaaaaaaab", "[redacted]!"},
		/* shorter than 8 bytes: whole, and a word of its own */
		{"t t t", "t", "* * *"},
		{"the tt t.", "t", "the tt *."},
		{"Bearer abc12, \"abc12\" abc12", "abc12", "Bearer *****, \"*****\" *****"},
		{"xabc12 abc12x abc1 \xc3\xa9" "abc12", "abc12", "xabc12 abc12x abc1 \xc3\xa9" "abc12"},
		{"-a-a x-a", "-a", "**-a x-a"}, /* beside the text's "a", not the mark's "*" */
		{"none", NULL, "none"},
		{"none", "", "none"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[64];
		size_t was = (size_t)snprintf(buf, sizeof(buf), "%s", rows[i].text);
		size_t len = text_secret_redact(buf, was, rows[i].secret);

		CU_ASSERT_STRING_EQUAL(buf, rows[i].want);
		CU_ASSERT_EQUAL(len, strlen(rows[i].want));
		for (size_t j = len; j <= was; j++)
			CU_ASSERT_EQUAL(buf[j], '\0');
	}
}

/* text_url_userinfo_redact (plugins/common/text.h): the user info of each
 * URL a message holds becomes "[redacted]" (stars when shorter); an '@'
 * past the authority (a path's, a query's) and the rest stay.  A URL in
 * quotes (curl's "Unsupported proxy syntax in '...'") runs to the line's
 * last such quote, its user info to the last '@' before it: a password
 * holding a quote, a blank or a '/' (why curl refused its syntax) ended
 * the authority early and was left in clear; a quoted path's '@' takes
 * the host with it. */
static void test_url_userinfo_redact_takes_each_url_s_user_info(void)
{
	static const struct {
		const char *text, *want;
	} rows[] = {
		{"Unsupported proxy scheme for 'foo://u:s3cretpw@h:1'",
		 "Unsupported proxy scheme for 'foo://[redacted]@h:1'"},
		{"http://u:pw@h/x?a=b@c", "http://****@h/x?a=b@c"},
		{"a://x@y@z b://@h c://h/p@q d://h?k=v@w",
		 "a://***@z b://@h c://h/p@q d://h?k=v@w"},
		{"\"http://user:password-long@db\" and https://k@e",
		 "\"http://[redacted]@db\" and https://*@e"},
		{"no url here", "no url here"},
		{"x://", "x://"},
		{"://@", "://@"},
		{"Unsupported proxy scheme for 'foo://user:p'ssw0rd@h:1'",
		 "Unsupported proxy scheme for 'foo://[redacted]@h:1'"},
		{"Unsupported proxy syntax in 'http://user:pa ss/w0rd@h:1'",
		 "Unsupported proxy syntax in 'http://[redacted]@h:1'"},
		{"in \"http://user:pa\"ss#w@h\"\nhttp://h/p@q \"",
		 "in \"http://[redacted]@h\"\nhttp://h/p@q \""}, /* a quote's URL ends its line */
		{"'http://h/x?a=b@c' `x://u@h`", "'http://*******@c' `x://*@h`"},
		{"'http://user:pw@h", "'http://*******@h"}, /* no closing quote */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "%s", rows[i].text);
		text_url_userinfo_redact(buf);
		CU_ASSERT_STRING_EQUAL(buf, rows[i].want);
	}
}

/*
 * A refusal that echoes the request (a proxy, a test server, a misrouted
 * endpoint or token_uri) is quoted without the credential the request
 * carried: a call's bearer token, a token grant's assertion (the signed
 * JWT, which buys a token).  Both were quoted whole.  A 2xx answer is
 * data: it is left as it came.
 */
static void test_a_refusal_that_echoes_the_request_quotes_no_credential(void)
{
	static const struct testlib_answer answers[] = {
		{401, NULL,
		 "{\"error\": {\"code\": 401, \"message\": \"you sent %s\", "
		 "\"errors\": [{\"reason\": \"unauthorized\"}]}}"},
		{200, NULL, "{\"echo\": \"%s\"}"},
		{400, NULL,
		 "{\"error\": {\"code\": 400, \"message\": \"you sent %s\", "
		 "\"errors\": [{\"reason\": \"invalid\"}]}}"},
	};
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *dir = testlib_mkdtemp(), *made = NULL, *path = NULL, url[96], err[1024] = "";
	struct bq_auth *a = NULL;
	struct bq_http h;
	hub_rc rc = HUB_OK;
	long status = 0;
	int port = 0;
	pid_t pid = testlib_http_echo_server(answers, 3, NULL, &port);

	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/queries", port);
	CU_ASSERT_EQUAL(bq_http_request(&h, url, "tok-secret-1", NULL, "{}", "application/json",
					"jobs.query", &status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 401);
	CU_ASSERT_PTR_NULL(strstr(h.resp.p, "tok-secret-1"));
	CU_ASSERT_EQUAL(strlen(h.resp.p), h.resp.len);
	CU_ASSERT_EQUAL(bq_error_decode(status, h.resp.p, "", err, sizeof(err)), HUB_ERR_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, " Authorization: Bearer [redacted] "));
	CU_ASSERT_EQUAL(bq_http_request(&h, url, "tok-secret-1", NULL, "{}", "application/json",
					"jobs.query", &status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(h.resp.p, " Authorization: Bearer tok-secret-1 "));
	/* the grant: the key file's token_uri is the server */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/token", port);
	made = key_json_at(key, "service_account", url);
	path = testlib_write_file(dir, "key.json", made);
	CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_SERVICE_ACCOUNT, path, &a, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(bq_auth_token(a, &h, 1000, &rc, err, sizeof(err)));
	CU_ASSERT_EQUAL(rc, HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "&assertion=[redacted]"));
	CU_ASSERT_PTR_NULL(strstr(err, "&assertion=eyJ"));
	bq_auth_free(a);
	bq_http_cleanup(&h);
	testlib_http_server_stop(pid);
	testlib_rmtree(dir);
	free(path);
	free(made);
	free(dir);
	EVP_PKEY_free(key);
}

/* An answer past answer_max (decoded; BQ_ANSWER_MAX unless set) fails the
 * request as a configuration matter naming the bound: it was held whole
 * however large.  Memory running out for one is HUB_ERR_NOMEM: curl
 * reports either as a failed write (CURLE_WRITE_ERROR), which was taken
 * for a misconfiguration and disabled the source.  The next answer is
 * read afresh. */
static void test_http_answer_over_its_bound_or_memory_says_which(void)
{
	struct testlib_answer answers[3] = {{200, NULL, NULL}, {200, NULL, NULL},
					    {200, NULL, "{\"a\": 1}"}};
	size_t n = 200000;
	char *big = malloc(n + 1), url[96], err[256] = "";
	struct bq_http h;
	long status = 0;
	int port = 0;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', n);
	big[n] = '\0';
	answers[0].body = answers[1].body = big;
	pid = testlib_http_server(answers, 3, NULL, &port);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(h.answer_max, BQ_ANSWER_MAX);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/q", port);
	h.answer_max = 65536;
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: an answer over 65536 bytes (decoded): lower "
			       "page_size");
	CU_ASSERT(h.resp.len <= 65536);
	h.answer_max = 0;
	text_realloc_max = 100000;
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_ERR_NOMEM);
	text_realloc_max = 0;
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: out of memory for the answer");
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT(is_text(h.resp.p, "{\"a\": 1}"));
	bq_http_cleanup(&h);
	testlib_http_server_stop(pid);
	free(big);
}

/* A failed exchange says what was asked and curl's reason: a server not
 * listening is retried, a URL curl cannot read is not. */
static void test_http_request_failure_is_retried_only_when_transient(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char url[96], err[256] = "";
	struct bq_http h;
	long status = 7;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0 &&
			getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	close(fd); /* its port: nothing listens there */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/q", ntohs(in.sin_port));
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "jobs.get", &status, err,
					sizeof(err)),
			HUB_RETRY);
	CU_ASSERT_EQUAL(status, 0);
	CU_ASSERT_STRING_EQUAL(err, "jobs.get: Couldn't connect to server");
	CU_ASSERT_EQUAL(bq_http_request(&h, "http://[::1/q", NULL, NULL, NULL, NULL, "jobs.get",
					&status, err, sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(err, "jobs.get: URL using bad/illegal format or missing URL");
	bq_http_cleanup(&h);
}

/* A server that never answers: the request ends at its deadline (in a
 * child, which an alarm ends should the request hang). */
static void test_http_request_ends_at_its_deadline(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0 &&
			listen(fd, 4) == 0 && getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) { /* connects (the backlog accepts), sends, never hears back */
		char url[96], err[256] = "";
		struct bq_http h;
		long st = 0;
		hub_rc rc;

		alarm(10);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/q", ntohs(in.sin_port));
		if (bq_http_init(&h, err, sizeof(err)) != 0)
			_exit(2);
		h.deadline_ms = mono_clock_ms() + 300;
		rc = bq_http_request(&h, url, NULL, NULL, NULL, NULL, "jobs.cancel", &st, err,
				     sizeof(err));
		_exit(rc == HUB_RETRY && strncmp(err, "jobs.cancel: Timeout", 20) == 0 ? 0 : 1);
	}
	expect_child_exited_0(pid, "a request past its deadline");
	close(fd);
}

/* ---- against a loopback HTTP server -------------------------------------------------------- */

static int64_t fake_now_ms(void)
{
	return 1700000000000;
}

static char fake_logged[512]; /* the last line logged */

static void fake_log(const struct hub_instance *inst, enum hub_log_level level, const char *fmt,
		     ...)
{
	va_list ap;

	(void)inst;
	(void)level;
	va_start(ap, fmt);
	vsnprintf(fake_logged, sizeof(fake_logged), fmt, ap);
	va_end(ap);
}

static const struct hub_host fake_host = {.now_ms = fake_now_ms, .log = fake_log};

/* A query (a static token) whose endpoint is a testlib_http_server giving
 * answers; what it was asked is read with fake_requests(). */
struct fake_bq {
	char *dir, requests[512], endpoint[64];
	pid_t pid;
	struct bq_query *q;
};

static void fake_open(struct fake_bq *f, const struct testlib_answer *answers, size_t n)
{
	int port = 0;

	f->dir = testlib_mkdtemp();
	snprintf(f->requests, sizeof(f->requests), "%s/requests", f->dir);
	f->pid = testlib_http_server(answers, n, f->requests, &port);
	CU_ASSERT_FATAL(f->pid > 0);
	snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%d", port);
	f->q = query_of(f->endpoint, NULL);
	f->q->host = &fake_host;
}

/* The requests the server got, as text (at most size - 1 bytes). */
static const char *fake_requests(struct fake_bq *f, char *buf, size_t size)
{
	FILE *in = fopen(f->requests, "r");

	buf[0] = '\0';
	if (in) {
		buf[fread(buf, 1, size - 1, in)] = '\0';
		fclose(in);
	}
	return buf;
}

static void fake_close(struct fake_bq *f)
{
	bq_query_free(f->q);
	testlib_http_server_stop(f->pid);
	testlib_rmtree(f->dir);
	free(f->dir);
}

/* fake_open() with a running job whose results are read at /q */
static void fake_open_job(struct fake_bq *f, const struct testlib_answer *answers, size_t n)
{
	char job_url[96];

	fake_open(f, answers, n);
	snprintf(job_url, sizeof(job_url), "%s/q?maxResults=1", f->endpoint);
	f->q->job_url = strdup(job_url);
	f->q->is_job_running = 1;
}

/* getQueryResults (polled until jobComplete) against answers: a failed
 * poll (503) is sent again, 4 times in a row at most, and a poll answered
 * in between starts the count again; a job seen complete is no longer
 * running; a 404 (the results are gone) runs the query again, with nothing
 * left to cancel; a 400 is the job's own failure, ended too.  A next page
 * is asked for with its pageToken.  A fifth failure in a row fails the
 * pull.  The waits double from 20 ms here (GET_RETRY_FIRST_MS, 200 ms, took
 * 6 s of this test). */
static void test_get_results_polls_and_sends_a_failed_poll_again(void)
{
	static const struct testlib_answer answers[] = {
		{503, NULL, NULL}, {503, NULL, NULL}, {503, NULL, NULL}, {503, NULL, NULL},
		{200, NULL, "{\"jobComplete\": false}"},
		{503, NULL, NULL},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
		{404, NULL, NULL},
		{400, NULL, "{\"error\": {\"code\": 400, \"message\": \"Division by zero\", "
			    "\"errors\": [{\"reason\": \"invalidQuery\"}]}}"},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
		{503, NULL, NULL}, {503, NULL, NULL}, {503, NULL, NULL}, {503, NULL, NULL},
		{503, NULL, NULL},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"}, /* never asked for */
	};
	char err[512] = "", want[512], got[8192];
	struct fake_bq f;
	json_t *root = NULL;

	CU_ASSERT_EQUAL(get_retry_first_ms, 200);
	get_retry_first_ms = 20;
	fake_open_job(&f, answers, sizeof(answers) / sizeof(answers[0]));
	f.q->page_token = strdup("p 1/2");
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_OK);
	CU_ASSERT(json_is_true(json_object_get(root, "jobComplete")));
	CU_ASSERT_EQUAL(f.q->is_job_running, 0);
	json_decref(root);
	f.q->is_job_running = 1;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: the job's results are gone (HTTP 404): "
				    "the query runs again");
	CU_ASSERT_EQUAL(f.q->is_job_running, 0);
	f.q->is_job_running = 1;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "Division by zero"));
	CU_ASSERT_EQUAL(f.q->is_job_running, 0);
	CU_ASSERT_PTR_NULL(root);
	CU_ASSERT_EQUAL(bq_get_results(f.q, 1, &root, err, sizeof(err)), HUB_OK);
	json_decref(root);
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_PTR_NULL(root);
	bq_error_decode(503, "", "", want, sizeof(want)); /* the fifth 503's */
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(fake_logged, "(sent again, 4 of 4, in 160 ms)"));
	get_retry_first_ms = GET_RETRY_FIRST_MS;
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q?maxResults=1 HTTP/1.1"), 14);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q?maxResults=1&pageToken=p%201%2F2 HTTP/1.1"),
			1);
	fake_close(&f);
}

/* The waits before requests sent again are run_wait_max_ms in all in one
 * run (5 min; 1 s here): a getQueryResults whose Retry-After asks for more
 * than is left ends the run at once, HUB_ERR_BUSY (not tried again within
 * the run), "retry after Ns: " first for the scheduler and the wait named,
 * nothing more sent; a jobs.query's too (the hub would wait it), its
 * requestId not kept.  The next run (bq_query_run_end) has it all again. */
static void test_retry_after_past_the_run_wait_ends_the_run(void)
{
	static const struct testlib_answer answers[] = {
		{503, NULL, NULL}, /* 20 ms: taken */
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
		{429, "Retry-After: 1\r\n",
		 "{\"error\": {\"code\": 429, \"message\": \"Slow down\", "
		 "\"errors\": [{\"reason\": \"rateLimitExceeded\"}]}}"},
		{429, "Retry-After: 3600\r\n", NULL}, /* jobs.query */
		{503, NULL, NULL}, /* the next run: 20 ms, taken */
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
	};
	char err[512] = "", got[8192];
	struct fake_bq f;
	json_t *root = NULL;

	get_retry_first_ms = 20;
	run_wait_max_ms = 1000;
	fake_open_job(&f, answers, sizeof(answers) / sizeof(answers[0]));
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_OK);
	json_decref(root);
	CU_ASSERT_EQUAL(f.q->run_waited_ms, 20);
	f.q->is_job_running = 1;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_ERR_BUSY);
	CU_ASSERT_PTR_NULL(root);
	CU_ASSERT_STRING_EQUAL(err, "retry after 1s: BigQuery rateLimitExceeded (HTTP 429): Slow "
				    "down (a wait of 1 s asked for; this run has waited 0 s of the "
				    "1 s it may: it ends, and the next run starts over from the "
				    "checkpoint)");
	CU_ASSERT_EQUAL(f.q->run_waited_ms, 20);
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "a", 0, &root, err, sizeof(err)),
			HUB_ERR_BUSY);
	CU_ASSERT_EQUAL(strncmp(err, "retry after 3600s: BigQuery", 27), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(a wait of 3600 s asked for;"));
	CU_ASSERT_EQUAL(f.q->has_pending, 0);
	bq_query_run_end(f.q);
	CU_ASSERT_EQUAL(f.q->run_waited_ms, 0);
	f.q->is_job_running = 1;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_OK);
	json_decref(root);
	get_retry_first_ms = GET_RETRY_FIRST_MS;
	run_wait_max_ms = RUN_WAIT_MAX_MS;
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q?maxResults=1 HTTP/1.1"), 5);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "POST /bigquery/v2/projects/"), 1);
	fake_close(&f);
}

/* query_timeout: a job still running (jobComplete: false) once it has
 * run that long is given up, HUB_RETRY naming the job and the key (the
 * caller cancels it), without another poll; within it, polled on, and a
 * job complete past it is read as usual. */
static void test_get_results_gives_up_a_job_past_query_timeout(void)
{
	static const struct testlib_answer answers[] = {
		{200, NULL, "{\"jobComplete\": false}"},
		{200, NULL, "{\"jobComplete\": false}"},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"}, /* never asked for */
	};
	char err[512] = "", got[4096];
	struct fake_bq f;
	json_t *root = NULL;

	fake_open_job(&f, answers, sizeof(answers) / sizeof(answers[0]));
	f.q->job_id = strdup("job_7");
	f.q->timeout_ms = 60000;
	f.q->job_started_ms = mono_clock_ms() - 60000;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_PTR_NULL(root);
	CU_ASSERT_STRING_EQUAL(err, "job job_7 still running after query_timeout (60 s): "
				    "cancelled, the run is retried (raise query_timeout for a "
				    "query this long)");
	CU_ASSERT_EQUAL(f.q->is_job_running, 1); /* for the caller to cancel */
	f.q->job_started_ms = mono_clock_ms();
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_OK);
	json_decref(root);
	f.q->job_started_ms = mono_clock_ms() - 600000;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_OK);
	json_decref(root);
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q?maxResults=1 HTTP/1.1"), 4);
	fake_close(&f);
}

/* A call answered 401 gets a new token and is sent once more; a second
 * 401 is the answer.  (A metadata server gives the tokens.) */
static void test_api_call_answered_401_is_sent_again_once_with_a_new_token(void)
{
	static const struct testlib_answer answers[] = {
		{200, NULL, "{\"access_token\": \"t1\", \"expires_in\": 3600}"},
		{401, NULL, NULL},
		{200, NULL, "{\"access_token\": \"t2\", \"expires_in\": 3600}"},
		{200, NULL, "{}"},
		{401, NULL, NULL},
		{200, NULL, "{\"access_token\": \"t3\", \"expires_in\": 3600}"},
		{401, NULL, NULL},
	};
	const char *env = getenv("GCE_METADATA_HOST");
	char *was = env ? strdup(env) : NULL, url[96], err[512] = "", got[8192];
	struct fake_bq f;
	long status = 0;

	fake_open(&f, answers, sizeof(answers) / sizeof(answers[0]));
	snprintf(url, sizeof(url), "%s/q", f.endpoint);
	bq_auth_free(f.q->auth);
	setenv("GCE_METADATA_HOST", f.endpoint + strlen("http://"), 1);
	CU_ASSERT_EQUAL(bq_auth_new(BQ_AUTH_METADATA, NULL, &f.q->auth, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(api_call(f.q, url, NULL, "getQueryResults", &status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_EQUAL(api_call(f.q, url, NULL, "getQueryResults", &status, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(status, 401);
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q HTTP/1.1"), 4);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Authorization: Bearer t1"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Authorization: Bearer t2"), 2);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "Authorization: Bearer t3"), 1);
	if (was)
		setenv("GCE_METADATA_HOST", was, 1);
	else
		unsetenv("GCE_METADATA_HOST");
	free(was);
	fake_close(&f);
}

#define REFUSED(types)                                                                    \
	{400, NULL, "{\"error\": {\"code\": 400, \"message\": \"No matching signature for "  \
		    "operator >= for argument types: " types "\", \"errors\": [{\"reason\": " \
		    "\"invalidQuery\"}]}}"}
#define DRY_RUN(type) {200, NULL, "{\"schema\": {\"fields\": [{\"name\": \"ID\", \"type\": \"" \
				  type "\"}]}}"}

/* @cursor's type, before a process's first query: dry runs try types
 * until one is accepted, whose schema gives the cursor column's type (or
 * none: a guess from the value), once; when every type is refused the
 * first refusal is the error; cursor_type needs no dry run. */
static void test_dry_runs_learn_the_cursor_type_once(void)
{
	static const struct testlib_answer answers[] = {
		REFUSED("BOOL, STRING"), REFUSED("BOOL, INT64"), REFUSED("BOOL, TIMESTAMP"),
		REFUSED("BOOL, DATE"), REFUSED("BOOL, BYTES"),
		REFUSED("BOOL, STRING"), DRY_RUN("BOOL"),
		DRY_RUN("INT64"),
	};
	static const struct {
		const char *param;
		int n;
	} tried[] = { /* the types the dry runs sent, as often as they sent them */
		{"{\"type\":\"STRING\"},\"parameterValue\":{\"value\":\"1970-01-01\"}", 3},
		{"{\"type\":\"INT64\"},\"parameterValue\":{\"value\":\"0\"}", 2},
		{"{\"type\":\"TIMESTAMP\"}", 1},
		{"{\"type\":\"DATE\"}", 1},
		{"{\"type\":\"BYTES\"}", 1},
	};
	char err[1024] = "", want[1024], got[16384];
	const char *type = NULL;
	struct rowmap *m = NULL;
	struct fake_bq f;
	int did_probe = 0;

	CU_ASSERT_EQUAL_FATAL(rowmap_new(&id_map, &m, err, sizeof(err)), 0);
	fake_open(&f, answers, sizeof(answers) / sizeof(answers[0]));
	CU_ASSERT_EQUAL(cursor_type_for(f.q, m, &type, &did_probe, err, sizeof(err)),
			HUB_ERR_CONFIG);
	bq_error_decode(400, answers[0].body, "", want, sizeof(want));
	snprintf(want + strlen(want), sizeof(want) - strlen(want), " (dry runs found no @cursor "
		 "type the query accepts: STRING, INT64, TIMESTAMP, DATE and BYTES were tried; "
		 "set cursor_type)");
	CU_ASSERT_STRING_EQUAL(err, want);
	/* INT64 accepted, a BOOL column: no type a parameter has */
	CU_ASSERT_EQUAL(cursor_type_for(f.q, m, &type, &did_probe, err, sizeof(err)), HUB_OK);
	CU_ASSERT_PTR_NULL(type);
	CU_ASSERT_EQUAL(did_probe, 1);
	CU_ASSERT_EQUAL(f.q->sent_from, TYPE_GUESSED);
	CU_ASSERT_EQUAL(cursor_type_for(f.q, m, &type, &did_probe, err, sizeof(err)), HUB_OK);
	CU_ASSERT_PTR_NULL(type);
	CU_ASSERT_EQUAL(did_probe, 0);
	/* another process: STRING accepted, an INT64 column */
	f.q->is_probed = 0;
	CU_ASSERT_EQUAL(cursor_type_for(f.q, m, &type, &did_probe, err, sizeof(err)), HUB_OK);
	CU_ASSERT(is_text(type, "INT64"));
	CU_ASSERT_EQUAL(f.q->sent_from, TYPE_COLUMN);
	f.q->cursor_type = strdup("NUMERIC");
	CU_ASSERT_EQUAL(cursor_type_for(f.q, m, &type, &did_probe, err, sizeof(err)), HUB_OK);
	CU_ASSERT(is_text(type, "NUMERIC"));
	CU_ASSERT_EQUAL(f.q->sent_from, TYPE_CONFIG);
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "POST /bigquery/v2/projects/proj-1/queries "), 8);
	for (size_t i = 0; i < sizeof(tried) / sizeof(tried[0]); i++)
		CU_ASSERT_EQUAL(testlib_lines_with(got, tried[i].param), tried[i].n);
	fake_close(&f);
	rowmap_free(m);
}

/* A page is the pull's batch: at least 1 row, at most 100000. */
static void test_page_size_is_the_batch_within_1_and_100000_rows(void)
{
	static const struct {
		size_t batch_hint;
		const char *sent;
	} rows[] = {{0, "\"maxResults\":1,"}, {100000, "\"maxResults\":100000,"},
		    {100001, "\"maxResults\":100000,"}};
	static const struct testlib_answer answers[] = {
		{200, NULL, "{\"jobComplete\": true, \"jobReference\": {\"jobId\": \"j\"}, "
			    "\"schema\": {\"fields\": [{\"name\": \"ID\", \"type\": \"STRING\"}]}, "
			    "\"rows\": []}"},
	};
	char err[512] = "", got[4096];
	struct rowmap *m = NULL;

	CU_ASSERT_EQUAL_FATAL(rowmap_new(&id_map, &m, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fake_bq f;

		fake_open(&f, answers, 1);
		f.q->cursor_type = strdup("STRING");
		CU_ASSERT_EQUAL(q_open(f.q, m, "a", rows[i].batch_hint, err, sizeof(err)), HUB_OK);
		q_close(f.q);
		CU_ASSERT_PTR_NOT_NULL(strstr(fake_requests(&f, got, sizeof(got)), rows[i].sent));
		fake_close(&f);
	}
	rowmap_free(m);
}

/* Pages without rows are read on, 1000 in a row at most: the 1000th
 * page's row is read. */
static void test_1000_pages_without_rows_are_read_on(void)
{
	struct testlib_answer *answers = calloc(1000, sizeof(*answers));
	const struct rm_cell *row = NULL;
	struct rowmap *m = NULL;
	char err[512] = "", job_url[96];
	struct fake_bq f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(answers);
	for (size_t i = 0; i < 1000; i++)
		answers[i] = (struct testlib_answer){
			200, NULL, i < 999 ? "{\"jobComplete\": true, \"rows\": [], "
					     "\"pageToken\": \"t\"}"
					   : "{\"jobComplete\": true, \"rows\": [{\"f\": "
					     "[{\"v\": \"x\"}]}]}"};
	CU_ASSERT_EQUAL_FATAL(rowmap_new(&id_map, &m, err, sizeof(err)), 0);
	fake_open(&f, answers, 1000);
	CU_ASSERT_EQUAL(schema_of(f.q, m, "{\"name\": \"ID\", \"type\": \"STRING\"}"), HUB_OK);
	snprintf(job_url, sizeof(job_url), "%s/q?maxResults=1", f.endpoint);
	f.q->job_url = strdup(job_url);
	take_page(f.q, json_loads("{\"rows\": [], \"pageToken\": \"t\"}", 0, NULL), err,
		  sizeof(err));
	CU_ASSERT_EQUAL(q_next(f.q, &row, err, sizeof(err)), HUB_MORE);
	CU_ASSERT(row && is_text(row[0].text, "x"));
	fake_close(&f);
	rowmap_free(m);
	free(answers);
}

/* check, before a process's first query: the dry run that learns the
 * cursor column's type is the check (no second one), and the cursor's
 * value must then read as that type. */
static void test_check_is_the_dry_run_that_learns_the_type(void)
{
	static const struct testlib_answer answers[] = {DRY_RUN("INT64"), DRY_RUN("INT64")};
	char err[512] = "", got[4096];
	struct rowmap *m = NULL;
	struct fake_bq f;

	CU_ASSERT_EQUAL_FATAL(rowmap_new(&id_map, &m, err, sizeof(err)), 0);
	fake_open(&f, answers, sizeof(answers) / sizeof(answers[0]));
	CU_ASSERT_EQUAL(bq_query_check(f.q, m, "5", err, sizeof(err)), HUB_OK);
	f.q->is_probed = 0; /* another process */
	f.q->learned_type[0] = '\0';
	CU_ASSERT_EQUAL(bq_query_check(f.q, m, "five", err, sizeof(err)), HUB_ERR_CONFIG);
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "POST /bigquery/v2/projects/proj-1/queries "), 2);
	fake_close(&f);
	rowmap_free(m);
}

#define JOB_RUNS(id)                                                                      \
	{200, NULL, "{\"jobComplete\": false, \"jobReference\": {\"jobId\": \"" id "\"}}"}
#define REFUSED_POLL                                                                      \
	{403, NULL, "{\"error\": {\"code\": 403, \"errors\": [{\"reason\": \"accessDenied\"}]}}"}

/* jobs.query: one refused for now (429) is sent again with its requestId,
 * one answered takes a new one; a job that failed (400) is not cancelled,
 * one given up on (its poll refused) is, and a cancel that fails is
 * logged; a complete answer without a job is read when it has no more
 * pages. */
static void test_run_query_resends_cancels_and_logs_as_the_job_went(void)
{
	static const struct testlib_answer answers[] = {
		{429, NULL, NULL},
		{200, NULL, "{\"jobComplete\": true, \"rows\": []}"},
		JOB_RUNS("j1"),
		{400, NULL, "{\"error\": {\"code\": 400, \"message\": \"Division by zero\", "
			    "\"errors\": [{\"reason\": \"invalidQuery\"}]}}"},
		JOB_RUNS("j2"),
		REFUSED_POLL,
		{200, NULL, "{}"},
		JOB_RUNS("j3"),
		REFUSED_POLL,
		{500, NULL, NULL},
	};
	char err[512] = "", got[16384], id[4][64] = {"", "", "", ""};
	const char *at;
	struct fake_bq f;
	json_t *root = NULL;
	size_t n = 0;

	fake_open(&f, answers, sizeof(answers) / sizeof(answers[0]));
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "a", 0, &root, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "a", 0, &root, err, sizeof(err)), HUB_OK);
	CU_ASSERT_PTR_NOT_NULL(root);
	json_decref(root);
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "a", 0, &root, err, sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "b", 0, &root, err, sizeof(err)),
			HUB_ERR_AUTH);
	fake_logged[0] = '\0';
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "c", 0, &root, err, sizeof(err)),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(strncmp(fake_logged, "could not cancel job j3: ", 25), 0);
	fake_requests(&f, got, sizeof(got));
	for (at = got; n < 4 && (at = strstr(at, "\"requestId\":\"")); at++, n++)
		sscanf(at, "\"requestId\":\"%63[^\"]", id[n]);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_STRING_EQUAL(id[0], id[1]);
	CU_ASSERT_STRING_NOT_EQUAL(id[1], id[2]);
	CU_ASSERT_STRING_NOT_EQUAL(id[2], id[3]);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "/jobs/j1/cancel"), 0);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "POST /bigquery/v2/projects/proj-1/jobs/j2/cancel"),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "/jobs/j3/cancel"), 1);
	fake_close(&f);
}

/* A 200 answer for a job that failed (jobComplete, errors[] and no
 * schema: BigQuery sends the schema only for a job that succeeded) fails
 * with the error's reason and message, from jobs.query or a poll, and the
 * poll is not sent again (the job has ended); errors[] beside a schema are
 * warnings.  It was read as a result: "a result schema without fields",
 * HUB_ERR_INTERNAL, whatever the reason. */
static void test_a_job_failed_in_a_200_answer_fails_with_its_error(void)
{
	static const struct testlib_answer answers[] = {
		{200, NULL, "{\"jobComplete\": true, \"jobReference\": {\"jobId\": \"j1\"}, "
			    "\"errors\": [{\"reason\": \"invalidQuery\", \"message\": "
			    "\"Division by zero: 1 / 0\"}]}"},
		{200, NULL, "{\"jobComplete\": true, \"errors\": [{\"reason\": "
			    "\"backendError\", \"message\": \"Retrying may solve it\"}]}"},
		{200, NULL, "{\"jobComplete\": true, \"errors\": [{\"reason\": \"stopped\"}]}"},
		{200, NULL, "{\"jobComplete\": true, \"schema\": {\"fields\": [{\"name\": \"a\", "
			    "\"type\": \"STRING\"}]}, \"rows\": [], \"errors\": [{\"reason\": "
			    "\"invalid\", \"message\": \"a warning\"}]}"},
	};
	char err[512] = "", job_url[96], got[8192];
	struct fake_bq f;
	json_t *root = NULL;

	fake_open(&f, answers, sizeof(answers) / sizeof(answers[0]));
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "a", 0, &root, err, sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(err, "BigQuery invalidQuery (the job failed): Division by zero: "
				    "1 / 0");
	CU_ASSERT_PTR_NULL(root);
	snprintf(job_url, sizeof(job_url), "%s/q?maxResults=1", f.endpoint);
	f.q->job_url = strdup(job_url);
	f.q->is_job_running = 1;
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "BigQuery backendError (the job failed): Retrying may solve "
				    "it");
	CU_ASSERT_PTR_NULL(root);
	CU_ASSERT_EQUAL(f.q->is_job_running, 0);
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "BigQuery stopped (the job failed): (no message)");
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_OK);
	CU_ASSERT_PTR_NOT_NULL(json_object_get(root, "schema"));
	json_decref(root);
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q?maxResults=1 HTTP/1.1"), 3);
	CU_ASSERT_EQUAL(testlib_lines_with(got, "/cancel"), 0);
	fake_close(&f);
}

/* A poll answered quotaExceeded is not sent again in place with a short
 * backoff (GET_RETRIES of up to 1.6 s, then the hub's): the run ends with
 * HUB_ERR_BUSY, "retry after 600s: " for the scheduler's next run; a job
 * that failed on a quota in a 200 answer the same. */
static void test_a_quota_exceeded_ends_the_run_for_600s(void)
{
	static const struct testlib_answer answers[] = {
		{403, NULL, ENV(403, "quotaExceeded", "Quota exceeded: too many bytes")},
		{200, NULL, "{\"jobComplete\": true, \"errors\": [{\"reason\": "
			    "\"quotaExceeded\", \"message\": \"Quota exceeded\"}]}"},
	};
	char err[512] = "", job_url[96], got[8192];
	struct fake_bq f;
	json_t *root = NULL;

	fake_open(&f, answers, sizeof(answers) / sizeof(answers[0]));
	snprintf(job_url, sizeof(job_url), "%s/q?maxResults=1", f.endpoint);
	f.q->job_url = strdup(job_url);
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_ERR_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "retry after 600s: BigQuery quotaExceeded (HTTP 403): "
				      "Quota exceeded: too many bytes"));
	CU_ASSERT_PTR_NULL(root);
	CU_ASSERT_EQUAL(bq_get_results(f.q, 0, &root, err, sizeof(err)), HUB_ERR_BUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "retry after 600s: BigQuery quotaExceeded (the job "
				      "failed): Quota exceeded"));
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "GET /q?maxResults=1 HTTP/1.1"), 2);
	fake_close(&f);
}

/* The plugin through the loader: a jobs.query refused for now (503) is
 * sent again with its requestId by the run's retry; once the run has
 * ended (run_end, ABI 1.14), the next run's is a new request with a new
 * requestId: with the old one BigQuery would answer with the earlier
 * run's job, its rows as they were then. */
static void test_a_request_id_pending_at_a_run_end_is_not_sent_again(void)
{
	static const struct testlib_answer answers[] = {
		{503, NULL, "{\"error\": {\"code\": 503, \"errors\": [{\"reason\": "
			    "\"backendError\"}]}}"},
		{503, NULL, "{\"error\": {\"code\": 503, \"errors\": [{\"reason\": "
			    "\"backendError\"}]}}"},
		{200, NULL, "{\"jobComplete\": true, \"totalRows\": \"0\", \"rows\": [], "
			    "\"schema\": {\"fields\": [{\"name\": \"id\", \"type\": \"INTEGER\"}]}}"},
	};
	char err[1024] = "", got[16384], id[3][64] = {"", "", ""};
	const char *at;
	struct pt_fixture f;
	struct fake_bq fb; /* its server only */
	size_t n = 0;

	/* no _FATAL once the server runs: a test that returned here would
	 * leave it running, holding the pass's output open (a hang) */
	fake_open(&fb, answers, 3);
	if (pt_try_open(&f, "bigquery", err, sizeof(err),
			"sources:\n  - name: w\n    plugin: bigquery\n    project: proj-1\n"
			"    access_token: t0k3n\n    endpoint: %s\n    cursor_type: INT64\n"
			"    query: SELECT id FROM t WHERE id > :cursor ORDER BY id\n"
			"    cursor: id\n    map: {custom_id: id, attributes: {n: id}}\n",
			fb.endpoint) ||
	    !f.mod.run_end) {
		CU_FAIL("the plugin did not start, or has no run_end");
		fprintf(stderr, "\n  %s\n", err);
		goto out;
	}
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(pt_pull(&f, "[\"5\"]", 10, err, sizeof(err)), HUB_RETRY);
	f.mod.run_end(f.inst->state);
	CU_ASSERT_EQUAL(pt_pull(&f, "[\"5\"]", 10, err, sizeof(err)), HUB_OK);
	fake_requests(&fb, got, sizeof(got));
	for (at = got; n < 3 && (at = strstr(at, "\"requestId\":\"")); at++, n++)
		sscanf(at, "\"requestId\":\"%63[^\"]", id[n]);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_STRING_EQUAL(id[1], id[0]);
	CU_ASSERT_STRING_NOT_EQUAL(id[2], id[0]);
out:
	pt_close(&f);
	fake_close(&fb);
}

/* ---- a request's bound and a stop ---------------------------------------------------------- */

static const struct bq_text *stop_once_read; /* should_stop: 1 once this text has bytes */

static int stop_once_reading(const struct hub_call *call)
{
	(void)call;
	return stop_once_read && stop_once_read->len > 0;
}

/* A server that trickles its answer (a byte every 100 ms, never the whole
 * of it) held a request until it gave up itself, 20 s here, for ever in
 * life: curl's low-speed limit does not trip at 10 bytes/s, and with no
 * deadline_ms (only a cancel sets one) nothing else ended it.  Now it
 * ends at transfer_ms (query_timeout, 60 s at least; HUB_RETRY, saying so)
 * and once the hub asks the pull to stop, mid-answer (HUB_ERR_STOPPED). */
static void test_http_request_trickled_ends_at_its_bound_or_a_stop(void)
{
	struct hub_host host = {.now_ms = fake_now_ms, .should_stop = stop_once_reading};
	char url[96], err[256] = "";
	int port = 0, call_tag = 0;
	struct bq_http h;
	long status = 0;
	int64_t t0;
	pid_t pid;

	/* the server once started, no _FATAL: it would be left running */
	CU_ASSERT_EQUAL_FATAL(bq_http_init(&h, err, sizeof(err)), 0);
	pid = testlib_trickle_server(100, 20000, &port);
	if (pid <= 0) {
		CU_FAIL("the trickling server did not start");
		bq_http_cleanup(&h);
		return;
	}
	CU_ASSERT_EQUAL(h.transfer_ms, BQ_QUERY_TIMEOUT_DEFAULT_MS);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/q", port);
	h.transfer_ms = 750;
	t0 = mono_clock_ms();
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_RETRY);
	CU_ASSERT(mono_clock_ms() - t0 < 10000);
	CU_ASSERT(h.resp.len > 0); /* it was reading */
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: no whole answer within 750 ms");

	h.transfer_ms = 60000;
	h.stop.host = &host;
	h.stop.call = (struct hub_call *)&call_tag;
	stop_once_read = &h.resp;
	t0 = mono_clock_ms();
	CU_ASSERT_EQUAL(bq_http_request(&h, url, NULL, NULL, NULL, NULL, "getQueryResults",
					&status, err, sizeof(err)),
			HUB_ERR_STOPPED);
	CU_ASSERT(mono_clock_ms() - t0 < 10000);
	CU_ASSERT_STRING_EQUAL(err, "getQueryResults: stopped while the answer was read");
	stop_once_read = NULL;
	bq_http_cleanup(&h);
	testlib_http_server_stop(pid);
}

/* A request's bound: query_timeout (1 h unless set), 60 s at least. */
static void test_query_s_request_bound_is_query_timeout_60_s_at_least(void)
{
	struct bq_query_config cfg = {NULL, "proj-1", NULL, "SELECT 1", NULL, NULL};
	static const struct {
		int64_t timeout_ms;
		long transfer_ms;
	} rows[] = {{0, 3600000}, {1000, 60000}, {7200000, 7200000}};
	char err[256] = "";

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bq_query *q = NULL;

		CU_ASSERT_EQUAL_FATAL(bq_auth_new(BQ_AUTH_STATIC, "t", &cfg.auth, err, sizeof(err)),
				      0);
		cfg.timeout_ms = rows[i].timeout_ms;
		CU_ASSERT_EQUAL_FATAL(bq_query_new(NULL, NULL, &cfg, &q, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(q->http.transfer_ms, rows[i].transfer_ms);
		bq_query_free(q);
	}
}

static const struct bq_query *stop_once_running; /* should_stop: 1 once its job runs */

static int stop_once_the_job_runs(const struct hub_call *call)
{
	(void)call;
	return stop_once_running && stop_once_running->is_job_running;
}

/* The hub stops while a job runs: it is cancelled, the cancel sent though
 * should_stop() says 1 by then (a request ends on a stop, a cancel's does
 * not: it would never go out). */
static void test_a_job_running_at_a_stop_is_cancelled(void)
{
	/* the poll, stopped at once, may have connected (and take an answer) or not */
	static const struct testlib_answer answers[] = {JOB_RUNS("j1"), {200, NULL, "{}"},
							{200, NULL, "{}"}};
	struct hub_host host = {.now_ms = fake_now_ms, .log = fake_log,
				.should_stop = stop_once_the_job_runs};
	char err[512] = "", got[8192];
	int call_tag = 0;
	struct fake_bq f;
	json_t *root = NULL;

	fake_open(&f, answers, 3);
	f.q->host = f.q->http.stop.host = &host;
	bq_query_set_call(f.q, (struct hub_call *)&call_tag);
	stop_once_running = f.q;
	fake_logged[0] = '\0';
	CU_ASSERT_EQUAL(bq_run_query(f.q, "STRING", "a", 0, &root, err, sizeof(err)),
			HUB_ERR_STOPPED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "stopped while the "));
	CU_ASSERT_STRING_EQUAL(fake_logged, ""); /* the cancel was answered 200 */
	fake_requests(&f, got, sizeof(got));
	CU_ASSERT_EQUAL(testlib_lines_with(got, "POST /bigquery/v2/projects/proj-1/jobs/j1/cancel"),
			1);
	CU_ASSERT_PTR_EQUAL(f.q->http.stop.call, (struct hub_call *)&call_tag);
	stop_once_running = NULL;
	fake_close(&f);
}

TEST_SUITE(bigquery, NULL, NULL,
	   TEST(test_cells_decode_every_type),
	   TEST(test_nan_is_a_float),
	   TEST(test_record_and_repeated_record_are_json),
	   TEST(test_schema_refusals),
	   TEST(test_cell_refusal_names_column_text_and_type),
	   TEST(test_schema_and_cells_nest_32_levels_at_most),
	   TEST(test_error_envelope_decides_the_code),
	   TEST(test_error_text_is_cut_between_characters),
	   TEST(test_retry_after_header_skips_spaces_and_tabs),
	   TEST(test_retry_after_header_reads_an_http_date),
	   TEST(test_retry_after_line_reads_both_forms),
	   TEST(test_text_grows_past_twice_its_size_at_once),
	   TEST(test_json_string_escapes_quotes_backslashes_and_controls),
	   TEST(test_mono_clock_is_the_monotonic_clock_in_ms),
	   TEST(test_http_request_sends_headers_body_and_reads_the_answer),
	   TEST(test_a_refusal_that_echoes_the_request_quotes_no_credential),
	   TEST(test_secret_redact_takes_whole_and_cut_copies),
	   TEST(test_url_userinfo_redact_takes_each_url_s_user_info),
	   TEST(test_http_request_failure_is_retried_only_when_transient),
	   TEST(test_http_answer_over_its_bound_or_memory_says_which),
	   TEST(test_http_request_ends_at_its_deadline),
	   TEST(test_http_request_trickled_ends_at_its_bound_or_a_stop),
	   TEST(test_query_s_request_bound_is_query_timeout_60_s_at_least),
	   TEST(test_a_job_running_at_a_stop_is_cancelled),
	   TEST(test_cursor_parameter_is_typed),
	   TEST(test_jwt_claims_and_signature),
	   TEST(test_jwt_is_base64url_without_padding),
	   TEST(test_jwt_key_fields_are_checked_naming_the_field),
	   TEST(test_jwt_key_file_refusal_names_the_file),
	   TEST(test_key_file_that_is_no_key_file_is_refused_naming_why),
	   TEST(test_key_file_that_is_a_fifo_is_refused_at_once),
	   TEST(test_key_file_is_read_to_its_end),
	   TEST(test_key_file_refusals_name_no_secret),
	   TEST(test_static_token_needs_no_request),
	   TEST(test_token_cached_and_renewed_before_expiry),
	   TEST(test_token_answers_are_bounded_and_printable),
	   TEST(test_auth_token_lifetime_is_read_from_expires_in),
	   TEST(test_auth_refused_token_request_is_coded_and_named),
	   TEST(test_auth_metadata_host_is_read_from_the_environment),
	   TEST(test_auth_service_account_token_uri_is_the_key_files),
	   TEST(test_check_refuses_the_map_sync_refuses),
	   TEST(test_check_refuses_what_create_refuses_of_the_values),
	   TEST(test_check_warns_of_a_clear_text_endpoint),
	   TEST(test_create_warns_of_a_clear_text_token_uri),
	   TEST(test_webhook_check_warns_of_a_clear_text_url),
	   TEST(test_webhook_check_refuses_what_create_refuses),
	   TEST(test_request_id_is_kept_for_the_same_query_only),
	   TEST(test_a_request_id_pending_at_a_run_end_is_not_sent_again),
	   TEST(test_job_urls_name_the_job_s_project_and_location),
	   TEST(test_jobs_query_body_asks_for_standard_sql_and_int64_times),
	   TEST(test_job_answer_must_be_a_json_object),
	   TEST(test_cursor_column_type_is_learned_when_a_parameter_has_it),
	   TEST(test_pages_are_read_to_their_last_row),
	   TEST(test_query_endpoint_is_an_http_url_without_trailing_slashes),
	   TEST(test_refused_cursor_type_says_where_the_type_came_from),
	   TEST(test_get_results_polls_and_sends_a_failed_poll_again),
	   TEST(test_retry_after_past_the_run_wait_ends_the_run),
	   TEST(test_get_results_gives_up_a_job_past_query_timeout),
	   TEST(test_api_call_answered_401_is_sent_again_once_with_a_new_token),
	   TEST(test_dry_runs_learn_the_cursor_type_once),
	   TEST(test_page_size_is_the_batch_within_1_and_100000_rows),
	   TEST(test_1000_pages_without_rows_are_read_on),
	   TEST(test_check_is_the_dry_run_that_learns_the_type),
	   TEST(test_run_query_resends_cancels_and_logs_as_the_job_went),
	   TEST(test_a_job_failed_in_a_200_answer_fails_with_its_error),
	   TEST(test_a_quota_exceeded_ends_the_run_for_600s))
