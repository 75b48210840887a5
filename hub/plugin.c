/*
 * plugin.c - finding and loading plugins, the registry of those loaded,
 * and checking and creating instances of them.
 *
 * Loading is paranoid on purpose: hub_plugin_entry() is called, the ABI
 * stamp is checked, and only then is any other descriptor field read.  A
 * descriptor that would fail later (a role without its callback, a config
 * key without a description, a default that does not parse) is refused at
 * load (the checks: plugin_check.c) with one exact message naming the
 * plugin and its file, so a broken plugin never gets as far as a running
 * hub.  Before that, a plugin file or directory anyone may write to is
 * refused: whoever can write there runs code in the hub.
 *
 * This file never calls a plugin callback other than hub_plugin_entry(),
 * check_config(), create() and destroy().
 */
#include "plugin_int.h"

#include "alloc.h"
#include "host.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the plugin directory ------------------------------------------- */

char *plugin_default_dir(void)
{
	size_t cap = 256;
	char *exe = NULL, *dir = NULL, *slash;
	ssize_t n;

	for (;;) {
		char *p = hub_realloc(exe, cap);
		if (!p)
			goto out;
		exe = p;
		n = readlink("/proc/self/exe", exe, cap);
		if (n < 0)
			goto out;
		if ((size_t)n < cap)
			break;
		cap *= 2;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		goto out;
	*slash = '\0';
	dir = hub_malloc(strlen(exe) + sizeof("/plugins"));
	if (dir)
		sprintf(dir, "%s/plugins", exe);
out:
	hub_free(exe);
	return dir;
}

/* ---- who may write there -------------------------------------------- */

/* Whoever can write a plugin file, or put one in a plugin directory, runs
 * code in the hub: a file or directory anyone may write to is refused,
 * and so is a directory under one anyone may rename entries of (writable
 * by all and not sticky, as /tmp is).  Group-writable is the operator's
 * choice (a umask of 002) and allowed, with a warning when the group is
 * not the hub's own (a shared one: its every member runs code in the hub). */
static int is_open_to_all(const struct stat *st)
{
	return (st->st_mode & S_IWOTH) != 0;
}

/* Writable by a group other than the hub's effective one. */
static int is_open_to_a_group(const struct stat *st)
{
	return (st->st_mode & S_IWGRP) && st->st_gid != getegid();
}

/* Warns of what (`what` at `path`, a plugin file or directory) writable by
 * a group not the hub's; `fix` is what to chmod. */
static void group_warn(const char *what, const char *path, const struct stat *st)
{
	if (!is_open_to_a_group(st))
		return;
	log_warn("plugins", "%s: writable by group %u (mode %04o), not the hub's own (%u):"
		 " every member of it can change what runs in the hub; chmod g-w %s, or make"
		 " the group the hub's", what, (unsigned)st->st_gid,
		 (unsigned)(st->st_mode & 07777), (unsigned)getegid(), path);
}

/* 0 when the file at path is writable by its owner and group only; else
 * -1 with the reason in err (plugin "name" (path): ...). */
static int plugin_file_guarded(const char *name, const char *path, char *err,
			       size_t err_size)
{
	struct stat st;
	char what[1024];

	if (stat(path, &st) != 0)
		return 0; /* a missing file: dlopen says so */
	if (!is_open_to_all(&st)) {
		snprintf(what, sizeof(what), "plugin \"%s\" (%s)", name, path);
		group_warn(what, path, &st);
		return 0;
	}
	err_set(err, err_size, "plugin \"%s\" (%s): writable by anyone (mode %04o), not loaded:"
		" whoever can change it runs code in the hub; chmod o-w %s", name, path,
		(unsigned)(st.st_mode & 07777), path);
	return -1;
}

/* Warns of the first directory above `path` (cut in place) anyone may
 * rename entries of; 1 when it did. */
static int ancestors_warned(const char *dir, char *path)
{
	char *slash;
	struct stat st;

	while ((slash = strrchr(path, '/')) && slash != path) {
		*slash = '\0';
		if (stat(path, &st) == 0 && is_open_to_all(&st) && !(st.st_mode & S_ISVTX)) {
			log_warn("plugins", "plugin directory %s: %s above it is writable by"
				 " anyone (mode %04o, not sticky): whoever can replace the directory"
				 " runs code in the hub; chmod o-w %s", dir, path,
				 (unsigned)(st.st_mode & 07777), path);
			return 1;
		}
	}
	return 0;
}

/* 0 when dir (resolved) is safe from other users as the top comment says;
 * else -1 with the reason in err.  A directory above it that anyone may
 * rename entries of is warned of, not refused: a checkout or a build on a
 * shared volume (a container's world-writable work directory) would
 * otherwise never start, and sshd's StrictModes asks no more.  The
 * directories of the path as given are looked at too (one holding a link
 * on it), and a group-writable one is warned of as a file is. */
static int plugin_dir_guarded(const char *dir, char *err, size_t err_size)
{
	char *real = realpath(dir, NULL), *given = NULL, what[1024];
	struct stat st;

	if (!real)
		return 0; /* opendir() names the problem */
	if (stat(real, &st) != 0)
		st.st_mode = 0; /* opendir() names the problem */
	if (is_open_to_all(&st)) {
		err_set(err, err_size, "plugin directory %s: writable by anyone (mode %04o):"
			" whoever can put a .so there runs code in the hub; chmod o-w %s", dir,
			(unsigned)(st.st_mode & 07777), real);
		free(real);
		return -1;
	}
	snprintf(what, sizeof(what), "plugin directory %s", dir);
	group_warn(what, real, &st);
	/* and the directories of the path as given: one holding a link on it
	 * (plugin_dir: /opt/hub/plugins -> /srv/p) may have it replaced */
	if (!ancestors_warned(dir, real) && (given = hub_strdup(dir)))
		ancestors_warned(dir, given);
	hub_free(given);
	free(real);
	return 0;
}

/* ---- loading -------------------------------------------------------- */

/* The file name without directory and ".so" (hub_malloc'd). */
static char *name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".so") == 0)
		len -= 3;
	return hub_strndup(base, len);
}

