/*
 * fuzz_hubrec.c - the host's door for plugin-provided records
 * (hub/record_hub.c: record_from_hub, then record_build and the value checks):
 * every field of struct hub_record from the input, as any plugin (a
 * third-party one included) may fill it, not only as segment / mparticle /
 * rowmap do (their targets reach it with their own shapes).
 *
 * The input: 40 header bytes, then texts split at '\x01':
 *   0      type (value - 2: -2..253, out-of-range types included)
 *   1      size: 0 sizeof, 1 up to origin (1.3 without has_timestamp),
 *          2 up to previous_id (1.0), 3 sizeof - 1, else the byte
 *   2      flags: bit 0 custom_id_is_null, 1 has_timestamp, 2..3
 *          push_enabled - 1, bit 4: empty texts are "" (else NULL)
 *   3      n identifiers (0..6)
 *   4..11  timestamp_ms, 12..19 sent_at_ms, 20..27 received_at_ms (raw
 *          int64, little endian), 28..39 unused
 *   texts  message_id, platform, attributes_json, consent_json,
 *          event_name, properties_json, previous_id, origin, then type and
 *          value of each identifier
 * Findings: crashes, sanitizer reports, leaks; an accepted record without
 * source / message_id or with a timestamp outside years 1..9999; a
 * refusal without a message.
 */
#include "record.h"
#include "record_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1772000000000LL
#define N_TEXTS 8
#define MAX_IDS 6

static int64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config_external_id crm[] = {{"crm_id", 1, 1}, {"email", 2, 2}};
	static char *blocked[] = {"unknown_user", "0"};
	static const struct record_rules rules = {crm, 2, blocked, 2};
	struct hub_record rec;
	struct hub_ident ids[MAX_IDS];
	const char *texts[N_TEXTS + 2 * MAX_IDS];
	struct record_warnings w = {0};
	struct record *r = NULL;
	char err[512] = "", *text;
	size_t n = 0, n_ids;
	unsigned flags;
	hub_rc rc;

	if (size < 40 || size > 65536 || !(text = malloc(size - 40 + 1)))
		return 0;
	memcpy(text, data + 40, size - 40);
	text[size - 40] = '\0';
	flags = data[2];
	for (char *s = text; n < sizeof(texts) / sizeof(texts[0]);) {
		texts[n++] = s;
		if (!(s = strchr(s, '\x01')))
			break;
		*s++ = '\0';
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (i >= n || (!texts[i][0] && !(flags & 16)))
			texts[i] = i >= n && (flags & 16) ? "" : NULL;

	hub_record_init(&rec, (enum hub_record_type)((int)data[0] - 2));
	switch (data[1]) {
	case 0: break;
	case 1: rec.size = (uint32_t)offsetof(struct hub_record, has_timestamp); break;
	case 2: rec.size = (uint32_t)offsetof(struct hub_record, origin); break;
	case 3: rec.size = (uint32_t)sizeof(rec) - 1; break;
	default: rec.size = data[1]; break;
	}
	rec.custom_id_is_null = flags & 1;
	rec.has_timestamp = (flags >> 1) & 1;
	rec.push_enabled = (int)((flags >> 2) & 3) - 1;
	rec.timestamp_ms = le64(data + 4);
	rec.sent_at_ms = le64(data + 12);
	rec.received_at_ms = le64(data + 20);
	rec.message_id = texts[0];
	rec.platform = texts[1];
	rec.attributes_json = texts[2];
	rec.consent_json = texts[3];
	rec.event_name = texts[4];
	rec.properties_json = texts[5];
	rec.previous_id = texts[6];
	rec.origin = texts[7];
	n_ids = data[3] % (MAX_IDS + 1);
	for (size_t i = 0; i < n_ids; i++) {
		ids[i].type = texts[N_TEXTS + 2 * i];
		ids[i].value = texts[N_TEXTS + 2 * i + 1];
	}
	rec.identifiers = n_ids ? ids : NULL;
	rec.n_identifiers = n_ids;

	rc = record_from_hub(&rec, "plug", &rules, NOW_MS, &r, &w, err, sizeof(err));
	if (rc == HUB_OK) {
		if (!r || !r->source || !r->message_id || !record_type_name(r->type))
			abort();
		if (r->timestamp_ms < -62135596800000LL || r->timestamp_ms > 253402300799999LL)
			abort();
	} else if (r || !err[0]) {
		abort();
	}
	record_free(r);
	record_warnings_clear(&w);
	free(text);
	return 0;
}
