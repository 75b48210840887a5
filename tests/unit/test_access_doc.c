/*
 * test_access_doc.c - the privacy access document written a page of
 * events at a time (hub/access_doc.c) and streamed by the API
 * (hub/api_privacy.c):
 *
 *   - the streamed text equals json_dumps() of the document built whole in
 *     memory (profile_access_build, as before), compact (the API) and
 *     indented (the CLI), for profiles of 0, 1, a page, a page + 1 and
 *     several pages of events (with timestamp ties across page ends),
 *     merged profiles and erased ones, and an identity log of several
 *     pages (hundreds of logouts and logins on one installation: a hundred
 *     merged-away sessions, each with rows of its own);
 *   - every event is in the document when the message ids after a page
 *     are longer than those of the page (the cursor the store reads from
 *     is not the one the page's events overwrite);
 *   - memory is bounded: the store is asked for the events and the
 *     identity log a page at a time (never "all"), and no step hands the
 *     sink more than a page of either;
 *   - its "recipients" name the configuration's exports (name, plugin,
 *     enabled), never where they send or a secret;
 *   - a store failure at any statement of an API access request is a 500
 *     before the document, or a stream that breaks off: not valid JSON,
 *     the request "failed", its connection released (ASan: no leak; the
 *     next request gets a clean one).
 *
 * Runs on SQLite, and on PostgreSQL with HUB_TEST_STORE=postgres.
 */
#include "testhub.h"
#include "testlib.h"

#include "../../hub/access_doc.h"
#include "../../hub/alloc.h"
#include "../../hub/api.h"
#include "../../hub/profile.h"
#include "../../hub/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE ACCESS_DOC_PAGE_EVENTS
#define PAGE_LOG ACCESS_DOC_PAGE_LOG
#define API_TOKEN "access-doc-token"
#define FLAGS_API (JSON_COMPACT | HUB_JSON_REAL)
#define FLAGS_CLI (JSON_INDENT(2) | HUB_JSON_REAL)

/* ---- the world ---------------------------------------------------------- */

/* n track events for installation inst, message ids "<inst>-<i>", three
 * per timestamp (ties, so pages end inside a tie).  One batch per 200. */
static void add_events(struct testhub *th, const char *inst, int n)
{
	struct strbuf sb;

	strbuf_init(&sb);
	for (int i = 0; i < n; i++) {
		strbuf_printf(&sb,
			      "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"%s-%04d\","
			      "\"timestamp\":\"2025-03-03T09:%02d:%02d.000Z\",\"identifiers\":"
			      "{\"installation_id\":\"%s\"},\"event\":{\"name\":\"e%d\","
			      "\"properties\":{\"i\":%d,\"r\":0.5,\"s\":\"x\\ny\"}}}\n",
			      inst, i, (i / 3) / 60 % 60, (i / 3) % 60, inst, i % 7, i);
		if ((i + 1) % 200 == 0 || i + 1 == n) {
			CU_ASSERT_FATAL(!sb.failed);
			CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, sb.data), 0);
			sb.len = 0;
		}
	}
	strbuf_free(&sb);
}

static void apply(struct testhub *th, const char *line)
{
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, line), 0);
}

/* A custom_id C<n> on installation I<n> with attributes, consent, and n
 * events; "M" merged from an anonymous installation; "E" erased. */
static struct testhub *world_start(void)
{
	static const int sizes[] = {0, 1, PAGE, PAGE + 1, 3 * PAGE + 17};
	struct testhub *th = testhub_start("api:\n  tokens: [\"" API_TOKEN "\"]\n");
	char line[1024];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char inst[32];
		snprintf(inst, sizeof(inst), "I%d", sizes[k]);
		snprintf(
			line, sizeof(line),
			"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"id-%d\","
			"\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":"
			"\"C%d\",\"installation_id\":\"%s\"},\"platform\":\"ios\",\"attributes\":"
			"{\"plan\":\"gold\",\"$email_address\":\"c%d@example.com\",\"n\":%d},"
			"\"consent\":{\"email_marketing\":\"subscribed\"}}",
			sizes[k], sizes[k], inst, sizes[k], sizes[k]);
		apply(th, line);
		add_events(th, inst, sizes[k]);
	}
	/* M: known on IM1; an anonymous IM2 with a page and more of events
	 * logs in as M: merged into M, its events moved */
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m-1\","
		  "\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"M\","
		  "\"installation_id\":\"IM1\"},\"attributes\":{\"plan\":\"free\"}}");
	add_events(th, "IM1", 40);
	add_events(th, "IM2", PAGE + 30);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m-2\","
		  "\"timestamp\":\"2025-03-05T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"M\","
		  "\"installation_id\":\"IM2\"},\"attributes\":{\"plan\":\"gold\"}}");
	/* E: erased after its events */
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"e-1\","
		  "\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"E\","
		  "\"installation_id\":\"IE\"}}");
	add_events(th, "IE", 20);
	apply(th,
	      "{\"type\":\"erase\",\"source\":\"test\",\"message_id\":\"e-2\","
	      "\"timestamp\":\"2025-03-06T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"E\"}}");
	return th;
}

/* ---- the two documents --------------------------------------------------- */

/* The document as it was built before: every profile whole in memory,
 * under head (members copied), wrapped in wrap_key when not NULL. */
static char *doc_built(struct store *s, const struct hub_config *cfg, const json_t *head,
		       const char *wrap_key, const char *by, const char *value, size_t flags)
{
	char ids[50][PROFILE_ID_SIZE];
	json_t *docs = json_array(), *inner, *out = json_deep_copy(head);
	int n;
	char *text;

	CU_ASSERT_EQUAL(s->ops->read_begin(s), 0);
	n = profile_find(s, by, value, ids, 50);
	CU_ASSERT(n >= 0);
	for (int i = 0; i < n; i++) {
		json_t *doc = NULL;
		CU_ASSERT(profile_access_build(s, ids[i], &doc) >= 0);
		if (doc)
			json_array_append_new(docs, doc);
	}
	CU_ASSERT_EQUAL(s->ops->read_end(s), 0);
	inner = json_pack("{s:s, s:o, s:o}", by, value, "recipients", access_doc_recipients(cfg),
			  "profiles", docs);
	if (wrap_key)
		json_object_set_new(out, wrap_key, inner);
	else {
		json_object_update(out, inner);
		json_decref(inner);
	}
	text = json_dumps(out, flags);
	json_decref(out);
	return text;
}