int plugin_load(const char *path, struct plugin_module *mod, char *err, size_t err_size)
{
	hub_plugin_entry_fn entry;
	const struct hub_plugin *desc;
	void *sym;
	int is_newer = 0;

	memset(mod, 0, sizeof(*mod));
	mod->name = name_from_path(path);
	mod->path = hub_strdup(path);
	if (!mod->name || !mod->path) {
		err_set(err, err_size, "plugin %s: out of memory", path);
		goto fail;
	}
	if (plugin_file_guarded(mod->name, path, err, err_size))
		goto fail;
	mod->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!mod->handle) {
		const char *why = dlerror();
		err_set(err, err_size, "plugin \"%s\" (%s): cannot load: %s", mod->name, path,
			why ? why : "unknown error");
		goto fail;
	}
	dlerror();
	sym = dlsym(mod->handle, HUB_PLUGIN_ENTRY_NAME);
	if (!sym) {
		err_set(err, err_size, "plugin \"%s\" (%s) has no %s function (define it"
			" as hub_plugin.h declares it, with HUB_EXPORT)", mod->name, path,
			HUB_PLUGIN_ENTRY_NAME);
		goto fail;
	}
	entry = (hub_plugin_entry_fn)sym;
	desc = entry(host_table());
	if (!desc) {
		err_set(err, err_size, "plugin \"%s\" (%s): %s returned no descriptor", mod->name,
			path, HUB_PLUGIN_ENTRY_NAME);
		goto fail;
	}
	if (plugin_check_stamp(&desc->abi, mod->name, path, &is_newer, err, err_size) ||
	    plugin_check_descriptor(desc, mod->name, path, err, err_size))
		goto fail;
	if (is_newer)
		log_info("plugins",
			 "plugin \"%s\" (%s) built for ABI %u.%u, hub provides %d.%d: "
			 "members added after %d.%d are ignored",
			 mod->name, path, (unsigned)desc->abi.major, (unsigned)desc->abi.minor,
			 HUB_ABI_MAJOR, HUB_ABI_MINOR, HUB_ABI_MAJOR, HUB_ABI_MINOR);
	mod->desc = desc;
	if (desc->abi.plugin_size >= PLUGIN_SIZE_1_6)
		mod->error_body = desc->error_body; /* ABI 1.6 */
	if (desc->abi.plugin_size >= PLUGIN_SIZE_1_10)
		mod->check_config = desc->check_config; /* ABI 1.10 */
	if (desc->abi.plugin_size >= PLUGIN_SIZE_1_11)
		mod->admit = desc->admit; /* ABI 1.11 */
	if (desc->abi.plugin_size >= sizeof(struct hub_plugin))
		mod->run_end = desc->run_end; /* ABI 1.14 */
	return 0;
