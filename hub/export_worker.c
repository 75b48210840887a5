/*
 * export_worker.c - an export's thread: one per enabled export, each with
 * its own store connection, its own plugin instance and a loop of
 *
 *     read a page after the cursor -> build the changes (export_feed.c)
 *     -> export_batch() -> commit the new cursor -> react to the answer
 *
 * The cursor is committed in a store transaction only after the plugin said
 * the changes are durably accepted, so a crash at any point sends changes
 * again (at least once) but never skips one.  Pages are read in seq order
 * and never reordered: order per profile is kept.  What each plugin answer
 * leads to is listed in export.h.  What a worker writes to the store, and
 * the lease that lets it, are export_commit.c's.
 *
 * Threads: a worker's store, page, cursor and plugin instance belong to its
 * thread; `live` (what the status shows) is shared under exporter.lock.
 * Nothing here knows SQL, HTTP or a plugin's protocol.
 */
#include "export_int.h"

#include "alloc.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


static _Atomic int64_t backoff_base_ms = 200;
static _Atomic int64_t backoff_cap_ms = 30000;

enum step {
	STEP_AGAIN,    /* go on at once */
	STEP_IDLE,     /* caught up: wait for new changes */
	STEP_BACKOFF,  /* wait w->wait_ms, then try again */
	STEP_DISABLED, /* stop this export */
	STEP_HELD,     /* another process holds the lease: try again later */
};

/* ---- backoff ---------------------------------------------------------- */

void export_set_backoff(int64_t base_ms, int64_t cap_ms)
{
	atomic_store(&backoff_base_ms, base_ms > 0 ? base_ms : 1);
	atomic_store(&backoff_cap_ms, cap_ms > base_ms ? cap_ms : base_ms);
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

/* A state other than "retrying": no next attempt is waited for (one
 * shown would be a retry's, a time past). */
static void live_state(struct export_worker *w, const char *state)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.state = state;
	w->live.next_attempt_at_ms = 0;
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
	w->live.is_error_past = 0;
	w->live.next_attempt_at_ms = next_ms ? now + next_ms : 0;
	pthread_mutex_unlock(&w->ex->lock);
	str_copy_utf8(w->saved.error, sizeof(w->saved.error), msg);
	w->saved.error_at_ms = now;
	w->saved.is_error_past = 0;
	w->is_saved_dirty = 1;
}

/* A delivery after an error: the error is past, saved so with the cursor
 * of that delivery (live_progress() shows it after the commit). */
static void worker_error_past(struct export_worker *w)
{
	if (!w->saved.error[0] || w->saved.is_error_past)
		return;
	w->saved.is_error_past = 1;
	w->is_saved_dirty = 1;
}

static void live_progress(struct export_worker *w, size_t delivered, size_t dead)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.cursor = w->cursor;
	w->live.delivered += (int64_t)delivered;
	w->live.dead_lettered += (int64_t)dead;
	w->live.is_error_past = w->saved.is_error_past;
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

/* ---- reactions ------------------------------------------------------- */

#define FAILING_LOG_MS 60000 /* while deliveries fail: a line at most this often */

/*
 * Failed attempts (a receiver down, the store refusing the cursor) are
 * logged as a state, not one line per retry (a receiver down for an hour
 * was about 240 lines, and its return none): the first with its cause, a
 * reminder with the count at most every FAILING_LOG_MS, and "delivering
 * again" at the next batch delivered (or once caught up).  At warn, as the
 * retries were: a receiver's 429 or a minute's outage loses nothing and is
 * waited out, no error to page anyone for (the hub's own store failing,
 * the intake's outage, is).  The words name the export (w->who).
 */
static struct outage_words worker_failing_words(const struct export_worker *w)
{
	return (struct outage_words){
		.module = w->who,
		.every_ms = FAILING_LOG_MS,
		.first = "delivery failing",
		.meanwhile = "its changes wait in the feed and are sent again with backoff",
		.ongoing = "delivery failing",
		.counted = "attempts failed",
		.over = "delivering again",
		.was = "failing",
		.is_warn = 1,
	};
}

/* w->failing as GET /metrics shows it (export_stats()). */
static void live_failing(struct export_worker *w)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.failing_began_ms = w->failing.since_ms ? w->failing.began_ms : 0;
	w->live.failed_attempts = w->failing.since_ms ? w->failing.n : 0;
	pthread_mutex_unlock(&w->ex->lock);
}

