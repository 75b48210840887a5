/* older_minor.c - a test plugin the loader must accept: built for ABI 1.1,
 * before hub_host.reject() was appended in 1.2.  Its stamp says 1.1 with
 * 1.1's struct sizes; it uses only what 1.1 had (import_line included) and
 * tests HUB_HOST_HAS for a 1.1 member, as a plugin of that minor would.
 * pull() and import_line() emit one record each. */
#include <hub_plugin.h>

#include <stdio.h>

/* The descriptor of ABI 1.1 ended at import_line, its hub_record at
 * previous_id (origin came in 1.3). */
#define PLUGIN_SIZE_1_1                                                        \
	(offsetof(struct hub_plugin, import_line) + sizeof(((struct hub_plugin *)0)->import_line))
#define RECORD_SIZE_1_1                                                        \
	(offsetof(struct hub_record, previous_id) + sizeof(((struct hub_record *)0)->previous_id))

static const struct hub_host *the_host;

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)inst;
	if (host->abi_minor < 1 || !HUB_HOST_HAS(host, secret_equal)) {
		snprintf(err, err_size, "needs a hub of ABI 1.1");
		return HUB_ERR_CONFIG;
	}
	the_host = host;
	*state = 0;
	return HUB_OK;
}

static hub_rc emit_one(struct hub_call *call, char *err, size_t err_size)
{
	struct hub_ident id = {"custom_id", "old1"};
	struct hub_record rec;

	hub_record_init(&rec, HUB_REC_ATTRIBUTES);
	/* A 1.1 record is this short: the host must not read past it.  What
	 * lies beyond is set so that a host that does would show it. */
	rec.size = (uint32_t)RECORD_SIZE_1_1;
	rec.origin = "read past a 1.1 record";
	rec.identifiers = &id;
	rec.n_identifiers = 1;
	rec.attributes_json = "{\"plan\":\"basic\"}";
	return the_host->emit(call, &rec, err, err_size);
}

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor,
			size_t budget, char *err, size_t err_size)
{
	(void)state;
	(void)cursor;
	(void)budget;
	return emit_one(call, err, err_size);
}

static hub_rc test_import_line(void *state, struct hub_call *call, const char *line,
			       size_t len, char *err, size_t err_size)
{
	(void)state;
	(void)line;
	(void)len;
	return emit_one(call, err, err_size);
}

static const struct hub_plugin plugin = {
	.abi = {HUB_ABI_MAGIC, HUB_ABI_MAJOR, 1, (uint32_t)PLUGIN_SIZE_1_1,
		(uint32_t)RECORD_SIZE_1_1},
	.name = "older_minor",
	.version = "0.0.1",
	.description = "built for ABI 1.1, before hub_host.reject()",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
	.pull = test_pull,
	.import_line = test_import_line,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
