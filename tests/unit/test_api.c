/*
 * test_api.c - suite `api`: routes of the management API (hub/api.c)
 * called as http_request.c calls them (api_handle on a request, no sockets), on a
 * hub world of their own:
 *
 *   - GET /v1/profiles/<id>/history in pages: 100 rows by default, at most
 *     ?limit= (1..1000), oldest first, the next page after ?after=<next>;
 *     "next" is a cursor while more rows may follow and null on the last
 *     page; the pages join up to the whole log, each row once; a bad limit
 *     or cursor is a 400 naming its parameter; an unknown profile a 404.
 *   - out of memory at any allocation (jansson's included) of a profile
 *     document, an access document or a read route: the whole answer, or a
 *     failure (-1 with a reason, a 500 logged with one), never a cut one.
 *   - a statement of GET .../events or .../history that fails: a 500
 *     store_error, never a page cut short, and the next request is whole.
 *   - a store that cannot be opened: every read route is a 503
 *     store_unavailable whose message does not name the store, the log does.
 *   - GET /v1/profiles takes one parameter with a value, ?q=+... is a phone,
 *     50 profiles a page ("truncated" and a ?after= "next" past, each
 *     profile on one page); the events feed's limit is
 *     1..200 (default 50), its cursor only what a next makes; each route's
 *     status (202 queued, 409 no profile updates, 404 unknown name or no
 *     such route), and a provider's status as {"<key>": [...]}.
 *
 * Runs on SQLite, and on PostgreSQL with HUB_TEST_STORE=postgres.
 */
/* RAND_set_rand_method(), deprecated in OpenSSL 3 but still honoured by
 * RAND_bytes(): the test makes the random source fail */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "testhub.h"
#include "testlib.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/api.h"
#include "../../hub/export.h"
#include "../../hub/http_ingest.h"
#include "../../hub/profile.h"
#include "../../hub/util.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#define API_TOKEN "api-suite-token"
#define N_CYCLES 60 /* logout + login: two rows each on the user's log */

/* A string member's text, "" when it is not one (a failing check fails,
 * never crashes). */
static const char *text_of(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "";
}

/* The error of an answer: its code into code and its message into
 * message[0..size) ("" for what it does not have); the answer is freed.
 * Its status. */
static int answer_error(struct api_response *resp, char code[64], char *message, size_t size)
{
	json_t *body = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	json_t *error = json_object_get(body, "error");
	int status = resp->status;

	snprintf(code, 64, "%s", text_of(error, "code"));
	snprintf(message, size, "%s", text_of(error, "message"));
	json_decref(body);
	api_response_free(resp);
	return status;
}

/* ---- the world ---------------------------------------------------------- */

struct world {
	struct testhub *th;
	struct api *api;
	char pid[PROFILE_ID_SIZE];  /* "H"'s profile */
};

static void apply(struct testhub *th, const char *line)
{
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, line), 0);
}

/* The profile of custom_id, into pid.  0, or -1 when not exactly one. */
static int pid_of(struct testhub *th, const char *custom_id, char pid[PROFILE_ID_SIZE])
{
	char ids[2][PROFILE_ID_SIZE];
	if (profile_find(th->reader, "custom_id", custom_id, ids, 2) != 1)
		return -1;
	memcpy(pid, ids[0], PROFILE_ID_SIZE);
	return 0;
}

/* "H" on installation "IH", logged out and in again N_CYCLES times (a
 * detach and a merge of the session in between on each), then "Q" logs in
 * on IH: a move away from H, a row of Q's that H's history shows last. */
static void world_start(struct world *w)
{
	struct strbuf sb;
	char err[512];

	memset(w, 0, sizeof(*w));
	w->th = testhub_start("api:\n  tokens: [\"" API_TOKEN "\"]\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
	apply(w->th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"q-1\","
		     "\"timestamp\":\"2025-03-01T08:00:00.000Z\",\"identifiers\":"
		     "{\"custom_id\":\"Q\",\"installation_id\":\"IQ\"}}");
	strbuf_init(&sb);
	strbuf_printf(&sb, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"h-0\","
			   "\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":"
			   "{\"custom_id\":\"H\",\"installation_id\":\"IH\"}}\n");
	for (int i = 1; i <= N_CYCLES; i++)
		strbuf_printf(&sb,
			      "{\"type\":\"logout\",\"source\":\"test\",\"message_id\":\"lo-%d\","
			      "\"timestamp\":\"2025-03-01T10:%02d:00.000Z\",\"identifiers\":"
			      "{\"installation_id\":\"IH\"}}\n"
			      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"li-%d\","
			      "\"timestamp\":\"2025-03-01T10:%02d:30.000Z\",\"identifiers\":"
			      "{\"custom_id\":\"H\",\"installation_id\":\"IH\"}}\n",
			      i, i % 60, i, i % 60);
	CU_ASSERT_FATAL(!sb.failed);
	apply(w->th, sb.data);
	strbuf_free(&sb);
	apply(w->th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"q-2\","
		     "\"timestamp\":\"2025-03-02T08:00:00.000Z\",\"identifiers\":"
		     "{\"custom_id\":\"Q\",\"installation_id\":\"IH\"}}");
	CU_ASSERT_EQUAL_FATAL(pid_of(w->th, "H", w->pid), 0);
	CU_ASSERT_EQUAL_FATAL(api_open(&w->api, w->th->cfg, w->th->intake, NULL, err, sizeof(err)),
			      0);
}

static void world_stop(struct world *w)
{
	api_close(w->api);
	testhub_stop(w->th);
}

/* ---- requests ------------------------------------------------------------ */

struct query {
	const char *limit, *after; /* NULL: not sent */
};

static const char *query_get(const struct api_request *req, const char *key, size_t *len,
			     size_t *n_sent)
{
	const struct query *q = req->priv;
	const char *v = strcmp(key, "limit") == 0   ? q->limit
			: strcmp(key, "after") == 0 ? q->after
						    : NULL;
	*len = v ? strlen(v) : 0;
	*n_sent = v != NULL;
	return v;
}

/* GET /v1/profiles/<pid>/<listing> with ?limit= and ?after= when not NULL:
 * the status, and the body parsed into *body (json_decref it). */
static int listing_get(struct world *w, const char *listing, const char *pid,
		       const char *limit, const char *after, json_t **body)
{
	struct query q = {limit, after};
	char path[128];
	struct api_request req = {.method = "GET", .path = path, .query = query_get,
				  .authorization = "Bearer " API_TOKEN, .priv = &q};
	struct api_response resp;
	int status;

	snprintf(path, sizeof(path), "/v1/profiles/%s/%s", pid, listing);
	CU_ASSERT_EQUAL_FATAL(api_handle(w->api, &req, &resp), 1);
	status = resp.status;
	CU_ASSERT_PTR_NULL(resp.stream);
	CU_ASSERT_STRING_EQUAL(resp.content_type ? resp.content_type : "", "application/json");
	*body = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	CU_ASSERT_PTR_NOT_NULL(*body);
	api_response_free(&resp);
	return status;
}

static int history_get(struct world *w, const char *pid, const char *limit, const char *after,
		       json_t **body)
{
	return listing_get(w, "history", pid, limit, after, body);
}

/* The 400 of a bad parameter: code, and a message naming the parameter. */
static void expect_refused(struct world *w, const char *limit, const char *after,
			   const char *code, const char *param)
{
	json_t *body = NULL, *error;
	const char *message;
	int status = history_get(w, w->pid, limit, after, &body);

	error = json_object_get(body, "error");
	message = json_string_value(json_object_get(error, "message"));
	if (status != 400)
		fprintf(stderr, "\n  limit=%s after=%s: HTTP %d", limit ? limit : "-",
			after ? after : "-", status);
	CU_ASSERT_EQUAL(status, 400);
	CU_ASSERT_STRING_EQUAL(text_of(error, "code"), code);
	CU_ASSERT_PTR_NOT_NULL(message);
	CU_ASSERT(message && strncmp(message, param, strlen(param)) == 0);
	json_decref(body);
}

/* The identity log read whole a page of `limit` rows at a time (NULL: the
 * default), following "next"; every page but the last full.  A new
 * reference; *n_pages counts the pages. */
static json_t *history_read_paged(struct world *w, const char *limit, size_t page_rows,
				  size_t *n_pages)
{
	json_t *all = json_array();
	char *after = NULL;

	*n_pages = 0;
	for (;;) {
		json_t *body = NULL, *next;
		size_t n;
		CU_ASSERT_EQUAL_FATAL(history_get(w, w->pid, limit, after, &body), 200);
		hub_free(after);
		after = NULL;
		(*n_pages)++;
		n = json_array_size(json_object_get(body, "identity_log"));
		CU_ASSERT_STRING_EQUAL(text_of(body, "profile_id"), w->pid);
		json_array_extend(all, json_object_get(body, "identity_log"));
		next = json_object_get(body, "next");
		CU_ASSERT(json_is_string(next) || json_is_null(next));
		if (json_is_string(next)) {
			CU_ASSERT_EQUAL(n, page_rows); /* a full page: more may follow */
			after = hub_strdup(json_string_value(next));
		} else {
			CU_ASSERT(n <= page_rows);
		}
		json_decref(body);
		if (!after || *n_pages > 1000)
			break;
	}
	hub_free(after);
	return all;
}

/* ---- GET /v1/profiles/<id>/history ---------------------------------------- */

static void test_history_is_read_in_pages_that_join_up(void)
{
	static const char *const limits[] = {"1", "7", "100", "122", "123", "124"};
	struct world w;
	json_t *whole = NULL, *first = NULL, *paged, *last;
	char q[PROFILE_ID_SIZE];
	size_t n_pages, n;

	world_start(&w);
	/* the whole log in one page: more rows than a default page */
	CU_ASSERT_EQUAL(history_get(&w, w.pid, "1000", NULL, &whole), 200);
	n = json_array_size(json_object_get(whole, "identity_log"));
	CU_ASSERT(n > 100);
	CU_ASSERT(json_is_null(json_object_get(whole, "next")));
	/* a row: its members, no seq; oldest first: created, then attached */
	for (size_t i = 0; i < n; i++) {
		json_t *row = json_array_get(json_object_get(whole, "identity_log"), i);
		CU_ASSERT(json_is_string(json_object_get(row, "at")) &&
			  json_is_string(json_object_get(row, "profile_id")) &&
			  json_is_string(json_object_get(row, "action")));
		CU_ASSERT_PTR_NULL(json_object_get(row, "seq"));
	}
	CU_ASSERT_STRING_EQUAL(text_of(json_array_get(json_object_get(whole, "identity_log"), 0),
				       "action"),
			       "create");
	/* and last, Q's move of IH away from H */
	CU_ASSERT_EQUAL_FATAL(pid_of(w.th, "Q", q), 0);
	last = json_array_get(json_object_get(whole, "identity_log"), n - 1);
	CU_ASSERT_STRING_EQUAL(text_of(last, "action"), "move");
	CU_ASSERT_STRING_EQUAL(text_of(last, "profile_id"), q);
	CU_ASSERT_STRING_EQUAL(text_of(last, "other_profile_id"), w.pid);

	/* no parameter: the first 100 rows, and a next */
	CU_ASSERT_EQUAL(history_get(&w, w.pid, NULL, NULL, &first), 200);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(first, "identity_log")), 100);
	CU_ASSERT(json_is_string(json_object_get(first, "next")));
	for (size_t i = 0; i < 100; i++)
		CU_ASSERT(json_equal(json_array_get(json_object_get(first, "identity_log"), i),
				     json_array_get(json_object_get(whole, "identity_log"), i)));
	json_decref(first);

	/* any page size: the same rows, each once, in order, in as few pages
	 * as they fill; only the last says null */
	paged = history_read_paged(&w, NULL, 100, &n_pages);
	CU_ASSERT_EQUAL(n_pages, (n + 99) / 100);
	CU_ASSERT(json_equal(paged, json_object_get(whole, "identity_log")));
	json_decref(paged);
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		size_t limit = (size_t)atoi(limits[i]);
		paged = history_read_paged(&w, limits[i], limit, &n_pages);
		CU_ASSERT_EQUAL(n_pages, (n + limit - 1) / limit);
		if (!json_equal(paged, json_object_get(whole, "identity_log")))
			fprintf(stderr, "\n  limit=%s: %zu rows paged, %zu whole", limits[i],
				json_array_size(paged), n);
		CU_ASSERT(json_equal(paged, json_object_get(whole, "identity_log")));
		json_decref(paged);
	}
	json_decref(whole);
	world_stop(&w);
}

