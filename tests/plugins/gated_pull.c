/* gated_pull.c - a test plugin whose pull stops half way until the test
 * lets it go on, so a test sees a run of the scheduler while it runs.
 *
 *   pull()  with no cursor: emits the identify "g1", rejects "one gated
 *           item", checkpoints "c1", emits "g2" and checkpoints "c2" (the
 *           hub waits for page c1 there: its progress is reported); then
 *           waits until the file `gate` exists (or the hub asks it to
 *           stop; HUB_RETRY after 30 s), emits "g3" and checkpoints "c3".
 *           With a cursor: nothing more to read (HUB_OK).
 *   run_end()  counts the runs ended in gated_pull_run_ends: declared so
 *           that the plugin suite sees the loader take run_end() from a 1.14
 *           descriptor (the count itself is the sync suite's, on its fake).
 */
#include <hub_plugin.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GATE_WAIT_MS 30000

static const struct hub_config_key keys[] = {
	{.name = "gate", .type = HUB_CFG_STRING, .is_required = 1,
	 .description = "the file whose making lets the pull go on"},
	{.name = NULL},
};

struct gp_state {
	const struct hub_host *host;
	const struct hub_instance *inst;
};

static struct gp_state the_state;

HUB_EXPORT int gated_pull_run_ends;

static hub_rc gp_create(const struct hub_host *host, const struct hub_instance *inst,
			void **state, char *err, size_t err_size)
{
	(void)err;
	(void)err_size;
	the_state.host = host;
	the_state.inst = inst;
	*state = &the_state;
	return HUB_OK;
}

/* Emits the identify of custom_id `id`, then checkpoints `cursor`. */
static hub_rc gp_page(const struct gp_state *st, struct hub_call *call, const char *id,
		      const char *cursor, char *err, size_t err_size)
{
	struct hub_ident ident = {"custom_id", id};
	struct hub_record rec;
	hub_rc rc;

	hub_record_init(&rec, HUB_REC_IDENTIFY);
	rec.message_id = id;
	rec.identifiers = &ident;
	rec.n_identifiers = 1;
	if ((rc = st->host->emit(call, &rec, err, err_size)) != HUB_OK)
		return rc;
	return st->host->checkpoint(call, cursor);
}

/* 1 once the gate exists, 0 when the hub asks to stop, -1 after 30 s. */
static int gp_wait_gate(const struct gp_state *st, const struct hub_call *call)
{
	const char *gate = st->host->config_string(st->inst, "gate");

	for (int waited_ms = 0; waited_ms < GATE_WAIT_MS; waited_ms += 2) {
		struct timespec pause = {0, 2 * 1000 * 1000};

		if (access(gate, F_OK) == 0)
			return 1;
		if (st->host->should_stop(call))
			return 0;
		nanosleep(&pause, NULL);
	}
	return -1;
}

static hub_rc gp_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		      char *err, size_t err_size)
{
	const struct gp_state *st = state;
	hub_rc rc;
	int gate;

	(void)budget;
	if (cursor)
		return HUB_OK;
	if ((rc = st->host->reject(call, "one gated item")) != HUB_OK ||
	    (rc = gp_page(st, call, "g1", "c1", err, err_size)) != HUB_OK ||
	    (rc = gp_page(st, call, "g2", "c2", err, err_size)) != HUB_OK)
		return rc;
	if ((gate = gp_wait_gate(st, call)) <= 0) {
		snprintf(err, err_size, "%s",
			 gate ? "the gate never opened" : "stopped at the gate");
		return gate ? HUB_RETRY : HUB_ERR_STOPPED;
	}
	return gp_page(st, call, "g3", "c3", err, err_size);
}

static void gp_run_end(void *state)
{
	(void)state;
	gated_pull_run_ends++;
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "gated_pull",
	.version = "0.0.1",
	.description = "pulls two pages, then waits for a file before the third",
	.roles = HUB_ROLE_PULL,
	.config = keys,
	.create = gp_create,
	.pull = gp_pull,
	.run_end = gp_run_end,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
