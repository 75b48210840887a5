/*
 * plugtest.c - the plugin test harness (see plugtest.h): the fixture that
 * loads a plugin and creates its instance, the collecting hub_call,
 * requests sent straight to a route, and checks of what came back.
 */
#include "plugtest.h"

#include "../../hub/alloc.h"

#include <stdarg.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *pt_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- the collector ---------------------------------------------------- */

static void seen_copy(struct pt_seen *s, const struct hub_record *rec, struct record *r,
		      size_t n_warnings)
{
	memset(s, 0, sizeof(*s));
	s->type = rec->type;
	s->message_id = pt_dup(rec->message_id);
	s->platform = pt_dup(rec->platform);
	s->event_name = pt_dup(rec->event_name);
	s->previous_id = pt_dup(rec->previous_id);
	s->properties_json = pt_dup(rec->properties_json);
	s->attributes_json = pt_dup(rec->attributes_json);
	s->consent_json = pt_dup(rec->consent_json);
	s->push_enabled = rec->push_enabled;
	s->timestamp_ms = rec->timestamp_ms;
	s->sent_at_ms = rec->sent_at_ms;
	s->received_at_ms = rec->received_at_ms;
	s->id_types = calloc(rec->n_identifiers + 1, sizeof(char *));
	s->id_values = calloc(rec->n_identifiers + 1, sizeof(char *));
	CU_ASSERT_FATAL(s->id_types && s->id_values);
	for (; s->n_ids < rec->n_identifiers; s->n_ids++) {
		s->id_types[s->n_ids] = strdup(rec->identifiers[s->n_ids].type);
		s->id_values[s->n_ids] = strdup(rec->identifiers[s->n_ids].value);
	}
	s->n_warnings = n_warnings;
	s->origin = pt_dup(record_origin(rec));
	s->rec = r;
}

static void seen_free(struct pt_seen *s)
{
	free(s->message_id);
	free(s->platform);
	free(s->event_name);
	free(s->previous_id);
	free(s->properties_json);
	free(s->attributes_json);
	free(s->consent_json);
	free(s->origin);
	for (size_t i = 0; i < s->n_ids; i++) {
		free(s->id_types[i]);
		free(s->id_values[i]);
	}
	free(s->id_types);
	free(s->id_values);
	record_free(s->rec);
}

/* `items` (n of `size` bytes, room for *cap) with room for one more. */
static void *grow(void *items, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return items;
	*cap = *cap ? 2 * *cap : 16;
	items = realloc(items, *cap * size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(items);
	return items;
}

/* emit(): validate like the hub (record_from_hub), then keep a copy. */
static hub_rc collect_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			   size_t err_size)
{
	struct pt_collector *c = call->ctx;
	struct record_warnings w = {0};
	struct record *r = NULL;
	hub_rc rc;

	c->n_emits++;
	if (c->refuse_message_id && rec->message_id &&
	    strcmp(c->refuse_message_id, rec->message_id) == 0) {
		snprintf(err, err_size, "%s",
			 c->refuse_why ? c->refuse_why : "refused by the test");
		return c->refuse_rc != HUB_OK ? c->refuse_rc : HUB_ERR_DATA;
	}
	rc = record_from_hub(rec, c->source, &c->rules, c->now_ms, &r, &w, err, err_size);
	if (rc == HUB_OK) {
		c->recs = grow(c->recs, c->n_recs, &c->cap_recs, sizeof(c->recs[0]));
		seen_copy(&c->recs[c->n_recs++], rec, r, w.total);
	} else {
		record_free(r);
	}
	record_warnings_clear(&w);
	return rc;
}

static hub_rc collect_checkpoint(struct hub_call *call, const char *cursor)
{
	struct pt_collector *c = call->ctx;

	c->cursors = grow(c->cursors, c->n_cursors, &c->cap_cursors, sizeof(c->cursors[0]));
	c->cursors[c->n_cursors] = strdup(cursor);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->cursors[c->n_cursors]);
	c->n_cursors++;
	return HUB_OK;
}

