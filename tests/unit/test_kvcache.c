/*
 * test_kvcache.c - suite `kvcache`: the SQLite writer's bounded cache
 * (hub/kvcache.c) returns what was put last, forgets and clears, never
 * answers a key it does not hold (a full bucket evicts its least recently
 * used entry; an evicted key misses), refuses keys too long to hold, and
 * stays within its slots.
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

/* "a\0b" of KVCACHE_KEY_MAX bytes is held; one byte more never is. */
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
	longv[KVCACHE_KEY_MAX - 2] = '\0'; /* "t" + NUL + 60 bytes: the most */
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", longv, v), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", longv, got), 1);
	longv[KVCACHE_KEY_MAX - 2] = 'x'; /* one more */
	longv[KVCACHE_KEY_MAX - 1] = '\0';
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

static int put_key(struct kvcache *c, int i)
{
	unsigned char v[KVCACHE_VALUE_SIZE];
	char key[16];

	snprintf(key, sizeof(key), "k%d", i);
	value_of(v, key);
	return kvcache_put(c, "t", key, v);
}

static int get_key(struct kvcache *c, int i)
{
	unsigned char got[KVCACHE_VALUE_SIZE];
	char key[16];

	snprintf(key, sizeof(key), "k%d", i);
	return kvcache_get(c, "t", key, got) && strcmp((char *)got, key) == 0;
}

/* One bucket: its empty slots fill first, then a put evicts the entry
 * used longest ago, a get or a put of a held key counting as a use. */
static void test_a_full_bucket_evicts_the_least_recently_used(void)
{
	struct kvcache c;

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, KVCACHE_WAYS), 0);
	CU_ASSERT_EQUAL_FATAL(c.n_buckets, 1);
	for (int i = 0; i < KVCACHE_WAYS; i++)
		CU_ASSERT_EQUAL(put_key(&c, i), 0); /* no eviction while a slot is empty */
	CU_ASSERT(get_key(&c, 0));                  /* k0 used: k1 is now the oldest */
	CU_ASSERT_EQUAL(put_key(&c, 2), 0);         /* k2 used again */
	CU_ASSERT_EQUAL(put_key(&c, KVCACHE_WAYS), 1);     /* evicts k1 */
	CU_ASSERT_EQUAL(put_key(&c, KVCACHE_WAYS + 1), 1); /* evicts k3 */
	CU_ASSERT(!get_key(&c, 1));
	CU_ASSERT(!get_key(&c, 3));
	CU_ASSERT(get_key(&c, 0));
	CU_ASSERT(get_key(&c, 2));
	CU_ASSERT(get_key(&c, KVCACHE_WAYS));
	CU_ASSERT(get_key(&c, KVCACHE_WAYS + 1));
	kvcache_free(&c);
}

/* The use tick is 32 bits and 0 marks an empty slot: an entry put as the
 * tick wraps is still held. */
static void test_an_entry_put_as_the_tick_wraps_is_held(void)
{
	struct kvcache c;

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	c.clock = UINT32_MAX - 1; /* 2^32 - 2 uses later */
	CU_ASSERT_EQUAL(put_key(&c, 0), 0); /* tick 2^32 - 1 */
	CU_ASSERT_EQUAL(put_key(&c, 1), 0); /* the tick wraps */
	CU_ASSERT(get_key(&c, 1));
	CU_ASSERT(get_key(&c, 0));
	kvcache_free(&c);
}

TEST_SUITE(kvcache, NULL, NULL,
	   TEST(test_get_returns_the_last_put_until_forgotten_or_cleared),
	   TEST(test_a_key_too_long_is_never_held),
	   TEST(test_a_cleared_entry_stays_gone_when_the_epoch_wraps),
	   TEST(test_a_full_cache_evicts_and_never_answers_wrong),
	   TEST(test_a_full_bucket_evicts_the_least_recently_used),
	   TEST(test_an_entry_put_as_the_tick_wraps_is_held))
