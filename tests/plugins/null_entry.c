/* null_entry.c - a test plugin the loader must refuse: hub_plugin_entry()
 * returns no descriptor. */
#include <hub_plugin.h>

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return 0;
}
