/*
 * store_pg_ops.c - the PostgreSQL store's operations on its tables (meta,
 * dedupe, blocks, profiles, identifiers and a group's identifier locks,
 * attributes, consent, events, the identity log, the outbox's pruning,
 * dead letters), each run as prepared statements of store_pg_exec.c's
 * table, and the backend's store_ops table.  What the memo knows
 * (store_pg_memo.h) is answered without the server.  No SQL text and no
 * transaction control here.
 */
#include "store_pg_int.h"

#include "log.h"
#include "util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* ---- meta, dedupe, blocks ------------------------------------------- */

static int meta_get_by(struct store *s, enum stmt_id id, const char *key, char *out,
		       size_t out_size)
{
	PGresult *res = pg_run(pgs(s), id, "s", key);
	int found;
	if (!res)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

static int pg_meta_get(struct store *s, const char *key, char *out, size_t out_size)
{
	return meta_get_by(s, S_META_GET, key, out, out_size);
}

/* The row stays share-locked to the end of the transaction: a lease take
 * (S_LEASE_EPOCH's update) waits for it. */
static int pg_meta_get_held(struct store *s, const char *key, char *out, size_t out_size)
{
	return meta_get_by(s, S_META_GET_HELD, key, out, out_size);
}

static int pg_meta_put(struct store *s, const char *key, const char *value)
{
	return pg_command(pgs(s), S_META_PUT, "ss", key, value);
}

static int pg_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *ctx)
{
	PGresult *res = pg_run(pgs(s), S_META_LIST, "s", prefix);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		if (cb(ctx, pg_col_text(res, i, 0), pg_col_text(res, i, 1)))
			break;
	PQclear(res);
	return 0;
}

static int pg_meta_delete(struct store *s, const char *key)
{
	return pg_command(pgs(s), S_META_DELETE, "s", key);
}

static int pg_dedupe_add(struct store *s, const char *source, const char *mid)
{
	PGresult *res = pg_run(pgs(s), S_DEDUPE_ADD, "ss", source, mid);
	int added;
	if (!res)
		return -1;
	added = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return added;
}

static int pg_dedupe_remove(struct store *s, const char *source, const char *mid)
{
	return pg_command(pgs(s), S_DEDUPE_REMOVE, "ss", source, mid);
}

static int pg_block_get(struct store *s, const char *type, const char *value, int64_t *until)
{
	struct pg_store *ps = pgs(s);
	const struct memo_entry *e = memo_find(&ps->memo, type, value);
	if (e) {
		if (e->has_block)
			*until = e->block_until;
		return e->has_block;
	}
	return pg_query_int(pg_run(ps, S_BLOCK_GET, "ss", type, value), until);
}

static int pg_block_put(struct store *s, const char *type, const char *value, int64_t until)
{
	struct pg_store *ps = pgs(s);
	struct memo_entry *e = memo_find(&ps->memo, type, value);

	/* an erase blocks identifiers the group did not lock: lock each one
	 * first, so a record that holds it waits (or deadlocks and retries) */
	if (ps->is_multi_writer && !e &&
	    pg_command(ps, S_IDENT_LOCK_ONE, "sss", type, value, ps->ident_lock_text))
		return -1;
	if (pg_command(ps, S_BLOCK_PUT, "ssi", type, value, until))
		return -1;
	if (e && (!e->has_block || e->block_until < until)) {
		e->has_block = 1;
		e->block_until = until;
	}
	return 0;
}

static int pg_block_any(struct store *s)
{
	int64_t one = 0;
	return pg_query_int(pg_run(pgs(s), S_BLOCK_ANY, ""), &one);
}

/* The memo of this connection's group forgets the blocks deleted.  (A
 * prune by another connection during a group leaves that group's memo
 * as it was: the group is then as if it had committed before the prune.) */
