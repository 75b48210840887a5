/*
 * bq.h - what the files of the bigquery plugin share (private to the
 * plugin: the hub never sees it).
 *
 *   bigquery.c   descriptor, config keys, create/destroy, pull, check
 *   bq_query.c   the query's state, the rp_reader_ops of the pull loop,
 *                check, the dry runs that learn @cursor's type
 *   bq_job.c     one job: jobs.query, getQueryResults paged and polled,
 *                retries, jobs.cancel (bq_query_int.h: what the two share)
 *   bq_param.c   the :cursor parameter's type and value, as text
 *   bq_cell.c    the schema and the cells of a page -> struct rm_cell
 *   bq_error.c   the Google error envelope -> hub_rc and a message
 *   bq_auth.c    access tokens: service-account key, metadata server,
 *                static; cached and renewed before they expire
 *   bq_jwt.c     the service-account key file and its RS256 JWT
 *   bq_http.c    one libcurl handle: a request, its status and body
 *
 * The rows go through the shared pull loop (plugins/common/rowpull.h) and
 * the shared mapping (plugins/common/rowmap.h), as Snowflake's do.
 */
#ifndef BQ_H
#define BQ_H

#include <hub_plugin.h>

#include "../common/rowmap.h"
#include "../common/rowpull.h"
#include "../common/transient.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BQ_DEFAULT_ENDPOINT "https://bigquery.googleapis.com"
#define BQ_SCOPE "https://www.googleapis.com/auth/bigquery"
#define BQ_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define BQ_METADATA_HOST "metadata.google.internal"

/* ---- bq_http.c ----------------------------------------------------------- */

struct bq_text {
	char *p;
	size_t len, cap;
	int failed;
};

void bq_text_reset(struct bq_text *t);
void bq_text_add(struct bq_text *t, const char *s, size_t n);
void bq_text_puts(struct bq_text *t, const char *s);
/* s as a JSON string literal (UTF-8 kept, controls escaped). */
void bq_text_json_string(struct bq_text *t, const char *s);

/* The most bytes an answer (decoded) may have: a page is at most
 * maxResults rows (page_size) and what BigQuery's own limits let through,
 * a row at most 100 MB; anything past this is not an answer to read whole. */
#define BQ_ANSWER_MAX ((size_t)256 << 20)

/* query_timeout's default (bigquery.c's key), in ms */
#define BQ_QUERY_TIMEOUT_DEFAULT_MS 3600000

struct bq_http {
	void *curl;             /* CURL * */
	struct bq_text resp;    /* the last answer's body, NUL-terminated */
	size_t answer_max;      /* resp's bound (bq_http_init: BQ_ANSWER_MAX); 0: none */
	int is_over;            /* the last answer passed answer_max: cut short */
	char retry_after[32];   /* its Retry-After in seconds (or an HTTP date's), or "" */
	int64_t deadline_ms;    /* mono_clock_ms() past which no request runs
				 * (0: none but transfer_ms): one bound on
				 * several requests (a cancel's) */
	long transfer_ms;       /* the most one request may take, its answer read
				 * (transient_transfer_ms: query_timeout, 60 s
				 * at least); past it, HUB_RETRY */
	struct transient_stop stop; /* a request ends when the pull is asked to stop */
};

int bq_http_init(struct bq_http *h, char *err, size_t err_size);
void bq_http_cleanup(struct bq_http *h);
/*
 * One request: GET when body is NULL, else POST with content_type.
 * `bearer` (may be NULL) is sent as Authorization: Bearer; `extra` (may be
 * NULL) is one more header line.  HUB_OK with *status set, or HUB_RETRY
 * (network trouble, h->deadline_ms or h->transfer_ms passed) /
 * HUB_ERR_STOPPED (the pull was asked to stop: h->stop) / HUB_ERR_CONFIG
 * (a URL that cannot work, an answer past h->answer_max) / HUB_ERR_NOMEM
 * with err naming `what` (never the URL's query string, never a token).
 * A non-2xx answer's body has every copy of `bearer` redacted (an
 * endpoint that echoes the request it refused), so no message quotes it.
 */
hub_rc bq_http_request(struct bq_http *h, const char *url, const char *bearer,
		       const char *extra, const char *body, const char *content_type,
		       const char *what, long *status, char *err, size_t err_size);
/* A malloc'd URL-escaped copy of s. */
char *bq_http_escape(struct bq_http *h, const char *s);

/* ---- bq_error.c ---------------------------------------------------------- */

