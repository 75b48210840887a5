/*
 * fuzz_rowpull.c - the warehouse plugins' shared pull loop
 * (plugins/common/rowpull.c, with rowmap.c, rm_cursor.c, rm_value.c
 * compiled in) over a scripted transport whose rows come from the input:
 * what a Snowflake or BigQuery query hands back, in whatever order and with
 * whatever values.  Pulls run as the hub runs them (each from the last
 * checkpoint, the hub's host table validating every record) until the end,
 * an error, or a bound: within one run (the open result resumed), or each
 * pull a new run (the result opened again from the saved checkpoint: its
 * first value the `t >= :cursor` parameter, its tuple the rows skipped;
 * such runs end at a checkpoint seen before, from which the next would
 * repeat what followed it: rows without a first cursor value are read
 * again by every run, and so are rows whose later cursor value is NULL
 * beside the saved tuple's, the checkpoint then going back; rm_cursor.c
 * says why).
 *
 * The input: byte 0: budget 1 + b % 8, bit 6: each pull a new run, bit 7:
 * cursor on (t, id) else t;
 * byte 1: the ID column's type (STRING, NUMBER, BYTES, TIMESTAMP);
 * then rows, each: a flags byte (bit 0 NULL t, bit 1 NULL id, bit 2
 * the transport skips the `t >= :cursor` filter for this row), 2 bytes of
 * t (signed, scaled by 3600 s, or with bit 3 a raw 8-byte t), a length
 * byte and the id text.
 * Findings: crashes, sanitizer reports, leaks; a checkpoint that
 * rowmap_cursor_first() cannot read back; more pulls than rows + 2 (a pull
 * loop that never ends); a HUB_MORE without a checkpoint; in new runs, a
 * checkpoint seen before saved again by a run that emitted a row (with a
 * first cursor value) no earlier run had: it failed to advance past that
 * row, which every later run would read again (fuzzpull.h's
 * run_ends_at_repeat(); a repeat with nothing new is the normal end).
 */
#include "../../plugins/common/rm_cursor.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rowmap.c"
#include "../../plugins/common/rowpull.c"

#define FUZZ_PULL_SOURCE "wh"
#include "fuzzpull.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 256

struct trow {
	int64_t t;
	int t_null, id_null, unfiltered;
	char id[64];
};

struct script {
	struct trow rows[MAX_ROWS];
	size_t n_rows, pos;
	int64_t from;
	enum rm_type id_type;
	struct rm_cell cells[2];
	char id_text[64];
};

static hub_rc s_open(void *t, struct rowmap *m, const char *param, size_t hint, char *err,
		     size_t err_size)
{
	struct script *s = t;
	struct rm_column cols[2] = {{"T", RM_TIMESTAMP}, {"ID", s->id_type}};
	int32_t ns;

	(void)hint;
	s->pos = 0;
	s->from = INT64_MIN;
	if (param && rm_time_parse(param, &s->from, &ns)) {
		snprintf(err, err_size, "param \"%s\" is not a time", param);
		return HUB_ERR_CONFIG;
	}
	return rowmap_bind(m, cols, 2, err, err_size) ? HUB_ERR_CONFIG : HUB_OK;
}

static hub_rc s_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct script *s = t;
	const struct trow *r;

	(void)err, (void)err_size;
	while (s->pos < s->n_rows && !s->rows[s->pos].t_null && !s->rows[s->pos].unfiltered &&
	       s->rows[s->pos].t < s->from)
		s->pos++;
	if (s->pos >= s->n_rows)
		return HUB_OK;
	r = &s->rows[s->pos++];
	memset(s->cells, 0, sizeof(s->cells));
	s->cells[0].is_null = r->t_null;
	s->cells[0].sec = r->t;
	s->cells[1].is_null = r->id_null;
	snprintf(s->id_text, sizeof(s->id_text), "%s", r->id);
	s->cells[1].text = s->id_text;
	s->cells[1].sec = r->t / 7;
	*row = s->cells;
	return HUB_MORE;
}

static void s_close(void *t)
{
	(void)t;
}

static const struct rp_reader_ops ops = {s_open, s_next, s_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum rm_type id_types[] = {RM_STRING, RM_NUMBER, RM_BYTES, RM_TIMESTAMP};
	static struct script s;
	struct rm_config cfg = {.source = "wh", .map_json = "{\"custom_id\": \"id\"}",
				.kind = "erase"};
	struct rowmap *m = NULL;
	struct got g = {0};
	struct hub_call call = {.on_emit = on_emit, .on_checkpoint = on_checkpoint, .ctx = &g};
	struct rowpull rp;
	static struct seen seen;
	size_t at = 2, budget;
	char err[512];
	hub_rc rc = HUB_MORE;

	if (size < 2 || size > 16384)
		return 0;
	memset(&s, 0, sizeof(s));
	budget = 1 + data[0] % 8;
	cfg.cursor_json = (data[0] & 0x80) ? "[\"t\", \"id\"]" : "\"t\"";
	s.id_type = id_types[data[1] % 4];
	while (at < size && s.n_rows < MAX_ROWS) {
		struct trow *r = &s.rows[s.n_rows++];
		unsigned f = data[at++];
		size_t len;
		r->t_null = f & 1;
		r->id_null = (f >> 1) & 1;
		r->unfiltered = (f >> 2) & 1;
		if ((f & 8) && at + 8 <= size) {
			uint64_t v = 0;
			for (int i = 7; i >= 0; i--)
				v = v << 8 | data[at + i];
			r->t = (int64_t)v;
			at += 8;
		} else if (at + 2 <= size) {
			r->t = (int64_t)(int16_t)(data[at] | data[at + 1] << 8) * 3600;
			at += 2;
		}
		len = at < size ? data[at++] % 16 : 0;
		if (len > size - at)
			len = size - at;
		for (size_t i = 0; i < len; i++)
			r->id[i] = (char)(data[at + i] & 0x7f ? data[at + i] & 0x7f : '0');
		r->id[len] = '\0';
		if (s.id_type == RM_NUMBER && !len)
			r->id[0] = '1';
		at += len;
	}
	if (rowmap_new(&cfg, &m, err, sizeof(err)))
		abort();
	memset(&rp, 0, sizeof(rp));
	rp.host = host_table();
	rp.map = m;
	rp.ops = pull_ops_wrap(&ops, &g, m);
	rp.t = &s;
	for (size_t pulls = 0; rc == HUB_MORE; pulls++) {
		char *from = g.cursor ? strdup(g.cursor) : NULL;
		if (pulls > s.n_rows + 2) {
			fprintf(stderr, "%zu pulls over %zu rows\n", pulls, s.n_rows);
			abort();
		}
		if (data[0] & 0x40)
			rowpull_close(&rp); /* a new run: nothing resumed */
		rc = rowpull_pull(&rp, &call, from, budget, err, sizeof(err));
		if (rc == HUB_MORE && !g.cursor)
			abort();
		if ((data[0] & 0x40) && rc == HUB_MORE && run_ends_at_repeat(&seen, &g))
			rc = HUB_OK; /* a new run from it would repeat what followed it */
		free(from);
	}
	rowpull_close(&rp);
	rowmap_free(m);
	free(g.cursor);
	tuples_clear(&g.emitted);
	seen_clear(&seen);
	return 0;
}
