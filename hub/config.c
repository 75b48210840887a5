/*
 * config.c - struct hub_config from the configuration tree (cfg_tree.c).
 *
 * The hub's own keys are declared in tables below (name, type, default,
 * required, secret) and checked with cfg_check_keys, so a typo anywhere is
 * an "unknown key" with a suggestion; the defaults in the tables are the
 * ones applied here, so the tables are the documentation.  Sources and
 * exports are only read for their common keys (name, plugin, enabled), in
 * cfg_instances.c: plugin.c checks the rest against each plugin's own table.
 *
 * Never print a configured value in a message; name the key instead.
 */
#include "config_int.h"

#include "alloc.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_TIMEOUT_MAX_MS (24LL * 3600 * 1000) /* libmicrohttpd counts whole seconds */
#define HTTP_STOP_DELAY_MAX_MS 60000 /* a stop that a load balancer must notice */
#define HTTP_MAX_BODY_MAX (1LL << 30)          /* a body is kept whole in memory */

static const struct hub_config_key root_keys[] = {
	{"plugin_dir", HUB_CFG_ANY, NULL, 0, 0,
	 "directory of the plugin .so files, or a list of them (a YAML list, or joined with "
	 "':' like PATH); default: next to the binary"},
	{"log_level", HUB_CFG_STRING, "info", 0, 0, "error, warn, info or debug"},
	{"store", HUB_CFG_OBJECT, NULL, 0, 0, "where profiles are stored"},
	{"http", HUB_CFG_OBJECT, NULL, 0, 0, "the HTTP listener"},
	{"api", HUB_CFG_OBJECT, NULL, 0, 0, "the profile API"},
	{"identity", HUB_CFG_OBJECT, NULL, 0, 0, "external ids and blocked values"},
	{"privacy", HUB_CFG_OBJECT, NULL, 0, 0, "erasure"},
	{"intake", HUB_CFG_OBJECT, NULL, 0, 0, "the intake queue"},
	{"sources", HUB_CFG_ANY, NULL, 0, 0, "list of source instances"},
	{"exports", HUB_CFG_ANY, NULL, 0, 0, "list of export instances"},
	{0},
};

static const struct hub_config_key store_keys[] = {
	{"driver", HUB_CFG_STRING, "sqlite", 0, 0, "sqlite or postgres"},
	{"path", HUB_CFG_STRING, "var/hub.db", 0, 0, "sqlite: the database file"},
	{"url", HUB_CFG_STRING, NULL, 0, 1, "postgres: postgresql://user:password@host/db"},
	{"schema", HUB_CFG_STRING, "public", 0, 0, "postgres: the schema of the hub's tables"},
	{"lock_timeout", HUB_CFG_DURATION, NULL, 0, 0,
	 "postgres: how long a statement waits for a lock another session holds, then fails"
	 " (0s: without end); unset: the role's, database's or URL's, else 10s"},
	{0},
};

static const struct hub_config_key http_keys[] = {
	{"listen", HUB_CFG_STRING, "127.0.0.1:8080", 0, 0, "host:port"},
	{"threads", HUB_CFG_INT, "4", 0, 0, "request threads"},
	{"max_connections", HUB_CFG_INT, "1024", 0, 0, "open connections at most"},
	{"timeout", HUB_CFG_DURATION, "30s", 0, 0, "idle connection timeout"},
	{"stop_delay", HUB_CFG_DURATION, "0s", 0, 0,
	 "a stop serves this long, /readyz 503, before it drains"},
	{"max_body", HUB_CFG_INT, "1048576", 0, 0, "largest request body in bytes"},
	{"cors_origins", HUB_CFG_STRING_LIST, NULL, 0, 0,
	 "web origins whose pages may read the answers of /in/ routes (CORS): absent or"
	 " \"*\" any, [] none, else https://shop.example ..."},
	{0},
};

static const struct hub_config_key api_keys[] = {
	{"tokens", HUB_CFG_STRING_LIST, NULL, 0, 1, "bearer tokens of the profile API"},
	{0},
};

static const struct hub_config_key identity_keys[] = {
	{"external", HUB_CFG_OBJECT, NULL, 0, 0, "external id name -> {limit, priority}"},
	{"max_installations", HUB_CFG_INT, "1000", 0, 0,
	 "installations a profile holds at most; past it, a record's new one is dropped"},
	{"max_attributes", HUB_CFG_INT, "1000", 0, 0,
	 "attributes a profile stores at most; past it, a record's new ones are left out"},
	{"blocked_values", HUB_CFG_STRING_LIST, NULL, 0, 0,
	 "identifier values treated as absent"},
	{0},
};

