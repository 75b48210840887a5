/*
 * fuzz_api.c - libFuzzer target for the management API's reading of a
 * request (hub/api.c and hub/api_profiles.c, compiled in so their static
 * parsers can be called):
 * api_authorize() and api_handle() on a fake request, over a real SQLite
 * store seeded with a few profiles (a temp dir, made once), and the
 * parsers alone: the events cursor (cursor_parse / cursor_make), the
 * history cursor (history_cursor_parse), ?limit=,
 * the path ids (path_profile, path_named) and http_auth_bearer().
 *
 * No HTTP library: the request is what http_request.c would hand over (the path
 * without its query, decoded query values, the Authorization header, the
 * body).  The store is only read, but for an access request's record (a
 * meta row under a random ID no other input can name): an erase request's
 * record is validated as the real one is but never submitted (its pending
 * answer is settled as the transport would, committed or refused by a busy
 * intake, by the input's size), so every input sees the same data and a
 * crash replays.
 *
 * The input:
 *
 *   byte 0   bits 0-2  method: GET POST HEAD PUT DELETE OPTIONS GET POST
 *            bits 3-4  Authorization: 0 "Bearer <token>", 1 "bearer
 *                      <second token>" (case and spaces), 2 line 2 below,
 *                      3 none
 *   byte 1   the path (mod 13): 0 line 1 as it is, /v1/profiles,
 *            /v1/profiles/<line 1>/events, /v1/profiles/<seeded>/events,
 *            /v1/profiles/<line 1>/history, /v1/profiles/<seeded>/history,
 *            /v1/privacy/requests, /v1/privacy/requests/<line 1>,
 *            /v1/sources/<line 1>/sync, /v1/sources, /v1/exports, /<line 1>,
 *            /v1/exports/<line 1>/dead_letters (export "feed" configured)
 *   rest     up to a NUL (a header holds none), lines (\n): line 1,
 *            line 2, then query parameters "key=value" up to an empty
 *            line (in a value, "%00" is a NUL byte, as http_request.c hands a
 *            decoded one over); what follows is the body
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - a query value with a NUL byte that the route read answered other
 *     than 400 invalid_parameter "<key>: contains a NUL byte";
 *   - an answer with a status outside 200..599, no content type, a /v1
 *     body that is not JSON (a streamed one is read to its end first: one
 *     that breaks off is a finding too), an error without error.code and
 *     message;
 *   - a /v1 answer other than 401/403 without a valid token, or 401/403
 *     with one; api_authorize() and api_handle() disagreeing;
 *   - a route that takes no body (api_wants_body) answering differently
 *     with and without one;
 *   - http_auth_bearer() differing from a plain model of its rule;
 *   - a cursor that parses but does not come back the same through
 *     cursor_make(), or one made by cursor_make() that does not parse;
 *   - a history cursor that parses to a negative seq or does not come back
 *     the same through "%lld", or a seq >= 0 written so that does not parse;
 *   - a limit accepted outside 1..200 (events) or 1..1000 (history), a path
 *     id that is empty, too long or holds a '/'.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/api/ when
 *                  there are any)
 */
#include "../../hub/api.c"
#include "../../hub/api_profiles.c"

#include "config.h"
#include "http_auth.h"
#include "intake.h"
#include "log.h"
#include "profile.h"
#include "record.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FUZZ_TOKEN "fuzz-token-1"
#define FUZZ_TOKEN2 "second"
#define MAX_PARAMS 16

/* ---- the world: a store seeded once ------------------------------------- */

static const char seed_records[] =
	"{\"type\":\"identify\",\"message_id\":\"a1\",\"timestamp\":\"2025-03-01T10:00:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"ann\",\"installation_id\":\"I1\"},\"platform\":\"ios\","
	"\"attributes\":{\"plan\":\"gold\",\"$email_address\":\"ann@example.com\","
	"\"$phone_number\":\"+33612345678\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"a2\",\"timestamp\":\"2025-03-01T10:01:00.000Z\","
	"\"identifiers\":{\"installation_id\":\"I1\"},\"event\":{\"name\":\"purchase\","
	"\"properties\":{\"price\":9}}}\n"
	"{\"type\":\"track\",\"message_id\":\"a3\",\"timestamp\":\"1969-12-31T23:59:59.000Z\","
	"\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"old\"}}\n"
	"{\"type\":\"track\",\"message_id\":\"a4\",\"timestamp\":\"2025-03-01T10:01:00.000Z\","
	"\"identifiers\":{\"custom_id\":\"ann\"},\"event\":{\"name\":\"tie\"}}\n"
	"{\"type\":\"identify\",\"message_id\":\"b1\",\"identifiers\":{\"custom_id\":\"bob\","
	"\"installation_id\":\"I2\"},\"attributes\":{\"$email_address\":\"ann@example.com\"}}\n";

