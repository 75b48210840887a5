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
	};
	char out[32];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(str_is_utf8(rows[i].in), rows[i].ok);
		str_copy_utf8(out, sizeof(out), rows[i].in);
		CU_ASSERT_EQUAL(strcmp(out, rows[i].in) == 0, rows[i].ok);
	}
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

TEST_SUITE(util, NULL, NULL, TEST(test_str_copy_cuts_to_the_buffer_and_terminates),
	   TEST(test_time_cond_init_waits_on_the_monotonic_clock),
	   TEST(test_str_copy_utf8_cuts_between_characters_and_repairs),
	   TEST(test_str_is_utf8_is_strict),
	   TEST(test_log_escape_writes_control_characters_visibly),
	   TEST(test_a_log_message_is_one_line_whatever_it_carries))
