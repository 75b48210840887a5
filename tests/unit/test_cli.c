/*
 * test_cli.c - suite `cli`: subcommands of hub/cli_*.c run in process as
 * main.c runs them (a struct cli holding the loaded config), for what the
 * integration tests cannot reach: the allocator failing on the Nth call
 * (hub/alloc.h) under `profilehub import --format <plugin>`, a terminal as
 * stderr (the progress line), and the summary's exact lines.
 */
#include "testhub.h"
#include "testlib.h"
#include "teststore.h"

#include "../../hub/alloc.h"
#include "../../hub/cli.h"
#include "../../hub/export_int.h"
#include "../../hub/log.h"
#include "../../hub/plugin.h"
#include "../../hub/privacy.h"
#include "../../hub/sync.h"
#include "../../hub/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 1 when a live profile of `dump` has custom_id `id`. */
static int dump_has_custom_id(const json_t *dump, const char *id)
{
	size_t i;
	json_t *doc;

	json_array_foreach(dump, i, doc) {
		const char *cid = json_string_value(json_object_get(doc, "custom_id"));
		if (cid && strcmp(cid, id) == 0)
			return 1;
	}
	return 0;
}

/* cmd_import(argv) with the allocation number n alone failing; stdout (the
 * summary) goes nowhere, stderr into *said (malloc'd).  *n_allocs: the
 * allocations it attempted. */
static int import_failing_at(struct cli *cli, char **argv, long n, long *n_allocs, char **said)
{
	struct testlib_capture c;
	int null_fd = open("/dev/null", O_WRONLY), saved = dup(1), rc;

	CU_ASSERT_FATAL(null_fd >= 0 && saved >= 0);
	fflush(stdout);
	dup2(null_fd, 1);
	testlib_capture_begin(&c);
	alloc_fail_only(n);
	rc = cmd_import(cli, 6, argv);
	*n_allocs = alloc_count();
	alloc_fail_only(0);
	*said = testlib_capture_end(&c);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(null_fd);
	return rc;
}

/* A plugin's import_line that goes on past an emit() that could not take
 * its record (out of memory) and answers HUB_OK: the line is not counted
 * as imported without it.  With each allocation in turn failing, an import
 * that exits 0 stored every line's profile, and the runs whose failure met
 * emit() exit 1 naming the plugin.  Each run imports lines of its own
 * (custom_id cN-a, cN-b), so a run cannot pass on what an earlier stored. */
static void test_an_import_line_going_on_past_a_failed_emit_fails_the_line(void)
{
	static const char *const links[] = {"reject_lines.so", "tests/plugins/reject_lines.so",
					    NULL};
	char *plugins = testlib_plugin_dir(links), *yaml;
	struct testhub *th;
	int n_emit_failed = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(plugins);
	CU_ASSERT_FATAL(asprintf(&yaml, "plugin_dir: %s\nsources:\n  - name: rl\n"
					"    plugin: reject_lines\n", plugins) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (long n = 1; n < 100000; n++) {
		struct cli cli = {.config_path = "(test)", .cfg = th->cfg};
		char lines[96], name[32], a[32], b[32], *said, *file;
		char *argv[] = {"import", NULL, "--source", "rl", "--format", "reject_lines", NULL};
		long n_allocs;
		int rc;

		snprintf(a, sizeof(a), "c%ld-a", n);
		snprintf(b, sizeof(b), "c%ld-b", n);
		snprintf(lines, sizeof(lines), "deaf:%s\ndeaf:%s\n", a, b);
		snprintf(name, sizeof(name), "lines%ld.txt", n);
		file = testlib_write_file(th->dir, name, lines);
		CU_ASSERT_PTR_NOT_NULL_FATAL(file);
		argv[1] = file;
		rc = import_failing_at(&cli, argv, n, &n_allocs, &said);
		if (strstr(said,
			   "the reject_lines plugin went on after emit() failed (out of memory)")) {
			n_emit_failed++;
			CU_ASSERT_EQUAL(rc, CLI_FAIL);
			CU_ASSERT_PTR_NOT_NULL(strstr(said, "line 1: ") ? said
									: strstr(said, "line 2: "));
			CU_ASSERT_PTR_NOT_NULL(strstr(said, "are not stored"));
		}
		if (rc == CLI_OK) {
			json_t *dump = testhub_dump(th, 0);
			if (!dump_has_custom_id(dump, a) || !dump_has_custom_id(dump, b))
				fprintf(stderr,
					"\nallocation %ld failed, exit 0, a line missing: %s\n", n,
					said);
			CU_ASSERT(dump_has_custom_id(dump, a));
			CU_ASSERT(dump_has_custom_id(dump, b));
			json_decref(dump);
		}
		free(said);
		free(file);
		if (rc == CLI_OK && n_allocs < n)
			break; /* the nth allocation was never made: every one was tried */
	}
	CU_ASSERT(n_emit_failed >= 1);
	testhub_stop(th);
	testlib_rmtree(plugins);
	free(plugins);
}

/* A canonical line: a track of installation I1, message `id`, with a
 * $phone_number attribute `phone` (NULL: none) that validation drops
 * when it is not one. */
static char *import_line_text(const char *id, const char *phone)
{
	char *line;

	CU_ASSERT_FATAL(asprintf(&line,
				 "{\"type\":\"identify\",\"message_id\":\"%s\",\"timestamp\":"
				 "\"2026-01-01T00:00:00Z\",\"identifiers\":{\"installation_id\":"
				 "\"I1\"},\"attributes\":{\"$phone_number\":\"%s\"}}\n",
				 id, phone ? phone : "+15550100") > 0);
	return line;
}

/* `n` canonical lines of messages `prefix`-1 .. -n, the first `n_bad` of
 * them with a phone number validation drops (a warning each). */
static char *import_lines_text(const char *prefix, int n, int n_bad)
{
	char *text = NULL, *line, id[64];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 1; i <= n; i++) {
		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		line = import_line_text(id, i <= n_bad ? "bad" : NULL);
		CU_ASSERT_FATAL(fputs(line, f) >= 0);
		free(line);
	}
	CU_ASSERT_FATAL(fclose(f) == 0);
	return text;
}

/* What fd holds from its start (malloc'd text). */
static char *fd_text(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *text;

	CU_ASSERT_FATAL(size >= 0);
	text = malloc((size_t)size + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_FATAL(pread(fd, text, (size_t)size, 0) == size);
	text[size] = '\0';
	return text;
}

/* What a pseudo-terminal's master reads once its slave is closed (malloc'd). */
static char *pty_text(int master)
{
	char *text = calloc(1, 65536);
	size_t len = 0;
	ssize_t got;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_FATAL(fcntl(master, F_SETFL, O_NONBLOCK) == 0);
	while (len < 65535 && (got = read(master, text + len, 65535 - len)) > 0)
		len += (size_t)got;
	return text;
}

enum { RUN_STDIN = 1, RUN_TTY = 2, RUN_FULL = 4, RUN_NO_STDIN = 8 };
typedef int cli_cmd(struct cli *cli, int argc, char **argv);

/* cmd(argv) run in process on th's config, as main.c runs it: its exit
 * status, its stdout into *out and its stderr into *said (malloc'd).
 * RUN_STDIN: `in` on stdin (else /dev/null); RUN_TTY: stderr is a
 * pseudo-terminal (which writes "\n" as "\r\n"); RUN_FULL: stdout is
 * /dev/full (a full disk; *out is ""); RUN_NO_STDIN: stdin is closed. */
static int run_cmd(struct testhub *th, cli_cmd *cmd, char **argv, int how, const char *in,
		   char **out, char **said)
{
	struct cli cli = {.config_path = "(test)", .cfg = th->cfg};
	char path[600];
	int argc = 0, saved[3] = {dup(0), dup(1), dup(2)}, fd[3] = {-1, -1, -1}, master = -1, rc;
	void (*on_pipe)(int) = signal(SIGPIPE, SIG_DFL);
	sigset_t mask;

	CU_ASSERT_FATAL(pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0);
	while (argv[argc])
		argc++;
	snprintf(path, sizeof(path), "%s/out", th->dir);
	fd[1] = how & RUN_FULL ? open("/dev/full", O_WRONLY)
			       : open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	snprintf(path, sizeof(path), "%s/err", th->dir);
	if (how & RUN_TTY) {
		master = posix_openpt(O_RDWR | O_NOCTTY);
		CU_ASSERT_FATAL(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
		fd[2] = open(ptsname(master), O_RDWR | O_NOCTTY);
	} else {
		fd[2] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	}
	fd[0] = open(how & RUN_STDIN ? in : "/dev/null", O_RDONLY);
	CU_ASSERT_FATAL(saved[0] >= 0 && saved[1] >= 0 && saved[2] >= 0 && fd[0] >= 0 &&
			fd[1] >= 0 && fd[2] >= 0);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 3; i++)
		dup2(fd[i], i);
	if (how & RUN_NO_STDIN)
		close(0);
	clearerr(stdin);
	rc = cmd(&cli, argc, argv);
	signal(SIGPIPE, on_pipe); /* sync blocks signals and ignores SIGPIPE */
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
	}
	clearerr(stdin);
	clearerr(stdout); /* a write to /dev/full failed */
	*out = how & RUN_FULL ? strdup("") : fd_text(fd[1]);
	close(fd[1]);
	close(fd[0]);
	close(fd[2]); /* the last of the slave: the master reads what it holds */
	*said = master >= 0 ? pty_text(master) : NULL;
	if (master >= 0)
		close(master);
	else {
		int err_fd = open(path, O_RDONLY);
		CU_ASSERT_FATAL(err_fd >= 0);
		*said = fd_text(err_fd);
		close(err_fd);
	}
	return rc;
}

/* `profilehub import FILE --source s ARGS...` of `text` (a file of th's dir)
 * run by run_cmd().  text NULL: th's in.jsonl as the caller wrote it (bytes
 * a C string cannot hold).  RUN_STDIN: FILE is "-", text on stdin;
 * RUN_TTY: stderr is a pseudo-terminal. */
static int import_run(struct testhub *th, const char *text, int how, char **args, char **out,
		      char **said)
{
	char *file = NULL, *argv[16] = {"import"};
	int argc = 1, rc;

	if (text)
		file = testlib_write_file(th->dir, "in.jsonl", text);
	else if (asprintf(&file, "%s/in.jsonl", th->dir) < 0)
		file = NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(file);
	argv[argc++] = how & RUN_STDIN ? "-" : file;
	argv[argc++] = "--source";
	argv[argc++] = "s";
	for (; args && *args && argc < 15; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	rc = run_cmd(th, cmd_import, argv, how, file, out, said);
	free(file);
	return rc;
}

static void test_on_signal(int sig)
{
	(void)sig;
}

/* import catches SIGINT and SIGTERM while it reads, and puts back the
 * actions it replaced once it is over: a process going on after it (the
 * unit tests) was left with import's one-shot handler. */
static void test_import_puts_back_the_signal_actions_it_replaced(void)
{
	struct testhub *th = testhub_start(NULL);
	struct sigaction mine, old[2], now;
	char *line = import_line_text("p-1", NULL), *out = NULL, *said = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	memset(&mine, 0, sizeof(mine));
	mine.sa_handler = test_on_signal;
	sigemptyset(&mine.sa_mask);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGTERM, &mine, &old[0]), 0);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGINT, &mine, &old[1]), 0);
	CU_ASSERT_EQUAL(import_run(th, line, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT_EQUAL(sigaction(SIGTERM, NULL, &now), 0);
	CU_ASSERT(now.sa_handler == test_on_signal);
	CU_ASSERT_EQUAL(sigaction(SIGINT, NULL, &now), 0);
	CU_ASSERT(now.sa_handler == test_on_signal);
	sigaction(SIGTERM, &old[0], NULL);
	sigaction(SIGINT, &old[1], NULL);
	free(line);
	free(out);
	free(said);
	testhub_stop(th);
}

/* Whether each progress line in `said` ("\r<n> records, <rate> records/s,
 * <s>s elapsed") shows a rate only from 0.5 s elapsed on, "-" before; how
 * many lines there are in *n_lines. */
static int progress_rate_waits_half_a_second(const char *said, int *n_lines)
{
	const char *p = said;
	char rate[32];
	double secs;

	*n_lines = 0;
	while ((p = strchr(p, '\r'))) {
		if (sscanf(p + 1, "%*d records, %31s records/s, %lfs elapsed", rate, &secs) == 2) {
			int is_dash = strcmp(rate, "-") == 0;
			++*n_lines;
			/* "0.5s" is either side of 0.5 s, rounded */
			if (secs != 0.5 && is_dash != (secs < 0.5))
				return 0;
		}
		p++;
	}
	return 1;
}

/* On a terminal, a progress line of the records read (blank lines aside,
 * rejected and over-long ones counted) after a batch goes out, then the
 * final one ending the line; not on a file.  The rate is "-" until 0.5 s
 * have gone: the first line, a few milliseconds in, showed "111556
 * records/s, 0.0s elapsed". */
static void test_import_progress_line_on_a_tty_counts_the_lines_read(void)
{
	struct testhub *th = testhub_start(NULL);
	char *good1 = import_line_text("p-1", NULL), *good2 = import_line_text("p-2", NULL);
	char *long_line = malloc((1u << 20) + 2), *text, *out, *said;
	char *args[] = {"--commit-every", "1", NULL};
	int n_lines;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_PTR_NOT_NULL_FATAL(long_line);
	memset(long_line, 'x', (1u << 20) + 1);
	long_line[(1u << 20) + 1] = '\0';
	CU_ASSERT_FATAL(asprintf(&text, "%s \t\nnot json\n%s\n%s", good1, long_line, good2) > 0);
	CU_ASSERT_EQUAL(import_run(th, text, RUN_TTY, args, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 4, applied 2, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "\r1 records, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "\r4 records, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "s elapsed\033[K\r\n"));
	CU_ASSERT(progress_rate_waits_half_a_second(said, &n_lines));
	CU_ASSERT(n_lines >= 2);
	free(out);
	free(said);
	CU_ASSERT_EQUAL(import_run(th, text, 0, args, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NULL(strstr(said, "records/s"));
	free(out);
	free(said);
	free(text);
	free(long_line);
	free(good1);
	free(good2);
	testhub_stop(th);
}

/* A line logged while the progress line is on a terminal erases it first
 * ("\r\033[K"), the next progress drawing it again: it was written after
 * the progress text, on its line ("... 0.0s elapsed\033[K2026-... info
 * [unify] alias ..."), as was a read error.  Once the progress line has
 * ended, nothing is erased.  --commit-every 1: each line its own batch, the
 * progress drawn after each is sent, before the alias's is applied. */
static void test_import_log_lines_on_a_tty_erase_the_progress_line(void)
{
	static const char text[] =
		"{\"type\":\"identify\",\"message_id\":\"la\",\"timestamp\":"
		"\"2026-01-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"A\"}}\n"
		"{\"type\":\"identify\",\"message_id\":\"lb\",\"timestamp\":"
		"\"2026-01-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"B\"}}\n"
		"{\"type\":\"alias\",\"message_id\":\"lc\",\"timestamp\":"
		"\"2026-01-01T00:00:01Z\",\"previous_id\":\"A\",\"identifiers\":"
		"{\"custom_id\":\"B\"}}\n";
	enum hub_log_level saved = log_get_level();
	struct testhub *th = testhub_start(NULL);
	char *args[] = {"--commit-every", "1", NULL}, *out, *said;
	const char *logged, *summary;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	log_set_level(HUB_LOG_INFO); /* the refused alias's line */
	CU_ASSERT_EQUAL(import_run(th, text, RUN_TTY, args, &out, &said), CLI_OK);
	log_set_level(saved);
	logged = strstr(said, " info [unify] alias lc (s): refused");
	CU_ASSERT_PTR_NOT_NULL_FATAL(logged);
	/* its time (24 characters) comes after the erase, at the line's start */
	CU_ASSERT_FATAL(logged - said >= 28);
	CU_ASSERT_NSTRING_EQUAL(logged - 28, "\r\033[K", 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "\r3 records, "));
	/* the final progress line ends the line: a line logged after it, or an
	 * error, erases nothing */
	summary = strstr(said, "s elapsed\033[K\r\n");
	CU_ASSERT_PTR_NOT_NULL(summary);
	CU_ASSERT_STRING_EQUAL(log_progress_erase(), "");
	free(out);
	free(said);
	testhub_stop(th);
}

/* The first ten rejected lines are named, the rest counted. */
static void test_import_names_ten_rejected_lines_and_counts_the_rest(void)
{
	struct testhub *th = testhub_start(NULL);
	char *out, *said;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL(import_run(th, "x\nx\nx\nx\nx\nx\nx\nx\nx\nx\n", 0, NULL, &out, &said),
			CLI_FAIL);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: import: line "), 10);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "more rejected"), 0);
	free(out);
	free(said);
	CU_ASSERT_EQUAL(import_run(th, "x\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\n", 0, NULL, &out,
				   &said), CLI_FAIL);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: import: line "), 10);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "profilehub: import: line 10: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "profilehub: import: ... and 1 more rejected\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 11, applied 0, "));
	free(out);
	free(said);
	testhub_stop(th);
}