static const struct hub_config_key external_keys[] = {
	{"limit", HUB_CFG_INT, "5", 0, 0, "values of this id per profile"},
	{"priority", HUB_CFG_INT, "1", 0, 0, "lower wins when profiles conflict"},
	{0},
};

static const struct hub_config_key privacy_keys[] = {
	{"erase_block_days", HUB_CFG_INT, "30", 0, 0,
	 "days an erased identifier stays blocked"},
	{0},
};

static const struct hub_config_key intake_keys[] = {
	{"queue_max", HUB_CFG_INT, "1024", 0, 0, "batches waiting at most"},
	{0},
};

/* One checked mapping of the config and the table it was checked with. */
struct section {
	const struct cfg_node *map;   /* NULL: absent or null */
	const char *path;
	const struct hub_config_key *keys;
};

/* A member that is present and not null, else NULL. */
const struct cfg_node *cfg_member(const struct cfg_node *map, const char *key)
{
	const struct cfg_node *n = cfg_get(map, key);
	return n && !(n->kind == CFG_SCALAR && n->is_null) ? n : NULL;
}

static int section_open(struct section *s, const struct cfg_node *root, const char *path,
			const struct hub_config_key *keys, char *err, size_t err_size)
{
	s->map = cfg_member(root, path);
	s->path = path;
	s->keys = keys;
	return s->map ? cfg_check_keys(s->map, path, keys, NULL, err, err_size) : 0;
}

/* The member's node, or a scalar holding the table's default (in *tmp),
 * or NULL when neither exists. */
static const struct cfg_node *section_value(const struct section *s, const char *key,
					    struct cfg_node *tmp)
{
	const struct cfg_node *n = cfg_member(s->map, key);

	if (n)
		return n;
	for (const struct hub_config_key *k = s->keys; k->name; k++) {
		if (strcmp(k->name, key) == 0 && k->default_value) {
			memset(tmp, 0, sizeof(*tmp));
			tmp->kind = CFG_SCALAR;
			tmp->value = (char *)k->default_value; /* only read */
			return tmp;
		}
	}
	return NULL;
}

