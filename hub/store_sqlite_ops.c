/*
 * store_sqlite_ops.c - the SQLite store's operations on a profile's rows
 * (profiles, identifiers with the writer's cache of their owners,
 * attributes, consent, events, the identity log), the leases, the change
 * feed and dead letters, each one of store_sqlite.c's prepared statements
 * run through store_sqlite_tx.c; and the backend's store_ops table.  No
 * SQL text and no transaction control here.
 */
#include "store_sqlite_int.h"

#include "kvcache.h"
#include "lease_lock.h"
#include "util.h"

#include <sqlite3.h>
#include <string.h>

/* ---- profiles ------------------------------------------------------- */

static int lite_profile_next_seq(struct store *s, int64_t *seq)
{
	struct sqlite_store *ls = lite(s);
	return lite_counter_next(s, "profile_seq", &ls->seq, &ls->has_seq, &ls->is_seq_dirty, seq);
}

static void row_profile(sqlite3_stmt *st, struct store_profile *p)
{
	const char *merged = lite_col_text(st, 3);
	const char *custom_id = lite_col_text(st, 2);
	str_copy(p->id, sizeof(p->id), lite_col_text(st, 0));
	p->seq = sqlite3_column_int64(st, 1);
	p->is_anonymous = custom_id == NULL;
	str_copy(p->custom_id, sizeof(p->custom_id), custom_id ? custom_id : "");
	str_copy(p->merged_into, sizeof(p->merged_into), merged ? merged : "");
	p->merge_count = sqlite3_column_int(st, 4);
	p->created_at_ms = sqlite3_column_int64(st, 5);
}

/* Steps through rows, handing each profile to cb; cb non-zero stops. */
static int each_profile(struct sqlite_store *ls, enum stmt_id id, sqlite3_stmt *st,
			store_profile_cb cb, void *ctx)
{
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_profile p;
		row_profile(st, &p);
		if (cb(ctx, &p)) {
			sqlite3_reset(st);
			return 0;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : lite_fail(ls, id);
}

static int lite_profile_insert(struct store *s, const struct store_profile *p)
{
	return RUN(lite(s), S_PROFILE_INSERT, "sisdi", p->id, p->seq,
		   p->is_anonymous ? NULL : p->custom_id,
		   p->merge_count, p->created_at_ms);
}

static int lite_profile_get(struct store *s, const char *id, struct store_profile *out)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_PROFILE_GET, "s", id);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_profile(st, out);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : lite_fail(ls, S_PROFILE_GET);
}

static int lite_profile_set_custom_id(struct store *s, const char *id, const char *custom_id)
{
	return RUN(lite(s), S_PROFILE_SET_CUSTOM, "ss", id, custom_id);
}

static int lite_profile_mark_merged(struct store *s, const char *a, const char *b, int count)
{
	struct sqlite_store *ls = lite(s);
	if (RUN(ls, S_PROFILE_MERGE, "ss", a, b) || RUN(ls, S_PROFILE_REPOINT, "ss", a, b))
		return -1;
	return RUN(ls, S_PROFILE_MERGE_COUNT, "sds", b, count, a);
}

static int lite_profile_delete(struct store *s, const char *id)
{
	return RUN(lite(s), S_PROFILE_DELETE, "s", id);
}

static int lite_profile_tombstones(struct store *s, const char *id, store_profile_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	return each_profile(ls, S_PROFILE_TOMBSTONES, lite_prep(ls, S_PROFILE_TOMBSTONES, "s", id),
			    cb, ctx);
}

static int lite_profile_iter_live(struct store *s, const char *after, size_t limit,
				  store_profile_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	int64_t lim = limit ? (int64_t)limit : -1;
	return each_profile(ls, S_PROFILE_ITER, lite_prep(ls, S_PROFILE_ITER, "si", after, lim), cb,
			    ctx);
}

/* ---- identifiers ---------------------------------------------------- */

/* Remembers the owner of (type, value); pid "" when nobody holds it. */
static void lite_cache_owner(struct sqlite_store *ls, const char *type, const char *value,
			     const char *pid)
{
	unsigned char v[KVCACHE_VALUE_SIZE] = {0};
	if (!ls->is_writing)
		return;
	str_copy((char *)v, sizeof(v), pid);
	kvcache_put(&ls->idents, type, value, v);
}

