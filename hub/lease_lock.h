/*
 * lease_lock.h - named locks between processes, for a store that has no
 * server to hold them (SQLite): one file per name in one directory, held
 * by flock(2) on a descriptor of the holder's own, so that a lock is one
 * holder's at a time (two descriptors of one process exclude each other
 * too) and the kernel frees it when the holder closes it or dies.
 *
 * The files stay: removing one would let a second holder lock a new file
 * of that name while the first still holds the old one.
 */
#ifndef HUB_LEASE_LOCK_H
#define HUB_LEASE_LOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lease_lock {
	char *name;    /* owned */
	int fd;        /* the locked file; -1 without a directory */
	int64_t epoch; /* the store's count of takes at this one (its caller's) */
};

/* The locks one store connection holds (as many as its syncs and exports
 * running at once); used by one thread at a time. */
struct lease_locks {
	char *dir; /* owned; NULL: no files, every take succeeds (a store in memory) */
	int is_owned_by;  /* 1: files made are given to uid:gid (a root process) */
	uid_t uid;
	gid_t gid;
	struct lease_lock *held; /* owned, n_held of size_held */
	size_t n_held, size_held;
};

/* dir is copied (NULL: no files).  0, or -1 out of memory. */
int lease_locks_init(struct lease_locks *l, const char *dir);
/* The directory and files this set makes are given to uid:gid (the
 * store's owner, when root runs the hub: its service user must lock them
 * too, as it writes the -wal and -shm SQLite gave it). */
void lease_locks_own(struct lease_locks *l, uid_t uid, gid_t gid);
/* Releases every lock held and frees the set. */
void lease_locks_free(struct lease_locks *l);
/* The index in l->held of the lock of that name, or -1 when not held. */
int lease_locks_find(const struct lease_locks *l, const char *name);
/* Locks <dir>/<name escaped> (the directory and the file made 0750 and
 * 0640 when missing): 1 locked, now l->held[l->n_held - 1] with epoch 0;
 * 0 another holder has it; -1 error (err set).  Not held already. */
int lease_locks_take(struct lease_locks *l, const char *name, char *err, size_t err_size);
/* Releases l->held[i] (its index may then hold another lock). */
void lease_locks_drop(struct lease_locks *l, int i);

#endif
