/*
 * test_faults.c - the store and the allocator fail on the Nth call, for
 * every N (the SQLite and curl way): every failure is reported with a clear
 * error, nothing half-applied is stored, nothing leaks, and re-submitting
 * the failed batch ends in exactly the profiles of a run without faults.
 */
#include "doccheck.h"
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/intake.h"
#include "../../hub/profile.h"
#include "../../hub/unify.h"
#include "../../hub/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char config_yaml[] = "identity:\n  external:\n    crm_id: {limit: 1, priority: 1}\n";

/* Every scenario record, each file under its own source so message IDs
 * stay distinct: one stream with logins, logouts, merges and an erase. */
static char **load_stream(size_t *n)
{
	char *dir = testlib_shared_path("data/scenarios");
	char **lines = NULL;
	size_t cap = 0;
	struct dirent **names;
	int count;

	*n = 0;
	if (!dir)
		return NULL;
	count = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < count; i++) {
		size_t len = strlen(names[i]->d_name);
		char path[1024], *line = NULL, src[64];
		size_t lcap = 0;
		FILE *f;
		if (len > 6 && strcmp(names[i]->d_name + len - 6, ".jsonl") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			snprintf(src, sizeof(src), "\"source\": \"s%.2s\"", names[i]->d_name);
			f = fopen(path, "r");
			while (f && getline(&line, &lcap, f) > 0) {
				char *at = strstr(line, "\"source\": \"test\""), *copy;
				if (!at)
					continue;
				if (asprintf(&copy, "%.*s%s%s", (int)(at - line), line, src,
					     at + strlen("\"source\": \"test\"")) < 0)
					continue;
				if (*n == cap) {
					cap = cap ? 2 * cap : 64;
					lines = realloc(lines, cap * sizeof(*lines));
				}
				lines[(*n)++] = copy;
			}
			free(line);
			if (f)
				fclose(f);
		}
		free(names[i]);
	}
	free(names);
	free(dir);
	return lines;
}

/* A store on tmpfs when there is one: fsync is free there. */
static char *fast_tmpdir(void)
{
	char *path;
	if (access("/dev/shm", W_OK) == 0 && asprintf(&path, "/dev/shm/hubfault.XXXXXX") >= 0) {
		if (mkdtemp(path))
			return path;
		free(path);
	}
	return testlib_mkdtemp();
}

struct world {
	char *dir;
	struct hub_config *cfg;
	struct record_rules rules;
	struct store *writer; /* owned by the intake */
	struct intake *intake;
};

static int world_start(struct world *w)
{
	char err[512], *db;
	memset(w, 0, sizeof(*w));
	w->dir = fast_tmpdir();
	if (!w->dir || asprintf(&db, "%s/hub.db", w->dir) < 0)
		return -1;
	if (config_load_string("faults.yaml", config_yaml, &w->cfg, err, sizeof(err)) ||
	    store_sqlite_open(db, &w->writer, err, sizeof(err)) ||
	    intake_start(&w->intake, w->writer, w->cfg, err, sizeof(err))) {
		fprintf(stderr, "world: %s\n", err);
		free(db);
		return -1;
	}
	free(db);
	w->rules.external_ids = w->cfg->external_ids;
	w->rules.n_external_ids = w->cfg->n_external_ids;
	return 0;
}

static int collect_id(void *ctx, const struct store_profile *p)
{
	json_array_append_new(ctx, json_string(p->id));
	return 0;
}

static int cmp_json_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Stops the world; returns its live profiles as one canonical text with
 * the generated parts (profile IDs, merged_from) left out, or NULL. */
