/*
 * odd_messages.c - a test plugin (pull, check_connect) whose callbacks
 * fail with messages the host must not take as they come:
 *
 *   connect_rc: N   check_connect() answers code N (when not 0) and
 *                   writes no message: the host names the code
 *
 * pull() reads nothing and answers HUB_OK.
 */
#include <hub_plugin.h>

#include <stdlib.h>

static const struct hub_config_key keys[] = {
	{.name = "connect_rc", .type = HUB_CFG_INT, .default_value = "0",
	 .description = "check_connect() answers this code, without a message, when not 0"},
	{.name = NULL},
};

struct odd {
	hub_rc connect_rc;
};

static hub_rc odd_create(const struct hub_host *host, const struct hub_instance *inst,
			 void **state, char *err, size_t err_size)
{
	struct odd *o = calloc(1, sizeof(*o));

	(void)err;
	(void)err_size;
	if (!o)
		return HUB_ERR_NOMEM;
	o->connect_rc = (hub_rc)host->config_int(inst, "connect_rc");
	*state = o;
	return HUB_OK;
}

static void odd_destroy(void *state)
{
	free(state);
}

static hub_rc odd_check_connect(void *state, char *err, size_t err_size)
{
	const struct odd *o = state;

	(void)err;
	(void)err_size;
	return o->connect_rc;
}

static hub_rc odd_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		       char *err, size_t err_size)
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
	.name = "odd_messages",
	.version = "0.0.1",
	.description = "fails with messages the host must not take as they come",
	.roles = HUB_ROLE_PULL,
	.config = keys,
	.create = odd_create,
	.destroy = odd_destroy,
	.check_connect = odd_check_connect,
	.pull = odd_pull,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
