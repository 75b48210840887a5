/*
 * test_sync.c - suite `sync`: one sync run (hub/sync.c) against a real
 * store and intake, driven by an in-process pull plugin whose behaviour
 * each test scripts (rows, a flaky page, a stop request).  Checks that
 * pages commit with their cursor, a retry replays only the uncommitted
 * page, retries give up after max_retries, --full starts over, a stop
 * lets the page finish, and rejected rows (refused by the hub, or by the
 * plugin with reject()) are counted with reasons, and so are warnings the
 * writer hands back (an array op past 25 items with what is stored).
 * Backoff draws are 0: nothing waits.
 */
#include "testhub.h"
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/host.h"
#include "../../hub/plugin.h"
#include "../../hub/sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The script of the fake source: rows 1..n_rows, cursor = last row. */
static struct {
	int n_rows;
	int bad_row;          /* this row has no identifier (rejected) */
	int bad_row2;         /* and this one too */
	int unreadable_row;   /* the plugin itself rejects this row (reject()) */
	int unreadable_from;  /* and every row from this one on (0: none) */
	int lossy_row;        /* the plugin leaves a value of this row out (warn()) */
	int lossy_row2;       /* and of this one */
	size_t warn_len;      /* their warn() text: "x left out", or this long */
	int adding_row;       /* this row adds 10 items to the array "tags" */
	int n_flaky_pulls;    /* the next pulls emit half a page, then RETRY */
	int is_flaky_once_a_page; /* the first pull from each cursor does too */
	int flaky_cursor;     /* the cursor it last did so from (-1: none) */
	const char *flaky_err; /* their message (NULL: "retry after 0ms: flaky page") */
	size_t cursor_len;    /* checkpoint cursors padded with 'x' to this length */
	int n_stopped_pulls;  /* the next pulls answer HUB_ERR_STOPPED at once,
			       * no stop asked (a library's cancellation) */
	struct sync_stop *stop_during_pull; /* asked after the first row */
	int is_idle_more;     /* answer HUB_MORE having done nothing (a stop is
			       * asked at the 1000th pull: the test ends) */
	int is_recheckpointing; /* with is_idle_more: checkpoint the cursor it
				 * was given (or "0") before answering HUB_MORE */
	hub_rc odd_rc;        /* non-zero: answer it after the rows (not a hub_rc) */
	const char *odd_err;  /* with odd_rc: its message (NULL: "odd") */
	int is_uncheckpointed; /* emit the rows, never checkpoint */
	int nomem_row;        /* emit() of this row runs out of memory */
	int is_deaf;          /* go on past any failure of emit() (a plugin bug) */
	int is_keeping_call;  /* keep the first pull's call; emit "late" through
			       * it from the second pull (a plugin bug) */
	int is_threading;     /* emit "threaded" from a thread of its own */
	struct hub_call *kept;
	hub_rc late_rc;       /* what that emit() answered */
	struct sync_stop *stop;
	int n_pulls;
	int n_run_ends;       /* run_end() calls (ABI 1.14) */
	int pulls_at_run_end; /* n_pulls when run_end() was last called */
	const struct hub_host *host;
} fake;

#define CURSOR_TEXT_MAX 8200 /* past the longest cursor a checkpoint takes, 8191 */

static hub_rc fake_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)inst;
	(void)err;
	(void)err_size;
	fake.host = host;
	*state = &fake;
	return HUB_OK;
}

static hub_rc emit_row(struct hub_call *call, int i, char *err, size_t err_size)
{
	char cid[32], mid[32], origin[32], attrs[160];
	struct hub_ident id = {"custom_id", cid};
	struct hub_record rec;
	hub_rc rc;

	if (i == fake.unreadable_row || (fake.unreadable_from && i >= fake.unreadable_from)) {
		snprintf(cid, sizeof(cid), "row %d: unreadable", i);
		return fake.host->reject(call, cid);
	}
	snprintf(cid, sizeof(cid), "c%d", i);
	snprintf(mid, sizeof(mid), "m%d", i);
	snprintf(attrs, sizeof(attrs), "{\"n\": %d%s}", i,
		 i != fake.adding_row ? "" : ", \"tags\": {\"$add\": [\"u0\", \"u1\", \"u2\","
		 " \"u3\", \"u4\", \"u5\", \"u6\", \"u7\", \"u8\", \"u9\"]}");
	hub_record_init(&rec, HUB_REC_ATTRIBUTES);
	rec.message_id = mid;
	rec.identifiers = &id;
	rec.n_identifiers = i == fake.bad_row || i == fake.bad_row2 ? 0 : 1;
	rec.attributes_json = attrs;
	snprintf(origin, sizeof(origin), "row %d", i);
	rec.origin = origin;
	rc = fake.host->emit(call, &rec, err, err_size);
	if (rc == HUB_OK && (i == fake.lossy_row || i == fake.lossy_row2)) {
		char why[600] = "x left out";

		if (fake.warn_len && fake.warn_len < sizeof(why)) {
			memset(why, 'w', fake.warn_len);
			why[fake.warn_len] = '\0';
		}
		rc = fake.host->warn(call, why);
	}
	return rc;
}

/* One identify of custom_id `cid` through `call`: what emit() answers. */
static hub_rc emit_one(struct hub_call *call, const char *cid)
{
	struct hub_ident id = {"custom_id", cid};
	struct hub_record rec;
	char err[256];

	hub_record_init(&rec, HUB_REC_IDENTIFY);
	rec.identifiers = &id;
	rec.n_identifiers = 1;
	return fake.host->emit(call, &rec, err, sizeof(err));
}

static void *emit_threaded(void *call)
{
	fake.late_rc = emit_one(call, "threaded");
	return NULL;
}

/* The plugin bugs of ownership rule 6: a call kept past its pull, or
 * handed to another thread. */
static void misuse_call(struct hub_call *call)
{
	pthread_t t;

	if (fake.is_keeping_call && !fake.kept)
		fake.kept = call;
	else if (fake.is_keeping_call)
		fake.late_rc = emit_one(fake.kept, "late");
	if (fake.is_threading && fake.n_pulls == 1 &&
	    pthread_create(&t, NULL, emit_threaded, call) == 0)
		pthread_join(t, NULL);
}

