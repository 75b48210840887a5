/*
 * sf_odbc.c - transport odbc: the query through unixODBC.
 *
 * The query is prepared with ? for :cursor and the cursor value is bound
 * with SQLBindParameter, typed after the first cursor column (never
 * interpolated into the SQL); a first run binds the start of its type
 * (0001-01-01 for times and dates, RM_TIME_FIRST; the lowest number, false,
 * "").  Results are read with column-wise binding and block fetches
 * (SQL_ATTR_ROW_ARRAY_SIZE rows per SQLFetch): one buffer per column, sized
 * once, so memory stays flat whatever the table size.  Strings travel as
 * UTF-16 (SQL_C_WCHAR: no dependence on the process locale) and are turned
 * into UTF-8 here; DECIMAL / NUMERIC as text (SQL_C_CHAR, NUMBER_WIDTH
 * bytes).  A value longer than its bound buffer (rare: buffers follow the
 * declared column size; a NUMERIC past 71 digits) is fetched whole with
 * SQLGetData on that row only, never cut.
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
 * hub waits for the pull, and the query may run for minutes.
 *
 * Session: timestamps are read in UTC (ALTER SESSION on Snowflake, SET TIME
 * ZONE on PostgreSQL), so TIMESTAMP_LTZ/TZ values are the instants they
 * name.
 */
#include "sf.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sql.h>
#include <sqlext.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STRING_CAP_CHARS 2048   /* a string column's buffer, at most */
#define JSON_CAP_CHARS 16384    /* a VARIANT / json column's buffer, at most */
#define MIN_CAP_CHARS 256       /* at least (drivers under-report some sizes) */
#define NUMBER_WIDTH 72
#define ROWS_MAX 1024
#define BUFFER_BUDGET (32u << 20) /* bytes of all column buffers */
#define LOGIN_TIMEOUT_S 30
#define STOP_POLL_MS 50         /* how often a running query looks for a stop */
#define CANCEL_AGAIN_POLLS 10   /* a stopped query is cancelled again every 0.5 s */

/* Snowflake's own SQL types (its ODBC driver reports them for these). */
#define SF_SQL_TIMESTAMP_LTZ 2000
#define SF_SQL_TIMESTAMP_TZ 2001
#define SF_SQL_TIMESTAMP_NTZ 2002
#define SF_SQL_ARRAY 2003
#define SF_SQL_OBJECT 2004
#define SF_SQL_VARIANT 2005

struct ocol {
	char name[256];
	SQLSMALLINT sql_type;
	SQLULEN size;
	SQLSMALLINT digits;
	enum rm_type type;
	SQLSMALLINT c_type;
	SQLLEN width;        /* bytes of one row in data */
	char *data;          /* rows * width */
	SQLLEN *ind;         /* rows */
	char *text;          /* the current row's value as UTF-8 */
	size_t text_cap;
};

struct sf_odbc {
	const struct hub_host *host;
	const struct hub_instance *inst;
	char *conn;          /* a secret: never in a message */
	char *query;
	int n_params;

	SQLHENV env;
	SQLHDBC dbc;
	int is_connected;
	SQLHSTMT stmt;       /* the open result's; NULL when closed */
	struct hub_call *call; /* during a pull: should_stop() (its thread only) */

	struct ocol *cols;
	SQLSMALLINT n_cols;
	struct rm_column *rm_cols;
	struct rm_cell *cells;
	size_t rows;         /* the row array size */
	SQLULEN n_fetched;
	SQLUSMALLINT *status;
	size_t pos;          /* next row of the rowset */
	int is_end;

	/* the bound :cursor value (every ? shares it) */
	SQL_TIMESTAMP_STRUCT p_ts;
	SQLBIGINT p_int;
	double p_f;
	float p_f4;
	unsigned char p_bit;
	char p_num[80];
	SQLWCHAR *p_w;
	SQLLEN p_ind;
};

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
 * the source; the rest as classify(). */
static hub_rc classify_connect(const char *state, SQLINTEGER native, const char *msg)
{
	if (is_refused_login(native, msg) || strcmp(state, "08004") == 0)
		return HUB_ERR_AUTH;
	return classify(state);
}

