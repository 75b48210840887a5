/*
 * alloc.h - the one allocation wrapper of the hub.
 *
 * Every allocation in hub/ goes through these so tests can make the Nth one
 * fail (alloc_fail_after) and prove each entry point survives out-of-memory.
 * They behave like malloc & co. and return NULL on failure; nothing aborts.
 */
#ifndef HUB_ALLOC_H
#define HUB_ALLOC_H

#include <stddef.h>

void *hub_malloc(size_t size);
void *hub_calloc(size_t n, size_t size);
void *hub_realloc(void *p, size_t size);
char *hub_strdup(const char *s);
char *hub_strndup(const char *s, size_t n);
void hub_free(void *p);

/* Tests: make the allocation number n (1-based, counted from now) and every
 * later one fail; 0 turns injection off.  alloc_count() returns how many
 * allocations were attempted since the last call to alloc_fail_after(). */
void alloc_fail_after(long n);
long alloc_count(void);
/* Tests: make the allocation number n alone fail (a failure the next
 * allocation does not repeat); 0 turns injection off. */
void alloc_fail_only(long n);

/* Whether an allocation of this thread failed since alloc_failed_clear():
 * hub_* and hub_json_malloc set it.  For callers of a library that does not
 * say out of memory apart from bad input (jansson's json_loads). */
void alloc_failed_clear(void);
int alloc_failed_seen(void);
/* alloc_failed_seen(), then alloc_failed_clear() when `clear`: the host's
 * alloc_failed() (ABI 1.8), and the watch of json_loadb_big_ints(). */
int alloc_failed_poll(int clear);
/* malloc for jansson (json_set_alloc_funcs, with hub_free): no injection,
 * no counting, only alloc_failed_seen(). */
void *hub_json_malloc(size_t size);

#endif
