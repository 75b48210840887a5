/*
 * test_store.c - suite `store`: the conformance of a store backend to
 * store.h, op by op, on the backend under test (HUB_TEST_STORE, see
 * teststore.h): tests/run.sh runs it on SQLite and again on PostgreSQL, so
 * both answer every op alike (values, NULLs, byte order of text, paging
 * cursors, counters that never repeat, savepoints, durability).
 *
 * PostgreSQL only: the lock protocol (a deadlock between two writers is
 * reported as retryable), the memo of locked identifiers, a failed
 * pipelined write failing its batch alone, outbox numbers in commit order
 * across connections, and one generated stream dumped byte for byte the
 * same as SQLite's.
 */
#include "testhub.h"
#include "testlib.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/log.h"
#include "../../hub/profile.h"
#include "../../hub/store_pg_memo.h"
#include "../../hub/store_sqlite_int.h"
#include "../../hub/util.h"
#include "../tools/gen.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- a world: one store (temp dir or schema), as many connections as a
 * test wants ------------------------------------------------------------ */

struct world {
	char *dir;
	char *schema;
	struct hub_config *cfg;
	struct store *s;   /* the first connection */
};

/* A connection used as the intake's would be (SQLite: with the writer's
 * caches, which these tests check). */
static struct store *world_connect(struct world *w)
{
	struct store *s = NULL;
	char err[512];
	if (store_open(w->cfg, &s, err, sizeof(err))) {
		fprintf(stderr, "\n  store_open: %s", err);
		return NULL;
	}
	s->is_intake_writer = 1;
	return s;
}

static int world_start(struct world *w)
{
	char err[512], *yaml;

	memset(w, 0, sizeof(*w));
	w->dir = testlib_mkdtemp();
	if (!w->dir || !(yaml = teststore_yaml(w->dir, &w->schema)))
		return -1;
	if (config_load_string("store.yaml", yaml, &w->cfg, err, sizeof(err))) {
		fprintf(stderr, "\n  config: %s", err);
		free(yaml);
		return -1;
	}
	free(yaml);
	w->s = world_connect(w);
	return w->s ? 0 : -1;
}

static void world_stop(struct world *w)
{
	store_close(w->s);
	config_free(w->cfg);
	teststore_drop(w->schema);
	free(w->schema);
	testlib_rmtree(w->dir);
	free(w->dir);
}

#define WORLD(w)                                   \
	struct world w;                            \
	CU_ASSERT_FATAL(world_start(&w) == 0);     \
	struct store *s = w.s

/* Runs one op and asserts it succeeded (0). */
#define OK(call) CU_ASSERT_EQUAL(call, 0)

static void put_profile(struct store *s, const char *id, int64_t seq, const char *custom_id)
{
	struct store_profile p = {.seq = seq, .created_at_ms = 1000 + seq};
	snprintf(p.id, sizeof(p.id), "%s", id);
	p.is_anonymous = custom_id == NULL;
	snprintf(p.custom_id, sizeof(p.custom_id), "%s", custom_id ? custom_id : "");
	OK(s->ops->profile_insert(s, &p));
}

/* ---- collectors ---------------------------------------------------------- */

struct list {
	char text[64][160];
	size_t n;
};

static void list_add(struct list *l, const char *fmt, ...) HUB_PRINTF(2, 3);
static void list_add(struct list *l, const char *fmt, ...)
{
	va_list ap;
	if (l->n == 64)
		return;
	va_start(ap, fmt);
	vsnprintf(l->text[l->n++], sizeof(l->text[0]), fmt, ap);
	va_end(ap);
}

#define NUL(s) ((s) ? (s) : "NULL")

static int collect_profile(void *ctx, const struct store_profile *p)
{
	list_add(ctx, "%s %lld %s %s", p->id, (long long)p->seq,
		 p->is_anonymous ? "anon" : p->custom_id, p->merged_into[0] ? p->merged_into : "-");
	return 0;
}

static int collect_ident(void *ctx, const struct store_ident *id)
{
	list_add(ctx, "%s=%s@%s %s %lld %d", id->type, id->value, id->profile_id, NUL(id->platform),
		 (long long)id->last_seen_ms, id->push_enabled);
	return 0;
}

static int collect_attr(void *ctx, const struct store_attr *a)
{
	list_add(ctx, "%s=%s t%d %lld d%d %lld", a->key, NUL(a->value_json), a->type,
		 (long long)a->ts_ms, a->is_deleted, (long long)a->changed_at_ms);
	return 0;
}

static int collect_consent(void *ctx, const struct store_consent *c)
{
	list_add(ctx, "%s=%s %lld %s", c->channel, NUL(c->state), (long long)c->ts_ms, c->source);
	return 0;
}

struct events {
	struct store_event e[32];
	char mid[32][32];
	size_t n;
};

static int collect_event(void *ctx, const struct store_event *e)
{
	struct events *l = ctx;
	if (l->n == 32)
		return 1;
	l->e[l->n] = *e;
	snprintf(l->mid[l->n], sizeof(l->mid[0]), "%s", e->message_id);
	l->e[l->n].message_id = l->mid[l->n];
	l->e[l->n].profile_id = l->e[l->n].source = l->e[l->n].name = NULL;
	l->e[l->n].properties_json = NULL;
	l->n++;
	return 0;
}

static int collect_log(void *ctx, const struct store_log_entry *e)
{
	list_add(ctx, "%lld %s %s %s=%s %s %s", (long long)e->at_ms, e->profile_id, e->action,
		 NUL(e->id_type), NUL(e->id_value), NUL(e->other_profile_id), NUL(e->reason));
	return 0;
}

static int collect_change(void *ctx, const struct store_change *c)
{
	list_add(ctx, "%lld %s %s %lld %s", (long long)c->seq, c->kind, c->profile_id,
		 (long long)c->at_ms, c->payload_json);
	return 0;
}

static int collect_dead(void *ctx, const struct store_dead_letter *d)
{
	list_add(ctx, "%s %lld %lld %s %s", d->export_name, (long long)d->seq, (long long)d->at_ms,
		 d->reason, d->change_json);
	return 0;
}

static int stop_after_one(void *ctx, const struct store_profile *p)
{
	collect_profile(ctx, p);
	return 1;
}

static void expect_list(const struct list *got, const char *const *want, size_t n)
{
	CU_ASSERT_EQUAL(got->n, n);
	for (size_t i = 0; i < n && i < got->n; i++) {
		if (strcmp(got->text[i], want[i]) != 0)
			fprintf(stderr, "\n  row %zu: expected \"%s\", got \"%s\"", i, want[i],
				got->text[i]);
		CU_ASSERT_STRING_EQUAL(got->text[i], want[i]);
	}
}

#define EXPECT(got, ...)                                                    \
	do {                                                                \
		static const char *const want_[] = {__VA_ARGS__};           \
		expect_list(&(got), want_, sizeof(want_) / sizeof(want_[0])); \
	} while (0)

/* ---- the table of ops ------------------------------------------------------ */

/* Every op after `name` is a function: a backend that lacks one (an op
 * added to store.h and not to it) fails here, not with a crash. */
static void test_every_op_is_implemented(void)
{
	WORLD(w);
	const unsigned char *first =
		(const unsigned char *)s->ops + offsetof(struct store_ops, close);
	size_t n = (sizeof(struct store_ops) - offsetof(struct store_ops, close)) /
		   sizeof(void (*)(void));

	CU_ASSERT_PTR_NOT_NULL(s->ops->name);
	for (size_t i = 0; i < n; i++) {
		void (*fn)(void);
		memcpy(&fn, first + i * sizeof(fn), sizeof(fn));
		if (!fn)
			fprintf(stderr, "\n  %s: op number %zu (after name) is NULL", s->ops->name,
				i);
		CU_ASSERT_PTR_NOT_NULL(fn);
	}
	world_stop(&w);
}

/* ---- meta, dedupe, blocks ------------------------------------------------- */

static void test_meta_put_then_get_returns_the_last_value(void)
{
	WORLD(w);
	char v[64];
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "cursor:x", v, sizeof(v)), 0);
	OK(s->ops->meta_put(s, "cursor:x", "one"));
	OK(s->ops->meta_put(s, "cursor:x", "two \"quoted\" \\ é"));
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "cursor:x", v, sizeof(v)), 1);
	CU_ASSERT_STRING_EQUAL(v, "two \"quoted\" \\ é");
	OK(s->ops->commit(s));
	/* truncated to the buffer, like snprintf */
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "cursor:x", v, 4), 1);
	CU_ASSERT_STRING_EQUAL(v, "two");
	world_stop(&w);
}

static void test_dedupe_add_is_new_once_per_source_and_message(void)
{
	WORLD(w);
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "web", "m1"), 1);
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "web", "m1"), 0);
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "ios", "m1"), 1);
	OK(s->ops->dedupe_remove(s, "web", "m1"));
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "web", "m1"), 1);
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "web", "m1"), 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* Blocks custom_id c1 until 2000, then 1000 (an earlier end: 2000 stays),
 * then 3000 (a later one: kept), reading the end after each. */
static void put_block_ends_keeping_the_later(struct store *s)
{
	int64_t until = 0;

	OK(s->ops->block_put(s, "custom_id", "c1", 2000));
	OK(s->ops->block_put(s, "custom_id", "c1", 1000));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 1);
	CU_ASSERT_EQUAL(until, 2000);
	OK(s->ops->block_put(s, "custom_id", "c1", 3000));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 1);
	CU_ASSERT_EQUAL(until, 3000);
}

static void test_block_put_keeps_the_later_end(void)
{
	WORLD(w);
	int64_t until = 0;
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->block_any(s), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 0);
	put_block_ends_keeping_the_later(s);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "installation_id", "c1", &until), 0);
	CU_ASSERT_EQUAL(s->ops->block_any(s), 1);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* With more blocks than the SQLite writer keeps as a whole list (2,048),
 * a put of an earlier end still keeps the later one, in a later
 * transaction as in the same. */
static void test_block_put_keeps_the_later_end_past_a_long_list(void)
{
	WORLD(w);
	int64_t until = 0;
	char v[32];

	OK(s->ops->begin(s));
	for (int i = 0; i < 2100; i++) {
		snprintf(v, sizeof(v), "c%d", i);
		OK(s->ops->block_put(s, "custom_id", v, 5000));
	}
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	OK(s->ops->block_put(s, "custom_id", "c7", 1000));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c7", &until), 1);
	CU_ASSERT_EQUAL(until, 5000);
	OK(s->ops->commit(s));
	until = 0;
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c7", &until), 1);
	CU_ASSERT_EQUAL(until, 5000);
	world_stop(&w);
}

/* Blocks that ended at or before the bound go, at most `limit` per call;
 * the others stay, and the list reads as empty once they are all gone. */
static void test_block_prune_deletes_the_ended_blocks_only(void)
{
	WORLD(w);
	int64_t until = 0;
	size_t n = 99;

	OK(s->ops->begin(s));
	for (int i = 1; i <= 5; i++) {
		char v[16];
		snprintf(v, sizeof(v), "c%d", i);
		OK(s->ops->block_put(s, "custom_id", v, 1000 * i)); /* c1 1000 .. c5 5000 */
	}
	OK(s->ops->block_put(s, "installation_id", "i1", 1500));
	OK(s->ops->block_put(s, "crm_id", "k1", 9000));
	OK(s->ops->commit(s));

	OK(s->ops->begin(s));
	OK(s->ops->block_prune(s, 3000, 0, &n)); /* a limit of 0: none */
	CU_ASSERT_EQUAL(n, 0);
	OK(s->ops->block_prune(s, 3000, 3, &n)); /* c1, i1, c2, c3: the limit stops it */
	CU_ASSERT_EQUAL(n, 3);
	OK(s->ops->block_prune(s, 3000, 3, &n)); /* then the bound (3000 included) */
	CU_ASSERT_EQUAL(n, 1);
	OK(s->ops->block_prune(s, 3000, 3, &n));
	CU_ASSERT_EQUAL(n, 0);
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c3", &until), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "installation_id", "i1", &until), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c4", &until), 1);
	CU_ASSERT_EQUAL(until, 4000);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "crm_id", "k1", &until), 1);
	CU_ASSERT_EQUAL(s->ops->block_any(s), 1);

	/* a rolled-back prune deletes nothing; then everything goes */
	OK(s->ops->begin(s));
	OK(s->ops->block_prune(s, 10000, 100, &n));
	CU_ASSERT_EQUAL(n, 3);
	OK(s->ops->rollback(s));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c5", &until), 1);
	OK(s->ops->begin(s));
	OK(s->ops->block_prune(s, 10000, 100, &n));
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(s->ops->block_any(s), 0);
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(s->ops->block_any(s), 0);
	world_stop(&w);
}

/* The writer (SQLite: its cache of the block list, loaded whole; PostgreSQL:
 * the memo) reads a prune as it is, whether this connection pruned or
 * another did. */
static void test_block_prune_is_seen_by_the_writers_next_read(void)
{
	WORLD(w);
	struct store *s2 = world_connect(&w);
	struct store_ident c1 = {.type = "custom_id", .value = "c1"};
	int64_t until = 0;
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	OK(s->ops->begin(s));
	OK(s->ops->block_put(s, "custom_id", "c1", 1000));
	OK(s->ops->block_put(s, "custom_id", "c2", 2000));
	OK(s->ops->block_put(s, "custom_id", "c3", 9000));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 1);
	OK(s->ops->commit(s));

	/* its own prune, in the transaction that read the list (and on
	 * PostgreSQL locked c1, so that the memo knows its block) */
	OK(s->ops->begin(s));
	OK(s->ops->ident_lock(s, &c1, 1));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 1);
	OK(s->ops->block_prune(s, 1000, 10, &n));
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c1", &until), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c2", &until), 1);
	OK(s->ops->commit(s));

	/* another connection's, committed between two of its transactions */
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c2", &until), 1);
	OK(s->ops->commit(s));
	OK(s2->ops->begin(s2));
	OK(s2->ops->block_prune(s2, 2000, 10, &n));
	CU_ASSERT_EQUAL(n, 1);
	OK(s2->ops->commit(s2));
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c2", &until), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c3", &until), 1);
	CU_ASSERT_EQUAL(until, 9000);
	OK(s->ops->commit(s));
	store_close(s2);
	world_stop(&w);
}

/* ---- profiles ---------------------------------------------------------- */

/* A number handed out by a committed transaction is never handed out
 * again, by this connection or another (a rolled-back one may be). */
static void test_profile_next_seq_never_repeats(void)
{
	WORLD(w);
	struct store *s2 = world_connect(&w);
	int64_t seen[250], last = 0;
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	for (int round = 0; round < 5; round++) {
		struct store *c = round == 3 ? s2 : s;
		size_t first = n;
		OK(c->ops->begin(c));
		for (int i = 0; i < 50; i++) {
			OK(c->ops->profile_next_seq(c, &seen[n]));
			CU_ASSERT(seen[n] > last);
			last = seen[n++];
		}
		if (round == 1) {
			OK(c->ops->rollback(c));
			n = first;
			last = first ? seen[first - 1] : 0;
		} else {
			OK(c->ops->commit(c));
		}
	}
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT(seen[i] > 0);
		for (size_t j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL(seen[i], seen[j]);
	}
	store_close(s2);
	world_stop(&w);
}

/* The numbers of events and log rows (row_seq on SQLite) are never handed
 * out twice, when two connections write in turn: a connection's next
 * number follows the other's commits, not what it last gave out itself. */
