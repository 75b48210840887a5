/*
 * test_faults.c - the store and the allocator fail on the Nth call, for
 * every N (the SQLite and curl way): every failure is reported with a clear
 * error, nothing half-applied is stored, nothing leaks, and re-submitting
 * the failed batch ends in exactly the profiles of a run without faults.
 *
 * Three suites: `faults` (SQLite: an injected I/O error; the allocator),
 * `store_gone` (PostgreSQL, run by the PostgreSQL pass of tests/run.sh; a
 * no-op on SQLite): at the Nth statement the server really terminates the
 * store's connection (STORE_FAULT_GONE, store.h), so what is tested is
 * store_pg.c's own handling of a lost server and its reconnection; and
 * `intake` (either store): the writer's group loop when a batch of a stream
 * fails alone and the group then conflicts with another writer.
 */
#include "doccheck.h"
#include "testlib.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/export.h"
#include "../../hub/intake.h"
#include "../../hub/metrics.h"
#include "../../hub/profile.h"
#include "../../hub/unify.h"
#include "../../hub/util.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	char *schema;         /* PostgreSQL: the world's own schema; NULL on SQLite */
	struct hub_config *cfg;
	struct record_rules rules;
	struct store *writer; /* owned by the intake */
	struct intake *intake;
};

/* The writer's cache of identifier owners in a world (SQLite): the stream
 * misses it at most 16 times, and at this size every world's hits and
 * misses are those of the default size (checked); the suite makes about
 * 1,200 worlds, and the default's 13 MB, allocated and freed by each, took
 * half of its time under AddressSanitizer. */
#define WORLD_IDENT_CACHE_KEYS 1024
#define GROUP_MAX_TRIES_SEEN 8 /* intake.c's GROUP_MAX_TRIES: conflicts enough for every attempt */

/* A store on SQLite (dir/hub.db), or on PostgreSQL in a fresh schema
 * (teststore.h) when is_pg. */
/* A world whose intake queues at most queue_max batches (0: the
 * configuration's default). */
static int world_start_queue(struct world *w, int is_pg, int queue_max)
{
	char err[512], *db = NULL, *yaml = NULL, *store_yaml = NULL;
	int rc = -1;

	memset(w, 0, sizeof(*w));
	w->dir = fast_tmpdir();
	if (!w->dir || asprintf(&db, "%s/hub.db", w->dir) < 0)
		return -1;
	if (is_pg && (!(store_yaml = teststore_yaml(w->dir, &w->schema)) ||
		      asprintf(&yaml, "%s%s", store_yaml, config_yaml) < 0)) {
		snprintf(err, sizeof(err), "no PostgreSQL world");
		goto out;
	}
	if (config_load_string("faults.yaml", is_pg ? yaml : config_yaml, &w->cfg, err,
			       sizeof(err)) ||
	    (is_pg ? store_open(w->cfg, &w->writer, err, sizeof(err))
		   : store_sqlite_open(db, &w->writer, err, sizeof(err))))
		goto out;
	w->writer->n_ident_cache_keys = WORLD_IDENT_CACHE_KEYS;
	if (queue_max)
		w->cfg->intake_queue_max = queue_max;
	if (intake_start(&w->intake, w->writer, w->cfg, err, sizeof(err)))
		goto out;
	w->rules.external_ids = w->cfg->external_ids;
	w->rules.n_external_ids = w->cfg->n_external_ids;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "world: %s\n", err);
	free(db);
	free(yaml);
	free(store_yaml);
	return rc;
}

static int world_start(struct world *w, int is_pg)
{
	return world_start_queue(w, is_pg, 0);
}

/* A second connection to the world's store (a reader). */
static struct store *world_connect(struct world *w)
{
	char err[512], *db = NULL;
	struct store *s = NULL;

	if (w->schema) {
		if (store_open(w->cfg, &s, err, sizeof(err)))
			s = NULL;
	} else if (asprintf(&db, "%s/hub.db", w->dir) < 0 ||
		   store_sqlite_open(db, &s, err, sizeof(err))) {
		s = NULL;
	}
	if (!s)
		fprintf(stderr, "world: %s\n", err);
	free(db);
	return s;
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
	char **docs = NULL, *out = NULL;
	struct store *s = NULL;
	json_t *ids = json_array(), *v;
	size_t i, n = 0, len = 0;

	intake_stop(w->intake);
	if (!(s = world_connect(w)) || s->ops->profile_iter_live(s, "", 0, collect_id, ids))
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
	store_close(s);
	config_free(w->cfg);
	teststore_drop(w->schema);
	free(w->schema);
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
	snprintf(err, err_size, "%.*s", (int)err_size - 1, b.err); /* cut to fit */
	record_free(r);
	return rc;
}