static hub_rc fake_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
			char *err, size_t err_size)
{
	int last = cursor ? atoi(cursor) : 0, i = last;
	size_t n = 0;
	char text[CURSOR_TEXT_MAX];
	hub_rc rc;

	(void)state;
	fake.n_pulls++;
	misuse_call(call);
	if (fake.is_idle_more) {
		if (fake.n_pulls == 1000)
			sync_stop_request(fake.stop);
		if (fake.is_recheckpointing &&
		    (rc = fake.host->checkpoint(call, cursor ? cursor : "0")) != HUB_OK)
			return rc;
		return HUB_MORE;
	}
	if (fake.n_stopped_pulls) {
		fake.n_stopped_pulls--;
		snprintf(err, err_size, "cancelled by the client library");
		return HUB_ERR_STOPPED;
	}
	while (i < fake.n_rows && n < budget) {
		if (fake.n_flaky_pulls && n == budget / 2) {
			fake.n_flaky_pulls--;
			snprintf(err, err_size, "%s",
				 fake.flaky_err ? fake.flaky_err : "retry after 0ms: flaky page");
			return HUB_RETRY;
		}
		if (fake.is_flaky_once_a_page && fake.flaky_cursor != last && n == budget / 2) {
			fake.flaky_cursor = last;
			snprintf(err, err_size, "retry after 0ms: flaky page");
			return HUB_RETRY;
		}
		i++;
		if (i == fake.nomem_row)
			alloc_fail_only(1); /* the record's copy (no page in flight) */
		rc = emit_row(call, i, err, err_size);
		alloc_fail_only(0);
		if (rc != HUB_OK && rc != HUB_ERR_DATA && !fake.is_deaf)
			return rc;
		n++;
		if (fake.stop_during_pull) {
			sync_stop_request(fake.stop_during_pull);
			fake.stop_during_pull = NULL;
		}
		if (fake.host->should_stop(call))
			break;
	}
	snprintf(text, sizeof(text), "%d", i);
	if (fake.cursor_len && fake.cursor_len < sizeof(text)) { /* atoi() reads the digits */
		size_t len = strlen(text);
		memset(text + len, 'x', fake.cursor_len - len);
		text[fake.cursor_len] = '\0';
	}
	if (fake.is_uncheckpointed)
		return HUB_OK;
	if (i > last && (rc = fake.host->checkpoint(call, text)) != HUB_OK)
		return rc;
	if (fake.odd_rc) {
		snprintf(err, err_size, "%s", fake.odd_err ? fake.odd_err : "odd");
		return fake.odd_rc;
	}
	return i < fake.n_rows ? HUB_MORE : HUB_OK;
}

static void fake_run_end(void *state)
{
	(void)state;
	fake.n_run_ends++;
	fake.pulls_at_run_end = fake.n_pulls;
}

/* cursor: declared as a warehouse plugin does (ABI 1.13), so that the hub
 * saves its columns beside the cursor (sync_columns.c) */
static const struct hub_config_key fake_keys[] = {
	{.name = "cursor", .type = HUB_CFG_ANY, .description = "cursor column or columns"},
	{NULL},
};

static const struct hub_plugin fake_desc = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "fake",
	.version = "1.0.0",
	.description = "a scripted pull source",
	.roles = HUB_ROLE_PULL,
	.config = fake_keys,
	.create = fake_create,
	.pull = fake_pull,
	.run_end = fake_run_end,
};

struct world {
	struct testhub *th;
	struct plugin_module mod;
	struct hub_instance *inst;
	struct sync_stop stop;
	struct sync_params p;
};

static uint64_t zero_dice(void *ctx)
{
	(void)ctx;
	return 0;
}

/* The source's page_size and max_retries come from its config (`limits`,
 * the lines of its YAML that set them). */
static void world_open_with(struct world *w, int n_rows, const char *limits)
{
	char err[1024], yaml[512];

	memset(w, 0, sizeof(*w));
	memset(&fake, 0, sizeof(fake));
	fake.n_rows = n_rows;
	snprintf(yaml, sizeof(yaml), "sources:\n  - name: fake\n    plugin: fake\n%s", limits);
	w->th = testhub_start(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
	w->mod.name = "fake";
	w->mod.path = "(in the test)";
	w->mod.desc = &fake_desc;
	w->mod.run_end = fake_desc.run_end; /* as plugin_load() takes it */
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&w->mod, &w->th->cfg->sources[0], &w->inst,
						     err, sizeof(err)), 0);
	sync_stop_init(&w->stop);
	fake.stop = &w->stop;
	w->p.inst = w->inst;
	w->p.intake = w->th->intake;
	w->p.reader = w->th->reader;
	w->p.rules = &w->th->rules;
	w->p.stop = &w->stop;
	w->p.max_retries = -1;
	w->p.random = zero_dice;
}

static void world_open(struct world *w, int n_rows)
{
	world_open_with(w, n_rows, "    page_size: 10\n    max_retries: 2\n");
}

static void world_close(struct world *w)
{
	plugin_instance_destroy(w->inst);
	sync_stop_destroy(&w->stop);
	testhub_stop(w->th);
}

/* A world whose source has synced rows 1..n_rows. */
static void world_synced(struct world *w, int n_rows)
{
	struct sync_report rep;

	world_open(w, n_rows);
	CU_ASSERT_EQUAL(sync_run(&w->p, &rep), HUB_OK);
	sync_report_free(&rep);
}

static void committed_cursor(struct world *w, char *buf, size_t size)
{
	buf[0] = '\0';
	w->th->reader->ops->meta_get(w->th->reader, "cursor:fake", buf, size);
}

static size_t n_profiles(struct world *w)
{
	json_t *dump = testhub_dump(w->th, 0);
	size_t n = json_array_size(dump);

	json_decref(dump);
	return n;
}

