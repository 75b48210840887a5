/*
 * plugin_check.c - the checks of a plugin plugin_load() (plugin.c) has just
 * had its descriptor from: the ABI stamp first (magic, major, the struct
 * sizes of its minor), and only then the rest of the descriptor (name,
 * roles and their callbacks, routes, config keys and their defaults).  A
 * descriptor that would fail later is refused here with one exact message
 * naming the plugin and its file.
 *
 * The struct sizes of each minor are tabled here, next to the static
 * asserts that keep them true: append a row when a minor appends members.
 *
 * Never call a plugin callback here, nor read a descriptor field other
 * than the stamp before plugin_check_stamp() has accepted it.  No dlopen,
 * no registry, no instance.
 */
#include "plugin_int.h"

#include "alloc.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The size of the ABI 1.0 hub_record (hub_plugin's: plugin_int.h). */
#define RECORD_SIZE_1_0                                                        \
	(offsetof(struct hub_record, previous_id) + sizeof(((struct hub_record *)0)->previous_id))
/* ABI 1.3 and 1.4's hub_record ended at origin. */
#define RECORD_SIZE_1_3                                                        \
	(offsetof(struct hub_record, origin) + sizeof(((struct hub_record *)0)->origin))

/* The exact struct sizes of each minor of this major, indexed by minor.
 * Append a row when a minor appends members. */
static const size_t plugin_size_of_minor[HUB_ABI_MINOR + 1] = {
	PLUGIN_SIZE_1_0,           /* 1.0 */
	PLUGIN_SIZE_1_1,           /* 1.1: import_line */
	PLUGIN_SIZE_1_1,           /* 1.2: only hub_host grew (reject) */
	PLUGIN_SIZE_1_1,           /* 1.3: only hub_record grew (origin) */
	PLUGIN_SIZE_1_1,           /* 1.4: only hub_host grew (batch_range) */
	PLUGIN_SIZE_1_1,           /* 1.5: only hub_record grew (has_timestamp) */
	PLUGIN_SIZE_1_6,           /* 1.6: error_body */
	PLUGIN_SIZE_1_6,           /* 1.7: only hub_host grew (query) */
	PLUGIN_SIZE_1_6,           /* 1.8: only hub_host grew (alloc_failed) */
	PLUGIN_SIZE_1_6,           /* 1.9: no struct grew (HUB_SECRET_CONNECTION) */
	PLUGIN_SIZE_1_10,          /* 1.10: check_config */
	PLUGIN_SIZE_1_11,          /* 1.11: admit */
	PLUGIN_SIZE_1_11,          /* 1.12: only hub_host grew (skip) */
	PLUGIN_SIZE_1_11,          /* 1.13: no struct grew (pull keys declared) */
	sizeof(struct hub_plugin), /* 1.14: run_end */
	sizeof(struct hub_plugin), /* 1.15: only hub_host grew (attr_key_refusal) */
};
static const size_t record_size_of_minor[HUB_ABI_MINOR + 1] = {
	RECORD_SIZE_1_0,
	RECORD_SIZE_1_0,
	RECORD_SIZE_1_0,
	RECORD_SIZE_1_3, /* 1.3: origin */
	RECORD_SIZE_1_3, /* 1.4 */
	sizeof(struct hub_record), /* 1.5: has_timestamp */
	sizeof(struct hub_record), /* 1.6: hub_plugin (error_body), hub_host (warn) */
	sizeof(struct hub_record), /* 1.7: hub_host (query) */
	sizeof(struct hub_record), /* 1.8: hub_host (alloc_failed) */
	sizeof(struct hub_record), /* 1.9: none (HUB_SECRET_CONNECTION) */
	sizeof(struct hub_record), /* 1.10: hub_plugin (check_config) */
	sizeof(struct hub_record), /* 1.11: hub_plugin (admit) */
	sizeof(struct hub_record), /* 1.12: hub_host (skip) */
	sizeof(struct hub_record), /* 1.13: none (pull keys declared) */
	sizeof(struct hub_record), /* 1.14: hub_plugin (run_end) */
	sizeof(struct hub_record), /* 1.15: hub_host (attr_key_refusal) */
};
_Static_assert(offsetof(struct hub_plugin, error_body) == PLUGIN_SIZE_1_1,
	       "hub_plugin.error_body must directly follow import_line (ABI 1.6)");
_Static_assert(offsetof(struct hub_plugin, check_config) == PLUGIN_SIZE_1_6,
	       "hub_plugin.check_config must directly follow error_body (ABI 1.10)");
_Static_assert(offsetof(struct hub_plugin, admit) == PLUGIN_SIZE_1_10,
	       "hub_plugin.admit must directly follow check_config (ABI 1.11)");