static int lite_ident_get(struct store *s, const char *type, const char *value,
			  char profile_id[PROFILE_ID_SIZE])
{
	struct sqlite_store *ls = lite(s);
	unsigned char v[KVCACHE_VALUE_SIZE];
	sqlite3_stmt *st;
	int rc;

	if (ls->is_writing && kvcache_get(&ls->idents, type, value, v)) {
		memcpy(profile_id, v, PROFILE_ID_SIZE);
		profile_id[PROFILE_ID_SIZE - 1] = '\0';
		return profile_id[0] != '\0';
	}
	st = lite_prep(ls, S_IDENT_GET, "ss", type, value);
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		str_copy(profile_id, PROFILE_ID_SIZE, lite_col_text(st, 0));
		sqlite3_reset(st);
		lite_cache_owner(ls, type, value, profile_id);
		return 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return lite_fail(ls, S_IDENT_GET);
	lite_cache_owner(ls, type, value, "");
	return 0;
}

static int lite_ident_put(struct store *s, const char *type, const char *value, const char *pid)
{
	struct sqlite_store *ls = lite(s);
	kvcache_forget(&ls->idents, type, value); /* unknown if the write fails */
	if (RUN(ls, S_IDENT_PUT, "sss", type, value, pid))
		return -1;
	lite_cache_owner(ls, type, value, pid);
	return 0;
}

static int lite_ident_delete(struct store *s, const char *type, const char *value)
{
	struct sqlite_store *ls = lite(s);
	kvcache_forget(&ls->idents, type, value);
	if (RUN(ls, S_IDENT_DELETE, "ss", type, value))
		return -1;
	lite_cache_owner(ls, type, value, "");
	return 0;
}

static int lite_ident_count(struct store *s, const char *pid, const char *type)
{
	struct sqlite_store *ls = lite(s);
	int64_t n = 0;
	if (lite_query_int(ls, S_IDENT_COUNT, lite_prep(ls, S_IDENT_COUNT, "ss", pid, type),
			   &n) < 0)
		return -1;
	return (int)n;
}

static int lite_ident_count_all(struct store *s, const char *pid)
{
	struct sqlite_store *ls = lite(s);
	int64_t n = 0;
	if (lite_query_int(ls, S_IDENT_COUNT_ALL, lite_prep(ls, S_IDENT_COUNT_ALL, "s", pid),
			   &n) < 0)
		return -1;
	return (int)n;
}

static int lite_ident_list(struct store *s, const char *pid, store_ident_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_IDENT_LIST, "s", pid);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_ident id = {
			.type = lite_col_text(st, 0),
			.value = lite_col_text(st, 1),
			.profile_id = lite_col_text(st, 2),
			.platform = lite_col_text(st, 3),
			.last_seen_ms = sqlite3_column_int64(st, 4),
			.push_enabled = sqlite3_column_int(st, 5),
		};
		if (cb(ctx, &id))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_IDENT_LIST);
}

static int forget_owner_cb(void *ctx, const struct store_ident *id)
{
	kvcache_forget(ctx, id->type, id->value);
	return 0;
}

/* Before the identifiers of pid move or go: forgets their cached owner. */
static int lite_cache_forget_profile(struct sqlite_store *ls, const char *pid)
{
	if (!ls->idents.entries)
		return 0;
	return lite_ident_list(&ls->base, pid, forget_owner_cb, &ls->idents);
}

static int lite_ident_reassign(struct store *s, const char *from, const char *to)
{
	if (lite_cache_forget_profile(lite(s), from))
		return -1;
	return RUN(lite(s), S_IDENT_REASSIGN, "ss", from, to);
}

static int lite_install_touch(struct store *s, const char *iid, const char *platform,
			      int64_t seen_ms, int push)
{
	return RUN(lite(s), S_INSTALL_TOUCH, "ssid", iid, platform, seen_ms, push);
}

static int lite_ident_delete_profile(struct store *s, const char *pid)
{
	if (lite_cache_forget_profile(lite(s), pid))
		return -1;
	return RUN(lite(s), S_IDENT_DELETE_PROFILE, "s", pid);
}

/* ---- attributes ----------------------------------------------------- */

