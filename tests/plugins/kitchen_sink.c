/*
 * kitchen_sink.c - a valid test plugin (push + export) that declares a key
 * of every config type, with and without defaults, so tests can read each
 * through the host table.  create() fails on demand (key `fail`, with a
 * message; key `fail_code`, that code and no message).
 */
#include <hub_plugin.h>

#include <stdio.h>

static const struct hub_config_key keys[] = {
	{.name = "greeting", .type = HUB_CFG_STRING, .default_value = "hello",
	 .description = "a string with a default"},
	{.name = "count", .type = HUB_CFG_INT, .default_value = "42",
	 .description = "an int with a default"},
	{.name = "loud", .type = HUB_CFG_BOOL, .default_value = "yes",
	 .description = "a bool with a default"},
	{.name = "ratio", .type = HUB_CFG_FLOAT, .default_value = "0.5",
	 .description = "a float with a default"},
	{.name = "every", .type = HUB_CFG_DURATION, .default_value = "2m",
	 .description = "a duration with a default"},
	{.name = "tags", .type = HUB_CFG_STRING_LIST, .default_value = "[a, b]",
	 .description = "a list with a default"},
	{.name = "opts", .type = HUB_CFG_OBJECT, .default_value = "{x: 1, y: \"2\"}",
	 .description = "an object with a default"},
	{.name = "anything", .type = HUB_CFG_ANY, .description = "any value, no default"},
	{.name = "token", .type = HUB_CFG_STRING, .is_secret = 1,
	 .description = "a secret, no default"},
	{.name = "limit", .type = HUB_CFG_INT, .description = "an int, no default"},
	{.name = "fail", .type = HUB_CFG_BOOL, .default_value = "false",
	 .description = "create() fails when true"},
	{.name = "fail_code", .type = HUB_CFG_INT,
	 .description = "create() returns this code, without a message, when not 0"},
	{.name = NULL},
};

static hub_rc sink_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	if (host->config_bool(inst, "fail")) {
		snprintf(err, err_size, "told to fail");
		return HUB_ERR_CONFIG;
	}
	if (host->config_int(inst, "fail_code"))
		return (hub_rc)host->config_int(inst, "fail_code");
	*state = NULL;
	return HUB_OK;
}

static hub_rc sink_handle(void *state, struct hub_call *call, const struct hub_request *req,
			  struct hub_response *resp)
{
	(void)state;
	(void)call;
	(void)req;
	resp->status = 200;
	snprintf(resp->body, sizeof(resp->body), "{}");
	return HUB_OK;
}

static const struct hub_route routes[] = {
	{.method = "POST", .path = "/v1/batch", .handle = sink_handle},
	{.method = NULL},
};

static hub_rc sink_export(void *state, struct hub_call *call, const char *const *changes,
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
	.name = "kitchen_sink",
	.version = "0.0.1",
	.description = "every config type; push and export",
	.roles = HUB_ROLE_PUSH | HUB_ROLE_EXPORT,
	.config = keys,
	.create = sink_create,
	.routes = routes,
	.export_batch = sink_export,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