/*
 * A failed BigQuery answer (status >= 300, body the Google error envelope
 * {"error": {"code", "message", "errors": [{"reason", "message"}],
 * "status"}}) as a code and one line for people:
 *   rateLimitExceeded, backendError, internalError, 429, 408, 5xx: HUB_RETRY
 *   ("retry after Ns: " first when the answer had a Retry-After)
 *   accessDenied, 401, 403 otherwise: HUB_ERR_AUTH
 *   invalidQuery, invalid, notFound, other 4xx: HUB_ERR_CONFIG
 */
hub_rc bq_error_decode(long status, const char *body, const char *retry_after, char *err,
		       size_t err_size);
/*
 * A 200 answer (jobs.query, getQueryResults) for a job that failed:
 * jobComplete true, errors[] and no schema (BigQuery sends the schema only
 * for a job that succeeded; errors[] beside one are warnings).  HUB_OK
 * when root is no such answer; else the first error's reason decides, as
 * above (an unknown one: HUB_ERR_INTERNAL), and err says it and its message.
 */
hub_rc bq_error_of_job(json_t *root, char *err, size_t err_size);
/* The first reason of an envelope ("invalidQuery"), copied into buf; "" when none. */
const char *bq_error_reason(const char *body, char *buf, size_t size);

/* ---- bq_jwt.c ------------------------------------------------------------ */

struct bq_sa_key;

/* Reads a service-account key file (JSON: type, client_email, private_key,
 * private_key_id, token_uri).  Errors name credentials_file, never the key. */
int bq_sa_key_load(const char *path, struct bq_sa_key **out, char *err, size_t err_size);
/* The same from JSON text (tests, fuzzing). */
int bq_sa_key_parse(const char *json, struct bq_sa_key **out, char *err, size_t err_size);
void bq_sa_key_free(struct bq_sa_key *k);
const char *bq_sa_key_email(const struct bq_sa_key *k);
const char *bq_sa_key_token_uri(const struct bq_sa_key *k);
/* The signed assertion {iss: client_email, scope, aud: token_uri, iat,
 * exp: iat + 3600} (malloc'd), or NULL. */
char *bq_jwt_assertion(const struct bq_sa_key *k, const char *scope, int64_t now_s);
/* Wipes the n bytes at p, then frees p (NULL is fine): for key text,
 * assertions and tokens.  OPENSSL_cleanse, since a memset just before
 * free() is a dead store the compiler removes (it did, at -O2). */
void bq_free_wiped(void *p, size_t n);

/* ---- bq_auth.c ----------------------------------------------------------- */

enum bq_auth_mode {
	BQ_AUTH_STATIC = 0,
	BQ_AUTH_SERVICE_ACCOUNT,
	BQ_AUTH_METADATA,
};

struct bq_auth;

/* `secret` is the access token (static) or the key file path (service
 * account); NULL for the metadata server. */
int bq_auth_new(enum bq_auth_mode mode, const char *secret, struct bq_auth **out, char *err,
		size_t err_size);
void bq_auth_free(struct bq_auth *a);
/* Where a service account's token is fetched (its key file's token_uri);
 * NULL in the other modes. */
const char *bq_auth_token_uri(const struct bq_auth *a);
/* A token valid for at least a few minutes more (borrowed until the next
 * call), fetched through h when the cached one is old.  NULL with *rc and
 * err set when none could be had. */
const char *bq_auth_token(struct bq_auth *a, struct bq_http *h, int64_t now_ms, hub_rc *rc,
			  char *err, size_t err_size);
/* Forgets the cached token (the API refused it). 0 when the mode cannot
 * get another (a static token). */
int bq_auth_invalidate(struct bq_auth *a);

/* ---- bq_cell.c ----------------------------------------------------------- */

enum bq_type {
	BQ_T_STRING = 0,
	BQ_T_BYTES,
	BQ_T_INT64,
	BQ_T_FLOAT64,
	BQ_T_NUMERIC,    /* NUMERIC (DECIMAL): exact decimal text */
	BQ_T_BIGNUMERIC, /* BIGNUMERIC (BIGDECIMAL): the same, wider */
	BQ_T_BOOL,
	BQ_T_TIMESTAMP,
	BQ_T_DATE,
	BQ_T_TIME,
	BQ_T_DATETIME,
	BQ_T_GEOGRAPHY,
	BQ_T_JSON,
	BQ_T_RECORD,
	BQ_T_OTHER,      /* INTERVAL, RANGE, anything newer: text */
};

struct bq_field {
	char *name;
	enum bq_type type;
	int is_repeated;
	struct bq_field *fields; /* RECORD */
	size_t n_fields;
};

