/*
 * fuzz_record.c - libFuzzer target for the canonical JSON door: any input
 * to record_from_json() must end in a record or an error, never a crash, a
 * leak or a message without its field.  Rules: one external id (crm_id,
 * limit 1, priority 1) and one extra blocked value.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address -Ihub \
 *       tests/fuzz/fuzz_record.c hub/record*.c hub/alloc.c hub/util.c hub/log.c \
 *       -ljansson -lcrypto -o fuzz_record
 *   ./fuzz_record seeds/      (seeds: one line of the scenario .jsonl files each)
 */
#include "record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1741000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config_external_id crm[] = {{"crm_id", 1, 1}};
	static char *blocked[] = {"unknown_user"};
	static const struct record_rules rules = {crm, 1, blocked, 1};
	struct record_warnings w = {0};
	struct record *r = NULL;
	char err[256] = "";
	hub_rc rc;

	rc = record_from_json((const char *)data, size, "fuzz", &rules, NOW_MS, &r, &w, err,
			      sizeof(err));
	if (rc == HUB_OK) {
		/* an accepted record is complete */
		if (!r || !r->source || !r->message_id || !record_type_name(r->type))
			abort();
		if (r->type == HUB_REC_TRACK &&
		    (!r->event_name || !r->properties_json || r->properties_json[0] != '{'))
			abort();
		if (!r->is_logout && r->type != HUB_REC_ALIAS && !r->custom_id &&
		    !r->installation_id && r->n_externals == 0)
			abort();
	} else if (r || err[0] == '\0' || strlen(err) >= sizeof(err) - 1) {
		abort();
	}
	record_free(r);
	record_warnings_clear(&w);
	return 0;
}
