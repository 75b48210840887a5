/*
 * outage.h - a failure that repeats (a store that cannot commit, cannot
 * be opened, a lag that cannot be read) logged as a state, not one line
 * per failure: its first failure with the cause, a reminder with the
 * count at most every so often while it lasts, and one line when it
 * ends, each in the words of struct outage_words.  Not locked: the
 * caller's lock (or thread) guards it.  Used by intake.c, api.c,
 * export.c and store_pg_exec.c.
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

/*
 * The lines of one kind of outage, in the module's log:
 *   error  "<first>: <cause>; <meanwhile> (logged again at most every N s)"
 *   error  "<ongoing> since <time>: <n> <counted> so far; the last: <cause>"
 *   info   "<over> (<was> since <time>, for <s> s: <n> <counted>)"
 * (the first two at warn with is_warn: a failure of something outside the
 * hub that it waits out, losing nothing, as an export's receiver down).
 */
struct outage_words {
	const char *module;    /* "intake" */
	int64_t every_ms;      /* a reminder at most this often */
	const char *first;     /* "store commits failing" */
	const char *meanwhile; /* "batches are refused (retry later) until ..." */
	const char *ongoing;   /* "store commits failing" */
	const char *counted;   /* "batches refused" */
	const char *over;      /* "store commits succeed again" */
	const char *was;       /* "failing" */
	int is_warn;           /* the first line and reminders at warn, not error */
};

/* Counts n failures (n >= 0; the cause: err) and logs the outage's first
 * line or a reminder when one is due. */
void outage_note_failure(struct outage *o, const struct outage_words *w, int64_t n,
			 const char *err);

/* A success: logs the end of the outage if one was running.  Returns 1
 * when one ended, else 0. */
int outage_note_ok(struct outage *o, const struct outage_words *w);

#endif
