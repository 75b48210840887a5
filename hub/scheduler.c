/*
 * scheduler.c - the pull sources of `profilehub run`: when each runs, and
 * the threads that run them.
 *
 * Two halves:
 *   - the pieces (sched_entry_*): what a finished run means for the next
 *     one (schedule, backoff with full jitter, Retry-After, disabling).
 *     Pure: the time and the dice are arguments.
 *   - the dispatcher thread: sleeps until the earliest planned run (or a
 *     trigger), starts one worker thread per due source, joins the workers
 *     that ended.  A source has at most one worker, so runs of a source
 *     never overlap; different sources run side by side.
 *
 * Threads and locks: every sched_source field marked "lock" is guarded by
 * scheduler.lock; a worker owns its source's instance while it runs (the
 * ABI's "one thread at a time").  The reader store connection (committed
 * cursors) is shared under reader_lock.  Stopping: is_stopping stops new
 * runs, sync_stop_request() makes running pulls finish their page.
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
 */
#include "scheduler.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DISPATCH_MAX_WAIT_MS 60000

const struct sched_policy sched_policy_default = {
	.backoff_base_ms = 30000,
	.backoff_cap_ms = 3600000,
	.jitter_max_ms = 60000,
};

/* ---- pieces ------------------------------------------------------------ */

const char *sched_state_name(enum source_state st)
{
	switch (st) {
	case SOURCE_IDLE: return "idle";
	case SOURCE_RUNNING: return "running";
	case SOURCE_BACKOFF: return "backoff";
	case SOURCE_DISABLED: return "disabled";
	}
	return "unknown";
}

/* The most jitter a run of the schedule at time t gets: a tenth of the
 * period (pol's cap). */
static int64_t jitter_max_at(const struct cron *cron, int64_t t, const struct sched_policy *pol)
{
	int64_t period = cron->is_interval ? cron->interval_ms : cron_next_ms(cron, t) - t;
	int64_t jitter_max = period > 0 ? period / 10 : 0;

	return jitter_max > pol->jitter_max_ms ? pol->jitter_max_ms : jitter_max;
}

/* t plus a jitter of at most jitter_max_at(t). */
static int64_t jittered(const struct cron *cron, int64_t t, uint64_t random,
			const struct sched_policy *pol)
{
	int64_t jitter_max;

	if (t < 0)
		return -1;
	jitter_max = jitter_max_at(cron, t, pol);
	return jitter_max > 0 ? t + (int64_t)(random % (uint64_t)(jitter_max + 1)) : t;
}

int64_t sched_next_run_ms(const struct cron *cron, int64_t after_ms, uint64_t random,
			  const struct sched_policy *pol)
{
	return jittered(cron, cron_next_ms(cron, after_ms), random, pol);
}

/* Plans the next scheduled run after `after`: its nominal time and the
 * jittered time it starts. */
static void plan_on_schedule(struct sched_entry *e, int64_t after, uint64_t random,
			     const struct sched_policy *pol)
{
	e->nominal_ms = cron_next_ms(&e->cron, after);
	e->next_run_ms = jittered(&e->cron, e->nominal_ms, random, pol);
}

/* An interval source runs soon after the start (a jitter away); a cron
 * source at its next firing time. */
void sched_entry_init(struct sched_entry *e, const char *name, const struct cron *cron,
		      int64_t now_ms, uint64_t random, const struct sched_policy *pol)
{
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->state = SOURCE_IDLE;
	e->last_rc = HUB_OK;
	e->next_run_ms = -1;
	if (!cron)
		return;
	e->has_schedule = 1;
	e->cron = *cron;
	plan_on_schedule(e, cron->is_interval ? now_ms - cron->interval_ms : now_ms, random, pol);
}

int sched_entry_is_due(const struct sched_entry *e, int64_t now_ms)
{
	if (e->state == SOURCE_RUNNING)
		return 0;
	if (e->is_triggered && now_ms >= e->trigger_at_ms)
		return 1;
	return e->state != SOURCE_DISABLED && e->next_run_ms >= 0 && now_ms >= e->next_run_ms;
}

