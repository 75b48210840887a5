/* pull_no_callback.c - a test plugin the loader must refuse: role pull
 * declared but no pull(). */
#include <hub_plugin.h>

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)host;
	(void)inst;
	(void)err;
	(void)err_size;
	*state = 0;
	return HUB_OK;
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "pull_no_callback",
	.version = "0.0.1",
	.description = "role pull declared but no pull()",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
