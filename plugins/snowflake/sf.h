/*
 * sf.h - what the files of the snowflake plugin share (private to the
 * plugin: the hub never sees it).
 *
 *   snowflake.c         descriptor, config keys, create/destroy, pull, check
 *   sf_odbc.c           transport odbc: unixODBC, connection, running the query
 *   sf_odbc_param.c     its bound :cursor parameter
 *   sf_odbc_fetch.c     its result: column types, block fetch, rows as cells
 *   sf_sqlapi.c         transport sql_api: SQL API v2 over libcurl (HTTP, new/free)
 *   sf_sqlapi_stmt.c    its statements: bindings, requestId, polling, cancel
 *   sf_sqlapi_result.c  its result set: columns, partitions, rows as cells
 *   sf_cell.c           the SQL API's cells as values of their column types
 *   sf_jwt.c            the key-pair JWT (RS256) the SQL API wants
 *
 * Both transports implement struct rp_reader_ops (plugins/common/rowpull.h)
 * and hand rows to the shared mapping (plugins/common/rowmap.h).
 */
#ifndef SF_H
#define SF_H

#include <hub_plugin.h>

#include "../common/rowmap.h"
#include "../common/rowpull.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SF_MSG 1024

/* ---- ODBC ------------------------------------------------------------------ */

struct sf_odbc;

/* `conn` is "DSN=name" or a full connection string (a secret: never
 * printed).  `query` has ? for :cursor, `n_params` of them. */
int sf_odbc_new(const struct hub_host *host, const struct hub_instance *inst,
		const char *conn, const char *query, int n_params, struct sf_odbc **out,
		char *err, size_t err_size);
void sf_odbc_free(struct sf_odbc *o);
extern const struct rp_reader_ops sf_odbc_ops;
/* Lets a running query be cancelled when the hub stops (call: the pull's,
 * NULL after it). */
void sf_odbc_set_call(struct sf_odbc *o, struct hub_call *call);
/* Connects and describes the query's result against the map. */
hub_rc sf_odbc_check(struct sf_odbc *o, struct rowmap *m, const char *param, char *err,
		     size_t err_size);

/* ---- SQL API --------------------------------------------------------------- */

struct sf_jwt;

/* Reads a PEM private key (PKCS#8 or PKCS#1 RSA, unencrypted) and
 * prepares the claims: iss ACCOUNT.USER.SHA256:<fingerprint>, sub
 * ACCOUNT.USER (account without its region, or before its first '-' in a
 * global URL's "xy12345-abc.global"; both upper-cased). */
int sf_jwt_new(const char *key_file, const char *account, const char *user,
	       struct sf_jwt **out, char *err, size_t err_size);
void sf_jwt_free(struct sf_jwt *j);
/* The token for now_s, made again when it is older than 50 minutes
 * (exp = iat + 59 min).  Borrowed until the next call; NULL on failure. */
const char *sf_jwt_token(struct sf_jwt *j, int64_t now_s, char *err, size_t err_size);
/* The public key fingerprint "SHA256:..." (for messages and tests). */
const char *sf_jwt_fingerprint(const struct sf_jwt *j);

struct sf_api_config {
	const char *endpoint;   /* "https://acct.snowflakecomputing.com" */
	const char *account, *user, *key_file;
	const char *warehouse, *database, *schema, *role; /* may be NULL */
	const char *query;      /* ? for :cursor */
	int n_params;
	int64_t max_answer_bytes; /* one answer's decoded body at most; 0: no bound */
};

struct sf_api;

/* The base URL cfg makes (endpoint, else the account's) as sf_api_new()
 * takes it: no user:password@, query or fragment, 512 characters at most.
 * Reads no file.  0, or -1 with err ("endpoint: ..."). */
int sf_api_endpoint_check(const struct sf_api_config *cfg, char *err, size_t err_size);

int sf_api_new(const struct hub_host *host, const struct hub_instance *inst,
	       const struct sf_api_config *cfg, struct sf_api **out, char *err,
	       size_t err_size);
void sf_api_free(struct sf_api *a);
extern const struct rp_reader_ops sf_api_ops;
/* Runs the query with LIMIT 0 and checks its columns against the map. */
hub_rc sf_api_check(struct sf_api *a, struct rowmap *m, const char *param, char *err,
		    size_t err_size);
/* Lets a long wait (202 polling) end early when the hub stops. */
void sf_api_set_call(struct sf_api *a, struct hub_call *call);
/* The sync run ended (ABI 1.14): a statement pending a retry under its
 * requestId is forgotten, so the next run's is a new request (sent again
 * with retry=true, Snowflake answers with the earlier run's result). */
void sf_api_run_end(struct sf_api *a);

/* ---- SQL API cells (sf_cell.c) -------------------------------------------- */

/* A column's type, from its rowType "type". */
enum sf_kind {
	K_TEXT = 0,
	K_FIXED,
	K_REAL,
	K_BOOLEAN,
	K_DATE,
	K_TIMESTAMP_NTZ,
	K_TIMESTAMP_LTZ,
	K_TIMESTAMP_TZ, /* the epoch, a space, the offset */
	K_JSON,
	K_TIME, /* seconds since midnight, rewritten "HH:MM:SS[.fraction]" */
	K_DECFLOAT, /* decimal text, or scientific past 38 digits ("1.5E+40") */
};

/* "fixed", "timestamp_tz", ... (any case; others are text) -> its kind,
 * and the mapping's type in *rm. */
enum sf_kind sf_kind_of(const char *type, enum rm_type *rm);
/* A cell (a JSON string, or null) as a value of kind k; c->text borrows
 * v's string (a TIME's is rewritten in v first).  HUB_OK, or
 * HUB_ERR_INTERNAL with err "column <col>: ..." saying what is wrong with
 * it. */
hub_rc sf_cell_convert(enum sf_kind k, json_t *v, struct rm_cell *c, const char *col, char *err,
		       size_t err_size);
/* At most 40 bytes of s for a message (out >= 44 bytes): control
 * characters as '?', a UTF-8 sequence never cut in two, "..." when cut. */
void sf_excerpt(const char *s, char *out, size_t size);

#endif