static void test_pages_commit_with_their_cursor(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_open(&w, 25);
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(fake.n_pulls, 3); /* pages of 10, 10, 5 */
	CU_ASSERT_EQUAL(rep.read, 25);
	CU_ASSERT_EQUAL(rep.applied, 25);
	CU_ASSERT_EQUAL(rep.duplicates, 0);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "25");
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");
	CU_ASSERT_EQUAL(n_profiles(&w), 25);
	sync_report_free(&rep);

	/* the next run starts from the committed cursor: only new rows */
	fake.n_rows = 31;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 6);
	CU_ASSERT_EQUAL(rep.applied, 6);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "31");
	sync_report_free(&rep);
	world_close(&w);
}

static void test_a_transient_failure_replays_only_the_uncommitted_page(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 25);
	fake.n_flaky_pulls = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(rep.read, 25);      /* the dropped half page is not counted */
	CU_ASSERT_EQUAL(rep.applied, 25);
	CU_ASSERT_EQUAL(rep.duplicates, 0); /* it never committed */
	CU_ASSERT_STRING_EQUAL(rep.err, "");
	sync_report_free(&rep);
	world_close(&w);
}

/* A page whose commit fails (an injected I/O error at the writer's first
 * statement) is pulled again from the last committed cursor: the cursor
 * never passes a page that did not commit, so none of its rows is lost. */
static void test_a_page_that_did_not_commit_is_pulled_again(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_open(&w, 25);
	w.th->writer->fault_at[0] = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(rep.applied, 25);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "25");
	CU_ASSERT_EQUAL(n_profiles(&w), 25);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");
	sync_report_free(&rep);
	world_close(&w);
}

/* max_retries counts failures in a row: a page that commits starts the
 * count again.  Every page fails once before it commits (4 pages, 4
 * failures, max_retries 2): the run still ends with everything. */
static void test_a_committed_page_starts_the_retry_count_again(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 40);
	fake.is_flaky_once_a_page = 1;
	fake.flaky_cursor = -1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 4);
	CU_ASSERT_EQUAL(rep.applied, 40);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "40");
	CU_ASSERT_STRING_EQUAL(rep.err, "");
	sync_report_free(&rep);
	world_close(&w);
}

static void test_retries_give_up_after_max_retries_keeping_the_cursor(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_synced(&w, 25);
	fake.n_rows = 40;
	fake.n_flaky_pulls = 100;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.n_retries, 2); /* max_retries: 2 */
	/* the plugin's words were true of the retries, not of the end: said */
	CU_ASSERT_STRING_EQUAL(rep.err, "retry after 0ms: flaky page (gave up after 2 retries in"
			       " a row, max_retries 2: the next run starts from the last"
			       " committed cursor)");
	CU_ASSERT_EQUAL(rep.read, 0);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "25");
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");
	sync_report_free(&rep);
	world_close(&w);
}

/* run_end() (ABI 1.14) is told once per run, after its last pull: not
 * between a run's retries, which go on with what the plugin keeps for
 * them (a request id sent again), but after the run that gave up, so the
 * next run starts anew; and after a run caught up or stopped. */
static void test_run_end_is_told_once_a_run_after_its_last_pull(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 40);
	fake.n_flaky_pulls = 100;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(fake.n_pulls, 3); /* max_retries: 2 */
	CU_ASSERT_EQUAL(fake.n_run_ends, 1);
	CU_ASSERT_EQUAL(fake.pulls_at_run_end, 3);
	sync_report_free(&rep);
	fake.n_flaky_pulls = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(fake.n_pulls, 3 + 1 + 4); /* a retry, then 4 pages of 10 */
	CU_ASSERT_EQUAL(fake.n_run_ends, 2);
	CU_ASSERT_EQUAL(fake.pulls_at_run_end, 8);
	sync_report_free(&rep);
	fake.n_rows = 60;
	fake.stop_during_pull = &w.stop;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(fake.n_run_ends, 3);
	CU_ASSERT_EQUAL(fake.pulls_at_run_end, 9);
	sync_report_free(&rep);
	world_close(&w);
}

/* A plugin answering HUB_ERR_STOPPED when nothing asked it to stop fails
 * like any other answer: retried, and named when the retries run out.  The
 * run ended as a clean one, nothing pulled, no error for the scheduler. */
static void test_a_stopped_answer_without_a_stop_is_retried(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 25);
	fake.n_stopped_pulls = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(rep.applied, 25);
	sync_report_free(&rep);
	fake.n_rows = 40;
	fake.n_stopped_pulls = 100;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.n_retries, 2); /* max_retries: 2 */
	CU_ASSERT_STRING_EQUAL(rep.err, "cancelled by the client library (gave up after 2"
			       " retries in a row, max_retries 2: the next run starts from the"
			       " last committed cursor)");
	CU_ASSERT_STRING_EQUAL(rep.cursor ? rep.cursor : "(none)", "25");
	sync_report_free(&rep);
	world_close(&w);
}

/* The smallest values a source's config allows are kept, not taken for
 * unset: page_size 1 pulls a row a page, max_retries 0 gives up at the
 * first transient failure, keeping the committed cursor. */
static void test_page_size_1_and_max_retries_0_from_the_config_hold(void)
{
	struct world w;
	struct sync_report rep;

	world_open_with(&w, 3, "    page_size: 1\n    max_retries: 0\n");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(fake.n_pulls, 3);
	CU_ASSERT_EQUAL(rep.applied, 3);
	sync_report_free(&rep);
	fake.n_rows = 5;
	fake.n_flaky_pulls = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.n_retries, 0);
	CU_ASSERT_EQUAL(rep.read, 0);
	CU_ASSERT_STRING_EQUAL(rep.cursor ? rep.cursor : "(none)", "3");
	sync_report_free(&rep);
	world_close(&w);
}

/* A source whose config leaves max_retries unset retries a transient
 * failure 5 times (API.md's default), then gives up keeping its cursor. */