static void row_attr(sqlite3_stmt *st, struct store_attr *a)
{
	a->key = lite_col_text(st, 0);
	a->value_json = lite_col_text(st, 1);
	a->type = sqlite3_column_int(st, 2);
	a->ts_ms = sqlite3_column_int64(st, 3);
	a->is_deleted = sqlite3_column_int(st, 4);
	a->changed_at_ms = sqlite3_column_int64(st, 5);
}

static int lite_attr_get(struct store *s, const char *pid, const char *key, struct store_attr *out)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_ATTR_GET, "ss", pid, key);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_attr(st, out); /* valid until the next attr_get */
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : lite_fail(ls, S_ATTR_GET);
}

static int lite_attr_put(struct store *s, const char *pid, const struct store_attr *a)
{
	return RUN(lite(s), S_ATTR_PUT, "sssdidi", pid, a->key,
		   a->is_deleted ? NULL : a->value_json, a->type, a->ts_ms, a->is_deleted,
		   a->changed_at_ms);
}

static int lite_attr_put_newer(struct store *s, const char *pid, const struct store_attr *a)
{
	return RUN(lite(s), S_ATTR_PUT_NEWER, "sssdidi", pid, a->key,
		   a->is_deleted ? NULL : a->value_json, a->type, a->ts_ms, a->is_deleted,
		   a->changed_at_ms);
}

static int lite_attr_list(struct store *s, const char *pid, store_attr_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_ATTR_LIST, "s", pid);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_attr a;
		row_attr(st, &a);
		if (cb(ctx, &a))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_ATTR_LIST);
}

static int lite_attr_count(struct store *s, const char *pid)
{
	struct sqlite_store *ls = lite(s);
	int64_t n = 0;
	if (lite_query_int(ls, S_ATTR_COUNT, lite_prep(ls, S_ATTR_COUNT, "s", pid), &n) < 0)
		return -1;
	return (int)n;
}

static int lite_attr_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_ATTR_DELETE_PROFILE, "s", pid);
}

static int lite_attr_find_profiles(struct store *s, const char *key, const char *value_json,
				   const char *after, size_t limit, store_profile_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	int64_t lim = limit ? (int64_t)limit : -1;

	if (strcmp(key, "$email_address") == 0)
		return each_profile(ls, S_ATTR_FIND_EMAIL,
				    lite_prep(ls, S_ATTR_FIND_EMAIL, "ssi", value_json, after, lim),
				    cb, ctx);
	return each_profile(ls, S_ATTR_FIND,
			    lite_prep(ls, S_ATTR_FIND, "sssi", key, value_json, after, lim), cb,
			    ctx);
}

/* ---- consent -------------------------------------------------------- */

static void row_consent(sqlite3_stmt *st, struct store_consent *c)
{
	c->channel = lite_col_text(st, 0);
	c->state = lite_col_text(st, 1);
	c->ts_ms = sqlite3_column_int64(st, 2);
	c->source = lite_col_text(st, 3);
}

static int lite_consent_get(struct store *s, const char *pid, const char *channel,
			    struct store_consent *out)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_CONSENT_GET, "ss", pid, channel);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_consent(st, out); /* valid until the next consent_get */
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : lite_fail(ls, S_CONSENT_GET);
}

static int lite_consent_put(struct store *s, const char *pid, const struct store_consent *c)
{
	return RUN(lite(s), S_CONSENT_PUT, "sssis", pid, c->channel, c->state, c->ts_ms, c->source);
}

/* Another state newer than the stored one (or none stored) is written
 * first, one statement; else the same state's time and source. */
static int lite_consent_put_newer(struct store *s, const char *pid, const struct store_consent *c)
{
	struct sqlite_store *ls = lite(s);
	struct store_consent old;
	int had = 1; /* a row stored: an unset written over a state changes it */

	if (!c->state && (had = lite_consent_get(s, pid, c->channel, &old)) < 0)
		return -1;
	if (RUN(ls, S_CONSENT_PUT_NEWER, "sssis", pid, c->channel, c->state, c->ts_ms, c->source))
		return -1;
	if (sqlite3_changes(ls->db) > 0)
		return had; /* a first unset is stored (its time) but reads as before */
	return RUN(ls, S_CONSENT_TOUCH, "sssis", pid, c->channel, c->state, c->ts_ms, c->source);
}

