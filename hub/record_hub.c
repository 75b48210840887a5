/*
 * record_hub.c - the plugin door: a plugin's struct hub_record (from a push
 * request, a pull's rows or an import) read into a struct record_input and
 * handed to record_build() in record.c, which owns every rule.
 *
 * A record is as large as the ABI minor its plugin was built for: a member
 * appended by a later minor is only read when the record reaches past it
 * (RECORD_HAS).  Its JSON members are parsed here, once; an integer past 64
 * bits is read as a double.  Never apply a record rule here; a rule written
 * twice drifts.
 */
#include "record_int.h"

#include "alloc.h"
#include "util.h"

/* header-only, shared with the push sources */
#include "../plugins/common/json_bigint.h"

#include <stddef.h>
#include <string.h>

/* sizeof(struct hub_record) at ABI 1.0: every member up to previous_id. */
#define HUB_RECORD_SIZE_1_0 \
	(offsetof(struct hub_record, previous_id) + sizeof(((struct hub_record *)0)->previous_id))

/* Does the plugin's record reach past `member` (appended by a later minor)? */
#define RECORD_HAS(rec, member)                                                \
	((rec)->size >= offsetof(struct hub_record, member) + sizeof((rec)->member))

const char *record_origin(const struct hub_record *rec)
{
	if (!rec || !RECORD_HAS(rec, origin))
		return NULL; /* a plugin built before ABI 1.3 */
	return rec->origin && rec->origin[0] ? rec->origin : NULL;
}

/* Was an event time given?  Before ABI 1.5 a timestamp_ms of 0 meant
 * none; since, has_timestamp makes 0 the instant 1970-01-01T00:00:00Z. */
static int record_has_timestamp(const struct hub_record *rec)
{
	return rec->timestamp_ms != 0 || (RECORD_HAS(rec, has_timestamp) && rec->has_timestamp);
}

/* Parses a JSON member of a hub_record (NULL text or "null": none); an
 * integer past 64 bits (a warehouse NUMBER(38)) is read as a double. */
static hub_rc member_parse(const char *text, const char *field, json_t **out, char *err,
			   size_t err_size)
{
	json_error_t e;
	int had_big;

	*out = NULL;
	if (!text)
		return HUB_OK;
	*out = json_loadb_big_ints(text, strlen(text), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
				   &e, &had_big, alloc_failed_poll);
	if (had_big < 0) {
		err_set(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (!*out)
		return record_json_error(err, err_size, field, &e);
	return HUB_OK;
}

hub_rc record_from_hub(const struct hub_record *rec, const char *source,
		       const struct record_rules *rules, int64_t now_ms,
		       struct record **out, struct record_warnings *warnings,
		       char *err, size_t err_size)
{
	struct record_input in = {0};
	json_t *attrs = NULL, *consent = NULL, *props = NULL;
	hub_rc rc;

	*out = NULL;
	if (!rec) {
		err_set(err, err_size, "record: missing");
		return HUB_ERR_DATA;
	}
	if (rec->size < HUB_RECORD_SIZE_1_0) {
		err_set(err, err_size, "record: size %u is too small (use hub_record_init)",
			(unsigned)rec->size);
		return HUB_ERR_DATA;
	}
	in.type = rec->type;
	if (record_reads_attributes(rec->type) &&
	    (rc = member_parse(rec->attributes_json, "attributes", &attrs, err, err_size)))
		goto out;
	if (record_reads_consent(rec->type) &&
	    (rc = member_parse(rec->consent_json, "consent", &consent, err, err_size)))
		goto out;
	if (rec->type == HUB_REC_TRACK &&
	    (rc = member_parse(rec->properties_json, "event.properties", &props, err, err_size)))
		goto out;
	in.source = source;
	in.message_id = rec->message_id;
	in.timestamp_ms = rec->timestamp_ms;
	in.has_timestamp = record_has_timestamp(rec);
	in.sent_at_ms = rec->sent_at_ms;
	in.received_at_ms = rec->received_at_ms;
	in.has_received_at = rec->received_at_ms != 0;
	in.idents = rec->identifiers;
	in.n_idents = rec->identifiers ? rec->n_identifiers : 0;
	in.custom_id_is_null = rec->custom_id_is_null;
	in.platform = rec->platform;
	in.push_enabled = rec->push_enabled;
	in.attributes = attrs;
	in.consent = consent;
	in.event_name = rec->event_name;
	in.properties = props;
	in.previous_id = rec->previous_id;
	in.origin = record_origin(rec);
	rc = record_build(&in, rules, now_ms, out, warnings, err, err_size);
out:
	json_decref(attrs);
	json_decref(consent);
	json_decref(props);
	return rc;
}
