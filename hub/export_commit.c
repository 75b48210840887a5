/*
 * export_commit.c - what an export's worker writes to the store, on its
 * own connection and thread (export_worker.c): its cursor with the plan of
 * its next batch (and a dead letter, and its saved state), the pruning of
 * the change feed and the pages of its backfill; and the lease that lets
 * it write them.
 *
 * Several processes: a worker delivers only while it holds the lease
 * "export:<name>" on its own connection (PostgreSQL: a session advisory
 * lock, gone with the process or the connection).  Held elsewhere: state
 * "held by another process", tried again every EXPORT_POLL_MS.  On each new
 * take (a new epoch) the cursor and saved state are read again: the other
 * process may have moved them.  Released when the worker stops.  Every
 * commit is fenced: lease_epoch:export:<name> is read in the commit's
 * transaction and must still be the epoch of this worker's take; else the
 * lease was lost (another process took it), nothing is written, the lease
 * is dropped and taken again (or found held elsewhere) before the next page.
 *
 * Backfill (export_backfill.c): once a worker has delivered everything
 * before it, it writes the next page of its export's backfill, if one is
 * running, in a fenced transaction of its own, and delivers it as it
 * delivers the rest of the feed.
 *
 * Never an export's cursor, plan or backfill written outside its fence.
 * No SQL here: store.h only.
 */
#include "export_int.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_CHUNK 5000 /* changes deleted per transaction */
#define SAVE_FAILING_LOG_MS 60000 /* while cursor saves fail: a line at most this often */

static _Atomic int64_t prune_interval_ms = 10000;
static _Atomic int load_fault_at; /* tests: the Nth worker_load fails (0: off) */
static _Atomic int disable_save_fault; /* tests: a worker's disable is not saved */
static _Atomic int disable_save_refusals; /* tests: how often it was not */
static _Atomic int cursor_save_fault; /* tests: the next N cursor saves fail */

void export_set_prune_interval(int64_t ms)
{
	atomic_store(&prune_interval_ms, ms > 0 ? ms : 0);
}

void export_set_load_fault(int nth)
{
	atomic_store(&load_fault_at, nth > 0 ? nth : 0);
}

void export_set_disable_save_fault(int on)
{
	atomic_store(&disable_save_fault, on != 0);
}

void export_set_cursor_save_fault(int n)
{
	atomic_store(&cursor_save_fault, n > 0 ? n : 0);
}

/* 1 when this cursor save is one a test wants refused. */
static int cursor_save_fault_hit(void)
{
	int n = atomic_load(&cursor_save_fault);

	while (n > 0 && !atomic_compare_exchange_weak(&cursor_save_fault, &n, n - 1))
		;
	return n > 0;
}

int export_disable_save_refusals(void)
{
	return atomic_load(&disable_save_refusals);
}

/* Inside the caller's transaction: the worker's saved state.  0, or -1
 * with the store's error set. */
static int saved_put(struct export_worker *w)
{
	struct store *s = w->store;

	if (w->saved.is_disabled && atomic_load(&disable_save_fault)) {
		atomic_fetch_add(&disable_save_refusals, 1);
		err_set(s->err, sizeof(s->err), "an injected refusal to write");
		return -1;
	}
	return export_saved_put(s, w->conf->name, &w->saved);
}

/* 1 when this worker_load is the one a test wants to fail. */
static int load_fault_hit(void)
{
	int at = atomic_load(&load_fault_at);

	if (at <= 0)
		return 0;
	if (at == 1) {
		atomic_store(&load_fault_at, 0);
		return 1;
	}
	atomic_store(&load_fault_at, at - 1);
	return 0;
}

/* ---- live state (shared) -------------------------------------------- */

static void live_lease(struct export_worker *w, int lease)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.lease = lease;
	pthread_mutex_unlock(&w->ex->lock);
}

/* ---- the store: cursor, saved state, dead letters ------------------- */

size_t export_worker_limit(const struct export_worker *w, int64_t cursor)
{
	return cursor < w->isolate_until ? 1 : w->batch_size;
}

