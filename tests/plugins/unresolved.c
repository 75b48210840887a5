/* unresolved.c - a test plugin the loader must refuse: its create() calls
 * a function no library defines.  dlopen(RTLD_NOW) finds that at load;
 * a lazy binding would load it and kill the hub at its first call. */
#include <hub_plugin.h>

#include <stdio.h>

extern int profilehub_no_such_function(void);

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)host, (void)inst, (void)err, (void)err_size;
	*state = NULL;
	return profilehub_no_such_function() ? HUB_ERR_CONFIG : HUB_OK;
}

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor,
			size_t budget, char *err, size_t err_size)
{
	(void)state, (void)call, (void)cursor, (void)budget, (void)err, (void)err_size;
	return HUB_OK;
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "unresolved",
	.version = "0.0.1",
	.description = "calls a function no library defines",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
	.pull = test_pull,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
