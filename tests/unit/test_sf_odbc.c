/*
 * test_sf_odbc.c - suite `sf_odbc`: what the Snowflake plugin's ODBC
 * transport binds for :cursor (plugins/snowflake/sf_odbc_param.c,
 * compiled in with its siblings; no driver is called).
 *
 *   - a saved cursor that does not read whole as its column's type is
 *     refused naming the column and the value, never bound as another
 *     value: a float column's text was bound as 0 (or as the number it
 *     starts with), an integer's "" as 0, one past 64 bits as the
 *     largest;
 *   - the cursors the plugin itself saves bind as they read, a decimal
 *     wider than 79 characters too (it was cut short).
 *
 * The live transport (unixODBC with a real driver) is tested by
 * tests/integration/snowflake_odbc.sh; rows and parameters are fuzzed by
 * tests/fuzz/fuzz_odbc.c.
 */
#include "testlib.h"

#include "../../plugins/snowflake/sf_odbc.c"
#include "../../plugins/snowflake/sf_odbc_fetch.c"
#include "../../plugins/snowflake/sf_odbc_param.c"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

/* Binds text as the cursor of a column of SQL type `type`: the answer,
 * with the message in err. */
static hub_rc bind_cursor(struct sf_odbc *o, SQLSMALLINT type, SQLULEN size, const char *text,
			  char *err, size_t err_size)
{
	struct ocol c;
	SQLSMALLINT ctype, stype, digits;
	SQLULEN sz;
	SQLPOINTER ptr;
	SQLLEN len;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "updated_at");
	c.sql_type = type;
	c.size = size;
	column_kind(&c, "number");
	err[0] = '\0';
	return param_value(o, &c, text, &ctype, &stype, &sz, &digits, &ptr, &len, err, err_size);
}

static void expect_refused(SQLSMALLINT type, SQLULEN size, const char *text)
{
	struct sf_odbc o;
	char err[512], want[600];

	memset(&o, 0, sizeof(o));
	snprintf(want, sizeof(want),
		 "the cursor value \"%.100s\" does not read as the type of column updated_at",
		 text);
	if (bind_cursor(&o, type, size, text, err, sizeof(err)) != HUB_ERR_CONFIG)
		fprintf(stderr, "\n  type %d, cursor \"%s\": bound", (int)type, text);
	CU_ASSERT_STRING_EQUAL(err, want);
	free(o.p_w);
	free(o.p_num);
}

static void test_a_cursor_not_of_its_column_s_type_is_refused(void)
{
	static const char *const not_floats[] = {"", "x", "2026-03-01T10:00:00Z", "1.5x",
						 "0.7 "};
	static const char *const not_bigints[] = {"", "12x", "1.5", "99999999999999999999",
						  "-99999999999999999999"};
	for (size_t i = 0; i < sizeof(not_floats) / sizeof(not_floats[0]); i++) {
		expect_refused(SQL_DOUBLE, 0, not_floats[i]);
		expect_refused(SQL_REAL, 0, not_floats[i]);
	}
	for (size_t i = 0; i < sizeof(not_bigints) / sizeof(not_bigints[0]); i++)
		expect_refused(SQL_BIGINT, 0, not_bigints[i]);
}

static void test_saved_cursors_bind_as_they_read(void)
{
	struct sf_odbc o;
	char err[512], wide[200];

	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL(bind_cursor(&o, SQL_DOUBLE, 0, "0.69999999999999996", err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_DOUBLE_EQUAL(o.p_f, 0.7, 1e-15);
	CU_ASSERT_EQUAL(bind_cursor(&o, SQL_DOUBLE, 0, "-1e+300", err, sizeof(err)), HUB_OK);
	CU_ASSERT(o.p_f == -1e300);
	CU_ASSERT_EQUAL(bind_cursor(&o, SQL_BIGINT, 0, "-9223372036854775808", err, sizeof(err)),
			HUB_OK);
	CU_ASSERT(o.p_int == INT64_MIN);
	CU_ASSERT_EQUAL(bind_cursor(&o, SQL_DECIMAL, 38, "12345678901234567890123456789012345678",
				    err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_STRING_EQUAL(o.p_num, "12345678901234567890123456789012345678");
	/* wider than any buffer: bound whole (it was cut to 79 characters) */
	memset(wide, '9', sizeof(wide) - 1);
	wide[sizeof(wide) - 1] = '\0';
	CU_ASSERT_EQUAL(bind_cursor(&o, SQL_NUMERIC, 0, wide, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(o.p_num, wide);
	free(o.p_w);
	free(o.p_num);
}

TEST_SUITE(sf_odbc, NULL, NULL, TEST(test_a_cursor_not_of_its_column_s_type_is_refused),
	   TEST(test_saved_cursors_bind_as_they_read))
