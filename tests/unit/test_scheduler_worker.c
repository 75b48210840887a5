/*
 * test_scheduler_worker.c - suite `scheduler_worker`: one run of a pull
 * source on its worker thread (hub/scheduler_worker.c), driven through a
 * running scheduler and seen where a user sees it: the status JSON, the
 * log and the store.  A run's progress shows while it runs; a run whose
 * lease another process took stops as "held by another process"; a source
 * whose create() fails again is disabled; a lease that cannot be taken is
 * a transient failure; rejections and warnings are logged as warnings.
 * Several processes (PostgreSQL only: SQLite has one writer and claims no
 * tick): a tick whose claim fails still runs, and a tick another process
 * ran lets the lease go.
 *
 * The test plugin gated_pull stops half way through its pull until the
 * test makes its gate file, so a test sees the run while it runs.
 */
#include "testlib.h"

#include "testhub.h"
#include "testsched.h"
#include "teststore.h"

#include "../../hub/log.h"
#include "../../hub/scheduler.h"
#include "../../hub/sync.h"
#include "../../hub/util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define WAIT_MS 10000

static int is_held_elsewhere(json_t *list)
{
	return strcmp(source_text(list, "state"), "held by another process") == 0;
}

/* 1 once the store's committed cursor of `source` is `want` (WAIT_MS). */
static int store_cursor_becomes(struct testhub *th, const char *source, const char *want)
{
	char key[300], value[64];
	struct store *r = th->reader;

	sync_cursor_key(source, key, sizeof(key));
	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		struct timespec pause = {0, 2 * 1000 * 1000};

		if (r->ops->meta_get(r, key, value, sizeof(value)) == 1 && strcmp(value, want) == 0)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Starts a scheduler over the one source `name` of `yaml` (plugin `so`),
 * triggers it and waits for its result, the log at warn captured meanwhile
 * into *said (malloc'd).  The status JSON then (a new reference). */
static json_t *run_logged(struct plugin_sched *ps, const char *yaml, const char *so,
			  const char *name, char **said)
{
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	json_t *list;

	log_set_level(HUB_LOG_WARN);
	testlib_capture_begin(&cap);
	plugin_sched_start(ps, yaml, so);
	CU_ASSERT_EQUAL(scheduler_trigger(ps->s, name), SCHEDULER_TRIGGERED);
	list = status_after_the_run(ps);
	*said = testlib_capture_end(&cap);
	log_set_level(saved);
	return list;
}

/* While a run runs, the status shows what its committed pages did so far:
 * their counts, rejections too, and the committed cursor (page c1, as the
 * plugin waits after page c2). */
static void test_scheduler_worker_shows_a_run_s_progress_while_it_runs(void)
{
	struct plugin_sched ps;
	json_t *list;
	char *dir;

	gated_start(&ps, &dir);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "gp"), SCHEDULER_TRIGGERED);
	list = status_once(&ps, is_running_past_a_page);
	CU_ASSERT(is_running_past_a_page(list));
	CU_ASSERT_EQUAL(run_count(list, "read"), 2);
	CU_ASSERT_EQUAL(run_count(list, "rejected"), 1);
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_STRING_EQUAL(result_of(list), "(null)");
	CU_ASSERT_STRING_EQUAL(source_text(list, "cursor"), "c1");
	json_decref(list);

	gate_open(dir);
	list = status_after_the_run(&ps);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(run_count(list, "read"), 4);
	CU_ASSERT_EQUAL(run_count(list, "rejected"), 1);
	CU_ASSERT_STRING_EQUAL(source_text(list, "cursor"), "c3");
	json_decref(list);
	plugin_sched_stop(&ps);
	testlib_rmtree(dir);
	free(dir);
}

/* Another process took the lease while the run ran (its take bumped the
 * lease's epoch in the store): the run's next page is refused, the cursor
 * stays at the last page committed before, the run ends "stopped", the
 * source shows "held by another process" (and /metrics no failure), and
 * the log says why at warn. */