static int section_string(const struct section *s, const char *key, char **out, char *err,
			  size_t err_size)
{
	struct cfg_node tmp;
	const struct cfg_node *n = section_value(s, key, &tmp);
	char path[PATH_LEN];

	*out = NULL;
	if (!n)
		return 0;
	if (!*n->value) {
		cfg_path_key(path, sizeof(path), s->path, key);
		cfg_errorf(err, err_size, n, 0, path, "must not be empty");
		return -1;
	}
	*out = hub_strdup(n->value);
	if (!*out) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

/* One directory of plugin_dir (`n`, at `path`; `dir` is len bytes of its
 * text): not empty, not listed before in the joined `seen`. */
static int plugin_dir_check(const struct cfg_node *n, const char *path, const char *dir,
			    size_t len, const char *seen, char *err, size_t err_size)
{
	if (len == 0) {
		cfg_errorf(err, err_size, n, 0, path, "a directory must not be empty%s",
			   n->kind == CFG_SCALAR && strchr(n->value, ':') ? " (an empty part "
			   "between ':')" : "");
		return -1;
	}
	for (const char *p = seen; p && *p; p += strcspn(p, ":"), p += *p == ':') {
		if (strcspn(p, ":") == len && strncmp(p, dir, len) == 0) {
			cfg_errorf(err, err_size, n, 0, path, "directory %.*s is listed twice",
				   (int)len, dir);
			return -1;
		}
	}
	return 0;
}

/* Appends `len` bytes of `dir` to the ':'-joined *joined. */
static int plugin_dir_join(char **joined, const char *dir, size_t len, char *err,
			   size_t err_size)
{
	size_t have = *joined ? strlen(*joined) : 0;
	char *grown = hub_realloc(*joined, have + len + 2);

	if (!grown) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	if (have)
		grown[have++] = ':';
	memcpy(grown + have, dir, len);
	grown[have + len] = '\0';
	*joined = grown;
	return 0;
}

/* plugin_dir: one directory, several joined with ':' (as PATH: a value
 * from ${VAR} too), or a YAML list of them.  Kept joined with ':', which
 * plugin_registry_open() splits; a list item holding ':' is refused. */
static int plugin_dir_fill(struct hub_config *cfg, char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_member(cfg->root, "plugin_dir");
	char path[PATH_LEN];

	if (!n)
		return 0;
	if (n->kind == CFG_SCALAR) {
		for (const char *p = n->value;; p++) {
			size_t len = strcspn(p, ":");

			if (plugin_dir_check(n, "plugin_dir", p, len, cfg->plugin_dir, err,
					     err_size) ||
			    plugin_dir_join(&cfg->plugin_dir, p, len, err, err_size))
				return -1;
			if (!p[len])
				return 0;
			p += len;
		}
	}
	if (n->kind != CFG_SEQ || n->n_children == 0) {
		cfg_errorf(err, err_size, n, 0, "plugin_dir",
			   "must be a directory or a list of directories");
		return -1;
	}
	for (size_t i = 0; i < n->n_children; i++) {
		const struct cfg_node *c = &n->children[i];

		cfg_path_index(path, sizeof(path), "plugin_dir", i);
		if (c->kind != CFG_SCALAR || c->is_null) {
			cfg_errorf(err, err_size, c, 0, path, "must be a directory");
			return -1;
		}
		if (strchr(c->value, ':')) {
			cfg_errorf(err, err_size, c, 0, path, "a directory in a list must not "
				   "hold ':' (give each directory as an item of its own)");
			return -1;
		}
		if (plugin_dir_check(c, path, c->value, strlen(c->value), cfg->plugin_dir, err,
				     err_size) ||
		    plugin_dir_join(&cfg->plugin_dir, c->value, strlen(c->value), err, err_size))
			return -1;
	}
	return 0;
}

static int section_int(const struct section *s, const char *key, int64_t min, int64_t max,
		       int64_t *out, char *err, size_t err_size)
{
	struct cfg_node tmp;
	const struct cfg_node *n = section_value(s, key, &tmp);
	char path[PATH_LEN];
	int64_t v;

	if (!n || cfg_as_int(n, &v) != 0)
		return 0; /* types were checked: only a key without default */
	if (v >= min && v <= max) {
		*out = v;
		return 0;
	}
	cfg_path_key(path, sizeof(path), s->path, key);
	if ((max == INT32_MAX || max == INT64_MAX) && v < min)
		cfg_errorf(err, err_size, n, 0, path, "must be at least %lld", (long long)min);
	else
		cfg_errorf(err, err_size, n, 0, path, "must be between %lld and %lld",
			   (long long)min, (long long)max);
	return -1;
}

static int section_int32(const struct section *s, const char *key, int min, int max,
			 int *out, char *err, size_t err_size)
{
	int64_t v = *out;

	if (section_int(s, key, min, max, &v, err, err_size))
		return -1;
	*out = (int)v;
	return 0;
}

int cfg_is_name(const char *s, int allow_dash)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      (allow_dash && *s == '-')))
			return 0;
	return 1;
}

/* " (did you mean \"segment\"?)" into buf when s in lower case is a name
 * ("Segment": names are lower case, and a value in another case only
 * heard "a-z"), else "". */
const char *cfg_name_case_hint(const char *s, int allow_dash, char *buf, size_t size)
{
	char lower[NAME_MAX_LEN + 1];
	size_t n = strlen(s);

	buf[0] = '\0';
	if (n > NAME_MAX_LEN)
		return buf;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)s[i]);
	if (strcmp(lower, s) != 0 && cfg_is_name(lower, allow_dash))
		snprintf(buf, size, " (did you mean \"%s\"?)", lower);
	return buf;
}

/* A value that is none of values[0..n), `must` saying which it may be:
 * "must be sqlite or postgres", with the closest as "did you mean" (in
 * another case, "SQLite", or a letter or two off). */
static int value_refuse(const struct cfg_node *n, const char *path, const char *const *values,
			size_t n_values, const char *must, char *err, size_t err_size)
{
	const char *best = n && n->value ? cfg_closest_name(n->value, values, n_values) : NULL;

	if (best)
		cfg_errorf(err, err_size, n, 0, path, "%s (did you mean \"%s\"?)", must, best);
	else
		cfg_errorf(err, err_size, n, 0, path, "%s", must);
	return -1;
}

static int is_host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* 1 when the NUL-terminated h is a host name: labels of letters, digits,
 * '-' and '_' (a name in /etc/hosts may hold one), 1 to 63 each, joined by
 * single dots, a last dot allowed, the last label not all digits (no name:
 * getaddrinfo reads "127.1", "0" or "0x7f.1" as an IPv4 address). */
static int is_host_name(const char *h)
{
	size_t len = strlen(h), i = 0;
	int is_number = 0;

	if (len == 0 || len > 253)
		return 0;
	while (i < len) {
		size_t start = i;

		is_number = 1;
		for (; i < len && is_host_char(h[i]); i++)
			is_number &= isdigit((unsigned char)h[i]) != 0;
		if (i == start || i - start > 63 || (i < len && h[i] != '.'))
			return 0;
		i += i < len; /* the dot */
	}
	return !is_number;
}