/* A delivery (a receiver's answer about a change, or nothing left to
 * deliver): a failing state ends. */
static void worker_failing_over(struct export_worker *w)
{
	struct outage_words words = worker_failing_words(w);

	if (outage_note_ok(&w->failing, &words))
		live_failing(w);
}

/* A disabled export is not failing (/metrics' export_failing, alerted on):
 * its failing state, if any, ends without a "delivering again" line, and
 * one enabled again that fails starts a new one.  Before its state shows
 * disabled, so that /metrics agrees with the status. */
static void worker_failing_drop(struct export_worker *w)
{
	memset(&w->failing, 0, sizeof(w->failing));
	w->attempt = 0;
	live_failing(w);
}

/* Another process holds the export's lease: it delivers the export, and
 * its /metrics say how that goes.  This one tries nothing meanwhile, so a
 * failing state of its own (its store failing at its start) ends, said in
 * the log: export_failing stayed 1 here with its seconds growing, an alert
 * on a process that delivers nothing while the holder was fine.  One that
 * fails again once it takes the lease starts a new one, its backoff from
 * the first retry. */
static void worker_failing_held(struct export_worker *w)
{
	struct outage_words words = worker_failing_words(w);

	words.over = "not failing in this process: another process holds the export's lease"
		     " and delivers it";
	if (outage_note_ok(&w->failing, &words))
		live_failing(w);
	w->attempt = 0;
}

static enum step worker_retry(struct export_worker *w, const char *msg)
{
	struct outage_words words = worker_failing_words(w);
	int64_t delay = export_backoff_ms(w->attempt, retry_after_ms_parse(msg),
					  worker_random(w));
	char why[1200];

	if (w->attempt < 64)
		w->attempt++;
	snprintf(why, sizeof(why), "%s (retry %u in %" PRId64 " ms)", msg, w->attempt, delay);
	outage_note_failure(&w->failing, &words, 1, why);
	live_failing(w); /* before "retrying" shows: /metrics agrees with the status */
	live_error(w, "retrying", msg, delay);
	if (w->store) /* the error, for `profilehub exports` */
		export_worker_commit(w, w->cursor, NULL, 0);
	w->wait_ms = delay;
	return STEP_BACKOFF;
}

/* w->is_disable_unsaved, shared for export_enable_provider(). */
static void worker_unsaved_set(struct export_worker *w, int on)
{
	w->is_disable_unsaved = on;
	pthread_mutex_lock(&w->ex->lock);
	w->is_unsaved_shared = on;
	pthread_mutex_unlock(&w->ex->lock);
}

