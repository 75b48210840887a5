/*
 * intake.h - the intake queue and its single writer.  Callers (HTTP
 * handlers, syncs, import) submit validated batches and wait; the writer
 * applies them in arrival order, many batches per transaction (group
 * commit), commits durably, then wakes the waiters.  A batch is all or
 * nothing.  A full queue refuses at once (HUB_ERR_BUSY) instead of growing.
 */
#ifndef HUB_INTAKE_H
#define HUB_INTAKE_H

#include "config.h"
#include "record.h"
#include "store.h"
#include "unify.h"

#include <pthread.h>

struct intake;

/* Batches of one ordered stream (an import): once one of them fails, every
 * later one fails too without being applied, so what is stored is always a
 * prefix of the stream, and running it again from the start (dedupe skips
 * the stored part) gives what a clean run would.  Zero it before the first
 * submit; then only the intake touches it. */
struct intake_chain {
	uint64_t n_submitted;    /* numbers the batches in submission order */
	int is_failed;
	uint64_t failed_no;      /* the first failed batch's number */
	/* the writer's: the first of its batches that failed in the attempt
	 * of a group now running (0: none), final only with the group's
	 * outcome: a conflict runs the group again, where it may pass */
	uint64_t tried_failed_no;
};

/* A warning of the writer's about one record of a batch: a value the
 * record's state-dependent rules left out, the rest of it applied (an
 * array op past 25 items: profile.h). */
#define INTAKE_WARNINGS_KEPT 8
struct intake_warning {
	size_t index;            /* the record's, in the batch's records */
	char message[200];       /* "attributes.tags: ..." */
};

/* One unit of all-or-nothing work.  The submitter owns the struct and the
 * records; it must not touch either between submit and wait. */
struct intake_batch {
	struct record **records;
	size_t n_records;
	/* optional: a meta row committed in the same transaction (a pull
	 * cursor; an erase request's record, api_privacy.c) */
	const char *cursor_key;
	const char *cursor_value;
	/* optional, with a cursor only: a second meta row in that transaction
	 * (the cursor columns a pull cursor was read with, sync_columns.c) */
	const char *columns_key;
	const char *columns_value;
	/* optional fencing of the cursor: when fence_key is set and the batch
	 * carries a cursor, the meta value under fence_key (a lease's epoch,
	 * "lease_epoch:sync:<source>") is read in the same transaction and
	 * must equal fence_epoch; else the batch is refused whole (rc
	 * HUB_ERR_CONFIG, is_fenced 1: the lease was taken by another process
	 * since, this holder must stop).  No row under fence_key (a lease
	 * never taken) passes. */
	const char *fence_key;
	int64_t fence_epoch;
	/* optional: the ordered stream the batch belongs to (see above) */
	struct intake_chain *chain;
	uint64_t chain_no;       /* the queue's: its number in the chain */

	/* results, valid after intake_wait() */
	hub_rc rc;              /* HUB_OK, or HUB_RETRY / HUB_ERR_CONFIG (fenced):
				   nothing of the batch is stored */
	int is_fenced;          /* refused: the fence epoch moved (lease lost) */
	int is_outcome_unknown; /* HUB_RETRY from a COMMIT whose answer was lost,
				   the store unable to tell since whether it
				   committed: it may all be stored (a resend is
				   safe: dedupe) */
	char err[640];          /* a store's error (512) and what failed: cut
				   at 256, SQLite's hint of what to do was lost */
	struct unify_counts counts;   /* counts.warnings: the writer's warnings */
	enum unify_outcome *outcomes; /* optional, n_records entries, caller-owned */
	struct intake_warning warnings[INTAKE_WARNINGS_KEPT]; /* the first ones */
	size_t n_warnings;            /* kept in warnings[] */

	/* the queue's */
	int is_done;
	int is_failed;          /* the writer's: taken out of its group */
	struct intake_batch *next;
};

struct intake_stats {
	int64_t batches;
	int64_t commits;
	int64_t records;
	int64_t applied;
	int64_t duplicates; /* records of a (source, message_id) already stored */
	int64_t blocked;    /* records of an identifier on the erasure block list */
	int64_t refused;    /* records the identity rules refused (an alias of two
			     * known profiles) */
	int64_t failed_commits;
	int queue_depth;
	/* commit latency histogram, upper bounds in ms: 1 2 5 10 25 50 100 250 500 1000
	 * 2500 5000 10000 30000 +Inf (a full group takes seconds on PostgreSQL; a
	 * commit waited INTAKE_STALL_MS, 30 s, is stalled); measured in
	 * microseconds, so a commit shorter than a millisecond counts what it
	 * took (not 0 or 1 ms, as the millisecond clock ticked) */
	int64_t commit_us_buckets[15];
	int64_t commit_us_sum;
	/* the store cannot commit: since when (wall clock, ms; 0 while groups
	 * commit) and the batches refused since.  Set by the first group that
	 * could store nothing (its BEGIN, COMMIT or every batch failing);
	 * cleared by the next that commits, or by the writer's own probe: while
	 * it lasts and no batch comes, the writer tries a commit every
	 * INTAKE_PROBE_MS (a load balancer sends nothing to a hub not ready) */
	int64_t failing_since_ms;
	int64_t failing_refused;
	/* how long the group being committed has run, once that is
	 * INTAKE_STALL_MS or more (else 0): the store keeps it waiting (on
	 * PostgreSQL a lock another session holds on a table, which a
	 * statement waits for without end), and every request waits with it */
	int64_t stalled_ms;
};

#define INTAKE_PROBE_MS 1000
#define INTAKE_STALL_MS 30000 /* a full group on PostgreSQL (50,000 records) takes about 20 s */
#define INTAKE_PROBE_KEY "intake_probe" /* the meta row the probe writes: its time */

/* Starts the writer thread; it takes ownership of `store` (closed by
 * intake_stop).  Returns 0 or -1. */
int intake_start(struct intake **out, struct store *store, const struct hub_config *cfg,
		 char *err, size_t err_size);

/* For a bulk loader (import) that keeps more than a group's records in
 * flight: groups grow to group_max_records and take the batches that
 * arrive while they run, so commits are few and large.  Commit latency
 * grows with them: not for request/response callers.  Call before the
 * first submit.  A store with several writers (PostgreSQL) keeps its
 * groups at most their usual size: there this only makes them smaller. */
void intake_set_bulk(struct intake *in, size_t group_max_records);

/* Tests: a group running stall_ms or longer is stalled (INTAKE_STALL_MS). */
void intake_set_stall(struct intake *in, int64_t stall_ms);

/* Queues a batch.  HUB_OK, HUB_ERR_BUSY (queue full), HUB_ERR_STOPPED. */
hub_rc intake_submit(struct intake *in, struct intake_batch *b);
/* Waits until the batch is committed or failed; returns b->rc. */
hub_rc intake_wait(struct intake *in, struct intake_batch *b);

/* Applies what is queued, stops the writer, closes the store. */
void intake_stop(struct intake *in);

void intake_get_stats(struct intake *in, struct intake_stats *st);

#endif
