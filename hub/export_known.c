/*
 * export_known.c - the exports the store knows.  Several hub processes may
 * share one store with different configurations (a rolling deploy that
 * adds or removes an export); the change feed may only lose a change once
 * every export of every one of them has passed it.  So each process
 * registers the exports of its configuration in the store when its
 * exporter starts ("export_known:<name>"), and pruning waits for every
 * export registered there, configured here or not (export_commit.c,
 * prune_bound).  An export taken out of every configuration keeps holding
 * the feed until `profilehub exports forget NAME` removes it, with its
 * cursor and saved state.  No SQL here.
 */
#include "export_int.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define KNOWN_PREFIX "export_known:"
#define GATE_KEY "export_gate" /* several writers: export_known_any() */

/*
 * An export with `backfill: false` starts at the change feed's end at the
 * moment the store first knows it: its cursor is saved there, in the
 * registration's transaction, unless it has one (it ran, or a process
 * registered it before: once, and a restart before its first delivery
 * keeps it).  Without it the export began at cursor 0, with whatever the
 * feed still held for the other exports (none, or days of changes behind
 * a disabled one).  The outbox's seqs are taken in commit order, so every
 * change committed after this transaction is past the head.  One the
 * store knew already (`was_known`: registered by an earlier release, which
 * saved no cursor) keeps cursor 0: the feed was kept for it (disabled, or
 * failing since it was added), and what it holds is that export's due.
 */
static int head_begin(struct store *s, const struct config_instance *ci, int was_known)
{
	char key[300], text[32];
	int64_t head = 0;
	int rc;

	if (was_known || !export_is_backfill_off(ci))
		return 0;
	if ((rc = export_has_history(s, ci->name)) != 0)
		return rc < 0 ? -1 : 0;
	if (export_outbox_last_seq(s, 0, &head))
		return -1;
	export_key_cursor(key, sizeof(key), ci->name);
	snprintf(text, sizeof(text), "%" PRId64, head);
	if (s->ops->meta_put(s, key, text))
		return -1;
	if (head > 0)
		log_info("export", "%s is new with backfill: false: it starts after the change"
			 " feed's last change, seq %" PRId64, ci->name, head);
	return 0;
}

int export_known_register(struct store *s, const struct hub_config *cfg)
{
	char key[300];
	int was_known;

	if (cfg->n_exports == 0)
		return 0;
	if (s->ops->begin(s))
		return -1;
	/* first: waits for the groups that found no export to commit */
	if (!s->ops->has_one_writer && s->ops->meta_put(s, GATE_KEY, "1"))
		goto fail;
	for (size_t i = 0; i < cfg->n_exports; i++) {
		snprintf(key, sizeof(key), KNOWN_PREFIX "%s", cfg->exports[i].name);
		if ((was_known = export_is_known(s, cfg->exports[i].name)) < 0 ||
		    s->ops->meta_put(s, key, "1") || head_begin(s, &cfg->exports[i], was_known))
			goto fail;
	}
	if (s->ops->commit(s))
		goto fail;
	return 0;
fail:
	s->ops->rollback(s);
	return -1;
}

static int known_found(void *ctx, const char *key, const char *value)
{
	(void)key;
	(void)value;
	*(int *)ctx = 1;
	return 1; /* one is enough */
}

/*
 * Does the store know an export?  A writer whose config lists none asks it
 * in each group (unify_feed.c), and writes the feed for that group when it
 * does.  The answer must hold until the group commits: an export
 * registered meanwhile starts with its backfill (each profile as it is
 * when a page is read) or with what is in the feed, so a change committed
 * after that read, with no change in the feed, would never reach it.
 * SQLite's one writer gives that for free: the registration waits for the
 * group's write lock.  Several writers (PostgreSQL, READ COMMITTED): the
 * group first reads GATE_KEY with a locking read (FOR SHARE), and a
 * registration writes GATE_KEY before its names.  So a registration waits
 * for the groups that read the gate before it to commit, and a group that
 * comes after it waits for it, then sees its names.  The first group ever
 * writes the missing key (a registration's insert waits for it too).
 * Asked first in the group, with no other lock held: a registration
 * waiting for this group holds nothing the group could wait for.  The cost
 * is one or two small reads per group, in processes without exports only.
 */
int export_known_any(struct store *s)
{
	char text[8];
	int found = 0, rc;

	if (!s->ops->has_one_writer) {
		rc = s->ops->meta_get_held(s, GATE_KEY, text, sizeof(text));
		if (rc < 0 || (rc == 0 && s->ops->meta_put(s, GATE_KEY, "1")))
			return -1;
	}
	if (s->ops->meta_list(s, KNOWN_PREFIX, known_found, &found))
		return -1;
	return found;
}

struct known_ctx {
	const struct hub_config *cfg;
	char (*names)[EXPORT_NAME_SIZE];
	size_t n, cap;
	int failed;
};

static int known_collect(void *ctx, const char *key, const char *value)
{
	struct known_ctx *k = ctx;
	const char *name = key + strlen(KNOWN_PREFIX);

	(void)value;
	if (!*name || strlen(name) >= EXPORT_NAME_SIZE || export_config(k->cfg, name))
		return 0;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 8;
		void *grown = hub_realloc(k->names, cap * sizeof(*k->names));
		if (!grown) {
			k->failed = 1;
			return 1;
		}
		k->names = grown;
		k->cap = cap;
	}
	snprintf(k->names[k->n++], EXPORT_NAME_SIZE, "%s", name);
	return 0;
}

