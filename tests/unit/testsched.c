/*
 * testsched.c - a running scheduler over one plugin of the build, for the
 * scheduler's tests (testsched.h).
 */
#include "testsched.h"

#include "testlib.h"

#include "../../hub/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void plugin_sched_load(struct plugin_sched *ps, const char *yaml, const char *so)
{
	char err[1024];

	memset(ps, 0, sizeof(*ps));
	ps->th = testhub_start(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ps->th);
	CU_ASSERT_FATAL(asprintf(&ps->path, "%s/%s", testlib_build_dir(), so) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_load(ps->path, &ps->mod, err, sizeof(err)), 0);
	ps->reg.mods = &ps->mod;
	ps->reg.n_mods = 1;
}

void plugin_sched_begin(struct plugin_sched *ps)
{
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(scheduler_start(&ps->s, ps->th->cfg, &ps->reg, ps->th->intake, err,
					      sizeof(err)), 0);
}

void plugin_sched_start(struct plugin_sched *ps, const char *yaml, const char *so)
{
	plugin_sched_load(ps, yaml, so);
	plugin_sched_begin(ps);
}

void plugin_sched_stop(struct plugin_sched *ps)
{
	scheduler_stop(ps->s);
	plugin_unload(&ps->mod);
	free(ps->path);
	testhub_stop(ps->th);
}

json_t *status_once(struct plugin_sched *ps, int (*is_it)(json_t *list))
{
	json_t *list = NULL;

	for (int64_t until = time_mono_ms() + 10000; time_mono_ms() < until;) {
		struct timespec pause = {0, 2 * 1000 * 1000};

		json_decref(list);
		list = scheduler_status_json(ps->s);
		if (is_it(list))
			break;
		nanosleep(&pause, NULL);
	}
	return list;
}

static int has_a_last_result(json_t *list)
{
	json_t *run = json_object_get(json_array_get(list, 0), "last_run");

	return json_is_string(json_object_get(run, "result"));
}

json_t *status_after_the_run(struct plugin_sched *ps)
{
	return status_once(ps, has_a_last_result);
}

const char *source_text(json_t *list, const char *key)
{
	const char *s = json_string_value(json_object_get(json_array_get(list, 0), key));

	return s ? s : "(null)";
}

json_t *last_run_of(json_t *list)
{
	return json_object_get(json_array_get(list, 0), "last_run");
}

const char *result_of(json_t *list)
{
	const char *s = json_string_value(json_object_get(last_run_of(list), "result"));

	return s ? s : "(null)";
}

json_int_t run_count(json_t *list, const char *key)
{
	return json_integer_value(json_object_get(last_run_of(list), key));
}

int is_running_past_a_page(json_t *list)
{
	return strcmp(source_text(list, "state"), "running") == 0 && run_count(list, "read") >= 2;
}

void gated_start(struct plugin_sched *ps, char **dir)
{
	char yaml[1024];

	*dir = testlib_mkdtemp();
	CU_ASSERT_PTR_NOT_NULL_FATAL(*dir);
	snprintf(yaml, sizeof(yaml),
		 "sources:\n  - name: gp\n    plugin: gated_pull\n    gate: %s/gate\n", *dir);
	plugin_sched_start(ps, yaml, "tests/plugins/gated_pull.so");
}

void gated_running(struct plugin_sched *ps, char **dir)
{
	json_t *list;

	gated_start(ps, dir);
	CU_ASSERT_EQUAL(scheduler_trigger(ps->s, "gp"), SCHEDULER_TRIGGERED);
	list = status_once(ps, is_running_past_a_page);
	CU_ASSERT(is_running_past_a_page(list));
	json_decref(list);
}

void gate_open(const char *dir)
{
	char *path = testlib_write_file(dir, "gate", "");

	CU_ASSERT_PTR_NOT_NULL(path);
	free(path);
}
