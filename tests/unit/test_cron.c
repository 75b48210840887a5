/*
 * test_cron.c - suite `cron`: schedules parse (and refuse with a precise
 * message), and the next firing time is right across minutes, days, month
 * ends, leap years and the day-of-month / day-of-week rule.  Tables: one
 * row per case.
 */
#include "testlib.h"

#include "../../hub/cron.h"
#include "../../hub/util.h"

#include <stdio.h>
#include <string.h>

static int64_t at(const char *rfc3339)
{
	int64_t ms = -1;
	CU_ASSERT_EQUAL_FATAL(time_parse_rfc3339(rfc3339, &ms), 0);
	return ms;
}

static void test_parse_accepts_intervals_fields_and_macros(void)
{
	static const struct {
		const char *text;
		int is_interval;
		int64_t interval_ms;
	} rows[] = {
		{"every 15m", 1, 900000},
		{"every 1h30m", 1, 5400000},
		{"every 90s", 1, 90000},
		{"  every 2d ", 1, 172800000},
		/* the config's duration grammar (util.c), as http.timeout reads it */
		{"every 1d12h", 1, 129600000},
		{"every 1s500ms", 1, 1500},
		{"every 1500ms", 1, 1500},
		{"*/15 * * * *", 0, 0},
		{"0 9 * * MON-FRI", 0, 0},
		{"0 0 1 jan,jul *", 0, 0},
		{"5,10-20/5 */2 1-15 * 7", 0, 0},
		{"0 0 ? * 1", 0, 0},
		{"@daily", 0, 0},
		{"@hourly", 0, 0},
		{"0 0 29 2 *", 0, 0},
	};
	struct cron c;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		err[0] = '\0';
		if (cron_parse(rows[i].text, &c, err, sizeof(err)) != 0) {
			fprintf(stderr, "\n  \"%s\": %s\n", rows[i].text, err);
			CU_FAIL("a valid schedule was refused");
			continue;
		}
		CU_ASSERT_EQUAL(c.is_interval, rows[i].is_interval);
		if (rows[i].is_interval)
			CU_ASSERT_EQUAL(c.interval_ms, rows[i].interval_ms);
	}
}

