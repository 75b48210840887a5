/*
 * webhook.c - an export that POSTs each batch of changes to a URL as
 *
 *     {"changes": [change, ...]}
 *
 * with Content-Type: application/json,
 *      Idempotency-Key: <export name>-<first seq>-<last seq>  (the range
 *          the batch was planned over, batch_range(): the same batch sent
 *          again after a failure or a crash carries the same key, even
 *          when an erase or a merge took some of its changes out meanwhile)
 *      X-Profilehub-Timestamp: <unix seconds when this attempt was sent>
 *      X-Profilehub-Signature: v1=<hex HMAC-SHA256, keyed with `secret`, of
 *          "<timestamp>.<idempotency key>.<body>">
 *
 * The signature covers the key and the send time, not the body alone: a
 * captured request cannot be sent again under another key (past a
 * receiver's deduplication) nor, once its receiver's window is over, at
 * all.  Export names hold no '.', so the signed text reads one way only.
 *
 * One CURL handle per instance, reused, so the connection is kept alive
 * between batches; TLS peer and host verification stay on (`ca_file` may
 * name a private CA bundle: one that cannot be read, or holds no PEM
 * certificate, is refused at create and by `check`, naming it and why;
 * one that goes bad later is retried, as a file being replaced may be).
 * `timeout` bounds the whole request.
 *
 * Answers:
 *   2xx                      accepted: every change of the batch is done
 *   429, 5xx, 408, 425,
 *   409, 421, timeouts,
 *   connection errors        HUB_RETRY (409: the Idempotency-Key in
 *                            progress at the receiver; 421 Misdirected
 *                            Request: the next attempt on a new
 *                            connection, RFC 9110 15.5.20); a Retry-After
 *                            header (seconds or an HTTP date) becomes
 *                            "retry after <N>s: ..." at the start of the
 *                            message, which the exporter honours
 *   401, 403, 407            HUB_ERR_AUTH (the export is disabled until its
 *                            config, e.g. the secret, changes)
 *   3xx                      HUB_ERR_CONFIG (redirects are not followed: a
 *                            POST must not silently change its target); the
 *                            message names the Location's scheme://host:port
 *                            (where to point url), never its path or query
 *   404, 405, 410,
 *   414, 415, 426            HUB_ERR_CONFIG (the URL is wrong or gone, or
 *                            the receiver takes no such request: every
 *                            batch would be refused alike; the export
 *                            stops, the changes stay in the feed)
 *   other 4xx                HUB_ERR_DATA with n_done = 0: the receiver
 *                            refused the batch without saying which change
 *                            is bad; the exporter then sends that batch's
 *                            changes one at a time and dead-letters only
 *                            those refused alone.  The message gives the
 *                            answer's length, media type and first bytes,
 *                            words that may identify someone (an email,
 *                            3 digits or more) redacted, and words that
 *                            hold 8 bytes in a row of the url or of the
 *                            Basic credentials curl makes of it (a
 *                            receiver echoing the request it refused)
 *
 * Messages name the receiver (and a redirect's Location) by
 * scheme://host:port only: a URL's user info, path or query may hold
 * credentials, so `url` is a secret
 * (HUB_SECRET_CONNECTION: `check` and `run` warn when its password is
 * written in the file).  The secret never appears anywhere.
 */
#include <hub_plugin.h>

#include "../common/retry_after.h"
#include "../common/text.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct hub_config_key webhook_keys[] = {
	/* a secret: its user info, path or query may hold credentials */
	{.name = "url", .type = HUB_CFG_STRING, .is_required = 1,
	 .is_secret = HUB_SECRET_CONNECTION,
	 .description = "where to POST the batches (http:// or https://)"},
	{.name = "secret", .type = HUB_CFG_STRING, .is_required = 1, .is_secret = 1,
	 .description = "key of the X-Profilehub-Signature HMAC-SHA256"},
	{.name = "timeout", .type = HUB_CFG_DURATION, .default_value = "10s",
	 .description = "bound of one request, connecting included"},
	{.name = "ca_file", .type = HUB_CFG_STRING,
	 .description = "CA bundle to verify the receiver with (default: the system's)"},
	{.name = NULL},
};

