/*
 * fuzz_plugfiles.c - libFuzzer target for the files the bundled plugins
 * read, written from the input into a scratch directory (/dev/shm when
 * there is one: the jsonl export fsyncs):
 *
 *   - the example plugin's JSON Lines file (plugins/example/example.c),
 *     pulled to its end page after page, each from the last checkpoint,
 *     as the hub does; and a cursor text from the input;
 *   - the jsonl export's own file (plugins/jsonl/jsonl.c) as another
 *     process or a crash may have left it (a torn last line is cut under
 *     the lock), then a batch of changes appended, with or without
 *     rotation by size.
 *
 * The plugins' sources are compiled in and run against the fake host of
 * fuzzcall.h (every record goes through record_from_hub).
 *
 * The input:
 *
 *   byte 0   bits 0-1: the example's batch - 1; bits 2-4: its budget - 1;
 *            bits 5-6: the jsonl max_bytes: 0 (no rotation), else 32 << k
 *   rest     the example's file, whole; for jsonl, up to the first form
 *            feed: the file found, then the changes, one per form feed
 *            (a newline in one becomes a space: the hub writes compact
 *            JSON; at most 8); the example's first line is also tried as
 *            a cursor
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - example: a pull that fails on a readable file, a HUB_MORE that moved
 *     no checkpoint on (the hub would pull forever) or took no line (more
 *     pulls than the file has lines), a checkpoint that is
 *     not the offset of a line's end, goes back, or ends elsewhere than
 *     after the last newline; a complete non-blank line neither emitted
 *     nor rejected exactly once; a cursor that is not a non-negative
 *     decimal not refused with HUB_ERR_DATA and a message; a cursor past
 *     the file's end (truncated or replaced since) taking no line;
 *   - jsonl: the files (path.N ... path.1, path) not holding exactly the
 *     found file cut after its last newline, then one line per change
 *     acknowledged (the change, or for an erasure only its non-personal
 *     members); a file that does not end with a newline; a rotated file
 *     past max_bytes holding more than one line it wrote; a refusal
 *     without a message, HUB_OK with a change not written.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/plugfiles/)
 */
#define FUZZ_SOURCE "lines"

#define hub_plugin_entry example_hub_plugin_entry
#include "../../plugins/example/example.c"
#undef hub_plugin_entry

#define hub_plugin_entry jsonl_hub_plugin_entry
#include "../../plugins/jsonl/jsonl.c"
#undef hub_plugin_entry

#include "fuzzcall.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CHANGES 8
#define JSONL_KEEP 16 /* more than a batch can rotate: nothing is dropped */

static char *dir, *example_path, *jsonl_path;
static long long cfg_batch, cfg_max_bytes;

/* ---- the fake host ----------------------------------------------------------------------- */

static char last_cursor[32];
static int has_cursor;

static void fuzz_check_record(const struct hub_record *rec)
{
	(void)rec;
}

static void fuzz_check_answer(hub_rc rc, const struct hub_response *resp)
{
	(void)rc;
	(void)resp;
}

static const char *fake_string(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	if (strcmp(key, "path") == 0)
		return cfg_max_bytes < 0 ? example_path : jsonl_path;
	return NULL;
}

static int64_t fake_int(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	if (strcmp(key, "batch") == 0)
		return cfg_batch;
	if (strcmp(key, "max_bytes") == 0)
		return cfg_max_bytes;
	if (strcmp(key, "keep") == 0)
		return JSONL_KEEP;
	return 0;
}

static hub_rc fake_checkpoint(struct hub_call *call, const char *cursor)
{
	(void)call;
	if (strlen(cursor) >= sizeof(last_cursor))
		abort();
	strcpy(last_cursor, cursor);
	has_cursor = 1;
	return HUB_OK;
}

/* reject() and should_stop() (never): fuzzcall.h's */
static const struct hub_host fake_host = {
	.config_string = fake_string,
	.config_int = fake_int,
	.checkpoint = fake_checkpoint,
};

/* ---- the scratch directory ---------------------------------------------------------------- */

static void remove_all(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static void fuzz_cleanup(void)
{
	remove_all();
	rmdir(dir);
	free(dir);
	free(example_path);
	free(jsonl_path);
}

static void fuzz_init(void)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
		: getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	if (asprintf(&dir, "%s/fuzz_plugfiles.XXXXXX", base) < 0 || !mkdtemp(dir) ||
	    asprintf(&example_path, "%s/events.jsonl", dir) < 0 ||
	    asprintf(&jsonl_path, "%s/changes.jsonl", dir) < 0)
		abort();
	atexit(fuzz_cleanup);
}

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
		abort();
}

