/*
 * linereader.c - bounded line reading over a FILE (see linereader.h).
 */
#include "linereader.h"

#include "alloc.h"

#include <errno.h>
#include <string.h>

void line_reader_init(struct line_reader *r, FILE *in, size_t max)
{
	r->in = in;
	r->max = max;
	r->line = NULL;
	r->line_cap = 0;
	r->pos = r->end = 0;
	r->is_eof = 0;
	r->read_errno = 0;
}

void line_reader_free(struct line_reader *r)
{
	hub_free(r->line);
	r->line = NULL;
	r->line_cap = 0;
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

/* Refills buf; 1 more bytes, 0 end of stream, -1 read error. */
static int line_reader_fill(struct line_reader *r)
{
	if (r->is_eof)
		return 0;
	r->pos = 0;
	r->end = fread(r->buf, 1, sizeof(r->buf), r->in);
	if (r->end > 0)
		return 1;
	r->is_eof = 1;
	if (!ferror(r->in))
		return 0;
	r->read_errno = errno ? errno : EIO;
	return -1;
}

enum line_result line_reader_next(struct line_reader *r, char **line, size_t *len)
{
	size_t total = 0;
	int has_bytes = 0, rc;

	for (;;) {
		const char *start, *nl;
		size_t n;

		if (r->pos == r->end && (rc = line_reader_fill(r)) <= 0) {
			if (rc < 0)
				return LINE_ERROR;
			if (!has_bytes)
				return LINE_END;
			break; /* a last line without a newline */
		}
		has_bytes = 1;
		start = r->buf + r->pos;
		nl = memchr(start, '\n', r->end - r->pos);
		n = nl ? (size_t)(nl - start) : r->end - r->pos;
		if (total + n <= r->max && line_reader_keep(r, total, start, n))
			return LINE_ERROR;
		total += n;
		r->pos += n + (nl != NULL);
		if (nl)
			break;
	}
	*len = total;
	if (total > r->max)
		return LINE_TOO_LONG;
	if (line_reader_keep(r, total, "", 1))
		return LINE_ERROR;
	*line = r->line;
	return LINE_OK;
}
