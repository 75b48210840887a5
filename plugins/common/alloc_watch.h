/*
 * alloc_watch.h - whether memory ran out on this thread while a plugin read
 * or built JSON, through the host's alloc_failed() (ABI 1.8).  jansson
 * reports memory running out in a parse as a syntax error, and leaves a
 * member or a byte out of what it builds or prints, so a push source asks
 * before it answers 400 or hands a record to the host.  Header-only, like
 * text.h.
 */
#ifndef PLUGINS_COMMON_ALLOC_WATCH_H
#define PLUGINS_COMMON_ALLOC_WATCH_H

#include <hub_plugin.h>

/* The host's alloc_failed(), or NULL when it has none (a host older than
 * ABI 1.8, a fuzzer's): the watch json_loadb_big_ints() takes. */
static inline int (*alloc_watch_of(const struct hub_host *host))(int clear)
{
	return HUB_HOST_HAS(host, alloc_failed) ? host->alloc_failed : NULL;
}

/* 1 when an allocation failed on this thread since the last look, which
 * starts a new watch; 0 when not, or when the host cannot tell. */
static inline int alloc_watch_lost(const struct hub_host *host)
{
	int (*alloc_failed)(int clear) = alloc_watch_of(host);

	return alloc_failed && alloc_failed(1);
}

#endif