/* The first ten warnings are shown, the rest counted; no warnings line
 * when there are none. */
static void test_import_shows_ten_warnings_and_counts_the_rest(void)
{
	static const struct {
		int n_bad;
		const char *count, *more;
	} runs[] = {{0, NULL, NULL}, {10, "warnings 10 (", NULL},
		    {11, "warnings 11 (", "profilehub: import: ... and 1 more warnings\n"}};
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char prefix[16], *text, *out, *said;

		snprintf(prefix, sizeof(prefix), "w%zu", i);
		text = import_lines_text(prefix, 12, runs[i].n_bad);
		CU_ASSERT_EQUAL(import_run(th, text, 0, NULL, &out, &said), CLI_OK);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 12, applied 12, "));
		CU_ASSERT_EQUAL(strstr(out, "warnings") != NULL, runs[i].count != NULL);
		if (runs[i].count)
			CU_ASSERT_PTR_NOT_NULL(strstr(out, runs[i].count));
		CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: import: warning: line "),
				runs[i].n_bad < 10 ? runs[i].n_bad : 10);
		CU_ASSERT_EQUAL(strstr(said, "more warnings") != NULL, runs[i].more != NULL);
		if (runs[i].more)
			CU_ASSERT_PTR_NOT_NULL(strstr(said, runs[i].more));
		free(text);
		free(out);
		free(said);
	}
	testhub_stop(th);
}

/* A byte order mark opening line 1 is skipped, even alone on it; one on a
 * later line is the line's, and rejected with it. */
static void test_import_skips_a_byte_order_mark_on_line_one_only(void)
{
	struct testhub *th = testhub_start(NULL);
	char *good1 = import_line_text("b-1", NULL), *good2 = import_line_text("b-2", NULL);
	char *text, *out, *said;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_FATAL(asprintf(&text, "\xef\xbb\xbf\n%s\xef\xbb\xbf%s", good1, good2) > 0);
	CU_ASSERT_EQUAL(import_run(th, text, 0, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 2, applied 1, duplicates 0, blocked 0, "
					   "refused 0, rejected 1\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: import: line 3: "), 1);
	free(text);
	free(out);
	free(said);
	free(good1);
	free(good2);
	testhub_stop(th);
}

