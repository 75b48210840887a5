/*
 * main.c - the CUnit runner for every tests/unit/test_*.c suite.
 * Usage: unit_tests [SUITE | SUITE:TEST ...]  (no argument: every suite;
 * SUITE:TEST one test of it, e.g. util:test_log_levels_are_whole_names,
 * named as CUnit's output names it; a suite's init and cleanup run as for
 * the whole suite).
 * Exit status is non-zero when any test fails or cannot run, or a SUITE
 * or TEST named does not exist.
 * HUB_TEST_TIMES=1: each test's seconds on stderr ("time: SUITE TEST S"),
 * to find where a pass spends its time.
 */
#include "testlib.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_SUITES 128

static struct {
	const char *name;
	CU_InitializeFunc init;
	CU_CleanupFunc clean;
	const struct test_case *cases;
} suites[MAX_SUITES];
static size_t n_suites;

void testlib_add_suite(const char *name, CU_InitializeFunc init,
		       CU_CleanupFunc clean, const struct test_case *cases)
{
	if (n_suites == MAX_SUITES) {
		fprintf(stderr, "testlib: too many suites\n");
		abort();
	}
	suites[n_suites].name = name;
	suites[n_suites].init = init;
	suites[n_suites].clean = clean;
	suites[n_suites].cases = cases;
	n_suites++;
}

const char *testlib_build_dir(void)
{
	const char *b = getenv("HUB_BUILD");
	return b && *b ? b : "build";
}

char *testlib_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/hubtest.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void testlib_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *testlib_write_file(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	f = fopen(path, "w");
	if (!f) {
		free(path);
		return NULL;
	}
	fputs(text, f);
	fclose(f);
	return path;
}

char *testlib_compress(int wbits, const char *data, size_t len, size_t *out_len)
{
	z_stream zs;
	size_t cap = deflateBound(NULL, (uLong)len) + 64;
	char *out = malloc(cap);

	memset(&zs, 0, sizeof(zs));
	CU_ASSERT_FATAL(out && deflateInit2(&zs, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) ==
				       Z_OK);
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	CU_ASSERT_FATAL(deflate(&zs, Z_FINISH) == Z_STREAM_END);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

char *testlib_plugin_dir(const char *const *links)
{
	char *dir = testlib_mkdtemp();

	for (size_t i = 0; dir && links[i]; i += 2) {
		char *from, *to, *abs;
		CU_ASSERT_FATAL(asprintf(&from, "%s/%s", testlib_build_dir(), links[i + 1]) > 0);
		CU_ASSERT_FATAL(asprintf(&to, "%s/%s", dir, links[i]) > 0);
		abs = realpath(from, NULL); /* the build dir may be relative */
		CU_ASSERT_PTR_NOT_NULL(abs);
		CU_ASSERT_EQUAL(symlink(abs ? abs : from, to), 0);
		free(abs);
		free(from);
		free(to);
	}
	return dir;
}

void testlib_capture_begin(struct testlib_capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/hub_log_XXXXXX");
	c->fd = mkstemp(c->path);
	c->saved = dup(2);
	CU_ASSERT_FATAL(c->fd >= 0 && c->saved >= 0);
	fflush(stderr);
	CU_ASSERT_FATAL(dup2(c->fd, 2) == 2);
}

/* The whole captured text, however long (an assertion that a line is absent
 * must see every line), with plain malloc: a test's allocation faults are
 * the hub's (hub/alloc.c), not the harness's. */
char *testlib_capture_end(struct testlib_capture *c)
{
	size_t cap = 8192, len = 0, n;
	char *text = malloc(cap);
	FILE *f;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	close(c->fd);
	f = fopen(c->path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	while ((n = fread(text + len, 1, cap - 1 - len, f)) > 0) {
		len += n;
		if (len == cap - 1) {
			cap *= 2;
			char *more = realloc(text, cap);
			CU_ASSERT_PTR_NOT_NULL_FATAL(more);
			text = more;
		}
	}
	text[len] = '\0';
	fclose(f);
	unlink(c->path);
	return text;
}

int testlib_lines_with(const char *text, const char *what)
{
	int n = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *at = strstr(line, what);
		n += at && (size_t)(at - line) + strlen(what) <= len;
		line = end ? end + 1 : NULL;
	}
	return n;
}

int testlib_count_of(const char *text, const char *what)
{
	int n = 0;

	for (const char *at = text; at && (at = strstr(at, what)); at += strlen(what))
		n++;
	return n;
}

#define REQUEST_MAX 8192 /* what http_server_read() keeps of a request */

/* Reads one request from fd into buf (REQUEST_MAX bytes): its head, then
 * Content-Length bytes of body; appends it to the file `requests` (may be
 * NULL). */
static void http_server_read(int fd, const char *requests, char *buf)
{
	FILE *f;
	char *end = NULL, *cl;
	size_t len = 0, body = 0;
	ssize_t k;

	buf[0] = '\0';
	while (len < REQUEST_MAX - 1 && (k = read(fd, buf + len, REQUEST_MAX - 1 - len)) > 0) {
		len += (size_t)k;
		buf[len] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
		}
		if (end && len >= (size_t)(end + 4 - buf) + body)
			break;
	}
	if (requests && (f = fopen(requests, "a"))) {
		fwrite(buf, 1, len, f);
		fclose(f);
	}
}

