/*
 * odd_messages.c - a test plugin (pull, import_line, check_connect) whose
 * callbacks fail with messages the host must not take as they come:
 *
 *   connect_rc: N      check_connect() answers code N (when not 0) and
 *                      writes no message: the host names the code
 *   unterminated: CB   callback CB (create, connect, pull or import) fills
 *                      err with 'x' to its last byte, no NUL, and fails
 *                      (HUB_ERR_CONFIG; import: HUB_ERR_DATA): the host
 *                      reads the message cut, never past its buffer
 *
 * Otherwise pull() reads nothing and answers HUB_OK, import_line() emits
 * nothing and answers HUB_OK.
 */
#include <hub_plugin.h>

#include <stdlib.h>
#include <string.h>

static const struct hub_config_key keys[] = {
	{.name = "connect_rc", .type = HUB_CFG_INT, .default_value = "0",
	 .description = "check_connect() answers this code, without a message, when not 0"},
	{.name = "unterminated", .type = HUB_CFG_STRING, .default_value = "",
	 .description = "create, connect, pull or import: that callback fills err, no NUL"},
	{.name = NULL},
};

struct odd {
	hub_rc connect_rc;
	char unterminated[16];
};

/* 1 with err filled, no NUL, when `callback` is the one told to fail. */
static int odd_is_told(const char *told, const char *callback, char *err, size_t err_size)
{
	if (strcmp(told, callback) != 0)
		return 0;
	memset(err, 'x', err_size);
	return 1;
}

static hub_rc odd_create(const struct hub_host *host, const struct hub_instance *inst,
			 void **state, char *err, size_t err_size)
{
	const char *told = host->config_string(inst, "unterminated");
	struct odd *o;

	if (odd_is_told(told, "create", err, err_size))
		return HUB_ERR_CONFIG;
	if (!(o = calloc(1, sizeof(*o))))
		return HUB_ERR_NOMEM;
	o->connect_rc = (hub_rc)host->config_int(inst, "connect_rc");
	strncpy(o->unterminated, told, sizeof(o->unterminated) - 1);
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

	if (odd_is_told(o->unterminated, "connect", err, err_size))
		return HUB_ERR_CONFIG;
	return o->connect_rc;
}

static hub_rc odd_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		       char *err, size_t err_size)
{
	const struct odd *o = state;

	(void)call;
	(void)cursor;
	(void)budget;
	return odd_is_told(o->unterminated, "pull", err, err_size) ? HUB_ERR_CONFIG : HUB_OK;
}

static hub_rc odd_import_line(void *state, struct hub_call *call, const char *line, size_t len,
			      char *err, size_t err_size)
{
	const struct odd *o = state;

	(void)call;
	(void)line;
	(void)len;
	return odd_is_told(o->unterminated, "import", err, err_size) ? HUB_ERR_DATA : HUB_OK;
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
	.import_line = odd_import_line,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