fail:
	plugin_unload(mod);
	return -1;
}

void plugin_unload(struct plugin_module *mod)
{
	if (!mod)
		return;
	if (mod->handle)
		dlclose(mod->handle);
	hub_free(mod->name);
	hub_free(mod->path);
	memset(mod, 0, sizeof(*mod));
}

/* ---- the registry --------------------------------------------------- */

static int is_plugin_file(const char *fname)
{
	size_t len = strlen(fname);
	return fname[0] != '.' && len > 3 && strcmp(fname + len - 3, ".so") == 0;
}

static int module_cmp(const void *a, const void *b)
{
	const struct plugin_module *ma = a, *mb = b;
	return strcmp(ma->name, mb->name);
}

/* The *.so names of `dir` (hub_malloc'd array of hub_malloc'd names). */
static int list_plugin_files(const char *dir, char ***out, size_t *n_out, char *err,
			     size_t err_size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		err_set(err, err_size, "plugin directory %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (!is_plugin_file(e->d_name))
			continue;
		if (n == cap) {
			char **p = hub_realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));
			if (!p)
				goto nomem;
			names = p;
			cap = cap ? cap * 2 : 16;
		}
		if (!(names[n] = hub_strdup(e->d_name)))
			goto nomem;
		n++;
	}
	closedir(d);
	*out = names;
	*n_out = n;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		hub_free(names[i]);
	hub_free(names);
	err_set(err, err_size, "plugin directory %s: out of memory", dir);
	return -1;
}

/* Keeps a refused file's reason (warned now, named again to a config that
 * uses it).  Returns 0, or -1 out of memory. */
