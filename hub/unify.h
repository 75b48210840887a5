/*
 * unify.h - the unification engine (IDENTITY.md sections 3, 4, 5, 7): applies
 * one validated record to the store, inside the caller's transaction.
 * Knows nothing of HTTP, YAML or SQL dialects: only store.h primitives.
 */
#ifndef HUB_UNIFY_H
#define HUB_UNIFY_H

#include "config.h"
#include "log.h"
#include "record.h"
#include "store.h"

#define UNIFY_MAX_MERGES 100
#define UNIFY_MAX_IDENTIFIERS 1000
#define UNIFY_MAX_INSTALLATIONS 1000 /* identity.max_installations's default */
#define UNIFY_MAX_ATTRIBUTES 1000    /* identity.max_attributes's default */

enum unify_outcome {
	UNIFY_APPLIED = 0,
	UNIFY_DUPLICATE,  /* (source, message_id) already applied */
	UNIFY_BLOCKED,    /* an identifier is on the erasure block list */
	UNIFY_REFUSED,    /* alias of two known profiles */
};

struct unify_counts {
	int64_t records;
	int64_t applied;
	int64_t duplicates;
	int64_t blocked;
	int64_t rejected;  /* counted by callers: validation happens before */
	int64_t refused;
	int64_t warnings;  /* values of applied records left out (unify_apply) */
};

struct unify {
	struct store *store;                 /* borrowed */
	const struct config_external_id *external_ids; /* borrowed */
	size_t n_external_ids;
	int erase_block_days;
	int max_installations;               /* per profile (identity.max_installations) */
	int max_attributes;                  /* per profile (identity.max_attributes) */
	int has_blocks;                      /* refreshed by unify_group_begin */
	int has_exports;                     /* the config lists an export */
	int is_outbox_on;                    /* write the change feed: refreshed
						by unify_group_outbox */
	struct log_note refused_aliases;     /* their log line (resolve_alias) */
	struct log_note installs_left_out;   /* at max_installations (install_room) */
	struct log_note merges_capped;       /* stopped by a cap (cap_warn) */
};

void unify_init(struct unify *u, struct store *s, const struct hub_config *cfg);

/* Call after each BEGIN, before anything else of the group: decides
 * whether the group writes the change feed (an export may read it: the
 * config lists one, or the store knows one from another process's
 * config).  PostgreSQL: may wait for a process registering an export.
 * 0, or -1 on a store failure. */
int unify_group_outbox(struct unify *u);

/* Call after each BEGIN: refreshes what may have changed in the store
 * since the last group (another process may have erased someone). */
int unify_group_begin(struct unify *u);

/* Applies one record.  Returns 0 with *outcome set, or -1 on a store
 * failure (store_error(u->store)); the caller rolls the batch back.  A
 * value of an applied record left out because of what is stored (an array
 * op past the limit: profile.h) is a warning in `warnings` (may be NULL). */
int unify_apply(struct unify *u, const struct record *r, enum unify_outcome *outcome,
		struct record_warnings *warnings);

void unify_count(struct unify_counts *c, enum unify_outcome o);

#endif
