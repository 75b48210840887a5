/*
 * test_bigquery_cursor.c - suite `bigquery_cursor`: the @cursor parameter
 * of the bigquery plugin (plugins/bigquery/bq_param.c) once its type is the
 * cursor column's: what a first run binds for each type (the epoch for
 * times, the lowest value for numbers, "" for STRING and BYTES, so that
 * `col >= @cursor` selects every row), and the types a column can give it
 * beyond the first ones (BIGNUMERIC keeps its 38 decimals, BYTES is
 * base64).  The plugin's code comes from test_bigquery.c, which builds it
 * in; the dry runs that learn the type are tested against the fake in
 * tests/integration/bigquery.sh.
 */
#include "testlib.h"

#include "../../plugins/bigquery/bq.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a first run --------------------------------------------------------------------- */

struct first_case {
	enum bq_type type;
	const char *type_out, *value;
};

static const struct first_case firsts[] = {
	{BQ_T_TIMESTAMP, "TIMESTAMP", "0001-01-01 00:00:00.000000+00:00"},
	{BQ_T_DATETIME, "DATETIME", "0001-01-01 00:00:00.000000"},
	{BQ_T_DATE, "DATE", "0001-01-01"},
	{BQ_T_INT64, "INT64", "-9223372036854775808"},
	{BQ_T_NUMERIC, "NUMERIC", "-99999999999999999999999999999.999999999"},
	{BQ_T_BIGNUMERIC, "BIGNUMERIC",
	 "-578960446186580977117854925043439539266.34992332820282019728792003956564819968"},
	{BQ_T_FLOAT64, "FLOAT64", "-Infinity"}, /* so that a -inf row is read too */
	{BQ_T_STRING, "STRING", ""},
	{BQ_T_BYTES, "BYTES", ""},
};

static void test_first_run_binds_the_lowest_value_of_the_column_type(void)
{
	char type[16], value[128], err[256];

	for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
		const struct first_case *c = &firsts[i];
		const char *first = bq_param_first(c->type);
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(first);
		rc = bq_param_for(bq_type_name(c->type), first, type, sizeof(type), value,
				  sizeof(value), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 0);
		if (rc != 0 || strcmp(type, c->type_out) != 0 || strcmp(value, c->value) != 0) {
			fprintf(stderr, "\nfirst %s: %d %s \"%s\" (%s), expected %s \"%s\"\n",
				c->type_out, rc, type, value, rc ? err : "", c->type_out, c->value);
			CU_FAIL("first value");
		}
	}
	/* the lowest INT64 and the lowest FLOAT64, exactly */
	CU_ASSERT_EQUAL(strtoll(bq_param_first(BQ_T_INT64), NULL, 10), INT64_MIN);
	CU_ASSERT_EQUAL(strtod(bq_param_first(BQ_T_FLOAT64), NULL), -INFINITY);
}

/* ---- types from the column ------------------------------------------------------------- */

struct typed_case {
	const char *type, *param;
	int rc;
	const char *type_out, *value;
};

