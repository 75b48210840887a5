/*
 * sync.c - one sync run of a pull source.
 *
 * The run lends the plugin a struct hub_call: emit() validates the record
 * (record_from_hub) into the current page (a record refused there, or an
 * item the plugin refused with reject(), counts as rejected with its
 * reason; one it cannot take, out of memory, fails the page as a failed
 * commit does), checkpoint() hands the page and its cursor to the intake
 * as one batch and waits until the transaction holding both has committed.  So
 * the committed cursor never runs ahead of durable records: a crash
 * replays at most the page in flight, and message_id dedupe makes the
 * replay harmless.
 *
 * pull() is called again while it answers HUB_MORE, always with the last
 * committed cursor.  A transient failure (HUB_RETRY, from the plugin or a
 * failed commit) drops the uncommitted page and pulls again from that
 * cursor after a backoff with full jitter, at most max_retries times in a
 * row.  A stop request lets the page in progress finish and commit.
 * Once the run's last pull has returned, the plugin's run_end() is told.
 *
 * Thread: everything here runs on the caller's thread; the intake's writer
 * is the only other thread involved (through intake_submit/wait).
 */
#include "sync.h"

#include "alloc.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CURSOR_MAX 8192

/* ---- stop requests ---------------------------------------------------- */

void sync_stop_init(struct sync_stop *s)
{
	atomic_init(&s->is_stopping, 0);
	pthread_mutex_init(&s->lock, NULL);
	/* a backoff wait on the monotonic clock: a wall clock set back (NTP, a
	 * restored VM) cannot stretch it; the wall clock only if that cannot
	 * be set up (not on Linux) */
	s->clock = CLOCK_MONOTONIC;
	if (time_cond_init(&s->cond)) {
		s->clock = CLOCK_REALTIME;
		pthread_cond_init(&s->cond, NULL);
	}
}

void sync_stop_destroy(struct sync_stop *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

void sync_stop_request(struct sync_stop *s)
{
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->is_stopping, 1);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}


int sync_stop_wait_ms(struct sync_stop *s, int64_t ms)
{
	struct timespec deadline;
	int stopping;

	if (!s) {
		struct timespec d = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
		while (nanosleep(&d, &d) != 0)
			;
		return 0;
	}
	time_deadline(&deadline, s->clock, ms);
	pthread_mutex_lock(&s->lock);
	while (!(stopping = atomic_load(&s->is_stopping)) &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == 0)
		;
	pthread_mutex_unlock(&s->lock);
	return stopping;
}

/* ---- small pieces ------------------------------------------------------ */

void sync_cursor_key(const char *source, char *buf, size_t size)
{
	snprintf(buf, size, "cursor:%s", source);
}


static uint64_t default_random(void *ctx)
{
	static _Atomic uint64_t state;
	uint64_t x = atomic_load(&state);

	(void)ctx;
	if (x == 0)
		x = (uint64_t)time_now_ms() * 0x9E3779B97F4A7C15ULL | 1;
	/* xorshift64*: plenty for jitter */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	atomic_store(&state, x);
	return x * 2685821657736338717ULL;
}

/* ---- pages: emit and checkpoint ---------------------------------------- */

/* Records validated between two checkpoints; then one intake batch. */
struct page {
	struct record **recs;
	size_t n_recs, cap_recs;
	int64_t read, rejected, warnings, skipped;
	char *cursor;            /* the checkpoint it commits, or NULL */
	struct intake_batch batch;
};

struct run {
	const struct sync_params *p;
	struct sync_report *rep;
	const char *source;
	char cursor_key[300];
	char columns_key[320];   /* cursor_columns:<source> */
	char *columns;           /* the `cursor` config (sync_columns.c), or NULL */
	int is_columns_missing;  /* a cursor was loaded without its columns row,
				  * and no page of this run has saved it yet */
	char fence_key[320];     /* lease_epoch:sync:<source> */
	struct hub_call call;

	struct page pages[2];
	struct page *filling;    /* emit() appends here */
	struct page *in_flight;  /* submitted, not yet waited for; or NULL */

