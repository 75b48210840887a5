/*
 * scheduler.c - the pull sources of `profilehub run`: when each runs, and
 * the threads that run them.
 *
 * Three files:
 *   - the pieces (sched_entry_*, scheduler_plan.c): what a finished run
 *     means for the next one (schedule, backoff with full jitter,
 *     Retry-After, disabling).  Pure: the time and the dice are arguments.
 *   - one run of a source on its worker thread (scheduler_worker.c): the
 *     lease, the tick's claim between processes, the sync and its report.
 *   - here, the dispatcher thread: sleeps until the earliest planned run (or
 *     a trigger), starts one worker thread per due source, joins the workers
 *     that ended.  A source has at most one worker, so runs of a source
 *     never overlap; different sources run side by side.  And the start,
 *     stop, status and trigger the rest of the hub calls.
 *
 * Threads and locks: every sched_source field marked "lock" is guarded by
 * scheduler.lock; a worker owns its source's instance while it runs (the
 * ABI's "one thread at a time").  The reader store connection (committed
 * cursors) is shared under reader_lock.  Stopping: is_stopping stops new
 * runs, sync_stop_request() makes running pulls finish their page.  The
 * dispatcher never runs a pull or waits on the store itself.
 */
#include "scheduler_int.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DISPATCH_MAX_WAIT_MS 60000

uint64_t scheduler_next_random(struct scheduler *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 2685821657736338717ULL;
}

void scheduler_source_set_cursor(struct sched_source *src, const char *cursor)
{
	char *copy;

	if (!cursor || (src->cursor && strcmp(src->cursor, cursor) == 0))
		return;
	if (!(copy = hub_strdup(cursor)))
		return;
	hub_free(src->cursor);
	src->cursor = copy;
}

/* Under lock. */
static void source_start(struct scheduler *s, struct sched_source *src, int64_t now)
{
	struct sync_report failed;

	src->before = src->e;
	if (sched_entry_begin(&src->e, now) != 0)
		return;
	src->is_done = 0;
	if (pthread_create(&src->thread, NULL, scheduler_worker_main, src) == 0) {
		src->has_thread = 1;
		src->is_taking_lease = 1;
		return;
	}
	memset(&failed, 0, sizeof(failed));
	failed.rc = HUB_ERR_INTERNAL;
	snprintf(failed.err, sizeof(failed.err), "cannot start a sync thread");
	sched_entry_finish(&src->e, &failed, now, scheduler_next_random(s), &s->pol);
}


/* Under lock: a planned run or retry that the clock's going back left far
 * away is planned again from now (sched_entry_follow_clock), and said. */
static void source_follow_clock(struct scheduler *s, struct sched_source *src, int64_t now)
{
	int64_t was = src->e.next_run_ms, was_try = src->e.trigger_at_ms;
	const char *what;
	char at[40];

	if (!sched_entry_follow_clock(&src->e, now, scheduler_next_random(s), &s->pol))
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
	sched_entry_init(&src->e, ci->name, src->schedule ? &cron : NULL, now,
			 scheduler_next_random(s), &s->pol);
	if (plugin_instance_create(m, ci, &src->inst, why, sizeof(why))) {
		src->inst = NULL;
		sched_entry_disable(&src->e);
		src->e.last_rc = HUB_ERR_CONFIG;
		str_copy_utf8(src->e.last_error, sizeof(src->e.last_error), why);
		log_error(ci->name, "source disabled: %s", why);
	}
	return 0;
nomem:
	err_set(err, err_size, "out of memory");
	return -1;
}

void scheduler_source_load_cursor(struct sched_source *src)
{
	struct scheduler *s = src->s;
	char key[300], *buf = hub_malloc(8192);
	int rc;

	if (!buf)
		return;
	sync_cursor_key(src->conf->name, key, sizeof(key));
	pthread_mutex_lock(&s->reader_lock);
	rc = s->reader->ops->meta_get(s->reader, key, buf, 8192);
	pthread_mutex_unlock(&s->reader_lock);
	pthread_mutex_lock(&s->lock);
	if (rc == 1)
		scheduler_source_set_cursor(src, buf);
	pthread_mutex_unlock(&s->lock);
	hub_free(buf);
}

static int scheduler_add_sources(struct scheduler *s, const struct plugin_registry *reg,
				 char *err, size_t err_size)
{
	const struct hub_config *cfg = s->cfg;
	int64_t now = time_now_ms();

	s->src = hub_calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(*s->src));
	s->off = hub_calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(*s->off));
	if (!s->src || !s->off) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_sources; i++) {
		const struct config_instance *ci = &cfg->sources[i];
		const struct plugin_module *m = reg ? plugin_registry_find(reg, ci->plugin) : NULL;
		struct sched_source *src = &s->src[s->n_src];

		if (!m || !(m->desc->roles & HUB_ROLE_PULL))
			continue;
		if (!ci->is_enabled) {
			s->off[s->n_off++] = ci;
			continue;
		}
		s->n_src++;
		if (source_prepare(s, src, ci, m, now, err, err_size))
			return -1;
		scheduler_source_load_cursor(src);
	}
	return 0;
}

