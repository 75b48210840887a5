/*
 * snowflake.c - the Snowflake pull source: descriptor, config, and the
 * glue between a transport (ODBC or the SQL API) and the shared pull loop.
 *
 *   transport: odbc     unixODBC with `dsn` or `connection_string` (the
 *                       Snowflake ODBC driver in production; any driver
 *                       works, the tests use PostgreSQL's)
 *   transport: sql_api  SQL API v2 with a key-pair JWT
 *
 * The query's `:cursor` is bound (never interpolated) to the first value of
 * the last committed cursor; see plugins/common/rowpull.c for how pages,
 * cursors and ties work.  Config mistakes are refused in create(), so
 * `profilehub check --connect`, `profilehub sync` and the scheduler all
 * report them before any row is read; those of the values alone
 * (sf_values_read()) by `profilehub check` too, which never reads
 * private_key_file.
 */
#include "sf.h"

#include "../common/text.h"

#include <sqlext.h> /* SQL_MAX_DSN_LENGTH */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hub_config_key sf_keys[] = {
	{.name = "transport",
	 .type = HUB_CFG_STRING,
	 .default_value = "odbc",
	 .description = "odbc (unixODBC) or sql_api (SQL API v2 over HTTPS)"},
	{.name = "dsn",
	 .type = HUB_CFG_STRING,
	 .description = "odbc: a data source name from odbc.ini (32 bytes at most)"},
	{.name = "connection_string",
	 .type = HUB_CFG_STRING,
	 .is_secret = HUB_SECRET_CONNECTION,
	 .description = "odbc: a full ODBC connection string (Driver=...;...)"},
	{.name = "account",
	 .type = HUB_CFG_STRING,
	 .description = "sql_api: the account identifier (xy12345 or org-account)"},
	{.name = "user", .type = HUB_CFG_STRING, .description = "sql_api: the user name"},
	{.name = "private_key_file",
	 .type = HUB_CFG_STRING,
	 .description = "sql_api: PEM private key of the user's key pair (unencrypted)"},
	{.name = "warehouse", .type = HUB_CFG_STRING, .description = "sql_api: warehouse"},
	{.name = "database", .type = HUB_CFG_STRING, .description = "sql_api: database"},
	{.name = "schema", .type = HUB_CFG_STRING, .description = "sql_api: schema"},
	{.name = "role", .type = HUB_CFG_STRING, .description = "sql_api: role"},
	{.name = "query_timeout",
	 .type = HUB_CFG_DURATION,
	 .default_value = "1h",
	 .description = "a query still running after this is cancelled and the run retried"},
	{.name = "endpoint",
	 .type = HUB_CFG_STRING,
	 .description = "sql_api: base URL (default https://<account>.snowflakecomputing.com;"
			" no user:password@, query or fragment)"},
	{.name = "max_answer_bytes",
	 .type = HUB_CFG_INT,
	 .default_value = "268435456",
	 .description = "the most bytes one answer may have (sql_api: a partition of the "
			"result, decoded; odbc: one value, as the driver hands it); a larger "
			"one fails the run (default 256 MiB)"},
	ROWPULL_CONFIG_KEYS,
	{.name = NULL},
};

/* max_answer_bytes: below this, every error answer would be refused too
 * (sql_api), and values of an ordinary size (odbc). */
#define MAX_ANSWER_BYTES_MIN 65536

struct sf_state {
	const struct hub_host *host;
	const struct hub_instance *inst;
	int is_api;
	struct sf_odbc *odbc;
	struct sf_api *api;
	struct rowmap *map;
	struct rowpull pull;
};

static const char *cfg_str(const struct hub_host *host, const struct hub_instance *inst,
			   const char *key)
{
	const char *v = host->config_string(inst, key);
	return v && *v ? v : NULL;
}

static int need(const char *value, const char *key, const char *transport, char *err,
		size_t err_size)
{
	if (value)
		return 0;
	snprintf(err, err_size, "%s: required with transport %s", key, transport);
	return -1;
}

/* The query with ? for :cursor. */
static char *read_query(const struct hub_host *host, const struct hub_instance *inst,
			int *n_params, char *err, size_t err_size)
{
	const char *query = cfg_str(host, inst, "query");
	char *out;

	if (!query) {
		snprintf(err, err_size, "query: required (SQL with :cursor)");
		return NULL;
	}
	if (!(out = rowmap_query_rewrite(query, "?", RM_SQL_SNOWFLAKE, n_params, err, err_size)))
		return NULL;
	if (*n_params == 0) {
		snprintf(err, err_size, "query: has no :cursor placeholder (write e.g. "
			 "WHERE updated_at >= :cursor ORDER BY updated_at, id)");
		free(out);
		return NULL;
	}
	return out;
}

/* The characters ODBC reserves, which no data source name holds
 * (SQLValidDSN refuses them).  create_odbc() sends "DSN=<dsn>" as a
 * connection string, where ';' ends the DSN and the rest is read as more
 * attributes ("hubtest;UID=x" named the DSN hubtest and set UID), and
 * braces and '=' change how the value is parsed. */
