/*
 * test_kvcache.c - suite `kvcache`: the SQLite writer's bounded cache
 * (hub/kvcache.c) returns what was put last, forgets and clears, never
 * answers a key it does not hold (a full bucket evicts; an evicted key
 * misses), refuses keys too long to hold, and stays within its slots.
 */
#include "testlib.h"

#include "../../hub/kvcache.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void value_of(unsigned char v[KVCACHE_VALUE_SIZE], const char *text)
{
	memset(v, 0, KVCACHE_VALUE_SIZE);
	snprintf((char *)v, KVCACHE_VALUE_SIZE, "%s", text);
}

static void test_get_returns_the_last_put_until_forgotten_or_cleared(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 0);
	value_of(v, "p_1");
	CU_ASSERT_EQUAL(kvcache_put(&c, "custom_id", "u1", v), 0);
	value_of(v, "p_2");
	CU_ASSERT_EQUAL(kvcache_put(&c, "custom_id", "u1", v), 0); /* the same key */
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 1);
	CU_ASSERT_STRING_EQUAL((char *)got, "p_2");
	/* the pair is the key: ("custom_id", "u1") is not ("custom_idu", "1") */
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_idu", "1", got), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "installation_id", "u1", got), 0);

	kvcache_forget(&c, "custom_id", "u1");
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "custom_id", "u1", v), 0);
	kvcache_clear(&c);
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 0);
	kvcache_free(&c);
}

/* The epoch that marks live entries is 32 bits: after 2^32 clears it is
 * back to a value old entries still carry (the writer clears at every
 * rollback and after another connection's commit: weeks of uptime).  An
 * entry cleared then must stay gone.  The clears between are skipped by
 * setting the epoch to its last value. */
static void test_a_cleared_entry_stays_gone_when_the_epoch_wraps(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	value_of(v, "p_old");
	CU_ASSERT_EQUAL(kvcache_put(&c, "custom_id", "u1", v), 0); /* at epoch 0 */
	kvcache_clear(&c);
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 0);
	c.epoch = UINT32_MAX; /* 2^32 - 1 clears later */
	kvcache_clear(&c);    /* back to 0 */
	CU_ASSERT_EQUAL(c.epoch, 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 0);
	/* and the cache works on */
	CU_ASSERT_EQUAL(kvcache_put(&c, "custom_id", "u1", v), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "custom_id", "u1", got), 1);
	kvcache_free(&c);
}

static void test_a_key_too_long_is_never_held(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];
	char longv[KVCACHE_KEY_MAX + 1];

	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	value_of(v, "p_1");
	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", longv, v), -1);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", longv, got), 0);
	kvcache_free(&c);
}

/* 4 buckets of KVCACHE_WAYS slots and 200 keys: every answer is the value
 * put for that key, evictions are reported, and the recent keys stay. */
static void test_a_full_cache_evicts_and_never_answers_wrong(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];
	char key[16];
	int evictions = 0, hits = 0;

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 4 * KVCACHE_WAYS), 0);
	CU_ASSERT_EQUAL(c.n_buckets, 4);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		value_of(v, key);
		evictions += kvcache_put(&c, "t", key, v) == 1;
	}
	CU_ASSERT(evictions >= 200 - 4 * KVCACHE_WAYS);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (kvcache_get(&c, "t", key, got)) {
			hits++;
			CU_ASSERT_STRING_EQUAL((char *)got, key);
		}
	}
	CU_ASSERT(hits > 0 && hits <= 4 * KVCACHE_WAYS);
	/* the last key put is held */
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k199", got), 1);
	kvcache_free(&c);
}

TEST_SUITE(kvcache, NULL, NULL,
	   TEST(test_get_returns_the_last_put_until_forgotten_or_cleared),
	   TEST(test_a_key_too_long_is_never_held),
	   TEST(test_a_cleared_entry_stays_gone_when_the_epoch_wraps),
	   TEST(test_a_full_cache_evicts_and_never_answers_wrong))
