/*
 * fuzzpull.h - the hub side of a pull that the pull-loop fuzz targets
 * (fuzz_rowpull.c, fuzz_bqpaging.c) share: an on_emit that runs every
 * record through the hub's record_from_hub() and counts it, an
 * on_checkpoint that keeps the last cursor and checks that
 * rowmap_cursor_first() reads it back (abort() when not), and the
 * checkpoints seen by runs that each open the result anew.  Header-only:
 * each target is one translation unit with plugins/common/rowmap.c
 * compiled in.  The including file defines FUZZ_PULL_SOURCE (the source
 * name records are validated with) and sets call.ctx to a struct got.
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

struct got {
	char *cursor; /* the last checkpoint */
	size_t n;     /* records emitted */
};

static hub_rc on_emit(struct hub_call *call, const struct hub_record *rec, char *err,
		      size_t err_size)
{
	struct got *g = call->ctx;
	struct record *r = NULL;
	hub_rc rc = record_from_hub(rec, FUZZ_PULL_SOURCE, NULL, 1772000000000LL, &r, NULL, err,
				    err_size);

	record_free(r);
	g->n++;
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
