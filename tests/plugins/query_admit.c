/* query_admit.c - a test push source that authenticates with ?token= in
 * admit() (ABI 1.11), before the body is read, through host->query():
 *
 *   POST /v1/hit?token=<token>   emits the identify of custom_id "hit"; 200
 *   admit(): 401 unless the query's token equals the `token` key
 */
#include <hub_plugin.h>

#include <string.h>

static const struct hub_config_key keys[] = {
	{.name = "token", .type = HUB_CFG_STRING, .is_required = 1, .is_secret = 1,
	 .description = "the token ?token= must carry"},
	{.name = NULL},
};

struct qa_state {
	const struct hub_host *host;
	const char *token;
};

static struct qa_state the_state;

static hub_rc qa_create(const struct hub_host *host, const struct hub_instance *inst,
			void **state, char *err, size_t err_size)
{
	(void)err;
	(void)err_size;
	the_state.host = host;
	the_state.token = host->config_string(inst, "token");
	*state = &the_state;
	return HUB_OK;
}

static hub_rc qa_admit(void *state, const struct hub_request *req, struct hub_response *resp)
{
	const struct qa_state *st = state;
	const char *tok = st->host->query(req, "token");

	(void)resp;
	if (!tok || !st->host->secret_equal(tok, strlen(tok), st->token, strlen(st->token)))
		return HUB_ERR_AUTH;
	return HUB_OK;
}

static hub_rc qa_hit(void *state, struct hub_call *call, const struct hub_request *req,
		     struct hub_response *resp)
{
	const struct qa_state *st = state;
	struct hub_ident id = {"custom_id", "hit"};
	struct hub_record rec;
	char err[256];

	(void)req;
	(void)resp;
	hub_record_init(&rec, HUB_REC_IDENTIFY);
	rec.identifiers = &id;
	rec.n_identifiers = 1;
	return st->host->emit(call, &rec, err, sizeof(err));
}

static const struct hub_route routes[] = {
	{.method = "POST", .path = "/v1/hit", .handle = qa_hit},
	{.method = NULL},
};

static const struct hub_plugin desc = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "query_admit",
	.version = "1.0.0",
	.description = "a push source whose admit() reads ?token=",
	.roles = HUB_ROLE_PUSH,
	.config = keys,
	.create = qa_create,
	.routes = routes,
	.admit = qa_admit,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &desc;
}
