/*
 * test_scheduler.c - suite `scheduler`: what a finished run means for the
 * next one.  Backoff is full jitter (a uniform draw from [0, min(cap,
 * base * 2^n)]) and honours a Retry-After; refused configuration or
 * credentials disable the source; a source never runs twice at once; the
 * schedule (interval or cron) plus a bounded jitter plans the next run.
 * Deterministic: the clock and the dice are arguments, nothing sleeps.
 * A plugin's error text, invalid or cut UTF-8, keeps the source in the
 * status JSON (a scheduler over the example plugin, no run started).
 */
#include "testlib.h"

#include "testhub.h"
#include "testsched.h"

#include "../../hub/alloc.h"
#include "../../hub/log.h"
#include "../../hub/metrics.h"
#include "../../hub/plugin.h"
#include "../../hub/scheduler_int.h"
#include "../../hub/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_MS 60000LL
static const int64_t t0 = 1772000000000LL; /* 2026-02-25T06:13:20Z */

static const struct sched_policy pol = {
	.backoff_base_ms = 1000,
	.backoff_cap_ms = 60000,
	.jitter_max_ms = 30000,
};

static struct cron parse(const char *text)
{
	struct cron c;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(cron_parse(text, &c, err, sizeof(err)), 0);
	return c;
}

static struct sync_report report(hub_rc rc, const char *err, int64_t retry_after_ms)
{
	struct sync_report r;

	memset(&r, 0, sizeof(r));
	r.rc = rc;
	snprintf(r.err, sizeof(r.err), "%s", err ? err : "");
	r.retry_after_ms = retry_after_ms;
	r.read = 7;
	r.applied = 5;
	r.duplicates = 1;
	r.rejected = 1;
	return r;
}

static void test_backoff_full_jitter_is_bounded_by_the_doubling_ceiling(void)
{
	static const uint64_t dice[] = {0, 1, 999, 1000, 1001, 123456789, UINT64_MAX};

	for (unsigned attempt = 0; attempt < 12; attempt++) {
		int64_t ceiling = 1000LL << attempt;

		if (ceiling > 60000)
			ceiling = 60000;
		for (size_t i = 0; i < ARRAY_SIZE(dice); i++) {
			int64_t d = backoff_jitter_ms(attempt, 1000, 60000, dice[i]);
			CU_ASSERT(d >= 0 && d <= ceiling);
			CU_ASSERT_EQUAL(d, (int64_t)(dice[i] % (uint64_t)(ceiling + 1)));
		}
	}
	/* the whole range is reachable: 0 and the ceiling itself */
	CU_ASSERT_EQUAL(backoff_jitter_ms(2, 1000, 60000, 0), 0);
	CU_ASSERT_EQUAL(backoff_jitter_ms(2, 1000, 60000, 4000), 4000);
}

static void test_backoff_stops_at_the_cap_without_overflow(void)
{
	CU_ASSERT_EQUAL(backoff_jitter_ms(30, 1000, 60000, 60000), 60000);
	CU_ASSERT_EQUAL(backoff_jitter_ms(1000, 1000, 60000, 60000), 60000);
	CU_ASSERT_EQUAL(backoff_jitter_ms(UINT32_MAX, 1000, 3600000, UINT64_MAX - 1),
			(int64_t)((UINT64_MAX - 1) % 3600001));
	CU_ASSERT_EQUAL(backoff_jitter_ms(3, 0, 60000, 77), 0);
}

static void test_retry_after_is_read_from_the_message(void)
{
	static const struct {
		const char *msg;
		int64_t ms;
	} rows[] = {
		{"retry after 7s: HTTP 429 from Snowflake: slow down", 7000},
		{"retry after 250ms: busy", 250},
		{"retry after 99999999s: absurd", 3600000},
		{"HTTP 429 (retry after 7s)", 0},
		{"retry after soon", 0},
		{"retry after 5", 0},
		{"", 0},
		{NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		CU_ASSERT_EQUAL(retry_after_ms_parse(rows[i].msg), rows[i].ms);
}

static void test_failed_runs_back_off_exponentially_up_to_the_cap(void)
{
	struct cron c = parse("every 15m");
	struct sched_entry e;
	struct sync_report r = report(HUB_RETRY, "HTTP 503 from Snowflake", 0);
	int64_t now = t0;

	sched_entry_init(&e, "w", &c, now, 0, &pol);
	/* every failed run in a row counts (they stopped at 64) */
	for (unsigned n = 0; n < 100; n++) {
		int64_t ceiling = n < 16 && (1000LL << n) < 60000 ? 1000LL << n : 60000;

		CU_ASSERT_EQUAL_FATAL(sched_entry_begin(&e, now), 0);
		/* the largest draw lands on the ceiling */
		sched_entry_finish(&e, &r, now, (uint64_t)ceiling, &pol);
		CU_ASSERT_EQUAL(e.state, SOURCE_BACKOFF);
		CU_ASSERT_EQUAL(e.n_failures, n + 1);
		CU_ASSERT_EQUAL(e.next_run_ms, now + ceiling);
		CU_ASSERT_STRING_EQUAL(e.last_error, "HTTP 503 from Snowflake");
		CU_ASSERT(!sched_entry_is_due(&e, now + ceiling - 1));
		CU_ASSERT(sched_entry_is_due(&e, now + ceiling));
		now += ceiling;
	}
	/* success: failures forgotten, back on the schedule */
	CU_ASSERT_EQUAL(sched_entry_begin(&e, now), 0);
	r = report(HUB_OK, NULL, 0);
	sched_entry_finish(&e, &r, now + 1000, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_IDLE);
	CU_ASSERT_EQUAL(e.n_failures, 0);
	CU_ASSERT_STRING_EQUAL(e.last_error, "");
	CU_ASSERT_EQUAL(e.next_run_ms, now + 15 * MIN_MS);
}

static void test_retry_after_beats_a_shorter_backoff(void)
{
	struct sched_entry e;
	struct sync_report r = report(HUB_RETRY, "retry after 120s: HTTP 429", 120000);

	sched_entry_init(&e, "w", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0, 500, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_BACKOFF);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 120000);
	/* a backoff longer than Retry-After wins */
	r.retry_after_ms = 10;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0, 1999, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 1999);
}

static void test_auth_and_config_errors_disable_the_source(void)
{
	static const hub_rc codes[] = {HUB_ERR_AUTH, HUB_ERR_CONFIG};
	struct cron c = parse("*/5 * * * *");

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		struct sched_entry e;
		struct sync_report r =
			report(codes[i], "HTTP 401 from Snowflake: JWT token is invalid", 0);

		sched_entry_init(&e, "w", &c, t0, 0, &pol);
		CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
		sched_entry_finish(&e, &r, t0 + 10, 12345, &pol);
		CU_ASSERT_EQUAL(e.state, SOURCE_DISABLED);
		CU_ASSERT_STRING_EQUAL(sched_state_name(e.state), "disabled");
		CU_ASSERT_EQUAL(e.next_run_ms, -1);
		CU_ASSERT_STRING_EQUAL(e.last_error,
				       "HTTP 401 from Snowflake: JWT token is invalid");
		/* never due again on its own, even a year later */
		CU_ASSERT(!sched_entry_is_due(&e, t0 + 366LL * 24 * 60 * MIN_MS));
		/* a trigger tries again; success re-enables it on its schedule */
		CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
		CU_ASSERT(sched_entry_is_due(&e, t0 + 20));
		CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 20), 0);
		r = report(HUB_OK, NULL, 0);
		sched_entry_finish(&e, &r, t0 + 30, 0, &pol);
		CU_ASSERT_EQUAL(e.state, SOURCE_IDLE);
		CU_ASSERT(e.next_run_ms > t0);
	}
}

