/*
 * linereader.c - bounded line reading over a FILE, plain or gzip (see
 * linereader.h).
 */
#include "linereader.h"

#include "alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* The inflating side of a gzip stream: compressed bytes in, r->buf out. */
struct line_gzip {
	z_stream z;
	int is_in_member;        /* inside a member (1 from its header to its end) */
	int is_in_eof;           /* the compressed input is all read */
	int is_in_padding;       /* zero bytes after a member (tape/dd padding) */
	unsigned long long read_total; /* compressed bytes read so far */
	unsigned char in[65536];
};

void line_reader_init(struct line_reader *r, FILE *in, size_t max)
{
	r->in = in;
	r->max = max;
	r->line = NULL;
	r->line_cap = 0;
	r->pos = r->end = 0;
	r->is_eof = 0;
	r->is_started = 0;
	r->gz = NULL;
	r->read_errno = 0;
	r->is_in_line = 0;
	r->why[0] = '\0';
	r->stop = NULL;
}

void line_reader_free(struct line_reader *r)
{
	hub_free(r->line);
	r->line = NULL;
	r->line_cap = 0;
	if (r->gz) {
		inflateEnd(&r->gz->z);
		hub_free(r->gz);
		r->gz = NULL;
	}
}

const char *line_reader_error(const struct line_reader *r)
{
	return r->why[0] ? r->why : strerror(r->read_errno ? r->read_errno : EIO);
}

int line_reader_has_read_past(const struct line_reader *r)
{
	return r->is_in_line || r->pos < r->end;
}

/* Appends n bytes at line[at]; 0 or -1 out of memory (read_errno ENOMEM). */
static int line_reader_keep(struct line_reader *r, size_t at, const char *p, size_t n)
{
	if (at + n + 1 > r->line_cap) {
		size_t cap = r->line_cap ? r->line_cap : 256;
		char *grown;
		while (cap < at + n + 1)
			cap *= 2;
		if (!(grown = hub_realloc(r->line, cap))) {
			r->read_errno = ENOMEM;
			return -1;
		}
		r->line = grown;
		r->line_cap = cap;
	}
	memcpy(r->line + at, p, n);
	return 0;
}

/* Up to n bytes of the stream, as they come (a pipe's lines as they are
 * written, a signal's EINTR at once: read(2), not fread's full buffer);
 * through stdio for a stream without a descriptor (fmemopen).  As read. */
static ssize_t line_reader_read(struct line_reader *r, void *buf, size_t n)
{
	int fd = fileno(r->in);
	size_t got;

	if (fd >= 0)
		return read(fd, buf, n);
	got = fread(buf, 1, n, r->in);
	return got == 0 && ferror(r->in) ? -1 : (ssize_t)got;
}

/* Refills buf with the stream's bytes as they are; 1 more bytes, 0 end of
 * stream, -1 read error. */
static int line_reader_fill_raw(struct line_reader *r)
{
	ssize_t n = line_reader_read(r, r->buf, sizeof(r->buf));

	r->pos = 0;
	r->end = n > 0 ? (size_t)n : 0;
	if (n > 0)
		return 1;
	r->is_eof = 1;
	if (n == 0)
		return 0;
	r->read_errno = errno ? errno : EIO;
	return -1;
}

/* A gzip stream's error: -1 with why set (and read_errno).  What the
 * failing inflate gave is dropped: the stream is wrong from there on. */
static int line_reader_gz_fail(struct line_reader *r, int err, const char *what)
{
	r->pos = r->end = 0;
	r->is_eof = 1;
	r->read_errno = err;
	snprintf(r->why, sizeof(r->why), "gzip: %s", what);
	return -1;
}

/* Bad compressed data: as line_reader_gz_fail, with the offset in the
 * compressed file where it was found. */
static int line_reader_gz_bad(struct line_reader *r, const char *what)
{
	struct line_gzip *gz = r->gz;

	line_reader_gz_fail(r, EILSEQ, what);
	snprintf(r->why + strlen(r->why), sizeof(r->why) - strlen(r->why),
		 " at byte %llu of the compressed data", gz->read_total - gz->z.avail_in);
	return -1;
}

/* Between members: skips zero bytes (a file padded by tape or dd; gzip(1)
 * ignores them too).  Once padding began only zeros may follow: 0, or -1
 * a non-zero byte after the padding. */
static int line_reader_gz_skip_padding(struct line_reader *r)
{
	struct line_gzip *gz = r->gz;

	if (gz->is_in_member)
		return 0;
	while (gz->z.avail_in && *gz->z.next_in == 0) {
		gz->is_in_padding = 1;
		gz->z.next_in++;
		gz->z.avail_in--;
	}
	if (gz->z.avail_in && gz->is_in_padding)
		return line_reader_gz_bad(r, "non-zero bytes after the zero padding");
	return 0;
}

/* More compressed input when none is left; 0, or -1 a read error. */
static int line_reader_gz_input(struct line_reader *r)
{
	struct line_gzip *gz = r->gz;
	ssize_t n;

	if (gz->z.avail_in || gz->is_in_eof)
		return 0;
	if ((n = line_reader_read(r, gz->in, sizeof(gz->in))) < 0) {
		r->pos = r->end = 0;
		r->is_eof = 1;
		r->read_errno = errno ? errno : EIO;
		return -1;
	}
	gz->is_in_eof = n == 0;
	gz->read_total += (unsigned long long)n;
	gz->z.next_in = gz->in;
	gz->z.avail_in = (uInt)n;
	return 0;
}