static void test_history_exactly_a_page_has_no_next(void)
{
	struct world w;
	json_t *whole = NULL, *body = NULL;
	char limit[16];
	size_t n;

	world_start(&w);
	CU_ASSERT_EQUAL(history_get(&w, w.pid, "1000", NULL, &whole), 200);
	n = json_array_size(json_object_get(whole, "identity_log"));
	/* a limit of the log's size: one page, no next */
	snprintf(limit, sizeof(limit), "%zu", n);
	CU_ASSERT_EQUAL(history_get(&w, w.pid, limit, NULL, &body), 200);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "identity_log")), n);
	CU_ASSERT(json_is_null(json_object_get(body, "next")));
	json_decref(body);
	/* one less: a next, after which the last row alone, and null */
	snprintf(limit, sizeof(limit), "%zu", n - 1);
	CU_ASSERT_EQUAL(history_get(&w, w.pid, limit, NULL, &body), 200);
	CU_ASSERT_FATAL(json_is_string(json_object_get(body, "next")));
	{
		char *after = hub_strdup(json_string_value(json_object_get(body, "next")));
		json_decref(body);
		CU_ASSERT_EQUAL(history_get(&w, w.pid, limit, after, &body), 200);
		hub_free(after);
	}
	CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "identity_log")), 1);
	CU_ASSERT(json_equal(json_array_get(json_object_get(body, "identity_log"), 0),
			     json_array_get(json_object_get(whole, "identity_log"), n - 1)));
	CU_ASSERT(json_is_null(json_object_get(body, "next")));
	json_decref(body);
	/* a profile with a short log: all of it, null */
	{
		char q[PROFILE_ID_SIZE];
		CU_ASSERT_EQUAL_FATAL(pid_of(w.th, "Q", q), 0);
		CU_ASSERT_EQUAL(history_get(&w, q, NULL, NULL, &body), 200);
		CU_ASSERT(json_array_size(json_object_get(body, "identity_log")) >= 1);
		CU_ASSERT(json_is_null(json_object_get(body, "next")));
		json_decref(body);
	}
	json_decref(whole);
	world_stop(&w);
}

static void test_history_bad_parameters_are_400_unknown_profiles_404(void)
{
	static const char *const bad_limits[] = {"0", "1001", "x", "-1", "1.5", "", "10abc",
						 "99999999999999999999"};
	static const char *const bad_cursors[] = {"x", "", "-1", "+1", " 1", "1.2", "1x",
						  "0x10", "1 "};
	struct world w;
	json_t *body = NULL;

	world_start(&w);
	for (size_t i = 0; i < sizeof(bad_limits) / sizeof(bad_limits[0]); i++)
		expect_refused(&w, bad_limits[i], NULL, "invalid_parameter", "limit");
	for (size_t i = 0; i < sizeof(bad_cursors) / sizeof(bad_cursors[0]); i++)
		expect_refused(&w, NULL, bad_cursors[i], "invalid_cursor", "after");
	expect_refused(&w, NULL, "99999999999999999999", "invalid_cursor", "after");
	expect_refused(&w, "50", "99999999999999999999", "invalid_cursor", "after");
	/* the bounds are limits like any other */
	CU_ASSERT_EQUAL(history_get(&w, w.pid, "1", NULL, &body), 200);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "identity_log")), 1);
	json_decref(body);
	CU_ASSERT_EQUAL(history_get(&w, w.pid, "1000", "0", &body), 200);
	CU_ASSERT(json_array_size(json_object_get(body, "identity_log")) > 100);
	json_decref(body);
	/* past the end: an empty page */
	CU_ASSERT_EQUAL(history_get(&w, w.pid, NULL, "9223372036854775807", &body), 200);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "identity_log")), 0);
	CU_ASSERT(json_is_null(json_object_get(body, "next")));
	json_decref(body);
	/* an unknown profile: 404, with or without paging */
	CU_ASSERT_EQUAL(history_get(&w, "p_aaaaaaaaaaaaaaaa", NULL, NULL, &body), 404);
	CU_ASSERT_STRING_EQUAL(text_of(json_object_get(body, "error"), "code"), "not_found");
	json_decref(body);
	CU_ASSERT_EQUAL(history_get(&w, "p_aaaaaaaaaaaaaaaa", "10", "5", &body), 404);
	json_decref(body);
	world_stop(&w);
}

/* ---- a listing whose store fails -------------------------------------------- */

static long fault_at;   /* the statement to fail, 1-based; 0: none */
static long *n_counted; /* the statements of the last connection taken */

static void arm_fault(void *ctx, struct store *s)
{
	(void)ctx;
	s->fault_calls = 0;
	s->fault_kind = STORE_FAULT_IO;
	s->fault_at[0] = fault_at;
	s->fault_at[1] = 1L << 40; /* armed, never hit: counts the statements */
	n_counted = &s->fault_calls;
}

/* Each statement of GET .../events and .../history in turn fails: a 500
 * store_error, never a page cut short or another answer; the same request
 * afterwards is whole again (the failed connection was not given back to
 * the pool as it was). */
static void test_listing_whose_store_fails_is_a_500(void)
{
	static const char *const listings[] = {"events", "history"};
	struct world w;

	world_start(&w);
	api_set_store_hook(w.api, arm_fault, NULL);
	for (size_t i = 0; i < sizeof(listings) / sizeof(listings[0]); i++) {
		json_t *clean = NULL, *body = NULL;
		long total, n_500 = 0;

		fault_at = 0;
		CU_ASSERT_EQUAL_FATAL(listing_get(&w, listings[i], w.pid, NULL, NULL, &clean), 200);
		total = *n_counted;
		CU_ASSERT(total >= 2); /* the profile's resolution, then the listing */
		for (fault_at = 1; fault_at <= total; fault_at++) {
			int status = listing_get(&w, listings[i], w.pid, NULL, NULL, &body);
			if (status == 500) {
				n_500++;
				CU_ASSERT_STRING_EQUAL(
					text_of(json_object_get(body, "error"), "code"),
					"store_error");
			} else {
				CU_ASSERT_EQUAL(status, 200);
				CU_ASSERT(json_equal(body, clean));
			}
			json_decref(body);
		}
		CU_ASSERT(n_500 >= 2); /* a failed resolution and a failed listing */
		fault_at = 0;
		CU_ASSERT_EQUAL(listing_get(&w, listings[i], w.pid, NULL, NULL, &body), 200);
		CU_ASSERT(json_equal(body, clean));
		json_decref(body);
		json_decref(clean);
	}
	api_set_store_hook(w.api, NULL, NULL);
	world_stop(&w);
}

/* ---- bytes that are not UTF-8 ------------------------------------------------ */

struct one_query {
	const char *key, *value;
};

static const char *one_query_get(const struct api_request *req, const char *key, size_t *len,
				 size_t *n_sent)
{
	const struct one_query *q = req->priv;
	const char *v = q->key && strcmp(key, q->key) == 0 ? q->value : NULL;
	*len = v ? strlen(v) : 0;
	*n_sent = v != NULL;
	return v;
}

/* GET path with ?key=value (key NULL: none): the status; the error's code
 * and message into code/message (NULL when there is none). */
static int get_one(struct world *w, const char *path, const char *key, const char *value,
		   char code[64], char message[256])
{
	struct one_query q = {key, value};
	struct api_request req = {.method = "GET", .path = path, .query = one_query_get,
				  .authorization = "Bearer " API_TOKEN, .priv = &q};
	struct api_response resp;

	CU_ASSERT_EQUAL_FATAL(api_handle(w->api, &req, &resp), 1);
	return answer_error(&resp, code, message, 256);
}

/* Lookup values, profile IDs and cursors decoded from %FF are no identifier,
 * profile or message ID the store can hold: a 400 naming the parameter
 * (PostgreSQL refused them: a 500, an error in the log and a closed
 * connection; an email lookup was a 500 on both stores) */
static void test_bytes_not_utf8_are_refused_or_not_found(void)
{
	static const char *const keys[] = {"custom_id", "installation_id", "email", "phone", "q"};
	struct world w;
	char path[128], code[64], message[256], want[64];

	world_start(&w);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles", keys[i], "C\377", code, message), 400);
		CU_ASSERT_STRING_EQUAL(code, "invalid_parameter");
		snprintf(want, sizeof(want), "%s: not valid UTF-8", keys[i]);
		CU_ASSERT_STRING_EQUAL(message, want);
	}
	/* a profile ID is malformed alike wherever it is taken (the path's was a
	 * 404 "no profile", the lookup's found nobody: 200) */
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles/p_\377/history", NULL, NULL, code, message), 400);
	CU_ASSERT_STRING_EQUAL(code, "invalid_parameter");
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles/p_\377/events", NULL, NULL, code, message), 400);
	CU_ASSERT_STRING_EQUAL(code, "invalid_parameter");
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "profile_id: \"p_?\" is not a profile ID"));
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles", "profile_id", "p_\377", code, message), 400);
	CU_ASSERT_STRING_EQUAL(code, "invalid_parameter");
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "profile_id: \"p_?\" is not a profile ID"));
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles", "profile_id", "C1", code, message), 400);
	CU_ASSERT_STRING_EQUAL(code, "invalid_parameter");
	/* the message names the alphabet: 0, 1, l and o are in no ID ("16
	 * letters and digits" said this one had the shape) */
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles", "profile_id", "p_0123456789abcdef", code,
				message), 400);
	CU_ASSERT_STRING_EQUAL(message, "profile_id: \"p_0123456789abcdef\" is not a profile ID"
			       " (p_ and 16 of a-z and 2-9, without l and o, as the hub gives them)");
	/* a well-formed ID no profile has: 404 on a profile's routes */
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles/p_aaaaaaaaaaaaaaaa/events", NULL, NULL, code,
				message), 404);
	CU_ASSERT_STRING_EQUAL(code, "not_found");
	snprintf(path, sizeof(path), "/v1/profiles/%s/events", w.pid);
	CU_ASSERT_EQUAL(get_one(&w, path, "before", "1740816000000.1.ff", code, message), 400);
	CU_ASSERT_STRING_EQUAL(code, "invalid_cursor");
	/* the same requests with text that is UTF-8 are answered */
	CU_ASSERT_EQUAL(get_one(&w, "/v1/profiles", "custom_id", "C\303\251", code, message), 200);
	CU_ASSERT_EQUAL(get_one(&w, path, "before", "1740816000000.1.c3a9", code, message), 200);
	world_stop(&w);
}

/* ---- no random source ---------------------------------------------------- */

static int rand_fails(unsigned char *buf, int num)
{
	(void)buf;
	(void)num;
	return 0;
}

static int rand_status_fails(void)
{
	return 0;
}

/* api_handle() of POST /v1/privacy/requests with body, into *resp. */
static void privacy_handle(struct world *w, const char *body, struct api_response *resp)
{
	struct api_request req = {.method = "POST", .path = "/v1/privacy/requests",
				  .query = one_query_get, .authorization = "Bearer " API_TOKEN,
				  .body = body, .body_len = strlen(body)};
	struct one_query q = {NULL, NULL};

	req.priv = &q;
	CU_ASSERT_EQUAL_FATAL(api_handle(w->api, &req, resp), 1);
}

/* POST /v1/privacy/requests with body: the status, the error's code into
 * code and its message into message[0..size) ("" when none); a pending
 * erase is dropped unsent. */
static int privacy_post_error(struct world *w, const char *body, char code[64], char *message,
			      size_t size)
{
	struct api_response resp;

	privacy_handle(w, body, &resp);
	return answer_error(&resp, code, message, size);
}

/* privacy_post_error() without the message. */
static int privacy_post(struct world *w, const char *body, char code[64])
{
	char message[512];

	return privacy_post_error(w, body, code, message, sizeof(message));
}

/* A privacy request needs a random ID: without one (RAND_bytes failing) it
 * is a 503 and no record.  It fell back to pr_0000000000000000 for every
 * request, and an erase's record (message_id = the ID, source "privacy")
 * after the first such one would be dropped as a duplicate while its
 * answer said done. */
static void test_privacy_requests_without_randomness_are_503(void)
{
	static const RAND_METHOD failing = {.bytes = rand_fails, .pseudorand = rand_fails,
					    .status = rand_status_fails};
	const RAND_METHOD *saved;
	struct world w;
	char code[64], message[256];

	world_start(&w);
	saved = RAND_get_rand_method();
	CU_ASSERT_FATAL(saved != NULL && RAND_set_rand_method(&failing) == 1);
	CU_ASSERT_EQUAL(privacy_post(&w, "{\"type\":\"erase\",\"custom_id\":\"Q\"}", code), 503);
	CU_ASSERT_STRING_EQUAL(code, "random_unavailable");
	CU_ASSERT_EQUAL(privacy_post(&w, "{\"type\":\"erase\",\"custom_id\":\"H\"}", code), 503);
	CU_ASSERT_EQUAL(privacy_post(&w, "{\"type\":\"access\",\"custom_id\":\"H\"}", code),
			503);
	CU_ASSERT_STRING_EQUAL(code, "random_unavailable");
	RAND_set_rand_method(saved);
	/* no record was made, under the fixed ID or any other */
	CU_ASSERT_EQUAL(get_one(&w, "/v1/privacy/requests/pr_0000000000000000", NULL, NULL, code,
				message),
			404);
	/* with randomness back, a request is taken again */
	CU_ASSERT_EQUAL(privacy_post(&w, "{\"type\":\"erase\",\"custom_id\":\"Q\"}", code), 200);
	world_stop(&w);
}

/* The answer to an erase whose commit failed (is_outcome_unknown 0) or
 * whose outcome is unknown (1), in *message. */