static char *run_stream(char **lines, size_t n, long fault_a, long fault_b, long *n_statements,
			int *n_failures)
{
	struct world w;
	char err[512];

	if (world_start(&w, 0))
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

	/* on SQLite whatever the pass (world_start's is_pg 0): the PostgreSQL
	 * pass would repeat it (store_gone is PostgreSQL's own) */
	if (teststore_is_pg())
		goto out;
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
				fprintf(stderr,
					"\n  faults at statements %ld and %ld of %ld: "
					"profiles differ\n",
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
out:
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
	rc = unify_apply(u, r, &o, NULL);
	record_free(r);
	return rc;
}

static void test_allocation_failure_in_unify_leaves_no_trace(void)
{
	static const char *const setup[] = {
		"{\"type\":\"track\",\"message_id\":\"a1\",\"timestamp\":1000,"
		"\"identifiers\":{\"installation_id\":\"I1\",\"crm_id\":\"K\"},"
		"\"event\":{\"name\":\"x\"}}",
		"{\"type\":\"attributes\",\"message_id\":\"a2\",\"timestamp\":2000,"
		"\"identifiers\":{\"installation_id\":\"I1\"},\"attributes\":{\"plan\":\"a\","
		"\"tags\":[\"x\"]},"
		"\"consent\":{\"email_marketing\":\"unsubscribed\"}}",
	};
	/* a login that merges, moves attributes and consent, writes the log */
	static const char login[] =
		"{\"type\":\"identify\",\"message_id\":\"a3\",\"timestamp\":3000,"
		"\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"},"
		"\"attributes\":{\"tags\":{\"$add\":[\"y\"]}},"
		"\"consent\":{\"sms_marketing\":\"subscribed\"}}";
	struct hub_config *cfg = NULL;
	struct record_rules rules = {0};
	char err[256], *dir, *db = NULL;
	int succeeded = 0;

	/* on SQLite whatever the pass: the PostgreSQL pass would repeat it */
	if (teststore_is_pg())
		return;
	dir = fast_tmpdir();
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

/* Each allocation of an SQLite store's open fails in turn: the open fails
 * naming it, or the store opened works; each failure leaves nothing behind
 * (the sanitizers' leak check).  The copy of the path its checkpointer
 * opens by was let fail silently: the store opened without one, its WAL
 * then growing unchecked. */
static void test_sqlite_open_out_of_memory_fails_the_open(void)
{
	char err[256], *dir, *db = NULL;
	struct store *s = NULL;
	long total;

	if (teststore_is_pg()) /* SQLite's open, whatever the pass */
		return;
	dir = fast_tmpdir();
	CU_ASSERT_FATAL(asprintf(&db, "%s/hub.db", dir) > 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &s, err, sizeof(err)) == 0);
	store_close(s);
	alloc_fail_after(0); /* counts from here */
	CU_ASSERT_FATAL(store_sqlite_open(db, &s, err, sizeof(err)) == 0);
	total = alloc_count();
	store_close(s);
	CU_ASSERT(total >= 2);
	for (long n = 1; n <= total; n++) {
		int rc;
		s = NULL;
		err[0] = '\0';
		alloc_fail_only(n);
		rc = store_sqlite_open(db, &s, err, sizeof(err));
		alloc_fail_only(0);
		if (rc != -1)
			fprintf(stderr, "\n  allocation %ld of %ld failing: the open went on", n,
				total);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_PTR_NULL(s);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of memory"));
		if (rc == 0)
			store_close(s);
	}
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

/* ---- bulk groups (intake_set_bulk) ------------------------------------- */

/* Holds the store's write lock from a connection of its own. */
static sqlite3 *lock_store(const char *dir)
{
	char path[1024];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/hub.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/*
 * Every line its own batch, in one bulk group: the writer takes the first
 * batch and waits in its BEGIN on a lock the test holds; the rest queue
 * behind it; once the lock goes, bulk mode folds them into the first's
 * group, up to group_max records.  fault_at arms an injected failure.
 * Failed batches are sent again
 * afterwards, in their order; *order gets the line order that was applied
 * (the first pass's successes, then the resent ones).  Returns the dump;
 * *n_statements counts statements while a fault is armed.
 */
static char *run_bulk(char **lines, size_t n, size_t group_max, long fault_at, size_t *order,
		      int64_t *n_commits, size_t *n_failed, long *n_statements)
{
	struct intake_batch *batches = calloc(n, sizeof(*batches));
	struct record **recs = calloc(n, sizeof(*recs));
	struct intake_stats st;
	struct world w;
	sqlite3 *lock;
	char err[512];
	size_t k = 0;

	*n_failed = 0;
	if (!batches || !recs || world_start(&w, 0))
		return NULL;
	intake_set_bulk(w.intake, group_max);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(record_from_json(lines[i], strlen(lines[i]), "test", &w.rules,
						       1741000000000LL, &recs[i], NULL, err,
						       sizeof(err)), HUB_OK);
		batches[i].records = &recs[i];
		batches[i].n_records = 1;
	}
	w.writer->fault_at[0] = fault_at;
	lock = lock_store(w.dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lock);
	CU_ASSERT_EQUAL_FATAL(intake_submit(w.intake, &batches[0]), HUB_OK);
	do { /* until the writer took it: it then waits for the lock */
		sched_yield();
		intake_get_stats(w.intake, &st);
	} while (st.queue_depth > 0);
	for (size_t i = 1; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(intake_submit(w.intake, &batches[i]), HUB_OK);
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	for (size_t i = 0; i < n; i++) {
		if (intake_wait(w.intake, &batches[i]) == HUB_OK) {
			order[k++] = i;
			continue;
		}
		CU_ASSERT_EQUAL(batches[i].rc, HUB_RETRY);
		CU_ASSERT(strstr(batches[i].err, "injected fault") != NULL);
	}
	*n_failed = n - k;
	for (size_t i = 0; i < n; i++) {
		hub_rc rc = batches[i].rc;
		for (int tries = 0; rc != HUB_OK && tries < 3; tries++) {
			rc = intake_submit(w.intake, &batches[i]);
			if (rc == HUB_OK)
				rc = intake_wait(w.intake, &batches[i]);
			if (rc == HUB_OK)
				order[k++] = i;
		}
	}
	CU_ASSERT_EQUAL(k, n);
	intake_get_stats(w.intake, &st);
	*n_commits = st.commits;
	*n_statements = w.writer->fault_calls;
	for (size_t i = 0; i < n; i++)
		record_free(recs[i]);
	free(recs);
	free(batches);
	return world_stop_dump(&w);
}

/* A bulk group of many batches: one commit, and the profiles of the same
 * lines applied one batch at a time.  A failure inside it takes out its
 * batch alone; the rest of the group, batches that joined it while it ran
 * included, is applied exactly once. */
static void test_bulk_group_takes_queued_batches_and_fails_one_alone(void)
{
	size_t n = 0, n_failed = 0, *order;
	char **lines = load_stream(&n), **reordered, *clean, *got;
	long total = 0, calls = 0;
	int64_t commits = 0;
	int failures = 0, saw_fail = 0;

	CU_ASSERT_FATAL(n >= 30);
	order = calloc(n, sizeof(*order));
	reordered = calloc(n, sizeof(*reordered));
	free(run_bulk(lines, n, 100000, 1L << 40, order, &commits, &n_failed, &total));
	CU_ASSERT(total > 100);
	got = run_bulk(lines, n, 100000, 0, order, &commits, &n_failed, &calls);
	clean = run_stream(lines, n, 0, 0, &calls, &failures);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_PTR_NOT_NULL_FATAL(clean);
	CU_ASSERT_EQUAL(n_failed, 0);
	CU_ASSERT_EQUAL(commits, 1); /* every batch joined the first one's group */
	CU_ASSERT_STRING_EQUAL(got, clean);
	free(got);
	free(clean);
	/* a fault at statements spread over the whole group, and at its
	 * COMMIT (the last statement), which fails every batch of it */
	for (long f = 0, step = (total - 2) / 12; f <= 12; f++) {
		long at = f < 12 ? 2 + f * step : total;
		got = run_bulk(lines, n, 100000, at, order, &commits, &n_failed, &calls);
		CU_ASSERT_PTR_NOT_NULL_FATAL(got);
		for (size_t i = 0; i < n; i++)
			reordered[i] = lines[order[i]];
		clean = run_stream(reordered, n, 0, 0, &calls, &failures);
		if (at < total) {
			CU_ASSERT_EQUAL(n_failed, 1);  /* the batch of the fault alone */
			CU_ASSERT_EQUAL(commits, 2); /* the group without it, then it */
			saw_fail |= n_failed == 1;
		} else {
			CU_ASSERT_EQUAL(n_failed, n); /* nothing of the group stored */
			CU_ASSERT_EQUAL(commits, (int64_t)n);
		}
		if (strcmp(got, clean) != 0) {
			fprintf(stderr, "\n  bulk fault at statement %ld: profiles differ\n", at);
			CU_FAIL("profiles after a fault in a bulk group differ from a clean run");
		}
		free(got);
		free(clean);
	}
	CU_ASSERT(saw_fail); /* some fault took out batches, not the group */
	free(order);
	free(reordered);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* A bulk group takes queued batches up to group_max records, that many
 * included: the n one-record batches of the stream make one group (one
 * commit) with group_max n, and two with n - 1. */
static void test_bulk_group_fills_up_to_its_max_exactly(void)
{
	size_t n = 0, n_failed = 0, *order;
	char **lines = load_stream(&n);
	long calls = 0;
	int64_t commits = 0;

	CU_ASSERT_FATAL(n >= 30);
	order = calloc(n, sizeof(*order));
	CU_ASSERT_PTR_NOT_NULL_FATAL(order);
	free(run_bulk(lines, n, n, 0, order, &commits, &n_failed, &calls));
	CU_ASSERT_EQUAL(n_failed, 0);
	CU_ASSERT_EQUAL(commits, 1);
	free(run_bulk(lines, n, n - 1, 0, order, &commits, &n_failed, &calls));
	CU_ASSERT_EQUAL(n_failed, 0);
	CU_ASSERT_EQUAL(commits, 2);
	free(order);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

TEST_SUITE(faults, NULL, NULL,
	   TEST(test_store_failure_at_every_statement_recovers_exactly),
	   TEST(test_allocation_failure_in_unify_leaves_no_trace),
	   TEST(test_sqlite_open_out_of_memory_fails_the_open),
	   TEST(test_bulk_group_takes_queued_batches_and_fails_one_alone),
	   TEST(test_bulk_group_fills_up_to_its_max_exactly))

/* ---- PostgreSQL gone (suite store_gone) -------------------------------- */

/* What a lost PostgreSQL connection says, as store_pg.c words it: the
 * connection named lost, also when the client has not noticed yet and the
 * server's answer says so (SQLSTATE 57P01, "terminating connection due to
 * administrator command"). */
static int is_gone_error(const char *err)
{
	return strstr(err, "postgres: connection to ") && strstr(err, " lost (");
}

/*
 * One attempt at a line with the writer's connection taken away at its
 * statements a and b (1-based; 0: none).  1 when the line was applied (the
 * faults were survived by reconnecting), 0 when it failed as it should:
 * HUB_RETRY, an error that says the connection was lost, and not a row of
 * the schema changed (its digest still `before`).
 */
static int gone_attempt(struct world *w, const char *line, size_t no, long a, long b,
			const char *before)
{
	long gone = w->writer->fault_disconnects;
	char err[512], *after;
	hub_rc rc;

	/* the writer is idle between batches: armed from here */
	w->writer->fault_calls = 0;
	w->writer->fault_at[0] = a;
	w->writer->fault_at[1] = b;
	rc = apply_line(w, line, err, sizeof(err));
	w->writer->fault_at[0] = w->writer->fault_at[1] = 0;
	/* the server really dropped the connection, at each */
	CU_ASSERT_EQUAL(w->writer->fault_disconnects, gone + (a > 0) + (b > 0));
	if (rc == HUB_OK)
		return 1;
	CU_ASSERT_EQUAL(rc, HUB_RETRY);
	if (!is_gone_error(err))
		fprintf(stderr, "\n  not a lost connection: %s\n", err);
	CU_ASSERT(is_gone_error(err));
	after = teststore_digest(w->schema);
	CU_ASSERT_PTR_NOT_NULL_FATAL(after);
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "\n  line %zu, connection gone at its statements %ld and %ld:"
			" rows changed\n", no, a, b);
		CU_FAIL("a batch that failed on a lost connection left rows behind");
	}
	free(after);
	return 0;
}

/* Applied first in both worlds; applied again, a duplicate that changes
 * nothing, it makes the writer reconnect (see below). */
static const char heal_line[] =
	"{\"type\":\"track\",\"message_id\":\"heal\",\"timestamp\":1000,"
	"\"identifiers\":{\"custom_id\":\"HEAL\"},\"event\":{\"name\":\"heal\"}}";

/*
 * The writer: at every statement of the stream, the server terminates the
 * writer's connection.  One world takes every fault: line by line, for
 * each statement k the line takes (counted in a clean run; from the last
 * to the first), an attempt with the connection gone at k, and for a third
 * of the k (the first and last of the line, and every third, a different
 * third on each line, so that every kind of statement is met so too) one
 * with it gone at the BEGIN too (the client learns it there, reconnects
 * inside begin, and loses the new connection at k: the same statement code
 * after a reconnect; every k so took half of the test's time, each fault
 * costing a new PostgreSQL connection).  A batch that fails leaves no
 * row behind (gone_attempt) and the next attempt reconnects.  A fault at
 * the BEGIN alone is survived by reconnecting: the line is then applied.
 * Every fault takes a live connection (counted): before each attempt a
 * duplicate record (heal_line) makes the writer reconnect if the attempt
 * before left its connection broken.  At the end the profiles are exactly
 * those of a clean run.
 */
static void test_pg_gone_at_every_writer_statement_leaves_nothing(void)
{
	size_t n = 0;
	char **lines, err[512];
	struct world w;
	long *takes, total = 0, attempts = 0, failed = 0, failed_alone = 0, moved = 0;
	char *clean, *got, *prev = NULL;

	if (!teststore_is_pg())
		return;
	lines = load_stream(&n);
	CU_ASSERT_FATAL(n >= 30);
	takes = calloc(n, sizeof(*takes));
	CU_ASSERT_FATAL(takes != NULL);

	/* a clean run: the statements of each line, and the profiles */
	CU_ASSERT_FATAL(world_start(&w, 1) == 0);
	CU_ASSERT_EQUAL(apply_line(&w, heal_line, err, sizeof(err)), HUB_OK);
	w.writer->fault_kind = STORE_FAULT_GONE;
	w.writer->fault_at[1] = 1L << 40; /* counts */
	for (size_t i = 0; i < n; i++) {
		long before = w.writer->fault_calls;
		CU_ASSERT_EQUAL(apply_line(&w, lines[i], err, sizeof(err)), HUB_OK);
		takes[i] = w.writer->fault_calls - before;
		total += takes[i];
	}
	clean = world_stop_dump(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(clean);
	CU_ASSERT(total > 100);

	CU_ASSERT_FATAL(world_start(&w, 1) == 0);
	CU_ASSERT_EQUAL(apply_line(&w, heal_line, err, sizeof(err)), HUB_OK);
	w.writer->fault_kind = STORE_FAULT_GONE;
	for (size_t i = 0; i < n; i++) {
		char *before = teststore_digest(w.schema);
		int is_applied = 0;
		CU_ASSERT_PTR_NOT_NULL_FATAL(before);
		/* the digest sees what a line applied */
		if (prev && strcmp(prev, before) != 0)
			moved++;
		free(prev);
		prev = before;
		/* first with the BEGIN (statement 1) gone too, then alone */
		for (int pass = 0; pass < 2; pass++) {
			for (long k = takes[i]; k > 1 - pass && !is_applied; k--) {
				long a = pass == 0 ? 1 : k, b = pass == 0 ? k : 0;
				if (pass == 0 && k != takes[i] && k != 2 && (k + (long)i) % 3 != 0)
					continue;
				if (attempts++ > 0)
					CU_ASSERT_EQUAL(apply_line(&w, heal_line, err, sizeof(err)),
							HUB_OK);
				is_applied = gone_attempt(&w, lines[i], i + 1, a, b, before);
				failed += !is_applied;
				failed_alone += pass == 1 && !is_applied;
			}
		}
		if (!is_applied)
			CU_ASSERT_EQUAL(apply_line(&w, lines[i], err, sizeof(err)), HUB_OK);
	}
	free(prev);
	teststore_digest(NULL);
	CU_ASSERT(moved > (long)n / 2);
	got = world_stop_dump(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	if (strcmp(got, clean) != 0)
		CU_FAIL("profiles after the lost connections differ from a clean run");
	/* most statements are writes inside a transaction: their batch fails */
	CU_ASSERT(failed_alone > total / 2);
	fprintf(stderr, "\n  %ld statements; %ld attempts with the connection gone: %ld failed"
		" cleanly, %ld survived by reconnecting\n",
		total, attempts, failed, attempts - failed);
	free(got);
	free(clean);
	free(takes);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* ---- the readers ---- */

static int text_change(void *ctx, const struct store_change *c)
{
	strbuf_printf(ctx, "%lld %s %s %lld %s\n", (long long)c->seq, c->kind, c->profile_id,
		      (long long)c->at_ms, c->payload_json);
	return 0;
}

static int text_id(void *ctx, const struct store_profile *p)
{
	strbuf_printf(ctx, "%s\n", p->id);
	return 0;
}

/* One read request as the API makes it: one snapshot, the profile found by
 * its ID, its document and its privacy access document. */
static int read_request(struct store *s, const char *pid, struct strbuf *out)
{
	char ids[2][PROFILE_ID_SIZE];
	json_t *doc = NULL, *access = NULL;
	char *text;
	int rc = -1;

	if (s->ops->read_begin(s))
		return -1;
	if (profile_find(s, "profile_id", pid, ids, 2) != 1 ||
	    profile_doc_build(s, pid, PROFILE_EVENTS_ALL, &doc) != 1 ||
	    profile_access_build(s, pid, &access) != 1)
		goto out;
	json_object_set_new(access, "document", doc);
	doc = NULL;
	text = json_dumps(access, JSON_COMPACT | JSON_SORT_KEYS);
	strbuf_printf(out, "%s\n", text);
	free(text);
	rc = 0;
out:
	json_decref(doc);
	json_decref(access);
	if (s->ops->read_end(s))
		rc = -1;
	return rc;
}

/*
 * Every read entry point, in order, each step retried when it fails (at
 * most twice): the failure must say the connection was lost, and the step
 * done again must succeed (the store reconnected).  Returns what was read
 * as text (the caller frees it), steps done again in *retried.
 */
static char *read_everything(struct store *s, int *retried)
{
	struct strbuf out, ids;
	char *list;
	int64_t last = 0, epoch = 0;

	strbuf_init(&out);
	strbuf_init(&ids);
	for (int step = 0; step < 5; step++) {
		int tries = 0, rc;
again:
		rc = 0;
		switch (step) {
		case 0: /* the live profiles (dump, the Profiles View's list) */
			strbuf_free(&ids);
			rc = s->ops->profile_iter_live(s, "", 0, text_id, &ids);
			break;
		case 1: /* each one as the API serves it (retried one by one) */
			list = strbuf_take(&ids);
			for (char *pid = list, *nl; pid && *pid && rc == 0; pid = nl + 1) {
				struct strbuf one;
				nl = strchr(pid, '\n');
				*nl = '\0';
				strbuf_init(&one);
				rc = read_request(s, pid, &one);
				/* a request that failed is made again */
				for (int k = 0; rc && k < 2; k++) {
					CU_ASSERT(is_gone_error(store_error(s)));
					(*retried)++;
					strbuf_free(&one);
					rc = read_request(s, pid, &one);
				}
				if (rc == 0 && one.data)
					strbuf_puts(&out, one.data);
				strbuf_free(&one);
				*nl = '\n';
			}
			hub_free(list);
			break;
		case 2: { /* the change feed, as an exporter reads it */
			struct strbuf feed;
			strbuf_init(&feed);
			rc = s->ops->outbox_read(s, 0, 0, text_change, &feed);
			if (rc == 0 && feed.data)
				strbuf_puts(&out, feed.data);
			strbuf_free(&feed);
			break;
		}
		case 3: /* export status: the end of the outbox */
			rc = export_outbox_last_seq(s, 0, &last);
			if (rc == 0)
				strbuf_printf(&out, "last seq %lld\n", (long long)last);
			break;
		case 4: /* a lease taken and given back */
			rc = s->ops->lease_try(s, "export:gone", &epoch) == 1 ? 0 : -1;
			if (rc == 0)
				rc = s->ops->lease_release(s, "export:gone");
			break;
		}
		if (rc && step != 1 && tries < 2) {
			CU_ASSERT(is_gone_error(store_error(s)) || strstr(store_error(s), "lease"));
			(*retried)++;
			tries++;
			goto again;
		}
		CU_ASSERT_EQUAL(rc, 0);
	}
	strbuf_free(&ids);
	return strbuf_take(&out);
}

static const char *const more_people[] = {
	"{\"type\":\"identify\",\"message_id\":\"r1\",\"timestamp\":5000,"
	"\"identifiers\":{\"custom_id\":\"R1\",\"installation_id\":\"RI1\"},"
	"\"attributes\":{\"plan\":\"gold\"},\"consent\":{\"email_marketing\":\"subscribed\"}}",
	"{\"type\":\"track\",\"message_id\":\"r2\",\"timestamp\":6000,"
	"\"identifiers\":{\"custom_id\":\"R2\"},\"event\":{\"name\":\"bought\"}}",
	"{\"type\":\"track\",\"message_id\":\"r3\",\"timestamp\":7000,"
	"\"identifiers\":{\"installation_id\":\"RI3\"},\"event\":{\"name\":\"viewed\"}}",
};

/* The readers: every read entry point (profile list, API read requests,
 * change feed, export status, leases) with its connection terminated at
 * every statement in turn: each reports the loss clearly or, where a read
 * is safe to repeat, reconnects and reads again at once; done again, it
 * reads exactly what it reads without a fault, and works afterwards. */
static void test_pg_gone_at_every_reader_statement_is_reported_and_recovered(void)
{
	size_t n = 0;
	char **lines;
	struct world w;
	struct store *s;
	char *clean, err[512];
	int retried = 0, total_retried = 0;
	long total, gone = 0;
	int64_t epoch = 0;

	if (!teststore_is_pg())
		return;
	lines = load_stream(&n);
	CU_ASSERT_FATAL(n >= 30);
	CU_ASSERT_FATAL(world_start(&w, 1) == 0);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(apply_line(&w, lines[i], err, sizeof(err)), HUB_OK);
	/* and a few more people, so there are several profiles to read */
	for (size_t i = 0; i < ARRAY_SIZE(more_people); i++)
		CU_ASSERT_EQUAL(apply_line(&w, more_people[i], err, sizeof(err)), HUB_OK);
	s = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	/* the lease's name is given its id at its first take, two statements
	 * that later takes do not run: given before the count */
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "export:gone", &epoch), 1);
	CU_ASSERT_EQUAL(s->ops->lease_release(s, "export:gone"), 0);
	s->fault_kind = STORE_FAULT_GONE;
	s->fault_at[0] = 1L << 40; /* counts */
	clean = read_everything(s, &retried);
	total = s->fault_calls;
	CU_ASSERT_EQUAL(retried, 0);
	CU_ASSERT(total > 60);
	CU_ASSERT(strstr(clean, "last seq ") != NULL);
	for (long at = 1; at <= total; at++) {
		char *got;
		s->fault_calls = 0;
		s->fault_disconnects = 0;
		s->fault_at[0] = at;
		s->fault_at[1] = 1L << 40;
		retried = 0;
		got = read_everything(s, &retried);
		CU_ASSERT_EQUAL(s->fault_disconnects, 1);
		gone += s->fault_disconnects;
		total_retried += retried;
		if (strcmp(got, clean) != 0) {
			fprintf(stderr, "\n  connection gone at read statement %ld of %ld:"
				" reads differ\n", at, total);
			CU_FAIL("reads after a lost connection differ from reads without");
			hub_free(got);
			break;
		}
		hub_free(got);
	}
	CU_ASSERT(total_retried > 0);
	fprintf(stderr, "\n  %ld read statements, %ld connections terminated,"
		" %d steps done again\n", total, gone, total_retried);
	hub_free(clean);
	store_close(s);
	free(world_stop_dump(&w));
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/*
 * What attr_get and consent_get return borrows the store's result until
 * the next call of the same operation (store.h).  A reconnect in between,
 * after the server dropped the connection, must not free it: under ASan a
 * read of the borrowed strings was a use after free.
 */
static void test_pg_gone_keeps_borrowed_results(void)
{
	struct store_attr a;
	struct store_consent c;
	struct world w;
	struct store *s;
	char err[512], pid[PROFILE_ID_SIZE];

	if (!teststore_is_pg())
		return;
	CU_ASSERT_FATAL(world_start(&w, 1) == 0);
	CU_ASSERT_EQUAL(apply_line(&w, more_people[0], err, sizeof(err)), HUB_OK);
	s = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(s->ops->ident_get(s, "custom_id", "R1", pid), 1);
	CU_ASSERT_EQUAL_FATAL(s->ops->attr_get(s, pid, "plan", &a), 1);
	CU_ASSERT_EQUAL_FATAL(s->ops->consent_get(s, pid, "email_marketing", &c), 1);
	/* the server drops the connection at the next statement, which
	 * reconnects (outside a transaction, a read is tried again) */
	s->fault_kind = STORE_FAULT_GONE;
	s->fault_calls = 0;
	s->fault_disconnects = 0;
	s->fault_at[0] = 1;
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "R1", pid), 1);
	CU_ASSERT_EQUAL(s->fault_disconnects, 1);
	s->fault_at[0] = 0;
	CU_ASSERT_STRING_EQUAL(a.key, "plan");
	CU_ASSERT_STRING_EQUAL(a.value_json, "\"gold\"");
	CU_ASSERT_STRING_EQUAL(c.state, "subscribed");
	store_close(s);
	free(world_stop_dump(&w));
}

/*
 * The connection breaks after COMMIT is sent (fault_commit_cut): the writer
 * asks the server over a new connection what became of the transaction
 * (txid_status).  Cut once the server committed, its answer unread, the
 * batch is reported stored, as it is: it was reported HUB_RETRY, "not
 * stored" (an HTTP client was told 503 of a stored request, an import that
 * the lines from there on were not stored).  Cut before the server had it,
 * it is reported not stored, as it is not.
 */
static void test_pg_a_commit_whose_answer_is_lost_is_asked_about(void)
{
	static const char line[] =
		"{\"type\":\"track\",\"message_id\":\"lost-answer\",\"timestamp\":1000,"
		"\"identifiers\":{\"custom_id\":\"LOST_ANSWER\"},\"event\":{\"name\":\"e\"}}";
	static const char after[] =
		"{\"type\":\"track\",\"message_id\":\"after\",\"timestamp\":1000,"
		"\"identifiers\":{\"custom_id\":\"AFTER\"},\"event\":{\"name\":\"e\"}}";
	struct world w;
	char err[512], *dump;

	if (!teststore_is_pg())
		return;
	CU_ASSERT_FATAL(world_start(&w, 1) == 0);
	CU_ASSERT_EQUAL(apply_line(&w, heal_line, err, sizeof(err)), HUB_OK);
	/* cut before COMMIT is sent: the server aborted, the batch is not stored */
	w.writer->fault_commit_cut = STORE_CUT_BEFORE_COMMIT;
	CU_ASSERT_EQUAL(apply_line(&w, line, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "the transaction did not commit"));
	CU_ASSERT_EQUAL(w.writer->fault_disconnects, 1); /* for real */
	/* cut once the server committed, its answer unread: stored, and said so */
	w.writer->fault_commit_cut = STORE_CUT_AFTER_COMMIT;
	CU_ASSERT_EQUAL(apply_line(&w, line, err, sizeof(err)), HUB_OK);
	if (err[0])
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_EQUAL(w.writer->fault_commit_cut, STORE_CUT_NONE); /* it happened */
	CU_ASSERT_EQUAL(w.writer->fault_disconnects, 2);
	/* the new connection goes on */
	CU_ASSERT_EQUAL(apply_line(&w, after, err, sizeof(err)), HUB_OK);
	dump = world_stop_dump(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dump);
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "LOST_ANSWER"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "AFTER"));
	free(dump);
}

