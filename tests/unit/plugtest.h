/*
 * plugtest.h - the harness of the plugin tests (test_segment.c,
 * test_mparticle.c, test_example_plugin.c): drives one plugin .so through
 * the real loader and host table.  A fixture loads
 * $HUB_BUILD/plugins/<name>.so, parses a YAML config and creates the
 * instance of its first source; the struct hub_call it hands to routes,
 * pull() and import_line() validates every emitted record like the hub does
 * (record_from_hub, with the config's source name and identity rules) and
 * keeps a copy of it, and keeps every checkpoint and every reject() reason.
 * Requests go straight to the plugin's route, with the header a test gives.
 * A config with exports and no source creates its first export instead:
 * pt_export() hands it a batch of changes as the exporter does.
 *
 *     struct pt_fixture f;
 *     struct hub_response resp;
 *
 *     pt_open(&f, "segment", "sources:\n  - name: web\n    plugin: segment\n%s", keys);
 *     CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", auth, body, &resp), HUB_OK);
 *     CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
 *     ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "u1");
 *     pt_close(&f);
 */
#ifndef HUB_PLUGTEST_H
#define HUB_PLUGTEST_H

#include "testlib.h"

#include "../../hub/config.h"
#include "../../hub/host.h"
#include "../../hub/plugin.h"
#include "../../hub/record.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* The receive time records are validated with (2026-02-25). */
#define PT_NOW_MS 1772000000000LL

/* One record the hub accepted: a copy of what the plugin emitted (emit()
 * only borrows it) and the hub's own record made from it. */
struct pt_seen {
	enum hub_record_type type;
	char *message_id, *platform, *event_name, *previous_id;
	char *properties_json, *attributes_json, *consent_json;
	int push_enabled;				  /* -1 unset */
	int64_t timestamp_ms, sent_at_ms, received_at_ms; /* as emitted */
	char **id_types, **id_values;			  /* the identifiers as emitted */
	size_t n_ids;
	size_t n_warnings;  /* the hub's warnings for it (attributes dropped) */
	char *origin;       /* record_origin(): where it is in its input (ABI 1.3) */
	struct record *rec; /* record_from_hub()'s result: normalized fields */
};

/* Where a fixture's emit() and checkpoint() go. */
struct pt_collector {
	struct pt_seen *recs; /* accepted records, in order (grows: re-read
			       * &recs[i] after more are emitted) */
	size_t n_recs;
	size_t n_emits;	/* emit() calls, refused ones included */
	char **cursors; /* checkpoint() cursors, in order */
	size_t n_cursors;
	char **rejects; /* reject() reasons (ABI 1.2), in order */
	size_t n_rejects;
	char **warns;   /* warn() reasons (ABI 1.6), in order */
	size_t n_warns;
	char **skips;   /* skip() reasons (ABI 1.12), in order */
	size_t n_skips;

	/* How records are validated; pt_open() sets them from the config. */
	const char *source; /* the source's name */
	struct record_rules rules;
	int64_t now_ms;
	const char *refuse_message_id; /* emit() answers refuse_rc for it */
	hub_rc refuse_rc;              /* HUB_OK (0): HUB_ERR_DATA */
	const char *refuse_why;        /* and this message (NULL: "refused by the test") */

	size_t cap_recs, cap_cursors, cap_rejects, cap_warns, cap_skips;
};

/* A test's world: the plugin, its config, the instance and one call. */
struct pt_fixture {
	struct plugin_module mod;
	struct hub_config *cfg;
	struct hub_instance *inst; /* NULL when create() failed */
	struct pt_collector got;
	atomic_int stop; /* the call's stop flag */
	struct hub_call call;
	/* A scratch dir and a file in it the test made, or NULL: pt_close()
	 * removes the dir and frees both. */
	char *dir, *path;
};

/*
 * Loads plugin `plugin` ($HUB_BUILD/plugins/<plugin>.so, else the tests'
 * own in $HUB_BUILD/tests/plugins/), parses the YAML printf(yaml_fmt, ...)
 * and creates the instance of its first source (or, with no source, of its
 * first export).  Returns create()'s result (0, or -1
 * with err set); a plugin that does not load or a config that does not parse
 * fails the test.  Either way pt_close() ends it.
 */
