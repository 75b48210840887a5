/*
 * fuzz_linereader.c - libFuzzer target for import's line reader
 * (hub/linereader.c): for any input and any line limit, the lines read
 * back, joined by newlines, are the input again: a kept line is the exact
 * bytes between two newlines (NULs included), a skipped one has exactly
 * the length it covered and is longer than the limit.  The first input
 * byte picks the limit (0..63); the reader's 64 KB buffer boundary is
 * crossed by inputs longer than that.  Input that starts as gzip (1f 8b)
 * is inflated: its lines keep their bounds, and a bad stream is an error,
 * never a crash or a leak.  Bytes past a line said read
 * (line_reader_has_read_past, import's stop) are there: another line.
 */
#include "linereader.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip input: each line within its bound; the end or an error (corrupt,
 * cut short), then nothing more. */
static void fuzz_gzip(struct line_reader *r)
{
	enum line_result got;
	char *line;
	size_t len;

	while ((got = line_reader_next(r, &line, &len)) > 0)
		if ((got == LINE_OK) != (len <= r->max) || (got == LINE_OK && line[len] != '\0'))
			abort();
	if (got == LINE_ERROR && !line_reader_error(r)[0])
		abort(); /* an error says what */
	if (line_reader_next(r, &line, &len) != LINE_END)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line_reader r;
	enum line_result got;
	const char *text;
	size_t at = 0, n, len;
	char *line;
	FILE *in;

	if (size < 2)
		return 0;
	text = (const char *)data + 1;
	n = size - 1;
	if (!(in = fmemopen((void *)text, n, "r")))
		return 0;
	line_reader_init(&r, in, data[0] % 64);
	if (n >= 2 && (uint8_t)text[0] == 0x1f && (uint8_t)text[1] == 0x8b) {
		fuzz_gzip(&r);
		goto out;
	}
	while ((got = line_reader_next(&r, &line, &len)) > 0) {
		if (at + len > n)
			abort(); /* more bytes than the input has */
		if (got == LINE_OK && (len > r.max || memcmp(line, text + at, len) != 0 ||
				       line[len] != '\0'))
			abort();
		if (got == LINE_TOO_LONG && len <= r.max)
			abort();
		if (memchr(text + at, '\n', len))
			abort(); /* a line never spans a newline */
		at += len;
		if (at < n) {
			if (text[at] != '\n')
				abort();
			at++;
		}
		if (line_reader_has_read_past(&r) && at >= n)
			abort(); /* bytes past the line said read: another line is there */
	}
	if (got != LINE_END || at != n || line_reader_has_read_past(&r))
		abort(); /* every byte was read, and no error */
out:
	line_reader_free(&r);
	fclose(in);
	return 0;
}
