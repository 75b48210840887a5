/*
 * test_sf_odbc.c - suite `sf_odbc`: what the Snowflake plugin's ODBC
 * transport binds for :cursor (plugins/snowflake/sf_odbc_param.c,
 * compiled in with its siblings; no driver is called), and how
 * sf_odbc.c classes a SQLSTATE and a failed connect (unixODBC's driver
 * manager answers; no driver is loaded).
 *
 *   - a saved cursor that does not read whole as its column's type is
 *     refused naming the column and the value, never bound as another
 *     value: a float column's text was bound as 0 (or as the number it
 *     starts with), an integer's "" as 0, one past 64 bits as the
 *     largest;
 *   - the cursors the plugin itself saves bind as they read, a decimal
 *     wider than 79 characters too (it was cut short);
 *   - each as its column's type: a first run the start of it, times as
 *     their civil date and time, text as UTF-16;
 *   - a broken connection, a timeout, a cancel retry, a refused login is
 *     not retried, a wrong query or data source is the config's.
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
#include <float.h>
#include <stdio.h>
#include <string.h>

/* What param_value gave SQLBindParameter. */
struct bound {
	SQLSMALLINT ctype, stype, digits;
	SQLULEN size;
	SQLPOINTER ptr;
	SQLLEN len;
};

/* Binds text (NULL: a first run) as the cursor of a column of SQL type
 * `type` (size, decimal digits): the answer, with the message in err and
 * the binding in *b. */
static hub_rc bind_cursor_to(struct sf_odbc *o, SQLSMALLINT type, SQLULEN size,
			     SQLSMALLINT digits, const char *text, struct bound *b, char *err,
			     size_t err_size)
{
	struct ocol c;

	memset(&c, 0, sizeof(c));
	memset(b, 0, sizeof(*b));
	snprintf(c.name, sizeof(c.name), "updated_at");
	c.sql_type = type;
	c.size = size;
	c.digits = digits;
	column_kind(&c, "number");
	err[0] = '\0';
	return param_value(o, &c, text, &b->ctype, &b->stype, &b->size, &b->digits, &b->ptr,
			   &b->len, err, err_size);
}

/* bind_cursor_to, the binding not looked at. */
static hub_rc bind_cursor(struct sf_odbc *o, SQLSMALLINT type, SQLULEN size, const char *text,
			  char *err, size_t err_size)
{
	struct bound b;

	return bind_cursor_to(o, type, size, 0, text, &b, err, err_size);
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
	/* a time that does not read is refused, not bound as 1970 */
	expect_refused(SQL_TYPE_TIMESTAMP, 0, "yesterday");
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

/* text (NULL: a first run) bound as a TIMESTAMP column's cursor, as
 * "YYYY-MM-DD hh:mm:ss.fraction, D digits, size N" in out. */
static void bound_time(struct sf_odbc *o, const char *text, char *out, size_t size)
{
	const SQL_TIMESTAMP_STRUCT *t = &o->p_ts;
	struct bound b;
	char err[512];

	if (bind_cursor_to(o, SQL_TYPE_TIMESTAMP, 0, 0, text, &b, err, sizeof(err)) != HUB_OK ||
	    b.ctype != SQL_C_TYPE_TIMESTAMP || b.ptr != t)
		snprintf(out, size, "not bound as a timestamp");
	else
		snprintf(out, size, "%04d-%02u-%02u %02u:%02u:%02u.%09lu, %d digits, size %lu",
			 (int)t->year, t->month, t->day, t->hour, t->minute, t->second,
			 (unsigned long)t->fraction, (int)b.digits, (unsigned long)b.size);
}

/* A first run binds the start of the column's type: the lowest BIGINT for
 * an integer column, the lowest double for a float (a REAL's too: as a
 * float it would be -inf) or a DECIMAL, false, 0001-01-01, "". */
static void test_first_run_binds_the_start_of_the_column_type(void)
{
	struct sf_odbc o;
	struct bound b;
	char err[512], got[128];

	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_BIGINT, 0, 0, NULL, &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_SBIGINT && b.stype == SQL_BIGINT && b.ptr == &o.p_int);
	CU_ASSERT(o.p_int == INT64_MIN);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_DECIMAL, 38, 2, NULL, &b, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_DOUBLE && b.stype == SQL_DOUBLE && b.ptr == &o.p_f);
	CU_ASSERT(o.p_f == -DBL_MAX);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_REAL, 0, 0, NULL, &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_DOUBLE && b.stype == SQL_DOUBLE && b.ptr == &o.p_f);
	CU_ASSERT(o.p_f == -DBL_MAX);
	o.p_bit = 1;
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_BIT, 0, 0, NULL, &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_BIT && o.p_bit == 0);
	bound_time(&o, NULL, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "0001-01-01 00:00:00.000000000, 6 digits, size 26");
	free(o.p_w);
	free(o.p_num);
}