static void test_parse_refuses_with_the_field_and_reason(void)
{
	static const struct {
		const char *text;
		const char *err;
	} rows[] = {
		{"every 0s",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"every 15",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"every 400d",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		/* units larger first, each once: "30m1h" and "1m1m" are typos */
		{"every 30m1h",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"every 1m1m",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"every 1h30",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"every 999ms",
		 "\"every\" needs a duration from 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"60 * * * *", "field 1 (minute): 60 is out of range 0-59"},
		{"0 24 * * *", "field 2 (hour): 24 is out of range 0-23"},
		{"0 0 0 * *", "field 3 (day of month): 0 is out of range 1-31"},
		{"0 0 * 13 *", "field 4 (month): 13 is out of range 1-12"},
		{"0 0 * * 8", "field 5 (day of week): 8 is out of range 0-7"},
		{"5-1 * * * *", "field 1 (minute): range 5-1 goes backwards"},
		{"*/0 * * * *", "field 1 (minute): step 0 is out of range 1-59"},
		{"1,,2 * * * *", "field 1 (minute): empty list item"},
		{"? * * * *", "field 1 (minute): cannot read it (numbers, a-b, */n, lists a,b)"},
		{"0 0 * FOO *", "field 4 (month): expected a number or a name"},
		{"* * * *",
		 "expected \"every <duration>\" or 5 cron fields (minute hour day-of-month "
		 "month day-of-week), found 4"},
		{"* * * * * *", "expected \"every <duration>\" or 5 cron fields (minute hour "
				"day-of-month month day-of-week), found more than 5"},
		{"0 0 31 2 *", "this schedule never fires (no such day in those months)"},
		{"0 0 30 2,4 *", NULL}, /* April 30 exists: valid */
		{"@often", "unknown macro (@hourly, @daily, @weekly, @monthly, @yearly)"},
		/* Kubernetes' and cronie's zone prefix read as a sixth field */
		{"CRON_TZ=Europe/Paris 0 3 * * *",
		 "a time zone (CRON_TZ=Europe/Paris) is not read: cron schedules are UTC, so give "
		 "the hours in UTC (and mind that a zone's offset changes with DST)"},
		{"TZ=America/New_York 0 3 * * *",
		 "a time zone (TZ=America/New_York) is not read: cron schedules are UTC, so give "
		 "the hours in UTC (and mind that a zone's offset changes with DST)"},
		{"", "expected \"every <duration>\" or 5 cron fields (minute hour day-of-month "
		     "month day-of-week), found 0"},
	};
	struct cron c;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int rc;

		err[0] = '\0';
		rc = cron_parse(rows[i].text, &c, err, sizeof(err));
		if (!rows[i].err) {
			CU_ASSERT_EQUAL(rc, 0);
			continue;
		}
		CU_ASSERT_EQUAL(rc, -1);
		if (strcmp(err, rows[i].err) != 0) {
			fprintf(stderr, "\n  \"%s\": got \"%s\"\n   want \"%s\"\n", rows[i].text,
				err, rows[i].err);
			CU_FAIL("wrong message");
		}
	}
}

/* One next-time case: the schedule's first firing strictly after `after`. */
struct next_row {
	const char *schedule, *after, *want;
};

/* Each row's next time is `want`, and the schedule fires then. */
static void check_next(const struct next_row *rows, size_t n_rows)
{
	char got[32], err[256];
	struct cron c;

	for (size_t i = 0; i < n_rows; i++) {
		int64_t next;

		CU_ASSERT_EQUAL_FATAL(cron_parse(rows[i].schedule, &c, err, sizeof(err)), 0);
		next = cron_next_ms(&c, at(rows[i].after));
		time_format_ms(next, got, sizeof(got));
		if (strcmp(got, rows[i].want) != 0) {
			fprintf(stderr, "\n  \"%s\" after %s: got %s, want %s\n", rows[i].schedule,
				rows[i].after, got, rows[i].want);
			CU_FAIL("wrong next time");
		}
		if (!c.is_interval)
			CU_ASSERT(cron_matches_ms(&c, next));
	}
}

static void test_next_fire_time_in_utc(void)
{
	static const struct next_row rows[] = {
		/* 2026-03-15 is a Sunday */
		{"*/15 * * * *", "2026-03-15T10:07:30Z", "2026-03-15T10:15:00.000Z"},
		{"30 10 * * *", "2026-03-15T10:07:30Z", "2026-03-15T10:30:00.000Z"},
		{"0 10 * * *", "2026-03-15T10:00:00Z", "2026-03-16T10:00:00.000Z"},
		{"0 9 * * MON-FRI", "2026-03-15T10:07:30Z", "2026-03-16T09:00:00.000Z"},
		{"0 9 * * 7", "2026-03-15T10:07:30Z", "2026-03-22T09:00:00.000Z"},
		{"0 0 29 2 *", "2026-03-15T10:07:30Z", "2028-02-29T00:00:00.000Z"},
		{"0 0 1 1 *", "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00.000Z"},
		{"0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00.000Z"},
		/* both day fields restricted: either matches (next Friday before the 13th) */
		{"0 0 13 * 5", "2026-03-15T10:07:30Z", "2026-03-20T00:00:00.000Z"},
		/* a "*" day of month: both must match (Fridays that are odd days) */
		{"0 0 */2 * 5", "2026-03-15T10:07:30Z", "2026-03-27T00:00:00.000Z"},
		{"@monthly", "2026-03-15T10:07:30Z", "2026-04-01T00:00:00.000Z"},
		{"every 15m", "2026-03-15T10:07:30Z", "2026-03-15T10:22:30.000Z"},
		{"0 0 1 1 *", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z"},
	};

	check_next(rows, ARRAY_SIZE(rows));
}

static void test_next_is_strictly_later_and_matches(void)
{
	struct cron c;
	char err[256];
	int64_t t = at("2026-01-01T00:00:00Z");

	CU_ASSERT_EQUAL_FATAL(cron_parse("7,37 */5 * * 1-5", &c, err, sizeof(err)), 0);
	for (int i = 0; i < 200; i++) {
		int64_t next = cron_next_ms(&c, t);
		CU_ASSERT_FATAL(next > t);
		CU_ASSERT(cron_matches_ms(&c, next));
		/* nothing in between fires */
		for (int64_t m = (t / 60000 + 1) * 60000; m < next; m += 60000)
			CU_ASSERT_FATAL(!cron_matches_ms(&c, m));
		t = next;
	}
}

static void test_interval_overflow_is_never(void)
{
	struct cron c;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(cron_parse("every 1d", &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cron_next_ms(&c, INT64_MAX - 1000), -1);
	CU_ASSERT_EQUAL_FATAL(cron_parse("* * * * *", &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cron_next_ms(&c, INT64_MAX - 1000), -1);
	CU_ASSERT_EQUAL(cron_matches_ms(&c, INT64_MIN), 0);
}

/* "a/n" steps from a to the end of the field: 5/20 is minutes 5, 25 and 45,
 * 20/2 hours 20 and 22 (never 0 the next day). */
static void test_cron_a_slash_n_steps_from_a_to_the_field_end(void)
{
	static const struct next_row rows[] = {
		{"5/20 * * * *", "2026-03-15T10:07:30Z", "2026-03-15T10:25:00.000Z"},
		{"5/20 * * * *", "2026-03-15T10:45:00Z", "2026-03-15T11:05:00.000Z"},
		{"0 20/2 * * *", "2026-03-15T20:00:00Z", "2026-03-15T22:00:00.000Z"},
		{"0 20/2 * * *", "2026-03-15T22:00:00Z", "2026-03-16T20:00:00.000Z"},
	};

	check_next(rows, ARRAY_SIZE(rows));
}

/* A step may be the field's last value: a step of 59 minutes fires at :00
 * and :59; 60 is refused, naming the range. */
static void test_cron_a_step_may_be_the_field_max(void)
{
	static const struct next_row rows[] = {
		{"*/59 * * * *", "2026-03-15T10:00:30Z", "2026-03-15T10:59:00.000Z"},
		{"*/59 * * * *", "2026-03-15T10:59:00Z", "2026-03-15T11:00:00.000Z"},
	};
	struct cron c;
	char err[256] = "";

	check_next(rows, ARRAY_SIZE(rows));
	CU_ASSERT_EQUAL(cron_parse("*/60 * * * *", &c, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "field 1 (minute): step 60 is out of range 1-59");
}

/* "every" takes 1 s and 366 d themselves; just past either end is refused. */
static void test_cron_every_takes_1s_to_366d_inclusive(void)
{
	static const struct {
		const char *text;
		int64_t interval_ms; /* -1: refused */
	} rows[] = {
		{"every 1s", 1000},
		{"every 1000ms", 1000},
		{"every 366d", 366LL * 24 * 3600 * 1000},
		{"every 365d24h", 366LL * 24 * 3600 * 1000},
		{"every 366d1s", -1},
		{"every 999ms", -1},
	};
	struct cron c;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int rc = cron_parse(rows[i].text, &c, err, sizeof(err));

		if (rows[i].interval_ms < 0) {
			CU_ASSERT_EQUAL(rc, -1);
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "\n  \"%s\": %s\n", rows[i].text, err);
			CU_FAIL("an interval at the ends of the range was refused");
			continue;
		}
		CU_ASSERT(c.is_interval);
		CU_ASSERT_EQUAL(c.interval_ms, rows[i].interval_ms);
	}
}

/* "?" is "*" in either day field: the other day field alone decides, so
 * "0 0 ? * MON" is Mondays only and "0 0 1 * ?" the 1st only. */
static void test_cron_question_mark_leaves_the_other_day_field_to_decide(void)
{
	static const struct next_row rows[] = {
		/* 2026-03-15 is a Sunday */
		{"0 0 ? * MON", "2026-03-15T10:07:30Z", "2026-03-16T00:00:00.000Z"},
		{"0 0 ? * MON", "2026-03-16T00:00:00Z", "2026-03-23T00:00:00.000Z"},
		{"0 0 1 * ?", "2026-03-15T10:07:30Z", "2026-04-01T00:00:00.000Z"},
		{"0 0 1 * ?", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00.000Z"},
	};

	check_next(rows, ARRAY_SIZE(rows));
}

/* Months a schedule leaves out are skipped whole, and the next allowed one
 * is searched from its 1st (December's next is the next year's). */
static void test_cron_a_month_skipped_to_is_searched_from_its_first_day(void)
{
	static const struct next_row rows[] = {
		{"0 0 1 7 *", "2026-03-15T10:07:30Z", "2026-07-01T00:00:00.000Z"},
		{"0 0 1 jan,jul *", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00.000Z"},
		{"30 6 * 11 *", "2026-03-15T10:07:30Z", "2026-11-01T06:30:00.000Z"},
		{"0 0 * dec *", "2026-12-31T23:59:00Z", "2027-12-01T00:00:00.000Z"},
	};

	check_next(rows, ARRAY_SIZE(rows));
}

/* Leap years are Gregorian: 2000 (a multiple of 400) has a February 29,
 * 2100 (of 100 only) has none, so the next after 2096's is 2104's. */
static void test_cron_feb_29_follows_the_gregorian_leap_years(void)
{
	static const struct next_row rows[] = {
		{"0 0 29 2 *", "1999-03-01T00:00:00Z", "2000-02-29T00:00:00.000Z"},
		{"0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00.000Z"},
		{"0 0 * 2,3 *", "2100-02-28T00:00:00Z", "2100-03-01T00:00:00.000Z"},
	};

	check_next(rows, ARRAY_SIZE(rows));
}

/* The search spans decades, not a few years: a step of 7 from "*" in the
 * day of week is Sunday alone (0 and 7) and, starting with "*", asks both
 * day fields to match, so this fires on February 29s that are Sundays:
 * 2088, then 2128. */
static void test_cron_a_day_decades_away_is_still_found(void)
{
	static const struct next_row rows[] = {
		{"0 0 29 2 */7", "2088-03-01T00:00:00Z", "2128-02-29T00:00:00.000Z"},
	};

	check_next(rows, ARRAY_SIZE(rows));
}

/* cron_matches_ms holds every field: a time one field off does not match,
 * nor does any time of an interval. */
static void test_cron_matches_only_when_every_field_does(void)
{
	static const struct {
		const char *schedule, *when;
		int matches;
	} rows[] = {
		{"30 6 15 3 *", "2026-03-15T06:30:59Z", 1},
		{"30 6 15 3 *", "2026-04-15T06:30:00Z", 0},
		{"30 6 15 3 *", "2026-03-16T06:30:00Z", 0},
		{"30 6 15 3 *", "2026-03-15T07:30:00Z", 0},
		{"30 6 15 3 *", "2026-03-15T06:31:00Z", 0},
		/* 2026-03-16 is a Monday */
		{"0 0 * * MON", "2026-03-16T00:00:00Z", 1},
		{"0 0 * * MON", "2026-03-17T00:00:00Z", 0},
		{"every 1m", "2026-03-15T06:30:00Z", 0},
	};
	struct cron c;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		CU_ASSERT_EQUAL_FATAL(cron_parse(rows[i].schedule, &c, err, sizeof(err)), 0);
		if (cron_matches_ms(&c, at(rows[i].when)) != rows[i].matches) {
			fprintf(stderr, "\n  \"%s\" at %s: want %d\n", rows[i].schedule,
				rows[i].when, rows[i].matches);
			CU_FAIL("wrong match");
		}
	}
}

TEST_SUITE(cron, NULL, NULL,
	   TEST(test_parse_accepts_intervals_fields_and_macros),
	   TEST(test_parse_refuses_with_the_field_and_reason),
	   TEST(test_next_fire_time_in_utc),
	   TEST(test_next_is_strictly_later_and_matches),
	   TEST(test_interval_overflow_is_never),
	   TEST(test_cron_a_slash_n_steps_from_a_to_the_field_end),
	   TEST(test_cron_a_step_may_be_the_field_max),
	   TEST(test_cron_every_takes_1s_to_366d_inclusive),
	   TEST(test_cron_question_mark_leaves_the_other_day_field_to_decide),
	   TEST(test_cron_a_month_skipped_to_is_searched_from_its_first_day),
	   TEST(test_cron_feb_29_follows_the_gregorian_leap_years),
	   TEST(test_cron_a_day_decades_away_is_still_found),
	   TEST(test_cron_matches_only_when_every_field_does))