/* What the writer hands its sink: all of it, and per step. */
struct sink_rec {
	struct strbuf text;
	size_t step_start;       /* where the current step's text starts */
	size_t max_step_events;  /* the most events one step wrote */
	size_t max_step_log_rows; /* the most identity log rows one step wrote */
	int refuse_after;        /* > 0: refuse the sink's n-th call */
	size_t n_profiles;       /* access_doc_writer_profiles() at the end */
	int n_calls;
};

static int sink_record(void *ctx, const char *data, size_t len)
{
	struct sink_rec *r = ctx;
	if (r->refuse_after > 0 && ++r->n_calls >= r->refuse_after)
		return -1;
	strbuf_append(&r->text, data, len);
	return r->text.failed ? -1 : 0;
}

/* Runs a writer to its end (or failure) in one snapshot; the text is in
 * rec->text.  Returns the last step's result (0 or -1). */
static int doc_stream(struct store *s, const struct hub_config *cfg, const json_t *head,
		      const char *wrap_key, const char *by, const char *value, size_t flags,
		      struct sink_rec *rec)
{
	char ids[50][PROFILE_ID_SIZE];
	struct access_doc_writer *w;
	int n, rc;

	CU_ASSERT_EQUAL(s->ops->read_begin(s), 0);
	n = profile_find(s, by, value, ids, 50);
	CU_ASSERT(n >= 0);
	w = access_doc_writer_new(s, cfg, head, wrap_key, by, value,
				  (const char(*)[PROFILE_ID_SIZE])ids, n > 0 ? (size_t)n : 0,
				  flags, sink_record, rec);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	do {
		size_t k;
		rec->step_start = rec->text.len;
		rc = access_doc_writer_step(w);
		k = rec->text.len > rec->step_start
			    ? testlib_count_of(rec->text.data + rec->step_start, "\"message_id\"")
			    : 0;
		if (k > rec->max_step_events)
			rec->max_step_events = k;
		k = rec->text.len > rec->step_start
			    ? testlib_count_of(rec->text.data + rec->step_start, "\"action\"")
			    : 0;
		if (k > rec->max_step_log_rows)
			rec->max_step_log_rows = k;
	} while (rc > 0);
	/* failed: stays failed */
	if (rc < 0)
		CU_ASSERT_EQUAL(access_doc_writer_step(w), -1);
	rec->n_profiles = access_doc_writer_profiles(w);
	access_doc_writer_free(w);
	CU_ASSERT_EQUAL(s->ops->read_end(s), 0);
	return rc;
}

static void expect_same(struct testhub *th, const json_t *head, const char *wrap_key,
			const char *by, const char *value, size_t flags, size_t n_profiles)
{
	struct sink_rec rec = {0};
	char *built = doc_built(th->reader, th->cfg, head, wrap_key, by, value, flags);
	json_t *parsed;

	strbuf_init(&rec.text);
	CU_ASSERT_EQUAL(doc_stream(th->reader, th->cfg, head, wrap_key, by, value, flags, &rec),
			0);
	CU_ASSERT_EQUAL(rec.n_profiles, n_profiles); /* an erased one is not counted */
	CU_ASSERT_PTR_NOT_NULL_FATAL(built);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec.text.data);
	if (strcmp(built, rec.text.data) != 0) {
		size_t i = 0;
		while (built[i] && built[i] == rec.text.data[i])
			i++;
		fprintf(stderr,
			"\n  %s=%s: differ at byte %zu:\n   built    %.80s\n   streamed %.80s\n",
			by, value, i, built + (i > 20 ? i - 20 : 0),
			rec.text.data + (i > 20 ? i - 20 : 0));
		CU_FAIL("the streamed document differs from the built one");
	}
	parsed = json_loads(rec.text.data, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(parsed);
	if (wrap_key)
		CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(parsed, wrap_key),
								"profiles")), n_profiles);
	json_decref(parsed);
	CU_ASSERT(rec.max_step_events <= PAGE);
	CU_ASSERT(rec.max_step_log_rows <= PAGE_LOG);
	free(built);
	strbuf_free(&rec.text);
}

static void test_streamed_document_equals_the_built_one(void)
{
	static const char *const customs[] = {"C0", "C1", "C256", "C257", "C785", "M", "nobody"};
	struct testhub *th = world_start();
	json_t *cli_head = json_pack("{s:s}", "type", "access");
	json_t *api_head = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "pr_0123456789abcdef",
				     "type", "access", "status", "done", "created_at",
				     "2025-03-01T00:00:00.000Z", "finished_at",
				     "2025-03-01T00:00:01.000Z");
	char built_id[2][PROFILE_ID_SIZE];
	json_t *m = NULL;

	CU_ASSERT_EQUAL_FATAL(PAGE, 256); /* C256, C257, C785: a page and around it */
	for (size_t i = 0; i < sizeof(customs) / sizeof(customs[0]); i++) {
		size_t n = strcmp(customs[i], "nobody") == 0 ? 0 : 1;
		expect_same(th, cli_head, NULL, "custom_id", customs[i], FLAGS_CLI, n);
		expect_same(th, api_head, "document", "custom_id", customs[i], FLAGS_API, n);
	}
	/* by installation: the merged one, and the erased one's */
	expect_same(th, api_head, "document", "installation_id", "IM2", FLAGS_API, 1);
	expect_same(th, api_head, "document", "custom_id", "E", FLAGS_API, 0);
	expect_same(th, cli_head, NULL, "installation_id", "IE", FLAGS_CLI, 0);
	/* and without JSON_COMPACT or indentation (", " and ": ") */
	expect_same(th, api_head, "document", "custom_id", "C257", HUB_JSON_REAL, 1);

	/* the world is what it says: M merged, every event in the documents */
	CU_ASSERT_EQUAL(profile_find(th->reader, "custom_id", "M", built_id, 2), 1);
	CU_ASSERT_EQUAL(profile_access_build(th->reader, built_id[0], &m), 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(m, "profile"),
							"merged_from")), 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(m, "profile"), "events")),
			40 + PAGE + 30);
	json_decref(m);
	json_decref(cli_head);
	json_decref(api_head);
	testhub_stop(th);
}

