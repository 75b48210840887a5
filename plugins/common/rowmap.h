/*
 * rowmap.h - warehouse rows to canonical records, shared by the warehouse
 * plugins (Snowflake, BigQuery).  Compiled into each plugin (plugin.mk:
 * <name>_SRC_EXTRA := plugins/common/rowmap.c plugins/common/rm_value.c
 * plugins/common/rm_cursor.c plugins/common/rowpull.c), never into the
 * hub: it uses only hub_plugin.h.
 *
 * A transport (ODBC, an HTTP API) reports the result's columns with their
 * types and hands rows over as cells; this module:
 *   - reads the `map`, `kind` and `cursor` config (API.md, "Pull source
 *     details") and binds it to the columns, case-insensitively;
 *   - keeps the cursor tuple: the saved one (rows at or before it are
 *     skipped, comparing every cursor column with its type) and the text
 *     of a row's tuple for checkpoint();
 *   - maps a row to a struct hub_record and emits it, with the message_id
 *     "<source>:<sha256 of the mapped content and the cursor values>", or
 *     "<source>:id:<value>" of the map.message_id column (kind events).
 *   - rewrites the `:cursor` placeholder of a query.
 */
#ifndef ROWMAP_H
#define ROWMAP_H

#include <hub_plugin.h>

#include <stddef.h>
#include <stdint.h>

/* Column types, as the transports map their native ones. */
enum rm_type {
	RM_STRING = 0,
	RM_NUMBER,    /* exact decimal as text: "42", "-0.50" */
	RM_FLOAT,     /* a double */
	RM_BOOL,
	RM_TIMESTAMP, /* an instant: seconds and nanoseconds since the epoch */
	RM_JSON,      /* VARIANT / OBJECT / ARRAY / json: JSON text */
	RM_BYTES,     /* bytes as base64 text (BigQuery's BYTES): a string, but a
		       * cursor value compares by the bytes (base64 does not sort
		       * like them: "/A==" is 0xfc, "gA==" 0x80) */
};

struct rm_column {
	const char *name;
	enum rm_type type;
};

/* One cell.  Borrowed from the transport until its next row. */
struct rm_cell {
	int is_null;
	const char *text;  /* STRING, NUMBER, JSON: NUL-terminated UTF-8 */
	double f;          /* FLOAT */
	int b;             /* BOOL */
	int64_t sec;       /* TIMESTAMP */
	int32_t nsec;
};

enum rm_kind {
	RM_KIND_ATTRIBUTES = 0,
	RM_KIND_EVENTS,
	RM_KIND_CONSENT,
	RM_KIND_ERASE,
};

/* The config as JSON text (host->config_json()), borrowed. */
struct rm_config {
	const char *source;       /* the instance name */
	const char *map_json;     /* object, required */
	const char *kind;         /* NULL: attributes, or events when map.event is set */
	const char *cursor_json;  /* "col" or ["col", "col2"], required */
};

struct rowmap;

/* Reads the config.  Errors name the key: "map.attributes.plan: ...".
 * Returns 0, or -1 with err set. */
int rowmap_new(const struct rm_config *cfg, struct rowmap **out, char *err, size_t err_size);
void rowmap_free(struct rowmap *m);

/* Every attribute the map names is one a profile can hold (the host's
 * attr_key_refusal(), ABI 1.15; an older host: not checked, emit() drops
 * such a name from each record): else -1 with err
 * "map.attributes.<key as written>: <the host's why>". */
int rowmap_attrs_check(const struct rowmap *m, const struct hub_host *host, char *err,
		       size_t err_size);

/* rowmap_new() of an instance's map, kind and cursor keys (borrowed from
 * the host until the instance is destroyed), then rowmap_attrs_check(). */
int rowmap_new_of(const struct hub_host *host, const struct hub_instance *inst,
		  struct rowmap **out, char *err, size_t err_size);

/*
 * Binds to a result's columns: every mapped and cursor column must exist
 * (case-insensitive), else an error names it and lists the columns.
 * Columns nobody mapped are ignored.  May be called again for a new
 * result.  Returns 0 or -1.
 */
int rowmap_bind(struct rowmap *m, const struct rm_column *cols, size_t n, char *err,
		size_t err_size);
/* Column index of the first cursor column (after bind). */
int rowmap_cursor_column(const struct rowmap *m);

/*
 * The saved cursor (the text a checkpoint wrote: a JSON array of strings,
 * one per cursor column), parsed with the bound columns' types; NULL: none
 * (every row is new).  Returns 0, or -1 when it does not fit the columns.
 */
int rowmap_cursor_set(struct rowmap *m, const char *cursor, char *err, size_t err_size);
/* The saved cursor's first value as text (for :cursor), or NULL.  Can be
 * read before any bind. */
char *rowmap_cursor_first(const char *cursor); /* malloc'd */

/*
 * NULLs sort where the query puts them (rm_cursor.c).  A row whose first
 * cursor value is NULL is not "placed": it is always new, compares after
 * the remembered tuple, and is never remembered (never a checkpoint).
 */
int rowmap_row_is_placed(const struct rowmap *m, const struct rm_cell *row);

/* The first cursor column (its index among them) of a placed row whose
 * time is outside years 0000..9999, which no checkpoint text reads back as
 * (rm_time_parse reads four-digit years), or whose float or decimal is
 * NaN, which has no order to resume from, or -1 when there is none. */
