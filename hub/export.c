/*
 * export.c - the exporter's threads: one per enabled export, each with its
 * own store connection, its own plugin instance and a loop of
 *
 *     read a page after the cursor -> build the changes (export_feed.c)
 *     -> export_batch() -> commit the new cursor -> react to the answer
 *
 * The cursor is committed in a store transaction only after the plugin said
 * the changes are durably accepted, so a crash at any point sends changes
 * again (at least once) but never skips one.  Pages are read in seq order
 * and never reordered: order per profile is kept.  What each plugin answer
 * leads to is listed in export.h.
 *
 * Threads: a worker's store, page, cursor and plugin instance belong to its
 * thread; `live` (what the status shows) is shared under exporter.lock.
 * Nothing here knows SQL, HTTP or a plugin's protocol.
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
 */
#include "export_int.h"

#include "alloc.h"
#include "host.h"
#include "log.h"
#include "outage.h"
#include "plugin.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_DEFAULT 100
#define BATCH_MAX 10000
#define PRUNE_CHUNK 5000 /* changes deleted per transaction */

static _Atomic int64_t backoff_base_ms = 200;
static _Atomic int64_t backoff_cap_ms = 30000;
static _Atomic int64_t prune_interval_ms = 10000;
static _Atomic int load_fault_at; /* tests: the Nth worker_load fails (0: off) */

enum step {
	STEP_AGAIN,    /* go on at once */
	STEP_IDLE,     /* caught up: wait for new changes */
	STEP_BACKOFF,  /* wait w->wait_ms, then try again */
	STEP_DISABLED, /* stop this export */
	STEP_HELD,     /* another process holds the lease: try again later */
};

struct export_worker {
	struct exporter *ex;
	const struct config_instance *conf; /* borrowed from the config */
	const struct plugin_module *mod;
	struct hub_instance *inst;          /* NULL: create() failed */
	char create_error[512];
	struct feed_filter filter;
	size_t batch_size;
	char fingerprint[20];
	char who[80];                       /* "export crm_feed" for logs */
	pthread_t thread;
	int has_thread;

	/* the worker thread's own */
	struct store *store;
	struct feed_page page;
	struct feed_docs docs;
	size_t page_limit;                  /* the limit the page was read with */
	const char **texts;                 /* texts_cap entries */
	size_t *rows;                       /* row index of texts[i] */
	size_t texts_cap;
	int64_t cursor;                     /* committed */
	int64_t batch_end;                  /* committed: the batch after cursor
					       ends here (<= cursor: none) */
	int64_t isolate_until;              /* one change per call up to this seq */
	unsigned attempt;
	int64_t wait_ms;
	uint64_t rng;
	struct export_saved saved;
	int is_saved_dirty;
	int64_t lease_epoch;                /* of the lease held; 0: none (a store
					       without leases); -1: lost or held
					       by another process (fenced off:
					       nothing is committed until the
					       lease is taken) */
	int is_backfill_on;                 /* `backfill` and profile_updated wanted */
	int64_t backfill_until;             /* the feed's end when this worker last
					       wrote a backfill page: the next page
					       waits until the cursor passes it
					       (-1: unknown, after a load) */
	int64_t backfill_looked_ms;         /* when worker_backfill_beside last looked */
	int is_delivering;                  /* its last call delivered changes */
	int is_backfill_new;                /* never ran: its backfill is to be
					       saved as started (worker_backfill_begin) */

	/* under ex->lock */
	struct export_live live;
	uint64_t idle_gen;                  /* wake_gen of its last read to the end */
};

struct exporter {
	const struct hub_config *cfg;
	struct plugin_registry reg;
	int has_reg;
	struct export_worker *workers;
	size_t n_workers;
	atomic_int stop;
	pthread_mutex_t lock;
	pthread_cond_t wake;  /* new changes or stop: idle workers wait on it */
	pthread_cond_t idle;  /* a worker read to the end or stopped */
	uint64_t wake_gen;    /* bumped by export_notify and export_wait_idle */
	pthread_mutex_t status_lock; /* guards status_store (API threads) */
	struct store *status_store;
	/* the lag for GET /metrics (export_lag_provider): one read at a time,
	 * on a connection of its own, so that a read the store keeps waiting
	 * holds up neither the status nor the other scrapes (they show the
	 * last read's lag, kept under lock, and its age) */
	pthread_mutex_t lag_lock;    /* guards lag_store and lag_outage */
	struct store *lag_store;
	struct outage lag_outage;    /* scrapes whose lag could not be read
					(lag_outage_words) */
	struct export_lag *lag_kept; /* under lock: the last read's (cfg->n_exports) */
	size_t n_lag_kept;           /* under lock: 0 after a failed read */
	int64_t lag_kept_ms;         /* under lock: when it was read, monotonic */
	void (*lag_hook)(void *ctx, struct store *s); /* tests; set before use */
	void *lag_hook_ctx;
	int64_t prune_next_ms;       /* under lock: when the next pass is due */
	pthread_mutex_t prune_lock;  /* one pruning pass at a time */
	int is_held_noted;           /* under prune_lock: an export known from
					elsewhere held the feed, logged once */
};

/* ---- backoff ---------------------------------------------------------- */

void export_set_backoff(int64_t base_ms, int64_t cap_ms)
{
	atomic_store(&backoff_base_ms, base_ms > 0 ? base_ms : 1);
	atomic_store(&backoff_cap_ms, cap_ms > base_ms ? cap_ms : base_ms);
}

void export_set_prune_interval(int64_t ms)
{
	atomic_store(&prune_interval_ms, ms > 0 ? ms : 0);
}