/* A saved cursor binds as its column's type: a time as its civil date and
 * time (before 1970 too), with 9 digits only when it has nanoseconds;
 * BOOLEAN "true" / "false"; a REAL column's value as a float; a DECIMAL
 * as its text, with the column's precision (38 when unknown) and scale. */
static void test_saved_cursor_binds_as_its_column_type(void)
{
	struct sf_odbc o;
	struct bound b;
	char err[512], got[128];

	memset(&o, 0, sizeof(o));
	bound_time(&o, "1969-12-31T23:59:59.500000000Z", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "1969-12-31 23:59:59.500000000, 6 digits, size 26");
	bound_time(&o, "2026-03-01T10:20:30.123456789Z", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "2026-03-01 10:20:30.123456789, 9 digits, size 29");
	bound_time(&o, "2026-03-01T10:20:30.123456000Z", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "2026-03-01 10:20:30.123456000, 6 digits, size 26");
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_BIT, 0, 0, "true", &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(o.p_bit, 1);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_BIT, 0, 0, "false", &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(o.p_bit, 0);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_REAL, 0, 0, "0.7", &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_FLOAT && b.stype == SQL_REAL && o.p_f4 == 0.7f);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_DECIMAL, 12, 2, "-12.50", &b, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_CHAR && b.stype == SQL_DECIMAL && b.ptr == o.p_num);
	CU_ASSERT(b.size == 12 && b.digits == 2 && b.len == 6 && o.p_ind == 6);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_NUMERIC, 0, 0, "7", &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(b.size, 38);
	free(o.p_w);
	free(o.p_num);
}

/* A text cursor travels as UTF-16, a character past U+FFFF as its
 * surrogate pair: its length in bytes, its size in characters (at least
 * 1: "" too). */
static void test_text_cursor_binds_as_utf16(void)
{
	static const SQLWCHAR want[] = {0x61, 0xE9, 0x20AC, 0xD83D, 0xDE00, 0xD800, 0xDC00, 0};
	struct sf_odbc o;
	struct bound b;
	char err[512];

	memset(&o, 0, sizeof(o));
	/* "a", U+00E9, U+20AC, U+1F600, U+10000 */
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_WVARCHAR, 0, 0,
				       "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x90\x80\x80",
				       &b, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT(b.ctype == SQL_C_WCHAR && b.stype == SQL_WVARCHAR && b.ptr == o.p_w);
	CU_ASSERT_FATAL(o.p_w != NULL);
	CU_ASSERT_EQUAL(memcmp(o.p_w, want, sizeof(want)), 0);
	CU_ASSERT(b.size == 7 && b.len == (SQLLEN)(7 * sizeof(SQLWCHAR)) && o.p_ind == b.len);
	CU_ASSERT_EQUAL(bind_cursor_to(&o, SQL_WVARCHAR, 0, 0, "", &b, err, sizeof(err)), HUB_OK);
	CU_ASSERT(b.size == 1 && b.len == 0);
	free(o.p_w);
	free(o.p_num);
}

/* A SQLSTATE's class: a broken connection, a server out of resources, a
 * deadlock, a timeout, a server shutting down or a cancelled statement
 * retry; 28 is refused credentials; a wrong query, object, driver or
 * schema is the config's; 22 the data's; anything else internal. */
