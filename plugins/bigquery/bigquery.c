/*
 * bigquery.c - the BigQuery pull source: descriptor, config, and the glue
 * between the query (bq_query.c; its jobs over the REST API v2 and
 * libcurl, bq_job.c) and the shared pull loop (plugins/common/rowpull.c)
 * and mapping (rowmap.c).
 *
 *   credentials_file  a service-account key (JSON): an RS256 JWT exchanged
 *                     at the key's token_uri
 *   metadata: true    the metadata server (GCE_METADATA_HOST honoured)
 *   access_token      a token made elsewhere (tests)
 *
 * The query's `:cursor` becomes the named parameter @cursor (never
 * interpolated), typed from the first cursor column: a dry run learns its
 * type before a process's first query (`cursor_type` overrides it).
 * Config mistakes are refused in create(), before any request; those of the
 * values alone (bq_values_read()) by `profilehub check` too, which never
 * reads credentials_file.  `check --connect` dry-runs the query and checks
 * the map against its columns.
 */
#include "bq.h"

#include "../common/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hub_config_key bq_keys[] = {
	{.name = "project", .type = HUB_CFG_STRING, .is_required = 1,
	 .description = "the Google Cloud project that runs the query (and is billed)"},
	{.name = "location", .type = HUB_CFG_STRING,
	 .description = "where the job runs: US, EU, europe-west1, ..."
			" (default: BigQuery's choice)"},
	{.name = "credentials_file", .type = HUB_CFG_STRING,
	 .description = "a service-account key file (JSON)"},
	{.name = "access_token", .type = HUB_CFG_STRING, .is_secret = 1,
	 .description = "an OAuth access token made elsewhere (tests)"},
	{.name = "metadata", .type = HUB_CFG_BOOL, .default_value = "false",
	 .description = "true: tokens from the metadata server (GCE, GKE, Cloud Run)"},
	{.name = "endpoint", .type = HUB_CFG_STRING,
	 .description = "base URL (default https://bigquery.googleapis.com)"},
	{.name = "cursor_type", .type = HUB_CFG_STRING,
	 .description = "overrides the @cursor parameter's type: TIMESTAMP, DATETIME, DATE, INT64, "
			"NUMERIC, BIGNUMERIC, FLOAT64, STRING or BYTES (default: the first cursor "
			"column's, learned by a dry run)"},
	{.name = "query_timeout", .type = HUB_CFG_DURATION, .default_value = "1h",
	 .description = "a query job still running after this is cancelled and the run retried"},
	ROWPULL_CONFIG_KEYS,
	{.name = NULL},
};

struct bq_state {
	const struct hub_host *host;
	const struct hub_instance *inst;
	struct bq_query *query;
	struct rowmap *map;
	struct rowpull pull;
};

static const char *cfg_str(const struct hub_host *host, const struct hub_instance *inst,
			   const char *key)
{
	const char *v = host->config_string(inst, key);
	return v && *v ? v : NULL;
}

/* The query with @cursor for :cursor. */
static char *read_query(const struct hub_host *host, const struct hub_instance *inst, char *err,
			size_t err_size)
{
	const char *query = cfg_str(host, inst, "query");
	int n = 0;
	char *out;

	if (!query) {
		snprintf(err, err_size, "query: required (SQL with :cursor)");
		return NULL;
	}
	if (!(out = rowmap_query_rewrite(query, "@cursor", RM_SQL_BIGQUERY, &n, err, err_size)))
		return NULL;
	if (n == 0) {
		snprintf(err, err_size, "query: has no :cursor placeholder (write e.g. "
			 "WHERE updated_at >= :cursor ORDER BY updated_at, id)");
		free(out);
		return NULL;
	}
	return out;
}

/* Exactly one way to authenticate is set (credentials_file is not read
 * here).  0, or -1 with err. */
static int auth_choice_check(const struct hub_host *host, const struct hub_instance *inst,
			     char *err, size_t err_size)
{
	int n = !!cfg_str(host, inst, "credentials_file") + !!cfg_str(host, inst, "access_token") +
		!!host->config_bool(inst, "metadata");

	if (n == 1)
		return 0;
	snprintf(err, err_size, "%s of credentials_file, access_token and metadata: true",
		 n ? "only one" : "needs one");
	return -1;
}

/* What an instance's values make (bq_values_read()); the caller frees them
 * with bq_values_free(). */
struct bq_values {
	struct rowmap *map;
	char *query; /* @cursor for :cursor */
};

static void bq_values_free(struct bq_values *v)
{
	rowmap_free(v->map);
	free(v->query);
	memset(v, 0, sizeof(*v));
}

/*
 * Everything create() refuses of the values alone, and all that
 * check_config() refuses (ABI 1.10): project, cursor_type, the row map
 * against the kind, the query and its :cursor, one way to authenticate,
 * the endpoint.  Opens no file (credentials_file is read by create()) and
 * no connection.  0 with *v filled, or -1 with err naming the key (*v
 * empty).
 */
static int bq_values_read(const struct hub_host *host, const struct hub_instance *inst,
			  struct bq_values *v, char *err, size_t err_size)
{
	const char *cursor_type = cfg_str(host, inst, "cursor_type");
	char ptype[16], pvalue[64];

