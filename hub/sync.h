/*
 * sync.h - one sync run of a pull source: the committed cursor is read,
 * the plugin's pull() is called page after page, and every checkpoint
 * commits the page's records together with its cursor (one intake batch,
 * one transaction) before the plugin goes on.  Transient failures are
 * retried with backoff; `profilehub sync` and the scheduler both run
 * syncs through here.
 */
#ifndef HUB_SYNC_H
#define HUB_SYNC_H

#include "intake.h"
#include "plugin.h"
#include "record.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* A stop request (SIGTERM, the hub stopping) that also cuts a backoff
 * wait short.  should_stop() of a running pull reads is_stopping. */
struct sync_stop {
	atomic_int is_stopping;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	clockid_t clock; /* the one cond's timed waits read */
};

void sync_stop_init(struct sync_stop *s);
void sync_stop_destroy(struct sync_stop *s);
void sync_stop_request(struct sync_stop *s);
/* Waits `ms` or until a stop is requested; returns 1 when stopping. */
int sync_stop_wait_ms(struct sync_stop *s, int64_t ms);

#define SYNC_MAX_REASONS 5
#define SYNC_REASON_SIZE 512

/* What a run did.  Counts cover committed pages only. */
struct sync_report {
	hub_rc rc;            /* HUB_OK (caught up), HUB_ERR_STOPPED, or the failure */
	char err[1024];       /* the failure, for people */
	int64_t read;         /* records the plugin emitted, and items it reject()ed */
	int64_t applied, duplicates, blocked, refused;
	int64_t rejected;     /* refused by validation or the plugin (reasons below) */
	int64_t skipped;      /* items the plugin deliberately did not store (skip()) */
	int64_t warnings;     /* values dropped as invalid or over a limit (the records
				 * applied) */
	/* the first distinct reasons, each with where it was first seen when
	 * the plugin says: "no usable identifier (first in the row with
	 * UPDATED_AT=2026-11-01T10:00:00Z)" */
	char reasons[SYNC_MAX_REASONS][SYNC_REASON_SIZE];
	size_t n_reasons;
	/* the first distinct warnings ("attributes.$email_address: ...") too */
	char warning_reasons[SYNC_MAX_REASONS][SYNC_REASON_SIZE];
	size_t n_warning_reasons;
	char *cursor;         /* the committed cursor at the end (hub_malloc'd) or NULL */
	int64_t retry_after_ms; /* asked for by the plugin's last RETRY, 0: none */
	int n_retries;        /* transient failures retried during the run */
	int64_t started_ms;   /* wall clock */
	int64_t elapsed_ms;
	int is_lease_lost;    /* rc HUB_ERR_STOPPED: a page's cursor was fenced off
				 (another process took the lease); err says so */
};

struct sync_params {
	struct hub_instance *inst;    /* a pull source (its plugin has pull()) */
	struct intake *intake;
	struct store *reader;         /* reads the committed cursor (meta) */
	pthread_mutex_t *reader_lock; /* held around reader use; NULL: reader is ours */
	const struct record_rules *rules;
	int is_full;                  /* start from cursor_start, not the saved cursor */
	/* the epoch lease_try gave for "sync:<source>"; 0: no fencing.  Every
	 * page that moves the cursor is refused once lease_epoch:sync:<source>
	 * differs (another process took the lease): the run stops. */
	int64_t fence_epoch;
	struct sync_stop *stop;       /* may be NULL */
	/* page_size 0, max_retries < 0: from the source's config, else the
	 * defaults SYNC_PAGE_SIZE and 5 */
	int64_t page_size;
	int max_retries;
	/* backoff between retries; 0: SYNC_BACKOFF_BASE_MS, SYNC_BACKOFF_CAP_MS */
	int64_t backoff_base_ms, backoff_cap_ms;
	/* the most one run waits before retries in all, a plugin's "retry
	 * after" included; a longer wait ends the run (retry_after_ms kept for
	 * the next).  0: SYNC_RUN_WAIT_MAX_MS */
	int64_t run_wait_max_ms;
	uint64_t (*random)(void *ctx); /* NULL: an internal generator */
	/* after every committed page (and at the end); under no lock */
	void (*on_progress)(void *ctx, const struct sync_report *rep);
	void *ctx;
};

#define SYNC_PAGE_SIZE 10000
#define SYNC_BACKOFF_BASE_MS 500
#define SYNC_BACKOFF_CAP_MS 30000
#define SYNC_RUN_WAIT_MAX_MS (5 * 60 * 1000LL) /* 5 minutes, as bq_job.c RUN_WAIT_MAX_MS */
#define SYNC_IDLE_MORE_MAX 3 /* HUB_MORE from pulls that did nothing: an error */

/* Runs one sync.  Fills *rep (sync_report_free() it) and returns rep->rc. */
hub_rc sync_run(const struct sync_params *p, struct sync_report *rep);
void sync_report_free(struct sync_report *rep);

/* "cursor:<source>": the meta key holding a source's committed cursor. */
void sync_cursor_key(const char *source, char *buf, size_t size);

/* sync_columns.c: "cursor_columns:<source>", the meta key holding the
 * cursor columns the committed cursor was read with (written with it). */
void sync_cursor_columns_key(const char *source, char *buf, size_t size);
/* The source's `cursor` config as a JSON array of lowercased names
 * (hub_malloc'd), or NULL when it names none. */
char *sync_cursor_columns(const struct hub_instance *inst);
/* 1 when the saved columns are the first columns of `now` (both from
 * sync_cursor_columns()): a cursor saved with them still applies. */
int sync_cursor_columns_fit(const char *saved, const char *now);



#endif