/* When the entry next wants a run: its planned run or a kept trigger's
 * try, whichever comes first; 0 for a trigger due now; -1 when nothing is
 * planned (running, disabled, on demand). */
static int64_t entry_next_at(const struct sched_entry *e)
{
	int64_t at = -1;

	if (e->state == SOURCE_RUNNING)
		return -1;
	if (e->state != SOURCE_DISABLED && e->next_run_ms >= 0)
		at = e->next_run_ms;
	if (e->is_triggered && (at < 0 || e->trigger_at_ms < at))
		at = e->trigger_at_ms;
	return at;
}

int64_t sched_entry_wait_ms(const struct sched_entry *e, int64_t now_ms)
{
	int64_t at = entry_next_at(e);

	if (at < 0)
		return -1;
	return at > now_ms ? at - now_ms : 0;
}

/* Nothing is planned for a disabled source: only a trigger runs it. */
static void entry_disable(struct sched_entry *e)
{
	e->state = SOURCE_DISABLED;
	e->next_run_ms = -1;
}

int sched_entry_begin(struct sched_entry *e, int64_t now_ms)
{
	if (e->state == SOURCE_RUNNING)
		return SCHEDULER_RUNNING;
	e->is_tick_run = e->has_schedule && !e->is_triggered && e->state == SOURCE_IDLE &&
			 e->nominal_ms >= 0 && now_ms >= e->nominal_ms;
	e->state = SOURCE_RUNNING;
	e->is_triggered = 0;
	e->trigger_at_ms = 0;
	e->last_start_ms = now_ms;
	e->last_end_ms = 0;
	e->read = e->applied = e->duplicates = e->rejected = e->warnings = 0;
	e->n_retries = 0;
	e->n_reasons = e->n_warning_reasons = 0;
	return 0;
}

/* Plans the next run on the schedule after a run: an interval counts from
 * that run's scheduled time (its start for a trigger or a retry, or for a
 * tick that began an interval or more late, after a suspend or a clock
 * step; a run longer than the interval is followed at once), cron from now
 * (missed firings are skipped).  -1 without a schedule. */
static int64_t next_on_schedule(struct sched_entry *e, int64_t now_ms, uint64_t random,
				const struct sched_policy *pol)
{
	int64_t after = now_ms;

	if (!e->has_schedule)
		return -1;
	if (e->cron.is_interval) {
		after = e->is_tick_run ? e->nominal_ms : e->last_start_ms;
		if (after + e->cron.interval_ms <= e->last_start_ms)
			after = e->last_start_ms;
		if (after + e->cron.interval_ms < now_ms)
			after = now_ms - e->cron.interval_ms;
	}
	plan_on_schedule(e, after, random, pol);
	return e->next_run_ms;
}

void sched_entry_finish(struct sched_entry *e, const struct sync_report *rep,
			int64_t now_ms, uint64_t random, const struct sched_policy *pol)
{
	int64_t wait;

	e->last_end_ms = now_ms;
	e->last_rc = rep->rc;
	e->read = rep->read;
	e->applied = rep->applied;
	e->duplicates = rep->duplicates;
	e->rejected = rep->rejected;
	e->warnings = rep->warnings;
	e->n_retries = rep->n_retries;
	/* a plugin's reject() reason may be any bytes: kept as UTF-8 text */
	for (e->n_reasons = 0; e->n_reasons < rep->n_reasons; e->n_reasons++)
		str_copy_utf8(e->reasons[e->n_reasons], SYNC_REASON_SIZE,
			      rep->reasons[e->n_reasons]);
	for (e->n_warning_reasons = 0; e->n_warning_reasons < rep->n_warning_reasons;
	     e->n_warning_reasons++)
		str_copy_utf8(e->warning_reasons[e->n_warning_reasons], SYNC_REASON_SIZE,
			      rep->warning_reasons[e->n_warning_reasons]);
	str_copy_utf8(e->last_error, sizeof(e->last_error),
		     rep->rc == HUB_OK || rep->rc == HUB_ERR_STOPPED ? "" : rep->err);
	if (rep->rc == HUB_OK)
		e->last_ok_ms = now_ms;
	switch (rep->rc) {
	case HUB_OK:
	case HUB_ERR_STOPPED:
		e->n_failures = 0;
		e->state = SOURCE_IDLE;
		e->next_run_ms = next_on_schedule(e, now_ms, random, pol);
		return;
	case HUB_ERR_CONFIG:
	case HUB_ERR_AUTH:
		e->n_failures++;
		entry_disable(e);
		return;
	default:
		wait = backoff_jitter_ms(e->n_failures, pol->backoff_base_ms, pol->backoff_cap_ms,
					 random);
		if (wait < rep->retry_after_ms)
			wait = rep->retry_after_ms;
		if (e->n_failures < 64)
			e->n_failures++;
		e->state = SOURCE_BACKOFF;
		e->backoff_ms = wait;
		e->next_run_ms = now_ms + wait;
		return;
	}
}