static unsigned erase_not_committed(struct world *w, int is_outcome_unknown, char message[256])
{
	struct ingest_reply r = {0};
	struct api_response resp;
	unsigned status;
	json_t *doc;

	privacy_handle(w, "{\"type\":\"erase\",\"custom_id\":\"Q\"}", &resp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp.pending);
	resp.pending->batch.is_outcome_unknown = is_outcome_unknown;
	snprintf(resp.pending->batch.err, sizeof(resp.pending->batch.err), "store failed: test");
	ingest_pending_finish(resp.pending, HUB_RETRY, &r);
	resp.pending = NULL;
	api_response_free(&resp);
	status = r.status;
	doc = r.body ? json_loads(r.body, 0, NULL) : NULL;
	snprintf(message, 256, "%s", text_of(json_object_get(doc, "error"), "message"));
	json_decref(doc);
	ingest_reply_free(&r);
	return status;
}

/* An erase the store could not commit says the erase was not done and
 * nothing was erased (or that whether it was is unknown), and to retry; it
 * answered the ingestion's "the records could not be stored". */
static void test_an_erase_not_committed_says_nothing_was_erased(void)
{
	struct world w;
	char message[256];

	world_start(&w);
	CU_ASSERT_EQUAL(erase_not_committed(&w, 0, message), 503);
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "the erase was not done: nothing was erased"));
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "retry later"));
	CU_ASSERT_EQUAL(erase_not_committed(&w, 1, message), 503);
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "whether the erase was done is unknown"));
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "request it again"));
	CU_ASSERT_PTR_NULL(strstr(message, "records"));
	world_stop(&w);
}

/* An erase cannot be undone: a body member it does not know, or a second
 * identifier that is no string, is a 400 and nothing is queued.  Both were
 * passed over: {"type":"erase","custom_id":"H","dry_run":true} erased H. */
static void test_privacy_request_with_unknown_member_is_refused(void)
{
	static const struct {
		const char *body;
		int status;
		const char *code;
	} rows[] = {
		{"{\"type\":\"erase\",\"custom_id\":\"H\",\"dry_run\":true}", 400,
		 "invalid_parameter"},
		{"{\"type\":\"access\",\"custom_id\":\"H\",\"format\":\"csv\"}", 400,
		 "invalid_parameter"},
		{"{\"type\":\"erase\",\"custom_id\":\"H\",\"installation_id\":42}", 400,
		 "invalid_parameter"},
		{"{\"type\":\"erase\",\"installation_id\":\"IH\",\"custom_id\":\"\"}", 400,
		 "invalid_parameter"},
		{"{\"type\":\"erase\",\"custom_id\":\"H\",\"\\u00e9\\u0001\":1}", 400,
		 "invalid_parameter"},
		/* as before: no readable identifier, two of them */
		{"{\"type\":\"erase\",\"email\":\"h@example.com\"}", 400, "missing_parameter"},
		{"{\"type\":\"erase\",\"custom_id\":\"H\",\"installation_id\":\"IH\"}", 400,
		 "invalid_parameter"},
		/* an empty identifier is one that is no string (below); a type
		 * is the whole word; a member given twice is no JSON object; a
		 * junk word names nobody */
		{"{\"type\":\"erase\",\"custom_id\":\"\"}", 400, "invalid_parameter"},
		{"{\"type\":\"eras\",\"custom_id\":\"H\"}", 400, "invalid_parameter"},
		{"{\"type\":\"erase\",\"custom_id\":\"H\",\"custom_id\":\"I\"}", 400,
		 "invalid_json"},
		{"{\"type\":\"erase\",\"custom_id\":\"null\"}", 400, "invalid_request"},
		/* a profile ID: malformed, unknown, empty, with an identifier */
		{"{\"type\":\"erase\",\"profile_id\":\"p_1\"}", 400, "invalid_parameter"},
		{"{\"type\":\"access\",\"profile_id\":\"P_AAAAAAAAAAAAAAAA\"}", 400,
		 "invalid_parameter"},
		{"{\"type\":\"erase\",\"profile_id\":\"p_aaaaaaaaaaaaaaaa\"}", 404, "not_found"},
		{"{\"type\":\"access\",\"profile_id\":\"p_aaaaaaaaaaaaaaaa\"}", 404, "not_found"},
		{"{\"type\":\"erase\",\"profile_id\":\"\"}", 400, "invalid_parameter"},
		{"{\"type\":\"erase\",\"profile_id\":\"p_aaaaaaaaaaaaaaaa\",\"custom_id\":\"H\"}",
		 400, "invalid_parameter"},
		{"{\"type\":\"access\",\"custom_id\":\"H\"}", 200, ""},
		{"{\"type\":\"erase\",\"custom_id\":\"H\"}", 200, ""},
	};
	struct world w;
	char code[64];

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int status = privacy_post(&w, rows[i].body, code);
		if (status != rows[i].status || strcmp(code, rows[i].code) != 0)
			fprintf(stderr, "\n  row %zu: %d %s\n", i, status, code);
		CU_ASSERT_EQUAL(status, rows[i].status);
		CU_ASSERT_STRING_EQUAL(code, rows[i].code);
	}
	world_stop(&w);
}

/* The one identifier of a privacy request, given but no non-empty string
 * (a number, as Segment's numeric user IDs are sent), is a 400
 * invalid_parameter naming it, as a second one is: it was a
 * missing_parameter "give the person's custom_id, ..." that did not say
 * the custom_id given was the fault.  A member the hub does not read is
 * named the same way when no identifier is given.  Also the type. */
static void test_privacy_request_names_an_identifier_that_is_no_string(void)
{
	static const struct {
		const char *body, *message, *code; /* code: NULL, invalid_parameter */
	} rows[] = {
		{"{\"type\":\"erase\",\"custom_id\":42}",
		 "custom_id must be a non-empty string (or left out)", NULL},
		{"{\"type\":\"access\",\"installation_id\":null}",
		 "installation_id must be a non-empty string (or left out)", NULL},
		{"{\"type\":\"erase\",\"custom_id\":[\"H\"]}",
		 "custom_id must be a non-empty string (or left out)", NULL},
		{"{\"type\":\"access\",\"profile_id\":\"\"}",
		 "profile_id must be a non-empty string (or left out)", NULL},
		{"{\"type\":\"erase\",\"dry_run\":true}", "unknown key \"dry_run\"", NULL},
		/* a type left out is missing, as every other member is (it was
		 * invalid_parameter); one not "access" or "erase" is invalid */
		{"{\"custom_id\":\"C1\"}", "give the request's type: \"access\" or \"erase\"",
		 "missing_parameter"},
		{"{\"type\":null,\"custom_id\":\"C1\"}", "type must be \"access\" or \"erase\"", NULL},
		{"{\"type\":\"delete\",\"custom_id\":\"C1\"}", "type must be", NULL},
	};
	struct world w;
	char code[64], message[512];

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		CU_ASSERT_EQUAL(privacy_post_error(&w, rows[i].body, code, message,
						   sizeof(message)), 400);
		CU_ASSERT_STRING_EQUAL(code, rows[i].code ? rows[i].code : "invalid_parameter");
		if (strncmp(message, rows[i].message, strlen(rows[i].message)) != 0)
			fprintf(stderr, "\n  row %zu: %s", i, message);
		CU_ASSERT_EQUAL(strncmp(message, rows[i].message, strlen(rows[i].message)), 0);
	}
	/* none at all is still a missing one */
	CU_ASSERT_EQUAL(privacy_post(&w, "{\"type\":\"erase\"}", code), 400);
	CU_ASSERT_STRING_EQUAL(code, "missing_parameter");
	world_stop(&w);
}

/* POST /v1/privacy/requests with body, run as the transport runs it (an
 * erase committed through the intake, an access document read whole):
 * the status, and the answer's text (malloc'd) in *text. */
static int privacy_run(struct world *w, const char *body, char **text)
{
	struct ingest_reply r = {0};
	struct api_response resp;
	struct strbuf sb;
	char buf[4096];
	long n;
	int status;
	hub_rc rc;

	strbuf_init(&sb);
	privacy_handle(w, body, &resp);
	status = resp.status;
	if (resp.pending) {
		rc = intake_submit(w->th->intake, &resp.pending->batch);
		if (rc == HUB_OK)
			rc = intake_wait(w->th->intake, &resp.pending->batch);
		ingest_pending_finish(resp.pending, rc, &r);
		resp.pending = NULL;
		status = (int)r.status;
		strbuf_printf(&sb, "%s", r.body ? r.body : "");
		ingest_reply_free(&r);
	}
	while (resp.stream && (n = api_stream_read(resp.stream, buf, sizeof(buf))) > 0)
		strbuf_printf(&sb, "%.*s", (int)n, buf);
	if (resp.body)
		strbuf_printf(&sb, "%.*s", (int)resp.body_len, resp.body);
	api_response_free(&resp);
	CU_ASSERT_FATAL(!sb.failed);
	*text = sb.data;
	return status;
}

static int tomb_first(void *ctx, const struct store_profile *p)
{
	if (!*(char *)ctx)
		snprintf(ctx, PROFILE_ID_SIZE, "%s", p->id);
	return 0;
}

/* A privacy request may name a profile by its ID: the ID of a session
 * merged into H takes H (the live profile a lookup of it finds): the
 * access document holds H, the erase deletes H and blocks IH.  Asked
 * again, that ID is a 404 naming it. */
static void test_privacy_requests_by_a_merged_profile_id_take_the_survivor(void)
{
	struct world w;
	char tomb[PROFILE_ID_SIZE] = "", gone[PROFILE_ID_SIZE], body[128], code[64];
	char *text = NULL;
	json_t *doc, *profiles;

	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(w.th->reader->ops->profile_tombstones(w.th->reader, w.pid,
								    tomb_first, tomb), 0);
	CU_ASSERT_FATAL(tomb[0] != '\0');
	snprintf(body, sizeof(body), "{\"type\":\"access\",\"profile_id\":\"%s\"}", tomb);
	CU_ASSERT_EQUAL(privacy_run(&w, body, &text), 200);
	doc = text ? json_loads(text, 0, NULL) : NULL;
	profiles = json_object_get(json_object_get(doc, "document"), "profiles");
	CU_ASSERT_EQUAL(json_array_size(profiles), 1);
	CU_ASSERT_STRING_EQUAL(
		text_of(json_object_get(json_array_get(profiles, 0), "profile"), "profile_id"),
		w.pid);
	json_decref(doc);
	free(text);
	snprintf(body, sizeof(body), "{\"type\":\"erase\",\"profile_id\":\"%s\"}", tomb);
	CU_ASSERT_EQUAL(privacy_run(&w, body, &text), 200);
	CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "\"status\":\"done\""));
	free(text);
	CU_ASSERT_EQUAL(pid_of(w.th, "H", gone), -1); /* H is gone */
	apply(w.th, "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"after\","
		    "\"timestamp\":\"2025-03-03T08:00:00.000Z\",\"event\":{\"name\":\"e\"},"
		    "\"identifiers\":{\"custom_id\":\"H\"}}");
	CU_ASSERT_EQUAL(w.th->counts.blocked, 1);
	CU_ASSERT_EQUAL(privacy_post(&w, body, code), 404);
	CU_ASSERT_STRING_EQUAL(code, "not_found");
	world_stop(&w);
}

/* An access request's document names its recipients (GDPR art.
 * 15(1)(c)): the configuration's exports by name, plugin and whether
 * enabled, inside "document" between the person's key and "profiles",
 * never an export's URL, table or secret. */
static void test_an_access_document_names_the_exports_as_recipients(void)
{
	struct world w = {0};
	char err[256], *text = NULL;
	const char *t;
	json_t *doc, *exports, *want;

	w.th = testhub_start("api:\n  tokens: [\"" API_TOKEN "\"]\nexports:\n"
			     "  - {name: crm, plugin: webhook, url: \"https://u:pw-1@crm.example/\"}\n"
			     "  - {name: dw, plugin: postgres, url: \"postgresql://d:pw-2@dw/x\","
			     " table: dw_people, enabled: false}\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(w.th);
	apply(w.th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"r-1\","
		    "\"timestamp\":\"2025-03-01T08:00:00.000Z\",\"identifiers\":{\"custom_id\":\"R\"}}");
	CU_ASSERT_EQUAL_FATAL(api_open(&w.api, w.th->cfg, w.th->intake, NULL, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL(privacy_run(&w, "{\"type\":\"access\",\"custom_id\":\"R\"}", &text), 200);
	t = text ? text : "";
	doc = json_loads(t, 0, NULL);
	CU_ASSERT_PTR_NULL(json_object_get(doc, "recipients"));
	exports = json_object_get(json_object_get(json_object_get(doc, "document"), "recipients"),
				  "exports");
	want = json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}]", "name", "crm", "plugin", "webhook",
			 "enabled", 1, "name", "dw", "plugin", "postgres", "enabled", 0);
	CU_ASSERT_EQUAL(json_array_size(exports), 2);
	for (size_t i = 0; i < json_array_size(want); i++) {
		json_t *got = json_deep_copy(json_array_get(exports, i));
		json_object_del(got, "receives");
		CU_ASSERT(json_equal(got, json_array_get(want, i)));
		json_decref(got);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "{\"custom_id\":\"R\",\"recipients\":{"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "]},\"profiles\":[{"));
	CU_ASSERT_PTR_NULL(strstr(t, "pw-1"));
	CU_ASSERT_PTR_NULL(strstr(t, "pw-2"));
	CU_ASSERT_PTR_NULL(strstr(t, "crm.example"));
	CU_ASSERT_PTR_NULL(strstr(t, "dw_people"));
	json_decref(want);
	json_decref(doc);
	free(text);
	world_stop(&w);
}