/* ---- memory: a page at a time ------------------------------------------- */

static struct store_ops counting_ops;
static const struct store_ops *real_ops;
static size_t n_event_lists, max_limit;
static int has_unbounded_list;

static int counting_event_list(struct store *s, const char *pid, const struct store_event *before,
			       size_t limit, store_event_cb cb, void *ctx)
{
	n_event_lists++;
	if (limit == 0)
		has_unbounded_list = 1;
	if (limit > max_limit)
		max_limit = limit;
	return real_ops->event_list(s, pid, before, limit, cb, ctx);
}

/* Three exports, one disabled, each with keys that say where the data
 * goes or hold a secret. */
#define RECIPIENTS_YAML                                                                    \
	"exports:\n"                                                                       \
	"  - {name: crm, plugin: webhook, url: \"https://u:s3cret-pw@crm.example/in\",\n"  \
	"     secret: whsec-0123456789}\n"                                                 \
	"  - {name: lake, plugin: jsonl, path: /srv/lake-people.jsonl}\n"                  \
	"  - {name: old_dw, plugin: postgres, url: \"postgresql://dw:pgpass-1@dw/db\",\n" \
	"     table: people_audit, enabled: false}\n"

/* "recipients" (GDPR art. 15(1)(c)) names every export of the
 * configuration, in its order, by name and plugin, enabled or not (a
 * disabled one said to be sent nothing), between the person's key and
 * "profiles"; none of an export's URL, path, table or secrets.  With no
 * export, an empty list, the sentence kept. */
static void test_the_recipients_are_the_configured_exports(void)
{
	static const char *const hidden[] = {"s3cret-pw", "crm.example", "whsec-0123456789",
					     "lake-people",  "pgpass-1",    "people_audit"};
	struct testhub *th = testhub_start(RECIPIENTS_YAML);
	json_t *head = json_pack("{s:s}", "type", "access"), *doc, *want, *none;
	struct sink_rec rec = {0};
	const char *t, *about;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"r-1\","
		  "\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"R\"}}");
	strbuf_init(&rec.text);
	CU_ASSERT_EQUAL(doc_stream(th->reader, th->cfg, head, NULL, "custom_id", "R", FLAGS_CLI,
				   &rec),
			0);
	t = rec.text.data;
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	doc = json_loads(t, 0, NULL);
	want = json_loads("[{\"name\": \"crm\", \"plugin\": \"webhook\", \"enabled\": true},"
			  " {\"name\": \"lake\", \"plugin\": \"jsonl\", \"enabled\": true},"
			  " {\"name\": \"old_dw\", \"plugin\": \"postgres\", \"enabled\": false}]",
			  0, NULL);
	for (size_t i = 0; i < json_array_size(want); i++) {
		json_t *got = json_array_get(
			json_object_get(json_object_get(doc, "recipients"), "exports"), i);
		const char *says = json_string_value(json_object_get(got, "receives"));
		CU_ASSERT_PTR_NOT_NULL_FATAL(says);
		CU_ASSERT_EQUAL(strncmp(says, "disabled", 8) == 0, i == 2);
		json_object_del(got, "receives");
		CU_ASSERT(json_equal(got, json_array_get(want, i)));
	}
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(doc, "recipients"),
							"exports")),
			3);
	about = json_string_value(json_object_get(json_object_get(doc, "recipients"), "about"));
	CU_ASSERT(about && strstr(about, "Where this hub sends profile changes"));
	CU_ASSERT(strstr(t, "\"custom_id\"") < strstr(t, "\"recipients\""));
	CU_ASSERT(strstr(t, "\"recipients\"") < strstr(t, "\"profiles\""));
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		CU_ASSERT_PTR_NULL(strstr(t, hidden[i]));
	json_decref(want);
	json_decref(doc);
	strbuf_free(&rec.text);
	testhub_stop(th);
	/* no export: none named, the sentence kept */
	th = testhub_start(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	none = access_doc_recipients(th->cfg);
	CU_ASSERT(json_is_array(json_object_get(none, "exports")));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(none, "exports")), 0);
	CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(none, "about")));
	json_decref(none);
	json_decref(head);
	testhub_stop(th);
}

/* Exports limited by `kinds` or `attributes` (GDPR art. 15(1)(c): what
 * each recipient is sent): each says its own, kinds by name in the feed's
 * order, attributes as listed; an export with neither, or with empty
 * lists, says none; its other keys stay as they were. */
static void test_a_recipient_says_its_kinds_and_attributes(void)
{
	struct testhub *th = testhub_start(
		"exports:\n"
		"  - {name: crm, plugin: jsonl, path: /tmp/x.jsonl,\n"
		"     kinds: [erased, profile_updated], attributes: [email, plan]}\n"
		"  - {name: ads, plugin: jsonl, path: /tmp/y.jsonl, attributes: [plan],"
		" enabled: false}\n"
		"  - {name: lake, plugin: jsonl, path: /tmp/z.jsonl, kinds: [], attributes: []}\n");
	json_t *recipients, *exports, *want;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	recipients = access_doc_recipients(th->cfg);
	exports = json_object_get(recipients, "exports");
	want = json_loads(
		"[{\"name\": \"crm\", \"plugin\": \"jsonl\", \"enabled\": true,"
		"  \"kinds\": [\"profile_updated\", \"erased\"],"
		"  \"attributes\": [\"email\", \"plan\"]},"
		" {\"name\": \"ads\", \"plugin\": \"jsonl\", \"enabled\": false,"
		"  \"attributes\": [\"plan\"]},"
		" {\"name\": \"lake\", \"plugin\": \"jsonl\", \"enabled\": true}]",
		0, NULL);
	CU_ASSERT_EQUAL_FATAL(json_array_size(exports), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *got = json_array_get(exports, i);
		CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(got, "receives")));
		json_object_del(got, "receives");
		CU_ASSERT(json_equal(got, json_array_get(want, i)));
	}
	json_decref(want);
	json_decref(recipients);
	testhub_stop(th);
}