/* A retry planned by a failure is a wait from that failure: one left
 * further away than the wait (the clock went back) is planned that wait
 * from now. */
static int backoff_follow_clock(struct sched_entry *e, int64_t now_ms)
{
	if (e->next_run_ms < 0 || e->next_run_ms - now_ms <= e->backoff_ms)
		return 0;
	e->next_run_ms = now_ms + e->backoff_ms;
	return 1;
}

/* A kept trigger is tried SCHED_TRIGGER_RETRY_MS after its last try: one
 * left further away is tried that long from now. */
static int trigger_follow_clock(struct sched_entry *e, int64_t now_ms)
{
	if (!e->is_triggered || e->trigger_at_ms - now_ms <= SCHED_TRIGGER_RETRY_MS)
		return 0;
	e->trigger_at_ms = now_ms + SCHED_TRIGGER_RETRY_MS;
	return 1;
}

/* The planned run: a retry (backoff_follow_clock), or an idle entry's on
 * its schedule, left further away than the schedule's next time and its
 * jitter, planned again from now. */
static int plan_follow_clock(struct sched_entry *e, int64_t now_ms, uint64_t random,
			     const struct sched_policy *pol)
{
	int64_t nominal, latest;

	if (e->state == SOURCE_BACKOFF)
		return backoff_follow_clock(e, now_ms);
	if (!e->has_schedule || e->state != SOURCE_IDLE || e->next_run_ms < 0)
		return 0;
	/* the latest a run planned now may start: the next time of the
	 * schedule (an interval away, or cron's next firing) and its jitter */
	if ((nominal = cron_next_ms(&e->cron, now_ms)) < 0)
		return 0;
	latest = nominal + jitter_max_at(&e->cron, nominal, pol);
	if (e->next_run_ms <= latest)
		return 0;
	plan_on_schedule(e, now_ms, random, pol);
	return 1;
}

int sched_entry_follow_clock(struct sched_entry *e, int64_t now_ms, uint64_t random,
			     const struct sched_policy *pol)
{
	return trigger_follow_clock(e, now_ms) | plan_follow_clock(e, now_ms, random, pol);
}

int sched_entry_trigger(struct sched_entry *e)
{
	e->is_triggered = 1; /* while running: one more run right after it */
	e->trigger_at_ms = 0;
	return e->state == SOURCE_RUNNING ? SCHEDULER_RUNNING : SCHEDULER_TRIGGERED;
}

void sched_entry_skip(struct sched_entry *e, const struct sched_entry *before, int64_t now_ms,
		      uint64_t random, const struct sched_policy *pol)
{
	int is_kept = before->is_triggered || e->is_triggered;

	*e = *before;
	e->is_triggered = is_kept;
	e->trigger_at_ms = is_kept ? now_ms + SCHED_TRIGGER_RETRY_MS : 0;
	if (e->state == SOURCE_DISABLED) {
		entry_disable(e);
		return;
	}
	e->state = SOURCE_IDLE;
	e->next_run_ms = -1;
	if (e->has_schedule)
		plan_on_schedule(e, now_ms, random, pol);
}