/* A privacy request by email or phone (which may be several people's) is
 * refused saying how to find the person first; it said only to give a
 * custom_id or an installation_id. */
static void test_privacy_request_by_email_says_how_to_find_the_person(void)
{
	static const char *const bodies[] = {"{\"type\":\"erase\",\"email\":\"h@example.com\"}",
					     "{\"type\":\"access\",\"phone\":\"+15550100\"}"};
	struct world w;

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		struct api_request req = {.method = "POST", .path = "/v1/privacy/requests",
					  .query = one_query_get,
					  .authorization = "Bearer " API_TOKEN, .body = bodies[i],
					  .body_len = strlen(bodies[i])};
		struct one_query q = {NULL, NULL};
		struct api_response resp;
		json_t *doc, *err;

		req.priv = &q;
		CU_ASSERT_EQUAL_FATAL(api_handle(w.api, &req, &resp), 1);
		CU_ASSERT_EQUAL(resp.status, 400);
		doc = json_loadb(resp.body, resp.body_len, 0, NULL);
		err = json_object_get(doc, "error");
		CU_ASSERT_STRING_EQUAL(text_of(err, "code"), "missing_parameter");
		CU_ASSERT_PTR_NOT_NULL(strstr(text_of(err, "message"),
					      "find whose it is first (GET /v1/profiles?email=...)"));
		json_decref(doc);
		api_response_free(&resp);
	}
	world_stop(&w);
}

/* With api.tokens unset no token can be right: the 403 says why (it said
 * "this token is not allowed" to every token, the unset key unnamed). */
static void test_api_without_tokens_says_none_is_set(void)
{
	struct world w;
	char code[64], message[256];
	size_t n;

	world_start(&w);
	CU_ASSERT_EQUAL(get_one(&w, "/v1/sources", NULL, NULL, code, message), 200);
	n = w.th->cfg->n_api_tokens;
	w.th->cfg->n_api_tokens = 0; /* as a config without api.tokens loads */
	CU_ASSERT_EQUAL(get_one(&w, "/v1/sources", NULL, NULL, code, message), 403);
	CU_ASSERT_STRING_EQUAL(code, "forbidden");
	CU_ASSERT_STRING_EQUAL(
		message, "no token is allowed: api.tokens is not set in the hub's configuration");
	w.th->cfg->n_api_tokens = n;
	world_stop(&w);
}

/* Without a token, the 401 told to send "a token of api.tokens" when there
 * is none to send: with api.tokens unset it says that instead, as the 403
 * does; with tokens set it is as it was. */
static void test_api_without_tokens_401_says_none_is_set(void)
{
	struct one_query q = {"custom_id", "H"};
	struct api_request req = {.method = "GET", .path = "/v1/sources", .query = one_query_get,
				  .authorization = NULL, .priv = &q};
	struct api_response resp;
	struct world w;
	char code[64], message[256];
	size_t n;

	world_start(&w);
	CU_ASSERT_EQUAL_FATAL(api_handle(w.api, &req, &resp), 1);
	CU_ASSERT_EQUAL(answer_error(&resp, code, message, sizeof(message)), 401);
	CU_ASSERT_STRING_EQUAL(message, "send Authorization: Bearer <token> (a token of api.tokens)");

	n = w.th->cfg->n_api_tokens;
	w.th->cfg->n_api_tokens = 0;
	CU_ASSERT_EQUAL_FATAL(api_handle(w.api, &req, &resp), 1);
	CU_ASSERT_EQUAL(answer_error(&resp, code, message, sizeof(message)), 401);
	CU_ASSERT_STRING_EQUAL(code, "unauthorized");
	CU_ASSERT_STRING_EQUAL(
		message, "no token is allowed: api.tokens is not set in the hub's configuration");
	w.th->cfg->n_api_tokens = n;
	world_stop(&w);
}

/* A Segment client given the hub's address without the source's path
 * posts its batch to /v1/batch with Basic auth (its write key): the 401
 * told it to send a bearer token, as if the write key were the wrong
 * token; it now names where a write key goes.  A missing header keeps the
 * bearer message. */
static void test_api_basic_auth_401_points_to_the_sources(void)
{
	static const char *const headers[] = {"Basic ZGV2LXdyaXRlLWtleTo=", "basic eDo="};
	struct one_query q = {NULL, NULL};
	static const char batch[] = "{\"batch\": []}";
	struct api_request req = {.method = "POST", .path = "/v1/batch", .query = one_query_get,
				  .body = batch, .body_len = sizeof(batch) - 1, .priv = &q};
	struct api_response resp;
	struct world w;
	char code[64], message[512];

	world_start(&w);
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		req.authorization = headers[i];
		CU_ASSERT_EQUAL_FATAL(api_handle(w.api, &req, &resp), 1);
		CU_ASSERT_EQUAL(answer_error(&resp, code, message, sizeof(message)), 401);
		CU_ASSERT_STRING_NOT_EQUAL_FATAL(message, "");
		CU_ASSERT_PTR_NOT_NULL(strstr(message, "a write key, is for a push source's routes"
						       " under /in/<source>/"));
		CU_ASSERT_PTR_NOT_NULL(strstr(message, "POST /in/<source>/v1/batch"));
	}
	req.authorization = NULL;
	CU_ASSERT_EQUAL_FATAL(api_handle(w.api, &req, &resp), 1);
	CU_ASSERT_EQUAL(answer_error(&resp, code, message, sizeof(message)), 401);
	CU_ASSERT_STRING_EQUAL(message, "send Authorization: Bearer <token> (a token of api.tokens)");
	world_stop(&w);
}

/* ---- no store ------------------------------------------------------------- */

/* Each route that reads the store, on an API whose store file is gone: a
 * 503 store_unavailable that says what is wrong but not where the store
 * is (the message was the store's error: "sqlite: cannot open <path>:
 * ..." to any client), and a log line that names the path. */
/* The value of response header `name`, or NULL. */
static const char *header_of(const struct api_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

/* The store at store_path comes (back): the next request opens it, and
 * the log says the outage of n_refused requests ended. */
static void api_outage_ends_logged(struct api *api, const char *store_path, size_t n_refused)
{
	struct one_query q = {"custom_id", "H"};
	struct api_request req = {.method = "GET", .path = "/v1/profiles", .query = one_query_get,
				  .authorization = "Bearer " API_TOKEN, .priv = &q};
	struct api_response resp;
	struct testlib_capture cap;
	struct store *s = NULL;
	char dir[512], err[512], want[64], *logged, *slash;

	snprintf(dir, sizeof(dir), "%s", store_path);
	slash = strrchr(dir, '/');
	CU_ASSERT_PTR_NOT_NULL_FATAL(slash);
	*slash = '\0';
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(store_path, &s, err, sizeof(err)), 0);
	store_close(s);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL_FATAL(api_handle(api, &req, &resp), 1);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_NOT_EQUAL(resp.status, 503);
	snprintf(want, sizeof(want), "%zu requests answered 503", n_refused);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "store connections open again") : NULL);
	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, want) : NULL);
	api_response_free(&resp);
	free(logged);
}

