/*
 * test_http_headers.c - what the HTTP server reads of a request's head
 * (hub/http_headers.c), without a connection: the header lines as
 * libmicrohttpd hands them over, and the target.  One row per case; the
 * server answering these over a socket is tested in test_http.c.
 */
#include "testlib.h"

#include "../../hub/http_headers.h"
#include "../../hub/util.h"

#include <stdio.h>
#include <string.h>

#define MAX_ROW_LINES 4

/* A header list: "Name: value" lines (up to MAX_ROW_LINES), collected. */
static void headers_of(struct http_headers *h, const char *const *lines,
		       char buf[MAX_ROW_LINES][128])
{
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < MAX_ROW_LINES && lines[i]; i++) {
		char *colon;
		snprintf(buf[i], 128, "%s", lines[i]);
		colon = strchr(buf[i], ':');
		CU_ASSERT_PTR_NOT_NULL_FATAL(colon);
		*colon = '\0';
		http_headers_add(h, buf[i], colon + 2);
	}
}

static void test_header_lists_that_are_refused(void)
{
	static const struct {
		const char *lines[MAX_ROW_LINES];
		const char *code; /* NULL: taken */
		int is_closing;
		const char *version; /* the request line's; NULL: none said */
	} rows[] = {
		{{"Content-Length: 5", "Host: x"}, NULL, 0, NULL},
		{{"Transfer-Encoding: Chunked"}, NULL, 0, NULL},
		{{"Content-Length: 5", "transfer-encoding: chunked"}, "bad_framing", 1, NULL},
		{{"Content-Length: 2", "CONTENT-LENGTH: 2"}, "bad_framing", 1, NULL},
		{{"Transfer-Encoding: chunked", "Transfer-Encoding: identity"}, "bad_framing", 1,
		 NULL},
		{{"Transfer-Encoding: gzip, chunked"}, "bad_framing", 1, NULL},
		{{"Transfer-Encoding: "}, "bad_framing", 1, NULL},
		/* one list on one line: chunked is not the only coding */
		{{"Transfer-Encoding: chunked, identity"}, "bad_framing", 1, NULL},
		{{"Transfer-Encoding: chunkedx"}, "bad_framing", 1, NULL},
		{{"Content-Encoding: identity", "content-encoding: gzip"}, "duplicate_header", 0,
		 NULL},
		{{"Authorization: Bearer a", "Authorization: Bearer b"}, "duplicate_header", 0,
		 NULL},
		{{"X-Signature: 00", "x-signature: 11"}, "duplicate_header", 0, NULL},
		{{"X-Signature: 00", "Authorization: Basic a"}, NULL, 0, NULL},
		/* RFC 9112 3.2: an HTTP/1.1 request without Host is 400, one
		 * of HTTP/1.0 needs none; two Host lines are 400 in either;
		 * an empty Host is a valid one */
		{{"Content-Length: 2"}, "missing_host", 0, "HTTP/1.1"},
		{{"Host: x"}, NULL, 0, "HTTP/1.1"},
		{{"HOST: "}, NULL, 0, "HTTP/1.1"},
		{{"Host: a", "Host: a"}, "duplicate_header", 0, "HTTP/1.1"},
		{{"Content-Length: 2"}, NULL, 0, "HTTP/1.0"},
		{{"Host: a.example", "host: b.example"}, "duplicate_header", 0, "HTTP/1.0"},
		{{"Content-Length: 2", "Content-Length: 2"}, "bad_framing", 1, "HTTP/1.1"},
		/* RFC 9112 3.2: a Host of an invalid value is 400 too; twice
		 * is said before it */
		{{"Host: a/b"}, "invalid_host", 0, "HTTP/1.1"},
		{{"Host: a b"}, "invalid_host", 0, "HTTP/1.0"},
		{{"Host: a/b", "Host: a"}, "duplicate_header", 0, "HTTP/1.1"},
		/* both: the framing first, the connection closed */
		{{"Authorization: a", "Authorization: b", "Content-Length: 1", "Content-Length: 1"},
		 "bad_framing", 1, NULL},
	};
	char buf[MAX_ROW_LINES][128];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct http_headers h;
		struct http_headers_refusal r;
		int is_refused;

		headers_of(&h, rows[i].lines, buf);
		if (rows[i].version)
			http_headers_set_version(&h, rows[i].version);
		is_refused = http_headers_refusal(&h, &r);
		CU_ASSERT_EQUAL(is_refused, rows[i].code != NULL);
		CU_ASSERT_EQUAL(r.is_closing, rows[i].is_closing);
		if (!rows[i].code || !is_refused) {
			if (is_refused != (rows[i].code != NULL))
				fprintf(stderr, "\n  row %zu: refused %d", i, is_refused);
			continue;
		}
		CU_ASSERT_EQUAL(r.status, 400);
		CU_ASSERT_STRING_EQUAL(r.code, rows[i].code);
		CU_ASSERT(r.message && r.message[0]);
		if (strstr(rows[i].lines[0], "Host") || !strcmp(r.code, "missing_host"))
			CU_ASSERT_EQUAL(strncmp(r.message, "Host ", 5), 0); /* names it */
	}
}

