/*
 * test_housekeep.c - suite `housekeep`: the erase blocks an erase leaves
 * (IDENTITY.md section 7) are deleted once over for a second
 * erase_block_days on the wall clock (privacy_blocks_prune), a chunk per
 * transaction; `run`'s upkeep thread (housekeep.c) does it at start and
 * then every interval, and the intake then takes a late record it refused
 * before.  Blocks that ended more recently, or have not ended, stay.  The
 * privacy request records past the last PRIVACY_REQUESTS_KEPT go, oldest
 * first (privacy_requests_prune); a store failure or out of memory in
 * either deletes nothing.  And an erase as a record (privacy_erase_record,
 * privacy_erase_submit).
 *
 * Runs on SQLite, and on PostgreSQL with HUB_TEST_STORE=postgres.
 */
#include "testhub.h"
#include "testlib.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/housekeep.h"
#include "../../hub/privacy.h"
#include "../../hub/profile.h"
#include "../../hub/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS (24LL * 3600 * 1000)

static void put_block(struct store *s, const char *value, int64_t until)
{
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL(s->ops->block_put(s, "custom_id", value, until), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
}

static int is_blocked(struct store *s, const char *value)
{
	int64_t until = 0;
	return s->ops->block_get(s, "custom_id", value, &until);
}

/* Waits at most 10 s for value's block to go; 1 gone. */
static int wait_unblocked(struct store *s, const char *value)
{
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = {0, 10 * 1000000L};
		if (is_blocked(s, value) == 0)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

#define REQUEST_T0 1767225600000LL /* 2026-01-01 */

static void request_key(char key[64], int i)
{
	snprintf(key, 64, PRIVACY_REQUEST_PREFIX "pr_%016x", 100000 - i);
}

/* n privacy request records, record i created i days after REQUEST_T0;
 * ids descend as times ascend: key order is not age order.  In the
 * caller's transaction. */
static void put_requests(struct store *s, int n)
{
	char key[64], value[256], ts[40];

	for (int i = 0; i < n; i++) {
		request_key(key, i);
		snprintf(value, sizeof(value),
			 "{\"id\":\"%s\",\"type\":\"erase\",\"status\":\"done\","
			 "\"created_at\":\"%s\",\"finished_at\":null}",
			 key + strlen(PRIVACY_REQUEST_PREFIX),
			 time_format_ms(REQUEST_T0 + i * DAY_MS, ts, sizeof(ts)));
		CU_ASSERT_EQUAL(s->ops->meta_put(s, key, value), 0);
	}
}

static int has_request(struct store *s, int i)
{
	char key[64], value[256];

	request_key(key, i);
	return s->ops->meta_get(s, key, value, sizeof(value));
}

/* An identify of custom_id timed at ms, as one batch. */
static void identify_at(struct testhub *th, const char *mid, const char *custom_id, int64_t ms)
{
	char line[512], ts[40];

	snprintf(line, sizeof(line),
		 "{\"type\":\"identify\",\"message_id\":\"%s\",\"timestamp\":\"%s\","
		 "\"identifiers\":{\"custom_id\":\"%s\"}}\n",
		 mid, time_format_ms(ms, ts, sizeof(ts)), custom_id);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, line), 0);
}