static void test_store_unavailable_names_its_path_in_the_log_only(void)
{
	static const struct {
		const char *method, *path, *key, *value, *body;
	} rows[] = {
		/* a path ending in "/" is H's profile's: its ID and what follows */
		{"GET", "/v1/profiles", "custom_id", "H", NULL},
		{"GET", "/v1/profiles/", "events", NULL, NULL},
		{"GET", "/v1/profiles/", "history", NULL, NULL},
		{"GET", "/v1/privacy/requests/pr_0123456789abcdef", NULL, NULL, NULL},
		{"POST", "/v1/privacy/requests", NULL, NULL,
		 "{\"type\":\"access\",\"custom_id\":\"H\"}"},
	};
	struct world w;
	struct hub_config *cfg = NULL;
	struct api *gone = NULL;
	char yaml[1024], store_path[512], err[512];

	world_start(&w);
	snprintf(store_path, sizeof(store_path), "%s/moved-away/hub.db", w.th->dir);
	snprintf(yaml, sizeof(yaml),
		 "store:\n  driver: sqlite\n  path: \"%s\"\napi:\n  tokens: [\"" API_TOKEN "\"]\n",
		 store_path);
	CU_ASSERT_EQUAL_FATAL(config_load_string("gone.yaml", yaml, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(api_open(&gone, cfg, w.th->intake, NULL, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char path[128];
		int is_profile_route = rows[i].path[strlen(rows[i].path) - 1] == '/';
		struct one_query q = {is_profile_route ? NULL : rows[i].key, rows[i].value};
		struct api_request req = {.method = rows[i].method, .path = path,
					  .query = one_query_get,
					  .authorization = "Bearer " API_TOKEN, .priv = &q};
		struct api_response resp;
		struct testlib_capture cap;
		json_t *body, *error;
		char *logged;

		if (is_profile_route)
			snprintf(path, sizeof(path), "%s%s/%s", rows[i].path, w.pid, rows[i].key);
		else
			snprintf(path, sizeof(path), "%s", rows[i].path);
		req.body = rows[i].body;
		req.body_len = rows[i].body ? strlen(rows[i].body) : 0;
		testlib_capture_begin(&cap);
		CU_ASSERT_EQUAL_FATAL(api_handle(gone, &req, &resp), 1);
		logged = testlib_capture_end(&cap);
		CU_ASSERT_EQUAL(resp.status, 503);
		CU_ASSERT_PTR_NULL(resp.stream);
		body = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
		error = json_object_get(body, "error");
		CU_ASSERT_STRING_EQUAL(text_of(error, "code"), "store_unavailable");
		CU_ASSERT_STRING_EQUAL(text_of(error, "message"),
				       "the store cannot be read; see the hub's log");
		CU_ASSERT_PTR_NOT_NULL(header_of(&resp, "Retry-After"));
		if (header_of(&resp, "Retry-After"))
			CU_ASSERT_STRING_EQUAL(header_of(&resp, "Retry-After"), "1");
		CU_ASSERT_PTR_NULL(resp.body ? strstr(resp.body, "moved-away") : NULL);
		/* the outage is logged once with its cause, not once a request */
		if (i == 0)
			CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, store_path) : NULL);
		if (i > 0)
			CU_ASSERT_PTR_NULL(logged ? strstr(logged, "for a request") : NULL);
		if (resp.status != 503 || !logged || (i == 0) != !!strstr(logged, store_path))
			fprintf(stderr, "\n  %s %s: HTTP %d %s; log: %s", rows[i].method, path,
				resp.status, resp.body ? resp.body : "", logged ? logged : "");
		json_decref(body);
		api_response_free(&resp);
		free(logged);
	}
	api_outage_ends_logged(gone, store_path, sizeof(rows) / sizeof(rows[0]));
	api_close(gone);
	config_free(cfg);
	world_stop(&w);
}

/* ---- out of memory ----------------------------------------------------------- */

#define SHARED_EMAIL "pat@example.com"

/* "A" and "B" both with SHARED_EMAIL and, between them, every part of a
 * document: installations (push on), an external ID, attributes, consent,
 * events, and an anonymous session merged into B. */
static void shared_email_start(struct world *w)
{
	char err[512], ids[4][PROFILE_ID_SIZE];

	memset(w, 0, sizeof(*w));
	w->th = testhub_start("api:\n  tokens: [\"" API_TOKEN "\"]\n"
			      "identity:\n  external:\n    crm_id: {limit: 1, priority: 1}\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
	apply(w->th,
	      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"a-1\","
	      "\"timestamp\":\"2025-03-01T08:00:00.000Z\",\"identifiers\":{\"custom_id\":\"A\","
	      "\"installation_id\":\"IA\",\"crm_id\":\"K\"},\"platform\":\"ios\","
	      "\"push_enabled\":true,\"attributes\":{\"$email_address\":\"" SHARED_EMAIL "\","
	      "\"plan\":\"gold\",\"tags\":[\"x\",\"y\"]},"
	      "\"consent\":{\"email_marketing\":\"subscribed\"}}");
	apply(w->th, "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"a-2\","
		     "\"timestamp\":\"2025-03-01T08:01:00.000Z\",\"identifiers\":"
		     "{\"installation_id\":\"IA\"},\"event\":{\"name\":\"buy\",\"properties\":"
		     "{\"sku\":\"s1\",\"n\":2}}}");
	apply(w->th, "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"a-3\","
		     "\"timestamp\":\"2025-03-01T08:02:00.000Z\",\"identifiers\":"
		     "{\"installation_id\":\"IA\"},\"event\":{\"name\":\"view\"}}");
	apply(w->th, "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"s-1\","
		     "\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":"
		     "{\"installation_id\":\"IS\"},\"event\":{\"name\":\"open\"}}");
	apply(w->th,
	      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"b-1\","
	      "\"timestamp\":\"2025-03-01T10:00:00.000Z\",\"identifiers\":{\"custom_id\":\"B\","
	      "\"installation_id\":\"IS\"},\"platform\":\"android\",\"push_enabled\":true,"
	      "\"attributes\":{\"$email_address\":\"" SHARED_EMAIL "\","
	      "\"$phone_number\":\"+15550100\"},\"consent\":{\"sms_marketing\":\"subscribed\"}}");
	CU_ASSERT_EQUAL_FATAL(pid_of(w->th, "A", w->pid), 0);
	CU_ASSERT_EQUAL_FATAL(profile_find(w->th->reader, "email", SHARED_EMAIL, ids, 4), 2);
	CU_ASSERT_EQUAL_FATAL(api_open(&w->api, w->th->cfg, w->th->intake, NULL, err, sizeof(err)),
			      0);
}

/* The sweeps' failures: every allocation from the nth on (alloc_fail_after),
 * or the nth alone (alloc_fail_only: a failure the next one does not
 * repeat, so nothing after it stops the document on its own). */
static void (*sweep_fail)(long n) = alloc_fail_after;

static int doc_build_all(struct store *s, const char *pid, json_t **out)
{
	return profile_doc_build(s, pid, PROFILE_EVENTS_ALL, out);
}

/* build(pid) with every allocation from the nth on failing, for each n
 * until a build needs no failure: each is the document built without
 * faults, or -1 with a reason in the store's error. */
static void sweep_build(struct store *s, const char *pid,
			int (*build)(struct store *, const char *, json_t **))
{
	json_t *want = NULL;
	long n, n_tried = 0;

	CU_ASSERT_EQUAL_FATAL(build(s, pid, &want), 1);
	for (n = 1; n < 100000; n++) {
		json_t *got = NULL;
		int rc;
		s->err[0] = '\0';
		sweep_fail(n);
		rc = build(s, pid, &got);
		n_tried = alloc_count();
		alloc_fail_after(0);
		if (rc == 1 && !json_equal(got, want))
			fprintf(stderr,
				"\n  allocation %ld failing: a document unlike the whole one", n);
		CU_ASSERT(rc == 1 ? json_equal(got, want) : rc == -1 && s->err[0] != '\0');
		json_decref(got);
		if (n_tried < n) /* nothing failed: every allocation was tried */
			break;
	}
	CU_ASSERT(n > 10 && n < 100000);
	json_decref(want);
}

/* GET path?key=value (key NULL: none) with every allocation from the nth
 * on failing (0: none): the status, the body into *body (free it) and what
 * was logged into *logged (free it; NULL: not asked). */
static int get_faulted(struct world *w, long n, const char *path, const char *key,
		       const char *value, char **body, char **logged, long *n_tried)
{
	struct one_query q = {key, value};
	struct api_request req = {.method = "GET", .path = path, .query = one_query_get,
				  .authorization = "Bearer " API_TOKEN, .priv = &q};
	struct testlib_capture cap;
	struct api_response resp;
	int rc;

	if (logged)
		testlib_capture_begin(&cap);
	sweep_fail(n);
	rc = api_handle(w->api, &req, &resp);
	*n_tried = alloc_count();
	alloc_fail_after(0);
	if (logged)
		*logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(rc, 1);
	*body = resp.body ? strdup(resp.body) : NULL;
	api_response_free(&resp);
	return resp.status;
}

/* The GET with every allocation from the nth on failing, for each n until
 * one needs no failure: each answer is the one without faults, or a 500
 * (a 503: no connection to open) with a reason in the log; never a crash,
 * never an answer cut short. */
static void sweep_get(struct world *w, const char *path, const char *key, const char *value)
{
	char *want = NULL;
	long n, n_tried = 0;

	CU_ASSERT_EQUAL_FATAL(get_faulted(w, 0, path, key, value, &want, NULL, &n_tried), 200);
	for (n = 1; n < 100000; n++) {
		char *got = NULL, *logged = NULL;
		int status = get_faulted(w, n, path, key, value, &got, &logged, &n_tried);
		if (status == 200 && strcmp(got ? got : "", want) != 0)
			fprintf(stderr, "\n  %s, allocation %ld failing: %s", path, n, got);
		CU_ASSERT(status == 200 ? strcmp(got ? got : "", want) == 0
					: status == 500 || status == 503);
		/* a line of the log saying why, never "profile lookup: " alone */
		CU_ASSERT_PTR_NULL(strstr(logged, ": \n"));
		free(got);
		free(logged);
		if (status != 200) { /* its connection was closed: pool a new one */
			CU_ASSERT_EQUAL(get_faulted(w, 0, path, key, value, &got, NULL, &n_tried),
					200);
			free(got);
		}
		if (n_tried < n) /* nothing failed */
			break;
	}
	CU_ASSERT(n > 10 && n < 100000);
	free(want);
}

/* Out of memory at any allocation of a profile document (jansson's
 * included) fails it, or the request, cleanly.  The collectors and
 * builders ignored what jansson refused: a document missing members came
 * back as built, and GET /v1/profiles?email= finding two profiles compared
 * a missing "profile_id" with strcmp (a crash of the hub). */
static void test_out_of_memory_fails_a_profile_document_whole(void)
{
	json_malloc_t saved_malloc;
	json_free_t saved_free;
	char path[128];
	struct world w;

	shared_email_start(&w);
	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(hub_malloc, hub_free);
	for (int only = 0; only < 2; only++) {
		sweep_fail = only ? alloc_fail_only : alloc_fail_after;
		sweep_build(w.th->reader, w.pid, doc_build_all);
		sweep_build(w.th->reader, w.pid, profile_access_build);
		/* On PostgreSQL each failed request costs a new connection (the
		 * pool never reuses one in doubt): there the requests are swept
		 * with one allocation failing at a time only (the store's and
		 * the API's, each in turn); every allocation from the nth on
		 * failing is swept on SQLite and by the builds above. */
		if (!only && teststore_is_pg())
			continue;
		sweep_get(&w, "/v1/profiles", "email", SHARED_EMAIL);
		snprintf(path, sizeof(path), "/v1/profiles/%s/events", w.pid);
		sweep_get(&w, path, "limit", "2");
		snprintf(path, sizeof(path), "/v1/profiles/%s/history", w.pid);
		sweep_get(&w, path, NULL, NULL);
	}
	sweep_fail = alloc_fail_after;
	json_set_alloc_funcs(saved_malloc, saved_free);
	world_stop(&w);
}

/* ---- GET /v1/profiles ------------------------------------------------------- */

/* A query of up to four key=value pairs (a NULL key ends it). */
struct pairs_query {
	const char *kv[4][2];
};

static const char *pairs_query_get(const struct api_request *req, const char *key, size_t *len,
				   size_t *n_sent)
{
	const struct pairs_query *q = req->priv;
	const char *v = NULL;

	*n_sent = 0;
	for (size_t i = 0; i < 4 && q->kv[i][0]; i++)
		if (strcmp(q->kv[i][0], key) == 0 && (*n_sent)++ == 0)
			v = q->kv[i][1];
	*len = v ? strlen(v) : 0;
	return v;
}

static const char *pairs_query_name(const struct api_request *req, size_t i)
{
	const struct pairs_query *q = req->priv;

	return i < 4 ? q->kv[i][0] : NULL;
}

static void pairs_add(struct pairs_query *q, size_t *n, const char *key, const char *value)
{
	CU_ASSERT_FATAL(*n < 3);
	q->kv[*n][0] = key;
	q->kv[*n][1] = value;
	(*n)++;
}

/* GET path?<pairs>: the status; the body parsed into *body (json_decref it). */
static int get_pairs(struct world *w, const char *method, const char *path,
		     const struct pairs_query *q, json_t **body)
{
	struct api_request req = {.method = method, .path = path, .query = pairs_query_get,
				  .authorization = "Bearer " API_TOKEN, .priv = q,
				  .query_name = pairs_query_name};
	struct api_response resp;
	int status;

	CU_ASSERT_EQUAL_FATAL(api_handle(w->api, &req, &resp), 1);
	status = resp.status;
	*body = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	api_response_free(&resp);
	return status;
}

/* GET path?<q> answers status with the error code and message given. */
static void get_error_is(struct world *w, const char *path, const struct pairs_query *q,
			 int status, const char *code, const char *message)
{
	json_t *body = NULL, *error;

	CU_ASSERT_EQUAL(get_pairs(w, "GET", path, q, &body), status);
	error = json_object_get(body, "error");
	CU_ASSERT_STRING_EQUAL(text_of(error, "code"), code);
	CU_ASSERT_STRING_EQUAL(text_of(error, "message"), message);
	json_decref(body);
}

/* A lookup's 400 for no key, or for two, names every key the route reads:
 * the external ids of identity.external too (?crm_id=K finds the person),
 * which the one for no key left out. */
static void test_profiles_lookup_errors_name_the_external_ids(void)
{
	struct pairs_query none = {{{"limit", "5"}}};
	struct pairs_query two = {{{"custom_id", "A"}, {"crm_id", "K"}}};
	struct world w;

	shared_email_start(&w);
	get_error_is(&w, "/v1/profiles", &none, 400, "missing_parameter",
		     "give one of custom_id, installation_id, email, phone, profile_id, crm_id"
		     " or q");
	get_error_is(&w, "/v1/profiles", &two, 400, "invalid_parameter",
		     "give one of custom_id, installation_id, email, phone, profile_id, crm_id"
		     " or q, not several");
	world_stop(&w);
}

/* The message of GET /v1/profiles' 400 for no key, with n external ids
 * x00_<tail>, x01_<tail>, ...; the answer in *body (a new reference,
 * which holds the message). */
static const char *lookup_error_with_external_ids(int n, const char *tail, json_t **body)
{
	struct pairs_query none = {{{"limit", "5"}}};
	struct strbuf cfg;
	struct world w;
	char err[512];

	strbuf_init(&cfg);
	strbuf_printf(&cfg, "api:\n  tokens: [\"" API_TOKEN "\"]\nidentity:\n  external:\n");
	for (int i = 0; i < n; i++)
		strbuf_printf(&cfg, "    x%02d_%s: {limit: 1, priority: %d}\n", i, tail, i + 1);
	memset(&w, 0, sizeof(w));
	w.th = testhub_start(cfg.data);
	strbuf_free(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w.th);
	CU_ASSERT_EQUAL_FATAL(api_open(&w.api, w.th->cfg, w.th->intake, NULL, err, sizeof(err)), 0);
	*body = NULL;
	CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &none, body), 400);
	world_stop(&w);
	return text_of(json_object_get(*body, "error"), "message");
}

/* Twelve external ids of 60 characters do not fit the 400's list: those
 * that fit are named whole, then ", ...". */
static void test_profiles_lookup_error_elides_what_does_not_fit(void)
{
	json_t *body;
	const char *message = lookup_error_with_external_ids(
		12, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz1234", &body);

	CU_ASSERT_PTR_NOT_NULL(strstr(message, "profile_id, x00_abcdefghijklmnopqrstuvwxyzab"));
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "1234, ... or q"));
	CU_ASSERT_PTR_NULL(strstr(message, "x11_"));
	json_decref(body);
}

/* Nine external ids of 49 characters make a list of 511 characters, the
 * 400's buffer (512) to its last byte: all are named, without ", ..."
 * (the last was left out, the room for ", ..." kept after it too); with a
 * tenth, the ninth makes room for ", ...". */
static void test_profiles_lookup_error_names_a_last_key_that_fits(void)
{
	static const char tail[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs";
	json_t *body;
	const char *message = lookup_error_with_external_ids(9, tail, &body);

	CU_ASSERT_PTR_NOT_NULL(strstr(message, ", x08_abcdefghijklmnopqrstuvwxyz"
					       "abcdefghijklmnopqrs or q"));
	CU_ASSERT_PTR_NULL(strstr(message, "..."));
	json_decref(body);
	message = lookup_error_with_external_ids(10, tail, &body);
	CU_ASSERT_PTR_NOT_NULL(strstr(message, "x07_abcdefghijklmnopqrstuvwxyz"
					       "abcdefghijklmnopqrs, ... or q"));
	CU_ASSERT_PTR_NULL(strstr(message, "x08_"));
	json_decref(body);
}

/* A lookup takes one parameter, with a value: ?q= with an identifier, or
 * an empty one, is refused (an empty value looked up nothing: a 200
 * without profiles). */
static void test_profiles_lookup_takes_one_parameter_with_a_value(void)
{
	static const struct {
		struct pairs_query q;
		int status;
		const char *code;
	} rows[] = {
		{{{{"q", "H"}, {"custom_id", "H"}}}, 400, "invalid_parameter"},
		{{{{"email", "h@example.com"}, {"q", "H"}}}, 400, "invalid_parameter"},
		{{{{"custom_id", "H"}, {"installation_id", "IH"}}}, 400, "invalid_parameter"},
		{{{{"custom_id", ""}}}, 400, "missing_parameter"},
		{{{{"q", ""}}}, 400, "missing_parameter"},
		{{{{"limit", "5"}}}, 400, "missing_parameter"},
		{{{{"custom_id", "H"}, {"limit", "0"}}}, 400, "invalid_parameter"},
		{{{{"custom_id", "H"}, {"limit", "5"}}}, 200, ""},
		{{{{"custom_id", "H"}}}, 200, ""},
		{{{{"q", "H"}}}, 200, ""},
	};
	struct world w;

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		json_t *body = NULL;
		int status = get_pairs(&w, "GET", "/v1/profiles", &rows[i].q, &body);
		const char *code = text_of(json_object_get(body, "error"), "code");

		if (status != rows[i].status || strcmp(code, rows[i].code) != 0)
			fprintf(stderr, "\n  row %zu: %d %s", i, status, code);
		CU_ASSERT_EQUAL(status, rows[i].status);
		CU_ASSERT_STRING_EQUAL(code, rows[i].code);
		if (status == 200)
			CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "profiles")), 1);
		json_decref(body);
	}
	world_stop(&w);
}