/* FILE "-" reads stdin. */
static void test_import_of_dash_reads_stdin(void)
{
	struct testhub *th = testhub_start(NULL);
	char *text = import_lines_text("in", 2, 0), *out, *said;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL(import_run(th, text, RUN_STDIN, NULL, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 2, applied 2, "));
	free(text);
	free(out);
	free(said);
	testhub_stop(th);
}

/* import - of a stdin that is closed fails naming it, exit 1, nothing
 * stored; a directory given as FILE, as before.  It read what the store's
 * open put on descriptor 0 (SQLite's /dev/null): "records 0", exit 0. */
static void test_import_of_a_closed_stdin_or_a_directory_fails(void)
{
	struct testhub *th = testhub_start(NULL);
	char *dir_argv[] = {"import", NULL, "--source", "s", NULL}, *out, *said;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL(import_run(th, "", RUN_NO_STDIN | RUN_STDIN, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_STRING_EQUAL(said, "profilehub: import: \"-\": Bad file descriptor\n");
	free(out);
	free(said);
	dir_argv[1] = th->dir;
	CU_ASSERT_EQUAL(run_cmd(th, cmd_import, dir_argv, 0, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(said, ": Is a directory\n"));
	free(out);
	free(said);
	testhub_stop(th);
}

/* The file that cannot be opened is named in quotes, an empty name too: it
 * said "profilehub: import: : No such file or directory". */
static void test_import_names_the_file_it_cannot_open_in_quotes(void)
{
	static const char *const files[] = {"", "no such file.jsonl"};
	struct testhub *th = testhub_start(NULL);
	char *argv[] = {"import", NULL, "--source", "s", NULL}, *out, *said, want[128];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		argv[1] = (char *)files[i];
		CU_ASSERT_EQUAL(run_cmd(th, cmd_import, argv, 0, NULL, &out, &said), CLI_FAIL);
		snprintf(want, sizeof(want), "profilehub: import: \"%s\": No such file or "
			 "directory\n", files[i]);
		CU_ASSERT_STRING_EQUAL(said, want);
		free(out);
		free(said);
	}
	testhub_stop(th);
}

/* --commit-every takes a whole number of records from 1 to 150000. */
static void test_import_commit_every_takes_1_to_150000_records(void)
{
	static const struct {
		const char *arg;
		int rc;
	} runs[] = {{"1", CLI_OK}, {"150000", CLI_OK}, {"150001", CLI_USAGE},
		    {"5x", CLI_USAGE}, {"0", CLI_USAGE}};
	struct testhub *th = testhub_start(NULL);
	char *text = import_lines_text("ce", 1, 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char *args[] = {"--commit-every", (char *)runs[i].arg, NULL}, *out, *said;

		CU_ASSERT_EQUAL(import_run(th, text, 0, args, &out, &said), runs[i].rc);
		/* a misuse: named, then the usage (it was the message alone) */
		if (runs[i].rc == CLI_USAGE)
			CU_ASSERT_PTR_NOT_NULL(strstr(said, "is not a number of records from 1 to "
							    "150000\nusage: profilehub import "));
		free(out);
		free(said);
	}
	free(text);
	testhub_stop(th);
}

/* A --source no record may have (empty, past 256 bytes, not UTF-8) is a
 * misuse naming it, then the usage, nothing read or stored: every line
 * without a source of its own was rejected for it ("source: missing"),
 * exit 1 after the whole file. */
static void test_import_refuses_a_source_no_record_may_have(void)
{
	static const struct {
		const char *source, *why;
	} runs[] = {
		{"", "import: --source: an empty NAME (the records' source, for dedupe)\n"},
		{NULL, "import: --source: a NAME of 257 bytes, longer than 256\n"},
		{"s\xff", "import: --source: not valid UTF-8\n"},
	};
	struct testhub *th = testhub_start(NULL);
	char *line = import_line_text("src-1", NULL), *file, *out, *said, long_name[258];
	char *find[] = {"profile", "--installation-id", "I1", NULL};

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	memset(long_name, 'n', 257);
	long_name[257] = '\0';
	file = testlib_write_file(th->dir, "in.jsonl", line);
	CU_ASSERT_PTR_NOT_NULL_FATAL(file);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char *argv[] = {"import", file, "--source",
				(char *)(runs[i].source ? runs[i].source : long_name), NULL};

		CU_ASSERT_EQUAL(run_cmd(th, cmd_import, argv, 0, NULL, &out, &said), CLI_USAGE);
		CU_ASSERT_STRING_EQUAL(out, "");
		CU_ASSERT_PTR_NOT_NULL(strstr(said, runs[i].why));
		CU_ASSERT_PTR_NOT_NULL(strstr(said, "\nusage: profilehub import "));
		free(out);
		free(said);
	}
	/* nothing stored */
	CU_ASSERT_EQUAL(run_cmd(th, cmd_profile, find, 0, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "no profile with installation_id \"I1\""));
	free(out);
	free(said);
	free(file);
	free(line);
	testhub_stop(th);
}

/* A world whose source "s" has plugin `name` (built at `path`, under the
 * build dir) with `settings` (YAML lines); *plugins: its plugin dir, for
 * plugin_world_stop. */
static struct testhub *plugin_world(const char *name, const char *path, const char *settings,
				    char **plugins)
{
	struct testhub *th;
	char *so, *yaml;

	CU_ASSERT_FATAL(asprintf(&so, "%s.so", name) > 0);
	{
		const char *const links[] = {so, path, NULL};
		*plugins = testlib_plugin_dir(links);
	}
	free(so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*plugins);
	CU_ASSERT_FATAL(asprintf(&yaml, "plugin_dir: %s\nsources:\n  - name: s\n    plugin: %s\n%s",
				 *plugins, name, settings) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	return th;
}

/* Ends a world of plugin_world(): the hub, then its plugin dir. */
static void plugin_world_stop(struct testhub *th, char *plugins)
{
	testhub_stop(th);
	testlib_rmtree(plugins);
	free(plugins);
}

/* A world with the reject_lines plugin as source "s". */
static struct testhub *reject_lines_world(char **plugins)
{
	return plugin_world("reject_lines", "tests/plugins/reject_lines.so", "", plugins);
}

/* Each line's plugin warnings count once: three lines of one warning each
 * (validation's) are three warnings; so are those the plugin gives through
 * warn() (ABI 1.6). */
static void test_import_counts_each_lines_plugin_warnings_once(void)
{
	char *plugins, *out, *said;
	char *args[] = {"--format", "reject_lines", NULL};
	struct testhub *th = reject_lines_world(&plugins);

	CU_ASSERT_EQUAL(import_run(th, "w:pw1\nw:pw2\nw:pw3\n", 0, args, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 3, applied 3, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nwarnings 3 ("));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: import: warning: line "), 3);
	free(out);
	free(said);
	CU_ASSERT_EQUAL(import_run(th, "left:pl1\nleft:pl2\nleft:pl3\n", 0, args, &out, &said),
			CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nwarnings 3 ("));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "import: warning: line 3: plan: left out\n"));
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* Validation's warning and the writer's about one line: validation's,
 * noted as the line was read, comes first. */
static void test_import_shows_a_lines_read_warning_before_its_writer_warning(void)
{
	static const char text[] =
		"{\"type\":\"identify\",\"message_id\":\"o-1\",\"timestamp\":"
		"\"2026-01-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"o\"},"
		"\"attributes\":{\"tags\":[\"t0\",\"t1\",\"t2\",\"t3\",\"t4\",\"t5\",\"t6\","
		"\"t7\",\"t8\",\"t9\",\"t10\",\"t11\",\"t12\",\"t13\",\"t14\",\"t15\",\"t16\","
		"\"t17\",\"t18\",\"t19\"]}}\n"
		"{\"type\":\"identify\",\"message_id\":\"o-2\",\"timestamp\":"
		"\"2026-01-01T00:01:00Z\",\"identifiers\":{\"custom_id\":\"o\"},"
		"\"attributes\":{\"$phone_number\":\"bad\",\"tags\":{\"$add\":[\"u0\",\"u1\","
		"\"u2\",\"u3\",\"u4\",\"u5\",\"u6\",\"u7\",\"u8\",\"u9\"]}}}\n";
	struct testhub *th = testhub_start(NULL);
	char *out, *said, *read_w, *writer_w;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL(import_run(th, text, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nwarnings 2 ("));
	read_w = strstr(said, "warning: line 2: attributes.$phone_number: ");
	writer_w = strstr(said, "warning: line 2: attributes.tags: ");
	CU_ASSERT_PTR_NOT_NULL(read_w);
	CU_ASSERT_PTR_NOT_NULL(writer_w);
	CU_ASSERT(read_w < writer_w);
	free(out);
	free(said);
	testhub_stop(th);
}

/* th's store refuses the record of message `id` from now on (NULL: every
 * record), as a full disk would. */
static void store_refuses_records(struct testhub *th, const char *id)
{
	sqlite3 *db = NULL;
	char *when = id ? sqlite3_mprintf(" WHEN NEW.message_id = %Q", id) : NULL;
	char *sql = sqlite3_mprintf("CREATE TRIGGER boom BEFORE INSERT ON dedupe%s BEGIN"
				    " SELECT RAISE(ABORT, 'injected failure'); END",
				    when ? when : "");

	CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
	CU_ASSERT_FATAL(sqlite3_open(th->cfg->store_path, &db) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_free(when);
	sqlite3_free(sql);
	sqlite3_close(db);
}

/* How many records th's store holds (its dedupe table's rows). */
static long stored_records(struct testhub *th)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	long n = -1;

	CU_ASSERT_FATAL(sqlite3_open(th->cfg->store_path, &db) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM dedupe", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/* import_run() of `text` with a batch the store refuses: exit 1, naming
 * `line` as the first line not stored. */
static void import_run_unstored(struct testhub *th, const char *text, char **args, long line,
				char **out, char **said)
{
	char want[96];

	snprintf(want, sizeof(want), "import: line %ld and every line after it are not stored",
		 line);
	CU_ASSERT_EQUAL(import_run(th, text, 0, args, out, said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(*said, want));
}

/* A line whose batch is not stored kept nothing: its warnings (validation's
 * or the plugin's) are neither counted nor shown. */
static void test_import_drops_the_warnings_of_a_line_not_stored(void)
{
	char *plugins, *bad = import_line_text("ns-1", "bad"), *out, *said;
	char *args[] = {"--format", "reject_lines", NULL};
	struct testhub *th = reject_lines_world(&plugins);
	const char *texts[] = {bad, "w:ns2\n"};

	if (teststore_is_pg())
		goto out; /* the refusal is SQLite's trigger */
	store_refuses_records(th, NULL);
	for (size_t i = 0; i < 2; i++) {
		import_run_unstored(th, texts[i], i ? args : NULL, 1, &out, &said);
		CU_ASSERT_PTR_NOT_NULL(strstr(said, "injected failure"));
		CU_ASSERT_PTR_NULL(strstr(out, "warnings"));
		CU_ASSERT_PTR_NULL(strstr(said, "warning:"));
		free(out);
		free(said);
	}
out:
	free(bad);
	plugin_world_stop(th, plugins);
}

/* A line's records go in one batch even where they cross a batch's 2000
 * records: 666 lines of three events, then line 667's three (events 1999
 * to 2001), the last refused by the store.  The batch of the 1998 before
 * goes first; line 667 is stored whole or not at all. */
static void test_import_keeps_a_line_crossing_a_full_batch_in_one_batch(void)
{
	char *plugins, *text = NULL, *out, *said;
	char *args[] = {"--format", "mparticle", NULL};
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct testhub *th = plugin_world("mparticle", "plugins/mparticle.so",
					  "    api_key: k\n    api_secret: s\n", &plugins);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	if (teststore_is_pg())
		goto out; /* the refusal is SQLite's trigger */
	for (int n = 1; n <= 667; n++) {
		fprintf(f, "{\"environment\":\"production\",\"user_identities\":{\"customer_id\":"
			   "\"u%d\"},\"events\":[", n);
		for (int e = 1; e <= 3; e++)
			fprintf(f, "%s{\"event_type\":\"custom_event\",\"data\":{\"event_name\":"
				   "\"e\",\"source_message_id\":\"x-%d\",\"timestamp_unixtime_ms\":"
				   "1767225600000}}", e > 1 ? "," : "", 3 * (n - 1) + e);
		fprintf(f, "]}\n");
	}
	fclose(f);
	f = NULL;
	store_refuses_records(th, "x-2001");
	import_run_unstored(th, text, args, 667, &out, &said);
	CU_ASSERT_EQUAL(stored_records(th), 1998);
	free(out);
	free(said);
out:
	if (f)
		fclose(f);
	free(text);
	plugin_world_stop(th, plugins);
}

/* A development batch, which an mParticle source keeps out by default, is
 * counted as skipped (skip(), ABI 1.12), not rejected: the summary of this
 * 2-line file said "records 1, applied 1" and nothing of line 2 but a log
 * line of the plugin's. */
static void test_import_counts_what_the_plugin_skips(void)
{
	static const char text[] =
		"{\"environment\":\"production\",\"user_identities\":{\"customer_id\":\"u1\"},"
		"\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
		"\"source_message_id\":\"sk-1\",\"timestamp_unixtime_ms\":1767225600000}}]}\n"
		"{\"environment\":\"development\",\"user_identities\":{\"customer_id\":\"u2\"},"
		"\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
		"\"source_message_id\":\"sk-2\",\"timestamp_unixtime_ms\":1767225600000}}]}\n";
	char *plugins, *out, *said;
	char *args[] = {"--format", "mparticle", NULL};
	struct testhub *th = plugin_world("mparticle", "plugins/mparticle.so",
					  "    api_key: k\n    api_secret: s\n", &plugins);

	CU_ASSERT_EQUAL(import_run(th, text, 0, args, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 1, applied 1, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ", rejected 0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "skipped 1 (items the mparticle plugin does not store"));
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* Reading stops at a failed batch: with a batch a line, line 1's refused,
 * the ring of batches in flight (85) fills long before line 200, which is
 * never read, so its error is not reported nor counted. */
static void test_import_stops_reading_at_a_failed_batch(void)
{
	struct testhub *th = testhub_start(NULL);
	char *lines = import_lines_text("sr", 199, 0), *text, *out, *said;
	char *args[] = {"--commit-every", "1", NULL};

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_FATAL(asprintf(&text, "%snot json\n", lines) > 0);
	if (teststore_is_pg())
		goto out; /* the refusal is SQLite's trigger */
	store_refuses_records(th, "sr-1");
	import_run_unstored(th, text, args, 1, &out, &said);
	CU_ASSERT_PTR_NULL(strstr(said, "line 200: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ", rejected 0\n"));
	free(out);
	free(said);
out:
	free(lines);
	free(text);
	testhub_stop(th);
}

/* A line of NUL bytes (a block a crash left zero-filled) is not blank: it
 * is rejected and named, and the line after it imported. */
static void test_import_rejects_a_line_of_nul_bytes(void)
{
	struct testhub *th = testhub_start(NULL);
	char *good = import_line_text("nul-2", NULL), *path = NULL, *out, *said;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_FATAL(asprintf(&path, "%s/in.jsonl", th->dir) > 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	CU_ASSERT_EQUAL(fwrite("\0\0\0\0\n", 1, 5, f), 5);
	CU_ASSERT_EQUAL(fputs(good, f) >= 0, 1);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL(import_run(th, NULL, 0, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 2, applied 1, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ", rejected 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "profilehub: import: line 1: "));
	free(out);
	free(said);
	free(path);
	free(good);
	testhub_stop(th);
}

/* The ring of batches in flight holds 85.  --commit-every 238 makes a batch
 * of every 238 lines and would take 86 slots (its records and the 20000
 * read ahead), one more than the ring has: 88 batches go round the 85, all
 * stored. */
static void test_import_goes_round_the_ring_of_batches(void)
{
	struct testhub *th = testhub_start(NULL);
	char *text = import_lines_text("ring", 88 * 238, 0), *out, *said;
	char *args[] = {"--commit-every", "238", NULL};

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL(import_run(th, text, 0, args, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records 20944, applied 20944, duplicates 0, "));
	free(out);
	free(said);
	free(text);
	testhub_stop(th);
}

/* A line's records go in one batch even where they pass --commit-every:
 * a line of three events with --commit-every 2, its third refused by the
 * store, is stored not at all. */
static void test_import_keeps_a_line_past_commit_every_in_one_batch(void)
{
	static const char text[] =
		"{\"environment\":\"production\",\"user_identities\":{\"customer_id\":\"u\"},"
		"\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
		"\"source_message_id\":\"y-1\",\"timestamp_unixtime_ms\":1767225600000}},"
		"{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
		"\"source_message_id\":\"y-2\",\"timestamp_unixtime_ms\":1767225600000}},"
		"{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
		"\"source_message_id\":\"y-3\",\"timestamp_unixtime_ms\":1767225600000}}]}\n";
	char *plugins, *out, *said;
	char *args[] = {"--format", "mparticle", "--commit-every", "2", NULL};
	struct testhub *th = plugin_world("mparticle", "plugins/mparticle.so",
					  "    api_key: k\n    api_secret: s\n", &plugins);

	if (teststore_is_pg())
		goto out; /* the refusal is SQLite's trigger */
	store_refuses_records(th, "y-3");
	import_run_unstored(th, text, args, 1, &out, &said);
	CU_ASSERT_EQUAL(stored_records(th), 0);
	free(out);
	free(said);
out:
	plugin_world_stop(th, plugins);
}

/* ---- dump, profile, privacy (cli_data.c) ---------------------------- */

/* `n` identify lines of custom_id `prefix`0 .. `prefix`(n-1), each with
 * $email_address `email` (NULL: none). */
static char *profiles_text(const char *prefix, int n, const char *email)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 0; i < n; i++) {
		fprintf(f, "{\"type\":\"identify\",\"message_id\":\"%s-%d\",\"timestamp\":"
			   "\"2026-01-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"%s%d\"}",
			prefix, i, prefix, i);
		if (email)
			fprintf(f, ",\"attributes\":{\"$email_address\":\"%s\"}", email);
		fputs("}\n", f);
	}
	CU_ASSERT_FATAL(fclose(f) == 0);
	return text;
}

/* `n` track events of custom_id `id` (messages `id`-e1 ..), with a
 * property of `pad` bytes each. */
static char *events_text(const char *id, int n, size_t pad)
{
	char *text = NULL, *fill = malloc(pad + 1);
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_FATAL(f && fill);
	memset(fill, 'p', pad);
	fill[pad] = '\0';
	for (int i = 1; i <= n; i++)
		fprintf(f, "{\"type\":\"track\",\"message_id\":\"%s-e%d\",\"timestamp\":"
			   "\"2026-01-01T00:00:%02dZ\",\"identifiers\":{\"custom_id\":\"%s\"},"
			   "\"event\":{\"name\":\"e\",\"properties\":{\"p\":\"%s\"}}}\n",
			id, i, i % 60, id, fill);
	CU_ASSERT_FATAL(fclose(f) == 0);
	free(fill);
	return text;
}

/* th holds the records of `text` (malloc'd, freed here). */
static void apply_text(struct testhub *th, char *text)
{
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, text), 0);
	free(text);
}

/* 1 when text starts with prefix. */
static int starts_with(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* cmd(argv) run by run_cmd() on configuration cfg of th's store (NULL:
 * th's own) exits `rc`, its stdout starting with `out_start` and its stderr
 * holding `said_part` (NULL: whatever they hold). */
static void expect_run(struct testhub *th, struct hub_config *cfg, cli_cmd *cmd, char **argv,
		       int rc, const char *out_start, const char *said_part)
{
	struct hub_config *own = th->cfg;
	char *out, *said;

	th->cfg = cfg ? cfg : own;
	CU_ASSERT_EQUAL(run_cmd(th, cmd, argv, 0, NULL, &out, &said), rc);
	th->cfg = own;
	CU_ASSERT(!out_start || starts_with(out, out_start));
	CU_ASSERT(!said_part || strstr(said, said_part));
	if ((out_start && !starts_with(out, out_start)) || (said_part && !strstr(said, said_part)))
		fprintf(stderr, "\n%s: stdout %s, stderr %s\n", argv[0], out, said);
	free(out);
	free(said);
}

/* The JSON document of each line of `out`, as an array (new reference). */
static json_t *out_docs(const char *out)
{
	json_t *docs = json_array();
	const char *line = out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(docs);
	while (*line) {
		const char *end = strchr(line, '\n');
		json_t *doc = json_loadb(line, end ? (size_t)(end - line) : strlen(line), 0, NULL);

		CU_ASSERT_PTR_NOT_NULL(doc);
		if (doc)
			json_array_append_new(docs, doc);
		line = end ? end + 1 : line + strlen(line);
	}
	return docs;
}

/* `profilehub ARGV` (cmd) run on th: its exit status and its documents, one
 * a line of stdout (*docs, a new reference); stderr into *said. */
static int cmd_docs(struct testhub *th, cli_cmd *cmd, char **argv, json_t **docs, char **said)
{
	char *out;
	int rc = run_cmd(th, cmd, argv, 0, NULL, &out, said);

	*docs = out_docs(out);
	free(out);
	return rc;
}

/* The events each document of `docs` carries, as "n,n,..". */
static void docs_event_counts(json_t *docs, char *buf, size_t size)
{
	size_t i, at = 0;
	json_t *doc;

	buf[0] = '\0';
	json_array_foreach(docs, i, doc)
		at += (size_t)snprintf(buf + at, size - at, "%s%zu", i ? "," : "",
				       json_array_size(json_object_get(doc, "events")));
}

/* dump pages through the live profiles 500 at a time: 501 profiles are
 * 501 documents, each profile once. */
static void test_dump_pages_through_501_profiles_each_once(void)
{
	struct testhub *th = testhub_start(NULL);
	char *argv[] = {"dump", NULL}, *said;
	json_t *docs, *seen = json_object(), *doc;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("d", 501, NULL));
	CU_ASSERT_EQUAL(cmd_docs(th, cmd_dump, argv, &docs, &said), CLI_OK);
	CU_ASSERT_EQUAL(json_array_size(docs), 501);
	json_array_foreach(docs, i, doc)
		json_object_set(seen, json_string_value(json_object_get(doc, "custom_id")), doc);
	CU_ASSERT_EQUAL(json_object_size(seen), 501);
	json_decref(seen);
	json_decref(docs);
	free(said);
	testhub_stop(th);
}

/* A document carries a profile's last 20 events unless --events says (a
 * number, or all), in dump and profile alike; --events takes nothing else. */
static void test_dump_and_profile_carry_20_events_unless_events_says(void)
{
	static const struct {
		char *argv[6];
		int rc;
		const char *counts;
	} runs[] = {
		{{"dump", NULL}, CLI_OK, "20"},
		{{"dump", "--events", "all", NULL}, CLI_OK, "21"},
		{{"dump", "--events", "0", NULL}, CLI_OK, "0"},
		{{"profile", "--custom-id", "ev", NULL}, CLI_OK, "20"},
		{{"profile", "--custom-id", "ev", "--events", "2", NULL}, CLI_OK, "2"},
		{{"profile", "--events", "all", "--custom-id", "ev", NULL}, CLI_OK, "21"},
		{{"dump", "--events", "-1", NULL}, CLI_USAGE, ""},
		{{"dump", "--events", "5x", NULL}, CLI_USAGE, ""},
		{{"dump", "--events", "", NULL}, CLI_USAGE, ""},
	};
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, events_text("ev", 21, 1));
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char counts[64], *said;
		json_t *docs;
		cli_cmd *cmd = runs[i].argv[0][0] == 'd' ? cmd_dump : cmd_profile;

		CU_ASSERT_EQUAL(cmd_docs(th, cmd, (char **)runs[i].argv, &docs, &said),
				runs[i].rc);
		docs_event_counts(docs, counts, sizeof(counts));
		CU_ASSERT_STRING_EQUAL(counts, runs[i].counts);
		if (runs[i].rc == CLI_USAGE)
			CU_ASSERT_PTR_NOT_NULL(strstr(said, "is not all or a number of events"));
		json_decref(docs);
		free(said);
	}
	testhub_stop(th);
}

/* profile finds a profile by each lookup flag. */
static void test_profile_finds_by_each_lookup_flag(void)
{
	static const char line[] =
		"{\"type\":\"identify\",\"message_id\":\"lk\",\"timestamp\":"
		"\"2026-01-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"C\",\"installation_id\":"
		"\"I\"},\"attributes\":{\"$email_address\":\"e@x.com\","
		"\"$phone_number\":\"+15550100\"}}\n";
	char *lookups[][2] = {{"--custom-id", "C"},        {"--installation-id", "I"},
			      {"--email", "e@x.com"},      {"--phone", "+15550100"},
			      {"--profile-id", NULL}};
	struct testhub *th = testhub_start(NULL);
	json_t *all;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, line), 0);
	all = testhub_dump(th, 0);
	lookups[4][1] = (char *)json_string_value(json_object_get(json_array_get(all, 0),
								  "profile_id"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(lookups[4][1]);
	for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		char *argv[] = {"profile", lookups[i][0], lookups[i][1], NULL}, *said;
		json_t *docs;

		CU_ASSERT_EQUAL(cmd_docs(th, cmd_profile, argv, &docs, &said), CLI_OK);
		CU_ASSERT_EQUAL(json_array_size(docs), 1);
		CU_ASSERT(dump_has_custom_id(docs, "C"));
		json_decref(docs);
		free(said);
	}
	json_decref(all);
	testhub_stop(th);
}

/* profile prints the document GET /v1/profiles answers (one builder):
 * dump's, plus attribute_meta, each current attribute's type and time.
 * It printed dump's document, without attribute_meta. */
static void test_profile_prints_the_api_s_document_with_attribute_meta(void)
{
	static const char lines[] =
		"{\"type\":\"identify\",\"message_id\":\"am1\",\"timestamp\":"
		"\"2025-03-01T00:00:00Z\",\"identifiers\":{\"custom_id\":\"C\"},"
		"\"attributes\":{\"plan\":\"gold\",\"logins\":3,\"gone\":\"x\"}}\n"
		"{\"type\":\"attributes\",\"message_id\":\"am2\",\"timestamp\":"
		"\"2025-03-02T00:00:00Z\",\"identifiers\":{\"custom_id\":\"C\"},"
		"\"attributes\":{\"logins\":4,\"gone\":null}}\n";
	struct testhub *th = testhub_start(NULL);
	char *argv[] = {"profile", "--custom-id", "C", NULL}, *said;
	json_t *docs, *all, *meta, *plain, *want;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, lines), 0);
	CU_ASSERT_EQUAL_FATAL(cmd_docs(th, cmd_profile, argv, &docs, &said), CLI_OK);
	CU_ASSERT_EQUAL_FATAL(json_array_size(docs), 1);
	meta = json_object_get(json_array_get(docs, 0), "attribute_meta");
	CU_ASSERT_EQUAL(json_object_size(meta), 2); /* a deleted one has none */
	want = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "plan", "type", "string", "updated_at",
			 "2025-03-01T00:00:00.000Z", "logins", "type", "number", "updated_at",
			 "2025-03-02T00:00:00.000Z");
	CU_ASSERT(json_equal(meta, want));
	json_decref(want);
	/* the rest is dump's document, field for field */
	all = testhub_dump(th, 20); /* profile shows 20 events */
	plain = json_deep_copy(json_array_get(docs, 0));
	json_object_del(plain, "attribute_meta");
	CU_ASSERT(json_equal(plain, json_array_get(all, 0)));
	json_decref(plain);
	json_decref(all);
	json_decref(docs);
	free(said);
	testhub_stop(th);
}

/* A lookup many profiles match prints the first 64, says there are more
 * and how to see them: --after the last one printed gives the rest, each
 * profile on one page only. */
static void test_profile_prints_64_of_a_shared_email_and_says_more(void)
{
	struct testhub *th = testhub_start(NULL);
	char *argv[] = {"profile", "--email", "s@x.com", NULL, NULL, NULL}, *said;
	char want[256], last[PROFILE_ID_SIZE];
	json_t *docs, *docs2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("s", 66, "s@x.com"));
	CU_ASSERT_EQUAL_FATAL(cmd_docs(th, cmd_profile, argv, &docs, &said), CLI_OK);
	CU_ASSERT_EQUAL_FATAL(json_array_size(docs), 64);
	snprintf(last, sizeof(last), "%s",
		 json_string_value(json_object_get(json_array_get(docs, 63), "profile_id")));
	snprintf(want, sizeof(want), "profilehub: profile: more than 64 profiles have this"
		 " email: the first 64 are printed; the next ones: the same command with"
		 " --after %s\n", last);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, want));
	free(said);
	argv[3] = "--after";
	argv[4] = last;
	CU_ASSERT_EQUAL_FATAL(cmd_docs(th, cmd_profile, argv, &docs2, &said), CLI_OK);
	CU_ASSERT_EQUAL(json_array_size(docs2), 2); /* the rest, and no note */
	CU_ASSERT_PTR_NULL(strstr(said, "more than"));
	for (size_t i = 0; i < json_array_size(docs2); i++) {
		const char *id = json_string_value(json_object_get(json_array_get(docs2, i),
								   "profile_id"));
		CU_ASSERT(strcmp(id, last) > 0);
		for (size_t j = 0; j < 64; j++)
			CU_ASSERT(strcmp(id, json_string_value(json_object_get(
				json_array_get(docs, j), "profile_id"))) != 0);
	}
	json_decref(docs);
	json_decref(docs2);
	free(said);
	testhub_stop(th);
}

/* 64 profiles of one email are a full page and all of them: no note of
 * more (a note naming --after would lead to an empty page). */
static void test_profile_prints_exactly_64_with_no_note(void)
{
	struct testhub *th = testhub_start(NULL);
	char *argv[] = {"profile", "--email", "e@x.com", NULL}, *said;
	json_t *docs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("e", 64, "e@x.com"));
	CU_ASSERT_EQUAL_FATAL(cmd_docs(th, cmd_profile, argv, &docs, &said), CLI_OK);
	CU_ASSERT_EQUAL(json_array_size(docs), 64);
	CU_ASSERT_PTR_NULL(strstr(said, "more than"));
	json_decref(docs);
	free(said);
	testhub_stop(th);
}

/* `profile` with argv is a misuse (exit 2) that prints no document and
 * says `text`. */
static void profile_misuse_says(struct testhub *th, char **argv, const char *text)
{
	char *said;
	json_t *docs;

	CU_ASSERT_EQUAL(cmd_docs(th, cmd_profile, argv, &docs, &said), CLI_USAGE);
	CU_ASSERT_EQUAL(json_array_size(docs), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, text));
	json_decref(docs);
	free(said);
}

/* --after pages an email or phone lookup only, and needs its value: a
 * profile ID (one not of the hub's form is a misuse, as the API's invalid
 * cursor: "a" sorts before every ID, and printed the first page again). */
static void test_profile_after_is_for_an_email_or_phone(void)
{
	struct testhub *th = testhub_start(NULL);
	char *by_id[] = {"profile", "--custom-id", "C", "--after", "p_1", NULL};
	char *bare[] = {"profile", "--email", "s@x.com", "--after", NULL};
	char *not_id[] = {"profile", "--email", "s@x.com", "--after", "a", NULL};

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	profile_misuse_says(th, by_id, "--after pages an --email or --phone lookup");
	profile_misuse_says(th, bare, "--after needs a profile ID");
	apply_text(th, profiles_text("s", 2, "s@x.com"));
	profile_misuse_says(th, not_id, "--after: \"a\" is not a profile ID (p_ and 16");
	testhub_stop(th);
}

/* The privacy requests of the store recorded so far. */
static int request_count(void *ctx, const char *key, const char *value)
{
	(void)key;
	(void)value;
	(*(int *)ctx)++;
	return 0;
}

/* privacy access, then erase, --profile-id pid (a live profile); and
 * erase --profile-id of an ID no profile has. */
static void privacy_by_profile_id(struct testhub *th, const char *pid)
{
	char *access[] = {"privacy", "access", "--profile-id", (char *)pid, NULL};
	char *erase[] = {"privacy", "erase", "--profile-id", (char *)pid, NULL};
	char *find[] = {"profile", "--profile-id", (char *)pid, NULL};
	char *unknown[] = {"privacy", "erase", "--profile-id", "p_aaaaaaaaaaaaaaaa", NULL};
	char *out = NULL, *said = NULL, want[128];
	int n_before = 0, n_after = 0;
	json_t *doc;

	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, access, 0, NULL, &out, &said), CLI_OK);
	doc = out ? json_loads(out, 0, NULL) : NULL;
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "profiles")), 1);
	json_decref(doc);
	free(out);
	free(said);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, erase, 0, NULL, &out, &said), CLI_OK);
	snprintf(want, sizeof(want), "\"status\":\"done\",\"profile_id\":\"%s\"}\n", pid);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, want));
	free(out);
	free(said);
	expect_run(th, NULL, cmd_profile, find, CLI_FAIL, "", "no profile with profile_id");
	/* a malformed ID is a misuse, as privacy's and the API's (it said "no
	 * profile with profile_id", exit 1, as of an ID no profile has) */
	find[2] = "xyz";
	expect_run(th, NULL, cmd_profile, find, CLI_USAGE, NULL,
		   "profile: --profile-id: \"xyz\" is not a profile ID (p_ and 16");
	CU_ASSERT_EQUAL(th->reader->ops->meta_list(th->reader, PRIVACY_REQUEST_PREFIX,
						   request_count, &n_before), 0);
	expect_run(th, NULL, cmd_privacy, unknown, CLI_FAIL, "",
		   "privacy: no profile p_aaaaaaaaaaaaaaaa: nothing was erased\n");
	CU_ASSERT_EQUAL(th->reader->ops->meta_list(th->reader, PRIVACY_REQUEST_PREFIX,
						   request_count, &n_after), 0);
	CU_ASSERT_EQUAL(n_after, n_before);
}

/* privacy erase of a user a refused merge kept apart from a session
 * (crm_id limit 1: the session's K2 could not join C1's K1) says in its
 * answer, as the API's does, which profile it did not erase; privacy
 * access and erase --profile-id then take that profile, which holds no
 * identifier of C1's.  An ID no profile has is said, nothing recorded. */
static void test_privacy_erase_names_the_session_it_did_not_erase(void)
{
	char *erase[] = {"privacy", "erase", "--custom-id", "C1", NULL};
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	char *out = NULL, *said = NULL, pid[64] = "";
	json_t *answer, *warnings;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_EQUAL_FATAL(
		testhub_apply_lines(th, "{\"type\":\"identify\",\"message_id\":\"m1\","
				    "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K1\"}}\n"
				    "{\"type\":\"identify\",\"message_id\":\"m2\",\"identifiers\":"
				    "{\"installation_id\":\"I3\",\"crm_id\":\"K2\"}}\n"
				    "{\"type\":\"identify\",\"message_id\":\"m3\",\"identifiers\":"
				    "{\"custom_id\":\"C1\",\"installation_id\":\"I3\"}}"),
		0);
	CU_ASSERT_EQUAL(th->reader->ops->ident_get(th->reader, "crm_id", "K2", pid), 1);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, erase, 0, NULL, &out, &said), CLI_OK);
	answer = out ? json_loads(out, 0, NULL) : NULL;
	warnings = json_object_get(answer, "warnings");
	CU_ASSERT_EQUAL(json_array_size(warnings), 1);
	CU_ASSERT(pid[0] && strstr(json_string_value(json_array_get(warnings, 0)) ?: "", pid));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(answer, "status")) ?: "", "done");
	json_decref(answer);
	free(out);
	free(said);
	privacy_by_profile_id(th, pid);
	testhub_stop(th);
}

