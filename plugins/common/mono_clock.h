/*
 * mono_clock.h - the monotonic clock in milliseconds, the one the
 * warehouse plugins time their waits, deadlines and query_timeout by (a
 * wall clock stepped by NTP or a restored VM would stretch or cut them).
 * Header-only, as retry_wait.h, so that a fuzz target may include several
 * plugins into one translation unit; the hub has its own (time_mono_ms),
 * which a plugin cannot call: it sees only hub_plugin.h.
 */
#ifndef PLUGINS_COMMON_MONO_CLOCK_H
#define PLUGINS_COMMON_MONO_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t mono_clock_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

#endif
