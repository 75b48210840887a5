/*
 * test_housekeep.c - suite `housekeep`: the erase blocks an erase leaves
 * (IDENTITY.md section 7) are deleted once over for a second
 * erase_block_days on the wall clock (privacy_blocks_prune), a chunk per
 * transaction; `run`'s upkeep thread (housekeep.c) does it at start and
 * then every interval, and the intake then takes a late record it refused
 * before.  Blocks that ended more recently, or have not ended, stay.  The
 * privacy request records past the last PRIVACY_REQUESTS_KEPT go, oldest
 * first (privacy_requests_prune).
 *
 * Runs on SQLite, and on PostgreSQL with HUB_TEST_STORE=postgres.
 */
#include "testhub.h"
#include "testlib.h"

#include "../../hub/housekeep.h"
#include "../../hub/privacy.h"
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
 * privacy request records, and logs how many blocks it deleted. */
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
	CU_ASSERT_EQUAL(testlib_lines_with(log, "deleted 1 erase blocks that ended 10 days ago"),
			1);
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

TEST_SUITE(housekeep, NULL, NULL,
	   TEST(test_run_deletes_blocks_a_period_past_their_end_at_start_and_hourly),
	   TEST(test_run_uses_the_configured_period_and_keeps_the_last_requests),
	   TEST(test_prune_goes_a_chunk_at_a_time_until_none_is_left),
	   TEST(test_the_oldest_privacy_request_records_go))
