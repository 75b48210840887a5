/*
 * export_known.c - the exports the store knows.  Several hub processes may
 * share one store with different configurations (a rolling deploy that
 * adds or removes an export); the change feed may only lose a change once
 * every export of every one of them has passed it.  So each process
 * registers the exports of its configuration in the store when its
 * exporter starts ("export_known:<name>"), and pruning waits for every
 * export registered there, configured here or not (export.c,
 * prune_bound).  An export taken out of every configuration keeps holding
 * the feed until `profilehub exports forget NAME` removes it, with its
 * cursor and saved state.  No SQL here.
 */
#include "export_int.h"

#include "alloc.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define KNOWN_PREFIX "export_known:"

int export_known_register(struct store *s, const struct hub_config *cfg)
{
	char key[300];

	if (cfg->n_exports == 0)
		return 0;
	if (s->ops->begin(s))
		return -1;
	for (size_t i = 0; i < cfg->n_exports; i++) {
		snprintf(key, sizeof(key), KNOWN_PREFIX "%s", cfg->exports[i].name);
		if (s->ops->meta_put(s, key, "1"))
			goto fail;
	}
	if (s->ops->commit(s))
		goto fail;
	return 0;
fail:
	s->ops->rollback(s);
	return -1;
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
