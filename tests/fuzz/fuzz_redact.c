/*
 * fuzz_redact.c - libFuzzer target for the redactions a message relies on
 * before it quotes outside text (plugins/common/text.h):
 *
 *   - text_secret_redact: a refusal's body, as BigQuery and Snowflake
 *     redact the credential the request carried before a message quotes
 *     it (an endpoint that echoes the request);
 *   - text_url_userinfo_redact: curl's error text, as the webhook redacts
 *     a URL's user info (a proxy's password) before quoting it.
 *
 * The input: the secret, a 0x01 byte, then the text (NUL bytes too: the
 * body is redacted by length).  No 0x01: the whole input is the text and
 * its first 12 bytes are the secret, so that copies are common.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - text_secret_redact: a length past the text's, or a byte left past
 *     the new end; a result other than the model's below: each byte
 *     outside every copy of the secret kept, in order, and each run of
 *     copies one mark ("[redacted]", or a star a byte when shorter);
 *   - text_url_userinfo_redact: a text that got longer, or a URL in the
 *     result whose user info is anything but marks: up to the last '@' of
 *     its authority, or, quoted (a quote, double quote or backtick just
 *     before its scheme), of all up to the line's last such quote.
 *
 * The model of a copy (text.h's rule, restated): at each offset, the
 * longest run of the secret's start; a copy when it is TEXT_SECRET_MIN
 * bytes or more, or when the secret is shorter and the run is all of it,
 * with no letter, digit or byte >= 0x80 just before or after it.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/redact/)
 */
#include "../../plugins/common/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MAX 64
#define TEXT_MAX 4096
#define MARK "[redacted]"

/* The length of the marks at s[0..max) from its start: "[redacted]" or
 * '*', one after another. */
static size_t marks_span(const char *s, size_t max)
{
	size_t i = 0;

	for (;;) {
		if (i < max && s[i] == '*')
			i++;
		else if (max - i >= sizeof(MARK) - 1 && memcmp(s + i, MARK, sizeof(MARK) - 1) == 0)
			i += sizeof(MARK) - 1;
		else
			return i;
	}
}

/* A copy of secret at text + r, k bytes long, by the model; 0 when none. */
static size_t copy_at(const char *text, size_t len, size_t r, const char *secret, size_t n)
{
	size_t k = 0;

	while (k < n && r + k < len && text[r + k] == secret[k])
		k++;
	if (k >= TEXT_SECRET_MIN)
		return k;
	if (k == n && (r == 0 || !text_is_word_byte(text[r - 1])) &&
	    (r + k == len || !text_is_word_byte(text[r + k])))
		return k;
	return 0;
}

/* What the redaction should give, into out (len + 1 bytes): the text, each
 * run of copies (overlapping ones are one run; touching ones two) replaced
 * by one mark, "[redacted]" or, for a run shorter than it, a star a byte.
 * Returns its length. */
static size_t redacted_model(const char *text, size_t len, const char *secret, char *out)
{
	size_t n = strlen(secret), o = 0, from = 0, end = 0, k;

	for (size_t r = 0; r <= len; r++) {
		k = r < len && n ? copy_at(text, len, r, secret, n) : 0;
		if (end > from && (r >= end || r == len)) { /* the run ended */
			if (end - from < sizeof(MARK) - 1) {
				memset(out + o, '*', end - from);
				o += end - from;
			} else {
				memcpy(out + o, MARK, sizeof(MARK) - 1);
				o += sizeof(MARK) - 1;
			}
			from = end;
		}
		if (k && r >= end)
			from = r;
		if (k && r + k > end)
			end = r + k;
		if (r < len && r >= end)
			out[o++] = text[r];
	}
	out[o] = '\0';
	return o;
}

static void secret_check(const char *secret, const char *data, size_t len)
{
	char *text = malloc(len + 1), *want = malloc(len + 1);
	size_t w, n_want;

	if (!text || !want)
		abort();
	memcpy(text, data, len);
	text[len] = '\0';
	n_want = redacted_model(data, len, secret, want);
	w = text_secret_redact(text, len, secret);
	if (w > len)
		abort();
	for (size_t i = w; i <= len; i++)
		if (text[i] != '\0')
			abort(); /* a byte of the secret may be left past the end */
	if (w != n_want || memcmp(text, want, w) != 0)
		abort(); /* a copy kept, a byte outside them lost, or a wrong mark */
	free(want);
	free(text);
}

/* Where the URL whose user info starts at a (past "://", its scheme
 * starting at scheme in s) may have it end: its authority (up to "/?#", a
 * quote, a blank or '<' '>'), or in quotes up to the line's last one. */
static size_t userinfo_limit(const char *s, const char *scheme, const char *a)
{
	size_t n = strcspn(a, "/?#'\"` \t\r\n<>"), line = strcspn(a, "\r\n");
	char q = scheme > s ? scheme[-1] : 0;

	if (q != '\'' && q != '"' && q != '`')
		return n;
	for (size_t i = n; i < line; i++)
		if (a[i] == q)
			n = i;
	return n;
}

static void userinfo_check(const char *data, size_t len)
{
	char *s = malloc(len + 1), *p;
	size_t was;

	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	was = strlen(s);
	text_url_userinfo_redact(s);
	if (strlen(s) > was)
		abort();
	for (p = strstr(s, "://"); p; p = strstr(p + 3, "://")) {
		const char *a = p + 3, *scheme = p;
		size_t n, at = 0;

		while (scheme > s && ((scheme[-1] >= 'a' && scheme[-1] <= 'z') ||
				      (scheme[-1] >= 'A' && scheme[-1] <= 'Z') ||
				      (scheme[-1] >= '0' && scheme[-1] <= '9') ||
				      (scheme[-1] && strchr("+-.", scheme[-1]))))
			scheme--;
		n = userinfo_limit(s, scheme, a);

		for (size_t i = 0; i < n; i++)
			if (a[i] == '@')
				at = i;
		if (at > 0 && marks_span(a, at) != at)
			abort(); /* user info in clear */
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *sep = memchr(in, '\x01', size);
	char secret[SECRET_MAX + 1];
	size_t n = sep ? (size_t)(sep - in) : (size < 12 ? size : 12);
	const char *text = sep ? sep + 1 : in;
	size_t len = sep ? size - n - 1 : size;

	if (n > SECRET_MAX || len > TEXT_MAX)
		return 0;
	memcpy(secret, in, n);
	secret[n] = '\0'; /* a NUL inside cuts it, as strlen() would */
	secret_check(secret, text, len);
	userinfo_check(text, len);
	return 0;
}
