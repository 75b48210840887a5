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

/* Apply a record's attributes / consent / event to profile pid.  An array
 * op whose result would pass RECORD_ATTR_ARRAY_MAX items leaves that
 * attribute as it is, the rest applied: a warning naming it goes to
 * `warnings` (may be NULL), as validation's do (-1: out of memory).  So
 * does a new attribute of a profile storing max_attrs already. */
int profile_apply_attributes(struct store *s, const char *pid, const struct record *r,
			     size_t max_attrs, struct record_warnings *warnings);
/* The record's consent, newer states winning: 1 when a channel's state
 * changed, 0 when none did (older, or the state stored), -1 error. */
int profile_apply_consent(struct store *s, const char *pid, const struct record *r);
int profile_append_event(struct store *s, const char *pid, const struct record *r);

/* Moves absorbed's attributes and consent onto survivor by the merge rules
 * (newer ts wins; ties: the survivor for attributes, the more restrictive
 * state for consent) and deletes absorbed's rows.  An attribute survivor
 * lacks is left out once it stores max_attrs (logged). */
int profile_merge_data(struct store *s, const char *absorbed, const char *survivor,
		       size_t max_attrs);

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

/* The document as a person looks it up (GET /v1/profiles and `profilehub
 * profile` alike): profile_doc_build's, with attribute_meta after
 * attributes (each current attribute's type and updated_at). */
int profile_doc_view(struct store *s, const char *pid, long n_events, json_t **out);

/* An event as the profile document and the change feed show it. */
json_t *profile_event_json(const struct store_event *e);

/* Follows merged_into from any profile ID to the live survivor.
 * 1 found (live_id filled), 0 unknown, -1 failure. */
int profile_resolve_id(struct store *s, const char *pid, char live_id[PROFILE_ID_SIZE]);

/* Live profiles matching one identifier: `by` is custom_id,
 * installation_id, email, phone, profile_id (a merged profile's ID finds
 * its survivor) or another identifier type, such as an external id
 * (config_person_key(): the caller checks it is one).  Fills up to `max`
 * IDs (sorted); returns how many, or -1. */
int profile_find(struct store *s, const char *by, const char *value,
		 char (*ids)[PROFILE_ID_SIZE], size_t max);
/* The page of profile_find() by email or phone (`by`) after the profile
 * `after` ("": the first page, profile_find() itself): the profiles
 * holding value as the attribute, sorted by ID, after `after`, without
 * the one holding it as an identifier (always on the first page).  How
 * many, up to max, or -1. */
int profile_find_after(struct store *s, const char *by, const char *value, const char *after,
		       char (*ids)[PROFILE_ID_SIZE], size_t max);
/* The part of profile_find() by email or phone (`by`) that reads the
 * attribute ($email_address, $phone_number): the live profiles whose
 * current one holds value, sorted by ID, those after `after` ("": from the
 * start), up to max.  How many, or -1. */
int profile_find_attr(struct store *s, const char *by, const char *value, const char *after,
		      char (*ids)[PROFILE_ID_SIZE], size_t max);
/* 1 when profile pid's current attribute of `by` (email, phone) holds
 * value, 0 when not, -1 on a failure. */
int profile_has_attr(struct store *s, const char *by, const char *value, const char *pid);

/* The privacy access document: the profile, every event, the identity log
 * and the raw attribute and consent rows with their times.  Same returns. */
int profile_access_build(struct store *s, const char *pid, json_t **out);
/* The same without its two parts that grow with the profile's age, for
 * access_doc.c to write a page at a time: "events" is [] and there is no
 * "identity_log" member (it comes last in the whole one).  Every other part
 * is bounded by the identity limits. */
int profile_access_build_paged(struct store *s, const char *pid, json_t **out);

/* A row of the identity log as the access document and the history route
 * show it (new reference; NULL when out of memory). */
json_t *profile_log_json(const struct store_log_entry *e);

/*
 * The identity log of an access document, read a page at a time: the live
 * profile's rows (its own and those naming it, as log_page gives them),
 * then each merged-away profile's own rows, in the order of the document's
 * merged_from (a merge moves attributes, consent and events, but each
 * profile keeps its own log rows).  The whole document and the streamed one (access_doc.c) both
 * read it so.  Everything is borrowed: merged_from (a list of profile ID
 * strings) must outlive the reader.
 */
struct profile_log_reader {
	struct store *s;
	const json_t *merged;
	size_t n_merged_read;    /* entries of merged begun */
	const char *pid;         /* whose rows come next; NULL: no more */
	int is_own_only;         /* pid is a merged one: its own rows only */
	int64_t after_seq;       /* the last row of pid read */
};

void profile_log_reader_init(struct profile_log_reader *r, struct store *s, const char *live_id,
			     const json_t *merged_from);
/* Reads the next page: at most limit (> 0) rows of one profile from the
 * store, those of the document handed to cb (a non-zero return stops the
 * page; the next call goes on after that row).  1 more may follow, 0 the
 * log is complete, -1 store failure. */
int profile_log_reader_next(struct profile_log_reader *r, size_t limit, store_log_cb cb,
			    void *ctx);

#endif
