/*
 * test_export.c - the exporter (hub/export*.c) against a temp store (SQLite,
 * or a fresh PostgreSQL schema: teststore.h) fed through the real intake,
 * with tests/plugins/export_script.so as the plugin (it records what it
 * accepts and fails on demand).  The jsonl plugin driven directly is suite
 * `jsonl` (test_jsonl.c).
 *
 * Synchronization is by export_wait_idle() (every export read the outbox
 * to its end, or is disabled), never by sleeping.
 */
#include "testlib.h"
#include "testhub.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/export.h"
#include "../../hub/export_int.h"
#include "../../hub/host.h"
#include "../../hub/log.h"
#include "../../hub/metrics.h"
#include "../../hub/plugin.h"
#include "../../hub/privacy.h"
#include "../../hub/profile.h"
#include "../../hub/util.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 20000
#define SUITE_ENABLE_POLL_MS 50 /* a disabled export reads its state this often, not 1 s */

/* ---- a world: store, intake, plugin dir, exporter ----------------------- */

struct world {
	struct testhub *th;
	char *plugin_dir;
	char *record;       /* what export_script accepted */
	struct exporter *ex;
};

static char *plugin_dir_new(void)
{
	static const char *const links[] = {"jsonl.so", "plugins/jsonl.so", "export_script.so",
					    "tests/plugins/export_script.so", NULL};
	return testlib_plugin_dir(links);
}

/* A hub whose one export "x" uses export_script with `keys` (YAML lines,
 * four spaces in; more exports may follow).  x has `backfill: false`
 * unless `keys` says otherwise: the tests apply their records before x
 * first runs, and most count its changes against the outbox: its intake
 * registers its exports in the store when it starts (intake_start()), so
 * they are known before those changes, as an import's are. */
static void world_open(struct world *w, const char *keys)
{
	char *yaml, *dir;

	memset(w, 0, sizeof(*w));
	w->plugin_dir = plugin_dir_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->plugin_dir);
	dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(asprintf(&w->record, "%s/record.jsonl", dir) > 0);
	free(dir);
	CU_ASSERT_FATAL(asprintf(&yaml,
				 "plugin_dir: %s\n"
				 "exports:\n"
				 "  - name: x\n"
				 "    plugin: export_script\n"
				 "    record: %s\n"
				 "%s"
				 "%s",
				 w->plugin_dir, w->record,
				 keys && strstr(keys, "backfill:") ? "" : "    backfill: false\n",
				 keys ? keys : "") > 0);
	w->th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
}

static void world_start(struct world *w)
{
	char err[1024] = "";
	int rc = export_start(&w->ex, w->th->cfg, err, sizeof(err));
	if (rc)
		fprintf(stderr, "export_start: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void world_close(struct world *w)
{
	char *dir;

	export_stop(w->ex);
	testhub_stop(w->th);
	testlib_rmtree(w->plugin_dir);
	free(w->plugin_dir);
	dir = strdup(w->record);
	*strrchr(dir, '/') = '\0';
	testlib_rmtree(dir);
	free(dir);
	free(w->record);
}

static void apply(struct world *w, const char *lines)
{
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(w->th, lines), 0);
}

/* The changes export_script accepted in file `path`, in order; *calls
 * (when not NULL) its calls as ["FIRST-LAST RC range A-B", ...]: the seqs
 * of the first and last change handed over, the answer, the planned range
 * (batch_range()). */
static json_t *recorded_at(const char *path, json_t **calls)
{
	json_t *out = json_array();
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (calls)
		*calls = json_array();
	while (f && getline(&line, &cap, f) > 0) {
		if (line[0] == '#') {
			char sent[64] = "", planned[64] = "";
			int rc = -1;
			line[strcspn(line, "\n")] = '\0';
			if (calls && sscanf(line, "# batch %*u %63s %d range %63s", sent, &rc,
					    planned) == 3)
				json_array_append_new(
					*calls, json_sprintf("%s %d range %s", sent, rc, planned));
			continue;
		}
		json_t *c = json_loads(line, 0, NULL);
		CU_ASSERT_PTR_NOT_NULL(c);
		if (c)
			json_array_append_new(out, c);
	}
	free(line);
	if (f)
		fclose(f);
	return out;
}

/* What export x (export_script) accepted. */
static json_t *recorded(const struct world *w, json_t **calls)
{
	return recorded_at(w->record, calls);
}

/* Polls for file `path` (WAIT_MS at most): 1 once it exists. */
static int file_appears(const char *path)
{
	struct timespec pause = {0, 2 * 1000 * 1000};

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		if (access(path, F_OK) == 0)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Polls file `path` (WAIT_MS at most): 1 once it holds `what`, anywhere
 * in it (it read its first 8191 bytes: a line after them was never seen). */
static int file_holds(const char *path, const char *what)
{
	struct timespec pause = {0, 2 * 1000 * 1000};
	char err[256];

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		char *text = file_read_all(path, SIZE_MAX, NULL, err, sizeof(err));
		int has = text && strstr(text, what);

		hub_free(text);
		if (has)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* export_script's `gate`: lets the plugin go on (creates PATH, given as
 * PATH.blocked, the file the plugin made when it stopped there). */
static void gate_open(const char *blocked)
{
	char *go = strdup(blocked);
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(go);
	*strrchr(go, '.') = '\0';
	CU_ASSERT_FATAL((f = fopen(go, "w")) != NULL);
	fclose(f);
	free(go);
}

static int seq_add(void *ctx, const struct store_change *c)
{
	json_array_append_new(ctx, json_integer(c->seq));
	return 0;
}

/* Every seq in the outbox, in order. */
static json_t *outbox_seqs(struct world *w)
{
	json_t *seqs = json_array();
	CU_ASSERT_EQUAL(w->th->reader->ops->outbox_read(w->th->reader, 0, 1000000, seq_add, seqs),
			0);
	return seqs;
}

static int dl_add(void *ctx, const struct store_dead_letter *d)
{
	json_array_append_new(ctx, json_pack("{s:I, s:s, s:s}", "seq", (json_int_t)d->seq,
					     "reason", d->reason, "change", d->change_json));
	return 0;
}

static json_t *dead_letters(struct world *w)
{
	json_t *list = json_array();
	CU_ASSERT_EQUAL(
		w->th->reader->ops->dead_letter_list(w->th->reader, "x", 0, 1000, dl_add, list), 0);
	return list;
}

/* Export x's status as `ex` (NULL: none running) shows it. */
static json_t *status_of_x_in(struct world *w, struct exporter *ex)
{
	char err[256];
	json_t *st = export_status_json(ex, w->th->reader, w->th->cfg, 0, err, sizeof(err));
	json_t *x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	x = json_incref(json_array_get(json_object_get(st, "exports"), 0));
	json_decref(st);
	return x;
}

static json_t *status_of_x(struct world *w)
{
	char err[256];
	json_t *st = export_status_json(w->ex, w->th->reader, w->th->cfg, 100, err, sizeof(err));
	json_t *x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	x = json_incref(json_array_get(json_object_get(st, "exports"), 0));
	json_decref(st);
	return x;
}

static json_int_t int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* Ann on I1 (gold, with an email), a purchase; Bad on I2 with an event;
 * an anonymous I3 that logs in as Cy; an anonymous I5 that logs in as Ann
 * (merged into her). */
static const char people[] =
	"{\"type\":\"identify\",\"message_id\":\"a1\",\"timestamp\":\"2025-03-01T10:00:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"ann\",\"installation_id\":\"I1\"},\"platform\":\"ios\","
	"\"attributes\":{\"plan\":\"gold\",\"$email_address\":\"ann@example.com\","
	"\"city\":\"Paris\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"a2\",\"timestamp\":\"2025-03-01T10:01:00.000Z\","
	"\"identifiers\":{\"installation_id\":\"I1\"},\"event\":{\"name\":\"purchase\","
	"\"properties\":{\"price\":9}}}\n"
	"{\"type\":\"identify\",\"message_id\":\"b1\",\"timestamp\":\"2025-03-01T10:02:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"bad\",\"installation_id\":\"I2\"},"
	"\"platform\":\"android\","
	"\"attributes\":{\"plan\":\"free\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"b2\",\"timestamp\":\"2025-03-01T10:03:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"bad\"},\"event\":{\"name\":\"open\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"c1\",\"timestamp\":\"2025-03-01T10:04:00.000Z\","
	"\"identifiers\":{\"installation_id\":\"I3\"},\"platform\":\"web\","
	"\"event\":{\"name\":\"view\"}}\n"
	"{\"type\":\"identify\",\"message_id\":\"c2\",\"timestamp\":\"2025-03-01T10:05:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"cy\",\"installation_id\":\"I3\"},"
	"\"attributes\":{\"plan\":\"silver\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"a3\",\"timestamp\":\"2025-03-01T10:06:00.000Z\","
	"\"identifiers\":{\"installation_id\":\"I5\"},\"platform\":\"ios\","
	"\"event\":{\"name\":\"view\"}}\n"
	"{\"type\":\"identify\",\"message_id\":\"a4\",\"timestamp\":\"2025-03-01T10:07:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"ann\",\"installation_id\":\"I5\"},"
	"\"attributes\":{\"city\":\"Lyon\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"c3\",\"timestamp\":\"2025-03-01T10:08:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"cy\"},\"event\":{\"name\":\"close\"}}\n";

static const char erase_cy[] =
	"{\"type\":\"erase\",\"message_id\":\"e1\",\"timestamp\":\"2025-03-02T10:00:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"cy\"}}\n";

/* ---- pure pieces -------------------------------------------------------- */

/* file_holds(), which the log tests wait on and assert with, sees a line
 * anywhere in a log: it read the first 8191 bytes, and a line after them
 * was never seen. */
static void test_file_holds_sees_a_line_past_the_first_8_kib(void)
{
	char *dir = testlib_mkdtemp(), *path, text[20000];

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	memset(text, 'x', sizeof(text)); /* 19992 x's, then the line */
	memcpy(text + sizeof(text) - sizeof("\nfound\n"), "\nfound\n", sizeof("\nfound\n"));
	path = testlib_write_file(dir, "log", text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	CU_ASSERT(file_holds(path, "\nfound"));
	free(path);
	testlib_rmtree(dir);
	free(dir);
}

static void test_backoff_is_full_jitter_under_a_growing_cap(void)
{
	static const struct {
		unsigned attempt;
		int64_t retry_after, max;
	} rows[] = {
		{0, 0, 100}, {1, 0, 200}, {3, 0, 800}, {10, 0, 5000}, {40, 0, 5000},
		{0, 3000, 3000}, {2, 7000, 7000},
	};

	export_set_backoff(100, 5000);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int64_t lo = INT64_MAX, hi = 0;
		for (uint64_t r = 0; r < 20000; r += 7) {
			int64_t d = export_backoff_ms(rows[i].attempt, rows[i].retry_after,
						      r * 0x9e3779b97f4a7c15ULL);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		CU_ASSERT(hi <= rows[i].max);
		CU_ASSERT(hi >= rows[i].max * 9 / 10);       /* reaches the cap */
		CU_ASSERT(lo <= (rows[i].retry_after ? rows[i].retry_after : rows[i].max / 10));
		CU_ASSERT(lo >= rows[i].retry_after);        /* never below Retry-After */
	}
	export_set_backoff(1, 10);
}

/* A receiver's Retry-After is honoured up to one hour, not beyond: an
 * answer asking for more waits the hour (the cap written out here, so
 * that a change of the constant is seen). */
static void test_backoff_honours_retry_after_up_to_one_hour(void)
{
	const int64_t hour_ms = 3600 * 1000;

	export_set_backoff(100, 5000);
	for (uint64_t r = 0; r < 2000; r += 7) {
		uint64_t random = r * 0x9e3779b97f4a7c15ULL;
		CU_ASSERT_EQUAL(export_backoff_ms(0, hour_ms - 1, random), hour_ms - 1);
		CU_ASSERT_EQUAL(export_backoff_ms(0, hour_ms, random), hour_ms);
		CU_ASSERT_EQUAL(export_backoff_ms(0, hour_ms + 1, random), hour_ms);
		CU_ASSERT_EQUAL(export_backoff_ms(3, 7 * hour_ms, random), hour_ms);
	}
	export_set_backoff(1, 10);
}

static void test_retry_after_is_read_from_the_start_of_the_message(void)
{
	static const struct {
		const char *msg;
		int64_t ms;
	} rows[] = {
		{"retry after 7s: HTTP 429 from http://h:80", 7000},
		{"retry after 250ms: busy", 250},
		{"retry after 0ms: scripted", 0},
		{"HTTP 503 (retry after 7s)", 0},
		{"retry after soon", 0},
		{"retry after 99999999999s: x", 3600000},
		{"", 0},
		{NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		CU_ASSERT_EQUAL(retry_after_ms_parse(rows[i].msg), rows[i].ms);
}

/* The wall clock steps back an hour after a pruning pass: the next one,
 * planned on that clock, was then an hour and an interval away, and the
 * change feed was not pruned for an hour.  A pass planned further away
 * than an interval is due at once and planned again from the new time. */
static void test_a_clock_step_back_does_not_hold_pruning_back(void)
{
	struct exporter ex;
	int64_t now = 1764547200000LL, back = now - 3600000;

	memset(&ex, 0, sizeof(ex));
	CU_ASSERT_EQUAL_FATAL(pthread_mutex_init(&ex.lock, NULL), 0);
	export_set_prune_interval(10000);
	CU_ASSERT(export_prune_is_due(&ex, now));
	CU_ASSERT_EQUAL(ex.prune_next_ms, now + 10000);
	CU_ASSERT(!export_prune_is_due(&ex, now + 9999)); /* within its interval */
	CU_ASSERT(export_prune_is_due(&ex, now + 10000));
	CU_ASSERT(export_prune_is_due(&ex, back)); /* not an hour later */
	CU_ASSERT_EQUAL(ex.prune_next_ms, back + 10000);
	CU_ASSERT(!export_prune_is_due(&ex, back + 1));
	CU_ASSERT(export_prune_is_due(&ex, back + 10000));
	pthread_mutex_destroy(&ex.lock);
}

static void test_outbox_last_seq_finds_the_end_by_probing(void)
{
	struct world w;
	json_t *seqs;
	int64_t last = -1;

	world_open(&w, NULL);
	CU_ASSERT_EQUAL(export_outbox_last_seq(w.th->reader, 0, &last), 0);
	CU_ASSERT_EQUAL(last, 0);
	apply(&w, people);
	seqs = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(seqs) > 5);
	for (size_t from = 0; from < json_array_size(seqs); from++) {
		int64_t floor = json_integer_value(json_array_get(seqs, from));
		CU_ASSERT_EQUAL(export_outbox_last_seq(w.th->reader, floor - 1, &last), 0);
		CU_ASSERT_EQUAL(
			last, json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1)));
	}
	CU_ASSERT_EQUAL(export_outbox_last_seq(w.th->reader, 1000000, &last), 0);
	CU_ASSERT_EQUAL(last, 1000000);
	json_decref(seqs);
	world_close(&w);
}

/* A backfill or a retried dead letter reaches its own export alone: not
 * another, nor a reader that names none; a row only starting like a retry
 * (no "payload") is an ordinary change. */
static void test_an_addressed_change_reaches_only_its_named_export(void)
{
	char x[] = "x", *name = NULL, *inner = NULL;
	struct feed_row r = {.kind = FEED_PROFILE_UPDATED, .backfill_for = x};
	struct feed_filter f = {0};
	int64_t retry_of = -1;

	CU_ASSERT_EQUAL(feed_is_wanted(&r, &f), 0);
	f.export_name = "y";
	CU_ASSERT_EQUAL(feed_is_wanted(&r, &f), 0);
	f.export_name = "x";
	CU_ASSERT_EQUAL(feed_is_wanted(&r, &f), 1);
	r.backfill_for = NULL;
	r.retry_for = x;
	r.kind = FEED_EVENT;
	CU_ASSERT_EQUAL(feed_is_wanted(&r, &f), 1);
	f.export_name = NULL;
	CU_ASSERT_EQUAL(feed_is_wanted(&r, &f), 0);
	CU_ASSERT_EQUAL(export_retry_target("{\"for\":\"x\",\"retry_of\":3}", &name, &retry_of,
					    &inner), 0);
	CU_ASSERT_PTR_NULL(name);
	CU_ASSERT_PTR_NULL(inner);
}

/* The text of export x's change of seq `seq` on a page read after `after`
 * and built with the documents of `dc`; NULL when there is none. */
static char *feed_text_of(struct store *s, int64_t after, int64_t seq, struct feed_docs *dc)
{
	struct feed_page pg = {0};
	struct feed_filter f = {.export_name = "x"};
	char *text = NULL;

	CU_ASSERT_EQUAL_FATAL(feed_page_read(s, after, INT64_MAX, 100, &pg), 0);
	CU_ASSERT_EQUAL_FATAL(feed_page_build(&pg, s, &f, dc), 0);
	for (size_t i = 0; i < pg.n; i++)
		if (pg.rows[i].seq == seq && pg.rows[i].text)
			text = hub_strdup(pg.rows[i].text);
	feed_page_free(&pg);
	return text;
}

/* A document is kept only while current: a change written after the page
 * that built it (the very next seq too) gets the profile as it is now. */
static void test_a_change_after_the_page_gets_a_new_document(void)
{
	struct world w;
	struct feed_docs dc = {0};
	json_t *seqs;
	int64_t last;
	char *text;

	world_open(&w, NULL);
	apply(&w, people);
	seqs = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(seqs) > 0);
	last = json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1));
	json_decref(seqs);
	text = feed_text_of(w.th->reader, 0, last, &dc);
	hub_free(text);
	apply(&w,
	      "{\"type\":\"identify\",\"message_id\":\"a9\","
	      "\"timestamp\":\"2025-03-02T10:00:00.000Z\",\"identifiers\":{\"custom_id\":\"ann\"},"
	      "\"attributes\":{\"plan\":\"platinum\"}}\n");
	seqs = outbox_seqs(&w);
	for (size_t i = 0; i < json_array_size(seqs); i++) {
		int64_t seq = json_integer_value(json_array_get(seqs, i));
		if (seq <= last)
			continue;
		text = feed_text_of(w.th->reader, seq - 1, seq, &dc);
		CU_ASSERT_PTR_NOT_NULL(text);
		if (text && strstr(text, "\"custom_id\":\"ann\""))
			CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"plan\":\"platinum\""));
		hub_free(text);
	}
	json_decref(seqs);
	feed_docs_free(&dc);
	world_close(&w);
}

/* A retried change whose profile is gone when it is read (erased by a
 * transaction that committed meanwhile) is not sent; a retried erasure is. */
static void test_a_retried_change_of_a_gone_profile_is_skipped(void)
{
	struct world w;
	struct feed_docs dc = {0};
	struct store *s;
	struct store_change ev = {.kind = "event", .profile_id = "p_gone", .at_ms = 1,
				  .payload_json = "{\"for\":\"x\",\"retry_of\":7,"
						  "\"payload\":{\"name\":\"v\"}}"};
	struct store_change er = {.kind = "erased", .profile_id = "p_gone", .at_ms = 1,
				  .payload_json = "{\"for\":\"x\",\"retry_of\":8,"
						  "\"payload\":{\"identifier_types\":[]}}"};
	json_t *seqs;
	int64_t n;
	char *text;

	world_open(&w, NULL);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->outbox_append(s, &ev), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->outbox_append(s, &er), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	seqs = outbox_seqs(&w);
	n = (int64_t)json_array_size(seqs);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	text = feed_text_of(s, 0, json_integer_value(json_array_get(seqs, 0)), &dc);
	CU_ASSERT_PTR_NULL(text);
	hub_free(text);
	text = feed_text_of(s, 0, json_integer_value(json_array_get(seqs, 1)), &dc);
	CU_ASSERT_PTR_NOT_NULL(text);
	if (text)
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"retry_of\":8"));
	hub_free(text);
	json_decref(seqs);
	feed_docs_free(&dc);
	world_close(&w);
}

/* An export has run when either its cursor or its batch end is saved; a
 * damaged backfill state is as if none was asked for.  (Export "n": the
 * world's x has the cursor its registration saved.) */
static void test_history_and_a_damaged_backfill_state(void)
{
	struct world w;
	struct export_backfill b;
	struct store *s;
	char key[300];

	world_open(&w, NULL);
	s = w.th->reader;
	CU_ASSERT_EQUAL(export_has_history(s, "n"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	export_key_batch_end(key, sizeof(key), "n");
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, "12"), 0);
	export_key_backfill(key, sizeof(key), "n");
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, "{\"state\":"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	CU_ASSERT(export_has_history(s, "n") > 0);
	CU_ASSERT_EQUAL(export_backfill_load(s, "n", &b, 0), 0);
	CU_ASSERT_EQUAL(b.state, BACKFILL_NONE);
	world_close(&w);
}

/* A backfill page of one profile (export_set_backfill_page(1)) writes one
 * and goes on from it; only a page short of the size ends the backfill. */
static void test_a_backfill_page_of_one_profile(void)
{
	struct world w;
	struct export_backfill b;
	struct store *s;
	char first[PROFILE_ID_SIZE];
	int rc;

	world_open(&w, NULL);
	apply(&w, people);
	s = w.th->reader;
	export_set_backfill_page(1);
	export_backfill_start(&b, 5);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	rc = export_backfill_write_page(s, "x", &b, 6);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_EQUAL(b.sent, 1);
	CU_ASSERT_EQUAL(b.state, BACKFILL_RUNNING);
	memcpy(first, b.after, PROFILE_ID_SIZE);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	rc = export_backfill_write_page(s, "x", &b, 7);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_EQUAL(b.sent, 2);
	CU_ASSERT(strcmp(b.after, first) > 0);
	export_set_backfill_page(0);
	world_close(&w);
}

/* ---- metrics ------------------------------------------------------------ */

/* The value of series `name` of export x in what GET /metrics of the
 * process running exporter ex shows, or -1 when there is none. */
static long long metrics_of_x_in(struct exporter *ex, const char *name)
{
	struct metrics *m = metrics_new();
	char *text = m ? metrics_render(m, &(struct metrics_feeds){.exports = ex}) : NULL;
	char series[128];
	const char *at;
	long long value;

	snprintf(series, sizeof(series), "\n%s{export=\"x\"} ", name);
	at = text ? strstr(text, series) : NULL;
	value = at ? strtoll(at + strlen(series), NULL, 10) : -1;
	CU_ASSERT_PTR_NOT_NULL(text);
	hub_free(text);
	metrics_free(m);
	return value;
}

/* metrics_of_x_in() of the world's exporter. */
static long long metrics_of_x(struct world *w, const char *name)
{
	return metrics_of_x_in(w->ex, name);
}

/* The export_lag_changes line of export x in what GET /metrics shows, or
 * -1 when there is none. */
static long long metrics_lag_of_x(struct world *w)
{
	return metrics_of_x(w, "export_lag_changes");
}

/* /metrics shows what an export delivered and dead-lettered and whether it
 * is disabled: a receiver refusing changes (the lag then 0) or the
 * export's credentials (the lag growing, for no reason said) showed
 * nothing an alert could tell from a quiet feed. */
static void test_metrics_show_deliveries_dead_letters_and_disables(void)
{
	struct world w;
	json_t *seqs, *dead;

	world_open(&w, "    bad_custom_id: bad\n    mode: precise\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	dead = dead_letters(&w);
	CU_ASSERT_FATAL(json_array_size(dead) > 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_dead_lettered_total"),
			(long long)json_array_size(dead));
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_delivered_total"),
			(long long)(json_array_size(seqs) - json_array_size(dead)));
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_disabled"), 0);
	CU_ASSERT_EQUAL(metrics_lag_of_x(&w), 0);
	json_decref(dead);
	json_decref(seqs);
	world_close(&w);

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_disabled"), 1);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_delivered_total"), 0);
	world_close(&w);
}

/* An export that never ran: enabled, no error and no time of one, no
 * backfill.  A saved state or backfill that is damaged, or names no
 * state, reads as none, not as a failure of the whole status. */
static void test_export_status_of_a_fresh_export_and_of_damaged_state(void)
{
	struct world w;
	struct store *s;
	char key[300];
	json_t *st;

	world_open(&w, NULL);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "enabled");
	CU_ASSERT(json_is_null(json_object_get(st, "last_error")));
	CU_ASSERT(json_is_null(json_object_get(st, "last_error_at")));
	CU_ASSERT(json_is_null(json_object_get(st, "backfill")));
	json_decref(st);

	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	export_key_state(key, sizeof(key), "x");
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, "{\"disabled\":"), 0);
	export_key_backfill(key, sizeof(key), "x");
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, "{\"state\":\"unheard-of\"}"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "enabled");
	CU_ASSERT(json_is_null(json_object_get(st, "backfill")));
	json_decref(st);
	world_close(&w);
}

/* /metrics shows each export's lag as its status does (last_seq - cursor):
 * the whole feed for an export that is off, 1 for one a change short, 0
 * for one that delivered it. */
static void test_metrics_show_each_export_s_lag(void)
{
	struct world w;
	struct store *s;
	char key[300], cursor[32];
	json_int_t last;
	json_t *seqs;

	world_open(&w, "    enabled: false\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(seqs) > 0);
	world_start(&w);
	CU_ASSERT_EQUAL(metrics_lag_of_x(&w),
			json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1)));
	json_decref(seqs);
	world_close(&w);

	/* a cursor one seq short of the feed's last is a lag of 1 */
	world_open(&w, "    enabled: false\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(seqs) > 0);
	s = w.th->reader;
	export_key_cursor(key, sizeof(key), "x");
	last = json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1));
	snprintf(cursor, sizeof(cursor), "%lld", (long long)last - 1);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, cursor), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	world_start(&w);
	CU_ASSERT_EQUAL(metrics_lag_of_x(&w), 1);
	json_decref(seqs);
	world_close(&w);

	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL(metrics_lag_of_x(&w), 0);
	world_close(&w);
}

/* SQLite only: a world of export x (disabled) started, then its store
 * file moved away (a connection opened later fails), into *moved, whence
 * rename(*moved, *db) puts it back; free both.  0, or -1 on PostgreSQL (no
 * file to move; the world is closed). */
static int world_start_store_away(struct world *w, char **db, char **moved)
{
	world_open(w, "    enabled: false\n");
	if (w->th->schema) {
		world_close(w);
		return -1;
	}
	world_start(w);
	CU_ASSERT_FATAL(asprintf(db, "%s/hub.db", w->th->dir) > 0);
	CU_ASSERT_FATAL(asprintf(moved, "%s/hub.db.away", w->th->dir) > 0);
	CU_ASSERT_EQUAL_FATAL(rename(*db, *moved), 0);
	return 0;
}

/* Scrapes that cannot read the lag (the store gone) are logged as an
 * outage: one line for three scrapes, and one when a scrape reads it
 * again; meanwhile the series is left out.  SQLite: its file moved away
 * (the status connection opens at the first scrape). */
static void test_metrics_lag_unread_is_logged_once_not_per_scrape(void)
{
	struct testlib_capture cap;
	struct world w;
	char *db, *moved, *logged;

	if (world_start_store_away(&w, &db, &moved))
		return; /* PostgreSQL: no file to move */
	testlib_capture_begin(&cap);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(metrics_lag_of_x(&w), -1);
	CU_ASSERT_EQUAL_FATAL(rename(moved, db), 0);
	CU_ASSERT(metrics_lag_of_x(&w) >= 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "lag for /metrics: "), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "lag for /metrics read again"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "3 scrapes"));
	free(logged);
	free(moved);
	free(db);
	world_close(&w);
}

/* GET /v1/exports keeps its connection (export_status_provider), where
 * the API's other reads close one that failed: one the server ended (its
 * sessions terminated, as a restart does) is made again by the next
 * request, not kept broken.  PostgreSQL's own: SQLite has no server. */
static void test_exports_status_reads_again_after_the_server_ended_its_connection(void)
{
	static const char end_all[] =
		"DO $$BEGIN PERFORM pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
		" WHERE datname = current_database() AND pid <> pg_backend_pid(); END$$";
	struct world w;
	json_t *st;

	if (!teststore_is_pg())
		return;
	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = export_status_provider(w.ex); /* the status connection, open */
	CU_ASSERT_PTR_NOT_NULL(st);
	json_decref(st);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(getenv("HUB_TEST_PG_URL"), end_all), 0);
	for (int i = 0; i < 2; i++) {
		st = export_status_provider(w.ex);
		CU_ASSERT_PTR_NOT_NULL(st);
		if (!st)
			fprintf(stderr, "\n  request %d after the sessions ended: unread\n", i + 1);
		json_decref(st);
	}
	world_close(&w);
}

