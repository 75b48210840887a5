/*
 * fuzz_sfjwt.c - the snowflake plugin's key-pair JWT (plugins/snowflake/
 * sf_jwt.c, compiled in): the file private_key_file names, read by
 * OpenSSL, then the claims made of account and user (config values) and
 * the token signed with the key.  fuzz_bqparam has BigQuery's key file;
 * this is the other key the hub reads.
 *
 * The input: account, user, up to the first and second '\x01' (cut at a
 * NUL: a config value holds none); the rest is the key file's bytes,
 * written to a memfd read through /proc/self/fd/N: it goes with the
 * process, so a crash (in OpenSSL's PEM parse too) leaves no file.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - a refusal without a message, or whose message quotes the file's
 *     bytes (the key is never printed; the path may be);
 *   - a key taken whose fingerprint is not "SHA256:" and 44 base64
 *     characters;
 *   - a token refused for account and user of valid UTF-8, or one that
 *     is not header.payload.signature in base64url, whose header is not
 *     {"alg":"RS256","typ":"JWT"}, whose payload is not {iss, sub, iat,
 *     exp} with sub = ACCOUNT.USER (the account cut at its first '.', or
 *     at its first '-' when it holds ".global" in any case; both
 *     upper-cased), iss = sub.fingerprint, exp - iat = 3540;
 *   - the token not reused within 50 minutes, or reused after them.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/sfjwt/)
 */
#include "../../plugins/snowflake/sf_jwt.c"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOW_S 1772000000LL

static int key_fd = -1;
static char key_path[64];

/* The key file: a memfd, one for the process, rewritten by each run. */
static void key_write(const char *file, size_t file_len)
{
	if (key_fd < 0) {
		if ((key_fd = memfd_create("fuzz_sfjwt.p8", 0)) < 0)
			abort();
		snprintf(key_path, sizeof(key_path), "/proc/self/fd/%d", key_fd);
	}
	if (ftruncate(key_fd, 0) != 0 || pwrite(key_fd, file, file_len, 0) != (ssize_t)file_len)
		abort();
}

static int is_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

static int is_b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return n > 0;
}

/* base64url (no padding) of n bytes -> a malloc'd NUL-terminated text, or
 * NULL. */
static char *b64url_decode(const char *s, size_t n)
{
	char *std = malloc(n + 4), *out = malloc(n + 4);
	size_t m = n;
	int len;

	if (!std || !out) {
		free(std);
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (m % 4)
		std[m++] = '=';
	len = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)std, (int)m);
	free(std);
	if (len < 0) {
		free(out);
		return NULL;
	}
	len -= (int)(m - n); /* EVP_DecodeBlock counts the padding's bytes */
	out[len] = '\0';
	return out;
}

/* The name a claim is made of, upper: an account cut at its first '-'
 * when it holds ".global" (any case: "xy12345-abc.global"), else at its
 * first '.'. */