static void test_events_are_read_and_written_a_page_at_a_time(void)
{
	struct testhub *th = world_start();
	json_t *head = json_pack("{s:s}", "type", "access");
	struct sink_rec rec = {0};
	json_t *doc;

	real_ops = th->reader->ops;
	counting_ops = *real_ops;
	counting_ops.event_list = counting_event_list;
	th->reader->ops = &counting_ops;
	n_event_lists = max_limit = 0;
	has_unbounded_list = 0;
	strbuf_init(&rec.text);
	CU_ASSERT_EQUAL(doc_stream(th->reader, th->cfg, head, NULL, "custom_id", "C785", FLAGS_API,
				   &rec),
			0);
	th->reader->ops = real_ops;
	/* 785 events: pages of 256, 256, 256 and 17 */
	CU_ASSERT_EQUAL(n_event_lists, 4);
	CU_ASSERT_EQUAL(max_limit, PAGE);
	CU_ASSERT_FALSE(has_unbounded_list);
	CU_ASSERT_EQUAL(rec.max_step_events, PAGE);
	doc = json_loads(rec.text.data, 0, NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(
				json_object_get(json_array_get(json_object_get(doc, "profiles"), 0),
						"profile"),
				"events")),
			3 * PAGE + 17);
	json_decref(doc);
	strbuf_free(&rec.text);

	/* a page-sized profile: one more (empty) page says it is the end */
	n_event_lists = 0;
	strbuf_init(&rec.text);
	th->reader->ops = &counting_ops;
	CU_ASSERT_EQUAL(doc_stream(th->reader, th->cfg, head, NULL, "custom_id", "C256", FLAGS_API,
				   &rec),
			0);
	th->reader->ops = real_ops;
	CU_ASSERT_EQUAL(n_event_lists, 2);
	strbuf_free(&rec.text);
	json_decref(head);
	testhub_stop(th);
}

/* ---- a store failure's reason ------------------------------------------- */

static int failing_event_list(struct store *s, const char *pid, const struct store_event *before,
			      size_t limit, store_event_cb cb, void *ctx)
{
	(void)pid;
	(void)before;
	(void)limit;
	(void)cb;
	(void)ctx;
	snprintf(s->err, sizeof(s->err), "injected: the events cannot be read");
	return -1;
}

/* A store failure fails the step with the store's own reason kept (for
 * the log); only a failure of the writer's (memory, the sink) says so. */
static void test_a_store_failure_keeps_the_store_s_reason(void)
{
	struct testhub *th = world_start();
	json_t *head = json_pack("{s:s}", "type", "access");
	char ids[1][PROFILE_ID_SIZE];
	struct sink_rec rec = {0};
	struct access_doc_writer *w;
	int rc;

	strbuf_init(&rec.text);
	CU_ASSERT_EQUAL(th->reader->ops->read_begin(th->reader), 0);
	CU_ASSERT_EQUAL_FATAL(profile_find(th->reader, "custom_id", "C1", ids, 1), 1);
	real_ops = th->reader->ops;
	counting_ops = *real_ops;
	counting_ops.event_list = failing_event_list;
	th->reader->ops = &counting_ops;
	w = access_doc_writer_new(th->reader, th->cfg, head, NULL, "custom_id", "C1",
				  (const char(*)[PROFILE_ID_SIZE])ids, 1, FLAGS_API, sink_record,
				  &rec);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	while ((rc = access_doc_writer_step(w)) > 0)
		;
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_STRING_EQUAL(store_error(th->reader), "injected: the events cannot be read");
	CU_ASSERT_EQUAL(access_doc_writer_profiles(w), 0);
	access_doc_writer_free(w);
	th->reader->ops = real_ops;
	CU_ASSERT_EQUAL(th->reader->ops->read_end(th->reader), 0);
	strbuf_free(&rec.text);
	json_decref(head);
	testhub_stop(th);
}

/* ---- a cursor that outlives its page ------------------------------------ */

/* One timestamp for all (the order is message_id desc): the newest page
 * holds short ids, the page after it longer ones, so the writer's copy of
 * the last id it wrote has to grow while the store still lists the page
 * after the one it copied (SQLite reads the cursor it was given as it
 * steps). */
static void add_growing_ids(struct testhub *th, const char *inst, int n_short, int n_long)
{
	struct strbuf sb;

	strbuf_init(&sb);
	for (int i = 0; i < n_short + n_long; i++) {
		strbuf_printf(&sb,
			      "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"g-%s%03d\","
			      "\"timestamp\":\"2025-03-03T09:00:00.000Z\",\"identifiers\":"
			      "{\"installation_id\":\"%s\"},\"event\":{\"name\":\"e\"}}\n",
			      i < n_short ? "z" : "yxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			      i < n_short ? i : i - n_short, inst);
	}
	CU_ASSERT_FATAL(!sb.failed);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, sb.data), 0);
	strbuf_free(&sb);
}