TEST_SUITE(store_gone, NULL, NULL,
	   TEST(test_pg_gone_keeps_borrowed_results),
	   TEST(test_pg_a_commit_whose_answer_is_lost_is_asked_about),
	   TEST(test_pg_gone_at_every_writer_statement_leaves_nothing),
	   TEST(test_pg_gone_at_every_reader_statement_is_reported_and_recovered))

/* ---- a stream's failure and a conflict in one group (suite intake) ----- */

/*
 * SQLite's allocator, wrapped before SQLite starts (a constructor), so that
 * a test can make every SQLite allocation of one thread fail for a while:
 * a statement then fails with SQLITE_NOMEM, and SQLite rolls the whole
 * transaction back by itself, as under a memory limit (ulimit -v).
 */
static sqlite3_mem_methods sqlite_mem;    /* SQLite's own */
static _Thread_local int is_sqlite_nomem; /* this thread's allocations fail */

static void *nomem_malloc(int n)
{
	return is_sqlite_nomem ? NULL : sqlite_mem.xMalloc(n);
}

static void *nomem_realloc(void *p, int n)
{
	return is_sqlite_nomem ? NULL : sqlite_mem.xRealloc(p, n);
}

__attribute__((constructor)) static void nomem_install(void)
{
	sqlite3_mem_methods m;

	if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_mem) != SQLITE_OK)
		return;
	m = sqlite_mem;
	m.xMalloc = nomem_malloc;
	m.xRealloc = nomem_realloc;
	sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
}