	char *committed;         /* the last committed cursor (hub_malloc'd) */
	hub_rc commit_rc;        /* HUB_OK, or why a page of this pull failed */
	char commit_err[640];
	int is_progress;         /* a page of this pull committed */
	int64_t n_host_calls;    /* emit, reject, skip, checkpoint: a pull that made
				  * none and answered HUB_MORE did nothing */
	int is_lease_lost;       /* a page was fenced off: stop */
	int64_t waited_ms;       /* before this run's retries, in all (run_wait_max) */
};

static void page_drop(struct page *pg)
{
	for (size_t i = 0; i < pg->n_recs; i++)
		record_free(pg->recs[i]);
	pg->n_recs = 0;
	pg->read = pg->rejected = pg->warnings = pg->skipped = 0;
	hub_free(pg->cursor);
	pg->cursor = NULL;
}

#define REASON_WHY_MAX 380 /* of SYNC_REASON_SIZE: the rest says where */

/* Keeps why among the first SYNC_MAX_REASONS distinct ones of a list,
 * with where it was first seen when the record says (its origin: "the row
 * with UPDATED_AT=..."), so a reason can be traced to its row. */
static void note_reason_in(char (*list)[SYNC_REASON_SIZE], size_t *n, const char *why,
			   const char *origin)
{
	static const char first[] = " (first in ";
	/* a reason is cut at REASON_WHY_MAX whether an origin follows or not,
	 * so its cut text always stands before " (first in " or the end */
	size_t len = strnlen(why, REASON_WHY_MAX);

	for (size_t i = 0; i < *n; i++)
		if (strncmp(list[i], why, len) == 0 &&
		    (list[i][len] == '\0' || strncmp(list[i] + len, first, sizeof(first) - 1) == 0))
			return;
	if (*n == SYNC_MAX_REASONS)
		return;
	if (origin)
		snprintf(list[(*n)++], SYNC_REASON_SIZE, "%.*s%s%s)", (int)len, why, first, origin);
	else
		snprintf(list[(*n)++], SYNC_REASON_SIZE, "%.*s", (int)len, why);
}

/* The origin of the page's last record kept, which a warn() is about. */
static const char *last_origin(const struct page *pg)
{
	return pg->n_recs ? pg->recs[pg->n_recs - 1]->origin : NULL;
}

static int page_append(struct page *pg, struct record *rec)
{
	if (pg->n_recs == pg->cap_recs) {
		size_t cap = pg->cap_recs ? pg->cap_recs * 2 : 1024;
		struct record **grown = hub_realloc(pg->recs, cap * sizeof(*grown));
		if (!grown)
			return -1;
		pg->recs = grown;
		pg->cap_recs = cap;
	}
	pg->recs[pg->n_recs++] = rec;
	return 0;
}

/* An item of the page (counted as read) rejected, by validation or by the
 * plugin (reject()): counted with the page, the reason kept for the report. */
static void page_note_rejected(struct run *r, struct page *pg, const char *why,
			       const char *origin)
{
	pg->rejected++;
	note_reason_in(r->rep->reasons, &r->rep->n_reasons, why, origin);
}

static hub_rc page_failed(struct run *r, struct page *pg, hub_rc rc, const char *why)
{
	snprintf(r->commit_err, sizeof(r->commit_err), "%s", why);
	page_drop(pg);
	r->commit_rc = rc == HUB_ERR_INTERNAL || rc == HUB_ERR_STOPPED || rc == HUB_ERR_NOMEM
			       ? rc
			       : HUB_RETRY;
	return r->commit_rc;
}

