/*
 * test_util.c - suite `util`: the small string helpers of hub/util.c that
 * the store's hot paths use instead of snprintf, and the logger's escaping
 * of control characters (hub/log.c).
 */
#include "testlib.h"

#include "../../hub/log.h"
#include "../../hub/util.h"

#include <errno.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_str_copy_cuts_to_the_buffer_and_terminates(void)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	str_copy(buf, sizeof(buf), "p_ab");
	CU_ASSERT_STRING_EQUAL(buf, "p_ab");
	str_copy(buf, sizeof(buf), "0123456789");
	CU_ASSERT_STRING_EQUAL(buf, "0123456"); /* 7 bytes and the NUL */
	str_copy(buf, sizeof(buf), "");
	CU_ASSERT_STRING_EQUAL(buf, "");
	str_copy(buf, 1, "abc");
	CU_ASSERT_EQUAL(buf[0], '\0');
}

/* Error texts go into JSON: a cut never splits a character, and what is
 * not UTF-8 becomes '?', so json_string() always takes the result. */
static void test_str_copy_utf8_cuts_between_characters_and_repairs(void)
{
	static const struct {
		const char *in;
		size_t size;
		const char *out;
	} rows[] = {
		{"plain", 16, "plain"},
		{"caf\xc3\xa9!", 16, "caf\xc3\xa9!"},
		{"caf\xc3\xa9", 5, "caf"},          /* \xc3\xa9 does not fit whole */
		{"\xe2\x82\xac\xe2\x82\xac", 6, "\xe2\x82\xac"},
		{"a\xc0\x80" "b", 16, "a??b"},         /* overlong NUL */
		{"a\xed\xa0\x80" "b", 16, "a???b"},   /* a surrogate */
		{"a\xf4\x90\x80\x80" "b", 16, "a????b"},
		{"a\xe2\x82", 16, "a?"},            /* cut short at the end */
		{"x", 1, ""},
	};
	char out[16];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *j;

		str_copy_utf8(out, rows[i].size, rows[i].in);
		CU_ASSERT_STRING_EQUAL(out, rows[i].out);
		j = json_string(out);
		CU_ASSERT_PTR_NOT_NULL(j);
		json_decref(j);
	}
}

/* str_is_utf8() agrees with str_copy_utf8(): well-formed text is copied
 * as it is, anything else is not. */
static void test_str_is_utf8_is_strict(void)
{
	static const struct {
		const char *in;
		int ok;
	} rows[] = {
		{"", 1}, {"plain", 1}, {"caf\xc3\xa9", 1}, {"\xf0\x9f\x98\x80", 1},
		{"a\xc0\x80", 0},       /* overlong NUL */
		{"a\xed\xa0\x80", 0},   /* a surrogate */
		{"\xf4\x90\x80\x80", 0}, /* past U+10FFFF */
		{"a\xe2\x82", 0},       /* cut short */
		{"\xff", 0}, {"\x80", 0},
		{"\xf5\x80\x80\x80", 0},     /* a lead byte past F4 */
		{"\xe0\x80\x80", 0},         /* overlong, three bytes */
		{"\xf0\x80\x80\x80", 0},     /* overlong, four bytes */
		{"\xe0\xa0\x80", 1},         /* U+0800, the first of three bytes */
		{"\xf0\x90\x80\x80", 1},     /* U+10000, the first of four */
		{"\xf4\x8f\xbf\xbf", 1},     /* U+10FFFF, the last */
	};
	char out[32];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(str_is_utf8(rows[i].in), rows[i].ok);
		str_copy_utf8(out, sizeof(out), rows[i].in);
		CU_ASSERT_EQUAL(strcmp(out, rows[i].in) == 0, rows[i].ok);
	}
}

/* The date-times records and attributes carry: calendar days (leap
 * years by the Gregorian rule), a time's fields and the zone in their
 * ranges, a leap second, the separators RFC 3339 allows, nothing after. */