#define DSN_RESERVED "[]{}(),;?*=!@\\"

/* A data source name is at most SQL_MAX_DSN_LENGTH bytes: unixODBC answers
 * a longer one "IM012 DRIVER keyword syntax error", which names neither
 * the key nor the limit (and create_odbc() cut one past 507 bytes).  It
 * holds none of DSN_RESERVED. */
static int dsn_check(const char *dsn, char *err, size_t err_size)
{
	size_t len = strlen(dsn), at = strcspn(dsn, DSN_RESERVED);

	if (at < len) {
		snprintf(err, err_size, "dsn: holds '%c' (byte %zu), which no ODBC data source "
			 "name holds (none of %s; give the driver's settings in connection_string "
			 "instead)", dsn[at], at + 1, DSN_RESERVED);
		return -1;
	}
	if (len <= SQL_MAX_DSN_LENGTH)
		return 0;
	snprintf(err, err_size, "dsn: %zu bytes, over ODBC's limit of %d for a data source "
		 "name (give the driver's settings in connection_string instead)", len,
		 SQL_MAX_DSN_LENGTH);
	return -1;
}

/* A transport's keys, of their values alone: odbc takes exactly one of dsn
 * and connection_string; sql_api needs account, user and private_key_file
 * (not read here: create() reads it) and an endpoint it can name. */
static int transport_keys_check(const struct hub_host *host, const struct hub_instance *inst,
				int is_api, char *err, size_t err_size)
{
	struct sf_api_config c = {
		.endpoint = cfg_str(host, inst, "endpoint"),
		.account = cfg_str(host, inst, "account"),
	};

	if (!is_api) {
		const char *dsn = cfg_str(host, inst, "dsn");
		if (!dsn == !cfg_str(host, inst, "connection_string")) {
			snprintf(err, err_size, "transport odbc needs exactly one of dsn and "
				 "connection_string");
			return -1;
		}
		return dsn ? dsn_check(dsn, err, err_size) : 0;
	}
	if (need(c.account, "account", "sql_api", err, err_size) ||
	    need(cfg_str(host, inst, "user"), "user", "sql_api", err, err_size) ||
	    need(cfg_str(host, inst, "private_key_file"), "private_key_file", "sql_api", err,
		 err_size))
		return -1;
	return sf_api_endpoint_check(&c, err, err_size);
}

/* What an instance's values make (sf_values_read()); the caller frees them
 * with sf_values_free(). */
struct sf_values {
	int is_api;
	struct rowmap *map;
	char *query; /* ? for :cursor */
	int n_params;
};

static void sf_values_free(struct sf_values *v)
{
	rowmap_free(v->map);
	free(v->query);
	memset(v, 0, sizeof(*v));
}

/*
 * Everything create() refuses of the values alone, and all that
 * check_config() refuses (ABI 1.10): the transport and its keys,
 * max_answer_bytes, the row map against the kind, the query and its
 * :cursor.  Opens no file and no connection.  HUB_OK with *v filled, or
 * HUB_ERR_CONFIG with err naming the key (*v empty).
 */
static hub_rc sf_values_read(const struct hub_host *host, const struct hub_instance *inst,
			     struct sf_values *v, char *err, size_t err_size)
{
	const char *transport = host->config_string(inst, "transport");
	long long max_answer = (long long)host->config_int(inst, "max_answer_bytes");

