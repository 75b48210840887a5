/*
 * sf_odbc.c - transport odbc: the query through unixODBC.
 *
 * This file connects, prepares and runs the query and hands its rows to
 * the pull (struct rp_reader_ops); the bound :cursor value is
 * sf_odbc_param.c's, the result's columns, buffers and rows as cells are
 * sf_odbc_fetch.c's (sf_odbc_int.h holds what they share).
 *
 * Errors carry the driver's diagnostics (SQLSTATE and message; never the
 * connection string, which may hold a password) and are classified by
 * SQLSTATE: 08xxx, 40001, HYT00 and friends retry; 28xxx is refused
 * credentials; 42xxx a wrong query or object.  A failed connect is first
 * read for a refused login, which drivers report as 08001: Snowflake's
 * native codes (390100, 390144, ...) or the server's words ("password
 * authentication failed"); those and 08004 are refused credentials.
 *
 * A stop of the hub during a pull cancels a running query (SQLCancel from
 * the pull's thread while SQLExecute runs on a thread of its own): the
 * hub waits for the pull, and the query may run for minutes.  What a stop
 * cannot cut short: the connect (ODBC cancels statements only; it ends by
 * LOGIN_TIMEOUT_S, which psqlodbc passes to libpq as connect_timeout), and,
 * with psqlodbc, the describe after SQLPrepare (it waits behind a lock on a
 * table) and a SQLFetch that sends FETCH (UseDeclareFetch=1): psqlodbc's
 * SQLCancel sends PostgreSQL a cancel only while SQLExecute runs, and
 * answers SQL_SUCCESS otherwise.  A second signal quits the hub at once.
 *
 * Session: timestamps are read in UTC (ALTER SESSION on Snowflake, SET TIME
 * ZONE on PostgreSQL), so TIMESTAMP_LTZ/TZ values are the instants they
 * name.
 */
#include "sf_odbc_int.h"
#include "../common/mono_clock.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOGIN_TIMEOUT_S 30      /* a connect's bound, a stop's during it too */
#define STOP_POLL_MS 50         /* how often a running query looks for a stop */
#define CANCEL_AGAIN_POLLS 10   /* a stopped query is cancelled again every 0.5 s */

/* ---- diagnostics ---------------------------------------------------------------- */

static hub_rc classify(const char *state)
{
	static const char *const retry[] = {"40001", "40P01", "HYT00", "HYT01", "57P01",
					    "57P02", "57P03", "57014"};

	if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0)
		return HUB_RETRY;
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		if (strcmp(state, retry[i]) == 0)
			return HUB_RETRY;
	if (strncmp(state, "28", 2) == 0)
		return HUB_ERR_AUTH;
	if (strncmp(state, "42", 2) == 0 || strncmp(state, "IM", 2) == 0 ||
	    strncmp(state, "3D", 2) == 0 || strncmp(state, "3F", 2) == 0)
		return HUB_ERR_CONFIG;
	if (strncmp(state, "22", 2) == 0)
		return HUB_ERR_DATA;
	return HUB_ERR_INTERNAL;
}

/* 1 when a failed connect is the server refusing the login, told by the
 * driver's native code or its message: drivers report it as a connection
 * that could not be made (psqlodbc's 08001, Snowflake's 08001 / 08004),
 * which classify() would retry for ever. */
static int is_refused_login(SQLINTEGER native, const char *msg)
{
	/* Snowflake's: incorrect username or password, JWT token invalid
	 * (and its variants: user in issuer, missing claims, fingerprint,
	 * algorithm, signature), OAuth access token invalid */
	static const SQLINTEGER codes[] = {390100, 390144, 394300, 394301, 394304, 394305,
					   394306, 390303};
	static const char *const texts[] = {
		"password authentication failed", /* PostgreSQL */
		"no pg_hba.conf entry",
		"FATAL:  role \"", /* ... does not exist: an unknown user (28000) */
		"Incorrect username or password", /* Snowflake */
		"JWT token is invalid",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (native == codes[i])
			return 1;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strstr(msg, texts[i]))
			return 1;
	return 0;
}

/* A failed connect's class: refused credentials, or 08004 (the server
 * rejected the connection: trying again gets the same answer), disable
 * the source, and so does a database the server does not have (PostgreSQL's
 * 3D000, which psqlodbc reports as 08001); the rest as classify(). */
static hub_rc classify_connect(const char *state, SQLINTEGER native, const char *msg)
{
	if (is_refused_login(native, msg) || strcmp(state, "08004") == 0)
		return HUB_ERR_AUTH;
	if (strstr(msg, "FATAL:  database \"") && strstr(msg, "\" does not exist"))
		return HUB_ERR_CONFIG;
	return classify(state);
}

