/*
 * http_headers.c - see http_headers.h.  Pure functions over strings: no
 * libmicrohttpd, no socket, no allocation, so each rule is testable alone
 * and fuzzable (tests/fuzz/fuzz_httphdr.c).  A header's value is never
 * logged; the one message that quotes a header (the API's refused
 * Content-Encoding) keeps 32 printable bytes of it.
 */
#include "http_headers.h"

#include "http_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Counts a line of `name` and keeps its value if it is the first. */
static void headers_take(const char **first, int *n, const char *value)
{
	if (!*first)
		*first = value;
	(*n)++;
}

void http_headers_set_version(struct http_headers *h, const char *version)
{
	/* libmicrohttpd answers 505 to any version but HTTP/1.x */
	h->is_host_required = version && strncmp(version, "HTTP/1.", 7) == 0 &&
			      strcmp(version + 7, "0") != 0;
}

void http_headers_add(struct http_headers *h, const char *name, const char *value)
{
	if (!name)
		return;
	if (strcasecmp(name, "Content-Length") == 0)
		headers_take(&h->content_length, &h->n_lengths, value);
	else if (strcasecmp(name, "Transfer-Encoding") == 0)
		headers_take(&h->transfer_encoding, &h->n_codings, value);
	else if (strcasecmp(name, "Content-Encoding") == 0)
		headers_take(&h->content_encoding, &h->n_encodings, value);
	else if (strcasecmp(name, "Authorization") == 0)
		headers_take(&h->authorization, &h->n_auths, value);
	else if (strcasecmp(name, "Expect") == 0)
		headers_take(&h->expect, &h->n_expects, value);
	else if (strcasecmp(name, "X-Signature") == 0)
		h->n_signatures++;
	else if (strcasecmp(name, "Host") == 0)
		headers_take(&h->host, &h->n_hosts, value);
}

/*
 * A request whose end is not certain (RFC 9112 6.1, 6.3): Content-Length
 * with Transfer-Encoding, Content-Length twice, Transfer-Encoding twice (the
 * lines make one list: "chunked" then "identity" is not chunked), or a
 * transfer coding other than chunked.  libmicrohttpd framed such a request
 * by one header and read what the other one covered as the next request:
 * behind a proxy that frames by the other, a client's bytes would be taken
 * as the start of someone else's request, with that one's token.
 */
const char *http_headers_framing_problem(const struct http_headers *h)
{
	if (h->n_codings && h->n_lengths)
		return "Content-Length and Transfer-Encoding together:"
		       " the body's end is not certain";
	if (h->n_lengths > 1)
		return "Content-Length more than once: the body's end is not certain";
	if (h->n_codings > 1)
		return "Transfer-Encoding more than once: only one chunked is taken";
	if (h->transfer_encoding && strcasecmp(h->transfer_encoding, "chunked") != 0)
		return "Transfer-Encoding: only chunked is taken (gzip goes in Content-Encoding)";
	return NULL;
}

/*
 * The same rule for the other headers the hub reads one line of: two
 * Content-Encoding lines make one list (RFC 9110 5.3: "identity" then
 * "gzip" is gzip, refused 415 on one line), two Authorization or
 * X-Signature lines (a plugin's credential headers) two credentials.  Only
 * the first line was read, so a second coding went unseen and only the
 * first credential was checked.  Two Host lines (RFC 9112 3.2: a server
 * MUST answer 400) name two hosts, of which /metrics read the first.
 */
const char *http_headers_twice(const struct http_headers *h)
{
	if (h->n_encodings > 1)
		return "Content-Encoding more than once: send the codings as one list on one line";
	if (h->n_auths > 1)
		return "Authorization more than once: send one credential";
	if (h->n_signatures > 1)
		return "X-Signature more than once: send one signature";
	if (h->n_hosts > 1)
		return "Host more than once: send one Host";
	return NULL;
}

const char *http_headers_host_missing(const struct http_headers *h)
{
	if (h->is_host_required && !h->n_hosts)
		return "Host missing: an HTTP/1.1 request names its host in a Host header";
	return NULL;
}

/* A reg-name's characters (RFC 3986 3.2.2: unreserved, sub-delims, '%'
 * of pct-encoded), and a byte past ASCII: a name sent unencoded (an IDN
 * not in punycode) is taken, as nothing of it is read but /metrics's
 * loopback check, which takes no such name for local. */
static int host_is_name_byte(unsigned char c)
{
	return c >= 0x80 || (c && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789-._~!$&'()*+,;=%",
					  c) != NULL);
}

/* What is wrong with the IP literal at v ('[' ... ']'), its end past ']'
 * into *rest; NULL when nothing.  Its characters alone are checked (hex,
 * ':' and '.', an IPvFuture's or a zone's): inet_pton() is not the
 * judge of what a client may name. */
static const char *host_literal_problem(const char *v, const char **rest)
{
	const char *end = strchr(v, ']');

	if (!end)
		return "Host invalid: the '[' of an IP address is not closed by ']'";
	*rest = end + 1;
	if (end == v + 1)
		return "Host invalid: no address between '[' and ']'";
	for (const char *p = v + 1; p < end; p++)
		if (*p != ':' && ((unsigned char)*p >= 0x80 || !host_is_name_byte((unsigned char)*p)))
			return "Host invalid: the address in [ ] holds a character no address does";
	if (**rest && **rest != ':')
		return "Host invalid: after the ']' of an IP address only \":port\" may follow";
	return NULL;
}

/* What is wrong with the reg-name or IPv4 address at v, up to its ':'
 * (its end into *rest); NULL when nothing. */