static int lite_consent_list(struct store *s, const char *pid, store_consent_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_CONSENT_LIST, "s", pid);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_consent c;
		row_consent(st, &c);
		if (cb(ctx, &c))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_CONSENT_LIST);
}

static int lite_consent_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_CONSENT_DELETE_PROFILE, "s", pid);
}

/* ---- events --------------------------------------------------------- */

static int lite_event_insert(struct store *s, const struct store_event *e)
{
	int64_t seq;
	if (lite_next_row_seq(lite(s), &seq))
		return -1;
	return RUN(lite(s), S_EVENT_INSERT, "sissssi", e->profile_id, e->ts_ms, e->source,
		   e->message_id, e->name, e->properties_json, seq);
}

static int lite_event_move(struct store *s, const char *from, const char *to)
{
	return RUN(lite(s), S_EVENT_MOVE, "ss", from, to);
}

static int lite_event_list(struct store *s, const char *pid, const struct store_event *before,
			   size_t limit, store_event_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	int64_t lim = limit ? (int64_t)limit : -1;
	enum stmt_id id = before ? S_EVENT_LIST_AFTER : S_EVENT_LIST_TOP;
	sqlite3_stmt *st = before ? lite_prep(ls, id, "siisi", pid, lim, before->ts_ms,
					 before->message_id, before->seq)
				  : lite_prep(ls, id, "si", pid, lim);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_event e = {
			.seq = sqlite3_column_int64(st, 0),
			.profile_id = lite_col_text(st, 1),
			.ts_ms = sqlite3_column_int64(st, 2),
			.source = lite_col_text(st, 3),
			.message_id = lite_col_text(st, 4),
			.name = lite_col_text(st, 5),
			.properties_json = lite_col_text(st, 6),
		};
		if (cb(ctx, &e))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, id);
}

static int lite_event_stats(struct store *s, const char *pid, int64_t *count, int64_t *last)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_EVENT_STATS, "s", pid);
	int rc;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return lite_fail(ls, S_EVENT_STATS);
	}
	*count = sqlite3_column_int64(st, 0);
	*last = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

static int lite_event_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_EVENT_DELETE_PROFILE, "s", pid);
}

/* ---- identity log --------------------------------------------------- */

static int lite_log_append(struct store *s, const struct store_log_entry *e)
{
	int64_t seq;
	if (lite_next_row_seq(lite(s), &seq))
		return -1;
	return RUN(lite(s), S_LOG_APPEND, "issssssi", e->at_ms, e->profile_id, e->action,
		   e->id_type, e->id_value, e->other_profile_id, e->reason, seq);
}

static int lite_log_page(struct store *s, const char *pid, int64_t after, size_t limit,
			 store_log_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st = lite_prep(ls, S_LOG_PAGE, "sii", pid, after, (int64_t)limit);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_log_entry e = {
			.seq = sqlite3_column_int64(st, 0),
			.at_ms = sqlite3_column_int64(st, 1),
			.profile_id = lite_col_text(st, 2),
			.action = lite_col_text(st, 3),
			.id_type = lite_col_text(st, 4),
			.id_value = lite_col_text(st, 5),
			.other_profile_id = lite_col_text(st, 6),
			.reason = lite_col_text(st, 7),
		};
		if (cb(ctx, &e))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_LOG_PAGE);
}

static int lite_log_delete_profile(struct store *s, const char *pid)
{
	if (RUN(lite(s), S_LOG_DELETE_PROFILE, "s", pid) ||
	    RUN(lite(s), S_LOG_UNLINK_PROFILE, "s", pid))
		return -1;
	return 0;
}

/* ---- locks, change feed, dead letters ------------------------------- */

static int lite_ident_lock(struct store *s, const struct store_ident *ids, size_t n)
{
	(void)s;
	(void)ids;
	(void)n;
	return 0; /* one writer: the write transaction is the lock */
}

static int lite_profile_lock(struct store *s, const char *profile_id)
{
	(void)s;
	(void)profile_id;
	return 0; /* as lite_ident_lock */
}

/*
 * A lease is an flock(2) on a file of its own in <store>-leases/
 * (lease_lock.c), held by this connection until it releases it or closes,
 * or its process dies; then lease_epoch:<name> is bumped (autocommit), as
 * on PostgreSQL.  The bump waits for the write lock, so a commit fence
 * that read the epoch in its write transaction (export_commit.c, sync.c) commits
 * before the take or sees it.  A lease already held here is not taken
 * again.
 */