/* schema.fields -> fields (malloc'd tree).  0, or -1 with err set. */
int bq_schema_parse(json_t *fields, struct bq_field **out, size_t *n, char *err,
		    size_t err_size);
void bq_fields_free(struct bq_field *f, size_t n);
enum bq_type bq_type_of(const char *name);
const char *bq_type_name(enum bq_type t);
/* How the shared mapping sees a top-level column. */
enum rm_type bq_rm_type(const struct bq_field *f);

/*
 * TIMESTAMP text -> instant, rounded to the microsecond: float seconds
 * ("1767571200.123", "1.767571200123E9"), or, without '.' and exponent,
 * int64 microseconds when is_micros (formatOptions.useInt64Timestamp)
 * else whole seconds.  0 or -1.
 */
int bq_timestamp_parse(const char *s, int is_micros, int64_t *sec, int32_t *nsec);
/* An INT64 cell's text: 0 when it is an exact 64-bit integer. */
int bq_int64_check(const char *s, int64_t *out);

/*
 * One cell {"v": ...} value `v` of field f into c.  Text the cell needs
 * beyond the page's own strings (RECORD and REPEATED as JSON) goes into
 * `scratch`, which must live as long as the cell.  HUB_ERR_INTERNAL with
 * err naming the column when the cell does not read as its type.
 */
hub_rc bq_cell_decode(const struct bq_field *f, json_t *v, int is_micros, struct rm_cell *c,
		      struct bq_text *scratch, char *err, size_t err_size);

/* ---- bq_query.c ---------------------------------------------------------- */

struct bq_query_config {
	const char *endpoint;  /* NULL: BQ_DEFAULT_ENDPOINT */
	const char *project;
	const char *location;  /* may be NULL */
	const char *query;     /* with @cursor */
	const char *cursor_type; /* NULL: the cursor column's (a dry run learns it) */
	struct bq_auth *auth;  /* taken */
	int64_t timeout_ms;    /* query_timeout: a job running longer is given up; 0 none */
};

struct bq_query;

/* Whether endpoint (NULL: the default) is one bq_query_new() takes: an
 * http:// or https:// URL.  0, or -1 with err ("endpoint: ..."). */
int bq_query_endpoint_check(const char *endpoint, char *err, size_t err_size);

int bq_query_new(const struct hub_host *host, const struct hub_instance *inst,
		 const struct bq_query_config *cfg, struct bq_query **out, char *err,
		 size_t err_size);
void bq_query_free(struct bq_query *q);
extern const struct rp_reader_ops bq_query_ops;
/* A dry run of the query: checks it, its parameter and its columns
 * against the map (and learns the cursor column's type, as the first
 * query of a process does when cursor_type is not set). */
hub_rc bq_query_check(struct bq_query *q, struct rowmap *m, const char *param, char *err,
		      size_t err_size);
/* Lets a long wait (jobComplete: false) end early when the hub stops. */
void bq_query_set_call(struct bq_query *q, struct hub_call *call);
/* The sync run ended (ABI 1.14): a jobs.query pending a retry under its
 * requestId is forgotten, so the next run's is a new request (sent again,
 * BigQuery would answer with the earlier run's job). */
void bq_query_run_end(struct bq_query *q);

/* ---- bq_param.c ---------------------------------------------------------- */

/* The named parameter for :cursor: its BigQuery type and value for the
 * text `param` (NULL: 0001-01-01 for times, else the type's zero or empty
 * value).  `type` is the column's type when known, else NULL (guessed from
 * the text).  A FLOAT64 infinity is sent as "Infinity" / "-Infinity" (the
 * cursor text's "inf" too), as BigQuery writes it; NaN is refused.  0, or
 * -1 with err. */
int bq_param_for(const char *type, const char *param, char *type_out, size_t type_size,
		 char *value, size_t value_size, char *err, size_t err_size);
/* What a first run (no saved cursor, no cursor_start) binds @cursor of
 * type t to, as text for bq_param_for: 0001-01-01 for times (RM_TIME_FIRST,
 * the first TIMESTAMP, DATETIME and DATE), the lowest value for numbers
 * (FLOAT64: -Infinity), "" for STRING and BYTES, so that `col >= @cursor`
 * selects every row (but NULLs; FLOAT64: but NaN, which no `>=` selects). */
const char *bq_param_first(enum bq_type t);
/* The text @cursor is bound to: param, else (no saved cursor, no
 * cursor_start) the first value of the type; NULL when the type is to be
 * guessed from the value. */
const char *bq_param_value(const char *type, const char *param);

#endif
