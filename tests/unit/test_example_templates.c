/*
 * test_example_templates.c - the templates of `make plugin KIND=push` and
 * `KIND=export` (plugins/example_push, plugins/example_export) through the
 * real loader and host table (tests/unit/plugtest.h): the push route
 * authenticates with its token and turns one body into one record, refusing
 * bad bodies with a reason and memory running out with a 5xx; the export
 * appends one line per change and reports a change done only once it is
 * on disk.  tests/integration/new_plugin.sh scaffolds, builds and runs them.
 */
#include "plugtest.h"

#include "../../hub/alloc.h"

#include <dirent.h>
#include <signal.h>
#include <stddef.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define PUSH_YAML "sources:\n  - name: hook\n    plugin: example_push\n    token: t0k\n"

static void test_push_record_is_emitted_with_the_token(void)
{
	struct pt_fixture f;
	struct hub_response resp = {0};

	pt_open(&f, "example_push", PUSH_YAML);
	CU_ASSERT_EQUAL(
		pt_post(&f, "/v1/record", "Bearer t0k",
			"{\"user_id\": \"u1\", \"event\": \"signup\", \"message_id\": \"m1\","
			" \"timestamp_ms\": 0, \"properties\": {\"plan\": \"gold\"}}",
			&resp),
		HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_STRING_EQUAL(resp.body, "{\"success\":true}");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "u1");
	ASSERT_STR_OR_NULL(f.got.recs[0].message_id, "m1");
	ASSERT_STR_OR_NULL(f.got.recs[0].event_name, "signup");
	ASSERT_JSON(f.got.recs[0].properties_json, "{\"plan\": \"gold\"}");
	/* timestamp_ms 0 is given: the epoch, not the receive time */
	CU_ASSERT_EQUAL(f.got.recs[0].rec->timestamp_ms, 0);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/record", "Bearer t0k",
				"{\"user_id\": \"u2\", \"traits\": {\"plan\": \"free\"}}", &resp),
			HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	ASSERT_JSON(f.got.recs[0].attributes_json, "{\"plan\": \"free\"}");
	pt_close(&f);
}

static void test_push_without_the_token_is_refused(void)
{
	static const char *const auths[] = {NULL, "", "Bearer", "Bearer ", "Bearer t0",
					    "Bearer t0kk", "bearer t0k", "Basic t0k", "t0k",
					    "BearerXt0k"};
	struct pt_fixture f;
	struct hub_response resp;

	pt_open(&f, "example_push", PUSH_YAML);
	for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
		memset(&resp, 0, sizeof(resp));
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/record", auths[i], "{\"user_id\": \"u1\"}", &resp),
				HUB_ERR_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "\"unauthorized\""));
		CU_ASSERT_EQUAL(f.got.n_emits, 0);
	}
	pt_close(&f);
}

/* The token is checked from the headers too (admit(), ABI 1.11), so a
 * client without it is refused before the hub reads its body. */