#define SNIPPET_MAX 200
#define KEY_MAX 128 /* "<name>-<first>-<last>": 64 + 2 * 20 + 2 */
#define SIG_MAX (3 + 2 * EVP_MAX_MD_SIZE + 1) /* "v1=" + hex + NUL */
#define ORIGIN_MAX 256 /* scheme://host:port and its NUL */

struct webhook {
	const struct hub_host *host;
	char *name;       /* the export's name, for the idempotency key */
	char *url;
	char *secret;
	char *ca_file;
	char *url_secrets; /* the url, then (after a '\n') the Basic credentials
			    * curl makes of its user info, its user and its
			    * password: words of a refusal found in it are
			    * redacted (url_secrets_make) */
	char *url_user;     /* the url's user and password, decoded, NULL when */
	char *url_password; /* none: a short one is redacted as a word of its own */
	char origin[ORIGIN_MAX]; /* scheme://host:port, for messages */
	long timeout_ms;
	CURL *curl;
	int is_misdirected; /* the last answer was 421: the next request opens
			     * a new connection (CURLOPT_FRESH_CONNECT) */

	/* one request's */
	struct hub_call *call;
	long retry_after_s;
	char snippet[SNIPPET_MAX + 1];
	size_t snippet_len;
	size_t body_len;        /* the whole answer's, the snippet its start */
	char content_type[64];  /* its media type, printable, "" when none */
	enum { LOCATION_NONE, LOCATION_READ, LOCATION_UNREAD } location_is;
	char location[256];     /* its Location's origin when LOCATION_READ */
};

/* ---- create / destroy -------------------------------------------------- */

/* Wipes and frees s (NULL: nothing). */
static void secret_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

static void webhook_destroy(void *state)
{
	struct webhook *wh = state;

	if (!wh)
		return;
	if (wh->curl)
		curl_easy_cleanup(wh->curl);
	free(wh->name);
	secret_free(wh->url); /* its user info may be credentials */
	secret_free(wh->secret);
	free(wh->ca_file);
	secret_free(wh->url_secrets);
	secret_free(wh->url_user);
	secret_free(wh->url_password);
	free(wh);
}

/*
 * What of the request a receiver may echo in a refusal that is secret:
 * the url (its user info, path and query may hold credentials), the
 * "Authorization: Basic" value curl sends for its user info (base64 of
 * "user:password", percent-decoded), and that user and password.  Sets
 * wh->url_secrets (the url, '\n', that value, '\n', the user, '\n', the
 * password) and wh->url_user, wh->url_password (NULL when none): 0, or -1
 * out of memory.  The url was checked (url_origin).
 */
