/*
 * scheduler_worker.c - one run of a pull source, on its worker thread
 * (scheduler_worker_main, started by scheduler.c's dispatcher): the lease,
 * the tick's claim, sync_run() and the report handed back to the entry.
 *
 * Several processes: a run first takes the lease "sync:<source>" on the
 * reader connection (a PostgreSQL session advisory lock, never the intake
 * writer's connection) and releases it after.  Held by another process:
 * the tick is skipped (the entry goes back to what it was, state "held by
 * another process") and the lease is tried again at the next due time; a
 * triggered run is kept and tried again every second until it runs.
 * With the lease, a run at its scheduled time claims the tick in the store
 * (sched_tick_claim): each process plans its own ticks with its own jitter,
 * and a short run ends before another process's try, so without the claim
 * every process ran every tick.
 * The run is fenced by the epoch of its take (sync_params.fence_epoch): if
 * the lease is lost meanwhile (the reader connection dropped and another
 * process took it), its next page is refused, cursor and records alike,
 * and the run stops as "held by another process".
 *
 * A worker owns its source's instance while it runs; it touches the
 * source's entry only under scheduler.lock and the reader connection only
 * under reader_lock, and never holds scheduler.lock across the store or
 * the plugin.
 */
#include "scheduler_int.h"

#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The first distinct rejections and warnings of a run, one line each: the
 * messages name fields and rules, never values. */
static void log_reasons(const char *source, const struct sync_report *rep)
{
	for (size_t i = 0; i < rep->n_reasons; i++)
		log_warn(source, "rejected: %s", rep->reasons[i]);
	for (size_t i = 0; i < rep->n_warning_reasons; i++)
		log_warn(source, "warning: %s", rep->warning_reasons[i]);
}

static void worker_progress(void *ctx, const struct sync_report *rep)
{
	struct sched_source *src = ctx;

	pthread_mutex_lock(&src->s->lock);
	src->e.read = rep->read;
	src->e.applied = rep->applied;
	src->e.duplicates = rep->duplicates;
	src->e.rejected = rep->rejected;
	src->e.blocked = rep->blocked;
	src->e.refused = rep->refused;
	src->e.warnings = rep->warnings;
	src->e.skipped = rep->skipped;
	src->e.n_retries = rep->n_retries;
	scheduler_source_set_cursor(src, rep->cursor);
	pthread_mutex_unlock(&src->s->lock);
}

/* A source whose create() failed is created again when it runs (a
 * trigger): its key file may be readable by now. */
static int worker_ensure_instance(struct sched_source *src, struct sync_report *rep)
{
	if (src->inst)
		return 0;
	if (plugin_instance_create(src->mod, src->conf, &src->inst, rep->err, sizeof(rep->err))) {
		src->inst = NULL;
		rep->rc = HUB_ERR_CONFIG;
		return -1;
	}
	return 0;
}

/* The lease of this source's runs: 1 ours, 0 another process's, -1 error
 * (rep set). */
static int worker_lease(struct sched_source *src, int is_take, struct sync_report *rep,
			int64_t *epoch_out)
{
	struct scheduler *s = src->s;
	struct store *r = s->reader;
	char name[300];
	int64_t epoch = 0;
	int rc;

	snprintf(name, sizeof(name), "sync:%s", src->conf->name);
	pthread_mutex_lock(&s->reader_lock);
	rc = is_take ? r->ops->lease_try(r, name, &epoch) : r->ops->lease_release(r, name);
	if (rc < 0 && rep) {
		rep->rc = HUB_RETRY;
		snprintf(rep->err, sizeof(rep->err), "lease %s: %s", name, store_error(r));
	} else if (rc < 0) {
		log_warn(src->conf->name, "releasing lease %s: %s", name, store_error(r));
	}
	pthread_mutex_unlock(&s->reader_lock);
	if (is_take && rc == 1)
		log_debug(src->conf->name, "lease %s taken (epoch %" PRId64 ")", name, epoch);
	if (epoch_out)
		*epoch_out = epoch;
	return rc;
}

static int tick_is_served(const struct sched_entry *e, int64_t last_ms, int64_t now_ms)
{
	if (last_ms <= 0)
		return 0;
	if (e->cron.is_interval)
		return now_ms - last_ms < e->cron.interval_ms / 2;
	return last_ms >= e->nominal_ms;
}