/* A copy of a reason appended to a list, as the hub keeps it. */
static void keep_reason(char ***list, size_t *n, size_t *cap, const char *why)
{
	*list = grow(*list, *n, cap, sizeof(**list));
	(*list)[*n] = strdup(why);
	CU_ASSERT_PTR_NOT_NULL_FATAL((*list)[*n]);
	(*n)++;
}

/* reject() (ABI 1.2) */
static hub_rc collect_reject(struct hub_call *call, const char *why)
{
	struct pt_collector *c = call->ctx;

	keep_reason(&c->rejects, &c->n_rejects, &c->cap_rejects, why);
	return HUB_OK;
}

/* warn() (ABI 1.6) */
static hub_rc collect_warn(struct hub_call *call, const char *why)
{
	struct pt_collector *c = call->ctx;

	keep_reason(&c->warns, &c->n_warns, &c->cap_warns, why);
	return HUB_OK;
}

static hub_rc collect_skip(struct hub_call *call, const char *why)
{
	struct pt_collector *c = call->ctx;

	keep_reason(&c->skips, &c->n_skips, &c->cap_skips, why);
	return HUB_OK;
}

void pt_reset(struct pt_collector *c)
{
	for (size_t i = 0; i < c->n_recs; i++)
		seen_free(&c->recs[i]);
	for (size_t i = 0; i < c->n_cursors; i++)
		free(c->cursors[i]);
	for (size_t i = 0; i < c->n_rejects; i++)
		free(c->rejects[i]);
	for (size_t i = 0; i < c->n_warns; i++)
		free(c->warns[i]);
	for (size_t i = 0; i < c->n_skips; i++)
		free(c->skips[i]);
	c->n_recs = c->n_emits = c->n_cursors = c->n_rejects = c->n_warns = c->n_skips = 0;
}

/* ---- the fixture ------------------------------------------------------ */

static int vtry_open(struct pt_fixture *f, const char *plugin, char *err, size_t err_size,
		     const char *yaml_fmt, va_list ap)
{
	char *so, *yaml;
	int rc;

	memset(f, 0, sizeof(*f));
	/* the hub's plugins, else the tests' own (tests/plugins/) */
	CU_ASSERT_FATAL(asprintf(&so, "%s/plugins/%s.so", testlib_build_dir(), plugin) > 0);
	if (access(so, F_OK) != 0) {
		free(so);
		CU_ASSERT_FATAL(asprintf(&so, "%s/tests/plugins/%s.so", testlib_build_dir(),
					 plugin) > 0);
	}
	rc = plugin_load(so, &f->mod, err, err_size);
	if (rc != 0)
		fprintf(stderr, "\n  load: %s\n", err);
	free(so);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_FATAL(vasprintf(&yaml, yaml_fmt, ap) > 0);
	rc = config_load_string("test.yaml", yaml, &f->cfg, err, err_size);
	if (rc != 0)
		fprintf(stderr, "\n  config: %s\n", err);
	free(yaml);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_FATAL(f->cfg->n_sources > 0 || f->cfg->n_exports > 0);
	/* an export's call serves batch_range() and should_stop() only, as
	 * the hub's (emit() and the others refuse) */
	if (f->cfg->n_sources > 0) {
		f->got.source = f->cfg->sources[0].name;
		f->got.rules = (struct record_rules){f->cfg->external_ids, f->cfg->n_external_ids,
						     f->cfg->blocked_values,
						     f->cfg->n_blocked_values};
		f->got.now_ms = PT_NOW_MS;
		f->call.on_emit = collect_emit;
		f->call.on_reject = collect_reject;
		f->call.on_warn = collect_warn;
		f->call.on_skip = collect_skip;
		/* like the hub: checkpoints only where there is a pull */
		if (f->mod.desc->pull)
			f->call.on_checkpoint = collect_checkpoint;
	}
	f->call.stop = &f->stop;
	f->call.ctx = &f->got;
	rc = plugin_instance_create(
		&f->mod, f->cfg->n_sources > 0 ? &f->cfg->sources[0] : &f->cfg->exports[0],
		&f->inst, err, err_size);
	if (rc != 0)
		f->inst = NULL;
	f->call.inst = f->inst;
	return rc;
}