/* Requests whose export status cannot be read (the store gone: GET
 * /v1/exports through an outage) are logged as an outage, as the API's
 * other routes are: one line for three requests, and one when a request
 * reads it again.  It was an error line a request.  SQLite: its file
 * moved away before the status connection first opens. */
static void test_exports_status_unread_is_logged_once_not_per_request(void)
{
	struct testlib_capture cap;
	struct world w;
	char *db, *moved, *logged;
	json_t *st;

	if (world_start_store_away(&w, &db, &moved))
		return; /* PostgreSQL: no file to move */
	testlib_capture_begin(&cap);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_PTR_NULL(export_status_provider(w.ex));
	CU_ASSERT_EQUAL_FATAL(rename(moved, db), 0);
	st = export_status_provider(w.ex);
	CU_ASSERT_PTR_NOT_NULL(st);
	json_decref(st);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "status for GET /v1/exports: "), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "status for GET /v1/exports read again"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "3 requests answered 503"));
	free(logged);
	free(moved);
	free(db);
	world_close(&w);
}

/*
 * A lag read held up in the store (a PostgreSQL server that stopped
 * answering), stalled by the test's hook until released: stall.is_armed
 * makes the next read wait in it.  Each flag under stall.lock, every
 * change broadcast on stall.cond.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int is_armed;    /* the next lag read stalls */
	int is_stalled;  /* a lag read waits in the hook */
	int is_released; /* it may go on */
} stall = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void stall_hook(void *ctx, struct store *s)
{
	(void)ctx;
	(void)s;
	pthread_mutex_lock(&stall.lock);
	if (stall.is_armed) {
		stall.is_armed = 0;
		stall.is_stalled = 1;
		pthread_cond_broadcast(&stall.cond);
		while (!stall.is_released)
			pthread_cond_wait(&stall.cond, &stall.lock);
	}
	pthread_mutex_unlock(&stall.lock);
}

/* Sets *flag under stall.lock and says so. */
static void stall_set(int *flag)
{
	pthread_mutex_lock(&stall.lock);
	*flag = 1;
	pthread_cond_broadcast(&stall.cond);
	pthread_mutex_unlock(&stall.lock);
}

/* Waits at most ms for *flag (under stall.lock): 1 when it was set. */
static int stall_wait_for(const int *flag, int64_t ms)
{
	struct timespec until;
	int is_set;

	time_deadline(&until, CLOCK_REALTIME, ms);
	pthread_mutex_lock(&stall.lock);
	while (!*flag && pthread_cond_timedwait(&stall.cond, &stall.lock, &until) == 0)
		;
	is_set = *flag;
	pthread_mutex_unlock(&stall.lock);
	return is_set;
}

/* A scrape of GET /metrics on a thread of its own, and with is_status the
 * status GET /v1/exports shows after it; no CUnit assertion off the test's
 * thread. */
struct scrape {
	struct world *w;
	int is_status;
	char *text;     /* what /metrics showed */
	json_t *status; /* export_status_provider's */
	int is_done;    /* under stall.lock */
};

static void *scrape_main(void *arg)
{
	struct scrape *sc = arg;
	struct metrics *m = metrics_new();

	sc->text = m ? metrics_render(m, &(struct metrics_feeds){.exports = sc->w->ex}) : NULL;
	metrics_free(m);
	if (sc->is_status)
		sc->status = export_status_provider(sc->w->ex);
	stall_set(&sc->is_done);
	return NULL;
}

/* The value of the line "<series> <value>" of a Prometheus text, or -1. */
static double series_value(const char *text, const char *series)
{
	const char *at = text ? strstr(text, series) : NULL;

	return at ? strtod(at + strlen(series), NULL) : -1;
}

/*
 * A lag read that waits on the store holds up no other scrape and no
 * status: while it is stalled, the export delivers a new change, a second
 * scrape shows the lag last read with its age, and GET /v1/exports shows
 * the change delivered.  Both waited for the stalled read (the status
 * connection's lock), as long as a server that stopped answering keeps a
 * statement waiting (a minute: tcp_user_timeout), each scrape on an HTTP
 * thread of its own.
 */
static void test_a_stalled_lag_read_holds_up_no_scrape_nor_the_status(void)
{
	struct scrape first = {0}, second = {0};
	pthread_t t_first, t_second;
	struct world w;
	json_t *x;

	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	export_set_lag_hook(w.ex, stall_hook, NULL);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL(metrics_lag_of_x(&w), 0); /* read now, and kept */
	stall.is_armed = 1;
	stall.is_stalled = stall.is_released = 0;
	first.w = second.w = &w;
	second.is_status = 1;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t_first, NULL, scrape_main, &first), 0);
	CU_ASSERT(stall_wait_for(&stall.is_stalled, WAIT_MS));

	apply(&w, erase_cy);
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0); /* the export went on */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t_second, NULL, scrape_main, &second), 0);
	CU_ASSERT(stall_wait_for(&second.is_done, WAIT_MS));
	/* still stalled (read under the lock) */
	CU_ASSERT_FALSE(stall_wait_for(&first.is_done, 0));
	stall_set(&stall.is_released);
	pthread_join(t_first, NULL);
	pthread_join(t_second, NULL);

	CU_ASSERT_EQUAL(series_value(second.text, "\nexport_lag_changes{export=\"x\"} "), 0);
	CU_ASSERT(series_value(second.text, "\nexport_lag_age_seconds ") >= 0);
	x = json_array_get(json_object_get(second.status, "exports"), 0);
	CU_ASSERT_PTR_NOT_NULL(x);
	CU_ASSERT(int_of(x, "cursor") > 0);
	CU_ASSERT_EQUAL(int_of(x, "cursor"), int_of(x, "last_seq")); /* the erasure delivered */
	/* the stalled read, released, read the lag now */
	CU_ASSERT_EQUAL(series_value(first.text, "\nexport_lag_changes{export=\"x\"} "), 0);
	CU_ASSERT_EQUAL(series_value(first.text, "\nexport_lag_age_seconds "), 0);
	hub_free(first.text);
	hub_free(second.text);
	json_decref(second.status);
	world_close(&w);
}

/* ---- delivery ----------------------------------------------------------- */

static void test_every_change_arrives_in_seq_order_with_its_profile(void)
{
	struct world w;
	json_t *got, *seqs, *c, *st;
	size_t i, n_kinds[4] = {0};

	world_open(&w, "    batch_size: 3\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	st = status_of_x(&w);
	CU_ASSERT_EQUAL(int_of(st, "lag"), (json_int_t)json_array_size(seqs));
	json_decref(st);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);

	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL_FATAL(json_array_size(got), json_array_size(seqs));
	json_array_foreach(got, i, c) {
		const char *kind = str_of(c, "kind");
		json_t *profile = json_object_get(c, "profile");
		CU_ASSERT_EQUAL(int_of(c, "seq"), json_integer_value(json_array_get(seqs, i)));
		CU_ASSERT(str_of(c, "at")[0] != '\0');
		CU_ASSERT(strncmp(str_of(c, "profile_id"), "p_", 2) == 0);
		CU_ASSERT_PTR_NOT_NULL(json_object_get(c, "custom_id"));
		if (profile) {
			CU_ASSERT_STRING_EQUAL(str_of(profile, "profile_id"),
					       str_of(c, "profile_id"));
			CU_ASSERT_PTR_NULL(json_object_get(profile, "events"));
			CU_ASSERT_PTR_NOT_NULL(json_object_get(profile, "event_count"));
		}
		if (strcmp(kind, "event") == 0) {
			n_kinds[0]++;
			CU_ASSERT_PTR_NOT_NULL(
				json_object_get(json_object_get(c, "event"), "name"));
		} else if (strcmp(kind, "merged") == 0) {
			n_kinds[1]++;
			CU_ASSERT_EQUAL(json_array_size(json_object_get(c, "merged_from")), 1);
			CU_ASSERT_STRING_EQUAL(str_of(c, "custom_id"), "ann");
		} else if (strcmp(kind, "profile_updated") == 0) {
			n_kinds[2]++;
		}
	}
	CU_ASSERT_EQUAL(n_kinds[0], 5);
	CU_ASSERT_EQUAL(n_kinds[1], 1);
	CU_ASSERT(n_kinds[2] >= 3);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "idle");
	CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
	CU_ASSERT_EQUAL(int_of(st, "cursor"),
			json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1)));
	CU_ASSERT_EQUAL(int_of(st, "delivered"), (json_int_t)json_array_size(seqs));
	json_decref(st);
	st = export_status_provider(w.ex); /* what GET /v1/exports shows */
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(json_object_get(st, "exports"), 0), "state"),
			       "idle");
	json_decref(st);
	json_decref(got);
	json_decref(seqs);
	world_close(&w);
}

/* outbox_read callback: the kind and profile of each change, in order. */
static int change_add(void *ctx, const struct store_change *c)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s}", "kind", c->kind, "profile_id",
					     c->profile_id));
	return 0;
}

/* A user switch moves I1 from C1 to C2: both profiles changed (C1 no longer
 * holds I1), so each gets a profile_updated change, or an export keeps
 * showing I1 on C1.  The move's log row names C1 as its other profile;
 * only C2's change was checked, and dropping C1's passed. */
static void test_a_moved_installation_updates_the_profile_it_left(void)
{
	struct world w;
	json_t *seqs, *changes, *c;
	char c1[64] = "";
	size_t i;
	int n_c1 = 0, n_c2 = 0;

	world_open(&w, NULL);
	apply(&w,
	      "{\"type\":\"identify\",\"message_id\":\"m1\",\"timestamp\":\"2025-03-01T10:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}}");
	seqs = outbox_seqs(&w);
	CU_ASSERT_EQUAL_FATAL(json_array_size(seqs), 1);
	changes = json_array();
	CU_ASSERT_EQUAL(w.th->reader->ops->outbox_read(w.th->reader, 0, 1000, change_add, changes),
			0);
	snprintf(c1, sizeof(c1), "%s", str_of(json_array_get(changes, 0), "profile_id"));
	json_decref(changes);
	apply(&w,
	      "{\"type\":\"identify\",\"message_id\":\"m2\",\"timestamp\":\"2025-03-01T10:01:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C2\",\"installation_id\":\"I1\"}}");
	changes = json_array();
	CU_ASSERT_EQUAL(w.th->reader->ops->outbox_read(w.th->reader,
						       json_integer_value(json_array_get(seqs, 0)),
						       1000, change_add, changes), 0);
	json_array_foreach(changes, i, c) {
		CU_ASSERT_STRING_EQUAL(str_of(c, "kind"), "profile_updated");
		if (strcmp(str_of(c, "profile_id"), c1) == 0)
			n_c1++;
		else
			n_c2++;
	}
	CU_ASSERT_EQUAL(n_c1, 1);
	CU_ASSERT_EQUAL(n_c2, 1);
	json_decref(changes);
	json_decref(seqs);
	world_close(&w);
}

/* The kinds of the changes the records of `lines` add to the feed, in
 * order, into kinds ("merged profile_updated"): a change of a profile other
 * than pid with a '*' after its kind. */
static void kinds_of(struct world *w, const char *lines, const char *pid, char *kinds,
		     size_t size)
{
	json_t *seqs = outbox_seqs(w), *changes = json_array(), *c;
	json_int_t after = json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1));
	size_t i, len = 0;

	apply(w, lines);
	CU_ASSERT_EQUAL(w->th->reader->ops->outbox_read(w->th->reader, after, 1000, change_add,
							changes), 0);
	kinds[0] = '\0';
	json_array_foreach(changes, i, c)
		len += (size_t)snprintf(kinds + len, len < size ? size - len : 0, "%s%s%s",
					i ? " " : "", str_of(c, "kind"),
					strcmp(str_of(c, "profile_id"), pid) ? "*" : "");
	json_decref(changes);
	json_decref(seqs);
}

/* A world holding `people`, ann's profile ID in ann. */
static void people_open(struct world *w, char ann[PROFILE_ID_SIZE])
{
	char found[1][PROFILE_ID_SIZE];

	world_open(w, NULL);
	apply(w, people);
	CU_ASSERT_EQUAL_FATAL(profile_find(w->th->reader, "custom_id", "ann", found, 1), 1);
	memcpy(ann, found[0], PROFILE_ID_SIZE);
}

/* A track that also sets an attribute (an email identifier is one) or push
 * changes the profile: a profile_updated before its event, or an export
 * keeps the old values; a merge updates the survivor alone (the absorbed
 * one is gone, its merged change says so). */
static void test_a_track_that_sets_profile_data_updates_the_profile(void)
{
	static const char *const tracks[] = {
		"\"identifiers\":{\"installation_id\":\"I1\",\"email\":\"ann@example.org\"}",
		"\"identifiers\":{\"installation_id\":\"I1\"},\"push_enabled\":false",
	};
	struct world w;
	char ann[1][PROFILE_ID_SIZE], line[512], kinds[256];

	people_open(&w, ann[0]);
	for (size_t i = 0; i < ARRAY_SIZE(tracks); i++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"track\",\"message_id\":\"t%zu\","
			 "\"timestamp\":\"2025-03-01T11:0%zu:00.000Z\",%s,"
			 "\"event\":{\"name\":\"view\"}}",
			 i, i, tracks[i]);
		kinds_of(&w, line, ann[0], kinds, sizeof(kinds));
		CU_ASSERT_STRING_EQUAL(kinds, "profile_updated event");
	}
	kinds_of(&w, "{\"type\":\"track\",\"message_id\":\"m1\","
		     "\"timestamp\":\"2025-03-01T12:01:00.000Z\",\"identifiers\":"
		     "{\"installation_id\":\"I8\"},\"event\":{\"name\":\"open\"}}\n",
		 ann[0], kinds, sizeof(kinds));
	CU_ASSERT_STRING_EQUAL(kinds, "profile_updated* event*");
	kinds_of(&w, "{\"type\":\"identify\",\"message_id\":\"m2\","
		     "\"timestamp\":\"2025-03-01T12:02:00.000Z\",\"identifiers\":"
		     "{\"custom_id\":\"ann\",\"installation_id\":\"I8\"}}",
		 ann[0], kinds, sizeof(kinds));
	CU_ASSERT_STRING_EQUAL(kinds, "merged profile_updated");
	world_close(&w);
}

/* A consent record that changes no state (the state stored, at a newer
 * time or an older one; an older other state, which loses) puts nothing on
 * the feed: each put a profile_updated that exports sent for nothing.  One
 * that changes a state does; the same state's newer time is still kept
 * (an unsubscribe between the two times then loses). */
static void test_a_consent_record_that_changes_nothing_is_no_change(void)
{
	static const struct {
		const char *at, *email, *want;
	} runs[] = {
		{"11:00", "subscribed", "profile_updated"},
		{"12:00", "subscribed", ""},  /* the same state, newer */
		{"10:30", "subscribed", ""},  /* the same state, older */
		{"10:45", "unsubscribed", ""}, /* older than the stored 12:00: loses */
		{"11:30", "unsubscribed", ""}, /* older than 12:00 (kept by the second) */
		{"12:30", "unsubscribed", "profile_updated"},
	};
	struct world w;
	char ann[1][PROFILE_ID_SIZE], line[512], kinds[256];
	struct store_consent cs;

	people_open(&w, ann[0]);
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"consent\",\"message_id\":\"cs%zu\","
			 "\"timestamp\":\"2025-03-01T%s:00.000Z\",\"identifiers\":"
			 "{\"custom_id\":\"ann\"},\"consent\":{\"email_marketing\":\"%s\"}}",
			 i, runs[i].at, runs[i].email);
		kinds_of(&w, line, ann[0], kinds, sizeof(kinds));
		CU_ASSERT_STRING_EQUAL(kinds, runs[i].want);
	}
	CU_ASSERT_EQUAL(w.th->reader->ops->consent_get(w.th->reader, ann[0], "email_marketing",
						       &cs), 1);
	CU_ASSERT_STRING_EQUAL(cs.state, "unsubscribed");
	CU_ASSERT_EQUAL(cs.ts_ms, 1740832200000); /* 2025-03-01T12:30:00Z */
	world_close(&w);
}

/* A first unset for a channel nothing was stored for leaves it unset: no
 * change on the feed (exports were sent a profile_updated for nothing),
 * though the unset is stored with its time (an older subscribe loses). */
static void test_a_first_unset_consent_is_no_change(void)
{
	struct world w;
	char ann[1][PROFILE_ID_SIZE], kinds[256];
	struct store_consent cs;

	people_open(&w, ann[0]);
	kinds_of(&w, "{\"type\":\"consent\",\"message_id\":\"cn1\","
		     "\"timestamp\":\"2025-03-01T11:00:00.000Z\",\"identifiers\":"
		     "{\"custom_id\":\"ann\"},\"consent\":{\"sms_marketing\":null}}",
		 ann[0], kinds, sizeof(kinds));
	CU_ASSERT_STRING_EQUAL(kinds, "");
	CU_ASSERT_EQUAL(w.th->reader->ops->consent_get(w.th->reader, ann[0], "sms_marketing",
						       &cs), 1);
	CU_ASSERT_PTR_NULL(cs.state);
	kinds_of(&w, "{\"type\":\"consent\",\"message_id\":\"cn2\","
		     "\"timestamp\":\"2025-03-01T10:00:00.000Z\",\"identifiers\":"
		     "{\"custom_id\":\"ann\"},\"consent\":{\"sms_marketing\":\"subscribed\"}}",
		 ann[0], kinds, sizeof(kinds));
	CU_ASSERT_STRING_EQUAL(kinds, ""); /* older than the unset: loses */
	world_close(&w);
}

/* Push belongs to an installation: push_enabled on a record with none to
 * store it on (an identify or a track of a custom_id alone, an alias
 * without a previous_id) stores nothing, so it puts no profile_updated on
 * the feed (exports were sent one for nothing); with its installation it
 * does. */
static void test_push_without_an_installation_is_no_change(void)
{
	static const struct {
		const char *record, *want;
	} runs[] = {
		{"\"type\":\"identify\",\"identifiers\":{\"custom_id\":\"ann\"}", ""},
		{"\"type\":\"track\",\"identifiers\":{\"custom_id\":\"ann\"},"
		 "\"event\":{\"name\":\"view\"}", "event"},
		{"\"type\":\"alias\",\"identifiers\":{\"custom_id\":\"ann\"}", ""},
		{"\"type\":\"identify\",\"identifiers\":{\"custom_id\":\"ann\","
		 "\"installation_id\":\"I1\"}", "profile_updated"},
	};
	struct world w;
	char ann[1][PROFILE_ID_SIZE], line[512], kinds[256];

	people_open(&w, ann[0]);
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		snprintf(line, sizeof(line),
			 "{%s,\"message_id\":\"p%zu\",\"timestamp\":\"2025-03-01T11:0%zu:00.000Z\","
			 "\"push_enabled\":false}",
			 runs[i].record, i, i);
		kinds_of(&w, line, ann[0], kinds, sizeof(kinds));
		CU_ASSERT_STRING_EQUAL(kinds, runs[i].want);
	}
	world_close(&w);
}

/* An event change carries the event as the profile document shows it:
 * its name, source, message_id, its own timestamp and its properties
 * (decimals as written). */
static void test_an_event_change_carries_the_event_as_recorded(void)
{
	struct world w;
	json_t *got, *c, *ev = NULL;
	char text[65536];
	size_t i, n;
	FILE *f;

	world_open(&w, NULL);
	apply(&w, "{\"type\":\"track\",\"source\":\"web\",\"message_id\":\"ev1\","
		  "\"timestamp\":\"2025-03-01T10:00:00.250Z\","
		  "\"identifiers\":{\"installation_id\":\"I9\"},\"event\":{\"name\":\"buy\","
		  "\"properties\":{\"sku\":\"s1\",\"n\":2,\"price\":18.99}}}\n");
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c)
		if (strcmp(str_of(c, "kind"), "event") == 0)
			ev = json_object_get(c, "event");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
	CU_ASSERT_STRING_EQUAL(str_of(ev, "name"), "buy");
	CU_ASSERT_STRING_EQUAL(str_of(ev, "source"), "web");
	CU_ASSERT_STRING_EQUAL(str_of(ev, "message_id"), "ev1");
	CU_ASSERT_STRING_EQUAL(str_of(ev, "timestamp"), "2025-03-01T10:00:00.250Z");
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(ev, "properties"), "sku"), "s1");
	CU_ASSERT_EQUAL(int_of(json_object_get(ev, "properties"), "n"), 2);
	json_decref(got);
	/* the decimal as written, not as a double's 17 digits */
	CU_ASSERT_FATAL((f = fopen(w.record, "r")) != NULL);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"price\":18.99}"));
	world_close(&w);
}

/* An intake of a process on w's store whose configuration lists no
 * export (an import, `privacy erase`), its configuration into *plain. */
static void plain_intake_start(struct world *w, struct hub_config **plain, struct intake **in)
{
	struct store *writer = NULL;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(config_load_string("plain.yaml", w->th->store_yaml, plain, err,
						 sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(*plain, &writer, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(intake_start(in, writer, *plain, err, sizeof(err)), 0);
}

/* A process without exports writes no feed while the store knows no
 * export either: nothing would ever read it. */
static void test_no_export_known_anywhere_means_no_feed(void)
{
	struct world w;
	struct hub_config *plain;
	struct intake *in = NULL;
	json_t *seqs;
	int was_known = 0;

	world_open(&w, NULL);
	CU_ASSERT_EQUAL_FATAL(export_forget(w.th->reader, "x", &was_known), 0);
	plain_intake_start(&w, &plain, &in);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines_via(w.th, in, people), 0);
	seqs = outbox_seqs(&w);
	CU_ASSERT_EQUAL(json_array_size(seqs), 0);
	json_decref(seqs);
	intake_stop(in);
	config_free(plain);
	world_close(&w);
}

static void test_a_restart_goes_on_from_the_saved_cursor(void)
{
	struct world w;
	json_t *got;

	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_stop(w.ex);
	got = recorded(&w, NULL);
	size_t first = json_array_size(got);
	json_decref(got);

	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"z1\","
	      "\"timestamp\":\"2025-03-03T10:00:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"again\"}}\n");
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), first + 1);
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(json_array_get(got, first), "event"), "name"),
			       "again");
	json_decref(got);
	world_close(&w);
}

static void test_filters_keep_listed_kinds_and_attributes_but_every_erasure(void)
{
	struct world w;
	json_t *got, *c;
	size_t i, n_erased = 0;

	world_open(&w, "    kinds: [profile_updated]\n    attributes: [plan]\n");
	apply(&w, people);
	apply(&w, erase_cy);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT(json_array_size(got) >= 3);
	json_array_foreach(got, i, c) {
		const char *kind = str_of(c, "kind");
		json_t *attrs = json_object_get(json_object_get(c, "profile"), "attributes");
		if (strcmp(kind, "erased") == 0) {
			n_erased++;
			continue;
		}
		CU_ASSERT_STRING_EQUAL(kind, "profile_updated");
		CU_ASSERT_PTR_NULL(json_object_get(attrs, "city"));
		CU_ASSERT_PTR_NULL(json_object_get(attrs, "$email_address"));
		if (json_object_size(attrs))
			CU_ASSERT_PTR_NOT_NULL(json_object_get(attrs, "plan"));
	}
	CU_ASSERT_EQUAL(n_erased, 1);
	json_decref(got);
	world_close(&w);
}

/* An erase of the hub's privacy request naming cy's profile by its ID
 * gives the exports an erased change of that profile, its identifier
 * types, as an erase by cy's custom_id does. */
static void test_an_erase_by_profile_id_gives_an_erased_change(void)
{
	struct world w;
	char ids[1][PROFILE_ID_SIZE], err[512];
	json_t *got, *c, *erased = NULL;
	size_t i;

	world_open(&w, NULL);
	apply(&w, people);
	CU_ASSERT_EQUAL_FATAL(profile_find(w.th->reader, "custom_id", "cy", ids, 1), 1);
	CU_ASSERT_EQUAL_FATAL(privacy_erase_submit(w.th->intake, &w.th->rules, "profile_id", ids[0],
						   "pr_00000000000000e1", NULL, err, sizeof(err)),
			      HUB_OK);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c)
		if (strcmp(str_of(c, "kind"), "erased") == 0)
			erased = c;
	CU_ASSERT_PTR_NOT_NULL_FATAL(erased);
	CU_ASSERT_STRING_EQUAL(str_of(erased, "profile_id"), ids[0]);
	CU_ASSERT(json_array_size(json_object_get(erased, "identifier_types")) >= 1);
	json_decref(got);
	world_close(&w);
}

static void test_an_erased_change_carries_no_personal_data(void)
{
	struct world w;
	json_t *got, *c, *erased = NULL;
	size_t i;
	const char *key;
	json_t *v;

	world_open(&w, NULL);
	apply(&w, people);
	apply(&w, erase_cy);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c) {
		if (strcmp(str_of(c, "kind"), "erased") == 0)
			erased = c;
		else /* the erased profile's pending changes left the outbox */
			CU_ASSERT_STRING_NOT_EQUAL(str_of(c, "custom_id"), "cy");
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(erased);
	json_object_foreach(erased, key, v)
		CU_ASSERT(strcmp(key, "seq") == 0 || strcmp(key, "kind") == 0 ||
			  strcmp(key, "at") == 0 || strcmp(key, "profile_id") == 0 ||
			  strcmp(key, "identifier_types") == 0);
	CU_ASSERT(json_array_size(json_object_get(erased, "identifier_types")) >= 2);
	json_decref(got);
	world_close(&w);
}

/* The erased profile's changes were already delivered when the erasure
 * comes: its change must still reach the export. */
static void test_an_erasure_after_delivery_still_reaches_the_export(void)
{
	struct world w;
	json_t *got, *c;
	size_t i, n_erased = 0;

	int64_t last_before = 0, last_after = 0;

	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL(export_outbox_last_seq(w.th->reader, 0, &last_before), 0);
	apply(&w, erase_cy);
	CU_ASSERT_EQUAL(export_outbox_last_seq(w.th->reader, 0, &last_after), 0);
	/* the erase deleted the newest changes: its own change must still get
	 * a seq the export has not passed (the outbox never reuses a seq) */
	CU_ASSERT_FATAL(last_after > last_before);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c)
		n_erased += strcmp(str_of(c, "kind"), "erased") == 0;
	CU_ASSERT_EQUAL(n_erased, 1);
	json_decref(got);
	world_close(&w);
}

/* A refused record (an alias joining two known users) changes nothing,
 * so it writes nothing to the change feed. */
static void test_a_refused_record_writes_no_change(void)
{
	struct world w;
	json_t *before, *after;

	world_open(&w, NULL);
	apply(&w, people);
	before = outbox_seqs(&w);
	apply(&w, "{\"type\":\"alias\",\"message_id\":\"al\",\"timestamp\":"
		  "\"2025-03-01T11:00:00.000Z\",\"previous_id\":\"ann\",\"identifiers\":"
		  "{\"custom_id\":\"bad\"}}\n");
	CU_ASSERT_EQUAL(w.th->counts.refused, 1);
	after = outbox_seqs(&w);
	CU_ASSERT(json_array_size(before) > 0);
	CU_ASSERT_EQUAL(json_array_size(after), json_array_size(before));
	json_decref(before);
	json_decref(after);
	world_close(&w);
}

/* ---- failures ----------------------------------------------------------- */

/* The status shows at most `max` dead letters, as asked. */
static void check_status_dead_letters_max(struct world *w, size_t max)
{
	json_t *st = export_status_json(w->ex, w->th->reader, w->th->cfg, max, NULL, 0);
	json_t *x = json_array_get(json_object_get(st, "exports"), 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(x, "dead_letters")), max);
	json_decref(st);
}

/* `people` (after `before`, when not NULL) through an export that refuses
 * Bad's changes: exactly those two are dead-lettered, every other one
 * delivered in seq order. */