static void test_push_admit_refuses_a_wrong_token_from_the_headers(void)
{
	struct pt_fixture f;
	struct hub_response resp;

	pt_open(&f, "example_push", PUSH_YAML);
	CU_ASSERT_EQUAL(pt_admit(&f, "/v1/record", "Authorization", "Bearer t0k", &resp), HUB_OK);
	CU_ASSERT_EQUAL(pt_admit(&f, "/v1/record", "Authorization", "Bearer t0kk", &resp),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(resp.status, 401);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "\"unauthorized\""));
	CU_ASSERT_EQUAL(pt_admit(&f, "/v1/record", "X-Other", "Bearer t0k", &resp), HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

static const char *no_header(const struct hub_request *req, const char *name)
{
	(void)req;
	(void)name;
	return NULL;
}

/* The answer is the body the route wrote, whatever the buffer held before
 * (the template wrote json_dumpb()'s text without its NUL: what followed
 * in the buffer was sent with it). */
static void test_push_refusal_is_a_whole_body(void)
{
	struct hub_request req = {.method = "POST", .path = "/v1/record", .body = "{}",
				  .body_len = 2, .header = no_header};
	struct pt_fixture f;
	struct hub_response resp;
	json_t *answer;

	pt_open(&f, "example_push", PUSH_YAML);
	memset(&resp, 'x', sizeof(resp));
	resp.body[sizeof(resp.body) - 1] = '\0'; /* as the hub does */
	CU_ASSERT_EQUAL(f.mod.desc->routes[0].handle(f.inst->state, &f.call, &req, &resp),
			HUB_ERR_AUTH);
	CU_ASSERT_EQUAL(resp.status, 401);
	answer = json_loads(resp.body, 0, NULL);
	pt_assert_error_object(json_object_get(answer, "error"), "unauthorized");
	json_decref(answer);
	pt_close(&f);
}

/* One row per body: refused with HUB_ERR_DATA, the code and the message. */
static void test_push_bad_bodies_are_refused_with_the_reason(void)
{
	static const struct {
		const char *body, *code, *message;
	} rows[] = {
		{"", "invalid_body", "the body is not a JSON object"},
		{"{\"user_id\": \"u1\"", "invalid_body", "the body is not a JSON object"},
		{"[{\"user_id\": \"u1\"}]", "invalid_body", "the body is not a JSON object"},
		{"{\"user_id\": \"u1\", \"user_id\": \"u2\"}", "invalid_body",
		 "the body is not a JSON object"},
		{"{}", "invalid_record", "\"user_id\" is needed"},
		{"{\"user_id\": 7}", "invalid_record", "\"user_id\" has the wrong type"},
		{"{\"user_id\": \"u1\", \"event\": \"e\", \"properties\": [1]}", "invalid_record",
		 "\"properties\" has the wrong type"},
		{"{\"user_id\": \"u1\", \"traits\": \"x\"}", "invalid_record",
		 "\"traits\" has the wrong type"},
		{"{\"user_id\": \"u1\", \"timestamp_ms\": \"now\"}", "invalid_record",
		 "\"timestamp_ms\" has the wrong type"},
		{"{\"user_id\": \"u1\", \"event\": \"\"}", "invalid_record", NULL}, /* the hub's */
	};
	struct pt_fixture f;
	struct hub_response resp;
	json_t *answer, *err;

	pt_open(&f, "example_push", PUSH_YAML);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&resp, 0, sizeof(resp));
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/record", "Bearer t0k", rows[i].body, &resp),
				HUB_ERR_DATA);
		CU_ASSERT_EQUAL(f.got.n_recs, 0);
		CU_ASSERT_EQUAL(resp.status, 400);
		answer = json_loads(resp.body, 0, NULL);
		err = json_object_get(answer, "error");
		pt_assert_error_object(err, rows[i].code);
		if (rows[i].message)
			ASSERT_STR_OR_NULL(json_string_value(json_object_get(err, "message")),
					   rows[i].message);
		if (!json_is_string(json_object_get(err, "code")) ||
		    strcmp(json_string_value(json_object_get(err, "code")), rows[i].code) != 0)
			fprintf(stderr, "\n  row %zu: %s\n", i, resp.body);
		json_decref(answer);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* Memory running out while the body is read or the record built is a 5xx
 * (the client sends again), never a 400 (it would drop the record). */
static void test_push_out_of_memory_is_no_bad_request(void)
{
	static const char body[] = "{\"user_id\": \"u1\", \"event\": \"signup\", \"message_id\": "
				   "\"m1\", \"properties\": {\"plan\": \"gold\", \"n\": [1, 2]}}";
	struct pt_fixture f;

	pt_open(&f, "example_push", PUSH_YAML);
	CU_ASSERT(pt_sweep_out_of_memory(&f, "/v1/record", "Bearer t0k", body, alloc_fail_after) >
		  5);
	CU_ASSERT(pt_sweep_out_of_memory(&f, "/v1/record", "Bearer t0k", body, alloc_fail_only) >
		  5);
	pt_close(&f);
}

/* The one route: POST /v1/record. */
static void test_push_route_is_post_v1_record(void)
{
	static const char *const paths[] = {"/v1/record"};
	struct pt_fixture f;

	pt_open(&f, "example_push", PUSH_YAML);
	pt_assert_routes(&f, "POST", paths, 1);
	pt_close(&f);
}

/* timestamp_ms is the record's time to the millisecond; null is absent,
 * for every member: an identify without a message_id, attributes or a
 * time of its own (the receive time). */
static void test_push_timestamp_ms_is_kept_and_null_members_are_absent(void)
{
	struct pt_fixture f;
	const struct pt_seen *s;

	pt_open(&f, "example_push", PUSH_YAML);
	s = pt_post_one(&f, "/v1/record", "Bearer t0k",
			"{\"user_id\": \"u1\", \"timestamp_ms\": 1767225600123}");
	CU_ASSERT_EQUAL(s->rec->timestamp_ms, 1767225600123LL);
	pt_reset(&f.got);
	s = pt_post_one(&f, "/v1/record", "Bearer t0k",
			"{\"user_id\": \"u1\", \"event\": null, \"message_id\": null, "
			"\"timestamp_ms\": null, \"traits\": null}");
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	CU_ASSERT_PTR_NULL(s->message_id);
	CU_ASSERT_PTR_NULL(s->attributes_json);
	CU_ASSERT_EQUAL(s->rec->timestamp_ms, PT_NOW_MS);
	pt_close(&f);
}