static void test_every_event_is_written_when_message_ids_grow_after_a_page(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *head = json_pack("{s:s}", "type", "access");
	struct sink_rec rec = {0};
	json_t *doc, *events;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"g-id\","
		  "\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":"
		  "\"G\",\"installation_id\":\"IG\"}}");
	add_growing_ids(th, "IG", PAGE + 24, 120);
	strbuf_init(&rec.text);
	CU_ASSERT_EQUAL(
		doc_stream(th->reader, th->cfg, head, NULL, "custom_id", "G", FLAGS_API, &rec), 0);
	doc = json_loads(rec.text.data ? rec.text.data : "", 0, NULL);
	events = json_object_get(
		json_object_get(json_array_get(json_object_get(doc, "profiles"), 0), "profile"),
		"events");
	CU_ASSERT_EQUAL(json_array_size(events), PAGE + 24 + 120);
	for (size_t i = 0; i < json_array_size(events); i++) {
		const char *want = i < PAGE + 24 ? "g-z" : "g-yx";
		const char *mid = json_string_value(
			json_object_get(json_array_get(events, i), "message_id"));
		CU_ASSERT(mid && strncmp(mid, want, strlen(want)) == 0);
	}
	json_decref(doc);
	strbuf_free(&rec.text);
	expect_same(th, head, NULL, "custom_id", "G", FLAGS_CLI, 1);
	json_decref(head);
	testhub_stop(th);
}

/* ---- a long identity log ------------------------------------------------- */

#define LOG_CYCLES 300 /* logouts and logins: two rows each on the user's log */

/* custom_id on installation inst, logged out and in again n times: each
 * logout detaches inst to a new anonymous session, each login merges that
 * session back (a hundred at most: past the merge cap, inst moves). */
static void add_logins(struct testhub *th, const char *custom_id, const char *inst, int n)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"%s-0\","
			   "\"timestamp\":\"2025-03-02T09:00:00.000Z\",\"identifiers\":"
			   "{\"custom_id\":\"%s\",\"installation_id\":\"%s\"}}\n",
		      custom_id, custom_id, inst);
	for (int i = 1; i <= n; i++)
		strbuf_printf(
			&sb,
			"{\"type\":\"logout\",\"source\":\"test\",\"message_id\":\"%s-o%d\","
			"\"timestamp\":\"2025-03-02T10:%02d:%02d.000Z\",\"identifiers\":"
			"{\"installation_id\":\"%s\"}}\n"
			"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"%s-i%d\","
			"\"timestamp\":\"2025-03-02T10:%02d:%02d.500Z\",\"identifiers\":"
			"{\"custom_id\":\"%s\",\"installation_id\":\"%s\"}}\n",
			custom_id, i, i / 60, i % 60, inst, custom_id, i, i / 60, i % 60, custom_id,
			inst);
	CU_ASSERT_FATAL(!sb.failed);
	apply(th, sb.data);
	strbuf_free(&sb);
}

static size_t n_log_pages, max_log_limit;

static int counting_log_page(struct store *s, const char *pid, int64_t after, size_t limit,
			     store_log_cb cb, void *ctx)
{
	n_log_pages++;
	if (limit > max_log_limit)
		max_log_limit = limit;
	return real_ops->log_page(s, pid, after, limit, cb, ctx);
}

/* A log of several pages: read a page at a time (of one profile each:
 * the user's own, then each merged-away session's), written a page at a
 * time, and the document the same as the one built whole. */
static void test_a_long_identity_log_is_read_and_written_a_page_at_a_time(void)
{
	struct testhub *th = world_start();
	json_t *head = json_pack("{s:s}", "type", "access");
	json_t *api_head = json_pack("{s:s}", "id", "pr_0123456789abcdef");
	struct sink_rec rec = {0};
	json_t *doc, *access;
	size_t n_rows, n_merged;

	add_logins(th, "L", "IL", LOG_CYCLES);
	expect_same(th, head, NULL, "custom_id", "L", FLAGS_CLI, 1);
	expect_same(th, api_head, "document", "custom_id", "L", FLAGS_API, 1);
	expect_same(th, api_head, "document", "installation_id", "IL", FLAGS_API, 1);

	real_ops = th->reader->ops;
	counting_ops = *real_ops;
	counting_ops.log_page = counting_log_page;
	th->reader->ops = &counting_ops;
	n_log_pages = max_log_limit = 0;
	strbuf_init(&rec.text);
	CU_ASSERT_EQUAL(
		doc_stream(th->reader, th->cfg, head, NULL, "custom_id", "L", FLAGS_API, &rec), 0);
	th->reader->ops = real_ops;
	doc = json_loads(rec.text.data, 0, NULL);
	access = json_array_get(json_object_get(doc, "profiles"), 0);
	n_rows = json_array_size(json_object_get(access, "identity_log"));
	n_merged = json_array_size(json_object_get(json_object_get(access, "profile"),
						   "merged_from"));
	/* two rows a cycle on L's log, and each merged session's own */
	CU_ASSERT(n_rows > 2 * LOG_CYCLES);
	CU_ASSERT(n_merged >= 50);
	CU_ASSERT_EQUAL(max_log_limit, PAGE_LOG);
	CU_ASSERT_EQUAL(rec.max_step_log_rows, PAGE_LOG);
	/* L's rows: three pages at least; then one at least per session */
	CU_ASSERT(n_log_pages >= 3 + n_merged);
	json_decref(doc);
	strbuf_free(&rec.text);
	json_decref(head);
	json_decref(api_head);
	testhub_stop(th);
}

/* A sink that refuses midway (the client went away) fails the writer:
 * what was written is a prefix, not valid JSON. */
static void test_a_refusing_sink_fails_the_writer_with_a_prefix(void)
{
	struct testhub *th = world_start();
	json_t *head = json_pack("{s:s}", "type", "access");
	struct sink_rec rec = {0};

	strbuf_init(&rec.text);
	rec.refuse_after = 300;
	CU_ASSERT_EQUAL(doc_stream(th->reader, th->cfg, head, NULL, "custom_id", "C785", FLAGS_API,
				   &rec),
			-1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec.text.data);
	CU_ASSERT(rec.text.len > 100);
	CU_ASSERT_PTR_NULL(json_loads(rec.text.data, 0, NULL));
	strbuf_free(&rec.text);
	json_decref(head);
	testhub_stop(th);
}

/* ---- the API: a failure midway ------------------------------------------ */

static long fault_at;

