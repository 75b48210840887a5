/*
 * cfg_instances.c - the sources and exports lists of the configuration:
 * their common keys (the tables, and name, plugin, enabled and the source
 * limits read into struct config_instance), and the message for a name a
 * command was given that no entry has.  The rest of an entry's keys are
 * checked against its plugin's own table by plugin.c.
 *
 * Never print a configured value in a message; name the key instead.  An
 * entry's name is no secret: it may be quoted.
 */
#include "config_int.h"

#include "alloc.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SOURCE_PAGE_SIZE_MAX 1000000
#define SOURCE_RETRIES_MAX 1000

/* A description starting "pull:" marks a key only a pull reads: a source
 * whose plugin cannot pull is refused it (plugin.c, check_pull_keys).  Of
 * those, query, cursor, cursor_start, kind and map are the plugin's to read:
 * one of ABI 1.13 on is refused those it does not declare (plugin_owns_pull_key). */
const struct hub_config_key config_keys_common_source[] = {
	{"name", HUB_CFG_STRING, NULL, 1, 0, "unique name of this source"},
	{"plugin", HUB_CFG_STRING, NULL, 1, 0, "the plugin that implements it"},
	{"enabled", HUB_CFG_BOOL, "true", 0, 0, "false: configured but not run"},
	{"schedule", HUB_CFG_STRING, NULL, 0, 0, "pull: \"every 15m\" or a 5-field cron"},
	{"query", HUB_CFG_STRING, NULL, 0, 0, "pull: SQL with :cursor"},
	{"cursor", HUB_CFG_ANY, NULL, 0, 0, "pull: cursor column or list of columns"},
	{"cursor_start", HUB_CFG_STRING, NULL, 0, 0,
	 "pull: first cursor (default the start of the column's type)"},
	{"page_size", HUB_CFG_INT, NULL, 0, 0, /* SYNC_PAGE_SIZE, SOURCE_PAGE_SIZE_MAX */
	 "pull: rows per page (default 10000, at most 1000000)"},
	{"kind", HUB_CFG_STRING, NULL, 0, 0, "pull: attributes, events, consent or erase"},
	{"map", HUB_CFG_OBJECT, NULL, 0, 0, "pull: columns -> record fields"},
	{"max_retries", HUB_CFG_INT, "5", 0, 0, "pull: retries of transient errors"},
	{0},
};

const struct hub_config_key config_keys_common_export[] = {
	{"name", HUB_CFG_STRING, NULL, 1, 0, "unique name of this export"},
	{"plugin", HUB_CFG_STRING, NULL, 1, 0, "the plugin that implements it"},
	{"enabled", HUB_CFG_BOOL, "true", 0, 0, "false: configured but not run"},
	{"kinds", HUB_CFG_STRING_LIST, NULL, 0, 0, "change kinds to deliver (default all)"},
	{"attributes", HUB_CFG_STRING_LIST, NULL, 0, 0, "attributes to include (default all)"},
	{"batch_size", HUB_CFG_INT, NULL, 0, 0, /* export.c: BATCH_DEFAULT, BATCH_MAX */
	 "changes per delivery (default 100, at most 10000)"},
	{"backfill", HUB_CFG_BOOL, "true", 0, 0,
	 "on its first run, first every live profile (a profile_updated change each)"},
	{0},
};

/* A member of map whose key is `key` in another case ("Plugin"), or NULL. */
static const struct cfg_node *member_in_other_case(const struct cfg_node *map, const char *key)
{
	for (size_t i = 0; map->kind == CFG_MAP && i < map->n_children; i++)
		if (strcasecmp(map->children[i].key, key) == 0)
			return &map->children[i];
	return NULL;
}

/* name and plugin: present, strings, names.  Read before the entry's keys
 * are checked (that needs its plugin): "Plugin:" is named, as the check
 * would, rather than said missing. */