static void test_scheduler_worker_stops_a_run_whose_lease_was_lost(void)
{
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	struct plugin_sched ps;
	struct store *r;
	char epoch[32], bumped[32], *dir, *said;
	struct sched_sync_stat stat;
	json_t *list;

	log_set_level(HUB_LOG_WARN);
	testlib_capture_begin(&cap);
	gated_start(&ps, &dir);
	r = ps.th->reader;
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "gp"), SCHEDULER_TRIGGERED);
	list = status_once(&ps, is_running_past_a_page);
	json_decref(list);
	CU_ASSERT(store_cursor_becomes(ps.th, "gp", "c2"));
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "lease_epoch:sync:gp", epoch, sizeof(epoch)), 1);
	snprintf(bumped, sizeof(bumped), "%lld", strtoll(epoch, NULL, 10) + 1);
	CU_ASSERT_EQUAL(r->ops->meta_put(r, "lease_epoch:sync:gp", bumped), 0);
	gate_open(dir);
	list = status_after_the_run(&ps);
	said = testlib_capture_end(&cap);
	log_set_level(saved);

	CU_ASSERT_STRING_EQUAL(result_of(list), "stopped");
	CU_ASSERT_STRING_EQUAL(source_text(list, "state"), "held by another process");
	/* /metrics: a stopped run is neither a failure nor a success */
	CU_ASSERT_EQUAL(scheduler_sync_stats(ps.s, &stat, 1), 1);
	CU_ASSERT_EQUAL(stat.is_last_failed, 0);
	CU_ASSERT_EQUAL(stat.last_ok_ms, 0);
	CU_ASSERT_STRING_EQUAL(source_text(list, "cursor"), "c2");
	CU_ASSERT(store_cursor_becomes(ps.th, "gp", "c2"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "warn [gp] sync stopped: lease lost: "
					   "lease_epoch:sync:gp is "), 1);
	free(said);
	json_decref(list);
	plugin_sched_stop(&ps);
	testlib_rmtree(dir);
	free(dir);
}

/* A source whose create() failed at the start is created again when
 * triggered; failing again on its config, it is disabled again (no run
 * planned) and the log says so at error. */