static void test_time_parse_rfc3339_holds_every_field_to_its_range(void)
{
	static const struct {
		const char *in;
		int64_t ms; /* -1: refused */
	} rows[] = {
		{"2000-02-29", 951782400000},  /* divisible by 400: a leap year */
		{"2024-02-29", 1709164800000},
		{"1900-02-29", -1},            /* by 100, not 400: not leap */
		{"2100-02-29", -1},
		{"2023-02-29", -1},
		{"2024-00-10", -1},
		{"2024-13-01", -1},
		{"2024-04-31", -1},
		{"2024-01-01T10:00:00Z", 1704103200000},
		{"2024-01-01t10:00:00z", 1704103200000},
		{"2024-01-01 10:00:00Z", 1704103200000},
		{"2024-01-01T10:00Z", 1704103200000},
		{"2024-01-01T10:00:00.5Z", 1704103200500},
		{"2024-01-01T10:00:00.Z", -1},  /* a point needs digits */
		{"2024-01-01T10:00:00", -1},    /* a time needs its zone */
		{"2024-01-01T10:00:00Zjunk", -1},
		{"2024-01-01T24:00:00Z", -1},
		{"2024-01-01T23:60:00Z", -1},
		{"2024-01-01T23:59:60Z", 1704153600000}, /* a leap second */
		{"2024-01-01T23:59:61Z", -1},
		{"2024-01-01T10:00:00-23:59", 1704189540000},
		{"2024-01-01T10:00:00+24:00", -1},
		{"2024-01-01T10:00:00+23:60", -1},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t ms = -1;
		int rc = time_parse_rfc3339(rows[i].in, &ms);
		CU_ASSERT_EQUAL(rc, rows[i].ms < 0 ? -1 : 0);
		CU_ASSERT_EQUAL(ms, rows[i].ms);
		if (rc != (rows[i].ms < 0 ? -1 : 0) || ms != rows[i].ms)
			fprintf(stderr, "\n  %s: rc %d, %lld ms\n", rows[i].in, rc, (long long)ms);
	}
}

/* A plugin's "retry after" is seconds or milliseconds, nothing else. */
static void test_retry_after_is_seconds_or_milliseconds_only(void)
{
	CU_ASSERT_EQUAL(retry_after_ms_parse("retry after 5s: busy"), 5000);
	CU_ASSERT_EQUAL(retry_after_ms_parse("retry after 5ms: busy"), 5);
	CU_ASSERT_EQUAL(retry_after_ms_parse("retry after 5m: busy"), 0);
	CU_ASSERT_EQUAL(retry_after_ms_parse("retry after 5: busy"), 0);
	CU_ASSERT_EQUAL(retry_after_ms_parse("retry after s: busy"), 0);
	CU_ASSERT_EQUAL(retry_after_ms_parse("Retry after 5s"), 0);
}

static void test_log_escape_writes_control_characters_visibly(void)
{
	char out[64];

	CU_ASSERT_EQUAL(log_escape("plain ünïcode", out, sizeof(out)), strlen("plain ünïcode"));
	CU_ASSERT_STRING_EQUAL(out, "plain ünïcode");
	log_escape("a\nb\rc\td\x1b[31me\x7f", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "a\\nb\\rc\\td\\x1b[31me\\x7f");
	/* cut at a whole escape, always terminated */
	CU_ASSERT_EQUAL(log_escape("ab\ncd", out, 4), 2);
	CU_ASSERT_STRING_EQUAL(out, "ab");
	CU_ASSERT_EQUAL(log_escape("abc", out, 1), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
}

/* A message with outside data in it stays one line: a client cannot start
 * a forged line of its own. */
static void test_a_log_message_is_one_line_whatever_it_carries(void)
{
	struct testlib_capture cap;
	char *buf;

	testlib_capture_begin(&cap);
	log_warn("test", "refused record %s", "m1\n2026-12-01T10:00:00.000Z error [api] FORGED");
	buf = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, " warn [test] refused record m1\\n"
					   "2026-12-01T10:00:00.000Z error [api] FORGED\n"));
	CU_ASSERT_EQUAL(strchr(buf, '\n'), buf + strlen(buf) - 1); /* one line */
	free(buf);
}

/* The harness's capture (every test that asserts a log line, or its absence,
 * reads one) hands back the whole text: it read the first 8191 bytes, and a
 * line after them was never seen. */
static void test_a_capture_holds_every_line_written(void)
{
	struct testlib_capture cap;
	char *buf;

	testlib_capture_begin(&cap);
	for (int i = 0; i < 400; i++)
		fprintf(stderr, "line %03d of a long log, about fifty bytes each\n", i);
	fprintf(stderr, "the last line\n");
	buf = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(buf, "of a long log"), 400);
	CU_ASSERT_EQUAL(testlib_lines_with(buf, "the last line"), 1);
	CU_ASSERT(strlen(buf) > 16384);
	free(buf);
}

