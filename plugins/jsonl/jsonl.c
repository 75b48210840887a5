/*
 * jsonl.c - an export that appends every change as one line to a JSON
 * Lines file, and acknowledges a batch only after fsync().
 *
 * Rotation by size: when the next line would take the file past
 * `max_bytes`, the file is synced and renamed to path.1 (path.1 to path.2,
 * ... up to path.<keep>, the oldest dropped) and a new file started; the
 * directory is synced so the renames survive a crash.  0 turns rotation
 * off.  A line longer than max_bytes still goes into a file of its own.
 *
 * Crash safety: a batch is written with one write() and one fsync(); if
 * either fails the file is cut back to its last acknowledged size, and a
 * torn last line (a crash in the middle of a write) is cut off before the
 * next batch.  A batch written but not yet acknowledged to the hub is
 * written again after a crash: lines are delivered at least once, each
 * carries its "seq".
 *
 * Several processes (hubs sharing a store, `check --connect`) may have an
 * instance on one path; the export's lease lets one of them write at a time,
 * and it may move.  So nothing touches the file outside a batch (create
 * only checks that it could be written), and a batch runs under an
 * exclusive flock() on path.lock: only there is the file opened, its
 * size read, a torn tail cut and a rotation done.  At each batch the open
 * file is checked against the path (another process may have rotated it)
 * and its size read again (another process may have appended to it).
 *
 * An erased change's line holds only seq, kind, at, profile_id and
 * identifier_types, whatever the change carried: no personal data.
 */
#include <hub_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct hub_config_key jsonl_keys[] = {
	{.name = "path", .type = HUB_CFG_STRING, .is_required = 1,
	 .description = "the JSON Lines file changes are appended to (its directory must be "
			"writable: path.lock is made beside it)"},
	{.name = "max_bytes", .type = HUB_CFG_INT, .default_value = "104857600",
	 .description = "rotate when the file would grow past this (0: never)"},
	{.name = "keep", .type = HUB_CFG_INT, .default_value = "5",
	 .description = "rotated files kept (path.1 is the newest)"},
	{.name = NULL},
};

/* Owned by the export's thread (one batch at a time). */
struct jsonl {
	char *path;
	char *dir;          /* the directory holding path, synced after renames */
	char *lock_path;    /* path.lock: flock()ed while a batch runs */
	long long max_bytes;
	long long keep;
	int lock_fd;        /* -1: to be opened at the first batch */
	int fd;             /* -1: to be opened (under the lock) */
	long long size;     /* acknowledged bytes in the current file, read
			     * again under the lock at each batch */
	char *buf;          /* lines of the batch not yet written */
	size_t len, cap;
};

/* ---- files ---------------------------------------------------------------- */

