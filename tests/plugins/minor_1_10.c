/* minor_1_10.c - a test plugin the loader must accept: a push source built
 * for ABI 1.10, the minor that appended hub_plugin.check_config.  Its
 * stamp says 1.10 with 1.10's struct sizes: the hub must take its
 * check_config, whose descriptor ends exactly there, and never read admit
 * (ABI 1.11), set past that end.  It declares `page_size`, a key only a
 * pull reads, as its own.  destroy() counts its calls in
 * minor_1_10_destroyed, which a test reads with dlsym(). */
#include <hub_plugin.h>

#include <stdio.h>

/* ABI 1.10's descriptor ended at check_config. */
#define PLUGIN_SIZE_1_10                                                       \
	(offsetof(struct hub_plugin, check_config) + sizeof(((struct hub_plugin *)0)->check_config))

HUB_EXPORT int minor_1_10_destroyed;

static const struct hub_config_key keys[] = {
	{.name = "page_size", .type = HUB_CFG_INT, .description = "this plugin's own"},
	{.name = NULL},
};

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)host, (void)inst, (void)err, (void)err_size;
	*state = NULL;
	return HUB_OK;
}

static void test_destroy(void *state)
{
	(void)state;
	minor_1_10_destroyed++;
}

static hub_rc test_handle(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	(void)state, (void)call, (void)req;
	resp->status = 200;
	snprintf(resp->body, sizeof(resp->body), "{}");
	return HUB_OK;
}

static const struct hub_route routes[] = {
	{.method = "POST", .path = "/v1/t", .handle = test_handle},
	{.method = NULL},
};

static hub_rc test_check_config(const struct hub_host *host, const struct hub_instance *inst,
				char *err, size_t err_size)
{
	(void)host, (void)inst, (void)err, (void)err_size;
	return HUB_OK;
}

/* Past the 1.10 descriptor's end: a host reading too far would call it. */
static hub_rc test_admit(void *state, const struct hub_request *req, struct hub_response *resp)
{
	(void)state, (void)req;
	resp->status = 418;
	return HUB_ERR_AUTH;
}

static const struct hub_plugin plugin = {
	.abi = {HUB_ABI_MAGIC, HUB_ABI_MAJOR, 10, (uint32_t)PLUGIN_SIZE_1_10,
		(uint32_t)sizeof(struct hub_record)},
	.name = "minor_1_10",
	.version = "0.0.1",
	.description = "a push source built for ABI 1.10, which appended check_config",
	.roles = HUB_ROLE_PUSH,
	.config = keys,
	.create = test_create,
	.destroy = test_destroy,
	.routes = routes,
	.check_config = test_check_config,
	.admit = test_admit,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