/* Refills buf with inflated bytes; 1, 0 end of stream, -1 error (a read
 * error, corrupt data, a stream cut short). */
static int line_reader_fill_gz(struct line_reader *r)
{
	struct line_gzip *gz = r->gz;
	int zrc;

	r->pos = r->end = 0;
	while (r->end == 0) {
		if (line_reader_gz_input(r) || line_reader_gz_skip_padding(r))
			return -1;
		if (!gz->z.avail_in && !gz->is_in_eof && !gz->is_in_member)
			continue; /* padding up to the end of what was read */
		if (!gz->z.avail_in && gz->is_in_member)
			return line_reader_gz_fail(r, EIO, "the compressed data ends early"
						   " (the file was cut short)");
		if (!gz->z.avail_in) {
			r->is_eof = 1;
			return 0;
		}
		/* a byte that starts no member (gzip's 0x1f): named here, since
		 * one or two of them would read as a member cut short */
		if (!gz->is_in_member && *gz->z.next_in != 0x1f)
			return line_reader_gz_bad(r, "bytes after the last member that start no"
						  " other (nor are zero padding)");
		if (!gz->is_in_member && inflateReset(&gz->z) == Z_OK)
			gz->is_in_member = 1; /* the next member (gzip files concatenated) */
		gz->z.next_out = (unsigned char *)r->buf;
		gz->z.avail_out = sizeof(r->buf);
		zrc = inflate(&gz->z, Z_NO_FLUSH);
		r->end = sizeof(r->buf) - gz->z.avail_out;
		if (zrc == Z_STREAM_END)
			gz->is_in_member = 0;
		else if (zrc == Z_MEM_ERROR)
			return line_reader_gz_fail(r, ENOMEM, "out of memory");
		else if (zrc != Z_OK)
			return line_reader_gz_bad(r, gz->z.msg ? gz->z.msg : "invalid data");
	}
	return 1;
}

/* A first read that gave 1f alone (a pipe written as it goes): the next
 * byte too, to tell gzip from text.  0 (at the end of the stream: its one
 * byte is a line), or -1 a read error. */
static int line_reader_second_byte(struct line_reader *r)
{
	ssize_t n;

	if (r->end != 1 || (unsigned char)r->buf[0] != 0x1f)
		return 0;
	if ((n = line_reader_read(r, r->buf + 1, sizeof(r->buf) - 1)) > 0) {
		r->end += (size_t)n;
		return 0;
	}
	r->is_eof = 1;
	if (n == 0)
		return 0;
	r->pos = r->end = 0;
	r->read_errno = errno ? errno : EIO;
	return -1;
}

/* The first bytes: a gzip stream (1f 8b) is inflated from here on, its
 * bytes read so far its first input.  As line_reader_fill. */
static int line_reader_start(struct line_reader *r)
{
	int rc;

	r->is_started = 1;
	if ((rc = line_reader_fill_raw(r)) <= 0)
		return rc;
	if (line_reader_second_byte(r))
		return -1;
	if (r->end < 2 || (unsigned char)r->buf[0] != 0x1f || (unsigned char)r->buf[1] != 0x8b)
		return 1;
	if (!(r->gz = hub_calloc(1, sizeof(*r->gz))))
		return line_reader_gz_fail(r, ENOMEM, "out of memory");
	if (inflateInit2(&r->gz->z, 16 + MAX_WBITS) != Z_OK) {
		hub_free(r->gz);
		r->gz = NULL;
		return line_reader_gz_fail(r, ENOMEM, "out of memory");
	}
	_Static_assert(sizeof(r->gz->in) >= sizeof(r->buf), "the bytes read so far fit");
	memcpy(r->gz->in, r->buf, r->end);
	r->gz->z.next_in = r->gz->in;
	r->gz->z.avail_in = (uInt)r->end;
	r->gz->read_total = r->end;
	r->gz->is_in_member = 1;
	return line_reader_fill_gz(r);
}

/* Refills buf; 1 more bytes, 0 end of stream, -1 read error (EINTR once
 * the stop flag is set). */
static int line_reader_fill(struct line_reader *r)
{
	if (r->is_eof)
		return 0;
	if (r->stop && *r->stop) {
		r->read_errno = EINTR;
		return -1;
	}
	if (!r->is_started)
		return line_reader_start(r);
	return r->gz ? line_reader_fill_gz(r) : line_reader_fill_raw(r);
}

enum line_result line_reader_next(struct line_reader *r, char **line, size_t *len)
{
	size_t total = 0;
	int has_bytes = 0, rc;

	r->is_in_line = 0;
	for (;;) {
		const char *start, *nl;
		size_t n;

		if (r->pos == r->end && (rc = line_reader_fill(r)) <= 0) {
			if (rc < 0) {
				r->is_in_line = has_bytes;
				return LINE_ERROR;
			}
			if (!has_bytes)
				return LINE_END;
			break; /* a last line without a newline */
		}
		has_bytes = 1;
		start = r->buf + r->pos;
		nl = memchr(start, '\n', r->end - r->pos);
		n = nl ? (size_t)(nl - start) : r->end - r->pos;
		if (total + n <= r->max && line_reader_keep(r, total, start, n)) {
			r->is_in_line = 1;
			return LINE_ERROR;
		}
		total += n;
		r->pos += n + (nl != NULL);
		if (nl)
			break;
	}
	*len = total;
	if (total > r->max)
		return LINE_TOO_LONG;
	if (line_reader_keep(r, total, "", 1)) {
		r->is_in_line = 1;
		return LINE_ERROR;
	}
	*line = r->line;
	return LINE_OK;
}