_Static_assert(offsetof(struct hub_plugin, run_end) == PLUGIN_SIZE_1_11 &&
		       sizeof(struct hub_plugin) == PLUGIN_SIZE_1_11 + sizeof(void (*)(void)),
	       "hub_plugin.run_end must directly follow admit and end it (ABI 1.14)");
_Static_assert(offsetof(struct hub_record, origin) == RECORD_SIZE_1_0,
	       "hub_record.origin must directly follow previous_id (ABI 1.3)");
_Static_assert(offsetof(struct hub_record, has_timestamp) == RECORD_SIZE_1_3,
	       "hub_record.has_timestamp must directly follow origin (ABI 1.5)");
/* has_timestamp is the last member: the struct ends with it, padded to its alignment */
#define RECORD_END_1_5                                                         \
	(offsetof(struct hub_record, has_timestamp) +                          \
	 sizeof(((struct hub_record *)0)->has_timestamp))
_Static_assert(sizeof(struct hub_record) ==
		       (RECORD_END_1_5 + _Alignof(struct hub_record) - 1) /
			       _Alignof(struct hub_record) * _Alignof(struct hub_record),
	       "struct hub_record grew past has_timestamp: bump HUB_ABI_MINOR and document it");

_Static_assert(HUB_ABI_MINOR > 0 || PLUGIN_SIZE_1_0 == sizeof(struct hub_plugin),
	       "struct hub_plugin grew: bump HUB_ABI_MINOR");
_Static_assert(HUB_ABI_MINOR > 0 || RECORD_SIZE_1_0 == sizeof(struct hub_record),
	       "struct hub_record grew: bump HUB_ABI_MINOR");

/* For messages: "default \"x\" is not <name>". */
static const char *const config_type_names[] = {
	"a string", "an int", "a bool", "a float", "a duration", "a list of strings",
	"an object", "a value",
};

/* ---- checking a descriptor ------------------------------------------ */

/* A scalar default must read as its key's type. */
static int default_scalar_ok(const struct hub_config_key *k)
{
	struct cfg_node n = {.kind = CFG_SCALAR, .value = (char *)k->default_value,
			     .file = "default"};
	int64_t i;
	int b;
	double f;

	switch (k->type) {
	case HUB_CFG_STRING:
		return 1;
	case HUB_CFG_INT:
		return cfg_as_int(&n, &i) == 0;
	case HUB_CFG_BOOL:
		return cfg_as_bool(&n, &b) == 0;
	case HUB_CFG_FLOAT:
		return cfg_as_float(&n, &f) == 0;
	case HUB_CFG_DURATION:
		return cfg_as_duration_ms(&n, &i) == 0;
	default:
		return 0;
	}
}

/* A list, object or any default is flow YAML of that shape ("[a, b]",
 * "{k: v}"), parsed the way host.c parses it: as the value of "v: ". */
static int default_tree_ok(const struct hub_config_key *k)
{
	struct cfg_node *root = NULL;
	const struct cfg_node *v;
	char *text = hub_malloc(strlen(k->default_value) + 4);
	char why[256];
	int ok = 0;

	if (!text)
		return 0;
	sprintf(text, "v: %s", k->default_value);
	if (cfg_parse_string("default", text, strlen(text), &root, why, sizeof(why)))
		goto out;
	v = cfg_get(root, "v");
	if (!v)
		goto out;
	switch (k->type) {
	case HUB_CFG_STRING_LIST:
		ok = v->kind == CFG_SEQ;
		for (size_t i = 0; ok && i < v->n_children; i++)
			ok = v->children[i].kind == CFG_SCALAR && !v->children[i].is_null;
		break;
	case HUB_CFG_OBJECT:
		ok = v->kind == CFG_MAP;
		break;
	default:
		ok = 1;
		break;
	}
out:
	cfg_free(root);
	hub_free(text);
	return ok;
}

/* The common source keys a pull hands to its plugin and never reads
 * itself (rowmap.c, rowpull.c): a pull plugin may declare them as its own,
 * the way check_kind (plugin.c) lets it own `kind`, and from ABI 1.13 on
 * reads only those it declares (plugin_owns_pull_key). */
static const char *const pull_keys_of_the_plugin[] = {"query", "cursor", "cursor_start",
						      "kind", "map"};

/* The first minor whose pull plugins read only the pull keys they declare. */
#define MINOR_PULL_KEYS_DECLARED 13

int plugin_owns_pull_key(const struct hub_plugin *d, const char *name)
{
	if (!(d->roles & HUB_ROLE_PULL) || d->abi.minor < MINOR_PULL_KEYS_DECLARED)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(pull_keys_of_the_plugin); i++)
		if (strcmp(name, pull_keys_of_the_plugin[i]) == 0)
			return 1;
	return 0;
}