static hub_rc run_emit(struct hub_call *call, const struct hub_record *rec, char *err,
		       size_t err_size)
{
	struct run *r = call->ctx;
	struct page *pg = r->filling;
	struct record_warnings warn = {0};
	struct record *out = NULL;
	hub_rc rc;

	r->n_host_calls++;
	if (r->commit_rc != HUB_OK) {
		/* a page of this pull failed: nothing after it may commit */
		err_set(err, err_size, "%s", r->commit_err);
		return r->commit_rc;
	}
	pg->read++;
	rc = record_from_hub(rec, r->source, r->p->rules, time_now_ms(), &out, &warn, err,
			     err_size);
	pg->warnings += (int64_t)warn.total;
	for (size_t i = 0; rc == HUB_OK && i < warn.n; i++)
		note_reason_in(r->rep->warning_reasons, &r->rep->n_warning_reasons, warn.items[i],
			       record_origin(rec));
	record_warnings_clear(&warn);
	if (rc == HUB_ERR_DATA) {
		page_note_rejected(r, pg, err, record_origin(rec));
		return rc;
	}
	/* a record not taken (out of memory) fails the page: nothing of this
	 * pull after it may commit, even should the plugin go on and
	 * checkpoint (it must stop: hub_plugin.h) */
	if (rc != HUB_OK)
		return page_failed(r, pg, rc, err);
	if (page_append(pg, out)) {
		record_free(out);
		err_set(err, err_size, "out of memory");
		return page_failed(r, pg, HUB_ERR_NOMEM, err);
	}
	return HUB_OK;
}

/* warn() of a value the plugin dropped from the record it last emitted:
 * as a value validation dropped.  After a failed page nothing counts. */
static hub_rc run_warn(struct hub_call *call, const char *why)
{
	struct run *r = call->ctx;

	r->n_host_calls++;
	if (r->commit_rc != HUB_OK)
		return r->commit_rc;
	r->filling->warnings++;
	note_reason_in(r->rep->warning_reasons, &r->rep->n_warning_reasons, why,
		       last_origin(r->filling));
	return HUB_OK;
}

/* skip() of an item the plugin deliberately does not store (host_skip
 * logged why): counted with its page.  After a failed page nothing counts. */
static hub_rc run_skip(struct hub_call *call, const char *why)
{
	struct run *r = call->ctx;

	(void)why;
	r->n_host_calls++;
	if (r->commit_rc != HUB_OK)
		return r->commit_rc;
	r->filling->skipped++;
	return HUB_OK;
}

/* reject() of an item the plugin refused: as a record emit() refused.
 * After a failed page nothing of this pull counts: that code instead. */
static hub_rc run_reject(struct hub_call *call, const char *why)
{
	struct run *r = call->ctx;

	r->n_host_calls++;
	if (r->commit_rc != HUB_OK)
		return r->commit_rc;
	r->filling->read++;
	page_note_rejected(r, r->filling, why, NULL); /* no record: the plugin names it */
	return HUB_OK;
}

static void add_counts(struct run *r, const struct page *pg)
{
	struct sync_report *rep = r->rep;
	const struct unify_counts *c = &pg->batch.counts;

	rep->read += pg->read;
	rep->rejected += pg->rejected;
	rep->skipped += pg->skipped;
	rep->warnings += pg->warnings + c->warnings; /* validation's, the writer's */
	for (size_t i = 0; i < pg->batch.n_warnings; i++)
		note_reason_in(rep->warning_reasons, &rep->n_warning_reasons,
			       pg->batch.warnings[i].message,
			       pg->batch.warnings[i].index < pg->n_recs
				       ? pg->recs[pg->batch.warnings[i].index]->origin
				       : NULL);
	rep->applied += c->applied;
	rep->duplicates += c->duplicates;
	rep->blocked += c->blocked;
	rep->refused += c->refused;
}

/* Waits for the page in flight: once it has committed, its cursor is the
 * committed one.  Returns HUB_OK or the failure (also in commit_rc). */
static hub_rc flight_wait(struct run *r)
{
	struct page *pg = r->in_flight;
	hub_rc rc;

	if (!pg)
		return r->commit_rc;
	r->in_flight = NULL;
	rc = intake_wait(r->p->intake, &pg->batch);
	if (rc != HUB_OK && pg->batch.is_fenced) {
		/* another process holds the lease now: this holder stops */
		r->is_lease_lost = 1;
		log_warn(r->source, "%s", pg->batch.err);
		return page_failed(r, pg, HUB_ERR_STOPPED, pg->batch.err);
	}
	if (rc != HUB_OK)
		return page_failed(r, pg, rc,
				   pg->batch.err[0] ? pg->batch.err : "the page did not commit");
	add_counts(r, pg);
	if (pg->cursor) {
		r->is_columns_missing = 0; /* saved with the page (intake.c) */
		hub_free(r->committed);
		r->committed = r->rep->cursor = pg->cursor; /* the report's at the end */
		pg->cursor = NULL;
	}
	page_drop(pg);
	r->is_progress = 1;
	if (r->p->on_progress)
		r->p->on_progress(r->p->ctx, r->rep);
	return HUB_OK;
}