static void test_max_retries_unset_retries_5_times(void)
{
	struct world w;
	struct sync_report rep;

	world_open_with(&w, 25, "    page_size: 10\n");
	fake.n_flaky_pulls = 100;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.n_retries, 5);
	CU_ASSERT_EQUAL(fake.n_pulls, 6);
	CU_ASSERT_EQUAL(rep.read, 0);
	sync_report_free(&rep);
	world_close(&w);
}

/* Runs the sync (HUB_OK expected) and returns what it logged (free()). */
static char *sync_logged(struct world *w, struct sync_report *rep)
{
	struct testlib_capture cap;
	char *log;

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(sync_run(&w->p, rep), HUB_OK);
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	return log;
}

/* The wait before a retry is at least what the plugin asked for ("retry
 * after 30ms"), however small the backoff's draw (0 here): the log says
 * what is waited. */
static void test_a_retry_waits_at_least_what_the_plugin_asked(void)
{
	struct world w;
	struct sync_report rep;
	char *log;

	world_open(&w, 12);
	fake.n_flaky_pulls = 1;
	fake.flaky_err = "retry after 30ms: rate limited";
	log = sync_logged(&w, &rep);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "(retry 1 of 2 in 30 ms)"), 1);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(rep.applied, 12);
	free(log);
	sync_report_free(&rep);
	world_close(&w);
}

/* A wait past the run's bound (a plugin's "retry after 600s", of the 300 s
 * a run may wait in all) is not taken in the run: it ends at once, saying
 * the wait and why, retry_after_ms kept for the scheduler's next run; the
 * half page read past the committed cursor is read again by that run. */
static void test_a_wait_past_the_runs_bound_ends_the_run(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_synced(&w, 25);
	fake.n_rows = 40;
	fake.n_flaky_pulls = 1;
	fake.flaky_err = "retry after 600s: quota";
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.n_retries, 0);
	CU_ASSERT_EQUAL(rep.retry_after_ms, 600000);
	CU_ASSERT_STRING_EQUAL(rep.err, "retry after 600s: quota (a wait of 600 s before"
			       " retrying; this run has waited 0 s of the 300 s it may: it ends,"
			       " and the next run starts from the last committed cursor, once"
			       " that wait is over)");
	CU_ASSERT(rep.elapsed_ms < 60000);
	CU_ASSERT_EQUAL(rep.read, 0);
	CU_ASSERT_STRING_EQUAL(rep.cursor ? rep.cursor : "(none)", "25");
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");
	sync_report_free(&rep);
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 15); /* 26..40: nothing past the cursor lost */
	CU_ASSERT_EQUAL(rep.applied, 15);
	sync_report_free(&rep);
	world_close(&w);
}

/* The bound is of the run's waits in all: waits each within it end the run
 * once the next would pass what is left (a bound of 50 ms here: 30 ms
 * waited, the next 30 ms would pass it). */
static void test_the_runs_waits_are_bounded_in_all(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 25);
	w.p.run_wait_max_ms = 50;
	fake.n_flaky_pulls = 100;
	fake.flaky_err = "retry after 30ms: slow down";
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(fake.n_pulls, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "retry after 30ms: slow down (a wait of 1 s"
				      " before retrying; this run has waited 0 s of the 0 s"));
	CU_ASSERT_EQUAL(rep.read, 0);
	sync_report_free(&rep);
	world_close(&w);
}

/* A checkpoint cursor is at most 8191 bytes (what the next run can read
 * back): one that long commits, one a byte longer fails the run and moves
 * no cursor. */
static void test_a_cursor_longer_than_8191_bytes_is_refused(void)
{
	struct world w;
	struct sync_report rep;
	char cur[CURSOR_TEXT_MAX];

	world_open(&w, 3);
	fake.cursor_len = 8191;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_EQUAL(strlen(cur), 8191);
	sync_report_free(&rep);

	fake.n_rows = 6;
	fake.cursor_len = 8192;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "longer than 8191 bytes"));
	CU_ASSERT_EQUAL(rep.applied, 0);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_EQUAL(strlen(cur), 8191);
	CU_ASSERT_EQUAL(atoi(cur), 3);
	sync_report_free(&rep);
	world_close(&w);
}

static void test_full_starts_over_and_dedupe_absorbs_it(void)
{
	struct world w;
	struct sync_report rep;

	world_synced(&w, 12);
	w.p.is_full = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 12);
	CU_ASSERT_EQUAL(rep.applied, 0);
	CU_ASSERT_EQUAL(rep.duplicates, 12);
	sync_report_free(&rep);
	world_close(&w);
}

/* A --full run that failed before its first page committed left the saved
 * cursor as it was: the report says that one (not "none"), and the next
 * incremental run goes on from it, reading only what is new. */
static void test_a_failed_full_run_keeps_and_reports_the_cursor(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_synced(&w, 25);
	w.p.is_full = 1;
	fake.n_flaky_pulls = 100;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_EQUAL(rep.read, 0);
	CU_ASSERT_STRING_EQUAL(rep.cursor ? rep.cursor : "(none)", "25");
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");
	sync_report_free(&rep);
	w.p.is_full = 0;
	fake.n_flaky_pulls = 0;
	fake.n_rows = 31;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 6);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "31");
	sync_report_free(&rep);
	world_close(&w);
}

/* A --full run whose first page committed moved the cursor to that page:
 * the report says the new one. */
static void test_a_full_run_that_committed_reports_its_own_cursor(void)
{
	struct world w;
	struct sync_report rep;

	world_synced(&w, 25);
	w.p.is_full = 1;
	fake.is_flaky_once_a_page = 1;
	fake.flaky_cursor = 0; /* the first page commits, the second fails for good */
	fake.n_flaky_pulls = 0;
	w.p.max_retries = 0;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(rep.cursor ? rep.cursor : "(none)", "10");
	sync_report_free(&rep);
	world_close(&w);
}

/* A meta value of the store, "" when there is none. */
static void meta_text(struct world *w, const char *key, char *buf, size_t size)
{
	buf[0] = '\0';
	w->th->reader->ops->meta_get(w->th->reader, key, buf, size);
}

