/*
 * privacy.c - a privacy erase as a record through the intake (privacy.h),
 * with its request's record; request IDs and records (api_privacy.c writes
 * those of the API's requests); the deletion of erase blocks once they are
 * long over, and of the oldest request records.  The erasure itself is
 * the engine's (unify_erase.c).  No SQL here.
 */
#include "privacy.h"

#include "alloc.h"
#include "util.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A profile ID is no identifier: the record carries it apart
 * (record.h), and only this door makes such a record. */
static hub_rc privacy_erase_record_of_profile(const char *pid, const char *request_id,
					      struct record **out, char *err, size_t err_size)
{
	char shown[RECORD_SHOW_SIZE];

	*out = NULL;
	if (!store_profile_id_is_valid(pid)) {
		err_set(err, err_size, "profile_id: \"%s\" is not a profile ID (" PROFILE_ID_SHAPE
			")", record_show(shown, pid));
		return HUB_ERR_DATA;
	}
	return record_erase_of_profile(pid, request_id, time_now_ms(), out, err, err_size);
}

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
	json_t *rj;
	char *text;
	hub_rc rc;

	if (strcmp(by, "profile_id") == 0)
		return privacy_erase_record_of_profile(value, request_id, out, err, err_size);
	rj = json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "erase", "source", "privacy",
			       "message_id", request_id, "identifiers", by, value);
	text = rj ? json_dumps_whole(rj, JSON_COMPACT) : NULL;
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

int privacy_request_id_new(char *id, size_t size, char *why, size_t why_size)
{
	unsigned char rnd[8];
	unsigned long e;
	char text[256];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		e = ERR_get_error();
		ERR_error_string_n(e, text, sizeof(text));
		snprintf(why, why_size, "no random request ID (RAND_bytes: %s)",
			 e ? text : "failed");
		return -1;
	}
	snprintf(id, size, "pr_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
		 rnd[4], rnd[5], rnd[6], rnd[7]);
	return 0;
}

json_t *privacy_request_json(const char *id, const char *type, const char *status,
			     int64_t created_ms, int64_t finished_ms)
{
	char c[40], f[40];
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "type", type, "status", status,
			 "created_at", time_format_ms(created_ms, c, sizeof(c)), "finished_at",
			 finished_ms ? json_string(time_format_ms(finished_ms, f, sizeof(f)))
				     : json_null());
}

void privacy_request_key(char *key, size_t size, const char *id)
{
	snprintf(key, size, PRIVACY_REQUEST_PREFIX "%s", id);
}

/* The batch's warnings as a new array of messages, NULL when none. */
static json_t *erase_warnings(const struct intake_batch *b)
{
	json_t *list = b->n_warnings ? json_array() : NULL;

	for (size_t i = 0; list && i < b->n_warnings; i++)
		json_array_append_new(list, json_string(b->warnings[i].message));
	return list;
}

hub_rc privacy_erase_submit(struct intake *in, const struct record_rules *rules, const char *by,
			    const char *value, const char *request_id, json_t **warnings,
			    char *err, size_t err_size)
{
	struct intake_batch b = {0};
	struct record *rec = NULL;
	int64_t now = time_now_ms();
	json_t *done = privacy_request_json(request_id, "erase", "done", now, now);
	char key[64], *text = done ? json_dumps_whole(done, JSON_COMPACT) : NULL;
	hub_rc rc = text ? privacy_erase_record(rules, by, value, request_id, &rec, err, err_size)
			 : HUB_ERR_NOMEM;

	json_decref(done);
	if (!text)
		err_set(err, err_size, "out of memory");
	if (rc != HUB_OK) {
		free(text); /* json_dumps() allocates with malloc */
		return rc;
	}
	privacy_request_key(key, sizeof(key), request_id);
	b.records = &rec;
	b.n_records = 1;
	b.cursor_key = key; /* the request's record, committed with the erase */
	b.cursor_value = text;
	if (warnings)
		*warnings = NULL;
	rc = intake_submit(in, &b);
	if (rc == HUB_OK)
		rc = intake_wait(in, &b);
	if (rc == HUB_OK && warnings)
		*warnings = erase_warnings(&b);
	if (rc != HUB_OK && b.is_outcome_unknown)
		err_set(err, err_size, "whether the erase was done is unknown (%s); run it again:"
			" an erase may be repeated safely", b.err);
	else if (rc != HUB_OK)
		err_set(err, err_size, "the erase was not done: nothing was erased (%s); run it"
			" again", rc == HUB_ERR_BUSY || rc == HUB_ERR_STOPPED
				  ? "the intake cannot take it now" : b.err);
	record_free(rec);
	free(text);
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

/* ---- privacy request records ------------------------------------------ */

/* The records of the store, by age (meta_list's callback collects them). */
struct request_ages {
	struct request_age {
		char created_at[40];
		char key[64];
	} *items;
	size_t n, cap;
	int has_failed;
};

static int request_age_add(void *ctx, const char *key, const char *value)
{
	struct request_ages *a = ctx;
	json_t *o = json_loads_whole(value, 0, NULL, NULL);
	const char *created = json_string_value(json_object_get(o, "created_at"));

	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : PRIVACY_REQUESTS_KEPT + 1;
		struct request_age *items = hub_realloc(a->items, cap * sizeof(*items));
		if (!items) {
			json_decref(o);
			a->has_failed = 1;
			return 1;
		}
		a->items = items;
		a->cap = cap;
	}
	/* an unreadable record sorts first: the first to go */
	snprintf(a->items[a->n].created_at, sizeof(a->items[a->n].created_at), "%s",
		 created ? created : "");
	snprintf(a->items[a->n].key, sizeof(a->items[a->n].key), "%s", key);
	a->n++;
	json_decref(o);
	return 0;
}

/* created_at is UTC with milliseconds, of one width: its text sorts as
 * its time does */
static int request_age_cmp(const void *x, const void *y)
{
	const struct request_age *a = x, *b = y;
	int c = strcmp(a->created_at, b->created_at);

	return c ? c : strcmp(a->key, b->key);
}

int privacy_requests_prune(struct store *s, size_t keep, size_t *n_deleted)
{
	struct request_ages a = {0};
	int rc = -1;

	*n_deleted = 0;
	if (s->ops->begin(s))
		return -1;
	if (s->ops->meta_list(s, PRIVACY_REQUEST_PREFIX, request_age_add, &a))
		goto out;
	if (a.has_failed) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	if (a.n > keep) {
		qsort(a.items, a.n, sizeof(*a.items), request_age_cmp);
		for (size_t i = 0; i < a.n - keep; i++)
			if (s->ops->meta_delete(s, a.items[i].key))
				goto out;
	}
	if (s->ops->commit(s))
		goto out;
	*n_deleted = a.n > keep ? a.n - keep : 0;
	rc = 0;
out:
	if (rc)
		s->ops->rollback(s);
	hub_free(a.items);
	return rc;
}