static int last_seq_cb(void *ctx, const struct store_change *c)
{
	*(int64_t *)ctx = c->seq;
	return 0;
}

/* Where the batch after `cursor` ends: the seq of the limit-th change after
 * it, or 0 when there is none.  -1 on a store failure. */
static int next_batch_end(struct export_worker *w, int64_t cursor, int64_t *end)
{
	*end = 0;
	return w->store->ops->outbox_read(w->store, cursor, export_worker_limit(w, cursor),
					  last_seq_cb, end);
}

/*
 * The fence of a commit, inside its transaction: 1 this worker's take is
 * still the lease's last (or the store keeps no epoch of it), 0 the
 * lease was taken since (lost: logged, with `unwritten`, what the commit
 * would have written: "the cursor was not moved", "no backfill page was
 * written"), -1 a store failure.
 */
static int worker_fence(struct export_worker *w, const char *unwritten)
{
	struct store *s = w->store;
	char name[300], key[320], buf[32], *end;
	long long now;
	int rc;

	if (w->lease_epoch == 0)
		return 1;
	if (w->lease_epoch < 0)
		return 0;
	export_lease_name(w, name, sizeof(name));
	snprintf(key, sizeof(key), "lease_epoch:%s", name);
	rc = s->ops->meta_get_held(s, key, buf, sizeof(buf)); /* a take waits for this commit */
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	now = strtoll(buf, &end, 10);
	if (end != buf && *end == '\0' && now == (long long)w->lease_epoch)
		return 1;
	log_warn(w->who, "lease lost: %s is %s, this worker took epoch %" PRId64 "; %s", key,
		 buf, w->lease_epoch, unwritten);
	return 0;
}

/* The lease was found taken by another process: nothing more is committed
 * until export_worker_lease() takes it again (and reloads the cursor). */
static void worker_lease_lost(struct export_worker *w)
{
	char name[300];

	export_lease_name(w, name, sizeof(name));
	w->store->ops->lease_release(w->store, name);
	w->lease_epoch = -1;
	live_lease(w, -1);
}

/* 1 when the plugin took changes past the saved cursor (w->sent_end): a
 * cursor not saved sends them again. */
static int worker_is_sent_unsaved(const struct export_worker *w)
{
	return w->sent_end > w->cursor;
}

/*
 * Cursor saves that fail (a store gone, a disk full) are logged as a
 * state, as failed deliveries are (export_worker.c): each retry tried a
 * save or two, and each wrote its line, about 480 an hour.  What may be
 * sent again is said as it is: an export planning its next batch, or
 * saving an error, with nothing taken past its cursor, sends nothing twice.
 */
static struct outage_words save_failing_words(const struct export_worker *w)
{
	return (struct outage_words){
		.module = w->who,
		.every_ms = SAVE_FAILING_LOG_MS,
		.first = "cannot save the cursor",
		.meanwhile = worker_is_sent_unsaved(w)
				     ? "the export retries with backoff; what it sent since its"
				       " last saved cursor may be sent again"
				     : "the export retries with backoff; nothing was sent past its"
				       " last saved cursor, so nothing is sent again",
		.ongoing = "cursor saves failing",
		.counted = "saves failed",
		.over = "the cursor is saved again",
		.was = "failing",
	};
}

/* A failed save, counted in the outage.  One that began with nothing sent
 * past the cursor says so when changes are sent, unsaved, meanwhile: its
 * first line did not. */
static void save_failing_note(struct export_worker *w, const char *err)
{
	struct outage_words words = save_failing_words(w);

	if (worker_is_sent_unsaved(w) && w->save_failing.since_ms && !w->is_sent_told)
		log_error(w->who, "changes of seq %" PRId64 "..%" PRId64 " were delivered, their"
			  " cursor not saved either: what it sent since its last saved cursor"
			  " may be sent again", w->cursor + 1, w->sent_end);
	if (worker_is_sent_unsaved(w))
		w->is_sent_told = 1;
	outage_note_failure(&w->save_failing, &words, 1, err);
}

