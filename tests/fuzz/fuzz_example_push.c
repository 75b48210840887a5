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
 *     self-consistent (fuzzcall.h) or has no custom_id;
 *   - admit() (the token checked from the headers) letting through an
 *     Authorization value other than the token, or refusing it.
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

/* admit() (ABI 1.11) on the headers alone: the right token passes, any
 * other Authorization value (the input's text) is refused with a 401. */
static void fuzz_check_admit(void *state, const char *auth)
{
	struct fuzz_request f = {.req = {.method = "POST", .path = "/v1/record",
					 .header = fuzz_header},
				 .name = "Authorization"};
	struct hub_response resp;
	hub_rc rc;

	for (int pass = 0; pass < 2; pass++) {
		f.value = pass ? auth : "Bearer " FUZZ_TOKEN;
		memset(&resp, 0, sizeof(resp));
		rc = example_push_plugin.admit(state, &f.req, &resp);
		if (strcmp(f.value, "Bearer " FUZZ_TOKEN) == 0 ? rc != HUB_OK
							       : rc != HUB_ERR_AUTH ||
								 resp.status != 401)
			abort();
	}
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
	fuzz_check_admit(state, body); /* the body's text as the header's value */
	free(body);
	return 0;
}
