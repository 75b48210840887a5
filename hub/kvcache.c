/*
 * kvcache.c - a bounded set-associative cache of short string pairs to
 * small values (see kvcache.h).  No locking: one owner thread.
 */
#include "kvcache.h"

#include "alloc.h"

#include <string.h>

struct kvcache_entry {
	uint64_t hash;
	uint32_t used;            /* last use tick; 0: the slot is empty */
	uint32_t epoch;           /* valid only while equal to the cache's */
	uint8_t key_len;
	char key[KVCACHE_KEY_MAX];
	unsigned char value[KVCACHE_VALUE_SIZE];
};

/* The next use tick (every get and put advances it); never 0, which marks
 * an empty slot. */
static uint32_t kvcache_tick(struct kvcache *c)
{
	if (++c->clock == 0)
		c->clock = 1;
	return c->clock;
}

/* Builds "a\0b" into key; its length, or -1 when it does not fit. */
static int kvcache_key(const char *a, const char *b, char key[KVCACHE_KEY_MAX])
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + 1 + lb > KVCACHE_KEY_MAX)
		return -1;
	memcpy(key, a, la);
	key[la] = '\0';
	memcpy(key + la + 1, b, lb);
	return (int)(la + 1 + lb);
}

static uint64_t kvcache_hash(const char *key, int len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (int i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

int kvcache_init(struct kvcache *c, size_t capacity)
{
	size_t n = 1;
	memset(c, 0, sizeof(*c));
	while (n * KVCACHE_WAYS < capacity)
		n <<= 1;
	c->entries = hub_calloc(n * KVCACHE_WAYS, sizeof(*c->entries));
	if (!c->entries)
		return -1;
	c->n_buckets = n;
	return 0;
}

void kvcache_free(struct kvcache *c)
{
	hub_free(c->entries);
	memset(c, 0, sizeof(*c));
}

/* O(1), and touches no memory: entries of an older epoch are empty.  When
 * the epoch wraps, every slot is emptied for real: a slot left untouched
 * since the epoch last had this value would come back to life. */
void kvcache_clear(struct kvcache *c)
{
	if (++c->epoch == 0 && c->entries)
		memset(c->entries, 0, c->n_buckets * KVCACHE_WAYS * sizeof(*c->entries));
}

static int kvcache_is_live(const struct kvcache *c, const struct kvcache_entry *e)
{
	return e->used && e->epoch == c->epoch;
}

/* The entry holding key, or NULL; *bucket set to the key's bucket. */
static struct kvcache_entry *kvcache_find(struct kvcache *c, const char *key, int len,
					  uint64_t h, struct kvcache_entry **bucket)
{
	struct kvcache_entry *e = &c->entries[(h & (c->n_buckets - 1)) * KVCACHE_WAYS];
	*bucket = e;
	for (int i = 0; i < KVCACHE_WAYS; i++, e++)
		if (kvcache_is_live(c, e) && e->hash == h && e->key_len == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

int kvcache_get(struct kvcache *c, const char *a, const char *b,
		unsigned char value[KVCACHE_VALUE_SIZE])
{
	char key[KVCACHE_KEY_MAX];
	struct kvcache_entry *bucket, *e;
	int len;

	if (!c->entries || (len = kvcache_key(a, b, key)) < 0)
		return 0;
	e = kvcache_find(c, key, len, kvcache_hash(key, len), &bucket);
	if (!e) {
		c->misses++;
		return 0;
	}
	c->hits++;
	e->used = kvcache_tick(c);
	memcpy(value, e->value, KVCACHE_VALUE_SIZE);
	return 1;
}

int kvcache_put(struct kvcache *c, const char *a, const char *b,
		const unsigned char value[KVCACHE_VALUE_SIZE])
{
	char key[KVCACHE_KEY_MAX];
	struct kvcache_entry *bucket, *e;
	int len, evicted = 0;
	uint64_t h;

	if (!c->entries || (len = kvcache_key(a, b, key)) < 0)
		return -1;
	h = kvcache_hash(key, len);
	e = kvcache_find(c, key, len, h, &bucket);
	if (!e) {
		/* an empty slot, else the one used longest ago */
		e = bucket;
		for (int i = 1; i < KVCACHE_WAYS && kvcache_is_live(c, e); i++)
			if (!kvcache_is_live(c, &bucket[i]) || bucket[i].used < e->used)
				e = &bucket[i];
		evicted = kvcache_is_live(c, e);
		e->hash = h;
		e->epoch = c->epoch;
		e->key_len = (uint8_t)len;
		memcpy(e->key, key, (size_t)len);
	}
	e->used = kvcache_tick(c);
	memcpy(e->value, value, KVCACHE_VALUE_SIZE);
	return evicted;
}

void kvcache_forget(struct kvcache *c, const char *a, const char *b)
{
	char key[KVCACHE_KEY_MAX];
	struct kvcache_entry *bucket, *e;
	int len;

	if (!c->entries || (len = kvcache_key(a, b, key)) < 0)
		return;
	e = kvcache_find(c, key, len, kvcache_hash(key, len), &bucket);
	if (e)
		e->used = 0;
}