static int url_secrets_make(struct webhook *wh)
{
	CURLU *u = curl_url();
	char *user = NULL, *password = NULL, *plain = NULL, *out = NULL;
	size_t len, b64;
	int rc = -1;

	if (!u || curl_url_set(u, CURLUPART_URL, wh->url, 0) != CURLUE_OK)
		goto out;
	(void)curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	(void)curl_url_get(u, CURLUPART_PASSWORD, &password, CURLU_URLDECODE);
	if (asprintf(&plain, "%s:%s", user ? user : "", password ? password : "") < 0) {
		plain = NULL;
		goto out;
	}
	len = strlen(plain);
	b64 = user || password ? 4 * ((len + 2) / 3) : 0;
	if (!(out = malloc(strlen(wh->url) + 1 + b64 + 1 + len + 1)))
		goto out;
	len = (size_t)sprintf(out, "%s\n", wh->url);
	if (b64)
		len += (size_t)EVP_EncodeBlock((unsigned char *)out + len,
					       (const unsigned char *)plain, (int)strlen(plain));
	sprintf(out + len, "\n%s\n%s", user ? user : "", password ? password : "");
	if ((user && !(wh->url_user = strdup(user))) ||
	    (password && !(wh->url_password = strdup(password))))
		goto out;
	wh->url_secrets = out;
	out = NULL;
	rc = 0;
out:
	secret_free(out);
	secret_free(plain);
	if (password)
		explicit_bzero(password, strlen(password));
	curl_free(password);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/* scheme://host:port of the URL held by u (the scheme's default port when
 * it names none), each byte outside printable ASCII written '?': never its
 * user info, path or query.  -1 when it lacks one of the three. */
static int curlu_origin(CURLU *u, char *out, size_t size)
{
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		snprintf(out, size, "%s://%s:%s", scheme, host, port);
		for (char *c = out; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		rc = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return rc;
}

/* scheme://host:port of `url`, else of `location` resolved against it when
 * location is not NULL (a redirect's, maybe relative).  -1 when it is not
 * an http(s) URL. */
static int url_origin(const char *url, const char *location, char *out, size_t size)
{
	CURLU *u = curl_url();
	int rc = -1;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    (!location || curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK) &&
	    curlu_origin(u, out, size) == 0 &&
	    (strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0))
		rc = 0;
	curl_url_cleanup(u);
	return rc;
}

/*
 * Whether `path` can verify a receiver: it opens, is a regular file, and
 * holds a certificate OpenSSL takes (X509_STORE_load_file, what curl loads
 * CURLOPT_CAINFO with).  HUB_OK, else HUB_ERR_CONFIG with "ca_file: <path>:
 * why" in err (why: the errno's text, a directory, no PEM certificate).
 * Without it every batch failed at its TLS handshake and was retried for
 * ever, the cause in a curl message.
 */
static hub_rc ca_file_check(const char *path, char *err, size_t err_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	X509_STORE *store;
	int is_loaded;

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, err_size, "ca_file: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return HUB_ERR_CONFIG;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "ca_file: %s: %s, not a file of PEM certificates", path,
			 S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		return HUB_ERR_CONFIG;
	}
	if (!(store = X509_STORE_new()))
		return HUB_ERR_NOMEM;
	is_loaded = X509_STORE_load_file(store, path);
	X509_STORE_free(store);
	ERR_clear_error(); /* a failed load's, which curl would take for its own */
	if (!is_loaded) {
		snprintf(err, err_size, "ca_file: %s: holds no PEM certificate (-----BEGIN"
			 " CERTIFICATE-----)", path);
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * Everything create() refuses of the values alone, and all that
 * check_config() refuses (ABI 1.10): timeout, the url, and a ca_file that
 * cannot verify a receiver (the one file read, as create() reads it;
 * nothing connects).  The url's scheme://host:port into origin (size
 * bytes).  HUB_OK, or a code with err naming the key.
 */
static hub_rc webhook_values_check(const struct hub_host *host, const struct hub_instance *inst,
				   char *origin, size_t size, char *err, size_t err_size)
{
	const char *ca = host->config_string(inst, "ca_file");

	if (host->config_int(inst, "timeout") < 1) {
		snprintf(err, err_size, "timeout: must be at least 1ms (0s would be none at all)");
		return HUB_ERR_CONFIG;
	}
	if (url_origin(host->config_string(inst, "url"), NULL, origin, size)) {
		snprintf(err, err_size, "url: not an http:// or https:// URL");
		return HUB_ERR_CONFIG;
	}
	return ca ? ca_file_check(ca, err, err_size) : HUB_OK;
}

static hub_rc webhook_create(const struct hub_host *host, const struct hub_instance *inst,
			     void **state, char *err, size_t err_size)
{
	struct webhook *wh = calloc(1, sizeof(*wh));
	const char *ca = host->config_string(inst, "ca_file");
	hub_rc rc;

	if (!wh)
		return HUB_ERR_NOMEM;
	wh->host = host;
	wh->timeout_ms = (long)host->config_int(inst, "timeout");
	wh->name = dup_or_null(host->instance_name(inst));
	wh->url = dup_or_null(host->config_string(inst, "url"));
	wh->secret = dup_or_null(host->config_string(inst, "secret"));
	wh->ca_file = dup_or_null(ca);
	if (!wh->name || !wh->url || !wh->secret || (ca && !wh->ca_file))
		goto nomem;
	if ((rc = webhook_values_check(host, inst, wh->origin, sizeof(wh->origin), err,
				       err_size)) != HUB_OK)
		goto fail;
	if (url_secrets_make(wh))
		goto nomem;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(wh->curl = curl_easy_init()))
		goto nomem;
	*state = wh;
	return HUB_OK;
nomem:
	rc = HUB_ERR_NOMEM;
fail:
	webhook_destroy(wh);
	return rc;
}