static void test_run_deletes_blocks_a_period_past_their_end_at_start_and_hourly(void)
{
	struct testhub *th = testhub_start("privacy:\n  erase_block_days: 30\n");
	struct housekeep *h = NULL;
	int64_t now = time_now_ms();
	char err[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	put_block(th->reader, "c_old", now - 31 * DAY_MS);    /* over for more than 30 days */
	put_block(th->reader, "c_margin", now - 29 * DAY_MS); /* over, but not for 30 days */
	put_block(th->reader, "c_live", now + DAY_MS);
	/* a late record timed inside c_old's block is refused (and the
	 * writer has the block list in hand) */
	identify_at(th, "m1", "c_old", now - 40 * DAY_MS);
	CU_ASSERT_EQUAL(th->counts.blocked, 1);

	housekeep_set_interval(50); /* "hourly" */
	CU_ASSERT_EQUAL_FATAL(housekeep_start(&h, th->cfg, err, sizeof(err)), 0);
	CU_ASSERT(wait_unblocked(th->reader, "c_old")); /* at start */
	CU_ASSERT_EQUAL(is_blocked(th->reader, "c_margin"), 1);
	CU_ASSERT_EQUAL(is_blocked(th->reader, "c_live"), 1);
	put_block(th->reader, "c_older", now - 60 * DAY_MS);
	CU_ASSERT(wait_unblocked(th->reader, "c_older")); /* at a later pass */
	housekeep_stop(h);
	housekeep_set_interval(0);
	CU_ASSERT_EQUAL(is_blocked(th->reader, "c_margin"), 1);
	CU_ASSERT_EQUAL(is_blocked(th->reader, "c_live"), 1);

	/* the same late record is taken now */
	identify_at(th, "m2", "c_old", now - 40 * DAY_MS);
	CU_ASSERT_EQUAL(th->counts.blocked, 1);
	CU_ASSERT_EQUAL(th->counts.applied, 1);
	testhub_stop(th);
}

/* run's pass at start (the interval left at its hour) uses the configured
 * erase_block_days, not the default, keeps the last PRIVACY_REQUESTS_KEPT
 * privacy request records, and logs how many blocks and records it
 * deleted. */
static void test_run_uses_the_configured_period_and_keeps_the_last_requests(void)
{
	struct testhub *th = testhub_start("privacy:\n  erase_block_days: 10\n");
	struct housekeep *h = NULL;
	struct testlib_capture cap;
	int64_t now = time_now_ms();
	char err[512], *log;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	put_block(th->reader, "c_over", now - 10 * DAY_MS - DAY_MS / 2);
	put_block(th->reader, "c_margin", now - 10 * DAY_MS + DAY_MS / 2);
	CU_ASSERT_EQUAL_FATAL(th->reader->ops->begin(th->reader), 0);
	put_requests(th->reader, PRIVACY_REQUESTS_KEPT + 2);
	CU_ASSERT_EQUAL_FATAL(th->reader->ops->commit(th->reader), 0);

	housekeep_set_interval(0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL_FATAL(housekeep_start(&h, th->cfg, err, sizeof(err)), 0);
	CU_ASSERT(wait_unblocked(th->reader, "c_over"));
	housekeep_stop(h); /* after the pass, which goes on to the request records */
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "deleted 1 erase block that ended 10 days ago"),
			1);
	/* and how many request records went: a GET of one answers 404 now */
	CU_ASSERT_EQUAL(testlib_lines_with(log, "deleted 2 privacy request records, the oldest:"
					   " the last 1000 are kept"), 1);
	free(log);
	CU_ASSERT_EQUAL(is_blocked(th->reader, "c_margin"), 1);
	CU_ASSERT_EQUAL(has_request(th->reader, 0), 0);
	CU_ASSERT_EQUAL(has_request(th->reader, 1), 0);
	CU_ASSERT_EQUAL(has_request(th->reader, 2), 1);
	CU_ASSERT_EQUAL(has_request(th->reader, PRIVACY_REQUESTS_KEPT + 1), 1);
	testhub_stop(th);
}

/* More blocks than a chunk: every one goes, a chunk per transaction, and
 * a stop asked for ends it after the chunk in progress. */
static void test_prune_goes_a_chunk_at_a_time_until_none_is_left(void)
{
	struct testhub *th = testhub_start(NULL); /* erase_block_days: 30 */
	struct store *s;
	int64_t now = time_now_ms();
	size_t n = 0, total = 2 * PRIVACY_BLOCK_PRUNE_CHUNK + 5;
	atomic_int stop;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	s = th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	for (size_t i = 0; i < total; i++) {
		char v[32];
		snprintf(v, sizeof(v), "c%zu", i);
		CU_ASSERT_EQUAL(s->ops->block_put(s, "installation_id", v,
						  now - 30 * DAY_MS - (int64_t)i), 0);
	}
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	put_block(s, "c_margin", now - 30 * DAY_MS + 1000);

	atomic_init(&stop, 1);
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 30, now, &stop, &n), 0);
	CU_ASSERT_EQUAL(n, PRIVACY_BLOCK_PRUNE_CHUNK);
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 30, now, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, total - PRIVACY_BLOCK_PRUNE_CHUNK);
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 30, now, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(is_blocked(s, "c_margin"), 1);
	testhub_stop(th);
}