/* ---- the running scheduler ------------------------------------------------ */

struct sched_source {
	struct scheduler *s;
	const struct config_instance *conf;
	const struct plugin_module *mod;
	struct hub_instance *inst;   /* NULL until created (a failed create) */
	char *schedule;              /* the config's text, or NULL */
	struct sched_entry e;        /* lock */
	struct sched_entry before;   /* lock: e before the run began */
	int is_held_elsewhere;       /* lock: the last try found the lease taken */
	int is_taking_lease;         /* lock: the worker has not got the lease yet */
	char *cursor;                /* lock: the committed cursor */
	pthread_t thread;
	int has_thread;              /* lock */
	int is_done;                 /* lock: the worker has finished */
};

struct scheduler {
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* dispatcher: a trigger, a worker ended, stop */
	pthread_t dispatcher;
	int has_dispatcher;
	int is_stopping;             /* lock */
	struct sync_stop stop;
	uint64_t rng;                /* lock */

	const struct hub_config *cfg;
	struct intake *intake;
	struct record_rules rules;
	struct sched_policy pol;
	struct store *reader;        /* reader_lock */
	pthread_mutex_t reader_lock;

	struct sched_source *src;
	size_t n_src;
};

static uint64_t next_random(struct scheduler *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 2685821657736338717ULL;
}

static void source_set_cursor(struct sched_source *src, const char *cursor)
{
	char *copy;

	if (!cursor || (src->cursor && strcmp(src->cursor, cursor) == 0))
		return;
	if (!(copy = hub_strdup(cursor)))
		return;
	hub_free(src->cursor);
	src->cursor = copy;
}

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
	src->e.warnings = rep->warnings;
	src->e.n_retries = rep->n_retries;
	source_set_cursor(src, rep->cursor);
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
	if (!e.is_tick_run || s->reader->ops->has_one_writer)
		return 1;
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
 * is at the next due time (a trigger is spent). */
static void worker_skip(struct sched_source *src)
{
	struct scheduler *s = src->s;
	int64_t now = time_now_ms();

	pthread_mutex_lock(&s->lock);
	sched_entry_skip(&src->e, &src->before, now, next_random(s), &s->pol);
	src->is_held_elsewhere = 1;
	src->is_taking_lease = 0;
	src->is_done = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
	struct sched_source *src = arg;
	struct scheduler *s = src->s;
	struct sync_report rep;
	struct sync_params p;
	int64_t epoch = 0;
	int leased;

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
	pthread_mutex_unlock(&s->lock);
	if (leased == 1 && worker_ensure_instance(src, &rep) == 0) {
		memset(&p, 0, sizeof(p));
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
			 ", duplicates %" PRId64 ", rejected %" PRId64 ", warnings %" PRId64,
			 rep.read, rep.applied, rep.duplicates, rep.rejected, rep.warnings);
	else if (rep.rc != HUB_ERR_STOPPED)
		log_error(src->conf->name, "sync failed%s: %s",
			  rep.rc == HUB_ERR_CONFIG || rep.rc == HUB_ERR_AUTH ? " (source disabled)"
									     : "",
			  rep.err);
	log_reasons(src->conf->name, &rep);
	pthread_mutex_lock(&s->lock);
	sched_entry_finish(&src->e, &rep, time_now_ms(), next_random(s), &s->pol);
	if (rep.is_lease_lost)
		src->is_held_elsewhere = 1;
	source_set_cursor(src, rep.cursor);
	src->is_done = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	sync_report_free(&rep);
	return NULL;
}

