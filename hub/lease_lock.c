/*
 * lease_lock.c - named locks between processes as flock(2) on files of
 * one directory (lease_lock.h).  A name becomes a file name by keeping
 * a-z, 0-9, _ and - and writing any other byte as %xx ("export:crm" is
 * export%3acrm): one name, one file, on any file system.  No SQL here.
 */
#include "lease_lock.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int lease_locks_init(struct lease_locks *l, const char *dir)
{
	memset(l, 0, sizeof(*l));
	if (dir && !(l->dir = hub_strdup(dir)))
		return -1;
	return 0;
}

void lease_locks_free(struct lease_locks *l)
{
	while (l->n_held)
		lease_locks_drop(l, 0);
	hub_free(l->held);
	hub_free(l->dir);
	memset(l, 0, sizeof(*l));
}

void lease_locks_own(struct lease_locks *l, uid_t uid, gid_t gid)
{
	l->is_owned_by = 1;
	l->uid = uid;
	l->gid = gid;
}

int lease_locks_find(const struct lease_locks *l, const char *name)
{
	for (size_t i = 0; i < l->n_held; i++)
		if (strcmp(l->held[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* <dir>/<name escaped> into buf: 0, or -1 when it does not fit. */
static int lock_path(const char *dir, const char *name, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s/", dir), start = n;

	for (const unsigned char *c = (const unsigned char *)name; *c && n < size; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')
			buf[n++] = (char)*c;
		else
			n += (size_t)snprintf(buf + n, size - n, "%%%02x", *c);
	}
	if (n >= size || n - start > NAME_MAX)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Gives a file this set made to the store's owner (a root process). */
static void lock_give(const struct lease_locks *l, const char *path, int fd)
{
	struct stat st;

	if (!l->is_owned_by)
		return;
	if (fd >= 0 ? fstat(fd, &st) : stat(path, &st))
		return;
	if ((st.st_uid != l->uid || st.st_gid != l->gid) &&
	    (fd >= 0 ? fchown(fd, l->uid, l->gid) : chown(path, l->uid, l->gid)))
		log_warn("store", "%s: cannot give it to %ld:%ld: %s", path, (long)l->uid,
			 (long)l->gid, strerror(errno));
}

/* The descriptor of the locked file: >= 0; -2 another holder has it; -1
 * error (err set).  Read-only: flock needs no more, so a file another user
 * of the store's group made locks too. */
static int lock_file(const struct lease_locks *l, const char *name, char *err, size_t err_size)
{
	char path[PATH_MAX];
	int fd, e;

	if (lock_path(l->dir, name, path, sizeof(path))) {
		err_set(err, err_size, "its lock file's name is too long");
		return -1;
	}
	if (mkdir(l->dir, 0750) && errno != EEXIST) {
		err_set(err, err_size, "cannot make %s: %s", l->dir, strerror(errno));
		return -1;
	}
	lock_give(l, l->dir, -1); /* made now, or by an earlier root run */
	if ((fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		err_set(err, err_size, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	lock_give(l, path, fd);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == EWOULDBLOCK)
		return -2;
	err_set(err, err_size, "cannot lock %s: %s", path, strerror(e));
	return -1;
}

int lease_locks_take(struct lease_locks *l, const char *name, char *err, size_t err_size)
{
	int fd = -1;
	char *copy;

	if (l->n_held == l->size_held) {
		size_t size = l->size_held ? 2 * l->size_held : 8;
		struct lease_lock *held = hub_realloc(l->held, size * sizeof(*held));
		if (!held) {
			err_set(err, err_size, "out of memory");
			return -1;
		}
		l->held = held;
		l->size_held = size;
	}
	if (l->dir && (fd = lock_file(l, name, err, err_size)) < 0)
		return fd == -2 ? 0 : -1;
	if (!(copy = hub_strdup(name))) {
		if (fd >= 0)
			close(fd);
		err_set(err, err_size, "out of memory");
		return -1;
	}
	l->held[l->n_held].name = copy;
	l->held[l->n_held].fd = fd;
	l->held[l->n_held].epoch = 0;
	l->n_held++;
	return 1;
}

void lease_locks_drop(struct lease_locks *l, int i)
{
	hub_free(l->held[i].name);
	if (l->held[i].fd >= 0)
		close(l->held[i].fd); /* the lock goes with the file's last descriptor */
	l->held[i] = l->held[--l->n_held];
}
