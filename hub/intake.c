/*
 * intake.c - the queue and the one writer thread (group commit).
 *
 * Thread ownership: the queue (head/tail/depth) is shared under `lock`;
 * the store connection and the unify state belong to the writer thread
 * alone.  A group is every batch queued when the writer wakes (up to
 * GROUP_MAX_RECORDS records): BEGIN, the batches, COMMIT (a real fsync),
 * then every waiter of the group is woken.  A batch that fails is taken out
 * and the group runs again without it.  If the commit fails, every batch of
 * the group fails with HUB_RETRY: nothing of it was stored.  In bulk mode
 * (intake_set_bulk: import) a group also takes the batches that arrive
 * while it runs, up to the loader's own size, so it commits seldom.
 */
#include "intake.h"

#include "alloc.h"
#include "export.h"
#include "log.h"
#include "outage.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_MAX_RECORDS 50000
#define GROUP_MAX_TRIES 8 /* attempts of a group that conflicts with another process */

/* the histogram's upper bounds (intake.h), in microseconds */
static const int64_t commit_bounds_us[14] = {
	1000,   2000,   5000,    10000,   25000,   50000,   100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};
_Static_assert(sizeof(commit_bounds_us) / sizeof(commit_bounds_us[0]) + 1 ==
		       sizeof(((struct intake_stats *)0)->commit_us_buckets) / sizeof(int64_t),
	       "one bound per bucket of intake_stats.commit_us_buckets but +Inf");

struct intake {
	pthread_mutex_t lock;
	pthread_cond_t work;      /* writer waits for batches */
	pthread_cond_t done;      /* submitters wait for results */
	pthread_t writer;
	struct intake_batch *head, *tail; /* under lock */
	int depth;                /* under lock */
	int max_depth;
	int is_stopping;          /* under lock */
	struct intake_stats stats;/* under lock */
	size_t group_max;         /* records per group; set before the first submit */
	int is_bulk;              /* groups take batches that arrive while they run */
	int64_t group_began_ms;   /* writer thread only: when the group's transaction began */
	int64_t group_taken_ms;   /* under lock: when the group running was taken (0: none) */
	int64_t stall_ms;         /* a group running longer is stalled (/readyz) */

	struct store *store;      /* writer thread only */
	struct unify unify;       /* writer thread only */
	/* writer thread only: groups that could not be stored
	 * (writer_note_group) */
	struct outage failing;     /* its n: batches refused since */
	struct intake_batch probe; /* writer thread only: writer_probe's */
};

/*
 * The fence of a holder's batch (a sync page: its records, and its cursor
 * when it has one; a tail without a checkpoint is fenced too): the lease
 * epoch under fence_key, read in the batch's transaction and held to its
 * end (so a take by another process waits for it), must still be the one
 * the holder took.  1 passes, 0 refused (b->err set), -1 store failure.
 */
static int fence_check(struct store *s, struct intake_batch *b)
{
	char buf[32], *end;
	long long now;
	int rc;

	if (!b->fence_key)
		return 1;
	rc = s->ops->meta_get_held(s, b->fence_key, buf, sizeof(buf));
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 1; /* no lease recorded: a store without leases */
	now = strtoll(buf, &end, 10);
	if (end != buf && *end == '\0' && now == (long long)b->fence_epoch)
		return 1;
	snprintf(b->err, sizeof(b->err),
		 "lease lost: %s is %s, this holder took epoch %lld; nothing of the page was"
		 " stored, the cursor was not moved", b->fence_key, buf, (long long)b->fence_epoch);
	return 0;
}

/* Counts the writer's warnings about record `index` of b, keeping the
 * first ones' text. */
static void batch_note_warnings(struct intake_batch *b, size_t index,
				const struct record_warnings *w)
{
	b->counts.warnings += (int64_t)w->total;
	for (size_t i = 0; i < w->n && b->n_warnings < INTAKE_WARNINGS_KEPT; i++) {
		struct intake_warning *iw = &b->warnings[b->n_warnings++];
		iw->index = index;
		snprintf(iw->message, sizeof(iw->message), "%s", w->items[i]);
	}
}

/* A batch's results, before it is applied (again) or when it fails. */
static void batch_reset(struct intake_batch *b)
{
	memset(&b->counts, 0, sizeof(b->counts));
	b->n_warnings = 0;
}

