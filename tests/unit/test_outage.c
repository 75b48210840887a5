/*
 * test_outage.c - suite `outage`: a failure that repeats is logged as a
 * state (hub/outage.c): its first failure with the cause, a reminder with
 * the count at most every every_ms, and one line at its end.
 */
#include "testlib.h"

#include "../../hub/outage.h"
#include "../../hub/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct outage_words words = {
	.module = "test",
	.every_ms = 60000,
	.first = "widgets unreadable",
	.meanwhile = "widgets are answered 503",
	.ongoing = "widgets unread",
	.counted = "widget reads",
	.over = "widgets read again",
	.was = "unread",
};

/* Three failures, then two successes: a line at the first failure with
 * its cause, none for the two after it (within every_ms), one at the end
 * with the count, none at the second success. */
static void test_an_outage_logs_its_start_and_its_end_once(void)
{
	struct testlib_capture cap;
	struct outage o = {0};
	char *log;

	testlib_capture_begin(&cap);
	outage_note_failure(&o, &words, 1, "disk on fire");
	outage_note_failure(&o, &words, 1, "disk still on fire");
	outage_note_failure(&o, &words, 2, "disk still on fire");
	CU_ASSERT_NOT_EQUAL(o.since_ms, 0);
	CU_ASSERT_EQUAL(o.n, 4);
	CU_ASSERT_EQUAL(outage_note_ok(&o, &words), 1);
	CU_ASSERT_EQUAL(o.since_ms, 0);
	CU_ASSERT_EQUAL(outage_note_ok(&o, &words), 0);
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ""), 2);
	CU_ASSERT_EQUAL(testlib_lines_with(log, " error [test] widgets unreadable: disk on fire;"
					   " widgets are answered 503 (logged again at most"
					   " every 60 s)"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, " info [test] widgets read again (unread since "),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, " s: 4 widget reads)"), 1);
	free(log);
}

/* A reminder is due every_ms after the last line: with 0, every failure
 * after the first is one, naming the count so far and the last cause.  A
 * new outage after the end starts its count again. */
static void test_an_outage_reminds_with_the_count_and_starts_again_after_its_end(void)
{
	struct outage_words often = words;
	struct testlib_capture cap;
	struct outage o = {0};
	char *log;

	often.every_ms = 0;
	testlib_capture_begin(&cap);
	outage_note_failure(&o, &often, 1, "first cause");
	outage_note_failure(&o, &often, 3, "second cause");
	outage_note_ok(&o, &often);
	outage_note_failure(&o, &often, 1, "third cause");
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ""), 4);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "widgets unreadable: first cause;"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, " widgets unread since "), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ": 4 widget reads so far; the last: second cause"),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ": 4 widget reads)"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "widgets unreadable: third cause;"), 1);
	CU_ASSERT_EQUAL(o.n, 1);
	free(log);
}

/* The first failure's own count starts the total; a reminder restarts
 * the every_ms it waits for: two failures in a row after one are silent.
 * (Time must pass for a reminder: the test waits for the clock, polling
 * it.) */
static void test_an_outage_counts_its_first_failure_and_reminds_every_ms(void)
{
	struct outage_words seldom = words;
	struct timespec tick = {0, 10 * 1000000L};
	struct testlib_capture cap;
	struct outage o = {0};
	int64_t start;
	char *log;

	seldom.every_ms = 300;
	testlib_capture_begin(&cap);
	outage_note_failure(&o, &seldom, 5, "first cause");
	start = time_mono_ms();
	while (time_mono_ms() - start <= seldom.every_ms)
		nanosleep(&tick, NULL);
	outage_note_failure(&o, &seldom, 1, "a reminder");
	outage_note_failure(&o, &seldom, 1, "too soon");
	outage_note_failure(&o, &seldom, 1, "too soon");
	outage_note_ok(&o, &seldom);
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ": 6 widget reads so far; the last: a reminder"),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "too soon"), 0);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ": 8 widget reads)"), 1);
	free(log);
}

TEST_SUITE(outage, NULL, NULL, TEST(test_an_outage_logs_its_start_and_its_end_once),
	   TEST(test_an_outage_reminds_with_the_count_and_starts_again_after_its_end),
	   TEST(test_an_outage_counts_its_first_failure_and_reminds_every_ms))
