/*
 * privacy.c - a privacy erase as a record through the intake (privacy.h),
 * and the deletion of its blocks once they are long over.  The erasure
 * itself is the engine's (unify_erase.c).  No SQL here.
 */
#include "privacy.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/*
 * The request is read without identity.blocked_values: a value blocked
 * after it was stored still names the person holding it (IDENTITY.md
 * section 7), as it does for an access.  The built-in junk words, never
 * stored, stay refused.
 */
hub_rc privacy_erase_record(const struct record_rules *rules, const char *by, const char *value,
			    const char *request_id, struct record **out, char *err,
			    size_t err_size)
{
	struct record_rules request_rules = *rules;
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
	request_rules.blocked_values = NULL;
	request_rules.n_blocked_values = 0;
	rc = record_from_json(text, strlen(text), "privacy", &request_rules, time_now_ms(), out,
			      NULL, err, err_size);
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

/*
 * When a block's row goes.  The block list holds an erased person's
 * identifiers in the clear, so it must not be kept for ever; but a block
 * ends on record timestamps (IDENTITY.md section 7: records timed before
 * the erase time + erase_block_days are refused, whenever they arrive),
 * and records arrive late: an app that was offline, a warehouse sync of
 * older rows, a client retrying.  Deleted as soon as the wall clock passed
 * its end, a block would let such a record in, timed inside the block.  So
 * the row is kept a second erase_block_days past its end, measured on the
 * wall clock (until <= now - erase_block_days): a record that late is
 * still refused; one later still is taken, its identifiers unblocked.
 */
static int64_t blocks_prune_bound(int erase_block_days, int64_t now_ms)
{
	int64_t days = erase_block_days > 0 ? erase_block_days : 30; /* unify_init's */
	return now_ms - days * 24 * 3600 * 1000;
}

int privacy_blocks_prune(struct store *s, int erase_block_days, int64_t now_ms,
			 const atomic_int *stop, size_t *n_deleted)
{
	int64_t bound = blocks_prune_bound(erase_block_days, now_ms);
	size_t n = 0;

	*n_deleted = 0;
	do {
		if (s->ops->begin(s) ||
		    s->ops->block_prune(s, bound, PRIVACY_BLOCK_PRUNE_CHUNK, &n) ||
		    s->ops->commit(s)) {
			s->ops->rollback(s);
			return -1;
		}
		*n_deleted += n;
	} while (n == PRIVACY_BLOCK_PRUNE_CHUNK && !(stop && atomic_load(stop)));
	return 0;
}
