/*
 * rowpull.c - the shared pull loop of the warehouse plugins (rowpull.h).
 *
 * The query binds `>=` on the first cursor column; rows at or before the
 * saved tuple (all cursor columns, typed) are skipped, so rows sharing a
 * timestamp across a page or run boundary are neither lost nor applied
 * twice.  A page ends only where the next row's tuple differs from the
 * last emitted one: the checkpoint then names a tuple no later row shares.
 *
 * The result stays open between pulls of one sync and is reused when the
 * next pull comes soon with the cursor this one checkpointed; anything else
 * (a retry from an older cursor, a new sync) runs the query again.
 */
#include "rowpull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESUME_MAX_MS 30000 /* an open result older than this is not reused */

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

/* Warns once when rows come out of cursor order: the next sync could
 * skip rows that sort before a checkpoint. */
static void check_order(struct rowpull *rp, int cmp)
{
	if (cmp >= 0 || rp->is_order_warned)
		return;
	rp->is_order_warned = 1;
	rp->host->log(rp->inst, HUB_LOG_WARN,
		      "the query's rows are not in cursor order: add ORDER BY on the cursor "
		      "columns, or rows may be skipped");
}

/* Emits rows until the budget is spent (at a tuple boundary), the result
 * ends, or a stop is asked.  *n counts emitted rows; *is_end is set at the
 * end of the result. */
static hub_rc emit_rows(struct rowpull *rp, struct hub_call *call, size_t budget, size_t *n,
			int *is_end, char *err, size_t err_size)
{
	const struct rm_cell *row;
	hub_rc rc;
	int cmp;

	for (;;) {
		if (rp->held) {
			row = rp->held;
			rp->held = NULL;
		} else if ((rc = rp->ops->next(rp->t, &row, err, err_size)) != HUB_MORE) {
			*is_end = rc == HUB_OK;
			return rc;
		}
		if (!rowmap_row_is_new(rp->map, row))
			continue;
		cmp = rowmap_cmp_remembered(rp->map, row);
		if (*n > 0 && cmp != 0 && (*n >= budget || rp->host->should_stop(call))) {
			rp->held = row; /* the first row of the next page */
			return HUB_OK;
		}
		check_order(rp, cmp);
		rc = rowmap_emit(rp->map, rp->host, call, row, err, err_size);
		if (rc != HUB_OK && rc != HUB_ERR_DATA)
			return rc; /* a refused row (HUB_ERR_DATA) is counted by the hub */
		if (cmp > 0 && rowmap_remember(rp->map, row)) {
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
		(*n)++;
	}
}

hub_rc rowpull_pull(struct rowpull *rp, struct hub_call *call, const char *cursor,
		    size_t budget, char *err, size_t err_size)
{
	int64_t now = rp->host->now_ms();
	size_t n = 0;
	int is_end = 0;
	char *text;
	hub_rc rc;

	if (!can_resume(rp, cursor, now) &&
	    (rc = open_result(rp, cursor, budget, err, err_size)) != HUB_OK)
		return rc;
	rc = emit_rows(rp, call, budget ? budget : 1, &n, &is_end, err, err_size);
	if (rc != HUB_OK) {
		rowpull_close(rp); /* the next pull starts again from the cursor */
		return rc;
	}
	if (n > 0) {
		if (!(text = rowmap_remembered_text(rp->map))) {
			rowpull_close(rp);
			snprintf(err, err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
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
	if (is_end) {
		rowpull_close(rp);
		return HUB_OK;
	}
	return HUB_MORE;
}