static const char *host_name_problem(const char *v, const char **rest)
{
	*rest = v + strcspn(v, ":");
	if (strchr(v, '/'))
		return "Host invalid: '/' in it (a host has no path: the path goes in the "
		       "request line)";
	if (strchr(v, '@'))
		return "Host invalid: '@' in it (a host carries no user name)";
	for (const char *p = v; p < *rest; p++)
		if (!host_is_name_byte((unsigned char)*p))
			return "Host invalid: a host name holds letters, digits and "
			       "- . _ ~ ! $ & ' ( ) * + , ; = % only";
	return NULL;
}

/*
 * RFC 9112 3.2: a Host "with an invalid field value" is answered 400.
 * Valid is uri-host [":" port] (RFC 9110 7.2): a reg-name or IPv4
 * address, or an IP literal in brackets, then digits; an empty value (the
 * target's authority empty) and an empty port are valid too.  Lenient
 * where clients are, strict on what no client sends: blanks, control
 * characters, a path or user info, a port that is not digits.
 */
const char *http_headers_host_invalid(const struct http_headers *h)
{
	const char *v = h->host, *rest, *problem;

	if (!v)
		return NULL;
	if (strpbrk(v, " \t"))
		return "Host invalid: it holds a blank (a host, then \":port\", and nothing else)";
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "Host invalid: it holds a control character";
	problem = v[0] == '[' ? host_literal_problem(v, &rest) : host_name_problem(v, &rest);
	if (problem)
		return problem;
	if (*rest == ':' && rest[1 + strspn(rest + 1, "0123456789")])
		return "Host invalid: its port is not digits";
	return NULL;
}

int http_headers_refusal(const struct http_headers *h, struct http_headers_refusal *out)
{
	const char *framing = http_headers_framing_problem(h);
	const char *twice = http_headers_twice(h);
	const char *no_host = http_headers_host_missing(h);
	const char *bad_host = http_headers_host_invalid(h);

	memset(out, 0, sizeof(*out));
	if (!framing && !twice && !no_host && !bad_host)
		return 0;
	out->status = 400;
	out->code = framing ? "bad_framing"
		    : twice ? "duplicate_header"
		    : no_host ? "missing_host"
			      : "invalid_host";
	out->message = framing ? framing : twice ? twice : no_host ? no_host : bad_host;
	out->is_closing = framing != NULL;
	return 1;
}

int http_headers_is_expecting_continue(const struct http_headers *h)
{
	return h->expect && strcasestr(h->expect, "100-continue") != NULL;
}

/* The announced length as a number into *n: 0, or -1 when it is not one. */
static int headers_length(const struct http_headers *h, unsigned long long *n)
{
	char *end;

	*n = strtoull(h->content_length, &end, 10);
	return *end ? -1 : 0;
}

/*
 * A body announced past the limit yet within twice it is read and dropped
 * before the 413: answered from the headers, the connection would close
 * while the client is still sending, the kernel would reset it, and a
 * client that sends without waiting (most SDKs) would see a broken
 * connection instead of the 413, and send the same batch again and again.
 * Past twice the limit it is not worth reading; a client waiting for 100
 * Continue sends nothing more.
 */
int http_headers_announced_length(const struct http_headers *h, size_t limit, size_t *out)
{
	unsigned long long n;

	*out = 0;
	if (!h->content_length)
		return 0;
	if (headers_length(h, &n))
		return -1;
	if (n <= limit) {
		*out = (size_t)n;
		return 0;
	}
	return n - limit > limit || http_headers_is_expecting_continue(h) ? -1 : 1;
}

int http_headers_is_body_to_drain(const struct http_headers *h, size_t limit)
{
	unsigned long long n;

	if (http_headers_is_expecting_continue(h))
		return 0;
	if (h->content_length)
		return !headers_length(h, &n) && n > 0 && (n <= limit || n - limit <= limit);
	return h->transfer_encoding && strcasestr(h->transfer_encoding, "chunked") != NULL;
}

/*
 * The API reads its (small) body as it is and inflates nothing: a body
 * with a Content-Encoding other than identity is refused 415 rather than
 * misread as JSON.  The message quotes the coding (the answer is JSON
 * text: printable ASCII only).
 */
int http_headers_api_encoding_refused(const struct http_headers *h, char *msg, size_t size)
{
	const char *value = h->content_encoding;
	enum ingest_encoding enc;

	if (!ingest_encoding_parse(value, &enc) && enc == INGEST_IDENTITY)
		return 0;
	snprintf(msg, size,
		 "Content-Encoding \"%.32s\" is not taken here: send the body as plain JSON "
		 "(identity)", value);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return 1;
}

/* The authority is not looked at (nor is Host). */
const char *http_target_origin_path(const char *target)
{
	size_t n = strncasecmp(target, "http://", 7) == 0    ? 7
		   : strncasecmp(target, "https://", 8) == 0 ? 8
							       : 0;
	const char *slash = n ? strchr(target + n, '/') : target;

	return slash ? slash : "/";
}

/* libmicrohttpd hands the decoded path over as a C string, cut at the
 * NUL, so /v1/privacy/requests/<id>%00x would be answered as <id>. */
int http_target_has_nul(const char *target)
{
	size_t path_len = strcspn(target, "?#");

	for (size_t i = 0; i + 2 < path_len; i++)
		if (target[i] == '%' && target[i + 1] == '0' && target[i + 2] == '0')
			return 1;
	return 0;
}

const char *http_target_source(const char *url, size_t *name_len)
{
	const char *slash;

	*name_len = 0;
	if (strncmp(url, "/in/", 4) != 0)
		return NULL;
	slash = strchr(url + 4, '/');
	if (slash)
		*name_len = (size_t)(slash - (url + 4));
	return slash;
}