/*
 * The intake's store, wrapped: a batch whose cursor key is "t:fail" fails
 * alone (a store refusal), one whose key is "t:conflict" meets a conflict
 * with another writer (is_retryable), one whose key is "t:nomem" runs out
 * of memory inside SQLite (writing a value large enough to need an
 * allocation), each while its count lasts; begin waits while the gate is
 * shut, so batches queued meanwhile make one group.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int is_shut;             /* under lock */
	int is_waiting;          /* under lock: the writer waits at the gate */
	int n_fail, n_conflict;  /* the writer's while batches run */
	int n_nomem;             /* likewise */
	int n_commit_fail;       /* commits that fail (a full disk) */
	long commit_pause_us;    /* each commit takes at least this long */
	int is_lock_timeout;     /* each conflict is a lock_timeout's (55P03) */
	const struct store_ops *real;
	struct store_ops ops;
} wrap = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int wrap_begin(struct store *s)
{
	pthread_mutex_lock(&wrap.lock);
	wrap.is_waiting = wrap.is_shut;
	pthread_cond_broadcast(&wrap.cond);
	while (wrap.is_shut)
		pthread_cond_wait(&wrap.cond, &wrap.lock);
	wrap.is_waiting = 0;
	pthread_mutex_unlock(&wrap.lock);
	s->is_retryable = 0; /* store.h: begin clears it (SQLite never sets it) */
	return wrap.real->begin(s);
}

