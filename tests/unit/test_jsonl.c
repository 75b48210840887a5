/*
 * test_jsonl.c - suite `jsonl`: the JSON Lines export plugin
 * (plugins/jsonl/jsonl.c) loaded with the real loader and driven directly
 * through its own hub_call, without an exporter or a store: rotation by
 * size and the files kept, torn last lines cut at open, another process
 * writing or rotating the same file (flock), erase lines without personal
 * data, file modes, and the configuration errors of a path that cannot be
 * written.
 */
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/config.h"
#include "../../hub/host.h"
#include "../../hub/plugin.h"
#include "../../hub/util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct jl {
	char *dir, *path;
	struct plugin_module mod;
	struct hub_config *cfg;
	struct hub_instance *inst;
	atomic_int stop;
	struct hub_call call;
};

static hub_rc no_emit(struct hub_call *call, const struct hub_record *rec, char *err,
		      size_t err_size)
{
	(void)call;
	(void)rec;
	(void)err;
	(void)err_size;
	return HUB_ERR_INTERNAL;
}

/* The plugin loaded, a temp dir, j->path = dir/rel (not created). */
static void jl_prepare(struct jl *j, const char *rel)
{
	char *so, err[512];

	memset(j, 0, sizeof(*j));
	j->dir = testlib_mkdtemp();
	CU_ASSERT_FATAL(asprintf(&j->path, "%s/%s", j->dir, rel) > 0);
	CU_ASSERT_FATAL(asprintf(&so, "%s/plugins/jsonl.so", testlib_build_dir()) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_load(so, &j->mod, err, sizeof(err)), 0);
	free(so);
}

/* The instance on j->path with `keys`: 0, or -1 when create() refused. */
static int jl_create(struct jl *j, const char *keys, char *err, size_t err_size)
{
	char *yaml;

	CU_ASSERT_FATAL(
		asprintf(&yaml, "exports:\n  - name: file\n    plugin: jsonl\n    path: \"%s\"\n%s",
			 j->path, keys) > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("jl.yaml", yaml, &j->cfg, err, err_size), 0);
	free(yaml);
	j->call.on_emit = no_emit;
	j->call.stop = &j->stop;
	if (plugin_instance_create(&j->mod, &j->cfg->exports[0], &j->inst, err, err_size))
		return -1;
	j->call.inst = j->inst;
	return 0;
}

/* `profilehub check`'s word on j's config (check_config, ABI 1.10): the
 * refusal holding `refusal` (with the value's place), or taken when NULL.
 * Once only create() refused them, so check passed what run refused. */
static void jl_check_config_is(struct jl *j, const char *refusal)
{
	char err[512] = "";
	int rc = plugin_instance_check_config(&j->mod, &j->cfg->exports[0], err, sizeof(err));

	CU_ASSERT_EQUAL(rc, refusal ? -1 : 0);
	if (refusal) {
		CU_ASSERT_PTR_NOT_NULL(strstr(err, refusal));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "jl.yaml:"));
	}
}

static int jl_open(struct jl *j, const char *rel, const char *keys, char *err, size_t err_size)
{
	jl_prepare(j, rel);
	return jl_create(j, keys, err, err_size);
}

/* A second instance on a's path, as another process would have: b shares
 * a's loaded plugin and dir, so only jl_twin_close(b), before jl_close(a). */
static int jl_twin(struct jl *b, const struct jl *a, const char *keys, char *err,
		   size_t err_size)
{
	memset(b, 0, sizeof(*b));
	b->path = a->path;
	b->mod = a->mod;
	return jl_create(b, keys, err, err_size);
}

static void jl_twin_close(struct jl *b)
{
	plugin_instance_destroy(b->inst);
	config_free(b->cfg);
}

static void jl_close(struct jl *j)
{
	jl_twin_close(j);
	plugin_unload(&j->mod);
	testlib_rmtree(j->dir);
	free(j->dir);
	free(j->path);
}

static hub_rc jl_send(struct jl *j, const char *const *changes, size_t n, size_t *n_done)
{
	char err[512] = "";
	return j->mod.desc->export_batch(j->inst->state, &j->call, changes, n, n_done, err,
					 sizeof(err));
}

