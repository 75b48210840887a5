/*
 * fuzzcall.h - the fake host the plugin fuzz targets (fuzz_segment.c,
 * fuzz_mparticle.c) share: an emit() that checks every record, runs it
 * through the hub's record_from_hub() and counts it; a route call with one
 * header whose answer must be all or nothing; the import_line() check.
 * Header-only: each target is one translation unit with its plugin's
 * sources compiled in.
 *
 * The including file defines FUZZ_SOURCE (the source name records are
 * validated with) before including it, and afterwards
 *
 *     static void fuzz_check_record(const struct hub_record *rec);
 *         its plugin's own checks of an emitted record (abort() on a fault)
 *     static void fuzz_check_answer(hub_rc rc, const struct hub_response *resp);
 *         the body its plugin answers with, success or error
 *
 * and its host table with only the members it answers itself (its config
 * values, a pull's checkpoint(), ...).  fuzz_host() gives the plugin that
 * table completed: full size, as the hub's, and every other member a fake
 * of fuzz_host_defaults that keeps the hub's contract, so a plugin calling
 * any member HUB_HOST_HAS() says is there never calls NULL.
 * fuzz_check_success_or_error() is the answer check of a Segment-shaped API.
 */
#ifndef HUB_FUZZCALL_H
#define HUB_FUZZCALL_H

#include "alloc.h"
#include "record.h"
#include "util.h"

#include <hub_plugin.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUZZ_NOW_MS 1772000000000LL

static size_t fuzz_n_emitted;

static void fuzz_check_record(const struct hub_record *rec);
static void fuzz_check_answer(hub_rc rc, const struct hub_response *resp);

static void fuzz_log(const struct hub_instance *inst, enum hub_log_level level,
		     const char *fmt, ...)
{
	(void)inst;
	(void)level;
	(void)fmt;
}

/* 1 when text is NULL or a JSON object without duplicate keys. */
static int fuzz_json_object_text(const char *text)
{
	json_t *v;
	int ok;

	if (!text)
		return 1;
	v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	ok = json_is_object(v);
	json_decref(v);
	return ok;
}

/* Self-consistent, whatever the plugin: identifiers with a type and a
 * value, a track with a name and no attributes, JSON members objects. */
static void fuzz_check_common(const struct hub_record *rec)
{
	if (rec->size != sizeof(*rec) || (rec->n_identifiers && !rec->identifiers))
		abort();
	for (size_t i = 0; i < rec->n_identifiers; i++)
		if (!rec->identifiers[i].type || !rec->identifiers[i].value)
			abort();
	if (rec->type == HUB_REC_TRACK && (!rec->event_name || rec->attributes_json))
		abort();
	if (!fuzz_json_object_text(rec->attributes_json) ||
	    !fuzz_json_object_text(rec->properties_json) ||
	    !fuzz_json_object_text(rec->consent_json))
		abort();
}

/* Accepts every record (so a failed request is the plugin's own doing). */
static hub_rc fuzz_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			size_t err_size)
{
	struct record_warnings w = {0};
	struct record *r = NULL;
	char why[256];

	(void)call;
	(void)err;
	(void)err_size;
	fuzz_check_common(rec);
	fuzz_check_record(rec);
	(void)record_from_hub(rec, FUZZ_SOURCE, NULL, FUZZ_NOW_MS, &r, &w, why, sizeof(why));
	record_free(r);
	record_warnings_clear(&w);
	fuzz_n_emitted++;
	return HUB_OK;
}

/* Counts an item the plugin chose not to store (ABI 1.12), as the hub
 * does: never a failure. */
static size_t fuzz_n_skipped;
static hub_rc fuzz_skip(struct hub_call *call, const char *why)
{
	(void)call;
	if (!why)
		abort();
	fuzz_n_skipped++;
	return HUB_OK;
}

/* A value the plugin left out of the item it last emitted (ABI 1.6), as
 * the hub takes it: a reason, never a failure.  The hub's table has it:
 * a plugin that checks HUB_HOST_HAS(host, warn) calls it here too. */
static size_t fuzz_n_warned;

/* warn() and reject(), as the hub counts them: never a failure; a reason
 * that names nothing is the plugin's fault. */
