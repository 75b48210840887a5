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
