/*
 * fuzzpull.h - the hub side of a pull that the pull-loop fuzz targets
 * (fuzz_rowpull.c, fuzz_bqpaging.c) share: an on_emit that runs every
 * record through the hub's record_from_hub() and counts it, an
 * on_checkpoint that keeps the last cursor and checks that
 * rowmap_cursor_first() reads it back (abort() when not), and the
 * checkpoints seen by runs that each open the result anew.  Header-only:
 * each target is one translation unit with plugins/common/rowmap.c and
 * rowpull.c compiled in.  The including file defines FUZZ_PULL_SOURCE (the
 * source name records are validated with), sets call.ctx to a struct got
 * and its rowpull's ops to pull_ops_wrap(its own, &g, map), and in the mode
 * where each pull is a new run ends the runs with run_ends_at_repeat().
 */
#ifndef HUB_FUZZPULL_H
#define HUB_FUZZPULL_H

#include "host.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_PULLS_MAX 512 /* more than the pulls either target allows */

/* The checkpoints of a target's new runs so far (each pull a new run: the
 * result opened again from the saved checkpoint, nothing resumed).  From
 * one seen before, the next run would repeat what followed it. */
struct seen {
	char *cursors[FUZZ_PULLS_MAX];
	size_t n;
};

/* 1 when cursor is one of them, else 0 (it is added). */
static int seen_before(struct seen *sn, const char *cursor)
{
	for (size_t i = 0; i < sn->n; i++)
		if (strcmp(sn->cursors[i], cursor) == 0)
			return 1;
	if (sn->n == sizeof(sn->cursors) / sizeof(sn->cursors[0]) ||
	    !(sn->cursors[sn->n] = strdup(cursor)))
		abort();
	sn->n++;
	return 0;
}

/* Frees the checkpoints and forgets them. */
static void seen_clear(struct seen *sn)
{
	for (size_t i = 0; i < sn->n; i++)
		free(sn->cursors[i]);
	sn->n = 0;
}

/* The cursor tuples of the rows emitted (a row with a first cursor value
 * only: one without is emitted by every run that reads it): those of
 * earlier runs first, [0, n_before), then this run's new ones. */
struct tuples {
	char **texts;
	size_t n, n_before, cap;
};

struct got {
	char *cursor; /* the last checkpoint */
	size_t n;     /* records emitted */
	const struct rowmap *map;
	const struct rm_cell *row; /* the row the transport handed out last */
	struct tuples emitted;
	int cut; /* this run's transport stopped mid-read (HUB_ERR_STOPPED) */
};

/* 1 when text is among texts[0, n). */
static int tuples_has(const struct tuples *tu, size_t n, const char *text)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tu->texts[i], text) == 0)
			return 1;
	return 0;
}

/* The row's cursor tuple as one text ("<length>:<value>," each, "-," for
 * NULL), added to this run's unless an earlier run or this one emitted it. */
static void tuples_add_row(struct tuples *tu, const struct rowmap *m, const struct rm_cell *row)
{
	char buf[64], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	for (size_t i = 0; i < rowmap_cursor_n(m); i++) {
		const char *v = rowmap_row_cursor_text(m, row, i, buf, sizeof(buf));
		if (v)
			fprintf(f, "%zu:%s,", strlen(v), v);
		else
			fputs("-,", f);
	}
	if (fclose(f) || !text)
		abort();
	if (tuples_has(tu, tu->n, text)) {
		free(text);
		return;
	}
	if (tu->n == tu->cap) {
		size_t n = tu->cap ? 2 * tu->cap : 16;
		char **t = realloc(tu->texts, n * sizeof(*t));
		if (!t)
			abort();
		tu->texts = t;
		tu->cap = n;
	}
	tu->texts[tu->n++] = text;
}

static void tuples_clear(struct tuples *tu)
{
	for (size_t i = 0; i < tu->n; i++)
		free(tu->texts[i]);
	free(tu->texts);
	memset(tu, 0, sizeof(*tu));
}

/* The transport the target's rowpull reads through (pull_ops_wrap()). */
static const struct rp_reader_ops *pull_inner;
static struct got *pull_got;

static hub_rc pull_open(void *t, struct rowmap *m, const char *param, size_t hint, char *err,
			size_t err_size)
{
	pull_got->row = NULL;
	return pull_inner->open(t, m, param, hint, err, err_size);
}

/* The target's next(), keeping the row it hands out for on_emit(). */
static hub_rc pull_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	hub_rc rc = pull_inner->next(t, row, err, err_size);

	if (rc == HUB_MORE)
		pull_got->row = *row;
	else if (rc == HUB_ERR_STOPPED)
		pull_got->cut = 1;
	return rc;
}

static void pull_close(void *t)
{
	pull_inner->close(t);
}

static const struct rp_reader_ops pull_ops = {pull_open, pull_next, pull_close};

/* The ops for the target's rowpull: its own, each row handed out kept in
 * g (the row rowpull then emits: it emits only the row read last). */
static const struct rp_reader_ops *pull_ops_wrap(const struct rp_reader_ops *own,
						 struct got *g, const struct rowmap *m)
{
	pull_inner = own;
	pull_got = g;
	g->map = m;
	return &pull_ops;
}

/* After a new run (a pull with the result opened again from the saved
 * checkpoint): 1 when its checkpoint is one seen before, the normal end
 * (from it the next run would repeat what followed it), else 0.  A repeat
 * after the run emitted a row no earlier run had, with a first cursor
 * value, is a checkpoint that failed to advance past it: every later run
 * would read that row again (abort()).  A run its transport cut is no
 * such repeat: the rows of its last tuple commit past the checkpoint. */
static int run_ends_at_repeat(struct seen *sn, struct got *g)
{
	struct tuples *tu = &g->emitted;
	int is_repeat = seen_before(sn, g->cursor);

	if (is_repeat && tu->n > tu->n_before && !g->cut) {
		fprintf(stderr, "checkpoint %.200s saved again after the run emitted rows of %zu "
			"cursor tuples no run had before (first: %.200s): it failed to "
			"advance\n", g->cursor, tu->n - tu->n_before, tu->texts[tu->n_before]);
		abort();
	}
	tu->n_before = tu->n;
	g->cut = 0;
	return is_repeat;
}

static hub_rc on_emit(struct hub_call *call, const struct hub_record *rec, char *err,
		      size_t err_size)
{
	struct got *g = call->ctx;
	struct record *r = NULL;
	hub_rc rc = record_from_hub(rec, FUZZ_PULL_SOURCE, NULL, 1772000000000LL, &r, NULL, err,
				    err_size);

	record_free(r);
	g->n++;
	if (g->row && rowmap_row_is_placed(g->map, g->row))
		tuples_add_row(&g->emitted, g->map, g->row);
	return rc;
}

static hub_rc on_checkpoint(struct hub_call *call, const char *cursor)
{
	struct got *g = call->ctx;
	char *first = rowmap_cursor_first(cursor);

	if (!first) {
		fprintf(stderr, "checkpoint \"%s\" does not read back\n", cursor);
		abort();
	}
	free(first);
	free(g->cursor);
	if (!(g->cursor = strdup(cursor)))
		abort();
	return HUB_OK;
}

#endif
