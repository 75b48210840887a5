/*
 * config_int.h - what the files that build struct hub_config share
 * (config.c: the hub's own sections, loading and freeing; cfg_instances.c:
 * the sources and exports lists).  Nothing else includes this; everyone
 * else uses config.h.
 */
#ifndef HUB_CONFIG_INT_H
#define HUB_CONFIG_INT_H

#include "config.h"

#define PATH_LEN 256    /* a key path in a message */
#define NAME_MAX_LEN 64 /* an external id, source or export name */

/* ---- config.c ----------------------------------------------------------- */

/* Member `key` of map when present and not null, else NULL. */
const struct cfg_node *cfg_member(const struct cfg_node *map, const char *key);
/* Is s 1 to NAME_MAX_LEN characters of a-z, 0-9, _ (and - with allow_dash)? */
int cfg_is_name(const char *s, int allow_dash);
/* " (did you mean \"segment\"?)" into buf when s in lower case is a name,
 * else ""; returns buf. */
const char *cfg_name_case_hint(const char *s, int allow_dash, char *buf, size_t size);

/* ---- cfg_instances.c ---------------------------------------------------- */

/* The root's list `what`s ("source": sources, "export": exports) into
 * *out: the common keys of each entry, names unique.  On failure *out and
 * *n_out hold what was read, for cfg_free_instances. */
int cfg_load_instances(const struct cfg_node *root, const char *what,
		       struct config_instance **out, size_t *n_out, char *err,
		       size_t err_size);
void cfg_free_instances(struct config_instance *v, size_t n);
/* Appends to `lines` (cfg_unset_env_collect) every node of the tree naming
 * an unset variable (cfg_node.unset_env) that the hub itself reads:
 * anywhere but a source's or an export's own plugin keys, which only a
 * plugin instance reads.  How many (0: none). */
size_t cfg_unset_env_the_hub_reads(const struct cfg_node *root, struct strbuf *lines);

#endif