static const struct hub_config_key *common_key(const struct hub_config_key *common,
					       const char *name)
{
	for (; common->name; common++)
		if (strcmp(common->name, name) == 0)
			return common;
	return NULL;
}

/*
 * The hub's own key `name` (cfg_instances.c's common keys), read by the hub itself
 * with its own type whatever the plugin declares, on the entries (*entry)
 * of a plugin of `roles`; or NULL.  Not a pull key on a source that cannot
 * pull (plugin.c, check_pull_keys), nor one a pull only hands to its plugin.
 */
static const struct hub_config_key *hub_key_of(const char *name, unsigned roles,
					       const char **entry)
{
	const struct hub_config_key *c;

	if ((roles & HUB_ROLE_EXPORT) && (c = common_key(config_keys_common_export, name))) {
		*entry = "export";
		return c;
	}
	if (!(roles & (HUB_ROLE_PUSH | HUB_ROLE_PULL)) ||
	    !(c = common_key(config_keys_common_source, name)))
		return NULL;
	*entry = "source";
	if (strncmp(c->description, "pull:", 5) != 0)
		return c;
	if (!(roles & HUB_ROLE_PULL))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(pull_keys_of_the_plugin); i++)
		if (strcmp(name, pull_keys_of_the_plugin[i]) == 0)
			return NULL;
	*entry = "pull source";
	return c;
}

/* prefix: `plugin "NAME" (PATH)` */
static int check_config_keys(const struct hub_config_key *keys, unsigned roles,
			     const char *prefix, char *err, size_t err_size)
{
	for (size_t i = 0; keys && keys[i].name; i++) {
		const struct hub_config_key *k = &keys[i], *hub_own;
		const char *entry;
		int is_scalar;

		if (!k->name[0]) {
			err_set(err, err_size, "%s: config key %zu has an empty name", prefix, i);
			return -1;
		}
		/* the same type (plugins of ABI 1.7 did so) reads alike; another
		 * would have the hub refuse what the plugin takes */
		if ((hub_own = hub_key_of(k->name, roles, &entry)) && hub_own->type != k->type) {
			err_set(err, err_size, "%s: config key \"%s\" is the hub's own key of every"
					       " %s (%s): declared %s", prefix, k->name, entry,
				config_type_names[hub_own->type],
				(unsigned)k->type < ARRAY_SIZE(config_type_names)
					? config_type_names[k->type] : "an unknown type");
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(keys[j].name, k->name) == 0) {
				err_set(err, err_size, "%s: config key \"%s\" is declared twice",
					prefix, k->name);
				return -1;
			}
		if ((unsigned)k->type >= ARRAY_SIZE(config_type_names)) {
			err_set(err, err_size, "%s: config key \"%s\" has unknown type %d", prefix,
				k->name, (int)k->type);
			return -1;
		}
		if (!k->description || !k->description[0]) {
			err_set(err, err_size, "%s: config key \"%s\" has no description", prefix,
				k->name);
			return -1;
		}
		if (!k->default_value)
			continue;
		if (k->is_required) {
			err_set(err, err_size,
				"%s: config key \"%s\" is required but has a default", prefix,
				k->name);
			return -1;
		}
		is_scalar = k->type != HUB_CFG_STRING_LIST && k->type != HUB_CFG_OBJECT &&
			    k->type != HUB_CFG_ANY;
		if (is_scalar ? !default_scalar_ok(k) : !default_tree_ok(k)) {
			if (k->is_secret)
				err_set(err, err_size, "%s: config key \"%s\": default is not %s",
					prefix, k->name, config_type_names[k->type]);
			else
				err_set(err, err_size,
					"%s: config key \"%s\": default \"%s\" is not %s", prefix,
					k->name, k->default_value, config_type_names[k->type]);
			return -1;
		}
	}
	return 0;
}

static int check_routes(const struct hub_route *routes, const char *prefix, char *err,
			size_t err_size)
{
	for (size_t i = 0; routes[i].method; i++) {
		const struct hub_route *r = &routes[i];

		if (!r->path || r->path[0] != '/') {
			err_set(err, err_size, "%s: routes[%zu] path must start with \"/\"", prefix,
				i);
			return -1;
		}
		if (!r->handle) {
			err_set(err, err_size, "%s: routes[%zu] (%s %s) has no handle()", prefix, i,
				r->method, r->path);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(routes[j].method, r->method) == 0 &&
			    strcmp(routes[j].path, r->path) == 0) {
				err_set(err, err_size, "%s: routes[%zu] (%s %s) is declared twice",
					prefix, i, r->method, r->path);
				return -1;
			}
	}
	return 0;
}

