/*
 * unify.c - identity resolution: turns one validated record into changes of
 * profiles, following IDENTITY.md (the contract) step by step:
 *
 *   dedupe -> erase blocks (1) -> logout (2) / alias (5) / known user (3) /
 *   anonymous (4) -> attributes, consent, push, event on the target.
 *
 * Everything goes through store.h primitives inside the caller's
 * transaction, so a record is applied atomically and every backend builds
 * the same profiles.  Attribute and consent conflict rules are in
 * profile.c, erasure in unify_erase.c, the change feed in unify_feed.c;
 * this file decides which profile a record lands on.
 */
#include "unify.h"
#include "unify_int.h"

#include "alloc.h"
#include "log.h"
#include "profile.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

void unify_init(struct unify *u, struct store *s, const struct hub_config *cfg)
{
	memset(u, 0, sizeof(*u));
	u->store = s;
	u->external_ids = cfg->external_ids;
	u->n_external_ids = cfg->n_external_ids;
	u->erase_block_days = cfg->erase_block_days > 0 ? cfg->erase_block_days : 30;
	u->max_installations = cfg->max_installations > 0 ? cfg->max_installations
							  : UNIFY_MAX_INSTALLATIONS;
	u->max_attributes = cfg->max_attributes > 0 ? cfg->max_attributes : UNIFY_MAX_ATTRIBUTES;
	u->has_exports = cfg->n_exports > 0;
	u->is_outbox_on = u->has_exports;
}

int unify_group_begin(struct unify *u)
{
	int rc = u->store->ops->block_any(u->store);
	if (rc < 0)
		return -1;
	u->has_blocks = rc;
	return 0;
}

void unify_count(struct unify_counts *c, enum unify_outcome o)
{
	c->records++;
	switch (o) {
	case UNIFY_APPLIED: c->applied++; break;
	case UNIFY_DUPLICATE: c->duplicates++; break;
	case UNIFY_BLOCKED: c->blocked++; break;
	case UNIFY_REFUSED: c->refused++; break;
	}
}

/* ---- small store helpers -------------------------------------------- */

int unify_owner_of(struct unify *u, const char *type, const char *value,
		    char pid[PROFILE_ID_SIZE])
{
	return u->store->ops->ident_get(u->store, type, value, pid);
}

/* Remembers a profile whose identity changed (for profile_updated). */
void unify_note_changed(struct resolve *rs, const char *pid)
{
	for (size_t i = 0; i < rs->n_changed; i++)
		if (strcmp(rs->changed[i], pid) == 0)
			return;
	if (rs->n_changed < ARRAY_SIZE(rs->changed))
		memcpy(rs->changed[rs->n_changed++], pid, PROFILE_ID_SIZE);
}

/* One identity log row of the record's time, with its reason. */
static int log_row(struct unify *u, const struct resolve *rs, const char *pid,
		   const char *action, const struct store_ident *id, const char *other,
		   const char *reason)
{
	struct store_log_entry e = {
		.at_ms = rs->r->timestamp_ms,
		.profile_id = pid,
		.action = action,
		.id_type = id ? id->type : NULL,
		.id_value = id ? id->value : NULL,
		.other_profile_id = other,
		.reason = reason,
	};
	return u->store->ops->log_append(u->store, &e);
}

int unify_log_identity(struct unify *u, struct resolve *rs, const char *pid,
			const char *action, const char *type, const char *value,
			const char *other)
{
	struct store_ident id = {.type = type, .value = value};

	/* why: the record, named when the first log row needs it */
	if (!rs->reason[0])
		snprintf(rs->reason, sizeof(rs->reason), "%s %s (%s)",
			 record_type_name(rs->r->type), rs->r->message_id, rs->r->source);
	unify_note_changed(rs, pid);
	if (other && strcmp(action, "merge") != 0)
		unify_note_changed(rs, other);
	return log_row(u, rs, pid, action, type ? &id : NULL, other, rs->reason);
}