static char *slurp(const char *path)
{
	size_t len;
	char err[256];
	return file_read_all(path, SIZE_MAX, &len, err, sizeof(err));
}

static void test_jsonl_rotates_by_size_and_keeps_n_files(void)
{
	struct jl j;
	char err[512], changes[12][64], *name;
	const char *texts[12];
	size_t n_done = 0, n_lines = 0;
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "    max_bytes: 100\n    keep: 2\n", err,
				      sizeof(err)), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(changes[i], sizeof(changes[i]),
			 "{\"seq\":%d,\"kind\":\"event\",\"x\":\"%08d\"}",
			 100 + i, i); /* 42 bytes with its newline */
		texts[i] = changes[i];
	}
	CU_ASSERT_EQUAL(jl_send(&j, texts, 12, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 12);
	/* 2 lines per file: 100-101 .. 110-111; kept: out (110,111), .1, .2 */
	for (int k = 0; k <= 3; k++) {
		char *text;
		if (k == 0)
			name = strdup(j.path);
		else
			CU_ASSERT_FATAL(asprintf(&name, "%s.%d", j.path, k) > 0);
		if (k == 3) {
			CU_ASSERT_NOT_EQUAL(stat(name, &st), 0);
			free(name);
			break;
		}
		CU_ASSERT_EQUAL_FATAL(stat(name, &st), 0);
		CU_ASSERT(st.st_size <= 100);
		text = slurp(name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		char want[32];
		snprintf(want, sizeof(want), "{\"seq\":%d,", 110 - 2 * k);
		CU_ASSERT(strncmp(text, want, strlen(want)) == 0);
		for (char *p = text; *p; p++)
			n_lines += *p == '\n';
		free(text);
		free(name);
	}
	CU_ASSERT_EQUAL(n_lines, 6);
	jl_close(&j);
}

/* A rotation that fails (here a directory stands where the rotated file
 * goes) after the lines before it were written and synced: those count as
 * delivered (n_done), so they are not written twice once it succeeds. */
static void test_jsonl_failed_rotation_keeps_the_lines_written(void)
{
	struct jl j;
	char err[512], changes[4][64], *blocker, *inside, *text;
	const char *texts[4];
	size_t n_done = 0, n_lines = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "    max_bytes: 100\n    keep: 1\n", err,
				      sizeof(err)), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(changes[i], sizeof(changes[i]),
			 "{\"seq\":%d,\"kind\":\"event\",\"x\":\"%08d\"}",
			 100 + i, i); /* 42 bytes with its newline: 2 a file */
		texts[i] = changes[i];
	}
	CU_ASSERT_FATAL(asprintf(&blocker, "%s.1", j.path) > 0);
	CU_ASSERT_FATAL(asprintf(&inside, "%s/x", blocker) > 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(blocker, 0755), 0);
	CU_ASSERT_FATAL((f = fopen(inside, "w")) != NULL);
	fclose(f);
	CU_ASSERT_EQUAL(jl_send(&j, texts, 4, &n_done), HUB_RETRY);
	CU_ASSERT_EQUAL(n_done, 2); /* written before the rotation failed */
	CU_ASSERT_EQUAL(unlink(inside), 0);
	CU_ASSERT_EQUAL(rmdir(blocker), 0);
	CU_ASSERT_EQUAL(jl_send(&j, texts + n_done, 4 - n_done, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 2);
	for (int k = 0; k < 2; k++) {
		text = slurp(k ? blocker : j.path);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		for (char *p = text; *p; p++)
			n_lines += *p == '\n';
		free(text);
	}
	CU_ASSERT_EQUAL(n_lines, 4); /* each change once */
	free(inside);
	free(blocker);
	jl_close(&j);
}