/* "what: SQLSTATE 42P01: message; ..." into err; the class of the first
 * non-warning state (classify_connect() when is_connect, else classify()).
 * Line breaks in driver messages become spaces.  "no diagnostics" only
 * when there are none: a failed call may have warnings only, as unixODBC's
 * 01000 "Can't open lib" for a driver not installed, which a connect
 * classes as the configuration's (the source disabled until it changes). */
static hub_rc diag_as(SQLSMALLINT htype, SQLHANDLE h, const char *what, int is_connect,
		      char *err, size_t err_size)
{
	SQLCHAR state[6], msg[512];
	SQLINTEGER native;
	SQLSMALLINT len;
	size_t used;
	hub_rc rc = HUB_ERR_INTERNAL;
	int has_class = 0, has_diag = 0;

	used = (size_t)snprintf(err, err_size, "%s", what);
	for (SQLSMALLINT i = 1; i <= 3 && used < err_size; i++) {
		if (!SQL_SUCCEEDED(
			    SQLGetDiagRec(htype, h, i, state, &native, msg, sizeof(msg), &len)))
			break;
		has_diag = 1;
		for (char *p = (char *)msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		used += (size_t)snprintf(err + used, err_size - used, "%sSQLSTATE %s: %s",
					 i == 1 ? ": " : "; ", state, msg);
		if (!has_class && strncmp((char *)state, "01", 2) != 0) {
			rc = is_connect ? classify_connect((char *)state, native, (char *)msg)
					: classify((char *)state);
			has_class = 1;
		}
	}
	if (!has_diag && used < err_size)
		snprintf(err + used, err_size - used, ": no diagnostics from the driver");
	if (is_connect && has_diag && !has_class)
		rc = HUB_ERR_CONFIG; /* the driver manager could not load the driver */
	return rc;
}

hub_rc sf_odbc_diag(SQLSMALLINT htype, SQLHANDLE h, const char *what, char *err, size_t err_size)
{
	return diag_as(htype, h, what, 0, err, err_size);
}

/* ---- connection ------------------------------------------------------------------------ */

int sf_odbc_new(const struct hub_host *host, const struct hub_instance *inst, const char *conn,
		const char *query, int n_params, struct sf_odbc **out, char *err, size_t err_size)
{
	struct sf_odbc *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o || !(o->conn = strdup(conn)) || !(o->query = strdup(query))) {
		snprintf(err, err_size, "out of memory");
		sf_odbc_free(o);
		return -1;
	}
	o->host = host;
	o->inst = inst;
	o->n_params = n_params;
	o->timeout_ms = host && inst ? host->config_int(inst, "query_timeout") : 0;
	o->value_max = host && inst ? host->config_int(inst, "max_answer_bytes") : 0;
	*out = o;
	return 0;
}

static void disconnect(struct sf_odbc *o)
{
	if (o->is_connected)
		SQLDisconnect(o->dbc);
	o->is_connected = 0;
	if (o->dbc)
		SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
	o->dbc = NULL;
}

/* Best effort: read timestamps in UTC. */
static void session_setup(struct sf_odbc *o)
{
	SQLCHAR dbms[64] = "";
	SQLSMALLINT len;
	const char *sql = NULL;
	SQLHSTMT st;
	char why[SF_MSG];

	SQLGetInfo(o->dbc, SQL_DBMS_NAME, dbms, sizeof(dbms), &len);
	if (strcasecmp((char *)dbms, "Snowflake") == 0)
		sql = "ALTER SESSION SET TIMEZONE = 'UTC'";
	else if (strcasecmp((char *)dbms, "PostgreSQL") == 0)
		sql = "SET TIME ZONE 'UTC'";
	if (!sql || !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st)))
		return;
	if (!SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS))) {
		sf_odbc_diag(SQL_HANDLE_STMT, st, "setting the session time zone to UTC", why,
			     sizeof(why));
		o->host->log(o->inst, HUB_LOG_WARN, "%s", why);
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);
}

static hub_rc connect_db(struct sf_odbc *o, char *err, size_t err_size)
{
	SQLRETURN r;

	if (o->is_connected)
		return HUB_OK;
	if (!o->env) {
		if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env))) {
			snprintf(err, err_size, "cannot allocate an ODBC environment");
			return HUB_ERR_INTERNAL;
		}
		SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
	}
	if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc))) {
		snprintf(err, err_size, "cannot allocate an ODBC connection");
		return HUB_ERR_INTERNAL;
	}
	SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(intptr_t)LOGIN_TIMEOUT_S, 0);
	r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)o->conn, SQL_NTS, NULL, 0, NULL,
			     SQL_DRIVER_NOPROMPT);
	if (!SQL_SUCCEEDED(r)) {
		hub_rc rc = diag_as(SQL_HANDLE_DBC, o->dbc, "connecting", 1, err, err_size);
		disconnect(o);
		return rc;
	}
	o->is_connected = 1;
	session_setup(o);
	return HUB_OK;
}

