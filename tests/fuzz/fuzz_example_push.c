/*
 * fuzz_example_push.c - libFuzzer target for the push template
 * (plugins/example_push, what `make plugin KIND=push` copies): the input is
 * a /v1/record body with the right bearer token.  The plugin's source is
 * compiled in and run against the fake host table of fuzzcall.h.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - an answer that is not 200 {"success":true} nor a JSON error with a
 *     code (a failed request must also answer 4xx and emit nothing:
 *     fuzz_route());
 *   - more than one record from one request, or a record that is not
 *     self-consistent (fuzzcall.h) or has no custom_id.
 *
 *   make fuzz     (tests/fuzz/run.sh seeds it with tests/fixtures/example_push/)
 */
#include "../../plugins/example_push/example_push.c"

#define FUZZ_SOURCE "hook"
#include "fuzzcall.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_TOKEN "fuzz-token"

static const char *fake_string(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	return strcmp(key, "token") == 0 ? FUZZ_TOKEN : NULL;
}

static const struct hub_host fake_host = {
	.config_string = fake_string,
};

static void fuzz_check_record(const struct hub_record *rec)
{
	if (rec->n_identifiers != 1 || strcmp(rec->identifiers[0].type, "custom_id") != 0)
		abort();
}

static void fuzz_check_answer(hub_rc rc, const struct hub_response *resp)
{
	fuzz_check_success_or_error(rc, resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;
	char *body = fuzz_begin(&example_push_plugin, &fake_host, &state, data, size);
	size_t before = fuzz_n_emitted;

	if (!body)
		return 0;
	fuzz_route(&example_push_plugin, state, "/v1/record", "Authorization",
		   "Bearer " FUZZ_TOKEN, body, size);
	if (fuzz_n_emitted - before > 1)
		abort();
	/* without the token nothing is read */
	before = fuzz_n_emitted;
	fuzz_route(&example_push_plugin, state, "/v1/record", "Authorization", "Bearer x", body,
		   size);
	if (fuzz_n_emitted != before)
		abort();
	free(body);
	return 0;
}
