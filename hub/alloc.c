/*
 * alloc.c - allocation wrappers with failure injection for tests.
 * Injection is process-wide and meant for single-threaded unit tests.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_at;  /* 0: never fail */
static atomic_int is_fail_only; /* fail_at alone, not the ones after */
static atomic_long n_calls;
static _Thread_local int has_failed; /* this thread's, since alloc_failed_clear() */

void alloc_fail_after(long n)
{
	atomic_store(&n_calls, 0);
	atomic_store(&is_fail_only, 0);
	atomic_store(&fail_at, n);
}

void alloc_fail_only(long n)
{
	alloc_fail_after(n);
	atomic_store(&is_fail_only, 1);
}

void alloc_failed_clear(void)
{
	has_failed = 0;
}

int alloc_failed_seen(void)
{
	return has_failed;
}

int alloc_failed_poll(int clear)
{
	int seen = has_failed;

	if (clear)
		has_failed = 0;
	return seen;
}

/* p, noting a NULL as this thread's failure. */
static void *alloc_noted(void *p)
{
	if (!p)
		has_failed = 1;
	return p;
}

void *hub_json_malloc(size_t size)
{
	return alloc_noted(malloc(size ? size : 1));
}

long alloc_count(void)
{
	return atomic_load(&n_calls);
}

static int alloc_should_fail(void)
{
	long at = atomic_load(&fail_at);
	long n = atomic_fetch_add(&n_calls, 1) + 1;
	return at > 0 && (atomic_load(&is_fail_only) ? n == at : n >= at);
}

void *hub_malloc(size_t size)
{
	if (alloc_should_fail())
		return alloc_noted(NULL);
	return alloc_noted(malloc(size ? size : 1));
}

void *hub_calloc(size_t n, size_t size)
{
	if (alloc_should_fail())
		return alloc_noted(NULL);
	return alloc_noted(calloc(n ? n : 1, size ? size : 1));
}

void *hub_realloc(void *p, size_t size)
{
	if (alloc_should_fail())
		return alloc_noted(NULL);
	return alloc_noted(realloc(p, size ? size : 1));
}

char *hub_strndup(const char *s, size_t n)
{
	char *d = hub_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *hub_strdup(const char *s)
{
	return s ? hub_strndup(s, strlen(s)) : NULL;
}

void hub_free(void *p)
{
	free(p);
}
