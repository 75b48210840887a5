/*
 * rowpull.c - the shared pull loop of the warehouse plugins (rowpull.h).
 *
 * The query binds `>=` on the first cursor column; rows at or before the
 * saved tuple (all cursor columns, typed) are skipped, so rows sharing a
 * timestamp across a page or run boundary are neither lost nor applied
 * twice, provided the tuple is unique per row: a row written later with a
 * saved tuple that is not is skipped (rows tied on the whole tuple log a
 * warning saying so, once per source and process).  A page ends only
 * where the next row's tuple differs from the last emitted one: the
 * checkpoint then names a tuple no later row shares.
 *
 * Both rules hold only when the rows arrive ascending in the plugin's own
 * comparison (rm_cursor.c: strings bytewise).  A row whose tuple sorts
 * before the previous row's (say, a query ordering strings by a locale
 * collation) fails the pull before its page is checkpointed, as does a run
 * of tied rows longer than a page may grow, or a cursor time outside years
 * 0000..9999 or a cursor text that is not UTF-8 (no checkpoint text of
 * either reads back): the hub then drops the page and keeps the cursor,
 * rather than skip rows silently, hold them all, or save a cursor that
 * fails every later sync.
 *
 * A row whose first cursor value is NULL (a query with `OR updated_at IS
 * NULL`) has no place in the cursor order: it is emitted every time it is
 * read (the hub drops the repeats by their message_id), takes no part in
 * the order check, and never becomes the checkpoint, which stays at the
 * last tuple with a value (or, none yet, the saved one).  A page may end
 * only where there is such a checkpoint to give.
 *
 * The result stays open between pulls of one sync and is reused when the
 * next pull comes soon with the cursor this one checkpointed; anything else
 * (a retry from an older cursor, a new sync) runs the query again.
 *
 * A stop asked while the transport reads (a page or partition in transit,
 * dropped: HUB_ERR_STOPPED from next()) does not drop the rows this pull
 * emitted before it: they are kept, checkpointed at the last tuple known
 * whole (keep_cut_page), so that the next run does not read them again.
 */
#include "rowpull.h"
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESUME_MAX_MS 30000 /* an open result older than this is not reused */

/*
 * A page holds at most max(PAGE_ROWS_PER_BUDGET x the budget, PAGE_ROWS_MIN)
 * rows.  It may end only where the cursor tuple changes, so without a cap a
 * run of tied rows would grow the page, and the hub's intake transaction
 * that holds it, without limit (800,000 tied rows took 551 MB).  Ten pages'
 * worth leaves room for ordinary ties at any page_size; the floor keeps a
 * small page_size from failing on ties of a few thousand rows, and 100,000
 * records stay within tens of MB.
 */
#define PAGE_ROWS_PER_BUDGET 10
#define PAGE_ROWS_MIN 100000

void rowpull_close(struct rowpull *rp)
{
	if (rp->is_open)
		rp->ops->close(rp->t);
	rp->is_open = 0;
	rp->held = NULL;
	free(rp->resume_cursor);
	rp->resume_cursor = NULL;
}

static int can_resume(const struct rowpull *rp, const char *cursor, int64_t now)
{
	return rp->is_open && cursor && rp->resume_cursor &&
	       strcmp(cursor, rp->resume_cursor) == 0 && now - rp->last_pull_ms <= RESUME_MAX_MS;
}