/* Host is uri-host [":" port] (RFC 9110 7.2): what curl, node and the
 * browsers send is taken (a name, IPv4, [IPv6], a port, empty); blanks,
 * control characters, a path, user info, a port of other than digits are
 * not, each said by name. */
static void test_host_values_valid_and_invalid(void)
{
	static const struct {
		const char *host;
		const char *said; /* in the message; NULL: valid */
	} rows[] = {
		{"localhost:8080", NULL},
		{"127.0.0.1", NULL},
		{"hub.example.com.", NULL},
		{"[::1]:8080", NULL},
		{"[fe80::1%25eth0]", NULL},
		{"[v1.fe80::a+en1]", NULL},
		{"", NULL},
		{"x:", NULL}, /* port = *DIGIT */
		{":80", NULL},
		{"my_host", NULL},
		{"xn--bcher-kva.example", NULL},
		{"b\xc3\xbc" "cher.example", NULL}, /* an IDN not in punycode */
		{"a%2Db", NULL},
		{"a b", "blank"},
		{"a\tb", "blank"},
		{"a\x01" "b", "control character"},
		{"a\x7f", "control character"},
		{"a.example/path", "'/'"},
		{"user@a.example", "'@'"},
		{"user:pw@a.example", "'@'"},
		{"a.example:80/x", "'/'"},
		{"a.example:80x", "port is not digits"},
		{"a.example:-1", "port is not digits"},
		{"a.example:80:81", "port is not digits"},
		{"a?b", "letters, digits"},
		{"a#b", "letters, digits"},
		{"a\\b", "letters, digits"},
		{"a\"b", "letters, digits"},
		{"[::1", "not closed"},
		{"[]", "no address"},
		{"[::1]x", "only \":port\""},
		{"[::1]:8o", "port is not digits"},
		{"[::1/64]", "no address does"},
		{"[::1 ]", "blank"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct http_headers h;
		struct http_headers_refusal r;
		const char *msg;

		memset(&h, 0, sizeof(h));
		http_headers_set_version(&h, "HTTP/1.1");
		http_headers_add(&h, "Host", rows[i].host);
		msg = http_headers_host_invalid(&h);
		CU_ASSERT_EQUAL(http_headers_refusal(&h, &r), rows[i].said != NULL);
		if (!rows[i].said) {
			CU_ASSERT_PTR_NULL(msg);
			if (msg)
				fprintf(stderr, "\n  row %zu: %s", i, msg);
			continue;
		}
		CU_ASSERT_PTR_NOT_NULL(msg);
		CU_ASSERT_PTR_NOT_NULL(msg ? strstr(msg, rows[i].said) : NULL);
		if (!msg || !strstr(msg, rows[i].said))
			fprintf(stderr, "\n  row %zu: %s", i, msg ? msg : "(taken)");
		CU_ASSERT_EQUAL(r.status, 400);
		CU_ASSERT_STRING_EQUAL(r.code ? r.code : "", "invalid_host");
		CU_ASSERT_PTR_EQUAL(r.message, msg);
		CU_ASSERT_FALSE(r.is_closing);
		CU_ASSERT_EQUAL(strncmp(msg ? msg : "", "Host ", 5), 0); /* names it */
	}
	/* no Host: nothing to check (HTTP/1.1's is missing_host) */
	{
		struct http_headers h = {0};
		CU_ASSERT_PTR_NULL(http_headers_host_invalid(&h));
	}
}

static void test_the_first_line_is_the_value_read(void)
{
	static const char *const lines[] = {"authorization: Bearer one", "Expect: 100-continue",
					    "Authorization: Bearer two", NULL};
	char buf[MAX_ROW_LINES][128];
	struct http_headers h;

	headers_of(&h, lines, buf);
	CU_ASSERT_STRING_EQUAL(h.authorization, "Bearer one");
	CU_ASSERT_EQUAL(h.n_auths, 2);
	CU_ASSERT_EQUAL(http_headers_is_expecting_continue(&h), 1);
	http_headers_add(&h, NULL, "ignored"); /* no name: nothing counted */
	CU_ASSERT_EQUAL(h.n_auths, 2);
}

static void test_announced_length_against_the_limit(void)
{
	static const struct {
		const char *length; /* NULL: none */
		const char *expect;
		const char *coding;
		int rc;
		size_t out;
		int is_drained; /* a refusal reads and drops the body first */
	} rows[] = {
		{NULL, NULL, NULL, 0, 0, 0},
		{NULL, NULL, "chunked", 0, 0, 1},
		{NULL, "100-continue", "chunked", 0, 0, 0},
		{"0", NULL, NULL, 0, 0, 0},
		{"100", NULL, NULL, 0, 100, 1},
		{"101", NULL, NULL, 1, 0, 1},   /* past it: read, dropped, 413 */
		{"200", NULL, NULL, 1, 0, 1},   /* twice it: still read */
		{"201", NULL, NULL, -1, 0, 0},  /* past twice: 413 now */
		{"101", "100-Continue", NULL, -1, 0, 0}, /* it waits: 413 now */
		{"100", "100-continue", NULL, 0, 100, 0},
		{"1x", NULL, NULL, -1, 0, 0},
		{"18446744073709551616", NULL, NULL, -1, 0, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct http_headers h = {.content_length = rows[i].length,
					 .expect = rows[i].expect,
					 .transfer_encoding = rows[i].coding};
		size_t out = 7;

		CU_ASSERT_EQUAL(http_headers_announced_length(&h, 100, &out), rows[i].rc);
		CU_ASSERT_EQUAL(out, rows[i].out);
		CU_ASSERT_EQUAL(http_headers_is_body_to_drain(&h, 100), rows[i].is_drained);
	}
}

static void test_api_encoding_refusal_quotes_printable_ascii(void)
{
	struct http_headers h = {.content_encoding = " identity "};
	char msg[160];

	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 0);
	h.content_encoding = NULL;
	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 0);
	h.content_encoding = "gzip";
	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "\"gzip\""));
	h.content_encoding = "br\xc3\xa9\x01";
	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "\"br???\""));
	h.content_encoding = "x\x7f"; /* DEL is not printable */
	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "\"x?\""));
}

