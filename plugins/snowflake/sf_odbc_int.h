/*
 * sf_odbc_int.h - what the files of the odbc transport share (private to
 * them: snowflake.c sees struct sf_odbc only through sf.h):
 *
 *   sf_odbc.c        connecting, diagnostics, running the query (cancelled
 *                    when the hub stops), the reader ops
 *   sf_odbc_param.c  the :cursor parameter, bound with its column's type
 *   sf_odbc_fetch.c  the result's columns, their block-fetch buffers, a
 *                    fetched row as cells
 */
#ifndef SF_ODBC_INT_H
#define SF_ODBC_INT_H

#include "sf.h"

#include <sql.h>
#include <sqlext.h>
#include <stddef.h>

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
	int64_t timeout_ms;  /* query_timeout: a pull's query is cancelled past it */
	int64_t value_max;   /* max_answer_bytes: one value's bytes at most (0: none) */

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
	char *p_num;      /* a NUMBER's text, as long as it is (malloc'd) */
	SQLWCHAR *p_w;
	SQLLEN p_ind;
};

/* ---- sf_odbc.c ------------------------------------------------------------- */

/* "what: SQLSTATE 42P01: message; ..." into err, classified by the first
 * non-warning state. */
hub_rc sf_odbc_diag(SQLSMALLINT htype, SQLHANDLE h, const char *what, char *err, size_t err_size);

/* ---- sf_odbc_param.c ------------------------------------------------------- */

/* Binds `param` (NULL: a first run) to every ? of the prepared statement. */
hub_rc sf_odbc_bind_param(struct sf_odbc *o, const struct rowmap *m, const char *param, char *err,
			  size_t err_size);

/* ---- sf_odbc_fetch.c ------------------------------------------------------- */

void sf_odbc_columns_free(struct sf_odbc *o);
/* The statement's n result columns into o->cols and o->rm_cols. */
hub_rc sf_odbc_describe(struct sf_odbc *o, SQLSMALLINT n, char *err, size_t err_size);
hub_rc sf_odbc_bind_columns(struct sf_odbc *o, size_t batch_hint, char *err, size_t err_size);
hub_rc sf_odbc_convert_row(struct sf_odbc *o, char *err, size_t err_size);

#endif