/* ---- the result -------------------------------------------------------------------------- */

static void odbc_close(void *t)
{
	struct sf_odbc *o = t;

	if (o->stmt)
		SQLFreeHandle(SQL_HANDLE_STMT, o->stmt);
	o->stmt = NULL;
	sf_odbc_columns_free(o);
	o->n_fetched = o->pos = 0;
	o->is_end = 0;
}

/* A failed call on the statement: its diagnostics; a broken connection
 * is dropped so the next open connects again. */
static hub_rc stmt_fail(struct sf_odbc *o, const char *what, char *err, size_t err_size)
{
	hub_rc rc = sf_odbc_diag(SQL_HANDLE_STMT, o->stmt, what, err, err_size);

	odbc_close(o);
	if (rc == HUB_RETRY)
		disconnect(o);
	return rc;
}

/* Prepares the query and, when the driver can describe a prepared
 * statement, its columns. */
static hub_rc prepare(struct sf_odbc *o, struct rowmap *m, char *err, size_t err_size)
{
	SQLSMALLINT n = 0;
	hub_rc rc;

	odbc_close(o);
	if ((rc = connect_db(o, err, err_size)) != HUB_OK)
		return rc;
	if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &o->stmt))) {
		o->stmt = NULL;
		rc = sf_odbc_diag(SQL_HANDLE_DBC, o->dbc, "allocating a statement", err, err_size);
		disconnect(o);
		return rc;
	}
	if (!SQL_SUCCEEDED(SQLPrepare(o->stmt, (SQLCHAR *)o->query, SQL_NTS)))
		return stmt_fail(o, "preparing the query", err, err_size);
	if (SQL_SUCCEEDED(SQLNumResultCols(o->stmt, &n)) && n > 0) {
		if ((rc = sf_odbc_describe(o, n, err, err_size)) != HUB_OK ||
		    (rowmap_bind(m, o->rm_cols, (size_t)n, err, err_size) &&
		     (rc = HUB_ERR_CONFIG))) {
			odbc_close(o);
			return rc;
		}
	}
	return HUB_OK;
}

/* A SQLExecute on a thread of its own (exec_thread), so that the pull's
 * thread can watch for a stop meanwhile. */
struct exec_job {
	SQLHSTMT stmt;
	SQLRETURN r;
	int is_done;            /* under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *exec_thread(void *arg)
{
	struct exec_job *j = arg;
	SQLRETURN r = SQLExecute(j->stmt);

	pthread_mutex_lock(&j->lock);
	j->r = r;
	j->is_done = 1;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* A condition variable whose timed waits read the monotonic clock, so that
 * a wall clock set back (NTP, a restored VM) does not stretch a poll (the
 * hub's time_cond_init(), which a plugin cannot call: it sees only
 * hub_plugin.h). */
static int cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

/* Why execute_stoppable() cancelled the query, if it did. */
enum cancel_why { CANCEL_NONE = 0, CANCEL_STOP, CANCEL_TIMEOUT };

/* Whether a running query is to be cancelled now: the hub stops, or it
 * ran past query_timeout (its run started at t0_ms). */
static enum cancel_why cancel_due(struct sf_odbc *o, int64_t t0_ms)
{
	if (o->host->should_stop(o->call))
		return CANCEL_STOP;
	if (o->timeout_ms > 0 && mono_clock_ms() - t0_ms >= o->timeout_ms)
		return CANCEL_TIMEOUT;
	return CANCEL_NONE;
}

/* SQLExecute, cancelled (SQLCancel, which ODBC allows from another thread
 * while the statement executes) when the hub stops during a pull (the
 * query may run for minutes, and the hub waits for the pull) or when it
 * runs past query_timeout.  The cancel is sent again every 0.5 s until
 * SQLExecute returns: one sent before the driver is executing (still
 * connecting or preparing) is a no-op.  *why says it was, and why.
 * Outside a pull (check --connect), or without a thread, a plain
 * SQLExecute. */
static SQLRETURN execute_stoppable(struct sf_odbc *o, enum cancel_why *why)
{
	struct exec_job j = {.stmt = o->stmt};
	struct timespec deadline;
	int64_t t0_ms = mono_clock_ms();
	pthread_t t;

	*why = CANCEL_NONE;
	if (!o->call)
		return SQLExecute(o->stmt);
	pthread_mutex_init(&j.lock, NULL);
	if (cond_init_monotonic(&j.cond) != 0) {
		pthread_mutex_destroy(&j.lock);
		return SQLExecute(o->stmt);
	}
	if (pthread_create(&t, NULL, exec_thread, &j) != 0) {
		j.r = SQLExecute(o->stmt);
		goto out;
	}
	pthread_mutex_lock(&j.lock);
	for (int polls = 0; !j.is_done; polls++) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += STOP_POLL_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&j.cond, &j.lock, &deadline);
		if (j.is_done)
			continue;
		if (*why ? polls % CANCEL_AGAIN_POLLS != 0 : !(*why = cancel_due(o, t0_ms)))
			continue;
		pthread_mutex_unlock(&j.lock);
		SQLCancel(o->stmt);
		polls = 0;
		pthread_mutex_lock(&j.lock);
	}
	pthread_mutex_unlock(&j.lock);
	pthread_join(t, NULL);
