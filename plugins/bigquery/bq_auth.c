/*
 * bq_auth.c - the access token every BigQuery request carries, from one of
 *
 *   a service-account key file  a signed JWT (bq_jwt.c) POSTed to the
 *                               key's token_uri as grant_type
 *                               urn:ietf:params:oauth:grant-type:jwt-bearer
 *   the metadata server         GET http://$GCE_METADATA_HOST (default
 *                               metadata.google.internal)/computeMetadata/
 *                               v1/instance/service-accounts/default/token
 *                               with Metadata-Flavor: Google
 *   a static access_token       (tests, or a token made elsewhere)
 *
 * Both endpoints answer {"access_token", "expires_in", "token_type"}.  The
 * token is cached and fetched again five minutes before it expires (or
 * when the API refused it).  Tokens and keys are never logged nor put in
 * an error; the token endpoint's own {"error", "error_description"} is.
 */
#include "bq.h"

#include "../common/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENEW_BEFORE_MS (5 * 60 * 1000LL)
#define DEFAULT_LIFETIME_S 3600
#define MAX_LIFETIME_S (24 * 3600) /* a longer expires_in is taken as a day */

struct bq_auth {
	enum bq_auth_mode mode;
	struct bq_sa_key *key;     /* service account */
	char *metadata_url;        /* metadata */
	char *token;
	int64_t renew_at_ms;       /* fetch again from then on */
};

static void token_drop(struct bq_auth *a)
{
	bq_free_wiped(a->token, a->token ? strlen(a->token) : 0);
	a->token = NULL;
	a->renew_at_ms = 0;
}

void bq_auth_free(struct bq_auth *a)
{
	if (!a)
		return;
	token_drop(a);
	bq_sa_key_free(a->key);
	free(a->metadata_url);
	free(a);
}

static char *metadata_url(void)
{
	static const char path[] = "/computeMetadata/v1/instance/service-accounts/default/token";
	const char *host = getenv("GCE_METADATA_HOST");
	size_t n;
	char *url;

	if (!host || !*host)
		host = BQ_METADATA_HOST;
	n = strlen(host) + sizeof(path) + 16;
	if ((url = malloc(n)))
		snprintf(url, n, "http://%s%s", host, path);
	return url;
}

const char *bq_auth_token_uri(const struct bq_auth *a)
{
	return a->key ? bq_sa_key_token_uri(a->key) : NULL;
}

int bq_auth_new(enum bq_auth_mode mode, const char *secret, struct bq_auth **out, char *err,
		size_t err_size)
{
	struct bq_auth *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	a->mode = mode;
	switch (mode) {
	case BQ_AUTH_STATIC:
		if (!(a->token = strdup(secret)))
			goto nomem;
		a->renew_at_ms = INT64_MAX;
		break;
	case BQ_AUTH_SERVICE_ACCOUNT:
		if (bq_sa_key_load(secret, &a->key, err, err_size))
			goto fail;
		break;
	case BQ_AUTH_METADATA:
		if (!(a->metadata_url = metadata_url()))
			goto nomem;
		break;
	}
	*out = a;
	return 0;
nomem:
	snprintf(err, err_size, "out of memory");
fail:
	bq_auth_free(a);
	return -1;
}

int bq_auth_invalidate(struct bq_auth *a)
{
	if (a->mode == BQ_AUTH_STATIC)
		return 0;
	token_drop(a);
	return 1;
}

/* The form body of the JWT-bearer grant (malloc'd). */
static char *grant_body(struct bq_auth *a, struct bq_http *h, int64_t now_s)
{
	static const char grant[] =
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
	char *jwt = bq_jwt_assertion(a->key, BQ_SCOPE, now_s), *esc, *body = NULL;

	if (!jwt)
		return NULL;
	if ((esc = bq_http_escape(h, jwt)) && (body = malloc(sizeof(grant) + strlen(esc))))
		sprintf(body, "%s%s", grant, esc);
	bq_free_wiped(esc, esc ? strlen(esc) : 0); /* the assertion buys a token */
	bq_free_wiped(jwt, strlen(jwt));
	return body;
}

/* The assertion of a grant_body() (the JWT, as sent): it buys a token. */
static const char *grant_assertion(const char *body)
{
	const char *p = strstr(body, "&assertion=");

	return p ? p + strlen("&assertion=") : NULL;
}

/* expires_in of a token answer, in seconds: absent or not a number
 * DEFAULT_LIFETIME_S, below one second 60, at most MAX_LIFETIME_S (any
 * JSON number, so never cast out of range). */
static int64_t token_lifetime_s(json_t *exp)
{
	double v;

	if (json_is_integer(exp))
		v = (double)json_integer_value(exp);
	else if (json_is_real(exp))
		v = json_real_value(exp);
	else
		return DEFAULT_LIFETIME_S;
	if (!(v >= 1))
		return 60;
	return v >= MAX_LIFETIME_S ? MAX_LIFETIME_S : (int64_t)v;
}