static int sync_dir(const struct jsonl *j)
{
	int fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Cuts a torn last line (no newline at the end) off the file. */
static int cut_torn_tail(struct jsonl *j)
{
	char block[4096];
	long long end = j->size;

	while (end > 0) {
		long long start =
			end > (long long)sizeof(block) ? end - (long long)sizeof(block) : 0;
		ssize_t got = pread(j->fd, block, (size_t)(end - start), start);
		if (got != end - start)
			return -1;
		for (ssize_t i = got - 1; i >= 0; i--) {
			if (block[i] != '\n')
				continue;
			if (start + i + 1 == j->size)
				return 0; /* ends with a newline */
			j->size = start + i + 1;
			return ftruncate(j->fd, j->size) || fsync(j->fd) ? -1 : 0;
		}
		end = start;
	}
	j->size = 0; /* one torn line and nothing else */
	return ftruncate(j->fd, 0) || fsync(j->fd) ? -1 : 0;
}

static int file_open(struct jsonl *j, char *err, size_t err_size)
{
	struct stat st;
	int is_new = 0;

	/* read-write: cut_torn_tail reads the end back */
	j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (j->fd >= 0)
		is_new = 1;
	else if (errno == EEXIST)
		j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (j->fd < 0 || fstat(j->fd, &st) != 0)
		goto fail;
	j->size = (long long)st.st_size;
	/* the directory at every open, not only at a create: a create (or a
	 * rotation's renames) whose directory sync a crash or a failure cut
	 * short would otherwise stay unsynced under lines acknowledged later */
	if ((!is_new && cut_torn_tail(j)) || sync_dir(j))
		goto fail;
	return 0;
fail:
	snprintf(err, err_size, "%s: %s", j->path, strerror(errno));
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	return -1;
}

/* The exclusive lock on path.lock, taken without waiting: a batch of
 * another process (one the lease moved from, still finishing) is short, and
 * the exporter retries; waiting could hold the hub's stop for good. */
static hub_rc file_lock(struct jsonl *j, char *err, size_t err_size)
{
	if (j->lock_fd < 0)
		j->lock_fd = open(j->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (j->lock_fd < 0) {
		snprintf(err, err_size, "%s: %s", j->lock_path, strerror(errno));
		return HUB_RETRY;
	}
	while (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			snprintf(err, err_size, "%s: another process is writing to %s",
				 j->lock_path, j->path);
		else
			snprintf(err, err_size, "%s: %s", j->lock_path, strerror(errno));
		return HUB_RETRY;
	}
	return HUB_OK;
}

static void file_unlock(struct jsonl *j)
{
	flock(j->lock_fd, LOCK_UN);
}

/* Under the lock: the file now at path open, its size as it is now (another
 * process may have appended since this one last wrote, or rotated it away),
 * and no torn last line. */
static int file_current(struct jsonl *j, char *err, size_t err_size)
{
	struct stat st, at_path;

	if (j->fd >= 0) {
		if (fstat(j->fd, &st) != 0)
			goto fail;
		if (stat(j->path, &at_path) != 0 || at_path.st_dev != st.st_dev ||
		    at_path.st_ino != st.st_ino) {
			close(j->fd); /* rotated (or removed) by another process */
			j->fd = -1;
		}
	}
	if (j->fd < 0)
		return file_open(j, err, err_size);
	j->size = (long long)st.st_size;
	if (cut_torn_tail(j))
		goto fail;
	return 0;
fail:
	snprintf(err, err_size, "%s: %s", j->path, strerror(errno));
	close(j->fd);
	j->fd = -1;
	return -1;
}

/* Whether the file could be written, changing nothing (create and
 * check --connect): the file if it exists, and its directory (path.lock,
 * a new file and the rotations are made there). */
static int file_check(const struct jsonl *j, char *err, size_t err_size)
{
	struct stat st;

	if (stat(j->path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			goto fail;
		}
		if (access(j->path, W_OK) != 0)
			goto fail;
	} else if (errno != ENOENT) {
		goto fail;
	} else if (lstat(j->path, &st) == 0) {
		/* a symbolic link to nothing: every open would fail (O_EXCL sees
		 * the link, a plain open its missing target), batch after batch */
		snprintf(err, err_size, "%s: a symbolic link to a file that does not exist",
			 j->path);
		return -1;
	}
	if (access(j->dir, W_OK | X_OK) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, err_size, "%s: %s", j->path, strerror(errno));
	return -1;
}

/* path.<k>, into buf. */
static void rotated_name(const struct jsonl *j, long long k, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%lld", j->path, k);
}

static int file_rotate(struct jsonl *j, char *err, size_t err_size)
{
	size_t size = strlen(j->path) + 24;
	char *from = malloc(size), *to = malloc(size);
	int rc = -1;

	if (!from || !to) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	close(j->fd);
	j->fd = -1;
	for (long long k = j->keep - 1; k >= 1; k--) {
		rotated_name(j, k, from, size);
		rotated_name(j, k + 1, to, size);
		if (rename(from, to) != 0 && errno != ENOENT)
			goto io_error;
	}
	if (j->keep > 0) {
		rotated_name(j, 1, to, size);
		if (rename(j->path, to) != 0)
			goto io_error;
	} else if (unlink(j->path) != 0) {
		goto io_error;
	}
	rc = file_open(j, err, err_size);
	goto out;
io_error:
	snprintf(err, err_size, "%s: rotating: %s", j->path, strerror(errno));
out:
	free(from);
	free(to);
	return rc;
}

/* ---- create / destroy ----------------------------------------------------- */

static void jsonl_destroy(void *state)
{
	struct jsonl *j = state;

	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd); /* drops the lock, were it held */
	free(j->path);
	free(j->dir);
	free(j->lock_path);
	free(j->buf);
	free(j);
}

/* What create() refuses of the values alone, also `profilehub check`'s
 * (check_config, ABI 1.10): each message starts with its key, which the hub
 * names with its file:line:col.  A path "" was taken (its directory, ".",
 * is writable), then failed every batch. */
static hub_rc jsonl_check_config(const struct hub_host *host, const struct hub_instance *inst,
				 char *err, size_t err_size)
{
	long long keep = (long long)host->config_int(inst, "keep");

	if (!host->config_string(inst, "path")[0])
		snprintf(err, err_size, "path: must not be empty");
	else if (host->config_int(inst, "max_bytes") < 0)
		snprintf(err, err_size, "max_bytes: must be 0 (never rotate) or more");
	else if (keep < 0 || keep > 1000)
		snprintf(err, err_size, "keep: must be 0 to 1000");
	else
		return HUB_OK;
	return HUB_ERR_CONFIG;
}

static hub_rc jsonl_create(const struct hub_host *host, const struct hub_instance *inst,
			   void **state, char *err, size_t err_size)
{
	struct jsonl *j;
	char *copy = NULL;
	hub_rc rc = jsonl_check_config(host, inst, err, err_size);

	if (rc != HUB_OK)
		return rc;
	if (!(j = calloc(1, sizeof(*j))))
		return HUB_ERR_NOMEM;
	j->fd = -1;
	j->lock_fd = -1;
	j->max_bytes = (long long)host->config_int(inst, "max_bytes");
	j->keep = (long long)host->config_int(inst, "keep");
	if (!(j->path = strdup(host->config_string(inst, "path"))) ||
	    !(copy = strdup(j->path)) || !(j->dir = strdup(dirname(copy))) ||
	    asprintf(&j->lock_path, "%s.lock", j->path) < 0) {
		j->lock_path = NULL;
		free(copy);
		jsonl_destroy(j);
		return HUB_ERR_NOMEM;
	}
	free(copy);
	/* no open here: another process may be writing the file (a torn
	 * tail is only cut under the lock, in a batch) */
	if (file_check(j, err, err_size)) {
		jsonl_destroy(j);
		return HUB_ERR_CONFIG;
	}
	*state = j;
	return HUB_OK;
}

/* ---- lines ------------------------------------------------------------- */

/* What goes into the file for one change: the change itself, or for an
 * erasure only its non-personal members.  malloc'd; NULL: bad JSON or no
 * memory (*is_bad tells which). */
static char *line_for(const char *change, int *is_bad)
{
	static const char *const erased_keep[] = {"seq", "kind", "at", "profile_id",
						  "identifier_types"};
	const char *kind;
	json_t *c, *out;
	char *text;

	*is_bad = 0;
	if (!strstr(change, "\"erased\""))
		return strdup(change);
	if (!(c = json_loads(change, 0, NULL))) {
		*is_bad = 1;
		return NULL;
	}
	kind = json_string_value(json_object_get(c, "kind"));
	if (!kind || strcmp(kind, "erased") != 0) {
		json_decref(c);
		return strdup(change);
	}
	out = json_object();
	for (size_t i = 0; i < sizeof(erased_keep) / sizeof(erased_keep[0]); i++) {
		json_t *v = json_object_get(c, erased_keep[i]);
		if (v)
			json_object_set(out, erased_keep[i], v);
	}
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	json_decref(c);
	return text;
}

static int buf_add(struct jsonl *j, const char *line)
{
	size_t n = strlen(line);

	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 65536;
		char *grown;
		while (cap < j->len + n + 1)
			cap *= 2;
		if (!(grown = realloc(j->buf, cap)))
			return -1;
		j->buf = grown;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, line, n);
	j->buf[j->len + n] = '\n';
	j->len += n + 1;
	return 0;
}

