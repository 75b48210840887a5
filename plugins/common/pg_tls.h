/*
 * pg_tls.h - whether a PostgreSQL URL or conninfo (the store's url, the
 * postgres export's) reaches another machine over a connection whose
 * server is not verified: libpq's default sslmode is prefer, which takes
 * any certificate and falls back to clear text when the server (or a
 * machine in between) says no to TLS.  Header-only: the hub and the
 * plugin include it alike.
 */
#ifndef PG_TLS_H
#define PG_TLS_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether h[0..n), one host of a list, is this machine: empty (the default
 * socket), a Unix socket directory, localhost, 127.x or ::1. */
static inline int pg_tls_host_is_local(const char *h, size_t n)
{
	if (n == 0 || h[0] == '/' || h[0] == '@')
		return 1;
	if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 3 && !strncmp(h, "::1", 3)))
		return 1;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789.", h[i]))
			return 0;
	return n > 4 && strncmp(h, "127.", 4) == 0;
}

/* Whether every host of a comma-separated list (NULL: none) is local. */
static inline int pg_tls_hosts_are_local(const char *list)
{
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		if (!pg_tls_host_is_local(p, n))
			return 0;
		p += n + (p[n] == ',');
	}
	return 1;
}

/* 1 when `conninfo` names a host other than this machine (host, hostaddr,
 * else $PGHOST / $PGHOSTADDR) with an sslmode (the text's, else
 * $PGSSLMODE, else libpq's prefer) other than verify-ca or verify-full:
 * that mode into mode[size].  0 otherwise, or when the text does not parse
 * (its check says so). */
static inline int pg_tls_unverified(const char *conninfo, char *mode, size_t size)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host = NULL, *hostaddr = NULL, *ssl = NULL;
	int is_unverified = 0;

	if (!opts)
		return 0;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (strcmp(o->keyword, "sslmode") == 0)
			ssl = o->val;
	}
	if (!host && !hostaddr) {
		host = getenv("PGHOST");
		hostaddr = getenv("PGHOSTADDR");
	}
	if (!ssl && !(ssl = getenv("PGSSLMODE")))
		ssl = "prefer";
	if ((!pg_tls_hosts_are_local(host) || !pg_tls_hosts_are_local(hostaddr)) &&
	    strcmp(ssl, "verify-ca") != 0 && strcmp(ssl, "verify-full") != 0) {
		snprintf(mode, size, "%s", ssl);
		is_unverified = 1;
	}
	PQconninfoFree(opts);
	return is_unverified;
}

/* What such a connection risks, for the warning: `mode` one of libpq's. */
static inline const char *pg_tls_risk(const char *mode)
{
	return strcmp(mode, "require") == 0
		       ? "TLS without checking the server's certificate: a machine in between "
			 "can pose as the server and read or change every row"
		       : "the server is not verified and the connection may be clear text: a "
			 "machine in between can read or change every row";
}

#endif
