/* newer_minor.c - a test plugin the loader must accept: built for the next
 * minor ABI, whose descriptor and hub_record have a member appended that
 * this hub does not know (it reads the prefix it knows).  create() uses
 * HUB_HOST_HAS, as such a plugin must; pull() emits one record of the
 * bigger size. */
#include <hub_plugin.h>

#include <stdio.h>

/* What ABI 1.(HUB_ABI_MINOR + 1) might have appended. */
struct next_plugin {
	struct hub_plugin base;
	hub_rc (*added_later)(void *state);
};

struct next_record {
	struct hub_record base;
	const char *added_later;
};

static const struct hub_host *the_host;

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)inst;
	if (!HUB_HOST_HAS(host, secret_equal)) {
		snprintf(err, err_size, "needs a hub with secret_equal()");
		return HUB_ERR_CONFIG;
	}
	the_host = host;
	*state = 0;
	return HUB_OK;
}

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor,
			size_t budget, char *err, size_t err_size)
{
	struct hub_ident id = {"custom_id", "u1"};
	struct next_record rec;

	(void)state;
	(void)cursor;
	(void)budget;
	hub_record_init(&rec.base, HUB_REC_ATTRIBUTES);
	rec.base.size = (uint32_t)sizeof(rec);
	rec.base.identifiers = &id;
	rec.base.n_identifiers = 1;
	rec.base.attributes_json = "{\"plan\":\"pro\"}";
	rec.added_later = "ignored by an older hub";
	return the_host->emit(call, &rec.base, err, err_size);
}

static hub_rc test_added_later(void *state)
{
	(void)state;
	return HUB_OK;
}

static const struct next_plugin plugin = {
	.base = {
		.abi = {HUB_ABI_MAGIC, HUB_ABI_MAJOR, HUB_ABI_MINOR + 1,
			(uint32_t)sizeof(struct next_plugin),
			(uint32_t)sizeof(struct next_record)},
		.name = "newer_minor",
		.version = "0.0.1",
		.description = "built for the next minor ABI, with appended members",
		.roles = HUB_ROLE_PULL,
		.create = test_create,
		.pull = test_pull,
	},
	.added_later = test_added_later,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin.base;
}