static void check_bad_changes_dead_lettered(const char *keys, const char *before)
{
	struct world w;
	json_t *got, *dl, *seqs, *c, *st;
	size_t i;

	world_open(&w, keys);
	if (before)
		apply(&w, before);
	apply(&w, people);
	seqs = outbox_seqs(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	dl = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(dl), 2); /* Bad's profile_updated and event */
	CU_ASSERT_EQUAL(json_array_size(got) + json_array_size(dl), json_array_size(seqs));
	json_array_foreach(dl, i, c) {
		CU_ASSERT_PTR_NOT_NULL(strstr(str_of(c, "change"), "\"custom_id\":\"bad\""));
		CU_ASSERT_PTR_NOT_NULL(strstr(str_of(c, "reason"), "scripted bad data"));
	}
	json_array_foreach(got, i, c) {
		CU_ASSERT_STRING_NOT_EQUAL(str_of(c, "custom_id"), "bad");
		if (i > 0) /* seq order kept around the holes */
			CU_ASSERT(int_of(c, "seq") > int_of(json_array_get(got, i - 1), "seq"));
	}
	st = status_of_x(&w);
	CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
	CU_ASSERT_EQUAL(int_of(st, "dead_lettered"), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(st, "dead_letters")), 2);
	json_array_foreach(json_object_get(st, "dead_letters"), i, c) {
		CU_ASSERT_EQUAL(int_of(c, "seq"), int_of(json_array_get(dl, i), "seq"));
		CU_ASSERT_PTR_NOT_NULL(strstr(str_of(c, "reason"), "scripted bad data"));
		CU_ASSERT(str_of(c, "at")[0] == '2'); /* a time, 20xx */
	}
	check_status_dead_letters_max(&w, 2);
	check_status_dead_letters_max(&w, 1);
	CU_ASSERT_PTR_NULL(json_object_get(json_array_get(json_object_get(st, "dead_letters"), 0),
					   "change")); /* no personal data in the status */
	/* nor the reason, which may quote the change, beyond the dead letter
	 * (that an erase deletes): the last error names it by seq */
	CU_ASSERT_PTR_NULL(strstr(str_of(st, "last_error"), "scripted bad data"));
	CU_ASSERT_PTR_NOT_NULL(strstr(str_of(st, "last_error"), "was dead-lettered"));
	json_decref(st);
	json_decref(got);
	json_decref(dl);
	json_decref(seqs);
	world_close(&w);
}

static void test_a_refused_batch_is_narrowed_to_the_bad_changes(void)
{
	check_bad_changes_dead_lettered("    bad_custom_id: bad\n    mode: batch\n", NULL);
}

/* A refused batch of two changes, a good one then Bad's (one change of
 * someone else first puts them so), is narrowed as well: the good change
 * is delivered, not dead-lettered with the bad one. */
static void test_a_refused_batch_of_two_is_narrowed_too(void)
{
	check_bad_changes_dead_lettered(
		"    bad_custom_id: bad\n    mode: batch\n    batch_size: 2\n",
		"{\"type\":\"identify\",\"message_id\":\"z1\",\"timestamp\":"
		"\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"zoe\"}}\n");
}

static void test_a_precise_refusal_keeps_the_changes_before_it(void)
{
	check_bad_changes_dead_lettered("    bad_custom_id: bad\n    mode: precise\n"
					"    batch_size: 50\n",
					NULL);
}

/* A plugin's reason that is not UTF-8 (a receiver's Latin-1 text passed
 * on) is kept as UTF-8, each bad byte a '?': stored as it was, PostgreSQL
 * refused the dead letter (the export retried for ever), and on SQLite
 * every status (GET /v1/exports, `profilehub exports`) failed, "out of
 * memory", once the dead letter was there. */
static void test_a_reason_that_is_not_utf8_is_dead_lettered_as_utf8(void)
{
	struct world w;
	json_t *dl, *c, *st;
	size_t i;

	world_open(&w, "    bad_custom_id: bad\n    mode: precise\n    bad_latin1: true\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	dl = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(dl), 2); /* Bad's profile_updated and event */
	json_array_foreach(dl, i, c) {
		const char *reason = str_of(c, "reason");
		size_t n = strlen(reason);
		CU_ASSERT_PTR_NOT_NULL(strstr(reason, "scripted bad data at "));
		CU_ASSERT(n > 6 && strcmp(reason + n - 6, ": caf?") == 0);
	}
	st = status_of_x(&w);
	CU_ASSERT_EQUAL(int_of(st, "dead_lettered"), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(st, "dead_letters")), 2);
	json_array_foreach(json_object_get(st, "dead_letters"), i, c)
		CU_ASSERT_STRING_EQUAL(str_of(c, "reason"),
				       str_of(json_array_get(dl, i), "reason"));
	json_decref(st);
	json_decref(dl);
	world_close(&w);
}

/* A dead letter stored with a reason that is not UTF-8 (SQLite kept a
 * plugin's Latin-1 text as it was before the worker cleaned it) reads as
 * UTF-8, each ill-formed byte a '?': while it was there every status (GET
 * /v1/exports 503, `profilehub exports`) and its page of dead letters
 * failed, "out of memory".  SQLite only: PostgreSQL never took one. */
static void test_a_stored_reason_that_is_not_utf8_reads_as_utf8(void)
{
	struct store_dead_letter d = {.export_name = "x", .seq = 7, .profile_id = "p_old",
				      .at_ms = 1000, .reason = "refused: caf\xe9 \xff!",
				      .change_json = "{}"};
	char err[256] = "";
	struct world w;
	json_t *st, *page;

	world_open(&w, NULL);
	if (w.th->schema) {
		world_close(&w);
		return; /* PostgreSQL refuses such a reason (22021) */
	}
	CU_ASSERT_EQUAL_FATAL(w.th->reader->ops->dead_letter_put(w.th->reader, &d), 0);
	st = status_of_x(&w);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(st, "dead_letters")), 1);
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(json_object_get(st, "dead_letters"), 0),
				      "reason"),
			       "refused: caf? ?!");
	json_decref(st);
	page = export_dead_letters_page(w.th->reader, "x", 0, 10, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(page);
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(json_object_get(page, "dead_letters"), 0),
				      "reason"),
			       "refused: caf? ?!");
	json_decref(page);
	world_close(&w);
}

/* Starts w's exports with the log at info captured, waits until they are
 * idle; the log (free it), or NULL. */
static char *start_logged(struct world *w)
{
	struct testlib_capture cap;
	enum hub_log_level level = log_get_level();
	char *logged;

	log_set_level(HUB_LOG_INFO);
	testlib_capture_begin(&cap);
	world_start(w);
	CU_ASSERT_EQUAL(export_wait_idle(w->ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	log_set_level(level);
	return logged;
}

/* Bad's 30 events in a row through an export of keys that refuses each:
 * every change is kept as a dead letter, but the log says `phrase` in a
 * line or two, not once per change or batch (a receiver refusing
 * everything for a day would write that many). */
static void check_refusals_logged_seldom(const char *keys, const char *phrase)
{
	struct world w;
	char line[256], *logged, *at;
	size_t n_lines = 0;
	json_t *dl, *seqs;

	world_open(&w, keys);
	for (int i = 0; i < 30; i++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"track\",\"message_id\":\"d%d\",\"timestamp\":"
			 "\"2025-03-01T10:%02d:00.000Z\",\"identifiers\":{\"custom_id\":\"bad\"},"
			 "\"event\":{\"name\":\"open\"}}\n", i, i);
		apply(&w, line);
	}
	seqs = outbox_seqs(&w);
	logged = start_logged(&w);
	dl = dead_letters(&w); /* every change is Bad's */
	CU_ASSERT(json_array_size(dl) >= 30);
	CU_ASSERT_EQUAL(json_array_size(dl), json_array_size(seqs));
	for (at = logged; at && (at = strstr(at, phrase)); at++)
		n_lines++;
	CU_ASSERT(n_lines >= 1 && n_lines <= 2);
	free(logged);
	json_decref(dl);
	json_decref(seqs);
	world_close(&w);
}

/* A repeated line is due once every LOG_EVERY_MS, and the due one says how
 * many it stands for besides itself: here 4 in between, then none. */
static void test_a_repeated_line_counts_the_ones_it_stands_for(void)
{
	struct log_every l = {0};
	int64_t n = -1;

	CU_ASSERT_EQUAL(export_log_every_due_at(&l, 1000, &n), 1);
	CU_ASSERT_EQUAL(n, 0);
	for (int64_t at = 1001; at < 1004; at++)
		CU_ASSERT_EQUAL(export_log_every_due_at(&l, at, &n), 0);
	CU_ASSERT_EQUAL(export_log_every_due_at(&l, 1000 + LOG_EVERY_MS - 1, &n), 0);
	n = -1;
	CU_ASSERT_EQUAL(export_log_every_due_at(&l, 1000 + LOG_EVERY_MS, &n), 1);
	CU_ASSERT_EQUAL(n, 4);
	n = -1;
	CU_ASSERT_EQUAL(export_log_every_due_at(&l, 1000 + 2 * LOG_EVERY_MS, &n), 1);
	CU_ASSERT_EQUAL(n, 0);
}

static void test_dead_letters_in_a_row_are_not_logged_one_by_one(void)
{
	check_refusals_logged_seldom("    bad_custom_id: bad\n    mode: precise\n",
				     "was dead-lettered");
}

/* batches of 2, each refused whole, then sent one at a time */
static void test_refused_batches_in_a_row_are_not_logged_one_by_one(void)
{
	check_refusals_logged_seldom("    bad_custom_id: bad\n    mode: batch\n"
				     "    batch_size: 2\n",
				     "sending them one at a time");
}

/* A plugin that accepts every change of a call yet answers bad data: the
 * changes count as delivered, nothing is dead-lettered. */
static void test_bad_data_with_every_change_accepted_is_a_delivery(void)
{
	struct world w;
	json_t *got, *dl, *seqs, *st;

	world_open(&w, "    mode: contradict\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	dl = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(dl), 0);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	st = status_of_x(&w);
	CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
	CU_ASSERT_EQUAL(int_of(st, "dead_lettered"), 0);
	json_decref(st);
	json_decref(got);
	json_decref(dl);
	json_decref(seqs);
	world_close(&w);
}

static void test_retries_back_off_then_deliver_everything(void)
{
	struct world w;
	json_t *got, *seqs, *st;

	json_t *calls;
	char want[64];

	world_open(&w, "    retries: 4\n    batch_size: 5\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, &calls);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	/* the retried batch is the same batch: same seqs, same idempotency key */
	CU_ASSERT_FATAL(json_array_size(calls) >= 5);
	snprintf(want, sizeof(want), "%lld-%lld",
		 (long long)json_integer_value(json_array_get(seqs, 0)),
		 (long long)json_integer_value(json_array_get(seqs, 4)));
	for (size_t i = 0; i < 5; i++) {
		const char *call = json_string_value(json_array_get(calls, i));
		CU_ASSERT_EQUAL(strncmp(call, want, strlen(want)), 0);
		CU_ASSERT_EQUAL(atoi(call + strlen(want)), i < 4 ? HUB_RETRY : HUB_OK);
	}
	json_decref(calls);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "idle");
	CU_ASSERT(json_is_null(json_object_get(st, "next_attempt_at"))); /* delivered since */
	/* the retries' error is kept, said past once a delivery went through,
	 * live and saved (`profilehub exports`): it was read as a live problem */
	CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "retry after 0ms: scripted");
	CU_ASSERT(json_is_true(json_object_get(st, "last_error_is_past")));
	json_decref(st);
	st = status_of_x_in(&w, NULL);
	CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "retry after 0ms: scripted");
	CU_ASSERT(json_is_true(json_object_get(st, "last_error_is_past")));
	json_decref(st);
	json_decref(got);
	json_decref(seqs);
	world_close(&w);
}

/* A world of `keys` with `people` applied, its export run until idle; the
 * log at info meanwhile (free it), or NULL. */
static char *people_logged(struct world *w, const char *keys)
{
	world_open(w, keys);
	apply(w, people);
	return start_logged(w);
}

/* Failed attempts in a row are logged as a state, not a line per retry
 * (a receiver down for an hour was ~240 warn lines, and its return none):
 * the first with its cause and retry, at warn as the retries were (a
 * receiver's blip is no error to page for: it was logged at error), then
 * "delivering again" with the count once a batch goes through. */
static void test_retries_are_logged_as_a_state_that_ends(void)
{
	struct world w;
	char *logged = people_logged(&w, "    retries: 4\n    batch_size: 5\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "scripted"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, " warn [export x] delivery failing: retry after"
					   " 0ms: scripted (retry 1 in "), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] delivering again (failing since "),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, " s: 4 attempts failed)"), 1);
	free(logged);
	world_close(&w);
}

/* The failing state's lines in `logged`: `n_failing` starts, one end
 * counting `attempts` ("2 attempts failed"). */
static void check_failing_logged(const char *logged, int n_failing, const char *attempts)
{
	char end[64];

	snprintf(end, sizeof(end), " s: %s)", attempts);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] delivery failing: "), n_failing);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] delivering again (failing since "),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, end), 1);
}

/* A call that delivered part of its batch and answered a retry (a
 * connection lost before the last ack) is no end of the failing state:
 * it was ended and begun again, two lines an attempt for a receiver that
 * keeps failing midway, whatever the state's rate.  One state of two
 * attempts, then its end at the batch delivered. */
static void test_a_part_delivered_then_a_retry_is_one_failing_state(void)
{
	struct world w;
	char *logged = people_logged(&w, "    retries: 1\n    mode: short\n    batch_size: 5\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	check_failing_logged(logged, 1, "2 attempts failed");
	free(logged);
	world_close(&w);
}

/* A failure with nothing to deliver (the store refusing the worker's load
 * after its lease) ends once the worker is caught up: it waited for a
 * delivery that could be hours away, then ended a state long over. */
static void test_a_failure_with_nothing_to_deliver_ends_once_caught_up(void)
{
	struct world w;
	char *logged;

	world_open(&w, NULL);
	export_set_load_fault(2);
	logged = start_logged(&w);
	export_set_load_fault(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	check_failing_logged(logged, 1, "1 attempts failed");
	free(logged);
	world_close(&w);
}

/* The status of x as `ex` (NULL: the world's) shows it once its state is
 * `state`, polled (WAIT_MS); the last one seen when it never is.  A new
 * reference. */
static json_t *status_of_x_in_once(struct world *w, struct exporter *ex, const char *state)
{
	struct timespec pause = {0, 2 * 1000 * 1000};
	json_t *st = NULL;

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		json_decref(st);
		st = ex ? status_of_x_in(w, ex) : status_of_x(w);
		if (strcmp(str_of(st, "state"), state) == 0)
			break;
		nanosleep(&pause, NULL);
	}
	return st;
}

static json_t *status_of_x_once(struct world *w, const char *state)
{
	return status_of_x_in_once(w, NULL, state);
}

/* While a batch waits to be sent again, the status says when: the wait
 * the plugin asked for (60 s) after the failure, at least; a stop ends
 * the wait at once. */
static void test_a_retry_shows_when_the_next_attempt_is(void)
{
	struct world w;
	int64_t failed_at = 0, next_at = 0;
	json_t *st;

	world_open(&w, "    retries: 1\n    retry_after: 60s\n");
	apply(&w, people);
	world_start(&w);
	st = status_of_x_once(&w, "retrying");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "retrying");
	CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "retry after 60s: scripted");
	CU_ASSERT_EQUAL(time_parse_rfc3339(str_of(st, "last_error_at"), &failed_at), 0);
	CU_ASSERT_EQUAL(time_parse_rfc3339(str_of(st, "next_attempt_at"), &next_at), 0);
	CU_ASSERT(next_at - failed_at >= 60000);
	CU_ASSERT(next_at - failed_at <= 60000 + 1000);
	json_decref(st);
	world_close(&w);
}

/* /metrics says an export is failing, for how long and how many attempts
 * in a row, and that it is not once it delivers again: only its lag said
 * so, and on a quiet feed an export failing for good stayed under a lag
 * alert. */
static void test_metrics_show_a_failing_export_until_it_delivers(void)
{
	struct world w;
	json_t *st;

	world_open(&w, "    retries: 1\n    retry_after: 60s\n");
	apply(&w, people);
	world_start(&w);
	st = status_of_x_once(&w, "retrying");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "retrying");
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failing"), 1);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failed_attempts"), 1);
	CU_ASSERT(metrics_of_x(&w, "export_failing_seconds") >= 0);
	json_decref(st);
	world_close(&w);

	world_open(&w, "    retries: 3\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failing"), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failed_attempts"), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failing_seconds"), 0);
	CU_ASSERT(metrics_of_x(&w, "export_delivered_total") > 0);
	world_close(&w);
}

/* A world whose export x answers its first call "retry" after waiting at
 * a gate (in `dir`: blocked once it waits), then is refused its
 * credentials while `refusing` exists, which refuse_now() creates. */
struct refusal {
	char *dir, *blocked, *refusing;
};

static void refusal_open(struct world *w, struct refusal *r)
{
	char *keys;

	r->dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(asprintf(&r->blocked, "%s/go.blocked", r->dir) > 0);
	CU_ASSERT_FATAL(asprintf(&r->refusing, "%s/refusing", r->dir) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "    retries: 1\n    gate: %s/go\n    fail: auth\n"
				 "    fail_while: %s\n", r->dir, r->refusing) > 0);
	world_open(w, keys);
	free(keys);
	apply(w, people);
	world_start(w);
	CU_ASSERT_FATAL(file_appears(r->blocked)); /* the first send, at the gate */
}

/* The credentials are refused from now on; the first send goes on. */
static void refuse_now(struct refusal *r)
{
	FILE *f = fopen(r->refusing, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	gate_open(r->blocked);
}

static void refusal_close(struct world *w, struct refusal *r)
{
	world_close(w);
	testlib_rmtree(r->dir);
	free(r->dir);
	free(r->blocked);
	free(r->refusing);
}

/* An export failing, then disabled (its receiver refusing the credentials
 * after an outage): /metrics says disabled, no longer failing, which
 * stayed 1 with its seconds growing (an alert on export_failing_seconds
 * for an export that tries nothing). */
static void test_metrics_a_disabled_export_is_not_failing(void)
{
	struct world w;
	struct refusal r;

	refusal_open(&w, &r); /* the first send, answered "retry" */
	refuse_now(&r);       /* then the credentials are refused */
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_disabled"), 1);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failing"), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failed_attempts"), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failing_seconds"), 0);
	refusal_close(&w, &r);
}

static int x_saved_disabled(struct world *w);

/* Two processes: w.ex holds x's lease with a batch in its plugin's hands
 * (r's gate); *other, whose store failed at its start (a failed attempt),
 * waits for the lease, its state shown so.  export_stop() *other. */
static void other_waits_for_the_lease(struct world *w, struct refusal *r,
				      struct exporter **other)
{
	char err[512];
	json_t *st;

	refusal_open(w, r);       /* w->ex holds the lease, in its plugin */
	export_set_load_fault(1); /* the other's first load: a store error */
	CU_ASSERT_EQUAL_FATAL(export_start(other, w->th->cfg, err, sizeof(err)), 0);
	st = status_of_x_in_once(w, *other, "held by another process");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "held by another process");
	json_decref(st);
	export_set_load_fault(0);
}

/*
 * A process that failed, then finds the export's lease held by another,
 * is not failing: it tries nothing, the holder delivers and its /metrics
 * say how that goes.  Its failing state stayed, export_failing 1 with its
 * seconds growing on a process delivering nothing (an alert on every hub
 * but the one delivering).  The log says it ended, and why.
 */
static void test_metrics_an_export_held_by_another_process_is_not_failing(void)
{
	struct testlib_capture cap;
	struct exporter *other = NULL;
	struct world w;
	struct refusal r;
	char *logged;

	testlib_capture_begin(&cap);
	other_waits_for_the_lease(&w, &r, &other);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "delivery failing: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "not failing in this process: another process"
					      " holds the export's lease and delivers it (failing"
					      " since "));
	free(logged);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_lease_held"), 0);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_failing"), 0);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_failed_attempts"), 0);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_failing_seconds"), 0);
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_lease_held"), 1);
	gate_open(r.blocked); /* the holder's send goes on: it stops at once */
	export_stop(other);
	refusal_close(&w, &r);
}

/*
 * Two processes as above.  The holder is refused the credentials and
 * disables x in the store; the other takes the lease, its load there
 * failing once (a failed attempt: it is failing), then finds x disabled,
 * and its /metrics says disabled, no longer failing.  Its failing state
 * stayed, export_failing 1 with its seconds growing, for an export no
 * process tries.
 */
static void test_metrics_an_export_found_disabled_by_another_process_is_not_failing(void)
{
	struct world w;
	struct refusal r;
	struct exporter *other = NULL;
	json_t *st;

	other_waits_for_the_lease(&w, &r, &other);
	export_set_load_fault(1); /* its load at the take: a store error */
	refuse_now(&r);
	CU_ASSERT(x_saved_disabled(&w));
	st = status_of_x_in_once(&w, other, "disabled");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT_PTR_NOT_NULL(strstr(str_of(st, "last_error"), "scripted auth failure"));
	json_decref(st);
	export_set_load_fault(0);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_disabled"), 1);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_failing"), 0);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_failed_attempts"), 0);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_failing_seconds"), 0);
	export_stop(other);
	refusal_close(&w, &r);
}

/* A process waiting for the lease tries nothing, so it shows no next
 * attempt: it showed its last retry's, a time long past while the holder
 * delivers (docs: next_attempt_at says when a `retrying` export tries
 * again). */
static void test_an_export_held_by_another_process_shows_no_next_attempt(void)
{
	struct exporter *other = NULL;
	struct world w;
	struct refusal r;
	json_t *st;

	other_waits_for_the_lease(&w, &r, &other); /* its start failed: a retry */
	st = status_of_x_in(&w, other);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "held by another process");
	CU_ASSERT_PTR_NOT_NULL(json_object_get(st, "next_attempt_at"));
	CU_ASSERT(json_is_null(json_object_get(st, "next_attempt_at")));
	json_decref(st);
	gate_open(r.blocked);
	export_stop(other);
	refusal_close(&w, &r);
}

/* The same once idle after a retry (its store failed at its start, then
 * nothing was left to deliver): no next attempt is waited for. */
static void test_an_idle_export_shows_no_next_attempt(void)
{
	struct testlib_capture cap;
	struct world w;
	char *logged;
	json_t *st;

	world_open(&w, NULL);
	export_set_load_fault(1);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	export_set_load_fault(0);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "delivery failing: an injected store"
						       " failure") : NULL);
	st = status_of_x_once(&w, "idle");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "idle");
	CU_ASSERT_PTR_NOT_NULL(json_object_get(st, "next_attempt_at"));
	CU_ASSERT(json_is_null(json_object_get(st, "next_attempt_at")));
	json_decref(st);
	free(logged);
	world_close(&w);
}

/* As another process's take of x's lease moves its epoch on (the lock is
 * this process's, held on its worker's connection: no test can take it). */
static void x_lease_epoch_move(struct world *w)
{
	struct store *other = NULL;
	char err[512], epoch[32];

	CU_ASSERT_EQUAL_FATAL(store_open(w->th->cfg, &other, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(other->ops->begin(other), 0);
	CU_ASSERT_EQUAL_FATAL(other->ops->meta_get_held(other, "lease_epoch:export:x", epoch,
							sizeof(epoch)), 1);
	snprintf(epoch, sizeof(epoch), "%lld", strtoll(epoch, NULL, 10) + 1);
	CU_ASSERT_EQUAL(other->ops->meta_put(other, "lease_epoch:export:x", epoch), 0);
	CU_ASSERT_EQUAL(other->ops->commit(other), 0);
	store_close(other);
}

/*
 * The lease lost while a batch is in the plugin's hands (another process
 * took it): the cursor is not saved, and nothing failed.  The log said
 * "delivery failing: the store refused the cursor" and counted a failed
 * attempt.  It says the batch goes again, and it does: from the saved
 * cursor, with the same planned range (the same idempotency key), here
 * by this process, which takes the lease again.
 */
static void test_a_cursor_fenced_off_by_a_lost_lease_is_no_failed_attempt(void)
{
	struct testlib_capture cap;
	struct world w;
	char *dir = testlib_mkdtemp(), *blocked, *keys, *logged;
	json_t *calls = NULL;

	CU_ASSERT_FATAL(asprintf(&blocked, "%s/go.blocked", dir) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "    gate: %s/go\n    gate_first: true\n", dir) > 0);
	world_open(&w, keys);
	apply(&w, people);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT_FATAL(file_appears(blocked)); /* the first batch, in the plugin */
	x_lease_epoch_move(&w);
	gate_open(blocked);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "lease lost: lease_epoch:export:x is "), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, " was sent, its cursor not saved (the lease was"
					 " lost): the process holding the lease sends it again,"
					 " the same range with the same idempotency key; not a"
					 " failed attempt"), 1);
	CU_ASSERT_PTR_NULL(strstr(logged, "delivery failing"));
	CU_ASSERT_PTR_NULL(strstr(logged, "delivering again"));
	CU_ASSERT_EQUAL(testlib_count_of(logged, "lease export:x taken (epoch "), 2);
	json_decref(recorded(&w, &calls));
	CU_ASSERT_FATAL(json_array_size(calls) >= 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_array_get(calls, 0)), " 0 range "));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(calls, 1)),
			       json_string_value(json_array_get(calls, 0)));
	CU_ASSERT_EQUAL(metrics_of_x(&w, "export_failed_attempts"), 0);
	json_decref(calls);
	free(logged);
	free(keys);
	free(blocked);
	world_close(&w);
	testlib_rmtree(dir);
	free(dir);
}

/* A call that delivered all but its last change before it failed (HUB_RETRY
 * with n_done = n - 1): the cursor moves past the delivered ones only, and
 * the last is sent again: every change reaches the export once, in order. */
static void test_a_call_short_of_its_last_change_sends_that_change_again(void)
{
	struct world w;
	json_t *got, *seqs;

	world_open(&w, "    mode: short\n    batch_size: 5\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL_FATAL(json_array_size(got), json_array_size(seqs));
	for (size_t i = 0; i < json_array_size(seqs); i++)
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(got, i), "seq")),
				json_integer_value(json_array_get(seqs, i)));
	json_decref(got);
	json_decref(seqs);
	world_close(&w);
}

/* A world of `keys` with `people` applied (*seqs: the feed's seqs), its
 * export run until idle; what it logged meanwhile. */
static char *world_run_logged(struct world *w, const char *keys, json_t **seqs)
{
	struct testlib_capture cap;
	char *logged;

	world_open(w, keys);
	apply(w, people);
	*seqs = outbox_seqs(w);
	testlib_capture_begin(&cap);
	world_start(w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w->ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	return logged;
}

/*
 * An answer export_batch() cannot mean (a bug in the plugin): *n_done past
 * the changes given, or a code no hub_rc.  The plugin accepted only the
 * first change of that call; the hub took *n_done past the batch as all of
 * it (clamped, silently) and a garbage code as a retry after *n_done, so
 * the rest were skipped, never delivered.  Now none of the call counts:
 * the batch is sent again (its first change twice: at least once), and the
 * log names the export, the plugin and the value.
 */
static void test_an_answer_past_the_batch_delivers_the_batch_again(void)
{
	static const struct {
		const char *keys;
		const char *logged;
	} rows[] = {
		{"    lie: n_done\n    batch_size: 5\n",
		 "[export x] plugin export_script: export_batch() set *n_done to 6 for a batch"
		 " of 5: none of its 5 changes taken as delivered"},
		{"    lie: rc\n    batch_size: 5\n",
		 "[export x] plugin export_script: export_batch() returned 42, which is not a"
		 " hub_rc: none of its 5 changes taken as delivered"},
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct world w;
		json_t *got, *seqs, *st;
		char *logged;

		logged = world_run_logged(&w, rows[r].keys, &seqs);
		CU_ASSERT_PTR_NOT_NULL(strstr(logged, rows[r].logged));
		CU_ASSERT_PTR_NOT_NULL(
			strstr(logged, "(a bug in the plugin; 1 such answers so far)"));
		got = recorded(&w, NULL);
		/* the first change twice (the lying call, then the batch again),
		 * then every other once, in order */
		CU_ASSERT_EQUAL_FATAL(json_array_size(got), json_array_size(seqs) + 1);
		CU_ASSERT_EQUAL(int_of(json_array_get(got, 0), "seq"),
				json_integer_value(json_array_get(seqs, 0)));
		for (size_t i = 0; i < json_array_size(seqs); i++)
			CU_ASSERT_EQUAL(int_of(json_array_get(got, i + 1), "seq"),
					json_integer_value(json_array_get(seqs, i)));
		st = status_of_x(&w);
		CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(str_of(st, "last_error"), "(a bug in the plugin)"));
		json_decref(st);
		json_decref(got);
		json_decref(seqs);
		free(logged);
		world_close(&w);
	}
}

/* A plugin's own HUB_ERR_STOPPED while the hub is not stopping is a
 * temporary failure like any other: backed off and shown.  The worker took
 * it for the hub's stop and sent the batch again at once, about 80,000
 * times a second, with no error in the status. */