out:
	pthread_cond_destroy(&j.cond);
	pthread_mutex_destroy(&j.lock);
	return j.r;
}

static hub_rc execute(struct sf_odbc *o, struct rowmap *m, const char *param, char *err,
		      size_t err_size)
{
	SQLSMALLINT n = 0;
	SQLRETURN r;
	enum cancel_why why;
	hub_rc rc;

	if ((rc = sf_odbc_bind_param(o, m, param, err, err_size)) != HUB_OK) {
		odbc_close(o);
		return rc;
	}
	r = execute_stoppable(o, &why);
	if (why == CANCEL_STOP) { /* nothing read: the next run reads it */
		snprintf(err, err_size, "stopped while the query ran (cancelled)");
		odbc_close(o);
		return HUB_ERR_STOPPED;
	}
	if (why == CANCEL_TIMEOUT) { /* as Snowflake's own statement timeout: retried */
		snprintf(err, err_size, "running the query: still running after query_timeout "
			 "(%g s): cancelled", (double)o->timeout_ms / 1000.0);
		odbc_close(o);
		return HUB_RETRY;
	}
	if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA)
		return stmt_fail(o, "running the query", err, err_size);
	if (o->n_cols > 0)
		return HUB_OK;
	/* described only now (the driver could not before executing) */
	if (!SQL_SUCCEEDED(SQLNumResultCols(o->stmt, &n)))
		return stmt_fail(o, "describing the result", err, err_size);
	if (n == 0) {
		snprintf(err, err_size, "query: returns no columns");
		odbc_close(o);
		return HUB_ERR_CONFIG;
	}
	if ((rc = sf_odbc_describe(o, n, err, err_size)) != HUB_OK ||
	    (rowmap_bind(m, o->rm_cols, (size_t)n, err, err_size) && (rc = HUB_ERR_CONFIG))) {
		odbc_close(o);
		return rc;
	}
	return HUB_OK;
}

static hub_rc odbc_open(void *t, struct rowmap *m, const char *param, size_t batch_hint,
			char *err, size_t err_size)
{
	struct sf_odbc *o = t;
	hub_rc rc;

	if ((rc = prepare(o, m, err, err_size)) != HUB_OK ||
	    (rc = execute(o, m, param, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = sf_odbc_bind_columns(o, batch_hint, err, err_size)) != HUB_OK)
		odbc_close(o);
	return rc;
}

static hub_rc odbc_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct sf_odbc *o = t;
	SQLRETURN r;
	hub_rc rc;

	while (o->pos >= o->n_fetched) {
		if (o->is_end)
			return HUB_OK;
		o->n_fetched = o->pos = 0;
		r = SQLFetch(o->stmt);
		if (r == SQL_NO_DATA) {
			o->is_end = 1;
			return HUB_OK;
		}
		if (!SQL_SUCCEEDED(r))
			return stmt_fail(o, "fetching rows", err, err_size);
	}
	if (o->status[o->pos] == SQL_ROW_ERROR) {
		snprintf(err, err_size, "fetching rows: the driver reports an error on row %zu of "
			 "the rowset", o->pos + 1);
		return HUB_ERR_INTERNAL;
	}
	if ((rc = sf_odbc_convert_row(o, err, err_size)) != HUB_OK)
		return rc;
	o->pos++;
	*row = o->cells;
	return HUB_MORE;
}

const struct rp_reader_ops sf_odbc_ops = {
	.open = odbc_open,
	.next = odbc_next,
	.close = odbc_close,
};

hub_rc sf_odbc_check(struct sf_odbc *o, struct rowmap *m, const char *param, char *err,
		     size_t err_size)
{
	hub_rc rc = prepare(o, m, err, err_size);

	if (rc == HUB_OK && o->n_cols == 0)
		rc = execute(o, m, param, err, err_size);
	odbc_close(o);
	return rc;
}

void sf_odbc_set_call(struct sf_odbc *o, struct hub_call *call)
{
	o->call = call;
}

void sf_odbc_free(struct sf_odbc *o)
{
	if (!o)
		return;
	odbc_close(o);
	disconnect(o);
	if (o->env)
		SQLFreeHandle(SQL_HANDLE_ENV, o->env);
	free(o->p_w);
	free(o->p_num);
	free(o->conn);
	free(o->query);
	free(o);
}