/* "what: SQLSTATE 42P01: message; ..." into err; the class of the first
 * non-warning state (classify_connect() when is_connect, else classify()).
 * Line breaks in driver messages become spaces. */
static hub_rc diag_as(SQLSMALLINT htype, SQLHANDLE h, const char *what, int is_connect,
		      char *err, size_t err_size)
{
	SQLCHAR state[6], msg[512];
	SQLINTEGER native;
	SQLSMALLINT len;
	size_t used;
	hub_rc rc = HUB_ERR_INTERNAL;
	int has_class = 0;

	used = (size_t)snprintf(err, err_size, "%s", what);
	for (SQLSMALLINT i = 1; i <= 3 && used < err_size; i++) {
		if (!SQL_SUCCEEDED(
			    SQLGetDiagRec(htype, h, i, state, &native, msg, sizeof(msg), &len)))
			break;
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
	if (!has_class && used < err_size)
		snprintf(err + used, err_size - used, ": no diagnostics from the driver");
	return rc;
}

static hub_rc diag(SQLSMALLINT htype, SQLHANDLE h, const char *what, char *err, size_t err_size)
{
	return diag_as(htype, h, what, 0, err, err_size);
}

/* ---- UTF-16 <-> UTF-8 ---------------------------------------------------------------- */

static size_t utf8_put(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* n UTF-16 units -> NUL-terminated UTF-8 in *out (grown); -1: no memory.
 * A lone surrogate becomes U+FFFD. */
static int utf16_to_utf8(const SQLWCHAR *w, size_t n, char **out, size_t *cap)
{
	size_t need = n * 3 + 1, len = 0;

	if (need > *cap) {
		char *p = realloc(*out, need);
		if (!p)
			return -1;
		*out = p;
		*cap = need;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned cp = w[i];
		if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && w[i + 1] >= 0xDC00 &&
		    w[i + 1] <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (w[i + 1] - 0xDC00u);
			i++;
		} else if (cp >= 0xD800 && cp <= 0xDFFF) {
			cp = 0xFFFD;
		}
		len += utf8_put(*out + len, cp);
	}
	(*out)[len] = '\0';
	return 0;
}

/* UTF-8 -> NUL-terminated UTF-16 (malloc'd); *units without the NUL. */
static SQLWCHAR *utf8_to_utf16(const char *s, size_t *units)
{
	size_t n = strlen(s), k = 0;
	SQLWCHAR *w = malloc((n + 1) * 2 * sizeof(*w));
	const unsigned char *p = (const unsigned char *)s;

	if (!w)
		return NULL;
	while (*p) {
		unsigned cp = *p, extra = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0 ? 1 : 0;
		if (extra)
			cp &= 0x3F >> extra;
		p++;
		for (unsigned i = 0; i < extra && (*p & 0xC0) == 0x80; i++)
			cp = cp << 6 | (*p++ & 0x3F);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			w[k++] = (SQLWCHAR)(0xD800 + (cp >> 10));
			w[k++] = (SQLWCHAR)(0xDC00 + (cp & 0x3FF));
		} else {
			w[k++] = (SQLWCHAR)cp;
		}
	}
	w[k] = 0;
	*units = k;
	return w;
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
		diag(SQL_HANDLE_STMT, st, "setting the session time zone to UTC", why, sizeof(why));
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

/* ---- columns ------------------------------------------------------------------------------ */

static int is_json_type_name(const char *name)
{
	static const char *const names[] = {"variant", "object", "array", "json", "jsonb"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Picks the rowmap type, the C type to bind and the buffer width. */
static void column_kind(struct ocol *c, const char *type_name)
{
	size_t chars;

	c->c_type = SQL_C_WCHAR;
	c->type = RM_STRING;
	switch (c->sql_type) {
	case SQL_DECIMAL:
	case SQL_NUMERIC:
		c->type = RM_NUMBER;
		c->c_type = SQL_C_CHAR;
		c->width = NUMBER_WIDTH;
		return;
	case SQL_TINYINT:
	case SQL_SMALLINT:
	case SQL_INTEGER:
	case SQL_BIGINT:
		c->type = RM_NUMBER;
		c->c_type = SQL_C_SBIGINT;
		c->width = sizeof(SQLBIGINT);
		return;
	case SQL_REAL:
	case SQL_FLOAT:
	case SQL_DOUBLE:
		c->type = RM_FLOAT;
		c->c_type = SQL_C_DOUBLE;
		c->width = sizeof(double);
		return;
	case SQL_BIT:
		c->type = RM_BOOL;
		c->c_type = SQL_C_BIT;
		c->width = 1;
		return;
	case SQL_TYPE_TIMESTAMP:
	case SQL_TIMESTAMP:
	case SQL_TYPE_DATE:
	case SQL_DATE:
	case SF_SQL_TIMESTAMP_LTZ:
	case SF_SQL_TIMESTAMP_TZ:
	case SF_SQL_TIMESTAMP_NTZ:
		c->type = RM_TIMESTAMP;
		c->c_type = SQL_C_TYPE_TIMESTAMP;
		c->width = sizeof(SQL_TIMESTAMP_STRUCT);
		return;
	case SF_SQL_ARRAY:
	case SF_SQL_OBJECT:
	case SF_SQL_VARIANT:
		c->type = RM_JSON;
		break;
	default:
		if (is_json_type_name(type_name))
			c->type = RM_JSON;
	}
	chars = c->type == RM_JSON ? JSON_CAP_CHARS : STRING_CAP_CHARS;
	if (c->size > 0 && c->size < chars)
		chars = c->size;
	if (chars < MIN_CAP_CHARS)
		chars = MIN_CAP_CHARS;
	c->width = (SQLLEN)((chars + 1) * sizeof(SQLWCHAR));
}

static void columns_free(struct sf_odbc *o)
{
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		free(o->cols[i].data);
		free(o->cols[i].ind);
		free(o->cols[i].text);
	}
	free(o->cols);
	free(o->rm_cols);
	free(o->cells);
	free(o->status);
	o->cols = NULL;
	o->rm_cols = NULL;
	o->cells = NULL;
	o->status = NULL;
	o->n_cols = 0;
}

static hub_rc describe(struct sf_odbc *o, SQLSMALLINT n, char *err, size_t err_size)
{
	columns_free(o);
	o->cols = calloc((size_t)n, sizeof(*o->cols));
	o->rm_cols = calloc((size_t)n, sizeof(*o->rm_cols));
	o->cells = calloc((size_t)n, sizeof(*o->cells));
	if (!o->cols || !o->rm_cols || !o->cells) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	o->n_cols = n;
	for (SQLSMALLINT i = 0; i < n; i++) {
		struct ocol *c = &o->cols[i];
		SQLCHAR type_name[64] = "";
		SQLSMALLINT len, nullable;

		if (!SQL_SUCCEEDED(SQLDescribeCol(o->stmt, (SQLUSMALLINT)(i + 1),
						  (SQLCHAR *)c->name, sizeof(c->name), &len,
						  &c->sql_type, &c->size, &c->digits, &nullable)))
			return diag(SQL_HANDLE_STMT, o->stmt, "describing the result", err,
				    err_size);
		SQLColAttribute(o->stmt, (SQLUSMALLINT)(i + 1), SQL_DESC_TYPE_NAME, type_name,
				sizeof(type_name), &len, NULL);
		column_kind(c, (char *)type_name);
		o->rm_cols[i].name = c->name;
		o->rm_cols[i].type = c->type;
	}
	return HUB_OK;
}

/* Buffers for `rows` rows per fetch, bound to the statement. */
static hub_rc bind_columns(struct sf_odbc *o, size_t batch_hint, char *err, size_t err_size)
{
	size_t row_bytes = 0;

	for (SQLSMALLINT i = 0; i < o->n_cols; i++)
		row_bytes += (size_t)o->cols[i].width + sizeof(SQLLEN);
	o->rows = batch_hint < ROWS_MAX ? (batch_hint ? batch_hint : 1) : ROWS_MAX;
	if (row_bytes && o->rows > BUFFER_BUDGET / row_bytes)
		o->rows = BUFFER_BUDGET / row_bytes ? BUFFER_BUDGET / row_bytes : 1;
	if (!(o->status = calloc(o->rows, sizeof(*o->status))))
		goto nomem;
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		struct ocol *c = &o->cols[i];
		if (!(c->data = malloc(o->rows * (size_t)c->width)) ||
		    !(c->ind = calloc(o->rows, sizeof(*c->ind))))
			goto nomem;
	}
	if (!SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROW_BIND_TYPE,
					  (SQLPOINTER)SQL_BIND_BY_COLUMN, 0)) ||
	    !SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROW_ARRAY_SIZE,
					  (SQLPOINTER)(uintptr_t)o->rows, 0)) ||
	    !SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROWS_FETCHED_PTR, &o->n_fetched, 0)) ||
	    !SQL_SUCCEEDED(SQLSetStmtAttr(o->stmt, SQL_ATTR_ROW_STATUS_PTR, o->status, 0)))
		return diag(SQL_HANDLE_STMT, o->stmt, "setting up block fetch", err, err_size);
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		struct ocol *c = &o->cols[i];
		if (!SQL_SUCCEEDED(SQLBindCol(o->stmt, (SQLUSMALLINT)(i + 1), c->c_type, c->data,
					      c->width, c->ind)))
			return diag(SQL_HANDLE_STMT, o->stmt, "binding a column", err, err_size);
	}
	return HUB_OK;
