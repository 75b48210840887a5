/*
 * privacy.c - a privacy erase as a record through the intake (privacy.h).
 * The erasure itself is the engine's (unify_erase.c).
 */
#include "privacy.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

hub_rc privacy_erase_record(const struct record_rules *rules, const char *by, const char *value,
			    const char *request_id, struct record **out, char *err,
			    size_t err_size)
{
	json_t *rj = json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "erase", "source", "privacy",
			       "message_id", request_id, "identifiers", by, value);
	char *text = rj ? json_dumps(rj, JSON_COMPACT) : NULL;
	hub_rc rc;

	*out = NULL;
	json_decref(rj);
	if (!text) {
		err_set(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	rc = record_from_json(text, strlen(text), "privacy", rules, time_now_ms(), out, NULL, err,
			      err_size);
	free(text); /* json_dumps() allocates with malloc */
	return rc;
}

hub_rc privacy_erase_submit(struct intake *in, const struct record_rules *rules, const char *by,
		     const char *value, const char *request_id, char *err, size_t err_size)
{
	struct intake_batch b = {0};
	struct record *rec = NULL;
	hub_rc rc = privacy_erase_record(rules, by, value, request_id, &rec, err, err_size);

	if (rc != HUB_OK)
		return rc;
	b.records = &rec;
	b.n_records = 1;
	rc = intake_submit(in, &b);
	if (rc == HUB_OK)
		rc = intake_wait(in, &b);
	if (rc != HUB_OK && rc != HUB_ERR_BUSY && rc != HUB_ERR_STOPPED)
		err_set(err, err_size, "%s", b.err);
	else if (rc != HUB_OK)
		err_set(err, err_size, "the intake cannot take it now");
	record_free(rec);
	return rc;
}