static void test_a_source_never_runs_twice_at_once(void)
{
	struct cron c = parse("every 1m");
	struct sched_entry e;
	struct sync_report r = report(HUB_OK, NULL, 0);

	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT(sched_entry_is_due(&e, t0));
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	CU_ASSERT_EQUAL(e.state, SOURCE_RUNNING);
	/* running for an hour: never due; a second begin refused; a trigger
	 * is queued behind the run, not started beside it */
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_RUNNING);
	for (int64_t t = t0; t < t0 + 60 * MIN_MS; t += MIN_MS)
		CU_ASSERT(!sched_entry_is_due(&e, t));
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + MIN_MS), SCHEDULER_RUNNING);
	CU_ASSERT_EQUAL(e.last_start_ms, t0);
	/* the long run ends: the next one follows at once (plus jitter), and
	 * the queued trigger makes it due right away */
	sched_entry_finish(&e, &r, t0 + 60 * MIN_MS, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 60 * MIN_MS);
	CU_ASSERT_EQUAL(e.read, 7);
	CU_ASSERT_EQUAL(e.applied, 5);
	CU_ASSERT(sched_entry_is_due(&e, t0 + 60 * MIN_MS - 1));
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 60 * MIN_MS), 0);
	CU_ASSERT(!e.is_triggered);
}

static void test_interval_runs_soon_after_start_then_every_period(void)
{
	struct cron c = parse("every 15m");
	struct sched_entry e;
	struct sync_report r = report(HUB_OK, NULL, 0);

	/* first run: a jitter after the start, at most min(30 s, 90 s) */
	sched_entry_init(&e, "w", &c, t0, UINT64_MAX, &pol);
	CU_ASSERT(e.next_run_ms >= t0 && e.next_run_ms <= t0 + 30000);
	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0);
	/* the period counts from the start of the run */
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0 + 2 * MIN_MS, 30000, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 15 * MIN_MS + 30000);
	CU_ASSERT_EQUAL(e.last_end_ms, t0 + 2 * MIN_MS);
}

/* A day of "every 15m" runs 96 times whatever the jitter: each run's
 * jitter is its own, the next counts from the schedule's time (it counted
 * from the jittered start, so the jitter added up: 93 runs a day); a
 * trigger between ticks moves the schedule to it, as before. */
static void test_interval_jitter_does_not_add_up(void)
{
	struct cron c = parse("every 15m");
	struct sched_entry e;
	struct sync_report r = report(HUB_OK, NULL, 0);
	uint64_t dice = 12345;
	int64_t now;
	int runs = 0;

	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	while (e.next_run_ms < t0 + 24 * 60 * MIN_MS) {
		CU_ASSERT_FATAL(sched_entry_is_due(&e, e.next_run_ms));
		now = e.next_run_ms;
		CU_ASSERT_EQUAL(sched_entry_begin(&e, now), 0);
		runs++;
		dice = dice * 6364136223846793005ULL + 1442695040888963407ULL;
		sched_entry_finish(&e, &r, now + MIN_MS, dice >> 11, &pol);
		CU_ASSERT(e.next_run_ms >= t0 + runs * 15 * MIN_MS);
		CU_ASSERT(e.next_run_ms <= t0 + runs * 15 * MIN_MS + 90000);
	}
	CU_ASSERT_EQUAL(runs, 96);
	/* a trigger: the period counts from its start */
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), 0);
	now = e.next_run_ms - 5 * MIN_MS;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, now), 0);
	sched_entry_finish(&e, &r, now + MIN_MS, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, now + 15 * MIN_MS);
}

/* A tick that starts 10 h late (the machine slept, the clock stepped)
 * counts the next from its start: it counted from the missed time, so the
 * short run looked longer than its interval and a second full pull
 * followed at once.  A late run that is also long is still followed at
 * once. */
static void test_a_late_tick_counts_from_its_start(void)
{
	struct cron c = parse("every 15m");
	struct sched_entry e;
	struct sync_report r = report(HUB_OK, NULL, 0);
	int64_t begin = t0 + 10 * 60 * MIN_MS;

	for (uint64_t dice = 0; dice < 40000; dice += 7919) {
		sched_entry_init(&e, "w", &c, t0, 0, &pol);
		CU_ASSERT_EQUAL(e.next_run_ms, t0);
		CU_ASSERT(sched_entry_is_due(&e, begin));
		CU_ASSERT_EQUAL(sched_entry_begin(&e, begin), 0);
		CU_ASSERT(e.is_tick_run);
		sched_entry_finish(&e, &r, begin + 10000, dice, &pol);
		/* jitter: at most min(30 s, 90 s) */
		CU_ASSERT(e.next_run_ms >= begin + 15 * MIN_MS);
		CU_ASSERT(e.next_run_ms <= begin + 15 * MIN_MS + 30000);
		CU_ASSERT(!sched_entry_is_due(&e, begin + 14 * MIN_MS));
	}
	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, begin), 0);
	sched_entry_finish(&e, &r, begin + 20 * MIN_MS, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, begin + 20 * MIN_MS);
}

/* A tick exactly an interval late also counts the next from its start:
 * counted from the missed time, the next was due at once. */
static void test_a_tick_exactly_an_interval_late_counts_from_its_start(void)
{
	struct cron c = parse("every 15m");
	struct sched_entry e;
	struct sync_report r = report(HUB_OK, NULL, 0);
	int64_t begin = t0 + 15 * MIN_MS;

	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, begin), 0);
	sched_entry_finish(&e, &r, begin + 10000, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, begin + 15 * MIN_MS);
	CU_ASSERT(!sched_entry_is_due(&e, begin + 10000));
}

/* A run that begins at its planned time, with no jitter drawn, is a tick
 * run (it claims the tick in the store), an interval's and cron's alike. */
static void test_a_run_begun_exactly_at_its_tick_is_a_tick_run(void)
{
	struct cron every = parse("every 15m"), hourly = parse("0 * * * *");
	struct sched_entry e;

	sched_entry_init(&e, "w", &every, t0, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, e.nominal_ms);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, e.next_run_ms), 0);
	CU_ASSERT(e.is_tick_run);
	sched_entry_init(&e, "h", &hourly, t0, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, e.nominal_ms);
	CU_ASSERT(e.nominal_ms > t0);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, e.next_run_ms), 0);
	CU_ASSERT(e.is_tick_run);
}

/* A trigger is never a tick run, even past its tick's time and before its
 * jittered start: the next counts from the trigger's start (and the tick
 * claim, which could skip a "sync now", is not made). */
static void test_a_triggered_run_past_its_tick_is_no_tick_run(void)
{
	struct cron c = parse("every 15m");
	struct sched_entry e;
	struct sync_report r = report(HUB_OK, NULL, 0);

	/* jitter at most min(30 s, 90 s): 20 s drawn */
	sched_entry_init(&e, "w", &c, t0, 20000, &pol);
	CU_ASSERT_EQUAL(e.nominal_ms, t0);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 20000);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 5000), 0);
	CU_ASSERT(!e.is_tick_run);
	sched_entry_finish(&e, &r, t0 + 6000, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 5000 + 15 * MIN_MS);
}

/* A stopped run is neither a failure nor a success: the last success is
 * still the run that ended ok. */
