/* no_description.c - a test plugin the loader must refuse: a config key
 * without a description. */
#include <hub_plugin.h>

static const struct hub_config_key keys[] = {
	{.name = "path", .type = HUB_CFG_STRING, .description = "a file"},
	{.name = "limit", .type = HUB_CFG_INT},
	{.name = NULL},
};

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
	.name = "no_description",
	.version = "0.0.1",
	.description = "a config key without a description",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
	.pull = test_pull,
	.config = keys,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
