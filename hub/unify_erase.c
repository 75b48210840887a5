/*
 * unify_erase.c - privacy erasure (IDENTITY.md section 7): every live
 * profile the request's identifiers resolve to, and every profile merged
 * into it, is deleted with all it holds (events, attributes, consent,
 * identifiers, its log, its pending changes and dead letters); every
 * identifier is blocked until erase time + erase_block_days; the exports get
 * an erased change (identifier types, never values).  An erase of the hub's
 * privacy requests may name the profile by its ID instead (record.h).  A
 * profile a refused merge left apart from it (merge_refused) is reported,
 * not erased: by its ID, which erases it.  No
 * SQL here.
 */
#include "unify_int.h"

#include "alloc.h"
#include "profile.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

struct erase_ctx {
	struct unify *u;
	int64_t until_ms;
	json_t *types;    /* identifier types the erased profile held */
	int failed;
};

static int erase_block_ident(void *ctx, const struct store_ident *id)
{
	struct erase_ctx *e = ctx;
	if (e->u->store->ops->block_put(e->u->store, id->type, id->value, e->until_ms))
		e->failed = 1;
	if (e->types && !json_object_get(e->types, id->type))
		json_object_set_new(e->types, id->type, json_true());
	return e->failed;
}

struct pid_list {
	char (*ids)[PROFILE_ID_SIZE];
	size_t n, cap;
	int failed;
};

static int pid_list_push(struct pid_list *l, const char *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		void *grown = hub_realloc(l->ids, cap * PROFILE_ID_SIZE);
		if (!grown) {
			l->failed = 1;
			return 1;
		}
		l->ids = grown;
		l->cap = cap;
	}
	/* id may be a string of its own length (a log row's), not a buffer */
	str_copy(l->ids[l->n++], PROFILE_ID_SIZE, id);
	return 0;
}

static int pid_list_add(void *ctx, const struct store_profile *p)
{
	return pid_list_push(ctx, p->id);
}

/* ---- profiles a refused merge left apart ------------------------------ */

/* The anonymous profiles named by pid's own merge_refused rows (unify.c:
 * a login's merge a cap or limit refused), collected from its log. */
struct refused_ctx {
	const char *pid;
	struct pid_list *apart;
	int64_t last_seq;
	size_t n_rows;
};

static int refused_collect(void *ctx, const struct store_log_entry *e)
{
	struct refused_ctx *c = ctx;

	c->last_seq = e->seq;
	c->n_rows++;
	if (strcmp(e->action, "merge_refused") != 0 || !e->other_profile_id ||
	    strcmp(e->profile_id, c->pid) != 0)
		return 0;
	/* each login that was refused again wrote a row: the profile once */
	for (size_t i = 0; i < c->apart->n; i++)
		if (strcmp(c->apart->ids[i], e->other_profile_id) == 0)
			return 0;
	return pid_list_push(c->apart, e->other_profile_id);
}

/* Read before the erase deletes pid's log: the whole log, a page at a
 * time (an erase is rare; no index by action is kept for it). */
static int refused_list(struct store *s, const char *pid, struct pid_list *apart)
{
	struct refused_ctx c = {pid, apart, 0, 0};

	do {
		c.n_rows = 0;
		if (s->ops->log_page(s, pid, c.last_seq, 1000, refused_collect, &c) ||
		    apart->failed)
			return -1;
	} while (c.n_rows == 1000);
	return 0;
}

/* The warning for one profile a refused merge left apart, live (p). */
static void refused_warn(struct resolve *rs, const struct store_profile *p)
{
	/* out of memory: counted, not kept (record.h) */
	if (p->is_anonymous)
		(void)record_warnings_add(rs->warnings, "profile %s not erased: a session a"
					  " refused merge left apart from the erased profile"
					  " (merge_refused in its log); erase it by its profile ID"
					  " now (profile_id: \"%s\")", p->id, p->id);
	else /* a login or merge since made it a known user's: maybe not hers */
		(void)record_warnings_add(rs->warnings, "profile %s not erased: a session a"
					  " refused merge left apart from the erased profile"
					  " (merge_refused in its log) is a known user's now:"
					  " perhaps not the same person", p->id);
}

/*
 * After the erase: each profile a refused merge left apart that is still
 * there (live, or a tombstone of a live profile not erased) is a warning
 * of the erase's answer naming its profile ID.  IDENTITY.md section 7
 * erases the live profiles the request resolves to and their tombstones
 * only: such a profile holds the person's session but none of the
 * request's identifiers, so it is reported, not erased.  One that has
 * become a known user's since is named, never offered for erasure.
 */
static int refused_report(struct unify *u, struct resolve *rs, const struct pid_list *apart)
{
	for (size_t i = 0; i < apart->n; i++) {
		struct store_profile p;
		int rc = u->store->ops->profile_get(u->store, apart->ids[i], &p);

		if (rc == 1 && p.merged_into[0]) {
			char live[PROFILE_ID_SIZE];

			str_copy(live, sizeof(live), p.merged_into);
			rc = u->store->ops->profile_get(u->store, live, &p);
		}
		if (rc < 0)
			return -1;
		if (rc == 1 && rs->warnings)
			refused_warn(rs, &p);
	}
	return 0;
}

/* Deletes one profile row and everything it holds, pending changes in the
 * feed included (they carry personal data).  The dead letters go before
 * the feed: a retry of one of them (export_redrive.c) deletes it, then
 * puts its change in the feed, in one transaction; the delete here waits
 * for that transaction (PostgreSQL, READ COMMITTED), and the feed's delete
 * after it then sees the retried change. */