static struct hub_config *cfg;
static struct api *api;
static char *dir;
static char seeded[PROFILE_ID_SIZE]; /* ann's profile ID */

static json_t *fake_sources(void *ctx)
{
	(void)ctx;
	return json_pack("[{s:s}]", "name", "wh");
}

static int fake_trigger(void *ctx, const char *name, int is_full)
{
	(void)ctx;
	(void)is_full;
	return strcmp(name, "wh") == 0 ? 0 : -1;
}

static json_t *fake_exports(void *ctx)
{
	(void)ctx;
	return json_pack("{s:[]}", "exports");
}

/* POST /v1/exports/<name>/backfill: "feed" takes one, "events" takes no
 * profile_updated, any other name is unknown. */
static int fake_backfill(void *ctx, const char *name, int *why, char *err, size_t err_size)
{
	(void)ctx;
	*why = strcmp(name, "feed") == 0     ? EXPORT_BACKFILL_OK
	       : strcmp(name, "events") == 0 ? EXPORT_BACKFILL_NO_UPDATES
					     : EXPORT_BACKFILL_NO_EXPORT;
	snprintf(err, err_size, "export %s: refused", name);
	return *why == EXPORT_BACKFILL_OK ? 0 : 1;
}

static int fake_retry(void *ctx, const char *name, int *why, int64_t *n_retried, char *err,
		      size_t err_size)
{
	(void)ctx;
	*n_retried = 0;
	*why = strcmp(name, "feed") == 0 ? EXPORT_BACKFILL_OK : EXPORT_BACKFILL_NO_EXPORT;
	snprintf(err, err_size, "export %s: refused", name);
	return *why == EXPORT_BACKFILL_OK ? 0 : 1;
}

static void fuzz_cleanup(void)
{
	static const char *const files[] = {"hub.db", "hub.db-wal", "hub.db-shm", "hub.db-journal"};
	char path[512];

	api_close(api);
	config_free(cfg);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	free(dir);
}

/* Every seeded record through the intake, then ann's profile ID. */
static void seed(struct intake *in, struct store *reader)
{
	struct record_rules rules = {0};
	struct record *recs[8];
	struct intake_batch b = {.records = recs};
	char ids[1][PROFILE_ID_SIZE], err[512];
	const char *p = seed_records;

	while (*p) {
		const char *end = strchr(p, '\n');
		if (record_from_json(p, (size_t)(end - p), "fuzz", &rules, 1741000000000LL,
				     &recs[b.n_records], NULL, err, sizeof(err)) != HUB_OK) {
			fprintf(stderr, "fuzz_api: seed record: %s\n", err);
			abort();
		}
		b.n_records++;
		p = end + 1;
	}
	if (intake_submit(in, &b) != HUB_OK || intake_wait(in, &b) != HUB_OK)
		abort();
	for (size_t i = 0; i < b.n_records; i++)
		record_free(recs[i]);
	if (profile_find(reader, "custom_id", "ann", ids, 1) != 1)
		abort();
	memcpy(seeded, ids[0], sizeof(seeded));
}

static void fuzz_init(void)
{
	struct api_providers providers = {
		.sources_status = fake_sources,
		.source_trigger = fake_trigger,
		.exports_status = fake_exports,
		.export_backfill = fake_backfill,
		.export_retry = fake_retry,
	};
	struct store *writer = NULL, *reader = NULL;
	struct intake *in = NULL;
	char tmpl[] = "/tmp/fuzz_api.XXXXXX", err[1024], *yaml;

	log_set_level(HUB_LOG_ERROR);
	if (!mkdtemp(tmpl) || !(dir = strdup(tmpl)))
		abort();
	if (asprintf(&yaml,
		     "store:\n  driver: sqlite\n  path: %s/hub.db\n"
		     "api:\n  tokens: [\"" FUZZ_TOKEN "\", \"" FUZZ_TOKEN2 "\"]\n"
		     "exports:\n  - {name: feed, plugin: jsonl, path: %s/feed.jsonl}\n",
		     dir, dir) < 0)
		abort();
	if (config_load_string("fuzz.yaml", yaml, &cfg, err, sizeof(err)) ||
	    store_open(cfg, &writer, err, sizeof(err)) ||
	    intake_start(&in, writer, cfg, err, sizeof(err)) ||
	    store_open(cfg, &reader, err, sizeof(err))) {
		fprintf(stderr, "fuzz_api: %s\n", err);
		abort();
	}
	free(yaml);
	seed(in, reader);
	store_close(reader);
	intake_stop(in); /* the API only reads from now on */
	if (api_open(&api, cfg, NULL, &providers, err, sizeof(err)))
		abort();
	atexit(fuzz_cleanup);
}