nomem:
	snprintf(err, err_size, "out of memory");
	return HUB_ERR_NOMEM;
}

/* ---- the :cursor parameter ----------------------------------------------------------------- */

static void ts_from_instant(SQL_TIMESTAMP_STRUCT *ts, int64_t sec, int32_t nsec)
{
	int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400, rem = sec - days * 86400, y;
	int m, d;

	rm_civil_from_days(days, &y, &m, &d);
	ts->year = (SQLSMALLINT)y;
	ts->month = (SQLUSMALLINT)m;
	ts->day = (SQLUSMALLINT)d;
	ts->hour = (SQLUSMALLINT)(rem / 3600);
	ts->minute = (SQLUSMALLINT)(rem / 60 % 60);
	ts->second = (SQLUSMALLINT)(rem % 60);
	ts->fraction = (SQLUINTEGER)nsec;
}

/* A first run's :cursor for a number column: the lowest BIGINT for an
 * integer column, else the lowest double, which a DECIMAL of any precision
 * and scale compares with (a DECIMAL would have to fit the column's own). */
static void param_lowest_number(struct sf_odbc *o, const struct ocol *c, SQLSMALLINT *ctype,
				SQLSMALLINT *stype, SQLPOINTER *ptr)
{
	if (c->c_type == SQL_C_SBIGINT) {
		o->p_int = INT64_MIN;
		*ctype = SQL_C_SBIGINT;
		*stype = SQL_BIGINT;
		*ptr = &o->p_int;
		return;
	}
	o->p_f = -DBL_MAX;
	*ctype = SQL_C_DOUBLE;
	*stype = SQL_DOUBLE;
	*ptr = &o->p_f;
}