static void test_a_stopped_run_is_not_a_success(void)
{
	struct sync_report ok = report(HUB_OK, NULL, 0);
	struct sync_report stopped = report(HUB_ERR_STOPPED, "stopped", 0);
	struct sched_entry e;

	sched_entry_init(&e, "w", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(e.last_ok_ms, 0);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &ok, t0 + 5, 0, &pol);
	CU_ASSERT_EQUAL(e.last_ok_ms, t0 + 5);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 10), 0);
	sched_entry_finish(&e, &stopped, t0 + 20, 0, &pol);
	CU_ASSERT_EQUAL(e.last_rc, HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(e.n_failures, 0);
	CU_ASSERT_EQUAL(e.last_ok_ms, t0 + 5);
}

/* sched_entry_follow_clock leaves a running source alone (its run is
 * planned again when it ends), however far its last plan now lies. */
static void test_follow_clock_leaves_a_running_source_alone(void)
{
	struct cron c = parse("every 20s");
	struct sched_entry e;
	int64_t back = t0 - 60 * MIN_MS;

	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 0, &pol), 0);
	CU_ASSERT_EQUAL(e.state, SOURCE_RUNNING);
	CU_ASSERT_EQUAL(e.next_run_ms, t0);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, back), -1);
}

/* The wall clock steps back an hour after a run: the next run, planned in
 * wall-clock time, was then an hour and a period away, and the source did
 * not run for an hour.  It is planned again from the new now, at most the
 * schedule's next time and its jitter away (said once: planned so, it
 * stays); a run planned within that is left alone. */
static void test_a_clock_step_back_replans_the_next_run(void)
{
	struct cron every = parse("every 20s"), hourly = parse("0 * * * *");
	struct sync_report r = report(HUB_OK, NULL, 0);
	int64_t top = (t0 / (60 * MIN_MS) + 1) * 60 * MIN_MS, back;
	struct sched_entry e;

	/* interval: 20 s, jitter at most 2 s */
	sched_entry_init(&e, "w", &every, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0 + 1000, 2000, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 22000);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, t0 + 1000, 0, &pol), 0);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 22000);
	back = t0 + 5000 - 60 * MIN_MS;
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 1000, &pol), 1);
	CU_ASSERT(sched_entry_wait_ms(&e, back) <= 22000);
	CU_ASSERT_EQUAL(e.next_run_ms, back + 21000);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back + 1000, 0, &pol), 0);
	CU_ASSERT(sched_entry_is_due(&e, back + 21000));
	/* cron: the next firing from the new now; jitter at most 30 s */
	sched_entry_init(&e, "h", &hourly, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, top), 0);
	sched_entry_finish(&e, &r, top + 10000, 30000, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, top + 60 * MIN_MS + 30000);
	back = top + 10000 - 60 * MIN_MS;
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 5000, &pol), 1);
	CU_ASSERT_EQUAL(e.nominal_ms, top);
	CU_ASSERT_EQUAL(e.next_run_ms, top + 5000);
	CU_ASSERT(sched_entry_wait_ms(&e, back) <= top - back + 30000);
	/* a run planned with the most jitter, a minute before its time: kept */
	sched_entry_init(&e, "h", &hourly, top - MIN_MS, 30000, &pol);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, top - MIN_MS, 0, &pol), 0);
	CU_ASSERT_EQUAL(e.next_run_ms, top + 30000);
}

/* The wall clock steps back an hour while a source backs off: its retry,
 * planned in wall-clock time, was then an hour and its wait away.  It is
 * planned its wait from the new now (said once), on a schedule or on
 * demand, a Retry-After's wait too; a retry within its wait is kept. */
static void test_a_clock_step_back_replans_a_backoff(void)
{
	struct cron every = parse("every 15m");
	struct sync_report r = report(HUB_RETRY, "HTTP 503", 0);
	int64_t back = t0 + 2000 - 60 * MIN_MS;
	struct sched_entry e;

	/* the first failure waits at most 1 s (pol): 700 ms drawn */
	sched_entry_init(&e, "w", &every, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0 + 1000, 700, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_BACKOFF);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 1700);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, t0 + 1000, 0, &pol), 0);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, t0 + 1500, 0, &pol), 0);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 1700);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 0, &pol), 1);
	CU_ASSERT_EQUAL(e.state, SOURCE_BACKOFF);
	CU_ASSERT_EQUAL(e.next_run_ms, back + 700);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, back), 700);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back + 100, 0, &pol), 0);
	CU_ASSERT(sched_entry_is_due(&e, back + 700));
	/* on demand, waiting for a Retry-After of 2 minutes */
	r = report(HUB_RETRY, "retry after 120s: HTTP 429", 120000);
	sched_entry_init(&e, "d", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0 + 1000, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, t0 + 121000);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 0, &pol), 1);
	CU_ASSERT_EQUAL(e.next_run_ms, back + 120000);
	CU_ASSERT(!sched_entry_is_due(&e, back + 119999));
	CU_ASSERT(sched_entry_is_due(&e, back + 120000));
}

/* The wall clock steps back an hour while a trigger is kept (the lease
 * was another process's): its next try, a second after the last in
 * wall-clock time, was then an hour away, and "sync now" ran nothing for
 * an hour.  It is tried a second from the new now (said once), a disabled
 * source's too; a try within the second is kept. */
static void test_a_clock_step_back_replans_a_kept_trigger(void)
{
	int64_t back = t0 + 5 - 60 * MIN_MS;
	struct sched_entry e, before;

	sched_entry_init(&e, "od", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_skip(&e, &before, t0 + 5, 0, &pol);
	CU_ASSERT_EQUAL(e.trigger_at_ms, t0 + 5 + SCHED_TRIGGER_RETRY_MS);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, t0 + 5, 0, &pol), 0);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 0, &pol), 1);
	CU_ASSERT(e.is_triggered);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, back), SCHED_TRIGGER_RETRY_MS);
	CU_ASSERT(!sched_entry_is_due(&e, back + SCHED_TRIGGER_RETRY_MS - 1));
	CU_ASSERT(sched_entry_is_due(&e, back + SCHED_TRIGGER_RETRY_MS));
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back + 1, 0, &pol), 0);
	/* a disabled source, triggered: the same */
	sched_entry_init(&e, "d", NULL, t0, 0, &pol);
	e.state = SOURCE_DISABLED;
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_skip(&e, &before, t0 + 5, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_DISABLED);
	CU_ASSERT_EQUAL(sched_entry_follow_clock(&e, back, 0, &pol), 1);
	CU_ASSERT(sched_entry_is_due(&e, back + SCHED_TRIGGER_RETRY_MS));
}

/* Two processes (two store connections) plan the same schedule with their
 * own jitter: the first to claim a tick runs it, the other skips it (both
 * ran every tick: the lease only keeps runs from overlapping). */