/*
 * Applies one batch inside the group's transaction.  0: applied, or refused
 * by its fence (which writes nothing).  -1: a store failure; the caller
 * rolls the whole transaction back (no savepoint per batch: SQLite copies
 * every page a savepoint touches into a sub-journal, which cost a quarter
 * of the writer's time), then runs the group again without this batch.
 */
static int apply_batch(struct intake *in, struct intake_batch *b)
{
	struct store *s = in->store;
	int fence;

	batch_reset(b);
	b->rc = HUB_OK;
	b->is_fenced = 0;
	b->err[0] = '\0';
	fence = fence_check(s, b);
	if (fence < 0)
		return -1;
	if (fence == 0) {
		b->rc = HUB_ERR_CONFIG;
		b->is_fenced = 1;
		log_warn("intake", "batch refused: %s", b->err);
		return 0;
	}
	for (size_t i = 0; i < b->n_records; i++) {
		struct record_warnings w = {0};
		enum unify_outcome o;
		int rc = unify_apply(&in->unify, b->records[i], &o, &w);

		batch_note_warnings(b, i, &w);
		record_warnings_clear(&w);
		if (rc)
			return -1;
		unify_count(&b->counts, o);
		if (b->outcomes)
			b->outcomes[i] = o;
	}
	if (b->cursor_key && s->ops->meta_put(s, b->cursor_key, b->cursor_value))
		return -1;
	if (b->cursor_key && b->columns_key &&
	    s->ops->meta_put(s, b->columns_key, b->columns_value))
		return -1;
	return 0;
}

/* The batch failed alone: HUB_RETRY, nothing of it stored. */
static void batch_fail(struct intake_batch *b, const char *why)
{
	snprintf(b->err, sizeof(b->err), "store failed: %s", why);
	b->rc = HUB_RETRY;
	b->is_failed = 1;
	batch_reset(b);
	/* logged by writer_note_group: alone, or as the store's failing state */
}

/*
 * A chain has two failure marks.  failed_no is final, set when a group's
 * outcome is known (chain_settle, writer_main).  tried_failed_no is the
 * running attempt's: a batch that fails alone sets it, so the later batches
 * of its chain in the group are refused in that attempt too; the next
 * attempt (after a conflict) clears it with the batches' is_failed, so a
 * batch that passes on the retry leaves its chain whole.  A mark, not a
 * look back along the group, which can hold thousands of batches.  Between
 * groups it is 0, so a batch that joins a running group (bulk mode) finds
 * its chain's mark right.
 */

/* Its chain failed at an earlier batch, for good or in this attempt: it
 * must not be stored. */
static int chain_refuses(const struct intake_batch *b)
{
	const struct intake_chain *c = b->chain;

	return c && ((c->is_failed && b->chain_no > c->failed_no) ||
		     (c->tried_failed_no && b->chain_no > c->tried_failed_no));
}

/* b failed alone in the running attempt. */
static void chain_fail_tried(struct intake_batch *b)
{
	struct intake_chain *c = b->chain;

	if (c && (!c->tried_failed_no || b->chain_no < c->tried_failed_no))
		c->tried_failed_no = b->chain_no;
}

/* The group's outcome is final: a failed b fails the batches after it in
 * its chain for good, and the attempt's mark goes. */
static void chain_settle(struct intake_batch *b)
{
	struct intake_chain *c = b->chain;

	if (!c)
		return;
	if (b->rc != HUB_OK && (!c->is_failed || b->chain_no < c->failed_no)) {
		c->is_failed = 1;
		c->failed_no = b->chain_no;
	}
	c->tried_failed_no = 0;
}

/* A batch of a chain that failed earlier: refused unapplied, quietly (the
 * failure that caused it was logged). */
static void batch_fail_chained(struct intake_batch *b)
{
	snprintf(b->err, sizeof(b->err), "not stored: an earlier batch of the same stream failed");
	b->rc = HUB_RETRY;
	b->is_failed = 1;
	batch_reset(b);
}

/* Every batch of the group fails: nothing of it was stored.  A batch that
 * already failed alone keeps its own reason. */
static void group_fail(struct intake_batch *group, const char *what, const char *why)
{
	for (struct intake_batch *b = group; b; b = b->next) {
		if (b->is_failed)
			continue;
		b->rc = HUB_RETRY;
		b->is_fenced = 0;
		b->is_outcome_unknown = 0;
		batch_reset(b);
		snprintf(b->err, sizeof(b->err), "store %s failed: %s", what, why);
	}
}