static int instance_name(const struct cfg_node *item, const char *path, const char *key,
			 char **out, char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_get(item, key), *other;
	char sub[PATH_LEN];

	if (!n && (other = member_in_other_case(item, key))) {
		cfg_path_key(sub, sizeof(sub), path, other->key);
		cfg_errorf(err, err_size, other, 1, sub, "unknown key (did you mean \"%s\"?)", key);
		return -1;
	}
	cfg_path_key(sub, sizeof(sub), path, key);
	if (!n) {
		cfg_errorf(err, err_size, item, 0, path, "missing required key \"%s\"", key);
		return -1;
	}
	if (cfg_check_type(n, sub, HUB_CFG_STRING, err, err_size))
		return -1;
	if (!cfg_is_name(n->value, 1)) {
		char hint[NAME_MAX_LEN + 24];
		cfg_errorf(err, err_size, n, 0, sub,
			   "must be 1 to 64 characters of a-z, 0-9, _ and -%s",
			   cfg_name_case_hint(n->value, 1, hint, sizeof(hint)));
		return -1;
	}
	*out = hub_strdup(n->value);
	if (!*out) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

/* An integer key of an entry within [lo, hi] when set (its type is checked
 * with the plugin's keys): run replaced a value out of range unsaid. */
static int instance_int_range(const struct config_instance *inst, const char *key, int64_t lo,
			      int64_t hi, char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_member(inst->node, key);
	char sub[PATH_LEN];
	int64_t v;

	if (!n || n->is_null || cfg_as_int(n, &v) || (v >= lo && v <= hi))
		return 0;
	cfg_path_key(sub, sizeof(sub), inst->path, key);
	cfg_errorf(err, err_size, n, 0, sub, "must be between %lld and %lld", (long long)lo,
		   (long long)hi);
	return -1;
}

static int load_instance(const struct cfg_node *item, const char *what,
			 struct config_instance *all, size_t i, char *err, size_t err_size)
{
	struct config_instance *inst = &all[i];
	const struct cfg_node *enabled;
	char sub[PATH_LEN];

	inst->node = item;
	snprintf(inst->path, sizeof(inst->path), "%ss[%zu]", what, i);
	if (item->kind != CFG_MAP) {
		cfg_errorf(err, err_size, item, 0, inst->path, "expected a mapping");
		return -1;
	}
	if (instance_name(item, inst->path, "name", &inst->name, err, err_size))
		return -1;
	for (size_t k = 0; k < i; k++) {
		if (strcmp(all[k].name, inst->name) == 0) {
			cfg_path_key(sub, sizeof(sub), inst->path, "name");
			cfg_errorf(err, err_size, cfg_get(item, "name"), 0, sub,
				   "duplicate %s name \"%s\"", what, inst->name);
			return -1;
		}
	}
	if (instance_name(item, inst->path, "plugin", &inst->plugin, err, err_size))
		return -1;
	if (strcmp(what, "source") == 0 &&
	    (instance_int_range(inst, "page_size", 1, SOURCE_PAGE_SIZE_MAX, err, err_size) ||
	     instance_int_range(inst, "max_retries", 0, SOURCE_RETRIES_MAX, err, err_size)))
		return -1;
	inst->is_enabled = 1;
	enabled = cfg_member(item, "enabled");
	if (enabled && cfg_as_bool(enabled, &inst->is_enabled)) {
		cfg_path_key(sub, sizeof(sub), inst->path, "enabled");
		return cfg_check_type(enabled, sub, HUB_CFG_BOOL, err, err_size);
	}
	return 0;
}

/* sources / exports: a list of mappings with unique names. */
int cfg_load_instances(const struct cfg_node *root, const char *what,
		       struct config_instance **out, size_t *n_out, char *err,
		       size_t err_size)
{
	char key[16];
	const struct cfg_node *seq;

	snprintf(key, sizeof(key), "%ss", what);
	seq = cfg_member(root, key);
	if (!seq)
		return 0;
	if (seq->kind != CFG_SEQ) {
		cfg_errorf(err, err_size, seq, 0, key, "expected a list of mappings");
		return -1;
	}
	if (seq->n_children == 0)
		return 0;
	*out = hub_calloc(seq->n_children, sizeof(**out));
	if (!*out) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < seq->n_children; i++) {
		*n_out = i + 1;
		if (load_instance(&seq->children[i], what, *out, i, err, err_size))
			return -1;
	}
	return 0;
}

static int is_common_key(const struct hub_config_key *common, const char *key)
{
	for (const struct hub_config_key *k = common; k->name; k++)
		if (strcmp(k->name, key) == 0)
			return 1;
	return 0;
}

/* An entry of sources/exports: its common keys, and all of it when it is
 * no mapping (refused later as such). */
static size_t entry_unset_env(const struct cfg_node *entry, const struct hub_config_key *common,
			      struct strbuf *lines)
{
	size_t found = 0;

	if (entry->kind != CFG_MAP)
		return cfg_unset_env_collect(entry, lines);
	for (size_t i = 0; i < entry->n_children; i++)
		if (is_common_key(common, entry->children[i].key))
			found += cfg_unset_env_collect(&entry->children[i], lines);
	return found;
}