static void test_a_stopped_answer_without_a_stop_is_a_retry(void)
{
	struct world w;
	json_t *got, *seqs, *st, *calls;

	world_open(&w, "    stops: 3\n    batch_size: 5\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, &calls);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	CU_ASSERT_FATAL(json_array_size(calls) >= 4);
	for (size_t i = 0; i < 4; i++) {
		const char *call = json_string_value(json_array_get(calls, i));
		CU_ASSERT_EQUAL(atoi(strchr(call, ' ') + 1), i < 3 ? HUB_ERR_STOPPED : HUB_OK);
	}
	json_decref(calls);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "scripted stop");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "idle");
	json_decref(st);
	json_decref(got);
	json_decref(seqs);
	world_close(&w);
}

/*
 * HUB_OK with *n_done left 0, an export_batch() that forgot to set it (the
 * likeliest slip of a plugin's author): none taken as delivered, the batch
 * sent again after a backoff.  The error said only "the plugin accepted
 * none of the changes", to an author whose plugin answered HUB_OK, and
 * dropped what the plugin wrote in err.  Now it names HUB_OK and *n_done,
 * and keeps the plugin's message.
 */
static void test_an_ok_with_no_change_done_says_n_done_was_not_set(void)
{
	static const struct {
		const char *keys;
		const char *error;
	} rows[] = {
		{"    forgets: 2\n    batch_size: 5\n",
		 "the plugin's export_batch() answered HUB_OK with *n_done 0 of 5 changes: none"
		 " taken as delivered, the batch is sent again (set *n_done to the changes"
		 " accepted)"},
		{"    forgets: 1\n    forgot_says: receiver took none\n    batch_size: 5\n",
		 "the plugin's export_batch() answered HUB_OK with *n_done 0 of 5 changes: none"
		 " taken as delivered, the batch is sent again (set *n_done to the changes"
		 " accepted); its message: receiver took none"},
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct world w;
		json_t *got, *seqs, *st;
		char *logged;

		logged = world_run_logged(&w, rows[r].keys, &seqs);
		CU_ASSERT_PTR_NOT_NULL(strstr(logged, rows[r].error));
		/* every change once, in order: none taken as delivered before */
		got = recorded(&w, NULL);
		CU_ASSERT_EQUAL_FATAL(json_array_size(got), json_array_size(seqs));
		for (size_t i = 0; i < json_array_size(seqs); i++)
			CU_ASSERT_EQUAL(int_of(json_array_get(got, i), "seq"),
					json_integer_value(json_array_get(seqs, i)));
		st = status_of_x(&w);
		CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), rows[r].error);
		CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
		json_decref(st);
		json_decref(got);
		json_decref(seqs);
		free(logged);
		world_close(&w);
	}
}

static const char erase_ann[] =
	"{\"type\":\"erase\",\"message_id\":\"e2\",\"timestamp\":\"2025-03-02T10:00:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"ann\"}}\n";

/* A world of people whose export x (its keys `keys`, then a gate) holds its
 * first batch in export_script's gate: *dir holds the gate, *blocked is
 * the file the plugin made there (gate_open() lets it go on). */
static void gated_world_open(struct world *w, const char *keys, char **dir, char **blocked)
{
	char *all;

	*dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(asprintf(blocked, "%s/go.blocked", *dir) > 0);
	CU_ASSERT_FATAL(asprintf(&all, "%s    gate: %s/go\n", keys, *dir) > 0);
	world_open(w, all);
	free(all);
	apply(w, people);
	world_start(w);
	CU_ASSERT_FATAL(file_appears(*blocked)); /* export_batch() waits at the gate */
}

static void gated_world_close(struct world *w, char *dir, char *blocked)
{
	world_close(w);
	testlib_rmtree(dir);
	free(dir);
	free(blocked);
}

/*
 * A batch sent again after an erase took its first changes out of the feed
 * keeps its planned range (batch_range(), the webhook's Idempotency-Key):
 * the seqs handed over change, the range does not.  Before ABI 1.4 the
 * webhook built its key from the seqs handed over, so a receiver that had
 * stored the first send (its answer lost) took the second as a new batch.
 */
static void test_a_batch_sent_again_keeps_its_range_when_changes_left_it(void)
{
	struct world w;
	char *gate, *blocked;
	json_t *calls, *got;
	char first_sent[64], again_sent[64], first_range[64], again_range[64];
	int first_rc = -1, again_rc = -1;

	/* the first send, held, then answered "retry" */
	gated_world_open(&w, "    retries: 1\n    batch_size: 5\n", &gate, &blocked);
	apply(&w, erase_ann); /* ann's changes, first in the batch, leave the feed */
	gate_open(blocked);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, &calls);
	CU_ASSERT_FATAL(json_array_size(calls) >= 2);
	CU_ASSERT_EQUAL_FATAL(sscanf(json_string_value(json_array_get(calls, 0)),
				     "%63s %d range %63s", first_sent, &first_rc, first_range), 3);
	CU_ASSERT_EQUAL_FATAL(sscanf(json_string_value(json_array_get(calls, 1)),
				     "%63s %d range %63s", again_sent, &again_rc, again_range), 3);
	CU_ASSERT_EQUAL(first_rc, HUB_RETRY);
	CU_ASSERT_EQUAL(again_rc, HUB_OK);
	CU_ASSERT_STRING_NOT_EQUAL(first_sent, again_sent); /* ann's changes are gone */
	CU_ASSERT_STRING_EQUAL(first_range, again_range);   /* the same batch, the same key */
	CU_ASSERT_STRING_EQUAL(first_range, first_sent);    /* nothing was filtered at first */
	json_decref(calls);
	json_decref(got);
	gated_world_close(&w, gate, blocked);
}

/* The same with rows the export filters out first in the batch (kinds:
 * events only): a send that failed used to move the cursor past them, so
 * the batch sent again had another range (another Idempotency-Key) for
 * the same changes. */
static void test_a_batch_sent_again_keeps_its_range_past_filtered_rows(void)
{
	struct world w;
	json_t *calls, *got;
	const char *first;
	size_t i;

	world_open(&w, "    retries: 2\n    batch_size: 5\n    kinds: [event]\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, &calls);
	CU_ASSERT_FATAL(json_array_size(calls) >= 3);
	first = strstr(json_string_value(json_array_get(calls, 0)), " range ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(first);
	CU_ASSERT(strncmp(first, " range 1-", 9) == 0); /* the plan begins at the first row */
	for (i = 1; i < 3; i++) {
		const char *again = strstr(json_string_value(json_array_get(calls, i)), " range ");
		CU_ASSERT_STRING_EQUAL(again ? again : "", first);
	}
	json_decref(calls);
	json_decref(got);
	world_close(&w);
}

/* A second config on the same store (the world's own `store:` section,
 * whichever backend): same export, `keys` for it (and `backfill: false`
 * as in world_open, unless `keys` says otherwise). */
static struct hub_config *config_like(struct world *w, const char *keys)
{
	struct hub_config *cfg;
	char *yaml, err[512];

	CU_ASSERT_FATAL(asprintf(&yaml,
				 "%s"
				 "plugin_dir: %s\n"
				 "exports:\n"
				 "  - name: x\n"
				 "    plugin: export_script\n"
				 "    record: %s\n"
				 "%s"
				 "%s",
				 w->th->store_yaml, w->plugin_dir, w->record,
				 strstr(keys, "backfill:") ? "" : "    backfill: false\n",
				 keys) > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("again.yaml", yaml, &cfg, err, sizeof(err)), 0);
	free(yaml);
	return cfg;
}

/* An export added with `backfill: false` starts at the feed's end when the
 * store first knows it, also when its first run comes after a restart: it
 * began at cursor 0, with whatever the feed still held for the others (the
 * people x was sent before it existed). */
static void test_a_new_export_without_backfill_starts_at_the_feeds_end(void)
{
	struct world w;
	struct hub_config *cfg;
	char *keys, *late, err[512];
	json_t *before, *got, *mine;
	int64_t head;

	world_open(&w, NULL);
	apply(&w, people);
	before = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(before) > 0);
	head = json_integer_value(json_array_get(before, json_array_size(before) - 1));
	CU_ASSERT_FATAL(asprintf(&late, "%s.late", w.record) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "  - name: late\n    plugin: export_script\n"
				 "    record: %s\n    backfill: false\n", late) > 0);
	cfg = config_like(&w, keys);
	/* first known (a process that stops before it delivers), then changes */
	CU_ASSERT_EQUAL_FATAL(export_known_register(w.th->reader, cfg), 0);
	apply(&w, "{\"type\":\"track\",\"message_id\":\"z1\","
		  "\"timestamp\":\"2025-03-03T10:00:00.000Z\","
		  "\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"again\"}}\n");
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	mine = recorded_at(late, NULL);
	CU_ASSERT(json_array_size(mine) > 0);
	for (size_t i = 0; i < json_array_size(mine); i++)
		CU_ASSERT(json_integer_value(json_object_get(json_array_get(mine, i), "seq")) >
			  head);
	got = recorded(&w, NULL); /* x, known from the start, has them all */
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(before) + json_array_size(mine));
	export_stop(w.ex);
	w.ex = NULL;
	config_free(cfg);
	json_decref(before);
	json_decref(got);
	json_decref(mine);
	unlink(late);
	free(late);
	free(keys);
	world_close(&w);
}

/* An export an earlier release registered (no cursor saved: disabled, or
 * failing since it was added) keeps the feed that was kept for it when this
 * one first registers it: it was moved to the feed's end, and the changes
 * held for it were lost. */
static void test_an_export_known_before_keeps_its_changes(void)
{
	struct world w;
	struct hub_config *cfg;
	char *keys, *late, err[512];
	json_t *before, *mine;
	int64_t cursor = -1;
	struct store *s;

	world_open(&w, NULL);
	s = w.th->reader;
	/* as the release before registered it: the name alone */
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, "export_known:late", "1"), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	apply(&w, people);
	before = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(before) > 0);
	CU_ASSERT_FATAL(asprintf(&late, "%s.late", w.record) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "  - name: late\n    plugin: export_script\n"
				 "    record: %s\n    backfill: false\n", late) > 0);
	cfg = config_like(&w, keys);
	CU_ASSERT_EQUAL_FATAL(export_known_register(s, cfg), 0);
	CU_ASSERT_EQUAL(export_cursor_load(s, "late", &cursor), 0);
	CU_ASSERT_EQUAL(cursor, 0);
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	mine = recorded_at(late, NULL);
	CU_ASSERT_EQUAL(json_array_size(mine), json_array_size(before));
	export_stop(w.ex);
	w.ex = NULL;
	config_free(cfg);
	json_decref(before);
	json_decref(mine);
	unlink(late);
	free(late);
	free(keys);
	world_close(&w);
}

/* The line of config_like's YAML that `keys` starts on (keys without
 * `backfill`). */
static int config_like_keys_line(const struct world *w)
{
	int line = 7; /* plugin_dir, exports, name, plugin, record, backfill, then keys */

	for (const char *p = w->th->store_yaml; *p; p++)
		line += *p == '\n';
	return line;
}

/* A plugin that fills err to its last byte without a NUL (export_script
 * `fail: unterminated`): the hub reads the message cut at its buffer, never
 * past it (the ASan build catches a read past it). */
static void test_unterminated_plugin_message_reads_cut(void)
{
	struct world w;
	json_t *st;
	const char *msg;
	size_t n_x = 0;

	world_open(&w, "    fail: unterminated\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	msg = str_of(st, "last_error");
	while (msg[n_x] == 'x')
		n_x++;
	CU_ASSERT(n_x > 0 && msg[n_x] == '\0');
	json_decref(st);
	world_close(&w);
}

/* A plugin whose create() fails disables its export until the hub restarts
 * (nothing saved: the next start creates it again), and says so: it was
 * logged as "disabled until its configuration changes", which a restart
 * with the same configuration contradicted. */
static void test_a_failed_create_disables_until_a_restart(void)
{
	struct testlib_capture cap;
	struct export_saved saved;
	struct world w;
	json_t *st;
	char *logged;

	world_open(&w, "    fail: create\n");
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "disabled until the hub restarts (its plugin could "
					      "not start): "));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "scripted create failure"));
	CU_ASSERT_PTR_NULL(strstr(logged, "until its configuration changes"));
	free(logged);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT_PTR_NOT_NULL(strstr(str_of(st, "last_error"), "scripted create failure"));
	json_decref(st);
	/* not saved (the next start creates it again): the store, which
	 * `profilehub exports` reads, has no disable */
	CU_ASSERT(export_saved_load(w.th->reader, "x", &saved) >= 0);
	CU_ASSERT_FALSE(saved.is_disabled);
	world_close(&w);
}

static void test_refused_credentials_disable_until_the_config_changes(void)
{
	struct world w;
	struct hub_config *same, *changed;
	struct testlib_capture cap;
	json_t *st, *got;
	char err[512], *logged;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "scripted auth failure");
	CU_ASSERT(int_of(st, "lag") > 0);
	json_decref(st);
	export_stop(w.ex);
	w.ex = NULL;

	/* saved: the CLI (no exporter) and a restart on the same config agree */
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "scripted auth failure");
	CU_ASSERT(str_of(st, "last_error_at")[0] == '2'); /* a time, 20xx */
	json_decref(st);
	same = config_like(&w, "    fail: auth\n");
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, same, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = export_status_json(w.ex, w.th->reader, same, 0, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(
		str_of(json_array_get(json_object_get(st, "exports"), 0), "state"), "disabled");
	json_decref(st);
	export_stop(w.ex);
	w.ex = NULL;

	/* a changed config runs again, from where it stopped, first with the
	 * very batch it tried before (planned before the new changes came) */
	json_t *seqs = outbox_seqs(&w), *calls;
	char want[64];
	snprintf(want, sizeof(want), "%lld-%lld 0",
		 (long long)json_integer_value(json_array_get(seqs, 0)),
		 (long long)json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1)));
	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"z1\","
	      "\"timestamp\":\"2025-03-03T10:00:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"again\"}}\n");
	changed = config_like(&w, "    retries: 0\n");
	st = export_status_json(NULL, w.th->reader, changed, 0, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL( /* disabled under the config it refused only */
		str_of(json_array_get(json_object_get(st, "exports"), 0), "state"), "enabled");
	json_decref(st);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, changed, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	/* said once, though the lease's take loads the state again */
	CU_ASSERT_EQUAL(testlib_count_of(logged, "configuration changed since it was disabled: "
						 "enabled again"),
			1);
	free(logged);
	got = recorded(&w, &calls);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs) + 1);
	CU_ASSERT_EQUAL_FATAL(json_array_size(calls), 3); /* refused, then 2 accepted */
	CU_ASSERT_EQUAL(strncmp(json_string_value(json_array_get(calls, 1)), want, strlen(want)),
			0);
	json_decref(calls);
	json_decref(seqs);
	json_decref(got);
	export_stop(w.ex);
	w.ex = NULL;
	config_free(same);
	config_free(changed);
	world_close(&w);
}

/* The n bytes at md in lowercase hex after prefix, into out. */
static void hex_after(const char *prefix, const unsigned char *md, size_t n, char *out)
{
	size_t at = (size_t)sprintf(out, "%s", prefix);

	for (size_t i = 0; i < n; i++)
		at += (size_t)sprintf(out + at, "%02x", md[i]);
}

/* The fingerprint versions before the slow one saved: the first 8 bytes
 * of SHA-256 of the config mapping, in hex. */
static void fingerprint_of_old(const struct config_instance *ci, char out[20])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *text = cfg_to_json(ci->node);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL_FATAL(EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL), 1);
	hex_after("", md, 8, out);
	hub_free(text);
}

/* A configuration's fingerprint (the saved state's "config") is "s:" and
 * 16 hex digits of scrypt (N 2^14, r 8) of the config mapping, not the
 * plain SHA-256 older versions saved, which let whoever reads the store
 * test a guessed secret billions of times a second.  The same for the
 * same configuration; another for another value of a secret (passed as a
 * variable): a new credential still counts as a change.  Computed once a
 * configuration in a process: each status of a disabled export paid it. */
static void test_export_fingerprint_is_a_slow_hash_of_the_config(void)
{
	static const char salt[] = "profilehub export config fingerprint";
	struct hub_config *one, *two;
	char fp[20], again[20], want[20], old[20], other[20];
	unsigned char md[8];
	struct world w;
	unsigned n_computed;
	char *text;

	world_open(&w, NULL);
	setenv("HUB_TEST_FP_SECRET", "hunter2", 1);
	one = config_like(&w, "    forgot_says: ${HUB_TEST_FP_SECRET}\n");
	setenv("HUB_TEST_FP_SECRET", "hunter3", 1);
	two = config_like(&w, "    forgot_says: ${HUB_TEST_FP_SECRET}\n");
	unsetenv("HUB_TEST_FP_SECRET");
	memset(fp, 'Z', sizeof(fp));
	n_computed = export_fingerprint_n_computed();
	CU_ASSERT_EQUAL_FATAL(export_fingerprint(&one->exports[0], fp), 0);
	CU_ASSERT_EQUAL(strlen(fp), 18);
	CU_ASSERT_EQUAL(strncmp(fp, "s:", 2), 0);
	CU_ASSERT_EQUAL(strspn(fp + 2, "0123456789abcdef"), 16);
	text = cfg_to_json(one->exports[0].node);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL_FATAL(EVP_PBE_scrypt(text, strlen(text), (const unsigned char *)salt,
					     strlen(salt), 16384, 8, 1, 64u << 20, md, sizeof(md)),
			      1);
	hub_free(text);
	hex_after("s:", md, sizeof(md), want);
	CU_ASSERT_STRING_EQUAL(fp, want);
	fingerprint_of_old(&one->exports[0], old);
	CU_ASSERT_PTR_NULL(strstr(fp, old));
	CU_ASSERT_EQUAL_FATAL(export_fingerprint(&one->exports[0], again), 0);
	CU_ASSERT_STRING_EQUAL(fp, again);
	CU_ASSERT_EQUAL_FATAL(export_fingerprint(&two->exports[0], other), 0);
	CU_ASSERT_STRING_NOT_EQUAL(fp, other);
	/* the same config again came from memory, if this process had not
	 * computed it before this test already; the other one was computed */
	CU_ASSERT(export_fingerprint_n_computed() - n_computed <= 2);
	n_computed = export_fingerprint_n_computed();
	CU_ASSERT_EQUAL(export_fingerprint(&one->exports[0], again), 0);
	CU_ASSERT_EQUAL(export_fingerprint(&two->exports[0], again), 0);
	CU_ASSERT_STRING_EQUAL(again, other);
	CU_ASSERT_EQUAL(export_fingerprint_n_computed(), n_computed);
	/* the saved form and the older one of the same config are its;
	 * another config's, of either form, are not */
	CU_ASSERT(export_fingerprint_is_of(&one->exports[0], fp, fp));
	CU_ASSERT(export_fingerprint_is_of(&one->exports[0], old, fp));
	CU_ASSERT_FALSE(export_fingerprint_is_of(&two->exports[0], fp, other));
	CU_ASSERT_FALSE(export_fingerprint_is_of(&two->exports[0], old, other));
	CU_ASSERT_FALSE(export_fingerprint_is_of(&one->exports[0], "", fp));
	config_free(one);
	config_free(two);
	world_close(&w);
}

/* A disable an older version saved under the same configuration (its
 * fingerprint plain SHA-256) holds after the upgrade: the export stays
 * disabled and sends nothing, and the store's copy becomes the slow one.
 * An enable then keeps none: nothing reads it. */
static void test_a_disable_saved_by_an_older_version_holds_and_is_rehashed(void)
{
	struct export_saved saved;
	struct world w;
	struct store *s;
	json_t *st, *got, *calls;
	char old[20], fp[20];
	size_t n_calls;
	int was_disabled = -1;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_stop(w.ex);
	w.ex = NULL;
	got = recorded(&w, &calls);
	n_calls = json_array_size(calls);
	CU_ASSERT(n_calls > 0);
	json_decref(calls);
	json_decref(got);

	CU_ASSERT_EQUAL_FATAL(export_fingerprint(&w.th->cfg->exports[0], fp), 0);
	fingerprint_of_old(&w.th->cfg->exports[0], old);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(export_saved_load(s, "x", &saved), 1);
	CU_ASSERT_FATAL(saved.is_disabled);
	CU_ASSERT_STRING_EQUAL(saved.fingerprint, fp);
	snprintf(saved.fingerprint, sizeof(saved.fingerprint), "%s", old);
	CU_ASSERT_EQUAL_FATAL(export_saved_put(s, "x", &saved), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	st = status_of_x_in(&w, NULL); /* `profilehub exports` agrees */
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	json_decref(st);

	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	json_decref(st);
	export_stop(w.ex);
	w.ex = NULL;
	got = recorded(&w, &calls);
	CU_ASSERT_EQUAL(json_array_size(calls), n_calls); /* nothing sent again */
	json_decref(calls);
	json_decref(got);
	CU_ASSERT_EQUAL_FATAL(export_saved_load(s, "x", &saved), 1);
	CU_ASSERT(saved.is_disabled);
	CU_ASSERT_STRING_EQUAL(saved.fingerprint, fp);

	CU_ASSERT_EQUAL(export_enable(s, "x", &was_disabled), 0);
	CU_ASSERT_EQUAL(was_disabled, 1);
	CU_ASSERT_EQUAL_FATAL(export_saved_load(s, "x", &saved), 1);
	CU_ASSERT_STRING_EQUAL(saved.fingerprint, "");
	world_close(&w);
}

/* PostgreSQL: polls (WAIT_MS at most) until a session waits for a lock: 1. */
static int lock_waiter_seen(void)
{
	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until; usleep(2000))
		if (teststore_lock_waiters() >= 1)
			return 1;
	return 0;
}

struct upgrade_arg {
	struct world *w;
	const char *legacy, *fp;
	int rc;
};

/* export_fingerprint_upgrade() of export x on a connection of its own. */
static void *upgrade_thread(void *arg)
{
	struct upgrade_arg *a = arg;
	struct store *u = NULL;
	char err[512];

	a->rc = store_open(a->w->th->cfg, &u, err, sizeof(err));
	if (a->rc == 0)
		a->rc = export_fingerprint_upgrade(u, "x", a->legacy, a->fp);
	store_close(u);
	return NULL;
}

/*
 * PostgreSQL: the rehash of an older version's disable beside an enable
 * (`profilehub exports enable`, another process) not yet committed.  The
 * rehash waits for it and, the export enabled, leaves it so.  Its read
 * took no lock: it read the disable, waited on its write, and wrote the
 * disable over the enable committed meanwhile (READ COMMITTED).
 */