static int lite_lease_try(struct store *s, const char *name, int64_t *epoch)
{
	struct sqlite_store *ls = lite(s);
	int i, rc;

	if (ls->in_tx) {
		err_set(s->err, sizeof(s->err), "sqlite: lease_try inside a transaction");
		return -1;
	}
	/* read each time: outside a transaction the data version may be stale */
	ls->is_schema_known = 0;
	if (lite_schema_check_leases(ls))
		return -1;
	if ((i = lease_locks_find(&ls->leases, name)) >= 0) {
		*epoch = ls->leases.held[i].epoch;
		return 1;
	}
	if ((rc = lease_locks_take(&ls->leases, name, s->err, sizeof(s->err))) <= 0)
		return rc;
	i = (int)ls->leases.n_held - 1;
	if (lite_query_int(ls, S_LEASE_EPOCH, lite_prep(ls, S_LEASE_EPOCH, "s", name),
			   epoch) != 1) {
		lease_locks_drop(&ls->leases, i);
		return -1;
	}
	ls->leases.held[i].epoch = *epoch;
	return 1;
}

static int lite_lease_release(struct store *s, const char *name)
{
	struct sqlite_store *ls = lite(s);
	int i = lease_locks_find(&ls->leases, name);

	if (i >= 0)
		lease_locks_drop(&ls->leases, i);
	return 0;
}

static int lite_outbox_append(struct store *s, const struct store_change *c)
{
	return RUN(lite(s), S_OUTBOX_APPEND, "ssis", c->kind, c->profile_id, c->at_ms,
		   c->payload_json);
}

static int lite_outbox_read(struct store *s, int64_t after, size_t limit, store_change_cb cb,
			    void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st =
		lite_prep(ls, S_OUTBOX_READ, "ii", after, (int64_t)(limit ? limit : 1000));
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_change c = {
			.seq = sqlite3_column_int64(st, 0),
			.kind = lite_col_text(st, 1),
			.profile_id = lite_col_text(st, 2),
			.at_ms = sqlite3_column_int64(st, 3),
			.payload_json = lite_col_text(st, 4),
		};
		if (cb(ctx, &c))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_OUTBOX_READ);
}

static int lite_outbox_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_OUTBOX_DELETE_PROFILE, "s", pid);
}

static int lite_outbox_prune(struct store *s, int64_t upto, size_t limit, size_t *n_deleted)
{
	struct sqlite_store *ls = lite(s);

	*n_deleted = 0;
	if (RUN(ls, S_OUTBOX_PRUNE, "ii", upto, (int64_t)limit))
		return -1;
	*n_deleted = (size_t)sqlite3_changes(ls->db);
	return 0;
}

static int lite_dead_letter_put(struct store *s, const struct store_dead_letter *d)
{
	return RUN(lite(s), S_DEAD_PUT, "sisiss", d->export_name, d->seq,
		   d->profile_id ? d->profile_id : "", d->at_ms, d->reason, d->change_json);
}

static int lite_dead_letter_delete_profile(struct store *s, const char *pid)
{
	return RUN(lite(s), S_DEAD_DELETE_PROFILE, "s", pid);
}

static int lite_outbox_hold(struct store *s, int64_t seq)
{
	struct sqlite_store *ls = lite(s);
	int64_t one = 0;

	return lite_query_int(ls, S_OUTBOX_HOLD, lite_prep(ls, S_OUTBOX_HOLD, "i", seq), &one);
}

static int lite_dead_letter_delete(struct store *s, const char *name, int64_t seq)
{
	struct sqlite_store *ls = lite(s);
	int64_t one = 0;

	return lite_query_int(ls, S_DEAD_DELETE, lite_prep(ls, S_DEAD_DELETE, "si", name, seq),
			      &one);
}

static int lite_dead_letter_last_seq(struct store *s, const char *name, int64_t *seq)
{
	struct sqlite_store *ls = lite(s);

	*seq = 0;
	return lite_query_int(ls, S_DEAD_LAST, lite_prep(ls, S_DEAD_LAST, "s", name),
			      seq) < 0 ? -1 : 0;
}

