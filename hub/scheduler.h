/*
 * scheduler.h - runs the pull sources of `profilehub run`: each on its
 * schedule (interval or cron, UTC, with jitter) or when triggered, never
 * two runs of one source at once.  A transient failure backs off
 * exponentially with full jitter (honouring a Retry-After the plugin asked
 * for); a refused configuration or credentials (HUB_ERR_CONFIG,
 * HUB_ERR_AUTH) disables the source until a trigger or a restart.
 *
 * The decisions are pure functions of a struct sched_entry, the time and a
 * random number (below, "pieces"), so tests drive them with their own
 * clock and dice; the threads only apply them.
 */
#ifndef HUB_SCHEDULER_H
#define HUB_SCHEDULER_H

#include "config.h"
#include "cron.h"
#include "intake.h"
#include "plugin.h"
#include "sync.h"

#include <jansson.h>
#include <stdint.h>

struct scheduler;

/*
 * Creates an instance of every enabled pull source of cfg (plugins from
 * `reg`), reads their committed cursors, and starts the dispatcher
 * thread.  A source whose plugin refuses its config starts disabled, its
 * error shown in the status, with no run planned until a trigger.
 * Returns 0, or -1 with err set (a schedule that does not parse, no
 * memory, no store).
 */
int scheduler_start(struct scheduler **out, const struct hub_config *cfg,
		    const struct plugin_registry *reg, struct intake *intake, char *err,
		    size_t err_size);

/* A source entry's `schedule`: 1 parsed into *cron, 0 when it has none
 * (on demand only), -1 with "file:line:col: ..." in err.  Also for
 * `profilehub check`. */
int scheduler_check_schedule(const struct config_instance *ci, struct cron *cron, char *err,
			     size_t err_size);

/* Stops: no new run starts, running ones finish their page and commit,
 * then every thread is joined and the instances destroyed.  NULL is
 * ignored.  Call before intake_stop(). */
void scheduler_stop(struct scheduler *s);

/*
 * The state of every pull source, for GET /v1/sources (which wraps it in
 * {"sources": ...}):
 *   [{"name", "plugin", "schedule" (or null), "state":
 *     "idle"|"running"|"backoff"|"disabled"|"held by another process"
 *     (its last try found the lease taken), "last_run": {"started_at",
 *     "ended_at", "result": "ok"|"stopped"|"error" (null while it runs),
 *     "read", "applied", "duplicates", "rejected", "blocked" (an identifier
 *     erased within erase_block_days), "refused" (two known profiles
 *     aliased), "warnings", "retries",
 *     "first_rejections" and "first_warnings" (the first reasons, as
 *     text)} (or null), "last_error" (or null), "next_run_at" (the planned
 *     run, or a kept trigger's next try; or null), "failures", "cursor"
 *     (or null)}, ...]
 * Times are RFC 3339.  Returns a new reference, or NULL (no memory).
 */
json_t *scheduler_status_json(struct scheduler *s);

/* One pull source as GET /metrics shows it (the runs of this process,
 * since it started). */
struct sched_sync_stat {
	const char *name;        /* the config's */
	int64_t last_ok_ms;      /* the end of its last run that ended ok; 0: none */
	int is_last_failed;      /* its last run ended in an error (not "stopped"), or
				  * its plugin refused its configuration */
	int64_t skipped;         /* items its plugin skip()ped in this process's runs */
};

/* How many pull sources s runs (0 for NULL). */
size_t scheduler_source_count(const struct scheduler *s);
/* Fills out[] with at most max sources, in the configuration's order;
 * returns how many. */
size_t scheduler_sync_stats(struct scheduler *s, struct sched_sync_stat *out, size_t max);

#define SCHEDULER_TRIGGERED 0     /* a run starts now */
#define SCHEDULER_RUNNING 1       /* one is running: another follows it */
#define SCHEDULER_NO_SOURCE (-1)  /* no pull source of that name */

/* POST /v1/sources/<name>/sync.  A disabled source is tried again; a
 * running one runs once more when this run ends (never two at once); one
 * whose lease another process holds runs when that process lets it go. */
int scheduler_trigger(struct scheduler *s, const char *name);
/* scheduler_trigger(), and with is_full the run it asks for is a full one
 * (POST /v1/sources/<name>/sync?full=true, as `profilehub sync --full`):
 * from the plugin's first record, not the saved cursor. */
int scheduler_trigger_full(struct scheduler *s, const char *name, int is_full);

/* ---- pieces, exposed for tests ------------------------------------------ */

enum source_state {
	SOURCE_IDLE = 0,
	SOURCE_RUNNING,
	SOURCE_BACKOFF,
	SOURCE_DISABLED,
};

struct sched_policy {
	int64_t backoff_base_ms; /* first failed run: up to this (default 30 s) */
	int64_t backoff_cap_ms;  /* at most (default 1 h) */
	int64_t jitter_max_ms;   /* at most this, and 10% of the period (60 s) */
};

extern const struct sched_policy sched_policy_default;

/* One source's schedule and the record of its runs.  The dispatcher's
 * lock guards it in a running scheduler. */