/* A condition variable made by time_cond_init waits for a deadline on the
 * monotonic clock: until it, not past it at once (as one on the wall
 * clock would, the monotonic seconds being far in its past). */
static void test_time_cond_init_waits_on_the_monotonic_clock(void)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond;
	struct timespec ts;
	int64_t start = time_mono_ms();
	int rc;

	CU_ASSERT_EQUAL_FATAL(time_cond_init(&cond), 0);
	time_deadline(&ts, CLOCK_MONOTONIC, 50);
	pthread_mutex_lock(&lock);
	do
		rc = pthread_cond_timedwait(&cond, &lock, &ts);
	while (rc == 0); /* a spurious wake-up */
	pthread_mutex_unlock(&lock);
	CU_ASSERT_EQUAL(rc, ETIMEDOUT);
	CU_ASSERT(time_mono_ms() - start >= 50);
	pthread_cond_destroy(&cond);
}

/* Level names are whole words; debug is off unless asked for. */
static void test_log_levels_are_whole_names(void)
{
	CU_ASSERT_EQUAL(log_level_parse("warn"), HUB_LOG_WARN);
	CU_ASSERT_EQUAL(log_level_parse("debug"), HUB_LOG_DEBUG);
	CU_ASSERT_EQUAL(log_level_parse("warning"), -1);
	CU_ASSERT_EQUAL(log_level_parse("errors"), -1);
	CU_ASSERT_EQUAL(log_level_parse("info "), -1);
}

/* No room at all: nothing written, not even a terminator. */
static void test_log_escape_into_no_room_writes_nothing(void)
{
	char out[4] = "zzz";

	CU_ASSERT_EQUAL(log_escape("abc", out, 0), 0);
	CU_ASSERT_STRING_EQUAL(out, "zzz");
}

/* A message of no module is the hub's; a module name too long for the
 * line leaves the message alone on it, never a piece of the prefix. */
static void test_a_log_line_names_its_module_or_the_hub(void)
{
	struct testlib_capture cap;
	char who[3000], *buf;

	memset(who, 'm', sizeof(who) - 1);
	who[sizeof(who) - 1] = '\0';
	testlib_capture_begin(&cap);
	log_msg(HUB_LOG_WARN, NULL, "no module");
	log_msg(HUB_LOG_WARN, who, "a long module");
	buf = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, " warn [hub] no module\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\na long module\n"));
	free(buf);
}

/* A line a client can repeat at will: the first, then one per LOG_NOTE_MS
 * at most, each with the count so far (the ones between counted, not
 * logged).  One row per occurrence: when, how many, what is answered. */
static void test_a_log_note_is_due_first_then_once_a_period(void)
{
	static const struct {
		int64_t at_ms;
		long long n_new, due; /* due: the count when a line is due, else 0 */
	} rows[] = {
		{5000, 1, 1},
		{5001, 3, 0},
		{5000 + LOG_NOTE_MS - 1, 1, 0},
		{5000 + LOG_NOTE_MS, 2, 7},
		{5000 + LOG_NOTE_MS + 1, 1, 0},
		{5000 + 3 * LOG_NOTE_MS, 1, 9},
	};
	struct log_note l = {0};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		long long due = log_note_add(&l, rows[i].n_new, rows[i].at_ms);
		CU_ASSERT_EQUAL(due, rows[i].due);
		if (due != rows[i].due)
			fprintf(stderr, "log note row %zu: %lld\n", i, due);
	}
}

TEST_SUITE(util, NULL, NULL, TEST(test_log_levels_are_whole_names),
	   TEST(test_log_escape_into_no_room_writes_nothing),
	   TEST(test_a_log_line_names_its_module_or_the_hub),
	   TEST(test_str_copy_cuts_to_the_buffer_and_terminates),
	   TEST(test_time_cond_init_waits_on_the_monotonic_clock),
	   TEST(test_str_copy_utf8_cuts_between_characters_and_repairs),
	   TEST(test_str_is_utf8_is_strict),
	   TEST(test_time_parse_rfc3339_holds_every_field_to_its_range),
	   TEST(test_retry_after_is_seconds_or_milliseconds_only),
	   TEST(test_log_escape_writes_control_characters_visibly),
	   TEST(test_a_log_message_is_one_line_whatever_it_carries),
	   TEST(test_a_capture_holds_every_line_written),
	   TEST(test_a_log_note_is_due_first_then_once_a_period))
