/*
 * profile.h - what a profile holds besides its identifiers: attributes
 * (last write wins by event time, delete tombstones, array ops), consent
 * (per channel, restrictive on merge ties), the events feed; the merge of
 * those between two profiles; and the profile document (API.md) built from
 * the store.  No SQL here: store.h primitives only.
 */
#ifndef HUB_PROFILE_H
#define HUB_PROFILE_H

#include "record.h"
#include "store.h"

#include <jansson.h>

/* Apply a record's attributes / consent / event to profile pid. */
int profile_apply_attributes(struct store *s, const char *pid, const struct record *r);
int profile_apply_consent(struct store *s, const char *pid, const struct record *r);
int profile_append_event(struct store *s, const char *pid, const struct record *r);

/* Moves absorbed's attributes and consent onto survivor by the merge rules
 * (newer ts wins; ties: the survivor for attributes, the more restrictive
 * state for consent) and deletes absorbed's rows. */
int profile_merge_data(struct store *s, const char *absorbed, const char *survivor);

/* How many events a document carries: PROFILE_EVENTS_ALL or a number. */
#define PROFILE_EVENTS_ALL (-1)
#define PROFILE_EVENTS_DEFAULT 20

/*
 * Builds the profile document of a live profile (API.md): a new json_t
 * reference in *out (json_decref it).  Returns 1 built, 0 no such live
 * profile, -1 store failure.  Keys come in a fixed order and lists are
 * sorted, so dumps compare with diff.
 */
int profile_doc_build(struct store *s, const char *pid, long n_events, json_t **out);

/* An event as the profile document and the change feed show it. */
json_t *profile_event_json(const struct store_event *e);

/* Follows merged_into from any profile ID to the live survivor.
 * 1 found (live_id filled), 0 unknown, -1 failure. */
int profile_resolve_id(struct store *s, const char *pid, char live_id[PROFILE_ID_SIZE]);

/* Live profiles matching one identifier: `by` is custom_id,
 * installation_id, email, phone or profile_id (a merged profile's ID finds
 * its survivor).  Fills up to `max` IDs (sorted); returns how many, or -1.
 * An unknown `by` finds nothing. */
int profile_find(struct store *s, const char *by, const char *value,
		 char (*ids)[PROFILE_ID_SIZE], size_t max);

/* The privacy access document: the profile, every event, the identity log
 * and the raw attribute and consent rows with their times.  Same returns. */
int profile_access_build(struct store *s, const char *pid, json_t **out);
/* The same with at most n_events events (PROFILE_EVENTS_ALL or a number):
 * with 0, "events" is [] and access_doc.c writes them a page at a time.
 * Every other part is bounded by the identity limits. */
int profile_access_build_n(struct store *s, const char *pid, long n_events, json_t **out);

#endif
