/*
 * testlib.h - how a unit test file registers itself with the one CUnit
 * runner (tests/unit/main.c), and small helpers for building a test's own
 * world (temp dirs, files).  A test file ends with:
 *
 *     TEST_SUITE(record, NULL, NULL,
 *                TEST(test_blocked_custom_id_is_absent),
 *                TEST(test_track_without_name_is_rejected))
 */
#ifndef HUB_TESTLIB_H
#define HUB_TESTLIB_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <sys/types.h>

struct test_case {
	const char *name;
	CU_TestFunc fn;
};

void testlib_add_suite(const char *name, CU_InitializeFunc init,
		       CU_CleanupFunc clean, const struct test_case *cases);

#define TEST(fn) { #fn, fn }
#define TEST_SUITE(sname, init, clean, ...)                                    \
	static const struct test_case sname##_cases[] = {__VA_ARGS__, {NULL, NULL}}; \
	__attribute__((constructor)) static void sname##_register(void)        \
	{                                                                      \
		testlib_add_suite(#sname, init, clean, sname##_cases);         \
	}

/* Build directory (HUB_BUILD, default "build"). */
const char *testlib_build_dir(void);
/* A fresh temp dir for this test; removed by testlib_rmtree(). */
char *testlib_mkdtemp(void);
void testlib_rmtree(const char *dir);
/* Writes text to dir/name and returns the malloc'd path. */
char *testlib_write_file(const char *dir, const char *name, const char *text);
/* gzip (wbits 31), zlib (15) or raw deflate (-15) of data; malloc'd. */
char *testlib_compress(int wbits, const char *data, size_t len, size_t *out_len);
/* A fresh temp plugin dir (malloc'd; testlib_rmtree() removes it) with
 * symlinks to built plugins: `links` holds pairs, the name in the dir then
 * the path under the build dir ("tests/plugins/x.so"), NULL-terminated. */
char *testlib_plugin_dir(const char *const *links);
/* Path of a shared/data or tests/fixtures file (malloc'd), or NULL. */
char *testlib_shared_path(const char *rel);

/* stderr into a temp file between testlib_capture_begin() and
 * testlib_capture_end(), which returns all that was written (malloc'd):
 * the log lines of the code between. */
struct testlib_capture {
	char path[32];
	int fd, saved;
};
void testlib_capture_begin(struct testlib_capture *c);
char *testlib_capture_end(struct testlib_capture *c);
/* How many lines of text (a capture's) hold `what`; "" counts every line. */
int testlib_lines_with(const char *text, const char *what);
/* How many times `what` (not "") occurs in text, none overlapping. */
int testlib_count_of(const char *text, const char *what);

/* An HTTP server on 127.0.0.1 in a child process (*port its port): the
 * i-th request it gets is answered with answers[i] and its connection
 * closed, n of them, then it exits; each request (its head and body) is
 * appended to the file `requests` (may be NULL) before it is answered.
 * Its pid (testlib_http_server_stop() ends it), or -1. */
struct testlib_answer {
	int status;
	const char *headers; /* more header lines, each ending "\r\n"; may be NULL */
	const char *body;
};
pid_t testlib_http_server(const struct testlib_answer *answers, size_t n, const char *requests,
			  int *port);
/* testlib_http_server() whose answers echo the requests: the %s of each
 * body (the first) is replaced by the request it answers (head and body;
 * '"', '\\' and control bytes as blanks, so that a JSON string may hold
 * it), as an endpoint that quotes what it refused. */
pid_t testlib_http_echo_server(const struct testlib_answer *answers, size_t n, const char *requests,
			       int *port);
/* Kills and reaps the server `pid`: done, or waiting for a request that
 * never came. */
void testlib_http_server_stop(pid_t pid);
/* An HTTP server on 127.0.0.1 in a child process (*port its port) that
 * answers each request (one connection at a time, for ever) with a 200
 * whose Content-Length promises a megabyte, then trickles it a byte every
 * byte_ms (well above curl's low-speed limit) for at most max_ms before it
 * closes the connection: a stalled answer that never ends by itself.
 * Its pid (testlib_http_server_stop() ends it), or -1. */
pid_t testlib_trickle_server(long byte_ms, long max_ms, int *port);

#endif