static char *world_stop_dump(struct world *w)
{
	char err[512], *db = NULL, **docs = NULL, *out = NULL;
	struct store *s = NULL;
	json_t *ids = json_array(), *v;
	size_t i, n = 0, len = 0;

	intake_stop(w->intake);
	if (asprintf(&db, "%s/hub.db", w->dir) < 0 || store_sqlite_open(db, &s, err, sizeof(err)) ||
	    s->ops->profile_iter_live(s, "", 0, collect_id, ids))
		goto out;
	docs = calloc(json_array_size(ids) + 1, sizeof(*docs));
	json_array_foreach(ids, i, v) {
		json_t *doc = NULL, *sorted;
		if (profile_doc_build(s, json_string_value(v), PROFILE_EVENTS_ALL, &doc) != 1)
			goto out;
		json_object_del(doc, "profile_id");
		json_object_del(doc, "merged_from");
		sorted = doccheck_sorted(doc);
		docs[n] = json_dumps(sorted, JSON_COMPACT | JSON_SORT_KEYS);
		len += strlen(docs[n]) + 1;
		n++;
		json_decref(sorted);
		json_decref(doc);
	}
	qsort(docs, n, sizeof(*docs), cmp_json_text);
	out = calloc(len + 1, 1);
	for (i = 0; i < n; i++) {
		strcat(out, docs[i]);
		strcat(out, "\n");
	}
out:
	for (i = 0; i < n; i++)
		free(docs[i]);
	free(docs);
	json_decref(ids);
	free(db);
	store_close(s);
	config_free(w->cfg);
	testlib_rmtree(w->dir);
	free(w->dir);
	return out;
}

/* Applies one line as one batch.  Returns the batch's rc. */
static hub_rc apply_line(struct world *w, const char *line, char *err, size_t err_size)
{
	struct record *r = NULL;
	struct intake_batch b = {0};
	hub_rc rc = record_from_json(line, strlen(line), "test", &w->rules, 1741000000000LL, &r,
				     NULL, err, err_size);
	if (rc != HUB_OK)
		return rc;
	b.records = &r;
	b.n_records = 1;
	rc = intake_submit(w->intake, &b);
	if (rc == HUB_OK)
		rc = intake_wait(w->intake, &b);
	snprintf(err, err_size, "%s", b.err);
	record_free(r);
	return rc;
}

static char *run_stream(char **lines, size_t n, long fault_a, long fault_b, long *n_statements,
			int *n_failures)
{
	struct world w;
	char err[512];

	if (world_start(&w))
		return NULL;
	w.writer->fault_at[0] = fault_a;
	w.writer->fault_at[1] = fault_b;
	for (size_t i = 0; i < n; i++) {
		hub_rc rc = apply_line(&w, lines[i], err, sizeof(err));
		/* an injected fault: a clear, retryable error; the batch is sent
		 * again (a fault in the failure path may cost one more try) */
		for (int tries = 0; rc != HUB_OK && tries < 3; tries++) {
			(*n_failures)++;
			CU_ASSERT_EQUAL(rc, HUB_RETRY);
			CU_ASSERT(strstr(err, "injected fault") || strstr(err, "transaction"));
			rc = apply_line(&w, lines[i], err, sizeof(err));
		}
		CU_ASSERT_EQUAL(rc, HUB_OK);
	}
	*n_statements = w.writer->fault_calls;
	return world_stop_dump(&w);
}

