/*
 * example_export.c - an export that appends every change, one JSON line
 * each, to a file.
 * The template of `make plugin NAME=foo KIND=export` (plugins/foo/foo.c).
 *
 *   1. Declare the config keys (keys[]): here the file's path.
 *   2. create() keeps the config; it opens nothing (fail only on bad
 *      config): the file is opened at the first batch.
 *   3. export_batch() gets the changes in feed order as JSON text (their
 *      format: plugins/webhook/README.md), writes them, fsync()s, and only
 *      then says they are done (*n_done): what it reports done is on disk.
 *      On a failure it cuts the file back to where the batch began (a
 *      cut that fails is added to the message) and reports none done;
 *      the hub sends the batch again after a backoff.
 *      A crash between fsync() and the hub's commit of the progress writes
 *      the batch again: lines come at least once, each with its "seq".
 *
 * A line a crash left torn is cut when the file is opened.
 * plugins/jsonl is the full version (rotation, several processes on one
 * file).  A plugin includes only hub_plugin.h.
 */
#include <hub_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct hub_config_key keys[] = {
	{.name = "path", .type = HUB_CFG_STRING, .is_required = 1,
	 .description = "the file every change is appended to, one JSON line each"},
	{.name = NULL},
};

/* Owned by the export's thread: one batch at a time. */
struct example_export_state {
	const char *path; /* the config's: lives as long as the instance */
	int fd;           /* -1 until the first batch opens it */
};

static hub_rc example_export_create(const struct hub_host *host, const struct hub_instance *inst,
				    void **state, char *err, size_t err_size)
{
	struct example_export_state *st;
	const char *path = host->config_string(inst, "path");

	/* bad config, the one failure create() reports: "" would pass until
	 * the first batch, then fail every retry ("": no such file) */
	if (!path[0]) {
		snprintf(err, err_size, "path: must not be empty");
		return HUB_ERR_CONFIG;
	}
	if (!(st = calloc(1, sizeof(*st))))
		return HUB_ERR_NOMEM;
	st->path = path;
	st->fd = -1;
	*state = st;
	return HUB_OK;
}

static void example_export_destroy(void *state)
{
	struct example_export_state *st = state;

	if (st->fd >= 0)
		close(st->fd);
	free(st);
}

/* All of buf[0..len), however many write() calls it takes.  0 or -1. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line per change: the change's JSON (compact: no newline in it). */
static int write_changes(int fd, const char *const *changes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (write_all(fd, changes[i], strlen(changes[i])) || write_all(fd, "\n", 1))
			return -1;
	return 0;
}

/* A line a crash left without its '\n' (killed between two writes): cut
 * back to the end of the last whole line, or the batch sent again would
 * begin on its tail, its first change lost in a line no one can read.
 * Byte by byte: a torn line is one change long.  0, or -1 with errno. */
static int cut_torn_line(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END), cut = end;
	char c;

	if (end < 0)
		return -1;
	for (; cut > 0; cut--) {
		if (pread(fd, &c, 1, cut - 1) != 1)
			return -1;
		if (c == '\n')
			break;
	}
	return cut == end || (ftruncate(fd, cut) == 0 && fsync(fd) == 0) ? 0 : -1;
}

/* Opens the file (made if missing), cuts a torn last line, and syncs its
 * directory, so that a file just made survives a crash too.  0, or -1
 * with errno. */
static int open_file(struct example_export_state *st)
{
	char *dir = strdup(st->path);
	int dir_fd = -1, rc = -1;

	if (!dir)
		return -1;
	st->fd = open(st->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (st->fd >= 0 && cut_torn_line(st->fd) == 0 &&
	    (dir_fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		rc = fsync(dir_fd);
	if (dir_fd >= 0)
		close(dir_fd);
	free(dir);
	return rc;
}

/* After a failed batch, whose error err holds: cuts the file back to
 * `start`, where the batch began, so that none of it stays (the hub sends
 * it again); a cut that fails is added to err, as the other errors are
 * said: what was left is then read twice. */
static void cut_batch(struct example_export_state *st, off_t start, char *err, size_t err_size)
{
	size_t len = strlen(err);

	if (start < 0 || (ftruncate(st->fd, start) == 0 && fsync(st->fd) == 0))
		return;
	if (len < err_size)
		snprintf(err + len, err_size - len, "; cannot cut the batch back out of it: %s",
			 strerror(errno));
}

static hub_rc example_export_batch(void *state, struct hub_call *call,
				   const char *const *changes, size_t n, size_t *n_done,
				   char *err, size_t err_size)
{
	struct example_export_state *st = state;
	off_t start = -1;

	(void)call;
	if ((st->fd < 0 && open_file(st)) || (start = lseek(st->fd, 0, SEEK_END)) < 0 ||
	    write_changes(st->fd, changes, n) || fsync(st->fd)) {
		snprintf(err, err_size, "%s: %s", st->path, strerror(errno));
		/* none of the batch is done (*n_done stays 0): leave none of
		 * it in the file, and open it again at the next batch */
		cut_batch(st, start, err, err_size);
		if (st->fd >= 0)
			close(st->fd);
		st->fd = -1;
		return HUB_RETRY;
	}
	*n_done = n; /* on disk: the hub may move past them */
	return HUB_OK;
}

static const struct hub_plugin example_export_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "example_export",
	.version = "1.0.0",
	.description = "appends every change as one JSON line to a file",
	.roles = HUB_ROLE_EXPORT,
	.config = keys,
	.create = example_export_create,
	.destroy = example_export_destroy,
	.export_batch = example_export_batch,
};

/* The one exported function: return the descriptor, nothing else. */
HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &example_export_plugin;
}
