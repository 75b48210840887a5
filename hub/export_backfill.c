/*
 * export_backfill.c - an export's backfill: a profile_updated change for
 * every live profile, addressed to that export alone, so that a new
 * destination starts with every profile and not only with what happens
 * after it was added (the feed is pruned: its history is gone).
 *
 * It runs when an export first runs (`backfill: true`, the default, and
 * the export takes profile_updated changes) and again on request
 * (`profilehub exports backfill NAME`).  Its state is one store key,
 * "export_backfill:<name>" (JSON: state, the last profile ID written,
 * profiles written, start and end times), so it survives restarts and is
 * seen by every process sharing the store.
 *
 * The changes are real outbox rows: a page of live profiles (in ID order,
 * after the last one written) per transaction, with the new position, so a
 * crash resumes where the last page ended.  Their payload is
 * {"backfill": "<export name>"}; other exports skip them (feed_is_wanted).
 * Each carries the profile's document as it is when it is delivered, like
 * every change, and so needs no snapshot: a profile changed meanwhile also
 * has its own changes later in the feed (and one gone by then is not sent:
 * export_feed.c).  The exporter writes a page only when its export has
 * delivered everything before it (export_commit.c), so while every export keeps
 * up the feed holds about a page of them; an export that lags holds them
 * all, as it holds every change.  A new export's backfill is saved as
 * started at its first take, before its first cursor (export_commit.c,
 * export_worker_backfill_begin), so a stop before the first page keeps it.
 * No SQL here.
 */
#include "export_int.h"

#include "alloc.h"
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tests: set while export workers run, as export_commit.c's knobs are */
static _Atomic size_t backfill_page = EXPORT_BACKFILL_PAGE;

void export_set_backfill_page(size_t n)
{
	atomic_store(&backfill_page, n > 0 ? n : EXPORT_BACKFILL_PAGE);
}

void export_key_backfill(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "export_backfill:%s", name);
}

static const char *const state_names[] = {
	[BACKFILL_NONE] = "none",
	[BACKFILL_RUNNING] = "running",
	[BACKFILL_DONE] = "done",
};

const char *export_backfill_state_name(enum backfill_state st)
{
	return (size_t)st < ARRAY_SIZE(state_names) ? state_names[st] : "none";
}

static enum backfill_state state_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (name && strcmp(state_names[i], name) == 0)
			return (enum backfill_state)i;
	return BACKFILL_NONE;
}

int export_backfill_load(struct store *s, const char *name, struct export_backfill *b,
			 int is_held)
{
	char key[300], text[512];
	json_t *v;
	int rc;

	memset(b, 0, sizeof(*b));
	export_key_backfill(key, sizeof(key), name);
	rc = is_held ? s->ops->meta_get_held(s, key, text, sizeof(text))
		     : s->ops->meta_get(s, key, text, sizeof(text));
	if (rc <= 0)
		return rc;
	v = json_loads_whole(text, 0, NULL, NULL);
	if (!v)
		return 0; /* damaged: as if never asked */
	b->state = state_parse(json_string_value(json_object_get(v, "state")));
	snprintf(b->after, sizeof(b->after), "%s",
		 json_string_value(json_object_get(v, "after")) ?
			 json_string_value(json_object_get(v, "after")) : "");
	b->sent = json_integer_value(json_object_get(v, "sent"));
	b->started_at_ms = json_integer_value(json_object_get(v, "started_at"));
	b->finished_at_ms = json_integer_value(json_object_get(v, "finished_at"));
	json_decref(v);
	return 1;
}

int export_backfill_put(struct store *s, const char *name, const struct export_backfill *b)
{
	char key[300];

	export_key_backfill(key, sizeof(key), name);
	return export_meta_put_json(s, key,
				    json_pack("{s:s, s:s, s:I, s:I, s:I}", "state",
					      export_backfill_state_name(b->state), "after",
					      b->after, "sent", (json_int_t)b->sent, "started_at",
					      (json_int_t)b->started_at_ms, "finished_at",
					      (json_int_t)b->finished_at_ms));
}

void export_backfill_start(struct export_backfill *b, int64_t now_ms)
{
	memset(b, 0, sizeof(*b));
	b->state = BACKFILL_RUNNING;
	b->started_at_ms = now_ms;
}

int export_has_history(struct store *s, const char *name)
{
	char key[300], text[32];
	int rc;

	export_key_cursor(key, sizeof(key), name);
	if ((rc = s->ops->meta_get(s, key, text, sizeof(text))) != 0)
		return rc;
	export_key_batch_end(key, sizeof(key), name);
	return s->ops->meta_get(s, key, text, sizeof(text));
}

int export_backfill_request(struct store *s, const char *name)
{
	struct export_backfill b;

	export_backfill_start(&b, time_now_ms());
	if (s->ops->begin(s))
		return -1;
	if (export_backfill_put(s, name, &b) || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 0;
}

/* ---- writing a page -------------------------------------------------- */

struct id_page {
	char (*ids)[PROFILE_ID_SIZE];
	size_t n, cap;
};

static int id_collect(void *ctx, const struct store_profile *p)
{
	struct id_page *pg = ctx;
	if (pg->n >= pg->cap)
		return 1;
	memcpy(pg->ids[pg->n++], p->id, PROFILE_ID_SIZE);
	return 0;
}

int export_backfill_write_page(struct store *s, const char *name, struct export_backfill *b,
			       int64_t now_ms)
{
	struct id_page pg = {.cap = atomic_load(&backfill_page)};
	json_t *payload = json_pack("{s:s}", "backfill", name);
	char *text = payload ? json_dumps_whole(payload, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(payload);
	pg.ids = hub_calloc(pg.cap, sizeof(*pg.ids));
	if (!text || !pg.ids) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	/* the IDs first: no write while the store iterates */
	if (s->ops->profile_iter_live(s, b->after, pg.cap, id_collect, &pg))
		goto out;
	for (size_t i = 0; i < pg.n; i++) {
		struct store_change c = {.kind = "profile_updated", .profile_id = pg.ids[i],
					 .at_ms = now_ms, .payload_json = text};
		if (s->ops->outbox_append(s, &c))
			goto out;
	}
	if (pg.n > 0)
		memcpy(b->after, pg.ids[pg.n - 1], PROFILE_ID_SIZE);
	b->sent += (int64_t)pg.n;
	if (pg.n < pg.cap) {
		b->state = BACKFILL_DONE;
		b->finished_at_ms = now_ms;
	}
	rc = (int)pg.n;
out:
	free(text); /* json_dumps() allocates with malloc */
	hub_free(pg.ids);
	return rc;
}

/* ---- reading the feed ------------------------------------------------- */

int export_backfill_target(const char *payload, char **name)
{
	static const char mark[] = "{\"backfill\":";
	json_t *v;
	const char *target;

	*name = NULL;
	if (!payload || strncmp(payload, mark, sizeof(mark) - 1) != 0)
		return 0; /* every other change: "{}", the event, ... */
	v = json_loads_whole(payload, 0, NULL, NULL);
	target = json_string_value(json_object_get(v, "backfill"));
	if (target && !(*name = hub_strdup(target))) {
		json_decref(v);
		return -1;
	}
	json_decref(v);
	return *name ? 1 : 0;
}