/* 1 when the len bytes at h are a host `run` binds as written: an IPv6
 * address in brackets (a %zone after it), a dotted IPv4 address
 * (inet_pton's: "010.0.0.1", octal 8.0.0.1 to getaddrinfo, is none) or a
 * host name. */
static int is_listen_host(const char *h, size_t len)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char host[256];
	char *zone;

	if (len >= sizeof(host))
		return 0;
	memcpy(host, h, len);
	host[len] = '\0';
	if (host[0] != '[')
		return inet_pton(AF_INET, host, addr) == 1 || is_host_name(host);
	host[len - 1] = '\0'; /* the ']' is_listen_address found */
	if ((zone = strchr(host, '%'))) {
		*zone++ = '\0';
		if (!*zone || strspn(zone, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789-_.") != strlen(zone))
			return 0;
	}
	return inet_pton(AF_INET6, host + 1, addr) == 1;
}

/* 1 when s is host:port with a host (":8080" binds loopback here but every
 * interface in Go and Node: said out loud instead), an IPv6 host in
 * brackets, the port 0..65535 (0: any free one); -1 when only the port is
 * past 65535; -2 when only the host is no address or name; else 0. */
static int is_listen_address(const char *s)
{
	const char *colon = strrchr(s, ':');
	long port = 0;

	if (!colon || !colon[1] || colon == s)
		return 0;
	if (s[0] == '[' && (colon[-1] != ']' || colon - s < 3))
		return 0; /* [::1:8080, []:8080 */
	if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))
		return 0; /* ::1:8080 */
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		port = port * 10 + (*p - '0');
		if (port > 65535)
			return -1;
	}
	return is_listen_host(s, (size_t)(colon - s)) ? 1 : -2;
}

/* Copies a list of strings (already type-checked). */
static int dup_string_list(const struct cfg_node *seq, const char *path, int may_be_empty,
			   char ***out, size_t *n_out, char *err, size_t err_size)
{
	char item_path[PATH_LEN];
	char **v;

	*out = NULL;
	*n_out = 0;
	if (!seq)
		return 0;
	v = hub_calloc(seq->n_children, sizeof(*v));
	if (!v)
		goto nomem;
	*out = v;
	for (size_t i = 0; i < seq->n_children; i++) {
		const struct cfg_node *item = &seq->children[i];

		if (!may_be_empty && !*item->value) {
			cfg_path_index(item_path, sizeof(item_path), path, i);
			cfg_errorf(err, err_size, item, 0, item_path, "must not be empty");
			return -1;
		}
		v[i] = hub_strdup(item->value);
		if (!v[i])
			goto nomem;
		*n_out = i + 1;
	}
	return 0;
nomem:
	err_set(err, err_size, "out of memory");
	return -1;
}

static void free_string_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hub_free(v[i]);
	hub_free(v);
}

/* A key of the other driver is a mistake, not a no-op: store.url under
 * the default driver (sqlite) ran every process on its own file. */
static int store_key_refuse(const struct section *s, const char *key, const char *driver,
			    char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_member(s->map, key);
	char path[PATH_LEN];

	if (!n)
		return 0;
	snprintf(path, sizeof(path), "store.%s", key);
	cfg_errorf(err, err_size, n, 0, path, "a key of driver: %s, and the driver is %s%s",
		   strcmp(driver, "sqlite") == 0 ? "postgres" : "sqlite", driver,
		   cfg_member(s->map, "driver") ? "" : " (the default)");
	return -1;
}

/* store.path under sqlite names the store's file: 0, or -1 with err.
 * ":memory:" is each connection's own database (the intake acknowledged
 * records no API connection saw, all lost at exit).  "file:..." is an URI
 * to SQLite (Debian's reads them) and a file name to the hub, which made
 * the directory "file:data", an empty file "file:data/hub.db?..." and its
 * leases' locks beside that, not beside the database SQLite opened (and
 * "file::memory:" was :memory: again). */
static int store_path_check(const struct section *s, const char *path, char *err,
			    size_t err_size)
{
	const struct cfg_node *n = cfg_member(s->map, "path");

	if (strcmp(path, ":memory:") == 0) {
		cfg_errorf(err, err_size, n, 0, "store.path",
			   "must name a file: \":memory:\" would be a new, empty database for"
			   " each connection (the API would read nothing the intake stored, and"
			   " nothing would outlive the hub)");
		return -1;
	}
	if (strncmp(path, "file:", 5) == 0) {
		cfg_errorf(err, err_size, n, 0, "store.path",
			   "must name a file, not an SQLite URI: \"%.100s\" (the hub makes the"
			   " file, its directory and its leases' locks by the name as written:"
			   " write the file's path)", path);
		return -1;
	}
	return 0;
}

