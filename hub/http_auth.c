/*
 * http_auth.c - see http_auth.h.  Tokens are never logged or copied;
 * comparisons go through secret_equal() so their time depends only on the
 * lengths.
 */
#include "http_auth.h"

#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

int http_auth_bearer(const char *authorization, char *const *tokens, size_t n)
{
	const char *h = authorization;
	int is_ok = 0;
	size_t len;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ' || *h == '\t') /* as trailing blanks, and as the 401 test below */
		h++;
	len = strlen(h);
	while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		is_ok |= secret_equal(h, len, tokens[i], strlen(tokens[i]));
	return is_ok;
}

int http_auth_bearer_status(const char *authorization, char *const *tokens, size_t n)
{
	const char *h = authorization;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7 + strspn(h + 7, " \t")])
		return 401;
	return http_auth_bearer(h, tokens, n) ? 0 : 403;
}

const char *http_auth_forbidden_message(size_t n)
{
	return n ? "this token is not allowed"
		 : "no token is allowed: api.tokens is not set in the hub's configuration";
}

int http_auth_is_loopback(const struct sockaddr *sa)
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const unsigned char *a = in6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return memcmp(a, v4mapped, sizeof(v4mapped)) == 0 && a[12] == 127;
	}
	return 0;
}

/* Does name[0..len) end in the label "localhost" (as itself or under it)? */
static int host_is_localhost_name(const char *name, size_t len)
{
	static const char suffix[] = "localhost";
	size_t n = sizeof(suffix) - 1;

	if (len && name[len - 1] == '.') /* the root's dot: "localhost." */
		len--;
	if (len < n || strncasecmp(name + len - n, suffix, n) != 0)
		return 0;
	return len == n || name[len - n - 1] == '.';
}

/* The host part of a Host value (a bracketed IPv6 literal without its
 * brackets) into buf; 0 when it does not fit or is malformed. */
static int host_part(const char *host, char *buf, size_t size, int *is_v6)
{
	const char *end;
	size_t len;

	*is_v6 = host[0] == '[';
	if (*is_v6) {
		host++;
		if (!(end = strchr(host, ']')) || (end[1] && end[1] != ':'))
			return 0;
	} else {
		end = host + strcspn(host, ":");
	}
	len = (size_t)(end - host);
	if (len == 0 || len >= size)
		return 0;
	memcpy(buf, host, len);
	buf[len] = '\0';
	return 1;
}

int http_auth_is_loopback_host(const char *host)
{
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	char name[256];
	int is_v6;

	if (!host)
		return 1; /* HTTP/1.0 without Host: no browser sends that */
	if (!host_part(host, name, sizeof(name), &is_v6))
		return 0;
	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (is_v6) {
		in6.sin6_family = AF_INET6;
		return inet_pton(AF_INET6, name, &in6.sin6_addr) == 1 &&
		       http_auth_is_loopback((const struct sockaddr *)&in6);
	}
	in.sin_family = AF_INET;
	if (inet_pton(AF_INET, name, &in.sin_addr) == 1)
		return http_auth_is_loopback((const struct sockaddr *)&in);
	return host_is_localhost_name(name, strlen(name));
}