static void stats_commit(struct intake_stats *st, int64_t us)
{
	size_t i = 0;
	while (i < ARRAY_SIZE(commit_bounds_us) && us > commit_bounds_us[i])
		i++;
	st->commit_us_buckets[i]++;
	st->commit_us_sum += us;
	st->commits++;
}

static int ident_cmp(const void *a, const void *b)
{
	const struct store_ident *x = a, *y = b;
	int c = strcmp(x->type, y->type);
	return c ? c : strcmp(x->value, y->value);
}

static int ident_add(struct store_ident **ids, size_t *n, size_t *cap, const char *type,
		     const char *value)
{
	if (!value)
		return 0;
	if (*n == *cap) {
		size_t grown = *cap ? 2 * *cap : 256;
		void *p = hub_realloc(*ids, grown * sizeof(**ids));
		if (!p)
			return -1;
		*ids = p;
		*cap = grown;
	}
	(*ids)[(*n)++] = (struct store_ident){.type = type, .value = value};
	return 0;
}

/*
 * Several hub processes on one PostgreSQL: before anything is read, lock
 * every identifier the group names (a previous_id as both a custom_id and
 * an installation_id), sorted and without repeats, so two groups meet in
 * one order (store.h ident_lock; SQLite does nothing).
 */
static int group_lock_identifiers(struct store *s, struct intake_batch *group)
{
	struct store_ident *ids = NULL;
	size_t n = 0, cap = 0, kept = 0;
	int rc = -1;

	for (struct intake_batch *b = group; b; b = b->next) {
		for (size_t i = 0; i < b->n_records; i++) {
			const struct record *r = b->records[i];
			if (ident_add(&ids, &n, &cap, "custom_id", r->custom_id) ||
			    ident_add(&ids, &n, &cap, "installation_id", r->installation_id) ||
			    ident_add(&ids, &n, &cap, "custom_id", r->previous_id) ||
			    ident_add(&ids, &n, &cap, "installation_id", r->previous_id))
				goto oom;
			for (size_t k = 0; k < r->n_externals; k++)
				if (ident_add(&ids, &n, &cap, r->externals[k].type,
					      r->externals[k].value))
					goto oom;
		}
	}
	if (n) /* ids is NULL when the group names none */
		qsort(ids, n, sizeof(*ids), ident_cmp);
	for (size_t i = 0; i < n; i++)
		if (kept == 0 || ident_cmp(&ids[kept - 1], &ids[i]) != 0)
			ids[kept++] = ids[i];
	rc = s->ops->ident_lock(s, ids, kept);
	hub_free(ids);
	return rc;
oom:
	hub_free(ids);
	err_set(s->err, sizeof(s->err), "out of memory");
	return -1;
}

/*
 * Bulk mode: the group's last batch has run, so batches queued since the
 * group began join it (up to group_max records), and one commit
 * covers them all.  A bulk loader keeps more records in flight than a group
 * holds, so the queue is seldom empty and the commits, each of which
 * rewrites every page the group dirtied, become rare.  Only where one
 * writer serializes everything (SQLite; intake_set_bulk): elsewhere every
 * identifier of a group is locked up front (group_lock_identifiers).
 */
/* A bulk group stops taking batches after this long (looked at after
 * each batch): the store's other writers (a hub beside an import) wait
 * for its commit at most about this long, well within their lock timeout
 * (10 s) on any machine (the SQLite store then gives them a turn:
 * store_sqlite_tx.c).  Shorter groups cost the import: 1 s made the 1M
 * benchmark 5-15 % slower; a 150,000-record group takes about 5 s on the
 * development machine. */
#define INTAKE_BULK_MS 4000

static void writer_extend_group(struct intake *in, struct intake_batch *last,
				size_t *n_records)
{
	if (time_mono_ms() - in->group_began_ms >= INTAKE_BULK_MS)
		return; /* long enough: commit, and let another process's writer in */
	/* one batch at a time: the caller comes back after applying it, so
	 * the time is looked at every batch, not once for a queue of them */
	pthread_mutex_lock(&in->lock);
	if (in->head && *n_records + in->head->n_records <= in->group_max) {
		struct intake_batch *b = in->head;
		in->head = b->next;
		if (!in->head)
			in->tail = NULL;
		in->depth--;
		b->next = NULL;
		b->is_failed = 0;
		*n_records += b->n_records;
		last->next = b;
	}
	pthread_mutex_unlock(&in->lock);
}