static int registry_refuse(struct plugin_registry *reg, const char *path, const char *why)
{
	struct plugin_refusal *grown, *r;

	grown = hub_realloc(reg->refused, (reg->n_refused + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	reg->refused = grown;
	r = &reg->refused[reg->n_refused];
	r->name = name_from_path(path);
	r->why = hub_strdup(why);
	if (!r->name || !r->why) {
		hub_free(r->name);
		hub_free(r->why);
		return -1;
	}
	reg->n_refused++;
	log_warn("plugins", "%s: skipped (a config that names it will fail)", why);
	return 0;
}

/* Where plugin `name` was already found, loaded or refused, by an earlier
 * directory: its loaded module's index (*refusal -1), or its refusal's
 * (*refusal 1); -1 when it was not. */
static long registry_seen(const struct plugin_registry *reg, const char *name, int *refusal)
{
	for (size_t i = 0; i < reg->n_mods; i++)
		if (strcmp(reg->mods[i].name, name) == 0) {
			*refusal = 0;
			return (long)i;
		}
	for (size_t i = 0; i < reg->n_refused; i++)
		if (strcmp(reg->refused[i].name, name) == 0) {
			*refusal = 1;
			return (long)i;
		}
	return -1;
}

/* `path` holds a plugin an earlier directory held too: neither is used, the
 * name refused for both ("plugin "x" is in two plugin directories: ...").
 * Returns 0, or -1 out of memory. */
static int registry_refuse_twice(struct plugin_registry *reg, const char *path)
{
	char *name = name_from_path(path), why[1024], *first;
	int refusal = 0;
	long at = name ? registry_seen(reg, name, &refusal) : -1;
	int rc = -1;

	if (at < 0)
		goto out;
	if (refusal) { /* refused already (twice, or a stale build): say both */
		snprintf(why, sizeof(why), "%s; and plugin \"%s\" is in another plugin "
			 "directory too: %s", reg->refused[at].why, name, path);
		first = hub_strdup(why);
		if (!first)
			goto out;
		hub_free(reg->refused[at].why);
		reg->refused[at].why = first;
		rc = 0;
		goto out;
	}
	snprintf(why, sizeof(why), "plugin \"%s\" is in two plugin directories, %s and %s: "
		 "remove one (plugin_dir lists %s)", name, reg->mods[at].path, path, reg->dir);
	plugin_unload(&reg->mods[at]);
	memmove(&reg->mods[at], &reg->mods[at + 1], (reg->n_mods - (size_t)at - 1) *
		sizeof(*reg->mods));
	reg->n_mods--;
	rc = registry_refuse(reg, path, why);
out:
	hub_free(name);
	return rc;
}

/* Is plugin `name` loaded already from the file at `path` (a link to it, or
 * its directory listed twice under two spellings)?  One file is one plugin:
 * no second copy that a list's order would choose between. */
static int registry_is_loaded_from(const struct plugin_registry *reg, const char *name,
				   const char *path)
{
	struct stat a, b;

	for (size_t i = 0; i < reg->n_mods; i++)
		if (strcmp(reg->mods[i].name, name) == 0)
			return stat(reg->mods[i].path, &a) == 0 && stat(path, &b) == 0 &&
			       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	return 0;
}

/* Loads the files of one directory of the registry's list into it: one
 * whose name an earlier directory held is refused with that one, unless
 * it is the same file. */
static int registry_load_dir(struct plugin_registry *reg, const char *dir, char *err,
			     size_t err_size)
{
	char **files = NULL, why[1024];
	size_t n_files = 0;
	struct plugin_module *grown;
	int rc = -1;

	if (plugin_dir_guarded(dir, err, err_size) ||
	    list_plugin_files(dir, &files, &n_files, err, err_size))
		return -1;
	grown = hub_realloc(reg->mods, (reg->n_mods + n_files + 1) * sizeof(*reg->mods));
	if (!grown)
		goto nomem;
	reg->mods = grown;
	for (size_t i = 0; i < n_files; i++) {
		char *path = hub_malloc(strlen(dir) + strlen(files[i]) + 2), *name;
		int failed, refusal;

		if (!path)
			goto nomem;
		sprintf(path, "%s/%s", dir, files[i]);
		name = name_from_path(path);
		if (name && registry_is_loaded_from(reg, name, path)) {
			hub_free(name);
			hub_free(path);
			continue;
		}
		if (name && registry_seen(reg, name, &refusal) >= 0) {
			failed = registry_refuse_twice(reg, path);
			hub_free(name);
			hub_free(path);
			if (failed)
				goto nomem;
			continue;
		}
		hub_free(name);
		memset(&reg->mods[reg->n_mods], 0, sizeof(*reg->mods));
		failed = plugin_load(path, &reg->mods[reg->n_mods], why, sizeof(why));
		if (failed && registry_refuse(reg, path, why)) {
			hub_free(path);
			goto nomem;
		}
		hub_free(path);
		if (!failed)
			reg->n_mods++;
	}
	rc = 0;
	goto out;
nomem:
	err_set(err, err_size, "plugin directory %s: out of memory", dir);
out:
	for (size_t i = 0; i < n_files; i++)
		hub_free(files[i]);
	hub_free(files);
	return rc;
}

int plugin_registry_open(struct plugin_registry *reg, const char *dirs, char *err,
			 size_t err_size)
{
	char *list;
	int rc = -1;

	memset(reg, 0, sizeof(*reg));
	if (!(reg->dir = hub_strdup(dirs)) || !(list = hub_strdup(dirs))) {
		err_set(err, err_size, "plugin directory %s: out of memory", dirs);
		plugin_registry_close(reg);
		return -1;
	}
	for (char *dir = list, *next; dir; dir = next) {
		if ((next = strchr(dir, ':')))
			*next++ = '\0';
		if (registry_load_dir(reg, dir, err, err_size))
			goto out;
	}
	if (reg->n_mods)
		qsort(reg->mods, reg->n_mods, sizeof(*reg->mods), module_cmp);
	rc = 0;
out:
	hub_free(list);
	if (rc)
		plugin_registry_close(reg);
	return rc;
}

void plugin_registry_close(struct plugin_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n_mods; i++)
		plugin_unload(&reg->mods[i]);
	hub_free(reg->mods);
	for (size_t i = 0; i < reg->n_refused; i++) {
		hub_free(reg->refused[i].name);
		hub_free(reg->refused[i].why);
	}
	hub_free(reg->refused);
	hub_free(reg->dir);
	memset(reg, 0, sizeof(*reg));
}

const struct plugin_module *plugin_registry_find(const struct plugin_registry *reg,
						 const char *name)
{
	struct plugin_module key = {.name = (char *)name};

	if (!reg || !name || !reg->n_mods)
		return NULL;
	return bsearch(&key, reg->mods, reg->n_mods, sizeof(*reg->mods), module_cmp);
}

/* The loaded plugin whose name is closest to a missing one ("jsnol"),
 * or NULL (none is close; out of memory: no suggestion). */
static const char *registry_closest(const struct plugin_registry *reg, const char *name)
{
	const char **names;
	const char *best;

	if (!reg || !reg->n_mods || !(names = hub_calloc(reg->n_mods, sizeof(*names))))
		return NULL;
	for (size_t i = 0; i < reg->n_mods; i++)
		names[i] = reg->mods[i].name;
	best = cfg_closest_name(name, names, reg->n_mods);
	hub_free(names);
	return best;
}

#define MISSING_NAMES_MAX 24 /* plugins a "no plugin named" message lists */

/* "; plugins: a, b, c" (the first MISSING_NAMES_MAX, then ", ...") into
 * buf, or "; no plugin there"; returns buf. */
static const char *registry_names(const struct plugin_registry *reg, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "; %s", reg && reg->n_mods ? "plugins: "
									 : "no plugin there");

	for (size_t i = 0; reg && i < reg->n_mods && len < size; i++) {
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
					i < MISSING_NAMES_MAX ? reg->mods[i].name : "...");
		if (i == MISSING_NAMES_MAX)
			break;
	}
	return buf;
}