static void test_scheduler_worker_disables_a_source_whose_create_fails_again(void)
{
	struct plugin_sched ps;
	json_t *list;
	char *said;

	list = run_logged(&ps, "sources:\n  - name: ex\n    plugin: example\n"
			  "    path: /nonexistent\n    batch: 0\n    schedule: every 10s\n",
			  "plugins/example.so", "ex", &said);
	CU_ASSERT_STRING_EQUAL(result_of(list), "error");
	CU_ASSERT_STRING_EQUAL(source_text(list, "state"), "disabled");
	CU_ASSERT(json_is_null(json_object_get(json_array_get(list, 0), "next_run_at")));
	/* at the place of batch: in the YAML (after the test store's lines) */
	CU_ASSERT_EQUAL(strncmp(source_text(list, "last_error"), "test.yaml:", 10), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(source_text(list, "last_error"),
				      ":12: sources[0] \"ex\" (plugin example): batch: must be at"
				      " least 1"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "error [ex] sync failed (source disabled): "
					   "test.yaml:"), 1);
	/* disabled at start, then the triggered run */
	CU_ASSERT_EQUAL(testlib_lines_with(said, ":12: sources[0] \"ex\" (plugin example): "
					   "batch: must be at least 1"), 2);
	free(said);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* A lease that cannot be taken (SQLite: its lock file cannot be opened,
 * here a directory stands where it goes) fails the run as a transient
 * failure: the source backs off and is tried again, never disabled. */
static void test_scheduler_worker_backs_off_when_the_lease_cannot_be_taken(void)
{
	struct plugin_sched ps;
	char db[PATH_MAX + 32], *real, path[PATH_MAX + 64];
	json_t *list;

	if (teststore_is_pg())
		return; /* a PostgreSQL advisory lock has no file to spoil */
	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1]\n", "tests/plugins/reject_lines.so");
	snprintf(db, sizeof(db), "%s/hub.db", ps.th->dir);
	real = realpath(db, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(real);
	snprintf(path, sizeof(path), "%s-leases", real);
	CU_ASSERT(mkdir(path, 0750) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s-leases/sync%%3arl", real);
	CU_ASSERT_EQUAL(mkdir(path, 0750), 0);
	free(real);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);

	CU_ASSERT_STRING_EQUAL(result_of(list), "error");
	CU_ASSERT_STRING_EQUAL(source_text(list, "state"), "backoff");
	CU_ASSERT(json_is_string(json_object_get(json_array_get(list, 0), "next_run_at")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(list, 0), "failures")),
			1);
	CU_ASSERT_EQUAL(strncmp(source_text(list, "last_error"), "lease sync:rl: ", 15), 0);
	CU_ASSERT_EQUAL(run_count(list, "read"), 0);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* The first rejections and warnings of a run are logged at warn, one line
 * each. */
static void test_scheduler_worker_logs_rejections_and_warnings_at_warn(void)
{
	struct plugin_sched ps;
	json_t *list;
	char *said;

	list = run_logged(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			  "    lines: [p1, \"!not a user\", \"w:u5\"]\n",
			  "tests/plugins/reject_lines.so", "rl", &said);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(testlib_lines_with(said, "warn [rl] rejected: not a user"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "warn [rl] warning: attributes.$timezone: must be"
					   " UTC or an IANA Area/Location name (first in w-item)"),
			1);
	free(said);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* A source of reject_lines "rl" every 10 s: its first tick runs within a
 * second of the start (the jitter), the next one 9 s later at the
 * soonest. */
static const char ticking_yaml[] = "sources:\n  - name: rl\n    plugin: reject_lines\n"
				   "    lines: [p1]\n    schedule: every 10s\n";

/* PostgreSQL: a tick whose claim fails (a store error: here a trigger
 * refuses the claim's row) runs all the same, and the log says so; only a
 * tick another process ran is skipped. */
static void test_scheduler_worker_runs_a_tick_whose_claim_failed(void)
{
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	struct plugin_sched ps;
	char sql[1024], *said;
	json_t *list;

	if (!teststore_is_pg())
		return; /* one writer: no claim */
	plugin_sched_load(&ps, ticking_yaml, "tests/plugins/reject_lines.so");
	snprintf(sql, sizeof(sql),
		 "CREATE FUNCTION %s.no_claim() RETURNS trigger LANGUAGE plpgsql AS"
		 " $$BEGIN RAISE EXCEPTION 'no claim here'; END$$;"
		 "CREATE TRIGGER no_claim BEFORE INSERT OR UPDATE ON %s.meta FOR EACH ROW"
		 " WHEN (NEW.key LIKE 'sync_started:%%') EXECUTE FUNCTION %s.no_claim()",
		 ps.th->schema, ps.th->schema, ps.th->schema);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(getenv("HUB_TEST_PG_URL"), sql), 0);
	log_set_level(HUB_LOG_WARN);
	testlib_capture_begin(&cap);
	plugin_sched_begin(&ps);
	list = status_after_the_run(&ps);
	said = testlib_capture_end(&cap);
	log_set_level(saved);

	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(run_count(list, "applied"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "warn [rl] claiming the scheduled run: "), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "no claim here"), 1);
	free(said);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* PostgreSQL: a tick another process ran already (its start is in the
 * store) is skipped, and the lease taken to claim it is let go: another
 * process can take it right after. */
static void test_scheduler_worker_lets_the_lease_go_after_a_tick_run_elsewhere(void)
{
	struct plugin_sched ps;
	struct store *r;
	char started[32];
	int64_t epoch = 0;
	json_t *list;

	if (!teststore_is_pg())
		return; /* one writer: no claim */
	plugin_sched_load(&ps, ticking_yaml, "tests/plugins/reject_lines.so");
	r = ps.th->reader;
	snprintf(started, sizeof(started), "%" PRId64, time_now_ms());
	CU_ASSERT_EQUAL_FATAL(r->ops->meta_put(r, "sync_started:rl", started), 0);
	plugin_sched_begin(&ps);
	list = status_once(&ps, is_held_elsewhere);
	CU_ASSERT(is_held_elsewhere(list));
	CU_ASSERT(json_is_null(json_object_get(json_array_get(list, 0), "last_run")));
	/* the next tick is 9 s away at the soonest: the lease is free now */
	CU_ASSERT_EQUAL(r->ops->lease_try(r, "sync:rl", &epoch), 1);
	CU_ASSERT_EQUAL(r->ops->lease_release(r, "sync:rl"), 0);
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* PostgreSQL: a run not at its scheduled time (here a trigger; a retry
 * after a failure alike) is a start: it writes sync_started:<source>, so
 * another process's tick it serves is skipped.  It wrote nothing: after
 * PostgreSQL came back, one process's retry and the other's tick 9 s later
 * both ran an "every 1m" source. */
static void test_scheduler_worker_notes_the_start_of_a_run_off_its_tick(void)
{
	struct plugin_sched ps;
	char started[32] = "";
	int64_t before = time_now_ms(), at;
	struct store *r;
	json_t *list;

	if (!teststore_is_pg())
		return; /* one writer: no claim */
	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1]\n", "tests/plugins/reject_lines.so");
	r = ps.th->reader;
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_after_the_run(&ps);
	CU_ASSERT_STRING_EQUAL(result_of(list), "ok");
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "sync_started:rl", started, sizeof(started)), 1);
	at = strtoll(started, NULL, 10);
	CU_ASSERT(at >= before && at <= time_now_ms());
	json_decref(list);
	plugin_sched_stop(&ps);
}

