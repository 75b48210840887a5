/*
 * http_headers.h - what the HTTP server reads of a request's head, without
 * libmicrohttpd: the header lines as it hands them over, and the request
 * target.  The framing checks against request smuggling, the announced
 * Content-Length against http.max_body, Expect: 100-continue, the API's
 * Content-Encoding, Host (one, valid, and present in HTTP/1.1), absolute-form
 * targets, %00 in a path.  http_request.c feeds these from a connection;
 * tests/fuzz/fuzz_httphdr.c from arbitrary bytes.
 */
#ifndef HUB_HTTP_HEADERS_H
#define HUB_HTTP_HEADERS_H

#include <stddef.h>

/*
 * The headers the hub reads, collected line by line (http_headers_add, in
 * the order received): the first value of each (as libmicrohttpd's lookup
 * answers), and how many lines of those a request must not send twice.
 * The values are borrowed from the caller's header list, which must
 * outlive this.
 */
struct http_headers {
	const char *content_length, *transfer_encoding, *content_encoding;
	const char *expect, *authorization;
	const char *host; /* the first Host line, or NULL */
	int n_lengths, n_codings, n_encodings, n_auths, n_expects, n_hosts;
	int n_signatures; /* X-Signature, the Segment webhook's HMAC */
	int is_host_required; /* HTTP/1.1 (http_headers_set_version); 0: HTTP/1.0 */
};

/* A refusal decided from the headers alone: `code` and `message` are
 * static strings. */
struct http_headers_refusal {
	unsigned status;
	const char *code;
	const char *message;
	int is_closing; /* the body's end is uncertain: answer now, then close */
};

/* The request line's version ("HTTP/1.1"): a request of HTTP/1.1 or later
 * must name its Host (RFC 9112 3.2), one of HTTP/1.0 need not. */
void http_headers_set_version(struct http_headers *h, const char *version);

/* Takes one header line; name and value borrowed (NULL name: ignored). */
void http_headers_add(struct http_headers *h, const char *name, const char *value);

/* The framing problem of RFC 9112 6.1, 6.3 (Content-Length with
 * Transfer-Encoding, either twice, a transfer coding other than chunked),
 * or NULL when the body's end is certain. */
const char *http_headers_framing_problem(const struct http_headers *h);

/* Content-Encoding, Authorization, X-Signature or Host sent on more than one
 * line: the message naming the header, or NULL. */
const char *http_headers_twice(const struct http_headers *h);

/* An HTTP/1.1 request without Host (RFC 9112 3.2): the message, or NULL. */
const char *http_headers_host_missing(const struct http_headers *h);

/* A Host whose value is not uri-host [":" port] (RFC 9110 7.2; blanks,
 * control characters, '/', '@', a port not digits): the message naming
 * what is wrong, or NULL (no Host, an empty one, a valid one). */
const char *http_headers_host_invalid(const struct http_headers *h);

/* 1 and *out filled when the headers alone refuse the request (400: the
 * framing, then a header sent twice, then Host missing, then Host
 * invalid); 0 when they do not. */
int http_headers_refusal(const struct http_headers *h, struct http_headers_refusal *out);

/* Does the client wait for 100 Continue before it sends its body? */
int http_headers_is_expecting_continue(const struct http_headers *h);

/*
 * The Content-Length announced (0 when none) into *out, against `limit`
 * (http.max_body):
 *   0  within it;
 *   1  past it, within twice it, the client not waiting for 100 Continue:
 *      read and drop the body, then answer 413;
 *  -1  answer 413 now (not a number, past twice the limit, or a client
 *      waiting for 100 Continue).
 */
int http_headers_announced_length(const struct http_headers *h, size_t limit, size_t *out);

/* Does a body come without waiting for an answer to the headers, one
 * small enough to read and drop (announced within twice `limit`, or
 * chunked: cut at twice it)? */
int http_headers_is_body_to_drain(const struct http_headers *h, size_t limit);

/* /v1 takes a body as it is: 1 when Content-Encoding names anything but
 * identity, with the message in msg (its coding's first 32 bytes,
 * printable ASCII only); else 0. */
int http_headers_api_encoding_refused(const struct http_headers *h, char *msg, size_t size);

/* The path of a target in absolute form ("http://authority/p" is "/p",
 * "http://authority" is "/", the scheme in any case; RFC 9112 3.2.2); any
 * other target as it is.  Returns a suffix of target or a static "/". */
const char *http_target_origin_path(const char *target);

/* 1 when the target as sent holds %00 in its path (before '?' or '#'). */
int http_target_has_nul(const char *target);

/* "/in/<name>/<path>": the route's path ("/<path>", a suffix of url) with
 * the name's length in *name_len (the name starts at url + 4); NULL when
 * url is not of that form. */
const char *http_target_source(const char *url, size_t *name_len);

#endif