/* profile and privacy need a lookup: without one it is a misuse, named. */
static void test_profile_and_privacy_need_a_lookup(void)
{
	char *profile[] = {"profile", NULL}, *privacy[] = {"privacy", "erase", NULL};
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	expect_run(th, NULL, cmd_profile, profile, CLI_USAGE, NULL,
		   "profile: a lookup is needed (--custom-id, ");
	expect_run(th, NULL, cmd_privacy, privacy, CLI_USAGE, NULL,
		   "privacy: a lookup is needed (--custom-id, ");
	testhub_stop(th);
}

/* An empty lookup value names nobody: a misuse naming its flag, nothing
 * printed on stdout, as the API answers a 400 (profile said "no profile
 * with custom_id \"\"", exit 1; privacy access printed a document of
 * nobody, exit 0; privacy erase "erase failed", exit 1). */
static void test_profile_and_privacy_refuse_an_empty_lookup_value(void)
{
	static const struct {
		char *argv[7];
		cli_cmd *cmd;
	} runs[] = {
		{{"profile", "--custom-id", "", NULL}, cmd_profile},
		{{"profile", "--email", "", "--events", "1", NULL}, cmd_profile},
		{{"profile", "--phone", "", NULL}, cmd_profile},
		{{"profile", "--installation-id", "", NULL}, cmd_profile},
		{{"privacy", "access", "--custom-id", "", NULL}, cmd_privacy},
		{{"privacy", "erase", "--installation-id", "", NULL}, cmd_privacy},
	};
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char **argv = (char **)runs[i].argv, *out, *said, want[96];
		int at = strcmp(argv[0], "privacy") == 0 ? 2 : 1;

		snprintf(want, sizeof(want), ": %s: an empty value (no identifier is empty)\n",
			 argv[at]);
		CU_ASSERT_EQUAL(run_cmd(th, runs[i].cmd, argv, 0, NULL, &out, &said), CLI_USAGE);
		CU_ASSERT_STRING_EQUAL(out, "");
		CU_ASSERT_PTR_NOT_NULL(strstr(said, want));
		CU_ASSERT_PTR_NOT_NULL(strstr(said, "\nusage: profilehub "));
		free(out);
		free(said);
	}
	testhub_stop(th);
}