static void test_a_tick_is_run_by_one_process(void)
{
	struct testhub *th = testhub_start(NULL);
	struct cron hourly = parse("0 * * * *"), every = parse("every 10m");
	struct sched_entry a, b;
	struct store *other = NULL;
	int64_t last = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL_FATAL(store_open(th->cfg, &other, th->err, sizeof(th->err)), 0);
	/* cron: one tick, two jitters */
	sched_entry_init(&a, "w", &hourly, t0, 1000, &pol);
	sched_entry_init(&b, "w", &hourly, t0, 5000, &pol);
	CU_ASSERT_EQUAL(a.nominal_ms, b.nominal_ms);
	CU_ASSERT(a.next_run_ms < b.next_run_ms);
	CU_ASSERT_EQUAL(sched_tick_claim(th->reader, &a, a.next_run_ms, &last), 1);
	CU_ASSERT_EQUAL(sched_tick_claim(other, &b, b.next_run_ms, &last), 0);
	CU_ASSERT_EQUAL(last, a.next_run_ms);
	/* the next tick is the other's if it comes first */
	sched_entry_init(&a, "w", &hourly, a.nominal_ms, 1000, &pol);
	sched_entry_init(&b, "w", &hourly, b.nominal_ms, 5000, &pol);
	CU_ASSERT_EQUAL(sched_tick_claim(other, &b, b.next_run_ms, &last), 1);
	CU_ASSERT_EQUAL(sched_tick_claim(th->reader, &a, a.next_run_ms + 10000, &last), 0);
	/* an interval: a run within half of it serves the other process's tick */
	sched_entry_init(&a, "v", &every, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_tick_claim(th->reader, &a, t0, &last), 1);
	CU_ASSERT_EQUAL(sched_tick_claim(other, &a, t0 + 5 * MIN_MS - 1, &last), 0);
	CU_ASSERT_EQUAL(sched_tick_claim(other, &a, t0 + 5 * MIN_MS, &last), 1); /* half: due */
	CU_ASSERT_EQUAL(last, t0);
	/* another source is claimed on its own */
	sched_entry_init(&b, "x", &every, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_tick_claim(other, &b, t0 + 6 * MIN_MS, &last), 1);
	/* cron: a run that started at the tick's own time served it */
	sched_entry_init(&a, "y", &hourly, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_tick_claim(th->reader, &a, a.nominal_ms, &last), 1);
	CU_ASSERT_EQUAL(sched_tick_claim(other, &a, a.nominal_ms + 5000, &last), 0);
	CU_ASSERT_EQUAL(last, a.nominal_ms);
	store_close(other);
	testhub_stop(th);
}

static void test_cron_jitter_is_a_tenth_of_the_period_at_most(void)
{
	struct cron every_minute = parse("* * * * *"), hourly = parse("0 * * * *");
	int64_t top = (t0 / (60 * MIN_MS) + 1) * 60 * MIN_MS;

	/* 1 min period: jitter at most 6 s */
	for (uint64_t d = 0; d < 20000; d += 997) {
		int64_t n = sched_next_run_ms(&every_minute, t0, d, &pol);
		CU_ASSERT(n >= (t0 / MIN_MS + 1) * MIN_MS &&
			  n <= (t0 / MIN_MS + 1) * MIN_MS + 6000);
	}
	/* 1 h period: jitter capped by the policy (30 s) */
	CU_ASSERT_EQUAL(sched_next_run_ms(&hourly, t0, 30000, &pol), top + 30000);
	CU_ASSERT_EQUAL(sched_next_run_ms(&hourly, t0, 30001, &pol), top);
}

static void test_on_demand_source_runs_only_when_triggered(void)
{
	struct sched_entry e;
	struct sync_report r = report(HUB_ERR_STOPPED, "stopped", 0);

	sched_entry_init(&e, "w", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(e.next_run_ms, -1);
	CU_ASSERT(!sched_entry_is_due(&e, t0 + 1000 * MIN_MS));
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT(sched_entry_is_due(&e, t0));
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	CU_ASSERT(!e.is_triggered);
	/* a stopped run is not a failure */
	sched_entry_finish(&e, &r, t0 + 5, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_IDLE);
	CU_ASSERT_EQUAL(e.n_failures, 0);
	CU_ASSERT_STRING_EQUAL(e.last_error, "");
	CU_ASSERT_EQUAL(e.next_run_ms, -1);
}

/* 1 when s is valid UTF-8: jansson's json_string() refuses anything else. */
static int is_json_text(const char *s)
{
	json_t *j = json_string(s);
	int ok = j != NULL;

	json_decref(j);
	return ok;
}

/*
 * A plugin's error text is kept as valid UTF-8: overlong forms, surrogates,
 * stray bytes and a character cut at the end (the plugin's snprintf) each
 * become one '?'; json_string() of it returned NULL, and GET /v1/sources
 * with it.
 */
static void test_a_broken_error_text_is_kept_as_valid_utf8(void)
{
	static const struct {
		const char *err, *kept;
	} cases[] = {
		{"bad \xc3\xa9 row", "bad \xc3\xa9 row"},
		{"overlong \xc0\xaf, surrogate \xed\xa0\x80, stray \xff\x80",
		 "overlong ??, surrogate ???, stray ??"},
		{"past U+10FFFF \xf4\x90\x80\x80 cut \xe2\x82", "past U+10FFFF ???? cut ?"},
	};
	struct sync_report r;
	struct sched_entry e;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		r = report(HUB_ERR_DATA, cases[i].err, 0);
		sched_entry_init(&e, "w", NULL, t0, 0, &pol);
		CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
		sched_entry_finish(&e, &r, t0 + 10, 0, &pol);
		CU_ASSERT_STRING_EQUAL(e.last_error, cases[i].kept);
		CU_ASSERT(is_json_text(e.last_error));
	}
	/* a whole buffer of "é" cut by bytes */
	r = report(HUB_ERR_DATA, NULL, 0);
	for (size_t i = 0; i + 1 < sizeof(r.err); i++)
		r.err[i] = i % 2 ? '\xa9' : '\xc3';
	r.err[sizeof(r.err) - 1] = '\0';
	sched_entry_init(&e, "w", NULL, t0, 0, &pol);
	sched_entry_begin(&e, t0);
	sched_entry_finish(&e, &r, t0 + 10, 0, &pol);
	CU_ASSERT(is_json_text(e.last_error));
	CU_ASSERT_EQUAL(strlen(e.last_error), sizeof(r.err) - 1);
}

/* A run's first rejections and warnings stay with the source until its
 * next run begins, as UTF-8 text whatever bytes a plugin's reason had. */
static void test_a_run_s_reasons_are_kept_until_the_next_run(void)
{
	struct sync_report r = report(HUB_OK, NULL, 0);
	struct sched_entry e;

	r.n_reasons = 2;
	snprintf(r.reasons[0], sizeof(r.reasons[0]), "row 3: no usable identifier");
	snprintf(r.reasons[1], sizeof(r.reasons[1]), "bad \xff byte");
	r.warnings = 4;
	r.n_warning_reasons = 1;
	snprintf(r.warning_reasons[0], sizeof(r.warning_reasons[0]), "attributes.$timezone: x");
	sched_entry_init(&e, "w", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0 + 10, 0, &pol);
	CU_ASSERT_EQUAL_FATAL(e.n_reasons, 2);
	CU_ASSERT_STRING_EQUAL(e.reasons[0], "row 3: no usable identifier");
	CU_ASSERT_STRING_EQUAL(e.reasons[1], "bad ? byte");
	CU_ASSERT_EQUAL(e.warnings, 4);
	CU_ASSERT_EQUAL_FATAL(e.n_warning_reasons, 1);
	CU_ASSERT_STRING_EQUAL(e.warning_reasons[0], "attributes.$timezone: x");
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 20), 0);
	CU_ASSERT_EQUAL(e.n_reasons, 0);
	CU_ASSERT_EQUAL(e.n_warning_reasons, 0);
	CU_ASSERT_EQUAL(e.warnings, 0);
}

/* The status JSON of a source that ran: last_run names the first
 * rejections and warnings beside their counts (a real run of the
 * reject_lines test plugin, triggered, its end waited for). */
static void test_status_names_the_last_run_s_rejections_and_warnings(void)
{
	struct plugin_sched ps;
	json_t *list, *run;

	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1, \"!not a user\", \"w:u5\"]\n",
			   "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	run = json_object_get(json_array_get(list, 0), "last_run");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(run, "result")), "ok");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(run, "rejected")), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(run, "warnings")), 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(run, "first_rejections")), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(
				       json_object_get(run, "first_rejections"), 0)),
			       "not a user");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(
				       json_object_get(run, "first_warnings"), 0)),
			       "attributes.$timezone: must be UTC or an IANA Area/Location name"
			       " (first in w-item)");
	json_decref(list);
	plugin_sched_stop(&ps);
}

