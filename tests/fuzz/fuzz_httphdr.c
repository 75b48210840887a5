/*
 * fuzz_httphdr.c - libFuzzer target for what hub/http_request.c reads of a
 * request's head itself (hub/http_headers.c, hub/http_auth.c), without
 * libmicrohttpd: the header lines as it hands them over, the method and
 * the request target.
 *
 *   the framing checks against request smuggling (Content-Length and
 *   Transfer-Encoding: counts and values), Content-Encoding,
 *   Authorization, X-Signature and Host twice, Host missing in HTTP/1.1,
 *   a Host value that is not host[:port],
 *   the refusal they make (400, closing or not),
 *   Expect: 100-continue, the announced Content-Length against the limit,
 *   whether a refused request's body is drained, the API's
 *   Content-Encoding refusal (its message), the bearer token of /v1 and
 *   /metrics, absolute-form targets, %00 in a path, /in/<name>/<path>.
 *
 * The input:
 *
 *   byte 0   bits 0-1  http.max_body: 1, 512, 1 MiB or 2^62
 *            bits 2-3  the API's message buffer: 160 (http_request.c's), 1, 16, 40
 *            bit 4     the version: HTTP/1.0, or HTTP/1.1 (Host required)
 *   rest     lines (\n; a NUL ends a line's text, as a header cannot hold
 *            one): the method, the target, then one header a line,
 *            "name:value" (no ':': the name, an empty value).  "@D..." with
 *            D a digit names one of names[] (then an optional ':'), so
 *            mutations reach the headers the hub reads.
 *
 * Findings, besides crashes, sanitizer reports: a count or first value
 * that is not the header list's (names without case); an HTTP/1.1
 * request without Host, or any with two, taken; a Host value judged
 * otherwise than uri-host [":" digits] (a reg-name's bytes or one past
 * ASCII, or an IP literal's in brackets); a framing verdict
 * other than RFC 9112's (Content-Length twice, with Transfer-Encoding,
 * Transfer-Encoding twice or not "chunked") and so a request with two
 * Content-Length lines ever taken; a refusal without a status, code or
 * one-line message, or closing when only a header is twice; a length
 * taken past the limit or other than its digits; a body to read and drop
 * that is not drained, or one drained from a client waiting for 100
 * Continue; an API message past its buffer, unterminated or with a byte
 * outside printable ASCII; a bearer verdict other than the trimmed token's;
 * an origin path that is not a suffix of the target or "/".
 *
 *   make fuzz     (tests/fuzz/run.sh seeds it with tests/fixtures/httphdr/)
 */
#include "api.h"
#include "http_auth.h"
#include "http_headers.h"
#include "http_ingest.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 64

static const char *const names[] = {
	"Content-Length", "Transfer-Encoding", "Content-Encoding", "Authorization",
	"Expect",         "content-length",    "TRANSFER-ENCODING", "Host",
	"authorization",  "x-signature",
};

static char *tokens[] = {"t-one", "t-two"};

/* the header list as libmicrohttpd hands it over; strings into the copy */
struct head_in {
	const char *method, *target;
	const char *name[MAX_LINES], *value[MAX_LINES];
	size_t n;
};

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond))                                                               \
			abort();                                                           \
	} while (0)

/* ---- the input -------------------------------------------------------- */

/* One header line into h (text is modified: the name is cut at ':'). */
static void take_line(struct head_in *h, char *line)
{
	char *colon;

	if (h->n == MAX_LINES)
		return;
	if (line[0] == '@' && isdigit((unsigned char)line[1])) {
		h->name[h->n] = names[(line[1] - '0') % (sizeof(names) / sizeof(names[0]))];
		h->value[h->n++] = line[2] == ':' ? line + 3 : line + 2;
		return;
	}
	colon = strchr(line, ':');
	if (colon)
		*colon = '\0';
	h->name[h->n] = line;
	h->value[h->n++] = colon ? colon + 1 : "";
}

/* Splits text (NUL-terminated, modified) into the method, the target and
 * the header lines. */
static void parse_input(struct head_in *h, char *text, size_t len)
{
	char *line = text, *end = text + len;
	int k = 0;

	memset(h, 0, sizeof(*h));
	h->method = "";
	h->target = "";
	while (line <= end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (nl)
			*nl = '\0';
		if (k == 0)
			h->method = line;
		else if (k == 1)
			h->target = line;
		else
			take_line(h, line);
		k++;
		if (!nl)
			break;
		line = nl + 1;
	}
}

/* ---- oracles, written apart from the code under test ------------------ */

