/*
 * segment_auth.c - who may send: the tracking API's write keys
 * (`Authorization: Basic base64("<writeKey>:")`, or "writeKey" in the
 * body) and the webhook's X-Signature (hex HMAC-SHA1 of the raw body keyed
 * with the shared secret; for an array body, Segment's Actions batch mode,
 * it covers only the first element's JSON text).  This file only says which
 * of the two a signature is: whether a first-element signature is enough
 * (it leaves every later element unauthenticated) is the source's
 * webhook_batch_signature, decided by the route (segment.c).
 *
 * Secrets are compared with the host's constant-time secret_equal(), every
 * configured key is compared (no early exit), and a decoded header is wiped
 * after use.  Nothing here logs, copies or prints a key.
 */
#include "segment.h"

#include "../common/text.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

/* Standard or URL-safe base64, padding optional.  Returns the decoded
 * length, or -1.  `out` has room for len * 3 / 4 + 1 bytes. */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned acc = 0;
	long n = 0;
	int bits = 0;

	while (len && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = text_base64_digit((unsigned char)in[i], 1);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n;
}

/* 1 when key[0..len) is one of the configured write keys. */
static int write_key_known(const struct seg_state *st, const char *key, size_t len)
{
	int found = 0;

	for (size_t i = 0; i < st->n_write_keys; i++)
		found |= st->host->secret_equal(key, len, st->write_keys[i].value,
						st->write_keys[i].len);
	return found && len > 0;
}

int seg_auth_header(const struct seg_state *st, const char *authorization)
{
	unsigned char buf[512];
	const char *p = authorization;
	size_t len;
	long n;
	int ok;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return 0;
	for (p += 5; *p == ' ' || *p == '\t'; p++)
		;
	len = strcspn(p, " \t\r\n");
	if (len == 0 || len > (sizeof(buf) - 1) / 3 * 4 || p[len + strspn(p + len, " \t")])
		return 0;
	if ((n = b64_decode(p, len, buf)) < 0)
		return 0;
	/* "<writeKey>:<password, ignored>" */
	len = 0;
	while (len < (size_t)n && buf[len] != ':')
		len++;
	ok = write_key_known(st, (const char *)buf, len);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

int seg_auth_body(const struct seg_state *st, json_t *body)
{
	json_t *key = json_object_get(body, "writeKey");

	return json_is_string(key) &&
	       write_key_known(st, json_string_value(key), json_string_length(key));
}

/* ---- webhook ---------------------------------------------------------- */

/* The text of the first element of a JSON array body: [*start, *end).
 * Returns 0, or -1 when the body is no array or an empty one. */
static int first_element(const char *s, size_t len, size_t *start, size_t *end)
{
	size_t p = 0;
	int depth = 0, in_string = 0;

	while (p < len && seg_is_space(s[p]))
		p++;
	if (p == len || s[p++] != '[')
		return -1;
	while (p < len && seg_is_space(s[p]))
		p++;
	if (p == len || s[p] == ']')
		return -1;
	for (*start = p; p < len; p++) {
		char c = s[p];
		if (in_string) {
			if (c == '\\') {
				p++;
			} else if (c == '"') {
				in_string = 0;
				if (depth == 0)
					break;
			}
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && depth > 0) {
			if (--depth == 0)
				break;
		} else if (depth == 0 && (c == ',' || c == ']' || seg_is_space(c))) {
			*end = p; /* a scalar element ends here */
			return 0;
		}
	}
	if (p >= len)
		return -1;
	*end = p + 1;
	return 0;
}

/* 1 when hex (already lowercased) is the HMAC-SHA1 of data. */
static int hmac_matches(const struct seg_state *st, const char *hex, size_t hex_len,
			const char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	char want[2 * EVP_MAX_MD_SIZE + 1];
	unsigned md_len = 0;
	int ok;

	if (!HMAC(EVP_sha1(), st->webhook_secret, (int)st->webhook_secret_len,
		  (const unsigned char *)data, len, md, &md_len))
		return 0;
	for (unsigned i = 0; i < md_len; i++) {
		want[2 * i] = digits[md[i] >> 4];
		want[2 * i + 1] = digits[md[i] & 15];
	}
	ok = st->host->secret_equal(hex, hex_len, want, 2 * md_len);
	OPENSSL_cleanse(md, sizeof(md));
	return ok;
}

enum seg_signature seg_auth_webhook(const struct seg_state *st, const char *signature,
				    const char *body, size_t len)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t n = 0, start, end;

	if (!signature || !st->webhook_secret)
		return SEG_SIG_BAD;
	while (seg_is_space(*signature))
		signature++;
	for (; signature[n] && !seg_is_space(signature[n]); n++) {
		if (n == sizeof(hex) - 1)
			return SEG_SIG_BAD;
		hex[n] = (char)tolower((unsigned char)signature[n]);
	}
	if (n == 0)
		return SEG_SIG_BAD;
	if (hmac_matches(st, hex, n, body, len))
		return SEG_SIG_BODY;
	if (first_element(body, len, &start, &end) == 0 &&
	    hmac_matches(st, hex, n, body + start, end - start))
		return SEG_SIG_FIRST_ELEMENT;
	return SEG_SIG_BAD;
}