static int erase_profile_data(struct store *s, const char *pid)
{
	return s->ops->event_delete_profile(s, pid) || s->ops->attr_delete_profile(s, pid) ||
	       s->ops->consent_delete_profile(s, pid) || s->ops->ident_delete_profile(s, pid) ||
	       s->ops->log_delete_profile(s, pid) || s->ops->dead_letter_delete_profile(s, pid) ||
	       s->ops->outbox_delete_profile(s, pid) || s->ops->profile_delete(s, pid)
		       ? -1
		       : 0;
}

/* The erased change: identifier types only, no values. */
static int erase_change(struct unify *u, const char *pid, int64_t at, json_t *types)
{
	json_t *list = json_array();
	const char *type;
	json_t *v;
	json_object_foreach(types, type, v)
		json_array_append_new(list, json_string(type));
	return unify_feed_append(u, "erased", pid, at,
				 json_pack("{s:o}", "identifier_types", list));
}

static int erase_live_profile(struct unify *u, struct resolve *rs, const char *pid,
			      struct erase_ctx *ec)
{
	struct store *s = u->store;
	struct pid_list tomb = {0}, apart = {0};
	int rc = -1;

	/* block every identifier the person held, then delete it all */
	json_decref(ec->types);
	ec->types = json_object();
	if (s->ops->ident_list(s, pid, erase_block_ident, ec) || ec->failed)
		goto out;
	if (s->ops->profile_tombstones(s, pid, pid_list_add, &tomb) || tomb.failed)
		goto out;
	if (refused_list(s, pid, &apart))
		goto out;
	for (size_t i = 0; i < tomb.n; i++)
		if (refused_list(s, tomb.ids[i], &apart) || erase_profile_data(s, tomb.ids[i]))
			goto out;
	if (erase_profile_data(s, pid) || refused_report(u, rs, &apart))
		goto out;
	/* the erase record's message_id is the request's ID (pr_...), no personal
	 * data: the audit row names the request GET /v1/privacy/requests has */
	snprintf(rs->reason, sizeof(rs->reason), "privacy erase %s (%zu merged profile%s)",
		 rs->r->message_id, tomb.n, plural_s(tomb.n));
	rc = unify_log_identity(u, rs, pid, "erase", NULL, NULL, NULL);
	if (rc == 0 && u->is_outbox_on)
		rc = erase_change(u, pid, rs->r->timestamp_ms, ec->types);
	/* the profiles merged into it are erased too, and the merged changes
	 * that would have told exports so were just deleted with the rest */
	for (size_t i = 0; rc == 0 && u->is_outbox_on && i < tomb.n; i++) {
		json_t *none = json_object();
		rc = erase_change(u, tomb.ids[i], rs->r->timestamp_ms, none);
		json_decref(none);
	}
out:
	hub_free(tomb.ids);
	hub_free(apart.ids);
	return rc;
}

/* The live profile `pid` resolves to, locked (store.h profile_lock: the
 * group locked no identifier of it), then resolved again under the lock
 * until the two agree: another process's merge committed meanwhile may
 * have absorbed it.  1 found, 0 none, -1 error. */
static int profile_lock_live(struct store *s, const char *pid, char live[PROFILE_ID_SIZE])
{
	char locked[PROFILE_ID_SIZE] = "";

	for (int tries = 0; tries < 100; tries++) {
		int found = profile_resolve_id(s, pid, live);

		if (found <= 0 || strcmp(live, locked) == 0)
			return found;
		if (s->ops->profile_lock(s, live))
			return -1;
		str_copy(locked, sizeof(locked), live);
	}
	err_set(s->err, sizeof(s->err), "profile %s kept moving while it was locked", pid);
	return -1;
}

/* An erase by profile ID (the hub's privacy requests only: record.h): the
 * live profile it resolves to, as a lookup resolves it, when there is one
 * still (the request checked it; an erase since may have taken it).  It
 * holds no identifier of the request: each it held is blocked as it goes. */
static int erase_by_profile_id(struct unify *u, struct resolve *rs, struct erase_ctx *ec)
{
	char live[PROFILE_ID_SIZE];
	int found = profile_lock_live(u->store, rs->r->profile_id, live);

	if (found == 0 && rs->warnings)
		(void)record_warnings_add(rs->warnings, "profile %s not erased: there is no such"
					  " profile (now)", rs->r->profile_id);
	return found < 0 || (found == 1 && erase_live_profile(u, rs, live, ec)) ? -1 : 0;
}

int unify_erase_apply(struct unify *u, struct resolve *rs)
{
	const struct record *r = rs->r;
	struct erase_ctx ec = {u, r->timestamp_ms + (int64_t)u->erase_block_days * DAY_MS, NULL, 0};
	struct store_ident req[MAX_EXTERNALS + 2];
	size_t n_req = 0;
	int rc = -1;

	if (r->custom_id)
		req[n_req++] = (struct store_ident){.type = "custom_id", .value = r->custom_id};
	if (r->installation_id)
		req[n_req++] = (struct store_ident){.type = "installation_id",
						    .value = r->installation_id};
	for (size_t i = 0; i < rs->n_ext; i++)
		req[n_req++] = (struct store_ident){.type = r->externals[i].type,
						    .value = r->externals[i].value};
	if (r->profile_id && erase_by_profile_id(u, rs, &ec))
		goto out;
	for (size_t i = 0; i < n_req; i++) {
		char pid[PROFILE_ID_SIZE];
		int found = unify_owner_of(u, req[i].type, req[i].value, pid);
		if (found < 0 || (found == 1 && erase_live_profile(u, rs, pid, &ec)))
			goto out;
		/* the request's own identifiers are blocked even when nobody held them */
		if (erase_block_ident(&ec, &req[i]))
			goto out;
	}
	u->has_blocks = 1;
	rc = 0;
out:
	json_decref(ec.types);
	return rc;
}