/* ---- the request -------------------------------------------------------- */

struct fuzz_req {
	struct api_request req;
	const char *keys[MAX_PARAMS], *values[MAX_PARAMS];
	size_t value_lens[MAX_PARAMS];
	size_t n_params;
	int *has_read_nul;         /* a value with a NUL byte was read */
};

static const char *fuzz_query(const struct api_request *req, const char *key, size_t *len,
			      size_t *n_sent)
{
	const struct fuzz_req *f = (const struct fuzz_req *)req;
	const char *first = NULL;

	*len = 0;
	*n_sent = 0;
	for (size_t i = 0; i < f->n_params; i++) {
		if (strcmp(f->keys[i], key) != 0)
			continue;
		if (!first) {
			first = f->values[i];
			*len = f->value_lens[i];
			if (memchr(first, '\0', *len))
				*f->has_read_nul = 1;
		}
		(*n_sent)++;
	}
	return first;
}

/* A query value's "%00" is a NUL byte, as http_request.c hands a decoded one over:
 * decoded in place.  Returns the value's length. */
static size_t nul_decode(char *v)
{
	char *out = v;

	for (const char *in = v; *in;) {
		if (strncmp(in, "%00", 3) == 0) {
			*out++ = '\0';
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - v);
}

/* The next line of *p (NUL-terminated in place); NULL at the end. */
static char *next_line(char **p, char *end)
{
	char *line = *p, *nl;

	if (line >= end)
		return NULL;
	nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl)
		nl = end;
	*nl = '\0';
	*p = nl + 1;
	return line;
}

static char *path_of(unsigned pick, const char *piece)
{
	/* each path: head, then the piece when there is a tail (or head is "/") */
	static const char *const forms[][2] = {
		{"", ""},
		{"/v1/profiles", NULL},
		{"/v1/profiles/", "/events"},
		{"/v1/profiles/", "/events"},
		{"/v1/profiles/", "/history"},
		{"/v1/profiles/", "/history"},
		{"/v1/privacy/requests", NULL},
		{"/v1/privacy/requests/", ""},
		{"/v1/sources/", "/sync"},
		{"/v1/sources", NULL},
		{"/v1/exports", NULL},
		{"/", ""},
		{"/v1/exports/", "/dead_letters"},
	};
	char *out;

	pick %= sizeof(forms) / sizeof(forms[0]);
	if (pick == 3 || pick == 5)
		piece = seeded;
	if (asprintf(&out, "%s%s%s", forms[pick][0], forms[pick][1] ? piece : "",
		     forms[pick][1] ? forms[pick][1] : "") < 0)
		abort();
	return out;
}

/* ---- the checks --------------------------------------------------------- */

/* The rule of http_auth_bearer(), written plainly. */
static int bearer_model(const char *h)
{
	size_t len;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	h += strspn(h, " \t"); /* blanks, as after the token (http_auth.c) */
	len = strlen(h);
	while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	return (len == strlen(FUZZ_TOKEN) && memcmp(h, FUZZ_TOKEN, len) == 0) ||
	       (len == strlen(FUZZ_TOKEN2) && memcmp(h, FUZZ_TOKEN2, len) == 0);
}

static void check_answer(const struct api_request *req, const struct api_response *resp,
			 int handled)
{
	json_t *doc, *error;

	if (!handled)
		return;
	if (resp->status < 200 || resp->status > 599 || !resp->content_type)
		abort();
	if (!resp->body && !resp->static_body && resp->body_len)
		abort();
	if (resp->body && strlen(resp->body) != resp->body_len)
		abort();
	if (strncmp(req->path, "/v1/", 4) != 0 && resp->status < 400)
		return; /* a page */
	doc = json_loads(resp->body ? resp->body : (const char *)resp->static_body, 0, NULL);
	if (!json_is_object(doc))
		abort();
	error = json_object_get(doc, "error");
	if (resp->status >= 400 && (!json_is_string(json_object_get(error, "code")) ||
				    !json_is_string(json_object_get(error, "message"))))
		abort();
	json_decref(doc);
}

