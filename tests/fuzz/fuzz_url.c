/*
 * fuzz_url.c - libFuzzer target for the URLs of the config that reach a
 * connection: the PostgreSQL store's store.url (hub/store_pg.c:
 * store_pg_url_check, and describe_url, which names the store in every
 * message; store_pg_url_sets, which reads its options), the postgres
 * export's url (plugins/postgres/postgres.c: uri_has_stray_at,
 * url_is_valid) and the webhook export's url
 * (plugins/webhook/webhook.c: url_origin, which its messages quote).  The
 * sources are compiled in; libpq and libcurl parse, the hub decides what
 * it lets through and what it prints.
 *
 * The input: byte 0 bit 0 picks the mode.
 *
 *   raw       the rest is the URL, as written in the YAML;
 *   composed  the rest is five parts split at '\x01': user, password,
 *             host, port, dbname, written unescaped into
 *             postgresql://user:password@host:port/dbname (and
 *             https://user:password@host:port/dbname for the webhook) as
 *             a careless config does.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - composed, a password of 4 bytes or more that is in none of the
 *     other parts (nor spelt by them, control bytes escaped as the
 *     description writes them, or hosts joined as libpq joins a list of
 *     them): a URL let through whose description (describe_url), or
 *     whose libpq user, host, port or dbname (what libpq's connect errors
 *     quote), holds it; a webhook origin that holds it;
 *   - a description past its buffer; an origin that is not one line of
 *     printable text within its buffer, or not http(s)://host:port (when
 *     not cut by the buffer);
 *   - url_is_valid() and store_pg_url_check() disagreeing on a URL without
 *     '@' (the same rules on host and port).
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/url/)
 */
#include "../../hub/store_pg.c"

#define hub_plugin_entry pgx_hub_plugin_entry
#include "../../plugins/postgres/postgres.c"
#include "../../plugins/postgres/pgx_batch.c"
#include "../../plugins/postgres/pgx_conn.c"
#include "../../plugins/postgres/pgx_query.c"
#undef hub_plugin_entry

#define hub_plugin_entry wh_hub_plugin_entry
#include "../../plugins/webhook/webhook.c"
#undef hub_plugin_entry

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PARTS 5