static void test_sf_odbc_sqlstate_classes(void)
{
	static const struct {
		const char *state;
		hub_rc rc;
	} cases[] = {
		{"08001", HUB_RETRY}, {"08S01", HUB_RETRY}, {"53300", HUB_RETRY},
		{"40001", HUB_RETRY}, {"40P01", HUB_RETRY}, {"HYT00", HUB_RETRY},
		{"HYT01", HUB_RETRY}, {"57P01", HUB_RETRY}, {"57P02", HUB_RETRY},
		{"57P03", HUB_RETRY}, {"57014", HUB_RETRY}, {"28000", HUB_ERR_AUTH},
		{"28P01", HUB_ERR_AUTH}, {"42P01", HUB_ERR_CONFIG}, {"42000", HUB_ERR_CONFIG},
		{"IM002", HUB_ERR_CONFIG}, {"3D000", HUB_ERR_CONFIG}, {"3F000", HUB_ERR_CONFIG},
		{"22003", HUB_ERR_DATA}, {"HY000", HUB_ERR_INTERNAL}, {"57000", HUB_ERR_INTERNAL},
		{"40002", HUB_ERR_INTERNAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (classify(cases[i].state) != cases[i].rc)
			fprintf(stderr, "\n  SQLSTATE %s: %d, expected %d", cases[i].state,
				(int)classify(cases[i].state), (int)cases[i].rc);
		CU_ASSERT_EQUAL(classify(cases[i].state), cases[i].rc);
	}
}

/* A failed connect that is a refused login (Snowflake's native codes, the
 * server's words, an unknown user) or 08004 is refused credentials, and an
 * unknown database the config's, not a connection to try again; another
 * 08001 is retried. */
static void test_sf_odbc_refused_login_is_not_retried(void)
{
	static const SQLINTEGER codes[] = {390100, 390144, 394300, 394301, 394304, 394305,
					   394306, 390303};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		CU_ASSERT_EQUAL(classify_connect("08001", codes[i], "x"), HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(classify_connect("08001", 0, "FATAL: password authentication failed "
						     "for user \"hub\""),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(classify_connect("08001", 0, "FATAL: no pg_hba.conf entry for host"),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(classify_connect("08001", 0, "Incorrect username or password was "
						     "specified."),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(classify_connect("08001", 0, "JWT token is invalid."), HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(classify_connect("08004", 0, "rejected"), HUB_ERR_AUTH);
	/* PostgreSQL's unknown user and database, as psqlodbc reports them */
	CU_ASSERT_EQUAL(classify_connect("08001", 0, "connection to server at \"127.0.0.1\", port "
						     "5432 failed: FATAL:  role \"nobody\" does "
						     "not exist "),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(classify_connect("08001", 0, "connection to server at \"127.0.0.1\", port "
						     "5432 failed: FATAL:  database \"nodb\" "
						     "does not exist "),
			HUB_ERR_CONFIG);
	CU_ASSERT_EQUAL(classify_connect("08001", 390101, "could not connect to server"),
			HUB_RETRY);
	CU_ASSERT_EQUAL(classify_connect("42000", 0, "x"), HUB_ERR_CONFIG);
}

/* A connect to a data source unixODBC does not know is the config's,
 * named with its SQLSTATE, and leaves no connection; a handle without
 * diagnostics says so. */
static void test_sf_odbc_unknown_dsn_is_the_config_s(void)
{
	static const char prefix[] = "connecting: SQLSTATE IM002: ";
	struct sf_odbc *o = NULL;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(sf_odbc_new(NULL, NULL, "DSN=profilehub-no-such-dsn", "SELECT 1",
					  1, &o, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL(connect_db(o, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_EQUAL(strncmp(err, prefix, sizeof(prefix) - 1), 0);
	CU_ASSERT(!o->is_connected && o->dbc == NULL && o->env != NULL);
	CU_ASSERT_EQUAL(sf_odbc_diag(SQL_HANDLE_ENV, o->env, "x", err, sizeof(err)),
			HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "x: no diagnostics from the driver");
	sf_odbc_free(o);
}

/* A failed connect whose only diagnostic is a warning (unixODBC's 01000
 * "Can't open lib" for a driver not installed) names it, is the
 * configuration's (the source disabled, not retried), and does not add
 * that there were none ("...: file not found: no diagnostics from the
 * driver"). */
static void test_sf_odbc_warning_only_diagnostics_are_named_not_called_none(void)
{
	static const char prefix[] = "connecting: SQLSTATE ";
	struct sf_odbc *o = NULL;
	char err[512];
	hub_rc rc;

	CU_ASSERT_EQUAL_FATAL(sf_odbc_new(NULL, NULL, "Driver={profilehub no such driver}",
					  "SELECT 1", 1, &o, err, sizeof(err)),
			      0);
	rc = connect_db(o, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, HUB_ERR_CONFIG);
	CU_ASSERT_EQUAL(strncmp(err, prefix, sizeof(prefix) - 1), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "profilehub no such driver"));
	CU_ASSERT_PTR_NULL(strstr(err, "no diagnostics"));
	sf_odbc_free(o);
}

/* A source connected keeps its connection: the next query does not
 * connect again (each would leave a connection open on the server). */
static void test_sf_odbc_connected_source_is_not_connected_again(void)
{
	struct sf_odbc *o = NULL;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(sf_odbc_new(NULL, NULL, "Driver={profilehub no such driver}",
					  "SELECT 1", 1, &o, err, sizeof(err)),
			      0);
	o->is_connected = 1;
	CU_ASSERT_EQUAL(connect_db(o, err, sizeof(err)), HUB_OK);
	CU_ASSERT(o->env == NULL && o->dbc == NULL);
	o->is_connected = 0;
	sf_odbc_free(o);
}

TEST_SUITE(sf_odbc, NULL, NULL, TEST(test_a_cursor_not_of_its_column_s_type_is_refused),
	   TEST(test_saved_cursors_bind_as_they_read),
	   TEST(test_first_run_binds_the_start_of_the_column_type),
	   TEST(test_saved_cursor_binds_as_its_column_type), TEST(test_text_cursor_binds_as_utf16),
	   TEST(test_sf_odbc_sqlstate_classes), TEST(test_sf_odbc_refused_login_is_not_retried),
	   TEST(test_sf_odbc_unknown_dsn_is_the_config_s),
	   TEST(test_sf_odbc_warning_only_diagnostics_are_named_not_called_none),
	   TEST(test_sf_odbc_connected_source_is_not_connected_again))