/*
 * Commits that carry a dead letter and fail (a disk full for its row while
 * the export's smaller writes still fit) are an outage of their own, said
 * as such: counted as cursor saves, each retry wrote "cannot save the
 * cursor", then "the cursor is saved again" when the save of the retry's
 * error went through, at no limit.  Their cursor is not saved either: the
 * retry sends the refused change again, and what was delivered with it.
 */
static struct outage_words dead_failing_words(const struct export_worker *w)
{
	return (struct outage_words){
		.module = w->who,
		.every_ms = SAVE_FAILING_LOG_MS,
		.first = "cannot save a dead letter",
		.meanwhile = "the export retries with backoff, sending the refused change again"
			     " and what it sent since its last saved cursor",
		.ongoing = "dead-letter saves failing",
		.counted = "saves failed",
		.over = "dead letters are saved again",
		.was = "failing",
	};
}

/* A commit's failure, counted in the outage of what it saves. */
static void commit_failing_note(struct export_worker *w, const struct store_dead_letter *dl)
{
	struct outage_words words;

	if (!dl) {
		save_failing_note(w, store_error(w->store));
		return;
	}
	words = dead_failing_words(w);
	outage_note_failure(&w->dead_failing, &words, 1, store_error(w->store));
}

/* A commit that saved what it carries: the outages it was in are over. */
static void commit_ok_note(struct export_worker *w, const struct store_dead_letter *dl)
{
	struct outage_words words = save_failing_words(w);

	outage_note_ok(&w->save_failing, &words);
	w->is_sent_told = 0;
	if (!dl)
		return;
	words = dead_failing_words(w);
	outage_note_ok(&w->dead_failing, &words);
}

/*
 * Commits the new cursor, the end of the next batch, the saved state when
 * it changed and a dead letter, in one transaction.  0, or -1 (logged;
 * nothing changed).
 *
 * Batches are planned: the end of the batch after the cursor is committed
 * before that batch is first sent (with the previous batch's cursor, so in
 * steady state it costs nothing), and a batch sent again after a failure
 * or a crash covers the same seqs, so it carries the same idempotency key.
 * `replan` plans again even inside the current batch (a change of size).
 */
int export_worker_commit(struct export_worker *w, int64_t cursor,
			 const struct store_dead_letter *dl, int replan)
{
	struct store *s = w->store;
	int64_t end = w->batch_end;
	char key[300], text[32];
	int fence, held = 1;

	if (w->lease_epoch < 0)
		return -1; /* lost: fenced off until taken again */
	if ((replan || cursor >= end) && next_batch_end(w, cursor, &end))
		goto fail;
	if (cursor == w->cursor && end == w->batch_end && !dl && !w->is_saved_dirty)
		return 0;
	if (s->ops->begin(s))
		goto fail;
	if (cursor_save_fault_hit()) {
		err_set(s->err, sizeof(s->err), "an injected refusal to write");
		goto fail;
	}
	if ((fence = worker_fence(w, "the cursor was not moved")) < 0)
		goto fail;
	if (fence == 0) {
		s->ops->rollback(s);
		worker_lease_lost(w);
		return -1;
	}
	/* a change whose profile an erase took out of the feed meanwhile (while
	 * the plugin had it) is not kept: its dead letter would outlive the
	 * erasure with the profile's data */
	if (dl && (held = s->ops->outbox_hold(s, dl->seq)) < 0)
		goto fail;
	if (dl && held == 0) {
		log_info(w->who,
			 "change %" PRId64 " was erased while it was sent: not dead-lettered",
			 dl->seq);
		/* nothing of it is saved: the commit does not end (nor fail
		 * as) an outage of dead-letter saves, it said "dead letters are
		 * saved again" of none */
		dl = NULL;
	} else if (dl && s->ops->dead_letter_put(s, dl)) {
		goto fail;
	}
	if (cursor != w->cursor) {
		export_key_cursor(key, sizeof(key), w->conf->name);
		snprintf(text, sizeof(text), "%" PRId64, cursor);
		if (s->ops->meta_put(s, key, text))
			goto fail;
	}
	if (end != w->batch_end) {
		export_key_batch_end(key, sizeof(key), w->conf->name);
		snprintf(text, sizeof(text), "%" PRId64, end);
		if (s->ops->meta_put(s, key, text))
			goto fail;
	}
	if (w->is_saved_dirty && saved_put(w))
		goto fail;
	if (s->ops->commit(s))
		goto fail;
	w->cursor = cursor;
	w->batch_end = end;
	w->is_saved_dirty = 0;
	commit_ok_note(w, dl);
	return 0;
fail:
	commit_failing_note(w, dl);
	s->ops->rollback(s);
	return -1;
}

