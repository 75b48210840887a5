/*
 * config.h - the YAML configuration: a tree that remembers where every node
 * came from (file:line:column), ${VAR} expansion, and schema checks against
 * declarative key tables (the hub's own and each plugin's struct
 * hub_config_key arrays), so every mistake is reported as
 *
 *     conf/hub.yaml:12:5: sources[0].write_keys: expected a list of strings
 *
 * before anything starts.  Values of secret keys never appear in messages.
 */
#ifndef HUB_CONFIG_H
#define HUB_CONFIG_H

#include "include/hub_plugin.h"

#include <stddef.h>
#include <stdint.h>

struct strbuf;

enum cfg_kind { CFG_SCALAR, CFG_MAP, CFG_SEQ };

/* One node of the YAML tree.  Owned by the tree (cfg_free on the root). */
struct cfg_node {
	enum cfg_kind kind;
	char *key;            /* member of a map: its key; else NULL */
	char *value;          /* scalar: text after ${VAR} expansion */
	char *raw;            /* scalar with a ${...} reference: what the file
			       * alone gives, each ${VAR} as written and each
			       * ${VAR:-default} as its default (written there
			       * too); else NULL (value is as written) */
	int is_quoted;        /* scalar was quoted: always a string */
	int is_null;          /* plain scalar ~, null, Null, NULL or empty */
	int is_shell_ref;     /* scalar written as $NAME alone (a shell-style
			       * reference, not ${NAME}): kept as written */
	char *unset_env;      /* CFG_PARSE_DEFER_UNSET_ENV: the scalar names an
			       * unset variable (value: "" in its place); the
			       * "file:line:col: environment variable X is not
			       * set" it fails with where it is used; else NULL */
	const char *file;     /* shared with the whole tree */
	int line, col;        /* 1-based position of the value */
	int key_line, key_col;/* map member: position of its key */
	struct cfg_node *children; /* map members or sequence items */
	size_t n_children;
};

/* Parses a YAML file (or text, `name` used in messages) into a tree, with
 * ${VAR} and ${VAR:-default} expanded from the environment.  A YAML syntax
 * error, duplicate key, anchor/alias, unset variable or a non-scalar map key
 * fails with "file:line:col: message".  Returns 0 or -1. */
int cfg_parse_file(const char *path, struct cfg_node **root, char *err, size_t err_size);
int cfg_parse_string(const char *name, const char *text, size_t len,
		     struct cfg_node **root, char *err, size_t err_size);

/* The same, with CFG_PARSE_* flags.  CFG_PARSE_DEFER_UNSET_ENV: an unset
 * variable without a default fails nothing here; its scalar says so in
 * cfg_node.unset_env, for a caller that refuses it only where it is used. */
#define CFG_PARSE_DEFER_UNSET_ENV 0x1u
int cfg_parse_file_with(const char *path, unsigned flags, struct cfg_node **root, char *err,
			size_t err_size);
int cfg_parse_string_with(const char *name, const char *text, size_t len, unsigned flags,
			  struct cfg_node **root, char *err, size_t err_size);

/* The first node of n's subtree (n too), in the file's order, whose
 * value names an unset variable (cfg_node.unset_env), or NULL. */
const struct cfg_node *cfg_first_unset_env(const struct cfg_node *n);
/* Appends to `lines` (one a line) the message of every node of n's subtree
 * naming an unset variable; how many. */
size_t cfg_unset_env_collect(const struct cfg_node *n, struct strbuf *lines);
/* The error naming the n unset variables of `lines`: their messages, one a
 * line (one alone as it is); those err cannot hold are counted. */
void cfg_unset_env_error(const struct strbuf *lines, size_t n, char *err, size_t err_size);
void cfg_free(struct cfg_node *root);

/* Member `key` of a map node, or NULL. */
const struct cfg_node *cfg_get(const struct cfg_node *map, const char *key);
/* The node a message names with the key path it starts with, under map
 * ("map.event: ..." or "lines[2]: ...": the path, a colon, then a space
 * or the end), or NULL when it starts with no path of members map has. */
const struct cfg_node *cfg_path_lead(const struct cfg_node *map, const char *text);

/* Typed reading of a scalar; 0 on success, -1 when it is not of the type. */
int cfg_as_int(const struct cfg_node *n, int64_t *out);
int cfg_as_bool(const struct cfg_node *n, int *out);   /* true/false/yes/no/on/off */
int cfg_as_float(const struct cfg_node *n, double *out);
int cfg_as_duration_ms(const struct cfg_node *n, int64_t *out); /* 30s 1h30m 2d, plain = s */