/*
 * Two sources whose create() fails on an unknown key of 150 "é": the
 * config checker's path buffer cuts the key by bytes, and of the two keys
 * (one a byte longer) one is cut inside an "é".  Both sources are in the
 * status JSON with their error as a string (the cut one made the whole
 * status NULL).
 */
static void test_a_source_with_a_cut_error_text_stays_in_the_status(void)
{
	char key[2][400], yaml[2048];
	struct plugin_sched ps;
	json_t *list;

	for (size_t k = 0; k < 2; k++) {
		size_t n = k;

		memset(key[k], 'x', k);
		for (size_t i = 0; i < 150; i++, n += 2)
			memcpy(key[k] + n, "\xc3\xa9", 2);
		key[k][n] = '\0';
	}
	snprintf(yaml, sizeof(yaml),
		 "sources:\n"
		 "  - name: a\n    plugin: example\n    path: /nonexistent\n    %s: 1\n"
		 "  - name: b\n    plugin: example\n    path: /nonexistent\n    %s: 1\n",
		 key[0], key[1]);
	plugin_sched_start(&ps, yaml, "plugins/example.so");
	list = scheduler_status_json(ps.s);
	CU_ASSERT_PTR_NOT_NULL(list);
	CU_ASSERT_EQUAL(json_array_size(list), 2);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *src = json_array_get(list, i);
		const char *last = json_string_value(json_object_get(src, "last_error"));

		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "name")),
				       i ? "b" : "a");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "state")),
				       "disabled");
		CU_ASSERT_PTR_NOT_NULL(last);
		CU_ASSERT_PTR_NOT_NULL(last ? strstr(last, "unknown key") : NULL);
	}
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* A scheduled source whose create() fails starts disabled with nothing
 * planned: it kept the first run sched_entry_init planned, shown as its
 * next_run_at, and once that passed the dispatcher's wait was negative
 * (a busy loop of about 1000 wakeups a second). */
static void test_a_source_disabled_at_start_plans_no_run(void)
{
	struct plugin_sched ps;
	json_t *list, *src;

	plugin_sched_start(&ps, "sources:\n  - name: ex\n    plugin: example\n"
			   "    path: /nonexistent\n    batch: 0\n    schedule: every 10s\n",
			   "plugins/example.so");
	list = scheduler_status_json(ps.s);
	src = json_array_get(list, 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "state")), "disabled");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "schedule")), "every 10s");
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(src, "last_error")),
				      "batch: must be at least 1"));
	CU_ASSERT(json_is_null(json_object_get(src, "next_run_at")));
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* Runs the one source of `yaml` (reject_lines), waits for its result
 * (10 s), and returns what /metrics shows then (hub_malloc'd). */
static char *metrics_after_a_run(const char *yaml, const char *name)
{
	struct plugin_sched ps;
	struct metrics *m = metrics_new();
	json_t *list;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	plugin_sched_start(&ps, yaml, "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, name), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	CU_ASSERT(json_is_string(json_object_get(json_object_get(json_array_get(list, 0),
								 "last_run"), "result")));
	json_decref(list);
	text = metrics_render(m, &(struct metrics_feeds){.sched = ps.s});
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	plugin_sched_stop(&ps);
	metrics_free(m);
	return text;
}

/* /metrics shows per pull source when its last successful sync ended and
 * whether its last run failed: "ok" ran well, "bad" failed (out of memory
 * in its plugin: no success to show), "never" was refused its
 * configuration at the start. */
static void test_metrics_show_each_source_s_last_success_and_failure(void)
{
	int64_t began_ms = time_now_ms();
	struct plugin_sched ps;
	struct metrics *m;
	const char *at;
	char *text;

	text = metrics_after_a_run("sources:\n  - name: ok\n    plugin: reject_lines\n"
				   "    lines: [p1]\n", "ok");
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE sync_last_success_timestamp_seconds gauge\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nsync_last_run_failed{source=\"ok\"} 0\n"));
	at = strstr(text, "\nsync_last_success_timestamp_seconds{source=\"ok\"} ");
	CU_ASSERT_PTR_NOT_NULL(at);
	if (at) {
		double when_ms = strtod(strchr(at, '}') + 2, NULL) * 1000;
		CU_ASSERT(when_ms >= (double)began_ms - 1 && when_ms <= (double)time_now_ms() + 1);
	}
	hub_free(text);

	text = metrics_after_a_run("sources:\n  - name: bad\n    plugin: reject_lines\n"
				   "    lines: [NOMEM]\n", "bad");
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nsync_last_run_failed{source=\"bad\"} 1\n"));
	CU_ASSERT_PTR_NULL(strstr(text, "sync_last_success_timestamp_seconds{"));
	hub_free(text);

	m = metrics_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	plugin_sched_start(&ps, "sources:\n  - name: never\n    plugin: example\n"
			   "    path: /nonexistent\n    batch: 0\n",
			   "plugins/example.so");
	text = metrics_render(m, &(struct metrics_feeds){.sched = ps.s});
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "\nsync_last_run_failed{source=\"never\"} 1\n")
				    : NULL);
	hub_free(text);
	plugin_sched_stop(&ps);
	metrics_free(m);
}

/* A wrong schedule is named by its dotted path, as every other key is
 * ("sources[0].schedule:"); it read "sources[0]: schedule:". */
static void test_a_bad_schedule_is_named_by_its_path(void)
{
	static const struct {
		const char *schedule, *expected;
	} rows[] = {
		{"every 15", "s.yaml:4:15: sources[0].schedule: \"every\" needs a duration from"
			     " 1s to 366d such as 30s, 15m, 1h30m or 2d"},
		{"0 24 * * *", "s.yaml:4:15: sources[0].schedule: field 2 (hour): 24 is out of"
			       " range 0-23"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hub_config *cfg = NULL;
		struct cron c;
		char text[256], err[512] = "";

		snprintf(text, sizeof(text), "sources:\n  - name: ex\n    plugin: example\n"
			 "    schedule: %s\n", rows[i].schedule);
		CU_ASSERT_EQUAL_FATAL(config_load_string("s.yaml", text, &cfg, err, sizeof(err)),
				      0);
		CU_ASSERT_EQUAL(scheduler_check_schedule(&cfg->sources[0], &c, err, sizeof(err)),
				-1);
		CU_ASSERT_STRING_EQUAL(err, rows[i].expected);
		config_free(cfg);
	}
}

/* What the dispatcher sleeps for: a disabled entry, even with a run still
 * planned from before, never counts (nor is it due); and a tick skipped for another
 * process's lease leaves a disabled entry with nothing planned (it planned
 * the next tick, so the dispatcher waited for a run that never starts). */
static void test_a_disabled_source_is_never_waited_for(void)
{
	struct cron c = parse("every 10s");
	struct sched_entry e, before;
	struct sync_report r = report(HUB_ERR_CONFIG, "batch must be at least 1", 0);

	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 - 5), 5);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + MIN_MS), 0);
	e.state = SOURCE_DISABLED;
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + MIN_MS), -1);
	CU_ASSERT(!sched_entry_is_due(&e, t0 + MIN_MS));
	e.state = SOURCE_RUNNING;
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + MIN_MS), -1);

	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_finish(&e, &r, t0 + 10, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_DISABLED);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 20), 0);
	sched_entry_skip(&e, &before, t0 + 30, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_DISABLED);
	CU_ASSERT_EQUAL(e.next_run_ms, -1);
	/* its trigger is kept (test_a_trigger_outlives_a_lease_held_elsewhere);
	 * once a run of it has begun, nothing more is planned */
	CU_ASSERT(e.is_triggered);
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 30 + SCHED_TRIGGER_RETRY_MS), 0);
	sched_entry_skip(&e, &before, t0 + 40 + SCHED_TRIGGER_RETRY_MS, 0, &pol);
	CU_ASSERT(e.is_triggered);
	e.is_triggered = 0; /* as after a run that took the lease */
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + MIN_MS), -1);
	CU_ASSERT(!sched_entry_is_due(&e, t0 + 366LL * 24 * 60 * MIN_MS));

	/* an idle one skipped: its next tick is planned after the skip */
	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_skip(&e, &before, t0 + 30, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_IDLE);
	CU_ASSERT(e.next_run_ms > t0 + 30);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + 30), e.next_run_ms - (t0 + 30));
}