	memset(v, 0, sizeof(*v));
	if (!transport || (strcmp(transport, "odbc") != 0 && strcmp(transport, "sql_api") != 0)) {
		snprintf(err, err_size, "transport: \"%s\" is not odbc or sql_api",
			 transport ? transport : "");
		return HUB_ERR_CONFIG;
	}
	v->is_api = strcmp(transport, "sql_api") == 0;
	if (max_answer < MAX_ANSWER_BYTES_MIN) {
		snprintf(err, err_size, "max_answer_bytes: %lld is below %d (bytes)", max_answer,
			 MAX_ANSWER_BYTES_MIN);
		return HUB_ERR_CONFIG;
	}
	if (rowmap_new_of(host, inst, &v->map, err, err_size) ||
	    !(v->query = read_query(host, inst, &v->n_params, err, err_size)) ||
	    transport_keys_check(host, inst, v->is_api, err, err_size)) {
		sf_values_free(v);
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

/* The keys were checked (sf_values_read()): a dsn fits buf whole. */
static hub_rc create_odbc(struct sf_state *st, const char *query, int n_params, char *err,
			  size_t err_size)
{
	const char *dsn = cfg_str(st->host, st->inst, "dsn");
	const char *conn = cfg_str(st->host, st->inst, "connection_string");
	char buf[sizeof("DSN=") + SQL_MAX_DSN_LENGTH];

	if (dsn) {
		snprintf(buf, sizeof(buf), "DSN=%s", dsn);
		conn = buf;
	}
	if (sf_odbc_new(st->host, st->inst, conn, query, n_params, &st->odbc, err, err_size))
		return HUB_ERR_CONFIG;
	st->pull.ops = &sf_odbc_ops;
	st->pull.t = st->odbc;
	return HUB_OK;
}

/* The keys were checked (sf_values_read()); the key file is read here. */
static hub_rc create_api(struct sf_state *st, const char *query, int n_params, char *err,
			 size_t err_size)
{
	struct sf_api_config c = {
		.endpoint = cfg_str(st->host, st->inst, "endpoint"),
		.account = cfg_str(st->host, st->inst, "account"),
		.user = cfg_str(st->host, st->inst, "user"),
		.key_file = cfg_str(st->host, st->inst, "private_key_file"),
		.warehouse = cfg_str(st->host, st->inst, "warehouse"),
		.database = cfg_str(st->host, st->inst, "database"),
		.schema = cfg_str(st->host, st->inst, "schema"),
		.role = cfg_str(st->host, st->inst, "role"),
		.query = query,
		.n_params = n_params,
		.max_answer_bytes = st->host->config_int(st->inst, "max_answer_bytes"),
	};

	if (sf_api_new(st->host, st->inst, &c, &st->api, err, err_size))
		return HUB_ERR_CONFIG;
	st->pull.ops = &sf_api_ops;
	st->pull.t = st->api;
	return HUB_OK;
}

static void sf_destroy(void *state)
{
	struct sf_state *st = state;

	if (!st)
		return;
	if (st->pull.ops)
		rowpull_close(&st->pull);
	sf_odbc_free(st->odbc);
	sf_api_free(st->api);
	rowmap_free(st->map);
	free(st);
}

static hub_rc sf_create(const struct hub_host *host, const struct hub_instance *inst,
			void **state, char *err, size_t err_size)
{
	struct sf_state *st = calloc(1, sizeof(*st));
	struct sf_values v = {0};
	hub_rc rc;

	if (!st)
		return HUB_ERR_NOMEM;
	st->host = host;
	st->inst = inst;
	st->pull.host = host;
	st->pull.inst = inst;
	st->pull.cursor_start = cfg_str(host, inst, "cursor_start");
	if ((rc = sf_values_read(host, inst, &v, err, err_size)) != HUB_OK)
		goto fail;
	st->is_api = v.is_api;
	st->map = st->pull.map = v.map; /* taken */
	v.map = NULL;
	rc = st->is_api ? create_api(st, v.query, v.n_params, err, err_size)
			: create_odbc(st, v.query, v.n_params, err, err_size);
	if (rc != HUB_OK)
		goto fail;
	sf_values_free(&v);
	*state = st;
	return HUB_OK;
fail:
	sf_values_free(&v);
	sf_destroy(st);
	return rc;
}

static hub_rc sf_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		      char *err, size_t err_size)
{
	struct sf_state *st = state;
	hub_rc rc;

	if (st->api)
		sf_api_set_call(st->api, call);
	else
		sf_odbc_set_call(st->odbc, call);
	rc = rowpull_pull(&st->pull, call, cursor, budget, err, err_size);
	if (st->api)
		sf_api_set_call(st->api, NULL);
	else
		sf_odbc_set_call(st->odbc, NULL);
	return rc;
}

/* The sync run ended (ABI 1.14): nothing of it is resumed by the next
 * one, neither its open result nor its statement pending a retry. */
static void sf_run_end(void *state)
{
	struct sf_state *st = state;

	rowpull_close(&st->pull);
	if (st->api)
		sf_api_run_end(st->api);
}

/* What create() refuses of the values alone, for `profilehub check`
 * without --connect and `run` at start (ABI 1.10): sf_values_read(). */
static hub_rc sf_check_config(const struct hub_host *host, const struct hub_instance *inst,
			      char *err, size_t err_size)
{
	struct sf_values v;
	hub_rc rc;

	if (text_url_is_clear_remote(cfg_str(host, inst, "endpoint")))
		host->log(inst, HUB_LOG_WARN, "%s",
			  TEXT_CLEAR_REMOTE("endpoint", "the key-pair JWT"));
	if ((rc = sf_values_read(host, inst, &v, err, err_size)) == HUB_OK)
		sf_values_free(&v);
	return rc;
}

static hub_rc sf_check_connect(void *state, char *err, size_t err_size)
{
	struct sf_state *st = state;
	const char *start = st->pull.cursor_start;

	rowpull_close(&st->pull);
	return st->api ? sf_api_check(st->api, st->map, start, err, err_size)
		       : sf_odbc_check(st->odbc, st->map, start, err, err_size);
}

static const struct hub_plugin sf_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "snowflake",
	.version = "1.0.0",
	.description = "pulls rows from Snowflake (ODBC or SQL API) into profiles",
	.roles = HUB_ROLE_PULL,
	.config = sf_keys,
	.create = sf_create,
	.destroy = sf_destroy,
	.check_connect = sf_check_connect,
	.check_config = sf_check_config,
	.pull = sf_pull,
	.run_end = sf_run_end,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &sf_plugin;
}