/* The hub out of memory for the record is a 503 "no_memory" (the client
 * sends it again); the hub busy is the hub's to answer: the route passes
 * its code on and answers nothing itself. */
static void test_push_emit_failures_are_no_success(void)
{
	static const char body[] = "{\"user_id\": \"u1\", \"message_id\": \"m1\"}";
	struct pt_fixture f;
	struct hub_response resp = {0};
	json_t *answer;

	pt_open(&f, "example_push", PUSH_YAML);
	f.got.refuse_message_id = "m1";
	f.got.refuse_rc = HUB_ERR_NOMEM;
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/record", "Bearer t0k", body, &resp), HUB_ERR_NOMEM);
	answer = pt_answer_json(&resp, 503);
	pt_assert_error_object(json_object_get(answer, "error"), "no_memory");
	json_decref(answer);

	memset(&resp, 0, sizeof(resp));
	f.got.refuse_rc = HUB_ERR_BUSY;
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/record", "Bearer t0k", body, &resp), HUB_ERR_BUSY);
	CU_ASSERT_EQUAL(resp.status, 0);
	CU_ASSERT_STRING_EQUAL(resp.body, "");
	CU_ASSERT_EQUAL(f.got.n_recs, 0);
	pt_close(&f);
}

/* A refusal whose JSON does not fit the answer is an empty body (the hub
 * writes its own), never a cut text or a write past the buffer. */
static void test_push_refusal_too_long_for_the_answer_is_empty(void)
{
	char why[256];
	struct pt_fixture f;
	struct hub_response resp;

	memset(why, '\x01', sizeof(why) - 1); /* 6 bytes each in JSON */
	why[sizeof(why) - 1] = '\0';
	pt_open(&f, "example_push", PUSH_YAML);
	f.got.refuse_message_id = "m1";
	f.got.refuse_why = why;
	memset(&resp, 'x', sizeof(resp));
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/record", "Bearer t0k",
				"{\"user_id\": \"u1\", \"message_id\": \"m1\"}", &resp),
			HUB_ERR_DATA);
	CU_ASSERT_EQUAL(resp.status, 400);
	CU_ASSERT_STRING_EQUAL(resp.body, "");
	pt_close(&f);
}

static const char *bearer_t0k(const struct hub_request *req, const char *name)
{
	(void)req;
	return strcmp(name, "Authorization") == 0 ? "Bearer t0k" : NULL;
}

static int always_ran_out(int clear)
{
	(void)clear;
	return 1;
}

/* A host older than ABI 1.8 has no alloc_failed(): the template does not
 * call what lies past its table (here a member that would say yes). */