/* A run that finds the lease held by another process shows the cursor
 * that process committed: every process but the holder showed the cursor
 * read at its own start (null on a new source) for as long as it ran, so
 * GET /v1/sources behind a load balancer told a different cursor by the
 * process it reached. */
static void test_scheduler_worker_shows_the_cursor_another_process_committed(void)
{
	struct plugin_sched ps;
	struct store *r;
	char key[300];
	int64_t epoch = 0;
	json_t *list;

	plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n"
			   "    lines: [p1]\n", "tests/plugins/reject_lines.so");
	r = ps.th->reader; /* another process's connection */
	CU_ASSERT_EQUAL_FATAL(r->ops->lease_try(r, "sync:rl", &epoch), 1);
	sync_cursor_key("rl", key, sizeof(key));
	CU_ASSERT_EQUAL_FATAL(r->ops->meta_put(r, key, "c7"), 0);
	CU_ASSERT_EQUAL(scheduler_trigger(ps.s, "rl"), SCHEDULER_TRIGGERED);
	list = status_once(&ps, is_held_elsewhere);
	CU_ASSERT(is_held_elsewhere(list));
	CU_ASSERT_STRING_EQUAL(source_text(list, "cursor"), "c7");
	json_decref(list);
	CU_ASSERT_EQUAL(r->ops->lease_release(r, "sync:rl"), 0);
	plugin_sched_stop(&ps);
}

TEST_SUITE(scheduler_worker, NULL, NULL,
	   TEST(test_scheduler_worker_shows_a_run_s_progress_while_it_runs),
	   TEST(test_scheduler_worker_stops_a_run_whose_lease_was_lost),
	   TEST(test_scheduler_worker_disables_a_source_whose_create_fails_again),
	   TEST(test_scheduler_worker_backs_off_when_the_lease_cannot_be_taken),
	   TEST(test_scheduler_worker_logs_rejections_and_warnings_at_warn),
	   TEST(test_scheduler_worker_runs_a_tick_whose_claim_failed),
	   TEST(test_scheduler_worker_lets_the_lease_go_after_a_tick_run_elsewhere),
	   TEST(test_scheduler_worker_notes_the_start_of_a_run_off_its_tick),
	   TEST(test_scheduler_worker_shows_the_cursor_another_process_committed))