/* A phone or an email with a space is a '+' sent as is (a query string
 * reads it as a space): 400 saying to send %2B, where it found nobody.  A
 * custom ID or a search may hold a space. */
static void test_profiles_lookup_of_a_plus_sent_as_is_says_send_2b(void)
{
	static const struct {
		const char *key, *value, *message;
	} rows[] = {
		{"phone", " 15550100",
		 "phone: contains a space, which no phone holds: a '+' in a query string reads"
		 " as a space, send it as %2B (phone=%2B33612345678)"},
		{"email", "ann news@example.com",
		 "email: contains a space, which no email holds: a '+' in a query string reads"
		 " as a space, send it as %2B (email=ann%2Bnews%40example.com)"},
	};
	struct world w;

	shared_email_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {{{rows[i].key, rows[i].value}}};
		json_t *body = NULL, *err;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &q, &body), 400);
		err = json_object_get(body, "error");
		CU_ASSERT_STRING_EQUAL(text_of(err, "code"), "invalid_parameter");
		CU_ASSERT_STRING_EQUAL(text_of(err, "message"), rows[i].message);
		json_decref(body);
	}
	{
		struct pairs_query q = {{{"phone", "+15550100"}}}, c = {{{"custom_id", "a b"}}};
		json_t *body = NULL;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &q, &body), 200);
		CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "profiles")), 1);
		json_decref(body);
		body = NULL;
		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &c, &body), 200);
		json_decref(body);
	}
	world_stop(&w);
}

/* A search (?q=) holding a space where an email or a phone has its '+'
 * (?q=+15550100, ?q=ann+news@... sent as is, which a query string reads
 * as spaces) looks the email or phone up with the '+' back: it found
 * nobody.  A custom ID is still looked up as sent. */
static void test_profiles_search_of_a_plus_sent_as_is_finds_the_person(void)
{
	static const struct {
		const char *q, *by, *custom_id;
	} rows[] = {
		{" 15550100", "phone", "B"},
		{"ann news@example.com", "email", "N"},
		{"ann  news@example.com", NULL, NULL}, /* two spaces: no such email */
		{" 1555 0100", NULL, NULL},             /* not a phone with its '+' */
		{"a b", "custom_id", "a b"},
	};
	struct world w;

	shared_email_start(&w);
	apply(w.th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"n-1\","
		    "\"timestamp\":\"2025-03-01T11:00:00.000Z\",\"identifiers\":{\"custom_id\":"
		    "\"N\"},\"attributes\":{\"$email_address\":\"ann+news@example.com\"}}");
	apply(w.th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"n-2\","
		    "\"timestamp\":\"2025-03-01T11:00:00.000Z\",\"identifiers\":{\"custom_id\":"
		    "\"a b\"}}");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {{{"q", rows[i].q}}};
		json_t *body = NULL, *profiles;
		const char *by;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &q, &body), 200);
		profiles = json_object_get(body, "profiles");
		by = json_string_value(json_array_get(json_object_get(body, "matched_by"), 0));
		CU_ASSERT_EQUAL(json_array_size(profiles), rows[i].by ? 1 : 0);
		if (rows[i].by) {
			CU_ASSERT_STRING_EQUAL(
				text_of(json_array_get(profiles, 0), "custom_id"), rows[i].custom_id);
			CU_ASSERT_STRING_EQUAL(by ? by : "", rows[i].by);
		}
		json_decref(body);
	}
	world_stop(&w);
}

/* A parameter the route does not read is refused, named, with the ones it
 * reads and the closest of them: ?limt=5 answered the default page, and
 * ?user_id=ann a "give one of ..." that did not say what was wrong. */
static void test_a_parameter_no_route_reads_is_named(void)
{
	static const struct {
		const char *path;
		struct pairs_query q;
		const char *message;
	} rows[] = {
		{"/v1/profiles", {{{"user_id", "ann"}}},
		 "unknown parameter \"user_id\": this route reads custom_id, installation_id,"
		 " email, phone, profile_id, q, after, limit"},
		{"/v1/profiles/p_x/events", {{{"limt", "5"}}},
		 "unknown parameter \"limt\": this route reads limit, before (did you mean"
		 " \"limit\"?)"},
		{"/v1/profiles/p_x/history", {{{"limit", "5"}, {"before", "3"}}},
		 "unknown parameter \"before\": this route reads limit, after"},
		{"/v1/sources", {{{"x\x01y", ""}}},
		 "unknown parameter \"x?y\": this route reads none"},
	};
	struct world w;

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		json_t *body = NULL, *err;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", rows[i].path, &rows[i].q, &body), 400);
		err = json_object_get(body, "error");
		CU_ASSERT_STRING_EQUAL(text_of(err, "code"), "invalid_parameter");
		CU_ASSERT_STRING_EQUAL(text_of(err, "message"), rows[i].message);
		json_decref(body);
	}
	world_stop(&w);
}

/* An array's string at i, "" when it is not one. */
static const char *text_at(const json_t *array, size_t i)
{
	const char *v = json_string_value(json_array_get(array, i));
	return v ? v : "";
}

/* ?q= is looked up as each kind of identifier it can be: "+..." as a
 * phone, "...@..." as an email. */
static void test_profiles_search_by_plus_finds_a_phone(void)
{
	static const struct {
		const char *q, *matched_by;
		size_t n_profiles;
	} rows[] = {
		{"+15550100", "phone", 1},
		{SHARED_EMAIL, "email", 2},
		{"A", "custom_id", 1},
		{"IS", "installation_id", 1},
	};
	struct world w;

	shared_email_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {{{"q", rows[i].q}}};
		json_t *body = NULL, *matched;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &q, &body), 200);
		matched = json_object_get(body, "matched_by");
		CU_ASSERT_EQUAL(json_array_size(matched), 1);
		CU_ASSERT_STRING_EQUAL(text_at(matched, 0),
				       rows[i].matched_by);
		CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "profiles")),
				rows[i].n_profiles);
		json_decref(body);
	}
	world_stop(&w);
}
/* ---- the profile document (API.md) --------------------------------------- */

/* A document's subscriptions and events, as API.md shows them: sms_transactional
 * is whether $phone_number is set (as email_transactional $email_address), push
 * lists the platforms with push on sorted (two as much as more), and events
 * holds the newest N asked for, newest first, event_count counting them all. */
static void test_a_document_shows_transactional_push_and_the_newest_n_events(void)
{
	struct testhub *th = testhub_start(NULL);
	char pid[PROFILE_ID_SIZE];
	json_t *doc = NULL, *subs, *events, *push;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"d-1\","
		  "\"timestamp\":\"2025-03-01T08:00:00.000Z\",\"identifiers\":{\"custom_id\":\"D\","
		  "\"installation_id\":\"I1\"},\"platform\":\"ios\",\"push_enabled\":true,"
		  "\"attributes\":{\"$phone_number\":\"+15550100\"}}");
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"d-2\","
		  "\"timestamp\":\"2025-03-01T08:01:00.000Z\",\"identifiers\":{\"custom_id\":\"D\","
		  "\"installation_id\":\"I2\"},\"platform\":\"android\",\"push_enabled\":true}");
	for (int i = 3; i <= 5; i++) {
		char line[512];
		snprintf(line, sizeof(line),
			 "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"d-%d\","
			 "\"timestamp\":\"2025-03-01T08:0%d:00.000Z\",\"identifiers\":"
			 "{\"custom_id\":\"D\"},\"event\":{\"name\":\"e%d\"}}",
			 i, i, i);
		apply(th, line);
	}
	CU_ASSERT_EQUAL_FATAL(pid_of(th, "D", pid), 0);
	CU_ASSERT_EQUAL_FATAL(profile_doc_build(th->reader, pid, 2, &doc), 1);

	subs = json_object_get(doc, "subscriptions");
	CU_ASSERT(json_is_true(json_object_get(subs, "sms_transactional")));
	CU_ASSERT(json_is_false(json_object_get(subs, "email_transactional")));
	push = json_object_get(subs, "push");
	CU_ASSERT_EQUAL(json_array_size(push), 2);
	CU_ASSERT_STRING_EQUAL(text_at(push, 0), "android");
	CU_ASSERT_STRING_EQUAL(text_at(push, 1), "ios");

	events = json_object_get(doc, "events");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "event_count")), 3);
	CU_ASSERT_EQUAL_FATAL(json_array_size(events), 2);
	CU_ASSERT_STRING_EQUAL(text_of(json_array_get(events, 0), "message_id"), "d-5");
	CU_ASSERT_STRING_EQUAL(text_of(json_array_get(events, 1), "message_id"), "d-4");
	CU_ASSERT_STRING_EQUAL(text_of(doc, "last_visit"), "2025-03-01T08:05:00.000Z");
	json_decref(doc);
	testhub_stop(th);
}

/* An event at 1970-01-01T00:00:00.000Z is a visit like any other: last_visit
 * shows that instant, not null (null is for a profile without events). */
static void test_an_event_at_the_epoch_is_a_last_visit(void)
{
	struct testhub *th = testhub_start(NULL);
	char pid[PROFILE_ID_SIZE];
	json_t *doc = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"z-1\","
		  "\"timestamp\":\"1970-01-01T00:00:00.000Z\",\"identifiers\":"
		  "{\"custom_id\":\"Z\"}}");
	CU_ASSERT_EQUAL_FATAL(pid_of(th, "Z", pid), 0);
	CU_ASSERT_EQUAL_FATAL(profile_doc_build(th->reader, pid, 20, &doc), 1);
	CU_ASSERT(json_is_null(json_object_get(doc, "last_visit")));
	json_decref(doc);
	apply(th, "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"z-2\","
		  "\"timestamp\":\"1970-01-01T00:00:00.000Z\",\"identifiers\":"
		  "{\"custom_id\":\"Z\"},\"event\":{\"name\":\"open\"}}");
	CU_ASSERT_EQUAL_FATAL(profile_doc_build(th->reader, pid, 20, &doc), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "event_count")), 1);
	CU_ASSERT_STRING_EQUAL(text_of(doc, "last_visit"), "1970-01-01T00:00:00.000Z");
	json_decref(doc);
	testhub_stop(th);
}

/* A lookup answers at most 50 profiles, "truncated" when more match; 50
 * matching are all answered, not truncated. */
static void test_profiles_lookup_answers_at_most_50(void)
{
	static const struct {
		const char *email;
		int n_sharing;
		size_t n_answered;
		int is_truncated;
	} rows[] = {
		{"fifty@example.com", 50, 50, 0},
		{"many@example.com", 51, 50, 1},
	};
	struct world w;
	struct strbuf sb;

	world_start(&w);
	strbuf_init(&sb);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		for (int k = 0; k < rows[i].n_sharing; k++)
			strbuf_printf(&sb,
				      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":"
				      "\"m-%zu-%d\",\"timestamp\":\"2025-03-03T08:00:00.000Z\","
				      "\"identifiers\":{\"custom_id\":\"M%zu-%d\"},\"attributes\":"
				      "{\"$email_address\":\"%s\"}}\n",
				      i, k, i, k, rows[i].email);
	CU_ASSERT_FATAL(!sb.failed);
	apply(w.th, sb.data);
	strbuf_free(&sb);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {{{"email", rows[i].email}}};
		json_t *body = NULL;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &q, &body), 200);
		CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "profiles")),
				rows[i].n_answered);
		CU_ASSERT_EQUAL(json_is_true(json_object_get(body, "truncated")),
				rows[i].is_truncated);
		json_decref(body);
	}
	world_stop(&w);
}

/* A lookup read whole with ?limit=`limit` (NULL: none, 50 a page),
 * following "next" (?after=): each page's profile IDs appended to ids (n
 * of them, at most max), every page's matched_by checked against
 * `matched`, every page but the last a full page.  The number of pages. */
