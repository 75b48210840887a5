/*
 * scheduler_plan.c - the pieces of the scheduler (sched_entry_*): what a
 * finished run means for the next one (schedule, backoff with full jitter,
 * Retry-After, disabling), when a source is due, a clock that went back.
 *
 * Pure: the time and the dice are arguments, so tests drive every decision
 * with their own clock (tests/unit/test_scheduler.c).  Never a thread, a
 * lock, the clock or the store here: in a running scheduler, scheduler.c
 * and scheduler_worker.c call these under scheduler.lock and apply what
 * they decide.  The tick's claim in the store (sched_tick_claim) is
 * scheduler_worker.c's.
 */
#include "scheduler_int.h"

#include "util.h"

#include <limits.h>
#include <string.h>

const struct sched_policy sched_policy_default = {
	.backoff_base_ms = 30000,
	.backoff_cap_ms = 3600000,
	.jitter_max_ms = 60000,
};

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
int64_t sched_entry_next_at(const struct sched_entry *e)
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
	int64_t at = sched_entry_next_at(e);

	if (at < 0)
		return -1;
	return at > now_ms ? at - now_ms : 0;
}

/* Nothing is planned for a disabled source: only a trigger runs it. */
void sched_entry_disable(struct sched_entry *e)
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
	e->is_full_run = e->is_full_wanted;
	e->is_full_wanted = 0;
	e->last_start_ms = now_ms;
	e->last_end_ms = 0;
	e->read = e->applied = e->duplicates = e->rejected = e->warnings = 0;
	e->blocked = e->refused = e->skipped = 0;
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
	e->blocked = rep->blocked;
	e->refused = rep->refused;
	e->warnings = rep->warnings;
	e->skipped = rep->skipped;
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
		sched_entry_disable(e);
		return;
	default:
		wait = backoff_jitter_ms(e->n_failures, pol->backoff_base_ms, pol->backoff_cap_ms,
					 random);
		if (wait < rep->retry_after_ms)
			wait = rep->retry_after_ms;
		if (e->n_failures < UINT_MAX) /* every failed run in a row */
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

int sched_entry_trigger_full(struct sched_entry *e)
{
	e->is_full_wanted = 1;
	return sched_entry_trigger(e);
}

void sched_entry_skip(struct sched_entry *e, const struct sched_entry *before, int64_t now_ms,
		      uint64_t random, const struct sched_policy *pol)
{
	int is_kept = before->is_triggered || e->is_triggered;
	int is_full = before->is_full_wanted || e->is_full_wanted;

	*e = *before;
	e->is_triggered = is_kept;
	e->is_full_wanted = is_full; /* the full sync asked for is not lost */
	e->trigger_at_ms = is_kept ? now_ms + SCHED_TRIGGER_RETRY_MS : 0;
	if (e->state == SOURCE_DISABLED) {
		sched_entry_disable(e);
		return;
	}
	e->state = SOURCE_IDLE;
	e->next_run_ms = -1;
	if (e->has_schedule)
		plan_on_schedule(e, now_ms, random, pol);
}