static int pg_block_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	struct pg_store *ps = pgs(s);
	int64_t n = 0;

	*n_deleted = 0;
	if (limit == 0) /* "n" would bind NULL, no limit */
		return 0;
	if (pg_query_int(pg_run(ps, S_BLOCK_PRUNE, "in", upto, limit), &n) < 0)
		return -1;
	*n_deleted = (size_t)n;
	for (size_t i = 0; n > 0 && i < ps->memo.n; i++)
		if (ps->memo.entries[i].has_block && ps->memo.entries[i].block_until <= upto)
			ps->memo.entries[i].has_block = 0;
	return 0;
}

/* ---- profiles ------------------------------------------------------- */

static int pg_profile_next_seq(struct store *s, int64_t *seq)
{
	return pg_query_int(pg_run(pgs(s), S_PROFILE_NEXT_SEQ, ""), seq) == 1 ? 0 : -1;
}

static void row_profile(const PGresult *res, int row, struct store_profile *p)
{
	const char *custom_id = pg_col_text(res, row, 2);
	const char *merged = pg_col_text(res, row, 3);
	snprintf(p->id, sizeof(p->id), "%s", PQgetvalue(res, row, 0));
	p->seq = pg_col_int(res, row, 1);
	p->is_anonymous = custom_id == NULL;
	snprintf(p->custom_id, sizeof(p->custom_id), "%s", custom_id ? custom_id : "");
	snprintf(p->merged_into, sizeof(p->merged_into), "%s", merged ? merged : "");
	p->merge_count = (int)pg_col_int(res, row, 4);
	p->created_at_ms = pg_col_int(res, row, 5);
}