/* Submits, waiting out a full queue (backpressure: the sync pauses). */
static hub_rc submit(struct intake *in, struct intake_batch *b)
{
	int64_t pause_ms = 1;
	hub_rc rc;

	while ((rc = intake_submit(in, b)) == HUB_ERR_BUSY) {
		sync_stop_wait_ms(NULL, pause_ms);
		if (pause_ms < 100)
			pause_ms *= 2;
	}
	return rc;
}

/*
 * Hands the filling page (and `cursor`, when not NULL) to the intake.  It
 * goes only once the page before it has committed, so the committed cursor
 * never passes a page that did not: a failure stops everything after it.
 * The new page is not waited for here; emit() fills the other page
 * meanwhile (the source reads while the writer writes).
 */
static hub_rc page_submit(struct run *r, const char *cursor)
{
	struct page *pg = r->filling;
	hub_rc rc;

	if ((rc = flight_wait(r)) != HUB_OK) {
		page_drop(pg);
		return rc;
	}
	if (pg->n_recs == 0 && pg->read == 0 && !cursor)
		return HUB_OK;
	if (cursor && !(pg->cursor = hub_strdup(cursor)))
		return page_failed(r, pg, HUB_ERR_NOMEM, "out of memory");
	memset(&pg->batch, 0, sizeof(pg->batch));
	pg->batch.records = pg->recs;
	pg->batch.n_records = pg->n_recs;
	pg->batch.cursor_key = cursor ? r->cursor_key : NULL;
	pg->batch.cursor_value = pg->cursor;
	pg->batch.columns_key = r->columns ? r->columns_key : NULL;
	pg->batch.columns_value = r->columns;
	if (r->p->fence_epoch) {
		pg->batch.fence_key = r->fence_key;
		pg->batch.fence_epoch = r->p->fence_epoch;
	}
	if ((rc = submit(r->p->intake, &pg->batch)) != HUB_OK)
		return page_failed(r, pg, rc,
				   rc == HUB_ERR_STOPPED ? "the intake is stopping"
							 : "the intake refused the page");
	r->in_flight = pg;
	r->filling = pg == &r->pages[0] ? &r->pages[1] : &r->pages[0];
	return HUB_OK;
}

static const char *next_cursor(const struct run *r);

static hub_rc run_checkpoint(struct hub_call *call, const char *cursor)
{
	struct run *r = call->ctx;
	const char *from = next_cursor(r);

	/* the cursor the pull started from again is no progress: a pull
	 * that checkpoints it at its end each time and answers HUB_MORE
	 * would otherwise be pulled again forever */
	if (!from || strcmp(from, cursor) != 0)
		r->n_host_calls++;
	if (r->commit_rc != HUB_OK)
		return r->commit_rc; /* never past a page that did not commit */
	if (strlen(cursor) >= CURSOR_MAX)
		return page_failed(r, r->filling, HUB_ERR_INTERNAL,
				   "checkpoint cursor longer than 8191 bytes");
	return page_submit(r, cursor);
}

/* ---- the run ------------------------------------------------------------ */

/* A meta value of the reader: 1 found (*out hub_malloc'd), 0 none, -1
 * failed (said into err when not NULL). */