/* Under lock. */
static void source_start(struct scheduler *s, struct sched_source *src, int64_t now)
{
	struct sync_report failed;

	src->before = src->e;
	if (sched_entry_begin(&src->e, now) != 0)
		return;
	src->is_done = 0;
	if (pthread_create(&src->thread, NULL, worker_main, src) == 0) {
		src->has_thread = 1;
		src->is_taking_lease = 1;
		return;
	}
	memset(&failed, 0, sizeof(failed));
	failed.rc = HUB_ERR_INTERNAL;
	snprintf(failed.err, sizeof(failed.err), "cannot start a sync thread");
	sched_entry_finish(&src->e, &failed, now, next_random(s), &s->pol);
}


/* Under lock: a planned run or retry that the clock's going back left far
 * away is planned again from now (sched_entry_follow_clock), and said. */
static void source_follow_clock(struct scheduler *s, struct sched_source *src, int64_t now)
{
	int64_t was = src->e.next_run_ms, was_try = src->e.trigger_at_ms;
	const char *what;
	char at[40];

	if (!sched_entry_follow_clock(&src->e, now, next_random(s), &s->pol))
		return;
	if (src->e.trigger_at_ms != was_try)
		log_info(src->conf->name,
			 "the clock went back: the kept trigger's next try was %" PRId64 " s away;"
			 " tried again at %s", (was_try - now) / 1000,
			 time_format_ms(src->e.trigger_at_ms, at, sizeof(at)));
	if (src->e.next_run_ms == was)
		return;
	what = src->e.state == SOURCE_BACKOFF ? "retry" : "next run";
	log_info(src->conf->name,
		 "the clock went back: the %s was %" PRId64 " s away, more than its %s"
		 " allows; %s re-planned at %s",
		 what, (was - now) / 1000, src->e.state == SOURCE_BACKOFF ? "backoff" : "schedule",
		 what, time_format_ms(src->e.next_run_ms, at, sizeof(at)));
}

/* Under lock: joins ended workers, starts due sources; returns how long
 * to sleep before the next planned run (at most DISPATCH_MAX_WAIT_MS). */
static int64_t dispatch_once(struct scheduler *s)
{
	int64_t now = time_now_ms(), wait = DISPATCH_MAX_WAIT_MS;

	for (size_t i = 0; i < s->n_src; i++) {
		struct sched_source *src = &s->src[i];
		int64_t w;

		if (src->has_thread && src->is_done) {
			pthread_join(src->thread, NULL);
			src->has_thread = 0;
		}
		if (!src->has_thread)
			source_follow_clock(s, src, now);
		if (!src->has_thread && sched_entry_is_due(&src->e, now))
			source_start(s, src, now);
		w = sched_entry_wait_ms(&src->e, now);
		if (w >= 0 && w < wait)
			wait = w;
	}
	return wait;
}