/*
 * store.lock_timeout (postgres): the hub's sessions SET it, so it wins
 * over the role's and the database's (defaults a session may change, as in
 * PostgreSQL) and over PGOPTIONS.  Beside a lock_timeout in store.url's
 * options it is refused: two values in one file, which one was meant is
 * unsure.  Unset, the store keeps any of those, else 10 s (store_pg.c).
 */
static int load_store_lock_timeout(struct hub_config *cfg, const struct section *s, char *err,
				   size_t err_size)
{
	const struct cfg_node *n = cfg_member(s->map, "lock_timeout");

	if (!n)
		return 0;
	if (cfg_as_duration_ms(n, &cfg->store_lock_timeout_ms) || cfg->store_lock_timeout_ms < 0 ||
	    cfg->store_lock_timeout_ms > STORE_PG_LOCK_TIMEOUT_MAX_MS) {
		cfg_errorf(err, err_size, n, 0, "store.lock_timeout",
			   "must be from 1ms to 24h, or 0s (wait without end)");
		return -1;
	}
	switch (store_pg_url_sets(cfg->store_url, "lock_timeout")) {
	case 0:
		break;
	case 1: /* never the URL itself: it may hold a password */
		cfg_errorf(err, err_size, n, 0, "store.lock_timeout",
			   "store.url's options set lock_timeout too: keep one of them");
		return -1;
	default:
		err_set(err, err_size, "out of memory");
		return -1;
	}
	cfg->is_store_lock_timeout_set = 1;
	return 0;
}