/* Hands each row's profile to cb; cb non-zero stops.  Consumes res. */
static int each_profile(PGresult *res, store_profile_cb cb, void *ctx)
{
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_profile p;
		row_profile(res, i, &p);
		if (cb(ctx, &p))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_profile_insert(struct store *s, const struct store_profile *p)
{
	return pg_command(pgs(s), S_PROFILE_INSERT, "sisdi", p->id, p->seq,
			  p->is_anonymous ? NULL : p->custom_id, p->merge_count, p->created_at_ms);
}

static int pg_profile_get(struct store *s, const char *id, struct store_profile *out)
{
	PGresult *res = pg_run(pgs(s), S_PROFILE_GET, "s", id);
	int found;
	if (!res)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		row_profile(res, 0, out);
	PQclear(res);
	return found;
}

static int pg_profile_set_custom_id(struct store *s, const char *id, const char *custom_id)
{
	return pg_command(pgs(s), S_PROFILE_SET_CUSTOM, "ss", id, custom_id);
}

static int pg_profile_mark_merged(struct store *s, const char *a, const char *b, int count)
{
	return pg_command(pgs(s), S_PROFILE_MERGE, "ssd", a, b, count);
}

static int pg_profile_delete(struct store *s, const char *id)
{
	return pg_command(pgs(s), S_PROFILE_DELETE, "s", id);
}

static int pg_profile_tombstones(struct store *s, const char *id, store_profile_cb cb, void *ctx)
{
	return each_profile(pg_run(pgs(s), S_PROFILE_TOMBSTONES, "s", id), cb, ctx);
}

static int pg_profile_iter_live(struct store *s, const char *after, size_t limit,
				store_profile_cb cb, void *ctx)
{
	return each_profile(pg_run(pgs(s), S_PROFILE_ITER, "sn", after, limit), cb, ctx);
}

/* ---- identifiers ---------------------------------------------------- */

static int pg_ident_get(struct store *s, const char *type, const char *value,
			char profile_id[PROFILE_ID_SIZE])
{
	struct pg_store *ps = pgs(s);
	struct memo_entry *e = memo_find(&ps->memo, type, value);
	PGresult *res;
	int found;

	if (e && e->is_owner_known)
		return memo_owner(&ps->memo, e, profile_id);
	res = ps->is_multi_writer
		      ? pg_run(ps, S_IDENT_GET_LOCKED, "sss", type, value, ps->profile_lock_text)
		      : pg_run(ps, S_IDENT_GET, "ss", type, value);
	if (!res)
		return -1;
	found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
	if (found)
		snprintf(profile_id, PROFILE_ID_SIZE, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* the holder is locked now, and the identifier was (it is in the memo) */
	if (e)
		memo_set_owner(&ps->memo, type, value, found ? profile_id : NULL);
	return found;
}

static int pg_ident_put(struct store *s, const char *type, const char *value, const char *pid)
{
	struct pg_store *ps = pgs(s);
	if (pg_command(ps, S_IDENT_PUT, "sss", type, value, pid))
		return -1;
	memo_set_owner(&ps->memo, type, value, pid);
	return 0;
}

static int pg_ident_delete(struct store *s, const char *type, const char *value)
{
	struct pg_store *ps = pgs(s);
	if (pg_command(ps, S_IDENT_DELETE, "ss", type, value))
		return -1;
	memo_set_owner(&ps->memo, type, value, NULL);
	return 0;
}

static int pg_ident_count(struct store *s, const char *pid, const char *type)
{
	int64_t n = 0;
	if (pg_query_int(pg_run(pgs(s), S_IDENT_COUNT, "ss", pid, type), &n) < 0)
		return -1;
	return (int)n;
}

static int pg_attr_count(struct store *s, const char *pid)
{
	int64_t n = 0;
	if (pg_query_int(pg_run(pgs(s), S_ATTR_COUNT, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int pg_ident_count_all(struct store *s, const char *pid)
{
	int64_t n = 0;
	if (pg_query_int(pg_run(pgs(s), S_IDENT_COUNT_ALL, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int pg_ident_list(struct store *s, const char *pid, store_ident_cb cb, void *ctx)
{
	PGresult *res = pg_run(pgs(s), S_IDENT_LIST, "s", pid);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_ident id = {
			.type = pg_col_text(res, i, 0),
			.value = pg_col_text(res, i, 1),
			.profile_id = pg_col_text(res, i, 2),
			.platform = pg_col_text(res, i, 3),
			.last_seen_ms = pg_col_int(res, i, 4),
			.push_enabled = (int)pg_col_int(res, i, 5),
		};
		if (cb(ctx, &id))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_ident_reassign(struct store *s, const char *from, const char *to)
{
	struct pg_store *ps = pgs(s);
	if (pg_command(ps, S_IDENT_REASSIGN, "ss", from, to))
		return -1;
	memo_reassign(&ps->memo, from, to);
	return 0;
}

static int pg_install_touch(struct store *s, const char *iid, const char *platform,
			    int64_t seen_ms, int push)
{
	return pg_command(pgs(s), S_INSTALL_TOUCH, "ssid", iid, platform, seen_ms, push);
}

static int pg_ident_delete_profile(struct store *s, const char *pid)
{
	struct pg_store *ps = pgs(s);
	if (pg_command(ps, S_IDENT_DELETE_PROFILE, "s", pid))
		return -1;
	memo_delete_profile(&ps->memo, pid);
	return 0;
}

/* Fills the memo from S_IDENT_STATE (rows in the order of ids, skipping
 * incomplete ones) and the profiles S_IDENT_LOCK_OWNERS locked. */
static int memo_fill(struct memo *m, const struct store_ident *ids, size_t n,
		     const PGresult *owners, const PGresult *state)
{
	int row = 0;

	memo_reset(m);
	m->is_on = 1;
	for (int i = 0; i < PQntuples(owners); i++) {
		int sl = memo_slot(m, PQgetvalue(owners, i, 0));
		if (sl < 0)
			return -1;
		m->slots[sl].is_locked = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct memo_entry *e;
		const char *pid;
		if (!ids[i].type || !ids[i].value)
			continue;
		if (row >= PQntuples(state) || !(e = memo_add(m, ids[i].type, ids[i].value)))
			return -1;
		pid = pg_col_text(state, row, 0);
		if (!pid) {
			e->owner = -1;
			e->is_owner_known = 1; /* only we may attach it: it is locked */
		} else {
			int sl = memo_slot(m, pid);
			if (sl < 0)
				return -1;
			/* a holder that changed after the pre-lock is locked (and
			 * read again) by ident_get */
			e->owner = sl;
			e->is_owner_known = m->slots[sl].is_locked;
		}
		if (!PQgetisnull(state, row, 1)) {
			e->has_block = 1;
			e->block_until = pg_col_int(state, row, 1);
		}
		row++;
	}
	return 0;
}

/*
 * The group's identifiers, then the profiles holding them, each set locked
 * in key order (the order of ids does not matter, nor repeats); then what
 * they are is read once into the memo.  From here on ident_get locks what
 * it returns that the memo does not know.
 */
static int pg_profile_lock(struct store *s, const char *profile_id)
{
	struct pg_store *ps = pgs(s);
	PGresult *res;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: profile_lock outside a transaction");
		return -1;
	}
	/* waited for (not pipelined): locked on return; an erase's, rare */
	res = pg_run(ps, S_PROFILE_LOCK, "ss", profile_id, ps->profile_lock_text);
	PQclear(res);
	return res ? 0 : -1;
}

static int pg_ident_lock(struct store *s, const struct store_ident *ids, size_t n)
{
	struct pg_store *ps = pgs(s);
	struct strbuf types, values;
	PGresult *owners = NULL, *state = NULL;
	int rc = -1;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: ident_lock outside a transaction");
		return -1;
	}
	ps->is_multi_writer = 1;
	pg_array_open(&types);
	pg_array_open(&values);
	for (size_t i = 0; i < n; i++) {
		if (!ids[i].type || !ids[i].value)
			continue;
		pg_array_add(&types, ids[i].type);
		pg_array_add(&values, ids[i].value);
	}
	pg_array_close(&types);
	pg_array_close(&values);
	if (types.failed || values.failed) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	if (pg_command(ps, S_IDENT_LOCK, "sss", types.data, values.data, ps->ident_lock_text) ||
	    !(owners = pg_run(ps, S_IDENT_LOCK_OWNERS, "sss", types.data, values.data,
			      ps->profile_lock_text)) ||
	    !(state = pg_run(ps, S_IDENT_STATE, "ss", types.data, values.data)))
		goto out;
	if (memo_fill(&ps->memo, ids, n, owners, state)) {
		memo_reset(&ps->memo); /* without it every read asks the server */
		log_warn("store", "postgres: no memory for the identifier memo");
	}
	rc = 0;
out:
	PQclear(owners);
	PQclear(state);
	strbuf_free(&types);
	strbuf_free(&values);
	return rc;
}

/* ---- attributes ----------------------------------------------------- */

static void row_attr(const PGresult *res, int row, struct store_attr *a)
{
	a->key = pg_col_text(res, row, 0);
	a->value_json = pg_col_text(res, row, 1);
	a->type = (int)pg_col_int(res, row, 2);
	a->ts_ms = pg_col_int(res, row, 3);
	a->is_deleted = (int)pg_col_int(res, row, 4);
	a->changed_at_ms = pg_col_int(res, row, 5);
}

static int pg_attr_get(struct store *s, const char *pid, const char *key, struct store_attr *out)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = pg_run(ps, S_ATTR_GET, "ss", pid, key);
	if (!res)
		return -1;
	pg_keep(ps, S_ATTR_GET, res); /* valid until the next attr_get, as in SQLite */
	if (PQntuples(res) == 0)
		return 0;
	row_attr(res, 0, out);
	return 1;
}

static int pg_attr_put(struct store *s, const char *pid, const struct store_attr *a)
{
	return pg_command(pgs(s), S_ATTR_PUT, "sssdidi", pid, a->key,
			  a->is_deleted ? NULL : a->value_json, a->type, a->ts_ms, a->is_deleted,
			  a->changed_at_ms);
}

static int pg_attr_put_newer(struct store *s, const char *pid, const struct store_attr *a)
{
	return pg_command(pgs(s), S_ATTR_PUT_NEWER, "sssdidi", pid, a->key,
			  a->is_deleted ? NULL : a->value_json, a->type, a->ts_ms, a->is_deleted,
			  a->changed_at_ms);
}

static int pg_attr_list(struct store *s, const char *pid, store_attr_cb cb, void *ctx)
{
	PGresult *res = pg_run(pgs(s), S_ATTR_LIST, "s", pid);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_attr a;
		row_attr(res, i, &a);
		if (cb(ctx, &a))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_attr_delete_profile(struct store *s, const char *pid)
{
	return pg_command(pgs(s), S_ATTR_DELETE_PROFILE, "s", pid);
}

static int pg_attr_find_profiles(struct store *s, const char *key, const char *value_json,
				 const char *after, size_t limit, store_profile_cb cb, void *ctx)
{
	if (strcmp(key, "$email_address") == 0)
		return each_profile(pg_run(pgs(s), S_ATTR_FIND_EMAIL, "ssn", value_json, after,
					   limit), cb, ctx);
	return each_profile(pg_run(pgs(s), S_ATTR_FIND, "sssn", key, value_json, after, limit),
			    cb, ctx);
}

/* ---- consent -------------------------------------------------------- */

static void row_consent(const PGresult *res, int row, struct store_consent *c)
{
	c->channel = pg_col_text(res, row, 0);
	c->state = pg_col_text(res, row, 1);
	c->ts_ms = pg_col_int(res, row, 2);
	c->source = pg_col_text(res, row, 3);
}

static int pg_consent_get(struct store *s, const char *pid, const char *channel,
			  struct store_consent *out)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = pg_run(ps, S_CONSENT_GET, "ss", pid, channel);
	if (!res)
		return -1;
	pg_keep(ps, S_CONSENT_GET, res);
	if (PQntuples(res) == 0)
		return 0;
	row_consent(res, 0, out);
	return 1;
}

static int pg_consent_put(struct store *s, const char *pid, const struct store_consent *c)
{
	return pg_command(pgs(s), S_CONSENT_PUT, "sssis", pid, c->channel, c->state, c->ts_ms,
			  c->source);
}

/* Waits for its answer (whether the state changed): a consent write is
 * rare next to attributes and events, which stay pipelined. */
static int pg_consent_put_newer(struct store *s, const char *pid, const struct store_consent *c)
{
	PGresult *res = pg_run(pgs(s), S_CONSENT_PUT_NEWER, "sssis", pid, c->channel, c->state,
			       c->ts_ms, c->source);
	int changed;

	if (!res)
		return -1;
	changed = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return changed;
}

static int pg_consent_list(struct store *s, const char *pid, store_consent_cb cb, void *ctx)
{
	PGresult *res = pg_run(pgs(s), S_CONSENT_LIST, "s", pid);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_consent c;
		row_consent(res, i, &c);
		if (cb(ctx, &c))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_consent_delete_profile(struct store *s, const char *pid)
{
	return pg_command(pgs(s), S_CONSENT_DELETE_PROFILE, "s", pid);
}

/* ---- events --------------------------------------------------------- */

static int pg_event_insert(struct store *s, const struct store_event *e)
{
	return pg_command(pgs(s), S_EVENT_INSERT, "sissss", e->profile_id, e->ts_ms, e->source,
			  e->message_id, e->name, e->properties_json);
}

static int pg_event_move(struct store *s, const char *from, const char *to)
{
	return pg_command(pgs(s), S_EVENT_MOVE, "ss", from, to);
}

static int pg_event_list(struct store *s, const char *pid, const struct store_event *before,
			 size_t limit, store_event_cb cb, void *ctx)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = before ? pg_run(ps, S_EVENT_LIST_AFTER, "snisi", pid, limit, before->ts_ms,
					before->message_id, before->seq)
			       : pg_run(ps, S_EVENT_LIST_TOP, "sn", pid, limit);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_event e = {
			.seq = pg_col_int(res, i, 0),
			.profile_id = pg_col_text(res, i, 1),
			.ts_ms = pg_col_int(res, i, 2),
			.source = pg_col_text(res, i, 3),
			.message_id = pg_col_text(res, i, 4),
			.name = pg_col_text(res, i, 5),
			.properties_json = pg_col_text(res, i, 6),
		};
		if (cb(ctx, &e))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_event_stats(struct store *s, const char *pid, int64_t *count, int64_t *last)
{
	PGresult *res = pg_run(pgs(s), S_EVENT_STATS, "s", pid);
	if (!res)
		return -1;
	*count = pg_col_int(res, 0, 0);
	*last = pg_col_int(res, 0, 1);
	PQclear(res);
	return 0;
}

static int pg_event_delete_profile(struct store *s, const char *pid)
{
	return pg_command(pgs(s), S_EVENT_DELETE_PROFILE, "s", pid);
}

/* ---- identity log --------------------------------------------------- */

static int pg_log_append(struct store *s, const struct store_log_entry *e)
{
	return pg_command(pgs(s), S_LOG_APPEND, "issssss", e->at_ms, e->profile_id, e->action,
			  e->id_type, e->id_value, e->other_profile_id, e->reason);
}

static int pg_log_page(struct store *s, const char *pid, int64_t after, size_t limit,
		       store_log_cb cb, void *ctx)
{
	PGresult *res = pg_run(pgs(s), S_LOG_PAGE, "sii", pid, after, (int64_t)limit);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_log_entry e = {
			.seq = pg_col_int(res, i, 0),
			.at_ms = pg_col_int(res, i, 1),
			.profile_id = pg_col_text(res, i, 2),
			.action = pg_col_text(res, i, 3),
			.id_type = pg_col_text(res, i, 4),
			.id_value = pg_col_text(res, i, 5),
			.other_profile_id = pg_col_text(res, i, 6),
			.reason = pg_col_text(res, i, 7),
		};
		if (cb(ctx, &e))
			break;
	}
	PQclear(res);
	return 0;
}

static int pg_log_delete_profile(struct store *s, const char *pid)
{
	return pg_command(pgs(s), S_LOG_DELETE_PROFILE, "s", pid) ||
	       pg_command(pgs(s), S_LOG_UNLINK_PROFILE, "s", pid);
}

/* ---- change feed, dead letters -------------------------------------- */

static int pg_outbox_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	int64_t n = 0;

	*n_deleted = 0;
	if (limit == 0) /* "n" would bind NULL, no limit */
		return 0;
	if (pg_query_int(pg_run(pgs(s), S_OUTBOX_PRUNE, "in", upto, limit), &n) < 0)
		return -1;
	*n_deleted = (size_t)n;
	return 0;
}

static int pg_dead_letter_put(struct store *s, const struct store_dead_letter *d)
{
	return pg_command(pgs(s), S_DEAD_PUT, "sisiss", d->export_name, d->seq,
			  d->profile_id ? d->profile_id : "", d->at_ms, d->reason, d->change_json);
}

static int pg_dead_letter_delete_profile(struct store *s, const char *pid)
{
	return pg_command(pgs(s), S_DEAD_DELETE_PROFILE, "s", pid);
}

static int pg_outbox_hold(struct store *s, int64_t seq)
{
	int64_t one = 0;

	return pg_query_int(pg_run(pgs(s), S_OUTBOX_HOLD, "i", seq), &one);
}

static int pg_dead_letter_delete(struct store *s, const char *name, int64_t seq)
{
	int64_t one = 0;

	return pg_query_int(pg_run(pgs(s), S_DEAD_DELETE, "si", name, seq), &one);
}

static int pg_dead_letter_last_seq(struct store *s, const char *name, int64_t *seq)
{
	*seq = 0;
	return pg_query_int(pg_run(pgs(s), S_DEAD_LAST, "s", name), seq) < 0 ? -1 : 0;
}

static int pg_dead_letter_count(struct store *s, const char *name, int64_t *n)
{
	*n = 0;
	return pg_query_int(pg_run(pgs(s), S_DEAD_COUNT, "s", name), n) < 0 ? -1 : 0;
}

static int pg_dead_letter_list(struct store *s, const char *name, int64_t after, size_t limit,
			       store_dead_letter_cb cb, void *ctx)
{
	PGresult *res = pg_run(pgs(s), S_DEAD_LIST, "sni", name, limit ? limit : 100, after);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_dead_letter d = {
			.export_name = pg_col_text(res, i, 0),
			.seq = pg_col_int(res, i, 1),
			.at_ms = pg_col_int(res, i, 2),
			.reason = pg_col_text(res, i, 3),
			.change_json = pg_col_text(res, i, 4),
		};
		if (cb(ctx, &d))
			break;
	}
	PQclear(res);
	return 0;
}

const struct store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.savepoint_release = pg_savepoint_release,
	.savepoint_rollback = pg_savepoint_rollback,
	.read_begin = pg_read_begin,
	.read_end = pg_read_end,
	.meta_get = pg_meta_get,
	.meta_get_held = pg_meta_get_held,
	.meta_list = pg_meta_list,
	.meta_delete = pg_meta_delete,
	.meta_put = pg_meta_put,
	.dedupe_add = pg_dedupe_add,
	.dedupe_remove = pg_dedupe_remove,
	.block_get = pg_block_get,
	.block_put = pg_block_put,
	.block_any = pg_block_any,
	.block_prune = pg_block_prune,
	.profile_next_seq = pg_profile_next_seq,
	.profile_insert = pg_profile_insert,
	.profile_get = pg_profile_get,
	.profile_set_custom_id = pg_profile_set_custom_id,
	.profile_mark_merged = pg_profile_mark_merged,
	.profile_delete = pg_profile_delete,
	.profile_tombstones = pg_profile_tombstones,
	.profile_iter_live = pg_profile_iter_live,
	.ident_get = pg_ident_get,
	.ident_put = pg_ident_put,
	.ident_delete = pg_ident_delete,
	.ident_count = pg_ident_count,
	.ident_count_all = pg_ident_count_all,
	.ident_list = pg_ident_list,
	.ident_reassign = pg_ident_reassign,
	.install_touch = pg_install_touch,
	.ident_delete_profile = pg_ident_delete_profile,
	.attr_get = pg_attr_get,
	.attr_put = pg_attr_put,
	.attr_put_newer = pg_attr_put_newer,
	.attr_list = pg_attr_list,
	.attr_delete_profile = pg_attr_delete_profile,
	.attr_find_profiles = pg_attr_find_profiles,
	.attr_count = pg_attr_count,
	.consent_get = pg_consent_get,
	.consent_put = pg_consent_put,
	.consent_put_newer = pg_consent_put_newer,
	.consent_list = pg_consent_list,
	.consent_delete_profile = pg_consent_delete_profile,
	.event_insert = pg_event_insert,
	.event_move = pg_event_move,
	.event_list = pg_event_list,
	.event_stats = pg_event_stats,
	.event_delete_profile = pg_event_delete_profile,
	.ident_lock = pg_ident_lock,
	.profile_lock = pg_profile_lock,
	.lease_try = pg_lease_try,
	.lease_release = pg_lease_release,
	.outbox_append = pg_outbox_append,
	.outbox_read = pg_outbox_read,
	.outbox_delete_profile = pg_outbox_delete_profile,
	.outbox_prune = pg_outbox_prune,
	.dead_letter_put = pg_dead_letter_put,
	.dead_letter_list = pg_dead_letter_list,
	.dead_letter_delete_profile = pg_dead_letter_delete_profile,
	.dead_letter_delete = pg_dead_letter_delete,
	.outbox_hold = pg_outbox_hold,
	.dead_letter_last_seq = pg_dead_letter_last_seq,
	.dead_letter_count = pg_dead_letter_count,
	.log_append = pg_log_append,
	.log_page = pg_log_page,
	.log_delete_profile = pg_log_delete_profile,
};