int sched_start_note(struct store *s, const char *source, int64_t now_ms)
{
	char key[300], text[24];

	snprintf(key, sizeof(key), "sync_started:%s", source);
	snprintf(text, sizeof(text), "%" PRId64, now_ms);
	if (s->ops->begin(s))
		return -1;
	if (s->ops->meta_put(s, key, text) || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 0;
}

int sched_tick_claim(struct store *s, const struct sched_entry *e, int64_t now_ms,
		     int64_t *last_ms)
{
	char key[300], text[24];
	int rc;

	*last_ms = 0;
	snprintf(key, sizeof(key), "sync_started:%s", e->name);
	if (s->ops->begin(s))
		return -1;
	rc = s->ops->meta_get(s, key, text, sizeof(text));
	if (rc == 1)
		*last_ms = strtoll(text, NULL, 10);
	if (rc < 0 || tick_is_served(e, *last_ms, now_ms)) {
		s->ops->rollback(s);
		return rc < 0 ? -1 : 0;
	}
	snprintf(text, sizeof(text), "%" PRId64, now_ms);
	if (s->ops->meta_put(s, key, text) || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 1;
}

/* Whether this run may go on: a run at its scheduled time that another
 * process already made is not made again.  One writer (SQLite): no other
 * process schedules, and the claim would wait for an import's group. */
static int worker_claim_tick(struct sched_source *src)
{
	struct scheduler *s = src->s;
	struct sched_entry e;
	int64_t last = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	e = src->e;
	pthread_mutex_unlock(&s->lock);
	if (s->reader->ops->has_one_writer)
		return 1;
	if (!e.is_tick_run) {
		/* a retry or a triggered run is never skipped, but it is a start:
		 * another process's tick within half the interval (or of the
		 * same cron time) is served by it, as it is on one process,
		 * where a retry or a trigger moves the next tick */
		pthread_mutex_lock(&s->reader_lock);
		if (sched_start_note(s->reader, src->conf->name, time_now_ms()))
			log_warn(src->conf->name, "noting the run's start: %s (running it)",
				 store_error(s->reader));
		pthread_mutex_unlock(&s->reader_lock);
		return 1;
	}
	pthread_mutex_lock(&s->reader_lock);
	rc = sched_tick_claim(s->reader, &e, time_now_ms(), &last);
	if (rc < 0)
		log_warn(src->conf->name, "claiming the scheduled run: %s (running it)",
			 store_error(s->reader));
	pthread_mutex_unlock(&s->reader_lock);
	if (rc == 0)
		log_debug(src->conf->name,
			  "sync skipped: this tick ran elsewhere (started at %" PRId64 ")", last);
	return rc != 0;
}

/* The lease is another process's: this tick did not happen; the next try
 * is at the next due time (a trigger is spent).  The status shows the
 * cursor that process committed, not the one read at this one's start. */
static void worker_skip(struct sched_source *src)
{
	struct scheduler *s = src->s;
	int64_t now = time_now_ms();

	scheduler_source_load_cursor(src);
	pthread_mutex_lock(&s->lock);
	sched_entry_skip(&src->e, &src->before, now, scheduler_next_random(s), &s->pol);
	src->is_held_elsewhere = 1;
	src->is_taking_lease = 0;
	src->is_done = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

void *scheduler_worker_main(void *arg)
{
	struct sched_source *src = arg;
	struct scheduler *s = src->s;
	struct sync_report rep;
	struct sync_params p;
	int64_t epoch = 0;
	int leased, is_full;

	memset(&rep, 0, sizeof(rep));
	leased = worker_lease(src, 1, &rep, &epoch);
	if (leased == 0) {
		log_debug(src->conf->name, "sync skipped: held by another process");
		worker_skip(src);
		return NULL;
	}
	if (leased == 1 && !worker_claim_tick(src)) {
		worker_lease(src, 0, NULL, NULL);
		worker_skip(src);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	src->is_held_elsewhere = 0;
	src->is_taking_lease = 0;
	is_full = src->e.is_full_run;
	pthread_mutex_unlock(&s->lock);
	if (leased == 1 && worker_ensure_instance(src, &rep) == 0) {
		memset(&p, 0, sizeof(p));
		p.is_full = is_full; /* a trigger's ?full=true: from the start */
		if (is_full)
			log_info(src->conf->name, "full sync (asked for): from the first record,"
				 " not the saved cursor");
		p.inst = src->inst;
		p.intake = s->intake;
		p.reader = s->reader;
		p.reader_lock = &s->reader_lock;
		p.rules = &s->rules;
		p.stop = &s->stop;
		p.max_retries = -1;
		p.fence_epoch = epoch;
		p.on_progress = worker_progress;
		p.ctx = src;
		sync_run(&p, &rep);
	}
	if (leased == 1)
		worker_lease(src, 0, NULL, NULL);
	if (rep.is_lease_lost)
		log_warn(src->conf->name, "sync stopped: %s", rep.err);
	else if (rep.rc == HUB_OK)
		log_info(src->conf->name, "sync done: read %" PRId64 ", applied %" PRId64
			 ", duplicates %" PRId64 ", rejected %" PRId64 ", blocked %" PRId64
			 ", refused %" PRId64 ", warnings %" PRId64 ", skipped %" PRId64
			 " in %.1f s",
			 rep.read, rep.applied, rep.duplicates, rep.rejected, rep.blocked,
			 rep.refused, rep.warnings, rep.skipped, (double)rep.elapsed_ms / 1000.0);
	else if (rep.rc != HUB_ERR_STOPPED)
		log_error(src->conf->name, "sync failed%s: %s",
			  rep.rc == HUB_ERR_CONFIG || rep.rc == HUB_ERR_AUTH ? " (source disabled)"
									     : "",
			  rep.err);
	log_reasons(src->conf->name, &rep);
	pthread_mutex_lock(&s->lock);
	sched_entry_finish(&src->e, &rep, time_now_ms(), scheduler_next_random(s), &s->pol);
	src->skipped_done += rep.skipped;
	if (rep.is_lease_lost)
		src->is_held_elsewhere = 1;
	scheduler_source_set_cursor(src, rep.cursor);
	src->is_done = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	sync_report_free(&rep);
	return NULL;
}