static const struct typed_case typed[] = {
	/* BIGNUMERIC is sent as itself: as NUMERIC, 38 decimals would not fit */
	{"BIGNUMERIC", "1.12345678901234567890123456789012345678", 0, "BIGNUMERIC",
	 "1.12345678901234567890123456789012345678"},
	{"BIGDECIMAL", "-7", 0, "BIGNUMERIC", "-7"},
	{"bignumeric", "1,5", -1, NULL, NULL},
	{"DECIMAL", "2.5", 0, "NUMERIC", "2.5"},
	/* BYTES: base64, as the cells hold it */
	{"BYTES", "AAEC/w==", 0, "BYTES", "AAEC/w=="},
	{"BYTES", "", 0, "BYTES", ""},
	{"BYTES", "QQ=", -1, NULL, NULL},
	{"BYTES", "QQ=A", -1, NULL, NULL},
	{"BYTES", "not base64", -1, NULL, NULL},
	/* a saved STRING cursor that looks like a number stays a STRING */
	{"STRING", "0042", 0, "STRING", "0042"},
	/* epoch seconds far out: refused, not an overflow (UBSan: sec - 86399
	 * at INT64_MIN) nor a year BigQuery refuses (past 9999, before 1) */
	{"TIMESTAMP", "-9223372036854775808", -1, NULL, NULL},
	{"DATE", "-9223372036854775000", -1, NULL, NULL},
	{"TIMESTAMP", "9223372036854775807", -1, NULL, NULL},
	{"TIMESTAMP", "253402300799", 0, "TIMESTAMP", "9999-12-31 23:59:59.000000+00:00"},
	{"TIMESTAMP", "-1", 0, "TIMESTAMP", "1969-12-31 23:59:59.000000+00:00"},
	/* BigQuery's years are 1 to 9999: a time past either end is refused */
	{"TIMESTAMP", "-62135596800", 0, "TIMESTAMP", "0001-01-01 00:00:00.000000+00:00"},
	{"TIMESTAMP", "-62135596801", -1, NULL, NULL},
	{"DATETIME", "253402300800", -1, NULL, NULL},
	/* padding only at the end of BYTES, two '=' at most */
	{"BYTES", "A===", -1, NULL, NULL},
	/* an empty text is no number */
	{"NUMERIC", "", -1, NULL, NULL},
	{"FLOAT64", "", -1, NULL, NULL},
	/* FLOAT64: a decimal as written; an infinity as BigQuery spells it
	 * ("Infinity", "-Infinity": its result rows, Java's Double.toString),
	 * the cursor text's C spelling ("inf", "%.17g" of one) too */
	{"FLOAT64", "1.5e-3", 0, "FLOAT64", "1.5e-3"},
	{"FLOAT64", "-0.25", 0, "FLOAT64", "-0.25"},
	{"FLOAT64", "inf", 0, "FLOAT64", "Infinity"},
	{"FLOAT64", "-inf", 0, "FLOAT64", "-Infinity"},
	{"FLOAT64", "Infinity", 0, "FLOAT64", "Infinity"},
	{"FLOAT64", "-Infinity", 0, "FLOAT64", "-Infinity"},
	{"FLOAT64", "1e999", 0, "FLOAT64", "Infinity"}, /* as the hub reads the cell */
	/* what strtod takes and BigQuery does not: hex, spaces */
	{"FLOAT64", "0x1p3", -1, NULL, NULL},
	{"FLOAT64", " 1", -1, NULL, NULL},
	/* ... an infinity among them: refused as any hex or spaced text */
	{"FLOAT64", "0x1p99999", -1, NULL, NULL},
	{"FLOAT64", "-0x1p99999", -1, NULL, NULL},
	{"FLOAT64", " inf", -1, NULL, NULL},
	{"FLOAT64", "\t-Infinity", -1, NULL, NULL},
	{"FLOAT64", "+inf", 0, "FLOAT64", "Infinity"},
	{"FLOAT64", "INFINITY", 0, "FLOAT64", "Infinity"},
	/* NUMERIC has no infinity, no NaN, no hex */
	{"NUMERIC", "inf", -1, NULL, NULL},
	{"BIGNUMERIC", "nan", -1, NULL, NULL},
	{"NUMERIC", "0x10", -1, NULL, NULL},
	/* no value (no saved cursor, the type to be guessed or a first run
	 * not through bq_param_value): the type's zero or empty value */
	{"NUMERIC", NULL, 0, "NUMERIC", "0"},
	{"FLOAT64", NULL, 0, "FLOAT64", "0"},
	{"BYTES", NULL, 0, "BYTES", ""},
};