static int profile_load(struct unify *u, const char *pid, struct store_profile *p)
{
	int rc = u->store->ops->profile_get(u->store, pid, p);
	if (rc == 0) {
		err_set(u->store->err, sizeof(u->store->err),
			"identifier points at missing profile %s", pid);
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

/* Creates a live profile holding one first identifier: the custom_id for a
 * known profile, else (type, value), which may be NULL.  One log row. */
static int profile_create(struct unify *u, struct resolve *rs, const char *custom_id,
			  const char *type, const char *value, char pid[PROFILE_ID_SIZE])
{
	struct store *s = u->store;
	struct store_profile p = {0};

	if (custom_id) {
		type = "custom_id";
		value = custom_id;
	}
	if (store_new_profile_id(s, p.id, &p.seq))
		return -1;
	p.is_anonymous = custom_id == NULL;
	if (custom_id)
		str_copy(p.custom_id, sizeof(p.custom_id), custom_id);
	p.created_at_ms = rs->r->timestamp_ms;
	if (s->ops->profile_insert(s, &p))
		return -1;
	if (type && s->ops->ident_put(s, type, value, p.id))
		return -1;
	memcpy(pid, p.id, PROFILE_ID_SIZE);
	return unify_log_identity(u, rs, p.id, "create", type, value, NULL);
}

static int ident_attach(struct unify *u, struct resolve *rs, const char *type,
			const char *value, const char *pid)
{
	if (u->store->ops->ident_put(u->store, type, value, pid))
		return -1;
	return unify_log_identity(u, rs, pid, "attach", type, value, NULL);
}

static int ident_move(struct unify *u, struct resolve *rs, const char *type,
		      const char *value, const char *from, const char *to)
{
	if (u->store->ops->ident_put(u->store, type, value, to))
		return -1;
	return unify_log_identity(u, rs, to, "move", type, value, from);
}

static int external_limit(const struct unify *u, const char *type)
{
	for (size_t i = 0; i < u->n_external_ids; i++)
		if (strcmp(u->external_ids[i].name, type) == 0)
			return u->external_ids[i].limit;
	return 0;
}

/* 1 when the profile holds fewer `type` identifiers than the limit. */
static int below_limit(struct unify *u, const char *pid, const char *type)
{
	int n = u->store->ops->ident_count(u->store, pid, type);
	if (n < 0)
		return -1;
	return n < external_limit(u, type);
}

/*
 * Whether the profile may take one more installation: 1 yes; 0 it holds
 * identity.max_installations already, so the record's installation is
 * dropped from it (logged; the rest of the record applies).  Else one
 * client could attach installations without end, and every read and
 * export of the profile would carry them all.  -1 error.  A client can
 * send such records at will: the first is logged, then one at most every
 * LOG_NOTE_MS with the count so far.
 */
static int install_room(struct unify *u, struct resolve *rs, const char *pid)
{
	int n = u->store->ops->ident_count(u->store, pid, "installation_id");
	long long n_noted;

	if (n < 0)
		return -1;
	if (n < u->max_installations)
		return 1;
	rs->use_install = 0;
	n_noted = log_note_add(&u->installs_left_out, 1, time_mono_ms());
	if (n_noted > 0)
		log_warn("unify", "%s %s (%s): profile %s holds %d installations, the most it"
			 " may (identity.max_installations): the record's installation is left"
			 " out; %lld left out so far, a line every %d s at most",
			 record_type_name(rs->r->type), rs->r->message_id, rs->r->source, pid, n,
			 n_noted, LOG_NOTE_MS / 1000);
	return 0;
}

/* ---- merges ---------------------------------------------------------- */

/* IDENTITY.md 3, caps: a merge a cap stops is logged.  Profile IDs and
 * the message ID only (no identifier values: they are personal data).
 * A client can have merges stopped at will (a login of each new session
 * once a profile is full), so the first is logged, then one at most every
 * LOG_NOTE_MS with the count so far; a record's merge weighed again
 * without some of its identifiers (merge_candidates) counts again.
 * The cap is kept in rs->refusal for the identity log (merge_refused).
 * Returns 0, "not allowed", for merge_allowed. */
static int cap_warn(struct unify *u, struct resolve *rs, const char *profile_id,
		    const char *cap, const char *why)
{
	const struct record *r = rs->r;
	long long n;

	str_copy(rs->refusal, sizeof(rs->refusal), cap);
	n = log_note_add(&u->merges_capped, 1, time_mono_ms());
	if (n > 0)
		log_warn("unify", "%s %s (%s): no merge with profile %s: %s; %lld merge%s"
			 " stopped by a cap so far, a line every %d s at most",
			 record_type_name(r->type), r->message_id, r->source, profile_id, why, n,
			 n == 1 ? "" : "s", LOG_NOTE_MS / 1000);
	return 0;
}

/* Whether the installations the others bring fit the survivor's room
 * (identity.max_installations); a merge bringing none always does.  1
 * yes, 0 no (logged), -1 error. */
static int installs_fit(struct unify *u, struct resolve *rs,
			const struct store_profile *profiles, size_t n, size_t survivor)
{
	size_t total = 0, brought = 0;

	for (size_t i = 0; i < n; i++) {
		int c = u->store->ops->ident_count(u->store, profiles[i].id, "installation_id");
		if (c < 0)
			return -1;
		total += (size_t)c;
		brought += i == survivor ? 0 : (size_t)c;
	}
	if (brought == 0 || total <= (size_t)u->max_installations)
		return 1;
	return cap_warn(u, rs, profiles[survivor].id, "identity.max_installations",
			"the merged profile would hold more installations than"
			" identity.max_installations");
}

/*
 * Whether profiles[0..n) may all become one (IDENTITY.md section 3, caps and
 * section 9): at most one known, every merge count below the cap (the
 * survivor's after n-1 more merges), the union of identifiers within the
 * 1000 cap and within each external id's limit.  1 yes, 0 no, -1 error.
 */
static int merge_allowed(struct unify *u, struct resolve *rs,
			 const struct store_profile *profiles, size_t n, size_t survivor)
{
	struct store *s = u->store;
	int n_known = 0, total = 0;

	rs->refusal[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int count;
		if (!profiles[i].is_anonymous)
			n_known++;
		if (i != survivor && profiles[i].merge_count >= UNIFY_MAX_MERGES)
			return cap_warn(u, rs, profiles[i].id, "merge count cap 100",
					"its merge count is at the cap of 100");
		count = s->ops->ident_count_all(s, profiles[i].id);
		if (count < 0)
			return -1;
		total += count;
	}
	if (n_known > 1)
		return 0;
	if (total > UNIFY_MAX_IDENTIFIERS)
		return cap_warn(u, rs, profiles[survivor].id, "identifier cap 1000",
				"the merged profile would hold over 1000 identifiers");
	if (profiles[survivor].merge_count + (int)(n - 1) > UNIFY_MAX_MERGES)
		return cap_warn(u, rs, profiles[survivor].id, "merge count cap 100",
				"its merge count would pass the cap of 100");
	/* the union of each external id within its limit; a merge bringing
	 * none of a type does not pass it (a survivor over a limit lowered
	 * after it took its ids refused every login, its sessions left behind) */
	for (size_t k = 0; k < u->n_external_ids; k++) {
		int sum = 0, brought = 0;
		for (size_t i = 0; i < n; i++) {
			int c = s->ops->ident_count(s, profiles[i].id, u->external_ids[k].name);
			if (c < 0)
				return -1;
			sum += c;
			brought += i == survivor ? 0 : c;
		}
		if (brought > 0 && sum > u->external_ids[k].limit) {
			snprintf(rs->refusal, sizeof(rs->refusal), "%s limit %d",
				 u->external_ids[k].name, u->external_ids[k].limit);
			return 0;
		}
	}
	return installs_fit(u, rs, profiles, n, survivor);
}

/* Merges `absorbed` into `survivor`: identifiers, events, attributes and
 * consent move; absorbed becomes a tombstone pointing at survivor. */
static int merge_into(struct unify *u, struct resolve *rs, const char *absorbed,
		      const char *survivor)
{
	struct store *s = u->store;
	struct store_profile sp;

	if (profile_load(u, survivor, &sp))
		return -1;
	if (profile_merge_data(s, absorbed, survivor, (size_t)u->max_attributes))
		return -1;
	if (s->ops->ident_reassign(s, absorbed, survivor) ||
	    s->ops->event_move(s, absorbed, survivor) ||
	    s->ops->profile_mark_merged(s, absorbed, survivor, sp.merge_count + 1))
		return -1;
	if (u->is_outbox_on) {
		if (!rs->merged_from)
			rs->merged_from = json_array();
		json_array_append_new(rs->merged_from, json_string(absorbed));
	}
	return unify_log_identity(u, rs, survivor, "merge", NULL, NULL, absorbed);
}

/* Two-profile merge if allowed: 1 merged, 0 not allowed, -1 error. */
static int try_merge_pair(struct unify *u, struct resolve *rs, const char *absorbed,
			  const char *survivor)
{
	struct store_profile pair[2];
	int ok;

	if (profile_load(u, survivor, &pair[0]) || profile_load(u, absorbed, &pair[1]))
		return -1;
	ok = merge_allowed(u, rs, pair, 2, 0);
	if (ok <= 0)
		return ok;
	return merge_into(u, rs, absorbed, survivor) ? -1 : 1;
}

/* ---- step 3: a record with a custom_id ------------------------------- */

/*
 * A login's merge a cap or limit refused (rs->refusal): the anonymous
 * profile stays apart, linked to the target only by this row on the
 * target's log (action merge_refused, the identifier that linked them, the
 * anonymous profile as other, the cap in the reason), so the user's
 * history and access document show it and an erase of the user reports it
 * (unify_erase.c).  A rare path: nothing is read or written on the common
 * one.  A refusal by the rules (two known profiles) writes no row.
 */
static int merge_refused_log(struct unify *u, struct resolve *rs, const char *type,
			     const char *value, const char *anonymous)
{
	char why[UNIFY_REASON_SIZE + sizeof(rs->refusal) + 2];
	struct store_ident id = {.type = type, .value = value};

	if (!rs->refusal[0])
		return 0;
	snprintf(why, sizeof(why), "%s %s (%s): %s", record_type_name(rs->r->type),
		 rs->r->message_id, rs->r->source, rs->refusal);
	return log_row(u, rs, rs->target, "merge_refused", &id, anonymous, why);
}

static int resolve_install_known(struct unify *u, struct resolve *rs, const char *iid,
				 int have_target)
{
	char pi[PROFILE_ID_SIZE];
	struct store_profile p;
	int rc = unify_owner_of(u, "installation_id", iid, pi);

	if (rc < 0)
		return -1;
	if (!have_target) {
		/* P(C) missing: an anonymous P(I) simply becomes C's (a rename) */
		const char *c = rs->r->custom_id;
		if (rc == 1) {
			if (profile_load(u, pi, &p))
				return -1;
			if (p.is_anonymous) {
				if (u->store->ops->profile_set_custom_id(u->store, pi, c) ||
				    u->store->ops->ident_put(u->store, "custom_id", c, pi))
					return -1;
				memcpy(rs->target, pi, PROFILE_ID_SIZE);
				return unify_log_identity(u, rs, pi, "rename", "custom_id", c,
							  NULL);
			}
		}
		if (profile_create(u, rs, c, NULL, NULL, rs->target))
			return -1;
		return rc == 1 ? ident_move(u, rs, "installation_id", iid, pi, rs->target)
			       : ident_attach(u, rs, "installation_id", iid, rs->target);
	}
	if (rc == 0) {
		rc = install_room(u, rs, rs->target);
		return rc <= 0 ? rc : ident_attach(u, rs, "installation_id", iid, rs->target);
	}
	if (strcmp(pi, rs->target) == 0)
		return 0;
	if (profile_load(u, pi, &p))
		return -1;
	if (p.is_anonymous) {
		int merged = try_merge_pair(u, rs, pi, rs->target);
		if (merged != 0)
			return merged < 0 ? -1 : 0;
		if (merge_refused_log(u, rs, "installation_id", iid, pi))
			return -1;
	}
	/* another known user's installation (a user switch), or an anonymous
	 * profile that cannot merge: the installation moves alone */
	rc = install_room(u, rs, rs->target);
	return rc <= 0 ? rc : ident_move(u, rs, "installation_id", iid, pi, rs->target);
}

static int resolve_externals_known(struct unify *u, struct resolve *rs)
{
	const struct record *r = rs->r;

	for (size_t i = 0; i < rs->n_ext; i++) {
		const struct record_ident *x = &r->externals[i];
		char px[PROFILE_ID_SIZE];
		struct store_profile p;
		int rc;

		if (!rs->use_ext[i])
			continue;
		rc = unify_owner_of(u, x->type, x->value, px);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			int room = below_limit(u, rs->target, x->type);
			if (room < 0)
				return -1;
			if (room && ident_attach(u, rs, x->type, x->value, rs->target))
				return -1;
			rs->use_ext[i] = room;
			continue;
		}
		if (strcmp(px, rs->target) == 0)
			continue;
		if (profile_load(u, px, &p))
			return -1;
		rc = p.is_anonymous ? try_merge_pair(u, rs, px, rs->target) : 0;
		if (rc < 0 || (rc == 0 && p.is_anonymous &&
			       merge_refused_log(u, rs, x->type, x->value, px)))
			return -1;
		rs->use_ext[i] = rc; /* two known profiles never merge: drop x */
	}
	return 0;
}

static int resolve_known(struct unify *u, struct resolve *rs, const char *iid)
{
	int rc = unify_owner_of(u, "custom_id", rs->r->custom_id, rs->target);

	if (rc < 0)
		return -1;
	if (iid) {
		if (resolve_install_known(u, rs, iid, rc == 1))
			return -1;
	} else if (rc == 0 && profile_create(u, rs, rs->r->custom_id, NULL, NULL, rs->target)) {
		return -1;
	}
	return resolve_externals_known(u, rs);
}

/* ---- step 4: no custom_id ------------------------------------------ */

/* Who holds the record's identifiers: found by one lookup each, reused
 * for attaching what nobody holds. */
struct candidates {
	char ids[MAX_EXTERNALS + 1][PROFILE_ID_SIZE]; /* distinct holders */
	size_t n;
	int install_held;
	int ext_held[MAX_EXTERNALS];
};

static void candidates_add(struct candidates *c, const char *pid)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->ids[i], pid) == 0)
			return;
	memcpy(c->ids[c->n++], pid, PROFILE_ID_SIZE);
}

