/*
 * unify_int.h - what the unification engine's files share (unify.c,
 * unify_erase.c, unify_feed.c): the state of one record being resolved and
 * a few helpers.  Not for use outside the engine.
 */
#ifndef HUB_UNIFY_INT_H
#define HUB_UNIFY_INT_H

#include "unify.h"

#include <jansson.h>

#define DAY_MS (24LL * 3600 * 1000)

/* The working state of one record.  Identifiers are dropped from the
 * record (never from the store) by clearing their `use` flags. */
#define MAX_EXTERNALS CONFIG_MAX_EXTERNAL_IDS
/* "<type> <message_id> (<source>)" with the longest of each: the log names
 * the record whole (a cut id names no event, and a cut inside a UTF-8
 * character is no text: PostgreSQL refuses the row, and its commit) */
#define UNIFY_REASON_SIZE (16 + RECORD_MESSAGE_ID_MAX + RECORD_SOURCE_MAX)

struct resolve {
	const struct record *r;
	size_t n_ext;             /* externals considered (<= MAX_EXTERNALS) */
	int use_install;
	const char *install;       /* the installation the record names and keeps */
	int use_ext[MAX_EXTERNALS];
	char target[PROFILE_ID_SIZE];
	char reason[UNIFY_REASON_SIZE];
	/* the cap or limit that refused the last merge merge_allowed weighed
	 * ("crm_id limit 1", "merge count cap 100"), "" when none did */
	char refusal[96];
	/* what changed, for the change feed */
	char changed[8][PROFILE_ID_SIZE]; /* profiles whose identity changed */
	size_t n_changed;
	json_t *merged_from;      /* profiles absorbed into the target */
	int is_consent_changed;   /* the record changed a consent state */
	struct record_warnings *warnings; /* the caller's (unify_apply), or NULL */
};

/* Who holds (type, value): 1 found (pid set), 0 nobody, -1 error. */
int unify_owner_of(struct unify *u, const char *type, const char *value,
		   char pid[PROFILE_ID_SIZE]);
/* Remembers a profile whose identity changed (for profile_updated). */
void unify_note_changed(struct resolve *rs, const char *pid);
/* Appends to the identity log (and notes the profiles as changed). */
int unify_log_identity(struct unify *u, struct resolve *rs, const char *pid,
		       const char *action, const char *type, const char *value,
		       const char *other);

/* unify_erase.c: an erase record (IDENTITY.md section 7). */
int unify_erase_apply(struct unify *u, struct resolve *rs);

/* unify_feed.c: the change feed, written in the record's transaction. */
int unify_feed_append(struct unify *u, const char *kind, const char *pid, int64_t at,
		      json_t *payload);
int unify_feed_write(struct unify *u, struct resolve *rs);

#endif
