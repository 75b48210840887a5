/*
 * fuzz_segment.c - libFuzzer target for the segment plugin's mapping: the
 * input is a /v1/batch body (with a valid Basic write key), then the same
 * bytes as a webhook body (validly signed) and as an import line.  The
 * plugin's sources are compiled in (so libFuzzer sees their coverage) and
 * run against a small fake host table (fuzzcall.h).
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
#include "../../plugins/segment/segment.c"
#include "../../plugins/segment/segment_auth.c"
#include "../../plugins/segment/segment_event.c"
#include "../../plugins/segment/segment_map.c"
#include "../../plugins/segment/segment_msgid.c"
#include "../../plugins/segment/segment_request.c"

#define FUZZ_SOURCE "web"
#include "fuzzcall.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY "wk_fuzz"
#define FUZZ_SECRET "whsec_fuzz"
#define FUZZ_BASIC "Basic d2tfZnV6ejo=" /* wk_fuzz: */

/* ---- the fake host (fuzzcall.h) ---------------------------------------- */

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

static const struct hub_host fake_host = {
	.config_string = fake_string,
	.config_list_size = fake_list_size,
	.config_list_item = fake_list_item,
};

static void fuzz_check_record(const struct hub_record *rec)
{
	if (rec->type == HUB_REC_ALIAS && !rec->previous_id)
		abort();
}

static void fuzz_check_answer(hub_rc rc, const struct hub_response *resp)
{
	fuzz_check_success_or_error(rc, resp);
}

/* ---- requests --------------------------------------------------------- */

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
	char *body = fuzz_begin(&segment_plugin, &fake_host, &state, data, size);
	char sig[41] = "";

	if (!body)
		return 0;
	fuzz_route(&segment_plugin, state, "/v1/batch", "Authorization", FUZZ_BASIC, body, size);
	fuzz_route(&segment_plugin, state, "/v1/track", "Authorization", FUZZ_BASIC, body, size);
	signature(body, size, sig);
	fuzz_route(&segment_plugin, state, "/webhook", "X-Signature", sig, body, size);
	fuzz_import_line(&segment_plugin, state, body, size);
	free(body);
	return 0;
}
