/*
 * test_linereader.c - suite `linereader`: the bounded line reader that
 * `profilehub import` reads its input with (hub/linereader.c): lines and
 * their exact lengths, a line past the bound skipped and measured, lines
 * longer than the read buffer, read errors and out of memory; gzip input
 * (Segment's S3 archives) inflated as read, one cut short or corrupt, and
 * one followed by zero padding or by garbage; a stop flag that ends a line
 * without end.
 */
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/linereader.h"
#include "../../hub/util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* A stream holding n bytes of text, read from its start. */
static FILE *open_text(const char *text, size_t n)
{
	FILE *f = tmpfile();

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(fwrite(text, 1, n, f), n);
	rewind(f);
	return f;
}

static void expect_line(struct line_reader *r, const char *want, size_t want_len)
{
	char *line = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(line_reader_next(r, &line, &len), LINE_OK);
	CU_ASSERT_EQUAL(len, want_len);
	CU_ASSERT_EQUAL(memcmp(line, want, want_len), 0);
	CU_ASSERT_EQUAL(line[len], '\0');
}

static void test_linereader_splits_lines_keeps_nul_and_a_last_line(void)
{
	static const char text[] = "one\n\ntw\0o\nlast";
	FILE *f = open_text(text, sizeof(text) - 1);
	struct line_reader r;
	char *line;
	size_t len;

	line_reader_init(&r, f, 100);
	expect_line(&r, "one", 3);
	expect_line(&r, "", 0);
	expect_line(&r, "tw\0o", 4);
	expect_line(&r, "last", 4); /* no newline at the end */
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	CU_ASSERT_EQUAL(r.read_errno, 0);
	line_reader_free(&r);
	fclose(f);
}

static void test_linereader_empty_input_has_no_line(void)
{
	FILE *f = open_text("", 0);
	struct line_reader r;
	char *line;
	size_t len;

	line_reader_init(&r, f, 10);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	line_reader_free(&r);
	fclose(f);
}

/* A stream of the one byte 1f (gzip's first, alone): a one-byte line,
 * not a read error, when the read for its second byte finds the end. */
static void test_linereader_a_lone_gzip_first_byte_is_a_line(void)
{
	FILE *f = open_text("\x1f", 1);
	struct line_reader r;
	char *line;
	size_t len;

	line_reader_init(&r, f, 10);
	expect_line(&r, "\x1f", 1);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	CU_ASSERT_EQUAL(r.read_errno, 0);
	line_reader_free(&r);
	fclose(f);
}

/* max bytes is a line; one more is skipped with its length, and the
 * reader goes on at the next line. */
static void test_linereader_skips_a_line_past_its_bound_and_goes_on(void)
{
	static const char text[] = "abcde\nabcdef\nxy\n";
	FILE *f = open_text(text, sizeof(text) - 1);
	struct line_reader r;
	char *line;
	size_t len = 0;

	line_reader_init(&r, f, 5);
	expect_line(&r, "abcde", 5);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_TOO_LONG);
	CU_ASSERT_EQUAL(len, 6);
	expect_line(&r, "xy", 2);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	line_reader_free(&r);
	fclose(f);
}

/* Lines longer than the read buffer, across its refills: kept whole
 * within the bound; past it, measured whole and never held whole. */
static void test_linereader_lines_longer_than_its_buffer(void)
{
	size_t big = 3 * sizeof(((struct line_reader *)0)->buf) + 17;
	char *text = malloc(2 * (big + 1));
	struct line_reader r;
	char *line;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (size_t i = 0; i < big; i++)
		text[i] = text[big + 1 + i] = (char)('a' + i % 26);
	text[big] = text[2 * big + 1] = '\n';
	text[big + 1 + big / 2] = 'X';
	f = open_text(text, 2 * (big + 1));
	line_reader_init(&r, f, big);
	expect_line(&r, text, big);
	CU_ASSERT_EQUAL(r.line_cap < 2 * (big + 1), 1);
	line_reader_free(&r);
	fclose(f);

	f = open_text(text, 2 * (big + 1));
	line_reader_init(&r, f, big - 1);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_TOO_LONG);
	CU_ASSERT_EQUAL(len, big);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_TOO_LONG);
	CU_ASSERT_EQUAL(len, big);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	CU_ASSERT(r.line_cap <= 2 * big); /* held up to the bound, not the line */
	line_reader_free(&r);
	fclose(f);
	free(text);
}

