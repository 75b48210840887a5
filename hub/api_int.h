/*
 * api_int.h - what the management API's files share (api.c: the answers,
 * the reader pool, auth and dispatch; api_profiles.c: the profile reads;
 * api_privacy.c: the privacy requests).  Not for the rest of the hub: see
 * api.h.
 */
#ifndef HUB_API_INT_H
#define HUB_API_INT_H

#include "api.h"
#include "outage.h"
#include "record.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define API_POOL_MAX 16
#define API_FIND_MAX 50
/* The identifiers GET /v1/profiles looks up by besides external ids */
#define API_LOOKUP_KEYS 5

struct api {
	const struct hub_config *cfg;
	struct intake *intake;
	struct api_providers providers;
	struct record_rules rules;

	pthread_mutex_t lock;           /* guards the pool and the outage below */
	struct store *pool[API_POOL_MAX];
	size_t n_pool;
	/* requests that found no store connection (pool_note_outage): its n */
	struct outage outage;
	pthread_mutex_t record_lock;    /* guards record_store */
	struct store *record_store;     /* writes the privacy request records;
					 * opened when first needed, closed on
					 * a failure */

	/* what GET /v1/profiles reads: api_lookup_keys' identifiers, the
	 * person keys of identity.external (config_person_key), "q", NULL */
	const char *profile_params[API_LOOKUP_KEYS + CONFIG_MAX_EXTERNAL_IDS + 2];
	/* what GET /v1/profiles reads: profile_params, the cursor (after) and
	 * the page's size (limit), as the other listings do */
	const char *profile_takes[API_LOOKUP_KEYS + CONFIG_MAX_EXTERNAL_IDS + 4];

	void (*store_hook)(void *ctx, struct store *s); /* tests; set before use */
	void *store_hook_ctx;
};

/* ---- api.c -------------------------------------------------------------- */

/* Adds a header to resp (name and value: literals); one it has no room for
 * marks the response, answered 500 (api_handle). */
void api_resp_header(struct api_response *resp, const char *name, const char *value);
/* A JSON answer (body taken), no-store and nosniff.  Returns 1 (handled). */
int api_respond_json(struct api_response *resp, int status, json_t *body);
/* {"error": {"code": code, "message": ...}}.  Returns 1 (handled). */
int api_respond_error(struct api_response *resp, int status, const char *code, const char *fmt,
		      ...) HUB_PRINTF(4, 5);

/* A pooled connection in a read snapshot, or NULL (the reason logged):
 * answer api_respond_store_unavailable() then.  api_pool_give() puts it
 * back (or closes it); on a failure that leaves it in doubt, store_close()
 * it. */
struct store *api_pool_take(struct api *api);
void api_pool_give(struct api *api, struct store *s);
int api_respond_store_unavailable(struct api_response *resp);

/* ---- api_profiles.c ----------------------------------------------------- */

/* The query parameter `key` into *value (NULL: not sent): 0, or -1 with
 * the 400 in resp (a NUL byte in it, or sent more than once). */
int api_query_param(const struct api_request *req, const char *key, const char **value,
		    struct api_response *resp);

/* ?limit= of a listing (a lookup's pages, a profile's events or history,
 * an export's dead letters): 1..max, def when absent.  0, or 1 with the
 * 400 naming it in resp. */
int api_limit_param(const struct api_request *req, long def, long max, long *limit,
		    struct api_response *resp);
/* ?<key>= a seq (decimal, 0 or more) into *seq, 0 when absent: 0, or 1
 * with the 400 invalid_cursor naming key in resp. */
int api_seq_param(const struct api_request *req, const char *key, int64_t *seq,
		  struct api_response *resp);

/* 0 when id is a profile ID as the hub gives them; else 1 with the 400
 * invalid_parameter naming `key` and what a profile ID looks like in resp:
 * every route that takes one (the lookup's ?profile_id=, the path of
 * /v1/profiles/<id>/..., a privacy request's "profile_id") answers so. */
int api_profile_id_check(const char *key, const char *id, struct api_response *resp);

/* The identifiers GET /v1/profiles looks up by (API_LOOKUP_KEYS of them),
 * then "q" and NULL. */
extern const char *const api_lookup_keys[API_LOOKUP_KEYS + 2];
/* Fills api->profile_params from api->cfg. */
void api_profile_params_init(struct api *api);
int api_get_profiles(struct api *api, const struct api_request *req, struct api_response *resp);
int api_get_events(struct api *api, const struct api_request *req, const char *id,
		   struct api_response *resp);
int api_get_history(struct api *api, const struct api_request *req, const char *id,
		    struct api_response *resp);

/* ---- api_privacy.c ------------------------------------------------------ */

int api_post_privacy(struct api *api, const struct api_request *req, struct api_response *resp);
int api_get_privacy(struct api *api, const char *id, struct api_response *resp);

#endif