/* Everything after the stamp.  `name` is the file name without .so. */
int plugin_check_descriptor(const struct hub_plugin *d, const char *name, const char *path,
			    char *err, size_t err_size)
{
	const unsigned known = HUB_ROLE_PUSH | HUB_ROLE_PULL | HUB_ROLE_EXPORT;
	char prefix[PATH_MAX + 128];

	snprintf(prefix, sizeof(prefix), "plugin \"%s\" (%s)", name, path);
	if (!d->name) {
		err_set(err, err_size, "%s: name is missing", prefix);
		return -1;
	}
	if (strcmp(d->name, name) != 0) {
		err_set(err, err_size, "%s calls itself \"%s\" (a descriptor's name must be its"
			" file name without .so)", prefix, d->name);
		return -1;
	}
	if (!d->version || !d->version[0]) {
		err_set(err, err_size, "%s: version is missing", prefix);
		return -1;
	}
	if (!d->description || !d->description[0]) {
		err_set(err, err_size, "%s: description is missing", prefix);
		return -1;
	}
	if (d->roles == 0) {
		err_set(err, err_size, "%s: declares no role", prefix);
		return -1;
	}
	if (d->roles & ~known) {
		err_set(err, err_size, "%s: declares unknown roles 0x%x", prefix,
			d->roles & ~known);
		return -1;
	}
	if (!d->create) {
		err_set(err, err_size, "%s: create() is missing", prefix);
		return -1;
	}
	if ((d->roles & HUB_ROLE_PUSH) && (!d->routes || !d->routes[0].method)) {
		err_set(err, err_size, "%s: role push declared but routes[] is missing", prefix);
		return -1;
	}
	if ((d->roles & HUB_ROLE_PULL) && !d->pull) {
		err_set(err, err_size, "%s: role pull declared but pull() is missing", prefix);
		return -1;
	}
	if ((d->roles & HUB_ROLE_EXPORT) && !d->export_batch) {
		err_set(err, err_size, "%s: role export declared but export_batch() is missing",
			prefix);
		return -1;
	}
	if ((d->roles & HUB_ROLE_PUSH) && check_routes(d->routes, prefix, err, err_size))
		return -1;
	return check_config_keys(d->config, d->roles, prefix, err, err_size);
}

/* The stamp, read before anything else of the descriptor.  Same major
 * only.  A minor up to the hub's must have exactly that minor's struct
 * sizes; a newer minor (it only appended members) at least the hub's, of
 * which the hub reads the prefix it knows.  *is_newer is set for those. */
int plugin_check_stamp(const struct hub_abi_stamp *s, const char *name, const char *path,
		       int *is_newer, char *err, size_t err_size)
{
	size_t plugin_size, record_size;

	if (s->magic != HUB_ABI_MAGIC) {
		err_set(err, err_size,
			"plugin \"%s\" (%s) is not a profilehub plugin (bad ABI magic 0x%08x:"
			" a descriptor begins .abi = HUB_ABI_STAMP_INIT)",
			name, path, (unsigned)s->magic);
		return -1;
	}
	if (s->major != HUB_ABI_MAJOR) {
		err_set(err, err_size, "plugin \"%s\" (%s) built for ABI %u.%u, hub provides %d.%d",
			name, path, (unsigned)s->major, (unsigned)s->minor, HUB_ABI_MAJOR,
			HUB_ABI_MINOR);
		return -1;
	}
	*is_newer = s->minor > HUB_ABI_MINOR;
	plugin_size = *is_newer ? sizeof(struct hub_plugin) : plugin_size_of_minor[s->minor];
	record_size = *is_newer ? sizeof(struct hub_record) : record_size_of_minor[s->minor];
	if (*is_newer ? s->plugin_size < plugin_size : s->plugin_size != plugin_size) {
		err_set(err, err_size,
			"plugin \"%s\" (%s) has a %u-byte descriptor, ABI %d.%d expects %s%zu",
			name, path, (unsigned)s->plugin_size, HUB_ABI_MAJOR, (int)s->minor,
			*is_newer ? "at least " : "", plugin_size);
		return -1;
	}
	if (*is_newer ? s->record_size < record_size : s->record_size != record_size) {
		err_set(err, err_size,
			"plugin \"%s\" (%s) has a %u-byte hub_record, ABI %d.%d expects %s%zu",
			name, path, (unsigned)s->record_size, HUB_ABI_MAJOR, (int)s->minor,
			*is_newer ? "at least " : "", record_size);
		return -1;
	}
	return 0;
}