static enum step worker_disable(struct export_worker *w, const char *msg, int is_saved)
{
	/* the slow fingerprint (some 0.1 s) before the line, not between it
	 * and the save: a reader of the store that saw the line found the
	 * export still enabled */
	if (is_saved)
		export_worker_fingerprint(w);
	/* logged before the state says disabled: export_wait_idle() takes a
	 * disabled export for idle, and may return as soon as it is set */
	if (is_saved)
		log_error(w->who,
			  "disabled until its configuration changes or `profilehub exports"
			  " enable %s`: %s",
			  w->conf->name, msg);
	else
		log_error(w->who,
			  "disabled until the hub restarts (its plugin could not start): %s", msg);
	worker_failing_drop(w);
	live_error(w, "disabled", msg, 0);
	if (is_saved) {
		w->saved.is_disabled = 1;
		snprintf(w->saved.fingerprint, sizeof(w->saved.fingerprint), "%s",
			 export_worker_fingerprint(w));
		/* unsaved, the store would have it enabled, and the worker
		 * waiting for that would go on at once: kept here instead */
		if (w->store && export_worker_commit(w, w->cursor, NULL, 0)) {
			worker_unsaved_set(w, 1);
			w->unsaved_epoch = w->lease_epoch; /* -1: lost, dropped */
			log_error(w->who, "its disable could not be saved: it stays disabled in"
				  " this process and saves it when the store takes writes again");
		}
	}
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

/*
 * After export_worker_commit() failed: the store refused it, a failed
 * attempt retried with backoff (msg); or its fence found the lease lost
 * (export_commit.c logged that): another process took it since this
 * one's take.  Nothing failed then, and nothing is counted: the next step
 * takes the lease again (reading the cursor again) or finds it held.  A
 * batch the plugin had (is_sent) went with no cursor saved: the process
 * holding the lease (this one, should it take it again) sends it again
 * from the saved cursor, its planned range unchanged, so with the same
 * idempotency key.
 */
static enum step worker_commit_failed(struct export_worker *w, const char *msg, int is_sent)
{
	if (w->lease_epoch >= 0)
		return worker_retry(w, msg);
	if (is_sent)
		log_info(w->who, "the batch of seq %" PRId64 "..%" PRId64 " was sent, its cursor"
			 " not saved (the lease was lost): the process holding the lease sends it"
			 " again, the same range with the same idempotency key; not a failed"
			 " attempt", w->cursor + 1, page_end(w));
	return STEP_AGAIN;
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

/* Whether the line of l is due, at most one every LOG_EVERY_MS: a receiver
 * that refuses every change would otherwise write a line per change (or
 * per batch) for as long as it does.  The ones in between are counted:
 * *n_since (set when due) says how many the due line stands for besides
 * itself; `profilehub exports` and /metrics count every dead letter. */
int export_log_every_due_at(struct log_every *l, int64_t now_ms, int64_t *n_since)
{
	if (l->is_logged && now_ms - l->logged_ms < LOG_EVERY_MS) {
		l->n_unlogged++;
		return 0;
	}
	*n_since = l->n_unlogged;
	l->is_logged = 1;
	l->logged_ms = now_ms;
	l->n_unlogged = 0;
	return 1;
}

static int log_every_due(struct log_every *l, int64_t *n_since)
{
	return export_log_every_due_at(l, time_mono_ms(), n_since);
}

/* " (N more <what> since the last such line)" in buf, or "" when n is 0. */
static const char *more_since(char *buf, size_t size, int64_t n, const char *what)
{
	buf[0] = '\0';
	if (n > 0)
		snprintf(buf, size, " (%lld more %s since the last such line)", (long long)n, what);
	return buf;
}

/* HUB_ERR_DATA: dead-letter the change when it is known, else send the
 * undelivered changes of this call again one at a time. */
static enum step worker_data_error(struct export_worker *w, size_t m, size_t n_done,
				   const char *msg)
{
	const struct feed_row *bad = &w->page.rows[w->rows[n_done]];
	int64_t n_since = 0;
	char note[128], more[80], reason[1024];
	struct store_dead_letter dl = {
		.export_name = w->conf->name,
		.seq = bad->seq,
		.profile_id = bad->profile_id,
		.at_ms = time_now_ms(),
		.reason = reason,
		.change_json = bad->text,
	};

	/* the plugin's text, UTF-8 as the store and the status's JSON take it
	 * (PostgreSQL refused the dead letter, for ever; SQLite kept it, and
	 * every status failed) */
	str_copy_utf8(reason, sizeof(reason), msg[0] ? msg : "refused by the plugin");
	if (m - n_done > 1) {
		w->isolate_until = w->page.rows[w->rows[m - 1]].seq;
		if (export_worker_commit(w, handled_cursor(w, m, n_done), NULL, 1))
			return worker_commit_failed(w, "the store refused the cursor", 1);
		live_progress(w, n_done, 0);
		if (log_every_due(&w->isolate_log, &n_since))
			log_info(w->who, "a change of seq %" PRId64 "..%" PRId64
				 " was refused: sending them one at a time%s",
				 bad->seq, w->isolate_until,
				 more_since(more, sizeof(more), n_since, "refused batches"));
		return STEP_AGAIN;
	}
	/* The reason stays with the dead letter alone: a receiver's answer
	 * may quote the change (an email it refused), and an erase of its
	 * person deletes the dead letter, not copies in the export's state
	 * or the log. */
	snprintf(note, sizeof(note),
		 "change %" PRId64
		 " was dead-lettered (its reason is in the export's dead letters)",
		 bad->seq);
	live_error(w, "delivering", note, 0);
	if (export_worker_commit(w, bad->seq, &dl, 0))
		return worker_commit_failed(w, "the store refused the dead letter", 1);
	live_progress(w, n_done, 1);
	worker_failing_over(w);
	if (log_every_due(&w->dead_log, &n_since))
		log_warn(w->who, "%s%s", note, more_since(more, sizeof(more), n_since,
							 "dead-lettered"));
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

/* HUB_OK with *n_done 0: nothing delivered, so retried as a failure.  Says
 * so in err, with what the plugin wrote there: an export_batch() that
 * forgot to set *n_done (its author's likeliest slip) is otherwise told
 * only that it "accepted none", which it believes it did not. */
static const char *ok_of_none(size_t m, char *err, size_t err_size)
{
	char own[512];

	snprintf(own, sizeof(own), "%.*s", (int)sizeof(own) - 1, err); /* cut past 511 */
	snprintf(err, err_size, "the plugin's export_batch() answered HUB_OK with *n_done 0 of"
		 " %zu changes: none taken as delivered, the batch is sent again (set *n_done"
		 " to the changes accepted)%s%s", m, own[0] ? "; its message: " : "", own);
	return err;
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
	struct hub_call *h;
	hub_rc rc;

	for (size_t i = 0; i < pg->n; i++) {
		if (!pg->rows[i].text)
			continue;
		w->texts[m] = pg->rows[i].text;
		w->rows[m++] = i;
	}
	if (m == 0) { /* all filtered out */
		if (export_worker_commit(w, page_end(w), NULL, 0))
			return worker_commit_failed(w, "the store refused the cursor", 0);
		live_progress(w, 0, 0);
		return STEP_AGAIN;
	}
	/* the planned range, not the seqs sent: the same at every send */
	call.batch_first = w->cursor + 1;
	call.batch_last = page_end(w);
	live_state(w, "delivering");
	h = host_call_enter(&call, "export_batch");
	rc = w->mod->desc->export_batch(w->inst->state, h, w->texts, m, &n_done, err,
					sizeof(err));
	host_call_leave(h);
	plugin_err_end(err, sizeof(err));
	if (worker_bad_answer(w, rc, m, n_done, err, sizeof(err))) {
		n_done = 0;
		rc = HUB_RETRY;
	}
	if (n_done > 0) /* taken: sent again should its cursor not be saved */
		w->sent_end = handled_cursor(w, m, n_done);
	if (rc == HUB_ERR_DATA && n_done == m) { /* every change accepted: none to dead-letter */
		log_warn(w->who, "the plugin answered bad data but accepted all %zu changes", m);
		rc = HUB_OK;
	}
	if (rc == HUB_ERR_DATA)
		return worker_data_error(w, m, n_done, err);
	if (rc == HUB_OK && n_done > 0)
		worker_error_past(w);
	if (export_worker_commit(w, handled_cursor(w, m, n_done), NULL, 0))
		return worker_commit_failed(w, "the store refused the cursor", 1);
	live_progress(w, n_done, 0);
	if (n_done > 0)
		w->attempt = 0;
	if (n_done > 0 && rc == HUB_OK) /* part then a retry: failing still, one state */
		worker_failing_over(w);
	w->is_delivering = rc == HUB_OK && n_done > 0;
	if (rc != HUB_OK && atomic_load(&w->ex->stop))
		return STEP_AGAIN; /* interrupted by the stop: the next run goes on */
	switch (rc) {
	case HUB_OK:
		if (n_done > 0)
			return STEP_AGAIN;
		return worker_retry(w, ok_of_none(m, err, sizeof(err)));
	case HUB_ERR_AUTH:
	case HUB_ERR_CONFIG:
		return worker_disable(w, err[0] ? err : "refused by the plugin", 1);
	default: /* HUB_ERR_STOPPED too: the hub's own stop was handled above */
		return worker_retry(w, err[0] ? err : "temporary failure");
	}
}

/* Idle, or "held by another process": as live_state(), and said to
 * export_wait_idle(). */
static void worker_set_idle_as(struct export_worker *w, uint64_t gen, const char *state)
{
	pthread_mutex_lock(&w->ex->lock);
	w->live.state = state;
	w->live.next_attempt_at_ms = 0;
	w->idle_gen = gen;
	pthread_cond_broadcast(&w->ex->idle);
	pthread_mutex_unlock(&w->ex->lock);
}

/* Caught up: a failing state (the store refusing the lease or the cursor,
 * with nothing to deliver since) ends here, not at some later delivery. */
static void worker_set_idle(struct export_worker *w, uint64_t gen)
{
	worker_failing_over(w);
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
	size_t limit = export_worker_limit(w, w->cursor);
	struct feed_page *pg = &w->page;

	w->page_limit = limit;
	if (worker_reserve(w, limit) ||
	    feed_page_read(w->store, w->cursor, w->batch_end, limit, pg))
		return -1;
	return feed_page_build(pg, w->store, &w->filter, &w->docs);
}

/* The store has the export disabled under this configuration. */
static enum step worker_found_disabled(struct export_worker *w)
{
	worker_failing_drop(w);
	live_state(w, "disabled");
	log_warn(w->who, "disabled (%s): change its configuration, or run"
		 " `profilehub exports enable %s`, to enable it",
		 w->saved.error, w->conf->name);
	return STEP_DISABLED;
}

static enum step worker_step(struct export_worker *w, uint64_t gen)
{
	char err[1024];
	int rc, is_disabled;

	if (!w->inst)
		return worker_disable(w, w->create_error, 0);
	if (!w->store) {
		rc = export_worker_open_store(w, err, sizeof(err));
		if (rc < 0)
			return worker_retry(w, err);
		if (rc == 1)
			return worker_found_disabled(w);
	}
	rc = export_worker_lease(w, &is_disabled, err, sizeof(err));
	if (rc < 0 && is_disabled)
		return worker_found_disabled(w);
	if (rc < 0)
		return worker_retry(w, err);
	if (rc == 0) { /* nothing for this process to do: idle, retried */
		worker_failing_held(w); /* before the state: /metrics agrees with it */
		worker_set_idle_as(w, gen, "held by another process");
		return STEP_HELD;
	}
	if (export_worker_backfill_begin(w)) {
		snprintf(err, sizeof(err), "backfill: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	if (w->lease_epoch < 0)
		return STEP_AGAIN; /* lost: taken again (or found held) first */
	if (w->batch_end <= w->cursor && export_worker_commit(w, w->cursor, NULL, 1)) {
		snprintf(err, sizeof(err), "planning a batch: %s", store_error(w->store));
		return worker_commit_failed(w, err, 0);
	}
	export_worker_prune(w);
	if (export_worker_backfill_beside(w) < 0) {
		snprintf(err, sizeof(err), "backfill: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	if (w->lease_epoch < 0)
		return STEP_AGAIN; /* lost: taken again (or found held) first */
	if (w->batch_end <= w->cursor) {
		rc = export_worker_backfill(w);
		if (rc < 0) {
			snprintf(err, sizeof(err), "backfill: %s", store_error(w->store));
			return worker_retry(w, err);
		}
		if (rc > 0)
			return STEP_AGAIN; /* deliver that page */
		if (w->lease_epoch < 0)
			return STEP_AGAIN; /* lost before the page: not idle, its page is due */
		worker_set_idle(w, gen);
		return STEP_IDLE;
	}
	if (worker_read(w)) {
		snprintf(err, sizeof(err), "reading the change feed: %s", store_error(w->store));
		return worker_retry(w, err);
	}
	if (w->page.n == 0) /* the planned changes were erased meanwhile */
		return export_worker_commit(w, w->batch_end, NULL, 0)
			       ? worker_commit_failed(w, "the store refused the cursor", 0)
			       : STEP_AGAIN;
	/* a plan larger than a page (batch_size lowered since it was made):
	 * planned again to the page's size and read again, so the batch sent
	 * has a range of its own, the same at every send even when changes
	 * of it leave the feed meanwhile (the page's last row would move) */
	if (w->page.n >= w->page_limit && page_end(w) < w->batch_end)
		return export_worker_commit(w, w->cursor, NULL, 1)
			       ? worker_commit_failed(w, "the store refused the plan", 0)
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

#define ENABLE_POLL_MS 1000 /* a disabled export reads its saved state this often */

static _Atomic int64_t enable_poll_ms = ENABLE_POLL_MS; /* tests shorten it */

void export_set_enable_poll(int64_t ms)
{
	atomic_store(&enable_poll_ms, ms > 0 ? ms : ENABLE_POLL_MS);
}

/* The API's enable of an export disabled here, unsaved: dropped.  Saved
 * since the API read the store: enabled in the store, as asked. */
static void worker_enable_asked(struct export_worker *w)
{
	int is_asked, was_disabled = 0;

	pthread_mutex_lock(&w->ex->lock);
	is_asked = w->is_enable_asked;
	w->is_enable_asked = 0;
	pthread_mutex_unlock(&w->ex->lock);
	if (!is_asked)
		return;
	if (w->is_disable_unsaved) {
		worker_unsaved_set(w, 0);
		log_info(w->who, "its disable, which the store refused to save, is dropped:"
			 " enabled again over the API");
	} else if (export_enable(w->store, w->conf->name, &was_disabled)) {
		log_error(w->who, "cannot enable it again as the API asked: %s",
			  store_error(w->store));
	}
}

/* A disabled export waits for export_enable() (`profilehub exports
 * enable`, here or in another process): the store no longer has it
 * disabled under this configuration.  It gives up its lease meanwhile and
 * reads its saved state every ENABLE_POLL_MS, at once when woken (the
 * API's enable).  A disable the store refused to save is saved again
 * instead (under the lease: dropped when another process holds it), and
 * the state read only once that is settled.  1: enabled again,
 * taken up from its cursor by a new take of the lease; 0: stopping, or it
 * cannot be (its plugin could not start: only a restart creates it again). */
static int worker_wait_enabled(struct export_worker *w)
{
	struct export_saved saved;
	char name[300];
	int saved_rc;

	if (!w->inst || !w->store)
		return 0;
	if (w->lease_epoch > 0) {
		export_lease_name(w, name, sizeof(name));
		w->store->ops->lease_release(w->store, name);
		pthread_mutex_lock(&w->ex->lock);
		w->live.lease = 0;
		pthread_mutex_unlock(&w->ex->lock);
	}
	w->lease_epoch = 0;
	while (!atomic_load(&w->ex->stop)) {
		uint64_t gen = wake_gen_get(w->ex);
		worker_enable_asked(w);
		if (w->is_disable_unsaved && (saved_rc = export_worker_save_state(w)) >= 0) {
			worker_unsaved_set(w, 0);
			if (saved_rc == 0)
				log_info(w->who, "its disable is saved now");
			else if (saved_rc == 1)
				log_warn(w->who, "its disable is not saved: another process"
					 " delivers the export now (it meets the refusal"
					 " itself if the cause lasts)");
			else
				log_warn(w->who, "its disable is not saved: another process"
					 " took the export's lease since and may have saved"
					 " newer state (an enable, a cursor); this process"
					 " reads it and meets the refusal again if the cause"
					 " lasts");
		}
		if (!w->is_disable_unsaved &&
		    export_saved_load(w->store, w->conf->name, &saved) >= 0 &&
		    !(saved.is_disabled &&
		      export_fingerprint_is_of(w->conf, saved.fingerprint,
					       export_worker_fingerprint(w)))) {
			log_info(w->who, "enabled again: delivering from seq %" PRId64,
				 w->cursor + 1);
			w->attempt = 0;
			return 1;
		}
		/* disabled: idle for export_wait_idle(), as a stopped thread was */
		pthread_mutex_lock(&w->ex->lock);
		pthread_cond_broadcast(&w->ex->idle);
		pthread_mutex_unlock(&w->ex->lock);
		worker_sleep(w, atomic_load(&enable_poll_ms), gen, 1);
	}
	return 0;
}

void *export_worker_main(void *arg)
{
	struct export_worker *w = arg;
	enum step st = STEP_AGAIN;

	w->rng = (uint64_t)time_now_ms() ^ (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ULL;
	while (!atomic_load(&w->ex->stop)) {
		uint64_t gen = wake_gen_get(w->ex);
		st = worker_step(w, gen);
		if (st == STEP_DISABLED && !worker_wait_enabled(w))
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
	w->live.next_attempt_at_ms = 0; /* none: stopped, or disabled */
	w->live.lease = 0; /* released below */
	pthread_cond_broadcast(&w->ex->idle);
	pthread_mutex_unlock(&w->ex->lock);
	if (w->store && w->lease_epoch) {
		char name[300];
		export_lease_name(w, name, sizeof(name));
		w->store->ops->lease_release(w->store, name);
	}
	feed_page_free(&w->page);
	feed_docs_free(&w->docs);
	store_close(w->store);
	w->store = NULL;
	pthread_mutex_lock(&w->ex->lock);
	w->is_exited = 1; /* worker_join's */
	pthread_cond_broadcast(&w->ex->idle);
	pthread_mutex_unlock(&w->ex->lock);
	return NULL;
}
