/*
 * bq_http.c - one libcurl easy handle per instance (reused, so
 * connections are kept alive between pages), the answer's body in a
 * growable buffer and its Retry-After header.  Also the small text buffer
 * the plugin writes JSON into.
 *
 * A request ends at its deadline (transfer_ms: query_timeout, 60 s at
 * least; a cancel's deadline_ms when sooner) and within a second of the
 * hub asking the pull to stop, however slowly the server sends its answer
 * (curl's low-speed limit alone let a trickle hold a pull and a shutdown).
 *
 * Never put a token or a query string into an error: messages name what
 * was asked ("jobs.query", "the token endpoint") and curl's reason.
 */
#include "bq.h"
#include "../common/retry_after.h"
#include "../common/text.h"
#include "../common/transient.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define USER_AGENT "profilehub-bigquery/1.0"

/* ---- text ------------------------------------------------------------------ */

void bq_text_reset(struct bq_text *t)
{
	t->len = 0;
	t->failed = 0;
	if (t->p)
		t->p[0] = '\0';
}

void bq_text_add(struct bq_text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *p;
		while (cap < t->len + n + 1)
			cap *= 2;
		if (!(p = realloc(t->p, cap))) {
			t->failed = 1;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

void bq_text_puts(struct bq_text *t, const char *s)
{
	bq_text_add(t, s, strlen(s));
}

void bq_text_json_string(struct bq_text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	bq_text_add(t, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = "\\u00";
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		bq_text_add(t, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			bq_text_add(t, esc, 2);
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			bq_text_add(t, esc, 6);
		}
	}
	bq_text_add(t, run, (size_t)(s - run));
	bq_text_add(t, "\"", 1);
}

/* ---- HTTP ------------------------------------------------------------------ */

/* Appends what curl got (decoded); past h->answer_max, or out of memory,
 * it returns 0 and curl fails the transfer (is_over, resp.failed say
 * which). */
static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct bq_http *h = ctx;
	size_t len = size * n;

	if (h->answer_max && len > h->answer_max - h->resp.len) {
		h->is_over = 1;
		return 0;
	}
	bq_text_add(&h->resp, data, len);
	return h->resp.failed ? 0 : len;
}

/* Retry-After's seconds, from delta-seconds or an HTTP date; "" when it
 * is neither. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct bq_http *h = ctx;
	size_t len = size * n;

	retry_after_keep(data, len, h->retry_after, sizeof(h->retry_after));
	return len;
}

int bq_http_init(struct bq_http *h, char *err, size_t err_size)
{
	CURL *c = curl_easy_init();

	memset(h, 0, sizeof(*h));
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
	transient_stop_install(c, &h->stop);
	h->curl = c;
	h->answer_max = BQ_ANSWER_MAX;
	h->transfer_ms = transient_transfer_ms(0, BQ_QUERY_TIMEOUT_DEFAULT_MS);
	return 0;
}

void bq_http_cleanup(struct bq_http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->resp.p);
	memset(h, 0, sizeof(*h));
}

char *bq_http_escape(struct bq_http *h, const char *s)
{
	char *e = curl_easy_escape(h->curl, s, 0), *out;

	if (!e)
		return NULL;
	out = strdup(e);
	OPENSSL_cleanse(e, strlen(e)); /* it may be the signed assertion */
	curl_free(e);
	return out;
}

/* Appends one header line; sets *failed when it cannot. */
static void header_add(struct curl_slist **list, const char *line, int *failed)
{
	struct curl_slist *l;

	if (*failed || !line)
		return;
	if (!(l = curl_slist_append(*list, line)))
		*failed = 1;
	else
		*list = l;
}

hub_rc bq_http_request(struct bq_http *h, const char *url, const char *bearer,
		       const char *extra, const char *body, const char *content_type,
		       const char *what, long *status, char *err, size_t err_size)
{
	struct curl_slist *hdrs = NULL;
	struct bq_text auth = {0};
	char ct[128];
	CURLcode c;
	int failed = 0;
	int64_t left_ms = h->deadline_ms ? h->deadline_ms - mono_clock_ms() : 0, t0_ms;

	*status = 0;
	if (h->deadline_ms && left_ms <= 0) {
		snprintf(err, err_size, "%s: no time left to send it", what);
		return HUB_RETRY;
	}
	if (bearer) {
		bq_text_puts(&auth, "Authorization: Bearer ");
		bq_text_puts(&auth, bearer);
		failed = auth.failed;
		header_add(&hdrs, auth.p, &failed);
	}
	header_add(&hdrs, extra, &failed);
	if (body) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		header_add(&hdrs, ct, &failed);
	}
	if (auth.p) {
		memset(auth.p, 0, auth.cap); /* the token does not linger */
		free(auth.p);
	}
	if (failed) {
		curl_slist_free_all(hdrs);
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	bq_text_reset(&h->resp);
	bq_text_add(&h->resp, "", 0);
	h->is_over = 0;
	h->retry_after[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	if (!h->deadline_ms || left_ms > h->transfer_ms)
		left_ms = h->transfer_ms;
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)left_ms);
	h->stop.is_stopped = 0;
	t0_ms = mono_clock_ms();
	if (body) {
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	}
	c = curl_easy_perform(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (h->stop.is_stopped) { /* the answer is dropped: the run reads it again */
		snprintf(err, err_size, "%s: stopped while the answer was read", what);
		return HUB_ERR_STOPPED;
	}
	if (transient_is_past(c, mono_clock_ms() - t0_ms, h->transfer_ms)) {
		transient_timed_out(err, err_size, what, NULL, h->transfer_ms);
		return HUB_RETRY;
	}
	/* before curl's code: either is its CURLE_WRITE_ERROR, which is no
	 * misconfiguration (out of memory disabled the source) */
	if (h->is_over) {
		snprintf(err, err_size, "%s: an answer over %zu bytes (decoded): lower page_size",
			 what, h->answer_max);
		return HUB_ERR_CONFIG;
	}
	if (h->resp.failed) {
		snprintf(err, err_size, "%s: out of memory for the answer", what);
		return HUB_ERR_NOMEM;
	}
	if (c != CURLE_OK) {
		snprintf(err, err_size, "%s: %s", what, curl_easy_strerror(c));
		return transient_curl(c) ? HUB_RETRY : HUB_ERR_CONFIG;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status < 200 || *status > 299) /* a refusal that echoes the request */
		h->resp.len = text_secret_redact(h->resp.p, h->resp.len, bearer);
	return HUB_OK;
}
