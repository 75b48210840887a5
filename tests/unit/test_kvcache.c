/*
 * test_kvcache.c - suite `kvcache`: the SQLite writer's bounded cache
 * (hub/kvcache.c) returns what was put last, forgets and clears, never
 * answers a key it does not hold (a full bucket evicts its least recently
 * used entry; an evicted key misses), refuses keys too long to hold, and
 * stays within its slots.
 */
#include "testlib.h"

#include "../../hub/alloc.h"
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

/* The pair is the key whatever bytes its parts hold: ("a" c, "b") is
 * never ("a", c "b"), for every byte c a string can hold. */
static void test_kvcache_pair_parts_never_run_together(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];
	char a[3] = "a", b[3] = "b";

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	value_of(v, "p_1");
	for (int ch = 1; ch < 256; ch++) {
		a[1] = (char)ch;
		b[0] = (char)ch;
		b[1] = 'b';
		CU_ASSERT(kvcache_put(&c, a, "b", v) >= 0);
		CU_ASSERT_EQUAL(kvcache_get(&c, "a", b, got), 0);
		kvcache_clear(&c);
	}
	kvcache_free(&c);
}

/* Keys spread over the buckets: 16 keys in a cache of 4 buckets of 4 are
 * not all held by one bucket, also when they differ only in the high bits
 * of a byte ("k!00", "k%00", "k)00", ...: the same 2 low bits), so the
 * bucket, taken from the hash's low bits, depends on the byte's high bits.
 * Not of the last byte: FNV-1a's multiply carries its bits only upwards
 * and the final xor-shift folds bits 29 and up, so in a table this small
 * they never reach the bucket; the hub's caches have 2,048 buckets or
 * more, whose 11 low bits take every bit of the last byte as it is. */
static void test_kvcache_keys_spread_over_the_buckets(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];
	char key[5] = "k?00";
	int held = 0;

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 4 * KVCACHE_WAYS), 0);
	CU_ASSERT_EQUAL_FATAL(c.n_buckets, 4);
	value_of(v, "p_1");
	for (int i = 0; i < 4 * KVCACHE_WAYS; i++) {
		key[1] = (char)(0x21 + 4 * i);
		CU_ASSERT(kvcache_put(&c, "t", key, v) >= 0);
	}
	for (int i = 0; i < 4 * KVCACHE_WAYS; i++) {
		key[1] = (char)(0x21 + 4 * i);
		held += kvcache_get(&c, "t", key, got);
	}
	CU_ASSERT(held > KVCACHE_WAYS);
	kvcache_free(&c);
}

/* The capacity is rounded up to whole buckets, a power of two of them. */
static void test_kvcache_init_rounds_buckets_up_to_a_power_of_two(void)
{
	static const struct {
		size_t capacity, n_buckets;
	} rows[] = {
		{0, 1}, {1, 1}, {KVCACHE_WAYS, 1}, {KVCACHE_WAYS + 1, 2},
		{3 * KVCACHE_WAYS, 4}, {5 * KVCACHE_WAYS, 8}, {8 * KVCACHE_WAYS, 8},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kvcache c;

		CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, rows[i].capacity), 0);
		CU_ASSERT_EQUAL(c.n_buckets, rows[i].n_buckets);
		kvcache_free(&c);
	}
}

/* Out of memory at init: -1, and the cache holds nothing but is safe to
 * use (its owner then reads everything from the store). */
static void test_kvcache_init_out_of_memory_holds_nothing(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];

	value_of(v, "p_1");
	alloc_fail_after(1);
	CU_ASSERT_EQUAL(kvcache_init(&c, 64), -1);
	alloc_fail_after(0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", "k", v), -1);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k", got), 0);
	kvcache_forget(&c, "t", "k");
	kvcache_clear(&c);
	kvcache_free(&c);
}

/* A freed cache is empty: it misses, refuses puts and may be freed again
 * (the SQLite writer frees a half-made pair, then again at close). */
static void test_kvcache_freed_cache_holds_nothing_and_frees_again(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];

	value_of(v, "p_1");
	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, KVCACHE_WAYS), 0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", "k", v), 0);
	kvcache_free(&c);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k", got), 0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", "k", v), -1);
	kvcache_free(&c);
}

/* Hits and misses are counted from init, whatever the struct held. */
static void test_kvcache_counts_hits_and_misses_from_init(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];

	value_of(v, "p_1");
	memset(&c, 0xff, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k", got), 0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", "k", v), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k", got), 1);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k", got), 1);
	CU_ASSERT_EQUAL(c.hits, 2);
	CU_ASSERT_EQUAL(c.misses, 1);
	kvcache_free(&c);
}

/* Every byte of a value comes back. */
static void test_kvcache_value_comes_back_whole(void)
{
	struct kvcache c;
	unsigned char v[KVCACHE_VALUE_SIZE], got[KVCACHE_VALUE_SIZE];

	for (int i = 0; i < KVCACHE_VALUE_SIZE; i++)
		v[i] = (unsigned char)(0xa0 + i);
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, 64), 0);
	CU_ASSERT_EQUAL(kvcache_put(&c, "t", "k", v), 0);
	CU_ASSERT_EQUAL(kvcache_get(&c, "t", "k", got), 1);
	CU_ASSERT_EQUAL(memcmp(got, v, KVCACHE_VALUE_SIZE), 0);
	kvcache_free(&c);
}

/* Cleared slots are empty: after the use tick wraps (the cleared entries
 * then carry larger ticks than the live ones), a put still fills them
 * before it evicts a live entry. */
static void test_kvcache_put_fills_cleared_slots_after_the_tick_wraps(void)
{
	struct kvcache c;

	CU_ASSERT_EQUAL_FATAL(kvcache_init(&c, KVCACHE_WAYS), 0);
	CU_ASSERT_EQUAL_FATAL(c.n_buckets, 1);
	c.clock = UINT32_MAX - KVCACHE_WAYS; /* the last puts before the wrap */
	for (int i = 0; i < KVCACHE_WAYS; i++)
		CU_ASSERT_EQUAL(put_key(&c, i), 0);
	kvcache_clear(&c);
	for (int i = KVCACHE_WAYS; i < 2 * KVCACHE_WAYS; i++)
		CU_ASSERT_EQUAL(put_key(&c, i), 0); /* no eviction */
	for (int i = KVCACHE_WAYS; i < 2 * KVCACHE_WAYS; i++)
		CU_ASSERT(get_key(&c, i));
	kvcache_free(&c);
}

TEST_SUITE(kvcache, NULL, NULL,
	   TEST(test_get_returns_the_last_put_until_forgotten_or_cleared),
	   TEST(test_a_key_too_long_is_never_held),
	   TEST(test_a_cleared_entry_stays_gone_when_the_epoch_wraps),
	   TEST(test_a_full_cache_evicts_and_never_answers_wrong),
	   TEST(test_a_full_bucket_evicts_the_least_recently_used),
	   TEST(test_an_entry_put_as_the_tick_wraps_is_held),
	   TEST(test_kvcache_pair_parts_never_run_together),
	   TEST(test_kvcache_keys_spread_over_the_buckets),
	   TEST(test_kvcache_init_rounds_buckets_up_to_a_power_of_two),
	   TEST(test_kvcache_init_out_of_memory_holds_nothing),
	   TEST(test_kvcache_freed_cache_holds_nothing_and_frees_again),
	   TEST(test_kvcache_counts_hits_and_misses_from_init),
	   TEST(test_kvcache_value_comes_back_whole),
	   TEST(test_kvcache_put_fills_cleared_slots_after_the_tick_wraps))