static hub_rc open_result(struct rowpull *rp, const char *cursor, size_t budget, char *err,
			  size_t err_size)
{
	char *param = cursor ? rowmap_cursor_first(cursor) : NULL;
	hub_rc rc;

	rowpull_close(rp);
	if (cursor && !param) {
		snprintf(err, err_size, "the saved cursor %.200s is not a cursor of this plugin: "
			 "run once with --full", cursor);
		return HUB_ERR_CONFIG;
	}
	rc = rp->ops->open(rp->t, rp->map, param ? param : rp->cursor_start, budget, err,
			   err_size);
	free(param);
	if (rc != HUB_OK)
		return rc;
	rp->is_open = 1;
	if (rowmap_cursor_set(rp->map, cursor, err, err_size)) {
		rowpull_close(rp);
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

size_t rowpull_page_rows_max(size_t budget)
{
	if (budget > SIZE_MAX / PAGE_ROWS_PER_BUDGET)
		return SIZE_MAX;
	return budget * PAGE_ROWS_PER_BUDGET > PAGE_ROWS_MIN ? budget * PAGE_ROWS_PER_BUDGET
							     : PAGE_ROWS_MIN;
}

/* A cursor value for a message: "text" quoted, NULL bare. */
static void quote_value(const char *v, char *out, size_t size)
{
	if (v)
		snprintf(out, size, "\"%.100s\"", v);
	else
		snprintf(out, size, "NULL");
}

/* "a, b": the cursor columns as configured. */
static void cursor_names(const struct rowmap *m, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < rowmap_cursor_n(m) && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%.60s", i ? ", " : "",
					rowmap_cursor_name(m, i));
}

/* How to sort cursor column `col` in byte order, for a message: only
 * string columns depend on a collation. */
static void byte_order_hint(const struct rowmap *m, size_t i, char *out, size_t size)
{
	const char *col = rowmap_cursor_name(m, i);

	if (rowmap_cursor_type(m, i) != RM_STRING) {
		out[0] = '\0';
		return;
	}
	snprintf(out, size, ", strings in byte order, in ORDER BY and in the comparison with "
		 ":cursor (PostgreSQL: %.60s COLLATE \"C\"; Snowflake: COLLATE(%.60s, 'utf8'); "
		 "BigQuery: no collation, or CAST(%.60s AS BYTES))", col, col, col);
}

/* Rows out of order over a NULL: the NULLs of one column must all sort on
 * the side where this result put them first. */
static const char *nulls_hint(const struct rowmap *m, size_t i, int has_values)
{
	if (has_values)
		return "";
	return rowmap_cursor_nulls(m, i) < 0 ? ", NULLS FIRST" : ", NULLS LAST";
}

/* The row sorts before the one read just before it: with rows out of
 * order, skipping at the saved cursor would lose rows on the next run. */
static hub_rc order_failed(const struct rowpull *rp, const struct rm_cell *row, char *err,
			   size_t err_size)
{
	const struct rowmap *m = rp->map;
	size_t i = rowmap_cursor_first_difference(m, row);
	char buf_a[48], buf_b[48], was[110], now[110], names[200], hint[384];
	const char *a = rowmap_remembered_cursor_text(m, i, buf_a, sizeof(buf_a));
	const char *b = rowmap_row_cursor_text(m, row, i, buf_b, sizeof(buf_b));

	quote_value(a, was, sizeof(was));
	quote_value(b, now, sizeof(now));
	cursor_names(m, names, sizeof(names));
	byte_order_hint(m, i, hint, sizeof(hint));
	snprintf(err, err_size,
		 "the query's rows are not in cursor order: cursor column %.60s went from %s back "
		 "to %s.  The query must ORDER BY the cursor columns (%s) ascending%s%s, or rows "
		 "are skipped",
		 rowmap_cursor_name(m, i), was, now, names, hint, nulls_hint(m, i, a && b));
	return HUB_ERR_CONFIG;
}

/* A cursor time outside years 0000..9999: its checkpoint would never read
 * back (not even after --full, which would write it again); a cursor NaN:
 * every row would compare equal to it. */
static hub_rc range_failed(const struct rowpull *rp, const struct rm_cell *row, size_t i,
			   char *err, size_t err_size)
{
	const struct rowmap *m = rp->map;
	char buf[48];
	const char *v;

	if (rowmap_cursor_type(m, i) == RM_FLOAT || rowmap_cursor_type(m, i) == RM_NUMBER) {
		snprintf(err, err_size,
			 "cursor column %.60s: NaN has no order, so a sync cannot resume after it: "
			 "leave such rows out of the query (or correct them)",
			 rowmap_cursor_name(m, i));
		return HUB_ERR_DATA;
	}
	v = rowmap_row_cursor_text(m, row, i, buf, sizeof(buf));
	snprintf(err, err_size,
		 "cursor column %.60s: the time \"%s\" is outside years 0000..9999, which a saved "
		 "cursor cannot hold: leave such rows out of the query (or correct them)",
		 rowmap_cursor_name(m, i), v ? v : "");
	return HUB_ERR_DATA;
}

/* A cursor text that is not UTF-8: its checkpoint would never read back
 * (a saved cursor is JSON), and --full would write it again. */
static hub_rc utf8_failed(const struct rowpull *rp, const struct rm_cell *row, size_t i,
			  char *err, size_t err_size)
{
	const struct rowmap *m = rp->map;
	char buf[48], shown[104];
	const char *v = rowmap_row_cursor_text(m, row, i, buf, sizeof(buf));

	snprintf(shown, sizeof(shown), "%.100s", v ? v : "");
	text_utf8_repair(shown);
	snprintf(err, err_size,
		 "cursor column %.60s: the value \"%s\" is not UTF-8, which a saved cursor cannot "
		 "hold: leave such rows out of the query (or correct them)",
		 rowmap_cursor_name(m, i), shown);
	return HUB_ERR_DATA;
}

/* "t = \"...\", id = \"3\"": the remembered tuple, for a message. */
static void remembered_value(const struct rowmap *m, char *value, size_t size)
{
	char buf[48], q[110];
	size_t len = 0;

	value[0] = '\0';
	for (size_t i = 0; i < rowmap_cursor_n(m) && len < size; i++) {
		quote_value(rowmap_remembered_cursor_text(m, i, buf, sizeof(buf)), q, sizeof(q));
		len += (size_t)snprintf(value + len, size - len, "%s%.60s = %s", i ? ", " : "",
					rowmap_cursor_name(m, i), q);
	}
}

/* A row with the remembered tuple: the cursor is not unique per row, so a
 * row written later with the tuple a sync ends at is skipped by every
 * later sync.  Said once per source and process (a warning, not a
 * failure: ties read together are not lost). */
static void tie_told(struct rowpull *rp)
{
	char value[400], names[200];

	if (rp->is_tie_told)
		return;
	rp->is_tie_told = 1;
	remembered_value(rp->map, value, sizeof(value));
	cursor_names(rp->map, names, sizeof(names));
	rp->host->log(rp->inst, HUB_LOG_WARN,
		      "cursor [%s]: two rows share the cursor value %s, so it is not unique per "
		      "row: a row written later with the value a sync ends at is never read (rows "
		      "at or before the saved cursor are skipped).  Add a column unique per row "
		      "(such as the primary key) as the last cursor column, e.g. cursor: [%s, "
		      "<unique column>]; an event table needs map.message_id first",
		      names, value, names);
}

/* More tied rows than a page may hold (rowpull_page_rows_max). */
static hub_rc ties_failed(const struct rowpull *rp, size_t n_tied, size_t max, char *err,
			  size_t err_size)
{
	const struct rowmap *m = rp->map;
	char value[400], names[200];

	remembered_value(m, value, sizeof(value));
	cursor_names(m, names, sizeof(names));
	snprintf(err, err_size,
		 "%zu consecutive rows share the cursor value %s, more than a page may hold (%zu "
		 "rows): a page ends only where the cursor value changes.  Add a column unique "
		 "per row (such as the primary key) as the last cursor column, e.g. "
		 "cursor: [%s, <unique column>]; an event table needs map.message_id "
		 "first (the cursor's values are part of each derived id: the rows read "
		 "again would be applied twice)",
		 n_tied, value, max, names);
	return HUB_ERR_CONFIG;
}

/* More rows with a NULL first cursor value than a page may hold, before
 * any row with a value gave a checkpoint. */
static hub_rc unplaced_failed(const struct rowpull *rp, size_t n, size_t max, char *err,
			      size_t err_size)
{
	const char *col = rowmap_cursor_name(rp->map, 0);

	snprintf(err, err_size,
		 "%zu rows with a NULL %.60s come before any row with a value, more than a page "
		 "may hold (%zu rows): a page ends only at a cursor value.  Sort them last "
		 "(ORDER BY %.60s NULLS LAST) or leave them out (%.60s IS NOT NULL)",
		 n, col, max, col, col);
	return HUB_ERR_CONFIG;
}

/* The held row, else the next one of the result: HUB_MORE with *row,
 * HUB_OK at the end, or an error. */
static hub_rc next_row(struct rowpull *rp, const struct rm_cell **row, char *err,
		       size_t err_size)
{
	if (rp->held) {
		*row = rp->held;
		rp->held = NULL;
		return HUB_MORE;
	}
	return rp->ops->next(rp->t, row, err, err_size);
}

/* How emit_rows() ended its page. */
enum page_end {
	PAGE_BOUNDARY, /* at a tuple boundary: the held row starts the next page */
	PAGE_LAST,     /* at the end of the result */
	PAGE_CUT,      /* the transport stopped mid-read (HUB_ERR_STOPPED) */
	PAGE_FAILED,
};

/* Emits rows until the budget is spent (at a tuple boundary), the result
 * ends, or a stop is asked.  Every row read, skipped or not, must sort at
 * or after the one before it (rows without a first cursor value aside).
 * A page ends only where it has a checkpoint: a remembered tuple, or the
 * saved one (has_cursor).  *n counts emitted rows; *end says how the page
 * ended. */
static hub_rc emit_rows(struct rowpull *rp, struct hub_call *call, size_t budget,
			int has_cursor, size_t *n, enum page_end *end, char *err, size_t err_size)
{
	const size_t max = rowpull_page_rows_max(budget);
	size_t n_tied = 0; /* emitted rows sharing the remembered tuple */
	const struct rm_cell *row;
	hub_rc rc;
	int cmp, has_checkpoint, is_boundary, i_bad;

	*end = PAGE_FAILED;
	for (;;) {
		if ((rc = next_row(rp, &row, err, err_size)) != HUB_MORE) {
			*end = rc == HUB_OK ? PAGE_LAST
					    : rc == HUB_ERR_STOPPED ? PAGE_CUT : PAGE_FAILED;
			return rc;
		}
		if ((i_bad = rowmap_row_cursor_out_of_range(rp->map, row)) >= 0)
			return range_failed(rp, row, (size_t)i_bad, err, err_size);
		if ((i_bad = rowmap_row_cursor_not_utf8(rp->map, row)) >= 0)
			return utf8_failed(rp, row, (size_t)i_bad, err, err_size);
		if ((cmp = rowmap_cmp_remembered(rp->map, row)) < 0)
			return order_failed(rp, row, err, err_size);
		if (cmp == 0)
			tie_told(rp);
		if (rowmap_row_is_new(rp->map, row)) {
			has_checkpoint = has_cursor || rowmap_has_remembered(rp->map);
			is_boundary = cmp != 0 || !rowmap_row_is_placed(rp->map, row);
			if (*n > 0 && has_checkpoint && is_boundary &&
			    (*n >= budget || rp->host->should_stop(call))) {
				rp->held = row; /* the first row of the next page */
				*end = PAGE_BOUNDARY;
				return HUB_OK;
			}
			if (*n >= max) /* max >= budget: only a tie, or no checkpoint yet */
				return has_checkpoint
					       ? ties_failed(rp, n_tied + 1, max, err, err_size)
					       : unplaced_failed(rp, *n + 1, max, err, err_size);
			rc = rowmap_emit(rp->map, rp->host, call, row, err, err_size);
			if (rc != HUB_OK && rc != HUB_ERR_DATA)
				return rc; /* a refused row (HUB_ERR_DATA) is counted by the hub */
			n_tied = cmp ? 1 : n_tied + 1;
			(*n)++;
		}
		if (cmp > 0 && rowmap_remember(rp->map, row)) {
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
	}
}

/* The checkpoint of a page: the remembered tuple, else (only rows without
 * a first cursor value so far) the saved cursor again, else none (*text
 * NULL).  -1: out of memory. */
static int checkpoint_text(const struct rowpull *rp, const char *cursor, char **text)
{
	if (rowmap_has_remembered(rp->map))
		*text = rowmap_remembered_text(rp->map);
	else
		*text = cursor ? strdup(cursor) : NULL;
	return *text || (!cursor && !rowmap_has_remembered(rp->map)) ? 0 : -1;
}

/*
 * The transport stopped mid-read (the hub stops: the page or partition in
 * transit is dropped) after this pull emitted rows: they are kept, not
 * read again next run.  Rows tied with the last one emitted may be among
 * those not read, so the checkpoint is the tuple before it (every row up
 * to it was read), when that one is past the saved cursor; the last
 * tuple's rows commit past the checkpoint, and the next run reads them
 * again as duplicates.  None such (the rows emitted share one tuple; out of
 * memory): the rows commit and the cursor stays.  HUB_MORE: the hub
 * commits the page and, stopping, ends the run there.
 */
static hub_rc keep_cut_page(struct rowpull *rp, struct hub_call *call, char *err,
			    size_t err_size)
{
	char *text = rowmap_settled_text(rp->map);
	hub_rc rc = HUB_MORE;

	rowpull_close(rp); /* the transport's read was cut: the next pull runs it again */
	err[0] = '\0';        /* its "stopped ..." is no failure now */
	if (text && (rc = rp->host->checkpoint(call, text)) != HUB_OK)
		snprintf(err, err_size, "checkpoint refused");
	free(text);
	return rc == HUB_OK ? HUB_MORE : rc;
}

hub_rc rowpull_pull(struct rowpull *rp, struct hub_call *call, const char *cursor,
		    size_t budget, char *err, size_t err_size)
{
	int64_t now = rp->host->now_ms();
	size_t n = 0;
	enum page_end end;
	char *text = NULL;
	hub_rc rc;

	if (!can_resume(rp, cursor, now) &&
	    (rc = open_result(rp, cursor, budget, err, err_size)) != HUB_OK)
		return rc;
	rc = emit_rows(rp, call, budget ? budget : 1, cursor != NULL, &n, &end, err, err_size);
	if (end == PAGE_CUT && n > 0 && rp->host->should_stop(call))
		return keep_cut_page(rp, call, err, err_size);
	if (rc != HUB_OK) {
		rowpull_close(rp); /* the next pull starts again from the cursor */
		return rc;
	}
	if (n > 0 && checkpoint_text(rp, cursor, &text)) {
		rowpull_close(rp);
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (text) { /* none: only rows without a cursor value, then the end */
		rc = rp->host->checkpoint(call, text);
		free(rp->resume_cursor);
		rp->resume_cursor = text;
		if (rc != HUB_OK) {
			rowpull_close(rp);
			snprintf(err, err_size, "checkpoint refused");
			return rc;
		}
	}
	rp->last_pull_ms = rp->host->now_ms();
	if (end == PAGE_LAST) {
		rowpull_close(rp);
		return HUB_OK;
	}
	return HUB_MORE;
}