size_t cfg_unset_env_the_hub_reads(const struct cfg_node *root, struct strbuf *lines)
{
	size_t found = 0;

	for (size_t i = 0; root->kind == CFG_MAP && i < root->n_children; i++) {
		const struct cfg_node *m = &root->children[i];
		const struct hub_config_key *common =
			strcmp(m->key, "sources") == 0   ? config_keys_common_source
			: strcmp(m->key, "exports") == 0 ? config_keys_common_export
							 : NULL;

		if (!common || m->kind != CFG_SEQ) {
			found += cfg_unset_env_collect(m, lines);
			continue;
		}
		for (size_t e = 0; e < m->n_children; e++)
			found += entry_unset_env(&m->children[e], common, lines);
	}
	return found;
}

void cfg_free_instances(struct config_instance *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		hub_free(v[i].name);
		hub_free(v[i].plugin);
	}
	hub_free(v);
}

/* The entries of list[0..n) of `plugin` (all when NULL), named in the
 * message: the closest to `name` as "did you mean", then every one. */
static void missing_names(struct strbuf *sb, const struct config_instance *list, size_t n,
			  const char *kind, const char *plugin, const char *name)
{
	const char *names[64], *best;
	size_t n_names = 0, n_listed = 0;

	for (size_t i = 0; i < n && n_names < ARRAY_SIZE(names); i++)
		if (!plugin || strcmp(list[i].plugin, plugin) == 0)
			names[n_names++] = list[i].name;
	if ((best = cfg_closest_name(name, names, n_names)))
		strbuf_printf(sb, " (did you mean \"%s\"?; ", best);
	else
		strbuf_puts(sb, " (");
	for (size_t i = 0; i < n; i++) {
		if (plugin && strcmp(list[i].plugin, plugin) != 0)
			continue;
		if (n_listed++ == 0)
			strbuf_printf(sb, "%ss%s%s: ", kind, plugin ? " of plugin " : "",
				      plugin ? plugin : "");
		strbuf_printf(sb, "%s%s", n_listed > 1 ? ", " : "", list[i].name);
	}
	if (!n_listed)
		strbuf_printf(sb, "no %s%s%s configured", kind, plugin ? " of plugin " : "",
			      plugin ? plugin : "");
	strbuf_puts(sb, ")");
}

/* Why `name` is not an entry of list[0..n) that `plugin` (NULL: any)
 * runs.  Names, never values: a name is not a secret. */
static const char *missing_instance(const struct hub_config *cfg,
				    const struct config_instance *list, size_t n,
				    const char *kind, const char *plugin, const char *name,
				    char *buf, size_t size)
{
	const struct config_instance *other = NULL;
	struct strbuf sb;

	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			other = &list[i];
	strbuf_init(&sb);
	if (other && plugin)
		strbuf_printf(&sb, "%s \"%s\" of %s has plugin %s, not %s", kind, name, cfg->file,
			      other->plugin, plugin);
	else
		strbuf_printf(&sb, "no %s named \"%s\" in %s", kind, name, cfg->file);
	missing_names(&sb, list, n, kind, plugin, name);
	if (sb.failed)
		err_set(buf, size, "no %s named \"%s\" in %s", kind, name, cfg->file);
	else
		err_set(buf, size, "%s", sb.data);
	strbuf_free(&sb);
	return buf;
}

const struct config_instance *config_source(const struct hub_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	return NULL;
}

const char *config_missing_source(const struct hub_config *cfg, const char *plugin,
				  const char *name, char *buf, size_t size)
{
	return missing_instance(cfg, cfg->sources, cfg->n_sources, "source", plugin, name, buf,
				size);
}

const char *config_missing_source_kept(const struct hub_config *cfg, const char *kind,
				       config_source_keep keep, void *ctx, const char *name,
				       char *buf, size_t size)
{
	struct config_instance *kept = hub_calloc(cfg->n_sources + 1, sizeof(*kept));
	size_t n = 0;

	if (!kept)
		return config_missing_source(cfg, NULL, name, buf, size);
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (keep(ctx, &cfg->sources[i]))
			kept[n++] = cfg->sources[i]; /* shallow: only read */
	missing_instance(cfg, kept, n, kind, NULL, name, buf, size);
	hub_free(kept);
	return buf;
}

const char *config_missing_export(const struct hub_config *cfg, const char *name, char *buf,
				  size_t size)
{
	return missing_instance(cfg, cfg->exports, cfg->n_exports, "export", NULL, name, buf,
				size);
}