static int wrap_meta_put(struct store *s, const char *key, const char *value)
{
	if (strcmp(key, "t:fail") == 0 && wrap.n_fail > 0) {
		wrap.n_fail--;
		err_set(s->err, sizeof(s->err), "injected fault: value refused");
		return -1;
	}
	if (strcmp(key, "t:conflict") == 0 && wrap.n_conflict > 0) {
		wrap.n_conflict--;
		s->is_retryable = 1;
		s->is_lock_timeout = wrap.is_lock_timeout;
		err_set(s->err, sizeof(s->err), wrap.is_lock_timeout ?
			"injected fault: lock timeout" : "injected fault: deadlock detected");
		return -1;
	}
	if (strcmp(key, "t:nomem") == 0 && wrap.n_nomem > 0) {
		static char big[65536];
		int rc;
		wrap.n_nomem--;
		memset(big, 'x', sizeof(big) - 1);
		is_sqlite_nomem = 1;
		rc = wrap.real->meta_put(s, key, big);
		is_sqlite_nomem = 0;
		return rc;
	}
	return wrap.real->meta_put(s, key, value);
}

static int wrap_commit(struct store *s)
{
	if (wrap.n_commit_fail > 0) {
		wrap.n_commit_fail--;
		err_set(s->err, sizeof(s->err), "injected fault: database or disk is full");
		return -1;
	}
	if (wrap.commit_pause_us > 0) {
		struct timespec pause = {wrap.commit_pause_us / 1000000,
					 wrap.commit_pause_us % 1000000 * 1000};
		nanosleep(&pause, NULL); /* a slow disk's fsync, not a wait for anything */
	}
	return wrap.real->commit(s);
}

/* A world whose intake runs on the wrapped store. */
static void wrap_world_start_queue(struct world *w, int n_fail, int n_conflict, int queue_max)
{
	CU_ASSERT_EQUAL_FATAL(world_start_queue(w, teststore_is_pg(), queue_max), 0);
	wrap.real = w->writer->ops;
	wrap.ops = *wrap.real;
	wrap.ops.begin = wrap_begin;
	wrap.ops.meta_put = wrap_meta_put;
	wrap.ops.commit = wrap_commit;
	wrap.n_fail = n_fail;
	wrap.n_conflict = n_conflict;
	wrap.n_nomem = 0;
	wrap.n_commit_fail = 0;
	wrap.commit_pause_us = 0;
	wrap.is_lock_timeout = 0;
	w->writer->ops = &wrap.ops; /* the writer reads it after the first submit */
}

static void wrap_world_start(struct world *w, int n_fail, int n_conflict)
{
	wrap_world_start_queue(w, n_fail, n_conflict, 0);
}

/* A batch of one record for `id` (its custom_id and message ID), of the
 * stream `chain` (or none), with a cursor under `cursor_key` (or none). */
static void wrap_batch(struct world *w, struct intake_batch *b, struct record **r, const char *id,
		       struct intake_chain *chain, const char *cursor_key)
{
	char line[512], err[512];

	snprintf(line, sizeof(line),
		 "{\"type\": \"track\", \"source\": \"test\", \"message_id\": \"%s\","
		 " \"timestamp\": \"2025-03-03T09:01:00.000Z\", \"identifiers\":"
		 " {\"custom_id\": \"%s\"}, \"event\": {\"name\": \"seen\"}}", id, id);
	CU_ASSERT_EQUAL_FATAL(record_from_json(line, strlen(line), "test", &w->rules,
					       1741000000000LL, r, NULL, err, sizeof(err)), HUB_OK);
	memset(b, 0, sizeof(*b));
	b->records = r;
	b->n_records = 1;
	b->chain = chain;
	b->cursor_key = cursor_key;
	b->cursor_value = cursor_key ? "1" : NULL;
}

/* Runs the n batches as one group: the writer holds the gate batch's
 * group at its BEGIN while they queue.  Waits for every one. */
/* Submits gate and returns once the writer holds its group at BEGIN. */
static void wrap_gate_shut(struct world *w, struct intake_batch *gate)
{
	pthread_mutex_lock(&wrap.lock);
	wrap.is_shut = 1;
	pthread_mutex_unlock(&wrap.lock);
	CU_ASSERT_EQUAL(intake_submit(w->intake, gate), HUB_OK);
	pthread_mutex_lock(&wrap.lock);
	while (!wrap.is_waiting)
		pthread_cond_wait(&wrap.cond, &wrap.lock);
	pthread_mutex_unlock(&wrap.lock);
}

/* Lets the gate's group run and waits for it. */
static void wrap_gate_open(struct world *w, struct intake_batch *gate)
{
	pthread_mutex_lock(&wrap.lock);
	wrap.is_shut = 0;
	pthread_cond_broadcast(&wrap.cond);
	pthread_mutex_unlock(&wrap.lock);
	CU_ASSERT_EQUAL(intake_wait(w->intake, gate), HUB_OK);
}

static void wrap_run_group(struct world *w, struct intake_batch *gate, struct intake_batch *bs,
			   size_t n)
{
	wrap_gate_shut(w, gate);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(intake_submit(w->intake, &bs[i]), HUB_OK);
	wrap_gate_open(w, gate);
	for (size_t i = 0; i < n; i++)
		intake_wait(w->intake, &bs[i]);
}

/*
 * One group: the first batch of a stream fails alone, then the group
 * conflicts with another writer and runs again, `n_fail` times in all.
 * bs[0] and bs[1] are the stream's, bs[2] meets the conflict; *later is
 * the stream's next batch, sent after.  Returns the world's dump.
 */
static char *wrap_chain_then_conflict(int n_fail, struct intake_batch *bs,
				      struct intake_batch *later)
{
	struct intake_chain chain = {0};
	struct intake_batch gate;
	struct record *recs[5] = {0};
	struct intake_stats st;
	struct world w;
	char *dump;

	wrap_world_start(&w, n_fail, 1);
	wrap_batch(&w, &gate, &recs[0], "gate", NULL, NULL);
	wrap_batch(&w, &bs[0], &recs[1], "stream_1", &chain, "t:fail");
	wrap_batch(&w, &bs[1], &recs[2], "stream_2", &chain, NULL);
	wrap_batch(&w, &bs[2], &recs[3], "other", NULL, "t:conflict");
	wrap_run_group(&w, &gate, bs, 3);
	CU_ASSERT_EQUAL(wrap.n_fail, 0);     /* every fault was met */
	CU_ASSERT_EQUAL(wrap.n_conflict, 0);
	intake_get_stats(w.intake, &st);
	CU_ASSERT_EQUAL(st.commits, 2); /* the gate's group, then the three's */
	wrap_batch(&w, later, &recs[4], "stream_3", &chain, NULL);
	if (intake_submit(w.intake, later) == HUB_OK)
		intake_wait(w.intake, later);
	dump = world_stop_dump(&w);
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		record_free(recs[i]);
	return dump;
}