static int eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static int has_nocase(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++) {
		size_t i = 0;
		while (i < n && s[i] && tolower((unsigned char)s[i]) == needle[i])
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

/* How many lines are named `name`, and the first one's value. */
static int count_named(const struct head_in *in, const char *name, const char **first)
{
	int n = 0;

	*first = NULL;
	for (size_t i = 0; i < in->n; i++) {
		if (!eq_nocase(in->name[i], name))
			continue;
		if (!n)
			*first = in->value[i];
		n++;
	}
	return n;
}

/* 1 when s is printable ASCII, one line. */
static int is_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* ---- the checks ------------------------------------------------------- */

static void check_collected(const struct head_in *in, const struct http_headers *h)
{
	const char *v;

	CHECK(count_named(in, "Content-Length", &v) == h->n_lengths && v == h->content_length);
	CHECK(count_named(in, "Transfer-Encoding", &v) == h->n_codings &&
	      v == h->transfer_encoding);
	CHECK(count_named(in, "Content-Encoding", &v) == h->n_encodings &&
	      v == h->content_encoding);
	CHECK(count_named(in, "Authorization", &v) == h->n_auths && v == h->authorization);
	CHECK(count_named(in, "Expect", &v) == h->n_expects && v == h->expect);
	CHECK(count_named(in, "X-Signature", &v) == h->n_signatures);
	CHECK(count_named(in, "Host", &v) == h->n_hosts && v == h->host);
}

/* A reg-name's byte (RFC 3986: unreserved, sub-delims, '%'), or one past
 * ASCII (taken leniently); in brackets ':' too, ASCII only. */
static int is_host_byte(unsigned char c, int is_literal)
{
	static const char extra[] = "-._~!$&'()*+,;=%";

	if (c >= 0x80)
		return !is_literal;
	return isalnum(c) || (c && strchr(extra, c)) || (is_literal && c == ':');
}

/* Host is uri-host [":" *DIGIT], uri-host empty, a reg-name or "[...]". */
static int host_is_valid(const char *v)
{
	const char *p = v, *close;

	if (!v)
		return 1;
	if (*p == '[') {
		close = strchr(p, ']');
		if (!close || close == p + 1)
			return 0;
		for (p++; p < close; p++)
			if (!is_host_byte((unsigned char)*p, 1))
				return 0;
		p = close + 1;
		if (*p && *p != ':')
			return 0;
	} else {
		while (*p && *p != ':')
			if (!is_host_byte((unsigned char)*p++, 0))
				return 0;
	}
	if (*p == ':')
		for (p++; *p; p++)
			if (!isdigit((unsigned char)*p))
				return 0;
	return 1;
}

static void check_refusal(const struct http_headers *h)
{
	const char *te = h->transfer_encoding;
	int is_uncertain = (h->n_lengths && h->n_codings) || h->n_lengths > 1 ||
			   h->n_codings > 1 || (te && !eq_nocase(te, "chunked"));
	int is_twice = h->n_encodings > 1 || h->n_auths > 1 || h->n_signatures > 1 ||
		       h->n_hosts > 1;
	int is_hostless = h->is_host_required && !h->n_hosts;
	int is_bad_host = !host_is_valid(h->host);
	const char *framing = http_headers_framing_problem(h);
	struct http_headers_refusal r;
	int is_refused = http_headers_refusal(h, &r);

	CHECK((framing != NULL) == is_uncertain);
	CHECK((http_headers_twice(h) != NULL) == is_twice);
	CHECK((http_headers_host_missing(h) != NULL) == is_hostless);
	CHECK((http_headers_host_invalid(h) != NULL) == is_bad_host);
	CHECK(is_refused == (is_uncertain || is_twice || is_hostless || is_bad_host));
	if (h->n_lengths > 1) /* never taken, never read */
		CHECK(is_refused && r.is_closing);
	if (!is_refused) {
		CHECK(r.status == 0 && !r.code && !r.message && !r.is_closing);
		return;
	}
	CHECK(r.status == 400 && r.code && r.message && r.message[0]);
	CHECK(is_printable(r.message));
	CHECK(r.is_closing == is_uncertain);
	CHECK(strcmp(r.code, is_uncertain  ? "bad_framing"
			     : is_twice    ? "duplicate_header"
			     : is_hostless ? "missing_host"
					   : "invalid_host") == 0);
}

/* The digits of an all-digit value of up to 19 digits into *n, or 0. */
static int digits_of(const char *s, unsigned long long *n)
{
	size_t len = strlen(s);

	*n = 0;
	if (len == 0 || len > 19 || strspn(s, "0123456789") != len)
		return 0;
	for (; *s; s++)
		*n = *n * 10 + (unsigned long long)(*s - '0');
	return 1;
}

static void check_length(const struct http_headers *h, size_t limit)
{
	size_t out = 12345;
	int rc = http_headers_announced_length(h, limit, &out);
	int is_waiting = h->expect && has_nocase(h->expect, "100-continue");
	int is_drained = http_headers_is_body_to_drain(h, limit);
	unsigned long long n;

	CHECK(http_headers_is_expecting_continue(h) == is_waiting);
	CHECK(rc >= -1 && rc <= 1);
	CHECK(out <= limit);
	CHECK(rc == 0 || out == 0);
	if (is_waiting)
		CHECK(!is_drained && rc != 1);
	if (!h->content_length) {
		CHECK(rc == 0 && out == 0);
		CHECK(is_drained == (!is_waiting && h->transfer_encoding &&
				     has_nocase(h->transfer_encoding, "chunked")));
		return;
	}
	if (rc == 1) /* read and dropped before the 413 */
		CHECK(is_drained);
	if (rc == 0 && out > 0 && !is_waiting)
		CHECK(is_drained);
	if (!digits_of(h->content_length, &n))
		return;
	if (n <= limit)
		CHECK(rc == 0 && out == n);
	else if (n - limit <= limit && !is_waiting)
		CHECK(rc == 1);
	else
		CHECK(rc == -1);
	CHECK(is_drained == (!is_waiting && n > 0 && n <= 2 * (unsigned long long)limit));
}

static void check_api_encoding(const struct head_in *in, const struct http_headers *h,
			       size_t size)
{
	char msg[160 + 8];
	enum ingest_encoding enc;
	int is_identity = !ingest_encoding_parse(h->content_encoding, &enc) &&
			  enc == INGEST_IDENTITY;
	int is_refused;

	memset(msg, '#', sizeof(msg));
	is_refused = http_headers_api_encoding_refused(h, msg, size);
	CHECK(is_refused == !is_identity);
	for (size_t i = size; i < sizeof(msg); i++)
		CHECK(msg[i] == '#'); /* nothing past the buffer */
	if (is_refused) {
		CHECK(memchr(msg, '\0', size) != NULL);
		CHECK(is_printable(msg));
	}
	/* only the one route that takes a body reads it */
	if (api_wants_body(in->method, in->target))
		CHECK(strcmp(in->method, "POST") == 0);
}

static void check_bearer(const struct http_headers *h)
{
	const char *a = h->authorization;
	int status = http_auth_bearer_status(a, tokens, 2);
	size_t start, len;
	int expected = 401;

	if (a && strlen(a) >= 7 && a[6] == ' ') {
		char scheme[7];
		memcpy(scheme, a, 6);
		scheme[6] = '\0';
		start = 7 + strspn(a + 7, " \t");
		len = strlen(a + start);
		while (len && (a[start + len - 1] == ' ' || a[start + len - 1] == '\t'))
			len--;
		if (eq_nocase(scheme, "bearer") && len) {
			expected = 403;
			for (size_t i = 0; i < 2; i++)
				if (len == strlen(tokens[i]) && !memcmp(a + start, tokens[i], len))
					expected = 0;
		}
	}
	CHECK(status == expected);
	CHECK(http_auth_bearer(a, tokens, 2) == (expected == 0));
}

/* A loopback Host names no other host: any host part not "localhost"
 * (or under it) and not a literal address is refused. */
static void check_loopback_host(const struct http_headers *h)
{
	const char *host = h->host;
	int is_loopback = http_auth_is_loopback_host(host);

	if (!host) {
		CHECK(is_loopback);
		return;
	}
	if (is_loopback && host[0] != '[' && !(host[0] >= '0' && host[0] <= '9')) {
		char lower[256];
		size_t len = strcspn(host, ":");
		CHECK(len < sizeof(lower));
		for (size_t i = 0; i < len; i++)
			lower[i] = (char)tolower((unsigned char)host[i]);
		lower[len] = '\0';
		CHECK(strstr(lower, "localhost") != NULL);
	}
	if (is_loopback && host[0] == '[')
		CHECK(strchr(host, ']') != NULL);
}

static void check_target(const char *target)
{
	const char *path = http_target_origin_path(target);
	size_t len = strlen(target), name_len, cut = strcspn(target, "?#");
	int is_absolute = !strncasecmp(target, "http://", 7) || !strncasecmp(target, "https://", 8);
	const char *route;
	int has_nul = 0;

	/* a suffix of the target, or "/" */
	CHECK((path >= target && path <= target + len) || strcmp(path, "/") == 0);
	if (!is_absolute)
		CHECK(path == target);
	else
		CHECK(path[0] == '/' && strlen(path) < len);
	for (size_t i = 0; i + 2 < cut; i++)
		has_nul |= target[i] == '%' && target[i + 1] == '0' && target[i + 2] == '0';
	CHECK(http_target_has_nul(target) == has_nul);
	route = http_target_source(path, &name_len);
	if (!route) {
		CHECK(strncmp(path, "/in/", 4) != 0 || !strchr(path + 4, '/'));
		return;
	}
	CHECK(strncmp(path, "/in/", 4) == 0 && route == path + 4 + name_len);
	CHECK(*route == '/' && !memchr(path + 4, '/', name_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = {1, 512, 1048576, (size_t)1 << 62};
	static const size_t msg_sizes[] = {160, 1, 16, 40};
	struct head_in in;
	struct http_headers h;
	char *text;

	if (size < 1)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	parse_input(&in, text, size - 1);
	memset(&h, 0, sizeof(h));
	http_headers_set_version(&h, data[0] & 16 ? "HTTP/1.1" : "HTTP/1.0");
	for (size_t i = 0; i < in.n; i++)
		http_headers_add(&h, in.name[i], in.value[i]);
	check_collected(&in, &h);
	check_refusal(&h);
	check_length(&h, limits[data[0] & 3]);
	check_api_encoding(&in, &h, msg_sizes[(data[0] >> 2) & 3]);
	check_bearer(&h);
	check_loopback_host(&h);
	check_target(in.target);
	free(text);
	return 0;
}
