/*
 * bq_jwt.c - a service-account key file and the JWT it signs (RS256,
 * OpenSSL), which the key's token_uri exchanges for an access token
 * (grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer).
 *
 *   header  {"alg": "RS256", "typ": "JWT", "kid": private_key_id}
 *   claims  {"iss": client_email, "scope": ..., "aud": token_uri,
 *            "iat": now, "exp": now + 3600}
 *
 * The private key never leaves this file and is never printed; errors
 * name the file and the field.
 */
#include "bq.h"

#include "../common/key_file.h"
#include "../common/text.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_LIFETIME_S 3600

struct bq_sa_key {
	EVP_PKEY *key;
	char *email, *key_id, *token_uri;
};

void bq_free_wiped(void *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
	free(p);
}

void bq_sa_key_free(struct bq_sa_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->key);
	free(k->email);
	free(k->key_id);
	free(k->token_uri);
	free(k);
}

const char *bq_sa_key_email(const struct bq_sa_key *k)
{
	return k->email;
}

const char *bq_sa_key_token_uri(const struct bq_sa_key *k)
{
	return k->token_uri;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static const char *str_field(json_t *root, const char *name)
{
	const char *s = json_string_value(json_object_get(root, name));
	return s && *s ? s : NULL;
}

/* The parsed key's private_key, wiped before the tree is freed: jansson
 * frees its strings as they are.  (The text jansson's reader buffered
 * while parsing is freed inside json_loads, out of reach.) */
static void json_tree_wipe_key(json_t *root)
{
	json_t *pem = json_object_get(root, "private_key");

	if (json_is_string(pem))
		OPENSSL_cleanse((char *)json_string_value(pem), json_string_length(pem));
}

int bq_sa_key_parse(const char *json, struct bq_sa_key **out, char *err, size_t err_size)
{
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	struct bq_sa_key *k = calloc(1, sizeof(*k));
	const char *type, *email, *pem, *uri;
	BIO *bio = NULL;
	int rc = -1;

	*out = NULL;
	if (!k) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_size, "not a JSON service-account key");
		goto out;
	}
	type = str_field(root, "type");
	email = str_field(root, "client_email");
	pem = str_field(root, "private_key");
	uri = str_field(root, "token_uri");
	if (type && strcmp(type, "service_account") != 0) {
		snprintf(err, err_size, "type is \"%.40s\", not service_account", type);
		goto out;
	}
	if (!email || !pem) {
		snprintf(err, err_size, "%s missing", !email ? "client_email" : "private_key");
		goto out;
	}
	if (!(bio = BIO_new_mem_buf(pem, -1))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	k->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!k->key || EVP_PKEY_base_id(k->key) != EVP_PKEY_RSA) {
		snprintf(err, err_size, "private_key is not an unencrypted PEM RSA key");
		goto out;
	}
	k->email = strdup(email);
	k->key_id = str_field(root, "private_key_id") ? strdup(str_field(root, "private_key_id"))
						       : NULL;
	k->token_uri = strdup(uri ? uri : BQ_DEFAULT_TOKEN_URI);
	if (!k->email || !k->token_uri ||
	    (str_field(root, "private_key_id") && !k->key_id)) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (!text_url_http_prefix(k->token_uri)) {
		snprintf(err, err_size, "token_uri is not an http(s) URL");
		goto out;
	}
	*out = k;
	k = NULL;
	rc = 0;
out:
	BIO_free(bio);
	bq_sa_key_free(k);
	json_tree_wipe_key(root);
	json_decref(root);
	return rc;
}

int bq_sa_key_load(const char *path, struct bq_sa_key **out, char *err, size_t err_size)
{
	char why[256];
	size_t n;
	char *text = key_file_read("credentials_file", path, &n, err, err_size);
	int rc = -1;

	*out = NULL;
	if (!text)
		return -1;
	if (bq_sa_key_parse(text, out, why, sizeof(why))) {
		snprintf(err, err_size, "credentials_file: %s: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	key_file_free(text, n); /* the key does not linger */
	return rc;
}

/* base64url without padding; malloc'd. */
static char *b64url(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
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

static char *b64url_json(json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL, *out;

	if (!text)
		return NULL;
	out = b64url((const unsigned char *)text, strlen(text));
	free(text);
	return out;
}

/* "<input>.<signature>" (malloc'd), or NULL. */
static char *sign(EVP_PKEY *key, const char *input)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0, n = strlen(input);
	char *sig64 = NULL, *token = NULL;

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)input, n) != 1 ||
	    !(sig = malloc(sig_len)) ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, n) != 1 ||
	    !(sig64 = b64url(sig, sig_len)))
		goto out;
	if ((token = malloc(n + strlen(sig64) + 2)))
		sprintf(token, "%s.%s", input, sig64);
out:
	free(sig64);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return token;
}

char *bq_jwt_assertion(const struct bq_sa_key *k, const char *scope, int64_t now_s)
{
	json_t *header = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", k->email, "scope", scope,
				   "aud", k->token_uri, "iat", (json_int_t)now_s, "exp",
				   (json_int_t)(now_s + JWT_LIFETIME_S));
	char *h64 = NULL, *c64 = NULL, *input = NULL, *token = NULL;

	if (header && k->key_id)
		json_object_set_new(header, "kid", json_string(k->key_id));
	if (!(h64 = b64url_json(header)) || !(c64 = b64url_json(claims)) ||
	    !(input = malloc(strlen(h64) + strlen(c64) + 2)))
		goto out;
	sprintf(input, "%s.%s", h64, c64);
	token = sign(k->key, input);
out:
	free(input);
	free(c64);
	free(h64);
	json_decref(claims);
	json_decref(header);
	return token;
}
