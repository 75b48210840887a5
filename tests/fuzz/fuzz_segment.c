/*
 * fuzz_segment.c - libFuzzer target for the segment plugin's mapping: the
 * input is a /v1/batch body (with a valid Basic write key), then the same
 * bytes as a webhook body (validly signed) and as an import line.  The
 * plugin's sources are compiled in (so libFuzzer sees their coverage) and
 * run against a small fake host table.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - an answer that is not 200 {"success":true} nor a JSON error with a
 *     code (and a 4xx status);
 *   - anything emitted by a request that failed (all or nothing: the fake
 *     emit() accepts every record, so a failure is the plugin's own);
 *   - an emitted record that is not self-consistent (a track without a
 *     name, a JSON member that is not an object, an identifier without a
 *     value).  Each record also goes through the hub's record_from_hub().
 *
 *   make fuzz     (tests/fuzz/run.sh seeds it with tests/fixtures/segment/)
 */
#include "record.h"

#include "../../plugins/segment/segment.c"
#include "../../plugins/segment/segment_auth.c"
#include "../../plugins/segment/segment_event.c"
#include "../../plugins/segment/segment_map.c"
#include "../../plugins/segment/segment_request.c"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY "wk_fuzz"
#define FUZZ_SECRET "whsec_fuzz"
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
	(void)inst;
	return strcmp(key, "webhook_secret") == 0 ? FUZZ_SECRET : NULL;
}

static size_t fake_list_size(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	return strcmp(key, "write_keys") == 0 ? 2 : 0;
}

static const char *fake_list_item(const struct hub_instance *inst, const char *key,
				  size_t index)
{
	(void)inst;
	if (strcmp(key, "write_keys") != 0)
		return NULL;
	return index == 0 ? "another" : index == 1 ? FUZZ_KEY : NULL;
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

static void check_record(const struct hub_record *rec)
{
	if (rec->size != sizeof(*rec) || (rec->n_identifiers && !rec->identifiers))
		abort();
	for (size_t i = 0; i < rec->n_identifiers; i++)
		if (!rec->identifiers[i].type || !rec->identifiers[i].value)
			abort();
	if (rec->type == HUB_REC_TRACK && (!rec->event_name || rec->attributes_json))
		abort();
	if (rec->type == HUB_REC_ALIAS && !rec->previous_id)
		abort();
	if (!json_object_text(rec->attributes_json) || !json_object_text(rec->properties_json))
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
	(void)record_from_hub(rec, "web", NULL, NOW_MS, &r, &w, why, sizeof(why));
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
	.config_list_size = fake_list_size,
	.config_list_item = fake_list_item,
	.emit = fake_emit,
	.now_ms = fake_now,
	.secret_equal = fake_secret_equal,
};

/* ---- requests --------------------------------------------------------- */

struct fuzz_request {
	struct hub_request req;
	const char *name, *value;
};

static const char *fuzz_header(const struct hub_request *req, const char *name)
{
	const struct fuzz_request *f = (const struct fuzz_request *)req;

	return strcasecmp(name, f->name) == 0 ? f->value : NULL;
}

static void check_answer(hub_rc rc, const struct hub_response *resp, size_t emitted_before)
{
	json_t *doc;

	if (rc == HUB_OK) {
		if (resp->status != 200 || strcmp(resp->body, "{\"success\":true}") != 0)
			abort();
		return;
	}
	if (n_emitted != emitted_before || resp->status < 400 || resp->status > 499)
		abort();
	doc = json_loads(resp->body, 0, NULL);
	if (!json_is_string(json_object_get(json_object_get(doc, "error"), "code")))
		abort();
	json_decref(doc);
}

static void run_route(void *state, const char *path, const char *hname, const char *hvalue,
		      const char *body, size_t len)
{
	struct fuzz_request f = {
		.req = {.method = "POST", .path = path, .body = body, .body_len = len,
			.header = fuzz_header},
		.name = hname,
		.value = hvalue,
	};
	struct hub_response resp;
	size_t before = n_emitted;

	for (const struct hub_route *r = segment_plugin.routes; r->method; r++) {
		if (strcmp(r->path, path) != 0)
			continue;
		memset(&resp, 0, sizeof(resp));
		check_answer(r->handle(state, NULL, &f.req, &resp), &resp, before);
	}
}

static void signature(const char *body, size_t len, char hex[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;

	HMAC(EVP_sha1(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), (const unsigned char *)body, len,
	     md, &md_len);
	for (unsigned i = 0; i < md_len && i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;
	char *body, sig[41] = "", err[256];
	size_t before;

	if (!state && segment_create(&fake_host, NULL, &state, err, sizeof(err)) != HUB_OK)
		abort();
	/* the host hands routes a NUL-terminated body */
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	run_route(state, "/v1/batch", "Authorization", "Basic d2tfZnV6ejo=", body, size);
	run_route(state, "/v1/track", "Authorization", "Basic d2tfZnV6ejo=", body, size);
	signature(body, size, sig);
	run_route(state, "/webhook", "X-Signature", sig, body, size);

	before = n_emitted;
	if (segment_import_line(state, NULL, body, size, err, sizeof(err)) != HUB_OK &&
	    (n_emitted != before || err[0] == '\0'))
		abort();
	free(body);
	return 0;
}