static int lookup_read_pages(struct world *w, const char *by, const char *value,
			     const char *limit, const char *matched,
			     char (*ids)[PROFILE_ID_SIZE], size_t max, size_t *n)
{
	size_t page_size = limit ? strtoul(limit, NULL, 10) : 50;
	char after[64] = "";
	int n_pages = 0;

	*n = 0;
	do {
		struct pairs_query q = {{{by, value}}};
		json_t *body = NULL, *p, *next;
		size_t i, n_page, n_q = 1;
		char *m;

		if (limit)
			pairs_add(&q, &n_q, "limit", limit);
		if (after[0])
			pairs_add(&q, &n_q, "after", after);

		CU_ASSERT_EQUAL_FATAL(get_pairs(w, "GET", "/v1/profiles", &q, &body), 200);
		m = json_dumps(json_object_get(body, "matched_by"), JSON_COMPACT);
		if (strcmp(m, matched))
			fprintf(stderr, "\n  matched_by %s", m);
		CU_ASSERT_STRING_EQUAL(m, matched);
		free(m);
		n_page = json_array_size(json_object_get(body, "profiles"));
		json_array_foreach(json_object_get(body, "profiles"), i, p) {
			CU_ASSERT_FATAL(*n < max);
			snprintf(ids[(*n)++], PROFILE_ID_SIZE, "%s", text_of(p, "profile_id"));
		}
		next = json_object_get(body, "next");
		CU_ASSERT(json_is_null(next) || (json_is_string(next) && n_page == page_size));
		CU_ASSERT_EQUAL(json_is_true(json_object_get(body, "truncated")),
				json_is_string(next));
		snprintf(after, sizeof(after), "%s", json_is_string(next) ? json_string_value(next)
									  : "");
		json_decref(body);
		n_pages++;
	} while (after[0] && n_pages < 10);
	return n_pages;
}

/* lookup_read_pages() at 50 a page, the default. */
static int lookup_read_whole(struct world *w, const char *by, const char *value,
			     const char *matched, char (*ids)[PROFILE_ID_SIZE], size_t max,
			     size_t *n)
{
	return lookup_read_pages(w, by, value, NULL, matched, ids, max, n);
}

/* How many of ids[0..n) are the same as one before them. */
static size_t ids_repeated(char (*ids)[PROFILE_ID_SIZE], size_t n)
{
	size_t repeated = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			repeated += strcmp(ids[i], ids[j]) == 0;
	return repeated;
}

/* Past 50 matches a lookup pages: "next" is a cursor for ?after= while more
 * follow, and following it lists every matching profile once, in the first
 * page's order (the email's holders by ID, then the other kinds'). */
static void test_profiles_lookup_pages_past_50(void)
{
	char ids[200][PROFILE_ID_SIZE], pid[PROFILE_ID_SIZE];
	struct strbuf sb;
	struct world w;
	size_t n;

	world_start(&w);
	strbuf_init(&sb);
	for (int k = 0; k < 120; k++) { /* the last one's custom_id is the email too */
		char custom_id[32];
		snprintf(custom_id, sizeof(custom_id), k == 119 ? "crowd@example.com" : "PG-%d", k);
		strbuf_printf(&sb,
			      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":"
			      "\"pg-%d\",\"timestamp\":\"2025-03-03T08:00:00.000Z\","
			      "\"identifiers\":{\"custom_id\":\"%s\"},\"attributes\":"
			      "{\"$email_address\":\"crowd@example.com\"}}\n",
			      k, custom_id);
	}
	strbuf_printf(&sb, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":"
			   "\"pg-i\",\"timestamp\":\"2025-03-03T08:00:00.000Z\","
			   "\"identifiers\":{\"installation_id\":\"crowd@example.com\"}}\n");
	CU_ASSERT_FATAL(!sb.failed);
	apply(w.th, sb.data);
	strbuf_free(&sb);

	CU_ASSERT_EQUAL(lookup_read_whole(&w, "email", "crowd@example.com", "[\"email\"]", ids,
					  200, &n), 3);
	CU_ASSERT_EQUAL(n, 120);
	CU_ASSERT_EQUAL(ids_repeated(ids, n), 0);
	for (size_t i = 1; i < n; i++) /* by profile ID, across pages too */
		CU_ASSERT(strcmp(ids[i - 1], ids[i]) < 0);

	/* ?q=: the email's 120, then the installation's profile (the custom
	 * ID's is one of the 120, listed once) */
	CU_ASSERT_EQUAL(lookup_read_whole(&w, "q", "crowd@example.com",
					  "[\"email\",\"custom_id\",\"installation_id\"]", ids,
					  200, &n), 3);
	CU_ASSERT_EQUAL_FATAL(n, 121);
	CU_ASSERT_EQUAL(ids_repeated(ids, n), 0);
	CU_ASSERT_EQUAL_FATAL(
		profile_find(w.th->reader, "installation_id", "crowd@example.com", &pid, 1), 1);
	CU_ASSERT_STRING_EQUAL(ids[120], pid);
	world_stop(&w);
}

/* A lookup takes ?limit= (1 to 50) as the events feed and the history do:
 * it was refused as an unknown parameter, so a client paging every list
 * route the same way could not page lookups.  Pages of 5 list what one
 * page of 50 lists, in the same order; a limit out of range is a 400
 * naming it. */
static void test_profiles_lookup_takes_a_limit(void)
{
	static const char *const bad[] = {"0", "51", "x", "-1", " 5"};
	char all[20][PROFILE_ID_SIZE], paged[20][PROFILE_ID_SIZE];
	struct strbuf sb;
	struct world w;
	size_t n_all, n_paged;

	world_start(&w);
	strbuf_init(&sb);
	for (int k = 0; k < 12; k++)
		strbuf_printf(&sb,
			      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":"
			      "\"lim-%d\",\"timestamp\":\"2025-03-03T08:00:00.000Z\","
			      "\"identifiers\":{\"custom_id\":\"LIM-%d\"},\"attributes\":"
			      "{\"$email_address\":\"twelve@example.com\"}}\n",
			      k, k);
	CU_ASSERT_FATAL(!sb.failed);
	apply(w.th, sb.data);
	strbuf_free(&sb);

	CU_ASSERT_EQUAL(lookup_read_whole(&w, "email", "twelve@example.com", "[\"email\"]",
					  all, 20, &n_all), 1);
	CU_ASSERT_EQUAL_FATAL(n_all, 12);
	CU_ASSERT_EQUAL(lookup_read_pages(&w, "email", "twelve@example.com", "5",
					  "[\"email\"]", paged, 20, &n_paged), 3);
	CU_ASSERT_EQUAL_FATAL(n_paged, 12);
	for (size_t i = 0; i < n_all; i++)
		CU_ASSERT_STRING_EQUAL(paged[i], all[i]);
	CU_ASSERT_EQUAL(lookup_read_pages(&w, "email", "twelve@example.com", "12",
					  "[\"email\"]", paged, 20, &n_paged), 1);
	CU_ASSERT_EQUAL(n_paged, 12);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct pairs_query q = {{{"email", "twelve@example.com"}, {"limit", bad[i]}}};

		get_error_is(&w, "/v1/profiles", &q, 400, "invalid_parameter",
			     "limit must be a number from 1 to 50");
	}
	world_stop(&w);
}

/* A cursor not of a previous page's next is a 400 naming after. */
static void test_profiles_lookup_refuses_a_bad_cursor(void)
{
	static const char *const bad[] = {
		"", "x", "0", "0.", "0.p_x", "9.p_aaaaaaaaaaaaaaaa", "-1.p_aaaaaaaaaaaaaaaa",
		" 0.p_aaaaaaaaaaaaaaaa", "0.p_aaaaaaaaaaaaaaaa.", "99999999999999999999.p_a",
	};
	struct world w;

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct pairs_query q = {{{"email", "a@example.com"}, {"after", bad[i]}}};
		json_t *body = NULL, *error;
		const char *message;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", "/v1/profiles", &q, &body), 400);
		error = json_object_get(body, "error");
		message = json_string_value(json_object_get(error, "message"));
		CU_ASSERT_STRING_EQUAL(text_of(error, "code"), "invalid_cursor");
		CU_ASSERT(message && strncmp(message, "after", 5) == 0);
		json_decref(body);
	}
	world_stop(&w);
}

/* ---- GET /v1/profiles/<id>/events ------------------------------------------ */

#define N_FEED_EVENTS 210

/* "F" on installation "IF" with N_FEED_EVENTS track events: its ID into pid. */
static void feed_add(struct world *w, char pid[PROFILE_ID_SIZE])
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"f-0\","
			   "\"timestamp\":\"2025-03-04T08:00:00.000Z\",\"identifiers\":"
			   "{\"custom_id\":\"F\",\"installation_id\":\"IF\"}}\n");
	for (int i = 1; i <= N_FEED_EVENTS; i++)
		strbuf_printf(&sb,
			      "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"f-%d\","
			      "\"timestamp\":\"2025-03-04T09:%02d:%02d.000Z\",\"identifiers\":"
			      "{\"installation_id\":\"IF\"},\"event\":{\"name\":\"e\"}}\n",
			      i, i / 60, i % 60);
	CU_ASSERT_FATAL(!sb.failed);
	apply(w->th, sb.data);
	strbuf_free(&sb);
	CU_ASSERT_EQUAL_FATAL(pid_of(w->th, "F", pid), 0);
}

/* The events feed: 50 events by default, ?limit= from 1 to 200, and a
 * ?before= only as a page's next makes it: no negative seq, no NUL byte in
 * its message ID (read as a C string, it would stand for its prefix). */
static void test_events_limit_is_1_to_200_and_bad_cursors_are_400(void)
{
	static const struct {
		const char *limit, *before;
		int status;
		const char *code;
		size_t n_events;
	} rows[] = {
		{NULL, NULL, 200, "", 50},
		{"1", NULL, 200, "", 1},
		{"200", NULL, 200, "", 200},
		{"201", NULL, 400, "invalid_parameter", 0},
		{"0", NULL, 400, "invalid_parameter", 0},
		{NULL, "1.1.66", 200, "", 0},
		{NULL, "1.-1.66", 400, "invalid_cursor", 0},
		{NULL, "1.1.6600", 400, "invalid_cursor", 0},
		{NULL, "1.1.00", 400, "invalid_cursor", 0},
	};
	struct world w;
	char pid[PROFILE_ID_SIZE], path[128];

	world_start(&w);
	feed_add(&w, pid);
	snprintf(path, sizeof(path), "/v1/profiles/%s/events", pid);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {0};
		size_t n = 0;
		json_t *body = NULL;
		int status;
		const char *code;

		if (rows[i].limit)
			pairs_add(&q, &n, "limit", rows[i].limit);
		if (rows[i].before)
			pairs_add(&q, &n, "before", rows[i].before);
		status = get_pairs(&w, "GET", path, &q, &body);
		code = text_of(json_object_get(body, "error"), "code");
		if (status != rows[i].status)
			fprintf(stderr, "\n  row %zu: %d %s", i, status, code);
		CU_ASSERT_EQUAL(status, rows[i].status);
		CU_ASSERT_STRING_EQUAL(code, rows[i].code);
		if (status == 200)
			CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "events")),
					rows[i].n_events);
		json_decref(body);
	}
	world_stop(&w);
}

/* ---- sources, exports and routes ------------------------------------------ */

/* Providers: a source "crm"; exports "pg" (3 dead letters retried) and
 * "slow" (no profile updates to backfill).  The sources' status is the
 * whole object, the exports' the bare list. */
static json_t *fake_sources_status(void *ctx)
{
	(void)ctx;
	return json_pack("{s:[{s:s}]}", "sources", "name", "crm");
}

static json_t *fake_exports_status(void *ctx)
{
	(void)ctx;
	return json_pack("[{s:s}]", "name", "pg");
}

/* world_start() with the API's providers those given. */
static void world_start_providers(struct world *w, const struct api_providers *providers)
{
	char err[512];

	world_start(w);
	api_close(w->api);
	CU_ASSERT_EQUAL_FATAL(api_open(&w->api, w->th->cfg, w->th->intake, providers, err,
				       sizeof(err)), 0);
}

static int fake_trigger_full = -1; /* the last trigger's is_full */

static int fake_source_trigger(void *ctx, const char *name, int is_full)
{
	(void)ctx;
	fake_trigger_full = is_full;
	return strcmp(name, "crm") == 0 ? 0 : -1;
}

static int fake_export_backfill(void *ctx, const char *name, int *why, char *err,
				size_t err_size)
{
	(void)ctx;
	if (strcmp(name, "pg") == 0)
		return 0;
	*why = strcmp(name, "slow") == 0 ? EXPORT_BACKFILL_NO_UPDATES : EXPORT_BACKFILL_NO_EXPORT;
	snprintf(err, err_size, "export %s cannot be backfilled", name);
	return 1;
}

static int fake_export_retry(void *ctx, const char *name, int *why, int64_t *n_retried,
			     char *err, size_t err_size)
{
	(void)ctx;
	if (strcmp(name, "pg") == 0) {
		*n_retried = 3;
		return 0;
	}
	if (strcmp(name, "retired") == 0) {
		*why = EXPORT_NOT_RUNNING;
		snprintf(err, err_size, "export %s is not in this configuration and no process"
			 " runs it now", name);
		return 1;
	}
	*why = EXPORT_BACKFILL_NO_EXPORT;
	snprintf(err, err_size, "no export %s", name);
	return 1;
}

