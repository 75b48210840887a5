/*
 * scheduler_int.h - what the scheduler's files share (scheduler.c: the
 * dispatcher, start, stop, status and trigger; scheduler_worker.c: one run
 * of a source on its thread; scheduler_plan.c: the pieces).  Not for the
 * rest of the hub: see scheduler.h.
 */
#ifndef HUB_SCHEDULER_INT_H
#define HUB_SCHEDULER_INT_H

#include "scheduler.h"

#include <pthread.h>
#include <stdint.h>

/* A field marked "lock" is guarded by scheduler.lock, "reader_lock" by
 * reader_lock (scheduler.c says which thread does what). */
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
	int64_t skipped_done;        /* lock: items skip()ped in the runs that ended */
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
	/* the pull sources `enabled: false`: listed by the status, never run */
	const struct config_instance **off;
	size_t n_off;
};

/* ---- scheduler.c ----------------------------------------------------------- */

/* The scheduler's dice (rng: under lock once the dispatcher runs). */
uint64_t scheduler_next_random(struct scheduler *s);
/* Keeps a copy of the committed cursor (NULL, the same, or no memory: kept
 * as it was); under lock once the dispatcher runs. */
void scheduler_source_set_cursor(struct sched_source *src, const char *cursor);
/* Reads the source's committed cursor from the store (it may be another
 * process's) and keeps it as above; takes reader_lock, then lock (neither
 * held by the caller).  Kept as it was when the store cannot be read. */
void scheduler_source_load_cursor(struct sched_source *src);

/* ---- scheduler_worker.c ---------------------------------------------------- */

/* A source's worker thread: one run (arg: its struct sched_source). */
void *scheduler_worker_main(void *arg);

/* ---- scheduler_plan.c ------------------------------------------------------ */

/* Nothing is planned for a disabled source: only a trigger runs it. */
void sched_entry_disable(struct sched_entry *e);
/* When the entry next wants a run: its planned run or a kept trigger's
 * try, whichever comes first; 0 for a trigger due now; -1 when nothing is
 * planned (running, disabled, on demand). */
int64_t sched_entry_next_at(const struct sched_entry *e);

#endif