static void arm_fault(void *ctx, struct store *s)
{
	(void)ctx;
	s->fault_calls = 0;
	s->fault_kind = STORE_FAULT_IO;
	s->fault_at[0] = fault_at;
	s->fault_at[1] = fault_at ? 1L << 40 : 0; /* counts the statements */
}

static long *counted;

static void count_faults(void *ctx, struct store *s)
{
	(void)ctx;
	arm_fault(NULL, s);
	counted = &s->fault_calls;
}

static const char *no_query(const struct api_request *req, const char *key, size_t *len,
			    size_t *n_sent)
{
	(void)req;
	(void)key;
	*len = 0;
	*n_sent = 0;
	return NULL;
}

/* One API call; the streamed body read whole into *body (malloc'd), the
 * stream freed.  Returns the status; *is_broken when the stream broke. */
static int api_call(struct api *api, const char *method, const char *path, const char *body,
		    char **out, int *is_broken, long *total_statements)
{
	struct api_request req = {.method = method, .path = path, .query = no_query,
				  .authorization = "Bearer " API_TOKEN, .body = body,
				  .body_len = body ? strlen(body) : 0};
	struct api_response resp;
	struct strbuf sb;
	int status;

	strbuf_init(&sb);
	*is_broken = 0;
	CU_ASSERT_EQUAL_FATAL(api_handle(api, &req, &resp), 1);
	status = resp.status;
	if (resp.stream) {
		char buf[4096];
		long n;
		CU_ASSERT_STRING_EQUAL(resp.content_type, "application/json");
		while ((n = api_stream_read(resp.stream, buf, sizeof(buf))) > 0)
			strbuf_append(&sb, buf, (size_t)n);
		*is_broken = n < 0;
		CU_ASSERT(n == -1 || n == 0);
		if (total_statements && counted)
			*total_statements = *counted;
	} else {
		const char *text = resp.body ? resp.body : (const char *)resp.static_body;
		if (text)
			strbuf_append(&sb, text, resp.body_len);
	}
	api_response_free(&resp); /* the stream: its connection back or closed */
	*out = strbuf_take(&sb);
	return status;
}

/* The status GET /v1/privacy/requests/<id> says, for the id in text. */
static char *request_status(struct api *api, const char *text)
{
	const char *p = strstr(text, "\"id\":\"");
	char path[128], *body, *status = NULL;
	json_t *o;
	int is_broken;

	if (!p)
		return NULL;
	snprintf(path, sizeof(path), "/v1/privacy/requests/%.19s", p + 6);
	CU_ASSERT_EQUAL(api_call(api, "GET", path, NULL, &body, &is_broken, NULL), 200);
	o = json_loads(body, 0, NULL);
	if (json_string_value(json_object_get(o, "status")))
		status = strdup(json_string_value(json_object_get(o, "status")));
	json_decref(o);
	hub_free(body);
	return status;
}

/* A store failure at any statement of an access request answers 500
 * before the document: the document is spooled whole within its snapshot
 * first.  (Streamed from the snapshot, a failure midway used to cut a 200
 * short, and the client got invalid JSON.) */
static void test_a_store_failure_midway_is_a_500_never_a_cut_document(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"C785\"}";
	struct testhub *th = world_start();
	struct api *api = NULL;
	char err[512], *clean, *body, *status;
	long total = 0;
	int is_broken, n_refused = 0, n_whole = 0;
	json_t *doc;

	CU_ASSERT_EQUAL_FATAL(api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
	/* a clean run counts the statements */
	fault_at = 0;
	counted = NULL;
	api_set_store_hook(api, count_faults, NULL);
	fault_at = 1L << 40;
	CU_ASSERT_EQUAL(api_call(api, "POST", "/v1/privacy/requests", access, &clean, &is_broken,
				 &total),
			200);
	fault_at = 0;
	api_set_store_hook(api, arm_fault, NULL);
	CU_ASSERT_FALSE(is_broken);
	doc = json_loads(clean, 0, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "status")), "done");
	CU_ASSERT_EQUAL(
		json_array_size(json_object_get(
			json_object_get(
				json_array_get(json_object_get(json_object_get(doc, "document"),
							       "profiles"),
					       0),
				"profile"),
			"events")),
		3 * PAGE + 17);
	json_decref(doc);
	status = request_status(api, clean);
	CU_ASSERT_STRING_EQUAL(status ? status : "", "done");
	free(status);
	CU_ASSERT(total > 8);

	/* each statement in turn fails: the document is written whole to a
	 * spool before the answer, so a failure is a 500 of its own, never a
	 * 200 cut short; only the end of the snapshot comes after the whole
	 * document (its connection is closed, the answer stands) */
	for (fault_at = 1; fault_at <= total; fault_at++) {
		int code = api_call(api, "POST", "/v1/privacy/requests", access, &body, &is_broken,
				    NULL);
		CU_ASSERT_FALSE(is_broken);
		if (code == 500) {
			n_refused++;
			CU_ASSERT_PTR_NOT_NULL(strstr(body, "store_error"));
		} else {
			CU_ASSERT_EQUAL(code, 200);
			CU_ASSERT_EQUAL(strlen(body), strlen(clean)); /* whole; its id differs */
			n_whole++;
		}
		hub_free(body);
	}
	CU_ASSERT(n_refused >= total - 1);
	CU_ASSERT(n_whole <= 1);

	/* the connections were released: a request after them is whole */
	fault_at = 0;
	CU_ASSERT_EQUAL(api_call(api, "POST", "/v1/privacy/requests", access, &body, &is_broken,
				 NULL),
			200);
	CU_ASSERT_FALSE(is_broken);
	CU_ASSERT_EQUAL(strlen(body), strlen(clean)); /* its id and times differ */
	hub_free(body);
	hub_free(clean);
	api_close(api);
	testhub_stop(th);
}

/* A stream the transport never reads (the client went away at once) is
 * "failed", and gives its connection back. */