/* The registry's directories for a message: "DIR", or "DIR1 or DIR2". */
static void registry_dirs(const struct plugin_registry *reg, char *buf, size_t size)
{
	size_t at = 0;

	if (!reg || !reg->dir) {
		snprintf(buf, size, "the plugin directory");
		return;
	}
	for (const char *p = reg->dir; *p && at + 5 < size; p++) {
		if (*p != ':') {
			buf[at++] = *p;
			continue;
		}
		memcpy(buf + at, " or ", 4);
		at += 4;
	}
	buf[at] = '\0';
}

const char *plugin_registry_missing(const struct plugin_registry *reg, const char *name,
				    char *buf, size_t size)
{
	const char *best;
	char names[512], dirs[512];

	for (size_t i = 0; reg && i < reg->n_refused; i++)
		if (strcmp(reg->refused[i].name, name) == 0) {
			snprintf(buf, size, "%s", reg->refused[i].why);
			return buf;
		}
	best = registry_closest(reg, name);
	registry_names(reg, names, sizeof(names));
	registry_dirs(reg, dirs, sizeof(dirs));
	/* "(did you mean "x"?; plugins: ...)", as a name a command lacks */
	snprintf(buf, size, "no plugin named \"%s\" in %s (%s%s%s%s)", name, dirs,
		 best ? "did you mean \"" : "", best ? best : "", best ? "\"?" : "",
		 best ? names : names + 2);
	return buf;
}