/* privacy access prints one indented document ending its line; erase
 * answers a line saying it is done with its request ID, whose record (as
 * the API's erases have one) is in the store, and the profile is gone. */
static void test_privacy_access_indents_and_erase_says_done(void)
{
	char *access[] = {"privacy", "access", "--custom-id", "d0", NULL};
	char *erase[] = {"privacy", "erase", "--custom-id", "d0", NULL};
	char *find[] = {"profile", "--custom-id", "d0", NULL};
	struct testhub *th = testhub_start(NULL);
	char *out, *said;
	json_t *doc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("d", 1, NULL));
	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, access, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT(starts_with(out, "{\n  \"type\": \"access\",\n"));
	CU_ASSERT(strlen(out) > 2 && strcmp(out + strlen(out) - 2, "}\n") == 0);
	doc = json_loads(out, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(doc);
	json_decref(doc);
	free(out);
	free(said);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, erase, 0, NULL, &out, &said), CLI_OK);
	/* {"id":"pr_<16 hex>",...}: the ID of its record in the store */
	CU_ASSERT(starts_with(out, "{\"id\":\"pr_") && strlen(out) > 27 &&
		  strspn(out + 10, "0123456789abcdef") == 16);
	CU_ASSERT(strlen(out) > 27 &&
		  strcmp(out + 26, "\",\"type\":\"erase\",\"status\":\"done\","
				   "\"custom_id\":\"d0\"}\n") == 0);
	if (strlen(out) > 27) {
		char key[64], record[512];
		out[26] = '\0';
		privacy_request_key(key, sizeof(key), out + 7);
		CU_ASSERT_EQUAL(th->reader->ops->meta_get(th->reader, key, record,
							  sizeof(record)),
				1);
		CU_ASSERT_PTR_NOT_NULL(strstr(record, "\"status\":\"done\""));
		/* never whom: "d0" as a value (the hex of the record's ID may hold d0) */
		CU_ASSERT_PTR_NULL(strstr(record, "\"d0\""));
	}
	free(out);
	free(said);
	expect_run(th, NULL, cmd_profile, find, CLI_FAIL, "", "no profile with custom_id");
	testhub_stop(th);
}

/* privacy takes access or erase, and --custom-id, --installation-id or
 * --external TYPE=VALUE (an external id of the configuration) alone:
 * anything else is a misuse, named. */
static void test_privacy_takes_an_action_and_a_custom_or_installation_id(void)
{
	static const struct {
		char *argv[7];
		const char *why;
	} runs[] = {
		{{"privacy", NULL}, "privacy: access or erase is needed\n"},
		{{"privacy", "access", "--email", "e@x.com", NULL}, "not --email\n"},
		{{"privacy", "erase", "--profile-id", "p_1", NULL},
		 "privacy: --profile-id: \"p_1\" is not a profile ID"},
		{{"privacy", "erase", "--phone", "+1", NULL}, "not --phone\n"},
		{{"privacy", "access", "--custom-id", "c", "--events", "1", NULL},
		 "privacy: unexpected argument \"--events\"\n"},
		{{"privacy", "access", "--external", "crm_id", NULL},
		 "privacy: --external takes TYPE=VALUE (crm_id=K7)"},
		{{"privacy", "erase", "--external", "=K7", NULL}, "--external takes TYPE=VALUE"},
		{{"privacy", "erase", "--external", "crm_id=", NULL}, "--external takes TYPE=VALUE"},
		/* the test hub's configuration has no external id */
		{{"privacy", "erase", "--external", "crm_id=K7", NULL},
		 "privacy: --external crm_id: not an external id of identity.external (a person"
		 " is named by custom_id or installation_id)\n"},
	};
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		expect_run(th, NULL, cmd_privacy, (char **)runs[i].argv, CLI_USAGE, NULL,
			   runs[i].why);
	testhub_stop(th);
}

/* An access document larger than stdout's buffer to a full disk: exit 1,
 * naming the write's own error. */
static void test_privacy_access_to_a_full_disk_names_the_write_error(void)
{
	char *argv[] = {"privacy", "access", "--custom-id", "big", NULL}, *out, *said;
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, events_text("big", 20, 1000));
	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, argv, RUN_FULL, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "privacy: cannot write to stdout: "
					    "No space left on device\n"));
	free(out);
	free(said);
	testhub_stop(th);
}

/* An erase whose answer cannot be written (a full disk) is done all the
 * same: exit 1 says so, with its request ID, not only "cannot write to
 * stdout" as if the erase had failed (and then again on a second try). */
static void test_privacy_erase_to_a_full_disk_says_the_erase_is_done(void)
{
	char *erase[] = {"privacy", "erase", "--custom-id", "f0", NULL};
	char *find[] = {"profile", "--custom-id", "f0", NULL}, *out, *said;
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("f", 1, NULL));
	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, erase, RUN_FULL, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT(starts_with(said, "profilehub: privacy: the erase is done (request pr_"));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "), but its answer was not written to stdout: "
					    "No space left on device\n"));
	free(out);
	free(said);
	expect_run(th, NULL, cmd_profile, find, CLI_FAIL, "", "no profile with custom_id");
	testhub_stop(th);
}

/* ---- exports (cli_exports.c) ---------------------------------------- */

/* A world of two jsonl exports, x and y (disabled), and one profile in the
 * change feed; *plugins: its plugin dir, for testlib_rmtree. */
static struct testhub *exports_world(char **plugins)
{
	static const char *const links[] = {"jsonl.so", "plugins/jsonl.so", NULL};
	struct testhub *th;
	char *yaml;

	*plugins = testlib_plugin_dir(links);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*plugins);
	CU_ASSERT_FATAL(asprintf(&yaml, "plugin_dir: %s\nexports:\n"
				 "  - {name: x, plugin: jsonl, path: %s/x.jsonl}\n"
				 "  - {name: y, plugin: jsonl, path: %s/y.jsonl, enabled: false}\n",
				 *plugins, *plugins, *plugins) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("x", 1, NULL));
	return th;
}

/* obj's string member key, or "" (never NULL: for the string asserts). */
static const char *str_of(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "";
}

/* privacy access names the configuration's exports as the document's
 * recipients, as the API does: x enabled, y disabled and said to be sent
 * nothing, by name and plugin alone (not their paths), between the
 * person's key and "profiles". */
static void test_privacy_access_names_the_exports_as_recipients(void)
{
	char *argv[] = {"privacy", "access", "--custom-id", "x0", NULL};
	char *plugins, *out = NULL, *said = NULL;
	struct testhub *th = exports_world(&plugins);
	json_t *doc, *exports, *x, *y;

	CU_ASSERT_EQUAL(run_cmd(th, cmd_privacy, argv, 0, NULL, &out, &said), CLI_OK);
	doc = out ? json_loads(out, 0, NULL) : NULL;
	exports = json_object_get(json_object_get(doc, "recipients"), "exports");
	CU_ASSERT_EQUAL(json_array_size(exports), 2);
	x = json_array_get(exports, 0);
	y = json_array_get(exports, 1);
	CU_ASSERT_STRING_EQUAL(str_of(x, "name"), "x");
	CU_ASSERT_STRING_EQUAL(str_of(x, "plugin"), "jsonl");
	CU_ASSERT(json_is_true(json_object_get(x, "enabled")));
	CU_ASSERT_STRING_EQUAL(str_of(y, "name"), "y");
	CU_ASSERT(json_is_false(json_object_get(y, "enabled")));
	CU_ASSERT_PTR_NOT_NULL(strstr(str_of(y, "receives"), "disabled in the configuration"));
	CU_ASSERT_PTR_NULL(strstr(str_of(x, "receives"), "disabled"));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "profiles")), 1);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"custom_id\": \"x0\",\n  \"recipients\": {"));
	CU_ASSERT_PTR_NULL(out && strstr(out, ".jsonl"));
	json_decref(doc);
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* th's store holds `n` dead letters of export `name`, changes of profiles
 * gone since, each refused for reason "`name` refused N" (SQLite). */
static void store_dead_letters(struct testhub *th, const char *name, int n)
{
	sqlite3 *db = NULL;
	char *sql = sqlite3_mprintf(
		"WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < %d)"
		" INSERT INTO dead_letters(export_name, seq, profile_id, at, reason, change)"
		" SELECT %Q, n, 'p_gone' || n, 0, %Q || ' refused ' || n, '{\"seq\":' || n ||"
		" ',\"kind\":\"erased\",\"profile_id\":\"p_gone' || n ||"
		" '\",\"identifier_types\":[\"custom_id\"]}' FROM i", n, name, name);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
	CU_ASSERT_FATAL(sqlite3_open(th->cfg->store_path, &db) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_free(sql);
	sqlite3_close(db);
}

/* The line of `out` that starts with `name` and a space (a table's row),
 * or "" (never NULL). */
static const char *table_row(const char *out, const char *name)
{
	size_t n = strlen(name);

	for (const char *line = out; line && *line; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			return line;
	}
	return "";
}

/* The words of the line at `line`, joined by one space, in buf. */
static void words_of_line(const char *line, char *buf, size_t size)
{
	size_t n = 0;

	for (const char *p = line; *p && *p != '\n' && n + 1 < size; p++)
		if (*p != ' ' || (n > 0 && buf[n - 1] != ' '))
			buf[n++] = *p;
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}

/* Where column `title` of the table's header starts (left) or ends
 * (right-aligned numbers), and where the word of `row` in that column
 * does: -1 when there is none. */
static int column_at(const char *line, int nth, int is_end)
{
	int word = -1, at = -1;

	for (int i = 0; line[i] && line[i] != '\n'; i++) {
		int starts = line[i] != ' ' && (i == 0 || line[i - 1] == ' ');
		int ends = line[i] != ' ' && (line[i + 1] == ' ' || line[i + 1] == '\n' ||
					      !line[i + 1]);
		if (starts)
			word++;
		if (word == nth && (is_end ? ends : starts)) {
			at = i;
			break;
		}
	}
	return at;
}

/* The table's columns are as wide as their widest value: an export's name
 * longer than 20 or a plugin's than 10 ("export_script") shifted the rest
 * of its row, out of line with the header and the other rows.  Here a
 * plugin wider than PLUGIN and a lag wider than LAG (the disabled export's,
 * 1000 changes behind) too. */
static void test_exports_table_columns_fit_their_widest_value(void)
{
	static const char *const links[] = {"jsonl.so", "plugins/jsonl.so", "example_export.so",
					    "plugins/example_export.so", NULL};
	static const char *const names[] = {"a_crm_feed_with_a_rather_long_name", "x"};
	char *argv[] = {"exports", NULL}, *plugins, *yaml, *out = NULL, *said = NULL;
	const char *header;
	struct testhub *th;

	plugins = testlib_plugin_dir(links);
	CU_ASSERT_PTR_NOT_NULL_FATAL(plugins);
	CU_ASSERT_FATAL(asprintf(&yaml, "plugin_dir: %s\nexports:\n"
				 "  - {name: %s, plugin: example_export, path: %s/a.jsonl,"
				 " enabled: false}\n"
				 "  - {name: %s, plugin: jsonl, path: %s/x.jsonl}\n",
				 plugins, names[0], plugins, names[1], plugins) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_text(th, profiles_text("x", 1000, NULL));
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, argv, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	header = table_row(out, "NAME");
	CU_ASSERT_FATAL(*header != '\0');
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const char *row = table_row(out, names[i]);
		CU_ASSERT_FATAL(*row != '\0');
		/* PLUGIN, STATE and LAST ERROR start where their values do;
		 * CURSOR and LAG end where theirs do */
		CU_ASSERT_EQUAL(column_at(row, 1, 0), column_at(header, 1, 0));
		CU_ASSERT_EQUAL(column_at(row, 2, 0), column_at(header, 2, 0));
		CU_ASSERT_EQUAL(column_at(row, 3, 1), column_at(header, 3, 1));
		CU_ASSERT_EQUAL(column_at(row, 4, 1), column_at(header, 4, 1));
		CU_ASSERT_EQUAL(column_at(row, 5, 0), column_at(header, 5, 0));
	}
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* The table's row of each export says what --json says of it: name,
 * plugin, state, cursor, lag and no last error; no backfill line when none
 * was asked for.  Dead letters: at most 100 listed, each with its reason,
 * and how many there are in all (`dead_letters_total`): "100 shown" did
 * not say whether 101 or a million waited. */
static void test_exports_table_says_what_json_says_and_lists_dead_letters(void)
{
	char *json_argv[] = {"exports", "--json", NULL}, *table_argv[] = {"exports", NULL};
	char *plugins, *out, *said;
	struct testhub *th = exports_world(&plugins);
	json_t *status, *e;
	size_t i;

	if (teststore_is_pg())
		goto out; /* the dead letters are written with SQLite */
	store_dead_letters(th, "x", 101);
	store_dead_letters(th, "y", 1);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, json_argv, 0, NULL, &out, &said), CLI_OK);
	status = json_loads(out, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(status);
	free(out);
	free(said);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, table_argv, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(status, "exports")), 2);
	json_array_foreach(json_object_get(status, "exports"), i, e) {
		char want[256], got[256] = "";
		const char *row = table_row(out, json_string_value(json_object_get(e, "name")));

		snprintf(want, sizeof(want), "%s %s %s %lld %lld -",
			 json_string_value(json_object_get(e, "name")),
			 json_string_value(json_object_get(e, "plugin")),
			 json_string_value(json_object_get(e, "state")),
			 (long long)json_integer_value(json_object_get(e, "cursor")),
			 (long long)json_integer_value(json_object_get(e, "lag")));
		words_of_line(row, got, sizeof(got));
		CU_ASSERT_STRING_EQUAL(got, want);
	}
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(json_object_get(status,
		"exports"), 0), "lag")) > 0);
	CU_ASSERT_PTR_NULL(strstr(out, "backfill of"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ndead letters of x (100 of 101 shown, lowest seq"
				      " first):\n"));
	/* and where the others are */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  (the next ones: profilehub exports dead-letters x"
				      " --after 100)\n"));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(json_object_get(status,
		"exports"), 0), "dead_letters_total")), 101);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ndead letters of y (1):\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(out, "  seq "), 101);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  y refused 1\n"));
	json_decref(status);
	free(out);
	free(said);
