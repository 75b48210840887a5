/*
 * fuzz_mparticle.c - libFuzzer target for the mparticle plugin's mapping:
 * the input is a /v2/events body (with valid Basic credentials), then the
 * same bytes as a /v2/bulkevents body, as a webhook body (with the right
 * Authorization) and as an import line.  The plugin's sources are compiled
 * in (so libFuzzer sees their coverage) and run against a small fake host
 * table.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - an answer that is not 202 {} nor mParticle's error body
 *     {"errors": [{"code", "message"}]} with a 4xx status;
 *   - anything emitted by a request that failed (all or nothing: the fake
 *     emit() accepts every record, so a failure is the plugin's own);
 *   - an emitted record that is not self-consistent (a track without a
 *     name, a JSON member that is not an object, an identifier without a
 *     value, an mpid that is not the decimal text of an int64).  Each
 *     record also goes through the hub's record_from_hub().
 *
 *   make fuzz     (tests/fuzz/run.sh seeds it with tests/fixtures/mparticle/)
 */
#include "record.h"

#include "../../plugins/mparticle/mparticle.c"
#include "../../plugins/mparticle/mparticle_auth.c"
#include "../../plugins/mparticle/mparticle_batch.c"
#include "../../plugins/mparticle/mparticle_event.c"
#include "../../plugins/mparticle/mparticle_map.c"
#include "../../plugins/mparticle/mparticle_request.c"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_BASIC "Basic bXBfa2V5XzE6bXBfc2VjcmV0XzE=" /* mp_key_1:mp_secret_1 */
#define FUZZ_WEBHOOK "Bearer fuzz"
#define NOW_MS 1772000000000LL

static size_t n_emitted;

/* ---- the fake host ---------------------------------------------------- */

static void fake_log(const struct hub_instance *inst, enum hub_log_level level,
		     const char *fmt, ...)
{
	(void)inst;
	(void)level;
	(void)fmt;
}

static const char *fake_string(const struct hub_instance *inst, const char *key)
{
	static const char *const values[][2] = {
		{"api_key", "mp_key_1"},
		{"api_secret", "mp_secret_1"},
		{"webhook_authorization", FUZZ_WEBHOOK},
		{"gdpr_email_purpose", "email_marketing"},
		{"gdpr_sms_purpose", "sms_marketing"},
	};

	(void)inst;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strcmp(key, values[i][0]) == 0)
			return values[i][1];
	return NULL;
}

static int json_object_text(const char *text)
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

/* "-?[0-9]+" that strtoll reads back to the same text. */
static int is_int64_text(const char *s)
{
	char again[32], *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return 0;
	snprintf(again, sizeof(again), "%lld", n);
	return strcmp(again, s) == 0;
}

static void check_record(const struct hub_record *rec)
{
	if (rec->size != sizeof(*rec) || (rec->n_identifiers && !rec->identifiers) ||
	    rec->n_identifiers > MP_MAX_IDS)
		abort();
	for (size_t i = 0; i < rec->n_identifiers; i++) {
		const struct hub_ident *id = &rec->identifiers[i];
		if (!id->type || !id->value || !id->value[0])
			abort();
		if (strcmp(id->type, "mpid") == 0 && !is_int64_text(id->value))
			abort();
	}
	if (rec->type == HUB_REC_TRACK && (!rec->event_name || rec->attributes_json))
		abort();
	if (!json_object_text(rec->attributes_json) || !json_object_text(rec->properties_json) ||
	    !json_object_text(rec->consent_json))
		abort();
}

static hub_rc fake_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			size_t err_size)
{
	struct record_warnings w = {0};
	struct record *r = NULL;
	char why[256];

	(void)call;
	(void)err;
	(void)err_size;
	check_record(rec);
	(void)record_from_hub(rec, "mp", NULL, NOW_MS, &r, &w, why, sizeof(why));
	record_free(r);
	record_warnings_clear(&w);
	n_emitted++;
	return HUB_OK;
}

static int fake_secret_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	unsigned char diff = (unsigned char)(a_len != b_len);

	for (size_t i = 0; i < a_len && i < b_len; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static int64_t fake_now(void)
{
	return NOW_MS;
}

static const struct hub_host fake_host = {
	.size = sizeof(struct hub_host),
	.abi_major = HUB_ABI_MAJOR,
	.abi_minor = HUB_ABI_MINOR,
	.log = fake_log,
	.config_string = fake_string,
	.emit = fake_emit,
	.now_ms = fake_now,
	.secret_equal = fake_secret_equal,
};

/* ---- requests --------------------------------------------------------- */

struct fuzz_request {
	struct hub_request req;
	const char *value;
};

static const char *fuzz_header(const struct hub_request *req, const char *name)
{
	const struct fuzz_request *f = (const struct fuzz_request *)req;

	return strcasecmp(name, "Authorization") == 0 ? f->value : NULL;
}

static void check_answer(hub_rc rc, const struct hub_response *resp, size_t emitted_before)
{
	json_t *doc, *err;

	if (rc == HUB_OK) {
		if (resp->status != 202 || strcmp(resp->body, "{}") != 0)
			abort();
		return;
	}
	if (n_emitted != emitted_before || resp->status < 400 || resp->status > 499)
		abort();
	doc = json_loads(resp->body, 0, NULL);
	err = json_array_get(json_object_get(doc, "errors"), 0);
	if (!json_is_string(json_object_get(err, "code")) ||
	    !json_is_string(json_object_get(err, "message")))
		abort();
	json_decref(doc);
}

static void run_route(void *state, const char *path, const char *auth, const char *body,
		      size_t len)
{
	struct fuzz_request f = {
		.req = {.method = "POST", .path = path, .body = body, .body_len = len,
			.header = fuzz_header},
		.value = auth,
	};
	struct hub_response resp;
	size_t before = n_emitted;

	for (const struct hub_route *r = mparticle_plugin.routes; r->method; r++) {
		if (strcmp(r->path, path) != 0)
			continue;
		memset(&resp, 0, sizeof(resp));
		check_answer(r->handle(state, NULL, &f.req, &resp), &resp, before);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;
	char *body, err[256];
	size_t before;

	if (!state && mparticle_create(&fake_host, NULL, &state, err, sizeof(err)) != HUB_OK)
		abort();
	/* the host hands routes a NUL-terminated body */
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	run_route(state, "/v2/events", FUZZ_BASIC, body, size);
	run_route(state, "/v2/bulkevents", FUZZ_BASIC, body, size);
	run_route(state, "/webhook", FUZZ_WEBHOOK, body, size);

	before = n_emitted;
	if (mparticle_import_line(state, NULL, body, size, err, sizeof(err)) != HUB_OK &&
	    (n_emitted != before || err[0] == '\0'))
		abort();
	free(body);
	return 0;
}