static void *dispatcher_main(void *arg)
{
	struct scheduler *s = arg;

	pthread_setname_np(pthread_self(), "hub-scheduler");
	pthread_mutex_lock(&s->lock);
	while (!s->is_stopping) {
		int64_t wait = dispatch_once(s);
		struct timespec deadline;

		/* monotonic: a wall clock going back does not lengthen the sleep */
		time_deadline(&deadline, CLOCK_MONOTONIC, wait > 0 ? wait : 1);
		pthread_cond_timedwait(&s->wake, &s->lock, &deadline);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- start, stop, status, trigger ----------------------------------------- */

int scheduler_check_schedule(const struct config_instance *ci, struct cron *cron, char *err,
			     size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "schedule");
	char why[512], path[64];

	if (!n || n->kind != CFG_SCALAR || n->is_null)
		return 0;
	if (cron_parse(n->value, cron, why, sizeof(why))) {
		cfg_path_key(path, sizeof(path), ci->path, "schedule");
		cfg_errorf(err, err_size, n, 0, path, "%s", why);
		return -1;
	}
	return 1;
}

static int source_prepare(struct scheduler *s, struct sched_source *src,
			  const struct config_instance *ci, const struct plugin_module *m,
			  int64_t now, char *err, size_t err_size)
{
	struct cron cron;
	char why[512];
	int has_schedule;

	src->s = s;
	src->conf = ci;
	src->mod = m;
	if ((has_schedule = scheduler_check_schedule(ci, &cron, err, err_size)) < 0)
		return -1;
	if (has_schedule && !(src->schedule = hub_strdup(cfg_get(ci->node, "schedule")->value)))
		goto nomem;
	sched_entry_init(&src->e, ci->name, src->schedule ? &cron : NULL, now, next_random(s),
			 &s->pol);
	if (plugin_instance_create(m, ci, &src->inst, why, sizeof(why))) {
		src->inst = NULL;
		entry_disable(&src->e);
		src->e.last_rc = HUB_ERR_CONFIG;
		str_copy_utf8(src->e.last_error, sizeof(src->e.last_error), why);
		log_error(ci->name, "source disabled: %s", why);
	}
	return 0;
nomem:
	err_set(err, err_size, "out of memory");
	return -1;
}

static void source_load_cursor(struct scheduler *s, struct sched_source *src)
{
	char key[300], *buf = hub_malloc(8192);

	if (!buf)
		return;
	sync_cursor_key(src->conf->name, key, sizeof(key));
	if (s->reader->ops->meta_get(s->reader, key, buf, 8192) == 1)
		source_set_cursor(src, buf);
	hub_free(buf);
}

static int scheduler_add_sources(struct scheduler *s, const struct plugin_registry *reg,
				 char *err, size_t err_size)
{
	const struct hub_config *cfg = s->cfg;
	int64_t now = time_now_ms();

	s->src = hub_calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(*s->src));
	if (!s->src) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_sources; i++) {
		const struct config_instance *ci = &cfg->sources[i];
		const struct plugin_module *m = reg ? plugin_registry_find(reg, ci->plugin) : NULL;
		struct sched_source *src = &s->src[s->n_src];

		if (!ci->is_enabled || !m || !(m->desc->roles & HUB_ROLE_PULL))
			continue;
		s->n_src++;
		if (source_prepare(s, src, ci, m, now, err, err_size))
			return -1;
		source_load_cursor(s, src);
	}
	return 0;
}

int scheduler_start(struct scheduler **out, const struct hub_config *cfg,
		    const struct plugin_registry *reg, struct intake *intake, char *err,
		    size_t err_size)
{
	struct scheduler *s = hub_calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	*out = NULL;
	if (!s) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	/* the dispatcher sleeps on the monotonic clock (time_deadline) */
	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) {
		hub_free(s);
		err_set(err, err_size, "cannot set up the dispatcher's clock");
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->reader_lock, NULL);
	sync_stop_init(&s->stop);
	s->cfg = cfg;
	s->intake = intake;
	s->pol = sched_policy_default;
	s->rng = (uint64_t)time_now_ms() * 0x9E3779B97F4A7C15ULL | 1;
	s->rules.external_ids = cfg->external_ids;
	s->rules.n_external_ids = cfg->n_external_ids;
	s->rules.blocked_values = cfg->blocked_values;
	s->rules.n_blocked_values = cfg->n_blocked_values;
	if (store_open_existing(cfg, &s->reader, err, err_size))
		goto fail;
	if (scheduler_add_sources(s, reg, err, err_size))
		goto fail;
	if (pthread_create(&s->dispatcher, NULL, dispatcher_main, s) != 0) {
		err_set(err, err_size, "cannot start the scheduler thread");
		goto fail;
	}
	s->has_dispatcher = 1;
	log_info("scheduler", "%zu pull sources", s->n_src);
	*out = s;
	return 0;
fail:
	scheduler_stop(s);
	return -1;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->is_stopping = 1;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	sync_stop_request(&s->stop); /* running pulls finish their page */
	if (s->has_dispatcher)
		pthread_join(s->dispatcher, NULL);
	for (size_t i = 0; i < s->n_src; i++) {
		struct sched_source *src = &s->src[i];
		if (src->has_thread)
			pthread_join(src->thread, NULL);
		plugin_instance_destroy(src->inst);
		hub_free(src->schedule);
		hub_free(src->cursor);
	}
	hub_free(s->src);
	if (s->reader)
		store_close(s->reader);
	sync_stop_destroy(&s->stop);
	pthread_mutex_destroy(&s->reader_lock);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	hub_free(s);
}