out:
	plugin_world_stop(th, plugins);
}

/* A dead letter's change: an erasure of p_gone, whole, so that a retry
 * sends it again (one without its profile is left as it is). */
#define ERASED_CHANGE                                                                   \
	"{\"kind\":\"erased\",\"profile_id\":\"p_gone\",\"identifier_types\":[\"custom_id\"]}"

/* The dead letters of export `name` at seqs 10, 20, ... (n of them),
 * through the store's own writes (either store). */
static void put_dead_letters(struct testhub *th, const char *name, int n)
{
	struct store *s = th->reader;

	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	for (int i = 1; i <= n; i++) {
		char reason[32];
		struct store_dead_letter d = {name, 10 * i, "p_gone", 1000, reason,
					      ERASED_CHANGE};

		snprintf(reason, sizeof(reason), "refused %d", 10 * i);
		CU_ASSERT_EQUAL_FATAL(s->ops->dead_letter_put(s, &d), 0);
	}
	CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
}

/* `profilehub exports` lists the first 100 dead letters: `exports
 * dead-letters NAME` pages through them all, --limit a page after --after
 * SEQ, the next page's option on stderr (as `profile` says its), --json
 * the document GET /v1/exports/<name>/dead_letters answers.  A bad
 * --limit or --after is a misuse naming it; an unknown export a failure. */
static void test_exports_dead_letters_pages_after_a_seq(void)
{
	char *first[] = {"exports", "dead-letters", "x", "--limit", "2", NULL};
	char *last[] = {"exports", "dead-letters", "x", "--after", "20", "--limit", "2", NULL};
	char *json[] = {"exports", "dead-letters", "--json", "x", "--after", "10", NULL};
	char *zero[] = {"exports", "dead-letters", "x", "--limit", "0", NULL};
	char *word[] = {"exports", "dead-letters", "x", "--after", "ten", NULL};
	char *none[] = {"exports", "dead-letters", NULL};
	char *nope[] = {"exports", "dead-letters", "nope", NULL};
	char *plugins, *out = NULL, *said = NULL;
	struct testhub *th = exports_world(&plugins);
	json_t *page;

	put_dead_letters(th, "x", 4);
	put_dead_letters(th, "y", 1);
	expect_run(th, NULL, cmd_exports, first, CLI_OK,
		   "dead letters of x after seq 0: 2 shown of 4, lowest seq first\n"
		   "  seq 10         ",
		   "more dead letters follow: the same command with --after 20\n");
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, last, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT_EQUAL(testlib_lines_with(out, "  seq "), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  refused 30\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  refused 40\n"));
	CU_ASSERT_STRING_EQUAL(said, ""); /* the last page */
	free(out);
	free(said);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, json, 0, NULL, &out, &said), CLI_OK);
	page = json_loads(out, 0, NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(page, "dead_letters")), 3);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(page, "dead_letters_total")), 4);
	CU_ASSERT(json_is_null(json_object_get(page, "next")));
	json_decref(page);
	free(out);
	free(said);
	expect_run(th, NULL, cmd_exports, zero, CLI_USAGE, NULL,
		   "--limit: \"0\" is not a number from 1 to 1000");
	expect_run(th, NULL, cmd_exports, word, CLI_USAGE, NULL, "--after: \"ten\" is not a number");
	expect_run(th, NULL, cmd_exports, none, CLI_USAGE, NULL, "takes one export NAME");
	expect_run(th, NULL, cmd_exports, nope, CLI_FAIL, NULL, "nope");
	/* a full disk: exit 1, said */
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, first, RUN_FULL, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "cannot write to stdout"));
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* A configuration "plain.yaml" of th's store without exports, for a hub
 * beside one running th's, whose exports the store knows (registered as
 * that hub does when it starts).  config_free() it. */
static struct hub_config *elsewhere_config(struct testhub *th)
{
	struct hub_config *plain = NULL;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(config_load_string("plain.yaml", th->store_yaml, &plain, err,
						 sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(export_known_register(th->reader, th->cfg), 0);
	return plain;
}

/* exports_world() with *plain its elsewhere_config(), the dead letters of x
 * (2: seqs 10, 20) and of "gone" (1), an export no configuration has. */
static struct testhub *elsewhere_world(char **plugins, struct hub_config **plain)
{
	struct testhub *th = exports_world(plugins);

	*plain = elsewhere_config(th);
	put_dead_letters(th, "x", 2);
	put_dead_letters(th, "gone", 1);
	return th;
}

/* An export of another hub's configuration (the store knows it, `exports`
 * names it) has its dead letters listed too: hubs sharing a store each
 * run exports of their own, and one's dead letters could not be read
 * from the others ("no export named x").  A name neither the
 * configuration nor the store knows is a failure saying both, with the
 * export it may have meant; one with dead letters the store does not know
 * (forgotten meanwhile) as well. */
static void test_exports_dead_letters_of_an_export_known_elsewhere(void)
{
	char *x[] = {"exports", "dead-letters", "x", NULL};
	char *typo[] = {"exports", "dead-letters", "xx", NULL};
	char *gone[] = {"exports", "dead-letters", "gone", NULL};
	char *plugins;
	struct hub_config *plain;
	struct testhub *th = elsewhere_world(&plugins, &plain);

	expect_run(th, plain, cmd_exports, x, CLI_OK,
		   "dead letters of x after seq 0: 2 shown of 2, lowest seq first\n"
		   "  seq 10 ", "");
	expect_run(th, plain, cmd_exports, typo, CLI_FAIL, "",
		   "no export named \"xx\" in plain.yaml (no export configured), nor does the"
		   " store know it from another configuration (did you mean \"x\"?; the store"
		   " knows, outside the configuration: x, y)\n");
	expect_run(th, plain, cmd_exports, gone, CLI_FAIL, "",
		   "no export named \"gone\" in plain.yaml");
	config_free(plain);
	plugin_world_stop(th, plugins);
}

/* How many dead letters export `name` has in th's store. */
static int64_t dead_letters_total(struct testhub *th, const char *name)
{
	struct store *s = th->reader;
	int64_t n = -1;

	CU_ASSERT_EQUAL(s->ops->dead_letter_count(s, name, &n), 0);
	return n;
}

/* As another process running export `name` would: its lease taken on
 * th's reader (release_export_lease() gives it back). */
static void hold_export_lease(struct testhub *th, const char *name)
{
	char lease[300];
	int64_t epoch = 0;

	snprintf(lease, sizeof(lease), "export:%s", name);
	CU_ASSERT_EQUAL_FATAL(th->reader->ops->lease_try(th->reader, lease, &epoch), 1);
}

static void release_export_lease(struct testhub *th, const char *name)
{
	char lease[300];

	snprintf(lease, sizeof(lease), "export:%s", name);
	th->reader->ops->lease_release(th->reader, lease);
}

/* `exports retry NAME` of an export another hub's configuration runs (the
 * store knows it, and that hub holds its lease) sends its dead letters
 * again, from any configuration sharing the store, as the API does: it
 * said "no export named x" while `exports dead-letters x` listed them, and
 * a retry only puts them back in the feed, for the export's worker
 * wherever it runs.  While no process runs it (taken out of every
 * configuration, or its hub stopped) it fails, saying why, its dead
 * letters kept: put back in the feed they waited there for no one, no
 * longer listed, and `exports forget` deleted them.  A name neither the
 * configuration nor the store knows fails, saying so, its dead letters
 * kept. */
static void test_exports_retry_of_an_export_known_elsewhere(void)
{
	char *x[] = {"exports", "retry", "x", NULL};
	char *gone[] = {"exports", "retry", "gone", NULL};
	char *plugins;
	struct hub_config *plain;
	struct testhub *th = elsewhere_world(&plugins, &plain);
	int64_t last = -1, after = -1;

	CU_ASSERT_EQUAL_FATAL(export_outbox_last_seq(th->reader, 0, &last), 0);
	expect_run(th, plain, cmd_exports, x, CLI_FAIL, "",
		   "profilehub: exports: export x is not in this configuration and no process"
		   " runs it now (none holds its lease: the hubs whose configuration has it are"
		   " stopped, or it is disabled there, or no configuration has it any more): its"
		   " dead letters are kept as they are, not put back in the feed for no one to"
		   " send; retry them once a hub runs it, or from one whose configuration has"
		   " it; one that no configuration has any more: profilehub exports forget x\n");
	CU_ASSERT_EQUAL(dead_letters_total(th, "x"), 2);
	CU_ASSERT_EQUAL_FATAL(export_outbox_last_seq(th->reader, 0, &after), 0);
	CU_ASSERT_EQUAL(after, last);
	hold_export_lease(th, "x");
	expect_run(th, plain, cmd_exports, x, CLI_OK, "2 dead letters of x sent again: ", "");
	release_export_lease(th, "x");
	CU_ASSERT_EQUAL(dead_letters_total(th, "x"), 0);
	expect_run(th, plain, cmd_exports, gone, CLI_FAIL, "",
		   "no export named \"gone\" in plain.yaml (no export configured), nor does the"
		   " store know it from another configuration (the store knows, outside the"
		   " configuration: x, y)\n");
	CU_ASSERT_EQUAL(dead_letters_total(th, "gone"), 1);
	config_free(plain);
	plugin_world_stop(th, plugins);
}

/* The hook of export_dead_letters_page(): export x's dead letter of seq 5
 * committed on another connection of th's store (ctx) between the page's
 * reads. */
static void dead_letter_put_between(void *ctx)
{
	struct testhub *th = ctx;
	struct store *s = th->reader;
	struct store_dead_letter d = {"x", 5, "p_gone", 1000, "refused 5", "{\"kind\":\"erased\"}"};

	CU_ASSERT(s->ops->begin(s) == 0 && s->ops->dead_letter_put(s, &d) == 0 &&
		  s->ops->commit(s) == 0);
}

/* What `exports dead-letters x --json` answers in th: the number listed
 * and the total it says. */
static void dead_letters_of_x(struct testhub *th, size_t *n_listed, json_int_t *total)
{
	char *json[] = {"exports", "dead-letters", "x", "--json", NULL};
	char *out = NULL, *said = NULL;
	json_t *page;

	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, json, 0, NULL, &out, &said), CLI_OK);
	page = json_loads(out, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(page);
	*n_listed = json_array_size(json_object_get(page, "dead_letters"));
	*total = json_integer_value(json_object_get(page, "dead_letters_total"));
	json_decref(page);
	free(out);
	free(said);
}

/* `exports dead-letters` reads its page and the total in one snapshot, as
 * GET /v1/exports/<name>/dead_letters does: a dead letter committed
 * between the two reads was in the total, not in the page ("3 shown of 4"
 * on the only page, no next one said). */
static void test_exports_dead_letters_page_and_total_are_one_snapshot(void)
{
	char *plugins;
	struct testhub *th = exports_world(&plugins);
	json_int_t total = -1;
	size_t n = 0;

	put_dead_letters(th, "x", 3);
	export_set_dead_letters_hook(dead_letter_put_between, th);
	dead_letters_of_x(th, &n, &total);
	export_set_dead_letters_hook(NULL, NULL);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(total, 3);
	dead_letters_of_x(th, &n, &total); /* the one committed meanwhile, now seen */
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(total, 4);
	plugin_world_stop(th, plugins);
}

/* One read of th's store that makes a document: export_dead_letters_page()
 * or export_status_json() (ctx: the configuration). */
typedef json_t *doc_read_fn(struct testhub *th, void *ctx, char *err, size_t err_size);

/* `read` with every allocation made to fail in turn (jansson's too), on a
 * connection whose last error is an earlier statement's (an injected
 * fault's, which the first read says): each read that fails says it ran
 * out of memory, never nothing nor that earlier error, and each that does
 * not is the whole document, as read without a failure (a status whose
 * json_object_set_new failed came back with fields missing). */
static void assert_out_of_memory_said(struct testhub *th, doc_read_fn *read, void *ctx)
{
	json_malloc_t saved_malloc;
	json_free_t saved_free;
	char err[256] = "";
	long k, n_tried = 0;
	int n_failed = 0, n_whole = 0;
	json_t *doc, *whole = read(th, ctx, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
	th->reader->fault_calls = 0;
	th->reader->fault_at[0] = 1;
	CU_ASSERT_PTR_NULL(read(th, ctx, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "injected fault: disk I/O error");
	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(hub_malloc, hub_free);
	for (k = 1; k < 10000; k++) {
		snprintf(err, sizeof(err), "unset");
		alloc_fail_only(k);
		doc = read(th, ctx, err, sizeof(err));
		n_tried = alloc_count();
		alloc_fail_after(0);
		if (!doc) {
			n_failed++;
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of memory"));
			CU_ASSERT_PTR_NULL(strstr(err, "injected fault"));
		} else if (json_equal(doc, whole)) {
			n_whole++;
		} else {
			fprintf(stderr, "\n  allocation %ld failed: a document not whole\n", k);
			CU_FAIL("a read that failed an allocation returned part of its document");
		}
		json_decref(doc);
		if (n_tried < k) /* nothing failed: every allocation was tried */
			break;
	}
	json_set_alloc_funcs(saved_malloc, saved_free);
	json_decref(whole);
	CU_ASSERT(n_failed > 0);
	CU_ASSERT(n_whole > 0); /* the last read, at least */
	CU_ASSERT(k < 10000);
}

static json_t *page_read(struct testhub *th, void *ctx, char *err, size_t err_size)
{
	(void)ctx;
	return export_dead_letters_page(th->reader, "x", 0, 2, err, err_size);
}

/* A page that cannot be made for want of memory says so in err, at
 * whichever allocation fails: the document's own (json_pack) left err as
 * it was, which `exports dead-letters` then printed unset. */
static void test_exports_dead_letters_page_out_of_memory_says_so(void)
{
	char *plugins;
	struct testhub *th = exports_world(&plugins);

	put_dead_letters(th, "x", 3);
	assert_out_of_memory_said(th, page_read, NULL);
	plugin_world_stop(th, plugins);
}

static json_t *status_read(struct testhub *th, void *ctx, char *err, size_t err_size)
{
	return export_status_json(NULL, th->reader, ctx, 100, err, err_size);
}

/* A status that cannot be made for want of memory says so too, in its
 * exports' part and in "elsewhere" (read with a configuration without
 * exports): it said the store's last error, an earlier statement's on the
 * connection GET /v1/exports keeps, and nothing when its document's own
 * json_pack failed. */
static void test_exports_status_out_of_memory_says_so(void)
{
	struct hub_config *plain;
	char *plugins;
	struct testhub *th = elsewhere_world(&plugins, &plain);

	assert_out_of_memory_said(th, status_read, th->cfg);
	assert_out_of_memory_said(th, status_read, plain);
	config_free(plain);
	plugin_world_stop(th, plugins);
}

/* What `exports enable NAME` prints in exports_world() (malloc'd): on
 * stdout when it exits want_rc CLI_OK, else on stderr. */
static char *exports_enable_out(char *name, int want_rc)
{
	char *argv[] = {"exports", "enable", name, NULL};
	char *plugins, *out = NULL, *said = NULL;
	struct testhub *th = exports_world(&plugins);

	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, argv, 0, NULL, &out, &said), want_rc);
	plugin_world_stop(th, plugins);
	if (want_rc == CLI_OK) {
		free(said);
		return out;
	}
	free(out);
	return said;
}

/* `exports enable` of an export the store has enabled says where a
 * disable it cannot see lives: a running hub whose store refused to save
 * one keeps it in memory, shown and enabled over its API.  It said "not
 * disabled", of an export the hub's GET /v1/exports showed disabled. */
static void test_exports_enable_of_an_enabled_export_names_the_hubs_api(void)
{
	char *out = exports_enable_out("x", CLI_OK);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "export x is not disabled in the store: nothing to"
				      " enable there"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "GET /v1/exports says so, and POST"
				      " /v1/exports/x/enable enables it"));
	free(out);
}