void export_set_load_fault(int nth)
{
	atomic_store(&load_fault_at, nth > 0 ? nth : 0);
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

int64_t export_backoff_ms(unsigned attempt, int64_t retry_after_ms, uint64_t random)
{
	int64_t d = backoff_jitter_ms(attempt, atomic_load(&backoff_base_ms),
				      atomic_load(&backoff_cap_ms), random);

	if (retry_after_ms > RETRY_AFTER_MAX_MS)
		retry_after_ms = RETRY_AFTER_MAX_MS;
	return retry_after_ms > d ? retry_after_ms : d;
}


static uint64_t worker_random(struct export_worker *w)
{
	/* xorshift64*: plenty for jitter */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ULL;
}

/* ---- live state (shared) -------------------------------------------- */

static void live_state(struct export_worker *w, const char *state)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.state = state;
	pthread_mutex_unlock(&w->ex->lock);
}

static void live_error(struct export_worker *w, const char *state, const char *msg,
		       int64_t next_ms)
{
	int64_t now = time_now_ms();

	pthread_mutex_lock(&w->ex->lock);
	w->live.state = state;
	str_copy_utf8(w->live.last_error, sizeof(w->live.last_error), msg);
	w->live.last_error_at_ms = now;
	w->live.next_attempt_at_ms = next_ms ? now + next_ms : 0;
	pthread_mutex_unlock(&w->ex->lock);
	str_copy_utf8(w->saved.error, sizeof(w->saved.error), msg);
	w->saved.error_at_ms = now;
	w->is_saved_dirty = 1;
}

static void live_lease(struct export_worker *w, int lease)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.lease = lease;
	pthread_mutex_unlock(&w->ex->lock);
}

static void live_progress(struct export_worker *w, size_t delivered, size_t dead)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.cursor = w->cursor;
	w->live.delivered += (int64_t)delivered;
	w->live.dead_lettered += (int64_t)dead;
	w->live.next_attempt_at_ms = 0;
	pthread_mutex_unlock(&w->ex->lock);
}

int export_live_get(struct exporter *ex, const char *name, struct export_live *out)
{
	int found = 0;

	pthread_mutex_lock(&ex->lock);
	for (size_t i = 0; i < ex->n_workers && !found; i++) {
		if (strcmp(ex->workers[i].conf->name, name) == 0) {
			*out = ex->workers[i].live;
			found = 1;
		}
	}
	pthread_mutex_unlock(&ex->lock);
	return found;
}

/* ---- the store: cursor, saved state, dead letters ------------------- */

static size_t worker_limit(const struct export_worker *w, int64_t cursor)
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
	return w->store->ops->outbox_read(w->store, cursor, worker_limit(w, cursor), last_seq_cb,
					  end);
}

static void lease_name(const struct export_worker *w, char *buf, size_t size);

/*
 * The fence of a commit, inside its transaction: 1 this worker's take is
 * still the lease's last (or the store keeps no epoch of it), 0 the
 * lease was taken since (lost), -1 a store failure.
 */
static int worker_fence(struct export_worker *w)
{
	struct store *s = w->store;
	char name[300], key[320], buf[32], *end;
	long long now;
	int rc;

	if (w->lease_epoch == 0)
		return 1;
	if (w->lease_epoch < 0)
		return 0;
	lease_name(w, name, sizeof(name));
	snprintf(key, sizeof(key), "lease_epoch:%s", name);
	rc = s->ops->meta_get_held(s, key, buf, sizeof(buf)); /* a take waits for this commit */
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	now = strtoll(buf, &end, 10);
	if (end != buf && *end == '\0' && now == (long long)w->lease_epoch)
		return 1;
	log_warn(w->who, "lease lost: %s is %s, this worker took epoch %" PRId64
		 "; the cursor was not moved", key, buf, w->lease_epoch);
	return 0;
}

/* The lease was found taken by another process: nothing more is committed
 * until worker_lease() takes it again (and reloads the cursor). */