/* Fills the parameter buffers from `param` (NULL: the type's start:
 * RM_TIME_FIRST for times, the lowest number, false, "") as the type of
 * column c (NULL: text).  Sets the ODBC types. */
static hub_rc param_value(struct sf_odbc *o, const struct ocol *c, const char *param,
			  SQLSMALLINT *ctype, SQLSMALLINT *stype, SQLULEN *size,
			  SQLSMALLINT *digits, SQLPOINTER *ptr, SQLLEN *len, char *err,
			  size_t err_size)
{
	enum rm_type type = c ? c->type : RM_STRING;
	int64_t sec = 0;
	int32_t nsec = 0;
	size_t units;

	*size = 0;
	*digits = 0;
	*len = 0;
	switch (type) {
	case RM_TIMESTAMP:
		if (rm_time_parse(param ? param : RM_TIME_FIRST, &sec, &nsec))
			goto bad;
		ts_from_instant(&o->p_ts, sec, nsec);
		*ctype = SQL_C_TYPE_TIMESTAMP;
		*stype = SQL_TYPE_TIMESTAMP;
		*digits = nsec % 1000 ? 9 : 6;
		*size = 20 + (SQLULEN)*digits;
		*ptr = &o->p_ts;
		return HUB_OK;
	case RM_NUMBER:
		if (!param) {
			param_lowest_number(o, c, ctype, stype, ptr);
			return HUB_OK;
		}
		snprintf(o->p_num, sizeof(o->p_num), "%s", param);
		if (c->c_type == SQL_C_SBIGINT) {
			char *end;
			o->p_int = strtoll(o->p_num, &end, 10);
			if (*end)
				goto bad;
			*ctype = SQL_C_SBIGINT;
			*stype = SQL_BIGINT;
			*ptr = &o->p_int;
			return HUB_OK;
		}
		*ctype = SQL_C_CHAR;
		*stype = c->sql_type;
		*size = c->size ? c->size : 38;
		*digits = c->digits;
		*ptr = o->p_num;
		*len = (SQLLEN)strlen(o->p_num);
		o->p_ind = *len;
		return HUB_OK;
	case RM_FLOAT:
		o->p_f = param ? strtod(param, NULL) : -DBL_MAX;
		if (c->sql_type == SQL_REAL && fabs(o->p_f) <= FLT_MAX) {
			/* a single-precision column is compared with its own
			 * type: as a double, the cursor 0.7 is above the
			 * column's 0.7 (0.69999998...), and rows sharing it
			 * were left out of the next run */
			o->p_f4 = (float)o->p_f;
			*ctype = SQL_C_FLOAT;
			*stype = SQL_REAL;
			*ptr = &o->p_f4;
			return HUB_OK;
		}
		*ctype = SQL_C_DOUBLE;
		*stype = SQL_DOUBLE;
		*ptr = &o->p_f;
		return HUB_OK;
	case RM_BOOL:
		o->p_bit = param && strcmp(param, "true") == 0;
		*ctype = SQL_C_BIT;
		*stype = SQL_BIT;
		*ptr = &o->p_bit;
		return HUB_OK;
	default:
		free(o->p_w);
		if (!(o->p_w = utf8_to_utf16(param ? param : "", &units))) {
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		*ctype = SQL_C_WCHAR;
		*stype = SQL_WVARCHAR;
		*size = units ? units : 1;
		*ptr = o->p_w;
		*len = (SQLLEN)(units * sizeof(SQLWCHAR));
		o->p_ind = *len;
		return HUB_OK;
	}
bad:
	snprintf(err, err_size,
		 "the cursor value \"%.100s\" does not read as the type of column %s", param,
		 c->name);
	return HUB_ERR_CONFIG;
}

static hub_rc bind_param(struct sf_odbc *o, const struct rowmap *m, const char *param, char *err,
			 size_t err_size)
{
	int idx = o->n_cols ? rowmap_cursor_column(m) : -1;
	const struct ocol *c = idx >= 0 ? &o->cols[idx] : NULL;
	SQLSMALLINT ctype, stype, digits;
	SQLULEN size;
	SQLPOINTER ptr;
	SQLLEN len;
	hub_rc rc;

	rc = param_value(o, c, param, &ctype, &stype, &size, &digits, &ptr, &len, err, err_size);
	if (rc != HUB_OK)
		return rc;
	if (ctype != SQL_C_CHAR && ctype != SQL_C_WCHAR)
		o->p_ind = 0;
	for (int i = 1; i <= o->n_params; i++)
		if (!SQL_SUCCEEDED(SQLBindParameter(o->stmt, (SQLUSMALLINT)i, SQL_PARAM_INPUT,
						    ctype, stype, size, digits, ptr, len,
						    &o->p_ind)))
			return diag(SQL_HANDLE_STMT, o->stmt, "binding :cursor", err, err_size);
	return HUB_OK;
}

/* ---- the result -------------------------------------------------------------------------- */

static void odbc_close(void *t)
{
	struct sf_odbc *o = t;

	if (o->stmt)
		SQLFreeHandle(SQL_HANDLE_STMT, o->stmt);
	o->stmt = NULL;
	columns_free(o);
	o->n_fetched = o->pos = 0;
	o->is_end = 0;
}

/* A failed call on the statement: its diagnostics; a broken connection
 * is dropped so the next open connects again. */
static hub_rc stmt_fail(struct sf_odbc *o, const char *what, char *err, size_t err_size)
{
	hub_rc rc = diag(SQL_HANDLE_STMT, o->stmt, what, err, err_size);

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
		rc = diag(SQL_HANDLE_DBC, o->dbc, "allocating a statement", err, err_size);
		disconnect(o);
		return rc;
	}
	if (!SQL_SUCCEEDED(SQLPrepare(o->stmt, (SQLCHAR *)o->query, SQL_NTS)))
		return stmt_fail(o, "preparing the query", err, err_size);
	if (SQL_SUCCEEDED(SQLNumResultCols(o->stmt, &n)) && n > 0) {
		if ((rc = describe(o, n, err, err_size)) != HUB_OK ||
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

/* SQLExecute, cancelled (SQLCancel, which ODBC allows from another thread
 * while the statement executes) when the hub stops during a pull: the
 * query may run for minutes, and the hub waits for the pull.  The cancel
 * is sent again every 0.5 s until SQLExecute returns: one sent before the
 * driver is executing (still connecting or preparing) is a no-op.
 * *is_stopped says it was.  Outside a pull (check --connect), or without a thread,
 * a plain SQLExecute. */
static SQLRETURN execute_stoppable(struct sf_odbc *o, int *is_stopped)
{
	struct exec_job j = {.stmt = o->stmt};
	struct timespec deadline;
	pthread_t t;

	*is_stopped = 0;
	if (!o->call)
		return SQLExecute(o->stmt);
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	if (pthread_create(&t, NULL, exec_thread, &j) != 0) {
		j.r = SQLExecute(o->stmt);
		goto out;
	}
	pthread_mutex_lock(&j.lock);
	for (int polls = 0; !j.is_done; polls++) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += STOP_POLL_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&j.cond, &j.lock, &deadline);
		if (j.is_done)
			continue;
		if (*is_stopped ? polls % CANCEL_AGAIN_POLLS != 0 : !o->host->should_stop(o->call))
			continue;
		pthread_mutex_unlock(&j.lock);
		SQLCancel(o->stmt);
		*is_stopped = 1;
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
	int is_stopped;
	hub_rc rc;

	if ((rc = bind_param(o, m, param, err, err_size)) != HUB_OK) {
		odbc_close(o);
		return rc;
	}
	r = execute_stoppable(o, &is_stopped);
	if (is_stopped) { /* nothing read: the next run reads it */
		snprintf(err, err_size, "stopped while the query ran (cancelled)");
		odbc_close(o);
		return HUB_ERR_STOPPED;
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
	if ((rc = describe(o, n, err, err_size)) != HUB_OK ||
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
	if ((rc = bind_columns(o, batch_hint, err, err_size)) != HUB_OK)
		odbc_close(o);
	return rc;
}

/* c->text = the n bytes at s, NUL-terminated.  0 or -1 (out of memory). */
static int text_set(struct ocol *c, const char *s, size_t n)
{
	char *p;

	if (n + 1 > c->text_cap) {
		if (!(p = realloc(c->text, n + 1)))
			return -1;
		c->text = p;
		c->text_cap = n + 1;
	}
	memcpy(c->text, s, n);
	c->text[n] = '\0';
	return 0;
}

/* A value longer than its buffer (a string, or a DECIMAL / NUMERIC as
 * text): this row's value, whole, with SQLGetData in the column's C type
 * (the driver must support it on block cursors), into c->text as UTF-8. */
static hub_rc fetch_whole(struct sf_odbc *o, SQLSMALLINT i, char *err, size_t err_size)
{
	struct ocol *c = &o->cols[i];
	size_t unit = c->c_type == SQL_C_CHAR ? 1 : sizeof(SQLWCHAR); /* bytes a character */
	size_t cap = (size_t)c->width / unit * 4, used = 0;           /* in characters */
	char *buf = NULL, *grown;
	SQLLEN ind;
	SQLRETURN r;
	hub_rc rc = HUB_OK;

	if (!SQL_SUCCEEDED(SQLSetPos(o->stmt, (SQLSETPOSIROW)(o->pos + 1), SQL_POSITION,
				     SQL_LOCK_NO_CHANGE)))
		goto unsupported;
	for (;;) {
		if (!(grown = realloc(buf, cap * unit))) {
			free(buf);
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		buf = grown;
		r = SQLGetData(o->stmt, (SQLUSMALLINT)(i + 1), c->c_type, buf + used * unit,
			       (SQLLEN)((cap - used) * unit), &ind);
		if (r == SQL_SUCCESS_WITH_INFO && (ind == SQL_NO_TOTAL ||
						   (size_t)ind >= (cap - used) * unit)) {
			used = cap - 1; /* the part read, without its NUL */
			cap *= 2;
			continue;
		}
		if (!SQL_SUCCEEDED(r))
			goto unsupported;
		used += ind > 0 ? (size_t)ind / unit : 0;
		break;
	}
	if (unit == 1 ? text_set(c, buf, used)
		      : utf16_to_utf8((SQLWCHAR *)(void *)buf, used, &c->text, &c->text_cap)) {
		snprintf(err, err_size, "out of memory");
		rc = HUB_ERR_NOMEM;
	}
	free(buf);
	return rc;
unsupported:
	free(buf);
	snprintf(err, err_size, "column %s: a value longer than %zu characters, which the driver "
		 "cannot fetch whole: cast it shorter in the query", c->name,
		 (size_t)c->width / unit - 1);
	return HUB_ERR_CONFIG;
}

static void format_int(struct ocol *c, SQLBIGINT v)
{
	if (!c->text && !(c->text = malloc(c->text_cap = 24)))
		return;
	snprintf(c->text, c->text_cap, "%lld", (long long)v);
}

/* Fills o->cells from row o->pos of the rowset. */
static hub_rc convert_row(struct sf_odbc *o, char *err, size_t err_size)
{
	for (SQLSMALLINT i = 0; i < o->n_cols; i++) {
		struct ocol *c = &o->cols[i];
		struct rm_cell *cell = &o->cells[i];
		char *v = c->data + o->pos * (size_t)c->width;
		SQLLEN ind = c->ind[o->pos];
		const SQL_TIMESTAMP_STRUCT *ts;
		hub_rc rc;

		memset(cell, 0, sizeof(*cell));
		if ((cell->is_null = ind == SQL_NULL_DATA))
			continue;
		switch (c->c_type) {
		case SQL_C_WCHAR:
			if (ind == SQL_NO_TOTAL || ind > c->width - (SQLLEN)sizeof(SQLWCHAR)) {
				if ((rc = fetch_whole(o, i, err, err_size)) != HUB_OK)
					return rc;
			} else if (utf16_to_utf8((SQLWCHAR *)v, (size_t)ind / sizeof(SQLWCHAR),
						 &c->text, &c->text_cap)) {
				snprintf(err, err_size, "out of memory");
				return HUB_ERR_NOMEM;
			}
			cell->text = c->text;
			break;
		case SQL_C_CHAR: /* DECIMAL, NUMERIC: digits, NUL-terminated by the driver */
			if (ind == SQL_NO_TOTAL || ind >= c->width) { /* cut: fetch it whole */
				if ((rc = fetch_whole(o, i, err, err_size)) != HUB_OK)
					return rc;
				cell->text = c->text;
			} else {
				cell->text = v;
			}
			break;
		case SQL_C_SBIGINT:
			format_int(c, *(SQLBIGINT *)v);
			cell->text = c->text ? c->text : "0";
			break;
		case SQL_C_DOUBLE:
			memcpy(&cell->f, v, sizeof(double));
			break;
		case SQL_C_BIT:
			cell->b = *(unsigned char *)v != 0;
			break;
		default:
			ts = (const SQL_TIMESTAMP_STRUCT *)v;
			cell->sec = rm_days_from_civil(ts->year, ts->month, ts->day) * 86400 +
				    ts->hour * 3600 + ts->minute * 60 + ts->second;
			cell->nsec = (int32_t)ts->fraction;
		}
	}
	return HUB_OK;
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
	if ((rc = convert_row(o, err, err_size)) != HUB_OK)
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
	free(o->conn);
	free(o->query);
	free(o);
}