/* A stream that cannot be read (a directory) is an error with its errno,
 * not the end of the input. */
static void test_linereader_read_error_is_not_the_end(void)
{
	char *dir = testlib_mkdtemp();
	FILE *f = fopen(dir, "r");
	struct line_reader r;
	char *line;
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	line_reader_init(&r, f, 10);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_ERROR);
	CU_ASSERT_EQUAL(r.read_errno, EISDIR);
	line_reader_free(&r);
	fclose(f);
	testlib_rmtree(dir);
	free(dir);
}

/* Out of memory is an error that says so (the import prints strerror of
 * read_errno), not a read error of no cause. */
static void test_linereader_out_of_memory_says_enomem(void)
{
	FILE *f = open_text("abc\n", 4);
	struct line_reader r;
	char *line;
	size_t len;
	enum line_result got;

	line_reader_init(&r, f, 10);
	alloc_fail_after(1);
	got = line_reader_next(&r, &line, &len);
	alloc_fail_after(0);
	CU_ASSERT_EQUAL(got, LINE_ERROR);
	CU_ASSERT_EQUAL(r.read_errno, ENOMEM);
	line_reader_free(&r);
	fclose(f);
}

/* Two gzip members one after the other (`cat a.gz b.gz`), the second's
 * lines longer than the read buffer in all: every line, in order. */
static FILE *open_gzip_members(char **plain, size_t *plain_len)
{
	size_t big = 2 * sizeof(((struct line_reader *)0)->buf), n1, n2;
	char *text = malloc(big + 64), *z1, *z2, *both;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	strcpy(text, "{\"a\":1}\r\n{\"b\":2}\n");
	for (size_t i = 0; i < big; i++)
		text[18 + i] = i % 1000 == 999 ? '\n' : (char)('a' + i % 26);
	text[18 + big] = '\n';
	z1 = testlib_compress(31, text, 18, &n1);
	z2 = testlib_compress(31, text + 18, big + 1, &n2);
	both = malloc(n1 + n2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(both);
	memcpy(both, z1, n1);
	memcpy(both + n1, z2, n2);
	f = open_text(both, n1 + n2);
	free(z1);
	free(z2);
	free(both);
	*plain = text;
	*plain_len = 18 + big + 1;
	return f;
}

static void test_linereader_inflates_gzip_members_in_order(void)
{
	struct line_reader r;
	size_t plain_len, at = 0, len;
	char *plain, *line;
	FILE *f = open_gzip_members(&plain, &plain_len);
	enum line_result got;

	line_reader_init(&r, f, 1 << 20);
	while ((got = line_reader_next(&r, &line, &len)) == LINE_OK) {
		CU_ASSERT_FATAL(at + len < plain_len);
		CU_ASSERT_EQUAL(memcmp(line, plain + at, len), 0);
		CU_ASSERT_EQUAL(plain[at + len], '\n');
		at += len + 1;
	}
	CU_ASSERT_EQUAL(got, LINE_END);
	CU_ASSERT_EQUAL(at, plain_len); /* every byte, none twice */
	line_reader_free(&r);
	fclose(f);
	free(plain);
}

/* A gzip file cut short (a download that stopped) or corrupt is an error
 * saying so, after the lines it held whole; never the end of the input. */
static void test_linereader_gzip_cut_short_or_corrupt_is_an_error(void)
{
	static const char text[] = "one\ntwo\nthree\n";
	struct line_reader r;
	size_t n, len;
	char *z = testlib_compress(31, text, sizeof(text) - 1, &n), *line;
	FILE *f = open_text(z, n - 4); /* the trailer's length is missing */
	enum line_result got;

	line_reader_init(&r, f, 100);
	expect_line(&r, "one", 3);
	expect_line(&r, "two", 3);
	expect_line(&r, "three", 5);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_ERROR);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(line_reader_error(&r), "gzip: the compressed data ends early"));
	line_reader_free(&r);
	fclose(f);

	z[n - 8] ^= 0x55; /* the CRC */
	f = open_text(z, n);
	line_reader_init(&r, f, 100);
	while ((got = line_reader_next(&r, &line, &len)) == LINE_OK)
		;
	CU_ASSERT_EQUAL(got, LINE_ERROR);
	CU_ASSERT_EQUAL(r.read_errno, EILSEQ);
	CU_ASSERT_PTR_NOT_NULL(strstr(line_reader_error(&r), "gzip: incorrect data check"));
	line_reader_free(&r);
	fclose(f);
	free(z);
}