/* ---- one request ---------------------------------------------------------- */

/* The seq of a change (the exporter writes it first, but read it as JSON). */
static long long change_seq(const char *change)
{
	json_t *c = json_loads(change, JSON_DISABLE_EOF_CHECK, NULL);
	long long seq = (long long)json_integer_value(json_object_get(c, "seq"));
	json_decref(c);
	return seq;
}

/* The batch's range for its idempotency key: the host's plan (ABI 1.4),
 * else (an older host) the seqs of its first and last change. */
static void batch_range(const struct webhook *wh, struct hub_call *call,
			const char *const *changes, size_t n, long long *first, long long *last)
{
	int64_t a, b;

	if (call && HUB_HOST_HAS(wh->host, batch_range) &&
	    wh->host->batch_range(call, &a, &b) == HUB_OK) {
		*first = (long long)a;
		*last = (long long)b;
		return;
	}
	*first = change_seq(changes[0]);
	*last = change_seq(changes[n - 1]);
}

/* {"changes":[c0,c1,...]}: the changes are JSON text already. */
static char *body_build(const char *const *changes, size_t n, size_t *len)
{
	static const char head[] = "{\"changes\":[", tail[] = "]}";
	size_t total = sizeof(head) - 1 + sizeof(tail);
	char *body, *p;

	for (size_t i = 0; i < n; i++)
		total += strlen(changes[i]) + 1;
	if (!(body = malloc(total)))
		return NULL;
	p = body;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(changes[i]);
		if (i)
			*p++ = ',';
		memcpy(p, changes[i], l);
		p += l;
	}
	memcpy(p, tail, sizeof(tail));
	*len = (size_t)(p - body) + sizeof(tail) - 1;
	return body;
}

/* The signature header's value: "v1=" and the hex HMAC-SHA256, keyed with
 * the secret, of "<stamp>.<key>.<body>"; -1 when OpenSSL fails. */
static int signature_build(const struct webhook *wh, const char *stamp, const char *key,
			   const char *body, size_t len, char out[SIG_MAX])
{
	static const char digits[] = "0123456789abcdef";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0;
	int rc = -1;

	EVP_MAC_free(hmac); /* the context keeps its own reference */
	if (!ctx ||
	    !EVP_MAC_init(ctx, (const unsigned char *)wh->secret, strlen(wh->secret), params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)stamp, strlen(stamp)) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)key, strlen(key)) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)body, len) ||
	    !EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)))
		goto out;
	memcpy(out, "v1=", 3);
	for (size_t i = 0; i < mac_len; i++) {
		out[3 + 2 * i] = digits[mac[i] >> 4];
		out[3 + 2 * i + 1] = digits[mac[i] & 15];
	}
	out[3 + 2 * mac_len] = '\0';
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx); /* wipes the keyed state */
	return rc;
}

/* Keeps the start of the answer's body, for the message of a refusal. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct webhook *wh = ctx;
	size_t n = size * nmemb, room = SNIPPET_MAX - wh->snippet_len;

	wh->body_len += n;
	if (room > n)
		room = n;
	memcpy(wh->snippet + wh->snippet_len, data, room);
	wh->snippet_len += room;
	wh->snippet[wh->snippet_len] = '\0';
	return n;
}

/* A Location line's origin (relative to url when it is), for the message
 * of a redirect: where the operator may point url.  Its path, query and
 * user info are never kept (they may hold credentials). */
static void location_keep(struct webhook *wh, const char *line, size_t len)
{
	static const char name[] = "location:";
	size_t name_len = sizeof(name) - 1;
	char *value;

	if (len <= name_len || strncasecmp(line, name, name_len) != 0)
		return;
	line += name_len;
	len -= name_len;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && strchr(" \t\r\n", line[len - 1]))
		len--;
	wh->location_is = LOCATION_UNREAD;
	if (!(value = strndup(line, len)))
		return;
	if (url_origin(wh->url, value, wh->location, sizeof(wh->location)) == 0)
		wh->location_is = LOCATION_READ;
	free(value);
}