/*
 * One attempt at a group; returns with every batch's rc set.  A batch that
 * fails alone (a store error that is not a conflict) is marked failed, the
 * transaction is rolled back and the rest of the group runs again without
 * it, and without the later batches of its chain; each pass drops a batch,
 * so this ends.  A conflict ends the attempt with nothing failed for good.
 */
static void writer_try_group(struct intake *in, struct intake_batch *group, int64_t *commit_us)
{
	struct store *s = in->store;
	struct intake_batch *b;
	size_t n_records = 0;
	int64_t t0;

	for (b = group; b; b = b->next) {
		b->is_failed = 0;
		if (b->chain)
			b->chain->tried_failed_no = 0; /* a new attempt: nothing failed yet */
		n_records += b->n_records;
	}
again:
	/* the feed's question first: it may wait for an export's
	 * registration, which must not wait for locks this group holds */
	if (s->ops->begin(s) || unify_group_outbox(&in->unify) ||
	    (!s->ops->has_one_writer && group_lock_identifiers(s, group)) ||
	    unify_group_begin(&in->unify)) {
		group_fail(group, "transaction", store_error(s));
		s->ops->rollback(s);
		return;
	}
	in->group_began_ms = time_mono_ms();
	for (b = group; b; b = b->next) {
		if (!b->is_failed && chain_refuses(b))
			batch_fail_chained(b);
		if (b->is_failed || apply_batch(in, b) == 0) {
			if (!b->next && in->is_bulk)
				writer_extend_group(in, b, &n_records);
			continue;
		}
		if (s->is_retryable) {
			group_fail(group, "transaction", store_error(s));
			s->ops->rollback(s);
			return;
		}
		batch_fail(b, store_error(s));
		chain_fail_tried(b); /* the later batches of its stream too */
		if (s->ops->rollback(s)) {
			group_fail(group, "rollback", store_error(s));
			return;
		}
		goto again;
	}
	t0 = time_mono_us();
	if (s->ops->commit(s)) {
		group_fail(group, "commit", store_error(s));
		for (b = group; b && s->is_commit_unknown; b = b->next)
			b->is_outcome_unknown = !b->is_failed;
		s->ops->rollback(s);
		return;
	}
	*commit_us = time_mono_us() - t0;
}

/*
 * Runs one group.  A deadlock or serialization failure against another hub
 * process (the store sets is_retryable) rolls the group back and runs it
 * again, after a random pause that doubles each time (at most ~0.5 s).  A
 * lock_timeout (a DBA's LOCK TABLE) is not run again: it waited its
 * seconds already, and the group's requests would wait GROUP_MAX_TRIES
 * times as long for their 503.
 */
static void writer_run_group(struct intake *in, struct intake_batch *group, int64_t *commit_us)
{
	struct store *s = in->store;
	int64_t began_ms = time_mono_ms();

	for (int attempt = 1;; attempt++) {
		struct timespec pause;
		long ms;

		writer_try_group(in, group, commit_us);
		if (*commit_us >= 0 || !s->is_retryable)
			return;
		if (attempt == GROUP_MAX_TRIES || s->is_lock_timeout) {
			log_warn("intake", "group gave up after %d conflict%s in %lld ms: %s",
				 attempt, plural_s((size_t)attempt),
				 (long long)(time_mono_ms() - began_ms), store_error(s));
			return;
		}
		ms = 1 + random() % (2L << (attempt < 8 ? attempt : 8));
		log_debug("intake", "group conflicts with another writer, retry in %ld ms: %s", ms,
			  store_error(s));
		pause.tv_sec = ms / 1000;
		pause.tv_nsec = ms % 1000 * 1000000L;
		nanosleep(&pause, NULL);
	}
}

/* b was taken out of its group by a store failure of its own, not refused
 * unapplied because an earlier batch of its stream failed (chain_refuses,
 * still true until chain_settle). */
static int batch_failed_in_store(const struct intake_batch *b)
{
	return b->is_failed && !chain_refuses(b);
}