static void test_parameter_keeps_the_column_type(void)
{
	char type[16], value[128], err[256];

	for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
		const struct typed_case *c = &typed[i];
		int rc = bq_param_for(c->type, c->param, type, sizeof(type), value,
				      sizeof(value), err, sizeof(err));

		CU_ASSERT_EQUAL(rc, c->rc);
		if (rc == 0 && c->rc == 0 &&
		    (strcmp(type, c->type_out) != 0 || strcmp(value, c->value) != 0)) {
			fprintf(stderr, "\ntyped %zu: %s \"%s\", expected %s \"%s\"\n", i, type,
				value, c->type_out, c->value);
			CU_FAIL("typed");
		}
		if (rc != 0)
			CU_ASSERT(strstr(err, "does not read as") != NULL);
	}
}

static void test_cursor_type_names_every_type_it_takes(void)
{
	char type[16], value[128], err[256];

	CU_ASSERT_EQUAL(bq_type_of("BIGNUMERIC"), BQ_T_BIGNUMERIC);
	CU_ASSERT_STRING_EQUAL(bq_type_name(BQ_T_BIGNUMERIC), "BIGNUMERIC");
	CU_ASSERT_EQUAL(bq_param_for("TIME", NULL, type, sizeof(type), value, sizeof(value), err,
				     sizeof(err)), -1);
	CU_ASSERT(strstr(err, "NUMERIC, BIGNUMERIC, FLOAT64, STRING or BYTES") != NULL);
}

/* A NaN cursor (a cursor_start of "nan": the pull never saves one) is
 * refused naming why: `col >= NaN` is false for every row. */
static void test_nan_cursor_is_refused(void)
{
	static const char *const nans[] = {"nan", "NaN", "-nan", "NAN(1)"};
	char type[16], value[128], err[256];

	for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
		CU_ASSERT_EQUAL(bq_param_for("FLOAT64", nans[i], type, sizeof(type), value,
					     sizeof(value), err, sizeof(err)), -1);
		CU_ASSERT(strstr(err, "is NaN, which has no order") != NULL);
	}
}

/* A value that does not fit the caller's buffer is refused, never cut. */
static void test_parameter_that_does_not_fit_is_refused(void)
{
	static const struct {
		const char *type, *param;
		int rc;
	} rows[] = {
		{"NUMERIC", "1234", 0}, {"NUMERIC", "12345", -1}, {"FLOAT64", "12345", -1},
		{"STRING", "abcd", 0},  {"STRING", "abcde", -1},  {"BYTES", "QUJD", 0},
		{"BYTES", "QUJDRA==", -1},
		{"FLOAT64", "inf", -1}, /* "Infinity" does not fit: never "Infi" */
	};
	char type[16], value[5], err[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = bq_param_for(rows[i].type, rows[i].param, type, sizeof(type), value,
				      sizeof(value), err, sizeof(err));

		CU_ASSERT_EQUAL(rc, rows[i].rc);
		if (rc == 0)
			CU_ASSERT_STRING_EQUAL(value, rows[i].param);
	}
}

/* The text @cursor is bound to: the saved value, else the first value of
 * the known type, else none (the type is guessed from the value). */
static void test_parameter_value_is_the_cursor_else_the_first_of_its_type(void)
{
	static const struct {
		const char *type, *param, *value; /* value NULL: none */
	} rows[] = {
		{"INT64", "5", "5"},
		{NULL, "5", "5"},
		{"INT64", NULL, "-9223372036854775808"},
		{"date", NULL, RM_TIME_FIRST},
		{NULL, NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *v = bq_param_value(rows[i].type, rows[i].param);

		CU_ASSERT(rows[i].value ? v && strcmp(v, rows[i].value) == 0 : !v);
	}
}

TEST_SUITE(bigquery_cursor, NULL, NULL,
	   TEST(test_first_run_binds_the_lowest_value_of_the_column_type),
	   TEST(test_parameter_keeps_the_column_type),
	   TEST(test_cursor_type_names_every_type_it_takes),
	   TEST(test_nan_cursor_is_refused),
	   TEST(test_parameter_that_does_not_fit_is_refused),
	   TEST(test_parameter_value_is_the_cursor_else_the_first_of_its_type))