/* Reads f to its end: the lines "one" and "two", then LINE_END; closes f. */
static void expect_one_two_end(FILE *f)
{
	struct line_reader r;
	char *line;
	size_t len;

	line_reader_init(&r, f, 100);
	expect_line(&r, "one", 3);
	expect_line(&r, "two", 3);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	line_reader_free(&r);
	fclose(f);
}

/* A gzip file followed by n bytes of `tail` (n > the read buffer: the
 * padding spans reads); *z_len the compressed member's length. */
static FILE *open_gzip_then(const char *text, const char *tail, size_t n, size_t *z_len)
{
	char *z = testlib_compress(31, text, strlen(text), z_len), *all = malloc(*z_len + n);
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(all);
	memcpy(all, z, *z_len);
	memcpy(all + *z_len, tail, n);
	f = open_text(all, *z_len + n);
	free(z);
	free(all);
	return f;
}

/* Zero bytes after the last member (a file padded by tape or dd: gzip(1)
 * says "trailing zero bytes ignored") end the stream after its lines; any
 * other byte after the member, or after the padding, is an error naming
 * gzip and the offset of the byte in the compressed file, a stray byte or
 * two too. */
static void test_linereader_gzip_trailing_zeros_end_garbage_fails(void)
{
	size_t n = 100000, z_len, len;
	char *tail = calloc(1, n), *line, want[64];
	struct line_reader r;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tail);
	expect_one_two_end(open_gzip_then("one\ntwo\n", tail, n, &z_len));

	tail[n - 1] = 'x'; /* garbage after the padding */
	f = open_gzip_then("one\ntwo\n", tail, n, &z_len);
	line_reader_init(&r, f, 100);
	expect_line(&r, "one", 3);
	expect_line(&r, "two", 3);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_ERROR);
	CU_ASSERT_EQUAL(r.read_errno, EILSEQ);
	snprintf(want, sizeof(want), "at byte %zu of the compressed data", z_len + n - 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line_reader_error(&r), "gzip: non-zero bytes after"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line_reader_error(&r), want));
	line_reader_free(&r);
	fclose(f);

	/* no padding: the first byte that starts no member is named, even one
	 * too short to be a member's header (not "cut short") */
	for (size_t k = 1; k <= 8; k += 7) {
		f = open_gzip_then("one\n", "garbage\n", k, &z_len);
		line_reader_init(&r, f, 100);
		expect_line(&r, "one", 3);
		CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_ERROR);
		CU_ASSERT_EQUAL(r.read_errno, EILSEQ);
		snprintf(want, sizeof(want), "at byte %zu of the compressed data", z_len);
		CU_ASSERT_PTR_NOT_NULL(strstr(line_reader_error(&r),
					      "gzip: bytes after the last member that start"
					      " no other"));
		CU_ASSERT_PTR_NOT_NULL(strstr(line_reader_error(&r), want));
		line_reader_free(&r);
		fclose(f);
	}
	free(tail);
}

/* The writer of a pipe: "a\n", then, once the reader has that line (or
 * after 10 s: timed_out), "b\n" and the end. */
struct slow_writer {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t got_a;
	int has_a, timed_out;
};