/* `exports enable` of an export its configuration has off says so, and
 * fails (exit 1) as the API's 409 off: it said "not disabled: nothing to
 * enable", then that it was off but exited 0, so a script went on as if
 * the export delivered. */
static void test_exports_enable_of_an_export_off_in_the_config_says_so(void)
{
	char *out = exports_enable_out("y", CLI_FAIL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "profilehub: exports: export y is off in (test)"
				      " (enabled: false): no hub delivers it until its entry"
				      " there says enabled: true\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "nothing to enable"));
	free(out);
}

/* The line of text that starts with `start` (malloc'd), or NULL. */
static char *line_with(const char *text, const char *start)
{
	const char *line = text;

	while (*line) {
		size_t len = strcspn(line, "\n");

		if (starts_with(line, start))
			return strndup(line, len);
		line += len + (line[len] == '\n');
	}
	return NULL;
}

/* A backfill asked for of a disabled export says what it waits for; of an
 * enabled one, that the running hub sends it.  `exports` shows each
 * backfill, what it waits for, and when it finished once done. */
static void test_exports_backfill_says_whether_it_waits(void)
{
	char *of_y[] = {"exports", "backfill", "y", NULL};
	char *of_x[] = {"exports", "backfill", "x", NULL}, *list[] = {"exports", NULL};
	struct export_backfill done = {.state = BACKFILL_DONE, .sent = 1,
				       .started_at_ms = 1767225600000,
				       .finished_at_ms = 1767225660000};
	char *plugins, *out, *said, *x_line, *y_line;
	struct testhub *th = exports_world(&plugins);

	expect_run(th, NULL, cmd_exports, of_y, CLI_OK,
		   "backfill of y asked for and recorded; it waits: ", NULL);
	expect_run(th, NULL, cmd_exports, of_x, CLI_OK,
		   "backfill of x asked for: the hub running it sends", NULL);
	CU_ASSERT_EQUAL_FATAL(export_backfill_put(th->reader, "x", &done), 0);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_exports, list, 0, NULL, &out, &said), CLI_OK);
	x_line = line_with(out, "backfill of x: done, 1 profile, started ");
	y_line = line_with(out, "backfill of y: running, 0 profiles, started ");
	CU_ASSERT_FATAL(x_line && y_line);
	CU_ASSERT_PTR_NOT_NULL(strstr(x_line, ", finished "));
	CU_ASSERT_PTR_NULL(strstr(y_line, ", finished "));
	CU_ASSERT_PTR_NOT_NULL(strstr(y_line, "; waiting: "));
	free(x_line);
	free(y_line);
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* exports retry NAME says how many dead letters it sent again (and takes
 * one NAME only).  One of an export off in the configuration (y, enabled:
 * false) that no other process runs stays: no hub would send it. */
static void test_exports_retry_says_how_many_dead_letters_went_again(void)
{
	char *retry[] = {"exports", "retry", "x", NULL};
	char *off[] = {"exports", "retry", "y", NULL};
	char *two[] = {"exports", "retry", "y", "x", NULL};
	char *plugins;
	struct testhub *th = exports_world(&plugins);

	if (teststore_is_pg())
		goto out; /* the dead letters are written with SQLite */
	store_dead_letters(th, "x", 3);
	store_dead_letters(th, "y", 2);
	expect_run(th, NULL, cmd_exports, retry, CLI_OK, "3 dead letters of x sent again: ", NULL);
	expect_run(th, NULL, cmd_exports, retry, CLI_OK, "0 dead letters of x sent again: ", NULL);
	expect_run(th, NULL, cmd_exports, off, CLI_FAIL, "",
		   "profilehub: exports: export y is off in this configuration (enabled: false)"
		   " and no process runs it now (none holds its lease: ");
	CU_ASSERT_EQUAL(dead_letters_total(th, "y"), 2);
	hold_export_lease(th, "y"); /* another hub runs it */
	expect_run(th, NULL, cmd_exports, off, CLI_OK, "2 dead letters of y sent again: ", NULL);
	release_export_lease(th, "y");
	expect_run(th, NULL, cmd_exports, two, CLI_USAGE, NULL,
		   "exports: retry takes one export NAME, 2 given\n");
out:
	plugin_world_stop(th, plugins);
}

/* An export the configuration no longer has but the store knows is named
 * with its cursor; forgotten, it is not known any more, and forgetting it
 * again says there was nothing to forget. */
static void test_exports_names_an_export_known_elsewhere_and_forgets_it_once(void)
{
	char *list[] = {"exports", NULL}, *forget[] = {"exports", "forget", "x", NULL};
	char *forget_yy[] = {"exports", "forget", "yy", NULL};
	char *plugins;
	struct testhub *th = exports_world(&plugins);
	struct hub_config *plain = elsewhere_config(th);

	expect_run(th, plain, cmd_exports, list, CLI_OK,
		   "no exports configured in plain.yaml\n"
		   "export x: not in this configuration, known to the store", NULL);
	expect_run(th, plain, cmd_exports, forget, CLI_OK, "export x forgotten: ", NULL);
	expect_run(th, plain, cmd_exports, forget, CLI_OK,
		   "the store did not know an export x: nothing to forget (the store knows,"
		   " outside the configuration: y)\n", NULL);
	/* a typo is named with the export it may have meant, which still
	 * holds the feed */
	expect_run(th, plain, cmd_exports, forget_yy, CLI_OK,
		   "the store did not know an export yy: nothing to forget (did you mean \"y\"?;"
		   " the store knows, outside the configuration: y)\n", NULL);
	expect_run(th, plain, cmd_exports, list, CLI_OK,
		   "no exports configured in plain.yaml\nexport y: not in this configuration",
		   NULL);
	config_free(plain);
	plugin_world_stop(th, plugins);
}

/* ---- sync (cli_sync.c) ---------------------------------------------- */

/* A world whose pull sources of the reject_lines plugin read the items
 * `sources` lists (YAML: "  - {name: ..., plugin: reject_lines, lines: [..]}"
 * lines; example and gated_pull sources too); *plugins: its plugin dir. */
static struct testhub *sync_world(const char *sources, char **plugins)
{
	static const char *const links[] = {"reject_lines.so", "tests/plugins/reject_lines.so",
					    "segment.so", "plugins/segment.so", "odd_messages.so",
					    "tests/plugins/odd_messages.so", "example.so",
					    "plugins/example.so", "gated_pull.so",
					    "tests/plugins/gated_pull.so", NULL};
	struct testhub *th;
	char *yaml;

	*plugins = testlib_plugin_dir(links);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*plugins);
	CU_ASSERT_FATAL(asprintf(&yaml, "plugin_dir: %s\nsources:\n%s", *plugins, sources) > 0);
	th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	return th;
}

/* The summary: the counts, the warnings and the cursor on stdout, each
 * distinct reason on stderr, and the count of all rejected when reasons
 * repeat; no progress line when stderr is not a terminal.  Lines that have
 * nothing to say (warnings 0, "in all" of one) are not printed.  --full
 * reads from the start again. */
static void test_sync_summary_says_counts_reasons_and_cursor(void)
{
	static const char sources[] =
		"  - {name: a, plugin: reject_lines, lines: [u1, '!no', '!no', 'w:u2']}\n"
		"  - {name: b, plugin: reject_lines, lines: [u3, '!once']}\n"
		"  - {name: f, plugin: reject_lines, lines: [FAIL]}\n";
	char *a[] = {"sync", "a", NULL}, *a_full[] = {"sync", "--full", "a", NULL};
	char *b[] = {"sync", "b", NULL}, *f[] = {"sync", "f", NULL};
	char *plugins, *out, *said;
	struct testhub *th = sync_world(sources, &plugins);

	CU_ASSERT_EQUAL(run_cmd(th, cmd_sync, a, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT(starts_with(out, "read 4, applied 2, duplicates 0, rejected 2, blocked 0, "
				     "refused 0\nwarnings 1 ("));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ")\ncursor done\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "retries"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: sync: a: rejected: no"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "profilehub: sync: a: ... 2 rejected in all\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: sync: a: warning: attributes."), 1);
	CU_ASSERT_PTR_NULL(strstr(said, "rows/s"));
	free(out);
	free(said);
	expect_run(th, NULL, cmd_sync, a_full, CLI_OK,
		   "read 4, applied 0, duplicates 2, rejected 2, ", NULL);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_sync, b, 0, NULL, &out, &said), CLI_OK);
	CU_ASSERT_STRING_EQUAL(out, "read 2, applied 1, duplicates 0, rejected 1, blocked 0, "
				    "refused 0\ncursor done\n");
	CU_ASSERT_STRING_EQUAL(said, "profilehub: sync: b: rejected: once\n");
	free(out);
	free(said);
	CU_ASSERT_EQUAL(run_cmd(th, cmd_sync, f, 0, NULL, &out, &said), CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ncursor (none)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "profilehub: sync: f: "));
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* On a terminal, the progress line counts the rows and the last one ends
 * its line. */
static void test_sync_progress_line_on_a_tty_ends_its_line(void)
{
	char *argv[] = {"sync", "a", NULL}, *plugins, *out, *said;
	struct testhub *th = sync_world("  - {name: a, plugin: reject_lines, lines: [u1, u2]}\n",
					&plugins);

	CU_ASSERT_EQUAL(run_cmd(th, cmd_sync, argv, RUN_TTY, NULL, &out, &said), CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "\r2 rows, "));
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "s elapsed\033[K\r\n"));
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
}

/* On a terminal, a progress line comes at most once in 250 ms however many
 * pages commit (60 here, one a line), and the last one always: the first
 * page's, one for each 250 ms the sync took, and the final one. */
static void test_sync_progress_lines_come_once_in_250_ms(void)
{
	char *argv[] = {"sync", "ex", NULL}, *plugins, *out, *said, *path, *text, *sources;
	char *dir = testlib_mkdtemp();
	struct testhub *th;
	size_t len = 0;
	int64_t began_ms, took_ms;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	text = calloc(60, 80);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (int i = 0; i < 60; i++)
		len += (size_t)snprintf(text + len, 80, "{\"user_id\": \"u%d\", \"id\": \"m%d\"}\n",
					i, i);
	path = testlib_write_file(dir, "in.jsonl", text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	CU_ASSERT_FATAL(asprintf(&sources, "  - {name: ex, plugin: example, path: %s, batch: 1}\n",
				 path) > 0);
	th = sync_world(sources, &plugins);
	began_ms = time_mono_ms();
	rc = run_cmd(th, cmd_sync, argv, RUN_TTY, NULL, &out, &said);
	took_ms = time_mono_ms() - began_ms;
	CU_ASSERT_EQUAL(rc, CLI_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "\r60 rows, "));
	CU_ASSERT(testlib_count_of(said, " rows, ") >= 2);
	CU_ASSERT(testlib_count_of(said, " rows, ") <= 2 + took_ms / 250);
	free(out);
	free(said);
	plugin_world_stop(th, plugins);
	free(sources);
	free(path);
	free(text);
	testlib_rmtree(dir);
	free(dir);
}

/* Another process taking gated_pull's lease mid-sync, as its take would
 * (the lease's epoch bumped once page c2 committed), then opening the gate. */
struct lease_thief {
	struct testhub *th;
	char *gate_dir;
	int has_bumped;
};

