/*
 * plugin.h - finding, loading and checking plugins (dlopen), and instances
 * of them (one configured source or export).  The ABI stamp is checked
 * before anything else a plugin provides is touched.
 */
#ifndef HUB_PLUGIN_LOADER_H
#define HUB_PLUGIN_LOADER_H

#include "config.h"
#include "include/hub_plugin.h"
#include "log.h"

#include <stdatomic.h>
#include <stddef.h>

/* A loaded shared object.  Owned by the registry that loaded it. */
struct plugin_module {
	char *name;   /* file name without .so */
	char *path;   /* where it was loaded from */
	void *handle; /* dlopen handle */
	const struct hub_plugin *desc;
	/* desc->error_body when the plugin's minor has it (ABI 1.6), else NULL */
	void (*error_body)(unsigned status, const char *code, const char *message, char *body,
			   size_t body_size);
	/* desc->check_config when the plugin's minor has it (ABI 1.10), else NULL */
	hub_rc (*check_config)(const struct hub_host *host, const struct hub_instance *inst,
			       char *err, size_t err_size);
	/* desc->admit when the plugin's minor has it (ABI 1.11), else NULL */
	hub_rc (*admit)(void *state, const struct hub_request *req, struct hub_response *resp);
	/* desc->run_end when the plugin's minor has it (ABI 1.14), else NULL */
	void (*run_end)(void *state);
};

/* A plugin file the registry could not load, and why. */
struct plugin_refusal {
	char *name; /* file name without .so */
	char *why;  /* plugin_load()'s message */
};

struct plugin_registry {
	char *dir; /* the directories, joined with ':' */
	struct plugin_module *mods; /* sorted by name */
	size_t n_mods;
	struct plugin_refusal *refused; /* in file order */
	size_t n_refused;
};

/* The plugin directory next to the running binary: <exe dir>/plugins.
 * Returns a hub_malloc'd path. */
char *plugin_default_dir(void);

/*
 * Loads one plugin file: dlopen(RTLD_NOW|RTLD_LOCAL), finds
 * hub_plugin_entry, calls it, checks the ABI stamp (magic, the hub's major,
 * struct sizes: exactly those of its minor, or for a minor newer than the
 * hub's at least the hub's, logged at info since what it appended is
 * ignored) and the descriptor (name equals the file name, roles have their
 * callbacks, config keys well-formed).  Refusals are exact, e.g.
 *   plugin "x" (/p/x.so) built for ABI 2.0, hub provides 1.1
 *   plugin "x" (/p/x.so) has no hub_plugin_entry function
 * Returns 0 and fills *mod, or -1 with err set.
 */
int plugin_load(const char *path, struct plugin_module *mod, char *err, size_t err_size);
void plugin_unload(struct plugin_module *mod);

/* Loads every *.so of `dirs`, one directory or several joined with ':'
 * (config.plugin_dir).  A file refused (a stale plugin of another ABI
 * major, a broken build) is skipped with a warning and kept among the
 * refusals: it matters only to a config that names it, which then fails
 * with its reason (plugin_registry_missing).  So is a name two directories
 * hold (neither is loaded: "plugin "x" is in two plugin directories, A/x.so
 * and B/x.so: remove one ..."), unless both are one file (a link to the
 * other, a directory listed twice): loaded once.  Returns 0, or -1 when a
 * directory cannot be read (or out of memory). */
int plugin_registry_open(struct plugin_registry *reg, const char *dirs,
			 char *err, size_t err_size);
void plugin_registry_close(struct plugin_registry *reg);
const struct plugin_module *plugin_registry_find(const struct plugin_registry *reg,
						 const char *name);
/* Why plugin `name` is not in the registry, for a config or a command
 * naming it: its refusal, or "no plugin named "x" in DIR (did you mean
 * "y"?; plugins: a, b, y)", the closest one if any and every one there.
 * Returns buf. */
const char *plugin_registry_missing(const struct plugin_registry *reg, const char *name,
				    char *buf, size_t size);
/* The same for the entry `ci` whose plugin it is, at the entry's plugin
 * key: "file:line:col: sources[0].plugin: no plugin named ...", as check
 * names any key.  Returns buf. */
const char *plugin_registry_missing_at(const struct plugin_registry *reg,
				       const struct config_instance *ci, char *buf, size_t size);