static void *slow_writer_main(void *arg)
{
	struct slow_writer *w = arg;
	struct timespec until;

	CU_ASSERT_EQUAL(write(w->fd, "a\n", 2), 2);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&w->lock);
	while (!w->has_a && !w->timed_out)
		w->timed_out = pthread_cond_timedwait(&w->got_a, &w->lock, &until) != 0;
	pthread_mutex_unlock(&w->lock);
	CU_ASSERT_EQUAL(write(w->fd, "b\n", 2), 2);
	close(w->fd);
	return NULL;
}

/* A line a pipe holds is read at once, not once 64 KiB more came or the
 * pipe closed (`import -` behind a slow producer). */
static void test_linereader_returns_a_piped_line_without_waiting_for_more(void)
{
	struct slow_writer w = {.lock = PTHREAD_MUTEX_INITIALIZER,
				.got_a = PTHREAD_COND_INITIALIZER};
	struct line_reader r;
	pthread_t writer;
	int fds[2];
	char *line;
	size_t len;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	w.fd = fds[1];
	f = fdopen(fds[0], "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&writer, NULL, slow_writer_main, &w), 0);
	line_reader_init(&r, f, 10);
	expect_line(&r, "a", 1);
	pthread_mutex_lock(&w.lock);
	w.has_a = 1;
	pthread_cond_signal(&w.got_a);
	pthread_mutex_unlock(&w.lock);
	expect_line(&r, "b", 1);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_END);
	pthread_join(writer, NULL);
	CU_ASSERT_FALSE(w.timed_out); /* the first line waited for the pipe's end */
	line_reader_free(&r);
	fclose(f);
}

/* A pipe's writer: the first byte alone, then, once the reader has taken
 * it (the pipe empty: FIONREAD 0), the rest. */
struct dribble {
	int fd;
	const char *bytes;
	size_t n;
};

static void *dribble_write(void *arg)
{
	struct dribble *d = arg;
	int left = 1;

	if (write(d->fd, d->bytes, 1) != 1)
		return NULL;
	while (ioctl(d->fd, FIONREAD, &left) == 0 && left > 0)
		sched_yield();
	if (write(d->fd, d->bytes + 1, d->n - 1) != (ssize_t)(d->n - 1))
		return NULL;
	close(d->fd);
	return d;
}

/* A gzip stream from a pipe whose first read gives its first byte alone
 * (a producer writing as it goes) is inflated still: one byte did not tell
 * gzip from text, and its lines were read as binary text. */
static void test_linereader_gzip_whose_first_read_is_one_byte(void)
{
	static const char text[] = "one\ntwo\n";
	struct dribble d;
	pthread_t t;
	void *wrote;
	int fds[2];
	size_t n;
	char *z = testlib_compress(31, text, sizeof(text) - 1, &n);
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	d = (struct dribble){.fd = fds[1], .bytes = z, .n = n};
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, dribble_write, &d), 0);
	f = fdopen(fds[0], "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	expect_one_two_end(f);
	pthread_join(t, &wrote);
	CU_ASSERT_PTR_NOT_NULL(wrote);
	free(z);
}

/* A stream of zeros without end (/dev/zero) whose first read sets the stop
 * flag; it ends after `left` bytes so that a reader blind to the flag
 * ends too (with the line too long) instead of hanging the suite. */
struct zeros {
	volatile sig_atomic_t *stop;
	size_t left;
	size_t given;
};

static ssize_t zeros_read(void *cookie, char *buf, size_t n)
{
	struct zeros *z = cookie;

	if (n > z->left)
		n = z->left;
	z->left -= n;
	z->given += n;
	*z->stop = 1;
	memset(buf, 0, n);
	return (ssize_t)n;
}

enum { ZEROS_TOTAL = 64 << 16 }; /* 64 reads of the reader's 64 KiB */

/* The stop flag ends a line that has no end, at the next refill (EINTR),
 * as a signal ends a read waiting on a pipe: `profilehub import /dev/zero`
 * (or a file of gigabytes on one line) went on reading after SIGINT or
 * SIGTERM, its "line too long" never reached, and only a second signal
 * ended it, as a crash.  Without a flag, the same stream reads to its end. */