int scheduler_start(struct scheduler **out, const struct hub_config *cfg,
		    const struct plugin_registry *reg, struct intake *intake, char *err,
		    size_t err_size)
{
	struct scheduler *s = hub_calloc(1, sizeof(*s));

	*out = NULL;
	if (!s) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	/* the dispatcher sleeps on the monotonic clock (time_deadline) */
	if (time_cond_init(&s->wake)) {
		hub_free(s);
		err_set(err, err_size, "cannot set up the dispatcher's clock");
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
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
	log_info("scheduler", "%zu pull source%s", s->n_src, plural_s(s->n_src));
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
	hub_free(s->off);
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
	return json_pack("{s:o, s:o, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o,"
			 " s:o}",
			 "started_at", time_or_null(e->last_start_ms),
			 "ended_at", time_or_null(e->state == SOURCE_RUNNING ? 0 : e->last_end_ms),
			 "result", result ? json_string(result) : json_null(),
			 "full", e->is_full_run,
			 "read", (json_int_t)e->read, "applied", (json_int_t)e->applied,
			 "duplicates", (json_int_t)e->duplicates,
			 "rejected", (json_int_t)e->rejected,
			 "blocked", (json_int_t)e->blocked, "refused", (json_int_t)e->refused,
			 "warnings", (json_int_t)e->warnings,
			 "skipped", (json_int_t)e->skipped, "retries", e->n_retries,
			 "first_rejections", reasons_json(e->reasons, e->n_reasons),
			 "first_warnings", reasons_json(e->warning_reasons, e->n_warning_reasons));
}

/* The sync a trigger queued and no run has begun yet: "full" (?full=true),
 * "incremental", or null.  GET /v1/sources showed none, so a client that
 * got 202 for ?full=true could not tell it was still to come. */
static json_t *pending_sync_json(const struct sched_entry *e)
{
	if (!e->is_triggered)
		return json_null();
	return json_string(e->is_full_wanted ? "full" : "incremental");
}

static json_t *source_json(const struct sched_source *src)
{
	/* a worker still trying the lease has not started a run: shown as
	 * before it (a trigger kept while another process holds the lease
	 * tries every second, and is no run) */
	const struct sched_entry *e = src->is_taking_lease ? &src->before : &src->e;

	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:I, s:o, s:o}",
			 "name", src->conf->name, "plugin", src->conf->plugin,
			 "schedule", src->schedule ? json_string(src->schedule) : json_null(),
			 "state", src->is_held_elsewhere && e->state != SOURCE_RUNNING
					  ? "held by another process"
					  : sched_state_name(e->state),
			 "last_run", last_run_json(e),
			 "last_error", e->last_error[0] ? json_string(e->last_error) : json_null(),
			 /* null: none, or now */
			 "next_run_at", time_or_null(sched_entry_next_at(e)),
			 "failures", (json_int_t)e->n_failures,
			 "cursor", src->cursor ? json_string(src->cursor) : json_null(),
			 "pending_sync", pending_sync_json(e));
}

/* A pull source `enabled: false`, as source_json shows one (state "off"):
 * it was left out of GET /v1/sources, while POST .../sync answered 409 off
 * and GET /v1/exports lists an export off in the configuration.  Its
 * cursor is the store's (another process may run it), read under
 * reader_lock alone. */
static json_t *off_source_json(struct scheduler *s, const struct config_instance *ci)
{
	const struct cfg_node *sched = cfg_get(ci->node, "schedule");
	char key[300], *cursor = hub_malloc(8192);
	json_t *j;
	int rc = -1;

	if (!cursor)
		return NULL;
	sync_cursor_key(ci->name, key, sizeof(key));
	pthread_mutex_lock(&s->reader_lock);
	rc = s->reader->ops->meta_get(s->reader, key, cursor, 8192);
	pthread_mutex_unlock(&s->reader_lock);
	j = json_pack("{s:s, s:s, s:o, s:s, s:n, s:n, s:n, s:i, s:o, s:n}", "name", ci->name,
		      "plugin", ci->plugin,
		      "schedule", sched && sched->value ? json_string(sched->value) : json_null(),
		      "state", "off", "last_run", "last_error", "next_run_at", "failures", 0,
		      "cursor", rc == 1 ? json_string(cursor) : json_null(), "pending_sync");
	hub_free(cursor);
	return j;
}

/* The sources as the configuration lists them; the off ones' cursors are
 * read before the lock is taken (lock is never held with reader_lock). */
json_t *scheduler_status_json(struct scheduler *s)
{
	json_t *list = json_array(), *off = json_array(), *item;
	size_t next_off = 0;

	for (size_t i = 0; list && off && i < s->n_off; i++)
		if (!(item = off_source_json(s, s->off[i])) || json_array_append_new(off, item))
			goto fail;
	if (!list || !off)
		goto fail;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0, k = 0; i < s->cfg->n_sources; i++) {
		const struct config_instance *ci = &s->cfg->sources[i];
		if (next_off < s->n_off && s->off[next_off] == ci)
			item = json_incref(json_array_get(off, next_off++));
		else if (k < s->n_src && s->src[k].conf == ci)
			item = source_json(&s->src[k++]);
		else
			continue;
		if (!item || json_array_append_new(list, item)) {
			pthread_mutex_unlock(&s->lock);
			goto fail;
		}
	}
	pthread_mutex_unlock(&s->lock);
	json_decref(off);
	return list;
fail:
	json_decref(off);
	json_decref(list);
	return NULL;
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
		out[n].skipped = src->skipped_done +
				 (src->e.state == SOURCE_RUNNING ? src->e.skipped : 0);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

int scheduler_trigger(struct scheduler *s, const char *name)
{
	return scheduler_trigger_full(s, name, 0);
}

int scheduler_trigger_full(struct scheduler *s, const char *name, int is_full)
{
	int rc = SCHEDULER_NO_SOURCE;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_src; i++) {
		if (strcmp(s->src[i].conf->name, name) != 0)
			continue;
		if (s->is_stopping)
			rc = SCHEDULER_RUNNING;
		else
			rc = is_full ? sched_entry_trigger_full(&s->src[i].e)
				     : sched_entry_trigger(&s->src[i].e);
		pthread_cond_signal(&s->wake);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
