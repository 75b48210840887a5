/*
 * plugin_int.h - what the plugin loader's files share (plugin.c: the
 * directory, loading, the registry and instances; plugin_check.c: the
 * checks of a loaded plugin's ABI stamp and descriptor).  Nothing outside
 * hub/plugin*.c includes this; everyone else uses plugin.h.
 */
#ifndef HUB_PLUGIN_INT_H
#define HUB_PLUGIN_INT_H

#include "plugin.h"

#include <stddef.h>

/* The sizes of the ABI 1.0 structs (hub_record's: plugin_check.c): the
 * smallest a plugin of this major may declare.  Members appended by later
 * minors lie beyond these. */
#define PLUGIN_SIZE_1_0                                                        \
	(offsetof(struct hub_plugin, export_batch) + sizeof(((struct hub_plugin *)0)->export_batch))
/* ABI 1.1 to 1.5's hub_plugin ended at import_line. */
#define PLUGIN_SIZE_1_1                                                        \
	(offsetof(struct hub_plugin, import_line) + sizeof(((struct hub_plugin *)0)->import_line))
/* ABI 1.6 to 1.9's ended at error_body. */
#define PLUGIN_SIZE_1_6                                                        \
	(offsetof(struct hub_plugin, error_body) + sizeof(((struct hub_plugin *)0)->error_body))
/* ABI 1.10's ended at check_config. */
#define PLUGIN_SIZE_1_10                                                       \
	(offsetof(struct hub_plugin, check_config) + sizeof(((struct hub_plugin *)0)->check_config))
/* ABI 1.11 to 1.13's ended at admit. */
#define PLUGIN_SIZE_1_11                                                       \
	(offsetof(struct hub_plugin, admit) + sizeof(((struct hub_plugin *)0)->admit))

/* ---- plugin_check.c ------------------------------------------------- */

/* The stamp, read before anything else of the descriptor: 0, *is_newer set
 * for a minor newer than the hub's, or -1 with err set. */
int plugin_check_stamp(const struct hub_abi_stamp *s, const char *name, const char *path,
		       int *is_newer, char *err, size_t err_size);
/* Everything after the stamp: name, roles and their callbacks, routes,
 * config keys.  `name` is the file name without .so.  0 or -1 with err set. */
int plugin_check_descriptor(const struct hub_plugin *d, const char *name, const char *path,
			    char *err, size_t err_size);

#endif