void pt_check_config_is(const char *plugin, const char *yaml, const char *refusal, size_t row)
{
	struct pt_fixture f;
	char err[1024] = "";
	int rc;

	pt_try_open(&f, plugin, err, sizeof(err), "%s", yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.cfg);
	err[0] = '\0';
	rc = plugin_instance_check_config(&f.mod, &f.cfg->sources[0], err, sizeof(err));
	if (rc != (refusal ? -1 : 0))
		fprintf(stderr, "\n  row %zu: %d %s", row, rc, err);
	CU_ASSERT_EQUAL(rc, refusal ? -1 : 0);
	if (refusal)
		CU_ASSERT_PTR_NOT_NULL(strstr(err, refusal));
	pt_close(&f);
}

void pt_check_is_create_s(int rc, const char *err, int created_rc, const char *created,
			  const char *refusal, size_t row)
{
	if (rc != (refusal ? -1 : 0) || (refusal && strcmp(err, created) != 0))
		fprintf(stderr, "\n  row %zu: check %d \"%s\", create %d \"%s\"", row, rc, err,
			created_rc, created);
	CU_ASSERT_EQUAL(rc, refusal ? -1 : 0);
	if (!refusal)
		return;
	CU_ASSERT_PTR_NOT_NULL(strstr(err, refusal));
	CU_ASSERT_EQUAL(created_rc, -1);
	CU_ASSERT_STRING_EQUAL(err, created);
}

int pt_try_open(struct pt_fixture *f, const char *plugin, char *err, size_t err_size,
		const char *yaml_fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, yaml_fmt);
	rc = vtry_open(f, plugin, err, err_size, yaml_fmt, ap);
	va_end(ap);
	return rc;
}

