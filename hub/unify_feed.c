/*
 * unify_feed.c - the change feed (outbox) of the unification engine: for
 * each applied record, in its transaction, a merged change (the absorbed
 * profiles), a profile_updated change per profile whose identity,
 * attributes or consent changed, and an event change for a track.  Only
 * while an export may read it: one is configured here, or the store knows
 * one (export_known.c).  No SQL here.
 */
#include "unify_int.h"

#include "export.h"
#include "profile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/*
 * A process whose config lists no export (an import with another file,
 * `privacy erase`, a rolling deploy's older config) still writes the feed
 * while the store knows an export another process runs: else those
 * changes, erasures too, never reach it, and it gets no backfill for them
 * later (it has a history).  Asked at each group, not once at the start,
 * so an export registered since (or forgotten since) counts from the next
 * group; export_known_any() orders the answer against a registration
 * running meanwhile.  A process with exports writes the feed always and
 * asks nothing.
 */
int unify_group_outbox(struct unify *u)
{
	int rc;

	if (u->has_exports)
		return 0;
	if ((rc = export_known_any(u->store)) < 0)
		return -1;
	u->is_outbox_on = rc;
	return 0;
}

int unify_feed_append(struct unify *u, const char *kind, const char *pid, int64_t at,
		      json_t *payload)
{
	struct store_change c = {.kind = kind, .profile_id = pid, .at_ms = at};
	char *text = json_dumps_whole(payload, JSON_COMPACT | HUB_JSON_REAL);
	int rc;

	json_decref(payload);
	if (!text) {
		err_set(u->store->err, sizeof(u->store->err), "out of memory");
		return -1;
	}
	c.payload_json = text;
	rc = u->store->ops->outbox_append(u->store, &c);
	free(text);
	return rc;
}

/* Writes the record's changes to the outbox, in its transaction:
 * merged (target), profile_updated (each profile whose identity, attributes
 * or consent changed), event (track). */
int unify_feed_write(struct unify *u, struct resolve *rs)
{
	const struct record *r = rs->r;
	int64_t at = r->timestamp_ms;

	/* what the record's payload changed: attributes (a write an older
	 * time makes lose still counts: knowing would cost PostgreSQL a wait
	 * per attribute), a consent state, and the installation it touched
	 * (apply_payload: push; for any record but a track last_seen and
	 * platform).  A consent record of the state stored, or older, changes
	 * nothing; nor does push without an installation to store it on */
	if (r->n_attrs || rs->is_consent_changed ||
	    (rs->use_install && rs->install && (r->type != HUB_REC_TRACK || r->push_enabled >= 0)))
		unify_note_changed(rs, rs->target);
	if (rs->merged_from) {
		json_t *p = json_pack("{s:O}", "merged_from", rs->merged_from);
		if (unify_feed_append(u, "merged", rs->target, at, p))
			return -1;
	}
	for (size_t i = 0; i < rs->n_changed; i++) {
		struct store_profile p;
		int rc = u->store->ops->profile_get(u->store, rs->changed[i], &p);
		if (rc < 0)
			return -1;
		if (rc == 1 && !p.merged_into[0] &&
		    unify_feed_append(u, "profile_updated", rs->changed[i], at, json_object()))
			return -1;
	}
	if (r->type == HUB_REC_TRACK) {
		struct store_event e = {
			.profile_id = rs->target, .ts_ms = at, .source = r->source,
			.message_id = r->message_id, .name = r->event_name,
			.properties_json = r->properties_json,
		};
		json_t *ev = profile_event_json(&e);
		return unify_feed_append(u, "event", rs->target, at, ev);
	}
	return 0;
}