/*
 * A group that committed without some of its batches: one line for the
 * group, not one a batch (a stream's batches after one that failed are
 * refused with it, as many as it had in the group), naming how many were
 * rolled back, the first one's failure, and how many were refused after
 * an earlier batch of their stream failed.  Only when a batch failed in
 * the store: those refused alone, unapplied, rolled nothing back.
 */
static void writer_note_rolled_back(const struct intake_batch *group, int64_t n_stored)
{
	const char *first = "";
	int64_t n = 0, n_failed = 0, n_chained = 0;
	char chained[96] = "";

	for (const struct intake_batch *b = group; b; b = b->next, n++) {
		if (!b->is_failed)
			continue;
		if (!batch_failed_in_store(b)) {
			n_chained++;
			continue;
		}
		if (!n_failed++)
			first = b->err;
	}
	if (n_chained)
		snprintf(chained, sizeof(chained),
			 ", %lld refused after an earlier batch of their stream failed",
			 (long long)n_chained);
	log_error("intake", "group commit stored %lld of %lld batches: %lld rolled back (the first:"
		  " %s)%s", (long long)n_stored, (long long)n, (long long)n_failed, first, chained);
}

#define FAILING_LOG_MS 5000 /* while groups fail: a line about it at most this often */

/*
 * Groups that could not be stored (the store's BEGIN, COMMIT or rollback
 * failing, or every batch of the group failing in its statements: a full
 * disk, a store file gone) are logged as a state, not one line each: the
 * first failure with its cause, then at most one line every FAILING_LOG_MS
 * while it lasts, and one when a group stores a batch again.  A batch that
 * failed alone in a group that stored others is no outage: the group's
 * batches not stored take one line (writer_note_rolled_back).  Every batch
 * is still answered (HTTP 503) and counted (intake_commit_failures_total).
 * A group that gave up after conflicts was logged by writer_run_group.
 */
static const struct outage_words failing_words = {
	.module = "intake",
	.every_ms = FAILING_LOG_MS,
	.first = "store commits failing",
	.meanwhile = "batches are refused (retry later) until a group commits again",
	.ongoing = "store commits failing",
	.counted = "batches refused",
	.over = "store commits succeed again",
	.was = "failing",
};

static void writer_note_group(struct intake *in, const struct intake_batch *group,
			      int64_t commit_us)
{
	const char *why = "";
	int64_t n_refused = 0, n_stored = 0, n_failed = 0;

	for (const struct intake_batch *b = group; b; b = b->next) {
		n_stored += b->rc == HUB_OK && !b->is_failed;
		n_failed += batch_failed_in_store(b);
	}
	if (commit_us >= 0 && n_stored > 0) {
		if (n_failed > 0)
			writer_note_rolled_back(group, n_stored);
		outage_note_ok(&in->failing, &failing_words);
		return;
	}
	if (commit_us < 0 && in->store->is_retryable)
		return; /* gave up after conflicts: not a store that cannot commit */
	if (commit_us >= 0 && n_failed == 0)
		return; /* only batches refused by their fence (a lease lost) or
			 * their stream (an earlier batch failed): they wrote
			 * nothing, which says nothing of the store either way */
	for (const struct intake_batch *b = group; b; b = b->next) {
		n_refused += b->rc != HUB_OK && b != &in->probe;
		if (!why[0] && (commit_us < 0 ? !b->is_failed : batch_failed_in_store(b)))
			why = b->err; /* the group's ("store commit failed: ..."), else
				       * the first batch's */
	}
	/* a group whose every batch had failed alone before its commit (or
	 * BEGIN) failed: group_fail() wrote the group's cause into none of
	 * them, so the first batch's own is the cause (it was logged as
	 * "store commits failing: ;", no cause) */
	for (const struct intake_batch *b = group; b && !why[0]; b = b->next)
		if (batch_failed_in_store(b))
			why = b->err;
	outage_note_failure(&in->failing, &failing_words, n_refused, why);
}

/* The group taken at group_taken_ms has ended: one that ran past
 * stall_ms is logged (readers saw it stalled meanwhile); under lock. */
static void writer_group_ended(struct intake *in)
{
	int64_t took_ms = time_mono_ms() - in->group_taken_ms;

	in->group_taken_ms = 0;
	if (took_ms >= in->stall_ms)
		log_warn("intake", "a group commit took %lld.%03lld s: the store kept it waiting"
			 " (on PostgreSQL: a lock another session held on a table, see"
			 " pg_locks)",
			 (long long)(took_ms / 1000), (long long)(took_ms % 1000));
}