static void test_push_older_host_is_not_asked_about_memory(void)
{
	static const char body[] = "{\"user_id\": \"u1\", \"traits\": {\"a\": 1}}";
	struct hub_request req = {.method = "POST", .path = "/v1/record", .body = body,
				  .body_len = sizeof(body) - 1, .header = bearer_t0k};
	struct hub_host old = *host_table();
	struct hub_response resp = {0};
	struct pt_fixture f;
	char err[256];
	void *state = NULL;

	old.size = (uint32_t)offsetof(struct hub_host, alloc_failed); /* 1.7's table */
	old.abi_minor = 7;
	old.alloc_failed = always_ran_out;
	pt_open(&f, "example_push", PUSH_YAML);
	CU_ASSERT_EQUAL_FATAL(f.mod.desc->create(&old, f.inst, &state, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.mod.desc->routes[0].handle(state, &f.call, &req, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	f.mod.desc->destroy(state);
	pt_close(&f);
}

/* The hub refuses an empty required string before create(): the template
 * needs no check of its own. */
static void test_push_empty_token_is_refused_by_the_hub(void)
{
	struct pt_fixture f;
	char err[256];

	CU_ASSERT_EQUAL(pt_try_open(&f, "example_push", err, sizeof(err),
				    "sources:\n  - name: hook\n    plugin: example_push\n"
				    "    token: \"\"\n"),
			-1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:4:12: sources[0].token: must not be empty");
	pt_close(&f);
}

static const char *const changes[] = {
	"{\"seq\":7,\"kind\":\"profile_updated\",\"profile_id\":\"p_1\"}",
	"{\"seq\":8,\"kind\":\"event\",\"profile_id\":\"p_1\",\"event\":{\"name\":\"a\\nb\"}}",
};

static void test_export_appends_one_line_per_change(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *got, err[256];
	size_t n_done;

	pt_open(&f, "example_export",
		"exports:\n  - name: sink\n    plugin: example_export\n    path: %s/out.jsonl\n",
		dir);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 2, 7, 8, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 2);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 1, 7, 7, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	got = pt_read_file(dir, "out.jsonl");
	CU_ASSERT_STRING_EQUAL(got,
			       "{\"seq\":7,\"kind\":\"profile_updated\",\"profile_id\":\"p_1\"}\n"
			       "{\"seq\":8,\"kind\":\"event\",\"profile_id\":\"p_1\","
			       "\"event\":{\"name\":\"a\\nb\"}}\n"
			       "{\"seq\":7,\"kind\":\"profile_updated\",\"profile_id\":\"p_1\"}\n");
	free(got);
	pt_close(&f);
	testlib_rmtree(dir);
	free(dir);
}

/* `path: ""` was taken, by check --connect and run alike, and then every
 * batch failed with ": No such file or directory", retried for ever.
 * Refused at create, naming the key. */
static void test_export_empty_path_is_a_config_error(void)
{
	struct pt_fixture f;
	char err[256] = "";

	CU_ASSERT_EQUAL(pt_try_open(&f, "example_export", err, sizeof(err), "%s",
				    "exports:\n  - name: sink\n    plugin: example_export\n"
				    "    path: \"\"\n"),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "path: must not be empty"));
	pt_close(&f);
}

/* A crash between a change and its '\n' left a torn last line: the batch
 * sent again began on its tail ({"seq":6,"ki{"seq":7,...}), its first
 * change in a line no one could read.  The torn line is cut at open. */
static void test_export_cuts_a_torn_last_line(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *got, err[256];
	size_t n_done;

	free(testlib_write_file(dir, "out.jsonl", "{\"seq\":5}\n{\"seq\":6,\"ki"));
	pt_open(&f, "example_export",
		"exports:\n  - name: sink\n    plugin: example_export\n    path: %s/out.jsonl\n",
		dir);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 1, 7, 7, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	got = pt_read_file(dir, "out.jsonl");
	CU_ASSERT_STRING_EQUAL(got,
			       "{\"seq\":5}\n"
			       "{\"seq\":7,\"kind\":\"profile_updated\",\"profile_id\":\"p_1\"}\n");
	free(got);
	pt_close(&f);
	testlib_rmtree(dir);
	free(dir);
}

#define EXPORT_YAML "exports:\n  - name: sink\n    plugin: example_export\n    path: %s/out.jsonl\n"

/* A file that is only a torn line is cut whole: the batch is its start. */
static void test_export_a_file_of_one_torn_line_is_cut_whole(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *got, err[256], expected[256];
	size_t n_done;

	free(testlib_write_file(dir, "out.jsonl", "{\"seq\":6,\"ki"));
	pt_open(&f, "example_export", EXPORT_YAML, dir);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 1, 7, 7, &n_done, err, sizeof(err)), HUB_OK);
	got = pt_read_file(dir, "out.jsonl");
	snprintf(expected, sizeof(expected), "%s\n", changes[0]);
	CU_ASSERT_STRING_EQUAL(got, expected);
	free(got);
	pt_close(&f);
	testlib_rmtree(dir);
	free(dir);
}

/* The changes are customer data: the file is made readable by its owner
 * only. */