/* The refusal quotes the coding's first 32 bytes, no more. */
static void test_api_encoding_refusal_quotes_32_bytes_at_most(void)
{
	struct http_headers h = {.content_encoding = "abcdefghijklmnopqrstuvwxyz0123456789"};
	char msg[160];

	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "\"abcdefghijklmnopqrstuvwxyz012345\""));
	h.content_encoding = "abcdefghijklmnopqrstuvwxyz012345"; /* exactly 32: whole */
	CU_ASSERT_EQUAL(http_headers_api_encoding_refused(&h, msg, sizeof(msg)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "\"abcdefghijklmnopqrstuvwxyz012345\""));
}

static void test_targets_and_their_paths(void)
{
	static const struct {
		const char *target;
		const char *path;   /* http_target_origin_path */
		int has_nul;
		const char *route;  /* http_target_source: NULL when none */
		size_t name_len;
	} rows[] = {
		{"/healthz", "/healthz", 0, NULL, 0},
		{"http://h/healthz", "/healthz", 0, NULL, 0},
		{"HTTPS://h:1/in/web/v1/batch", "/in/web/v1/batch", 0, "/v1/batch", 3},
		{"http://h", "/", 0, NULL, 0},
		{"https://", "/", 0, NULL, 0},
		{"httpx://h/p", "httpx://h/p", 0, NULL, 0},
		{"*", "*", 0, NULL, 0},
		{"/in/web", "/in/web", 0, NULL, 0},
		{"/in//x", "/in//x", 0, "/x", 0},
		{"/v1/x%00y", "/v1/x%00y", 1, NULL, 0},
		{"/%00", "/%00", 1, NULL, 0},
		{"/v1/x?q=%00", "/v1/x?q=%00", 0, NULL, 0},
		{"/v1/x#%00", "/v1/x#%00", 0, NULL, 0},
		{"/v1/x%0", "/v1/x%0", 0, NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *path = http_target_origin_path(rows[i].target);
		const char *route;
		size_t name_len = 99;

		CU_ASSERT_STRING_EQUAL(path, rows[i].path);
		CU_ASSERT_EQUAL(http_target_has_nul(rows[i].target), rows[i].has_nul);
		route = http_target_source(path, &name_len);
		if (!rows[i].route) {
			CU_ASSERT_PTR_NULL(route);
			continue;
		}
		CU_ASSERT_PTR_NOT_NULL_FATAL(route);
		CU_ASSERT_STRING_EQUAL(route, rows[i].route);
		CU_ASSERT_EQUAL(name_len, rows[i].name_len);
	}
}

TEST_SUITE(http_headers, NULL, NULL,
	   TEST(test_header_lists_that_are_refused),
	   TEST(test_host_values_valid_and_invalid),
	   TEST(test_the_first_line_is_the_value_read),
	   TEST(test_announced_length_against_the_limit),
	   TEST(test_api_encoding_refusal_quotes_printable_ascii),
	   TEST(test_api_encoding_refusal_quotes_32_bytes_at_most),
	   TEST(test_targets_and_their_paths))
