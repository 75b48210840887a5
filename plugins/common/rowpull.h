/*
 * rowpull.h - the pull loop every warehouse plugin shares: run the query
 * from the saved cursor, skip the rows at or before it, emit up to
 * `budget` rows, checkpoint the last row's cursor tuple, and keep the
 * result open for the next pull of the same sync (results stream page by
 * page; a page never ends between two rows with the same cursor tuple, and
 * holds at most rowpull_page_rows_max(budget) rows).  Rows out of cursor
 * order, or more tied rows than a page holds, fail the pull (HUB_ERR_CONFIG)
 * before its checkpoint; so does a cursor value no checkpoint can hold (a
 * time outside years 0000..9999, a text that is not UTF-8: HUB_ERR_DATA).
 * A stop that cuts the transport's read (next() answers HUB_ERR_STOPPED)
 * keeps the rows the pull emitted: checkpointed at the last tuple known
 * whole, the pull answers HUB_MORE and the hub commits them as it stops.
 * The transport (ODBC, an HTTP API) only opens a result and hands rows.
 */
#ifndef ROWPULL_H
#define ROWPULL_H

#include "rowmap.h"

/*
 * The common pull keys a warehouse plugin reads through this loop (query,
 * cursor, cursor_start) and rowmap.c (kind, map), for its config table:
 * since ABI 1.13 a pull plugin is handed only those it declares.  With the
 * hub's own types; none required (create() says what is missing).
 */
#define ROWPULL_CONFIG_KEYS                                                             \
	{.name = "query", .type = HUB_CFG_STRING,                                       \
	 .description = "SQL with :cursor, ordered by the cursor columns"},             \
	{.name = "cursor", .type = HUB_CFG_ANY,                                         \
	 .description = "cursor column or list of columns (committed with each page)"}, \
	{.name = "cursor_start", .type = HUB_CFG_STRING,                                \
	 .description = "first cursor (default the start of the column's type)"},       \
	{.name = "kind", .type = HUB_CFG_STRING,                                        \
	 .description = "attributes, events, consent or erase (default events when "    \
			"map.event.name is set, else attributes)"},                     \
	{.name = "map", .type = HUB_CFG_OBJECT,                                         \
	 .description = "record fields -> result columns"}

/* What a transport provides.  `t` is the transport's state. */
struct rp_reader_ops {
	/* Runs the query with :cursor bound to `param` (NULL: the start of
	 * the first cursor column's type, RM_TIME_FIRST for times), binding the
	 * result's columns into `m` (rowmap_bind) as soon as they are known.
	 * `batch_hint`: rows the caller wants per page. */
	hub_rc (*open)(void *t, struct rowmap *m, const char *param, size_t batch_hint,
		       char *err, size_t err_size);
	/* The next row: HUB_MORE with *row set (valid until the next call or
	 * close), HUB_OK at the end of the result, or an error. */
	hub_rc (*next)(void *t, const struct rm_cell **row, char *err, size_t err_size);
	void (*close)(void *t);
};

struct rowpull {
	const struct hub_host *host;
	const struct hub_instance *inst;
	struct rowmap *map;
	const struct rp_reader_ops *ops;
	void *t;
	const char *cursor_start;    /* borrowed from the config, or NULL */

	/* the open result (between two pulls of one sync) */
	int is_open;
	char *resume_cursor;         /* the last checkpoint of this result */
	int64_t last_pull_ms;
	const struct rm_cell *held;  /* read, not yet emitted */
	int is_tie_told;             /* rows tied on the whole cursor: logged once */
};

/* A pull (the plugin's pull() forwards here). */
hub_rc rowpull_pull(struct rowpull *rp, struct hub_call *call, const char *cursor,
		    size_t budget, char *err, size_t err_size);
/* The most rows one page may hold for a budget (a tie may run past the
 * budget, not past this). */
size_t rowpull_page_rows_max(size_t budget);
/* Closes the open result, if any. */
void rowpull_close(struct rowpull *rp);

#endif