/* Retry-After: delta-seconds or an HTTP date (0 when it is past); Location. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct webhook *wh = ctx;
	size_t n = size * nmemb;
	long s = retry_after_line(data, n, time(NULL));

	if (s >= 0)
		wh->retry_after_s = s;
	location_keep(wh, data, n);
	return n;
}

/* Aborts the transfer when the hub is stopping, until the whole body is
 * sent: from then on the receiver may have stored the batch, so its answer
 * is waited for (within `timeout`), and the batch is not sent again after
 * a restart (a stop cut such a transfer: the batch came twice). */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct webhook *wh = ctx;

	(void)dltotal;
	(void)dlnow;
	if (ultotal > 0 && ulnow >= ultotal)
		return 0;
	return wh->call && wh->host->should_stop(wh->call) ? 1 : 0;
}

#define REDACTED "[redacted]"
/* The snippet with every word a redaction may replace replaced: a word of
 * one byte (an '@') becomes all of REDACTED, so each byte may become as
 * many (4 a byte overran it: an answer of "@ @ @ ..."). */
#define SNIPPET_SAFE_MAX (SNIPPET_MAX * (sizeof(REDACTED) - 1) + 1)

/* A byte between the words of an answer ("{\"error\": \"x\"}"). */
static int is_word_break(char c)
{
	return c == ' ' || strchr("\"'`,;:()[]{}<>=", c) != NULL;
}

/* A word that may be a person's identifier: an email (an '@', or "%40"
 * URL-encoded), or a run of 3 digits or more (a phone number, an ID). */
static int is_word_personal(const char *w, size_t n)
{
	size_t digits = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i] == '@' || (i + 2 < n && w[i] == '%' && w[i + 1] == '4' && w[i + 2] == '0'))
			return 1;
		digits = w[i] >= '0' && w[i] <= '9' ? digits + 1 : 0;
		if (digits >= 3)
			return 1;
	}
	return 0;
}

/* Whether the word w (n bytes) holds s, a secret under TEXT_SECRET_MIN
 * bytes, whole and standing apart (text_secret_copy_at(): no letter or
 * digit beside it), as a short password echoed alone ("pw7.") does and
 * "pw7x" does not.  0 for a longer or empty s. */
static int word_holds_short(const char *w, size_t n, const char *s)
{
	size_t len = s ? strlen(s) : 0, k;

	if (len == 0 || len >= TEXT_SECRET_MIN)
		return 0;
	for (size_t i = 0; i + len <= n; i++) {
		for (k = 0; k < len && w[i + k] == s[k]; k++)
			;
		if (text_secret_copy_at(w, n, i, k, len, i ? w[i - 1] : 0))
			return 1;
	}
	return 0;
}

/* A word that holds TEXT_SECRET_MIN bytes in a row of the url, of the
 * Basic credentials made of it or of its user or password (a receiver
 * echoing the request it refused), found in wh->url_secrets, or the url's
 * user or password shorter than that, standing apart.  Not only a word
 * that is all part of them: one ending a sentence ("token-x.") or
 * JSON-escaped ("\/hook\/token-x") was quoted whole; and a password under
 * 8 bytes echoed alone was quoted. */
static int is_word_secret(const struct webhook *wh, const char *w, size_t n)
{
	size_t len = wh->url_secrets ? strlen(wh->url_secrets) : 0;

	for (size_t i = 0; len && i + TEXT_SECRET_MIN <= n; i++)
		if (memmem(wh->url_secrets, len, w + i, TEXT_SECRET_MIN))
			return 1;
	return word_holds_short(w, n, wh->url_user) || word_holds_short(w, n, wh->url_password);
}