/* The whole file at path (malloc'd, *n its size), or NULL when there is none. */
static char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, got;

	*n = 0;
	if (!f)
		return NULL;
	do {
		char *grown = realloc(p, cap + 4096 + 1);
		if (!grown)
			abort();
		p = grown;
		got = fread(p + *n, 1, 4096, f);
		*n += got;
		cap += 4096;
	} while (got == 4096);
	p[*n] = '\0';
	fclose(f);
	return p;
}

/* ---- the example plugin --------------------------------------------------------------------- */

/* A line is blank when it is only spaces, tabs, CRs (and its newline). */
static int is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n", line[i]) || line[i] == '\0')
			return 0;
	return 1;
}

static long long checkpoint_offset(const char *text, size_t n)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(last_cursor, &end, 10);
	if (errno || *end || end == last_cursor || v < 0 || (size_t)v > n ||
	    (v > 0 && text[v - 1] != '\n'))
		abort(); /* not the offset of a line's end */
	return v;
}

static void check_example(const char *text, size_t n, unsigned flags)
{
	void *state = NULL;
	char err[1024];
	long long at = 0, last_end = 0;
	size_t n_lines = 0, before;
	const char *cursor = NULL;
	char cursor_buf[32];
	hub_rc rc;

	cfg_batch = 1 + (flags & 3);
	cfg_max_bytes = -1; /* fake_string: the example's path */
	write_file(example_path, text, n);
	for (size_t i = 0, start = 0; i < n; i++) {
		if (text[i] != '\n')
			continue;
		n_lines += !is_blank(text + start, i + 1 - start);
		start = i + 1;
		last_end = (long long)i + 1;
	}
	if (example_plugin.create(fuzz_host(&fake_host), NULL, &state, err, sizeof(err)) != HUB_OK)
		abort();

	before = fuzz_n_emitted + fuzz_n_rejected;
	for (int k = 0;; k++) {
		if ((size_t)k > n_lines)
			abort(); /* each HUB_MORE took a line at least (budget >= 1) */
		has_cursor = 0;
		err[0] = '\0';
		rc = example_plugin.pull(state, NULL, cursor, 1 + (flags >> 2 & 7), err,
					 sizeof(err));
		if (rc != HUB_OK && rc != HUB_MORE) {
			fprintf(stderr, "fuzz_plugfiles: pull failed (%d): %s\n", (int)rc, err);
			abort();
		}
		if (has_cursor) {
			long long v = checkpoint_offset(text, n);
			if (v < at || (rc == HUB_MORE && v == at))
				abort();
			at = v;
			snprintf(cursor_buf, sizeof(cursor_buf), "%s", last_cursor);
			cursor = cursor_buf;
		} else if (rc == HUB_MORE) {
			abort(); /* no progress: pulled again forever */
		}
		if (rc == HUB_OK)
			break;
	}
	if (at != last_end || fuzz_n_emitted + fuzz_n_rejected - before != n_lines)
		abort();

	/* the first line as a cursor: a non-negative decimal, or refused */
	{
		size_t len = strcspn(text, "\n");
		char *c = strndup(text, len < 24 ? len : 24), *end;
		long long v;
		int is_decimal;

		if (!c)
			abort();
		errno = 0;
		v = strtoll(c, &end, 10);
		/* judged before the pull, which may set errno on its way */
		is_decimal = errno == 0 && !*end && end != c && v >= 0;
		err[0] = '\0';
		before = fuzz_n_emitted + fuzz_n_rejected;
		rc = example_plugin.pull(state, NULL, c, 1, err, sizeof(err));
		if (!is_decimal && (rc != HUB_ERR_DATA || !err[0]))
			abort();
		/* past the file's end: a file truncated or replaced since, read
		 * from its start, not skipped */
		if (is_decimal && v > (long long)n && n_lines > 0 &&
		    fuzz_n_emitted + fuzz_n_rejected == before)
			abort();
		free(c);
	}
	example_plugin.destroy(state);
}

/* ---- the jsonl export --------------------------------------------------------------------- */

static int is_erasure(const char *change)
{
	json_t *c = json_loads(change, 0, NULL);
	const char *kind = json_string_value(json_object_get(c, "kind"));
	int yes = kind && strcmp(kind, "erased") == 0;

	json_decref(c);
	return yes;
}

