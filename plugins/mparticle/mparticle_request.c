/*
 * mparticle_request.c - one request body (or one imported line) from text
 * to emitted records, all or nothing:
 *
 *   1. size: a body over 256 KB is refused (413) before it is parsed;
 *   2. parse with duplicate object keys rejected and integers kept as
 *      64-bit integers (an mpid above 2^53 must not become a double); an
 *      integer past 64 bits is read as a double, and only it
 *      (plugins/common/json_bigint.h);
 *   3. shape: one batch object (/v2/events, an import line), an array of
 *      at most 100 batches (/v2/bulkevents, /v2/bulkevents/historical),
 *      either (the webhook);
 *   4. read every batch and every event (mparticle_batch.c) - the first
 *      bad one is named by its index and nothing is emitted; so is a batch
 *      whose source_request_id an earlier batch of the request has (its
 *      records would take that batch's message ids and be dropped as its
 *      duplicates: a resend is another request, never a second batch of
 *      one); on /v2/bulkevents/historical, so is an event without its own
 *      time or a time past the hub's 24 h clamp (mp_batch_historical): a
 *      backfill's records keep the times sent, never the upload's;
 *   5. read and emit each batch again (mparticle_map.c), except a batch of
 *      an environment the source does not store (`environments`, by
 *      default production only): checked like any, acknowledged, counted
 *      (skip(), ABI 1.12: mp_env_skip()), not stored; a batch without
 *      source_request_id first gets the digest of its text, the key of
 *      its events' message ids: the body or line as received for one
 *      batch, the element's canonical dump (compact, keys sorted) and its
 *      index for a batch of an array, whose own bytes jansson does not
 *      keep (and the request's time, for events without any time:
 *      mparticle_map.c).
 */
#include "mparticle.h"

#include "../common/alloc_watch.h"
#include "../common/json_bigint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The body as JSON, an integer past 64 bits (JavaScript prints
 * 12345678901234567000 as plain digits) read as a double; every other
 * integer, an mpid above all, stays one.  NULL with e set: a 400, or a
 * 500 when memory ran out (jansson says bad text: alloc_failed() tells). */
static json_t *mp_parse(const struct mp_state *st, const char *text, size_t len,
			struct mp_error *e)
{
	json_error_t jerr;
	int had_big;
	json_t *root = json_loadb_big_ints(
		text, len, JSON_REJECT_DUPLICATES, &jerr, &had_big,
		alloc_watch_of(st->host));
	char *near;

	if (had_big < 0) {
		mp_error_set(e, 500, "internal", -1, "out of memory");
		return NULL;
	}
	if (root)
		return root;
	/* "... near 'token'": the token could be anything the client sent (a
	 * secret pasted in the wrong place): only jansson's own words stay. */
	if ((near = strstr(jerr.text, " near ")))
		*near = '\0';
	mp_error_set(e, 400, "invalid_json", -1, "invalid JSON at line %d, column %d: %s",
		     jerr.line, jerr.column, jerr.text);
	return NULL;
}

/* Where the batches are: `items` an array of them, or NULL for one (root). */
static int mp_shape_body(json_t *root, enum mp_shape shape, json_t **items, struct mp_error *e)
{
	*items = NULL;
	if ((shape == MP_ONE_BATCH || shape == MP_ANY) && json_is_object(root))
		return 0;
	if (shape != MP_ONE_BATCH && json_is_array(root)) {
		if (json_array_size(root) > MP_MAX_BATCHES) {
			mp_error_set(e, 400, "too_many_batches", -1,
				     "body: %zu batches, the limit is %d",
				     json_array_size(root), MP_MAX_BATCHES);
			return -1;
		}
		*items = root;
		return 0;
	}
	mp_error_set(e, 400, "invalid_request", -1, "body: must be %s",
		     shape == MP_ONE_BATCH ? "a batch object"
		     : shape == MP_ANY     ? "a batch object or an array of them"
					   : "an array of batch objects");
	return -1;
}

/* b->text_digest for a batch without source_request_id: `body` when it is
 * the only batch (items NULL), else the canonical dump of b->obj. */
static hub_rc mp_digest_batch(struct mp_batch *b, json_t *items, const char *body, size_t len,
			      long index, struct mp_error *e)
{
	char *text = NULL;
	hub_rc rc = HUB_ERR_NOMEM;

	if (b->source_request_id)
		return HUB_OK;
	if (items) {
		if (!(text = json_dumps(b->obj, JSON_COMPACT | JSON_SORT_KEYS)))
			goto out;
		body = text;
		len = strlen(text);
	}
	if (mp_batch_digest(b, body, len, items ? index : -1) == 0)
		rc = HUB_OK;
out:
	if (rc != HUB_OK)
		mp_error_set(e, 500, "internal", index, "out of memory");
	free(text);
	return rc;
}

