/*
 * test_cli.c - suite `cli`: subcommands of hub/cli_*.c run in process as
 * main.c runs them (a struct cli holding the loaded config), for what the
 * integration tests cannot reach: the allocator failing on the Nth call
 * (hub/alloc.h) under `profilehub import --format <plugin>`.
 */
#include "testhub.h"
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 when a live profile of `dump` has custom_id `id`. */
static int dump_has_custom_id(const json_t *dump, const char *id)
{
	size_t i;
	json_t *doc;

	json_array_foreach(dump, i, doc) {
		const char *cid = json_string_value(json_object_get(doc, "custom_id"));
		if (cid && strcmp(cid, id) == 0)
			return 1;
	}
	return 0;
}

/* cmd_import(argv) with the allocation number n alone failing; stdout (the
 * summary) goes nowhere, stderr into *said (malloc'd).  *n_allocs: the
 * allocations it attempted. */
static int import_failing_at(struct cli *cli, char **argv, long n, long *n_allocs, char **said)
{
	struct testlib_capture c;
	int null_fd = open("/dev/null", O_WRONLY), saved = dup(1), rc;

	CU_ASSERT_FATAL(null_fd >= 0 && saved >= 0);
	fflush(stdout);
	dup2(null_fd, 1);
	testlib_capture_begin(&c);
	alloc_fail_only(n);
	rc = cmd_import(cli, 6, argv);
	*n_allocs = alloc_count();
	alloc_fail_only(0);
	*said = testlib_capture_end(&c);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(null_fd);
	return rc;
}

/* A plugin's import_line that goes on past an emit() that could not take
 * its record (out of memory) and answers HUB_OK: the line is not counted
 * as imported without it.  With each allocation in turn failing, an import
 * that exits 0 stored every line's profile, and the runs whose failure met
 * emit() exit 1 naming the plugin.  Each run imports lines of its own
 * (custom_id cN-a, cN-b), so a run cannot pass on what an earlier stored. */
static void test_an_import_line_going_on_past_a_failed_emit_fails_the_line(void)
{
	static const char *const links[] = {"reject_lines.so", "tests/plugins/reject_lines.so",
					    NULL};
	char *plugins = testlib_plugin_dir(links), *yaml;
	struct testhub *th;
	int n_emit_failed = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(plugins);
	CU_ASSERT_FATAL(asprintf(&yaml, "plugin_dir: %s\nsources:\n  - name: rl\n"
					"    plugin: reject_lines\n", plugins) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (long n = 1; n < 100000; n++) {
		struct cli cli = {.config_path = "(test)", .cfg = th->cfg};
		char lines[96], name[32], a[32], b[32], *said, *file;
		char *argv[] = {"import", NULL, "--source", "rl", "--format", "reject_lines", NULL};
		long n_allocs;
		int rc;

		snprintf(a, sizeof(a), "c%ld-a", n);
		snprintf(b, sizeof(b), "c%ld-b", n);
		snprintf(lines, sizeof(lines), "deaf:%s\ndeaf:%s\n", a, b);
		snprintf(name, sizeof(name), "lines%ld.txt", n);
		file = testlib_write_file(th->dir, name, lines);
		CU_ASSERT_PTR_NOT_NULL_FATAL(file);
		argv[1] = file;
		rc = import_failing_at(&cli, argv, n, &n_allocs, &said);
		if (strstr(said,
			   "the reject_lines plugin went on after emit() failed (out of memory)")) {
			n_emit_failed++;
			CU_ASSERT_EQUAL(rc, CLI_FAIL);
			CU_ASSERT_PTR_NOT_NULL(strstr(said, "line 1: ") ? said
									: strstr(said, "line 2: "));
			CU_ASSERT_PTR_NOT_NULL(strstr(said, "are not stored"));
		}
		if (rc == CLI_OK) {
			json_t *dump = testhub_dump(th, 0);
			if (!dump_has_custom_id(dump, a) || !dump_has_custom_id(dump, b))
				fprintf(stderr,
					"\nallocation %ld failed, exit 0, a line missing: %s\n", n,
					said);
			CU_ASSERT(dump_has_custom_id(dump, a));
			CU_ASSERT(dump_has_custom_id(dump, b));
			json_decref(dump);
		}
		free(said);
		free(file);
		if (rc == CLI_OK && n_allocs < n)
			break; /* the nth allocation was never made: every one was tried */
	}
	CU_ASSERT(n_emit_failed >= 1);
	testhub_stop(th);
	testlib_rmtree(plugins);
	free(plugins);
}

TEST_SUITE(cli, NULL, NULL,
	   TEST(test_an_import_line_going_on_past_a_failed_emit_fails_the_line))