static int load_store(struct hub_config *cfg, char *err, size_t err_size)
{
	struct section s;
	const struct cfg_node *n;

	if (section_open(&s, cfg->root, "store", store_keys, err, err_size) ||
	    section_string(&s, "driver", &cfg->store_driver, err, err_size))
		return -1;
	if (strcmp(cfg->store_driver, "sqlite") == 0) {
		if (store_key_refuse(&s, "url", "sqlite", err, err_size) ||
		    store_key_refuse(&s, "schema", "sqlite", err, err_size) ||
		    store_key_refuse(&s, "lock_timeout", "sqlite", err, err_size) ||
		    section_string(&s, "path", &cfg->store_path, err, err_size))
			return -1;
		return cfg->store_path ? store_path_check(&s, cfg->store_path, err, err_size) : 0;
	} else if (strcmp(cfg->store_driver, "postgres") != 0) {
		static const char *const drivers[] = {"sqlite", "postgres"};
		return value_refuse(cfg_member(s.map, "driver"), "store.driver", drivers,
				    ARRAY_SIZE(drivers), "must be sqlite or postgres", err,
				    err_size);
	}
	if (store_key_refuse(&s, "path", "postgres", err, err_size))
		return -1;
	if (!cfg_member(s.map, "url")) { /* s.map exists: it says "postgres" */
		cfg_errorf(err, err_size, s.map, 0, "store", "missing required key \"url\"");
		return -1;
	}
	if (section_string(&s, "url", &cfg->store_url, err, err_size) ||
	    section_string(&s, "schema", &cfg->store_schema, err, err_size))
		return -1;
	switch (store_pg_url_check(cfg->store_url)) { /* never the value: a secret */
	case 1:
		break;
	case 0:
		cfg_errorf(err, err_size, cfg_member(s.map, "url"), 0, "store.url", "%s",
			   STORE_PG_URL_INVALID);
		return -1;
	default:
		err_set(err, err_size, "out of memory");
		return -1;
	}
	/* The schema is written into SQL by the store: a plain identifier only. */
	n = cfg_member(s.map, "schema");
	if (n && (strlen(cfg->store_schema) > 63 ||
		  strspn(cfg->store_schema, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
			  strlen(cfg->store_schema) ||
		  (cfg->store_schema[0] >= '0' && cfg->store_schema[0] <= '9'))) {
		cfg_errorf(err, err_size, n, 0, "store.schema",
			   "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63)");
		return -1;
	}
	return load_store_lock_timeout(cfg, &s, err, err_size);
}

/* 1 when s is a web origin as a browser sends it: http:// or https:// (in
 * any case, as origins are compared), then host[:port] (a name, an IPv4
 * address or a [v6] one), no path. */
static int is_web_origin(const char *s)
{
	const char *host;

	if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return 0;
	if (!*host || *host == ':')
		return 0;
	return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.-_:[]") == strlen(host);
}

/* http.cors_origins: absent is any origin; "*" among them too. */
static int load_cors_origins(struct hub_config *cfg, const struct section *s, char *err,
			     size_t err_size)
{
	const struct cfg_node *seq = cfg_member(s->map, "cors_origins");
	char item_path[PATH_LEN];

	cfg->http_cors_any = !seq;
	if (dup_string_list(seq, "http.cors_origins", 0, &cfg->http_cors_origins,
			    &cfg->n_http_cors_origins, err, err_size))
		return -1;
	for (size_t i = 0; i < cfg->n_http_cors_origins; i++) {
		const char *o = cfg->http_cors_origins[i];

		if (strcmp(o, "*") == 0) {
			cfg->http_cors_any = 1;
			continue;
		}
		if (!is_web_origin(o)) {
			cfg_path_index(item_path, sizeof(item_path), "http.cors_origins", i);
			cfg_errorf(err, err_size, &seq->children[i], 0, item_path,
				   "expected a web origin, scheme://host[:port] with no path"
				   " (https://shop.example, http://localhost:3000), or \"*\"");
			return -1;
		}
	}
	return 0;
}

static int load_http(struct hub_config *cfg, char *err, size_t err_size)
{
	struct section s;
	struct cfg_node tmp;
	const struct cfg_node *n;

	if (section_open(&s, cfg->root, "http", http_keys, err, err_size) ||
	    section_string(&s, "listen", &cfg->http_listen, err, err_size))
		return -1;
	switch (is_listen_address(cfg->http_listen)) {
	case 1:
		break;
	case -1:
		cfg_errorf(err, err_size, cfg_member(s.map, "listen"), 0, "http.listen",
			   "the port must be from 0 to 65535 (0: any free one)");
		return -1;
	case -2:
		cfg_errorf(err, err_size, cfg_member(s.map, "listen"), 0, "http.listen",
			   "the host must be an IPv4 address (127.0.0.1), an IPv6 one in brackets"
			   " ([::1]) or a host name (localhost)");
		return -1;
	default:
		cfg_errorf(err, err_size, cfg_member(s.map, "listen"), 0, "http.listen",
			   "expected host:port, like 127.0.0.1:8080 (0.0.0.0:8080 for every"
			   " interface; [::1]:8080 for IPv6)");
		return -1;
	}
	if (section_int32(&s, "threads", 1, 1024, &cfg->http_threads, err, err_size) ||
	    section_int32(&s, "max_connections", 1, 1000000, &cfg->http_max_connections,
			  err, err_size) ||
	    section_int(&s, "max_body", 1, HTTP_MAX_BODY_MAX, &cfg->http_max_body, err, err_size))
		return -1;
	n = section_value(&s, "timeout", &tmp);
	if (cfg_as_duration_ms(n, &cfg->http_timeout_ms) || cfg->http_timeout_ms < 1 ||
	    cfg->http_timeout_ms > HTTP_TIMEOUT_MAX_MS) {
		cfg_errorf(err, err_size, n, 0, "http.timeout", "must be from 1ms to 24h");
		return -1;
	}
	n = section_value(&s, "stop_delay", &tmp);
	if (cfg_as_duration_ms(n, &cfg->http_stop_delay_ms) || cfg->http_stop_delay_ms < 0 ||
	    cfg->http_stop_delay_ms > HTTP_STOP_DELAY_MAX_MS) {
		cfg_errorf(err, err_size, n, 0, "http.stop_delay",
			   "must be from 0s (a stop drains at once) to 60s");
		return -1;
	}
	return load_cors_origins(cfg, &s, err, err_size);
}

static int load_api(struct hub_config *cfg, char *err, size_t err_size)
{
	struct section s;

	if (section_open(&s, cfg->root, "api", api_keys, err, err_size))
		return -1;
	return dup_string_list(cfg_member(s.map, "tokens"), "api.tokens", 0, &cfg->api_tokens,
			       &cfg->n_api_tokens, err, err_size);
}

static int compare_external_ids(const void *a, const void *b)
{
	const struct config_external_id *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int load_external_id(const struct cfg_node *m, struct config_external_id *id,
			    char *err, size_t err_size)
{
	char path[PATH_LEN];
	struct section s;

	cfg_path_key(path, sizeof(path), "identity.external", m->key);
	if (!cfg_is_name(m->key, 0)) {
		char hint[NAME_MAX_LEN + 24];
		cfg_errorf(err, err_size, m, 1, path,
			   "an external id name must be 1 to 64 characters of a-z, 0-9 and _%s",
			   cfg_name_case_hint(m->key, 0, hint, sizeof(hint)));
		return -1;
	}
	if (!strcmp(m->key, "custom_id") || !strcmp(m->key, "installation_id")) {
		cfg_errorf(err, err_size, m, 1, path,
			   "%s is a built-in identifier, not an external id", m->key);
		return -1;
	}
	s.map = m->kind == CFG_SCALAR && m->is_null ? NULL : m;
	s.path = path;
	s.keys = external_keys;
	if (s.map && cfg_check_keys(s.map, path, external_keys, NULL, err, err_size))
		return -1;
	id->name = hub_strdup(m->key);
	if (!id->name) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	return section_int32(&s, "limit", 1, INT32_MAX, &id->limit, err, err_size) ||
			       section_int32(&s, "priority", 1, INT32_MAX, &id->priority, err,
					     err_size)
		       ? -1
		       : 0;
}

static int load_identity(struct hub_config *cfg, char *err, size_t err_size)
{
	struct section s;
	const struct cfg_node *ext;

	if (section_open(&s, cfg->root, "identity", identity_keys, err, err_size) ||
	    section_int32(&s, "max_installations", 1, INT32_MAX, &cfg->max_installations, err,
			  err_size) ||
	    section_int32(&s, "max_attributes", 1, INT32_MAX, &cfg->max_attributes, err,
			  err_size) ||
	    dup_string_list(cfg_member(s.map, "blocked_values"), "identity.blocked_values", 1,
			    &cfg->blocked_values, &cfg->n_blocked_values, err, err_size))
		return -1;
	ext = cfg_member(s.map, "external");
	if (!ext || ext->n_children == 0)
		return 0;
	if (ext->n_children > CONFIG_MAX_EXTERNAL_IDS) {
		err_set(err, err_size, "%s:%d:%d: identity.external: at most %d external id types",
			ext->file, ext->line, ext->col, CONFIG_MAX_EXTERNAL_IDS);
		return -1;
	}
	cfg->external_ids = hub_calloc(ext->n_children, sizeof(*cfg->external_ids));
	if (!cfg->external_ids) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < ext->n_children; i++) {
		/* counted first so a half-read id is freed with the config */
		cfg->n_external_ids = i + 1;
		if (load_external_id(&ext->children[i], &cfg->external_ids[i], err, err_size))
			return -1;
	}
	qsort(cfg->external_ids, cfg->n_external_ids, sizeof(*cfg->external_ids),
	      compare_external_ids);
	return 0;
}

static int load_small_sections(struct hub_config *cfg, char *err, size_t err_size)
{
	struct section s;

	if (section_open(&s, cfg->root, "privacy", privacy_keys, err, err_size) ||
	    section_int32(&s, "erase_block_days", 1, INT32_MAX, &cfg->erase_block_days, err,
			  err_size) ||
	    section_open(&s, cfg->root, "intake", intake_keys, err, err_size) ||
	    section_int32(&s, "queue_max", 1, INT32_MAX, &cfg->intake_queue_max, err,
			  err_size))
		return -1;
	return 0;
}

static int config_fill(struct hub_config *cfg, char *err, size_t err_size)
{
	struct section s;

	s.map = cfg->root;
	s.path = "";
	s.keys = root_keys;
	if (cfg_check_keys(cfg->root, "", root_keys, NULL, err, err_size) ||
	    plugin_dir_fill(cfg, err, err_size) ||
	    section_string(&s, "log_level", &cfg->log_level, err, err_size))
		return -1;
	if (log_level_parse(cfg->log_level) < 0)
		return value_refuse(cfg_member(cfg->root, "log_level"), "log_level",
				    log_level_names, LOG_N_LEVELS,
				    "must be error, warn, info or debug", err, err_size);
	if (load_store(cfg, err, err_size) || load_http(cfg, err, err_size) ||
	    load_api(cfg, err, err_size) || load_identity(cfg, err, err_size) ||
	    load_small_sections(cfg, err, err_size) ||
	    cfg_load_instances(cfg->root, "source", &cfg->sources, &cfg->n_sources, err,
			       err_size) ||
	    cfg_load_instances(cfg->root, "export", &cfg->exports, &cfg->n_exports, err,
			       err_size))
		return -1;
	return 0;
}

/* Takes the tree: it is freed with the config, also on failure. */
static int config_from_tree(const char *name, struct cfg_node *root,
			    struct hub_config **out, char *err, size_t err_size)
{
	struct hub_config *cfg = hub_calloc(1, sizeof(*cfg));

	if (!cfg) {
		cfg_free(root);
		err_set(err, err_size, "%s: out of memory", name);
		return -1;
	}
	cfg->root = root;
	cfg->file = hub_strdup(name);
	if (!cfg->file) {
		err_set(err, err_size, "%s: out of memory", name);
		goto fail;
	}
	if (config_fill(cfg, err, err_size))
		goto fail;
	*out = cfg;
	return 0;
fail:
	config_free(cfg);
	return -1;
}

int config_load(const char *path, struct hub_config **out, char *err, size_t err_size)
{
	struct cfg_node *root;

	*out = NULL;
	if (cfg_parse_file(path, &root, err, err_size))
		return -1;
	return config_from_tree(path, root, out, err, err_size);
}

int config_load_lazy_env(const char *path, struct hub_config **out, char *err,
			 size_t err_size)
{
	struct cfg_node *root;
	struct strbuf unset;
	size_t n_unset;

	*out = NULL;
	if (cfg_parse_file_with(path, CFG_PARSE_DEFER_UNSET_ENV, &root, err, err_size))
		return -1;
	strbuf_init(&unset);
	n_unset = cfg_unset_env_the_hub_reads(root, &unset);
	if (n_unset)
		cfg_unset_env_error(&unset, n_unset, err, err_size);
	strbuf_free(&unset);
	if (n_unset) {
		cfg_free(root);
		return -1;
	}
	return config_from_tree(path, root, out, err, err_size);
}

int config_listen_is_loopback(const char *listen)
{
	const char *end;
	size_t len;

	if (!listen)
		return 1; /* the default, 127.0.0.1:8080 */
	if (listen[0] == '[') {
		end = strchr(listen, ']');
		return end && (size_t)(end - listen - 1) == 3 && strncmp(listen + 1, "::1", 3) == 0;
	}
	end = strrchr(listen, ':');
	len = end ? (size_t)(end - listen) : strlen(listen);
	/* 127.x.y.z as digits: a name like 127.example.com may be anywhere */
	return (len == 9 && strncasecmp(listen, "localhost", 9) == 0) ||
	       (len > 4 && strncmp(listen, "127.", 4) == 0 &&
		strspn(listen, "0123456789.") == len);
}

/* An external id that names one person: not email or phone, which a
 * deployment may promote (IDENTITY.md section 9) but several share. */
static int external_is_person_key(const struct config_external_id *e)
{
	return strcmp(e->name, "email") != 0 && strcmp(e->name, "phone") != 0;
}

int config_person_key(const struct hub_config *cfg, const char *name)
{
	if (strcmp(name, "custom_id") == 0 || strcmp(name, "installation_id") == 0)
		return 1;
	for (size_t i = 0; i < cfg->n_external_ids; i++)
		if (external_is_person_key(&cfg->external_ids[i]) &&
		    strcmp(cfg->external_ids[i].name, name) == 0)
			return 1;
	return 0;
}

const char *config_person_keys(const struct hub_config *cfg, char *buf, size_t size)
{
	const char *last = "installation_id";
	size_t len = (size_t)snprintf(buf, size, "custom_id");

	for (size_t i = 0; i < cfg->n_external_ids && len < size; i++) {
		if (!external_is_person_key(&cfg->external_ids[i]))
			continue;
		len += (size_t)snprintf(buf + len, size - len, ", %s", last);
		last = cfg->external_ids[i].name;
	}
	if (len < size)
		snprintf(buf + len, size - len, " or %s", last);
	return buf;
}

int config_load_string(const char *name, const char *text, struct hub_config **out,
		       char *err, size_t err_size)
{
	struct cfg_node *root;

	*out = NULL;
	if (!name)
		name = "<config>";
	if (cfg_parse_string(name, text, strlen(text), &root, err, err_size))
		return -1;
	return config_from_tree(name, root, out, err, err_size);
}

void config_free(struct hub_config *cfg)
{
	if (!cfg)
		return;
	cfg_free_instances(cfg->exports, cfg->n_exports);
	cfg_free_instances(cfg->sources, cfg->n_sources);
	for (size_t i = 0; i < cfg->n_external_ids; i++)
		hub_free(cfg->external_ids[i].name);
	hub_free(cfg->external_ids);
	free_string_list(cfg->blocked_values, cfg->n_blocked_values);
	free_string_list(cfg->api_tokens, cfg->n_api_tokens);
	free_string_list(cfg->http_cors_origins, cfg->n_http_cors_origins);
	hub_free(cfg->http_listen);
	hub_free(cfg->store_schema);
	hub_free(cfg->store_url);
	hub_free(cfg->store_path);
	hub_free(cfg->store_driver);
	hub_free(cfg->log_level);
	hub_free(cfg->plugin_dir);
	cfg_free(cfg->root);
	hub_free(cfg->file);
	hub_free(cfg);
}