static void test_row_seq_never_repeats_across_connections(void)
{
	WORLD(w);
	struct store *s2 = world_connect(&w);
	struct store_event e = {.profile_id = "p_1", .ts_ms = 1, .source = "web", .name = "x",
				.properties_json = "{}"};
	static const char *const mids[] = {"m_1", "m_2", "m_3"};
	struct events got = {0};

	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	for (int i = 0; i < 3; i++) {
		struct store *c = i == 1 ? s2 : s;
		e.message_id = mids[i];
		OK(c->ops->begin(c));
		OK(c->ops->event_insert(c, &e));
		OK(c->ops->commit(c));
	}
	OK(s->ops->event_list(s, "p_1", NULL, 0, collect_event, &got));
	CU_ASSERT_EQUAL_FATAL(got.n, 3);
	for (size_t i = 0; i < got.n; i++)
		for (size_t j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL(got.e[i].seq, got.e[j].seq);
	store_close(s2);
	world_stop(&w);
}

static void test_profiles_merge_repoints_tombstones_and_pages_live_ones(void)
{
	WORLD(w);
	struct store_profile p;
	struct list l = {0};

	OK(s->ops->begin(s));
	put_profile(s, "p_b", 2, NULL);
	put_profile(s, "p_a", 1, NULL);
	put_profile(s, "p_c", 3, "C1");
	put_profile(s, "p_d", 4, NULL);
	put_profile(s, "p_E", 5, NULL); /* byte order: "p_E" < "p_a" */
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_x", &p), 0);
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_c", &p), 1);
	CU_ASSERT_STRING_EQUAL(p.custom_id, "C1");
	CU_ASSERT_EQUAL(p.is_anonymous, 0);
	CU_ASSERT_EQUAL(p.seq, 3);
	CU_ASSERT_EQUAL(p.created_at_ms, 1003);
	CU_ASSERT_STRING_EQUAL(p.merged_into, "");
	OK(s->ops->profile_set_custom_id(s, "p_d", "D1"));
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_d", &p), 1);
	CU_ASSERT_EQUAL(p.is_anonymous, 0);
	CU_ASSERT_STRING_EQUAL(p.custom_id, "D1");
	/* b into a, then a into c: b's tombstone follows to c */
	OK(s->ops->profile_mark_merged(s, "p_b", "p_a", 1));
	OK(s->ops->profile_mark_merged(s, "p_a", "p_c", 2));
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_b", &p), 1);
	CU_ASSERT_STRING_EQUAL(p.merged_into, "p_c");
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_c", &p), 1);
	CU_ASSERT_EQUAL(p.merge_count, 2);
	OK(s->ops->profile_tombstones(s, "p_c", collect_profile, &l));
	EXPECT(l, "p_a 1 anon p_c", "p_b 2 anon p_c");
	memset(&l, 0, sizeof(l));
	OK(s->ops->profile_iter_live(s, "", 0, collect_profile, &l));
	EXPECT(l, "p_E 5 anon -", "p_c 3 C1 -", "p_d 4 D1 -");
	memset(&l, 0, sizeof(l));
	OK(s->ops->profile_iter_live(s, "p_E", 1, collect_profile, &l));
	EXPECT(l, "p_c 3 C1 -");
	memset(&l, 0, sizeof(l));
	OK(s->ops->profile_iter_live(s, "", 0, stop_after_one, &l));
	EXPECT(l, "p_E 5 anon -");
	OK(s->ops->profile_delete(s, "p_E"));
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_E", &p), 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* profile_mark_merged sets the survivor's merge count to the number given:
 * a second merge into it does not add to the first's. */
static void test_profile_mark_merged_sets_the_count_given(void)
{
	WORLD(w);
	struct store_profile p;

	OK(s->ops->begin(s));
	put_profile(s, "p_a", 1, NULL);
	put_profile(s, "p_b", 2, NULL);
	put_profile(s, "p_c", 3, NULL);
	OK(s->ops->profile_mark_merged(s, "p_a", "p_c", 2));
	OK(s->ops->profile_mark_merged(s, "p_b", "p_c", 3));
	CU_ASSERT_EQUAL(s->ops->profile_get(s, "p_c", &p), 1);
	CU_ASSERT_EQUAL(p.merge_count, 3);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* ---- identifiers --------------------------------------------------------- */

#define NEVER "-9223372036854775808" /* STORE_NEVER_SEEN */

static void test_identifiers_move_count_list_and_reassign(void)
{
	WORLD(w);
	char pid[PROFILE_ID_SIZE];
	struct list l = {0};

	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "u1", pid), 0);
	OK(s->ops->ident_put(s, "custom_id", "u1", "p_1"));
	OK(s->ops->ident_put(s, "installation_id", "i-b", "p_1"));
	OK(s->ops->ident_put(s, "installation_id", "I-a", "p_1"));
	OK(s->ops->ident_put(s, "installation_id", "é", "p_1"));
	OK(s->ops->ident_put(s, "crm_id", "42", "p_2"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "u1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_1");
	CU_ASSERT_EQUAL(s->ops->ident_count(s, "p_1", "installation_id"), 3);
	CU_ASSERT_EQUAL(s->ops->ident_count(s, "p_1", "crm_id"), 0);
	CU_ASSERT_EQUAL(s->ops->ident_count_all(s, "p_1"), 4);
	/* by type, then value, in byte order; an installation never seen yet */
	OK(s->ops->ident_list(s, "p_1", collect_ident, &l));
	EXPECT(l, "custom_id=u1@p_1 NULL 0 -1", "installation_id=I-a@p_1 NULL " NEVER " -1",
	       "installation_id=i-b@p_1 NULL " NEVER " -1",
	       "installation_id=é@p_1 NULL " NEVER " -1");
	/* put moves */
	OK(s->ops->ident_put(s, "installation_id", "i-b", "p_2"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "installation_id", "i-b", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_2");
	OK(s->ops->ident_reassign(s, "p_2", "p_3"));
	CU_ASSERT_EQUAL(s->ops->ident_count_all(s, "p_2"), 0);
	CU_ASSERT_EQUAL(s->ops->ident_count_all(s, "p_3"), 2);
	OK(s->ops->ident_delete(s, "crm_id", "42"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "crm_id", "42", pid), 0);
	OK(s->ops->ident_delete_profile(s, "p_1"));
	CU_ASSERT_EQUAL(s->ops->ident_count_all(s, "p_1"), 0);
	CU_ASSERT_EQUAL(s->ops->ident_count_all(s, "p_3"), 1);
	OK(s->ops->commit(s));
	world_stop(&w);
}

static void test_install_touch_keeps_what_a_record_leaves_unset(void)
{
	WORLD(w);
	struct list l = {0};

	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "installation_id", "i1", "p_1"));
	OK(s->ops->ident_put(s, "custom_id", "i1", "p_1"));
	OK(s->ops->install_touch(s, "i1", "ios", 5000, 1));
	OK(s->ops->install_touch(s, "i1", NULL, 4000, -1)); /* keeps all three */
	OK(s->ops->ident_list(s, "p_1", collect_ident, &l));
	EXPECT(l, "custom_id=i1@p_1 NULL 0 -1", "installation_id=i1@p_1 ios 5000 1");
	OK(s->ops->install_touch(s, "i1", "android", 6000, 0));
	OK(s->ops->install_touch(s, "nobody", "web", 6000, 1)); /* no row: nothing */
	memset(&l, 0, sizeof(l));
	OK(s->ops->ident_list(s, "p_1", collect_ident, &l));
	EXPECT(l, "custom_id=i1@p_1 NULL 0 -1", "installation_id=i1@p_1 android 6000 0");
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* An installation first seen before 1970 (a legacy import, a device clock
 * reset) keeps that time: its last_seen was max(0, a negative time), 0,
 * shown as "never"; later touches keep the latest, negative or not. */
static void test_install_touch_keeps_a_time_before_1970(void)
{
	WORLD(w);
	struct list l = {0};

	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "installation_id", "i1", "p_1"));
	OK(s->ops->install_touch(s, "i1", NULL, -157766400000LL, -1)); /* 1965 */
	OK(s->ops->install_touch(s, "i1", NULL, -315532800000LL, -1)); /* 1960: older */
	OK(s->ops->ident_list(s, "p_1", collect_ident, &l));
	EXPECT(l, "installation_id=i1@p_1 NULL -157766400000 -1");
	OK(s->ops->install_touch(s, "i1", NULL, 5000, -1));
	memset(&l, 0, sizeof(l));
	OK(s->ops->ident_list(s, "p_1", collect_ident, &l));
	EXPECT(l, "installation_id=i1@p_1 NULL 5000 -1");
	/* seen at the epoch itself: 0 is a time, not "never" */
	OK(s->ops->ident_put(s, "installation_id", "i2", "p_2"));
	OK(s->ops->install_touch(s, "i2", NULL, 0, -1));
	OK(s->ops->install_touch(s, "i2", NULL, -1000, -1)); /* older: kept out */
	memset(&l, 0, sizeof(l));
	OK(s->ops->ident_list(s, "p_2", collect_ident, &l));
	EXPECT(l, "installation_id=i2@p_2 NULL 0 -1");
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* ---- attributes and consent ------------------------------------------------- */

static void put_attr(struct store *s, const char *pid, const char *key, const char *json,
		     int64_t ts)
{
	struct store_attr a = {.key = key, .value_json = json, .type = 0, .ts_ms = ts,
			       .is_deleted = json == NULL, .changed_at_ms = ts + 1};
	OK(s->ops->attr_put(s, pid, &a));
}

static void test_attributes_put_get_list_and_find(void)
{
	WORLD(w);
	struct store_attr a;
	struct list l = {0};

	OK(s->ops->begin(s));
	put_profile(s, "p_1", 1, NULL);
	put_profile(s, "p_2", 2, NULL);
	put_profile(s, "p_3", 3, NULL);
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "name", &a), 0);
	put_attr(s, "p_1", "name", "\"Ann\"", 10);
	put_attr(s, "p_1", "Zeta", "[1,2]", 11);
	put_attr(s, "p_1", "$email_address", "\"a@x.io\"", 12);
	put_attr(s, "p_2", "$email_address", "\"a@x.io\"", 13);
	put_attr(s, "p_3", "$email_address", "\"a@x.io\"", 14);
	put_attr(s, "p_1", "name", "\"Anna\"", 15);
	put_attr(s, "p_1", "gone", NULL, 16);
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "name", &a), 1);
	CU_ASSERT_STRING_EQUAL(a.value_json, "\"Anna\"");
	CU_ASSERT_EQUAL(a.ts_ms, 15);
	CU_ASSERT_EQUAL(a.changed_at_ms, 16);
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "gone", &a), 1);
	CU_ASSERT_PTR_NULL(a.value_json);
	CU_ASSERT_EQUAL(a.is_deleted, 1);
	OK(s->ops->attr_list(s, "p_1", collect_attr, &l));
	EXPECT(l, "$email_address=\"a@x.io\" t0 12 d0 13", "Zeta=[1,2] t0 11 d0 12",
	       "gone=NULL t0 16 d1 17", "name=\"Anna\" t0 15 d0 16");
	/* live profiles only, by id; a deleted value is not a match */
	OK(s->ops->profile_mark_merged(s, "p_3", "p_1", 1));
	memset(&l, 0, sizeof(l));
	OK(s->ops->attr_find_profiles(s, "$email_address", "\"a@x.io\"", "", 0, collect_profile,
				      &l));
	EXPECT(l, "p_1 1 anon -", "p_2 2 anon -");
	/* a page: after an id, at most limit of them */
	memset(&l, 0, sizeof(l));
	OK(s->ops->attr_find_profiles(s, "$email_address", "\"a@x.io\"", "p_1", 1,
				      collect_profile, &l));
	EXPECT(l, "p_2 2 anon -");
	memset(&l, 0, sizeof(l));
	OK(s->ops->attr_find_profiles(s, "$email_address", "\"a@x.io\"", "", 1, collect_profile,
				      &l));
	EXPECT(l, "p_1 1 anon -");
	/* only the looked-up keys ($email_address, $phone_number) are found */
	memset(&l, 0, sizeof(l));
	OK(s->ops->attr_find_profiles(s, "name", "\"Anna\"", "", 0, collect_profile, &l));
	CU_ASSERT_EQUAL(l.n, 0);
	put_attr(s, "p_2", "$email_address", NULL, 20);
	memset(&l, 0, sizeof(l));
	OK(s->ops->attr_find_profiles(s, "$email_address", "\"a@x.io\"", "", 0, collect_profile,
				      &l));
	EXPECT(l, "p_1 1 anon -");
	OK(s->ops->attr_delete_profile(s, "p_1"));
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "name", &a), 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* A deleted attribute's row is a tombstone: its value is not kept,
 * whatever the caller passed. */
static void test_a_deleted_attribute_keeps_no_value(void)
{
	WORLD(w);
	struct store_attr a = {.key = "plan", .value_json = "\"gold\"", .ts_ms = 5,
			       .is_deleted = 1, .changed_at_ms = 5};
	struct store_attr got;

	OK(s->ops->begin(s));
	OK(s->ops->attr_put(s, "p_1", &a));
	CU_ASSERT_EQUAL_FATAL(s->ops->attr_get(s, "p_1", "plan", &got), 1);
	CU_ASSERT(got.is_deleted);
	CU_ASSERT_PTR_NULL(got.value_json);
	a.key = "tier";
	OK(s->ops->attr_put_newer(s, "p_1", &a));
	CU_ASSERT_EQUAL_FATAL(s->ops->attr_get(s, "p_1", "tier", &got), 1);
	CU_ASSERT_PTR_NULL(got.value_json);
	OK(s->ops->commit(s));
	world_stop(&w);
}

static void test_consent_keeps_unset_state_as_null(void)
{
	WORLD(w);
	struct store_consent c = {.channel = "sms_marketing", .state = NULL, .ts_ms = 5,
				  .source = "web"};
	struct store_consent got;
	struct list l = {0};

	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "email_marketing", &got), 0);
	OK(s->ops->consent_put(s, "p_1", &c));
	c.channel = "email_marketing";
	c.state = "subscribed";
	OK(s->ops->consent_put(s, "p_1", &c));
	c.state = "unsubscribed";
	c.ts_ms = 9;
	c.source = "crm";
	OK(s->ops->consent_put(s, "p_1", &c));
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "email_marketing", &got), 1);
	CU_ASSERT_STRING_EQUAL(got.state, "unsubscribed");
	CU_ASSERT_STRING_EQUAL(got.source, "crm");
	CU_ASSERT_EQUAL(got.ts_ms, 9);
	OK(s->ops->consent_list(s, "p_1", collect_consent, &l));
	EXPECT(l, "email_marketing=unsubscribed 9 crm", "sms_marketing=NULL 5 web");
	OK(s->ops->consent_delete_profile(s, "p_1"));
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "sms_marketing", &got), 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* A first unset state (nothing stored for the channel) is stored with its
 * time, so an older state cannot win later, but it changes nothing: the
 * channel read unset before and after.  A later unset over a state is a
 * change. */
static void test_consent_a_first_unset_is_stored_but_no_change(void)
{
	WORLD(w);
	struct store_consent c = {.channel = "sms_marketing", .state = NULL, .ts_ms = 200,
				  .source = "web"};
	struct store_consent got;

	OK(s->ops->begin(s));
	put_profile(s, "p_1", 1, NULL);
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 0);
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "sms_marketing", &got), 1);
	CU_ASSERT_PTR_NULL(got.state);
	CU_ASSERT_EQUAL(got.ts_ms, 200);
	c.state = "subscribed";
	c.ts_ms = 100;
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 0); /* older: kept out */
	c.ts_ms = 300;
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 1);
	c.state = NULL;
	c.ts_ms = 400;
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 1); /* subscribed -> unset */
	c.ts_ms = 500;
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 0); /* unset again */
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "sms_marketing", &got), 1);
	CU_ASSERT_EQUAL(got.ts_ms, 500);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* attr_put_newer / consent_put_newer: the stored write stays when it is
 * newer; a tie or a newer write replaces it; a delete is a write too;
 * consent_put_newer says whether the state changed. */
static void test_put_newer_keeps_the_later_write_ties_replace(void)
{
	WORLD(w);
	struct store_attr a = {.key = "plan", .value_json = "\"gold\"", .ts_ms = 200,
			       .changed_at_ms = 200};
	struct store_consent c = {.channel = "email_marketing", .state = "subscribed",
				  .ts_ms = 200, .source = "web"};
	struct store_attr got;
	struct store_consent gc;

	OK(s->ops->begin(s));
	put_profile(s, "p_1", 1, NULL);
	OK(s->ops->attr_put_newer(s, "p_1", &a)); /* none stored: written */
	a.value_json = "\"old\"";
	a.ts_ms = a.changed_at_ms = 100;
	OK(s->ops->attr_put_newer(s, "p_1", &a)); /* older: kept out */
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "plan", &got), 1);
	CU_ASSERT_STRING_EQUAL(got.value_json, "\"gold\"");
	CU_ASSERT_EQUAL(got.ts_ms, 200);
	a.value_json = "\"tie\"";
	a.ts_ms = a.changed_at_ms = 200;
	OK(s->ops->attr_put_newer(s, "p_1", &a)); /* a tie: the later arrival wins */
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "plan", &got), 1);
	CU_ASSERT_STRING_EQUAL(got.value_json, "\"tie\"");
	a.value_json = NULL;
	a.is_deleted = 1;
	a.ts_ms = a.changed_at_ms = 300;
	OK(s->ops->attr_put_newer(s, "p_1", &a)); /* a newer delete: a tombstone */
	a.value_json = "\"back\"";
	a.is_deleted = 0;
	a.ts_ms = a.changed_at_ms = 250;
	OK(s->ops->attr_put_newer(s, "p_1", &a)); /* older than the tombstone */
	CU_ASSERT_EQUAL(s->ops->attr_get(s, "p_1", "plan", &got), 1);
	CU_ASSERT_PTR_NULL(got.value_json);
	CU_ASSERT_EQUAL(got.is_deleted, 1);
	CU_ASSERT_EQUAL(got.ts_ms, 300);

	/* 1 when the state changed (none stored counts), else 0 */
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 1);
	c.state = "unsubscribed";
	c.ts_ms = 100;
	c.source = "crm";
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 0); /* older: kept out */
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "email_marketing", &gc), 1);
	CU_ASSERT_STRING_EQUAL(gc.state, "subscribed");
	CU_ASSERT_STRING_EQUAL(gc.source, "web");
	c.ts_ms = 200;
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 1); /* a tie replaces */
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "email_marketing", &gc), 1);
	CU_ASSERT_STRING_EQUAL(gc.state, "unsubscribed");
	CU_ASSERT_STRING_EQUAL(gc.source, "crm");
	CU_ASSERT_EQUAL(gc.ts_ms, 200);
	c.ts_ms = 250;
	c.source = "app";
	/* the same state newer: no change, its time and source taken */
	CU_ASSERT_EQUAL(s->ops->consent_put_newer(s, "p_1", &c), 0);
	CU_ASSERT_EQUAL(s->ops->consent_get(s, "p_1", "email_marketing", &gc), 1);
	CU_ASSERT_STRING_EQUAL(gc.state, "unsubscribed");
	CU_ASSERT_STRING_EQUAL(gc.source, "app");
	CU_ASSERT_EQUAL(gc.ts_ms, 250);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* attr_put_newer: a write 1 ms older than the stored one stays out; a
 * newer one replaces every column, its type and change time too. */