const char *plugin_registry_missing_at(const struct plugin_registry *reg,
				       const struct config_instance *ci, char *buf, size_t size)
{
	char why[1024], path[256];

	cfg_path_key(path, sizeof(path), ci->path, "plugin");
	cfg_errorf(buf, size, cfg_get(ci->node, "plugin"), 0, path, "%s",
		   plugin_registry_missing(reg, ci->plugin, why, sizeof(why)));
	return buf;
}

const char *plugin_roles_string(unsigned roles, char *buf, size_t size)
{
	static const struct {
		unsigned role;
		const char *name;
	} names[] = {
		{HUB_ROLE_PUSH, "push"},
		{HUB_ROLE_PULL, "pull"},
		{HUB_ROLE_EXPORT, "export"},
	};
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(roles & names[i].role))
			continue;
		snprintf(buf + len, size - len, "%s%s", len ? "," : "", names[i].name);
		len += strlen(buf + len);
	}
	return buf;
}

/* ---- instances ------------------------------------------------------ */

static const struct hub_config_key no_keys[] = {{.name = NULL}};

/* Whether plugin `d` declares a config key `name`. */
static int declares_key(const struct hub_plugin *d, const char *name)
{
	for (const struct hub_config_key *o = d->config; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return 1;
	return 0;
}

/*
 * The common source keys only a pull reads (config_keys_common_source's
 * "pull:" ones), given to a source whose plugin cannot pull: refused
 * rather than ignored, as "schedule: every 1m" on a Segment source would
 * be.  Unless the plugin declares the key as its own.  0 or -1 (err set).
 */
static int check_pull_keys(const struct hub_plugin *d, const struct config_instance *conf,
			   char *err, size_t err_size)
{
	char path[256];

	if (d->roles & HUB_ROLE_PULL)
		return 0;
	for (const struct hub_config_key *k = config_keys_common_source; k->name; k++) {
		const struct cfg_node *at = cfg_get(conf->node, k->name);

		if (!at || strncmp(k->description ? k->description : "", "pull:", 5) != 0 ||
		    declares_key(d, k->name))
			continue;
		cfg_path_key(path, sizeof(path), conf->path, k->name);
		cfg_errorf(err, err_size, at, 1, path,
			   "only a pull source reads this key, and plugin \"%s\" cannot pull",
			   d->name);
		return -1;
	}
	return 0;
}

/*
 * The common keys a pull only hands to its plugin (query, map, ...), given
 * to a source whose plugin (of ABI 1.13 or later) does not declare them:
 * refused rather than ignored, as any unknown key.  0 or -1 (err set).
 */
static int check_unread_pull_keys(const struct hub_plugin *d,
				  const struct config_instance *conf, char *err, size_t err_size)
{
	char path[256];

	for (const struct hub_config_key *k = config_keys_common_source; k->name; k++) {
		const struct cfg_node *at = cfg_get(conf->node, k->name);

		if (!at || !plugin_owns_pull_key(d, k->name) || declares_key(d, k->name))
			continue;
		cfg_path_key(path, sizeof(path), conf->path, k->name);
		cfg_errorf(err, err_size, at, 1, path,
			   "plugin \"%s\" does not read this key (not one of its keys:"
			   " profilehub plugins --describe %s)", d->name, d->name);
		return -1;
	}
	return 0;
}

/*
 * A pull source's `kind`, one of the common keys (its values are the
 * hub's: rowmap.c), checked here so that `check` sees a wrong one without
 * --connect, unless the plugin declares the key as its own.  A plugin of
 * ABI 1.13 or later reads it only declared (check_unread_pull_keys), and
 * checks its values itself (rowmap_check): this is for older ones.  0 or -1.
 */
static int check_kind(const struct hub_plugin *d, const struct config_instance *conf,
		      char *err, size_t err_size)
{
	static const char *const kinds[] = {"attributes", "events", "consent", "erase"};
	const struct cfg_node *kind = cfg_get(conf->node, "kind");
	char path[256];

	if (!(d->roles & HUB_ROLE_PULL) || !kind || !kind->value || kind->is_null ||
	    declares_key(d, "kind"))
		return 0; /* declared: the plugin's own */
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kind->value, kinds[i]) == 0)
			return 0;
	cfg_path_key(path, sizeof(path), conf->path, "kind");
	cfg_errorf(err, err_size, kind, 0, path,
		   "\"%s\" is not one of attributes, events, consent, erase", kind->value);
	return -1;
}

