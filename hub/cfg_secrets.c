/*
 * cfg_secrets.c - what a loaded configuration gives away about its
 * secrets, for `run` and `check` to warn or refuse: values that are the
 * README's example secrets, and connection strings (store.url, a plugin's
 * HUB_SECRET_CONNECTION keys: libpq and ODBC strings, URLs of any scheme)
 * whose password is written in the file; a store.url that reaches another
 * machine without verifying it; an API token that is short, or that is
 * also a source's or an export's secret.
 *
 * Only ever returns nodes, for their place: never print their values.
 */
#include "config.h"

#include "store.h"
#include "util.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* The secrets conf/hub.yaml falls back to when its ${VAR}s are unset:
 * printed in the README, so anyone knows them. */
static const char *const example_secrets[] = {"dev-token-change-me", "dev-write-key"};

static size_t find_example_secrets(const struct cfg_node *n, const struct cfg_node **out,
				   size_t max, size_t n_found)
{
	if (n->kind == CFG_SCALAR) {
		for (size_t i = 0; n->value && i < ARRAY_SIZE(example_secrets); i++)
			if (strcmp(n->value, example_secrets[i]) == 0) {
				if (n_found < max)
					out[n_found] = n;
				return n_found + 1;
			}
		return n_found;
	}
	for (size_t i = 0; i < n->n_children; i++)
		n_found = find_example_secrets(&n->children[i], out, max, n_found);
	return n_found;
}

size_t config_example_secrets(const struct hub_config *cfg, const struct cfg_node **out,
			      size_t max)
{
	return cfg->root ? find_example_secrets(cfg->root, out, max, 0) : 0;
}

/* A scalar under n equal to token (a source's write key, an export's
 * secret), or NULL. */
static const struct cfg_node *find_value(const struct cfg_node *n, const char *token)
{
	const struct cfg_node *found = NULL;

	if (n->kind == CFG_SCALAR)
		return n->value && !n->is_null && strcmp(n->value, token) == 0 ? n : NULL;
	for (size_t i = 0; !found && i < n->n_children; i++)
		found = find_value(&n->children[i], token);
	return found;
}

const struct cfg_node *config_api_token_reused(const struct hub_config *cfg,
					       const struct cfg_node **token)
{
	const struct cfg_node *tokens = cfg_get(cfg_get(cfg->root, "api"), "tokens");
	static const char *const sections[] = {"sources", "exports"};

	for (size_t i = 0; tokens && i < tokens->n_children; i++) {
		const struct cfg_node *t = &tokens->children[i];

		for (size_t s = 0; t->value && *t->value && s < ARRAY_SIZE(sections); s++) {
			const struct cfg_node *sec = cfg_get(cfg->root, sections[s]);
			const struct cfg_node *same = sec ? find_value(sec, t->value) : NULL;

			if (same) {
				*token = t;
				return same;
			}
		}
	}
	return NULL;
}

const struct cfg_node *config_api_token_short(const struct hub_config *cfg)
{
	const struct cfg_node *tokens = cfg_get(cfg_get(cfg->root, "api"), "tokens");

	for (size_t i = 0; tokens && i < tokens->n_children; i++) {
		const struct cfg_node *t = &tokens->children[i];

		if (t->value && strlen(t->value) < CONFIG_API_TOKEN_MIN)
			return t;
	}
	return NULL;
}

/* Is an ODBC key (any case) one whose value is a password: PWD, PASSWORD,
 * or Snowflake's passphrase of an encrypted private key file? */
static int odbc_is_password_key(const char *key, size_t len)
{
	static const char *const names[] = {"pwd", "password", "priv_key_file_pwd"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (len == strlen(names[i]) && strncasecmp(key, names[i], len) == 0)
			return 1;
	return 0;
}

/* Does an ODBC connection string ("Driver={x};UID=u;PWD=pw;") hold a
 * password of its own (odbc_is_password_key; a {braced} value may hold
 * ';'), not a ${...} reference?  A segment without '=' ("Trusted", or an
 * empty one) is skipped, not read up to the next segment's '='. */
static int odbc_has_written_password(const char *s)
{
	while (*s) {
		const char *key = s + strspn(s, " \t"), *seg = key + strcspn(key, ";");
		const char *eq = memchr(key, '=', (size_t)(seg - key)), *val, *end;
		size_t key_len;

		if (!eq) {
			s = seg + (*seg == ';');
			continue;
		}
		key_len = (size_t)(eq - key);
		while (key_len && (key[key_len - 1] == ' ' || key[key_len - 1] == '\t'))
			key_len--;
		val = eq + 1 + strspn(eq + 1, " \t");
		end = *val == '{' ? strchr(val, '}') : strchr(val, ';');
		if (!end)
			end = val + strlen(val);
		if (odbc_is_password_key(key, key_len) && end > val + (*val == '{') &&
		    !memmem(val, (size_t)(end - val), "${", 2))
			return 1;
		s = *end == '}' ? end + 1 : end;
		s += strcspn(s, ";");
		s += *s == ';';
	}
	return 0;
}

/* Does a URL of any scheme ("https://user:pw@host/path", the webhook
 * export's url) hold a password of its own in its user info, not a ${...}
 * reference?  The user info ends at the authority's last '@'. */
static int url_has_written_password(const char *s)
{
	const char *auth = strstr(s, "://"), *end, *at, *colon;

	/* a scheme: a letter, then letters, digits, '+', '.' or '-' */
	if (!auth || !isalpha((unsigned char)*s) ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") !=
		    (size_t)(auth - s))
		return 0;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	if (at == auth)
		return 0;
	colon = memchr(auth, ':', (size_t)(at - 1 - auth));
	return colon && at - 1 > colon + 1 && !memmem(colon + 1, (size_t)(at - 2 - colon), "${", 2);
}

const struct cfg_node *config_password_in_file(const struct cfg_node *n)
{
	const char *text;

	if (!n || n->kind != CFG_SCALAR || n->is_null || !n->value)
		return NULL;
	text = n->raw ? n->raw : n->value;
	if (store_pg_url_has_written_password(text) || odbc_has_written_password(text) ||
	    url_has_written_password(text))
		return n;
	return NULL;
}

const struct cfg_node *config_store_password_in_file(const struct hub_config *cfg)
{
	return cfg->store_url ? config_password_in_file(cfg_get(cfg_get(cfg->root, "store"), "url"))
			      : NULL;
}

const struct cfg_node *config_store_url_unverified(const struct hub_config *cfg, char *mode,
						   size_t size)
{
	const struct cfg_node *n = cfg_get(cfg_get(cfg->root, "store"), "url");

	if (!cfg->store_url || !cfg->store_driver || strcmp(cfg->store_driver, "postgres") != 0)
		return NULL;
	return n && store_pg_url_unverified(cfg->store_url, mode, size) ? n : NULL;
}
