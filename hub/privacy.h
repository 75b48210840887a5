/*
 * privacy.h - a privacy erase request as the hub carries it out: an erase
 * record for one identifier, submitted through the intake like any other
 * record (so it is ordered with ingestion and blocks what arrives after
 * it), answered once committed.  Used by `profilehub privacy erase` and
 * POST /v1/privacy/requests.  And the deletion of the blocks an erase
 * leaves, once they are long over (`run`, `privacy erase`); and of the
 * oldest privacy request records (`run`).
 */
#ifndef HUB_PRIVACY_H
#define HUB_PRIVACY_H

#include "intake.h"
#include "record.h"
#include "store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The erase record for the person holding identifier `by` (custom_id,
 * installation_id, an external id) = `value`, validated, or, `by` being
 * "profile_id", for the profile of that ID (resolved when applied: a
 * merged profile's ID erases its survivor); `request_id` becomes its
 * message_id.  identity.blocked_values in rules do not apply (a value
 * blocked since it was stored is erased).  HUB_OK with *out (the caller's:
 * record_free), or HUB_ERR_DATA (err says why) for an unusable identifier
 * or a malformed profile ID. */
hub_rc privacy_erase_record(const struct record_rules *rules, const char *by, const char *value,
			    const char *request_id, struct record **out, char *err,
			    size_t err_size);

/* Erases the person holding identifier `by` = `value`: the record above,
 * submitted, waited for on this thread (the CLI; the API lets the HTTP
 * server wait instead), with the request's record ("done", key
 * request_id: GET /v1/privacy/requests/<id> answers it) in the same
 * transaction.  HUB_OK once committed; HUB_ERR_DATA (err says why) for an
 * unusable identifier; HUB_ERR_BUSY, HUB_RETRY or HUB_ERR_STOPPED when it
 * cannot be stored now, err then saying the erase was not done (or, the
 * commit's answer lost, that whether it was is unknown) and to retry.
 * warnings (may be NULL): once committed, a new array of the engine's
 * warnings (the profiles a refused merge left apart, not erased:
 * unify_erase.c), NULL when there are none. */
hub_rc privacy_erase_submit(struct intake *in, const struct record_rules *rules, const char *by,
			    const char *value, const char *request_id, json_t **warnings,
			    char *err, size_t err_size);

/*
 * The end of erase blocks.  A block ends on record timestamps (until = the
 * erase's time + erase_block_days); its row is deleted once that end is a
 * further erase_block_days behind the wall clock (privacy.c says why).
 * Deletes PRIVACY_BLOCK_PRUNE_CHUNK rows per transaction on s, which must
 * be outside a transaction, until none is left or *stop (may be NULL) is
 * set.  *n_deleted: how many rows went (those committed, also on failure).
 * 0, or -1 with the store's error set (the chunk rolled back).
 */
#define PRIVACY_BLOCK_PRUNE_CHUNK 1000
int privacy_blocks_prune(struct store *s, int erase_block_days, int64_t now_ms,
			 const atomic_int *stop, size_t *n_deleted);

/*
 * The records of privacy requests (api_privacy.c): one meta row each, key
 * PRIVACY_REQUEST_PREFIX "<id>", value the request as GET
 * /v1/privacy/requests/<id> answers it (id, type, status, created_at,
 * finished_at: never whom it was about).  privacy_requests_prune deletes
 * the oldest (by created_at) past the last PRIVACY_REQUESTS_KEPT, in one
 * transaction on s (outside a transaction).  *n_deleted: how many.  0, or
 * -1 with the store's error set (rolled back).
 */
#define PRIVACY_REQUEST_PREFIX "privacy_request:"
#define PRIVACY_REQUESTS_KEPT 1000
int privacy_requests_prune(struct store *s, size_t keep, size_t *n_deleted);

/* A new random request ID, "pr_" and 16 hex digits, into id (size >= 20).
 * 0, or -1 with why (no random bytes: a fixed ID would be shared, and an
 * erase whose message_id it is dropped as a duplicate of the first). */
int privacy_request_id_new(char *id, size_t size, char *why, size_t why_size);
/* A request's record as GET answers it (finished_ms 0: null); a new
 * reference, NULL when out of memory.  Its meta key into key. */
json_t *privacy_request_json(const char *id, const char *type, const char *status,
			     int64_t created_ms, int64_t finished_ms);
void privacy_request_key(char *key, size_t size, const char *id);

#endif