static void check_text(const char *s, size_t size)
{
	if (strlen(s) >= size)
		abort();
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

/* Whether libpq's user, host, hostaddr, port or dbname of url holds secret. */
static int options_hold(const char *url, const char *secret)
{
	static const char *const shown[] = {"user", "host", "hostaddr", "port", "dbname"};
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	int found = 0;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
			if (o->val && strcmp(o->keyword, shown[i]) == 0 && strstr(o->val, secret))
				found = 1;
	PQconninfoFree(opts);
	return found;
}

/* secret: the password as written, when checking for it makes sense (else NULL). */
static void check_url(const char *url, const char *secret)
{
	char where[256], *password = NULL;
	int store_ok = store_pg_url_check(url), export_ok;

	describe_url(url, where, sizeof(where));
	if (strlen(where) >= sizeof(where))
		abort(); /* (its bytes are the URL's, control bytes included) */
	/* what config.c asks of an accepted URL with store.lock_timeout set:
	 * its options read through, within their bounds */
	if (store_ok == 1 && store_pg_url_sets(url, "lock_timeout") < 0)
		abort(); /* parsed once already: not out of memory */
	if (store_ok == 1 && secret && (strstr(where, secret) || options_hold(url, secret))) {
		fprintf(stderr, "fuzz_url: store.url \"%s\" let through, shown as \"%s\"\n", url,
			where);
		abort();
	}

	export_ok = uri_has_stray_at(url) ? 0 : url_is_valid(url, &password);
	if (export_ok == 1 && secret && options_hold(url, secret)) {
		fprintf(stderr, "fuzz_url: export url \"%s\" let through\n", url);
		abort();
	}
	free(password); /* also set on a refusal: postgres_destroy() frees it */
	/* the same rules on host and port; dbname is the store's alone */
	if (!strchr(url, '@') && !strcasestr(url, "%40") && store_ok >= 0 && export_ok >= 0 &&
	    store_ok != export_ok)
		abort();
}

static void check_origin(const char *url, const char *secret)
{
	char origin[300];

	if (url_origin(url, NULL, origin, sizeof(origin)) != 0)
		return;
	check_text(origin, sizeof(origin));
	if (strncmp(origin, "http://", 7) != 0 && strncmp(origin, "https://", 8) != 0)
		abort();
	/* a secret holding what an origin is written with (':' before the port,
	 * '/', brackets) can be spelt by it across parts: "pass:" in
	 * https://pass:443, its host cut from the user part at a '?'; and '?',
	 * which the origin writes for each byte outside printable ASCII:
	 * "?kpuvk" in https://uu??kpuvk:443, from host "uu\xef\xffkpuvk" */
	if (secret && strpbrk(secret, ":/[]?"))
		secret = NULL;
	if ((strlen(origin) < sizeof(origin) - 1 && !strchr(strchr(origin, '/') + 2, ':')) ||
	    strchr(origin, '@') ||
	    (secret && strstr(origin, secret))) {
		fprintf(stderr, "fuzz_url: webhook url \"%s\" gives origin \"%s\"\n", url, origin);
		abort();
	}
}

/* scheme://user:password@host:port/dbname, the parts written unescaped, as a
 * careless config does. */
static char *url_compose(const char *scheme, char *const parts[N_PARTS], const char *password)
{
	char *url;

	if (asprintf(&url, "%s://%s:%s@%s:%s/%s", scheme, parts[0], password, parts[2], parts[3],
		     parts[4]) < 0)
		abort();
	return url;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *parts[N_PARTS], *url;
	const char *secret;
	size_t n = 0, len;

	if (size < 1 || size > 512 || !(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	len = strlen(text);
	if (!(data[0] & 1)) {
		check_url(text, NULL);
		check_origin(text, NULL);
		free(text);
		return 0;
	}
	for (char *p = text; n < N_PARTS; n++) {
		parts[n] = p;
		if (!(p = strchr(p, '\x01')))
			break;
		*p++ = '\0';
	}
	for (size_t i = n + (n < N_PARTS); i < N_PARTS; i++)
		parts[i] = text + len; /* "" */
	secret = parts[1];
	if (strlen(secret) < 4)
		secret = NULL;
	for (size_t i = 0; secret && i < N_PARTS; i++)
		if (i != 1 && strchr(parts[i], '%'))
			secret = NULL; /* libpq decodes %xx: a part could spell it */
	if (asprintf(&url, "%s@%s:%s/%s localhost https://%s https://%s:", parts[0], parts[2],
		     parts[3], parts[4], parts[0], parts[2]) < 0)
		abort();
	if (secret && strstr(url, secret))
		secret = NULL; /* what the description holds anyway */
	if (secret) {
		/* and as the description writes control bytes: the host "\x15432"
		 * is shown "\\x15432", which spells the password "5432" */
		char shown[2048];
		log_escape(url, shown, sizeof(shown));
		if (strstr(shown, secret))
			secret = NULL;
	}
	free(url);
	if (secret) {
		char shown[256];

		/* libpq joins a list of hosts ("h1:p1,h2:p2") into host "h1,h2"
		 * and port "p1,p2", and the description shows them so: the other
		 * parts can spell the password across the comma (host
		 * "\n\n\n:6,kh\n\n" gives "\n\n\n,kh\n\n", which holds the password
		 * "\n,kh"; host "\n:,kh" is shown "\\n,kh:,", which holds "n,kh");
		 * what they give without it is theirs */
		url = url_compose("postgresql", parts, "");
		describe_url(url, shown, sizeof(shown));
		if (options_hold(url, secret) || strstr(shown, secret))
			secret = NULL;
		free(url);
	}
	url = url_compose("postgresql", parts, parts[1]);
	check_url(url, secret);
	free(url);
	url = url_compose("https", parts, parts[1]);
	check_origin(url, secret);
	free(url);
	free(text);
	return 0;
}
