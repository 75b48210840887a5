/* minor_1_6.c - a test plugin the loader must accept: built for ABI 1.6,
 * the minor that appended hub_plugin.error_body.  Its stamp says 1.6 with
 * 1.6's struct sizes: the hub must take its error_body, whose descriptor
 * ends exactly there, and never read check_config (ABI 1.10), set past
 * that end. */
#include <hub_plugin.h>

#include <stdio.h>

/* ABI 1.6's descriptor ended at error_body. */
#define PLUGIN_SIZE_1_6                                                        \
	(offsetof(struct hub_plugin, error_body) + sizeof(((struct hub_plugin *)0)->error_body))

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)host, (void)inst, (void)err, (void)err_size;
	*state = NULL;
	return HUB_OK;
}

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor,
			size_t budget, char *err, size_t err_size)
{
	(void)state, (void)call, (void)cursor, (void)budget, (void)err, (void)err_size;
	return HUB_OK;
}

static void test_error_body(unsigned status, const char *code, const char *message, char *body,
			    size_t body_size)
{
	snprintf(body, body_size, "%u %s %s", status, code, message);
}

/* Past the 1.6 descriptor's end: a host reading too far would call it. */
static hub_rc test_check_config(const struct hub_host *host, const struct hub_instance *inst,
				char *err, size_t err_size)
{
	(void)host, (void)inst;
	snprintf(err, err_size, "read past a 1.6 descriptor");
	return HUB_ERR_CONFIG;
}

static const struct hub_plugin plugin = {
	.abi = {HUB_ABI_MAGIC, HUB_ABI_MAJOR, 6, (uint32_t)PLUGIN_SIZE_1_6,
		(uint32_t)sizeof(struct hub_record)},
	.name = "minor_1_6",
	.version = "0.0.1",
	.description = "built for ABI 1.6, which appended error_body",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
	.pull = test_pull,
	.error_body = test_error_body,
	.check_config = test_check_config,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