static void test_an_unread_stream_fails_its_request(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"C1\"}";
	struct testhub *th = world_start();
	struct api *api = NULL;
	struct api_request req = {.method = "POST", .path = "/v1/privacy/requests",
				  .query = no_query, .authorization = "Bearer " API_TOKEN,
				  .body = access, .body_len = sizeof(access) - 1};
	struct api_response resp;
	char err[512], buf[64], *status, *body;
	long n;
	int is_broken;

	CU_ASSERT_EQUAL_FATAL(api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(api_handle(api, &req, &resp), 1);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp.stream);
	n = api_stream_read(resp.stream, buf, sizeof(buf) - 1); /* the head only */
	CU_ASSERT(n > 10);
	buf[n > 0 ? n : 0] = '\0';
	api_response_free(&resp);
	status = request_status(api, buf);
	CU_ASSERT_STRING_EQUAL(status ? status : "", "failed");
	free(status);
	/* and the pooled connection is usable: its read transaction ended */
	CU_ASSERT_EQUAL(api_call(api, "POST", "/v1/privacy/requests", access, &body, &is_broken,
				 NULL),
			200);
	CU_ASSERT_FALSE(is_broken);
	status = request_status(api, body);
	CU_ASSERT_STRING_EQUAL(status ? status : "", "done");
	free(status);
	hub_free(body);
	api_close(api);
	testhub_stop(th);
}

/* Without a place for its spool file ($TMPDIR cannot be written), an
 * access request is a 503 naming it, before any document; with one again,
 * the next request is whole. */
static void test_no_spool_file_is_a_503_before_the_document(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"C1\"}";
	struct testhub *th = world_start();
	struct api *api = NULL;
	const char *was = getenv("TMPDIR");
	char *saved = was ? strdup(was) : NULL, err[512], *body;
	int is_broken;

	CU_ASSERT_EQUAL_FATAL(api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(setenv("TMPDIR", "/nonexistent/profilehub-test", 1), 0);
	CU_ASSERT_EQUAL(api_call(api, "POST", "/v1/privacy/requests", access, &body, &is_broken,
				 NULL),
			503);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"spool_failed\""));
	hub_free(body);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	CU_ASSERT_EQUAL(api_call(api, "POST", "/v1/privacy/requests", access, &body, &is_broken,
				 NULL),
			200);
	CU_ASSERT_FALSE(is_broken);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"document\""));
	hub_free(body);
	api_close(api);
	testhub_stop(th);
}

/* A POST /v1/privacy/requests of body, which outlives the request. */
static struct api_request privacy_post_of(const char *body)
{
	struct api_request req = {.method = "POST", .path = "/v1/privacy/requests",
				  .query = no_query, .authorization = "Bearer " API_TOKEN,
				  .body = body, .body_len = strlen(body)};
	return req;
}

/* The record GET /v1/privacy/requests/<id> answers (NULL: none). */
static json_t *request_get(struct api *api, const char *id)
{
	char path[128], *body;
	int is_broken;
	json_t *o = NULL;

	snprintf(path, sizeof(path), "/v1/privacy/requests/%s", id);
	if (api_call(api, "GET", path, NULL, &body, &is_broken, NULL) == 200)
		o = json_loads(body, 0, NULL);
	hub_free(body);
	return o;
}