/* The failing state into the stats, for readers (/readyz); under lock. */
static void writer_share_failing(struct intake *in)
{
	in->stats.failing_since_ms = in->failing.since_ms;
	in->stats.failing_refused = in->failing.n;
}

/*
 * While the store cannot commit and no batch comes, the writer tries a
 * group of its own every INTAKE_PROBE_MS: an empty batch whose one write is
 * the meta row INTAKE_PROBE_KEY (the time), through the same BEGIN, locks
 * and COMMIT as any group, so that a full disk, a read-only file or a
 * server gone is met as a batch would meet it.  Its outcome is noted as a
 * group's (writer_note_group, which does not count it as a refused batch),
 * not in the commit counters.  Called without the lock.
 */
static void writer_probe(struct intake *in)
{
	struct intake_batch *b = &in->probe;
	char now[24];
	int64_t commit_us = -1;

	snprintf(now, sizeof(now), "%lld", (long long)time_now_ms());
	memset(b, 0, sizeof(*b));
	b->cursor_key = INTAKE_PROBE_KEY;
	b->cursor_value = now;
	writer_run_group(in, b, &commit_us);
	writer_note_group(in, b, commit_us);
}

/* Waits under the lock for batches or the stop; while the store cannot
 * commit, probes it every INTAKE_PROBE_MS meanwhile.  Not in bulk mode (an
 * import, which serves no /readyz): a bulk group takes the batches queued
 * while it runs, and the probe's must stay alone. */
static void writer_wait_work(struct intake *in)
{
	struct timespec until;

	while (!in->head && !in->is_stopping) {
		if (!in->failing.since_ms || in->is_bulk) {
			pthread_cond_wait(&in->work, &in->lock);
			continue;
		}
		time_deadline(&until, CLOCK_MONOTONIC, INTAKE_PROBE_MS);
		if (pthread_cond_timedwait(&in->work, &in->lock, &until) == 0 || in->head ||
		    in->is_stopping)
			continue;
		in->group_taken_ms = time_mono_ms();
		pthread_mutex_unlock(&in->lock);
		writer_probe(in);
		pthread_mutex_lock(&in->lock);
		writer_group_ended(in);
		writer_share_failing(in);
	}
}

/* Takes the queued batches (up to group_max records) under lock; in bulk
 * mode the first alone, the others joining it one by one while it runs
 * (writer_extend_group, which bounds its time). */
static struct intake_batch *queue_take_group(struct intake *in)
{
	struct intake_batch *group = in->head, *last = in->head;
	size_t n = last->n_records;

	in->depth--;
	while (!in->is_bulk && last->next && n + last->next->n_records <= in->group_max) {
		last = last->next;
		n += last->n_records;
		in->depth--;
	}
	in->head = last->next;
	if (!in->head)
		in->tail = NULL;
	last->next = NULL;
	return group;
}

static void *writer_main(void *arg)
{
	struct intake *in = arg;

	pthread_setname_np(pthread_self(), "hub-intake");
	pthread_mutex_lock(&in->lock);
	for (;;) {
		struct intake_batch *group, *b, *next;
		int64_t commit_us = -1;

		writer_wait_work(in);
		if (!in->head)
			break;
		group = queue_take_group(in);
		in->group_taken_ms = time_mono_ms();
		pthread_mutex_unlock(&in->lock);

		writer_run_group(in, group, &commit_us);
		writer_note_group(in, group, commit_us);

		pthread_mutex_lock(&in->lock);
		writer_group_ended(in);
		writer_share_failing(in);
		if (commit_us >= 0)
			stats_commit(&in->stats, commit_us);
		else
			in->stats.failed_commits++;
		for (b = group; b; b = next) {
			next = b->next;
			chain_settle(b);
			in->stats.batches++;
			in->stats.records += (int64_t)b->n_records;
			in->stats.applied += b->counts.applied;
			in->stats.duplicates += b->counts.duplicates;
			in->stats.blocked += b->counts.blocked;
			in->stats.refused += b->counts.refused;
			b->next = NULL;
			b->is_done = 1;
		}
		pthread_cond_broadcast(&in->done);
	}
	pthread_mutex_unlock(&in->lock);
	return NULL;
}