/* A trigger whose run found the lease held by another process is kept and
 * tried again every SCHED_TRIGGER_RETRY_MS until a run takes the lease:
 * "sync now" runs after the other process's run (it was spent before, so
 * nothing ran until the next tick, or ever for an on-demand source).  A
 * trigger that came while the lease was being tried is kept alike. */
static void test_a_trigger_outlives_a_lease_held_elsewhere(void)
{
	struct cron c = parse("every 1h");
	struct sched_entry e, before;
	struct sync_report ok;
	int64_t at;

	/* on demand: nothing planned but the kept trigger */
	sched_entry_init(&e, "od", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT(sched_entry_is_due(&e, t0));
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	sched_entry_skip(&e, &before, t0 + 5, 0, &pol);
	CU_ASSERT_EQUAL(e.state, SOURCE_IDLE);
	CU_ASSERT(e.is_triggered);
	CU_ASSERT(!sched_entry_is_due(&e, t0 + 5));
	CU_ASSERT(!sched_entry_is_due(&e, t0 + 4 + SCHED_TRIGGER_RETRY_MS));
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + 5), SCHED_TRIGGER_RETRY_MS);
	CU_ASSERT(sched_entry_is_due(&e, t0 + 5 + SCHED_TRIGGER_RETRY_MS));
	/* tried again, skipped again, still kept; a new trigger is due at once */
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 5 + SCHED_TRIGGER_RETRY_MS), 0);
	sched_entry_skip(&e, &before, t0 + 6 + SCHED_TRIGGER_RETRY_MS, 0, &pol);
	CU_ASSERT(e.is_triggered);
	CU_ASSERT(!sched_entry_is_due(&e, t0 + 7 + SCHED_TRIGGER_RETRY_MS));
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT(sched_entry_is_due(&e, t0 + 7 + SCHED_TRIGGER_RETRY_MS));
	/* a run that takes the lease spends it: after it, nothing is due */
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 8 + SCHED_TRIGGER_RETRY_MS), 0);
	ok = report(HUB_OK, "", 0);
	sched_entry_finish(&e, &ok, t0 + 9 + SCHED_TRIGGER_RETRY_MS, 0, &pol);
	CU_ASSERT(!e.is_triggered);
	CU_ASSERT(!sched_entry_is_due(&e, t0 + 366LL * 24 * 60 * MIN_MS));
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, t0 + 10 + SCHED_TRIGGER_RETRY_MS), -1);

	/* a tick run skipped while a trigger came in: kept; the tick is planned
	 * an hour on, the trigger's try a second on */
	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	at = e.next_run_ms;
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, at), 0);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_RUNNING);
	sched_entry_skip(&e, &before, at + 10, 0, &pol);
	CU_ASSERT(e.is_triggered);
	CU_ASSERT(e.next_run_ms > at + 10 * MIN_MS);
	CU_ASSERT_EQUAL(sched_entry_wait_ms(&e, at + 10), SCHED_TRIGGER_RETRY_MS);
	CU_ASSERT(sched_entry_is_due(&e, at + 10 + SCHED_TRIGGER_RETRY_MS));

	/* without a trigger, a skipped tick waits for the next tick */
	sched_entry_init(&e, "w", &c, t0, 0, &pol);
	at = e.next_run_ms;
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, at), 0);
	sched_entry_skip(&e, &before, at + 10, 0, &pol);
	CU_ASSERT(!e.is_triggered);
	CU_ASSERT(!sched_entry_is_due(&e, at + 10 + SCHED_TRIGGER_RETRY_MS));
}

/* ---- the running scheduler (hub/scheduler.c) ------------------------------ */

/* A source of reject_lines "rl", on demand, that reads one item. */
static const char rl_yaml[] = "sources:\n  - name: rl\n    plugin: reject_lines\n"
			      "    lines: [p1]\n";

/* 1 once the first source's worker is busy (started, not ended) when
 * want_busy, or joined (the dispatcher made its pass after the run and
 * sleeps) when not; 0 after 10 s. */
static int worker_reaches(struct scheduler *s, int want_busy)
{
	for (int64_t until = time_mono_ms() + 10000; time_mono_ms() < until;) {
		struct timespec pause = {0, 2 * 1000 * 1000};
		int reached;

		pthread_mutex_lock(&s->lock);
		reached = want_busy ? s->src[0].has_thread && !s->src[0].is_done
				    : !s->src[0].has_thread;
		pthread_mutex_unlock(&s->lock);
		if (reached)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* rl's second run: past its cursor, nothing more to read. */
static int has_run_twice(json_t *list)
{
	return strcmp(result_of(list), "ok") == 0 && run_count(list, "read") == 0;
}

/* A worker that has not got the lease yet (here it waits for the reader
 * connection) has begun no run: the status shows the source as before it,
 * the last run the one that ended (its item twice: once a duplicate).
 * Then it runs: a second run. */
static void test_scheduler_a_lease_try_shows_the_source_as_before_it(void)
{
	struct plugin_sched ps;
	json_t *list;

	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1, p1]\n", "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_EQUAL(run_count(list, "duplicates"), 1);
	CU_ASSERT_EQUAL(run_count(list, "rejected"), 0);
	json_decref(list);
	pthread_mutex_lock(&ps.s->reader_lock);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	CU_ASSERT(worker_reaches(ps.s, 1));
	list = scheduler_status_json(ps.s);
	CU_ASSERT_STRING_EQUAL(source_text(list, "state"), "idle");
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_EQUAL(run_count(list, "duplicates"), 1);
	CU_ASSERT(json_is_null(json_object_get(json_array_get(list, 0), "last_error")));
	json_decref(list);
	pthread_mutex_unlock(&ps.s->reader_lock);
	list = status_once(&ps, has_run_twice);
	CU_ASSERT(has_run_twice(list));
	CU_ASSERT_EQUAL(run_count(list, "duplicates"), 0);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* gp's run after its gate opened: nothing more to read. */
static int is_the_run_after_the_gate(json_t *list)
{
	return strcmp(result_of(list), "ok") == 0 && run_count(list, "read") == 0;
}

/* A running run has no end yet; a trigger meanwhile is queued
 * (SCHEDULER_RUNNING), never a second run at once, and runs once this one
 * ended.  A name of no pull source is said so. */
static void test_scheduler_a_trigger_during_a_run_runs_once_more_after_it(void)
{
	struct plugin_sched ps;
	json_t *list, *run;
	char *dir;

	gated_start(&ps, &dir);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "gp"), SCHEDULER_TRIGGERED);
	list = status_once(&ps, is_running_past_a_page);
	CU_ASSERT(is_running_past_a_page(list));
	run = last_run_of(list);
	CU_ASSERT(json_is_string(json_object_get(run, "started_at")));
	CU_ASSERT(json_is_null(json_object_get(run, "ended_at")));
	json_decref(list);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "gp"), SCHEDULER_RUNNING);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "no such source"), SCHEDULER_NO_SOURCE);
	gate_open(dir);
	list = status_once(&ps, is_the_run_after_the_gate);
	CU_ASSERT(is_the_run_after_the_gate(list));
	CU_ASSERT(json_is_string(json_object_get(last_run_of(list), "ended_at")));
	CU_ASSERT_STRING_EQUAL(source_text(list, "cursor"), "c3");
	json_decref(list);
	plugin_sched_stop(&ps);
	testlib_rmtree(dir);
	free(dir);
}