static void test_a_rehash_beside_an_enable_leaves_it_enabled(void)
{
	struct upgrade_arg ua = {.rc = -1};
	struct export_saved saved = {.is_disabled = 1};
	struct world w;
	struct store *e = NULL, *s;
	char old[20], fp[20], err[512];
	pthread_t t;

	if (!teststore_is_pg())
		return; /* one writer: no race */
	world_open(&w, NULL);
	CU_ASSERT_EQUAL_FATAL(export_fingerprint(&w.th->cfg->exports[0], fp), 0);
	fingerprint_of_old(&w.th->cfg->exports[0], old);
	s = w.th->reader;
	snprintf(saved.fingerprint, sizeof(saved.fingerprint), "%s", old);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(export_saved_put(s, "x", &saved), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	/* the enable, as export_enable() writes it, up to its commit */
	CU_ASSERT_EQUAL_FATAL(store_open(w.th->cfg, &e, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(e->ops->begin(e), 0);
	saved.is_disabled = 0;
	CU_ASSERT_EQUAL_FATAL(export_saved_put(e, "x", &saved), 0);
	CU_ASSERT_EQUAL_FATAL(export_saved_load(e, "x", &saved), 1); /* the write is done */
	CU_ASSERT_FATAL(!saved.is_disabled);
	ua.w = &w;
	ua.legacy = old;
	ua.fp = fp;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, upgrade_thread, &ua), 0);
	CU_ASSERT(lock_waiter_seen());
	CU_ASSERT_EQUAL(e->ops->commit(e), 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(ua.rc, 0);
	CU_ASSERT_EQUAL(export_saved_load(s, "x", &saved), 1);
	CU_ASSERT_EQUAL(saved.is_disabled, 0);
	store_close(e);
	world_close(&w);
}

/* `profilehub exports` in a shell lacking an export's variable (the
 * configuration loaded by config_load_lazy_env) cannot compute the
 * fingerprint the hub saved the disable under: the store's disable is
 * shown, not "enabled" as if the configuration had changed. */
static void test_a_disable_shows_where_a_variable_of_the_export_is_unset(void)
{
	struct world w;
	struct hub_config *lazy;
	char *yaml, *dir, *path, err[512];
	json_t *st, *x;

	setenv("HUB_TEST_EXPORT_FAIL", "auth", 1);
	world_open(&w, "    fail: ${HUB_TEST_EXPORT_FAIL}\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_stop(w.ex);
	w.ex = NULL;
	unsetenv("HUB_TEST_EXPORT_FAIL");
	CU_ASSERT_FATAL(asprintf(&yaml, "%splugin_dir: %s\nexports:\n  - name: x\n"
				 "    plugin: export_script\n    record: %s\n    backfill: false\n"
				 "    fail: ${HUB_TEST_EXPORT_FAIL}\n",
				 w.th->store_yaml, w.plugin_dir, w.record) > 0);
	dir = testlib_mkdtemp();
	path = testlib_write_file(dir, "lazy.yaml", yaml);
	CU_ASSERT_EQUAL_FATAL(config_load_lazy_env(path, &lazy, err, sizeof(err)), 0);
	st = export_status_json(NULL, w.th->reader, lazy, 0, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	x = json_array_get(json_object_get(st, "exports"), 0);
	CU_ASSERT_STRING_EQUAL(str_of(x, "state"), "disabled");
	CU_ASSERT_STRING_EQUAL(str_of(x, "last_error"), "scripted auth failure");
	json_decref(st);
	config_free(lazy);
	testlib_rmtree(dir);
	free(dir);
	free(path);
	free(yaml);
	world_close(&w);
}

/* Polls the status of export x (WAIT_MS at most): 1 once its lag is 0
 * and it is not disabled. */
static int x_catches_up(struct world *w)
{
	struct timespec pause = {0, 5 * 1000 * 1000};

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		json_t *st = status_of_x(w);
		int done = int_of(st, "lag") == 0 && strcmp(str_of(st, "state"), "disabled") != 0;
		json_decref(st);
		if (done)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* The seqs in the outbox after `after`, as "a,b,c" in buf. */
static const char *outbox_after(struct world *w, json_int_t after, char *buf, size_t size)
{
	json_t *seqs = outbox_seqs(w), *v;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(seqs, i, v)
		if (json_integer_value(v) > after && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%lld", used ? "," : "",
						 (long long)json_integer_value(v));
	json_decref(seqs);
	return buf;
}

/* The seqs of the changes export x accepted after `after`, as above. */
static const char *recorded_after(struct world *w, json_int_t after, char *buf, size_t size)
{
	json_t *got = recorded(w, NULL), *c;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(got, i, c)
		if (int_of(c, "seq") > after && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%lld", used ? "," : "",
						 (long long)int_of(c, "seq"));
	json_decref(got);
	return buf;
}

/* Export x, refusing credentials while the file *refusing (in dir) is
 * there, started on the people and disabled by them; *keys is its config,
 * both to free. */
static void refused_export_start(struct world *w, const char *dir, char **refusing, char **keys)
{
	json_t *st;
	FILE *f;

	CU_ASSERT_FATAL(asprintf(refusing, "%s/refusing", dir) > 0);
	CU_ASSERT_FATAL(asprintf(keys, "    fail: auth\n    fail_while: %s\n", *refusing) > 0);
	CU_ASSERT_FATAL((f = fopen(*refusing, "w")) != NULL);
	fclose(f);
	world_open(w, *keys);
	apply(w, people);
	world_start(w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w->ex, WAIT_MS), 0);
	st = status_of_x(w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT(json_is_false(json_object_get(st, "last_error_is_past")));
	json_decref(st);
}

/* Refused credentials disable an export; once the receiver is fixed,
 * `profilehub exports enable` (export_enable(), the store alone, beside
 * the running hub) and POST /v1/exports/x/enable (export_enable_provider)
 * enable it again with its configuration unchanged, and the running hub
 * delivers from its cursor, without a restart.  It stayed disabled until
 * its configuration changed: an operator had to edit the file to resume
 * an export whose receiver had been fixed. */
static void test_a_disabled_export_is_enabled_again_unchanged(void)
{
	char *dir = testlib_mkdtemp(), *refusing = NULL, *keys = NULL, err[512] = "";
	char want[4096], sent[4096];
	int why = -1, was_disabled = -1;
	json_int_t cursor;
	struct world w;
	json_t *st;
	FILE *f;

	refused_export_start(&w, dir, &refusing, &keys);

	/* over the API: at once, the workers woken */
	outbox_after(&w, 0, want, sizeof(want));
	CU_ASSERT(want[0] != '\0');
	CU_ASSERT_EQUAL(unlink(refusing), 0);
	CU_ASSERT_EQUAL(export_enable_provider(w.ex, "x", &why, &was_disabled, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(was_disabled, 1);
	/* no longer shown disabled from the answer on, for export_wait_idle() */
	st = status_of_x(&w);
	CU_ASSERT_STRING_NOT_EQUAL(str_of(st, "state"), "disabled");
	json_decref(st);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_FATAL(x_catches_up(&w));
	CU_ASSERT_STRING_EQUAL(recorded_after(&w, 0, sent, sizeof(sent)), want);
	st = status_of_x(&w); /* the refusal is past: delivered since */
	CU_ASSERT_PTR_NOT_NULL(strstr(str_of(st, "last_error"), "scripted auth failure"));
	CU_ASSERT(json_is_true(json_object_get(st, "last_error_is_past")));
	json_decref(st);

	/* refused again: disabled again; enabled through the store alone */
	CU_ASSERT_FATAL((f = fopen(refusing, "w")) != NULL);
	fclose(f);
	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"e1\","
	      "\"timestamp\":\"2025-03-03T10:00:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"again\"}}\n");
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT(int_of(st, "lag") > 0);
	/* the new refusal is no longer past, live and saved */
	CU_ASSERT(json_is_false(json_object_get(st, "last_error_is_past")));
	cursor = int_of(st, "cursor");
	json_decref(st);
	st = status_of_x_in(&w, NULL);
	CU_ASSERT(json_is_false(json_object_get(st, "last_error_is_past")));
	json_decref(st);
	outbox_after(&w, cursor, want, sizeof(want));
	CU_ASSERT(want[0] != '\0');
	CU_ASSERT_EQUAL(unlink(refusing), 0);
	CU_ASSERT_EQUAL(export_enable(w.th->reader, "x", &was_disabled), 0);
	CU_ASSERT_EQUAL(was_disabled, 1);
	CU_ASSERT_FATAL(x_catches_up(&w));
	CU_ASSERT_STRING_EQUAL(recorded_after(&w, cursor, sent, sizeof(sent)), want);

	/* an export that is not disabled, and one the config lacks */
	CU_ASSERT_EQUAL(export_enable(w.th->reader, "x", &was_disabled), 0);
	CU_ASSERT_EQUAL(was_disabled, 0);
	CU_ASSERT_EQUAL(export_enable_provider(w.ex, "y", &why, &was_disabled, err, sizeof(err)),
			1);
	CU_ASSERT_EQUAL(why, EXPORT_BACKFILL_NO_EXPORT);
	world_close(&w);
	free(keys);
	free(refusing);
	testlib_rmtree(dir);
	free(dir);
}

/* A disabled export waits for its own configuration's disable to go: a
 * disable the store keeps under another configuration's fingerprint (a
 * hub on a changed configuration refused in turn) is not this one's, and
 * the waiting worker delivers again, as a start under it would. */
static void test_a_waiting_export_goes_on_when_the_disable_is_another_config_s(void)
{
	char *dir = testlib_mkdtemp(), *refusing = NULL, *keys = NULL;
	struct export_saved saved;
	struct store *s;
	struct world w;

	refused_export_start(&w, dir, &refusing, &keys);
	CU_ASSERT_EQUAL(unlink(refusing), 0);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(export_saved_load(s, "x", &saved), 1);
	CU_ASSERT_FATAL(saved.is_disabled);
	snprintf(saved.fingerprint, sizeof(saved.fingerprint), "0123456789abcdef");
	CU_ASSERT_EQUAL_FATAL(export_saved_put(s, "x", &saved), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	CU_ASSERT(x_catches_up(&w));
	world_close(&w);
	free(keys);
	free(refusing);
	testlib_rmtree(dir);
	free(dir);
}

/* Polls the store (WAIT_MS at most): 1 once it has x disabled. */
static int x_saved_disabled(struct world *w)
{
	struct timespec pause = {0, 5 * 1000 * 1000};
	struct export_saved saved;

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		if (export_saved_load(w->th->reader, "x", &saved) > 0 && saved.is_disabled)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* A disable the store refused to save (a store that reads but cannot
 * write) keeps the export disabled all the same: the worker sends nothing
 * more, says so once, and saves the disable when the store writes again.
 * It read the store, found itself enabled, sent the batch again and was
 * disabled again, over and over. */
static void test_a_disable_the_store_refused_to_save_is_kept(void)
{
	struct testlib_capture cap;
	struct world w;
	json_t *calls = NULL, *st;
	char *logged;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	export_set_disable_save_fault(1);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT(file_holds(cap.path, "cannot save the cursor: an injected refusal"));
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	/* what the worker did meanwhile: one call refused, nothing more */
	json_decref(recorded(&w, &calls));
	CU_ASSERT_EQUAL(json_array_size(calls), 1);
	json_decref(calls);
	export_set_disable_save_fault(0);
	CU_ASSERT(x_saved_disabled(&w));
	CU_ASSERT(file_holds(cap.path, "its disable is saved now"));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "its disable could not be saved"), 1);
	json_decref(recorded(&w, &calls));
	CU_ASSERT_EQUAL(json_array_size(calls), 1);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	json_decref(st);
	json_decref(calls);
	free(logged);
	world_close(&w);
}

/* Polls (WAIT_MS at most) for export x's lease on store s: 1 once taken. */
static int x_lease_taken(struct store *s)
{
	struct timespec pause = {0, 5 * 1000 * 1000};
	int64_t epoch = 0;

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		if (s->ops->lease_try(s, "export:x", &epoch) == 1)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* A disable left unsaved is saved under the export's lease: once another
 * process holds it (it delivers the export now), the disable is that
 * process's to decide, and is dropped here.  It was saved without the
 * lease, over the state of the process delivering the export. */
static void test_an_unsaved_disable_is_dropped_when_another_process_delivers(void)
{
	struct testlib_capture cap;
	struct world w;
	struct store *other = NULL;
	struct export_saved saved;
	json_t *calls = NULL;
	char err[512], *logged;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	export_set_disable_save_fault(1);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT(file_holds(cap.path, "its disable could not be saved"));
	CU_ASSERT_EQUAL_FATAL(store_open(w.th->cfg, &other, err, sizeof(err)), 0);
	CU_ASSERT_FATAL(x_lease_taken(other)); /* another process delivers x */
	export_set_disable_save_fault(0);
	CU_ASSERT(file_holds(cap.path, "its disable is not saved: another process"));
	saved.is_disabled = 0;
	CU_ASSERT(export_saved_load(w.th->reader, "x", &saved) >= 0);
	CU_ASSERT_EQUAL(saved.is_disabled, 0);
	/* that process gone, this one takes the export up again: refused
	 * again, it disables it, saved under its lease */
	CU_ASSERT_EQUAL(other->ops->lease_release(other, "export:x"), 0);
	store_close(other);
	CU_ASSERT(x_saved_disabled(&w));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(logged);
	free(logged);
	json_decref(recorded(&w, &calls));
	CU_ASSERT_EQUAL(json_array_size(calls), 2);
	json_decref(calls);
	world_close(&w);
}

/* Polls (WAIT_MS at most) until the disable fault refused n saves: 1. */
static int disable_refusals_reach(int n)
{
	struct timespec pause = {0, 2 * 1000 * 1000};

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		if (export_disable_save_refusals() >= n)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Another process saves export x's state under its lease, and gives it back. */
static void other_saves_x_enabled(struct world *w)
{
	struct store *other = NULL;
	struct export_saved saved;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(store_open(w->th->cfg, &other, err, sizeof(err)), 0);
	CU_ASSERT_FATAL(x_lease_taken(other));
	memset(&saved, 0, sizeof(saved));
	snprintf(saved.error, sizeof(saved.error), "enabled by the other process");
	CU_ASSERT_EQUAL(other->ops->begin(other), 0);
	CU_ASSERT_EQUAL(export_saved_put(other, "x", &saved), 0);
	CU_ASSERT_EQUAL(other->ops->commit(other), 0);
	CU_ASSERT_EQUAL(other->ops->lease_release(other, "export:x"), 0);
	store_close(other);
}

/* A disable left unsaved is not saved over the state another process
 * saved meanwhile: between two tries of this one, that process took the
 * export's lease, saved it enabled and gave the lease back.  The late
 * save took a lease of its own and wrote over that newer state.  The
 * waiting worker tries again only when woken (its poll an hour): one
 * polling while the other held the lease found it held ("another process
 * delivers"), one polling before the fault was off saved its next disable
 * late ("saved now"), both a flake on a loaded machine. */
static void test_an_unsaved_disable_is_dropped_after_another_process_saved_state(void)
{
	struct testlib_capture cap;
	struct world w;
	json_t *calls = NULL;
	char *logged;
	int base = export_disable_save_refusals();

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	export_set_enable_poll(3600 * 1000); /* no try of its own: woken below */
	export_set_disable_save_fault(1);
	testlib_capture_begin(&cap);
	world_start(&w);
	/* the disable refused, then its first save while it waits (the next
	 * one when woken below) */
	CU_ASSERT_FATAL(disable_refusals_reach(base + 2));
	other_saves_x_enabled(&w);
	export_set_disable_save_fault(0);
	export_notify(w.ex); /* its next try */
	export_set_enable_poll(SUITE_ENABLE_POLL_MS);
	CU_ASSERT(file_holds(cap.path, "its disable is not saved: another process took"));
	/* this process reads that state, sends again and is refused again */
	CU_ASSERT(x_saved_disabled(&w));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(logged);
	CU_ASSERT_PTR_NULL(logged ? strstr(logged, "its disable is saved now") : NULL);
	free(logged);
	json_decref(recorded(&w, &calls));
	CU_ASSERT_EQUAL(json_array_size(calls), 2);
	json_decref(calls);
	world_close(&w);
}

/* Polls (WAIT_MS at most) until the plugin of w was called n times: 1. */
static int calls_reach(struct world *w, size_t n)
{
	struct timespec pause = {0, 5 * 1000 * 1000};

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		json_t *calls = NULL;
		size_t got;

		json_decref(recorded(w, &calls));
		got = json_array_size(calls);
		json_decref(calls);
		if (got >= n)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Cursor saves that keep failing (a store that cannot write: each
 * delivery is sent, its cursor refused, and sent again) are logged as a
 * state: one "cannot save the cursor" with the cause, not one per try, and
 * one line when a save succeeds.  Each try wrote its own error line, two
 * per retry, ~480 an hour while a store's directory was gone. */
static void test_failing_cursor_saves_are_logged_once_and_their_end(void)
{
	struct testlib_capture cap;
	struct world w;
	char *logged;

	world_open(&w, NULL);
	apply(&w, people);
	export_set_cursor_save_fault(5);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT(export_wait_idle(w.ex, WAIT_MS) == 0);
	CU_ASSERT(x_catches_up(&w));
	CU_ASSERT(file_holds(cap.path, "the cursor is saved again (failing since "));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "cannot save the cursor: an injected refusal"),
			1);
	free(logged);
	world_close(&w);
}

/* Makes w's store refuse every dead letter (on) or take them again (off),
 * as a disk full for a row that size would while the export's smaller
 * writes still fit: a trigger on dead_letters that raises "dead letters
 * refused (a test's trigger)". */
static void dead_letters_refused(struct world *w, int on)
{
	static const char refuse_pg[] =
		"CREATE FUNCTION %s.refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
		" RAISE EXCEPTION 'dead letters refused (a test''s trigger)'; END$$;"
		"CREATE TRIGGER refuse BEFORE INSERT ON %s.dead_letters FOR EACH ROW"
		" EXECUTE FUNCTION %s.refuse()";
	static const char refuse_lite[] =
		"CREATE TRIGGER refuse BEFORE INSERT ON dead_letters BEGIN"
		" SELECT RAISE(ABORT, 'dead letters refused (a test''s trigger)'); END";
	const char *schema = w->th->schema;
	sqlite3 *db = NULL;
	char *sql = NULL;

	if (schema) {
		int n = on ? asprintf(&sql, refuse_pg, schema, schema, schema)
			   : asprintf(&sql, "DROP TRIGGER refuse ON %s.dead_letters", schema);
		CU_ASSERT_FATAL(n > 0);
		CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(getenv("HUB_TEST_PG_URL"), sql), 0);
		free(sql);
		return;
	}
	CU_ASSERT_FATAL(sqlite3_open(w->th->cfg->store_path, &db) == SQLITE_OK);
	sqlite3_busy_timeout(db, WAIT_MS);
	CU_ASSERT_FATAL(sqlite3_exec(db, on ? refuse_lite : "DROP TRIGGER refuse", NULL, NULL,
				     NULL) == SQLITE_OK);
	sqlite3_close(db);
}

/* Polls export x's failed attempts (WAIT_MS at most): 1 once they are n. */
static int x_failed_attempts_reach(struct world *w, int64_t n)
{
	struct timespec pause = {0, 2 * 1000 * 1000};
	struct export_stat st;

	for (int64_t until = time_mono_ms() + WAIT_MS; time_mono_ms() < until;) {
		if (export_stats(w->ex, &st, 1) == 1 && st.failed_attempts >= n)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* A dead letter the store refuses (a disk full for its row while the
 * export's state still fits) is logged as such, as a state: one "cannot
 * save a dead letter" with the cause for every retry, one line when dead
 * letters are saved again.  Each retry wrote "cannot save the cursor" and
 * "the cursor is saved again" (the save of the retry's error went through
 * and ended that outage), at no limit. */
static void test_refused_dead_letters_are_logged_once_as_such(void)
{
	struct testlib_capture cap;
	struct world w;
	char *logged;
	json_t *dl;

	world_open(&w, "    bad_custom_id: bad\n    mode: precise\n");
	apply(&w, people);
	dead_letters_refused(&w, 1);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT(x_failed_attempts_reach(&w, 3));
	dead_letters_refused(&w, 0);
	CU_ASSERT(file_holds(cap.path, "dead letters are saved again (failing since "));
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] cannot save a dead letter: "), 1);
	/* the cause, with it */
	CU_ASSERT_EQUAL(testlib_count_of(logged, "dead letters refused (a test's trigger)"), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "dead letters are saved again"), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "cannot save the cursor"), 0);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "the cursor is saved again"), 0);
	free(logged);
	dl = dead_letters(&w); /* nothing lost: Bad's two changes */
	CU_ASSERT_EQUAL(json_array_size(dl), 2);
	json_decref(dl);
	world_close(&w);
}

static const char erase_bad[] =
	"{\"type\":\"erase\",\"message_id\":\"e3\",\"timestamp\":\"2025-03-02T10:00:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"bad\"}}\n";

/* export_script's gate_each: lets the call at the gate through (blocked:
 * the file it made there) and waits until the next one stops there. */
static void gate_pass_one(const char *blocked)
{
	CU_ASSERT_EQUAL_FATAL(unlink(blocked), 0);
	gate_open(blocked);
	CU_ASSERT_FATAL(file_appears(blocked));
}

/* A dead letter the store refused, whose change an erase then took out of
 * the feed while the retry had it in the plugin's hands, is not written
 * (its row would outlive the erasure): the commit that follows saved no
 * dead letter, so it does not say "dead letters are saved again".  It did,
 * of none saved; the outage goes on until one is. */
static void test_a_dead_letter_erased_while_refused_is_not_said_saved_again(void)
{
	struct testlib_capture cap;
	struct world w;
	char *gate, *blocked, *logged;
	json_t *dl;

	gated_world_open(&w, "    bad_custom_id: bad\n    mode: precise\n    gate_each: true\n",
			 &gate, &blocked);
	dead_letters_refused(&w, 1);
	testlib_capture_begin(&cap);
	gate_pass_one(blocked); /* the batch refused: its changes sent one at a time */
	CU_ASSERT(file_holds(cap.path, "was refused: sending them one at a time"));
	gate_pass_one(blocked); /* Bad's first refused, its dead letter too: the retry */
	CU_ASSERT(file_holds(cap.path, "[export x] cannot save a dead letter: "));
	apply(&w, erase_bad); /* Bad's changes leave the feed */
	CU_ASSERT_EQUAL_FATAL(unlink(blocked), 0);
	gate_open(blocked);
	CU_ASSERT(file_holds(cap.path, "was erased while it was sent: not dead-lettered"));
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] cannot save a dead letter: "), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "dead letters are saved again"), 0);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "cannot save the cursor"), 0);
	free(logged);
	dl = dead_letters(&w); /* none: the change is erased */
	CU_ASSERT_EQUAL(json_array_size(dl), 0);
	json_decref(dl);
	gated_world_close(&w, gate, blocked);
}

/* The first words of the line of cursor saves an injected fault refused. */
#define SAVE_REFUSED \
	"[export x] cannot save the cursor: an injected refusal to write; the export" \
	" retries with backoff; "

/* The n calls export x had (calls: recorded()'s, dropped here) end with
 * one batch sent twice: the same changes, answer and range. */
static void assert_last_sent_twice(json_t *calls, size_t n)
{
	CU_ASSERT_EQUAL_FATAL(json_array_size(calls), n);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(calls, n - 2)),
			       json_string_value(json_array_get(calls, n - 1)));
	json_decref(calls);
}

/* An export caught up (its cursor at the end of what it sent) whose store
 * refuses the plan of its next batch has nothing to send again: the line
 * says so.  It said that what was sent since the last saved cursor may be
 * sent again. */
static void test_a_refused_plan_with_nothing_sent_says_nothing_is_sent_again(void)
{
	struct testlib_capture cap;
	struct world w;
	json_t *calls = NULL;
	char *logged;

	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT(x_catches_up(&w));
	export_set_cursor_save_fault(1);
	testlib_capture_begin(&cap);
	apply(&w, erase_cy); /* a change to plan a batch for */
	CU_ASSERT(file_holds(cap.path, "the cursor is saved again (failing since "));
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT(x_catches_up(&w));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, SAVE_REFUSED
					   "nothing was sent past its last saved cursor, so"
					   " nothing is sent again"), 1);
	CU_ASSERT_PTR_NULL(strstr(logged, "may be sent again"));
	json_decref(recorded(&w, &calls)); /* and nothing was: each range once */
	CU_ASSERT_EQUAL(json_array_size(calls), 2);
	for (size_t i = 1; i < json_array_size(calls); i++)
		CU_ASSERT_STRING_NOT_EQUAL(json_string_value(json_array_get(calls, i - 1)),
					   json_string_value(json_array_get(calls, i)));
	json_decref(calls);
	free(logged);
	world_close(&w);
}

/* The first line of failing cursor saves with the export's first batch in
 * its plugin's hands: n saves are refused once the gate opens; what is
 * logged meanwhile in *logged, the plugin's calls in *calls. */
static void save_failing_while_gated(const char *keys, int n, char **logged, json_t **calls)
{
	struct testlib_capture cap;
	struct world w;
	char *gate, *blocked;

	gated_world_open(&w, keys, &gate, &blocked);
	export_set_cursor_save_fault(n);
	testlib_capture_begin(&cap);
	gate_open(blocked);
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT(x_catches_up(&w));
	CU_ASSERT(file_holds(cap.path, "the cursor is saved again (failing since "));
	*logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*logged);
	json_decref(recorded(&w, calls));
	export_set_cursor_save_fault(0);
	gated_world_close(&w, gate, blocked);
}

/* A batch delivered whose cursor is refused is sent again: the first line
 * of the failing saves says so, and the batch arrives twice. */
static void test_a_refused_cursor_after_a_delivery_says_it_may_be_sent_again(void)
{
	json_t *calls = NULL;
	char *logged = NULL;

	save_failing_while_gated("    gate_first: true\n", 1, &logged, &calls);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, SAVE_REFUSED
					   "what it sent since its last saved cursor may be sent"
					   " again"), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "nothing is sent again"), 0);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "may be sent again"), 1);
	assert_last_sent_twice(calls, 2);
	free(logged);
}

/* The line of changes delivered while cursor saves fail, after the outage
 * began with nothing sent, from its seqs on. */
#define SENT_UNSAVED \
	" were delivered, their cursor not saved either: what it sent since its last saved" \
	" cursor may be sent again"

/* What n outages of cursor saves logged, each begun with nothing sent and
 * then a delivery refused: each its first line saying nothing is sent
 * again, then once that what was delivered may be sent again, then its
 * end. */
static void assert_outages_said_sent_again(const char *logged, int n)
{
	CU_ASSERT_EQUAL(testlib_lines_with(logged, SAVE_REFUSED
					   "nothing was sent past its last saved cursor, so"
					   " nothing is sent again"), n);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, SENT_UNSAVED), n);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "may be sent again"), n);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "the cursor is saved again (failing since "),
			n);
}

/* A save refused with nothing taken past the cursor (the error of a
 * failed attempt saved) sends nothing again, and says so; the batch then
 * delivered with its cursor refused too is said, once, to be sent again,
 * and is.  Every first line said "may be sent again", planning an idle
 * export's next batch included. */
static void test_a_refused_save_with_nothing_sent_says_nothing_is_sent_again(void)
{
	json_t *calls = NULL;
	char *logged = NULL;

	/* the first call waits at the gate, then answers a retry: its error
	 * is refused (1), the next call's delivery is too (2) */
	save_failing_while_gated("    retries: 1\n", 2, &logged, &calls);
	assert_outages_said_sent_again(logged, 1);
	assert_last_sent_twice(calls, 3); /* the retry, then twice */
	free(logged);
}

/* One outage of cursor saves on worker ew (its cursor at first_seq - 1): a
 * save of its error refused with nothing sent past the cursor, then the
 * plugin takes the changes up to last_seq and their cursor is refused
 * twice, then saved. */
static void save_failing_after_an_error(struct export_worker *ew, int64_t first_seq,
					int64_t last_seq)
{
	CU_ASSERT_EQUAL_FATAL(ew->cursor, first_seq - 1);
	export_set_cursor_save_fault(3);
	ew->is_saved_dirty = 1; /* an error to save */
	CU_ASSERT_EQUAL(export_worker_commit(ew, ew->cursor, NULL, 0), -1);
	ew->sent_end = last_seq;
	CU_ASSERT_EQUAL(export_worker_commit(ew, last_seq, NULL, 0), -1);
	CU_ASSERT_EQUAL(export_worker_commit(ew, last_seq, NULL, 0), -1);
	CU_ASSERT_EQUAL(export_worker_commit(ew, last_seq, NULL, 0), 0);
	CU_ASSERT_EQUAL(ew->cursor, last_seq);
}

/* Each outage of cursor saves that began with nothing sent says once what
 * it then sent unsaved may be sent again: a second outage after the
 * cursor was saved says it again (is_sent_told is reset by a good save). */
static void test_a_second_outage_of_cursor_saves_says_again_what_may_be_sent_again(void)
{
	struct testlib_capture cap;
	struct export_worker ew = {0};
	struct world w;
	char *logged;

	world_open(&w, NULL); /* not started: ew is the only worker, run here */
	ew.store = w.th->reader;
	ew.conf = &w.th->cfg->exports[0];
	snprintf(ew.who, sizeof(ew.who), "export x");
	ew.batch_end = 1000; /* planned past every cursor here: no plan read */
	testlib_capture_begin(&cap);
	save_failing_after_an_error(&ew, 1, 2);
	save_failing_after_an_error(&ew, 3, 4);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	assert_outages_said_sent_again(logged, 2);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] changes of seq 1..2" SENT_UNSAVED), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[export x] changes of seq 3..4" SENT_UNSAVED), 1);
	free(logged);
	world_close(&w);
}

/* The API's enable of an export whose disable the store refused to save
 * (GET /v1/exports shows it disabled) drops that disable: the export
 * sends again.  It read the store, which had it enabled, answered
 * was_disabled false, and the export stayed disabled. */
static void test_the_apis_enable_drops_a_disable_the_store_refused_to_save(void)
{
	struct testlib_capture cap;
	char err[512] = "", *logged;
	int why = -1, was_disabled = -1;
	struct world w;
	json_t *st;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	export_set_disable_save_fault(1);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT_FATAL(file_holds(cap.path, "its disable could not be saved"));
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	json_decref(st);
	CU_ASSERT_EQUAL(export_enable_provider(w.ex, "x", &why, &was_disabled, err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(was_disabled, 1);
	CU_ASSERT(file_holds(cap.path, "its disable, which the store refused to save, is"
			     " dropped"));
	CU_ASSERT(calls_reach(&w, 2)); /* sent again, refused again */
	export_set_disable_save_fault(0);
	CU_ASSERT(x_saved_disabled(&w));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(logged);
	free(logged);
	world_close(&w);
}

/* What POST /v1/exports/x/enable says (into err) of export x, shown
 * disabled, whose plugin could not start (keys: `fail: create` and more):
 * that it is not started, nothing enabled. */
static void enable_not_started(const char *keys, char *err, size_t size)
{
	int why = -1, was_disabled = -1;
	struct world w;
	json_t *st;

	world_open(&w, keys);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	json_decref(st);
	CU_ASSERT_EQUAL(export_enable_provider(w.ex, "x", &why, &was_disabled, err, size), 1);
	CU_ASSERT_EQUAL(why, EXPORT_NOT_STARTED);
	CU_ASSERT_EQUAL(was_disabled, 0);
	world_close(&w);
}

/* An export whose plugin could not start is disabled till a restart, as
 * GET /v1/exports shows it: POST /v1/exports/x/enable says so (409).  It
 * answered was_disabled false of the export its status showed disabled,
 * and nothing happened. */
static void test_enabling_an_export_whose_plugin_could_not_start_says_restart(void)
{
	char err[512] = "";

	enable_not_started("    fail: create\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "export x is disabled because its plugin could not"
				      " start (exports[0] \"x\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "scripted create failure): fix that, then restart"
				      " the hub"));
}

/* A create() error that is not UTF-8 (a library's Latin-1 text passed on)
 * is kept as UTF-8, each ill-formed byte a '?': the 409 not_started of
 * POST /v1/exports/x/enable quotes it, and could not be made (json_pack
 * refused the message: a 500 internal). */
static void test_a_create_error_that_is_not_utf8_is_kept_as_utf8(void)
{
	char err[512] = "";

	enable_not_started("    fail: create\n    bad_latin1: true\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "scripted create failure: caf?): fix that"));
	CU_ASSERT(str_is_utf8(err));
}

/* POST /v1/exports/x/enable of an export off in the configuration says
 * so (409 off).  It answered was_disabled false, and nothing said why the
 * export still delivered nothing. */
static void test_enabling_an_export_off_in_the_config_says_so(void)
{
	char err[512] = "";
	int why = -1, was_disabled = -1;
	struct world w;

	world_open(&w, "    enabled: false\n");
	world_start(&w);
	CU_ASSERT_EQUAL(export_enable_provider(w.ex, "x", &why, &was_disabled, err, sizeof(err)),
			1);
	CU_ASSERT_EQUAL(why, EXPORT_OFF);
	CU_ASSERT_EQUAL(was_disabled, 0);
	CU_ASSERT_STRING_EQUAL(err, "export x is off in the configuration (enabled: false): no"
			       " hub delivers it until its entry there says enabled: true");
	world_close(&w);
}

/* A batch planned with batch_size 100, resumed with batch_size 5: no
 * change is skipped. */
static void test_a_smaller_batch_size_resumes_a_larger_plan(void)
{
	struct world w;
	struct hub_config *smaller;
	json_t *seqs, *got, *c;
	char err[512];
	size_t i;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_stop(w.ex);
	w.ex = NULL;
	smaller = config_like(&w, "    batch_size: 5\n");
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, smaller, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	seqs = outbox_seqs(&w);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	json_array_foreach(got, i, c)
		CU_ASSERT_EQUAL(int_of(c, "seq"), json_integer_value(json_array_get(seqs, i)));
	json_decref(got);
	json_decref(seqs);
	export_stop(w.ex);
	w.ex = NULL;
	config_free(smaller);
	world_close(&w);
}

/* The same, sent again after an erase took its first changes out: the
 * larger plan is cut to the page first, so both sends have one range.  It
 * used to end at the page's last row, which moved when rows left. */