/* A conflict that is a lock_timeout (PostgreSQL's 55P03, retryable) has
 * waited the session's lock_timeout already (10 s by default): a group was
 * run again up to GROUP_MAX_TRIES times, holding a push's answer eight lock
 * waits long (80 s) under a DBA's LOCK TABLE.  It gives up at the first,
 * in one line; a deadlock is still tried again (the tests above). */
static void test_a_group_whose_conflict_waited_a_lock_gives_up(void)
{
	struct record *rec = NULL;
	struct intake_batch b;
	struct testlib_capture cap;
	struct world w;
	char *log;

	wrap_world_start(&w, 0, GROUP_MAX_TRIES_SEEN);
	wrap.is_lock_timeout = 1;
	wrap_batch(&w, &b, &rec, "waits", NULL, "t:conflict");
	testlib_capture_begin(&cap);
	if (intake_submit(w.intake, &b) == HUB_OK)
		intake_wait(w.intake, &b);
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(wrap.n_conflict, GROUP_MAX_TRIES_SEEN - 1);
	CU_ASSERT_NOT_EQUAL(b.rc, HUB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.err, "injected fault: lock timeout"));
	CU_ASSERT_EQUAL(testlib_lines_with(log, "group gave up after 1 conflict in "), 1);
	free(log);
	free(world_stop_dump(&w));
	record_free(rec);
}

/* The stream's batch that failed in the first attempt passes on the
 * retry: it and the later batches of its stream are stored, each once,
 * and reported so; its failure leaves nothing behind. */
static void test_a_stream_batch_passing_on_a_conflicts_retry_keeps_its_stream(void)
{
	struct intake_batch bs[3], later;
	char *dump = wrap_chain_then_conflict(1, bs, &later);

	CU_ASSERT_PTR_NOT_NULL_FATAL(dump);
	for (size_t i = 0; i < ARRAY_SIZE(bs); i++) {
		CU_ASSERT_EQUAL(bs[i].rc, HUB_OK);
		CU_ASSERT_STRING_EQUAL(bs[i].err, "");
		CU_ASSERT_EQUAL(bs[i].counts.records, 1);
		CU_ASSERT_EQUAL(bs[i].counts.applied, 1);
	}
	CU_ASSERT_EQUAL(later.rc, HUB_OK);
	CU_ASSERT_STRING_EQUAL(later.err, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"stream_1\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"stream_2\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"stream_3\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"other\""));
	free(dump);
}

/* The stream's batch fails in both attempts: the later batch of its
 * stream in the group is refused in each, and so is the next one sent;
 * the rest of the group is stored. */
static void test_a_stream_batch_failing_in_every_attempt_stops_its_stream(void)
{
	struct intake_batch bs[3], later;
	char *dump = wrap_chain_then_conflict(2, bs, &later);

	CU_ASSERT_PTR_NOT_NULL_FATAL(dump);
	CU_ASSERT_EQUAL(bs[0].rc, HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(bs[0].err, "injected fault: value refused"));
	CU_ASSERT_EQUAL(bs[1].rc, HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(bs[1].err, "an earlier batch of the same stream failed"));
	CU_ASSERT_EQUAL(bs[2].rc, HUB_OK);
	CU_ASSERT_EQUAL(later.rc, HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(later.err, "an earlier batch of the same stream failed"));
	CU_ASSERT_PTR_NULL(strstr(dump, "\"stream_"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"other\""));
	free(dump);
}

/* SQLite runs out of memory in a batch's statement and rolls the whole
 * transaction back by itself: that batch alone fails, saying so, and the
 * rest of its group is stored.  The store's own rollback failed after
 * SQLite's ("no transaction is active"), and the whole group was refused. */
static void test_sqlite_out_of_memory_fails_its_batch_alone(void)
{
	struct intake_batch gate, bs[3];
	struct record *recs[4] = {0};
	struct intake_stats st;
	struct world w;
	char *dump;

	if (teststore_is_pg())
		return;
	wrap_world_start(&w, 0, 0);
	wrap.n_nomem = 1;
	wrap_batch(&w, &gate, &recs[0], "gate", NULL, NULL);
	wrap_batch(&w, &bs[0], &recs[1], "before", NULL, NULL);
	wrap_batch(&w, &bs[1], &recs[2], "nomem", NULL, "t:nomem");
	wrap_batch(&w, &bs[2], &recs[3], "after", NULL, NULL);
	wrap_run_group(&w, &gate, bs, 3);
	CU_ASSERT_EQUAL(wrap.n_nomem, 0); /* the fault was met */
	CU_ASSERT_EQUAL(bs[0].rc, HUB_OK);
	CU_ASSERT_EQUAL(bs[1].rc, HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(bs[1].err, "store failed: sqlite: out of memory"));
	CU_ASSERT_EQUAL(bs[2].rc, HUB_OK);
	intake_get_stats(w.intake, &st);
	CU_ASSERT_EQUAL(st.commits, 2); /* the gate's group, then the three's */
	dump = world_stop_dump(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dump);
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"before\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(dump, "\"after\""));
	CU_ASSERT_PTR_NULL(strstr(dump, "\"nomem\""));
	free(dump);
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		record_free(recs[i]);
}

/* Submits the n batches one after the other and waits for each (each its
 * own group): the log written meanwhile (malloc'd), the time taken in
 * *elapsed_ms. */
static char *wrap_run_each_logged(struct world *w, struct intake_batch *bs, size_t n,
				  int64_t *elapsed_ms)
{
	struct testlib_capture cap;
	int64_t t0 = time_mono_ms();
	char *log;

	testlib_capture_begin(&cap);
	for (size_t i = 0; i < n; i++)
		if (intake_submit(w->intake, &bs[i]) == HUB_OK)
			intake_wait(w->intake, &bs[i]);
	log = testlib_capture_end(&cap);
	*elapsed_ms = time_mono_ms() - t0;
	return log;
}

/* The store's failing state takes a line at its start, one at its end and
 * a summary every 5 s at most. */
static void wrap_assert_failing_state_lines(const char *log, int64_t elapsed_ms)
{
	long n_lines = 0;

	for (const char *p = log; (p = strchr(p, '\n')); p++)
		n_lines++;
	CU_ASSERT(n_lines <= 2 + elapsed_ms / 5000);
	if (n_lines > 2 + elapsed_ms / 5000)
		fprintf(stderr, "\n  %ld lines in %lld ms:\n%s", n_lines, (long long)elapsed_ms,
			log);
}

/* A store that cannot commit for a while (a full disk): every batch is
 * refused, and the log says so as a state, not in a line a batch (nor two,
 * with the HTTP layer's): the first failure with its cause, at most a line
 * every 5 s while it lasts, and one when a group commits again. */
static void test_commits_failing_are_logged_as_a_state(void)
{
	enum { N = 40 };
	struct intake_batch bs[N + 1];
	struct record *recs[N + 1] = {0};
	struct metrics *m = metrics_new();
	struct world w;
	char id[16], *log, *dump, *text;
	int64_t elapsed_ms;

	wrap_world_start(&w, 0, 0);
	wrap.n_commit_fail = N;
	for (int i = 0; i <= N; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		wrap_batch(&w, &bs[i], &recs[i], id, NULL, NULL);
	}
	log = wrap_run_each_logged(&w, bs, N + 1, &elapsed_ms); /* one group each */
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(bs[i].rc, HUB_RETRY);
	CU_ASSERT_EQUAL(bs[N].rc, HUB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "store commits failing: store commit failed: injected"
					   " fault: database or disk is full"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "store commits succeed again"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, ": 40 batches refused)"));
	wrap_assert_failing_state_lines(log, elapsed_ms);
	free(log);
	text = m ? metrics_render(m, &(struct metrics_feeds){.intake = w.intake}) : NULL;
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "\nintake_commit_failures_total 40\n") : NULL);
	hub_free(text);
	metrics_free(m);
	dump = world_stop_dump(&w);
	CU_ASSERT_PTR_NOT_NULL(dump);
	CU_ASSERT_PTR_NOT_NULL(dump ? strstr(dump, "\"c40\"") : NULL);
	free(dump);
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		record_free(recs[i]);
}

/* The same when the store fails in a batch's statements rather than at
 * COMMIT (a full disk once a batch's pages spill, SQLITE_NOMEM): each group
 * then commits nothing, which is no recovery.  It was logged "store commits
 * succeed again" after the first such group, then one line per batch. */