/* A meta value put in a transaction of its own (what an earlier config left). */
static void meta_set(struct world *w, const char *key, const char *value)
{
	struct store *s = w->th->reader;

	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, value), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
}

/* The cursor commits with the `cursor` columns it was read with,
 * lowercased; a cursor saved with the first of today's columns (a unique
 * last column added since, as the hub advises) still applies. */
static void test_a_cursor_commits_with_its_columns(void)
{
	struct world w;
	struct sync_report rep;
	char cols[128];

	world_open_with(&w, 25, "    page_size: 10\n    cursor: [Updated_At, id]\n");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	sync_report_free(&rep);
	meta_text(&w, "cursor_columns:fake", cols, sizeof(cols));
	CU_ASSERT_STRING_EQUAL(cols, "[\"updated_at\",\"id\"]");

	meta_set(&w, "cursor_columns:fake", "[\"updated_at\"]");
	fake.n_rows = 31;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 6);
	sync_report_free(&rep);
	meta_text(&w, "cursor_columns:fake", cols, sizeof(cols));
	CU_ASSERT_STRING_EQUAL(cols, "[\"updated_at\",\"id\"]");
	world_close(&w);
}

/* A cursor saved with other columns (`cursor` changed from created_at to
 * updated_at) is not bound to the new ones, which would skip every row
 * whose new column is before the old column's value: the run fails
 * naming both and --full, pulls nothing and keeps the cursor; --full
 * then starts the new columns' cursor. */
static void test_a_cursor_of_other_columns_waits_for_full(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64], cols[128];

	world_open_with(&w, 25, "    page_size: 10\n    cursor: updated_at\n");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	sync_report_free(&rep);
	meta_set(&w, "cursor_columns:fake", "[\"created_at\"]");
	fake.n_rows = 31;
	fake.n_pulls = 0;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_CONFIG);
	CU_ASSERT_EQUAL(fake.n_pulls, 0);
	CU_ASSERT_EQUAL(rep.read, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "[\"created_at\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "[\"updated_at\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "profilehub sync fake --full"));
	sync_report_free(&rep);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");

	w.p.is_full = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 31);
	sync_report_free(&rep);
	meta_text(&w, "cursor_columns:fake", cols, sizeof(cols));
	CU_ASSERT_STRING_EQUAL(cols, "[\"updated_at\"]");
	w.p.is_full = 0;
	fake.n_rows = 33;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 2);
	sync_report_free(&rep);
	world_close(&w);
}

/* A cursor saved without its columns (by a hub of before they were kept)
 * goes on from where it is, and is kept with them from then on: such a
 * store must not wait for --full. */
static void test_a_cursor_saved_without_its_columns_goes_on(void)
{
	struct world w;
	struct sync_report rep;
	struct store *s;
	char cols[128];

	world_open_with(&w, 25, "    page_size: 10\n    cursor: updated_at\n");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	sync_report_free(&rep);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_delete(s, "cursor_columns:fake"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	fake.n_rows = 31;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 6);
	sync_report_free(&rep);
	meta_text(&w, "cursor_columns:fake", cols, sizeof(cols));
	CU_ASSERT_STRING_EQUAL(cols, "[\"updated_at\"]");
	world_close(&w);
}

/* A cursor saved without its columns and no rows since: the run that
 * brings none saves them (only if absent), so that a change of `cursor`
 * is caught from the next run on.  They were saved with a page only, and
 * a source without new rows went on unchecked for ever. */
static void test_a_cursor_without_columns_and_no_rows_gets_them(void)
{
	struct world w;
	struct sync_report rep;
	char cols[128], cur[64];

	world_open_with(&w, 25, "    page_size: 10\n    cursor: updated_at\n");
	meta_set(&w, "cursor:fake", "25");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 0);
	sync_report_free(&rep);
	meta_text(&w, "cursor_columns:fake", cols, sizeof(cols));
	CU_ASSERT_STRING_EQUAL(cols, "[\"updated_at\"]");
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "25");
	/* from then on a cursor of other columns is refused */
	meta_set(&w, "cursor_columns:fake", "[\"created_at\"]");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_CONFIG);
	sync_report_free(&rep);
	/* with no cursor at all, no columns row is made up */
	world_close(&w);
	world_open_with(&w, 0, "    page_size: 10\n    cursor: updated_at\n");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	sync_report_free(&rep);
	meta_text(&w, "cursor_columns:fake", cols, sizeof(cols));
	CU_ASSERT_STRING_EQUAL(cols, "");
	world_close(&w);
}

/* Every saved column is compared, not the first alone: [updated_at, id]
 * saved and [updated_at, seq] configured would bind the saved id to seq. */
static void test_a_cursor_whose_later_column_changed_waits_for_full(void)
{
	struct world w;
	struct sync_report rep;

	world_open_with(&w, 25, "    page_size: 10\n    cursor: [updated_at, seq]\n");
	meta_set(&w, "cursor:fake", "20");
	meta_set(&w, "cursor_columns:fake", "[\"updated_at\",\"id\"]");
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_CONFIG);
	CU_ASSERT_EQUAL(fake.n_pulls, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "[\"updated_at\",\"seq\"]"));
	sync_report_free(&rep);
	world_close(&w);
}

static void test_a_stop_lets_the_page_in_progress_commit(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_open(&w, 25);
	fake.stop_during_pull = &w.stop;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(fake.n_pulls, 1);
	CU_ASSERT_EQUAL(rep.read, 1);
	CU_ASSERT_EQUAL(rep.applied, 1);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "1");
	sync_report_free(&rep);
	world_close(&w);
}

/* A record emit() could not take (out of memory) fails its page even when
 * the plugin goes on and checkpoints past it: the cursor stays, and the
 * next run stores the row. */
static void test_a_record_emit_could_not_take_keeps_the_cursor_before_it(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_open(&w, 5);
	fake.nomem_row = 3;
	fake.is_deaf = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_NOMEM);
	CU_ASSERT_STRING_EQUAL(rep.err, "out of memory");
	CU_ASSERT_PTR_NULL(rep.cursor);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "");
	sync_report_free(&rep);

	fake.nomem_row = 0;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.applied, 5);
	CU_ASSERT_EQUAL(n_profiles(&w), 5);
	sync_report_free(&rep);
	world_close(&w);
}