static void test_a_smaller_batch_size_plans_again_before_sending(void)
{
	struct world w;
	struct hub_config *smaller;
	char *keys, *gate, *blocked, err[512];
	char first_range[64], again_range[64];
	json_t *calls, *got;

	world_open(&w, "    fail: auth\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0); /* a plan of them all */
	export_stop(w.ex);
	w.ex = NULL;
	gate = testlib_mkdtemp();
	CU_ASSERT_FATAL(asprintf(&blocked, "%s/go.blocked", gate) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "    batch_size: 5\n    retries: 1\n    gate: %s/go\n",
				 gate) > 0);
	smaller = config_like(&w, keys);
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, smaller, err, sizeof(err)), 0);
	CU_ASSERT_FATAL(file_appears(blocked)); /* the first send, answered "retry" */
	apply(&w, erase_ann);
	gate_open(blocked);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, &calls);
	/* calls: the refused one (auth), the retried one, the one sent again */
	CU_ASSERT_FATAL(json_array_size(calls) >= 3);
	CU_ASSERT_EQUAL_FATAL(sscanf(strstr(json_string_value(json_array_get(calls, 1)), "range"),
				     "range %63s", first_range), 1);
	CU_ASSERT_EQUAL_FATAL(sscanf(strstr(json_string_value(json_array_get(calls, 2)), "range"),
				     "range %63s", again_range), 1);
	CU_ASSERT_STRING_EQUAL(first_range, again_range);
	json_decref(calls);
	json_decref(got);
	export_stop(w.ex);
	w.ex = NULL;
	config_free(smaller);
	world_close(&w);
	testlib_rmtree(gate);
	free(gate);
	free(blocked);
	free(keys);
}

/* The change feed keeps what some export the store knows has still to
 * deliver: a disabled export holds it whole, and still does once taken out
 * of the configuration (another process may run it); forgotten
 * (`profilehub exports forget`), what x delivered is deleted (nothing is
 * sent again), and so is what comes later, once x delivered it. */
static void test_delivered_changes_leave_the_feed_once_every_export_passed_them(void)
{
	struct world w;
	struct hub_config *alone;
	json_t *all, *got, *left;
	char err[512];
	int was_known = 0;

	export_set_prune_interval(0); /* a pass at every step */
	world_open(&w, "  - name: held\n"
		       "    plugin: export_script\n"
		       "    record: /dev/null\n"
		       "    enabled: false\n");
	apply(&w, people);
	all = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(all) > 5);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(all));
	json_decref(got);
	left = outbox_seqs(&w);
	CU_ASSERT(json_equal(left, all)); /* held: its cursor is 0 */
	json_decref(left);
	export_stop(w.ex);
	w.ex = NULL;

	alone = config_like(&w, "");
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, alone, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	left = outbox_seqs(&w);
	CU_ASSERT(json_equal(left, all)); /* still known to the store */
	json_decref(left);
	export_stop(w.ex);
	w.ex = NULL;
	CU_ASSERT_EQUAL_FATAL(export_forget(w.th->reader, "held", &was_known), 0);
	CU_ASSERT(was_known);

	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, alone, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	left = outbox_seqs(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(all));
	json_decref(got);

	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"z1\","
	      "\"timestamp\":\"2025-03-03T10:00:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"again\"}}\n");
	left = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(left) > 0);
	CU_ASSERT(json_integer_value(json_array_get(left, 0)) >
		  json_integer_value(json_array_get(all, json_array_size(all) - 1)));
	json_decref(left);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT(json_array_size(got) > json_array_size(all));
	json_decref(got);
	left = outbox_seqs(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);

	export_stop(w.ex);
	w.ex = NULL;
	config_free(alone);
	json_decref(all);
	export_set_prune_interval(10000);
	world_close(&w);
}

/* ---- backfill ----------------------------------------------------------- */

static int id_add(void *ctx, const struct store_profile *p)
{
	json_array_append_new(ctx, json_string(p->id));
	return 0;
}

/* The IDs of the live profiles, in ID order (the backfill's order). */
static json_t *live_ids(struct world *w)
{
	json_t *ids = json_array();
	CU_ASSERT_EQUAL(w->th->reader->ops->profile_iter_live(w->th->reader, "", 1000000, id_add,
								ids), 0);
	return ids;
}

/* The backfill changes of `got`, from index `from`: one per live profile,
 * in ID order, each with its profile; their seqs above `after`. */
static void check_backfill(json_t *got, size_t from, json_t *ids, json_int_t after)
{
	size_t i;
	json_t *c;

	CU_ASSERT_EQUAL_FATAL(json_array_size(got), from + json_array_size(ids));
	json_array_foreach(got, i, c) {
		if (i < from) {
			CU_ASSERT_PTR_NULL(json_object_get(c, "backfill"));
			continue;
		}
		CU_ASSERT(json_is_true(json_object_get(c, "backfill")));
		CU_ASSERT_STRING_EQUAL(str_of(c, "kind"), "profile_updated");
		CU_ASSERT_STRING_EQUAL(str_of(c, "profile_id"),
				       json_string_value(json_array_get(ids, i - from)));
		CU_ASSERT_STRING_EQUAL(str_of(json_object_get(c, "profile"), "profile_id"),
				       str_of(c, "profile_id"));
		CU_ASSERT(int_of(c, "seq") > after);
		after = int_of(c, "seq");
	}
}

/* A new export gets what is left of the feed, then every live profile
 * (a page of 2 per transaction here), once: a restart sends nothing more. */
static void test_a_new_export_gets_every_live_profile_once(void)
{
	struct world w;
	struct hub_config *off;
	json_t *got, *seqs, *ids, *st, *bf, *x;

	export_set_backfill_page(2);
	world_open(&w, "    backfill: true\n    batch_size: 2\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	ids = live_ids(&w);
	CU_ASSERT_EQUAL_FATAL(json_array_size(ids), 3); /* ann, bad, cy */
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	check_backfill(got, json_array_size(seqs), ids,
		       json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1)));
	json_decref(got);

	st = status_of_x(&w);
	bf = json_object_get(st, "backfill");
	CU_ASSERT_STRING_EQUAL(str_of(bf, "state"), "done");
	CU_ASSERT_EQUAL(int_of(bf, "profiles"), 3);
	CU_ASSERT(str_of(bf, "finished_at")[0] != '\0');
	CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
	json_decref(st);

	/* seen by a configuration that turned x off: off, and a finished
	 * backfill waits for nothing */
	off = config_like(&w, "    backfill: true\n    enabled: false\n");
	st = export_status_json(NULL, w.th->reader, off, 0, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	x = json_array_get(json_object_get(st, "exports"), 0);
	CU_ASSERT_STRING_EQUAL(str_of(x, "state"), "off");
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(x, "backfill"), "state"), "done");
	CU_ASSERT(json_is_null(json_object_get(json_object_get(x, "backfill"), "waiting")));
	json_decref(st);
	config_free(off);

	export_stop(w.ex);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs) + 3);
	json_decref(got);
	json_decref(seqs);
	json_decref(ids);
	export_set_backfill_page(0);
	world_close(&w);
}

/* `backfill` unset (null) is on: a new export gets every live profile, as
 * the default that `profilehub plugins --describe` prints says. */
static void test_backfill_unset_is_on_as_described(void)
{
	const struct hub_config_key *k = config_keys_common_export;
	struct world w;
	json_t *got, *seqs, *ids;

	while (k->name && strcmp(k->name, "backfill") != 0)
		k++;
	CU_ASSERT_PTR_NOT_NULL_FATAL(k->name);
	world_open(&w, "    backfill: null\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	ids = live_ids(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs) + json_array_size(ids));
	check_backfill(got, json_array_size(seqs), ids,
		       json_integer_value(json_array_get(seqs, json_array_size(seqs) - 1)));
	CU_ASSERT_STRING_EQUAL(k->default_value ? k->default_value : "(none)", "true");
	json_decref(got);
	json_decref(seqs);
	json_decref(ids);
	world_close(&w);
}

/* x's backfill is x's: y (backfill: false) skips its changes, and its
 * cursor still passes them. */
static void test_a_backfill_goes_to_its_export_alone(void)
{
	struct world w;
	char *dir = testlib_mkdtemp(), *y_record, *keys;
	json_t *got, *seqs, *ids, *st, *c;
	size_t i;

	CU_ASSERT_FATAL(asprintf(&y_record, "%s/y.jsonl", dir) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "    backfill: true\n"
				 "  - name: y\n"
				 "    plugin: export_script\n"
				 "    record: %s\n"
				 "    backfill: false\n", y_record) > 0);
	world_open(&w, keys);
	apply(&w, people);
	seqs = outbox_seqs(&w);
	ids = live_ids(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	check_backfill(got, json_array_size(seqs), ids, 0);
	json_decref(got);
	got = recorded_at(y_record, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	json_array_foreach(got, i, c)
		CU_ASSERT_PTR_NULL(json_object_get(c, "backfill"));
	json_decref(got);
	st = export_status_json(w.ex, w.th->reader, w.th->cfg, 0, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	json_array_foreach(json_object_get(st, "exports"), i, c)
		CU_ASSERT_EQUAL(int_of(c, "lag"), 0);
	CU_ASSERT(json_is_null(json_object_get(json_array_get(json_object_get(st, "exports"), 1),
					       "backfill")));
	json_decref(st);
	json_decref(seqs);
	json_decref(ids);
	world_close(&w);
	testlib_rmtree(dir);
	free(dir);
	free(y_record);
	free(keys);
}

/* An export that ran before gets no backfill when `backfill` is turned on
 * later, only when asked for one (profilehub exports backfill), which a
 * running exporter sees once it is idle. */
static void test_an_export_that_ran_is_backfilled_only_when_asked(void)
{
	struct world w;
	struct hub_config *on;
	json_t *got, *ids, *st;
	size_t first;
	char err[512];

	world_open(&w, NULL);
	apply(&w, people);
	ids = live_ids(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_stop(w.ex);
	w.ex = NULL;
	got = recorded(&w, NULL);
	first = json_array_size(got);
	json_decref(got);

	on = config_like(&w, "    backfill: true\n");
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, on, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), first);
	json_decref(got);
	st = status_of_x(&w);
	CU_ASSERT(json_is_null(json_object_get(st, "backfill")));
	json_decref(st);

	CU_ASSERT_EQUAL_FATAL(export_backfill_request(w.th->reader, "x"), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	check_backfill(got, first, ids, 0);
	json_decref(got);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(st, "backfill"), "state"), "done");
	CU_ASSERT_EQUAL(int_of(json_object_get(st, "backfill"), "profiles"), 3);
	json_decref(st);

	export_stop(w.ex);
	w.ex = NULL;
	config_free(on);
	json_decref(ids);
	world_close(&w);
}

/*
 * The lease lost before a backfill page (another process took it while
 * the export was idle): the page is not written, and the log says that;
 * it said "the cursor was not moved", of a transaction that moves none.
 * The worker is not idle then (its page is due): it takes the lease again
 * and writes and delivers the whole backfill before it is.
 */
static void test_a_backfill_page_fenced_off_by_a_lost_lease_says_so(void)
{
	struct testlib_capture cap;
	struct world w;
	json_t *got, *ids;
	size_t first;
	char *logged;

	world_open(&w, NULL);
	apply(&w, people);
	ids = live_ids(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	first = json_array_size(got);
	json_decref(got);
	x_lease_epoch_move(&w);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL_FATAL(export_backfill_request(w.th->reader, "x"), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "lease lost: lease_epoch:export:x is "), 1);
	CU_ASSERT_EQUAL(testlib_count_of(logged, "; no backfill page was written (the process"
					 " holding the lease writes it)"), 1);
	CU_ASSERT_PTR_NULL(strstr(logged, "cursor was not moved"));
	CU_ASSERT_EQUAL(testlib_count_of(logged, "lease export:x taken (epoch "), 1);
	got = recorded(&w, NULL);
	check_backfill(got, first, ids, 0);
	json_decref(got);
	json_decref(ids);
	free(logged);
	world_close(&w);
}

/* A store failure while a worker loads its cursor after taking its lease
 * (the second load of a start) closes its connection: the worker releases
 * no lease on it (that crashed the hub), backs off, and delivers everything
 * on its next try. */
static void test_a_failed_load_after_the_lease_take_is_retried(void)
{
	struct world w;
	json_t *got, *seqs;

	world_open(&w, NULL);
	apply(&w, people);
	seqs = outbox_seqs(&w);
	export_set_load_fault(2);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_set_load_fault(0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	json_decref(got);
	json_decref(seqs);
	world_close(&w);
}

/*
 * A change refused while an erase of its profile commits (the plugin held
 * it meanwhile) is not dead-lettered: the erasure took it out of the feed,
 * and its dead letter would keep the erased profile's data.  The plugin
 * holds cy's first change until the erase has committed.
 */
static void test_a_change_erased_while_sent_is_not_dead_lettered(void)
{
	struct world w;
	char *gate, *blocked;
	json_t *dl, *c;
	size_t i;

	gated_world_open(&w, "    bad_custom_id: cy\n    batch_size: 1\n", &gate, &blocked);
	apply(&w, erase_cy); /* commits while the plugin holds cy's change */
	gate_open(blocked);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	dl = dead_letters(&w);
	json_array_foreach(dl, i, c)
		CU_ASSERT_PTR_NULL(strstr(str_of(c, "change"), "\"custom_id\":\"cy\""));
	json_decref(dl);
	gated_world_close(&w, gate, blocked);
}

/* Starts an exporter on cfg and waits until it is idle. */
static struct exporter *start_idle(struct hub_config *cfg)
{
	struct exporter *ex = NULL;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(export_start(&ex, cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(ex, WAIT_MS), 0);
	return ex;
}

/*
 * Processes sharing the store with different configurations (a rolling
 * deploy adding an export): B runs export y (refused: it delivers
 * nothing), A runs x only.  A's pruning keeps what y has not delivered,
 * since the store knows y; fixed, y gets every change.  Taken out of every
 * configuration and forgotten (`profilehub exports forget`), y holds the
 * feed no more.  A pruned everything x had passed, y's included.
 */
static void test_an_export_of_another_configuration_holds_the_feed(void)
{
	struct world w;
	struct hub_config *a, *b, *b_fixed;
	struct exporter *ex_a, *ex_b;
	char *dir = testlib_mkdtemp(), *y_record, *keys;
	json_t *all, *left, *got, *st;
	int was_known = 0;

	export_set_prune_interval(0); /* a pass at every step */
	CU_ASSERT_FATAL(asprintf(&y_record, "%s/y.jsonl", dir) > 0);
	world_open(&w, NULL);
	CU_ASSERT_FATAL(asprintf(&keys,
				 "    enabled: false\n  - name: y\n    plugin: export_script\n"
				 "    record: %s\n    backfill: false\n    fail: auth\n",
				 y_record) > 0);
	b = config_like(&w, keys);
	free(keys);
	CU_ASSERT_FATAL(asprintf(&keys,
				 "    enabled: false\n  - name: y\n    plugin: export_script\n"
				 "    record: %s\n    backfill: false\n",
				 y_record) > 0);
	b_fixed = config_like(&w, keys);
	a = config_like(&w, "");
	/* y (backfill: false) known before the changes: it is to get them */
	CU_ASSERT_EQUAL_FATAL(export_known_register(w.th->reader, b), 0);
	apply(&w, people);
	all = outbox_seqs(&w);

	ex_b = start_idle(b);
	ex_a = start_idle(a); /* x delivers everything, then prunes */
	left = outbox_seqs(&w);
	CU_ASSERT_EQUAL(json_array_size(left), json_array_size(all));
	json_decref(left);
	st = export_status_json(NULL, w.th->reader, a, 0, NULL, 0);
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(json_object_get(st, "elsewhere"), 0), "name"),
			       "y");
	json_decref(st);
	export_stop(ex_a);
	export_stop(ex_b);

	ex_b = start_idle(b_fixed);
	got = recorded_at(y_record, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(all));
	json_decref(got);
	export_stop(ex_b);
	st = export_status_json(NULL, w.th->reader, a, 0, NULL, 0);
	CU_ASSERT_EQUAL(int_of(json_array_get(json_object_get(st, "elsewhere"), 0), "cursor"),
			json_integer_value(json_array_get(all, json_array_size(all) - 1)));
	json_decref(st);

	/* y taken out of every configuration */
	CU_ASSERT_EQUAL_FATAL(export_forget(w.th->reader, "y", &was_known), 0);
	CU_ASSERT(was_known);
	ex_a = start_idle(a);
	left = outbox_seqs(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);
	st = export_status_json(NULL, w.th->reader, a, 0, NULL, 0);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(st, "elsewhere")), 0);
	json_decref(st);
	export_stop(ex_a);

	export_set_prune_interval(10000);
	config_free(a);
	config_free(b);
	config_free(b_fixed);
	json_decref(all);
	free(keys);
	free(y_record);
	world_close(&w);
	testlib_rmtree(dir);
	free(dir);
}

/*
 * A process whose configuration lists no export (an import with another
 * file, `privacy erase`) shares the store with one that runs x: its
 * changes and its erasure reach x all the same, since the store knows x
 * (export_known:x), registered here after that process started.  Its
 * intake wrote the feed only when its own configuration listed an export,
 * so x got none of them, and no backfill later either (it has a history);
 * found by review.
 */
static void test_a_process_without_exports_feeds_the_exports_the_store_knows(void)
{
	struct world w;
	struct hub_config *plain;
	struct intake *in = NULL;
	json_t *got, *seqs, *c;
	size_t i, n_erased = 0;

	world_open(&w, NULL);
	plain_intake_start(&w, &plain, &in);
	world_start(&w); /* registers x */
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);

	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines_via(w.th, in, people), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	seqs = outbox_seqs(&w);
	CU_ASSERT(json_array_size(got) > 0);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	json_decref(seqs);
	json_decref(got);

	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines_via(w.th, in, erase_cy), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c)
		n_erased += strcmp(str_of(c, "kind"), "erased") == 0;
	CU_ASSERT_EQUAL(n_erased, 1);
	json_decref(got);

	intake_stop(in);
	config_free(plain);
	world_close(&w);
}

struct register_call {
	struct store *s;
	const struct hub_config *cfg;
	int rc;
	int is_done;
};

static void *register_main(void *arg)
{
	struct register_call *r = arg;
	r->rc = export_known_register(r->s, r->cfg);
	__atomic_store_n(&r->is_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* A group on `s` finds no export known; the registration of the world's
 * (x) on `other` waits until the group commits, and the next group finds
 * x. */
static void check_registration_waits_for_the_group(struct world *w, struct store *s,
						   struct store *other)
{
	struct register_call reg = {.s = other, .cfg = w->th->cfg};
	int seen_waiting = 0;
	pthread_t t;

	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(export_known_any(s), 0);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, register_main, &reg) == 0);
	/* seen waiting for the lock, not done (bounded poll) */
	for (int i = 0; i < 5000 && !seen_waiting; i++) {
		struct timespec ms = {0, 1000000};
		if (__atomic_load_n(&reg.is_done, __ATOMIC_SEQ_CST))
			break; /* it did not wait: the assertions below fail */
		seen_waiting = teststore_lock_waiters() > 0;
		if (!seen_waiting)
			nanosleep(&ms, NULL);
	}
	CU_ASSERT(seen_waiting);
	CU_ASSERT_EQUAL(__atomic_load_n(&reg.is_done, __ATOMIC_SEQ_CST), 0);
	CU_ASSERT_EQUAL(s->ops->commit(s), 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(reg.rc, 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL(export_known_any(s), 1);
	CU_ASSERT_EQUAL(s->ops->rollback(s), 0);
}

/*
 * Several writers (PostgreSQL): a writer group whose config lists no
 * export, having found none known, keeps that answer until it commits.  A
 * registration meanwhile waits for it: else x's backfill could read a
 * profile before the group's change to it commits, with no change in the
 * feed to follow, and x would never get it.  Twice: the first group ever
 * writes the gate key, a later one only holds it.  SQLite's one write lock
 * orders them already.
 */
static void test_a_registration_waits_for_a_group_that_found_no_export(void)
{
	struct world w;
	struct store *s = NULL, *other = NULL;
	char err[512];
	int was_known = 0;

	if (!teststore_is_pg())
		return;
	world_open(&w, NULL);
	/* its intake registered x: forgotten, the store knows none */
	CU_ASSERT_EQUAL_FATAL(export_forget(w.th->reader, "x", &was_known), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(w.th->cfg, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(w.th->cfg, &other, err, sizeof(err)), 0);
	check_registration_waits_for_the_group(&w, s, other);
	CU_ASSERT_EQUAL_FATAL(export_forget(w.th->reader, "x", &was_known), 0);
	CU_ASSERT(was_known);
	check_registration_waits_for_the_group(&w, s, other);
	store_close(other);
	store_close(s);
	world_close(&w);
}

/*
 * Two processes run x on one store; the first holds x's lease and
 * delivers everything after one retry.  The other's status shows the
 * cursor and the last error the holder committed, as the holder's does:
 * it showed its own, read when it started and never again (cursor 0, the
 * whole feed as lag, no error).  Found by review.
 */
static void test_a_process_not_holding_the_lease_shows_the_holders_cursor(void)
{
	struct world w;
	struct exporter *other = NULL, *both[2];
	char err[512];
	int64_t last = 0;

	world_open(&w, "    retries: 1\n");
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0); /* w.ex took the lease */
	CU_ASSERT_EQUAL_FATAL(export_start(&other, w.th->cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(other, WAIT_MS), 0);
	apply(&w, people);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(other, WAIT_MS), 0);
	CU_ASSERT_EQUAL(export_outbox_last_seq(w.th->reader, 0, &last), 0);
	CU_ASSERT_FATAL(last > 0);
	both[0] = w.ex;
	both[1] = other;
	for (size_t i = 0; i < 2; i++) {
		json_t *st = status_of_x_in(&w, both[i]);
		CU_ASSERT_STRING_EQUAL(str_of(st, "state"),
				       i == 0 ? "idle" : "held by another process");
		CU_ASSERT_EQUAL(int_of(st, "cursor"), last);
		CU_ASSERT_EQUAL(int_of(st, "lag"), 0);
		CU_ASSERT_STRING_EQUAL(str_of(st, "last_error"), "retry after 0ms: scripted");
		json_decref(st);
	}
	export_stop(other);
	world_close(&w);
}

/*
 * Which process delivers an export: /metrics of each says whether it holds
 * the lease (export_lease_held, 1 on one process), and the log of a
 * process says when it takes the lease and when it finds it held
 * elsewhere.  Neither said it: after a SIGKILL of the holder, or a
 * PostgreSQL restart that moved the leases, nothing told an operator which
 * hub now delivered (the take was logged at debug only).
 */
static void test_metrics_and_log_say_which_process_holds_the_lease(void)
{
	struct world w;
	struct exporter *other = NULL;
	struct testlib_capture cap;
	enum hub_log_level level = log_get_level();
	char err[512], *logged;

	world_open(&w, NULL);
	log_set_level(HUB_LOG_INFO);
	testlib_capture_begin(&cap);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0); /* w.ex took the lease */
	CU_ASSERT_EQUAL_FATAL(export_start(&other, w.th->cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(other, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "lease export:x taken (epoch 1): this"
						   " process delivers, from cursor 0") : NULL);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "lease export:x held by another process")
				      : NULL);
	free(logged);
	CU_ASSERT_EQUAL(metrics_of_x_in(w.ex, "export_lease_held"), 1);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_lease_held"), 0);

	/* the holder stops (releasing it): the other takes it over, within its
	 * 100 ms poll, maybe before export_stop() returns (captured from
	 * before the stop: from after, the take was missed now and then) */
	apply(&w, people);
	testlib_capture_begin(&cap);
	export_stop(w.ex);
	w.ex = NULL;
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(other, WAIT_MS), 0);
	logged = testlib_capture_end(&cap);
	log_set_level(level);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "lease export:x taken (epoch 2)") : NULL);
	free(logged);
	CU_ASSERT_EQUAL(metrics_of_x_in(other, "export_lease_held"), 1);
	export_stop(other);
	world_close(&w);
}

static int count_change(void *ctx, const struct store_change *c)
{
	(void)c;
	++*(size_t *)ctx;
	return 0;
}

/*
 * The lag is a distance in seqs, found in a few indexed reads
 * (docs/exports.md, export.h): a change an erasure deleted after the cursor still counts, so
 * the lag bounds what is left to deliver, it does not count it.
 */
static void test_the_lag_is_the_distance_in_seqs_to_the_feeds_end(void)
{
	struct world w;
	json_t *st;
	size_t n_after = 0;

	world_open(&w, NULL);
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	export_stop(w.ex);
	w.ex = NULL;
	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"c4\","
	      "\"timestamp\":\"2025-03-01T11:00:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"cy\"},\"event\":{\"name\":\"open\"}}\n");
	apply(&w, erase_cy); /* deletes that event's change, adds its own */
	st = status_of_x_in(&w, NULL);
	CU_ASSERT_EQUAL(w.th->reader->ops->outbox_read(w.th->reader, int_of(st, "cursor"), 1000,
						       count_change, &n_after), 0);
	CU_ASSERT(n_after > 0);
	CU_ASSERT_EQUAL(int_of(st, "lag"), int_of(st, "last_seq") - int_of(st, "cursor"));
	CU_ASSERT_EQUAL(int_of(st, "lag"), (json_int_t)n_after + 1);
	json_decref(st);
	world_close(&w);
}

static int count_one(void *ctx, const struct store_dead_letter *d)
{
	(void)d;
	++*(int *)ctx;
	return 0;
}

/* Forgetting an export deletes its cursor, batch end, saved state and
 * backfill, and every dead letter it has, more than one page of them
 * (200), and keeps another export's. */