/* The 400 of a query value with a NUL byte: the route refuses it as soon
 * as it reads it, whatever it is (a value cut there is another one). */
static int is_nul_refusal(const struct api_response *resp)
{
	json_t *doc = resp->body ? json_loads(resp->body, 0, NULL) : NULL;
	json_t *error = json_object_get(doc, "error");
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *msg = json_string_value(json_object_get(error, "message"));
	int is = resp->status == 400 && code && strcmp(code, "invalid_parameter") == 0 && msg &&
		 strstr(msg, ": contains a NUL byte") != NULL;

	json_decref(doc);
	return is;
}

/* A streamed answer (the access document) read to its end into
 * resp->body, as the transport would send it; the stream freed.  A
 * stream that breaks off on this healthy store is a finding. */
static void stream_drain(struct api_response *resp)
{
	char buf[1000], *body = NULL;
	size_t len = 0;
	long n;

	if (!resp->stream)
		return;
	while ((n = api_stream_read(resp->stream, buf, sizeof(buf))) > 0) {
		char *more = realloc(body, len + (size_t)n + 1);
		if (!more)
			abort();
		body = more;
		memcpy(body + len, buf, (size_t)n);
		len += (size_t)n;
	}
	if (n < 0 || !body)
		abort();
	body[len] = '\0';
	api_stream_free(resp->stream);
	resp->stream = NULL;
	resp->body = body; /* api_response_free: plain free */
	resp->body_len = len;
}

/* An answer pending on records (an erase) settled as the transport would:
 * the batch committed, or refused by a full intake (by `is_busy`), never
 * submitted.  The answer then goes into resp as a plain one. */
static void pending_settle(struct api_response *resp, int is_busy)
{
	struct ingest_reply r = {0};

	if (!resp->pending)
		return;
	if (resp->pending->batch.n_records != 1)
		abort();
	ingest_pending_finish(resp->pending, is_busy ? HUB_ERR_BUSY : HUB_OK, &r);
	resp->pending = NULL;
	if (!r.body)
		abort();
	resp->status = (int)r.status;
	resp->body = strdup(r.body); /* api_response_free: plain free */
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	resp->content_type = "application/json";
	ingest_reply_free(&r);
	if (!resp->body)
		abort();
}

/* The history cursor: what parses comes back the same, and any seq >= 0
 * written as the route writes it parses. */
static void check_history_cursor(const char *line, int64_t seq)
{
	char made[24];
	int64_t got;

	if (history_cursor_parse(line, &got) == 0) {
		snprintf(made, sizeof(made), "%lld", (long long)got);
		if (got < 0 || history_cursor_parse(made, &seq) || seq != got)
			abort();
		return;
	}
	snprintf(made, sizeof(made), "%lld", (long long)seq);
	if (history_cursor_parse(made, &got) || got != seq)
		abort();
}