/* Any node as JSON text (maps -> objects, sequences -> arrays; plain
 * scalars that read as int/float/bool/null become those, quoted scalars
 * stay strings).  Returns a hub_malloc'd string or NULL (no memory). */
char *cfg_to_json(const struct cfg_node *n);
/* The same for the value of a key of `type`: a scalar as that type reads
 * it (a STRING always a string, a BOOL's "no" false, an INT's "42" 42, a
 * DURATION integer milliseconds); ANY, lists and objects as cfg_to_json(). */
char *cfg_to_json_as(const struct cfg_node *n, enum hub_config_type type);

/*
 * Checks one mapping against a key table: every member must be declared
 * (unknown keys are errors, with a "did you mean" when one is close), of the
 * declared type; every required key present.  `path` is the key path of the
 * map for messages ("" for the root, "sources[0]").  `extra` is a second
 * table checked the same way (e.g. keys common to all sources); may be NULL.
 * On error writes "file:line:col: path.key: what is wrong" and returns -1.
 */
int cfg_check_keys(const struct cfg_node *map, const char *path,
		   const struct hub_config_key *keys,
		   const struct hub_config_key *extra, char *err, size_t err_size);

/* Checks one value against a declared type (a null value fails: callers
 * decide whether null means "unset").  On error writes
 * "file:line:col: path: expected ..." (never the value) and returns -1. */
int cfg_check_type(const struct cfg_node *value, const char *path,
		   enum hub_config_type type, char *err, size_t err_size);

/* The name of names[0..n) closest to `name`, for "did you mean": within
 * two edits (a swap of neighbours counts one; letters compare without
 * case, so "SQLite" is "sqlite") and fewer than its length; else NULL.
 * Borrowed from names. */
const char *cfg_closest_name(const char *name, const char *const *names, size_t n);

/* Writes "file:line:col: path: message" (no "path: " when path is empty or
 * NULL) at the position of n's value, or of its key when at_key is set.
 * Never pass a configured value as an argument: it may be a secret. */
void cfg_errorf(char *err, size_t err_size, const struct cfg_node *n, int at_key,
		const char *path, const char *fmt, ...) HUB_PRINTF(6, 7);

/* Key paths for messages: "parent.key" ("key" when parent is empty) and
 * "parent[i]"; truncated to fit buf. */
void cfg_path_key(char *buf, size_t size, const char *parent, const char *key);
void cfg_path_index(char *buf, size_t size, const char *parent, size_t i);

/* ---- the hub configuration ---------------------------------------- */

/* The unification engine resolves at most this many external id types. */
#define CONFIG_MAX_EXTERNAL_IDS 64

struct config_external_id {
	char *name;    /* "crm_id" */
	int limit;     /* per profile; default 5 */
	int priority;  /* lower wins; default 1 */
};

/* One source or export entry: common keys read, the rest checked later
 * against the plugin's declared keys. */
struct config_instance {
	char *name;
	char *plugin;
	int is_enabled;
	const struct cfg_node *node; /* the whole mapping (borrowed from root) */
	char path[32];               /* "sources[2]" / "exports[0]" */
};

struct hub_config {
	char *file;
	struct cfg_node *root;

	char *plugin_dir;       /* its directories joined with ':' (a YAML list
				 * too); NULL: next to the binary */
	char *log_level;        /* NULL: info */

	char *store_driver;     /* "sqlite" (default) | "postgres" */
	char *store_path;       /* sqlite; default "var/hub.db" */
	char *store_url;        /* postgres */
	char *store_schema;     /* postgres; default "public" */
	/* postgres: store.lock_timeout (0: without end), when is_..._set; else
	 * the role's, database's or URL's, or 10 s (store_pg.c) */
	int64_t store_lock_timeout_ms;
	int is_store_lock_timeout_set;

	char *http_listen;      /* default "127.0.0.1:8080" */
	int http_threads;       /* default 4 */
	int http_max_connections; /* default 1024 */
	int64_t http_timeout_ms;  /* default 30000 */
	int64_t http_stop_delay_ms; /* default 0: a stop drains at once; at most
				       60 s (http.stop_delay) */
	int64_t http_max_body;    /* default 1048576 (sources may lower) */
	/* http.cors_origins: the web origins whose pages may read the answers
	 * of /in/ routes (CORS).  Absent or "*" (http_cors_any): any origin;
	 * [] : none; else these, each scheme://host[:port] */
	int http_cors_any;
	char **http_cors_origins;
	size_t n_http_cors_origins;

	char **api_tokens;      /* secret */
	size_t n_api_tokens;

	struct config_external_id *external_ids; /* sorted by priority, name */
	size_t n_external_ids;
	char **blocked_values;
	size_t n_blocked_values;
	int max_installations;  /* per profile; default 1000 */
	int max_attributes;     /* per profile, deleted ones too; default 1000 */