static void test_put_newer_keeps_out_1_ms_older_and_replaces_every_column(void)
{
	WORLD(w);
	struct store_attr a = {.key = "plan", .value_json = "\"gold\"", .type = 1, .ts_ms = 200,
			       .changed_at_ms = 900};
	struct list l = {0};

	OK(s->ops->begin(s));
	OK(s->ops->attr_put_newer(s, "p_1", &a));
	a.value_json = "\"old\"";
	a.type = 2;
	a.ts_ms = 199;
	a.changed_at_ms = 950;
	OK(s->ops->attr_put_newer(s, "p_1", &a));
	OK(s->ops->attr_list(s, "p_1", collect_attr, &l));
	EXPECT(l, "plan=\"gold\" t1 200 d0 900");
	a.value_json = "\"new\"";
	a.type = 3;
	a.ts_ms = 201;
	a.changed_at_ms = 990;
	OK(s->ops->attr_put_newer(s, "p_1", &a));
	memset(&l, 0, sizeof(l));
	OK(s->ops->attr_list(s, "p_1", collect_attr, &l));
	EXPECT(l, "plan=\"new\" t3 201 d0 990");
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* ---- events ------------------------------------------------------------- */

static void test_events_list_newest_first_and_page_with_before(void)
{
	/* ties on ts, and on (ts, message_id): seq decides */
	static const struct { int64_t ts; const char *mid; } rows[] = {
		{100, "m-b"}, {300, "m-a"}, {100, "m-c"}, {200, "m-z"}, {100, "m-b"},
		{300, "m-a"}, {200, "M-z"}, {50, "m-q"},
	};
	static const char *const order[] = {"m-a", "m-a", "m-z", "M-z", "m-c", "m-b", "m-b", "m-q"};
	WORLD(w);
	struct events all = {0}, page = {0};
	int64_t count = 0, last = 0;

	OK(s->ops->begin(s));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct store_event e = {.profile_id = "p_1", .ts_ms = rows[i].ts, .source = "web",
					.message_id = rows[i].mid, .name = "Viewed",
					.properties_json = "{\"i\":1}"};
		OK(s->ops->event_insert(s, &e));
	}
	OK(s->ops->event_list(s, "p_1", NULL, 0, collect_event, &all));
	CU_ASSERT_EQUAL_FATAL(all.n, 8);
	for (size_t i = 0; i < all.n; i++) {
		CU_ASSERT_STRING_EQUAL(all.mid[i], order[i]);
		if (i > 0 && all.e[i].ts_ms == all.e[i - 1].ts_ms &&
		    strcmp(all.mid[i], all.mid[i - 1]) == 0)
			CU_ASSERT(all.e[i].seq < all.e[i - 1].seq);
	}
	/* pages of 3 after the last one seen give the same sequence */
	for (const struct store_event *before = NULL;;) {
		struct events one = {0};
		OK(s->ops->event_list(s, "p_1", before, 3, collect_event, &one));
		for (size_t i = 0; i < one.n; i++) {
			page.e[page.n] = one.e[i];
			memcpy(page.mid[page.n], one.mid[i], sizeof(page.mid[0]));
			page.e[page.n].message_id = page.mid[page.n];
			page.n++;
		}
		if (one.n < 3)
			break;
		before = &page.e[page.n - 1];
	}
	CU_ASSERT_EQUAL(page.n, all.n);
	for (size_t i = 0; i < page.n && i < all.n; i++) {
		CU_ASSERT_EQUAL(page.e[i].seq, all.e[i].seq);
		CU_ASSERT_STRING_EQUAL(page.mid[i], all.mid[i]);
	}
	{ /* a page after a row holds at most the limit */
		struct events two = {0};
		OK(s->ops->event_list(s, "p_1", &all.e[0], 2, collect_event, &two));
		CU_ASSERT_EQUAL(two.n, 2);
	}
	OK(s->ops->event_stats(s, "p_1", &count, &last));
	CU_ASSERT_EQUAL(count, 8);
	CU_ASSERT_EQUAL(last, 300);
	OK(s->ops->event_stats(s, "p_none", &count, &last));
	CU_ASSERT_EQUAL(count, 0);
	CU_ASSERT_EQUAL(last, 0);
	OK(s->ops->event_move(s, "p_1", "p_2"));
	OK(s->ops->event_stats(s, "p_2", &count, &last));
	CU_ASSERT_EQUAL(count, 8);
	OK(s->ops->event_delete_profile(s, "p_2"));
	OK(s->ops->event_stats(s, "p_2", &count, &last));
	CU_ASSERT_EQUAL(count, 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* ---- identity log -------------------------------------------------------- */

static void test_identity_log_lists_in_append_order_with_the_other_side(void)
{
	WORLD(w);
	struct list l = {0};
	const struct store_log_entry rows[] = { /* seq 0: the store numbers them */
		{0, 900, "p_1", "create", "custom_id", "u1", NULL, "login"},
		{0, 100, "p_2", "create", NULL, NULL, NULL, NULL},
		{0, 500, "p_1", "merge", NULL, NULL, "p_2", "record m1 (web)"},
		{0, 200, "p_3", "move", "installation_id", "i1", "p_1", "logout"},
		{0, 300, "p_4", "merge", NULL, NULL, "p_4", "itself"}, /* listed once */
	};

	OK(s->ops->begin(s));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		OK(s->ops->log_append(s, &rows[i]));
	OK(s->ops->log_page(s, "p_1", 0, 100, collect_log, &l));
	EXPECT(l, "900 p_1 create custom_id=u1 NULL login",
	       "500 p_1 merge NULL=NULL p_2 record m1 (web)",
	       "200 p_3 move installation_id=i1 p_1 logout");
	/* p_2's own row goes; p_1's row naming it stays p_1's, without it */
	OK(s->ops->log_delete_profile(s, "p_2"));
	memset(&l, 0, sizeof(l));
	OK(s->ops->log_page(s, "p_1", 0, 100, collect_log, &l));
	EXPECT(l, "900 p_1 create custom_id=u1 NULL login",
	       "500 p_1 merge NULL=NULL NULL record m1 (web)",
	       "200 p_3 move installation_id=i1 p_1 logout");
	memset(&l, 0, sizeof(l));
	OK(s->ops->log_page(s, "p_2", 0, 100, collect_log, &l));
	CU_ASSERT_EQUAL(l.n, 0);
	memset(&l, 0, sizeof(l));
	OK(s->ops->log_page(s, "p_4", 0, 100, collect_log, &l));
	EXPECT(l, "300 p_4 merge NULL=NULL p_4 itself");
	OK(s->ops->commit(s));
	world_stop(&w);
}

#define LOG_ROWS_MAX 512

struct log_rows {
	int64_t seq[LOG_ROWS_MAX];
	char reason[LOG_ROWS_MAX][16];
	size_t n;
};

static int collect_log_row(void *ctx, const struct store_log_entry *e)
{
	struct log_rows *l = ctx;
	if (l->n == LOG_ROWS_MAX)
		return 1;
	l->seq[l->n] = e->seq;
	snprintf(l->reason[l->n], sizeof(l->reason[0]), "%s", NUL(e->reason));
	l->n++;
	return 0;
}

/* The log read page by page of `limit` rows, each after the last row of
 * the one before, into *out; the last page is short (maybe empty).
 * Returns the number of pages. */
static size_t log_read_paged(struct store *s, const char *pid, size_t limit, struct log_rows *out)
{
	size_t n_pages = 0;
	int64_t after = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		size_t before = out->n;
		CU_ASSERT_EQUAL_FATAL(s->ops->log_page(s, pid, after, limit, collect_log_row, out),
				      0);
		n_pages++;
		CU_ASSERT(out->n - before <= limit);
		if (out->n - before < limit || n_pages > LOG_ROWS_MAX)
			return n_pages;
		after = out->seq[out->n - 1];
	}
}

/* log_page: a profile's rows (its own, and the rows naming it as the other
 * profile, not the others of the profiles that wrote those) in seq order,
 * which is append order whatever their times, at most `limit`, strictly
 * after a seq: pages of any size join up to the whole log, each row once,
 * inside a transaction and after its commit. */
static void test_identity_log_pages_in_seq_order_after_a_seq(void)
{
	WORLD(w);
	static struct log_rows all, paged;
	static const size_t limits[] = {1, 7, 199, 200, 201, 1000};
	char want[16];
	size_t k = 0;

	/* 300 rows: i % 3 == 0 on p_1; 1 on p_2 naming p_3; 2 on p_3 naming
	 * p_1 (a move away from it).  Times run backwards. */
	OK(s->ops->begin(s));
	for (int i = 0; i < 300; i++) {
		char reason[16];
		struct store_log_entry e = {
			.at_ms = 100000 - i,
			.profile_id = i % 3 == 0 ? "p_1" : i % 3 == 1 ? "p_2" : "p_3",
			.action = i % 3 == 2 ? "move" : "attach",
			.id_type = "installation_id",
			.id_value = "i1",
			.other_profile_id = i % 3 == 0 ? NULL : i % 3 == 1 ? "p_3" : "p_1",
			.reason = reason,
		};
		snprintf(reason, sizeof(reason), "r%d", i);
		OK(s->ops->log_append(s, &e));
	}
	CU_ASSERT_EQUAL(log_read_paged(s, "p_1", 1000, &all), 1);
	OK(s->ops->commit(s));

	/* p_1's 200 rows, in the order appended, seqs rising from 1 on */
	CU_ASSERT_EQUAL_FATAL(all.n, 200);
	for (int i = 0; i < 300; i++) {
		if (i % 3 == 1)
			continue;
		snprintf(want, sizeof(want), "r%d", i);
		CU_ASSERT_STRING_EQUAL(all.reason[k], want);
		CU_ASSERT(all.seq[k] > (k ? all.seq[k - 1] : 0));
		k++;
	}
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		size_t n_pages = log_read_paged(s, "p_1", limits[i], &paged);
		CU_ASSERT_EQUAL(n_pages, 200 / limits[i] + 1);
		CU_ASSERT_EQUAL(paged.n, all.n);
		CU_ASSERT(memcmp(paged.seq, all.seq, sizeof(all.seq)) == 0);
		CU_ASSERT(memcmp(paged.reason, all.reason, sizeof(all.reason)) == 0);
	}
	/* after the last row: nothing; after a seq of no row of p_1's: the
	 * rows after it */
	memset(&paged, 0, sizeof(paged));
	OK(s->ops->log_page(s, "p_1", all.seq[199], 10, collect_log_row, &paged));
	CU_ASSERT_EQUAL(paged.n, 0);
	OK(s->ops->log_page(s, "p_1", all.seq[1] - 1, 2, collect_log_row, &paged));
	CU_ASSERT_EQUAL(paged.n, 2);
	CU_ASSERT_STRING_EQUAL(paged.reason[0], "r2");
	CU_ASSERT_STRING_EQUAL(paged.reason[1], "r3");
	/* p_2: its own 100 rows, not p_3's naming p_1; p_3: its own and p_2's
	 * naming it */
	CU_ASSERT_EQUAL(log_read_paged(s, "p_2", 64, &paged), 2);
	CU_ASSERT_EQUAL(paged.n, 100);
	CU_ASSERT_STRING_EQUAL(paged.reason[0], "r1");
	log_read_paged(s, "p_3", 64, &paged);
	CU_ASSERT_EQUAL(paged.n, 200);
	world_stop(&w);
}

/* ---- outbox and dead letters ------------------------------------------------ */

static void append_change(struct store *s, const char *kind, const char *pid, int64_t at,
			  const char *payload)
{
	struct store_change c = {.kind = kind, .profile_id = pid, .at_ms = at,
				 .payload_json = payload};
	OK(s->ops->outbox_append(s, &c));
}

struct seqs {
	int64_t v[64];
	size_t n;
};

static int collect_seq(void *ctx, const struct store_change *c)
{
	struct seqs *l = ctx;
	if (l->n < 64)
		l->v[l->n++] = c->seq;
	return 0;
}

static int count_change(void *ctx, const struct store_change *c)
{
	(void)c;
	++*(size_t *)ctx;
	return 0;
}

static int count_dead(void *ctx, const struct store_dead_letter *d)
{
	(void)d;
	++*(size_t *)ctx;
	return 0;
}

/* A limit of 0 reads a page of the default size: 1,000 changes of the
 * feed, 100 dead letters.  A dead letter of a change without a profile is
 * kept. */
static void test_a_limit_of_0_reads_the_default_page(void)
{
	WORLD(w);
	struct store_dead_letter d = {.export_name = "hook", .at_ms = 1, .reason = "HTTP 400",
				      .change_json = "{}"};
	struct list l = {0};
	size_t n = 0;

	OK(s->ops->begin(s));
	for (int i = 0; i < 1001; i++)
		append_change(s, "event", "p_1", i, "{}");
	for (int i = 1; i <= 101; i++) {
		d.seq = i;
		d.profile_id = i == 101 ? NULL : "p_1";
		OK(s->ops->dead_letter_put(s, &d));
	}
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, count_change, &n));
	CU_ASSERT_EQUAL(n, 1000);
	n = 0;
	OK(s->ops->dead_letter_list(s, "hook", 0, 0, count_dead, &n));
	CU_ASSERT_EQUAL(n, 100);
	OK(s->ops->dead_letter_list(s, "hook", 100, 0, collect_dead, &l));
	EXPECT(l, "hook 101 1 HTTP 400 {}");
	world_stop(&w);
}

static void test_outbox_reads_in_seq_order_after_a_cursor(void)
{
	WORLD(w);
	struct list l = {0};
	struct seqs a = {0}, b = {0};

	OK(s->ops->begin(s));
	append_change(s, "profile_updated", "p_1", 10, "{}");
	append_change(s, "event", "p_2", 11, "{\"name\":\"a \\\"b\\\"\"}");
	append_change(s, "merged", "p_1", 12, "{\"merged_from\":[\"p_3\"]}");
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	append_change(s, "event", "p_9", 13, "{}"); /* rolled back: never read */
	OK(s->ops->rollback(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &a));
	CU_ASSERT_EQUAL_FATAL(a.n, 3);
	CU_ASSERT(a.v[0] < a.v[1] && a.v[1] < a.v[2]);
	OK(s->ops->outbox_read(s, a.v[0], 1, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	{
		char want[160];
		snprintf(want, sizeof(want), "%lld event p_2 11 {\"name\":\"a \\\"b\\\"\"}",
			 (long long)a.v[1]);
		CU_ASSERT_STRING_EQUAL(l.text[0], want);
	}
	OK(s->ops->begin(s));
	OK(s->ops->outbox_delete_profile(s, "p_2"));
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &b));
	CU_ASSERT_EQUAL_FATAL(b.n, 2);
	CU_ASSERT_EQUAL(b.v[0], a.v[0]);
	CU_ASSERT_EQUAL(b.v[1], a.v[2]);
	world_stop(&w);
}

/* An erase deletes a profile's pending changes, maybe the newest rows;
 * what comes after must still number past everything an exporter may
 * have read, or the exporter skips it. */
static void test_outbox_seq_is_not_reused_after_an_erase(void)
{
	WORLD(w);
	struct seqs a = {0}, b = {0};

	OK(s->ops->begin(s));
	append_change(s, "profile_updated", "p_2", 10, "{}");
	append_change(s, "profile_updated", "p_1", 11, "{}");
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &a));
	CU_ASSERT_EQUAL_FATAL(a.n, 2);
	OK(s->ops->begin(s));
	OK(s->ops->outbox_delete_profile(s, "p_1"));
	append_change(s, "erased", "p_1", 14, "{\"identifier_types\":[]}");
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &b));
	CU_ASSERT_EQUAL_FATAL(b.n, 2);
	CU_ASSERT(b.v[1] > a.v[1]);
	world_stop(&w);
}

/* Pruning deletes in seq order, at most `limit`, never past `upto`; the
 * seqs after it stay, and new changes still number past the pruned ones. */
static void test_outbox_prune_deletes_the_oldest_up_to_a_seq(void)
{
	WORLD(w);
	struct seqs a = {0}, b = {0}, c = {0};
	size_t n = 99;

	OK(s->ops->begin(s));
	for (int i = 0; i < 6; i++)
		append_change(s, "profile_updated", i % 2 ? "p_1" : "p_2", 10 + i, "{}");
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &a));
	CU_ASSERT_EQUAL_FATAL(a.n, 6);

	OK(s->ops->begin(s));
	OK(s->ops->outbox_prune(s, a.v[5], 0, &n)); /* a limit of 0: none */
	CU_ASSERT_EQUAL(n, 0);
	OK(s->ops->outbox_prune(s, a.v[3], 3, &n)); /* the limit stops it */
	CU_ASSERT_EQUAL(n, 3);
	OK(s->ops->outbox_prune(s, a.v[3], 3, &n)); /* then the bound */
	CU_ASSERT_EQUAL(n, 1);
	OK(s->ops->outbox_prune(s, a.v[3], 3, &n));
	CU_ASSERT_EQUAL(n, 0);
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &b));
	CU_ASSERT_EQUAL_FATAL(b.n, 2);
	CU_ASSERT_EQUAL(b.v[0], a.v[4]);
	CU_ASSERT_EQUAL(b.v[1], a.v[5]);

	/* everything goes; a new change numbers past all of it */
	OK(s->ops->begin(s));
	OK(s->ops->outbox_prune(s, a.v[5], 100, &n));
	CU_ASSERT_EQUAL(n, 2);
	append_change(s, "event", "p_3", 20, "{}");
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &c));
	CU_ASSERT_EQUAL_FATAL(c.n, 1);
	CU_ASSERT(c.v[0] > a.v[5]);
	world_stop(&w);
}

/* A prune stopped by its limit deletes the oldest changes: the feed reads
 * on from the first one it kept. */
static void test_outbox_prune_under_a_limit_deletes_the_oldest_first(void)
{
	WORLD(w);
	struct seqs a = {0}, b = {0};
	size_t n = 0;

	OK(s->ops->begin(s));
	for (int i = 0; i < 5; i++)
		append_change(s, "event", "p_1", 10 + i, "{}");
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &a));
	CU_ASSERT_EQUAL_FATAL(a.n, 5);
	OK(s->ops->begin(s));
	OK(s->ops->outbox_prune(s, a.v[3], 2, &n));
	CU_ASSERT_EQUAL(n, 2);
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &b));
	CU_ASSERT_EQUAL_FATAL(b.n, 3);
	CU_ASSERT(memcmp(b.v, a.v + 2, 3 * sizeof(b.v[0])) == 0);
	world_stop(&w);
}

static void test_dead_letters_replace_by_seq_list_in_order_and_go_with_erase(void)
{
	WORLD(w);
	struct list l = {0};
	struct store_dead_letter d = {.export_name = "hook", .seq = 7, .profile_id = "p_1",
				      .at_ms = 1, .reason = "HTTP 400", .change_json = "{\"a\":1}"};

	OK(s->ops->begin(s));
	OK(s->ops->dead_letter_put(s, &d));
	d.seq = 3;
	d.profile_id = "p_2";
	OK(s->ops->dead_letter_put(s, &d));
	d.seq = 7;
	d.profile_id = "p_1";
	d.at_ms = 2;
	d.reason = "HTTP 422";
	OK(s->ops->dead_letter_put(s, &d));
	d.export_name = "other";
	OK(s->ops->dead_letter_put(s, &d));
	OK(s->ops->commit(s));
	OK(s->ops->dead_letter_list(s, "hook", 0, 0, collect_dead, &l));
	EXPECT(l, "hook 3 1 HTTP 400 {\"a\":1}", "hook 7 2 HTTP 422 {\"a\":1}");
	memset(&l, 0, sizeof(l));
	OK(s->ops->dead_letter_list(s, "hook", 0, 1, collect_dead, &l));
	EXPECT(l, "hook 3 1 HTTP 400 {\"a\":1}");
	memset(&l, 0, sizeof(l)); /* the next page: strictly after seq 3 */
	OK(s->ops->dead_letter_list(s, "hook", 3, 0, collect_dead, &l));
	EXPECT(l, "hook 7 2 HTTP 422 {\"a\":1}");
	OK(s->ops->begin(s));
	OK(s->ops->dead_letter_delete_profile(s, "p_1"));
	OK(s->ops->commit(s));
	memset(&l, 0, sizeof(l));
	OK(s->ops->dead_letter_list(s, "hook", 0, 0, collect_dead, &l));
	EXPECT(l, "hook 3 1 HTTP 400 {\"a\":1}");
	memset(&l, 0, sizeof(l));
	OK(s->ops->dead_letter_list(s, "other", 0, 0, collect_dead, &l));
	CU_ASSERT_EQUAL(l.n, 0);
	world_stop(&w);
}

/* A dead letter put again under its seq is the profile's of the last put:
 * an erase of that profile deletes it, an erase of the one before not. */
static void test_a_dead_letter_put_again_goes_with_its_new_profile(void)
{
	WORLD(w);
	struct store_dead_letter d = {.export_name = "hook", .seq = 5, .profile_id = "p_1",
				      .at_ms = 1, .reason = "HTTP 400", .change_json = "{}"};
	size_t n = 0;

	OK(s->ops->begin(s));
	OK(s->ops->dead_letter_put(s, &d));
	d.profile_id = "p_2";
	OK(s->ops->dead_letter_put(s, &d));
	OK(s->ops->dead_letter_delete_profile(s, "p_1"));
	OK(s->ops->commit(s));
	OK(s->ops->dead_letter_list(s, "hook", 0, 0, count_dead, &n));
	CU_ASSERT_EQUAL(n, 1);
	OK(s->ops->begin(s));
	OK(s->ops->dead_letter_delete_profile(s, "p_2"));
	OK(s->ops->commit(s));
	n = 0;
	OK(s->ops->dead_letter_list(s, "hook", 0, 0, count_dead, &n));
	CU_ASSERT_EQUAL(n, 0);
	world_stop(&w);
}

