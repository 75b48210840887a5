/*
 * test_scheduler_run.c - suite `scheduler_run`: the running scheduler
 * (hub/scheduler.c) over a test plugin, seen where a user sees it: the
 * status JSON, /metrics and the log.  A run's rejections and warnings are
 * named in the status; a source whose error text is cut inside a character
 * stays in it; a disabled source plans nothing; the dispatcher runs
 * scheduled and triggered sources, once more after a trigger during a run,
 * sleeps while nothing is planned, asks a running pull to stop at stop and
 * follows a clock stepped back.  Waits poll the status or the scheduler's
 * state with a bound (10 s); nothing sleeps to synchronize.
 */
#include "testlib.h"

#include "testhub.h"
#include "testsched.h"

#include "../../hub/alloc.h"
#include "../../hub/config.h"
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

/* An item the plugin deliberately does not store (skip(), ABI 1.12) is
 * counted as skipped in the run's status and its "sync done" line, not as
 * rejected, and its reason is logged. */
static void test_scheduler_a_run_counts_what_the_plugin_skips(void)
{
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	struct plugin_sched ps;
	json_t *list;
	char *log;

	log_set_level(HUB_LOG_INFO);
	testlib_capture_begin(&cap);
	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1, 'skip:a development row', 'skip:another']\n",
			   "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	log = testlib_capture_end(&cap);
	log_set_level(saved);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(run_count(list, "skipped"), 2);
	CU_ASSERT_EQUAL(run_count(list, "rejected"), 0);
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, ", skipped 2 in "), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "[rl] skipped: a development row"), 1);
	free(log);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* rl's second full run: its one stored item again, a duplicate. */
static int is_a_full_run_of_p1_again(json_t *list)
{
	return strcmp(result_of(list), "ok") == 0 && run_count(list, "duplicates") == 1;
}

/* A pull source's skipped items are in /metrics under its name, as a push
 * source's are, adding up over its runs (they were in its report and
 * status only). */
static void test_metrics_count_a_pull_source_s_skips(void)
{
	struct metrics *m = metrics_new();
	struct plugin_sched ps;
	json_t *list;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1, 'skip:a development row', 'skip:another']\n",
			   "tests/plugins/reject_lines.so");
	text = metrics_render(m, &(struct metrics_feeds){.sched = ps.s});
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "\nrecords_skipped_total{source=\"rl\"} 0\n")
				    : NULL);
	hub_free(text);
	for (int run = 1; run <= 2; run++) {
		CU_ASSERT_EQUAL(scheduler_trigger_full(ps.s, "rl", 1), SCHEDULER_TRIGGERED);
		list = run == 1 ? status_after_the_run(&ps)
				: status_once(&ps, is_a_full_run_of_p1_again);
		CU_ASSERT_EQUAL(run_count(list, "skipped"), 2);
		json_decref(list);
	}
	text = metrics_render(m, &(struct metrics_feeds){.sched = ps.s});
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "\nrecords_skipped_total{source=\"rl\"} 4\n")
				    : NULL);
	hub_free(text);
	plugin_sched_stop(&ps);
	metrics_free(m);
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

/* A source of reject_lines "rl", on demand, that reads one item. */
static const char rl_yaml[] = "sources:\n  - name: rl\n    plugin: reject_lines\n"
			      "    lines: [p1]\n";

/* A run's records add up in its status and its log line: a record of a
 * profile erased within erase_block_days (a century: testhub's records
 * are dated 2025) is counted as blocked (it was counted nowhere: read 2,
 * applied 1, and nothing else). */
static void test_status_and_log_count_a_run_s_blocked_records(void)
{
	struct plugin_sched ps;
	struct testlib_capture cap;
	json_t *list;
	char *log;

	plugin_sched_load(&ps, "privacy:\n  erase_block_days: 36500\n"
			  "sources:\n  - name: rl\n    plugin: reject_lines\n"
			  "    lines: [p1, p2]\n", "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(ps.th,
						  "{\"type\":\"identify\",\"message_id\":\"i1\","
						  "\"identifiers\":{\"custom_id\":\"p2\"}}\n"
						  "{\"type\":\"erase\",\"message_id\":\"e1\","
						  "\"identifiers\":{\"custom_id\":\"p2\"}}\n"), 0);
	plugin_sched_begin(&ps);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	log = testlib_capture_end(&cap);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(run_count(list, "read"), 2);
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_EQUAL(run_count(list, "blocked"), 1);
	CU_ASSERT_EQUAL(run_count(list, "refused"), 0);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "sync done: read 2, applied 1, duplicates 0, "
					   "rejected 0, blocked 1, refused 0, warnings 0, skipped 0 in "), 1);
	free(log);
	json_decref(list);
	plugin_sched_stop(&ps);
}

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
	list = scheduler_status_json(ps.s);
	CU_ASSERT_STRING_EQUAL(source_text(list, "pending_sync"), "incremental");
	json_decref(list);
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