static int reader_read(struct run *r, const char *key, char **out, char *err, size_t err_size)
{
	const struct sync_params *p = r->p;
	char *buf;
	int rc;

	*out = NULL;
	if (!(buf = hub_malloc(CURSOR_MAX)))
		return -1;
	if (p->reader_lock)
		pthread_mutex_lock(p->reader_lock);
	rc = p->reader->ops->meta_get(p->reader, key, buf, CURSOR_MAX);
	if (rc < 0 && err)
		snprintf(err, err_size, "reading the %s: %s",
			 key == r->cursor_key ? "cursor" : "cursor columns", store_error(p->reader));
	if (p->reader_lock)
		pthread_mutex_unlock(p->reader_lock);
	if (rc == 1)
		*out = buf;
	else
		hub_free(buf);
	return rc;
}

/* reader_read(), a failure said into rep->err. */
static int reader_get(struct run *r, const char *key, char **out)
{
	return reader_read(r, key, out, r->rep->err, sizeof(r->rep->err));
}

/* The saved cursor applies only to the columns it was read with (or the
 * first of them): another `cursor` would compare its values with other
 * columns and skip their rows. */
static hub_rc check_columns(struct run *r)
{
	char *saved = NULL;
	hub_rc rc = HUB_OK;
	int got;

	if (!r->columns)
		return HUB_OK;
	if ((got = reader_get(r, r->columns_key, &saved)) < 0)
		return HUB_ERR_INTERNAL;
	r->is_columns_missing = got == 0;
	if (got == 1 && !sync_cursor_columns_fit(saved, r->columns)) {
		snprintf(r->rep->err, sizeof(r->rep->err),
			 "cursor: the saved cursor %.200s was read with the cursor columns %.200s,"
			 " the config now names %.200s (the saved values would be compared with"
			 " other columns, skipping rows): run `profilehub sync %s --full` once"
			 " (rows read again are duplicates), or put `cursor` back",
			 r->committed, saved, r->columns, r->source);
		rc = HUB_ERR_CONFIG;
	}
	hub_free(saved);
	return rc;
}

/* In the reader's transaction: the columns row, written when still
 * absent.  0, or -1 (rep->err not touched: the caller says what failed). */