static void test_linereader_a_stop_ends_a_line_without_end(void)
{
	cookie_io_functions_t io = {.read = zeros_read};
	volatile sig_atomic_t stop = 0;
	struct zeros z = {.stop = &stop, .left = ZEROS_TOTAL};
	struct line_reader r;
	char *line;
	size_t len;
	FILE *f = fopencookie(&z, "r", io);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	line_reader_init(&r, f, 10);
	CU_ASSERT_PTR_NULL(r.stop);
	r.stop = &stop;
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_ERROR);
	CU_ASSERT_EQUAL(r.read_errno, EINTR);
	CU_ASSERT(z.given <= 2 * sizeof(r.buf)); /* the first refill's, read ahead */
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_ERROR); /* and stays so */
	line_reader_free(&r);
	fclose(f);

	/* the flag's effect, not the stream's: without one, the same stream is
	 * one line too long, read to its end */
	z = (struct zeros){.stop = &stop, .left = ZEROS_TOTAL};
	f = fopencookie(&z, "r", io);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	line_reader_init(&r, f, 10);
	CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_TOO_LONG);
	CU_ASSERT_EQUAL(len, ZEROS_TOTAL);
	CU_ASSERT_EQUAL(z.left, 0);
	line_reader_free(&r);
	fclose(f);
}

/* Whether bytes past the last line were read, as import's stop asks to
 * say which line it stopped at: a line begun, cut by the stop, is there;
 * a stop right after a newline read nothing of a next line (a pipe whose
 * writer sent all it had: none may come), and a blank line is one. */
static void test_linereader_says_whether_it_read_past_a_line(void)
{
	static const struct {
		const char *text; /* what the pipe holds, its writer open */
		int is_past_one;  /* after "one" */
		enum line_result second;
		int is_past_second;
	} rows[] = {
		{"one\n", 0, LINE_ERROR, 0},   /* stopped between lines */
		{"one\ntw", 1, LINE_ERROR, 1}, /* stopped in line 2 */
		{"one\n\n", 1, LINE_OK, 0},   /* line 2 is blank */
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		volatile sig_atomic_t stop = 0;
		size_t len = strlen(rows[i].text);
		struct line_reader r;
		char *line;
		int fds[2];
		FILE *f;

		CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
		CU_ASSERT_FATAL(write(fds[1], rows[i].text, len) == (ssize_t)len);
		f = fdopen(fds[0], "r");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		line_reader_init(&r, f, 10);
		r.stop = &stop;
		CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), LINE_OK);
		CU_ASSERT_EQUAL(line_reader_has_read_past(&r), rows[i].is_past_one);
		stop = 1; /* the signal, while the import took line 1 */
		CU_ASSERT_EQUAL(line_reader_next(&r, &line, &len), rows[i].second);
		CU_ASSERT_EQUAL(line_reader_has_read_past(&r), rows[i].is_past_second);
		line_reader_free(&r);
		fclose(f);
		close(fds[1]);
	}
}

TEST_SUITE(linereader, NULL, NULL, TEST(test_linereader_splits_lines_keeps_nul_and_a_last_line),
	   TEST(test_linereader_empty_input_has_no_line),
	   TEST(test_linereader_a_lone_gzip_first_byte_is_a_line),
	   TEST(test_linereader_skips_a_line_past_its_bound_and_goes_on),
	   TEST(test_linereader_lines_longer_than_its_buffer),
	   TEST(test_linereader_read_error_is_not_the_end),
	   TEST(test_linereader_out_of_memory_says_enomem),
	   TEST(test_linereader_inflates_gzip_members_in_order),
	   TEST(test_linereader_gzip_cut_short_or_corrupt_is_an_error),
	   TEST(test_linereader_gzip_trailing_zeros_end_garbage_fails),
	   TEST(test_linereader_returns_a_piped_line_without_waiting_for_more),
	   TEST(test_linereader_gzip_whose_first_read_is_one_byte),
	   TEST(test_linereader_a_stop_ends_a_line_without_end),
	   TEST(test_linereader_says_whether_it_read_past_a_line))
