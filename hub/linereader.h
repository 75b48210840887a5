/*
 * linereader.h - reads a stream line by line, holding at most `max` bytes
 * of a line: a longer line is skipped (reported with its length), never
 * buffered whole, so one huge line cannot take the memory a bulk load
 * (import) counts on.  Lines may hold NUL bytes; their length is exact.
 * A stream that starts as gzip does (1f 8b: a Segment S3 archive, a
 * `.jsonl.gz`) is inflated as it is read, its members one after another;
 * zero bytes after the last member (tape or dd padding) are ignored, as
 * gzip(1) ignores them, and any other trailing bytes are an error.
 * A stop flag (a signal's) ends a line in progress, however long.
 */
#ifndef HUB_LINEREADER_H
#define HUB_LINEREADER_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

struct line_gzip;

struct line_reader {
	FILE *in;                /* borrowed */
	size_t max;              /* the longest line kept, newline excluded */
	char *line;              /* owned; the current line, NUL-terminated */
	size_t line_cap;
	char buf[65536];
	size_t pos, end;         /* unread bytes of buf */
	int is_eof;
	int is_started;          /* the first bytes were looked at (gzip?) */
	struct line_gzip *gz;    /* owned; when the stream is gzip */
	int read_errno;          /* after LINE_ERROR: why (ENOMEM: out of memory) */
	int is_in_line;          /* after LINE_ERROR: bytes of the line were read */
	char why[160];           /* after LINE_ERROR: a gzip stream's own error, or "" */
	/* borrowed, optional (NULL from line_reader_init): once *stop is set,
	 * the next refill ends the read, LINE_ERROR with EINTR, as a signal's
	 * EINTR on a pipe does; else a line without end (/dev/zero, a JSON
	 * array of gigabytes on one line) kept a stopped import reading */
	const volatile sig_atomic_t *stop;
};

enum line_result {
	LINE_ERROR = -1,         /* a read error (EINTR too), out of memory, bad gzip */
	LINE_END = 0,            /* no more lines */
	LINE_OK = 1,             /* *line and *len set (newline removed) */
	LINE_TOO_LONG = 2,       /* longer than max and skipped; *len its length */
};

void line_reader_init(struct line_reader *r, FILE *in, size_t max);
void line_reader_free(struct line_reader *r);

/* The next line, in the reader's own buffer: the caller may change it in
 * place (trim it); it stays valid until the next call.  A last line
 * without a newline is a line.  Out of memory reads as LINE_ERROR. */
enum line_result line_reader_next(struct line_reader *r, char **line, size_t *len);

/* After LINE_ERROR: what went wrong, for a message ("gzip: ..." or the
 * text of read_errno). */
const char *line_reader_error(const struct line_reader *r);

/* 1 when bytes past the last line handed out were read (a line that a
 * LINE_ERROR cut, the stop's too, or more in buf): the stream holds
 * another line.  0 says only that none was read (a pipe may send more;
 * compressed bytes not yet inflated are not counted). */
int line_reader_has_read_past(const struct line_reader *r);

#endif
