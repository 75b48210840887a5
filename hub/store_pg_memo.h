/*
 * store_pg_memo.h - the memo of a multi-writer transaction on PostgreSQL
 * (store_pg_ops.c): what it knows of the identifiers it locked at group start
 * (ident_lock), who holds each and whether it is blocked.  Nobody else can
 * change either while the locks are held (a holder changes only under the
 * lock of that identifier or of its holder; a block only under the
 * identifier's), so ident_get and block_get answer from here and the
 * transaction's own writes keep it current.
 *
 * A profile is a slot: a merge redirects the absorbed profile's slot to
 * the survivor's and an erase kills it, so neither visits every
 * identifier.  Off (memo_find finds nothing) until filled, and after
 * memo_reset.  Plain C: no SQL, no libpq; one transaction's, one thread.
 */
#ifndef HUB_STORE_PG_MEMO_H
#define HUB_STORE_PG_MEMO_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

struct memo_entry {
	char *type;          /* "type\0value\0", one allocation */
	const char *value;
	int owner;           /* slot, -1: nobody */
	int is_owner_known;  /* else ask the server (and lock what it says) */
	int has_block;
	int64_t block_until;
};

struct memo_slot {
	char pid[PROFILE_ID_SIZE];
	int redirect;        /* -1, or the slot it was merged into */
	int newer;           /* -1, or the slot that replaced it for this pid */
	int is_dead;         /* erased */
	int is_locked;       /* this transaction holds the profile's lock */
};

struct memo {
	int is_on;
	struct memo_entry *entries;
	size_t n, cap;
	uint32_t *index;     /* open addressing: entry + 1, 0 empty */
	size_t index_cap;
	struct memo_slot *slots;
	size_t n_slots, slots_cap;
	uint32_t *slot_index;/* pid -> a slot of it + 1 */
	size_t slot_index_cap;
};

/* Empties and turns off (keeps the memory); memo_free releases it. */
void memo_reset(struct memo *m);
void memo_free(struct memo *m);

/* The entry of (type, value), or NULL (also when off). */
struct memo_entry *memo_find(const struct memo *m, const char *type, const char *value);
/* The entry, added (nothing known) when missing; NULL: no memory. */
struct memo_entry *memo_add(struct memo *m, const char *type, const char *value);
/* The current slot of a profile (a fresh one when missing), or -1. */
int memo_slot(struct memo *m, const char *pid);
/* Who holds the entry's identifier: 1 (pid filled), 0 nobody. */
int memo_owner(const struct memo *m, const struct memo_entry *e, char pid[PROFILE_ID_SIZE]);

/* The transaction's own writes.  A fact that cannot be recorded (no
 * memory) turns the memo off: it never lies. */
void memo_set_owner(struct memo *m, const char *type, const char *value, const char *pid);
void memo_reassign(struct memo *m, const char *from, const char *to);
void memo_delete_profile(struct memo *m, const char *pid);

#endif