static void test_store_failure_at_every_statement_recovers_exactly(void)
{
	size_t n = 0;
	char **lines = load_stream(&n);
	long total = 0, calls = 0;
	int failures = 0;
	char *clean;

	CU_ASSERT_FATAL(n >= 30);
	/* a clean run: how many statements the stream takes, and the result */
	clean = run_stream(lines, n, 0, 0, &total, &failures);
	CU_ASSERT_PTR_NOT_NULL_FATAL(clean);
	CU_ASSERT_EQUAL(failures, 0);
	/* fault_calls only counts while armed: count with an unreachable N */
	free(run_stream(lines, n, 1L << 40, 0, &total, &failures));
	CU_ASSERT(total > 100);
	/* one fault at every statement; then a second one right behind it, so
	 * the failure path itself (ROLLBACK TO, RELEASE, ROLLBACK) fails too */
	for (long gap = 0; gap <= 2; gap++) {
		for (long at = 1; at <= total; at++) {
			int f = 0;
			char *got = run_stream(lines, n, at, gap ? at + gap : 0, &calls, &f);
			CU_ASSERT_PTR_NOT_NULL_FATAL(got);
			if (strcmp(got, clean) != 0) {
				fprintf(stderr, "\n  faults at statements %ld and %ld of %ld: profiles differ\n",
					at, gap ? at + gap : 0, total);
				CU_FAIL("profiles after a fault differ from a clean run");
				free(got);
				gap = 3;
				break;
			}
			free(got);
		}
	}
	free(clean);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* Applies one record directly (no intake thread), so allocation failures
 * hit this thread only.  Returns unify's result. */
static int apply_direct(struct unify *u, const char *line, const struct record_rules *rules)
{
	struct record *r = NULL;
	enum unify_outcome o;
	char err[256];
	int rc;

	if (record_from_json(line, strlen(line), "test", rules, 1741000000000LL, &r, NULL, err,
			     sizeof(err)) != HUB_OK)
		return -2;
	rc = unify_apply(u, r, &o);
	record_free(r);
	return rc;
}

static void test_allocation_failure_in_unify_leaves_no_trace(void)
{
	static const char *const setup[] = {
		"{\"type\":\"track\",\"message_id\":\"a1\",\"timestamp\":1000,"
		"\"identifiers\":{\"installation_id\":\"I1\",\"crm_id\":\"K\"},\"event\":{\"name\":\"x\"}}",
		"{\"type\":\"attributes\",\"message_id\":\"a2\",\"timestamp\":2000,"
		"\"identifiers\":{\"installation_id\":\"I1\"},\"attributes\":{\"plan\":\"a\",\"tags\":[\"x\"]},"
		"\"consent\":{\"email_marketing\":\"unsubscribed\"}}",
	};
	/* a login that merges, moves attributes and consent, writes the log */
	static const char login[] =
		"{\"type\":\"identify\",\"message_id\":\"a3\",\"timestamp\":3000,"
		"\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"},"
		"\"attributes\":{\"tags\":{\"$add\":[\"y\"]}},\"consent\":{\"sms_marketing\":\"subscribed\"}}";
	struct hub_config *cfg = NULL;
	struct record_rules rules = {0};
	char err[256], *dir = fast_tmpdir(), *db = NULL;
	int succeeded = 0;

	CU_ASSERT_FATAL(config_load_string("f.yaml", config_yaml, &cfg, err, sizeof(err)) == 0);
	rules.external_ids = cfg->external_ids;
	rules.n_external_ids = cfg->n_external_ids;
	CU_ASSERT_FATAL(asprintf(&db, "%s/hub.db", dir) > 0);
	for (long n = 1; !succeeded && n < 10000; n++) {
		struct store *s = NULL;
		struct unify u;
		int rc;
		unlink(db);
		CU_ASSERT_FATAL(store_sqlite_open(db, &s, err, sizeof(err)) == 0);
		unify_init(&u, s, cfg);
		CU_ASSERT_FATAL(s->ops->begin(s) == 0 && unify_group_begin(&u) == 0);
		for (size_t i = 0; i < ARRAY_SIZE(setup); i++)
			CU_ASSERT_FATAL(apply_direct(&u, setup[i], &rules) == 0);
		CU_ASSERT_FATAL(s->ops->savepoint(s) == 0);
		alloc_fail_after(n);
		rc = apply_direct(&u, login, &rules);
		alloc_fail_after(0);
		if (rc == 0) {
			succeeded = 1;
			CU_ASSERT(s->ops->savepoint_release(s) == 0);
		} else {
			char pid[PROFILE_ID_SIZE];
			/* failed: rolled back, the store is as before the login */
			CU_ASSERT(s->ops->savepoint_rollback(s) == 0);
			CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "C1", pid), 0);
		}
		CU_ASSERT(s->ops->commit(s) == 0);
		store_close(s);
	}
	CU_ASSERT(succeeded);
	config_free(cfg);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

TEST_SUITE(faults, NULL, NULL,
	   TEST(test_store_failure_at_every_statement_recovers_exactly),
	   TEST(test_allocation_failure_in_unify_leaves_no_trace))