static json_t *time_or_null(int64_t ms)
{
	char buf[32];
	return ms > 0 ? json_string(time_format_ms(ms, buf, sizeof(buf))) : json_null();
}

/* ["reason", ...] (UTF-8 already: sched_entry_finish). */
static json_t *reasons_json(const char (*list)[SYNC_REASON_SIZE], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static json_t *last_run_json(const struct sched_entry *e)
{
	const char *result;

	if (e->last_start_ms == 0)
		return json_null();
	if (e->state == SOURCE_RUNNING)
		result = NULL;
	else if (e->last_rc == HUB_OK)
		result = "ok";
	else if (e->last_rc == HUB_ERR_STOPPED)
		result = "stopped";
	else
		result = "error";
	return json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:o}",
			 "started_at", time_or_null(e->last_start_ms),
			 "ended_at", time_or_null(e->state == SOURCE_RUNNING ? 0 : e->last_end_ms),
			 "result", result ? json_string(result) : json_null(),
			 "read", (json_int_t)e->read, "applied", (json_int_t)e->applied,
			 "duplicates", (json_int_t)e->duplicates,
			 "rejected", (json_int_t)e->rejected,
			 "warnings", (json_int_t)e->warnings, "retries", e->n_retries,
			 "first_rejections", reasons_json(e->reasons, e->n_reasons),
			 "first_warnings", reasons_json(e->warning_reasons, e->n_warning_reasons));
}

static json_t *source_json(const struct sched_source *src)
{
	/* a worker still trying the lease has not started a run: shown as
	 * before it (a trigger kept while another process holds the lease
	 * tries every second, and is no run) */
	const struct sched_entry *e = src->is_taking_lease ? &src->before : &src->e;

	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:I, s:o}",
			 "name", src->conf->name, "plugin", src->conf->plugin,
			 "schedule", src->schedule ? json_string(src->schedule) : json_null(),
			 "state", src->is_held_elsewhere && e->state != SOURCE_RUNNING
					  ? "held by another process"
					  : sched_state_name(e->state),
			 "last_run", last_run_json(e),
			 "last_error", e->last_error[0] ? json_string(e->last_error) : json_null(),
			 "next_run_at", time_or_null(entry_next_at(e)), /* null: none, or now */
			 "failures", (json_int_t)e->n_failures,
			 "cursor", src->cursor ? json_string(src->cursor) : json_null());
}

json_t *scheduler_status_json(struct scheduler *s)
{
	json_t *list = json_array(), *item;

	if (!list)
		return NULL;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_src; i++) {
		if (!(item = source_json(&s->src[i])) || json_array_append_new(list, item)) {
			pthread_mutex_unlock(&s->lock);
			json_decref(list);
			return NULL;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return list;
}

size_t scheduler_source_count(const struct scheduler *s)
{
	return s ? s->n_src : 0;
}

size_t scheduler_sync_stats(struct scheduler *s, struct sched_sync_stat *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (; n < s->n_src && n < max; n++) {
		const struct sched_source *src = &s->src[n];
		/* as source_json: a try of the lease is no run */
		const struct sched_entry *e = src->is_taking_lease ? &src->before : &src->e;
		out[n].name = src->conf->name;
		out[n].last_ok_ms = e->last_ok_ms;
		out[n].is_last_failed = e->last_rc != HUB_OK && e->last_rc != HUB_ERR_STOPPED;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

int scheduler_trigger(struct scheduler *s, const char *name)
{
	int rc = SCHEDULER_NO_SOURCE;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_src; i++) {
		if (strcmp(s->src[i].conf->name, name) != 0)
			continue;
		rc = s->is_stopping ? SCHEDULER_RUNNING : sched_entry_trigger(&s->src[i].e);
		pthread_cond_signal(&s->wake);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
