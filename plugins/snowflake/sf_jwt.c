/*
 * sf_jwt.c - the key-pair JWT of Snowflake's SQL API (RS256, OpenSSL).
 *
 * Claims: iss = ACCOUNT.USER.SHA256:<base64 of the SHA-256 of the public
 * key's DER SubjectPublicKeyInfo>, sub = ACCOUNT.USER, iat, exp = iat +
 * 59 minutes (Snowflake refuses more than an hour).  ACCOUNT is the
 * account identifier without a region suffix ("xy12345.us-east-1" ->
 * XY12345; in a global URL, "xy12345-abc.global", the account locator
 * before the first '-'), upper-cased; so is USER.
 * A token is reused for 50 minutes, then made again.  The private key
 * never leaves this file and is never printed.
 */
#include "sf.h"

#include "../common/key_file.h"
#include "../common/text.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_LIFETIME_S 3540 /* exp - iat: at most 3600 */
#define JWT_RENEW_S 3000    /* make a new one after this */

struct sf_jwt {
	EVP_PKEY *key;
	char *iss, *sub;
	char fingerprint[80];
	char *token;
	int64_t iat;
};

/* base64url without padding; a malloc'd string. */
static char *b64url(const unsigned char *in, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *out = malloc(cap);
	int len;

	if (!out)
		return NULL;
	len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

/* s up to its first `cut` (none: '\0'), upper-cased: "xy12345.us-east-1"
 * cut at '.' -> "XY12345"; "user" -> "USER". */
static char *claim_name(const char *s, char cut)
{
	const char *end = cut ? strchr(s, cut) : NULL;
	size_t n = end ? (size_t)(end - s) : strlen(s);
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	out[n] = '\0';
	return out;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* encrypted keys are refused, not prompted for */
}

static int load_key(struct sf_jwt *j, const char *path, char *err, size_t err_size)
{
	size_t n;
	char *text = key_file_read("private_key_file", path, &n, err, err_size);
	BIO *bio;

	if (!text)
		return -1;
	/* a read-only memory BIO reads the buffer in place: no copy */
	if ((bio = BIO_new_mem_buf(text, (int)n))) {
		j->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	key_file_free(text, n); /* the key does not linger */
	if (!j->key) {
		snprintf(err, err_size, "private_key_file: %s holds no unencrypted PEM private key",
			 path);
		return -1;
	}
	if (EVP_PKEY_base_id(j->key) != EVP_PKEY_RSA) {
		snprintf(err, err_size, "private_key_file: %s: not an RSA key (key-pair "
			 "authentication needs RSA)", path);
		return -1;
	}
	return 0;
}

static int make_fingerprint(struct sf_jwt *j, char *err, size_t err_size)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	char b64[64];
	int n = i2d_PUBKEY(j->key, &der);

	if (n <= 0) {
		snprintf(err, err_size, "private_key_file: cannot encode its public key");
		return -1;
	}
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	EVP_EncodeBlock((unsigned char *)b64, md, sizeof(md));
	snprintf(j->fingerprint, sizeof(j->fingerprint), "SHA256:%s", b64);
	return 0;
}

static char *sign(struct sf_jwt *j, const char *signing_input);

/* A key OpenSSL reads may still not sign (a damaged one: its parts do not
 * agree): said at start, naming the file, not at the first pull as
 * "cannot sign the JWT".  0, or -1 with err set. */
static int check_key_signs(struct sf_jwt *j, const char *key_file, char *err, size_t err_size)
{
	char *probe = sign(j, "probe");

	if (probe) {
		free(probe);
		return 0;
	}
	snprintf(err, err_size,
		 "private_key_file: %s: the key cannot sign a JWT (RS256):"
		 " a damaged key?",
		 key_file);
	return -1;
}

int sf_jwt_new(const char *key_file, const char *account, const char *user,
	       struct sf_jwt **out, char *err, size_t err_size)
{
	struct sf_jwt *j = calloc(1, sizeof(*j));
	char *acct = NULL, *usr = NULL;
	size_t n;

	*out = NULL;
	if (!j) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (load_key(j, key_file, err, err_size) || check_key_signs(j, key_file, err, err_size) ||
	    make_fingerprint(j, err, err_size))
		goto fail;
	/* the account without its region, cloud or subdomain; an account
	 * locator in a global URL ("xy12345-abc.global") is what comes before
	 * its first '-' (Snowflake's key-pair authentication) */
	acct = claim_name(account, strcasestr(account, ".global") ? '-' : '.');
	usr = claim_name(user, '\0');
	n = (acct ? strlen(acct) : 0) + (usr ? strlen(usr) : 0) + strlen(j->fingerprint) + 3;
	if (!acct || !usr || !(j->sub = malloc(n)) || !(j->iss = malloc(n))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	snprintf(j->sub, n, "%s.%s", acct, usr);
	snprintf(j->iss, n, "%s.%s.%s", acct, usr, j->fingerprint);
	free(acct);
	free(usr);
	*out = j;
	return 0;
fail:
	free(acct);
	free(usr);
	sf_jwt_free(j);
	return -1;
}

void sf_jwt_free(struct sf_jwt *j)
{
	if (!j)
		return;
	EVP_PKEY_free(j->key);
	free(j->iss);
	free(j->sub);
	free(j->token);
	free(j);
}

const char *sf_jwt_fingerprint(const struct sf_jwt *j)
{
	return j->fingerprint;
}

/* header.payload, signed; a malloc'd token or NULL. */
static char *sign(struct sf_jwt *j, const char *signing_input)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char *sig64 = NULL, *token = NULL;

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, j->key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)signing_input,
			   strlen(signing_input)) != 1 ||
	    !(sig = malloc(sig_len)) ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)signing_input,
			   strlen(signing_input)) != 1 ||
	    !(sig64 = b64url(sig, sig_len)))
		goto out;
	if ((token = malloc(strlen(signing_input) + strlen(sig64) + 2)))
		sprintf(token, "%s.%s", signing_input, sig64);
out:
	free(sig64);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return token;
}

const char *sf_jwt_token(struct sf_jwt *j, int64_t now_s, char *err, size_t err_size)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	json_t *claims;
	char *payload = NULL, *h64 = NULL, *p64 = NULL, *input = NULL, *token = NULL;

	if (j->token && now_s >= j->iat && now_s - j->iat < JWT_RENEW_S)
		return j->token;
	claims = json_pack("{s:s, s:s, s:I, s:I}", "iss", j->iss, "sub", j->sub, "iat",
			   (json_int_t)now_s, "exp", (json_int_t)(now_s + JWT_LIFETIME_S));
	if (claims && (payload = json_dumps(claims, JSON_COMPACT)) &&
	    (h64 = b64url((const unsigned char *)header, sizeof(header) - 1)) &&
	    (p64 = b64url((const unsigned char *)payload, strlen(payload))) &&
	    (input = malloc(strlen(h64) + strlen(p64) + 2))) {
		sprintf(input, "%s.%s", h64, p64);
		token = sign(j, input);
	}
	json_decref(claims);
	free(payload);
	free(h64);
	free(p64);
	free(input);
	if (!token) {
		snprintf(err, err_size, "cannot sign the JWT");
		return NULL;
	}
	free(j->token);
	j->token = token;
	j->iat = now_s;
	return token;
}