/* The line written for a change: itself, or an erasure's kept members. */
static void check_line(const char *line, size_t len, const char *change)
{
	static const char *const kept[] = {"seq", "kind", "at", "profile_id", "identifier_types"};
	json_t *l, *c;
	const char *key;
	json_t *v;

	if (!strstr(change, "\"erased\"") || !is_erasure(change)) {
		if (len != strlen(change) || memcmp(line, change, len) != 0)
			abort();
		return;
	}
	l = json_loadb(line, len, 0, NULL);
	c = json_loads(change, 0, NULL);
	if (!json_is_object(l) || !c)
		abort();
	json_object_foreach(l, key, v) {
		size_t i = 0;
		while (i < sizeof(kept) / sizeof(kept[0]) && strcmp(kept[i], key) != 0)
			i++;
		if (i == sizeof(kept) / sizeof(kept[0]) || !json_equal(v, json_object_get(c, key)))
			abort();
	}
	json_decref(l);
	json_decref(c);
}

static void check_jsonl(const char *found, size_t found_len, char **changes, size_t n,
			unsigned flags)
{
	void *state = NULL;
	char err[1024] = "", path[4096];
	size_t n_done = 0, kept_len = 0, len = 0, at, n_files = 0, all_len = 0;
	char *all = NULL, *text;
	hub_rc rc;

	remove_all();
	cfg_max_bytes = (flags >> 5 & 3) ? 32LL << (flags >> 5 & 3) : 0;
	write_file(jsonl_path, found, found_len);
	for (size_t i = 0; i < found_len; i++)
		if (found[i] == '\n')
			kept_len = i + 1;
	if (jsonl_plugin.create(fuzz_host(&fake_host), NULL, &state, err, sizeof(err)) != HUB_OK)
		abort();
	rc = jsonl_plugin.export_batch(state, NULL, (const char *const *)changes, n, &n_done, err,
				       sizeof(err));
	if (n_done > n || (rc == HUB_OK && n_done != n) || (rc != HUB_OK && !err[0]))
		abort();
	if (rc != HUB_OK && rc != HUB_ERR_DATA) {
		fprintf(stderr, "fuzz_plugfiles: jsonl export failed (%d): %s\n", (int)rc, err);
		abort();
	}
	jsonl_plugin.destroy(state);

	/* path.16 ... path.1, path: the found file's kept part, then the lines */
	for (int k = JSONL_KEEP; k >= 0; k--) {
		if (k)
			snprintf(path, sizeof(path), "%s.%d", jsonl_path, k);
		else
			snprintf(path, sizeof(path), "%s", jsonl_path);
		if (!(text = read_file(path, &len)))
			continue;
		if (len && text[len - 1] != '\n')
			abort();
		if (cfg_max_bytes && (long long)len > cfg_max_bytes && n_files > 0 &&
		    memchr(text, '\n', len) != text + len - 1)
			abort(); /* a file it filled past max_bytes with several lines */
		n_files++;
		if (!(all = realloc(all, all_len + len + 1)))
			abort();
		memcpy(all + all_len, text, len);
		all_len += len;
		free(text);
	}
	if (all_len < kept_len || (kept_len && memcmp(all, found, kept_len) != 0))
		abort();
	at = kept_len;
	for (size_t i = 0; i < n_done; i++) {
		const char *nl = memchr(all + at, '\n', all_len - at);
		if (!nl)
			abort();
		check_line(all + at, (size_t)(nl - (all + at)), changes[i]);
		at = (size_t)(nl - all) + 1;
	}
	if (at != all_len)
		abort(); /* more than it acknowledged */
	free(all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *changes[MAX_CHANGES], *p, *ff;
	size_t n = 0, found_len;

	(void)fuzz_route; /* fuzzcall.h's request helpers: no routes here */
	(void)fuzz_import_line;
	(void)fuzz_begin;
	if (!dir)
		fuzz_init();
	if (size < 1 || size > 65536 || !(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	check_example(text, size - 1, data[0]);

	/* jsonl: the found file, then the changes (C strings: cut at a NUL) */
	ff = memchr(text, '\f', size - 1);
	found_len = ff ? (size_t)(ff - text) : size - 1;
	for (p = ff; p && n < MAX_CHANGES; n++) {
		*p++ = '\0';
		changes[n] = p;
		p = strchr(p, '\f'); /* cut there by the next turn */
		for (char *c = changes[n]; *c && c != p; c++)
			if (*c == '\n')
				*c = ' ';
	}
	if (p)
		*p = '\0'; /* past MAX_CHANGES: dropped */
	check_jsonl(text, found_len, changes, n, data[0]);
	free(text);
	return 0;
}