int rowmap_row_cursor_out_of_range(const struct rowmap *m, const struct rm_cell *row);
/* The first cursor column (its index among them) of a placed row whose
 * text is not UTF-8, which no checkpoint text (JSON) holds, or -1. */
int rowmap_row_cursor_not_utf8(const struct rowmap *m, const struct rm_cell *row);

/* 1 when the row's cursor tuple is after the saved one (or none is saved,
 * or the row is not placed, or a NULL against a value leaves it unknown). */
int rowmap_row_is_new(const struct rowmap *m, const struct rm_cell *row);

/* The row's tuple remembered (copied) as the last one seen; a row that is
 * not placed leaves it as it was.  A NULL next to a value (equal before
 * it) shows where this result puts that column's NULLs. */
int rowmap_remember(struct rowmap *m, const struct rm_cell *row);
/* Compares the row's tuple with the remembered one: <0, 0, >0; a NULL
 * against a value is >0 unless this result put that column's NULLs on the
 * other side already (then <0: out of order). */
int rowmap_cmp_remembered(const struct rowmap *m, const struct rm_cell *row);
/* 1 when a tuple is remembered. */
int rowmap_has_remembered(const struct rowmap *m);
/* The remembered tuple as cursor text (malloc'd), or NULL (nothing). */
char *rowmap_remembered_text(const struct rowmap *m);
/* The tuple remembered before the remembered one, as cursor text
 * (malloc'd), when its row was after the saved tuple (rowmap_row_is_new):
 * every row up to it has been read, while rows tied with the remembered
 * one may still follow.  NULL: none such (or out of memory). */
char *rowmap_settled_text(const struct rowmap *m);
/* Where this result put cursor column i's NULLs, as far as its rows
 * showed: -1 first, 1 last, 0 not yet. */
int rowmap_cursor_nulls(const struct rowmap *m, size_t i);

/* For messages (after bind).  The cursor columns, as configured: */
size_t rowmap_cursor_n(const struct rowmap *m);
const char *rowmap_cursor_name(const struct rowmap *m, size_t i);
enum rm_type rowmap_cursor_type(const struct rowmap *m, size_t i);
/* Cursor column i of a row, or of the remembered tuple, as cursor text
 * (times RFC 3339); NULL for a NULL value (or nothing remembered).  The
 * result is buf (>= 48 bytes) or borrowed from the row / the map. */
const char *rowmap_row_cursor_text(const struct rowmap *m, const struct rm_cell *row, size_t i,
				   char *buf, size_t size);
const char *rowmap_remembered_cursor_text(const struct rowmap *m, size_t i, char *buf,
					  size_t size);
/* The first cursor column where the row differs from the remembered
 * tuple (the last one when none does). */
size_t rowmap_cursor_first_difference(const struct rowmap *m, const struct rm_cell *row);

/* Maps one row and emits it.  HUB_ERR_DATA: the host refused the record
 * (err says why; the row is skipped); others: stop. */
hub_rc rowmap_emit(struct rowmap *m, const struct hub_host *host, struct hub_call *call,
		   const struct rm_cell *row, char *err, size_t err_size);

/* Whose rules say where quotes and comments are in a query. */
enum rm_dialect {
	RM_SQL_SNOWFLAKE = 0, /* '' and "" doubled, -- and //, slash-star, $$ */
	RM_SQL_BIGQUERY,      /* GoogleSQL's: backslash escapes, ''' and """, `names`, # */
};

/*
 * Rewrites each `:cursor` outside quotes and comments (by the dialect's
 * rules) with `placeholder` ("?"); `*n_found` counts them.  A `?` already
 * in the query is refused (nothing would bind it).  Returns a malloc'd
 * query, or NULL with err set.
 */
char *rowmap_query_rewrite(const char *query, const char *placeholder, enum rm_dialect dialect,
			   int *n_found, char *err, size_t err_size);
/* The length of the query without what ends it: whitespace, semicolons
 * and comments (outside quotes), so that it can be wrapped in a
 * subquery. */
size_t rowmap_query_trimmed_len(const char *query, enum rm_dialect dialect);

/* ---- values --------------------------------------------------------------- */

/* What a first run (no saved cursor, no cursor_start) binds :cursor to for
 * a time column (TIMESTAMP*, DATETIME, DATE), so that `col >= :cursor`
 * reads every row: the first instant of BigQuery's TIMESTAMP, DATETIME and
 * DATE (years 1..9999), also Snowflake's, before every date a saved cursor
 * holds but year 0000 (which neither warehouse documents).  Written as
 * rm_time_format writes a saved cursor, so a warehouse reads both alike. */
#define RM_TIME_FIRST "0001-01-01T00:00:00.000000000Z"

/* "2026-01-02T03:04:05.123456789Z", "2026-01-02 03:04:05+02:00",
 * "2026-01-02" -> seconds and nanoseconds.  Returns 0 or -1. */
int rm_time_parse(const char *s, int64_t *sec, int32_t *nsec);
/* Formats as "2026-01-02T03:04:05.123456789Z" (buf >= 40); returns buf. */
char *rm_time_format(int64_t sec, int32_t nsec, char *buf, size_t size);
/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t rm_days_from_civil(int64_t y, int m, int d);
void rm_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
/* Compares two decimal strings numerically: <0, 0, >0. */
int rm_decimal_cmp(const char *a, const char *b);
/* Compares the bytes two base64 texts encode: <0, 0, >0 (a prefix first);
 * text that is not base64 compares as text, after every base64 value. */
int rm_base64_cmp(const char *a, const char *b);

#endif