/* Writes and syncs the buffered lines; on failure cuts the file back. */
static int buf_flush(struct jsonl *j, char *err, size_t err_size)
{
	size_t off = 0;

	while (off < j->len) {
		ssize_t w = write(j->fd, j->buf + off, j->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(j->fd) != 0)
		goto fail;
	j->size += (long long)j->len;
	j->len = 0;
	return 0;
fail:
	snprintf(err, err_size, "%s: %s", j->path, strerror(errno ? errno : EIO));
	if (ftruncate(j->fd, j->size) != 0) {
		close(j->fd); /* reopened (and repaired) by the next batch */
		j->fd = -1;
	}
	j->len = 0;
	return -1;
}

static int is_full(const struct jsonl *j, size_t next)
{
	long long used = j->size + (long long)j->len;
	return j->max_bytes > 0 && used > 0 && used + (long long)next > j->max_bytes;
}

/* The batch, under the lock, into the current file. */
static hub_rc export_locked(struct jsonl *j, const char *const *changes, size_t n,
			    size_t *n_done, char *err, size_t err_size)
{
	size_t pending = 0;

	if (file_current(j, err, err_size))
		return HUB_RETRY;
	for (size_t i = 0; i < n; i++) {
		int is_bad;
		char *line = line_for(changes[i], &is_bad);

		if (!line) {
			if (pending && buf_flush(j, err, err_size) == 0)
				*n_done += pending;
			else if (pending)
				return HUB_RETRY;
			snprintf(err, err_size, is_bad ? "change %zu is not JSON" :
				 "change %zu: out of memory", i);
			return is_bad ? HUB_ERR_DATA : HUB_ERR_NOMEM;
		}
		if (is_full(j, strlen(line) + 1)) {
			if (buf_flush(j, err, err_size)) {
				free(line);
				return HUB_RETRY;
			}
			/* written and synced: counted even if the rotation fails
			 * (they would be written again) */
			*n_done += pending;
			pending = 0;
			if (file_rotate(j, err, err_size)) {
				free(line);
				return HUB_RETRY;
			}
		}
		if (buf_add(j, line)) {
			free(line);
			return HUB_ERR_NOMEM;
		}
		free(line);
		pending++;
	}
	if (pending && buf_flush(j, err, err_size))
		return HUB_RETRY;
	*n_done += pending;
	return HUB_OK;
}

static hub_rc jsonl_export(void *state, struct hub_call *call, const char *const *changes,
			   size_t n, size_t *n_done, char *err, size_t err_size)
{
	struct jsonl *j = state;
	hub_rc rc;

	(void)call;
	*n_done = 0;
	j->len = 0;
	if ((rc = file_lock(j, err, err_size)) != HUB_OK)
		return rc;
	rc = export_locked(j, changes, n, n_done, err, err_size);
	file_unlock(j);
	return rc;
}

static hub_rc jsonl_check_connect(void *state, char *err, size_t err_size)
{
	return file_check(state, err, err_size) ? HUB_ERR_CONFIG : HUB_OK;
}

static const struct hub_plugin jsonl_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "jsonl",
	.version = "1.0.0",
	.description = "appends changes to a JSON Lines file (fsync, rotation by size)",
	.roles = HUB_ROLE_EXPORT,
	.config = jsonl_keys,
	.create = jsonl_create,
	.destroy = jsonl_destroy,
	.check_connect = jsonl_check_connect,
	.export_batch = jsonl_export,
	.check_config = jsonl_check_config,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &jsonl_plugin;
}