static int columns_put_absent(struct run *r, struct store *s, char *buf)
{
	int got;

	if (s->ops->begin(s))
		return -1;
	got = s->ops->meta_get_held(s, r->columns_key, buf, CURSOR_MAX);
	if (got < 0 || (got == 0 && s->ops->meta_put(s, r->columns_key, r->columns)) ||
	    s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 0;
}

/* A cursor loaded without its columns row (saved by a hub of before they
 * were kept) and no page since: the row is written at the end of the run
 * (only if still absent), so that a change of `cursor` is caught from the
 * next run on, rows or none.  A failure is only a warning: the first page
 * saves the row too. */
static void save_missing_columns(struct run *r)
{
	const struct sync_params *p = r->p;
	char *buf;
	int rc;

	if (!r->is_columns_missing || !r->columns || !p->reader || r->is_lease_lost)
		return;
	if (!(buf = hub_malloc(CURSOR_MAX)))
		return;
	if (p->reader_lock)
		pthread_mutex_lock(p->reader_lock);
	rc = columns_put_absent(r, p->reader, buf);
	if (rc)
		log_warn(r->source, "saving the cursor columns %s beside the cursor: %s (saved"
			 " with the next page instead)", r->columns, store_error(p->reader));
	if (p->reader_lock)
		pthread_mutex_unlock(p->reader_lock);
	r->is_columns_missing = rc != 0;
	hub_free(buf);
}

static hub_rc load_cursor(struct run *r)
{
	char *cursor;
	int got;

	if (r->p->is_full || !r->p->reader)
		return HUB_OK;
	if ((got = reader_get(r, r->cursor_key, &cursor)) < 0)
		return HUB_ERR_INTERNAL;
	if (got == 0)
		return HUB_OK;
	r->committed = r->rep->cursor = cursor;
	return check_columns(r);
}

/* A full run starts from cursor_start but leaves the saved cursor as it
 * was until its first page commits (a failed --full must not send every
 * later run back to the start): when none did, the report says the saved
 * one, which the next run goes on from, not "none".  Unread (a store
 * failure), the report says none; the run's outcome is not changed. */
static void report_kept_cursor(struct run *r)
{
	if (!r->p->is_full || r->committed || !r->p->reader || r->is_lease_lost)
		return;
	reader_read(r, r->cursor_key, &r->committed, NULL, 0);
}

/* An integer key of the source's config, or dflt when unset or < min. */
static int64_t config_int_or(const struct hub_instance *inst, const char *key, int64_t dflt,
			     int64_t min)
{
	const char *json = host_table()->config_json(inst, key);
	int64_t v = host_table()->config_int(inst, key);

	return json && strcmp(json, "null") != 0 && v >= min ? v : dflt;
}

/* The most one run waits in all before its retries, a plugin's "retry
 * after" included (honoured up to an hour on each of max_retries retries, it
 * held a run, its lease and a worker for hours).  As the BigQuery plugin's
 * own bound (bq_job.c RUN_WAIT_MAX_MS): a longer wait ends the run, and the
 * scheduler keeps it (retry_after_ms) before the next, holding nothing. */
static int64_t run_wait_max(const struct sync_params *p)
{
	return p->run_wait_max_ms > 0 ? p->run_wait_max_ms : SYNC_RUN_WAIT_MAX_MS;
}

/* Why a run that gave up on a transient failure ended: said after the
 * failure, whose own words ("the run is retried") were true of the retries
 * it had, not of this end. */
static void say_ended(char *tail, size_t size, unsigned attempt, int max, int64_t wait_ms,
		      int64_t waited_ms, int64_t bound_ms, int64_t asked_ms)
{
	if (wait_ms < 0)
		snprintf(tail, size, " (gave up after %u retries in a row, max_retries %d: the"
			 " next run starts from the last committed cursor)", attempt, max);
	else
		snprintf(tail, size, " (a wait of %" PRId64 " s before retrying; this run has"
			 " waited %" PRId64 " s of the %" PRId64 " s it may: it ends, and the next"
			 " run starts from the last committed cursor%s)", (wait_ms + 999) / 1000,
			 waited_ms / 1000, bound_ms / 1000,
			 asked_ms > 0 ? ", once that wait is over" : "");
}

/* A failed pull: retry it (1, after its wait) or end the run (0).  A
 * transient failure that ends it (retries run out, a wait past the run's
 * bound) is said into tail; else tail is "". */
static int should_retry(struct run *r, hub_rc rc, const char *err, unsigned *attempt,
			char *tail, size_t tail_size)
{
	const struct sync_params *p = r->p;
	int max = p->max_retries >= 0 ? p->max_retries
				       : (int)config_int_or(p->inst, "max_retries", 5, 0);
	int64_t delay, asked, bound = run_wait_max(p);

	tail[0] = '\0';
	if (rc != HUB_RETRY || (p->stop && atomic_load(&p->stop->is_stopping)))
		return 0;
	if ((int)*attempt >= max) {
		say_ended(tail, tail_size, *attempt, max, -1, 0, 0, 0);
		return 0;
	}
	asked = retry_after_ms_parse(err);
	delay = backoff_jitter_ms(
		*attempt, p->backoff_base_ms > 0 ? p->backoff_base_ms : SYNC_BACKOFF_BASE_MS,
		p->backoff_cap_ms > 0 ? p->backoff_cap_ms : SYNC_BACKOFF_CAP_MS,
		p->random ? p->random(p->ctx) : default_random(NULL));
	if (delay < asked)
		delay = asked;
	if (delay > bound - r->waited_ms) {
		say_ended(tail, tail_size, *attempt, max, delay, r->waited_ms, bound, asked);
		return 0;
	}
	r->waited_ms += delay;
	(*attempt)++;
	r->rep->n_retries++;
	log_warn(r->source, "%s (retry %u of %d in %" PRId64 " ms)", err, *attempt, max, delay);
	if (delay > 0 && sync_stop_wait_ms(p->stop, delay))
		return 0;
	return 1;
}

/* The run's error: the failure, cut so that the tail saying why it ended
 * is whole. */
static void report_err(struct sync_report *rep, const char *err, const char *tail)
{
	size_t n = strlen(tail);

	str_copy_utf8(rep->err, sizeof(rep->err) - n, err);
	memcpy(rep->err + strlen(rep->err), tail, n + 1);
}

static void run_init(struct run *r, const struct sync_params *p, struct sync_report *rep)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->rep = rep;
	r->source = p->inst->name;
	r->filling = &r->pages[0];
	sync_cursor_key(r->source, r->cursor_key, sizeof(r->cursor_key));
	sync_cursor_columns_key(r->source, r->columns_key, sizeof(r->columns_key));
	snprintf(r->fence_key, sizeof(r->fence_key), "lease_epoch:sync:%s", r->source);
	r->call.inst = p->inst;
	r->call.on_emit = run_emit;
	r->call.on_checkpoint = run_checkpoint;
	r->call.on_reject = run_reject;
	r->call.on_warn = run_warn;
	r->call.on_skip = run_skip;
	r->call.stop = p->stop ? &p->stop->is_stopping : NULL;
	r->call.ctx = r;
}