/* dead_letter_delete says whether it deleted (a concurrent retry relies
 * on it: tests/integration/pg_lease.sh), dead_letter_last_seq and
 * dead_letter_count are per export, outbox_hold finds a change until it
 * is deleted. */
static void test_dead_letter_delete_counts_and_outbox_hold_finds(void)
{
	WORLD(w);
	struct store_dead_letter d = {.export_name = "hook", .seq = 4, .profile_id = "p_1",
				      .at_ms = 1, .reason = "HTTP 400", .change_json = "{}"};
	struct list l = {0};
	int64_t last = -1;

	OK(s->ops->dead_letter_last_seq(s, "hook", &last));
	CU_ASSERT_EQUAL(last, 0);
	OK(s->ops->begin(s));
	OK(s->ops->dead_letter_put(s, &d));
	d.seq = 9;
	OK(s->ops->dead_letter_put(s, &d));
	d.export_name = "other";
	d.seq = 20;
	OK(s->ops->dead_letter_put(s, &d));
	append_change(s, "event", "p_1", 1, "{}");
	OK(s->ops->commit(s));
	OK(s->ops->dead_letter_last_seq(s, "hook", &last));
	CU_ASSERT_EQUAL(last, 9);
	OK(s->ops->dead_letter_count(s, "hook", &last));
	CU_ASSERT_EQUAL(last, 2);
	OK(s->ops->dead_letter_count(s, "nobody", &last));
	CU_ASSERT_EQUAL(last, 0);
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete(s, "hook", 9), 1);
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete(s, "hook", 9), 0);
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete(s, "hook", 20), 0); /* other's */
	OK(s->ops->outbox_read(s, 0, 1, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_EQUAL(s->ops->outbox_hold(s, strtoll(l.text[0], NULL, 10)), 1);
	CU_ASSERT_EQUAL(s->ops->outbox_hold(s, strtoll(l.text[0], NULL, 10) + 1000), 0);
	CU_ASSERT_EQUAL(s->ops->outbox_hold(s, strtoll(l.text[0], NULL, 10) - 1), 0);
	OK(s->ops->outbox_delete_profile(s, "p_1"));
	CU_ASSERT_EQUAL(s->ops->outbox_hold(s, strtoll(l.text[0], NULL, 10)), 0);
	OK(s->ops->commit(s));
	OK(s->ops->dead_letter_last_seq(s, "hook", &last));
	CU_ASSERT_EQUAL(last, 4);
	OK(s->ops->dead_letter_count(s, "hook", &last));
	CU_ASSERT_EQUAL(last, 1);
	world_stop(&w);
}

struct meta_seen {
	char text[512];
};

static int meta_add(void *ctx, const char *key, const char *value)
{
	struct meta_seen *m = ctx;
	size_t n = strlen(m->text);
	snprintf(m->text + n, sizeof(m->text) - n, "%s=%s;", key, value);
	return 0;
}

static int meta_add_first(void *ctx, const char *key, const char *value)
{
	meta_add(ctx, key, value);
	return 1;
}

/* meta_list matches a prefix as bytes (no LIKE: '_' and '%' are plain),
 * in key order, and stops when the callback says so; meta_delete deletes
 * one key, none there being no error. */
static void test_meta_list_by_prefix_and_delete(void)
{
	WORLD(w);
	struct meta_seen m = {""};

	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k:b", "2"));
	OK(s->ops->meta_put(s, "k:a_%", "1"));
	OK(s->ops->meta_put(s, "k:é", "3"));
	OK(s->ops->meta_put(s, "kx", "4"));
	OK(s->ops->meta_put(s, "k", "5"));
	OK(s->ops->commit(s));
	OK(s->ops->meta_list(s, "k:", meta_add, &m));
	CU_ASSERT_STRING_EQUAL(m.text, "k:a_%=1;k:b=2;k:é=3;");
	m.text[0] = '\0';
	OK(s->ops->meta_list(s, "k:a_", meta_add, &m));
	CU_ASSERT_STRING_EQUAL(m.text, "k:a_%=1;");
	m.text[0] = '\0';
	OK(s->ops->meta_list(s, "k:_", meta_add, &m));
	CU_ASSERT_STRING_EQUAL(m.text, "");
	OK(s->ops->meta_list(s, "k:", meta_add_first, &m));
	CU_ASSERT_STRING_EQUAL(m.text, "k:a_%=1;");
	OK(s->ops->begin(s));
	OK(s->ops->meta_delete(s, "k:b"));
	OK(s->ops->meta_delete(s, "k:none"));
	OK(s->ops->commit(s));
	m.text[0] = '\0';
	OK(s->ops->meta_list(s, "k:", meta_add, &m));
	CU_ASSERT_STRING_EQUAL(m.text, "k:a_%=1;k:é=3;");
	world_stop(&w);
}

/* ---- transactions -------------------------------------------------------- */

static void write_batch(struct store *s, const char *tag)
{
	char pid[32], mid[32];
	struct store_event e = {.ts_ms = 1, .source = "web", .name = "x", .properties_json = "{}"};
	snprintf(pid, sizeof(pid), "p_%s", tag);
	snprintf(mid, sizeof(mid), "m_%s", tag);
	e.profile_id = pid;
	e.message_id = mid;
	put_profile(s, pid, 1000 + tag[0], NULL);
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "web", mid), 1);
	OK(s->ops->ident_put(s, "custom_id", tag, pid));
	put_attr(s, pid, "k", "1", 1);
	OK(s->ops->event_insert(s, &e));
	append_change(s, "profile_updated", pid, 1, "{}");
	OK(s->ops->meta_put(s, tag, "v"));
}

/* 1 when every trace of write_batch(tag) is there, 0 when none is. */
static int batch_present(struct store *s, const char *tag)
{
	char pid[PROFILE_ID_SIZE], v[8], mid[32];
	struct store_profile p;
	struct store_attr a;
	int64_t n = 0, last = 0;
	int found = s->ops->ident_get(s, "custom_id", tag, pid);
	int all = found;

	snprintf(pid, sizeof(pid), "p_%s", tag);
	snprintf(mid, sizeof(mid), "m_%s", tag);
	all += s->ops->profile_get(s, pid, &p);
	all += s->ops->attr_get(s, pid, "k", &a);
	all += s->ops->meta_get(s, tag, v, sizeof(v));
	CU_ASSERT_EQUAL(s->ops->event_stats(s, pid, &n, &last), 0);
	all += (int)n;
	return all == 5 ? 1 : all == 0 ? 0 : -1;
}

/* A transaction: batch "a" written and released, batch "b" written in its
 * savepoint. */
static void begin_batch_a_then_b(struct store *s)
{
	OK(s->ops->begin(s));
	OK(s->ops->savepoint(s));
	write_batch(s, "a");
	OK(s->ops->savepoint_release(s));
	OK(s->ops->savepoint(s));
	write_batch(s, "b");
}

static void test_savepoint_rollback_undoes_only_its_batch(void)
{
	WORLD(w);
	struct seqs seen = {0};

	begin_batch_a_then_b(s);
	OK(s->ops->savepoint_rollback(s));
	OK(s->ops->savepoint(s));
	write_batch(s, "c");
	OK(s->ops->savepoint_release(s));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(batch_present(s, "a"), 1);
	CU_ASSERT_EQUAL(batch_present(s, "b"), 0);
	CU_ASSERT_EQUAL(batch_present(s, "c"), 1);
	/* the rolled-back batch's message is new again */
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->dedupe_add(s, "web", "m_b"), 1);
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_seq, &seen));
	CU_ASSERT_EQUAL(seen.n, 2);
	world_stop(&w);
}

/* A commit that fails (here an injected fault) stores nothing. */
static void test_a_failed_commit_stores_nothing(void)
{
	WORLD(w);
	char v[8];

	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "v"));
	s->fault_calls = 0;
	s->fault_at[0] = 1;
	CU_ASSERT_EQUAL(s->ops->commit(s), -1);
	s->ops->rollback(s);
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "k", v, sizeof(v)), 0);
	world_stop(&w);
}

/* A transaction reads its own changes in the feed, an erase of a profile
 * takes the profile's out (written or not yet), and the rest is stored
 * once. */
static void test_a_transaction_s_changes_are_read_erased_and_stored_once(void)
{
	WORLD(w);
	struct list l = {0};

	OK(s->ops->begin(s));
	append_change(s, "event", "p_1", 1, "{}");
	append_change(s, "event", "p_2", 2, "{}");
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL(l.n, 2);
	append_change(s, "event", "p_1", 3, "{}");
	append_change(s, "event", "p_3", 4, "{}");
	OK(s->ops->outbox_delete_profile(s, "p_1"));
	OK(s->ops->commit(s));
	l.n = 0;
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[0], " p_2 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[1], " p_3 "));
	world_stop(&w);
}

/* A feed read inside a batch writes the changes buffered so far, the
 * earlier batches' too: a rollback to the batch's savepoint then undoes
 * the batch's changes only, and the earlier ones are stored once, also
 * past later batches' rollbacks and the next transaction.  (On PostgreSQL
 * it undid the earlier batches' changes with the batch's.) */
static void test_savepoint_rollback_after_a_feed_read_keeps_earlier_changes(void)
{
	WORLD(w);
	struct list l = {0};

	OK(s->ops->begin(s));
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_kept", 1, "{}");
	OK(s->ops->savepoint_release(s));
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_undone", 2, "{}");
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL(l.n, 2);
	append_change(s, "event", "p_undone_later", 3, "{}");
	OK(s->ops->savepoint_rollback(s));
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_next", 4, "{}");
	l.n = 0;
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL(l.n, 2);
	OK(s->ops->savepoint_release(s));
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_undone_last", 5, "{}");
	OK(s->ops->savepoint_rollback(s));
	OK(s->ops->commit(s));
	/* a transaction rolled back whole inside such a batch: the next one's
	 * changes are all written */
	OK(s->ops->begin(s));
	append_change(s, "event", "p_gone", 6, "{}");
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_gone_too", 6, "{}");
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	OK(s->ops->rollback(s));
	OK(s->ops->begin(s));
	append_change(s, "event", "p_after", 7, "{}");
	OK(s->ops->commit(s));
	l.n = 0;
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[0], " p_kept "));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[1], " p_next "));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[2], " p_after "));
	world_stop(&w);
}

/* An erase inside a batch takes the profile's earlier changes of the
 * transaction out of the feed with its own; a rollback to the batch's
 * savepoint puts them back, and a released erase keeps them out.  (On
 * PostgreSQL the rollback lost the earlier batches' buffered changes of
 * the profile.) */
static void test_savepoint_rollback_of_an_erase_keeps_earlier_changes(void)
{
	WORLD(w);
	struct list l = {0};

	OK(s->ops->begin(s));
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_erased", 1, "{}");
	append_change(s, "event", "p_other", 2, "{}");
	OK(s->ops->savepoint_release(s));
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_erased", 3, "{}");
	OK(s->ops->outbox_delete_profile(s, "p_erased"));
	OK(s->ops->savepoint_rollback(s));
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[0], " p_erased 1 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[1], " p_other 2 "));
	/* released: the stored and the buffered changes go */
	OK(s->ops->begin(s));
	append_change(s, "event", "p_erased", 4, "{}");
	OK(s->ops->savepoint(s));
	append_change(s, "event", "p_erased", 5, "{}");
	OK(s->ops->outbox_delete_profile(s, "p_erased"));
	OK(s->ops->savepoint_release(s));
	OK(s->ops->commit(s));
	l.n = 0;
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[0], " p_other 2 "));
	world_stop(&w);
}

/* A rollback to a batch's savepoint that fails is reported (the caller
 * then rolls the whole transaction back), never as the batch undone. */
static void test_a_failed_savepoint_rollback_is_reported(void)
{
	WORLD(w);

	OK(s->ops->begin(s));
	OK(s->ops->savepoint(s));
	write_batch(s, "a");
	s->fault_calls = 0;
	s->fault_at[0] = 1;
	CU_ASSERT_EQUAL(s->ops->savepoint_rollback(s), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "injected fault"));
	OK(s->ops->rollback(s));
	CU_ASSERT_EQUAL(batch_present(s, "a"), 0);
	world_stop(&w);
}

/* PostgreSQL sends writes down a pipeline and reads their results at
 * least every 256 statements: a read, or the COMMIT, that is the 256th in
 * flight (or near it) gets its own result.  Counts around that bound. */
static void test_a_read_or_commit_at_the_pipelines_bound_gets_its_result(void)
{
	WORLD(w);
	char key[32], value[32];

	for (int k = 0; k < 2 * 13; k++) {
		int n = 250 + k / 2, is_read = k % 2;
		OK(s->ops->begin(s));
		for (int i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "k%d%d_%03d", is_read, n, i);
			OK(s->ops->meta_put(s, key, "v"));
		}
		if (is_read) { /* the read is at the bound */
			snprintf(key, sizeof(key), "k%d%d_000", is_read, n);
			CU_ASSERT_EQUAL(s->ops->meta_get(s, key, value, sizeof(value)), 1);
		}
		CU_ASSERT_EQUAL(s->ops->commit(s), 0); /* or the COMMIT is */
		snprintf(key, sizeof(key), "k%d%d_%03d", is_read, n, n - 1);
		CU_ASSERT_EQUAL(s->ops->meta_get(s, key, value, sizeof(value)), 1);
	}
	world_stop(&w);
}

/* Also: the open that made the store says where (`run` logs "created a
 * new, empty store at ..."); one that found it made does not. */
static void test_commit_survives_reopen_and_rollback_leaves_nothing(void)
{
	WORLD(w);
	unsigned char key[32];
	struct store *again;

	CU_ASSERT(strstr(s->created_where, w.schema ? w.schema : "hub.db") != NULL);
	memcpy(key, s->id_key, sizeof(key));
	OK(s->ops->begin(s));
	write_batch(s, "a");
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	write_batch(s, "b");
	OK(s->ops->rollback(s));
	store_close(s);
	w.s = NULL;
	again = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	w.s = again;
	CU_ASSERT_EQUAL(batch_present(again, "a"), 1);
	CU_ASSERT_EQUAL(batch_present(again, "b"), 0);
	CU_ASSERT_EQUAL(memcmp(key, again->id_key, sizeof(key)), 0);
	CU_ASSERT_STRING_EQUAL(again->created_where, "");
	world_stop(&w);
}

/* A profile ID is "p_" and the first 80 bits of HMAC-SHA256 under the
 * store's key of its sequence number (8 bytes, most significant first),
 * 5 bits a character, most significant first, from 32 characters without
 * l, o, 0 and 1.  Computed here apart, bit by bit, with OpenSSL's one-shot
 * HMAC: the same store key gives the same IDs on every backend and build. */
static void test_profile_ids_are_the_hmac_of_their_sequence_number(void)
{
	static const char b32[] = "abcdefghijkmnpqrstuvwxyz23456789";
	WORLD(w);
	int64_t last = 0;

	for (int k = 0; k < 50; k++) {
		char id[PROFILE_ID_SIZE], want[PROFILE_ID_SIZE] = "p_";
		unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
		unsigned mac_len = 0;
		int64_t seq = 0;
		uint64_t v;

		OK(s->ops->begin(s));
		OK(store_new_profile_id(s, id, &seq));
		OK(s->ops->commit(s));
		CU_ASSERT(seq > last);
		last = seq;
		v = (uint64_t)seq;
		for (int i = 7; i >= 0; i--, v >>= 8)
			msg[i] = (unsigned char)(v & 0xff);
		CU_ASSERT_PTR_NOT_NULL_FATAL(HMAC(EVP_sha256(), s->id_key, (int)sizeof(s->id_key),
						  msg, sizeof(msg), mac, &mac_len));
		CU_ASSERT_EQUAL_FATAL(mac_len, 32);
		for (int c = 0; c < 16; c++) {
			unsigned sym = 0;
			for (int b = 5 * c; b < 5 * c + 5; b++)
				sym = sym << 1 | ((mac[b / 8] >> (7 - b % 8)) & 1);
			want[2 + c] = b32[sym];
		}
		want[18] = '\0';
		CU_ASSERT_STRING_EQUAL(id, want);
	}
	world_stop(&w);
}

/* PROFILEHUB_ID_KEY that is not 64 hex digits is refused when a new store
 * takes it, by name; nothing takes a key it cannot read. */
static void test_a_fixed_id_key_not_in_hex_is_refused(void)
{
	WORLD(w);
	const char *had = getenv("PROFILEHUB_ID_KEY");
	char *saved = had ? strdup(had) : NULL, *path = NULL, err[512] = "";
	struct store *other = NULL;

	(void)s;
	if (teststore_is_pg())
		goto out; /* store.c's own rule: SQLite shows it */
	CU_ASSERT_FATAL(asprintf(&path, "%s/fixed.db", w.dir) > 0);
	setenv("PROFILEHUB_ID_KEY", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", 1);
	CU_ASSERT_EQUAL(store_sqlite_open(path, &other, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(other);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "PROFILEHUB_ID_KEY: must be 64 hex digits"));
	if (saved)
		setenv("PROFILEHUB_ID_KEY", saved, 1);
	else
		unsetenv("PROFILEHUB_ID_KEY");
out:
	free(saved);
	free(path);
	world_stop(&w);
}

/* A new store given its ID key by PROFILEHUB_ID_KEY says so once, naming
 * the variable (never its value) as meant for tests: a key known outside
 * the store makes its profile IDs guessable.  Opened again, the store has
 * its key: nothing is said.  The variable was read silently. */
static void test_a_fixed_id_key_given_to_a_new_store_is_warned_of(void)
{
	static const char key[] =
		"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
	WORLD(w);
	const char *had = getenv("PROFILEHUB_ID_KEY");
	char *saved = had ? strdup(had) : NULL, *path = NULL, *logged[2] = {NULL, NULL};
	char err[512] = "";
	struct testlib_capture cap;

	(void)s;
	if (teststore_is_pg())
		goto out; /* store.c's own rule: SQLite shows it */
	CU_ASSERT_FATAL(asprintf(&path, "%s/fixed.db", w.dir) > 0);
	setenv("PROFILEHUB_ID_KEY", key, 1);
	for (int i = 0; i < 2; i++) { /* new, then again */
		struct store *other = NULL;

		testlib_capture_begin(&cap);
		CU_ASSERT_EQUAL(store_sqlite_open(path, &other, err, sizeof(err)), 0);
		logged[i] = testlib_capture_end(&cap);
		CU_ASSERT_PTR_NOT_NULL_FATAL(logged[i]);
		if (other)
			store_close(other);
	}
	CU_ASSERT_EQUAL(testlib_lines_with(logged[0], " warn [store] PROFILEHUB_ID_KEY gave"
					   " this new store its profile ID key: it is meant"
					   " for tests"), 1);
	CU_ASSERT_PTR_NULL(strstr(logged[0], key));
	CU_ASSERT_PTR_NULL(strstr(logged[0], "0f1e2d3c"));
	CU_ASSERT_PTR_NULL(strstr(logged[1], "PROFILEHUB_ID_KEY"));
	if (saved)
		setenv("PROFILEHUB_ID_KEY", saved, 1);
	else
		unsetenv("PROFILEHUB_ID_KEY");
out:
	free(logged[0]);
	free(logged[1]);
	free(saved);
	free(path);
	world_stop(&w);
}

/* A damaged id_key is refused by name: 64 hex digits and nothing else.
 * sscanf's %2x took a sign, a space or "0x", and with an odd length read
 * past the end of the text. */
static void test_a_damaged_id_key_is_refused(void)
{
	static const char hex62[] =
		"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1";
	static const char *const bad[] = {
		"abc", "+1" "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1",
		"0x" "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1",
		" 1" "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1",
		"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1zz",
		"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f00f",
	};
	WORLD(w);
	char good[80], err[512];
	struct store *again = NULL;

	CU_ASSERT_EQUAL(strlen(hex62), 62);
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_get(s, "id_key", good, sizeof(good)), 1);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		OK(s->ops->begin(s));
		OK(s->ops->meta_put(s, "id_key", bad[i]));
		OK(s->ops->commit(s));
		err[0] = '\0';
		CU_ASSERT_NOT_EQUAL(store_open(w.cfg, &again, err, sizeof(err)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "the store's id_key is damaged"));
		if (!strstr(err, "damaged"))
			fprintf(stderr, "\n  id_key \"%s\": %s", bad[i], err);
	}
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "id_key", good));
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* Making the ID key of a store that has none fails cleanly at each of its
 * statements (an injected I/O error at the 1st, 2nd, ...): the error is
 * the store's, no key is left half made, and the next load makes one,
 * which stays the store's key from then on.  The third is the read's end:
 * on SQLite its failed ROLLBACK left the transaction open, and every BEGIN
 * after it failed ("within a transaction"); the next begin now ends it. */
