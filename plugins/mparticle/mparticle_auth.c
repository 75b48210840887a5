/*
 * mparticle_auth.c - who may send.  The Events API (/v2/events,
 * /v2/bulkevents) takes `Authorization: Basic base64("<key>:<secret>")`
 * with the source's api_key and api_secret; mParticle's outbound webhook
 * sends the Authorization value configured on its side, which must equal
 * webhook_authorization.
 *
 * No or unreadable credentials: 401.  Readable but wrong: 403.  Secrets are
 * compared with the host's constant-time secret_equal(), key and secret
 * both (no early exit), and the decoded header is wiped after use.  Nothing
 * here logs, copies or prints a secret.
 */
#include "mparticle.h"

#include "../common/text.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

/* Standard base64, padding optional.  Returns the decoded length, or -1.
 * `out` has room for len * 3 / 4 + 1 bytes. */
static long mp_b64_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned acc = 0;
	long n = 0;
	int bits = 0;

	if (len >= 1 && in[len - 1] == '=')
		len--;
	if (len >= 1 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = text_base64_digit((unsigned char)in[i], 0);
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

static int mp_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int mp_auth_basic(const struct mp_state *st, const char *authorization)
{
	unsigned char buf[768];
	const char *p = authorization;
	size_t len, key_len;
	long n;
	int ok;

	if (!p)
		return 401;
	while (mp_is_blank(*p))
		p++;
	if (strncasecmp(p, "Basic", 5) != 0 || !mp_is_blank(p[5]))
		return 401;
	for (p += 5; mp_is_blank(*p); p++)
		;
	len = strcspn(p, " \t\r\n");
	if (len == 0 || len > (sizeof(buf) - 1) / 3 * 4 || p[len + strspn(p + len, " \t")])
		return 401;
	if ((n = mp_b64_decode(p, len, buf)) < 0)
		return 401;
	for (key_len = 0; key_len < (size_t)n && buf[key_len] != ':'; key_len++)
		;
	if (key_len == (size_t)n) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return 401; /* "key:secret" has a colon */
	}
	if (!st->api_key) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return 403;
	}
	/* both compared, whatever the first answer: the time says nothing */
	ok = st->host->secret_equal((const char *)buf, key_len, st->api_key, st->api_key_len);
	ok &= st->host->secret_equal((const char *)buf + key_len + 1, (size_t)n - key_len - 1,
				     st->api_secret, st->api_secret_len);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok ? 200 : 403;
}

int mp_auth_webhook(const struct mp_state *st, const char *authorization)
{
	const char *p = authorization;
	size_t len;

	if (!p)
		return 401;
	while (mp_is_blank(*p))
		p++;
	len = strlen(p);
	while (len > 0 && mp_is_blank(p[len - 1]))
		len--;
	if (len == 0)
		return 401;
	if (!st->webhook_auth)
		return 403;
	return st->host->secret_equal(p, len, st->webhook_auth, st->webhook_auth_len) ? 200 : 403;
}