/* Stopping asks a running pull to stop (gated_pull waits 30 s for its
 * gate otherwise, then fails): the stop returns soon, the pages before
 * are committed, and no failure is logged. */
static void test_scheduler_stop_asks_a_running_pull_to_stop(void)
{
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	struct plugin_sched ps;
	char key[300], cursor[64], *dir, *said;
	struct store *r;
	int64_t began;
	json_t *list;

	log_set_level(HUB_LOG_WARN);
	testlib_capture_begin(&cap);
	gated_start(&ps, &dir);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "gp"), SCHEDULER_TRIGGERED);
	list = status_once(&ps, is_running_past_a_page);
	CU_ASSERT(is_running_past_a_page(list));
	json_decref(list);
	began = time_mono_ms();
	scheduler_stop(ps.s);
	ps.s = NULL;
	CU_ASSERT(time_mono_ms() - began < 20000);
	said = testlib_capture_end(&cap);
	log_set_level(saved);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "sync failed"), 0);
	r = ps.th->reader;
	sync_cursor_key("gp", key, sizeof(key));
	CU_ASSERT_EQUAL(r->ops->meta_get(r, key, cursor, sizeof(cursor)), 1);
	CU_ASSERT_STRING_EQUAL(cursor, "c2");
	free(said);
	plugin_sched_stop(&ps);
	testlib_rmtree(dir);
	free(dir);
}

/* A source with a schedule runs on its own: an interval's first run
 * comes within its jitter (a second here) of the start. */
static void test_scheduler_a_scheduled_source_runs_without_a_trigger(void)
{
	struct plugin_sched ps;
	json_t *list;

	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1]\n    schedule: every 10s\n",
			   "tests/plugins/reject_lines.so");
	list = status_after_the_run(&ps);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* How many draws of the dice lead from the state `from` to `to`: 0 to
 * max, or max + 1 for more. */
static unsigned draws_between(uint64_t from, uint64_t to, unsigned max)
{
	struct scheduler dice;
	unsigned n = 0;

	memset(&dice, 0, sizeof(dice));
	dice.rng = from;
	for (; n <= max && dice.rng != to; n++)
		scheduler_next_random(&dice);
	return n;
}

/* With nothing planned (an on-demand source after its run), the
 * dispatcher sleeps: each of its passes draws the dice once here, and a
 * tenth of a second sees no more than a spurious wakeup's pass or two (a
 * wait of zero or less, or on the wrong clock, was a pass every
 * millisecond).  The pause only gives a busy loop time to show. */
static void test_scheduler_the_dispatcher_sleeps_while_nothing_is_planned(void)
{
	struct timespec pause = {0, 100 * 1000 * 1000};
	struct plugin_sched ps;
	uint64_t rng;
	json_t *list;

	plugin_sched_start(&ps, rl_yaml, "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	json_decref(list);
	CU_ASSERT(worker_reaches(ps.s, 0));
	pthread_mutex_lock(&ps.s->lock);
	rng = ps.s->rng;
	pthread_mutex_unlock(&ps.s->lock);
	nanosleep(&pause, NULL);
	pthread_mutex_lock(&ps.s->lock);
	CU_ASSERT(draws_between(rng, ps.s->rng, 2) <= 2);
	pthread_mutex_unlock(&ps.s->lock);
	plugin_sched_stop(&ps);
}

/* The scheduler's dice give a new number at each draw (the jitter and
 * backoff of each source and run are their own). */
static void test_scheduler_the_dice_change_at_each_draw(void)
{
	struct plugin_sched ps;
	uint64_t a, b;

	plugin_sched_start(&ps, rl_yaml, "tests/plugins/reject_lines.so");
	pthread_mutex_lock(&ps.s->lock);
	a = scheduler_next_random(ps.s);
	b = scheduler_next_random(ps.s);
	pthread_mutex_unlock(&ps.s->lock);
	CU_ASSERT_NOT_EQUAL(a, b);
	plugin_sched_stop(&ps);
}

/* A schedule that does not parse refuses the start, naming its path. */
static void test_scheduler_a_bad_schedule_refuses_the_start(void)
{
	struct plugin_sched ps;
	char err[512] = "";

	plugin_sched_load(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			  "    schedule: every 15\n", "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_start(&ps.s, ps.th->cfg, &ps.reg, ps.th->intake, err,
					sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(ps.s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sources[0].schedule: \"every\" needs a duration"));
	plugin_sched_stop(&ps);
}

/* A null schedule (null, ~ or nothing) is none: on demand only. */
static void test_scheduler_a_null_schedule_is_on_demand(void)
{
	static const char *const nulls[] = {"null", "~", ""};

	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++) {
		struct hub_config *cfg = NULL;
		struct cron c;
		char text[256], err[512] = "";

		snprintf(text, sizeof(text), "sources:\n  - name: ex\n    plugin: example\n"
			 "    schedule: %s\n", nulls[i]);
		CU_ASSERT_EQUAL_FATAL(config_load_string("s.yaml", text, &cfg, err, sizeof(err)),
				      0);
		CU_ASSERT_EQUAL(scheduler_check_schedule(&cfg->sources[0], &c, err, sizeof(err)),
				0);
		config_free(cfg);
	}
}

/* Only the enabled sources of a pull plugin are run: one `enabled: false`
 * and one of a push-only plugin are not sources of the scheduler. */
static void test_scheduler_runs_only_enabled_pull_sources(void)
{
	struct plugin_sched ps;
	json_t *list;

	plugin_sched_start(&ps, "sources:\n  - name: off\n    plugin: reject_lines\n"
			   "    enabled: false\n  - name: on\n    plugin: reject_lines\n",
			   "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_source_count(ps.s), 1);
	list = scheduler_status_json(ps.s);
	CU_ASSERT_EQUAL(json_array_size(list), 1);
	CU_ASSERT_STRING_EQUAL(source_text(list, "name"), "on");
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "off"), SCHEDULER_NO_SOURCE);
	json_decref(list);
	plugin_sched_stop(&ps);

	plugin_sched_start(&ps, "sources:\n  - name: ep\n    plugin: echo_push\n",
			   "tests/plugins/echo_push.so");
	CU_ASSERT_EQUAL(scheduler_source_count(ps.s), 0);
	plugin_sched_stop(&ps);
	CU_ASSERT_EQUAL(scheduler_source_count(NULL), 0);
}

/* Starts a scheduler over reject_lines' one source "rl" of `yaml`,
 * triggers it and returns the status once its run ended ok. */
