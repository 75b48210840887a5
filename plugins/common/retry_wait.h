/*
 * retry_wait.h - the wait before a request is sent again in place after a
 * transient failure (a warehouse poll or page read): doubling from a first
 * wait, or the server's Retry-After when that is longer.  Header-only, so
 * that a fuzz target may include several plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_RETRY_WAIT_H
#define PLUGINS_COMMON_RETRY_WAIT_H

#include <stdlib.h>

/* Milliseconds before try number n_failed + 1: first_ms doubled n_failed
 * times, or retry_after (the header's seconds, digits only, or "") capped
 * at max_s, whichever is longer. */
static inline long retry_wait_ms(int n_failed, long first_ms, const char *retry_after,
				 long max_s)
{
	long ms = first_ms << n_failed;
	long asked_s = strtol(retry_after, NULL, 10);

	if (asked_s > max_s)
		asked_s = max_s;
	if (asked_s * 1000 > ms)
		ms = asked_s * 1000;
	return ms;
}

#endif