static int candidates_collect(struct unify *u, struct resolve *rs, struct candidates *c)
{
	const struct record *r = rs->r;
	char pid[PROFILE_ID_SIZE];
	int rc;

	c->n = 0;
	c->install_held = 0;
	if (rs->use_install) {
		rc = unify_owner_of(u, "installation_id", r->installation_id, pid);
		if (rc < 0)
			return -1;
		if ((c->install_held = rc))
			candidates_add(c, pid);
	}
	for (size_t i = 0; i < rs->n_ext; i++) {
		c->ext_held[i] = 0;
		if (!rs->use_ext[i])
			continue;
		rc = unify_owner_of(u, r->externals[i].type, r->externals[i].value, pid);
		if (rc < 0)
			return -1;
		if ((c->ext_held[i] = rc))
			candidates_add(c, pid);
	}
	return 0;
}

/* The known candidate, else the oldest (first created). */
static size_t candidates_survivor(const struct store_profile *p, size_t n)
{
	size_t best = 0;
	for (size_t i = 0; i < n; i++) {
		if (!p[i].is_anonymous)
			return i;
		if (p[i].seq < p[best].seq)
			best = i;
	}
	return best;
}

/* Drops the record's lowest-priority identifier that someone holds: the
 * installation first, then externals from the highest priority number.
 * One nobody holds brings no candidate, so dropping it cannot make a merge
 * allowed; it attaches afterwards (section 9: an unheld installation always
 * joins).  0 when none is left. */