/* A string of the endpoint's answer for a message, into buf: at most max
 * bytes cut at a character boundary (it is UTF-8: jansson read it),
 * control characters as spaces (the message is one line). */
static const char *answer_text(const char *s, size_t max, char *buf, size_t size)
{
	size_t n = text_utf8_prefix(s, max < size - 1 ? max : size - 1);

	memcpy(buf, s, n);
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return buf;
}

/* The code of a refused token request (not a Google envelope). */
static hub_rc refusal_rc(const struct bq_auth *a, long status)
{
	if (status == 429 || status == 408 || status >= 500)
		return HUB_RETRY;
	if (status == 200)
		return HUB_ERR_INTERNAL;
	if (status == 404 && a->mode == BQ_AUTH_METADATA)
		return HUB_ERR_CONFIG;
	return HUB_ERR_AUTH;
}

/* A token endpoint's answer -> a->token. */
static hub_rc take_token(struct bq_auth *a, long status, const char *body, const char *what,
			 const char *retry_after, int64_t now_ms, char *err, size_t err_size)
{
	json_t *root = body ? json_loads(body, 0, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(root, "access_token"));
	int64_t life_ms = token_lifetime_s(json_object_get(root, "expires_in")) * 1000;
	hub_rc rc = HUB_OK;

	if (status != 200 || !tok || !*tok) {
		const char *e = json_string_value(json_object_get(root, "error"));
		const char *d = json_string_value(json_object_get(root, "error_description"));
		char e_text[64], d_text[304];

		if (json_is_object(json_object_get(root, "error"))) {
			/* a Google envelope (metadata errors); its text is cut by
			 * bytes, so made valid UTF-8 again */
			rc = bq_error_decode(status, body, retry_after, err, err_size);
			text_utf8_repair(err);
			json_decref(root);
			return rc;
		}
		rc = refusal_rc(a, status);
		snprintf(err, err_size, "%s%.20s%s%s refused the token request (HTTP %ld): %s%s%s",
			 rc == HUB_RETRY && *retry_after ? "retry after " : "",
			 rc == HUB_RETRY && *retry_after ? retry_after : "",
			 rc == HUB_RETRY && *retry_after ? "s: " : "", what, status,
			 e ? answer_text(e, 60, e_text, sizeof(e_text))
			   : (status == 200 ? "no access_token" : "no error code"),
			 d ? ": " : "", d ? answer_text(d, 300, d_text, sizeof(d_text)) : "");
		text_utf8_repair(err); /* in case err_size cut it */
		json_decref(root);
		return rc;
	}
	token_drop(a);
	if (!(a->token = strdup(tok))) {
		json_decref(root);
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	/* five minutes early; a short-lived token at half its life */
	a->renew_at_ms = now_ms + (life_ms > 2 * RENEW_BEFORE_MS ? life_ms - RENEW_BEFORE_MS
								: life_ms / 2);
	json_decref(root);
	return HUB_OK;
}

const char *bq_auth_token(struct bq_auth *a, struct bq_http *h, int64_t now_ms, hub_rc *rc,
			  char *err, size_t err_size)
{
	char *body = NULL;
	long status = 0;

	*rc = HUB_OK;
	if (a->token && now_ms < a->renew_at_ms)
		return a->token;
	if (a->mode == BQ_AUTH_SERVICE_ACCOUNT) {
		if (!(body = grant_body(a, h, now_ms / 1000))) {
			*rc = HUB_ERR_INTERNAL;
			snprintf(err, err_size, "cannot sign the service account's JWT");
			return NULL;
		}
		*rc = bq_http_request(h, bq_sa_key_token_uri(a->key), NULL, NULL, body,
				      "application/x-www-form-urlencoded",
				      "the key file's token_uri", &status, err, err_size);
		if (*rc == HUB_OK && (status < 200 || status > 299)) /* an echo of the grant */
			h->resp.len = text_secret_redact(h->resp.p, h->resp.len,
							 grant_assertion(body));
		bq_free_wiped(body, strlen(body));
		if (*rc == HUB_OK)
			*rc = take_token(a, status, h->resp.p, "the key file's token_uri",
					 h->retry_after, now_ms, err, err_size);
	} else if (a->mode == BQ_AUTH_METADATA) {
		*rc = bq_http_request(h, a->metadata_url, NULL, "Metadata-Flavor: Google", NULL,
				      NULL, "the metadata server", &status, err, err_size);
		if (*rc == HUB_OK)
			*rc = take_token(a, status, h->resp.p, "the metadata server",
					 h->retry_after, now_ms, err, err_size);
	} else {
		return a->token;
	}
	if (h->resp.p)
		memset(h->resp.p, 0, h->resp.len); /* the answer held the token */
	bq_text_reset(&h->resp);
	return *rc == HUB_OK ? a->token : NULL;
}