void pt_open(struct pt_fixture *f, const char *plugin, const char *yaml_fmt, ...)
{
	char err[1024] = "";
	va_list ap;
	int rc;

	va_start(ap, yaml_fmt);
	rc = vtry_open(f, plugin, err, sizeof(err), yaml_fmt, ap);
	va_end(ap);
	if (rc != 0)
		fprintf(stderr, "\n  create: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

void pt_close(struct pt_fixture *f)
{
	pt_reset(&f->got);
	free(f->got.recs);
	free(f->got.cursors);
	free(f->got.rejects);
	free(f->got.warns);
	free(f->got.skips);
	plugin_instance_destroy(f->inst);
	config_free(f->cfg);
	plugin_unload(&f->mod);
	if (f->dir)
		testlib_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

/* ---- calls ------------------------------------------------------------ */

/* A request with one header. */
struct pt_request {
	struct hub_request req;
	const char *name, *value;
};

static const char *request_header(const struct hub_request *req, const char *name)
{
	const struct pt_request *t = (const struct pt_request *)req;

	return t->name && strcasecmp(t->name, name) == 0 ? t->value : NULL;
}

hub_rc pt_send(struct pt_fixture *f, const char *path, const char *hname, const char *hvalue,
	       const char *body, size_t len, struct hub_response *resp)
{
	return pt_send_as(f, "POST", path, hname, hvalue, body, len, resp);
}

hub_rc pt_send_as(struct pt_fixture *f, const char *method, const char *path,
		  const char *hname, const char *hvalue, const char *body, size_t len,
		  struct hub_response *resp)
{
	struct pt_request t = {
		.req = {.method = method,
			.path = path,
			.body = body,
			.body_len = len,
			.header = request_header},
		.name = hname,
		.value = hvalue,
	};

	memset(resp, 0, sizeof(*resp));
	for (const struct hub_route *r = f->mod.desc->routes; r && r->method; r++)
		if (strcmp(r->path, path) == 0 && strcmp(r->method, method) == 0)
			return r->handle(f->inst->state, &f->call, &t.req, resp);
	CU_FAIL("no such route");
	return HUB_ERR_INTERNAL;
}

hub_rc pt_admit(struct pt_fixture *f, const char *path, const char *hname, const char *hvalue,
		struct hub_response *resp)
{
	struct pt_request t = {
		.req = {.method = "POST", .path = path, .header = request_header},
		.name = hname,
		.value = hvalue,
	};

	memset(resp, 0, sizeof(*resp));
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->mod.desc->admit);
	return f->mod.desc->admit(f->inst->state, &t.req, resp);
}

hub_rc pt_post(struct pt_fixture *f, const char *path, const char *auth, const char *body,
	       struct hub_response *resp)
{
	return pt_send(f, path, auth ? "Authorization" : NULL, auth, body, strlen(body), resp);
}

void pt_post_file_ok(struct pt_fixture *f, const char *path, const char *auth, const char *dir,
		     const char *name, int status, const char *answer)
{
	struct hub_response resp;
	char *body = pt_read_file(dir, name);

	CU_ASSERT_EQUAL(pt_post(f, path, auth, body, &resp), HUB_OK);
	if (resp.status != status)
		fprintf(stderr, "\n  %s: %d %s\n", name, resp.status, resp.body);
	CU_ASSERT_EQUAL(resp.status, status);
	CU_ASSERT_STRING_EQUAL(resp.body, answer);
	free(body);
}

const struct pt_seen *pt_post_one(struct pt_fixture *f, const char *path, const char *auth,
				  const char *body)
{
	struct hub_response resp;

	CU_ASSERT_EQUAL(pt_post(f, path, auth, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f->got.n_recs, 1);
	return &f->got.recs[0];
}

void pt_assert_refused(struct pt_fixture *f, const char *what, hub_rc rc,
		       const struct hub_response *resp, int status)
{
	if (resp->status != status || f->got.n_emits != 0)
		fprintf(stderr, "\n  %s: %d %s\n", what, resp->status, resp->body);
	CU_ASSERT_EQUAL(resp->status, status);
	CU_ASSERT_EQUAL(rc, HUB_ERR_DATA);
	CU_ASSERT_EQUAL(f->got.n_emits, 0);
	pt_reset(&f->got);
}

void pt_assert_cannot_store_now(void (*open)(struct pt_fixture *f), const char *path,
				const char *auth, const char *body, const char *message_id)
{
	static const struct {
		hub_rc emit_rc, route_rc;
		int status;
		const char *retry_after, *code;
	} rows[] = {
		{HUB_ERR_BUSY, HUB_ERR_BUSY, 503, "1", "\"unavailable\""},
		{HUB_RETRY, HUB_ERR_BUSY, 503, "1", "\"unavailable\""},
		{HUB_ERR_STOPPED, HUB_ERR_STOPPED, 503, "1", "\"unavailable\""},
		{HUB_ERR_INTERNAL, HUB_ERR_INTERNAL, 500, NULL, "\"internal\""},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hub_response resp;
		struct pt_fixture f;

		open(&f);
		f.got.refuse_message_id = message_id;
		f.got.refuse_rc = rows[i].emit_rc;
		CU_ASSERT_EQUAL(pt_post(&f, path, auth, body, &resp), rows[i].route_rc);
		CU_ASSERT_EQUAL(resp.status, rows[i].status);
		CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, rows[i].code));
		ASSERT_STR_OR_NULL(resp.retry_after, rows[i].retry_after);
		pt_close(&f);
	}
}

/* One reason of pt_sweep_refusal_reasons(). */
static void refused_with(struct pt_fixture *f,
			 hub_rc (*post)(struct pt_fixture *f, const char *why, size_t min_len),
			 const char *why, size_t min_len)
{
	CU_ASSERT_EQUAL(post(f, why, min_len), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(f->got.n_recs, 0);
	pt_reset(&f->got);
}

void pt_sweep_refusal_reasons(struct pt_fixture *f,
			      hub_rc (*post)(struct pt_fixture *f, const char *why, size_t min_len),
			      size_t cut_min_len)
{
	char why[700];

	f->got.refuse_why = why;
	for (size_t n_escaped = 150; n_escaped < 180; n_escaped++) {
		for (size_t n_plain = 0; n_plain < 6; n_plain++) {
			memset(why, 'x', n_plain);
			memset(why + n_plain, '\x01', n_escaped);
			why[n_plain + n_escaped] = '\0';
			refused_with(f, post, why, 100);
		}
	}
	for (size_t i = 0; i < 300; i++)
		memcpy(why + 2 * i, "\xc3\xa9", 2);
	why[600] = '\0';
	refused_with(f, post, why, cut_min_len);
	f->got.refuse_why = NULL;
}

void pt_assert_message_kept(const char *message, const char *sent, size_t min_len)
{
	size_t len = message ? strlen(message) : 0;

	if (len >= min_len && message[len - 1] == '?')
		len--;
	if (len < min_len)
		fprintf(stderr, "\n  a %zu-byte message kept as %zu: %s\n", strlen(sent), len,
			message ? message : "(none)");
	CU_ASSERT(len >= min_len);
	CU_ASSERT(message && strncmp(message, sent, len) == 0);
}

hub_rc pt_export(struct pt_fixture *f, const char *const *changes, size_t n, int64_t first,
		 int64_t last, size_t *n_done, char *err, size_t err_size)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->mod.desc->export_batch);
	f->call.batch_first = first;
	f->call.batch_last = last;
	*n_done = 0; /* as the hub does: a plugin that sets nothing accepted none */
	err[0] = '\0';
	return f->mod.desc->export_batch(f->inst->state, &f->call, changes, n, n_done, err,
					 err_size);
}