/* The text of o's member key ("" when it is not a string). */
static const char *text_at(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/* The value of the response header name ("" when there is none). */
static const char *header_of(const struct api_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return "";
}

/*
 * An access request's times and headers: its answer is never cached; its
 * head says done, created and finished between the request and the
 * answer; its record, while the answer is read, says running, created
 * then, not finished; read to its end later, done, finished then (after
 * its answer began), still created when it was.
 */
static void test_an_access_request_s_record_keeps_its_times(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"C1\"}";
	struct testhub *th = world_start();
	struct api *api = NULL;
	struct api_request req = privacy_post_of(access);
	struct api_response resp;
	struct strbuf sb;
	char err[512], buf[4096], t0[40], t1[40], now[40], id[32] = "";
	json_t *head = NULL, *rec = NULL;
	const char *p;
	long n;

	strbuf_init(&sb);
	CU_ASSERT_EQUAL_FATAL(api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
	time_format_ms(time_now_ms(), t0, sizeof(t0));
	CU_ASSERT_EQUAL(api_handle(api, &req, &resp), 1);
	time_format_ms(time_now_ms(), t1, sizeof(t1));
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp.stream);
	CU_ASSERT_STRING_EQUAL(header_of(&resp, "Cache-Control"), "no-store");
	CU_ASSERT_STRING_EQUAL(header_of(&resp, "X-Content-Type-Options"), "nosniff");
	while ((n = api_stream_read(resp.stream, buf, sizeof(buf))) > 0) {
		strbuf_append(&sb, buf, (size_t)n);
		if (!rec && (p = strstr(sb.data, "\"id\":\""))) { /* while it is read */
			snprintf(id, sizeof(id), "%.19s", p + 6);
			rec = request_get(api, id);
			/* the clock moves on before the end is read */
			do
				time_format_ms(time_now_ms(), now, sizeof(now));
			while (strcmp(now, t1) <= 0);
		}
	}
	CU_ASSERT_EQUAL(n, 0);
	api_response_free(&resp);
	head = json_loads(sb.data ? sb.data : "", 0, NULL);
	CU_ASSERT_STRING_EQUAL(text_at(head, "status"), "done");
	CU_ASSERT(strcmp(text_at(head, "created_at"), t0) >= 0);
	CU_ASSERT(strcmp(text_at(head, "created_at"), t1) <= 0);
	CU_ASSERT(strcmp(text_at(head, "finished_at"), text_at(head, "created_at")) >= 0);
	CU_ASSERT(strcmp(text_at(head, "finished_at"), t1) <= 0);
	CU_ASSERT_STRING_EQUAL(text_at(rec, "status"), "running");
	CU_ASSERT_STRING_EQUAL(text_at(rec, "created_at"), text_at(head, "created_at"));
	CU_ASSERT(json_is_null(json_object_get(rec, "finished_at")));
	json_decref(rec);
	CU_ASSERT_STRING_EQUAL(text_at(head, "id"), id);
	rec = request_get(api, id);
	CU_ASSERT_STRING_EQUAL(text_at(rec, "status"), "done");
	CU_ASSERT_STRING_EQUAL(text_at(rec, "created_at"), text_at(head, "created_at"));
	CU_ASSERT(strcmp(text_at(rec, "finished_at"), t1) > 0);
	CU_ASSERT(strcmp(text_at(rec, "finished_at"), now) >= 0);
	json_decref(rec);
	json_decref(head);
	strbuf_free(&sb);
	api_close(api);
	testhub_stop(th);
}

/* Request IDs are 64 random bits, each byte drawn: of a few IDs, not every
 * one has its first two bytes alike (all four would, by chance, once in
 * 2^32 runs). */
static void test_request_ids_are_drawn_byte_by_byte(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"nobody\"}";
	struct testhub *th = world_start();
	struct api *api = NULL;
	char err[512], *body;
	int is_broken, n_alike = 0;

	CU_ASSERT_EQUAL_FATAL(api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++) {
		json_t *o;
		const char *id;
		CU_ASSERT_EQUAL(api_call(api, "POST", "/v1/privacy/requests", access, &body,
					 &is_broken, NULL),
				200);
		o = json_loads(body, 0, NULL);
		id = text_at(o, "id");
		CU_ASSERT_EQUAL(strlen(id), 19);
		n_alike += strlen(id) == 19 && strncmp(id + 3, id + 5, 2) == 0;
		json_decref(o);
		hub_free(body);
	}
	CU_ASSERT(n_alike < 4);
	api_close(api);
	testhub_stop(th);
}

/* An access request whose record cannot be written (each allocation in
 * turn failing alone, the API's record connection opened fresh) is a 503,
 * never a 200: the ID a 200 gives out is one GET knows, "running" while
 * the document is read. */
static void test_an_access_answer_s_id_is_recorded_before_it(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"nobody\"}";
	struct testhub *th = world_start();
	struct api_request req = privacy_post_of(access);
	struct testlib_capture cap;
	char err[512], buf[256], *status, *logged;
	long k, n_tried = 0;
	int n_refused = 0;

	for (k = 1; k < 100000; k++) {
		struct api *api = NULL;
		struct api_response resp;
		CU_ASSERT_EQUAL_FATAL(
			api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
		testlib_capture_begin(&cap);
		alloc_fail_only(k);
		CU_ASSERT_EQUAL(api_handle(api, &req, &resp), 1);
		n_tried = alloc_count();
		alloc_fail_after(0);
		if (resp.status == 200) {
			long n = api_stream_read(resp.stream, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			status = request_status(api, buf);
			CU_ASSERT_STRING_EQUAL(status ? status : "", "running");
			free(status);
		} else {
			n_refused++;
		}
		api_response_free(&resp);
		api_close(api);
		logged = testlib_capture_end(&cap);
		free(logged);
		if (n_tried < k) /* nothing failed: every allocation was tried */
			break;
	}
	CU_ASSERT(n_refused > 0);
	CU_ASSERT(k < 100000);
	testhub_stop(th);
}

/* The descriptor open on a file directly under dir (-1: none). */
static int fd_open_under(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[300], target[4096];
	size_t len = strlen(dir);
	int fd = -1;

	while (d && (e = readdir(d)) != NULL) {
		ssize_t n;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, len) == 0 && target[len] == '/')
			fd = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return fd;
}

/* A spooled document that cannot be read back midway breaks its answer
 * (-1), and it stays broken: read again, it never says the end (0), which
 * the transport would send as the end of a whole document. */
static void test_a_broken_stream_stays_broken(void)
{
	static const char access[] = "{\"type\":\"access\",\"custom_id\":\"C1\"}";
	struct testhub *th = world_start();
	struct api *api = NULL;
	struct api_request req = privacy_post_of(access);
	struct api_response resp;
	struct testlib_capture cap;
	const char *was = getenv("TMPDIR");
	char *saved = was ? strdup(was) : NULL, err[512], dir[512], buf[64], *logged;
	int fd, wfd;

	snprintf(dir, sizeof(dir), "%s/spool", th->dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	CU_ASSERT_EQUAL(setenv("TMPDIR", dir, 1), 0);
	CU_ASSERT_EQUAL_FATAL(api_open(&api, th->cfg, th->intake, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(api_handle(api, &req, &resp), 1);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp.stream);
	/* its spool file can no longer be read */
	fd = fd_open_under(dir);
	wfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0 && wfd >= 0);
	CU_ASSERT_EQUAL(dup2(wfd, fd), fd);
	close(wfd);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(api_stream_read(resp.stream, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(api_stream_read(resp.stream, buf, sizeof(buf)), -1);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "reading its spooled document") : NULL);
	free(logged);
	api_response_free(&resp);
	api_close(api);
	testhub_stop(th);
}

TEST_SUITE(access_doc, NULL, NULL,
	   TEST(test_streamed_document_equals_the_built_one),
	   TEST(test_the_recipients_are_the_configured_exports),
	   TEST(test_a_recipient_says_its_kinds_and_attributes),
	   TEST(test_events_are_read_and_written_a_page_at_a_time),
	   TEST(test_a_store_failure_keeps_the_store_s_reason),
	   TEST(test_every_event_is_written_when_message_ids_grow_after_a_page),
	   TEST(test_a_long_identity_log_is_read_and_written_a_page_at_a_time),
	   TEST(test_a_refusing_sink_fails_the_writer_with_a_prefix),
	   TEST(test_a_store_failure_midway_is_a_500_never_a_cut_document),
	   TEST(test_an_unread_stream_fails_its_request),
	   TEST(test_no_spool_file_is_a_503_before_the_document),
	   TEST(test_an_access_request_s_record_keeps_its_times),
	   TEST(test_request_ids_are_drawn_byte_by_byte),
	   TEST(test_an_access_answer_s_id_is_recorded_before_it),
	   TEST(test_a_broken_stream_stays_broken))