static void worker_lease_lost(struct export_worker *w)
{
	char name[300];

	lease_name(w, name, sizeof(name));
	w->store->ops->lease_release(w->store, name);
	w->lease_epoch = -1;
	live_lease(w, -1);
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
static int worker_commit(struct export_worker *w, int64_t cursor,
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
	if ((fence = worker_fence(w)) < 0)
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
	if (dl && held == 0)
		log_info(w->who, "change %" PRId64 " was erased while it was sent: not dead-lettered",
			 dl->seq);
	else if (dl && s->ops->dead_letter_put(s, dl))
		goto fail;
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
	if (w->is_saved_dirty && export_saved_put(s, w->conf->name, &w->saved))
		goto fail;
	if (s->ops->commit(s))
		goto fail;
	w->cursor = cursor;
	w->batch_end = end;
	w->is_saved_dirty = 0;
	return 0;
fail:
	log_error(w->who, "cannot save the cursor: %s", store_error(s));
	s->ops->rollback(s);
	return -1;
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
	pthread_mutex_unlock(&w->ex->lock);
	if (!w->saved.is_disabled)
		return 0;
	if (strcmp(w->saved.fingerprint, w->fingerprint) == 0)
		return 1;
	log_info(w->who, "configuration changed since it was disabled: enabled again");
	w->saved.is_disabled = 0;
	w->is_saved_dirty = 1;
	return 0;
fail:
	err_set(err, err_size, "%s", store_error(w->store));
	store_close(w->store);
	w->store = NULL;
	return -1;
}

static int worker_open_store(struct export_worker *w, char *err, size_t err_size)
{
	if (store_open_existing(w->ex->cfg, &w->store, err, err_size))
		return -1;
	w->lease_epoch = 0;
	return worker_load(w, err, err_size);
}

static void lease_name(const struct export_worker *w, char *buf, size_t size)
{
	snprintf(buf, size, "export:%s", w->conf->name);
}

/* 1: this worker holds the lease (taken again after a lost connection,
 * and then the cursor reloaded); 0: another process holds it; -1: error
 * or the export is disabled (err set; *is_disabled). */
static int worker_lease(struct export_worker *w, int *is_disabled, char *err, size_t err_size)
{
	char name[300];
	int64_t epoch = 0;
	int rc;

	*is_disabled = 0;
	lease_name(w, name, sizeof(name));
	rc = w->store->ops->lease_try(w->store, name, &epoch);
	if (rc < 0) {
		err_set(err, err_size, "lease %s: %s", name, store_error(w->store));
		live_lease(w, 0);
		return -1;
	}
	if (rc == 0) {
		/* held by another process: fenced off (0 would mean a store
		 * without leases, and let a commit through) */
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
	log_debug(w->who, "lease %s taken (epoch %" PRId64 ")", name, epoch);
	w->lease_epoch = epoch;
	live_lease(w, 1);
	return 1;
}

/* ---- reactions ------------------------------------------------------- */

static enum step worker_retry(struct export_worker *w, const char *msg)
{
	int64_t delay = export_backoff_ms(w->attempt, retry_after_ms_parse(msg),
					  worker_random(w));

	if (w->attempt < 64)
		w->attempt++;
	live_error(w, "retrying", msg, delay);
	if (w->store)
		worker_commit(w, w->cursor, NULL, 0); /* the error, for `profilehub exports` */
	log_warn(w->who, "%s (retry %u in %" PRId64 " ms)", msg, w->attempt, delay);
	w->wait_ms = delay;
	return STEP_BACKOFF;
}

static enum step worker_disable(struct export_worker *w, const char *msg, int is_saved)
{
	live_error(w, "disabled", msg, 0);
	if (is_saved) {
		w->saved.is_disabled = 1;
		snprintf(w->saved.fingerprint, sizeof(w->saved.fingerprint), "%s", w->fingerprint);
		if (w->store)
			worker_commit(w, w->cursor, NULL, 0);
	}
	if (is_saved)
		log_error(w->who, "disabled until its configuration changes: %s", msg);
	else
		log_error(w->who, "disabled until the hub restarts (its plugin could not start): %s",
			  msg);
	return STEP_DISABLED;
}

/* The end of the page: the planned end when the page holds the whole plan
 * (a plan made with a larger batch_size before a restart may not fit). */
static int64_t page_end(const struct export_worker *w)
{
	const struct feed_page *pg = &w->page;

	if (pg->n < w->page_limit)
		return w->batch_end;
	return pg->rows[pg->n - 1].seq;
}

/* The cursor after the first n_done of the m changes sent: every row before
 * the first one not delivered (filtered rows included).  None delivered:
 * the cursor stays, filtered rows before the first change included, so the
 * batch sent again has the same planned range (batch_range(): the
 * webhook's Idempotency-Key). */
static int64_t handled_cursor(const struct export_worker *w, size_t m, size_t n_done)
{
	const struct feed_page *pg = &w->page;

	if (n_done >= m)
		return page_end(w);
	if (n_done == 0)
		return w->cursor;
	return w->rows[n_done] > 0 ? pg->rows[w->rows[n_done] - 1].seq : w->cursor;
}

/* HUB_ERR_DATA: dead-letter the change when it is known, else send the
 * undelivered changes of this call again one at a time. */
static enum step worker_data_error(struct export_worker *w, size_t m, size_t n_done,
				   const char *msg)
{
	const struct feed_row *bad = &w->page.rows[w->rows[n_done]];
	char note[128];
	struct store_dead_letter dl = {
		.export_name = w->conf->name,
		.seq = bad->seq,
		.profile_id = bad->profile_id,
		.at_ms = time_now_ms(),
		.reason = msg[0] ? msg : "refused by the plugin",
		.change_json = bad->text,
	};

	if (m - n_done > 1) {
		w->isolate_until = w->page.rows[w->rows[m - 1]].seq;
		if (worker_commit(w, handled_cursor(w, m, n_done), NULL, 1))
			return worker_retry(w, "the store refused the cursor");
		live_progress(w, n_done, 0);
		log_info(w->who, "a change of seq %" PRId64 "..%" PRId64
			 " was refused: sending them one at a time", bad->seq, w->isolate_until);
		return STEP_AGAIN;
	}
	/* The reason stays with the dead letter alone: a receiver's answer
	 * may quote the change (an email it refused), and an erase of its
	 * person deletes the dead letter, not copies in the export's state
	 * or the log. */
	snprintf(note, sizeof(note),
		 "change %" PRId64 " was dead-lettered (its reason is in the export's dead letters)",
		 bad->seq);
	live_error(w, "delivering", note, 0);
	if (worker_commit(w, bad->seq, &dl, 0))
		return worker_retry(w, "the store refused the dead letter");
	live_progress(w, n_done, 1);
	log_warn(w->who, "%s", note);
	w->attempt = 0;
	return STEP_AGAIN;
}

/* An answer of export_batch() that cannot be trusted, a bug in the plugin:
 * *n_done past the changes it was given, or a code not of enum hub_rc.
 * Either may be wrong about what the plugin accepted, so none of the call
 * counts as delivered: the cursor stays and the batch is sent again after
 * a backoff (a change may reach the receiver twice; none is skipped).
 * Logged naming the export and its plugin, rate-limited
 * (plugin_bad_answer_count()).  Returns 1 with err saying it, else 0. */
static int worker_bad_answer(struct export_worker *w, hub_rc rc, size_t m, size_t n_done,
			     char *err, size_t err_size)
{
	char why[96];
	long long n;

	if (n_done > m)
		snprintf(why, sizeof(why), "set *n_done to %zu for a batch of %zu", n_done, m);
	else if (!plugin_rc_is_known(rc))
		snprintf(why, sizeof(why), "returned %d, which is not a hub_rc", (int)rc);
	else
		return 0;
	n = plugin_bad_answer_count(w->inst);
	if (n > 0)
		log_error(w->who, "plugin %s: export_batch() %s: none of its %zu changes taken as"
			  " delivered, they are sent again (a bug in the plugin; %lld such answers"
			  " so far)", w->mod->name, why, m, n);
	snprintf(err, err_size, "the plugin's export_batch() %s (a bug in the plugin): the batch"
		 " is sent again", why);
	return 1;
}

static hub_rc refuse_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			  size_t err_size)
{
	(void)call;
	(void)rec;
	err_set(err, err_size, "an export cannot emit records");
	return HUB_ERR_INTERNAL;
}

/* Hands the page's wanted changes to the plugin and reacts to its answer. */
static enum step worker_deliver(struct export_worker *w)
{
	struct hub_call call = {.inst = w->inst, .on_emit = refuse_emit, .stop = &w->ex->stop,
				.ctx = w};
	const struct feed_page *pg = &w->page;
	size_t m = 0, n_done = 0;
	char err[1024] = "";
	hub_rc rc;

	for (size_t i = 0; i < pg->n; i++) {
		if (!pg->rows[i].text)
			continue;
		w->texts[m] = pg->rows[i].text;
		w->rows[m++] = i;
	}
	if (m == 0) { /* all filtered out */
		if (worker_commit(w, page_end(w), NULL, 0))
			return worker_retry(w, "the store refused the cursor");
		live_progress(w, 0, 0);
		return STEP_AGAIN;
	}
	/* the planned range, not the seqs sent: the same at every send */
	call.batch_first = w->cursor + 1;
	call.batch_last = page_end(w);
	live_state(w, "delivering");
	rc = w->mod->desc->export_batch(w->inst->state, &call, w->texts, m, &n_done, err,
					sizeof(err));
	plugin_err_end(err, sizeof(err));
	if (worker_bad_answer(w, rc, m, n_done, err, sizeof(err))) {
		n_done = 0;
		rc = HUB_RETRY;
	}
	if (rc == HUB_ERR_DATA && n_done == m) { /* every change accepted: none to dead-letter */
		log_warn(w->who, "the plugin answered bad data but accepted all %zu changes", m);
		rc = HUB_OK;
	}
	if (rc == HUB_ERR_DATA)
		return worker_data_error(w, m, n_done, err);
	if (worker_commit(w, handled_cursor(w, m, n_done), NULL, 0))
		return worker_retry(w, "the store refused the cursor");
	live_progress(w, n_done, 0);
	if (n_done > 0)
		w->attempt = 0;
	w->is_delivering = rc == HUB_OK && n_done > 0;
	if (rc != HUB_OK && atomic_load(&w->ex->stop))
		return STEP_AGAIN; /* interrupted by the stop: the next run goes on */
	switch (rc) {
	case HUB_OK:
		if (n_done > 0)
			return STEP_AGAIN;
		return worker_retry(w, "the plugin accepted none of the changes");
	case HUB_ERR_AUTH:
	case HUB_ERR_CONFIG:
		return worker_disable(w, err[0] ? err : "refused by the plugin", 1);
	default: /* HUB_ERR_STOPPED too: the hub's own stop was handled above */
		return worker_retry(w, err[0] ? err : "temporary failure");
	}
}

static void worker_set_idle_as(struct export_worker *w, uint64_t gen, const char *state)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.state = state;
	w->idle_gen = gen;
	pthread_cond_broadcast(&w->ex->idle);
	pthread_mutex_unlock(&w->ex->lock);
}