/*
 * The snippet of a refusal as a message may hold it: printable ASCII, and
 * each word that may be a person's identifier (the receiver echoing the
 * email it refused) replaced by REDACTED.  The message goes to the log,
 * the export's last error and the dead letter's reason: the receiver's
 * words ("invalid field email") stay, whoever they named does not.  When
 * the answer was longer than the snippet, its last word may be the start
 * of an identifier cut before its '@' ("ann" of "ann@example.com"): it is
 * left out, and "..." says so.
 */
static const char *snippet_safe(struct webhook *wh, char out[SNIPPET_SAFE_MAX])
{
	char *s = wh->snippet, *o = out;
	size_t i = 0;
	int is_cut = wh->body_len > wh->snippet_len;

	for (size_t k = 0; k < wh->snippet_len; k++)
		if (s[k] < 32 || s[k] > 126)
			s[k] = ' ';
	while (i < wh->snippet_len) {
		size_t n = 0;
		while (i + n < wh->snippet_len && !is_word_break(s[i + n]))
			n++;
		if (n == 0) {
			*o++ = s[i++];
			continue;
		}
		if (is_cut && i + n == wh->snippet_len) {
			memcpy(o, "...", 3);
			o += 3;
		} else if (is_word_personal(s + i, n) || is_word_secret(wh, s + i, n)) {
			memcpy(o, REDACTED, sizeof(REDACTED) - 1);
			o += sizeof(REDACTED) - 1;
		} else {
			memcpy(o, s + i, n);
			o += n;
		}
		i += n;
	}
	*o = '\0';
	return out;
}

/* The answer's media type (before any ';'), printable, for a message. */
static void content_type_keep(struct webhook *wh, const char *ct)
{
	size_t n = 0;

	wh->content_type[0] = '\0';
	if (!ct)
		return;
	while (ct[n] && ct[n] != ';' && ct[n] > 32 && ct[n] < 127 &&
	       n + 1 < sizeof(wh->content_type)) {
		wh->content_type[n] = ct[n];
		n++;
	}
	wh->content_type[n] = '\0';
}

static void request_setup(struct webhook *wh, const char *body, size_t len,
			  struct curl_slist *headers, char *curl_err)
{
	CURL *c = wh->curl;

	curl_easy_setopt(c, CURLOPT_URL, wh->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "profilehub-webhook/2.0");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, wh->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, wh->timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (wh->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, wh->ca_file);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, wh->is_misdirected ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, wh);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, wh);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, wh);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
}

/* The headers of one attempt at a batch, signed at `now`; NULL when out of
 * memory or when OpenSSL fails. */
static struct curl_slist *headers_build(const struct webhook *wh, long long first,
					long long last, time_t now, const char *body, size_t len)
{
	char key[KEY_MAX], stamp[32], sig[SIG_MAX];
	char key_line[KEY_MAX + 32], stamp_line[64], sig_line[SIG_MAX + 32];
	const char *lines[] = {"Content-Type: application/json", "Expect:", key_line, stamp_line,
			       sig_line};
	struct curl_slist *h = NULL, *next;

	snprintf(key, sizeof(key), "%s-%lld-%lld", wh->name, first, last);
	snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	if (signature_build(wh, stamp, key, body, len, sig))
		return NULL;
	snprintf(key_line, sizeof(key_line), "Idempotency-Key: %s", key);
	snprintf(stamp_line, sizeof(stamp_line), "X-Profilehub-Timestamp: %s", stamp);
	snprintf(sig_line, sizeof(sig_line), "X-Profilehub-Signature: %s", sig);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!(next = curl_slist_append(h, lines[i])))
			goto fail;
		h = next;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

/* Why a status refuses the URL itself rather than the batch, or NULL.  Such
 * an answer would refuse every change alike: dead-lettering them one by one
 * would empty the feed into the dead letters.  414, 415 and 426 are of the
 * request's url, media type and protocol, the same for every change. */
static const char *url_refusal(long status)
{
	switch (status) {
	case 404:
		return "no such endpoint";
	case 405:
		return "the endpoint does not take a POST";
	case 410:
		return "the endpoint is gone";
	case 414:
		return "the url is too long for the receiver";
	case 415:
		return "the endpoint does not take application/json";
	case 426:
		return "the endpoint asks for another protocol (https://?)";
	default:
		return NULL;
	}
}