/* The saved state in a transaction of its own: 0, or -1. */
static int saved_commit(struct export_worker *w)
{
	struct store *s = w->store;

	if (s->ops->begin(s))
		return -1;
	if (saved_put(w) || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	w->is_saved_dirty = 0;
	return 0;
}

int export_worker_save_state(struct export_worker *w)
{
	struct store *s = w->store;
	char name[300];
	int64_t epoch = 0;
	int rc;

	export_lease_name(w, name, sizeof(name));
	if ((rc = s->ops->lease_try(s, name, &epoch)) <= 0)
		return rc < 0 ? -1 : 1;
	/* each take bumps the epoch: one past this process's last take, or
	 * another process held the lease between and its state is newer */
	if (epoch != 0 && (w->unsaved_epoch <= 0 || epoch != w->unsaved_epoch + 1)) {
		log_info(w->who, "lease %s: epoch %" PRId64 ", this process's last take was"
			 " %" PRId64, name, epoch, w->unsaved_epoch);
		s->ops->lease_release(s, name);
		return 2;
	}
	w->unsaved_epoch = epoch;
	rc = saved_commit(w);
	s->ops->lease_release(s, name);
	return rc;
}

const char *export_worker_fingerprint(struct export_worker *w)
{
	if (!w->fingerprint[0] && export_fingerprint(w->conf, w->fingerprint))
		w->fingerprint[0] = '\0';
	return w->fingerprint;
}

/* A disable saved by an older version, under the same config: its fast
 * fingerprint, a test of guessed secrets for whoever reads the store, is
 * replaced by the slow one.  Failing, it stays (still recognised) and the
 * next start tries again. */
static void fingerprint_upgrade(struct export_worker *w)
{
	const char *fp = export_worker_fingerprint(w);

	if (!export_fingerprint_is_legacy(w->saved.fingerprint) || !fp[0])
		return;
	if (export_fingerprint_upgrade(w->store, w->conf->name, w->saved.fingerprint, fp)) {
		log_warn(w->who, "its disable keeps the fingerprint an older version saved: %s",
			 store_error(w->store));
		return;
	}
	snprintf(w->saved.fingerprint, sizeof(w->saved.fingerprint), "%s", fp);
}

/* Opens the worker's own connection and loads its cursor and saved state.
 * 1: the export stays disabled (same config as when it was disabled). */
static int worker_load(struct export_worker *w, char *err, size_t err_size)
{
	struct export_backfill b;
	int has_history = 0, has_backfill = 0;

	if (load_fault_hit()) {
		err_set(w->store->err, sizeof(w->store->err), "an injected store failure");
		goto fail;
	}
	if (export_cursor_load(w->store, w->conf->name, &w->cursor) ||
	    export_batch_end_load(w->store, w->conf->name, &w->batch_end) ||
	    export_saved_load(w->store, w->conf->name, &w->saved) < 0 ||
	    (w->is_backfill_on &&
	     ((has_history = export_has_history(w->store, w->conf->name)) < 0 ||
	      (has_backfill = export_backfill_load(w->store, w->conf->name, &b, 0)) < 0)))
		goto fail;
	/* an export that never ran starts with its backfill */
	w->is_backfill_new = w->is_backfill_on && !has_history && !has_backfill;
	w->backfill_until = -1; /* a page written before may be undelivered */
	pthread_mutex_lock(&w->ex->lock);
	w->live.cursor = w->cursor;
	snprintf(w->live.last_error, sizeof(w->live.last_error), "%s", w->saved.error);
	w->live.last_error_at_ms = w->saved.error_at_ms;
	w->live.is_error_past = w->saved.is_error_past;
	pthread_mutex_unlock(&w->ex->lock);
	if (!w->saved.is_disabled)
		return 0;
	if (export_fingerprint_is_of(w->conf, w->saved.fingerprint, export_worker_fingerprint(w))) {
		fingerprint_upgrade(w);
		return 1;
	}
	/* once: a lease taken right after the start loads the state again,
	 * before the commit that writes this */
	if (!w->is_enable_told)
		log_info(w->who, "configuration changed since it was disabled: enabled again");
	w->is_enable_told = 1;
	w->saved.is_disabled = 0;
	w->is_saved_dirty = 1;
	return 0;
fail:
	err_set(err, err_size, "%s", store_error(w->store));
	store_close(w->store);
	w->store = NULL;
	return -1;
}

int export_worker_open_store(struct export_worker *w, char *err, size_t err_size)
{
	if (store_open_existing(w->ex->cfg, &w->store, err, err_size))
		return -1;
	w->lease_epoch = 0;
	return worker_load(w, err, err_size);
}

void export_lease_name(const struct export_worker *w, char *buf, size_t size)
{
	snprintf(buf, size, "export:%s", w->conf->name);
}

/* 1: this worker holds the lease (taken again after a lost connection,
 * and then the cursor reloaded); 0: another process holds it; -1: error
 * or the export is disabled (err set; *is_disabled). */
int export_worker_lease(struct export_worker *w, int *is_disabled, char *err, size_t err_size)
{
	char name[300];
	int64_t epoch = 0;
	int rc;

	*is_disabled = 0;
	export_lease_name(w, name, sizeof(name));
	rc = w->store->ops->lease_try(w->store, name, &epoch);
	if (rc < 0) {
		err_set(err, err_size, "lease %s: %s", name, store_error(w->store));
		live_lease(w, 0);
		return -1;
	}
	if (rc == 0) {
		/* held by another process: fenced off (0 would mean a store
		 * without leases, and let a commit through); said once a take */
		if (w->lease_epoch != -1)
			log_info(w->who, "lease %s held by another process: this one"
				 " waits, trying it every %d ms", name, EXPORT_POLL_MS);
		w->lease_epoch = -1;
		live_lease(w, -1);
		return 0;
	}
	if (epoch == w->lease_epoch)
		return 1;
	/* a new take: another process may have moved the cursor meanwhile */
	rc = worker_load(w, err, err_size);
	if (rc) {
		/* a failed load closed the connection, and its session lease
		 * went with it */
		if (w->store)
			w->store->ops->lease_release(w->store, name);
		*is_disabled = rc == 1;
		live_lease(w, 0);
		return -1;
	}
	log_info(w->who, "lease %s taken (epoch %" PRId64 "): this process delivers,"
		 " from cursor %" PRId64, name, epoch, w->cursor);
	w->lease_epoch = epoch;
	live_lease(w, 1);
	return 1;
}

/* ---- pruning the change feed ----------------------------------------- */

/* The lowest committed cursor of every export in the config, enabled or
 * not, and of every export the store knows from other configurations
 * (export_known.c): every change up to it went everywhere it will go (0
 * while an export has not committed one).  A cursor only moves forward, so
 * one read outdated by the time of the delete is still safe.  An export
 * known only from elsewhere that holds the feed is named in the log once. */
static int prune_bound(struct export_worker *w, int64_t *bound)
{
	const struct hub_config *cfg = w->ex->cfg;
	char(*names)[EXPORT_NAME_SIZE] = NULL;
	int64_t here;
	size_t n = 0;
	int rc = -1;

	*bound = INT64_MAX;
	for (size_t i = 0; i < cfg->n_exports; i++) {
		int64_t cursor;
		if (export_cursor_load(w->store, cfg->exports[i].name, &cursor))
			return -1;
		if (cursor < *bound)
			*bound = cursor;
	}
	here = *bound;
	if (export_known_elsewhere(w->store, cfg, &names, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		int64_t cursor;
		if (export_cursor_load(w->store, names[i], &cursor))
			goto out;
		if (cursor < *bound)
			*bound = cursor;
		if (cursor < here && !w->ex->is_held_noted) {
			w->ex->is_held_noted = 1;
			log_warn(w->who,
				 "the change feed is kept for export %s, which the store knows"
				 " from another configuration (its cursor: %" PRId64 "); if no"
				 " process runs it any more: profilehub exports forget %s",
				 names[i], cursor, names[i]);
		}
	}
	rc = 0;
out:
	hub_free(names);
	return rc;
}

/* Is a pruning pass due at `now` (wall-clock ms)?  Claims it when it is
 * (the next one is then due an interval later).  A next pass further away
 * than an interval was planned before the clock went back: due now, not
 * after the step (the feed would grow for its length). */
int export_prune_is_due(struct exporter *ex, int64_t now)
{
	int64_t interval = atomic_load(&prune_interval_ms);
	int due;

	pthread_mutex_lock(&ex->lock);
	due = now >= ex->prune_next_ms || ex->prune_next_ms - now > interval;
	if (due)
		ex->prune_next_ms = now + interval;
	pthread_mutex_unlock(&ex->lock);
	return due;
}

/*
 * Deletes the changes every export has passed, PRUNE_CHUNK per short
 * transaction (the intake writer waits for at most one of them).  At most
 * one pass per prune interval in this process; a failure is logged and the
 * next pass tries again, nothing else depends on it.
 */
void export_worker_prune(struct export_worker *w)
{
	struct store *s = w->store;
	int64_t bound;
	size_t total = 0, n = 0;

	if (!export_prune_is_due(w->ex, time_now_ms()))
		return;
	pthread_mutex_lock(&w->ex->prune_lock);
	if (prune_bound(w, &bound))
		goto fail;
	do {
		if (s->ops->begin(s) || s->ops->outbox_prune(s, bound, PRUNE_CHUNK, &n) ||
		    s->ops->commit(s))
			goto fail;
		total += n;
	} while (n == PRUNE_CHUNK && !atomic_load(&w->ex->stop));
	if (total)
		log_debug(w->who, "change feed: deleted %zu changes up to seq %" PRId64
			  ", delivered by every export", total, bound);
	pthread_mutex_unlock(&w->ex->prune_lock);
	return;
fail:
	log_warn(w->who, "pruning the change feed: %s (tried again later)", store_error(s));
	s->ops->rollback(s);
	pthread_mutex_unlock(&w->ex->prune_lock);
}

/* ---- backfill ---------------------------------------------------------- */

/* Begins a transaction fenced by this worker's lease: 1 begun, 0 the lease
 * was lost (rolled back and dropped: w->lease_epoch is -1; logged with
 * `unwritten`, what the transaction was for), -1 a store failure (rolled
 * back). */
static int worker_begin_fenced(struct export_worker *w, const char *unwritten)
{
	struct store *s = w->store;
	int fence;

	if (s->ops->begin(s) || (fence = worker_fence(w, unwritten)) < 0) {
		s->ops->rollback(s);
		return -1;
	}
	if (fence == 0) {
		s->ops->rollback(s);
		worker_lease_lost(w);
	}
	return fence;
}

/*
 * An export that never ran: its backfill is saved as started (state
 * running, from the first profile) in a fenced transaction of its own,
 * before its first batch plan or cursor.  Kept only in memory, it would be
 * lost by a stop before the first page (a crash, credentials refused on
 * the first batch, a lease taken over): the export has a history then, and
 * worker_load() no longer sees it as new.  0 (also when the lease was
 * found lost: w->lease_epoch is -1), or -1 a store failure.
 */
int export_worker_backfill_begin(struct export_worker *w)
{
	struct store *s = w->store;
	struct export_backfill b;
	int rc;

	if (!w->is_backfill_new || w->lease_epoch < 0)
		return 0;
	if ((rc = worker_begin_fenced(w, "the backfill's start was not saved")) <= 0)
		return rc;
	if ((rc = export_backfill_load(s, w->conf->name, &b, 1)) < 0)
		goto fail;
	if (rc == 0) { /* else a request or another process's take was first */
		export_backfill_start(&b, time_now_ms());
		if (export_backfill_put(s, w->conf->name, &b))
			goto fail;
	}
	if (s->ops->commit(s))
		goto fail;
	w->is_backfill_new = 0;
	return 0;
fail:
	s->ops->rollback(s);
	return -1;
}

/* The backfill key now, read outside a transaction: 1 a page is due. */
static int backfill_is_due(struct export_worker *w)
{
	struct export_backfill b;
	int rc = export_backfill_load(w->store, w->conf->name, &b, 0);

	return rc <= 0 ? rc : b.state == BACKFILL_RUNNING;
}

/*
 * Called when the export has delivered everything before it, or its last
 * backfill page (worker_step): writes the next page of its backfill (a
 * request of `profilehub exports backfill` is seen here) at the end of
 * the feed, with the new position, in one fenced transaction.  1 a page
 * was written, 0 none is due, -1 a store failure (logged by the caller).
 */
int export_worker_backfill(struct export_worker *w)
{
	struct store *s = w->store;
	struct export_backfill b;
	int rc;

	if (w->filter.kinds_mask && !(w->filter.kinds_mask & (1u << FEED_PROFILE_UPDATED)))
		return 0; /* it would deliver none of them */
	if (w->lease_epoch < 0)
		return 0; /* fenced off until the lease is taken again */
	if ((rc = backfill_is_due(w)) <= 0)
		return rc;
	if ((rc = worker_begin_fenced(w, "no backfill page was written (the process holding"
				      " the lease writes it)")) <= 0)
		return rc;
	/* read again, held: a request made meanwhile wins */
	if (export_backfill_load(s, w->conf->name, &b, 1) < 0)
		goto fail;
	if (b.state != BACKFILL_RUNNING) {
		s->ops->rollback(s);
		return 0;
	}
	if (b.sent == 0 && !b.after[0])
		log_info(w->who, "backfill: a profile_updated change for every live profile");
	if (export_backfill_write_page(s, w->conf->name, &b, time_now_ms()) < 0 ||
	    export_backfill_put(s, w->conf->name, &b) || s->ops->commit(s))
		goto fail;
	export_notify(w->ex); /* the other exports read past these changes */
	if (export_outbox_last_seq(s, w->cursor, &w->backfill_until))
		w->backfill_until = -1; /* read again when the next page is due */
	if (b.state == BACKFILL_DONE)
		log_info(w->who, "backfill: done, %" PRId64 " profiles", b.sent);
	return 1;
fail:
	s->ops->rollback(s);
	return -1;
}

/*
 * Under steady traffic the feed is never empty: while an export delivers,
 * its running backfill writes the next page behind the changes still to
 * deliver once the page it wrote last is delivered (it waited for an
 * empty feed, for ever).  Looks at most once a second (a meta read), and
 * after a load waits for the feed's end of then when pages were written
 * before (one may be undelivered).  As export_worker_backfill.
 */
int export_worker_backfill_beside(struct export_worker *w)
{
	struct export_backfill b;
	int64_t now = time_mono_ms();
	int rc;

	if (w->batch_end <= w->cursor || !w->is_delivering || now - w->backfill_looked_ms < 1000)
		return 0;
	w->backfill_looked_ms = now;
	if ((rc = export_backfill_load(w->store, w->conf->name, &b, 0)) <= 0 ||
	    b.state != BACKFILL_RUNNING)
		return rc < 0 ? -1 : 0;
	if (w->backfill_until < 0) {
		if (b.sent == 0 && !b.after[0])
			w->backfill_until = 0; /* no page yet */
		else if (export_outbox_last_seq(w->store, w->cursor, &w->backfill_until))
			return -1;
	}
	return w->cursor >= w->backfill_until ? export_worker_backfill(w) : 0;
}