/* Privacy request records past the last `keep` go, the oldest by
 * created_at first (not in key order); other meta rows stay. */
static void test_the_oldest_privacy_request_records_go(void)
{
	struct testhub *th = testhub_start(NULL);
	struct store *s;
	char value[256];
	size_t n = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	s = th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	put_requests(s, 6);
	CU_ASSERT_EQUAL(s->ops->meta_put(s, "privacy_other", "x"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);

	CU_ASSERT_EQUAL(privacy_requests_prune(s, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	for (int i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(has_request(s, i), i >= 2);
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "privacy_other", value, sizeof(value)), 1);
	CU_ASSERT_EQUAL(privacy_requests_prune(s, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	testhub_stop(th);
}

/* The end of the period is exact, measured in days of erase_block_days
 * (1 is one day, not the default), and 0 (unset) is 30 days: a block that
 * ended that long ago goes, one that ended a millisecond later stays. */
static void test_blocks_go_exactly_a_period_past_their_end(void)
{
	struct testhub *th = testhub_start(NULL);
	struct store *s = th ? th->reader : NULL;
	int64_t now = time_now_ms();
	size_t n = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	put_block(s, "c_day_over", now - DAY_MS);
	put_block(s, "c_day_not_yet", now - DAY_MS + 1);
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 1, now, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(is_blocked(s, "c_day_over"), 0);
	CU_ASSERT_EQUAL(is_blocked(s, "c_day_not_yet"), 1);

	put_block(s, "c_default_over", now - 30 * DAY_MS);
	put_block(s, "c_default_not_yet", now - 30 * DAY_MS + 1);
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 0, now, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(is_blocked(s, "c_default_over"), 0);
	CU_ASSERT_EQUAL(is_blocked(s, "c_default_not_yet"), 1);
	testhub_stop(th);
}

/* s fails its statement number k (1-based, counted from now; 0: none), and
 * counts its statements in s->fault_calls. */
static void fail_statement(struct store *s, long k)
{
	s->fault_calls = 0;
	s->fault_kind = STORE_FAULT_IO;
	s->fault_at[0] = k;
	s->fault_at[1] = 1L << 40; /* never reached: counts */
}

static void fail_none(struct store *s)
{
	s->fault_at[0] = 0;
	s->fault_at[1] = 0;
}

/* A store failure at any statement of a request records prune fails it
 * (-1, none deleted) and rolls it back: every record is still there, and
 * the next prune deletes the oldest. */
static void test_a_failing_requests_prune_fails_and_keeps_every_record(void)
{
	struct testhub *th = testhub_start(NULL);
	struct store *s = th ? th->reader : NULL;
	size_t n = 99;
	long total;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	put_requests(s, 3);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	fail_statement(s, 0);
	CU_ASSERT_EQUAL(privacy_requests_prune(s, 1, &n), 0); /* counts a clean one */
	total = s->fault_calls;
	fail_none(s);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT(total >= 5); /* begin, list, two deletes, commit */
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	put_requests(s, 2); /* the two it deleted, again */
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	for (long k = 1; k <= total; k++) {
		fail_statement(s, k);
		CU_ASSERT_EQUAL(privacy_requests_prune(s, 1, &n), -1);
		fail_none(s);
		CU_ASSERT_EQUAL(n, 0);
		for (int i = 0; i < 3; i++)
			CU_ASSERT_EQUAL(has_request(s, i), 1);
	}
	CU_ASSERT_EQUAL(privacy_requests_prune(s, 1, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(has_request(s, 2), 1);
	testhub_stop(th);
}

/* A store failure at any statement of a blocks prune fails it (-1, none
 * deleted) and leaves the block; the next prune deletes it. */
static void test_a_failing_blocks_prune_fails_and_keeps_the_block(void)
{
	struct testhub *th = testhub_start(NULL);
	struct store *s = th ? th->reader : NULL;
	int64_t now = time_now_ms();
	size_t n = 99;
	long total;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	fail_statement(s, 0);
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 30, now, NULL, &n), 0); /* none to delete */
	total = s->fault_calls;
	fail_none(s);
	CU_ASSERT(total >= 3); /* begin, delete, commit */
	put_block(s, "c_old", now - 31 * DAY_MS);
	for (long k = 1; k <= total; k++) {
		fail_statement(s, k);
		CU_ASSERT_EQUAL(privacy_blocks_prune(s, 30, now, NULL, &n), -1);
		fail_none(s);
		CU_ASSERT_EQUAL(n, 0);
		CU_ASSERT_EQUAL(is_blocked(s, "c_old"), 1);
	}
	CU_ASSERT_EQUAL(privacy_blocks_prune(s, 30, now, NULL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(is_blocked(s, "c_old"), 0);
	testhub_stop(th);
}

/* A request record that cannot be read (no created_at) is the first to
 * go, before the oldest readable one. */
static void test_an_unreadable_request_record_goes_first(void)
{
	static const char key[] = PRIVACY_REQUEST_PREFIX "pr_ffffffffffffffff";
	struct testhub *th = testhub_start(NULL);
	struct store *s = th ? th->reader : NULL;
	char value[256];
	size_t n = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	put_requests(s, 3);
	CU_ASSERT_EQUAL(s->ops->meta_put(s, key, "{\"id\":"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	CU_ASSERT_EQUAL(privacy_requests_prune(s, 3, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(s->ops->meta_get(s, key, value, sizeof(value)), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(has_request(s, i), 1);
	testhub_stop(th);
}

/* An erase's record: type erase, source "privacy", the request's ID as
 * its message_id (an API erase's record is found and deduplicated by
 * them), and the identifier; identity.blocked_values do not stop it (a
 * value blocked since it was stored still names its holder), the built-in
 * junk words do. */
static void test_an_erase_record_names_its_request_and_passes_blocked_values(void)
{
	static char *const blocked[] = {"ann-blocked"};
	struct record_rules rules = {.blocked_values = blocked, .n_blocked_values = 1};
	struct record *rec = NULL;
	char err[256];

	CU_ASSERT_EQUAL(privacy_erase_record(&rules, "custom_id", "ann-blocked", "pr_r1", &rec,
					     err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_STRING_EQUAL(rec->source, "privacy");
	CU_ASSERT_STRING_EQUAL(rec->message_id, "pr_r1");
	CU_ASSERT_STRING_EQUAL(rec->custom_id ? rec->custom_id : "", "ann-blocked");
	record_free(rec);
	rec = NULL;
	CU_ASSERT_EQUAL(privacy_erase_record(&rules, "installation_id", "undefined", "pr_r2",
					     &rec, err, sizeof(err)),
			HUB_ERR_DATA);
	CU_ASSERT_PTR_NULL(rec);
	CU_ASSERT(err[0] != '\0');
}

/* The record of request `id` (what GET /v1/privacy/requests/<id> answers),
 * a new reference; NULL when there is none. */
static json_t *request_record(struct store *s, const char *id)
{
	char key[64], text[512];

	privacy_request_key(key, sizeof(key), id);
	if (s->ops->meta_get(s, key, text, sizeof(text)) != 1)
		return NULL;
	return json_loads(text, 0, NULL);
}

/* privacy_erase_submit returns once the erase is committed: the person is
 * gone when it returns, and the request's record says "done" (`profilehub
 * privacy erase` left none: GET /v1/privacy/requests/<id> knew only the
 * API's erases).  An unusable identifier is HUB_ERR_DATA, saying why, and
 * erases nobody and records nothing. */
static void test_an_erase_submitted_is_committed_when_it_returns(void)
{
	static const char ann[] = "{\"type\":\"identify\",\"message_id\":\"m1\","
				  "\"identifiers\":{\"custom_id\":\"ann\"}}\n";
	struct testhub *th = testhub_start(NULL);
	char ids[1][PROFILE_ID_SIZE], err[256] = "";
	json_t *rec;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, ann), 0);
	CU_ASSERT_EQUAL(profile_find(th->reader, "custom_id", "ann", ids, 1), 1);
	CU_ASSERT_EQUAL(privacy_erase_submit(th->intake, &th->rules, "custom_id", "null",
					     "pr_s1", NULL, err, sizeof(err)),
			HUB_ERR_DATA);
	CU_ASSERT(err[0] != '\0');
	CU_ASSERT_EQUAL(profile_find(th->reader, "custom_id", "ann", ids, 1), 1);
	CU_ASSERT_PTR_NULL(request_record(th->reader, "pr_s1"));
	CU_ASSERT_EQUAL(privacy_erase_submit(th->intake, &th->rules, "custom_id", "ann", "pr_s2",
					     NULL, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(profile_find(th->reader, "custom_id", "ann", ids, 1), 0);
	rec = request_record(th->reader, "pr_s2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(rec, "id")), "pr_s2");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(rec, "type")), "erase");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(rec, "status")), "done");
	CU_ASSERT_PTR_NULL(json_object_get(rec, "custom_id")); /* never whom */
	json_decref(rec);
	testhub_stop(th);
}

/* Out of memory while reading the request records (each allocation in
 * turn failing, and every one after it) fails the prune (-1) and deletes
 * none: it is never taken for "nothing to delete". */
static void test_requests_prune_out_of_memory_fails_and_deletes_none(void)
{
	struct testhub *th = testhub_start(NULL);
	struct store *s = th ? th->reader : NULL;
	size_t n = 99;
	int rc = -1, n_failed = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	put_requests(s, 3);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	for (long k = 1; k < 100 && rc != 0; k++) {
		alloc_fail_after(k);
		rc = privacy_requests_prune(s, 1, &n);
		alloc_fail_after(0);
		if (rc == 0)
			break;
		n_failed++;
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_EQUAL(n, 0);
		for (int i = 0; i < 3; i++)
			CU_ASSERT_EQUAL(has_request(s, i), 1);
	}
	CU_ASSERT(n_failed >= 1); /* its list of records is allocated */
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(has_request(s, 2), 1);
	testhub_stop(th);
}

/* Waits at most 10 s for the intake's queue to hold n batches; 1 when it did. */
static int wait_queue_depth(struct intake *in, int n)
{
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = {0, 10 * 1000000L};
		struct intake_stats st;
		intake_get_stats(in, &st);
		if (st.queue_depth == n)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Whether a session of the server waits for an advisory lock (pg_locks). */
static int pg_someone_waits_for_a_lock(void)
{
	return teststore_pg_exec(getenv("HUB_TEST_PG_URL"),
				 "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_locks WHERE"
				 " locktype = 'advisory' AND NOT granted) THEN RAISE EXCEPTION"
				 " 'no waiter'; END IF; END$$") == 0;
}

/* PostgreSQL, several writers: an erase by profile ID names no identifier,
 * so its group locks none up front; it locks the profile itself
 * (profile_lock), the lock another process's group takes for a record of
 * that person, and waits for it.  Here a transaction of the test holds
 * that lock: the erase waits, and goes on when it is released. */
static void test_pg_an_erase_by_profile_id_waits_for_the_profile_s_lock(void)
{
	static const char ann[] = "{\"type\":\"identify\",\"message_id\":\"m1\","
				  "\"identifiers\":{\"custom_id\":\"ann\"}}\n";
	struct testhub *th;
	struct store *lock;
	struct record *rec = NULL;
	struct intake_batch b;
	char ids[1][PROFILE_ID_SIZE], err[256] = "";
	int waited = 0;

	if (!teststore_is_pg())
		return; /* SQLite: one writer, nothing to lock */
	th = testhub_start(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, ann), 0);
	CU_ASSERT_EQUAL_FATAL(profile_find(th->reader, "custom_id", "ann", ids, 1), 1);
	lock = th->reader;
	CU_ASSERT_EQUAL_FATAL(lock->ops->begin(lock), 0);
	CU_ASSERT_EQUAL_FATAL(lock->ops->profile_lock(lock, ids[0]), 0);
	CU_ASSERT_EQUAL_FATAL(privacy_erase_record(&th->rules, "profile_id", ids[0], "pr_l1",
						   &rec, err, sizeof(err)),
			      HUB_OK);
	b = (struct intake_batch){.records = &rec, .n_records = 1};
	CU_ASSERT_EQUAL_FATAL(intake_submit(th->intake, &b), HUB_OK);
	for (int i = 0; i < 1000 && !(waited = pg_someone_waits_for_a_lock()); i++) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	CU_ASSERT(waited); /* without the profile's lock the erase runs at once */
	CU_ASSERT_EQUAL(profile_find(lock, "custom_id", "ann", ids, 1), 1);
	CU_ASSERT_EQUAL(lock->ops->rollback(lock), 0);
	CU_ASSERT_EQUAL(intake_wait(th->intake, &b), HUB_OK);
	CU_ASSERT_EQUAL(profile_find(th->reader, "custom_id", "ann", ids, 1), 0);
	record_free(rec);
	testhub_stop(th);
}

/* An erase the intake cannot queue (full: intake.queue_max 1, its writer
 * held up) is HUB_ERR_BUSY, and err says so for the CLI to print.  SQLite:
 * one writer at a time, so a transaction of the test's holds it up. */
static void test_an_erase_the_intake_cannot_take_says_so(void)
{
	struct testhub *th;
	struct record *recs[2] = {NULL, NULL};
	struct intake_batch b[2];
	struct store *lock;
	char err[256] = "";

	if (teststore_is_pg())
		return; /* writers side by side: none is held up */
	th = testhub_start("intake:\n  queue_max: 1\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	lock = th->reader;
	CU_ASSERT_EQUAL_FATAL(lock->ops->begin(lock), 0); /* the writer waits in its BEGIN */
	for (int i = 0; i < 2; i++) {
		char mid[16];
		snprintf(mid, sizeof(mid), "pr_b%d", i);
		CU_ASSERT_EQUAL_FATAL(privacy_erase_record(&th->rules, "custom_id", mid, mid,
							   &recs[i], err, sizeof(err)),
				      HUB_OK);
		b[i] = (struct intake_batch){.records = &recs[i], .n_records = 1};
		CU_ASSERT_EQUAL_FATAL(intake_submit(th->intake, &b[i]), HUB_OK);
		/* the first is taken by the writer, the second fills the queue */
		CU_ASSERT_FATAL(wait_queue_depth(th->intake, i));
	}
	CU_ASSERT_EQUAL(privacy_erase_submit(th->intake, &th->rules, "custom_id", "ann", "pr_s3",
					     NULL, err, sizeof(err)),
			HUB_ERR_BUSY);
	CU_ASSERT_STRING_EQUAL(err, "the erase was not done: nothing was erased (the intake cannot"
				    " take it now); run it again");
	CU_ASSERT_EQUAL(lock->ops->rollback(lock), 0);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(intake_wait(th->intake, &b[i]), HUB_OK);
		record_free(recs[i]);
	}
	testhub_stop(th);
}

TEST_SUITE(housekeep, NULL, NULL,
	   TEST(test_run_deletes_blocks_a_period_past_their_end_at_start_and_hourly),
	   TEST(test_run_uses_the_configured_period_and_keeps_the_last_requests),
	   TEST(test_prune_goes_a_chunk_at_a_time_until_none_is_left),
	   TEST(test_the_oldest_privacy_request_records_go),
	   TEST(test_blocks_go_exactly_a_period_past_their_end),
	   TEST(test_a_failing_blocks_prune_fails_and_keeps_the_block),
	   TEST(test_a_failing_requests_prune_fails_and_keeps_every_record),
	   TEST(test_an_unreadable_request_record_goes_first),
	   TEST(test_requests_prune_out_of_memory_fails_and_deletes_none),
	   TEST(test_an_erase_record_names_its_request_and_passes_blocked_values),
	   TEST(test_an_erase_submitted_is_committed_when_it_returns),
	   TEST(test_pg_an_erase_by_profile_id_waits_for_the_profile_s_lock),
	   TEST(test_an_erase_the_intake_cannot_take_says_so))