static void *lease_thief_main(void *arg)
{
	struct lease_thief *t = arg;
	struct store *r = t->th->reader;
	char key[300], value[64] = "", *gate;

	sync_cursor_key("gp", key, sizeof(key));
	for (int64_t until = time_mono_ms() + 10000; time_mono_ms() < until;) {
		struct timespec pause = {0, 2 * 1000 * 1000};

		if (r->ops->meta_get(r, key, value, sizeof(value)) == 1 &&
		    strcmp(value, "c2") == 0)
			break;
		nanosleep(&pause, NULL);
	}
	if (strcmp(value, "c2") == 0 &&
	    r->ops->meta_get(r, "lease_epoch:sync:gp", value, sizeof(value)) == 1) {
		snprintf(value, sizeof(value), "%lld", strtoll(value, NULL, 10) + 1);
		t->has_bumped = r->ops->meta_put(r, "lease_epoch:sync:gp", value) == 0;
	}
	gate = testlib_write_file(t->gate_dir, "gate", "");
	free(gate);
	return NULL;
}

/* A sync whose lease another process took mid-sync stops at its next page:
 * the cursor stays at the last page committed before, exit 1, and the
 * error says the lease was lost (not a stop asked for). */
static void test_sync_stops_when_its_lease_is_lost_mid_sync(void)
{
	char *argv[] = {"sync", "gp", NULL}, *plugins, *out, *said, *sources;
	struct lease_thief t = {.gate_dir = testlib_mkdtemp()};
	pthread_t thief;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t.gate_dir);
	CU_ASSERT_FATAL(asprintf(&sources, "  - {name: gp, plugin: gated_pull, gate: %s/gate}\n",
				 t.gate_dir) > 0);
	t.th = sync_world(sources, &plugins);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&thief, NULL, lease_thief_main, &t), 0);
	rc = run_cmd(t.th, cmd_sync, argv, 0, NULL, &out, &said);
	pthread_join(thief, NULL);
	CU_ASSERT(t.has_bumped);
	CU_ASSERT_EQUAL(rc, CLI_FAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ncursor c2\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, "profilehub: sync: gp: lease lost: "
					   "lease_epoch:sync:gp is "), 1);
	free(out);
	free(said);
	plugin_world_stop(t.th, plugins);
	free(sources);
	testlib_rmtree(t.gate_dir);
	free(t.gate_dir);
}

/* sync refuses a source it cannot pull: disabled, of a push plugin (said
 * to be one), or whose instance cannot start (its plugin's message); a
 * name no source has is offered the pull sources only, never a push one
 * it is closest to; and takes one SOURCE, which is needed. */
static void test_sync_refuses_what_it_cannot_pull(void)
{
	static const char sources[] =
		"  - {name: off, plugin: reject_lines, enabled: false}\n"
		"  - {name: push, plugin: segment, write_keys: [k]}\n"
		"  - {name: odd, plugin: odd_messages, unterminated: create}\n";
	static const struct {
		char *argv[4];
		int rc;
		const char *said;
	} runs[] = {
		{{"sync", "off", NULL}, CLI_FAIL,
		 "sync: source \"off\" is disabled (enabled: false)\n"},
		{{"sync", "push", NULL}, CLI_FAIL,
		 "sync: source \"push\" (plugin segment) is a push source: it is not synced"
		 " (its data is sent to the hub over HTTP)\n"},
		{{"sync", "puhs", NULL}, CLI_FAIL, " (pull sources: off, odd)\n"},
		{{"sync", "od", NULL}, CLI_FAIL,
		 "(did you mean \"odd\"?; pull sources: off, odd)\n"},
		{{"sync", "odd", NULL}, CLI_FAIL,
		 "profilehub: sources[2] \"odd\" (plugin odd_messages): x"},
		{{"sync", NULL}, CLI_USAGE, "sync: the SOURCE to pull is needed\n"},
		{{"sync", "off", "push", NULL}, CLI_USAGE, "sync: unexpected argument \"push\"\n"},
		{{"sync", "-x", NULL}, CLI_USAGE, "sync: unexpected argument \"-x\"\n"},
	};
	char *plugins;
	struct testhub *th = sync_world(sources, &plugins);

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		expect_run(th, NULL, cmd_sync, (char **)runs[i].argv, runs[i].rc, NULL,
			   runs[i].said);
	expect_run(th, NULL, cmd_sync, (char *[]){"sync", "puhs", NULL}, CLI_FAIL, NULL,
		   "sync: no pull source named \"puhs\" in ");
	plugin_world_stop(th, plugins);
}

/* ---- cli.c: what the subcommands share ---------------------------------- */

/* A struct cli of a config file holding `yaml` (in the new temp dir *dir),
 * named by -c when is_explicit. */
static struct cli cli_of_file(const char *yaml, int is_explicit, char **dir, char **path)
{
	struct cli cli = {.is_config_explicit = is_explicit};

	*dir = testlib_mkdtemp();
	CU_ASSERT_PTR_NOT_NULL_FATAL(*dir);
	*path = testlib_write_file(*dir, "hub.yaml", yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*path);
	cli.config_path = *path;
	return cli;
}

static void cli_of_file_free(struct cli *cli, char *dir, char *path)
{
	config_free(cli->cfg);
	testlib_rmtree(dir);
	free(dir);
	free(path);
}

/* Every command loads its config once: a second call keeps the first. */
static void test_cli_load_config_loads_the_file_once(void)
{
	char *dir, *path;
	struct cli cli = cli_of_file("store: {path: x.db}\n", 1, &dir, &path);
	const struct hub_config *first;

	CU_ASSERT_EQUAL_FATAL(cli_load_config(&cli), 0);
	first = cli.cfg;
	CU_ASSERT_EQUAL(cli_load_config(&cli), 0);
	CU_ASSERT_PTR_EQUAL(cli.cfg, first);
	cli_of_file_free(&cli, dir, path);
}

/* A file named by -c that is not there is an error naming it, not the
 * defaults (those are for no conf/hub.yaml at the default place). */
static void test_cli_load_config_refuses_a_named_file_not_there(void)
{
	char *dir, *path, *said;
	struct cli cli = cli_of_file("{}\n", 1, &dir, &path);
	struct testlib_capture c;
	char missing[512];

	snprintf(missing, sizeof(missing), "%s/none.yaml", dir);
	cli.config_path = missing;
	testlib_capture_begin(&c);
	CU_ASSERT_EQUAL(cli_load_config(&cli), -1);
	said = testlib_capture_end(&c);
	CU_ASSERT_PTR_NULL(cli.cfg);
	CU_ASSERT(said && strstr(said, "none.yaml") && !strstr(said, "using the defaults"));
	free(said);
	cli.is_config_explicit = 0; /* the same path as the default: the defaults, said */
	testlib_capture_begin(&c);
	CU_ASSERT_EQUAL(cli_load_config(&cli), 0);
	said = testlib_capture_end(&c);
	CU_ASSERT_PTR_NOT_NULL(cli.cfg);
	CU_ASSERT(said && strstr(said, "none.yaml here: using the defaults"));
	free(said);
	cli_of_file_free(&cli, dir, path);
}

/* The config's log_level sets the level (error, the first, too); a
 * --log-level given wins over it. */
static void test_cli_log_level_flag_wins_over_the_configs(void)
{
	enum hub_log_level saved = log_get_level();
	char *dir, *path;
	struct cli cli = cli_of_file("log_level: error\n", 1, &dir, &path);

	log_set_level(HUB_LOG_DEBUG);
	CU_ASSERT_EQUAL(cli_load_config(&cli), 0);
	CU_ASSERT_EQUAL(log_get_level(), HUB_LOG_ERROR);
	config_free(cli.cfg);
	cli.cfg = NULL;
	cli.has_log_level_flag = 1; /* --log-level debug */
	log_set_level(HUB_LOG_DEBUG);
	CU_ASSERT_EQUAL(cli_load_config(&cli), 0);
	CU_ASSERT_EQUAL(log_get_level(), HUB_LOG_DEBUG);
	log_set_level(saved);
	cli_of_file_free(&cli, dir, path);
}

/* The directories of a new SQLite store are made, mode 0750. */
static void test_cli_open_store_makes_its_directories_0750(void)
{
	char *dir = testlib_mkdtemp(), yaml[512], sub[512];
	char *path = NULL;
	struct cli cli = {.is_config_explicit = 1};
	struct store *s = NULL;
	struct stat st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	snprintf(yaml, sizeof(yaml), "store: {path: %s/a/b/hub.db}\n", dir);
	path = testlib_write_file(dir, "hub.yaml", yaml);
	cli.config_path = path;
	CU_ASSERT_EQUAL_FATAL(cli_load_config(&cli), 0);
	CU_ASSERT_EQUAL_FATAL(cli_open_store(&cli, &s), 0);
	store_close(s);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	CU_ASSERT(stat(sub, &st) == 0 && (st.st_mode & 07777) == 0750);
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	CU_ASSERT(stat(sub, &st) == 0 && (st.st_mode & 07777) == 0750);
	cli_of_file_free(&cli, dir, path);
}

/* A plugin_dir that is not there: the registry is refused, and said. */
static void test_cli_registry_open_names_a_missing_plugin_dir(void)
{
	char *dir, *path, *said;
	struct cli cli = cli_of_file("plugin_dir: /nonexistent/hub-plugins\n", 1, &dir, &path);
	struct plugin_registry reg;
	struct testlib_capture c;

	CU_ASSERT_EQUAL_FATAL(cli_load_config(&cli), 0);
	testlib_capture_begin(&c);
	CU_ASSERT_NOT_EQUAL(cli_registry_open(&cli, &reg), 0);
	said = testlib_capture_end(&c);
	CU_ASSERT(said && strstr(said, "profilehub: plugins: plugin directory "
					  "/nonexistent/hub-plugins: No such file or directory"));
	free(said);
	cli_of_file_free(&cli, dir, path);
}

TEST_SUITE(cli, NULL, NULL,
	   TEST(test_an_import_line_going_on_past_a_failed_emit_fails_the_line),
	   TEST(test_import_puts_back_the_signal_actions_it_replaced),
	   TEST(test_import_progress_line_on_a_tty_counts_the_lines_read),
	   TEST(test_import_log_lines_on_a_tty_erase_the_progress_line),
	   TEST(test_import_names_ten_rejected_lines_and_counts_the_rest),
	   TEST(test_import_shows_ten_warnings_and_counts_the_rest),
	   TEST(test_import_skips_a_byte_order_mark_on_line_one_only),
	   TEST(test_import_of_dash_reads_stdin),
	   TEST(test_import_of_a_closed_stdin_or_a_directory_fails),
	   TEST(test_import_names_the_file_it_cannot_open_in_quotes),
	   TEST(test_import_commit_every_takes_1_to_150000_records),
	   TEST(test_import_refuses_a_source_no_record_may_have),
	   TEST(test_import_counts_each_lines_plugin_warnings_once),
	   TEST(test_import_shows_a_lines_read_warning_before_its_writer_warning),
	   TEST(test_import_drops_the_warnings_of_a_line_not_stored),
	   TEST(test_import_keeps_a_line_crossing_a_full_batch_in_one_batch),
	   TEST(test_import_counts_what_the_plugin_skips),
	   TEST(test_import_stops_reading_at_a_failed_batch),
	   TEST(test_import_rejects_a_line_of_nul_bytes),
	   TEST(test_import_goes_round_the_ring_of_batches),
	   TEST(test_import_keeps_a_line_past_commit_every_in_one_batch),
	   TEST(test_dump_pages_through_501_profiles_each_once),
	   TEST(test_dump_and_profile_carry_20_events_unless_events_says),
	   TEST(test_profile_finds_by_each_lookup_flag),
	   TEST(test_profile_prints_the_api_s_document_with_attribute_meta),
	   TEST(test_profile_prints_64_of_a_shared_email_and_says_more),
	   TEST(test_profile_prints_exactly_64_with_no_note),
	   TEST(test_profile_after_is_for_an_email_or_phone),
	   TEST(test_profile_and_privacy_need_a_lookup),
	   TEST(test_profile_and_privacy_refuse_an_empty_lookup_value),
	   TEST(test_privacy_access_indents_and_erase_says_done),
	   TEST(test_privacy_erase_names_the_session_it_did_not_erase),
	   TEST(test_privacy_takes_an_action_and_a_custom_or_installation_id),
	   TEST(test_privacy_access_to_a_full_disk_names_the_write_error),
	   TEST(test_privacy_erase_to_a_full_disk_says_the_erase_is_done),
	   TEST(test_privacy_access_names_the_exports_as_recipients),
	   TEST(test_exports_table_says_what_json_says_and_lists_dead_letters),
	   TEST(test_exports_dead_letters_pages_after_a_seq),
	   TEST(test_exports_dead_letters_of_an_export_known_elsewhere),
	   TEST(test_exports_retry_of_an_export_known_elsewhere),
	   TEST(test_exports_dead_letters_page_and_total_are_one_snapshot),
	   TEST(test_exports_dead_letters_page_out_of_memory_says_so),
	   TEST(test_exports_status_out_of_memory_says_so),
	   TEST(test_exports_table_columns_fit_their_widest_value),
	   TEST(test_exports_enable_of_an_enabled_export_names_the_hubs_api),
	   TEST(test_exports_enable_of_an_export_off_in_the_config_says_so),
	   TEST(test_exports_backfill_says_whether_it_waits),
	   TEST(test_exports_retry_says_how_many_dead_letters_went_again),
	   TEST(test_exports_names_an_export_known_elsewhere_and_forgets_it_once),
	   TEST(test_sync_summary_says_counts_reasons_and_cursor),
	   TEST(test_sync_progress_line_on_a_tty_ends_its_line),
	   TEST(test_sync_progress_lines_come_once_in_250_ms),
	   TEST(test_sync_stops_when_its_lease_is_lost_mid_sync),
	   TEST(test_sync_refuses_what_it_cannot_pull),
	   TEST(test_cli_load_config_loads_the_file_once),
	   TEST(test_cli_load_config_refuses_a_named_file_not_there),
	   TEST(test_cli_log_level_flag_wins_over_the_configs),
	   TEST(test_cli_open_store_makes_its_directories_0750),
	   TEST(test_cli_registry_open_names_a_missing_plugin_dir))
