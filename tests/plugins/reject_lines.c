/* reject_lines.c - a test plugin for host->reject() (ABI 1.2): an item it
 * cannot read itself is counted through the host, not only logged.
 *
 *   import_line()  a line "!why" is rejected with reason "why" (the line
 *                  goes on: HUB_OK); "FAIL" fails the whole line
 *                  (HUB_ERR_DATA, "the line fails"), and so does "!!why"
 *                  after rejecting "why" (both, which the header says not
 *                  to do); any other line emits an identify record of
 *                  custom_id = the line, and goes on (HUB_OK) when emit()
 *                  refuses it (not valid UTF-8: the host counts it).
 *                  "w:ID" emits an identify of custom_id ID with an invalid
 *                  $timezone (a warning: the rest applies), its origin
 *                  "w-item" (ABI 1.3).  "NOMEM" fails as when memory ran
 *                  out reading it (HUB_ERR_NOMEM, "out of memory").
 *                  "deaf:ID" emits an identify of custom_id ID and goes on
 *                  (HUB_OK) whatever emit() answered, out of memory too
 *                  (the bug hub_plugin.h warns of: the host must not count
 *                  the line as imported).  "left:ID" emits an identify of
 *                  custom_id ID, then says through host->warn() (ABI 1.6)
 *                  that it left a value out of it.
 *                  "x:TYPE:ID" emits an identify whose one identifier is
 *                  of type TYPE (an external id of the config, say).
 *                  "skip:why" is not stored, said through host->skip()
 *                  (ABI 1.12) with reason "why".
 *   pull()         the same for each item of the `lines` list, then one
 *                  checkpoint "done"; an item "RETRY" fails the instance's
 *                  first pull there (HUB_RETRY, "a transient failure"), and
 *                  is skipped after.
 *
 * On a host without reject() (HUB_HOST_HAS) a "!why" item is only logged.
 */
#include <hub_plugin.h>

#include <stdio.h>
#include <string.h>

static const struct hub_config_key keys[] = {
	{.name = "lines", .type = HUB_CFG_STRING_LIST, .default_value = "[]",
	 .description = "the items pull() reads"},
	{.name = NULL},
};

struct rl_state {
	const struct hub_host *host;
	const struct hub_instance *inst;
	int has_retried;
};

static struct rl_state the_state;

static hub_rc rl_create(const struct hub_host *host, const struct hub_instance *inst,
			void **state, char *err, size_t err_size)
{
	(void)err;
	(void)err_size;
	the_state.host = host;
	the_state.inst = inst;
	the_state.has_retried = 0;
	*state = &the_state;
	return HUB_OK;
}

/* One item: text[0..len). */
static hub_rc rl_item(const struct rl_state *st, struct hub_call *call, const char *text,
		      size_t len, char *err, size_t err_size)
{
	char item[256], type[64], *colon;
	struct hub_ident id = {"custom_id", item};
	struct hub_record rec;
	hub_rc rc;

	snprintf(item, sizeof(item), "%.*s", (int)len, text);
	if (item[0] == '!' && item[1] == '!' && HUB_HOST_HAS(st->host, reject)) {
		if ((rc = st->host->reject(call, item + 2)) != HUB_OK)
			return rc;
		snprintf(err, err_size, "the line fails");
		return HUB_ERR_DATA;
	}
	if (item[0] == '!') {
		if (!HUB_HOST_HAS(st->host, reject)) {
			st->host->log(st->inst, HUB_LOG_WARN, "%s; item skipped", item + 1);
			return HUB_OK;
		}
		return st->host->reject(call, item + 1);
	}
	if (strncmp(item, "skip:", 5) == 0 && HUB_HOST_HAS(st->host, skip))
		return st->host->skip(call, item + 5);
	if (strcmp(item, "FAIL") == 0) {
		snprintf(err, err_size, "the line fails");
		return HUB_ERR_DATA;
	}
	if (strcmp(item, "NOMEM") == 0) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	hub_record_init(&rec, HUB_REC_IDENTIFY);
	rec.message_id = item;
	rec.identifiers = &id;
	rec.n_identifiers = 1;
	if (strncmp(item, "w:", 2) == 0) {
		id.value = item + 2;
		rec.attributes_json = "{\"$timezone\": \"not a zone\", \"plan\": \"gold\"}";
		rec.origin = "w-item";
	}
	if (strncmp(item, "deaf:", 5) == 0 || strncmp(item, "left:", 5) == 0)
		id.value = item + 5;
	if (strncmp(item, "x:", 2) == 0 && (colon = strchr(item + 2, ':'))) {
		snprintf(type, sizeof(type), "%.*s", (int)(colon - item - 2), item + 2);
		id.type = type;
		id.value = colon + 1;
	}
	rc = st->host->emit(call, &rec, err, err_size);
	if (rc == HUB_OK && strncmp(item, "left:", 5) == 0 && HUB_HOST_HAS(st->host, warn))
		rc = st->host->warn(call, "plan: left out");
	if (strncmp(item, "deaf:", 5) == 0)
		return HUB_OK;
	return rc == HUB_ERR_DATA ? HUB_OK : rc; /* counted by the host */
}

static hub_rc rl_import_line(void *state, struct hub_call *call, const char *line, size_t len,
			     char *err, size_t err_size)
{
	return rl_item(state, call, line, len, err, err_size);
}

static hub_rc rl_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		      char *err, size_t err_size)
{
	struct rl_state *st = state;
	size_t n = st->host->config_list_size(st->inst, "lines");
	hub_rc rc;

	(void)budget;
	if (cursor)
		return HUB_OK; /* read them all already */
	for (size_t i = 0; i < n; i++) {
		const char *item = st->host->config_list_item(st->inst, "lines", i);

		if (strcmp(item, "RETRY") == 0 && st->has_retried)
			continue;
		if (strcmp(item, "RETRY") == 0) {
			st->has_retried = 1;
			snprintf(err, err_size, "a transient failure");
			return HUB_RETRY;
		}
		if ((rc = rl_item(st, call, item, strlen(item), err, err_size)) != HUB_OK)
			return rc;
	}
	return st->host->checkpoint(call, "done");
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "reject_lines",
	.version = "0.0.1",
	.description = "rejects the items it cannot read through host->reject()",
	.roles = HUB_ROLE_PULL,
	.config = keys,
	.create = rl_create,
	.pull = rl_pull,
	.import_line = rl_import_line,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