static void test_making_the_id_key_fails_cleanly_at_every_statement(void)
{
	WORLD(w);
	unsigned char made[sizeof(s->id_key)];
	char err[512], hex[80];
	int rc = -1;

	for (long n = 1; n <= 20 && rc != 0; n++) {
		OK(s->ops->begin(s));
		OK(s->ops->meta_delete(s, "id_key"));
		OK(s->ops->commit(s));
		s->fault_at[0] = n;
		s->fault_calls = 0;
		err[0] = '\0';
		rc = store_load_id_key(s, err, sizeof(err));
		if (rc == 0) { /* past its last statement: the fault never hit */
			CU_ASSERT(s->fault_at[0] == n);
			s->fault_at[0] = 0;
			break;
		}
		CU_ASSERT_EQUAL(s->fault_at[0], 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "injected fault"));
		CU_ASSERT_EQUAL(s->ops->meta_get(s, "id_key", hex, sizeof(hex)), 0);
		CU_ASSERT_EQUAL(store_load_id_key(s, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(s->ops->meta_get(s, "id_key", hex, sizeof(hex)), 1);
		memcpy(made, s->id_key, sizeof(made));
		memset(s->id_key, 0, sizeof(s->id_key));
		CU_ASSERT_EQUAL(store_load_id_key(s, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(memcmp(made, s->id_key, sizeof(made)), 0);
	}
	CU_ASSERT_EQUAL(rc, 0); /* every statement was failed once */
	world_stop(&w);
}

/* Between read_begin and read_end a reader sees one snapshot: what
 * another connection commits meanwhile shows only afterwards. */
static void test_read_begin_holds_one_snapshot_until_read_end(void)
{
	WORLD(w);
	struct store *r = world_connect(&w);
	char v[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r->ops->read_begin);
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "1"));
	OK(s->ops->commit(s));
	OK(r->ops->read_begin(r));
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", v, sizeof(v)), 1);
	CU_ASSERT_STRING_EQUAL(v, "1");
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "2"));
	OK(s->ops->meta_put(s, "k2", "x"));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", v, sizeof(v)), 1);
	CU_ASSERT_STRING_EQUAL(v, "1");
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k2", v, sizeof(v)), 0);
	OK(r->ops->read_end(r));
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", v, sizeof(v)), 1);
	CU_ASSERT_STRING_EQUAL(v, "2");
	/* and again, on the same connection (a pooled reader) */
	OK(r->ops->read_begin(r));
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k2", v, sizeof(v)), 1);
	OK(r->ops->read_end(r));
	store_close(r);
	world_stop(&w);
}

static void test_ident_lock_leaves_reads_and_writes_as_they_were(void)
{
	WORLD(w);
	const struct store_ident ids[] = {
		{.type = "custom_id", .value = "u\"1\\"}, {.type = "custom_id", .value = "u2"},
		{.type = "installation_id", .value = "i1"},
	};
	char pid[PROFILE_ID_SIZE];

	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "u2", "p_2"));
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	OK(s->ops->ident_lock(s, ids, 3));
	OK(s->ops->ident_lock(s, ids, 0));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "u2", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_2");
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "u\"1\\", pid), 0);
	OK(s->ops->ident_put(s, "custom_id", "u\"1\\", "p_1"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "u\"1\\", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_1");
	OK(s->ops->block_put(s, "installation_id", "i9", 10));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(s->is_retryable, 0);
	world_stop(&w);
}

/* In a locked group (PostgreSQL: its memo answers for the group) reads
 * follow the group's writes: a block put with an earlier end keeps the
 * later one, a later end extends it, a holder's merge and erase move and
 * free what it held, a deleted identifier is not held, and
 * an identifier outside the group that nobody holds is not held. */
static void test_a_locked_group_reads_its_blocks_and_holders_as_written(void)
{
	WORLD(w);
	const struct store_ident c1 = {.type = "custom_id", .value = "c1"};
	char pid[PROFILE_ID_SIZE];

	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_1"));
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	OK(s->ops->ident_lock(s, &c1, 1));
	put_block_ends_keeping_the_later(s);
	OK(s->ops->ident_reassign(s, "p_1", "p_2"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_2");
	OK(s->ops->ident_delete_profile(s, "p_2"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 0);
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_3"));
	OK(s->ops->ident_delete(s, "custom_id", "c1"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 0);
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "nobody", pid), 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* PostgreSQL: ident_lock outside a transaction is refused (its locks
 * would end with the statement, and the memo would outlive them). */
static void test_pg_ident_lock_outside_a_transaction_is_refused(void)
{
	WORLD(w);
	const struct store_ident c1 = {.type = "custom_id", .value = "c1"};

	if (!teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	CU_ASSERT_EQUAL(s->ops->ident_lock(s, &c1, 1), -1);
	world_stop(&w);
}

/* A group of tens of thousands of identifiers, held by as many profiles,
 * is locked in one transaction: on PostgreSQL more than the server's whole
 * lock table (max_locks_per_transaction * max_connections: 12800 on the
 * test server) would hold one lock each (an import failed at its second
 * batch with "out of shared memory"). */
#define MANY_IDS 15000

static void test_ident_lock_of_a_huge_group_fits_the_lock_table(void)
{
	WORLD(w);
	struct store_ident *ids = calloc(2 * MANY_IDS, sizeof(*ids));
	char (*values)[16] = calloc(2 * MANY_IDS, sizeof(*values));
	char pid[PROFILE_ID_SIZE];

	CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
	CU_ASSERT_PTR_NOT_NULL_FATAL(values);
	/* custom_ids c<i> held by p_<i>, then installations nobody holds */
	OK(s->ops->begin(s));
	for (int i = 0; i < 2 * MANY_IDS; i++) {
		int is_held = i < MANY_IDS;
		snprintf(values[i], sizeof(values[i]), "%c%05d", is_held ? 'c' : 'i', i);
		ids[i] = (struct store_ident){.type = is_held ? "custom_id" : "installation_id",
					      .value = values[i]};
		if (is_held) {
			char p[16];
			snprintf(p, sizeof(p), "p_%05d", i);
			OK(s->ops->ident_put(s, "custom_id", values[i], p));
		}
	}
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->ident_lock(s, ids, 2 * MANY_IDS), 0);
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", values[MANY_IDS - 1], pid), 1);
	CU_ASSERT_EQUAL(s->ops->commit(s), 0);
	free(values);
	free(ids);
	world_stop(&w);
}

/* ---- PostgreSQL: the memo of locked identifiers (no server needed) -------- */

static const char *memo_who(struct memo *m, const char *type, const char *value)
{
	static char pid[PROFILE_ID_SIZE];
	struct memo_entry *e = memo_find(m, type, value);
	if (!e || !e->is_owner_known)
		return "?";
	return memo_owner(m, e, pid) ? pid : "-";
}

static void test_pg_memo_follows_merges_moves_and_erases(void)
{
	struct memo m = {0};
	char value[32];

	m.is_on = 1;
	for (int i = 0; i < 1000; i++) { /* enough to grow both indexes */
		snprintf(value, sizeof(value), "i%d", i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(memo_add(&m, "installation_id", value));
		memo_set_owner(&m, "installation_id", value, i % 2 ? "p_odd" : "p_even");
	}
	for (int i = 0; i < 1000; i++) { /* none lost as the indexes grew */
		snprintf(value, sizeof(value), "i%d", i);
		CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", value),
				       i % 2 ? "p_odd" : "p_even");
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(memo_add(&m, "custom_id", "u1"));
	CU_ASSERT_EQUAL(memo_find(&m, "custom_id", "u1")->has_block, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(memo_add(&m, "custom_id", "u2"));
	CU_ASSERT_PTR_EQUAL(memo_add(&m, "custom_id", "u1"), memo_find(&m, "custom_id", "u1"));
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "custom_id", "u1"), "?"); /* not known yet */
	memo_set_owner(&m, "custom_id", "u1", "p_odd");
	memo_set_owner(&m, "custom_id", "u2", NULL);
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "custom_id", "u2"), "-");
	CU_ASSERT_PTR_NULL(memo_find(&m, "custom_id", "i1"));

	/* odd merges into even: everything odd held is even's */
	memo_reassign(&m, "p_odd", "p_even");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i1"), "p_even");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "custom_id", "u1"), "p_even");
	/* one moves on, even merges on, then is erased */
	memo_set_owner(&m, "installation_id", "i3", "p_new");
	memo_reassign(&m, "p_even", "p_survivor");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i998"), "p_survivor");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i999"), "p_survivor");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i3"), "p_new");
	memo_delete_profile(&m, "p_survivor");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i0"), "-");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "custom_id", "u1"), "-");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i3"), "p_new");
	/* a name used again after its merge or erase starts afresh */
	memo_set_owner(&m, "installation_id", "i5", "p_odd");
	memo_set_owner(&m, "installation_id", "i7", "p_survivor");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i5"), "p_odd");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i7"), "p_survivor");
	CU_ASSERT_STRING_EQUAL(memo_who(&m, "installation_id", "i9"), "-");

	m.is_on = 0; /* off: finds nothing, whatever it holds */
	CU_ASSERT_PTR_NULL(memo_find(&m, "installation_id", "i5"));
	m.is_on = 1;
	memo_reset(&m);
	CU_ASSERT_EQUAL(m.is_on, 0);
	CU_ASSERT_PTR_NULL(memo_find(&m, "installation_id", "i5"));
	m.is_on = 1;
	CU_ASSERT_PTR_NULL(memo_find(&m, "installation_id", "i5"));
	memo_free(&m);
}

/* A profile's lock goes with it to its new slot (a merge, an erase); a
 * new profile's slot is not locked. */
static void test_pg_memo_keeps_a_profile_s_lock_across_slots(void)
{
	struct memo m = {0};
	int s;

	m.is_on = 1;
	s = memo_slot(&m, "p_a");
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_EQUAL(m.slots[s].is_locked, 0);
	m.slots[s].is_locked = 1;
	memo_reassign(&m, "p_a", "p_b");
	CU_ASSERT_EQUAL(m.slots[memo_slot(&m, "p_a")].is_locked, 1);
	CU_ASSERT_EQUAL(m.slots[memo_slot(&m, "p_b")].is_locked, 0);
	memo_free(&m);
}

/* A fact the memo cannot record (no memory for a profile's new slot) turns
 * it off: it never answers with what it knew before. */
static void test_pg_memo_turns_off_rather_than_lie(void)
{
	char pid[32];

	for (int op = 0; op < 2; op++) {
		struct memo m = {0};
		m.is_on = 1;
		CU_ASSERT_PTR_NOT_NULL_FATAL(memo_add(&m, "custom_id", "u1"));
		memo_set_owner(&m, "custom_id", "u1", "p_a");
		while (m.n_slots < m.slots_cap) { /* the next slot needs memory */
			snprintf(pid, sizeof(pid), "p_%zu", m.n_slots);
			CU_ASSERT_FATAL(memo_slot(&m, pid) >= 0);
		}
		alloc_fail_after(1);
		if (op == 0)
			memo_reassign(&m, "p_a", "p_b");
		else
			memo_set_owner(&m, "custom_id", "u1", "p_new");
		alloc_fail_after(0);
		CU_ASSERT_EQUAL(m.is_on, 0);
		CU_ASSERT_PTR_NULL(memo_find(&m, "custom_id", "u1"));
		memo_free(&m);
	}
}

/* ---- PostgreSQL: several writers ------------------------------------------ */

struct cross {
	struct store *s;
	const char *value;
	int rc;
};

static void *cross_get(void *arg)
{
	struct cross *c = arg;
	char pid[PROFILE_ID_SIZE];
	c->rc = c->s->ops->ident_get(c->s, "custom_id", c->value, pid);
	if (c->rc < 0)
		c->s->ops->rollback(c->s);
	else
		c->rc = c->s->ops->commit(c->s);
	return NULL;
}

/* Two writers each hold one profile and reach for the other's: the server
 * breaks the deadlock, and the loser says it may retry. */
/* A database that is not UTF-8 would refuse (LATIN1) or not check
 * (SQL_ASCII) text the hub stores: the store refuses to open on it,
 * naming its encoding. */
static void test_pg_open_refuses_a_database_not_in_utf8(void)
{
	char other[512], err[512] = "";
	struct store *s = NULL;

	if (!teststore_is_pg())
		return;
	CU_ASSERT_EQUAL_FATAL(teststore_pg_fresh_db("hub_latin1",
						    "ENCODING 'LATIN1' TEMPLATE template0"
						    " LC_COLLATE 'C' LC_CTYPE 'C'",
						    other, sizeof(other)),
			      0);
	CU_ASSERT_EQUAL(store_pg_open(other, "public", &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "has encoding LATIN1"));
	if (s)
		store_close(s);
	CU_ASSERT_EQUAL(teststore_pg_exec(getenv("HUB_TEST_PG_URL"), "DROP DATABASE hub_latin1"),
			0);
}

/* A store at this hub's schema version opens without a word; one a newer
 * hub migrated is refused, naming both versions, the schema and where. */
static void test_pg_open_refuses_a_newer_schema_and_is_quiet_at_its_own(void)
{
	WORLD(w);
	const char *url = getenv("HUB_TEST_PG_URL");
	struct testlib_capture cap;
	struct store *s2 = NULL;
	char sql[256], err[512] = "", *said;

	(void)s;
	if (!teststore_is_pg() || !url)
		goto out;
	testlib_capture_begin(&cap);
	s2 = world_connect(&w);
	said = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(s2);
	CU_ASSERT_PTR_NULL(strstr(said, "PostgreSQL schema"));
	free(said);
	store_close(s2);
	s2 = NULL;
	snprintf(sql, sizeof(sql),
		 "UPDATE \"%s\".meta SET value = '999' WHERE key = 'schema_version'", w.schema);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, sql), 0);
	CU_ASSERT_EQUAL(store_open(w.cfg, &s2, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "store schema version 999, this hub knows "));
	/* which store, and what to do */
	snprintf(sql, sizeof(sql), "postgres: schema \"%s\" at ", w.schema);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, sql));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a newer hub migrated it"));
out:
	world_stop(&w);
}

/* check --connect leaves a schema an older hub made as it is (that hub
 * may still run, or be needed back: it refuses a migrated one), naming its
 * version; once a store_open migrated it, it opens unmigrated at once. */
static void test_pg_open_unmigrated_leaves_an_older_schema(void)
{
	WORLD(w);
	const char *url = getenv("HUB_TEST_PG_URL");
	struct store *s2 = NULL;
	char sql[256], err[512] = "";

	(void)s;
	if (!teststore_is_pg() || !url)
		goto out;
	snprintf(sql, sizeof(sql),
		 "UPDATE \"%s\".meta SET value = '1' WHERE key = 'schema_version'", w.schema);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, sql), 0);
	CU_ASSERT_EQUAL(store_open_unmigrated(w.cfg, &s2, err, sizeof(err)), STORE_OLDER);
	CU_ASSERT_PTR_NULL(s2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "has schema version 1, made by an older hub"));
	/* left at 1: asked again, the same answer */
	CU_ASSERT_EQUAL(store_open_unmigrated(w.cfg, &s2, err, sizeof(err)), STORE_OLDER);
	CU_ASSERT_EQUAL_FATAL(store_open(w.cfg, &s2, err, sizeof(err)), 0);
	store_close(s2);
	s2 = NULL;
	CU_ASSERT_EQUAL(store_open_unmigrated(w.cfg, &s2, err, sizeof(err)), 0);
	if (s2)
		store_close(s2);
out:
	world_stop(&w);
}

/* A lease whose epoch could not be bumped is not taken, and its lock is
 * let go: another connection takes it at once. */
static void test_pg_lease_whose_epoch_fails_is_let_go(void)
{
	WORLD(w);
	const char *url = getenv("HUB_TEST_PG_URL");
	struct store *s2 = NULL;
	int64_t epoch = 0;
	char sql[512];

	if (!teststore_is_pg() || !url)
		goto out;
	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	snprintf(sql, sizeof(sql),
		 "CREATE FUNCTION \"%s\".boom() RETURNS trigger LANGUAGE plpgsql AS"
		 " $$BEGIN RAISE EXCEPTION 'injected failure'; END$$;"
		 " CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON \"%s\".meta FOR EACH ROW"
		 " WHEN (NEW.key LIKE 'lease_epoch:%%') EXECUTE FUNCTION \"%s\".boom()",
		 w.schema, w.schema, w.schema);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, sql), 0);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:e", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "injected failure"));
	snprintf(sql, sizeof(sql), "DROP TRIGGER boom ON \"%s\".meta", w.schema);
	CU_ASSERT_EQUAL(teststore_pg_exec(url, sql), 0);
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "sync:e", &epoch), 1);
	OK(s2->ops->lease_release(s2, "sync:e"));
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:e", &epoch), 1); /* not held here */
	OK(s->ops->lease_release(s, "sync:e"));