static void test_jsonl_erase_line_holds_no_personal_data(void)
{
	struct jl j;
	char err[512], *text;
	const char *changes[] = {
		"{\"seq\":1,\"kind\":\"profile_updated\",\"custom_id\":\"ann\"}",
		"{\"seq\":2,\"kind\":\"erased\",\"at\":\"2025-03-02T10:00:00.000Z\","
		"\"profile_id\":\"p_x\",\"custom_id\":\"ann\",\"profile\":{\"attributes\":"
		"{\"$email_address\":\"ann@example.com\"}},\"identifier_types\":[\"custom_id\"]}",
	};
	size_t n_done = 0;

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&j, changes, 2, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 2);
	text = slurp(j.path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text,
			       "{\"seq\":1,\"kind\":\"profile_updated\",\"custom_id\":\"ann\"}\n"
			       "{\"seq\":2,\"kind\":\"erased\",\"at\":\"2025-03-02T10:00:00.000Z\","
			       "\"profile_id\":\"p_x\",\"identifier_types\":[\"custom_id\"]}\n");
	free(text);
	jl_close(&j);
}

/* One change sent, delivered, and the file then holds `want`. */
static void jl_send_and_expect(struct jl *j, const char *change, const char *want)
{
	const char *one[] = {change};
	size_t n_done = 0;
	char *text;

	CU_ASSERT_EQUAL(jl_send(j, one, 1, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	text = slurp(j->path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, want);
	free(text);
}

/* A file of `kept` then the torn line `torn` (no newline): the instance's
 * first batch cuts the torn line off and appends after `kept`. */
static void jl_check_torn_cut(const char *kept, const char *torn)
{
	struct jl j;
	char err[512] = "", *want;
	FILE *f;

	jl_prepare(&j, "out.jsonl");
	f = fopen(j.path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(kept, f);
	fputs(torn, f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(jl_create(&j, "", err, sizeof(err)), 0);
	CU_ASSERT_FATAL(asprintf(&want, "%s{\"seq\":3}\n", kept) > 0);
	jl_send_and_expect(&j, "{\"seq\":3}", want);
	free(want);
	jl_close(&j);
}

static void test_jsonl_cuts_a_torn_last_line_at_open(void)
{
	/* a crash in the middle of a write */
	jl_check_torn_cut("{\"seq\":1}\n", "{\"seq\":2,\"kin");
}

/* Another process is in the middle of writing a batch (it holds path.lock
 * and the file ends in half a line): an instance created beside it (every
 * hub process at its start, every check --connect) changes nothing, and
 * its batches wait for the lock; they used to cut the "torn" tail, and the
 * writer then acknowledged a batch that was cut. */
static void test_jsonl_an_instance_beside_a_writer_leaves_its_line_alone(void)
{
	struct jl j;
	char err[512] = "", *lock, *text;
	const char *more[] = {"{\"seq\":3}"};
	size_t n_done = 9;
	int lock_fd, fd;

	jl_prepare(&j, "out.jsonl");
	CU_ASSERT_FATAL(asprintf(&lock, "%s.lock", j.path) > 0);
	lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	CU_ASSERT_FATAL(lock_fd >= 0);
	CU_ASSERT_EQUAL_FATAL(flock(lock_fd, LOCK_EX), 0);
	fd = open(j.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "{\"seq\":1}\n{\"seq\":2,\"ki", 22), 22);

	CU_ASSERT_EQUAL_FATAL(jl_create(&j, "", err, sizeof(err)), 0);
	if (j.mod.desc->check_connect)
		CU_ASSERT_EQUAL(j.mod.desc->check_connect(j.inst->state, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(jl_send(&j, more, 1, &n_done), HUB_RETRY);
	CU_ASSERT_EQUAL(n_done, 0);
	text = slurp(j.path);
	CU_ASSERT_STRING_EQUAL(text, "{\"seq\":1}\n{\"seq\":2,\"ki");
	free(text);

	/* the writer finishes its line and lets go */
	CU_ASSERT_EQUAL(write(fd, "nd\":\"event\"}\n", 13), 13);
	close(fd);
	CU_ASSERT_EQUAL(flock(lock_fd, LOCK_UN), 0);
	close(lock_fd);
	CU_ASSERT_EQUAL(jl_send(&j, more, 1, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	text = slurp(j.path);
	CU_ASSERT_STRING_EQUAL(text, "{\"seq\":1}\n{\"seq\":2,\"kind\":\"event\"}\n{\"seq\":3}\n");
	free(text);
	free(lock);
	jl_close(&j);
}

/* b wrote first, then a (the export's lease moved) rotated the file away
 * with keep: 0; when the lease comes back to b, b writes the new file at
 * path, not the deleted one it still had open (those lines were lost). */
static void test_jsonl_a_file_rotated_by_another_process_is_not_written_to(void)
{
	struct jl a, b;
	char err[512] = "", changes[5][64], *text;
	const char *texts[5];
	size_t n_done = 0;

	for (int i = 0; i < 5; i++) {
		snprintf(changes[i], sizeof(changes[i]),
			 "{\"seq\":%d,\"kind\":\"event\",\"x\":\"%08d\"}",
			 100 + i, i); /* 42 bytes with its newline: 2 a file */
		texts[i] = changes[i];
	}
	CU_ASSERT_EQUAL_FATAL(jl_open(&a, "out.jsonl", "    max_bytes: 100\n    keep: 0\n", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(jl_twin(&b, &a, "    max_bytes: 100\n    keep: 0\n", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&b, texts, 1, &n_done), HUB_OK);
	/* a rotates at least once (its first file dropped: keep 0) */
	CU_ASSERT_EQUAL(jl_send(&a, texts + 1, 3, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 3);
	CU_ASSERT_EQUAL(jl_send(&b, texts + 4, 1, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	text = slurp(a.path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "{\"seq\":104,"));
	free(text);
	jl_twin_close(&b);
	jl_close(&a);
}

/* b wrote first, then a appended; b's next write fails half-way (the file
 * size limit here): b cuts the file back to its size as it was before this
 * batch, with a's lines, not to the size b saw last (which cut them off). */
static void test_jsonl_a_failed_write_keeps_what_another_process_wrote(void)
{
	struct jl a, b;
	char err[512] = "", long_line[200], *text;
	const char *first[] = {"{\"seq\":1}"}, *others[] = {"{\"seq\":2}", "{\"seq\":3}"};
	const char *last[] = {long_line};
	size_t n_done = 0;
	struct rlimit was, small;
	struct stat st;
	void (*was_handler)(int);

	snprintf(long_line, sizeof(long_line), "{\"seq\":4,\"x\":\"%0150d\"}", 4);
	CU_ASSERT_EQUAL_FATAL(jl_open(&a, "out.jsonl", "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(jl_twin(&b, &a, "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&b, first, 1, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(jl_send(&a, others, 2, &n_done), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(stat(a.path, &st), 0);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &was), 0);
	small = was;
	small.rlim_cur = (rlim_t)st.st_size + 20; /* a part of the long line fits */
	was_handler = signal(SIGXFSZ, SIG_IGN);
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
	CU_ASSERT_EQUAL(jl_send(&b, last, 1, &n_done), HUB_RETRY);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, was_handler);
	CU_ASSERT_EQUAL(n_done, 0);
	text = slurp(a.path);
	CU_ASSERT_STRING_EQUAL(text, "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n");
	free(text);
	CU_ASSERT_EQUAL(jl_send(&b, last, 1, &n_done), HUB_OK);
	text = slurp(a.path);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "{\"seq\":3}\n{\"seq\":4,"));
	free(text);
	jl_twin_close(&b);
	jl_close(&a);
}

static void test_jsonl_unwritable_path_is_a_config_error(void)
{
	struct jl j;
	char err[512] = "";

	CU_ASSERT_EQUAL(jl_open(&j, "no/such/dir/out.jsonl", "", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file or directory"));
	jl_close(&j);
}

/* `path: ""` passed the create check (its directory, ".", is writable) and
 * then failed every batch with ": No such file or directory", retried for
 * ever.  Refused at create, and by `profilehub check` (check_config),
 * naming the key. */
static void test_jsonl_empty_path_is_a_config_error(void)
{
	struct jl j;
	char err[512] = "";

	jl_prepare(&j, "unused");
	j.path[0] = '\0';
	CU_ASSERT_EQUAL(jl_create(&j, "", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "path: must not be empty"));
	jl_check_config_is(&j, "path: must not be empty");
	jl_close(&j);
}

/* A path that is a symbolic link to nothing passed the create check and
 * then failed every batch (O_EXCL saw the link, a plain open its missing
 * target): refused at create, named. */
static void test_jsonl_dangling_symlink_path_is_a_config_error(void)
{
	struct jl j;
	char err[512] = "";

	jl_prepare(&j, "out.jsonl");
	CU_ASSERT_EQUAL_FATAL(symlink("gone/out.jsonl", j.path), 0);
	CU_ASSERT_EQUAL(jl_create(&j, "", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a symbolic link to a file that does not exist"));
	jl_close(&j);
}

/* The torn line is cut whatever its length and where it falls: one byte,
 * the whole file, past the first 4096-byte block read back from the end,
 * or longer than that block itself. */
static void test_jsonl_cuts_a_torn_line_of_any_length(void)
{
	enum { BIG = 5000 };
	char *lines = malloc(BIG + 64), *long_torn = malloc(BIG + 1);
	size_t o = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
	CU_ASSERT_PTR_NOT_NULL_FATAL(long_torn);
	for (int i = 0; o < BIG; i++)
		o += (size_t)sprintf(lines + o, "{\"seq\":%d,\"x\":\"%030d\"}\n", i, i);
	memset(long_torn, 'x', BIG);
	memcpy(long_torn, "{\"seq\":2,\"x\":\"", 14);
	long_torn[BIG] = '\0';
	jl_check_torn_cut("{\"seq\":1}\n", "{");
	jl_check_torn_cut("", "{\"seq\":2,\"ki");
	jl_check_torn_cut(lines, "{\"seq\":2");
	jl_check_torn_cut("{\"seq\":1}\n", long_torn);
	free(lines);
	free(long_torn);
}

/* A torn line that appears under the open file between two batches
 * (another process, which took the lease, crashed in the middle of its
 * write) is cut before the next batch writes. */
static void test_jsonl_cuts_a_torn_line_written_under_its_open_file(void)
{
	struct jl j;
	char err[512] = "";
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "", err, sizeof(err)), 0);
	jl_send_and_expect(&j, "{\"seq\":1}", "{\"seq\":1}\n");
	f = fopen(j.path, "a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("{\"seq\":2,\"ki", f);
	fclose(f);
	jl_send_and_expect(&j, "{\"seq\":3}", "{\"seq\":1}\n{\"seq\":3}\n");
	jl_close(&j);
}

/* The file and path.lock are made rw-r----- (no one else reads the
 * changes' personal data), whatever a looser umask would allow. */
static void test_jsonl_files_are_made_readable_by_owner_and_group_only(void)
{
	struct jl j;
	char err[512] = "", *lock;
	const char *one[] = {"{\"seq\":1}"};
	size_t n_done = 0;
	struct stat st;
	mode_t was = umask(002);

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&j, one, 1, &n_done), HUB_OK);
	umask(was);
	CU_ASSERT_EQUAL_FATAL(stat(j.path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	CU_ASSERT_FATAL(asprintf(&lock, "%s.lock", j.path) > 0);
	CU_ASSERT_EQUAL_FATAL(stat(lock, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	free(lock);
	jl_close(&j);
}

static void test_jsonl_a_directory_path_is_a_config_error(void)
{
	struct jl j;
	char err[512] = "";

	jl_prepare(&j, "out.jsonl");
	CU_ASSERT_EQUAL_FATAL(mkdir(j.path, 0755), 0);
	CU_ASSERT_EQUAL(jl_create(&j, "", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "out.jsonl: Is a directory"));
	jl_close(&j);
}

/* The file at path, or path.lock, became unopenable after create (here a
 * directory stands there): a batch is a retry naming it, and goes once it
 * can be opened; check --connect refuses a path it could not write. */
static void test_jsonl_an_unopenable_file_or_lock_is_a_retry(void)
{
	static const struct {
		const char *suffix, *says;
		hub_rc check_rc;
	} cases[] = {
		{"", "out.jsonl: Is a directory", HUB_ERR_CONFIG},
		{".lock", "out.jsonl.lock: Is a directory", HUB_OK},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jl j;
		char err[512] = "", *blocker;
		const char *one[] = {"{\"seq\":1}"};
		size_t n_done = 9;

		CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "", err, sizeof(err)), 0);
		CU_ASSERT_FATAL(asprintf(&blocker, "%s%s", j.path, cases[i].suffix) > 0);
		CU_ASSERT_EQUAL_FATAL(mkdir(blocker, 0755), 0);
		CU_ASSERT_EQUAL(j.mod.desc->check_connect(j.inst->state, err, sizeof(err)),
				cases[i].check_rc);
		CU_ASSERT_EQUAL(j.mod.desc->export_batch(j.inst->state, &j.call, one, 1, &n_done,
							 err, sizeof(err)), HUB_RETRY);
		CU_ASSERT_EQUAL(n_done, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].says));
		CU_ASSERT_EQUAL(rmdir(blocker), 0);
		CU_ASSERT_EQUAL(jl_send(&j, one, 1, &n_done), HUB_OK);
		CU_ASSERT_EQUAL(n_done, 1);
		free(blocker);
		jl_close(&j);
	}
}

/* The number of lines of file `name` (0 when it is missing), and whether
 * it exists in *exists. */
static int jl_lines(const char *name, int *exists)
{
	char *text = slurp(name);
	int n = 0;

	*exists = text != NULL;
	for (const char *p = text ? text : ""; *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* path.<k> (k 0: path itself): its lines, -1 when it is missing. */
static int jl_lines_of(const struct jl *j, int k)
{
	char *name;
	int exists, n;

	if (k == 0)
		return (n = jl_lines(j->path, &exists)), exists ? n : -1;
	CU_ASSERT_FATAL(asprintf(&name, "%s.%d", j->path, k) > 0);
	n = jl_lines(name, &exists);
	free(name);
	return exists ? n : -1;
}

/* n changes of 42 bytes each with their newline, seq 100 on. */
static void jl_changes42(char (*changes)[64], const char **texts, int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(changes[i], sizeof(changes[i]),
			 "{\"seq\":%d,\"kind\":\"event\",\"x\":\"%08d\"}", 100 + i, i);
		texts[i] = changes[i];
	}
}

/* Rotation comes when the next line would take the file past max_bytes,
 * not when it fills it exactly; max_bytes 0 never rotates, keep 0 keeps
 * no rotated file, and a line longer than max_bytes goes alone into its
 * file without rotating an empty one first. */
static void test_jsonl_rotation_bounds_and_the_files_kept(void)
{
	static const struct {
		const char *keys;
		int n_sent, lines_path, lines_1, lines_2;
	} cases[] = {
		{"    max_bytes: 84\n", 3, 1, 2, -1},  /* 2 lines fill it exactly */
		{"    max_bytes: 83\n", 3, 1, 1, 1},   /* 2 lines pass it by one */
		{"    max_bytes: 0\n", 3, 3, -1, -1},  /* never */
		{"    max_bytes: 100\n    keep: 0\n", 3, 1, -1, -1},
		{"    max_bytes: 10\n", 1, 1, -1, -1}, /* past it alone: no empty .1 */
		{"    max_bytes: 10\n", 2, 1, 1, -1},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jl j;
		char err[512] = "", changes[3][64];
		const char *texts[3];
		size_t n_done = 0;

		jl_changes42(changes, texts, 3);
		CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", cases[i].keys, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(jl_send(&j, texts, (size_t)cases[i].n_sent, &n_done), HUB_OK);
		CU_ASSERT_EQUAL(n_done, (size_t)cases[i].n_sent);
		int got[3] = {jl_lines_of(&j, 0), jl_lines_of(&j, 1), jl_lines_of(&j, 2)};
		CU_ASSERT_EQUAL(got[0], cases[i].lines_path);
		CU_ASSERT_EQUAL(got[1], cases[i].lines_1);
		CU_ASSERT_EQUAL(got[2], cases[i].lines_2);
		if (got[0] != cases[i].lines_path || got[1] != cases[i].lines_1 ||
		    got[2] != cases[i].lines_2)
			fprintf(stderr, "\n  case %zu: %d %d %d\n", i, got[0], got[1], got[2]);
		jl_close(&j);
	}
}

/* Left out, keep is 5: path.1 to path.5 are kept, no path.6. */
static void test_jsonl_keeps_5_rotated_files_by_default(void)
{
	struct jl j;
	char err[512] = "", changes[8][64], *name, *text;
	const char *texts[8];
	size_t n_done = 0;

	jl_changes42(changes, texts, 8);
	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "    max_bytes: 42\n", err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL(jl_send(&j, texts, 8, &n_done), HUB_OK); /* a file each */
	CU_ASSERT_EQUAL(jl_lines_of(&j, 5), 1);
	CU_ASSERT_EQUAL(jl_lines_of(&j, 6), -1);
	CU_ASSERT_FATAL(asprintf(&name, "%s.5", j.path) > 0);
	text = slurp(name);
	CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "{\"seq\":102,") : NULL);
	free(text);
	free(name);
	jl_close(&j);
}

/* path made a file of `size` bytes of zeros ending in a newline (sparse). */
static void jl_fill(const struct jl *j, off_t size)
{
	int fd = open(j->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, size - 1), 0);
	CU_ASSERT_EQUAL_FATAL(pwrite(fd, "\n", 1, size - 1), 1);
	close(fd);
}

/* Left out, max_bytes is 100 MiB: a line that fills the file to exactly
 * 104857600 bytes goes into it, one that passes that by a byte into a new
 * file.  (The files are sparse.) */
static void test_jsonl_rotates_past_100_mib_by_default(void)
{
	const off_t max = 104857600;
	struct jl j;
	char err[512] = "";
	const char *nine[] = {"{\"seq\":1}"}, *ten[] = {"{\"seq\":22}"};
	size_t n_done = 0;
	struct stat st;

	jl_prepare(&j, "out.jsonl");
	jl_fill(&j, max - 10);
	CU_ASSERT_EQUAL_FATAL(jl_create(&j, "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&j, nine, 1, &n_done), HUB_OK); /* 10 bytes: to max */
	CU_ASSERT_EQUAL_FATAL(stat(j.path, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, max);
	CU_ASSERT_EQUAL(jl_lines_of(&j, 1), -1);
	jl_fill(&j, max - 10); /* as another process could have left it */
	CU_ASSERT_EQUAL(jl_send(&j, ten, 1, &n_done), HUB_OK); /* 11 bytes: past it */
	CU_ASSERT_EQUAL_FATAL(stat(j.path, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 11);
	jl_close(&j);
}

/* max_bytes >= 0 and keep 0 to 1000, else create and check refuse, naming the key. */
static void test_jsonl_max_bytes_and_keep_are_bounded(void)
{
	static const struct {
		const char *keys;
		const char *refusal; /* NULL: taken */
	} cases[] = {
		{"    max_bytes: -1\n", "max_bytes: must be 0 (never rotate) or more"},
		{"    max_bytes: 0\n", NULL},
		{"    keep: -1\n", "keep: must be 0 to 1000"},
		{"    keep: 1000\n", NULL},
		{"    keep: 1001\n", "keep: must be 0 to 1000"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jl j;
		char err[512] = "";

		CU_ASSERT_EQUAL(jl_open(&j, "out.jsonl", cases[i].keys, err, sizeof(err)),
				cases[i].refusal ? -1 : 0);
		if (cases[i].refusal)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].refusal));
		jl_check_config_is(&j, cases[i].refusal);
		jl_close(&j);
	}
}

/* Only a change of kind erased is cut down to its non-personal members:
 * one that merely holds the word is written whole. */
static void test_jsonl_only_an_erased_kind_is_cut_down(void)
{
	struct jl j;
	char err[512] = "", *text;
	const char *one[] = {"{\"seq\":1,\"kind\":\"profile_updated\",\"custom_id\":\"ann\","
			     "\"profile\":{\"attributes\":{\"state\":\"erased\"}}}"};
	size_t n_done = 0;

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&j, one, 1, &n_done), HUB_OK);
	text = slurp(j.path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT(strncmp(text, one[0], strlen(one[0])) == 0 &&
		  strcmp(text + strlen(one[0]), "\n") == 0);
	free(text);
	jl_close(&j);
}

/* A change the plugin must read (it names erased) that is not JSON is bad
 * data, named by its index; the changes before it are written and
 * counted, nothing of it. */
static void test_jsonl_a_change_not_json_is_bad_data_after_those_before_it(void)
{
	struct jl j;
	char err[512] = "", *text;
	const char *changes[] = {"{\"seq\":1}", "{\"seq\":2,\"kind\":\"erased\"", "{\"seq\":3}"};
	size_t n_done = 9;

	CU_ASSERT_EQUAL_FATAL(jl_open(&j, "out.jsonl", "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(j.mod.desc->export_batch(j.inst->state, &j.call, changes, 3, &n_done, err,
						 sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_STRING_EQUAL(err, "change 1 is not JSON");
	text = slurp(j.path);
	CU_ASSERT_STRING_EQUAL(text, "{\"seq\":1}\n");
	free(text);
	jl_close(&j);
}

/* b wrote, then a (the lease moved) rotated the file with keep 1; b's next
 * line goes after a's in the new file, and the rotated file stays whole:
 * b took the file it still had open for the one at path, found it full and
 * rotated it again, dropping it and a's new file with it. */
static void test_jsonl_a_file_rotated_by_another_process_is_appended_to(void)
{
	struct jl a, b;
	char err[512] = "", changes[4][64], *name, *text;
	const char *texts[4];
	size_t n_done = 0;

	jl_changes42(changes, texts, 4);
	CU_ASSERT_EQUAL_FATAL(jl_open(&a, "out.jsonl", "    max_bytes: 100\n    keep: 1\n", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(jl_twin(&b, &a, "    max_bytes: 100\n    keep: 1\n", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(jl_send(&b, texts, 1, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(jl_send(&a, texts + 1, 2, &n_done), HUB_OK); /* rotates before 102 */
	CU_ASSERT_EQUAL(jl_send(&b, texts + 3, 1, &n_done), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	text = slurp(a.path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT(strncmp(text, changes[2], strlen(changes[2])) == 0 &&
		  strstr(text, changes[3]) != NULL && jl_lines_of(&a, 0) == 2);
	free(text);
	CU_ASSERT_FATAL(asprintf(&name, "%s.1", a.path) > 0);
	text = slurp(name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT(strncmp(text, changes[0], strlen(changes[0])) == 0 &&
		  strstr(text, changes[1]) != NULL && jl_lines_of(&a, 1) == 2);
	free(text);
	free(name);
	jl_twin_close(&b);
	jl_close(&a);
}

TEST_SUITE(jsonl, NULL, NULL,
	   TEST(test_jsonl_rotates_by_size_and_keeps_n_files),
	   TEST(test_jsonl_failed_rotation_keeps_the_lines_written),
	   TEST(test_jsonl_erase_line_holds_no_personal_data),
	   TEST(test_jsonl_cuts_a_torn_last_line_at_open),
	   TEST(test_jsonl_an_instance_beside_a_writer_leaves_its_line_alone),
	   TEST(test_jsonl_a_file_rotated_by_another_process_is_not_written_to),
	   TEST(test_jsonl_a_failed_write_keeps_what_another_process_wrote),
	   TEST(test_jsonl_unwritable_path_is_a_config_error),
	   TEST(test_jsonl_empty_path_is_a_config_error),
	   TEST(test_jsonl_dangling_symlink_path_is_a_config_error),
	   TEST(test_jsonl_cuts_a_torn_line_of_any_length),
	   TEST(test_jsonl_cuts_a_torn_line_written_under_its_open_file),
	   TEST(test_jsonl_files_are_made_readable_by_owner_and_group_only),
	   TEST(test_jsonl_a_directory_path_is_a_config_error),
	   TEST(test_jsonl_an_unopenable_file_or_lock_is_a_retry),
	   TEST(test_jsonl_rotation_bounds_and_the_files_kept),
	   TEST(test_jsonl_keeps_5_rotated_files_by_default),
	   TEST(test_jsonl_rotates_past_100_mib_by_default),
	   TEST(test_jsonl_max_bytes_and_keep_are_bounded),
	   TEST(test_jsonl_only_an_erased_kind_is_cut_down),
	   TEST(test_jsonl_a_change_not_json_is_bad_data_after_those_before_it),
	   TEST(test_jsonl_a_file_rotated_by_another_process_is_appended_to))