	int erase_block_days;   /* default 30 */

	int intake_queue_max;   /* batches waiting; default 1024 */

	struct config_instance *sources;
	size_t n_sources;
	struct config_instance *exports;
	size_t n_exports;
};

/* The hub's own keys, for `profilehub check` and docs. */
extern const struct hub_config_key config_keys_common_source[];
extern const struct hub_config_key config_keys_common_export[];

/* Loads and checks the hub's keys (not the plugins' keys: plugin.c does that
 * with each plugin's table).  Returns 0 or -1 with "file:line:col: ..." */
int config_load(const char *path, struct hub_config **out, char *err, size_t err_size);
/* The same for a command that creates no plugin instance, or one only
 * (profile, dump, privacy, exports, plugins; sync, import): a variable a
 * source's or an export's own keys name may be unset (the service's
 * environment has it, an operator's shell not); its value is then "" and
 * creating that instance fails with the message config_load() would have
 * given (plugin.c).  `run` and `check` use config_load(). */
int config_load_lazy_env(const char *path, struct hub_config **out, char *err,
			 size_t err_size);
/* The values of the config that are example secrets conf/hub.yaml falls
 * back to (published in the README): the first `max` into out, in file
 * order; returns how many there are.  For `run`: fine on loopback,
 * refused when listening beyond this machine. */
size_t config_example_secrets(const struct hub_config *cfg, const struct cfg_node **out,
			      size_t max);
/* An API token that is also the value of a key under sources or exports
 * (a Segment write key is public in every web page that sends with it):
 * that node, the token's into *token; else NULL.  Never print values. */
const struct cfg_node *config_api_token_reused(const struct hub_config *cfg,
					       const struct cfg_node **token);
/* The first API token shorter than CONFIG_API_TOKEN_MIN bytes, else NULL. */
#define CONFIG_API_TOKEN_MIN 16
const struct cfg_node *config_api_token_short(const struct hub_config *cfg);
/* n, a connection string (a libpq URL or keyword string, an ODBC one with
 * PWD=), when the file itself holds its password (written there or as a
 * ${VAR:-default}'s default, not read from a ${VAR}), else NULL: for `run`
 * and `check` to warn (never printing it). */
const struct cfg_node *config_password_in_file(const struct cfg_node *n);
/* The same for store.url (NULL when the store has none). */
const struct cfg_node *config_store_password_in_file(const struct hub_config *cfg);
/* store.url's node when the postgres store reaches another machine with an
 * sslmode short of verify-ca (the mode into mode[size]), else NULL. */
const struct cfg_node *config_store_url_unverified(const struct hub_config *cfg, char *mode,
						   size_t size);
/* Does http.listen ("host:port"; NULL: the default) accept connections
 * from this machine only (127.x.x.x, localhost, [::1])? */
int config_listen_is_loopback(const char *listen);

/* The source entry of cfg named `name`, or NULL. */
const struct config_instance *config_source(const struct hub_config *cfg, const char *name);

/* Why `name` names no source (of `plugin`; NULL: of any) or no export of
 * cfg, for a command given a name: "no source named "crn" in conf/hub.yaml
 * (did you mean "crm"?; sources: web, crm)", or for a source of another
 * plugin "source "crm" of conf/hub.yaml has plugin example, not segment
 * (sources of plugin segment: web)".  Written into buf; returns buf. */
const char *config_missing_source(const struct hub_config *cfg, const char *plugin,
				  const char *name, char *buf, size_t size);
const char *config_missing_export(const struct hub_config *cfg, const char *name, char *buf,
				  size_t size);
/* config_missing_source() among the sources keep() accepts, called `kind`
 * ("no pull source named ... (pull sources: crm)"). */
typedef int (*config_source_keep)(void *ctx, const struct config_instance *ci);
const char *config_missing_source_kept(const struct hub_config *cfg, const char *kind,
				       config_source_keep keep, void *ctx, const char *name,
				       char *buf, size_t size);

/* The person keys: the identifier types that name one person in a
 * privacy request or a lookup (IDENTITY.md section 7): custom_id,
 * installation_id and each external id of identity.external, except
 * email and phone (several people may share one; their lookups find all).
 * config_person_key(): 1 when name is one.  config_person_keys(): their
 * list for a message, "custom_id, installation_id, crm_id or mpid", into
 * buf; returns buf. */
int config_person_key(const struct hub_config *cfg, const char *name);
const char *config_person_keys(const struct hub_config *cfg, char *buf, size_t size);

int config_load_string(const char *name, const char *text,
		       struct hub_config **out, char *err, size_t err_size);
void config_free(struct hub_config *cfg);

#endif
