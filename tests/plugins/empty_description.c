/* empty_description.c - a test plugin the loader must refuse: an empty
 * description (`profilehub plugins` would list it with nothing to say). */
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
	.name = "empty_description",
	.version = "0.0.1",
	.description = "",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
	.pull = test_pull,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