/* An echo answer (testlib_http_echo_server): `body` with its %s replaced by
 * the request, whose '"', '\\' and control bytes become blanks so that a
 * JSON string may hold it.  malloc'd, or NULL. */
static char *echo_of(const char *body, char *request)
{
	const char *at = strstr(body, "%s");
	char *out = NULL;

	for (char *p = request; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = ' ';
	if (!at)
		return strdup(body);
	if (asprintf(&out, "%.*s%s%s", (int)(at - body), body, request, at + 2) < 0)
		return NULL;
	return out;
}

/* A socket listening on 127.0.0.1 (*port), and a fork: in the parent
 * (*pid > 0) the socket is closed and -1 returned; in the child (*pid 0)
 * the socket is returned.  -1 with *pid -1 when either failed. */
static int server_fork(int *port, pid_t *pid)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t parent = getpid();

	*pid = -1;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0 && listen(fd, 4) == 0 &&
	    getsockname(fd, (struct sockaddr *)&in, &len) == 0) {
		*port = ntohs(in.sin_port);
		*pid = fork();
	}
	/* a server a test left running (a _FATAL assert returned before its
	 * stop) dies with the pass: it would hold the pass's output open, and
	 * whoever reads it (tests/run.sh) would wait for ever */
	if (*pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
		_exit(1);
	if (*pid != 0 && fd >= 0)
		close(fd);
	return *pid == 0 ? fd : -1;
}

/* testlib_http_server(), its answers echoing the requests or not. */
static pid_t http_server(const struct testlib_answer *answers, size_t n, const char *requests,
			 int *port, int is_echo)
{
	pid_t pid;
	int fd = server_fork(port, &pid);

	if (pid != 0)
		return pid;
	for (size_t i = 0; i < n; i++) {
		const char *body = answers[i].body ? answers[i].body : "";
		int c = accept(fd, NULL, NULL);
		char *text = NULL, *echo = NULL, request[REQUEST_MAX];
		int k;

		if (c < 0)
			_exit(1);
		http_server_read(c, requests, request);
		if (is_echo && !(body = echo = echo_of(body, request)))
			_exit(1);
		k = asprintf(&text, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n"
			     "%s\r\n%s", answers[i].status, strlen(body),
			     answers[i].headers ? answers[i].headers : "", body);
		for (int done = 0, w; k > 0 && done < k; done += w)
			if ((w = (int)write(c, text + done, (size_t)(k - done))) <= 0)
				break;
		free(text);
		free(echo);
		close(c);
	}
	_exit(0);
}

pid_t testlib_http_server(const struct testlib_answer *answers, size_t n, const char *requests,
			  int *port)
{
	return http_server(answers, n, requests, port, 0);
}

pid_t testlib_http_echo_server(const struct testlib_answer *answers, size_t n, const char *requests,
			       int *port)
{
	return http_server(answers, n, requests, port, 1);
}

/* The trickle of testlib_trickle_server on connection c. */
static void trickle_answer(int c, long byte_ms, long max_ms)
{
	static const char head[] = "HTTP/1.1 200 X\r\nContent-Type: application/json\r\n"
				   "Content-Length: 1048576\r\n\r\n{";
	struct timespec d = {byte_ms / 1000, (byte_ms % 1000) * 1000000L};

	if (write(c, head, sizeof(head) - 1) != (ssize_t)sizeof(head) - 1)
		return;
	for (long waited = 0; waited < max_ms; waited += byte_ms) {
		nanosleep(&d, NULL); /* the server's pace, not a synchronisation */
		if (write(c, " ", 1) != 1)
			return; /* the client gave up */
	}
}

pid_t testlib_trickle_server(long byte_ms, long max_ms, int *port)
{
	pid_t pid;
	int fd = server_fork(port, &pid);

	if (pid != 0)
		return pid;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		char request[REQUEST_MAX];

		if (c < 0)
			_exit(1);
		http_server_read(c, NULL, request);
		trickle_answer(c, byte_ms, max_ms);
		close(c);
	}
}

