/* no_entry.c - a test plugin the loader must refuse: a shared object that
 * exports a function, but not hub_plugin_entry. */
#include <hub_plugin.h>

HUB_EXPORT int hub_plugin_version(void);

HUB_EXPORT int hub_plugin_version(void)
{
	return 1;
}
