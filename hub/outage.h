/*
 * outage.h - a failure that repeats (a store that cannot commit, cannot
 * be opened) logged as a state, not one line per failure: its first
 * failure with the cause, a reminder with the count at most every so
 * often while it lasts, and one line when it ends.  The caller writes the
 * lines; this keeps the times and the count.  Not locked: the caller's
 * lock (or thread) guards it.  Used by intake.c and api.c.
 */
#ifndef HUB_OUTAGE_H
#define HUB_OUTAGE_H

#include <stdint.h>

struct outage {
	int64_t since_ms;  /* wall clock of the first failure; 0: none running */
	int64_t began_ms;  /* the same, monotonic */
	int64_t logged_ms; /* monotonic: the last line about it */
	int64_t n;         /* failures counted since it began */
};

enum outage_line {
	OUTAGE_QUIET = 0, /* counted; nothing to log */
	OUTAGE_FIRST,     /* it begins: log the cause */
	OUTAGE_REMIND,    /* every_ms since the last line: log the count */
};

/* Counts n failures (n >= 0) and says what to log. */
enum outage_line outage_fail(struct outage *o, int64_t n, int64_t every_ms);

/* A success: 1 when an outage was running, copied to *was (to log its
 * end: since_ms, n, and outage_seconds()), and now over; else 0. */
int outage_end(struct outage *o, struct outage *was);

/* How long the outage `was` lasted, in whole seconds. */
int64_t outage_seconds(const struct outage *was);

#endif