/* Is a batch of this environment stored? */
static int mp_env_stored(const struct mp_state *st, const struct mp_batch *b)
{
	return b->development ? st->store_development : st->store_production;
}

/* A batch not stored for its environment: counted by the host as skipped
 * (ABI 1.12: records_skipped_total, "skipped" in the import summary, the
 * reason logged now and then).  A host before 1.12 has no skip(): the
 * plugin counts it and logs the 1st, 2nd, 4th, 8th, ... such batch of the
 * instance, so a client that sends development data all day says so a few
 * dozen times, not once per request. */
static hub_rc mp_env_skip(const struct mp_state *st, struct hub_call *call,
			  const struct mp_batch *b)
{
	const char *env = b->development ? "development" : "production";
	const char *kept = b->development ? "production" : "development";
	char why[160];
	long long n;

	if (HUB_HOST_HAS(st->host, skip)) {
		snprintf(why, sizeof(why), "a %s batch not stored: the source's environments"
			 " are [%s]", env, kept);
		return st->host->skip(call, why);
	}
	/* the counter is the one member of the state that changes: atomic */
	n = atomic_fetch_add((atomic_llong *)&st->n_env_skipped, 1) + 1;
	if ((n & (n - 1)) == 0)
		st->host->log(st->inst, HUB_LOG_INFO,
			      "%lld %s batch(es) not stored so far: the source's environments"
			      " are [%s]", n, env, kept);
	return HUB_OK;
}

/* Refuses batch i when an earlier batch of the request has its
 * source_request_id (ids[0..i) the earlier ones, NULL when absent) and
 * other content: its records would take the earlier one's message ids and
 * be dropped as duplicates.  The same batch sent twice is let through: its
 * records are the duplicates they look like, counted as such, as
 * mParticle drops a repeat. */
static int mp_request_id_repeated(json_t *items, const char *const *ids, size_t i,
				  struct mp_error *e)
{
	for (size_t j = 0; ids[i] && j < i; j++) {
		if (!ids[j] || strcmp(ids[j], ids[i]) != 0)
			continue;
		if (json_equal(json_array_get(items, j), json_array_get(items, i)))
			return 0;
		mp_error_set(e, 400, "invalid_batch", (long)i,
			     "batches[%zu].source_request_id: the same as batches[%zu]'s, with "
			     "other content: each batch of a request needs its own (the second "
			     "would be dropped as a duplicate of the first)",
			     i, j);
		return -1;
	}
	return 0;
}

hub_rc mp_request_run(const struct mp_state *st, struct hub_call *call, const char *body,
		      size_t len, enum mp_shape shape, int64_t received_ms, struct mp_error *e,
		      size_t *n_skipped)
{
	const char *request_ids[MP_MAX_BATCHES];
	struct mp_batch b;
	json_t *root, *items;
	size_t n;
	hub_rc rc = HUB_ERR_DATA;

	*n_skipped = 0;
	if (len > MP_MAX_BODY) {
		mp_error_set(e, 413, "body_too_large", -1, "body: %zu bytes, the limit is %d", len,
			     MP_MAX_BODY);
		return HUB_ERR_DATA;
	}
	if (!(root = mp_parse(st, body, len, e)))
		return e->status >= 500 ? HUB_ERR_NOMEM : HUB_ERR_DATA;
	if (mp_shape_body(root, shape, &items, e))
		goto out;
	n = items ? json_array_size(items) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = items ? json_array_get(items, i) : root;
		if (mp_batch_read(st, obj, items ? (long)i : -1, &b, e))
			goto out;
		if (shape == MP_HISTORICAL && mp_batch_historical(&b, (long)i, received_ms, e))
			goto out;
		request_ids[i] = b.source_request_id;
		if (mp_request_id_repeated(items, request_ids, i, e))
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *obj = items ? json_array_get(items, i) : root;
		long index = items ? (long)i : -1;
		if (mp_batch_read(st, obj, index, &b, e)) {
			rc = HUB_ERR_DATA; /* cannot happen: read twice alike */
			goto out;
		}
		if (!mp_env_stored(st, &b)) {
			if ((rc = mp_env_skip(st, call, &b)) != HUB_OK)
				goto out;
			++*n_skipped;
			continue;
		}
		b.received_ms = received_ms;
		if ((rc = mp_digest_batch(&b, items, body, len, index, e)) != HUB_OK ||
		    (rc = mp_batch_emit(st, call, &b, index, e)) != HUB_OK)
			goto out;
	}
	rc = HUB_OK;
out:
	json_decref(root);
	return rc;
}
