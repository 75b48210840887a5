/*
 * export_redrive.c - dead letters sent again (`profilehub exports retry
 * NAME`, POST /v1/exports/<name>/dead_letters/retry): once the receiver
 * that refused them is fixed, each dead letter of an export becomes a new
 * change in the feed, addressed to that export alone, and leaves the dead
 * letters in the same transaction.
 *
 * So a retried change is delivered like any change: after what is in the
 * feed already, with its own seq and idempotency key, dead-lettered again
 * if refused again.  It carries the profile as it is when delivered (the
 * dead letter's copy may be stale): a profile merged away since is sent as
 * the one it went into (its events are there now); one erased since is
 * skipped, as for a backfill; an erasure is always sent.  The change says
 * which one it replaces: "retry_of", the dead letter's seq.  Two retries
 * at once (two processes) each send a dead letter only if they deleted it.
 * An export no process runs (not enabled in the configuration asking, its
 * lease free) is not retried (export_retry_check): its changes would wait
 * in the feed for no one, no longer listed as dead letters.
 *
 * A feed row of a retry has the payload
 *   {"for": "<export>", "retry_of": <seq>, "payload": <the change's own>}
 * which export_feed.c unwraps (export_retry_target).  No SQL here.
 */
#include "export_int.h"

#include "alloc.h"
#include "log.h"
#include "profile.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define RETRY_PAGE 200 /* dead letters per transaction */

int export_retry_target(const char *payload, char **name, int64_t *retry_of, char **inner)
{
	static const char mark[] = "{\"for\":";
	json_t *v, *p;
	const char *target;
	int rc = 0;

	*name = *inner = NULL;
	*retry_of = 0;
	if (!payload || strncmp(payload, mark, sizeof(mark) - 1) != 0)
		return 0; /* every other change */
	v = json_loads_whole(payload, 0, NULL, NULL);
	target = json_string_value(json_object_get(v, "for"));
	p = json_object_get(v, "payload");
	if (target && p) {
		*name = hub_strdup(target);
		*inner = json_dumps_whole(p, JSON_COMPACT | JSON_ENCODE_ANY | HUB_JSON_REAL);
		*retry_of = json_integer_value(json_object_get(v, "retry_of"));
		rc = *name && *inner ? 1 : -1;
		if (rc < 0) {
			hub_free(*name);
			free(*inner); /* json_dumps' */
			*name = *inner = NULL;
		}
	}
	json_decref(v);
	return rc;
}

/* A dead letter, copied out of the store's callback. */
struct dl_item {
	int64_t seq;
	char *change; /* the change as it was refused (JSON) */
};

struct dl_page {
	struct dl_item items[RETRY_PAGE];
	size_t n;
	int64_t after;  /* the page starts past this seq */
	int64_t upto;   /* dead letters after this seq are not retried */
	int is_past;    /* one past upto was seen: the last page */
	int failed;
};

static int dl_collect(void *ctx, const struct store_dead_letter *d)
{
	struct dl_page *pg = ctx;

	if (d->seq > pg->upto) {
		pg->is_past = 1;
		return 1;
	}
	pg->items[pg->n].seq = d->seq;
	if (!(pg->items[pg->n].change = hub_strdup(d->change_json ? d->change_json : "{}"))) {
		pg->failed = 1;
		return 1;
	}
	pg->n++;
	return 0;
}

static void dl_page_clear(struct dl_page *pg)
{
	for (size_t i = 0; i < pg->n; i++)
		hub_free(pg->items[i].change);
	pg->n = 0;
}

/* The outbox payload of a refused change, by its kind (export_feed.c's
 * change_body in reverse); NULL for a kind the feed does not know. */
static json_t *change_payload(json_t *change, int kind)
{
	json_t *v;

	switch (kind) {
	case FEED_PROFILE_UPDATED:
		return json_object(); /* a backfill's too: sent as a plain one */
	case FEED_EVENT:
		v = json_object_get(change, "event");
		return v ? json_incref(v) : json_object();
	case FEED_MERGED:
		v = json_object_get(change, "merged_from");
		return json_pack("{s:O}", "merged_from", v ? v : json_array());
	case FEED_ERASED:
		v = json_object_get(change, "identifier_types");
		return json_pack("{s:O}", "identifier_types", v ? v : json_array());
	default:
		return NULL;
	}
}

/* Puts one dead letter back in the feed, for export `name`, and deletes
 * it.  It is deleted first: a retry running beside this one (another
 * process) that deleted it already sends it, not this one.  A profile
 * merged away since is sent as the one it was merged into (its events are
 * there now); one erased since is not (it is deleted: its data must not
 * come back).  0, 1 when it is not sent again (unreadable, left as it is
 * and logged; taken by the other retry; erased), -1 with s->err set. */