out:
	if (s2)
		store_close(s2);
	world_stop(&w);
}

static void test_pg_deadlock_between_writers_is_retryable(void)
{
	WORLD(w);
	struct store *s2;
	struct cross a, b;
	char pid[PROFILE_ID_SIZE];
	pthread_t t;

	if (!teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "x1", "p_1"));
	OK(s->ops->ident_put(s, "custom_id", "x2", "p_2"));
	OK(s->ops->commit(s));
	/* s holds p_1's lock, s2 holds p_2's */
	OK(s->ops->begin(s));
	OK(s->ops->ident_lock(s, NULL, 0));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "x1", pid), 1);
	OK(s2->ops->begin(s2));
	OK(s2->ops->ident_lock(s2, NULL, 0));
	CU_ASSERT_EQUAL(s2->ops->ident_get(s2, "custom_id", "x2", pid), 1);
	a = (struct cross){s, "x2", 0};
	b = (struct cross){s2, "x1", 0};
	CU_ASSERT_FATAL(pthread_create(&t, NULL, cross_get, &a) == 0);
	cross_get(&b);
	pthread_join(t, NULL);
	/* one lost (retryable), the other went on and committed */
	CU_ASSERT((a.rc < 0) != (b.rc < 0));
	CU_ASSERT_EQUAL(a.rc < 0 ? s->is_retryable : s2->is_retryable, 1);
	CU_ASSERT_EQUAL(a.rc < 0 ? s2->is_retryable : s->is_retryable, 0);
	store_close(s2);
	world_stop(&w);
}

/* The SQLite writer caches identifier owners and the block list: a write
 * by another connection, and a rolled-back write of its own, must be seen
 * as they are by its next transaction (both backends must pass). */
static void test_reads_after_other_writers_and_rollbacks_are_fresh(void)
{
	WORLD(w);
	struct store *s2 = world_connect(&w);
	char pid[PROFILE_ID_SIZE];
	int64_t until = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_1"));
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c9", &until), 0);
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 0);
	OK(s->ops->commit(s));

	/* another connection moves c1, creates c2 and blocks c9 */
	OK(s2->ops->begin(s2));
	OK(s2->ops->ident_put(s2, "custom_id", "c1", "p_2"));
	OK(s2->ops->ident_put(s2, "custom_id", "c2", "p_2"));
	OK(s2->ops->block_put(s2, "custom_id", "c9", 777));
	OK(s2->ops->commit(s2));
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_2");
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 1);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c9", &until), 1);
	CU_ASSERT_EQUAL(until, 777);

	/* its own writes, then a rollback: the rows as they were */
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_3"));
	OK(s->ops->ident_delete(s, "custom_id", "c2"));
	OK(s->ops->block_put(s, "installation_id", "i9", 888));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "installation_id", "i9", &until), 1);
	OK(s->ops->rollback(s));
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_2");
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 1);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "installation_id", "i9", &until), 0);

	/* a profile's identifiers moved or deleted in bulk */
	OK(s->ops->ident_reassign(s, "p_2", "p_4"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_4");
	OK(s->ops->ident_delete_profile(s, "p_4"));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 0);
	OK(s->ops->commit(s));

	/* read outside a transaction after another connection's commit:
	 * the writer's cache of owners is not consulted there */
	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "c5", "p_5"));
	OK(s->ops->commit(s));
	OK(s2->ops->begin(s2));
	OK(s2->ops->ident_put(s2, "custom_id", "c5", "p_6"));
	OK(s2->ops->commit(s2));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c5", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_6");
	store_close(s2);
	world_stop(&w);
}

/* SQLite: the writer's cache of identifier owners outlives its own
 * commits (nobody else wrote: the file's data version is the one its
 * commit left), so a long import reads an owner it wrote once from memory,
 * not from SQL, in every later transaction. */
static void test_sqlite_writer_cache_outlives_its_own_commits(void)
{
	WORLD(w);
	char pid[PROFILE_ID_SIZE];
	uint64_t hits;

	if (teststore_is_pg())
		goto out;
	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_1"));
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	hits = lite(s)->idents.hits;
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_1");
	CU_ASSERT_EQUAL(lite(s)->idents.hits, hits + 1);
	OK(s->ops->commit(s));
out:
	world_stop(&w);
}

/* Reads after a batch's savepoint rollback, in the same transaction, see
 * the rows as they were before the batch (SQLite: the writer's caches
 * held its writes; PostgreSQL: the memo of the locked group). */
static void test_reads_after_a_savepoint_rollback_are_fresh(void)
{
	WORLD(w);
	const struct store_ident ids[] = {{.type = "custom_id", .value = "c1"},
					  {.type = "custom_id", .value = "c2"},
					  {.type = "custom_id", .value = "c9"}};
	char pid[PROFILE_ID_SIZE];
	int64_t until = 0;

	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_1"));
	OK(s->ops->commit(s));
	OK(s->ops->begin(s));
	OK(s->ops->ident_lock(s, ids, 3));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c9", &until), 0);
	OK(s->ops->savepoint(s));
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_2"));
	OK(s->ops->ident_put(s, "custom_id", "c2", "p_2"));
	OK(s->ops->block_put(s, "custom_id", "c9", 777));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 1);
	OK(s->ops->savepoint_rollback(s));
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_1");
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c2", pid), 0);
	CU_ASSERT_EQUAL(s->ops->block_get(s, "custom_id", "c9", &until), 0);
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* What a locked group read is known to its transaction only: after its
 * commit (or rollback) the next transaction reads another connection's
 * writes made in between (PostgreSQL: the memo of the group is dropped). */
static void test_reads_after_a_locked_group_ends_are_fresh(void)
{
	WORLD(w);
	struct store *s2 = world_connect(&w);
	const struct store_ident c1 = {.type = "custom_id", .value = "c1"};
	char pid[PROFILE_ID_SIZE];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	OK(s->ops->begin(s));
	OK(s->ops->ident_put(s, "custom_id", "c1", "p_1"));
	OK(s->ops->commit(s));
	for (int is_commit = 1; is_commit >= 0; is_commit--) {
		const char *to = is_commit ? "p_2" : "p_3";
		OK(s->ops->begin(s));
		OK(s->ops->ident_lock(s, &c1, 1));
		CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
		OK(is_commit ? s->ops->commit(s) : s->ops->rollback(s));
		OK(s2->ops->begin(s2));
		OK(s2->ops->ident_put(s2, "custom_id", "c1", to));
		OK(s2->ops->commit(s2));
		OK(s->ops->begin(s));
		CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "c1", pid), 1);
		CU_ASSERT_STRING_EQUAL(pid, to);
		OK(s->ops->commit(s));
	}
	store_close(s2);
	world_stop(&w);
}

/* PostgreSQL: begin clears what the store said of the last transaction's
 * failure (a conflict to retry, a commit of unknown outcome): a failure in
 * the new one is not taken for either. */
static void test_pg_begin_clears_the_last_failure_s_kind(void)
{
	WORLD(w);

	if (!teststore_is_pg())
		goto out;
	s->is_retryable = 1;
	s->is_commit_unknown = 1;
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->is_retryable, 0);
	CU_ASSERT_EQUAL(s->is_commit_unknown, 0);
	OK(s->ops->rollback(s));
out:
	world_stop(&w);
}

/* A write is only sent when nobody waits for its result; when it fails,
 * the next statement that waits reports it: the batch rolls back alone,
 * and a commit after it fails and leaves the connection usable.
 * (PostgreSQL refuses invalid UTF-8, which SQLite stores.) */
static void test_pg_failed_write_fails_its_batch_only(void)
{
	WORLD(w);
	int64_t n = 0, last = 0;

	if (!teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	begin_batch_a_then_b(s);
	s->ops->ident_put(s, "custom_id", "bad \xff utf-8", "p_b");
	CU_ASSERT_EQUAL(s->ops->event_stats(s, "p_b", &n, &last), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "UTF8"));
	CU_ASSERT_EQUAL(s->is_retryable, 0);
	OK(s->ops->savepoint_rollback(s));
	OK(s->ops->savepoint(s));
	write_batch(s, "c");
	OK(s->ops->savepoint_release(s));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(batch_present(s, "a"), 1);
	CU_ASSERT_EQUAL(batch_present(s, "b"), 0);
	CU_ASSERT_EQUAL(batch_present(s, "c"), 1);

	/* the failure is still in flight at commit */
	OK(s->ops->begin(s));
	write_batch(s, "d");
	s->ops->ident_put(s, "custom_id", "bad \xfe", "p_d");
	CU_ASSERT_EQUAL(s->ops->commit(s), -1);
	OK(s->ops->rollback(s));
	CU_ASSERT_EQUAL(batch_present(s, "d"), 0);
	OK(s->ops->begin(s));
	write_batch(s, "e");
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(batch_present(s, "e"), 1);
	world_stop(&w);
}

/* A commit without a transaction is refused, not taken for one done; a
 * begin inside one is refused, and leaves the open one as it was. */
static void test_commit_without_or_begin_inside_a_transaction_is_refused(void)
{
	WORLD(w);
	int64_t seq = 0, next = 0;
	struct list l = {0};
	char v[8];

	CU_ASSERT_EQUAL(s->ops->commit(s), -1);
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "v"));
	OK(s->ops->profile_next_seq(s, &seq));
	append_change(s, "event", "p_1", 1, "{}");
	CU_ASSERT_EQUAL(s->ops->begin(s), -1);
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "k", v, sizeof(v)), 1);
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL(l.n, 1);
	OK(s->ops->begin(s));
	OK(s->ops->profile_next_seq(s, &next));
	CU_ASSERT(next > seq); /* the counter was committed with the rest */
	OK(s->ops->commit(s));
	world_stop(&w);
}

/* PostgreSQL: a batch whose write failed, read by nothing before its
 * release, fails at the release, so that it alone is rolled back. */
static void test_pg_release_of_a_failed_batch_fails(void)
{
	WORLD(w);

	if (!teststore_is_pg())
		goto out;
	begin_batch_a_then_b(s);
	s->ops->ident_put(s, "custom_id", "bad \xff utf-8", "p_b");
	CU_ASSERT_EQUAL(s->ops->savepoint_release(s), -1);
	OK(s->ops->savepoint_rollback(s));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(batch_present(s, "a"), 1);
	CU_ASSERT_EQUAL(batch_present(s, "b"), 0);
out:
	world_stop(&w);
}

/* PostgreSQL: a rollback while a failed write's result is still in flight
 * reads it first, then rolls back: it succeeds, and leaves nothing. */
static void test_pg_rollback_with_a_failed_write_in_flight_succeeds(void)
{
	WORLD(w);

	if (!teststore_is_pg())
		goto out;
	OK(s->ops->begin(s));
	write_batch(s, "a");
	s->ops->ident_put(s, "custom_id", "bad \xff utf-8", "p_a");
	OK(s->ops->rollback(s));
	CU_ASSERT_EQUAL(batch_present(s, "a"), 0);
out:
	world_stop(&w);
}

/* PostgreSQL: a change appended outside a transaction is refused; kept
 * in the buffer it would be written by whichever transaction came next. */
static void test_pg_outbox_append_outside_a_transaction_is_refused(void)
{
	WORLD(w);
	const struct store_change c = {.kind = "event", .profile_id = "p_1", .at_ms = 1,
				       .payload_json = "{}"};
	struct list l = {0};

	if (!teststore_is_pg())
		goto out;
	CU_ASSERT_EQUAL(s->ops->outbox_append(s, &c), -1);
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "v"));
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL(l.n, 0);
out:
	world_stop(&w);
}

/* PostgreSQL: the answer to COMMIT of a transaction that wrote nothing is
 * lost: nothing can have been stored, and it is said so (not "unknown"). */
static void test_pg_a_lost_commit_that_wrote_nothing_is_no_unknown(void)
{
	WORLD(w);
	char v[8];

	if (!teststore_is_pg())
		goto out;
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "k", v, sizeof(v)), 0);
	s->fault_commit_cut = STORE_CUT_BEFORE_COMMIT;
	CU_ASSERT_EQUAL(s->ops->commit(s), -1);
	CU_ASSERT_EQUAL(s->fault_disconnects, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "written nothing"));
	CU_ASSERT_EQUAL(s->is_commit_unknown, 0);
	s->ops->rollback(s); /* the link is gone: -1 */
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "written nothing")); /* the cause */
	OK(s->ops->begin(s)); /* on a new one */
	OK(s->ops->meta_put(s, "k", "v"));
	OK(s->ops->commit(s));
out:
	world_stop(&w);
}

/* Outbox numbers follow commit order, not the order changes were made in,
 * so an exporter that read up to seq N never misses a later commit. */
static void test_pg_outbox_numbers_follow_commit_order(void)
{
	WORLD(w);
	struct store *s2;
	struct list l = {0};

	if (!teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	OK(s->ops->begin(s));
	append_change(s, "profile_updated", "p_first_made", 1, "{}");
	OK(s2->ops->begin(s2));
	append_change(s2, "profile_updated", "p_first_committed", 2, "{}");
	OK(s2->ops->commit(s2));
	OK(s->ops->commit(s));
	OK(s->ops->outbox_read(s, 0, 0, collect_change, &l));
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[0], "p_first_committed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text[1], "p_first_made"));
	store_close(s2);
	world_stop(&w);
}

struct lease_take {
	struct store *s;
	int rc;
	int64_t epoch;
	int is_done;
};

static void *lease_take_main(void *arg)
{
	struct lease_take *t = arg;
	t->rc = t->s->ops->lease_try(t->s, "sync:f", &t->epoch);
	__atomic_store_n(&t->is_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* The fence of a cursor (intake.c): a batch reads its lease's epoch with
 * meta_get_held, and a take of the lease by another process waits for the
 * batch's transaction, so the batch lands before the take or sees the new
 * epoch; never after the take with the old one (PostgreSQL). */
static void test_a_lease_take_waits_for_a_batch_holding_its_epoch(void)
{
	WORLD(w);
	struct store *s2, *s3;
	struct lease_take take = {0};
	char epoch[32];
	int64_t e1 = 0;
	pthread_t t;
	int seen_waiting = 0;

	if (!teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	s2 = world_connect(&w);
	s3 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s3);
	CU_ASSERT_EQUAL_FATAL(s2->ops->lease_try(s2, "sync:f", &e1), 1);
	OK(s2->ops->lease_release(s2, "sync:f"));

	/* the holder's batch, in flight */
	OK(s->ops->begin(s));
	CU_ASSERT_FATAL(s->ops->meta_get_held(s, "lease_epoch:sync:f", epoch, sizeof(epoch)) == 1);
	CU_ASSERT_EQUAL(strtoll(epoch, NULL, 10), e1);
	take.s = s3;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, lease_take_main, &take) == 0);
	/* the take must be seen waiting for the lock, not done (bounded poll) */
	for (int i = 0; i < 5000 && !seen_waiting; i++) {
		if (__atomic_load_n(&take.is_done, __ATOMIC_SEQ_CST))
			break; /* it did not wait: the assertions below fail */
		struct timespec ms = {0, 1000000};
		seen_waiting = teststore_lock_waiters() > 0;
		if (!seen_waiting)
			nanosleep(&ms, NULL);
	}
	CU_ASSERT(seen_waiting);
	CU_ASSERT_EQUAL(__atomic_load_n(&take.is_done, __ATOMIC_SEQ_CST), 0);
	OK(s->ops->meta_put(s, "cursor:sync:f", "page-1"));
	OK(s->ops->commit(s));
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(take.rc, 1);
	CU_ASSERT_EQUAL(take.epoch, e1 + 1);

	/* the holder's next batch sees the take */
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->meta_get_held(s, "lease_epoch:sync:f", epoch, sizeof(epoch)), 1);
	CU_ASSERT_EQUAL(strtoll(epoch, NULL, 10), e1 + 1);
	OK(s->ops->rollback(s));
	store_close(s3);
	store_close(s2);
	world_stop(&w);
}

/* A lease is one connection's at a time, each take bumps its epoch, a
 * closed connection frees it: on SQLite too (it granted every take, and
 * two hubs on one store both delivered every export; found by review). */
static void test_lease_is_one_connections_until_released_or_closed(void)
{
	WORLD(w);
	struct store *s2, *s3;
	int64_t e1 = 0, e2 = 0, e3 = 0;

	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:a", &e1), 1);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:a", &e2), 1); /* held: same take */
	CU_ASSERT_EQUAL(e1, e2);
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "sync:a", &e2), 0);
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "sync:b", &e2), 1); /* another name */
	OK(s->ops->lease_release(s, "sync:a"));
	OK(s->ops->lease_release(s, "sync:a")); /* not held: nothing */
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "sync:a", &e2), 1);
	CU_ASSERT(e2 > e1);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:a", &e3), 0);
	store_close(s2); /* a dead holder: its session ends */
	s3 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s3);
	CU_ASSERT_EQUAL(s3->ops->lease_try(s3, "sync:b", &e3), 1);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:a", &e3), 1);
	CU_ASSERT(e3 > e2);
	OK(s->ops->lease_release(s, "sync:a"));
	OK(s3->ops->lease_release(s3, "sync:b"));
	store_close(s3);
	/* one connection holds as many as run at once (the scheduler's runs
	 * all its sources' syncs due together on one): 40, then all let go */
	for (int i = 0; i < 40; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sync:many%d", i);
		CU_ASSERT_EQUAL(s->ops->lease_try(s, name, &e1), 1);
	}
	for (int i = 0; i < 40; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sync:many%d", i);
		OK(s->ops->lease_release(s, name));
	}
	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "sync:many39", &e2), 1);
	OK(s2->ops->lease_release(s2, "sync:many39"));
	store_close(s2);
	world_stop(&w);
}

/* PostgreSQL frees a session lock outside a transaction only: a release
 * refused inside one keeps the lease known, so that the release after the
 * commit frees it (it was forgotten, and held until the connection
 * closed). */
/* lease_try inside a transaction is refused, on both backends: the lease
 * would outlive or die with work it does not belong to. */
static void test_lease_try_refused_in_a_transaction(void)
{
	WORLD(w);
	int64_t epoch = 0;

	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:tx", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "lease_try inside a transaction"));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:tx", &epoch), 1);
	CU_ASSERT_EQUAL(epoch, 1);
	OK(s->ops->lease_release(s, "sync:tx"));
	world_stop(&w);
}

static void test_lease_release_refused_in_a_transaction_is_kept(void)
{
	WORLD(w);
	struct store *s2;
	int64_t e1 = 0, e2 = 0;

	if (!teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:tx", &e1), 1);
	OK(s->ops->begin(s));
	CU_ASSERT_EQUAL(s->ops->lease_release(s, "sync:tx"), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "inside a transaction"));
	OK(s->ops->commit(s));
	OK(s->ops->lease_release(s, "sync:tx"));
	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "sync:tx", &e2), 1);
	OK(s2->ops->lease_release(s2, "sync:tx"));
	store_close(s2);
	world_stop(&w);
}