static int drop_lowest_identifier(struct resolve *rs, const struct candidates *c)
{
	if (rs->use_install && c->install_held) {
		rs->use_install = 0;
		return 1;
	}
	for (size_t i = rs->n_ext; i-- > 0;) {
		if (rs->use_ext[i] && c->ext_held[i]) {
			rs->use_ext[i] = 0;
			return 1;
		}
	}
	return 0;
}

/* Attaches the record's identifiers that nobody held to the target. */
static int attach_unheld(struct unify *u, struct resolve *rs, const struct candidates *c)
{
	const struct record *r = rs->r;

	if (rs->use_install && !c->install_held) {
		int room = install_room(u, rs, rs->target);
		if (room < 0 || (room && ident_attach(u, rs, "installation_id", r->installation_id,
						      rs->target)))
			return -1;
	}
	for (size_t i = 0; i < rs->n_ext; i++) {
		const struct record_ident *x = &r->externals[i];
		int room;
		if (!rs->use_ext[i] || c->ext_held[i])
			continue;
		room = below_limit(u, rs->target, x->type);
		if (room < 0 || (room == 1 && ident_attach(u, rs, x->type, x->value, rs->target)))
			return -1;
		rs->use_ext[i] = room;
	}
	return 0;
}

/* Several holders: merge them into one if the rules allow.
 * 1 merged (target set), 0 not allowed, -1 error. */