int pt_try_open(struct pt_fixture *f, const char *plugin, char *err, size_t err_size,
		const char *yaml_fmt, ...) __attribute__((format(printf, 5, 6)));

/* The plugin's check_config() (ABI 1.10) of the first source of `yaml`:
 * refused with a message holding `refusal`, or taken (refusal NULL); `row`
 * names the case when it fails. */
void pt_check_config_is(const char *plugin, const char *yaml, const char *refusal, size_t row);

/* check_config()'s answer (rc, err) to an entry that create() answered
 * (created_rc, created): refused with a message holding `refusal` in
 * create()'s very words, or taken (refusal NULL: create() may refuse what
 * check never reads, a key file).  `row` names the case when it fails. */
void pt_check_is_create_s(int rc, const char *err, int created_rc, const char *created,
			  const char *refusal, size_t row);

/* pt_try_open() that must succeed (it prints create()'s error if not). */
void pt_open(struct pt_fixture *f, const char *plugin, const char *yaml_fmt, ...)
	__attribute__((format(printf, 3, 4)));

void pt_close(struct pt_fixture *f);

/* Forgets every record and cursor collected; the settings stay. */
void pt_reset(struct pt_collector *c);

/* Sends body[0..len) to the route `path` with one header `hname: hvalue`
 * (hname NULL: none).  A path without a route fails the test. */
hub_rc pt_send(struct pt_fixture *f, const char *path, const char *hname, const char *hvalue,
	       const char *body, size_t len, struct hub_response *resp);

/* pt_send() with another method than POST: the route of that method and path. */
hub_rc pt_send_as(struct pt_fixture *f, const char *method, const char *path,
		  const char *hname, const char *hvalue, const char *body, size_t len,
		  struct hub_response *resp);

/* The plugin's admit() (ABI 1.11) of a request to `path` with one header
 * `hname: hvalue` (hname NULL: none) and no body read yet. */
hub_rc pt_admit(struct pt_fixture *f, const char *path, const char *hname, const char *hvalue,
		struct hub_response *resp);

/* pt_send() of a NUL-terminated body with an Authorization header (NULL:
 * none). */
hub_rc pt_post(struct pt_fixture *f, const char *path, const char *auth, const char *body,
	       struct hub_response *resp);

/* Posts file dir/name to `path` with an Authorization header (NULL: none)
 * and expects HUB_OK with the answer `status` and body `answer`. */
void pt_post_file_ok(struct pt_fixture *f, const char *path, const char *auth, const char *dir,
		     const char *name, int status, const char *answer);

/* Posts `body` to `path` (Authorization `auth`, NULL: none), expects
 * HUB_OK and one record, and returns it (the test stops when not so). */
const struct pt_seen *pt_post_one(struct pt_fixture *f, const char *path, const char *auth,
				  const char *body);

/* Checks a request that must be refused: the answer is `status`, rc is
 * HUB_ERR_DATA and nothing was emitted (the answer printed with `what` when
 * not so).  Then pt_reset(). */
void pt_assert_refused(struct pt_fixture *f, const char *what, hub_rc rc,
		       const struct hub_response *resp, int status);

/* Posts `body` to `path` of fixtures opened by `open`, emit() answering
 * for record `message_id` what a hub that cannot store it now answers,
 * and checks the plugin's answer: HUB_ERR_BUSY and HUB_RETRY are a 503
 * with Retry-After and the route's HUB_ERR_BUSY, HUB_ERR_STOPPED a 503
 * and HUB_ERR_STOPPED, HUB_ERR_INTERNAL a 500 that keeps its code. */
void pt_assert_cannot_store_now(void (*open)(struct pt_fixture *f), const char *path,
				const char *auth, const char *body, const char *message_id);

/* Posts through post() a request whose record emit() refuses with
 * reasons of every length about a 1 KB answer: runs of "\x01" (6 bytes
 * each in JSON) after 0 to 5 plain bytes (the answer keeps at least 100
 * bytes of each), then 300 two-byte characters, which a message cut meets
 * inside one (it keeps at least cut_min_len).  post() checks the answer
 * (pt_assert_message_kept) and returns the route's code: HUB_ERR_DATA,
 * with nothing stored, each time. */
void pt_sweep_refusal_reasons(struct pt_fixture *f,
			      hub_rc (*post)(struct pt_fixture *f, const char *why, size_t min_len),
			      size_t cut_min_len);