/* Names a SQLite lease's file is made from (lease_lock.c): two names are
 * two leases however alike (case, a prefix, escapes that would run
 * together), and a name too long for a file name is refused with that
 * reason.  A lock file that cannot be made is an error, never "held by
 * another" (the source would wait for a holder that does not exist). */
static void test_lease_names_are_one_file_each_and_errors_say_so(void)
{
	static const char *const pairs[][2] = {
		{"sync:A", "sync:a"},
		{"sync:a", "sync:ab"},
		{"e:\x01" "0", "e:\x10"},
	};
	WORLD(w);
	struct store *s2;
	int64_t e = 0;
	char name[300];

	if (teststore_is_pg()) { /* one lease table, no files */
		world_stop(&w);
		return;
	}
	s2 = world_connect(&w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		CU_ASSERT_EQUAL(s->ops->lease_try(s, pairs[i][0], &e), 1);
		CU_ASSERT_EQUAL(s2->ops->lease_try(s2, pairs[i][1], &e), 1);
		CU_ASSERT_EQUAL(s->ops->lease_try(s, pairs[i][1], &e), 0);
		OK(s->ops->lease_release(s, pairs[i][0]));
		OK(s2->ops->lease_release(s2, pairs[i][1]));
	}
	/* a file name holds NAME_MAX (255) bytes */
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	CU_ASSERT_EQUAL(s->ops->lease_try(s, name, &e), 1);
	OK(s->ops->lease_release(s, name));
	name[255] = 'n';
	name[256] = '\0';
	CU_ASSERT_EQUAL(s->ops->lease_try(s, name, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "its lock file's name is too long"));
	store_close(s2);
	world_stop(&w);
}

static void test_a_lease_file_that_cannot_be_made_is_an_error(void)
{
	WORLD(w);
	int64_t e = 0;
	char *db, *leases = NULL;
	FILE *f;

	if (teststore_is_pg()) {
		world_stop(&w);
		return;
	}
	db = realpath(w.cfg->store_path, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_FATAL(asprintf(&leases, "%s-leases", db) > 0);
	f = fopen(leases, "w"); /* the lease directory's place taken by a file */
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:a", &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "cannot open"));
	unlink(leases);
	free(leases);
	free(db);
	world_stop(&w);
}

/* One generated stream on SQLite and on PostgreSQL: the same dump, byte
 * for byte (same ID key, one writer each). */
static void test_pg_dump_equals_sqlite_dump_byte_for_byte(void)
{
	static const char key[] =
		"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
	struct gen_opts o;
	struct gen g;
	struct testhub *th[2] = {NULL, NULL};
	char *dump[2] = {NULL, NULL};
	const char *had_key = getenv("PROFILEHUB_ID_KEY");
	char *saved_key = had_key ? strdup(had_key) : NULL;

	if (!teststore_is_pg())
		return;
	setenv("PROFILEHUB_ID_KEY", key, 1);
	for (int b = 0; b < 2; b++) {
		char line[GEN_LINE_MAX + 1];
		struct strbuf batch;
		/* the backend of the world is chosen when it starts */
		setenv("HUB_TEST_STORE", b == 0 ? "sqlite" : "postgres", 1);
		th[b] = testhub_start(GEN_CONFIG_YAML);
		if (!th[b])
			break;
		gen_opts_default(&o);
		o.seed = 4242;
		o.n_users = 300;
		o.n_records = 2000;
		gen_init(&g, &o);
		strbuf_init(&batch);
		for (long i = 0; i < o.n_records; i++) {
			size_t len = gen_next(&g, line);
			strbuf_append(&batch, line, len);
			if ((i + 1) % 100 == 0 || i + 1 == o.n_records) {
				CU_ASSERT_EQUAL(testhub_apply_lines(th[b], batch.data), 0);
				batch.len = 0;
				batch.data[0] = '\0';
			}
		}
		strbuf_free(&batch);
		gen_free(&g);
		{
			json_t *docs = testhub_dump(th[b], PROFILE_EVENTS_ALL);
			dump[b] = json_dumps(docs, JSON_COMPACT);
			json_decref(docs);
		}
	}
	setenv("HUB_TEST_STORE", "postgres", 1);
	if (saved_key)
		setenv("PROFILEHUB_ID_KEY", saved_key, 1);
	else
		unsetenv("PROFILEHUB_ID_KEY");
	free(saved_key);
	CU_ASSERT_PTR_NOT_NULL(th[0]);
	CU_ASSERT_PTR_NOT_NULL(th[1]);
	if (dump[0] && dump[1]) {
		CU_ASSERT(strlen(dump[0]) > 10000);
		CU_ASSERT_EQUAL(th[0]->counts.applied, th[1]->counts.applied);
		if (strcmp(dump[0], dump[1]) != 0) {
			size_t i = 0;
			while (dump[0][i] && dump[0][i] == dump[1][i])
				i++;
			fprintf(stderr,
				"\n  dumps differ at byte %zu:\n   sqlite   %.120s\n"
				"   postgres %.120s",
				i, dump[0] + (i > 40 ? i - 40 : 0),
				dump[1] + (i > 40 ? i - 40 : 0));
			CU_FAIL("the PostgreSQL dump differs from SQLite's");
		}
	}
	free(dump[0]);
	free(dump[1]);
	testhub_stop(th[0]);
	testhub_stop(th[1]);
}

/* SQLite: a commit past the WAL's restart size restarts the WAL, but never
 * waits for a reader that still reads an older snapshot (a streamed access
 * document holds one for as long as its client reads): the writer does not
 * wait for a lock at all, and the reader keeps its snapshot. */
/* Opening a connection takes no write lock (a reader or an export worker
 * opening beside an import's long group waited for it, then failed with
 * "database is locked"), and only the intake's connection gets the
 * writer's page cache (every reader had 120 MB). */
static void test_sqlite_open_beside_a_writer_and_readers_keep_a_small_cache(void)
{
	char err[256], *dir, *db = NULL;
	struct store *w = NULL, *r = NULL, *r2 = NULL;
	sqlite3 *other = NULL;

	if (teststore_is_pg())
		return;
	dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(dir && asprintf(&db, "%s/hub.db", dir) > 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &w, err, sizeof(err)) == 0); /* makes the key */
	w->is_intake_writer = 1;
	CU_ASSERT_FATAL(sqlite3_open(db, &other) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	CU_ASSERT_EQUAL(store_sqlite_open(db, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(memcmp(r ? r->id_key : w->id_key, w->id_key, sizeof(w->id_key)), 0);
	CU_ASSERT_FATAL(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(other);
	/* a connection that writes bookkeeping keeps a reader's cache */
	CU_ASSERT_FATAL(store_sqlite_open(db, &r2, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(r2->ops->begin(r2) == 0 && r2->ops->meta_put(r2, "k", "v") == 0 &&
			r2->ops->commit(r2) == 0);
	CU_ASSERT(store_sqlite_page_cache_kib(r2) <= 65536);
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->commit(w) == 0);
	CU_ASSERT_EQUAL(store_sqlite_page_cache_kib(w), 122880);
	store_close(r2);
	store_close(r);
	store_close(w);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

/* Past 64 readers the 128 MB budget would leave each less than 2 MB: each
 * keeps 2 MB at least (a reader with a tiny cache rereads every page). */
static void test_sqlite_many_readers_keep_2_mb_of_cache_each(void)
{
	enum { N = 70 }; /* 128 MB / 70: 1872 KiB */
	char err[256], *dir, *db = NULL;
	struct store *r[N] = {0};

	if (teststore_is_pg())
		return;
	dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(dir && asprintf(&db, "%s/hub.db", dir) > 0);
	for (int i = 0; i < N; i++)
		CU_ASSERT_FATAL(store_sqlite_open(db, &r[i], err, sizeof(err)) == 0);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_FATAL(r[i]->ops->read_begin(r[i]) == 0);
		CU_ASSERT_EQUAL(r[i]->ops->read_end(r[i]), 0);
		CU_ASSERT_EQUAL(store_sqlite_page_cache_kib(r[i]), 2048);
	}
	for (int i = 0; i < N; i++)
		store_close(r[i]);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

/* Sixteen readers (the API pool's most) share 128 MB of page cache, the
 * intake writer not counted: each had 64 MB, 1 GB in all.  A reader left
 * alone grows back to 64 MB at its next read. */
static void test_sqlite_readers_share_one_page_cache_budget(void)
{
	enum { N = 16 };
	char err[256], *dir, *db = NULL;
	struct store *w = NULL, *r[N] = {0};
	int total = 0;

	if (teststore_is_pg())
		return;
	dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(dir && asprintf(&db, "%s/hub.db", dir) > 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &w, err, sizeof(err)) == 0);
	w->is_intake_writer = 1;
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->commit(w) == 0);
	for (int i = 0; i < N; i++)
		CU_ASSERT_FATAL(store_sqlite_open(db, &r[i], err, sizeof(err)) == 0);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_FATAL(r[i]->ops->read_begin(r[i]) == 0);
		CU_ASSERT_EQUAL(r[i]->ops->read_end(r[i]), 0);
		total += store_sqlite_page_cache_kib(r[i]);
	}
	CU_ASSERT(total <= 131072);
	CU_ASSERT(total >= 131072 - N); /* the budget is used, not wasted */
	CU_ASSERT_EQUAL(store_sqlite_page_cache_kib(w), 122880);
	for (int i = 1; i < N; i++)
		store_close(r[i]);
	CU_ASSERT_FATAL(r[0]->ops->read_begin(r[0]) == 0);
	CU_ASSERT_EQUAL(r[0]->ops->read_end(r[0]), 0);
	CU_ASSERT_EQUAL(store_sqlite_page_cache_kib(r[0]), 65536);
	store_close(r[0]);
	store_close(w);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

static void test_sqlite_wal_restart_never_waits_for_a_reader(void)
{
	char err[256], val[16], *dir, *db = NULL;
	struct store *w = NULL, *r = NULL;

	if (teststore_is_pg())
		return;
	dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(dir && asprintf(&db, "%s/hub.db", dir) > 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &w, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &r, err, sizeof(err)) == 0);
	store_sqlite_set_wal_restart_pages(1); /* every commit restarts it */
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "v0") == 0 &&
			w->ops->commit(w) == 0);
	CU_ASSERT_EQUAL_FATAL(r->ops->read_begin(r), 0);
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", val, sizeof(val)), 1); /* its snapshot */
	for (int i = 1; i <= 3; i++) {
		char v[16];
		snprintf(v, sizeof(v), "v%d", i);
		CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", v) == 0);
		CU_ASSERT_EQUAL(w->ops->commit(w), 0);
	}
	CU_ASSERT_EQUAL(w->busy_waits, 0);
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", val, sizeof(val)), 1);
	CU_ASSERT_STRING_EQUAL(val, "v0");
	CU_ASSERT_EQUAL(r->ops->read_end(r), 0);
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", val, sizeof(val)), 1);
	CU_ASSERT_STRING_EQUAL(val, "v3");
	store_sqlite_set_wal_restart_pages(0);
	store_close(r);
	store_close(w);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

/* SQLite: a store of its own, "hub.db" in a new temp dir (*dir, *db:
 * malloc'd; lite_temp_close() removes and frees all). */
static struct store *lite_temp_open(char **dir, char **db)
{
	struct store *w = NULL;
	char err[256];

	*dir = testlib_mkdtemp();
	*db = NULL;
	CU_ASSERT_FATAL(*dir && asprintf(db, "%s/hub.db", *dir) > 0);
	CU_ASSERT_FATAL(store_sqlite_open(*db, &w, err, sizeof(err)) == 0);
	return w;
}

static void lite_temp_close(struct store *w, char *dir, char *db)
{
	store_close(w);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

#define WAL_VALUE_SIZE (1 << 20) /* about 257 pages a commit */

/* SQLite: 20 commits of a WAL_VALUE_SIZE value on w, about 5,100 pages of
 * WAL: past CKPT_PAGES (4000), which wakes the checkpointer. */
static void wal_fill_past_ckpt_pages(struct store *w)
{
	char *value = malloc(WAL_VALUE_SIZE + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(value);
	for (int i = 0; i < 20; i++) {
		memset(value, 'a' + i, WAL_VALUE_SIZE);
		value[WAL_VALUE_SIZE] = '\0';
		CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "big", value) == 0);
		CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	}
	free(value);
}

/* SQLite: once a commit leaves the WAL past 4000 pages (CKPT_PAGES), the
 * checkpointer copies it into the store's file, with no other connection
 * asking (its own connection had never read, and its checkpoints copied
 * nothing: the file stayed at 4 KB while the WAL grew to 256 MB). */
static void test_sqlite_checkpointer_copies_the_wal_into_the_file(void)
{
	char *dir, *db;
	struct store *w;
	struct stat st = {0};
	int64_t deadline;

	if (teststore_is_pg())
		return;
	w = lite_temp_open(&dir, &db);
	wal_fill_past_ckpt_pages(w);
	deadline = time_mono_ms() + 30000;
	while (stat(db, &st) == 0 && st.st_size < (off_t)WAL_VALUE_SIZE &&
	       time_mono_ms() < deadline) {
		const struct timespec poll = {0, 10000000L};
		nanosleep(&poll, NULL);
	}
	CU_ASSERT(st.st_size >= (off_t)WAL_VALUE_SIZE);
	lite_temp_close(w, dir, db);
}

/* The size of db's -wal file, -1 when there is none. */
static off_t wal_size(const char *db)
{
	char wal[512];
	struct stat st;

	snprintf(wal, sizeof(wal), "%s-wal", db);
	return stat(wal, &st) == 0 ? st.st_size : -1;
}

/* SQLite: the WAL kept its high-water size for good after a big import
 * (SQLite writes a restarted WAL over the old file).  Once the hub is idle
 * after a checkpoint, the checkpointer truncates it to nothing. */
static void test_sqlite_wal_is_truncated_once_idle_after_a_checkpoint(void)
{
	char *dir, *db, *value = NULL;
	struct store *w;
	int64_t deadline;

	if (teststore_is_pg())
		return;
	w = lite_temp_open(&dir, &db);
	wal_fill_past_ckpt_pages(w);
	CU_ASSERT(wal_size(db) >= (off_t)16 * WAL_VALUE_SIZE);
	deadline = time_mono_ms() + 30000;
	while (wal_size(db) != 0 && time_mono_ms() < deadline) {
		const struct timespec poll = {0, 10000000L};
		nanosleep(&poll, NULL);
	}
	CU_ASSERT_EQUAL(wal_size(db), 0);
	value = malloc(WAL_VALUE_SIZE + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(value);
	CU_ASSERT_EQUAL(w->ops->meta_get(w, "big", value, WAL_VALUE_SIZE + 1), 1);
	CU_ASSERT_EQUAL(value[0], 'a' + 19); /* the last commit's, from the file */
	free(value);
	lite_temp_close(w, dir, db);
}

/* SQLite: the truncation never waits for a reader of an older snapshot
 * (an access document streamed): it is put off, the WAL left whole. */
static void test_sqlite_wal_truncation_is_put_off_by_a_reader(void)
{
	char *dir, *db, err[256], got[8];
	struct store *w, *r = NULL;
	off_t before;

	if (teststore_is_pg())
		return;
	w = lite_temp_open(&dir, &db); /* below CKPT_PAGES: no checkpointer thread */
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "1") == 0);
	CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &r, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(r->ops->read_begin(r) == 0);
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", got, sizeof(got)), 1);
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "2") == 0);
	CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	before = wal_size(db);
	CU_ASSERT(before > 0);
	CU_ASSERT_EQUAL(store_sqlite_wal_truncate_attempt(db), 1);
	CU_ASSERT_EQUAL(wal_size(db), before);
	CU_ASSERT_EQUAL(r->ops->read_end(r), 0);
	CU_ASSERT_EQUAL(store_sqlite_wal_truncate_attempt(db), 0);
	CU_ASSERT_EQUAL(wal_size(db), 0);
	CU_ASSERT_EQUAL(r->ops->meta_get(r, "k", got, sizeof(got)), 1);
	CU_ASSERT_STRING_EQUAL(got, "2");
	store_close(r);
	lite_temp_close(w, dir, db);
}

/* The bytes of an SQLite store's wal-index (its -shm file) that a writer,
 * a checkpoint and a recovery of the index lock, on the unix VFS
 * (https://sqlite.org/walformat.html); the index's header is twice at its
 * start, 48 bytes each: a reader that finds the copies differ recovers it. */
#define SHM_WRITE_LOCK_BYTE 120
#define SHM_CKPT_LOCK_BYTE 121
#define SHM_RECOVER_LOCK_BYTE 122
#define SHM_HDR_SIZE 48

/* A child process holding locks of db's wal-index as another hub process
 * would: the checkpoint lock while its checkpointer copies the WAL
 * (is_recovering 0), or the writer's, the checkpoint and the recovery
 * locks with the index's header copies made to differ while it recovers
 * the index (is_recovering 1; the header made whole again before it lets
 * go).  The child's pid, its end of a pipe in *release_fd (closing it
 * releases the locks: see ckpt_holder_stop()); -1 when it could not take
 * them. */
static pid_t ckpt_holder_start(const char *db, int is_recovering, int *release_fd)
{
	int ready[2], release[2];
	char shm[600], held = 'n';
	pid_t pid;

	snprintf(shm, sizeof(shm), "%s-shm", db);
	if (pipe(ready))
		return -1;
	if (pipe(release)) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) { /* only calls safe after fork, then _exit */
		struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
				   .l_start = is_recovering ? SHM_WRITE_LOCK_BYTE
							    : SHM_CKPT_LOCK_BYTE,
				   .l_len = is_recovering ? SHM_RECOVER_LOCK_BYTE + 1 -
							    SHM_WRITE_LOCK_BYTE : 1};
		int fd = open(shm, O_RDWR);
		unsigned char *hdr = MAP_FAILED;
		close(ready[0]);
		close(release[1]);
		if (fd >= 0 && fcntl(fd, F_SETLK, &lk) == 0)
			held = 'y';
		if (held == 'y' && is_recovering) {
			hdr = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (hdr == MAP_FAILED)
				held = 'n';
			else
				hdr[SHM_HDR_SIZE + 40] ^= 0xff; /* the second copy's checksum */
		}
		if (write(ready[1], &held, 1) != 1)
			_exit(1);
		while (read(release[0], &held, 1) > 0) /* to end of file: released */
			;
		if (hdr != MAP_FAILED)
			hdr[SHM_HDR_SIZE + 40] ^= 0xff;
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	if (pid > 0 && (read(ready[0], &held, 1) != 1 || held != 'y')) {
		close(release[1]);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(ready[0]);
	if (pid < 0)
		close(release[1]);
	else
		*release_fd = release[1];
	return pid;
}

