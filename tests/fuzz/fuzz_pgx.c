/*
 * fuzz_pgx.c - the postgres export's text handling beside its URL
 * (fuzz_url.c has that): the table name of the config quoted into SQL
 * (table_quote), a server's error message with the password scrubbed out
 * (pgx_copy_message / scrub_password: libpq quotes what it was given), a
 * SQLSTATE's meaning (pgx_sqlstate_rc) and the chunking of a batch
 * (pgx_chunk_end).  plugins/postgres/ compiled in.
 *
 * The input: parts split at '\x01': password, server message, table name,
 * SQLSTATE, then changes (each a part) for the chunking; byte 0 the chunk
 * limit.
 * Findings: crashes, sanitizer reports; a SQLSTATE classed otherwise than
 * pgx_batch.c documents; a quoted name that is not
 * "ident" or "ident"."ident" of lower-case identifier characters; a
 * scrubbed message that still holds min(4, len) consecutive bytes of the
 * password (without '*'); a chunking that skips or repeats a change or,
 * past one change, exceeds the limit.
 */
#include "../../plugins/postgres/postgres.c"
#include "../../plugins/postgres/pgx_batch.c"
#include "../../plugins/postgres/pgx_conn.c"
#include "../../plugins/postgres/pgx_query.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 16

static void check_quoted(const char *name, const char *q)
{
	int dots = 0;
	size_t n = strlen(q);

	if (n < 3 || q[0] != '"' || q[n - 1] != '"')
		abort();
	for (size_t i = 1; i + 1 < n; i++) {
		if (q[i] == '"') {
			if (strncmp(q + i, "\".\"", 3) != 0 || dots++)
				abort();
			i += 2;
			continue;
		}
		if (!is_ident_char(q[i], 0))
			abort();
	}
	(void)name;
}

/* A SQLSTATE's meaning is one of the four pgx_batch.c gives; refused
 * credentials (class 28) disable, a duplicate object (a racing CREATE)
 * retries. */
static void check_sqlstate(const char *state)
{
	hub_rc rc = pgx_sqlstate_rc(state);

	if (rc != HUB_RETRY && rc != HUB_ERR_AUTH && rc != HUB_ERR_CONFIG && rc != HUB_ERR_DATA)
		abort();
	if ((strncmp(state, "28", 2) == 0) != (rc == HUB_ERR_AUTH))
		abort();
	if ((!strcmp(state, "42P07") || !strcmp(state, "42710")) && rc != HUB_RETRY)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *parts[MAX_PARTS], err[512], quoted[160];
	size_t n = 0, max;
	struct pgx p;

	if (size < 1 || size > 8192 || !(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	max = 2 + data[0] * 4u;
	for (char *s = text; n < MAX_PARTS; n++) {
		parts[n] = s;
		if (!(s = strchr(s, '\x01')))
			break;
		*s++ = '\0';
	}
	if (n < MAX_PARTS)
		n++;
	for (size_t i = n; i < MAX_PARTS; i++)
		parts[i] = "";

	/* the table name: in a small buffer, and in the plugin's own size */
	for (size_t sz = 0; sz < 2; sz++) {
		size_t cap = sz ? sizeof(quoted) : 8;
		memset(quoted, 0x55, sizeof(quoted));
		if (table_quote(parts[2], quoted, cap) == 0) {
			if (strlen(quoted) >= cap)
				abort();
			check_quoted(parts[2], quoted);
		}
	}

	/* the message, the password scrubbed out */
	memset(&p, 0, sizeof(p));
	p.password = parts[0][0] ? parts[0] : NULL;
	pgx_copy_message(&p, parts[1][0] ? parts[1] : NULL, err, sizeof(err));
	if (strchr(err, '\n'))
		abort();
	if (p.password && !strchr(p.password, '*')) {
		size_t pw = strlen(p.password), min = pw < 4 ? pw : 4, el = strlen(err);
		for (size_t i = 0; i + min <= el; i++)
			if (memmem(p.password, pw, err + i, min)) {
				fprintf(stderr, "password \"%s\": \"%s\" left in \"%s\"\n",
					p.password, err + i, err);
				abort();
			}
	}

	/* used, or -O1 drops the calls of this pure function (it did) */
	check_sqlstate(parts[3]);
	if (pgx_sqlstate_rc(NULL) != HUB_RETRY)
		abort();

	/* the chunks of parts[4..n) */
	if (n > 4) {
		const char *const *ch = (const char *const *)parts + 4;
		size_t k = n - 4, from = 0;
		while (from < k) {
			size_t end = pgx_chunk_end(ch, k, from, max), bytes = 2;
			if (end <= from || end > k)
				abort();
			for (size_t i = from; i < end; i++)
				bytes += strlen(ch[i]) + (i > from);
			if (end - from > 1 && bytes > max)
				abort();
			from = end;
		}
	}
	free(text);
	return 0;
}