void testlib_http_server_stop(pid_t pid)
{
	int status = 0;

	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
}

char *testlib_shared_path(const char *rel)
{
	static const char *const roots[] = {"../shared", "../../shared", "shared"};
	const char *env = getenv("HUB_SHARED");
	char *path;

	if (env && *env) {
		if (asprintf(&path, "%s/%s", env, rel) < 0)
			return NULL;
		if (access(path, R_OK) != 0)
			fprintf(stderr, "tests: %s: not found (HUB_SHARED=%s)\n", path, env);
		return path;
	}
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if (asprintf(&path, "%s/%s", roots[i], rel) < 0)
			return NULL;
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	/* a clone that is not beside the shared directory (its design docs
	 * and test data) failed the tests that read it with no word of why */
	fprintf(stderr,
		"tests: ../shared/%s not found: set HUB_SHARED to the shared directory"
		" (the design docs' and test data's, beside the repository)\n",
		rel);
	return NULL;
}

/* Does the argument "SUITE" or "SUITE:TEST" name the suite `name`? */
static int arg_names_suite(const char *arg, const char *name)
{
	size_t n = strcspn(arg, ":");

	return strlen(name) == n && strncmp(arg, name, n) == 0;
}

static int suite_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (arg_names_suite(argv[i], name))
			return 1;
	return 0;
}

/* Test `test` of suite `name` runs: no argument, the suite's name alone,
 * or "name:test". */
static int test_selected(const char *name, const char *test, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *colon = strchr(argv[i], ':');
		if (!arg_names_suite(argv[i], name))
			continue;
		if (!colon || strcmp(colon + 1, test) == 0)
			return 1;
	}
	return 0;
}

/* Does suite k hold a test named `test`? */
static int suite_has_test(size_t k, const char *test)
{
	for (const struct test_case *c = suites[k].cases; c->name; c++)
		if (strcmp(c->name, test) == 0)
			return 1;
	return 0;
}

/* Every suite (and test) named on the command line exists: a misspelt or
 * renamed one is an error, not a pass of nothing.  0, or 2 with a
 * message. */
static int suites_named_exist(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *colon = strchr(argv[i], ':');
		size_t k = 0;
		while (k < n_suites && !arg_names_suite(argv[i], suites[k].name))
			k++;
		if (k == n_suites) {
			fprintf(stderr, "unit: no suite is named '%.*s'\n",
				(int)strcspn(argv[i], ":"), argv[i]);
			return 2;
		}
		if (colon && !suite_has_test(k, colon + 1)) {
			fprintf(stderr, "unit: suite '%s' has no test named '%s'\n",
				suites[k].name, colon + 1);
			return 2;
		}
	}
	return 0;
}

/* HUB_TEST_TIMES: every test runs through this, which finds the current
 * test's own function by its suite's and its name and times it. */
static void test_timed(void)
{
	CU_pTest t = CU_get_current_test();
	CU_pSuite su = CU_get_current_suite();
	struct timespec t0, t1;

	for (size_t i = 0; i < n_suites; i++) {
		if (strcmp(suites[i].name, su->pName) != 0)
			continue;
		for (const struct test_case *c = suites[i].cases; c->name; c++) {
			if (strcmp(c->name, t->pName) != 0)
				continue;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			c->fn();
			clock_gettime(CLOCK_MONOTONIC, &t1);
			fprintf(stderr, "\ntime: %s %s %.2f\n", su->pName, t->pName,
				(double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	const char *times = getenv("HUB_TEST_TIMES");
	int is_timed = times && strcmp(times, "1") == 0;
	unsigned failed, ran, n_failed_asserts;

	if (suites_named_exist(argc, argv) || CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t i = 0; i < n_suites; i++) {
		CU_pSuite s;
		if (!suite_selected(suites[i].name, argc, argv))
			continue;
		s = CU_add_suite(suites[i].name, suites[i].init, suites[i].clean);
		if (!s)
			return 2;
		for (const struct test_case *c = suites[i].cases; c->name; c++)
			if (test_selected(suites[i].name, c->name, argc, argv) &&
			    !CU_add_test(s, c->name, is_timed ? test_timed : c->fn))
				return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed();
	ran = CU_get_number_of_tests_run();
	n_failed_asserts = CU_get_number_of_failures();
	failed += CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	fprintf(stderr, "unit: %u tests run, %u failed\n", ran, failed);
	return failed || n_failed_asserts ? 1 : 0;
}
