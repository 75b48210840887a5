/* pull_own_keys.c - a pull plugin that declares, with its own types, the
 * common source keys a pull only hands to its plugin (kind, map): it loads,
 * and the hub checks those keys with the plugin's types.  It also declares
 * page_size, a key the hub reads itself, with the hub's type: it loads as
 * such plugins always did. */
#include <hub_plugin.h>

static const struct hub_config_key keys[] = {
	{.name = "kind", .type = HUB_CFG_STRING_LIST, .description = "kinds of rows"},
	{.name = "map", .type = HUB_CFG_STRING, .description = "a map file"},
	{.name = "page_size", .type = HUB_CFG_INT, .default_value = "500",
	 .description = "rows a page"},
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
	.name = "pull_own_keys",
	.version = "0.0.1",
	.description = "owns the pull keys kind and map",
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