/* message is a prefix of `sent` of at least min_len bytes, but for a last
 * '?' (a character the cut met). */
void pt_assert_message_kept(const char *message, const char *sent, size_t min_len);

/* The plugin's export_batch() of changes[0..n) (JSON texts, as the change
 * feed has them: plugins/webhook/README.md), planned over seqs first..last
 * (what batch_range() answers); *n_done as the plugin set it. */
hub_rc pt_export(struct pt_fixture *f, const char *const *changes, size_t n, int64_t first,
		 int64_t last, size_t *n_done, char *err, size_t err_size);

/* The plugin's import_line() and pull(), on the fixture's call. */
hub_rc pt_import_line(struct pt_fixture *f, const char *line, char *err, size_t err_size);
hub_rc pt_pull(struct pt_fixture *f, const char *cursor, size_t budget, char *err,
	       size_t err_size);

/* Out of memory is no bad input: body sent to route `path` with an
 * Authorization header `auth` (NULL: none), or as a line to import_line()
 * (path NULL), with jansson allocating through hub_malloc and allocation n
 * failing, alone or with every later one as fail(n) says (alloc_fail_only,
 * alloc_fail_after), for each n until one needs no failure.  Each answer
 * must be the one without faults (its 2xx with the same records) or a 5xx
 * (an import line: any failure but HUB_ERR_DATA), never a 4xx.  Returns
 * the n it stopped at (the allocations the request makes, plus one). */
long pt_sweep_out_of_memory(struct pt_fixture *f, const char *path, const char *auth,
			    const char *body, void (*fail)(long n));

/* The value of emitted identifier `type`, or NULL. */
const char *pt_id_of(const struct pt_seen *s, const char *type);
/* The value of the external id `type` the hub kept, or NULL. */
const char *pt_external_of(const struct pt_seen *s, const char *type);

/* The attributes JSON of the one record collected (malloc'd; NULL when
 * there is not exactly one), then pt_reset(). */
char *pt_take_attributes(struct pt_collector *c);

/* The plugin's routes are exactly `method` paths[0..n), in that order. */
void pt_assert_routes(const struct pt_fixture *f, const char *method, const char *const *paths,
		      size_t n);

/* The JSON body of an answer, which has `status` (new reference; a body that
 * is not JSON fails the test). */
json_t *pt_answer_json(const struct hub_response *resp, int status);
/* An error object: its "code" is `code` (NULL: none) and it has a "message". */
void pt_assert_error_object(const json_t *err, const char *code);
/* Member `key` of `obj` is the integer `value`, or absent when value < 0. */
void pt_assert_index(const json_t *obj, const char *key, long value);

/* strdup(), NULL for NULL. */
char *pt_dup(const char *s);
/* The whole of file dir/name (malloc'd); a missing file fails the test. */
char *pt_read_file(const char *dir, const char *name);

/* A string equal to `expected`, or NULL where `expected` is NULL. */
#define ASSERT_STR_OR_NULL(actual, expected)                                       \
	do {                                                                       \
		const char *a_ = (actual), *e_ = (expected);                       \
		if (e_ == NULL) {                                                  \
			CU_ASSERT_PTR_NULL(a_);                                    \
		} else if (a_ == NULL) {                                           \
			CU_FAIL("NULL where \"" #expected "\" was expected");      \
		} else {                                                           \
			CU_ASSERT_STRING_EQUAL(a_, e_);                            \
		}                                                                  \
	} while (0)

/* JSON text equal to `expected` as JSON (key order aside). */
#define ASSERT_JSON(actual, expected)                                              \
	do {                                                                       \
		const char *a_ = (actual);                                         \
		json_t *ja_ = a_ ? json_loads(a_, 0, NULL) : NULL;                 \
		json_t *je_ = json_loads((expected), 0, NULL);                     \
		CU_ASSERT_PTR_NOT_NULL(je_);                                       \
		if (!json_equal(ja_, je_)) {                                       \
			fprintf(stderr, "\n  %s:%d: %s\n  expected %s\n", __FILE__, \
				__LINE__, a_ ? a_ : "NULL", (expected));           \
			CU_FAIL("JSON differs: " #actual);                         \
		}                                                                  \
		json_decref(ja_);                                                  \
		json_decref(je_);                                                  \
	} while (0)

#endif