/* An entry of a config loaded by config_load_lazy_env() naming an
 * unset variable: refused as config_load() would have, before its keys are
 * checked or a plugin reads the "" in its place (every instance is made
 * after plugin_instance_check()).  0 or -1 (err set). */
static int unset_env_refused(const struct config_instance *conf, char *err, size_t err_size)
{
	struct strbuf lines;
	size_t n;

	strbuf_init(&lines);
	n = cfg_unset_env_collect(conf->node, &lines);
	if (n)
		cfg_unset_env_error(&lines, n, err, err_size);
	strbuf_free(&lines);
	return n ? -1 : 0;
}

int plugin_instance_check(const struct plugin_module *mod, const struct config_instance *conf,
			  int is_export, char *err, size_t err_size)
{
	const struct hub_plugin *d = mod->desc;
	unsigned needed = is_export ? HUB_ROLE_EXPORT : HUB_ROLE_PUSH | HUB_ROLE_PULL;

	if (unset_env_refused(conf, err, err_size))
		return -1;
	if (!(d->roles & needed)) {
		const struct cfg_node *at = cfg_get(conf->node, "plugin");
		char roles[64];

		if (!at)
			at = conf->node;
		err_set(err, err_size,
			"%s:%d:%d: %s.plugin: plugin \"%s\" is not %s (its roles: %s)", at->file,
			at->line, at->col, conf->path, mod->name,
			is_export ? "an export" : "a source",
			plugin_roles_string(d->roles, roles, sizeof(roles)));
		return -1;
	}
	if (!is_export && (check_pull_keys(d, conf, err, err_size) ||
			   check_unread_pull_keys(d, conf, err, err_size) ||
			   check_kind(d, conf, err, err_size)))
		return -1;
	return cfg_check_keys(conf->node, conf->path, d->config ? d->config : no_keys,
			      is_export ? config_keys_common_export : config_keys_common_source,
			      err, err_size);
}

const char *plugin_rc_text(hub_rc rc, char *buf, size_t size)
{
	switch (rc) {
	case HUB_OK: return "ok";
	case HUB_MORE: return "more";
	case HUB_RETRY: return "temporary failure";
	case HUB_ERR_CONFIG: return "configuration error";
	case HUB_ERR_AUTH: return "credentials refused";
	case HUB_ERR_DATA: return "bad data";
	case HUB_ERR_INTERNAL: return "internal error";
	case HUB_ERR_NOMEM: return "out of memory";
	case HUB_ERR_BUSY: return "busy";
	case HUB_ERR_STOPPED: return "stopped";
	}
	snprintf(buf, size, "unknown result code %d", (int)rc);
	return buf;
}

int plugin_rc_is_known(hub_rc rc)
{
	return (int)rc >= (int)HUB_OK && (int)rc <= (int)HUB_ERR_STOPPED;
}

void plugin_err_end(char *err, size_t err_size)
{
	if (err && err_size)
		err[err_size - 1] = '\0';
}

