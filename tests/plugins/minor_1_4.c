/* minor_1_4.c - a test plugin the loader must accept: built for ABI 1.4,
 * before hub_record.has_timestamp was appended in 1.5.  Its stamp says 1.4
 * with 1.4's struct sizes (its hub_record ends at origin).  pull() emits
 * one track record with timestamp_ms 0, which in 1.4 means unset: the hub
 * must give it the receive time, never read the flag set past its end; nor
 * its error_body (ABI 1.6), set past its descriptor's end. */
#include <hub_plugin.h>

#include <stdio.h>

/* ABI 1.4's descriptor ended at import_line (error_body came in 1.6), its
 * hub_record at origin. */
#define PLUGIN_SIZE_1_4                                                        \
	(offsetof(struct hub_plugin, import_line) + sizeof(((struct hub_plugin *)0)->import_line))
#define RECORD_SIZE_1_4                                                        \
	(offsetof(struct hub_record, origin) + sizeof(((struct hub_record *)0)->origin))

static const struct hub_host *the_host;

static hub_rc test_create(const struct hub_host *host, const struct hub_instance *inst,
			  void **state, char *err, size_t err_size)
{
	(void)inst;
	if (host->abi_minor < 4 || !HUB_HOST_HAS(host, batch_range)) {
		snprintf(err, err_size, "needs a hub of ABI 1.4");
		return HUB_ERR_CONFIG;
	}
	the_host = host;
	*state = 0;
	return HUB_OK;
}

static hub_rc test_pull(void *state, struct hub_call *call, const char *cursor,
			size_t budget, char *err, size_t err_size)
{
	struct hub_ident id = {"custom_id", "u14"};
	struct hub_record rec;

	(void)state;
	(void)cursor;
	(void)budget;
	hub_record_init(&rec, HUB_REC_TRACK);
	/* A 1.4 record is this short; past it, what a host reading too far
	 * would take for "0 is the epoch". */
	rec.size = (uint32_t)RECORD_SIZE_1_4;
	rec.has_timestamp = 1;
	rec.identifiers = &id;
	rec.n_identifiers = 1;
	rec.event_name = "e";
	return the_host->emit(call, &rec, err, err_size);
}

/* Past the 1.4 descriptor's end: a host reading too far would use it. */
static void test_error_body(unsigned status, const char *code, const char *message, char *body,
			    size_t body_size)
{
	(void)status, (void)code, (void)message;
	snprintf(body, body_size, "read past a 1.4 descriptor");
}

static const struct hub_plugin plugin = {
	.abi = {HUB_ABI_MAGIC, HUB_ABI_MAJOR, 4, (uint32_t)PLUGIN_SIZE_1_4,
		(uint32_t)RECORD_SIZE_1_4},
	.name = "minor_1_4",
	.version = "0.0.1",
	.description = "built for ABI 1.4, before hub_record.has_timestamp",
	.roles = HUB_ROLE_PULL,
	.create = test_create,
	.pull = test_pull,
	.error_body = test_error_body,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
