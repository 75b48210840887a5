/*
 * fuzz_mparticle.c - libFuzzer target for the mparticle plugin's mapping:
 * the input is a /v2/events body (with valid Basic credentials), then the
 * same bytes as a /v2/bulkevents body, a /v2/bulkevents/historical body,
 * a webhook body (with the right Authorization) and an import line.  The
 * plugin's sources are compiled in (so libFuzzer sees their coverage) and
 * run against a small fake host table (fuzzcall.h).
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
#include "../../plugins/mparticle/mparticle.c"
#include "../../plugins/mparticle/mparticle_auth.c"
#include "../../plugins/mparticle/mparticle_batch.c"
#include "../../plugins/mparticle/mparticle_consent.c"
#include "../../plugins/mparticle/mparticle_event.c"
#include "../../plugins/mparticle/mparticle_map.c"
#include "../../plugins/mparticle/mparticle_request.c"

#define FUZZ_SOURCE "mp"
#include "fuzzcall.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_BASIC "Basic bXBfa2V5XzE6bXBfc2VjcmV0XzE=" /* mp_key_1:mp_secret_1 */
#define FUZZ_WEBHOOK "Bearer fuzz"

/* ---- the fake host (fuzzcall.h) ---------------------------------------- */

static const char *fake_string(const struct hub_instance *inst, const char *key)
{
	static const char *const values[][2] = {
		{"api_key", "mp_key_1"},
		{"api_secret", "mp_secret_1"},
		{"webhook_authorization", FUZZ_WEBHOOK},
	};

	(void)inst;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strcmp(key, values[i][0]) == 0)
			return values[i][1];
	return NULL;
}

/* `gdpr_purposes`: a purpose per channel, one for both; any other purpose
 * is logged once (fuzz_http's host gives the older gdpr_*_purpose keys) */
static const char *fake_json(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	return strcmp(key, "gdpr_purposes") == 0
		       ? "{\"email_marketing\": \"email_marketing\", \"sms_marketing\": "
			 "\"sms_marketing\", \"marketing\": [\"email_marketing\", "
			 "\"sms_marketing\"]}"
		       : NULL;
}

/* `environments`: [production], so a development batch is skipped */
static size_t fake_list_size(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	return strcmp(key, "environments") == 0 ? 1 : 0;
}

static const char *fake_list_item(const struct hub_instance *inst, const char *key,
				  size_t index)
{
	(void)inst;
	return strcmp(key, "environments") == 0 && index == 0 ? "production" : NULL;
}

static const struct hub_host fake_host = {
	.config_string = fake_string,
	.config_list_size = fake_list_size,
	.config_list_item = fake_list_item,
	.config_json = fake_json,
};

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

static void fuzz_check_record(const struct hub_record *rec)
{
	if (rec->n_identifiers > MP_MAX_IDS)
		abort();
	for (size_t i = 0; i < rec->n_identifiers; i++) {
		const struct hub_ident *id = &rec->identifiers[i];
		if (!id->value[0])
			abort();
		if (strcmp(id->type, "mpid") == 0 && !is_int64_text(id->value))
			abort();
	}
}

static void fuzz_check_answer(hub_rc rc, const struct hub_response *resp)
{
	json_t *doc, *err;

	if (rc == HUB_OK) {
		if (resp->status != 202 || strcmp(resp->body, "{}") != 0)
			abort();
		return;
	}
	doc = json_loads(resp->body, 0, NULL);
	err = json_array_get(json_object_get(doc, "errors"), 0);
	if (!json_is_string(json_object_get(err, "code")) ||
	    !json_is_string(json_object_get(err, "message")))
		abort();
	json_decref(doc);
}

/* ---- requests --------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;
	char *body = fuzz_begin(&mparticle_plugin, &fake_host, &state, data, size);

	if (!body)
		return 0;
	fuzz_route(&mparticle_plugin, state, "/v2/events", "Authorization", FUZZ_BASIC, body,
		   size);
	fuzz_route(&mparticle_plugin, state, "/v2/bulkevents", "Authorization", FUZZ_BASIC, body,
		   size);
	fuzz_route(&mparticle_plugin, state, "/v2/bulkevents/historical", "Authorization",
		   FUZZ_BASIC, body, size);
	fuzz_route(&mparticle_plugin, state, "/webhook", "Authorization", FUZZ_WEBHOOK, body,
		   size);
	fuzz_import_line(&mparticle_plugin, state, body, size);
	free(body);
	return 0;
}