/* The parsers alone, on line 1 and on bytes of the input. */
static void check_parsers(const char *line, const uint8_t *data, size_t size)
{
	struct store_event e = {0}, again = {0};
	char mid[512], mid2[512], id[256], *made;
	long limit;
	long long v[2] = {0, 0};
	int rc;

	if (cursor_parse(line, &e, mid, sizeof(mid)) == 0) {
		if (e.seq < 0 || !(made = cursor_make(&e)))
			abort();
		if (cursor_parse(made, &again, mid2, sizeof(mid2)) || again.ts_ms != e.ts_ms ||
		    again.seq != e.seq || strcmp(mid, mid2) != 0)
			abort();
		hub_free(made);
	}
	/* any (ts, seq >= 0, message_id of UTF-8 without NUL) makes a cursor
	 * that parses; one whose message_id is not UTF-8 (no stored one is)
	 * is refused */
	memcpy(v, data, size < sizeof(v) ? size : sizeof(v));
	e.ts_ms = v[0];
	e.seq = v[1] < 0 ? -(v[1] + 1) : v[1];
	snprintf(mid, sizeof(mid), "%s", line);
	e.message_id = mid;
	if (!(made = cursor_make(&e)))
		abort();
	rc = cursor_parse(made, &again, mid2, sizeof(mid2));
	if (!str_is_utf8(mid) ? rc != CURSOR_INVALID
			      : rc || again.ts_ms != e.ts_ms || again.seq != e.seq ||
					strcmp(mid, mid2) != 0)
		abort();
	hub_free(made);

	if (limit_parse(line, API_EVENTS_MAX, &limit) == 0 && (limit < 1 || limit > API_EVENTS_MAX))
		abort();
	if (limit_parse(line, API_HISTORY_MAX, &limit) == 0 &&
	    (limit < 1 || limit > API_HISTORY_MAX))
		abort();
	check_history_cursor(line, e.seq);
	if (strncmp(line, "/v1/profiles/", 13) == 0 &&
	    path_profile(line, "events", id, sizeof(id)) == 0 &&
	    (!*id || strlen(id) >= sizeof(id) || strchr(id, '/')))
		abort();
	if (path_named(line, "/v1/sources/", "/sync", id, sizeof(id)) == 0 &&
	    (!*id || strchr(id, '/') || strncmp(line, "/v1/sources/", 12) != 0 ||
	     strncmp(line + 12, id, strlen(id)) != 0 || strcmp(line + 12 + strlen(id), "/sync")))
		abort();
	if (path_named(line, "/v1/exports/", "/backfill", id, sizeof(id)) == 0 &&
	    (!*id || strchr(id, '/') || strncmp(line, "/v1/exports/", 12) != 0 ||
	     strncmp(line + 12, id, strlen(id)) != 0 ||
	     strcmp(line + 12 + strlen(id), "/backfill")))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "HEAD", "PUT",
					      "DELETE", "OPTIONS", "GET", "POST"};
	struct fuzz_req f;
	struct api_response resp, refused, bare;
	char *text, *p, *end, *line1, *line2, *line, *path = NULL;
	unsigned auth;
	int handled, is_allowed, has_read_nul = 0;

	if (!api)
		fuzz_init();
	if (size < 2)
		return 0;
	if (!(text = malloc(size - 2 + 1)))
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	end = text + strlen(text); /* a header holds no NUL */
	p = text;
	line1 = next_line(&p, end);
	line2 = next_line(&p, end);
	if (!line1)
		line1 = "";
	if (!line2)
		line2 = "";

	memset(&f, 0, sizeof(f));
	while ((line = next_line(&p, end)) && *line && f.n_params < MAX_PARAMS) {
		char *eq = strchr(line, '=');
		if (eq)
			*eq = '\0';
		f.keys[f.n_params] = line;
		f.values[f.n_params] = eq ? eq + 1 : "";
		f.value_lens[f.n_params++] = eq ? nul_decode(eq + 1) : 0;
	}
	f.has_read_nul = &has_read_nul;
	auth = (data[0] >> 3) & 3;
	path = path_of(data[1], line1);
	f.req.method = methods[data[0] & 7];
	f.req.path = path;
	f.req.query = fuzz_query;
	f.req.authorization = auth == 0   ? "Bearer " FUZZ_TOKEN
			      : auth == 1 ? "bearer   " FUZZ_TOKEN2 "  "
			      : auth == 2 ? line2
					  : NULL;
	f.req.body = p < end ? p : NULL;
	f.req.body_len = p < end ? (size_t)(end - p) : 0;

	is_allowed = bearer_model(f.req.authorization);
	if (http_auth_bearer(f.req.authorization, cfg->api_tokens, cfg->n_api_tokens) !=
	    is_allowed)
		abort();

	handled = api_handle(api, &f.req, &resp);
	stream_drain(&resp);
	pending_settle(&resp, size % 3 == 1);
	check_answer(&f.req, &resp, handled);
	if (has_read_nul && !is_nul_refusal(&resp))
		abort();
	if (api_authorize(api, path, f.req.authorization, &refused)) {
		if (!handled || refused.status != resp.status || is_allowed ||
		    strncmp(path, "/v1/", 4) != 0)
			abort();
		api_response_free(&refused);
	} else if (strncmp(path, "/v1/", 4) == 0) {
		if (!is_allowed || resp.status == 401 || resp.status == 403)
			abort();
	}
	/* a route that takes no body answers the same without it */
	if (handled && f.req.body && !api_wants_body(f.req.method, path)) {
		f.req.body = NULL;
		f.req.body_len = 0;
		if (!api_handle(api, &f.req, &bare))
			abort();
		stream_drain(&bare);
		pending_settle(&bare, size % 3 == 1);
		if (bare.status != resp.status)
			abort();
		api_response_free(&bare);
	}
	api_response_free(&resp);

	check_parsers(line1, data, size);
	free(path);
	free(text);
	return 0;
}
