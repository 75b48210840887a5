/*
 * test_scheduler.c - suite `scheduler`: what a finished run means for the
 * next one.  Backoff is full jitter (a uniform draw from [0, min(cap,
 * base * 2^n)]) and honours a Retry-After; refused configuration or
 * credentials disable the source; a source never runs twice at once; the
 * schedule (interval or cron) plus a bounded jitter plans the next run; a
 * plugin's error text, invalid or cut UTF-8, is kept as UTF-8.
 * Deterministic: the clock and the dice are arguments, nothing sleeps.
 * The running scheduler (its threads, status and metrics) is suite
 * `scheduler_run` (test_scheduler_run.c).
 */
#include "testlib.h"

#include "testhub.h"

#include "../../hub/config.h"
#include "../../hub/scheduler_int.h"
#include "../../hub/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A cron source whose run outlasts firings of its schedule (a run of 2 h
 * 30 min of an hourly one), or whose tick comes hours late (the process
 * suspended, the host down), runs once, at the first firing after the
 * run's end: the missed firings are skipped, not run one after another. */
static void test_a_cron_run_past_firings_is_followed_by_the_next_one_only(void)
{
	struct cron hourly = parse("0 * * * *");
	struct sync_report r = report(HUB_OK, NULL, 0);
	int64_t top = (t0 / (60 * MIN_MS) + 1) * 60 * MIN_MS;
	const int64_t ends[] = {top + 150 * MIN_MS, top + 301 * MIN_MS};
	const int64_t begins[] = {top, top + 300 * MIN_MS};

	for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
		struct sched_entry e;
		int64_t next = (ends[i] / (60 * MIN_MS) + 1) * 60 * MIN_MS;

		sched_entry_init(&e, "w", &hourly, t0, 0, &pol);
		CU_ASSERT(sched_entry_is_due(&e, begins[i]));
		CU_ASSERT_EQUAL(sched_entry_begin(&e, begins[i]), 0);
		sched_entry_finish(&e, &r, ends[i], 0, &pol);
		CU_ASSERT_EQUAL(e.state, SOURCE_IDLE);
		CU_ASSERT(e.next_run_ms >= next && e.next_run_ms <= next + 30000);
		CU_ASSERT(!sched_entry_is_due(&e, ends[i] + 1000));
		CU_ASSERT(!sched_entry_is_due(&e, next - 1));
	}
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

/* A trigger for a full sync (POST .../sync?full=true) makes the next run
 * begun a full one, and that one only; one asked for during a run is
 * kept for the run after it, and through a lease held elsewhere. */
static void test_a_full_trigger_makes_the_next_run_full(void)
{
	struct sched_entry e, before;
	struct sync_report r = report(HUB_OK, "", 0);

	sched_entry_init(&e, "w", NULL, t0, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_trigger_full(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0), 0);
	CU_ASSERT(e.is_full_run);
	CU_ASSERT_EQUAL(sched_entry_trigger_full(&e), SCHEDULER_RUNNING);
	sched_entry_finish(&e, &r, t0 + 5, 0, &pol);
	before = e;
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 10), 0);
	CU_ASSERT(e.is_full_run);
	sched_entry_skip(&e, &before, t0 + 20, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 20 + SCHED_TRIGGER_RETRY_MS), 0);
	CU_ASSERT(e.is_full_run);
	sched_entry_finish(&e, &r, t0 + 30 + SCHED_TRIGGER_RETRY_MS, 0, &pol);
	CU_ASSERT_EQUAL(sched_entry_trigger(&e), SCHEDULER_TRIGGERED);
	CU_ASSERT_EQUAL(sched_entry_begin(&e, t0 + 40 + SCHED_TRIGGER_RETRY_MS), 0);
	CU_ASSERT(!e.is_full_run);
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
	   TEST(test_a_cron_run_past_firings_is_followed_by_the_next_one_only),
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
	   TEST(test_a_full_trigger_makes_the_next_run_full),
	   TEST(test_a_trigger_outlives_a_lease_held_elsewhere),
	   TEST(test_a_run_s_reasons_are_kept_until_the_next_run),
	   TEST(test_a_broken_error_text_is_kept_as_valid_utf8),
	   TEST(test_a_bad_schedule_is_named_by_its_path),
	   TEST(test_a_disabled_source_is_never_waited_for))