static int merge_candidates(struct unify *u, struct resolve *rs, const struct candidates *c)
{
	struct store_profile *p = hub_malloc(c->n * sizeof(*p));
	size_t survivor;
	int rc = -1;

	if (!p) {
		err_set(u->store->err, sizeof(u->store->err), "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->n; i++)
		if (profile_load(u, c->ids[i], &p[i]))
			goto out;
	survivor = candidates_survivor(p, c->n);
	rc = merge_allowed(u, rs, p, c->n, survivor);
	if (rc <= 0)
		goto out;
	memcpy(rs->target, p[survivor].id, PROFILE_ID_SIZE);
	/* absorb the others in creation order */
	for (;;) {
		size_t next = c->n;
		for (size_t i = 0; i < c->n; i++)
			if (i != survivor && p[i].id[0] && (next == c->n || p[i].seq < p[next].seq))
				next = i;
		if (next == c->n)
			break;
		if (merge_into(u, rs, p[next].id, rs->target)) {
			rc = -1;
			goto out;
		}
		p[next].id[0] = '\0';
	}
	rc = 1;
out:
	hub_free(p);
	return rc;
}

static int resolve_anonymous(struct unify *u, struct resolve *rs)
{
	struct candidates c;

	for (;;) {
		int rc;
		if (candidates_collect(u, rs, &c))
			return -1;
		if (c.n == 0 && rs->use_install) {
			/* the usual anonymous session: created with its installation */
			rc = profile_create(u, rs, NULL, "installation_id", rs->r->installation_id,
					    rs->target) ? -1 : 1;
			c.install_held = 1;
		} else if (c.n == 0) {
			rc = profile_create(u, rs, NULL, NULL, NULL, rs->target) ? -1 : 1;
		}
		else if (c.n == 1)
			rc = (memcpy(rs->target, c.ids[0], PROFILE_ID_SIZE), 1);
		else
			rc = merge_candidates(u, rs, &c);
		if (rc < 0)
			return -1;
		if (rc == 1)
			break;
		if (!drop_lowest_identifier(rs, &c))
			return 0; /* cannot happen: one identifier has one holder */
	}
	return attach_unheld(u, rs, &c);
}

/* ---- step 1: erase blocks ------------------------------------------- */

static int is_blocked_as(struct unify *u, const char *type, const char *value, int64_t ts)
{
	int64_t until = 0;
	int rc;
	if (!value)
		return 0;
	rc = u->store->ops->block_get(u->store, type, value, &until);
	if (rc < 0)
		return -1;
	return rc == 1 && ts < until;
}

static int record_is_blocked(struct unify *u, const struct record *r)
{
	int64_t ts = r->timestamp_ms;
	int rc;

	if (!u->has_blocks || r->type == HUB_REC_ERASE)
		return 0;
	if ((rc = is_blocked_as(u, "installation_id", r->installation_id, ts)) != 0)
		return rc;
	if (r->is_logout)
		return 0; /* only the installation can block a logout */
	if ((rc = is_blocked_as(u, "custom_id", r->custom_id, ts)) != 0)
		return rc;
	for (size_t i = 0; i < r->n_externals; i++)
		if ((rc = is_blocked_as(u, r->externals[i].type, r->externals[i].value, ts)) != 0)
			return rc;
	if (r->type == HUB_REC_ALIAS && r->previous_id) {
		if ((rc = is_blocked_as(u, "custom_id", r->previous_id, ts)) != 0)
			return rc;
		return is_blocked_as(u, "installation_id", r->previous_id, ts);
	}
	return 0;
}

/* ---- step 2: logout ------------------------------------------------- */

/* 1 when there is a profile to apply the payload to, 0 when nobody holds
 * the installation (nothing happens at all). */
static int resolve_logout(struct unify *u, struct resolve *rs)
{
	const char *iid = rs->r->installation_id;
	char pi[PROFILE_ID_SIZE];
	struct store_profile p;
	int rc = unify_owner_of(u, "installation_id", iid, pi);

	if (rc <= 0)
		return rc;
	if (profile_load(u, pi, &p))
		return -1;
	if (p.is_anonymous) {
		memcpy(rs->target, pi, PROFILE_ID_SIZE);
		return 1;
	}
	/* the new anonymous profile's create row names the installation */
	if (profile_create(u, rs, NULL, "installation_id", iid, rs->target) ||
	    unify_log_identity(u, rs, pi, "detach", "installation_id", iid, rs->target))
		return -1;
	return 1;
}

/* ---- step 5: alias -------------------------------------------------- */

/* A refused alias says why in the log: the first, then one at most every
 * LOG_NOTE_MS with the count so far (a client can send them by the
 * thousand; records_refused_total counts each).  A batch applied again,
 * its group run again after a failure, counts its refusals again. */
static void alias_log_refused(struct unify *u, const struct record *r, const char *pid)
{
	long long n = log_note_add(&u->refused_aliases, 1, time_mono_ms());

	if (n > 0)
		log_info("unify", "alias %s (%s): refused: previous_id is the custom_id of"
			 " another profile (%s); %lld alias%s refused so far, a line every %d s"
			 " at most", r->message_id, r->source, pid, n, n == 1 ? "" : "es",
			 LOG_NOTE_MS / 1000);
}

/* 1 resolved, 0 refused. */
static int resolve_alias(struct unify *u, struct resolve *rs)
{
	const struct record *r = rs->r;
	const char *prev = r->previous_id;
	char pid[PROFILE_ID_SIZE];
	int rc;

	if (!prev || strcmp(prev, r->custom_id) == 0)
		return resolve_known(u, rs, NULL) ? -1 : 1;
	rc = unify_owner_of(u, "custom_id", prev, pid);
	if (rc < 0)
		return -1;
	if (rc == 1) { /* another known profile: never merged automatically */
		alias_log_refused(u, r, pid);
		return 0;
	}
	rs->use_install = 1;
	rs->install = prev; /* a login of it as C: it takes the record's details */
	return resolve_known(u, rs, prev) ? -1 : 1;
}

/* ---- payload -------------------------------------------------------- */

static int apply_payload(struct unify *u, struct resolve *rs)
{
	const struct record *r = rs->r;
	struct store *s = u->store;

	if (rs->use_install && rs->install &&
	    s->ops->install_touch(s, rs->install, r->platform, r->timestamp_ms, r->push_enabled))
		return -1;
	/* record.c decides which payload a record type carries (a track's
	 * identifiers.email still sets $email_address) */
	if (profile_apply_attributes(s, rs->target, r, (size_t)u->max_attributes, rs->warnings))
		return -1;
	if ((rs->is_consent_changed = profile_apply_consent(s, rs->target, r)) < 0)
		return -1;
	if (r->type == HUB_REC_TRACK)
		return profile_append_event(s, rs->target, r);
	return 0;
}

/* ---- the entry point ------------------------------------------------ */

static int resolve_record(struct unify *u, struct resolve *rs, enum unify_outcome *outcome)
{
	const struct record *r = rs->r;
	int rc;

	if (r->type == HUB_REC_ERASE)
		return unify_erase_apply(u, rs);
	if (r->is_logout) {
		rc = resolve_logout(u, rs);
		return rc <= 0 ? rc : apply_payload(u, rs);
	}
	if (r->type == HUB_REC_ALIAS) {
		rc = resolve_alias(u, rs);
		if (rc == 0)
			*outcome = UNIFY_REFUSED;
		return rc <= 0 ? rc : apply_payload(u, rs);
	}
	if (r->custom_id)
		rc = resolve_known(u, rs, rs->use_install ? r->installation_id : NULL);
	else
		rc = resolve_anonymous(u, rs);
	return rc ? -1 : apply_payload(u, rs);
}

int unify_apply(struct unify *u, const struct record *r, enum unify_outcome *outcome,
		struct record_warnings *warnings)
{
	struct store *s = u->store;
	struct resolve rs;
	int rc;

	memset(&rs, 0, sizeof(rs));
	rs.r = r;
	rs.warnings = warnings;
	rs.use_install = r->installation_id != NULL && r->type != HUB_REC_ALIAS;
	rs.install = rs.use_install ? r->installation_id : NULL;
	rs.n_ext = r->n_externals < MAX_EXTERNALS ? r->n_externals : MAX_EXTERNALS;
	for (size_t i = 0; i < rs.n_ext; i++)
		rs.use_ext[i] = 1;

	rc = s->ops->dedupe_add(s, r->source, r->message_id);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*outcome = UNIFY_DUPLICATE;
		return 0;
	}
	rc = record_is_blocked(u, r);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		*outcome = UNIFY_BLOCKED;
		/* dedupe remembers applied records only */
		return s->ops->dedupe_remove(s, r->source, r->message_id);
	}
	*outcome = UNIFY_APPLIED;
	rc = resolve_record(u, &rs, outcome);
	if (rc == 0 && *outcome == UNIFY_APPLIED && u->is_outbox_on && r->type != HUB_REC_ERASE)
		rc = unify_feed_write(u, &rs);
	json_decref(rs.merged_from);
	return rc;
}
