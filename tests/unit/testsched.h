/*
 * testsched.h - a running scheduler over one plugin of the build, on a
 * testhub world, for the tests that look at its status while and after
 * its worker threads run (test_scheduler_run.c, test_scheduler_worker.c).
 *
 *     struct plugin_sched ps;
 *
 *     plugin_sched_start(&ps, "sources:\n  - name: rl\n    plugin: reject_lines\n",
 *                        "tests/plugins/reject_lines.so");
 *     scheduler_trigger(ps.s, "rl");
 *     list = status_after_the_run(&ps);
 *     ...
 *     plugin_sched_stop(&ps);
 */
#ifndef HUB_TESTSCHED_H
#define HUB_TESTSCHED_H

#include "testhub.h"

#include "../../hub/plugin.h"
#include "../../hub/scheduler.h"

#include <jansson.h>

struct plugin_sched {
	struct testhub *th;
	struct plugin_module mod;
	struct plugin_registry reg;
	struct scheduler *s;
	char *path;
};

/* The world of `yaml` and the plugin `so` (a path under the build
 * directory) loaded; no scheduler yet (plugin_sched_begin), so that a test
 * may set up its store first.  Fails the test when either fails. */
void plugin_sched_load(struct plugin_sched *ps, const char *yaml, const char *so);
/* Starts the scheduler of a loaded world. */
void plugin_sched_begin(struct plugin_sched *ps);
/* plugin_sched_load() then plugin_sched_begin(). */
void plugin_sched_start(struct plugin_sched *ps, const char *yaml, const char *so);
/* Stops the scheduler (NULL: never begun) and frees the world. */
void plugin_sched_stop(struct plugin_sched *ps);

/* The status JSON once is_it(its list of sources) holds, polled for (10
 * s); the last one seen when it never does.  A new reference. */
json_t *status_once(struct plugin_sched *ps, int (*is_it)(json_t *list));
/* status_once() until the first source's last run has a result: the run
 * ends on the scheduler's thread.  A new reference. */
json_t *status_after_the_run(struct plugin_sched *ps);

/* The first source of a status list: its text `key`, "(null)" when it has
 * none; its last run (or NULL); that run's result, "(null)" while it runs
 * or before it ran; one of that run's counts. */
const char *source_text(json_t *list, const char *key);
json_t *last_run_of(json_t *list);
const char *result_of(json_t *list);
json_int_t run_count(json_t *list, const char *key);
/* The first source runs and has read two items (gated_pull at its gate). */
int is_running_past_a_page(json_t *list);
/* gated_start(), then gp triggered and waited for at its gate (10 s). */
void gated_running(struct plugin_sched *ps, char **dir);

/* A scheduler over gated_pull's source "gp", its gate in a dir of its own
 * (*dir, testlib_rmtree() removes it); gate_open() lets its pull go on. */
void gated_start(struct plugin_sched *ps, char **dir);
void gate_open(const char *dir);

#endif