	memset(v, 0, sizeof(*v));
	if (!cfg_str(host, inst, "project")) {
		snprintf(err, err_size, "project: required");
		return -1;
	}
	if (cursor_type && bq_param_for(cursor_type, NULL, ptype, sizeof(ptype), pvalue,
					sizeof(pvalue), err, err_size))
		return -1;
	if (rowmap_new_of(host, inst, &v->map, err, err_size) ||
	    !(v->query = read_query(host, inst, err, err_size)) ||
	    auth_choice_check(host, inst, err, err_size) ||
	    bq_query_endpoint_check(cfg_str(host, inst, "endpoint"), err, err_size)) {
		bq_values_free(v);
		return -1;
	}
	return 0;
}

/* The choice was checked (auth_choice_check()); a key file is read here. */
static int make_auth(const struct hub_host *host, const struct hub_instance *inst,
		     struct bq_auth **out, char *err, size_t err_size)
{
	const char *file = cfg_str(host, inst, "credentials_file");
	const char *token = cfg_str(host, inst, "access_token");

	if (file) {
		if (bq_auth_new(BQ_AUTH_SERVICE_ACCOUNT, file, out, err, err_size))
			return -1;
		if (text_url_is_clear_remote(bq_auth_token_uri(*out)))
			host->log(inst, HUB_LOG_WARN, "%s",
				  TEXT_CLEAR_REMOTE("credentials_file: the key's token_uri",
						    "the signed assertion and the token it gets"));
		return 0;
	}
	if (token)
		return bq_auth_new(BQ_AUTH_STATIC, token, out, err, err_size);
	return bq_auth_new(BQ_AUTH_METADATA, NULL, out, err, err_size);
}

static void bq_destroy(void *state)
{
	struct bq_state *st = state;

	if (!st)
		return;
	if (st->pull.ops)
		rowpull_close(&st->pull);
	bq_query_free(st->query);
	rowmap_free(st->map);
	free(st);
}

static hub_rc bq_create(const struct hub_host *host, const struct hub_instance *inst,
			void **state, char *err, size_t err_size)
{
	struct bq_state *st = calloc(1, sizeof(*st));
	struct bq_values v = {0};
	struct bq_query_config qc = {
		.endpoint = cfg_str(host, inst, "endpoint"),
		.project = cfg_str(host, inst, "project"),
		.location = cfg_str(host, inst, "location"),
		.cursor_type = cfg_str(host, inst, "cursor_type"),
		.timeout_ms = host->config_int(inst, "query_timeout"),
	};

	if (!st)
		return HUB_ERR_NOMEM;
	st->host = host;
	st->inst = inst;
	st->pull.host = host;
	st->pull.inst = inst;
	st->pull.cursor_start = cfg_str(host, inst, "cursor_start");
	if (bq_values_read(host, inst, &v, err, err_size) ||
	    make_auth(host, inst, &qc.auth, err, err_size))
		goto fail;
	st->map = st->pull.map = v.map; /* taken */
	v.map = NULL;
	qc.query = v.query;
	if (bq_query_new(host, inst, &qc, &st->query, err, err_size))
		goto fail; /* the query took the auth, and freed it */
	st->pull.ops = &bq_query_ops;
	st->pull.t = st->query;
	bq_values_free(&v);
	*state = st;
	return HUB_OK;
fail:
	bq_values_free(&v);
	bq_destroy(st);
	return HUB_ERR_CONFIG;
}

static hub_rc bq_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		      char *err, size_t err_size)
{
	struct bq_state *st = state;
	hub_rc rc;

	bq_query_set_call(st->query, call);
	rc = rowpull_pull(&st->pull, call, cursor, budget, err, err_size);
	bq_query_set_call(st->query, NULL);
	return rc;
}

/* The sync run ended (ABI 1.14): nothing of it is resumed by the next
 * one, neither its open result nor its jobs.query pending a retry. */
static void bq_run_end(void *state)
{
	struct bq_state *st = state;

	rowpull_close(&st->pull);
	bq_query_run_end(st->query);
}

/* What create() refuses of the values alone, for `profilehub check`
 * without --connect and `run` at start (ABI 1.10): bq_values_read(). */
static hub_rc bq_check_config(const struct hub_host *host, const struct hub_instance *inst,
			      char *err, size_t err_size)
{
	struct bq_values v;

	if (text_url_is_clear_remote(cfg_str(host, inst, "endpoint")))
		host->log(inst, HUB_LOG_WARN, "%s",
			  TEXT_CLEAR_REMOTE("endpoint", "the access token"));
	if (bq_values_read(host, inst, &v, err, err_size))
		return HUB_ERR_CONFIG;
	bq_values_free(&v);
	return HUB_OK;
}

static hub_rc bq_check_connect(void *state, char *err, size_t err_size)
{
	struct bq_state *st = state;

	rowpull_close(&st->pull);
	return bq_query_check(st->query, st->map, st->pull.cursor_start, err, err_size);
}

static const struct hub_plugin bq_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "bigquery",
	.version = "1.0.0",
	.description = "pulls rows from BigQuery (REST API v2) into profiles",
	.roles = HUB_ROLE_PULL,
	.config = bq_keys,
	.create = bq_create,
	.destroy = bq_destroy,
	.check_connect = bq_check_connect,
	.check_config = bq_check_config,
	.pull = bq_pull,
	.run_end = bq_run_end,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &bq_plugin;
}
