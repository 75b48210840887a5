/*
 * fuzz_answers.c - libFuzzer target for what remote servers answer the
 * plugins that call out, read without a network:
 *
 *   - the BigQuery plugin's token endpoint (plugins/bigquery/bq_auth.c's
 *     take_token: {"access_token", "expires_in"} or a refusal, plain or in
 *     a Google envelope), its Retry-After taken by bq_http.c's header
 *     callback;
 *   - the webhook export's receiver (plugins/webhook/webhook.c): header
 *     lines to its header callback (Retry-After: seconds or an HTTP date,
 *     curl_getdate), the body to its body callback (the snippet of a
 *     refusal), then what the status means (status_rc).
 *
 * The plugins' sources are compiled in (webhook.c's names that clash with
 * bq_http.c's are renamed below).
 *
 * The input:
 *
 *   byte 0   the status: one of statuses[] (byte % 16), or 100 + byte
 *   byte 1   bit 0: the metadata server (else a service account's
 *            token_uri); bit 1: a token is cached before the answer
 *   rest     up to the first NUL: the token endpoint's body; after it:
 *            header lines (\n-separated, given with CRLF as curl does),
 *            the same bytes being the receiver's body as well
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - a token taken on anything but a 200 with a non-empty access_token,
 *     or renewed in the past or later than a day;
 *   - a refusal that keeps no message, a message that is not one line of
 *     valid UTF-8, a cached token lost or changed by a refusal;
 *   - a Retry-After of delta-seconds (after spaces or tabs) not read as
 *     such, by the webhook or by BigQuery (both through plugins/common/
 *     retry_after.h, which reads an HTTP date too), a negative one, a
 *     BigQuery one that is not digits;
 *   - a webhook message with a byte outside printable ASCII, an '@' of
 *     the answer's body (an email it echoed), a "retry after" prefix the
 *     hub does not read back, a code that does not fit the status;
 *   - a redirect's message holding more of its Location than scheme,
 *     host and port (a '/' of a path, an '@' of user info).
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/answers/
 *                  when there are any)
 */
#include "../../plugins/bigquery/bq_auth.c"
#include "../../plugins/bigquery/bq_error.c"
#include "../../plugins/bigquery/bq_http.c"
#include "../../plugins/bigquery/bq_jwt.c"

/* static names that bq_http.c already uses */
#define on_body wh_on_body
#define on_header wh_on_header
#define hub_plugin_entry wh_hub_plugin_entry
#include "../../plugins/webhook/webhook.c"
#undef on_body
#undef on_header
#undef hub_plugin_entry

#include "util.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1772000000000LL

static const long statuses[] = {200, 200, 201, 204, 301, 400, 401, 403,
				404, 407, 408, 429, 500, 502, 503, 599};

/* 1 when s is one line of valid UTF-8 (jansson checks strictly). */
static int one_line_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j && !strpbrk(s, "\r\n");
}

/* ---- BigQuery: the token endpoint ------------------------------------------- */

static void check_token(long status, unsigned flags, const char *body, const char *retry_after)
{
	struct bq_auth a = {.mode = flags & 1 ? BQ_AUTH_METADATA : BQ_AUTH_SERVICE_ACCOUNT};
	json_t *root = json_loads(body, 0, NULL);
	const char *tok = json_string_value(json_object_get(root, "access_token"));
	char err[1024] = "";
	hub_rc rc;

	if (flags & 2) {
		if (!(a.token = strdup("cached-token")))
			abort();
		a.renew_at_ms = 1;
	}
	rc = take_token(&a, status, body, "the token endpoint", retry_after, FUZZ_NOW_MS, err,
			sizeof(err));
	if (rc == HUB_OK) {
		if (status != 200 || !tok || !*tok || !a.token || strcmp(a.token, tok) != 0)
			abort();
		if (a.renew_at_ms <= FUZZ_NOW_MS ||
		    a.renew_at_ms > FUZZ_NOW_MS + MAX_LIFETIME_S * 1000LL)
			abort();
	} else {
		if (rc != HUB_RETRY && rc != HUB_ERR_AUTH && rc != HUB_ERR_CONFIG &&
		    rc != HUB_ERR_INTERNAL)
			abort();
		if (!err[0] || !one_line_utf8(err))
			abort();
		if ((flags & 2) && (!a.token || strcmp(a.token, "cached-token") != 0))
			abort();
		if (!(flags & 2) && a.token)
			abort();
	}
	json_decref(root);
	token_drop(&a);
}

/* ---- the webhook's receiver ------------------------------------------------- */

/* BigQuery read a delta-seconds line as the seconds it says (past
 * LONG_MAX: LONG_MAX), as the webhook does (one reader, retry_after.h). */