hub_rc pt_import_line(struct pt_fixture *f, const char *line, char *err, size_t err_size)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->mod.desc->import_line);
	return f->mod.desc->import_line(f->inst->state, &f->call, line, strlen(line), err,
					err_size);
}

/* ---- out of memory ---------------------------------------------------- */

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* What the collector holds as one text: each record's fields and JSON. */
static char *collected_text(const struct pt_collector *c)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (size_t i = 0; i < c->n_recs; i++) {
		const struct pt_seen *s = &c->recs[i];
		fprintf(out, "%d %s %s %s %s %s %s", (int)s->type, or_empty(s->message_id),
			or_empty(s->event_name), or_empty(s->attributes_json),
			or_empty(s->properties_json), or_empty(s->consent_json),
			or_empty(s->origin));
		for (size_t j = 0; j < s->n_ids; j++)
			fprintf(out, " %s=%s", s->id_types[j], s->id_values[j]);
		fputc('\n', out);
	}
	fclose(out);
	return text;
}

/* body sent to `path` (NULL: import_line) with allocation n failing as
 * fail(n) says (0: none): the answer's status (an import line's: 200 for
 * HUB_OK, 400 for HUB_ERR_DATA, else 500; -1: a 2xx not HUB_OK or the
 * reverse), into *got what was emitted on a 2xx or the answer else (free
 * it), into *n_tried the allocations tried.  The collector is reset. */
static int sweep_try(struct pt_fixture *f, const char *path, const char *auth, const char *body,
		     void (*fail)(long n), long n, char **got, long *n_tried)
{
	struct hub_response resp = {0};
	char err[512] = "";
	hub_rc rc;
	int status;

	fail(n);
	if (path)
		rc = pt_post(f, path, auth, body, &resp);
	else
		rc = pt_import_line(f, body, err, sizeof(err));
	*n_tried = alloc_count();
	alloc_fail_after(0);
	status = path ? resp.status : rc == HUB_OK ? 200 : rc == HUB_ERR_DATA ? 400 : 500;
	if ((rc == HUB_OK) != (status / 100 == 2))
		status = -1;
	*got = status / 100 == 2 ? collected_text(&f->got) : strdup(path ? resp.body : err);
	pt_reset(&f->got);
	return status;
}