static int retry_one(struct store *s, const char *name, const struct dl_item *it, int64_t now_ms)
{
	json_t *change = json_loads_whole(it->change, 0, NULL, NULL), *payload = NULL, *wrap = NULL;
	const char *kind = json_string_value(json_object_get(change, "kind"));
	const char *pid = json_string_value(json_object_get(change, "profile_id"));
	struct store_change c = {0};
	char *text = NULL, live[PROFILE_ID_SIZE];
	int rc = 1, found;

	if (!kind || !pid || strlen(pid) >= PROFILE_ID_SIZE ||
	    !(payload = change_payload(change, feed_kind_parse(kind)))) {
		log_warn("export", "%s: dead letter %lld is not a change this hub can send again;"
			 " left as it is", name, (long long)it->seq);
		goto out;
	}
	rc = -1;
	if ((found = s->ops->dead_letter_delete(s, name, it->seq)) < 0)
		goto out;
	if (found == 0) {
		rc = 1; /* another retry took it */
		goto out;
	}
	if (strcmp(kind, "erased") != 0) {
		if ((found = profile_resolve_id(s, pid, live)) < 0)
			goto out;
		if (found == 0) {
			rc = 1; /* erased since: its data is not put back */
			goto out;
		}
		pid = live; /* itself, or the profile it was merged into */
	}
	wrap = json_pack("{s:s, s:I, s:O}", "for", name, "retry_of", (json_int_t)it->seq,
			 "payload", payload);
	if (!wrap || !(text = json_dumps_whole(wrap, JSON_COMPACT | HUB_JSON_REAL))) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	c.kind = kind;
	c.profile_id = pid;
	c.at_ms = now_ms;
	c.payload_json = text;
	if (s->ops->outbox_append(s, &c))
		goto out;
	rc = 0;
out:
	free(text); /* json_dumps' */
	json_decref(wrap);
	json_decref(payload);
	json_decref(change);
	return rc;
}

/* One transaction: the next page of dead letters up to pg->upto.  The
 * number retried, or -1 with s->err set. */
static int64_t retry_page(struct store *s, const char *name, struct dl_page *pg, int64_t now_ms,
			  size_t *n_seen)
{
	int64_t n = 0;

	*n_seen = 0;
	if (s->ops->begin(s))
		return -1;
	if (s->ops->dead_letter_list(s, name, pg->after, RETRY_PAGE, dl_collect, pg))
		goto fail;
	if (pg->failed) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto fail;
	}
	*n_seen = pg->n;
	if (pg->n)
		pg->after = pg->items[pg->n - 1].seq; /* past those left as they are too */
	for (size_t i = 0; i < pg->n; i++) {
		int rc = retry_one(s, name, &pg->items[i], now_ms);
		if (rc < 0)
			goto fail;
		n += rc == 0;
	}
	if (s->ops->commit(s))
		goto fail;
	return n;
fail:
	s->ops->rollback(s);
	return -1;
}

int export_retry_check(struct store *s, const struct hub_config *cfg, const char *name,
		       char *why, size_t why_size)
{
	const struct config_instance *ci = export_config(cfg, name);
	char lease[300];
	int64_t epoch = 0;
	int rc;

	if (ci && ci->is_enabled)
		return 1;
	snprintf(lease, sizeof(lease), "export:%s", name);
	/* free, it is taken and given back at once (its epoch moves on, as at
	 * any take: a worker taking it next reads its cursor again) */
	if ((rc = s->ops->lease_try(s, lease, &epoch)) <= 0)
		return rc < 0 ? -1 : 1; /* held: another process runs it */
	s->ops->lease_release(s, lease);
	err_set(why, why_size,
		"export %s is %s and no process runs it now (none holds its lease: the hubs"
		" whose configuration has it are stopped, or it is disabled there, or no"
		" configuration has it any more): its dead letters are kept as they are, not"
		" put back in the feed for no one to send; retry them once a hub runs it, or"
		" from one whose configuration has it%s%s",
		name,
		ci ? "off in this configuration (enabled: false)" : "not in this configuration",
		ci ? "" : "; one that no configuration has any more: profilehub exports forget ",
		ci ? "" : name);
	return 0;
}

int export_dead_letters_retry(struct store *s, const char *name, int64_t now_ms,
			      int64_t *n_retried)
{
	struct dl_page *pg = hub_calloc(1, sizeof(*pg));
	size_t n_seen = 0;
	int64_t n = 0;
	int rc = -1;

	*n_retried = 0;
	if (!pg) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	/* only the dead letters there now: a retried change refused again is
	 * dead-lettered with a new seq, past this one */
	if (s->ops->dead_letter_last_seq(s, name, &pg->upto))
		goto out;
	do {
		n = retry_page(s, name, pg, now_ms, &n_seen);
		dl_page_clear(pg);
		if (n < 0)
			goto out;
		*n_retried += n;
		/* the next page starts past this one: dead letters left as
		 * they are (unreadable) are not read again */
	} while (!pg->is_past && n_seen == RETRY_PAGE);
	rc = 0;
out:
	dl_page_clear(pg);
	hub_free(pg);
	return rc;
}