static void test_forget_deletes_every_trace_of_the_export(void)
{
	void (*const keys[])(char *, size_t, const char *) = {
		export_key_cursor, export_key_batch_end, export_key_state, export_key_backfill,
	};
	struct store_dead_letter d = {.at_ms = 1, .reason = "HTTP 400", .profile_id = "p_1",
				      .change_json = "{}"};
	struct world w;
	struct store *s;
	char key[300], text[64];
	int was_known = 0, n = 0;

	world_open(&w, NULL);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		keys[i](key, sizeof(key), "y");
		CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, "{}"), 0);
		keys[i](key, sizeof(key), "x");
		CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, key, "{}"), 0);
	}
	CU_ASSERT_EQUAL_FATAL(s->ops->meta_put(s, "export_known:y", "1"), 0);
	for (int i = 1; i <= 401; i++) {
		d.export_name = i == 401 ? "x" : "y";
		d.seq = i;
		CU_ASSERT_EQUAL_FATAL(s->ops->dead_letter_put(s, &d), 0);
	}
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);

	CU_ASSERT_EQUAL(export_forget(s, "y", &was_known), 0);
	CU_ASSERT_EQUAL(was_known, 1);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		keys[i](key, sizeof(key), "y");
		CU_ASSERT_EQUAL(s->ops->meta_get(s, key, text, sizeof(text)), 0);
		keys[i](key, sizeof(key), "x");
		CU_ASSERT_EQUAL(s->ops->meta_get(s, key, text, sizeof(text)), 1);
	}
	CU_ASSERT_EQUAL(s->ops->dead_letter_list(s, "y", 0, 1000, count_one, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(s->ops->dead_letter_list(s, "x", 0, 1000, count_one, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	world_close(&w);
}

/* `exports forget` is refused while another process runs the export (it
 * holds the export's lease), and goes through once it stopped.  It keeps
 * the lease's epoch counting: a take after it has a new epoch (reset to
 * 1, it would share one with a worker of an older take, whose commits the
 * fence would let through; found by review). */
static void test_forget_waits_for_the_process_running_the_export(void)
{
	struct world w;
	struct store *other = NULL;
	char err[512];
	int64_t epoch = 0, after = 0;
	int was_known = -1;

	world_open(&w, NULL);
	CU_ASSERT_EQUAL_FATAL(store_open(w.th->cfg, &other, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(other->ops->lease_try(other, "export:y", &epoch), 1);
	CU_ASSERT_EQUAL(export_forget(w.th->reader, "y", &was_known), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(w.th->reader), "running in another process"));
	CU_ASSERT_EQUAL(other->ops->lease_release(other, "export:y"), 0);
	CU_ASSERT_EQUAL(export_forget(w.th->reader, "y", &was_known), 0);
	CU_ASSERT_EQUAL(was_known, 0);
	CU_ASSERT_EQUAL_FATAL(other->ops->lease_try(other, "export:y", &after), 1);
	CU_ASSERT(after > epoch + 1); /* past the first take and forget's own */
	CU_ASSERT_EQUAL(other->ops->lease_release(other, "export:y"), 0);
	store_close(other);
	world_close(&w);
}

static int first_tombstone(void *ctx, const struct store_profile *p)
{
	snprintf(ctx, PROFILE_ID_SIZE, "%s", p->id);
	return 1;
}

static int last_change(void *ctx, const struct store_change *c)
{
	snprintf(ctx, PROFILE_ID_SIZE, "%s", c->profile_id);
	return 0;
}

/* Sends export x's dead letters again: exactly one is sent, last in the
 * feed, as a change of profile `to`. */
static void retry_sends_one_to(struct store *s, const char *to)
{
	char last[PROFILE_ID_SIZE] = "";
	int64_t n = 0;

	CU_ASSERT_EQUAL_FATAL(export_dead_letters_retry(s, "x", 1767225600000LL, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(s->ops->outbox_read(s, 0, 1000000, last_change, last), 0);
	CU_ASSERT_STRING_EQUAL(last, to);
}

/* Export x's dead letter of seq `seq`: change_json of profile pid,
 * committed. */
static void dead_change_put(struct store *s, int64_t seq, const char *pid,
			    const char *change_json)
{
	struct store_dead_letter d = {.export_name = "x", .seq = seq, .at_ms = 1,
				      .reason = "HTTP 400", .profile_id = pid,
				      .change_json = change_json};

	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->dead_letter_put(s, &d), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
}

/* Export x's dead letter of seq 1000000: an event change of profile pid
 * whose "event" is event_json, committed. */
static void dead_event_put(struct store *s, const char *pid, const char *event_json)
{
	char change[512];

	snprintf(change, sizeof(change),
		 "{\"seq\":1000000,\"kind\":\"event\",\"profile_id\":\"%s\",\"event\":%s}", pid,
		 event_json);
	dead_change_put(s, 1000000, pid, change);
}

/* A dead letter whose profile was merged away since (I5's, merged into
 * Ann at her login) is sent again as Ann's: her profile holds its events
 * now (it was skipped as gone, and so lost). */
static void test_a_retried_change_of_a_merged_profile_goes_to_the_survivor(void)
{
	struct world w;
	char ann[1][PROFILE_ID_SIZE], old[PROFILE_ID_SIZE] = "";
	struct store *s;

	world_open(&w, NULL);
	apply(&w, people);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(profile_find(s, "custom_id", "ann", ann, 1), 1);
	CU_ASSERT_EQUAL_FATAL(s->ops->profile_tombstones(s, ann[0], first_tombstone, old), 0);
	CU_ASSERT_FATAL(old[0] != '\0');
	dead_event_put(s, old, "{\"name\":\"opened\"}");
	retry_sends_one_to(s, ann[0]);
	world_close(&w);
}

/* Dead letters this hub cannot send again (unreadable: left as they are)
 * do not hide the ones after them: the retry pages past them.  With more
 * of them than a page (200) first, it used to stop at that page and send
 * nothing. */
static void test_a_retry_pages_past_dead_letters_it_cannot_send(void)
{
	struct world w;
	char ann[1][PROFILE_ID_SIZE], change[256];
	struct store_dead_letter d = {.export_name = "x", .at_ms = 1, .reason = "HTTP 400",
				      .change_json = "{\"kind\":\"from_the_future\"}"};
	struct store *s;
	json_t *left;

	world_open(&w, NULL);
	apply(&w, people);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(profile_find(s, "custom_id", "ann", ann, 1), 1);
	d.profile_id = ann[0];
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	for (d.seq = 1000000; d.seq < 1000000 + 450; d.seq++)
		CU_ASSERT_EQUAL_FATAL(s->ops->dead_letter_put(s, &d), 0);
	snprintf(change, sizeof(change),
		 "{\"seq\":%lld,\"kind\":\"event\",\"profile_id\":\"%s\","
		 "\"event\":{\"name\":\"opened\"}}", (long long)d.seq, ann[0]);
	d.change_json = change;
	CU_ASSERT_EQUAL_FATAL(s->ops->dead_letter_put(s, &d), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	retry_sends_one_to(s, ann[0]);
	left = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 450); /* the unreadable ones stay */
	json_decref(left);
	world_close(&w);
}

/* A retried change whose profile is merged away after the retry and before
 * its delivery goes to the survivor: it used to be skipped as gone, and
 * lost, its dead letter deleted (found by review). */
static void test_a_retried_change_survives_a_later_merge(void)
{
	struct world w;
	char i9[1][PROFILE_ID_SIZE], ann[1][PROFILE_ID_SIZE];
	struct store *s;
	json_t *got, *c, *left;
	size_t i, n_retried = 0;

	world_open(&w, NULL);
	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"r1\","
	      "\"timestamp\":\"2025-03-01T10:00:00.000Z\","
	      "\"identifiers\":{\"installation_id\":\"I9\"},\"event\":{\"name\":\"view\"}}\n");
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(profile_find(s, "installation_id", "I9", i9, 1), 1);
	dead_event_put(s, i9[0], "{\"name\":\"opened\"}");
	retry_sends_one_to(s, i9[0]);
	/* then I9's anonymous profile merges into ann's at her login */
	apply(&w,
	      "{\"type\":\"identify\",\"message_id\":\"r2\","
	      "\"timestamp\":\"2025-03-01T10:01:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\"}}\n"
	      "{\"type\":\"identify\",\"message_id\":\"r3\","
	      "\"timestamp\":\"2025-03-01T10:02:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\",\"installation_id\":\"I9\"}}\n");
	CU_ASSERT_EQUAL_FATAL(profile_find(s, "custom_id", "ann", ann, 1), 1);
	CU_ASSERT_STRING_NOT_EQUAL(ann[0], i9[0]);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c) {
		if (!json_object_get(c, "retry_of"))
			continue;
		n_retried++;
		CU_ASSERT_STRING_EQUAL(str_of(c, "profile_id"), ann[0]);
		CU_ASSERT_STRING_EQUAL(str_of(json_object_get(c, "profile"), "custom_id"), "ann");
	}
	CU_ASSERT_EQUAL(n_retried, 1);
	left = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);
	json_decref(got);
	world_close(&w);
}

struct erase_arg {
	struct world *w;
	hub_rc rc;
	char err[512];
};

static void *erase_ann_thread(void *arg)
{
	struct erase_arg *a = arg;

	a->rc = privacy_erase_submit(a->w->th->intake, &a->w->th->rules, "custom_id", "ann",
				     "pr_race", NULL, a->err, sizeof(a->err));
	return NULL;
}

static int ann_feed_rows(void *ctx, const struct store_change *c)
{
	struct { const char *pid; int n; } *f = ctx;

	f->n += strcmp(c->profile_id, f->pid) == 0 && strcmp(c->kind, "erased") != 0;
	return 0;
}

/*
 * PostgreSQL: an erase beside a retry of the same person's dead letter.
 * The retry deleted the dead letter and appended its change (committed
 * with its transaction); the erase, meanwhile, waits for that dead letter.
 * Once both committed, nothing of hers is left in the feed but her erased
 * change.  The erase used to delete her feed rows first and the dead
 * letters after: the retried change, committed after it had looked,
 * outlived the erase (found by review).
 */
static void test_an_erase_beside_a_retry_of_her_dead_letter_leaves_nothing(void)
{
	struct world w;
	struct store *r = NULL;
	char ann[1][PROFILE_ID_SIZE], err[512], text[256];
	struct store_change c = {.kind = "event", .at_ms = 2, .payload_json = text};
	struct erase_arg ea = {0};
	struct { const char *pid; int n; } feed = {NULL, 0};
	pthread_t t;

	if (!teststore_is_pg())
		return; /* one writer: no race */
	world_open(&w, NULL);
	apply(&w, people);
	CU_ASSERT_EQUAL_FATAL(profile_find(w.th->reader, "custom_id", "ann", ann, 1), 1);
	dead_event_put(w.th->reader, ann[0],
		       "{\"name\":\"opened\",\"properties\":{\"diagnosis\":\"secret\"}}");
	/* the retry's transaction, as retry_one runs it, up to its commit */
	CU_ASSERT_EQUAL_FATAL(store_open(w.th->cfg, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(r->ops->begin(r), 0);
	CU_ASSERT_EQUAL_FATAL(r->ops->dead_letter_delete(r, "x", 1000000), 1);
	snprintf(text, sizeof(text), "{\"for\":\"x\",\"retry_of\":1000000,\"payload\":"
		 "{\"name\":\"opened\",\"properties\":{\"diagnosis\":\"secret\"}}}");
	c.profile_id = ann[0];
	CU_ASSERT_EQUAL_FATAL(r->ops->outbox_append(r, &c), 0);
	/* the erase meanwhile: it waits for the dead letter the retry holds */
	ea.w = &w;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, erase_ann_thread, &ea), 0);
	CU_ASSERT(lock_waiter_seen());
	CU_ASSERT_EQUAL(r->ops->commit(r), 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(ea.rc, HUB_OK);
	feed.pid = ann[0];
	CU_ASSERT_EQUAL(w.th->reader->ops->outbox_read(w.th->reader, 0, 100000, ann_feed_rows,
						       &feed), 0);
	CU_ASSERT_EQUAL(feed.n, 0);
	store_close(r);
	world_close(&w);
}

/* IDENTITY.md section 7: an erase deletes any raw payload the hub kept:
 * her dead letters too (a change of hers an export refused, her event's
 * properties in it).  Only the export's retries ever looked at them, and
 * a retry of an erased profile sends nothing, so one left behind went
 * unseen. */
static void test_an_erase_deletes_her_dead_letters(void)
{
	struct world w;
	char ann[1][PROFILE_ID_SIZE];
	json_t *left;

	world_open(&w, NULL);
	apply(&w, people);
	CU_ASSERT_EQUAL_FATAL(profile_find(w.th->reader, "custom_id", "ann", ann, 1), 1);
	dead_event_put(w.th->reader, ann[0],
		       "{\"name\":\"opened\",\"properties\":{\"diagnosis\":\"secret\"}}");
	left = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 1);
	json_decref(left);
	apply(&w, erase_ann);
	left = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);
	world_close(&w);
}

/* A dead letter whose profile was erased since (only a race leaves one:
 * the erase deletes them) is not put back in the feed with its data. */
static void test_a_dead_letter_of_an_erased_profile_is_not_sent_again(void)
{
	struct world w;
	struct { const char *pid; int n; } feed = {"p_0000000000000000", 0};
	json_t *left;
	int64_t n = -1;

	world_open(&w, NULL);
	dead_event_put(w.th->reader, feed.pid, "{\"name\":\"opened\"}");
	CU_ASSERT_EQUAL_FATAL(export_dead_letters_retry(w.th->reader, "x", 1767225600000LL, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(w.th->reader->ops->outbox_read(w.th->reader, 0, 100000, ann_feed_rows,
						       &feed), 0);
	CU_ASSERT_EQUAL(feed.n, 0);
	left = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);
	world_close(&w);
}

/* The feed rows of retried dead letters: {kind, profile_id, payload}. */
static int retried_rows(void *ctx, const struct store_change *c)
{
	json_t *p = json_loads(c->payload_json ? c->payload_json : "{}", 0, NULL);

	if (json_object_get(p, "retry_of"))
		json_array_append_new(ctx, json_pack("{s:s, s:s, s:O}", "kind", c->kind,
						     "profile_id", c->profile_id, "payload",
						     json_object_get(p, "payload")));
	json_decref(p);
	return 0;
}

/* A retried erasure is always sent, its profile gone, with the types of
 * the identifiers it erased; a retried merge keeps the profiles it
 * absorbed (API.md's change feed). */
static void test_a_retried_erasure_or_merge_says_what_it_did(void)
{
	static const char gone[] = "p_0000000000000000", absorbed[] = "p_1111111111111111";
	struct world w;
	char ann[1][PROFILE_ID_SIZE], erased[256], merged[256];
	json_t *got = json_array(), *row, *want;
	int64_t n = -1;
	struct store *s;

	world_open(&w, NULL);
	apply(&w, people);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(profile_find(s, "custom_id", "ann", ann, 1), 1);
	snprintf(erased, sizeof(erased), "{\"seq\":1000000,\"kind\":\"erased\",\"profile_id\":"
		 "\"%s\",\"identifier_types\":[\"custom_id\",\"email\"]}", gone);
	snprintf(merged, sizeof(merged), "{\"seq\":1000001,\"kind\":\"merged\",\"profile_id\":"
		 "\"%s\",\"merged_from\":[\"%s\"]}", ann[0], absorbed);
	dead_change_put(s, 1000000, gone, erased);
	dead_change_put(s, 1000001, ann[0], merged);
	CU_ASSERT_EQUAL_FATAL(export_dead_letters_retry(s, "x", 1767225600000LL, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(s->ops->outbox_read(s, 0, 1000000, retried_rows, got), 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(got), 2);
	row = json_array_get(got, 0);
	CU_ASSERT_STRING_EQUAL(str_of(row, "kind"), "erased");
	CU_ASSERT_STRING_EQUAL(str_of(row, "profile_id"), gone);
	want = json_pack("{s:[ss]}", "identifier_types", "custom_id", "email");
	CU_ASSERT(json_equal(json_object_get(row, "payload"), want));
	json_decref(want);
	row = json_array_get(got, 1);
	CU_ASSERT_STRING_EQUAL(str_of(row, "kind"), "merged");
	CU_ASSERT_STRING_EQUAL(str_of(row, "profile_id"), ann[0]);
	want = json_pack("{s:[s]}", "merged_from", absorbed);
	CU_ASSERT(json_equal(json_object_get(row, "payload"), want));
	json_decref(want);
	json_decref(got);
	world_close(&w);
}

/* Decimals reach the export as they were written (15 significant digits,
 * as the store keeps them): an event's property, an attribute in the
 * profile, and both again in a dead letter sent again.  The feed dumped
 * them with jansson's 17 digits: 18.99 went out as 18.989999999999998
 * (found by review). */
static void test_decimals_are_exported_as_written(void)
{
	static const char buy[] =
		"{\"type\":\"track\",\"message_id\":\"d1\","
		"\"timestamp\":\"2025-03-01T10:00:00.000Z\","
		"\"identifiers\":{\"installation_id\":\"I9\"},\"event\":{\"name\":\"buy\","
		"\"properties\":{\"price\":18.99}}}\n"
		"{\"type\":\"identify\",\"message_id\":\"d2\","
		"\"timestamp\":\"2025-03-01T10:01:00.000Z\","
		"\"identifiers\":{\"installation_id\":\"I9\"},\"attributes\":{\"score\":0.1}}\n";
	struct world w;
	char i9[1][PROFILE_ID_SIZE], text[65536];
	struct store *s;
	const char *p;
	size_t n;
	FILE *f;

	world_open(&w, NULL);
	apply(&w, buy);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(profile_find(s, "installation_id", "I9", i9, 1), 1);
	dead_event_put(s, i9[0], "{\"name\":\"buy\",\"properties\":{\"price\":18.99}}");
	retry_sends_one_to(s, i9[0]);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	/* what the plugin got, byte for byte (parsed again, the digits would
	 * not show) */
	CU_ASSERT_FATAL((f = fopen(w.record, "r")) != NULL);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	for (p = text, n = 0; (p = strstr(p, "\"price\":18.99}")); p++)
		n++;
	CU_ASSERT_EQUAL(n, 2); /* the event, and its dead letter sent again */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"score\":0.1"));
	CU_ASSERT_PTR_NULL(strstr(text, "18.98999"));
	CU_ASSERT_PTR_NULL(strstr(text, "0.10000000"));
	world_close(&w);
}

/* The seq of every dead letter of export x, and their changes by it. */
static json_t *dead_letter_seqs(struct world *w)
{
	json_t *dl = dead_letters(w), *seqs = json_array(), *d;
	size_t i;

	json_array_foreach(dl, i, d)
		json_array_append_new(seqs, json_integer(int_of(d, "seq")));
	json_decref(dl);
	return seqs;
}

/* Stops the exporter, sends the dead letters of x again (all `expected`
 * of them, none left), and starts it on cfg (NULL: the world's). */
static void retry_and_restart(struct world *w, struct hub_config *cfg, int64_t expected)
{
	char err[512] = "";
	int64_t n = -1;
	json_t *left;

	export_stop(w->ex);
	w->ex = NULL;
	CU_ASSERT_EQUAL_FATAL(export_dead_letters_retry(w->th->reader, "x", 1767225600000LL, &n),
			      0);
	CU_ASSERT_EQUAL(n, expected);
	left = dead_letters(w);
	CU_ASSERT_EQUAL(json_array_size(left), 0);
	json_decref(left);
	CU_ASSERT_EQUAL_FATAL(export_start(&w->ex, cfg ? cfg : w->th->cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w->ex, WAIT_MS), 0);
}

/*
 * Dead letters sent again (`profilehub exports retry`): each comes back
 * as a new change for its export alone, "retry_of" naming the seq it was
 * dead-lettered under, with the profile as it is now.  While the receiver
 * still refuses, they are dead-lettered again under their new seqs; once
 * it accepts, they are delivered, the event as it was, and another export
 * (y, added meanwhile) does not get them.
 */
static void test_dead_letters_are_sent_again(void)
{
	struct world w;
	struct hub_config *fixed;
	json_t *first, *second, *got, *c, *ygot;
	char *yrecord, *keys;
	size_t i, n_retried = 0;

	world_open(&w, "    bad_custom_id: bad\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	first = dead_letter_seqs(&w);
	CU_ASSERT_EQUAL_FATAL(json_array_size(first), 2); /* Bad's profile_updated and event */

	/* still refused: dead-lettered again, each under a new seq */
	retry_and_restart(&w, NULL, 2);
	second = dead_letters(&w);
	CU_ASSERT_EQUAL_FATAL(json_array_size(second), 2);
	json_array_foreach(second, i, c) {
		json_t *change = json_loads(str_of(c, "change"), 0, NULL);
		CU_ASSERT(int_of(c, "seq") > json_integer_value(json_array_get(first, 1)));
		CU_ASSERT_EQUAL(int_of(change, "retry_of"),
				json_integer_value(json_array_get(first, i)));
		json_decref(change);
	}

	/* accepted now; a second export y was added meanwhile */
	yrecord = strdup(w.record);
	CU_ASSERT_FATAL(yrecord && strlen(yrecord) > 7);
	strcpy(strrchr(yrecord, '/') + 1, "y.jsonl");
	CU_ASSERT_FATAL(asprintf(&keys,
				 "    backfill: false\n  - name: y\n    plugin: export_script\n"
				 "    record: %s\n    backfill: false\n",
				 yrecord) > 0);
	fixed = config_like(&w, keys);
	retry_and_restart(&w, fixed, 2);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c) {
		size_t j;
		json_t *d;

		if (!json_object_get(c, "retry_of"))
			continue;
		n_retried++;
		CU_ASSERT_STRING_EQUAL(str_of(c, "custom_id"), "bad");
		CU_ASSERT_PTR_NOT_NULL(json_object_get(c, "profile"));
		/* the one it replaces, the same kind; an event as it was */
		json_array_foreach(second, j, d) {
			json_t *old;
			if (int_of(d, "seq") != int_of(c, "retry_of"))
				continue;
			old = json_loads(str_of(d, "change"), 0, NULL);
			CU_ASSERT_STRING_EQUAL(str_of(c, "kind"), str_of(old, "kind"));
			CU_ASSERT(int_of(c, "seq") > int_of(d, "seq"));
			if (strcmp(str_of(c, "kind"), "event") == 0)
				CU_ASSERT(json_equal(json_object_get(c, "event"),
						     json_object_get(old, "event")));
			json_decref(old);
			break;
		}
		CU_ASSERT(j < json_array_size(second)); /* found */
	}
	CU_ASSERT_EQUAL(n_retried, 2);
	c = dead_letters(&w);
	CU_ASSERT_EQUAL(json_array_size(c), 0);
	json_decref(c);
	/* y takes the changes after it joined, never x's retried ones */
	apply(&w,
	      "{\"type\":\"identify\",\"message_id\":\"z1\","
	      "\"timestamp\":\"2025-03-02T10:00:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"zed\"}}\n");
	export_notify(w.ex);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	ygot = recorded_at(yrecord, NULL);
	CU_ASSERT(json_array_size(ygot) > 0);
	json_array_foreach(ygot, i, c)
		CU_ASSERT_PTR_NULL(json_object_get(c, "retry_of"));

	export_stop(w.ex);
	w.ex = NULL;
	config_free(fixed);
	free(keys);
	free(yrecord);
	json_decref(ygot);
	json_decref(got);
	json_decref(first);
	json_decref(second);
	world_close(&w);
}

/* A backfill asked for while it cannot progress says why in the status:
 * the export is off, or its kinds leave out profile_updated; and nothing
 * when it can (no exporter runs: the status is read from the store). */
static void test_a_waiting_backfill_says_why(void)
{
	static const struct {
		const char *keys, *waiting;
	} cases[] = {
		{"    enabled: false\n", "the export is off (enabled: false)"},
		{"    kinds: [event]\n", "its kinds leave out profile_updated"},
		{"", NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct world w;
		const char *waiting;
		json_t *st, *b;

		world_open(&w, cases[i].keys);
		CU_ASSERT_EQUAL_FATAL(export_backfill_request(w.th->reader, "x"), 0);
		st = status_of_x(&w);
		b = json_object_get(st, "backfill");
		CU_ASSERT_STRING_EQUAL(str_of(b, "state"), "running");
		waiting = json_string_value(json_object_get(b, "waiting"));
		if (cases[i].waiting) {
			CU_ASSERT_PTR_NOT_NULL(waiting ? strstr(waiting, cases[i].waiting) : NULL);
		} else {
			CU_ASSERT(json_is_null(json_object_get(b, "waiting")));
		}
		json_decref(st);
		world_close(&w);
	}
}

/* A backfill asked for of a disabled export says why it waits: it showed
 * "running" with no reason, as if it went on.  Refused credentials (saved:
 * the running hub's status and the store's, which `profilehub exports`
 * reads, agree) and a plugin that could not start (the running hub's
 * alone: not saved). */
static void test_a_backfill_of_a_disabled_export_says_why(void)
{
	static const struct {
		const char *keys, *waiting, *saved;
	} cases[] = {
		{"    fail: auth\n",
		 "the export is disabled (scripted auth failure): the backfill goes on once its "
		 "configuration changes",
		 "the export is disabled (scripted auth failure)"},
		{"    fail: create\n",
		 "scripted create failure): the backfill goes on once the hub restarts and its "
		 "plugin can start",
		 NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct world w;
		const char *waiting;
		json_t *st;

		world_open(&w, cases[i].keys);
		apply(&w, people);
		world_start(&w);
		CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
		CU_ASSERT_EQUAL_FATAL(export_backfill_request(w.th->reader, "x"), 0);
		st = status_of_x(&w);
		CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
		waiting = json_string_value(
			json_object_get(json_object_get(st, "backfill"), "waiting"));
		CU_ASSERT_PTR_NOT_NULL(waiting ? strstr(waiting, cases[i].waiting) : NULL);
		json_decref(st);
		export_stop(w.ex);
		w.ex = NULL;
		st = status_of_x(&w);
		waiting = json_string_value(
			json_object_get(json_object_get(st, "backfill"), "waiting"));
		if (cases[i].saved) {
			CU_ASSERT_PTR_NOT_NULL(waiting ? strstr(waiting, cases[i].saved) : NULL);
		} else {
			CU_ASSERT_PTR_NULL(waiting);
		}
		json_decref(st);
		world_close(&w);
	}
}

/* A backfill of an export that delivers writes its next page behind the
 * changes still to deliver once its last page is delivered: it waited for
 * an empty feed, so under steady traffic it never started.  Here the feed
 * cannot empty (the plugin holds a change at its gate) after the export
 * delivered one: the page is written all the same. */
static void test_a_backfill_does_not_wait_for_an_empty_feed(void)
{
	struct world w;
	char *keys, *gate, *blocked;
	json_t *before, *during;

	gate = testlib_mkdtemp();
	CU_ASSERT_FATAL(asprintf(&blocked, "%s/go.blocked", gate) > 0);
	CU_ASSERT_FATAL(asprintf(&keys, "    batch_size: 1\n    bad_custom_id: bad\n"
				 "    gate: %s/go\n", gate) > 0);
	world_open(&w, keys);
	apply(&w, people); /* ann's changes first, then bad's */
	before = outbox_seqs(&w);
	CU_ASSERT_EQUAL_FATAL(export_backfill_request(w.th->reader, "x"), 0);
	world_start(&w);
	CU_ASSERT_FATAL(file_appears(blocked)); /* held at bad's change */
	during = outbox_seqs(&w);
	CU_ASSERT(json_array_size(during) > json_array_size(before)); /* the page is there */
	gate_open(blocked);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	json_decref(before);
	json_decref(during);
	world_close(&w);
	testlib_rmtree(gate);
	free(gate);
	free(blocked);
	free(keys);
}

/* A new export that stops before its first backfill page (refused
 * credentials on its first batch; a crash or a lease taken over are the
 * same) still gets its backfill once it runs again: the decision is saved
 * before its first cursor or batch plan, not kept in memory. */
static void test_a_new_export_stopped_before_its_backfill_still_gets_it(void)
{
	struct world w;
	struct hub_config *fixed;
	json_t *got, *ids, *seqs, *st;
	char err[512];

	world_open(&w, "    backfill: true\n    fail: auth\n");
	apply(&w, people);
	seqs = outbox_seqs(&w);
	ids = live_ids(&w);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "disabled");
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(st, "backfill"), "state"), "running");
	json_decref(st);
	export_stop(w.ex);
	w.ex = NULL;

	fixed = config_like(&w, "    backfill: true\n");
	CU_ASSERT_EQUAL_FATAL(export_start(&w.ex, fixed, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	check_backfill(got, json_array_size(seqs), ids, 0);
	json_decref(got);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(st, "backfill"), "state"), "done");
	json_decref(st);

	export_stop(w.ex);
	w.ex = NULL;
	config_free(fixed);
	json_decref(seqs);
	json_decref(ids);
	world_close(&w);
}

/* A backfill change whose profile is gone by its delivery (merged away
 * here; erased the same, or by an erasure that commits while the page is
 * written, on PostgreSQL) is not sent: there is no profile to send, and a
 * profile_updated must not follow its profile's merge or erasure.  The
 * page is written straight to the store, then the profile merges. */
static void test_a_backfill_change_of_a_profile_gone_since_is_not_sent(void)
{
	struct world w;
	struct store *s;
	struct export_backfill b;
	json_t *before, *ids, *got, *c;
	const char *gone = NULL;
	size_t i, n_backfill = 0;

	world_open(&w, NULL);
	s = w.th->reader;
	apply(&w, people);
	before = live_ids(&w);
	apply(&w,
	      "{\"type\":\"track\",\"message_id\":\"g1\","
	      "\"timestamp\":\"2025-03-03T10:00:00.000Z\","
	      "\"identifiers\":{\"installation_id\":\"I9\"},\"event\":{\"name\":\"view\"}}\n");
	ids = live_ids(&w);
	CU_ASSERT_EQUAL_FATAL(json_array_size(ids), json_array_size(before) + 1);
	json_array_foreach(ids, i, c)
		if (!gone && (i >= json_array_size(before) ||
			      !json_equal(c, json_array_get(before, i))))
			gone = json_string_value(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(gone);
	export_backfill_start(&b, time_now_ms());
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL_FATAL(export_backfill_write_page(s, "x", &b, time_now_ms()),
			      (int)json_array_size(ids));
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	/* I9 logs in as Ann: its profile merges into hers */
	apply(&w,
	      "{\"type\":\"identify\",\"message_id\":\"g2\","
	      "\"timestamp\":\"2025-03-03T10:01:00.000Z\","
	      "\"identifiers\":{\"custom_id\":\"ann\",\"installation_id\":\"I9\"}}\n");
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c) {
		if (!json_is_true(json_object_get(c, "backfill")))
			continue;
		n_backfill++;
		CU_ASSERT_STRING_NOT_EQUAL(str_of(c, "profile_id"), gone);
		CU_ASSERT(json_is_object(json_object_get(c, "profile")));
	}
	CU_ASSERT_EQUAL(n_backfill, json_array_size(before));
	json_decref(got);
	json_decref(ids);
	json_decref(before);
	world_close(&w);
}

/* An export that takes no profile_updated changes gets no backfill. */
static void test_kinds_without_profile_updated_mean_no_backfill(void)
{
	struct world w;
	json_t *got, *c, *st;
	size_t i;

	world_open(&w, "    backfill: true\n    kinds: [event]\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	CU_ASSERT_EQUAL(json_array_size(got), 5);
	json_array_foreach(got, i, c)
		CU_ASSERT_STRING_EQUAL(str_of(c, "kind"), "event");
	json_decref(got);
	st = status_of_x(&w);
	CU_ASSERT(json_is_null(json_object_get(st, "backfill")));
	json_decref(st);
	world_close(&w);
}

static void test_a_config_error_stops_the_start_with_its_position(void)
{
	struct world w;
	struct hub_config *cfg;
	char err[512] = "", where[32];

	world_open(&w, NULL);
	cfg = config_like(&w, "    kinds: [profile_updated, sneezed]\n");
	CU_ASSERT_EQUAL(export_start(&w.ex, cfg, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(w.ex);
	snprintf(where, sizeof(where), "again.yaml:%d:", config_like_keys_line(&w));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, where));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "exports[0].kinds[1]: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown change kind (profile_updated, event,"));
	config_free(cfg);
	/* another case: the kind suggested */
	cfg = config_like(&w, "    kinds: [Event]\n");
	CU_ASSERT_EQUAL(export_start(&w.ex, cfg, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "exports[0].kinds[0]: unknown change kind (did you mean"
					   " \"event\"?; profile_updated, event, merged, erased)"));
	config_free(cfg);
	cfg = config_like(&w, "    batch_size: 0\n");
	CU_ASSERT_EQUAL(export_start(&w.ex, cfg, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "batch_size"));
	config_free(cfg);
	world_close(&w);
}

/* Every kind `kinds` lists is sent, not only its last; a kind it leaves
 * out is not. */
static void test_export_kinds_listed_are_each_sent(void)
{
	struct world w;
	json_t *got, *c;
	size_t i, n_event = 0, n_updated = 0, n_other = 0;

	world_open(&w, "    kinds: [event, profile_updated]\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, NULL);
	json_array_foreach(got, i, c) {
		const char *kind = str_of(c, "kind");
		if (strcmp(kind, "event") == 0)
			n_event++;
		else if (strcmp(kind, "profile_updated") == 0)
			n_updated++;
		else
			n_other++;
	}
	CU_ASSERT(n_event > 0);
	CU_ASSERT(n_updated > 0);
	CU_ASSERT_EQUAL(n_other, 0); /* people merges I5 into Ann: no "merged" */
	json_decref(got);
	world_close(&w);
}

/* The exporter's keys and their bounds, as `profilehub check`
 * (export_check_config) and the start read them; the start also checks
 * the plugin's own keys. */
static void test_export_config_keys_are_checked_at_their_bounds(void)
{
	static const struct {
		const char *keys;
		int check_rc, start_rc;
		const char *msg; /* in err when refused */
	} rows[] = {
		{"    batch_size: 10000\n", 0, 0, ""},
		{"    batch_size: 10001\n", -1, -1, "exports[0].batch_size: expected 1 to 10000"},
		{"    backfill: maybe\n", -1, -1, "exports[0].backfill: expected"},
		{"    kinds: [merged, erased]\n", 0, 0, ""},
		/* an empty list is no filter (every kind, every attribute):
		 * refused, so one emptied by mistake sends nothing unmeant */
		{"    kinds: []\n", -1, -1,
		 "exports[0].kinds: lists no kind, which would deliver every one: leave the key"
		 " out"},
		{"    attributes: []\n", -1, -1,
		 "exports[0].attributes: lists no attribute, which would send every one"},
		{"    attributes: [plan]\n", 0, 0, ""},
		/* a name no profile holds (IDENTITY.md section 4) kept
		 * nothing: [""] sent profiles without any attribute */
		{"    attributes: [plan, \"\"]\n", -1, -1,
		 ":24: exports[0].attributes[1]: empty, which names no attribute (custom"
		 " attributes match [a-z0-9_]{1,30}, native ones are $email_address,"},
		{"    attributes: [Plan]\n", -1, -1,
		 ":18: exports[0].attributes[0]: no attribute of a profile is named so (did you"
		 " mean \"plan\"?; custom"},
		{"    attributes: [$emial_address]\n", -1, -1,
		 "exports[0].attributes[0]: no attribute of a profile is named so (did you mean"
		 " \"$email_address\"?; custom"},
		{"    attributes: [abcdefghijklmnopqrstuvwxyz01234]\n", -1, -1,
		 "exports[0].attributes[0]: no attribute of a profile is named so (custom"},
		{"    attributes: [$last_name, abcdefghijklmnopqrstuvwxyz0123]\n", 0, 0, ""},
		{"    colour: red\n", 0, -1, "colour"},
	};
	struct world w;

	world_open(&w, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct hub_config *cfg = config_like(&w, rows[i].keys);
		struct exporter *ex = NULL;
		char err[512] = "";
		int rc = export_check_config(&cfg->exports[0], err, sizeof(err));

		CU_ASSERT_EQUAL(rc, rows[i].check_rc);
		if (rc)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i].msg));
		err[0] = '\0';
		rc = export_start(&ex, cfg, err, sizeof(err));
		if (rc != rows[i].start_rc || !strstr(err, rows[i].msg))
			fprintf(stderr, "\n  row %zu: start %d: %s", i, rc, err);
		CU_ASSERT_EQUAL(rc, rows[i].start_rc);
		if (rc)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i].msg));
		export_stop(ex);
		config_free(cfg);
	}
	world_close(&w);
}