/* gp's full run after its first: every item read again, each a duplicate. */
static int is_a_full_run_again(json_t *list)
{
	return strcmp(result_of(list), "ok") == 0 && run_count(list, "duplicates") == 3;
}

/* A full sync asked for during a run (POST .../sync?full=true) runs after
 * it from the first record, not the saved cursor (c3), which a plain
 * trigger reads nothing after (the test above): only `profilehub sync
 * --full` could resync. */
static void test_scheduler_a_full_trigger_reads_from_the_start(void)
{
	struct plugin_sched ps;
	json_t *list;
	char *dir;

	gated_running(&ps, &dir);
	list = scheduler_status_json(ps.s);
	CU_ASSERT_STRING_EQUAL(source_text(list, "pending_sync"), "(null)");
	json_decref(list);
	CU_ASSERT_EQUAL(scheduler_trigger_full(ps.s, "gp", 1), SCHEDULER_RUNNING);
	/* queued and not begun: GET /v1/sources says so (it showed nothing) */
	list = scheduler_status_json(ps.s);
	CU_ASSERT_STRING_EQUAL(source_text(list, "pending_sync"), "full");
	CU_ASSERT(json_is_false(json_object_get(last_run_of(list), "full")));
	json_decref(list);
	gate_open(dir);
	list = status_once(&ps, is_a_full_run_again);
	CU_ASSERT(is_a_full_run_again(list));
	CU_ASSERT_STRING_EQUAL(source_text(list, "pending_sync"), "(null)");
	CU_ASSERT(json_is_true(json_object_get(last_run_of(list), "full")));
	CU_ASSERT_EQUAL(run_count(list, "read"), 4);
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

	log_set_level(HUB_LOG_WARN);
	testlib_capture_begin(&cap);
	gated_running(&ps, &dir);
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
 * and one of a push-only plugin are not sources of the scheduler.  The
 * status (GET /v1/sources) lists the one off all the same, in the
 * configuration's order, as "off" (it was left out, while its sync answered
 * 409 off and GET /v1/exports lists an export off). */
static void test_scheduler_runs_only_enabled_pull_sources(void)
{
	struct plugin_sched ps;
	json_t *list, *off;

	plugin_sched_start(&ps, "sources:\n  - name: off\n    plugin: reject_lines\n"
			   "    enabled: false\n    schedule: every 1h\n"
			   "  - name: on\n    plugin: reject_lines\n",
			   "tests/plugins/reject_lines.so");
	CU_ASSERT_EQUAL(scheduler_source_count(ps.s), 1);
	list = scheduler_status_json(ps.s);
	CU_ASSERT_EQUAL_FATAL(json_array_size(list), 2);
	off = json_array_get(list, 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(off, "name")), "off");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(off, "state")), "off");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(off, "schedule")), "every 1h");
	CU_ASSERT_TRUE(json_is_null(json_object_get(off, "next_run_at")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(list, 1),
								 "name")), "on");
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

TEST_SUITE(scheduler_run, NULL, NULL,
	   TEST(test_status_names_the_last_run_s_rejections_and_warnings),
	   TEST(test_status_and_log_count_a_run_s_blocked_records),
	   TEST(test_a_source_with_a_cut_error_text_stays_in_the_status),
	   TEST(test_a_source_disabled_at_start_plans_no_run),
	   TEST(test_metrics_show_each_source_s_last_success_and_failure),
	   TEST(test_scheduler_a_lease_try_shows_the_source_as_before_it),
	   TEST(test_scheduler_a_trigger_during_a_run_runs_once_more_after_it),
	   TEST(test_scheduler_a_full_trigger_reads_from_the_start),
	   TEST(test_scheduler_a_run_counts_what_the_plugin_skips),
	   TEST(test_metrics_count_a_pull_source_s_skips),
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