/* Each route's answer: a sync is queued (202), a backfill requested (202)
 * or refused for an export without profile updates (409), an unknown name
 * a 404; a path with a segment more or less than a route's is no route,
 * saying so of a trailing '/' and pointing a profile's own path to the
 * lookup (both were a bare "no such route");
 * a provider's status is answered as {"<key>": [...]} whether it gives the
 * list or the whole object; a body is kept for a POST of a privacy
 * request only; and only /v1/ paths need a token. */
static void test_routes_answer_their_status_and_others_are_no_route(void)
{
	static const struct {
		const char *method, *path; /* "~": /v1/profiles/<H's ID> */
		int status;
		const char *code;    /* "": none */
		const char *message; /* NULL: not checked */
	} rows[] = {
		{"POST", "/v1/sources/crm/sync", 202, "", NULL},
		{"POST", "/v1/sources/nope/sync", 404, "not_found", NULL},
		{"POST", "/v1/sources/crm/x/sync", 404, "not_found", "no such route"},
		{"POST", "/v1/exports/pg/backfill", 202, "", NULL},
		{"POST", "/v1/exports/slow/backfill", 409, "no_profile_updates", NULL},
		{"POST", "/v1/exports/nope/backfill", 404, "not_found", NULL},
		{"POST", "/v1/exports/pg/dead_letters/retry", 200, "", NULL},
		{"POST", "/v1/exports/nope/dead_letters/retry", 404, "not_found", NULL},
		{"POST", "/v1/exports/retired/dead_letters/retry", 409, "not_running",
		 "export retired is not in this configuration and no process runs it now"},
		{"GET", "/v1/privacy/requests/pr_0123456789abcdef/x", 404, "not_found",
		 "no such route"},
		/* a malformed request ID is a 400 naming what one looks like, as a
		 * malformed profile ID is; a well-formed one nobody made a 404 */
		{"GET", "/v1/privacy/requests/zzz", 400, "invalid_parameter",
		 "id: \"zzz\" is not a privacy request ID (pr_ and 16 hex digits, a-f"
		 " lowercase, as POST /v1/privacy/requests answers in \"id\")"},
		{"GET", "/v1/privacy/requests/pr_0123456789ABCDEF", 400, "invalid_parameter", NULL},
		{"GET", "/v1/privacy/requests/pr_0123456789abcde", 400, "invalid_parameter", NULL},
		{"GET", "/v1/privacy/requests/pr_0123456789abcdef", 404, "not_found",
		 "no privacy request pr_0123456789abcdef"},
		{"GET", "~/events/x", 404, "not_found", "no such route"},
		{"GET", "~/eventsx", 404, "not_found", "no such route"},
		{"GET", "~/history/x", 404, "not_found", "no such route"},
		{"GET", "/v1/profiles/", 404, "not_found",
		 "no such route (no route's path ends in '/')"},
		{"GET", "/v1/sources/", 404, "not_found",
		 "no such route (no route's path ends in '/')"},
		{"POST", "/v1/privacy/requests/", 404, "not_found",
		 "no such route (no route's path ends in '/')"},
		{"GET", "/v1/profiles/p_x", 404, "not_found",
		 "no such route: a profile is read by a lookup, GET /v1/profiles?profile_id=p_x"},
	};
	static const char *const statuses[][2] = {{"/v1/sources", "sources"},
						  {"/v1/exports", "exports"}};
	struct api_providers providers = {
		.sources_status = fake_sources_status, .source_trigger = fake_source_trigger,
		.exports_status = fake_exports_status, .export_backfill = fake_export_backfill,
		.export_retry = fake_export_retry};
	struct world w;
	struct api_response resp;

	world_start_providers(&w, &providers);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {0};
		json_t *body = NULL, *error;
		char path[128];
		int status;

		if (rows[i].path[0] == '~')
			snprintf(path, sizeof(path), "/v1/profiles/%s%s", w.pid, rows[i].path + 1);
		else
			snprintf(path, sizeof(path), "%s", rows[i].path);
		status = get_pairs(&w, rows[i].method, path, &q, &body);
		error = json_object_get(body, "error");
		if (status != rows[i].status)
			fprintf(stderr, "\n  %s %s: %d", rows[i].method, path, status);
		CU_ASSERT_EQUAL(status, rows[i].status);
		CU_ASSERT_STRING_EQUAL(text_of(error, "code"), rows[i].code);
		if (rows[i].message)
			CU_ASSERT_STRING_EQUAL(text_of(error, "message"), rows[i].message);
		json_decref(body);
	}
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++) {
		struct pairs_query q = {0};
		json_t *body = NULL, *list;

		CU_ASSERT_EQUAL(get_pairs(&w, "GET", statuses[i][0], &q, &body), 200);
		CU_ASSERT_EQUAL(json_object_size(body), 1);
		list = json_object_get(body, statuses[i][1]);
		CU_ASSERT_EQUAL(json_array_size(list), 1);
		CU_ASSERT(json_is_string(json_object_get(json_array_get(list, 0), "name")));
		json_decref(body);
	}
	CU_ASSERT_EQUAL(api_wants_body("POST", "/v1/privacy/requests"), 1);
	CU_ASSERT_EQUAL(api_wants_body("GET", "/v1/privacy/requests"), 0);
	CU_ASSERT_EQUAL(api_wants_body("POST", "/v1/sources/crm/sync"), 0);
	CU_ASSERT_EQUAL(api_authorize(w.api, "/v1", NULL, &resp), 0);
	CU_ASSERT_EQUAL(api_authorize(w.api, "/v1beta/x", NULL, &resp), 0);
	CU_ASSERT_EQUAL(api_authorize(w.api, "/v1/sources", NULL, &resp), 1);
	CU_ASSERT_EQUAL(resp.status, 401);
	api_response_free(&resp);
	world_stop(&w);
}

/* POST /v1/sources/<name>/sync?full=true asks the scheduler for a full
 * sync, answered "full": true; false or none an incremental one; another
 * value is a 400 naming it, nothing queued.  ?full was refused as an
 * unknown parameter: only `profilehub sync --full` could resync. */
static void test_sync_full_is_asked_of_the_trigger(void)
{
	static const struct {
		const char *value; /* NULL: not sent */
		int status, is_full;
	} rows[] = {{NULL, 202, 0}, {"false", 202, 0}, {"true", 202, 1}, {"yes", 400, -1},
		    {"1", 400, -1}, {"", 400, -1}};
	struct api_providers providers = {.source_trigger = fake_source_trigger};
	struct world w;

	world_start_providers(&w, &providers);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct pairs_query q = {0};
		json_t *body = NULL;
		size_t n = 0;

		if (rows[i].value)
			pairs_add(&q, &n, "full", rows[i].value);
		fake_trigger_full = -1;
		CU_ASSERT_EQUAL(get_pairs(&w, "POST", "/v1/sources/crm/sync", &q, &body),
				rows[i].status);
		CU_ASSERT_EQUAL(fake_trigger_full, rows[i].is_full);
		if (rows[i].status == 202) {
			CU_ASSERT(json_equal(json_object_get(body, "full"),
					     rows[i].is_full ? json_true() : json_false()));
		} else {
			CU_ASSERT_PTR_NOT_NULL(strstr(text_of(json_object_get(body, "error"),
							      "message"), "full"));
		}
		json_decref(body);
	}
	world_stop(&w);
}

/* A status provider that cannot answer: GET /v1/exports reads the store on
 * a connection of its own, and with PostgreSQL away it has no list.  The
 * answer is the 503 store_unavailable of every route that cannot read the
 * store, not a 500 "internal" (what it was: an operator read a hub bug). */
static json_t *fake_status_unavailable(void *ctx)
{
	(void)ctx;
	return NULL;
}

static void test_a_status_that_cannot_be_read_is_a_503_store_unavailable(void)
{
	static const char *const paths[] = {"/v1/sources", "/v1/exports"};
	struct api_providers providers = {.sources_status = fake_status_unavailable,
					  .exports_status = fake_status_unavailable};
	struct world w;

	world_start_providers(&w, &providers);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		struct pairs_query q = {0};

		get_error_is(&w, paths[i], &q, 503, "store_unavailable",
			     "the store cannot be read; see the hub's log");
	}
	world_stop(&w);
}

/*
 * A response with no room left for a header (more than it holds: a bug of
 * the hub, here made by lowering the limit) is a 500 naming the header in
 * the log, never the answer without it.  The header was dropped without a
 * word: the page went out without its Referrer-Policy, a 401 without
 * X-Content-Type-Options.  With the limit as built every answer keeps all
 * of its headers.
 */
static void test_a_response_out_of_room_for_a_header_is_a_500(void)
{
	static const struct {
		size_t max;
		const char *path, *authorization;
		int status;
		const char *lost; /* logged; NULL: nothing lost */
		const char *kept; /* a header the answer has */
	} rows[] = {
		{0, "/", NULL, 200, NULL, "Referrer-Policy"},
		{0, "/v1/profiles", NULL, 401, NULL, "WWW-Authenticate"},
		{4, "/", NULL, 500,
		 "a response holds at most 4 headers: Referrer-Policy found it full",
		 "Cache-Control"},
		{2, "/v1/profiles", NULL, 500,
		 "a response holds at most 2 headers: X-Content-Type-Options found it full",
		 "Cache-Control"},
		{2, "/v1/sources", "Bearer " API_TOKEN, 200, NULL, "X-Content-Type-Options"},
	};
	struct world w;

	world_start(&w);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct api_request req = {.method = "GET", .path = rows[i].path,
					  .authorization = rows[i].authorization};
		struct api_response resp;
		struct testlib_capture cap;
		char *logged;

		api_set_headers_max(rows[i].max);
		testlib_capture_begin(&cap);
		CU_ASSERT_EQUAL(api_handle(w.api, &req, &resp), 1);
		logged = testlib_capture_end(&cap);
		api_set_headers_max(0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
		CU_ASSERT_EQUAL(resp.status, rows[i].status);
		CU_ASSERT_PTR_NOT_NULL(header_of(&resp, rows[i].kept));
		if (rows[i].lost) {
			CU_ASSERT_PTR_NOT_NULL(strstr(logged, rows[i].lost));
			CU_ASSERT_PTR_NOT_NULL(resp.body ? strstr(resp.body, "\"internal\"")
							 : NULL);
			CU_ASSERT_STRING_EQUAL(header_of(&resp, "Cache-Control"), "no-store");
		} else {
			CU_ASSERT_STRING_EQUAL(logged, "");
		}
		free(logged);
		api_response_free(&resp);
	}
	world_stop(&w);
}

TEST_SUITE(api, NULL, NULL,
	   TEST(test_history_is_read_in_pages_that_join_up),
	   TEST(test_history_exactly_a_page_has_no_next),
	   TEST(test_history_bad_parameters_are_400_unknown_profiles_404),
	   TEST(test_listing_whose_store_fails_is_a_500),
	   TEST(test_bytes_not_utf8_are_refused_or_not_found),
	   TEST(test_privacy_requests_without_randomness_are_503),
	   TEST(test_an_erase_not_committed_says_nothing_was_erased),
	   TEST(test_privacy_request_with_unknown_member_is_refused),
	   TEST(test_privacy_request_names_an_identifier_that_is_no_string),
	   TEST(test_privacy_requests_by_a_merged_profile_id_take_the_survivor),
	   TEST(test_an_access_document_names_the_exports_as_recipients),
	   TEST(test_privacy_request_by_email_says_how_to_find_the_person),
	   TEST(test_api_without_tokens_says_none_is_set),
	   TEST(test_api_without_tokens_401_says_none_is_set),
	   TEST(test_api_basic_auth_401_points_to_the_sources),
	   TEST(test_store_unavailable_names_its_path_in_the_log_only),
	   TEST(test_out_of_memory_fails_a_profile_document_whole),
	   TEST(test_a_response_out_of_room_for_a_header_is_a_500),
	   TEST(test_profiles_lookup_takes_one_parameter_with_a_value),
	   TEST(test_profiles_lookup_errors_name_the_external_ids),
	   TEST(test_profiles_lookup_error_elides_what_does_not_fit),
	   TEST(test_profiles_lookup_error_names_a_last_key_that_fits),
	   TEST(test_a_parameter_no_route_reads_is_named),
	   TEST(test_profiles_lookup_of_a_plus_sent_as_is_says_send_2b),
	   TEST(test_profiles_search_of_a_plus_sent_as_is_finds_the_person),
	   TEST(test_profiles_search_by_plus_finds_a_phone),
	   TEST(test_profiles_lookup_answers_at_most_50),
	   TEST(test_profiles_lookup_pages_past_50),
	   TEST(test_profiles_lookup_takes_a_limit),
	   TEST(test_profiles_lookup_refuses_a_bad_cursor),
	   TEST(test_a_document_shows_transactional_push_and_the_newest_n_events),
	   TEST(test_an_event_at_the_epoch_is_a_last_visit),
	   TEST(test_events_limit_is_1_to_200_and_bad_cursors_are_400),
	   TEST(test_routes_answer_their_status_and_others_are_no_route),
	   TEST(test_sync_full_is_asked_of_the_trigger),
	   TEST(test_a_status_that_cannot_be_read_is_a_503_store_unavailable))