/* Is `name` a common source key the hub hands to pull plugin `d` only if
 * `d` declares it in its config table (query, cursor, cursor_start, kind,
 * map; a pull plugin of ABI 1.13 or later)?  A source giving one its
 * plugin does not declare is refused (plugin_instance_check).  0 for any
 * other key or plugin (an older pull plugin is handed them all). */
int plugin_owns_pull_key(const struct hub_plugin *d, const char *name);

/* Role names: "push", "pull", "export" joined by ",". */
const char *plugin_roles_string(unsigned roles, char *buf, size_t size);

/* For a callback that failed without a message: the code's meaning
 * ("temporary failure", "credentials refused"), or its number when the hub
 * does not know it (a newer plugin's, or garbage) written into buf (48
 * bytes are enough).  Returns a string literal or buf. */
const char *plugin_rc_text(hub_rc rc, char *buf, size_t size);

/* Is rc a value of enum hub_rc (this host's)?  Anything else a callback
 * returns is garbage or a newer plugin's: a bug to log, not a reaction. */
int plugin_rc_is_known(hub_rc rc);

/* Call after every plugin callback handed (err, err_size), before err is
 * read: ends it at its last byte, so a message the plugin wrote without a
 * terminator (filling the buffer) reads cut, never past the buffer. */
void plugin_err_end(char *err, size_t err_size);

/* ---- instances ----------------------------------------------------- */

/* One configured use of a plugin.  The struct is opaque to plugins. */
struct hub_instance {
	char *name;
	const struct plugin_module *mod;
	const struct config_instance *conf; /* borrowed from the hub config */
	void *state;                        /* the plugin's, from create() */
	struct instance_json_cache *json;   /* config_json() results */
	/* its answers the hub could not use (push routes: http_ingest.c, any
	 * HTTP thread; export_batch(): export_worker.c); plugin_bad_answer_count() */
	struct log_note bad_answers;
	/* the writer's warnings about its push routes' records, logged by
	 * http_ingest.c (any HTTP thread) */
	struct log_note write_warnings;
	/* items its plugin skipped (skip(), ABI 1.12); plugin_skip_count() */
	atomic_llong n_skipped;
	/* requests in one of its push routes' handle() now (http_ingest.c;
	 * read by the stop watch, cli_run.c, to name a route that holds the
	 * stop up) */
	atomic_int n_in_handler;
};

/* Checks an instance's config against the plugin's declared keys plus the
 * keys common to its kind (sources or exports), and that the plugin has the
 * role the entry needs.  Messages: "file:line:col: sources[0].key: ...". */
int plugin_instance_check(const struct plugin_module *mod,
			  const struct config_instance *conf, int is_export,
			  char *err, size_t err_size);

/* The plugin's own check of the entry's values (check_config(), ABI 1.10;
 * nothing to do without it), on an instance that is never created: no
 * file or connection is opened.  After plugin_instance_check().  0 or -1. */
int plugin_instance_check_config(const struct plugin_module *mod,
				 const struct config_instance *conf, char *err, size_t err_size);

/* Creates the instance: checks it (plugin_instance_check(), sources or
 * exports by conf->path), resolves its config, calls the plugin's create().
 * Returns 0 or -1. */
int plugin_instance_create(const struct plugin_module *mod,
			   const struct config_instance *conf,
			   struct hub_instance **out, char *err, size_t err_size);
void plugin_instance_destroy(struct hub_instance *inst);

#define PLUGIN_BAD_ANSWER_NOTE_MS LOG_NOTE_MS /* how often a plugin's unusable answers are logged */

/* Counts an answer of the instance's plugin that the hub cannot use (a bug
 * in the plugin).  Returns the count so far when this one is to be logged
 * (the first, then at most one every PLUGIN_BAD_ANSWER_NOTE_MS, so a
 * plugin that always answers so does not flood the log), else 0: the
 * caller logs what was wrong with the count.  Any thread. */
long long plugin_bad_answer_count(struct hub_instance *inst);
/* Counts an item the instance's plugin skipped (skip()).  Returns the
 * count so far when it is a power of two (the 1st, 2nd, 4th, ... skip: the
 * caller logs the reason with it), else 0.  Any thread. */
long long plugin_skip_count(const struct hub_instance *inst);

#endif