static int lite_dead_letter_count(struct store *s, const char *name, int64_t *n)
{
	struct sqlite_store *ls = lite(s);

	*n = 0;
	return lite_query_int(ls, S_DEAD_COUNT, lite_prep(ls, S_DEAD_COUNT, "s", name), n) < 0
		       ? -1
		       : 0;
}

static int lite_dead_letter_list(struct store *s, const char *name, int64_t after, size_t limit,
				 store_dead_letter_cb cb, void *ctx)
{
	struct sqlite_store *ls = lite(s);
	sqlite3_stmt *st =
		lite_prep(ls, S_DEAD_LIST, "sii", name, (int64_t)(limit ? limit : 100), after);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_dead_letter d = {
			.export_name = lite_col_text(st, 0),
			.seq = sqlite3_column_int64(st, 1),
			.at_ms = sqlite3_column_int64(st, 2),
			.reason = lite_col_text(st, 3),
			.change_json = lite_col_text(st, 4),
		};
		if (cb(ctx, &d))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : lite_fail(ls, S_DEAD_LIST);
}

const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.has_one_writer = 1,
	.close = lite_close,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.savepoint = lite_savepoint,
	.savepoint_release = lite_savepoint_release,
	.savepoint_rollback = lite_savepoint_rollback,
	.read_begin = lite_read_begin,
	.read_end = lite_read_end,
	.meta_get = lite_meta_get,
	.meta_get_held = lite_meta_get, /* the write transaction holds the file */
	.meta_list = lite_meta_list,
	.meta_delete = lite_meta_delete,
	.meta_put = lite_meta_put,
	.dedupe_add = lite_dedupe_add,
	.dedupe_remove = lite_dedupe_remove,
	.block_get = lite_block_get,
	.block_put = lite_block_put,
	.block_any = lite_block_any,
	.block_prune = lite_block_prune,
	.profile_next_seq = lite_profile_next_seq,
	.profile_insert = lite_profile_insert,
	.profile_get = lite_profile_get,
	.profile_set_custom_id = lite_profile_set_custom_id,
	.profile_mark_merged = lite_profile_mark_merged,
	.profile_delete = lite_profile_delete,
	.profile_tombstones = lite_profile_tombstones,
	.profile_iter_live = lite_profile_iter_live,
	.ident_get = lite_ident_get,
	.ident_put = lite_ident_put,
	.ident_delete = lite_ident_delete,
	.ident_count = lite_ident_count,
	.ident_count_all = lite_ident_count_all,
	.ident_list = lite_ident_list,
	.ident_reassign = lite_ident_reassign,
	.install_touch = lite_install_touch,
	.ident_delete_profile = lite_ident_delete_profile,
	.attr_get = lite_attr_get,
	.attr_put = lite_attr_put,
	.attr_put_newer = lite_attr_put_newer,
	.attr_list = lite_attr_list,
	.attr_delete_profile = lite_attr_delete_profile,
	.attr_find_profiles = lite_attr_find_profiles,
	.attr_count = lite_attr_count,
	.consent_get = lite_consent_get,
	.consent_put = lite_consent_put,
	.consent_put_newer = lite_consent_put_newer,
	.consent_list = lite_consent_list,
	.consent_delete_profile = lite_consent_delete_profile,
	.event_insert = lite_event_insert,
	.event_move = lite_event_move,
	.event_list = lite_event_list,
	.event_stats = lite_event_stats,
	.event_delete_profile = lite_event_delete_profile,
	.ident_lock = lite_ident_lock,
	.profile_lock = lite_profile_lock,
	.lease_try = lite_lease_try,
	.lease_release = lite_lease_release,
	.outbox_append = lite_outbox_append,
	.outbox_read = lite_outbox_read,
	.outbox_delete_profile = lite_outbox_delete_profile,
	.outbox_prune = lite_outbox_prune,
	.dead_letter_put = lite_dead_letter_put,
	.dead_letter_list = lite_dead_letter_list,
	.dead_letter_delete_profile = lite_dead_letter_delete_profile,
	.dead_letter_delete = lite_dead_letter_delete,
	.outbox_hold = lite_outbox_hold,
	.dead_letter_last_seq = lite_dead_letter_last_seq,
	.dead_letter_count = lite_dead_letter_count,
	.log_append = lite_log_append,
	.log_page = lite_log_page,
	.log_delete_profile = lite_log_delete_profile,
};