/* Whether a status asks for the same request again later: 429, 5xx, 408;
 * 425 Too Early (RFC 8470); 421 Misdirected Request, which RFC 9110 lets a
 * client retry on another connection (as "other 4xx" the batch was split
 * and dead-lettered, though nothing was wrong with it); 409, which a receiver deduplicating on the
 * Idempotency-Key answers while the first request of that key is still in
 * progress (draft-ietf-httpapi-idempotency-key-header): as "other 4xx" the
 * batch was sent again one change at a time, under new keys, so applied
 * twice, and a batch of one was dead-lettered while being applied. */
static int is_status_retried(long status)
{
	return status == 429 || status == 408 || status == 425 || status == 409 ||
	       status == 421 || status >= 500 || status < 200;
}

/* A 3xx: not followed (a POST must not change its target unseen), and
 * its Location's origin named, so the operator knows where to point url. */
static hub_rc redirect_refusal(const struct webhook *wh, long status, char *err,
			       size_t err_size)
{
	char where[sizeof(wh->location) + 96];

	if (wh->location_is == LOCATION_NONE)
		snprintf(where, sizeof(where), " (no Location given)");
	else if (wh->location_is == LOCATION_UNREAD)
		snprintf(where, sizeof(where), " (its Location is not an http(s) URL)");
	else if (strcmp(wh->location, wh->origin) == 0)
		snprintf(where, sizeof(where), "; its Location is another path at the same"
			 " origin: check the path of the export's url");
	else
		snprintf(where, sizeof(where), "; its Location is at %s: set the export's url"
			 " there if that is the receiver", wh->location);
	snprintf(err, err_size, "HTTP %ld from %s: redirects are not followed%s", status,
		 wh->origin, where);
	return HUB_ERR_CONFIG;
}

/* What an HTTP status means for the batch. */
static hub_rc status_rc(struct webhook *wh, long status, size_t n, size_t *n_done, char *err,
			size_t err_size)
{
	const char *why;
	char safe[SNIPPET_SAFE_MAX];

	if (status >= 200 && status < 300) {
		*n_done = n;
		return HUB_OK;
	}
	if (is_status_retried(status)) {
		const char *note = status == 409 ? " (a conflict: the receiver may still be"
						   " applying this Idempotency-Key)"
				   : status == 421 ? " (misdirected: sent again on a new connection)"
						   : "";
		if (wh->retry_after_s > 0)
			snprintf(err, err_size, "retry after %lds: HTTP %ld from %s%s",
				 wh->retry_after_s, status, wh->origin, note);
		else
			snprintf(err, err_size, "HTTP %ld from %s%s", status, wh->origin, note);
		return HUB_RETRY;
	}
	if (status == 401 || status == 403 || status == 407) {
		snprintf(err, err_size, "HTTP %ld from %s: credentials refused", status,
			 wh->origin);
		return HUB_ERR_AUTH;
	}
	if (status < 400)
		return redirect_refusal(wh, status, err, err_size);
	if ((why = url_refusal(status))) {
		snprintf(err, err_size, "HTTP %ld from %s: %s; check the export's url", status,
			 wh->origin, why);
		return HUB_ERR_CONFIG;
	}
	if (!wh->body_len)
		snprintf(err, err_size, "HTTP %ld from %s (no body)", status, wh->origin);
	else
		snprintf(err, err_size, "HTTP %ld from %s (%zu bytes%s%s): %s", status,
			 wh->origin, wh->body_len, wh->content_type[0] ? ", " : "",
			 wh->content_type, snippet_safe(wh, safe));
	return HUB_ERR_DATA;
}