static void worker_set_idle(struct export_worker *w, uint64_t gen)
{
	worker_set_idle_as(w, gen, "idle");
}

/* Room to hand up to `n` texts to the plugin. */
static int worker_reserve(struct export_worker *w, size_t n)
{
	const char **texts;
	size_t *rows;

	if (w->texts_cap >= n)
		return 0;
	texts = hub_realloc(w->texts, n * sizeof(*texts));
	if (texts)
		w->texts = texts;
	rows = hub_realloc(w->rows, n * sizeof(*rows));
	if (rows)
		w->rows = rows;
	if (!texts || !rows) {
		err_set(w->store->err, sizeof(w->store->err), "out of memory");
		return -1;
	}
	w->texts_cap = n;
	return 0;
}

/* Reads the planned batch (cursor, batch_end] and builds its changes. */
static int worker_read(struct export_worker *w)
{
	size_t limit = worker_limit(w, w->cursor);
	struct feed_page *pg = &w->page;

	w->page_limit = limit;
	if (worker_reserve(w, limit) ||
	    feed_page_read(w->store, w->cursor, w->batch_end, limit, pg))
		return -1;
	return feed_page_build(pg, w->store, &w->filter, &w->docs);
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
			log_warn(w->who, "the change feed is kept for export %s, which the store knows"
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

/* Is a pruning pass due?  Claims it when it is (the next one is then due
 * an interval later). */
static int prune_is_due(struct exporter *ex)
{
	int64_t now = time_now_ms();
	int due;

	pthread_mutex_lock(&ex->lock);
	due = now >= ex->prune_next_ms;
	if (due)
		ex->prune_next_ms = now + atomic_load(&prune_interval_ms);
	pthread_mutex_unlock(&ex->lock);
	return due;
}

/*
 * Deletes the changes every export has passed, PRUNE_CHUNK per short
 * transaction (the intake writer waits for at most one of them).  At most
 * one pass per prune interval in this process; a failure is logged and the
 * next pass tries again, nothing else depends on it.
 */
static void worker_prune(struct export_worker *w)
{
	struct store *s = w->store;
	int64_t bound;
	size_t total = 0, n = 0;

	if (!prune_is_due(w->ex))
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
 * was lost (rolled back and dropped: w->lease_epoch is -1), -1 a store
 * failure (rolled back). */
static int worker_begin_fenced(struct export_worker *w)
{
	struct store *s = w->store;
	int fence;

	if (s->ops->begin(s) || (fence = worker_fence(w)) < 0) {
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
static int worker_backfill_begin(struct export_worker *w)
{
	struct store *s = w->store;
	struct export_backfill b;
	int rc;

	if (!w->is_backfill_new || w->lease_epoch < 0)
		return 0;
	if ((rc = worker_begin_fenced(w)) <= 0)
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
static int worker_backfill(struct export_worker *w)
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
	if ((rc = worker_begin_fenced(w)) <= 0)
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
 * before (one may be undelivered).  As worker_backfill.
 */
static int worker_backfill_beside(struct export_worker *w)
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
	return w->cursor >= w->backfill_until ? worker_backfill(w) : 0;
}

static enum step worker_step(struct export_worker *w, uint64_t gen)
{
	char err[1024];
	int rc, is_disabled;

	if (!w->inst)
		return worker_disable(w, w->create_error, 0);
	if (!w->store) {
		rc = worker_open_store(w, err, sizeof(err));
		if (rc < 0)
			return worker_retry(w, err);
		if (rc == 1) {
			live_state(w, "disabled");
			log_warn(w->who, "disabled (%s): change its configuration to enable it",
				 w->saved.error);
			return STEP_DISABLED;
		}
	}
	rc = worker_lease(w, &is_disabled, err, sizeof(err));
	if (rc < 0 && is_disabled) {
		live_state(w, "disabled");
		log_warn(w->who, "disabled (%s): change its configuration to enable it",
			 w->saved.error);
		return STEP_DISABLED;
	}
	if (rc < 0)
		return worker_retry(w, err);
	if (rc == 0) { /* nothing for this process to do: idle, retried */
		worker_set_idle_as(w, gen, "held by another process");
		return STEP_HELD;
	}
	if (worker_backfill_begin(w)) {
		snprintf(err, sizeof(err), "backfill: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	if (w->lease_epoch < 0)
		return STEP_AGAIN; /* lost: taken again (or found held) first */
	if (w->batch_end <= w->cursor && worker_commit(w, w->cursor, NULL, 1)) {
		snprintf(err, sizeof(err), "planning a batch: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	worker_prune(w);
	if (worker_backfill_beside(w) < 0) {
		snprintf(err, sizeof(err), "backfill: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	if (w->lease_epoch < 0)
		return STEP_AGAIN; /* lost: taken again (or found held) first */
	if (w->batch_end <= w->cursor) {
		rc = worker_backfill(w);
		if (rc < 0) {
			snprintf(err, sizeof(err), "backfill: %s", store_error(w->store));
			return worker_retry(w, err);
		}
		if (rc > 0)
			return STEP_AGAIN; /* deliver that page */
		worker_set_idle(w, gen);
		return STEP_IDLE;
	}
	if (worker_read(w)) {
		snprintf(err, sizeof(err), "reading the change feed: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	if (w->page.n == 0) /* the planned changes were erased meanwhile */
		return worker_commit(w, w->batch_end, NULL, 0)
			       ? worker_retry(w, "the store refused the cursor")
			       : STEP_AGAIN;
	/* a plan larger than a page (batch_size lowered since it was made):
	 * planned again to the page's size and read again, so the batch sent
	 * has a range of its own, the same at every send even when changes
	 * of it leave the feed meanwhile (the page's last row would move) */
	if (w->page.n >= w->page_limit && page_end(w) < w->batch_end)
		return worker_commit(w, w->cursor, NULL, 1)
			       ? worker_retry(w, "the store refused the plan")
			       : STEP_AGAIN;
	return worker_deliver(w);
}

/* Waits ms, or less when stopped; an idle wait also ends on new changes. */
static void worker_sleep(struct export_worker *w, int64_t ms, uint64_t gen, int is_idle)
{
	struct exporter *ex = w->ex;
	struct timespec until;

	time_deadline(&until, CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&ex->lock);
	while (!atomic_load(&ex->stop) && !(is_idle && ex->wake_gen != gen))
		if (pthread_cond_timedwait(&ex->wake, &ex->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&ex->lock);
}

static uint64_t wake_gen_get(struct exporter *ex)
{
	uint64_t gen;
	pthread_mutex_lock(&ex->lock);
	gen = ex->wake_gen;
	pthread_mutex_unlock(&ex->lock);
	return gen;
}

static void *worker_main(void *arg)
{
	struct export_worker *w = arg;
	enum step st = STEP_AGAIN;

	w->rng = (uint64_t)time_now_ms() ^ (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ULL;
	while (!atomic_load(&w->ex->stop)) {
		uint64_t gen = wake_gen_get(w->ex);
		st = worker_step(w, gen);
		if (st == STEP_DISABLED)
			break;
		if (st == STEP_IDLE)
			worker_sleep(w, EXPORT_POLL_MS, gen, 1);
		else if (st == STEP_BACKOFF)
			worker_sleep(w, w->wait_ms, gen, 0);
		else if (st == STEP_HELD)
			worker_sleep(w, EXPORT_POLL_MS, gen, 0);
	}
	pthread_mutex_lock(&w->ex->lock);
	if (st != STEP_DISABLED)
		w->live.state = "stopped";
	w->live.lease = 0; /* released below */
	pthread_cond_broadcast(&w->ex->idle);
	pthread_mutex_unlock(&w->ex->lock);
	if (w->store && w->lease_epoch) {
		char name[300];
		lease_name(w, name, sizeof(name));
		w->store->ops->lease_release(w->store, name);
	}
	feed_page_free(&w->page);
	feed_docs_free(&w->docs);
	store_close(w->store);
	w->store = NULL;
	return NULL;
}

/* ---- configuration ---------------------------------------------------- */

/* The `kinds` of an export as a mask of feed kinds (every kind when it has
 * none). */
static int read_kinds(const struct config_instance *ci, unsigned *mask, char *err,
		      size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "kinds");
	char key[64], path[80];

	*mask = 0;
	if (!n || n->kind != CFG_SEQ)
		return 0;
	cfg_path_key(key, sizeof(key), ci->path, "kinds");
	for (size_t i = 0; i < n->n_children; i++) {
		const struct cfg_node *k = &n->children[i];
		const char *name = k->value ? k->value : "", *best;
		int kind = feed_kind_parse(name);
		if (kind < 0) {
			cfg_path_index(path, sizeof(path), key, i);
			best = feed_kind_closest(name);
			cfg_errorf(err, err_size, k, 0, path, "unknown change kind (%s%s%s%s)",
				   best ? "did you mean \"" : "", best ? best : "",
				   best ? "\"?; " : "", feed_kind_list());
			return -1;
		}
		*mask |= 1u << kind;
	}
	return 0;
}

static int filter_attributes(struct export_worker *w)
{
	const struct cfg_node *n = cfg_get(w->conf->node, "attributes");

	if (!n || n->kind != CFG_SEQ)
		return 0;
	w->filter.attributes = hub_calloc(n->n_children + 1, sizeof(*w->filter.attributes));
	if (!w->filter.attributes)
		return -1;
	for (size_t i = 0; i < n->n_children; i++)
		if (n->children[i].value)
			w->filter.attributes[w->filter.n_attributes++] = n->children[i].value;
	return 0;
}

/* `backfill` (default true); it runs only when profile_updated is wanted. */
static int read_backfill(const struct config_instance *ci, unsigned kinds_mask, int *is_on,
			 char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "backfill");

	*is_on = 1;
	if (n && !(n->kind == CFG_SCALAR && n->is_null) && cfg_as_bool(n, is_on)) {
		char path[64];
		cfg_path_key(path, sizeof(path), ci->path, "backfill");
		cfg_errorf(err, err_size, n, 0, path, "expected true or false");
		return -1;
	}
	if (kinds_mask && !(kinds_mask & (1u << FEED_PROFILE_UPDATED)))
		*is_on = 0;
	return 0;
}

static int read_batch_size(const struct config_instance *ci, size_t *size, char *err,
			   size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "batch_size");
	int64_t v = BATCH_DEFAULT;

	if (n && !(n->kind == CFG_SCALAR && n->is_null) &&
	    (cfg_as_int(n, &v) || v < 1 || v > BATCH_MAX)) {
		char path[64];
		cfg_path_key(path, sizeof(path), ci->path, "batch_size");
		cfg_errorf(err, err_size, n, 0, path, "expected 1 to %d", BATCH_MAX);
		return -1;
	}
	*size = (size_t)v;
	return 0;
}

int export_check_config(const struct config_instance *ci, char *err, size_t err_size)
{
	unsigned mask;
	size_t size;
	int is_on;

	return read_kinds(ci, &mask, err, err_size) ||
			       read_backfill(ci, mask, &is_on, err, err_size) ||
			       read_batch_size(ci, &size, err, err_size)
		       ? -1
		       : 0;
}

/* Checks one export against its plugin and creates its instance; a
 * create() failure only disables it. */
static int worker_init(struct exporter *ex, struct export_worker *w,
		       const struct config_instance *ci, char *err, size_t err_size)
{
	w->ex = ex;
	w->conf = ci;
	w->live.state = "starting";
	snprintf(w->who, sizeof(w->who), "export %s", ci->name);
	w->mod = plugin_registry_find(&ex->reg, ci->plugin);
	if (!w->mod) {
		plugin_registry_missing_at(&ex->reg, ci, err, err_size);
		return -1;
	}
	w->filter.export_name = ci->name;
	if (plugin_instance_check(w->mod, ci, 1, err, err_size) ||
	    read_kinds(ci, &w->filter.kinds_mask, err, err_size) ||
	    read_backfill(ci, w->filter.kinds_mask, &w->is_backfill_on, err, err_size) ||
	    read_batch_size(ci, &w->batch_size, err, err_size))
		return -1;
	if (filter_attributes(w) || export_fingerprint(ci, w->fingerprint)) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	if (plugin_instance_create(w->mod, ci, &w->inst, w->create_error,
				   sizeof(w->create_error)))
		w->inst = NULL;
	return 0;
}

static int open_registry(struct exporter *ex, char *err, size_t err_size)
{
	char *dir = ex->cfg->plugin_dir ? hub_strdup(ex->cfg->plugin_dir) : plugin_default_dir();
	int rc;

	if (!dir) {
		err_set(err, err_size, "cannot find the plugin directory");
		return -1;
	}
	rc = plugin_registry_open(&ex->reg, dir, err, err_size);
	hub_free(dir);
	ex->has_reg = rc == 0;
	return rc;
}

static int exporter_init_sync(struct exporter *ex)
{
	pthread_condattr_t ca;

	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC))
		return -1;
	pthread_mutex_init(&ex->lock, NULL);
	pthread_mutex_init(&ex->status_lock, NULL);
	pthread_mutex_init(&ex->lag_lock, NULL);
	pthread_mutex_init(&ex->prune_lock, NULL);
	pthread_cond_init(&ex->wake, &ca);
	pthread_cond_init(&ex->idle, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

/* Every export of the configuration, enabled or not, is registered in
 * the store before anything runs, so that every process sharing it keeps
 * the feed for them (export_known.c). */
static int register_exports(const struct hub_config *cfg, char *err, size_t err_size)
{
	struct store *s = NULL;
	int rc;

	if (cfg->n_exports == 0)
		return 0;
	if (store_open_existing(cfg, &s, err, err_size))
		return -1;
	rc = export_known_register(s, cfg);
	if (rc)
		err_set(err, err_size, "registering the exports in the store: %s", store_error(s));
	store_close(s);
	return rc;
}

int export_start(struct exporter **out, const struct hub_config *cfg, char *err,
		 size_t err_size)
{
	struct exporter *ex = hub_calloc(1, sizeof(*ex));
	size_t n = 0;

	*out = NULL;
	if (!ex || exporter_init_sync(ex)) {
		hub_free(ex);
		err_set(err, err_size, "out of memory");
		return -1;
	}
	ex->cfg = cfg;
	if (register_exports(cfg, err, err_size))
		goto fail;
	for (size_t i = 0; i < cfg->n_exports; i++)
		n += cfg->exports[i].is_enabled != 0;
	if (n == 0)
		goto done;
	if (open_registry(ex, err, err_size) ||
	    !(ex->workers = hub_calloc(n, sizeof(*ex->workers))))
		goto fail;
	for (size_t i = 0; i < cfg->n_exports; i++) {
		if (!cfg->exports[i].is_enabled)
			continue;
		if (worker_init(ex, &ex->workers[ex->n_workers++], &cfg->exports[i], err,
				err_size))
			goto fail;
	}
	for (size_t i = 0; i < ex->n_workers; i++) {
		struct export_worker *w = &ex->workers[i];
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			err_set(err, err_size, "cannot start the thread of export \"%s\"",
				w->conf->name);
			goto fail;
		}
		w->has_thread = 1;
	}
done:
	*out = ex;
	return 0;
fail:
	if (ex->has_reg && !err[0])
		err_set(err, err_size, "out of memory");
	export_stop(ex);
	return -1;
}

#define EXPORT_STOP_NOTE_S 10 /* how often a stop still waiting says so */

/* Joins a worker's thread.  Every EXPORT_STOP_NOTE_S it has not ended (a
 * plugin blocked in export_batch(), not checking should_stop()), logs what
 * the stop waits for. */
static void worker_join(struct export_worker *w)
{
	struct timespec until;
	const char *state;
	int64_t waited_s = 0;

	for (;;) {
		time_deadline(&until, CLOCK_REALTIME, EXPORT_STOP_NOTE_S * 1000);
		if (pthread_timedjoin_np(w->thread, NULL, &until) != ETIMEDOUT)
			return;
		waited_s += EXPORT_STOP_NOTE_S;
		pthread_mutex_lock(&w->ex->lock);
		state = w->live.state;
		pthread_mutex_unlock(&w->ex->lock);
		log_warn(w->who, "stopping: still waiting after %" PRId64 " s for plugin %s (%s)%s",
			 waited_s, w->mod->name, state,
			 strcmp(state, "delivering") == 0 ? ": its export_batch() has not returned" : "");
	}
}

void export_stop(struct exporter *ex)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	atomic_store(&ex->stop, 1);
	pthread_cond_broadcast(&ex->wake);
	pthread_mutex_unlock(&ex->lock);
	for (size_t i = 0; i < ex->n_workers; i++) {
		struct export_worker *w = &ex->workers[i];
		if (w->has_thread)
			worker_join(w);
		plugin_instance_destroy(w->inst);
		hub_free(w->filter.attributes);
		hub_free(w->texts);
		hub_free(w->rows);
	}
	hub_free(ex->workers);
	if (ex->has_reg)
		plugin_registry_close(&ex->reg);
	store_close(ex->status_store);
	store_close(ex->lag_store);
	hub_free(ex->lag_kept);
	pthread_mutex_destroy(&ex->status_lock);
	pthread_mutex_destroy(&ex->lag_lock);
	pthread_mutex_destroy(&ex->prune_lock);
	pthread_cond_destroy(&ex->wake);
	pthread_cond_destroy(&ex->idle);
	pthread_mutex_destroy(&ex->lock);
	hub_free(ex);
}

void export_notify(struct exporter *ex)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->wake_gen++;
	pthread_cond_broadcast(&ex->wake);
	pthread_mutex_unlock(&ex->lock);
}

/* 1 when every worker has read to the end since generation gen (or will
 * not read again). */
static int all_idle_since(struct exporter *ex, uint64_t gen)
{
	for (size_t i = 0; i < ex->n_workers; i++) {
		const struct export_worker *w = &ex->workers[i];
		const char *st = w->live.state;
		if (w->idle_gen < gen && strcmp(st, "disabled") != 0 && strcmp(st, "stopped") != 0)
			return 0;
	}
	return 1;
}

int export_wait_idle(struct exporter *ex, int64_t timeout_ms)
{
	struct timespec until;
	int rc = 0;

	time_deadline(&until, CLOCK_MONOTONIC, timeout_ms);
	/* the generation waited for is the latest: a worker that wrote to the
	 * feed meanwhile (a backfill page) woke the others to read it */
	pthread_mutex_lock(&ex->lock);
	++ex->wake_gen;
	pthread_cond_broadcast(&ex->wake);
	while (!all_idle_since(ex, ex->wake_gen))
		if (pthread_cond_timedwait(&ex->idle, &ex->lock, &until) != 0) {
			rc = all_idle_since(ex, ex->wake_gen) ? 0 : -1;
			break;
		}
	pthread_mutex_unlock(&ex->lock);
	return rc;
}

json_t *export_status_provider(void *exporter)
{
	struct exporter *ex = exporter;
	json_t *status = NULL;
	char err[512];

	if (!ex)
		return NULL;
	pthread_mutex_lock(&ex->status_lock);
	if (ex->status_store ||
	    store_open_existing(ex->cfg, &ex->status_store, err, sizeof(err)) == 0)
		status = export_status_json(ex, ex->status_store, ex->cfg, 100, err, sizeof(err));
	pthread_mutex_unlock(&ex->status_lock);
	if (!status)
		log_error("export", "status: %s", err);
	return status;
}

size_t export_count(const struct exporter *ex)
{
	return ex ? ex->cfg->n_exports : 0;
}

#define LAG_LOG_MS 60000 /* scrapes that cannot read the lag: a line at most this often */

/*
 * Scrapes that cannot read the lag (the store down) are logged as a state,
 * not one line each (a scrape every 15 s for an hour of outage): the first
 * with its cause, then at most one line every LAG_LOG_MS naming the count,
 * and one when a scrape reads it again.
 */
static const struct outage_words lag_outage_words = {
	.module = "export",
	.every_ms = LAG_LOG_MS,
	.first = "lag for /metrics",
	.meanwhile = "export_lag_changes is left out until it can be read",
	.ongoing = "lag for /metrics unread",
	.counted = "scrapes",
	.over = "lag for /metrics read again",
	.was = "unread",
};

/* Keeps the n lags a read found (none when it failed: n < 0) for the
 * scrapes that come while the next read waits on the store. */
static void lag_keep(struct exporter *ex, const struct export_lag *lags, int n)
{
	pthread_mutex_lock(&ex->lock);
	if (!ex->lag_kept && n > 0)
		ex->lag_kept = hub_calloc(ex->cfg->n_exports, sizeof(*ex->lag_kept));
	ex->n_lag_kept = ex->lag_kept && n > 0 ? (size_t)n : 0;
	if (ex->n_lag_kept)
		memcpy(ex->lag_kept, lags, ex->n_lag_kept * sizeof(*lags));
	ex->lag_kept_ms = time_mono_ms();
	pthread_mutex_unlock(&ex->lock);
}

/* The lags kept by the last read (at most max), *age_ms since it. */
static int lag_kept_get(struct exporter *ex, struct export_lag *out, size_t max,
			int64_t *age_ms)
{
	size_t n;

	pthread_mutex_lock(&ex->lock);
	n = ex->n_lag_kept < max ? ex->n_lag_kept : max;
	if (n)
		memcpy(out, ex->lag_kept, n * sizeof(*out));
	*age_ms = time_mono_ms() - ex->lag_kept_ms;
	pthread_mutex_unlock(&ex->lock);
	return (int)n;
}

int export_lag_provider(struct exporter *ex, struct export_lag *out, size_t max,
			int64_t *age_ms)
{
	char err[512] = "";
	int n = -1;

	*age_ms = 0;
	if (export_count(ex) == 0 || max == 0)
		return 0;
	if (pthread_mutex_trylock(&ex->lag_lock) != 0)
		return lag_kept_get(ex, out, max, age_ms); /* a read is under way */
	if (ex->lag_store || store_open_existing(ex->cfg, &ex->lag_store, err, sizeof(err)) == 0) {
		if (ex->lag_hook)
			ex->lag_hook(ex->lag_hook_ctx, ex->lag_store);
		n = export_lag_read(ex, ex->lag_store, ex->cfg, out, max);
		if (n < 0)
			err_set(err, sizeof(err), "%s", store_error(ex->lag_store));
	}
	if (n < 0)
		outage_note_failure(&ex->lag_outage, &lag_outage_words, 1, err);
	else
		outage_note_ok(&ex->lag_outage, &lag_outage_words);
	lag_keep(ex, out, n);
	pthread_mutex_unlock(&ex->lag_lock);
	return n;
}

void export_set_lag_hook(struct exporter *ex, void (*hook)(void *ctx, struct store *s),
			 void *ctx)
{
	ex->lag_hook = hook;
	ex->lag_hook_ctx = ctx;
}

/* ---- asking for a backfill ------------------------------------------------ */

const struct config_instance *export_config(const struct hub_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_exports; i++)
		if (strcmp(cfg->exports[i].name, name) == 0)
			return &cfg->exports[i];
	return NULL;
}

enum export_backfill_check export_backfill_check(const struct hub_config *cfg, const char *name,
						 char *err, size_t err_size)
{
	const struct config_instance *ci = export_config(cfg, name);
	unsigned mask = 0;
	char kerr[256];

	if (!ci) {
		config_missing_export(cfg, name, err, err_size);
		return EXPORT_BACKFILL_NO_EXPORT;
	}
	if (read_kinds(ci, &mask, kerr, sizeof(kerr)) == 0 && mask &&
	    !(mask & (1u << FEED_PROFILE_UPDATED))) {
		err_set(err, err_size, "export %s: its kinds leave out profile_updated, so a"
			" backfill would send it nothing", name);
		return EXPORT_BACKFILL_NO_UPDATES;
	}
	return EXPORT_BACKFILL_OK;
}

int export_retry_provider(void *exporter, const char *name, int *why, int64_t *n_retried,
			  char *err, size_t err_size)
{
	struct exporter *ex = exporter;
	struct store *s = NULL;
	int rc = -1;

	*why = EXPORT_BACKFILL_OK;
	*n_retried = 0;
	if (!ex) {
		err_set(err, err_size, "no exporter");
		return -1;
	}
	if (!export_config(ex->cfg, name)) {
		err_set(err, err_size, "no export named \"%s\" in %s", name, ex->cfg->file);
		*why = EXPORT_BACKFILL_NO_EXPORT;
		return 1;
	}
	/* a connection of its own: a retry of many dead letters runs many
	 * transactions, and the status (GET /v1/exports) must not wait */
	if (store_open_existing(ex->cfg, &s, err, err_size) == 0) {
		rc = export_dead_letters_retry(s, name, time_now_ms(), n_retried);
		if (rc)
			err_set(err, err_size, "%s", store_error(s));
		store_close(s);
	}
	if (rc == 0) {
		log_info("export", "%s: %lld dead letters sent again, asked for over the API", name,
			 (long long)*n_retried);
		export_notify(ex);
	}
	return rc;
}

int export_backfill_provider(void *exporter, const char *name, int *why, char *err,
			     size_t err_size)
{
	struct exporter *ex = exporter;
	int rc = -1;

	*why = EXPORT_BACKFILL_OK;
	if (!ex) {
		err_set(err, err_size, "no exporter");
		return -1;
	}
	if ((*why = (int)export_backfill_check(ex->cfg, name, err, err_size)) != EXPORT_BACKFILL_OK)
		return 1;
	pthread_mutex_lock(&ex->status_lock);
	if (ex->status_store ||
	    store_open_existing(ex->cfg, &ex->status_store, err, err_size) == 0) {
		rc = export_backfill_request(ex->status_store, name);
		if (rc)
			err_set(err, err_size, "%s", store_error(ex->status_store));
	}
	pthread_mutex_unlock(&ex->status_lock);
	if (rc == 0) {
		log_info("export", "backfill of %s asked for over the API", name);
		export_notify(ex);
	}
	return rc;
}