static char *upper(const char *s, int is_account)
{
	char cut = is_account ? (strcasestr(s, ".global") ? '-' : '.') : '\0';
	size_t n = cut && strchr(s, cut) ? (size_t)(strchr(s, cut) - s) : strlen(s);
	char *out = malloc(n + 1);

	if (!out)
		abort();
	for (size_t i = 0; i < n; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	out[n] = '\0';
	return out;
}

static void check_token(const char *tok, const char *account, const char *user,
			const char *fingerprint)
{
	const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	char *head, *payload, *acct, *usr, *sub, *iss;
	json_t *p;
	json_int_t iat, exp;
	const char *p_iss, *p_sub;

	if (!d1 || !d2 || strchr(d2 + 1, '.') || !is_b64url(tok, (size_t)(d1 - tok)) ||
	    !is_b64url(d1 + 1, (size_t)(d2 - d1 - 1)) || !is_b64url(d2 + 1, strlen(d2 + 1)))
		abort();
	head = b64url_decode(tok, (size_t)(d1 - tok));
	payload = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!head || !payload || strcmp(head, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}") != 0)
		abort();
	p = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	if (!p || json_unpack(p, "{s:s, s:s, s:I, s:I !}", "iss", &p_iss, "sub", &p_sub, "iat",
			      &iat, "exp", &exp) != 0)
		abort();
	acct = upper(account, 1);
	usr = upper(user, 0);
	/* sized to fit: a config value has no length limit (a fixed buffer
	 * here cut a user of 1,045 bytes and reported the token wrong) */
	if (asprintf(&sub, "%s.%s", acct, usr) < 0 ||
	    asprintf(&iss, "%s.%s", sub, fingerprint) < 0)
		abort();
	if (strcmp(p_sub, sub) != 0 || strcmp(p_iss, iss) != 0 || iat != NOW_S ||
	    exp - iat != JWT_LIFETIME_S)
		abort();
	free(sub);
	free(iss);
	free(acct);
	free(usr);
	json_decref(p);
	free(head);
	free(payload);
}

/* What sf_jwt.c's messages are made of besides the path: a piece of the
 * file that is also a piece of these is not the file quoted. */
static const char message_words[] =
	"private_key_file: cannot read : holds no unencrypted PEM private key "
	"not an RSA key (key-pair authentication needs RSA) cannot encode its public key "
	"out of memory cannot sign the JWT " TEXT_KEY_NOT_PATH("private_key_file");

/* 1 when the message holds 8 consecutive bytes of the file (a key's body
 * line is 64: a quoted piece of one is caught) that are not the path's nor
 * the message's own words. */
static int quotes_file(const char *msg, const char *file, size_t file_len)
{
	char cut[512], *at;
	size_t n, path_len = strlen(key_path);

	/* the path may be named: each time cut to one byte no window takes */
	snprintf(cut, sizeof(cut), "%s", msg);
	while ((at = strstr(cut, key_path))) {
		*at = '\n';
		memmove(at + 1, at + path_len, strlen(at + path_len) + 1);
	}
	n = strlen(cut);
	for (size_t i = 0; i + 8 <= n; i++)
		if (!memchr(cut + i, '\n', 8) && memmem(file, file_len, cut + i, 8) &&
		    !memmem(message_words, sizeof(message_words) - 1, cut + i, 8))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *s1, *s2;
	char *account, *user, *first, err[512] = "";
	int rc;
	const char *file, *tok, *again, *later;
	size_t file_len;
	struct sf_jwt *j = NULL;

	if (size > 16384)
		return 0;
	if (!(s1 = memchr(data, 1, size)) ||
	    !(s2 = memchr(s1 + 1, 1, size - (size_t)(s1 + 1 - data))))
		return 0;
	account = strndup((const char *)data, (size_t)(s1 - data));
	user = strndup((const char *)s1 + 1, (size_t)(s2 - s1 - 1));
	if (!account || !user)
		abort();
	file = (const char *)s2 + 1;
	file_len = size - (size_t)(s2 + 1 - data);
	key_write(file, file_len);

	rc = sf_jwt_new(key_path, account, user, &j, err, sizeof(err));
	if (rc != 0) {
		if (j || !err[0] || quotes_file(err, file, file_len))
			abort();
		goto out;
	}
	{
		const char *fp = sf_jwt_fingerprint(j);
		if (strncmp(fp, "SHA256:", 7) != 0 || strlen(fp) != 7 + 44 ||
		    strspn(fp + 7,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
			    44)
			abort();
	}
	tok = sf_jwt_token(j, NOW_S, err, sizeof(err));
	if (!tok) {
		if (!err[0] || quotes_file(err, file, file_len))
			abort();
		if (is_utf8(account) && is_utf8(user))
			abort(); /* a config's values are UTF-8: the token is made */
		goto out;
	}
	check_token(tok, account, user, sf_jwt_fingerprint(j));
	again = sf_jwt_token(j, NOW_S + JWT_RENEW_S - 1, err, sizeof(err));
	if (again != tok)
		abort(); /* reused within the renewal time */
	if (!(first = strdup(tok)))
		abort();
	later = sf_jwt_token(j, NOW_S + JWT_RENEW_S, err, sizeof(err));
	if (!later || strcmp(later, first) == 0)
		abort(); /* made again after it (a new iat) */
	free(first);
out:
	sf_jwt_free(j);
	free(account);
	free(user);
	return 0;
}