/* Whether the profile of custom_id `cid` exists. */
static int has_profile(struct world *w, const char *cid)
{
	json_t *dump = testhub_dump(w->th, 0);
	char *text = json_dumps(dump, 0);
	char quoted[64];
	int found;

	snprintf(quoted, sizeof(quoted), "\"%s\"", cid);
	found = text && strstr(text, quoted) != NULL;
	free(text);
	json_decref(dump);
	return found;
}

/* A plugin that keeps the call of one pull and emits through it in the
 * next: refused (not written into a call that is over), logged naming the
 * plugin, the function and the callback; the run itself goes on. */
static void test_emit_through_a_call_kept_past_its_pull_is_refused(void)
{
	struct world w;
	struct sync_report rep;
	char *log;

	world_open(&w, 15); /* page_size 10: two pulls */
	fake.is_keeping_call = 1;
	fake.late_rc = HUB_OK;
	host_reset_refusal_lines(); /* its line: not one limited by an earlier test's */
	log = sync_logged(&w, &rep);
	CU_ASSERT_EQUAL(fake.n_pulls, 2);
	CU_ASSERT_EQUAL(fake.late_rc, HUB_ERR_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, " error [fake] plugin fake called emit() after its "
				      "pull() returned (the call it was handed is no longer live"));
	CU_ASSERT_EQUAL(rep.applied, 15);
	CU_ASSERT_FALSE(has_profile(&w, "late"));
	CU_ASSERT_TRUE(has_profile(&w, "c15"));
	free(log);
	sync_report_free(&rep);
	world_close(&w);
}

/* emit() from a thread the plugin started, while its pull runs: refused
 * the same way (the call is valid only on the callback's thread). */
static void test_emit_from_another_thread_is_refused(void)
{
	struct world w;
	struct sync_report rep;
	char *log;

	world_open(&w, 3);
	fake.is_threading = 1;
	fake.late_rc = HUB_OK;
	host_reset_refusal_lines();
	log = sync_logged(&w, &rep);
	CU_ASSERT_EQUAL(fake.late_rc, HUB_ERR_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, " error [fake] plugin fake called emit() from another "
				      "thread than its pull()'s"));
	CU_ASSERT_EQUAL(rep.applied, 3);
	CU_ASSERT_FALSE(has_profile(&w, "threaded"));
	free(log);
	sync_report_free(&rep);
	world_close(&w);
}

static void test_rejected_rows_are_counted_with_their_reason(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 5);
	fake.bad_row = 3;
	fake.bad_row2 = 4; /* the same reason again: kept once, where first seen */
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 5);
	CU_ASSERT_EQUAL(rep.applied, 3);
	CU_ASSERT_EQUAL(rep.rejected, 2);
	CU_ASSERT_EQUAL_FATAL(rep.n_reasons, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.reasons[0], "no usable identifier"));
	/* where: the record's origin (the row's cursor values, for a warehouse) */
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.reasons[0], " (first in row 3)"));
	CU_ASSERT_STRING_EQUAL(rep.cursor, "5"); /* a rejected row does not stop the cursor */
	sync_report_free(&rep);
	world_close(&w);
}

/* A page whose every row is rejected still commits its cursor (a batch of
 * no records): the next run does not read those rows again, for ever. */
static void test_a_page_of_rejected_rows_moves_the_cursor(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_open(&w, 2);
	fake.bad_row = 1;
	fake.bad_row2 = 2;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 2);
	CU_ASSERT_EQUAL(rep.rejected, 2);
	CU_ASSERT_EQUAL(rep.n_reasons, 1);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "2");
	sync_report_free(&rep);
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 0);
	sync_report_free(&rep);
	world_close(&w);
}

/* An array op that passes 25 items only with what is stored (20, then 10
 * new ones) is a warning the writer hands back with the page's counts: the
 * row applied, its array left as it was. */
static void test_an_array_op_past_the_limit_is_counted_as_a_warning(void)
{
	struct world w;
	struct sync_report rep;
	json_t *dump;
	size_t i;
	json_t *doc, *attrs = NULL;

	world_open(&w, 5);
	fake.adding_row = 3;
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(w.th, "{\"type\": \"attributes\","
		"\"message_id\": \"t\", \"identifiers\": {\"custom_id\": \"c3\"}, \"attributes\":"
		" {\"tags\": [\"t0\", \"t1\", \"t2\", \"t3\", \"t4\", \"t5\", \"t6\", \"t7\","
		" \"t8\", \"t9\", \"t10\", \"t11\", \"t12\", \"t13\", \"t14\", \"t15\","
		" \"t16\", \"t17\", \"t18\", \"t19\"]}}"), 0);
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.applied, 5);
	CU_ASSERT_EQUAL(rep.warnings, 1);
	CU_ASSERT_EQUAL_FATAL(rep.n_warning_reasons, 1);
	CU_ASSERT_STRING_EQUAL(rep.warning_reasons[0],
			       "attributes.tags: the array op would leave 30 items, more than 25;"
			       " the attribute is left unchanged (first in row 3)");
	dump = testhub_dump(w.th, 0);
	json_array_foreach(dump, i, doc)
		if (json_object_get(json_object_get(doc, "attributes"), "tags"))
			attrs = json_object_get(doc, "attributes");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(attrs, "tags")), 20);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(attrs, "n")), 3);
	json_decref(dump);
	sync_report_free(&rep);
	world_close(&w);
}

/* A row the plugin cannot read itself (reject(), ABI 1.2) counts like one
 * the hub refuses: read and rejected, with the plugin's reason, and only
 * once its page commits (a retried page does not count it twice). */