/* Without `batch_size`, a batch is 100 changes. */
static void test_export_batch_size_is_100_by_default(void)
{
	struct world w;
	json_t *seqs, *calls, *got;
	char *lines = NULL, want[64];
	size_t size = 0;
	FILE *f = open_memstream(&lines, &size);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 0; i < 120; i++)
		fprintf(f,
			"{\"type\":\"identify\",\"message_id\":\"m%d\",\"timestamp\":"
			"\"2025-03-01T10:00:00.000Z\",\"identifiers\":{\"custom_id\":\"u%d\"},"
			"\"attributes\":{\"plan\":\"gold\"}}\n",
			i, i);
	fclose(f);
	world_open(&w, NULL);
	apply(&w, lines);
	seqs = outbox_seqs(&w);
	CU_ASSERT_FATAL(json_array_size(seqs) > 100);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	got = recorded(&w, &calls);
	CU_ASSERT_EQUAL(json_array_size(got), json_array_size(seqs));
	snprintf(want, sizeof(want), "%lld-%lld ",
		 (long long)json_integer_value(json_array_get(seqs, 0)),
		 (long long)json_integer_value(json_array_get(seqs, 99)));
	CU_ASSERT_EQUAL(strncmp(json_string_value(json_array_get(calls, 0)), want, strlen(want)),
			0);
	json_decref(calls);
	json_decref(got);
	json_decref(seqs);
	world_close(&w);
	free(lines);
}

/* A stop ends a worker's wait before a retry at once, not when the wait
 * (60 s, asked for by the plugin) is over. */
static void test_export_stop_ends_a_wait_before_a_retry_at_once(void)
{
	struct world w;
	json_t *st;
	int64_t t0;

	world_open(&w, "    retries: 1\n    retry_after: 60s\n");
	apply(&w, people);
	world_start(&w);
	st = status_of_x_once(&w, "retrying");
	CU_ASSERT_STRING_EQUAL(str_of(st, "state"), "retrying");
	json_decref(st);
	t0 = time_mono_ms();
	export_stop(w.ex);
	w.ex = NULL;
	CU_ASSERT(time_mono_ms() - t0 < 30000);
	world_close(&w);
}

static void *stop_main(void *ex)
{
	export_stop(ex);
	return NULL;
}

/* Stops w's exporter (gated_world_open: its plugin holds the first batch
 * at the gate) with the stop's note every 1 s, and opens the gate once the
 * stop has said it waits: the plugin answers while the hub stops.  The log
 * of it (free it), or NULL; *waited_ms: when the note came (-1: never). */
static char *stop_held_at_the_gate(struct world *w, const char *blocked, int64_t *waited_ms)
{
	struct testlib_capture cap;
	pthread_t t;
	int64_t t0;

	*waited_ms = -1;
	CU_ASSERT_EQUAL(export_set_stop_note(1), 10);
	testlib_capture_begin(&cap);
	t0 = time_mono_ms();
	CU_ASSERT_FATAL(pthread_create(&t, NULL, stop_main, w->ex) == 0);
	if (file_holds(cap.path, "still waiting"))
		*waited_ms = time_mono_ms() - t0;
	gate_open(blocked);
	pthread_join(t, NULL);
	w->ex = NULL;
	export_set_stop_note(0);
	return testlib_capture_end(&cap);
}

/* A stop held up by a plugin that does not return from export_batch()
 * says so every 10 s (not sooner), naming the export, its plugin and
 * what the plugin is doing.  Run with the note every 1 s (the same
 * join, its interval shortened), the 10 s asserted as the default. */
static void test_export_stop_held_by_a_plugin_says_so_after_10_s(void)
{
	struct world w;
	char *dir, *blocked, *logged;
	int64_t waited_ms;

	gated_world_open(&w, "    retries: 1\n", &dir, &blocked);
	logged = stop_held_at_the_gate(&w, blocked, &waited_ms);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT(waited_ms >= 900);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "export x"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "stopping: still waiting after 1 s for plugin "
					      "export_script (delivering): its export_batch() "
					      "has not returned"));
	free(logged);
	gated_world_close(&w, dir, blocked);
}

/* A batch the stop interrupted (its plugin answers "retry" once the stop
 * began, as a webhook whose transfer the stop cut does) is no failed
 * attempt: nothing is logged as failing, no error is saved for `profilehub
 * exports` (it showed one, "retrying", after every such stop), the cursor
 * stays and the next run sends the batch again. */
static void test_a_batch_the_stop_interrupts_is_no_failed_attempt(void)
{
	struct export_saved saved;
	struct world w;
	char *dir, *blocked, *logged;
	int64_t waited_ms, cursor = -1;

	gated_world_open(&w, "    retries: 1\n", &dir, &blocked);
	logged = stop_held_at_the_gate(&w, blocked, &waited_ms);
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	CU_ASSERT(waited_ms >= 0); /* the plugin answered after the stop began */
	CU_ASSERT_PTR_NULL(strstr(logged, "delivery failing"));
	CU_ASSERT(export_saved_load(w.th->reader, "x", &saved) >= 0);
	CU_ASSERT_STRING_EQUAL(saved.error, "");
	CU_ASSERT_EQUAL(export_cursor_load(w.th->reader, "x", &cursor), 0);
	CU_ASSERT_EQUAL(cursor, 0);
	free(logged);
	gated_world_close(&w, dir, blocked);
}

/* Exports all disabled in the configuration: the start loads no plugin
 * (the plugin directory may be gone) and runs nothing. */
static void test_export_start_with_every_export_disabled_loads_no_plugin(void)
{
	struct hub_config *cfg;
	struct exporter *ex = NULL;
	struct world w;
	char *yaml, err[512] = "";

	world_open(&w, NULL);
	CU_ASSERT_FATAL(asprintf(&yaml,
				 "%splugin_dir: /nonexistent/plugins\n"
				 "exports:\n"
				 "  - name: x\n"
				 "    plugin: export_script\n"
				 "    record: %s\n"
				 "    enabled: false\n",
				 w.th->store_yaml, w.record) > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("off.yaml", yaml, &cfg, err, sizeof(err)), 0);
	free(yaml);
	CU_ASSERT_EQUAL_FATAL(export_start(&ex, cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(export_count(ex), 1);
	CU_ASSERT_EQUAL(export_wait_idle(ex, WAIT_MS), 0);
	export_stop(ex);
	config_free(cfg);
	world_close(&w);
}

/* Each allocation of a start failing in turn: the start fails saying why
 * (and leaves nothing behind: the sanitizers' leak check), or it runs. */
static void test_export_start_out_of_memory_fails_saying_why(void)
{
	struct world w;
	long total;

	world_open(&w, "    attributes: [plan]\n");
	alloc_fail_after(0); /* counts from here */
	world_start(&w);
	total = alloc_count();
	export_stop(w.ex);
	w.ex = NULL;
	for (long n = 1; n <= total; n++) {
		struct exporter *ex = NULL;
		char err[512] = "";
		int rc;

		alloc_fail_only(n);
		rc = export_start(&ex, w.th->cfg, err, sizeof(err));
		alloc_fail_only(0);
		if (rc == 0) {
			export_stop(ex);
			continue;
		}
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_PTR_NULL(ex);
		if (!err[0])
			fprintf(stderr, "\n  allocation %ld of %ld failing: no message", n, total);
		CU_ASSERT(err[0] != '\0');
	}
	world_close(&w);
}

/* export_wait_idle() gives up after its timeout (-1) while a batch is in
 * the plugin's hands, and returns 0 once it is delivered. */
static void test_export_wait_idle_times_out_while_a_batch_is_held(void)
{
	struct world w;
	char *dir, *blocked;

	gated_world_open(&w, "    retries: 1\n", &dir, &blocked);
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, 200), -1);
	gate_open(blocked);
	CU_ASSERT_EQUAL(export_wait_idle(w.ex, WAIT_MS), 0);
	gated_world_close(&w, dir, blocked);
}

/* A scrape that comes while another's lag read is under way gets the lag
 * last read, with its age: the time since that read. */
static void test_export_lag_kept_says_how_old_it_is(void)
{
	struct scrape first = {0};
	struct export_lag lags[1];
	struct timespec pause = {0, 2 * 1000 * 1000};
	struct world w;
	pthread_t t;
	int64_t read_ms, age_ms = -1;

	world_open(&w, NULL);
	world_start(&w);
	export_set_lag_hook(w.ex, stall_hook, NULL);
	CU_ASSERT_EQUAL_FATAL(export_lag_provider(w.ex, lags, 1, &age_ms), 1);
	CU_ASSERT_EQUAL(age_ms, 0); /* a read of its own */
	read_ms = time_mono_ms();
	while (time_mono_ms() < read_ms + 20) /* the kept lag ages */
		nanosleep(&pause, NULL);
	stall.is_armed = 1;
	stall.is_stalled = stall.is_released = 0;
	first.w = &w;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, scrape_main, &first), 0);
	CU_ASSERT(stall_wait_for(&stall.is_stalled, WAIT_MS));
	CU_ASSERT_EQUAL(export_lag_provider(w.ex, lags, 1, &age_ms), 1);
	CU_ASSERT(age_ms >= 20);
	CU_ASSERT_STRING_EQUAL(lags[0].name, "x");
	stall_set(&stall.is_released);
	pthread_join(t, NULL);
	hub_free(first.text);
	world_close(&w);
}

/* GET /v1/exports (export_status_provider) shows the first 100 dead
 * letters of an export, asked once or again. */
static void test_export_status_provider_shows_100_dead_letters(void)
{
	struct store *s;
	struct world w;

	world_open(&w, NULL);
	world_start(&w);
	s = w.th->reader;
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	for (int64_t seq = 1; seq <= 101; seq++) {
		struct store_dead_letter d = {.export_name = "x", .seq = seq, .at_ms = 1,
					      .reason = "HTTP 400", .profile_id = "p_1",
					      .change_json = "{}"};
		CU_ASSERT_EQUAL(s->ops->dead_letter_put(s, &d), 0);
	}
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
	for (int i = 0; i < 2; i++) {
		json_t *st = export_status_provider(w.ex);
		json_t *x = json_array_get(json_object_get(st, "exports"), 0);
		CU_ASSERT_EQUAL(json_array_size(json_object_get(x, "dead_letters")), 100);
		json_decref(st);
	}
	world_close(&w);
}

/* POST /v1/exports/<name>/backfill (export_backfill_provider): refused (1)
 * for a name no export has, a prefix of one too, and for an export whose
 * kinds leave out profile_updated; asked for (0) otherwise, and run. */
static void test_export_backfill_provider_asks_only_what_it_can(void)
{
	static const struct {
		const char *name;
		int rc, why;
	} rows[] = {
		{"nope", 1, EXPORT_BACKFILL_NO_EXPORT},
		{"e", 1, EXPORT_BACKFILL_NO_EXPORT},
		{"ev", 1, EXPORT_BACKFILL_NO_UPDATES},
		{"x", 0, EXPORT_BACKFILL_OK},
	};
	struct world w;
	json_t *st;

	world_open(&w, "  - name: ev\n    plugin: export_script\n    record: /nonexistent/r\n"
		       "    kinds: [event]\n    enabled: false\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT(json_is_null(json_object_get(st, "backfill"))); /* backfill: false */
	json_decref(st);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char err[256] = "";
		int why = -1, rc = export_backfill_provider(w.ex, rows[i].name, &why, err,
							    sizeof(err));
		CU_ASSERT_EQUAL(rc, rows[i].rc);
		CU_ASSERT_EQUAL(why, rows[i].why);
		CU_ASSERT_EQUAL(err[0] != '\0', rc != 0);
	}
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	st = status_of_x(&w);
	CU_ASSERT_STRING_EQUAL(str_of(json_object_get(st, "backfill"), "state"), "done");
	json_decref(st);
	world_close(&w);
}

/* POST /v1/exports/<name>/dead_letters/retry (export_retry_provider):
 * refused (1) for a name no export has; otherwise each dead letter is
 * sent again. */
static void test_export_retry_provider_sends_the_dead_letters_again(void)
{
	struct world w;
	json_t *dead;
	int64_t n_retried = -1;
	char err[256] = "";
	int why = -1;

	world_open(&w, "    bad_custom_id: bad\n");
	apply(&w, people);
	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(export_wait_idle(w.ex, WAIT_MS), 0);
	dead = dead_letters(&w);
	CU_ASSERT_FATAL(json_array_size(dead) > 0);
	CU_ASSERT_EQUAL(export_retry_provider(w.ex, "nope", &why, &n_retried, err, sizeof(err)),
			1);
	CU_ASSERT_EQUAL(why, EXPORT_BACKFILL_NO_EXPORT);
	CU_ASSERT(err[0] != '\0');
	CU_ASSERT_EQUAL(export_retry_provider(w.ex, "x", &why, &n_retried, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(why, EXPORT_BACKFILL_OK);
	CU_ASSERT_EQUAL(n_retried, (int64_t)json_array_size(dead));
	json_decref(dead);
	world_close(&w);
}

static int suite_init(void)
{
	export_set_backoff(1, 10);
	export_set_enable_poll(SUITE_ENABLE_POLL_MS);
	return 0;
}

static int suite_clean(void)
{
	export_set_enable_poll(0);
	export_set_stop_note(0);
	return 0;
}

TEST_SUITE(export, suite_init, suite_clean,
	   TEST(test_file_holds_sees_a_line_past_the_first_8_kib),
	   TEST(test_backoff_is_full_jitter_under_a_growing_cap),
	   TEST(test_backoff_honours_retry_after_up_to_one_hour),
	   TEST(test_retry_after_is_read_from_the_start_of_the_message),
	   TEST(test_a_clock_step_back_does_not_hold_pruning_back),
	   TEST(test_outbox_last_seq_finds_the_end_by_probing),
	   TEST(test_an_addressed_change_reaches_only_its_named_export),
	   TEST(test_a_change_after_the_page_gets_a_new_document),
	   TEST(test_a_retried_change_of_a_gone_profile_is_skipped),
	   TEST(test_history_and_a_damaged_backfill_state),
	   TEST(test_a_backfill_page_of_one_profile),
	   TEST(test_every_change_arrives_in_seq_order_with_its_profile),
	   TEST(test_metrics_show_each_export_s_lag),
	   TEST(test_export_status_of_a_fresh_export_and_of_damaged_state),
	   TEST(test_export_fingerprint_is_a_slow_hash_of_the_config),
	   TEST(test_a_disable_saved_by_an_older_version_holds_and_is_rehashed),
	   TEST(test_a_rehash_beside_an_enable_leaves_it_enabled),
	   TEST(test_metrics_lag_unread_is_logged_once_not_per_scrape),
	   TEST(test_exports_status_unread_is_logged_once_not_per_request),
	   TEST(test_exports_status_reads_again_after_the_server_ended_its_connection),
	   TEST(test_a_stalled_lag_read_holds_up_no_scrape_nor_the_status),
	   TEST(test_a_moved_installation_updates_the_profile_it_left),
	   TEST(test_a_track_that_sets_profile_data_updates_the_profile),
	   TEST(test_a_consent_record_that_changes_nothing_is_no_change),
	   TEST(test_a_first_unset_consent_is_no_change),
	   TEST(test_push_without_an_installation_is_no_change),
	   TEST(test_an_event_change_carries_the_event_as_recorded),
	   TEST(test_no_export_known_anywhere_means_no_feed),
	   TEST(test_a_restart_goes_on_from_the_saved_cursor),
	   TEST(test_delivered_changes_leave_the_feed_once_every_export_passed_them),
	   TEST(test_filters_keep_listed_kinds_and_attributes_but_every_erasure),
	   TEST(test_an_erased_change_carries_no_personal_data),
	   TEST(test_an_erase_by_profile_id_gives_an_erased_change),
	   TEST(test_an_erasure_after_delivery_still_reaches_the_export),
	   TEST(test_a_refused_batch_is_narrowed_to_the_bad_changes),
	   TEST(test_a_refused_batch_of_two_is_narrowed_too),
	   TEST(test_a_refused_record_writes_no_change),
	   TEST(test_a_precise_refusal_keeps_the_changes_before_it),
	   TEST(test_a_reason_that_is_not_utf8_is_dead_lettered_as_utf8),
	   TEST(test_a_stored_reason_that_is_not_utf8_reads_as_utf8),
	   TEST(test_a_repeated_line_counts_the_ones_it_stands_for),
	   TEST(test_dead_letters_in_a_row_are_not_logged_one_by_one),
	   TEST(test_refused_batches_in_a_row_are_not_logged_one_by_one),
	   TEST(test_bad_data_with_every_change_accepted_is_a_delivery),
	   TEST(test_retries_back_off_then_deliver_everything),
	   TEST(test_retries_are_logged_as_a_state_that_ends),
	   TEST(test_a_part_delivered_then_a_retry_is_one_failing_state),
	   TEST(test_a_failure_with_nothing_to_deliver_ends_once_caught_up),
	   TEST(test_a_retry_shows_when_the_next_attempt_is),
	   TEST(test_metrics_show_a_failing_export_until_it_delivers),
	   TEST(test_metrics_a_disabled_export_is_not_failing),
	   TEST(test_metrics_an_export_held_by_another_process_is_not_failing),
	   TEST(test_metrics_an_export_found_disabled_by_another_process_is_not_failing),
	   TEST(test_an_export_held_by_another_process_shows_no_next_attempt),
	   TEST(test_an_idle_export_shows_no_next_attempt),
	   TEST(test_a_cursor_fenced_off_by_a_lost_lease_is_no_failed_attempt),
	   TEST(test_a_new_export_without_backfill_starts_at_the_feeds_end),
	   TEST(test_an_export_known_before_keeps_its_changes),
	   TEST(test_a_call_short_of_its_last_change_sends_that_change_again),
	   TEST(test_an_answer_past_the_batch_delivers_the_batch_again),
	   TEST(test_a_stopped_answer_without_a_stop_is_a_retry),
	   TEST(test_an_ok_with_no_change_done_says_n_done_was_not_set),
	   TEST(test_a_batch_sent_again_keeps_its_range_when_changes_left_it),
	   TEST(test_a_batch_sent_again_keeps_its_range_past_filtered_rows),
	   TEST(test_a_failed_create_disables_until_a_restart),
	   TEST(test_refused_credentials_disable_until_the_config_changes),
	   TEST(test_a_disable_shows_where_a_variable_of_the_export_is_unset),
	   TEST(test_unterminated_plugin_message_reads_cut),
	   TEST(test_a_smaller_batch_size_resumes_a_larger_plan),
	   TEST(test_a_smaller_batch_size_plans_again_before_sending),
	   TEST(test_a_new_export_gets_every_live_profile_once),
	   TEST(test_backfill_unset_is_on_as_described),
	   TEST(test_a_backfill_goes_to_its_export_alone),
	   TEST(test_an_export_that_ran_is_backfilled_only_when_asked),
	   TEST(test_a_backfill_page_fenced_off_by_a_lost_lease_says_so),
	   TEST(test_a_new_export_stopped_before_its_backfill_still_gets_it),
	   TEST(test_a_backfill_does_not_wait_for_an_empty_feed),
	   TEST(test_a_waiting_backfill_says_why),
	   TEST(test_a_backfill_of_a_disabled_export_says_why),
	   TEST(test_a_disabled_export_is_enabled_again_unchanged),
	   TEST(test_a_waiting_export_goes_on_when_the_disable_is_another_config_s),
	   TEST(test_a_disable_the_store_refused_to_save_is_kept),
	   TEST(test_failing_cursor_saves_are_logged_once_and_their_end),
	   TEST(test_refused_dead_letters_are_logged_once_as_such),
	   TEST(test_a_dead_letter_erased_while_refused_is_not_said_saved_again),
	   TEST(test_a_refused_plan_with_nothing_sent_says_nothing_is_sent_again),
	   TEST(test_a_refused_cursor_after_a_delivery_says_it_may_be_sent_again),
	   TEST(test_a_refused_save_with_nothing_sent_says_nothing_is_sent_again),
	   TEST(test_a_second_outage_of_cursor_saves_says_again_what_may_be_sent_again),
	   TEST(test_an_unsaved_disable_is_dropped_when_another_process_delivers),
	   TEST(test_an_unsaved_disable_is_dropped_after_another_process_saved_state),
	   TEST(test_the_apis_enable_drops_a_disable_the_store_refused_to_save),
	   TEST(test_enabling_an_export_off_in_the_config_says_so),
	   TEST(test_enabling_an_export_whose_plugin_could_not_start_says_restart),
	   TEST(test_a_create_error_that_is_not_utf8_is_kept_as_utf8),
	   TEST(test_metrics_show_deliveries_dead_letters_and_disables),
	   TEST(test_dead_letters_are_sent_again),
	   TEST(test_a_change_erased_while_sent_is_not_dead_lettered),
	   TEST(test_an_export_of_another_configuration_holds_the_feed),
	   TEST(test_a_process_without_exports_feeds_the_exports_the_store_knows),
	   TEST(test_a_registration_waits_for_a_group_that_found_no_export),
	   TEST(test_a_process_not_holding_the_lease_shows_the_holders_cursor),
	   TEST(test_metrics_and_log_say_which_process_holds_the_lease),
	   TEST(test_the_lag_is_the_distance_in_seqs_to_the_feeds_end),
	   TEST(test_forget_waits_for_the_process_running_the_export),
	   TEST(test_forget_deletes_every_trace_of_the_export),
	   TEST(test_a_retried_change_of_a_merged_profile_goes_to_the_survivor),
	   TEST(test_a_retry_pages_past_dead_letters_it_cannot_send),
	   TEST(test_a_retried_change_survives_a_later_merge),
	   TEST(test_decimals_are_exported_as_written),
	   TEST(test_a_dead_letter_of_an_erased_profile_is_not_sent_again),
	   TEST(test_an_erase_deletes_her_dead_letters),
	   TEST(test_an_erase_beside_a_retry_of_her_dead_letter_leaves_nothing),
	   TEST(test_a_retried_erasure_or_merge_says_what_it_did),
	   TEST(test_a_failed_load_after_the_lease_take_is_retried),
	   TEST(test_a_backfill_change_of_a_profile_gone_since_is_not_sent),
	   TEST(test_kinds_without_profile_updated_mean_no_backfill),
	   TEST(test_a_config_error_stops_the_start_with_its_position),
	   TEST(test_export_kinds_listed_are_each_sent),
	   TEST(test_export_config_keys_are_checked_at_their_bounds),
	   TEST(test_export_batch_size_is_100_by_default),
	   TEST(test_export_stop_ends_a_wait_before_a_retry_at_once),
	   TEST(test_export_stop_held_by_a_plugin_says_so_after_10_s),
	   TEST(test_a_batch_the_stop_interrupts_is_no_failed_attempt),
	   TEST(test_export_start_with_every_export_disabled_loads_no_plugin),
	   TEST(test_export_start_out_of_memory_fails_saying_why),
	   TEST(test_export_wait_idle_times_out_while_a_batch_is_held),
	   TEST(test_export_lag_kept_says_how_old_it_is),
	   TEST(test_export_status_provider_shows_100_dead_letters),
	   TEST(test_export_backfill_provider_asks_only_what_it_can),
	   TEST(test_export_retry_provider_sends_the_dead_letters_again))
