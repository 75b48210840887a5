/*
 * http_auth.h - the host's authentication helpers for HTTP: bearer tokens
 * (constant-time, against api.tokens) and loopback clients.  No socket or
 * libmicrohttpd here, so the rules are testable alone.
 */
#ifndef HUB_HTTP_AUTH_H
#define HUB_HTTP_AUTH_H

#include <stddef.h>
#include <sys/socket.h>

/* 1 when `authorization` (the header value, may be NULL) is
 * "Bearer <token>" (scheme in any case) and the token equals one of
 * tokens[0..n).  Every token is compared, in constant time. */
int http_auth_bearer(const char *authorization, char *const *tokens, size_t n);

/* The answer to `authorization` where a bearer token of tokens[0..n) is
 * required (/v1, /metrics from afar): 0 when http_auth_bearer() takes it,
 * 401 without a bearer token (no header, another scheme, "Bearer" and
 * blanks alone), 403 with a wrong one. */
int http_auth_bearer_status(const char *authorization, char *const *tokens, size_t n);

/* The message of that 403: with no token configured (api.tokens unset)
 * it says so, since no token can ever be right. */
const char *http_auth_forbidden_message(size_t n);

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; 0 otherwise or NULL. */
int http_auth_is_loopback(const struct sockaddr *sa);

/* 1 when a request's Host header (NULL: none sent) names this machine by a
 * loopback name: "localhost" or a name under ".localhost" (RFC 6761), an
 * address of 127.0.0.0/8, "[::1]" or "[::ffff:127.x.y.z]", each with or
 * without ":port", in any case, a final dot allowed.  A page that
 * rebinds its own name to 127.0.0.1 (DNS rebinding) reaches a loopback
 * socket with its own name in Host: what is open to loopback clients
 * must also see a loopback Host. */
int http_auth_is_loopback_host(const char *host);

#endif