static void test_rows_the_plugin_rejects_are_counted_with_their_reason(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 25);
	fake.unreadable_row = 3;
	fake.n_flaky_pulls = 1; /* the first pull rejects row 3, then fails */
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(rep.read, 25);
	CU_ASSERT_EQUAL(rep.applied, 24);
	CU_ASSERT_EQUAL(rep.rejected, 1);
	CU_ASSERT_EQUAL_FATAL(rep.n_reasons, 1);
	CU_ASSERT_STRING_EQUAL(rep.reasons[0], "row 3: unreadable");
	CU_ASSERT_STRING_EQUAL(rep.cursor, "25");
	CU_ASSERT_EQUAL(n_profiles(&w), 24);
	sync_report_free(&rep);
	world_close(&w);
}

/* The same reason of two rows is kept once, whatever its length: one
 * that filled the kept text but for a few bytes was cut inside its
 * " (first in ...)" and was kept again for each row (five filled the
 * list, hiding every other reason). */
/* The report keeps the first SYNC_MAX_REASONS distinct reasons, in the
 * order seen; every rejected row is counted all the same. */
static void test_the_first_five_distinct_reasons_are_kept(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 7);
	fake.unreadable_from = 1; /* "row <i>: unreadable": 7 distinct reasons */
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.rejected, 7);
	CU_ASSERT_EQUAL_FATAL(rep.n_reasons, SYNC_MAX_REASONS);
	CU_ASSERT_STRING_EQUAL(rep.reasons[0], "row 1: unreadable");
	CU_ASSERT_STRING_EQUAL(rep.reasons[SYNC_MAX_REASONS - 1], "row 5: unreadable");
	sync_report_free(&rep);
	world_close(&w);
}

/* Rows the plugin rejected after its last checkpoint (a tail it did not
 * vouch for, nothing in it to store) are still read and counted. */
static void test_a_tail_of_rejected_rows_without_a_checkpoint_is_counted(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 3);
	fake.unreadable_from = 1;
	fake.is_uncheckpointed = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.read, 3);
	CU_ASSERT_EQUAL(rep.rejected, 3);
	CU_ASSERT_EQUAL(rep.n_reasons, 3);
	CU_ASSERT_PTR_NULL(rep.cursor);
	sync_report_free(&rep);
	world_close(&w);
}

static void test_a_long_reason_is_kept_once(void)
{
	static const size_t lens[] = {10, 370, 380, 381, 505, 511, 590};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct world w;
		struct sync_report rep;

		world_open(&w, 6);
		fake.lossy_row = 3;
		fake.lossy_row2 = 5;
		fake.warn_len = lens[i];
		CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
		CU_ASSERT_EQUAL(rep.warnings, 2);
		CU_ASSERT_EQUAL(rep.n_warning_reasons, 1);
		if (rep.n_warning_reasons != 1)
			fprintf(stderr, "\n  %zu bytes: %zu reasons", lens[i],
				rep.n_warning_reasons);
		CU_ASSERT_PTR_NOT_NULL(strstr(rep.warning_reasons[0], " (first in row 3)"));
		sync_report_free(&rep);
		world_close(&w);
	}
}

/* A value the plugin leaves out of a row it keeps (warn(), ABI 1.6) is a
 * warning with the plugin's reason, counted once its page commits (a
 * retried page does not count it twice). */
static void test_values_the_plugin_leaves_out_are_counted_as_warnings(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 25);
	fake.lossy_row = 3;
	fake.n_flaky_pulls = 1; /* the first pull warns of row 3, then fails */
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.n_retries, 1);
	CU_ASSERT_EQUAL(rep.read, 25);
	CU_ASSERT_EQUAL(rep.applied, 25);
	CU_ASSERT_EQUAL(rep.rejected, 0);
	CU_ASSERT_EQUAL(rep.warnings, 1);
	CU_ASSERT_EQUAL_FATAL(rep.n_warning_reasons, 1);
	CU_ASSERT_STRING_EQUAL(rep.warning_reasons[0], "x left out (first in row 3)");
	sync_report_free(&rep);
	world_close(&w);
}

/* Another process takes the lease (its lease_try bumps the epoch) right
 * after this holder's first page committed. */
static void bump_epoch_once(void *ctx, const struct sync_report *rep)
{
	struct world *w = ctx;

	if (rep->applied == 10 && !rep->is_lease_lost)
		w->th->reader->ops->meta_put(w->th->reader, "lease_epoch:sync:fake", "8");
}

static void test_a_holder_that_lost_its_lease_moves_no_cursor(void)
{
	struct world w;
	struct sync_report rep;
	char cur[64];

	world_open(&w, 25);
	/* the holder took the lease at epoch 7 (lease_try on PostgreSQL) */
	CU_ASSERT_EQUAL_FATAL(w.th->reader->ops->meta_put(w.th->reader, "lease_epoch:sync:fake",
							  "7"), 0);
	w.p.fence_epoch = 7;
	w.p.on_progress = bump_epoch_once;
	w.p.ctx = &w;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(rep.is_lease_lost, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "lease lost"));
	CU_ASSERT_EQUAL(rep.applied, 10); /* the first page only */
	CU_ASSERT_EQUAL(fake.n_pulls, 3); /* the pull after the fenced page (pipelined), no retry */
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "10");
	CU_ASSERT_EQUAL(n_profiles(&w), 10); /* nothing of the fenced page */
	sync_report_free(&rep);

	/* the new holder (epoch 8) goes on from the committed cursor */
	w.p.fence_epoch = 8;
	w.p.on_progress = NULL;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_OK);
	CU_ASSERT_EQUAL(rep.applied, 15);
	CU_ASSERT_STRING_EQUAL(rep.cursor, "25");
	CU_ASSERT_EQUAL(n_profiles(&w), 25);
	sync_report_free(&rep);
	world_close(&w);
}

/* Records emitted after the last checkpoint (a tail the plugin did not
 * vouch for, committed without a cursor) are fenced too: a holder that
 * lost its lease commits none of them, and says so.  They used to commit,
 * beside the new holder's, and the run ended OK (found by review). */