static void test_statement_failures_are_logged_as_the_same_state(void)
{
	enum { N_COMMIT = 2, N_STMT = 20, N = N_COMMIT + N_STMT };
	struct intake_batch bs[N + 1];
	struct record *recs[N + 1] = {0};
	struct world w;
	char id[16], *log;
	const char *recovered;
	int64_t elapsed_ms;

	wrap_world_start(&w, N_STMT, 0);
	wrap.n_commit_fail = N_COMMIT;
	for (int i = 0; i <= N; i++) {
		snprintf(id, sizeof(id), "s%d", i);
		wrap_batch(&w, &bs[i], &recs[i], id, NULL,
			   i >= N_COMMIT && i < N ? "t:fail" : NULL);
	}
	log = wrap_run_each_logged(&w, bs, N + 1, &elapsed_ms); /* one group each */
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(bs[i].rc, HUB_RETRY);
	CU_ASSERT_EQUAL(bs[N].rc, HUB_OK);
	recovered = strstr(log, "store commits succeed again");
	CU_ASSERT_PTR_NOT_NULL(recovered);
	CU_ASSERT_PTR_NOT_NULL(recovered ? strstr(recovered, ": 22 batches refused)") : NULL);
	CU_ASSERT_PTR_NULL(strstr(log, "batch rolled back"));
	wrap_assert_failing_state_lines(log, elapsed_ms);
	free(log);
	free(world_stop_dump(&w));
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		record_free(recs[i]);
}

/* Submits b alone and waits for it (answered `want`): it wrote nothing,
 * so the store is not taken for one that cannot commit (no "store commits
 * failing" in the log, no failing state, /readyz 200).  Returns what was
 * logged meanwhile (malloc'd; may be NULL). */
static char *submit_alone_no_store_failure(struct world *w, struct intake_batch *b, hub_rc want)
{
	struct testlib_capture cap;
	struct intake_stats st;
	char *log;

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(intake_submit(w->intake, b), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(w->intake, b), want);
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NULL(log ? strstr(log, "store commits failing") : NULL);
	intake_get_stats(w->intake, &st);
	CU_ASSERT_EQUAL(st.failing_since_ms, 0);
	return log;
}

/* Stops the world of wrap_world_start and frees the n records of its batches. */
static void wrap_world_stop(struct world *w, struct record **recs, size_t n)
{
	free(world_stop_dump(w));
	for (size_t i = 0; i < n; i++)
		record_free(recs[i]);
}

/* A batch that fails alone in the store, then its group's next attempt
 * (without it) that cannot commit either: the store's failing state is
 * logged with the batch's cause.  It was "store commits failing: ;
 * batches are refused ...", no cause at all (seen with PostgreSQL stopped
 * under `profilehub import`: the INSERT lost its connection, then BEGIN
 * found no server), since the group's failure is written only into
 * batches that had not failed already. */
static void test_commits_failing_after_a_batch_failed_alone_name_its_cause(void)
{
	struct intake_batch bs[2];
	struct record *recs[2] = {0};
	struct testlib_capture cap;
	struct world w;
	char *log;

	wrap_world_start(&w, 1, 0);
	wrap.n_commit_fail = 1;
	wrap_batch(&w, &bs[0], &recs[0], "f1", NULL, "t:fail");
	wrap_batch(&w, &bs[1], &recs[1], "ok1", NULL, NULL);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(intake_submit(w.intake, &bs[0]), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(w.intake, &bs[0]), HUB_RETRY);
	CU_ASSERT_EQUAL(intake_submit(w.intake, &bs[1]), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(w.intake, &bs[1]), HUB_OK);
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(wrap.n_fail, 0);
	CU_ASSERT_EQUAL(wrap.n_commit_fail, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "store commits failing: store failed: injected fault:"
					   " value refused; "));
	CU_ASSERT_PTR_NULL(strstr(log, "failing: ;"));
	free(log);
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

/* A group whose one batch is refused by its fence (a sync whose lease
 * another process took) wrote nothing: it says nothing of the store.  It
 * was taken for a store that cannot commit: "store commits failing: " with
 * no cause in the log, and /readyz 503 until another group committed. */