static hub_rc fuzz_count_reason(size_t *n, const char *why)
{
	if (!why || !why[0])
		abort();
	(*n)++;
	return HUB_OK;
}

static hub_rc fuzz_warn(struct hub_call *call, const char *why)
{
	(void)call;
	return fuzz_count_reason(&fuzz_n_warned, why);
}

static int64_t fuzz_now(void)
{
	return FUZZ_NOW_MS;
}

/* reject() (ABI 1.2) */
static size_t fuzz_n_rejected;
static hub_rc fuzz_reject(struct hub_call *call, const char *why)
{
	(void)call;
	return fuzz_count_reason(&fuzz_n_rejected, why);
}

/* Config values: unset, unless the target's own table answers them. */
static const char *fuzz_config_string(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return NULL;
}

static int64_t fuzz_config_int(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static int fuzz_config_bool(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static double fuzz_config_float(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static size_t fuzz_config_list_size(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static const char *fuzz_config_list_item(const struct hub_instance *inst, const char *key,
					 size_t index)
{
	(void)inst;
	(void)key;
	(void)index;
	return NULL;
}

static const char *fuzz_instance_name(const struct hub_instance *inst)
{
	(void)inst;
	return FUZZ_SOURCE;
}

/* checkpoint() outside of a pull, batch_range() outside of an export
 * batch: HUB_ERR_INTERNAL, as the hub answers them. */
static hub_rc fuzz_checkpoint(struct hub_call *call, const char *cursor)
{
	(void)call;
	(void)cursor;
	return HUB_ERR_INTERNAL;
}

static hub_rc fuzz_batch_range(const struct hub_call *call, int64_t *first, int64_t *last)
{
	(void)call;
	(void)first;
	(void)last;
	return HUB_ERR_INTERNAL;
}

static int fuzz_should_stop(const struct hub_call *call)
{
	(void)call;
	return 0;
}

/* query() (ABI 1.7) of a request the host is not answering (the target's
 * own): NULL, as the hub's. */
static const char *fuzz_query(const struct hub_request *req, const char *name)
{
	(void)req;
	(void)name;
	return NULL;
}

/* Every member, the hub's own where libhub has it (secret_equal,
 * alloc_failed, attr_key_refusal). */
static const struct hub_host fuzz_host_defaults = {
	.size = sizeof(struct hub_host),
	.abi_major = HUB_ABI_MAJOR,
	.abi_minor = HUB_ABI_MINOR,
	.log = fuzz_log,
	.config_string = fuzz_config_string,
	.config_int = fuzz_config_int,
	.config_bool = fuzz_config_bool,
	.config_float = fuzz_config_float,
	.config_list_size = fuzz_config_list_size,
	.config_list_item = fuzz_config_list_item,
	.config_json = fuzz_config_string,
	.instance_name = fuzz_instance_name,
	.emit = fuzz_emit,
	.checkpoint = fuzz_checkpoint,
	.should_stop = fuzz_should_stop,
	.now_ms = fuzz_now,
	.secret_equal = secret_equal,
	.reject = fuzz_reject,
	.batch_range = fuzz_batch_range,
	.warn = fuzz_warn,
	.query = fuzz_query,
	.alloc_failed = alloc_failed_poll,
	.skip = fuzz_skip,
	.attr_key_refusal = record_attr_key_refusal,
};

/* The members after the header, in order: a member appended to struct
 * hub_host fails the assertion below until it is listed here, and
 * fuzz_host() until fuzz_host_defaults gives it a fake. */
#define FUZZ_HOST_MEMBERS(X)                                                                 \
	X(log) X(config_string) X(config_int) X(config_bool) X(config_float)                 \
	X(config_list_size) X(config_list_item) X(config_json) X(instance_name) X(emit)      \
	X(checkpoint) X(should_stop) X(now_ms) X(secret_equal) X(reject) X(batch_range)      \
	X(warn) X(query) X(alloc_failed) X(skip) X(attr_key_refusal)

#define FUZZ_HOST_MEMBER_SIZE(m) +sizeof(fuzz_host_defaults.m)
_Static_assert(offsetof(struct hub_host, log) FUZZ_HOST_MEMBERS(FUZZ_HOST_MEMBER_SIZE) ==
		       sizeof(struct hub_host),
	       "FUZZ_HOST_MEMBERS (fuzzcall.h) misses a member of struct hub_host");

/* `own` completed with fuzz_host_defaults (a static table, the same for
 * every call: a plugin may keep it); aborts naming a member neither
 * gives. */
static const struct hub_host *fuzz_host(const struct hub_host *own)
{
	static struct hub_host full;

	full = *own;
	full.size = fuzz_host_defaults.size;
	full.abi_major = fuzz_host_defaults.abi_major;
	full.abi_minor = fuzz_host_defaults.abi_minor;
#define FUZZ_HOST_FILL(m)                                                                    \
	if (!full.m)                                                                         \
		full.m = fuzz_host_defaults.m;                                               \
	if (!full.m) {                                                                       \
		fprintf(stderr, "fuzzcall.h: the fake host has no " #m "\n");              \
		abort();                                                                     \
	}
	FUZZ_HOST_MEMBERS(FUZZ_HOST_FILL)
#undef FUZZ_HOST_FILL
	return &full;
}

/* The answer of a plugin whose success is 200 {"success":true} and whose
 * refusals are {"error": {"code": ...}} (segment, example_push), for its
 * fuzz_check_answer(). */
static inline void fuzz_check_success_or_error(hub_rc rc, const struct hub_response *resp)
{
	json_t *doc;

	if (rc == HUB_OK) {
		if (resp->status != 200 || strcmp(resp->body, "{\"success\":true}") != 0)
			abort();
		return;
	}
	doc = json_loads(resp->body, 0, NULL);
	if (!json_is_string(json_object_get(json_object_get(doc, "error"), "code")))
		abort();
	json_decref(doc);
}

/* A request with one header. */
struct fuzz_request {
	struct hub_request req;
	const char *name, *value;
};

static const char *fuzz_header(const struct hub_request *req, const char *name)
{
	const struct fuzz_request *f = (const struct fuzz_request *)req;

	return strcasecmp(name, f->name) == 0 ? f->value : NULL;
}

/* Sends body[0..len) to the route `path` of `plugin` with the header
 * `hname: hvalue`.  A failed call must have emitted nothing and answer 4xx;
 * fuzz_check_answer() judges the rest. */
static void fuzz_route(const struct hub_plugin *plugin, void *state, const char *path,
		       const char *hname, const char *hvalue, const char *body, size_t len)
{
	struct fuzz_request f = {
		.req = {.method = "POST", .path = path, .body = body, .body_len = len,
			.header = fuzz_header},
		.name = hname,
		.value = hvalue,
	};
	struct hub_response resp;
	size_t before = fuzz_n_emitted;
	hub_rc rc;

	for (const struct hub_route *r = plugin->routes; r->method; r++) {
		if (strcmp(r->path, path) != 0)
			continue;
		memset(&resp, 0, sizeof(resp));
		rc = r->handle(state, NULL, &f.req, &resp);
		if (rc != HUB_OK &&
		    (fuzz_n_emitted != before || resp.status < 400 || resp.status > 499))
			abort();
		fuzz_check_answer(rc, &resp);
	}
}

/* import_line(): HUB_OK, or an error with a message and nothing emitted.
 * Inline: a target whose plugin has no import_line() leaves it unused. */
static inline void fuzz_import_line(const struct hub_plugin *plugin, void *state,
				    const char *line, size_t len)
{
	size_t before = fuzz_n_emitted;
	char err[256] = "";

	if (plugin->import_line(state, NULL, line, len, err, sizeof(err)) != HUB_OK &&
	    (fuzz_n_emitted != before || err[0] == '\0'))
		abort();
}

/* Creates the instance on the first call, with `own` completed
 * (fuzz_host()); returns the input as the host hands it to routes,
 * NUL-terminated (malloc'd; NULL: out of memory). */
static char *fuzz_begin(const struct hub_plugin *plugin, const struct hub_host *own,
			void **state, const uint8_t *data, size_t size)
{
	char err[256], *body;

	if (!*state && plugin->create(fuzz_host(own), NULL, state, err, sizeof(err)) != HUB_OK)
		abort();
	body = malloc(size + 1);
	if (!body)
		return NULL;
	memcpy(body, data, size);
	body[size] = '\0';
	return body;
}

#endif