static json_t *rl_run_once(struct plugin_sched *ps, const char *yaml)
{
	json_t *list;

	plugin_sched_start(ps, yaml, "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_trigger(ps->s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(ps);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	return list;
}

/* A pulled record is held to the configuration's identity rules: a
 * custom_id among identity.blocked_values is no identifier, an external
 * id of identity.external is one (a type it does not name is none), and a
 * record left with none is rejected (and one with a bad $timezone warned
 * of: the counts are each their own). */
static void test_scheduler_pulled_records_keep_the_identity_rules(void)
{
	struct plugin_sched ps;
	json_t *list;

	list = rl_run_once(&ps, "identity:\n  blocked_values: [blocked-7]\n"
			   "  external:\n    crm_id: {priority: 1}\n"
			   "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1, blocked-7, \"x:crm_id:c1\", \"x:erp_id:e1\",\n"
			   "            \"w:u5\"]\n");
	CU_ASSERT_EQUAL(run_count(list, "applied"), 3);
	CU_ASSERT_EQUAL(run_count(list, "rejected"), 2);
	CU_ASSERT_EQUAL(run_count(list, "warnings"), 1);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* A run's retries (a pull failed transiently, then went through) are in
 * its last_run. */
static void test_scheduler_status_counts_a_run_s_retries(void)
{
	struct plugin_sched ps;
	json_t *list;

	list = rl_run_once(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [RETRY, p1]\n");
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_EQUAL(run_count(list, "retries"), 1);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* The committed cursor of a source is read at the start: the status shows
 * where its next run goes on from before any run. */
static void test_scheduler_shows_the_committed_cursor_from_the_start(void)
{
	struct plugin_sched ps;
	struct store *r;
	char key[300];
	json_t *list;

	plugin_sched_load(&ps, rl_yaml, "tests/plugins/reject_lines.so");
	r = ps.th->reader;
	sync_cursor_key("rl", key, sizeof(key));
	CU_ASSERT_EQUAL_FATAL(r->ops->meta_put(r, key, "saved-9"), 0);
	plugin_sched_begin(&ps);
	list = scheduler_status_json(ps.s);
	CU_ASSERT_STRING_EQUAL(source_text(list, "cursor"), "saved-9");
	CU_ASSERT(json_is_null(last_run_of(list)));
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* Once the scheduler stops, a trigger starts no run: it is answered as
 * one that follows the running ones. */
static void test_scheduler_a_trigger_while_stopping_starts_nothing(void)
{
	struct plugin_sched ps;
	json_t *list;

	plugin_sched_start(&ps, rl_yaml, "tests/plugins/reject_lines.so");
	pthread_mutex_lock(&ps.s->lock);
	ps.s->is_stopping = 1; /* as scheduler_stop() does first */
	pthread_mutex_unlock(&ps.s->lock);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_RUNNING);
	list = scheduler_status_json(ps.s);
	CU_ASSERT(json_is_null(last_run_of(list)));
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* The dispatcher follows the wall clock going back: a run left planned
 * far past what its schedule allows (a year on, for a yearly schedule) is
 * planned again from now, and the log says so once, with the new time;
 * there is no kept trigger to speak of. */
static void test_scheduler_a_run_left_far_by_the_clock_is_replanned_and_said(void)
{
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	struct plugin_sched ps;
	struct sched_entry *e;
	int64_t far = 0, now = 0;
	char at[40] = "", *said;

	log_set_level(HUB_LOG_INFO);
	testlib_capture_begin(&cap);
	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    schedule: 0 0 1 1 *\n", "tests/plugins/reject_lines.so");
	e = &ps.s->src[0].e;
	pthread_mutex_lock(&ps.s->lock);
	far = e->next_run_ms + 366LL * 24 * 60 * MIN_MS;
	e->next_run_ms = far;
	pthread_cond_signal(&ps.s->wake);
	pthread_mutex_unlock(&ps.s->lock);
	for (int64_t until = time_mono_ms() + 10000; time_mono_ms() < until && !now;) {
		struct timespec pause = {0, 2 * 1000 * 1000};

		pthread_mutex_lock(&ps.s->lock);
		if (e->next_run_ms != far)
			now = e->next_run_ms;
		pthread_mutex_unlock(&ps.s->lock);
		nanosleep(&pause, NULL);
	}
	plugin_sched_stop(&ps);
	said = testlib_capture_end(&cap);
	log_set_level(saved);
	CU_ASSERT(now > 0 && now < far - 300LL * 24 * 60 * MIN_MS);
	time_format_ms(now, at, sizeof(at));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "info [rl] the clock went back: the next run"
					   " was "), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, at), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "kept trigger"), 0);
	free(said);
}

TEST_SUITE(scheduler, NULL, NULL,
	   TEST(test_backoff_full_jitter_is_bounded_by_the_doubling_ceiling),
	   TEST(test_backoff_stops_at_the_cap_without_overflow),
	   TEST(test_retry_after_is_read_from_the_message),
	   TEST(test_failed_runs_back_off_exponentially_up_to_the_cap),
	   TEST(test_retry_after_beats_a_shorter_backoff),
	   TEST(test_auth_and_config_errors_disable_the_source),
	   TEST(test_a_source_never_runs_twice_at_once),
	   TEST(test_interval_runs_soon_after_start_then_every_period),
	   TEST(test_interval_jitter_does_not_add_up),
	   TEST(test_a_late_tick_counts_from_its_start),
	   TEST(test_a_tick_exactly_an_interval_late_counts_from_its_start),
	   TEST(test_a_run_begun_exactly_at_its_tick_is_a_tick_run),
	   TEST(test_a_triggered_run_past_its_tick_is_no_tick_run),
	   TEST(test_a_stopped_run_is_not_a_success),
	   TEST(test_follow_clock_leaves_a_running_source_alone),
	   TEST(test_a_clock_step_back_replans_the_next_run),
	   TEST(test_a_clock_step_back_replans_a_backoff),
	   TEST(test_a_clock_step_back_replans_a_kept_trigger),
	   TEST(test_a_tick_is_run_by_one_process),
	   TEST(test_cron_jitter_is_a_tenth_of_the_period_at_most),
	   TEST(test_on_demand_source_runs_only_when_triggered),
	   TEST(test_a_trigger_outlives_a_lease_held_elsewhere),
	   TEST(test_a_run_s_reasons_are_kept_until_the_next_run),
	   TEST(test_status_names_the_last_run_s_rejections_and_warnings),
	   TEST(test_a_broken_error_text_is_kept_as_valid_utf8),
	   TEST(test_a_source_with_a_cut_error_text_stays_in_the_status),
	   TEST(test_a_source_disabled_at_start_plans_no_run),
	   TEST(test_metrics_show_each_source_s_last_success_and_failure),
	   TEST(test_a_bad_schedule_is_named_by_its_path),
	   TEST(test_a_disabled_source_is_never_waited_for),
	   TEST(test_scheduler_a_lease_try_shows_the_source_as_before_it),
	   TEST(test_scheduler_a_trigger_during_a_run_runs_once_more_after_it),
	   TEST(test_scheduler_stop_asks_a_running_pull_to_stop),
	   TEST(test_scheduler_a_scheduled_source_runs_without_a_trigger),
	   TEST(test_scheduler_the_dispatcher_sleeps_while_nothing_is_planned),
	   TEST(test_scheduler_the_dice_change_at_each_draw),
	   TEST(test_scheduler_a_bad_schedule_refuses_the_start),
	   TEST(test_scheduler_a_null_schedule_is_on_demand),
	   TEST(test_scheduler_runs_only_enabled_pull_sources),
	   TEST(test_scheduler_pulled_records_keep_the_identity_rules),
	   TEST(test_scheduler_status_counts_a_run_s_retries),
	   TEST(test_scheduler_shows_the_committed_cursor_from_the_start),
	   TEST(test_scheduler_a_trigger_while_stopping_starts_nothing),
	   TEST(test_scheduler_a_run_left_far_by_the_clock_is_replanned_and_said))
