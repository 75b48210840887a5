/*
 * test_alloc.c - suite `alloc`: the allocation wrappers (hub/alloc.c) that
 * every other suite's out-of-memory sweeps stand on: the Nth allocation
 * fails (and every later one, or it alone), the count restarts with each
 * setting, a failure is noted for this thread only, and the wrappers
 * behave like malloc & co. otherwise.
 */
#include "testlib.h"

#include "../../hub/alloc.h"

#include <pthread.h>
#include <string.h>

/* Allocations 1..n with injection as set before; which of them failed,
 * as a string of '.' (allocated) and 'x' (failed). */
static void alloc_pattern(int n, char *out)
{
	for (int i = 0; i < n; i++) {
		void *p = i % 3 == 0 ? hub_malloc(8) : i % 3 == 1 ? hub_calloc(2, 4)
								   : hub_realloc(NULL, 8);

		out[i] = p ? '.' : 'x';
		hub_free(p);
	}
	out[n] = '\0';
}

/* alloc_fail_after(n): the nth allocation, malloc, calloc or realloc,
 * and every later one fail; alloc_fail_only(n): the nth alone; 0: none. */
static void test_alloc_fail_after_and_only_pick_the_nth(void)
{
	char got[8];

	alloc_fail_after(3);
	alloc_pattern(6, got);
	CU_ASSERT_STRING_EQUAL(got, "..xxxx");
	alloc_fail_only(3);
	alloc_pattern(6, got);
	CU_ASSERT_STRING_EQUAL(got, "..x...");
	alloc_fail_after(2); /* after alloc_fail_only: every later one again */
	alloc_pattern(6, got);
	CU_ASSERT_STRING_EQUAL(got, ".xxxxx");
	alloc_fail_after(0);
	alloc_pattern(6, got);
	CU_ASSERT_STRING_EQUAL(got, "......");
	alloc_fail_only(0);
	alloc_pattern(6, got);
	CU_ASSERT_STRING_EQUAL(got, "......");
}

/* alloc_count(): the allocations tried since the last setting, failed
 * ones too; hub_strdup counts as one. */
static void test_alloc_count_restarts_with_each_setting(void)
{
	char got[8];
	char *s;

	alloc_fail_after(0);
	CU_ASSERT_EQUAL(alloc_count(), 0);
	alloc_pattern(5, got);
	CU_ASSERT_EQUAL(alloc_count(), 5);
	alloc_fail_only(2);
	CU_ASSERT_EQUAL(alloc_count(), 0);
	s = hub_strdup("abc");
	hub_free(s);
	alloc_pattern(2, got);
	CU_ASSERT_EQUAL(alloc_count(), 3);
	alloc_fail_after(0);
}

/* A failure is noted until cleared; polling clears it when asked. */
static void test_alloc_failure_is_noted_until_cleared(void)
{
	void *p;

	alloc_fail_after(0);
	alloc_failed_clear();
	p = hub_malloc(8);
	CU_ASSERT_EQUAL(alloc_failed_seen(), 0);
	hub_free(p);
	alloc_fail_only(1);
	CU_ASSERT_PTR_NULL(hub_malloc(8));
	alloc_fail_after(0);
	p = hub_malloc(8); /* a later success does not hide it */
	CU_ASSERT_EQUAL(alloc_failed_seen(), 1);
	CU_ASSERT_EQUAL(alloc_failed_poll(0), 1);
	CU_ASSERT_EQUAL(alloc_failed_poll(1), 1); /* seen, then cleared */
	CU_ASSERT_EQUAL(alloc_failed_poll(0), 0);
	alloc_fail_only(1);
	CU_ASSERT_PTR_NULL(hub_calloc(1, 8));
	alloc_fail_after(0);
	alloc_failed_clear();
	CU_ASSERT_EQUAL(alloc_failed_seen(), 0);
	hub_free(p);
}

static void *alloc_fail_in_thread(void *arg)
{
	(void)arg;
	alloc_failed_clear();
	return (void *)(long)(hub_malloc(8) == NULL && alloc_failed_seen());
}

/* A failure in another thread is that thread's, not this one's. */
static void test_alloc_failure_is_noted_for_its_thread_only(void)
{
	pthread_t t;
	void *failed = NULL;

	alloc_failed_clear();
	alloc_fail_only(1);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, alloc_fail_in_thread, NULL), 0);
	pthread_join(t, &failed);
	alloc_fail_after(0);
	CU_ASSERT_PTR_NOT_NULL(failed); /* the thread saw its failure */
	CU_ASSERT_EQUAL(alloc_failed_seen(), 0);
}

/* Like malloc & co., and never NULL for a size of 0 (NULL is out of
 * memory); hub_strndup copies n bytes and terminates them; hub_strdup of
 * NULL is NULL. */
static void test_alloc_wrappers_copy_and_take_a_zero_size(void)
{
	char *s = NULL, *d = NULL, *z = NULL, *junk;
	void *p = NULL, *q = NULL;

	alloc_fail_after(0);
	alloc_failed_clear();
	junk = hub_malloc(4); /* freed full of 'z': the chunk strndup likely gets */
	CU_ASSERT_PTR_NOT_NULL_FATAL(junk);
	memset(junk, 'z', 4);
	hub_free(junk);
	s = hub_strndup("abcdef", 3);
	d = hub_strdup("xyz");
	CU_ASSERT_PTR_NULL(hub_strdup(NULL));
	CU_ASSERT_STRING_EQUAL(s ? s : "", "abc");
	CU_ASSERT_STRING_EQUAL(d ? d : "", "xyz");
	z = hub_malloc(0);
	p = hub_calloc(0, 8);
	q = hub_realloc(hub_malloc(8), 0);
	CU_ASSERT_PTR_NOT_NULL(z);
	CU_ASSERT_PTR_NOT_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(alloc_failed_seen(), 0);
	hub_free(q);
	hub_free(p);
	hub_free(z);
	hub_free(d);
	hub_free(s);
}

TEST_SUITE(alloc, NULL, NULL, TEST(test_alloc_fail_after_and_only_pick_the_nth),
	   TEST(test_alloc_count_restarts_with_each_setting),
	   TEST(test_alloc_failure_is_noted_until_cleared),
	   TEST(test_alloc_failure_is_noted_for_its_thread_only),
	   TEST(test_alloc_wrappers_copy_and_take_a_zero_size))
