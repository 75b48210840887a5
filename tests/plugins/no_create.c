/* no_create.c - a test plugin the loader must refuse: no create(). */
#include <hub_plugin.h>

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor,
			size_t budget, char *err, size_t err_size)
{
	(void)state;
	(void)call;
	(void)cursor;
	(void)budget;
	(void)err;
	(void)err_size;
	return HUB_OK;
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "no_create",
	.version = "0.0.1",
	.description = "no create()",
	.roles = HUB_ROLE_PULL,
	.pull = test_pull,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