static void test_a_fenced_batch_alone_is_no_store_failure(void)
{
	struct intake_batch epoch, fenced;
	struct record *recs[2] = {0};
	struct world w;
	char *log;

	wrap_world_start(&w, 0, 0);
	wrap_batch(&w, &epoch, &recs[0], "e1", NULL, "lease_epoch:sync:s");
	epoch.cursor_value = "2"; /* another process took the lease since */
	CU_ASSERT_EQUAL(intake_submit(w.intake, &epoch), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(w.intake, &epoch), HUB_OK);
	wrap_batch(&w, &fenced, &recs[1], "f1", NULL, "cursor:s");
	fenced.fence_key = "lease_epoch:sync:s";
	fenced.fence_epoch = 1;
	log = submit_alone_no_store_failure(&w, &fenced, HUB_ERR_CONFIG);
	CU_ASSERT(fenced.is_fenced);
	CU_ASSERT_PTR_NOT_NULL(log ? strstr(log, "batch refused: lease lost") : NULL);
	free(log);
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

/* A fence whose lease the store has no row for (a store without leases)
 * lets its batch through. */
static void test_a_fence_without_a_lease_row_passes(void)
{
	struct intake_batch b;
	struct record *recs[1] = {0};
	struct world w;

	wrap_world_start(&w, 0, 0);
	wrap_batch(&w, &b, &recs[0], "n1", NULL, "cursor:n");
	b.fence_key = "lease_epoch:sync:none";
	b.fence_epoch = 1;
	CU_ASSERT_EQUAL(intake_submit(w.intake, &b), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(w.intake, &b), HUB_OK);
	CU_ASSERT(!b.is_fenced);
	CU_ASSERT_EQUAL(b.counts.applied, 1);
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

/* The queue holds intake.queue_max batches (1024 by default) while the
 * writer is busy; the next is refused HUB_ERR_BUSY (HTTP 429), and every
 * one queued is then stored.  queue_max 0: the default. */
static void full_queue_refuses(int queue_max)
{
	enum { MAX = 1024 };
	static struct intake_batch bs[MAX + 1];
	size_t n = queue_max ? (size_t)queue_max : MAX;
	struct intake_batch gate;
	struct record *recs[2] = {0};
	struct world w;

	wrap_world_start_queue(&w, 0, 0, queue_max);
	wrap_batch(&w, &gate, &recs[0], "gate", NULL, NULL);
	wrap_batch(&w, &bs[0], &recs[1], "q", NULL, NULL);
	for (size_t i = 1; i <= n; i++)
		bs[i] = bs[0]; /* the same record: stored once, the others duplicates */
	wrap_gate_shut(&w, &gate);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(intake_submit(w.intake, &bs[i]), HUB_OK);
	CU_ASSERT_EQUAL(intake_submit(w.intake, &bs[n]), HUB_ERR_BUSY);
	wrap_gate_open(&w, &gate);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(intake_wait(w.intake, &bs[i]), HUB_OK);
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

/* /readyz: the HTTP status, and whether its document holds `want`. */
static unsigned readiness_is(struct intake *in, const char *want)
{
	unsigned status = 0;
	char *doc = metrics_readiness(in, &status);

	CU_ASSERT_PTR_NOT_NULL(doc ? strstr(doc, want) : NULL);
	hub_free(doc);
	return status;
}

/* A group the store keeps waiting (on PostgreSQL a statement waits without
 * end for a lock another session holds on a table) makes /readyz 503
 * "stalled" once it has run the stall time, so a load balancer drains the
 * hub whose requests all wait; it was 200 throughout.  Once the group
 * commits, 200 again, and how long it took is logged. */
static void test_a_group_kept_waiting_by_the_store_is_not_ready(void)
{
	struct intake_batch gate;
	struct record *recs[1] = {0};
	struct testlib_capture cap;
	struct timespec pause = {0, 5 * 1000 * 1000};
	struct world w;
	unsigned status = 200;
	int64_t until;
	char *log;

	wrap_world_start(&w, 0, 0);
	wrap_batch(&w, &gate, &recs[0], "gate", NULL, NULL);
	intake_set_stall(w.intake, 50);
	testlib_capture_begin(&cap);
	wrap_gate_shut(&w, &gate);
	until = time_mono_ms() + 5000; /* the stall time to pass, polled */
	while (status == 200 && time_mono_ms() < until) {
		unsigned st = 0;
		char *doc = metrics_readiness(w.intake, &st);

		if (st == 503)
			CU_ASSERT_PTR_NOT_NULL(doc ? strstr(doc, "\"status\":\"stalled\"") : NULL);
		status = st;
		hub_free(doc);
		nanosleep(&pause, NULL);
	}
	CU_ASSERT_EQUAL(status, 503);
	wrap_gate_open(&w, &gate);
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(log ? strstr(log, "a group commit took") : NULL);
	free(log);
	CU_ASSERT_EQUAL(readiness_is(w.intake, "\"status\":\"ok\""), 200);
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

static void test_a_full_queue_refuses_the_next_batch(void)
{
	full_queue_refuses(0);
	full_queue_refuses(8); /* intake.queue_max read (it was not tested) */
}

/* A stream's batch refused because an earlier batch of its stream failed
 * wrote nothing either (no statement ran): alone in its group it says
 * nothing of the store.  It was taken for a store that cannot commit:
 * "store commits failing: not stored: an earlier batch of the same stream
 * failed" in the log, and /readyz 503 until another group committed. */
static void test_a_stream_batch_refused_alone_is_no_store_failure(void)
{
	struct intake_chain chain = {0};
	struct intake_batch gate, bs[2], later;
	struct record *recs[4] = {0};
	struct world w;

	wrap_world_start(&w, 1, 0);
	wrap_batch(&w, &gate, &recs[0], "gate", NULL, NULL);
	wrap_batch(&w, &bs[0], &recs[1], "stream_1", &chain, "t:fail");
	wrap_batch(&w, &bs[1], &recs[2], "other", NULL, NULL);
	wrap_run_group(&w, &gate, bs, 2); /* stream_1 fails alone, other is stored */
	CU_ASSERT_EQUAL(bs[0].rc, HUB_RETRY);
	CU_ASSERT_EQUAL(bs[1].rc, HUB_OK);
	wrap_batch(&w, &later, &recs[3], "stream_2", &chain, NULL);
	free(submit_alone_no_store_failure(&w, &later, HUB_RETRY));
	CU_ASSERT_PTR_NOT_NULL(strstr(later.err, "an earlier batch of the same stream failed"));
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

/* A group that commits with some of its batches rolled back (a stream's
 * batch and a batch alone failing in the store, the stream's later
 * batches refused after it) takes one line, naming the counts and the
 * first failure.  It was a line a batch: four here, and as many as a
 * stream had batches in the group. */
static void test_a_group_s_rolled_back_batches_take_one_line(void)
{
	struct intake_chain chain = {0};
	struct intake_batch gate, bs[5];
	struct record *recs[6] = {0};
	struct testlib_capture cap;
	struct world w;
	char *log;

	wrap_world_start(&w, 2, 0);
	wrap_batch(&w, &gate, &recs[0], "gate", NULL, NULL);
	wrap_batch(&w, &bs[0], &recs[1], "stream_1", &chain, "t:fail");
	wrap_batch(&w, &bs[1], &recs[2], "stream_2", &chain, NULL);
	wrap_batch(&w, &bs[2], &recs[3], "stream_3", &chain, NULL);
	wrap_batch(&w, &bs[3], &recs[4], "alone", NULL, "t:fail");
	wrap_batch(&w, &bs[4], &recs[5], "stored", NULL, NULL);
	testlib_capture_begin(&cap);
	wrap_run_group(&w, &gate, bs, 5);
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(wrap.n_fail, 0); /* both faults were met */
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(bs[i].rc, HUB_RETRY);
	CU_ASSERT_EQUAL(bs[4].rc, HUB_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "rolled back"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "group commit stored 1 of 5 batches: 2 rolled back"
					   " (the first: store failed: injected fault: value"
					   " refused), 2 refused after an earlier batch of their"
					   " stream failed"), 1);
	CU_ASSERT_PTR_NULL(strstr(log, "store commits failing"));
	free(log);
	wrap_world_stop(&w, recs, ARRAY_SIZE(recs));
}

/* The value of the line "<name> <value>" of a Prometheus text, or -1. */
static double metric_value(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* The commit histogram counts what commits took, to the microsecond: 20
 * commits of at least 6 ms each are all above the 1 ms bucket, and their
 * sum is at least 120 ms (its tenths shown too).  It was read off a
 * millisecond clock, so a commit of 1.2 ms counted 1 or 2 ms after the
 * clock's ticks it crossed, and one under 1 ms counted 0 or 1.  Buckets
 * are cumulative, the last one +Inf. */
static void test_commit_time_is_counted_in_fractions_of_a_millisecond(void)
{
	enum { N = 20, PAUSE_US = 6000 };
	struct intake_batch bs[N];
	struct record *recs[N] = {0};
	struct metrics *m = metrics_new();
	struct world w;
	char id[16], *text;
	const char *inf;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	wrap_world_start(&w, 0, 0);
	wrap.commit_pause_us = PAUSE_US;
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "t%d", i);
		wrap_batch(&w, &bs[i], &recs[i], id, NULL, NULL);
		CU_ASSERT_EQUAL(intake_submit(w.intake, &bs[i]), HUB_OK);
		CU_ASSERT_EQUAL(intake_wait(w.intake, &bs[i]), HUB_OK); /* one group each */
	}
	wrap.commit_pause_us = 0;
	text = metrics_render(m, &(struct metrics_feeds){.intake = w.intake});
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_count"), N);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_bucket{le=\"0.001\"}"), 0);
	CU_ASSERT(metric_value(text, "intake_commit_seconds_sum") >= N * PAUSE_US / 1e6);
	CU_ASSERT(metric_value(text, "intake_commit_seconds_bucket{le=\"1\"}") >= 0);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_bucket{le=\"+Inf\"}"), N);
	inf = strstr(text, "le=\"+Inf\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(inf);
	CU_ASSERT_PTR_NULL(strstr(inf + 1, "le=\"+Inf\"")); /* the last bucket alone */
	hub_free(text);
	metrics_free(m);
	free(world_stop_dump(&w));
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		record_free(recs[i]);
}

/* A commit of seconds (a full group on PostgreSQL takes about 20 s, a
 * stall is 30 s) falls in a bucket of its own: one of 1.2 s is above
 * le="1" and within le="2.5".  The buckets ended at 1 s, so every commit
 * from 1 s to a stall was +Inf alone, and no alert could tell 2 s from 25. */
static void test_a_commit_of_seconds_has_a_bucket_below_inf(void)
{
	enum { PAUSE_US = 1200000 };
	struct intake_batch b;
	struct record *rec = NULL;
	struct metrics *m = metrics_new();
	struct world w;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	wrap_world_start(&w, 0, 0);
	wrap.commit_pause_us = PAUSE_US; /* a slow fsync, not a wait for anything */
	wrap_batch(&w, &b, &rec, "t1", NULL, NULL);
	CU_ASSERT_EQUAL(intake_submit(w.intake, &b), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(w.intake, &b), HUB_OK);
	wrap.commit_pause_us = 0;
	text = metrics_render(m, &(struct metrics_feeds){.intake = w.intake});
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_count"), 1);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_bucket{le=\"1\"}"), 0);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_bucket{le=\"2.5\"}"), 1);
	CU_ASSERT_EQUAL(metric_value(text, "intake_commit_seconds_bucket{le=\"30\"}"), 1);
	CU_ASSERT(metric_value(text, "intake_commit_seconds_sum") >= PAUSE_US / 1e6);
	hub_free(text);
	metrics_free(m);
	free(world_stop_dump(&w));
	record_free(rec);
}

TEST_SUITE(intake, NULL, NULL, TEST(test_commits_failing_are_logged_as_a_state),
	   TEST(test_commit_time_is_counted_in_fractions_of_a_millisecond),
	   TEST(test_a_commit_of_seconds_has_a_bucket_below_inf),
	   TEST(test_a_fenced_batch_alone_is_no_store_failure),
	   TEST(test_a_fence_without_a_lease_row_passes),
	   TEST(test_a_full_queue_refuses_the_next_batch),
	   TEST(test_a_group_kept_waiting_by_the_store_is_not_ready),
	   TEST(test_a_stream_batch_refused_alone_is_no_store_failure),
	   TEST(test_a_group_s_rolled_back_batches_take_one_line),
	   TEST(test_statement_failures_are_logged_as_the_same_state),
	   TEST(test_commits_failing_after_a_batch_failed_alone_name_its_cause),
	   TEST(test_sqlite_out_of_memory_fails_its_batch_alone),
	   TEST(test_a_stream_batch_passing_on_a_conflicts_retry_keeps_its_stream),
	   TEST(test_a_group_whose_conflict_waited_a_lock_gives_up),
	   TEST(test_a_stream_batch_failing_in_every_attempt_stops_its_stream))