static void ckpt_holder_stop(pid_t pid, int release_fd)
{
	int status = -1;
	close(release_fd);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* What stderr has taken since testlib_capture_begin(c), whole (malloc'd). */
static char *log_so_far(const struct testlib_capture *c)
{
	char *text = NULL;
	size_t size = 0;
	FILE *in, *out;

	fflush(stderr);
	if (!(in = fopen(c->path, "r")) || !(out = open_memstream(&text, &size))) {
		if (in)
			fclose(in);
		return NULL;
	}
	for (int ch; (ch = getc(in)) != EOF;)
		putc(ch, out);
	fclose(in);
	fclose(out);
	return text;
}

/* The log so far once it has a line with one of the two texts (b may be
 * NULL), or when 30 s have passed without: the checkpointer thread logs
 * when an attempt ends. */
static char *log_wait_for(const struct testlib_capture *c, const char *a, const char *b)
{
	const int64_t deadline = time_mono_ms() + 30000;
	for (;;) {
		const struct timespec poll = {0, 10000000L};
		char *text = log_so_far(c);
		if (!text || strstr(text, a) || (b && strstr(text, b)) ||
		    time_mono_ms() >= deadline)
			return text;
		free(text);
		nanosleep(&poll, NULL);
	}
}

/* SQLite: a checkpoint that meets another process's (two hubs on one
 * file) gets SQLITE_BUSY at once; that is no failure (the other copies the
 * WAL, and the next commit tries again), so it is a debug line, not
 * "checkpoint failed" followed by "checkpoints succeed again". */
static void test_sqlite_checkpoint_beside_another_process_is_no_failure(void)
{
	char *dir, *db, *log = NULL;
	enum hub_log_level level = log_get_level();
	struct store *w;
	struct testlib_capture cap;
	struct stat st = {0};
	int release_fd = -1;
	pid_t holder;

	if (teststore_is_pg())
		return;
	w = lite_temp_open(&dir, &db);
	holder = ckpt_holder_start(db, 0, &release_fd); /* the -shm file exists once open */
	CU_ASSERT_FATAL(holder > 0);
	log_set_level(HUB_LOG_DEBUG);
	testlib_capture_begin(&cap);
	wal_fill_past_ckpt_pages(w);
	/* the checkpointer's attempt under the other's lock has ended */
	free(log_wait_for(&cap, "another connection is checkpointing", "checkpoint failed"));
	ckpt_holder_stop(holder, release_fd);
	/* the WAL is still past CKPT_PAGES: this commit wakes it again */
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "v") == 0);
	CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	log = log_wait_for(&cap, "WAL frames in the file", NULL);
	free(testlib_capture_end(&cap));
	log_set_level(level);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "another connection is checkpointing"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "WAL frames in the file"));
	CU_ASSERT_PTR_NULL(strstr(log, "checkpoint failed"));
	CU_ASSERT_PTR_NULL(strstr(log, "succeed again"));
	CU_ASSERT(stat(db, &st) == 0 && st.st_size >= (off_t)WAL_VALUE_SIZE); /* it copied */
	free(log);
	lite_temp_close(w, dir, db);
}

/* SQLite: the checkpointer's read before its checkpoint, meeting another
 * process that holds the store's WAL index (recovering it), gets
 * SQLITE_BUSY after its busy timeout; that is no failure either (the next
 * commit tries again): a debug line, not "checkpoint failed: database is
 * locked", which it was.  Once the other lets go, an attempt checkpoints. */
static void test_sqlite_checkpoint_read_beside_a_recovery_is_no_failure(void)
{
	char *dir, *db, *log;
	enum hub_log_level level = log_get_level();
	struct store *w;
	struct testlib_capture cap;
	int release_fd = -1;
	pid_t holder;

	if (teststore_is_pg())
		return;
	w = lite_temp_open(&dir, &db);
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "v") == 0);
	CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	holder = ckpt_holder_start(db, 1, &release_fd);
	CU_ASSERT_FATAL(holder > 0);
	log_set_level(HUB_LOG_DEBUG);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(store_sqlite_checkpoint_attempt(db), 1);
	ckpt_holder_stop(holder, release_fd);
	CU_ASSERT_EQUAL(store_sqlite_checkpoint_attempt(db), 0);
	log = testlib_capture_end(&cap);
	log_set_level(level);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "checkpoint: another connection holds the store: "
					   "database is locked"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "WAL frames in the file"));
	CU_ASSERT_PTR_NULL(strstr(log, "checkpoint failed"));
	free(log);
	lite_temp_close(w, dir, db);
}

/* SQLite: a checkpoint whose write into the file fails (a full disk; here
 * a file-size limit, SIGXFSZ ignored as the hub does) says what to do and
 * what it means: the log line was SQLite's bare "disk I/O error". */
static void test_sqlite_checkpoint_that_cannot_write_says_what_to_do(void)
{
	char *dir, *db, *log, *value = malloc(WAL_VALUE_SIZE + 1);
	struct store *w;
	struct testlib_capture cap;
	struct rlimit was, small;
	struct stat st = {0};
	void (*was_handler)(int);

	if (teststore_is_pg()) {
		free(value);
		return;
	}
	w = lite_temp_open(&dir, &db); /* below CKPT_PAGES: no checkpointer thread */
	CU_ASSERT_PTR_NOT_NULL_FATAL(value);
	memset(value, 'a', WAL_VALUE_SIZE);
	value[WAL_VALUE_SIZE] = '\0';
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", value) == 0);
	CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	CU_ASSERT_EQUAL_FATAL(stat(db, &st), 0);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &was), 0);
	small = was;
	small.rlim_cur = (rlim_t)st.st_size; /* the WAL's pages go past it */
	was_handler = signal(SIGXFSZ, SIG_IGN);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &small), 0);
	CU_ASSERT_EQUAL(store_sqlite_checkpoint_attempt(db), -1);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &was), 0);
	log = testlib_capture_end(&cap);
	signal(SIGXFSZ, was_handler);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, ": checkpoint failed: disk I/O error; a write failed:"
					   " free space on its filesystem, or raise a file-size"
					   " limit (ulimit -f)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "(until one succeeds the WAL file grows)"));
	CU_ASSERT_EQUAL(store_sqlite_checkpoint_attempt(db), 0); /* the limit gone */
	free(log);
	free(value);
	lite_temp_close(w, dir, db);
}

/* SQLite: a store file deleted or replaced under a running hub (rm, mv)
 * stayed open in the writer, whose commits went on succeeding into a file
 * no one would read again, while the next connection to open (an API
 * reader) made a new empty store at the path.  Now every commit is
 * refused, saying so once, and only the first connection may create. */
static void test_sqlite_store_deleted_or_replaced_under_a_writer_takes_no_commit(void)
{
	char err[512], *dir, *db = NULL, *other = NULL, *log;
	const char *first;
	struct store *w = NULL, *o = NULL, *r = NULL;
	struct testlib_capture cap;
	static const char *const suffix[] = {"", "-wal", "-shm"};

	if (teststore_is_pg())
		return;
	dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(dir && asprintf(&db, "%s/hub.db", dir) > 0 &&
			asprintf(&other, "%s/other.db", dir) > 0);
	CU_ASSERT_FATAL(store_sqlite_open(db, &w, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(store_sqlite_open(other, &o, err, sizeof(err)) == 0);
	store_close(o);
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "v0") == 0);
	CU_ASSERT_EQUAL_FATAL(w->ops->commit(w), 0);
	/* replaced: another store moved to its path */
	CU_ASSERT_FATAL(rename(other, db) == 0);
	testlib_capture_begin(&cap);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "v1") == 0);
		CU_ASSERT_EQUAL(w->ops->commit(w), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(store_error(w), "is no longer the store"));
		CU_ASSERT_EQUAL(w->ops->rollback(w), 0);
	}
	log = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, db));
	first = strstr(log, "is no longer the store");
	CU_ASSERT_PTR_NOT_NULL_FATAL(first);
	CU_ASSERT_PTR_NULL(strstr(first + 1, "is no longer the store")); /* logged once */
	free(log);
	/* deleted: the writer still refuses, a reader creates nothing */
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
		unlink(path);
	}
	CU_ASSERT_FATAL(w->ops->begin(w) == 0 && w->ops->meta_put(w, "k", "v2") == 0);
	CU_ASSERT_EQUAL(w->ops->commit(w), -1);
	CU_ASSERT_EQUAL(w->ops->rollback(w), 0);
	CU_ASSERT_EQUAL(store_sqlite_open_existing(db, &r, err, sizeof(err)), -1);
	CU_ASSERT_NOT_EQUAL(access(db, F_OK), 0);
	store_close(w);
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(other);
}

/* SQLite: a statement the write lock of another connection refuses
 * (SQLITE_BUSY, here at once: no busy wait) is a failure, never reported
 * done: a BEGIN, a write outside a transaction, a dead letter delete ("none
 * there" would let an export think another transaction took it).  Once the
 * lock is gone, nothing of them is stored, the failed BEGIN left no
 * transaction open, and the writer goes on. */
static void test_sqlite_a_statement_refused_by_the_lock_is_an_error(void)
{
	WORLD(w);
	sqlite3 *other = NULL;
	int64_t epoch = 0;
	char v[8];

	if (teststore_is_pg())
		goto out;
	sqlite3_busy_timeout(lite(s)->db, 0);
	CU_ASSERT_FATAL(sqlite3_open(w.cfg->store_path, &other) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	CU_ASSERT_EQUAL(s->ops->begin(s), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "locked"));
	CU_ASSERT_EQUAL(s->ops->meta_put(s, "k", "v"), -1);
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete(s, "hook", 1), -1);
	CU_ASSERT_FATAL(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "k", v, sizeof(v)), 0);
	/* the failed BEGIN left no transaction: a lease is no "inside" one */
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync", &epoch), 1);
	OK(s->ops->lease_release(s, "sync"));
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "v"));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(s->ops->meta_get(s, "k", v, sizeof(v)), 1);
out:
	sqlite3_close(other);
	world_stop(&w);
}

/* SQLite: a read of a counter that fails (here interrupted) fails the next
 * number; read as "no counter yet" it would hand out 1 again. */
static void test_sqlite_a_failed_counter_read_hands_out_no_number(void)
{
	WORLD(w);
	sqlite3_stmt *running = NULL;
	int64_t seq = 0;

	if (teststore_is_pg())
		goto out;
	OK(s->ops->begin(s));
	OK(s->ops->profile_next_seq(s, &seq));
	OK(s->ops->commit(s));
	CU_ASSERT_EQUAL(seq, 1);
	OK(s->ops->begin(s));
	/* an interrupt fails every statement started while one runs */
	CU_ASSERT_FATAL(sqlite3_prepare_v2(lite(s)->db, "SELECT 1 UNION ALL SELECT 2", -1,
					   &running, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_step(running) == SQLITE_ROW);
	sqlite3_interrupt(lite(s)->db);
	CU_ASSERT_EQUAL(s->ops->profile_next_seq(s, &seq), -1);
	sqlite3_finalize(running);
	OK(s->ops->rollback(s));
	OK(s->ops->begin(s));
	OK(s->ops->profile_next_seq(s, &seq));
	CU_ASSERT_EQUAL(seq, 2);
	OK(s->ops->commit(s));
out:
	world_stop(&w);
}

/* SQLite: after a write transaction that held the lock half a second or
 * more, the writer pauses before its next one (its commit returns later),
 * so that another process's writer waiting for the lock takes its turn. */
static void test_sqlite_a_long_transaction_pauses_its_writer_at_commit(void)
{
	WORLD(w);
	int64_t began_ms;

	if (teststore_is_pg())
		goto out;
	OK(s->ops->begin(s));
	OK(s->ops->meta_put(s, "k", "v"));
	lite(s)->tx_began_ms -= 550; /* as if it had held the lock 550 ms */
	began_ms = time_mono_ms();
	OK(s->ops->commit(s));
	CU_ASSERT(time_mono_ms() - began_ms >= 50);
out:
	world_stop(&w);
}

TEST_SUITE(store, NULL, NULL,
	   TEST(test_every_op_is_implemented),
	   TEST(test_meta_put_then_get_returns_the_last_value),
	   TEST(test_dedupe_add_is_new_once_per_source_and_message),
	   TEST(test_block_put_keeps_the_later_end),
	   TEST(test_block_put_keeps_the_later_end_past_a_long_list),
	   TEST(test_block_prune_deletes_the_ended_blocks_only),
	   TEST(test_block_prune_is_seen_by_the_writers_next_read),
	   TEST(test_profile_next_seq_never_repeats),
	   TEST(test_row_seq_never_repeats_across_connections),
	   TEST(test_profiles_merge_repoints_tombstones_and_pages_live_ones),
	   TEST(test_profile_mark_merged_sets_the_count_given),
	   TEST(test_identifiers_move_count_list_and_reassign),
	   TEST(test_install_touch_keeps_what_a_record_leaves_unset),
	   TEST(test_install_touch_keeps_a_time_before_1970),
	   TEST(test_attributes_put_get_list_and_find),
	   TEST(test_consent_keeps_unset_state_as_null),
	   TEST(test_consent_a_first_unset_is_stored_but_no_change),
	   TEST(test_a_deleted_attribute_keeps_no_value),
	   TEST(test_put_newer_keeps_the_later_write_ties_replace),
	   TEST(test_put_newer_keeps_out_1_ms_older_and_replaces_every_column),
	   TEST(test_events_list_newest_first_and_page_with_before),
	   TEST(test_identity_log_lists_in_append_order_with_the_other_side),
	   TEST(test_identity_log_pages_in_seq_order_after_a_seq),
	   TEST(test_outbox_reads_in_seq_order_after_a_cursor),
	   TEST(test_a_limit_of_0_reads_the_default_page),
	   TEST(test_outbox_seq_is_not_reused_after_an_erase),
	   TEST(test_outbox_prune_deletes_the_oldest_up_to_a_seq),
	   TEST(test_outbox_prune_under_a_limit_deletes_the_oldest_first),
	   TEST(test_dead_letters_replace_by_seq_list_in_order_and_go_with_erase),
	   TEST(test_a_dead_letter_put_again_goes_with_its_new_profile),
	   TEST(test_dead_letter_delete_counts_and_outbox_hold_finds),
	   TEST(test_meta_list_by_prefix_and_delete),
	   TEST(test_savepoint_rollback_undoes_only_its_batch),
	   TEST(test_savepoint_rollback_after_a_feed_read_keeps_earlier_changes),
	   TEST(test_savepoint_rollback_of_an_erase_keeps_earlier_changes),
	   TEST(test_a_transaction_s_changes_are_read_erased_and_stored_once),
	   TEST(test_a_failed_commit_stores_nothing),
	   TEST(test_a_failed_savepoint_rollback_is_reported),
	   TEST(test_a_read_or_commit_at_the_pipelines_bound_gets_its_result),
	   TEST(test_ident_lock_of_a_huge_group_fits_the_lock_table),
	   TEST(test_pg_open_refuses_a_database_not_in_utf8),
	   TEST(test_pg_open_refuses_a_newer_schema_and_is_quiet_at_its_own),
	   TEST(test_pg_open_unmigrated_leaves_an_older_schema),
	   TEST(test_pg_lease_whose_epoch_fails_is_let_go),
	   TEST(test_commit_survives_reopen_and_rollback_leaves_nothing),
	   TEST(test_a_damaged_id_key_is_refused),
	   TEST(test_making_the_id_key_fails_cleanly_at_every_statement),
	   TEST(test_profile_ids_are_the_hmac_of_their_sequence_number),
	   TEST(test_a_fixed_id_key_not_in_hex_is_refused),
	   TEST(test_a_fixed_id_key_given_to_a_new_store_is_warned_of),
	   TEST(test_read_begin_holds_one_snapshot_until_read_end),
	   TEST(test_ident_lock_leaves_reads_and_writes_as_they_were),
	   TEST(test_a_locked_group_reads_its_blocks_and_holders_as_written),
	   TEST(test_pg_ident_lock_outside_a_transaction_is_refused),
	   TEST(test_reads_after_other_writers_and_rollbacks_are_fresh),
	   TEST(test_reads_after_a_locked_group_ends_are_fresh),
	   TEST(test_pg_begin_clears_the_last_failure_s_kind),
	   TEST(test_reads_after_a_savepoint_rollback_are_fresh),
	   TEST(test_sqlite_writer_cache_outlives_its_own_commits),
	   TEST(test_a_lease_take_waits_for_a_batch_holding_its_epoch),
	   TEST(test_pg_memo_follows_merges_moves_and_erases),
	   TEST(test_pg_memo_keeps_a_profile_s_lock_across_slots),
	   TEST(test_pg_memo_turns_off_rather_than_lie),
	   TEST(test_pg_deadlock_between_writers_is_retryable),
	   TEST(test_pg_failed_write_fails_its_batch_only),
	   TEST(test_commit_without_or_begin_inside_a_transaction_is_refused),
	   TEST(test_pg_release_of_a_failed_batch_fails),
	   TEST(test_pg_rollback_with_a_failed_write_in_flight_succeeds),
	   TEST(test_pg_outbox_append_outside_a_transaction_is_refused),
	   TEST(test_pg_a_lost_commit_that_wrote_nothing_is_no_unknown),
	   TEST(test_pg_outbox_numbers_follow_commit_order),
	   TEST(test_lease_is_one_connections_until_released_or_closed),
	   TEST(test_lease_release_refused_in_a_transaction_is_kept),
	   TEST(test_lease_try_refused_in_a_transaction),
	   TEST(test_lease_names_are_one_file_each_and_errors_say_so),
	   TEST(test_a_lease_file_that_cannot_be_made_is_an_error),
	   TEST(test_pg_dump_equals_sqlite_dump_byte_for_byte),
	   TEST(test_sqlite_wal_restart_never_waits_for_a_reader),
	   TEST(test_sqlite_checkpointer_copies_the_wal_into_the_file),
	   TEST(test_sqlite_checkpoint_beside_another_process_is_no_failure),
	   TEST(test_sqlite_checkpoint_read_beside_a_recovery_is_no_failure),
	   TEST(test_sqlite_checkpoint_that_cannot_write_says_what_to_do),
	   TEST(test_sqlite_wal_is_truncated_once_idle_after_a_checkpoint),
	   TEST(test_sqlite_wal_truncation_is_put_off_by_a_reader),
	   TEST(test_sqlite_store_deleted_or_replaced_under_a_writer_takes_no_commit),
	   TEST(test_sqlite_open_beside_a_writer_and_readers_keep_a_small_cache),
	   TEST(test_sqlite_readers_share_one_page_cache_budget),
	   TEST(test_sqlite_many_readers_keep_2_mb_of_cache_each),
	   TEST(test_sqlite_a_statement_refused_by_the_lock_is_an_error),
	   TEST(test_sqlite_a_failed_counter_read_hands_out_no_number),
	   TEST(test_sqlite_a_long_transaction_pauses_its_writer_at_commit))