static void check_bq_delta(long v, const struct bq_http *h)
{
	if (strtol(h->retry_after, NULL, 10) != v)
		abort();
}

/* The delta-seconds of a Retry-After line ("retry-after:" OWS digits OWS),
 * or -1 when the line is not one. */
static long delta_seconds(const char *line)
{
	static const char name[] = "retry-after:";
	const char *p;
	char *end;
	long v;

	if (strncasecmp(line, name, sizeof(name) - 1) != 0)
		return -1;
	p = line + sizeof(name) - 1;
	p += strspn(p, " \t");
	if (*p < '0' || *p > '9' || strlen(line) >= 120)
		return -1;
	v = strtol(p, &end, 10);
	end += strspn(end, " \t");
	return *end ? -1 : v;
}

/* 1 when the message names URLs by scheme://host:port only: its only '/'
 * are those of "://" (no path), and it holds no '@' (no user info). */
static int origins_only(const char *err)
{
	size_t slashes = 0, schemes = 0;

	for (const char *c = err; *c; c++)
		slashes += *c == '/';
	for (const char *c = err; (c = strstr(c, "://")); c += 3)
		schemes++;
	return slashes == 2 * schemes && !strchr(err, '@');
}

static void check_webhook(long status, char *lines, const char *raw, size_t raw_len)
{
	struct webhook wh = {0};
	struct bq_http h = {0};
	char err[512], *line, *next, buf[256];
	long expected = -1;
	size_t n_done = 0;
	hub_rc rc;

	static char url[] = "https://receiver.example/hook?key=k"; /* relative Locations' base */

	wh.url = url;
	snprintf(wh.origin, sizeof(wh.origin), "https://receiver.example:443");
	for (line = lines; line; line = next) {
		size_t len;
		long v;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		len = strlen(line);
		if (len + 3 > sizeof(buf))
			continue;
		memcpy(buf, line, len);
		memcpy(buf + len, "\r\n", 3);
		wh.retry_after_s = 0;
		if (wh_on_header(buf, 1, len + 2, &wh) != len + 2 || wh.retry_after_s < 0)
			abort();
		if ((v = delta_seconds(line)) >= 0 && wh.retry_after_s != v)
			abort();
		if (v >= 0)
			expected = v;
		else if (wh.retry_after_s > 0)
			expected = wh.retry_after_s; /* an HTTP date */
		if (on_header(buf, 1, len + 2, &h) != len + 2 ||
		    strspn(h.retry_after, "0123456789") != strlen(h.retry_after))
			abort();
		if (v >= 0)
			check_bq_delta(v, &h);
	}
	wh.retry_after_s = expected > 0 ? expected : 0;
	for (size_t off = 0; off < raw_len; off += 7) /* the body, in pieces */
		if (wh_on_body((char *)raw + off, 1, raw_len - off < 7 ? raw_len - off : 7, &wh) !=
		    (raw_len - off < 7 ? raw_len - off : 7))
			abort();
	if (wh.snippet_len > SNIPPET_MAX || strlen(wh.snippet) > wh.snippet_len)
		abort();

	rc = status_rc(&wh, status, 3, &n_done, err, sizeof(err));
	if ((status >= 200 && status < 300) != (rc == HUB_OK) || (rc == HUB_OK && n_done != 3))
		abort();
	if (rc == HUB_OK)
		return;
	for (const char *c = err; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			abort();
	if (rc == HUB_ERR_DATA && strchr(err, '@')) /* the receiver's echo of an email */
		abort();
	if (status >= 300 && status < 400 && !origins_only(err))
		abort();
	if (rc == HUB_RETRY && wh.retry_after_s > 0 &&
	    retry_after_ms_parse(err) != (wh.retry_after_s < 3600 ? wh.retry_after_s * 1000
								   : 3600000))
		abort();
	if (rc != HUB_RETRY && retry_after_ms_parse(err) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *lines;
	struct bq_http h = {0};
	long status;
	size_t body_len;

	if (size < 2)
		return 0;
	status = data[0] < 16 ? statuses[data[0]] : 100 + data[0];
	if (!(text = malloc(size - 2 + 1)))
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	body_len = strlen(text);
	lines = body_len < size - 2 ? text + body_len + 1 : text + body_len;

	/* the BigQuery answer's Retry-After comes from its headers */
	for (char *p = lines; *p;) {
		size_t len = strcspn(p, "\n");
		(void)on_header(p, 1, len, &h);
		p += len + (p[len] == '\n');
	}
	check_token(status, data[1], text, h.retry_after);
	check_webhook(status, lines, (const char *)data + 2, size - 2);
	free(text);
	return 0;
}