/* An instance of `conf` with its config resolved, no state yet. */
static struct hub_instance *instance_new(const struct plugin_module *mod,
					 const struct config_instance *conf, char *err,
					 size_t err_size)
{
	struct hub_instance *inst = hub_calloc(1, sizeof(*inst));

	if (!inst || !(inst->name = hub_strdup(conf->name))) {
		err_set(err, err_size, "%s \"%s\": out of memory", conf->path, conf->name);
		goto fail;
	}
	inst->mod = mod;
	inst->conf = conf;
	if (host_instance_config_load(inst, err, err_size))
		goto fail;
	return inst;
fail:
	if (inst) {
		host_instance_config_free(inst);
		hub_free(inst->name);
		hub_free(inst);
	}
	return NULL;
}

/* Frees an instance_new() whose state is gone or was never made. */
static void instance_free(struct hub_instance *inst)
{
	host_instance_config_free(inst);
	hub_free(inst->name);
	hub_free(inst);
}

/* The plugin's refusal `rc` (why: its message) of `conf` into err:
 * "sources[0] "wh" (plugin snowflake): why", after the file:line:col of
 * the key why starts with when the entry has it ("map.event: ..."), as
 * every other config error has. */
static void instance_refused(const struct plugin_module *mod, const struct config_instance *conf,
			     hub_rc rc, char *why, size_t why_size, char *err, size_t err_size)
{
	char code[48];
	const char *msg;
	const struct cfg_node *n;

	plugin_err_end(why, why_size);
	msg = why[0] ? why : plugin_rc_text(rc, code, sizeof(code));
	n = cfg_path_lead(conf->node, msg);
	if (n)
		err_set(err, err_size, "%s:%d:%d: %s \"%s\" (plugin %s): %s",
			n->file ? n->file : "<config>", n->line, n->col, conf->path, conf->name,
			mod->name, msg);
	else
		err_set(err, err_size, "%s \"%s\" (plugin %s): %s", conf->path, conf->name,
			mod->name, msg);
}

int plugin_instance_check_config(const struct plugin_module *mod,
				 const struct config_instance *conf, char *err, size_t err_size)
{
	struct hub_instance *inst;
	char why[1024] = "";
	hub_rc rc;

	if (!mod->check_config)
		return 0;
	if (!(inst = instance_new(mod, conf, err, err_size)))
		return -1;
	rc = mod->check_config(host_table(), inst, why, sizeof(why));
	if (rc != HUB_OK)
		instance_refused(mod, conf, rc, why, sizeof(why), err, err_size);
	instance_free(inst);
	return rc == HUB_OK ? 0 : -1;
}

int plugin_instance_create(const struct plugin_module *mod, const struct config_instance *conf,
			   struct hub_instance **out, char *err, size_t err_size)
{
	struct hub_instance *inst;
	char why[1024] = "";
	hub_rc rc;

	*out = NULL;
	/* The plugin may rely on its required keys and declared types. */
	if (plugin_instance_check(mod, conf, strncmp(conf->path, "exports", 7) == 0, err,
				  err_size))
		return -1;
	if (!(inst = instance_new(mod, conf, err, err_size)))
		return -1;
	rc = mod->desc->create(host_table(), inst, &inst->state, why, sizeof(why));
	if (rc != HUB_OK) {
		instance_refused(mod, conf, rc, why, sizeof(why), err, err_size);
		instance_free(inst);
		return -1;
	}
	*out = inst;
	return 0;
}

void plugin_instance_destroy(struct hub_instance *inst)
{
	if (!inst)
		return;
	if (inst->mod->desc->destroy)
		inst->mod->desc->destroy(inst->state);
	instance_free(inst);
}

long long plugin_bad_answer_count(struct hub_instance *inst)
{
	return log_note_add(&inst->bad_answers, 1, time_mono_ms());
}

long long plugin_skip_count(const struct hub_instance *inst)
{
	/* the counter is the one member a call's instance changes: atomic */
	long long n = atomic_fetch_add((atomic_llong *)&inst->n_skipped, 1) + 1;

	return (n & (n - 1)) == 0 ? n : 0;
}