static void test_a_tail_without_a_checkpoint_is_fenced_too(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 5);
	fake.is_uncheckpointed = 1;
	CU_ASSERT_EQUAL_FATAL(w.th->reader->ops->meta_put(w.th->reader, "lease_epoch:sync:fake",
							  "8"), 0);
	w.p.fence_epoch = 7; /* taken since by another process */
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(rep.is_lease_lost, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "lease lost"));
	CU_ASSERT_EQUAL(n_profiles(&w), 0);
	sync_report_free(&rep);
	world_close(&w);
}

/* A plugin that answers HUB_MORE without emitting, rejecting or
 * checkpointing anything is stopped after a few pulls with an error that
 * says so.  It used to be pulled again at once, forever: a busy loop that
 * only a stop ended (found by review). */
static void test_more_without_progress_is_an_error(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 5);
	fake.is_idle_more = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_INTERNAL);
	CU_ASSERT(fake.n_pulls < 10);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "HUB_MORE"));
	sync_report_free(&rep);
	world_close(&w);
}

/* The same, when each pull checkpoints the cursor it was given again (a
 * plugin that checkpoints at the end of every pull, at the end of its
 * input): that is no progress either.  It used to count as some, and the
 * source was pulled again at once, forever (found writing a plugin from
 * the docs). */
static void test_more_checkpointing_the_same_cursor_is_an_error(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 5);
	fake.is_idle_more = 1;
	fake.is_recheckpointing = 1;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_INTERNAL);
	CU_ASSERT(fake.n_pulls < 10);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "HUB_MORE"));
	sync_report_free(&rep);
	world_close(&w);
}

/* A pull() answering a code not of enum hub_rc is named as a plugin bug,
 * with the code and its message; it was "the plugin failed without a
 * message", or only its message (found writing a plugin from the docs).
 * The page it checkpointed stands. */
static void test_a_pull_code_not_of_hub_rc_is_named(void)
{
	struct world w;
	struct sync_report rep;

	world_open(&w, 3);
	fake.odd_rc = (hub_rc)42;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(fake.n_pulls, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "pull() returned 42, which is not a hub_rc"));
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, ": odd"));
	CU_ASSERT_STRING_EQUAL(rep.cursor, "3");
	sync_report_free(&rep);
	world_close(&w);
}

/* The plugin's message is kept whole (the report holds 1023 bytes): it was
 * cut to 511 bytes before the hub's words, its end lost (and the SAN=1
 * build refused the copy: -Werror=format-truncation). */
static void test_a_long_message_with_an_odd_code_is_kept_whole(void)
{
	struct world w;
	struct sync_report rep;
	char said[801];

	memset(said, 'x', sizeof(said) - 1);
	said[sizeof(said) - 1] = '\0';
	memcpy(said + sizeof(said) - 5, "END!", 4);
	world_open(&w, 3);
	fake.odd_rc = (hub_rc)42;
	fake.odd_err = said;
	CU_ASSERT_EQUAL(sync_run(&w.p, &rep), HUB_ERR_INTERNAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, "pull() returned 42, which is not a hub_rc"));
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.err, said));
	sync_report_free(&rep);
	world_close(&w);
}

TEST_SUITE(sync, NULL, NULL,
	   TEST(test_a_tail_without_a_checkpoint_is_fenced_too),
	   TEST(test_more_without_progress_is_an_error),
	   TEST(test_more_checkpointing_the_same_cursor_is_an_error),
	   TEST(test_a_pull_code_not_of_hub_rc_is_named),
	   TEST(test_run_end_is_told_once_a_run_after_its_last_pull),
	   TEST(test_a_long_message_with_an_odd_code_is_kept_whole),
	   TEST(test_a_holder_that_lost_its_lease_moves_no_cursor),
	   TEST(test_pages_commit_with_their_cursor),
	   TEST(test_a_transient_failure_replays_only_the_uncommitted_page),
	   TEST(test_a_page_that_did_not_commit_is_pulled_again),
	   TEST(test_a_committed_page_starts_the_retry_count_again),
	   TEST(test_retries_give_up_after_max_retries_keeping_the_cursor),
	   TEST(test_a_stopped_answer_without_a_stop_is_retried),
	   TEST(test_full_starts_over_and_dedupe_absorbs_it),
	   TEST(test_a_failed_full_run_keeps_and_reports_the_cursor),
	   TEST(test_a_full_run_that_committed_reports_its_own_cursor),
	   TEST(test_a_cursor_commits_with_its_columns),
	   TEST(test_a_cursor_of_other_columns_waits_for_full),
	   TEST(test_a_cursor_saved_without_its_columns_goes_on),
	   TEST(test_a_cursor_without_columns_and_no_rows_gets_them),
	   TEST(test_a_cursor_whose_later_column_changed_waits_for_full),
	   TEST(test_a_stop_lets_the_page_in_progress_commit),
	   TEST(test_a_record_emit_could_not_take_keeps_the_cursor_before_it),
	   TEST(test_rejected_rows_are_counted_with_their_reason),
	   TEST(test_a_page_of_rejected_rows_moves_the_cursor),
	   TEST(test_an_array_op_past_the_limit_is_counted_as_a_warning),
	   TEST(test_rows_the_plugin_rejects_are_counted_with_their_reason),
	   TEST(test_values_the_plugin_leaves_out_are_counted_as_warnings),
	   TEST(test_a_long_reason_is_kept_once),
	   TEST(test_page_size_1_and_max_retries_0_from_the_config_hold),
	   TEST(test_max_retries_unset_retries_5_times),
	   TEST(test_a_retry_waits_at_least_what_the_plugin_asked),
	   TEST(test_a_wait_past_the_runs_bound_ends_the_run),
	   TEST(test_the_runs_waits_are_bounded_in_all),
	   TEST(test_a_cursor_longer_than_8191_bytes_is_refused),
	   TEST(test_the_first_five_distinct_reasons_are_kept),
	   TEST(test_a_tail_of_rejected_rows_without_a_checkpoint_is_counted),
	   TEST(test_emit_through_a_call_kept_past_its_pull_is_refused),
	   TEST(test_emit_from_another_thread_is_refused))