long pt_sweep_out_of_memory(struct pt_fixture *f, const char *path, const char *auth,
			    const char *body, void (*fail)(long n))
{
	json_malloc_t saved_malloc;
	json_free_t saved_free;
	char *want, *got;
	long n, n_tried;
	int want_status;

	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(hub_malloc, hub_free);
	want_status = sweep_try(f, path, auth, body, fail, 0, &want, &n_tried);
	CU_ASSERT_EQUAL(want_status / 100, 2);
	for (n = 1; n < 100000; n++) {
		int status = sweep_try(f, path, auth, body, fail, n, &got, &n_tried);
		int is_ok = status == want_status ? strcmp(got, want) == 0 : status >= 500;
		if (!is_ok)
			fprintf(stderr, "\n  %s, allocation %ld failing: %d %s",
				path ? path : "import", n, status, got);
		CU_ASSERT(is_ok);
		free(got);
		if (n_tried < n) /* nothing failed */
			break;
	}
	json_set_alloc_funcs(saved_malloc, saved_free);
	free(want);
	return n;
}

hub_rc pt_pull(struct pt_fixture *f, const char *cursor, size_t budget, char *err,
	       size_t err_size)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->mod.desc->pull);
	err[0] = '\0';
	return f->mod.desc->pull(f->inst->state, &f->call, cursor, budget, err, err_size);
}

/* ---- reading what was seen -------------------------------------------- */

const char *pt_id_of(const struct pt_seen *s, const char *type)
{
	for (size_t i = 0; i < s->n_ids; i++)
		if (strcmp(s->id_types[i], type) == 0)
			return s->id_values[i];
	return NULL;
}

const char *pt_external_of(const struct pt_seen *s, const char *type)
{
	for (size_t i = 0; s->rec && i < s->rec->n_externals; i++)
		if (strcmp(s->rec->externals[i].type, type) == 0)
			return s->rec->externals[i].value;
	return NULL;
}

char *pt_take_attributes(struct pt_collector *c)
{
	char *attrs = c->n_recs == 1 ? pt_dup(c->recs[0].attributes_json) : NULL;

	pt_reset(c);
	return attrs;
}

void pt_assert_routes(const struct pt_fixture *f, const char *method, const char *const *paths,
		      size_t n)
{
	size_t i = 0;

	for (const struct hub_route *r = f->mod.desc->routes; r && r->method; r++, i++) {
		CU_ASSERT_FATAL(i < n);
		CU_ASSERT_STRING_EQUAL(r->method, method);
		CU_ASSERT_STRING_EQUAL(r->path, paths[i]);
	}
	CU_ASSERT_EQUAL(i, n);
}

json_t *pt_answer_json(const struct hub_response *resp, int status)
{
	json_t *doc = json_loads(resp->body, 0, NULL);

	CU_ASSERT_EQUAL(resp->status, status);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	return doc;
}

void pt_assert_error_object(const json_t *err, const char *code)
{
	ASSERT_STR_OR_NULL(json_string_value(json_object_get(err, "code")), code);
	CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(err, "message")));
}

void pt_assert_index(const json_t *obj, const char *key, long value)
{
	if (value < 0) {
		CU_ASSERT_PTR_NULL(json_object_get(obj, key));
	} else { /* present: json_integer_value() of a missing key is 0 too */
		CU_ASSERT(json_is_integer(json_object_get(obj, key)));
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(obj, key)), value);
	}
}

char *pt_read_file(const char *dir, const char *name)
{
	char *path, *text;
	long n;
	FILE *fp;

	CU_ASSERT_FATAL(asprintf(&path, "%s/%s", dir, name) > 0);
	fp = fopen(path, "rb");
	if (!fp)
		fprintf(stderr, "\n  %s: cannot open\n", path);
	free(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)n + 1);
	CU_ASSERT_FATAL(text && fread(text, 1, (size_t)n, fp) == (size_t)n);
	fclose(fp);
	return text;
}
