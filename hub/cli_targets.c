/*
 * cli_targets.c - two enabled exports writing one target (the same jsonl
 * file; the same table at the same PostgreSQL url) would interleave or
 * duplicate each other's rows: `check` and `run` refuse such a
 * configuration (cli_check_entries()), naming both exports and the target.
 *
 * Only the plugins whose target the hub knows are compared (the table
 * below).  A path is compared normalized: the realpath of its directory
 * plus its file name (as written when the directory does not exist yet).
 * A PostgreSQL url or key/value conninfo is compared as the server and
 * database libpq reads from it (host, port, dbname: postgres://h/db is
 * postgresql://h:5432/db is "host=h dbname=db"), a table without a schema
 * as public.<table> (unless the url sets a search_path).  A url may hold
 * a password: never printed.
 */
#include "cli.h"

#include "plugin.h"

#include <ctype.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct target_rule {
	const char *plugin;
	const char *path_key; /* a file: compared normalized */
	const char *url_key;  /* with table_key: a table of a database */
	const char *table_key;
};

static const struct target_rule target_rules[] = {
	{"jsonl", "path", NULL, NULL},
	{"postgres", NULL, "url", "table"},
};

/* The entry's value of `key`, else its plugin's default; NULL: none. */
static const char *entry_value(const struct plugin_registry *reg,
			       const struct config_instance *ci, const char *key)
{
	const struct cfg_node *n = cfg_get(ci->node, key);
	const struct plugin_module *m;

	if (n && n->kind == CFG_SCALAR && !n->is_null)
		return n->value;
	if (!(m = plugin_registry_find(reg, ci->plugin)))
		return NULL;
	for (const struct hub_config_key *k = m->desc->config; k && k->name; k++)
		if (strcmp(k->name, key) == 0)
			return k->default_value;
	return NULL;
}

/* `path` as realpath(its directory) + "/" + its file name, in buf. */
static void path_normal(const char *path, char *buf, size_t size)
{
	char dir_buf[PATH_MAX], base_buf[PATH_MAX], real[PATH_MAX];
	const char *base;

	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	snprintf(base_buf, sizeof(base_buf), "%s", path);
	base = basename(base_buf);
	if (realpath(dirname(dir_buf), real))
		snprintf(buf, size, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
	else
		snprintf(buf, size, "%s", path);
}

/* What libpq read for keyword `kw` from a parsed conninfo; NULL: unset. */
static const char *conninfo_value(const PQconninfoOption *opts, const char *kw)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, kw) == 0)
			return o->val && o->val[0] ? o->val : NULL;
	return NULL;
}

/* A PostgreSQL url (or key/value conninfo) and table as the database and
 * table they name, "host:port/dbname\nschema.table", in buf: libpq's
 * defaults for a port (5432) and a dbname (the user) left out, host names
 * in lower case.  0, or -1 when libpq cannot parse the url (its plugin
 * refuses it). */
static int db_table_normal(const char *url, const char *table, char *buf, size_t size)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	const char *host, *port, *db, *options;
	char host_low[256];
	size_t i;

	if (!opts)
		return -1;
	if (!(host = conninfo_value(opts, "host")) && !(host = conninfo_value(opts, "hostaddr")))
		host = "";
	for (i = 0; host[i] && i + 1 < sizeof(host_low); i++)
		host_low[i] = (char)tolower((unsigned char)host[i]);
	host_low[i] = '\0';
	port = conninfo_value(opts, "port");
	if (!(db = conninfo_value(opts, "dbname")))
		db = conninfo_value(opts, "user");
	options = conninfo_value(opts, "options");
	snprintf(buf, size, "%s:%s/%s\n%s%s", host_low, port ? port : "5432", db ? db : "",
		 strchr(table, '.') || (options && strstr(options, "search_path")) ? ""
										   : "public.",
		 table);
	PQconninfoFree(opts);
	return 0;
}

/* The target of an enabled export the table knows, in buf (url and table
 * joined by a newline, which no url holds): 1, else 0. */
static int export_target(const struct plugin_registry *reg, const struct config_instance *ci,
			 const struct target_rule **rule, char *buf, size_t size)
{
	const char *a, *b;

	if (!ci->is_enabled)
		return 0;
	for (size_t i = 0; i < sizeof(target_rules) / sizeof(target_rules[0]); i++) {
		const struct target_rule *r = &target_rules[i];
		if (strcmp(ci->plugin, r->plugin) != 0)
			continue;
		*rule = r;
		if (r->path_key) {
			if (!(a = entry_value(reg, ci, r->path_key)) || !a[0])
				return 0;
			path_normal(a, buf, size);
			return 1;
		}
		a = entry_value(reg, ci, r->url_key);
		b = entry_value(reg, ci, r->table_key);
		if (!a || !b)
			return 0;
		return db_table_normal(a, b, buf, size) == 0;
	}
	return 0;
}

static void shared_target_error(const struct config_instance *first,
				const struct config_instance *second, const struct target_rule *r,
				const char *target)
{
	const char *table = strchr(target, '\n');
	int db_len = table ? (int)(table - target) : 0;

	if (r->path_key)
		fprintf(stderr, "profilehub: %s \"%s\" and %s \"%s\" both write the file %s: their"
			" rows would interleave; give each export its own %s\n",
			second->path, second->name, first->path, first->name, target,
			r->path_key);
	else
		fprintf(stderr, "profilehub: %s \"%s\" and %s \"%s\" both write table %s at the"
			" same %s (%.*s): each would write the other's rows again; give each"
			" export its own %s or %s\n",
			second->path, second->name, first->path, first->name,
			table ? table + 1 : "?", r->url_key, db_len, target, r->table_key,
			r->url_key);
}

int cli_check_export_targets(const struct plugin_registry *reg, const struct hub_config *cfg)
{
	const struct target_rule *ri = NULL, *rj = NULL;
	char ti[PATH_MAX + 64], tj[PATH_MAX + 64];
	int n_bad = 0;

	for (size_t j = 1; j < cfg->n_exports; j++) {
		if (!export_target(reg, &cfg->exports[j], &rj, tj, sizeof(tj)))
			continue;
		for (size_t i = 0; i < j; i++) {
			if (!export_target(reg, &cfg->exports[i], &ri, ti, sizeof(ti)) ||
			    ri != rj || strcmp(ti, tj) != 0)
				continue;
			shared_target_error(&cfg->exports[i], &cfg->exports[j], rj, tj);
			n_bad++;
			break; /* one message for each export after the first */
		}
	}
	return n_bad;
}
