/*
 * testhub.c - see testhub.h.
 */
#include "testhub.h"

#include "testlib.h"
#include "teststore.h"

#include "../../hub/profile.h"
#include "../../hub/unify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct testhub *testhub_start(const char *yaml_extra)
{
	struct testhub *th = calloc(1, sizeof(*th));
	struct store *writer = NULL;
	char *yaml = NULL;

	if (!th || !(th->dir = testlib_mkdtemp()))
		goto fail;
	/* the backend under test (teststore.h) */
	if (!(th->store_yaml = teststore_yaml(th->dir, &th->schema)) ||
	    asprintf(&yaml, "%s%s", th->store_yaml, yaml_extra ? yaml_extra : "") < 0)
		goto fail;
	if (config_load_string("test.yaml", yaml, &th->cfg, th->err, sizeof(th->err)) ||
	    store_open(th->cfg, &writer, th->err, sizeof(th->err)) ||
	    intake_start(&th->intake, writer, th->cfg, th->err, sizeof(th->err)))
		goto fail;
	th->writer = writer;
	writer = NULL;
	if (store_open(th->cfg, &th->reader, th->err, sizeof(th->err)))
		goto fail;
	th->rules.external_ids = th->cfg->external_ids;
	th->rules.n_external_ids = th->cfg->n_external_ids;
	th->rules.blocked_values = th->cfg->blocked_values;
	th->rules.n_blocked_values = th->cfg->n_blocked_values;
	free(yaml);
	return th;
fail:
	fprintf(stderr, "testhub: %s\n", th ? th->err : "out of memory");
	store_close(writer);
	free(yaml);
	testhub_stop(th);
	return NULL;
}

void testhub_stop(struct testhub *th)
{
	if (!th)
		return;
	intake_stop(th->intake);
	store_close(th->reader);
	config_free(th->cfg);
	teststore_drop(th->schema);
	free(th->schema);
	free(th->store_yaml);
	testlib_rmtree(th->dir);
	free(th->dir);
	free(th);
}

static int apply_records_via(struct testhub *th, struct intake *in, struct record **recs,
			     size_t n)
{
	struct intake_batch b = {.records = recs, .n_records = n};
	int rc = 0;

	if (n && (intake_submit(in, &b) != HUB_OK || intake_wait(in, &b) != HUB_OK)) {
		snprintf(th->err, sizeof(th->err), "%s", b.err);
		rc = -1;
	}
	th->counts.records += b.counts.records;
	th->counts.applied += b.counts.applied;
	th->counts.duplicates += b.counts.duplicates;
	th->counts.blocked += b.counts.blocked;
	th->counts.refused += b.counts.refused;
	th->counts.warnings += b.counts.warnings;
	for (size_t i = 0; i < n; i++)
		record_free(recs[i]);
	return rc;
}

int testhub_apply_records(struct testhub *th, struct record **recs, size_t n)
{
	return apply_records_via(th, th->intake, recs, n);
}

int testhub_apply_lines_via(struct testhub *th, struct intake *in, const char *jsonl)
{
	struct record **recs = NULL;
	size_t n = 0, cap = 0;
	const char *p = jsonl;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct record *r = NULL;
		if (len > 0) {
			if (record_from_json(p, len, "test", &th->rules, 1741000000000LL, &r, NULL,
					     th->err, sizeof(th->err)) == HUB_OK) {
				if (n == cap) {
					cap = cap ? 2 * cap : 64;
					recs = realloc(recs, cap * sizeof(*recs));
				}
				recs[n++] = r;
			} else {
				th->counts.records++;
				th->counts.rejected++;
			}
		}
		p += len + (end ? 1 : 0);
	}
	int rc = apply_records_via(th, in, recs, n);
	free(recs);
	return rc;
}

int testhub_apply_lines(struct testhub *th, const char *jsonl)
{
	return testhub_apply_lines_via(th, th->intake, jsonl);
}

struct dump_ctx {
	struct store *s;
	json_t *out;
	long n_events;
	char last[PROFILE_ID_SIZE];
	size_t n;
};

static int dump_one(void *ctx, const struct store_profile *p)
{
	struct dump_ctx *d = ctx;
	json_t *doc = NULL;
	if (profile_doc_build(d->s, p->id, d->n_events, &doc) == 1)
		json_array_append_new(d->out, doc);
	memcpy(d->last, p->id, PROFILE_ID_SIZE);
	d->n++;
	return 0;
}

json_t *testhub_dump(struct testhub *th, long n_events)
{
	struct dump_ctx d = {th->reader, json_array(), n_events, "", 0};
	/* profile_doc_build reads with other statements while the iteration
	 * statement is open: page through to keep that simple */
	for (;;) {
		size_t before = d.n;
		char after[PROFILE_ID_SIZE];
		memcpy(after, d.last, PROFILE_ID_SIZE);
		if (th->reader->ops->profile_iter_live(th->reader, after, 1, dump_one, &d))
			break;
		if (d.n == before)
			break;
	}
	return d.out;
}