static hub_rc webhook_export(void *state, struct hub_call *call, const char *const *changes,
			     size_t n, size_t *n_done, char *err, size_t err_size)
{
	struct webhook *wh = state;
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	size_t len = 0;
	char *body;
	long status = 0;
	long long first, last;
	CURLcode res;
	hub_rc rc = HUB_ERR_NOMEM;

	*n_done = 0;
	if (n == 0)
		return HUB_OK;
	batch_range(wh, call, changes, n, &first, &last);
	if (!(body = body_build(changes, n, &len)) ||
	    !(headers = headers_build(wh, first, last, time(NULL), body, len)))
		goto out;
	wh->call = call;
	wh->retry_after_s = 0;
	wh->snippet_len = 0;
	wh->snippet[0] = '\0';
	wh->body_len = 0;
	wh->content_type[0] = '\0';
	wh->location_is = LOCATION_NONE;
	request_setup(wh, body, len, headers, curl_err);
	res = curl_easy_perform(wh->curl);
	wh->call = NULL;
	wh->is_misdirected = 0;
	if (res == CURLE_OK) {
		char *ct = NULL;
		curl_easy_getinfo(wh->curl, CURLINFO_RESPONSE_CODE, &status);
		wh->is_misdirected = status == 421;
		curl_easy_getinfo(wh->curl, CURLINFO_CONTENT_TYPE, &ct);
		content_type_keep(wh, ct);
		rc = status_rc(wh, status, n, n_done, err, err_size);
	} else if (res == CURLE_URL_MALFORMAT || res == CURLE_UNSUPPORTED_PROTOCOL) {
		snprintf(err, err_size, "%s: %s", wh->origin, curl_easy_strerror(res));
		rc = HUB_ERR_CONFIG;
	} else {
		/* ca_file gone bad since create: retried (it may be being
		 * replaced), the message naming it and why */
		char why[512];
		/* curl's own words may quote a proxy's URL whole, its
		 * password too (one from https_proxy, say) */
		text_url_userinfo_redact(curl_err);
		if (res != CURLE_SSL_CACERT_BADFILE || !wh->ca_file ||
		    ca_file_check(wh->ca_file, why, sizeof(why)) != HUB_ERR_CONFIG)
			snprintf(why, sizeof(why), "%s",
				 curl_err[0] ? curl_err : curl_easy_strerror(res));
		snprintf(err, err_size, "POST to %s: %s", wh->origin, why);
		rc = HUB_RETRY;
	}
out:
	/* the handle keeps its connection; drop what pointed at this batch */
	curl_easy_setopt(wh->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(wh->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	free(body);
	return rc;
}

/* What `profilehub check` (and `run` at start) says of the values alone
 * (ABI 1.10): what create() refuses (webhook_values_check()), and a warning
 * for a url of plain http:// to another machine, which sends every profile,
 * and the credentials a URL may hold, in clear text. */
static hub_rc webhook_check_config(const struct hub_host *host, const struct hub_instance *inst,
				   char *err, size_t err_size)
{
	char origin[ORIGIN_MAX];

	if (text_url_is_clear_remote(host->config_string(inst, "url")))
		host->log(inst, HUB_LOG_WARN, "%s",
			  TEXT_CLEAR_REMOTE("url", "the profiles (personal data) and the "
						   "credentials the URL may hold"));
	return webhook_values_check(host, inst, origin, sizeof(origin), err, err_size);
}

/* `profilehub check --connect`: the receiver answers at all (any status). */
static hub_rc webhook_check_connect(void *state, char *err, size_t err_size)
{
	struct webhook *wh = state;
	CURL *c = curl_easy_init();
	CURLcode res;

	if (!c)
		return HUB_ERR_NOMEM;
	curl_easy_setopt(c, CURLOPT_URL, wh->url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, wh->timeout_ms);
	if (wh->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, wh->ca_file);
	res = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (res == CURLE_OK)
		return HUB_OK;
	snprintf(err, err_size, "%s: %s", wh->origin, curl_easy_strerror(res));
	return HUB_RETRY;
}

static const struct hub_plugin webhook_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "webhook",
	.version = "2.0.0",
	.description = "POSTs signed JSON batches of changes to a URL",
	.roles = HUB_ROLE_EXPORT,
	.config = webhook_keys,
	.create = webhook_create,
	.destroy = webhook_destroy,
	.check_connect = webhook_check_connect,
	.check_config = webhook_check_config,
	.export_batch = webhook_export,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &webhook_plugin;
}
