/*
 * kvcache.h - a bounded cache of short string keys to small fixed-size
 * values, for the SQLite writer (identifier owners, blocked values).
 *
 * Set-associative: a key lives in one bucket of KVCACHE_WAYS entries; a
 * full bucket evicts its oldest entry.  Memory is fixed at init, whatever
 * the number of keys.  Keys longer than KVCACHE_KEY_MAX are never cached
 * (get misses, put ignores them): callers fall back to the store.
 *
 * A cache is only as right as its owner's invalidation: whoever writes the
 * underlying rows must put or forget the key in the same step, and clear
 * the whole cache when anything else may have written them (a rollback,
 * another connection's commit).
 */
#ifndef HUB_KVCACHE_H
#define HUB_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#define KVCACHE_KEY_MAX 62 /* bytes of "part1\0part2" */
#define KVCACHE_VALUE_SIZE 24
#define KVCACHE_WAYS 4

struct kvcache_entry;

struct kvcache {
	struct kvcache_entry *entries; /* n_buckets * KVCACHE_WAYS */
	size_t n_buckets;              /* a power of two */
	uint32_t epoch;                /* bumped by kvcache_clear */
	uint32_t clock;                /* use ticks, for the eviction order */
	uint64_t hits, misses;
};

/* Sizes the cache for about `capacity` keys (rounded up to a power of
 * two).  The memory is zeroed pages, touched only as entries fill in.
 * 0 or -1 (out of memory). */
int kvcache_init(struct kvcache *c, size_t capacity);
void kvcache_free(struct kvcache *c);
void kvcache_clear(struct kvcache *c);

/* The key is the pair (a, b).  get: 1 hit (value copied out), 0 miss.
 * put: 0 stored, 1 stored by evicting another key, -1 not cacheable (too
 * long, or no memory). */
int kvcache_get(struct kvcache *c, const char *a, const char *b,
		unsigned char value[KVCACHE_VALUE_SIZE]);
int kvcache_put(struct kvcache *c, const char *a, const char *b,
		 const unsigned char value[KVCACHE_VALUE_SIZE]);
void kvcache_forget(struct kvcache *c, const char *a, const char *b);

#endif
