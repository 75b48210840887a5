/*
 * alloc.c - allocation wrappers with failure injection for tests.
 * Injection is process-wide and meant for single-threaded unit tests.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_at;  /* 0: never fail */
static atomic_long n_calls;

void alloc_fail_after(long n)
{
	atomic_store(&n_calls, 0);
	atomic_store(&fail_at, n);
}

long alloc_count(void)
{
	return atomic_load(&n_calls);
}

static int alloc_should_fail(void)
{
	long at = atomic_load(&fail_at);
	long n = atomic_fetch_add(&n_calls, 1) + 1;
	return at > 0 && n >= at;
}

void *hub_malloc(size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *hub_calloc(size_t n, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *hub_realloc(void *p, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
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