int intake_start(struct intake **out, struct store *store, const struct hub_config *cfg,
		 char *err, size_t err_size)
{
	struct intake *in = hub_calloc(1, sizeof(*in));

	if (!in) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	/* the writer's probe of a failing store waits on the monotonic clock
	 * (time_deadline): a wall clock set back cannot hold it back */
	if (time_cond_init(&in->work)) {
		hub_free(in);
		err_set(err, err_size, "cannot set up the intake writer's clock");
		return -1;
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->done, NULL);
	/* the exports it writes the feed for are known before its first
	 * write: a new one with `backfill: false` starts at the end of the
	 * feed as it is now (an import listing it gets its changes) */
	if (cfg->n_exports > 0 && export_register_in(store, cfg, err, err_size)) {
		pthread_mutex_destroy(&in->lock);
		pthread_cond_destroy(&in->work);
		pthread_cond_destroy(&in->done);
		hub_free(in);
		return -1;
	}
	in->store = store;
	store->is_intake_writer = 1;
	in->max_depth = cfg->intake_queue_max > 0 ? cfg->intake_queue_max : 1024;
	in->group_max = GROUP_MAX_RECORDS;
	in->stall_ms = INTAKE_STALL_MS;
	unify_init(&in->unify, store, cfg);
	if (pthread_create(&in->writer, NULL, writer_main, in) != 0) {
		err_set(err, err_size, "cannot start the intake writer thread");
		pthread_mutex_destroy(&in->lock);
		pthread_cond_destroy(&in->work);
		pthread_cond_destroy(&in->done);
		hub_free(in);
		return -1;
	}
	*out = in;
	return 0;
}

hub_rc intake_submit(struct intake *in, struct intake_batch *b)
{
	hub_rc rc = HUB_OK;

	b->is_done = 0;
	b->is_outcome_unknown = 0;
	b->next = NULL;
	pthread_mutex_lock(&in->lock);
	if (in->is_stopping) {
		rc = HUB_ERR_STOPPED;
	} else if (in->depth >= in->max_depth) {
		rc = HUB_ERR_BUSY;
	} else {
		if (b->chain)
			b->chain_no = ++b->chain->n_submitted;
		if (in->tail)
			in->tail->next = b;
		else
			in->head = b;
		in->tail = b;
		in->depth++;
		pthread_cond_signal(&in->work);
	}
	pthread_mutex_unlock(&in->lock);
	return rc;
}

hub_rc intake_wait(struct intake *in, struct intake_batch *b)
{
	pthread_mutex_lock(&in->lock);
	while (!b->is_done)
		pthread_cond_wait(&in->done, &in->lock);
	pthread_mutex_unlock(&in->lock);
	return b->rc;
}

void intake_stop(struct intake *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&in->lock);
	in->is_stopping = 1;
	pthread_cond_signal(&in->work);
	pthread_mutex_unlock(&in->lock);
	pthread_join(in->writer, NULL);
	store_close(in->store);
	pthread_mutex_destroy(&in->lock);
	pthread_cond_destroy(&in->work);
	pthread_cond_destroy(&in->done);
	hub_free(in);
}

void intake_set_bulk(struct intake *in, size_t group_max_records)
{
	size_t max = group_max_records ? group_max_records : 1;

	pthread_mutex_lock(&in->lock);
	if (in->store->ops->has_one_writer) {
		in->is_bulk = 1;
		in->group_max = max;
	} else if (max < in->group_max) {
		/* several writers (PostgreSQL): every identifier of a group is
		 * locked up front and a conflict runs the whole group again, so
		 * groups grow no larger, but an import's --commit-every makes
		 * them smaller */
		in->group_max = max;
	}
	pthread_mutex_unlock(&in->lock);
}

void intake_set_stall(struct intake *in, int64_t stall_ms)
{
	pthread_mutex_lock(&in->lock);
	in->stall_ms = stall_ms;
	pthread_mutex_unlock(&in->lock);
}

void intake_get_stats(struct intake *in, struct intake_stats *st)
{
	pthread_mutex_lock(&in->lock);
	*st = in->stats;
	st->queue_depth = in->depth;
	st->stalled_ms = 0;
	if (in->group_taken_ms && time_mono_ms() - in->group_taken_ms >= in->stall_ms)
		st->stalled_ms = time_mono_ms() - in->group_taken_ms;
	pthread_mutex_unlock(&in->lock);
}