/* The cursor the next pull starts from: the page in flight's (if it
 * fails, the next checkpoint says so and the pull is retried from the
 * committed one), else the committed one. */
static const char *next_cursor(const struct run *r)
{
	return r->in_flight && r->in_flight->cursor ? r->in_flight->cursor : r->committed;
}

/* One pull and what follows it: the tail of a good pull is submitted
 * (without a cursor: the plugin did not vouch for it) and, at the end of
 * the run, waited for; after a failure everything in flight is waited for
 * and the filling page dropped.  Returns the pull's outcome. */
static hub_rc pull_once(struct run *r, size_t budget, int is_last, char *err, size_t err_size)
{
	const struct hub_plugin *desc = r->p->inst->mod->desc;
	const char *from = next_cursor(r);
	char *cursor = NULL; /* the plugin's own copy: the page holding it may be freed */
	hub_rc rc;

	err[0] = '\0';
	r->commit_rc = HUB_OK;
	r->commit_err[0] = '\0';
	if (from && !(cursor = hub_strdup(from))) {
		err_set(err, err_size, "out of memory");
		rc = HUB_ERR_NOMEM; /* handled below as a failed pull */
	} else {
		struct hub_call *h = host_call_enter(&r->call, "pull");

		rc = desc->pull(r->p->inst->state, h, cursor, budget, err, err_size);
		host_call_leave(h);
		plugin_err_end(err, err_size);
	}
	hub_free(cursor);
	if (rc == HUB_OK || rc == HUB_MORE) {
		if (r->filling->n_recs || r->filling->read)
			page_submit(r, NULL);
		if (rc == HUB_OK || is_last || r->commit_rc != HUB_OK)
			flight_wait(r);
	} else {
		flight_wait(r);
		page_drop(r->filling);
	}
	if (r->commit_rc != HUB_OK) {
		/* a page failed to commit: its reason beats the plugin's echo of it */
		if (rc == HUB_OK || rc == HUB_MORE)
			rc = r->commit_rc;
		snprintf(err, err_size, "%s", r->commit_err);
	}
	return rc;
}

/* A code not of enum hub_rc from pull() says nothing sure of the page: a
 * bug in the plugin, named as such, with the plugin's message if any (the
 * run ends, nothing kept past its last checkpoint), not as "the plugin
 * failed without a message". */
static hub_rc pull_rc_checked(hub_rc rc, char *err, size_t err_size)
{
	char *said; /* the plugin's message whole (out of memory: left out) */

	if (plugin_rc_is_known(rc))
		return rc;
	said = err[0] ? hub_strdup(err) : NULL;
	snprintf(err, err_size, "the plugin's pull() returned %d, which is not a hub_rc"
		 " (a bug in the plugin)%s%s", (int)rc, said ? ": " : "", said ? said : "");
	hub_free(said);
	return HUB_ERR_INTERNAL;
}

/* The plugin's run_end() (ABI 1.14), once the run's last pull has
 * returned: what it kept for retries within this run goes. */
static void run_end_tell(const struct sync_params *p)
{
	const struct hub_instance *inst = p->inst;

	if (inst->mod->run_end)
		inst->mod->run_end(inst->state);
}

static int is_stopping(const struct sync_params *p)
{
	return p->stop && atomic_load(&p->stop->is_stopping);
}