int export_known_elsewhere(struct store *s, const struct hub_config *cfg,
			   char (**names)[EXPORT_NAME_SIZE], size_t *n)
{
	struct known_ctx k = {.cfg = cfg};

	*names = NULL;
	*n = 0;
	if (s->ops->meta_list(s, KNOWN_PREFIX, known_collect, &k) || k.failed) {
		if (k.failed)
			err_set(s->err, sizeof(s->err), "out of memory");
		hub_free(k.names);
		return -1;
	}
	*names = k.names;
	*n = k.n;
	return 0;
}

int export_is_known(struct store *s, const char *name)
{
	char key[300], text[8];

	snprintf(key, sizeof(key), KNOWN_PREFIX "%s", name);
	return s->ops->meta_get(s, key, text, sizeof(text));
}

int export_exists(struct store *s, const struct hub_config *cfg, const char *name)
{
	return export_config(cfg, name) ? 1 : export_is_known(s, name);
}

int export_closest_name(struct store *s, const struct hub_config *cfg, const char *name,
			char *buf, size_t size)
{
	char(*known)[EXPORT_NAME_SIZE] = NULL;
	const char **names, *best;
	size_t n = 0, n_known = 0;
	int rc = 0;

	buf[0] = '\0';
	if (s && export_known_elsewhere(s, cfg, &known, &n_known))
		rc = -1; /* the configuration's names still */
	names = hub_calloc(cfg->n_exports + n_known + 1, sizeof(*names));
	if (!names) {
		hub_free(known);
		return -1;
	}
	for (size_t i = 0; i < cfg->n_exports; i++)
		names[n++] = cfg->exports[i].name;
	for (size_t i = 0; i < n_known; i++)
		names[n++] = known[i];
	if ((best = cfg_closest_name(name, names, n)))
		snprintf(buf, size, "%s", best);
	hub_free(names);
	hub_free(known);
	return rc;
}

#define ELSEWHERE_NAMED 32 /* names a message lists */

const char *export_forget_missing(struct store *s, const struct hub_config *cfg,
				  const char *name, char *buf, size_t size)
{
	char (*names)[EXPORT_NAME_SIZE] = NULL;
	const char *list[ELSEWHERE_NAMED], *best;
	size_t n = 0, n_list, len;

	buf[0] = '\0';
	if (export_known_elsewhere(s, cfg, &names, &n))
		return buf;
	n_list = n < ELSEWHERE_NAMED ? n : ELSEWHERE_NAMED;
	for (size_t i = 0; i < n_list; i++)
		list[i] = names[i];
	best = cfg_closest_name(name, list, n_list);
	len = (size_t)snprintf(buf, size, " (%s%s%s%s", best ? "did you mean \"" : "",
			       best ? best : "", best ? "\"?; " : "",
			       n ? "the store knows, outside the configuration: "
				 : "the store knows no export outside the configuration");
	for (size_t i = 0; i < n_list && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", list[i]);
	if (len < size)
		snprintf(buf + len, size - len, "%s)", n > n_list ? ", ..." : "");
	hub_free(names);
	return buf;
}

struct dl_seqs {
	int64_t seq[200];
	size_t n;
};

static int dl_seq_collect(void *ctx, const struct store_dead_letter *d)
{
	struct dl_seqs *l = ctx;
	l->seq[l->n++] = d->seq;
	return l->n == sizeof(l->seq) / sizeof(l->seq[0]);
}

/* Inside the caller's transaction: every dead letter of the export. */
static int dead_letters_delete_all(struct store *s, const char *name)
{
	struct dl_seqs l;

	do {
		l.n = 0;
		if (s->ops->dead_letter_list(s, name, 0, sizeof(l.seq) / sizeof(l.seq[0]),
					     dl_seq_collect, &l))
			return -1;
		for (size_t i = 0; i < l.n; i++)
			if (s->ops->dead_letter_delete(s, name, l.seq[i]) < 0)
				return -1;
	} while (l.n == sizeof(l.seq) / sizeof(l.seq[0]));
	return 0;
}

int export_forget(struct store *s, const char *name, int *was_known)
{
	void (*const keys[])(char *, size_t, const char *) = {
		export_key_cursor, export_key_batch_end, export_key_state, export_key_backfill,
	};
	char key[320], lease[300], text[8];
	int64_t epoch = 0;
	int rc;

	*was_known = 0;
	/* a process still running it (PostgreSQL: its session holds the
	 * lease) would go on without its registration: refused */
	snprintf(lease, sizeof(lease), "export:%s", name);
	if ((rc = s->ops->lease_try(s, lease, &epoch)) <= 0) {
		if (rc == 0)
			err_set(s->err, sizeof(s->err), "export %s is running in another process"
				" (it holds the export's lease): stop it, or take the export out of"
				" its configuration, first", name);
		return -1;
	}
	if (s->ops->begin(s))
		goto fail;
	snprintf(key, sizeof(key), KNOWN_PREFIX "%s", name);
	if ((rc = s->ops->meta_get(s, key, text, sizeof(text))) < 0 || s->ops->meta_delete(s, key))
		goto fail;
	*was_known = rc == 1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		keys[i](key, sizeof(key), name);
		if (s->ops->meta_delete(s, key))
			goto fail;
	}
	/* the lease's epoch stays: counted again from 1, a take after this
	 * one would share its epoch with a worker still committing under an
	 * older take, and the commit fence would let both through */
	if (dead_letters_delete_all(s, name) || s->ops->commit(s))
		goto fail;
	s->ops->lease_release(s, lease);
	return 0;
fail:
	s->ops->rollback(s);
	s->ops->lease_release(s, lease);
	return -1;
}
