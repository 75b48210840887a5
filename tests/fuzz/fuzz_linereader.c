/*
 * fuzz_linereader.c - libFuzzer target for import's line reader
 * (hub/linereader.c): for any input and any line limit, the lines read
 * back, joined by newlines, are the input again: a kept line is the exact
 * bytes between two newlines (NULs included), a skipped one has exactly
 * the length it covered and is longer than the limit.  The first input
 * byte picks the limit (0..63); the reader's 64 KB buffer boundary is
 * crossed by inputs longer than that.
 */
#include "linereader.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	}
	if (got != LINE_END || at != n)
		abort(); /* every byte was read, and no error */
	line_reader_free(&r);
	fclose(in);
	return 0;
}