hub_rc sync_run(const struct sync_params *p, struct sync_report *rep)
{
	struct run r;
	size_t budget;
	unsigned attempt = 0;
	int idle_mores = 0;
	char err[1024], tail[320];
	int64_t t0 = time_mono_ms();
	hub_rc rc;

	memset(rep, 0, sizeof(*rep));
	rep->started_ms = time_now_ms();
	run_init(&r, p, rep);
	budget =
		(size_t)(p->page_size > 0 ? p->page_size
					  : config_int_or(p->inst, "page_size", SYNC_PAGE_SIZE, 1));
	r.columns = sync_cursor_columns(p->inst); /* NULL (none, out of memory): unchecked */
	if ((rc = load_cursor(&r)) != HUB_OK)
		goto out;
	for (;;) {
		int64_t calls = r.n_host_calls;
		r.is_progress = 0;
		rc = pull_rc_checked(pull_once(&r, budget, is_stopping(p), err, sizeof(err)), err,
				     sizeof(err));
		if (r.is_progress)
			attempt = 0;
		if (r.is_lease_lost)
			break; /* whatever the plugin made of it: this holder stops */
		if (rc == HUB_ERR_STOPPED && !is_stopping(p) && r.commit_rc != HUB_ERR_STOPPED) {
			/* the plugin's own (a library's cancellation passed on):
			 * nothing asked it to stop, so it is a failure like any
			 * other, not a clean end that would hide it */
			rc = HUB_RETRY;
			if (!err[0])
				snprintf(err, sizeof(err), "the plugin answered HUB_ERR_STOPPED,"
					 " though no stop was asked");
		}
		/* a pull that did nothing (its cursor checkpointed again is
		 * nothing) yet asks for another would be pulled again at once,
		 * forever: a bug in the plugin */
		idle_mores = rc == HUB_MORE && r.n_host_calls == calls ? idle_mores + 1 : 0;
		if (idle_mores == SYNC_IDLE_MORE_MAX) {
			rc = HUB_ERR_INTERNAL;
			snprintf(err, sizeof(err), "the plugin answered HUB_MORE %d times in a row"
				 " without emitting or rejecting anything or moving its cursor"
				 " (a bug in the plugin): the run stops", SYNC_IDLE_MORE_MAX);
		}
		if (rc == HUB_MORE && is_stopping(p)) {
			flight_wait(&r); /* the page in progress commits, then we stop */
			rc = r.commit_rc == HUB_OK ? HUB_ERR_STOPPED : r.commit_rc;
			if (rc != HUB_ERR_STOPPED)
				snprintf(err, sizeof(err), "%s", r.commit_err);
		}
		if (rc == HUB_MORE)
			continue;
		if (rc == HUB_OK || rc == HUB_ERR_STOPPED)
			break;
		rep->retry_after_ms = retry_after_ms_parse(err);
		if (!should_retry(&r, rc, err[0] ? err : "transient failure", &attempt, tail,
				  sizeof(tail))) {
			if (rc == HUB_RETRY && is_stopping(p))
				rc = HUB_ERR_STOPPED;
			report_err(rep, err[0] ? err : "the plugin failed without a message", tail);
			break;
		}
	}
out:
	flight_wait(&r);
	run_end_tell(p);
	if (rc == HUB_OK)
		save_missing_columns(&r);
	if (r.is_lease_lost) {
		rc = HUB_ERR_STOPPED;
		rep->is_lease_lost = 1;
		snprintf(rep->err, sizeof(rep->err), "%s", r.commit_err);
	}
	rep->rc = rc;
	report_kept_cursor(&r);
	rep->cursor = r.committed;
	rep->elapsed_ms = time_mono_ms() - t0;
	hub_free(r.columns);
	for (int i = 0; i < 2; i++) {
		page_drop(&r.pages[i]);
		hub_free(r.pages[i].recs);
	}
	if (p->on_progress)
		p->on_progress(p->ctx, rep);
	return rc;
}

void sync_report_free(struct sync_report *rep)
{
	hub_free(rep->cursor);
	rep->cursor = NULL;
}