struct sched_entry {
	const char *name;
	int has_schedule;        /* 0: on demand only */
	struct cron cron;
	enum source_state state;
	int is_triggered;        /* run as soon as possible (not before trigger_at_ms) */
	int64_t trigger_at_ms;   /* a kept trigger's next try (sched_entry_skip); 0: now */
	int is_full_wanted;      /* a trigger asked for a full sync (kept like it) */
	int is_full_run;         /* the run begun is a full one (not from the cursor) */
	unsigned n_failures;     /* failed runs in a row */
	int64_t backoff_ms;      /* backing off: the wait planned after the failure */
	int64_t next_run_ms;     /* -1: none planned */
	int64_t nominal_ms;      /* the schedule's time of that run, before its jitter */
	int is_tick_run;         /* the run began at its scheduled time (not a
				  * trigger or a retry): the next counts from
				  * nominal_ms, so jitter never adds up */
	int64_t last_start_ms, last_end_ms; /* 0: never */
	int64_t last_ok_ms;      /* the end of the last run that ended ok; 0: none */
	hub_rc last_rc;
	int64_t read, applied, duplicates, rejected; /* the last (or current) run */
	int64_t blocked, refused;
	int64_t warnings;
	int64_t skipped;         /* items the plugin deliberately did not store */
	int n_retries;
	char last_error[1024];
	/* the last finished run's first distinct rejections and warnings */
	char reasons[SYNC_MAX_REASONS][SYNC_REASON_SIZE];
	size_t n_reasons;
	char warning_reasons[SYNC_MAX_REASONS][SYNC_REASON_SIZE];
	size_t n_warning_reasons;
};

/* Plans the first run: the next firing time after now, plus jitter. */
void sched_entry_init(struct sched_entry *e, const char *name, const struct cron *cron,
		      int64_t now_ms, uint64_t random, const struct sched_policy *pol);
/* 1 when a run should start now. */
int sched_entry_is_due(const struct sched_entry *e, int64_t now_ms);
/* Marks a run started; 0, or SCHEDULER_RUNNING when one already runs. */
int sched_entry_begin(struct sched_entry *e, int64_t now_ms);
/* Applies a finished run: next run on schedule (ok, stopped), backoff
 * (transient and other failures), disabled (config, auth). */
void sched_entry_finish(struct sched_entry *e, const struct sync_report *rep,
			int64_t now_ms, uint64_t random, const struct sched_policy *pol);
/* The wall clock went back (a step, a restored VM): runs are planned in
 * wall-clock time, so the next one waited for the length of the step.  A
 * planned run further from now_ms than the schedule's next time plus its
 * jitter is planned again from now_ms, as after a run; a retry further
 * than its backoff wait (backoff_ms) is planned that wait from now_ms; a
 * kept trigger's try further than SCHED_TRIGGER_RETRY_MS is made that
 * long from now_ms.  1 when one was (the dispatcher logs it), 0 when not
 * (also while running, disabled or on demand with nothing planned). */
int sched_entry_follow_clock(struct sched_entry *e, int64_t now_ms, uint64_t random,
			     const struct sched_policy *pol);
/* Asks for a run now: SCHEDULER_TRIGGERED, or SCHEDULER_RUNNING (queued
 * after the running one). */
int sched_entry_trigger(struct sched_entry *e);
/* sched_entry_trigger() for a full sync: the next run begun is one. */
int sched_entry_trigger_full(struct sched_entry *e);
/* The lease was another process's: the run did not happen.  The entry is
 * `before` again; a disabled one stays disabled with nothing planned,
 * another plans its next tick after now.  A trigger (the run's, or one
 * that came during the try) is kept: it is tried again every
 * SCHED_TRIGGER_RETRY_MS until a run of it takes the lease, so a "sync
 * now" runs after the other process's run instead of being lost. */
#define SCHED_TRIGGER_RETRY_MS 1000
void sched_entry_skip(struct sched_entry *e, const struct sched_entry *before, int64_t now_ms,
		      uint64_t random, const struct sched_policy *pol);
/* How long the dispatcher may sleep for this entry: the time until its
 * planned run, 0 when it is due, -1 when nothing is planned (running,
 * disabled, on demand). */
int64_t sched_entry_wait_ms(const struct sched_entry *e, int64_t now_ms);
/* Several processes: a run at its scheduled time claims the tick in the
 * store (meta "sync_started:<source>": when a run of it last started,
 * anywhere), holding the source's lease.  1 claimed (the start is now
 * now_ms), 0 another process already ran this tick (*last_ms its start),
 * -1 on a store error (the caller runs anyway: the cursor keeps the data
 * right, only a run may be doubled).  A cron tick is run when no run
 * started at or after its time; an interval one when none started within
 * half the interval. */
int sched_tick_claim(struct store *s, const struct sched_entry *e, int64_t now_ms,
		     int64_t *last_ms);
/* A run not at its scheduled time (a retry after a failure, a trigger) is
 * never skipped but is a start all the same: it writes "sync_started:
 * <source>" (now_ms) so that another process's tick it serves is skipped.
 * It was not written: after PostgreSQL came back, one process's retry and
 * the other's tick 9 s later both ran an "every 1m" source.  0, or -1 on
 * a store error (the caller runs anyway). */
int sched_start_note(struct store *s, const char *source, int64_t now_ms);

/* The firing time after after_ms plus a jitter drawn from `random`:
 * uniform in [0, min(jitter_max, period / 10)].  -1: never. */
int64_t sched_next_run_ms(const struct cron *cron, int64_t after_ms, uint64_t random,
			  const struct sched_policy *pol);

const char *sched_state_name(enum source_state s);

#endif
