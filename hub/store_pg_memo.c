/*
 * store_pg_memo.c - see store_pg_memo.h.  Two open-addressing indexes
 * (identifiers, profile ids) over arrays that only grow within a
 * transaction; FNV-1a hashes.
 */
#include "store_pg_memo.h"

#include "alloc.h"

#include <stdio.h>
#include <string.h>

static uint64_t hash_bytes(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static uint64_t hash_ident(const char *type, const char *value)
{
	return hash_bytes(hash_bytes(14695981039346656037ULL, type) * 1099511628211ULL, value);
}

static uint64_t hash_pid(const char *pid)
{
	return hash_bytes(14695981039346656037ULL, pid);
}

/* Grows an open-addressing index to hold `need` items at most half full,
 * re-inserting items 0..n-1 with their hash.  0 or -1 (no memory). */
static int index_fit(uint32_t **index, size_t *cap, size_t need, size_t n,
		     uint64_t (*hash_of)(const struct memo *, size_t), const struct memo *m)
{
	size_t grown = *cap ? *cap : 64;
	uint32_t *fresh;

	if (need * 2 <= *cap)
		return 0;
	while (need * 2 > grown)
		grown *= 2;
	fresh = hub_calloc(grown, sizeof(*fresh));
	if (!fresh)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t pos = hash_of(m, i) & (grown - 1);
		while (fresh[pos])
			pos = (pos + 1) & (grown - 1);
		fresh[pos] = (uint32_t)i + 1;
	}
	hub_free(*index);
	*index = fresh;
	*cap = grown;
	return 0;
}

static uint64_t entry_hash(const struct memo *m, size_t i)
{
	return hash_ident(m->entries[i].type, m->entries[i].value);
}

static uint64_t slot_hash(const struct memo *m, size_t i)
{
	return hash_pid(m->slots[i].pid);
}

void memo_reset(struct memo *m)
{
	for (size_t i = 0; i < m->n; i++)
		hub_free(m->entries[i].type);
	m->n = 0;
	m->n_slots = 0;
	if (m->index)
		memset(m->index, 0, m->index_cap * sizeof(*m->index));
	if (m->slot_index)
		memset(m->slot_index, 0, m->slot_index_cap * sizeof(*m->slot_index));
	m->is_on = 0;
}

void memo_free(struct memo *m)
{
	memo_reset(m);
	hub_free(m->entries);
	hub_free(m->index);
	hub_free(m->slots);
	hub_free(m->slot_index);
}

struct memo_entry *memo_find(const struct memo *m, const char *type, const char *value)
{
	size_t pos;
	if (!m->is_on || !m->index_cap)
		return NULL;
	pos = hash_ident(type, value) & (m->index_cap - 1);
	for (; m->index[pos]; pos = (pos + 1) & (m->index_cap - 1)) {
		struct memo_entry *e = &m->entries[m->index[pos] - 1];
		if (strcmp(e->type, type) == 0 && strcmp(e->value, value) == 0)
			return e;
	}
	return NULL;
}

struct memo_entry *memo_add(struct memo *m, const char *type, const char *value)
{
	struct memo_entry *e = memo_find(m, type, value);
	size_t tlen = strlen(type), vlen = strlen(value), pos;

	if (e)
		return e;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 256;
		void *grown = hub_realloc(m->entries, cap * sizeof(*m->entries));
		if (!grown)
			return NULL;
		m->entries = grown;
		m->cap = cap;
	}
	if (index_fit(&m->index, &m->index_cap, m->n + 1, m->n, entry_hash, m))
		return NULL;
	e = &m->entries[m->n];
	e->type = hub_malloc(tlen + vlen + 2);
	if (!e->type)
		return NULL;
	memcpy(e->type, type, tlen + 1);
	memcpy(e->type + tlen + 1, value, vlen + 1);
	e->value = e->type + tlen + 1;
	e->owner = -1;
	e->is_owner_known = 0;
	e->has_block = 0;
	e->block_until = 0;
	pos = hash_ident(type, value) & (m->index_cap - 1);
	while (m->index[pos])
		pos = (pos + 1) & (m->index_cap - 1);
	m->index[pos] = (uint32_t)++m->n;
	return e;
}