static void test_export_file_is_made_owner_only(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *path, err[256];
	struct stat sb;
	size_t n_done;

	pt_open(&f, "example_export", EXPORT_YAML, dir);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 1, 7, 7, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_FATAL(asprintf(&path, "%s/out.jsonl", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
	free(path);
	pt_close(&f);
	testlib_rmtree(dir);
	free(dir);
}

/* The descriptors this process has open. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The file stays open between batches and is closed with the instance. */
static void test_export_destroy_closes_the_file(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), err[256];
	int before = open_fds();
	size_t n_done;

	pt_open(&f, "example_export", EXPORT_YAML, dir);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 1, 7, 7, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(open_fds(), before + 1);
	pt_close(&f);
	CU_ASSERT_EQUAL(open_fds(), before);
	testlib_rmtree(dir);
	free(dir);
}

/* A batch the file-size limit stops halfway (a first write cut short,
 * then EFBIG): the file is cut back to where the batch began, after a
 * torn line cut at open; the file is closed, and the batch sent again
 * once the limit is lifted is written whole, once. */
static void test_export_failed_batch_is_cut_back_and_sent_again(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *got, err[256], expected[512];
	struct rlimit saved, low;
	void (*saved_sig)(int);
	size_t n_done = 99;
	int before;
	hub_rc rc;

	free(testlib_write_file(dir, "out.jsonl", "{\"seq\":5}\n{\"seq\":6,\"ki"));
	pt_open(&f, "example_export", EXPORT_YAML, dir);
	before = open_fds();
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
	low = saved;
	low.rlim_cur = 40; /* the 10 bytes kept and 30 of the first change */
	saved_sig = signal(SIGXFSZ, SIG_IGN);
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &low), 0);
	rc = pt_export(&f, changes, 2, 7, 8, &n_done, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_sig);
	CU_ASSERT_EQUAL(rc, HUB_RETRY);
	CU_ASSERT_EQUAL(n_done, 0);
	snprintf(expected, sizeof(expected), "%s/out.jsonl: File too large", dir);
	CU_ASSERT_STRING_EQUAL(err, expected);
	CU_ASSERT_EQUAL(open_fds(), before);
	got = pt_read_file(dir, "out.jsonl");
	CU_ASSERT_STRING_EQUAL(got, "{\"seq\":5}\n");
	free(got);

	CU_ASSERT_EQUAL(pt_export(&f, changes, 2, 7, 8, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 2);
	got = pt_read_file(dir, "out.jsonl");
	snprintf(expected, sizeof(expected), "{\"seq\":5}\n%s\n%s\n", changes[0], changes[1]);
	CU_ASSERT_STRING_EQUAL(got, expected);
	free(got);
	pt_close(&f);
	testlib_rmtree(dir);
	free(dir);
}

/* A batch that does not reach the disk is none done, with the file named:
 * a write that fails (a full disk), a file that cannot be made.  The file
 * cut back to where the batch began, or that cut's failure said too
 * (/dev/full cannot be truncated: it was silent). */
static void test_export_failure_reports_none_done(void)
{
	static const struct {
		const char *path, *message;
	} rows[] = {
		{"/dev/full", "/dev/full: No space left on device; cannot cut the batch back out"
			      " of it: Invalid argument"},
		{"/nonexistent/dir/out.jsonl",
		 "/nonexistent/dir/out.jsonl: No such file or directory"},
	};
	struct pt_fixture f;
	char err[256];
	size_t n_done;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pt_open(&f, "example_export",
			"exports:\n  - name: sink\n    plugin: example_export\n    path: %s\n",
			rows[i].path);
		n_done = 99;
		CU_ASSERT_EQUAL(pt_export(&f, changes, 2, 7, 8, &n_done, err, sizeof(err)),
				HUB_RETRY);
		CU_ASSERT_EQUAL(n_done, 0);
		CU_ASSERT_STRING_EQUAL(err, rows[i].message);
		pt_close(&f);
	}
}

TEST_SUITE(example_templates, NULL, NULL,
	   TEST(test_push_record_is_emitted_with_the_token),
	   TEST(test_push_without_the_token_is_refused),
	   TEST(test_push_admit_refuses_a_wrong_token_from_the_headers),
	   TEST(test_push_refusal_is_a_whole_body),
	   TEST(test_push_bad_bodies_are_refused_with_the_reason),
	   TEST(test_push_out_of_memory_is_no_bad_request),
	   TEST(test_push_empty_token_is_refused_by_the_hub),
	   TEST(test_push_route_is_post_v1_record),
	   TEST(test_push_timestamp_ms_is_kept_and_null_members_are_absent),
	   TEST(test_push_emit_failures_are_no_success),
	   TEST(test_push_refusal_too_long_for_the_answer_is_empty),
	   TEST(test_push_older_host_is_not_asked_about_memory),
	   TEST(test_export_appends_one_line_per_change),
	   TEST(test_export_empty_path_is_a_config_error),
	   TEST(test_export_cuts_a_torn_last_line),
	   TEST(test_export_failure_reports_none_done),
	   TEST(test_export_a_file_of_one_torn_line_is_cut_whole),
	   TEST(test_export_file_is_made_owner_only),
	   TEST(test_export_destroy_closes_the_file),
	   TEST(test_export_failed_batch_is_cut_back_and_sent_again))
