/* hub_key.c - a test plugin the loader must refuse: it declares keys the hub
 * reads itself on every export (batch_size, enabled), with other types. */
#include <hub_plugin.h>

static const struct hub_config_key keys[] = {
	{.name = "batch_size", .type = HUB_CFG_STRING, .default_value = "1MB",
	 .description = "bytes per delivery"},
	{.name = "enabled", .type = HUB_CFG_STRING, .default_value = "always",
	 .description = "when to deliver"},
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

static hub_rc test_export(void *state, struct hub_call *call, const char *const *changes,
			  size_t n, size_t *n_done, char *err, size_t err_size)
{
	(void)state;
	(void)call;
	(void)changes;
	(void)err;
	(void)err_size;
	*n_done = n;
	return HUB_OK;
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "hub_key",
	.version = "0.0.1",
	.description = "declares the hub's own export keys",
	.roles = HUB_ROLE_EXPORT,
	.create = test_create,
	.export_batch = test_export,
	.config = keys,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