/* Appends a slot for pid (indexed by pid: any slot of a pid leads to its
 * current one through `newer`).  Its index, or -1. */
static int memo_slot_new(struct memo *m, const char *pid)
{
	struct memo_slot *sl;
	size_t pos;

	if (m->n_slots == m->slots_cap) {
		size_t cap = m->slots_cap ? 2 * m->slots_cap : 256;
		void *grown = hub_realloc(m->slots, cap * sizeof(*m->slots));
		if (!grown)
			return -1;
		m->slots = grown;
		m->slots_cap = cap;
	}
	if (index_fit(&m->slot_index, &m->slot_index_cap, m->n_slots + 1, m->n_slots, slot_hash, m))
		return -1;
	sl = &m->slots[m->n_slots];
	snprintf(sl->pid, sizeof(sl->pid), "%s", pid);
	sl->redirect = -1;
	sl->newer = -1;
	sl->is_dead = 0;
	sl->is_locked = 0;
	pos = hash_pid(pid) & (m->slot_index_cap - 1);
	while (m->slot_index[pos])
		pos = (pos + 1) & (m->slot_index_cap - 1);
	m->slot_index[pos] = (uint32_t)++m->n_slots;
	return (int)m->n_slots - 1;
}

int memo_slot(struct memo *m, const char *pid)
{
	int s = -1;

	if (m->slot_index_cap) {
		size_t pos = hash_pid(pid) & (m->slot_index_cap - 1);
		for (; m->slot_index[pos]; pos = (pos + 1) & (m->slot_index_cap - 1)) {
			if (strcmp(m->slots[m->slot_index[pos] - 1].pid, pid) == 0) {
				s = (int)m->slot_index[pos] - 1;
				break;
			}
		}
	}
	if (s < 0)
		return memo_slot_new(m, pid);
	while (m->slots[s].newer >= 0)
		s = m->slots[s].newer;
	return s;
}

/* Gives pid a new current slot and returns the one it had (what pointed
 * there still does: to be redirected or killed), or -1. */
static int memo_slot_renew(struct memo *m, const char *pid)
{
	int old = memo_slot(m, pid), fresh;
	if (old < 0 || (fresh = memo_slot_new(m, pid)) < 0)
		return -1;
	m->slots[old].newer = fresh;
	m->slots[fresh].is_locked = m->slots[old].is_locked;
	return old;
}

/* A merge: the identifiers `from` held are `to`'s now. */
void memo_reassign(struct memo *m, const char *from, const char *to)
{
	int old, target;
	if (!m->is_on)
		return;
	old = memo_slot_renew(m, from);
	target = memo_slot(m, to);
	if (old < 0 || target < 0) {
		memo_reset(m);
		return;
	}
	m->slots[old].redirect = target;
}

/* An erase: nobody holds what pid held. */
void memo_delete_profile(struct memo *m, const char *pid)
{
	int old;
	if (!m->is_on)
		return;
	old = memo_slot_renew(m, pid);
	if (old < 0) {
		memo_reset(m);
		return;
	}
	m->slots[old].is_dead = 1;
}

int memo_owner(const struct memo *m, const struct memo_entry *e,
		      char pid[PROFILE_ID_SIZE])
{
	int s = e->owner;
	while (s >= 0 && m->slots[s].redirect >= 0)
		s = m->slots[s].redirect;
	if (s < 0 || m->slots[s].is_dead)
		return 0;
	memcpy(pid, m->slots[s].pid, PROFILE_ID_SIZE);
	return 1;
}

void memo_set_owner(struct memo *m, const char *type, const char *value, const char *pid)
{
	struct memo_entry *e = memo_find(m, type, value);
	int s = pid ? memo_slot(m, pid) : -1;
	if (!e)
		return;
	if (pid && s < 0) {
		memo_reset(m);
		return;
	}
	e->owner = s;
	e->is_owner_known = 1;
}
