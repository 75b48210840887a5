/* minor_1_13.c - a test plugin the loader must accept: a pull source built
 * for ABI 1.13, the last minor whose descriptor ended at admit.  Its stamp
 * says 1.13 with 1.13's struct sizes: the hub must never read run_end
 * (ABI 1.14), set past that end.  pull() reads nothing (HUB_OK). */
#include <hub_plugin.h>

/* ABI 1.11 to 1.13's descriptor ended at admit. */
#define PLUGIN_SIZE_1_11                                                       \
	(offsetof(struct hub_plugin, admit) + sizeof(((struct hub_plugin *)0)->admit))

static const struct hub_config_key keys[] = {
	{.name = NULL},
};

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)host, (void)inst, (void)err, (void)err_size;
	*state = NULL;
	return HUB_OK;
}

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
			char *err, size_t err_size)
{
	(void)state, (void)call, (void)cursor, (void)budget, (void)err, (void)err_size;
	return HUB_OK;
}

/* Past the 1.13 descriptor's end: a host reading too far would call it. */
static void test_run_end(void *state)
{
	(void)state;
}

static const struct hub_plugin plugin = {
	.abi = {HUB_ABI_MAGIC, HUB_ABI_MAJOR, 13, (uint32_t)PLUGIN_SIZE_1_11,
		(uint32_t)sizeof(struct hub_record)},
	.name = "minor_1_13",
	.version = "0.0.1",
	.description = "a pull source built for ABI 1.13, before run_end",
	.roles = HUB_ROLE_PULL,
	.config = keys,
	.create = test_create,
	.pull = test_pull,
	.run_end = test_run_end,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
